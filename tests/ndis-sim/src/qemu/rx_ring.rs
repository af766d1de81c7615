//! A harness-side RX ring: advanced one-buffer descriptors and packet buffers in guest RAM
//! (igb-qemu.md §5). The simulator's own tests use it to receive frames without the driver;
//! the driver has its own ring code.
//!
//! Held frames (§8): while no enabled ring has a free descriptor QEMU queues incoming frames,
//! and the next RDT write flushes the *whole* queue without checking for room, dropping what
//! does not fit (ICR.RXO). So descriptors are given back in batches: re-arm every consumed
//! descriptor first, then write RDT once ([`RxRing::rearm`]); [`RxRing::kick`] rewrites RDT to
//! flush frames QEMU holds.

use super::desc::{AdvRxWriteback, DESC_SIZE, adv_rx_read};
use super::error::{Error, Result};
use super::gpa_alloc::GpaRange;
use super::igb::Igb;
use super::regs;

/// A completed RX descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxCompletion {
    /// Descriptor index in the ring.
    pub index: u16,
    /// The write-back.
    pub writeback: AdvRxWriteback,
    /// The `writeback.length` bytes of the descriptor's buffer.
    pub data: Vec<u8>,
}

/// An RX ring of one queue, owned by the harness.
#[derive(Debug)]
pub struct RxRing<'a> {
    igb: &'a Igb,
    queue: u32,
    ring: GpaRange,
    buffers: GpaRange,
    descriptors: u16,
    buffer_size: u32,
    /// Next descriptor the NIC will complete.
    next_to_clean: u16,
    /// Next consumed descriptor to give back.
    next_to_rearm: u16,
    /// Descriptors consumed and not yet given back.
    consumed: u16,
}

impl<'a> RxRing<'a> {
    /// Allocates and programs RX queue `queue` with `descriptors` descriptors (a multiple of
    /// 8, so RDLEN is a multiple of 128 bytes) and buffers of `buffer_size` bytes (a multiple
    /// of 1 KiB, at most 127 KiB: SRRCTL.BSIZEPKT). All but one descriptor go to the NIC: QEMU
    /// treats RDT == RDH as "no free descriptor" (§5, §13.4).
    pub fn new(igb: &'a Igb, queue: u32, descriptors: u16, buffer_size: u32) -> Result<Self> {
        if queue >= 16 {
            return Err(Error::InvalidArgument(format!("RX queue {queue} > 15")));
        }
        if descriptors < 8 || !descriptors.is_multiple_of(8) {
            return Err(Error::InvalidArgument(format!(
                "{descriptors} descriptors: need a multiple of 8 (RDLEN multiple of 128)"
            )));
        }
        let bsize_kib = buffer_size / 1024;
        if !buffer_size.is_multiple_of(1024)
            || bsize_kib == 0
            || bsize_kib > regs::SRRCTL_BSIZEPKT_MASK
        {
            return Err(Error::InvalidArgument(format!(
                "buffer size {buffer_size}: need 1..=127 KiB in whole KiB"
            )));
        }
        let qemu = igb.qemu();
        let ring_bytes = u64::from(descriptors) * DESC_SIZE as u64;
        let ring = qemu.dma_alloc(ring_bytes, "rx ring descriptors")?;
        let buffers = match qemu
            .dma_alloc(u64::from(descriptors) * u64::from(buffer_size), "rx ring buffers")
        {
            Ok(b) => b,
            Err(e) => {
                let _ = qemu.dma_free(ring);
                return Err(e);
            }
        };
        let rx = RxRing {
            igb,
            queue,
            ring,
            buffers,
            descriptors,
            buffer_size,
            next_to_clean: 0,
            next_to_rearm: 0,
            consumed: 0,
        };
        for index in 0..descriptors {
            rx.arm(index)?;
        }
        // Register sequence of poc.py's RxRing.setup (§10).
        let ring_len = u32::try_from(ring_bytes)
            .map_err(|_| Error::InvalidArgument("ring too large".into()))?;
        igb.reg_write(regs::RDBAL(queue), (ring.gpa & 0xFFFF_FFFF) as u32)?;
        igb.reg_write(regs::RDBAH(queue), (ring.gpa >> 32) as u32)?;
        igb.reg_write(regs::RDLEN(queue), ring_len)?;
        igb.reg_write(regs::SRRCTL(queue), regs::SRRCTL_DESCTYPE_ADV_ONEBUF | bsize_kib)?;
        igb.reg_write(regs::RDH(queue), 0)?;
        igb.reg_write(regs::RDT(queue), 0)?;
        // Only queue 0 is enabled after reset (§13.2).
        igb.reg_write(regs::RXDCTL(queue), regs::RXDCTL_ENABLE)?;
        igb.reg_write(regs::RDT(queue), u32::from(descriptors - 1))?;
        Ok(rx)
    }

    /// The queue number.
    #[must_use]
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Number of descriptors.
    #[must_use]
    pub fn descriptors(&self) -> u16 {
        self.descriptors
    }

