//! RX: from descriptor write-back to NBLs ready for indication.
//!
//! One measured region is one receive DPC's work on the default queue, with the driver's code:
//!
//! 1. the buffers of the NBLs NDIS returned since the last pass go back to the ledger (the walk
//!    of `ReceivePath::take_returned`, re-created here because it is private: read `Next` and
//!    the `MiniportReserved[0]` tag, `ReceiveQueue::give_back`);
//! 2. `ReceiveQueue::service` (poll and validate the write-backs, lend, re-arm, one tail
//!    write) with a sink that runs `miniport::receive::chain_receive_nbls`, the driver's own
//!    NBL filling and chaining, over NBLs in plain memory, computes the receive flags and bumps
//!    the outstanding count as `NdisSink` does, and stops where the driver calls
//!    NdisMIndicateReceiveNetBufferLists. `service` runs again while it reports `more`, as
//!    NDIS re-runs a DPC that sets `MoreNblsPending`.
//!
//! Not in the region: the device's write-backs (written by the bench between regions), the
//! NDIS call itself, MiniportReturnNetBufferLists (one CAS and one atomic decrement per NBL)
//! and `ReceivePath::service`'s per-pass bookkeeping (the work claim and three atomic
//! counters). The frame bytes are not written: the driver lends buffers without reading them,
//! so 64- and 1514-byte frames differ only in the write-back's length.

use std::hint::black_box;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering, fence};

use vmqnic::datapath::ledger::BufferLedger;
use vmqnic::datapath::rx::{RECEIVE_BUDGET, ReceiveQueue, ReceiveSink};
use vmqnic::hw::igb::regs::RDT;
use vmqnic::hw::igb::{RxCompletion, RxRing};
use vmqnic::miniport::receive::{
    RX_BUFFER_SIZE, RX_BUFFERS, RX_DESCRIPTORS, chain_receive_nbls, receive_flags,
};
use vmqnic::ndis::{MDL, MDL_SOURCE_IS_NONPAGED_POOL, NDIS_HANDLE, NET_BUFFER, NET_BUFFER_LIST};

use super::memory::Memory;
use super::regs::{BenchRegs, NoStall};
use super::{Size, Tally};

/// Device address of the descriptor ring.
pub const DESC_PHYS: u64 = 0x20_0000;
/// Device address of the buffers.
pub const BUF_PHYS: u64 = 0x100_0000;
/// Write-back status: DD | EOP.
pub const DD_EOP: u32 = 0b11;
/// Write-back packet type (dword 0 bits 15:4): IPv4 | UDP.
pub const PACKET_TYPE_IPV4_UDP: u32 = (1 | 1 << 5) << 4;
/// Most chains one region can lend (a batch of 256 is four passes of 64).
const MAX_CHAINS: usize = 8;

/// The ring and buffer counts for `batch`: the driver's 256 descriptors and 512 buffers; a
/// batch of 256 needs more than 255 armed descriptors, so it gets 512 and 1024.
pub fn ring_for(batch: usize) -> (u16, u16) {
    if batch < usize::from(RX_DESCRIPTORS) {
        (RX_DESCRIPTORS, RX_BUFFERS)
    } else {
        (2 * RX_DESCRIPTORS, 2 * RX_BUFFERS)
    }
}

/// The bench's 82576 receive DMA: writes back at its head while the head is not RDT.
pub struct RxDevice<'m> {
    desc: &'m Memory,
    count: u16,
    head: u16,
    length: u16,
}

impl<'m> RxDevice<'m> {
    pub fn new(desc: &'m Memory, count: u16, frame: usize) -> Self {
        Self { desc, count, head: 0, length: u16::try_from(frame).expect("a frame length") }
    }

