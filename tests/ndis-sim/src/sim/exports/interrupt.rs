//! Interrupts: connecting and disconnecting them, the MSI-X table, DPCs and synchronization.

use std::mem::offset_of;

use vmqnic::interrupt::Processor;
use vmqnic::ndis::{
    self, BOOLEAN, GROUP_AFFINITY, KAFFINITY, MINIPORT_SYNCHRONIZE_INTERRUPT,
    NDIS_CONNECT_LINE_BASED, NDIS_CONNECT_MESSAGE_BASED, NDIS_HANDLE,
    NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS, NDIS_MSIX_CONFIG_PARAMETERS, NDIS_OBJECT_TYPE_DEFAULT,
    NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, NDIS_STATUS, NDIS_STATUS_FAILURE,
    NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_RESOURCES,
    NDIS_STATUS_SUCCESS, NdisMSIXTableConfigSetTableEntry, PVOID, ULONG,
};

use super::{
    check_handle, check_irql, check_registration_first, field, handle_rule, header_matches,
    irql_rule, read_header, read_versioned,
};
use crate::sim::cpu::{self, CpuContext, DEVICE_IRQL, DISPATCH_LEVEL, HIGH_LEVEL, PASSIVE_LEVEL};
use crate::sim::interrupts;
use crate::sim::state::{Connection, InterruptHandlers, Phase, QueuedDpc, in_phase, with_state};
use crate::sim::{GrantKind, interrupt_handle, rules};

