//! Callback (handler) types the driver registers with NDIS (spec §3.23), plus the few opaque
//! kernel types they mention. Every handler uses the Windows x64 calling convention
//! (`extern "system"`). Characteristics structures hold them as `Option<…>` (a nullable 8-byte
//! function pointer, the same layout as the C field).

use super::{
    BOOLEAN, IRP, NDIS_HANDLE, NDIS_MINIPORT_INIT_PARAMETERS, NDIS_OID_REQUEST, NDIS_PORT_NUMBER,
    NDIS_STATUS, NET_BUFFER_LIST, PVOID, ULONG, USHORT, WCHAR, assert_layout,
};

/// `DRIVER_OBJECT`: opaque to this driver (NDIS owns its dispatch table and unload routine).
#[repr(C)]
pub struct DRIVER_OBJECT {
    _opaque: [u8; 0],
}

/// `NET_DEVICE_PNP_EVENT` (fields in [`NET_DEVICE_PNP_EVENT_FIELDS`](super::NET_DEVICE_PNP_EVENT_FIELDS)).
pub type NET_DEVICE_PNP_EVENT = super::NET_DEVICE_PNP_EVENT_FIELDS;

/// `UNICODE_STRING` (counted UTF-16, not NUL-terminated).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UNICODE_STRING {
    /// Length in bytes, without any terminator.
    pub Length: USHORT,
    /// Capacity of `Buffer` in bytes.
    pub MaximumLength: USHORT,
    /// The characters.
    pub Buffer: *mut WCHAR,
}
assert_layout!(UNICODE_STRING, size 0x10, { Length: 0x0, MaximumLength: 0x2, Buffer: 0x8 });

/// `NDIS_HALT_ACTION` / `NDIS_SHUTDOWN_ACTION` and friends: C enums, 4 bytes.
pub type NDIS_ENUM = ULONG;

/// `MINIPORT_SET_OPTIONS`.
pub type MINIPORT_SET_OPTIONS = unsafe extern "system" fn(
    NdisDriverHandle: NDIS_HANDLE,
    DriverContext: NDIS_HANDLE,
) -> NDIS_STATUS;
/// `MINIPORT_INITIALIZE`.
pub type MINIPORT_INITIALIZE = unsafe extern "system" fn(
    NdisMiniportHandle: NDIS_HANDLE,
    MiniportDriverContext: NDIS_HANDLE,
    MiniportInitParameters: *mut NDIS_MINIPORT_INIT_PARAMETERS,
) -> NDIS_STATUS;
/// `MINIPORT_HALT`.
pub type MINIPORT_HALT =
    unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE, HaltAction: NDIS_ENUM);
/// `MINIPORT_UNLOAD`.
pub type MINIPORT_UNLOAD = unsafe extern "system" fn(DriverObject: *mut DRIVER_OBJECT);
/// `MINIPORT_PAUSE`.
pub type MINIPORT_PAUSE = unsafe extern "system" fn(
    MiniportAdapterContext: NDIS_HANDLE,
    PauseParameters: PVOID,
) -> NDIS_STATUS;
/// `MINIPORT_RESTART`.
pub type MINIPORT_RESTART = unsafe extern "system" fn(
    MiniportAdapterContext: NDIS_HANDLE,
    RestartParameters: PVOID,
) -> NDIS_STATUS;
/// `MINIPORT_OID_REQUEST`.
pub type MINIPORT_OID_REQUEST = unsafe extern "system" fn(
    MiniportAdapterContext: NDIS_HANDLE,
    OidRequest: *mut NDIS_OID_REQUEST,
) -> NDIS_STATUS;
/// `MINIPORT_SEND_NET_BUFFER_LISTS`.
pub type MINIPORT_SEND_NET_BUFFER_LISTS = unsafe extern "system" fn(
    MiniportAdapterContext: NDIS_HANDLE,
    NetBufferList: *mut NET_BUFFER_LIST,
    PortNumber: NDIS_PORT_NUMBER,
    SendFlags: ULONG,
);
/// `MINIPORT_RETURN_NET_BUFFER_LISTS`.
pub type MINIPORT_RETURN_NET_BUFFER_LISTS = unsafe extern "system" fn(
    MiniportAdapterContext: NDIS_HANDLE,
    NetBufferLists: *mut NET_BUFFER_LIST,
    ReturnFlags: ULONG,
);
/// `MINIPORT_CANCEL_SEND`.
pub type MINIPORT_CANCEL_SEND =
    unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE, CancelId: PVOID);
