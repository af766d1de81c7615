//! MiniportAddDevice / MiniportFilterResourceRequirements / MiniportRemoveDevice: the driver's
//! real PnP glue, linked against the simulated ndis.sys (`ndis-sim`), with the PnP manager
//! handing it the requirements list the PCI bus driver builds for an 82576.

use ndis_sim::sim::pnp::filter_resource_requirements;
use ndis_sim::sim::{Sim, SimConfig};
use vmqnic::interrupt::Processor;
use vmqnic::interrupt::requirements::{AlternativeKind, RequirementsList, build};
use vmqnic::miniport::pnp::{
    miniport_add_device, miniport_filter_resource_requirements, miniport_remove_device,
    miniport_start_device, pnp_characteristics,
};
use vmqnic::miniport::tags;
use vmqnic::ndis::{NDIS_HANDLE, NDIS_STATUS_SUCCESS};

/// The 82576's BARs as PCI lists them (BAR0 128 KiB registers, BAR2 I/O is not requested by
/// the driver model here, BAR3 16 KiB MSI-X table) and its 10 MSI-X table entries.
fn igb_bus_list() -> Vec<u8> {
    build::pci_msix_function(&[0x2_0000, 0x4000], 10, 11)
}

/// AddDevice, then the filter, then RemoveDevice; returns the filtered list.
fn add_filter_remove(sim: &Sim, bus_list: &[u8]) -> ndis_sim::sim::pnp::FilterOutcome {
    let (status, context) = sim.call_add_device(miniport_add_device);
    assert_eq!(status, NDIS_STATUS_SUCCESS);
    let context = context.expect("AddDevice registered a context");
    let handler =
        pnp_characteristics().MiniportFilterResourceRequirementsHandler.expect("registered");
    // SAFETY: the driver's own handler with the context it registered.
    let outcome =
        unsafe { filter_resource_requirements(handler, context as NDIS_HANDLE, bus_list) };
    assert_eq!(outcome.status, NDIS_STATUS_SUCCESS, "the filter always succeeds");
    let leftover: Vec<u32> = sim.driver_allocations().iter().map(|a| a.tag).collect();
    assert_eq!(
        leftover,
        vec![tags::ADD_DEVICE_CONTEXT],
        "only the add-device context outlives the filter"
    );
    sim.call_remove_device(miniport_remove_device, context);
    assert!(sim.driver_allocations().is_empty(), "RemoveDevice freed the context");
    outcome
}

fn message_targets(list: &[u8]) -> Vec<Option<Processor>> {
    let list = RequirementsList::parse(list).expect("the filtered list is well formed");
    list.descriptors(0)
        .filter(|d| d.is_message_interrupt())
        .map(vmqnic::interrupt::requirements::Descriptor::specified_processor)
        .collect()
}

