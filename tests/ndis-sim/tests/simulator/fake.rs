//! A configurable fake miniport: just enough of a driver to walk the simulator through every
//! lifecycle step, and to break each rule on purpose.
//!
//! Its PnP handlers are the real driver's (`vmqnic::miniport::pnp`), so FilterResourceRequirements
//! asks for one MSI-X message per RSS processor plus one. MiniportInitializeEx and
//! MiniportHaltEx run a script of [`Step`]s; the other handlers follow the knobs of
//! [`Behaviour`]. Everything a handler learns (handles, mappings, deliveries) goes to
//! [`FakeState`], which tests read with [`with_fake`].

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::mem::{offset_of, size_of};
use std::ptr;
use std::sync::{LazyLock, Mutex, PoisonError};

use ndis_sim::sim::exports::{
    KeGetCurrentProcessorNumberEx, NdisAcquireSpinLock, NdisAllocateIoWorkItem, NdisAllocateMdl,
    NdisAllocateMemoryWithTagPriority, NdisAllocateNetBufferAndNetBufferList,
    NdisAllocateNetBufferListPool, NdisAllocateSharedMemory, NdisAllocateSpinLock,
    NdisCloseConfiguration, NdisDprAcquireSpinLock, NdisDprReleaseSpinLock, NdisFreeIoWorkItem,
    NdisFreeMdl, NdisFreeMemory, NdisFreeNetBufferList, NdisFreeNetBufferListPool,
    NdisFreeSharedMemory, NdisFreeSpinLock, NdisMAllocateSharedMemory, NdisMConfigMSIXTableEntry,
    NdisMDeregisterInterruptEx, NdisMDeregisterMiniportDriver, NdisMDeregisterScatterGatherDma,
    NdisMFreeSharedMemory, NdisMIndicateReceiveNetBufferLists, NdisMIndicateStatusEx,
    NdisMMapIoSpace, NdisMOidRequestComplete, NdisMQueueDpcEx, NdisMRegisterInterruptEx,
    NdisMRegisterMiniportDriver, NdisMRegisterScatterGatherDma, NdisMSendNetBufferListsComplete,
    NdisMSetMiniportAttributes, NdisMSynchronizeWithInterruptEx, NdisMUnmapIoSpace,
    NdisOpenConfigurationEx, NdisQueueIoWorkItem, NdisReadConfiguration, NdisReleaseSpinLock,
    NdisSetOptionalHandlers, READ_REGISTER_ULONG, WRITE_REGISTER_ULONG,
};
use vmqnic::interrupt::Processor;
use vmqnic::interrupt::grant::{PartialDescriptor, partial_descriptors};
use vmqnic::interrupt::plan::InterruptPlan;
use vmqnic::miniport::{msix, pnp};
use vmqnic::ndis::{
    BOOLEAN, CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE, CM_PARTIAL_RESOURCE_LIST,
    CM_PARTIAL_RESOURCE_LIST_HEADER_SIZE, DRIVER_OBJECT, GROUP_AFFINITY,
    IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE, IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE, IRP,
    Ieee8021QNetBufferListInfo, MDL, NDIS_CONFIGURATION_OBJECT, NDIS_CONFIGURATION_PARAMETER,
    NDIS_CONNECT_MESSAGE_BASED, NDIS_HANDLE, NDIS_IO_WORKITEM_ROUTINE,
    NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES,
    NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
    NDIS_MINIPORT_INIT_PARAMETERS, NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
    NDIS_MINIPORT_PNP_CHARACTERISTICS, NDIS_MSIX_CONFIG_PARAMETERS, NDIS_OBJECT_HEADER,
    NDIS_OID_REQUEST, NDIS_RECEIVE_FILTER_CAPABILITIES, NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED,
    NDIS_RECEIVE_FILTER_VM_QUEUE_SUPPORTED, NDIS_RECEIVE_THROTTLE_PARAMETERS,
    NDIS_SG_DMA_DESCRIPTION, NDIS_SHARED_MEMORY_PARAMETERS, NDIS_SPIN_LOCK, NDIS_STATUS,
    NDIS_STATUS_FAILURE, NDIS_STATUS_INDICATION, NDIS_STATUS_LINK_STATE, NDIS_STATUS_PENDING,
    NDIS_STATUS_REQUEST_ABORTED, NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS, NET_BUFFER,
    NET_BUFFER_LIST, NET_BUFFER_LIST_POOL_PARAMETERS, NET_DEVICE_PNP_EVENT, NTSTATUS,
    NdisParameterInteger, NetBufferListFilteringInfo, NormalPoolPriority, PROCESSOR_NUMBER,
    UNICODE_STRING, filtering_info_value, ieee8021q_info_value,
};

/// Pool tag of the fake's blocks ("Fake").
pub const TAG: u32 = u32::from_ne_bytes(*b"Fake");
/// Register offsets of the 82576 the fake touches.
pub const ICR: u32 = 0xC0;
/// Interrupt mask set (legacy causes).
pub const IMS: u32 = 0xD0;
/// General purpose interrupt enable.
pub const GPIE: u32 = 0x1514;
/// Extended interrupt mask set.
pub const EIMS: u32 = 0x1524;
/// Extended interrupt auto-clear.
pub const EIAC: u32 = 0x152C;
/// GPIE.MSIX_MODE.
pub const GPIE_MSIX_MODE: u32 = 1 << 4;

/// One thing MiniportInitializeEx, MiniportHaltEx or MiniportRestart does, in script order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Allocates the adapter context from pool.
    AllocateContext,
    /// Sets the registration attributes (header: `Headers::registration`).
    Registration,
    /// Sets the general attributes.
    General,
    /// Sets the hardware-assist attributes with receive-filter capabilities (VMQ, MSI-X).
    HardwareAssist,
    /// Maps the first memory resource (BAR0, the registers).
    MapRegisters,
    /// Maps the memory resource of this length (e.g. the 16 KiB MSI-X BAR).
    MapResourceOfLength(u32),
    /// Maps an arbitrary physical range.
    MapAt(i64, u32),
    /// Registers scatter-gather DMA.
    RegisterSgDma,
    /// Registers the interrupt.
    RegisterInterrupt,
    /// Programs the device to raise interrupts (MSI-X mode for a message grant, legacy
    /// causes otherwise).
    EnableDeviceInterrupts,
    /// Allocates shared memory of this many bytes (for the default queue).
    AllocateShared(u32),
    /// Allocates shared memory of `.1` bytes for VM queue `.0`.
    AllocateQueueShared(u32, u32),
    /// NdisMAllocateSharedMemory of this many bytes, not cached (the transmit ring's kind).
    AllocateMiniportShared(u32),
    /// NdisMFreeSharedMemory of every NdisMAllocateSharedMemory block, with the allocation's
    /// arguments.
    FreeMiniportShared,
    /// Indicates `NDIS_STATUS_RECEIVE_QUEUE_STATE` / DmaStopped for VM queue `.0`.
    IndicateDmaStopped(u32),
    /// Disables RX queue `.0` of the device (RXDCTL.ENABLE cleared through the mapping, then
    /// read back until the device reports it clear): its DMA stops.
    DisableRxQueue(u32),
    /// Allocates an extra pool block.
    AllocatePool,
    /// Indicates a link-state status.
    IndicateStatus,
    /// Returns from the handler with this status, skipping the rest of the script.
    Return(NDIS_STATUS),
    /// Deregisters the interrupt.
    DeregisterInterrupt,
    /// Deregisters scatter-gather DMA.
    DeregisterSgDma,
    /// Unmaps every mapping.
    Unmap,
    /// Frees every shared-memory block.
    FreeShared,
    /// Frees the extra pool blocks.
    FreePool,
    /// Frees the adapter context.
    FreeContext,
    /// Runs a function synchronized with message 0.
    Synchronize,
    /// Creates the receive NBL pool now (otherwise the first receive indication creates it).
    AllocateNblPool,
    /// Frees the receive NBL pool, if there is one.
    FreeNblPool,
    /// Allocates an MDL over the adapter context and an NBL over it, and keeps both.
    AllocateNblAndMdl,
    /// NdisAllocateSpinLock of the fake's lock ([`fake_lock`]).
    AllocateLock,
    /// NdisFreeSpinLock of the fake's lock.
    FreeLock,
    /// NdisAcquireSpinLock of the fake's lock (and no release).
    AcquireLock,
    /// NdisReleaseSpinLock of the fake's lock.
    ReleaseLock,
    /// NdisDprAcquireSpinLock of the fake's lock (and no release).
    DprAcquireLock,
    /// NdisDprReleaseSpinLock of the fake's lock.
    DprReleaseLock,
    /// NdisAcquireSpinLock, then NdisReleaseSpinLock of the fake's lock.
    LockedSection,
    /// NdisDprAcquireSpinLock, then NdisDprReleaseSpinLock of the fake's lock.
    DprLockedSection,
    /// NdisAllocateIoWorkItem with the miniport adapter handle (the fake keeps one work item).
    AllocateWorkItem,
    /// NdisAllocateIoWorkItem with the driver handle.
    AllocateDriverWorkItem,
    /// NdisAllocateIoWorkItem with the adapter context instead of a handle (a typical mistake).
    AllocateWorkItemWithContext,
    /// NdisQueueIoWorkItem of the fake's work item with [`work_item_routine`] and
    /// [`WORK_ITEM_CONTEXT`].
    QueueWorkItem,
    /// NdisQueueIoWorkItem of the fake's work item with a NULL routine.
    QueueWorkItemWithoutRoutine,
    /// NdisFreeIoWorkItem of the fake's work item (the fake keeps its handle, so freeing twice
    /// frees the same handle twice).
    FreeWorkItem,
    /// NdisMOidRequestComplete of the request MiniportOidRequest pended, with this status.
    CompletePendingOid(NDIS_STATUS),
    /// NdisOpenConfigurationEx with the miniport adapter handle (header:
    /// `Headers::configuration`); the fake keeps the handle.
    OpenConfiguration,
    /// NdisOpenConfigurationEx with the adapter context instead of a handle.
    OpenConfigurationWithContext,
    /// NdisReadConfiguration of this keyword as `NdisParameterInteger`, with the fake's
    /// configuration handle; what comes back goes to `FakeState::parameters`.
    ReadKeyword(&'static str),
    /// The same, asking for this `NDIS_PARAMETER_TYPE`.
    ReadKeywordAs(&'static str, u32),
    /// NdisCloseConfiguration of the fake's configuration handle (the fake keeps it, so closing
    /// twice closes the same handle twice).
    CloseConfiguration,
}

/// The Initialize script of a well-behaved driver.
pub const INITIALIZE: &[Step] = &[
    Step::AllocateContext,
    Step::Registration,
    Step::General,
    Step::MapRegisters,
    Step::RegisterSgDma,
    Step::RegisterInterrupt,
    Step::HardwareAssist,
    Step::EnableDeviceInterrupts,
];

/// The Halt script of a well-behaved driver.
pub const HALT: &[Step] = &[
    Step::DeregisterInterrupt,
    Step::FreeShared,
    Step::DeregisterSgDma,
    Step::Unmap,
    Step::FreePool,
    Step::FreeNblPool,
    Step::FreeContext,
];

/// Object headers the fake uses (tests break one at a time).
#[derive(Clone, Copy, Debug)]
pub struct Headers {
    /// `NDIS_MINIPORT_DRIVER_CHARACTERISTICS`.
    pub driver: NDIS_OBJECT_HEADER,
    /// `NDIS_MINIPORT_PNP_CHARACTERISTICS`.
    pub pnp: NDIS_OBJECT_HEADER,
    /// Registration attributes.
    pub registration: NDIS_OBJECT_HEADER,
    /// General attributes.
    pub general: NDIS_OBJECT_HEADER,
    /// Hardware-assist attributes.
    pub hardware_assist: NDIS_OBJECT_HEADER,
    /// Receive-filter capabilities.
    pub receive_filter: NDIS_OBJECT_HEADER,
    /// Interrupt characteristics.
    pub interrupt: NDIS_OBJECT_HEADER,
    /// SG DMA description.
    pub sg_dma: NDIS_OBJECT_HEADER,
    /// Status indication.
    pub status: NDIS_OBJECT_HEADER,
    /// Shared-memory parameters.
    pub shared_memory: NDIS_OBJECT_HEADER,
    /// Configuration object (NdisOpenConfigurationEx).
    pub configuration: NDIS_OBJECT_HEADER,
}

impl Default for Headers {
    fn default() -> Self {
        Self {
            driver: NDIS_OBJECT_HEADER::new(0x8A, 2, 0x98),
            pnp: NDIS_OBJECT_HEADER::new(0x92, 1, 0x2C),
            registration: NDIS_OBJECT_HEADER::new(0x9E, 2, 0x1C),
            general: NDIS_OBJECT_HEADER::new(0x9F, 2, 0xE0),
            hardware_assist: NDIS_OBJECT_HEADER::new(0xAF, 3, 0x50),
            receive_filter: NDIS_OBJECT_HEADER::new(0x80, 2, 0x54),
            interrupt: NDIS_OBJECT_HEADER::new(0x84, 1, 0x60),
            sg_dma: NDIS_OBJECT_HEADER::new(0x83, 1, 0x24),
            status: NDIS_OBJECT_HEADER::new(0x98, 1, 0x70),
            shared_memory: NDIS_OBJECT_HEADER::new(0x80, 1, 0x40),
            configuration: NDIS_OBJECT_HEADER::new(0xA9, 1, 0x18),
        }
    }
}

/// What MiniportOidRequest does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OidMode {
    /// Finishes with this status; a query gets its whole buffer filled with 0xA5.
    Return(NDIS_STATUS),
    /// Returns PENDING and keeps the request for [`complete_pending_oid`].
    Pend,
    /// Calls NdisMOidRequestComplete with this status, then returns it too (a double
    /// completion).
    CompleteAndReturn(NDIS_STATUS),
}

