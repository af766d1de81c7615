//! The system address of an MDL's buffer: the driver's `ndis::mdl_system_address` (the WDK's
//! `MmGetSystemAddressForMdlSafe`) and the MmMapLockedPagesSpecifyCache it calls for an MDL
//! without a system mapping, on the simulator's MDLs, the protocol's send MDLs and foreign
//! ones.

use std::ffi::c_void;
use std::ptr::{self, NonNull};

use ndis_sim::sim::cpu::{DEVICE_IRQL, DISPATCH_LEVEL};
use ndis_sim::sim::exports::{
    MmMapLockedPagesSpecifyCache, NdisAllocateMdl, NdisFreeMdl, SendFrame,
};
use ndis_sim::sim::{GrantPolicy, Sim, SimConfig, rules, with_state};
use vmqnic::interrupt::Processor;
use vmqnic::ndis::{
    self, KernelMode, MDL, MDL_MAPPED_TO_SYSTEM_VA, MDL_SOURCE_IS_NONPAGED_POOL, MmCached,
    NDIS_HANDLE, NET_BUFFER, NET_BUFFER_LIST,
};

use crate::fake::{self, Behaviour};

fn handle() -> NDIS_HANDLE {
    with_state(|s| s.miniport_handle) as NDIS_HANDLE
}

/// `ndis::mdl_system_address` of `mdl`, as an address.
fn system_address(mdl: *mut MDL) -> Option<usize> {
    let mdl = NonNull::new(mdl).expect("an MDL");
    // SAFETY: every MDL of these tests is valid for the call (the simulator's, or one on the
    // test's stack), and the test runs at PASSIVE_LEVEL or DISPATCH_LEVEL.
    let address = unsafe { ndis::mdl_system_address(mdl) };
    address.map(|a| a.as_ptr() as usize)
}

/// An MDL the simulator did not build, over `buffer`, with `flags`.
fn foreign_mdl(buffer: &[u8], flags: i16) -> MDL {
    let address = buffer.as_ptr() as usize;
    MDL {
        Next: ptr::null_mut(),
        Size: 0x38,
        MdlFlags: flags,
        AllocationProcessorNumber: 0,
        Reserved: 0,
        Process: ptr::null_mut(),
        MappedSystemVa: address as *mut c_void,
        StartVa: (address & !0xFFF) as *mut c_void,
        ByteCount: u32::try_from(buffer.len()).unwrap(),
        ByteOffset: u32::try_from(address & 0xFFF).unwrap(),
    }
}

