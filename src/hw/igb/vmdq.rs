//! VMDq: receive classification into pools (igb-qemu §4), and the bookkeeping of the filter
//! slots (receive-address registers, VLAN VM filters).
//!
//! # The model
//!
//! The driver maps the NDIS default queue to one pool (the *default pool*) and VM queue n to
//! pool n (ndis-vmq-spec §4.7). In VMDq mode pool k receives on RX queue k only (igb-qemu §4).
//! A frame reaches a pool through, in order (igb-qemu §4 "Classification algorithm"):
//!
//! 1. an exact MAC match in a receive-address register whose POOLSEL names the pool
//!    ([`set_receive_address`]), or for a broadcast, the pool's VMOLR.BAM ([`PoolOptions`]);
//! 2. with VLAN filtering on (always, see [`configure_vmdq`]): a tagged frame must have its VID
//!    in the VLAN filter table and keeps only the pools of the matching VLAN VM filter entry
//!    ([`set_vlan_filter`]); an untagged frame keeps only pools with VMOLR.AUPE;
//! 3. a unicast frame left with no pool falls to the default pool (QEMU applies this *after*
//!    step 2, so a VLAN mismatch on a queue's MAC also lands in the default pool, §12);
//! 4. VFRE masks the result ([`enable_pool_rx`]); a disabled RX queue drops silently.
//!
//! The NDIS rule "only frames that pass a filter of a queue are indicated on that queue"
//! (ndis-vmq-spec §2.4) is why only the default pool accepts broadcasts by default.

use super::regs::{
    MRQC, MRQC_ENABLE_VMDQ, MTA, NUM_POOLS, NUM_RAR, NUM_TABLE_WORDS, NUM_VLVF, RAH, RAH_AV,
    RAH_POOLSEL_MASK, RAH_POOLSEL_SHIFT, RAL, RCTL, RCTL_BAM, RCTL_EN, RCTL_SECRC, RCTL_VFE, VFRE,
    VFTA, VFTE, VLVF, VLVF_POOLSEL_SHIFT, VLVF_VLANID_ENABLE, VMOLR, VMOLR_AUPE, VMOLR_BAM,
    VMOLR_MPME, VMOLR_ROMPE, VMOLR_ROPE, VMOLR_STRCRC, VMOLR_STRVLAN, VT_CTL, VT_CTL_DEF_PL_SHIFT,
    VT_CTL_VM_REPL_EN,
};
use super::{ALL_ONES, IgbError, Registers, read_live};

/// The highest VLAN ID a filter may name: 4095 is reserved, and 0 (priority tagging only) is
/// not a VLAN (IEEE 802.1Q).
pub const MAX_VLAN_ID: u16 = 4094;

/// Checks a pool number; the POOLSEL fields have one bit per pool.
fn check_pool(pool: u8) -> Result<u8, IgbError> {
    if u32::from(pool) < NUM_POOLS { Ok(pool) } else { Err(IgbError::InvalidPool(pool)) }
}

fn check_rar(index: u32) -> Result<u32, IgbError> {
    if index < NUM_RAR { Ok(index) } else { Err(IgbError::InvalidSlot(index)) }
}

fn check_vlvf(slot: u32) -> Result<u32, IgbError> {
    if slot < NUM_VLVF { Ok(slot) } else { Err(IgbError::InvalidSlot(slot)) }
}

fn check_vlan(vlan: u16) -> Result<u16, IgbError> {
    if (1..=MAX_VLAN_ID).contains(&vlan) { Ok(vlan) } else { Err(IgbError::InvalidVlan(vlan)) }
}

/// The bit of `vlan` in the VLAN filter table: word `vlan / 32`, bit `vlan % 32` (igb-qemu §4).
fn vfta_bit(vlan: u16) -> (u32, u32) {
    (u32::from(vlan) >> 5, 1 << (u32::from(vlan) & 31))
}

