//! The PnP manager's side of the driver's PnP handlers: it builds the IRP for
//! IRP_MN_FILTER_RESOURCE_REQUIREMENTS around a requirements list the way the PCI bus driver
//! produces it, calls the driver, checks the memory rules, and hands back the list that would
//! go on to resource assignment.

use std::ffi::c_void;

use vmqnic::ndis::{IRP, MINIPORT_PNP_IRP, NDIS_STATUS};

use super::exports::{allocate_block, release_block};
use super::{Owner, with_state};

/// Pool tag of lists the simulated bus driver allocates ("PnPr").
pub const BUS_LIST_TAG: u32 = u32::from_ne_bytes(*b"PnPr");

/// What came of one IRP_MN_FILTER_RESOURCE_REQUIREMENTS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterOutcome {
    /// What the handler returned.
    pub status: NDIS_STATUS,
    /// The list after the driver's filter (the original bytes if it kept the list).
    pub list: Vec<u8>,
    /// Whether the driver replaced the list.
    pub replaced: bool,
}

/// Sends IRP_MN_FILTER_RESOURCE_REQUIREMENTS with `bus_list` to `handler`.
///
/// Memory rules checked (NET:msi-x-resource-filtering): a replaced list must be a block the
/// driver allocated with NdisAllocateMemoryWithTagPriority, and the old list must have been
/// freed with NdisFreeMemory; a kept list must not have been freed.
///
/// # Safety
/// `handler` is the driver's MiniportFilterResourceRequirements and `context` its add-device
/// context.
pub unsafe fn filter_resource_requirements(
    handler: MINIPORT_PNP_IRP,
    context: *mut c_void,
    bus_list: &[u8],
) -> FilterOutcome {
    let old = allocate_block(bus_list.len(), BUS_LIST_TAG, Owner::PnpManager);
    assert!(!old.is_null(), "simulated pool exhausted");
    // SAFETY: `old` is a fresh block of `bus_list.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(bus_list.as_ptr(), old.cast::<u8>(), bus_list.len()) };
    // SAFETY: an all-zero IRP is a valid value of this plain-data struct.
    let mut irp: IRP = unsafe { std::mem::zeroed() };
    irp.IoStatus.Information = old as usize;
    // SAFETY: the caller passes the driver's handler and context; the IRP lives on this frame.
    let status = unsafe { handler(context, &raw mut irp) };
    let new = irp.IoStatus.Information;
    let replaced = new != old as usize;

    let (list, checks) = with_state(|s| {
        let old_live = s.allocations.contains_key(&(old as usize));
        let mut violations = Vec::new();
        if replaced {
            if old_live {
                violations.push((
                    "FilterResourceRequirements.OldListNotFreed",
                    "the replaced list was not freed".to_owned(),
                ));
            }
            match s.allocations.get_mut(&new) {
                Some(block) if block.owner == Owner::Driver => {
                    // From here on the PnP manager owns (and will free) the new list.
                    block.owner = Owner::PnpManager;
                    let size = block.size;
                    // SAFETY: `new` is a live block of `size` bytes in the simulated pool.
                    let bytes =
                        unsafe { std::slice::from_raw_parts(new as *const u8, size) }.to_vec();
                    (bytes, violations)
                }
                _ => {
                    violations.push((
                        "FilterResourceRequirements.NewListNotFromPool",
                        format!("{new:#x} is not a driver allocation"),
                    ));
                    (Vec::new(), violations)
                }
            }
        } else {
            if !old_live {
                violations.push((
                    "FilterResourceRequirements.KeptListFreed",
                    "the driver freed the list it kept".to_owned(),
                ));
            }
            (bus_list.to_vec(), violations)
        }
    });
    with_state(|s| {
        for (rule, detail) in checks {
            s.violate(rule, detail);
        }
        // The PnP manager frees the surviving list after the IRP completes.
        if let Some(block) = s.allocations.remove(&new) {
            release_block(new, block.size);
        }
    });
    FilterOutcome { status, list, replaced }
}
