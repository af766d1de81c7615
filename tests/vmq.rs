//! VMQ end to end on QEMU's 82576 under the simulated NDIS: queues allocated with affinities in
//! two processor groups, MAC and MAC+VLAN filters, frames steered to their VM's queue and
//! indicated with its queue id on its processor (ISR, DPC and indication), an affinity change
//! that moves the very next interrupt, and FREE_QUEUE that stops DMA, reports DmaStopped and
//! waits for the queue's NBLs; then the same traffic with degraded grants.

mod common;

use common::*;
use ndis_sim::sim::{
    Delivery, GrantPolicy, OidCompletion, OidOutcome, OidRequest, ReturnPolicy, Sim, SimConfig,
};
use ndis_sim::vmq_requests::{self, FilterField};
use std::collections::BTreeMap;
use std::time::Duration;
use vmqnic::interrupt::Processor;
use vmqnic::ndis::{
    NDIS_RECEIVE_FLAGS_SINGLE_QUEUE, NDIS_RECEIVE_QUEUE_PARAMETERS, NDIS_STATUS_NOT_SUPPORTED,
    NDIS_STATUS_RECEIVE_QUEUE_STATE, NDIS_STATUS_SUCCESS,
    NdisReceiveQueueOperationalStateDmaStopped,
};

/// One VM of the scenario.
#[derive(Clone, Copy, Debug)]
struct Vm {
    queue: u32,
    mac: [u8; 6],
    vlan: Option<u16>,
    processor: Processor,
}

const fn p(group: u16, number: u8) -> Processor {
    Processor { group, number }
}

/// Three VMs with distinct MACs and processors in two groups; the third has VLAN 100.
const VMS: [Vm; 3] = [
    Vm { queue: 1, mac: [0x02, 0x56, 0x4D, 0, 0, 1], vlan: None, processor: p(0, 1) },
    Vm { queue: 2, mac: [0x02, 0x56, 0x4D, 0, 0, 2], vlan: None, processor: p(1, 0) },
    Vm { queue: 3, mac: [0x02, 0x56, 0x4D, 0, 0, 3], vlan: Some(100), processor: p(1, 1) },
];

/// An address no filter knows.
const UNKNOWN: [u8; 6] = [0x02, 0x55, 0x4E, 0x4B, 0x4E, 0x57];

fn completed(sim: &mut Sim, request: &OidRequest) -> OidCompletion {
    match sim.oid_request(request).expect("OID request") {
        OidOutcome::Completed(done) => done,
        OidOutcome::Pending(id) => sim.wait_oid(id, Duration::from_secs(5)).expect("completion"),
    }
}

fn succeed(sim: &mut Sim, request: &OidRequest) -> OidCompletion {
    let done = completed(sim, request);
    assert_eq!(done.status, NDIS_STATUS_SUCCESS, "OID {:#x}", request.oid);
    done
}

fn filter_fields(vm: &Vm) -> Vec<FilterField> {
    match vm.vlan {
        Some(vlan) => vec![
            FilterField::Mac { address: vm.mac, untagged_or_zero: false },
            FilterField::Vlan(vlan),
        ],
        None => vec![FilterField::Mac { address: vm.mac, untagged_or_zero: true }],
    }
}

/// Allocates, filters and completes every VM's queue; returns the MSI-X table entry each
/// queue was given.
fn bring_up(sim: &mut Sim, vms: &[Vm]) -> Vec<u32> {
    let mut entries = Vec::new();
    for vm in vms {
        let mask = 1u64 << vm.processor.number;
        let done = succeed(sim, &vmq_requests::allocate_queue(vm.queue, vm.processor.group, mask));
        let at = std::mem::offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, MSIXTableEntry);
        entries.push(u32::from_le_bytes(done.buffer[at..at + 4].try_into().unwrap()));
        succeed(sim, &vmq_requests::set_filter(vm.queue, vm.queue, &filter_fields(vm)));
    }
    let ids: Vec<u32> = vms.iter().map(|vm| vm.queue).collect();
    let done = succeed(sim, &vmq_requests::allocation_complete(&ids));
    for (index, id) in ids.iter().enumerate() {
        let status = vmq_requests::completion_status(&done.buffer, index);
        assert_eq!(status, Some(NDIS_STATUS_SUCCESS), "queue {id} completed");
    }
    entries
}

/// Frame `n` for `vm`, tagged with its VLAN if it has one (priority 3).
fn vm_frame(vm: &Vm, n: usize) -> Vec<u8> {
    let plain = frame(vm.mac, n);
    match vm.vlan {
        Some(vlan) => {
            let tci = (3u16 << 13 | vlan).to_be_bytes();
            [&plain[..12], &[0x81, 0x00, tci[0], tci[1]], &plain[12..]].concat()
        }
        None => plain,
    }
}

/// One indicated NBL: queue id, bytes, 802.1Q (VLAN, priority).
type SeenNbl = (u16, Vec<u8>, Option<(u16, u8)>);

