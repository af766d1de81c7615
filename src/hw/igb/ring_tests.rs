//! Unit tests of the rings, the write-back validator and VMDq against [`FakeIgb`] and DMA
//! memory a fake device writes.

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::fake::{Access, CountingStall, FakeDma, FakeIgb, RxRig, writeback};
use super::regs::{
    MRQC, RAH, RAL, RCTL, RCTL_EN, RDBAH, RDBAL, RDH, RDLEN, RDT, RXDCTL, RXDCTL_ENABLE, SRRCTL,
    TCTL, TDBAL, TDLEN, TDT, TXDCTL, TXDCTL_ENABLE, VFRE, VFTA, VFTE, VLVF, VMOLR, VT_CTL,
};
use super::{
    DESCRIPTOR_SIZE, IgbError, Malformed, PoolOptions, RarSlots, RingError, RxCompletion, RxRing,
    TxError, TxRing, VlanChange, VlanEntry, VlanTable, VlanTableError, WriteBack,
    clear_receive_address, clear_vlan_filter, configure_vmdq, enable_pool_rx, parse_writeback,
    set_receive_address, set_receive_address_pools, set_vlan_filter, start_receiver,
    start_transmitter, write_vlan_pool_filter, write_vlan_table_word,
};

const MAC: [u8; 6] = [0x02, 0x4E, 0x44, 0x49, 0x53, 0x01];
const DESC_PHYS: u64 = 0x20_0000;
const BUF_PHYS: u64 = 0x40_0000;
const BSIZE: u32 = 2048;

const DD: u32 = 1;
const EOP: u32 = 2;
const VP: u32 = 8;

// ---- parse_writeback --------------------------------------------------------------------------

#[test]
fn a_descriptor_without_dd_is_not_done_whatever_else_it_says() {
    assert_eq!(parse_writeback(&[0; 16], BSIZE), WriteBack::NotDone);
    let garbage = writeback(!DD, 0xFFFF, 0xFFFF, u32::MAX);
    assert_eq!(parse_writeback(&garbage, BSIZE), WriteBack::NotDone);
    // The read format (buffer address in bytes 0-7, header address 0) is "not done".
    let mut read = [0; 16];
    read[..8].copy_from_slice(&(BUF_PHYS | 1).to_le_bytes());
    assert_eq!(parse_writeback(&read, BSIZE), WriteBack::NotDone);
}

#[test]
fn a_good_writeback_gives_length_vlan_packet_type_and_status() {
    // The PoC's IPv4/UDP write-back to a stripping pool: status 0x273 | VP, pkt_info 0x210.
    let d = writeback(0x273 | VP, 64, 100, 0x0210);
    let WriteBack::Frame(frame) = parse_writeback(&d, BSIZE) else { panic!("not a frame") };
    assert_eq!(frame.length, 64);
    assert_eq!(frame.vlan, Some(100));
    assert_eq!(frame.packet_type, 0x21, "IPv4 | UDP");
    assert_eq!(frame.status_error, 0x27B);
    assert!(!frame.checksum_errors());
    // Without VP the VLAN field is not a stripped tag, whatever it holds.
    let d = writeback(DD | EOP, 68, 100, 0);
    assert!(matches!(parse_writeback(&d, BSIZE), WriteBack::Frame(f) if f.vlan.is_none()));
    // Exactly one buffer is fine.
    let d = writeback(DD | EOP, 2048, 0, 0);
    assert!(matches!(parse_writeback(&d, BSIZE), WriteBack::Frame(f) if f.length == 2048));
}

#[test]
fn checksum_errors_are_reported_not_dropped() {
    for error in [super::ERR_IPE, super::ERR_L4E] {
        let d = writeback(DD | EOP | error, 64, 0, 0);
        let WriteBack::Frame(frame) = parse_writeback(&d, BSIZE) else { panic!("{error:#x}") };
        assert!(frame.checksum_errors());
    }
}

#[test]
fn every_malformed_writeback_is_named() {
    let cases = [
        (writeback(DD | EOP, 0, 0, 0), Malformed::ZeroLength),
        (writeback(DD, 0, 0, 0), Malformed::ZeroLength),
        (writeback(DD | EOP, 2049, 0, 0), Malformed::TooLong(2049)),
        (writeback(DD | EOP, 0xFFFF, 0, 0), Malformed::TooLong(0xFFFF)),
        (writeback(DD, 2048, 0, 0), Malformed::NoEndOfPacket),
        (writeback(DD, 60, 0, 0), Malformed::NoEndOfPacket),
        (writeback(DD | EOP | 1 << 24, 64, 0, 0), Malformed::FrameError(1 << 24)),
        (writeback(DD | EOP | 1 << 25, 64, 0, 0), Malformed::FrameError(1 << 25)),
        (writeback(DD | EOP | 1 << 26, 64, 0, 0), Malformed::FrameError(1 << 26)),
        (writeback(DD | EOP | 1 << 28, 64, 0, 0), Malformed::FrameError(1 << 28)),
        (writeback(DD | EOP | 1 << 31, 64, 0, 0), Malformed::FrameError(1 << 31)),
        // A frame error wins over everything else.
        (writeback(DD | 1 << 31, 0, 0, 0), Malformed::FrameError(1 << 31)),
    ];
    for (d, reason) in cases {
        assert_eq!(parse_writeback(&d, BSIZE), WriteBack::Malformed(reason), "{reason:?}");
    }
    // The bound is the ring's buffer size, not a constant.
    let d = writeback(DD | EOP, 1025, 0, 0);
    assert_eq!(parse_writeback(&d, 1024), WriteBack::Malformed(Malformed::TooLong(1025)));
}