/// One NBL of a receive indication: (queue id, data length).
pub type ReceiveNbl = (u16, u32);

/// A receive indication the DPC (or [`indicate_receive`]) makes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // each knob breaks (or does) one thing
pub struct Receive {
    /// The NBLs.
    pub nbls: Vec<ReceiveNbl>,
    /// `ReceiveFlags` (the DISPATCH_LEVEL flag is added at DISPATCH_LEVEL unless
    /// `wrong_dispatch_flag`).
    pub flags: u32,
    /// Pass this as `NumberOfNetBufferLists` instead of the chain's length.
    pub count_override: Option<u32>,
    /// Leave `SourceHandle` NULL.
    pub no_source_handle: bool,
    /// Get the DISPATCH_LEVEL flag wrong.
    pub wrong_dispatch_flag: bool,
    /// `NetBufferListInfo[Ieee8021QNetBufferListInfo]`: (VlanId, UserPriority).
    pub vlan: Option<(u16, u8)>,
    /// Build the NBLs by hand instead of from the pool (as a driver must not).
    pub not_from_pool: bool,
    /// After allocating, make each NB's `DataLength` this much longer than its MDL.
    pub overrun: u32,
    /// After allocating, point each NB's MDL chain at an MDL NDIS did not allocate.
    pub foreign_mdl: bool,
}

/// The bytes the fake receives for an NBL of `queue` with `length` bytes.
#[must_use]
pub fn receive_bytes(queue: u16, length: u32) -> Vec<u8> {
    let low = queue.to_le_bytes()[0];
    (0..length).map(|i| i.to_le_bytes()[0].wrapping_mul(7).wrapping_add(low)).collect()
}

/// The knobs.
#[derive(Clone, Debug)]
#[allow(clippy::struct_excessive_bools)] // each knob breaks (or does) one thing
pub struct Behaviour {
    /// Object headers.
    pub headers: Headers,
    /// `MajorNdisVersion`, `MinorNdisVersion`.
    pub ndis_version: (u8, u8),
    /// A driver handler to leave NULL (by its field name).
    pub omit_driver_handler: Option<&'static str>,
    /// Register CheckForHangHandlerEx (without ResetHandlerEx).
    pub check_for_hang: bool,
    /// A PnP handler to leave NULL.
    pub omit_pnp_handler: Option<&'static str>,
    /// Also call NdisSetOptionalHandlers from DriverEntry (outside MiniportSetOptions).
    pub set_optional_handlers_in_driver_entry: bool,
    /// Allocate a pool block in DriverEntry (with the driver handle); freed at unload unless
    /// `leak_driver_block`.
    pub allocate_in_driver_entry: bool,
    /// Keep the DriverEntry block at unload.
    pub leak_driver_block: bool,
    /// Call NdisMDeregisterMiniportDriver at unload.
    pub deregister_on_unload: bool,
    /// MiniportAddDevice allocates a block MiniportRemoveDevice never frees.
    pub leak_in_add_device: bool,
    /// MiniportInitializeEx.
    pub initialize: Vec<Step>,
    /// MiniportHaltEx.
    pub halt: Vec<Step>,
    /// Extra steps MiniportRestart runs (for window tests).
    pub restart: Vec<Step>,
    /// `MsiSupported`.
    pub msi_supported: bool,
    /// An interrupt handler to leave NULL.
    pub omit_interrupt_handler: Option<&'static str>,
    /// What MiniportPause returns.
    pub pause_status: NDIS_STATUS,
    /// What MiniportOidRequest does.
    pub oid: OidMode,
    /// The ISR sets `*QueueDefaultInterruptDpc`.
    pub isr_queues_default_dpc: bool,
    /// The ISR sets `*TargetProcessors` (a violation).
    pub isr_sets_target_processors: bool,
    /// The ISR reads ICR (clearing the legacy causes: needed for MSI and a line).
    pub isr_reads_icr: bool,
    /// The ISR queues its DPC on these processors with NdisMQueueDpcEx.
    pub isr_queues_dpc_on: Option<(u16, u64)>,
    /// The ISR allocates pool (above DISPATCH_LEVEL: a violation).
    pub isr_allocates: bool,
    /// The DPC indicates this.
    pub dpc_receive: Option<Receive>,
    /// The DPC sets `MoreNblsPending` this many times before it is done.
    pub dpc_more_pending: u32,
    /// MiniportShutdownEx frees shared memory (a violation).
    pub shutdown_frees_shared: bool,
    /// A step MiniportShutdownEx runs.
    pub shutdown_step: Option<Step>,
    /// MiniportSendNetBufferLists completes the NBLs at once.
    pub complete_sends: bool,
    /// `SupportedQueueProperties` of the hardware receive-filter capabilities.
    pub queue_properties: u32,
    /// A step the DPC runs (for IRQL checks).
    pub dpc_step: Option<Step>,
    /// A step the ISR runs (for IRQL checks).
    pub isr_step: Option<Step>,
    /// The PnP filter replaces the list with one lacking the line-based interrupt.
    pub filter_drops_line: bool,
    /// The DPC holds the fake's lock (NdisDprAcquireSpinLock) across its receive indication.
    pub dpc_locks_around_receive: bool,
    /// MiniportReturnNetBufferLists takes the fake's lock (NdisAcquireSpinLock) while it frees.
    pub return_takes_lock: bool,
    /// A step MiniportReturnNetBufferLists runs after it freed what came back.
    pub return_step: Option<Step>,
    /// A step MiniportOidRequest runs before it does what [`Behaviour::oid`] says.
    pub oid_step: Option<Step>,
    /// The steps MiniportOidRequest runs for OID_RECEIVE_FILTER_FREE_QUEUE (after `oid_step`,
    /// before it does what [`Behaviour::oid`] says): the fake's FREE_QUEUE.
    pub free_queue_steps: Vec<Step>,
    /// What the routine of the fake's work item ([`work_item_routine`]) runs.
    pub work_item_steps: Vec<Step>,
    /// The driver-wide work item (of the driver handle): DriverEntry allocates it.
    pub driver_work_item: DriverWorkItem,
    /// `Some(freed)`: MiniportAddDevice (the real one, plus this) allocates a work item with the
    /// miniport handle, and MiniportRemoveDevice frees it if `freed`.
    pub add_device_work_item: Option<bool>,
}

