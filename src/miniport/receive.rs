//! The receive path's NDIS side: one [`ReceivePath`] per 82576 pool (the default queue is
//! pool 0). It owns the ring's memory (NdisAllocateSharedMemory), one pre-built NBL + MDL per
//! buffer, and turns the batches of [`crate::datapath::rx::ReceiveQueue`] into
//! NdisMIndicateReceiveNetBufferLists calls.
//!
//! * **No allocation per packet.** Every receive buffer has its NBL (with its NET_BUFFER) and
//!   its MDL from Initialize on; an indication only fills in lengths and out-of-band fields.
//! * **One queue per indication**, always with `NDIS_RECEIVE_FLAGS_SINGLE_QUEUE` and the
//!   queue's id in `NetBufferListFilteringInfo` (spec §2.4).
//! * **Returns without a lock.** MiniportReturnNetBufferLists may run on any processor, at the
//!   same time as the queue's DPC: it pushes each NBL onto its queue's lock-free return list
//!   (many producers, and a consumer that takes the whole list at once, so no ABA problem),
//!   and the DPC gives the buffers back to the ledger at the start of its next pass.
//! * **One owner at a time** ([`WorkClaim`]): the ring is touched by whoever claimed the
//!   queue, never under a spin lock held across an indication.

use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use super::dma::{PoolArray, SharedBlock};
use super::tags;
use crate::datapath::claim::WorkClaim;
use crate::datapath::ledger::BufferLedger;
use crate::datapath::rx::{ReceiveQueue, ReceiveSink, Serviced};
use crate::hw::igb::{self, RxCompletion, RxRing};
use crate::hw::{Registers, Stall};
use crate::ndis::{
    Ieee8021QNetBufferListInfo, MDL, NDIS_HANDLE, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
    NDIS_RECEIVE_FLAGS_RESOURCES, NDIS_RECEIVE_FLAGS_SHARED_MEMORY_INFO_VALID,
    NDIS_RECEIVE_FLAGS_SINGLE_QUEUE, NDIS_STATUS, NDIS_STATUS_RESOURCES, NET_BUFFER_DATA_LENGTH,
    NET_BUFFER_LIST, NET_BUFFER_SHARED_MEMORY, NET_BUFFER_SHARED_MEMORY_OR_SG, NdisAllocateMdl,
    NdisAllocateNetBufferAndNetBufferList, NdisFreeMdl, NdisFreeNetBufferList,
    NdisMIndicateReceiveNetBufferLists, NetBufferListFilteringInfo, ULONG, filtering_info_value,
    ieee8021q_info_value,
};

/// Descriptors per receive ring.
pub const RX_DESCRIPTORS: u16 = 256;
/// Buffers per receive ring: one per descriptor plus as many spares, so that protocols can
/// hold a full ring's worth of NBLs before the low-resources path starts copying.
pub const RX_BUFFERS: u16 = 2 * RX_DESCRIPTORS;
/// Bytes per receive buffer: a whole untagged or tagged 1514-byte frame (no jumbo frames).
pub const RX_BUFFER_SIZE: u32 = 2048;

/// The tag a receive NBL carries in `MiniportReserved[0]`: its pool and buffer, so that a
/// returned NBL finds its way home without trusting a pointer.
const fn nbl_tag(pool: u8, buffer: u16) -> usize {
    (pool as usize) << 16 | buffer as usize
}

/// The (pool, buffer) of a tag; `None` for a value no receive NBL carries.
fn nbl_home(tag: usize) -> Option<(u8, u16)> {
    let pool = u8::try_from(tag >> 16).ok()?;
    let buffer = u16::try_from(tag & 0xFFFF).ok()?;
    Some((pool, buffer))
}

/// What a DPC pass does with the frames in a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassMode {
    /// Indicate them (the adapter runs and the queue may indicate).
    Indicate,
    /// Drop them and re-arm (a VM queue that is not Running: it must not hold packets).
    Discard,
    /// Leave them in the ring (the adapter is paused; they are indicated after Restart).
    Hold,
}

