//! Single-owner access to a queue's software state without a spin lock.
//!
//! A receive queue's ring is serviced by the DPC of the message its interrupt arrives on. Two
//! DPC instances can still meet on one queue: after an affinity change the old message's DPC
//! may be finishing on one processor while the new message's DPC starts on another, and the
//! PASSIVE_LEVEL control paths (Pause, Halt, freeing a queue) want the ring too. Holding a spin
//! lock across a whole batch would also hold it across NdisMIndicateReceiveNetBufferLists,
//! which NDIS advises against (a protocol may send, and so re-enter the miniport, from its
//! receive handler).
//!
//! [`WorkClaim`] gives the ring one owner at a time instead. Whoever cannot claim it does not
//! wait: it leaves a note ([`WorkClaim::try_begin`] returns `false` after recording a request),
//! and the owner, when it tries to finish, sees the note and runs once more
//! ([`WorkClaim::finish`] returns `false`). No work is lost, nobody spins, and a DPC that
//! preempts a PASSIVE_LEVEL owner on the same processor cannot deadlock with it.

use core::sync::atomic::{AtomicU8, Ordering};

/// Nobody owns the work.
const IDLE: u8 = 0;
/// Someone owns it, and nobody asked for more since it started.
const RUNNING: u8 = 1;
/// Someone owns it, and someone else asked for another pass.
const AGAIN: u8 = 2;

/// The claim (see the module docs).
#[derive(Debug, Default)]
pub struct WorkClaim {
    state: AtomicU8,
}

impl WorkClaim {
    /// An unclaimed claim.
    #[must_use]
    pub const fn new() -> Self {
        Self { state: AtomicU8::new(IDLE) }
    }

    /// Claims the work: `true` if the caller now owns it (and must call
    /// [`finish`](Self::finish) until it returns `true`). `false` if someone else owns it; the
    /// request is recorded and the owner will run another pass on the caller's behalf.
    pub fn try_begin(&self) -> bool {
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            // IDLE → RUNNING: the caller owns the work. RUNNING or AGAIN → AGAIN: the owner
            // runs another pass. Release, so that what the caller queued before asking is
            // seen by whoever runs the pass.
            let (next, owned) = if current == IDLE { (RUNNING, true) } else { (AGAIN, false) };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return owned,
                Err(actual) => current = actual,
            }
        }
    }

    /// Ends a pass. `true`: the claim is released. `false`: someone asked for more while the
    /// pass ran; the caller still owns the work and must run another pass, then call this
    /// again.
    pub fn finish(&self) -> bool {
        // Acquire on failure: the requests behind AGAIN are visible to the next pass.
        if self.state.compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return true;
        }
        // AGAIN → RUNNING: one more pass covers every request made so far. Nobody else
        // changes AGAIN (requests leave it as it is), so a plain store is enough.
        self.state.store(RUNNING, Ordering::Relaxed);
        false
    }

    /// Whether someone owns the work now (a snapshot, for waiting loops at PASSIVE_LEVEL).
    #[must_use]
    pub fn is_claimed(&self) -> bool {
        self.state.load(Ordering::Acquire) != IDLE
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, AtomicUsize};
    use std::thread;
    use std::vec::Vec;

    use super::*;

    #[test]
    fn one_owner_and_requests_become_extra_passes() {
        let claim = WorkClaim::new();
        assert!(!claim.is_claimed());
        assert!(claim.try_begin());
        assert!(claim.is_claimed());
        assert!(!claim.try_begin(), "owned");
        assert!(!claim.try_begin(), "two requests, one extra pass");
        assert!(!claim.finish(), "run again");
        assert!(claim.finish(), "released");
        assert!(!claim.is_claimed());
        assert!(claim.try_begin());
        assert!(claim.finish());
    }

    /// Many threads each add work and try to process it; every item is processed exactly
    /// once, by one owner at a time, and nothing is left when all are done.
    #[test]
    fn concurrent_requests_lose_no_work_and_never_overlap() {
        const THREADS: usize = 4;
        const ITEMS: u64 = 20_000;
        let claim = Arc::new(WorkClaim::new());
        let submitted = Arc::new(AtomicU64::new(0));
        let processed = Arc::new(AtomicU64::new(0));
        let owners = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (claim, submitted, processed, owners) =
                    (claim.clone(), submitted.clone(), processed.clone(), owners.clone());
                thread::spawn(move || {
                    for _ in 0..ITEMS {
                        submitted.fetch_add(1, Ordering::SeqCst);
                        if !claim.try_begin() {
                            continue;
                        }
                        loop {
                            assert_eq!(owners.fetch_add(1, Ordering::SeqCst), 0, "two owners");
                            // Take everything submitted so far.
                            let seen = submitted.load(Ordering::SeqCst);
                            processed.store(seen, Ordering::SeqCst);
                            owners.fetch_sub(1, Ordering::SeqCst);
                            if claim.finish() {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(processed.load(Ordering::SeqCst), THREADS as u64 * ITEMS);
        assert!(!claim.is_claimed());
    }
}
