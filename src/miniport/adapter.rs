//! The adapter: MiniportInitializeEx and MiniportHaltEx, the interrupt handlers, and the other
//! handlers NDIS requires of every miniport.
//!
//! Scope today: bring-up and teardown, the interrupt plan, link-state indications through the
//! "other causes" vector, the general OIDs, and the default queue's receive path (pool 0,
//! [`super::receive`]) with its interrupt: each message's ISR masks the table entries that
//! point at it and its DPC services what they carry ([`crate::datapath::vectors`]).

use core::cell::UnsafeCell;
use core::mem::size_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

use super::receive::{self, ReceivePath};
use super::send::SendPath;
use super::{config, dma};
use super::{msix, pool_allocate, pool_free, tags};
use crate::datapath::rx::RECEIVE_BUDGET;
use crate::datapath::vectors::{MessageRoute, SERVES_OTHER, SERVES_TX, VectorRoutes, serves_rx};
use crate::hw::igb::{self, LinkState};
use crate::hw::mmio::MappedBar;
use crate::hw::{ALL_ONES, Registers};
use crate::interrupt::MsixOp;
use crate::interrupt::binding::Binder;
use crate::interrupt::grant::{InterruptKind, partial_descriptors};
use crate::interrupt::plan::{InterruptPlan, unreadable_grant_plan};
use crate::ndis::{
    BOOLEAN, CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE, CM_PARTIAL_RESOURCE_LIST_HEADER_SIZE,
    IF_TYPE_ETHERNET_CSMACD, MediaConnectStateConnected, MediaConnectStateDisconnected,
    MediaDuplexStateFull, MediaDuplexStateHalf, MediaDuplexStateUnknown, NDIS_HANDLE,
    NDIS_LINK_STATE, NDIS_LINK_STATE_REVISION_1, NDIS_MAC_OPTION_8021P_PRIORITY,
    NDIS_MAC_OPTION_8021Q_VLAN, NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA, NDIS_MAC_OPTION_NO_LOOPBACK,
    NDIS_MAC_OPTION_TRANSFERS_NOT_PEND, NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
    NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
    NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES,
    NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES_REVISION_3,
    NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
    NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2, NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER,
    NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE, NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
    NDIS_MINIPORT_INIT_PARAMETERS, NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
    NDIS_MINIPORT_INTERRUPT_REVISION_1, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT,
    NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
    NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES,
    NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
    NDIS_OBJECT_TYPE_STATUS_INDICATION, NDIS_OID_REQUEST, NDIS_PACKET_TYPE_ALL_MULTICAST,
    NDIS_PACKET_TYPE_BROADCAST, NDIS_PACKET_TYPE_DIRECTED, NDIS_PACKET_TYPE_MULTICAST,
    NDIS_PACKET_TYPE_PROMISCUOUS, NDIS_PORT_NUMBER, NDIS_PROTOCOL_ID_DEFAULT,
    NDIS_RECEIVE_FILTER_CAPABILITIES, NDIS_RECEIVE_THROTTLE_PARAMETERS,
    NDIS_SIZEOF_LINK_STATE_REVISION_1, NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
    NDIS_SIZEOF_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES_REVISION_3,
    NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
    NDIS_SIZEOF_MINIPORT_INTERRUPT_CHARACTERISTICS_REVISION_1,
    NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_STATUS_INDICATION_REVISION_1, NDIS_STATUS, NDIS_STATUS_ADAPTER_NOT_READY,
    NDIS_STATUS_FAILURE, NDIS_STATUS_INDICATION, NDIS_STATUS_INDICATION_REVISION_1,
    NDIS_STATUS_LINK_STATE, NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_PAUSED, NDIS_STATUS_PENDING,
    NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS, NET_BUFFER_LIST, NET_BUFFER_LIST_POOL_PARAMETERS,
    NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1, NET_DEVICE_PNP_EVENT, NET_IF_ACCESS_BROADCAST,
    NET_IF_CONNECTION_DEDICATED, NET_IF_DIRECTION_SENDRECEIVE, NdisAllocateIoWorkItem,
    NdisAllocateNetBufferListPool, NdisDevicePnPEventSurpriseRemoved, NdisFreeIoWorkItem,
    NdisFreeNetBufferListPool, NdisInterfacePci, NdisMDeregisterInterruptEx,
    NdisMDeregisterScatterGatherDma, NdisMIndicateStatusEx, NdisMMapIoSpace, NdisMPauseComplete,
    NdisMRegisterInterruptEx, NdisMSendNetBufferListsComplete, NdisMSetMiniportAttributes,
    NdisMUnmapIoSpace, NdisMedium802_3, NdisPauseFunctionsUnsupported, NdisPhysicalMedium802_3,
    NdisQueueIoWorkItem, PVOID, ULONG,
};
use crate::oid::general;
use crate::vmq::capabilities::{
    VmqHardware, current_capabilities, hardware_capabilities, model_config,
};
use crate::vmq::model::Vmq;

/// The 82576's register BAR (BAR0) is 128 KiB; the 16 KiB BAR3 holds the MSI-X table, which
/// the OS owns and the driver never maps.
pub const IGB_REGISTER_BAR_LENGTH: u32 = 0x2_0000;
/// Ethernet MTU the adapter reports.
pub const MTU: u32 = 1500;
/// Largest frame the adapter sends or receives: MTU + Ethernet header + one 802.1Q tag.
pub const MAX_FRAME_BYTES: u32 = MTU + 14 + 4;
/// 82576 pools, each with its receive path (pool 0: the default queue).
pub const POOLS: usize = 8;
/// The pool of the default queue (VT_CTL.DEF_PL).
pub const DEFAULT_POOL: u8 = 0;
/// The VMQ OIDs the miniport itself handles (spec §2.0); NDIS answers the others.
const VMQ_OIDS: [crate::ndis::NDIS_OID; 6] = [
    crate::ndis::OID_RECEIVE_FILTER_ALLOCATE_QUEUE,
    crate::ndis::OID_RECEIVE_FILTER_FREE_QUEUE,
    crate::ndis::OID_RECEIVE_FILTER_QUEUE_PARAMETERS,
    crate::ndis::OID_RECEIVE_FILTER_SET_FILTER,
    crate::ndis::OID_RECEIVE_FILTER_CLEAR_FILTER,
    crate::ndis::OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE,
];

/// Every OID in the general attributes' `SupportedOidList`: the general ones, then VMQ's.
static SUPPORTED_OIDS: [crate::ndis::NDIS_OID; general::SUPPORTED_OIDS.len() + VMQ_OIDS.len()] = {
    let mut all = [0; general::SUPPORTED_OIDS.len() + VMQ_OIDS.len()];
    let mut i = 0;
    while i < general::SUPPORTED_OIDS.len() {
        all[i] = general::SUPPORTED_OIDS[i];
        i += 1;
    }
    let mut j = 0;
    while j < VMQ_OIDS.len() {
        all[i + j] = VMQ_OIDS[j];
        j += 1;
    }
    all
};

/// Largest translated resource list the driver reads, in descriptors.
const MAX_RESOURCE_DESCRIPTORS: usize = crate::interrupt::MAX_MESSAGES_PER_FUNCTION + 64;

/// Per-adapter state (MiniportAdapterContext), in non-paged pool from InitializeEx to HaltEx.
pub struct Adapter {
    pub(super) miniport_handle: NDIS_HANDLE,
    /// BAR0, once mapped.
    pub(super) bar: Option<MappedBar>,
    /// Set by MiniportDevicePnPEventNotify(SurpriseRemoved), or when a register read comes back
    /// all-ones: from then on the hardware is not touched.
    pub(super) surprise_removed: AtomicBool,
    pub(super) interrupt_handle: NDIS_HANDLE,
    pub(super) plan: InterruptPlan,
    pub(super) permanent_mac: [u8; 6],
    /// Causes an ISR saw and its DPC has not handled yet (`igb::CAUSE_*` bits).
    pub(super) pending_causes: AtomicU32,
    /// Whether the adapter is Running (Restart) rather than Paused.
    pub(super) running: AtomicBool,
    /// MiniportPause returned PENDING: whoever sees the last NBL come back completes it.
    pub(super) pause_pending: AtomicBool,
    /// NdisMRegisterScatterGatherDma's handle (shared memory needs it).
    pub(super) dma_handle: NDIS_HANDLE,
    /// The NBL pool every receive path's NBLs come from.
    pub(super) nbl_pool: NDIS_HANDLE,
    /// One receive path per pool; pool 0 is the default queue.
    pub(super) receive: [ReceivePath; POOLS],
    /// Transmit queue 0.
    pub(super) send: SendPath,
    /// Which table entries each message serves (MSI-X).
    pub(super) vectors: VectorRoutes,
    /// The pool of a FREE_QUEUE waiting for its NBLs ([`NO_POOL`]: none); the return of its
    /// last NBL takes it and queues `work_item`.
    pub(super) free_pending_pool: AtomicU8,
    /// The NDIS I/O work item that finishes a FREE_QUEUE at PASSIVE_LEVEL.
    pub(super) work_item: NDIS_HANDLE,
    /// Settings the protocols made through OIDs, and the counters OIDs report. Only the OID
    /// path touches it, and NDIS sends a miniport one OID request at a time (spec §1.9), so
    /// the accesses never overlap.
    pub(super) oid_state: UnsafeCell<OidState>,
}

