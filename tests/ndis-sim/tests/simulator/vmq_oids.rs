//! The VMQ OIDs a protocol sends, as information buffers. The fake miniport accepts them all;
//! the simulated NDIS tracks each queue's state from their successful completions, so tests
//! bring a queue to Running before indicating receives on it.
use ndis_sim::sim::{OidOutcome, OidRequest, Sim};
use ndis_sim::vmq_requests;
use vmqnic::ndis::NDIS_STATUS_SUCCESS;

fn succeed(sim: &mut Sim, request: &OidRequest) {
    let outcome = sim.oid_request(request).unwrap();
    assert!(
        matches!(outcome, OidOutcome::Completed(ref c) if c.status == NDIS_STATUS_SUCCESS),
        "{outcome:?}"
    );
}

pub fn allocate(sim: &mut Sim, queue: u32) {
    succeed(sim, &vmq_requests::allocate_queue(queue, 0, 1));
}

pub fn set_filter(sim: &mut Sim, queue: u32, filter: u32) {
    succeed(sim, &vmq_requests::set_filter(queue, filter, &[]));
}

pub fn allocation_complete(sim: &mut Sim, queue: u32) {
    succeed(sim, &vmq_requests::allocation_complete(&[queue]));
}

pub fn clear_filter(sim: &mut Sim, queue: u32, filter: u32) {
    succeed(sim, &vmq_requests::clear_filter(queue, filter));
}

pub fn free(sim: &mut Sim, queue: u32) {
    succeed(sim, &vmq_requests::free_queue(queue));
}

/// Allocate, filter, complete: the queue is Running.
pub fn make_running(sim: &mut Sim, queue: u32, filter: u32) {
    allocate(sim, queue);
    set_filter(sim, queue, filter);
    allocation_complete(sim, queue);
}
