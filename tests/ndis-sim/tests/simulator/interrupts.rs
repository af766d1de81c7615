//! Interrupt delivery: the ISR at DIRQL and the DPCs at DISPATCH_LEVEL, "on" the processor
//! each message targets; NdisMQueueDpcEx; MoreNblsPending; the MSI-X table the OS programs.
//! Without a device (the test signals messages) and on QEMU's 82576 (the device raises them:
//! MSI-X vectors with EICS, MSI and INTx with ICS).

use std::time::Duration;

use ndis_sim::qemu::regs;
use ndis_sim::sim::cpu::{DEVICE_IRQL, DISPATCH_LEVEL};
use ndis_sim::sim::{GrantKind, GrantPolicy, Sim, SimConfig, rules};
use vmqnic::interrupt::Processor;
use vmqnic::ndis::{
    NdisMSIXTableConfigMaskTableEntry, NdisMSIXTableConfigSetTableEntry,
    NdisMSIXTableConfigUnmaskTableEntry,
};

use crate::fake::{self, Behaviour, with_fake};

const WAIT: Duration = Duration::from_secs(2);

fn p(group: u16, number: u8) -> Processor {
    Processor { group, number }
}

fn started(config: SimConfig, behaviour: Behaviour, policy: GrantPolicy) -> Sim {
    let mut sim = Sim::start(config);
    fake::reset(behaviour);
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(policy).unwrap();
    sim
}