/// The OID path's state (see [`Adapter::oid_state`]).
#[derive(Default)]
pub(super) struct OidState {
    pub(super) settings: general::Settings,
    pub(super) counters: general::Counters,
    /// Queue ↔ table entry ↔ message binding (VMQ on only); used by the VMQ OIDs.
    pub(super) binder: Option<Binder>,
    /// The VMQ control state (VMQ on only).
    pub(super) vmq: Option<Vmq>,
    /// A FREE_QUEUE waiting for its queue's NBLs (see `super::vmq`).
    pub(super) pending_free: Option<PendingFree>,
}

/// A FREE_QUEUE that returned PENDING.
pub(super) struct PendingFree {
    /// The request, completed by the work item.
    pub(super) request: NonNull<NDIS_OID_REQUEST>,
    /// The queue being freed.
    pub(super) queue_id: u32,
    /// Its pool.
    pub(super) pool: u8,
}

/// `Adapter::free_pending_pool` when no FREE_QUEUE waits.
pub(super) const NO_POOL: u8 = u8::MAX;

impl Registers for Adapter {
    fn read32(&self, offset: u32) -> u32 {
        match &self.bar {
            Some(bar) if !self.surprise_removed.load(Ordering::Acquire) => bar.read32(offset),
            _ => ALL_ONES,
        }
    }

    fn write32(&self, offset: u32, value: u32) {
        if let Some(bar) = &self.bar
            && !self.surprise_removed.load(Ordering::Acquire)
        {
            bar.write32(offset, value);
        }
    }
}

/// Busy-waits with KeStallExecutionProcessor, for the bounded polls of device bring-up.
pub(super) struct KernelStall;

impl crate::hw::Stall for KernelStall {
    fn stall_us(&self, microseconds: u32) {
        // SAFETY: KeStallExecutionProcessor may be called at any IRQL; it only spins.
        unsafe { crate::ndis::KeStallExecutionProcessor(microseconds) };
    }
}

impl Adapter {
    fn new(miniport_handle: NDIS_HANDLE) -> Self {
        Self {
            miniport_handle,
            bar: None,
            surprise_removed: AtomicBool::new(false),
            interrupt_handle: ptr::null_mut(),
            plan: unreadable_grant_plan(false),
            permanent_mac: [0; 6],
            pending_causes: AtomicU32::new(0),
            running: AtomicBool::new(false),
            pause_pending: AtomicBool::new(false),
            dma_handle: ptr::null_mut(),
            nbl_pool: ptr::null_mut(),
            receive: [
                ReceivePath::new(0),
                ReceivePath::new(1),
                ReceivePath::new(2),
                ReceivePath::new(3),
                ReceivePath::new(4),
                ReceivePath::new(5),
                ReceivePath::new(6),
                ReceivePath::new(7),
            ],
            vectors: VectorRoutes::new(),
            free_pending_pool: AtomicU8::new(NO_POOL),
            work_item: ptr::null_mut(),
            send: SendPath::new(),
            oid_state: UnsafeCell::new(OidState::default()),
        }
    }

    /// What queries report now: addresses, the link as STATUS shows it, and the counters with
    /// the device's statistics registers (read-to-clear) added in.
    fn snapshot(&self, counters: &mut general::Counters) -> general::Snapshot {
        if let Some(delta) = igb::read_statistics(self) {
            let add = |total: &mut u64, more: u64| *total = total.saturating_add(more);
            add(&mut counters.rx_ok, delta.rx_packets);
            add(&mut counters.rx_bytes, delta.rx_bytes);
            add(&mut counters.rx_broadcast, delta.rx_broadcast);
            add(&mut counters.rx_multicast, delta.rx_multicast);
            add(&mut counters.tx_ok, delta.tx_packets);
            add(&mut counters.tx_bytes, delta.tx_bytes);
            add(&mut counters.tx_broadcast, delta.tx_broadcast);
            add(&mut counters.tx_multicast, delta.tx_multicast);
            add(&mut counters.rx_crc_errors, delta.rx_crc_errors);
            add(&mut counters.rx_errors, delta.rx_errors.saturating_add(delta.rx_crc_errors));
            add(&mut counters.rx_no_buffer, delta.rx_no_buffer);
        }
        // Errors the device does not count: descriptors the driver dropped as malformed, and
        // sends it could not carry out. Both are running totals, added to what is reported.
        let mut reported = *counters;
        let dropped: u64 = self.receive.iter().map(ReceivePath::dropped).sum();
        reported.rx_errors = reported.rx_errors.saturating_add(dropped);
        reported.tx_errors = reported.tx_errors.saturating_add(self.send.failed());
        general::Snapshot {
            permanent_mac: self.permanent_mac,
            current_mac: self.permanent_mac,
            link: igb::link_state(self).unwrap_or(LinkState::DOWN),
            counters: reported,
        }
    }

    /// Whether nothing is outstanding: no receive NBL with NDIS, no send NBL with the driver.
    fn is_idle(&self) -> bool {
        self.send.outstanding() == 0 && self.receive.iter().all(|path| path.outstanding() == 0)
    }

    /// Completes a pending pause once the adapter is idle (exactly once: whoever takes
    /// `pause_pending` back).
    fn complete_pause_if_idle(&self) {
        if self.pause_pending.load(Ordering::Acquire)
            && self.is_idle()
            && self.pause_pending.swap(false, Ordering::AcqRel)
        {
            // SAFETY: the pause NDIS started and this driver returned PENDING for, completed
            // once; <= DISPATCH_LEVEL.
            unsafe { NdisMPauseComplete(self.miniport_handle) };
        }
    }

    /// Queues the FREE_QUEUE work item once the queue being freed has all its NBLs back
    /// (exactly once: whoever takes `free_pending_pool` back).
    fn finish_free_queue_if_idle(&self) {
        let pool = self.free_pending_pool.load(Ordering::Acquire);
        let idle = self.receive.get(usize::from(pool)).is_some_and(|p| p.outstanding() == 0);
        if idle && self.free_pending_pool.swap(NO_POOL, Ordering::AcqRel) == pool {
            let context: PVOID = ptr::from_ref(self).cast_mut().cast();
            // SAFETY: the adapter's work item, not queued (one FREE_QUEUE at a time, and this
            // is its only queueing); the adapter outlives it (Halt cannot come while the OID
            // is pending). <= DISPATCH_LEVEL.
            unsafe {
                NdisQueueIoWorkItem(
                    self.work_item,
                    Some(super::vmq::free_queue_work_item),
                    context,
                );
            };
        }
    }

    /// Frames indicated on `pool`'s queue so far.
    #[must_use]
    pub fn frames_indicated(&self, pool: u8) -> u64 {
        self.receive.get(usize::from(pool)).map_or(0, ReceivePath::indicated)
    }

    /// The interrupt plan decided at Initialize.
    #[must_use]
    pub const fn plan(&self) -> &InterruptPlan {
        &self.plan
    }

    /// The MAC address read from the EEPROM (or RAR0).
    #[must_use]
    pub const fn permanent_mac(&self) -> [u8; 6] {
        self.permanent_mac
    }

