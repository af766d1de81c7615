//! A first-fit free-list allocator of guest-physical ranges, for DMA memory (descriptor rings,
//! packet buffers, MSI-X mailboxes). Allocations are page-aligned and page-granular, and every
//! outstanding allocation is tracked with a tag so that a test can check for leaks.
//!
//! A freed range can also be put in **quarantine** instead of being freed
//! ([`GpaAllocator::quarantine`]): it is neither outstanding nor free, so no allocation gets
//! it, until [`GpaAllocator::release`] frees it. The simulator quarantines the shared memory a
//! driver frees, to watch whether the device still writes into it.
//!
//! It is pure bookkeeping; it does not touch guest RAM.

use std::collections::{BTreeMap, VecDeque};

use super::error::{Error, Result};

/// Granularity and alignment of every allocation.
pub const PAGE_SIZE: u64 = 4096;

/// A guest-physical range `[gpa, gpa + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GpaRange {
    /// First guest-physical address.
    pub gpa: u64,
    /// Length in bytes.
    pub len: u64,
}

impl GpaRange {
    /// One past the last address.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.gpa + self.len
    }

    /// Whether `gpa` lies inside the range.
    #[must_use]
    pub fn contains(&self, gpa: u64) -> bool {
        (self.gpa..self.end()).contains(&gpa)
    }
}

/// One outstanding allocation, for leak reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The range handed out.
    pub range: GpaRange,
    /// What the caller said it was for.
    pub tag: &'static str,
}

/// First-fit allocator over one guest-physical window.
#[derive(Debug)]
pub struct GpaAllocator {
    window: GpaRange,
    /// Free ranges by start address; adjacent ranges are always merged.
    free: BTreeMap<u64, u64>,
    /// Outstanding allocations by start address: (length, tag).
    live: BTreeMap<u64, (u64, &'static str)>,
    /// Quarantined ranges (freed by their user, not yet free for reuse), oldest first.
    quarantined: VecDeque<Allocation>,
}

impl GpaAllocator {
    /// An allocator owning `[start, end)`; both must be page-aligned and `start < end`.
    pub fn new(start: u64, end: u64) -> Result<Self> {
        if !start.is_multiple_of(PAGE_SIZE) || !end.is_multiple_of(PAGE_SIZE) || start >= end {
            return Err(Error::InvalidArgument(format!(
                "allocator window [{start:#x}, {end:#x}) must be non-empty and page-aligned"
            )));
        }
        Ok(GpaAllocator {
            window: GpaRange { gpa: start, len: end - start },
            free: BTreeMap::from([(start, end - start)]),
            live: BTreeMap::new(),
            quarantined: VecDeque::new(),
        })
    }

    /// The window this allocator hands out ranges from.
    #[must_use]
    pub fn window(&self) -> GpaRange {
        self.window
    }

    /// Allocates `len` bytes rounded up to whole pages, at the lowest free address that fits.
    pub fn alloc(&mut self, len: u64, tag: &'static str) -> Result<GpaRange> {
        if len == 0 {
            return Err(Error::InvalidArgument("zero-length guest memory allocation".to_owned()));
        }
        let rounded = len
            .checked_next_multiple_of(PAGE_SIZE)
            .ok_or_else(|| Error::InvalidArgument(format!("allocation of {len:#x} bytes")))?;
        let Some((&start, &free_len)) = self.free.iter().find(|&(_, &l)| l >= rounded) else {
            return Err(Error::OutOfGuestMemory {
                requested: rounded,
                largest_free: self.largest_free(),
            });
        };
        self.free.remove(&start);
        if free_len > rounded {
            self.free.insert(start + rounded, free_len - rounded);
        }
        self.live.insert(start, (rounded, tag));
        Ok(GpaRange { gpa: start, len: rounded })
    }

    /// Returns a range obtained from [`alloc`](Self::alloc); it must match exactly.
    pub fn free(&mut self, range: GpaRange) -> Result<()> {
        self.take_live(range)?;
        self.insert_free(range);
        Ok(())
    }

    /// Takes the outstanding allocation `range` (exactly) out of the live set.
    fn take_live(&mut self, range: GpaRange) -> Result<&'static str> {
        match self.live.get(&range.gpa) {
            Some(&(len, tag)) if len == range.len => {
                self.live.remove(&range.gpa);
                Ok(tag)
            }
            _ => Err(Error::NotAllocated { gpa: range.gpa, len: range.len }),
        }
    }

