//! `NDIS_OID_REQUEST` (spec §3.13): the request MiniportOidRequest receives. Its `DATA` union has
//! three views (query, set, method); the `RequestType` says which one is live.

use super::{
    NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_OID, NDIS_PORT_NUMBER, PVOID, UCHAR, ULONG, USHORT,
    assert_layout,
};

/// `DATA.QUERY_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_OID_QUERY_INFORMATION {
    /// The OID.
    pub Oid: NDIS_OID,
    /// Output buffer.
    pub InformationBuffer: PVOID,
    /// Its length.
    pub InformationBufferLength: ULONG,
    /// Out: bytes written.
    pub BytesWritten: ULONG,
    /// Out: bytes needed when the buffer is too short.
    pub BytesNeeded: ULONG,
}
assert_layout!(NDIS_OID_QUERY_INFORMATION, size 0x20, {
    Oid: 0x0, InformationBuffer: 0x8, InformationBufferLength: 0x10, BytesWritten: 0x14,
    BytesNeeded: 0x18,
});

/// `DATA.SET_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_OID_SET_INFORMATION {
    /// The OID.
    pub Oid: NDIS_OID,
    /// Input buffer.
    pub InformationBuffer: PVOID,
    /// Its length.
    pub InformationBufferLength: ULONG,
    /// Out: bytes read.
    pub BytesRead: ULONG,
    /// Out: bytes needed when the buffer is too short.
    pub BytesNeeded: ULONG,
}
assert_layout!(NDIS_OID_SET_INFORMATION, size 0x20, {
    Oid: 0x0, InformationBuffer: 0x8, InformationBufferLength: 0x10, BytesRead: 0x14,
    BytesNeeded: 0x18,
});

/// `DATA.METHOD_INFORMATION`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NDIS_OID_METHOD_INFORMATION {
    /// The OID.
    pub Oid: NDIS_OID,
    /// In/out buffer.
    pub InformationBuffer: PVOID,
    /// Input length.
    pub InputBufferLength: ULONG,
    /// Output capacity.
    pub OutputBufferLength: ULONG,
    /// Method id.
    pub MethodId: ULONG,
    /// Out: bytes written.
    pub BytesWritten: ULONG,
    /// Out: bytes read.
    pub BytesRead: ULONG,
    /// Out: bytes needed.
    pub BytesNeeded: ULONG,
}
assert_layout!(NDIS_OID_METHOD_INFORMATION, size 0x28, {
    Oid: 0x0, InformationBuffer: 0x8, InputBufferLength: 0x10, OutputBufferLength: 0x14,
    MethodId: 0x18, BytesWritten: 0x1C, BytesRead: 0x20, BytesNeeded: 0x24,
});

/// The `DATA` union of `NDIS_OID_REQUEST` (0x28 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub union NDIS_OID_REQUEST_DATA {
    /// `NdisRequestQueryInformation` / `NdisRequestQueryStatistics`.
    pub QUERY_INFORMATION: NDIS_OID_QUERY_INFORMATION,
    /// `NdisRequestSetInformation`.
    pub SET_INFORMATION: NDIS_OID_SET_INFORMATION,
    /// `NdisRequestMethod`.
    pub METHOD_INFORMATION: NDIS_OID_METHOD_INFORMATION,
}
assert_layout!(NDIS_OID_REQUEST_DATA, size 0x28, {
    QUERY_INFORMATION: 0x0, SET_INFORMATION: 0x0, METHOD_INFORMATION: 0x0,
});

/// `NDIS_OID_REQUEST` (revision 2 for NDIS 6.30: `Size` 0xF8).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_OID_REQUEST {
    /// `{0x96, 1 or 2, 0xEC/0xF8}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `NDIS_REQUEST_TYPE`.
    pub RequestType: ULONG,
    /// Port.
    pub PortNumber: NDIS_PORT_NUMBER,
    /// Seconds.
    pub Timeout: ULONG,
    /// Identifies the request for MiniportCancelOidRequest.
    pub RequestId: PVOID,
    /// NDIS's handle.
    pub RequestHandle: NDIS_HANDLE,
    /// The query/set/method view.
    pub DATA: NDIS_OID_REQUEST_DATA,
    /// Reserved for NDIS.
    pub NdisReserved: [UCHAR; 128],
    /// Scratch for the miniport while it owns the request (two pointers).
    pub MiniportReserved: [UCHAR; 16],
    /// Reserved for the source.
    pub SourceReserved: [UCHAR; 16],
    /// Revision the source supports.
    pub SupportedRevision: UCHAR,
    /// Reserved.
    pub Reserved1: UCHAR,
    /// Reserved (end of revision 1).
    pub Reserved2: USHORT,
    /// Revision 2.
    pub SwitchId: ULONG,
    /// Revision 2.
    pub VPortId: ULONG,
    /// Revision 2 (end).
    pub Flags: ULONG,
}
assert_layout!(NDIS_OID_REQUEST, size 0xF8, {
    Header: 0x0, RequestType: 0x4, PortNumber: 0x8, Timeout: 0xC, RequestId: 0x10,
    RequestHandle: 0x18, DATA: 0x20,
    DATA.QUERY_INFORMATION.Oid: 0x20, DATA.QUERY_INFORMATION.InformationBuffer: 0x28,
    DATA.QUERY_INFORMATION.InformationBufferLength: 0x30,
    DATA.QUERY_INFORMATION.BytesWritten: 0x34, DATA.QUERY_INFORMATION.BytesNeeded: 0x38,
    DATA.SET_INFORMATION.InformationBufferLength: 0x30, DATA.SET_INFORMATION.BytesRead: 0x34,
    DATA.SET_INFORMATION.BytesNeeded: 0x38,
    DATA.METHOD_INFORMATION.InputBufferLength: 0x30,
    DATA.METHOD_INFORMATION.OutputBufferLength: 0x34, DATA.METHOD_INFORMATION.MethodId: 0x38,
    DATA.METHOD_INFORMATION.BytesWritten: 0x3C, DATA.METHOD_INFORMATION.BytesRead: 0x40,
    DATA.METHOD_INFORMATION.BytesNeeded: 0x44,
    NdisReserved: 0x48, MiniportReserved: 0xC8, SourceReserved: 0xD8, SupportedRevision: 0xE8,
    Reserved1: 0xE9, Reserved2: 0xEA, SwitchId: 0xEC, VPortId: 0xF0, Flags: 0xF4,
});
