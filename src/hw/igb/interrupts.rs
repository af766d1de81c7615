//! Interrupt routing for the three kinds of grant the interrupt plan produces
//! ([`crate::interrupt::plan`]): MSI-X with an "other causes" table entry, MSI, and a
//! (possibly shared) line; plus the ISR helpers (igb-qemu §6).
//!
//! # The two modes of the 82576
//!
//! * **MSI-X mode** (GPIE.MSIX_MODE = 1): each RX/TX queue raises the EICR bit of the vector its
//!   IVAR byte names; every "other" cause enabled in IMS (link change, ...) raises the vector in
//!   IVAR_MISC byte 1. EICR bit v is MSI-X table entry v. A vector fires when `EICR & EIMS` gains
//!   a bit (edge-triggered), so software masks a vector with EIMC while its DPC runs and unmasks
//!   it with EIMS, which re-fires at once if a cause arrived meanwhile (igb-qemu §6).
//! * **Single-vector mode** (GPIE.MSIX_MODE = 0), for MSI and line-based interrupts: every cause
//!   is an ICR bit, and `ICR & IMS` drives the one message or the line. IVAR is ignored (by
//!   silicon; QEMU needs queue 0's TX byte valid to raise ICR.TXDW, see
//!   [`configure_single_vector`]).
//!
//! An MSI-X grant of one message is served by MSI-X mode with everything routed to entry 0.

use super::regs::{
    EIAC, EICS, EIMC, EIMS, EITR, GPIE, GPIE_MSIX_MODE, GPIE_NSICR, GPIE_PBA, IAM, ICR,
    ICR_INT_ASSERTED, ICR_LSC, ICR_RXDMT0, ICR_RXDW, ICR_RXO, ICR_TXDW, IMC, IMS,
    IVAR_HIGH_QUEUE_SHIFT, IVAR_MISC, IVAR_MISC_OTHER_SHIFT, IVAR_RX_SHIFT, IVAR_TX_SHIFT,
    IVAR_VALID, IVAR0, NUM_QUEUES, NUM_VECTORS, STATUS,
};
use super::{ALL_ONES, IgbError, Registers, read_live};

/// The ICR causes enabled in IMS in MSI-X mode, i.e. what raises the "other causes" vector:
/// the link-status change only. Queue completions have their own vectors; RX overruns and the
/// like stay latched in ICR and are reported by [`other_causes`] without raising it (Linux igb
/// enables LSC plus two error causes it only counts).
pub const MSIX_OTHER_CAUSES: u32 = ICR_LSC;

/// The ICR causes enabled in IMS in single-vector mode (MSI or line): link change, RX and TX
/// descriptor write-back, and RX descriptors running low, the subset of Linux igb's
/// `IMS_ENABLE_MASK` the driver acts on.
pub const SINGLE_VECTOR_CAUSES: u32 = ICR_LSC | ICR_RXDW | ICR_RXDMT0 | ICR_TXDW;

/// The EICR/EIMS bits of every vector the register file has.
const ALL_VECTORS: u32 = (1 << NUM_VECTORS) - 1;

/// The EICR/EIMS/EIAC bit of `entry`, if the register file can address it.
const fn vector_bit(entry: u32) -> Result<u32, IgbError> {
    if entry < NUM_VECTORS { Ok(1 << entry) } else { Err(IgbError::InvalidEntry(entry)) }
}

/// Sets `bits` in EIAC with a read-modify-write. On silicon EIAC is an ordinary register, so a
/// plain write would clear the other vectors' bits; QEMU ORs every write in anyway (igb-qemu §6).
fn set_auto_clear(regs: &impl Registers, bits: u32) -> Result<(), IgbError> {
    let eiac = read_live(regs, EIAC)?;
    regs.write32(EIAC, eiac | bits);
    Ok(())
}

/// Reads STATUS so that the posted writes before it have reached the device (Linux's `wrfl()`),
/// and checks the device is still there.
fn flush(regs: &impl Registers) -> Result<(), IgbError> {
    read_live(regs, STATUS).map(drop)
}

