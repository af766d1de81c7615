//! Fault injection on QEMU's 82576 under the simulated NDIS (issue [7/8]):
//!
//! * every NDIS allocation call site of the start path (AddDevice, the requirements filter,
//!   MiniportInitializeEx, Restart), and NdisMRegisterInterruptEx, NdisMRegisterScatterGatherDma
//!   and NdisMMapIoSpace, made to fail in turn: InitializeEx fails cleanly and releases
//!   everything (or the failure is absorbed, for the filter and the keywords), and the next
//!   start works;
//! * the allocations of a VM queue's bring-up (and every allocation, during traffic) failing at
//!   run time: the OID fails, nothing is left half-done, traffic goes on, and the same queue
//!   comes up once memory is back;
//! * grants smaller than any table (1 to 3 MSI-X messages of 10, MSI, a line);
//! * surprise removal (reads all-ones, no DMA, no interrupt) during traffic, during OIDs and
//!   in the middle of one; link flaps under traffic.
//!
//! Each test prints the faults it injected (the figures of the README's "Reliability").

mod common;
mod reliability;

use std::collections::BTreeMap;
use std::time::Duration;

use ndis_sim::sim::{
    FAILABLE_EXPORTS, Fault, GrantPolicy, OidRequest, ReturnPolicy, SendFrame, Sim, SimConfig,
    SimError,
};
use ndis_sim::vmq_requests;
use reliability::{
    Rng, Vm, assert_released, bring_up, completed, frame, sends, succeed, tear_down, traffic,
    vm_mac, wait_link,
};
use vmqnic::interrupt::Processor;
use vmqnic::miniport::driver::driver_entry;
use vmqnic::ndis::{
    NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS,
    OID_GEN_CURRENT_PACKET_FILTER, OID_GEN_STATISTICS,
};
use vmqnic::oid::general::SUPPORTED_OIDS;

const fn p(group: u16, number: u8) -> Processor {
    Processor { group, number }
}

fn vm(n: u32, processor: Processor, vlan: Option<u16>) -> Vm {
    Vm { queue: n, filter: n, mac: vm_mac(n), vlan, processor }
}

/// A loaded driver on a 4-processor machine (groups [2, 2]) with QEMU, no device yet.
fn loaded(config: SimConfig) -> Sim {
    let mut sim = Sim::start(config.with_qemu());
    sim.load_driver(driver_entry).expect("DriverEntry");
    sim
}

/// Starts the device, waits for the link, sets the usual packet filter.
fn start(sim: &mut Sim, policy: GrantPolicy) {
    sim.start_device(policy).expect("the adapter starts");
    wait_link(sim, true);
    common::set(sim, OID_GEN_CURRENT_PACKET_FILTER, &common::USUAL_FILTER.to_le_bytes());
}

/// Calls to each failable export that `f` makes.
fn calls_during(sim: &mut Sim, f: impl FnOnce(&mut Sim)) -> BTreeMap<&'static str, u64> {
    let before = sim.failable_calls();
    f(sim);
    let mut delta = sim.failable_calls();
    for (function, count) in &mut delta {
        *count -= before.get(function).copied().unwrap_or(0);
    }
    delta.retain(|_, count| *count > 0);
    delta
}

/// Which calls of an export that is called `count` times to fail: the first two, the middle
/// one, the last two (every call when there are few; every call site of the driver is the
/// first call of its kind at some point of the sequence).
fn chosen_calls(count: u64) -> Vec<u64> {
    let mut calls: Vec<u64> =
        if count <= 8 { (1..=count).collect() } else { vec![1, 2, count / 2, count - 1, count] };
    calls.dedup();
    calls
}

