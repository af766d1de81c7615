//! A fake 82576 register file for unit tests: plain storage for most registers plus the few
//! side effects the bring-up and interrupt code depend on, modelled on QEMU's `igb_core.c`
//! (igb-qemu §3, §6) and switchable into the failures real hardware can show (a reset or an
//! EEPROM read that never completes, a stuck PHY, a device that disappears).

use core::cell::{Cell, RefCell};
use core::ptr::NonNull;
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::vec::Vec;

use super::regs::{
    CTRL, CTRL_GIO_MASTER_DISABLE, CTRL_RST, EECD, EECD_PRES, EERD, EERD_ADDR_SHIFT,
    EERD_DATA_SHIFT, EERD_DONE, EERD_START, EIAC, EICR, EICS, EIMC, EIMS, EITR, GPIE,
    GPIE_MSIX_MODE, GPIE_NSICR, IAM, ICR, ICR_INT_ASSERTED, ICS, IMC, IMS, MDIC, MDIC_ERROR,
    MDIC_PHY_SHIFT, MDIC_READY, NUM_QUEUES, NUM_VECTORS, PHY_ADDRESS, RAH, RAH_AV, RAL, RXDCTL,
    RXDCTL_ENABLE, STATUS, STATUS_GIO_MASTER_ENABLE, TXDCTL,
};
use super::regs::{RDH, RDT};
use super::rx::DESCRIPTOR_SIZE;
use crate::hw::{ALL_ONES, DmaRegion, Registers, Stall};

/// BAR0 size (128 KiB, igb-qemu §2).
const BAR_SIZE: u32 = 128 << 10;
/// CTRL after reset in QEMU (FD | LRST | SPD_1000 | ADVD3WUC).
const CTRL_AT_RESET: u32 = 0x0010_0209;
/// STATUS after reset in QEMU without the computed GIO_MASTER_ENABLE bit (0x80080481 as read).
const STATUS_AT_RESET: u32 = 0x8000_0481;
/// EEPROM size in words (QEMU's `IGB_EEPROM_SIZE`).
pub(crate) const EEPROM_WORDS: usize = 64;

/// How MDIC answers an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mdic {
    /// READY at once (QEMU).
    Ready,
    /// READY | ERROR at once.
    Error,
    /// Never READY.
    Stuck,
}

/// One register access, for checking order and absence of writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read(u32),
    Write(u32, u32),
}

/// The fake device. Every knob is a `Cell` so tests can change behaviour between calls.
pub(crate) struct FakeIgb {
    regs: RefCell<Vec<u32>>,
    /// EEPROM contents (words 0-2: MAC).
    pub(crate) eeprom: RefCell<[u16; EEPROM_WORDS]>,
    /// What a reset loads into RAR0.
    pub(crate) permanent_mac: Cell<[u8; 6]>,
    /// CTRL reads that still show RST after a reset (`u32::MAX`: forever).
    pub(crate) rst_reads: Cell<u32>,
    rst_pending: Cell<u32>,
    /// EERD reads before DONE shows (`u32::MAX`: never).
    pub(crate) eerd_reads: Cell<u32>,
    eerd_pending: Cell<u32>,
    /// How MDIC answers.
    pub(crate) mdic: Cell<Mdic>,
    /// STATUS.GIO_MASTER_ENABLE stays set despite CTRL.GIO_MASTER_DISABLE.
    pub(crate) master_stuck: Cell<bool>,
    /// MSI-X enabled at the PCI level (QEMU's ICR read-to-clear rule depends on it).
    pub(crate) msix_enabled: Cell<bool>,
    /// EIAC behaves as on silicon (an ordinary register) instead of QEMU's OR-only, MSI-X-mode-only
    /// write (igb-qemu §6).
    pub(crate) silicon_eiac: Cell<bool>,
    /// RXDCTL/TXDCTL.ENABLE never sticks (a queue that does not start).
    pub(crate) queue_enable_stuck: Cell<bool>,
    /// Surprise removal: every read is all-ones, writes are lost.
    pub(crate) gone: Cell<bool>,
    /// Becomes `gone` after this many more reads.
    pub(crate) gone_after_reads: Cell<Option<u32>>,
    log: RefCell<Vec<Access>>,
}

