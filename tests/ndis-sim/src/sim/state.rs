//! What the simulated ndis.sys remembers between calls: the global state every export reads
//! and writes under one lock (never held while driver code runs).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Instant;

use vmqnic::interrupt::Processor;
use vmqnic::ndis::{
    MINIPORT_DISABLE_INTERRUPT, MINIPORT_DISABLE_MESSAGE_INTERRUPT, MINIPORT_ENABLE_INTERRUPT,
    MINIPORT_ENABLE_MESSAGE_INTERRUPT, MINIPORT_INTERRUPT_DPC, MINIPORT_ISR,
    MINIPORT_MESSAGE_INTERRUPT, MINIPORT_MESSAGE_INTERRUPT_DPC, NDIS_IO_WORKITEM_FUNCTION,
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS, NDIS_MINIPORT_PNP_CHARACTERISTICS, NDIS_OID_REQUEST,
    NDIS_STATUS, NET_BUFFER_LIST_POOL_PARAMETERS,
};

use super::cpu;
use super::machine::{Machine, SimBar};
use super::mmio::IoMapping;
use super::oid::{OidCompletion, OidKind};
use super::{
    GrantedInterrupts, ReceiveIndicationRecord, SendCompletionRecord, SimConfig,
    StatusIndicationRecord, Violation,
};
use crate::qemu::GpaRange;

/// Which NDIS callback (or simulated OS activity) is running; the innermost is last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    DriverEntry,
    SetOptions,
    Unload,
    AddDevice,
    FilterResources,
    StartDevice,
    RemoveDevice,
    Initialize,
    Halt,
    Pause,
    Restart,
    OidRequest,
    CancelOid,
    Send,
    Return,
    Shutdown,
    Isr,
    Dpc,
    Synchronize,
    /// An NDIS I/O work item's routine (PASSIVE_LEVEL, in a simulated system thread).
    WorkItem,
    /// MiniportDevicePnPEventNotify.
    DevicePnPEvent,
}

/// Who is answerable for freeing a pool block: it must be freed by the end of the matching
/// teardown (MiniportHaltEx for the adapter, MiniportRemoveDevice for the device, unload for
/// the driver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Allocated in DriverEntry, MiniportSetOptions or unload.
    Driver,
    /// Allocated by a PnP handler (AddDevice, FilterResourceRequirements, StartDevice).
    Device,
    /// Allocated while an adapter exists (InitializeEx until HaltEx returns).
    Adapter,
    /// Allocated outside any simulated lifecycle (a test calling an export directly).
    Unscoped,
}

/// A pool allocation the simulator handed out (or, for lists the PnP manager owns, adopted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Bytes.
    pub size: usize,
    /// Pool tag.
    pub tag: u32,
    /// Who allocated it: the driver, or the simulated PnP manager / bus driver.
    pub owner: Owner,
    /// Which teardown must have freed it.
    pub scope: Scope,
}

/// Who allocated a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The driver, through NdisAllocateMemoryWithTagPriority.
    Driver,
    /// The simulated PnP manager (the bus driver's requirements list).
    PnpManager,
}

/// One MSI-X table entry as the simulated OS programs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableEntry {
    /// The message the entry raises (`None`: never programmed).
    pub message: Option<u32>,
    /// Vector-control mask bit.
    pub masked: bool,
    /// Without a device: the entry was signalled while masked (the PBA bit).
    pub pending: bool,
}

/// Where the adapter is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AdapterState {
    /// No device (before AddDevice, after RemoveDevice).
    #[default]
    Absent,
    /// AddDevice done; not initialized.
    Added,
    /// MiniportInitializeEx is running.
    Initializing,
    /// Initialized and paused (also after a completed pause).
    Paused,
    /// MiniportRestart returned PENDING.
    Restarting,
    /// Running: data may flow.
    Running,
    /// MiniportPause returned PENDING.
    Pausing,
    /// MiniportHaltEx is running.
    Halting,
    /// MiniportHaltEx returned (the device is not yet removed).
    Halted,
}

