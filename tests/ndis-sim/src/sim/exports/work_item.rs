//! NDIS I/O work items: NdisAllocateIoWorkItem, NdisQueueIoWorkItem, NdisFreeIoWorkItem.
//! The simulated OS runs the queued routines ([`crate::sim::work_items`]: at PASSIVE_LEVEL,
//! once the driver call that queued them has returned to the simulator).

use vmqnic::ndis::{self, NDIS_HANDLE, NDIS_IO_WORKITEM_ROUTINE, PVOID};

use super::{check_irql, handle_rule, irql_rule};
use crate::sim::cpu::{self, DISPATCH_LEVEL};
use crate::sim::rules;
use crate::sim::state::{QueuedWorkItem, Scope, WorkItemRecord, with_state};

/// `NdisAllocateIoWorkItem`: a work item for the miniport adapter handle or the driver handle
/// (anything else is the `NdisAllocateIoWorkItem.Handle` violation, and NULL). A work item of
/// the driver handle must be freed before the driver unloads; one of the adapter handle by the
/// end of the scope that allocated it (MiniportHaltEx for the adapter's, RemoveDevice for the
/// PnP handlers'). Every call is counted
/// ([`Sim::allocation_calls`](crate::sim::Sim::allocation_calls)). IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisAllocateIoWorkItem(NdisObjectHandle: NDIS_HANDLE) -> NDIS_HANDLE {
    let item = with_state(|s| {
        let injected = s.count_allocation("NdisAllocateIoWorkItem");
        check_irql(s, irql_rule!(NdisAllocateIoWorkItem), DISPATCH_LEVEL);
        let handle = NdisObjectHandle as usize;
        let driver = s.driver.is_some_and(|d| !d.deregistered) && handle == s.driver_handle;
        let adapter = handle == s.miniport_handle && handle != 0;
        if !driver && !adapter {
            s.violate(
                handle_rule!(NdisAllocateIoWorkItem),
                format!(
                    "called with {NdisObjectHandle:?}, neither the miniport adapter nor the \
                     driver handle"
                ),
            );
            return None;
        }
        if injected {
            return None;
        }
        let scope = if driver { Scope::Driver } else { s.allocation_scope() };
        let item = s.new_handle();
        s.work_items.insert(item, WorkItemRecord { scope, queued: None });
        Some(item)
    });
    item.map_or(std::ptr::null_mut(), |h| h as NDIS_HANDLE)
}
const _: ndis::sig::NdisAllocateIoWorkItem = NdisAllocateIoWorkItem;

/// `NdisQueueIoWorkItem`: queues a live work item that is not queued yet, with a non-NULL
/// routine; the simulator calls `Routine(WorkItemContext, NdisIoWorkItemHandle)` at
/// PASSIVE_LEVEL once the driver call that queued it has returned. IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `Routine` may be called once with `WorkItemContext` and the work item's handle, at
/// PASSIVE_LEVEL, any time until the simulation ends (as a system worker thread would).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisQueueIoWorkItem(
    NdisIoWorkItemHandle: NDIS_HANDLE,
    Routine: NDIS_IO_WORKITEM_ROUTINE,
    WorkItemContext: PVOID,
) {
    let queued_on = cpu::current();
    with_state(|s| {
        check_irql(s, irql_rule!(NdisQueueIoWorkItem), DISPATCH_LEVEL);
        let item = NdisIoWorkItemHandle as usize;
        let Some(record) = s.work_items.get(&item).copied() else {
            s.violate(
                rules::QUEUE_WORK_ITEM_UNKNOWN,
                format!("{NdisIoWorkItemHandle:?} is not a live work item"),
            );
            return;
        };
        if record.queued.is_some() {
            s.violate(
                rules::QUEUE_WORK_ITEM_ALREADY_QUEUED,
                format!("work item {NdisIoWorkItemHandle:?} is queued and has not run yet"),
            );
            return;
        }
        let Some(routine) = Routine else {
            s.violate(
                rules::QUEUE_WORK_ITEM_NULL_ROUTINE,
                format!("work item {NdisIoWorkItemHandle:?} queued without a routine"),
            );
            return;
        };
        let queued = QueuedWorkItem { routine, context: WorkItemContext as usize, queued_on };
        s.work_items.insert(item, WorkItemRecord { queued: Some(queued), ..record });
        s.work_item_queue.push_back(item);
    });
}
const _: ndis::sig::NdisQueueIoWorkItem = NdisQueueIoWorkItem;

/// `NdisFreeIoWorkItem`: frees a live work item that is not queued (its own routine may free
/// it: it is no longer queued while it runs). IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisFreeIoWorkItem(NdisIoWorkItemHandle: NDIS_HANDLE) {
    with_state(|s| {
        check_irql(s, irql_rule!(NdisFreeIoWorkItem), DISPATCH_LEVEL);
        let item = NdisIoWorkItemHandle as usize;
        match s.work_items.get(&item) {
            None => s.violate(
                rules::FREE_WORK_ITEM_UNKNOWN,
                format!("{NdisIoWorkItemHandle:?} is not a live work item"),
            ),
            Some(record) if record.queued.is_some() => s.violate(
                rules::FREE_WORK_ITEM_QUEUED,
                format!(
                    "work item {NdisIoWorkItemHandle:?} is queued and has not run yet (not freed)"
                ),
            ),
            Some(_) => {
                s.work_items.remove(&item);
            }
        }
    });
}
const _: ndis::sig::NdisFreeIoWorkItem = NdisFreeIoWorkItem;
