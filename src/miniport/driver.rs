//! DriverEntry, the miniport driver characteristics, MiniportSetOptions and
//! MiniportDriverUnload: registering with NDIS and nothing else. The adapter lives in
//! [`super::adapter`], the PnP handlers in [`super::pnp`].

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use super::adapter;
use super::pnp::pnp_characteristics;
use crate::ndis::{
    DRIVER_OBJECT, NDIS_HANDLE, NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2, NDIS_OBJECT_HEADER,
    NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
    NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2, NDIS_STATUS, NTSTATUS,
    NdisMDeregisterMiniportDriver, NdisMRegisterMiniportDriver, NdisSetOptionalHandlers,
    UNICODE_STRING,
};

/// NDIS version the driver is written for: 6.30 (Windows 8 / Server 2012), the first with the
/// VMQ rules this driver follows (no lookahead split, mandatory affinity change and coalescing).
pub const NDIS_MAJOR_VERSION: u8 = 6;
/// See [`NDIS_MAJOR_VERSION`].
pub const NDIS_MINOR_VERSION: u8 = 30;
/// The driver's own version.
pub const DRIVER_MAJOR_VERSION: u8 = 0;
/// See [`DRIVER_MAJOR_VERSION`].
pub const DRIVER_MINOR_VERSION: u8 = 1;

/// The handle NdisMRegisterMiniportDriver returned; MiniportDriverUnload gives it back.
/// Written once in DriverEntry and once in Unload, both at PASSIVE_LEVEL with no adapter alive.
static DRIVER_HANDLE: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// The miniport driver characteristics (revision 2: NDIS 6.30, no direct OIDs). Every handler
/// the docs call required is present; CheckForHang/Reset are left out (NDIS 6.30 drivers ask
/// for a reset with NdisMResetMiniport instead).
#[must_use]
pub fn driver_characteristics() -> NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
            NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
            NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
        ),
        MajorNdisVersion: NDIS_MAJOR_VERSION,
        MinorNdisVersion: NDIS_MINOR_VERSION,
        MajorDriverVersion: DRIVER_MAJOR_VERSION,
        MinorDriverVersion: DRIVER_MINOR_VERSION,
        Flags: 0,
        SetOptionsHandler: Some(miniport_set_options),
        InitializeHandlerEx: Some(adapter::miniport_initialize),
        HaltHandlerEx: Some(adapter::miniport_halt),
        UnloadHandler: Some(miniport_driver_unload),
        PauseHandler: Some(adapter::miniport_pause),
        RestartHandler: Some(adapter::miniport_restart),
        OidRequestHandler: Some(adapter::miniport_oid_request),
        SendNetBufferListsHandler: Some(adapter::miniport_send_net_buffer_lists),
        ReturnNetBufferListsHandler: Some(adapter::miniport_return_net_buffer_lists),
        CancelSendHandler: Some(adapter::miniport_cancel_send),
        CheckForHangHandlerEx: None,
        ResetHandlerEx: None,
        DevicePnPEventNotifyHandler: Some(adapter::miniport_device_pnp_event_notify),
        ShutdownHandlerEx: Some(adapter::miniport_shutdown),
        CancelOidRequestHandler: Some(adapter::miniport_cancel_oid_request),
        DirectOidRequestHandler: None,
        CancelDirectOidRequestHandler: None,
        SynchronousOidRequestHandler: None,
    }
}

/// DriverEntry: register the miniport driver with NDIS. NDIS calls MiniportSetOptions from
/// inside NdisMRegisterMiniportDriver; the status NDIS returns is the driver's (NDIS_STATUS
/// values are NTSTATUS-compatible).
///
/// # Safety
/// Called once by the I/O manager at PASSIVE_LEVEL with the driver object and its registry path.
#[cfg_attr(not(test), unsafe(export_name = "DriverEntry"))]
pub unsafe extern "system" fn driver_entry(
    driver_object: *mut DRIVER_OBJECT,
    registry_path: *const UNICODE_STRING,
) -> NTSTATUS {
    let characteristics = driver_characteristics();
    let mut handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: the driver object and registry path come from the I/O manager; the
    // characteristics live on this frame for the call (NDIS copies them); `handle` is writable.
    let status = unsafe {
        NdisMRegisterMiniportDriver(
            driver_object,
            registry_path,
            ptr::null_mut(),
            &raw const characteristics,
            &raw mut handle,
        )
    };
    if status == crate::ndis::NDIS_STATUS_SUCCESS {
        DRIVER_HANDLE.store(handle, Ordering::Release);
    }
    status
}

/// MiniportSetOptions: register the PnP characteristics (the reason this driver needs
/// SetOptions: FilterResourceRequirements is how it asks for one MSI-X message per processor).
///
/// # Safety
/// Called by NDIS inside NdisMRegisterMiniportDriver, at PASSIVE_LEVEL.
pub unsafe extern "system" fn miniport_set_options(
    ndis_driver_handle: NDIS_HANDLE,
    _driver_context: NDIS_HANDLE,
) -> NDIS_STATUS {
    let pnp = pnp_characteristics();
    // SAFETY: the driver handle is NDIS's; the characteristics live on this frame for the call.
    unsafe { NdisSetOptionalHandlers(ndis_driver_handle, &raw const pnp.Header) }
}

/// MiniportDriverUnload: deregister from NDIS (every adapter has been halted and removed).
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL, once, after a successful DriverEntry.
pub unsafe extern "system" fn miniport_driver_unload(_driver_object: *mut DRIVER_OBJECT) {
    let handle = DRIVER_HANDLE.swap(ptr::null_mut(), Ordering::AcqRel);
    if !handle.is_null() {
        // SAFETY: the handle NdisMRegisterMiniportDriver returned, deregistered once.
        unsafe { NdisMDeregisterMiniportDriver(handle) };
    }
}
