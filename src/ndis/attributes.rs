//! Characteristics and attribute structures of the miniport lifecycle (spec §3.3, §3.10–§3.12,
//! §3.14, §3.15): what DriverEntry, MiniportSetOptions, MiniportAddDevice and
//! MiniportInitializeEx hand to NDIS, and what NDIS hands back.

use super::{
    BOOLEAN, IO_INTERRUPT_MESSAGE_INFO, MINIPORT_ADD_DEVICE, MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE,
    MINIPORT_CANCEL_DIRECT_OID_REQUEST, MINIPORT_CANCEL_OID_REQUEST, MINIPORT_CANCEL_SEND,
    MINIPORT_CHECK_FOR_HANG, MINIPORT_DEVICE_PNP_EVENT_NOTIFY, MINIPORT_DIRECT_OID_REQUEST,
    MINIPORT_DISABLE_INTERRUPT, MINIPORT_DISABLE_MESSAGE_INTERRUPT, MINIPORT_ENABLE_INTERRUPT,
    MINIPORT_ENABLE_MESSAGE_INTERRUPT, MINIPORT_HALT, MINIPORT_INITIALIZE, MINIPORT_INTERRUPT_DPC,
    MINIPORT_ISR, MINIPORT_MESSAGE_INTERRUPT, MINIPORT_MESSAGE_INTERRUPT_DPC, MINIPORT_OID_REQUEST,
    MINIPORT_PAUSE, MINIPORT_PNP_IRP, MINIPORT_PROCESS_SG_LIST, MINIPORT_REMOVE_DEVICE,
    MINIPORT_RESET, MINIPORT_RESTART, MINIPORT_RETURN_NET_BUFFER_LISTS,
    MINIPORT_SEND_NET_BUFFER_LISTS, MINIPORT_SET_OPTIONS, MINIPORT_SHUTDOWN,
    MINIPORT_SYNCHRONOUS_OID_REQUEST, MINIPORT_UNLOAD, NDIS_HANDLE, NDIS_OBJECT_HEADER,
    NDIS_PORT_NUMBER, NDIS_RECEIVE_FILTER_CAPABILITIES, NDIS_RECEIVE_QUEUE_ID, NDIS_STATUS,
    NODE_REQUIREMENT, PVOID, UCHAR, ULONG, ULONG64, USHORT, assert_layout,
};

/// `GUID`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GUID {
    /// First 4 bytes.
    pub Data1: ULONG,
    /// Next 2 bytes.
    pub Data2: USHORT,
    /// Next 2 bytes.
    pub Data3: USHORT,
    /// Last 8 bytes.
    pub Data4: [UCHAR; 8],
}
assert_layout!(GUID, size 0x10, { Data1: 0x0, Data2: 0x4, Data3: 0x6, Data4: 0x8 });

// ---------------------------------------------------------------------------------------------
// DriverEntry / MiniportSetOptions (§3.14.1, §3.10)
// ---------------------------------------------------------------------------------------------