impl AdapterState {
    /// Between the start of MiniportInitializeEx and the return of MiniportHaltEx.
    #[must_use]
    pub fn adapter_exists(self) -> bool {
        matches!(
            self,
            AdapterState::Initializing
                | AdapterState::Paused
                | AdapterState::Restarting
                | AdapterState::Running
                | AdapterState::Pausing
                | AdapterState::Halting
        )
    }
}

/// The registered driver.
#[derive(Clone, Copy)]
pub(crate) struct DriverRecord {
    pub(crate) context: usize,
    pub(crate) characteristics: NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
    pub(crate) pnp: Option<NDIS_MINIPORT_PNP_CHARACTERISTICS>,
    pub(crate) deregistered: bool,
}

/// The interrupt handlers of a connection.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct InterruptHandlers {
    pub(crate) isr: Option<MINIPORT_ISR>,
    pub(crate) dpc: Option<MINIPORT_INTERRUPT_DPC>,
    pub(crate) disable: Option<MINIPORT_DISABLE_INTERRUPT>,
    pub(crate) enable: Option<MINIPORT_ENABLE_INTERRUPT>,
    pub(crate) message_isr: Option<MINIPORT_MESSAGE_INTERRUPT>,
    pub(crate) message_dpc: Option<MINIPORT_MESSAGE_INTERRUPT_DPC>,
    pub(crate) message_disable: Option<MINIPORT_DISABLE_MESSAGE_INTERRUPT>,
    pub(crate) message_enable: Option<MINIPORT_ENABLE_MESSAGE_INTERRUPT>,
}

/// The interrupt NdisMRegisterInterruptEx connected.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Connection {
    pub(crate) context: usize,
    pub(crate) handlers: InterruptHandlers,
    pub(crate) message_based: bool,
    pub(crate) deregistered: bool,
}

/// A DPC queued and not yet run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QueuedDpc {
    pub(crate) message: u32,
    pub(crate) processor: Processor,
    pub(crate) context: usize,
}

/// Shared memory from NdisAllocateSharedMemory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SharedBlock {
    pub(crate) range: GpaRange,
    pub(crate) length: u32,
    pub(crate) queue_id: u32,
    pub(crate) shared_handle: usize,
}

/// Shared memory from NdisMAllocateSharedMemory (kept by its virtual address).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MiniportSharedBlock {
    pub(crate) range: GpaRange,
    /// `Length` as requested (the range is whole pages).
    pub(crate) length: u32,
    /// `Cached` as requested (any non-zero BOOLEAN is TRUE).
    pub(crate) cached: bool,
}

/// A pool from NdisAllocateNetBufferListPool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NblPool {
    /// The parameters it was created with (`Flags` zero for revision 1).
    pub(crate) parameters: NET_BUFFER_LIST_POOL_PARAMETERS,
    /// Which teardown must have freed it.
    pub(crate) scope: Scope,
}

/// An NBL (with its preallocated NB) from NdisAllocateNetBufferAndNetBufferList.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NblRecord {
    /// The pool handle it came from (the pool may since have been freed, wrongly).
    pub(crate) pool: usize,
    /// Which teardown must have freed it.
    pub(crate) scope: Scope,
}

/// An MDL from NdisAllocateMdl.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MdlRecord {
    /// The buffer it describes: virtual address and length, as allocated.
    pub(crate) virtual_address: usize,
    pub(crate) length: u32,
    /// Bytes of the MDL's own block (the MDL and its PFN array).
    pub(crate) block_size: usize,
    /// Which teardown must have freed it.
    pub(crate) scope: Scope,
}

/// An NDIS I/O work item from NdisAllocateIoWorkItem (kept by its handle).
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorkItemRecord {
    /// Which teardown must have freed it: the driver's unload for a work item of the driver
    /// handle, otherwise the scope that was running when it was allocated.
    pub(crate) scope: Scope,
    /// Queued and not yet run: what NdisQueueIoWorkItem asked for.
    pub(crate) queued: Option<QueuedWorkItem>,
}

/// One NdisQueueIoWorkItem waiting for its routine to run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueuedWorkItem {
    /// The routine (NdisQueueIoWorkItem refuses NULL).
    pub(crate) routine: NDIS_IO_WORKITEM_FUNCTION,
    /// `WorkItemContext`.
    pub(crate) context: usize,
    /// Where NdisQueueIoWorkItem was called.
    pub(crate) queued_on: cpu::CpuContext,
}

