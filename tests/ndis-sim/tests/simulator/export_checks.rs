//! Contract checks of single exports, made to fire by calling them wrongly from the test
//! (no driver lifecycle needed). A check that no test can trigger would prove nothing.

use std::ffi::c_void;
use std::ptr;

use ndis_sim::sim::exports::{
    NdisAllocateMemoryWithTagPriority, NdisFreeMemory, NdisGetRssProcessorInformation,
    NdisMConfigMSIXTableEntry, NdisMSetMiniportAttributes,
};
use ndis_sim::sim::pnp::filter_resource_requirements;
use ndis_sim::sim::{Sim, SimConfig, with_state};
use vmqnic::interrupt::requirements::build;
use vmqnic::ndis::{
    IRP, NDIS_HANDLE, NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
    NDIS_MSIX_CONFIG_PARAMETERS, NDIS_OBJECT_HEADER, NDIS_STATUS, NDIS_STATUS_SUCCESS,
    NdisMSIXTableConfigMaskTableEntry,
};

fn handle() -> NDIS_HANDLE {
    with_state(|s| s.miniport_handle) as NDIS_HANDLE
}

fn rules(sim: &Sim) -> Vec<&'static str> {
    sim.violations().iter().map(|v| v.rule).collect()
}

#[test]
fn allocation_with_tag_zero() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let block = NdisAllocateMemoryWithTagPriority(handle(), 16, 0, 16);
    NdisFreeMemory(block, 0, 0);
    assert_eq!(rules(&sim), vec!["NdisAllocateMemoryWithTagPriority.NonZeroTag"]);
}

#[test]
fn allocation_of_zero_bytes() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    assert!(NdisAllocateMemoryWithTagPriority(handle(), 0, 0x4142_4344, 16).is_null());
    assert_eq!(rules(&sim), vec!["NdisAllocateMemoryWithTagPriority.Length"]);
}

#[test]
fn allocation_with_a_foreign_handle() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    assert!(NdisAllocateMemoryWithTagPriority(ptr::dangling_mut(), 16, 0x4142_4344, 16).is_null());
    assert_eq!(rules(&sim), vec!["NdisAllocateMemoryWithTagPriority.Handle"]);
}

#[test]
fn double_free() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let block = NdisAllocateMemoryWithTagPriority(handle(), 16, 0x4142_4344, 16);
    NdisFreeMemory(block, 0, 0);
    NdisFreeMemory(block, 0, 0);
    assert_eq!(rules(&sim), vec!["NdisFreeMemory.UnknownAddress"]);
}

#[test]
fn free_with_a_length() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let block = NdisAllocateMemoryWithTagPriority(handle(), 16, 0x4142_4344, 16);
    NdisFreeMemory(block, 16, 0);
    assert_eq!(rules(&sim), vec!["NdisFreeMemory.Arguments"]);
}

#[test]
fn leaked_allocations_are_visible() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let _leak = NdisAllocateMemoryWithTagPriority(handle(), 24, 0x4142_4344, 16);
    assert_eq!(sim.driver_allocations().len(), 1);
}

#[test]
fn rss_query_with_a_foreign_handle() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let mut size = 0usize;
    // SAFETY: `size` is writable; the call is expected to be refused.
    let status = unsafe {
        NdisGetRssProcessorInformation(ptr::dangling_mut(), ptr::null_mut(), &raw mut size)
    };
    assert_ne!(status, NDIS_STATUS_SUCCESS);
    assert_eq!(rules(&sim), vec!["NdisGetRssProcessorInformation.Handle"]);
}

#[test]
fn add_device_attributes_with_a_wrong_revision() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let attributes = NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES {
        Header: NDIS_OBJECT_HEADER::new(0xA4, 2, 0x14),
        MiniportAddDeviceContext: ptr::dangling_mut(),
        Flags: 0,
    };
    // SAFETY: a valid structure on this frame.
    let status = unsafe { NdisMSetMiniportAttributes(handle(), &raw const attributes.Header) };
    assert_ne!(status, NDIS_STATUS_SUCCESS);
    assert_eq!(rules(&sim), vec!["ObjectHeader.AddDeviceRegistrationAttributes"]);
}

