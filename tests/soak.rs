//! Soak on QEMU's 82576 under the simulated NDIS (issue [7/8]), seeded and reproducible:
//!
//! * **VM lifecycles**: VMs come and go at random (up to the queues the adapter offers), each
//!   allocated, filtered (MAC, or MAC + VLAN), completed, moved to another processor, torn down
//!   (CLEAR_FILTER, FREE_QUEUE), with traffic to every live VM, to freed VMs' addresses and to
//!   unknown ones in between, and sends. Every frame is indicated exactly once, on its queue,
//!   byte for byte, in order; no DMA reaches freed memory; nothing leaks; no contract
//!   violation.
//! * **PnP cycles**: pause/restart and halt/re-initialize (with a random grant each time) while
//!   frames and sends are in flight, VMs brought up again after each re-initialization. Every
//!   send NBL completes exactly once, no frame is indicated twice, traffic is whole again after
//!   each cycle, and each halt leaves nothing behind.
//!
//! The default run is short (50 lifecycles, 10 PnP cycles); `VMQNIC_SOAK=full` (what `cargo
//! make soak` sets) runs 1,000 lifecycles and 100 PnP cycles, and `VMQNIC_SOAK_LIFECYCLES` /
//! `VMQNIC_SOAK_PNP_CYCLES` set the counts. `VMQNIC_SEED` replays a run (the seed is printed).

mod common;
mod reliability;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ndis_sim::qemu::QemuConfig;
use ndis_sim::sim::{GrantPolicy, SendFrame, Sim, SimConfig};
use ndis_sim::vmq_requests;
use reliability::{
    Rng, Vm, assert_released, bring_up, frame, sends, succeed, tear_down, traffic, vm_mac,
    wait_link,
};
use vmqnic::interrupt::Processor;
use vmqnic::miniport::driver::driver_entry;
use vmqnic::ndis::{
    NDIS_STATUS_PAUSED, NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS, OID_GEN_CURRENT_PACKET_FILTER,
};

/// `$name` as a count, or `full` when `VMQNIC_SOAK=full`, else `short`.
fn count(name: &str, short: usize, full: usize) -> usize {
    if let Ok(value) = std::env::var(name) {
        return value.trim().parse().expect("a count");
    }
    if std::env::var("VMQNIC_SOAK").is_ok_and(|v| v == "full") { full } else { short }
}

/// The processors of groups [2, 2].
const PROCESSORS: [Processor; 4] = [
    Processor { group: 0, number: 0 },
    Processor { group: 0, number: 1 },
    Processor { group: 1, number: 0 },
    Processor { group: 1, number: 1 },
];

/// A 4-processor machine (groups [2, 2]) with 64 MiB of guest RAM (the quarantine of freed
/// queue memory, compared after every interrupt, stays small), the driver loaded.
fn machine() -> Sim {
    let qemu = QemuConfig { memory_mib: 64, ..QemuConfig::default() };
    let mut sim = Sim::start(SimConfig::with_groups(&[2, 2]).with_qemu_config(qemu));
    sim.load_driver(driver_entry).expect("DriverEntry");
    sim
}

fn start(sim: &mut Sim, policy: GrantPolicy) {
    sim.start_device(policy).expect("the adapter starts");
    wait_link(sim, true);
    common::set(sim, OID_GEN_CURRENT_PACKET_FILTER, &common::USUAL_FILTER.to_le_bytes());
}

/// What a soak did (printed, and quoted in the README's "Reliability").
#[derive(Debug, Default)]
struct Figures {
    lifecycles: usize,
    refused_allocations: usize,
    affinity_changes: usize,
    frames: usize,
    sends: usize,
    freed_checks: usize,
    pnp_cycles: usize,
    pauses: usize,
    reinitializations: usize,
    in_flight_sends: usize,
    in_flight_frames: usize,
}