/// A VLVF slot number from an index into [`VlanTable`]'s 32 slots.
fn slot_number(index: usize) -> u32 {
    // Indices come from iterating a 32-element array.
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// What one pool accepts besides its MAC filters (VMOLR, igb-qemu §4).
///
/// One flag per VMOLR bit: a register image, not a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// VMOLR.AUPE: untagged frames. Without it, with VLAN filtering on, an untagged unicast for
    /// the pool's MAC falls to the default pool instead (igb-qemu §13.6).
    pub accept_untagged: bool,
    /// VMOLR.BAM: broadcasts (RCTL.BAM has no effect in VMDq mode).
    pub accept_broadcast: bool,
    /// VMOLR.STRVLAN: strip the 802.1Q tag of unicast and broadcast frames into the
    /// descriptor (VP + VLAN field, igb-qemu §5). Per pool, not per VLAN filter entry.
    pub strip_vlan: bool,
    /// VMOLR.ROMPE: multicast frames that hit the multicast table (MTA) are the pool's (in
    /// QEMU also unicast hits in the UTA, which the driver leaves empty).
    pub accept_hashed_multicast: bool,
    /// VMOLR.MPME: every multicast frame (silicon; QEMU ignores the bit, so the driver also
    /// fills the MTA for all-multicast, [`write_multicast_table`]).
    pub all_multicast: bool,
    /// VMOLR.ROPE: unicast hash hits (silicon's per-pool unicast promiscuity with a full
    /// UTA; QEMU ignores it, and unmatched unicast reaches the default pool anyway).
    pub accept_hashed_unicast: bool,
}

impl PoolOptions {
    /// The default pool: untagged frames and broadcasts, tags left in the frame.
    pub const DEFAULT_POOL: Self = Self {
        accept_untagged: true,
        accept_broadcast: true,
        strip_vlan: false,
        accept_hashed_multicast: false,
        all_multicast: false,
        accept_hashed_unicast: false,
    };
    /// A VM queue's pool: untagged unicast for its MACs only, tags left in the frame.
    pub const QUEUE_POOL: Self = Self {
        accept_untagged: true,
        accept_broadcast: false,
        strip_vlan: false,
        accept_hashed_multicast: false,
        all_multicast: false,
        accept_hashed_unicast: false,
    };

    /// The VMOLR value. STRCRC mirrors RCTL.SECRC (silicon strips per pool, QEMU only looks at
    /// RCTL.SECRC, igb-qemu §5); no LPE, so frames longer than 1514 bytes (+4 per tag) are
    /// dropped, which keeps every frame inside one 2 KiB buffer.
    #[must_use]
    pub const fn vmolr(self) -> u32 {
        let mut value = VMOLR_STRCRC;
        if self.accept_untagged {
            value |= VMOLR_AUPE;
        }
        if self.accept_broadcast {
            value |= VMOLR_BAM;
        }
        if self.strip_vlan {
            value |= VMOLR_STRVLAN;
        }
        if self.accept_hashed_multicast {
            value |= VMOLR_ROMPE;
        }
        if self.all_multicast {
            value |= VMOLR_MPME;
        }
        if self.accept_hashed_unicast {
            value |= VMOLR_ROPE;
        }
        value
    }
}

/// Where a multicast address lands in the 4096-bit multicast table with RCTL.MO = 0 (the
/// reset value): bits 47:36 of the address, i.e. `(mac[4] >> 4) | (mac[5] << 4)`, as
/// (MTA register index, bit) (Linux igb's `igb_hash_mc_addr`, QEMU's `e1000x` filter).
#[must_use]
pub fn multicast_table_position(mac: [u8; 6]) -> (u32, u32) {
    let hash = (u32::from(mac[4]) >> 4 | u32::from(mac[5]) << 4) & 0xFFF;
    (hash >> 5, hash & 0x1F)
}

/// Rewrites the whole multicast table: every bit set (`all`), or exactly the bits of
/// `addresses`. 128 register writes: an OID-path operation.
pub fn write_multicast_table(regs: &impl Registers, addresses: &[[u8; 6]], all: bool) {
    let mut table = [0u32; NUM_TABLE_WORDS as usize];
    if all {
        table = [ALL_ONES; NUM_TABLE_WORDS as usize];
    } else {
        for address in addresses {
            let (register, bit) = multicast_table_position(*address);
            if let Some(word) = table.get_mut(register as usize) {
                *word |= 1 << bit;
            }
        }
    }
    for (index, value) in (0u32..).zip(table) {
        regs.write32(MTA(index), value);
    }
}

