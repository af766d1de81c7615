//! TX: from NBLs to descriptors, and back to completed NBLs.
//!
//! The send region is `SendPath::send` without the send spin lock: for each NBL of the chain
//! the outstanding count and `SendQueue::submit`, then `SendQueue::pump`, which copies each
//! NET_BUFFER from its MDL chain into a transmit buffer with the driver's own `Packets`
//! implementation (`miniport::send::NblPackets`: `copy_net_buffer`, 802.1Q insertion when
//! asked), writes the descriptors and the tail once. The completion region is
//! `SendPath::service` without the lock: `SendQueue::reclaim` (DD in memory), the completion
//! list, and the outstanding count, stopping where the driver calls
//! NdisMSendNetBufferListsComplete. Between regions the bench's device sets DD on every
//! descriptor up to TDT (QEMU sends synchronously on the TDT write).
//!
//! The NBLs are in plain memory, one NET_BUFFER and one MDL each (no backfill), untagged.

use std::hint::black_box;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};

use vmqnic::datapath::tx::SendQueue;
use vmqnic::hw::igb::TxRing;
use vmqnic::hw::igb::regs::TDT;
use vmqnic::miniport::send::{Completions, NblPackets, TX_BUFFER_SIZE, TX_DESCRIPTORS};
use vmqnic::ndis::{
    MDL, MDL_SOURCE_IS_NONPAGED_POOL, NET_BUFFER, NET_BUFFER_DATA_LENGTH, NET_BUFFER_LIST,
};

use super::memory::Memory;
use super::regs::{BenchRegs, NoStall};
use super::{Size, Tally};

type Nbl = NonNull<NET_BUFFER_LIST>;

const DESC_PHYS: u64 = 0x20_0000;
const BUF_PHYS: u64 = 0x100_0000;

/// Which region of the send cycle is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// NBLs to descriptors (MiniportSendNetBufferLists).
    Send,
    /// Descriptors done to NBLs completed (the transmit DPC).
    Complete,
}

/// The ring size for `batch`: the driver's 256 descriptors; 512 for a batch of 256 (a ring
/// holds one less than its size).
fn ring_for(batch: usize) -> u16 {
    if batch < usize::from(TX_DESCRIPTORS) { TX_DESCRIPTORS } else { 2 * TX_DESCRIPTORS }
}

/// The send path's state, as `SendPath` holds it.
struct SendState<'m> {
    queue: SendQueue<'m, Nbl>,
    packets: NblPackets,
    outstanding: AtomicU32,
    failed: AtomicU32,
    done: Completions,
}

impl SendState<'_> {
    /// `SendPath::send` (lock aside).
    fn send(&mut self, chain: *mut NET_BUFFER_LIST, regs: &BenchRegs) {
        let mut nbl = chain;
        while let Some(current) = NonNull::new(nbl) {
            // SAFETY: an NBL of the bench's protocol chain, handed to the send path.
            nbl = unsafe { (*current.as_ptr()).Next };
            self.outstanding.fetch_add(1, Ordering::AcqRel);
            self.queue.submit(&mut self.packets, current);
        }
        let done = &mut self.done;
        self.queue.pump(&mut self.packets, regs, |f| done.add_finished(f));
        self.finish();
    }

    /// `SendPath::service` (lock aside).
    fn complete(&mut self, regs: &BenchRegs) {
        let done = &mut self.done;
        self.queue.reclaim(&mut self.packets, |f| done.add_finished(f));
        if self.queue.waiting() > 0 {
            self.queue.pump(&mut self.packets, regs, |f| done.add_finished(f));
        }
        self.finish();
    }

    /// `SendPath::finish`: up to the NdisMSendNetBufferListsComplete call.
    fn finish(&mut self) {
        self.failed.fetch_add(self.done.failed, Ordering::Relaxed);
        if !self.done.head.is_null() {
            black_box(self.done.head);
            self.outstanding.fetch_sub(self.done.count, Ordering::AcqRel);
        }
        self.done.head = ptr::null_mut();
        self.done.count = 0;
        self.done.failed = 0;
    }
}

/// A protocol's send NBLs: each with one NET_BUFFER over one MDL of `frame` bytes.
struct Protocol {
    lists: Memory,
    _buffers: Memory,
    _mdls: Memory,
    _data: Memory,
    count: usize,
}