    /// Releases what Initialize acquired, in reverse order. Safe to call on a partially
    /// initialized adapter (Initialize failure paths) and exactly once from Halt.
    ///
    /// # Safety
    /// PASSIVE_LEVEL; no ISR or DPC of this adapter runs afterwards (NdisMDeregisterInterruptEx
    /// waits for them).
    unsafe fn release_resources(&mut self) {
        if self.bar.is_some() {
            igb::disable_all_interrupts(&*self);
        }
        if !self.interrupt_handle.is_null() {
            // SAFETY: the handle NdisMRegisterInterruptEx returned, deregistered once; it
            // waits for running ISRs and DPCs of this adapter.
            unsafe { NdisMDeregisterInterruptEx(self.interrupt_handle) };
            self.interrupt_handle = ptr::null_mut();
        }
        let this = &*self;
        // SAFETY: PASSIVE_LEVEL, no DPC runs (deregistered above), and no send is outstanding
        // (Halt comes after Pause; an Initialize failure never ran).
        unsafe { this.send.destroy(this.miniport_handle, this, &KernelStall) };
        for path in &this.receive {
            if this.bar.is_some() {
                let _ = igb::enable_pool_rx(this, path.pool(), false);
            }
            // SAFETY: PASSIVE_LEVEL, no DPC runs (deregistered above) and the adapter is
            // paused (Halt) or never ran (Initialize failure), so NDIS holds no NBL.
            unsafe { path.destroy(this.miniport_handle, this, &KernelStall) };
        }
        if !self.work_item.is_null() {
            // SAFETY: the work item NdisAllocateIoWorkItem returned; not queued (a FREE_QUEUE
            // cannot be pending at Halt, and an Initialize failure never queued it).
            unsafe { NdisFreeIoWorkItem(self.work_item) };
            self.work_item = ptr::null_mut();
        }
        if !self.nbl_pool.is_null() {
            // SAFETY: the pool NdisAllocateNetBufferListPool returned; every NBL from it was
            // freed with its receive path above.
            unsafe { NdisFreeNetBufferListPool(self.nbl_pool) };
            self.nbl_pool = ptr::null_mut();
        }
        if !self.dma_handle.is_null() {
            // SAFETY: the handle NdisMRegisterScatterGatherDma returned, after every shared
            // memory block was freed.
            unsafe { NdisMDeregisterScatterGatherDma(self.dma_handle) };
            self.dma_handle = ptr::null_mut();
        }
        if let Some(bar) = self.bar.take() {
            // SAFETY: the mapping NdisMMapIoSpace made, with its length; unmapped once, after
            // the last register access (interrupts are deregistered above).
            unsafe {
                NdisMUnmapIoSpace(self.miniport_handle, bar.base().as_ptr().cast(), bar.length());
            };
        }
    }
}

/// MiniportInitializeEx.
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with the miniport handle and valid init parameters.
pub unsafe extern "system" fn miniport_initialize(
    miniport_handle: NDIS_HANDLE,
    _driver_context: NDIS_HANDLE,
    init_parameters: *mut NDIS_MINIPORT_INIT_PARAMETERS,
) -> NDIS_STATUS {
    if init_parameters.is_null() {
        return NDIS_STATUS_FAILURE;
    }
    // SAFETY: NDIS passes valid init parameters for the duration of the call.
    let resources = unsafe { (*init_parameters).AllocatedResources }.cast_const();
    // SAFETY: valid handle, PASSIVE_LEVEL.
    let Some(block) =
        (unsafe { pool_allocate(miniport_handle, size_of::<Adapter>(), tags::ADAPTER) })
    else {
        return NDIS_STATUS_RESOURCES;
    };
    let adapter = block.cast::<Adapter>();
    // SAFETY: a fresh pool block of the adapter's size, 16-byte aligned (pool alignment).
    unsafe { adapter.as_ptr().write(Adapter::new(miniport_handle)) };
    // SAFETY: `adapter` was initialized above and nothing else references it yet.
    let status = unsafe { initialize(adapter, resources) };
    if status != NDIS_STATUS_SUCCESS {
        // SAFETY: Initialize failed: NDIS will not call Halt, so the adapter is released here,
        // once; interrupts (if registered) are deregistered before the memory goes.
        unsafe { destroy(adapter) };
    }
    status
}

/// The steps of Initialize after the adapter exists, in the order NDIS requires.
///
/// # Safety
/// `adapter` is initialized and exclusively owned; `resources` is NDIS's translated list.
unsafe fn initialize(
    adapter: NonNull<Adapter>,
    resources: *const crate::ndis::CM_PARTIAL_RESOURCE_LIST,
) -> NDIS_STATUS {
    // SAFETY: exclusively owned during Initialize (no interrupt is registered yet; once it is,
    // ISRs only read the fields written before registration and the atomics).
    let this = unsafe { &mut *adapter.as_ptr() };
    let handle = this.miniport_handle;

    // 1. Registration attributes, before anything that claims hardware resources.
    let registration = NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
            NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
            NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
        ),
        MiniportAdapterContext: adapter.as_ptr().cast(),
        AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE
            | NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER
            | NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
        CheckForHangTimeInSeconds: 0,
        InterfaceType: NdisInterfacePci,
    };
    // SAFETY: the attributes live on this frame for the call.
    let status = unsafe { NdisMSetMiniportAttributes(handle, &raw const registration.Header) };
    if status != NDIS_STATUS_SUCCESS {
        return status;
    }
    // Then the standardized keywords (spec §1.7 step 3), read and closed here; a missing or
    // out-of-range value is its documented default (`vmq::keywords`).
    // SAFETY: the adapter handle of this MiniportInitializeEx, PASSIVE_LEVEL.
    let keywords = unsafe { config::read_keywords(handle) };

    // 2. Map the register BAR.
    // SAFETY: NDIS's translated resource list (or NULL), valid for Initialize.
    let Some(resource_bytes) = (unsafe { resource_list_bytes(resources) }) else {
        return NDIS_STATUS_RESOURCES;
    };
    let Some((start, length)) = register_bar(resource_bytes) else { return NDIS_STATUS_RESOURCES };
    let mut base: PVOID = ptr::null_mut();
    // SAFETY: a memory resource NDIS assigned to this adapter; `base` is writable.
    let status = unsafe { NdisMMapIoSpace(&raw mut base, handle, start, length) };
    let Some(base) = NonNull::new(base.cast::<u8>()).filter(|_| status == NDIS_STATUS_SUCCESS)
    else {
        return if status == NDIS_STATUS_SUCCESS { NDIS_STATUS_RESOURCES } else { status };
    };
    // SAFETY: NdisMMapIoSpace mapped `length` bytes at `base`; unmapped only in
    // release_resources, after which the MappedBar is gone.
    this.bar = Some(unsafe { MappedBar::new(base, length) });

    // 3. Bring up the 82576: reset, permanent MAC, link.
    if igb::reset(&*this, &KernelStall).is_err() {
        return NDIS_STATUS_ADAPTER_NOT_READY;
    }
    let Ok(mac) = igb::read_permanent_mac(&*this, &KernelStall) else {
        return NDIS_STATUS_ADAPTER_NOT_READY;
    };
    this.permanent_mac = mac;
    // A PHY that does not answer leaves the link down (and says so); only a vanished device is
    // fatal here.
    if igb::start_link(&*this, &KernelStall) == Err(igb::IgbError::DeviceGone) {
        return NDIS_STATUS_ADAPTER_NOT_READY;
    }
    let link = igb::link_state(&*this).unwrap_or(LinkState::DOWN);

    // 4. General attributes, second.
    let general = general_attributes(mac, link);
    // SAFETY: the attributes live on this frame for the call.
    let status = unsafe { NdisMSetMiniportAttributes(handle, &raw const general.Header) };
    if status != NDIS_STATUS_SUCCESS {
        return status;
    }

    // 5. Scatter-gather DMA (for the shared memory of the rings), the receive NBL pool and the
    // FREE_QUEUE work item.
    if let Err(status) = allocate_dma_and_pools(this) {
        return status;
    }

    // 6. Interrupts, then the plan built from what PnP granted.
    let mut characteristics = interrupt_characteristics();
    let mut interrupt_handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: the characteristics and the out handle live on this frame; the context is the
    // adapter, which outlives the registration (deregistered in release_resources).
    let status = unsafe {
        NdisMRegisterInterruptEx(
            handle,
            adapter.as_ptr().cast(),
            &raw mut characteristics,
            &raw mut interrupt_handle,
        )
    };
    if status != NDIS_STATUS_SUCCESS {
        return status;
    }
    this.interrupt_handle = interrupt_handle;
    // SAFETY: NdisMRegisterInterruptEx filled InterruptType and MessageInfoTable (valid until
    // deregistration); `resources` is NDIS's list.
    this.plan = unsafe {
        msix::interrupt_plan(handle, resources, &characteristics, VmqHardware::IGB_82576.queues)
    };
    if let Err(status) = route_interrupts(this) {
        return status;
    }
    let oid_state = this.oid_state.get_mut();
    oid_state.binder = this.plan.binder().and_then(Result::ok);
    // The VMQ model accepts exactly what the current capabilities advertise (none: VMQ off).
    let mut current = current_capabilities(VmqHardware::IGB_82576, &this.plan, &keywords);
    if oid_state.binder.is_some()
        && let Some(config) = model_config(&current, this.permanent_mac)
    {
        oid_state.vmq = Some(Vmq::new(config));
    }

    // 7. Hardware-assist attributes: the receive-filter capabilities (with MSI-X support).
    let mut hardware = hardware_capabilities(VmqHardware::IGB_82576);
    let assist = hardware_assist_attributes(&mut hardware, &mut current);
    // SAFETY: the attributes and the capabilities they point to live on this frame.
    let status = unsafe { NdisMSetMiniportAttributes(handle, &raw const assist.Header) };
    if status != NDIS_STATUS_SUCCESS {
        return status;
    }

    // 8. The default queue: VMDq with pool 0 as the default pool, its ring, its interrupt. The
    // receiver starts at Restart.
    if let Err(status) = configure_default_queue(this) {
        return status;
    }

    // 9. Link changes interrupt from now on (route_interrupts enabled them). The adapter is now
    // Paused; NDIS calls Restart next.
    NDIS_STATUS_SUCCESS
}

