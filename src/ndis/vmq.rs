//! VMQ / receive-filter structures (ntddndis.h; spec §3.2, §3.6–§3.9). These arrive in OID
//! information buffers, so the driver parses them as bytes with checked lengths and offsets; the
//! `#[repr(C)]` definitions here are the layout reference those parsers use (`offset_of!`) and
//! the form in which the driver writes its own copies.

use super::{
    GROUP_AFFINITY, NDIS_OBJECT_HEADER, NDIS_RECEIVE_FILTER_ID, NDIS_RECEIVE_QUEUE_GROUP_ID,
    NDIS_RECEIVE_QUEUE_ID, NDIS_STATUS, ULONG, USHORT, WCHAR, assert_layout,
};

/// `NDIS_RECEIVE_FILTER_CAPABILITIES` (revision 2 for NDIS 6.30: `Size` 0x54).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RECEIVE_FILTER_CAPABILITIES {
    /// `{0x80, 2, 0x54}` (revision 1: 0x38).
    pub Header: NDIS_OBJECT_HEADER,
    /// 0.
    pub Flags: ULONG,
    /// `NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED`.
    pub EnabledFilterTypes: ULONG,
    /// `NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED`.
    pub EnabledQueueTypes: ULONG,
    /// Non-default VM queues.
    pub NumQueues: ULONG,
    /// `NDIS_RECEIVE_FILTER_*_SUPPORTED` queue properties (MSI-X, coalescing, affinity change).
    pub SupportedQueueProperties: ULONG,
    /// `NDIS_RECEIVE_FILTER_TEST_HEADER_FIELD_*_SUPPORTED`.
    pub SupportedFilterTests: ULONG,
    /// `NDIS_RECEIVE_FILTER_MAC_HEADER_SUPPORTED`.
    pub SupportedHeaders: ULONG,
    /// `NDIS_RECEIVE_FILTER_MAC_HEADER_*_SUPPORTED`.
    pub SupportedMacHeaderFields: ULONG,
    /// Total MAC header filters.
    pub MaxMacHeaderFilters: ULONG,
    /// Reserved (0).
    pub MaxQueueGroups: ULONG,
    /// Reserved (0).
    pub MaxQueuesPerQueueGroup: ULONG,
    /// 0 on NDIS 6.30.
    pub MinLookaheadSplitSize: ULONG,
    /// 0 on NDIS 6.30 (end of revision 1).
    pub MaxLookaheadSplitSize: ULONG,
    /// Revision 2.
    pub SupportedARPHeaderFields: ULONG,
    /// Revision 2.
    pub SupportedIPv4HeaderFields: ULONG,
    /// Revision 2.
    pub SupportedIPv6HeaderFields: ULONG,
    /// Revision 2.
    pub SupportedUdpHeaderFields: ULONG,
    /// Revision 2.
    pub MaxFieldTestsPerPacketCoalescingFilter: ULONG,
    /// Revision 2.
    pub MaxPacketCoalescingFilters: ULONG,
    /// Revision 2 (end).
    pub NdisReserved: ULONG,
}
assert_layout!(NDIS_RECEIVE_FILTER_CAPABILITIES, size 0x54, {
    Header: 0x0, Flags: 0x4, EnabledFilterTypes: 0x8, EnabledQueueTypes: 0xC, NumQueues: 0x10,
    SupportedQueueProperties: 0x14, SupportedFilterTests: 0x18, SupportedHeaders: 0x1C,
    SupportedMacHeaderFields: 0x20, MaxMacHeaderFilters: 0x24, MaxQueueGroups: 0x28,
    MaxQueuesPerQueueGroup: 0x2C, MinLookaheadSplitSize: 0x30, MaxLookaheadSplitSize: 0x34,
    SupportedARPHeaderFields: 0x38, SupportedIPv4HeaderFields: 0x3C,
    SupportedIPv6HeaderFields: 0x40, SupportedUdpHeaderFields: 0x44,
    MaxFieldTestsPerPacketCoalescingFilter: 0x48, MaxPacketCoalescingFilters: 0x4C,
    NdisReserved: 0x50,
});

/// `IF_COUNTED_STRING` (`NDIS_VM_NAME`, `NDIS_QUEUE_NAME`): 0x204 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IF_COUNTED_STRING {
    /// Length in bytes.
    pub Length: USHORT,
    /// `IF_MAX_STRING_SIZE + 1` UTF-16 units.
    pub String: [WCHAR; 257],
}
assert_layout!(IF_COUNTED_STRING, size 0x204, { Length: 0x0, String: 0x2 });

