//! The NDIS configuration interface: what MiniportInitializeEx needs to read the adapter's
//! standardized keywords from the registry (spec §1.7 step 3) with NdisOpenConfigurationEx,
//! NdisReadConfiguration and NdisCloseConfiguration.
//!
//! Sources (x64): the WDK documentation of `NDIS_CONFIGURATION_OBJECT`,
//! `NDIS_CONFIGURATION_PARAMETER` and `NDIS_PARAMETER_TYPE`; ndis.h, where
//! `NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1` is `sizeof(NDIS_CONFIGURATION_OBJECT)`; and
//! ndis.sys itself, which fills its own configuration objects with the header
//! `{0xA9, 1, 0x18}` and keeps `NDIS_CONFIGURATION_PARAMETER`s 0x18 bytes apart. windows-sys
//! 0.61 has the parameter, its union, `BINARY_DATA` and the constants, and
//! `tests/abi_cross_check.rs` compares them; it lacks `NDIS_CONFIGURATION_OBJECT` and
//! NdisOpenConfigurationEx, which are checked against those sources only.

use super::{
    NDIS_ENUM, NDIS_HANDLE, NDIS_OBJECT_HEADER, PVOID, UCHAR, ULONG, UNICODE_STRING, USHORT,
    assert_layout,
};

/// `NDIS_STRING`: a counted UTF-16 string (`UNICODE_STRING`), here the name of a keyword.
pub type NDIS_STRING = UNICODE_STRING;

/// `NDIS_CONFIGURATION_OBJECT`: which registry key NdisOpenConfigurationEx opens. With the
/// miniport adapter handle in `NdisHandle`, it is the adapter's driver (instance) key, where
/// the keywords of the INF's `Ndi\Params` live.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_CONFIGURATION_OBJECT {
    /// `{NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT (0xA9), 1, 0x18}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// The miniport adapter handle (an adapter's keywords) or the driver handle.
    pub NdisHandle: NDIS_HANDLE,
    /// 0 for a miniport (`NDIS_CONFIG_FLAG_FILTER_INSTANCE_CONFIGURATION` is for filters).
    pub Flags: ULONG,
}
assert_layout!(NDIS_CONFIGURATION_OBJECT, size 0x18, { Header: 0x0, NdisHandle: 0x8, Flags: 0x10 });

/// `NDIS_CONFIGURATION_OBJECT_REVISION_1`.
pub const NDIS_CONFIGURATION_OBJECT_REVISION_1: UCHAR = 1;
/// `NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1` (`sizeof`, trailing padding included).
pub const NDIS_SIZEOF_CONFIGURATION_OBJECT_REVISION_1: USHORT = 0x18;
/// `NDIS_CONFIG_FLAG_FILTER_INSTANCE_CONFIGURATION` (monitoring filter drivers only).
pub const NDIS_CONFIG_FLAG_FILTER_INSTANCE_CONFIGURATION: ULONG = 1;

/// `NDIS_PARAMETER_TYPE` (a C enum: 4 bytes).
pub type NDIS_PARAMETER_TYPE = NDIS_ENUM;
/// A decimal integer (REG_DWORD, or a REG_SZ NDIS converted as base 10).
pub const NdisParameterInteger: NDIS_PARAMETER_TYPE = 0;
/// A hexadecimal integer (a REG_SZ NDIS converted as base 16).
pub const NdisParameterHexInteger: NDIS_PARAMETER_TYPE = 1;
/// A string (REG_SZ): `StringData`.
pub const NdisParameterString: NDIS_PARAMETER_TYPE = 2;
/// A multi-string (REG_MULTI_SZ): `StringData`.
pub const NdisParameterMultiString: NDIS_PARAMETER_TYPE = 3;
/// Binary data (REG_BINARY): `BinaryData`.
pub const NdisParameterBinary: NDIS_PARAMETER_TYPE = 4;

/// `BINARY_DATA`: the binary form of a configuration parameter.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BINARY_DATA {
    /// Bytes at `Buffer`.
    pub Length: USHORT,
    /// The data.
    pub Buffer: PVOID,
}
assert_layout!(BINARY_DATA, size 0x10, { Length: 0x0, Buffer: 0x8 });

/// The unnamed `ParameterData` union of `NDIS_CONFIGURATION_PARAMETER`: which member is valid
/// depends on `ParameterType`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union NDIS_CONFIGURATION_PARAMETER_DATA {
    /// `NdisParameterInteger`, `NdisParameterHexInteger`.
    pub IntegerData: ULONG,
    /// `NdisParameterString`, `NdisParameterMultiString`.
    pub StringData: NDIS_STRING,
    /// `NdisParameterBinary`.
    pub BinaryData: BINARY_DATA,
}
assert_layout!(NDIS_CONFIGURATION_PARAMETER_DATA, size 0x10, {
    IntegerData: 0x0, StringData: 0x0, BinaryData: 0x0,
});

/// `NDIS_CONFIGURATION_PARAMETER`: one value NdisReadConfiguration returns. NDIS allocates
/// it (and a string's characters); both stay valid only until NdisCloseConfiguration of the
/// handle it was read with.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_CONFIGURATION_PARAMETER {
    /// Which member of `ParameterData` is valid.
    pub ParameterType: NDIS_PARAMETER_TYPE,
    /// The value (8-byte aligned: the union holds pointers).
    pub ParameterData: NDIS_CONFIGURATION_PARAMETER_DATA,
}
assert_layout!(NDIS_CONFIGURATION_PARAMETER, size 0x18, {
    ParameterType: 0x0,
    ParameterData: 0x8,
    ParameterData.IntegerData: 0x8,
    ParameterData.StringData: 0x8,
    ParameterData.BinaryData: 0x8,
});