    /// Adds `range` to the free ranges, merged with its neighbours.
    fn insert_free(&mut self, range: GpaRange) {
        let mut start = range.gpa;
        let mut len = range.len;
        // Merge with the free range just below, if it ends where this one starts.
        if let Some((&below, &below_len)) = self.free.range(..start).next_back()
            && below + below_len == start
        {
            self.free.remove(&below);
            start = below;
            len += below_len;
        }
        // Merge with the free range just above, if it starts where this one ends.
        if let Some(above_len) = self.free.remove(&(start + len)) {
            len += above_len;
        }
        self.free.insert(start, len);
    }

    /// Puts the outstanding allocation `range` (exactly as [`alloc`](Self::alloc) returned it)
    /// in quarantine: it is no longer outstanding, and no allocation gets it until
    /// [`release`](Self::release).
    pub fn quarantine(&mut self, range: GpaRange) -> Result<()> {
        let tag = self.take_live(range)?;
        self.quarantined.push_back(Allocation { range, tag });
        Ok(())
    }

    /// Frees the quarantined `range` (exactly as it was quarantined).
    pub fn release(&mut self, range: GpaRange) -> Result<()> {
        let index = self
            .quarantined
            .iter()
            .position(|q| q.range == range)
            .ok_or(Error::NotAllocated { gpa: range.gpa, len: range.len })?;
        self.quarantined.remove(index);
        self.insert_free(range);
        Ok(())
    }

    /// The quarantined ranges, oldest first.
    #[must_use]
    pub fn quarantined(&self) -> Vec<Allocation> {
        self.quarantined.iter().copied().collect()
    }

    /// Total bytes in quarantine.
    #[must_use]
    pub fn quarantined_bytes(&self) -> u64 {
        self.quarantined.iter().map(|q| q.range.len).sum()
    }

    /// All outstanding allocations, lowest address first (quarantined ranges are not
    /// outstanding).
    #[must_use]
    pub fn outstanding(&self) -> Vec<Allocation> {
        self.live
            .iter()
            .map(|(&gpa, &(len, tag))| Allocation { range: GpaRange { gpa, len }, tag })
            .collect()
    }

    /// Total bytes currently allocated (not counting the quarantine).
    #[must_use]
    pub fn allocated_bytes(&self) -> u64 {
        self.live.values().map(|&(len, _)| len).sum()
    }

