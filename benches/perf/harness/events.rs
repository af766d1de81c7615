//! Event counts of the real driver on QEMU's 82576 under the simulated ndis.sys: `frames`
//! frames received and then `frames` sent (64-byte frames: 60 bytes plus the FCS), in waves of
//! 64, after one warm-up wave each way. Counted per direction: register reads and writes (and
//! RDT/TDT writes), receive indications and send calls (the batches), interrupts (ISR runs),
//! DPCs (and their passes), DPCs on another processor than their ISR, and NDIS allocation
//! calls. One adapter, 2 processors in one group, every MSI-X message granted, the default
//! interrupt moderation, NBLs returned after each DPC.

use std::time::{Duration, Instant};

use ndis_sim::sim::{Delivery, GrantPolicy, OidRequest, SendFrame, Sim, SimConfig};
use vmqnic::hw::igb::regs::{RDT, TDT};
use vmqnic::miniport::driver::driver_entry;
use vmqnic::ndis::{
    NDIS_PACKET_TYPE_BROADCAST, NDIS_PACKET_TYPE_DIRECTED, NDIS_PACKET_TYPE_MULTICAST,
    NDIS_RECEIVE_FLAGS_RESOURCES, NDIS_STATUS_SUCCESS, OID_GEN_CURRENT_PACKET_FILTER,
};

/// Frames per wave (as the datapath tests inject them).
const WAVE: usize = 64;
/// Payload bytes of a 64-byte frame (the NIC adds the 4-byte FCS).
const FRAME: usize = 60;
/// A unicast peer on the wire.
const PEER: [u8; 6] = [0x02, 0x50, 0x45, 0x45, 0x52, 0x01];

/// What one direction cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Direction {
    pub frames: u64,
    pub register_reads: u64,
    pub register_writes: u64,
    pub tail_writes: u64,
    /// Receive indications (RX) or MiniportSendNetBufferLists calls (TX).
    pub batches: u64,
    /// Of the receive indications, those with the resources flag (copied).
    pub copied_batches: u64,
    pub interrupts: u64,
    pub dpcs: u64,
    pub dpc_passes: u64,
    pub cross_processor_dpcs: u64,
    pub allocation_calls: u64,
}

/// Both directions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Events {
    pub rx: Direction,
    pub tx: Direction,
}

struct Snapshot {
    reads: u64,
    writes: u64,
    rdt: u64,
    tdt: u64,
    allocations: u64,
}

fn snapshot(sim: &Sim) -> Snapshot {
    let (reads, writes) = sim.register_accesses();
    let counts = sim.register_access_counts();
    let writes_to = |offset: u32| counts.get(&u64::from(offset)).map_or(0, |c| c.1);
    Snapshot {
        reads,
        writes,
        rdt: writes_to(RDT(0)),
        tdt: writes_to(TDT(0)),
        allocations: sim.allocation_calls(),
    }
}

fn delta(direction: &mut Direction, before: &Snapshot, after: &Snapshot) {
    direction.register_reads = after.reads - before.reads;
    direction.register_writes = after.writes - before.writes;
    direction.tail_writes = (after.rdt - before.rdt) + (after.tdt - before.tdt);
    direction.allocation_calls = after.allocations - before.allocations;
}

fn count_deliveries(direction: &mut Direction, deliveries: &[Delivery]) {
    for delivery in deliveries {
        direction.interrupts += 1;
        for dpc in &delivery.dpcs {
            direction.dpcs += 1;
            direction.dpc_passes += u64::from(dpc.passes);
            direction.cross_processor_dpcs += u64::from(dpc.processor != delivery.isr.processor);
        }
    }
}

/// Delivers interrupts until `done` (or 10 s pass), counting them.
fn deliver_until(
    sim: &Sim,
    direction: &mut Direction,
    mut done: impl FnMut(&Sim) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(sim) {
        if Instant::now() > deadline {
            return Err("the driver did not finish a wave within 10 s".into());
        }
        let deliveries =
            sim.deliver_interrupts(Duration::from_millis(20)).map_err(|e| e.to_string())?;
        count_deliveries(direction, &deliveries);
    }
    Ok(())
}

fn frame(destination: [u8; 6], n: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(FRAME);
    f.extend_from_slice(&destination);
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x88, 0xB5]);
    f.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
    while f.len() < FRAME {
        f.push(u8::try_from((f.len() + n) % 251).unwrap_or(0));
    }
    f
}

