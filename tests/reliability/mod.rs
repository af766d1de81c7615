//! What the reliability tests (`tests/fault_injection.rs`, `tests/soak.rs`) share: VMs brought
//! up and torn down through the VMQ OIDs, traffic whose every frame is accounted for (each
//! indicated exactly once, on its queue, byte for byte, in order within the queue), sends
//! checked on the wire, the "nothing left behind" checks between lifecycles, and a seeded
//! random generator so that every run can be replayed.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ndis_sim::sim::{OidCompletion, OidOutcome, OidRequest, Scope, SendFrame, Sim};
use ndis_sim::vmq_requests::{self, FilterField};
use vmqnic::interrupt::Processor;
use vmqnic::ndis::{NDIS_STATUS, NDIS_STATUS_SUCCESS};

/// A deterministic generator (SplitMix64): the same seed gives the same run.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % u64::try_from(n).unwrap()).unwrap()
    }

    /// `true` with probability `percent` %.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// The seed of a run: `$VMQNIC_SEED` (decimal or 0x-hex) if set, else `default`.
pub fn seed(default: u64) -> u64 {
    std::env::var("VMQNIC_SEED").ok().map_or(default, |text| {
        let text = text.trim();
        text.strip_prefix("0x")
            .map_or_else(|| text.parse(), |hex| u64::from_str_radix(hex, 16))
            .expect("VMQNIC_SEED is a number")
    })
}

/// A unicast source address for injected frames.
pub const PEER: [u8; 6] = [0x02, 0x50, 0x45, 0x45, 0x52, 0x01];
/// An address no filter knows: the default queue's.
pub const UNKNOWN: [u8; 6] = [0x02, 0x55, 0x4E, 0x4B, 0x4E, 0x57];

/// One VM: its queue, its filter, its MAC and VLAN, the processor it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vm {
    /// Queue id (≠ 0).
    pub queue: u32,
    /// Filter id.
    pub filter: u32,
    /// Destination MAC of its frames.
    pub mac: [u8; 6],
    /// Its VLAN, if it has one.
    pub vlan: Option<u16>,
    /// The processor of its queue.
    pub processor: Processor,
}

impl Vm {
    /// The filter's field tests (what the Hyper-V switch sends).
    pub fn fields(&self) -> Vec<FilterField> {
        match self.vlan {
            Some(vlan) => vec![
                FilterField::Mac { address: self.mac, untagged_or_zero: false },
                FilterField::Vlan(vlan),
            ],
            None => vec![FilterField::Mac { address: self.mac, untagged_or_zero: true }],
        }
    }
}

/// A MAC for VM `n`.
pub fn vm_mac(n: u32) -> [u8; 6] {
    let mut mac = [0x02, 0x56, 0, 0, 0, 0];
    mac[2..].copy_from_slice(&n.to_be_bytes());
    mac
}

/// Sends `request`; waits for its completion if it pends (a FREE_QUEUE whose NBLs are out).
pub fn completed(sim: &mut Sim, request: &OidRequest) -> OidCompletion {
    match sim.oid_request(request).expect("the OID reaches the miniport") {
        OidOutcome::Completed(done) => done,
        OidOutcome::Pending(id) => {
            sim.return_indicated_nbls();
            sim.wait_oid(id, Duration::from_secs(10)).expect("the pending OID completes")
        }
    }
}

/// Sends `request` and expects SUCCESS.
pub fn succeed(sim: &mut Sim, request: &OidRequest) -> OidCompletion {
    let done = completed(sim, request);
    assert_eq!(done.status, NDIS_STATUS_SUCCESS, "OID {:#x}", request.oid);
    done
}

/// Allocates `vm`'s queue, sets its filter and completes the allocation. The first status that
/// is not SUCCESS (the OID's, or the queue's `CompletionStatus`) is returned; what was done up
/// to then stays (the caller tears it down).
pub fn bring_up(sim: &mut Sim, vm: &Vm) -> Result<(), (&'static str, NDIS_STATUS)> {
    let mask = 1u64 << vm.processor.number;
    let done = completed(sim, &vmq_requests::allocate_queue(vm.queue, vm.processor.group, mask));
    if done.status != NDIS_STATUS_SUCCESS {
        return Err(("ALLOCATE_QUEUE", done.status));
    }
    let done = completed(sim, &vmq_requests::set_filter(vm.queue, vm.filter, &vm.fields()));
    if done.status != NDIS_STATUS_SUCCESS {
        return Err(("SET_FILTER", done.status));
    }
    let done = completed(sim, &vmq_requests::allocation_complete(&[vm.queue]));
    if done.status != NDIS_STATUS_SUCCESS {
        return Err(("QUEUE_ALLOCATION_COMPLETE", done.status));
    }
    match vmq_requests::completion_status(&done.buffer, 0) {
        Some(NDIS_STATUS_SUCCESS) => Ok(()),
        status => Err(("CompletionStatus", status.unwrap_or(-1))),
    }
}

