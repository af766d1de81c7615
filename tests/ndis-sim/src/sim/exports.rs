//! The ndis.sys functions the driver imports, implemented with NDIS's documented semantics and
//! exported under their C names. Each export is assigned to a constant of the driver's own
//! import type (`vmqnic::ndis::sig`), so a signature that drifts from the driver's declaration
//! is a compile error here rather than stack corruption at run time.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ffi::c_void;
use std::mem::{offset_of, size_of};

use vmqnic::ndis::{
    self, NDIS_HANDLE, NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
    NDIS_MSIX_CONFIG_PARAMETERS, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT,
    NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
    NDIS_OBJECT_TYPE_RSS_PROCESSOR_INFO, NDIS_RSS_PROCESSOR, NDIS_RSS_PROCESSOR_INFO, NDIS_STATUS,
    NDIS_STATUS_BUFFER_TOO_SHORT, NDIS_STATUS_FAILURE, NDIS_STATUS_INVALID_PARAMETER,
    NDIS_STATUS_SUCCESS, PROCESSOR_NUMBER, PVOID, SIZE_T, ULONG,
};

use super::{Allocation, Owner, TableEntry, with_state};

/// Alignment of simulated pool blocks (x64 pool allocations are 16-byte aligned).
const POOL_ALIGNMENT: usize = 16;

fn pool_layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.max(1), POOL_ALIGNMENT).ok()
}

/// Allocates a zeroed pool block and records it.
pub(crate) fn allocate_block(size: usize, tag: u32, owner: Owner) -> *mut c_void {
    let Some(layout) = pool_layout(size) else { return std::ptr::null_mut() };
    // SAFETY: the layout has a non-zero size (at least 1) and a power-of-two alignment.
    let block = unsafe { alloc_zeroed(layout) };
    if !block.is_null() {
        with_state(|s| s.allocations.insert(block as usize, Allocation { size, tag, owner }));
    }
    block.cast()
}

/// Returns a block to the system allocator (the caller has already removed its record).
pub(crate) fn release_block(address: usize, size: usize) {
    if let Some(layout) = pool_layout(size) {
        // SAFETY: `address` was returned by `alloc_zeroed` with this same layout (the size is
        // the recorded one) and its record was removed, so it is released exactly once.
        unsafe { dealloc(address as *mut u8, layout) };
    }
}

fn check_handle(s: &mut super::SimState, function: &'static str, handle: NDIS_HANDLE) -> bool {
    if handle as usize == s.miniport_handle && s.miniport_handle != 0 {
        true
    } else {
        s.violate(function, format!("called with {handle:?}, not the miniport adapter handle"));
        false
    }
}

/// `NdisAllocateMemoryWithTagPriority`: a zeroed, 16-byte aligned block; the tag must not be 0
/// (DDI rule NdisAllocateMemoryWithTagPriority).
#[unsafe(no_mangle)]
pub extern "system" fn NdisAllocateMemoryWithTagPriority(
    NdisHandle: NDIS_HANDLE,
    Length: ULONG,
    Tag: ULONG,
    _Priority: i32,
) -> PVOID {
    let fail = with_state(|s| {
        let mut fail = !check_handle(s, "NdisAllocateMemoryWithTagPriority.Handle", NdisHandle);
        if Tag == 0 {
            s.violate("NdisAllocateMemoryWithTagPriority.NonZeroTag", "pool tag 0");
        }
        if Length == 0 {
            s.violate("NdisAllocateMemoryWithTagPriority.Length", "zero-length allocation");
            fail = true;
        }
        fail
    });
    if fail {
        return std::ptr::null_mut();
    }
    allocate_block(usize::try_from(Length).unwrap_or(usize::MAX), Tag, Owner::Driver)
}
const _: ndis::sig::NdisAllocateMemoryWithTagPriority = NdisAllocateMemoryWithTagPriority;

/// `NdisFreeMemory`: frees a block from NdisAllocateMemoryWithTagPriority (or a requirements
/// list the PnP manager handed to the driver to replace). Unknown addresses and double frees
/// are violations and are not freed.
#[unsafe(no_mangle)]
pub extern "system" fn NdisFreeMemory(VirtualAddress: PVOID, Length: ULONG, MemoryFlags: ULONG) {
    let freed = with_state(|s| {
        if Length != 0 || MemoryFlags != 0 {
            s.violate(
                "NdisFreeMemory.Arguments",
                format!("Length {Length} / MemoryFlags {MemoryFlags:#x}: both must be 0"),
            );
        }
        let freed = s.allocations.remove(&(VirtualAddress as usize)).map(|a| a.size);
        if freed.is_none() {
            s.violate(
                "NdisFreeMemory.UnknownAddress",
                format!("{VirtualAddress:?} is not a live allocation"),
            );
        }
        freed
    });
    if let Some(size) = freed {
        release_block(VirtualAddress as usize, size);
    }
}
const _: ndis::sig::NdisFreeMemory = NdisFreeMemory;

