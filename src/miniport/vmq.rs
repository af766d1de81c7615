//! The VMQ OIDs' NDIS side (spec §2.2): parse with [`crate::vmq::oids`], decide with the pure
//! model [`crate::vmq::model::Vmq`], then carry the decision out on the device (the model's
//! register image, applied as a minimal diff), on the MSI-X table and IVARs
//! ([`super::queue_interrupts`]) and on the queue's receive path ([`super::receive`]).
//!
//! Every operation is all-or-nothing: the model refuses bad input before anything is touched,
//! and a failure after the model accepted is rolled back, so the driver and the hardware stay
//! as they were (the property test in `tests/vmq_properties.rs` checks the registers).
//!
//! # FREE_QUEUE
//!
//! 1. The model moves the queue to StopDma; its VFRE bit goes off and the ring is disabled.
//! 2. `NDIS_STATUS_RECEIVE_QUEUE_STATE` with `DmaStopped` is indicated (Freeing).
//! 3. If NDIS still holds NBLs of the queue, the OID returns PENDING; the return of the last
//!    one queues the adapter's work item, which runs at PASSIVE_LEVEL.
//! 4. The work item (or the OID itself when nothing was outstanding) frees the ring's shared
//!    memory, unbinds the queue's interrupt, forgets the queue, and completes the OID with
//!    SUCCESS — the only status the verifier allows besides PENDING.

use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use super::adapter::{Adapter, KernelStall, OidState, PendingFree};
use super::queue_interrupts;
use crate::ndis::{
    NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT, NDIS_OID_REQUEST,
    NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED, NDIS_RECEIVE_QUEUE_STATE,
    NDIS_STATUS, NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_PENDING,
    NDIS_STATUS_RECEIVE_QUEUE_STATE, NDIS_STATUS_SUCCESS, NdisMOidRequestComplete,
    NdisReceiveQueueOperationalStateDmaStopped, OID_RECEIVE_FILTER_ALLOCATE_QUEUE,
    OID_RECEIVE_FILTER_CLEAR_FILTER, OID_RECEIVE_FILTER_FREE_QUEUE,
    OID_RECEIVE_FILTER_GLOBAL_PARAMETERS, OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE,
    OID_RECEIVE_FILTER_QUEUE_PARAMETERS, OID_RECEIVE_FILTER_SET_FILTER, PVOID,
};
use crate::oid::Outcome;
use crate::vmq::image::HardwareImage;
use crate::vmq::model::Vmq;
use crate::vmq::oids::{self, OidError};
use crate::vmq::state::{QueueState, may_indicate};

/// `NDIS_RECEIVE_QUEUE_STATE_REVISION_1` and its size.
const QUEUE_STATE_REVISION: u8 = 1;
const QUEUE_STATE_SIZE: u16 = 0x10;

/// What an OID request gets back.
pub(super) struct Answer {
    pub(super) status: NDIS_STATUS,
    /// `BytesRead` (sets and methods).
    pub(super) read: u32,
    /// `BytesWritten` (methods).
    pub(super) written: u32,
    /// `BytesNeeded`.
    pub(super) needed: u32,
}

impl Answer {
    const fn done(read: u32, written: u32) -> Self {
        Self { status: NDIS_STATUS_SUCCESS, read, written, needed: 0 }
    }

    const fn failed(status: NDIS_STATUS) -> Self {
        Self { status, read: 0, written: 0, needed: 0 }
    }

    fn refused(error: OidError) -> Self {
        Self { status: error.status(), read: 0, written: 0, needed: error.bytes_needed() }
    }

    fn from_outcome(outcome: Outcome) -> Self {
        Self {
            status: outcome.status(true),
            read: outcome.bytes(),
            written: 0,
            needed: outcome.needed(),
        }
    }
}

/// Applies the register changes from `before` to the model's image now.
fn apply_image(adapter: &Adapter, before: &HardwareImage, vmq: &Vmq) {
    let after = vmq.hardware();
    for change in before.diff(&after) {
        // An error means the device is gone (VFRE read all-ones); nothing more can be done.
        let _ = change.apply(adapter);
    }
}

/// Lets each VM queue's receive path indicate exactly while its queue is Running.
fn update_accepting(adapter: &Adapter, vmq: &Vmq) {
    for queue in vmq.queues() {
        if let Some(path) = adapter.receive.get(usize::from(queue.pool)) {
            path.set_accepting(may_indicate(queue.state));
        }
    }
}

/// The EITR value for new receive vectors, from the interrupt-moderation setting.
fn eitr(state: &OidState) -> u32 {
    if state.settings.interrupt_moderation { super::adapter::MODERATED_EITR } else { 0 }
}