/// Per indication: (queue id, processor, flags), and every NBL.
struct Seen {
    indications: Vec<(u16, Processor, u32)>,
    nbls: Vec<SeenNbl>,
}

fn seen_since(sim: &Sim, first_indication: usize) -> Seen {
    let records = sim.receive_indications();
    let mut seen = Seen { indications: Vec::new(), nbls: Vec::new() };
    for record in &records[first_indication..] {
        let queue = record.nbls.first().map_or(0, |n| n.queue_id);
        seen.indications.push((queue, record.processor, record.flags));
        for nbl in &record.nbls {
            seen.nbls.push((nbl.queue_id, nbl.bytes().to_vec(), nbl.ieee8021q));
        }
    }
    seen
}

/// The processor each delivered message targets, per message.
fn message_targets(sim: &Sim) -> BTreeMap<u32, Processor> {
    sim.grant().unwrap().messages.iter().map(|m| (m.number, m.target)).collect()
}

#[test]
fn frames_reach_only_their_vms_queue_on_its_processor_and_freeing_stops_the_queue() {
    let mut sim = running(SimConfig::with_groups(&[2, 2]), GrantPolicy::AsRequested);
    let entries = bring_up(&mut sim, &VMS);
    assert_eq!(entries.len(), 3);
    let first = sim.receive_indications().len();
    let per_vm = 50;
    let mut frames = Vec::new();
    for n in 0..per_vm {
        for vm in &VMS {
            frames.push(vm_frame(vm, n));
        }
    }
    let unknown: Vec<Vec<u8>> = (0..20).map(|n| frame(UNKNOWN, 1000 + n)).collect();
    let broadcast: Vec<Vec<u8>> = (0..5).map(|n| frame(BROADCAST, 2000 + n)).collect();
    let mut deliveries: Vec<Delivery> = Vec::new();
    for batch in [&frames, &unknown, &broadcast] {
        let before = received(&sim).len();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        sim.send_frames(&refs).expect("frames injected");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while received(&sim).len() < before + batch.len() && std::time::Instant::now() < deadline {
            deliveries.extend(sim.deliver_interrupts(Duration::from_millis(20)).unwrap());
        }
    }
    let seen = seen_since(&sim, first);
    assert_eq!(seen.nbls.len(), frames.len() + unknown.len() + broadcast.len(), "every frame");

    // Each VM's frames on its queue only, byte-exact; VLAN 100's tag stripped into the NBL.
    for vm in &VMS {
        let queue = u16::try_from(vm.queue).unwrap();
        let got: Vec<_> = seen.nbls.iter().filter(|n| n.0 == queue).collect();
        assert_eq!(got.len(), per_vm, "queue {queue}");
        for (n, (_, bytes, tag)) in got.iter().enumerate() {
            assert_eq!(bytes, &frame(vm.mac, n), "queue {queue} frame {n}");
            assert_eq!(*tag, vm.vlan.map(|vlan| (vlan, 3)), "queue {queue} 802.1Q info");
        }
    }
    // Unknown unicast and broadcast: the default queue.
    let default: Vec<&Vec<u8>> = seen.nbls.iter().filter(|n| n.0 == 0).map(|n| &n.1).collect();
    let expected: Vec<&Vec<u8>> = unknown.iter().chain(&broadcast).collect();
    assert_eq!(default, expected, "unknown unicast and broadcast on the default queue");

    // Every indication: one queue, on that queue's processor.
    let mut mismatches = 0;
    for (queue, processor, flags) in &seen.indications {
        assert_ne!(flags & NDIS_RECEIVE_FLAGS_SINGLE_QUEUE, 0);
        if let Some(vm) = VMS.iter().find(|vm| u32::from(*queue) == vm.queue)
            && *processor != vm.processor
        {
            mismatches += 1;
        }
    }
    // Every ISR and DPC on its message's processor.
    let targets = message_targets(&sim);
    for delivery in &deliveries {
        let target = delivery.message.and_then(|m| targets.get(&m)).copied();
        if Some(delivery.isr.processor) != target {
            mismatches += 1;
        }
        mismatches += delivery.dpcs.iter().filter(|d| Some(d.processor) != target).count();
    }
    assert_eq!(mismatches, 0, "processor mismatches");

    // Affinity change: VM 1 moves to 1:0; its very next frames are indicated there.
    succeed(&mut sim, &vmq_requests::change_affinity(1, 1, 1));
    let before = sim.receive_indications().len();
    inject(&sim, &(0..10).map(|n| frame(VMS[0].mac, 3000 + n)).collect::<Vec<_>>());
    let moved = seen_since(&sim, before);
    assert!(moved.indications.iter().all(|(q, processor, _)| *q == 1 && *processor == p(1, 0)));

    // Free queue 1: clear its filter, free it; DmaStopped is indicated, and its MAC's frames
    // then go to the default queue.
    succeed(&mut sim, &vmq_requests::clear_filter(1, 1));
    succeed(&mut sim, &vmq_requests::free_queue(1));
    let stopped = sim.status_indications().iter().any(|s| {
        s.status_code == NDIS_STATUS_RECEIVE_QUEUE_STATE
            && s.buffer.get(8..12) == Some(&1u32.to_le_bytes()[..])
            && s.buffer.get(12..16)
                == Some(&NdisReceiveQueueOperationalStateDmaStopped.to_le_bytes()[..])
    });
    assert!(stopped, "DmaStopped indicated for queue 1");
    let before = sim.receive_indications().len();
    inject(&sim, &(0..300).map(|n| frame(VMS[0].mac, 4000 + n)).collect::<Vec<_>>());
    assert!(seen_since(&sim, before).nbls.iter().all(|n| n.0 == 0), "freed queue's MAC → default");
    // Queue 1's ring and buffers are watched since they were freed: not one byte was DMA'd
    // into them by the 300 frames to its MAC (or anything else).
    let freed: Vec<_> = sim.freed_memory().into_iter().filter(|r| r.queue_id == Some(1)).collect();
    assert_eq!(freed.len(), 2, "queue 1's descriptor ring and buffers");
    assert!(freed.iter().all(|r| r.intact), "no DMA into freed memory: {freed:?}");
    assert_eq!(sim.check_freed_memory().expect("check"), vec![]);
    // The other queues are untouched.
    for vm in &VMS[1..] {
        succeed(&mut sim, &vmq_requests::clear_filter(vm.queue, vm.queue));
        succeed(&mut sim, &vmq_requests::free_queue(vm.queue));
    }
    stop(sim);
}