proptest! {
    #[test]
    fn any_sixteen_bytes_give_an_answer_and_frames_are_plausible(
        bytes in proptest::array::uniform16(any::<u8>()),
        kib in 1u32..=16,
    ) {
        let buffer_size = kib * 1024;
        if let WriteBack::Frame(frame) = parse_writeback(&bytes, buffer_size) {
            prop_assert!(frame.length >= 1 && u32::from(frame.length) <= buffer_size);
            prop_assert!(frame.status_error & (DD | EOP) == DD | EOP);
            prop_assert!(frame.status_error & super::ERR_FRAME_MASK == 0);
            prop_assert!(frame.packet_type <= 0xFFF);
        }
    }
}

// ---- ring construction ----------------------------------------------------------------------

#[test]
fn rings_refuse_memory_and_sizes_that_do_not_fit() {
    let desc = FakeDma::new(4096);
    let bufs = FakeDma::new(64 * 2048);
    let rx = |queue, count, bsize, dphys, bphys| {
        RxRing::new(queue, desc.region(dphys), bufs.region(bphys), slots(), count, bsize)
            .map(|_| ())
    };
    assert_eq!(rx(0, 16, BSIZE, DESC_PHYS, BUF_PHYS), Ok(()));
    assert_eq!(rx(16, 16, BSIZE, DESC_PHYS, BUF_PHYS), Err(RingError::InvalidQueue(16)));
    for count in [0, 1, 4, 12, 24, 8192] {
        assert_eq!(rx(0, count, BSIZE, DESC_PHYS, BUF_PHYS), Err(RingError::InvalidCount(count)));
    }
    for bsize in [0, 1000, 1536, 17 * 1024] {
        let e = Err(RingError::InvalidBufferSize(bsize));
        assert_eq!(rx(0, 16, bsize, DESC_PHYS, BUF_PHYS), e);
    }
    assert_eq!(rx(0, 512, BSIZE, DESC_PHYS, BUF_PHYS), Err(RingError::DescriptorsTooSmall));
    assert_eq!(rx(0, 128, BSIZE, DESC_PHYS, BUF_PHYS), Err(RingError::BuffersTooSmall));
    assert_eq!(rx(0, 16, BSIZE, DESC_PHYS + 64, BUF_PHYS), Err(RingError::Misaligned));
    assert_eq!(rx(0, 16, BSIZE, DESC_PHYS, BUF_PHYS + 2), Err(RingError::Misaligned));
    let tx = TxRing::new(0, desc.region(DESC_PHYS), bufs.region(BUF_PHYS), 8, 4096);
    assert!(tx.is_ok());
    let tx = TxRing::new(0, desc.region(DESC_PHYS), bufs.region(BUF_PHYS), 10, 2048);
    assert_eq!(tx.err(), Some(RingError::InvalidCount(10)));
}

// ---- RX ring --------------------------------------------------------------------------------

/// A slot table for a test ring (leaked: a few bytes per test).
fn slots() -> &'static mut [u16] {
    Vec::leak(vec![0; usize::from(super::MAX_DESCRIPTORS)])
}

fn payload(n: u32) -> Vec<u8> {
    let len = 60 + (n * 7) % 1400;
    (0..len).map(|i| (i ^ n.wrapping_mul(31)).to_le_bytes()[0]).collect()
}

#[test]
fn enable_programs_the_queue_and_arms_all_but_one_descriptor() {
    let fake = FakeIgb::new(MAC);
    let desc = FakeDma::new(4096);
    let bufs = FakeDma::new(16 * 2048);
    let mut ring =
        RxRing::new(3, desc.region(DESC_PHYS), bufs.region(BUF_PHYS), slots(), 16, BSIZE).unwrap();
    ring.enable(&fake, &CountingStall::default()).unwrap();
    let writes = fake.writes();
    assert_eq!(writes.first(), Some(&(RXDCTL(3), 0)), "queue off while reprogrammed");
    assert_eq!(writes.last(), Some(&(RDT(3), 15)), "RDT = count - 1, last");
    for expected in [
        (RDBAL(3), 0x20_0000),
        (RDBAH(3), 0),
        (RDLEN(3), 256),
        (SRRCTL(3), 0x0200_0002),
        (RDH(3), 0),
        (RXDCTL(3), RXDCTL_ENABLE),
    ] {
        assert!(writes.contains(&expected), "{expected:x?}");
    }
    for slot in 0..16 {
        let base = slot * DESCRIPTOR_SIZE;
        let address = u64::from_le_bytes(desc.read(base, 8).try_into().unwrap());
        assert_eq!(address, BUF_PHYS + 2048 * slot as u64);
        assert_eq!(desc.read(base + 8, 8), [0; 8]);
    }
    assert_eq!((ring.device_owned(), ring.to_refill()), (15, 0));
}

