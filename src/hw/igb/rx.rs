//! RX rings: advanced one-buffer descriptors (igb-qemu §5), a fixed-size buffer per
//! descriptor, and a validator that never trusts what the device wrote.
//!
//! # Ownership of descriptors
//!
//! With `N` descriptors, `next_to_clean` (the next write-back software expects) and `tail`
//! (the last value written to RDT):
//!
//! * `[next_to_clean, tail)` belongs to the device: armed, and possibly already written back
//!   but not yet polled;
//! * `[tail, next_to_clean)` belongs to software: polled frames whose buffers the caller may
//!   still be reading, plus the one descriptor that always stays out of the device's hands,
//!   because RDT == RDH means "ring empty" (igb-qemu §5, §13.4).
//!
//! [`RxRing::poll`] only looks at device-owned descriptors, so a stale DD left in a polled
//! descriptor is never read as a new frame; [`RxRing::refill`] re-arms every polled descriptor
//! and then writes RDT **once**: QEMU flushes every frame it holds on each RDT write and drops
//! what does not fit, so one tail write per batch loses nothing where one per descriptor does
//! (igb-qemu §8).
//!
//! # Buffers are not tied to descriptors
//!
//! The ring has at least as many buffers as descriptors, and records which buffer each
//! descriptor holds. A received buffer can be lent out (to NDIS, inside an NBL, zero-copy):
//! [`RxRing::detach`] takes it out of its polled descriptor, which is then empty, and
//! [`RxRing::refill_with`] asks the caller for a buffer for each empty descriptor. NDIS returns
//! NBLs in any order, so a fixed buffer per descriptor would stall the ring behind the oldest
//! NBL a protocol keeps. [`RxRing::refill`] is the simple case where every descriptor keeps its
//! buffer (the frames were copied out, or never left).
//!
//! The descriptor that stays with software (see above) is given a buffer too whenever it has
//! none, without handing it to the device, so that after a refill with enough free buffers no
//! descriptor is empty and [`RxRing::enable`] can re-arm the whole ring.
//!
//! # No register on the receive path
//!
//! Completion is seen in memory (DD in the write-back's status dword, written last by the
//! device, igb-qemu §5), never by reading RDH; [`RxRing::poll`] does not even take the register
//! space. Each MMIO access costs about 25 µs on QEMU (§11) and a PCIe round trip on silicon.

use core::sync::atomic::{Ordering, fence};

use super::bringup::poll;
use super::regs::{
    NUM_QUEUES, RDBAH, RDBAL, RDH, RDLEN, RDT, RXDCTL, RXDCTL_ENABLE, SRRCTL, SRRCTL_BSIZEPKT_MASK,
    SRRCTL_DESCTYPE_ADV_ONEBUF,
};
use super::{IgbError, Registers, Stall};
use crate::hw::DmaRegion;

/// Bytes per descriptor (RX and TX).
pub const DESCRIPTOR_SIZE: usize = 16;
/// [`DESCRIPTOR_SIZE`] for register arithmetic.
const DESCRIPTOR_BYTES: u32 = 16;
/// Fewest descriptors per ring: RDLEN/TDLEN must be a multiple of 128 bytes.
pub const MIN_DESCRIPTORS: u16 = 8;
/// Most descriptors per ring (Linux igb's `IGB_MAX_RXD`); RDH/RDT are 16-bit.
pub const MAX_DESCRIPTORS: u16 = 4096;
/// Alignment of a descriptor ring's and of the buffers' physical address (the datasheet's
/// 128-byte rule for RDBAL/TDBAL; buffers are kept as aligned so every one starts on it).
pub const RING_ALIGNMENT: u64 = 128;
/// Reads of RXDCTL/TXDCTL while waiting for ENABLE to follow a write. QEMU stores the bit at
/// once; silicon takes a few µs once the queue's descriptor fetch state is set up.
pub const QUEUE_ENABLE_POLLS: u32 = 10;
/// Stall between [`QUEUE_ENABLE_POLLS`], in µs (10 ms bound in all).
pub const QUEUE_ENABLE_POLL_US: u32 = 1_000;