/// Puts the receive side in VMDq mode with `default_pool` as the pool of unmatched unicast,
/// and leaves the receiver **off**: [`start_receiver`] turns it on once the rings are armed.
///
/// In this order (igb-qemu §4 and §10, Linux igb's `igb_vmm_control` / `igb_setup_mrqc`):
/// 1. RCTL = VFE | SECRC | BAM, without EN: nothing is received while pools are rearranged.
///    VFE (VLAN filtering) is always on, so VLAN VM filters steer tagged frames; SECRC strips
///    the CRC (otherwise QEMU appends 4 bytes, §5); BAM has no effect in VMDq mode but is what
///    the non-VMDq filter needs if MRQC is ever cleared.
/// 2. MRQC = 3 (VMDq, no RSS: QEMU cannot do both, §12).
/// 3. VT_CTL = DEF_PL | VM_REPL_EN (replication is always on in QEMU; silicon needs the bit to
///    deliver a broadcast to several pools).
/// 4. Receive-address registers 1..24 cleared (RAH first, dropping AV); RAR0 keeps the
///    permanent MAC and gets POOLSEL = the default pool, which reset leaves at 0 (igb-qemu
///    §13.1): the PF address then reaches the default pool by its own filter, not by fallback.
/// 5. Every VLAN VM filter and the whole VLAN filter table cleared.
/// 6. VMOLR: [`PoolOptions::DEFAULT_POOL`] for the default pool, [`PoolOptions::QUEUE_POOL`]
///    for the others.
/// 7. VFRE and VFTE = the default pool only; [`enable_pool_rx`] / [`enable_pool_tx`] add a
///    pool once its ring is running (VFRE is applied last, igb-qemu §4 step 6).
///
/// About 230 register writes (tens of ms on QEMU, §11): a configuration step, not a fast path.
///
/// # Errors
/// [`IgbError::InvalidPool`] (nothing written) or [`IgbError::DeviceGone`].
pub fn configure_vmdq(regs: &impl Registers, default_pool: u8) -> Result<(), IgbError> {
    let pool = u32::from(check_pool(default_pool)?);
    regs.write32(RCTL, RCTL_VFE | RCTL_SECRC | RCTL_BAM);
    regs.write32(MRQC, MRQC_ENABLE_VMDQ);
    regs.write32(VT_CTL, VT_CTL_VM_REPL_EN | pool << VT_CTL_DEF_PL_SHIFT);
    for index in 1..NUM_RAR {
        regs.write32(RAH(index), 0);
        regs.write32(RAL(index), 0);
    }
    let rah0 = read_live(regs, RAH(0))?;
    regs.write32(RAH(0), (rah0 & !RAH_POOLSEL_MASK) | 1 << (RAH_POOLSEL_SHIFT + pool));
    for slot in 0..NUM_VLVF {
        regs.write32(VLVF(slot), 0);
    }
    for word in 0..NUM_TABLE_WORDS {
        regs.write32(VFTA(word), 0);
    }
    for other in 0..NUM_POOLS {
        let options =
            if other == pool { PoolOptions::DEFAULT_POOL } else { PoolOptions::QUEUE_POOL };
        regs.write32(VMOLR(other), options.vmolr());
    }
    regs.write32(VFRE, 1 << pool);
    regs.write32(VFTE, 1 << pool);
    Ok(())
}

/// Sets RCTL.EN (read-modify-write): frames start landing in the enabled rings. Call after
/// the rings are armed; QEMU drops frames it held while the receiver was off at this point
/// (igb-qemu §8).
///
/// # Errors
/// [`IgbError::DeviceGone`].
pub fn start_receiver(regs: &impl Registers) -> Result<(), IgbError> {
    let rctl = read_live(regs, RCTL)?;
    regs.write32(RCTL, rctl | RCTL_EN);
    Ok(())
}

/// Clears RCTL.EN (read-modify-write): no more frames are received into any ring.
///
/// # Errors
/// [`IgbError::DeviceGone`].
pub fn stop_receiver(regs: &impl Registers) -> Result<(), IgbError> {
    let rctl = read_live(regs, RCTL)?;
    regs.write32(RCTL, rctl & !RCTL_EN);
    Ok(())
}

/// Programs receive-address register `index` with `mac` for `pool` only (AV set, POOLSEL =
/// the pool's bit), as [`set_receive_address_pools`] does for a set of pools.
///
/// # Errors
/// [`IgbError::InvalidSlot`] (index ≥ 24) or [`IgbError::InvalidPool`]; nothing is written.
pub fn set_receive_address(
    regs: &impl Registers,
    index: u32,
    mac: [u8; 6],
    pool: u8,
) -> Result<(), IgbError> {
    let pool = check_pool(pool)?;
    set_receive_address_pools(regs, index, mac, 1 << pool)
}

