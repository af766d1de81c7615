//! The send path's NDIS side: transmit queue 0 of the default pool, copy-based
//! ([`crate::datapath::tx`] explains why). NBLs wait in a FIFO linked through their own `Next`
//! field; each NBL's progress is its `MiniportReserved[0]`; nothing is allocated per send.
//!
//! One NDIS spin lock guards the queue: MiniportSendNetBufferLists may run on any processor at
//! PASSIVE or DISPATCH level, concurrently with the transmit DPC, Pause and cancellation. It is
//! held only while frames are copied and descriptors written, never across an NDIS call:
//! finished NBLs are collected under the lock and completed after it is released.

use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::dma::{MiniportBlock, PoolArray};
use super::tags;
use crate::datapath::tx::{Finished, FrameWord, Packets, SendQueue};
use crate::hw::igb::{self, TxError, TxRing};
use crate::hw::{Registers, Stall};
use crate::ndis::{
    Ieee8021QNetBufferListInfo, MDL, NDIS_HANDLE, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
    NDIS_SPIN_LOCK, NDIS_STATUS, NDIS_STATUS_FAILURE, NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS,
    NET_BUFFER, NET_BUFFER_LIST, NdisAcquireSpinLock, NdisAllocateSpinLock, NdisDprAcquireSpinLock,
    NdisDprReleaseSpinLock, NdisFreeSpinLock, NdisMSendNetBufferListsComplete, NdisReleaseSpinLock,
    NetBufferListCancelId, mdl_system_address,
};

/// Descriptors of the transmit ring.
pub const TX_DESCRIPTORS: u16 = 256;
/// Bytes per transmit buffer: a 1514-byte frame plus an inserted 802.1Q tag fits.
pub const TX_BUFFER_SIZE: u32 = 2048;
/// Longest MDL chain a send may have (a longer one is taken for a corrupt chain and failed).
const MAX_MDLS_PER_FRAME: usize = 64;

/// An NBL in the send FIFO.
#[doc(hidden)]
pub type Nbl = NonNull<NET_BUFFER_LIST>;

/// A NET_BUFFER as the send engine's cursor.
#[derive(Clone, Copy, Debug)]
pub struct Nb(NonNull<NET_BUFFER>);

impl FrameWord for Nb {
    fn to_word(self) -> usize {
        self.0.as_ptr() as usize
    }
    fn from_word(word: usize) -> Self {
        // Words only ever come from `to_word` of a non-null NB.
        Self(NonNull::new(word as *mut NET_BUFFER).unwrap_or(NonNull::dangling()))
    }
}

/// [`Packets`] over NBLs the driver owns between MiniportSendNetBufferLists and their
/// completion.
///
/// Public (hidden) only so that `benches/perf` can drive a [`SendQueue`] with the driver's own
/// NBL accessors and MDL-chain copy over NBLs in plain memory; see [`NblPackets::new`].
#[doc(hidden)]
pub struct NblPackets(());
// The send path itself builds `NblPackets(())` directly: its NBLs come from
// MiniportSendNetBufferLists and always satisfy `new`'s contract.

impl NblPackets {
    /// The accessors, for a caller other than the send path.
    ///
    /// # Safety
    /// Every NBL handed to a [`SendQueue`] with this value is valid and exclusively the
    /// caller's until it is finished: its NET_BUFFERs are valid, and their MDL chains are
    /// valid MDLs whose `MdlFlags` include `MDL_MAPPED_TO_SYSTEM_VA` or
    /// `MDL_SOURCE_IS_NONPAGED_POOL` (so no mapping call is made) over `ByteCount` readable
    /// bytes at `MappedSystemVa`.
    #[must_use]
    pub const unsafe fn new() -> Self {
        Self(())
    }

