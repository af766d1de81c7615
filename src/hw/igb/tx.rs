//! TX rings: copy-based, one advanced data descriptor per frame (igb-qemu §7).
//!
//! # Choices
//!
//! * **Advanced data descriptors** (DTYP = 0011, DEXT), as poc.py transmits and as the
//!   datasheet expects once offloads (checksum, TSO context descriptors) are added; QEMU
//!   accepts legacy descriptors too, which would save nothing here.
//! * **Copy**: [`TxRing::post`] copies the frame into the slot's pre-allocated buffer, so the
//!   caller's memory is free again at once and needs no DMA mapping (NDIS would otherwise need
//!   a scatter-gather list per NET_BUFFER). Frames are at most one buffer.
//! * **RS on every descriptor**: each frame gets its own DD write-back, so [`TxRing::reclaim`]
//!   counts completions by walking descriptors in order with no batch bookkeeping. The cost is
//!   one 16-byte write-back per frame; RS per batch (and checking only the last descriptor)
//!   is the optimisation if that ever shows.
//!
//! Ownership mirrors the RX ring: `[next_to_clean, flushed)` is the device's (handed over by a
//! TDT write, not yet written back), `[flushed, next_to_use)` is posted but not yet flushed,
//! and one descriptor always stays free, because TDT == TDH means "ring empty". Nothing on the
//! fast path reads a register: completion is DD in memory; [`TxRing::flush`] writes TDT once
//! per batch. In QEMU that write transmits synchronously (igb-qemu §7).

use core::sync::atomic::{Ordering, fence};

use super::bringup::poll;
use super::regs::{TCTL, TCTL_EN, TCTL_PSP, TDBAH, TDBAL, TDH, TDLEN, TDT, TXDCTL, TXDCTL_ENABLE};
use super::rx::{
    DESCRIPTOR_SIZE, QUEUE_ENABLE_POLL_US, QUEUE_ENABLE_POLLS, RingError, check_ring, split_address,
};
use super::{IgbError, Registers, Stall, read_live};
use crate::hw::DmaRegion;

/// Command: end of packet.
const CMD_EOP: u32 = 1 << 24;
/// Command: insert the FCS.
const CMD_IFCS: u32 = 1 << 25;
/// Command: report status (write DD back).
const CMD_RS: u32 = 1 << 27;
/// Command: descriptor extension (advanced format).
const CMD_DEXT: u32 = 1 << 29;
/// Descriptor type "advanced data" (DTYP bits 23:20 = 0011).
const DTYP_DATA: u32 = 0x3 << 20;
/// olinfo: PAYLEN field shift (bits 31:14).
const PAYLEN_SHIFT: u32 = 14;
/// Write-back: descriptor done, bit 0 of dword 3. QEMU ORs it into the old olinfo value, so
/// only this bit is meaningful (igb-qemu §7, §13.7).
const STAT_DD: u32 = 1 << 0;

/// Why [`TxRing::post`] refused a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxError {
    /// Every descriptor is in use: [`TxRing::reclaim`] and try again.
    Full,
    /// A frame of no bytes.
    Empty,
    /// A frame longer than a buffer (the length is kept).
    TooLong(usize),
}

/// Transmit statistics of one ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxCounters {
    /// Frames accepted by [`TxRing::post`].
    pub posted: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Frames the device reported done ([`TxRing::reclaim`]).
    pub completed: u64,
    /// Frames refused with [`TxError::Full`].
    pub full: u64,
    /// Frames refused with [`TxError::Empty`] or [`TxError::TooLong`].
    pub rejected: u64,
}

/// Sets TCTL.EN and TCTL.PSP (read-modify-write): the transmitter runs, and frames shorter than
/// 64 bytes are padded. Every TX queue also needs its pool's VFTE bit in VMDq mode
/// ([`super::enable_pool_tx`]).
///
/// # Errors
/// [`IgbError::DeviceGone`].
pub fn start_transmitter(regs: &impl Registers) -> Result<(), IgbError> {
    let tctl = read_live(regs, TCTL)?;
    regs.write32(TCTL, tctl | TCTL_EN | TCTL_PSP);
    Ok(())
}

/// The TX ring of one queue.
#[derive(Debug)]
pub struct TxRing<'a> {
    queue: u8,
    descriptors: DmaRegion<'a>,
    buffers: DmaRegion<'a>,
    count: u16,
    buffer_size: u32,
    /// The next descriptor [`post`](Self::post) fills.
    next_to_use: u16,
    /// The oldest descriptor not yet reclaimed.
    next_to_clean: u16,
    /// The last value written to TDT.
    flushed: u16,
    counters: TxCounters,
}

