//! The lifecycle the simulator drives: DriverEntry to unload, every grant policy, pause and
//! restart, a second start; without a device and on QEMU's 82576.

use std::time::Duration;

use ndis_sim::sim::{AdapterState, Completion, GrantKind, GrantPolicy, Sim, SimConfig, SimError};
use vmqnic::interrupt::Processor;
use vmqnic::interrupt::grant::{InterruptKind, partial_descriptors};
use vmqnic::ndis::{
    CmResourceTypeInterrupt, CmResourceTypeMemory, CmResourceTypePort, NDIS_CONNECT_LINE_BASED,
    NDIS_CONNECT_MESSAGE_BASED, NDIS_STATUS_FAILURE, NDIS_STATUS_PENDING,
};

use ndis_sim::sim::exports::NdisMPauseComplete;

use crate::fake::{self, Behaviour, INITIALIZE, Step, with_fake};

fn p(group: u16, number: u8) -> Processor {
    Processor { group, number }
}

/// A driver that uses everything once: attributes, registers, SG DMA, interrupts, shared
/// memory, pool, a status indication.
pub fn busy_behaviour() -> Behaviour {
    let mut initialize = INITIALIZE.to_vec();
    initialize.extend([Step::AllocateShared(0x3000), Step::AllocatePool, Step::IndicateStatus]);
    Behaviour { initialize, ..Behaviour::default() }
}

#[test]
fn a_clean_lifecycle_without_a_device_breaks_no_rule() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2, 2]));
    fake::reset(busy_behaviour());
    sim.load_driver(fake::driver_entry).unwrap();
    let grant = sim.start_device(GrantPolicy::AsRequested).unwrap();
    assert_eq!(sim.adapter_state(), AdapterState::Running);

    // The real PnP filter asked for one message per RSS processor plus one; all granted.
    assert_eq!(grant.kind, GrantKind::MsiX);
    let targets: Vec<Processor> = grant.messages.iter().map(|m| m.target).collect();
    assert_eq!(targets, vec![p(0, 0), p(0, 0), p(0, 1), p(1, 0), p(1, 1)]);
    assert_eq!(grant.messages[0].affinity, 0b11, "no policy: every processor of group 0");
    assert_eq!((grant.messages[3].group, grant.messages[3].affinity), (1, 0b01));

    // MiniportInitializeEx saw the translated resources: the three memory BARs, the I/O BAR,
    // one message descriptor per granted message.
    let descriptors = partial_descriptors(&grant.translated_resources).unwrap();
    let types: Vec<u8> = descriptors.iter().map(|d| d.resource_type()).collect();
    assert_eq!(
        types,
        [CmResourceTypeMemory, CmResourceTypeMemory, CmResourceTypePort, CmResourceTypeMemory]
            .into_iter()
            .chain([CmResourceTypeInterrupt; 5])
            .collect::<Vec<_>>()
    );
    let memory = with_fake(|f| f.memory_resources.clone());
    assert_eq!(
        memory,
        vec![(0xC000_0000, 0x2_0000), (0xC002_0000, 0x2_0000), (0xC004_0000, 0x4000)]
    );
    assert!(descriptors[4..].iter().all(|d| d.is_message_interrupt()));
    assert_eq!(descriptors[7].interrupt_group(), 1);

    with_fake(|f| {
        assert_eq!(f.interrupt_type, NDIS_CONNECT_MESSAGE_BASED);
        assert_eq!(f.message_count, 5);
        assert_eq!(f.mappings.len(), 1);
        assert_eq!(f.sg_list_size, 0x10 + 0x18 * 17, "64 KiB spans at most 17 pages");
        let (_, virtual_address, physical) = f.shared[0];
        assert!(physical >= 0x10_0000, "DMA memory lies above 1 MiB");
        assert_ne!(virtual_address, 0);
    });
    assert_eq!(sim.shared_memory().len(), 1);
    assert_eq!(sim.status_indications().len(), 1);
    let (hardware, current) = sim.receive_filter_capabilities();
    assert_eq!(hardware.map(|c| c.len()), Some(0x54));
    assert!(current.is_some());
    assert!(sim.general_attributes().is_some());

    assert_eq!(sim.pause().unwrap(), Completion::Completed);
    assert_eq!(sim.adapter_state(), AdapterState::Paused);
    assert_eq!(sim.restart().unwrap(), Completion::Completed);
    sim.stop_device().unwrap();
    assert_eq!(sim.adapter_state(), AdapterState::Absent);
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
    assert!(sim.driver_allocations().is_empty());
    assert!(sim.shared_memory().is_empty() && sim.io_mappings().is_empty());
}