#[test]
fn attributes_of_an_unknown_type() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let header = NDIS_OBJECT_HEADER::new(0x42, 1, 4);
    // SAFETY: a valid header on this frame.
    let status = unsafe { NdisMSetMiniportAttributes(handle(), &raw const header) };
    assert_ne!(status, NDIS_STATUS_SUCCESS);
    assert_eq!(rules(&sim), vec!["NdisMSetMiniportAttributes.Type"]);
}

#[test]
fn msix_parameters_with_a_wrong_header() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    sim.set_msix_window(true, 2);
    let mut parameters = NDIS_MSIX_CONFIG_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::new(0x80, 1, 0x0C),
        ConfigOperation: NdisMSIXTableConfigMaskTableEntry,
        TableEntry: 1,
        MessageNumber: 0,
    };
    // SAFETY: a valid structure on this frame.
    let status = unsafe { NdisMConfigMSIXTableEntry(handle(), &raw mut parameters) };
    assert_ne!(status, NDIS_STATUS_SUCCESS);
    assert_eq!(rules(&sim), vec!["ObjectHeader.MsixConfigParameters"]);
}

#[test]
fn msix_configuration_before_initialize() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let mut parameters = NDIS_MSIX_CONFIG_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::new(0x80, 1, 0x10),
        ConfigOperation: NdisMSIXTableConfigMaskTableEntry,
        TableEntry: 1,
        MessageNumber: 0,
    };
    // SAFETY: a valid structure on this frame.
    let status = unsafe { NdisMConfigMSIXTableEntry(handle(), &raw mut parameters) };
    assert_ne!(status, NDIS_STATUS_SUCCESS);
    assert_eq!(rules(&sim), vec!["NdisMConfigMSIXTableEntry.Window"]);
}

// Deliberately wrong MiniportFilterResourceRequirements handlers.

/// Replaces the list with a new one but never frees the old one.
unsafe extern "system" fn leaks_old_list(_context: NDIS_HANDLE, irp: *mut IRP) -> NDIS_STATUS {
    let new = NdisAllocateMemoryWithTagPriority(handle(), 0x48, 0x4142_4344, 16);
    // SAFETY: the simulated PnP manager passes a live IRP.
    unsafe { (*irp).IoStatus.Information = new as usize };
    NDIS_STATUS_SUCCESS
}

/// Replaces the list with memory that did not come from the pool.
unsafe extern "system" fn foreign_new_list(_context: NDIS_HANDLE, irp: *mut IRP) -> NDIS_STATUS {
    static FOREIGN: [u8; 0x48] = [0; 0x48];
    // SAFETY: the simulated PnP manager passes a live IRP.
    let old = unsafe { (*irp).IoStatus.Information } as *mut c_void;
    NdisFreeMemory(old, 0, 0);
    // SAFETY: as above.
    unsafe { (*irp).IoStatus.Information = FOREIGN.as_ptr() as usize };
    NDIS_STATUS_SUCCESS
}

/// Keeps the list but frees it.
unsafe extern "system" fn frees_kept_list(_context: NDIS_HANDLE, irp: *mut IRP) -> NDIS_STATUS {
    // SAFETY: the simulated PnP manager passes a live IRP.
    let old = unsafe { (*irp).IoStatus.Information } as *mut c_void;
    NdisFreeMemory(old, 0, 0);
    NDIS_STATUS_SUCCESS
}

#[test]
fn filter_that_does_not_free_the_old_list() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    // SAFETY: the handler only touches the IRP the simulator built.
    let _ = unsafe {
        filter_resource_requirements(
            leaks_old_list,
            ptr::null_mut(),
            &build::pci_msix_function(&[0x1000], 1, 1),
        )
    };
    assert_eq!(rules(&sim), vec!["FilterResourceRequirements.OldListNotFreed"]);
}

#[test]
fn filter_that_publishes_memory_not_from_the_pool() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    // SAFETY: as above.
    let _ = unsafe {
        filter_resource_requirements(
            foreign_new_list,
            ptr::null_mut(),
            &build::pci_msix_function(&[0x1000], 1, 1),
        )
    };
    assert_eq!(rules(&sim), vec!["FilterResourceRequirements.NewListNotFromPool"]);
}

#[test]
fn filter_that_frees_the_list_it_keeps() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    // SAFETY: as above.
    let _ = unsafe {
        filter_resource_requirements(
            frees_kept_list,
            ptr::null_mut(),
            &build::pci_msix_function(&[0x1000], 1, 1),
        )
    };
    assert_eq!(rules(&sim), vec!["FilterResourceRequirements.KeptListFreed"]);
}
