//! The adapter's standardized keywords, read once in MiniportInitializeEx (spec §1.7 step 3):
//! NdisOpenConfigurationEx with the miniport adapter handle, one NdisReadConfiguration per
//! keyword of [`READ_BY_DRIVER`](crate::vmq::keywords::READ_BY_DRIVER), NdisCloseConfiguration.
//! What the values mean, and which defaults replace bad ones, is decided by the pure
//! [`crate::vmq::keywords`]; this module only moves NDIS's values there.
//!
//! The open handle is an `OpenConfiguration`, which closes it when dropped, so it is closed
//! exactly once on every path. The strings NDIS returns are borrowed from it, so the borrow
//! checker proves that none is used after the close (NDIS frees them there).

use core::ptr;
use core::slice;

use crate::ndis::{
    NDIS_CONFIGURATION_OBJECT, NDIS_CONFIGURATION_OBJECT_REVISION_1, NDIS_CONFIGURATION_PARAMETER,
    NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
    NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1, NDIS_STATUS, NDIS_STATUS_FAILURE,
    NDIS_STATUS_SUCCESS, NDIS_STRING, NdisCloseConfiguration, NdisOpenConfigurationEx,
    NdisParameterHexInteger, NdisParameterInteger, NdisParameterString, NdisReadConfiguration,
    WCHAR,
};
use crate::vmq::keywords::{Configuration, Keyword, RegistryValue};

/// Reads the adapter's keywords. Every failure gives defaults: a configuration that cannot be
/// opened is read as if every keyword were missing, and a keyword that cannot be read, or
/// holds a value it does not allow, takes its default. Never fails, never panics.
///
/// # Safety
/// `miniport_handle` is the miniport adapter handle of the running MiniportInitializeEx, at
/// PASSIVE_LEVEL.
pub unsafe fn read_keywords(miniport_handle: NDIS_HANDLE) -> Configuration {
    // SAFETY: as the caller guarantees.
    let Some(open) = (unsafe { OpenConfiguration::open(miniport_handle) }) else {
        return Configuration::DEFAULT;
    };
    Configuration::read(|keyword| open.read(keyword))
    // `open` is dropped here: NdisCloseConfiguration.
}

/// A configuration handle from NdisOpenConfigurationEx; closed when dropped.
struct OpenConfiguration {
    handle: NDIS_HANDLE,
}

impl OpenConfiguration {
    /// Opens the adapter's configuration; `None` if NDIS refuses.
    ///
    /// # Safety
    /// As [`read_keywords`].
    unsafe fn open(miniport_handle: NDIS_HANDLE) -> Option<Self> {
        let object = NDIS_CONFIGURATION_OBJECT {
            Header: NDIS_OBJECT_HEADER::new(
                NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
                NDIS_CONFIGURATION_OBJECT_REVISION_1,
                NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1,
            ),
            NdisHandle: miniport_handle,
            Flags: 0,
        };
        let mut handle: NDIS_HANDLE = ptr::null_mut();
        // SAFETY: the object and the out handle live on this frame for the call; the adapter
        // handle and PASSIVE_LEVEL are the caller's guarantee.
        let status = unsafe { NdisOpenConfigurationEx(&raw const object, &raw mut handle) };
        // `then`, not `then_some`: the guard closes the handle when dropped, so it must not be
        // built (and dropped) for a handle NDIS never gave.
        (status == NDIS_STATUS_SUCCESS && !handle.is_null()).then(|| Self { handle })
    }

    /// Reads `keyword` as `NdisParameterInteger` (NDIS converts a REG_SZ in base 10). The
    /// value borrows this handle: NDIS's memory is valid until the close.
    fn read(&self, keyword: &Keyword) -> RegistryValue<'_> {
        let Some(length) = u16::try_from(size_of_val(keyword.name_utf16)).ok() else {
            return RegistryValue::Missing;
        };
        let name = NDIS_STRING {
            Length: length,
            MaximumLength: length,
            // NDIS only reads the name (NDIS_STRING_CONST points at a literal the same way).
            Buffer: keyword.name_utf16.as_ptr().cast_mut(),
        };
        let mut status: NDIS_STATUS = NDIS_STATUS_FAILURE;
        let mut parameter: *mut NDIS_CONFIGURATION_PARAMETER = ptr::null_mut();
        // SAFETY: the status, the out pointer and the name (over a static) live for the call;
        // the handle is open (closed only by `drop`); PASSIVE_LEVEL, as `open` required.
        unsafe {
            NdisReadConfiguration(
                &raw mut status,
                &raw mut parameter,
                self.handle,
                &raw const name,
                NdisParameterInteger,
            );
        };
        if status != NDIS_STATUS_SUCCESS || parameter.is_null() {
            return RegistryValue::Missing;
        }
        // SAFETY: on success NDIS points `parameter` at an NDIS_CONFIGURATION_PARAMETER it
        // allocated (aligned, initialized), which it frees only at NdisCloseConfiguration;
        // the reference borrows `self`, which that close consumes.
        let parameter: &NDIS_CONFIGURATION_PARAMETER = unsafe { &*parameter };
        parameter_value(parameter)
    }
}

/// The value of an `NDIS_CONFIGURATION_PARAMETER` NDIS returned.
fn parameter_value(parameter: &NDIS_CONFIGURATION_PARAMETER) -> RegistryValue<'_> {
    let kind = parameter.ParameterType;
    if kind == NdisParameterInteger || kind == NdisParameterHexInteger {
        // SAFETY: for the integer types NDIS wrote `IntegerData`; every bit pattern is a
        // valid ULONG.
        RegistryValue::Integer(unsafe { parameter.ParameterData.IntegerData })
    } else if kind == NdisParameterString {
        // SAFETY: for NdisParameterString NDIS wrote `StringData`.
        let string = unsafe { &parameter.ParameterData.StringData };
        string_units(string).map_or(RegistryValue::Unsupported, RegistryValue::String)
    } else {
        RegistryValue::Unsupported
    }
}

/// The characters of an `NDIS_STRING` NDIS returned, if it is well formed (a buffer that is
/// not NULL when there are characters, an even length no larger than the capacity).
fn string_units(string: &NDIS_STRING) -> Option<&[u16]> {
    let bytes = usize::from(string.Length);
    if bytes % size_of::<WCHAR>() != 0 || string.Length > string.MaximumLength {
        return None;
    }
    if bytes == 0 {
        return Some(&[]);
    }
    let buffer = ptr::NonNull::new(string.Buffer)?;
    if !buffer.as_ptr().is_aligned() {
        return None;
    }
    // SAFETY: NDIS allocated `Length` bytes of characters at `Buffer` (non-NULL, aligned,
    // checked above) together with the parameter that holds this string, and frees them at
    // the same close; the slice borrows the parameter, which borrows the open handle.
    Some(unsafe { slice::from_raw_parts(buffer.as_ptr(), bytes / size_of::<WCHAR>()) })
}

impl Drop for OpenConfiguration {
    fn drop(&mut self) {
        // SAFETY: the handle NdisOpenConfigurationEx returned, closed once (here); nothing
        // borrowed from it outlives `self`. PASSIVE_LEVEL, as for the open.
        unsafe { NdisCloseConfiguration(self.handle) };
    }
}