/// `NDIS_MINIPORT_DRIVER_CHARACTERISTICS` (revision 2 for NDIS 6.30: `Size` 0x98).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    /// `{0x8A, 2, 0x98}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// 6.
    pub MajorNdisVersion: UCHAR,
    /// 30.
    pub MinorNdisVersion: UCHAR,
    /// Driver version, major.
    pub MajorDriverVersion: UCHAR,
    /// Driver version, minor.
    pub MinorDriverVersion: UCHAR,
    /// 0.
    pub Flags: ULONG,
    /// MiniportSetOptions (registers the PnP characteristics).
    pub SetOptionsHandler: Option<MINIPORT_SET_OPTIONS>,
    /// MiniportInitializeEx.
    pub InitializeHandlerEx: Option<MINIPORT_INITIALIZE>,
    /// MiniportHaltEx.
    pub HaltHandlerEx: Option<MINIPORT_HALT>,
    /// MiniportDriverUnload.
    pub UnloadHandler: Option<MINIPORT_UNLOAD>,
    /// MiniportPause.
    pub PauseHandler: Option<MINIPORT_PAUSE>,
    /// MiniportRestart.
    pub RestartHandler: Option<MINIPORT_RESTART>,
    /// MiniportOidRequest.
    pub OidRequestHandler: Option<MINIPORT_OID_REQUEST>,
    /// MiniportSendNetBufferLists.
    pub SendNetBufferListsHandler: Option<MINIPORT_SEND_NET_BUFFER_LISTS>,
    /// MiniportReturnNetBufferLists.
    pub ReturnNetBufferListsHandler: Option<MINIPORT_RETURN_NET_BUFFER_LISTS>,
    /// MiniportCancelSend.
    pub CancelSendHandler: Option<MINIPORT_CANCEL_SEND>,
    /// MiniportCheckForHangEx (optional; needs ResetHandlerEx too).
    pub CheckForHangHandlerEx: Option<MINIPORT_CHECK_FOR_HANG>,
    /// MiniportResetEx (optional).
    pub ResetHandlerEx: Option<MINIPORT_RESET>,
    /// MiniportDevicePnPEventNotify.
    pub DevicePnPEventNotifyHandler: Option<MINIPORT_DEVICE_PNP_EVENT_NOTIFY>,
    /// MiniportShutdownEx.
    pub ShutdownHandlerEx: Option<MINIPORT_SHUTDOWN>,
    /// MiniportCancelOidRequest (end of revision 1).
    pub CancelOidRequestHandler: Option<MINIPORT_CANCEL_OID_REQUEST>,
    /// Revision 2: MiniportDirectOidRequest.
    pub DirectOidRequestHandler: Option<MINIPORT_DIRECT_OID_REQUEST>,
    /// Revision 2: MiniportCancelDirectOidRequest (end of revision 2).
    pub CancelDirectOidRequestHandler: Option<MINIPORT_CANCEL_DIRECT_OID_REQUEST>,
    /// Revision 3 (NDIS 6.80): MiniportSynchronousOidRequest.
    pub SynchronousOidRequestHandler: Option<MINIPORT_SYNCHRONOUS_OID_REQUEST>,
}
assert_layout!(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, size 0xA0, {
    Header: 0x0, MajorNdisVersion: 0x4, MinorNdisVersion: 0x5, MajorDriverVersion: 0x6,
    MinorDriverVersion: 0x7, Flags: 0x8, SetOptionsHandler: 0x10, InitializeHandlerEx: 0x18,
    HaltHandlerEx: 0x20, UnloadHandler: 0x28, PauseHandler: 0x30, RestartHandler: 0x38,
    OidRequestHandler: 0x40, SendNetBufferListsHandler: 0x48, ReturnNetBufferListsHandler: 0x50,
    CancelSendHandler: 0x58, CheckForHangHandlerEx: 0x60, ResetHandlerEx: 0x68,
    DevicePnPEventNotifyHandler: 0x70, ShutdownHandlerEx: 0x78, CancelOidRequestHandler: 0x80,
    DirectOidRequestHandler: 0x88, CancelDirectOidRequestHandler: 0x90,
    SynchronousOidRequestHandler: 0x98,
});

/// `NDIS_MINIPORT_PNP_CHARACTERISTICS` (`Size` 0x2C, the SIZEOF macro; `size_of` is 0x30).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct NDIS_MINIPORT_PNP_CHARACTERISTICS {
    /// `{0x92, 1, 0x2C}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// MiniportAddDevice.
    pub MiniportAddDeviceHandler: Option<MINIPORT_ADD_DEVICE>,
    /// MiniportRemoveDevice.
    pub MiniportRemoveDeviceHandler: Option<MINIPORT_REMOVE_DEVICE>,
    /// MiniportFilterResourceRequirements.
    pub MiniportFilterResourceRequirementsHandler: Option<MINIPORT_PNP_IRP>,
    /// MiniportStartDevice.
    pub MiniportStartDeviceHandler: Option<MINIPORT_PNP_IRP>,
    /// 0.
    pub Flags: ULONG,
}
assert_layout!(NDIS_MINIPORT_PNP_CHARACTERISTICS, size 0x30, {
    Header: 0x0, MiniportAddDeviceHandler: 0x8, MiniportRemoveDeviceHandler: 0x10,
    MiniportFilterResourceRequirementsHandler: 0x18, MiniportStartDeviceHandler: 0x20,
    Flags: 0x28,
});