/// What the fake does with a work item of the driver handle allocated in DriverEntry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DriverWorkItem {
    /// There is none.
    #[default]
    None,
    /// MiniportDriverUnload frees it.
    FreedAtUnload,
    /// MiniportDriverUnload keeps it.
    KeptAtUnload,
    /// MiniportDriverUnload queues it, then deregisters (and cannot free it: it is queued).
    QueuedAtUnload,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            headers: Headers::default(),
            ndis_version: (6, 30),
            omit_driver_handler: None,
            check_for_hang: false,
            omit_pnp_handler: None,
            set_optional_handlers_in_driver_entry: false,
            allocate_in_driver_entry: false,
            leak_driver_block: false,
            deregister_on_unload: true,
            leak_in_add_device: false,
            initialize: INITIALIZE.to_vec(),
            halt: HALT.to_vec(),
            restart: Vec::new(),
            msi_supported: true,
            omit_interrupt_handler: None,
            pause_status: NDIS_STATUS_SUCCESS,
            oid: OidMode::Return(NDIS_STATUS_SUCCESS),
            isr_queues_default_dpc: true,
            isr_sets_target_processors: false,
            isr_reads_icr: true,
            isr_queues_dpc_on: None,
            isr_allocates: false,
            dpc_receive: None,
            dpc_more_pending: 0,
            shutdown_frees_shared: false,
            shutdown_step: None,
            complete_sends: true,
            queue_properties: NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED
                | NDIS_RECEIVE_FILTER_VM_QUEUE_SUPPORTED,
            dpc_step: None,
            isr_step: None,
            filter_drops_line: false,
            dpc_locks_around_receive: false,
            return_takes_lock: false,
            return_step: None,
            oid_step: None,
            free_queue_steps: Vec::new(),
            work_item_steps: Vec::new(),
            driver_work_item: DriverWorkItem::None,
            add_device_work_item: None,
        }
    }
}

/// What one ISR or DPC call saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandlerCall {
    /// The message (`None` for the line handlers).
    pub message: Option<u32>,
    /// What KeGetCurrentProcessorNumberEx answered.
    pub processor: Processor,
    /// The DPC context (DPCs only).
    pub context: usize,
}

/// An NBL with one NB, owned by the fake (16-byte aligned, as NDIS allocates them).
#[repr(C)]
pub struct Packet {
    /// The NBL.
    pub nbl: NET_BUFFER_LIST,
    /// Its NB.
    pub nb: NET_BUFFER,
}

/// Everything the fake learned.
#[derive(Default)]
pub struct FakeState {
    /// The knobs.
    pub behaviour: Behaviour,
    /// From NdisMRegisterMiniportDriver.
    pub driver_handle: usize,
    /// From MiniportInitializeEx.
    pub miniport_handle: usize,
    /// The adapter context block.
    pub context: usize,
    /// DriverEntry's block.
    pub driver_block: usize,
    /// AddDevice's leaked block.
    pub add_device_block: usize,
    /// Translated resources: (start, length) of each memory resource.
    pub memory_resources: Vec<(i64, u32)>,
    /// Live NdisMMapIoSpace mappings: (address, length).
    pub mappings: Vec<(usize, u32)>,
    /// From NdisMRegisterInterruptEx.
    pub interrupt_handle: usize,
    /// `InterruptType` NdisMRegisterInterruptEx returned.
    pub interrupt_type: u32,
    /// `MessageInfoTable->MessageCount`.
    pub message_count: u32,
    /// From NdisMRegisterScatterGatherDma.
    pub dma_handle: usize,
    /// `ScatterGatherListSize` NDIS filled in.
    pub sg_list_size: u32,
    /// Shared memory: (allocation handle, virtual address, physical address).
    pub shared: Vec<(usize, usize, i64)>,
    /// NdisMAllocateSharedMemory blocks: (virtual address, physical address, length).
    pub miniport_shared: Vec<(usize, i64, u32)>,
    /// Extra pool blocks.
    pub pool: Vec<usize>,
    /// ISR calls.
    pub isr_calls: Vec<HandlerCall>,
    /// DPC calls.
    pub dpc_calls: Vec<HandlerCall>,
    /// The request MiniportOidRequest pended.
    pub pending_oid: usize,
    /// NBL chains returned to the fake: (head, flags).
    pub returned: Vec<(usize, u32)>,
    /// NBLs the fake indicates (kept alive here; boxed so they keep their address while the
    /// vector grows).
    #[allow(clippy::vec_box)]
    pub packets: Vec<Box<Packet>>,
    /// What Synchronize ran.
    pub synchronized: u32,
    /// Results of NdisM calls made by the script, by step.
    pub statuses: Vec<(Step, NDIS_STATUS)>,
    /// The translated resources MiniportInitializeEx got (valid during it).
    pub resources: usize,
    /// The receive NBL pool (0: none yet).
    pub nbl_pool: usize,
    /// Pool NBLs the fake indicated and has not got back: (NBL, MDL, the receive buffer).
    pub receive_nbls: Vec<(usize, usize, Box<[u8]>)>,
    /// Hand-built MDLs (for `foreign_mdl`), kept alive at stable addresses.
    #[allow(clippy::vec_box)]
    pub foreign_mdls: Vec<Box<MDL>>,
    /// NBLs and MDLs AllocateNblAndMdl keeps.
    pub kept: Vec<(usize, usize)>,
    /// The driver's own interrupt plan for the grant (`vmqnic::miniport::msix::interrupt_plan`
    /// on the resources and the registered characteristics, for 7 hardware queues).
    pub plan: Option<InterruptPlan>,
    /// `MessageInfoTable` entries: (MessageAddress, TargetProcessorSet, MessageData).
    pub message_table: Vec<(i64, usize, u32)>,
    /// The work item NdisAllocateIoWorkItem gave the fake (kept after it is freed).
    pub work_item: usize,
    /// The work item of the driver handle DriverEntry allocated.
    pub driver_work_item: usize,
    /// Where each NdisQueueIoWorkItem of the fake was called: (processor, IRQL).
    pub work_items_queued: Vec<(Processor, u8)>,
    /// Each run of [`work_item_routine`].
    pub work_item_calls: Vec<WorkItemCall>,
    /// The configuration handle NdisOpenConfigurationEx gave the fake (kept after the close).
    pub configuration: usize,
    /// Each NdisReadConfiguration of the fake, with the value copied at once.
    pub parameters: Vec<KeywordRead>,
    /// What happened, in order, for tests of "when": `"queued"` (NdisQueueIoWorkItem),
    /// `"work item"` (the routine ran), `"initialize returns"`, `"halt"`, `"oid returns"`,
    /// `"dpc returns"`, `"return returns"` (MiniportReturnNetBufferLists).
    pub events: Vec<&'static str>,
}

/// What one run of the fake's work-item routine saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItemCall {
    /// `WorkItemContext`.
    pub context: usize,
    /// `NdisIoWorkItemHandle`.
    pub handle: usize,
    /// What KeGetCurrentProcessorNumberEx answered.
    pub processor: Processor,
    /// The IRQL it ran at.
    pub irql: u8,
}

/// The `WorkItemContext` the fake queues its work item with.
pub const WORK_ITEM_CONTEXT: usize = 0x5EED;

// SAFETY: FakeState holds NBLs (raw pointers inside) that only the simulator's single test
// thread touches; it is in a Mutex to be a static, not to share them between threads.
unsafe impl Send for FakeState {}

static FAKE: LazyLock<Mutex<FakeState>> = LazyLock::new(|| Mutex::new(FakeState::default()));

