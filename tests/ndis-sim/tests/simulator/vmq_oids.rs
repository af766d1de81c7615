//! The VMQ OIDs a protocol sends, as information buffers. The fake miniport accepts them all;
//! the simulated NDIS tracks each queue's state from their successful completions, so tests
//! bring a queue to Running before indicating receives on it.
use std::mem::{offset_of, size_of};

use ndis_sim::sim::{OidOutcome, OidRequest, Sim};
use vmqnic::ndis::{
    NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, NDIS_RECEIVE_FILTER_PARAMETERS,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, NDIS_RECEIVE_QUEUE_FREE_PARAMETERS,
    NDIS_RECEIVE_QUEUE_PARAMETERS, NDIS_STATUS_SUCCESS, OID_RECEIVE_FILTER_ALLOCATE_QUEUE,
    OID_RECEIVE_FILTER_CLEAR_FILTER, OID_RECEIVE_FILTER_FREE_QUEUE,
    OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE, OID_RECEIVE_FILTER_SET_FILTER,
};

fn put(buffer: &mut [u8], offset: usize, value: u32) {
    buffer[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

fn header(buffer: &mut [u8], revision: u8) {
    let size = u16::try_from(buffer.len()).unwrap();
    buffer[0] = 0x80;
    buffer[1] = revision;
    buffer[2..4].copy_from_slice(&size.to_le_bytes());
}

fn succeed(sim: &mut Sim, request: &OidRequest) {
    let outcome = sim.oid_request(request).unwrap();
    assert!(
        matches!(outcome, OidOutcome::Completed(ref c) if c.status == NDIS_STATUS_SUCCESS),
        "{outcome:?}"
    );
}

pub fn allocate(sim: &mut Sim, queue: u32) {
    let mut p = vec![0u8; size_of::<NDIS_RECEIVE_QUEUE_PARAMETERS>()];
    header(&mut p, 3);
    put(&mut p, offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, QueueType), 1);
    put(&mut p, offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, QueueId), queue);
    succeed(sim, &OidRequest::method(OID_RECEIVE_FILTER_ALLOCATE_QUEUE, &p, 0x448));
}

pub fn set_filter(sim: &mut Sim, queue: u32, filter: u32) {
    let mut p = vec![0u8; size_of::<NDIS_RECEIVE_FILTER_PARAMETERS>()];
    header(&mut p, 2);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FilterType), 1);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, QueueId), queue);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FilterId), filter);
    succeed(sim, &OidRequest::method(OID_RECEIVE_FILTER_SET_FILTER, &p, 0x2C));
}

pub fn allocation_complete(sim: &mut Sim, queue: u32) {
    let array = size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY>();
    let element = size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS>();
    let mut p = vec![0u8; array + element];
    header(&mut p[..array], 1);
    put(
        &mut p,
        offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, FirstElementOffset),
        u32::try_from(array).unwrap(),
    );
    put(&mut p, offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, NumElements), 1);
    put(
        &mut p,
        offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, ElementSize),
        u32::try_from(element).unwrap(),
    );
    header(&mut p[array..], 1);
    put(
        &mut p,
        array + offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, QueueId),
        queue,
    );
    let length = u32::try_from(p.len()).unwrap();
    succeed(sim, &OidRequest::method(OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE, &p, length));
}

pub fn clear_filter(sim: &mut Sim, queue: u32, filter: u32) {
    let mut p = vec![0u8; size_of::<NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS>()];
    header(&mut p, 1);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, QueueId), queue);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, FilterId), filter);
    succeed(sim, &OidRequest::set(OID_RECEIVE_FILTER_CLEAR_FILTER, &p));
}

pub fn free(sim: &mut Sim, queue: u32) {
    let mut p = vec![0u8; size_of::<NDIS_RECEIVE_QUEUE_FREE_PARAMETERS>()];
    header(&mut p, 1);
    put(&mut p, offset_of!(NDIS_RECEIVE_QUEUE_FREE_PARAMETERS, QueueId), queue);
    succeed(sim, &OidRequest::set(OID_RECEIVE_FILTER_FREE_QUEUE, &p));
}

/// Allocate, filter, complete: the queue is Running.
pub fn make_running(sim: &mut Sim, queue: u32, filter: u32) {
    allocate(sim, queue);
    set_filter(sim, queue, filter);
    allocation_complete(sim, queue);
}