impl<'a> TxRing<'a> {
    /// A ring of `count` descriptors in `descriptors` and `count` buffers of `buffer_size`
    /// bytes in `buffers` for TX queue `queue`. Nothing is written until
    /// [`enable`](Self::enable).
    ///
    /// # Errors
    /// [`RingError`] as for [`super::RxRing::new`].
    pub fn new(
        queue: u8,
        descriptors: DmaRegion<'a>,
        buffers: DmaRegion<'a>,
        count: u16,
        buffer_size: u32,
    ) -> Result<Self, RingError> {
        check_ring(queue, &descriptors, &buffers, count, buffer_size)?;
        Ok(Self {
            queue,
            descriptors,
            buffers,
            count,
            buffer_size,
            next_to_use: 0,
            next_to_clean: 0,
            flushed: 0,
            counters: TxCounters::default(),
        })
    }

    /// The TX queue.
    #[must_use]
    pub fn queue(&self) -> u8 {
        self.queue
    }

    /// Statistics so far.
    #[must_use]
    pub fn counters(&self) -> TxCounters {
        self.counters
    }

    /// Frames posted and not yet reclaimed (flushed or not).
    #[must_use]
    pub fn in_flight(&self) -> u16 {
        self.next_to_use.wrapping_sub(self.next_to_clean) & (self.count - 1)
    }

    /// Frames [`post`](Self::post) can still accept.
    #[must_use]
    pub fn free(&self) -> u16 {
        self.count - 1 - self.in_flight()
    }

    /// Frames posted since the last [`flush`](Self::flush).
    #[must_use]
    pub fn unflushed(&self) -> u16 {
        self.next_to_use.wrapping_sub(self.flushed) & (self.count - 1)
    }

    /// Programs the queue, empty (Linux igb's `igb_configure_tx_ring`): TXDCTL = 0, every
    /// descriptor zeroed, TDBAL/TDBAH, TDLEN = count × 16, TDH = TDT = 0, then TXDCTL = ENABLE
    /// with a bounded poll. Resets the software indices (not the counters); frames posted
    /// and not reclaimed are forgotten.
    ///
    /// # Errors
    /// [`IgbError::QueueTimeout`] or [`IgbError::DeviceGone`].
    pub fn enable(&mut self, regs: &impl Registers, stall: &impl Stall) -> Result<(), IgbError> {
        let queue = u32::from(self.queue);
        regs.write32(TXDCTL(queue), 0);
        for offset in (0..usize::from(self.count) * DESCRIPTOR_SIZE).step_by(4) {
            self.descriptors.write_u32(offset, 0);
        }
        self.next_to_use = 0;
        self.next_to_clean = 0;
        self.flushed = 0;
        let (low, high) = split_address(self.descriptors.physical());
        regs.write32(TDBAL(queue), low);
        regs.write32(TDBAH(queue), high);
        regs.write32(TDLEN(queue), u32::from(self.count) * 16);
        regs.write32(TDH(queue), 0);
        regs.write32(TDT(queue), 0);
        fence(Ordering::Release);
        regs.write32(TXDCTL(queue), TXDCTL_ENABLE);
        let enabled = |v: u32| v & TXDCTL_ENABLE != 0;
        poll(regs, stall, TXDCTL(queue), QUEUE_ENABLE_POLLS, QUEUE_ENABLE_POLL_US, enabled)?
            .ok_or(IgbError::QueueTimeout(self.queue))?;
        Ok(())
    }

    /// Stops the queue: TXDCTL = 0, then waits (bounded) until ENABLE reads back clear, after
    /// which the device no longer reads this ring's memory.
    ///
    /// # Errors
    /// [`IgbError::QueueTimeout`] or [`IgbError::DeviceGone`].
    pub fn disable(&mut self, regs: &impl Registers, stall: &impl Stall) -> Result<(), IgbError> {
        let queue = u32::from(self.queue);
        regs.write32(TXDCTL(queue), 0);
        let disabled = |v: u32| v & TXDCTL_ENABLE == 0;
        poll(regs, stall, TXDCTL(queue), QUEUE_ENABLE_POLLS, QUEUE_ENABLE_POLL_US, disabled)?
            .ok_or(IgbError::QueueTimeout(self.queue))?;
        Ok(())
    }

