//! What the 82576's VMDq filter registers must hold for a set of VMQ queues and filters
//! ([`HardwareImage`], computed by [`super::model::Vmq::hardware`]), and the register writes
//! that turn one image into another ([`HardwareImage::diff`]).
//!
//! The image covers the registers the VMQ model owns, and only those:
//!
//! * receive-address registers 1..=23 (RAR0 holds the adapter's own address and belongs to
//!   Initialize);
//! * the 32 VLAN VM filters (VLVF) and the 128 words of the VLAN filter table (VFTA);
//! * VMOLR of the VM pools 1..=7;
//! * the VFRE bits of the VM pools 1..=7.
//!
//! Pool 0, the default pool, keeps its VMOLR and VFRE bit under the packet filter (the general
//! OIDs), which is why the image has no entry for either and why VFRE changes come per pool
//! ([`RegisterChange::PoolReceive`], a read-modify-write) rather than as a whole mask.

use crate::hw::Registers;
use crate::hw::igb::regs::{NUM_POOLS, NUM_RAR, NUM_TABLE_WORDS, NUM_VLVF};
use crate::hw::igb::{
    IgbError, PoolOptions, VlanEntry, clear_receive_address, enable_pool_rx, set_pool_options,
    set_receive_address_pools, write_vlan_pool_filter, write_vlan_table_word,
};

/// The first receive-address register the model hands out: RAR0 is the adapter's own MAC.
pub const FIRST_FILTER_RAR: u32 = 1;
/// VM pools, 1..=7 (pool 0 is the default queue's).
pub const VM_POOLS: usize = NUM_POOLS as usize - 1;

/// A receive-address register's content: a MAC address and the pools it steers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiveAddress {
    /// The destination MAC address.
    pub mac: [u8; 6],
    /// POOLSEL: bit k = pool k (never 0 in an image).
    pub pools: u8,
}

/// The VMOLR every VM pool gets: tags stripped into the descriptor (so the 802.1Q info of the
/// indication always comes from the descriptor, whichever filter let the frame in), no
/// broadcast (broadcasts belong to the default queue, ndis-vmq-spec §2.4), no multicast and no
/// hash matches. Only AUPE depends on the filters.
#[must_use]
pub const fn vm_pool_options(accept_untagged: bool) -> PoolOptions {
    PoolOptions {
        accept_untagged,
        accept_broadcast: false,
        strip_vlan: true,
        accept_hashed_multicast: false,
        all_multicast: false,
        accept_hashed_unicast: false,
    }
}

/// The VMDq filter registers the VMQ model owns, as they must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardwareImage {
    /// RAR n (index 0 is never used: RAR0 is not the model's).
    pub(super) receive_addresses: [Option<ReceiveAddress>; NUM_RAR as usize],
    /// VLVF slots.
    pub(super) vlan_filters: [Option<VlanEntry>; NUM_VLVF as usize],
    /// VFTA words.
    pub(super) vlan_table: [u32; NUM_TABLE_WORDS as usize],
    /// VMOLR of pool n + 1.
    pub(super) pool_options: [PoolOptions; VM_POOLS],
    /// VFRE bits of the VM pools (bit 0 is never set).
    pub(super) receiving_pools: u8,
}

impl HardwareImage {
    /// What [`crate::hw::igb::configure_vmdq`] with default pool 0 leaves in these registers:
    /// no address besides RAR0, no VLAN filter, an empty VLAN table, VM pools with
    /// [`PoolOptions::QUEUE_POOL`], none of them receiving. The glue applies
    /// `AFTER_CONFIGURE_VMDQ.diff(&vmq.hardware())` once after configuring the device, and each
    /// later change as the diff from the image it applied last.
    pub const AFTER_CONFIGURE_VMDQ: Self = Self {
        receive_addresses: [None; NUM_RAR as usize],
        vlan_filters: [None; NUM_VLVF as usize],
        vlan_table: [0; NUM_TABLE_WORDS as usize],
        pool_options: [PoolOptions::QUEUE_POOL; VM_POOLS],
        receiving_pools: 0,
    };

    /// An image with no filter at all and VM pools as [`vm_pool_options`] sets them: what an
    /// empty model asks for.
    pub(super) const EMPTY: Self =
        Self { pool_options: [vm_pool_options(false); VM_POOLS], ..Self::AFTER_CONFIGURE_VMDQ };