    /// Size of the largest free range.
    #[must_use]
    pub fn largest_free(&self) -> u64 {
        self.free.values().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 0x10_0000;

    fn allocator(pages: u64) -> GpaAllocator {
        GpaAllocator::new(START, START + pages * PAGE_SIZE).unwrap()
    }

    #[test]
    fn allocations_are_page_aligned_rounded_and_disjoint() {
        let mut a = allocator(16);
        let r1 = a.alloc(1, "one byte").unwrap();
        let r2 = a.alloc(PAGE_SIZE + 1, "two pages").unwrap();
        let r3 = a.alloc(PAGE_SIZE, "one page").unwrap();
        assert_eq!(r1, GpaRange { gpa: START, len: PAGE_SIZE });
        assert_eq!(r2, GpaRange { gpa: START + PAGE_SIZE, len: 2 * PAGE_SIZE });
        assert_eq!(r3.gpa, r2.end());
        for r in [r1, r2, r3] {
            assert_eq!(r.gpa % PAGE_SIZE, 0);
        }
        assert_eq!(a.allocated_bytes(), 4 * PAGE_SIZE);
        let tags: Vec<_> = a.outstanding().iter().map(|x| x.tag).collect();
        assert_eq!(tags, ["one byte", "two pages", "one page"]);
    }

    #[test]
    fn freed_ranges_are_reused_first_fit() {
        let mut a = allocator(16);
        let r1 = a.alloc(PAGE_SIZE, "a").unwrap();
        let _r2 = a.alloc(PAGE_SIZE, "b").unwrap();
        a.free(r1).unwrap();
        assert_eq!(a.alloc(PAGE_SIZE, "c").unwrap(), r1);
        // Two pages do not fit in the one-page hole, so they come from above.
        let big = a.alloc(2 * PAGE_SIZE, "d").unwrap();
        assert_eq!(big.gpa, START + 2 * PAGE_SIZE);
    }

    #[test]
    fn neighbours_are_merged_back_into_one_range() {
        let mut a = allocator(4);
        let ranges: Vec<_> = (0..4).map(|_| a.alloc(PAGE_SIZE, "x").unwrap()).collect();
        assert!(matches!(a.alloc(1, "full"), Err(Error::OutOfGuestMemory { .. })));
        // Free out of order: the middle ones first, then the edges.
        for i in [1, 2, 0, 3] {
            a.free(ranges[i]).unwrap();
        }
        assert_eq!(a.largest_free(), 4 * PAGE_SIZE);
        assert_eq!(a.alloc(4 * PAGE_SIZE, "all").unwrap().gpa, START);
        assert!(a.outstanding().len() == 1);
    }

    #[test]
    fn exhaustion_reports_the_largest_free_range() {
        let mut a = allocator(4);
        let _keep = a.alloc(PAGE_SIZE, "x").unwrap();
        match a.alloc(4 * PAGE_SIZE, "too big") {
            Err(Error::OutOfGuestMemory { requested, largest_free }) => {
                assert_eq!(requested, 4 * PAGE_SIZE);
                assert_eq!(largest_free, 3 * PAGE_SIZE);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn double_free_wrong_length_and_bad_arguments_are_errors() {
        let mut a = allocator(4);
        let r = a.alloc(2 * PAGE_SIZE, "x").unwrap();
        assert!(matches!(
            a.free(GpaRange { gpa: r.gpa, len: PAGE_SIZE }),
            Err(Error::NotAllocated { .. })
        ));
        a.free(r).unwrap();
        assert!(matches!(a.free(r), Err(Error::NotAllocated { .. })));
        assert!(a.outstanding().is_empty());
        assert!(matches!(a.alloc(0, "zero"), Err(Error::InvalidArgument(_))));
        assert!(matches!(a.alloc(u64::MAX, "huge"), Err(Error::InvalidArgument(_))));
        assert!(GpaAllocator::new(START + 1, START + PAGE_SIZE).is_err());
        assert!(GpaAllocator::new(START, START).is_err());
    }

    #[test]
    fn quarantined_ranges_are_neither_outstanding_nor_reused_until_released() {
        let mut a = allocator(4);
        let r1 = a.alloc(PAGE_SIZE, "one").unwrap();
        let r2 = a.alloc(2 * PAGE_SIZE, "two").unwrap();
        a.quarantine(r1).unwrap();
        a.quarantine(r2).unwrap();
        assert!(a.outstanding().is_empty());
        assert_eq!(a.allocated_bytes(), 0);
        assert_eq!(a.quarantined_bytes(), 3 * PAGE_SIZE);
        let tags: Vec<_> = a.quarantined().iter().map(|q| (q.range, q.tag)).collect();
        assert_eq!(tags, [(r1, "one"), (r2, "two")], "oldest first");
        // Only the one page never handed out is free.
        let r3 = a.alloc(PAGE_SIZE, "three").unwrap();
        assert_eq!(r3.gpa, START + 3 * PAGE_SIZE);
        assert!(matches!(a.alloc(1, "full"), Err(Error::OutOfGuestMemory { .. })));
        // Neither freeable nor quarantinable twice; release needs the exact range.
        assert!(matches!(a.free(r1), Err(Error::NotAllocated { .. })));
        assert!(matches!(a.quarantine(r1), Err(Error::NotAllocated { .. })));
        assert!(matches!(
            a.release(GpaRange { gpa: r2.gpa, len: PAGE_SIZE }),
            Err(Error::NotAllocated { .. })
        ));
        assert!(matches!(a.release(r3), Err(Error::NotAllocated { .. })), "r3 is live");
        a.release(r1).unwrap();
        assert_eq!(a.alloc(PAGE_SIZE, "again").unwrap(), r1);
        a.release(r2).unwrap();
        assert!(a.quarantined().is_empty());
        assert_eq!(a.largest_free(), 2 * PAGE_SIZE, "released ranges merge with free ones");
    }
}
