//! PnP handlers registered through MiniportSetOptions (`NDIS_MINIPORT_PNP_CHARACTERISTICS`):
//! MiniportAddDevice, MiniportRemoveDevice, MiniportFilterResourceRequirements and
//! MiniportStartDevice. All run at PASSIVE_LEVEL.

use alloc::vec::Vec;
use core::ptr::{self, NonNull};

use super::{pool_allocate, pool_free, tags};
use crate::interrupt::Processor;
use crate::interrupt::requirements::{self, RequirementsList};
use crate::interrupt::rss::parse_rss_processor_info;
use crate::ndis::{
    IO_RESOURCE_REQUIREMENTS_LIST_HEADER_SIZE, IRP, NDIS_HANDLE,
    NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
    NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES_REVISION_1, NDIS_MINIPORT_PNP_CHARACTERISTICS,
    NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1, NDIS_OBJECT_HEADER,
    NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
    NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
    NDIS_SIZEOF_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES_REVISION_1,
    NDIS_SIZEOF_MINIPORT_PNP_CHARACTERISTICS_REVISION_1, NDIS_STATUS, NDIS_STATUS_BUFFER_TOO_SHORT,
    NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS, NdisFreeMemory, NdisGetRssProcessorInformation,
    NdisMSetMiniportAttributes,
};

/// Largest requirements list the driver will read: far above any real one (2048 messages in
/// several alternatives is ~200 KiB), low enough that a corrupted `ListSize` cannot make it
/// read wild memory.
pub const MAX_REQUIREMENTS_LIST_BYTES: usize = 4 << 20;
/// Largest RSS processor-information buffer the driver will accept (the header plus 8 bytes
/// per processor; Windows supports at most a few thousand processors).
pub const MAX_RSS_INFO_BYTES: usize = 1 << 20;

/// What MiniportAddDevice registers as the add-device context: the state that must exist
/// before MiniportInitializeEx (which gets it back in `MiniportAddDeviceContext`).
#[repr(C)]
pub struct AddDeviceContext {
    /// The miniport adapter handle, needed by NdisGetRssProcessorInformation in
    /// FilterResourceRequirements. It is the same handle InitializeEx receives.
    pub miniport_handle: NDIS_HANDLE,
}

/// The PnP characteristics MiniportSetOptions registers. `Size` is the SIZEOF macro (0x2C),
/// not `size_of` (0x30), as ndis.h defines it.
#[must_use]
pub fn pnp_characteristics() -> NDIS_MINIPORT_PNP_CHARACTERISTICS {
    NDIS_MINIPORT_PNP_CHARACTERISTICS {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
            NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
            NDIS_SIZEOF_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
        ),
        MiniportAddDeviceHandler: Some(miniport_add_device),
        MiniportRemoveDeviceHandler: Some(miniport_remove_device),
        MiniportFilterResourceRequirementsHandler: Some(miniport_filter_resource_requirements),
        MiniportStartDeviceHandler: Some(miniport_start_device),
        Flags: 0,
    }
}

/// MiniportAddDevice: allocate the add-device context, remember the miniport handle, and
/// register the context with NDIS.
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with a valid miniport handle.
pub unsafe extern "system" fn miniport_add_device(
    ndis_miniport_handle: NDIS_HANDLE,
    _miniport_driver_context: NDIS_HANDLE,
) -> NDIS_STATUS {
    // SAFETY: NDIS passed a valid miniport handle; PASSIVE_LEVEL.
    let block = unsafe {
        pool_allocate(ndis_miniport_handle, size_of::<AddDeviceContext>(), tags::ADD_DEVICE_CONTEXT)
    };
    let Some(block) = block else { return NDIS_STATUS_RESOURCES };
    let context = block.cast::<AddDeviceContext>().as_ptr();
    // SAFETY: `context` is a fresh, non-null allocation of `size_of::<AddDeviceContext>()`
    // bytes; pool allocations are 16-byte aligned, more than the context's 8.
    unsafe { context.write(AddDeviceContext { miniport_handle: ndis_miniport_handle }) };

    let attributes = NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
            NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES_REVISION_1,
            NDIS_SIZEOF_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES_REVISION_1,
        ),
        MiniportAddDeviceContext: context.cast(),
        Flags: 0,
    };
    // SAFETY: the attributes live on this stack frame for the duration of the call, which
    // only reads them; the handle is NDIS's own.
    let status =
        unsafe { NdisMSetMiniportAttributes(ndis_miniport_handle, &raw const attributes.Header) };
    if status != NDIS_STATUS_SUCCESS {
        // SAFETY: `block` came from pool_allocate and was not handed to NDIS (the
        // registration failed), so it is freed exactly once, here.
        unsafe { pool_free(block) };
    }
    status
}