/// Marks a descriptor whose buffer was [detached](RxRing::detach) and not yet replaced.
const NO_BUFFER: u16 = u16::MAX;
/// Most buffers a ring uses (every `u16` but `u16::MAX`, which marks an empty descriptor).
pub const MAX_BUFFERS: u16 = NO_BUFFER - 1;

/// Write-back status: descriptor done (written last by the device).
const STAT_DD: u32 = 1 << 0;
/// Write-back status: last descriptor of the frame.
const STAT_EOP: u32 = 1 << 1;
/// Write-back status: the 802.1Q tag was stripped into dword 3 (VMOLR.STRVLAN, §5).
const STAT_VP: u32 = 1 << 3;
/// Write-back error: TCP/UDP checksum wrong.
pub const ERR_L4E: u32 = 1 << 29;
/// Write-back error: IPv4 header checksum wrong.
pub const ERR_IPE: u32 = 1 << 30;
/// Write-back errors that make the frame itself bad (Linux igb's
/// `E1000_RXDEXT_ERR_FRAME_ERR_MASK`): CRC (CE, bit 24), symbol (SE, 25), sequence (SEQ, 26),
/// carrier extension (CXE, 28), RX data (RXE, 31).
pub const ERR_FRAME_MASK: u32 = 1 << 24 | 1 << 25 | 1 << 26 | 1 << 28 | 1 << 31;

/// Why a written-back descriptor was dropped instead of delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The device reported a frame error ([`ERR_FRAME_MASK`]; the bits are kept).
    FrameError(u32),
    /// DD with a length of 0: nothing to deliver.
    ZeroLength,
    /// A length larger than the buffer: the device cannot have written that much, so the
    /// descriptor is not trusted.
    TooLong(u16),
    /// DD without EOP: the frame continues in the next descriptor. Multi-descriptor frames are
    /// not supported (with no VMOLR.LPE every frame fits one 2 KiB buffer, igb-qemu §4), so
    /// the whole frame is dropped, continuation descriptors included.
    NoEndOfPacket,
}

/// A validated frame in one descriptor's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxFrame {
    /// Bytes in the buffer (CRC already stripped by RCTL.SECRC; 1..=buffer size).
    pub length: u16,
    /// The 802.1Q TCI the device stripped from the frame (VP set: the pool has
    /// VMOLR.STRVLAN, igb-qemu §5); `None` if the frame's bytes are as received.
    pub vlan: Option<u16>,
    /// The packet-type field (dword 0 bits 15:4): bit 0 IPv4, bit 2 IPv6, bit 4 TCP, bit 5
    /// UDP, bit 6 SCTP, or bit 11 + an ETQF index (igb-qemu §5).
    pub packet_type: u16,
    /// The raw status/error dword, for the checksum bits ([`Self::checksum_errors`]).
    pub status_error: u32,
}

impl RxFrame {
    /// Whether the device found a wrong IPv4 or TCP/UDP checksum. Such frames are delivered,
    /// not dropped (as Linux igb does): the stack checks checksums the driver did not claim.
    #[must_use]
    pub const fn checksum_errors(&self) -> bool {
        self.status_error & (ERR_IPE | ERR_L4E) != 0
    }
}

/// What a descriptor's 16 bytes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteBack {
    /// DD clear: the device still owns it.
    NotDone,
    /// A complete, plausible frame.
    Frame(RxFrame),
    /// Written back, but not to be trusted or delivered.
    Malformed(Malformed),
}