/// The required handlers that are NULL: the line-based four always (the grant may be a line),
/// the message four when the driver supports MSI.
fn missing_interrupt_handlers(
    handlers: &InterruptHandlers,
    msi_supported: bool,
) -> Vec<&'static str> {
    let line = [
        ("InterruptHandler", handlers.isr.is_some()),
        ("InterruptDpcHandler", handlers.dpc.is_some()),
        ("DisableInterruptHandler", handlers.disable.is_some()),
        ("EnableInterruptHandler", handlers.enable.is_some()),
    ];
    let message = [
        ("MessageInterruptHandler", handlers.message_isr.is_some()),
        ("MessageInterruptDpcHandler", handlers.message_dpc.is_some()),
        ("DisableMessageInterruptHandler", handlers.message_disable.is_some()),
        ("EnableMessageInterruptHandler", handlers.message_enable.is_some()),
    ];
    let message: &[(&'static str, bool)] = if msi_supported { &message } else { &[] };
    line.iter().chain(message).filter(|(_, present)| !present).map(|(name, _)| *name).collect()
}

/// `NdisMRegisterInterruptEx`: connects the driver's handlers to what PnP granted at start,
/// fills `InterruptType` and `MessageInfoTable`, and (as the OS does when it connects the
/// interrupt) programs the device: MSI-X table entry *i* → message *i* for
/// *i* < min(table size, granted), unmasked, MSI-X enabled; or the MSI capability; or INTx.
/// Legal once, in MiniportInitializeEx, after the registration attributes. PASSIVE_LEVEL.
///
/// # Safety
/// `MiniportInterruptCharacteristics` points to writable characteristics of at least
/// `Header.Size` bytes; `NdisInterruptHandle` is writable.
// One export: the checks, the injected fault, the connection and the OS side of it.
#[allow(clippy::too_many_lines)]
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMRegisterInterruptEx(
    MiniportAdapterHandle: NDIS_HANDLE,
    MiniportInterruptContext: NDIS_HANDLE,
    MiniportInterruptCharacteristics: *mut NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
    NdisInterruptHandle: *mut NDIS_HANDLE,
) -> NDIS_STATUS {
    let allowed = with_state(|s| {
        check_irql(s, irql_rule!(NdisMRegisterInterruptEx), PASSIVE_LEVEL);
        if !check_handle(s, handle_rule!(NdisMRegisterInterruptEx), MiniportAdapterHandle) {
            return false;
        }
        check_registration_first(s, "NdisMRegisterInterruptEx");
        let registered = s.interrupt.is_some_and(|c| !c.deregistered);
        if !s.in_phase(Phase::Initialize) || registered {
            s.violate(
                rules::REGISTER_INTERRUPT_WINDOW,
                "NdisMRegisterInterruptEx outside MiniportInitializeEx, or a second time",
            );
            return false;
        }
        true
    });
    if !allowed {
        return NDIS_STATUS_FAILURE;
    }
    if with_state(|s| s.inject("NdisMRegisterInterruptEx", false)) {
        return NDIS_STATUS_RESOURCES;
    }
    if NdisInterruptHandle.is_null() {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: NULL or characteristics starting with their header (caller).
    let Some(header) =
        (unsafe { read_header(MiniportInterruptCharacteristics.cast_const().cast()) })
    else {
        return NDIS_STATUS_INVALID_PARAMETER;
    };
    if !header_matches(header, NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, &[(1, 0x60)]) {
        with_state(|s| {
            s.violate(rules::OBJECT_HEADER_INTERRUPT_CHARACTERISTICS, format!("{header:?}"));
        });
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `Size` (>= 0x60, the whole structure) bytes of characteristics (header); an
    // all-zero value is valid.
    let c: NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS = unsafe {
        read_versioned(
            MiniportInterruptCharacteristics.cast_const().cast(),
            usize::from(header.Size),
        )
    };
    let handlers = InterruptHandlers {
        isr: c.InterruptHandler,
        dpc: c.InterruptDpcHandler,
        disable: c.DisableInterruptHandler,
        enable: c.EnableInterruptHandler,
        message_isr: c.MessageInterruptHandler,
        message_dpc: c.MessageInterruptDpcHandler,
        message_disable: c.DisableMessageInterruptHandler,
        message_enable: c.EnableMessageInterruptHandler,
    };
    let msi_supported = c.MsiSupported != 0;
    let connected = with_state(|s| {
        let missing = missing_interrupt_handlers(&handlers, msi_supported);
        if !missing.is_empty() {
            s.violate(rules::INTERRUPT_CHARACTERISTICS_REQUIRED_HANDLER, missing.join(", "));
            return Err(NDIS_STATUS_INVALID_PARAMETER);
        }
        let Some(grant) = s.grant.clone() else { return Err(NDIS_STATUS_RESOURCES) };
        let message_based = grant.kind != GrantKind::Line;
        // A driver without MSI support cannot use message resources, and the resources hold
        // no line interrupt once messages were granted.
        if message_based && !msi_supported {
            return Err(NDIS_STATUS_FAILURE);
        }
        s.interrupt = Some(Connection {
            context: MiniportInterruptContext as usize,
            handlers,
            message_based,
            deregistered: false,
        });
        s.dpcs.clear();
        let table = if message_based { s.message_info.as_mut_ptr() as usize } else { 0 };
        Ok((grant, table, s.machine()))
    });
    let (grant, message_table, machine) = match connected {
        Ok(connected) => connected,
        Err(status) => return status,
    };
    let interrupt_type =
        if message_table == 0 { NDIS_CONNECT_LINE_BASED } else { NDIS_CONNECT_MESSAGE_BASED };
    // SAFETY: the characteristics are writable (caller) and at least 0x60 bytes (checked), so
    // both out fields are inside them.
    unsafe {
        field::<_, u32>(
            MiniportInterruptCharacteristics,
            offset_of!(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS, InterruptType),
        )
        .write_unaligned(interrupt_type);
    };
    // SAFETY: as above.
    unsafe {
        field::<_, usize>(
            MiniportInterruptCharacteristics,
            offset_of!(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS, MessageInfoTable),
        )
        .write_unaligned(message_table);
    };
    // SAFETY: checked non-null above; the driver passes a writable handle location.
    unsafe { NdisInterruptHandle.write(interrupt_handle() as NDIS_HANDLE) };
    if let Some(machine) = machine
        && let Err(e) = interrupts::connect(&machine, &grant)
    {
        with_state(|s| s.interrupt = None);
        panic!("the simulated OS could not program the device's interrupts: {e}");
    }
    with_state(|s| s.msix_table_connect(&grant));
    NDIS_STATUS_SUCCESS
}
const _: ndis::sig::NdisMRegisterInterruptEx = NdisMRegisterInterruptEx;

/// `NdisMDeregisterInterruptEx`: disconnects the handlers; the OS masks the device's messages
/// (or disables INTx). PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisMDeregisterInterruptEx(NdisInterruptHandle: NDIS_HANDLE) {
    let disconnected = with_state(|s| {
        check_irql(s, irql_rule!(NdisMDeregisterInterruptEx), PASSIVE_LEVEL);
        match &mut s.interrupt {
            Some(connection)
                if NdisInterruptHandle as usize == interrupt_handle()
                    && !connection.deregistered =>
            {
                connection.deregistered = true;
                s.dpcs.clear();
                Some((s.machine(), s.grant.clone()))
            }
            _ => {
                s.violate(
                    rules::DEREGISTER_INTERRUPT_UNKNOWN,
                    format!("{NdisInterruptHandle:?} is not a registered interrupt"),
                );
                None
            }
        }
    });
    if let Some((Some(machine), Some(grant))) = disconnected
        && let Err(e) = interrupts::disconnect(&machine, &grant)
    {
        panic!("the simulated OS could not disconnect the device's interrupts: {e}");
    }
}
const _: ndis::sig::NdisMDeregisterInterruptEx = NdisMDeregisterInterruptEx;

/// `NdisMConfigMSIXTableEntry`: programs the MSI-X table (the simulated OS's copy and the
/// device's real one). Legal only between MiniportInitializeEx and the return of
/// MiniportHaltEx, for an entry of the table and (for SetTableEntry) a granted message.
/// SetTableEntry at IRQL <= DISPATCH_LEVEL, Mask/Unmask at any IRQL. With an MSI or line
/// grant there is no table to configure: NDIS_STATUS_NOT_SUPPORTED.
///
/// # Safety
/// `MSIXConfigParameters` points to a valid `NDIS_MSIX_CONFIG_PARAMETERS`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMConfigMSIXTableEntry(
    NdisMiniportHandle: NDIS_HANDLE,
    MSIXConfigParameters: *mut NDIS_MSIX_CONFIG_PARAMETERS,
) -> NDIS_STATUS {
    if MSIXConfigParameters.is_null() {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the caller passes a valid parameter structure.
    let p = unsafe { MSIXConfigParameters.read_unaligned() };
    let outcome = with_state(|s| {
        if p.ConfigOperation == NdisMSIXTableConfigSetTableEntry {
            check_irql(s, irql_rule!(NdisMConfigMSIXTableEntry), DISPATCH_LEVEL);
        }
        if !check_handle(s, handle_rule!(NdisMConfigMSIXTableEntry), NdisMiniportHandle) {
            return (NDIS_STATUS_INVALID_PARAMETER, None);
        }
        let (status, apply) = if !header_matches(p.Header, NDIS_OBJECT_TYPE_DEFAULT, &[(1, 0x10)]) {
            s.violate(rules::OBJECT_HEADER_MSIX_CONFIG_PARAMETERS, format!("{:?}", p.Header));
            (NDIS_STATUS_INVALID_PARAMETER, None)
        } else if !s.msix_config_allowed {
            s.violate(
                rules::CONFIG_MSIX_WINDOW,
                "called outside MiniportInitializeEx..MiniportHaltEx",
            );
            (NDIS_STATUS_FAILURE, None)
        } else if s.grant.as_ref().is_some_and(|g| g.kind != GrantKind::MsiX) {
            (NDIS_STATUS_NOT_SUPPORTED, None)
        } else {
            s.msix_table_operation(p.ConfigOperation, p.TableEntry, p.MessageNumber)
        };
        s.msix_calls.push((p.ConfigOperation, p.TableEntry, p.MessageNumber, status));
        (status, apply.map(|a| (a, s.machine(), s.grant.clone())))
    });
    if let (_, Some((operation, Some(machine), Some(grant)))) = &outcome
        && let Err(e) = interrupts::apply_table_operation(machine, grant, *operation)
    {
        panic!("the simulated OS could not program the MSI-X table: {e}");
    }
    outcome.0
}
const _: ndis::sig::NdisMConfigMSIXTableEntry = NdisMConfigMSIXTableEntry;

/// `NdisMQueueDpcEx`: queues the message's DPC on each processor of `TargetProcessors` that
/// exists and does not already have it queued (an interrupt/processor pair has one DPC
/// object); returns those processors. The DPCs run when the ISR that queued them returns (or
/// at the next [`Sim::run_queued_dpcs`](crate::sim::Sim::run_queued_dpcs)). Any IRQL.
///
/// # Safety
/// `TargetProcessors` points to a valid `GROUP_AFFINITY`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMQueueDpcEx(
    NdisInterruptHandle: NDIS_HANDLE,
    MessageId: ULONG,
    TargetProcessors: *mut GROUP_AFFINITY,
    MiniportDpcContext: PVOID,
) -> KAFFINITY {
    if TargetProcessors.is_null() {
        return 0;
    }
    // SAFETY: the caller passes a valid GROUP_AFFINITY.
    let affinity = unsafe { TargetProcessors.read_unaligned() };
    with_state(|s| {
        let granted = s.grant.as_ref().map_or(0, |g| g.messages.len());
        let valid = NdisInterruptHandle as usize == interrupt_handle()
            && s.interrupt.is_some_and(|c| !c.deregistered)
            && (usize::try_from(MessageId).unwrap_or(usize::MAX) < granted
                || (granted == 0 && MessageId == 0));
        if !valid {
            s.violate(
                rules::QUEUE_DPC_INVALID,
                format!("handle {NdisInterruptHandle:?}, message {MessageId}"),
            );
            return 0;
        }
        let processors = s.config.as_ref().map(|c| c.processors.clone()).unwrap_or_default();
        let mut queued: KAFFINITY = 0;
        for number in 0..64u8 {
            if affinity.Mask & (1usize << number) == 0 {
                continue;
            }
            let processor = Processor { group: affinity.Group, number };
            if !processors.iter().any(|p| p.processor == processor) {
                continue;
            }
            if s.dpcs.iter().any(|d| d.message == MessageId && d.processor == processor) {
                continue;
            }
            s.dpcs.push_back(QueuedDpc {
                message: MessageId,
                processor,
                context: MiniportDpcContext as usize,
            });
            queued |= 1usize << number;
        }
        queued
    })
}
const _: ndis::sig::NdisMQueueDpcEx = NdisMQueueDpcEx;

/// `NdisMSynchronizeWithInterruptEx`: runs `SynchronizeFunction` at the interrupt's DIRQL on
/// the calling processor and returns its result. Never after NdisMDeregisterInterruptEx
/// (then the function is not called and FALSE comes back). IRQL <= DIRQL.
///
/// # Safety
/// `SynchronizeFunction` is a valid function that may be called with `SynchronizeContext`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMSynchronizeWithInterruptEx(
    NdisInterruptHandle: NDIS_HANDLE,
    MessageId: ULONG,
    SynchronizeFunction: MINIPORT_SYNCHRONIZE_INTERRUPT,
    SynchronizeContext: PVOID,
) -> BOOLEAN {
    let allowed = with_state(|s| {
        check_irql(s, irql_rule!(NdisMSynchronizeWithInterruptEx), DEVICE_IRQL);
        match s.interrupt {
            Some(c) if NdisInterruptHandle as usize == interrupt_handle() && !c.deregistered => {
                true
            }
            Some(c) if c.deregistered => {
                s.violate(
                    rules::SYNCHRONIZE_AFTER_DEREGISTER,
                    format!("message {MessageId}: the interrupt was deregistered"),
                );
                false
            }
            _ => {
                s.violate(
                    handle_rule!(NdisMSynchronizeWithInterruptEx),
                    format!("{NdisInterruptHandle:?} is not a registered interrupt"),
                );
                false
            }
        }
    });
    if !allowed {
        return 0;
    }
    let here = cpu::current();
    let context =
        CpuContext { processor: here.processor, irql: DEVICE_IRQL.max(here.irql).min(HIGH_LEVEL) };
    in_phase(Phase::Synchronize, || {
        // SAFETY: the driver's function with its context (caller), run at DIRQL as NDIS runs
        // it (here while holding no lock: the simulator delivers interrupts on this thread,
        // so nothing can run concurrently with it).
        cpu::run_as(context, || unsafe { SynchronizeFunction(SynchronizeContext) })
    })
}
const _: ndis::sig::NdisMSynchronizeWithInterruptEx = NdisMSynchronizeWithInterruptEx;