/// The VMQ method OIDs (ALLOCATE_QUEUE, SET_FILTER, QUEUE_ALLOCATION_COMPLETE); `None` for any
/// other OID. `buffer` is the whole information buffer (input, then output in place).
pub(super) fn method(
    adapter: &Adapter,
    state: &mut OidState,
    oid: u32,
    buffer: &mut [u8],
) -> Option<Answer> {
    let answer = match oid {
        OID_RECEIVE_FILTER_ALLOCATE_QUEUE => allocate_queue(adapter, state, buffer),
        OID_RECEIVE_FILTER_SET_FILTER => set_filter(adapter, state, buffer),
        OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE => allocation_complete(adapter, state, buffer),
        _ => return None,
    };
    Some(answer)
}

/// The VMQ set OIDs; `None` for any other OID.
pub(super) fn set(
    adapter: &Adapter,
    state: &mut OidState,
    request: NonNull<NDIS_OID_REQUEST>,
    oid: u32,
    input: &[u8],
) -> Option<Answer> {
    let answer = match oid {
        OID_RECEIVE_FILTER_QUEUE_PARAMETERS => queue_parameters(adapter, state, input),
        OID_RECEIVE_FILTER_CLEAR_FILTER => clear_filter(adapter, state, input),
        OID_RECEIVE_FILTER_FREE_QUEUE => free_queue(adapter, state, request, input),
        OID_RECEIVE_FILTER_GLOBAL_PARAMETERS => global_parameters(state, input),
        _ => return None,
    };
    Some(answer)
}

fn allocate_queue(adapter: &Adapter, state: &mut OidState, buffer: &mut [u8]) -> Answer {
    let parsed = match oids::parse_allocate_queue(buffer) {
        Ok(parsed) => parsed,
        Err(error) => return Answer::refused(error),
    };
    let request = parsed.request;
    let eitr = eitr(state);
    let (Some(vmq), Some(binder)) = (state.vmq.as_mut(), state.binder.as_mut()) else {
        return Answer::failed(NDIS_STATUS_NOT_SUPPORTED);
    };
    let Some(processor) = binder.pick_processor(request.affinity.group, request.affinity.mask)
    else {
        return Answer::failed(NDIS_STATUS_INVALID_PARAMETER);
    };
    let pool = match vmq.allocate_queue(request.queue_id, processor) {
        Ok(pool) => pool,
        Err(status) => return Answer::failed(status),
    };
    match queue_interrupts::bind(adapter, binder, request.queue_id, pool, processor, eitr) {
        Ok(binding) => {
            // The buffer held the whole structure (the parser checked), so this cannot fail.
            let _ = oids::write_msix_table_entry(buffer, binding.entry);
            Answer::done(parsed.bytes_read, parsed.bytes_read)
        }
        Err(status) => {
            // Undo the allocation: Allocated → StopDma → Freeing → Undefined.
            let _ = vmq.free_queue(request.queue_id);
            let _ = vmq.dma_stopped(request.queue_id);
            let _ = vmq.freed(request.queue_id);
            Answer::failed(status)
        }
    }
}

fn set_filter(adapter: &Adapter, state: &mut OidState, buffer: &mut [u8]) -> Answer {
    let parsed = match oids::parse_set_filter(buffer) {
        Ok(parsed) => parsed,
        Err(error) => return Answer::refused(error),
    };
    let Some(vmq) = state.vmq.as_mut() else { return Answer::failed(NDIS_STATUS_NOT_SUPPORTED) };
    let before = vmq.hardware();
    if let Err(status) = vmq.set_filter(&parsed.request) {
        return Answer::failed(status);
    }
    apply_image(adapter, &before, vmq);
    update_accepting(adapter, vmq);
    Answer::done(parsed.bytes_read, parsed.bytes_read)
}

fn allocation_complete(adapter: &Adapter, state: &mut OidState, buffer: &mut [u8]) -> Answer {
    let parsed = match oids::parse_allocation_complete(buffer) {
        Ok(parsed) => parsed,
        Err(error) => return Answer::refused(error),
    };
    let array = parsed.request;
    let Some(vmq) = state.vmq.as_mut() else { return Answer::failed(NDIS_STATUS_NOT_SUPPORTED) };
    let before = vmq.hardware();
    for index in 0..array.len() {
        let Some(queue_id) = array.queue_id(buffer, index) else { break };
        let status = complete_one(adapter, vmq, queue_id);
        array.write_completion_status(buffer, index, status);
    }
    apply_image(adapter, &before, vmq);
    update_accepting(adapter, vmq);
    Answer::done(parsed.bytes_read, parsed.bytes_read)
}