/// A configuration handle NdisOpenConfigurationEx returned and NdisCloseConfiguration has not
/// closed yet.
#[derive(Clone, Debug)]
pub(crate) struct ConfigurationRecord {
    /// The NDIS handle it was opened with (the adapter's or the driver's).
    pub(crate) owner: usize,
    /// Which teardown must have closed it: MiniportHaltEx for the adapter's, unload for the
    /// driver's.
    pub(crate) scope: Scope,
    /// Opened by MiniportInitializeEx (which must close it before it returns).
    pub(crate) in_initialize: bool,
    /// The values read through it (made inaccessible when it closes).
    pub(crate) blocks: Vec<super::registry::ParameterBlock>,
}

/// An NDIS spin lock NdisAllocateSpinLock initialized, by the address of its
/// `NDIS_SPIN_LOCK`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SpinLockRecord {
    /// Given up with NdisFreeSpinLock (kept to tell a freed lock from a foreign one).
    pub(crate) freed: bool,
    /// Who holds it.
    pub(crate) holder: Option<LockHolder>,
    /// Acquisitions of the lock while it was held: each was reported and skipped (on one
    /// thread it would never return), and the release that pairs with it is skipped too.
    pub(crate) nested: u32,
}

/// Who holds a spin lock, and since when.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LockHolder {
    /// The processor that acquired it.
    pub(crate) processor: Processor,
    /// Depth of the phase stack at the acquisition: the handler at this depth must release it
    /// before it returns (0: acquired outside any handler, by a test).
    pub(crate) depth: usize,
    /// That handler, for messages.
    pub(crate) phase: Option<Phase>,
    /// Acquired with NdisDprAcquireSpinLock (release with NdisDprReleaseSpinLock).
    pub(crate) dpr: bool,
}

/// What the adapter told NDIS about itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct AdapterRecord {
    pub(crate) context: usize,
    pub(crate) registration: Option<(u32, u32)>,
    pub(crate) general: Option<Vec<u8>>,
    pub(crate) hardware_assist: bool,
    pub(crate) hardware_receive_filter: Option<Vec<u8>>,
    pub(crate) current_receive_filter: Option<Vec<u8>>,
}

/// An OID request NDIS issued.
pub(crate) struct OidRecord {
    pub(crate) id: u64,
    pub(crate) oid: u32,
    pub(crate) kind: OidKind,
    /// Stable while the driver may hold it; kept until the simulation ends so that a late
    /// completion of a finished request is recognized (and writes nothing anywhere else).
    pub(crate) request: RequestBox,
    pub(crate) buffer: Vec<u64>,
    /// Bytes of `buffer` that form the information buffer.
    pub(crate) length: usize,
    pub(crate) issued: Instant,
    pub(crate) completion: Option<OidCompletion>,
}

/// An `NDIS_OID_REQUEST` at a stable address.
pub(crate) struct RequestBox(pub(crate) Box<NDIS_OID_REQUEST>);

// SAFETY: the request is plain data (its raw pointers point at the record's own buffer). It is
// read or written by the simulator only under the state lock, and by the driver only through
// the pointer NDIS handed it, exactly as on Windows, where a request may be completed on any
// processor.
unsafe impl Send for RequestBox {}

/// Everything the exports read and write.
#[derive(Default)]
pub struct SimState {
    /// The configuration.
    pub config: Option<SimConfig>,
    /// Live pool allocations by address.
    pub allocations: BTreeMap<usize, Allocation>,
    /// Contract violations, in order.
    pub violations: Vec<Violation>,
    /// The miniport adapter handle NDIS gives the driver (an address the simulator owns).
    pub miniport_handle: usize,
    /// The driver handle NdisMRegisterMiniportDriver returns.
    pub driver_handle: usize,
    /// The add-device context the driver registered.
    pub add_device_context: Option<usize>,
    /// Calls of NdisGetRssProcessorInformation.
    pub rss_queries: usize,
    /// The MSI-X table (one entry per table entry of the device's capability).
    pub msix_table: Vec<TableEntry>,
    /// Messages the simulated OS granted (NdisMConfigMSIXTableEntry checks against it).
    pub granted_messages: u32,
    /// Whether NdisMConfigMSIXTableEntry may be called (MiniportInitializeEx .. HaltEx return).
    pub msix_config_allowed: bool,
    /// Every NdisMConfigMSIXTableEntry call: (operation, entry, message, status).
    pub msix_calls: Vec<(u32, u32, u32, NDIS_STATUS)>,

