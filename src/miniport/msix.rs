//! Interrupts at Initialize and run time, through NDIS: reading the MSI-X capability (table
//! size, enable bit) from PCI configuration space, turning the granted resources into the
//! interrupt plan, and performing the table-entry operations [`crate::interrupt`] decides with
//! NdisMConfigMSIXTableEntry.

use crate::interrupt::MsixOp;
use crate::interrupt::grant::parse_grant;
use crate::interrupt::pci::{MsixCapability, PCI_CONFIG_SPACE_SIZE, msix_capability};
use crate::interrupt::plan::{InterruptPlan, plan_interrupts, unreadable_grant_plan};
use crate::ndis::{
    CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE, CM_PARTIAL_RESOURCE_LIST,
    IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE, IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE,
    NDIS_CONNECT_MESSAGE_BASED, NDIS_HANDLE, NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
    NDIS_MSIX_CONFIG_PARAMETERS, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT,
    NDIS_SIZEOF_MSIX_CONFIG_PARAMETERS_REVISION_1, NDIS_STATUS, NDIS_STATUS_SUCCESS,
    NDIS_VMQ_SMALL_STRUCTURES_REVISION_1, NdisMConfigMSIXTableEntry, NdisMGetBusData,
    NdisMSIXTableConfigMaskTableEntry, NdisMSIXTableConfigSetTableEntry,
    NdisMSIXTableConfigUnmaskTableEntry, PCI_WHICHSPACE_CONFIG,
};

/// Reads the device's MSI-X capability from PCI configuration space; `None` if the device has
/// none (or the read came back short).
///
/// # Safety
/// `miniport_handle` is the handle MiniportInitializeEx received; PASSIVE_LEVEL.
#[must_use]
pub unsafe fn read_msix_capability(miniport_handle: NDIS_HANDLE) -> Option<MsixCapability> {
    let mut config = [0u8; PCI_CONFIG_SPACE_SIZE];
    let length = u32::try_from(config.len()).ok()?;
    // SAFETY: `config` is a writable buffer of `length` bytes on this stack frame.
    let read = unsafe {
        NdisMGetBusData(
            miniport_handle,
            PCI_WHICHSPACE_CONFIG,
            0,
            config.as_mut_ptr().cast(),
            length,
        )
    };
    let read = usize::try_from(read).ok()?.min(config.len());
    msix_capability(config.get(..read)?)
}

/// The `NDIS_MSIX_CONFIG_PARAMETERS` for one operation.
#[must_use]
pub fn config_parameters(op: MsixOp) -> NDIS_MSIX_CONFIG_PARAMETERS {
    let (operation, entry, message) = match op {
        MsixOp::SetTableEntry { entry, message } => {
            (NdisMSIXTableConfigSetTableEntry, entry, message)
        }
        MsixOp::Mask { entry } => (NdisMSIXTableConfigMaskTableEntry, entry, 0),
        MsixOp::Unmask { entry } => (NdisMSIXTableConfigUnmaskTableEntry, entry, 0),
    };
    NDIS_MSIX_CONFIG_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_DEFAULT,
            NDIS_VMQ_SMALL_STRUCTURES_REVISION_1,
            NDIS_SIZEOF_MSIX_CONFIG_PARAMETERS_REVISION_1,
        ),
        ConfigOperation: operation,
        TableEntry: entry,
        MessageNumber: message,
    }
}

/// Performs `ops` in order with NdisMConfigMSIXTableEntry, stopping at the first failure.
///
/// # Errors
/// The failing operation and the status NDIS returned. Operations before it took effect.
///
/// # Safety
/// `miniport_handle` is the adapter's handle, between MiniportInitializeEx and the return of
/// MiniportHaltEx; IRQL <= DISPATCH_LEVEL when `ops` contains a `SetTableEntry`.
pub unsafe fn apply_msix_ops(
    miniport_handle: NDIS_HANDLE,
    ops: &[MsixOp],
) -> Result<(), (MsixOp, NDIS_STATUS)> {
    for op in ops {
        let mut parameters = config_parameters(*op);
        // SAFETY: `parameters` is a valid, initialized structure on this stack frame for the
        // duration of the call; the caller guarantees the handle and the IRQL.
        let status = unsafe { NdisMConfigMSIXTableEntry(miniport_handle, &raw mut parameters) };
        if status != NDIS_STATUS_SUCCESS {
            return Err((*op, status));
        }
    }
    Ok(())
}