impl FakeIgb {
    /// A device fresh out of reset, whose EEPROM and RAR0 both hold `mac`.
    pub(crate) fn new(mac: [u8; 6]) -> Self {
        let mut eeprom = [0xFFFF; EEPROM_WORDS];
        for (word, pair) in eeprom.iter_mut().zip(mac.chunks_exact(2)) {
            *word = u16::from_le_bytes([pair[0], pair[1]]);
        }
        let fake = Self {
            regs: RefCell::new(std::vec![0; (BAR_SIZE / 4) as usize]),
            eeprom: RefCell::new(eeprom),
            permanent_mac: Cell::new(mac),
            rst_reads: Cell::new(0),
            rst_pending: Cell::new(0),
            eerd_reads: Cell::new(0),
            eerd_pending: Cell::new(0),
            mdic: Cell::new(Mdic::Ready),
            master_stuck: Cell::new(false),
            msix_enabled: Cell::new(false),
            silicon_eiac: Cell::new(false),
            queue_enable_stuck: Cell::new(false),
            gone: Cell::new(false),
            gone_after_reads: Cell::new(None),
            log: RefCell::new(Vec::new()),
        };
        fake.hardware_reset();
        fake
    }

    fn index(offset: u32) -> Option<usize> {
        (offset.is_multiple_of(4) && offset < BAR_SIZE).then_some((offset / 4) as usize)
    }

    /// The stored value, bypassing every side effect (and the log).
    pub(crate) fn get(&self, offset: u32) -> u32 {
        Self::index(offset).map_or(ALL_ONES, |i| self.regs.borrow()[i])
    }

    /// Stores a value, bypassing every side effect (and the log).
    pub(crate) fn set(&self, offset: u32, value: u32) {
        if let Some(i) = Self::index(offset) {
            self.regs.borrow_mut()[i] = value;
        }
    }

    fn or(&self, offset: u32, bits: u32) {
        self.set(offset, self.get(offset) | bits);
    }

    fn clear(&self, offset: u32, bits: u32) {
        self.set(offset, self.get(offset) & !bits);
    }

    /// Every access so far, in order.
    pub(crate) fn log(&self) -> Vec<Access> {
        self.log.borrow().clone()
    }

    /// The writes so far, in order.
    pub(crate) fn writes(&self) -> Vec<(u32, u32)> {
        self.log
            .borrow()
            .iter()
            .filter_map(|a| match *a {
                Access::Write(offset, value) => Some((offset, value)),
                Access::Read(_) => None,
            })
            .collect()
    }

    /// How many times `offset` was read.
    pub(crate) fn reads_of(&self, offset: u32) -> usize {
        self.log.borrow().iter().filter(|a| **a == Access::Read(offset)).count()
    }

    /// Forgets the access log.
    pub(crate) fn clear_log(&self) {
        self.log.borrow_mut().clear();
    }

