//! Bring-up: reset, the permanent MAC address, and the link (igb-qemu §3, §10).

use super::regs::{
    BMCR_ANRESTART, BMCR_AUTOEN, BMCR_FD, BMCR_SPEED1000, CTRL, CTRL_FRCDPX, CTRL_FRCSPD,
    CTRL_GIO_MASTER_DISABLE, CTRL_RST, CTRL_SLU, EECD, EECD_AUTO_RD, EERD, EERD_ADDR_SHIFT,
    EERD_DATA_SHIFT, EERD_DONE, EERD_START, EICR, EIMC, ICR, IMC, MDIC, MDIC_DATA_MASK, MDIC_ERROR,
    MDIC_OP_WRITE, MDIC_PHY_SHIFT, MDIC_READY, MDIC_REG_SHIFT, PHY_ADDRESS, PHY_BMCR, RAH, RAH_AV,
    RAL, RCTL, STATUS, STATUS_FD, STATUS_GIO_MASTER_ENABLE, STATUS_LU, STATUS_SPEED_100,
    STATUS_SPEED_MASK, TCTL, TCTL_PSP,
};
use super::{ALL_ONES, IgbError, Registers, Stall, read_live};

/// Polls of STATUS.GIO_MASTER_ENABLE after CTRL.GIO_MASTER_DISABLE (Linux igb's
/// `MASTER_DISABLE_TIMEOUT`): at most 80 ms for outstanding PCIe master requests to drain.
pub const MASTER_DISABLE_POLLS: u32 = 800;
/// Stall between [`MASTER_DISABLE_POLLS`], in µs.
pub const MASTER_DISABLE_POLL_US: u32 = 100;
/// Stall after setting CTRL.RST before the first register read, in µs. QEMU resets
/// synchronously (igb-qemu §3); silicon needs time before CTRL reads back meaningfully.
pub const RESET_SETTLE_US: u32 = 1_000;
/// Polls of CTRL.RST (self-clearing) after [`RESET_SETTLE_US`].
pub const RESET_POLLS: u32 = 10;
/// Stall between [`RESET_POLLS`], in µs.
pub const RESET_POLL_US: u32 = 100;
/// Polls of EECD.AUTO_RD (the NVM has been loaded into the registers) after a reset, as Linux
/// igb's `AUTO_READ_DONE_TIMEOUT`.
pub const AUTO_READ_POLLS: u32 = 10;
/// Stall between [`AUTO_READ_POLLS`], in µs.
pub const AUTO_READ_POLL_US: u32 = 1_000;
/// Polls of EERD.DONE per EEPROM word. QEMU answers at once; an SPI EEPROM word takes tens of
/// µs, so the 5 ms bound is generous without being a hang.
pub const EERD_POLLS: u32 = 1_000;
/// Stall between [`EERD_POLLS`], in µs.
pub const EERD_POLL_US: u32 = 5;
/// Polls of MDIC.READY per PHY access. QEMU sets READY on the write itself (igb-qemu §3); one
/// MDIO frame at 2.5 MHz takes about 26 µs, so 10 ms is a wide margin.
pub const MDIC_POLLS: u32 = 200;
/// Stall between [`MDIC_POLLS`], in µs.
pub const MDIC_POLL_US: u32 = 50;

/// Reads `offset` until `done` accepts the value: at most `polls` reads, with `stall_us`
/// between two reads (none before the first, so a device that is already done costs one read).
/// `None` if it never was; [`IgbError::DeviceGone`] as soon as a read returns all-ones.
pub(super) fn poll(
    regs: &impl Registers,
    stall: &impl Stall,
    offset: u32,
    polls: u32,
    stall_us: u32,
    done: impl Fn(u32) -> bool,
) -> Result<Option<u32>, IgbError> {
    for attempt in 0..polls {
        let value = read_live(regs, offset)?;
        if done(value) {
            return Ok(Some(value));
        }
        if attempt + 1 < polls {
            stall.stall_us(stall_us);
        }
    }
    Ok(None)
}