// ---------------------------------------------------------------------------------------------
// Attributes set with NdisMSetMiniportAttributes (§3.14.2, §3.14.3, §3.15, §3.3)
// ---------------------------------------------------------------------------------------------

/// `NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES` (MiniportAddDevice).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES {
    /// `{0xA4, 1, 0x14}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// The add-device context NDIS passes to the PnP handlers.
    pub MiniportAddDeviceContext: NDIS_HANDLE,
    /// 0.
    pub Flags: ULONG,
}
assert_layout!(NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES, size 0x18, {
    Header: 0x0, MiniportAddDeviceContext: 0x8, Flags: 0x10,
});

/// `NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES` (first attributes of MiniportInitializeEx).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
    /// `{0x9E, 1 or 2, 0x1C}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// The adapter context NDIS passes to every Miniport* handler.
    pub MiniportAdapterContext: NDIS_HANDLE,
    /// `NDIS_MINIPORT_ATTRIBUTES_*`.
    pub AttributeFlags: ULONG,
    /// 0 = NDIS default.
    pub CheckForHangTimeInSeconds: ULONG,
    /// `NDIS_INTERFACE_TYPE` (`NdisInterfacePci` = 5).
    pub InterfaceType: ULONG,
}
assert_layout!(NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, size 0x20, {
    Header: 0x0, MiniportAdapterContext: 0x8, AttributeFlags: 0x10,
    CheckForHangTimeInSeconds: 0x14, InterfaceType: 0x18,
});