/// MiniportRemoveDevice: free the add-device context.
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with the context MiniportAddDevice registered.
pub unsafe extern "system" fn miniport_remove_device(miniport_add_device_context: NDIS_HANDLE) {
    if let Some(context) = NonNull::new(miniport_add_device_context.cast::<u8>()) {
        // SAFETY: the context is the allocation MiniportAddDevice registered; NDIS calls
        // RemoveDevice once per AddDevice, so it is freed exactly once.
        unsafe { pool_free(context) };
    }
}

/// MiniportStartDevice: nothing to strip. The driver only adds message interrupts, which the
/// PCI bus driver understands and which must not be removed here.
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL.
pub unsafe extern "system" fn miniport_start_device(
    _context: NDIS_HANDLE,
    _irp: *mut IRP,
) -> NDIS_STATUS {
    NDIS_STATUS_SUCCESS
}

/// MiniportFilterResourceRequirements: replace the requirements list with one that asks for one
/// MSI-X message per RSS processor plus one for other causes
/// ([`crate::interrupt::requirements`] decides the content).
///
/// Always returns `NDIS_STATUS_SUCCESS`: on any internal problem (no RSS information, an
/// allocation failure, a list it cannot parse) the original list stays in place, untouched, and
/// the device simply starts with what PCI proposed. Returning an error would make NDIS use the
/// bus driver's list anyway, with the same effect and a logged failure.
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with the add-device context and the
/// IRP_MN_FILTER_RESOURCE_REQUIREMENTS IRP, after the bus driver completed it.
pub unsafe extern "system" fn miniport_filter_resource_requirements(
    miniport_add_device_context: NDIS_HANDLE,
    irp: *mut IRP,
) -> NDIS_STATUS {
    let context = miniport_add_device_context.cast::<AddDeviceContext>();
    if context.is_null() || irp.is_null() {
        return NDIS_STATUS_SUCCESS;
    }
    // SAFETY: the context is the one MiniportAddDevice initialized; it lives until
    // MiniportRemoveDevice, which cannot run concurrently with this PnP IRP.
    let miniport_handle = unsafe { (*context).miniport_handle };
    // SAFETY: NDIS hands over a valid IRP that it owns for the duration of this call.
    let old_list = unsafe { (*irp).IoStatus.Information } as *mut u8;
    if old_list.is_null() {
        return NDIS_STATUS_SUCCESS;
    }
    // SAFETY: the PnP manager's list starts with its 32-bit ListSize (the header is at least
    // 0x20 bytes); pool memory is suitably aligned but an unaligned read costs nothing here.
    let list_size = unsafe { old_list.cast::<u32>().read_unaligned() };
    let Ok(list_size) = usize::try_from(list_size) else { return NDIS_STATUS_SUCCESS };
    if !(IO_RESOURCE_REQUIREMENTS_LIST_HEADER_SIZE..=MAX_REQUIREMENTS_LIST_BYTES)
        .contains(&list_size)
    {
        return NDIS_STATUS_SUCCESS;
    }
    // SAFETY: the list is `ListSize` bytes long by definition of IO_RESOURCE_REQUIREMENTS_LIST,
    // owned by the PnP manager and not modified while this routine runs.
    let input = unsafe { core::slice::from_raw_parts(old_list.cast_const(), list_size) };

    // SAFETY: the miniport handle saved in AddDevice; PASSIVE_LEVEL.
    let Some(processors) = (unsafe { rss_processors(miniport_handle) }) else {
        return NDIS_STATUS_SUCCESS;
    };
    let Ok(list) = RequirementsList::parse(input) else { return NDIS_STATUS_SUCCESS };
    let Ok(new_size) = requirements::edited_size(&list, &processors) else {
        return NDIS_STATUS_SUCCESS;
    };
    // SAFETY: valid miniport handle; PASSIVE_LEVEL.
    let new_list = unsafe { pool_allocate(miniport_handle, new_size, tags::REQUIREMENTS_LIST) };
    let Some(new_list) = new_list else { return NDIS_STATUS_SUCCESS };
    // SAFETY: `new_list` is a fresh allocation of `new_size` bytes that nothing else
    // references yet; it does not overlap the old list.
    let output = unsafe { core::slice::from_raw_parts_mut(new_list.as_ptr(), new_size) };
    if requirements::write_edited(&list, &processors, output).is_err() {
        // SAFETY: allocated above and never published; freed exactly once.
        unsafe { pool_free(new_list) };
        return NDIS_STATUS_SUCCESS;
    }
    // The new list is complete: publish it, then free the old one (in that order, so the IRP
    // never points at freed memory). The PnP manager frees the new list after the IRP.
    // SAFETY: NDIS owns the IRP for this call and expects the driver to replace Information.
    unsafe { (*irp).IoStatus.Information = new_list.as_ptr() as usize };
    // SAFETY: the old list was allocated by the bus driver from pool; the driver that
    // replaces it frees it (NET:msi-x-resource-filtering), exactly once, and `input` is not
    // used after this point.
    unsafe { NdisFreeMemory(old_list.cast(), 0, 0) };
    NDIS_STATUS_SUCCESS
}

