//! The Intel 82576 (PCI 8086:10C9, QEMU's `-device igb`): bring-up, interrupt routing, VMDq
//! receive classification, and the RX/TX descriptor rings.
//!
//! Pure device logic in the style of Linux igb's `e1000_82575.c`: every function takes the
//! register space as `&impl Registers` (and, where the hardware needs real time to pass, a
//! [`Stall`]), never calls NDIS, never allocates and never panics. The NDIS glue decides *when*
//! to call what; this module knows *how* the device wants it done.
//!
//! # Robustness rules
//!
//! * **Surprise removal.** A device that has gone away (hot-unplugged, or a dead PCIe link)
//!   returns all-ones for every read. Every read whose value steers a decision goes through a
//!   check that turns all-ones into [`IgbError::DeviceGone`], so garbage is never mistaken for
//!   a valid register (an all-ones STATUS would otherwise read as "link up, 1000 Mb/s").
//! * **Bounded polls.** Every wait for the hardware has a fixed iteration count and a fixed stall
//!   per iteration, documented next to it; a device that never answers gives an error, never an
//!   endless loop. The longest, [`reset`], busy-waits at most about 100 ms in total.
//! * **Checked indices.** Queue numbers and interrupt vectors are checked against the register
//!   file ([`regs::NUM_QUEUES`], [`regs::NUM_VECTORS`]) before any register is touched, so a bad
//!   argument writes nothing.
//!
//! # Where QEMU and the datasheet differ
//!
//! `shared/docs/igb-qemu.md` (cited as "igb-qemu §n") describes what QEMU 10.0's model does,
//! register by register, and §12 lists where it departs from real silicon. The code follows the
//! datasheet (as Linux igb reads it) wherever that also works on QEMU, and says so where it
//! makes a choice only because of one of the two; see the notes on each function.
//!
//! # Typical order (MiniportInitializeEx)
//!
//! 1. [`reset`], then [`read_permanent_mac`].
//! 2. [`configure_msix`] with the plan's "other causes" table entry, then [`route_rx_queue`] /
//!    [`route_tx_queue`] for each queue the plan binds, then [`enable_entry`] per entry; or
//!    [`configure_single_vector`] for an MSI or line-based grant.
//! 3. [`start_link`]; the link-status change arrives as an interrupt about 0.5 s later (QEMU's
//!    autoneg timer, igb-qemu §3), and [`link_state`] says what it came up as.
//! 4. Receive and transmit: [`configure_vmdq`] (receiver left off), [`set_receive_address`]
//!    per filter (slots from [`RarSlots`], VLANs through [`VlanTable`]), [`RxRing::enable`] and
//!    [`enable_pool_rx`] per pool, [`start_receiver`]; [`TxRing::enable`] and
//!    [`start_transmitter`]. In the DPCs: [`RxRing::poll`] then [`RxRing::refill`] (one RDT
//!    write per batch), [`TxRing::reclaim`]; on the send path [`TxRing::post`] then
//!    [`TxRing::flush`] (one TDT write per batch). Ring memory is a [`crate::hw::DmaRegion`].
//! 5. In the ISRs: [`other_causes`] (MSI-X "other" message) or [`line_interrupt_causes`] (MSI or
//!    the line), [`disable_entry`] / [`enable_entry`] around the DPC.
//! 6. On halt: [`disable_all_interrupts`], then [`reset`].

use core::fmt;

use super::{ALL_ONES, Registers, Stall};

mod bringup;
mod interrupts;
mod rx;
mod tx;
pub mod vmdq;
#[rustfmt::skip]
pub mod regs;
mod stats;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod ring_tests;
#[cfg(test)]
mod tests;

pub use bringup::{
    AUTO_READ_POLL_US, AUTO_READ_POLLS, EERD_POLL_US, EERD_POLLS, LinkState,
    MASTER_DISABLE_POLL_US, MASTER_DISABLE_POLLS, MDIC_POLL_US, MDIC_POLLS, RESET_POLL_US,
    RESET_POLLS, RESET_SETTLE_US, link_state, read_permanent_mac, reset, start_link,
};
pub use interrupts::{
    Causes, MSIX_OTHER_CAUSES, OtherCauses, SINGLE_VECTOR_CAUSES, configure_msix,
    configure_single_vector, disable_all_interrupts, disable_entry, enable_entry,
    line_interrupt_causes, mask_entries, other_causes, route_rx_queue, route_tx_queue,
    set_throttle, trigger_entries, unmask_entries, unmask_single_vector,
};
pub use rx::{
    DESCRIPTOR_SIZE, ERR_FRAME_MASK, ERR_IPE, ERR_L4E, MAX_BUFFERS, MAX_DESCRIPTORS,
    MIN_DESCRIPTORS, Malformed, QUEUE_ENABLE_POLL_US, QUEUE_ENABLE_POLLS, RING_ALIGNMENT,
    RingError, RxCompletion, RxCounters, RxFrame, RxRing, WriteBack, parse_writeback,
};
pub use stats::{StatisticsDelta, read_statistics};
pub use tx::{TxCounters, TxError, TxRing, start_transmitter};
pub use vmdq::{
    PoolOptions, RarSlots, VlanChange, VlanEntry, VlanTable, VlanTableError, clear_receive_address,
    clear_vlan_filter, configure_vmdq, enable_pool_rx, enable_pool_tx, multicast_table_position,
    set_pool_options, set_receive_address, set_receive_address_pools, set_vlan_filter,
    start_receiver, stop_receiver, write_multicast_table, write_vlan_pool_filter,
    write_vlan_table_word,
};