    /// Writes back `frames` descriptors (DD written last); returns how many the ring had room
    /// for.
    pub fn produce(&mut self, regs: &BenchRegs, frames: usize) -> usize {
        for n in 0..frames {
            if u32::from(self.head) == regs.peek(RDT(0)) {
                return n;
            }
            let base = usize::from(self.head) * 16;
            self.desc.write_u32(base, PACKET_TYPE_IPV4_UDP);
            self.desc.write_u32(base + 4, 0x5A5A_1234);
            self.desc.write_u32(base + 12, u32::from(self.length));
            fence(Ordering::Release);
            self.desc.write_u32(base + 8, DD_EOP);
            self.head = (self.head + 1) % self.count;
        }
        frames
    }
}

/// The receive NBLs of a path, laid out as `ReceivePath::build` makes them: per buffer an NBL
/// with its NET_BUFFER and an MDL over the buffer, the NBL tagged with (pool, buffer).
pub struct ReceiveNbls {
    _lists: Memory,
    _buffers: Memory,
    _mdls: Memory,
    pub table: Vec<*mut NET_BUFFER_LIST>,
}

impl ReceiveNbls {
    pub fn new(ring: &RxRing<'_>, miniport: NDIS_HANDLE) -> Self {
        let count = usize::from(ring.buffer_count());
        let lists = Memory::array::<NET_BUFFER_LIST>(count);
        let buffers = Memory::array::<NET_BUFFER>(count);
        let mdls = Memory::array::<MDL>(count);
        let mut table = Vec::with_capacity(count);
        for index in 0..count {
            let (nbl, nb, mdl) =
                (lists.element(index), buffers.element(index), mdls.element(index));
            // SAFETY: element `index` of a zeroed array this value owns (all-zero is a valid
            // MDL); no other reference to it exists.
            let m: &mut MDL = unsafe { &mut *mdl };
            let buffer = u16::try_from(index).expect("a buffer number");
            let address = ring.buffer_address(buffer).expect("the ring's buffer");
            m.MdlFlags = MDL_SOURCE_IS_NONPAGED_POOL;
            m.MappedSystemVa = address.as_ptr().cast();
            m.StartVa = address.as_ptr().cast();
            m.ByteCount = RX_BUFFER_SIZE;
            // SAFETY: as above, for the NET_BUFFER array.
            let b: &mut NET_BUFFER = unsafe { &mut *nb };
            b.MdlChain = mdl;
            b.CurrentMdl = mdl;
            // SAFETY: as above, for the NBL array.
            let list: &mut NET_BUFFER_LIST = unsafe { &mut *nbl };
            list.FirstNetBuffer = nb;
            // The tag `ReceivePath::build` gives (pool 0, buffer).
            list.MiniportReserved[0] = usize::from(buffer) as *mut _;
            list.SourceHandle = miniport;
            table.push(nbl);
        }
        Self { _lists: lists, _buffers: buffers, _mdls: mdls, table }
    }
}

/// `NdisSink` up to the NDIS call: fills and chains the NBLs with the driver's function, sets
/// the flags, counts the lent NBLs; keeps each lent chain for the "protocol" to return.
pub struct BenchSink<'a> {
    pub nbls: &'a [*mut NET_BUFFER_LIST],
    pub miniport: NDIS_HANDLE,
    pub queue_id: u32,
    pub outstanding: &'a AtomicU32,
    pub lent: [*mut NET_BUFFER_LIST; MAX_CHAINS],
    pub lent_chains: usize,
    pub indications: u64,
}

impl ReceiveSink for BenchSink<'_> {
    fn indicate(&mut self, _ring: &RxRing<'_>, frames: &[RxCompletion], lend: bool) {
        // SAFETY: the table of `ReceiveNbls`: each NBL is the bench's, not with "NDIS" while
        // its buffer is polled from the ring, with its own NET_BUFFER.
        let (head, count) =
            unsafe { chain_receive_nbls(self.nbls, self.miniport, self.queue_id, frames) };
        if head.is_null() {
            return;
        }
        let flags = receive_flags(self.queue_id, lend);
        if lend {
            self.outstanding.fetch_add(count, Ordering::AcqRel);
            if let Some(slot) = self.lent.get_mut(self.lent_chains) {
                *slot = head;
                self.lent_chains += 1;
            }
        }
        // Where the driver calls NdisMIndicateReceiveNetBufferLists(miniport, head, 0, count,
        // flags).
        black_box((head, count, flags));
        self.indications += 1;
    }
}