/// Every allocation site of the start path (and the three registrations), failing in turn.
#[test]
fn a_failed_call_on_the_start_path_fails_initialize_cleanly_or_is_absorbed() {
    let mut sim = loaded(SimConfig::with_groups(&[2, 2]));
    let calls = calls_during(&mut sim, |sim| {
        start(sim, GrantPolicy::AsRequested);
        sim.stop_device().expect("stop");
    });
    assert_released(&sim, "a clean start and stop");
    for function in ["NdisMRegisterInterruptEx", "NdisMRegisterScatterGatherDma", "NdisMMapIoSpace"]
    {
        assert!(calls.contains_key(function), "{function} is on the start path");
    }
    eprintln!("calls on the start path: {calls:?}");
    let (mut failed, mut absorbed) = (0, 0);
    for (&function, &count) in &calls {
        for call in chosen_calls(count) {
            let what = format!("{function} call {call} of {count}");
            sim.inject_fault(Fault::NthCall(function, call));
            let started = sim.start_device(GrantPolicy::AsRequested);
            assert!(sim.armed_faults().is_empty(), "{what}: the call was not made");
            match started {
                // AddDevice may fail too (its context): the device then never starts.
                Err(SimError::Failed {
                    handler: "MiniportInitializeEx" | "MiniportAddDevice" | "MiniportStartDevice",
                    ..
                }) => failed += 1,
                Ok(_) => {
                    absorbed += 1;
                    let fault = sim.injected_faults().pop();
                    eprintln!("absorbed: {fault:?}");
                    // The failure was absorbed: the adapter works.
                    wait_link(&sim, true);
                    let statistics =
                        completed(&mut sim, &OidRequest::query(OID_GEN_STATISTICS, 0x98));
                    assert_eq!(statistics.status, NDIS_STATUS_SUCCESS, "{what}");
                    sim.stop_device().expect("stop");
                }
                Err(other) => panic!("{what}: {other:?}"),
            }
            assert_released(&sim, &what);
        }
    }
    let injected = sim.injected_faults();
    eprintln!(
        "{} faults injected on the start path: InitializeEx failed cleanly {failed} times, \
         {absorbed} absorbed",
        injected.len()
    );
    assert_eq!(injected.len(), failed + absorbed);
    // Every allocation failing: InitializeEx fails at the first one, cleanly.
    sim.inject_fault(Fault::EveryAllocation);
    assert!(sim.start_device(GrantPolicy::AsRequested).is_err(), "nothing can be allocated");
    sim.clear_faults();
    assert_released(&sim, "every allocation failing");
    // And the device still starts and carries traffic.
    start(&mut sim, GrantPolicy::AsRequested);
    let mut next = 0;
    traffic(&sim, &[], 0, 32, &mut next);
    common::stop(sim);
}

/// NdisMRegisterInterruptEx failing: InitializeEx fails with everything released, and a
/// second start (the resources come back) works with every message.
#[test]
fn register_interrupt_failure_fails_initialize_and_the_next_start_works() {
    let mut sim = loaded(SimConfig::with_groups(&[2, 2]));
    sim.inject_fault(Fault::NthCall("NdisMRegisterInterruptEx", 1));
    let error = sim.start_device(GrantPolicy::AsRequested).expect_err("InitializeEx fails");
    assert!(matches!(error, SimError::Failed { handler: "MiniportInitializeEx", .. }), "{error:?}");
    assert_eq!(sim.injected_faults().len(), 1);
    assert_released(&sim, "after the failed InitializeEx");
    start(&mut sim, GrantPolicy::AsRequested);
    let vms = [vm(1, p(0, 1), None), vm(2, p(1, 0), Some(100))];
    for vm in &vms {
        bring_up(&mut sim, vm).expect("VM up");
    }
    let mut next = 0;
    traffic(&sim, &vms, 20, 10, &mut next);
    for vm in &vms {
        tear_down(&mut sim, vm);
    }
    common::stop(sim);
}