/// Random VM lifecycles with traffic in between.
#[test]
fn random_vm_lifecycles_under_traffic() {
    let seed = reliability::seed(0x5EED_50A6);
    let target = count("VMQNIC_SOAK_LIFECYCLES", 50, 1000);
    let mut rng = Rng::new(seed);
    let began = Instant::now();
    let mut sim = machine();
    start(&mut sim, GrantPolicy::AsRequested);
    let mut figures = Figures::default();
    let mut live: Vec<Vm> = Vec::new();
    let mut ghosts: Vec<Vm> = Vec::new(); // freed untagged VMs: their frames go to queue 0
    let mut next_vm = 1u32;
    let mut next_frame = 0u32;
    let mut step = 0usize;
    while figures.lifecycles < target {
        step += 1;
        let what = format!("seed {seed:#x} step {step}");
        match rng.below(10) {
            // A new VM (queue ids are reused as NDIS does once a queue is freed).
            0..=2 if live.len() < 7 => {
                let queue = (1..=8).find(|q| live.iter().all(|v| v.queue != *q)).unwrap();
                let vm = Vm {
                    queue,
                    filter: next_vm,
                    mac: vm_mac(next_vm),
                    vlan: rng.chance(30).then(|| 1 + u16::try_from(rng.below(4000)).unwrap()),
                    processor: PROCESSORS[rng.below(4)],
                };
                next_vm += 1;
                match bring_up(&mut sim, &vm) {
                    Ok(()) => live.push(vm),
                    // The adapter offers fewer queues than 7: NDIS would not have asked.
                    Err(("ALLOCATE_QUEUE", NDIS_STATUS_RESOURCES)) => {
                        figures.refused_allocations += 1;
                    }
                    Err(other) => panic!("{what}: {vm:?}: {other:?}"),
                }
            }
            // An affinity change, and traffic right after it.
            3 if !live.is_empty() => {
                let index = rng.below(live.len());
                let processor = PROCESSORS[rng.below(4)];
                let vm = &mut live[index];
                succeed(
                    &mut sim,
                    &vmq_requests::change_affinity(
                        vm.queue,
                        processor.group,
                        1 << processor.number,
                    ),
                );
                vm.processor = processor;
                figures.affinity_changes += 1;
                figures.frames += traffic(&sim, &[live[index]], 8, 0, &mut next_frame).sent;
            }
            // A VM goes: its DMA stops, its memory is freed, nothing is written into it.
            4 | 5 if !live.is_empty() => {
                let vm = live.swap_remove(rng.below(live.len()));
                tear_down(&mut sim, &vm);
                assert_eq!(sim.check_freed_memory().expect("check"), vec![], "{what}: DMA");
                figures.freed_checks += 1;
                figures.lifecycles += 1;
                if vm.vlan.is_none() {
                    ghosts.push(Vm { queue: 0, ..vm });
                    if ghosts.len() > 4 {
                        ghosts.remove(0);
                    }
                }
            }
            // Sends.
            6 => figures.sends += sends(&mut sim, 1 + rng.below(24), &mut next_frame),
            // Traffic to every live VM, to freed VMs' addresses and to unknown ones.
            _ => {
                let mut targets = live.clone();
                targets.extend(ghosts.iter().filter(|_| rng.chance(50)));
                let per_vm = 1 + rng.below(12);
                let others = rng.below(8);
                figures.frames += traffic(&sim, &targets, per_vm, others, &mut next_frame).sent;
            }
        }
        if step.is_multiple_of(25) {
            assert_eq!(sim.violations(), vec![], "{what}");
        }
    }
    for vm in std::mem::take(&mut live) {
        tear_down(&mut sim, &vm);
    }
    sim.stop_device().expect("stop");
    assert_released(&sim, &format!("seed {seed:#x}, at the end"));
    sim.unload_driver().expect("unload");
    assert_eq!(sim.violations(), vec![]);
    eprintln!(
        "soak seed {seed:#x}: {} VM lifecycles in {step} steps, {} frames received and checked, \
         {} sends, {} affinity changes, {} refused allocations, {} freed-memory checks, {:.1} s",
        figures.lifecycles,
        figures.frames,
        figures.sends,
        figures.affinity_changes,
        figures.refused_allocations,
        figures.freed_checks,
        began.elapsed().as_secs_f64()
    );
}

/// Frames and sends put in flight without waiting for them.
fn in_flight(sim: &mut Sim, live: &[Vm], rng: &mut Rng, next: &mut u32) -> (Vec<usize>, usize) {
    let mut wire = Vec::new();
    for _ in 0..=rng.below(24) {
        let vm = live.get(rng.below(live.len() + 1));
        let (bytes, _) = match vm {
            Some(vm) => frame(vm.mac, vm.vlan, *next),
            None => frame(reliability::UNKNOWN, None, *next),
        };
        *next += 1;
        wire.push(bytes);
    }
    let refs: Vec<&[u8]> = wire.iter().map(Vec::as_slice).collect();
    sim.send_frames(&refs).expect("frames injected");
    let posted: Vec<SendFrame> = (0..=rng.below(40))
        .map(|_| {
            *next += 1;
            SendFrame {
                bytes: frame(reliability::PEER, None, *next).0,
                backfill: 0,
                mdl_size: Some(512),
                ieee8021q: None,
                queue_id: None,
                cancel_id: None,
            }
        })
        .collect();
    let nbls = sim.send_frames_as_nbls(&posted, 0).expect("sent");
    (nbls, wire.len())
}

/// Every frame number indicated so far, checked for duplicates.
fn no_frame_twice(sim: &Sim, what: &str) {
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for record in sim.receive_indications() {
        for nbl in &record.nbls {
            if let Some(number) = nbl.bytes().get(14..18) {
                *seen.entry(u32::from_be_bytes(number.try_into().unwrap())).or_default() += 1;
            }
        }
    }
    let twice: Vec<u32> = seen.into_iter().filter(|(_, n)| *n > 1).map(|(f, _)| f).collect();
    assert!(twice.is_empty(), "{what}: frames indicated twice: {twice:?}");
}