/// Runs `f` on the fake's state (never hold it across a call into the simulator that may call
/// back into the fake).
pub fn with_fake<R>(f: impl FnOnce(&mut FakeState) -> R) -> R {
    f(&mut FAKE.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Resets the fake for a new test.
pub fn reset(behaviour: Behaviour) {
    with_fake(|f| *f = FakeState { behaviour, ..FakeState::default() });
}

fn behaviour() -> Behaviour {
    with_fake(|f| f.behaviour.clone())
}

fn handle(value: usize) -> NDIS_HANDLE {
    value as NDIS_HANDLE
}

fn allocate(handle_value: usize, length: u32) -> usize {
    NdisAllocateMemoryWithTagPriority(handle(handle_value), length, TAG, NormalPoolPriority)
        as usize
}

fn free(block: usize) {
    if block != 0 {
        NdisFreeMemory(block as *mut c_void, 0, 0);
    }
}

/// The fake's DriverEntry.
pub unsafe extern "system" fn driver_entry(
    driver_object: *mut DRIVER_OBJECT,
    registry_path: *const UNICODE_STRING,
) -> NTSTATUS {
    let b = behaviour();
    let omitted = |name: &str| b.omit_driver_handler == Some(name);
    let characteristics = NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
        Header: b.headers.driver,
        MajorNdisVersion: b.ndis_version.0,
        MinorNdisVersion: b.ndis_version.1,
        MajorDriverVersion: 1,
        MinorDriverVersion: 0,
        Flags: 0,
        SetOptionsHandler: Some(set_options),
        InitializeHandlerEx: (!omitted("InitializeHandlerEx")).then_some(initialize),
        HaltHandlerEx: (!omitted("HaltHandlerEx")).then_some(halt),
        UnloadHandler: (!omitted("UnloadHandler")).then_some(unload),
        PauseHandler: (!omitted("PauseHandler")).then_some(pause),
        RestartHandler: (!omitted("RestartHandler")).then_some(restart),
        OidRequestHandler: (!omitted("OidRequestHandler")).then_some(oid_request),
        SendNetBufferListsHandler: (!omitted("SendNetBufferListsHandler")).then_some(send),
        ReturnNetBufferListsHandler: (!omitted("ReturnNetBufferListsHandler"))
            .then_some(return_nbls),
        CancelSendHandler: (!omitted("CancelSendHandler")).then_some(cancel_send),
        CheckForHangHandlerEx: b.check_for_hang.then_some(check_for_hang),
        ResetHandlerEx: None,
        DevicePnPEventNotifyHandler: (!omitted("DevicePnPEventNotifyHandler")).then_some(pnp_event),
        ShutdownHandlerEx: (!omitted("ShutdownHandlerEx")).then_some(shutdown),
        CancelOidRequestHandler: (!omitted("CancelOidRequestHandler")).then_some(cancel_oid),
        DirectOidRequestHandler: None,
        CancelDirectOidRequestHandler: None,
        SynchronousOidRequestHandler: None,
    };
    let mut driver_handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: the characteristics and the out handle live on this frame for the call.
    let status = unsafe {
        NdisMRegisterMiniportDriver(
            driver_object,
            registry_path,
            ptr::null_mut(),
            &raw const characteristics,
            &raw mut driver_handle,
        )
    };
    if status != NDIS_STATUS_SUCCESS {
        return status;
    }
    with_fake(|f| f.driver_handle = driver_handle as usize);
    if b.set_optional_handlers_in_driver_entry {
        let pnp = pnp_characteristics(&b);
        // SAFETY: the characteristics live on this frame for the call.
        unsafe { NdisSetOptionalHandlers(driver_handle, &raw const pnp.Header) };
    }
    if b.allocate_in_driver_entry {
        let block = allocate(driver_handle as usize, 64);
        with_fake(|f| f.driver_block = block);
    }
    if b.driver_work_item != DriverWorkItem::None {
        let item = NdisAllocateIoWorkItem(driver_handle) as usize;
        with_fake(|f| {
            f.driver_work_item = item;
            f.work_item = item;
        });
    }
    NDIS_STATUS_SUCCESS
}

fn pnp_characteristics(b: &Behaviour) -> NDIS_MINIPORT_PNP_CHARACTERISTICS {
    let mut pnp = pnp::pnp_characteristics();
    pnp.Header = b.headers.pnp;
    match b.omit_pnp_handler {
        Some("MiniportRemoveDeviceHandler") => pnp.MiniportRemoveDeviceHandler = None,
        Some("MiniportAddDeviceHandler") => pnp.MiniportAddDeviceHandler = None,
        Some("MiniportFilterResourceRequirementsHandler") => {
            pnp.MiniportFilterResourceRequirementsHandler = None;
        }
        Some("MiniportStartDeviceHandler") => pnp.MiniportStartDeviceHandler = None,
        _ => {}
    }
    if b.leak_in_add_device {
        pnp.MiniportAddDeviceHandler = Some(leaky_add_device);
    }
    if b.add_device_work_item.is_some() {
        pnp.MiniportAddDeviceHandler = Some(add_device_with_work_item);
        pnp.MiniportRemoveDeviceHandler = Some(remove_device_with_work_item);
    }
    if b.filter_drops_line {
        pnp.MiniportFilterResourceRequirementsHandler = Some(filter_dropping_the_line);
    }
    pnp
}

/// A filter that drops the line-based interrupt (which it must not change).
unsafe extern "system" fn filter_dropping_the_line(
    context: NDIS_HANDLE,
    irp: *mut IRP,
) -> NDIS_STATUS {
    use vmqnic::interrupt::requirements::{RequirementsList, build};
    // SAFETY: the add-device context of the real AddDevice: its first field is the handle.
    let miniport = unsafe { context.cast::<usize>().read() };
    // SAFETY: NDIS's IRP.
    let old = unsafe { (*irp).IoStatus.Information } as *mut u8;
    // SAFETY: the PnP manager's list starts with its ListSize.
    let size = unsafe { old.cast::<u32>().read_unaligned() } as usize;
    // SAFETY: the list is ListSize bytes long.
    let bytes = unsafe { std::slice::from_raw_parts(old, size) }.to_vec();
    let Ok(list) = RequirementsList::parse(&bytes) else { return NDIS_STATUS_SUCCESS };
    let kept: Vec<[u8; 32]> = list
        .descriptors(0)
        .filter(|d| {
            d.is_message_interrupt() || d.resource_type() != vmqnic::ndis::CmResourceTypeInterrupt
        })
        .map(|d| *d.bytes())
        .collect();
    let new_list = build::requirements_list(&[kept]);
    let block = allocate(miniport, u32::try_from(new_list.len()).unwrap_or(u32::MAX));
    // SAFETY: a fresh block of new_list.len() bytes.
    unsafe { ptr::copy_nonoverlapping(new_list.as_ptr(), block as *mut u8, new_list.len()) };
    // SAFETY: NDIS's IRP; the replaced list is freed as the rules say.
    unsafe { (*irp).IoStatus.Information = block };
    free(old as usize);
    NDIS_STATUS_SUCCESS
}

unsafe extern "system" fn set_options(
    driver_handle: NDIS_HANDLE,
    _context: NDIS_HANDLE,
) -> NDIS_STATUS {
    let pnp = pnp_characteristics(&behaviour());
    // SAFETY: the characteristics live on this frame for the call.
    unsafe { NdisSetOptionalHandlers(driver_handle, &raw const pnp.Header) }
}

/// The real AddDevice, plus a block nobody frees.
unsafe extern "system" fn leaky_add_device(
    miniport: NDIS_HANDLE,
    context: NDIS_HANDLE,
) -> NDIS_STATUS {
    let block = allocate(miniport as usize, 32);
    with_fake(|f| f.add_device_block = block);
    // SAFETY: NDIS's arguments, passed on.
    unsafe { pnp::miniport_add_device(miniport, context) }
}

/// The real AddDevice, plus a work item of the miniport handle.
unsafe extern "system" fn add_device_with_work_item(
    miniport: NDIS_HANDLE,
    context: NDIS_HANDLE,
) -> NDIS_STATUS {
    let item = NdisAllocateIoWorkItem(miniport) as usize;
    with_fake(|f| f.work_item = item);
    // SAFETY: NDIS's arguments, passed on.
    unsafe { pnp::miniport_add_device(miniport, context) }
}

/// The real RemoveDevice, freeing AddDevice's work item first if the behaviour says so.
unsafe extern "system" fn remove_device_with_work_item(context: NDIS_HANDLE) {
    let (item, free_it) =
        with_fake(|f| (f.work_item, f.behaviour.add_device_work_item == Some(true)));
    if free_it {
        NdisFreeIoWorkItem(handle(item));
    }
    // SAFETY: NDIS's argument, passed on.
    unsafe { pnp::miniport_remove_device(context) };
}

unsafe extern "system" fn unload(_driver_object: *mut DRIVER_OBJECT) {
    let (b, block, driver_handle) =
        with_fake(|f| (f.behaviour.clone(), f.driver_block, f.driver_handle));
    if !b.leak_driver_block {
        free(block);
    }
    let item = with_fake(|f| f.driver_work_item);
    match b.driver_work_item {
        DriverWorkItem::FreedAtUnload => NdisFreeIoWorkItem(handle(item)),
        DriverWorkItem::QueuedAtUnload => queue_work_item(item, Some(work_item_routine)),
        DriverWorkItem::KeptAtUnload | DriverWorkItem::None => {}
    }
    if b.deregister_on_unload {
        NdisMDeregisterMiniportDriver(handle(driver_handle));
    }
}

/// The memory resources of a translated `CM_PARTIAL_RESOURCE_LIST`.
///
/// # Safety
/// `list` is NULL or a valid list.
unsafe fn memory_resources(list: *const u8) -> Vec<(i64, u32)> {
    if list.is_null() {
        return Vec::new();
    }
    let count_field = list.wrapping_add(4).cast::<[u8; 4]>();
    // SAFETY: a valid list starts with its 8-byte header; Count is at offset 4.
    let count = u32::from_le_bytes(unsafe { count_field.read() }) as usize;
    let length = CM_PARTIAL_RESOURCE_LIST_HEADER_SIZE + count * CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE;
    // SAFETY: a list of `count` descriptors spans `length` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(list, length) };
    partial_descriptors(bytes)
        .unwrap_or_default()
        .into_iter()
        .filter_map(PartialDescriptor::memory)
        .collect()
}

unsafe extern "system" fn initialize(
    miniport: NDIS_HANDLE,
    _driver_context: NDIS_HANDLE,
    parameters: *mut NDIS_MINIPORT_INIT_PARAMETERS,
) -> NDIS_STATUS {
    // SAFETY: NDIS passes valid init parameters.
    let resources = unsafe { (*parameters).AllocatedResources };
    // SAFETY: NDIS's translated resource list.
    let memory = unsafe { memory_resources(resources.cast_const().cast()) };
    with_fake(|f| {
        f.miniport_handle = miniport as usize;
        f.memory_resources = memory;
        f.resources = resources as usize;
    });
    let status = run_script(&behaviour().initialize);
    event("initialize returns");
    status
}

unsafe extern "system" fn halt(_context: NDIS_HANDLE, _action: u32) {
    event("halt");
    run_script(&behaviour().halt);
}

/// Notes `what` in [`FakeState::events`].
fn event(what: &'static str) {
    with_fake(|f| f.events.push(what));
}

unsafe extern "system" fn restart(_context: NDIS_HANDLE, _parameters: *mut c_void) -> NDIS_STATUS {
    run_script(&behaviour().restart)
}

unsafe extern "system" fn pause(_context: NDIS_HANDLE, _parameters: *mut c_void) -> NDIS_STATUS {
    behaviour().pause_status
}

/// Runs `steps`; the first [`Step::Return`] ends the script with its status.
pub fn run_script(steps: &[Step]) -> NDIS_STATUS {
    for step in steps {
        if let Step::Return(status) = step {
            return *status;
        }
        let status = run_step(*step);
        with_fake(|f| f.statuses.push((*step, status)));
    }
    NDIS_STATUS_SUCCESS
}

#[allow(clippy::too_many_lines)] // one arm per step; splitting them would hide the script
fn run_step(step: Step) -> NDIS_STATUS {
    let (b, miniport) = with_fake(|f| (f.behaviour.clone(), f.miniport_handle));
    let h = &b.headers;
    match step {
        Step::AllocateContext => {
            let block = allocate(miniport, 256);
            with_fake(|f| f.context = block);
            NDIS_STATUS_SUCCESS
        }
        Step::Registration => {
            let attributes = NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
                Header: h.registration,
                MiniportAdapterContext: handle(with_fake(|f| f.context)),
                AttributeFlags: 0x41,
                CheckForHangTimeInSeconds: 0,
                InterfaceType: 5,
            };
            // SAFETY: the attributes live on this frame for the call.
            unsafe { NdisMSetMiniportAttributes(handle(miniport), &raw const attributes.Header) }
        }
        Step::General => {
            // SAFETY: all-zero general attributes are a valid value.
            let mut attributes: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES =
                unsafe { std::mem::zeroed() };
            attributes.Header = h.general;
            attributes.MtuSize = 1500;
            attributes.MacAddressLength = 6;
            attributes.PermanentMacAddress[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
            // SAFETY: the attributes live on this frame for the call.
            unsafe { NdisMSetMiniportAttributes(handle(miniport), &raw const attributes.Header) }
        }
        Step::HardwareAssist => {
            // SAFETY: all-zero capabilities are a valid value.
            let mut caps: NDIS_RECEIVE_FILTER_CAPABILITIES = unsafe { std::mem::zeroed() };
            caps.Header = h.receive_filter;
            caps.SupportedQueueProperties = b.queue_properties;
            caps.NumQueues = 7;
            let mut current = caps;
            current.NumQueues = 0;
            // SAFETY: all-zero attributes are a valid value.
            let mut attributes: NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES =
                unsafe { std::mem::zeroed() };
            attributes.Header = h.hardware_assist;
            attributes.HardwareReceiveFilterCapabilities = &raw mut caps;
            attributes.CurrentReceiveFilterCapabilities = &raw mut current;
            // SAFETY: the attributes and what they point to live on this frame for the call.
            unsafe { NdisMSetMiniportAttributes(handle(miniport), &raw const attributes.Header) }
        }
        Step::MapRegisters => {
            let first = with_fake(|f| f.memory_resources.first().copied());
            first.map_or(vmqnic::ndis::NDIS_STATUS_RESOURCES, |(start, length)| {
                map(miniport, start, length)
            })
        }
        Step::MapResourceOfLength(wanted) => {
            let found =
                with_fake(|f| f.memory_resources.iter().find(|(_, l)| *l == wanted).copied());
            found.map_or(vmqnic::ndis::NDIS_STATUS_RESOURCES, |(start, length)| {
                map(miniport, start, length)
            })
        }
        Step::MapAt(start, length) => map(miniport, start, length),
        Step::RegisterSgDma => {
            // SAFETY: all-zero is a valid description (no handlers).
            let mut description: NDIS_SG_DMA_DESCRIPTION = unsafe { std::mem::zeroed() };
            description.Header = h.sg_dma;
            description.Flags = 1;
            description.MaximumPhysicalMapping = 0x1_0000;
            let mut dma: NDIS_HANDLE = ptr::null_mut();
            // SAFETY: the description and the out handle live on this frame.
            let status = unsafe {
                NdisMRegisterScatterGatherDma(handle(miniport), &raw mut description, &raw mut dma)
            };
            with_fake(|f| {
                f.dma_handle = dma as usize;
                f.sg_list_size = description.ScatterGatherListSize;
            });
            status
        }
        Step::RegisterInterrupt => register_interrupt(&b, miniport),
        Step::EnableDeviceInterrupts => {
            let message_based = with_fake(|f| {
                f.interrupt_type == NDIS_CONNECT_MESSAGE_BASED && f.message_count > 1
            });
            if message_based {
                write_register(GPIE, GPIE_MSIX_MODE);
                write_register(EIAC, 0x3FF);
                write_register(EIMS, 0x3FF);
            } else {
                write_register(IMS, 0xFFFF_FFFF);
            }
            NDIS_STATUS_SUCCESS
        }
        Step::AllocateShared(length) => allocate_shared(&b, miniport, 0, length),
        Step::AllocateQueueShared(queue, length) => allocate_shared(&b, miniport, queue, length),
        Step::AllocateMiniportShared(length) => allocate_miniport_shared(miniport, length),
        Step::FreeMiniportShared => {
            for (address, physical, length) in with_fake(|f| std::mem::take(&mut f.miniport_shared))
            {
                NdisMFreeSharedMemory(
                    handle(miniport),
                    length,
                    0,
                    address as *mut c_void,
                    physical,
                );
            }
            NDIS_STATUS_SUCCESS
        }
        Step::IndicateDmaStopped(queue) => {
            indicate_dma_stopped(miniport, queue);
            NDIS_STATUS_SUCCESS
        }
        Step::DisableRxQueue(queue) => {
            let rxdctl = ndis_sim::qemu::regs::RXDCTL(queue);
            let enable = ndis_sim::qemu::regs::RXDCTL_ENABLE;
            write_register(rxdctl, read_register(rxdctl) & !enable);
            if (0..100).any(|_| read_register(rxdctl) & enable == 0) {
                NDIS_STATUS_SUCCESS
            } else {
                vmqnic::ndis::NDIS_STATUS_FAILURE
            }
        }
        Step::AllocatePool => {
            let block = allocate(miniport, 48);
            with_fake(|f| f.pool.push(block));
            NDIS_STATUS_SUCCESS
        }
        Step::IndicateStatus => {
            indicate_status(h.status, miniport);
            NDIS_STATUS_SUCCESS
        }
        Step::Return(status) => status,
        Step::DeregisterInterrupt => {
            NdisMDeregisterInterruptEx(handle(with_fake(|f| f.interrupt_handle)));
            NDIS_STATUS_SUCCESS
        }
        Step::DeregisterSgDma => {
            NdisMDeregisterScatterGatherDma(handle(with_fake(|f| f.dma_handle)));
            NDIS_STATUS_SUCCESS
        }
        Step::Unmap => {
            for (address, length) in with_fake(|f| std::mem::take(&mut f.mappings)) {
                NdisMUnmapIoSpace(handle(miniport), address as *mut c_void, length);
            }
            NDIS_STATUS_SUCCESS
        }
        Step::FreeShared => {
            for (allocation, _, _) in with_fake(|f| std::mem::take(&mut f.shared)) {
                NdisFreeSharedMemory(handle(miniport), handle(allocation));
            }
            NDIS_STATUS_SUCCESS
        }
        Step::FreePool => {
            for block in with_fake(|f| std::mem::take(&mut f.pool)) {
                free(block);
            }
            NDIS_STATUS_SUCCESS
        }
        Step::FreeContext => {
            free(with_fake(|f| std::mem::take(&mut f.context)));
            NDIS_STATUS_SUCCESS
        }
        Step::AllocateNblPool => {
            nbl_pool(miniport);
            NDIS_STATUS_SUCCESS
        }
        Step::FreeNblPool => {
            let pool = with_fake(|f| std::mem::take(&mut f.nbl_pool));
            if pool != 0 {
                NdisFreeNetBufferListPool(handle(pool));
            }
            NDIS_STATUS_SUCCESS
        }
        Step::AllocateNblAndMdl => {
            let pool = nbl_pool(miniport);
            let context = with_fake(|f| f.context);
            let mdl = NdisAllocateMdl(handle(miniport), context as *mut c_void, 64);
            let nbl = NdisAllocateNetBufferAndNetBufferList(handle(pool), 0, 0, mdl, 0, 64);
            with_fake(|f| f.kept.push((nbl as usize, mdl as usize)));
            NDIS_STATUS_SUCCESS
        }
        Step::AllocateLock
        | Step::FreeLock
        | Step::AcquireLock
        | Step::ReleaseLock
        | Step::DprAcquireLock
        | Step::DprReleaseLock
        | Step::LockedSection
        | Step::DprLockedSection => {
            lock_step(step);
            NDIS_STATUS_SUCCESS
        }
        Step::AllocateWorkItem
        | Step::AllocateDriverWorkItem
        | Step::AllocateWorkItemWithContext => {
            let object = match step {
                Step::AllocateWorkItem => miniport,
                Step::AllocateDriverWorkItem => with_fake(|f| f.driver_handle),
                _ => with_fake(|f| f.context),
            };
            let item = NdisAllocateIoWorkItem(handle(object)) as usize;
            with_fake(|f| f.work_item = item);
            if item == 0 { NDIS_STATUS_RESOURCES } else { NDIS_STATUS_SUCCESS }
        }
        Step::QueueWorkItem | Step::QueueWorkItemWithoutRoutine => {
            let routine: NDIS_IO_WORKITEM_ROUTINE =
                (step == Step::QueueWorkItem).then_some(work_item_routine);
            queue_work_item(with_fake(|f| f.work_item), routine);
            NDIS_STATUS_SUCCESS
        }
        Step::FreeWorkItem => {
            NdisFreeIoWorkItem(handle(with_fake(|f| f.work_item)));
            NDIS_STATUS_SUCCESS
        }
        Step::CompletePendingOid(status) => {
            complete_pending_oid(status);
            NDIS_STATUS_SUCCESS
        }
        Step::OpenConfiguration | Step::OpenConfigurationWithContext => {
            let owner =
                if step == Step::OpenConfiguration { miniport } else { with_fake(|f| f.context) };
            open_configuration(h.configuration, owner)
        }
        Step::ReadKeyword(keyword) => read_keyword(keyword, NdisParameterInteger),
        Step::ReadKeywordAs(keyword, kind) => read_keyword(keyword, kind),
        Step::CloseConfiguration => {
            NdisCloseConfiguration(handle(with_fake(|f| f.configuration)));
            NDIS_STATUS_SUCCESS
        }
        Step::Synchronize => {
            let interrupt = with_fake(|f| f.interrupt_handle);
            // SAFETY: a valid function; its context is unused.
            unsafe {
                NdisMSynchronizeWithInterruptEx(handle(interrupt), 0, synchronized, ptr::null_mut())
            };
            NDIS_STATUS_SUCCESS
        }
    }
}

/// NdisQueueIoWorkItem of `item` with `routine` and [`WORK_ITEM_CONTEXT`], noting where it
/// was called.
fn queue_work_item(item: usize, routine: NDIS_IO_WORKITEM_ROUTINE) {
    let here = ndis_sim::sim::cpu::current();
    with_fake(|f| {
        f.work_items_queued.push((here.processor, here.irql));
        f.events.push("queued");
    });
    // SAFETY: the fake's routine may run at any time with this context (it reads neither).
    unsafe { NdisQueueIoWorkItem(handle(item), routine, WORK_ITEM_CONTEXT as *mut c_void) };
}

/// The routine of the fake's work items: records the call, then runs
/// [`Behaviour::work_item_steps`].
pub unsafe extern "system" fn work_item_routine(context: *mut c_void, item: NDIS_HANDLE) {
    let processor = current_processor();
    let irql = ndis_sim::sim::cpu::current().irql;
    with_fake(|f| {
        f.work_item_calls.push(WorkItemCall {
            context: context as usize,
            handle: item as usize,
            processor,
            irql,
        });
        f.events.push("work item");
    });
    run_script(&behaviour().work_item_steps);
}

/// The fake's NDIS spin lock (in a static: a lock must not move while it is in use).
pub fn fake_lock() -> *mut NDIS_SPIN_LOCK {
    struct Lock(UnsafeCell<NDIS_SPIN_LOCK>);
    // SAFETY: only the simulator's single test thread touches the lock, through NDIS's
    // exports.
    unsafe impl Sync for Lock {}
    static LOCK: Lock = Lock(UnsafeCell::new(NDIS_SPIN_LOCK { SpinLock: 0, OldIrql: 0 }));
    LOCK.0.get()
}

/// The spin-lock steps, on [`fake_lock`].
fn lock_step(step: Step) {
    let lock = fake_lock();
    let operations: &[unsafe extern "system" fn(*mut NDIS_SPIN_LOCK)] = match step {
        Step::AllocateLock => &[NdisAllocateSpinLock],
        Step::FreeLock => &[NdisFreeSpinLock],
        Step::AcquireLock => &[NdisAcquireSpinLock],
        Step::ReleaseLock => &[NdisReleaseSpinLock],
        Step::DprAcquireLock => &[NdisDprAcquireSpinLock],
        Step::DprReleaseLock => &[NdisDprReleaseSpinLock],
        Step::LockedSection => &[NdisAcquireSpinLock, NdisReleaseSpinLock],
        Step::DprLockedSection => &[NdisDprAcquireSpinLock, NdisDprReleaseSpinLock],
        _ => &[],
    };
    for operation in operations {
        // SAFETY: the fake's static lock, valid for the whole process.
        unsafe { operation(lock) };
    }
}

fn map(miniport: usize, start: i64, length: u32) -> NDIS_STATUS {
    let mut address: *mut c_void = ptr::null_mut();
    // SAFETY: the out pointer lives on this frame.
    let status = unsafe { NdisMMapIoSpace(&raw mut address, handle(miniport), start, length) };
    if status == NDIS_STATUS_SUCCESS {
        with_fake(|f| f.mappings.push((address as usize, length)));
    }
    status
}

fn register_interrupt(b: &Behaviour, miniport: usize) -> NDIS_STATUS {
    let omitted = |name: &str| b.omit_interrupt_handler == Some(name);
    let mut characteristics = NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
        Header: b.headers.interrupt,
        InterruptHandler: (!omitted("InterruptHandler")).then_some(isr),
        InterruptDpcHandler: (!omitted("InterruptDpcHandler")).then_some(dpc),
        DisableInterruptHandler: Some(disable),
        EnableInterruptHandler: Some(enable),
        MsiSupported: u8::from(b.msi_supported),
        MsiSyncWithAllMessages: 0,
        MessageInterruptHandler: (!omitted("MessageInterruptHandler")).then_some(message_isr),
        MessageInterruptDpcHandler: (!omitted("MessageInterruptDpcHandler")).then_some(message_dpc),
        DisableMessageInterruptHandler: Some(message_disable),
        EnableMessageInterruptHandler: Some(message_enable),
        InterruptType: 0,
        MessageInfoTable: ptr::null_mut(),
    };
    let mut interrupt: NDIS_HANDLE = ptr::null_mut();
    let context = with_fake(|f| f.context);
    // SAFETY: the characteristics and the out handle live on this frame.
    let status = unsafe {
        NdisMRegisterInterruptEx(
            handle(miniport),
            handle(context),
            &raw mut characteristics,
            &raw mut interrupt,
        )
    };
    let table = characteristics.MessageInfoTable;
    let count = if table.is_null() {
        0
    } else {
        // SAFETY: NDIS's message table, valid until deregistration.
        unsafe { (*table).MessageCount }
    };
    let entries: Vec<(i64, usize, u32)> = (0..count as usize)
        .map(|i| {
            let offset =
                IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE + i * IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE;
            let entry = table
                .cast::<u8>()
                .wrapping_add(offset)
                .cast::<[u8; IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE]>();
            // SAFETY: entry `i` < MessageCount of NDIS's table, valid until deregistration.
            let bytes = unsafe { entry.read() };
            let field =
                |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
            let data = u32::from_le_bytes(bytes[0x18..0x1C].try_into().unwrap_or_default());
            (field(0).cast_signed(), usize::try_from(field(8)).unwrap_or(0), data)
        })
        .collect();
    let resources = with_fake(|f| f.resources) as *const CM_PARTIAL_RESOURCE_LIST;
    let plan = (status == NDIS_STATUS_SUCCESS).then(|| {
        // SAFETY: the adapter's handle during InitializeEx; NDIS's resources and message
        // table, both valid for the call.
        unsafe { msix::interrupt_plan(handle(miniport), resources, &characteristics, 7) }
    });
    with_fake(|f| {
        f.interrupt_handle = interrupt as usize;
        f.interrupt_type = characteristics.InterruptType;
        f.message_count = count;
        f.message_table = entries;
        f.plan = plan;
    });
    status
}

