//! The igb NIC of one QEMU as the simulated OS sees it: PCI resources assigned, BAR0 register
//! access with counters, the MSI-X table (owned by the OS side, igb-qemu.md §6) and MSI-X
//! mailboxes in guest RAM, plus the few device-level helpers the bring-up needs (reset, MAC,
//! EEPROM, PHY, link).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::error::{Error, Result};
use super::launcher::{IGB_PCI_DEVICE, Qemu};
use super::netdev::MacAddress;
use super::pci::{
    BAR_COUNT, BarInfo, BarKind, COMMAND_BUS_MASTER, COMMAND_INTX_DISABLE, COMMAND_IO_SPACE,
    COMMAND_MEMORY_SPACE, MSIX_ENTRY_SIZE, MSIX_VECTOR_CONTROL_MASKED, MsixCapability, PciAddress,
    PciConfig,
};
use super::regs;

/// PCI vendor ID of Intel.
pub const INTEL_VENDOR_ID: u16 = 0x8086;
/// PCI device ID of the 82576 (physical function).
pub const IGB_82576_DEVICE_ID: u16 = 0x10C9;

/// The IOAPIC input (GSI) the igb's INTA# reaches on QEMU's q35 with the NIC at 00:03.0:
/// ICH9 routes slot 3 INTA to PIRQH, which the chipset wires to IOAPIC pin 23. Measured with
/// QEMU 10.0.2: `irq_intercept_in ioapic`, IMS = all, ICS = LSC gives `IRQ raise 23`, and the
/// ICR read that clears the cause gives `IRQ lower 23`.
pub const Q35_IGB_INTX_IOAPIC_PIN: u32 = 23;

/// QOM path of q35's IOAPIC, for `irq_intercept_in`.
pub const Q35_IOAPIC_QOM_PATH: &str = "ioapic";

/// Where the PCI BARs go. The defaults are the PoC's (igb-qemu.md §2 and §10): any free
/// address between the top of RAM and `0xFEC0_0000` works on q35.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarLayout {
    /// BAR0: 128 KiB of registers (32-bit memory).
    pub registers: u64,
    /// BAR1: 128 KiB dummy flash (32-bit memory). Assigned so that it does not sit at 0 once
    /// memory decode is on.
    pub flash: u64,
    /// BAR2: 32 bytes of I/O ports (IOADDR/IODATA).
    pub io_ports: u16,
    /// BAR3 (+BAR4): 16 KiB 64-bit memory holding the MSI-X table and PBA.
    pub msix: u64,
}

impl Default for BarLayout {
    fn default() -> Self {
        BarLayout {
            registers: 0xC000_0000,
            flash: 0xC002_0000,
            io_ports: 0xC000,
            msix: 0xC004_0000,
        }
    }
}

/// BAR0 register accesses made through [`Igb::reg_read`] / [`Igb::reg_write`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegisterCounts {
    /// Register reads.
    pub reads: u64,
    /// Register writes.
    pub writes: u64,
}

impl RegisterCounts {
    /// Accesses made since `earlier` (a previous snapshot).
    #[must_use]
    pub fn since(self, earlier: RegisterCounts) -> RegisterCounts {
        RegisterCounts {
            reads: self.reads.saturating_sub(earlier.reads),
            writes: self.writes.saturating_sub(earlier.writes),
        }
    }
}

/// One MSI-X table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsixEntry {
    /// Message address (the device writes `data` here).
    pub address: u64,
    /// Message data.
    pub data: u32,
    /// Vector control bit 0.
    pub masked: bool,
}

/// An MSI-X table entry pointed at a guest-RAM word: when the device raises the vector it
/// stores `data` there (a 32-bit little-endian write, igb-qemu.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsixMailbox {
    /// Table entry (vector) number.
    pub entry: u16,
    /// Guest-physical address of the mailbox word.
    pub gpa: u64,
    /// The data the entry sends (never 0, which means "empty").
    pub data: u32,
}

