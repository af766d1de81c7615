//! The receive batch over a memory-backed ring and a fake device (QEMU's RX engine in miniature,
//! `hw::igb::fake`).

extern crate std;

use std::collections::{BTreeMap, VecDeque};
use std::vec::Vec;

use proptest::prelude::*;

use super::ledger::BufferLedger;
use super::rx::{RECEIVE_BUDGET, ReceiveQueue, ReceiveSink};
use crate::hw::igb::fake::{Access, FakeIgb, FakeRxEngine, RxRig};
use crate::hw::igb::regs::RDT;
use crate::hw::igb::{RxCompletion, RxRing};

const BSIZE: u32 = 2048;
const DD_EOP: u32 = 0b11;

fn payload(n: u32) -> Vec<u8> {
    let len = 60 + (n * 13) % 1450;
    (0..len).map(|i| (i ^ n.wrapping_mul(7)).to_le_bytes()[0]).collect()
}

/// What the protocol side saw: every frame's bytes, whether it was lent, and the buffers it
/// still holds (with the bytes it was lent with, to catch a buffer the device overwrote).
#[derive(Default)]
struct Protocol {
    frames: Vec<(Vec<u8>, bool)>,
    held: BTreeMap<u16, Vec<u8>>,
    calls: Vec<(usize, bool)>,
}

impl ReceiveSink for Protocol {
    fn indicate(&mut self, ring: &RxRing<'_>, frames: &[RxCompletion], lend: bool) {
        self.calls.push((frames.len(), lend));
        for c in frames {
            let bytes = ring.frame(c).expect("an indicated frame is readable").to_vec();
            if lend {
                assert!(self.held.insert(c.buffer, bytes.clone()).is_none(), "lent twice");
            }
            self.frames.push((bytes, lend));
        }
    }
}

/// The fake device and memory ([`RxRig`]), with the ledger the queue needs.
struct Rig(RxRig);

impl Rig {
    fn new(buffers: usize) -> Self {
        Self(RxRig::new(buffers * BSIZE as usize))
    }

    fn fake(&self) -> &FakeIgb {
        &self.0.fake
    }

    fn queue(&self, count: u16) -> ReceiveQueue<'_> {
        let ring = self.0.ring(0, count);
        let ledger = BufferLedger::new(ring.buffer_count(), count).unwrap();
        ReceiveQueue::new(ring, ledger)
    }

    fn engine(&self, count: u16) -> FakeRxEngine<'_> {
        self.0.engine(0, count)
    }

    /// Bytes of buffer `b` now.
    fn buffer(&self, b: u16, len: usize) -> Vec<u8> {
        self.0.bufs.read(usize::from(b) * BSIZE as usize, len)
    }
}

#[test]
fn returned_at_once_every_frame_is_lent_with_one_tail_write_and_no_read_per_batch() {
    let device = Rig::new(32);
    let mut queue = device.queue(16);
    let mut engine = device.engine(16);
    let mut protocol = Protocol::default();
    let mut sent = 0;
    for _ in 0..40 {
        while engine.receive(device.fake(), &payload(sent), DD_EOP, 0) {
            sent += 1;
        }
        device.fake().clear_log();
        let done = queue.service(device.fake(), RECEIVE_BUDGET, &mut protocol);
        assert_eq!((done.copied, done.more), (0, false));
        assert_eq!(device.fake().log().len(), 1, "one access per batch");
        assert!(matches!(device.fake().log()[0], Access::Write(register, _) if register == RDT(0)));
        for (b, _) in core::mem::take(&mut protocol.held) {
            assert!(queue.give_back(b));
        }
    }
    assert_eq!(protocol.frames.len(), sent as usize);
    assert!(sent >= 40 * 15, "the ring wrapped {} times", sent / 16);
    for (n, (bytes, lent)) in protocol.frames.iter().enumerate() {
        assert_eq!(bytes, &payload(u32::try_from(n).unwrap()));
        assert!(lent);
    }
    assert_eq!((queue.lent(), queue.spares()), (0, 16));
}

#[test]
fn when_spares_run_out_frames_are_copied_and_lending_resumes_when_buffers_return() {
    let device = Rig::new(24);
    let mut queue = device.queue(16);
    let mut engine = device.engine(16);
    let mut protocol = Protocol::default();
    let mut sent = 0;
    // The protocol keeps everything: 8 spares are lent, then every frame is copied, and the
    // ring keeps receiving.
    for _ in 0..5 {
        while engine.receive(device.fake(), &payload(sent), DD_EOP, 0) {
            sent += 1;
        }
        queue.service(device.fake(), RECEIVE_BUDGET, &mut protocol);
    }
    assert_eq!(protocol.frames.len(), sent as usize);
    assert_eq!(protocol.calls[0], (8, true));
    assert_eq!(protocol.calls[1], (7, false));
    assert!(protocol.calls[2..].iter().all(|(_, lend)| !lend));
    assert_eq!((queue.lent(), queue.spares()), (8, 0));
    // The held buffers were never re-armed: the device did not write into them.
    for (b, bytes) in &protocol.held {
        assert_eq!(&device.buffer(*b, bytes.len()), bytes, "buffer {b} was overwritten while lent");
    }
    // Everything comes back: the next batch is lent again.
    for (b, _) in core::mem::take(&mut protocol.held) {
        assert!(queue.give_back(b));
    }
    assert!(!queue.give_back(0) || queue.counters().bad_returns == 0);
    protocol.calls.clear();
    while engine.receive(device.fake(), &payload(sent), DD_EOP, 0) {
        sent += 1;
    }
    queue.service(device.fake(), RECEIVE_BUDGET, &mut protocol);
    assert_eq!(protocol.calls, [(8, true), (7, false)]);
    for (n, (bytes, _)) in protocol.frames.iter().enumerate() {
        assert_eq!(bytes, &payload(u32::try_from(n).unwrap()), "frame {n}");
    }
}