/// `NdisGetRssProcessorInformation`: the configured RSS set, as ndis.sys lays it out (revision
/// 2 header, the array right after it, 8-byte entries). Too small a buffer gets
/// `NDIS_STATUS_BUFFER_TOO_SHORT` with the size needed.
///
/// # Safety
/// `Size` points to a writable `SIZE_T`; `RssProcessorInfo` is NULL or holds `*Size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisGetRssProcessorInformation(
    NdisHandle: NDIS_HANDLE,
    RssProcessorInfo: *mut NDIS_RSS_PROCESSOR_INFO,
    Size: *mut SIZE_T,
) -> NDIS_STATUS {
    let rss = with_state(|s| {
        s.rss_queries += 1;
        if check_handle(s, "NdisGetRssProcessorInformation.Handle", NdisHandle) {
            s.config.as_ref().map(|c| c.rss.clone())
        } else {
            None
        }
    });
    let Some(rss) = rss else { return NDIS_STATUS_INVALID_PARAMETER };
    if Size.is_null() {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    let header = size_of::<NDIS_RSS_PROCESSOR_INFO>();
    let needed = header + rss.len() * size_of::<NDIS_RSS_PROCESSOR>();
    // SAFETY: the caller passes a valid, writable SIZE_T.
    let capacity = unsafe { Size.read() };
    // SAFETY: as above.
    unsafe { Size.write(needed) };
    if RssProcessorInfo.is_null() || capacity < needed {
        return NDIS_STATUS_BUFFER_TOO_SHORT;
    }
    let mut info = vec![0u8; needed];
    let count = u32::try_from(rss.len()).unwrap_or(u32::MAX);
    let put = |info: &mut [u8], offset: usize, value: &[u8]| {
        info[offset..offset + value.len()].copy_from_slice(value);
    };
    put(
        &mut info,
        offset_of!(NDIS_RSS_PROCESSOR_INFO, Header),
        &[NDIS_OBJECT_TYPE_RSS_PROCESSOR_INFO, 2],
    );
    put(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, Header) + 2, &0x28u16.to_le_bytes());
    put(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, MaxNumRssProcessors), &count.to_le_bytes());
    put(
        &mut info,
        offset_of!(NDIS_RSS_PROCESSOR_INFO, RssProcessorArrayOffset),
        &u32::try_from(header).unwrap().to_le_bytes(),
    );
    put(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, RssProcessorCount), &count.to_le_bytes());
    put(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, RssProcessorEntrySize), &8u32.to_le_bytes());
    for (i, (processor, preference)) in rss.iter().enumerate() {
        let entry = header + i * size_of::<NDIS_RSS_PROCESSOR>();
        let number = entry + offset_of!(NDIS_RSS_PROCESSOR, ProcNum);
        put(
            &mut info,
            number + offset_of!(PROCESSOR_NUMBER, Group),
            &processor.group.to_le_bytes(),
        );
        put(&mut info, number + offset_of!(PROCESSOR_NUMBER, Number), &[processor.number]);
        put(
            &mut info,
            entry + offset_of!(NDIS_RSS_PROCESSOR, PreferenceIndex),
            &preference.to_le_bytes(),
        );
    }
    // SAFETY: the caller's buffer holds `capacity >= needed` writable bytes and does not
    // overlap the local vector.
    unsafe { std::ptr::copy_nonoverlapping(info.as_ptr(), RssProcessorInfo.cast::<u8>(), needed) };
    NDIS_STATUS_SUCCESS
}
const _: ndis::sig::NdisGetRssProcessorInformation = NdisGetRssProcessorInformation;