/// The igb NIC of a [`Qemu`], with its PCI resources assigned. Owns the `Qemu`.
#[derive(Debug)]
pub struct Igb {
    qemu: Qemu,
    pci_address: PciAddress,
    bar0: u64,
    bar0_size: u64,
    msix: MsixCapability,
    msix_table: u64,
    msix_pba: u64,
    reg_reads: AtomicU64,
    reg_writes: AtomicU64,
}

impl Igb {
    /// Checks the device is an 82576, assigns its BARs as in `layout`, enables I/O, memory
    /// and bus mastering (igb-qemu.md §2 steps 1-2), and locates the MSI-X table and PBA from
    /// the MSI-X capability. MSI-X itself stays disabled; see [`Igb::msix_set_control`].
    pub fn attach(qemu: Qemu, layout: BarLayout) -> Result<Self> {
        let pci_address = PciAddress::new(0, IGB_PCI_DEVICE, 0)?;
        let pci = PciConfig::new(qemu.qtest(), pci_address);
        let (vendor, device) = pci.ids()?;
        if (vendor, device) != (INTEL_VENDOR_ID, IGB_82576_DEVICE_ID) {
            return Err(Error::Device(format!(
                "00:{IGB_PCI_DEVICE:02x}.0 is {vendor:04x}:{device:04x}, not an 82576 \
                 ({INTEL_VENDOR_ID:04x}:{IGB_82576_DEVICE_ID:04x})"
            )));
        }
        let bar0 = pci.assign_bar(0, layout.registers)?;
        if bar0.kind == BarKind::Io {
            return Err(Error::Device("BAR0 is not a memory BAR".to_owned()));
        }
        pci.assign_bar(1, layout.flash)?;
        pci.assign_bar(2, u64::from(layout.io_ports))?;
        pci.assign_bar(3, layout.msix)?;
        // Bus master is required for RX DMA (e1000x_rx_ready) and MSI-X writes (§2 step 2).
        pci.set_command(COMMAND_IO_SPACE | COMMAND_MEMORY_SPACE | COMMAND_BUS_MASTER)?;

        let msix = pci.msix_capability()?;
        let bar_base = |bir: u8| -> Result<(u64, u64)> {
            let info = pci.size_bar(bir)?.ok_or_else(|| {
                Error::Device(format!("MSI-X structures in unimplemented BAR{bir}"))
            })?;
            if info.kind == BarKind::Io {
                return Err(Error::Device(format!("MSI-X structures in I/O BAR{bir}")));
            }
            Ok((pci.bar_address(bir, info.kind)?, info.size))
        };
        let (table_bar, table_bar_size) = bar_base(msix.table_bir)?;
        let (pba_bar, pba_bar_size) = bar_base(msix.pba_bir)?;
        let table_len = u64::from(msix.table_size) * MSIX_ENTRY_SIZE;
        let pba_len = u64::from(msix.table_size).div_ceil(64) * 8;
        if u64::from(msix.table_offset) + table_len > table_bar_size
            || u64::from(msix.pba_offset) + pba_len > pba_bar_size
        {
            return Err(Error::Device(format!("MSI-X table or PBA exceeds its BAR: {msix:?}")));
        }
        Ok(Igb {
            pci_address,
            bar0: layout.registers,
            bar0_size: bar0.size,
            msix_table: table_bar + u64::from(msix.table_offset),
            msix_pba: pba_bar + u64::from(msix.pba_offset),
            msix,
            reg_reads: AtomicU64::new(0),
            reg_writes: AtomicU64::new(0),
            qemu,
        })
    }

    /// The QEMU this NIC lives in.
    #[must_use]
    pub fn qemu(&self) -> &Qemu {
        &self.qemu
    }

    /// Gives the QEMU back (it keeps running).
    #[must_use]
    pub fn into_qemu(self) -> Qemu {
        self.qemu
    }