/// Initialize step 5: SG DMA registration, the NBL pool, the work item. What was allocated
/// stays recorded in the adapter for `release_resources`.
fn allocate_dma_and_pools(this: &mut Adapter) -> Result<(), NDIS_STATUS> {
    let handle = this.miniport_handle;
    // SAFETY: called from Initialize, after the registration attributes, at PASSIVE_LEVEL.
    this.dma_handle = unsafe { dma::register_sg_dma(handle, MAX_FRAME_BYTES) }?;
    let pool_parameters = NET_BUFFER_LIST_POOL_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_DEFAULT,
            NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
            NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
        ),
        ProtocolId: NDIS_PROTOCOL_ID_DEFAULT,
        fAllocateNetBuffer: 1,
        ContextSize: 0,
        PoolTag: tags::RX,
        DataSize: 0,
        Flags: 0,
    };
    // SAFETY: the parameters live on this frame; PASSIVE_LEVEL.
    this.nbl_pool = unsafe { NdisAllocateNetBufferListPool(handle, &raw const pool_parameters) };
    if this.nbl_pool.is_null() {
        return Err(NDIS_STATUS_RESOURCES);
    }
    // SAFETY: the adapter handle, PASSIVE_LEVEL.
    this.work_item = unsafe { NdisAllocateIoWorkItem(handle) };
    if this.work_item.is_null() {
        return Err(NDIS_STATUS_RESOURCES);
    }
    Ok(())
}

/// VMDq with the default pool, the default queue's receive path, and its interrupt route.
fn configure_default_queue(this: &mut Adapter) -> Result<(), NDIS_STATUS> {
    let not_ready = |_| NDIS_STATUS_ADAPTER_NOT_READY;
    igb::configure_vmdq(&*this, DEFAULT_POOL).map_err(not_ready)?;
    // The default pool strips 802.1Q tags into the NBL's out-of-band data (the adapter
    // reports NDIS_MAC_OPTION_8021Q_VLAN).
    let options = igb::PoolOptions { strip_vlan: true, ..igb::PoolOptions::DEFAULT_POOL };
    igb::set_pool_options(&*this, DEFAULT_POOL, options).map_err(not_ready)?;
    igb::set_receive_address(&*this, 0, this.permanent_mac, DEFAULT_POOL).map_err(not_ready)?;
    let path = &this.receive[usize::from(DEFAULT_POOL)];
    // SAFETY: PASSIVE_LEVEL inside Initialize, SG DMA registered, nothing else uses the path
    // yet; the NBL pool is the adapter's.
    unsafe { path.create(this.miniport_handle, this.nbl_pool, 0, &*this, &KernelStall) }?;
    path.set_accepting(true);
    // SAFETY: as above.
    unsafe { this.send.create(this.miniport_handle, &*this, &KernelStall) }?;
    route_default_queue(this)?;
    // The VM pools' registers as the VMQ model wants them with no queue (VMOLR of pools 1..=7).
    if let Some(vmq) = this.oid_state.get_mut().vmq.as_ref() {
        let initial = crate::vmq::image::HardwareImage::AFTER_CONFIGURE_VMDQ;
        for change in initial.diff(&vmq.hardware()) {
            change.apply(&*this).map_err(|_| NDIS_STATUS_ADAPTER_NOT_READY)?;
        }
    }
    // Nothing is received until a protocol sets a packet filter.
    apply_receive_settings(this, &general::Settings::default());
    Ok(())
}

/// EITR interval with interrupt moderation on: about 125 µs (8000 interrupts per second) on
/// the 82576 (0.256 µs units, inferred from Linux igb's IGB_START_ITR), 500 µs in QEMU
/// (igb-qemu §6). Multiple of 4: bits 1:0 are not part of the interval.
pub const MODERATED_EITR: u32 = 488;

/// Programs what the protocols asked for through OIDs on the default pool: the packet filter
/// (VFRE for "anything at all", VMOLR.BAM, ROMPE/MPME/ROPE) and the multicast table, and the
/// interrupt moderation of every receive vector.
///
/// In VMDq mode the default pool receives every unicast frame no other pool claims, so
/// `NDIS_PACKET_TYPE_DIRECTED` cannot be turned off alone: with any filter bit set, unicast
/// frames still arrive (NDIS and the protocols drop what they did not ask for). A filter of 0
/// stops the pool completely.
fn apply_receive_settings(adapter: &Adapter, settings: &general::Settings) {
    let filter = settings.packet_filter;
    let promiscuous = filter & NDIS_PACKET_TYPE_PROMISCUOUS != 0;
    let all_multicast = promiscuous || filter & NDIS_PACKET_TYPE_ALL_MULTICAST != 0;
    let multicast = all_multicast || filter & NDIS_PACKET_TYPE_MULTICAST != 0;
    let list: &[[u8; 6]] =
        if filter & NDIS_PACKET_TYPE_MULTICAST != 0 { settings.multicast_list() } else { &[] };
    igb::write_multicast_table(adapter, list, all_multicast);
    let options = igb::PoolOptions {
        accept_untagged: true,
        accept_broadcast: promiscuous || filter & NDIS_PACKET_TYPE_BROADCAST != 0,
        strip_vlan: true,
        accept_hashed_multicast: multicast,
        all_multicast,
        accept_hashed_unicast: promiscuous,
    };
    // Errors mean the device is gone; the settings stay recorded either way.
    let _ = igb::set_pool_options(adapter, DEFAULT_POOL, options);
    let _ = igb::enable_pool_rx(adapter, DEFAULT_POOL, filter != 0);
    let eitr = if settings.interrupt_moderation { MODERATED_EITR } else { 0 };
    if adapter.plan.kind == InterruptKind::MsiX {
        let mut entries = adapter.vectors.receive_entries();
        while entries != 0 {
            let entry = entries.trailing_zeros();
            entries &= entries - 1;
            let _ = igb::set_throttle(adapter, entry, eitr);
        }
    }
}

/// Points the default queue's completions at an interrupt vector. MSI-X with VMQ: the table
/// entry the binder gives the default queue on its message's processor. MSI-X without VMQ: the
/// other-causes entry, which then carries everything. MSI and line: the single vector carries
/// every cause already.
fn route_default_queue(this: &mut Adapter) -> Result<(), NDIS_STATUS> {
    let not_ready = |_| NDIS_STATUS_ADAPTER_NOT_READY;
    let plan = &this.plan;
    if plan.kind != InterruptKind::MsiX {
        return Ok(());
    }
    let rx = serves_rx(DEFAULT_POOL);
    let Some(binder) = this.oid_state.get_mut().binder.as_mut() else {
        // VMQ off: one entry for everything.
        igb::route_rx_queue(&*this, DEFAULT_POOL, Some(plan.other_entry)).map_err(not_ready)?;
        igb::route_tx_queue(&*this, 0, Some(plan.other_entry)).map_err(not_ready)?;
        igb::set_throttle(&*this, plan.other_entry, 0).map_err(not_ready)?;
        this.vectors.set(plan.other_entry, plan.other_message, SERVES_OTHER | rx | SERVES_TX);
        return Ok(());
    };
    let message = plan.default_queue_message;
    let processor = plan
        .message_targets
        .get(usize::try_from(message).unwrap_or(usize::MAX))
        .copied()
        .flatten()
        .ok_or(NDIS_STATUS_RESOURCES)?;
    let bound = binder.bind_default(processor).map_err(|_| NDIS_STATUS_RESOURCES)?;
    // SAFETY: inside MiniportInitializeEx (the NdisMConfigMSIXTableEntry window), PASSIVE.
    unsafe { msix::apply_msix_ops(this.miniport_handle, bound.ops.as_slice()) }
        .map_err(|(_, status)| status)?;
    let entry = bound.binding.entry;
    this.vectors.set(plan.other_entry, plan.other_message, SERVES_OTHER);
    this.vectors.set(entry, bound.binding.message, rx | SERVES_TX);
    igb::route_rx_queue(&*this, DEFAULT_POOL, Some(entry)).map_err(not_ready)?;
    igb::route_tx_queue(&*this, 0, Some(entry)).map_err(not_ready)?;
    igb::set_throttle(&*this, entry, 0).map_err(not_ready)?;
    igb::unmask_entries(&*this, 1 << entry);
    Ok(())
}