/// `NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES` (second attributes of MiniportInitializeEx).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
    /// `{0x9F, 2, 0xE0}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// Flags.
    pub Flags: ULONG,
    /// `NdisMedium802_3`.
    pub MediaType: ULONG,
    /// `NdisPhysicalMedium802_3`.
    pub PhysicalMediumType: ULONG,
    /// MTU (1500).
    pub MtuSize: ULONG,
    /// Bits per second.
    pub MaxXmitLinkSpeed: ULONG64,
    /// Bits per second.
    pub XmitLinkSpeed: ULONG64,
    /// Bits per second.
    pub MaxRcvLinkSpeed: ULONG64,
    /// Bits per second.
    pub RcvLinkSpeed: ULONG64,
    /// `NDIS_MEDIA_CONNECT_STATE`.
    pub MediaConnectState: ULONG,
    /// `NDIS_MEDIA_DUPLEX_STATE`.
    pub MediaDuplexState: ULONG,
    /// Lookahead size.
    pub LookaheadSize: ULONG,
    /// `PNDIS_PM_CAPABILITIES`.
    pub PowerManagementCapabilities: PVOID,
    /// `NDIS_MAC_OPTION_*`.
    pub MacOptions: ULONG,
    /// `NDIS_PACKET_TYPE_*`.
    pub SupportedPacketFilters: ULONG,
    /// Multicast list capacity.
    pub MaxMulticastListSize: ULONG,
    /// 6.
    pub MacAddressLength: USHORT,
    /// Permanent MAC (first `MacAddressLength` bytes).
    pub PermanentMacAddress: [UCHAR; 32],
    /// Current MAC.
    pub CurrentMacAddress: [UCHAR; 32],
    /// `PNDIS_RECEIVE_SCALE_CAPABILITIES`.
    pub RecvScaleCapabilities: PVOID,
    /// `NET_IF_ACCESS_TYPE`.
    pub AccessType: ULONG,
    /// `NET_IF_DIRECTION_TYPE`.
    pub DirectionType: ULONG,
    /// `NET_IF_CONNECTION_TYPE`.
    pub ConnectionType: ULONG,
    /// `NET_IFTYPE` (`IF_TYPE_ETHERNET_CSMACD` = 6).
    pub IfType: USHORT,
    /// TRUE for a physical adapter.
    pub IfConnectorPresent: BOOLEAN,
    /// `NDIS_STATISTICS_*_SUPPORTED`.
    pub SupportedStatistics: ULONG,
    /// `NDIS_PAUSE_*`.
    pub SupportedPauseFunctions: ULONG,
    /// Data backfill.
    pub DataBackFillSize: ULONG,
    /// Context backfill.
    pub ContextBackFillSize: ULONG,
    /// `PNDIS_OID`: the OIDs the miniport supports.
    pub SupportedOidList: *mut u32,
    /// Length of `SupportedOidList` in bytes.
    pub SupportedOidListLength: ULONG,
    /// `NDIS_LINK_STATE_*_AUTO_NEGOTIATED` (end of revision 1).
    pub AutoNegotiationFlags: ULONG,
    /// Revision 2: `PNDIS_PM_CAPABILITIES`.
    pub PowerManagementCapabilitiesEx: PVOID,
}
assert_layout!(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, size 0xE0, {
    Header: 0x0, Flags: 0x4, MediaType: 0x8, PhysicalMediumType: 0xC, MtuSize: 0x10,
    MaxXmitLinkSpeed: 0x18, XmitLinkSpeed: 0x20, MaxRcvLinkSpeed: 0x28, RcvLinkSpeed: 0x30,
    MediaConnectState: 0x38, MediaDuplexState: 0x3C, LookaheadSize: 0x40,
    PowerManagementCapabilities: 0x48, MacOptions: 0x50, SupportedPacketFilters: 0x54,
    MaxMulticastListSize: 0x58, MacAddressLength: 0x5C, PermanentMacAddress: 0x5E,
    CurrentMacAddress: 0x7E, RecvScaleCapabilities: 0xA0, AccessType: 0xA8, DirectionType: 0xAC,
    ConnectionType: 0xB0, IfType: 0xB4, IfConnectorPresent: 0xB6, SupportedStatistics: 0xB8,
    SupportedPauseFunctions: 0xBC, DataBackFillSize: 0xC0, ContextBackFillSize: 0xC4,
    SupportedOidList: 0xC8, SupportedOidListLength: 0xD0, AutoNegotiationFlags: 0xD4,
    PowerManagementCapabilitiesEx: 0xD8,
});

/// `NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES` (revision 3 for NDIS 6.30: `Size` 0x50).
/// There is no `Flags` field: four bytes of padding follow the header.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES {
    /// `{0xAF, 3, 0x50}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `PNDIS_HD_SPLIT_ATTRIBUTES` (end of revision 1).
    pub HDSplitAttributes: PVOID,
    /// Revision 2: what the hardware can do (always reported in full).
    pub HardwareReceiveFilterCapabilities: *mut NDIS_RECEIVE_FILTER_CAPABILITIES,
    /// Revision 2: what is enabled now (keywords and the interrupt grant decide).
    pub CurrentReceiveFilterCapabilities: *mut NDIS_RECEIVE_FILTER_CAPABILITIES,
    /// Revision 2: `PNDIS_NIC_SWITCH_CAPABILITIES`.
    pub HardwareNicSwitchCapabilities: PVOID,
    /// Revision 2 (end): `PNDIS_NIC_SWITCH_CAPABILITIES`.
    pub CurrentNicSwitchCapabilities: PVOID,
    /// Revision 3: SR-IOV.
    pub HardwareSriovCapabilities: PVOID,
    /// Revision 3: SR-IOV.
    pub CurrentSriovCapabilities: PVOID,
    /// Revision 3: QoS.
    pub HardwareQosCapabilities: PVOID,
    /// Revision 3 (end): QoS.
    pub CurrentQosCapabilities: PVOID,
    /// Revision 4 (NDIS 6.80): GFT.
    pub HardwareGftOffloadCapabilities: PVOID,
    /// Revision 4 (NDIS 6.80): GFT.
    pub CurrentGftOffloadCapabilities: PVOID,
}
assert_layout!(NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES, size 0x60, {
    Header: 0x0, HDSplitAttributes: 0x8, HardwareReceiveFilterCapabilities: 0x10,
    CurrentReceiveFilterCapabilities: 0x18, HardwareNicSwitchCapabilities: 0x20,
    CurrentNicSwitchCapabilities: 0x28, HardwareSriovCapabilities: 0x30,
    CurrentSriovCapabilities: 0x38, HardwareQosCapabilities: 0x40, CurrentQosCapabilities: 0x48,
    HardwareGftOffloadCapabilities: 0x50, CurrentGftOffloadCapabilities: 0x58,
});

