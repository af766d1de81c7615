//! Driver registration, optional handlers, attributes and the processor information NDIS
//! gives the driver.

use std::mem::{offset_of, size_of};

use vmqnic::ndis::{
    self, ALL_PROCESSOR_GROUPS, DRIVER_OBJECT, NDIS_HANDLE,
    NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES,
    NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
    NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES, NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
    NDIS_MINIPORT_PNP_CHARACTERISTICS, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT,
    NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
    NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES,
    NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
    NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
    NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
    NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS, NDIS_OBJECT_TYPE_RSS_PROCESSOR_INFO,
    NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED, NDIS_RECEIVE_FILTER_VM_QUEUE_SUPPORTED,
    NDIS_RSS_PROCESSOR, NDIS_RSS_PROCESSOR_INFO, NDIS_STATUS, NDIS_STATUS_BUFFER_TOO_SHORT,
    NDIS_STATUS_FAILURE, NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_NOT_SUPPORTED,
    NDIS_STATUS_SUCCESS, PROCESSOR_NUMBER, SIZE_T, ULONG, UNICODE_STRING, USHORT,
};

use super::{
    NDIS_STATUS_BAD_CHARACTERISTICS, NDIS_STATUS_BAD_VERSION, check_handle, check_irql,
    check_registration_first, handle_rule, header_matches, irql_rule, read_header, read_versioned,
};
use crate::sim::cpu::{DISPATCH_LEVEL, PASSIVE_LEVEL};
use crate::sim::rules;
use crate::sim::state::{DriverRecord, Phase, in_phase, with_state};

/// `(revision, NDIS_SIZEOF_..._REVISION_n)` of the driver characteristics.
const DRIVER_CHARACTERISTICS_REVISIONS: &[(u8, u16)] = &[(1, 0x88), (2, 0x98), (3, 0xA0)];
/// NDIS versions this NDIS (6.30, Windows 8 / Server 2012) accepts from a miniport.
const SUPPORTED_MINOR_VERSIONS: &[u8] = &[0, 1, 20, 30];

/// The handlers ndis.h documents as required, by name.
fn missing_driver_handlers(c: &NDIS_MINIPORT_DRIVER_CHARACTERISTICS) -> Vec<&'static str> {
    let required = [
        ("InitializeHandlerEx", c.InitializeHandlerEx.is_some()),
        ("HaltHandlerEx", c.HaltHandlerEx.is_some()),
        ("UnloadHandler", c.UnloadHandler.is_some()),
        ("PauseHandler", c.PauseHandler.is_some()),
        ("RestartHandler", c.RestartHandler.is_some()),
        ("OidRequestHandler", c.OidRequestHandler.is_some()),
        ("SendNetBufferListsHandler", c.SendNetBufferListsHandler.is_some()),
        ("ReturnNetBufferListsHandler", c.ReturnNetBufferListsHandler.is_some()),
        ("CancelSendHandler", c.CancelSendHandler.is_some()),
        ("DevicePnPEventNotifyHandler", c.DevicePnPEventNotifyHandler.is_some()),
        ("ShutdownHandlerEx", c.ShutdownHandlerEx.is_some()),
        ("CancelOidRequestHandler", c.CancelOidRequestHandler.is_some()),
    ];
    required.into_iter().filter(|(_, present)| !present).map(|(name, _)| name).collect()
}

