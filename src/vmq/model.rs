//! The VMQ control state of the adapter, as a pure value: VM queues with their pools and
//! states, receive filters with their hardware slots, and the VMDq register image all that
//! implies ([`Vmq::hardware`]).
//!
//! Every operation is all-or-nothing: it checks everything first and changes the model only
//! when it succeeds, so after an error the model (and its image) is exactly what it was. No
//! operation allocates; the tables are fixed arrays sized by the 82576 (7 VM queues, 23 filter
//! receive addresses, 32 VLAN VM filters).
//!
//! # Queues and pools
//!
//! The default queue (id 0) is pool 0 and always exists; it takes filters from any protocol
//! and has no state machine. VM queue ids come from NDIS; each allocated queue gets the lowest
//! free pool of 1..=7, up to the number of queues the current capabilities advertise, and
//! follows [`super::state`] until it is freed.
//!
//! # How filters become registers (the 82576 classification, igb-qemu §4)
//!
//! A filter is a destination MAC and a *tag*: untagged (`VLAN_UNTAGGED_OR_ZERO` on the MAC
//! test) or one VLAN id. On the device, pool p receives the frames whose MAC is in a
//! receive-address register (RAR) naming p, and whose tag is either a VLAN in a VLAN VM filter
//! (VLVF) naming p, or none when p's VMOLR.AUPE is set. So a pool accepts the *product*
//! M<sub>p</sub> × T<sub>p</sub> of its MACs and its tags, and the image is built so:
//!
//! * one RAR per distinct MAC, shared by every filter (and every queue) with that MAC: its
//!   POOLSEL is the set of pools with a filter on it;
//! * one VLVF slot per distinct VLAN, shared likewise, with its bit in the VLAN table (VFTA);
//! * VMOLR.AUPE of a VM pool exactly when it has an untagged filter; **STRVLAN always** on VM
//!   pools (see [`super::image::vm_pool_options`]: tags always go into the descriptor, so the
//!   indication's 802.1Q info is right for every filter kind); BAM never;
//! * the VFRE bit of a VM pool exactly while its queue is Running;
//! * a VM queue's RAR and VLVF bits **only while it is Running**. Before allocation completes
//!   (Set) and after its last filter is cleared, its frames fall to the default queue instead
//!   of being dropped by the VFRE mask (which has no fallback), and a queue without filters
//!   never sees a frame. Slots are still reserved at SET_FILTER, so running out of them is
//!   reported there.
//!
//! Filters on the default queue program pool 0: a MAC filter adds pool 0 to that MAC's RAR
//! (none is needed for the adapter's own MAC, RAR0 already steers it to pool 0), a VLAN filter
//! adds pool 0 to that VLAN's VLVF slot (so the VLAN passes the VLAN table and broadcasts on it
//! reach the default queue). Pool 0's VMOLR and VFRE bit belong to the packet filter, not here.
//!
//! # What is refused, and why
//!
//! Everything here answers `NDIS_STATUS_INVALID_PARAMETER` unless noted.
//!
//! * **A MAC test without a tag test** (no `VLAN_UNTAGGED_OR_ZERO`, no VLAN): NDIS 6.30 lets a
//!   miniport fail it (ndis-vmq-spec §2.2). With VLAN filtering on (RCTL.VFE, always set by
//!   `configure_vmdq`) a pool can only accept the VLANs listed in VLVF, never "every VLAN".
//! * **A VLAN test without a MAC test on a VM queue**: the 82576 selects a pool by MAC first;
//!   a VLAN alone steers nothing. On the default queue it is accepted (see above).
//! * **A group (multicast or broadcast) MAC**: VMQ filters name unicast stations; group frames
//!   are the default queue's.
//! * **A VM-queue filter on the adapter's own MAC**: that address lives in RAR0 for pool 0, and
//!   a second RAR with the same address would make the device replicate every such frame.
//! * **A filter the pool's product cannot express**: after adding it, a VM pool's filters must
//!   cover every (MAC, tag) pair of M<sub>p</sub> × T<sub>p</sub>, or the device would deliver
//!   frames no filter asked for (say (MAC1, untagged) and (MAC2, VLAN 5) on one queue would
//!   also let MAC1 on VLAN 5 in). One MAC with several tags, or several MACs with one tag, is
//!   fine, and that is what the Hyper-V switch sets (a vNIC's MAC with its access VLAN or its
//!   trunk VLANs).
//! * **A filter that makes two pools accept the same frame**: a MAC shared by queues is fine as
//!   long as their tags differ (the VLVF and AUPE bits then separate them); the same (MAC, tag)
//!   on two queues would be delivered, and indicated, twice. The default pool counts with what
//!   it really accepts: its MACs (the adapter's and those of its MAC filters) times its tags
//!   (untagged and the VLANs of its filters).
//! * A VLAN test while VLAN filtering is off (the current capabilities then do not advertise
//!   VLAN ids); VLAN 0 or above 4094.
//! * `NDIS_STATUS_RESOURCES`: no free receive-address register, VLVF slot or filter record.
//! * `NDIS_STATUS_NOT_SUPPORTED`: any queue or filter operation while VMQ is disabled.
//!
//! Priority-tagged frames (VLAN 0) are not handled: with VLAN filtering on, the device drops a
//! VLAN-0 frame unless VFTA bit 0 is set, which nothing here does.