/// `NDIS_MINIPORT_INIT_PARAMETERS`: input of MiniportInitializeEx (NDIS fills it).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_MINIPORT_INIT_PARAMETERS {
    /// `{0x81, 1, …}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// Flags.
    pub Flags: ULONG,
    /// Translated resources (`PCM_RESOURCE_LIST` in the C header, but NDIS passes the partial list).
    pub AllocatedResources: *mut super::CM_PARTIAL_RESOURCE_LIST,
    /// Intermediate drivers only.
    pub IMDeviceInstanceContext: NDIS_HANDLE,
    /// The context registered in MiniportAddDevice.
    pub MiniportAddDeviceContext: NDIS_HANDLE,
    /// `NET_IFINDEX`.
    pub IfIndex: ULONG,
    /// `NET_LUID`.
    pub NetLuid: ULONG64,
    /// `PNDIS_PORT_AUTHENTICATION_PARAMETERS`.
    pub DefaultPortAuthStates: PVOID,
    /// `PNDIS_PCI_DEVICE_CUSTOM_PROPERTIES`.
    pub PciDeviceCustomProperties: PVOID,
}
assert_layout!(NDIS_MINIPORT_INIT_PARAMETERS, size 0x40, {
    Header: 0x0, Flags: 0x4, AllocatedResources: 0x8, IMDeviceInstanceContext: 0x10,
    MiniportAddDeviceContext: 0x18, IfIndex: 0x20, NetLuid: 0x28, DefaultPortAuthStates: 0x30,
    PciDeviceCustomProperties: 0x38,
});

// ---------------------------------------------------------------------------------------------
// Interrupts, DMA, status indications, shared memory (§3.11, §3.14.5, §3.14.6, §3.12)
// ---------------------------------------------------------------------------------------------

/// `NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS` (in/out of NdisMRegisterInterruptEx).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
    /// `{0x84, 1, 0x60}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// Line-based ISR (required even with MSI-X: the grant may be a line interrupt).
    pub InterruptHandler: Option<MINIPORT_ISR>,
    /// Line-based DPC.
    pub InterruptDpcHandler: Option<MINIPORT_INTERRUPT_DPC>,
    /// Line-based disable.
    pub DisableInterruptHandler: Option<MINIPORT_DISABLE_INTERRUPT>,
    /// Line-based enable.
    pub EnableInterruptHandler: Option<MINIPORT_ENABLE_INTERRUPT>,
    /// TRUE: the driver supports message-signaled interrupts.
    pub MsiSupported: BOOLEAN,
    /// FALSE: per-message synchronization (scales per queue).
    pub MsiSyncWithAllMessages: BOOLEAN,
    /// Message ISR.
    pub MessageInterruptHandler: Option<MINIPORT_MESSAGE_INTERRUPT>,
    /// Message DPC.
    pub MessageInterruptDpcHandler: Option<MINIPORT_MESSAGE_INTERRUPT_DPC>,
    /// Message disable.
    pub DisableMessageInterruptHandler: Option<MINIPORT_DISABLE_MESSAGE_INTERRUPT>,
    /// Message enable.
    pub EnableMessageInterruptHandler: Option<MINIPORT_ENABLE_MESSAGE_INTERRUPT>,
    /// Out: `NDIS_CONNECT_LINE_BASED` or `NDIS_CONNECT_MESSAGE_BASED`.
    pub InterruptType: ULONG,
    /// Out: the granted messages (message-based only; system-owned, read-only).
    pub MessageInfoTable: *mut IO_INTERRUPT_MESSAGE_INFO,
}
assert_layout!(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS, size 0x60, {
    Header: 0x0, InterruptHandler: 0x8, InterruptDpcHandler: 0x10, DisableInterruptHandler: 0x18,
    EnableInterruptHandler: 0x20, MsiSupported: 0x28, MsiSyncWithAllMessages: 0x29,
    MessageInterruptHandler: 0x30, MessageInterruptDpcHandler: 0x38,
    DisableMessageInterruptHandler: 0x40, EnableMessageInterruptHandler: 0x48,
    InterruptType: 0x50, MessageInfoTable: 0x58,
});

