//! One receive queue's batch: poll the ring, lend what can be replaced, copy the rest, re-arm.
//!
//! This is the logic of the receive DPC without NDIS: the glue (`miniport::datapath`) turns a
//! batch into NBLs and NdisMIndicateReceiveNetBufferLists calls through [`ReceiveSink`]; tests
//! and benchmarks run the same code over memory-backed rings.
//!
//! # Lend or copy (the low-resources path)
//!
//! A received buffer normally goes to NDIS inside its NBL (zero-copy) and comes back whenever
//! the protocol returns the NBL. Its descriptor is re-armed at once with a *free* buffer, so
//! the ring never waits for NDIS. A buffer is lent only when a free buffer is there to replace
//! it; when the spares run out (protocols hold NBLs), the rest of the batch is indicated with
//! `NDIS_RECEIVE_FLAGS_RESOURCES`: the protocol copies the data during the call and the buffer
//! stays in its descriptor. Receive never stalls and never drops for want of NBLs, and normal
//! lending resumes by itself as NBLs come back, without a reset.
//!
//! # Costs per batch
//!
//! No register read; one RDT write (in [`RxRing::refill_with`]); no allocation; two sink calls
//! at most (the lent part and the copied part, each one queue, in ring order).

use super::ledger::BufferLedger;
use crate::hw::Registers;
use crate::hw::igb::{RxCompletion, RxRing};

/// Most frames one batch takes from a ring (NAPI's and NDIS samples' 64): a DPC should not
/// run much longer than ~100 µs, and more waiting is handled by queueing the DPC again.
pub const RECEIVE_BUDGET: usize = 64;

/// Where a batch goes (the glue: NBLs and NdisMIndicateReceiveNetBufferLists).
pub trait ReceiveSink {
    /// Indicates `frames` (in ring order, all of this queue; never empty). `lend`: ownership
    /// of each frame's buffer passes to NDIS until it is given back
    /// ([`ReceiveQueue::give_back`]); otherwise the buffers must not be held after the call
    /// returns (`NDIS_RECEIVE_FLAGS_RESOURCES`). Frame bytes: [`RxRing::frame`].
    fn indicate(&mut self, ring: &RxRing<'_>, frames: &[RxCompletion], lend: bool);
}

/// What one [`ReceiveQueue::service`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Serviced {
    /// Frames indicated.
    pub frames: usize,
    /// Of those, lent to NDIS.
    pub lent: usize,
    /// Of those, indicated with the resources flag (copied by the protocol).
    pub copied: usize,
    /// Descriptors given back to the device.
    pub rearmed: u16,
    /// The budget was used up: more frames may be waiting.
    pub more: bool,
}

/// Totals across passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiveCounters {
    /// Frames lent to NDIS.
    pub lent: u64,
    /// Frames indicated with the resources flag.
    pub copied: u64,
    /// Buffers NDIS gave back.
    pub returned: u64,
    /// Give-backs refused (a buffer that was not lent: a stray or repeated return).
    pub bad_returns: u64,
    /// Frames dropped unindicated because the queue was not to indicate
    /// ([`ReceiveQueue::discard`]).
    pub discarded: u64,
}

/// One receive queue's ring and buffers, serviced by one owner at a time.
#[derive(Debug)]
pub struct ReceiveQueue<'a> {
    ring: RxRing<'a>,
    ledger: BufferLedger,
    completions: [RxCompletion; RECEIVE_BUDGET],
    counters: ReceiveCounters,
}

impl<'a> ReceiveQueue<'a> {
    /// A queue over `ring` (fresh from [`RxRing::new`]: descriptor i holds buffer i, every
    /// buffer from `count` up is a spare) and its `ledger` ([`BufferLedger::new`] with the
    /// ring's buffer count and descriptor count).
    #[must_use]
    pub fn new(ring: RxRing<'a>, ledger: BufferLedger) -> Self {
        Self {
            ring,
            ledger,
            completions: [RxCompletion::EMPTY; RECEIVE_BUDGET],
            counters: ReceiveCounters::default(),
        }
    }

    /// The ring.
    #[must_use]
    pub fn ring(&self) -> &RxRing<'a> {
        &self.ring
    }

    /// The ring, to enable or disable it.
    pub fn ring_mut(&mut self) -> &mut RxRing<'a> {
        &mut self.ring
    }

    /// Buffers with NDIS now.
    #[must_use]
    pub fn lent(&self) -> u16 {
        self.ledger.lent_count()
    }

    /// Free spare buffers now.
    #[must_use]
    pub fn spares(&self) -> u16 {
        self.ledger.free_count()
    }

    /// Totals so far.
    #[must_use]
    pub fn counters(&self) -> ReceiveCounters {
        self.counters
    }

    /// NDIS returned `buffer`. `false` if it was not lent (ignored and counted).
    pub fn give_back(&mut self, buffer: u16) -> bool {
        let ok = self.ledger.give_back(buffer);
        if ok {
            self.counters.returned += 1;
        } else {
            self.counters.bad_returns += 1;
        }
        ok
    }

    /// Drops up to `budget` received frames without indicating them (a VM queue that lost its
    /// last filter must not hold or indicate packets, spec §2.2 CLEAR_FILTER) and re-arms their
    /// descriptors with one tail write. Returns how many were dropped.
    pub fn discard(&mut self, regs: &impl Registers, budget: usize) -> usize {
        let budget = budget.min(RECEIVE_BUDGET);
        let completions = self.completions.get_mut(..budget).unwrap_or_default();
        let polled = self.ring.poll(completions);
        let ledger = &mut self.ledger;
        self.ring.refill_with(regs, |_| ledger.take_free());
        self.counters.discarded += polled as u64;
        polled
    }

    /// One batch: poll up to `budget` (at most [`RECEIVE_BUDGET`]) frames, indicate them
    /// through `sink` (lent while spares last, then copied), and re-arm every polled
    /// descriptor with one tail write.
    pub fn service(
        &mut self,
        regs: &impl Registers,
        budget: usize,
        sink: &mut impl ReceiveSink,
    ) -> Serviced {
        let budget = budget.min(RECEIVE_BUDGET);
        let completions = self.completions.get_mut(..budget).unwrap_or_default();
        let polled = self.ring.poll(completions);
        let batch = self.completions.get(..polled).unwrap_or_default();
        // Lend only what a spare can replace: refill below then never runs short.
        let lendable = polled.min(usize::from(self.ledger.free_count()));
        let (lend, copy) = batch.split_at(lendable);
        if !lend.is_empty() {
            sink.indicate(&self.ring, lend, true);
        }
        // NBLs NDIS returns (even during the call above) reach the ledger only through
        // give_back, on the owner's next pass, so marking the buffers lent now is in time.
        // Polled descriptors are software's and hold their buffer, so both succeed.
        self.ring.detach_all(lend);
        for completion in lend {
            self.ledger.lend(completion.buffer);
        }
        if !copy.is_empty() {
            sink.indicate(&self.ring, copy, false);
        }
        let ledger = &mut self.ledger;
        let rearmed = self.ring.refill_with(regs, |_| ledger.take_free());
        self.counters.lent += lendable as u64;
        self.counters.copied += (polled - lendable) as u64;
        Serviced {
            frames: polled,
            lent: lendable,
            copied: polled - lendable,
            rearmed,
            more: polled == budget && budget > 0,
        }
    }
}
