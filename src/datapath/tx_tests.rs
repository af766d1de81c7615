//! The send engine over a memory-backed ring and a fake transmitter that sends everything up
//! to TDT (QEMU transmits synchronously on the TDT write, igb-qemu §7).

extern crate std;

use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::tx::{Finished, Packets, SendQueue};
use crate::hw::igb::fake::{CountingStall, FakeDma, FakeIgb};
use crate::hw::igb::regs::TDT;
use crate::hw::igb::{TxError, TxRing};

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const DESC_PHYS: u64 = 0x20_0000;
const BUF_PHYS: u64 = 0x40_0000;
const BSIZE: u32 = 2048;

/// Packets as vectors: packet i has frames `frames[i]` (an empty frame or one over 2048 bytes
/// cannot be sent).
#[derive(Default)]
struct Fifo {
    frames: Vec<Vec<Vec<u8>>>,
    next: Vec<Option<usize>>,
    progress: Vec<u32>,
}

impl Fifo {
    fn add(&mut self, frames: Vec<Vec<u8>>) -> usize {
        self.frames.push(frames);
        self.next.push(None);
        self.progress.push(0);
        self.frames.len() - 1
    }
}

/// A frame: (packet, index) packed into a word.
fn word(packet: usize, index: usize) -> usize {
    packet << 16 | index
}

impl Packets for Fifo {
    type Packet = usize;
    type Frame = usize;

    fn next(&self, packet: usize) -> Option<usize> {
        self.next[packet]
    }
    fn set_next(&mut self, packet: usize, next: Option<usize>) {
        self.next[packet] = next;
    }
    fn first_frame(&self, packet: usize) -> Option<usize> {
        (!self.frames[packet].is_empty()).then_some(word(packet, 0))
    }
    fn next_frame(&self, frame: usize) -> Option<usize> {
        let (packet, index) = (frame >> 16, frame & 0xFFFF);
        (index + 1 < self.frames[packet].len()).then_some(word(packet, index + 1))
    }
    fn copy_frame(
        &mut self,
        packet: usize,
        frame: usize,
        buffer: &mut [u8],
    ) -> Result<usize, TxError> {
        let bytes = &self.frames[packet][frame & 0xFFFF];
        buffer.get_mut(..bytes.len()).ok_or(TxError::TooLong(bytes.len()))?.copy_from_slice(bytes);
        Ok(bytes.len())
    }
    fn progress(&self, packet: usize) -> u32 {
        self.progress[packet]
    }
    fn set_progress(&mut self, packet: usize, progress: u32) {
        self.progress[packet] = progress;
    }
}

/// The wire: sends every descriptor from its head up to TDT, sets DD, records the frames.
struct Wire<'d> {
    desc: &'d FakeDma,
    bufs: &'d FakeDma,
    count: u16,
    head: u16,
    sent: Vec<Vec<u8>>,
}

impl Wire<'_> {
    fn transmit(&mut self, fake: &FakeIgb) {
        let tail = u16::try_from(fake.get(TDT(0))).unwrap();
        while self.head != tail {
            let base = usize::from(self.head) * 16;
            let address = u64::from_le_bytes(self.desc.read(base, 8).try_into().unwrap());
            let length = (self.desc.read_u32(base + 8) & 0xFFFF) as usize;
            let offset = usize::try_from(address - BUF_PHYS).unwrap();
            self.sent.push(self.bufs.read(offset, length));
            let olinfo = self.desc.read_u32(base + 12);
            self.desc.write(base + 12, &(olinfo | 1).to_le_bytes());
            self.head = (self.head + 1) % self.count;
        }
    }
}

struct Rig {
    fake: FakeIgb,
    desc: FakeDma,
    bufs: FakeDma,
}

impl Rig {
    fn new() -> Self {
        Self { fake: FakeIgb::new(MAC), desc: FakeDma::new(4096), bufs: FakeDma::new(16 * 2048) }
    }

    fn queue(&self, count: u16) -> SendQueue<'_, usize> {
        let mut ring =
            TxRing::new(0, self.desc.region(DESC_PHYS), self.bufs.region(BUF_PHYS), count, BSIZE)
                .unwrap();
        ring.enable(&self.fake, &CountingStall::default()).unwrap();
        let owners = Vec::leak(vec![None; usize::from(count)]);
        SendQueue::new(ring, owners).unwrap()
    }

    fn wire(&self, count: u16) -> Wire<'_> {
        Wire { desc: &self.desc, bufs: &self.bufs, count, head: 0, sent: Vec::new() }
    }
}

fn bytes(n: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from((i * 7 + n) % 256).unwrap()).collect()
}