    /// # Safety (of every use below)
    /// Every `Nbl` handed to the engine is a send NBL NDIS passed to
    /// MiniportSendNetBufferLists and the driver has not completed yet, so the driver may read
    /// it and write its `Next`, `MiniportReserved` and `Status`, and read its NET_BUFFERs and
    /// their MDLs; the send lock makes the accesses exclusive.
    fn nbl<'a>(packet: Nbl) -> &'a mut NET_BUFFER_LIST {
        // SAFETY: see above.
        unsafe { &mut *packet.as_ptr() }
    }
}

impl Packets for NblPackets {
    type Packet = Nbl;
    type Frame = Nb;

    fn next(&self, packet: Nbl) -> Option<Nbl> {
        NonNull::new(Self::nbl(packet).Next)
    }
    fn set_next(&mut self, packet: Nbl, next: Option<Nbl>) {
        Self::nbl(packet).Next = next.map_or(ptr::null_mut(), NonNull::as_ptr);
    }
    fn first_frame(&self, packet: Nbl) -> Option<Nb> {
        NonNull::new(Self::nbl(packet).FirstNetBuffer).map(Nb)
    }
    fn next_frame(&self, frame: Nb) -> Option<Nb> {
        // SAFETY: an NB of an NBL the driver owns (see `nbl`).
        let next = unsafe { (*frame.0.as_ptr()).Next };
        NonNull::new(next).map(Nb)
    }
    fn copy_frame(&mut self, packet: Nbl, frame: Nb, buffer: &mut [u8]) -> Result<usize, TxError> {
        let tag = Self::nbl(packet).NetBufferListInfo[Ieee8021QNetBufferListInfo] as usize;
        // SAFETY: an NB of an NBL the driver owns (see `nbl`).
        let nb = unsafe { &*frame.0.as_ptr() };
        copy_net_buffer(nb, tag, buffer)
    }
    fn progress(&self, packet: Nbl) -> u32 {
        u32::try_from(Self::nbl(packet).MiniportReserved[0] as usize).unwrap_or(0)
    }
    fn set_progress(&mut self, packet: Nbl, progress: u32) {
        Self::nbl(packet).MiniportReserved[0] = progress as usize as *mut _;
    }
}

/// Copies the `DataLength` bytes of `nb` (from `CurrentMdl` + `CurrentMdlOffset`) into
/// `buffer`, inserting an 802.1Q tag after the MAC addresses when `tag_info` (the NBL's
/// `Ieee8021QNetBufferListInfo`) asks for one. Returns the frame's length on the wire.
fn copy_net_buffer(nb: &NET_BUFFER, tag_info: usize, buffer: &mut [u8]) -> Result<usize, TxError> {
    // SAFETY: DataLength is the ULONG view of the union NDIS sets.
    let length = unsafe { nb.DataLength.DataLength } as usize;
    let vlan = u16::try_from(tag_info >> 4 & 0x0FFF).unwrap_or(0);
    let priority = u16::try_from(tag_info & 0x7).unwrap_or(0);
    let tagged = tag_info != 0 && length >= 12;
    let wire = length + if tagged { 4 } else { 0 };
    if length == 0 {
        return Err(TxError::Empty);
    }
    if wire > buffer.len() {
        return Err(TxError::TooLong(wire));
    }
    // Gather the data; with a tag, the first 12 bytes (MAC addresses) go first, then the tag,
    // then the rest, shifted by 4.
    let mut written = 0usize;
    let mut mdl = nb.CurrentMdl;
    let mut offset = nb.CurrentMdlOffset as usize;
    for _ in 0..MAX_MDLS_PER_FRAME {
        if written == length {
            break;
        }
        let Some(current) = NonNull::new(mdl) else { break };
        // SAFETY: an MDL of the NB's chain, valid while the driver owns the NBL.
        let m: &MDL = unsafe { &*current.as_ptr() };
        let available = (m.ByteCount as usize).saturating_sub(offset);
        let take = available.min(length - written);
        if take > 0 {
            // SAFETY: a valid MDL of a send NBL, at <= DISPATCH_LEVEL.
            let base = unsafe { mdl_system_address(current) }.ok_or(TxError::TooLong(0))?;
            let start = base.as_ptr().wrapping_add(offset).cast_const();
            // SAFETY: the MDL describes ByteCount readable bytes at its system address, and
            // `offset + take <= ByteCount`, so [start, start + take) is inside them.
            let source = unsafe { core::slice::from_raw_parts(start, take) };
            // In runs: with a tag, the frame's bytes before offset 12 stay where they are and
            // the rest go 4 further (after the tag), so an MDL is at most two copies. Every
            // run lies inside the buffer: `to + run <= wire <= buffer.len()`.
            let mut copied = 0;
            while copied < take {
                let at = written + copied;
                let (to, run) = match (tagged, at < 12) {
                    (true, true) => (at, (12 - at).min(take - copied)),
                    (true, false) => (at + 4, take - copied),
                    (false, _) => (at, take - copied),
                };
                let (Some(to_bytes), Some(from_bytes)) =
                    (buffer.get_mut(to..to + run), source.get(copied..copied + run))
                else {
                    break;
                };
                to_bytes.copy_from_slice(from_bytes);
                copied += run;
            }
            written += take;
        }
        offset = 0;
        mdl = m.Next;
    }
    if written != length {
        // The chain ends (or loops) before DataLength: not a frame that can be sent.
        return Err(TxError::TooLong(0));
    }
    if tagged {
        let tci = priority << 13 | vlan;
        let [hi, lo] = tci.to_be_bytes();
        if let Some(tag) = buffer.get_mut(12..16) {
            tag.copy_from_slice(&[0x81, 0x00, hi, lo]);
        }
    }
    Ok(wire)
}

