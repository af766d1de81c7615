//! What the QEMU-backed driver tests share: a running adapter, frames, injection, waiting for
//! indications, and the end-of-test checks.

#![allow(dead_code)] // each test binary uses its own subset

use std::time::{Duration, Instant};

use ndis_sim::sim::{GrantPolicy, OidRequest, ReceivedNbl, Sim, SimConfig};
use vmqnic::miniport::driver::driver_entry;
use vmqnic::ndis::{
    NDIS_PACKET_TYPE_BROADCAST, NDIS_PACKET_TYPE_DIRECTED, NDIS_PACKET_TYPE_MULTICAST,
    NDIS_STATUS_SUCCESS, OID_GEN_CURRENT_PACKET_FILTER,
};

/// A unicast source address for injected frames (the peer on the wire).
pub const PEER: [u8; 6] = [0x02, 0x50, 0x45, 0x45, 0x52, 0x01];
pub const BROADCAST: [u8; 6] = [0xFF; 6];
/// Frames injected per wave: fewer than the ring holds, so QEMU never has to drop.
pub const WAVE: usize = 64;

/// What a protocol usually asks for.
pub const USUAL_FILTER: u32 =
    NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_MULTICAST;

/// Sets an OID and expects success.
pub fn set(sim: &mut Sim, oid: u32, data: &[u8]) {
    let done = sim.oid_request(&OidRequest::set(oid, data)).expect("set").completed().unwrap();
    assert_eq!(done.status, NDIS_STATUS_SUCCESS, "set OID {oid:#x}");
}

/// A started adapter with its link up and the usual packet filter.
pub fn running(config: SimConfig, policy: GrantPolicy) -> Sim {
    let mut sim = Sim::start(config.with_qemu());
    sim.load_driver(driver_entry).expect("DriverEntry registers the miniport");
    sim.start_device(policy).expect("the adapter starts and runs");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sim.link_up_indicated() && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(50)).expect("interrupt delivery");
    }
    assert!(sim.link_up_indicated(), "link up within 5 s");
    set(&mut sim, OID_GEN_CURRENT_PACKET_FILTER, &USUAL_FILTER.to_le_bytes());
    sim
}

pub fn mac(sim: &Sim) -> [u8; 6] {
    sim.qemu().expect("QEMU runs").mac().0
}

/// Frame `n` to `destination`: a recognisable header and a length between 60 and 1514 bytes
/// that varies with `n`.
pub fn frame(destination: [u8; 6], n: usize) -> Vec<u8> {
    let length = 60 + (n * 97) % (1514 - 60);
    let mut f = Vec::with_capacity(length);
    f.extend_from_slice(&destination);
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x88, 0xB5]);
    f.extend_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
    while f.len() < length {
        f.push(u8::try_from((f.len() + n) % 251).unwrap());
    }
    f
}

/// Every NBL indicated so far, in order.
pub fn received(sim: &Sim) -> Vec<ReceivedNbl> {
    sim.receive_indications().into_iter().flat_map(|r| r.nbls).collect()
}

/// Delivers interrupts until `count` NBLs in all have been indicated (or 10 s pass).
pub fn wait_for(sim: &Sim, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while received(sim).len() < count && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(20)).expect("interrupt delivery");
    }
    assert_eq!(received(sim).len(), count, "indicated NBLs");
}

/// Injects `frames` in waves, waiting for each wave to be indicated.
pub fn inject(sim: &Sim, frames: &[Vec<u8>]) {
    for wave in frames.chunks(WAVE) {
        let before = received(sim).len();
        let refs: Vec<&[u8]> = wave.iter().map(Vec::as_slice).collect();
        sim.send_frames(&refs).expect("frames injected");
        wait_for(sim, before + wave.len());
    }
}

pub fn stop(mut sim: Sim) {
    sim.stop_device().expect("pause, halt, remove");
    sim.unload_driver().expect("unload");
    assert_eq!(sim.violations(), vec![], "no contract violation");
    assert!(sim.driver_allocations().is_empty(), "nothing leaked");
    assert_eq!(sim.net_buffer_objects(), (0, 0, 0), "every NBL, MDL and pool freed");
    assert!(sim.shared_memory().is_empty(), "every shared-memory block freed");
}