/// Largest `IO_INTERRUPT_MESSAGE_INFO` entry count the driver reads: Windows grants at most
/// 2048 messages per function.
const MAX_GRANTED_MESSAGES: usize = crate::interrupt::MAX_MESSAGES_PER_FUNCTION;
/// Largest translated resource list the driver reads (descriptors): the messages plus a few
/// memory, port and line descriptors.
const MAX_RESOURCE_DESCRIPTORS: usize = MAX_GRANTED_MESSAGES + 64;

/// The interrupt plan for what PnP granted, read in MiniportInitializeEx after
/// NdisMRegisterInterruptEx succeeded.
///
/// * `resources`: `InitParameters->AllocatedResources` (translated).
/// * `interrupt`: the characteristics NdisMRegisterInterruptEx filled (`InterruptType`,
///   `MessageInfoTable`).
/// * `hardware_queues`: VM queues the NIC has besides the default queue.
///
/// A grant that cannot be parsed yields [`unreadable_grant_plan`]: one vector for everything
/// and VMQ off, so Initialize still succeeds (the docs require working on any grant).
///
/// # Safety
/// `miniport_handle` is the adapter's handle; `resources` is NULL or NDIS's resource list and
/// `interrupt.MessageInfoTable` NULL or the system's message table, both valid for the call.
pub unsafe fn interrupt_plan(
    miniport_handle: NDIS_HANDLE,
    resources: *const CM_PARTIAL_RESOURCE_LIST,
    interrupt: &NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
    hardware_queues: u32,
) -> InterruptPlan {
    // SAFETY: the caller guarantees the handle; PASSIVE_LEVEL in MiniportInitializeEx.
    let capability = unsafe { read_msix_capability(miniport_handle) };
    let message_based = interrupt.InterruptType == NDIS_CONNECT_MESSAGE_BASED;
    // SAFETY: the caller guarantees `resources` is NULL or a valid list.
    let Some(resource_bytes) = (unsafe {
        counted_bytes(
            resources.cast(),
            4,
            8,
            CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE,
            MAX_RESOURCE_DESCRIPTORS,
        )
    }) else {
        return unreadable_grant_plan(message_based);
    };
    let message_info = if message_based {
        // SAFETY: the caller guarantees MessageInfoTable is NULL or the system's table.
        let info = unsafe {
            counted_bytes(
                interrupt.MessageInfoTable.cast_const().cast(),
                4,
                IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE,
                IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE,
                MAX_GRANTED_MESSAGES,
            )
        };
        match info {
            Some(info) => Some(info),
            None => return unreadable_grant_plan(message_based),
        }
    } else {
        None
    };
    match parse_grant(
        interrupt.InterruptType,
        resource_bytes,
        message_info,
        capability.map(|c| c.enabled),
    ) {
        Ok(grant) => plan_interrupts(&grant, capability.map(|c| c.table_size), hardware_queues),
        Err(_) => unreadable_grant_plan(message_based),
    }
}

/// The bytes of a system structure made of a header holding a `u32` element count at
/// `count_offset`, followed by that many `element_size`-byte elements after `header_size`
/// bytes. `None` for NULL or more than `max_elements` elements.
///
/// # Safety
/// `base` is NULL or points to such a structure, valid and unchanged for `'a`.
pub(crate) unsafe fn counted_bytes<'a>(
    base: *const u8,
    count_offset: usize,
    header_size: usize,
    element_size: usize,
    max_elements: usize,
) -> Option<&'a [u8]> {
    if base.is_null() {
        return None;
    }
    // `wrapping_add` computes the address without claiming it is in bounds; the read below is
    // where the caller's guarantee is used.
    let count_field = base.wrapping_add(count_offset).cast::<[u8; 4]>();
    // SAFETY: the header (which holds the count) is part of the structure the caller vouches
    // for; a byte array has no alignment requirement.
    let count = u32::from_le_bytes(unsafe { count_field.read() });
    let count = usize::try_from(count).ok().filter(|c| *c <= max_elements)?;
    let length = header_size.checked_add(count.checked_mul(element_size)?)?;
    // SAFETY: a structure with `count` elements spans exactly `length` bytes from `base`.
    Some(unsafe { core::slice::from_raw_parts(base, length) })
}