/// Masks every interrupt cause, legacy (IMC) and per-vector (EIMC).
fn mask_all(regs: &impl Registers) {
    regs.write32(IMC, ALL_ONES);
    regs.write32(EIMC, ALL_ONES);
}

/// Resets the MAC (CTRL.RST) and leaves it quiet: every interrupt masked, no cause pending,
/// receive and transmit off, the link down, RAR0 back to the permanent address.
///
/// The sequence is Linux igb's `igb_reset_hw_82575` for the 82576:
/// 1. Mask all interrupts, stop the receiver and transmitter, and set CTRL.GIO_MASTER_DISABLE,
///    then wait (bounded, [`MASTER_DISABLE_POLLS`]) for STATUS.GIO_MASTER_ENABLE to clear, so no
///    DMA is in flight on the PCIe link when the MAC resets. A timeout is not an error, as in
///    Linux: resetting a device with a stuck request is better than leaving it running. QEMU
///    models the handshake (the bit clears at once).
/// 2. Set CTRL.RST, stall [`RESET_SETTLE_US`], then wait (bounded, [`RESET_POLLS`]) for it to
///    self-clear. QEMU resets synchronously and RST reads back 0 at once (igb-qemu §3).
/// 3. Wait (bounded, [`AUTO_READ_POLLS`]) for EECD.AUTO_RD, the datasheet's "registers loaded
///    from the NVM" flag. **QEMU never sets it**, so on QEMU this always runs out (10 ms); like
///    Linux, a missing AUTO_RD is tolerated because a board without NVM never sets it either.
/// 4. Mask all interrupts again and clear ICR (read and write-1s) and EICR (write-1s), so a
///    stale cause cannot fire the moment the driver unmasks.
///
/// What the reset does not touch (igb-qemu §3, §6): the MSI-X table (PCI state owned by the OS)
/// and, in QEMU, EITR and RXPBS/TXPBS. The link goes down, and after reset RAR0 holds the
/// permanent MAC with POOLSEL = 0 (igb-qemu §13.1).
///
/// # Errors
/// [`IgbError::DeviceGone`] if STATUS (or any register polled) reads all-ones, before or during
/// the reset; [`IgbError::ResetTimeout`] if CTRL.RST never self-clears.
pub fn reset(regs: &impl Registers, stall: &impl Stall) -> Result<(), IgbError> {
    read_live(regs, STATUS)?;

    mask_all(regs);
    regs.write32(RCTL, 0);
    regs.write32(TCTL, TCTL_PSP);
    let ctrl = read_live(regs, CTRL)?;
    regs.write32(CTRL, ctrl | CTRL_GIO_MASTER_DISABLE);
    // Not fatal if it never clears: see step 1.
    poll(regs, stall, STATUS, MASTER_DISABLE_POLLS, MASTER_DISABLE_POLL_US, |status| {
        status & STATUS_GIO_MASTER_ENABLE == 0
    })?;

    regs.write32(CTRL, ctrl | CTRL_GIO_MASTER_DISABLE | CTRL_RST);
    stall.stall_us(RESET_SETTLE_US);
    poll(regs, stall, CTRL, RESET_POLLS, RESET_POLL_US, |ctrl| ctrl & CTRL_RST == 0)?
        .ok_or(IgbError::ResetTimeout)?;
    // Not fatal if it never sets: see step 3.
    poll(regs, stall, EECD, AUTO_READ_POLLS, AUTO_READ_POLL_US, |eecd| eecd & EECD_AUTO_RD != 0)?;

    mask_all(regs);
    read_live(regs, ICR)?;
    regs.write32(ICR, ALL_ONES);
    regs.write32(EICR, ALL_ONES);
    read_live(regs, STATUS)?;
    Ok(())
}