use core::iter;

use super::image::{HardwareImage, ReceiveAddress, VM_POOLS, vm_pool_options};
use super::oids::SetFilterRequest;
use super::state::{QueueEvent, QueueState, next};
use crate::hw::igb::VlanEntry;
use crate::hw::igb::regs::{NUM_RAR, NUM_VLVF};
use crate::hw::igb::vmdq::MAX_VLAN_ID;
use crate::interrupt::Processor;
use crate::ndis::{
    NDIS_STATUS, NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_RESOURCES,
};

/// The default queue's id (`NDIS_DEFAULT_RECEIVE_QUEUE_ID`).
pub const DEFAULT_QUEUE_ID: u32 = 0;
/// The default queue's pool.
pub const DEFAULT_POOL: u8 = 0;
/// VM queues the 82576 can hold: pools 1..=7.
pub const MAX_VM_QUEUES: usize = VM_POOLS;
/// Filter records the model keeps. More than NDIS will ask for: the capabilities advertise 23
/// MAC header filters (the free RARs), and 23 filters always fit in 23 RARs and 32 VLVF slots.
pub const MAX_FILTERS: usize = 64;

const INVALID: NDIS_STATUS = NDIS_STATUS_INVALID_PARAMETER;

/// What a [`Vmq`] is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmqConfig {
    /// The `NumQueues` the current capabilities advertise (0: VMQ off). More than 7 is read
    /// as 7.
    pub queues: u32,
    /// Whether VLAN-id filters are accepted (the current capabilities advertise
    /// `NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED`).
    pub vlan_filtering: bool,
    /// The adapter's MAC address, which RAR0 steers to the default pool.
    pub adapter_mac: [u8; 6],
}

/// What a filter says about a frame's 802.1Q tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FilterTag {
    /// Untagged or VLAN 0 only (`NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO`).
    Untagged,
    /// This VLAN id only.
    Vlan(u16),
}

/// A VM queue, as [`Vmq::queue`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    /// NDIS's queue id.
    pub id: u32,
    /// Its pool (1..=7): RX queue n of the device.
    pub pool: u8,
    /// Where it is in its life.
    pub state: QueueState,
    /// The processor its interrupts should run on.
    pub processor: Processor,
    /// How many filters route to it.
    pub filters: usize,
}

/// A filter, as [`Vmq::filter`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterInfo {
    /// NDIS's filter id.
    pub id: u32,
    /// The queue it routes to (0: the default queue).
    pub queue_id: u32,
    /// That queue's pool.
    pub pool: u8,
    /// Destination MAC, if the filter tests it.
    pub mac: Option<[u8; 6]>,
    /// What it says about the tag.
    pub tag: FilterTag,
    /// The receive-address register reserved for its MAC (`None`: no MAC test, or the
    /// adapter's own MAC on the default queue, which RAR0 covers).
    pub receive_address: Option<u32>,
    /// The VLVF slot reserved for its VLAN.
    pub vlan_filter: Option<u32>,
}