/// `NDIS_RECEIVE_QUEUE_PARAMETERS` (ALLOCATE_QUEUE in/out, QUEUE_PARAMETERS set).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NDIS_RECEIVE_QUEUE_PARAMETERS {
    /// `{0x80, 1..3, 0x43C/0x444/0x448}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `NDIS_RECEIVE_QUEUE_PARAMETERS_*`.
    pub Flags: ULONG,
    /// `NDIS_RECEIVE_QUEUE_TYPE` (`NdisReceiveQueueTypeVMQueue` = 1).
    pub QueueType: ULONG,
    /// Assigned by NDIS; never 0 for a VM queue.
    pub QueueId: NDIS_RECEIVE_QUEUE_ID,
    /// Reserved.
    pub QueueGroupId: NDIS_RECEIVE_QUEUE_GROUP_ID,
    /// Processors for the queue's interrupts and DPCs.
    pub ProcessorAffinity: GROUP_AFFINITY,
    /// Suggested receive buffers.
    pub NumSuggestedReceiveBuffers: ULONG,
    /// The MSI-X table entry serving the queue.
    pub MSIXTableEntry: ULONG,
    /// Always 0 on NDIS 6.30 (no lookahead split).
    pub LookaheadSize: ULONG,
    /// `NDIS_VM_NAME`.
    pub VmName: IF_COUNTED_STRING,
    /// `NDIS_QUEUE_NAME` (end of revision 1).
    pub QueueName: IF_COUNTED_STRING,
    /// Revision 2.
    pub PortId: ULONG,
    /// Revision 2 (end): reserved for NDIS.
    pub InterruptCoalescingDomainId: ULONG,
    /// Revision 3 (NDIS 6.50).
    pub QosSqId: ULONG,
}
assert_layout!(NDIS_RECEIVE_QUEUE_PARAMETERS, size 0x448, {
    Header: 0x0, Flags: 0x4, QueueType: 0x8, QueueId: 0xC, QueueGroupId: 0x10,
    ProcessorAffinity: 0x18, NumSuggestedReceiveBuffers: 0x28, MSIXTableEntry: 0x2C,
    LookaheadSize: 0x30, VmName: 0x34, QueueName: 0x238, PortId: 0x43C,
    InterruptCoalescingDomainId: 0x440, QosSqId: 0x444,
});

/// `NDIS_RECEIVE_FILTER_PARAMETERS` (SET_FILTER in/out).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RECEIVE_FILTER_PARAMETERS {
    /// `{0x80, 1 or 2, 0x24/0x2C}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// Flags.
    pub Flags: ULONG,
    /// `NDIS_RECEIVE_FILTER_TYPE` (`NdisReceiveFilterTypeVMQueue` = 1).
    pub FilterType: ULONG,
    /// Queue the filter routes to (0 = default).
    pub QueueId: NDIS_RECEIVE_QUEUE_ID,
    /// Assigned by NDIS, unique per adapter.
    pub FilterId: NDIS_RECEIVE_FILTER_ID,
    /// Offset of the field array from the start of the information buffer.
    pub FieldParametersArrayOffset: ULONG,
    /// Number of field tests (ANDed).
    pub FieldParametersArrayNumElements: ULONG,
    /// Stride of the field array.
    pub FieldParametersArrayElementSize: ULONG,
    /// Revision 1 (end).
    pub RequestedFilterIdBitCount: ULONG,
    /// Revision 2: packet coalescing only.
    pub MaxCoalescingDelay: ULONG,
    /// Revision 2 (end): 0 for VMQ.
    pub VPortId: ULONG,
}
assert_layout!(NDIS_RECEIVE_FILTER_PARAMETERS, size 0x2C, {
    Header: 0x0, Flags: 0x4, FilterType: 0x8, QueueId: 0xC, FilterId: 0x10,
    FieldParametersArrayOffset: 0x14, FieldParametersArrayNumElements: 0x18,
    FieldParametersArrayElementSize: 0x1C, RequestedFilterIdBitCount: 0x20,
    MaxCoalescingDelay: 0x24, VPortId: 0x28,
});

/// `FieldValue` / `ResultValue` union of a receive-filter field test (16 bytes, 8-aligned).
#[repr(C)]
#[derive(Clone, Copy)]
pub union NDIS_RECEIVE_FILTER_FIELD_VALUE {
    /// One byte.
    pub FieldByteValue: u8,
    /// Two bytes (the VLAN id).
    pub FieldShortValue: u16,
    /// Four bytes.
    pub FieldLongValue: u32,
    /// Eight bytes.
    pub FieldLong64Value: u64,
    /// Up to 16 bytes (a MAC address in the first 6).
    pub FieldByteArrayValue: [u8; 16],
}
assert_layout!(NDIS_RECEIVE_FILTER_FIELD_VALUE, size 0x10, {
    FieldByteValue: 0x0, FieldShortValue: 0x0, FieldLongValue: 0x0, FieldLong64Value: 0x0,
    FieldByteArrayValue: 0x0,
});

/// `NDIS_RECEIVE_FILTER_FIELD_PARAMETERS`: one header-field test of a filter.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NDIS_RECEIVE_FILTER_FIELD_PARAMETERS {
    /// `{0x80, 1 or 2, 0x38}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO`.
    pub Flags: ULONG,
    /// `NDIS_FRAME_HEADER` (`NdisFrameHeaderMac` = 1).
    pub FrameHeader: ULONG,
    /// `NDIS_RECEIVE_FILTER_TEST` (`NdisReceiveFilterTestEqual` = 1).
    pub ReceiveFilterTest: ULONG,
    /// `NDIS_MAC_HEADER_FIELD` (destination address 1, VLAN id 4).
    pub HeaderField: ULONG,
    /// The value to compare with.
    pub FieldValue: NDIS_RECEIVE_FILTER_FIELD_VALUE,
    /// Mask or result value (unused by equality tests).
    pub ResultValue: NDIS_RECEIVE_FILTER_FIELD_VALUE,
}
assert_layout!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, size 0x38, {
    Header: 0x0, Flags: 0x4, FrameHeader: 0x8, ReceiveFilterTest: 0xC, HeaderField: 0x10,
    FieldValue: 0x18, ResultValue: 0x28,
});

