//! The general OIDs through the driver's real MiniportOidRequest, on QEMU's 82576 under the
//! simulated NDIS (which also checks every OID completes exactly once with an allowed status).

use std::time::{Duration, Instant};

use ndis_sim::sim::{GrantPolicy, OidCompletion, OidOutcome, OidRequest, Sim, SimConfig};
use vmqnic::miniport::driver::driver_entry;
use vmqnic::ndis::{
    NDIS_PACKET_TYPE_BROADCAST, NDIS_PACKET_TYPE_DIRECTED, NDIS_STATUS,
    NDIS_STATUS_BUFFER_TOO_SHORT, NDIS_STATUS_INVALID_LENGTH, NDIS_STATUS_NOT_SUPPORTED,
    NDIS_STATUS_SUCCESS, OID_802_3_PERMANENT_ADDRESS, OID_GEN_CURRENT_PACKET_FILTER,
    OID_GEN_LINK_SPEED, OID_GEN_MEDIA_CONNECT_STATUS, OID_GEN_RCV_OK, OID_GEN_STATISTICS,
    OID_RECEIVE_FILTER_ALLOCATE_QUEUE,
};

fn complete(sim: &mut Sim, request: &OidRequest) -> OidCompletion {
    match sim.oid_request(request).expect("the OID reaches the miniport") {
        OidOutcome::Completed(completion) => completion,
        other @ OidOutcome::Pending(_) => {
            panic!("every OID completes synchronously, got {other:?}")
        }
    }
}

fn u32_at(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().unwrap())
}

fn started() -> Sim {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]).with_qemu());
    sim.load_driver(driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    sim
}

fn stop(mut sim: Sim) {
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn queries_report_the_device() {
    let mut sim = started();
    let mac = sim.qemu().unwrap().mac().0;
    let permanent = complete(&mut sim, &OidRequest::query(OID_802_3_PERMANENT_ADDRESS, 6));
    assert_eq!((permanent.status, permanent.bytes_written), (NDIS_STATUS_SUCCESS, 6));
    assert_eq!(permanent.buffer[..6], mac);

    // The link comes up ~0.5 s after Initialize (QEMU's autoneg timer).
    let deadline = Instant::now() + Duration::from_secs(5);
    while u32_at(&complete(&mut sim, &OidRequest::query(OID_GEN_MEDIA_CONNECT_STATUS, 4)).buffer)
        != 1
    {
        assert!(Instant::now() < deadline, "link up within 5 s");
        sim.deliver_interrupts(Duration::from_millis(50)).unwrap();
    }
    let speed = complete(&mut sim, &OidRequest::query(OID_GEN_LINK_SPEED, 4));
    assert_eq!(u32_at(&speed.buffer), 10_000_000, "1 Gb/s in units of 100 b/s");

    let statistics = complete(&mut sim, &OidRequest::query(OID_GEN_STATISTICS, 0x98));
    assert_eq!((statistics.status, statistics.bytes_written), (NDIS_STATUS_SUCCESS, 0x98));
    assert_eq!(statistics.buffer[..4], [0x80, 1, 0x98, 0]);
    stop(sim);
}

#[test]
fn short_buffers_and_sixty_four_bit_counters() {
    let mut sim = started();
    let short = complete(&mut sim, &OidRequest::query(OID_802_3_PERMANENT_ADDRESS, 4));
    assert_eq!(
        (short.status, short.bytes_written, short.bytes_needed),
        (NDIS_STATUS_BUFFER_TOO_SHORT, 0, 6)
    );
    let four = complete(&mut sim, &OidRequest::query(OID_GEN_RCV_OK, 4));
    assert_eq!((four.status, four.bytes_written, four.bytes_needed), (NDIS_STATUS_SUCCESS, 4, 8));
    let eight = complete(&mut sim, &OidRequest::query(OID_GEN_RCV_OK, 8));
    assert_eq!((eight.status, eight.bytes_written), (NDIS_STATUS_SUCCESS, 8));
    stop(sim);
}

#[test]
fn packet_filter_sets_are_validated_and_reported_back() {
    let mut sim = started();
    let filter = NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST;
    let set =
        complete(&mut sim, &OidRequest::set(OID_GEN_CURRENT_PACKET_FILTER, &filter.to_le_bytes()));
    assert_eq!((set.status, set.bytes_read), (NDIS_STATUS_SUCCESS, 4));
    let bad: NDIS_STATUS =
        complete(&mut sim, &OidRequest::set(OID_GEN_CURRENT_PACKET_FILTER, &0x10u32.to_le_bytes()))
            .status;
    assert_eq!(bad, NDIS_STATUS_NOT_SUPPORTED);
    let short = complete(&mut sim, &OidRequest::set(OID_GEN_CURRENT_PACKET_FILTER, &[1]));
    assert_eq!((short.status, short.bytes_needed), (NDIS_STATUS_INVALID_LENGTH, 4));
    let now = complete(&mut sim, &OidRequest::query(OID_GEN_CURRENT_PACKET_FILTER, 4));
    assert_eq!(u32_at(&now.buffer), filter, "failed sets left the filter as it was");
    // A VMQ method with a zeroed structure: its header is refused (tests/vmq.rs has the rest);
    // a method OID the driver does not handle is not supported.
    let vmq = complete(
        &mut sim,
        &OidRequest::method(OID_RECEIVE_FILTER_ALLOCATE_QUEUE, &[0; 0x448], 0x448),
    );
    assert_eq!(vmq.status, vmqnic::ndis::NDIS_STATUS_INVALID_PARAMETER);
    let other = complete(&mut sim, &OidRequest::method(OID_GEN_CURRENT_PACKET_FILTER, &[0; 4], 4));
    assert_eq!(other.status, NDIS_STATUS_NOT_SUPPORTED);
    stop(sim);
}