/// Puts the device in MSI-X mode with the "other causes" on table entry `other_entry`, and
/// enables that entry for the link-status change.
///
/// In this order (Linux igb's `igb_configure_msix` and `igb_irq_enable`, checked against
/// igb-qemu §6 and §10):
/// 1. GPIE = MSIX_MODE | NSICR | PBA, **first**: "Turn on MSI-X capability first, or our settings
///    won't stick" (Linux). In QEMU, EIAC ignores writes and EIMS/EIMC/EICS/EICR accept another
///    bit mask until MSIX_MODE is set (igb-qemu §13.3). NSICR makes every ICR read clear ICR: without it,
///    QEMU never clears ICR on read in MSI-X mode, and a link change that stays latched cannot
///    raise the vector again (causes are edge-triggered, igb-qemu §6). EIAME is left off: QEMU
///    implements no auto-masking, and the driver masks vectors itself.
/// 2. IVAR_MISC byte 1 = VALID | `other_entry`: every IMS-enabled ICR cause goes to that vector.
///    Byte 0 (the TCP timer) stays invalid.
/// 3. `EITR(other_entry)` = 0: no throttling of the rare link events. EITR survives CTRL.RST in
///    QEMU (igb-qemu §6), so it is set rather than assumed.
/// 4. EIAC |= the entry's bit: EICR auto-clears when the message is sent, so the next cause
///    sends a new message without the ISR touching EICR (igb-qemu §6). EIAM is not written:
///    reset leaves it 0 (no auto-masking; the driver masks vectors itself), and QEMU's write
///    handler is broken (a write ORs in the complement, so writing 0 sets every bit).
/// 5. IAM = 0: with NSICR set, every ICR read would also clear the IAM bits from IMS (the
///    legacy auto-mask; QEMU's `igb_nsicr`), silently disabling the link interrupt after the first
///    [`other_causes`]. Reset clears IAM; it is written anyway so nothing depends on history.
/// 6. IMS = [`MSIX_OTHER_CAUSES`], then EIMS = the entry's bit.
///
/// Call after [`super::reset`] (which leaves every IVAR invalid and EIAC clear) and before
/// routing queues; the MSI-X table itself (address, data, mask) is programmed by the OS.
///
/// # Errors
/// [`IgbError::InvalidEntry`] (nothing written) or [`IgbError::DeviceGone`].
pub fn configure_msix(regs: &impl Registers, other_entry: u32) -> Result<(), IgbError> {
    let bit = vector_bit(other_entry)?;
    regs.write32(GPIE, GPIE_MSIX_MODE | GPIE_NSICR | GPIE_PBA);
    regs.write32(IVAR_MISC, (IVAR_VALID | other_entry) << IVAR_MISC_OTHER_SHIFT);
    regs.write32(EITR(other_entry), 0);
    set_auto_clear(regs, bit)?;
    regs.write32(IAM, 0);
    regs.write32(IMS, MSIX_OTHER_CAUSES);
    regs.write32(EIMS, bit);
    flush(regs)
}