#[test]
fn free_queue_waits_for_the_queues_nbls_and_completes_from_the_work_item() {
    let mut config = SimConfig::with_groups(&[2]);
    config.receive_returns = ReturnPolicy::Hold;
    let mut sim = running(config, GrantPolicy::AsRequested);
    let vm = Vm { processor: p(0, 1), ..VMS[0] };
    bring_up(&mut sim, &[vm]);
    inject(&sim, &(0..20).map(|n| frame(vm.mac, n)).collect::<Vec<_>>());
    succeed(&mut sim, &vmq_requests::clear_filter(vm.queue, vm.queue));
    let outcome = sim.oid_request(&vmq_requests::free_queue(vm.queue)).expect("free queue");
    let OidOutcome::Pending(id) = outcome else {
        panic!("FREE_QUEUE pends while NBLs are out: {outcome:?}")
    };
    assert!(sim.oid_completion(id).is_none());
    sim.return_indicated_nbls();
    let done = sim.wait_oid(id, Duration::from_secs(5)).expect("completed by the work item");
    assert_eq!(done.status, NDIS_STATUS_SUCCESS);
    assert!(!done.synchronous);
    assert!(sim.shared_memory().iter().all(|b| b.queue_id != vm.queue), "queue memory freed");
    stop(sim);
}

#[test]
fn degraded_grants_deliver_every_frame_with_vmq_as_the_plan_says() {
    for (policy, vmq_on) in
        [(GrantPolicy::AtMost(2), true), (GrantPolicy::Msi, false), (GrantPolicy::LineBased, false)]
    {
        let mut sim = running(SimConfig::with_groups(&[2, 2]), policy);
        let vm = VMS[1];
        let allocation = completed(&mut sim, &vmq_requests::allocate_queue(vm.queue, 1, 1));
        if vmq_on {
            assert_eq!(allocation.status, NDIS_STATUS_SUCCESS, "{policy:?}");
            succeed(&mut sim, &vmq_requests::set_filter(vm.queue, 7, &filter_fields(&vm)));
            succeed(&mut sim, &vmq_requests::allocation_complete(&[vm.queue]));
        } else {
            assert_eq!(allocation.status, NDIS_STATUS_NOT_SUPPORTED, "{policy:?}: VMQ off");
        }
        let frames: Vec<Vec<u8>> = (0..100)
            .map(|n| if n % 2 == 0 { frame(vm.mac, n) } else { frame(UNKNOWN, n) })
            .collect();
        inject(&sim, &frames);
        let nbls = received(&sim);
        assert_eq!(nbls.len(), frames.len(), "{policy:?}");
        // Order holds within a queue (queues are serviced independently).
        for queue in [0u16, 2] {
            let expected_queue = |f: &Vec<u8>| if vmq_on && f[..6] == vm.mac { 2 } else { 0 };
            let sent: Vec<&Vec<u8>> =
                frames.iter().filter(|f| expected_queue(f) == queue).collect();
            let got: Vec<&[u8]> = nbls
                .iter()
                .filter(|n| n.queue_id == queue)
                .map(ndis_sim::sim::ReceivedNbl::bytes)
                .collect();
            assert_eq!(got.len(), sent.len(), "{policy:?} queue {queue}");
            assert!(
                got.iter().zip(&sent).all(|(g, s)| *g == s.as_slice()),
                "{policy:?} queue {queue}"
            );
        }
        if vmq_on {
            succeed(&mut sim, &vmq_requests::clear_filter(vm.queue, 7));
            succeed(&mut sim, &vmq_requests::free_queue(vm.queue));
        }
        stop(sim);
    }
}