#[test]
fn packets_larger_than_the_ring_go_out_in_order_and_complete_once() {
    let rig = Rig::new();
    let mut queue = rig.queue(8);
    let mut wire = rig.wire(8);
    let mut fifo = Fifo::default();
    // Packet 0: 10 frames (more than the ring's 7 free slots); packet 1: 2 frames.
    let a = fifo.add((0..10).map(|n| bytes(n, 60 + n)).collect());
    let b = fifo.add(vec![bytes(100, 64), bytes(101, 1514)]);
    queue.submit(&mut fifo, a);
    queue.submit(&mut fifo, b);
    let mut finished = Vec::new();
    rig.fake.clear_log();
    assert_eq!(queue.pump(&mut fifo, &rig.fake, |f| finished.push(f)), 7);
    assert_eq!(rig.fake.writes(), [(TDT(0), 7)], "one tail write for the batch");
    assert_eq!(queue.waiting(), 2, "packet 0 half posted");
    wire.transmit(&rig.fake);
    assert_eq!(queue.reclaim(&mut fifo, |f| finished.push(f)), 7);
    assert!(finished.is_empty(), "packet 0 still has frames to send");
    assert_eq!(queue.pump(&mut fifo, &rig.fake, |f| finished.push(f)), 5);
    wire.transmit(&rig.fake);
    queue.reclaim(&mut fifo, |f| finished.push(f));
    assert_eq!(finished, [Finished { packet: a, ok: true }, Finished { packet: b, ok: true }]);
    let expected: Vec<Vec<u8>> = fifo.frames[a].iter().chain(&fifo.frames[b]).cloned().collect();
    assert_eq!(wire.sent, expected, "every frame, in order, byte-exact");
    assert_eq!(queue.waiting(), 0);
}

#[test]
fn a_bad_frame_fails_its_packet_only() {
    let rig = Rig::new();
    let mut queue = rig.queue(8);
    let mut wire = rig.wire(8);
    let mut fifo = Fifo::default();
    let bad = fifo.add(vec![bytes(0, 60), vec![0; 3000], Vec::new(), bytes(1, 61)]);
    let none = fifo.add(vec![vec![0; 2049]]);
    let good = fifo.add(vec![bytes(2, 62)]);
    for p in [bad, none, good] {
        queue.submit(&mut fifo, p);
    }
    let mut finished = Vec::new();
    assert_eq!(queue.pump(&mut fifo, &rig.fake, |f| finished.push(f)), 3);
    assert_eq!(finished, [Finished { packet: none, ok: false }], "nothing to wait for");
    wire.transmit(&rig.fake);
    queue.reclaim(&mut fifo, |f| finished.push(f));
    assert_eq!(
        finished[1..],
        [Finished { packet: bad, ok: false }, Finished { packet: good, ok: true }]
    );
    assert_eq!(wire.sent, [bytes(0, 60), bytes(1, 61), bytes(2, 62)]);
}

#[test]
fn waiting_packets_can_be_removed_but_not_a_half_posted_one() {
    let rig = Rig::new();
    let mut queue = rig.queue(8);
    let mut fifo = Fifo::default();
    let packets: Vec<usize> = (0..5).map(|n| fifo.add(vec![bytes(n, 60); 3])).collect();
    for p in &packets {
        queue.submit(&mut fifo, *p);
    }
    // 7 slots: packets 0 and 1 posted, packet 2 half posted (1 of 3).
    queue.pump(&mut fifo, &rig.fake, |_| {});
    assert_eq!(queue.waiting(), 3);
    let mut removed = Vec::new();
    assert_eq!(queue.remove_waiting(&mut fifo, |_, _| true, |p| removed.push(p)), 2);
    assert_eq!(removed, [packets[3], packets[4]]);
    assert_eq!(queue.waiting(), 1, "the half-posted head stays");
    // Remove by predicate from the middle.
    let more: Vec<usize> = (5..8).map(|n| fifo.add(vec![bytes(n, 60)])).collect();
    for p in &more {
        queue.submit(&mut fifo, *p);
    }
    removed.clear();
    queue.remove_waiting(&mut fifo, |_, p| p == more[1], |p| removed.push(p));
    assert_eq!(removed, [more[1]]);
    assert_eq!(queue.waiting(), 3);
}

#[test]
fn a_packet_that_found_the_ring_full_has_not_started_and_can_be_removed() {
    let rig = Rig::new();
    let mut queue = rig.queue(8);
    let mut fifo = Fifo::default();
    let first = fifo.add(vec![bytes(0, 60); 7]);
    let second = fifo.add(vec![bytes(1, 60)]);
    queue.submit(&mut fifo, first);
    queue.submit(&mut fifo, second);
    assert_eq!(queue.pump(&mut fifo, &rig.fake, |_| {}), 7);
    let mut removed = Vec::new();
    assert_eq!(queue.remove_waiting(&mut fifo, |_, _| true, |p| removed.push(p)), 1);
    assert_eq!(removed, [second], "the ring was full before its first frame");
    assert_eq!(queue.waiting(), 0);
}

