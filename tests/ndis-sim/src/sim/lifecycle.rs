//! The lifecycle NDIS and the PnP manager drive: DriverEntry, AddDevice and
//! FilterResourceRequirements, StartDevice and MiniportInitializeEx with the granted
//! resources, Restart/Pause, OID requests, sends and receive returns, HaltEx, RemoveDevice and
//! unload; with the teardown checks (everything released by Halt, RemoveDevice, unload).

use std::mem::offset_of;
use std::time::{Duration, Instant};

use vmqnic::interrupt::pci::msix_capability;
use vmqnic::ndis::{
    DRIVER_OBJECT, IRP, MINIPORT_ADD_DEVICE, MINIPORT_PNP_IRP, MINIPORT_REMOVE_DEVICE, NDIS_HANDLE,
    NDIS_MINIPORT_INIT_PARAMETERS, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT,
    NDIS_OBJECT_TYPE_MINIPORT_INIT_PARAMETERS, NDIS_OBJECT_TYPE_OID_REQUEST, NDIS_OID_REQUEST,
    NDIS_RECEIVE_FLAGS_SINGLE_QUEUE, NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
    NDIS_RETURN_FLAGS_SINGLE_QUEUE, NDIS_STATUS, NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS,
    NET_BUFFER, NET_BUFFER_LIST, NTSTATUS, NdisRequestMethod, NdisRequestQueryInformation,
    NdisRequestQueryStatistics, NdisRequestSetInformation, UNICODE_STRING,
};

use super::cpu::{self, CpuContext, DISPATCH_LEVEL, PASSIVE_LEVEL};
use super::exports::indications::{oid_status_allowed, walk_nbls};
use super::exports::nbl::{ProtocolPacket, SendFrame, build_protocol_packet, net_buffer_bytes};
use super::exports::{self, field};
use super::interrupts;
use super::oid::{OidCompletion, OidId, OidKind, OidOutcome, OidRequest, completion_of};
use super::pnp;
use super::state::{
    AdapterRecord, AdapterState, DriverRecord, OidRecord, Owner, Phase, RequestBox, Scope,
    SimState, in_phase, with_state,
};
use super::{
    GrantPolicy, GrantedInterrupts, ReturnPolicy, Sim, SimError, interrupt_handle, rules,
    work_items,
};
use crate::qemu::{PAGE_SIZE, Q35_IGB_INTX_IOAPIC_PIN};

/// The driver's entry point: `DriverEntry(DriverObject, RegistryPath)`.
pub type DriverEntry =
    unsafe extern "system" fn(*mut DRIVER_OBJECT, *const UNICODE_STRING) -> NTSTATUS;

/// The registry path DriverEntry gets.
const REGISTRY_PATH: &str = r"\Registry\Machine\System\CurrentControlSet\Services\vmqnic";
/// `NdisHaltDeviceDisabled`: the halt action of a PnP stop or disable.
const HALT_DEVICE_DISABLED: u32 = 0;
/// `NdisHaltDeviceSurpriseRemoved`: the halt action after a surprise removal.
const HALT_DEVICE_SURPRISE_REMOVED: u32 = 3;
/// `NDIS_PAUSE_NDIS_INTERNAL`.
const PAUSE_NDIS_INTERNAL: u32 = 1;
/// `NDIS_SEND_FLAGS_DISPATCH_LEVEL`.
const SEND_FLAGS_DISPATCH_LEVEL: u32 = 1;
/// How long the simulated NDIS waits for a pending pause or restart in
/// [`Sim::stop_device`] / [`Sim::start_device`] (while delivering interrupts).
const COMPLETION_WAIT: Duration = Duration::from_secs(5);

/// `NDIS_MINIPORT_PAUSE_PARAMETERS`.
#[repr(C)]
struct PauseParameters {
    header: NDIS_OBJECT_HEADER,
    flags: u32,
    pause_reason: u32,
}

/// `NDIS_MINIPORT_RESTART_PARAMETERS`.
#[repr(C)]
struct RestartParameters {
    header: NDIS_OBJECT_HEADER,
    restart_attributes: *mut std::ffi::c_void,
    flags: u32,
}

/// Whether a pause or restart finished in the call or is pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The handler returned NDIS_STATUS_SUCCESS (or completed before returning PENDING).
    Completed,
    /// The handler returned NDIS_STATUS_PENDING; the completion call is still due.
    Pending,
}

fn wrong_state(operation: &'static str, reason: impl Into<String>) -> SimError {
    SimError::WrongState { operation, reason: reason.into() }
}

/// Returns NBL chains to the driver (ReturnNetBufferListsHandler), at the calling IRQL.
pub(crate) fn return_nbls(chains: &[(usize, u32)]) {
    let target = with_state(|s| {
        let handler = s.driver.and_then(|d| d.characteristics.ReturnNetBufferListsHandler)?;
        Some((handler, s.adapter.context))
    });
    let Some((handler, context)) = target else { return };
    let irql = cpu::current().irql;
    for &(head, indication_flags) in chains {
        let mut flags = if irql == DISPATCH_LEVEL { NDIS_RETURN_FLAGS_DISPATCH_LEVEL } else { 0 };
        if indication_flags & NDIS_RECEIVE_FLAGS_SINGLE_QUEUE != 0 {
            flags |= NDIS_RETURN_FLAGS_SINGLE_QUEUE;
        }
        // SAFETY: the driver's handler with its adapter context, returning a chain it
        // indicated (and the simulated protocol has not touched), at <= DISPATCH_LEVEL.
        in_phase(Phase::Return, || unsafe {
            handler(context as NDIS_HANDLE, head as *mut NET_BUFFER_LIST, flags);
        });
    }
}

/// ReturnPolicy::AfterDpc: returns what the DPC that just ran indicated.
pub(crate) fn return_after_dpc() {
    let chains = with_state(|s| {
        let policy = s.config.as_ref().map(|c| c.receive_returns).unwrap_or_default();
        if policy == ReturnPolicy::AfterDpc {
            std::mem::take(&mut s.unreturned)
        } else {
            Vec::new()
        }
    });
    return_nbls(&chains);
}