/// NdisOpenConfigurationEx with `header` and `owner` as `NdisHandle`; keeps the handle.
pub fn open_configuration(header: NDIS_OBJECT_HEADER, owner: usize) -> NDIS_STATUS {
    let object = NDIS_CONFIGURATION_OBJECT { Header: header, NdisHandle: handle(owner), Flags: 0 };
    let mut configuration: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: the object and the out handle live on this frame.
    let status = unsafe { NdisOpenConfigurationEx(&raw const object, &raw mut configuration) };
    with_fake(|f| f.configuration = configuration as usize);
    status
}

/// What one NdisReadConfiguration of the fake got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeywordRead {
    /// The keyword.
    pub keyword: &'static str,
    /// `*Status`.
    pub status: NDIS_STATUS,
    /// `*ParameterValue` (0: not written).
    pub parameter: usize,
    /// The value, copied during the call (the memory is NDIS's until the close).
    pub value: Option<Seen>,
}

/// A configuration parameter's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// `ParameterType` and `IntegerData`.
    Integer(u32, u32),
    /// `ParameterType` and the characters of `StringData`.
    Text(u32, Vec<u16>),
    /// The bytes of `BinaryData`.
    Binary(Vec<u8>),
}

/// Copies the value of a parameter NdisReadConfiguration returned.
fn seen(parameter: *const NDIS_CONFIGURATION_PARAMETER) -> Seen {
    // SAFETY: a parameter the simulated NdisReadConfiguration returned just now (open handle).
    let parameter = unsafe { parameter.read() };
    match parameter.ParameterType {
        0 | 1 => {
            // SAFETY: integer types carry IntegerData.
            Seen::Integer(parameter.ParameterType, unsafe { parameter.ParameterData.IntegerData })
        }
        4 => {
            // SAFETY: NdisParameterBinary carries BinaryData.
            let data = unsafe { parameter.ParameterData.BinaryData };
            let bytes = (0..usize::from(data.Length))
                .map(|i| {
                    // SAFETY: `Length` readable bytes at `Buffer` (the simulator's mapping).
                    unsafe { data.Buffer.cast::<u8>().wrapping_add(i).read() }
                })
                .collect();
            Seen::Binary(bytes)
        }
        kind => {
            // SAFETY: the string types carry StringData.
            let string = unsafe { parameter.ParameterData.StringData };
            let units = (0..usize::from(string.Length) / 2)
                .map(|i| {
                    // SAFETY: `Length` readable bytes at `Buffer` (the simulator's mapping).
                    unsafe { string.Buffer.wrapping_add(i).read() }
                })
                .collect();
            Seen::Text(kind, units)
        }
    }
}