fn dword(desc: &[u8; DESCRIPTOR_SIZE], index: usize) -> u32 {
    let mut bytes = [0; 4];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = desc.get(4 * index + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(bytes)
}

/// Validates an advanced RX write-back (igb-qemu §5 "Write-back format") for a ring of
/// `buffer_size`-byte buffers. Pure: every value of the 16 bytes gives an answer, none panics.
///
/// In this order: DD clear → [`WriteBack::NotDone`]; a frame error → [`Malformed::FrameError`];
/// length 0 → [`Malformed::ZeroLength`]; length > `buffer_size` → [`Malformed::TooLong`]; no
/// EOP → [`Malformed::NoEndOfPacket`]; else a [`WriteBack::Frame`].
#[must_use]
pub fn parse_writeback(desc: &[u8; DESCRIPTOR_SIZE], buffer_size: u32) -> WriteBack {
    let dwords = WriteBackDwords {
        packet_info: dword(desc, 0),
        status_error: dword(desc, 2),
        length_vlan: dword(desc, 3),
    };
    decode_writeback(dwords, buffer_size)
}

/// The dwords of a write-back that decide what it says (dword 1, the RSS hash, is not used).
#[derive(Clone, Copy, Debug)]
struct WriteBackDwords {
    /// Dword 0: packet type (bits 15:4) and header length.
    packet_info: u32,
    /// Dword 2: extended status (DD, EOP, VP, ...) and errors.
    status_error: u32,
    /// Dword 3: packet length (bits 15:0) and the stripped VLAN tag (bits 31:16).
    length_vlan: u32,
}

/// [`parse_writeback`] over the dwords: the same checks in the same order.
fn decode_writeback(dwords: WriteBackDwords, buffer_size: u32) -> WriteBack {
    if dwords.status_error & STAT_DD == 0 {
        return WriteBack::NotDone;
    }
    match validate_writeback(dwords, buffer_size) {
        Ok(frame) => WriteBack::Frame(frame),
        Err(malformed) => WriteBack::Malformed(malformed),
    }
}

/// The checks of [`parse_writeback`] after DD, in its order.
fn validate_writeback(dwords: WriteBackDwords, buffer_size: u32) -> Result<RxFrame, Malformed> {
    let status_error = dwords.status_error;
    let errors = status_error & ERR_FRAME_MASK;
    if errors != 0 {
        return Err(Malformed::FrameError(errors));
    }
    let [len_lo, len_hi, vlan_lo, vlan_hi] = dwords.length_vlan.to_le_bytes();
    let length = u16::from_le_bytes([len_lo, len_hi]);
    if length == 0 {
        return Err(Malformed::ZeroLength);
    }
    if u32::from(length) > buffer_size {
        return Err(Malformed::TooLong(length));
    }
    if status_error & STAT_EOP == 0 {
        return Err(Malformed::NoEndOfPacket);
    }
    let vlan = (status_error & STAT_VP != 0).then_some(u16::from_le_bytes([vlan_lo, vlan_hi]));
    let [pt_lo, pt_hi, _, _] = (dwords.packet_info >> 4 & 0xFFF).to_le_bytes();
    Ok(RxFrame { length, vlan, packet_type: u16::from_le_bytes([pt_lo, pt_hi]), status_error })
}

/// One received frame, as [`RxRing::poll`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxCompletion {
    /// The descriptor index.
    pub slot: u16,
    /// The buffer the descriptor was armed with, which holds the frame; [`RxRing::frame`]
    /// gives its bytes.
    pub buffer: u16,
    /// What the write-back said.
    pub frame: RxFrame,
}

impl RxCompletion {
    /// A placeholder for the caller's completion array.
    pub const EMPTY: Self = Self {
        slot: 0,
        buffer: 0,
        frame: RxFrame { length: 0, vlan: None, packet_type: 0, status_error: 0 },
    };
}

/// Receive statistics of one ring, counted in software (QEMU counts no RX drops, §12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxCounters {
    /// Frames delivered by [`RxRing::poll`].
    pub frames: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Descriptors dropped for [`Malformed::FrameError`].
    pub frame_errors: u64,
    /// Descriptors dropped for [`Malformed::ZeroLength`].
    pub zero_length: u64,
    /// Descriptors dropped for [`Malformed::TooLong`].
    pub too_long: u64,
    /// Descriptors dropped for [`Malformed::NoEndOfPacket`] (a frame's first descriptor).
    pub no_end_of_packet: u64,
    /// Later descriptors of a frame whose first one had no EOP, up to and including its EOP.
    pub continuation: u64,
    /// Frames delivered with [`RxFrame::checksum_errors`].
    pub checksum_errors: u64,
}

