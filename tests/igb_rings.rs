//! The driver's VMDq, RX-ring and TX-ring code (`vmqnic::hw::igb`) against QEMU's emulated
//! 82576 through the ndis-sim QEMU backend. Descriptor rings and buffers are `DmaRegion`s over
//! the backend's shared guest RAM (igb-qemu §9), so the driver code reads write-backs the device
//! DMA'd and the device reads descriptors the driver wrote, with only the registers going
//! through qtest.
//!
//! Each test starts its own QEMU and waits ~0.5 s for the link (igb-qemu §3). A machine
//! without a QEMU that has `-device igb` makes these tests FAIL with the backend's install
//! hint; they never skip.

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use ndis_sim::qemu::{
    BarLayout, Igb, MacAddress, Qemu, QemuConfig, QemuRegisters, RegisterCounts, SleepStall,
};
use vmqnic::hw::DmaRegion;
use vmqnic::hw::igb::{
    self, PoolOptions, RarSlots, RxCompletion, RxRing, TxError, TxRing, VlanTable, regs,
};

const MAC: [u8; 6] = [0x02, 0x76, 0x6D, 0x71, 0x6E, 0x63];
const POOL1_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const POOL2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const UNKNOWN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const BROADCAST: [u8; 6] = [0xFF; 6];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xAA];
const BUFFER_SIZE: u32 = 2048;
const LINK_TIMEOUT: Duration = Duration::from_secs(3);
const SETTLE: Duration = Duration::from_secs(2);

/// Zeroed guest RAM for DMA, as the driver's region type: the CPU side through the shared
/// mapping, the device side at its guest-physical address.
fn dma<'a>(igb: &'a Igb, len: usize, tag: &'static str) -> DmaRegion<'a> {
    let qemu = igb.qemu();
    let range = qemu.dma_alloc(len as u64, tag).unwrap();
    let host = qemu.ram().host_address(range.gpa, len).unwrap();
    let host = NonNull::new(host).unwrap();
    // SAFETY: the allocation is page-aligned guest RAM inside the mapping, which lives as long
    // as `igb` (the region's lifetime); the allocator hands it out once and the test reaches it
    // only through this region (QEMU's DMA is the other writer the type expects).
    unsafe { DmaRegion::from_raw_parts(host, len, range.gpa) }
}

fn rx_ring(igb: &Igb, queue: u8, count: u16) -> RxRing<'_> {
    let descriptors = dma(igb, usize::from(count) * 16, "rx descriptors");
    let buffers = dma(igb, usize::from(count) * BUFFER_SIZE as usize, "rx buffers");
    let slots = Vec::leak(vec![0; usize::from(count)]);
    RxRing::new(queue, descriptors, buffers, slots, count, BUFFER_SIZE).unwrap()
}

fn tx_ring(igb: &Igb, queue: u8, count: u16) -> TxRing<'_> {
    let descriptors = dma(igb, usize::from(count) * 16, "tx descriptors");
    let buffers = dma(igb, usize::from(count) * BUFFER_SIZE as usize, "tx buffers");
    TxRing::new(queue, descriptors, buffers, count, BUFFER_SIZE).unwrap()
}

/// QEMU with a netdev, reset, link up, VMDq with default pool 0.
fn start() -> Igb {
    let config = QemuConfig { mac: MacAddress(MAC), netdev: true, ..QemuConfig::default() };
    let qemu = Qemu::start(&config).unwrap_or_else(|e| panic!("{e}"));
    let igb = Igb::attach(qemu, BarLayout::default()).unwrap_or_else(|e| panic!("{e}"));
    let regs = QemuRegisters(&igb);
    igb::reset(&regs, &SleepStall).unwrap();
    igb::start_link(&regs, &SleepStall).unwrap();
    let started = Instant::now();
    while !igb::link_state(&regs).unwrap().up {
        assert!(started.elapsed() < LINK_TIMEOUT, "no link");
        std::thread::sleep(Duration::from_millis(10));
    }
    igb::configure_vmdq(&regs, 0).unwrap();
    igb
}