/// What the send path owns while it exists.
struct Resources {
    queue: Option<SendQueue<'static, Nbl>>,
    owners: Option<PoolArray<Option<Nbl>>>,
    descriptors: Option<MiniportBlock>,
    buffers: Option<MiniportBlock>,
}

impl Resources {
    const NONE: Self = Self { queue: None, owners: None, descriptors: None, buffers: None };

    /// # Safety
    /// PASSIVE_LEVEL; the device no longer reads the ring and no NBL is in it.
    unsafe fn release(&mut self, miniport: NDIS_HANDLE) {
        self.queue = None;
        if let Some(owners) = self.owners.take() {
            // SAFETY: the queue that held the slice was dropped above.
            unsafe { owners.free() };
        }
        for block in [self.buffers.take(), self.descriptors.take()].into_iter().flatten() {
            // SAFETY: the caller guarantees the device is done with the memory.
            unsafe { block.free(miniport) };
        }
    }
}

/// Holds the send lock; released on drop.
struct Locked<'a> {
    lock: &'a UnsafeCell<NDIS_SPIN_LOCK>,
    at_dispatch: bool,
}

impl<'a> Locked<'a> {
    /// Takes `lock`: the Dpr variant when the caller is known to be at DISPATCH_LEVEL.
    fn take(lock: &'a UnsafeCell<NDIS_SPIN_LOCK>, at_dispatch: bool) -> Self {
        if at_dispatch {
            // SAFETY: an allocated NDIS spin lock at a stable address (inside the adapter),
            // taken at DISPATCH_LEVEL (the caller says so), not held by this processor.
            unsafe { NdisDprAcquireSpinLock(lock.get()) };
        } else {
            // SAFETY: as above, at <= DISPATCH_LEVEL.
            unsafe { NdisAcquireSpinLock(lock.get()) };
        }
        Self { lock, at_dispatch }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.at_dispatch {
            // SAFETY: taken with NdisDprAcquireSpinLock by `take`, released once.
            unsafe { NdisDprReleaseSpinLock(self.lock.get()) };
        } else {
            // SAFETY: taken with NdisAcquireSpinLock by `take`, released once.
            unsafe { NdisReleaseSpinLock(self.lock.get()) };
        }
    }
}