impl RxCounters {
    /// Every descriptor dropped, whatever the reason.
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.frame_errors
            + self.zero_length
            + self.too_long
            + self.no_end_of_packet
            + self.continuation
    }
}

/// Why a ring could not be built over the memory it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// A queue outside `0..16`.
    InvalidQueue(u8),
    /// A descriptor count that is not a power of two in
    /// [`MIN_DESCRIPTORS`]..=[`MAX_DESCRIPTORS`].
    InvalidCount(u16),
    /// A buffer size that is not a whole number of KiB in 1..=16 KiB (SRRCTL.BSIZEPKT is in
    /// KiB; TX has the same bound for symmetry).
    InvalidBufferSize(u32),
    /// The descriptor region is smaller than `count` × 16 bytes.
    DescriptorsTooSmall,
    /// The buffer region is smaller than `count` × the buffer size.
    BuffersTooSmall,
    /// The table recording each descriptor's buffer has fewer than `count` entries.
    SlotTableTooSmall,
    /// A region's physical address is not [`RING_ALIGNMENT`]-aligned, or the descriptors'
    /// CPU address is not 16-byte aligned.
    Misaligned,
}

/// Checks what RX and TX rings share.
pub(super) fn check_ring(
    queue: u8,
    descriptors: &DmaRegion<'_>,
    buffers: &DmaRegion<'_>,
    count: u16,
    buffer_size: u32,
) -> Result<(), RingError> {
    if u32::from(queue) >= NUM_QUEUES {
        return Err(RingError::InvalidQueue(queue));
    }
    if !count.is_power_of_two() || !(MIN_DESCRIPTORS..=MAX_DESCRIPTORS).contains(&count) {
        return Err(RingError::InvalidCount(count));
    }
    if !buffer_size.is_multiple_of(1024) || !(1024..=16 * 1024).contains(&buffer_size) {
        return Err(RingError::InvalidBufferSize(buffer_size));
    }
    if descriptors.len() < usize::from(count) * DESCRIPTOR_SIZE {
        return Err(RingError::DescriptorsTooSmall);
    }
    // buffer_size ≤ 16 KiB, so the product fits comfortably.
    if buffers.len() < usize::from(count) * buffer_size as usize {
        return Err(RingError::BuffersTooSmall);
    }
    if !descriptors.physical().is_multiple_of(RING_ALIGNMENT)
        || !buffers.physical().is_multiple_of(RING_ALIGNMENT)
        || !descriptors.virtual_address().is_multiple_of(DESCRIPTOR_SIZE)
    {
        return Err(RingError::Misaligned);
    }
    Ok(())
}

/// Splits a 64-bit physical address into the (low, high) register halves.
pub(super) fn split_address(physical: u64) -> (u32, u32) {
    let [b0, b1, b2, b3, b4, b5, b6, b7] = physical.to_le_bytes();
    (u32::from_le_bytes([b0, b1, b2, b3]), u32::from_le_bytes([b4, b5, b6, b7]))
}

/// The RX ring of one queue (in VMDq mode: of one pool, igb-qemu §4).
#[derive(Debug)]
pub struct RxRing<'a> {
    queue: u8,
    descriptors: DmaRegion<'a>,
    buffers: DmaRegion<'a>,
    /// `slot_buffers[slot]`: the buffer descriptor `slot` holds, or [`NO_BUFFER`].
    slot_buffers: &'a mut [u16],
    count: u16,
    /// Buffers in `buffers` (at least `count`, at most [`MAX_BUFFERS`]).
    buffer_count: u16,
    buffer_size: u32,
    /// The next descriptor the device will write back.
    next_to_clean: u16,
    /// The last value written to RDT.
    tail: u16,
    /// Inside a frame whose first descriptor had no EOP: drop up to and including its EOP.
    discarding: bool,
    counters: RxCounters,
}