/// Clears `vm`'s filter and frees its queue, as NDIS does (both always complete with SUCCESS,
/// whatever state the queue is in).
pub fn tear_down(sim: &mut Sim, vm: &Vm) {
    succeed(sim, &vmq_requests::clear_filter(vm.queue, vm.filter));
    succeed(sim, &vmq_requests::free_queue(vm.queue));
}

/// Frame `n` to `destination` (its number in the payload, 60 to 1514 bytes), tagged with
/// `vlan` (priority 3) if given; and the bytes the driver indicates for it (tag stripped).
pub fn frame(destination: [u8; 6], vlan: Option<u16>, n: u32) -> (Vec<u8>, Vec<u8>) {
    let length = 60 + (n as usize * 97) % (1514 - 60);
    let mut plain = Vec::with_capacity(length);
    plain.extend_from_slice(&destination);
    plain.extend_from_slice(&PEER);
    plain.extend_from_slice(&[0x88, 0xB5]);
    plain.extend_from_slice(&n.to_be_bytes());
    while plain.len() < length {
        plain.push(u8::try_from((plain.len() + n as usize) % 251).unwrap());
    }
    let wire = match vlan {
        Some(vlan) => {
            let tci = (3u16 << 13 | vlan).to_be_bytes();
            [&plain[..12], &[0x81, 0x00, tci[0], tci[1]], &plain[12..]].concat()
        }
        None => plain.clone(),
    };
    (wire, plain)
}

/// Every NBL indicated so far.
pub fn indicated(sim: &Sim) -> usize {
    sim.receive_indications().iter().map(|r| r.nbls.len()).sum()
}

/// What a wave of traffic did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wave {
    /// Frames injected.
    pub sent: usize,
    /// Frames indicated on the queue they belong to.
    pub delivered: usize,
}

/// Injects `per_vm` frames for each of `live` (the VMs whose queues run), plus `others` to an
/// unknown address, numbered from `*next`; waits until every one was indicated; then checks
/// that each was indicated exactly once, on its VM's queue (the default queue for the others),
/// byte for byte, in order within each queue, and that nothing else was indicated (frames of
/// earlier waves that were in flight may still come; they are not this wave's business).
///
/// # Panics
/// On a lost, duplicated, misrouted, reordered or damaged frame.
pub fn traffic(sim: &Sim, live: &[Vm], per_vm: usize, others: usize, next: &mut u32) -> Wave {
    let first = sim.receive_indications().len();
    let first_number = *next;
    let mut expected: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
    let mut wire = Vec::new();
    for i in 0..per_vm.max(others) {
        for vm in live.iter().filter(|_| i < per_vm) {
            let (bytes, plain) = frame(vm.mac, vm.vlan, *next);
            *next += 1;
            expected.entry(u16::try_from(vm.queue).unwrap()).or_default().push(plain);
            wire.push(bytes);
        }
        if i < others {
            let (bytes, plain) = frame(UNKNOWN, None, *next);
            *next += 1;
            expected.entry(0).or_default().push(plain);
            wire.push(bytes);
        }
    }
    let total = wire.len();
    // At most 64 frames in flight: less than any ring, so QEMU never has to drop one.
    for chunk in wire.chunks(64) {
        let before = indicated(sim);
        let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        sim.send_frames(&refs).expect("frames injected");
        let deadline = Instant::now() + Duration::from_secs(10);
        while indicated(sim) < before + chunk.len() && Instant::now() < deadline {
            sim.deliver_interrupts(Duration::from_millis(20)).expect("interrupt delivery");
        }
    }
    // A moment for anything extra (a duplicate) to show up.
    sim.deliver_interrupts(Duration::from_millis(2)).expect("interrupt delivery");
    let mut got: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
    for record in &sim.receive_indications()[first..] {
        for nbl in &record.nbls {
            // Frames of an earlier wave that were in flight (a pause, a reset) may come late;
            // this wave's are numbered from `first_number`.
            let number = nbl.bytes().get(14..18).map(|b| u32::from_be_bytes(b.try_into().unwrap()));
            if number.is_some_and(|n| n < first_number) {
                continue;
            }
            got.entry(nbl.queue_id).or_default().push(nbl.bytes().to_vec());
        }
    }
    for (queue, frames) in &expected {
        let seen = got.get(queue).map_or(&[][..], Vec::as_slice);
        let numbers = |f: &[Vec<u8>]| -> Vec<u32> {
            f.iter().map(|b| u32::from_be_bytes(b[14..18].try_into().unwrap())).collect()
        };
        assert_eq!(
            numbers(seen),
            numbers(frames),
            "queue {queue}: frames lost, duplicated, reordered or misrouted"
        );
        assert!(seen == frames.as_slice(), "queue {queue}: a frame's bytes differ");
    }
    let unexpected: Vec<&u16> = got.keys().filter(|q| !expected.contains_key(q)).collect();
    assert!(unexpected.is_empty(), "frames on queues that should get none: {unexpected:?}");
    Wave { sent: total, delivered: total }
}