    /// PCI configuration space of the NIC.
    #[must_use]
    pub fn pci(&self) -> PciConfig<'_> {
        PciConfig::new(self.qemu.qtest(), self.pci_address)
    }

    /// Guest-physical address of BAR0.
    #[must_use]
    pub fn bar0(&self) -> u64 {
        self.bar0
    }

    /// Size of BAR0 as found by sizing it.
    #[must_use]
    pub fn bar0_size(&self) -> u64 {
        self.bar0_size
    }

    fn register_address(&self, offset: u32) -> Result<u64> {
        if offset == regs::INVALID_REGISTER {
            return Err(Error::InvalidArgument(
                "register index out of range (regs::INVALID_REGISTER)".to_owned(),
            ));
        }
        if !offset.is_multiple_of(4) || u64::from(offset) + 4 > self.bar0_size {
            return Err(Error::InvalidArgument(format!(
                "register offset {offset:#x} is not a dword inside BAR0 ({:#x} bytes)",
                self.bar0_size
            )));
        }
        Ok(self.bar0 + u64::from(offset))
    }

    /// Reads the 32-bit register at `offset` in BAR0 (all igb registers are accessed as
    /// 32-bit, igb-qemu.md §2). Counted in [`register_counts`](Self::register_counts).
    pub fn reg_read(&self, offset: u32) -> Result<u32> {
        let address = self.register_address(offset)?;
        self.reg_reads.fetch_add(1, Ordering::Relaxed);
        self.qemu.qtest().readl(address)
    }

    /// Writes the 32-bit register at `offset` in BAR0. Counted.
    pub fn reg_write(&self, offset: u32, value: u32) -> Result<()> {
        let address = self.register_address(offset)?;
        self.reg_writes.fetch_add(1, Ordering::Relaxed);
        self.qemu.qtest().writel(address, value)
    }

    /// Snapshot of the BAR0 access counters. Only [`reg_read`](Self::reg_read) and
    /// [`reg_write`](Self::reg_write) (and helpers built on them) count; MSI-X table and
    /// guest-RAM accesses do not.
    #[must_use]
    pub fn register_counts(&self) -> RegisterCounts {
        RegisterCounts {
            reads: self.reg_reads.load(Ordering::Relaxed),
            writes: self.reg_writes.load(Ordering::Relaxed),
        }
    }

    // ---- MSI-X (the OS side owns the table, igb-qemu.md §6) ------------------------------------

    /// The MSI-X capability as read from config space.
    #[must_use]
    pub fn msix(&self) -> &MsixCapability {
        &self.msix
    }

    /// Number of MSI-X table entries (from the capability, never assumed).
    #[must_use]
    pub fn msix_table_size(&self) -> u16 {
        self.msix.table_size
    }

    /// Guest-physical address of the MSI-X table.
    #[must_use]
    pub fn msix_table_address(&self) -> u64 {
        self.msix_table
    }

    /// Guest-physical address of the MSI-X pending-bit array.
    #[must_use]
    pub fn msix_pba_address(&self) -> u64 {
        self.msix_pba
    }

    /// Every implemented BAR: its sizing result and the address it is programmed with.
    pub fn bars(&self) -> Result<Vec<(BarInfo, u64)>> {
        let pci = self.pci();
        let mut bars = Vec::new();
        let mut index = 0;
        while index < BAR_COUNT {
            match pci.size_bar(index)? {
                Some(info) => {
                    let address = pci.bar_address(index, info.kind)?;
                    // A 64-bit BAR also occupies the next register.
                    index += if matches!(info.kind, BarKind::Memory64 { .. }) { 2 } else { 1 };
                    bars.push((info, address));
                }
                None => index += 1,
            }
        }
        Ok(bars)
    }

    /// Points the MSI capability at the guest-RAM word `gpa` with message `data` and enables
    /// MSI (one message). MSI-X must be disabled for the device to use it.
    pub fn route_msi_to_mailbox(&self, gpa: u64, data: u16) -> Result<MsixMailbox> {
        if data == 0 {
            return Err(Error::InvalidArgument(
                "mailbox data 0 is indistinguishable from an empty mailbox".to_owned(),
            ));
        }
        if !gpa.is_multiple_of(4) {
            return Err(Error::InvalidArgument(format!("mailbox {gpa:#x} is not 4-byte aligned")));
        }
        self.qemu.ram().write_u32(gpa, 0)?;
        self.pci().set_msi(gpa, data, true)?;
        // An MSI write is a 32-bit store of the 16-bit data, zero-extended (PCI 3.0 6.8.3.3).
        Ok(MsixMailbox { entry: 0, gpa, data: u32::from(data) })
    }

    /// Disables MSI.
    pub fn msi_disable(&self) -> Result<()> {
        let pci = self.pci();
        let cap = pci
            .find_capability(super::pci::CAP_ID_MSI)?
            .ok_or_else(|| Error::Device("no MSI capability".to_owned()))?;
        let control = pci.read16(cap + 2)?;
        pci.write16(cap + 2, control & !super::pci::MSI_CONTROL_ENABLE)
    }

    /// Sets or clears the Command register's INTx Disable bit.
    pub fn set_intx_disabled(&self, disabled: bool) -> Result<()> {
        let pci = self.pci();
        let command = pci.command()? & !COMMAND_INTX_DISABLE;
        pci.set_command(if disabled { command | COMMAND_INTX_DISABLE } else { command })
    }

    /// Sets MSI-X Enable / Function Mask (§2 step 3).
    pub fn msix_set_control(&self, enable: bool, function_mask: bool) -> Result<()> {
        self.pci().set_msix_control(&self.msix, enable, function_mask)
    }

    fn msix_entry_address(&self, entry: u16) -> Result<u64> {
        if entry >= self.msix.table_size {
            return Err(Error::InvalidArgument(format!(
                "MSI-X entry {entry} outside the table of {} entries",
                self.msix.table_size
            )));
        }
        Ok(self.msix_table + u64::from(entry) * MSIX_ENTRY_SIZE)
    }

    /// Programs table entry `entry`. The entry is masked while its address and data change,
    /// so the device never sends a half-updated message (what `NdisMConfigMSIXTableEntry`
    /// amounts to, §6), and unmasked at the end unless `value.masked`. Entries are all masked
    /// after reset (§2 step 4).
    pub fn msix_write_entry(&self, entry: u16, value: MsixEntry) -> Result<()> {
        let base = self.msix_entry_address(entry)?;
        let mut s = self.qemu.qtest().session();
        s.writel(base + 12, MSIX_VECTOR_CONTROL_MASKED)?;
        s.writel(base, (value.address & 0xFFFF_FFFF) as u32)?;
        s.writel(base + 4, (value.address >> 32) as u32)?;
        s.writel(base + 8, value.data)?;
        if !value.masked {
            s.writel(base + 12, 0)?;
        }
        Ok(())
    }

    /// Reads table entry `entry`.
    pub fn msix_read_entry(&self, entry: u16) -> Result<MsixEntry> {
        let base = self.msix_entry_address(entry)?;
        let mut s = self.qemu.qtest().session();
        let low = s.readl(base)?;
        let high = s.readl(base + 4)?;
        let data = s.readl(base + 8)?;
        let control = s.readl(base + 12)?;
        Ok(MsixEntry {
            address: (u64::from(high) << 32) | u64::from(low),
            data,
            masked: control & MSIX_VECTOR_CONTROL_MASKED != 0,
        })
    }

    /// Masks or unmasks one vector. Unmasking delivers a pending message at once (§6).
    pub fn msix_set_masked(&self, entry: u16, masked: bool) -> Result<()> {
        let base = self.msix_entry_address(entry)?;
        self.qemu.qtest().writel(base + 12, u32::from(masked))
    }

    /// Whether the PBA has `entry`'s pending bit set.
    pub fn msix_pending(&self, entry: u16) -> Result<bool> {
        self.msix_entry_address(entry)?;
        let word = self.qemu.qtest().readl(self.msix_pba + u64::from(entry / 32) * 4)?;
        Ok(word >> (entry % 32) & 1 == 1)
    }

    /// Points table entry `entry` at the guest-RAM word `gpa` with message `data` and unmasks
    /// it. The mailbox is cleared first. A real `0xFEEx_xxxx` address would go to the halted
    /// CPU's LAPIC where nothing can observe it, hence RAM (§6).
    pub fn route_msix_to_mailbox(&self, entry: u16, gpa: u64, data: u32) -> Result<MsixMailbox> {
        if data == 0 {
            return Err(Error::InvalidArgument(
                "mailbox data 0 is indistinguishable from an empty mailbox".to_owned(),
            ));
        }
        if !gpa.is_multiple_of(4) {
            return Err(Error::InvalidArgument(format!("mailbox {gpa:#x} is not 4-byte aligned")));
        }
        self.qemu.ram().write_u32(gpa, 0)?;
        self.msix_write_entry(entry, MsixEntry { address: gpa, data, masked: false })?;
        Ok(MsixMailbox { entry, gpa, data })
    }

    /// Takes the messages that have arrived in `mailboxes` without waiting: returns
    /// `(entry, value)` for each non-empty mailbox, in the order given, and empties them.
    ///
    /// A qtest round trip first acts as a barrier, so every message belonging to a frame QEMU
    /// was already processing has landed (igb-qemu.md §7).
    pub fn take_mailboxes(&self, mailboxes: &[MsixMailbox]) -> Result<Vec<(u16, u32)>> {
        self.qemu.qtest().sync()?;
        let mut fired = Vec::new();
        for mailbox in mailboxes {
            // Swap, not read-then-clear: a message landing in between is not lost.
            let value = self.qemu.ram().swap_u32(mailbox.gpa, 0)?;
            if value != 0 {
                fired.push((mailbox.entry, value));
            }
        }
        Ok(fired)
    }

    /// Waits up to `timeout` for any of `mailboxes` to be written, then returns (and empties)
    /// every written mailbox as `(entry, value)`. Empty if nothing arrived in time. A mailbox
    /// holds the last value written, not a count (§6).
    pub fn poll_mailboxes(
        &self,
        mailboxes: &[MsixMailbox],
        timeout: Duration,
    ) -> Result<Vec<(u16, u32)>> {
        let deadline = Instant::now() + timeout;
        loop {
            for mailbox in mailboxes {
                if self.qemu.ram().read_u32(mailbox.gpa)? != 0 {
                    return self.take_mailboxes(mailboxes);
                }
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    // ---- Device bring-up helpers (igb-qemu.md §3) --------------------------------------------

    /// Software reset: CTRL |= RST. Synchronous in QEMU; the link drops and RAR0 is restored
    /// to the permanent MAC with POOLSEL = 0 (§3, §13.1). The MSI-X table is not touched.
    pub fn reset(&self) -> Result<()> {
        let ctrl = self.reg_read(regs::CTRL)?;
        self.reg_write(regs::CTRL, ctrl | regs::CTRL_RST)?;
        if self.reg_read(regs::CTRL)? & regs::CTRL_RST != 0 {
            return Err(Error::Device("CTRL.RST did not self-clear".to_owned()));
        }
        Ok(())
    }

    /// The MAC in receive-address register 0 (valid after reset, §3).
    pub fn mac_from_rar0(&self) -> Result<MacAddress> {
        let low = self.reg_read(regs::RAL(0))?.to_le_bytes();
        let high = self.reg_read(regs::RAH(0))?;
        if high & regs::RAH_AV == 0 {
            return Err(Error::Device(format!("RAR0 is not valid (RAH0 = {high:#010x})")));
        }
        let high = high.to_le_bytes();
        Ok(MacAddress([low[0], low[1], low[2], low[3], high[0], high[1]]))
    }

    /// Reads one 16-bit EEPROM word through EERD (§3).
    pub fn eeprom_read(&self, word: u8) -> Result<u16> {
        self.reg_write(regs::EERD, (u32::from(word) << regs::EERD_ADDR_SHIFT) | regs::EERD_START)?;
        // QEMU completes the read synchronously; a few retries cover hardware-like delay.
        for _ in 0..10 {
            let value = self.reg_read(regs::EERD)?;
            if value & regs::EERD_DONE != 0 {
                return Ok((value >> regs::EERD_DATA_SHIFT) as u16);
            }
        }
        Err(Error::Device(format!("EEPROM read of word {word} never completed")))
    }

    /// The MAC from EEPROM words 0-2 (little-endian, §3).
    pub fn mac_from_eeprom(&self) -> Result<MacAddress> {
        let mut mac = [0u8; 6];
        for (word, pair) in mac.chunks_exact_mut(2).enumerate() {
            let index = u8::try_from(word).unwrap_or(u8::MAX);
            pair.copy_from_slice(&self.eeprom_read(index)?.to_le_bytes());
        }
        Ok(MacAddress(mac))
    }

    fn mdic(&self, command: u32) -> Result<u16> {
        self.reg_write(regs::MDIC, command)?;
        // MDIC completes at once in QEMU (READY set on the write, §3).
        for _ in 0..10 {
            let value = self.reg_read(regs::MDIC)?;
            if value & regs::MDIC_ERROR != 0 {
                return Err(Error::Device(format!("MDIC error ({value:#010x})")));
            }
            if value & regs::MDIC_READY != 0 {
                return Ok((value & 0xFFFF) as u16);
            }
        }
        Err(Error::Device("MDIC never became ready".to_owned()))
    }

    /// Writes PHY register `reg` of PHY 1 (the only address QEMU accepts, §3).
    pub fn phy_write(&self, reg: u32, value: u16) -> Result<()> {
        if reg > 31 {
            return Err(Error::InvalidArgument(format!("PHY register {reg} > 31")));
        }
        self.mdic(
            u32::from(value)
                | (reg << regs::MDIC_REG_SHIFT)
                | (1 << regs::MDIC_PHY_SHIFT)
                | regs::MDIC_OP_WRITE,
        )
        .map(drop)
    }

    /// Reads PHY register `reg` of PHY 1.
    pub fn phy_read(&self, reg: u32) -> Result<u16> {
        if reg > 31 {
            return Err(Error::InvalidArgument(format!("PHY register {reg} > 31")));
        }
        self.mdic((reg << regs::MDIC_REG_SHIFT) | (1 << regs::MDIC_PHY_SHIFT) | regs::MDIC_OP_READ)
    }

    /// Restarts auto-negotiation and waits for STATUS.LU. CTRL.SLU is ignored by QEMU: link
    /// only comes from the PHY's 500 ms autoneg timer, which runs in wall-clock time under
    /// TCG (§3, §13.8). Returns how long it took.
    pub fn link_up(&self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        self.phy_write(
            regs::PHY_BMCR,
            regs::BMCR_AUTOEN | regs::BMCR_ANRESTART | regs::BMCR_FD | regs::BMCR_SPEED1000,
        )?;
        loop {
            if self.reg_read(regs::STATUS)? & regs::STATUS_LU != 0 {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: "STATUS.LU after restarting auto-negotiation".to_owned(),
                    after: timeout,
                    log_tail: self.qemu.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn set_ivar_byte(&self, register: u32, shift: u32, vector: u16) -> Result<()> {
        if vector >= self.msix.table_size {
            return Err(Error::InvalidArgument(format!(
                "vector {vector} outside the MSI-X table of {} entries",
                self.msix.table_size
            )));
        }
        let old = self.reg_read(register)? & !(0xFF << shift);
        let byte = regs::IVAR_VALID | (u32::from(vector) & regs::IVAR_VECTOR_MASK);
        self.reg_write(register, old | (byte << shift))
    }

    /// Routes RX queue `queue` (0..16) to MSI-X `vector` (IVAR byte 0 or 2, §6).
    pub fn set_ivar_rx(&self, queue: u32, vector: u16) -> Result<()> {
        let (register, shift) =
            if queue < 8 { (regs::IVAR(queue), 0) } else { (regs::IVAR(queue - 8), 16) };
        self.set_ivar_byte(register, shift, vector)
    }

    /// Routes TX queue `queue` (0..16) to MSI-X `vector` (IVAR byte 1 or 3, §6).
    pub fn set_ivar_tx(&self, queue: u32, vector: u16) -> Result<()> {
        let (register, shift) =
            if queue < 8 { (regs::IVAR(queue), 8) } else { (regs::IVAR(queue - 8), 24) };
        self.set_ivar_byte(register, shift, vector)
    }

    /// Routes the "other" causes enabled in IMS (LSC, RXO, ...) to MSI-X `vector`
    /// (IVAR_MISC byte 1, §6).
    pub fn set_ivar_misc(&self, vector: u16) -> Result<()> {
        self.set_ivar_byte(regs::IVAR_MISC, regs::IVAR_MISC_OTHER_SHIFT, vector)
    }
}