#[test]
fn the_driver_reads_the_grant_the_simulator_builds() {
    // The driver's own parser (vmqnic::miniport::msix::interrupt_plan, run by the fake inside
    // InitializeEx) on the simulator's translated resources and message table.
    let cases = [
        (GrantPolicy::AsRequested, InterruptKind::MsiX, 5, true),
        (GrantPolicy::AtMost(1), InterruptKind::MsiX, 1, false),
        (GrantPolicy::Msi, InterruptKind::Msi, 1, false),
        (GrantPolicy::LineBased, InterruptKind::Line, 0, false),
    ];
    for (policy, kind, granted, vmq) in cases {
        let mut sim = Sim::start(SimConfig::with_groups(&[2, 2]));
        fake::reset(Behaviour::default());
        sim.load_driver(fake::driver_entry).unwrap();
        let grant = sim.start_device(policy).unwrap();
        let plan = with_fake(|f| f.plan.clone()).expect("the interrupt was registered");
        assert_eq!(
            (plan.kind, plan.granted_messages, plan.vmq_enabled()),
            (kind, granted, vmq),
            "{policy:?}"
        );
        if policy == GrantPolicy::AsRequested {
            assert_eq!(
                plan.message_targets,
                vec![None, Some(p(0, 0)), Some(p(0, 1)), Some(p(1, 0)), Some(p(1, 1))]
            );
            assert_eq!(plan.table_entries, 10);
        }
        let table = with_fake(|f| f.message_table.clone());
        let expected: Vec<(i64, usize, u32)> = grant
            .messages
            .iter()
            .map(|m| {
                (i64::try_from(m.mailbox).unwrap(), usize::try_from(m.affinity).unwrap(), m.data)
            })
            .collect();
        assert_eq!(table, expected, "MessageInfoTable: mailbox, target set, data of each message");
        sim.stop_device().unwrap();
        sim.unload_driver().unwrap();
        assert_eq!(sim.violations(), vec![]);
    }
}

#[test]
fn a_missing_qemu_fails_with_the_install_hint() {
    let config = SimConfig::with_groups(&[1]).with_qemu_config(ndis_sim::qemu::QemuConfig {
        binary: Some("/nonexistent/qemu-system-x86_64".into()),
        ..ndis_sim::qemu::QemuConfig::default()
    });
    let error = Sim::try_start(config).err().expect("no such QEMU").to_string();
    assert!(error.contains("/nonexistent/qemu-system-x86_64"), "{error}");
    assert!(error.contains("apt-get install -t bookworm-backports qemu-system-x86"), "{error}");
    // The lock was released: the next simulation starts.
    drop(Sim::start(SimConfig::with_groups(&[1])));
}

#[test]
fn the_device_can_be_started_again_after_a_stop() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(busy_behaviour());
    sim.load_driver(fake::driver_entry).unwrap();
    for _ in 0..3 {
        let grant = sim.start_device(GrantPolicy::AsRequested).unwrap();
        assert_eq!(grant.messages.len(), 3);
        sim.stop_device().unwrap();
    }
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
    assert!(sim.driver_allocations().is_empty());
}