/// Points the device's interrupt causes at the plan's vectors: MSI-X "other causes" on table
/// entry 0 (re-pointed at the plan's other-causes message if the PCI start-up mapping does not
/// already do that); a single vector for MSI and line-based interrupts.
fn route_interrupts(adapter: &Adapter) -> Result<(), NDIS_STATUS> {
    let plan = &adapter.plan;
    if plan.kind == InterruptKind::MsiX && plan.table_entries >= 1 {
        if plan.other_message != plan.other_entry {
            let ops = [
                MsixOp::Mask { entry: plan.other_entry },
                MsixOp::SetTableEntry { entry: plan.other_entry, message: plan.other_message },
                MsixOp::Unmask { entry: plan.other_entry },
            ];
            // SAFETY: inside MiniportInitializeEx (the window NdisMConfigMSIXTableEntry needs),
            // PASSIVE_LEVEL.
            unsafe { msix::apply_msix_ops(adapter.miniport_handle, &ops) }
                .map_err(|(_, status)| status)?;
        }
        igb::configure_msix(adapter, plan.other_entry).map_err(|_| NDIS_STATUS_ADAPTER_NOT_READY)
    } else {
        igb::configure_single_vector(adapter).map_err(|_| NDIS_STATUS_ADAPTER_NOT_READY)
    }
}

/// MiniportHaltEx: quiesce the device and release everything Initialize acquired.
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with the adapter context, once, after Pause.
pub unsafe extern "system" fn miniport_halt(adapter_context: NDIS_HANDLE, _halt_action: ULONG) {
    if let Some(adapter) = NonNull::new(adapter_context.cast::<Adapter>()) {
        // SAFETY: the adapter Initialize created; Halt is the last call for it.
        unsafe { destroy(adapter) };
    }
}

/// Releases the adapter's resources and its memory.
///
/// # Safety
/// `adapter` came from MiniportInitializeEx's allocation and is not used afterwards.
unsafe fn destroy(adapter: NonNull<Adapter>) {
    // SAFETY: exclusively owned now (no NDIS call is in flight for a halting adapter).
    let this = unsafe { &mut *adapter.as_ptr() };
    // SAFETY: PASSIVE_LEVEL (Halt or the Initialize failure path).
    unsafe { this.release_resources() };
    // SAFETY: initialized in MiniportInitializeEx, dropped once.
    unsafe { ptr::drop_in_place(adapter.as_ptr()) };
    // SAFETY: the pool block MiniportInitializeEx allocated, freed once.
    unsafe { pool_free(adapter.cast()) };
}

/// The bytes of NDIS's translated `CM_PARTIAL_RESOURCE_LIST`, with its count bounded.
///
/// # Safety
/// `list` is NULL or a valid list, unchanged during Initialize.
unsafe fn resource_list_bytes<'a>(
    list: *const crate::ndis::CM_PARTIAL_RESOURCE_LIST,
) -> Option<&'a [u8]> {
    // SAFETY: forwarded contract.
    unsafe {
        msix::counted_bytes(
            list.cast(),
            4,
            CM_PARTIAL_RESOURCE_LIST_HEADER_SIZE,
            CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE,
            MAX_RESOURCE_DESCRIPTORS,
        )
    }
}

/// BAR0: the first memory resource large enough for the 82576's register space.
fn register_bar(resources: &[u8]) -> Option<(i64, u32)> {
    partial_descriptors(resources)
        .ok()?
        .into_iter()
        .filter_map(crate::interrupt::grant::PartialDescriptor::memory)
        .find(|(_, length)| *length >= IGB_REGISTER_BAR_LENGTH)
        .map(|(start, _)| (start, IGB_REGISTER_BAR_LENGTH))
}

fn general_attributes(mac: [u8; 6], link: LinkState) -> NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
    // SAFETY: all-zero is a valid value of this plain-data structure (NULL pointers, 0 fields).
    let mut general: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES = unsafe { core::mem::zeroed() };
    general.Header = NDIS_OBJECT_HEADER::new(
        NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
        NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
    );
    general.MediaType = NdisMedium802_3;
    general.PhysicalMediumType = NdisPhysicalMedium802_3;
    general.MtuSize = MTU;
    general.MaxXmitLinkSpeed = 1_000_000_000;
    general.MaxRcvLinkSpeed = 1_000_000_000;
    let state = link_state(link);
    general.XmitLinkSpeed = state.XmitLinkSpeed;
    general.RcvLinkSpeed = state.RcvLinkSpeed;
    general.MediaConnectState = state.MediaConnectState;
    general.MediaDuplexState = state.MediaDuplexState;
    general.LookaheadSize = MTU;
    general.MacOptions = NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA
        | NDIS_MAC_OPTION_TRANSFERS_NOT_PEND
        | NDIS_MAC_OPTION_NO_LOOPBACK
        | NDIS_MAC_OPTION_8021P_PRIORITY
        | NDIS_MAC_OPTION_8021Q_VLAN;
    general.SupportedPacketFilters = NDIS_PACKET_TYPE_DIRECTED
        | NDIS_PACKET_TYPE_MULTICAST
        | NDIS_PACKET_TYPE_ALL_MULTICAST
        | NDIS_PACKET_TYPE_BROADCAST
        | NDIS_PACKET_TYPE_PROMISCUOUS;
    general.MacAddressLength = 6;
    general.PermanentMacAddress[..6].copy_from_slice(&mac);
    general.CurrentMacAddress[..6].copy_from_slice(&mac);
    general.AccessType = NET_IF_ACCESS_BROADCAST;
    general.DirectionType = NET_IF_DIRECTION_SENDRECEIVE;
    general.ConnectionType = NET_IF_CONNECTION_DEDICATED;
    general.IfType = IF_TYPE_ETHERNET_CSMACD;
    general.IfConnectorPresent = 1;
    general.SupportedPauseFunctions = NdisPauseFunctionsUnsupported;
    // NDIS copies the list; it only reads it (the pointer type is C's non-const PNDIS_OID).
    general.SupportedOidList = SUPPORTED_OIDS.as_ptr().cast_mut();
    general.SupportedOidListLength =
        u32::try_from(core::mem::size_of_val(&SUPPORTED_OIDS)).unwrap_or(0);
    general.SupportedStatistics = general::SUPPORTED_STATISTICS;
    general.MaxMulticastListSize = u32::try_from(general::MAXIMUM_MULTICAST_LIST).unwrap_or(0);
    general
}

/// The `NDIS_LINK_STATE` for what the device reports.
#[must_use]
pub fn link_state(link: LinkState) -> NDIS_LINK_STATE {
    let speed = if link.up { u64::from(link.speed_mbps) * 1_000_000 } else { 0 };
    let duplex = match (link.up, link.full_duplex) {
        (false, _) => MediaDuplexStateUnknown,
        (true, true) => MediaDuplexStateFull,
        (true, false) => MediaDuplexStateHalf,
    };
    NDIS_LINK_STATE {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_DEFAULT,
            NDIS_LINK_STATE_REVISION_1,
            NDIS_SIZEOF_LINK_STATE_REVISION_1,
        ),
        MediaConnectState: if link.up {
            MediaConnectStateConnected
        } else {
            MediaConnectStateDisconnected
        },
        MediaDuplexState: duplex,
        XmitLinkSpeed: speed,
        RcvLinkSpeed: speed,
        PauseFunctions: NdisPauseFunctionsUnsupported,
        AutoNegotiationFlags: 0,
    }
}

fn hardware_assist_attributes(
    hardware: &mut NDIS_RECEIVE_FILTER_CAPABILITIES,
    current: &mut NDIS_RECEIVE_FILTER_CAPABILITIES,
) -> NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES {
    // SAFETY: all-zero is a valid value of this plain-data structure (NULL pointers).
    let mut assist: NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES =
        unsafe { core::mem::zeroed() };
    assist.Header = NDIS_OBJECT_HEADER::new(
        NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES,
        NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES_REVISION_3,
        NDIS_SIZEOF_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES_REVISION_3,
    );
    assist.HardwareReceiveFilterCapabilities = ptr::from_mut(hardware);
    assist.CurrentReceiveFilterCapabilities = ptr::from_mut(current);
    assist
}

