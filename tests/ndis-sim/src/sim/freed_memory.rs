//! Freed DMA memory under watch. A VMQ driver that frees a queue's ring while the device can
//! still write into it (OID_RECEIVE_FILTER_FREE_QUEUE before the queue's DMA really stopped) is
//! the classic VMQ bug: the device's next frame lands in memory that now belongs to someone
//! else. The simulator makes it visible.
//!
//! With QEMU, the shared memory the driver frees (NdisFreeSharedMemory, NdisMFreeSharedMemory)
//! is not handed back to the guest-physical allocator at once. It is filled with a canary
//! ([`canary_word`]: each 8-byte word holds its own guest-physical address under a fixed tag,
//! so neither a copy from elsewhere nor a shifted copy matches) and put in **quarantine**
//! ([`GpaAllocator::quarantine`](crate::qemu::GpaAllocator::quarantine)), where no allocation
//! gets it. [`check`] compares every quarantined range with its canary (one `memcmp` over the
//! mapped guest RAM per range) and reports a changed range once, as
//! [`rules::DMA_INTO_FREED_MEMORY`]. The simulator checks after each interrupt it delivers, when
//! MiniportHaltEx has returned, and when the test asks ([`Sim::check_freed_memory`]).
//!
//! The quarantine lasts as long as the simulation, except when the allocator runs out of fresh
//! memory: then the oldest quarantined range is checked one last time and freed
//! ([`release_oldest`]), as often as the allocation needs.
//!
//! A device that reads a freed descriptor gets canary words as buffer addresses: far beyond
//! guest RAM, so its write goes nowhere, except into the descriptor's write-back, which the
//! check sees.
//!
//! Without QEMU nothing writes behind the driver's back, and freed memory goes straight back.

use super::machine::Machine;
use super::state::with_state;
use super::{Sim, SimError, Violation, rules};
use crate::qemu::{self, GpaRange};

/// The upper half of every canary word ("DEAD F4EE": dead, freed).
pub const CANARY_TAG: u64 = 0xDEAD_F4EE_0000_0000;

/// The canary word at the 8-byte aligned guest-physical address `gpa` (stored little-endian):
/// [`CANARY_TAG`] in the upper half; in each byte of the lower half, 7 bits of the word's index
/// (`gpa / 8`) with the top bit set. So every word differs from every other (guest RAM is at
/// most 2 GiB: 2^28 words), and no byte is 0: a write of zeros always shows.
#[must_use]
pub fn canary_word(gpa: u64) -> u64 {
    let index = gpa >> 3;
    (0..4).fold(CANARY_TAG, |word, byte| {
        word | ((0x80 | ((index >> (7 * byte)) & 0x7F)) << (8 * byte))
    })
}

/// A freed shared-memory range under watch ([`Sim::freed_memory`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreedRange {
    /// Guest-physical address (page-aligned).
    pub gpa: u64,
    /// Bytes watched: the whole allocation (whole pages; the driver's `Length` rounded up).
    pub length: u64,
    /// The `QueueId` of NdisAllocateSharedMemory's request (0: the default queue); `None` for
    /// NdisMAllocateSharedMemory's memory, which belongs to no queue.
    pub queue_id: Option<u32>,
    /// The export that freed it (`"NdisFreeSharedMemory"` or `"NdisMFreeSharedMemory"`).
    pub freed_by: &'static str,
    /// Whether every byte still holds its canary (`first_changed` is `None`).
    pub intact: bool,
    /// Offset of the first byte that no longer holds its canary.
    pub first_changed: Option<u64>,
}

/// A quarantined range as the simulator keeps it.
#[derive(Debug)]
pub(crate) struct FreedRecord {
    pub(crate) range: GpaRange,
    pub(crate) queue_id: Option<u32>,
    pub(crate) freed_by: &'static str,
    /// What the range was filled with.
    canary: Canary,
    /// A change was reported (once per range).
    reported: bool,
}

/// The canary of a range: its words, little-endian in memory.
#[derive(Debug)]
struct Canary(Vec<u64>);