/// What a receive path owns while it exists (see [`ReceivePath::create`]).
struct Resources {
    queue: Option<ReceiveQueue<'static>>,
    nbls: Option<PoolArray<*mut NET_BUFFER_LIST>>,
    /// A VM queue's `NET_BUFFER_SHARED_MEMORY` per buffer (spec §2.4); none for the default
    /// queue.
    shared_infos: Option<PoolArray<NET_BUFFER_SHARED_MEMORY>>,
    mdls: Option<PoolArray<*mut MDL>>,
    slots: Option<PoolArray<u16>>,
    descriptors: Option<SharedBlock>,
    buffers: Option<SharedBlock>,
}

impl Resources {
    const NONE: Self = Self {
        queue: None,
        nbls: None,
        shared_infos: None,
        mdls: None,
        slots: None,
        descriptors: None,
        buffers: None,
    };

    /// Frees everything, in reverse order of creation.
    ///
    /// # Safety
    /// PASSIVE_LEVEL; the device no longer writes the ring (queue disabled or never enabled)
    /// and NDIS holds none of the NBLs.
    unsafe fn release(&mut self, miniport: NDIS_HANDLE) {
        // The ring borrows the slot table and the shared memory: it goes first.
        self.queue = None;
        if let Some(nbls) = self.nbls.take() {
            for nbl in nbls.as_slice().iter().copied().filter(|n| !n.is_null()) {
                // SAFETY: an NBL this path allocated and owns (none is with NDIS), freed once.
                unsafe { NdisFreeNetBufferList(nbl) };
            }
            // SAFETY: no slice of the array is in use.
            unsafe { nbls.free() };
        }
        if let Some(infos) = self.shared_infos.take() {
            // SAFETY: the NBLs that pointed at the entries were freed above.
            unsafe { infos.free() };
        }
        if let Some(mdls) = self.mdls.take() {
            for mdl in mdls.as_slice().iter().copied().filter(|m| !m.is_null()) {
                // SAFETY: an MDL this path allocated; its NBL is freed above.
                unsafe { NdisFreeMdl(mdl) };
            }
            // SAFETY: no slice of the array is in use.
            unsafe { mdls.free() };
        }
        if let Some(slots) = self.slots.take() {
            // SAFETY: the ring that held the slice was dropped above.
            unsafe { slots.free() };
        }
        for block in [self.buffers.take(), self.descriptors.take()].into_iter().flatten() {
            // SAFETY: the caller guarantees the device and NDIS are done with the memory; the
            // ring's regions were dropped above.
            unsafe { block.free(miniport) };
        }
    }
}

/// One pool's receive queue, shared by the DPCs, the return path and the control paths.
pub struct ReceivePath {
    pool: u8,
    /// The NDIS queue id its NBLs carry (0: the default queue).
    queue_id: AtomicU32,
    claim: WorkClaim,
    /// NBLs NDIS gave back and the owner has not yet taken (linked through `Next`).
    returned: AtomicPtr<NET_BUFFER_LIST>,
    /// NBLs with NDIS now.
    outstanding: AtomicU32,
    /// Frames indicated, lent or copied.
    indicated: AtomicU64,
    /// Descriptors dropped as malformed (the ring's count, published after each pass).
    dropped: AtomicU64,
    /// Whether the queue may indicate (the default queue always; a VM queue while Running).
    accepting: AtomicBool,
    /// Touched only by the owner of `claim` (or with the adapter exclusively owned, at
    /// Initialize and Halt).
    resources: UnsafeCell<Resources>,
}

impl ReceivePath {
    /// An empty path for `pool` (nothing allocated).
    #[must_use]
    pub const fn new(pool: u8) -> Self {
        Self {
            pool,
            queue_id: AtomicU32::new(0),
            claim: WorkClaim::new(),
            returned: AtomicPtr::new(ptr::null_mut()),
            outstanding: AtomicU32::new(0),
            indicated: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            accepting: AtomicBool::new(false),
            resources: UnsafeCell::new(Resources::NONE),
        }
    }

    /// The pool.
    #[must_use]
    pub const fn pool(&self) -> u8 {
        self.pool
    }

    /// NBLs of this queue NDIS holds now.
    #[must_use]
    pub fn outstanding(&self) -> u32 {
        self.outstanding.load(Ordering::Acquire)
    }

    /// Frames indicated so far.
    #[must_use]
    pub fn indicated(&self) -> u64 {
        self.indicated.load(Ordering::Relaxed)
    }