/// NdisReadConfiguration of `keyword` as `kind` with the fake's configuration handle.
pub fn read_keyword(keyword: &'static str, kind: u32) -> NDIS_STATUS {
    let units: Vec<u16> = keyword.encode_utf16().collect();
    let length = u16::try_from(units.len() * 2).unwrap_or(u16::MAX);
    let name =
        UNICODE_STRING { Length: length, MaximumLength: length, Buffer: units.as_ptr().cast_mut() };
    let mut status = NDIS_STATUS_FAILURE;
    let mut parameter: *mut NDIS_CONFIGURATION_PARAMETER = ptr::null_mut();
    let configuration = handle(with_fake(|f| f.configuration));
    // SAFETY: the status, the out pointer and the name (over `units`) live for the call.
    unsafe {
        NdisReadConfiguration(
            &raw mut status,
            &raw mut parameter,
            configuration,
            &raw const name,
            kind,
        );
    };
    let value = (status == NDIS_STATUS_SUCCESS && !parameter.is_null()).then(|| seen(parameter));
    let read = KeywordRead { keyword, status, parameter: parameter as usize, value };
    with_fake(|f| f.parameters.push(read));
    status
}

fn allocate_shared(b: &Behaviour, miniport: usize, queue: u32, length: u32) -> NDIS_STATUS {
    #[repr(C, align(8))]
    struct SgBuffer([u8; 0x40]);
    let mut sg = SgBuffer([0; 0x40]);
    // SAFETY: all-zero parameters are a valid value.
    let mut parameters: NDIS_SHARED_MEMORY_PARAMETERS = unsafe { std::mem::zeroed() };
    parameters.Header = b.headers.shared_memory;
    parameters.Length = length;
    parameters.QueueId = queue;
    parameters.Usage = 4;
    parameters.SGListBufferLength = 0x40;
    parameters.SGListBuffer = sg.0.as_mut_ptr().cast();
    let mut allocation: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: the parameters, the SG buffer and the out handle live on this frame.
    let status = unsafe {
        NdisAllocateSharedMemory(handle(miniport), &raw mut parameters, &raw mut allocation)
    };
    if status == NDIS_STATUS_SUCCESS {
        let physical = i64::from_le_bytes(sg.0[0x10..0x18].try_into().unwrap_or_default());
        with_fake(|f| {
            f.shared.push((allocation as usize, parameters.VirtualAddress as usize, physical));
        });
    }
    status
}

/// NdisMAllocateSharedMemory of `length` bytes (not cached); RESOURCES if it gave nothing.
fn allocate_miniport_shared(miniport: usize, length: u32) -> NDIS_STATUS {
    let mut address: *mut c_void = ptr::null_mut();
    let mut physical: i64 = -1;
    // SAFETY: both out parameters live on this frame.
    unsafe {
        NdisMAllocateSharedMemory(handle(miniport), length, 0, &raw mut address, &raw mut physical);
    };
    if address.is_null() {
        assert_eq!(physical, 0, "a failed NdisMAllocateSharedMemory sets the physical address 0");
        return vmqnic::ndis::NDIS_STATUS_RESOURCES;
    }
    with_fake(|f| f.miniport_shared.push((address as usize, physical, length)));
    NDIS_STATUS_SUCCESS
}