/// The allocations a VM queue's bring-up makes (QUEUE_ALLOCATION_COMPLETE builds its ring,
/// buffers, NBLs and MDLs), failing in turn while another VM carries traffic: the bring-up
/// fails, the teardown NDIS then sends leaves nothing behind, the running VM never notices,
/// and the queue comes up once memory is back.
#[test]
fn run_time_allocation_failures_fail_the_oid_and_leave_nothing_half_done() {
    let mut sim = loaded(SimConfig::with_groups(&[2, 2]));
    start(&mut sim, GrantPolicy::AsRequested);
    let steady = vm(1, p(0, 1), None);
    let victim = vm(2, p(1, 1), Some(200));
    bring_up(&mut sim, &steady).expect("steady VM up");
    let mut next = 0;
    let calls = calls_during(&mut sim, |sim| {
        bring_up(sim, &victim).expect("victim VM up");
        tear_down(sim, &victim);
    });
    eprintln!("calls of one VM bring-up and teardown: {calls:?}");
    let memory = sim.shared_memory().len();
    let mut refused = 0;
    for (&function, &count) in &calls {
        for call in chosen_calls(count) {
            let what = format!("{function} call {call} of {count}");
            sim.inject_fault(Fault::NthCall(function, call));
            let outcome = bring_up(&mut sim, &victim);
            sim.clear_faults();
            if outcome.is_err() {
                refused += 1;
            }
            // The VM that runs is unaffected, whatever happened to the other one.
            let live: Vec<Vm> = if outcome.is_ok() { vec![steady, victim] } else { vec![steady] };
            traffic(&sim, &live, 8, 4, &mut next);
            tear_down(&mut sim, &victim);
            assert_eq!(sim.shared_memory().len(), memory, "{what}: queue memory left");
            assert_eq!(sim.violations(), vec![], "{what}");
        }
    }
    // Every allocation failing during traffic and sends: nothing on the packet path allocates.
    sim.inject_fault(Fault::EveryAllocation);
    traffic(&sim, &[steady], 64, 64, &mut next);
    sends(&mut sim, 32, &mut next);
    let refused_now = bring_up(&mut sim, &victim);
    assert!(refused_now.is_err(), "no memory, no queue");
    tear_down(&mut sim, &victim);
    sim.clear_faults();
    bring_up(&mut sim, &victim).expect("memory is back: the queue comes up");
    traffic(&sim, &[steady, victim], 16, 4, &mut next);
    let injected = sim.injected_faults().len();
    eprintln!("{injected} run-time faults injected; {refused} bring-ups refused");
    tear_down(&mut sim, &victim);
    tear_down(&mut sim, &steady);
    common::stop(sim);
}

/// Grants smaller than the device's 10-entry table and than the 4 RSS processors: 1, 2 and 3
/// MSI-X messages, one MSI message, a line. Each starts, and every frame reaches the queue the
/// plan allows (VM queues where VMQ is on, the default queue otherwise), every send leaves.
#[test]
fn grants_smaller_than_any_table_still_carry_every_frame() {
    for policy in [
        GrantPolicy::AtMost(1),
        GrantPolicy::AtMost(2),
        GrantPolicy::AtMost(3),
        GrantPolicy::Msi,
        GrantPolicy::LineBased,
    ] {
        let mut sim = loaded(SimConfig::with_groups(&[2, 2]));
        start(&mut sim, policy);
        let vms = [vm(1, p(0, 1), None), vm(2, p(1, 1), Some(7))];
        let mut live = Vec::new();
        for vm in &vms {
            match bring_up(&mut sim, vm) {
                Ok(()) => live.push(*vm),
                // VMQ off, or fewer queues offered than VMs (NumQueues).
                Err(("ALLOCATE_QUEUE", NDIS_STATUS_NOT_SUPPORTED | NDIS_STATUS_RESOURCES)) => {}
                Err(other) => panic!("{policy:?}: {other:?}"),
            }
        }
        let vmq = !live.is_empty();
        eprintln!("{policy:?}: {} VM queue(s)", live.len());
        assert_eq!(vmq, matches!(policy, GrantPolicy::AtMost(2 | 3)), "{policy:?}: VMQ");
        let mut next = 0;
        traffic(&sim, &live, 24, 24, &mut next);
        sends(&mut sim, 16, &mut next);
        for vm in &live {
            tear_down(&mut sim, vm);
        }
        common::stop(sim);
    }
}

