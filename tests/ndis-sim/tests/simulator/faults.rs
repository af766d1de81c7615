//! Fault injection (`sim::faults`): armed faults make exactly the chosen call fail, as ndis.sys
//! reports running out of resources, without a violation; surprise removal turns the device's
//! registers and configuration space to all-ones.

use std::time::Duration;

use ndis_sim::qemu::pci::COMMAND_BUS_MASTER;
use ndis_sim::sim::exports::{
    NdisAllocateIoWorkItem, NdisAllocateMemoryWithTagPriority, NdisFreeIoWorkItem, NdisFreeMemory,
    READ_REGISTER_ULONG,
};
use ndis_sim::sim::{
    FAILABLE_EXPORTS, Fault, GrantPolicy, InjectedFault, Sim, SimConfig, with_state,
};
use vmqnic::ndis::NDIS_HANDLE;

use crate::fake;

fn handle() -> NDIS_HANDLE {
    with_state(|s| s.miniport_handle) as NDIS_HANDLE
}

fn allocate() -> *mut std::ffi::c_void {
    NdisAllocateMemoryWithTagPriority(handle(), 64, fake::TAG, 16)
}

#[test]
fn the_nth_allocation_fails_and_only_that_one() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let first = allocate();
    sim.inject_fault(Fault::NthAllocation(2));
    let second = allocate();
    let item = NdisAllocateIoWorkItem(handle());
    let third = allocate();
    assert!(!second.is_null(), "the first call after arming succeeds");
    assert!(item.is_null(), "the second allocating call (another export) fails");
    assert!(!third.is_null(), "and the fault is used up");
    assert_eq!(
        sim.injected_faults(),
        vec![InjectedFault { function: "NdisAllocateIoWorkItem", call: 1, handler: "none".into() }]
    );
    assert_eq!(sim.allocation_calls(), 4, "failed calls are counted too");
    for block in [first, second, third] {
        NdisFreeMemory(block, 0, 0);
    }
    assert_eq!(sim.violations(), vec![], "an injected failure is no violation");
}

#[test]
fn the_nth_call_of_one_export_fails() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    sim.inject_fault(Fault::NthCall("NdisAllocateMemoryWithTagPriority", 2));
    let item = NdisAllocateIoWorkItem(handle());
    let first = allocate();
    let second = allocate();
    assert!(!item.is_null() && !first.is_null());
    assert!(second.is_null());
    assert_eq!(sim.injected_faults()[0].call, 2);
    assert!(sim.armed_faults().is_empty());
    NdisFreeMemory(first, 0, 0);
    NdisFreeIoWorkItem(item);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn every_allocation_fails_until_cleared() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    sim.inject_fault(Fault::EveryAllocation);
    assert!(allocate().is_null() && allocate().is_null());
    assert!(NdisAllocateIoWorkItem(handle()).is_null());
    sim.clear_faults();
    let block = allocate();
    assert!(!block.is_null());
    NdisFreeMemory(block, 0, 0);
    assert_eq!(sim.injected_faults().len(), 3);
}

#[test]
#[should_panic(expected = "cannot be made to fail")]
fn only_failable_exports_can_be_named() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    assert!(!FAILABLE_EXPORTS.contains(&"NdisMIndicateStatusEx"));
    sim.inject_fault(Fault::NthCall("NdisMIndicateStatusEx", 1));
}

#[test]
fn qemu_a_surprise_removed_device_reads_all_ones_and_interrupts_no_more() {
    let mut sim = Sim::start(SimConfig::with_groups(&[1]).with_qemu());
    sim.load_driver(vmqnic::miniport::driver::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    let base = sim.io_mappings()[0].virtual_address;
    // SAFETY: the driver's mapping of BAR0; the simulator translates the address.
    let read = |offset: usize| unsafe { READ_REGISTER_ULONG((base + offset) as *const u32) };
    assert_ne!(read(0x0008), u32::MAX, "STATUS of a present device");
    sim.surprise_remove().unwrap();
    assert!(sim.surprise_removed());
    assert_eq!(read(0x0008), u32::MAX, "a removed device reads all-ones");
    let pci = sim.igb().unwrap().pci();
    assert_eq!(pci.command().unwrap() & COMMAND_BUS_MASTER, 0, "no more DMA");
    assert!(sim.deliver_interrupts(Duration::from_millis(5)).unwrap().is_empty());
    sim.stop_device().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn qemu_a_device_can_vanish_at_a_given_register_access() {
    let mut sim = Sim::start(SimConfig::with_groups(&[1]).with_qemu());
    sim.load_driver(vmqnic::miniport::driver::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    let base = sim.io_mappings()[0].virtual_address;
    // SAFETY: as above.
    let read = |offset: usize| unsafe { READ_REGISTER_ULONG((base + offset) as *const u32) };
    sim.surprise_remove_after(2);
    assert_ne!(read(0x0008), u32::MAX, "the first access still reaches the device");
    assert_eq!(read(0x0008), u32::MAX, "the second does not");
    assert!(sim.surprise_removed());
    sim.surprise_remove().unwrap();
    sim.stop_device().unwrap();
}