#[test]
fn fewer_messages_than_requested() {
    let mut sim = Sim::start(SimConfig::with_groups(&[4]));
    fake::reset(Behaviour::default());
    sim.load_driver(fake::driver_entry).unwrap();
    let grant = sim.start_device(GrantPolicy::AtMost(2)).unwrap();
    assert_eq!(grant.kind, GrantKind::MsiX);
    assert_eq!(grant.messages.len(), 2);
    with_fake(|f| assert_eq!(f.message_count, 2));
    let table = sim.msix_table();
    assert_eq!((table[0].message, table[1].message, table[2].message), (Some(0), Some(1), None));
    assert!(table[2..].iter().all(|e| e.masked));
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_single_msi_message() {
    let mut sim = Sim::start(SimConfig::with_groups(&[4]));
    fake::reset(Behaviour::default());
    sim.load_driver(fake::driver_entry).unwrap();
    let grant = sim.start_device(GrantPolicy::Msi).unwrap();
    assert_eq!(grant.kind, GrantKind::Msi);
    assert_eq!(grant.messages.len(), 1);
    let descriptors = partial_descriptors(&grant.translated_resources).unwrap();
    let messages: Vec<_> = descriptors.iter().filter(|d| d.is_message_interrupt()).collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].interrupt_affinity(), 0b1111);
    with_fake(|f| (f.interrupt_type, f.message_count))
        .eq(&(NDIS_CONNECT_MESSAGE_BASED, 1))
        .then_some(())
        .expect("one message-based MSI message");
    // There is no MSI-X table to configure.
    assert_eq!(fake::config_msix(0, 0, 0), vmqnic::ndis::NDIS_STATUS_NOT_SUPPORTED);
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_line_based_interrupt() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(Behaviour::default());
    sim.load_driver(fake::driver_entry).unwrap();
    let grant = sim.start_device(GrantPolicy::LineBased).unwrap();
    assert_eq!(grant.kind, GrantKind::Line);
    assert!(grant.messages.is_empty());
    let line = grant.line.unwrap();
    assert_eq!((line.pin, line.target, line.affinity), (23, p(0, 0), 0b11));
    let descriptors = partial_descriptors(&grant.translated_resources).unwrap();
    let interrupts: Vec<_> =
        descriptors.iter().filter(|d| d.resource_type() == CmResourceTypeInterrupt).collect();
    assert_eq!(interrupts.len(), 1);
    assert!(!interrupts[0].is_message_interrupt());
    assert_eq!(interrupts[0].interrupt_vector(), 23);
    with_fake(|f| assert_eq!(f.interrupt_type, NDIS_CONNECT_LINE_BASED));
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_pending_pause_completes_with_ndis_m_pause_complete() {
    let mut sim = Sim::start(SimConfig::with_groups(&[1]));
    fake::reset(Behaviour { pause_status: NDIS_STATUS_PENDING, ..Behaviour::default() });
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    assert_eq!(sim.pause().unwrap(), Completion::Pending);
    assert_eq!(sim.adapter_state(), AdapterState::Pausing);
    NdisMPauseComplete(sim.miniport_handle() as _);
    assert_eq!(sim.adapter_state(), AdapterState::Paused);
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_pause_that_never_completes_times_out_the_stop() {
    let mut sim = Sim::start(SimConfig::with_groups(&[1]));
    fake::reset(Behaviour { pause_status: NDIS_STATUS_PENDING, ..Behaviour::default() });
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    sim.pause().unwrap();
    let error = sim.wait_for_state(
        AdapterState::Paused,
        std::time::Duration::from_millis(20),
        "NdisMPauseComplete",
    );
    assert!(matches!(error, Err(SimError::Timeout("NdisMPauseComplete"))));
}

#[test]
fn a_failing_initialize_removes_the_device() {
    let mut sim = Sim::start(SimConfig::with_groups(&[1]));
    let mut initialize = INITIALIZE.to_vec();
    initialize.extend([
        Step::DeregisterInterrupt,
        Step::DeregisterSgDma,
        Step::Unmap,
        Step::FreeContext,
    ]);
    initialize.push(Step::Return(NDIS_STATUS_FAILURE));
    fake::reset(Behaviour { initialize, ..Behaviour::default() });
    sim.load_driver(fake::driver_entry).unwrap();
    let error = sim.start_device(GrantPolicy::AsRequested).unwrap_err();
    assert!(matches!(error, SimError::Failed { handler: "MiniportInitializeEx", .. }), "{error}");
    assert_eq!(sim.adapter_state(), AdapterState::Absent);
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![], "the failure path released everything");
}

#[test]
fn device_operations_without_a_device_are_errors() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    for result in [sim.set_link(false), sim.send_frames(&[&[0; 60]])] {
        let error = result.unwrap_err();
        assert!(matches!(error, SimError::WrongState { .. }), "{error}");
        assert!(error.to_string().contains("with_qemu"), "{error}");
    }
    assert!(matches!(sim.recv_frame(Duration::ZERO), Err(SimError::WrongState { .. })));
}

#[test]
fn operations_out_of_order_are_errors_not_crashes() {
    let mut sim = Sim::start(SimConfig::with_groups(&[1]));
    fake::reset(Behaviour::default());
    assert!(matches!(sim.start_device(GrantPolicy::AsRequested), Err(SimError::WrongState { .. })));
    sim.load_driver(fake::driver_entry).unwrap();
    assert!(matches!(sim.load_driver(fake::driver_entry), Err(SimError::WrongState { .. })));
    assert!(matches!(sim.pause(), Err(SimError::WrongState { .. })));
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    assert!(matches!(sim.unload_driver(), Err(SimError::WrongState { .. })));
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}