/// Surprise removal in the middle of traffic: frames injected and sends posted, then the
/// device is gone before any interrupt. Pause, halt and remove complete, every send NBL is
/// completed exactly once, every indicated NBL comes back, nothing leaks, nothing is DMA'd.
#[test]
fn surprise_removal_during_traffic_tears_down_cleanly() {
    let mut sim = loaded(SimConfig::with_groups(&[2, 2]));
    start(&mut sim, GrantPolicy::AsRequested);
    let vms = [vm(1, p(0, 1), None), vm(2, p(1, 0), Some(100))];
    for vm in &vms {
        bring_up(&mut sim, vm).expect("VM up");
    }
    let mut next = 0;
    traffic(&sim, &vms, 16, 16, &mut next);
    // In flight: frames for each VM and the default queue, and sends in the ring.
    let mut wire = Vec::new();
    for vm in &vms {
        for _ in 0..20 {
            wire.push(frame(vm.mac, vm.vlan, next).0);
            next += 1;
        }
    }
    let refs: Vec<&[u8]> = wire.iter().map(Vec::as_slice).collect();
    sim.send_frames(&refs).expect("frames injected");
    let posted: Vec<SendFrame> = (0..40)
        .map(|n| SendFrame {
            bytes: frame(reliability::PEER, None, next + n).0,
            backfill: 0,
            mdl_size: None,
            ieee8021q: None,
            queue_id: None,
            cancel_id: None,
        })
        .collect();
    let nbls = sim.send_frames_as_nbls(&posted, 0).expect("sent");
    sim.surprise_remove().expect("surprise removal");
    // Sends after the removal.
    let late = sim.send_frames_as_nbls(&posted[..4], 0).expect("sent");
    sim.deliver_interrupts(Duration::from_millis(20)).expect("nothing to deliver");
    // NDIS now clears the filters and frees the queues, then pauses and halts.
    for vm in &vms {
        tear_down(&mut sim, vm);
    }
    sim.stop_device().expect("pause, halt and remove after a surprise removal");
    let completions = sim.send_completions();
    for nbl in nbls.iter().chain(&late) {
        let count = completions.iter().filter(|c| c.nbl == *nbl).count();
        assert_eq!(count, 1, "send NBL {nbl:#x} completed {count} times");
    }
    assert_released(&sim, "surprise removal during traffic");
    sim.unload_driver().expect("unload");
    assert_eq!(sim.violations(), vec![]);
}

/// Surprise removal between OIDs: every OID the driver handles still completes (FREE_QUEUE
/// and CLEAR_FILTER with SUCCESS), none hangs or crashes, and the teardown is clean.
#[test]
fn surprise_removal_during_oids_completes_every_oid() {
    let mut config = SimConfig::with_groups(&[2, 2]);
    config.receive_returns = ReturnPolicy::Hold;
    let mut sim = loaded(config);
    start(&mut sim, GrantPolicy::AsRequested);
    let running = vm(1, p(0, 1), None);
    bring_up(&mut sim, &running).expect("VM up");
    let mut next = 0;
    // The protocol holds the queue's NBLs: FREE_QUEUE must pend, then complete.
    traffic(&sim, &[running], 8, 0, &mut next);
    let allocated = vm(2, p(1, 0), None);
    succeed(&mut sim, &vmq_requests::allocate_queue(2, 1, 1));
    sim.surprise_remove().expect("surprise removal");
    let mut requests = 0;
    for &oid in SUPPORTED_OIDS {
        completed(&mut sim, &OidRequest::query(oid, 0x100));
        requests += 1;
    }
    for request in [
        vmq_requests::set_filter(2, 2, &allocated.fields()),
        vmq_requests::allocation_complete(&[2]),
        vmq_requests::change_affinity(1, 1, 0b10),
        vmq_requests::allocate_queue(3, 0, 1),
        vmq_requests::clear_filter(1, 1),
        vmq_requests::clear_filter(2, 2),
        vmq_requests::free_queue(1),
        vmq_requests::free_queue(2),
        vmq_requests::free_queue(3),
        OidRequest::set(OID_GEN_CURRENT_PACKET_FILTER, &0u32.to_le_bytes()),
    ] {
        let done = completed(&mut sim, &request);
        requests += 1;
        if [vmq_requests::clear_filter(1, 1).oid, vmq_requests::free_queue(1).oid]
            .contains(&request.oid)
        {
            assert_eq!(done.status, NDIS_STATUS_SUCCESS, "OID {:#x}", request.oid);
        }
    }
    eprintln!("{requests} OIDs after a surprise removal, all completed");
    sim.stop_device().expect("teardown after the removal");
    assert_released(&sim, "surprise removal during OIDs");
}