/// `NDIS_SG_DMA_DESCRIPTION` (in/out of NdisMRegisterScatterGatherDma).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_SG_DMA_DESCRIPTION {
    /// `{0x83, 1, 0x24}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `NDIS_SG_DMA_64_BIT_ADDRESS`.
    pub Flags: ULONG,
    /// Largest single send, in bytes.
    pub MaximumPhysicalMapping: ULONG,
    /// MiniportProcessSGList.
    pub ProcessSGListHandler: Option<MINIPORT_PROCESS_SG_LIST>,
    /// MiniportSharedMemoryAllocateComplete (NULL: synchronous allocations only).
    pub SharedMemAllocateCompleteHandler: Option<MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE>,
    /// Out: bytes needed for a scatter-gather list.
    pub ScatterGatherListSize: ULONG,
}
assert_layout!(NDIS_SG_DMA_DESCRIPTION, size 0x28, {
    Header: 0x0, Flags: 0x4, MaximumPhysicalMapping: 0x8, ProcessSGListHandler: 0x10,
    SharedMemAllocateCompleteHandler: 0x18, ScatterGatherListSize: 0x20,
});

/// `NDIS_STATUS_INDICATION` (NdisMIndicateStatusEx).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_STATUS_INDICATION {
    /// `{0x98, 1, 0x70}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// The miniport adapter handle.
    pub SourceHandle: NDIS_HANDLE,
    /// 0 (default port).
    pub PortNumber: NDIS_PORT_NUMBER,
    /// `NDIS_STATUS_*` indication code.
    pub StatusCode: NDIS_STATUS,
    /// 0.
    pub Flags: ULONG,
    /// NULL.
    pub DestinationHandle: NDIS_HANDLE,
    /// NULL unless answering an OID.
    pub RequestId: PVOID,
    /// Indication-specific buffer.
    pub StatusBuffer: PVOID,
    /// Size of `StatusBuffer`.
    pub StatusBufferSize: ULONG,
    /// Zero.
    pub Guid: GUID,
    /// Reserved for NDIS.
    pub NdisReserved: [PVOID; 4],
}
assert_layout!(NDIS_STATUS_INDICATION, size 0x70, {
    Header: 0x0, SourceHandle: 0x8, PortNumber: 0x10, StatusCode: 0x14, Flags: 0x18,
    DestinationHandle: 0x20, RequestId: 0x28, StatusBuffer: 0x30, StatusBufferSize: 0x38,
    Guid: 0x3C, NdisReserved: 0x50,
});