/// Sends `count` frames through MiniportSendNetBufferLists, numbered from `*next`; checks that
/// each left on the wire byte for byte, in order, and that each NBL completed once with
/// SUCCESS (frames of earlier sends still on the wire are skipped). Returns the frames sent.
pub fn sends(sim: &mut Sim, count: usize, next: &mut u32) -> usize {
    let first_number = *next;
    let frames: Vec<SendFrame> = (0..count)
        .map(|_| {
            let (bytes, _) = frame(PEER, None, *next);
            *next += 1;
            SendFrame {
                bytes,
                backfill: 0,
                mdl_size: Some(256),
                ieee8021q: None,
                queue_id: None,
                cancel_id: None,
            }
        })
        .collect();
    let nbls = sim.send_frames_as_nbls(&frames, 0).expect("sent");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut on_wire = Vec::new();
    while on_wire.len() < count && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(5)).expect("interrupt delivery");
        while let Some(bytes) = sim.recv_frame(Duration::from_millis(1)).expect("the wire") {
            // Sends of earlier waves (in flight across a pause, say) may still be on the wire.
            let number = bytes.get(14..18).map(|b| u32::from_be_bytes(b.try_into().unwrap()));
            if number.is_some_and(|n| n >= first_number) {
                on_wire.push(bytes);
            }
        }
    }
    while nbls.iter().any(|n| sim.send_status(*n).is_none()) && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(5)).expect("interrupt delivery");
    }
    assert_eq!(on_wire.len(), count, "frames on the wire");
    for (sent, seen) in frames.iter().zip(&on_wire) {
        assert_eq!(&sent.bytes, seen, "a sent frame's bytes differ");
    }
    for nbl in &nbls {
        assert_eq!(sim.send_status(*nbl), Some(NDIS_STATUS_SUCCESS), "send NBL {nbl:#x}");
    }
    count
}

/// Sends `count` frames and checks that each NBL completed once with SUCCESS (what reaches the
/// wire is not looked at: with the link down, nothing does). Returns the frames sent.
pub fn sends_complete(sim: &mut Sim, count: usize, next: &mut u32) -> usize {
    let frames: Vec<SendFrame> = (0..count)
        .map(|_| {
            let (bytes, _) = frame(PEER, None, *next);
            *next += 1;
            SendFrame {
                bytes,
                backfill: 0,
                mdl_size: None,
                ieee8021q: None,
                queue_id: None,
                cancel_id: None,
            }
        })
        .collect();
    let nbls = sim.send_frames_as_nbls(&frames, 0).expect("sent");
    let deadline = Instant::now() + Duration::from_secs(10);
    while nbls.iter().any(|n| sim.send_status(*n).is_none()) && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(5)).expect("interrupt delivery");
    }
    for nbl in &nbls {
        assert_eq!(sim.send_status(*nbl), Some(NDIS_STATUS_SUCCESS), "send NBL {nbl:#x}");
    }
    while sim.recv_frame(Duration::ZERO).expect("the wire").is_some() {}
    count
}

/// Waits (delivering interrupts) until NDIS_STATUS_LINK_STATE says the link is `up`.
pub fn wait_link(sim: &Sim, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let now_up = |sim: &Sim| sim.link_states().last().copied() == Some(1);
    while now_up(sim) != up && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(20)).expect("interrupt delivery");
    }
    assert_eq!(now_up(sim), up, "link {} within 5 s", if up { "up" } else { "down" });
}

/// After MiniportHaltEx and MiniportRemoveDevice: nothing of the adapter or the device is left
/// (pool, NBL pools, NBLs, MDLs, shared memory of both kinds, mappings, work items), no freed
/// memory was written by DMA, and the simulator saw no contract violation.
pub fn assert_released(sim: &Sim, what: &str) {
    assert_eq!(sim.violations(), vec![], "{what}: contract violations");
    let left: Vec<_> =
        sim.driver_allocations().into_iter().filter(|a| a.scope != Scope::Driver).collect();
    assert!(left.is_empty(), "{what}: pool left: {left:?}");
    assert_eq!(sim.net_buffer_objects(), (0, 0, 0), "{what}: NBL pools, NBLs, MDLs left");
    assert!(sim.shared_memory().is_empty(), "{what}: shared memory left");
    assert!(sim.miniport_shared_memory().is_empty(), "{what}: NdisM shared memory left");
    assert!(sim.io_mappings().is_empty(), "{what}: I/O mappings left");
    let items: Vec<_> = sim.work_items().into_iter().filter(|w| w.scope != Scope::Driver).collect();
    assert!(items.is_empty(), "{what}: work items left: {items:?}");
    assert_eq!(sim.check_freed_memory().expect("freed-memory check"), vec![], "{what}: DMA");
}