impl<'a> RxRing<'a> {
    /// A ring of `count` descriptors in `descriptors` for RX queue `queue`, with as many
    /// `buffer_size`-byte buffers as fit in `buffers` (buffer b at offset b × `buffer_size`;
    /// at least `count`, at most `u16::MAX` are used). `slot_buffers` (at least `count`
    /// entries) records which buffer each descriptor holds; descriptor i starts with buffer i.
    /// At most [`MAX_BUFFERS`] buffers are used.
    /// Nothing is written to memory or the device until [`enable`](Self::enable).
    ///
    /// # Errors
    /// [`RingError`] if the queue, count, buffer size or memory does not fit.
    pub fn new(
        queue: u8,
        descriptors: DmaRegion<'a>,
        buffers: DmaRegion<'a>,
        slot_buffers: &'a mut [u16],
        count: u16,
        buffer_size: u32,
    ) -> Result<Self, RingError> {
        check_ring(queue, &descriptors, &buffers, count, buffer_size)?;
        if slot_buffers.len() < usize::from(count) {
            return Err(RingError::SlotTableTooSmall);
        }
        // check_ring bounds buffer_size to 1..=16 KiB and buffers to ≥ count of them.
        let fitting = buffers.len() / buffer_size as usize;
        let buffer_count = u16::try_from(fitting).unwrap_or(MAX_BUFFERS).min(MAX_BUFFERS);
        for (slot, buffer) in (0..count).zip(slot_buffers.iter_mut()) {
            *buffer = slot;
        }
        Ok(Self {
            queue,
            descriptors,
            buffers,
            slot_buffers,
            count,
            buffer_count,
            buffer_size,
            next_to_clean: 0,
            tail: count - 1,
            discarding: false,
            counters: RxCounters::default(),
        })
    }

    /// The RX queue.
    #[must_use]
    pub fn queue(&self) -> u8 {
        self.queue
    }

    /// Number of descriptors.
    #[must_use]
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Number of buffers (at least [`count`](Self::count)).
    #[must_use]
    pub fn buffer_count(&self) -> u16 {
        self.buffer_count
    }

    /// Bytes per buffer.
    #[must_use]
    pub fn buffer_size(&self) -> u32 {
        self.buffer_size
    }

    /// The buffer descriptor `slot` holds; `None` if it is empty (detached) or out of range.
    #[must_use]
    pub fn slot_buffer(&self, slot: u16) -> Option<u16> {
        if slot >= self.count {
            return None;
        }
        self.slot_buffers.get(usize::from(slot)).copied().filter(|b| *b != NO_BUFFER)
    }

    /// Takes the buffer out of a polled descriptor (to lend it): the descriptor is empty until
    /// [`refill_with`](Self::refill_with) gives it another. `None` (nothing changes) if the
    /// descriptor is not software's or is already empty.
    pub fn detach(&mut self, slot: u16) -> Option<u16> {
        if !self.software_owned(slot) {
            return None;
        }
        let entry = self.slot_buffers.get_mut(usize::from(slot))?;
        let buffer = *entry;
        if buffer == NO_BUFFER {
            return None;
        }
        *entry = NO_BUFFER;
        Some(buffer)
    }

    /// [`detach`](Self::detach) of each completion's slot (their buffers are being lent), with
    /// the ring's ownership window worked out once for the batch: the same descriptors end up
    /// empty.
    pub fn detach_all(&mut self, completions: &[RxCompletion]) {
        let (tail, mask, owned) = (self.tail, self.count - 1, self.software_owned_count());
        for completion in completions {
            let slot = completion.slot;
            if slot < self.count
                && slot.wrapping_sub(tail) & mask < owned
                && let Some(entry) = self.slot_buffers.get_mut(usize::from(slot))
            {
                *entry = NO_BUFFER;
            }
        }
    }

    /// The CPU address of buffer `buffer` (for the MDL describing it); `None` out of range.
    #[must_use]
    pub fn buffer_address(&self, buffer: u16) -> Option<core::ptr::NonNull<u8>> {
        if buffer >= self.buffer_count {
            return None;
        }
        self.buffers.address_at(usize::from(buffer) * self.buffer_size as usize)
    }