fn receive(sim: &Sim, ours: [u8; 6], frames: usize, first: usize) -> Result<Direction, String> {
    let mut rx = Direction::default();
    let (indications_before, _) = sim.receive_indication_counts();
    let before = snapshot(sim);
    let mut sent = 0;
    while sent < frames {
        let wave: Vec<Vec<u8>> =
            (sent..frames.min(sent + WAVE)).map(|n| frame(ours, first + n)).collect();
        let refs: Vec<&[u8]> = wave.iter().map(Vec::as_slice).collect();
        let (_, nbls_before) = sim.receive_indication_counts();
        sim.send_frames(&refs).map_err(|e| e.to_string())?;
        let expected = nbls_before + wave.len();
        deliver_until(sim, &mut rx, |s| s.receive_indication_counts().1 >= expected)?;
        sent += wave.len();
    }
    delta(&mut rx, &before, &snapshot(sim));
    let indications = sim.receive_indications();
    let ours = indications.get(indications_before..).unwrap_or_default();
    rx.frames = ours.iter().map(|r| r.nbls.len() as u64).sum();
    rx.batches = ours.len() as u64;
    rx.copied_batches =
        ours.iter().filter(|r| r.flags & NDIS_RECEIVE_FLAGS_RESOURCES != 0).count() as u64;
    if rx.frames != frames as u64 {
        return Err(format!("{} frames indicated, {frames} injected", rx.frames));
    }
    Ok(rx)
}

fn send(sim: &mut Sim, frames: usize, first: usize) -> Result<Direction, String> {
    let mut tx = Direction::default();
    let before = snapshot(sim);
    let completed_before = sim.send_completions().len();
    let mut sent = 0;
    let mut on_wire = 0;
    while sent < frames {
        let wave: Vec<SendFrame> = (sent..frames.min(sent + WAVE))
            .map(|n| SendFrame { bytes: frame(PEER, first + n), ..SendFrame::default() })
            .collect();
        sim.send_frames_as_nbls(&wave, 0).map_err(|e| e.to_string())?;
        tx.batches += 1;
        sent += wave.len();
        let expected = completed_before + sent;
        deliver_until(sim, &mut tx, |s| s.send_completions().len() >= expected)?;
        // Drain the wire as it goes, so the netdev socket never backs up.
        while on_wire < sent {
            match sim.recv_frame(Duration::from_millis(200)).map_err(|e| e.to_string())? {
                Some(_) => on_wire += 1,
                None => return Err(format!("{on_wire} frames on the wire, {sent} sent")),
            }
        }
    }
    delta(&mut tx, &before, &snapshot(sim));
    let completions = sim.send_completions();
    let ours = completions.get(completed_before..).unwrap_or_default();
    if ours.iter().any(|c| c.status != NDIS_STATUS_SUCCESS) {
        return Err("a send failed".into());
    }
    tx.frames = ours.len() as u64;
    Ok(tx)
}

/// Starts the driver on QEMU, warms up, then receives and sends `frames` frames each way.
///
/// # Errors
/// Why it could not run (no QEMU, a wave that did not finish, a contract violation).
pub fn run(frames: usize) -> Result<Events, String> {
    let mut sim =
        Sim::try_start(SimConfig::with_groups(&[2]).with_qemu()).map_err(|e| e.to_string())?;
    sim.load_driver(driver_entry).map_err(|e| e.to_string())?;
    sim.start_device(GrantPolicy::AsRequested).map_err(|e| e.to_string())?;
    let mut warm = Direction::default();
    deliver_until(&sim, &mut warm, Sim::link_up_indicated)?;
    let filter =
        NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_MULTICAST;
    let request = OidRequest::set(OID_GEN_CURRENT_PACKET_FILTER, &filter.to_le_bytes());
    let outcome = sim.oid_request(&request).map_err(|e| e.to_string())?;
    if outcome.completed().map(|c| c.status) != Some(NDIS_STATUS_SUCCESS) {
        return Err("the packet filter was not set".into());
    }
    let ours = sim.qemu().ok_or("no QEMU")?.mac().0;
    receive(&sim, ours, WAVE, 0)?;
    send(&mut sim, WAVE, 0)?;
    let rx = receive(&sim, ours, frames, WAVE)?;
    let tx = send(&mut sim, frames, WAVE)?;
    sim.stop_device().map_err(|e| e.to_string())?;
    sim.unload_driver().map_err(|e| e.to_string())?;
    let violations = sim.violations();
    if !violations.is_empty() {
        return Err(format!("contract violations: {violations:?}"));
    }
    Ok(Events { rx, tx })
}
