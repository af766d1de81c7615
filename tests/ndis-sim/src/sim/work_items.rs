//! NDIS I/O work items as the simulated OS runs them.
//!
//! On Windows, NdisQueueIoWorkItem hands the work item to a system worker thread, which calls
//! its routine at PASSIVE_LEVEL some time later. Everything here runs on the test's one
//! thread, so "later" is a fixed point: **once the driver call that queued the work item has
//! returned to the simulator**. `state::in_phase` drains the queue whenever the outermost driver
//! handler returns (the phase stack is empty again): after an ISR, after each DPC, after the
//! protocol's NBL return, after MiniportOidRequest, MiniportSendNetBufferLists, Pause, Restart,
//! the PnP handlers, and so on. A drain runs every queued routine in queue order, each at
//! PASSIVE_LEVEL on the first processor (the one PASSIVE_LEVEL handlers run on), in its own
//! phase of its own (so a lock it keeps is reported as any handler's), including work items
//! queued by work items. A routine never runs inside another handler, nor before the call
//! that queued it has returned.
//!
//! Three handlers are the exception: after MiniportInitializeEx,
//! MiniportHaltEx and MiniportDriverUnload the simulator first checks what is still queued.
//! A successful InitializeEx's work items then run; the work items of an adapter whose
//! InitializeEx failed or whose HaltEx returned never run (a violation), nor do those still
//! queued when the driver deregisters or unloads. Before MiniportHaltEx, the simulator drains
//! the queue, so that Halt's checks never see a work item queued earlier still pending.
//!
//! Work items queued by test code outside every handler (through
//! [`Sim::run_on`](super::Sim::run_on), say) run at the next drain, or at
//! [`Sim::run_work_items`].

use std::cell::Cell;

use vmqnic::interrupt::Processor;
use vmqnic::ndis::{NDIS_HANDLE, PVOID};

use super::Sim;
use super::cpu::{self, CpuContext, PASSIVE_LEVEL};
use super::state::{Phase, Scope, in_phase, with_state};

/// Work-item routines one drain runs at most: a work item that queues itself again every time
/// would otherwise never let the simulator go on. The rest stay queued for the next drain.
pub const MAX_RUNS_PER_DRAIN: usize = 10_000;

/// One run of a work-item routine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItemRun {
    /// The work item's handle (the routine's `NdisIoWorkItemHandle`).
    pub handle: usize,
    /// `WorkItemContext`, as NdisQueueIoWorkItem got it.
    pub context: usize,
    /// The processor NdisQueueIoWorkItem was called on.
    pub queued_on: Processor,
    /// The IRQL NdisQueueIoWorkItem was called at.
    pub queued_at_irql: u8,
    /// The processor the routine ran on (the first one).
    pub processor: Processor,
    /// The IRQL the routine ran at (PASSIVE_LEVEL).
    pub irql: u8,
}

/// A live NDIS I/O work item (see [`Sim::work_items`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItemState {
    /// The handle NdisAllocateIoWorkItem returned.
    pub handle: usize,
    /// Which teardown must have freed it: [`Scope::Driver`] for a work item of the driver
    /// handle (freed before unload), otherwise the scope that allocated it
    /// ([`Scope::Adapter`]: freed by the time MiniportHaltEx returns).
    pub scope: Scope,
    /// Queued, and its routine has not run yet.
    pub queued: bool,
}

thread_local! {
    /// A drain is running on this thread (the routines it calls return through `in_phase`).
    static DRAINING: Cell<bool> = const { Cell::new(false) };
}

/// Whether the work items queued by the outermost handler `phase` run as soon as it returns
/// (see the module docs for the three that do not).
pub(crate) fn runs_after(phase: Phase) -> bool {
    !matches!(phase, Phase::Initialize | Phase::Halt | Phase::Unload | Phase::WorkItem)
}

/// Runs the queued work items, in queue order, each at PASSIVE_LEVEL on the first processor in
/// its own phase, until the queue is empty (or [`MAX_RUNS_PER_DRAIN`] ran). Does nothing when
/// called from inside a drain (the outer one goes on with what was queued meanwhile).
pub(crate) fn drain() -> Vec<WorkItemRun> {
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            DRAINING.set(false);
        }
    }
    if DRAINING.replace(true) {
        return Vec::new();
    }
    let _done = Done;
    let mut runs = Vec::new();
    while runs.len() < MAX_RUNS_PER_DRAIN {
        let next = with_state(|s| {
            let processor = s.config.as_ref().map(super::SimConfig::passive_processor)?;
            while let Some(handle) = s.work_item_queue.pop_front() {
                // The routine may queue or free its own work item: it is not queued any more.
                if let Some(queued) = s.work_items.get_mut(&handle).and_then(|r| r.queued.take()) {
                    return Some((handle, queued, processor));
                }
            }
            None
        });
        let Some((handle, queued, processor)) = next else { break };
        let here = CpuContext { processor, irql: PASSIVE_LEVEL };
        in_phase(Phase::WorkItem, || {
            cpu::run_as(here, || {
                // SAFETY: the routine and context the driver queued (NdisQueueIoWorkItem's
                // caller vouches that the routine may be called with them), with the work
                // item's handle, at PASSIVE_LEVEL in no other handler, as a system worker
                // thread calls it.
                unsafe { (queued.routine)(queued.context as PVOID, handle as NDIS_HANDLE) };
            });
        });
        let run = WorkItemRun {
            handle,
            context: queued.context,
            queued_on: queued.queued_on.processor,
            queued_at_irql: queued.queued_on.irql,
            processor,
            irql: PASSIVE_LEVEL,
        };
        with_state(|s| s.work_item_runs.push(run));
        runs.push(run);
    }
    runs
}

impl Sim {
    /// Runs the work items that are queued now (and those they queue), as the simulator does
    /// on its own whenever a driver handler returns to it (see the module docs). For work items
    /// test code queued outside every handler. Returns the runs, in order.
    pub fn run_work_items(&self) -> Vec<WorkItemRun> {
        drain()
    }

    /// The live work items (NdisAllocateIoWorkItem'd, not yet NdisFreeIoWorkItem'd), in handle
    /// order.
    #[must_use]
    pub fn work_items(&self) -> Vec<WorkItemState> {
        with_state(|s| {
            s.work_items
                .iter()
                .map(|(handle, record)| WorkItemState {
                    handle: *handle,
                    scope: record.scope,
                    queued: record.queued.is_some(),
                })
                .collect()
        })
    }

    /// Every work-item routine that ran since the start, in order.
    #[must_use]
    pub fn work_item_runs(&self) -> Vec<WorkItemRun> {
        with_state(|s| s.work_item_runs.clone())
    }
}