impl Protocol {
    fn new(count: usize, frame: usize) -> Self {
        let lists = Memory::array::<NET_BUFFER_LIST>(count);
        let buffers = Memory::array::<NET_BUFFER>(count);
        let mdls = Memory::array::<MDL>(count);
        let stride = frame.next_multiple_of(64);
        let data = Memory::new(stride * count);
        for index in 0..count {
            let bytes = data.address().as_ptr().wrapping_add(index * stride);
            for at in 0..frame {
                // An Ethernet frame: destination, source, EtherType 0x88B5, a pattern.
                let byte = match at {
                    0 => 0x02,
                    12 => 0x88,
                    13 => 0xB5,
                    _ => (at + index).to_le_bytes()[0],
                };
                // SAFETY: byte `at` < frame of slot `index`, inside `data`; no reference to
                // it exists.
                unsafe { bytes.wrapping_add(at).write(byte) };
            }
            let (nbl, nb, mdl) = (
                lists.element::<NET_BUFFER_LIST>(index),
                buffers.element::<NET_BUFFER>(index),
                mdls.element::<MDL>(index),
            );
            // SAFETY: element `index` of a zeroed array this value owns; no other reference.
            let m: &mut MDL = unsafe { &mut *mdl };
            m.MdlFlags = MDL_SOURCE_IS_NONPAGED_POOL;
            m.MappedSystemVa = bytes.cast();
            m.StartVa = bytes.cast();
            m.ByteCount = u32::try_from(frame).expect("a frame length");
            // SAFETY: as above.
            let b: &mut NET_BUFFER = unsafe { &mut *nb };
            b.MdlChain = mdl;
            b.CurrentMdl = mdl;
            b.DataLength = NET_BUFFER_DATA_LENGTH { stDataLength: frame };
            // SAFETY: as above.
            let list: &mut NET_BUFFER_LIST = unsafe { &mut *nbl };
            list.FirstNetBuffer = nb;
        }
        Self { lists, _buffers: buffers, _mdls: mdls, _data: data, count }
    }

    /// Links every NBL into one chain, in order; returns its head.
    fn chain(&self) -> *mut NET_BUFFER_LIST {
        for index in 0..self.count {
            let next = if index + 1 < self.count {
                self.lists.element::<NET_BUFFER_LIST>(index + 1)
            } else {
                ptr::null_mut()
            };
            // SAFETY: an NBL of this protocol, completed (not with the send path).
            unsafe { (*self.lists.element::<NET_BUFFER_LIST>(index)).Next = next };
        }
        self.lists.element(0)
    }
}

/// The bench's transmit DMA: every descriptor up to TDT is sent (DD set).
struct TxDevice<'m> {
    desc: &'m Memory,
    count: u16,
    head: u16,
}

impl TxDevice<'_> {
    fn transmit(&mut self, regs: &BenchRegs) -> usize {
        let tail = regs.peek(TDT(0));
        let mut sent = 0;
        while u32::from(self.head) != tail {
            let at = usize::from(self.head) * 16 + 12;
            self.desc.write_u32(at, self.desc.read_u32(at) | 1);
            self.head = (self.head + 1) % self.count;
            sent += 1;
        }
        sent
    }
}

/// Runs the TX bench: `batch` NBLs of `frame` bytes per send call, measuring `region`.
pub fn run(batch: usize, frame: usize, size: Size, region: Region, measure: bool) -> Tally {
    let count = ring_for(batch);
    let desc = Memory::new(usize::from(count) * 16);
    let bufs = Memory::new(usize::from(count) * TX_BUFFER_SIZE as usize);
    let regs = BenchRegs::new();
    let mut ring =
        TxRing::new(0, desc.region(DESC_PHYS), bufs.region(BUF_PHYS), count, TX_BUFFER_SIZE)
            .expect("a ring");
    ring.enable(&regs, &NoStall).expect("the ring enables");
    let mut owners = vec![None; usize::from(count)];
    let queue = SendQueue::new(ring, &mut owners).map_err(|_| ()).expect("a send queue");
    // SAFETY: the NBLs handed to the queue are `Protocol`'s: valid, the send path's alone
    // until completed, one NET_BUFFER each over one MDL with MDL_SOURCE_IS_NONPAGED_POOL and
    // `frame` readable bytes at MappedSystemVa.
    let packets = unsafe { NblPackets::new() };
    let mut state = SendState {
        queue,
        packets,
        outstanding: AtomicU32::new(0),
        failed: AtomicU32::new(0),
        done: Completions::new(),
    };
    let protocol = Protocol::new(batch, frame);
    let mut device = TxDevice { desc: &desc, count, head: 0 };
    let mut tally = Tally::default();
    let warmup = size.warmup_packets(usize::from(count)).div_ceil(batch);
    let cycles = size.packets().div_ceil(batch);
    for cycle in 0..warmup + cycles {
        let chain = protocol.chain();
        let measured = measure && cycle >= warmup;
        let before = regs.accesses();
        if measured && region == Region::Send {
            tally.run(batch as u64, &mut || state.send(chain, &regs));
            let after = regs.accesses();
            tally.register_reads += after.0 - before.0;
            tally.register_writes += after.1 - before.1;
        } else {
            state.send(chain, &regs);
        }
        assert_eq!(device.transmit(&regs), batch, "every NBL posted at once");
        let before = regs.accesses();
        if measured && region == Region::Complete {
            tally.run(batch as u64, &mut || state.complete(&regs));
            let after = regs.accesses();
            tally.register_reads += after.0 - before.0;
            tally.register_writes += after.1 - before.1;
        } else {
            state.complete(&regs);
        }
        assert_eq!(state.outstanding.load(Ordering::Relaxed), 0, "every NBL completed");
    }
    let frames = ((warmup + cycles) * batch) as u64;
    let counters = state.queue.ring().counters();
    assert_eq!((counters.posted, counters.completed), (frames, frames));
    assert_eq!(counters.bytes, frames * frame as u64);
    assert_eq!(state.failed.load(Ordering::Relaxed), 0);
    tally
}