/// Programs receive-address register `index` with `mac` for every pool in `pools` (bit k =
/// pool k; POOLSEL = the mask). The device replicates a matching frame to each of them (igb-qemu
/// §4), which is how one address serves several queues that differ by VLAN. RAH is written with
/// AV clear first, then RAL, then RAH with AV, so the device never matches half of an old and
/// half of a new address. `pools == 0` clears the register instead: an address for no pool
/// would only push its frames to the default pool by the fallback.
///
/// # Errors
/// [`IgbError::InvalidSlot`] (index ≥ 24); nothing is written.
pub fn set_receive_address_pools(
    regs: &impl Registers,
    index: u32,
    mac: [u8; 6],
    pools: u8,
) -> Result<(), IgbError> {
    let index = check_rar(index)?;
    if pools == 0 {
        return clear_receive_address(regs, index);
    }
    let low = u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]);
    let high = u32::from(u16::from_le_bytes([mac[4], mac[5]]));
    regs.write32(RAH(index), 0);
    regs.write32(RAL(index), low);
    regs.write32(RAH(index), high | u32::from(pools) << RAH_POOLSEL_SHIFT | RAH_AV);
    Ok(())
}

/// Clears receive-address register `index` (AV off, then the address).
///
/// # Errors
/// [`IgbError::InvalidSlot`] (nothing written).
pub fn clear_receive_address(regs: &impl Registers, index: u32) -> Result<(), IgbError> {
    let index = check_rar(index)?;
    regs.write32(RAH(index), 0);
    regs.write32(RAL(index), 0);
    Ok(())
}

/// Programs VLAN VM filter `slot`: frames tagged `vlan` go to the pools in `pools` (bit k =
/// pool k), and `vlan` is set in the VLAN filter table (read-modify-write of one VFTA word) so
/// the frame is not dropped before pool selection (igb-qemu §4 step 2).
///
/// One slot per VLAN ID ([`VlanTable`] keeps it so): a VLAN shared by several pools is one
/// entry with several POOLSEL bits. Whether the tag is stripped is a property of the pool,
/// [`PoolOptions::strip_vlan`].
///
/// # Errors
/// [`IgbError::InvalidSlot`] or [`IgbError::InvalidVlan`] (nothing written).
pub fn set_vlan_filter(
    regs: &impl Registers,
    slot: u32,
    vlan: u16,
    pools: u8,
) -> Result<(), IgbError> {
    let slot = check_vlvf(slot)?;
    let vlan = check_vlan(vlan)?;
    let (word, bit) = vfta_bit(vlan);
    // Not `read_live`: a VFTA word with all 32 of its VLANs set is legitimately all-ones. A
    // device that is gone loses the write below anyway.
    let vfta = regs.read32(VFTA(word));
    regs.write32(VFTA(word), vfta | bit);
    regs.write32(
        VLVF(slot),
        VLVF_VLANID_ENABLE | u32::from(pools) << VLVF_POOLSEL_SHIFT | u32::from(vlan),
    );
    Ok(())
}

/// Clears VLAN VM filter `slot` and `vlan`'s bit in the VLAN filter table: with one slot per
/// VLAN ID, nothing else refers to it. The filter entry goes first, so a tagged frame is
/// never steered by an entry whose VLAN is no longer accepted.
///
/// # Errors
/// [`IgbError::InvalidSlot`] or [`IgbError::InvalidVlan`] (nothing written).
pub fn clear_vlan_filter(regs: &impl Registers, slot: u32, vlan: u16) -> Result<(), IgbError> {
    let slot = check_vlvf(slot)?;
    let vlan = check_vlan(vlan)?;
    let (word, bit) = vfta_bit(vlan);
    regs.write32(VLVF(slot), 0);
    // Not `read_live`, as in `set_vlan_filter`.
    let vfta = regs.read32(VFTA(word));
    regs.write32(VFTA(word), vfta & !bit);
    Ok(())
}

