//! The simulated OS's interrupt side: programming the device's MSI-X table, MSI capability or
//! INTx for the granted interrupts, watching the mailboxes (or the IOAPIC line) and calling
//! the driver's ISR at DIRQL and its DPCs at DISPATCH_LEVEL "on" the message's processor.

use std::time::{Duration, Instant};

use vmqnic::interrupt::Processor;
use vmqnic::ndis::{
    BOOLEAN, NDIS_RECEIVE_THROTTLE_PARAMETERS, NDIS_STATUS, NDIS_STATUS_INVALID_PARAMETER,
    NDIS_STATUS_SUCCESS, NdisMSIXTableConfigMaskTableEntry, NdisMSIXTableConfigSetTableEntry,
    NdisMSIXTableConfigUnmaskTableEntry, ULONG,
};

use super::cpu::{self, CpuContext, DEVICE_IRQL, DISPATCH_LEVEL};
use super::lifecycle;
use super::machine::Machine;
use super::state::{Connection, Phase, QueuedDpc, SimState, TableEntry, in_phase, with_state};
use super::{GrantKind, GrantedInterrupts, Sim, SimError, rules};
use crate::qemu::{self, MsixEntry, Q35_IOAPIC_QOM_PATH};

/// How often NDIS re-runs a DPC that keeps setting `MoreNblsPending` before the simulator
/// stops (a driver that never drains is a bug the test should see, not a hang).
const MAX_DPC_PASSES: u32 = 1000;
/// Consecutive ISR calls with the line still asserted before the simulator reports an
/// interrupt storm.
const STORM_THRESHOLD: u32 = 64;
/// Poll interval of the mailboxes.
const POLL_INTERVAL: Duration = Duration::from_micros(100);

/// One run of the ISR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsrRun {
    /// The processor it ran on.
    pub processor: Processor,
    /// Its IRQL.
    pub irql: u8,
    /// What KeGetCurrentProcessorNumberEx answered during it, if it asked.
    pub observed_processor: Option<Processor>,
    /// What it returned (TRUE: the interrupt was the device's).
    pub claimed: bool,
    /// Whether it set `*QueueDefaultInterruptDpc`.
    pub queued_default_dpc: bool,
}

/// One DPC (possibly several passes, while it set `MoreNblsPending`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpcRun {
    /// The message (0 for a line).
    pub message: u32,
    /// The processor it ran on (DISPATCH_LEVEL).
    pub processor: Processor,
    /// What KeGetCurrentProcessorNumberEx answered during it, if it asked.
    pub observed_processor: Option<Processor>,
    /// `MiniportDpcContext` (NULL for the default DPC).
    pub context: usize,
    /// How many times it ran (more than once when it set `MoreNblsPending`).
    pub passes: u32,
}

/// One interrupt the simulated OS delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message (`None` for a line-based interrupt).
    pub message: Option<u32>,
    /// The processor the message (or line) targets.
    pub target: Processor,
    /// The ISR.
    pub isr: IsrRun,
    /// The DPCs that ran after it (the default one, and any NdisMQueueDpcEx queued).
    pub dpcs: Vec<DpcRun>,
}

/// An NdisMConfigMSIXTableEntry operation to carry out on the device.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TableOp {
    Set { entry: u16, message: u32, masked: bool },
    Mask { entry: u16 },
    Unmask { entry: u16, pending_message: Option<u32> },
}

impl SimState {
    /// At connection the PCI driver points entry *i* at message *i* for *i* < min(T, G) and
    /// unmasks them; the other entries stay masked.
    pub(crate) fn msix_table_connect(&mut self, grant: &GrantedInterrupts) {
        if grant.kind != GrantKind::MsiX {
            return;
        }
        let granted = grant.messages.len();
        self.granted_messages = u32::try_from(granted).unwrap_or(u32::MAX);
        for (i, entry) in self.msix_table.iter_mut().enumerate() {
            *entry = TableEntry {
                message: (i < granted).then(|| u32::try_from(i).unwrap_or(u32::MAX)),
                masked: i >= granted,
                pending: false,
            };
        }
    }