#[test]
fn the_budget_splits_a_full_ring_and_says_more_is_waiting() {
    let device = Rig::new(256);
    let mut queue = device.queue(128);
    let mut engine = device.engine(128);
    let mut protocol = Protocol::default();
    let mut sent = 0;
    while engine.receive(device.fake(), &payload(sent), DD_EOP, 0) {
        sent += 1;
    }
    assert_eq!(sent, 127);
    let first = queue.service(device.fake(), RECEIVE_BUDGET, &mut protocol);
    assert_eq!((first.frames, first.more), (64, true));
    let second = queue.service(device.fake(), RECEIVE_BUDGET, &mut protocol);
    assert_eq!((second.frames, second.more), (63, false));
    assert_eq!(queue.service(device.fake(), 0, &mut protocol).frames, 0);
}

#[test]
fn a_queue_that_may_not_indicate_drops_its_frames_and_keeps_receiving() {
    let device = Rig::new(32);
    let mut queue = device.queue(16);
    let mut engine = device.engine(16);
    let mut protocol = Protocol::default();
    for n in 0..10 {
        assert!(engine.receive(device.fake(), &payload(n), DD_EOP, 0));
    }
    device.fake().clear_log();
    assert_eq!(queue.discard(device.fake(), RECEIVE_BUDGET), 10);
    assert_eq!(device.fake().writes(), [(RDT(0), 9)], "re-armed with one tail write");
    assert_eq!(queue.counters().discarded, 10);
    assert_eq!((queue.lent(), queue.spares()), (0, 16), "nothing was lent");
    // Indicating again picks up with the next frame.
    assert!(engine.receive(device.fake(), &payload(10), DD_EOP, 0));
    queue.service(device.fake(), RECEIVE_BUDGET, &mut protocol);
    assert_eq!(protocol.frames, [(payload(10), true)]);
}

#[derive(Clone, Debug)]
enum Step {
    /// The device receives up to n frames (fewer if the ring is full).
    Arrive(u8),
    /// A DPC pass with this budget.
    Service(u8),
    /// The protocol returns its k-th oldest held buffer.
    Return(u8),
    /// A bogus return of buffer b.
    Stray(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u8..40).prop_map(Step::Arrive),
        (0u8..80).prop_map(Step::Service),
        (0u8..32).prop_map(Step::Return),
        (0u16..80).prop_map(Step::Stray),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any mix of arrivals, passes, returns (in any order) and stray returns: every frame the
    /// device accepted is indicated exactly once, in order, with its bytes; a lent buffer is
    /// never written by the device while lent; the tail is written at most once per pass; no
    /// register is read.
    #[test]
    fn frames_are_delivered_once_in_order_and_lent_buffers_are_never_overwritten(
        spares in 0u16..24,
        steps in proptest::collection::vec(step(), 1..120),
    ) {
        let count = 16u16;
        let device = Rig::new(usize::from(count + spares));
        let mut queue = device.queue(count);
        let mut engine = device.engine(count);
        let mut protocol = Protocol::default();
        let mut order: VecDeque<u16> = VecDeque::new();
        let mut sent = 0u32;
        for step in steps {
            match step {
                Step::Arrive(n) => {
                    for _ in 0..n {
                        if !engine.receive(device.fake(), &payload(sent), DD_EOP, 0) { break; }
                        sent += 1;
                    }
                }
                Step::Service(budget) => {
                    device.fake().clear_log();
                    let before = protocol.held.len();
                    queue.service(device.fake(), usize::from(budget), &mut protocol);
                    let log = device.fake().log();
                    prop_assert!(log.len() <= 1);
                    prop_assert!(log.iter().all(|a| matches!(a, Access::Write(..))));
                    let mut fresh: Vec<u16> = protocol.held.keys().copied()
                        .filter(|b| !order.contains(b)).collect();
                    prop_assert_eq!(fresh.len(), protocol.held.len() - before);
                    fresh.sort_unstable();
                    order.extend(fresh);
                }
                Step::Return(k) => {
                    if let Some(b) = order.remove(usize::from(k) % order.len().max(1)) {
                        let bytes = protocol.held.remove(&b).unwrap();
                        prop_assert_eq!(device.buffer(b, bytes.len()), bytes, "overwritten while lent");
                        prop_assert!(queue.give_back(b));
                    }
                }
                Step::Stray(b) => {
                    if !protocol.held.contains_key(&b) {
                        prop_assert!(!queue.give_back(b));
                    }
                }
            }
            prop_assert_eq!(usize::from(queue.lent()), protocol.held.len());
        }
        // Drain what is left.
        while queue.service(device.fake(), RECEIVE_BUDGET, &mut protocol).frames > 0 {}
        prop_assert_eq!(protocol.frames.len(), sent as usize);
        for (n, (bytes, _)) in protocol.frames.iter().enumerate() {
            prop_assert_eq!(bytes, &payload(u32::try_from(n).unwrap()));
        }
        for (b, bytes) in &protocol.held {
            prop_assert_eq!(&device.buffer(*b, bytes.len()), bytes);
        }
    }
}