/// `MINIPORT_CHECK_FOR_HANG`.
pub type MINIPORT_CHECK_FOR_HANG =
    unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE) -> BOOLEAN;
/// `MINIPORT_RESET`.
pub type MINIPORT_RESET = unsafe extern "system" fn(
    MiniportAdapterContext: NDIS_HANDLE,
    AddressingReset: *mut BOOLEAN,
) -> NDIS_STATUS;
/// `MINIPORT_DEVICE_PNP_EVENT_NOTIFY`.
pub type MINIPORT_DEVICE_PNP_EVENT_NOTIFY = unsafe extern "system" fn(
    MiniportAdapterContext: NDIS_HANDLE,
    NetDevicePnPEvent: *mut NET_DEVICE_PNP_EVENT,
);
/// `MINIPORT_SHUTDOWN`.
pub type MINIPORT_SHUTDOWN =
    unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE, ShutdownAction: NDIS_ENUM);
/// `MINIPORT_CANCEL_OID_REQUEST`.
pub type MINIPORT_CANCEL_OID_REQUEST =
    unsafe extern "system" fn(MiniportAdapterContext: NDIS_HANDLE, RequestId: PVOID);
/// `MINIPORT_DIRECT_OID_REQUEST` (same shape as `MINIPORT_OID_REQUEST`).
pub type MINIPORT_DIRECT_OID_REQUEST = MINIPORT_OID_REQUEST;
/// `MINIPORT_CANCEL_DIRECT_OID_REQUEST`.
pub type MINIPORT_CANCEL_DIRECT_OID_REQUEST = MINIPORT_CANCEL_OID_REQUEST;
/// `MINIPORT_SYNCHRONOUS_OID_REQUEST` (NDIS 6.80; never registered by this driver).
pub type MINIPORT_SYNCHRONOUS_OID_REQUEST = MINIPORT_OID_REQUEST;

/// `MINIPORT_ADD_DEVICE`.
pub type MINIPORT_ADD_DEVICE = unsafe extern "system" fn(
    NdisMiniportHandle: NDIS_HANDLE,
    MiniportDriverContext: NDIS_HANDLE,
) -> NDIS_STATUS;
/// `MINIPORT_REMOVE_DEVICE`.
pub type MINIPORT_REMOVE_DEVICE = unsafe extern "system" fn(MiniportAddDeviceContext: NDIS_HANDLE);
/// `MINIPORT_PNP_IRP`: MiniportFilterResourceRequirements and MiniportStartDevice.
pub type MINIPORT_PNP_IRP =
    unsafe extern "system" fn(MiniportAddDeviceContext: NDIS_HANDLE, Irp: *mut IRP) -> NDIS_STATUS;

/// `MINIPORT_ISR` (line-based).
pub type MINIPORT_ISR = unsafe extern "system" fn(
    MiniportInterruptContext: NDIS_HANDLE,
    QueueDefaultInterruptDpc: *mut BOOLEAN,
    TargetProcessors: *mut ULONG,
) -> BOOLEAN;
/// `MINIPORT_INTERRUPT_DPC` (line-based).
pub type MINIPORT_INTERRUPT_DPC = unsafe extern "system" fn(
    MiniportInterruptContext: NDIS_HANDLE,
    MiniportDpcContext: PVOID,
    ReceiveThrottleParameters: PVOID,
    NdisReserved2: PVOID,
);
/// `MINIPORT_DISABLE_INTERRUPT`.
pub type MINIPORT_DISABLE_INTERRUPT =
    unsafe extern "system" fn(MiniportInterruptContext: NDIS_HANDLE);