    /// Applies an NdisMConfigMSIXTableEntry operation to the OS's copy of the table.
    pub(crate) fn msix_table_operation(
        &mut self,
        operation: ULONG,
        entry: u32,
        message: u32,
    ) -> (NDIS_STATUS, Option<TableOp>) {
        let granted = self.granted_messages;
        let Some(index) =
            u16::try_from(entry).ok().filter(|e| usize::from(*e) < self.msix_table.len())
        else {
            return (NDIS_STATUS_INVALID_PARAMETER, None);
        };
        let slot = &mut self.msix_table[usize::from(index)];
        match operation {
            NdisMSIXTableConfigSetTableEntry if message < granted => {
                slot.message = Some(message);
                (
                    NDIS_STATUS_SUCCESS,
                    Some(TableOp::Set { entry: index, message, masked: slot.masked }),
                )
            }
            NdisMSIXTableConfigMaskTableEntry => {
                slot.masked = true;
                (NDIS_STATUS_SUCCESS, Some(TableOp::Mask { entry: index }))
            }
            NdisMSIXTableConfigUnmaskTableEntry => {
                slot.masked = false;
                let pending_message = if slot.pending { slot.message } else { None };
                slot.pending = false;
                (NDIS_STATUS_SUCCESS, Some(TableOp::Unmask { entry: index, pending_message }))
            }
            // No such operation, or a message that was not granted.
            _ => (NDIS_STATUS_INVALID_PARAMETER, None),
        }
    }
}