    pub(crate) phases: Vec<Phase>,
    pub(crate) machine: Option<Arc<Machine>>,
    pub(crate) bars: Vec<SimBar>,
    /// Bus address ranges of the MSI-X table and PBA (the OS's, not the driver's).
    pub(crate) msix_structures: Vec<(u64, u64)>,
    pub(crate) driver: Option<DriverRecord>,
    pub(crate) adapter_state: AdapterState,
    pub(crate) adapter: AdapterRecord,
    pub(crate) grant: Option<GrantedInterrupts>,
    /// The requirements list after the driver's filter (what resources are assigned from).
    pub(crate) requirements: Vec<u8>,
    /// Backing store of the translated CM_PARTIAL_RESOURCE_LIST (4-byte aligned).
    pub(crate) translated_resources: Vec<u32>,
    /// Backing store of the IO_INTERRUPT_MESSAGE_INFO (8-byte aligned).
    pub(crate) message_info: Vec<u64>,
    pub(crate) mailboxes: Option<GpaRange>,
    pub(crate) line_interrupts_signalled: u32,
    pub(crate) interrupt: Option<Connection>,
    pub(crate) dpcs: VecDeque<QueuedDpc>,
    pub(crate) mappings: Vec<IoMapping>,
    pub(crate) sg_dma: Option<bool>,
    pub(crate) shared_memory: BTreeMap<usize, SharedBlock>,
    /// Live NdisMAllocateSharedMemory blocks by virtual address.
    pub(crate) miniport_shared_memory: BTreeMap<usize, MiniportSharedBlock>,
    /// VM queues for which the driver indicated `NDIS_STATUS_RECEIVE_QUEUE_STATE` /
    /// DmaStopped, until the last shared-memory block of the queue is freed.
    pub(crate) dma_stopped_queues: BTreeSet<u32>,
    /// Freed shared memory in quarantine, oldest first (`sim::freed_memory`).
    pub(crate) freed_memory: VecDeque<super::freed_memory::FreedRecord>,
    /// VM queues as the OIDs the simulator issued left them (`sim::vmq`).
    pub(crate) vmq_queues: super::vmq::Queues,
    pub(crate) next_handle: usize,
    pub(crate) oids: Vec<OidRecord>,
    pub(crate) status_indications: Vec<StatusIndicationRecord>,
    pub(crate) receives: Vec<ReceiveIndicationRecord>,
    /// Indicated NBL chains not yet returned: (head, flags of the indication).
    pub(crate) unreturned: Vec<(usize, u32)>,
    pub(crate) sends_outstanding: BTreeSet<usize>,
    pub(crate) send_completions: Vec<SendCompletionRecord>,
    /// Live NBL pools by handle.
    pub(crate) nbl_pools: BTreeMap<usize, NblPool>,
    /// Live NBLs from the driver's pools, by address.
    pub(crate) nbls: BTreeMap<usize, NblRecord>,
    /// Live MDLs from NdisAllocateMdl, by address.
    pub(crate) mdls: BTreeMap<usize, MdlRecord>,
    /// Send NBLs the simulated protocol built (kept alive until the simulation ends).
    pub(crate) protocol_sends: Vec<super::exports::nbl::ProtocolPacket>,
    /// NDIS spin locks by address (allocated, freed, held).
    pub(crate) spin_locks: BTreeMap<usize, SpinLockRecord>,
    /// Live NDIS I/O work items by handle.
    pub(crate) work_items: BTreeMap<usize, WorkItemRecord>,
    /// The queued work items, in queue order (each has `queued` set in `work_items`).
    pub(crate) work_item_queue: VecDeque<usize>,
    /// Every work-item routine the simulator ran, in order.
    pub(crate) work_item_runs: Vec<super::WorkItemRun>,
    /// Open configuration handles (NdisOpenConfigurationEx) by handle.
    pub(crate) configurations: BTreeMap<usize, ConfigurationRecord>,
    /// Every NdisReadConfiguration call, in order.
    pub(crate) configuration_reads: Vec<super::registry::ConfigurationRead>,
    /// Every value's memory ever handed out (live or made inaccessible), unmapped when the
    /// simulation ends.
    pub(crate) parameter_blocks: Vec<super::registry::ParameterBlock>,
    /// Calls of each allocating export since the start, successful or not.
    pub(crate) allocation_calls: BTreeMap<&'static str, u64>,
    /// Armed and injected faults (`Sim::inject_fault`).
    pub(crate) faults: super::faults::Faults,
    /// The device was surprise-removed (`Sim::surprise_remove`).
    pub(crate) surprise_removed: bool,
    /// Register reads/writes through NdisMMapIoSpace mappings since the start.
    pub(crate) register_reads: u64,
    pub(crate) register_writes: u64,
    /// The same per register: offset in its mapping -> (reads, writes).
    pub(crate) register_counts: BTreeMap<u64, (u64, u64)>,
    pub(crate) stalled_microseconds: u64,
}