/// Surprise removal in the middle of a VM bring-up, at a random register access of it (the
/// device answers all-ones from then on): the OIDs complete, the teardown is clean. Seeded.
#[test]
fn surprise_removal_in_the_middle_of_an_oid() {
    let seed = reliability::seed(0x5EED_0007);
    let mut rng = Rng::new(seed);
    for round in 0..6 {
        let mut sim = loaded(SimConfig::with_groups(&[2, 2]));
        start(&mut sim, GrantPolicy::AsRequested);
        let victim = vm(1, p(1, 1), Some(5));
        // How many register accesses a bring-up makes; the device vanishes at one of them.
        let accesses = |sim: &Sim| {
            let (reads, writes) = sim.register_accesses();
            reads + writes
        };
        let before = accesses(&sim);
        bring_up(&mut sim, &victim).expect("a first bring-up");
        let count = accesses(&sim) - before;
        tear_down(&mut sim, &victim);
        let at = 1 + u64::try_from(rng.below(usize::try_from(count).unwrap())).unwrap();
        sim.surprise_remove_after(at);
        let outcome = bring_up(&mut sim, &victim);
        assert!(sim.surprise_removed(), "the device vanished during the bring-up");
        sim.surprise_remove().expect("NDIS tells the driver");
        eprintln!("seed {seed:#x} round {round}: removal at access {at} of {count}: {outcome:?}");
        tear_down(&mut sim, &victim);
        sim.stop_device().expect("teardown after the removal");
        assert_released(&sim, &format!("seed {seed:#x} round {round}"));
    }
}

/// Link flaps under traffic: the cable pulled and plugged back in three times while VMs run;
/// each change is indicated, and after each the traffic of every VM is complete and in order.
#[test]
fn link_flaps_under_traffic() {
    let mut sim = loaded(SimConfig::with_groups(&[2, 2]));
    start(&mut sim, GrantPolicy::AsRequested);
    let vms = [vm(1, p(0, 1), None), vm(2, p(1, 1), Some(300))];
    for vm in &vms {
        bring_up(&mut sim, vm).expect("VM up");
    }
    let mut next = 0;
    for flap in 0..3 {
        traffic(&sim, &vms, 16, 8, &mut next);
        sim.set_link(false).expect("cable out");
        wait_link(&sim, false);
        // Sends while the link is down complete (the frames are lost on the way).
        reliability::sends_complete(&mut sim, 4, &mut next);
        sim.set_link(true).expect("cable in");
        wait_link(&sim, true);
        traffic(&sim, &vms, 16, 8, &mut next);
        eprintln!("flap {flap}: link down and up, traffic whole");
    }
    for vm in &vms {
        tear_down(&mut sim, vm);
    }
    common::stop(sim);
}

#[test]
fn every_failable_export_is_known_to_the_simulator() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    for function in FAILABLE_EXPORTS {
        sim.inject_fault(Fault::NthCall(function, 1));
    }
    assert_eq!(sim.armed_faults().len(), FAILABLE_EXPORTS.len());
    sim.clear_faults();
    assert!(sim.armed_faults().is_empty());
}
