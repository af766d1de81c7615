//! Initialize-time interrupt planning and run-time MSI-X table-entry binding, through the
//! driver's real glue (`vmqnic::miniport::msix`) against the simulated ndis.sys: the grant is
//! read from the translated resources and the message table, the MSI-X table size from PCI
//! configuration space (NdisMGetBusData), and the binder's decisions are carried out with
//! NdisMConfigMSIXTableEntry on the simulated MSI-X table.

use ndis_sim::sim::exports::live_entries;
use ndis_sim::sim::{Sim, SimConfig, Violation, igb_config_space};
use vmqnic::interrupt::Processor;
use vmqnic::interrupt::grant::{InterruptKind, build};
use vmqnic::interrupt::plan::{InterruptPlan, VmqOff};
use vmqnic::miniport::msix::{apply_msix_ops, interrupt_plan, read_msix_capability};
use vmqnic::ndis::{
    CM_PARTIAL_RESOURCE_LIST, IO_INTERRUPT_MESSAGE_INFO, NDIS_CONNECT_LINE_BASED,
    NDIS_CONNECT_MESSAGE_BASED, NDIS_HANDLE, NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
};

/// VM queues of the 82576 in VMDq mode: 8 pools, pool 0 is the default queue.
const IGB_VM_QUEUES: u32 = 7;

fn handle() -> NDIS_HANDLE {
    ndis_sim::sim::with_state(|s| s.miniport_handle) as NDIS_HANDLE
}

/// A copy of `bytes` in 8-byte aligned storage, as the system's own structures are.
fn aligned(bytes: &[u8]) -> Vec<u64> {
    let mut storage = vec![0u64; bytes.len().div_ceil(8)];
    for (word, chunk) in storage.iter_mut().zip(bytes.chunks(8)) {
        let mut le = [0u8; 8];
        le[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(le);
    }
    storage
}

fn characteristics(
    interrupt_type: u32,
    info: Option<&mut Vec<u64>>,
) -> NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
    // SAFETY: all-zero is a valid value of this plain-data structure (NULL handlers/pointers).
    let mut chars: NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS = unsafe { std::mem::zeroed() };
    chars.InterruptType = interrupt_type;
    chars.MessageInfoTable =
        info.map_or(std::ptr::null_mut(), |i| i.as_mut_ptr().cast::<IO_INTERRUPT_MESSAGE_INFO>());
    chars
}

/// Plans for an MSI-X grant of `targets` (group, affinity) per message.
fn plan_msix(targets: &[(u16, u64)]) -> InterruptPlan {
    let mut descriptors =
        vec![build::memory(0xFEB0_0000, 0x2_0000), build::memory(0xFEB2_0000, 0x4000)];
    descriptors.extend(
        targets
            .iter()
            .zip(0x60..)
            .map(|((group, affinity), vector)| build::message(*group, vector, *affinity)),
    );
    let resources = aligned(&build::partial_resource_list(&descriptors));
    let mut info =
        aligned(&build::message_info(&targets.iter().map(|(_, a)| *a).collect::<Vec<_>>()));
    let chars = characteristics(NDIS_CONNECT_MESSAGE_BASED, Some(&mut info));
    // SAFETY: simulated NDIS; the buffers live for the call.
    unsafe {
        interrupt_plan(
            handle(),
            resources.as_ptr().cast::<CM_PARTIAL_RESOURCE_LIST>(),
            &chars,
            IGB_VM_QUEUES,
        )
    }
}

/// What FilterResourceRequirements asks for on 2 + 2 processors: message 0 for other causes,
/// then one per processor.
fn requested_for_two_groups() -> Vec<(u16, u64)> {
    vec![(0, 0b11), (0, 1 << 0), (0, 1 << 1), (1, 1 << 0), (1, 1 << 1)]
}