    /// Guest-physical range of the descriptor ring.
    #[must_use]
    pub fn ring_range(&self) -> GpaRange {
        self.ring
    }

    /// Guest-physical address of descriptor `index`'s packet buffer.
    #[must_use]
    pub fn buffer_address(&self, index: u16) -> u64 {
        self.buffers.gpa + u64::from(index) * u64::from(self.buffer_size)
    }

    fn descriptor_address(&self, index: u16) -> u64 {
        self.ring.gpa + u64::from(index) * DESC_SIZE as u64
    }

    /// Writes the read format for descriptor `index` (which also clears DD).
    fn arm(&self, index: u16) -> Result<()> {
        self.igb
            .qemu()
            .ram()
            .write(self.descriptor_address(index), &adv_rx_read(self.buffer_address(index), 0))
    }

    /// Reads descriptor `index` as a write-back.
    pub fn writeback(&self, index: u16) -> Result<AdvRxWriteback> {
        let mut raw = [0u8; DESC_SIZE];
        // Status (with DD) is written last by QEMU (§5): read it first, then the rest.
        let status_gpa = self.descriptor_address(index) + 8;
        let status = self.igb.qemu().ram().read_u32(status_gpa)?;
        self.igb.qemu().ram().read(self.descriptor_address(index), &mut raw)?;
        raw[8..12].copy_from_slice(&status.to_le_bytes());
        Ok(AdvRxWriteback::decode(&raw))
    }

    /// Collects the descriptors the NIC has completed since the last call, without giving
    /// them back. No register is read: completion is seen in guest RAM only.
    pub fn poll_completed(&mut self) -> Result<Vec<RxCompletion>> {
        let mut out = Vec::new();
        // At most descriptors - 1 can be owned by the NIC at once.
        while self.consumed < self.descriptors - 1 {
            let index = self.next_to_clean;
            let writeback = self.writeback(index)?;
            if !writeback.dd() {
                break;
            }
            if u32::from(writeback.length) > self.buffer_size {
                return Err(Error::Device(format!(
                    "RX descriptor {index} reports {} bytes in a {}-byte buffer",
                    writeback.length, self.buffer_size
                )));
            }
            let data = self
                .igb
                .qemu()
                .ram()
                .read_vec(self.buffer_address(index), usize::from(writeback.length))?;
            out.push(RxCompletion { index, writeback, data });
            self.next_to_clean = (index + 1) % self.descriptors;
            self.consumed += 1;
        }
        Ok(out)
    }

    /// Descriptors consumed by [`poll_completed`](Self::poll_completed) and not yet given back.
    #[must_use]
    pub fn consumed(&self) -> u16 {
        self.consumed
    }

    /// Gives `count` consumed descriptors back to the NIC with a single RDT write (§8: one
    /// tail write after refilling everything loses nothing; a tail write per descriptor lets
    /// QEMU's flush drop held frames).
    pub fn rearm(&mut self, count: u16) -> Result<()> {
        if count > self.consumed {
            return Err(Error::InvalidArgument(format!(
                "cannot give back {count} descriptors, only {} consumed",
                self.consumed
            )));
        }
        if count == 0 {
            return Ok(());
        }
        let mut last = self.next_to_rearm;
        for _ in 0..count {
            last = self.next_to_rearm;
            self.arm(last)?;
            self.next_to_rearm = (last + 1) % self.descriptors;
        }
        self.consumed -= count;
        // The slot just re-armed becomes the one-descriptor gap; the NIC owns everything before
        // it, including the previous gap, which was armed at setup or by an earlier rearm.
        self.igb.reg_write(regs::RDT(self.queue), u32::from(last))
    }

    /// [`poll_completed`](Self::poll_completed), then gives everything back in one RDT write.
    pub fn poll(&mut self) -> Result<Vec<RxCompletion>> {
        let completed = self.poll_completed()?;
        self.rearm(self.consumed)?;
        Ok(completed)
    }

    /// Rewrites RDT with its current value. In QEMU every RDT write calls `igb_start_recv()`,
    /// which flushes all held frames into the ring (§8); frames that do not fit are dropped.
    pub fn kick(&self) -> Result<()> {
        let tail = (self.next_to_rearm + self.descriptors - 1) % self.descriptors;
        self.igb.reg_write(regs::RDT(self.queue), u32::from(tail))
    }
}

impl Drop for RxRing<'_> {
    fn drop(&mut self) {
        // Stop the queue before its memory can be handed out again, so a late frame cannot be
        // DMA'd into someone else's allocation. Errors (QEMU already gone) change nothing.
        let _ = self.igb.reg_write(regs::RXDCTL(self.queue), 0);
        let _ = self.igb.reg_write(regs::RDLEN(self.queue), 0);
        let _ = self.igb.qemu().dma_free(self.buffers);
        let _ = self.igb.qemu().dma_free(self.ring);
    }
}