/// Finishes one queue: its ring and buffers (shared memory with the queue's id), then the
/// model's transition (which lets the pool receive once it has filters).
fn complete_one(adapter: &Adapter, vmq: &mut Vmq, queue_id: u32) -> NDIS_STATUS {
    let Some(queue) = vmq.queue(queue_id) else { return NDIS_STATUS_INVALID_PARAMETER };
    if queue.state != QueueState::Allocated && queue.state != QueueState::Set {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    let Some(path) = adapter.receive.get(usize::from(queue.pool)) else {
        return NDIS_STATUS_INVALID_PARAMETER;
    };
    // SAFETY: PASSIVE_LEVEL in the OID path with SG DMA registered; the pool's path is unused
    // (its queue was just allocated, and a freed queue's path was destroyed); the NBL pool is
    // the adapter's.
    let created = unsafe {
        path.create(adapter.miniport_handle, adapter.nbl_pool, queue_id, adapter, &KernelStall)
    };
    if let Err(status) = created {
        return status;
    }
    match vmq.allocation_complete(queue_id) {
        Ok(_) => NDIS_STATUS_SUCCESS,
        Err(status) => status,
    }
}

fn queue_parameters(adapter: &Adapter, state: &mut OidState, input: &[u8]) -> Answer {
    let parsed = match oids::parse_queue_parameters(input) {
        Ok(parsed) => parsed,
        Err(error) => return Answer::refused(error),
    };
    let change = parsed.request;
    let eitr = eitr(state);
    let (Some(vmq), Some(binder)) = (state.vmq.as_mut(), state.binder.as_mut()) else {
        return Answer::failed(NDIS_STATUS_NOT_SUPPORTED);
    };
    let Some(queue) = vmq.queue(change.queue_id) else {
        return Answer::failed(NDIS_STATUS_INVALID_PARAMETER);
    };
    if change.changes & NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED != 0 {
        let Some(affinity) = change.affinity else {
            return Answer::failed(NDIS_STATUS_INVALID_PARAMETER);
        };
        let Some(processor) = binder.pick_processor(affinity.group, affinity.mask) else {
            return Answer::failed(NDIS_STATUS_INVALID_PARAMETER);
        };
        let previous = queue.processor;
        if let Err(status) = vmq.set_processor(change.queue_id, processor) {
            return Answer::failed(status);
        }
        let moved =
            queue_interrupts::rebind(adapter, binder, change.queue_id, queue.pool, processor, eitr);
        if let Err(status) = moved {
            let _ = vmq.set_processor(change.queue_id, previous);
            return Answer::failed(status);
        }
    }
    // Suggested buffer counts are a hint (the ring keeps its size); names need nothing.
    Answer::done(parsed.bytes_read, 0)
}

fn clear_filter(adapter: &Adapter, state: &mut OidState, input: &[u8]) -> Answer {
    // CLEAR_FILTER completes with SUCCESS whatever happens (verifier rule, spec §2.2): NDIS
    // validated the ids, so an unknown one is an inconsistency to ignore, not to report.
    let Ok(parsed) = oids::parse_clear_filter(input) else { return Answer::done(0, 0) };
    let Some(vmq) = state.vmq.as_mut() else { return Answer::done(parsed.bytes_read, 0) };
    let before = vmq.hardware();
    let _ = vmq.clear_filter(parsed.request.queue_id, parsed.request.filter_id);
    update_accepting(adapter, vmq);
    apply_image(adapter, &before, vmq);
    Answer::done(parsed.bytes_read, 0)
}

fn global_parameters(state: &mut OidState, input: &[u8]) -> Answer {
    let parsed = match oids::parse_global_parameters(input) {
        Ok(parsed) => parsed,
        Err(error) => return Answer::refused(error),
    };
    let Some(vmq) = state.vmq.as_mut() else {
        return Answer::failed(NDIS_STATUS_INVALID_PARAMETER);
    };
    match vmq.set_enabled(parsed.request.vmq_enabled) {
        Ok(()) => Answer::done(parsed.bytes_read, 0),
        Err(status) => Answer::failed(status),
    }
}

fn free_queue(
    adapter: &Adapter,
    state: &mut OidState,
    request: NonNull<NDIS_OID_REQUEST>,
    input: &[u8],
) -> Answer {
    // FREE_QUEUE, like CLEAR_FILTER, completes with SUCCESS (or PENDING then SUCCESS).
    let Ok(parsed) = oids::parse_free_queue(input) else { return Answer::done(0, 0) };
    let queue_id = parsed.request.queue_id;
    let Some(vmq) = state.vmq.as_mut() else { return Answer::done(parsed.bytes_read, 0) };
    let before = vmq.hardware();
    let Ok(pool) = vmq.free_queue(queue_id) else { return Answer::done(parsed.bytes_read, 0) };
    // 1. Stop DMA: the pool receives nothing more, its ring is disabled.
    apply_image(adapter, &before, vmq);
    let Some(path) = adapter.receive.get(usize::from(pool)) else {
        return Answer::done(parsed.bytes_read, 0);
    };
    path.set_accepting(false);
    path.stop_dma(adapter, &KernelStall);
    // 2. Tell NDIS.
    indicate_dma_stopped(adapter, queue_id);
    let _ = vmq.dma_stopped(queue_id);
    // 3. Wait for the NBLs, without blocking: whoever takes `pending_free` back finishes.
    state.pending_free = Some(PendingFree { request, queue_id, pool });
    adapter.free_pending_pool.store(pool, Ordering::Release);
    if path.outstanding() == 0
        && adapter.free_pending_pool.swap(super::adapter::NO_POOL, Ordering::AcqRel) == pool
    {
        finish_free_queue(adapter, state);
        return Answer::done(parsed.bytes_read, 0);
    }
    Answer { status: NDIS_STATUS_PENDING, read: parsed.bytes_read, written: 0, needed: 0 }
}

/// Step 4 of FREE_QUEUE: the queue's NBLs are all back. Frees its memory, unbinds its
/// interrupt and forgets it. Returns the request if it was pending (to complete).
fn finish_free_queue(adapter: &Adapter, state: &mut OidState) -> Option<NonNull<NDIS_OID_REQUEST>> {
    let pending = state.pending_free.take()?;
    // Unroute the queue's completions first, so no new interrupt names its ring.
    if let Some(binder) = state.binder.as_mut() {
        queue_interrupts::unbind(adapter, binder, pending.queue_id, pending.pool);
    }
    if let Some(path) = adapter.receive.get(usize::from(pending.pool)) {
        // SAFETY: PASSIVE_LEVEL; the ring is disabled and every NBL of the queue came back;
        // destroy waits for a DPC pass still running on the queue.
        unsafe { path.destroy(adapter.miniport_handle, adapter, &KernelStall) };
    }
    if let Some(vmq) = state.vmq.as_mut() {
        let _ = vmq.freed(pending.queue_id);
    }
    Some(pending.request)
}

/// `NDIS_STATUS_RECEIVE_QUEUE_STATE` with `NdisReceiveQueueOperationalStateDmaStopped`.
fn indicate_dma_stopped(adapter: &Adapter, queue_id: u32) {
    let mut queue_state = NDIS_RECEIVE_QUEUE_STATE {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_DEFAULT,
            QUEUE_STATE_REVISION,
            QUEUE_STATE_SIZE,
        ),
        Flags: 0,
        QueueId: queue_id,
        QueueState: NdisReceiveQueueOperationalStateDmaStopped,
    };
    super::adapter::indicate_status(adapter, NDIS_STATUS_RECEIVE_QUEUE_STATE, &mut queue_state);
}