/// One receive DPC's work (see the module docs).
pub fn dpc_pass(
    queue: &mut ReceiveQueue<'_>,
    sink: &mut BenchSink<'_>,
    returned: &[*mut NET_BUFFER_LIST],
    regs: &BenchRegs,
) {
    for &chain in returned {
        let mut nbl = chain;
        while let Some(current) = NonNull::new(nbl) {
            // SAFETY: an NBL of `ReceiveNbls` that the "protocol" returned; nothing else
            // touches it now.
            let list = unsafe { &*current.as_ptr() };
            nbl = list.Next;
            let tag = list.MiniportReserved[0] as usize;
            if let (Ok(_pool), Ok(buffer)) = (u8::try_from(tag >> 16), u16::try_from(tag & 0xFFFF))
            {
                queue.give_back(buffer);
            }
        }
    }
    while queue.service(regs, RECEIVE_BUDGET, sink).more {}
}

/// Runs the RX bench: `batch` frames of `frame` bytes per region.
pub fn run(batch: usize, frame: usize, size: Size, measure: bool) -> Tally {
    let (count, buffer_count) = ring_for(batch);
    let desc = Memory::new(usize::from(count) * 16);
    let bufs = Memory::new(usize::from(buffer_count) * RX_BUFFER_SIZE as usize);
    let regs = BenchRegs::new();
    let mut slots = vec![0u16; usize::from(count)];
    let mut ring = RxRing::new(
        0,
        desc.region(DESC_PHYS),
        bufs.region(BUF_PHYS),
        &mut slots,
        count,
        RX_BUFFER_SIZE,
    )
    .expect("a ring");
    ring.enable(&regs, &NoStall).expect("the ring enables");
    let miniport: NDIS_HANDLE = ptr::without_provenance_mut(0x4D50);
    let nbls = ReceiveNbls::new(&ring, miniport);
    let ledger = BufferLedger::new(ring.buffer_count(), ring.count()).expect("a ledger");
    let mut queue = ReceiveQueue::new(ring, ledger);
    let outstanding = AtomicU32::new(0);
    let mut sink = BenchSink {
        nbls: &nbls.table,
        miniport,
        queue_id: 0,
        outstanding: &outstanding,
        lent: [ptr::null_mut(); MAX_CHAINS],
        lent_chains: 0,
        indications: 0,
    };
    let mut device = RxDevice::new(&desc, count, frame);
    let mut returned = [ptr::null_mut(); MAX_CHAINS];
    let mut returning = 0;
    let mut tally = Tally::default();
    let warmup = size.warmup_packets(usize::from(count)).div_ceil(batch);
    let regions = size.packets().div_ceil(batch);
    for region in 0..warmup + regions {
        assert_eq!(device.produce(&regs, batch), batch, "the ring had room for the batch");
        let back = returned.get(..returning).unwrap_or_default();
        let before = regs.accesses();
        if measure && region >= warmup {
            tally.run(batch as u64, &mut || dpc_pass(&mut queue, &mut sink, back, &regs));
            let after = regs.accesses();
            tally.register_reads += after.0 - before.0;
            tally.register_writes += after.1 - before.1;
        } else {
            dpc_pass(&mut queue, &mut sink, back, &regs);
        }
        // The protocol returns every NBL after the indication (the simulator's AfterDpc).
        returned = sink.lent;
        returning = sink.lent_chains;
        sink.lent_chains = 0;
        outstanding.store(0, Ordering::Relaxed);
    }
    let frames = ((warmup + regions) * batch) as u64;
    let counters = queue.counters();
    assert_eq!(queue.ring().counters().frames, frames, "every frame polled");
    assert_eq!((counters.lent, counters.copied), (frames, 0), "every frame lent");
    tally
}