fn interrupt_characteristics() -> NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
    NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
            NDIS_MINIPORT_INTERRUPT_REVISION_1,
            NDIS_SIZEOF_MINIPORT_INTERRUPT_CHARACTERISTICS_REVISION_1,
        ),
        // Line-based handlers are required too: the grant may be a single line interrupt.
        InterruptHandler: Some(line_isr),
        InterruptDpcHandler: Some(line_dpc),
        DisableInterruptHandler: Some(line_disable),
        EnableInterruptHandler: Some(line_enable),
        MsiSupported: 1,
        // Per-message synchronization: queues on different processors do not share a lock.
        MsiSyncWithAllMessages: 0,
        MessageInterruptHandler: Some(message_isr),
        MessageInterruptDpcHandler: Some(message_dpc),
        DisableMessageInterruptHandler: Some(message_disable),
        EnableMessageInterruptHandler: Some(message_enable),
        InterruptType: 0,
        MessageInfoTable: ptr::null_mut(),
    }
}

// ---------------------------------------------------------------------------------------------
// Interrupts. ISRs only read and acknowledge causes and queue the DPC; DPCs do the work.
// ---------------------------------------------------------------------------------------------

/// # Safety
/// `context` is the adapter registered with NdisMRegisterInterruptEx.
unsafe fn adapter_from<'a>(context: NDIS_HANDLE) -> Option<&'a Adapter> {
    // SAFETY: NDIS passes back the interrupt context the adapter registered, valid until
    // NdisMDeregisterInterruptEx returns (which waits for every ISR and DPC).
    unsafe { context.cast::<Adapter>().as_ref() }
}

/// `pending_causes` bit: the link changed.
const CAUSE_LINK_CHANGED: u32 = 1 << 0;

/// All-ones from the device: it is gone (surprise removal); stop touching it.
fn note_device_gone(adapter: &Adapter) {
    adapter.surprise_removed.store(true, Ordering::Release);
}

/// What the DPC of `message_id` serves: in MSI-X mode the entries pointing at the message; with
/// a single vector (MSI, line) everything, on the default pool.
fn route_of(adapter: &Adapter, message_id: ULONG) -> MessageRoute {
    if adapter.plan.kind == InterruptKind::MsiX {
        adapter.vectors.for_message(message_id)
    } else {
        MessageRoute { entries: 0, serves: SERVES_OTHER | serves_rx(DEFAULT_POOL) | SERVES_TX }
    }
}

/// The ISR's work for one interrupt: read (and so clear) the "other" causes if this vector
/// carries them, mask the vector until its DPC has run, and latch what the DPC must handle.
/// `false` when the interrupt is not this device's (a shared line) or the device is gone.
///
/// MSI-X: one EIMC write for the message's entries, plus one ICR read only on the vector that
/// carries the other causes; receive vectors read no register at all. MSI and line: IMS and ICR
/// are read to tell this device's interrupt from another's, then everything is masked.
fn claim_interrupt(adapter: &Adapter, route: MessageRoute) -> bool {
    let link_changed = if adapter.plan.kind == InterruptKind::MsiX {
        if route.entries == 0 {
            // No entry points at this message (a stale delivery after a re-point): not ours to
            // service, but a message is never shared, so it is claimed without a DPC.
            return false;
        }
        let link_changed = if route.serves & SERVES_OTHER != 0 {
            let Ok(causes) = igb::other_causes(adapter) else {
                note_device_gone(adapter);
                return false;
            };
            causes.link_changed
        } else {
            false
        };
        igb::mask_entries(adapter, route.entries);
        link_changed
    } else {
        let causes = match igb::line_interrupt_causes(adapter) {
            Ok(Some(causes)) => causes,
            Ok(None) => return false,
            Err(_) => {
                note_device_gone(adapter);
                return false;
            }
        };
        igb::disable_all_interrupts(adapter);
        causes.link_changed
    };
    if link_changed {
        adapter.pending_causes.fetch_or(CAUSE_LINK_CHANGED, Ordering::AcqRel);
    }
    true
}

/// Unmasks what [`claim_interrupt`] masked.
fn unmask(adapter: &Adapter, route: MessageRoute) {
    if adapter.plan.kind == InterruptKind::MsiX {
        igb::unmask_entries(adapter, route.entries);
    } else {
        igb::unmask_single_vector(adapter);
    }
}

/// NdisMIndicateStatusEx with `code` and `buffer` (spec §2.5's header and fields).
pub(super) fn indicate_status<T>(adapter: &Adapter, code: NDIS_STATUS, buffer: &mut T) {
    let indication = NDIS_STATUS_INDICATION {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_STATUS_INDICATION,
            NDIS_STATUS_INDICATION_REVISION_1,
            NDIS_SIZEOF_STATUS_INDICATION_REVISION_1,
        ),
        SourceHandle: adapter.miniport_handle,
        PortNumber: 0,
        StatusCode: code,
        Flags: 0,
        DestinationHandle: ptr::null_mut(),
        RequestId: ptr::null_mut(),
        StatusBuffer: ptr::from_mut(buffer).cast(),
        StatusBufferSize: u32::try_from(size_of::<T>()).unwrap_or(0),
        Guid: crate::ndis::GUID::default(),
        NdisReserved: [ptr::null_mut(); 4],
    };
    // SAFETY: the indication and its buffer live for the call; <= DISPATCH_LEVEL.
    unsafe { NdisMIndicateStatusEx(adapter.miniport_handle, &raw const indication) };
}

/// Indicates the link state the device reports now.
fn indicate_link_state(adapter: &Adapter) {
    let mut state = link_state(igb::link_state(adapter).unwrap_or(LinkState::DOWN));
    indicate_status(adapter, NDIS_STATUS_LINK_STATE, &mut state);
}

/// The DPC's work for one vector: a link change, then a receive batch on each pool the vector
/// carries (within NDIS's budget). Returns whether frames are left over; the vector then stays
/// masked and NDIS runs the DPC again (`MoreNblsPending`); otherwise it is unmasked.
fn service_vector(adapter: &Adapter, route: MessageRoute, budget: usize) -> bool {
    if route.serves & SERVES_OTHER != 0
        && adapter.pending_causes.swap(0, Ordering::AcqRel) & CAUSE_LINK_CHANGED != 0
    {
        indicate_link_state(adapter);
    }
    if route.serves & SERVES_TX != 0 {
        adapter.send.service(adapter.miniport_handle, adapter);
        adapter.complete_pause_if_idle();
    }
    let running = adapter.running.load(Ordering::Acquire);
    let mut frames_left = false;
    let mut pools = route.rx_pools();
    while pools != 0 {
        let pool = pools.trailing_zeros();
        pools &= pools - 1;
        if let Some(path) = adapter.receive.get(pool as usize) {
            let pass =
                path.service(adapter.miniport_handle, adapter, budget, path.pass_mode(running));
            frames_left |= pass.is_some_and(|p| p.more);
        }
    }
    frames_left
}

/// The DPC's budget from NDIS's throttle parameters (at most [`RECEIVE_BUDGET`]).
///
/// # Safety
/// `throttle` is NULL or the `NDIS_RECEIVE_THROTTLE_PARAMETERS` NDIS passed to the DPC.
unsafe fn dpc_budget(throttle: PVOID) -> usize {
    let throttle = throttle.cast::<NDIS_RECEIVE_THROTTLE_PARAMETERS>();
    // SAFETY: forwarded contract.
    let max = unsafe { throttle.as_ref() }.map(|t| t.MaxNblsToIndicate);
    max.and_then(|m| usize::try_from(m).ok()).unwrap_or(RECEIVE_BUDGET).min(RECEIVE_BUDGET)
}

/// Tells NDIS to run the DPC again (`MoreNblsPending`).
///
/// # Safety
/// As for [`dpc_budget`].
unsafe fn request_another_pass(throttle: PVOID) {
    let throttle = throttle.cast::<NDIS_RECEIVE_THROTTLE_PARAMETERS>();
    // SAFETY: forwarded contract; NDIS reads the flag when the DPC returns.
    if let Some(t) = unsafe { throttle.as_mut() } {
        t.Flags |= 1;
    }
}