impl SimState {
    /// Records what a finished OID did to the VM queues.
    pub(crate) fn track_vmq(&mut self, index: usize) {
        let Some(record) = self.oids.get(index) else { return };
        let Some(completion) = &record.completion else { return };
        let (oid, status, buffer) = (record.oid, completion.status, completion.buffer.clone());
        super::vmq::track(&mut self.vmq_queues, oid, status, &buffer);
    }

    /// NBLs of VM queue `queue` that the simulated protocols still hold (indicated without
    /// `NDIS_RECEIVE_FLAGS_RESOURCES` and not yet returned).
    pub(crate) fn nbls_outstanding_for_queue(&self, queue: u32) -> usize {
        self.unreturned
            .iter()
            .filter_map(|(head, _)| {
                self.receives
                    .iter()
                    .rev()
                    .find(|r| r.nbls.first().map(|n| n.address) == Some(*head))
            })
            .map(|record| record.nbls.iter().filter(|n| u32::from(n.queue_id) == queue).count())
            .sum()
    }

    /// Addresses of the NBLs the simulated protocols hold (indicated without
    /// `NDIS_RECEIVE_FLAGS_RESOURCES` and not yet returned).
    pub(crate) fn held_nbls(&self) -> BTreeSet<usize> {
        self.unreturned
            .iter()
            .filter_map(|(head, _)| {
                self.receives
                    .iter()
                    .rev()
                    .find(|r| r.nbls.first().map(|n| n.address) == Some(*head))
            })
            .flat_map(|record| record.nbls.iter().map(|n| n.address))
            .collect()
    }

    /// Counts a call of the allocating export `function` (see `Sim::allocation_calls`) and
    /// says whether an injected fault makes it fail (`Sim::inject_fault`).
    #[must_use]
    pub(crate) fn count_allocation(&mut self, function: &'static str) -> bool {
        *self.allocation_calls.entry(function).or_default() += 1;
        self.inject(function, true)
    }

    /// Records a violation of `rule`.
    pub fn violate(&mut self, rule: &'static str, detail: impl Into<String>) {
        self.violations.push(Violation { rule, detail: detail.into() });
    }

    /// The innermost running phase.
    pub(crate) fn phase(&self) -> Option<Phase> {
        self.phases.last().copied()
    }

    /// Whether `phase` is running anywhere on the stack.
    pub(crate) fn in_phase(&self, phase: Phase) -> bool {
        self.phases.contains(&phase)
    }

    /// Takes the queued work items `select` picks off the queue: their routines will never run
    /// (the adapter or the driver they belong to is gone). Returns how many.
    pub(crate) fn drop_queued_work_items(
        &mut self,
        select: impl Fn(&WorkItemRecord) -> bool,
    ) -> usize {
        let mut dropped = 0;
        let work_items = &mut self.work_items;
        self.work_item_queue.retain(|handle| match work_items.get_mut(handle) {
            Some(record) if select(record) => {
                record.queued = None;
                dropped += 1;
                false
            }
            Some(_) => true,
            None => false,
        });
        dropped
    }