    /// Statistics so far (kept across [`enable`](Self::enable)).
    #[must_use]
    pub fn counters(&self) -> RxCounters {
        self.counters
    }

    /// Descriptors the device owns (armed, possibly written back but not yet polled).
    #[must_use]
    pub fn device_owned(&self) -> u16 {
        self.tail.wrapping_sub(self.next_to_clean) & (self.count - 1)
    }

    /// Descriptors polled and waiting for [`refill`](Self::refill).
    #[must_use]
    pub fn to_refill(&self) -> u16 {
        self.next_to_clean.wrapping_sub(1).wrapping_sub(self.tail) & (self.count - 1)
    }

    fn buffer_physical(&self, buffer: u16) -> u64 {
        self.buffers.physical() + u64::from(buffer) * u64::from(self.buffer_size)
    }

    /// Writes the read format of `slot` with `buffer` (igb-qemu §5): the header address (0)
    /// first, which also clears the old write-back's DD, then the packet buffer address; each
    /// is one little-endian quadword (descriptors are 16-byte aligned, [`check_ring`]).
    fn arm(&mut self, slot: u16, buffer: u16) {
        if let Some(entry) = self.slot_buffers.get_mut(usize::from(slot)) {
            *entry = buffer;
        }
        let base = usize::from(slot) * DESCRIPTOR_SIZE;
        self.descriptors.write_u64(base + 8, 0);
        self.descriptors.write_u64(base, self.buffer_physical(buffer));
    }

    /// Reads `slot`'s write-back: the status dword first and, only if DD is set, the dwords
    /// [`decode_writeback`] needs after an acquire fence, so no dword older than DD is combined
    /// with it. `None` while DD is clear (or the descriptor is outside the region).
    fn read_writeback(&self, slot: u16) -> Option<WriteBackDwords> {
        let base = usize::from(slot) * DESCRIPTOR_SIZE;
        let status_error = self.descriptors.read_u32(base + 8).unwrap_or(0);
        if status_error & STAT_DD == 0 {
            return None;
        }
        fence(Ordering::Acquire);
        let packet_info = self.descriptors.read_u32(base).unwrap_or(0);
        let length_vlan = self.descriptors.read_u32(base + 12).unwrap_or(0);
        Some(WriteBackDwords { packet_info, status_error, length_vlan })
    }

    /// Programs the queue and hands all descriptors but one to the device. Resets the
    /// software indices (not the counters), so it also re-arms a ring after [`disable`]; each
    /// descriptor is armed with the buffer it holds.
    ///
    /// The sequence (igb-qemu §5, §10; Linux igb's `igb_configure_rx_ring`):
    /// 1. RXDCTL = 0, so the device does not use the queue while it is reprogrammed.
    /// 2. Every descriptor in read format with its recorded buffer.
    /// 3. RDBAL/RDBAH, RDLEN = count × 16, SRRCTL = advanced one-buffer with BSIZEPKT =
    ///    buffer size in KiB (QEMU ignores the legacy type, §5), RDH = RDT = 0.
    /// 4. RXDCTL = ENABLE, then poll it (bounded, [`QUEUE_ENABLE_POLLS`]); only queue 0 is
    ///    enabled after reset (igb-qemu §13.2).
    /// 5. Release fence, RDT = count − 1 (never count: that reads as "ring empty", §13.4).
    ///
    /// [`disable`]: Self::disable
    ///
    /// # Errors
    /// [`IgbError::EmptyDescriptor`] (nothing written) if a descriptor holds no buffer,
    /// [`IgbError::QueueTimeout`] or [`IgbError::DeviceGone`].
    pub fn enable(&mut self, regs: &impl Registers, stall: &impl Stall) -> Result<(), IgbError> {
        if let Some(slot) = (0..self.count).find(|s| self.slot_buffer(*s).is_none()) {
            return Err(IgbError::EmptyDescriptor(self.queue, slot));
        }
        let queue = u32::from(self.queue);
        regs.write32(RXDCTL(queue), 0);
        for slot in 0..self.count {
            let buffer = self.slot_buffer(slot).unwrap_or(slot);
            self.arm(slot, buffer);
        }
        self.next_to_clean = 0;
        self.tail = self.count - 1;
        self.discarding = false;
        let (low, high) = split_address(self.descriptors.physical());
        regs.write32(RDBAL(queue), low);
        regs.write32(RDBAH(queue), high);
        regs.write32(RDLEN(queue), u32::from(self.count) * DESCRIPTOR_BYTES);
        let kib = (self.buffer_size / 1024) & SRRCTL_BSIZEPKT_MASK;
        regs.write32(SRRCTL(queue), SRRCTL_DESCTYPE_ADV_ONEBUF | kib);
        regs.write32(RDH(queue), 0);
        regs.write32(RDT(queue), 0);
        regs.write32(RXDCTL(queue), RXDCTL_ENABLE);
        let enabled = |v: u32| v & RXDCTL_ENABLE != 0;
        poll(regs, stall, RXDCTL(queue), QUEUE_ENABLE_POLLS, QUEUE_ENABLE_POLL_US, enabled)?
            .ok_or(IgbError::QueueTimeout(self.queue))?;
        fence(Ordering::Release);
        regs.write32(RDT(queue), u32::from(self.tail));
        Ok(())
    }