    /// What CTRL.RST does in QEMU's `igb_reset`: registers back to their reset values, except
    /// EITR (igb-qemu §3); RAR0 = the permanent MAC with AV and POOLSEL = 0.
    fn hardware_reset(&self) {
        let eitr: Vec<u32> = (0..NUM_VECTORS).map(|v| self.get(EITR(v))).collect();
        self.regs.borrow_mut().fill(0);
        for (v, value) in (0..NUM_VECTORS).zip(eitr) {
            self.set(EITR(v), value);
        }
        self.set(CTRL, CTRL_AT_RESET);
        self.set(STATUS, STATUS_AT_RESET);
        self.set(EECD, EECD_PRES);
        self.set(RXDCTL(0), RXDCTL_ENABLE);
        let mac = self.permanent_mac.get();
        self.set(RAL(0), u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]));
        self.set(RAH(0), u32::from(u16::from_le_bytes([mac[4], mac[5]])) | RAH_AV);
    }

    /// Raises ICR causes as QEMU does in single-vector mode (INT_ASSERTED whenever ICR != 0).
    pub(crate) fn raise(&self, causes: u32) {
        self.or(ICR, causes | ICR_INT_ASSERTED);
    }

    fn read(&self, offset: u32) -> u32 {
        match offset {
            CTRL => {
                let ctrl = self.get(CTRL);
                match self.rst_pending.get() {
                    0 => ctrl,
                    u32::MAX => ctrl | CTRL_RST,
                    n => {
                        self.rst_pending.set(n - 1);
                        ctrl | CTRL_RST
                    }
                }
            }
            STATUS => {
                let master_idle =
                    self.get(CTRL) & CTRL_GIO_MASTER_DISABLE != 0 && !self.master_stuck.get();
                let gio = if master_idle { 0 } else { STATUS_GIO_MASTER_ENABLE };
                self.get(STATUS) | gio
            }
            EERD => {
                let eerd = self.get(EERD);
                match self.eerd_pending.get() {
                    0 => eerd,
                    u32::MAX => eerd & !EERD_DONE,
                    n => {
                        self.eerd_pending.set(n - 1);
                        eerd & !EERD_DONE
                    }
                }
            }
            ICR => {
                // igb_mac_icr_read: cleared by the read unless MSI-X is on, NSICR is off, IMS
                // is non-zero and INT_ASSERTED is clear.
                let icr = self.get(ICR);
                let nsicr = self.get(GPIE) & GPIE_NSICR != 0;
                let asserted = icr & ICR_INT_ASSERTED != 0;
                if nsicr || self.get(IMS) == 0 || asserted || !self.msix_enabled.get() {
                    self.set(ICR, 0);
                }
                // igb_nsicr: the legacy auto-mask (IAM) applies on NSICR or a real assertion.
                if nsicr || (self.get(IMS) != 0 && asserted) {
                    self.clear(IMS, self.get(IAM));
                }
                icr
            }
            EICR => {
                let eicr = self.get(EICR);
                self.set(EICR, 0);
                eicr
            }
            _ => self.get(offset),
        }
    }

    fn write(&self, offset: u32, value: u32) {
        match offset {
            CTRL => {
                self.set(CTRL, value & !CTRL_RST);
                if value & CTRL_RST != 0 {
                    self.hardware_reset();
                    self.rst_pending.set(self.rst_reads.get());
                }
            }
            EERD => {
                let word = (value >> EERD_ADDR_SHIFT) & 0x3FFF;
                let data = self.eeprom.borrow().get(word as usize).copied();
                match data {
                    Some(data) if value & EERD_START != 0 => {
                        self.set(
                            EERD,
                            (u32::from(data) << EERD_DATA_SHIFT)
                                | (word << EERD_ADDR_SHIFT)
                                | EERD_DONE,
                        );
                        self.eerd_pending.set(self.eerd_reads.get());
                    }
                    _ => self.set(EERD, word << EERD_ADDR_SHIFT),
                }
            }
            MDIC => {
                let wrong_phy = (value >> MDIC_PHY_SHIFT) & 0x1F != PHY_ADDRESS;
                let answer = match self.mdic.get() {
                    Mdic::Ready if !wrong_phy => value | MDIC_READY,
                    Mdic::Ready | Mdic::Error => value | MDIC_READY | MDIC_ERROR,
                    Mdic::Stuck => value & !(MDIC_READY | MDIC_ERROR),
                };
                self.set(MDIC, answer);
            }
            ICR => self.clear(ICR, value),
            ICS => self.raise(value),
            IMS => self.or(IMS, value),
            IMC => self.clear(IMS, value),
            EIMS => self.or(EIMS, value),
            EIMC => self.clear(EIMS, value),
            EICS => self.or(EICR, value),
            EICR => self.clear(EICR, value),
            // QEMU: EIAC only ORs bits in, and only in MSI-X mode (igb-qemu §6).
            EIAC if self.silicon_eiac.get() => self.set(EIAC, value),
            EIAC => {
                if self.get(GPIE) & GPIE_MSIX_MODE != 0 {
                    self.or(EIAC, value);
                }
            }
            _ if self.queue_enable_stuck.get()
                && (0..NUM_QUEUES).any(|q| offset == RXDCTL(q) || offset == TXDCTL(q)) =>
            {
                self.set(offset, value & !RXDCTL_ENABLE);
            }
            _ => self.set(offset, value),
        }
    }
}

