//! OID requests: synchronous and pending completion, cancellation, one at a time, and the
//! exactly-once, status and timing rules.

use std::time::Duration;

use ndis_sim::sim::exports::NdisMOidRequestComplete;
use ndis_sim::sim::{GrantPolicy, OidOutcome, OidRequest, Sim, SimConfig, SimError, rules};
use vmqnic::ndis::{
    NDIS_OID_REQUEST, NDIS_STATUS_FAILURE, NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_PENDING,
    NDIS_STATUS_REQUEST_ABORTED, NDIS_STATUS_SUCCESS, OID_GEN_CURRENT_PACKET_FILTER,
    OID_GEN_MAXIMUM_FRAME_SIZE, OID_RECEIVE_FILTER_FREE_QUEUE,
};

use crate::fake::{self, Behaviour, OidMode};

fn running(behaviour: Behaviour) -> Sim {
    running_with(SimConfig::with_groups(&[1]), behaviour)
}

fn running_with(config: SimConfig, behaviour: Behaviour) -> Sim {
    let mut sim = Sim::start(config);
    fake::reset(behaviour);
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    sim
}

fn pending() -> Behaviour {
    Behaviour { oid: OidMode::Pend, ..Behaviour::default() }
}

#[test]
fn a_synchronous_query_returns_its_buffer() {
    let mut sim = running(Behaviour::default());
    let outcome = sim.oid_request(&OidRequest::query(OID_GEN_MAXIMUM_FRAME_SIZE, 4)).unwrap();
    let done = outcome.completed().expect("synchronous");
    assert!(done.synchronous);
    assert_eq!((done.status, done.bytes_written), (NDIS_STATUS_SUCCESS, 4));
    assert_eq!(done.buffer, vec![0xA5; 4]);
    let set =
        sim.oid_request(&OidRequest::set(OID_GEN_CURRENT_PACKET_FILTER, &[1, 0, 0, 0])).unwrap();
    assert_eq!(
        set.completed().unwrap().buffer,
        vec![1, 0, 0, 0],
        "the set buffer is what was sent"
    );
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_failure_is_a_completion_too() {
    let mut sim = running(Behaviour {
        oid: OidMode::Return(NDIS_STATUS_NOT_SUPPORTED),
        ..Behaviour::default()
    });
    let done = sim.oid_request(&OidRequest::query(0x0DEA_DBEE, 8)).unwrap().completed().unwrap();
    assert_eq!(done.status, NDIS_STATUS_NOT_SUPPORTED);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_pending_request_completes_once() {
    let mut sim = running(pending());
    let OidOutcome::Pending(id) =
        sim.oid_request(&OidRequest::query(OID_GEN_MAXIMUM_FRAME_SIZE, 4)).unwrap()
    else {
        panic!("expected PENDING");
    };
    assert_eq!(sim.oid_completion(id), None);
    // NDIS sends one request at a time, and does not halt with one pending.
    assert!(matches!(sim.oid_request(&OidRequest::query(1, 4)), Err(SimError::WrongState { .. })));
    fake::complete_pending_oid(NDIS_STATUS_SUCCESS);
    let done = sim.wait_oid(id, Duration::from_millis(10)).unwrap();
    assert!(!done.synchronous);
    assert_eq!(done.status, NDIS_STATUS_SUCCESS);
    sim.stop_device().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn cancelling_aborts_the_pending_request() {
    let mut sim = running(pending());
    let OidOutcome::Pending(id) = sim.oid_request(&OidRequest::query(1, 4)).unwrap() else {
        panic!()
    };
    assert!(matches!(sim.halt(), Err(SimError::WrongState { .. })));
    sim.cancel_oid(id).unwrap();
    assert_eq!(sim.oid_completion(id).unwrap().status, NDIS_STATUS_REQUEST_ABORTED);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn completing_twice_is_a_double_completion() {
    let mut sim = running(pending());
    sim.oid_request(&OidRequest::query(1, 4)).unwrap();
    fake::complete_pending_oid(NDIS_STATUS_SUCCESS);
    fake::complete_pending_oid(NDIS_STATUS_SUCCESS);
    assert_eq!(sim.violated_rules(), vec![rules::OID_DOUBLE_COMPLETE]);
}

#[test]
fn completing_a_request_that_returned_synchronously_is_a_double_completion() {
    let mut sim = running(Behaviour {
        oid: OidMode::CompleteAndReturn(NDIS_STATUS_SUCCESS),
        ..Behaviour::default()
    });
    sim.oid_request(&OidRequest::query(1, 4)).unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::OID_DOUBLE_COMPLETE]);
}

#[test]
fn completing_with_pending_is_forbidden() {
    let mut sim = running(pending());
    sim.oid_request(&OidRequest::query(1, 4)).unwrap();
    fake::complete_pending_oid(NDIS_STATUS_PENDING);
    assert_eq!(sim.violated_rules(), vec![rules::OID_COMPLETE_STATUS]);
}

#[test]
fn free_queue_may_not_fail() {
    let mut sim =
        running(Behaviour { oid: OidMode::Return(NDIS_STATUS_FAILURE), ..Behaviour::default() });
    sim.oid_request(&OidRequest::set(OID_RECEIVE_FILTER_FREE_QUEUE, &[0; 12])).unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::OID_COMPLETE_STATUS]);
    // Other OIDs may fail.
    sim.take_violations();
    sim.oid_request(&OidRequest::query(OID_GEN_MAXIMUM_FRAME_SIZE, 4)).unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_completion_after_the_timeout_is_too_late() {
    let config =
        SimConfig { oid_timeout: Duration::from_millis(5), ..SimConfig::with_groups(&[1]) };
    let mut sim = running_with(config, pending());
    sim.oid_request(&OidRequest::query(1, 4)).unwrap();
    std::thread::sleep(Duration::from_millis(10));
    fake::complete_pending_oid(NDIS_STATUS_SUCCESS);
    assert_eq!(sim.violated_rules(), vec![rules::OID_TIMED_COMPLETE]);
}

#[test]
fn completing_a_request_ndis_never_issued() {
    let sim = running(Behaviour::default());
    // SAFETY: an all-zero request is a valid value; the simulator only compares its address.
    let mut stranger: NDIS_OID_REQUEST = unsafe { std::mem::zeroed() };
    // SAFETY: a valid request on this frame.
    unsafe {
        NdisMOidRequestComplete(sim.miniport_handle() as _, &raw mut stranger, NDIS_STATUS_SUCCESS);
    }
    assert_eq!(sim.violated_rules(), vec![rules::OID_COMPLETE_UNKNOWN_REQUEST]);
}