/// The RSS processor set from NdisGetRssProcessorInformation, most preferred first; `None` if
/// NDIS gives none or a malformed one. The buffer is freed before returning.
///
/// # Safety
/// `miniport_handle` is the miniport adapter handle; IRQL <= DISPATCH_LEVEL.
unsafe fn rss_processors(miniport_handle: NDIS_HANDLE) -> Option<Vec<Processor>> {
    let mut size: usize = 0;
    // SAFETY: first of the two calls: a NULL buffer with a size of 0 asks NDIS for the size.
    let status =
        unsafe { NdisGetRssProcessorInformation(miniport_handle, ptr::null_mut(), &raw mut size) };
    if status != NDIS_STATUS_BUFFER_TOO_SHORT || size == 0 || size > MAX_RSS_INFO_BYTES {
        return None;
    }
    // SAFETY: valid miniport handle (caller); IRQL <= DISPATCH_LEVEL.
    let buffer = unsafe { pool_allocate(miniport_handle, size, tags::RSS_PROCESSOR_INFO) }?;
    // SAFETY: `buffer` holds `size` bytes and stays allocated until freed below.
    let processors = unsafe { fetch_and_parse_rss(miniport_handle, buffer, size) };
    // SAFETY: `buffer` was allocated above and is not referenced after parsing; freed once.
    unsafe { pool_free(buffer) };
    processors
}

/// The second NdisGetRssProcessorInformation call, into `buffer`, and the parse.
///
/// # Safety
/// `miniport_handle` is the miniport adapter handle; `buffer` holds `capacity` writable bytes,
/// owned by the caller and not aliased during the call.
unsafe fn fetch_and_parse_rss(
    miniport_handle: NDIS_HANDLE,
    buffer: NonNull<u8>,
    capacity: usize,
) -> Option<Vec<Processor>> {
    let mut size = capacity;
    // SAFETY: second call: `buffer` holds `size` writable bytes, as NDIS asked for.
    let status = unsafe {
        NdisGetRssProcessorInformation(miniport_handle, buffer.as_ptr().cast(), &raw mut size)
    };
    if status != NDIS_STATUS_SUCCESS || size > capacity {
        return None;
    }
    // SAFETY: NDIS filled `size` (<= capacity) bytes of `buffer`, which stays allocated and
    // unaliased until the caller frees it after this function returns.
    let info = unsafe { core::slice::from_raw_parts(buffer.as_ptr().cast_const(), size) };
    let parsed = parse_rss_processor_info(info).ok()?;
    Some(parsed.into_iter().map(|p| p.processor).collect())
}