/// Writes VLAN VM filter `slot` alone: frames tagged `entry.vlan` go to the pools in
/// `entry.pools`, or (`None`, or no pool) the slot is disabled. Unlike [`set_vlan_filter`] the
/// VLAN filter table is not touched; whoever keeps a whole image of the filters writes it with
/// [`write_vlan_table_word`], so a VLAN that moves between slots never loses its table bit.
///
/// # Errors
/// [`IgbError::InvalidSlot`] or [`IgbError::InvalidVlan`] (nothing written).
pub fn write_vlan_pool_filter(
    regs: &impl Registers,
    slot: u32,
    entry: Option<VlanEntry>,
) -> Result<(), IgbError> {
    let slot = check_vlvf(slot)?;
    let value = match entry {
        Some(VlanEntry { vlan, pools }) if pools != 0 => {
            VLVF_VLANID_ENABLE
                | u32::from(pools) << VLVF_POOLSEL_SHIFT
                | u32::from(check_vlan(vlan)?)
        }
        _ => 0,
    };
    regs.write32(VLVF(slot), value);
    Ok(())
}

/// Writes word `word` of the VLAN filter table (VFTA; bit `vlan % 32` of word `vlan / 32`
/// accepts `vlan`, igb-qemu §4 step 2).
///
/// # Errors
/// [`IgbError::InvalidSlot`] for a word ≥ 128 (nothing written).
pub fn write_vlan_table_word(regs: &impl Registers, word: u32, value: u32) -> Result<(), IgbError> {
    if word >= NUM_TABLE_WORDS {
        return Err(IgbError::InvalidSlot(word));
    }
    regs.write32(VFTA(word), value);
    Ok(())
}

/// Writes `pool`'s VMOLR from `options`.
///
/// # Errors
/// [`IgbError::InvalidPool`] (nothing written).
pub fn set_pool_options(
    regs: &impl Registers,
    pool: u8,
    options: PoolOptions,
) -> Result<(), IgbError> {
    let pool = check_pool(pool)?;
    regs.write32(VMOLR(u32::from(pool)), options.vmolr());
    Ok(())
}

/// Sets or clears `pool`'s bit in `register` (VFRE or VFTE) with a read-modify-write.
fn set_pool_bit(regs: &impl Registers, register: u32, pool: u8, on: bool) -> Result<(), IgbError> {
    let bit = 1 << check_pool(pool)?;
    let value = read_live(regs, register)?;
    regs.write32(register, if on { value | bit } else { value & !bit });
    Ok(())
}

/// Lets `pool` receive (VFRE bit) or not. A pool whose bit is clear gets nothing, with no
/// fallback to the default pool (igb-qemu §4 step 6): clear it before disabling the pool's
/// ring, set it after enabling it.
///
/// # Errors
/// [`IgbError::InvalidPool`] (nothing written) or [`IgbError::DeviceGone`].
pub fn enable_pool_rx(regs: &impl Registers, pool: u8, enable: bool) -> Result<(), IgbError> {
    set_pool_bit(regs, VFRE, pool, enable)
}

/// Lets TX queues of `pool` (queue n belongs to pool n % 8) transmit (VFTE bit) or not.
///
/// # Errors
/// [`IgbError::InvalidPool`] (nothing written) or [`IgbError::DeviceGone`].
pub fn enable_pool_tx(regs: &impl Registers, pool: u8, enable: bool) -> Result<(), IgbError> {
    set_pool_bit(regs, VFTE, pool, enable)
}

// ---- Slot bookkeeping (pure) -----------------------------------------------------------------

/// Which receive-address registers are in use. RAR0 is reserved for the adapter's own address
/// (reset loads the permanent MAC there, igb-qemu §3); the others are handed out to filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RarSlots {
    /// Bit n set: RAR n is in use.
    used: u32,
}

impl Default for RarSlots {
    fn default() -> Self {
        Self::new()
    }
}

impl RarSlots {
    /// All free except RAR0.
    #[must_use]
    pub const fn new() -> Self {
        Self { used: 1 }
    }

    /// The lowest free slot, now in use; `None` when all 24 are.
    pub fn allocate(&mut self) -> Option<u32> {
        let free = !self.used & ((1 << NUM_RAR) - 1);
        if free == 0 {
            return None;
        }
        let index = free.trailing_zeros();
        self.used |= 1 << index;
        Some(index)
    }

    /// Returns `index` to the free set; `false` if it was not allocated (or is RAR0, which is
    /// never freed), so a double free is visible to the caller.
    pub fn free(&mut self, index: u32) -> bool {
        if index == 0 || index >= NUM_RAR || self.used & 1 << index == 0 {
            return false;
        }
        self.used &= !(1 << index);
        true
    }

    /// Slots that [`allocate`](Self::allocate) can still hand out.
    #[must_use]
    pub const fn available(&self) -> u32 {
        NUM_RAR - self.used.count_ones()
    }