#[test]
fn enable_and_disable_poll_boundedly_for_the_queue_enable_bit() {
    let fake = FakeIgb::new(MAC);
    let desc = FakeDma::new(4096);
    let bufs = FakeDma::new(16 * 2048);
    let mut rx =
        RxRing::new(1, desc.region(DESC_PHYS), bufs.region(BUF_PHYS), slots(), 8, BSIZE).unwrap();
    fake.queue_enable_stuck.set(true);
    let stall = CountingStall::default();
    assert_eq!(rx.enable(&fake, &stall), Err(IgbError::QueueTimeout(1)));
    assert_eq!(fake.reads_of(RXDCTL(1)), super::QUEUE_ENABLE_POLLS as usize);
    let bound = u64::from(super::QUEUE_ENABLE_POLLS - 1) * u64::from(super::QUEUE_ENABLE_POLL_US);
    assert_eq!(stall.total_us.get(), bound);
    assert!(!fake.writes().iter().any(|w| w.0 == RDT(1) && w.1 != 0), "no RDT once it failed");
    let mut tx = TxRing::new(1, desc.region(DESC_PHYS), bufs.region(BUF_PHYS), 8, BSIZE).unwrap();
    assert_eq!(tx.enable(&fake, &stall), Err(IgbError::QueueTimeout(1)));

    fake.queue_enable_stuck.set(false);
    rx.enable(&fake, &stall).unwrap();
    rx.disable(&fake, &stall).unwrap();
    assert_eq!(fake.get(RXDCTL(1)), 0);
    fake.gone.set(true);
    assert_eq!(rx.enable(&fake, &stall), Err(IgbError::DeviceGone));
    assert_eq!(rx.disable(&fake, &stall), Err(IgbError::DeviceGone));
}

#[test]
fn frames_wrap_the_ring_many_times_in_order_with_one_tail_write_per_batch() {
    let device = RxRig::new(8 * 2048);
    let fake = &device.fake;
    let mut ring = device.ring(2, 8);
    let mut engine = device.engine(2, 8);
    let mut out = [RxCompletion::EMPTY; 8];
    let mut sent = 0u32;
    let mut received = 0u32;
    let mut batches = 0;
    while received < 100 {
        // The device fills what it owns (at most 7), then stops: ring full.
        let mut burst = 0;
        while engine.receive(fake, &payload(sent), DD | EOP, 0) {
            sent += 1;
            burst += 1;
        }
        assert!(burst <= 7);
        fake.clear_log();
        let n = ring.poll(&mut out);
        assert_eq!(n, burst);
        for c in &out[..n] {
            assert_eq!(ring.frame(c), Some(&payload(received)[..]), "frame {received}");
            received += 1;
        }
        // Stale DDs in polled descriptors are not read again.
        assert_eq!(ring.poll(&mut out), 0);
        let given = ring.refill(fake);
        assert_eq!(usize::from(given), n);
        let writes = fake.writes();
        assert_eq!(writes, [(RDT(2), u32::from((engine.head + 7) % 8))], "one RDT write");
        assert!(fake.log().iter().all(|a| matches!(a, Access::Write(..))), "no reads");
        batches += 1;
    }
    assert!(batches >= 14);
    let counters = ring.counters();
    assert_eq!(counters.frames, u64::from(received));
    assert_eq!(counters.bytes, (0..received).map(|n| payload(n).len() as u64).sum::<u64>());
    assert_eq!(counters.dropped(), 0);
    // Nothing to give back: no register write at all.
    fake.clear_log();
    assert_eq!(ring.refill(fake), 0);
    assert!(fake.log().is_empty());
}

#[test]
fn the_budget_limits_a_poll_and_the_rest_waits() {
    let device = RxRig::new(16 * 2048);
    let fake = &device.fake;
    let mut ring = device.ring(0, 16);
    let mut engine = device.engine(0, 16);
    for n in 0..5 {
        assert!(engine.receive(fake, &payload(n), DD | EOP, 0));
    }
    let mut out = [RxCompletion::EMPTY; 2];
    assert_eq!(ring.poll(&mut out), 2);
    assert_eq!((out[0].slot, out[1].slot), (0, 1));
    assert_eq!(ring.poll(&mut []), 0);
    assert_eq!(ring.poll(&mut out), 2);
    assert_eq!(ring.poll(&mut out), 1);
    assert_eq!(out[0].slot, 4);
    assert_eq!(ring.frame(&out[0]), Some(&payload(4)[..]));
}