    /// Lets the queue indicate (its VM queue is Running, or it is the default queue) or not
    /// (frames are then dropped by the DPC).
    pub fn set_accepting(&self, accepting: bool) {
        self.accepting.store(accepting, Ordering::Release);
    }

    /// What a DPC pass should do now, with the adapter `running` or paused.
    #[must_use]
    pub fn pass_mode(&self, running: bool) -> PassMode {
        match (running, self.accepting.load(Ordering::Acquire)) {
            (false, _) => PassMode::Hold,
            (true, true) => PassMode::Indicate,
            (true, false) => PassMode::Discard,
        }
    }

    /// Descriptors dropped as malformed so far (bad length, frame errors, no EOP).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Allocates the ring's memory, the NBLs and MDLs, and arms and enables the ring (the
    /// pool still has to be let in with VFRE and the receiver started).
    ///
    /// # Errors
    /// The status of a failed NDIS allocation, or `NDIS_STATUS_RESOURCES`; everything already
    /// allocated is released again.
    ///
    /// # Safety
    /// PASSIVE_LEVEL, inside MiniportInitializeEx (or QUEUE_ALLOCATION_COMPLETE) with
    /// scatter-gather DMA registered; the path has no resources yet; `nbl_pool` is the
    /// adapter's NBL pool.
    pub unsafe fn create(
        &self,
        miniport: NDIS_HANDLE,
        nbl_pool: NDIS_HANDLE,
        queue_id: u32,
        regs: &impl Registers,
        stall: &impl Stall,
    ) -> Result<(), NDIS_STATUS> {
        // As the queue's owner: a VM queue's interrupt is routed before its ring exists, and
        // a DPC pass on its entry must not see the resources half built.
        self.exclusively(stall, |resources| {
            // SAFETY: forwarded contract.
            let result =
                unsafe { self.build(resources, miniport, nbl_pool, queue_id, regs, stall) };
            if result.is_err() {
                // SAFETY: the ring was never enabled (or enabling failed and the device is
                // told to leave the queue alone), and no NBL was indicated.
                unsafe { resources.release(miniport) };
            }
            result
        })
    }