    /// RAR `index` (1..=23): `None` when cleared (or for 0 and out-of-range indices).
    #[must_use]
    pub fn receive_address(&self, index: u32) -> Option<ReceiveAddress> {
        if index < FIRST_FILTER_RAR {
            return None;
        }
        self.receive_addresses.get(index as usize).copied().flatten()
    }

    /// The programmed receive-address registers, as (index, content).
    pub fn receive_addresses(&self) -> impl Iterator<Item = (u32, ReceiveAddress)> + '_ {
        (0u32..).zip(self.receive_addresses).filter_map(|(i, e)| Some((i, e?)))
    }

    /// VLVF `slot` (0..32): `None` when disabled.
    #[must_use]
    pub fn vlan_filter(&self, slot: u32) -> Option<VlanEntry> {
        self.vlan_filters.get(slot as usize).copied().flatten()
    }

    /// The enabled VLAN VM filters, as (slot, content).
    pub fn vlan_filters(&self) -> impl Iterator<Item = (u32, VlanEntry)> + '_ {
        (0u32..).zip(self.vlan_filters).filter_map(|(i, e)| Some((i, e?)))
    }

    /// VFTA word `word` (0..128; 0 beyond).
    #[must_use]
    pub fn vlan_table_word(&self, word: u32) -> u32 {
        self.vlan_table.get(word as usize).copied().unwrap_or(0)
    }

    /// Whether the VLAN filter table accepts `vlan`.
    #[must_use]
    pub fn vlan_table_accepts(&self, vlan: u16) -> bool {
        self.vlan_table_word(u32::from(vlan) >> 5) & 1 << (vlan & 31) != 0
    }

    /// VMOLR of VM pool `pool` (1..=7); `None` for pool 0 (not the model's) and beyond 7.
    #[must_use]
    pub fn pool_options(&self, pool: u8) -> Option<PoolOptions> {
        self.pool_options.get(usize::from(pool).checked_sub(1)?).copied()
    }

    /// The VM pools whose VFRE bit is set (bit k = pool k; bit 0 never).
    #[must_use]
    pub const fn receiving_pools(&self) -> u8 {
        self.receiving_pools
    }

    /// The register writes that turn `self` (what the device holds) into `next`: one change per
    /// register that differs, none for those that do not. Lazily computed, nothing allocated.
    ///
    /// The order: first the VFRE bits of pools that stop receiving (a pool without filters
    /// never sees a frame, ndis-vmq-spec §2.2 CLEAR_FILTER), then the receive addresses, VLAN
    /// filters, VLAN table words and pool options, and last the VFRE bits of pools that start
    /// receiving (once all their filters are in place).
    ///
    /// Apply the diff after every model operation. Each one only sets bits (SET_FILTER,
    /// allocation complete) or only clears them (CLEAR_FILTER): a reserved slot keeps its MAC or
    /// VLAN, and a new one starts from a cleared register. What a pool accepts only grows with
    /// its bits, so every intermediate state of such a diff accepts no more than the larger of
    /// the two images; in between, a frame meets its old filters or falls to the default queue.
    /// A diff spanning several operations has no such guarantee.
    #[must_use]
    pub fn diff<'a>(&'a self, next: &'a Self) -> ImageDiff<'a> {
        ImageDiff { from: self, to: next, step: 0 }
    }
}

/// One register write of a [`HardwareImage::diff`], named by what it programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterChange {
    /// RAR `index`: program the address for its pools, or clear it (`None`).
    ReceiveAddress {
        /// 1..=23.
        index: u32,
        /// The new content.
        address: Option<ReceiveAddress>,
    },
    /// VLVF `slot`: program it, or disable it (`None`). The VLAN table is a separate change.
    VlanFilter {
        /// 0..32.
        slot: u32,
        /// The new content.
        entry: Option<VlanEntry>,
    },
    /// VFTA word `word`.
    VlanTableWord {
        /// 0..128.
        word: u32,
        /// The whole word.
        value: u32,
    },
    /// VMOLR of VM pool `pool`.
    PoolOptions {
        /// 1..=7.
        pool: u8,
        /// The new options.
        options: PoolOptions,
    },
    /// VFRE bit of VM pool `pool`.
    PoolReceive {
        /// 1..=7.
        pool: u8,
        /// Receive (bit set) or not.
        enabled: bool,
    },
}

