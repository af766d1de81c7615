//! The device's bus side: configuration space, mapping its memory BARs, and register access.

use vmqnic::ndis::{
    self, NDIS_HANDLE, NDIS_STATUS, NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_RESOURCES,
    NDIS_STATUS_SUCCESS, PCI_WHICHSPACE_CONFIG, PHYSICAL_ADDRESS, PVOID, ULONG,
};

use super::{
    NDIS_STATUS_RESOURCE_CONFLICT, check_handle, check_irql, check_registration_first, handle_rule,
    irql_rule,
};
use crate::sim::cpu::{DISPATCH_LEVEL, PASSIVE_LEVEL};
use crate::sim::machine::BarSpace;
use crate::sim::mmio::{self, IoMapping};
use crate::sim::rules;
use crate::sim::state::with_state;

/// What a register read returns when nothing answers (PCI master abort).
const ALL_ONES: u32 = u32::MAX;

/// `NdisMGetBusData`: reads the device's PCI configuration space (live from QEMU, or the
/// configured bytes without a device); returns the bytes read. IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `Buffer` holds `Length` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMGetBusData(
    NdisMiniportHandle: NDIS_HANDLE,
    WhichSpace: ULONG,
    Offset: ULONG,
    Buffer: PVOID,
    Length: ULONG,
) -> ULONG {
    let machine = with_state(|s| {
        check_irql(s, irql_rule!(NdisMGetBusData), DISPATCH_LEVEL);
        if !check_handle(s, handle_rule!(NdisMGetBusData), NdisMiniportHandle)
            || WhichSpace != PCI_WHICHSPACE_CONFIG
        {
            return None;
        }
        s.machine()
    });
    let Some(mut config) = machine.and_then(|m| m.config_space().ok()) else { return 0 };
    if with_state(|s| s.surprise_removed) {
        // A device that is gone answers configuration reads with all-ones.
        config.fill(0xFF);
    }
    let start = usize::try_from(Offset).unwrap_or(usize::MAX).min(config.len());
    let end = start.saturating_add(usize::try_from(Length).unwrap_or(usize::MAX)).min(config.len());
    let bytes = &config[start..end];
    if !Buffer.is_null() {
        // SAFETY: the caller's buffer holds `Length >= bytes.len()` writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), Buffer.cast::<u8>(), bytes.len()) };
    }
    u32::try_from(bytes.len()).unwrap_or(0)
}
const _: ndis::sig::NdisMGetBusData = NdisMGetBusData;

/// `NdisMMapIoSpace`: maps a range of one of the device's memory BARs. The address returned
/// lies in a `PROT_NONE` reservation: registers are reachable only through
/// READ_REGISTER_ULONG / WRITE_REGISTER_ULONG. PASSIVE_LEVEL.
///
/// # Safety
/// `VirtualAddress` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMMapIoSpace(
    VirtualAddress: *mut PVOID,
    MiniportAdapterHandle: NDIS_HANDLE,
    PhysicalAddress: PHYSICAL_ADDRESS,
    Length: ULONG,
) -> NDIS_STATUS {
    if VirtualAddress.is_null() || Length == 0 {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    let bar = with_state(|s| {
        check_irql(s, irql_rule!(NdisMMapIoSpace), PASSIVE_LEVEL);
        if !check_handle(s, handle_rule!(NdisMMapIoSpace), MiniportAdapterHandle) {
            return Err(NDIS_STATUS_INVALID_PARAMETER);
        }
        check_registration_first(s, "NdisMMapIoSpace");
        let physical = u64::try_from(PhysicalAddress).unwrap_or(u64::MAX);
        s.bars
            .iter()
            .find(|b| b.space == BarSpace::Memory && b.contains(physical, u64::from(Length)))
            .copied()
            .ok_or_else(|| {
                s.violate(
                    rules::MAP_IO_SPACE_NOT_A_RESOURCE,
                    format!(
                        "{PhysicalAddress:#x}+{Length:#x} is in none of the device's memory BARs"
                    ),
                );
                NDIS_STATUS_RESOURCE_CONFLICT
            })
    });
    let bar = match bar {
        Ok(bar) => bar,
        Err(status) => return status,
    };
    if with_state(|s| s.inject("NdisMMapIoSpace", false)) {
        return NDIS_STATUS_RESOURCES;
    }
    let Some((address, reserved)) = mmio::reserve(Length) else { return NDIS_STATUS_RESOURCES };
    with_state(|s| {
        s.mappings.push(IoMapping {
            virtual_address: address,
            length: Length,
            reserved,
            physical_address: u64::try_from(PhysicalAddress).unwrap_or(0),
            bar,
            reads: 0,
            writes: 0,
        });
    });
    // SAFETY: checked non-null; the driver passes a writable pointer location.
    unsafe { VirtualAddress.write(address as PVOID) };
    NDIS_STATUS_SUCCESS
}
const _: ndis::sig::NdisMMapIoSpace = NdisMMapIoSpace;

/// `NdisMUnmapIoSpace`: releases a mapping (same address and length as mapped).
/// PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisMUnmapIoSpace(
    MiniportAdapterHandle: NDIS_HANDLE,
    VirtualAddress: PVOID,
    Length: ULONG,
) {
    let released = with_state(|s| {
        check_irql(s, irql_rule!(NdisMUnmapIoSpace), PASSIVE_LEVEL);
        check_handle(s, handle_rule!(NdisMUnmapIoSpace), MiniportAdapterHandle);
        let index = s
            .mappings
            .iter()
            .position(|m| m.virtual_address == VirtualAddress as usize && m.length == Length);
        if let Some(index) = index {
            Some(s.mappings.remove(index))
        } else {
            s.violate(
                rules::UNMAP_IO_SPACE_UNKNOWN,
                format!("{VirtualAddress:?}+{Length:#x} is not a live mapping"),
            );
            None
        }
    });
    if let Some(mapping) = released {
        mmio::release(mapping.virtual_address, mapping.reserved);
    }
}
const _: ndis::sig::NdisMUnmapIoSpace = NdisMUnmapIoSpace;