/// Brings VMs up to 3 (as many as the grant offers queues for).
fn fill(sim: &mut Sim, live: &mut Vec<Vm>, cycle: usize, rng: &mut Rng) {
    while live.len() < 3 {
        let n = u32::try_from(cycle * 3 + live.len()).unwrap() + 1;
        let vm = Vm {
            queue: u32::try_from(live.len()).unwrap() + 1,
            filter: n,
            mac: vm_mac(n),
            vlan: (n % 2 == 0).then_some(u16::try_from(n % 4000).unwrap() + 1),
            processor: PROCESSORS[rng.below(4)],
        };
        if bring_up(sim, &vm).is_err() {
            tear_down(sim, &vm);
            return;
        }
        live.push(vm);
    }
}

/// Waits for `nbls` to complete; each must have, with SUCCESS or PAUSED.
fn sends_completed(sim: &Sim, nbls: &[usize], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while nbls.iter().any(|n| sim.send_status(*n).is_none()) && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(5)).expect("interrupt delivery");
    }
    for nbl in nbls {
        let status = sim.send_status(*nbl);
        assert!(
            matches!(status, Some(NDIS_STATUS_SUCCESS | NDIS_STATUS_PAUSED)),
            "{what}: send {nbl:#x}: {status:?}"
        );
    }
}

/// Pause/restart and halt/re-initialize while frames and sends are in flight.
#[test]
fn pnp_cycles_under_traffic() {
    let seed = reliability::seed(0x5EED_0FA5);
    let target = count("VMQNIC_SOAK_PNP_CYCLES", 10, 100);
    let mut rng = Rng::new(seed);
    let began = Instant::now();
    let mut sim = machine();
    let mut figures = Figures::default();
    let mut next_frame = 0u32;
    let mut all_sends: Vec<usize> = Vec::new();
    let policies = [
        GrantPolicy::AsRequested,
        GrantPolicy::AtMost(3),
        GrantPolicy::Msi,
        GrantPolicy::LineBased,
    ];
    let mut policy = GrantPolicy::AsRequested;
    start(&mut sim, policy);
    let mut live: Vec<Vm> = Vec::new();
    for cycle in 0..target {
        let what = format!("seed {seed:#x} cycle {cycle} ({policy:?})");
        // VMs up (as many as the grant allows), traffic whole.
        fill(&mut sim, &mut live, cycle, &mut rng);
        figures.frames += traffic(&sim, &live, 8, 4, &mut next_frame).sent;
        // Frames and sends in flight, then the transition.
        let (nbls, frames) = in_flight(&mut sim, &live, &mut rng, &mut next_frame);
        figures.in_flight_sends += nbls.len();
        figures.in_flight_frames += frames;
        all_sends.extend(&nbls);
        if rng.chance(50) {
            // Pause (pending until the ring drains and the NBLs come back), then restart.
            if sim.pause().expect("pause") == ndis_sim::sim::Completion::Pending {
                sim.wait_for_state(
                    ndis_sim::sim::AdapterState::Paused,
                    Duration::from_secs(5),
                    "NdisMPauseComplete",
                )
                .expect("the pause completes");
            }
            sim.restart().expect("restart");
            figures.pauses += 1;
        } else {
            // NDIS tears the VMs down, then halts; PnP starts the device again.
            for vm in std::mem::take(&mut live) {
                tear_down(&mut sim, &vm);
            }
            sim.stop_device().expect("pause, halt, remove");
            assert_released(&sim, &what);
            policy = policies[rng.below(policies.len())];
            start(&mut sim, policy);
            figures.reinitializations += 1;
        }
        // Whatever was in flight: each send completed exactly once (SUCCESS or PAUSED).
        sends_completed(&sim, &nbls, &what);
        // Frames in flight may have been dropped by the stopped receiver, never duplicated.
        sim.deliver_interrupts(Duration::from_millis(10)).expect("interrupt delivery");
        while sim.recv_frame(Duration::ZERO).expect("the wire").is_some() {}
        no_frame_twice(&sim, &what);
        // And the traffic is whole again.
        figures.frames += traffic(&sim, &live, 8, 4, &mut next_frame).sent;
        figures.sends += sends(&mut sim, 4, &mut next_frame);
        assert_eq!(sim.violations(), vec![], "{what}");
        figures.pnp_cycles += 1;
    }
    let completions = sim.send_completions();
    let once: BTreeSet<usize> = completions.iter().map(|c| c.nbl).collect();
    assert_eq!(once.len(), completions.len(), "a send NBL completed twice");
    assert!(all_sends.iter().all(|n| once.contains(n)), "a send never completed");
    for vm in std::mem::take(&mut live) {
        tear_down(&mut sim, &vm);
    }
    sim.stop_device().expect("stop");
    assert_released(&sim, &format!("seed {seed:#x}, at the end"));
    sim.unload_driver().expect("unload");
    assert_eq!(sim.violations(), vec![]);
    eprintln!(
        "soak seed {seed:#x}: {} PnP cycles ({} pause/restart, {} halt/re-initialize) with {} \
         sends and {} frames in flight at the transitions; {} frames received and checked, {} \
         sends, {:.1} s",
        figures.pnp_cycles,
        figures.pauses,
        figures.reinitializations,
        figures.in_flight_sends,
        figures.in_flight_frames,
        figures.frames,
        figures.sends,
        began.elapsed().as_secs_f64()
    );
}