/// `NdisMSetMiniportAttributes`: checks the object header of the attributes; records the
/// add-device context.
///
/// # Safety
/// `MiniportAttributes` points to an attribute structure that starts with its header.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMSetMiniportAttributes(
    NdisMiniportHandle: NDIS_HANDLE,
    MiniportAttributes: *const NDIS_OBJECT_HEADER,
) -> NDIS_STATUS {
    if !with_state(|s| check_handle(s, "NdisMSetMiniportAttributes.Handle", NdisMiniportHandle))
        || MiniportAttributes.is_null()
    {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: every attribute structure starts with an NDIS_OBJECT_HEADER.
    let header = unsafe { MiniportAttributes.read() };
    match header.Type {
        NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES => {
            if header.Revision != 1 || usize::from(header.Size) < 0x14 {
                with_state(|s| {
                    s.violate(
                        "ObjectHeader.AddDeviceRegistrationAttributes",
                        format!("{header:?}"),
                    );
                });
                return NDIS_STATUS_INVALID_PARAMETER;
            }
            // SAFETY: the header says this is the add-device registration attributes.
            let attributes = unsafe {
                MiniportAttributes
                    .cast::<NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES>()
                    .read_unaligned()
            };
            with_state(|s| {
                s.add_device_context = Some(attributes.MiniportAddDeviceContext as usize);
            });
            NDIS_STATUS_SUCCESS
        }
        other => {
            with_state(|s| {
                s.violate(
                    "NdisMSetMiniportAttributes.Type",
                    format!("unexpected attributes type {other:#x}"),
                );
            });
            NDIS_STATUS_INVALID_PARAMETER
        }
    }
}
const _: ndis::sig::NdisMSetMiniportAttributes = NdisMSetMiniportAttributes;

/// `NdisMConfigMSIXTableEntry`: programs the simulated MSI-X table. Legal only between
/// MiniportInitializeEx and the return of MiniportHaltEx, for an entry of the table and (for
/// SetTableEntry) a granted message.
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
    let p = unsafe { MSIXConfigParameters.read() };
    with_state(|s| {
        if !check_handle(s, "NdisMConfigMSIXTableEntry.Handle", NdisMiniportHandle) {
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        let status = if p.Header.Type != NDIS_OBJECT_TYPE_DEFAULT
            || p.Header.Revision != 1
            || p.Header.Size < 0x10
        {
            s.violate("ObjectHeader.MsixConfigParameters", format!("{:?}", p.Header));
            NDIS_STATUS_INVALID_PARAMETER
        } else if !s.msix_config_allowed {
            s.violate(
                "NdisMConfigMSIXTableEntry.Window",
                "called outside MiniportInitializeEx..MiniportHaltEx",
            );
            NDIS_STATUS_FAILURE
        } else {
            let granted = s.granted_messages;
            match (
                usize::try_from(p.TableEntry).ok().and_then(|e| s.msix_table.get_mut(e)),
                p.ConfigOperation,
            ) {
                (Some(entry), ndis::NdisMSIXTableConfigSetTableEntry)
                    if p.MessageNumber < granted =>
                {
                    entry.message = Some(p.MessageNumber);
                    NDIS_STATUS_SUCCESS
                }
                (Some(entry), ndis::NdisMSIXTableConfigMaskTableEntry) => {
                    entry.masked = true;
                    NDIS_STATUS_SUCCESS
                }
                (Some(entry), ndis::NdisMSIXTableConfigUnmaskTableEntry) => {
                    entry.masked = false;
                    NDIS_STATUS_SUCCESS
                }
                // No such entry, an operation NDIS does not define, or an ungranted message.
                _ => NDIS_STATUS_INVALID_PARAMETER,
            }
        };
        s.msix_calls.push((p.ConfigOperation, p.TableEntry, p.MessageNumber, status));
        status
    })
}
const _: ndis::sig::NdisMConfigMSIXTableEntry = NdisMConfigMSIXTableEntry;

/// `NdisMGetBusData`: reads the configured PCI configuration space; returns the bytes read.
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
    let config = with_state(|s| {
        if !check_handle(s, "NdisMGetBusData.Handle", NdisMiniportHandle)
            || WhichSpace != ndis::PCI_WHICHSPACE_CONFIG
        {
            return None;
        }
        s.config.as_ref().map(|c| c.pci_config.clone())
    });
    let Some(config) = config else { return 0 };
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

/// The table entries in use as the simulated OS sees them (entry → message, unmasked).
#[must_use]
pub fn live_entries(table: &[TableEntry]) -> Vec<(u32, u32)> {
    table
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.masked)
        .filter_map(|(i, e)| Some((u32::try_from(i).ok()?, e.message?)))
        .collect()
}