fn frame(destination: [u8; 6], vlan: Option<u16>, label: &str, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&destination);
    f.extend_from_slice(&PEER_MAC);
    if let Some(vid) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&[0x88, 0xB5]);
    f.extend_from_slice(label.as_bytes());
    let mut n = 0u8;
    while f.len() < len {
        f.push(n);
        n = n.wrapping_add(1);
    }
    f
}

/// The frame as a stripping pool receives it: the 4-byte 802.1Q tag removed.
fn untagged(tagged: &[u8]) -> Vec<u8> {
    [&tagged[..12], &tagged[16..]].concat()
}

/// Polls `ring` (asserting it reads no register), collects (bytes, vlan) of every frame, and
/// refills with exactly one RDT write and no read.
fn drain(igb: &Igb, ring: &mut RxRing<'_>) -> Vec<(Vec<u8>, Option<u16>)> {
    let regs = QemuRegisters(igb);
    let mut out = [RxCompletion::EMPTY; 64];
    let before = igb.register_counts();
    let n = ring.poll(&mut out);
    assert_eq!(igb.register_counts().since(before), RegisterCounts::default(), "poll: no MMIO");
    let frames = out[..n]
        .iter()
        .map(|c| (ring.frame(c).expect("a polled frame's bytes").to_vec(), c.frame.vlan))
        .collect();
    let before = igb.register_counts();
    let given = ring.refill(&regs);
    assert_eq!(usize::from(given), n);
    let expected = RegisterCounts { reads: 0, writes: u64::from(n > 0) };
    assert_eq!(igb.register_counts().since(before), expected, "refill: one RDT write");
    frames
}

fn send(igb: &Igb, frames: &[&[u8]]) {
    igb.qemu().send_frames(frames).unwrap();
    assert_eq!(igb.qemu().settle_injected_frames(SETTLE).unwrap(), 0, "QEMU read everything");
}