/// `NDIS_SHARED_MEMORY_PARAMETERS` (in/out of NdisAllocateSharedMemory).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_SHARED_MEMORY_PARAMETERS {
    /// `{0x80, 1, 0x40}` (revision 2, 0x44, adds `VPortId`).
    pub Header: NDIS_OBJECT_HEADER,
    /// `NDIS_SHARED_MEM_PARAMETERS_CONTIGOUS` or 0.
    pub Flags: ULONG,
    /// The VM queue the memory is for (0 = default queue).
    pub QueueId: NDIS_RECEIVE_QUEUE_ID,
    /// Out: handle for `NET_BUFFER_SHARED_MEMORY`.
    pub SharedMemoryHandle: NDIS_HANDLE,
    /// NUMA node, or `MM_ANY_NODE_OK`.
    pub PreferredNode: NODE_REQUIREMENT,
    /// `NDIS_SHARED_MEMORY_USAGE` (`NdisSharedMemoryUsageReceive` = 4).
    pub Usage: ULONG,
    /// Bytes.
    pub Length: ULONG,
    /// Out: where the memory is mapped.
    pub VirtualAddress: PVOID,
    /// Size of the caller's `SGListBuffer`.
    pub SGListBufferLength: ULONG,
    /// Caller-allocated `SCATTER_GATHER_LIST` (out: the physical pages; end of revision 1).
    pub SGListBuffer: PVOID,
    /// Revision 2: 0 for VMQ.
    pub VPortId: ULONG,
}
assert_layout!(NDIS_SHARED_MEMORY_PARAMETERS, size 0x48, {
    Header: 0x0, Flags: 0x4, QueueId: 0x8, SharedMemoryHandle: 0x10, PreferredNode: 0x18,
    Usage: 0x1C, Length: 0x20, VirtualAddress: 0x28, SGListBufferLength: 0x30,
    SGListBuffer: 0x38, VPortId: 0x40,
});

// ---------------------------------------------------------------------------------------------
// Link state and device PnP events (not in spec §3; layouts from ntddndis.h/ndis.h, checked
// against windows-sys where it has them: tests/abi_cross_check.rs)
// ---------------------------------------------------------------------------------------------

/// `NDIS_LINK_STATE`: the buffer of an `NDIS_STATUS_LINK_STATE` indication.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_LINK_STATE {
    /// `{NDIS_OBJECT_TYPE_DEFAULT, 1, 0x28}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `NET_IF_MEDIA_CONNECT_STATE`.
    pub MediaConnectState: ULONG,
    /// `NET_IF_MEDIA_DUPLEX_STATE`.
    pub MediaDuplexState: ULONG,
    /// Bits per second.
    pub XmitLinkSpeed: ULONG64,
    /// Bits per second.
    pub RcvLinkSpeed: ULONG64,
    /// `NDIS_SUPPORTED_PAUSE_FUNCTIONS`.
    pub PauseFunctions: ULONG,
    /// `NDIS_LINK_STATE_*_AUTO_NEGOTIATED`.
    pub AutoNegotiationFlags: ULONG,
}
assert_layout!(NDIS_LINK_STATE, size 0x28, {
    Header: 0x0, MediaConnectState: 0x4, MediaDuplexState: 0x8, XmitLinkSpeed: 0x10,
    RcvLinkSpeed: 0x18, PauseFunctions: 0x20, AutoNegotiationFlags: 0x24,
});

/// `NET_DEVICE_PNP_EVENT` as MiniportDevicePnPEventNotify receives it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NET_DEVICE_PNP_EVENT_FIELDS {
    /// `{NDIS_OBJECT_TYPE_DEFAULT, 1, …}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// Port.
    pub PortNumber: NDIS_PORT_NUMBER,
    /// `NDIS_DEVICE_PNP_EVENT`.
    pub DevicePnPEvent: ULONG,
    /// Event-specific data.
    pub InformationBuffer: PVOID,
    /// Its length.
    pub InformationBufferLength: ULONG,
    /// Reserved for NDIS.
    pub NdisReserved: [PVOID; 2],
}
assert_layout!(NET_DEVICE_PNP_EVENT_FIELDS, size 0x30, {
    Header: 0x0, PortNumber: 0x4, DevicePnPEvent: 0x8, InformationBuffer: 0x10,
    InformationBufferLength: 0x18, NdisReserved: 0x20,
});