/// NBLs finished under the lock, completed after it (linked through `Next`). Public (hidden)
/// for the send benchmark, which finishes NBLs exactly as the driver does.
#[doc(hidden)]
pub struct Completions {
    /// The chain.
    pub head: *mut NET_BUFFER_LIST,
    /// NBLs in it.
    pub count: u32,
    /// Of those, failed.
    pub failed: u32,
}

impl Default for Completions {
    fn default() -> Self {
        Self::new()
    }
}

impl Completions {
    /// An empty chain.
    #[must_use]
    pub const fn new() -> Self {
        Self { head: ptr::null_mut(), count: 0, failed: 0 }
    }

    /// Links `nbl` in with `status` (the caller owns `nbl`: the send queue finished it).
    pub fn add(&mut self, nbl: Nbl, status: NDIS_STATUS) {
        let list = NblPackets::nbl(nbl);
        list.Status = status;
        list.Next = self.head;
        self.head = nbl.as_ptr();
        self.count += 1;
        if status == NDIS_STATUS_FAILURE {
            self.failed += 1;
        }
    }

    /// Links a finished packet in: SUCCESS if every frame was sent, else FAILURE.
    pub fn add_finished(&mut self, finished: Finished<Nbl>) {
        let status = if finished.ok { NDIS_STATUS_SUCCESS } else { NDIS_STATUS_FAILURE };
        self.add(finished.packet, status);
    }

    /// Completes them (outside any lock); returns how many.
    fn complete(self, miniport: NDIS_HANDLE, at_dispatch: bool) -> u32 {
        if self.head.is_null() {
            return 0;
        }
        let flags = if at_dispatch { NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL } else { 0 };
        // SAFETY: a chain of send NBLs NDIS gave the driver, each completed once, here.
        unsafe { NdisMSendNetBufferListsComplete(miniport, self.head, flags) };
        self.count
    }
}

/// Transmit queue 0 with its lock.
pub struct SendPath {
    lock: UnsafeCell<NDIS_SPIN_LOCK>,
    lock_allocated: UnsafeCell<bool>,
    /// Guarded by `lock` (or exclusive, at Initialize and Halt).
    resources: UnsafeCell<Resources>,
    /// NBLs accepted and not yet completed.
    outstanding: AtomicU32,
    /// NBLs completed with a failure (a frame that could not be sent).
    failed: AtomicU64,
}

impl Default for SendPath {
    fn default() -> Self {
        Self::new()
    }
}

impl SendPath {
    /// An empty path (nothing allocated).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            lock: UnsafeCell::new(NDIS_SPIN_LOCK { SpinLock: 0, OldIrql: 0 }),
            lock_allocated: UnsafeCell::new(false),
            resources: UnsafeCell::new(Resources::NONE),
            outstanding: AtomicU32::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// NBLs accepted and not yet completed.
    #[must_use]
    pub fn outstanding(&self) -> u32 {
        self.outstanding.load(Ordering::Acquire)
    }

    /// NBLs completed with a failure so far.
    #[must_use]
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Allocates the ring and its buffers, enables the ring and the transmitter.
    ///
    /// # Errors
    /// The status of a failed allocation, `NDIS_STATUS_RESOURCES`, or
    /// `NDIS_STATUS_ADAPTER_NOT_READY` if the device does not enable the queue; what was
    /// allocated is released.
    ///
    /// # Safety
    /// PASSIVE_LEVEL in MiniportInitializeEx with SG DMA registered; nobody else uses the path.
    pub unsafe fn create(
        &self,
        miniport: NDIS_HANDLE,
        regs: &impl Registers,
        stall: &impl Stall,
    ) -> Result<(), NDIS_STATUS> {
        // SAFETY: a lock in the adapter's memory, allocated once before any use.
        unsafe { NdisAllocateSpinLock(self.lock.get()) };
        // SAFETY: exclusive per the caller's contract.
        unsafe { *self.lock_allocated.get() = true };
        // SAFETY: exclusive per the caller's contract.
        let resources = unsafe { &mut *self.resources.get() };
        // SAFETY: forwarded contract.
        let result = unsafe { Self::build(resources, miniport, regs, stall) };
        if result.is_err() {
            // SAFETY: the ring holds no NBL; the device was told to stop or never started.
            unsafe { resources.release(miniport) };
        }
        result
    }

