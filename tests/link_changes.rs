//! The cable pulled and plugged back in (QMP `set_link` on QEMU's 82576, `Sim::set_link`)
//! through the whole driver under the simulated NDIS: the link-change interrupt, its DPC and
//! the `NDIS_STATUS_LINK_STATE` indication, and what OID_GEN_MEDIA_CONNECT_STATUS reports, for
//! an MSI-X grant (the other-causes message), a single MSI message and a line-based interrupt.
//!
//! Each test starts its own QEMU; without a QEMU that has `-device igb` they FAIL with the
//! install hint, they never skip.

use std::mem::offset_of;
use std::time::{Duration, Instant};

use ndis_sim::sim::{GrantPolicy, OidOutcome, OidRequest, Sim, SimConfig};
use vmqnic::miniport::driver::driver_entry;
use vmqnic::ndis::{
    MediaConnectStateConnected, MediaConnectStateDisconnected, MediaDuplexStateFull,
    MediaDuplexStateUnknown, NDIS_LINK_STATE, NDIS_STATUS_LINK_STATE, NDIS_STATUS_SUCCESS,
    OID_GEN_MEDIA_CONNECT_STATUS,
};

/// Link changes are indicated within this (link-up includes QEMU's 500 ms auto-negotiation).
const INDICATION_TIMEOUT: Duration = Duration::from_secs(5);
/// QEMU's autoneg timer runs 500 ms of wall-clock time (igb-qemu §3); allow for scheduling.
const AUTONEG_AT_LEAST: Duration = Duration::from_millis(400);

/// One NDIS_STATUS_LINK_STATE indication: (MediaConnectState, MediaDuplexState, XmitLinkSpeed).
type LinkIndication = (u32, u32, u64);

const UP: LinkIndication = (MediaConnectStateConnected, MediaDuplexStateFull, 1_000_000_000);
const DOWN: LinkIndication = (MediaConnectStateDisconnected, MediaDuplexStateUnknown, 0);

fn link_indications(sim: &Sim) -> Vec<LinkIndication> {
    let u32_at = |bytes: &[u8], offset: usize| {
        u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
    };
    sim.status_indications()
        .iter()
        .filter(|s| s.status_code == NDIS_STATUS_LINK_STATE)
        .map(|s| {
            let speed_at = offset_of!(NDIS_LINK_STATE, XmitLinkSpeed);
            (
                u32_at(&s.buffer, offset_of!(NDIS_LINK_STATE, MediaConnectState)),
                u32_at(&s.buffer, offset_of!(NDIS_LINK_STATE, MediaDuplexState)),
                u64::from_le_bytes(s.buffer[speed_at..speed_at + 8].try_into().unwrap()),
            )
        })
        .collect()
}

/// Delivers interrupts until the driver has made `count` link indications in all.
fn wait_for_link_indications(sim: &Sim, count: usize) -> Vec<LinkIndication> {
    let deadline = Instant::now() + INDICATION_TIMEOUT;
    loop {
        let indications = link_indications(sim);
        if indications.len() >= count {
            return indications;
        }
        assert!(
            Instant::now() < deadline,
            "{count} link indications within {INDICATION_TIMEOUT:?}, got {indications:?}"
        );
        sim.deliver_interrupts(Duration::from_millis(50)).expect("interrupt delivery");
    }
}

fn media_connect_status(sim: &mut Sim) -> u32 {
    let request = OidRequest::query(OID_GEN_MEDIA_CONNECT_STATUS, 4);
    match sim.oid_request(&request).expect("the OID reaches the miniport") {
        OidOutcome::Completed(c) if c.status == NDIS_STATUS_SUCCESS => {
            u32::from_le_bytes(c.buffer[..4].try_into().unwrap())
        }
        other => panic!("OID_GEN_MEDIA_CONNECT_STATUS: {other:?}"),
    }
}

fn cable_pulled_and_plugged_back_in(policy: GrantPolicy) {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]).with_qemu());
    sim.load_driver(driver_entry).unwrap();
    sim.start_device(policy).unwrap();
    assert_eq!(wait_for_link_indications(&sim, 1), [UP], "link-up after start");

    sim.set_link(false).unwrap();
    assert_eq!(wait_for_link_indications(&sim, 2), [UP, DOWN], "the cable was pulled");
    assert_eq!(media_connect_status(&mut sim), MediaConnectStateDisconnected);

    let plugged = Instant::now();
    sim.set_link(true).unwrap();
    assert_eq!(wait_for_link_indications(&sim, 3), [UP, DOWN, UP], "plugged back in");
    let took = plugged.elapsed();
    assert!(took >= AUTONEG_AT_LEAST, "link-up indicated {took:?} after plugging in");
    assert_eq!(media_connect_status(&mut sim), MediaConnectStateConnected);

    // Nothing more: one indication per change.
    sim.deliver_interrupts(Duration::from_millis(100)).unwrap();
    assert_eq!(link_indications(&sim).len(), 3);
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
    assert!(sim.driver_allocations().is_empty(), "nothing leaked");
}

#[test]
fn msix_a_pulled_and_replugged_cable_is_indicated() {
    cable_pulled_and_plugged_back_in(GrantPolicy::AsRequested);
}

#[test]
fn line_based_a_pulled_and_replugged_cable_is_indicated() {
    cable_pulled_and_plugged_back_in(GrantPolicy::LineBased);
}

#[test]
fn msi_a_pulled_and_replugged_cable_is_indicated() {
    cable_pulled_and_plugged_back_in(GrantPolicy::Msi);
}