/// Checks what a failed MiniportInitializeEx or a MiniportHaltEx must have released.
fn check_adapter_released(s: &mut SimState, halt: bool) {
    let rule = |halt_rule, failure_rule| if halt { halt_rule } else { failure_rule };
    let event = if halt { "MiniportHaltEx returned" } else { "MiniportInitializeEx failed" };
    if s.interrupt.is_some_and(|c| !c.deregistered) {
        s.violate(
            rule(rules::HALT_INTERRUPT_REGISTERED, rules::INITIALIZE_FAILURE_INTERRUPT_REGISTERED),
            format!("{event} with the interrupt registered"),
        );
    }
    if s.sg_dma == Some(true) {
        s.violate(
            rule(rules::HALT_SG_DMA_REGISTERED, rules::INITIALIZE_FAILURE_SG_DMA_REGISTERED),
            format!("{event} with scatter-gather DMA registered"),
        );
    }
    if !s.mappings.is_empty() {
        let detail = format!("{event} with {} I/O mapping(s)", s.mappings.len());
        s.violate(
            rule(rules::HALT_IO_SPACE_MAPPED, rules::INITIALIZE_FAILURE_IO_SPACE_MAPPED),
            detail,
        );
    }
    let (shared, miniport_shared) = (s.shared_memory.len(), s.miniport_shared_memory.len());
    if shared + miniport_shared > 0 {
        let detail = format!(
            "{event} with {shared} NdisAllocateSharedMemory and {miniport_shared} \
             NdisMAllocateSharedMemory block(s) not freed"
        );
        s.violate(rule(rules::HALT_SHARED_MEMORY, rules::INITIALIZE_FAILURE_SHARED_MEMORY), detail);
    }
    let pools = s.nbl_pools.values().filter(|p| p.scope == Scope::Adapter).count();
    if pools > 0 {
        s.violate(
            rule(rules::HALT_NBL_POOL, rules::INITIALIZE_FAILURE_NBL_POOL),
            format!("{event} with {pools} NBL pool(s) not freed"),
        );
    }
    let nbls = s.nbls.values().filter(|n| n.scope == Scope::Adapter).count();
    if nbls > 0 {
        s.violate(
            rule(rules::HALT_NBL, rules::INITIALIZE_FAILURE_NBL),
            format!("{event} with {nbls} NBL(s) not freed"),
        );
    }
    let mdls = s.mdls.values().filter(|m| m.scope == Scope::Adapter).count();
    if mdls > 0 {
        s.violate(
            rule(rules::HALT_MDL, rules::INITIALIZE_FAILURE_MDL),
            format!("{event} with {mdls} MDL(s) not freed"),
        );
    }
    let leaked = leaked_tags(s, Scope::Adapter);
    if !leaked.is_empty() {
        s.violate(
            rule(rules::HALT_POOL, rules::INITIALIZE_FAILURE_POOL),
            format!("{event} with pool blocks allocated since MiniportInitializeEx: {leaked}"),
        );
    }
    // Work items of the driver handle may outlive the adapter; the others never run now.
    let queued = s.drop_queued_work_items(|w| w.scope != Scope::Driver);
    if queued > 0 {
        s.violate(
            rule(rules::HALT_IO_WORK_ITEM_QUEUED, rules::INITIALIZE_FAILURE_IO_WORK_ITEM_QUEUED),
            format!("{event} with {queued} work item(s) queued (their routines never run)"),
        );
    }
    let work_items = s.work_items.values().filter(|w| w.scope == Scope::Adapter).count();
    if work_items > 0 {
        s.violate(
            rule(rules::HALT_IO_WORK_ITEM, rules::INITIALIZE_FAILURE_IO_WORK_ITEM),
            format!("{event} with {work_items} work item(s) of the adapter not freed"),
        );
    }
    // A failing InitializeEx's own handles were reported (and closed) when it returned.
    close_leftover_configurations(s, Scope::Adapter, event);
}

/// MiniportInitializeEx returned: the configuration handles it opened must be closed. After a
/// failure (no HaltEx follows) the simulator closes them; after a success they stay open.
fn check_initialize_configurations(s: &mut SimState, succeeded: bool) {
    let open: Vec<usize> =
        s.configurations.iter().filter(|(_, c)| c.in_initialize).map(|(h, _)| *h).collect();
    for handle in open {
        s.violate(
            rules::INITIALIZE_CONFIGURATION_NOT_CLOSED,
            format!(
                "MiniportInitializeEx {} with configuration handle {handle:#x} open",
                if succeeded { "returned" } else { "failed" }
            ),
        );
        if succeeded {
            if let Some(record) = s.configurations.get_mut(&handle) {
                record.in_initialize = false;
            }
        } else {
            exports::config::close(s, handle);
        }
    }
}

/// Closes, with the DDI rule NdisOpenConfigurationEx reported, the configuration handles of
/// `scope` still open at `event`.
fn close_leftover_configurations(s: &mut SimState, scope: Scope, event: &str) {
    let open: Vec<usize> =
        s.configurations.iter().filter(|(_, c)| c.scope == scope).map(|(h, _)| *h).collect();
    for handle in open {
        s.violate(
            rules::OPEN_CONFIGURATION,
            format!("{event} with configuration handle {handle:#x} open"),
        );
        exports::config::close(s, handle);
    }
}

/// After MiniportRemoveDevice: the pool blocks and work items of the PnP handlers are freed.
fn check_device_released(s: &mut SimState) {
    let leaked = leaked_tags(s, Scope::Device);
    if !leaked.is_empty() {
        s.violate(rules::REMOVE_DEVICE_POOL, format!("after MiniportRemoveDevice: {leaked}"));
    }
    let work_items = s.work_items.values().filter(|w| w.scope == Scope::Device).count();
    if work_items > 0 {
        s.violate(
            rules::REMOVE_DEVICE_IO_WORK_ITEM,
            format!("after MiniportRemoveDevice: {work_items} work item(s) not freed"),
        );
    }
}