    /// The scope a pool allocation made now belongs to.
    pub(crate) fn allocation_scope(&self) -> Scope {
        match self.phase() {
            Some(Phase::DriverEntry | Phase::SetOptions | Phase::Unload) => Scope::Driver,
            // A work item running while no adapter exists works for the driver.
            Some(Phase::WorkItem) if !self.adapter_state.adapter_exists() => Scope::Driver,
            Some(
                Phase::AddDevice
                | Phase::FilterResources
                | Phase::StartDevice
                | Phase::RemoveDevice,
            ) => Scope::Device,
            Some(_) => Scope::Adapter,
            None if self.adapter_state.adapter_exists() => Scope::Adapter,
            None => Scope::Unscoped,
        }
    }

    /// A fresh opaque handle value: non-null, never dereferenceable (an address in a range no
    /// Linux user mapping uses), unique for this simulation.
    pub(crate) fn new_handle(&mut self) -> usize {
        self.next_handle += 1;
        0x00FF_4E44_0000_0000 + self.next_handle * 0x10
    }

    /// The machine, if the simulation has started.
    pub(crate) fn machine(&self) -> Option<Arc<Machine>> {
        self.machine.clone()
    }
}

static STATE: LazyLock<Mutex<SimState>> = LazyLock::new(|| Mutex::new(SimState::default()));

/// Runs `f` on the simulator state. The lock is never held while driver code runs.
pub fn with_state<R>(f: impl FnOnce(&mut SimState) -> R) -> R {
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut state)
}

/// Runs the driver handler `f` as `phase`: pushes the phase for the duration of `f` (popped
/// also when `f` panics) and, when `f` returns, checks that it released every spin lock it
/// acquired ([`check_locks_released`]). Every call of driver code goes through here.
///
/// When the outermost handler has returned to the simulator (the phase stack is empty again),
/// the work items queued meanwhile run, each in its own [`Phase::WorkItem`]
/// ([`super::work_items::drain`]); except after MiniportInitializeEx, MiniportHaltEx and
/// MiniportDriverUnload, whose callers first check what is still queued
/// ([`super::work_items::runs_after`]).
pub(crate) fn in_phase<R>(phase: Phase, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            with_state(|s| s.phases.pop());
        }
    }
    let entry = cpu::current();
    let depth = with_state(|s| {
        s.phases.push(phase);
        s.phases.len()
    });
    let pop = Pop;
    let result = f();
    check_locks_released(phase, depth, entry);
    drop(pop);
    if depth == 1 && super::work_items::runs_after(phase) {
        super::work_items::drain();
    }
    result
}

/// The handler `phase`, running at phase depth `depth` and entered in `entry`, has returned:
/// a spin lock it (or code it called) acquired and still holds is a violation (DDI rules
/// SpinLock and SpinLockDpr: the lock is released before the handler exits). The simulator
/// then releases the lock and puts the IRQL back to what it was at entry, so that one mistake
/// is reported once rather than as every later call's IRQL.
fn check_locks_released(phase: Phase, depth: usize, entry: cpu::CpuContext) {
    let leaked = with_state(|s| {
        let mut leaked = Vec::new();
        for (address, record) in &mut s.spin_locks {
            if let Some(holder) = record.holder.filter(|h| h.depth >= depth) {
                leaked.push((*address, holder));
                record.holder = None;
                record.nested = 0;
            }
        }
        for (address, holder) in &leaked {
            let acquired =
                if holder.dpr { "NdisDprAcquireSpinLock" } else { "NdisAcquireSpinLock" };
            s.violate(
                super::rules::SPIN_LOCK_HELD_AT_RETURN,
                format!(
                    "{phase:?} returned holding spin lock {address:#x} ({acquired} in {:?} on \
                     processor {}:{})",
                    holder.phase, holder.processor.group, holder.processor.number
                ),
            );
        }
        !leaked.is_empty()
    });
    if leaked {
        cpu::set(entry);
    }
}
