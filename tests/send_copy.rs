//! The send path's copy from MDL chains (`miniport::send::NblPackets`, i.e. `copy_net_buffer`)
//! against a byte-by-byte reference, without QEMU: random frames, backfill, MDL sizes (down to
//! one byte, so MDLs end before, at and after the 802.1Q tag's insertion point; at most the
//! 64 MDLs the driver accepts) and tags, each
//! sent through a `SendQueue` over a ring in plain memory; the transmit buffer must hold the
//! frame as it goes on the wire, and the descriptor its length.

// The bench's plain-memory helpers (each test binary uses a subset).
#[path = "../benches/perf/harness/memory.rs"]
#[allow(dead_code)]
mod memory;
#[path = "../benches/perf/harness/regs.rs"]
#[allow(dead_code)]
mod regs;

use std::ptr::{self, NonNull};

use memory::Memory;
use proptest::prelude::*;
use regs::{BenchRegs, NoStall};
use vmqnic::datapath::tx::SendQueue;
use vmqnic::hw::igb::TxRing;
use vmqnic::miniport::send::NblPackets;
use vmqnic::ndis::{
    Ieee8021QNetBufferListInfo, MDL, MDL_SOURCE_IS_NONPAGED_POOL, NET_BUFFER,
    NET_BUFFER_DATA_LENGTH, NET_BUFFER_LIST, ieee8021q_info_value,
};

// The driver's NDIS imports resolve against the simulated ndis.sys (never called here).
use ndis_sim as _;

/// The frame as the wire carries it: the tag after the MAC addresses when asked for.
fn on_the_wire(frame: &[u8], tag: Option<(u16, u8)>) -> Vec<u8> {
    match tag {
        Some((vlan, priority)) if frame.len() >= 12 => {
            let tci = (u16::from(priority) << 13 | vlan).to_be_bytes();
            let mut wire = frame[..12].to_vec();
            wire.extend_from_slice(&[0x81, 0x00, tci[0], tci[1]]);
            wire.extend_from_slice(&frame[12..]);
            wire
        }
        _ => frame.to_vec(),
    }
}

/// Sends `frame` (after `backfill` unused bytes, in MDLs of `mdl_size` bytes) and returns the
/// transmit buffer's bytes and the descriptor's length.
fn send(frame: &[u8], backfill: usize, mdl_size: usize, tag: Option<(u16, u8)>) -> Vec<u8> {
    let data: Vec<u8> = std::iter::repeat_n(0xEE, backfill).chain(frame.iter().copied()).collect();
    // The driver takes a chain of more than 64 MDLs for a corrupt one (MAX_MDLS_PER_FRAME).
    let mdl_size = mdl_size.max(data.len().div_ceil(64));
    let chunks: Vec<&[u8]> = data.chunks(mdl_size).collect();
    let mdls = Memory::array::<MDL>(chunks.len());
    let bytes = Memory::new(data.len());
    let mut at = 0;
    for (index, chunk) in chunks.iter().enumerate() {
        let start = bytes.address().as_ptr().wrapping_add(at);
        for (i, byte) in chunk.iter().enumerate() {
            // SAFETY: inside `bytes` (data.len() bytes); no reference to them exists.
            unsafe { start.wrapping_add(i).write(*byte) };
        }
        // SAFETY: element `index` of a zeroed MDL array this test owns.
        let mdl: &mut MDL = unsafe { &mut *mdls.element::<MDL>(index) };
        mdl.MdlFlags = MDL_SOURCE_IS_NONPAGED_POOL;
        mdl.MappedSystemVa = start.cast();
        mdl.ByteCount = u32::try_from(chunk.len()).unwrap();
        mdl.Next = if index + 1 < chunks.len() { mdls.element(index + 1) } else { ptr::null_mut() };
        at += chunk.len();
    }
    let buffer_memory = Memory::array::<NET_BUFFER>(1);
    let list_memory = Memory::array::<NET_BUFFER_LIST>(1);
    // SAFETY: the zeroed NET_BUFFER this test owns.
    let nb: &mut NET_BUFFER = unsafe { &mut *buffer_memory.element::<NET_BUFFER>(0) };
    nb.MdlChain = mdls.element(0);
    nb.CurrentMdl = mdls.element(backfill / mdl_size);
    nb.CurrentMdlOffset = u32::try_from(backfill % mdl_size).unwrap();
    nb.DataOffset = u32::try_from(backfill).unwrap();
    nb.DataLength = NET_BUFFER_DATA_LENGTH { stDataLength: frame.len() };
    // SAFETY: the zeroed NBL this test owns.
    let nbl: &mut NET_BUFFER_LIST = unsafe { &mut *list_memory.element::<NET_BUFFER_LIST>(0) };
    nbl.FirstNetBuffer = buffer_memory.element(0);
    nbl.NetBufferListInfo[Ieee8021QNetBufferListInfo] =
        tag.map_or(0, |(vlan, priority)| ieee8021q_info_value(vlan, priority)) as *mut _;

    let desc = Memory::new(8 * 16);
    let bufs = Memory::new(8 * 2048);
    let regs = BenchRegs::new();
    let mut ring = TxRing::new(0, desc.region(0x1000), bufs.region(0x10_0000), 8, 2048).unwrap();
    ring.enable(&regs, &NoStall).unwrap();
    let mut owners = vec![None; 8];
    let mut queue = SendQueue::new(ring, &mut owners).map_err(|_| ()).unwrap();
    // SAFETY: the one NBL handed to the queue is this test's, with one NET_BUFFER over MDLs
    // with MDL_SOURCE_IS_NONPAGED_POOL and ByteCount readable bytes at MappedSystemVa.
    let mut packets = unsafe { NblPackets::new() };
    let packet = NonNull::from(nbl);
    queue.submit(&mut packets, packet);
    let mut failed = false;
    assert_eq!(queue.pump(&mut packets, &regs, |f| failed |= !f.ok), 1, "one frame posted");
    assert!(!failed);
    let length = (desc.read_u32(8) & 0xFFFF) as usize;
    let address = bufs.address().as_ptr();
    // SAFETY: the first transmit buffer (2048 bytes) of `bufs`; the ring is done writing it.
    unsafe { std::slice::from_raw_parts(address, length) }.to_vec()
}

proptest! {
    #[test]
    fn the_transmit_buffer_holds_the_frame_as_it_goes_on_the_wire(
        frame in proptest::collection::vec(any::<u8>(), 1..1515usize),
        backfill in 0usize..40,
        mdl_size in prop_oneof![1usize..20, 1usize..2000],
        tag in proptest::option::of((1u16..4095, 0u8..8)),
    ) {
        prop_assert_eq!(send(&frame, backfill, mdl_size, tag), on_the_wire(&frame, tag));
    }
}