impl Canary {
    /// The canary of `range` (8-byte aligned and sized: the allocator's are whole pages).
    fn of(range: GpaRange) -> Self {
        let first = range.gpa >> 3;
        let mut words = vec![0u64; usize::try_from(range.len >> 3).unwrap_or(0)];
        // Within an aligned run of 128 words only the lowest 7-bit group changes, so the words
        // count up by one: cheap enough to build megabytes in an unoptimized test build.
        // (Plain index loops: iterator adapters cost several times more without optimization.)
        let mut at = 0;
        while at < words.len() {
            let index = first + at as u64;
            let run = usize::try_from(128 - (index & 0x7F)).unwrap_or(128).min(words.len() - at);
            let mut word = canary_word(index << 3);
            let end = at + run;
            while at < end {
                words[at] = word;
                word += 1;
                at += 1;
            }
        }
        if cfg!(target_endian = "big") {
            for word in &mut words {
                *word = word.swap_bytes();
            }
        }
        Canary(words)
    }

    /// The bytes the range holds while intact.
    fn bytes(&self) -> &[u8] {
        // SAFETY: the vector's buffer holds len * 8 initialized bytes, every byte pattern is a
        // valid u8, and the slice borrows the vector.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>(), self.0.len() * 8) }
    }
}

/// The driver freed its shared memory `range` (`queue_id` as for [`FreedRange`], `freed_by` the
/// export). With QEMU the range gets its canary and goes into quarantine; without, it is freed.
pub(crate) fn free_shared(
    machine: &Machine,
    range: GpaRange,
    queue_id: Option<u32>,
    freed_by: &'static str,
) {
    let Some(igb) = machine.igb() else {
        // The range is exactly one the allocator handed out, so this cannot fail.
        let _ = machine.dma_free(range);
        return;
    };
    let canary = Canary::of(range);
    let watched = machine.ram().write(range.gpa, canary.bytes()).is_ok()
        && igb.qemu().dma_quarantine(range).is_ok();
    if !watched {
        let _ = machine.dma_free(range);
        return;
    }
    with_state(|s| {
        s.freed_memory.push_back(FreedRecord {
            range,
            queue_id,
            freed_by,
            canary,
            reported: false,
        });
    });
}

/// How `record`'s range differs from its canary: the offset of the first changed byte, the
/// number of changed bytes and the range's bytes now; `None` if it is intact.
fn changes(machine: &Machine, record: &FreedRecord) -> qemu::Result<Option<(u64, usize, Vec<u8>)>> {
    let canary = record.canary.bytes();
    if machine.ram().equals(record.range.gpa, canary)? {
        return Ok(None);
    }
    let now = machine.ram().read_vec(record.range.gpa, canary.len())?;
    let mut differing = now.iter().zip(canary).enumerate().filter(|(_, (a, b))| a != b);
    let Some((first, _)) = differing.next() else { return Ok(None) };
    let count = 1 + differing.count();
    Ok(Some((first as u64, count, now)))
}

