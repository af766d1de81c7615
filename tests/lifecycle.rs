//! The whole driver through the whole lifecycle, on QEMU's 82576 under the simulated NDIS:
//! DriverEntry → AddDevice → FilterResourceRequirements → StartDevice → InitializeEx with the
//! granted resources → Restart → (link-up interrupt, delivered on its message's processor) →
//! Pause → HaltEx → RemoveDevice → Unload, for every grant policy and several topologies.
//! Each run must end with no contract violation and nothing leaked.

use std::mem::offset_of;
use std::time::{Duration, Instant};

use ndis_sim::sim::{Delivery, GrantKind, GrantPolicy, Sim, SimConfig};
use vmqnic::interrupt::Processor;
use vmqnic::miniport::driver::driver_entry;
use vmqnic::ndis::{
    NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, NDIS_RECEIVE_FILTER_CAPABILITIES,
    NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED,
};

/// What one lifecycle run observed.
struct Run {
    kind: GrantKind,
    /// Target processor of each granted message, in message order.
    message_targets: Vec<Processor>,
    /// The permanent MAC the driver reported in its general attributes.
    reported_mac: [u8; 6],
    /// The MAC QEMU's device was given.
    device_mac: [u8; 6],
    /// `NumQueues` of the current receive-filter capabilities (0: VMQ off).
    current_queues: u32,
    /// `SupportedQueueProperties` of the hardware capabilities.
    hardware_queue_properties: u32,
    /// Interrupts delivered until the link came up.
    deliveries: Vec<Delivery>,
}

fn field_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
}

fn lifecycle(groups: &[u8], policy: GrantPolicy) -> Run {
    let mut sim = Sim::start(SimConfig::with_groups(groups).with_qemu());
    sim.load_driver(driver_entry).expect("DriverEntry registers the miniport");
    let grant = sim.start_device(policy).expect("the adapter starts and runs");

    // QEMU raises the link 0.5 s after autoneg starts; the driver indicates it from the DPC of
    // the vector that carries link changes.
    let mut deliveries = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sim.link_up_indicated() && Instant::now() < deadline {
        deliveries
            .extend(sim.deliver_interrupts(Duration::from_millis(50)).expect("interrupt delivery"));
    }
    assert!(sim.link_up_indicated(), "link-up indicated within 5 s; deliveries: {deliveries:?}");

    let general = sim.general_attributes().expect("general attributes were set");
    let mac_at = offset_of!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, PermanentMacAddress);
    let reported_mac: [u8; 6] = general[mac_at..mac_at + 6].try_into().unwrap();
    let device_mac = sim.qemu().expect("QEMU runs").mac().0;
    let (hardware, current) = sim.receive_filter_capabilities();
    let hardware = hardware.expect("hardware receive-filter capabilities were reported");
    let current = current.expect("current receive-filter capabilities were reported");

    sim.stop_device().expect("pause, halt, remove");
    sim.unload_driver().expect("unload");
    assert_eq!(sim.violations(), vec![], "no contract violation");
    assert!(sim.driver_allocations().is_empty(), "nothing leaked");

    Run {
        kind: grant.kind,
        message_targets: grant.messages.iter().map(|m| m.target).collect(),
        reported_mac,
        device_mac,
        current_queues: field_u32(
            &current,
            offset_of!(NDIS_RECEIVE_FILTER_CAPABILITIES, NumQueues),
        ),
        hardware_queue_properties: field_u32(
            &hardware,
            offset_of!(NDIS_RECEIVE_FILTER_CAPABILITIES, SupportedQueueProperties),
        ),
        deliveries,
    }
}

fn p(group: u16, number: u8) -> Processor {
    Processor { group, number }
}

/// Checks what every run must show: the real MAC, MSI-X support in the hardware capabilities,
/// and every interrupt serviced on its message's processor.
fn common_checks(run: &Run) {
    assert_eq!(run.reported_mac, run.device_mac, "the permanent MAC comes from the device");
    assert_ne!(run.hardware_queue_properties & NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED, 0);
    assert!(!run.deliveries.is_empty());
    for delivery in &run.deliveries {
        assert_eq!(delivery.isr.processor, delivery.target, "ISR on the message's processor");
        assert!(delivery.isr.claimed, "the device's interrupt is claimed");
        for dpc in &delivery.dpcs {
            assert_eq!(dpc.processor, delivery.target, "DPC on the message's processor");
        }
    }
}

#[test]
fn one_processor_full_grant() {
    let run = lifecycle(&[1], GrantPolicy::AsRequested);
    common_checks(&run);
    assert_eq!(run.kind, GrantKind::MsiX);
    assert_eq!(run.message_targets.len(), 2, "one per RSS processor plus one for other causes");
    assert_eq!(run.message_targets[1], p(0, 0));
    assert_eq!(run.current_queues, 1);
}

#[test]
fn four_processors_in_one_group() {
    let run = lifecycle(&[4], GrantPolicy::AsRequested);
    common_checks(&run);
    assert_eq!(run.kind, GrantKind::MsiX);
    assert_eq!(run.message_targets[1..], [p(0, 0), p(0, 1), p(0, 2), p(0, 3)]);
    assert_eq!(run.current_queues, 4);
}

#[test]
fn two_groups() {
    let run = lifecycle(&[2, 2], GrantPolicy::AsRequested);
    common_checks(&run);
    assert_eq!(run.message_targets[1..], [p(0, 0), p(0, 1), p(1, 0), p(1, 1)]);
    assert_eq!(run.current_queues, 4);
}

#[test]
fn fewer_messages_than_processors() {
    let run = lifecycle(&[4], GrantPolicy::AtMost(3));
    common_checks(&run);
    assert_eq!(run.kind, GrantKind::MsiX);
    assert_eq!(run.message_targets.len(), 3);
    assert_eq!(run.current_queues, 2, "VMQ stays on with the two receive messages");
}

#[test]
fn a_single_msix_message() {
    let run = lifecycle(&[4], GrantPolicy::AtMost(1));
    common_checks(&run);
    assert_eq!(run.kind, GrantKind::MsiX);
    assert_eq!(run.current_queues, 0, "VMQ off: one vector serves everything");
}

#[test]
fn msi() {
    let run = lifecycle(&[4], GrantPolicy::Msi);
    common_checks(&run);
    assert_eq!(run.kind, GrantKind::Msi);
    assert_eq!(run.current_queues, 0);
}

#[test]
fn one_line_based_interrupt() {
    let run = lifecycle(&[4], GrantPolicy::LineBased);
    common_checks(&run);
    assert_eq!(run.kind, GrantKind::Line);
    assert!(run.message_targets.is_empty());
    assert_eq!(run.current_queues, 0);
}