#[test]
fn malformed_descriptors_are_dropped_and_counted_and_continuations_with_them() {
    let device = RxRig::new(16 * 2048);
    let fake = &device.fake;
    let desc = &device.desc;
    let mut ring = device.ring(0, 16);
    let mut engine = device.engine(0, 16);
    let big = [0xAB; 2048];
    // A 5000-byte frame over three descriptors (igb-qemu §5): 2048, 2048, 904 with EOP.
    assert!(engine.receive(fake, &big, DD, 0));
    assert!(engine.receive(fake, &big, DD, 0));
    assert!(engine.receive(fake, &big[..904], DD | EOP, 0));
    assert!(engine.receive(fake, &payload(1), DD | EOP, 0)); // good
    assert!(engine.receive(fake, &payload(2), DD | EOP | 1 << 24, 0)); // CRC error
    assert!(engine.receive(fake, &[], DD | EOP, 0)); // zero length
    assert!(engine.receive(fake, &payload(3), DD | EOP | VP, 0x2064)); // good, tag stripped
    let mut out = [RxCompletion::EMPTY; 16];
    assert_eq!(ring.poll(&mut out), 2);
    assert_eq!(ring.frame(&out[0]), Some(&payload(1)[..]));
    assert_eq!(out[1].frame.vlan, Some(0x2064));
    assert_eq!(ring.frame(&out[1]), Some(&payload(3)[..]));
    // A length beyond the buffer (the device lies): written straight into the descriptor.
    let base = usize::from(engine.head) * DESCRIPTOR_SIZE;
    desc.write(base, &writeback(DD | EOP, 4000, 0, 0));
    assert_eq!(ring.poll(&mut out), 0);
    let c = ring.counters();
    assert_eq!(
        (c.frames, c.no_end_of_packet, c.continuation, c.frame_errors, c.zero_length, c.too_long),
        (2, 1, 2, 1, 1, 1)
    );
    assert_eq!(c.dropped(), 6);
    assert_eq!(ring.to_refill(), 8);
}

#[test]
fn frame_refuses_slots_software_does_not_own() {
    let device = RxRig::new(8 * 2048);
    let fake = &device.fake;
    let mut ring = device.ring(0, 8);
    let mut engine = device.engine(0, 8);
    let mut out = [RxCompletion::EMPTY; 8];
    assert!(engine.receive(fake, &payload(0), DD | EOP, 0));
    assert_eq!(ring.poll(&mut out), 1);
    let polled = out[0];
    let mut forged = polled;
    forged.slot = 3; // device-owned
    assert_eq!(ring.frame(&forged), None);
    forged.slot = 8; // outside the ring
    assert_eq!(ring.frame(&forged), None);
    forged = polled;
    forged.frame.length = 2049;
    assert_eq!(ring.frame(&forged), None);
    assert!(ring.frame(&polled).is_some());
    // Slot 0 stays the spare after the refill; slot 7 (the old spare) went to the device.
    assert_eq!(ring.refill(fake), 1);
    forged.slot = 7;
    forged.frame.length = 60;
    assert_eq!(ring.frame(&forged), None);
}