/// Whether `mac` can be the adapter's own address: not all-zero, and not a group address (the
/// I/G bit, which also rules out broadcast and the all-ones of an erased EEPROM).
#[must_use]
pub(super) const fn is_usable_mac(mac: [u8; 6]) -> bool {
    let all_zero = mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5] == 0;
    !all_zero && mac[0] & 1 == 0
}

/// One EEPROM word through EERD: write (word << 2) | START, poll DONE, take bits 31:16
/// (igb-qemu §3; the same layout as Linux igb's `E1000_NVM_RW_*`). `None` if DONE never came.
fn eeprom_word(
    regs: &impl Registers,
    stall: &impl Stall,
    word: u32,
) -> Result<Option<u16>, IgbError> {
    regs.write32(EERD, (word << EERD_ADDR_SHIFT) | EERD_START);
    let done = poll(regs, stall, EERD, EERD_POLLS, EERD_POLL_US, |eerd| eerd & EERD_DONE != 0)?;
    // The shift leaves exactly the 16 data bits.
    #[allow(clippy::cast_possible_truncation)]
    Ok(done.map(|eerd| (eerd >> EERD_DATA_SHIFT) as u16))
}

/// The MAC in EEPROM words 0-2, little-endian within each word. `None` if a read timed out.
fn mac_from_eeprom(regs: &impl Registers, stall: &impl Stall) -> Result<Option<[u8; 6]>, IgbError> {
    let mut mac = [0u8; 6];
    for (word, pair) in (0u32..).zip(mac.chunks_exact_mut(2)) {
        let Some(value) = eeprom_word(regs, stall, word)? else { return Ok(None) };
        pair.copy_from_slice(&value.to_le_bytes());
    }
    Ok(Some(mac))
}

/// The MAC in RAR0 if its Address Valid bit is set. RAL0 is read as is (0xFFFFFFFF is a
/// multicast prefix, rejected later, not proof of removal); RAH0 can never be all-ones on a live
/// device because its reserved bits read as zero.
fn mac_from_rar0(regs: &impl Registers) -> Result<Option<[u8; 6]>, IgbError> {
    let low = regs.read32(RAL(0)).to_le_bytes();
    let high = read_live(regs, RAH(0))?;
    if high & RAH_AV == 0 {
        return Ok(None);
    }
    let high = high.to_le_bytes();
    Ok(Some([low[0], low[1], low[2], low[3], high[0], high[1]]))
}

/// The adapter's permanent MAC address: EEPROM words 0-2 through EERD, or, if that read does
/// not complete or gives an unusable address, RAR0 (which the hardware loads from the same
/// EEPROM at reset, igb-qemu §3).
///
/// Call after [`reset`], so RAR0 holds the hardware-loaded value and not whatever an earlier
/// driver programmed. Each EEPROM word is polled at most [`EERD_POLLS`] times.
///
/// Not verified on silicon: on a dual-port board, EEPROM words 0-2 are the first port's address,
/// and the second port's is derived from it. Linux igb reads the 82576's address from RAR0,
/// which the hardware loads per port at reset, so on such boards RAR0 would be the better first
/// source. QEMU's 82576 is a single function, where both sources agree.
///
/// # Errors
/// [`IgbError::DeviceGone`] on an all-ones read (never reported as an address);
/// [`IgbError::NoPermanentMac`] if neither source holds a unicast, non-zero address.
pub fn read_permanent_mac(regs: &impl Registers, stall: &impl Stall) -> Result<[u8; 6], IgbError> {
    if let Some(mac) = mac_from_eeprom(regs, stall)?
        && is_usable_mac(mac)
    {
        return Ok(mac);
    }
    mac_from_rar0(regs)?.filter(|mac| is_usable_mac(*mac)).ok_or(IgbError::NoPermanentMac)
}

/// The link as STATUS reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkState {
    /// STATUS.LU.
    pub up: bool,
    /// 10, 100 or 1000 while the link is up; 0 while it is down (STATUS keeps reporting a
    /// speed then, but it describes no link).
    pub speed_mbps: u32,
    /// STATUS.FD while the link is up; `false` while it is down.
    pub full_duplex: bool,
}