#[test]
fn each_message_runs_its_isr_and_dpc_on_its_processor() {
    let sim =
        started(SimConfig::with_groups(&[2, 2]), Behaviour::default(), GrantPolicy::AsRequested);
    let grant = sim.grant().unwrap();
    for message in &grant.messages {
        sim.signal_message(message.number).unwrap();
        let deliveries = sim.deliver_interrupts(WAIT).unwrap();
        assert_eq!(deliveries.len(), 1);
        let d = &deliveries[0];
        assert_eq!((d.message, d.target), (Some(message.number), message.target));
        assert_eq!(d.isr.irql, DEVICE_IRQL);
        assert_eq!(
            d.isr.observed_processor,
            Some(message.target),
            "KeGetCurrentProcessorNumberEx in the ISR"
        );
        assert!(d.isr.claimed && d.isr.queued_default_dpc);
        assert_eq!(d.dpcs.len(), 1);
        assert_eq!((d.dpcs[0].processor, d.dpcs[0].context), (message.target, 0));
        assert_eq!(d.dpcs[0].observed_processor, Some(message.target));
    }
    let seen: Vec<Processor> = with_fake(|f| f.dpc_calls.iter().map(|c| c.processor).collect());
    assert_eq!(seen, vec![p(0, 0), p(0, 0), p(0, 1), p(1, 0), p(1, 1)]);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn nothing_signalled_means_no_delivery() {
    let sim = started(SimConfig::with_groups(&[2]), Behaviour::default(), GrantPolicy::AsRequested);
    assert!(sim.deliver_interrupts(Duration::from_millis(5)).unwrap().is_empty());
    assert!(with_fake(|f| f.isr_calls.is_empty()));
}

#[test]
fn ndis_m_queue_dpc_ex_runs_the_dpc_on_the_chosen_processors() {
    let behaviour = Behaviour {
        isr_queues_default_dpc: false,
        isr_queues_dpc_on: Some((1, 0b1010)),
        ..Behaviour::default()
    };
    let sim = started(SimConfig::with_groups(&[2, 4]), behaviour, GrantPolicy::AsRequested);
    sim.signal_message(1).unwrap();
    let deliveries = sim.deliver_interrupts(WAIT).unwrap();
    let dpcs: Vec<(Processor, usize)> =
        deliveries[0].dpcs.iter().map(|d| (d.processor, d.context)).collect();
    assert_eq!(dpcs, vec![(p(1, 1), 0x5A5A), (p(1, 3), 0x5A5A)]);
    assert!(deliveries[0].dpcs.iter().all(|d| d.observed_processor == Some(d.processor)));
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn more_nbls_pending_runs_the_dpc_again() {
    let behaviour = Behaviour { dpc_more_pending: 2, ..Behaviour::default() };
    let sim = started(SimConfig::with_groups(&[1]), behaviour, GrantPolicy::AsRequested);
    sim.signal_message(1).unwrap();
    let deliveries = sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!(deliveries[0].dpcs[0].passes, 3);
    assert_eq!(with_fake(|f| f.dpc_calls.len()), 3);
}

#[test]
fn a_line_interrupt_runs_the_line_handlers() {
    let sim = started(SimConfig::with_groups(&[2]), Behaviour::default(), GrantPolicy::LineBased);
    sim.signal_line().unwrap();
    let deliveries = sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!((deliveries[0].message, deliveries[0].target), (None, p(0, 0)));
    with_fake(|f| {
        assert_eq!(f.isr_calls[0].message, None);
        assert_eq!(f.dpc_calls[0].message, None);
    });
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn table_entries_follow_ndis_m_config_msix_table_entry() {
    let sim =
        started(SimConfig::with_groups(&[2, 2]), Behaviour::default(), GrantPolicy::AsRequested);
    // At connection entry i raises message i.
    sim.signal_table_entry(2).unwrap();
    assert_eq!(sim.deliver_interrupts(WAIT).unwrap()[0].message, Some(2));
    // Re-point entry 2 at message 4 (processor 1:1).
    assert_eq!(fake::config_msix(NdisMSIXTableConfigMaskTableEntry, 2, 0), 0);
    assert_eq!(fake::config_msix(NdisMSIXTableConfigSetTableEntry, 2, 4), 0);
    // While masked, a signal only sets the pending bit ...
    sim.signal_table_entry(2).unwrap();
    assert!(sim.deliver_interrupts(Duration::from_millis(5)).unwrap().is_empty());
    // ... and unmasking delivers it, to the new message.
    assert_eq!(fake::config_msix(NdisMSIXTableConfigUnmaskTableEntry, 2, 0), 0);
    let deliveries = sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!((deliveries[0].message, deliveries[0].target), (Some(4), p(1, 1)));
    // A message that was not granted, an entry beyond the table: refused.
    assert_ne!(fake::config_msix(NdisMSIXTableConfigSetTableEntry, 2, 5), 0);
    assert_ne!(fake::config_msix(NdisMSIXTableConfigMaskTableEntry, 10, 0), 0);
    assert_eq!(sim.violations(), vec![]);
}

// ---- QEMU's 82576 -------------------------------------------------------------------------

fn started_on_qemu(groups: &[u8], behaviour: Behaviour, policy: GrantPolicy) -> Sim {
    started(SimConfig::with_groups(groups).with_qemu(), behaviour, policy)
}

#[test]
fn qemu_msix_vectors_reach_their_messages_and_processors() {
    let sim = started_on_qemu(&[2, 2], Behaviour::default(), GrantPolicy::AsRequested);
    let igb = sim.igb().unwrap();
    // The OS enabled MSI-X and pointed entry i at message i's mailbox.
    assert!(igb.pci().read16(igb.msix().control_offset()).unwrap() & 0x8000 != 0);
    let grant = sim.grant().unwrap();
    for message in &grant.messages {
        let entry = igb.msix_read_entry(u16::try_from(message.number).unwrap()).unwrap();
        assert_eq!(
            (entry.address, entry.data, entry.masked),
            (message.mailbox, message.data, false)
        );
    }
    assert!(igb.msix_read_entry(5).unwrap().masked, "entries beyond the grant stay masked");
    for vector in 0..5u32 {
        igb.reg_write(regs::EICS, 1 << vector).unwrap();
        let deliveries = sim.deliver_interrupts(WAIT).unwrap();
        assert_eq!(deliveries.len(), 1, "vector {vector}");
        let expected = grant.messages[vector as usize].target;
        assert_eq!((deliveries[0].message, deliveries[0].target), (Some(vector), expected));
        assert_eq!(deliveries[0].dpcs[0].observed_processor, Some(expected));
    }
    // Re-point vector 1 at message 4 through NDIS: the device now raises message 4.
    assert_eq!(fake::config_msix(NdisMSIXTableConfigSetTableEntry, 1, 4), 0);
    igb.reg_write(regs::EICS, 1 << 1).unwrap();
    let deliveries = sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!((deliveries[0].message, deliveries[0].target), (Some(4), p(1, 1)));
    let (reads, writes) = sim.register_accesses();
    assert!(writes >= 3, "the driver programmed GPIE, EIAC, EIMS through the mapping");
    assert_eq!(reads, 0, "the MSI-X ISR reads no register");
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn qemu_msi_reaches_the_single_message() {
    let sim = started_on_qemu(&[2], Behaviour::default(), GrantPolicy::Msi);
    assert_eq!(sim.grant().unwrap().kind, GrantKind::Msi);
    let igb = sim.igb().unwrap();
    igb.reg_write(regs::ICS, 1 << 2).unwrap(); // LSC
    let deliveries = sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!((deliveries[0].message, deliveries[0].target), (Some(0), p(0, 0)));
    assert!(deliveries[0].isr.claimed, "the ISR read a non-zero ICR");
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn qemu_intx_reaches_the_line_handlers() {
    let sim = started_on_qemu(&[2], Behaviour::default(), GrantPolicy::LineBased);
    let igb = sim.igb().unwrap();
    igb.reg_write(regs::ICS, 1 << 2).unwrap();
    let deliveries = sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!(deliveries.len(), 1, "one assertion, cleared by the ISR's ICR read");
    assert_eq!((deliveries[0].message, deliveries[0].target), (None, p(0, 0)));
    assert!(deliveries[0].isr.claimed);
    assert_eq!(with_fake(|f| f.dpc_calls.len()), 1);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn qemu_a_line_the_isr_never_clears_is_an_interrupt_storm() {
    let behaviour = Behaviour { isr_reads_icr: false, ..Behaviour::default() };
    let sim = started_on_qemu(&[1], behaviour, GrantPolicy::LineBased);
    sim.igb().unwrap().reg_write(regs::ICS, 1 << 2).unwrap();
    let deliveries = sim.deliver_interrupts(WAIT).unwrap();
    assert!(deliveries.len() >= 60);
    assert_eq!(sim.violated_rules(), vec![rules::INTERRUPT_STORM]);
}

#[test]
fn qemu_a_clean_lifecycle_breaks_no_rule() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2, 2]).with_qemu());
    fake::reset(crate::lifecycle::busy_behaviour());
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    let (_, virtual_address, physical) = with_fake(|f| f.shared[0]);
    // The driver's view of shared memory is the guest RAM the device DMAs into.
    let physical = u64::try_from(physical).unwrap();
    sim.qemu().unwrap().ram().write_u32(physical, 0x1234_5678).unwrap();
    // SAFETY: the shared memory NdisAllocateSharedMemory handed the fake, still allocated.
    let seen = unsafe { (virtual_address as *const u32).read_volatile() };
    assert_eq!(seen, 0x1234_5678);
    // NdisMGetBusData reads the live configuration space: MSI-X is now enabled.
    let mut config = [0u8; 256];
    // SAFETY: a 256-byte buffer on this frame.
    let read = unsafe {
        ndis_sim::sim::exports::NdisMGetBusData(
            sim.miniport_handle() as _,
            0,
            0,
            config.as_mut_ptr().cast(),
            256,
        )
    };
    assert_eq!(read, 256);
    let capability = vmqnic::interrupt::pci::msix_capability(&config).unwrap();
    assert!(capability.enabled);
    assert_eq!(capability.table_size, 10);
    sim.stop_device().unwrap();
    let igb = sim.igb().unwrap();
    assert!(
        igb.pci().read16(igb.msix().control_offset()).unwrap() & 0x8000 == 0,
        "MSI-X off after stop"
    );
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
    assert!(
        sim.qemu().unwrap().dma_outstanding().is_empty(),
        "mailboxes and shared memory returned"
    );
}

#[test]
fn irqls_of_the_handlers() {
    let sim = started(SimConfig::with_groups(&[1]), Behaviour::default(), GrantPolicy::AsRequested);
    sim.signal_message(0).unwrap();
    let deliveries = sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!(deliveries[0].isr.irql, DEVICE_IRQL);
    assert_eq!(with_fake(|f| f.dpc_calls.len()), 1);
}

const _: () = assert!(DEVICE_IRQL > DISPATCH_LEVEL, "an ISR runs above every DPC");