    /// The steps of [`create`](Self::create); on error the caller releases what was built.
    ///
    /// # Safety
    /// As for [`create`](Self::create).
    unsafe fn build(
        &self,
        r: &mut Resources,
        miniport: NDIS_HANDLE,
        nbl_pool: NDIS_HANDLE,
        queue_id: u32,
        regs: &impl Registers,
        stall: &impl Stall,
    ) -> Result<(), NDIS_STATUS> {
        self.queue_id.store(queue_id, Ordering::Relaxed);
        let descriptor_bytes = u32::from(RX_DESCRIPTORS) * 16;
        let buffer_bytes = u32::from(RX_BUFFERS) * RX_BUFFER_SIZE;
        // SAFETY: forwarded contract (PASSIVE, DMA registered).
        let descriptors = r.descriptors.insert(unsafe {
            SharedBlock::allocate(miniport, descriptor_bytes.max(4096), queue_id)
        }?);
        // SAFETY: as above.
        let buffers =
            r.buffers.insert(unsafe { SharedBlock::allocate(miniport, buffer_bytes, queue_id) }?);
        let buffers_handle = buffers.shared_memory_handle();
        let count = usize::from(RX_BUFFERS);
        // SAFETY: null pointers and zero integers are valid all-zero values.
        let slots = r.slots.insert(
            unsafe { PoolArray::<u16>::zeroed(miniport, usize::from(RX_DESCRIPTORS), tags::RX) }
                .ok_or(NDIS_STATUS_RESOURCES)?,
        );
        // SAFETY: as above.
        let mdls = r.mdls.insert(
            unsafe { PoolArray::<*mut MDL>::zeroed(miniport, count, tags::RX) }
                .ok_or(NDIS_STATUS_RESOURCES)?,
        );
        // SAFETY: as above.
        let nbls = r.nbls.insert(
            unsafe { PoolArray::<*mut NET_BUFFER_LIST>::zeroed(miniport, count, tags::RX) }
                .ok_or(NDIS_STATUS_RESOURCES)?,
        );
        // SAFETY: the regions are dropped (with the queue) before the blocks are freed in
        // Resources::release, and nothing else references the blocks' bytes.
        let descriptor_region = unsafe { descriptors.region() };
        // SAFETY: as above.
        let buffer_region = unsafe { buffers.region() };
        // SAFETY: the slot table outlives the ring, which Resources::release drops first.
        let slot_table = unsafe { slots.leak_mut() };
        let ring = RxRing::new(
            self.pool,
            descriptor_region,
            buffer_region,
            slot_table,
            RX_DESCRIPTORS,
            RX_BUFFER_SIZE,
        )
        .map_err(|_| NDIS_STATUS_RESOURCES)?;
        for buffer in 0..RX_BUFFERS {
            let address = ring.buffer_address(buffer).ok_or(NDIS_STATUS_RESOURCES)?;
            // SAFETY: RX_BUFFER_SIZE bytes of the shared block at `address`, mapped until the
            // block is freed (after the MDL).
            let mdl = unsafe { NdisAllocateMdl(miniport, address.as_ptr().cast(), RX_BUFFER_SIZE) };
            let mdl = NonNull::new(mdl).ok_or(NDIS_STATUS_RESOURCES)?;
            if let Some(entry) = mdls.as_mut_slice().get_mut(usize::from(buffer)) {
                *entry = mdl.as_ptr();
            }
            // SAFETY: the adapter's pool (fAllocateNetBuffer, no data); the NB describes no
            // bytes until an indication sets its length.
            let nbl = unsafe {
                NdisAllocateNetBufferAndNetBufferList(nbl_pool, 0, 0, mdl.as_ptr(), 0, 0)
            };
            let nbl = NonNull::new(nbl).ok_or(NDIS_STATUS_RESOURCES)?;
            if let Some(entry) = nbls.as_mut_slice().get_mut(usize::from(buffer)) {
                *entry = nbl.as_ptr();
            }
            // SAFETY: a fresh NBL this path owns exclusively.
            let list = unsafe { &mut *nbl.as_ptr() };
            list.MiniportReserved[0] = nbl_tag(self.pool, buffer) as *mut _;
            list.SourceHandle = miniport;
        }
        if queue_id != 0 {
            // SAFETY: forwarded contract; the NBLs were just built.
            unsafe { Self::describe_shared_memory(r, miniport, buffers_handle) }?;
        }
        let ledger = BufferLedger::new(ring.buffer_count(), ring.count())
            .map_err(|_| NDIS_STATUS_RESOURCES)?;
        let queue = r.queue.insert(ReceiveQueue::new(ring, ledger));
        queue.ring_mut().enable(regs, stall).map_err(|_| NDIS_STATUS_RESOURCES)?;
        Ok(())
    }

    /// Gives every NET_BUFFER of a VM queue its `NET_BUFFER_SHARED_MEMORY` (one segment: the
    /// buffer's offset and size in the queue's shared memory), set once: NDIS takes the packet
    /// bounds from the NB's offset and length (spec §2.4).
    ///
    /// # Safety
    /// PASSIVE_LEVEL during `build`: the NBLs are this path's and not indicated.
    unsafe fn describe_shared_memory(
        r: &mut Resources,
        miniport: NDIS_HANDLE,
        handle: NDIS_HANDLE,
    ) -> Result<(), NDIS_STATUS> {
        let count = usize::from(RX_BUFFERS);
        // SAFETY: all-zero is a valid NET_BUFFER_SHARED_MEMORY (null pointers, zero sizes).
        let infos =
            unsafe { PoolArray::<NET_BUFFER_SHARED_MEMORY>::zeroed(miniport, count, tags::RX) };
        let infos = r.shared_infos.insert(infos.ok_or(NDIS_STATUS_RESOURCES)?);
        let nbls = r.nbls.as_ref().ok_or(NDIS_STATUS_RESOURCES)?;
        let first = infos.as_mut_slice().as_mut_ptr();
        for (buffer, nbl) in (0u32..).zip(nbls.as_slice()) {
            let info = first.wrapping_add(buffer as usize);
            let entry = NET_BUFFER_SHARED_MEMORY {
                NextSharedMemorySegment: ptr::null_mut(),
                SharedMemoryFlags: 0,
                SharedMemoryHandle: handle,
                SharedMemoryOffset: buffer * RX_BUFFER_SIZE,
                SharedMemoryLength: RX_BUFFER_SIZE,
            };
            // SAFETY: `info` is element `buffer` of the array (the NBL table has as many
            // entries as the array), exclusively owned here.
            unsafe { info.write(entry) };
            let Some(nbl) = NonNull::new(*nbl) else { return Err(NDIS_STATUS_RESOURCES) };
            // SAFETY: an NBL this path allocated, not indicated yet.
            let nb = unsafe { (*nbl.as_ptr()).FirstNetBuffer };
            let Some(nb) = NonNull::new(nb) else { return Err(NDIS_STATUS_RESOURCES) };
            // SAFETY: the NBL's own NET_BUFFER, exclusively this path's; the array it points
            // to outlives it (freed after the NBLs).
            let buffer = unsafe { &mut *nb.as_ptr() };
            // Writing a union field is safe; NDIS reads the member the flag names.
            buffer.SharedMemoryInfoOrSg = NET_BUFFER_SHARED_MEMORY_OR_SG { SharedMemoryInfo: info };
        }
        Ok(())
    }