impl Registers for FakeIgb {
    fn read32(&self, offset: u32) -> u32 {
        self.log.borrow_mut().push(Access::Read(offset));
        if let Some(left) = self.gone_after_reads.get() {
            if left == 0 {
                self.gone.set(true);
            } else {
                self.gone_after_reads.set(Some(left - 1));
            }
        }
        if self.gone.get() || Self::index(offset).is_none() {
            return ALL_ONES;
        }
        self.read(offset)
    }

    fn write32(&self, offset: u32, value: u32) {
        self.log.borrow_mut().push(Access::Write(offset, value));
        if self.gone.get() || Self::index(offset).is_none() {
            return;
        }
        self.write(offset, value);
    }
}

/// A [`Stall`] that only counts.
#[derive(Default)]
pub(crate) struct CountingStall {
    pub(crate) calls: Cell<u32>,
    pub(crate) total_us: Cell<u64>,
}

impl Stall for CountingStall {
    fn stall_us(&self, us: u32) {
        self.calls.set(self.calls.get() + 1);
        self.total_us.set(self.total_us.get() + u64::from(us));
    }
}

/// Page-aligned zeroed memory that a DmaRegion and a fake device share through raw pointers.
pub(crate) struct FakeDma {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl FakeDma {
    pub(crate) fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, 4096).unwrap();
        // SAFETY: the layout has a non-zero size (every test asks for at least one page).
        let ptr = unsafe { alloc_zeroed(layout) };
        Self { ptr: NonNull::new(ptr).expect("allocation"), layout }
    }

    pub(crate) fn region(&self, physical: u64) -> DmaRegion<'_> {
        // SAFETY: the allocation lives as long as the borrow of self, and the tests touch it
        // only through the region and the raw-pointer accesses below (the "device").
        unsafe { DmaRegion::from_raw_parts(self.ptr, self.layout.size(), physical) }
    }

    /// A device write.
    pub(crate) fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.layout.size());
        for (i, byte) in bytes.iter().enumerate() {
            let ptr = self.ptr.as_ptr().wrapping_add(offset + i);
            // SAFETY: in bounds (asserted above); volatile, as a device write.
            unsafe { ptr.write_volatile(*byte) };
        }
    }

    /// A device read.
    pub(crate) fn read(&self, offset: usize, len: usize) -> Vec<u8> {
        assert!(offset + len <= self.layout.size());
        (0..len)
            .map(|i| {
                let ptr = self.ptr.as_ptr().wrapping_add(offset + i);
                // SAFETY: in bounds (asserted above).
                unsafe { ptr.read_volatile() }
            })
            .collect()
    }

    pub(crate) fn read_u32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.read(offset, 4).try_into().unwrap())
    }
}