/// Indicates that VM queue `queue` stopped DMA (FREE_QUEUE step 2).
pub fn indicate_dma_stopped(miniport: usize, queue: u32) {
    let mut state = vmqnic::ndis::NDIS_RECEIVE_QUEUE_STATE {
        Header: NDIS_OBJECT_HEADER::new(0x80, 1, 0x10),
        Flags: 0,
        QueueId: queue,
        QueueState: vmqnic::ndis::NdisReceiveQueueOperationalStateDmaStopped,
    };
    let indication = vmqnic::ndis::NDIS_STATUS_INDICATION {
        Header: NDIS_OBJECT_HEADER::new(0x98, 1, 0x70),
        SourceHandle: handle(miniport),
        PortNumber: 0,
        StatusCode: vmqnic::ndis::NDIS_STATUS_RECEIVE_QUEUE_STATE,
        Flags: 0,
        DestinationHandle: ptr::null_mut(),
        RequestId: ptr::null_mut(),
        StatusBuffer: (&raw mut state).cast(),
        StatusBufferSize: 0x10,
        Guid: vmqnic::ndis::GUID::default(),
        NdisReserved: [ptr::null_mut(); 4],
    };
    // SAFETY: the indication and its buffer live on this frame.
    unsafe { vmqnic::ndis::NdisMIndicateStatusEx(handle(miniport), &raw const indication) };
}

/// Indicates NDIS_STATUS_LINK_STATE with `header` (the source handle is the adapter's).
pub fn indicate_status(header: NDIS_OBJECT_HEADER, miniport: usize) {
    indicate_status_from(header, miniport, miniport);
}

/// Indicates NDIS_STATUS_LINK_STATE with `header` and `source` as SourceHandle.
pub fn indicate_status_from(header: NDIS_OBJECT_HEADER, miniport: usize, source: usize) {
    let state = [1u8, 2, 3, 4];
    // SAFETY: all-zero is a valid indication.
    let mut indication: NDIS_STATUS_INDICATION = unsafe { std::mem::zeroed() };
    indication.Header = header;
    indication.SourceHandle = handle(source);
    indication.StatusCode = NDIS_STATUS_LINK_STATE;
    indication.StatusBuffer = state.as_ptr().cast_mut().cast();
    indication.StatusBufferSize = 4;
    // SAFETY: the indication and its buffer live on this frame.
    unsafe { NdisMIndicateStatusEx(handle(miniport), &raw const indication) };
}

/// Writes a register through the fake's first mapping (no-op without one).
pub fn write_register(offset: u32, value: u32) {
    if let Some((base, _)) = with_fake(|f| f.mappings.first().copied()) {
        // SAFETY: the mapped register address; the simulator translates it.
        unsafe { WRITE_REGISTER_ULONG((base + offset as usize) as *mut u32, value) };
    }
}

/// Writes a register through mapping `index` of the fake.
pub fn write_mapping(index: usize, offset: u32, value: u32) {
    if let Some((base, _)) = with_fake(|f| f.mappings.get(index).copied()) {
        // SAFETY: a mapped address; the simulator translates it.
        unsafe { WRITE_REGISTER_ULONG((base + offset as usize) as *mut u32, value) };
    }
}

/// Reads a register through the fake's first mapping (all-ones without one).
pub fn read_register(offset: u32) -> u32 {
    match with_fake(|f| f.mappings.first().copied()) {
        // SAFETY: the mapped register address; the simulator translates it.
        Some((base, _)) => unsafe { READ_REGISTER_ULONG((base + offset as usize) as *const u32) },
        None => u32::MAX,
    }
}

fn current_processor() -> Processor {
    let mut number = PROCESSOR_NUMBER::default();
    // SAFETY: a valid out structure on this frame.
    unsafe { KeGetCurrentProcessorNumberEx(&raw mut number) };
    Processor { group: number.Group, number: number.Number }
}

/// The common body of both ISRs.
fn isr_body(message: Option<u32>, queue_default: *mut BOOLEAN, targets: *mut u32) -> BOOLEAN {
    let b = behaviour();
    let processor = current_processor();
    with_fake(|f| f.isr_calls.push(HandlerCall { message, processor, context: 0 }));
    // With MSI-X the causes are per vector (EICR, auto-cleared): nothing to read. MSI and a
    // line carry the legacy causes: reading ICR clears them (and deasserts the line).
    let msix = with_fake(|f| f.message_count > 1);
    let claimed = if b.isr_reads_icr && !msix { read_register(ICR) != 0 } else { true };
    if b.isr_allocates {
        free(allocate(with_fake(|f| f.miniport_handle), 8));
    }
    if let Some(step) = b.isr_step {
        run_step(step);
    }
    if b.isr_sets_target_processors {
        // SAFETY: NDIS passes a writable out parameter.
        unsafe { targets.write(1) };
    }
    if let Some((group, mask)) = b.isr_queues_dpc_on {
        let mut affinity = GROUP_AFFINITY {
            Mask: usize::try_from(mask).unwrap_or(0),
            Group: group,
            Reserved: [0; 3],
        };
        let interrupt = with_fake(|f| f.interrupt_handle);
        // SAFETY: the affinity lives on this frame.
        unsafe {
            NdisMQueueDpcEx(
                handle(interrupt),
                message.unwrap_or(0),
                &raw mut affinity,
                0x5A5A as *mut c_void,
            )
        };
    }
    // SAFETY: NDIS passes a writable out parameter.
    unsafe { queue_default.write(u8::from(b.isr_queues_default_dpc)) };
    u8::from(claimed)
}

/// The common body of both DPCs.
fn dpc_body(message: Option<u32>, context: *mut c_void, throttle: *mut c_void) {
    let b = behaviour();
    let processor = current_processor();
    let passes = with_fake(|f| {
        f.dpc_calls.push(HandlerCall { message, processor, context: context as usize });
        f.dpc_calls.len()
    });
    if let Some(receive) = &b.dpc_receive {
        if b.dpc_locks_around_receive {
            lock_step(Step::DprAcquireLock);
        }
        indicate_receive(receive);
        if b.dpc_locks_around_receive {
            lock_step(Step::DprReleaseLock);
        }
    }
    if let Some(step) = b.dpc_step {
        run_step(step);
    }
    if usize::try_from(b.dpc_more_pending).unwrap_or(0) >= passes {
        let parameters = throttle.cast::<NDIS_RECEIVE_THROTTLE_PARAMETERS>();
        // SAFETY: NDIS passes valid throttle parameters; bit 0 of Flags is MoreNblsPending.
        unsafe { (*parameters).Flags = 1 };
    }
    event("dpc returns");
}

unsafe extern "system" fn isr(
    _context: NDIS_HANDLE,
    queue_default: *mut BOOLEAN,
    targets: *mut u32,
) -> BOOLEAN {
    isr_body(None, queue_default, targets)
}

unsafe extern "system" fn message_isr(
    _context: NDIS_HANDLE,
    message: u32,
    queue_default: *mut BOOLEAN,
    targets: *mut u32,
) -> BOOLEAN {
    isr_body(Some(message), queue_default, targets)
}

unsafe extern "system" fn dpc(
    _context: NDIS_HANDLE,
    dpc_context: *mut c_void,
    throttle: *mut c_void,
    _reserved: *mut c_void,
) {
    dpc_body(None, dpc_context, throttle);
}

unsafe extern "system" fn message_dpc(
    _context: NDIS_HANDLE,
    message: u32,
    dpc_context: *mut c_void,
    throttle: *mut c_void,
    _reserved: *mut c_void,
) {
    dpc_body(Some(message), dpc_context, throttle);
}

unsafe extern "system" fn disable(_context: NDIS_HANDLE) {}
unsafe extern "system" fn enable(_context: NDIS_HANDLE) {}
unsafe extern "system" fn message_disable(_context: NDIS_HANDLE, _message: u32) {}
unsafe extern "system" fn message_enable(_context: NDIS_HANDLE, _message: u32) {}

unsafe extern "system" fn synchronized(_context: *mut c_void) -> BOOLEAN {
    with_fake(|f| f.synchronized += 1);
    1
}

/// The fake's receive NBL pool, created on first use (revision 1, as for NDIS 6.30).
pub fn nbl_pool(miniport: usize) -> usize {
    let existing = with_fake(|f| f.nbl_pool);
    if existing != 0 {
        return existing;
    }
    let parameters = NET_BUFFER_LIST_POOL_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::new(0x80, 1, 0x10),
        ProtocolId: 0,
        fAllocateNetBuffer: 1,
        ContextSize: 0,
        PoolTag: TAG,
        DataSize: 0,
        Flags: 0,
    };
    // SAFETY: the parameters live on this frame for the call.
    let pool = unsafe { NdisAllocateNetBufferListPool(handle(miniport), &raw const parameters) };
    with_fake(|f| f.nbl_pool = pool as usize);
    pool as usize
}

/// One NBL of `receive` for `(queue, length)`: from the pool with an MDL over a buffer of the
/// fake's [`receive_bytes`], or built by hand (`not_from_pool`).
fn receive_nbl(
    receive: &Receive,
    miniport: usize,
    queue: u16,
    length: u32,
) -> *mut NET_BUFFER_LIST {
    let nbl = if receive.not_from_pool {
        // SAFETY: an all-zero NBL/NB pair is a valid value.
        let mut packet: Box<Packet> = Box::new(unsafe { std::mem::zeroed() });
        packet.nbl.FirstNetBuffer = &raw mut packet.nb;
        let nbl: *mut NET_BUFFER_LIST = &raw mut packet.nbl;
        with_fake(|f| f.packets.push(packet));
        nbl
    } else {
        let pool = nbl_pool(miniport);
        let buffer = receive_bytes(queue, length).into_boxed_slice();
        let mdl = NdisAllocateMdl(handle(miniport), buffer.as_ptr() as *mut c_void, length);
        let nbl =
            NdisAllocateNetBufferAndNetBufferList(handle(pool), 0, 0, mdl, 0, length as usize);
        assert!(!nbl.is_null(), "the pool gave no NBL");
        with_fake(|f| f.receive_nbls.push((nbl as usize, mdl as usize, buffer)));
        nbl
    };
    // SAFETY: the NBL just allocated or built, which the fake owns.
    let nbl_ref = unsafe { &mut *nbl };
    // SAFETY: its NB, likewise.
    let nb = unsafe { &mut *nbl_ref.FirstNetBuffer };
    if receive.overrun != 0 {
        // SAFETY: the ULONG view of the length the pool (or the zeroing) set.
        let length = unsafe { nb.DataLength.DataLength };
        nb.DataLength.DataLength = length + receive.overrun;
    }
    if receive.foreign_mdl {
        // SAFETY: an all-zero MDL is a valid value (it describes nothing).
        let mut mdl: Box<MDL> = Box::new(unsafe { std::mem::zeroed() });
        nb.MdlChain = &raw mut *mdl;
        nb.CurrentMdl = &raw mut *mdl;
        with_fake(|f| f.foreign_mdls.push(mdl));
    }
    nbl_ref.SourceHandle =
        if receive.no_source_handle { ptr::null_mut() } else { handle(miniport) };
    nbl_ref.NetBufferListInfo[NetBufferListFilteringInfo] =
        filtering_info_value(queue, 0) as *mut c_void;
    if let Some((vlan, priority)) = receive.vlan {
        nbl_ref.NetBufferListInfo[Ieee8021QNetBufferListInfo] =
            ieee8021q_info_value(vlan, priority) as *mut c_void;
    }
    nbl
}