    /// Runs `f` as the queue's owner, waiting (at PASSIVE_LEVEL) until no DPC owns it. A DPC
    /// that comes meanwhile leaves a request and goes (it never spins); the request is dropped,
    /// since `f` is a control operation (stop, destroy) after which there is nothing to service.
    fn exclusively<R>(&self, stall: &impl Stall, f: impl FnOnce(&mut Resources) -> R) -> R {
        while self.claim.is_claimed() || !self.claim.try_begin() {
            stall.stall_us(10);
        }
        // SAFETY: this caller owns the claim, so nobody else touches the resources.
        let result = f(unsafe { &mut *self.resources.get() });
        while !self.claim.finish() {}
        result
    }

    /// Disables the ring and frees everything, as the queue's owner (a DPC pass running on
    /// another processor finishes first; later passes find no ring).
    ///
    /// # Safety
    /// PASSIVE_LEVEL; NDIS holds none of the path's NBLs (the adapter is paused, or the
    /// queue's DMA was stopped and every NBL came back).
    pub unsafe fn destroy(&self, miniport: NDIS_HANDLE, regs: &impl Registers, stall: &impl Stall) {
        self.exclusively(stall, |resources| {
            if let Some(queue) = resources.queue.as_mut() {
                // A device that is gone (or does not confirm) writes nothing more either way.
                let _ = queue.ring_mut().disable(regs, stall);
            }
            self.returned.store(ptr::null_mut(), Ordering::Release);
            // SAFETY: forwarded contract (PASSIVE_LEVEL, no NBL with NDIS); the ring is
            // disabled and this caller owns the queue, so no DPC pass uses the memory.
            unsafe { resources.release(miniport) };
        });
    }

    /// Stops the ring's DMA (FREE_QUEUE step 1): as the queue's owner, disables the ring
    /// (RXDCTL, bounded poll). Frames already written back stay until the path is destroyed.
    /// PASSIVE_LEVEL.
    pub fn stop_dma(&self, regs: &impl Registers, stall: &impl Stall) {
        self.exclusively(stall, |resources| {
            if let Some(queue) = resources.queue.as_mut() {
                // A device that is gone writes nothing more either way.
                let _ = queue.ring_mut().disable(regs, stall);
            }
        });
    }