impl Drop for FakeDma {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// A write-back as the device writes it.
pub(crate) fn writeback(status: u32, length: u16, vlan: u16, dword0: u32) -> [u8; DESCRIPTOR_SIZE] {
    let mut d = [0; DESCRIPTOR_SIZE];
    d[0..4].copy_from_slice(&dword0.to_le_bytes());
    d[4..8].copy_from_slice(&0x4242u32.to_le_bytes());
    d[8..12].copy_from_slice(&status.to_le_bytes());
    d[12..16].copy_from_slice(&(u32::from(length) | u32::from(vlan) << 16).to_le_bytes());
    d
}

/// A fake RX DMA engine in QEMU's manner (igb-qemu §5): it writes at RDH while RDH != RDT,
/// taking the buffer address from the descriptor's read format.
pub(crate) struct FakeRxEngine<'d> {
    pub(crate) desc: &'d FakeDma,
    pub(crate) bufs: &'d FakeDma,
    pub(crate) queue: u32,
    pub(crate) count: u16,
    pub(crate) head: u16,
    /// Physical address of `bufs`.
    pub(crate) bufs_physical: u64,
}

impl FakeRxEngine<'_> {
    /// Receives one descriptor's worth; `false` if the ring has no free descriptor.
    pub(crate) fn receive(&mut self, fake: &FakeIgb, data: &[u8], status: u32, vlan: u16) -> bool {
        let tail = fake.get(RDT(self.queue));
        if u32::from(self.head) == tail || tail >= u32::from(self.count) {
            return false;
        }
        let base = usize::from(self.head) * DESCRIPTOR_SIZE;
        let address = u64::from_le_bytes(self.desc.read(base, 8).try_into().unwrap());
        assert_eq!(self.desc.read_u32(base + 8), 0, "armed descriptors have DD clear");
        let offset = usize::try_from(address - self.bufs_physical).unwrap();
        self.bufs.write(offset, data);
        let length = u16::try_from(data.len()).unwrap();
        let mut wb = writeback(0, length, vlan, 0);
        self.desc.write(base, &wb[..8]);
        self.desc.write(base + 12, &wb[12..]);
        // DD last.
        wb[8..12].copy_from_slice(&status.to_le_bytes());
        self.desc.write(base + 8, &wb[8..12]);
        self.head = (self.head + 1) % self.count;
        fake.set(RDH(self.queue), u32::from(self.head));
        true
    }
}

/// A fake device with RX descriptor and buffer memory: rings over it, and the fake DMA engine
/// that fills them.
pub(crate) struct RxRig {
    pub(crate) fake: FakeIgb,
    pub(crate) desc: FakeDma,
    pub(crate) bufs: FakeDma,
}

/// Physical address of the rig's descriptor memory.
pub(crate) const RIG_DESC_PHYS: u64 = 0x20_0000;
/// Physical address of the rig's buffer memory.
pub(crate) const RIG_BUF_PHYS: u64 = 0x40_0000;

impl RxRig {
    /// One page of descriptors and `buffer_bytes` of buffers.
    pub(crate) fn new(buffer_bytes: usize) -> Self {
        Self {
            fake: FakeIgb::new([0x02, 0x4E, 0x44, 0x49, 0x53, 0x01]),
            desc: FakeDma::new(4096),
            bufs: FakeDma::new(buffer_bytes),
        }
    }

    /// An enabled ring of `count` descriptors and 2 KiB buffers (as many as fit) for `queue`.
    pub(crate) fn ring(&self, queue: u8, count: u16) -> super::RxRing<'_> {
        let slots = Vec::leak(std::vec![0; usize::from(count)]);
        let mut ring = super::RxRing::new(
            queue,
            self.desc.region(RIG_DESC_PHYS),
            self.bufs.region(RIG_BUF_PHYS),
            slots,
            count,
            2048,
        )
        .unwrap();
        ring.enable(&self.fake, &CountingStall::default()).unwrap();
        ring
    }

    /// The DMA engine of `queue`'s ring of `count` descriptors.
    pub(crate) fn engine(&self, queue: u32, count: u16) -> FakeRxEngine<'_> {
        FakeRxEngine {
            desc: &self.desc,
            bufs: &self.bufs,
            queue,
            count,
            head: 0,
            bufs_physical: RIG_BUF_PHYS,
        }
    }
}