#[test]
fn lent_buffers_are_replaced_by_spares_and_a_short_supply_stops_the_refill() {
    let device = RxRig::new(12 * 2048);
    let fake = &device.fake;
    let bufs = &device.bufs;
    let mut ring = device.ring(0, 8);
    let mut engine = device.engine(0, 8);
    for n in 0..3 {
        assert!(engine.receive(fake, &payload(n), DD | EOP, 0));
    }
    let mut out = [RxCompletion::EMPTY; 8];
    assert_eq!(ring.poll(&mut out), 3);
    assert_eq!(
        out[..3].iter().map(|c| (c.slot, c.buffer)).collect::<Vec<_>>(),
        [(0, 0), (1, 1), (2, 2)]
    );
    // Lend buffers 0..3 out: their descriptors are empty now.
    for c in &out[..3] {
        assert_eq!(ring.detach(c.slot), Some(c.buffer));
        assert_eq!(ring.detach(c.slot), None, "already empty");
    }
    assert_eq!(ring.detach(5), None, "device-owned");
    assert_eq!(ring.frame(&out[0]), None, "a detached buffer is not the ring's to read");
    // Slot 7 (the old spare descriptor) keeps buffer 7; slot 0 gets the only spare buffer, 8;
    // slot 1 finds none and the refill stops there.
    let mut spares = vec![8u16];
    let mut asked = Vec::new();
    fake.clear_log();
    let given = ring.refill_with(fake, |slot| {
        asked.push(slot);
        spares.pop()
    });
    assert_eq!(given, 2);
    assert_eq!(asked, [0, 1]);
    assert_eq!(fake.writes(), [(RDT(0), 1)], "one tail write, after the last armed slot");
    assert_eq!((ring.slot_buffer(0), ring.slot_buffer(1)), (Some(8), None));
    assert_eq!(ring.to_refill(), 1, "slot 1 waits for a buffer");
    let e = ring.enable(fake, &CountingStall::default());
    assert_eq!(e, Err(IgbError::EmptyDescriptor(0, 1)), "no ring with holes");
    // The device writes the next frames into the exchanged buffers: slot 3.. then 0 wraps.
    for n in 3..8 {
        assert!(engine.receive(fake, &payload(n), DD | EOP, 0));
    }
    assert!(engine.receive(fake, &payload(8), DD | EOP, 0), "slot 0 holds buffer 8 now");
    assert!(!engine.receive(fake, &payload(9), DD | EOP, 0), "slot 1 was never re-armed");
    assert_eq!(ring.poll(&mut out), 6);
    let last = out[5];
    assert_eq!((last.slot, last.buffer), (0, 8));
    assert_eq!(ring.frame(&last), Some(&payload(8)[..]));
    let expected = 8 * 2048;
    assert_eq!(bufs.read(expected, payload(8).len()), payload(8));
    // A completion naming a buffer the slot no longer holds is refused.
    let mut stale = last;
    stale.buffer = 0;
    assert_eq!(ring.frame(&stale), None);
    // A buffer number out of range stops the refill like a missing one.
    assert_eq!(ring.refill_with(fake, |_| Some(12)), 0);
    // Lend four of the six new frames (slots 3..7); slots 1 and 2 are still empty (2 was the
    // spare descriptor when the last refill ran short). Six free buffers (9..12 and 0..3,
    // returned meanwhile) fill the six empty descriptors, and all seven go to the device.
    for c in &out[..4] {
        ring.detach(c.slot);
    }
    let pending = ring.to_refill();
    assert_eq!(pending, 7);
    let mut spares = vec![11u16, 10, 9, 2, 1, 0];
    let given = ring.refill_with(fake, |_| spares.pop());
    assert_eq!((given, spares.len()), (7, 0));
    assert!((0..8).all(|s| ring.slot_buffer(s).is_some()), "no empty descriptor left");
    assert_eq!(ring.buffer_address(12), None);
    assert!(ring.buffer_address(11).is_some());
}

#[test]
fn detach_all_empties_exactly_the_descriptors_detach_would() {
    // Two identical rings with the same four frames polled; one detaches slot by slot, the
    // other in one batch: polled slots (one listed twice), a device-owned one (5), one outside
    // the ring (8) and the spare descriptor (7), which is software's.
    let devices = [RxRig::new(12 * 2048), RxRig::new(12 * 2048)];
    let mut rings = devices.each_ref().map(|rig| rig.ring(0, 8));
    let mut batch = Vec::new();
    for (rig, ring) in devices.iter().zip(&mut rings) {
        let mut engine = rig.engine(0, 8);
        for n in 0..4 {
            assert!(engine.receive(&rig.fake, &payload(n), DD | EOP, 0));
        }
        let mut out = [RxCompletion::EMPTY; 8];
        assert_eq!(ring.poll(&mut out), 4);
        batch = vec![out[0], out[2], out[2]];
        batch.extend([5, 8, 7].map(|slot| RxCompletion { slot, ..out[1] }));
    }
    let [one_by_one, all_at_once] = &mut rings;
    for c in &batch {
        one_by_one.detach(c.slot);
    }
    all_at_once.detach_all(&batch);
    let holding = |ring: &RxRing<'_>| (0..8).map(|s| ring.slot_buffer(s)).collect::<Vec<_>>();
    assert_eq!(holding(all_at_once), holding(one_by_one));
    assert_eq!(
        holding(all_at_once),
        [None, Some(1), None, Some(3), Some(4), Some(5), Some(6), None]
    );
}

#[test]
fn multicast_hashes_use_address_bits_47_to_36_and_the_table_is_rewritten_whole() {
    use super::{multicast_table_position, write_multicast_table};
    use crate::hw::igb::regs::MTA;
    // 01:00:5E:00:00:01 → hash 0x010; 33:33:00:00:00:FB (mDNS v6) → 0xFB0.
    assert_eq!(multicast_table_position([0x01, 0, 0x5E, 0, 0, 0x01]), (0, 16));
    assert_eq!(multicast_table_position([0x33, 0x33, 0, 0, 0, 0xFB]), (0x7D, 16));
    assert_eq!(multicast_table_position([0x01, 0, 0x5E, 0, 0xF0, 0xFF]), (0x7F, 31));
    let fake = FakeIgb::new(MAC);
    write_multicast_table(
        &fake,
        &[[0x01, 0, 0x5E, 0, 0, 0x01], [0x33, 0x33, 0, 0, 0, 0xFB]],
        false,
    );
    assert_eq!(fake.writes().len(), 128);
    assert_eq!(fake.get(MTA(0)), 1 << 16);
    assert_eq!(fake.get(MTA(0x7D)), 1 << 16);
    assert_eq!((1..0x7D).map(|i| fake.get(MTA(i))).sum::<u32>(), 0);
    write_multicast_table(&fake, &[], true);
    assert!((0..128).all(|i| fake.get(MTA(i)) == u32::MAX));
}