#[test]
fn abandoning_finishes_every_packet_once_in_the_ring_and_waiting() {
    let rig = Rig::new();
    let mut queue = rig.queue(8);
    let mut wire = rig.wire(8);
    let mut fifo = Fifo::default();
    // Packet 0 sent (reclaimable), 1 in the ring, 2 half posted, 3 waiting.
    let packets: Vec<usize> =
        [1, 3, 5, 2].iter().map(|n| fifo.add(vec![bytes(*n, 60); *n])).collect();
    let mut finished = Vec::new();
    queue.submit(&mut fifo, packets[0]);
    queue.pump(&mut fifo, &rig.fake, |f| finished.push(f));
    wire.transmit(&rig.fake);
    for p in &packets[1..] {
        queue.submit(&mut fifo, *p);
    }
    queue.pump(&mut fifo, &rig.fake, |f| finished.push(f));
    assert_eq!(queue.waiting(), 2, "packet 2 half posted, packet 3 waiting");
    rig.fake.clear_log();
    assert_eq!(queue.abandon(&mut fifo, |f| finished.push(f)), 4);
    assert_eq!(rig.fake.writes(), [], "no register written");
    let mut seen: Vec<usize> = finished.iter().map(|f| f.packet).collect();
    seen.sort_unstable();
    assert_eq!(seen, packets, "every packet finished once");
    assert!(finished.iter().all(|f| !f.ok), "all failed");
    assert_eq!(queue.waiting(), 0);
    // The device wrote packet 0's descriptor back before it went: nothing completes twice.
    assert_eq!(queue.reclaim(&mut fifo, |f| finished.push(f)), 1);
    assert_eq!(finished.len(), 4);
    assert_eq!(queue.abandon(&mut fifo, |f| finished.push(f)), 0, "nothing left");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random packets (1-4 frames, some unsendable), random interleaving of submit, pump,
    /// transmit and reclaim: every sendable frame goes out once, in order; every packet
    /// finishes exactly once, ok iff all its frames were sendable; at most one tail write per
    /// pump; no register read.
    #[test]
    fn every_packet_finishes_once_and_frames_keep_their_order(
        packets in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![8 => 1usize..=1514, 1 => Just(0usize), 1 => 2049usize..3000], 1..5),
            1..40,
        ),
        schedule in proptest::collection::vec(0u8..4, 1..200),
    ) {
        let rig = Rig::new();
        let mut queue = rig.queue(16);
        let mut wire = rig.wire(16);
        let mut fifo = Fifo::default();
        let ids: Vec<usize> = packets
            .iter()
            .enumerate()
            .map(|(n, lens)| fifo.add(lens.iter().enumerate().map(|(i, l)| bytes(n * 8 + i, *l)).collect()))
            .collect();
        let mut submitted = 0;
        let mut finished: Vec<Finished<usize>> = Vec::new();
        let steps = schedule.iter().copied().chain(core::iter::repeat_n(4u8, 200));
        for step in steps {
            match step {
                0 if submitted < ids.len() => {
                    queue.submit(&mut fifo, ids[submitted]);
                    submitted += 1;
                }
                0 | 1 => {
                    rig.fake.clear_log();
                    queue.pump(&mut fifo, &rig.fake, |f| finished.push(f));
                    prop_assert!(rig.fake.log().len() <= 1);
                }
                2 => wire.transmit(&rig.fake),
                3 => { queue.reclaim(&mut fifo, |f| finished.push(f)); }
                _ => {
                    // Drain: submit the rest and run everything to the end.
                    while submitted < ids.len() {
                        queue.submit(&mut fifo, ids[submitted]);
                        submitted += 1;
                    }
                    queue.pump(&mut fifo, &rig.fake, |f| finished.push(f));
                    wire.transmit(&rig.fake);
                    queue.reclaim(&mut fifo, |f| finished.push(f));
                }
            }
        }
        let finished_ids: BTreeSet<usize> = finished.iter().map(|f| f.packet).collect();
        prop_assert_eq!(finished.len(), ids.len(), "each packet finishes once");
        prop_assert_eq!(finished_ids.len(), ids.len());
        for f in &finished {
            let sendable = fifo.frames[f.packet].iter().all(|b| (1..=2048).contains(&b.len()));
            prop_assert_eq!(f.ok, sendable);
        }
        let expected: Vec<Vec<u8>> = fifo
            .frames
            .iter()
            .flatten()
            .filter(|b| (1..=2048).contains(&b.len()))
            .cloned()
            .collect();
        prop_assert_eq!(&wire.sent, &expected);
    }
}