    /// NDIS gave `nbl` back: queue it for the owner. Any IRQL <= DISPATCH_LEVEL, any
    /// processor, concurrently with everything else.
    fn push_returned(&self, nbl: NonNull<NET_BUFFER_LIST>) {
        let mut head = self.returned.load(Ordering::Relaxed);
        loop {
            // SAFETY: the NBL is this driver's again (NDIS returned it); only its `Next` link
            // is written, and nothing else reads it until the push below publishes it.
            unsafe { (*nbl.as_ptr()).Next = head };
            match self.returned.compare_exchange_weak(
                head,
                nbl.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
    }

    /// One DPC pass over the queue: take back returned buffers, then indicate, drop or leave
    /// up to `budget` frames as `mode` says, and re-arm. `None` if another owner has the queue
    /// (it runs a pass on this caller's behalf) or the path has no ring.
    pub fn service(
        &self,
        miniport: NDIS_HANDLE,
        regs: &impl Registers,
        budget: usize,
        mode: PassMode,
    ) -> Option<Serviced> {
        if !self.claim.try_begin() {
            return None;
        }
        let mut total: Option<Serviced> = None;
        loop {
            // SAFETY: this caller owns the claim, so it is the only one touching the resources.
            let resources = unsafe { &mut *self.resources.get() };
            if let Some(queue) = resources.queue.as_mut() {
                self.take_returned(queue);
                if mode == PassMode::Discard {
                    let dropped = queue.discard(regs, budget);
                    let sum = total.get_or_insert_with(Serviced::default);
                    sum.more |= dropped == budget && budget > 0;
                }
                if mode == PassMode::Indicate {
                    let nbls = resources.nbls.as_ref().map_or(&[][..], PoolArray::as_slice);
                    let mut sink = NdisSink {
                        miniport,
                        queue_id: self.queue_id.load(Ordering::Relaxed),
                        nbls,
                        outstanding: &self.outstanding,
                    };
                    let pass = queue.service(regs, budget, &mut sink);
                    self.indicated.fetch_add(pass.frames as u64, Ordering::Relaxed);
                    self.dropped.store(queue.ring().counters().dropped(), Ordering::Relaxed);
                    let sum = total.get_or_insert_with(Serviced::default);
                    sum.frames += pass.frames;
                    sum.lent += pass.lent;
                    sum.copied += pass.copied;
                    sum.rearmed += pass.rearmed;
                    sum.more |= pass.more;
                }
            }
            if self.claim.finish() {
                break;
            }
        }
        total
    }

    /// Gives the buffers of every returned NBL back to the ledger.
    fn take_returned(&self, queue: &mut ReceiveQueue<'static>) {
        let mut nbl = self.returned.swap(ptr::null_mut(), Ordering::Acquire);
        while let Some(current) = NonNull::new(nbl) {
            // SAFETY: an NBL of this path, returned by NDIS and published by push_returned;
            // the swap above made this caller its only reader.
            let list = unsafe { &*current.as_ptr() };
            nbl = list.Next;
            if let Some((_, buffer)) = nbl_home(list.MiniportReserved[0] as usize) {
                queue.give_back(buffer);
            }
        }
    }
}

/// MiniportReturnNetBufferLists for the receive paths: each NBL goes back to its pool's path.
/// NBLs whose tag names no path are dropped from the chain (an NDIS bug; the NBL stays
/// allocated and is freed with its path).
pub fn return_nbls(paths: &[ReceivePath], chain: *mut NET_BUFFER_LIST) {
    let mut nbl = chain;
    while let Some(current) = NonNull::new(nbl) {
        // SAFETY: NDIS returns a chain of NBLs this driver indicated; they are the driver's
        // again, and `Next` is read before the NBL is re-linked.
        let (next, tag) = unsafe {
            let list = &*current.as_ptr();
            (list.Next, list.MiniportReserved[0] as usize)
        };
        if let Some(path) = nbl_home(tag).and_then(|(pool, _)| paths.get(usize::from(pool))) {
            path.push_returned(current);
        }
        nbl = next;
    }
}

/// Turns a batch into one NdisMIndicateReceiveNetBufferLists call.
struct NdisSink<'a> {
    miniport: NDIS_HANDLE,
    queue_id: u32,
    nbls: &'a [*mut NET_BUFFER_LIST],
    outstanding: &'a AtomicU32,
}

/// Fills in the NBL of `completion`'s buffer and links it before `next`; `None` if the buffer
/// has no NBL (cannot happen for a ring a [`ReceivePath`] built).
///
/// # Safety
/// As for [`chain_receive_nbls`].
unsafe fn prepare(
    nbls: &[*mut NET_BUFFER_LIST],
    miniport: NDIS_HANDLE,
    queue_id: u32,
    completion: &RxCompletion,
    next: *mut NET_BUFFER_LIST,
) -> Option<NonNull<NET_BUFFER_LIST>> {
    let nbl = NonNull::new(*nbls.get(usize::from(completion.buffer))?)?;
    // SAFETY: the buffer's NBL is this driver's (not indicated: its buffer was just polled
    // from the ring), so nobody else touches it (the caller's contract).
    let list = unsafe { &mut *nbl.as_ptr() };
    let nb = NonNull::new(list.FirstNetBuffer)?;
    // SAFETY: the NBL's own preallocated NET_BUFFER, owned with it.
    let buffer = unsafe { &mut *nb.as_ptr() };
    list.Next = next;
    list.SourceHandle = miniport;
    list.Status = 0;
    let tci = completion.frame.vlan;
    list.NetBufferListInfo[Ieee8021QNetBufferListInfo] = tci.map_or(ptr::null_mut(), |tci| {
        let priority = u8::try_from(tci >> 13).unwrap_or(0);
        ieee8021q_info_value(tci & 0x0FFF, priority) as *mut _
    });
    let queue = u16::try_from(queue_id).unwrap_or(0);
    list.NetBufferListInfo[NetBufferListFilteringInfo] = filtering_info_value(queue, 0) as *mut _;
    buffer.DataLength =
        NET_BUFFER_DATA_LENGTH { stDataLength: usize::from(completion.frame.length) };
    buffer.DataOffset = 0;
    buffer.CurrentMdl = buffer.MdlChain;
    buffer.CurrentMdlOffset = 0;
    Some(nbl)
}

/// Fills in the NBL of each of `frames` (`nbls[buffer]`: lengths, queue id, 802.1Q info) and
/// links them in ring order; returns the chain's head (NULL if none had an NBL) and length.
/// This is everything a receive indication does before NdisMIndicateReceiveNetBufferLists.
///
/// Public (hidden) only so that `benches/perf` can run the driver's own NBL filling over NBLs
/// in plain memory; the driver calls it from its receive sink.
///
/// # Safety
/// Every non-null entry of `nbls` that a frame's buffer selects points to an NBL the caller
/// owns exclusively (not with NDIS), whose `FirstNetBuffer` is NULL or its own NET_BUFFER.
#[doc(hidden)]
pub unsafe fn chain_receive_nbls(
    nbls: &[*mut NET_BUFFER_LIST],
    miniport: NDIS_HANDLE,
    queue_id: u32,
    frames: &[RxCompletion],
) -> (*mut NET_BUFFER_LIST, u32) {
    let mut head: *mut NET_BUFFER_LIST = ptr::null_mut();
    let mut count = 0u32;
    for completion in frames.iter().rev() {
        // SAFETY: forwarded contract.
        if let Some(nbl) = unsafe { prepare(nbls, miniport, queue_id, completion, head) } {
            head = nbl.as_ptr();
            count += 1;
        }
    }
    (head, count)
}

/// The `ReceiveFlags` of an indication from the DPC: one queue, at DISPATCH_LEVEL; a VM
/// queue's buffers are its shared memory, described in each NB (spec §2.4); buffers that are
/// not lent go with the resources flag (the protocol copies during the call).
#[doc(hidden)]
#[must_use]
pub const fn receive_flags(queue_id: u32, lend: bool) -> ULONG {
    let mut flags = NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL | NDIS_RECEIVE_FLAGS_SINGLE_QUEUE;
    if queue_id != 0 {
        flags |= NDIS_RECEIVE_FLAGS_SHARED_MEMORY_INFO_VALID;
    }
    if !lend {
        flags |= NDIS_RECEIVE_FLAGS_RESOURCES;
    }
    flags
}

impl ReceiveSink for NdisSink<'_> {
    fn indicate(&mut self, _ring: &RxRing<'_>, frames: &[RxCompletion], lend: bool) {
        // SAFETY: the path's NBL table: each NBL is this driver's while its buffer is polled
        // from the ring and not indicated, with its own preallocated NET_BUFFER.
        let (head, count) =
            unsafe { chain_receive_nbls(self.nbls, self.miniport, self.queue_id, frames) };
        if head.is_null() {
            return;
        }
        let flags = receive_flags(self.queue_id, lend);
        if lend {
            self.outstanding.fetch_add(count, Ordering::AcqRel);
        }
        // SAFETY: a chain of `count` NBLs this driver owns, each describing a received frame
        // in its buffer; called from the DPC at DISPATCH_LEVEL (the flag says so). With the
        // resources flag they are the driver's again when the call returns.
        unsafe { NdisMIndicateReceiveNetBufferLists(self.miniport, head, 0, count, flags) };
    }
}

/// Lets `pool` receive and starts the receiver (Restart).
///
/// # Errors
/// [`igb::IgbError`] if the device is gone.
pub fn start(regs: &impl Registers, pool: u8) -> Result<(), igb::IgbError> {
    igb::enable_pool_rx(regs, pool, true)?;
    igb::start_receiver(regs)
}