/// The DPC of a message or of the line.
///
/// # Safety
/// `throttle` as for [`dpc_budget`].
unsafe fn dpc(adapter: &Adapter, message_id: ULONG, throttle: PVOID) {
    let route = route_of(adapter, message_id);
    // SAFETY: forwarded contract.
    let budget = unsafe { dpc_budget(throttle) };
    if service_vector(adapter, route, budget) {
        // SAFETY: forwarded contract.
        unsafe { request_another_pass(throttle) };
    } else {
        unmask(adapter, route);
    }
}

unsafe extern "system" fn message_isr(
    context: NDIS_HANDLE,
    message_id: ULONG,
    queue_default_dpc: *mut BOOLEAN,
    target_processors: *mut ULONG,
) -> BOOLEAN {
    // SAFETY: NDIS passes writable out parameters.
    unsafe { target_processors.write(0) };
    // SAFETY: the registered interrupt context.
    let Some(adapter) = (unsafe { adapter_from(context) }) else { return 0 };
    let queue_dpc = claim_interrupt(adapter, route_of(adapter, message_id));
    // SAFETY: as above.
    unsafe { queue_default_dpc.write(BOOLEAN::from(queue_dpc)) };
    // An MSI/MSI-X message is never shared: it is always this device's.
    1
}

unsafe extern "system" fn message_dpc(
    context: NDIS_HANDLE,
    message_id: ULONG,
    _dpc_context: PVOID,
    throttle: PVOID,
    _reserved: PVOID,
) {
    // SAFETY: the registered interrupt context.
    if let Some(adapter) = unsafe { adapter_from(context) } {
        // SAFETY: NDIS passes its receive throttle parameters.
        unsafe { dpc(adapter, message_id, throttle) };
    }
}

unsafe extern "system" fn message_disable(context: NDIS_HANDLE, _message_id: ULONG) {
    // SAFETY: the registered interrupt context.
    if let Some(adapter) = unsafe { adapter_from(context) } {
        igb::disable_all_interrupts(adapter);
    }
}

unsafe extern "system" fn message_enable(context: NDIS_HANDLE, message_id: ULONG) {
    // SAFETY: the registered interrupt context.
    if let Some(adapter) = unsafe { adapter_from(context) } {
        unmask(adapter, route_of(adapter, message_id));
    }
}

unsafe extern "system" fn line_isr(
    context: NDIS_HANDLE,
    queue_default_dpc: *mut BOOLEAN,
    target_processors: *mut ULONG,
) -> BOOLEAN {
    // SAFETY: NDIS passes writable out parameters.
    unsafe { target_processors.write(0) };
    // SAFETY: the registered interrupt context.
    let Some(adapter) = (unsafe { adapter_from(context) }) else { return 0 };
    // A line can be shared: an interrupt with no cause of ours is not ours.
    let ours = claim_interrupt(adapter, route_of(adapter, 0));
    // SAFETY: as above.
    unsafe { queue_default_dpc.write(BOOLEAN::from(ours)) };
    BOOLEAN::from(ours)
}

unsafe extern "system" fn line_dpc(
    context: NDIS_HANDLE,
    _dpc_context: PVOID,
    throttle: PVOID,
    _reserved: PVOID,
) {
    // SAFETY: the registered interrupt context.
    if let Some(adapter) = unsafe { adapter_from(context) } {
        // SAFETY: NDIS passes its receive throttle parameters.
        unsafe { dpc(adapter, 0, throttle) };
    }
}

unsafe extern "system" fn line_disable(context: NDIS_HANDLE) {
    // SAFETY: the registered interrupt context.
    if let Some(adapter) = unsafe { adapter_from(context) } {
        igb::disable_all_interrupts(adapter);
    }
}

unsafe extern "system" fn line_enable(context: NDIS_HANDLE) {
    // SAFETY: the registered interrupt context.
    if let Some(adapter) = unsafe { adapter_from(context) } {
        igb::unmask_single_vector(adapter);
    }
}

// ---------------------------------------------------------------------------------------------
// The other handlers every miniport has.
// ---------------------------------------------------------------------------------------------

/// # Safety
/// `context` is the adapter context NDIS passes to Miniport* handlers.
unsafe fn adapter_context<'a>(context: NDIS_HANDLE) -> Option<&'a Adapter> {
    // SAFETY: NDIS passes the registered adapter context, valid until MiniportHaltEx.
    unsafe { context.cast::<Adapter>().as_ref() }
}

/// MiniportPause: stop receiving and indicating, complete the sends still waiting for the
/// ring, then wait (PENDING) until NDIS has returned every receive NBL and the device has sent
/// what is in the ring; the return path or the transmit DPC completes the pause
/// (`Adapter::complete_pause_if_idle`).
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with the adapter context.
pub unsafe extern "system" fn miniport_pause(
    context: NDIS_HANDLE,
    _parameters: PVOID,
) -> NDIS_STATUS {
    // SAFETY: forwarded contract.
    let Some(adapter) = (unsafe { adapter_context(context) }) else { return NDIS_STATUS_SUCCESS };
    adapter.running.store(false, Ordering::Release);
    // Sends still waiting for the ring are completed now; those in the ring finish from the
    // transmit DPC, unless the device is gone: then nothing will ever send them.
    adapter.send.abort_waiting(adapter.miniport_handle, NDIS_STATUS_PAUSED, None, false);
    if adapter.surprise_removed.load(Ordering::Acquire) {
        adapter.send.abandon(adapter.miniport_handle, false);
    }
    // No new frames; those already in a ring stay there until Restart.
    let _ = igb::stop_receiver(adapter);
    adapter.pause_pending.store(true, Ordering::Release);
    // Whoever takes `pause_pending` back completes the pause: this call (SUCCESS) if nothing is
    // outstanding now, else the return of the last NBL (NdisMPauseComplete).
    if adapter.is_idle() && adapter.pause_pending.swap(false, Ordering::AcqRel) {
        NDIS_STATUS_SUCCESS
    } else {
        NDIS_STATUS_PENDING
    }
}

/// MiniportRestart: start receiving again.
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with the adapter context.
pub unsafe extern "system" fn miniport_restart(
    context: NDIS_HANDLE,
    _parameters: PVOID,
) -> NDIS_STATUS {
    // SAFETY: forwarded contract.
    let Some(adapter) = (unsafe { adapter_context(context) }) else { return NDIS_STATUS_FAILURE };
    if igb::start_receiver(adapter).is_err() {
        note_device_gone(adapter);
        return NDIS_STATUS_ADAPTER_NOT_READY;
    }
    adapter.running.store(true, Ordering::Release);
    NDIS_STATUS_SUCCESS
}

/// MiniportOidRequest: the VMQ sets and methods (`super::vmq`), then the general OIDs
/// (`oid::general`); any other method is `NDIS_STATUS_NOT_SUPPORTED`. Every request completes
/// synchronously except a FREE_QUEUE whose queue still has NBLs with NDIS (PENDING, completed
/// by the work item).
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL, one request at a time, with a request it owns until this
/// returns.
pub unsafe extern "system" fn miniport_oid_request(
    context: NDIS_HANDLE,
    request: *mut NDIS_OID_REQUEST,
) -> NDIS_STATUS {
    // SAFETY: forwarded contract.
    let Some(adapter) = (unsafe { adapter_context(context) }) else { return NDIS_STATUS_FAILURE };
    // SAFETY: NDIS passes a valid request it does not touch until this returns.
    let Some(request) = (unsafe { request.as_mut() }) else { return NDIS_STATUS_FAILURE };
    // SAFETY: NDIS sends one OID request at a time, and only this path uses `oid_state`.
    let state = unsafe { &mut *adapter.oid_state.get() };
    match request.RequestType {
        crate::ndis::NdisRequestQueryInformation | crate::ndis::NdisRequestQueryStatistics => {
            // SAFETY: for a query the DATA union holds QUERY_INFORMATION.
            let mut query = unsafe { request.DATA.QUERY_INFORMATION };
            // SAFETY: NDIS guarantees InformationBufferLength writable bytes at
            // InformationBuffer for a query (or a NULL buffer with length 0).
            let out = unsafe { buffer_mut(query.InformationBuffer, query.InformationBufferLength) };
            let snapshot = adapter.snapshot(&mut state.counters);
            let outcome = general::query(query.Oid, &snapshot, &state.settings, out);
            query.BytesWritten = outcome.bytes();
            query.BytesNeeded = outcome.needed();
            request.DATA.QUERY_INFORMATION = query;
            outcome.status(false)
        }
        crate::ndis::NdisRequestSetInformation => {
            // SAFETY: for a set the DATA union holds SET_INFORMATION.
            let mut set = unsafe { request.DATA.SET_INFORMATION };
            // SAFETY: NDIS guarantees InformationBufferLength readable bytes at
            // InformationBuffer for a set (or a NULL buffer with length 0).
            let input = unsafe { buffer(set.InformationBuffer, set.InformationBufferLength) };
            let handle = NonNull::from(&mut *request);
            let answer =
                super::vmq::set(adapter, state, handle, set.Oid, input).unwrap_or_else(|| {
                    let outcome = general::set(set.Oid, input, &mut state.settings);
                    if matches!(outcome, crate::oid::Outcome::Done { .. }) {
                        apply_receive_settings(adapter, &state.settings);
                    }
                    super::vmq::Answer::general(outcome)
                });
            set.BytesRead = answer.read;
            set.BytesNeeded = answer.needed;
            request.DATA.SET_INFORMATION = set;
            answer.status
        }
        crate::ndis::NdisRequestMethod => {
            // SAFETY: for a method the DATA union holds METHOD_INFORMATION.
            let mut method = unsafe { request.DATA.METHOD_INFORMATION };
            let length = method.InputBufferLength.max(method.OutputBufferLength);
            // SAFETY: NDIS guarantees a buffer of max(input, output) bytes for a method: the
            // input is read from it and the output written back in place.
            let bytes = unsafe { buffer_mut(method.InformationBuffer, length) };
            // The VMQ methods answer with the structure they were given, in place: a request is
            // read from, and answered within, the bytes that are both input and output room,
            // so a short output buffer is refused before anything is done.
            let usable = method.InputBufferLength.min(method.OutputBufferLength);
            let usable = usize::try_from(usable).unwrap_or(0).min(bytes.len());
            let in_out = bytes.get_mut(..usable).unwrap_or_default();
            let Some(answer) = super::vmq::method(adapter, state, method.Oid, in_out) else {
                return NDIS_STATUS_NOT_SUPPORTED;
            };
            method.BytesRead = answer.read;
            method.BytesWritten = answer.written;
            method.BytesNeeded = answer.needed;
            request.DATA.METHOD_INFORMATION = method;
            answer.status
        }
        _ => NDIS_STATUS_NOT_SUPPORTED,
    }
}