/// `NdisMRegisterMiniportDriver`: checks the characteristics (header, NDIS version, required
/// handlers), returns the driver handle and calls MiniportSetOptions from inside the call, as
/// NDIS does. Legal only in DriverEntry, once. PASSIVE_LEVEL.
///
/// # Safety
/// `MiniportDriverCharacteristics` points to characteristics of at least `Header.Size` bytes;
/// `NdisMiniportDriverHandle` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMRegisterMiniportDriver(
    _DriverObject: *mut DRIVER_OBJECT,
    _RegistryPath: *const UNICODE_STRING,
    MiniportDriverContext: NDIS_HANDLE,
    MiniportDriverCharacteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
    NdisMiniportDriverHandle: *mut NDIS_HANDLE,
) -> NDIS_STATUS {
    let in_window = with_state(|s| {
        check_irql(s, irql_rule!(NdisMRegisterMiniportDriver), PASSIVE_LEVEL);
        let in_window = s.in_phase(Phase::DriverEntry) && s.driver.is_none();
        if !in_window {
            s.violate(
                rules::REGISTER_DRIVER_OUTSIDE_DRIVER_ENTRY,
                "NdisMRegisterMiniportDriver outside DriverEntry, or a second time",
            );
        }
        in_window
    });
    if !in_window {
        return NDIS_STATUS_FAILURE;
    }
    if NdisMiniportDriverHandle.is_null() {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: NULL or the driver's characteristics, which start with their header.
    let Some(header) = (unsafe { read_header(MiniportDriverCharacteristics.cast()) }) else {
        return NDIS_STATUS_INVALID_PARAMETER;
    };
    if !header_matches(
        header,
        NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
        DRIVER_CHARACTERISTICS_REVISIONS,
    ) {
        with_state(|s| {
            s.violate(rules::OBJECT_HEADER_DRIVER_CHARACTERISTICS, format!("{header:?}"));
        });
        return NDIS_STATUS_BAD_CHARACTERISTICS;
    }
    // SAFETY: the header says the driver provides `Size` bytes; an all-zero characteristics
    // structure (no handlers) is valid.
    let characteristics: NDIS_MINIPORT_DRIVER_CHARACTERISTICS =
        unsafe { read_versioned(MiniportDriverCharacteristics.cast(), usize::from(header.Size)) };
    let checked = with_state(|s| {
        let (major, minor) = (characteristics.MajorNdisVersion, characteristics.MinorNdisVersion);
        if major != 6 || !SUPPORTED_MINOR_VERSIONS.contains(&minor) {
            s.violate(
                rules::DRIVER_CHARACTERISTICS_NDIS_VERSION,
                format!("NDIS {major}.{minor}; this NDIS is 6.30 (6.0, 6.1, 6.20, 6.30 accepted)"),
            );
            return Err(NDIS_STATUS_BAD_VERSION);
        }
        let missing = missing_driver_handlers(&characteristics);
        if !missing.is_empty() {
            s.violate(rules::DRIVER_CHARACTERISTICS_REQUIRED_HANDLER, missing.join(", "));
            return Err(NDIS_STATUS_BAD_CHARACTERISTICS);
        }
        if characteristics.CheckForHangHandlerEx.is_some()
            && characteristics.ResetHandlerEx.is_none()
        {
            s.violate(
                rules::DRIVER_CHARACTERISTICS_CHECK_FOR_HANG_WITHOUT_RESET,
                "CheckForHangHandlerEx needs ResetHandlerEx",
            );
            return Err(NDIS_STATUS_BAD_CHARACTERISTICS);
        }
        s.driver = Some(DriverRecord {
            context: MiniportDriverContext as usize,
            characteristics,
            pnp: None,
            deregistered: false,
        });
        Ok(s.driver_handle)
    });
    let driver_handle = match checked {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    // SAFETY: checked non-null above; the driver passes a writable handle location.
    unsafe { NdisMiniportDriverHandle.write(driver_handle as NDIS_HANDLE) };
    if let Some(set_options) = characteristics.SetOptionsHandler {
        // SAFETY: the driver's own handler, called as NDIS calls it: inside this function, at
        // PASSIVE_LEVEL, with the driver handle and the driver's context.
        let status = in_phase(Phase::SetOptions, || unsafe {
            set_options(driver_handle as NDIS_HANDLE, MiniportDriverContext)
        });
        if status != NDIS_STATUS_SUCCESS {
            // NDIS fails the registration with MiniportSetOptions's status.
            with_state(|s| s.driver = None);
            return status;
        }
    }
    NDIS_STATUS_SUCCESS
}
const _: ndis::sig::NdisMRegisterMiniportDriver = NdisMRegisterMiniportDriver;

/// `NdisMDeregisterMiniportDriver`: legal in MiniportDriverUnload (or in a DriverEntry that
/// fails after registering), once, with the driver handle, and with no work item queued (those
/// never run). PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisMDeregisterMiniportDriver(NdisMiniportDriverHandle: NDIS_HANDLE) {
    with_state(|s| {
        check_irql(s, irql_rule!(NdisMDeregisterMiniportDriver), PASSIVE_LEVEL);
        let window = s.in_phase(Phase::Unload) || s.in_phase(Phase::DriverEntry);
        let handle_ok = NdisMiniportDriverHandle as usize == s.driver_handle;
        match &mut s.driver {
            Some(driver) if window && handle_ok && !driver.deregistered => {
                driver.deregistered = true;
                let queued = s.drop_queued_work_items(|_| true);
                if queued > 0 {
                    s.violate(
                        rules::DEREGISTER_IO_WORK_ITEM_QUEUED,
                        format!(
                            "NdisMDeregisterMiniportDriver with {queued} work item(s) queued \
                             (their routines never run)"
                        ),
                    );
                }
            }
            _ => s.violate(
                rules::DEREGISTER_DRIVER_OUTSIDE_UNLOAD,
                format!(
                    "NdisMDeregisterMiniportDriver({NdisMiniportDriverHandle:?}) outside \
                     MiniportDriverUnload, with a foreign handle, or twice"
                ),
            ),
        }
    });
}
const _: ndis::sig::NdisMDeregisterMiniportDriver = NdisMDeregisterMiniportDriver;

/// `NdisSetOptionalHandlers`: registers the PnP characteristics (the only optional handlers
/// this NDIS models; others get NDIS_STATUS_NOT_SUPPORTED). Legal only in MiniportSetOptions.
/// PASSIVE_LEVEL.
///
/// # Safety
/// `OptionalHandlers` points to a structure of at least `Header.Size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisSetOptionalHandlers(
    NdisHandle: NDIS_HANDLE,
    OptionalHandlers: *const NDIS_OBJECT_HEADER,
) -> NDIS_STATUS {
    let allowed = with_state(|s| {
        check_irql(s, irql_rule!(NdisSetOptionalHandlers), PASSIVE_LEVEL);
        if !s.in_phase(Phase::SetOptions) {
            s.violate(
                rules::SET_OPTIONAL_HANDLERS_OUTSIDE_SET_OPTIONS,
                "NdisSetOptionalHandlers outside MiniportSetOptions",
            );
            return false;
        }
        if NdisHandle as usize != s.driver_handle {
            s.violate(
                handle_rule!(NdisSetOptionalHandlers),
                format!("called with {NdisHandle:?}, not the driver handle"),
            );
            return false;
        }
        true
    });
    if !allowed {
        return NDIS_STATUS_FAILURE;
    }
    // SAFETY: NULL or a structure starting with its header (caller).
    let Some(header) = (unsafe { read_header(OptionalHandlers) }) else {
        return NDIS_STATUS_INVALID_PARAMETER;
    };
    if header.Type != NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS {
        return NDIS_STATUS_NOT_SUPPORTED;
    }
    if !header_matches(header, NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS, &[(1, 0x2C)]) {
        with_state(|s| s.violate(rules::OBJECT_HEADER_PNP_CHARACTERISTICS, format!("{header:?}")));
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: the header says `Size` bytes of PnP characteristics follow; all-zero is valid.
    let pnp: NDIS_MINIPORT_PNP_CHARACTERISTICS =
        unsafe { read_versioned(OptionalHandlers.cast(), usize::from(header.Size)) };
    with_state(|s| {
        let missing: Vec<&str> = [
            ("MiniportAddDeviceHandler", pnp.MiniportAddDeviceHandler.is_some()),
            ("MiniportRemoveDeviceHandler", pnp.MiniportRemoveDeviceHandler.is_some()),
            (
                "MiniportFilterResourceRequirementsHandler",
                pnp.MiniportFilterResourceRequirementsHandler.is_some(),
            ),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
        if !missing.is_empty() {
            s.violate(rules::PNP_CHARACTERISTICS_REQUIRED_HANDLER, missing.join(", "));
            return NDIS_STATUS_INVALID_PARAMETER;
        }
        match &mut s.driver {
            Some(driver) => {
                driver.pnp = Some(pnp);
                NDIS_STATUS_SUCCESS
            }
            None => NDIS_STATUS_FAILURE,
        }
    })
}
const _: ndis::sig::NdisSetOptionalHandlers = NdisSetOptionalHandlers;

/// Copies `size` bytes of a driver structure.
///
/// # Safety
/// `source` points to at least `size` readable bytes.
unsafe fn copy_bytes(source: *const u8, size: usize) -> Vec<u8> {
    // SAFETY: readable for `size` bytes (caller); copied out at once.
    unsafe { std::slice::from_raw_parts(source, size) }.to_vec()
}

/// Checks and copies the receive-filter capabilities at `pointer` (NULL allowed).
///
/// # Safety
/// `pointer` is NULL or points to capabilities of at least `Header.Size` bytes.
unsafe fn receive_filter_capabilities(
    pointer: *const u8,
    which: &str,
) -> Result<Option<Vec<u8>>, String> {
    // SAFETY: NULL or capabilities starting with their header (caller).
    let Some(header) = (unsafe { read_header(pointer.cast()) }) else { return Ok(None) };
    if !header_matches(header, NDIS_OBJECT_TYPE_DEFAULT, &[(1, 0x38), (2, 0x54)]) {
        return Err(format!("{which}: {header:?}"));
    }
    // SAFETY: the header says `Size` bytes follow (caller).
    Ok(Some(unsafe { copy_bytes(pointer, usize::from(header.Size)) }))
}

/// `NdisMSetMiniportAttributes`: checks the object header of the attributes, the handler they
/// belong to (add-device attributes in MiniportAddDevice, the others in MiniportInitializeEx)
/// and the order (registration first, then general, then the rest); records what the adapter
/// reports. PASSIVE_LEVEL.
///
/// # Safety
/// `MiniportAttributes` points to an attribute structure of at least `Header.Size` bytes;
/// hardware-assist attributes point to receive-filter capabilities of at least their
/// `Header.Size` bytes (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMSetMiniportAttributes(
    NdisMiniportHandle: NDIS_HANDLE,
    MiniportAttributes: *const NDIS_OBJECT_HEADER,
) -> NDIS_STATUS {
    let handle_ok = with_state(|s| {
        check_irql(s, irql_rule!(NdisMSetMiniportAttributes), PASSIVE_LEVEL);
        check_handle(s, handle_rule!(NdisMSetMiniportAttributes), NdisMiniportHandle)
    });
    // SAFETY: NULL or a structure starting with its header (caller).
    let header = unsafe { read_header(MiniportAttributes) };
    let (true, Some(header)) = (handle_ok, header) else { return NDIS_STATUS_INVALID_PARAMETER };
    let attributes = MiniportAttributes.cast::<u8>();
    match header.Type {
        NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES => {
            // SAFETY: the header names the structure and says `Size` bytes of it follow
            // (caller), which is the callee's contract.
            unsafe { set_add_device_attributes(header, attributes) }
        }
        NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES => {
            // SAFETY: the header names the structure and says `Size` bytes of it follow
            // (caller), which is the callee's contract.
            unsafe { set_registration_attributes(header, attributes) }
        }
        NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES => {
            // SAFETY: the header names the structure and says `Size` bytes of it follow
            // (caller), which is the callee's contract.
            unsafe { set_general_attributes(header, attributes) }
        }
        NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES => {
            // SAFETY: the header names the structure and says `Size` bytes of it follow
            // (caller), which is the callee's contract.
            unsafe { set_hardware_assist_attributes(header, attributes) }
        }
        other => {
            with_state(|s| {
                s.violate(
                    rules::SET_ATTRIBUTES_TYPE,
                    format!("attributes type {other:#x}, which this simulated NDIS does not model"),
                );
            });
            NDIS_STATUS_INVALID_PARAMETER
        }
    }
}

/// `NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES`, from MiniportAddDevice.
///
/// # Safety
/// `attributes` points to `header.Size` readable bytes.
unsafe fn set_add_device_attributes(
    header: NDIS_OBJECT_HEADER,
    attributes: *const u8,
) -> NDIS_STATUS {
    if !header_matches(header, header.Type, &[(1, 0x14)]) {
        with_state(|s| {
            s.violate(rules::OBJECT_HEADER_ADD_DEVICE_ATTRIBUTES, format!("{header:?}"));
        });
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `Size` readable bytes (caller); all-zero is a valid value.
    let attributes: NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES =
        unsafe { read_versioned(attributes, usize::from(header.Size)) };
    with_state(|s| {
        if !s.in_phase(Phase::AddDevice) {
            s.violate(
                rules::SET_ATTRIBUTES_WINDOW,
                "add-device attributes outside MiniportAddDevice",
            );
        }
        s.add_device_context = Some(attributes.MiniportAddDeviceContext as usize);
    });
    NDIS_STATUS_SUCCESS
}

/// `NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES`, first in MiniportInitializeEx.
///
/// # Safety
/// `attributes` points to `header.Size` readable bytes.
unsafe fn set_registration_attributes(
    header: NDIS_OBJECT_HEADER,
    attributes: *const u8,
) -> NDIS_STATUS {
    if !header_matches(header, header.Type, &[(1, 0x1C), (2, 0x1C)]) {
        with_state(|s| {
            s.violate(rules::OBJECT_HEADER_REGISTRATION_ATTRIBUTES, format!("{header:?}"));
        });
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `Size` readable bytes (caller); all-zero is a valid value.
    let attributes: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES =
        unsafe { read_versioned(attributes, usize::from(header.Size)) };
    with_state(|s| {
        if !s.in_phase(Phase::Initialize) {
            s.violate(
                rules::SET_ATTRIBUTES_WINDOW,
                "registration attributes outside MiniportInitializeEx",
            );
            return NDIS_STATUS_FAILURE;
        }
        s.adapter.context = attributes.MiniportAdapterContext as usize;
        s.adapter.registration = Some((attributes.AttributeFlags, attributes.InterfaceType));
        NDIS_STATUS_SUCCESS
    })
}

/// `NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES`, right after the registration attributes.
///
/// # Safety
/// `attributes` points to `header.Size` readable bytes.
unsafe fn set_general_attributes(header: NDIS_OBJECT_HEADER, attributes: *const u8) -> NDIS_STATUS {
    if !header_matches(header, header.Type, &[(1, 0xD8), (2, 0xE0)]) {
        with_state(|s| s.violate(rules::OBJECT_HEADER_GENERAL_ATTRIBUTES, format!("{header:?}")));
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `Size` readable bytes (caller).
    let bytes = unsafe { copy_bytes(attributes, usize::from(header.Size)) };
    with_state(|s| {
        if !s.in_phase(Phase::Initialize) {
            s.violate(
                rules::SET_ATTRIBUTES_WINDOW,
                "general attributes outside MiniportInitializeEx",
            );
            return NDIS_STATUS_FAILURE;
        }
        check_registration_first(s, "the general attributes");
        s.adapter.general = Some(bytes);
        NDIS_STATUS_SUCCESS
    })
}

/// `NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES` and the receive-filter capabilities
/// they point to; after the general attributes.
///
/// # Safety
/// `attributes` points to `header.Size` readable bytes whose capability pointers are NULL or
/// point to capabilities of at least their `Header.Size` bytes.
unsafe fn set_hardware_assist_attributes(
    header: NDIS_OBJECT_HEADER,
    attributes: *const u8,
) -> NDIS_STATUS {
    let revisions = [(1, 0x10), (2, 0x30), (3, 0x50), (4, 0x60)];
    if !header_matches(header, header.Type, &revisions) {
        with_state(|s| {
            s.violate(rules::OBJECT_HEADER_HARDWARE_ASSIST_ATTRIBUTES, format!("{header:?}"));
        });
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `Size` readable bytes (caller); all-zero is a valid value. Revision 1 ends
    // before the receive-filter pointers, which then read as NULL.
    let attributes: NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES =
        unsafe { read_versioned(attributes, usize::from(header.Size)) };
    // SAFETY: NULL or capabilities the driver provides (caller).
    let hardware = unsafe {
        receive_filter_capabilities(
            attributes.HardwareReceiveFilterCapabilities.cast_const().cast(),
            "HardwareReceiveFilterCapabilities",
        )
    };
    // SAFETY: as above.
    let current = unsafe {
        receive_filter_capabilities(
            attributes.CurrentReceiveFilterCapabilities.cast_const().cast(),
            "CurrentReceiveFilterCapabilities",
        )
    };
    with_state(|s| {
        if !s.in_phase(Phase::Initialize) {
            s.violate(
                rules::SET_ATTRIBUTES_WINDOW,
                "hardware-assist attributes outside MiniportInitializeEx",
            );
            return NDIS_STATUS_FAILURE;
        }
        check_registration_first(s, "the hardware-assist attributes");
        if s.adapter.general.is_none() {
            s.violate(
                rules::INITIALIZE_GENERAL_ATTRIBUTES_BEFORE_OTHERS,
                "hardware-assist attributes before the general attributes",
            );
        }
        let (hardware, current) = match (hardware, current) {
            (Ok(h), Ok(c)) => (h, c),
            (Err(e), _) | (_, Err(e)) => {
                s.violate(rules::OBJECT_HEADER_RECEIVE_FILTER_CAPABILITIES, e);
                return NDIS_STATUS_INVALID_PARAMETER;
            }
        };
        if let Some(caps) = &hardware {
            let offset =
                offset_of!(ndis::NDIS_RECEIVE_FILTER_CAPABILITIES, SupportedQueueProperties);
            let properties = caps
                .get(offset..offset + 4)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            if properties & NDIS_RECEIVE_FILTER_VM_QUEUE_SUPPORTED != 0
                && properties & NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED == 0
            {
                s.violate(
                    rules::VMQ_REQUIRES_MSIX,
                    format!("SupportedQueueProperties {properties:#x}"),
                );
            }
        }
        s.adapter.hardware_assist = true;
        s.adapter.hardware_receive_filter = hardware;
        s.adapter.current_receive_filter = current;
        NDIS_STATUS_SUCCESS
    })
}
const _: ndis::sig::NdisMSetMiniportAttributes = NdisMSetMiniportAttributes;

/// `NdisGetRssProcessorInformation`: the configured RSS set, as ndis.sys lays it out (revision
/// 2 header, the array right after it, 8-byte entries). Too small a buffer gets
/// `NDIS_STATUS_BUFFER_TOO_SHORT` with the size needed. IRQL <= DISPATCH_LEVEL.
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
        check_irql(s, irql_rule!(NdisGetRssProcessorInformation), DISPATCH_LEVEL);
        if check_handle(s, handle_rule!(NdisGetRssProcessorInformation), NdisHandle) {
            s.config.as_ref().map(|c| (c.rss.clone(), c.preferred_numa_node))
        } else {
            None
        }
    });
    let Some((rss, preferred_node)) = rss else { return NDIS_STATUS_INVALID_PARAMETER };
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
    let put_processor = |info: &mut [u8], offset: usize, p: vmqnic::interrupt::Processor| {
        put(info, offset + offset_of!(PROCESSOR_NUMBER, Group), &p.group.to_le_bytes());
        put(info, offset + offset_of!(PROCESSOR_NUMBER, Number), &[p.number]);
    };
    put(
        &mut info,
        offset_of!(NDIS_RSS_PROCESSOR_INFO, Header),
        &[NDIS_OBJECT_TYPE_RSS_PROCESSOR_INFO, 2],
    );
    put(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, Header) + 2, &0x28u16.to_le_bytes());
    if let Some(first) = rss.first() {
        put_processor(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, RssBaseProcessor), first.0);
    }
    if let Some(max) = rss.iter().map(|(p, _)| *p).max() {
        put_processor(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, RssMaxProcessor), max);
    }
    put(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, MaxNumRssProcessors), &count.to_le_bytes());
    put(
        &mut info,
        offset_of!(NDIS_RSS_PROCESSOR_INFO, PreferredNumaNode),
        &preferred_node.to_le_bytes(),
    );
    put(
        &mut info,
        offset_of!(NDIS_RSS_PROCESSOR_INFO, RssProcessorArrayOffset),
        &u32::try_from(header).unwrap_or(u32::MAX).to_le_bytes(),
    );
    put(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, RssProcessorCount), &count.to_le_bytes());
    put(&mut info, offset_of!(NDIS_RSS_PROCESSOR_INFO, RssProcessorEntrySize), &8u32.to_le_bytes());
    for (i, (processor, preference)) in rss.iter().enumerate() {
        let entry = header + i * size_of::<NDIS_RSS_PROCESSOR>();
        put_processor(&mut info, entry + offset_of!(NDIS_RSS_PROCESSOR, ProcNum), *processor);
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

/// `NdisGroupMaxProcessorCount`: processors in `Group` (all of them for
/// `ALL_PROCESSOR_GROUPS`); 0 for a group the machine lacks. Any IRQL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisGroupMaxProcessorCount(Group: USHORT) -> ULONG {
    with_state(|s| {
        let processors = s.config.as_ref().map(|c| c.processors.clone()).unwrap_or_default();
        let count = processors
            .iter()
            .filter(|p| Group == ALL_PROCESSOR_GROUPS || p.processor.group == Group)
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    })
}
const _: ndis::sig::NdisGroupMaxProcessorCount = NdisGroupMaxProcessorCount;