    /// Copies `frame` into the next free slot's buffer and writes its descriptor (EOP, IFCS,
    /// RS). The device sees it only after [`flush`](Self::flush). Returns the slot.
    ///
    /// # Errors
    /// [`TxError`]; nothing is written.
    pub fn post(&mut self, frame: &[u8]) -> Result<u16, TxError> {
        self.post_with(|buffer| {
            let destination = buffer.get_mut(..frame.len()).ok_or(TxError::TooLong(frame.len()))?;
            destination.copy_from_slice(frame);
            Ok(frame.len())
        })
    }

    /// Lets `fill` write a frame into the next free slot's buffer (the whole buffer is
    /// offered; `fill` returns the frame's length, e.g. after gathering it from an MDL chain),
    /// then writes its descriptor (EOP, IFCS, RS). The device sees it only after
    /// [`flush`](Self::flush). Returns the slot.
    ///
    /// # Errors
    /// [`TxError::Full`] (`fill` is not called), or what `fill` returned, or
    /// [`TxError::Empty`] / [`TxError::TooLong`] for a length of 0 or beyond the buffer; no
    /// descriptor is written.
    pub fn post_with(
        &mut self,
        fill: impl FnOnce(&mut [u8]) -> Result<usize, TxError>,
    ) -> Result<u16, TxError> {
        if self.free() == 0 {
            self.counters.full += 1;
            return Err(TxError::Full);
        }
        let slot = self.next_to_use;
        let offset = usize::from(slot) * self.buffer_size as usize;
        let Some(buffer) = self.buffers.bytes_mut(offset, self.buffer_size as usize) else {
            self.counters.rejected += 1;
            return Err(TxError::TooLong(0));
        };
        let filled = fill(buffer).and_then(|length| match u16::try_from(length) {
            Ok(0) => Err(TxError::Empty),
            Ok(length) if u32::from(length) <= self.buffer_size => Ok(length),
            _ => Err(TxError::TooLong(length)),
        });
        let length = match filled {
            Ok(length) => length,
            Err(error) => {
                self.counters.rejected += 1;
                return Err(error);
            }
        };
        let address = self.buffers.physical() + u64::from(slot) * u64::from(self.buffer_size);
        let base = usize::from(slot) * DESCRIPTOR_SIZE;
        let cmd_type_len = DTYP_DATA | CMD_DEXT | CMD_EOP | CMD_IFCS | CMD_RS | u32::from(length);
        // olinfo: PAYLEN, and DD clear: a stale DD from the slot's previous frame is
        // overwritten here.
        let olinfo = u32::from(length) << PAYLEN_SHIFT;
        // Dwords 0..1 (the buffer address), then 2..3 (cmd_type_len, olinfo): one
        // little-endian quadword store each, in that order (descriptors are 16-byte aligned).
        self.descriptors.write_u64(base, address);
        self.descriptors.write_u64(base + 8, u64::from(olinfo) << 32 | u64::from(cmd_type_len));
        self.next_to_use = (slot + 1) & (self.count - 1);
        self.counters.posted += 1;
        self.counters.bytes += u64::from(length);
        Ok(slot)
    }

    /// Hands every posted frame to the device: one release fence and **one** TDT write for the
    /// batch (none if nothing was posted since the last flush). Returns how many frames.
    pub fn flush(&mut self, regs: &impl Registers) -> u16 {
        let batch = self.unflushed();
        if batch == 0 {
            return 0;
        }
        fence(Ordering::Release);
        regs.write32(TDT(u32::from(self.queue)), u32::from(self.next_to_use));
        self.flushed = self.next_to_use;
        batch
    }

    /// Frees the slots of frames the device has written back (DD), oldest first, stopping at
    /// the first one not done; returns how many. Only flushed descriptors are looked at, and
    /// no register is read.
    pub fn reclaim(&mut self) -> u16 {
        self.reclaim_each(|_| {})
    }

    /// [`reclaim`](Self::reclaim), calling `done(slot)` for each freed slot in order.
    pub fn reclaim_each(&mut self, mut done: impl FnMut(u16)) -> u16 {
        let mut count = 0;
        while self.next_to_clean != self.flushed {
            let slot = self.next_to_clean;
            let offset = usize::from(slot) * DESCRIPTOR_SIZE + 12;
            if self.descriptors.read_u32(offset).unwrap_or(0) & STAT_DD == 0 {
                break;
            }
            self.next_to_clean = (slot + 1) & (self.count - 1);
            count += 1;
            done(slot);
        }
        self.counters.completed += u64::from(count);
        count
    }

    /// Number of descriptors.
    #[must_use]
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Bytes per buffer (the longest frame [`post`](Self::post) accepts).
    #[must_use]
    pub fn buffer_size(&self) -> u32 {
        self.buffer_size
    }
}