/// The tags of the driver's live blocks of `scope`, for messages.
fn leaked_tags(s: &SimState, scope: Scope) -> String {
    s.allocations
        .values()
        .filter(|a| a.owner == Owner::Driver && a.scope == scope)
        .map(|a| format!("{:?} ({} bytes)", String::from_utf8_lossy(&a.tag.to_le_bytes()), a.size))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The loaded (and not deregistered) driver.
fn loaded_driver(operation: &'static str) -> Result<DriverRecord, SimError> {
    with_state(|s| s.driver.filter(|d| !d.deregistered))
        .ok_or_else(|| wrong_state(operation, "no driver is loaded"))
}

/// An `NDIS_OID_REQUEST` for `request` (revision 2, as NDIS 6.30 issues them) and its
/// information buffer (8-byte aligned, holding the input).
fn build_request(
    request: &OidRequest,
    id: u64,
    miniport_handle: usize,
) -> (Box<NDIS_OID_REQUEST>, Vec<u64>) {
    let length = request.buffer_length();
    let mut buffer = vec![0u64; length.div_ceil(8).max(1)];
    let fill = request.fill.iter().copied().cycle();
    let bytes = request.input.iter().copied().chain(fill).take(length);
    for (i, b) in bytes.enumerate() {
        buffer[i / 8] |= u64::from(b) << (8 * (i % 8));
    }
    // SAFETY: an all-zero NDIS_OID_REQUEST is a valid value of this plain-data struct.
    let mut r: Box<NDIS_OID_REQUEST> = Box::new(unsafe { std::mem::zeroed() });
    r.Header = NDIS_OBJECT_HEADER::new(NDIS_OBJECT_TYPE_OID_REQUEST, 2, 0xF8);
    r.PortNumber = request.port;
    r.RequestId = id as _;
    r.RequestHandle = miniport_handle as NDIS_HANDLE;
    let information = if length == 0 { std::ptr::null_mut() } else { buffer.as_mut_ptr().cast() };
    let length32 = u32::try_from(length).unwrap_or(u32::MAX);
    match request.kind {
        OidKind::Query | OidKind::QueryStatistics => {
            r.RequestType = if request.kind == OidKind::Query {
                NdisRequestQueryInformation
            } else {
                NdisRequestQueryStatistics
            };
            r.DATA.QUERY_INFORMATION.Oid = request.oid;
            r.DATA.QUERY_INFORMATION.InformationBuffer = information;
            r.DATA.QUERY_INFORMATION.InformationBufferLength = length32;
        }
        OidKind::Set => {
            r.RequestType = NdisRequestSetInformation;
            r.DATA.SET_INFORMATION.Oid = request.oid;
            r.DATA.SET_INFORMATION.InformationBuffer = information;
            r.DATA.SET_INFORMATION.InformationBufferLength = length32;
        }
        OidKind::Method { method_id } => {
            r.RequestType = NdisRequestMethod;
            r.DATA.METHOD_INFORMATION.Oid = request.oid;
            r.DATA.METHOD_INFORMATION.InformationBuffer = information;
            r.DATA.METHOD_INFORMATION.InputBufferLength =
                u32::try_from(request.input.len()).unwrap_or(u32::MAX);
            r.DATA.METHOD_INFORMATION.OutputBufferLength = request.output_length;
            r.DATA.METHOD_INFORMATION.MethodId = method_id;
        }
    }
    (r, buffer)
}

/// What a MiniportOidRequest that returned `status` leaves of request `id`: the completion if
/// the request finished in the call (returned, or completed with NdisMOidRequestComplete before
/// it returned PENDING), `Pending` otherwise; with the checks of a synchronous status.
fn settle_oid(s: &mut SimState, id: u64, status: NDIS_STATUS) -> OidOutcome {
    let index = s.oids.iter().position(|r| r.id == id).unwrap_or(0);
    let oid = s.oids[index].oid;
    if status == NDIS_STATUS_PENDING {
        return match &s.oids[index].completion {
            Some(done) => OidOutcome::Completed(done.clone()),
            None => OidOutcome::Pending(OidId(id)),
        };
    }
    if s.oids[index].completion.is_some() {
        s.violate(
            rules::OID_DOUBLE_COMPLETE,
            format!(
                "OID {oid:#x}: NdisMOidRequestComplete was called and MiniportOidRequest \
                 returned {:#010x} instead of NDIS_STATUS_PENDING",
                status.cast_unsigned()
            ),
        );
    }
    if !oid_status_allowed(oid, status, false) {
        s.violate(
            rules::OID_COMPLETE_STATUS,
            format!("OID {oid:#x} returned {:#010x}", status.cast_unsigned()),
        );
    }
    let completion = completion_of(&s.oids[index], status, true);
    s.oids[index].completion = Some(completion.clone());
    s.track_vmq(index);
    OidOutcome::Completed(completion)
}

impl Sim {
    fn require_state(
        &self,
        operation: &'static str,
        allowed: &[AdapterState],
    ) -> Result<AdapterState, SimError> {
        let state = self.adapter_state();
        if allowed.contains(&state) {
            Ok(state)
        } else {
            Err(wrong_state(operation, format!("the adapter is {state:?}")))
        }
    }

    /// Loads the driver: calls `entry` (DriverEntry) at PASSIVE_LEVEL with a driver object and
    /// the service's registry path. The driver must call NdisMRegisterMiniportDriver, which
    /// calls its MiniportSetOptions (and that NdisSetOptionalHandlers) from inside.
    pub fn load_driver(&mut self, entry: DriverEntry) -> Result<(), SimError> {
        if with_state(|s| s.driver.is_some()) {
            return Err(wrong_state("load the driver", "a driver is already loaded"));
        }
        // DriverEntry must copy what it keeps: the string dies with this frame, as on Windows.
        let mut path: Vec<u16> = REGISTRY_PATH.encode_utf16().collect();
        let length = u16::try_from(path.len() * 2).unwrap_or(u16::MAX);
        let registry_path =
            UNICODE_STRING { Length: length, MaximumLength: length, Buffer: path.as_mut_ptr() };
        let driver_object = self.driver_object.as_mut_ptr().cast::<DRIVER_OBJECT>();
        // SAFETY: the driver's entry point with a zeroed, sim-owned DRIVER_OBJECT and a valid
        // UNICODE_STRING, at PASSIVE_LEVEL, as the I/O manager calls it.
        let status = in_phase(Phase::DriverEntry, || unsafe {
            entry(driver_object, &raw const registry_path)
        });
        if status < 0 {
            with_state(|s| s.driver = None);
            return Err(SimError::Failed { handler: "DriverEntry", status });
        }
        if with_state(|s| s.driver.is_none()) {
            return Err(wrong_state(
                "load the driver",
                "DriverEntry succeeded without calling NdisMRegisterMiniportDriver",
            ));
        }
        Ok(())
    }

    /// Unloads the driver: MiniportDriverUnload, which must call NdisMDeregisterMiniportDriver;
    /// then every pool block the driver allocated must be free (pool tracking).
    pub fn unload_driver(&mut self) -> Result<(), SimError> {
        let driver = loaded_driver("unload the driver")?;
        self.require_state("unload the driver", &[AdapterState::Absent])?;
        let driver_object = self.driver_object.as_mut_ptr().cast::<DRIVER_OBJECT>();
        if let Some(unload) = driver.characteristics.UnloadHandler {
            // SAFETY: the driver's unload handler with its driver object, at PASSIVE_LEVEL.
            in_phase(Phase::Unload, || unsafe { unload(driver_object) });
        }
        with_state(|s| {
            if !s.driver.is_some_and(|d| d.deregistered) {
                s.violate(
                    rules::UNLOAD_DRIVER_NOT_DEREGISTERED,
                    "MiniportDriverUnload returned without NdisMDeregisterMiniportDriver",
                );
            }
            let leaked: Vec<String> = s
                .allocations
                .values()
                .filter(|a| a.owner == Owner::Driver)
                .map(|a| {
                    format!(
                        "{:?} ({} bytes)",
                        String::from_utf8_lossy(&a.tag.to_le_bytes()),
                        a.size
                    )
                })
                .collect();
            if !leaked.is_empty() {
                s.violate(
                    rules::UNLOAD_POOL,
                    format!("still allocated at unload: {}", leaked.join(", ")),
                );
            }
            let queued = s.drop_queued_work_items(|_| true);
            if queued > 0 {
                s.violate(
                    rules::DEREGISTER_IO_WORK_ITEM_QUEUED,
                    format!(
                        "MiniportDriverUnload returned with {queued} work item(s) queued (their \
                         routines never run)"
                    ),
                );
            }
            if !s.work_items.is_empty() {
                s.violate(
                    rules::UNLOAD_IO_WORK_ITEM,
                    format!("{} work item(s) still allocated at unload", s.work_items.len()),
                );
            }
            close_leftover_configurations(s, Scope::Driver, "MiniportDriverUnload returned");
            let (pools, nbls, mdls) = (s.nbl_pools.len(), s.nbls.len(), s.mdls.len());
            if pools + nbls + mdls > 0 {
                s.violate(
                    rules::UNLOAD_NET_BUFFERS,
                    format!(
                        "still allocated at unload: {pools} NBL pool(s), {nbls} NBL(s), \
                         {mdls} MDL(s)"
                    ),
                );
            }
            s.driver = None;
        });
        Ok(())
    }

    /// The PnP manager adds the device: MiniportAddDevice, then
    /// IRP_MN_FILTER_RESOURCE_REQUIREMENTS with the list the PCI bus driver builds (every
    /// BAR, one message per MSI-X table entry, the line as an alternative). Returns the list
    /// after the driver's filter.
    pub fn add_device(&mut self) -> Result<Vec<u8>, SimError> {
        let driver = loaded_driver("add the device")?;
        self.require_state("add the device", &[AdapterState::Absent])?;
        let bus_list = self.bus_requirements()?;
        with_state(|s| {
            s.adapter_state = AdapterState::Added;
            s.add_device_context = None;
        });
        let Some(pnp) = driver.pnp else {
            with_state(|s| s.requirements.clone_from(&bus_list));
            return Ok(bus_list);
        };
        if let Some(add) = pnp.MiniportAddDeviceHandler {
            let handle = self.miniport_handle() as NDIS_HANDLE;
            // SAFETY: the driver's AddDevice with the miniport handle and its driver context,
            // at PASSIVE_LEVEL.
            let status = in_phase(Phase::AddDevice, || unsafe {
                add(handle, driver.context as NDIS_HANDLE)
            });
            if status != NDIS_STATUS_SUCCESS {
                with_state(|s| s.adapter_state = AdapterState::Absent);
                return Err(SimError::Failed { handler: "MiniportAddDevice", status });
            }
        }
        let context = with_state(|s| s.add_device_context).unwrap_or(0);
        let list = match pnp.MiniportFilterResourceRequirementsHandler {
            Some(filter) => {
                // SAFETY: the driver's filter with the context it registered.
                let outcome =
                    unsafe { pnp::filter_resource_requirements(filter, context as _, &bus_list) };
                // A failing filter makes NDIS use the bus driver's list.
                if outcome.status == NDIS_STATUS_SUCCESS && !outcome.list.is_empty() {
                    outcome.list
                } else {
                    bus_list.clone()
                }
            }
            None => bus_list.clone(),
        };
        pnp::check_only_messages_changed(&bus_list, &list);
        with_state(|s| s.requirements.clone_from(&list));
        Ok(list)
    }

    /// The requirements list of the PCI bus driver for this device.
    pub fn bus_requirements(&self) -> Result<Vec<u8>, SimError> {
        let config = self.machine.config_space()?;
        let table = msix_capability(&config).map_or(0, |c| c.table_size);
        let bars = with_state(|s| s.bars.clone());
        Ok(pnp::bus_requirements(&bars, table, Q35_IGB_INTX_IOAPIC_PIN))
    }

    /// Starts the device (adding it first if needed) and brings the adapter to Running:
    /// resource assignment under `policy`, MiniportStartDevice, MiniportInitializeEx with the
    /// translated resources, MiniportRestart (waiting for NdisMRestartComplete if it pends).
    pub fn start_device(&mut self, policy: GrantPolicy) -> Result<GrantedInterrupts, SimError> {
        let grant = self.initialize_device(policy)?;
        if self.restart()? == Completion::Pending {
            self.wait_for_state(AdapterState::Running, COMPLETION_WAIT, "NdisMRestartComplete")?;
        }
        Ok(grant)
    }

    /// Like [`Sim::start_device`], but stops after MiniportInitializeEx: the adapter is
    /// Paused.
    pub fn initialize_device(
        &mut self,
        policy: GrantPolicy,
    ) -> Result<GrantedInterrupts, SimError> {
        if self.adapter_state() == AdapterState::Absent {
            self.add_device()?;
        }
        self.require_state("start the device", &[AdapterState::Added])?;
        let driver = loaded_driver("start the device")?;
        let grant = self.assign_resources(policy)?;
        let context = with_state(|s| s.add_device_context).unwrap_or(0);
        if let Some(start) = driver.pnp.and_then(|p| p.MiniportStartDeviceHandler) {
            // SAFETY: an all-zero IRP is a valid value (the stack location with the resources
            // is not modelled; the driver's StartDevice only strips resources).
            let mut irp: IRP = unsafe { std::mem::zeroed() };
            // SAFETY: the driver's StartDevice with its add-device context, at PASSIVE_LEVEL.
            let status =
                in_phase(Phase::StartDevice, || unsafe { start(context as _, &raw mut irp) });
            if status != NDIS_STATUS_SUCCESS {
                self.remove_device()?;
                return Err(SimError::Failed { handler: "MiniportStartDevice", status });
            }
        }
        let Some(initialize) = driver.characteristics.InitializeHandlerEx else {
            return Err(wrong_state("start the device", "the driver has no InitializeHandlerEx"));
        };
        let resources = with_state(|s| {
            s.adapter_state = AdapterState::Initializing;
            s.adapter = AdapterRecord::default();
            s.msix_config_allowed = true;
            s.translated_resources.as_mut_ptr()
        });
        let mut parameters = NDIS_MINIPORT_INIT_PARAMETERS {
            Header: NDIS_OBJECT_HEADER::new(NDIS_OBJECT_TYPE_MINIPORT_INIT_PARAMETERS, 1, 0x40),
            Flags: 0,
            AllocatedResources: resources.cast(),
            IMDeviceInstanceContext: std::ptr::null_mut(),
            MiniportAddDeviceContext: context as NDIS_HANDLE,
            IfIndex: 1,
            NetLuid: 0x0006_0000_0100_0000,
            DefaultPortAuthStates: std::ptr::null_mut(),
            PciDeviceCustomProperties: std::ptr::null_mut(),
        };
        let handle = self.miniport_handle() as NDIS_HANDLE;
        // SAFETY: the driver's InitializeEx with the miniport handle, its driver context and
        // init parameters that (with the resource list they point to) outlive the call.
        let status = in_phase(Phase::Initialize, || unsafe {
            initialize(handle, driver.context as NDIS_HANDLE, &raw mut parameters)
        });
        with_state(|s| check_initialize_configurations(s, status == NDIS_STATUS_SUCCESS));
        if status == NDIS_STATUS_PENDING {
            with_state(|s| {
                s.violate(
                    rules::INITIALIZE_RETURNED_PENDING,
                    "MiniportInitializeEx returned PENDING",
                );
            });
        }
        if status != NDIS_STATUS_SUCCESS {
            with_state(|s| {
                s.msix_config_allowed = false;
                check_adapter_released(s, false);
                s.adapter_state = AdapterState::Added;
            });
            // Only work items of the driver handle are left to run.
            work_items::drain();
            self.stop_hardware()?;
            self.remove_device()?;
            return Err(SimError::Failed { handler: "MiniportInitializeEx", status });
        }
        with_state(|s| {
            if s.adapter.registration.is_none() || s.adapter.general.is_none() {
                s.violate(
                    rules::INITIALIZE_MISSING_ATTRIBUTES,
                    format!(
                        "MiniportInitializeEx succeeded without {}",
                        if s.adapter.registration.is_none() {
                            "registration attributes"
                        } else {
                            "general attributes"
                        }
                    ),
                );
            }
            s.adapter_state = AdapterState::Paused;
        });
        // The work items InitializeEx queued run once it has returned and the adapter exists.
        work_items::drain();
        Ok(grant)
    }

    /// PnP assigns resources from the filtered list: the grant, its mailboxes, the translated
    /// resources and the message table.
    fn assign_resources(&self, policy: GrantPolicy) -> Result<GrantedInterrupts, SimError> {
        let (list, processors, bars) = with_state(|s| {
            let processors = s.config.as_ref().map(|c| c.processors.clone()).unwrap_or_default();
            (s.requirements.clone(), processors, s.bars.clone())
        });
        let config = self.machine.config_space()?;
        let table_size = msix_capability(&config).map_or(0, |c| c.table_size);
        let mailbox_bytes = 4 * (vmqnic::interrupt::MAX_MESSAGES_PER_FUNCTION as u64);
        let mailboxes = self.machine.dma_alloc(mailbox_bytes.max(PAGE_SIZE), "MSI mailboxes")?;
        let (kind, messages, line) =
            pnp::assign(&list, policy, &processors, Q35_IGB_INTX_IOAPIC_PIN, mailboxes.gpa)
                .map_err(|reason| wrong_state("assign resources", reason))?;
        let mut grant = GrantedInterrupts {
            kind,
            messages,
            line,
            table_size,
            requirements: list.clone(),
            translated_resources: Vec::new(),
        };
        grant.translated_resources = pnp::translated_resources(&list, &bars, &grant);
        let info = pnp::message_info(&grant, interrupt_handle());
        let words: Vec<u32> = grant
            .translated_resources
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect();
        let old_mailboxes = with_state(|s| {
            s.grant = Some(grant.clone());
            s.translated_resources = words;
            s.message_info = info;
            s.interrupt = None;
            s.dpcs.clear();
            s.sg_dma = None;
            s.granted_messages = u32::try_from(grant.messages.len()).unwrap_or(u32::MAX);
            for entry in &mut s.msix_table {
                *entry = super::TableEntry { message: None, masked: true, pending: false };
            }
            s.mailboxes.replace(mailboxes)
        });
        if let Some(old) = old_mailboxes {
            self.machine.dma_free(old)?;
        }
        self.machine.set_interrupt_mode(Some(grant.kind))?;
        Ok(grant)
    }

    /// Restarts the paused adapter (MiniportRestart at PASSIVE_LEVEL).
    pub fn restart(&mut self) -> Result<Completion, SimError> {
        self.require_state("restart", &[AdapterState::Paused])?;
        let driver = loaded_driver("restart")?;
        let Some(restart) = driver.characteristics.RestartHandler else {
            return Err(wrong_state("restart", "the driver has no RestartHandler"));
        };
        let context = with_state(|s| {
            s.adapter_state = AdapterState::Restarting;
            s.adapter.context
        });
        let mut parameters = RestartParameters {
            header: NDIS_OBJECT_HEADER::new(NDIS_OBJECT_TYPE_DEFAULT, 1, 0x14),
            restart_attributes: std::ptr::null_mut(),
            flags: 0,
        };
        // SAFETY: the driver's Restart with its adapter context and restart parameters that
        // outlive the call, at PASSIVE_LEVEL.
        let status = in_phase(Phase::Restart, || unsafe {
            restart(context as NDIS_HANDLE, (&raw mut parameters).cast())
        });
        match status {
            NDIS_STATUS_SUCCESS => {
                with_state(|s| s.adapter_state = AdapterState::Running);
                Ok(Completion::Completed)
            }
            NDIS_STATUS_PENDING => Ok(if self.adapter_state() == AdapterState::Running {
                Completion::Completed
            } else {
                Completion::Pending
            }),
            failure => {
                with_state(|s| s.adapter_state = AdapterState::Paused);
                Err(SimError::Failed { handler: "MiniportRestart", status: failure })
            }
        }
    }

    /// Pauses the running adapter (MiniportPause at PASSIVE_LEVEL). The pause reason is
    /// NDIS_PAUSE_NDIS_INTERNAL.
    pub fn pause(&mut self) -> Result<Completion, SimError> {
        self.require_state("pause", &[AdapterState::Running])?;
        let driver = loaded_driver("pause")?;
        let Some(pause) = driver.characteristics.PauseHandler else {
            return Err(wrong_state("pause", "the driver has no PauseHandler"));
        };
        let context = with_state(|s| {
            s.adapter_state = AdapterState::Pausing;
            s.adapter.context
        });
        let mut parameters = PauseParameters {
            header: NDIS_OBJECT_HEADER::new(NDIS_OBJECT_TYPE_DEFAULT, 1, 0xC),
            flags: 0,
            pause_reason: PAUSE_NDIS_INTERNAL,
        };
        // SAFETY: the driver's Pause with its adapter context and pause parameters that
        // outlive the call, at PASSIVE_LEVEL.
        let status = in_phase(Phase::Pause, || unsafe {
            pause(context as NDIS_HANDLE, (&raw mut parameters).cast())
        });
        match status {
            NDIS_STATUS_SUCCESS => {
                with_state(|s| s.adapter_state = AdapterState::Paused);
                Ok(Completion::Completed)
            }
            NDIS_STATUS_PENDING => Ok(if self.adapter_state() == AdapterState::Paused {
                Completion::Completed
            } else {
                Completion::Pending
            }),
            other => {
                with_state(|s| {
                    s.violate(
                        rules::MINIPORT_PAUSE_RETURN,
                        format!("MiniportPause returned {:#010x}", other.cast_unsigned()),
                    );
                    // NDIS cannot fail a pause; carry on as if it had succeeded.
                    s.adapter_state = AdapterState::Paused;
                });
                Ok(Completion::Completed)
            }
        }
    }

    /// Delivers interrupts (and runs DPCs) until the adapter reaches `state`.
    pub fn wait_for_state(
        &self,
        state: AdapterState,
        timeout: Duration,
        what: &'static str,
    ) -> Result<(), SimError> {
        let deadline = Instant::now() + timeout;
        while self.adapter_state() != state {
            if Instant::now() >= deadline {
                return Err(SimError::Timeout(what));
            }
            self.deliver_interrupts(Duration::from_millis(1))?;
            self.run_queued_dpcs();
            self.run_work_items();
        }
        Ok(())
    }

    /// Stops and removes the device: pauses it if it runs (waiting for a pending pause while
    /// delivering interrupts), MiniportHaltEx, MiniportRemoveDevice.
    pub fn stop_device(&mut self) -> Result<(), SimError> {
        match self.adapter_state() {
            AdapterState::Restarting => {
                self.wait_for_state(
                    AdapterState::Running,
                    COMPLETION_WAIT,
                    "NdisMRestartComplete",
                )?;
                self.stop_device()
            }
            AdapterState::Running => {
                if self.pause()? == Completion::Pending {
                    self.wait_for_state(
                        AdapterState::Paused,
                        COMPLETION_WAIT,
                        "NdisMPauseComplete",
                    )?;
                }
                self.stop_device()
            }
            AdapterState::Pausing => {
                self.wait_for_state(AdapterState::Paused, COMPLETION_WAIT, "NdisMPauseComplete")?;
                self.stop_device()
            }
            AdapterState::Paused => {
                self.halt()?;
                self.remove_device()
            }
            AdapterState::Added | AdapterState::Halted => self.remove_device(),
            state => Err(wrong_state("stop the device", format!("the adapter is {state:?}"))),
        }
    }

    /// MiniportHaltEx on the paused adapter (after the simulated protocols returned every
    /// indicated NBL); then checks that everything the adapter acquired was released, and that
    /// no freed shared memory was written ([`Sim::check_freed_memory`]).
    pub fn halt(&mut self) -> Result<(), SimError> {
        self.require_state("halt", &[AdapterState::Paused])?;
        if with_state(|s| s.oids.iter().any(|r| r.completion.is_none())) {
            return Err(wrong_state("halt", "an OID request is pending (NDIS waits for it)"));
        }
        self.return_indicated_nbls();
        // What was queued before runs before HaltEx: only HaltEx's own work items can still be
        // queued when it returns.
        work_items::drain();
        let driver = loaded_driver("halt")?;
        let (context, action) = with_state(|s| {
            s.adapter_state = AdapterState::Halting;
            let action = if s.surprise_removed {
                HALT_DEVICE_SURPRISE_REMOVED
            } else {
                HALT_DEVICE_DISABLED
            };
            (s.adapter.context, action)
        });
        if let Some(halt) = driver.characteristics.HaltHandlerEx {
            // SAFETY: the driver's HaltEx with its adapter context, at PASSIVE_LEVEL.
            in_phase(Phase::Halt, || unsafe { halt(context as NDIS_HANDLE, action) });
        }
        with_state(|s| {
            s.msix_config_allowed = false;
            check_adapter_released(s, true);
            s.adapter_state = AdapterState::Halted;
        });
        // Only work items of the driver handle are left to run.
        work_items::drain();
        let checked = self.check_freed_memory();
        self.stop_hardware()?;
        checked.map(drop)
    }

    fn stop_hardware(&self) -> Result<(), SimError> {
        interrupts::stop(&self.machine)?;
        Ok(())
    }

    /// MiniportRemoveDevice (after a halt, or for a device that never initialized); then the
    /// pool blocks of the PnP handlers must be free.
    pub fn remove_device(&mut self) -> Result<(), SimError> {
        self.require_state("remove the device", &[AdapterState::Added, AdapterState::Halted])?;
        let driver = loaded_driver("remove the device")?;
        let context = with_state(|s| s.add_device_context).unwrap_or(0);
        if let Some(remove) = driver.pnp.and_then(|p| p.MiniportRemoveDeviceHandler) {
            // SAFETY: the driver's RemoveDevice with its add-device context, at PASSIVE_LEVEL.
            in_phase(Phase::RemoveDevice, || unsafe { remove(context as NDIS_HANDLE) });
        }
        let mailboxes = with_state(|s| {
            check_device_released(s);
            s.adapter_state = AdapterState::Absent;
            s.add_device_context = None;
            s.interrupt = None;
            s.dpcs.clear();
            s.mailboxes.take()
        });
        if let Some(range) = mailboxes {
            self.machine.dma_free(range)?;
        }
        Ok(())
    }

    /// MiniportShutdownEx with `action` (`NdisShutdownPowerOff` = 0, `NdisShutdownBugCheck`
    /// = 1), at PASSIVE_LEVEL.
    pub fn shutdown(&mut self, action: u32) -> Result<(), SimError> {
        let driver = loaded_driver("shut down")?;
        let context = with_state(|s| s.adapter.context);
        if let Some(shutdown) = driver.characteristics.ShutdownHandlerEx {
            // SAFETY: the driver's ShutdownEx with its adapter context.
            in_phase(Phase::Shutdown, || unsafe { shutdown(context as NDIS_HANDLE, action) });
        }
        Ok(())
    }

    /// Issues an OID request (MiniportOidRequest at PASSIVE_LEVEL). NDIS sends one request at
    /// a time, so a pending one must finish first.
    pub fn oid_request(&mut self, request: &OidRequest) -> Result<OidOutcome, SimError> {
        self.require_state(
            "issue an OID",
            &[
                AdapterState::Paused,
                AdapterState::Running,
                AdapterState::Pausing,
                AdapterState::Restarting,
            ],
        )?;
        let driver = loaded_driver("issue an OID")?;
        let Some(handler) = driver.characteristics.OidRequestHandler else {
            return Err(wrong_state("issue an OID", "the driver has no OidRequestHandler"));
        };
        let (id, pointer, context) = with_state(|s| {
            if s.oids.iter().any(|r| r.completion.is_none()) {
                return Err(wrong_state("issue an OID", "another OID request is pending"));
            }
            let id = s.oids.len() as u64 + 1;
            let length = request.buffer_length();
            let (r, buffer) = build_request(request, id, s.miniport_handle);
            let mut record = OidRecord {
                id,
                oid: request.oid,
                kind: request.kind,
                request: RequestBox(r),
                buffer,
                length,
                issued: Instant::now(),
                completion: None,
            };
            let pointer: *mut NDIS_OID_REQUEST = &raw mut *record.request.0;
            s.oids.push(record);
            Ok((id, pointer, s.adapter.context))
        })?;
        // The outcome is settled before the handler's work items run (when `in_phase` returns):
        // a request that MiniportOidRequest pended and a work item completes is Pending, and
        // its completion is there by the time this returns.
        let outcome = in_phase(Phase::OidRequest, || {
            // SAFETY: the driver's OidRequest with its adapter context and a request (and
            // buffer) the simulator keeps alive until the simulation ends, at PASSIVE_LEVEL.
            let status = unsafe { handler(context as NDIS_HANDLE, pointer) };
            with_state(|s| settle_oid(s, id, status))
        });
        Ok(outcome)
    }

    /// The completion of a request, once it finished.
    #[must_use]
    pub fn oid_completion(&self, id: OidId) -> Option<OidCompletion> {
        with_state(|s| s.oids.iter().find(|r| r.id == id.0).and_then(|r| r.completion.clone()))
    }

    /// Delivers interrupts, runs queued DPCs and work items until a pending request completes
    /// (the driver may complete it from any of them).
    pub fn wait_oid(&self, id: OidId, timeout: Duration) -> Result<OidCompletion, SimError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.run_work_items();
            if let Some(done) = self.oid_completion(id) {
                return Ok(done);
            }
            if Instant::now() >= deadline {
                return Err(SimError::Timeout("NdisMOidRequestComplete"));
            }
            self.deliver_interrupts(Duration::from_millis(1))?;
            self.run_queued_dpcs();
        }
    }

    /// MiniportCancelOidRequest for a pending request (at PASSIVE_LEVEL). The driver should
    /// complete it with NDIS_STATUS_REQUEST_ABORTED.
    pub fn cancel_oid(&mut self, id: OidId) -> Result<(), SimError> {
        let driver = loaded_driver("cancel an OID")?;
        let context = with_state(|s| s.adapter.context);
        if let Some(cancel) = driver.characteristics.CancelOidRequestHandler {
            // SAFETY: the driver's CancelOidRequest with its adapter context and the request's
            // RequestId, at PASSIVE_LEVEL.
            in_phase(Phase::CancelOid, || unsafe { cancel(context as NDIS_HANDLE, id.0 as _) });
        }
        Ok(())
    }

    /// Sends an NBL chain (MiniportSendNetBufferLists; at DISPATCH_LEVEL when `flags` has
    /// NDIS_SEND_FLAGS_DISPATCH_LEVEL). The NBLs are outstanding until
    /// NdisMSendNetBufferListsComplete.
    ///
    /// # Safety
    /// `chain` is a valid NBL chain that stays valid until the driver completes it.
    pub unsafe fn send_net_buffer_lists(
        &mut self,
        chain: *mut NET_BUFFER_LIST,
        flags: u32,
    ) -> Result<(), SimError> {
        self.require_state("send", &[AdapterState::Running])?;
        let driver = loaded_driver("send")?;
        let Some(send) = driver.characteristics.SendNetBufferListsHandler else {
            return Err(wrong_state("send", "the driver has no SendNetBufferListsHandler"));
        };
        // SAFETY: a valid chain (caller).
        let nbls = unsafe { walk_nbls(chain) };
        let context = with_state(|s| {
            s.sends_outstanding.extend(nbls.iter().map(|n| n.received.address));
            s.adapter.context
        });
        let here = cpu::current();
        let irql =
            if flags & SEND_FLAGS_DISPATCH_LEVEL != 0 { DISPATCH_LEVEL } else { PASSIVE_LEVEL };
        in_phase(Phase::Send, || {
            cpu::run_as(CpuContext { processor: here.processor, irql }, || {
                // SAFETY: the driver's send handler with its adapter context and the caller's
                // chain, at the IRQL the flags announce.
                unsafe { send(context as NDIS_HANDLE, chain, 0, flags) };
            });
        });
        Ok(())
    }

    /// The simulated protocol sends `frames`: one NBL per frame, built as NDIS hands a
    /// protocol's NBLs to a miniport (see [`SendFrame`]: MDL chain over the bytes, backfill as
    /// `DataOffset`, 802.1Q and queue info), chained in order and passed to
    /// MiniportSendNetBufferLists in one call, as [`Sim::send_net_buffer_lists`] does. The
    /// simulator keeps them alive until the simulation ends. Returns the NBL addresses, in
    /// order; each completion is in [`Sim::send_completions`] and [`Sim::send_status`].
    /// (Not [`Sim::send_frames`], which puts frames on the wire towards the NIC.)
    pub fn send_frames_as_nbls(
        &mut self,
        frames: &[SendFrame],
        flags: u32,
    ) -> Result<Vec<usize>, SimError> {
        self.require_state("send", &[AdapterState::Running])?;
        if frames.is_empty() {
            return Err(wrong_state("send", "no frames to send"));
        }
        let packets: Vec<ProtocolPacket> = frames.iter().map(build_protocol_packet).collect();
        for pair in packets.windows(2) {
            let next = offset_of!(NET_BUFFER_LIST, Next);
            // SAFETY: `Next` of the NBL block the first packet owns.
            unsafe { field::<_, *mut NET_BUFFER_LIST>(pair[0].nbl(), next).write(pair[1].nbl()) };
        }
        let head = packets[0].nbl();
        let addresses: Vec<usize> = packets.iter().map(|p| p.nbl() as usize).collect();
        with_state(|s| s.protocol_sends.extend(packets));
        // SAFETY: a valid chain the simulator state keeps alive until the simulation ends.
        unsafe { self.send_net_buffer_lists(head, flags) }?;
        Ok(addresses)
    }

    /// The completion status of a sent NBL, once NdisMSendNetBufferListsComplete returned it.
    #[must_use]
    pub fn send_status(&self, nbl: usize) -> Option<NDIS_STATUS> {
        with_state(|s| s.send_completions.iter().find(|c| c.nbl == nbl).map(|c| c.status))
    }

    /// The bytes an NBL that [`Sim::send_frames_as_nbls`] built describes now (its first NB,
    /// `DataLength` bytes at `DataOffset` of its MDL chain): a send path must not change them.
    /// `None` for any other NBL, or if the driver broke its MDL chain.
    #[must_use]
    pub fn sent_nbl_bytes(&self, nbl: usize) -> Option<Vec<u8>> {
        with_state(|s| {
            let packet = s.protocol_sends.iter().find(|p| p.nbl() as usize == nbl)?;
            let first = offset_of!(NET_BUFFER_LIST, FirstNetBuffer);
            // SAFETY: the FirstNetBuffer field of a live protocol NBL block.
            let nb = unsafe { field::<_, *const NET_BUFFER>(packet.nbl(), first).read() };
            if nb.is_null() {
                return None;
            }
            let ranges = packet.mdl_ranges().to_vec();
            // SAFETY: the NB of a protocol NBL (the driver may not replace it); its MDLs'
            // buffers belong to the packet, alive in the state.
            unsafe { net_buffer_bytes(s, nb, &ranges) }.ok()
        })
    }

    /// The simulated protocol cancels its sends marked with `cancel_id`
    /// (NdisCancelSendNetBufferLists → MiniportCancelSend at PASSIVE_LEVEL).
    pub fn cancel_send(&mut self, cancel_id: usize) -> Result<(), SimError> {
        self.require_state("cancel sends", &[AdapterState::Running, AdapterState::Pausing])?;
        let driver = loaded_driver("cancel sends")?;
        let Some(cancel) = driver.characteristics.CancelSendHandler else {
            return Err(wrong_state("cancel sends", "the driver has no CancelSendHandler"));
        };
        let context = with_state(|s| s.adapter.context);
        in_phase(Phase::Send, || {
            // SAFETY: the driver's cancel handler with its adapter context, at PASSIVE_LEVEL
            // on the calling processor.
            unsafe { cancel(context as NDIS_HANDLE, cancel_id as vmqnic::ndis::PVOID) };
        });
        Ok(())
    }

    /// Returns every indicated NBL the simulated protocol still holds
    /// (ReturnNetBufferListsHandler at PASSIVE_LEVEL).
    pub fn return_indicated_nbls(&self) {
        let chains = with_state(|s| std::mem::take(&mut s.unreturned));
        return_nbls(&chains);
    }

    /// Calls a MiniportAddDevice handler by itself (no registered driver needed), as NDIS
    /// would; returns its status and the context it registered.
    pub fn call_add_device(&self, handler: MINIPORT_ADD_DEVICE) -> (NDIS_STATUS, Option<usize>) {
        let handle = self.miniport_handle() as NDIS_HANDLE;
        // SAFETY: the handler with the miniport handle, at PASSIVE_LEVEL.
        let status =
            in_phase(Phase::AddDevice, || unsafe { handler(handle, std::ptr::null_mut()) });
        (status, with_state(|s| s.add_device_context))
    }

    /// Calls a MiniportStartDevice handler by itself with an empty IRP.
    pub fn call_start_device(&self, handler: MINIPORT_PNP_IRP, context: usize) -> NDIS_STATUS {
        // SAFETY: an all-zero IRP is a valid value of this plain-data struct.
        let mut irp: IRP = unsafe { std::mem::zeroed() };
        // SAFETY: the handler with the context it registered and an IRP on this frame.
        in_phase(Phase::StartDevice, || unsafe { handler(context as NDIS_HANDLE, &raw mut irp) })
    }

    /// Calls a MiniportRemoveDevice handler by itself, then checks that the PnP handlers'
    /// pool blocks are free.
    pub fn call_remove_device(&self, handler: MINIPORT_REMOVE_DEVICE, context: usize) {
        // SAFETY: the handler with the context it registered, at PASSIVE_LEVEL.
        in_phase(Phase::RemoveDevice, || unsafe { handler(context as NDIS_HANDLE) });
        with_state(check_device_released);
    }
}