/// Up to 8 bytes of `bytes` from `offset`, in hex.
fn hex_at(bytes: &[u8], offset: u64) -> String {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
    let end = start.saturating_add(8).min(bytes.len());
    bytes[start..end].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// Compares the unreported records whose index `select` picks with their canaries; marks each changed one
/// reported and records its violation. Returns the new violations.
fn inspect(machine: &Machine, select: impl Fn(usize) -> bool) -> qemu::Result<Vec<Violation>> {
    with_state(|s| {
        let mut found = Vec::new();
        for (index, record) in s.freed_memory.iter_mut().enumerate() {
            if record.reported || !select(index) {
                continue;
            }
            let Some((offset, count, now)) = changes(machine, record)? else { continue };
            record.reported = true;
            let range = record.range;
            let queue = record.queue_id.map_or_else(
                || "no queue (NdisMAllocateSharedMemory)".to_owned(),
                |q| format!("queue {q}"),
            );
            let violation = Violation {
                rule: rules::DMA_INTO_FREED_MEMORY,
                detail: format!(
                    "[{:#x}, +{:#x}) of {queue}, freed by {}: {count} bytes changed after the \
                     free, the first at offset {offset:#x} (GPA {:#x}): {} where the canary \
                     was {}",
                    range.gpa,
                    range.len,
                    record.freed_by,
                    range.gpa + offset,
                    hex_at(&now, offset),
                    hex_at(record.canary.bytes(), offset),
                ),
            };
            s.violations.push(violation.clone());
            found.push(violation);
        }
        Ok(found)
    })
}

/// Checks every quarantined range not yet reported (after a qtest barrier, so that DMA of a
/// frame QEMU was processing has landed). Returns the violations it recorded.
pub(crate) fn check(machine: &Machine) -> qemu::Result<Vec<Violation>> {
    if !with_state(|s| s.freed_memory.iter().any(|r| !r.reported)) {
        return Ok(Vec::new());
    }
    if let Some(igb) = machine.igb() {
        igb.qemu().qtest().sync()?;
    }
    inspect(machine, |_| true)
}

/// The allocator ran out of fresh memory: checks the oldest quarantined range a last time and
/// frees it. `false` if nothing is quarantined.
pub(crate) fn release_oldest(machine: &Machine) -> qemu::Result<bool> {
    let Some(igb) = machine.igb() else { return Ok(false) };
    let Some(range) = with_state(|s| s.freed_memory.front().map(|r| r.range)) else {
        return Ok(false);
    };
    igb.qemu().qtest().sync()?;
    inspect(machine, |index| index == 0)?;
    igb.qemu().dma_release(range)?;
    with_state(|s| s.freed_memory.pop_front());
    Ok(true)
}

impl Sim {
    /// Compares every freed shared-memory range in quarantine with its canary now (with QEMU;
    /// without it nothing is quarantined) and records a [`rules::DMA_INTO_FREED_MEMORY`]
    /// violation for each range that changed since the free (once per range). Returns those
    /// new violations. The simulator also checks after every interrupt
    /// [`deliver_interrupts`](Self::deliver_interrupts) delivers and when MiniportHaltEx
    /// returns.
    pub fn check_freed_memory(&self) -> Result<Vec<Violation>, SimError> {
        Ok(check(&self.machine)?)
    }

    /// The freed shared-memory ranges in quarantine, oldest first, each compared with its
    /// canary now (without a qtest barrier, and without recording anything: see
    /// [`check_freed_memory`](Self::check_freed_memory)).
    #[must_use]
    pub fn freed_memory(&self) -> Vec<FreedRange> {
        with_state(|s| {
            s.freed_memory
                .iter()
                .map(|record| {
                    let first_changed =
                        changes(&self.machine, record).ok().flatten().map(|(offset, ..)| offset);
                    FreedRange {
                        gpa: record.range.gpa,
                        length: record.range.len,
                        queue_id: record.queue_id,
                        freed_by: record.freed_by,
                        intact: first_changed.is_none(),
                        first_changed,
                    }
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_holds_each_word_s_own_index_and_no_zero_byte() {
        let range = GpaRange { gpa: 0x12_3000, len: 0x1000 };
        let canary = Canary::of(range);
        let bytes = canary.bytes();
        assert_eq!(bytes.len(), 0x1000);
        // Word 0x2_4600: 7-bit groups 0x00, 0x0C, 0x09 (low first), 0x00.
        assert_eq!(bytes[..8], 0xDEAD_F4EE_8089_8C80u64.to_le_bytes());
        assert_eq!(bytes[0xFF8..], canary_word(0x12_3FF8).to_le_bytes());
        assert!(bytes.iter().all(|b| *b != 0));
        // A copy shifted by a word (or by a byte) does not match.
        assert_ne!(bytes[8..16], bytes[..8]);
        assert_ne!(bytes[1..9], bytes[..8]);
        // Nor does the same offset of another range.
        assert_ne!(Canary::of(GpaRange { gpa: 0x12_4000, len: 0x1000 }).bytes()[..8], bytes[..8]);
        // Word by word, across the runs of 128 words (1 KiB) and a range that starts inside one.
        let odd = GpaRange { gpa: 0x12_3F00, len: 0x3000 };
        let built = Canary::of(odd);
        for (i, word) in built.bytes().chunks_exact(8).enumerate() {
            assert_eq!(word, canary_word(odd.gpa + 8 * i as u64).to_le_bytes(), "word {i}");
        }
        // Every word of 2 GiB is distinct (its index is all there).
        for bit in 3..31 {
            assert_ne!(canary_word(1 << bit), canary_word(0), "address bit {bit}");
        }
        assert_eq!(canary_word(0x7FFF_FFF8), 0xDEAD_F4EE_FFFF_FFFF);
    }
}