/// `NDIS_RECEIVE_QUEUE_FREE_PARAMETERS` (FREE_QUEUE).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RECEIVE_QUEUE_FREE_PARAMETERS {
    /// `{0x80, 1, 0x0C}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// 0.
    pub Flags: ULONG,
    /// The queue to free.
    pub QueueId: NDIS_RECEIVE_QUEUE_ID,
}
assert_layout!(NDIS_RECEIVE_QUEUE_FREE_PARAMETERS, size 0xC, {
    Header: 0x0, Flags: 0x4, QueueId: 0x8,
});

/// `NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS` (CLEAR_FILTER).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS {
    /// `{0x80, 1, 0x10}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// 0.
    pub Flags: ULONG,
    /// Queue of the filter.
    pub QueueId: NDIS_RECEIVE_QUEUE_ID,
    /// The filter to clear.
    pub FilterId: NDIS_RECEIVE_FILTER_ID,
}
assert_layout!(NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, size 0x10, {
    Header: 0x0, Flags: 0x4, QueueId: 0x8, FilterId: 0xC,
});

/// `NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY` (QUEUE_ALLOCATION_COMPLETE header).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY {
    /// `{0x80, 1, 0x14}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// 0.
    pub Flags: ULONG,
    /// Offset of the first element from the start of this structure.
    pub FirstElementOffset: ULONG,
    /// Number of elements.
    pub NumElements: ULONG,
    /// Stride.
    pub ElementSize: ULONG,
}
assert_layout!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, size 0x14, {
    Header: 0x0, Flags: 0x4, FirstElementOffset: 0x8, NumElements: 0xC, ElementSize: 0x10,
});

/// `NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS`: one queue to finish.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS {
    /// `{0x80, 1, 0x10}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// 0.
    pub Flags: ULONG,
    /// The queue.
    pub QueueId: NDIS_RECEIVE_QUEUE_ID,
    /// Out: per-queue result.
    pub CompletionStatus: NDIS_STATUS,
}
assert_layout!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, size 0x10, {
    Header: 0x0, Flags: 0x4, QueueId: 0x8, CompletionStatus: 0xC,
});

/// `NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS {
    /// `{0x80, 1, 0x10}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// 0.
    pub Flags: ULONG,
    /// `NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED` …
    pub EnabledFilterTypes: ULONG,
    /// `NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED` …
    pub EnabledQueueTypes: ULONG,
}
assert_layout!(NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS, size 0x10, {
    Header: 0x0, Flags: 0x4, EnabledFilterTypes: 0x8, EnabledQueueTypes: 0xC,
});

/// `NDIS_RECEIVE_QUEUE_STATE` (status `NDIS_STATUS_RECEIVE_QUEUE_STATE`, FREE_QUEUE step 2).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RECEIVE_QUEUE_STATE {
    /// `{0x80, 1, 0x10}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// 0.
    pub Flags: ULONG,
    /// The queue.
    pub QueueId: NDIS_RECEIVE_QUEUE_ID,
    /// `NDIS_RECEIVE_QUEUE_OPERATIONAL_STATE`.
    pub QueueState: ULONG,
}
assert_layout!(NDIS_RECEIVE_QUEUE_STATE, size 0x10, {
    Header: 0x0, Flags: 0x4, QueueId: 0x8, QueueState: 0xC,
});

/// `NDIS_MSIX_CONFIG_PARAMETERS` (NdisMConfigMSIXTableEntry).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_MSIX_CONFIG_PARAMETERS {
    /// `{0x80, 1, 0x10}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// `NDIS_MSIX_TABLE_OPERATION`.
    pub ConfigOperation: ULONG,
    /// The NIC's MSI-X table entry.
    pub TableEntry: ULONG,
    /// The message (SetTableEntry only).
    pub MessageNumber: ULONG,
}
assert_layout!(NDIS_MSIX_CONFIG_PARAMETERS, size 0x10, {
    Header: 0x0, ConfigOperation: 0x4, TableEntry: 0x8, MessageNumber: 0xC,
});

/// `NDIS_RECEIVE_THROTTLE_PARAMETERS` (DPC handler argument; no header). `Flags` bit 0 is
/// `MoreNblsPending`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RECEIVE_THROTTLE_PARAMETERS {
    /// Indicate at most this many NBLs in this DPC.
    pub MaxNblsToIndicate: ULONG,
    /// Bit 0: `MoreNblsPending`.
    pub Flags: ULONG,
}
assert_layout!(NDIS_RECEIVE_THROTTLE_PARAMETERS, size 0x8, { MaxNblsToIndicate: 0x0, Flags: 0x4 });