/// Why a device operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgbError {
    /// A register read returned all-ones: the device is no longer on the bus (surprise
    /// removal), or its BAR is not decoded. Nothing more should be asked of it.
    DeviceGone,
    /// CTRL.RST did not self-clear within [`RESET_POLLS`] × [`RESET_POLL_US`] µs.
    ResetTimeout,
    /// Neither the EEPROM (words 0-2) nor RAR0 holds a usable unicast address.
    NoPermanentMac,
    /// An MDIC (PHY register) access did not complete within [`MDIC_POLLS`] ×
    /// [`MDIC_POLL_US`] µs.
    PhyTimeout,
    /// The MAC reported an MDIC access error (e.g. no PHY at the address).
    PhyError,
    /// A queue number outside `0..`[`regs::NUM_QUEUES`].
    InvalidQueue(u8),
    /// A VMDq pool outside `0..`[`regs::NUM_POOLS`].
    InvalidPool(u8),
    /// A filter slot outside its register array: a receive-address register (0..24) or a
    /// VLAN VM filter (0..32).
    InvalidSlot(u32),
    /// A VLAN ID outside 1..=[`vmdq::MAX_VLAN_ID`].
    InvalidVlan(u16),
    /// A queue's enable bit (RXDCTL/TXDCTL.ENABLE) did not read back as written within the
    /// bounded poll ([`QUEUE_ENABLE_POLLS`] × [`QUEUE_ENABLE_POLL_US`] µs).
    QueueTimeout(u8),
    /// An RX descriptor (queue, descriptor) holds no buffer: its buffer was lent out and not
    /// replaced, so the ring cannot be armed.
    EmptyDescriptor(u8, u16),
    /// An interrupt vector (MSI-X table entry) outside `0..`[`regs::NUM_VECTORS`]: the IVAR
    /// vector field and the EICR/EIMS bits cannot express it.
    InvalidEntry(u32),
}

impl fmt::Display for IgbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeviceGone => f.write_str("the 82576 is gone (register reads return all-ones)"),
            Self::ResetTimeout => f.write_str("CTRL.RST did not self-clear"),
            Self::NoPermanentMac => {
                f.write_str("no usable unicast MAC address in the EEPROM or in RAR0")
            }
            Self::PhyTimeout => f.write_str("the PHY (MDIC) access did not complete"),
            Self::PhyError => f.write_str("the PHY (MDIC) access failed"),
            Self::InvalidQueue(queue) => write!(f, "queue {queue} does not exist (0..16)"),
            Self::InvalidPool(pool) => write!(f, "pool {pool} does not exist (0..8)"),
            Self::InvalidSlot(slot) => write!(f, "filter slot {slot} does not exist"),
            Self::InvalidVlan(vlan) => write!(f, "VLAN ID {vlan} is not 1..=4094"),
            Self::QueueTimeout(queue) => {
                write!(f, "queue {queue}'s enable bit did not follow the write")
            }
            Self::InvalidEntry(entry) => {
                write!(f, "interrupt vector {entry} cannot be routed (0..25)")
            }
            Self::EmptyDescriptor(queue, slot) => {
                write!(f, "RX queue {queue}: descriptor {slot} holds no buffer")
            }
        }
    }
}

impl core::error::Error for IgbError {}

/// Reads `offset`, turning the all-ones of a vanished device into [`IgbError::DeviceGone`].
///
/// Only for registers that never legitimately read all-ones (every register this module
/// reads: their reserved bits read as zero).
fn read_live(regs: &impl Registers, offset: u32) -> Result<u32, IgbError> {
    match regs.read32(offset) {
        ALL_ONES => Err(IgbError::DeviceGone),
        value => Ok(value),
    }
}