#[test]
fn full_grant_enables_vmq_with_one_vector_per_processor() {
    let sim = Sim::start(SimConfig::with_groups(&[2, 2]));
    let plan = plan_msix(&requested_for_two_groups());
    assert_eq!(plan.kind, InterruptKind::MsiX);
    assert_eq!(plan.granted_messages, 5);
    assert_eq!(plan.table_entries, 10, "read from the MSI-X capability");
    assert_eq!(plan.other_message, 0);
    assert_eq!(plan.default_queue_message, 1);
    assert_eq!(plan.vmq_queues, 4, "4 distinct processors, 9 free entries, 7 hardware queues");
    assert!(plan.vmq_enabled());
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn the_table_size_comes_from_the_device() {
    let mut config = SimConfig::with_groups(&[8]);
    config.pci_config = igb_config_space(4);
    let sim = Sim::start(config);
    // SAFETY: simulated NDIS.
    let capability = unsafe { read_msix_capability(handle()) }.unwrap();
    assert_eq!(capability.table_size, 4);
    let mut targets = vec![(0u16, 0xFFu64)];
    targets.extend((0..8).map(|n| (0u16, 1u64 << n)));
    let plan = plan_msix(&targets);
    assert_eq!(plan.vmq_queues, 3, "entry 0 is for other causes; 3 remain for queues");
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn fewer_messages_than_processors_keeps_vmq_best_effort() {
    let sim = Sim::start(SimConfig::with_groups(&[2, 2]));
    let plan = plan_msix(&requested_for_two_groups()[..3]);
    assert_eq!(plan.vmq_queues, 2);
    let mut binder = plan.binder().unwrap().unwrap();
    let bound = binder.bind(1, Processor { group: 1, number: 1 }).unwrap();
    assert_eq!(bound.binding.served.group, 0, "nearest processor that has a message");
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn degraded_grants_turn_vmq_off() {
    let sim = Sim::start(SimConfig::with_groups(&[2, 2]));
    assert_eq!(plan_msix(&requested_for_two_groups()[..1]).vmq_off, Some(VmqOff::SingleMessage));

    // Line-based: no message table at all.
    let resources = aligned(&build::partial_resource_list(&[
        build::memory(0xFEB0_0000, 0x2_0000),
        build::interrupt(0, 11, 0xF),
    ]));
    let chars = characteristics(NDIS_CONNECT_LINE_BASED, None);
    // SAFETY: simulated NDIS; the buffers live for the call.
    let line =
        unsafe { interrupt_plan(handle(), resources.as_ptr().cast(), &chars, IGB_VM_QUEUES) };
    assert_eq!((line.kind, line.vmq_off), (InterruptKind::Line, Some(VmqOff::LineBased)));

    // An inconsistent grant (5 messages, 4 descriptors) is survivable.
    let mut descriptors = vec![build::memory(0xFEB0_0000, 0x2_0000)];
    descriptors.extend((0..4).map(|n| build::message(0, 0x60 + n, 1 << n)));
    let resources = aligned(&build::partial_resource_list(&descriptors));
    let mut info = aligned(&build::message_info(&[1, 2, 4, 8, 16]));
    let chars = characteristics(NDIS_CONNECT_MESSAGE_BASED, Some(&mut info));
    // SAFETY: as above.
    let bad = unsafe { interrupt_plan(handle(), resources.as_ptr().cast(), &chars, IGB_VM_QUEUES) };
    assert_eq!(bad.vmq_off, Some(VmqOff::UnreadableGrant));
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn msi_is_told_apart_by_the_msix_enable_bit() {
    let mut config = SimConfig::with_groups(&[4]);
    config.pci_config[0x73] &= 0x7F; // MSI-X Enable clear: the OS chose MSI
    let sim = Sim::start(config);
    let resources = aligned(&build::partial_resource_list(&[build::message(0, 0x60, 1)]));
    let mut info = aligned(&build::message_info(&[1]));
    let chars = characteristics(NDIS_CONNECT_MESSAGE_BASED, Some(&mut info));
    // SAFETY: simulated NDIS; the buffers live for the call.
    let plan =
        unsafe { interrupt_plan(handle(), resources.as_ptr().cast(), &chars, IGB_VM_QUEUES) };
    assert_eq!((plan.kind, plan.vmq_off), (InterruptKind::Msi, Some(VmqOff::Msi)));
    assert_eq!(sim.violations(), vec![]);
}

/// Queues bound, re-targeted and freed: the simulated MSI-X table (programmed only through
/// NdisMConfigMSIXTableEntry) always routes each queue's entry to the message on its processor.
#[test]
fn table_entries_follow_the_queues() {
    let sim = Sim::start(SimConfig::with_groups(&[2, 2]));
    let plan = plan_msix(&requested_for_two_groups());
    sim.set_msix_window(true, plan.granted_messages);
    let mut binder = plan.binder().unwrap().unwrap();
    let p = |group, number| Processor { group, number };
    let check = |binder: &vmqnic::interrupt::binding::Binder| {
        let live = live_entries(&sim.msix_table());
        for (queue, binding) in binder.queues() {
            assert!(
                live.contains(&(binding.entry, binding.message)),
                "queue {queue}: entry {} → message {} live",
                binding.entry,
                binding.message
            );
            assert_eq!(plan.message_targets[binding.message as usize], Some(binding.served));
        }
    };
    for (queue, processor) in [(1, p(0, 1)), (2, p(1, 0)), (3, p(0, 1))] {
        let bound = binder.bind(queue, processor).unwrap();
        // SAFETY: simulated NDIS, inside the Initialize..Halt window.
        unsafe { apply_msix_ops(handle(), bound.ops.as_slice()) }.unwrap();
        assert!(bound.binding.is_exact());
        check(&binder);
    }
    assert_eq!(
        binder.binding(1).unwrap().entry,
        binder.binding(3).unwrap().entry,
        "same processor, one vector"
    );

    // Affinity change of queue 2 (alone on its entry) to processor 1:1: the entry is re-pointed.
    let rebound = binder.rebind(2, p(1, 1)).unwrap();
    // SAFETY: as above.
    unsafe { apply_msix_ops(handle(), rebound.ops.as_slice()) }.unwrap();
    check(&binder);
    let entry = binder.binding(2).unwrap().entry;
    assert_eq!(sim.msix_table()[entry as usize].message, Some(4));

    // Freeing queue 2 masks its entry.
    let unbound = binder.unbind(2).unwrap();
    // SAFETY: as above.
    unsafe { apply_msix_ops(handle(), unbound.ops.as_slice()) }.unwrap();
    assert!(sim.msix_table()[entry as usize].masked);
    check(&binder);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn table_operations_outside_initialize_and_halt_are_refused() {
    let sim = Sim::start(SimConfig::with_groups(&[2]));
    let plan = plan_msix(&[(0, 0b11), (0, 1), (0, 2)]);
    let mut binder = plan.binder().unwrap().unwrap();
    let bound = binder.bind(1, Processor { group: 0, number: 1 }).unwrap();
    // The window was never opened: no MiniportInitializeEx has run.
    // SAFETY: simulated NDIS; the call is expected to be refused.
    let result = unsafe { apply_msix_ops(handle(), bound.ops.as_slice()) };
    assert!(result.is_err());
    assert_eq!(
        sim.violations().iter().map(|v: &Violation| v.rule).collect::<Vec<_>>(),
        vec!["NdisMConfigMSIXTableEntry.Window"]
    );
}