/// The adapter's work item: finishes a pending FREE_QUEUE at PASSIVE_LEVEL and completes it.
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with the context the driver queued: its adapter, alive
/// (Halt cannot run while the FREE_QUEUE OID is pending).
pub(super) unsafe extern "system" fn free_queue_work_item(context: PVOID, _handle: NDIS_HANDLE) {
    // SAFETY: the adapter the return path queued this work item for.
    let Some(adapter) = (unsafe { context.cast::<Adapter>().as_ref() }) else { return };
    // SAFETY: the FREE_QUEUE OID is pending, so NDIS sends no other OID: this work item is the
    // only user of the OID state until it completes the request.
    let state = unsafe { &mut *adapter.oid_state.get() };
    if let Some(request) = finish_free_queue(adapter, state) {
        // SAFETY: the FREE_QUEUE request MiniportOidRequest returned PENDING for, completed
        // once, at PASSIVE_LEVEL.
        unsafe {
            NdisMOidRequestComplete(adapter.miniport_handle, request.as_ptr(), NDIS_STATUS_SUCCESS);
        };
    }
}

impl Answer {
    /// An answer computed from a general [`Outcome`] (for the dispatcher's non-VMQ OIDs).
    pub(super) fn general(outcome: Outcome) -> Self {
        Self::from_outcome(outcome)
    }
}