#[test]
fn vmdq_pools_receive_only_their_own_frames_with_the_vlan_stripped() {
    let igb = start();
    let regs = QemuRegisters(&igb);
    let mut slots = RarSlots::new();
    let mut vlans = VlanTable::new();
    // Pool 1: a MAC. Pool 2: a MAC and VLAN 100, tag stripped, tagged frames only.
    let pool1_rar = slots.allocate().unwrap();
    igb::set_receive_address(&regs, pool1_rar, POOL1_MAC, 1).unwrap();
    let pool2_rar = slots.allocate().unwrap();
    igb::set_receive_address(&regs, pool2_rar, POOL2_MAC, 2).unwrap();
    let pool2 = PoolOptions {
        accept_untagged: false,
        accept_broadcast: false,
        strip_vlan: true,
        ..PoolOptions::QUEUE_POOL
    };
    igb::set_pool_options(&regs, 2, pool2).unwrap();
    vlans.add(100, 2).unwrap().apply(&regs).unwrap();
    assert_eq!(igb.reg_read(regs::VLVF(0)).unwrap(), 0x8000_4064);
    // configure_vmdq put the PF address in the default pool by its own filter (igb-qemu §13.1).
    let rah0 = igb.reg_read(regs::RAH(0)).unwrap();
    assert_eq!(rah0 & (regs::RAH_AV | regs::RAH_POOLSEL_MASK), regs::RAH_AV | 1 << 18);

    let mut rings: Vec<RxRing<'_>> = (0..3).map(|q| rx_ring(&igb, q, 16)).collect();
    for (pool, ring) in (0u8..).zip(&mut rings) {
        ring.enable(&regs, &SleepStall).unwrap();
        igb::enable_pool_rx(&regs, pool, true).unwrap();
    }
    igb::start_receiver(&regs).unwrap();
    assert_eq!(igb.reg_read(regs::VFRE).unwrap(), 0b111);

    let to_pf = frame(MAC, None, "pf", 64);
    let unknown = frame(UNKNOWN_MAC, None, "unknown unicast", 64);
    let broadcast = frame(BROADCAST, None, "broadcast", 64);
    let to_pool1 = frame(POOL1_MAC, None, "pool 1", 200);
    let to_pool2 = frame(POOL2_MAC, Some(100), "pool 2 vlan 100", 1518);
    let pool2_untagged = frame(POOL2_MAC, None, "pool 2 untagged", 64);
    let wrong_vlan = frame(POOL2_MAC, Some(200), "vlan 200: not in VFTA", 64);
    let pool1_tagged = frame(POOL1_MAC, Some(100), "pool 1 MAC, pool 2 VLAN", 64);
    send(
        &igb,
        &[
            &to_pf,
            &unknown,
            &broadcast,
            &to_pool1,
            &to_pool2,
            &pool2_untagged,
            &wrong_vlan,
            &pool1_tagged,
        ],
    );

    let got: Vec<_> = rings.iter_mut().map(|ring| drain(&igb, ring)).collect();
    // The default pool: its own MAC (RAR0 now has POOLSEL 0), unmatched unicast, broadcast;
    // and by QEMU's late default-pool fallback (igb-qemu §4 step 5, §12) the frames whose MAC
    // matched a pool that refuses them: untagged to pool 2, and pool 1's MAC with pool 2's
    // VLAN (tag kept, as pool 0 does not strip).
    assert_eq!(
        got[0],
        [
            (to_pf.clone(), None),
            (unknown.clone(), None),
            (broadcast.clone(), None),
            (pool2_untagged.clone(), None),
            (pool1_tagged.clone(), None),
        ]
    );
    assert_eq!(got[1], [(to_pool1.clone(), None)], "pool 1: its MAC, no broadcast");
    assert_eq!(got[2], [(untagged(&to_pool2), Some(100))], "pool 2: stripped, tag in descriptor");
    for ring in &rings {
        assert_eq!(ring.counters().dropped(), 0);
    }
    assert_eq!(rings[2].counters().bytes, 1514);

    // A pool whose VFRE bit is cleared gets nothing, and nothing falls back (igb-qemu §4).
    igb::enable_pool_rx(&regs, 1, false).unwrap();
    send(&igb, &[&to_pool1, &to_pf]);
    let got: Vec<_> = rings.iter_mut().map(|ring| drain(&igb, ring)).collect();
    assert_eq!(got, [vec![(to_pf.clone(), None)], vec![], vec![]]);

    // Filters removed: pool 2's MAC is unknown unicast now (default pool), VLAN 100 no longer
    // passes the VLAN filter table and is dropped.
    igb::clear_receive_address(&regs, pool2_rar).unwrap();
    assert!(slots.free(pool2_rar));
    vlans.remove(100, 2).unwrap().apply(&regs).unwrap();
    send(&igb, &[&pool2_untagged, &to_pool2]);
    let got: Vec<_> = rings.iter_mut().map(|ring| drain(&igb, ring)).collect();
    assert_eq!(got, [vec![(pool2_untagged.clone(), None)], vec![], vec![]]);
}

#[test]
fn the_ring_wraps_many_times_byte_exact_and_in_order() {
    let igb = start();
    let regs = QemuRegisters(&igb);
    let mut ring = rx_ring(&igb, 0, 16);
    ring.enable(&regs, &SleepStall).unwrap();
    igb::start_receiver(&regs).unwrap();
    let started = Instant::now();
    let total: u32 = 16 * 12;
    let frames: Vec<Vec<u8>> = (0..total)
        .map(|n| frame(MAC, None, &format!("frame {n}"), 60 + (n as usize * 97) % 1455))
        .collect();
    let mut received = Vec::new();
    // Up to 15 frames per batch: the device owns all but one descriptor (igb-qemu §13.4);
    // refilling the whole batch with one RDT write loses nothing (§8).
    for batch in frames.chunks(15) {
        let batch: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        send(&igb, &batch);
        received.extend(drain(&igb, &mut ring).into_iter().map(|(bytes, _)| bytes));
    }
    assert_eq!(received.len(), frames.len());
    for (n, (got, sent)) in received.iter().zip(&frames).enumerate() {
        assert_eq!(got, sent, "frame {n}");
    }
    let counters = ring.counters();
    assert_eq!(counters.frames, u64::from(total));
    assert_eq!(counters.bytes, frames.iter().map(|f| f.len() as u64).sum::<u64>());
    assert_eq!(counters.dropped(), 0);
    // RDH went round 12 times and sits where the ring says.
    assert_eq!(igb.reg_read(regs::RDH(0)).unwrap(), total % 16);
    assert_eq!(igb.reg_read(regs::RDT(0)).unwrap(), (total + 15) % 16);
    eprintln!("{total} frames through a 16-descriptor ring in {:?}", started.elapsed());
}