    /// Stops the queue: RXDCTL = 0, then waits (bounded) until ENABLE reads back clear, after
    /// which the device no longer writes this ring's memory. Frames for the queue are then
    /// dropped silently (igb-qemu §4 step 7); clear the pool's VFRE bit first
    /// ([`super::enable_pool_rx`]). Already written-back descriptors can still be polled.
    ///
    /// # Errors
    /// [`IgbError::QueueTimeout`] or [`IgbError::DeviceGone`].
    pub fn disable(&mut self, regs: &impl Registers, stall: &impl Stall) -> Result<(), IgbError> {
        let queue = u32::from(self.queue);
        regs.write32(RXDCTL(queue), 0);
        let disabled = |v: u32| v & RXDCTL_ENABLE == 0;
        poll(regs, stall, RXDCTL(queue), QUEUE_ENABLE_POLLS, QUEUE_ENABLE_POLL_US, disabled)?
            .ok_or(IgbError::QueueTimeout(self.queue))?;
        Ok(())
    }

    /// Collects up to `out.len()` frames the device has written back, in ring order, into
    /// `out`; returns how many. Malformed descriptors are consumed and counted, never
    /// reported. Touches no register. Their buffers stay readable through
    /// [`frame`](Self::frame) until [`refill`](Self::refill).
    pub fn poll(&mut self, out: &mut [RxCompletion]) -> usize {
        let mut filled = 0;
        while filled < out.len() && self.next_to_clean != self.tail {
            let slot = self.next_to_clean;
            let Some(dwords) = self.read_writeback(slot) else { break };
            self.next_to_clean = (slot + 1) & (self.count - 1);
            let continuation = self.discarding;
            self.discarding = dwords.status_error & STAT_EOP == 0;
            let counters = &mut self.counters;
            if continuation {
                counters.continuation += 1;
                continue;
            }
            // DD is set (read_writeback): the rest of parse_writeback's checks.
            match validate_writeback(dwords, self.buffer_size) {
                Ok(frame) => {
                    counters.frames += 1;
                    counters.bytes += u64::from(frame.length);
                    counters.checksum_errors += u64::from(frame.checksum_errors());
                    // An armed descriptor always holds a buffer; the fallback is never taken.
                    // (`slot` < count: it is `next_to_clean`.)
                    let buffer =
                        self.slot_buffers.get(usize::from(slot)).copied().unwrap_or(NO_BUFFER);
                    if let Some(entry) = out.get_mut(filled) {
                        *entry = RxCompletion { slot, buffer, frame };
                        filled += 1;
                    }
                }
                Err(Malformed::FrameError(_)) => counters.frame_errors += 1,
                Err(Malformed::ZeroLength) => counters.zero_length += 1,
                Err(Malformed::TooLong(_)) => counters.too_long += 1,
                Err(Malformed::NoEndOfPacket) => counters.no_end_of_packet += 1,
            }
        }
        filled
    }