/// Puts the device in single-vector mode for an MSI or a line-based interrupt: GPIE without
/// MSIX_MODE (every cause through ICR, igb-qemu §6), no ICR-read auto-masking (IAM = 0), and
/// IMS = [`SINGLE_VECTOR_CAUSES`].
///
/// Queue 0's RX and TX IVAR bytes are also made valid (vector 0). The datasheet says IVAR is
/// ignored in this mode, but QEMU's 82576 raises ICR.TXDW for a transmit completion only when
/// the TX queue's IVAR byte is valid (`igb_start_xmit` raises it together with the EICR bit it
/// takes from IVAR): without this, sends would complete only when another cause ran the DPC.
/// Silicon ignores the bytes, so they cost nothing there.
///
/// The ISR ([`line_interrupt_causes`]) reads ICR, which clears it and deasserts the line; the
/// driver masks with [`disable_all_interrupts`] while its DPC runs and calls this again to
/// unmask (a cause that arrived meanwhile then fires at once).
///
/// # Errors
/// [`IgbError::DeviceGone`].
pub fn configure_single_vector(regs: &impl Registers) -> Result<(), IgbError> {
    regs.write32(GPIE, 0);
    regs.write32(IAM, 0);
    let bytes = (0xFF << IVAR_RX_SHIFT) | (0xFF << IVAR_TX_SHIFT);
    let ivar = read_live(regs, IVAR0(0))?;
    regs.write32(
        IVAR0(0),
        (ivar & !bytes) | (IVAR_VALID << IVAR_RX_SHIFT) | (IVAR_VALID << IVAR_TX_SHIFT),
    );
    regs.write32(IMS, SINGLE_VECTOR_CAUSES);
    flush(regs)
}

/// Which byte of which IVAR0 register routes a queue (igb-qemu §6, Linux igb's
/// `igb_assign_vector` for the 82576): register `queue & 7`; byte 0 for RX / byte 1 for TX of
/// queues 0-7, bytes 2 / 3 for queues 8-15.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IvarSlot {
    /// The IVAR0 register's offset.
    pub(super) register: u32,
    /// The bit position of the queue's byte in it.
    pub(super) shift: u32,
}

/// The IVAR slot of RX (`tx == false`) or TX queue `queue`.
pub(super) const fn ivar_slot(queue: u8, tx: bool) -> Result<IvarSlot, IgbError> {
    let index = queue as u32;
    if index >= NUM_QUEUES {
        return Err(IgbError::InvalidQueue(queue));
    }
    let high = if index >= 8 { IVAR_HIGH_QUEUE_SHIFT } else { 0 };
    let direction = if tx { IVAR_TX_SHIFT } else { IVAR_RX_SHIFT };
    Ok(IvarSlot { register: IVAR0(index & 7), shift: high + direction })
}

/// Writes the IVAR byte of one queue: VALID | entry, or 0 to unroute it. Read-modify-write, so
/// the other three queues sharing the register keep their routes. A routed entry also gets its
/// EIAC bit (auto-clear, see [`configure_msix`]); unrouting leaves EIAC alone, because another
/// queue may share the entry and QEMU cannot clear EIAC bits anyway (igb-qemu §6).
fn route_queue(
    regs: &impl Registers,
    queue: u8,
    tx: bool,
    entry: Option<u32>,
) -> Result<(), IgbError> {
    let slot = ivar_slot(queue, tx)?;
    let (byte, bit) = match entry {
        Some(entry) => (IVAR_VALID | entry, Some(vector_bit(entry)?)),
        None => (0, None),
    };
    let ivar = read_live(regs, slot.register)?;
    regs.write32(slot.register, (ivar & !(0xFF << slot.shift)) | (byte << slot.shift));
    if let Some(bit) = bit {
        set_auto_clear(regs, bit)?;
    }
    Ok(())
}

/// Routes RX queue `queue` (0..16) to MSI-X table entry `entry`, or unroutes it (`None`: its
/// completions then raise no vector). Only meaningful in MSI-X mode; the entry still has to be
/// enabled with [`enable_entry`].
///
/// In QEMU's VMDq mode, pool k receives on RX queue k only, so queues 8-15 never receive
/// (igb-qemu §4, §12); they can be routed all the same.
///
/// # Errors
/// [`IgbError::InvalidQueue`] or [`IgbError::InvalidEntry`] (nothing written), or
/// [`IgbError::DeviceGone`].
pub fn route_rx_queue(
    regs: &impl Registers,
    queue: u8,
    entry: Option<u32>,
) -> Result<(), IgbError> {
    route_queue(regs, queue, false, entry)
}