/// What [`Vmq::clear_filter`] did. Never an error status: CLEAR_FILTER must complete with
/// SUCCESS (ndis-vmq-spec §2.2), so the glue logs the last two and returns SUCCESS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearOutcome {
    /// The filter is gone. `queue_state` is the VM queue's state afterwards (Allocated or
    /// Paused when that was its last filter); `None` for the default queue.
    Cleared {
        /// The queue's new state.
        queue_state: Option<QueueState>,
    },
    /// No filter has this id. Nothing changed.
    UnknownFilter,
    /// The filter exists but routes to `filter_queue`, not to the queue named. Nothing changed.
    WrongQueue {
        /// The queue the filter does route to.
        filter_queue: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct VmQueue {
    id: u32,
    state: QueueState,
    processor: Processor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Filter {
    id: u32,
    queue_id: u32,
    pool: u8,
    mac: Option<[u8; 6]>,
    tag: FilterTag,
}

impl Filter {
    /// The pair the filter matches, if it tests a MAC.
    fn pair(&self) -> Option<([u8; 6], FilterTag)> {
        Some((self.mac?, self.tag))
    }
}

/// The VMQ control state: queues, filters, slots (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmq {
    config: VmqConfig,
    enabled: bool,
    /// Entry n is the queue on pool n + 1.
    queues: [Option<VmQueue>; MAX_VM_QUEUES],
    filters: [Option<Filter>; MAX_FILTERS],
    /// The MAC each receive-address register is reserved for (entry 0, RAR0, never used).
    receive_addresses: [Option<[u8; 6]>; NUM_RAR as usize],
    /// The VLAN each VLVF slot is reserved for.
    vlan_filters: [Option<u16>; NUM_VLVF as usize],
}

fn pool_of_index(index: usize) -> u8 {
    // Indices of the 7-entry queue table.
    u8::try_from(index + 1).unwrap_or(u8::MAX)
}

fn slot_number(index: usize) -> u32 {
    // Indices of the 24- and 32-entry slot tables.
    u32::try_from(index).unwrap_or(u32::MAX)
}

const fn is_group_address(mac: [u8; 6]) -> bool {
    mac[0] & 1 != 0
}

impl Vmq {
    /// An adapter with no VM queue and no filter. VMQ is enabled when `config.queues` > 0.
    #[must_use]
    pub fn new(config: VmqConfig) -> Self {
        let queues = config.queues.min(u32::try_from(MAX_VM_QUEUES).unwrap_or(u32::MAX));
        Self {
            config: VmqConfig { queues, ..config },
            enabled: queues > 0,
            queues: [None; MAX_VM_QUEUES],
            filters: [None; MAX_FILTERS],
            receive_addresses: [None; NUM_RAR as usize],
            vlan_filters: [None; NUM_VLVF as usize],
        }
    }

    /// The configuration (with `queues` clamped to 7).
    #[must_use]
    pub const fn config(&self) -> VmqConfig {
        self.config
    }

    /// Whether VMQ is on.
    #[must_use]
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    // ---- Queries ------------------------------------------------------------------------------

    fn queue_index(&self, id: u32) -> Option<usize> {
        if id == DEFAULT_QUEUE_ID {
            return None;
        }
        self.queues.iter().position(|q| q.is_some_and(|q| q.id == id))
    }

    fn filter_count(&self, queue_id: u32) -> usize {
        self.live_filters().filter(|f| f.queue_id == queue_id).count()
    }

    fn live_filters(&self) -> impl Iterator<Item = &Filter> + Clone + '_ {
        self.filters.iter().flatten()
    }

    fn info(&self, index: usize, queue: VmQueue) -> QueueInfo {
        QueueInfo {
            id: queue.id,
            pool: pool_of_index(index),
            state: queue.state,
            processor: queue.processor,
            filters: self.filter_count(queue.id),
        }
    }

    /// VM queue `id` (never the default queue).
    #[must_use]
    pub fn queue(&self, id: u32) -> Option<QueueInfo> {
        let index = self.queue_index(id)?;
        Some(self.info(index, self.queues.get(index).copied().flatten()?))
    }

    /// Every VM queue, by pool.
    pub fn queues(&self) -> impl Iterator<Item = QueueInfo> + '_ {
        self.queues.iter().enumerate().filter_map(|(i, q)| Some(self.info(i, (*q)?)))
    }

    /// The pool of queue `id`: 0 for the default queue, `None` for an unknown id.
    #[must_use]
    pub fn pool_of(&self, queue_id: u32) -> Option<u8> {
        if queue_id == DEFAULT_QUEUE_ID {
            return Some(DEFAULT_POOL);
        }
        self.queue_index(queue_id).map(pool_of_index)
    }

    /// The queue on `pool`: 0 for the default pool, `None` for a free or invalid pool.
    #[must_use]
    pub fn queue_of_pool(&self, pool: u8) -> Option<u32> {
        if pool == DEFAULT_POOL {
            return Some(DEFAULT_QUEUE_ID);
        }
        let queue = self.queues.get(usize::from(pool).checked_sub(1)?).copied().flatten()?;
        Some(queue.id)
    }

    fn filter_info(&self, filter: &Filter) -> FilterInfo {
        let receive_address = filter
            .mac
            .and_then(|mac| self.receive_addresses.iter().position(|m| *m == Some(mac)))
            .map(slot_number);
        let vlan_filter = match filter.tag {
            FilterTag::Vlan(vlan) => {
                self.vlan_filters.iter().position(|v| *v == Some(vlan)).map(slot_number)
            }
            FilterTag::Untagged => None,
        };
        FilterInfo {
            id: filter.id,
            queue_id: filter.queue_id,
            pool: filter.pool,
            mac: filter.mac,
            tag: filter.tag,
            receive_address,
            vlan_filter,
        }
    }

    /// Filter `id`.
    #[must_use]
    pub fn filter(&self, id: u32) -> Option<FilterInfo> {
        self.live_filters().find(|f| f.id == id).map(|f| self.filter_info(f))
    }

    /// Every filter.
    pub fn filters(&self) -> impl Iterator<Item = FilterInfo> + '_ {
        self.live_filters().map(|f| self.filter_info(f))
    }

    /// The VM pools that receive: those whose queue is Running (bit k = pool k).
    #[must_use]
    pub fn receiving_pools(&self) -> u8 {
        self.queues.iter().enumerate().fold(0, |mask, (index, queue)| match queue {
            Some(q) if q.state == QueueState::Running => mask | 1 << pool_of_index(index),
            _ => mask,
        })
    }

    /// Receive-address registers still free for filters (23 on an empty model).
    #[must_use]
    pub fn free_receive_addresses(&self) -> u32 {
        let used = self.receive_addresses.iter().skip(1).flatten().count();
        u32::try_from(self.receive_addresses.len().saturating_sub(1 + used)).unwrap_or(0)
    }

    /// VLVF slots still free (32 on an empty model).
    #[must_use]
    pub fn free_vlan_filters(&self) -> u32 {
        slot_number(self.vlan_filters.iter().filter(|v| v.is_none()).count())
    }

    /// The pools whose filters are in the device now: the default pool and Running queues.
    fn active_pools(&self) -> u8 {
        self.receiving_pools() | 1 << DEFAULT_POOL
    }

    /// The register image the model implies (see the module documentation).
    #[must_use]
    pub fn hardware(&self) -> HardwareImage {
        let active = self.active_pools();
        let mut image = HardwareImage::EMPTY;
        let pools_where = |wanted: &dyn Fn(&Filter) -> bool| {
            self.live_filters().filter(|f| wanted(f)).fold(0u8, |mask, f| mask | 1 << f.pool)
        };
        for (slot, mac) in image.receive_addresses.iter_mut().zip(self.receive_addresses) {
            let Some(mac) = mac else { continue };
            let pools = pools_where(&|f| f.mac == Some(mac)) & active;
            *slot = (pools != 0).then_some(ReceiveAddress { mac, pools });
        }
        for (slot, vlan) in image.vlan_filters.iter_mut().zip(self.vlan_filters) {
            let Some(vlan) = vlan else { continue };
            let pools = pools_where(&|f| f.tag == FilterTag::Vlan(vlan)) & active;
            if pools != 0 {
                *slot = Some(VlanEntry { vlan, pools });
                if let Some(word) = image.vlan_table.get_mut(usize::from(vlan >> 5)) {
                    *word |= 1 << (vlan & 31);
                }
            }
        }
        for (index, options) in image.pool_options.iter_mut().enumerate() {
            let pool = pool_of_index(index);
            let untagged = pools_where(&|f| f.tag == FilterTag::Untagged) & 1 << pool != 0;
            *options = vm_pool_options(untagged);
        }
        image.receiving_pools = self.receiving_pools();
        image
    }

    // ---- Operations ---------------------------------------------------------------------------

    /// Turns VMQ on or off (OID_RECEIVE_FILTER_GLOBAL_PARAMETERS, which NDIS normally answers
    /// itself).
    ///
    /// # Errors
    /// `INVALID_PARAMETER`: on when the configuration advertises no queue (the interrupt grant
    /// does not allow VMQ), or off while queues or filters exist.
    pub fn set_enabled(&mut self, on: bool) -> Result<(), NDIS_STATUS> {
        if on && self.config.queues == 0 {
            return Err(INVALID);
        }
        if !on && (self.queues.iter().any(Option::is_some) || self.live_filters().next().is_some())
        {
            return Err(INVALID);
        }
        self.enabled = on;
        Ok(())
    }

    /// OID_RECEIVE_FILTER_ALLOCATE_QUEUE: a new queue on the lowest free pool, Allocated.
    /// Returns the pool (the RX queue to set up and bind).
    ///
    /// # Errors
    /// `NOT_SUPPORTED` while VMQ is off; `INVALID_PARAMETER` for id 0 or an id in use (in any
    /// state, freeing included); `RESOURCES` when the advertised number of queues exist (or no
    /// pool is free).
    pub fn allocate_queue(
        &mut self,
        queue_id: u32,
        processor: Processor,
    ) -> Result<u8, NDIS_STATUS> {
        if !self.enabled {
            return Err(NDIS_STATUS_NOT_SUPPORTED);
        }
        if queue_id == DEFAULT_QUEUE_ID || self.queue_index(queue_id).is_some() {
            return Err(INVALID);
        }
        let live = self.queues.iter().flatten().count();
        if u32::try_from(live).unwrap_or(u32::MAX) >= self.config.queues {
            return Err(NDIS_STATUS_RESOURCES);
        }
        let index = self.queues.iter().position(Option::is_none).ok_or(NDIS_STATUS_RESOURCES)?;
        let state = next(QueueState::Undefined, QueueEvent::Allocate).map_err(|_| INVALID)?;
        let slot = self.queues.get_mut(index).ok_or(NDIS_STATUS_RESOURCES)?;
        *slot = Some(VmQueue { id: queue_id, state, processor });
        Ok(pool_of_index(index))
    }

    /// Applies `event` to VM queue `queue_id`: the new state, stored, or `INVALID_PARAMETER`
    /// (unknown queue, or a transition the state machine refuses) with nothing changed.
    fn transition(&mut self, queue_id: u32, event: QueueEvent) -> Result<QueueState, NDIS_STATUS> {
        let index = self.queue_index(queue_id).ok_or(INVALID)?;
        let queue = self.queues.get_mut(index).and_then(Option::as_mut).ok_or(INVALID)?;
        let state = next(queue.state, event).map_err(|_| INVALID)?;
        queue.state = state;
        Ok(state)
    }

    /// OID_RECEIVE_FILTER_QUEUE_PARAMETERS with an affinity change: the queue's new processor.
    ///
    /// # Errors
    /// `INVALID_PARAMETER`: unknown queue (the default queue included), or one that is being
    /// freed.
    pub fn set_processor(
        &mut self,
        queue_id: u32,
        processor: Processor,
    ) -> Result<(), NDIS_STATUS> {
        let index = self.queue_index(queue_id).ok_or(INVALID)?;
        let queue = self.queues.get_mut(index).and_then(Option::as_mut).ok_or(INVALID)?;
        next(queue.state, QueueEvent::ParametersChanged).map_err(|_| INVALID)?;
        queue.processor = processor;
        Ok(())
    }

    /// One element of OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE: Allocated → Paused, Set →
    /// Running. Call it once the queue's ring is armed: from here on the image lets the pool
    /// receive when it has filters.
    ///
    /// # Errors
    /// `INVALID_PARAMETER`: unknown queue, or allocation already complete (or freeing).
    pub fn allocation_complete(&mut self, queue_id: u32) -> Result<QueueState, NDIS_STATUS> {
        self.transition(queue_id, QueueEvent::AllocationComplete)
    }

    /// OID_RECEIVE_FILTER_FREE_QUEUE: Allocated or Paused → StopDma. Returns the pool, whose
    /// receive DMA the glue now stops; the pool stays reserved until [`Vmq::freed`].
    ///
    /// # Errors
    /// `INVALID_PARAMETER`: unknown queue, a queue that still has filters (the protocol must
    /// clear them first), or one already being freed. FREE_QUEUE must still complete with
    /// SUCCESS (the verifier rule of ndis-vmq-spec §2.2): the glue logs and does nothing.
    pub fn free_queue(&mut self, queue_id: u32) -> Result<u8, NDIS_STATUS> {
        self.transition(queue_id, QueueEvent::FreeQueue)?;
        self.pool_of(queue_id).ok_or(INVALID)
    }

    /// Receive DMA of the queue has stopped and the DmaStopped state was indicated: StopDma →
    /// Freeing.
    ///
    /// # Errors
    /// `INVALID_PARAMETER`: unknown queue, or not in StopDma.
    pub fn dma_stopped(&mut self, queue_id: u32) -> Result<(), NDIS_STATUS> {
        self.transition(queue_id, QueueEvent::DmaStopped).map(|_| ())
    }

    /// The queue's NBLs are back and its memory freed: Freeing → Undefined. The queue is
    /// forgotten and its pool free again; returns that pool.
    ///
    /// # Errors
    /// `INVALID_PARAMETER`: unknown queue, or not in Freeing.
    pub fn freed(&mut self, queue_id: u32) -> Result<u8, NDIS_STATUS> {
        let index = self.queue_index(queue_id).ok_or(INVALID)?;
        let slot = self.queues.get_mut(index).ok_or(INVALID)?;
        let queue = slot.as_ref().ok_or(INVALID)?;
        next(queue.state, QueueEvent::Freed).map_err(|_| INVALID)?;
        *slot = None;
        Ok(pool_of_index(index))
    }

    /// OID_RECEIVE_FILTER_SET_FILTER: adds the filter, reserves its slots, and moves a VM queue
    /// Allocated → Set or Paused → Running (see the module documentation for what is refused).
    ///
    /// # Errors
    /// * `NOT_SUPPORTED` while VMQ is off.
    /// * `INVALID_PARAMETER`: a filter id in use; an unknown queue or one being freed; and the
    ///   filters the module documentation lists.
    /// * `RESOURCES`: no free filter record, receive-address register or VLVF slot.
    pub fn set_filter(&mut self, request: &SetFilterRequest) -> Result<(), NDIS_STATUS> {
        if !self.enabled {
            return Err(NDIS_STATUS_NOT_SUPPORTED);
        }
        if self.live_filters().any(|f| f.id == request.filter_id) {
            return Err(INVALID);
        }
        let tag = self.filter_tag(request)?;
        if request.mac.is_some_and(is_group_address) {
            return Err(INVALID);
        }
        let (pool, new_state) = if request.queue_id == DEFAULT_QUEUE_ID {
            (DEFAULT_POOL, None)
        } else {
            let queue = self.queue(request.queue_id).ok_or(INVALID)?;
            let state = next(queue.state, QueueEvent::SetFilter).map_err(|_| INVALID)?;
            if request.mac.is_none_or(|mac| mac == self.config.adapter_mac) {
                return Err(INVALID);
            }
            (queue.pool, Some(state))
        };
        let filter = Filter {
            id: request.filter_id,
            queue_id: request.queue_id,
            pool,
            mac: request.mac,
            tag,
        };
        if !self.expressible_with(&filter) {
            return Err(INVALID);
        }

        // Resources, all found before anything changes.
        let record = self.filters.iter().position(Option::is_none).ok_or(NDIS_STATUS_RESOURCES)?;
        let receive_address = match self.needs_receive_address(&filter) {
            Some(mac) if !self.receive_addresses.contains(&Some(mac)) => Some(
                self.receive_addresses
                    .iter()
                    .skip(1)
                    .position(Option::is_none)
                    .map(|i| (i + 1, mac))
                    .ok_or(NDIS_STATUS_RESOURCES)?,
            ),
            _ => None,
        };
        let vlan_filter = match tag {
            FilterTag::Vlan(vlan) if !self.vlan_filters.contains(&Some(vlan)) => Some(
                self.vlan_filters
                    .iter()
                    .position(Option::is_none)
                    .map(|i| (i, vlan))
                    .ok_or(NDIS_STATUS_RESOURCES)?,
            ),
            _ => None,
        };

        // Commit: every index below was found in its table above.
        if let Some((index, mac)) = receive_address
            && let Some(slot) = self.receive_addresses.get_mut(index)
        {
            *slot = Some(mac);
        }
        if let Some((index, vlan)) = vlan_filter
            && let Some(slot) = self.vlan_filters.get_mut(index)
        {
            *slot = Some(vlan);
        }
        if let Some(slot) = self.filters.get_mut(record) {
            *slot = Some(filter);
        }
        if let Some(state) = new_state
            && let Some(queue) =
                self.queue_index(request.queue_id).and_then(|i| self.queues.get_mut(i))
            && let Some(queue) = queue.as_mut()
        {
            queue.state = state;
        }
        Ok(())
    }

    /// The tag a request asks for, if it is one the model can filter on.
    fn filter_tag(&self, request: &SetFilterRequest) -> Result<FilterTag, NDIS_STATUS> {
        let tag = match (request.mac, request.vlan, request.untagged_or_zero) {
            (Some(_), None, true) => FilterTag::Untagged,
            (_, Some(vlan), false) => FilterTag::Vlan(vlan),
            _ => return Err(INVALID),
        };
        if let FilterTag::Vlan(vlan) = tag
            && (!self.config.vlan_filtering || !(1..=MAX_VLAN_ID).contains(&vlan))
        {
            return Err(INVALID);
        }
        Ok(tag)
    }

    /// The MAC a filter needs a receive-address register for: its own, unless it is the
    /// adapter's (RAR0 already steers that to the default pool, and VM queues may not use it).
    fn needs_receive_address(&self, filter: &Filter) -> Option<[u8; 6]> {
        filter.mac.filter(|mac| *mac != self.config.adapter_mac)
    }

    /// Whether the hardware can express the filters with `extra` added: every VM pool accepts
    /// exactly its filters' pairs, and no frame is accepted by two pools.
    fn expressible_with(&self, extra: &Filter) -> bool {
        let filters = self.live_filters().chain(iter::once(extra));
        let pools = filters.clone().fold(0u8, |mask, f| mask | 1 << f.pool);
        let vm_pools_exact = (1..=7u8)
            .filter(|pool| pools & 1 << pool != 0)
            .all(|pool| pool_is_exact(&filters.clone().filter(|f| f.pool == pool)));
        vm_pools_exact && self.pools_are_disjoint(filters)
    }

    /// No (MAC, tag) pair accepted by two pools, given that VM pools are exact (they accept
    /// their filters' pairs) and the default pool accepts its MACs × its tags.
    fn pools_are_disjoint<'a>(&self, filters: impl Iterator<Item = &'a Filter> + Clone) -> bool {
        let on_default = filters.clone().filter(|f| f.pool == DEFAULT_POOL);
        let default_has_mac = |mac: [u8; 6]| {
            mac == self.config.adapter_mac || on_default.clone().any(|f| f.mac == Some(mac))
        };
        let default_has_tag =
            |tag: FilterTag| tag == FilterTag::Untagged || on_default.clone().any(|f| f.tag == tag);
        let mut vm_pairs = filters.filter(|f| f.pool != DEFAULT_POOL);
        let pairs = vm_pairs.clone();
        vm_pairs.all(|f| {
            let Some((mac, tag)) = f.pair() else { return false };
            let elsewhere = pairs.clone().any(|g| g.pool != f.pool && g.pair() == Some((mac, tag)));
            let on_default = default_has_mac(mac) && default_has_tag(tag);
            !(elsewhere || on_default)
        })
    }

    /// OID_RECEIVE_FILTER_CLEAR_FILTER: removes the filter, releases slots nothing else uses,
    /// and moves a VM queue Set → Allocated or Running → Paused with its last filter. Never
    /// fails (see [`ClearOutcome`]).
    pub fn clear_filter(&mut self, queue_id: u32, filter_id: u32) -> ClearOutcome {
        let Some(record) = self.filters.iter().position(|f| f.is_some_and(|f| f.id == filter_id))
        else {
            return ClearOutcome::UnknownFilter;
        };
        let Some(filter) = self.filters.get(record).copied().flatten() else {
            return ClearOutcome::UnknownFilter;
        };
        if filter.queue_id != queue_id {
            return ClearOutcome::WrongQueue { filter_queue: filter.queue_id };
        }
        if let Some(slot) = self.filters.get_mut(record) {
            *slot = None;
        }
        if let Some(mac) = self.needs_receive_address(&filter)
            && !self.live_filters().any(|f| f.mac == Some(mac))
        {
            for slot in &mut self.receive_addresses {
                if *slot == Some(mac) {
                    *slot = None;
                }
            }
        }
        if let FilterTag::Vlan(vlan) = filter.tag
            && !self.live_filters().any(|f| f.tag == filter.tag)
        {
            for slot in &mut self.vlan_filters {
                if *slot == Some(vlan) {
                    *slot = None;
                }
            }
        }
        if queue_id == DEFAULT_QUEUE_ID {
            return ClearOutcome::Cleared { queue_state: None };
        }
        let last = self.filter_count(queue_id) == 0;
        let queue = self.queue_index(queue_id).and_then(|i| self.queues.get_mut(i)?.as_mut());
        let queue_state = queue.map(|queue| {
            // A queue with filters is Set or Running (filters are only added by transitions
            // that land there, and it cannot be freed while it has any), where ClearFilter is
            // always allowed.
            queue.state =
                next(queue.state, QueueEvent::ClearFilter { last }).unwrap_or(queue.state);
            queue.state
        });
        ClearOutcome::Cleared { queue_state }
    }
}

/// Whether a VM pool with `filters` accepts exactly their pairs: every (MAC, tag) of its
/// MACs × its tags is some filter's pair.
fn pool_is_exact<'a, I: Iterator<Item = &'a Filter> + Clone>(filters: &I) -> bool {
    filters.clone().all(|f| {
        filters.clone().all(|g| match (f.mac, g.mac) {
            (Some(mac), Some(_)) => filters.clone().any(|h| h.pair() == Some((mac, g.tag))),
            // A VM pool never has a filter without a MAC (refused before this check).
            _ => false,
        })
    })
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
