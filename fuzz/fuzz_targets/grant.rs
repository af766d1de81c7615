//! The granted resources (MiniportInitializeEx): any translated resource list, any message
//! table, any interrupt type and MSI-X Enable bit; then the interrupt plan and the VMQ binder
//! made of a grant that parses, for any MSI-X table size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::interrupt::grant::{InterruptKind, parse_grant, partial_descriptors};
use vmqnic::interrupt::plan::plan_interrupts;
use vmqnic::ndis::{NDIS_CONNECT_LINE_BASED, NDIS_CONNECT_MESSAGE_BASED};
use vmqnic_fuzz::Reader;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let interrupt_type = match r.u8() % 4 {
        0 => NDIS_CONNECT_LINE_BASED,
        1 | 2 => NDIS_CONNECT_MESSAGE_BASED,
        _ => r.u32(),
    };
    let msix_enabled = match r.u8() % 3 {
        0 => None,
        1 => Some(false),
        _ => Some(true),
    };
    let has_info = r.bool();
    let table = r.u16();
    let table = (table != 0).then_some(table % 2049);
    let split = usize::from(r.u16());
    let rest = r.rest();
    let (resources, info) = rest.split_at(split.min(rest.len()));
    let _ = partial_descriptors(resources);
    let Ok(grant) = parse_grant(interrupt_type, resources, has_info.then_some(info), msix_enabled)
    else {
        return;
    };
    match grant.kind {
        InterruptKind::Line => assert!(grant.messages.is_empty()),
        InterruptKind::Msi | InterruptKind::MsiX => assert!(!grant.messages.is_empty()),
    }
    let plan = plan_interrupts(&grant, table, 7);
    assert!(plan.vmq_queues <= 7, "more queues than the hardware has");
    assert_eq!(usize::try_from(plan.granted_messages).unwrap(), grant.messages.len());
    if !grant.messages.is_empty() {
        assert!(plan.other_message < plan.granted_messages);
        assert!(plan.default_queue_message < plan.granted_messages);
    }
    if let Some(binder) = plan.binder() {
        assert!(plan.vmq_enabled());
        let _ = binder;
    }
});