    /// # Safety
    /// As for [`create`](Self::create).
    unsafe fn build(
        r: &mut Resources,
        miniport: NDIS_HANDLE,
        regs: &impl Registers,
        stall: &impl Stall,
    ) -> Result<(), NDIS_STATUS> {
        let descriptor_bytes = (u32::from(TX_DESCRIPTORS) * 16).max(4096);
        // SAFETY: forwarded contract.
        let descriptors =
            r.descriptors.insert(unsafe { MiniportBlock::allocate(miniport, descriptor_bytes) }?);
        let buffer_bytes = u32::from(TX_DESCRIPTORS) * TX_BUFFER_SIZE;
        // SAFETY: forwarded contract.
        let buffers = r.buffers.insert(unsafe { MiniportBlock::allocate(miniport, buffer_bytes) }?);
        // SAFETY: all-zero is `None` for `Option<NonNull<_>>`.
        let owners = r.owners.insert(
            unsafe {
                PoolArray::<Option<Nbl>>::zeroed(miniport, usize::from(TX_DESCRIPTORS), tags::TX)
            }
            .ok_or(NDIS_STATUS_RESOURCES)?,
        );
        // SAFETY: the regions and the owner table are dropped (with the queue) before the
        // memory is freed in Resources::release.
        let descriptor_region = unsafe { descriptors.region() };
        // SAFETY: as above.
        let buffer_region = unsafe { buffers.region() };
        // SAFETY: as above.
        let owner_table = unsafe { owners.leak_mut() };
        let mut ring =
            TxRing::new(0, descriptor_region, buffer_region, TX_DESCRIPTORS, TX_BUFFER_SIZE)
                .map_err(|_| NDIS_STATUS_RESOURCES)?;
        let not_ready = |_| crate::ndis::NDIS_STATUS_ADAPTER_NOT_READY;
        ring.enable(regs, stall).map_err(not_ready)?;
        igb::start_transmitter(regs).map_err(not_ready)?;
        let queue = SendQueue::new(ring, owner_table).map_err(|_| NDIS_STATUS_RESOURCES)?;
        r.queue = Some(queue);
        Ok(())
    }

    /// Disables the ring and frees everything.
    ///
    /// # Safety
    /// PASSIVE_LEVEL; no DPC runs any more and no send is outstanding (the adapter is paused).
    pub unsafe fn destroy(&self, miniport: NDIS_HANDLE, regs: &impl Registers, stall: &impl Stall) {
        // SAFETY: exclusive per the caller's contract.
        let resources = unsafe { &mut *self.resources.get() };
        if let Some(queue) = resources.queue.as_mut() {
            let _ = queue.ring_mut().disable(regs, stall);
        }
        // SAFETY: forwarded contract.
        unsafe { resources.release(miniport) };
        // SAFETY: exclusive per the caller's contract.
        if unsafe { core::mem::replace(&mut *self.lock_allocated.get(), false) } {
            // SAFETY: the lock NdisAllocateSpinLock set up; nobody holds it any more.
            unsafe { NdisFreeSpinLock(self.lock.get()) };
        }
    }