/// The bus address a register access at `address` goes to, counting it; `None` (and a
/// violation) for an unaligned access or one outside every mapping.
fn translate(
    address: usize,
    write: bool,
) -> Option<(u64, Option<std::sync::Arc<crate::sim::machine::Machine>>)> {
    with_state(|s| {
        if !address.is_multiple_of(4) {
            s.violate(rules::REGISTER_ACCESS_UNALIGNED, format!("register access at {address:#x}"));
            return None;
        }
        let Some(mapping) = s.mappings.iter_mut().find(|m| m.translate(address).is_some()) else {
            s.violate(
                rules::REGISTER_ACCESS_UNMAPPED,
                format!("register access at {address:#x}, outside every NdisMMapIoSpace mapping"),
            );
            return None;
        };
        let bus = mapping.translate(address)?;
        let counts = s.register_counts.entry(bus - mapping.physical_address).or_default();
        if write {
            counts.1 += 1;
        } else {
            counts.0 += 1;
        }
        if write {
            mapping.writes += 1;
            s.register_writes += 1;
            if s.msix_structures.iter().any(|&(start, end)| (start..end).contains(&bus)) {
                s.violate(
                    rules::REGISTER_ACCESS_MSIX_TABLE,
                    format!("write to {bus:#x}, in the MSI-X table or PBA the OS owns"),
                );
            }
        } else {
            mapping.reads += 1;
            s.register_reads += 1;
        }
        Some((bus, s.machine()))
    })
}

/// `READ_REGISTER_ULONG` (Linux only; on Windows it is an inline volatile read): translates an
/// address NdisMMapIoSpace returned to the BAR and reads the device register over qtest.
/// Outside every mapping, and without a device, it reads all-ones (a master abort). Any IRQL.
///
/// # Safety
/// None beyond the C contract: the address is only translated, never dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn READ_REGISTER_ULONG(Register: *const ULONG) -> ULONG {
    let Some((bus, Some(machine))) = translate(Register as usize, false) else { return ALL_ONES };
    if crate::sim::faults::device_gone(&machine) {
        return ALL_ONES;
    }
    match machine.igb() {
        Some(igb) => igb.qemu().qtest().readl(bus).unwrap_or(ALL_ONES),
        None => ALL_ONES,
    }
}
const _: ndis::sig::READ_REGISTER_ULONG = READ_REGISTER_ULONG;

/// `WRITE_REGISTER_ULONG` (Linux only): as [`READ_REGISTER_ULONG`], for writes. A write into
/// the MSI-X table or PBA is forwarded (as the hardware would take it) and is a violation.
/// Any IRQL.
///
/// # Safety
/// None beyond the C contract: the address is only translated, never dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn WRITE_REGISTER_ULONG(Register: *mut ULONG, Value: ULONG) {
    let Some((bus, Some(machine))) = translate(Register as usize, true) else { return };
    if crate::sim::faults::device_gone(&machine) {
        return;
    }
    if let Some(igb) = machine.igb() {
        // A failed qtest write means QEMU is gone; the next read shows all-ones.
        let _ = igb.qemu().qtest().writel(bus, Value);
    }
}
const _: ndis::sig::WRITE_REGISTER_ULONG = WRITE_REGISTER_ULONG;