/// Routes TX queue `queue` (0..16) to MSI-X table entry `entry`, or unroutes it. See
/// [`route_rx_queue`].
///
/// # Errors
/// As [`route_rx_queue`].
pub fn route_tx_queue(
    regs: &impl Registers,
    queue: u8,
    entry: Option<u32>,
) -> Result<(), IgbError> {
    route_queue(regs, queue, true, entry)
}

/// Unmasks MSI-X table entry `entry` (EIMS). If a cause arrived while it was masked, the message
/// is sent at once (igb-qemu §6). One register write: fine in a DPC.
///
/// # Errors
/// [`IgbError::InvalidEntry`] (nothing written).
pub fn enable_entry(regs: &impl Registers, entry: u32) -> Result<(), IgbError> {
    regs.write32(EIMS, vector_bit(entry)?);
    Ok(())
}

/// Masks MSI-X table entry `entry` (EIMC): its causes stay latched in EICR until it is enabled
/// again. One register write: fine in an ISR.
///
/// # Errors
/// [`IgbError::InvalidEntry`] (nothing written).
pub fn disable_entry(regs: &impl Registers, entry: u32) -> Result<(), IgbError> {
    regs.write32(EIMC, vector_bit(entry)?);
    Ok(())
}

/// Masks the MSI-X table entries in `entries` (bit e = entry e) with one EIMC write: what an
/// ISR does for the entries of its message. Bits the register file lacks are ignored.
pub fn mask_entries(regs: &impl Registers, entries: u32) {
    regs.write32(EIMC, entries & ALL_VECTORS);
}

/// Unmasks the entries in `entries` with one EIMS write (a cause that arrived meanwhile fires at
/// once, igb-qemu §6): what a DPC does when its work is done.
pub fn unmask_entries(regs: &impl Registers, entries: u32) {
    regs.write32(EIMS, entries & ALL_VECTORS);
}

/// Raises the entries in `entries` by software (EICS): each unmasked one sends its message at
/// once, as if its queue had completed a descriptor (igb-qemu §6). Used after an entry was
/// re-pointed, so that a cause latched while it was masked is serviced on the new processor.
pub fn trigger_entries(regs: &impl Registers, entries: u32) {
    regs.write32(EICS, entries & ALL_VECTORS);
}

/// Sets entry `entry`'s interrupt throttle: EITR = `interval` (0: every cause interrupts at
/// once; otherwise QEMU waits `(interval & 0x7FFE) × 1024` ns before the next message, the
/// 82576 about a quarter of that, igb-qemu §6). EITR survives CTRL.RST in QEMU, so it is always
/// written rather than assumed.
///
/// # Errors
/// [`IgbError::InvalidEntry`] (nothing written).
pub fn set_throttle(regs: &impl Registers, entry: u32, interval: u32) -> Result<(), IgbError> {
    vector_bit(entry)?;
    regs.write32(EITR(entry), interval);
    Ok(())
}

/// Unmasks the single vector after its DPC (MSI or line): IMS = [`SINGLE_VECTOR_CAUSES`], one
/// write. A cause latched meanwhile asserts the interrupt again at once.
pub fn unmask_single_vector(regs: &impl Registers) {
    regs.write32(IMS, SINGLE_VECTOR_CAUSES);
}

/// Masks every interrupt (IMC and EIMC all-ones), then reads STATUS so the masks have reached
/// the device before the caller goes on (e.g. to NdisMDeregisterInterruptEx). Nothing is
/// reported: if the device is gone, there is nothing left to mask.
pub fn disable_all_interrupts(regs: &impl Registers) {
    regs.write32(IMC, ALL_ONES);
    regs.write32(EIMC, ALL_ONES);
    let _ = regs.read32(STATUS);
}

/// What the MSI-X "other causes" message was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtherCauses {
    /// ICR.LSC: the link went up or down; read [`super::link_state`] (at PASSIVE or DISPATCH
    /// level) to see which.
    pub link_changed: bool,
    /// ICR.RXO: a frame was dropped for lack of descriptors (latched, not an interrupt cause in
    /// MSI-X mode).
    pub rx_overrun: bool,
    /// The raw ICR value, for logging.
    pub icr: u32,
}