#[test]
fn an_mdl_with_a_system_mapping_needs_no_call() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let buffer = vec![7u8; 300];
    let mdl = NdisAllocateMdl(handle(), buffer.as_ptr() as *mut c_void, 300);
    assert_eq!(system_address(mdl), Some(buffer.as_ptr() as usize));
    // A foreign MDL with the flag is not passed to MmMapLockedPagesSpecifyCache either (which
    // would refuse it): MappedSystemVa is the answer.
    let mut foreign = foreign_mdl(&buffer, MDL_SOURCE_IS_NONPAGED_POOL);
    assert_eq!(system_address(&raw mut foreign), Some(buffer.as_ptr() as usize));
    NdisFreeMdl(mdl);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn an_mdl_without_one_is_mapped_by_mm_map_locked_pages_once() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let buffer = vec![7u8; 5000];
    let start = buffer[100..].as_ptr() as usize;
    let mdl = NdisAllocateMdl(handle(), start as *mut c_void, 4000);
    // As an MDL of locked pages that no one mapped would look.
    // SAFETY: a live MDL from NdisAllocateMdl, which the test owns.
    unsafe {
        (*mdl).MdlFlags = 0;
    }
    // SAFETY: as above.
    unsafe {
        (*mdl).MappedSystemVa = ptr::null_mut();
    }
    let address =
        sim.run_on(Processor { group: 0, number: 0 }, DISPATCH_LEVEL, || system_address(mdl));
    assert_eq!(address, Some(start));
    // The mapping is recorded in the MDL, as the Memory Manager records it.
    // SAFETY: as above.
    let mapped = unsafe { *mdl };
    assert_eq!(mapped.MdlFlags, MDL_MAPPED_TO_SYSTEM_VA);
    assert_eq!(mapped.MappedSystemVa as usize, start);
    assert_eq!(system_address(mdl), Some(start));
    NdisFreeMdl(mdl);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn mapping_an_mdl_the_simulator_did_not_build_or_whose_buffer_moved() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let buffer = vec![7u8; 64];
    let mut foreign = foreign_mdl(&buffer, 0);
    assert_eq!(system_address(&raw mut foreign), None);
    let mdl = NdisAllocateMdl(handle(), buffer.as_ptr() as *mut c_void, 64);
    // SAFETY: a live MDL from NdisAllocateMdl, which the test owns.
    unsafe {
        (*mdl).MdlFlags = 0;
    }
    // SAFETY: as above.
    unsafe {
        (*mdl).ByteOffset += 8;
    }
    assert_eq!(system_address(mdl), None);
    assert_eq!(sim.violated_rules(), vec![rules::MAP_LOCKED_PAGES_UNKNOWN_MDL; 2]);
    // SAFETY: as above; the MDL is unchanged (a refused mapping records nothing).
    assert_eq!(unsafe { (*mdl).MdlFlags }, 0);
    NdisFreeMdl(mdl);
}

#[test]
fn mapping_above_dispatch_level() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let buffer = [7u8; 64];
    let mdl = NdisAllocateMdl(handle(), buffer.as_ptr() as *mut c_void, 64);
    let mapped = sim.run_on(Processor { group: 0, number: 0 }, DEVICE_IRQL, || {
        MmMapLockedPagesSpecifyCache(mdl, KernelMode, MmCached, ptr::null_mut(), 0, 16)
    });
    assert_eq!(mapped as usize, buffer.as_ptr() as usize, "reported, and mapped anyway");
    assert_eq!(sim.violated_rules(), vec!["Irql.MmMapLockedPagesSpecifyCache"]);
    NdisFreeMdl(mdl);
}

#[test]
fn the_mdls_of_a_protocol_send_map_to_their_bytes() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(Behaviour::default());
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    let frame: Vec<u8> = (0..200u8).collect();
    let send = SendFrame { bytes: frame.clone(), mdl_size: Some(64), ..SendFrame::default() };
    let nbl = sim.send_frames_as_nbls(&[send], 0).unwrap()[0] as *const NET_BUFFER_LIST;
    // SAFETY: the simulator keeps the protocol's NBLs, NBs and MDLs alive.
    let first = unsafe { (*nbl).FirstNetBuffer };
    // SAFETY: as above.
    let nb: &NET_BUFFER = unsafe { &*first };
    let mut bytes = Vec::new();
    let mut mdl = nb.MdlChain;
    while !mdl.is_null() {
        let mapped = map(mdl);
        // SAFETY: as above.
        let length = unsafe { (*mdl).ByteCount } as usize;
        // SAFETY: the mapping of a protocol MDL: its `ByteCount` bytes, alive as above.
        bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(mapped, length) });
        // SAFETY: as above.
        mdl = unsafe { (*mdl).Next };
    }
    assert_eq!(bytes, frame);
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

/// MmMapLockedPagesSpecifyCache with the arguments `MmGetSystemAddressForMdlSafe` passes.
fn map(mdl: *mut MDL) -> *const u8 {
    let priority = ndis::MDL_MAPPING_PRIORITY;
    let mapped =
        MmMapLockedPagesSpecifyCache(mdl, KernelMode, MmCached, ptr::null_mut(), 0, priority);
    assert!(!mapped.is_null(), "mapped");
    mapped.cast_const().cast()
}