    /// Whether `slot` belongs to software: polled (or the spare descriptor) and not re-armed.
    /// `[tail, next_to_clean)`, which is the whole ring when the two are equal (the device
    /// owns nothing then).
    fn software_owned(&self, slot: u16) -> bool {
        let mask = self.count - 1;
        slot < self.count && slot.wrapping_sub(self.tail) & mask < self.software_owned_count()
    }

    /// How many descriptors from `tail` on are software's (see
    /// [`software_owned`](Self::software_owned)).
    fn software_owned_count(&self) -> u16 {
        match self.next_to_clean.wrapping_sub(self.tail) & (self.count - 1) {
            0 => self.count,
            n => n,
        }
    }

    /// The bytes of a polled frame; `None` if `completion` does not describe a descriptor
    /// software owns now with the buffer it names (it was re-armed by
    /// [`refill`](Self::refill), or never polled), or its length does not fit the buffer. The
    /// borrow ends before `refill` can hand the buffer back to the device.
    #[must_use]
    pub fn frame(&self, completion: &RxCompletion) -> Option<&[u8]> {
        let length = u32::from(completion.frame.length);
        if !self.software_owned(completion.slot)
            || self.slot_buffer(completion.slot) != Some(completion.buffer)
            || length > self.buffer_size
        {
            return None;
        }
        let offset = usize::from(completion.buffer) * self.buffer_size as usize;
        self.buffers.bytes(offset, length as usize)
    }

    /// Hands every polled descriptor back to the device with the buffer it holds (the frames
    /// were copied out or dropped): see [`refill_with`](Self::refill_with). Stops at an empty
    /// descriptor.
    pub fn refill(&mut self, regs: &impl Registers) -> u16 {
        self.refill_with(regs, |_| None)
    }

    /// Hands polled descriptors back to the device, oldest first, each with the buffer it
    /// holds; for an empty (detached) one, `take_free(slot)` supplies a buffer, or `None` to
    /// stop there (no free buffer: the rest stay with software and are offered again by the
    /// next refill). A buffer number out of range also stops the refill. Then one release
    /// fence and **one** RDT write for the batch (none if nothing was handed back). Finally
    /// the descriptor that stays with software gets a buffer from `take_free` if it is empty
    /// (not handed over). Returns how many descriptors were handed back.
    ///
    /// Keeping track of which buffers are free is the caller's job; the ring only records
    /// which buffer each descriptor holds.
    pub fn refill_with(
        &mut self,
        regs: &impl Registers,
        mut take_free: impl FnMut(u16) -> Option<u16>,
    ) -> u16 {
        let count = self.to_refill();
        let mut slot = self.tail;
        let mut given = 0;
        while given < count {
            if !self.fill(slot, &mut take_free) {
                break;
            }
            slot = (slot + 1) & (self.count - 1);
            given += 1;
        }
        if given > 0 {
            self.tail = slot;
            fence(Ordering::Release);
            regs.write32(RDT(u32::from(self.queue)), u32::from(self.tail));
        }
        // The descriptor at the tail stays with software; it gets a buffer now so that the
        // ring has no empty descriptor once the caller has enough free buffers.
        if given == count && self.slot_buffer(self.tail).is_none() {
            self.fill(self.tail, &mut take_free);
        }
        given
    }

    /// Arms `slot` with the buffer it holds, or with one from `take_free` if it is empty.
    /// `false` (nothing written) if no valid buffer was supplied.
    fn fill(&mut self, slot: u16, take_free: &mut impl FnMut(u16) -> Option<u16>) -> bool {
        // `slot` < count: refill passes masked slots and the tail.
        let held = self.slot_buffers.get(usize::from(slot)).copied().filter(|b| *b != NO_BUFFER);
        let buffer = match held {
            Some(held) => held,
            None => match take_free(slot).filter(|b| *b < self.buffer_count) {
                Some(fresh) => fresh,
                None => return false,
            },
        };
        self.arm(slot, buffer);
        true
    }
}