/// Starts the fake with `receive` for its DPC, brings every VM queue the receive names to
/// Running (through the VMQ OIDs), raises message 2 and delivers it: one receive indication.
pub fn receiving(receive: Receive, returns: ndis_sim::sim::ReturnPolicy) -> ndis_sim::sim::Sim {
    use ndis_sim::sim::{GrantPolicy, Sim, SimConfig};
    let mut sim =
        Sim::start(SimConfig { receive_returns: returns, ..SimConfig::with_groups(&[2]) });
    let queues: std::collections::BTreeSet<u16> =
        receive.nbls.iter().map(|(queue, _)| *queue).filter(|q| *q != 0).collect();
    reset(Behaviour { dpc_receive: Some(receive), ..Behaviour::default() });
    sim.load_driver(driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    for queue in queues {
        crate::vmq_oids::make_running(&mut sim, u32::from(queue), u32::from(queue) + 100);
    }
    sim.signal_message(2).unwrap();
    sim.deliver_interrupts(std::time::Duration::from_secs(2)).unwrap();
    sim
}

/// Indicates `receive` from the current context (the DISPATCH_LEVEL flag follows the IRQL).
pub fn indicate_receive(receive: &Receive) {
    let miniport = with_fake(|f| f.miniport_handle);
    let nbls: Vec<*mut NET_BUFFER_LIST> = receive
        .nbls
        .iter()
        .map(|&(queue, length)| receive_nbl(receive, miniport, queue, length))
        .collect();
    // Link them in order.
    for pair in nbls.windows(2) {
        // SAFETY: NBLs the fake owns.
        unsafe { (*pair[0]).Next = pair[1] };
    }
    let head = nbls.first().copied().unwrap_or(ptr::null_mut());
    let count = u32::try_from(receive.nbls.len()).unwrap_or(0);
    let at_dispatch = ndis_sim::sim::cpu::current().irql == ndis_sim::sim::cpu::DISPATCH_LEVEL;
    let mut flags = receive.flags;
    if at_dispatch != receive.wrong_dispatch_flag {
        flags |= vmqnic::ndis::NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL;
    }
    // SAFETY: a valid chain the fake owns.
    unsafe {
        NdisMIndicateReceiveNetBufferLists(
            handle(miniport),
            head,
            0,
            receive.count_override.unwrap_or(count),
            flags,
        );
    };
}

/// Frees the returned pool NBLs of a chain, with their MDLs and buffers (hand-built ones stay).
fn free_returned(mut nbl: *mut NET_BUFFER_LIST) {
    while !nbl.is_null() {
        // SAFETY: an NBL of the chain NDIS returned, which the fake owns again.
        let next = unsafe { (*nbl).Next };
        let entry = with_fake(|f| {
            let index = f.receive_nbls.iter().position(|(n, _, _)| *n == nbl as usize)?;
            Some(f.receive_nbls.remove(index))
        });
        if let Some((_, mdl, buffer)) = entry {
            // SAFETY: as above; the NBL is unlinked before it goes back to its pool.
            unsafe { (*nbl).Next = ptr::null_mut() };
            NdisFreeNetBufferList(nbl);
            NdisFreeMdl(mdl as *mut MDL);
            drop(buffer);
        }
        nbl = next;
    }
}

unsafe extern "system" fn return_nbls(
    _context: NDIS_HANDLE,
    nbls: *mut NET_BUFFER_LIST,
    flags: u32,
) {
    let locked = with_fake(|f| {
        f.returned.push((nbls as usize, flags));
        f.behaviour.return_takes_lock
    });
    if locked {
        lock_step(Step::AcquireLock);
    }
    free_returned(nbls);
    if locked {
        lock_step(Step::ReleaseLock);
    }
    if let Some(step) = behaviour().return_step {
        run_step(step);
    }
    event("return returns");
}

/// Builds an NBL chain of `count` NBLs for a send (kept alive by the fake).
pub fn send_chain(count: usize) -> *mut NET_BUFFER_LIST {
    with_fake(|f| {
        let start = f.packets.len();
        for _ in 0..count {
            // SAFETY: an all-zero NBL/NB pair is a valid value.
            let mut packet: Box<Packet> = Box::new(unsafe { std::mem::zeroed() });
            packet.nb.DataLength.DataLength = 60;
            packet.nbl.FirstNetBuffer = &raw mut packet.nb;
            f.packets.push(packet);
        }
        let mut previous: *mut NET_BUFFER_LIST = ptr::null_mut();
        for i in (start..f.packets.len()).rev() {
            f.packets[i].nbl.Next = previous;
            previous = &raw mut f.packets[i].nbl;
        }
        previous
    })
}

unsafe extern "system" fn send(
    _context: NDIS_HANDLE,
    nbls: *mut NET_BUFFER_LIST,
    _port: u32,
    _flags: u32,
) {
    let (complete, miniport) = with_fake(|f| (f.behaviour.complete_sends, f.miniport_handle));
    if complete {
        // SAFETY: completing the chain NDIS just sent, unchanged.
        unsafe { NdisMSendNetBufferListsComplete(handle(miniport), nbls, 0) };
    }
}

/// Completes `nbls` as if they had been sent (for the "not outstanding" check).
pub fn complete_send(nbls: *mut NET_BUFFER_LIST) {
    let miniport = with_fake(|f| f.miniport_handle);
    // SAFETY: a valid chain.
    unsafe { NdisMSendNetBufferListsComplete(handle(miniport), nbls, 0) };
}

unsafe extern "system" fn oid_request(
    _context: NDIS_HANDLE,
    request: *mut NDIS_OID_REQUEST,
) -> NDIS_STATUS {
    let (mode, miniport, step) =
        with_fake(|f| (f.behaviour.oid, f.miniport_handle, f.behaviour.oid_step));
    if let Some(step) = step {
        run_step(step);
    }
    // SAFETY: NDIS's request, valid for the call.
    let data = unsafe { (*request).DATA };
    // SAFETY: plain integers in every view; the Oid is the first field of each.
    let oid = unsafe { data.SET_INFORMATION.Oid };
    if oid == vmqnic::ndis::OID_RECEIVE_FILTER_FREE_QUEUE {
        run_script(&with_fake(|f| f.behaviour.free_queue_steps.clone()));
    }
    let status = match mode {
        OidMode::Return(status) => {
            // SAFETY: NDIS's request; a query's buffer holds InformationBufferLength bytes.
            unsafe { fill_query(request) };
            status
        }
        OidMode::Pend => {
            with_fake(|f| f.pending_oid = request as usize);
            NDIS_STATUS_PENDING
        }
        OidMode::CompleteAndReturn(status) => {
            // SAFETY: NDIS's request.
            unsafe { NdisMOidRequestComplete(handle(miniport), request, status) };
            status
        }
    };
    event("oid returns");
    status
}

/// Fills a query's buffer with 0xA5 and reports it written.
///
/// # Safety
/// `request` is a valid request; a query's buffer holds InformationBufferLength bytes.
unsafe fn fill_query(request: *mut NDIS_OID_REQUEST) {
    // SAFETY: valid request (caller).
    let kind = unsafe { (*request).RequestType };
    if kind != vmqnic::ndis::NdisRequestQueryInformation {
        return;
    }
    // SAFETY: valid and not aliased while NDIS lets the miniport handle it (caller).
    let request = unsafe { &mut *request };
    // SAFETY: a query request: its DATA union holds the QUERY_INFORMATION view.
    let query = unsafe { &mut request.DATA.QUERY_INFORMATION };
    let length = query.InformationBufferLength;
    if !query.InformationBuffer.is_null() {
        // SAFETY: the buffer holds `length` bytes (caller).
        unsafe { ptr::write_bytes(query.InformationBuffer.cast::<u8>(), 0xA5, length as usize) };
    }
    query.BytesWritten = length;
}

/// Completes the pended request with `status`.
pub fn complete_pending_oid(status: NDIS_STATUS) {
    let (request, miniport) = with_fake(|f| (f.pending_oid, f.miniport_handle));
    // SAFETY: the request NDIS handed the fake (the simulator keeps it alive).
    unsafe { NdisMOidRequestComplete(handle(miniport), request as *mut NDIS_OID_REQUEST, status) };
}

unsafe extern "system" fn cancel_oid(_context: NDIS_HANDLE, _request_id: *mut c_void) {
    if with_fake(|f| f.pending_oid) != 0 {
        complete_pending_oid(NDIS_STATUS_REQUEST_ABORTED);
    }
}

unsafe extern "system" fn cancel_send(_context: NDIS_HANDLE, _cancel_id: *mut c_void) {}
unsafe extern "system" fn pnp_event(_context: NDIS_HANDLE, _event: *mut NET_DEVICE_PNP_EVENT) {}
unsafe extern "system" fn check_for_hang(_context: NDIS_HANDLE) -> BOOLEAN {
    0
}

unsafe extern "system" fn shutdown(_context: NDIS_HANDLE, _action: u32) {
    let b = behaviour();
    if b.shutdown_frees_shared {
        run_step(Step::FreeShared);
    }
    if let Some(step) = b.shutdown_step {
        run_step(step);
    }
}

/// Sets an MSI-X table entry through NDIS (for window tests).
pub fn config_msix(operation: u32, entry: u32, message: u32) -> NDIS_STATUS {
    let miniport = with_fake(|f| f.miniport_handle);
    let mut parameters = NDIS_MSIX_CONFIG_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::new(0x80, 1, 0x10),
        ConfigOperation: operation,
        TableEntry: entry,
        MessageNumber: message,
    };
    // SAFETY: the parameters live on this frame.
    unsafe { NdisMConfigMSIXTableEntry(handle(miniport), &raw mut parameters) }
}

/// Size check of the layouts the fake builds by hand.
const _: () = {
    assert!(size_of::<Packet>() == 0x110 + 0xB0);
    assert!(offset_of!(Packet, nb) == 0x110);
};