// ---- TX ring --------------------------------------------------------------------------------

#[test]
fn tx_posts_copy_flush_once_and_reclaim_from_dd_only() {
    let fake = FakeIgb::new(MAC);
    let desc = FakeDma::new(4096);
    let bufs = FakeDma::new(8 * 2048);
    let mut ring = TxRing::new(1, desc.region(DESC_PHYS), bufs.region(BUF_PHYS), 8, BSIZE).unwrap();
    ring.enable(&fake, &CountingStall::default()).unwrap();
    let writes = fake.writes();
    assert!(writes.contains(&(TDBAL(1), 0x20_0000)) && writes.contains(&(TDLEN(1), 128)));
    assert_eq!(writes.last(), Some(&(TXDCTL(1), TXDCTL_ENABLE)));

    assert_eq!(ring.post(&[]), Err(TxError::Empty));
    assert_eq!(ring.post(&[0; 2049]), Err(TxError::TooLong(2049)));
    assert_eq!(ring.post(&vec![0; 70_000]), Err(TxError::TooLong(70_000)));
    for n in 0..7u16 {
        assert_eq!(ring.post(&payload(u32::from(n))), Ok(n));
    }
    assert_eq!(ring.post(&payload(7)), Err(TxError::Full), "one descriptor stays free");
    // The descriptor the PoC builds (igb-qemu §7).
    let len = u32::try_from(payload(0).len()).unwrap();
    let cmd = (0x3 << 20) | (1 << 29) | (1 << 24) | (1 << 25) | (1 << 27);
    assert_eq!(desc.read(0, 8), BUF_PHYS.to_le_bytes());
    assert_eq!(desc.read_u32(8), cmd | len);
    assert_eq!(desc.read_u32(12), len << 14);
    assert_eq!(bufs.read(2048 * 3, payload(3).len()), payload(3));

    assert_eq!(ring.reclaim(), 0, "nothing flushed yet");
    fake.clear_log();
    assert_eq!(ring.flush(&fake), 7);
    assert_eq!(fake.log(), [Access::Write(TDT(1), 7)]);
    assert_eq!(ring.flush(&fake), 0);
    assert_eq!(fake.log().len(), 1, "an empty flush writes nothing");

    // The device completes the first three, ORing DD into olinfo (igb-qemu §13.7).
    for slot in 0..3 {
        let old = desc.read_u32(slot * 16 + 12);
        desc.write(slot * 16 + 12, &(old | 1).to_le_bytes());
    }
    assert_eq!(ring.reclaim(), 3);
    assert_eq!(ring.reclaim(), 0);
    assert_eq!((ring.in_flight(), ring.free()), (4, 3));
    // Wrap: the reused slot 7, 0, 1 get fresh descriptors with DD clear.
    for n in 7..10 {
        ring.post(&payload(n)).unwrap();
    }
    assert_eq!(desc.read_u32(12) & 1, 0, "stale DD cleared on reuse");
    assert_eq!(ring.flush(&fake), 3);
    assert_eq!(ring.reclaim(), 0);
    let c = ring.counters();
    assert_eq!((c.posted, c.completed, c.full, c.rejected), (10, 3, 1, 3));
}

#[test]
fn start_transmitter_and_receiver_set_only_their_enable_bits() {
    let fake = FakeIgb::new(MAC);
    fake.set(TCTL, 0x10);
    start_transmitter(&fake).unwrap();
    assert_eq!(fake.get(TCTL), 0x10 | 0b1010);
    fake.set(RCTL, 0x0404_8000);
    start_receiver(&fake).unwrap();
    assert_eq!(fake.get(RCTL), 0x0404_8000 | RCTL_EN);
    super::stop_receiver(&fake).unwrap();
    assert_eq!(fake.get(RCTL), 0x0404_8000);
    fake.gone.set(true);
    assert_eq!(start_transmitter(&fake), Err(IgbError::DeviceGone));
}

// ---- VMDq -----------------------------------------------------------------------------------