/// The output buffer of a query as a slice (empty for NULL).
///
/// # Safety
/// `buffer` is NULL or points to `length` writable bytes, not aliased for `'a`.
unsafe fn buffer_mut<'a>(buffer: PVOID, length: ULONG) -> &'a mut [u8] {
    let Ok(length) = usize::try_from(length) else { return &mut [] };
    if buffer.is_null() || length == 0 {
        return &mut [];
    }
    // SAFETY: forwarded contract.
    unsafe { core::slice::from_raw_parts_mut(buffer.cast::<u8>(), length) }
}

/// The input buffer of a set as a slice (empty for NULL).
///
/// # Safety
/// `buffer` is NULL or points to `length` readable bytes, unchanged for `'a`.
unsafe fn buffer<'a>(buffer: PVOID, length: ULONG) -> &'a [u8] {
    let Ok(length) = usize::try_from(length) else { return &[] };
    if buffer.is_null() || length == 0 {
        return &[];
    }
    // SAFETY: forwarded contract.
    unsafe { core::slice::from_raw_parts(buffer.cast::<u8>().cast_const(), length) }
}

/// MiniportCancelOidRequest: OIDs never pend in this driver, so there is nothing to cancel.
///
/// # Safety
/// Called by NDIS at <= DISPATCH_LEVEL.
pub unsafe extern "system" fn miniport_cancel_oid_request(
    _context: NDIS_HANDLE,
    _request_id: PVOID,
) {
}

/// MiniportSendNetBufferLists: while running, the NBLs join the transmit FIFO
/// ([`SendPath::send`]); while paused, they are completed at once with `NDIS_STATUS_PAUSED`,
/// as NDIS requires; after a surprise removal, with `NDIS_STATUS_FAILURE`.
///
/// # Safety
/// Called by NDIS at <= DISPATCH_LEVEL with a chain of NBLs it owns until completion.
pub unsafe extern "system" fn miniport_send_net_buffer_lists(
    context: NDIS_HANDLE,
    net_buffer_lists: *mut NET_BUFFER_LIST,
    _port: NDIS_PORT_NUMBER,
    send_flags: ULONG,
) {
    // SAFETY: forwarded contract.
    let Some(adapter) = (unsafe { adapter_context(context) }) else { return };
    let at_dispatch = send_flags & crate::ndis::NDIS_SEND_FLAGS_DISPATCH_LEVEL != 0;
    let removed = adapter.surprise_removed.load(Ordering::Acquire);
    if adapter.running.load(Ordering::Acquire) && !removed {
        adapter.send.send(adapter.miniport_handle, adapter, net_buffer_lists, at_dispatch);
        return;
    }
    // Paused, or the device is gone (nothing would ever send them).
    let status = if removed { NDIS_STATUS_FAILURE } else { NDIS_STATUS_PAUSED };
    let mut nbl = net_buffer_lists;
    while let Some(current) = NonNull::new(nbl) {
        // SAFETY: NDIS hands the driver the chain; each NBL is valid until completed.
        unsafe { (*current.as_ptr()).Status = status };
        // SAFETY: as above.
        nbl = unsafe { (*current.as_ptr()).Next };
    }
    let complete_flags =
        if at_dispatch { crate::ndis::NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL } else { 0 };
    // SAFETY: the chain NDIS passed, completed once, at the caller's IRQL.
    unsafe {
        NdisMSendNetBufferListsComplete(adapter.miniport_handle, net_buffer_lists, complete_flags);
    };
}

/// MiniportReturnNetBufferLists: each NBL goes back to its receive path, lock-free; the last
/// one back completes a pending pause.
///
/// # Safety
/// Called by NDIS at <= DISPATCH_LEVEL with NBLs this driver indicated.
pub unsafe extern "system" fn miniport_return_net_buffer_lists(
    context: NDIS_HANDLE,
    net_buffer_lists: *mut NET_BUFFER_LIST,
    _return_flags: ULONG,
) {
    // SAFETY: forwarded contract.
    let Some(adapter) = (unsafe { adapter_context(context) }) else { return };
    receive::return_nbls(&adapter.receive, net_buffer_lists);
    adapter.finish_free_queue_if_idle();
    adapter.complete_pause_if_idle();
}

/// MiniportCancelSend: NBLs marked with `cancel_id` that still wait for the ring are
/// completed with `NDIS_STATUS_SEND_ABORTED`; those already (partly) in the ring are sent.
///
/// # Safety
/// Called by NDIS at <= DISPATCH_LEVEL.
pub unsafe extern "system" fn miniport_cancel_send(context: NDIS_HANDLE, cancel_id: PVOID) {
    // SAFETY: forwarded contract.
    let Some(adapter) = (unsafe { adapter_context(context) }) else { return };
    adapter.send.abort_waiting(
        adapter.miniport_handle,
        crate::ndis::NDIS_STATUS_SEND_ABORTED,
        Some(cancel_id as usize),
        false,
    );
    adapter.complete_pause_if_idle();
}

/// MiniportDevicePnPEventNotify: on surprise removal, stop touching the hardware, and complete
/// the sends in the ring, which the device will never send ([`SendPath::abandon`]).
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with a valid event.
pub unsafe extern "system" fn miniport_device_pnp_event_notify(
    context: NDIS_HANDLE,
    event: *mut NET_DEVICE_PNP_EVENT,
) {
    // SAFETY: forwarded contract.
    let Some(adapter) = (unsafe { adapter_context(context) }) else { return };
    // SAFETY: NDIS passes a valid event for the call.
    let Some(event) = (unsafe { event.as_ref() }) else { return };
    if event.DevicePnPEvent == NdisDevicePnPEventSurpriseRemoved {
        adapter.surprise_removed.store(true, Ordering::Release);
        // The sends in the ring will never be sent nor written back: complete them now (and a
        // pause that waits for them).
        adapter.send.abandon(adapter.miniport_handle, false);
        adapter.complete_pause_if_idle();
    }
}

/// MiniportShutdownEx: quiet the device. May run at high IRQL during a bug check: registers
/// only, no allocation, no NDIS call.
///
/// # Safety
/// Called by NDIS with the adapter context.
pub unsafe extern "system" fn miniport_shutdown(context: NDIS_HANDLE, _action: ULONG) {
    // SAFETY: forwarded contract.
    if let Some(adapter) = unsafe { adapter_context(context) } {
        igb::disable_all_interrupts(adapter);
    }
}

const _: () = {
    // The adapter context NDIS stores is a pointer to this type; keep it free of alignment
    // beyond the pool's 16 bytes.
    assert!(core::mem::align_of::<Adapter>() <= 16);
};
