//! The allocation-event counter: every call of an allocating export, successful or not, so
//! that a test can prove a data path allocates nothing per packet.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ptr;
use std::time::Duration;

use ndis_sim::sim::exports::{
    NdisAllocateIoWorkItem, NdisAllocateMdl, NdisAllocateMemoryWithTagPriority,
    NdisAllocateNetBufferAndNetBufferList, NdisAllocateNetBufferListPool, NdisAllocateSharedMemory,
    NdisAllocateSpinLock, NdisFreeIoWorkItem, NdisFreeMdl, NdisFreeMemory, NdisFreeNetBufferList,
    NdisFreeNetBufferListPool, NdisMAllocateSharedMemory,
};
use ndis_sim::sim::{ALLOCATING_EXPORTS, ReturnPolicy, Sim, SimConfig, rules, with_state};
use vmqnic::ndis::{
    NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_SHARED_MEMORY_PARAMETERS, NDIS_SPIN_LOCK,
    NET_BUFFER_LIST_POOL_PARAMETERS,
};

use crate::fake::{self, Receive};

fn handle() -> NDIS_HANDLE {
    with_state(|s| s.miniport_handle) as NDIS_HANDLE
}

#[test]
fn every_allocating_export_is_counted_successful_or_not() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    assert_eq!(sim.allocation_calls(), 0);
    let block = NdisAllocateMemoryWithTagPriority(handle(), 64, fake::TAG, 16);
    assert!(NdisAllocateMemoryWithTagPriority(handle(), 0, fake::TAG, 16).is_null());
    let parameters = NET_BUFFER_LIST_POOL_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::new(0x80, 1, 0x10),
        fAllocateNetBuffer: 1,
        PoolTag: fake::TAG,
        ..NET_BUFFER_LIST_POOL_PARAMETERS::default()
    };
    // SAFETY: the parameters outlive the call.
    let pool = unsafe { NdisAllocateNetBufferListPool(handle(), &raw const parameters) };
    let mdl = NdisAllocateMdl(handle(), block, 64);
    let nbl = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, mdl, 0, 64);
    // SAFETY: all-zero parameters are a valid value.
    let mut shared: NDIS_SHARED_MEMORY_PARAMETERS = unsafe { std::mem::zeroed() };
    let mut allocation: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: the parameters and the out handle outlive the call; it fails before using them
    // (no scatter-gather DMA is registered).
    unsafe { NdisAllocateSharedMemory(handle(), &raw mut shared, &raw mut allocation) };
    let mut address: *mut c_void = ptr::null_mut();
    let mut physical: i64 = 0;
    // SAFETY: both out parameters outlive the call (which fails: no scatter-gather DMA).
    unsafe { NdisMAllocateSharedMemory(handle(), 0x1000, 0, &raw mut address, &raw mut physical) };
    let work_item = NdisAllocateIoWorkItem(handle());
    // Initializing a spin lock allocates nothing.
    let mut lock = NDIS_SPIN_LOCK::default();
    // SAFETY: the lock outlives its use.
    unsafe { NdisAllocateSpinLock(&raw mut lock) };

    assert_eq!(sim.allocation_calls(), 8);
    let expected: BTreeMap<&str, u64> = [
        ("NdisAllocateMemoryWithTagPriority", 2),
        ("NdisAllocateNetBufferListPool", 1),
        ("NdisAllocateMdl", 1),
        ("NdisAllocateNetBufferAndNetBufferList", 1),
        ("NdisAllocateSharedMemory", 1),
        ("NdisMAllocateSharedMemory", 1),
        ("NdisAllocateIoWorkItem", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(sim.allocation_calls_by_function(), expected);
    assert!(expected.keys().all(|name| ALLOCATING_EXPORTS.contains(name)));
    assert_eq!(
        sim.violated_rules(),
        vec![
            rules::ALLOCATE_LENGTH,
            rules::SHARED_MEMORY_WITHOUT_SG_DMA,
            rules::MINIPORT_SHARED_MEMORY_WITHOUT_SG_DMA,
        ],
        "the failed calls count too"
    );
    // Frees are not allocations.
    NdisFreeNetBufferList(nbl);
    NdisFreeMdl(mdl);
    NdisFreeNetBufferListPool(pool);
    NdisFreeMemory(block.cast::<c_void>(), 0, 0);
    NdisFreeIoWorkItem(work_item);
    assert_eq!(sim.allocation_calls(), 8);
}

#[test]
fn allocations_per_packet_show_between_two_deliveries() {
    // The fake allocates an MDL and an NBL for each frame it indicates (a real data path must
    // not): two frames, four calls; an interrupt without frames, none.
    let receive = Receive { nbls: vec![(0, 60), (0, 1514)], ..Receive::default() };
    let sim = fake::receiving(receive, ReturnPolicy::AfterDpc);
    let before = sim.allocation_calls_by_function();
    sim.signal_message(2).unwrap();
    sim.deliver_interrupts(Duration::from_secs(2)).unwrap();
    let after = sim.allocation_calls_by_function();
    let delta =
        |name| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
    assert_eq!(delta("NdisAllocateMdl"), 2);
    assert_eq!(delta("NdisAllocateNetBufferAndNetBufferList"), 2);
    assert_eq!(delta("NdisAllocateNetBufferListPool"), 0, "the pool was made once");
    fake::with_fake(|f| f.behaviour.dpc_receive = None);
    let before = sim.allocation_calls();
    sim.signal_message(2).unwrap();
    sim.deliver_interrupts(Duration::from_secs(2)).unwrap();
    assert_eq!(sim.allocation_calls(), before);
    assert_eq!(sim.violations(), vec![]);
}