#[test]
fn configure_vmdq_matches_the_poc_and_leaves_the_receiver_off() {
    let fake = FakeIgb::new([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    fake.set(RAL(5), 0x1234);
    fake.set(RAH(5), 0x8000_5678);
    fake.set(VLVF(31), 0x8000_0001);
    fake.set(VFTA(0), 2);
    configure_vmdq(&fake, 0).unwrap();
    assert_eq!(fake.get(RCTL), 0x0404_8000, "VFE | SECRC | BAM, no EN");
    assert_eq!(fake.get(MRQC), 3);
    assert_eq!(fake.get(VT_CTL), 0x4000_0000);
    assert_eq!(fake.get(RAH(0)), 0x8004_5634, "PF MAC in pool 0, as poc.py programs it");
    assert_eq!(fake.get(RAL(0)), 0x1200_5452);
    assert_eq!((fake.get(RAL(5)), fake.get(RAH(5))), (0, 0));
    assert_eq!((fake.get(VLVF(31)), fake.get(VFTA(0))), (0, 0));
    assert_eq!(fake.get(VMOLR(0)), 0x8900_0000, "STRCRC | BAM | AUPE");
    for pool in 1..8 {
        assert_eq!(fake.get(VMOLR(pool)), 0x8100_0000, "STRCRC | AUPE");
    }
    assert_eq!((fake.get(VFRE), fake.get(VFTE)), (1, 1));

    configure_vmdq(&fake, 5).unwrap();
    assert_eq!(fake.get(VT_CTL), 0x4000_0000 | 5 << 7);
    assert_eq!(fake.get(RAH(0)) & 0x03FC_0000, 1 << 23);
    assert_eq!((fake.get(VFRE), fake.get(VFTE)), (1 << 5, 1 << 5));
    fake.clear_log();
    assert_eq!(configure_vmdq(&fake, 8), Err(IgbError::InvalidPool(8)));
    assert!(fake.log().is_empty());
}

#[test]
fn filters_encode_as_the_poc_wrote_them() {
    let fake = FakeIgb::new(MAC);
    set_receive_address(&fake, 1, [2, 0, 0, 0, 0, 1], 1).unwrap();
    assert_eq!((fake.get(RAL(1)), fake.get(RAH(1))), (0x0000_0002, 0x8008_0100));
    set_receive_address(&fake, 20, [2, 0, 0, 0, 0, 0x5E], 3).unwrap();
    assert_eq!((fake.get(RAL(20)), fake.get(RAH(20))), (0x0000_0002, 0x8020_5E00));
    // AV goes off before the address changes and on only with the new one.
    let writes = fake.writes();
    assert_eq!(&writes[3..], [(RAH(20), 0), (RAL(20), 2), (RAH(20), 0x8020_5E00)]);
    clear_receive_address(&fake, 20).unwrap();
    assert_eq!((fake.get(RAL(20)), fake.get(RAH(20))), (0, 0));

    set_vlan_filter(&fake, 0, 100, 0b100).unwrap();
    assert_eq!((fake.get(VLVF(0)), fake.get(VFTA(3))), (0x8000_4064, 0x10));
    set_vlan_filter(&fake, 1, 101, 0b10).unwrap();
    assert_eq!(fake.get(VFTA(3)), 0x30, "read-modify-write keeps VLAN 100");
    clear_vlan_filter(&fake, 0, 100).unwrap();
    assert_eq!((fake.get(VLVF(0)), fake.get(VFTA(3))), (0, 0x20));

    fake.clear_log();
    assert_eq!(set_receive_address(&fake, 24, MAC, 0), Err(IgbError::InvalidSlot(24)));
    assert_eq!(set_receive_address(&fake, 1, MAC, 8), Err(IgbError::InvalidPool(8)));
    assert_eq!(clear_receive_address(&fake, 99), Err(IgbError::InvalidSlot(99)));
    assert_eq!(set_vlan_filter(&fake, 32, 5, 1), Err(IgbError::InvalidSlot(32)));
    assert_eq!(set_vlan_filter(&fake, 0, 0, 1), Err(IgbError::InvalidVlan(0)));
    assert_eq!(set_vlan_filter(&fake, 0, 4095, 1), Err(IgbError::InvalidVlan(4095)));
    assert_eq!(clear_vlan_filter(&fake, 0, 4095), Err(IgbError::InvalidVlan(4095)));
    assert_eq!(enable_pool_rx(&fake, 9, true), Err(IgbError::InvalidPool(9)));
    assert!(fake.log().is_empty(), "bad arguments write nothing");

    fake.set(VFRE, 1);
    enable_pool_rx(&fake, 2, true).unwrap();
    assert_eq!(fake.get(VFRE), 0b101);
    enable_pool_rx(&fake, 0, false).unwrap();
    assert_eq!(fake.get(VFRE), 0b100);
    super::set_pool_options(
        &fake,
        2,
        PoolOptions {
            accept_untagged: false,
            accept_broadcast: false,
            strip_vlan: true,
            ..PoolOptions::QUEUE_POOL
        },
    )
    .unwrap();
    assert_eq!(fake.get(VMOLR(2)), 0xC000_0000, "STRCRC | STRVLAN");
}

#[test]
fn image_writers_touch_one_register_each() {
    let fake = FakeIgb::new(MAC);
    // Several pools in one RAR (POOLSEL = the mask), with the same AV-last order.
    set_receive_address_pools(&fake, 5, [2, 0, 0, 0, 0, 1], 0b1000_0110).unwrap();
    assert_eq!((fake.get(RAL(5)), fake.get(RAH(5))), (0x0000_0002, 0x8000_0100 | 0x86 << 18));
    assert_eq!(fake.writes(), [(RAH(5), 0), (RAL(5), 2), (RAH(5), 0x8000_0100 | 0x86 << 18)]);
    // No pool: the register is cleared.
    set_receive_address_pools(&fake, 5, [2, 0, 0, 0, 0, 1], 0).unwrap();
    assert_eq!((fake.get(RAL(5)), fake.get(RAH(5))), (0, 0));

    // VLVF alone: VFTA stays as it is.
    fake.set(VFTA(3), 0x1234);
    fake.clear_log();
    write_vlan_pool_filter(&fake, 7, Some(VlanEntry { vlan: 100, pools: 0b101 })).unwrap();
    assert_eq!(fake.writes(), [(VLVF(7), 0x8000_5064)]);
    write_vlan_pool_filter(&fake, 7, Some(VlanEntry { vlan: 100, pools: 0 })).unwrap();
    write_vlan_pool_filter(&fake, 8, None).unwrap();
    assert_eq!(fake.writes()[1..], [(VLVF(7), 0), (VLVF(8), 0)]);
    assert_eq!(fake.get(VFTA(3)), 0x1234);
    write_vlan_table_word(&fake, 127, 0x8000_0001).unwrap();
    assert_eq!(fake.get(VFTA(127)), 0x8000_0001);

    fake.clear_log();
    assert_eq!(set_receive_address_pools(&fake, 24, MAC, 1), Err(IgbError::InvalidSlot(24)));
    assert_eq!(write_vlan_pool_filter(&fake, 32, None), Err(IgbError::InvalidSlot(32)));
    let vlan_0 = Some(VlanEntry { vlan: 0, pools: 1 });
    assert_eq!(write_vlan_pool_filter(&fake, 0, vlan_0), Err(IgbError::InvalidVlan(0)));
    assert_eq!(write_vlan_table_word(&fake, 128, 1), Err(IgbError::InvalidSlot(128)));
    assert!(fake.log().is_empty(), "bad arguments write nothing");
}

#[test]
fn rar_slots_hand_out_1_to_23_and_catch_double_frees() {
    let mut slots = RarSlots::new();
    assert_eq!(slots.available(), 23);
    let got: Vec<u32> = core::iter::from_fn(|| slots.allocate()).collect();
    assert_eq!(got, (1..24).collect::<Vec<_>>());
    assert_eq!(slots.allocate(), None);
    assert!(slots.free(7));
    assert!(!slots.free(7), "double free");
    assert!(!slots.free(0), "RAR0 is never freed");
    assert!(!slots.free(24));
    assert!(!slots.is_used(7) && slots.is_used(8) && slots.is_used(0));
    assert_eq!(slots.allocate(), Some(7));
}

#[test]
fn the_vlan_table_keeps_one_slot_per_vlan() {
    let mut table = VlanTable::new();
    assert_eq!(table.add(100, 2), Ok(VlanChange { slot: 0, vlan: 100, pools: 0b100 }));
    assert_eq!(table.add(200, 1), Ok(VlanChange { slot: 1, vlan: 200, pools: 0b10 }));
    assert_eq!(table.add(100, 5), Ok(VlanChange { slot: 0, vlan: 100, pools: 0b10_0100 }));
    assert_eq!(table.add(100, 5), Ok(VlanChange { slot: 0, vlan: 100, pools: 0b10_0100 }));
    assert_eq!(table.remove(100, 2), Some(VlanChange { slot: 0, vlan: 100, pools: 0b10_0000 }));
    assert_eq!(table.remove(100, 2), None, "already removed");
    assert_eq!(table.remove(300, 0), None);
    assert_eq!(table.remove(100, 200), None, "no such pool");
    assert_eq!(table.remove(100, 5), Some(VlanChange { slot: 0, vlan: 100, pools: 0 }));
    assert_eq!(table.entry(0), None);
    assert_eq!(table.add(0, 1), Err(VlanTableError::InvalidVlan(0)));
    assert_eq!(table.add(4095, 1), Err(VlanTableError::InvalidVlan(4095)));
    assert_eq!(table.add(5, 8), Err(VlanTableError::InvalidPool(8)));
    // Slot 0 is reused, then the table fills up.
    for vlan in 1..=31 {
        let change = table.add(1000 + vlan, 0).unwrap();
        assert_ne!(change.slot, 1);
    }
    assert_eq!(table.add(3000, 0), Err(VlanTableError::Full));
    assert!(table.add(200, 3).is_ok(), "a VLAN already present still takes more pools");

    // Applied to the device.
    let fake = FakeIgb::new(MAC);
    let mut table = VlanTable::new();
    table.add(100, 2).unwrap().apply(&fake).unwrap();
    assert_eq!(fake.get(VLVF(0)), 0x8000_4064);
    table.remove(100, 2).unwrap().apply(&fake).unwrap();
    assert_eq!((fake.get(VLVF(0)), fake.get(VFTA(3))), (0, 0));
}
