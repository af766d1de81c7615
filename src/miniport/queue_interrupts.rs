//! A VM queue's interrupt, as the VMQ OIDs change it: the binder's decision
//! ([`crate::interrupt::binding`]) carried out on the MSI-X table (NdisMConfigMSIXTableEntry),
//! the 82576's IVAR, and the ISR's view of the table ([`crate::datapath::vectors`]).
//!
//! Order matters so that a queue's completions never point at a masked or wrong entry (the
//! binder's `MsixOps` docs): the new entry is readied (`setup`), then the queue's IVAR and the
//! routes change, then an entry the queue left empty is masked (`release`). After a re-point,
//! one software interrupt (EICS) on the entry makes the next DPC pass run on the new processor,
//! so a frame that arrived while the entry was masked is not left waiting.

use super::adapter::Adapter;
use super::msix;
use crate::datapath::vectors::serves_rx;
use crate::hw::igb;
use crate::interrupt::Processor;
use crate::interrupt::binding::{Binder, MsixOps, QueueBinding, QueueId};
use crate::ndis::{NDIS_STATUS, NDIS_STATUS_ADAPTER_NOT_READY, NDIS_STATUS_RESOURCES};

/// Performs `ops` in two steps around `route` (see the module docs).
fn apply(
    adapter: &Adapter,
    ops: &MsixOps,
    route: impl FnOnce() -> Result<(), NDIS_STATUS>,
) -> Result<(), NDIS_STATUS> {
    // SAFETY: called from the OID path (PASSIVE_LEVEL) between Initialize and Halt, the
    // window in which NdisMConfigMSIXTableEntry is legal.
    unsafe { msix::apply_msix_ops(adapter.miniport_handle, ops.setup()) }
        .map_err(|(_, status)| status)?;
    route()?;
    // SAFETY: as above.
    unsafe { msix::apply_msix_ops(adapter.miniport_handle, ops.release()) }
        .map_err(|(_, status)| status)
}

/// Points pool `pool`'s receive completions at `binding`'s entry and tells the ISR.
fn route_pool(
    adapter: &Adapter,
    pool: u8,
    binding: &QueueBinding,
    eitr: u32,
) -> Result<(), NDIS_STATUS> {
    let not_ready = |_| NDIS_STATUS_ADAPTER_NOT_READY;
    let entry = binding.entry;
    if adapter.vectors.for_message(binding.message).entries & (1 << entry) == 0 {
        // A fresh entry for this message: it carries only this pool so far.
        adapter.vectors.set(entry, binding.message, serves_rx(pool));
        igb::set_throttle(adapter, entry, eitr).map_err(not_ready)?;
    } else {
        adapter.vectors.add(entry, serves_rx(pool));
    }
    igb::route_rx_queue(adapter, pool, Some(entry)).map_err(not_ready)?;
    igb::unmask_entries(adapter, 1 << entry);
    Ok(())
}

/// ALLOCATE_QUEUE: binds queue `queue_id` (on `pool`) to an entry serving `processor`.
///
/// # Errors
/// `NDIS_STATUS_RESOURCES` if the binder has no room (cannot happen for a queue count the
/// plan advertised), or the status of a failed NdisMConfigMSIXTableEntry; the binder is then
/// unchanged (a failed table operation unbinds again).
pub(super) fn bind(
    adapter: &Adapter,
    binder: &mut Binder,
    queue_id: QueueId,
    pool: u8,
    processor: Processor,
    eitr: u32,
) -> Result<QueueBinding, NDIS_STATUS> {
    let bound = binder.bind(queue_id, processor).map_err(|_| NDIS_STATUS_RESOURCES)?;
    let binding = bound.binding;
    let result = apply(adapter, &bound.ops, || route_pool(adapter, pool, &binding, eitr));
    if let Err(status) = result {
        unbind(adapter, binder, queue_id, pool);
        return Err(status);
    }
    Ok(binding)
}

/// QUEUE_PARAMETERS with a processor-affinity change: moves the queue's interrupt to
/// `processor` (another entry, or its own entry re-pointed at another message).
///
/// # Errors
/// As for [`bind`]; on error the queue keeps its previous binding in the binder.
pub(super) fn rebind(
    adapter: &Adapter,
    binder: &mut Binder,
    queue_id: QueueId,
    pool: u8,
    processor: Processor,
    eitr: u32,
) -> Result<QueueBinding, NDIS_STATUS> {
    let rebound = binder.rebind(queue_id, processor).map_err(|_| NDIS_STATUS_RESOURCES)?;
    let (previous, binding) = (rebound.previous, rebound.binding);
    if previous == binding {
        return Ok(binding);
    }
    apply(adapter, &rebound.ops, || {
        if rebound.entry_changed() {
            route_pool(adapter, pool, &binding, eitr)?;
            adapter.vectors.remove(previous.entry, serves_rx(pool));
        } else {
            // Same entry, re-pointed at the new processor's message.
            adapter.vectors.set_message(binding.entry, binding.message);
        }
        Ok(())
    })?;
    igb::trigger_entries(adapter, 1 << binding.entry);
    Ok(binding)
}

/// FREE_QUEUE (or a failed allocation): the queue's completions raise nothing any more and its
/// entry is released (masked when no other queue uses it). Errors are not reported: the queue
/// is gone either way, and a table operation that fails leaves an unused entry unmasked,
/// which raises nothing because no IVAR names it.
pub(super) fn unbind(adapter: &Adapter, binder: &mut Binder, queue_id: QueueId, pool: u8) {
    let _ = igb::route_rx_queue(adapter, pool, None);
    let Ok(unbound) = binder.unbind(queue_id) else { return };
    adapter.vectors.remove(unbound.binding.entry, serves_rx(pool));
    let _ = apply(adapter, &unbound.ops, || Ok(()));
}