#[test]
fn a_full_ring_holds_the_rest_until_the_batch_refill() {
    let igb = start();
    let regs = QemuRegisters(&igb);
    let mut ring = rx_ring(&igb, 0, 8);
    ring.enable(&regs, &SleepStall).unwrap();
    igb::start_receiver(&regs).unwrap();
    // 7 fit; QEMU holds the next frame it read and stops reading the socket (igb-qemu §8).
    let frames: Vec<Vec<u8>> = (0..10).map(|n| frame(MAC, None, &format!("f{n}"), 64)).collect();
    for f in &frames {
        igb.qemu().send_frame(f).unwrap();
    }
    let _ = igb.qemu().settle_injected_frames(Duration::from_millis(300)).unwrap();
    let mut out = [RxCompletion::EMPTY; 8];
    assert_eq!(ring.poll(&mut out), 7);
    assert_eq!(ring.poll(&mut out), 0, "stale write-backs are not read again");
    // Without a refill nothing more arrives.
    assert_eq!(ring.device_owned(), 0);
    assert_eq!(ring.refill(&regs), 7);
    let _ = igb.qemu().settle_injected_frames(SETTLE).unwrap();
    let rest = drain(&igb, &mut ring);
    assert_eq!(rest.len(), 3, "every held and queued frame arrived after one RDT write");
    assert_eq!(rest[2].0, frames[9]);
}

#[test]
fn transmitted_frames_leave_byte_exact_with_one_tail_write_per_batch() {
    let igb = start();
    let regs = QemuRegisters(&igb);
    let mut ring = tx_ring(&igb, 0, 8);
    ring.enable(&regs, &SleepStall).unwrap();
    igb::start_transmitter(&regs).unwrap();
    let frames: Vec<Vec<u8>> =
        (0..30).map(|n| frame(PEER_MAC, None, &format!("tx {n}"), 60 + (n * 131) % 1455)).collect();
    let mut captured = Vec::new();
    for batch in frames.chunks(5) {
        let before = igb.register_counts();
        for f in batch {
            ring.post(f).unwrap();
        }
        assert_eq!(ring.flush(&regs), 5);
        let expected = RegisterCounts { reads: 0, writes: 1 };
        assert_eq!(igb.register_counts().since(before), expected, "post + flush: one TDT write");
        // QEMU transmits inside the TDT write (igb-qemu §7).
        for _ in batch {
            captured.push(igb.qemu().recv_frame(SETTLE).unwrap().expect("a transmitted frame"));
        }
        let before = igb.register_counts();
        assert_eq!(ring.reclaim(), 5);
        assert_eq!(igb.register_counts().since(before), RegisterCounts::default());
    }
    assert_eq!(captured, frames);
    // More than fits: the ring says so instead of overwriting.
    for f in &frames[..7] {
        ring.post(f).unwrap();
    }
    assert_eq!(ring.post(&frames[7]), Err(TxError::Full));
    assert_eq!(ring.reclaim(), 0, "not flushed, not done");
    assert_eq!(ring.flush(&regs), 7);
    assert_eq!(ring.reclaim(), 7);
    let counters = ring.counters();
    assert_eq!((counters.posted, counters.completed, counters.full), (37, 37, 1));
    assert_eq!(igb.reg_read(regs::TDH(0)).unwrap(), 37 % 8);
}
