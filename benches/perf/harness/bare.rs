//! The floor: a bare, bounds-checked consumer of the same igb advanced RX ring, written for
//! the comparison (the "bare ring-loop calibration" of shared/docs/anchors.md §A2): per
//! descriptor a volatile status read, DD, an acquire fence, the other dwords, the error, EOP
//! and length checks, RSS hash and VLAN extraction, per-queue statistics, a buffer swapped in
//! from a free stack, the descriptor re-armed; one tail write per batch. A region is the same
//! as the RX bench's: the previous batch's buffers go back to the free stack, then the batch is
//! polled (in passes of at most 64).
//!
//! What it leaves out compared to the driver is exactly what the driver adds: the validator's
//! full write-back decoding, the buffer ledger (who holds each buffer), lend-or-copy, the slot
//! ownership checks, and the NBLs.

use std::hint::black_box;
use std::sync::atomic::{Ordering, fence};

use vmqnic::hw::Registers;
use vmqnic::hw::igb::regs::RDT;

use super::memory::Memory;
use super::regs::BenchRegs;
use super::rx::{BUF_PHYS, RxDevice, ring_for};
use super::{Size, Tally};

const DD: u32 = 1;
const EOP: u32 = 1 << 1;
const VP: u32 = 1 << 3;
const FRAME_ERRORS: u32 = 1 << 24 | 1 << 25 | 1 << 26 | 1 << 28 | 1 << 31;
const BUFFER_SIZE: u32 = 2048;
const BUDGET: usize = 64;

/// A received packet as the bare loop hands it on (written for the consumer, as the driver
/// writes NBL fields; the bench's consumer only takes the buffer back).
#[derive(Clone, Copy, Default)]
#[allow(dead_code)]
pub struct Packet {
    buffer: u16,
    length: u16,
    vlan: u16,
    rss: u32,
}

#[derive(Default)]
struct Stats {
    packets: u64,
    bytes: u64,
    errors: u64,
    no_buffer: u64,
    tagged: u64,
}

/// The bare ring.
pub struct BareRing<'m> {
    desc: &'m Memory,
    mask: u16,
    next: u16,
    slot_buffers: Vec<u16>,
    free: Vec<u16>,
    stats: Stats,
    out: [Packet; BUDGET],
}

impl<'m> BareRing<'m> {
    /// Descriptor i armed with buffer i; buffers `count..buffers` free.
    pub fn new(desc: &'m Memory, count: u16, buffers: u16, regs: &BenchRegs) -> Self {
        let ring = Self {
            desc,
            mask: count - 1,
            next: 0,
            slot_buffers: (0..count).collect(),
            free: (count..buffers).rev().collect(),
            stats: Stats::default(),
            out: [Packet::default(); BUDGET],
        };
        for slot in 0..count {
            ring.arm(slot, slot);
        }
        regs.write32(RDT(0), u32::from(count - 1));
        ring
    }

    fn arm(&self, slot: u16, buffer: u16) {
        let base = usize::from(slot) * 16;
        let address = BUF_PHYS + u64::from(buffer) * u64::from(BUFFER_SIZE);
        self.desc.write_u32(base + 8, 0);
        self.desc.write_u32(base + 12, 0);
        self.desc.write_u32(base, (address & 0xFFFF_FFFF) as u32);
        self.desc.write_u32(base + 4, (address >> 32) as u32);
    }

    /// Polls up to `budget` packets; one tail write if any.
    #[inline]
    fn poll(&mut self, regs: &BenchRegs, budget: usize) -> usize {
        let mut n = 0;
        while n < budget {
            let slot = self.next;
            let base = usize::from(slot) * 16;
            let status = self.desc.read_u32(base + 8);
            if status & DD == 0 {
                break;
            }
            fence(Ordering::Acquire);
            let length_vlan = self.desc.read_u32(base + 12);
            let rss = self.desc.read_u32(base + 4);
            self.next = (slot + 1) & self.mask;
            let length = (length_vlan & 0xFFFF) as u16;
            let Some(held) = self.slot_buffers.get_mut(usize::from(slot)) else { break };
            let bad = status & FRAME_ERRORS != 0
                || status & EOP == 0
                || length == 0
                || u32::from(length) > BUFFER_SIZE;
            let fresh = if bad { None } else { self.free.pop() };
            let Some(fresh) = fresh else {
                // Dropped: the descriptor keeps its buffer.
                if bad {
                    self.stats.errors += 1;
                } else {
                    self.stats.no_buffer += 1;
                }
                let buffer = *held;
                self.arm(slot, buffer);
                continue;
            };
            let buffer = std::mem::replace(held, fresh);
            let vlan = if status & VP != 0 { (length_vlan >> 16) as u16 } else { 0 };
            if let Some(entry) = self.out.get_mut(n) {
                *entry = Packet { buffer, length, vlan, rss };
            }
            self.stats.packets += 1;
            self.stats.bytes += u64::from(length);
            self.stats.tagged += u64::from(vlan != 0);
            self.arm(slot, fresh);
            n += 1;
        }
        if n > 0 {
            fence(Ordering::Release);
            regs.write32(RDT(0), u32::from(self.next.wrapping_sub(1) & self.mask));
        }
        n
    }

    /// The packets of the last poll.
    pub fn packets(&self, n: usize) -> &[Packet] {
        self.out.get(..n).unwrap_or_default()
    }
}

/// A region: give back `returned`, then poll until the ring is empty (passes of 64). Returns
/// the buffers handed on, for the next region to give back.
fn region(ring: &mut BareRing<'_>, returned: &mut Vec<u16>, regs: &BenchRegs) {
    for buffer in returned.drain(..) {
        ring.free.push(buffer);
    }
    loop {
        let n = ring.poll(regs, BUDGET);
        for packet in ring.packets(n) {
            // Handed on (to a consumer that gives the buffer back later); the Vec has room.
            if returned.len() < returned.capacity() {
                returned.push(packet.buffer);
            }
        }
        black_box(ring.packets(n));
        if n < BUDGET {
            break;
        }
    }
}

/// Runs the bare loop with `batch` frames of `frame` bytes per region.
pub fn run(batch: usize, frame: usize, size: Size, measure: bool) -> Tally {
    let (count, buffers) = ring_for(batch);
    let desc = Memory::new(usize::from(count) * 16);
    let regs = BenchRegs::new();
    let mut ring = BareRing::new(&desc, count, buffers, &regs);
    let mut device = RxDevice::new(&desc, count, frame);
    let mut returned = Vec::with_capacity(usize::from(buffers));
    let mut tally = Tally::default();
    let warmup = size.warmup_packets(usize::from(count)).div_ceil(batch);
    let regions = size.packets().div_ceil(batch);
    for index in 0..warmup + regions {
        assert_eq!(device.produce(&regs, batch), batch, "the ring had room for the batch");
        let before = regs.accesses();
        if measure && index >= warmup {
            tally.run(batch as u64, &mut || region(&mut ring, &mut returned, &regs));
            let after = regs.accesses();
            tally.register_reads += after.0 - before.0;
            tally.register_writes += after.1 - before.1;
        } else {
            region(&mut ring, &mut returned, &regs);
        }
    }
    let frames = ((warmup + regions) * batch) as u64;
    assert_eq!(ring.stats.packets, frames, "every frame polled");
    assert_eq!(ring.stats.bytes, frames * frame as u64);
    assert_eq!(ring.stats.errors + ring.stats.no_buffer + ring.stats.tagged, 0);
    tally
}