/// `MINIPORT_ENABLE_INTERRUPT`.
pub type MINIPORT_ENABLE_INTERRUPT =
    unsafe extern "system" fn(MiniportInterruptContext: NDIS_HANDLE);
/// `MINIPORT_MESSAGE_INTERRUPT`.
pub type MINIPORT_MESSAGE_INTERRUPT = unsafe extern "system" fn(
    MiniportInterruptContext: NDIS_HANDLE,
    MessageId: ULONG,
    QueueDefaultInterruptDpc: *mut BOOLEAN,
    TargetProcessors: *mut ULONG,
) -> BOOLEAN;
/// `MINIPORT_MESSAGE_INTERRUPT_DPC`.
pub type MINIPORT_MESSAGE_INTERRUPT_DPC = unsafe extern "system" fn(
    MiniportInterruptContext: NDIS_HANDLE,
    MessageId: ULONG,
    MiniportDpcContext: PVOID,
    ReceiveThrottleParameters: PVOID,
    NdisReserved2: PVOID,
);
/// `MINIPORT_DISABLE_MESSAGE_INTERRUPT`.
pub type MINIPORT_DISABLE_MESSAGE_INTERRUPT =
    unsafe extern "system" fn(MiniportInterruptContext: NDIS_HANDLE, MessageId: ULONG);
/// `MINIPORT_ENABLE_MESSAGE_INTERRUPT`.
pub type MINIPORT_ENABLE_MESSAGE_INTERRUPT =
    unsafe extern "system" fn(MiniportInterruptContext: NDIS_HANDLE, MessageId: ULONG);
/// `MINIPORT_SYNCHRONIZE_INTERRUPT` (argument of NdisMSynchronizeWithInterruptEx).
pub type MINIPORT_SYNCHRONIZE_INTERRUPT =
    unsafe extern "system" fn(SynchronizeContext: PVOID) -> BOOLEAN;
/// `NDIS_IO_WORKITEM_FUNCTION`: the routine of an NDIS I/O work item (argument of
/// NdisQueueIoWorkItem). NDIS calls it once per NdisQueueIoWorkItem, in a system worker thread
/// at PASSIVE_LEVEL, with the `WorkItemContext` the driver queued it with and the work item's
/// handle (the routine may free the work item with NdisFreeIoWorkItem).
pub type NDIS_IO_WORKITEM_FUNCTION =
    unsafe extern "system" fn(WorkItemContext: PVOID, NdisIoWorkItemHandle: NDIS_HANDLE);
/// `NDIS_IO_WORKITEM_ROUTINE` (ndis.h: `typedef NDIS_IO_WORKITEM_FUNCTION
/// (*NDIS_IO_WORKITEM_ROUTINE)`): a pointer to a work-item routine, nullable as the C pointer
/// is (the same 8 bytes).
pub type NDIS_IO_WORKITEM_ROUTINE = Option<NDIS_IO_WORKITEM_FUNCTION>;
const _: () = assert!(
    size_of::<NDIS_IO_WORKITEM_ROUTINE>() == 8,
    "NDIS_IO_WORKITEM_ROUTINE is one nullable pointer"
);

/// `MINIPORT_PROCESS_SG_LIST`.
pub type MINIPORT_PROCESS_SG_LIST = unsafe extern "system" fn(
    DeviceObject: PVOID,
    Reserved: PVOID,
    ScatterGatherListBuffer: PVOID,
    Context: PVOID,
);
/// `MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE`.
pub type MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE = unsafe extern "system" fn(
    MiniportAdapterContext: NDIS_HANDLE,
    VirtualAddress: PVOID,
    PhysicalAddress: *mut i64,
    Length: ULONG,
    Context: PVOID,
);