/// Programs the device for `grant` (what the OS does when NdisMRegisterInterruptEx connects).
pub(crate) fn connect(machine: &Machine, grant: &GrantedInterrupts) -> qemu::Result<()> {
    for m in &grant.messages {
        machine.ram().write_u32(m.mailbox, 0)?;
    }
    if grant.kind == GrantKind::Msi {
        machine.set_bare_msi_enabled(true);
    }
    let Some(igb) = machine.igb() else { return Ok(()) };
    match grant.kind {
        GrantKind::MsiX => {
            for entry in 0..igb.msix_table_size() {
                match grant.messages.get(usize::from(entry)) {
                    Some(m) => igb.msix_write_entry(
                        entry,
                        MsixEntry { address: m.mailbox, data: m.data, masked: false },
                    )?,
                    None => igb.msix_set_masked(entry, true)?,
                }
            }
            igb.msix_set_control(true, false)?;
        }
        GrantKind::Msi => {
            if let Some(m) = grant.messages.first() {
                igb.route_msi_to_mailbox(m.mailbox, u16::try_from(m.data).unwrap_or(1))?;
            }
        }
        GrantKind::Line => {
            // QEMU allows one intercept per session; a second device start reuses it.
            match igb.qemu().qtest().irq_intercept_in(Q35_IOAPIC_QOM_PATH) {
                Ok(()) | Err(qemu::Error::QtestRejected { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Masks what [`connect`] enabled (NdisMDeregisterInterruptEx).
pub(crate) fn disconnect(machine: &Machine, grant: &GrantedInterrupts) -> qemu::Result<()> {
    let Some(igb) = machine.igb() else { return Ok(()) };
    match grant.kind {
        GrantKind::MsiX => {
            for entry in 0..igb.msix_table_size() {
                igb.msix_set_masked(entry, true)?;
            }
        }
        GrantKind::Msi => igb.msi_disable()?,
        GrantKind::Line => igb.set_intx_disabled(true)?,
    }
    Ok(())
}

/// Turns every interrupt mechanism of the device off (the PCI driver, when the device stops).
pub(crate) fn stop(machine: &Machine) -> qemu::Result<()> {
    machine.set_interrupt_mode(None)
}

/// Carries out a table operation on the device (or, without one, delivers a message that was
/// pending while its entry was masked).
pub(crate) fn apply_table_operation(
    machine: &Machine,
    grant: &GrantedInterrupts,
    operation: TableOp,
) -> qemu::Result<()> {
    match (machine.igb(), operation) {
        (Some(igb), TableOp::Set { entry, message, masked }) => {
            let Some(m) = grant.messages.get(usize::try_from(message).unwrap_or(usize::MAX)) else {
                return Ok(());
            };
            igb.msix_write_entry(entry, MsixEntry { address: m.mailbox, data: m.data, masked })
        }
        (Some(igb), TableOp::Mask { entry }) => igb.msix_set_masked(entry, true),
        (Some(igb), TableOp::Unmask { entry, .. }) => igb.msix_set_masked(entry, false),
        (None, TableOp::Unmask { pending_message: Some(message), .. }) => {
            match grant.messages.get(usize::try_from(message).unwrap_or(usize::MAX)) {
                Some(m) => machine.ram().write_u32(m.mailbox, m.data),
                None => Ok(()),
            }
        }
        (None, _) => Ok(()),
    }
}

/// What fired.
#[derive(Clone, Copy, Debug)]
enum Fired {
    Message(u32),
    Line,
}

impl Sim {
    /// Waits up to `timeout` for interrupts, and delivers each: the ISR at DIRQL on the
    /// message's target processor, then the DPCs at DISPATCH_LEVEL (the default DPC on the
    /// same processor when the ISR asked for it, and whatever NdisMQueueDpcEx queued).
    /// Returns once something was delivered and nothing more is pending, or at `timeout`.
    ///
    /// Message interrupts are the device's writes to the message mailboxes (a mailbox holds
    /// the last write, so two writes of one message between polls are one delivery, as two
    /// edges of a latched interrupt can be); a line-based interrupt is the device's INTx
    /// level on the IOAPIC (qtest `irq_intercept_in`).
    ///
    /// After each delivery (and once at the end when nothing was delivered) the freed shared
    /// memory in quarantine is checked ([`Sim::check_freed_memory`]).
    pub fn deliver_interrupts(&self, timeout: Duration) -> Result<Vec<Delivery>, SimError> {
        let deadline = Instant::now() + timeout;
        let mut deliveries = Vec::new();
        let mut line_still_high = 0u32;
        loop {
            let fired = self.take_fired(deadline)?;
            if fired.is_empty() {
                if !deliveries.is_empty() || Instant::now() >= deadline {
                    if deliveries.is_empty() {
                        self.check_freed_memory()?;
                    }
                    return Ok(deliveries);
                }
                continue;
            }
            for fired in fired {
                if let Some(delivery) = deliver(fired) {
                    deliveries.push(delivery);
                    self.check_freed_memory()?;
                }
                if matches!(fired, Fired::Line) && self.line_asserted()? {
                    line_still_high += 1;
                    if line_still_high >= STORM_THRESHOLD {
                        with_state(|s| {
                            s.violate(
                                rules::INTERRUPT_STORM,
                                format!(
                                    "the line stayed asserted through {STORM_THRESHOLD} ISR calls"
                                ),
                            );
                        });
                        return Ok(deliveries);
                    }
                } else {
                    line_still_high = 0;
                }
            }
        }
    }

    /// Runs the DPCs queued with NdisMQueueDpcEx outside an ISR (e.g. from PASSIVE_LEVEL).
    pub fn run_queued_dpcs(&self) -> Vec<DpcRun> {
        run_dpcs()
    }

    /// Without a device: message `message` fires (its data is written to its mailbox, as the
    /// device would). With QEMU this also works, but the device itself is the better source.
    pub fn signal_message(&self, message: u32) -> Result<(), SimError> {
        let (grant, machine) = with_state(|s| (s.grant.clone(), s.machine()));
        let m = grant
            .as_ref()
            .and_then(|g| g.messages.get(usize::try_from(message).unwrap_or(usize::MAX)).copied())
            .ok_or_else(|| SimError::WrongState {
                operation: "signal a message",
                reason: format!("message {message} was not granted"),
            })?;
        if let Some(machine) = machine {
            machine.ram().write_u32(m.mailbox, m.data)?;
        }
        Ok(())
    }

    /// Without a device: MSI-X table entry `entry` fires. It raises the message the entry
    /// points at, or, while the entry is masked, sets its pending bit (delivered at unmask).
    pub fn signal_table_entry(&self, entry: u16) -> Result<(), SimError> {
        if self.igb().is_some() {
            return Err(SimError::WrongState {
                operation: "signal a table entry",
                reason: "with QEMU the device raises its vectors itself (EICS)".to_owned(),
            });
        }
        let message = with_state(|s| {
            let slot = s.msix_table.get_mut(usize::from(entry))?;
            if slot.masked {
                slot.pending = true;
                None
            } else {
                slot.message
            }
        });
        match message {
            Some(message) => self.signal_message(message),
            None => Ok(()),
        }
    }

    /// Without a device: the line-based interrupt fires once.
    pub fn signal_line(&self) -> Result<(), SimError> {
        if self.igb().is_some() {
            return Err(SimError::WrongState {
                operation: "signal the line",
                reason: "with QEMU the device asserts INTx itself".to_owned(),
            });
        }
        with_state(|s| s.line_interrupts_signalled += 1);
        Ok(())
    }

    /// Whether the device's INTx is asserted now.
    fn line_asserted(&self) -> Result<bool, SimError> {
        let pin = with_state(|s| s.grant.as_ref().and_then(|g| g.line).map(|l| l.pin));
        match (self.igb(), pin) {
            (Some(igb), Some(pin)) => {
                let qtest = igb.qemu().qtest();
                qtest.sync()?;
                qtest.take_irq_events(Duration::ZERO)?;
                Ok(qtest.irq_level(pin))
            }
            _ => Ok(false),
        }
    }

    /// The interrupts that fired (emptying their mailboxes), waiting a little if none did.
    fn take_fired(&self, deadline: Instant) -> Result<Vec<Fired>, SimError> {
        let (connection, grant, signalled) = with_state(|s| {
            let signalled = std::mem::take(&mut s.line_interrupts_signalled);
            (s.interrupt, s.grant.clone(), signalled)
        });
        let (Some(connection), Some(grant)) = (connection, grant) else {
            return Ok(Vec::new());
        };
        if with_state(|s| s.surprise_removed) {
            // The device is gone: it interrupts no more (what it wrote before is dropped).
            for m in &grant.messages {
                let _ = self.machine.ram().swap_u32(m.mailbox, 0);
            }
            std::thread::sleep(
                POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())),
            );
            return Ok(Vec::new());
        }
        if connection.deregistered {
            return Ok(Vec::new());
        }
        let mut fired = Vec::new();
        let wait = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(2));
        match grant.kind {
            GrantKind::Line => {
                fired.extend(std::iter::repeat_n(
                    Fired::Line,
                    usize::try_from(signalled).unwrap_or(0),
                ));
                if let (Some(igb), Some(line)) = (self.igb(), grant.line) {
                    let qtest = igb.qemu().qtest();
                    // A level interrupt: deliver while it is asserted; wait only while not.
                    qtest.take_irq_events(Duration::ZERO)?;
                    if !qtest.irq_level(line.pin) {
                        qtest.take_irq_events(wait)?;
                    }
                    if qtest.irq_level(line.pin) {
                        fired.push(Fired::Line);
                    }
                } else if fired.is_empty() {
                    std::thread::sleep(wait.min(POLL_INTERVAL));
                }
            }
            GrantKind::MsiX | GrantKind::Msi => {
                if let Some(igb) = self.igb() {
                    // A barrier: every message of a frame QEMU was processing has landed.
                    igb.qemu().qtest().sync()?;
                }
                let ram = self.machine.ram();
                for m in &grant.messages {
                    if ram.swap_u32(m.mailbox, 0)? != 0 {
                        fired.push(Fired::Message(m.number));
                    }
                }
                if fired.is_empty() {
                    std::thread::sleep(wait.min(POLL_INTERVAL));
                }
            }
        }
        Ok(fired)
    }
}

/// Runs the ISR for `fired` and the DPCs that follow.
fn deliver(fired: Fired) -> Option<Delivery> {
    let (connection, grant) = with_state(|s| (s.interrupt, s.grant.clone()));
    let (Some(connection), Some(grant)) = (connection, grant) else { return None };
    if connection.deregistered {
        return None;
    }
    let (message, target) = match fired {
        Fired::Message(m) => {
            let granted = grant.messages.get(usize::try_from(m).unwrap_or(usize::MAX))?;
            (Some(m), granted.target)
        }
        Fired::Line => (None, grant.line?.target),
    };
    let isr = run_isr(connection, message, target);
    if isr.queued_default_dpc {
        with_state(|s| {
            let message = message.unwrap_or(0);
            if !s.dpcs.iter().any(|d| d.message == message && d.processor == target) {
                s.dpcs.push_back(QueuedDpc { message, processor: target, context: 0 });
            }
        });
    }
    let dpcs = run_dpcs();
    Some(Delivery { message, target, isr, dpcs })
}

/// Calls the ISR of `connection` at DIRQL on `target`.
fn run_isr(connection: Connection, message: Option<u32>, target: Processor) -> IsrRun {
    let mut queue_default: BOOLEAN = 0;
    let mut target_processors: ULONG = 0;
    let context = CpuContext { processor: target, irql: DEVICE_IRQL };
    cpu::take_observed();
    let claimed = in_phase(Phase::Isr, || {
        cpu::run_as(context, || match (message, connection.message_based) {
            (Some(m), true) => connection.handlers.message_isr.map_or(0, |isr| {
                // SAFETY: the driver's registered message ISR with its interrupt context, at
                // DIRQL on the message's processor, as NDIS calls it; the out parameters live
                // on this frame.
                unsafe {
                    isr(
                        connection.context as _,
                        m,
                        &raw mut queue_default,
                        &raw mut target_processors,
                    )
                }
            }),
            _ => connection.handlers.isr.map_or(0, |isr| {
                // SAFETY: the driver's registered line ISR, as above.
                unsafe {
                    isr(connection.context as _, &raw mut queue_default, &raw mut target_processors)
                }
            }),
        })
    });
    let observed_processor = cpu::take_observed();
    if target_processors != 0 {
        with_state(|s| {
            s.violate(
                rules::ISR_TARGET_PROCESSORS,
                format!("the ISR set *TargetProcessors = {target_processors:#x}"),
            );
        });
    }
    IsrRun {
        processor: target,
        irql: DEVICE_IRQL,
        observed_processor,
        claimed: claimed != 0,
        queued_default_dpc: claimed != 0 && queue_default != 0,
    }
}

/// Runs every queued DPC, in queue order, each at DISPATCH_LEVEL on its processor, again
/// while it reports `MoreNblsPending`; then (ReturnPolicy::AfterDpc) returns the NBLs it
/// indicated.
fn run_dpcs() -> Vec<DpcRun> {
    let mut runs = Vec::new();
    while let Some((dpc, connection, max_nbls)) = with_state(|s| {
        let connection = s.interrupt.filter(|c| !c.deregistered)?;
        let dpc = s.dpcs.pop_front()?;
        let max = s.config.as_ref().map_or(64, |c| c.max_nbls_per_dpc);
        Some((dpc, connection, max))
    }) {
        let context = CpuContext { processor: dpc.processor, irql: DISPATCH_LEVEL };
        let mut passes = 0;
        let mut observed_processor = None;
        loop {
            passes += 1;
            let mut throttle =
                NDIS_RECEIVE_THROTTLE_PARAMETERS { MaxNblsToIndicate: max_nbls, Flags: 0 };
            cpu::take_observed();
            in_phase(Phase::Dpc, || {
                cpu::run_as(context, || {
                    if connection.message_based {
                        if let Some(handler) = connection.handlers.message_dpc {
                            // SAFETY: the driver's registered message DPC with its contexts,
                            // at DISPATCH_LEVEL on the queued processor; the throttle
                            // parameters live on this frame.
                            unsafe {
                                handler(
                                    connection.context as _,
                                    dpc.message,
                                    dpc.context as _,
                                    (&raw mut throttle).cast(),
                                    std::ptr::null_mut(),
                                );
                            }
                        }
                    } else if let Some(handler) = connection.handlers.dpc {
                        // SAFETY: the driver's registered line DPC, as above.
                        unsafe {
                            handler(
                                connection.context as _,
                                dpc.context as _,
                                (&raw mut throttle).cast(),
                                std::ptr::null_mut(),
                            );
                        }
                    }
                });
            });
            // The NBLs the DPC indicated come back once it has returned (and its held-lock
            // check is done), on its processor at DISPATCH_LEVEL.
            cpu::run_as(context, lifecycle::return_after_dpc);
            observed_processor = cpu::take_observed().or(observed_processor);
            // Bit 0 of Flags is MoreNblsPending: NDIS queues the DPC again.
            if throttle.Flags & 1 == 0 || passes >= MAX_DPC_PASSES {
                break;
            }
        }
        runs.push(DpcRun {
            message: dpc.message,
            processor: dpc.processor,
            observed_processor,
            context: dpc.context,
            passes,
        });
    }
    runs
}