impl RegisterChange {
    /// Performs the change with the `hw::igb` function for that register:
    /// [`set_receive_address_pools`] / [`clear_receive_address`], [`write_vlan_pool_filter`],
    /// [`write_vlan_table_word`], [`set_pool_options`], [`enable_pool_rx`] (read-modify-write,
    /// so pool 0's bit is kept).
    ///
    /// # Errors
    /// As those functions: [`IgbError::DeviceGone`] from the VFRE read, or an argument error,
    /// which a change from a diff never has.
    pub fn apply(self, regs: &impl Registers) -> Result<(), IgbError> {
        match self {
            Self::ReceiveAddress { index, address: Some(address) } => {
                set_receive_address_pools(regs, index, address.mac, address.pools)
            }
            Self::ReceiveAddress { index, address: None } => clear_receive_address(regs, index),
            Self::VlanFilter { slot, entry } => write_vlan_pool_filter(regs, slot, entry),
            Self::VlanTableWord { word, value } => write_vlan_table_word(regs, word, value),
            Self::PoolOptions { pool, options } => set_pool_options(regs, pool, options),
            Self::PoolReceive { pool, enabled } => enable_pool_rx(regs, pool, enabled),
        }
    }
}

/// The changes between two images, in the order [`HardwareImage::diff`] documents.
#[derive(Clone, Debug)]
pub struct ImageDiff<'a> {
    from: &'a HardwareImage,
    to: &'a HardwareImage,
    step: usize,
}

// The steps of a diff, one per register, in order.
const STOP_RECEIVING: usize = 0;
const ADDRESSES: usize = STOP_RECEIVING + VM_POOLS;
const VLAN_FILTERS: usize = ADDRESSES + NUM_RAR as usize;
const VLAN_TABLE: usize = VLAN_FILTERS + NUM_VLVF as usize;
const OPTIONS: usize = VLAN_TABLE + NUM_TABLE_WORDS as usize;
const START_RECEIVING: usize = OPTIONS + VM_POOLS;
const STEPS: usize = START_RECEIVING + VM_POOLS;

impl ImageDiff<'_> {
    /// The change at `step`, if that register differs.
    fn change(&self, step: usize) -> Option<RegisterChange> {
        let (from, to) = (self.from, self.to);
        // Pools count from 1, register indices from 0.
        let pool_at = |base: usize| u8::try_from(step.checked_sub(base)? + 1).ok();
        let index_at = |base: usize| u32::try_from(step.checked_sub(base)?).ok();
        let receiving = |image: &HardwareImage, pool: u8| image.receiving_pools & 1 << pool != 0;
        match step {
            STOP_RECEIVING..ADDRESSES => {
                let pool = pool_at(STOP_RECEIVING)?;
                (receiving(from, pool) && !receiving(to, pool))
                    .then_some(RegisterChange::PoolReceive { pool, enabled: false })
            }
            ADDRESSES..VLAN_FILTERS => {
                let index = index_at(ADDRESSES)?;
                let address = to.receive_address(index);
                (index >= FIRST_FILTER_RAR && from.receive_address(index) != address)
                    .then_some(RegisterChange::ReceiveAddress { index, address })
            }
            VLAN_FILTERS..VLAN_TABLE => {
                let slot = index_at(VLAN_FILTERS)?;
                let entry = to.vlan_filter(slot);
                (from.vlan_filter(slot) != entry)
                    .then_some(RegisterChange::VlanFilter { slot, entry })
            }
            VLAN_TABLE..OPTIONS => {
                let word = index_at(VLAN_TABLE)?;
                let value = to.vlan_table_word(word);
                (from.vlan_table_word(word) != value)
                    .then_some(RegisterChange::VlanTableWord { word, value })
            }
            OPTIONS..START_RECEIVING => {
                let pool = pool_at(OPTIONS)?;
                let options = to.pool_options(pool)?;
                (from.pool_options(pool) != Some(options))
                    .then_some(RegisterChange::PoolOptions { pool, options })
            }
            START_RECEIVING..STEPS => {
                let pool = pool_at(START_RECEIVING)?;
                (!receiving(from, pool) && receiving(to, pool))
                    .then_some(RegisterChange::PoolReceive { pool, enabled: true })
            }
            _ => None,
        }
    }
}

impl Iterator for ImageDiff<'_> {
    type Item = RegisterChange;

    fn next(&mut self) -> Option<RegisterChange> {
        while self.step < STEPS {
            let step = self.step;
            self.step += 1;
            if let Some(change) = self.change(step) {
                return Some(change);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(STEPS.saturating_sub(self.step)))
    }
}
