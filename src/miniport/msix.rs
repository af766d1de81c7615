//! Applying MSI-X decisions through NDIS: reading the MSI-X capability (table size, enable bit)
//! from PCI configuration space, and performing the table-entry operations
//! [`crate::interrupt`] decides with NdisMConfigMSIXTableEntry.

use crate::interrupt::MsixOp;
use crate::interrupt::pci::{MsixCapability, PCI_CONFIG_SPACE_SIZE, msix_capability};
use crate::ndis::{
    NDIS_HANDLE, NDIS_MSIX_CONFIG_PARAMETERS, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT,
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