// ---------------------------------------------------------------------------------------------
// Statistics and interrupt moderation (general OIDs; layouts from ntddndis.h, checked against
// windows-sys in tests/abi_cross_check.rs)
// ---------------------------------------------------------------------------------------------

/// `NDIS_STATISTICS_INFO`: the answer to OID_GEN_STATISTICS.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_STATISTICS_INFO {
    /// `{NDIS_OBJECT_TYPE_DEFAULT, 1, 0x98}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `NDIS_STATISTICS_FLAGS_VALID_*`: which counters below are meaningful.
    pub SupportedStatistics: ULONG,
    /// Received frames discarded.
    pub ifInDiscards: ULONG64,
    /// Received frames with errors.
    pub ifInErrors: ULONG64,
    /// Received bytes.
    pub ifHCInOctets: ULONG64,
    /// Received unicast frames.
    pub ifHCInUcastPkts: ULONG64,
    /// Received multicast frames.
    pub ifHCInMulticastPkts: ULONG64,
    /// Received broadcast frames.
    pub ifHCInBroadcastPkts: ULONG64,
    /// Sent bytes.
    pub ifHCOutOctets: ULONG64,
    /// Sent unicast frames.
    pub ifHCOutUcastPkts: ULONG64,
    /// Sent multicast frames.
    pub ifHCOutMulticastPkts: ULONG64,
    /// Sent broadcast frames.
    pub ifHCOutBroadcastPkts: ULONG64,
    /// Frames that failed to send.
    pub ifOutErrors: ULONG64,
    /// Frames discarded before sending.
    pub ifOutDiscards: ULONG64,
    /// Received unicast bytes.
    pub ifHCInUcastOctets: ULONG64,
    /// Received multicast bytes.
    pub ifHCInMulticastOctets: ULONG64,
    /// Received broadcast bytes.
    pub ifHCInBroadcastOctets: ULONG64,
    /// Sent unicast bytes.
    pub ifHCOutUcastOctets: ULONG64,
    /// Sent multicast bytes.
    pub ifHCOutMulticastOctets: ULONG64,
    /// Sent broadcast bytes.
    pub ifHCOutBroadcastOctets: ULONG64,
}
assert_layout!(NDIS_STATISTICS_INFO, size 0x98, {
    Header: 0x0, SupportedStatistics: 0x4, ifInDiscards: 0x8, ifInErrors: 0x10, ifHCInOctets: 0x18,
    ifHCInUcastPkts: 0x20, ifHCInMulticastPkts: 0x28, ifHCInBroadcastPkts: 0x30,
    ifHCOutOctets: 0x38, ifHCOutUcastPkts: 0x40, ifHCOutMulticastPkts: 0x48,
    ifHCOutBroadcastPkts: 0x50, ifOutErrors: 0x58, ifOutDiscards: 0x60,
    ifHCInUcastOctets: 0x68, ifHCInMulticastOctets: 0x70, ifHCInBroadcastOctets: 0x78,
    ifHCOutUcastOctets: 0x80, ifHCOutMulticastOctets: 0x88, ifHCOutBroadcastOctets: 0x90,
});

/// `NDIS_INTERRUPT_MODERATION_PARAMETERS`: OID_GEN_INTERRUPT_MODERATION (query and set).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_INTERRUPT_MODERATION_PARAMETERS {
    /// `{NDIS_OBJECT_TYPE_DEFAULT, 1, 0x0C}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `NDIS_INTERRUPT_MODERATION_FLAG_*`.
    pub Flags: ULONG,
    /// `NDIS_INTERRUPT_MODERATION`.
    pub InterruptModeration: ULONG,
}
assert_layout!(NDIS_INTERRUPT_MODERATION_PARAMETERS, size 0xC, {
    Header: 0x0, Flags: 0x4, InterruptModeration: 0x8,
});
