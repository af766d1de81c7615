//! Who holds each receive buffer: the ring (armed, or polled and not yet re-armed), NDIS (lent
//! inside an indicated NBL), or nobody (free, a spare).
//!
//! Only the queue's owner (see [`super::claim`]) touches a ledger, so it needs no atomics; NBLs
//! NDIS returns reach it through the queue's return list. Storage is allocated once, when the
//! queue is built; nothing here allocates afterwards.

use alloc::vec::Vec;

/// Where a buffer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// In a descriptor of the ring (armed, or polled and being indicated).
    Ring,
    /// With NDIS, inside an indicated NBL.
    Lent,
    /// On the free list.
    Free,
}

/// The ledger of one queue's buffers (see the module docs).
#[derive(Debug)]
pub struct BufferLedger {
    /// Free buffers, used as a stack (the most recently returned buffer is reused first: its
    /// cache lines may still be warm).
    free: Vec<u16>,
    /// `holders[b]`: where buffer `b` is.
    holders: Vec<Holder>,
    lent_count: u16,
}

/// Memory for a ledger could not be allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

fn vec_with_capacity<T>(capacity: usize) -> Result<Vec<T>, OutOfMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(capacity).map_err(|_| OutOfMemory)?;
    Ok(v)
}

impl BufferLedger {
    /// A ledger for `buffer_count` buffers of which the first `armed` sit in the ring and the
    /// rest are free (the layout [`crate::hw::igb::RxRing::new`] starts with).
    ///
    /// # Errors
    /// [`OutOfMemory`].
    pub fn new(buffer_count: u16, armed: u16) -> Result<Self, OutOfMemory> {
        let armed = armed.min(buffer_count);
        let mut free = vec_with_capacity(usize::from(buffer_count))?;
        // Pushed in reverse so that the lowest spare is taken first.
        free.extend((armed..buffer_count).rev());
        let mut holders = vec_with_capacity(usize::from(buffer_count))?;
        holders.resize(usize::from(armed), Holder::Ring);
        holders.resize(usize::from(buffer_count), Holder::Free);
        Ok(Self { free, holders, lent_count: 0 })
    }

    /// Free buffers.
    #[must_use]
    pub fn free_count(&self) -> u16 {
        u16::try_from(self.free.len()).unwrap_or(u16::MAX)
    }

    /// Buffers with NDIS.
    #[must_use]
    pub fn lent_count(&self) -> u16 {
        self.lent_count
    }

    /// Where buffer `buffer` is; `None` out of range.
    #[must_use]
    pub fn holder(&self, buffer: u16) -> Option<Holder> {
        self.holders.get(usize::from(buffer)).copied()
    }

    /// Records that `buffer`, taken out of its descriptor, was handed to NDIS. `false`
    /// (nothing changes) unless it was in the ring.
    pub fn lend(&mut self, buffer: u16) -> bool {
        match self.holders.get_mut(usize::from(buffer)) {
            Some(holder @ Holder::Ring) => {
                *holder = Holder::Lent;
                self.lent_count += 1;
                true
            }
            _ => false,
        }
    }

    /// A free buffer for an empty descriptor, if any; it is in the ring from now on.
    pub fn take_free(&mut self) -> Option<u16> {
        let buffer = self.free.pop()?;
        if let Some(holder) = self.holders.get_mut(usize::from(buffer)) {
            *holder = Holder::Ring;
        }
        Some(buffer)
    }

    /// NDIS returned `buffer`: it becomes free. `false` (nothing changes) unless it was lent,
    /// so a stray or repeated return cannot put one buffer on the free list twice.
    pub fn give_back(&mut self, buffer: u16) -> bool {
        match self.holders.get_mut(usize::from(buffer)) {
            // The free list has capacity for every buffer, and a lent buffer is never on it, so
            // this push never allocates.
            Some(holder @ Holder::Lent) if self.free.len() < self.free.capacity() => {
                *holder = Holder::Free;
                self.lent_count -= 1;
                self.free.push(buffer);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use proptest::prelude::*;
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn spares_are_free_and_lending_and_returning_move_buffers() {
        let mut ledger = BufferLedger::new(12, 8).unwrap();
        assert_eq!((ledger.free_count(), ledger.lent_count()), (4, 0));
        assert!(ledger.lend(3));
        assert!(!ledger.lend(3), "already lent");
        assert!(!ledger.lend(12), "out of range");
        assert!(!ledger.lend(9), "free, not in the ring");
        assert_eq!(ledger.holder(3), Some(Holder::Lent));
        assert_eq!(ledger.take_free(), Some(8), "lowest spare first");
        assert_eq!(ledger.holder(8), Some(Holder::Ring));
        assert!(ledger.give_back(3));
        assert!(!ledger.give_back(3), "returned twice");
        assert!(!ledger.give_back(5), "never lent");
        assert_eq!(ledger.take_free(), Some(3), "the warmest buffer first");
        assert_eq!((ledger.free_count(), ledger.lent_count()), (3, 0));
    }

    #[derive(Clone, Debug)]
    enum Step {
        Lend(u16),
        Take,
        GiveBack(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u16..40).prop_map(Step::Lend),
            Just(Step::Take),
            (0u16..40).prop_map(Step::GiveBack),
        ]
    }

    proptest! {
        /// Against a model of three disjoint sets (ring, lent, free): a buffer is never free
        /// twice, never in two places, and the counts always match.
        #[test]
        fn the_ledger_matches_a_set_model(
            count in 1u16..32,
            armed in 0u16..32,
            steps in proptest::collection::vec(step(), 0..200),
        ) {
            let mut ledger = BufferLedger::new(count, armed).unwrap();
            let mut free: BTreeSet<u16> = (armed.min(count)..count).collect();
            let mut ring: BTreeSet<u16> = (0..armed.min(count)).collect();
            let mut lent = BTreeSet::new();
            for step in steps {
                match step {
                    Step::Lend(b) => {
                        let ok = ring.contains(&b);
                        prop_assert_eq!(ledger.lend(b), ok);
                        if ok { ring.remove(&b); lent.insert(b); }
                    }
                    Step::Take => match ledger.take_free() {
                        Some(b) => { prop_assert!(free.remove(&b)); ring.insert(b); }
                        None => prop_assert!(free.is_empty()),
                    },
                    Step::GiveBack(b) => {
                        let ok = lent.contains(&b);
                        prop_assert_eq!(ledger.give_back(b), ok);
                        if ok { lent.remove(&b); free.insert(b); }
                    }
                }
                prop_assert_eq!(usize::from(ledger.free_count()), free.len());
                prop_assert_eq!(usize::from(ledger.lent_count()), lent.len());
                for b in 0..count {
                    let expected = if ring.contains(&b) {
                        Holder::Ring
                    } else if lent.contains(&b) {
                        Holder::Lent
                    } else {
                        prop_assert!(free.contains(&b));
                        Holder::Free
                    };
                    prop_assert_eq!(ledger.holder(b), Some(expected));
                }
            }
        }
    }
}