    /// Whether `index` is in use.
    #[must_use]
    pub const fn is_used(&self, index: u32) -> bool {
        index < NUM_RAR && self.used & 1 << index != 0
    }
}

/// A VLAN VM filter entry as [`VlanTable`] keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanEntry {
    /// The VLAN ID.
    pub vlan: u16,
    /// Bit k: pool k receives frames tagged [`vlan`](Self::vlan).
    pub pools: u8,
}

/// What a [`VlanTable`] change means for the device: program `slot` with [`set_vlan_filter`]
/// (`pools != 0`) or clear it with [`clear_vlan_filter`] (`pools == 0`). [`apply`] does that.
///
/// [`apply`]: VlanChange::apply
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanChange {
    /// The VLVF slot.
    pub slot: u32,
    /// The VLAN ID.
    pub vlan: u16,
    /// The slot's pools after the change; 0 means the slot is now free.
    pub pools: u8,
}

impl VlanChange {
    /// Writes the change to the device.
    ///
    /// # Errors
    /// As [`set_vlan_filter`] / [`clear_vlan_filter`].
    pub fn apply(self, regs: &impl Registers) -> Result<(), IgbError> {
        if self.pools == 0 {
            clear_vlan_filter(regs, self.slot, self.vlan)
        } else {
            set_vlan_filter(regs, self.slot, self.vlan, self.pools)
        }
    }
}

/// Why a [`VlanTable`] refused a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VlanTableError {
    /// All 32 VLVF slots hold other VLANs.
    Full,
    /// A VLAN ID outside 1..=[`MAX_VLAN_ID`].
    InvalidVlan(u16),
    /// A pool ≥ 8.
    InvalidPool(u8),
}

/// The VLAN VM filter entries: one slot per VLAN ID, with the set of pools that want it (the
/// layout Linux igb's `igb_vlvf_set` keeps too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTable {
    slots: [Option<VlanEntry>; NUM_VLVF as usize],
}

impl Default for VlanTable {
    fn default() -> Self {
        Self::new()
    }
}

impl VlanTable {
    /// Every slot free (what [`configure_vmdq`] leaves in the device).
    #[must_use]
    pub const fn new() -> Self {
        Self { slots: [None; NUM_VLVF as usize] }
    }

    /// The entry in `slot`, if any.
    #[must_use]
    pub fn entry(&self, slot: u32) -> Option<VlanEntry> {
        self.slots.get(slot as usize).copied().flatten()
    }

    fn slot_of(&self, vlan: u16) -> Option<usize> {
        self.slots.iter().position(|e| e.is_some_and(|e| e.vlan == vlan))
    }

    /// Adds `pool` to the pools receiving `vlan`: the VLAN's existing slot, or the lowest free
    /// one. Adding a pool twice changes nothing (and returns the same change).
    ///
    /// # Errors
    /// [`VlanTableError`]; the table is unchanged.
    pub fn add(&mut self, vlan: u16, pool: u8) -> Result<VlanChange, VlanTableError> {
        if check_vlan(vlan).is_err() {
            return Err(VlanTableError::InvalidVlan(vlan));
        }
        if check_pool(pool).is_err() {
            return Err(VlanTableError::InvalidPool(pool));
        }
        let index = match self.slot_of(vlan) {
            Some(index) => index,
            None => self.slots.iter().position(Option::is_none).ok_or(VlanTableError::Full)?,
        };
        let entry = self.slots[index].get_or_insert(VlanEntry { vlan, pools: 0 });
        entry.pools |= 1 << pool;
        Ok(VlanChange { slot: slot_number(index), vlan, pools: entry.pools })
    }

    /// Removes `pool` from the pools receiving `vlan`; the slot is freed with its last pool.
    /// `None` if `pool` did not receive `vlan`.
    pub fn remove(&mut self, vlan: u16, pool: u8) -> Option<VlanChange> {
        let index = self.slot_of(vlan)?;
        let bit = 1u8.checked_shl(u32::from(pool))?;
        let entry = self.slots[index].as_mut()?;
        if entry.pools & bit == 0 {
            return None;
        }
        entry.pools &= !bit;
        let pools = entry.pools;
        if pools == 0 {
            self.slots[index] = None;
        }
        Some(VlanChange { slot: slot_number(index), vlan, pools })
    }
}