    /// MiniportSendNetBufferLists while running: queues the chain, posts what fits, and
    /// completes any NBL that finished at once (all its frames refused). Without a ring
    /// (cannot happen after a successful Initialize) every NBL fails.
    pub fn send(
        &self,
        miniport: NDIS_HANDLE,
        regs: &impl Registers,
        chain: *mut NET_BUFFER_LIST,
        at_dispatch: bool,
    ) {
        let mut done = Completions::new();
        {
            let _locked = self.lock_if_allocated(at_dispatch);
            // SAFETY: the send lock is held (or the path was never created: no ring, and no
            // one else touches the empty resources).
            let resources = unsafe { &mut *self.resources.get() };
            let mut nbl = chain;
            while let Some(current) = NonNull::new(nbl) {
                nbl = NblPackets::nbl(current).Next;
                self.outstanding.fetch_add(1, Ordering::AcqRel);
                if let Some(queue) = resources.queue.as_mut() {
                    queue.submit(&mut NblPackets(()), current);
                } else {
                    done.add(current, NDIS_STATUS_FAILURE);
                }
            }
            if let Some(queue) = resources.queue.as_mut() {
                queue.pump(&mut NblPackets(()), regs, |f| done.add_finished(f));
            }
        }
        self.finish(done, miniport, at_dispatch);
    }

    /// The transmit DPC's work: credit what the device sent, post what waited, complete what
    /// finished. Reads no register.
    pub fn service(&self, miniport: NDIS_HANDLE, regs: &impl Registers) {
        let mut done = Completions::new();
        {
            let _locked = self.lock_if_allocated(true);
            // SAFETY: the send lock is held.
            let resources = unsafe { &mut *self.resources.get() };
            if let Some(queue) = resources.queue.as_mut() {
                queue.reclaim(&mut NblPackets(()), |f| done.add_finished(f));
                if queue.waiting() > 0 {
                    queue.pump(&mut NblPackets(()), regs, |f| done.add_finished(f));
                }
            }
        }
        self.finish(done, miniport, true);
    }

    /// Completes every NBL still waiting for the ring with `status` (Pause: PAUSED;
    /// MiniportCancelSend: SEND_ABORTED for the NBLs with `cancel_id`). NBLs partly in the ring
    /// finish normally.
    pub fn abort_waiting(
        &self,
        miniport: NDIS_HANDLE,
        status: NDIS_STATUS,
        cancel_id: Option<usize>,
        at_dispatch: bool,
    ) {
        let mut done = Completions::new();
        {
            let _locked = self.lock_if_allocated(at_dispatch);
            // SAFETY: the send lock is held.
            let resources = unsafe { &mut *self.resources.get() };
            if let Some(queue) = resources.queue.as_mut() {
                let matches = |_: &NblPackets, nbl: Nbl| {
                    cancel_id.is_none_or(|id| {
                        NblPackets::nbl(nbl).NetBufferListInfo[NetBufferListCancelId] as usize == id
                    })
                };
                queue.remove_waiting(&mut NblPackets(()), matches, |nbl| done.add(nbl, status));
            }
        }
        self.finish(done, miniport, at_dispatch);
    }

    /// The device is gone (surprise removal): completes every NBL in the ring and every NBL
    /// waiting for it with `NDIS_STATUS_FAILURE`, since the device will never send them nor
    /// write their descriptors back. Touches no register.
    pub fn abandon(&self, miniport: NDIS_HANDLE, at_dispatch: bool) {
        let mut done = Completions::new();
        {
            let _locked = self.lock_if_allocated(at_dispatch);
            // SAFETY: the send lock is held.
            let resources = unsafe { &mut *self.resources.get() };
            if let Some(queue) = resources.queue.as_mut() {
                queue.abandon(&mut NblPackets(()), |f| done.add_finished(f));
            }
        }
        self.finish(done, miniport, at_dispatch);
    }

    fn lock_if_allocated(&self, at_dispatch: bool) -> Option<Locked<'_>> {
        // SAFETY: written only at create/destroy, when nothing else runs.
        let allocated = unsafe { *self.lock_allocated.get() };
        allocated.then(|| Locked::take(&self.lock, at_dispatch))
    }

    /// Completes `done` and stops counting its NBLs as outstanding.
    fn finish(&self, done: Completions, miniport: NDIS_HANDLE, at_dispatch: bool) {
        self.failed.fetch_add(u64::from(done.failed), Ordering::Relaxed);
        let completed = done.complete(miniport, at_dispatch);
        if completed > 0 {
            self.outstanding.fetch_sub(completed, Ordering::AcqRel);
        }
    }
}