impl LinkState {
    /// No link.
    pub const DOWN: Self = Self { up: false, speed_mbps: 0, full_duplex: false };

    /// Decodes a STATUS value: LU (bit 1), FD (bit 0), speed (bits 7:6: 00 = 10, 01 = 100,
    /// 1x = 1000 Mb/s).
    #[must_use]
    pub const fn from_status(status: u32) -> Self {
        if status & STATUS_LU == 0 {
            return Self::DOWN;
        }
        let speed_mbps = match status & STATUS_SPEED_MASK {
            0 => 10,
            STATUS_SPEED_100 => 100,
            _ => 1_000, // bit 7 (STATUS_SPEED_1000), with or without bit 6
        };
        Self { up: true, speed_mbps, full_duplex: status & STATUS_FD != 0 }
    }
}

/// The current link state (one STATUS read; safe at any IRQL).
///
/// QEMU reports 1000 Mb/s full duplex whenever the link is up (STATUS 0x80080483), and sets
/// STATUS.LU only when its autoneg timer fires, 0.5 s after [`start_link`] (igb-qemu §3).
///
/// # Errors
/// [`IgbError::DeviceGone`] if STATUS reads all-ones (which would otherwise decode as "up,
/// 1000 Mb/s, full duplex").
pub fn link_state(regs: &impl Registers) -> Result<LinkState, IgbError> {
    read_live(regs, STATUS).map(LinkState::from_status)
}

/// Writes PHY register `reg` through MDIC and waits (bounded) for READY.
fn phy_write(
    regs: &impl Registers,
    stall: &impl Stall,
    reg: u32,
    value: u32,
) -> Result<(), IgbError> {
    regs.write32(
        MDIC,
        (value & MDIC_DATA_MASK)
            | (reg << MDIC_REG_SHIFT)
            | (PHY_ADDRESS << MDIC_PHY_SHIFT)
            | MDIC_OP_WRITE,
    );
    let mdic = poll(regs, stall, MDIC, MDIC_POLLS, MDIC_POLL_US, |mdic| {
        mdic & (MDIC_READY | MDIC_ERROR) != 0
    })?
    .ok_or(IgbError::PhyTimeout)?;
    if mdic & MDIC_ERROR != 0 {
        return Err(IgbError::PhyError);
    }
    Ok(())
}

/// Starts bringing the copper link up: CTRL.SLU with speed and duplex left to the PHY
/// (FRCSPD/FRCDPX cleared, as Linux igb's `igb_setup_copper_link_82575`), then a PHY
/// auto-negotiation restart (BMCR = AUTOEN | ANRESTART | FD | SPEED1000 on PHY address 1, the
/// MDIC value 0x04201340 of igb-qemu §3).
///
/// Both halves are needed, for different reasons: silicon needs SLU for the MAC to follow the
/// PHY's link, and **QEMU ignores SLU** and raises the link only from the autoneg timer that the
/// BMCR restart arms. The link does not come up here: STATUS.LU and the ICR.LSC interrupt follow
/// about 500 ms later in QEMU (wall-clock time under TCG, igb-qemu §3, §13.8), and after every
/// [`reset`] this must be called again.
///
/// The PHY is accessed without the software/firmware semaphore (SW_FW_SYNC) Linux takes for
/// boards with manageability firmware; QEMU has none.
///
/// # Errors
/// [`IgbError::DeviceGone`], [`IgbError::PhyTimeout`] or [`IgbError::PhyError`].
pub fn start_link(regs: &impl Registers, stall: &impl Stall) -> Result<(), IgbError> {
    let ctrl = read_live(regs, CTRL)?;
    regs.write32(CTRL, (ctrl | CTRL_SLU) & !(CTRL_FRCSPD | CTRL_FRCDPX));
    phy_write(regs, stall, PHY_BMCR, BMCR_AUTOEN | BMCR_ANRESTART | BMCR_FD | BMCR_SPEED1000)
}