impl OtherCauses {
    /// Decodes an ICR value.
    #[must_use]
    pub const fn from_icr(icr: u32) -> Self {
        Self { link_changed: icr & ICR_LSC != 0, rx_overrun: icr & ICR_RXO != 0, icr }
    }
}

/// For the ISR of the "other causes" MSI-X message: reads ICR, which clears it (GPIE.NSICR,
/// set by [`configure_msix`]), and says what happened. One register read; nothing else is
/// touched, so it is safe at DIRQL.
///
/// # Errors
/// [`IgbError::DeviceGone`] if ICR reads all-ones.
pub fn other_causes(regs: &impl Registers) -> Result<OtherCauses, IgbError> {
    read_live(regs, ICR).map(OtherCauses::from_icr)
}

/// What a single-vector (MSI or line) interrupt was about.
///
/// A decoded register snapshot, one flag per ICR bit, not a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Causes {
    /// ICR.LSC: the link went up or down.
    pub link_changed: bool,
    /// ICR.RXDW: receive descriptors were written back.
    pub rx_done: bool,
    /// ICR.RXDMT0: free receive descriptors fell below the threshold.
    pub rx_descriptors_low: bool,
    /// ICR.RXO: a frame was dropped for lack of descriptors.
    pub rx_overrun: bool,
    /// ICR.TXDW: transmit descriptors were written back.
    pub tx_done: bool,
    /// The raw ICR value, for logging.
    pub icr: u32,
}

impl Causes {
    /// Decodes an ICR value.
    #[must_use]
    pub const fn from_icr(icr: u32) -> Self {
        Self {
            link_changed: icr & ICR_LSC != 0,
            rx_done: icr & ICR_RXDW != 0,
            rx_descriptors_low: icr & ICR_RXDMT0 != 0,
            rx_overrun: icr & ICR_RXO != 0,
            tx_done: icr & ICR_TXDW != 0,
            icr,
        }
    }
}

/// For the ISR of a single-vector interrupt (a possibly shared line, or MSI): `Some(causes)`
/// if this device asserted the interrupt, `None` if it did not, in which case a line ISR must
/// return "not mine".
///
/// 1. IMS is read first: with every cause masked the device cannot be asserting, and ICR is left
///    **unread**. That matters on QEMU, where an ICR read in single-vector mode always clears
///    ICR (igb-qemu §6): reading it for another device's interrupt while the driver has masked
///    everything for its DPC would throw away a latched link change.
/// 2. ICR is read (which clears it and deasserts the line) and claimed only if INT_ASSERTED is
///    set **and** an enabled cause is present. The datasheet sets INT_ASSERTED only for an
///    asserted interrupt, which is the test Linux's `igb_intr` makes; QEMU sets it whenever
///    ICR is non-zero, masked causes included (`igb_fix_icr_asserted`), so the mask check keeps
///    the driver from claiming another device's interrupt there.
///
/// With a partial mask (some causes enabled) a masked cause read in step 2 on QEMU is consumed;
/// the driver enables all of [`SINGLE_VECTOR_CAUSES`] or nothing, so that does not arise.
/// Two register reads; nothing is written, so it is safe at DIRQL.
///
/// # Errors
/// [`IgbError::DeviceGone`] if IMS or ICR reads all-ones: the line is not this device's (a line
/// ISR returns "not mine") and the device needs surprise-removal handling.
pub fn line_interrupt_causes(regs: &impl Registers) -> Result<Option<Causes>, IgbError> {
    let ims = read_live(regs, IMS)?;
    if ims == 0 {
        return Ok(None);
    }
    let icr = read_live(regs, ICR)?;
    if icr & ICR_INT_ASSERTED == 0 || icr & ims == 0 {
        return Ok(None);
    }
    Ok(Some(Causes::from_icr(icr)))
}