#[test]
fn two_groups_get_one_message_per_rss_processor_plus_one() {
    let sim = Sim::start(SimConfig::with_groups(&[2, 2]));
    let bus_list = igb_bus_list();
    let outcome = add_filter_remove(&sim, &bus_list);
    assert!(outcome.replaced);
    let p = |group, number| Some(Processor { group, number });
    // Preference = group (NUMA node), so group 0 comes first.
    assert_eq!(message_targets(&outcome.list), vec![None, p(0, 0), p(0, 1), p(1, 0), p(1, 1)]);
    let list = RequirementsList::parse(&outcome.list).unwrap();
    assert_eq!(list.kind(0), AlternativeKind::MsiX { messages: 5 });
    // Memory descriptors and the line alternative: byte for byte, in order.
    let original = RequirementsList::parse(&bus_list).unwrap();
    let non_messages = |l: &RequirementsList<'_>| {
        l.descriptors(0)
            .filter(|d| !d.is_message_interrupt())
            .map(|d| *d.bytes())
            .collect::<Vec<_>>()
    };
    assert_eq!(non_messages(&list), non_messages(&original));
    assert_eq!(sim.rss_queries(), 2, "two-call NdisGetRssProcessorInformation");
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn one_processor_gets_two_messages() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let outcome = add_filter_remove(&sim, &igb_bus_list());
    assert_eq!(message_targets(&outcome.list), vec![None, Some(Processor { group: 0, number: 0 })]);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn the_rss_set_not_the_machine_decides() {
    // 8 processors, but NDIS's RSS set is 0:1, 0:3, 0:5 with 0:5 the most preferred.
    let mut config = SimConfig::with_groups(&[8]);
    let p = |number| Processor { group: 0, number };
    config.rss = vec![(p(1), 1), (p(3), 2), (p(5), 0)];
    let sim = Sim::start(config);
    let outcome = add_filter_remove(&sim, &igb_bus_list());
    assert_eq!(message_targets(&outcome.list), vec![None, Some(p(5)), Some(p(1)), Some(p(3))]);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn large_machines_are_capped_at_2048_messages() {
    // 40 groups of 64 = 2560 processors.
    let sim = Sim::start(SimConfig::with_groups(&[64; 40]));
    let outcome = add_filter_remove(&sim, &igb_bus_list());
    let targets = message_targets(&outcome.list);
    assert_eq!(targets.len(), 2048);
    assert_eq!(
        targets[2047],
        Some(Processor { group: 31, number: 62 }),
        "the least preferred are dropped"
    );
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn malformed_lists_are_left_untouched() {
    let sim = Sim::start(SimConfig::with_groups(&[4]));
    let mut bad = igb_bus_list();
    bad[0x28 + 1] = 0x42; // unknown resource type in the first descriptor
    let outcome = add_filter_remove(&sim, &bad);
    assert!(!outcome.replaced);
    assert_eq!(outcome.list, bad);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn no_rss_information_keeps_the_pci_list() {
    let mut config = SimConfig::with_groups(&[4]);
    config.rss.clear();
    let sim = Sim::start(config);
    let bus_list = igb_bus_list();
    let outcome = add_filter_remove(&sim, &bus_list);
    assert!(!outcome.replaced);
    assert_eq!(outcome.list, bus_list);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn line_only_and_msi_lists_are_kept_byte_for_byte() {
    let sim = Sim::start(SimConfig::with_groups(&[4]));
    let memory = build::memory(0x2_0000, 0x2_0000, 0, i64::MAX);
    let bus_list = build::requirements_list(&[
        vec![memory, build::msi_messages(4), build::line_interrupt(11)],
        vec![memory, build::line_interrupt(11)],
    ]);
    let outcome = add_filter_remove(&sim, &bus_list);
    // Nothing to change: the driver still rebuilds the list (its size is unchanged) or keeps
    // it; either way the bytes are the PCI bytes.
    assert_eq!(outcome.list, bus_list);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn null_irp_information_is_fine() {
    let sim = Sim::start(SimConfig::with_groups(&[2]));
    let (status, context) = sim.call_add_device(miniport_add_device);
    assert_eq!(status, NDIS_STATUS_SUCCESS);
    let context = context.unwrap();
    // SAFETY: an all-zero IRP (Information = NULL) is a valid IRP value for this handler.
    let mut irp: vmqnic::ndis::IRP = unsafe { std::mem::zeroed() };
    // SAFETY: the driver's handler with its context and a live IRP.
    let status =
        unsafe { miniport_filter_resource_requirements(context as NDIS_HANDLE, &raw mut irp) };
    assert_eq!(status, NDIS_STATUS_SUCCESS);
    assert_eq!(irp.IoStatus.Information, 0);
    assert_eq!(irp.IoStatus.Information, 0);
    // StartDevice strips nothing.
    assert_eq!(sim.call_start_device(miniport_start_device, context), NDIS_STATUS_SUCCESS);
    sim.call_remove_device(miniport_remove_device, context);
    assert!(sim.driver_allocations().is_empty());
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn pnp_characteristics_header_is_the_sizeof_macro() {
    let pnp = pnp_characteristics();
    assert_eq!((pnp.Header.Type, pnp.Header.Revision, pnp.Header.Size), (0x92, 1, 0x2C));
    assert!(pnp.MiniportStartDeviceHandler.is_some() && pnp.MiniportRemoveDeviceHandler.is_some());
}
