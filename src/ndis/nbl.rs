//! `NET_BUFFER_LIST` / `NET_BUFFER` (spec §3.20): the fields a miniport touches. NBLs and NBs are
//! allocated only by NDIS (`NdisAllocateNetBufferAndNetBufferList`); the driver never builds or
//! copies one, so these definitions are a layout of the prefix NDIS hands out.

use super::{
    NDIS_HANDLE, NDIS_STATUS, PHYSICAL_ADDRESS, PVOID, ULONG, ULONG_PTR, USHORT, assert_layout,
};

/// `MDL`: opaque here (the driver only passes MDL pointers through NDIS calls).
#[repr(C)]
pub struct MDL {
    _opaque: [u8; 0],
}

/// Entries of `NetBufferListInfo` the driver declares: indices 0 through
/// `MediaSpecificInformationEx` (15). NDIS's real array (`MaxNetBufferListInfo`) is longer and
/// grows with NDIS versions; since NBLs are never allocated or copied by the driver, only this
/// prefix needs a fixed layout.
pub const NET_BUFFER_LIST_INFO_DECLARED: usize = 16;

/// `NET_BUFFER_LIST` (16-byte aligned; prefix through `NetBufferListInfo[15]`).
#[repr(C, align(16))]
pub struct NET_BUFFER_LIST {
    /// Next NBL in a chain.
    pub Next: *mut NET_BUFFER_LIST,
    /// First NET_BUFFER (one per NBL in this driver's receive path).
    pub FirstNetBuffer: *mut NET_BUFFER,
    /// `PNET_BUFFER_LIST_CONTEXT`.
    pub Context: PVOID,
    /// Parent NBL (clones).
    pub ParentNetBufferList: *mut NET_BUFFER_LIST,
    /// Pool the NBL came from.
    pub NdisPoolHandle: NDIS_HANDLE,
    /// Padding: `NdisReserved` is `DECLSPEC_ALIGN(16)` in ndis.h.
    pub Padding0: PVOID,
    /// Reserved for NDIS (16-byte aligned).
    pub NdisReserved: [PVOID; 2],
    /// Reserved for protocols.
    pub ProtocolReserved: [PVOID; 4],
    /// The miniport's scratch while it owns the NBL.
    pub MiniportReserved: [PVOID; 2],
    /// Scratch.
    pub Scratch: PVOID,
    /// Source handle (set by NDIS for receives).
    pub SourceHandle: NDIS_HANDLE,
    /// `NBL_FLAGS_*`.
    pub NblFlags: ULONG,
    /// Child reference count.
    pub ChildRefCount: i32,
    /// NDIS flags.
    pub Flags: ULONG,
    /// Completion status of a send.
    pub Status: NDIS_STATUS,
    /// Out-of-band information (`NDIS_NET_BUFFER_LIST_INFO` indices).
    pub NetBufferListInfo: [PVOID; NET_BUFFER_LIST_INFO_DECLARED],
}
assert_layout!(NET_BUFFER_LIST, size 0x110, {
    Next: 0x0, FirstNetBuffer: 0x8, Context: 0x10, ParentNetBufferList: 0x18,
    NdisPoolHandle: 0x20, Padding0: 0x28, NdisReserved: 0x30, ProtocolReserved: 0x40, MiniportReserved: 0x60,
    Scratch: 0x70, SourceHandle: 0x78, NblFlags: 0x80, ChildRefCount: 0x84, Flags: 0x88,
    Status: 0x8C, NetBufferListInfo: 0x90,
});

/// `TcpIpChecksumNetBufferListInfo`.
pub const TcpIpChecksumNetBufferListInfo: usize = 0;
/// `Ieee8021QNetBufferListInfo`: the stripped 802.1Q tag (`NDIS_NET_BUFFER_LIST_8021Q_INFO`).
pub const Ieee8021QNetBufferListInfo: usize = 4;
/// `NetBufferListCancelId`.
pub const NetBufferListCancelId: usize = 5;
/// `NetBufferListHashValue`.
pub const NetBufferListHashValue: usize = 8;
/// `NetBufferListHashInfo`.
pub const NetBufferListHashInfo: usize = 9;
/// `NetBufferListFilteringInfo`: `NDIS_NET_BUFFER_LIST_FILTERING_INFO` (QueueId in bits 16–31).
pub const NetBufferListFilteringInfo: usize = 14;
/// `MediaSpecificInformationEx`.
pub const MediaSpecificInformationEx: usize = 15;

/// `NDIS_NET_BUFFER_LIST_FILTERING_INFO` packed into the pointer-sized info slot: `FilterId` in
/// bits 0–15, `QueueId` (or `VPortId`) in bits 16–31.
#[must_use]
pub const fn filtering_info_value(queue_id: u16, filter_id: u16) -> ULONG_PTR {
    ((queue_id as ULONG_PTR) << 16) | (filter_id as ULONG_PTR)
}

/// `NDIS_NET_BUFFER_LIST_8021Q_INFO` packed into the pointer-sized info slot: `UserPriority` in
/// bits 0–2, `CanonicalFormatId` bit 3, `VlanId` in bits 4–15.
#[must_use]
pub const fn ieee8021q_info_value(vlan_id: u16, user_priority: u8) -> ULONG_PTR {
    (((vlan_id & 0x0FFF) as ULONG_PTR) << 4) | ((user_priority & 0x7) as ULONG_PTR)
}

/// `DataLength` / `stDataLength` union of a `NET_BUFFER`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union NET_BUFFER_DATA_LENGTH {
    /// Bytes of packet data.
    pub DataLength: ULONG,
    /// The same, `SIZE_T` wide.
    pub stDataLength: usize,
}
assert_layout!(NET_BUFFER_DATA_LENGTH, size 0x8, { DataLength: 0x0, stDataLength: 0x0 });

/// `SharedMemoryInfo` / `ScatterGatherList` union of a `NET_BUFFER`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union NET_BUFFER_SHARED_MEMORY_OR_SG {
    /// Receive from VMQ shared memory.
    pub SharedMemoryInfo: *mut NET_BUFFER_SHARED_MEMORY,
    /// Send scatter-gather list.
    pub ScatterGatherList: *mut SCATTER_GATHER_LIST,
}
assert_layout!(NET_BUFFER_SHARED_MEMORY_OR_SG, size 0x8, {
    SharedMemoryInfo: 0x0, ScatterGatherList: 0x0,
});

/// `NET_BUFFER` (16-byte aligned).
#[repr(C, align(16))]
pub struct NET_BUFFER {
    /// Next NB of the NBL.
    pub Next: *mut NET_BUFFER,
    /// MDL holding `DataOffset`.
    pub CurrentMdl: *mut MDL,
    /// Offset into `CurrentMdl`.
    pub CurrentMdlOffset: ULONG,
    /// Packet length.
    pub DataLength: NET_BUFFER_DATA_LENGTH,
    /// First MDL.
    pub MdlChain: *mut MDL,
    /// Offset of the packet in the MDL chain.
    pub DataOffset: ULONG,
    /// Padding: the C header union also holds a 16-byte `SLIST_HEADER`, so it ends at 0x30.
    pub Padding0: ULONG,
    /// Checksum bias.
    pub ChecksumBias: USHORT,
    /// Reserved.
    pub Reserved: USHORT,
    /// Pool the NB came from.
    pub NdisPoolHandle: NDIS_HANDLE,
    /// Reserved for NDIS.
    pub NdisReserved: [PVOID; 2],
    /// Reserved for protocols.
    pub ProtocolReserved: [PVOID; 6],
    /// The miniport's scratch while it owns the NB.
    pub MiniportReserved: [PVOID; 4],
    /// Physical address of the data (when known).
    pub DataPhysicalAddress: PHYSICAL_ADDRESS,
    /// Shared-memory info (receive) or SG list (send).
    pub SharedMemoryInfoOrSg: NET_BUFFER_SHARED_MEMORY_OR_SG,
}
assert_layout!(NET_BUFFER, size 0xB0, {
    Next: 0x0, CurrentMdl: 0x8, CurrentMdlOffset: 0x10, DataLength: 0x18, MdlChain: 0x20,
    DataOffset: 0x28, Padding0: 0x2C, ChecksumBias: 0x30, Reserved: 0x32, NdisPoolHandle: 0x38,
    NdisReserved: 0x40, ProtocolReserved: 0x50, MiniportReserved: 0x80,
    DataPhysicalAddress: 0xA0, SharedMemoryInfoOrSg: 0xA8,
});

/// `NET_BUFFER_SHARED_MEMORY`: one shared-memory segment holding a received packet.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NET_BUFFER_SHARED_MEMORY {
    /// NULL (one segment per NB without lookahead split).
    pub NextSharedMemorySegment: *mut NET_BUFFER_SHARED_MEMORY,
    /// 0.
    pub SharedMemoryFlags: ULONG,
    /// From `NDIS_SHARED_MEMORY_PARAMETERS.SharedMemoryHandle`.
    pub SharedMemoryHandle: NDIS_HANDLE,
    /// Offset of the buffer in the allocation.
    pub SharedMemoryOffset: ULONG,
    /// Length of the buffer.
    pub SharedMemoryLength: ULONG,
}
assert_layout!(NET_BUFFER_SHARED_MEMORY, size 0x20, {
    NextSharedMemorySegment: 0x0, SharedMemoryFlags: 0x8, SharedMemoryHandle: 0x10,
    SharedMemoryOffset: 0x18, SharedMemoryLength: 0x1C,
});

/// `SCATTER_GATHER_ELEMENT`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SCATTER_GATHER_ELEMENT {
    /// Physical address.
    pub Address: PHYSICAL_ADDRESS,
    /// Bytes.
    pub Length: ULONG,
    /// Reserved.
    pub Reserved: ULONG_PTR,
}
assert_layout!(SCATTER_GATHER_ELEMENT, size 0x18, { Address: 0x0, Length: 0x8, Reserved: 0x10 });

/// `SCATTER_GATHER_LIST` (header plus a variable number of elements).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SCATTER_GATHER_LIST {
    /// Number of elements.
    pub NumberOfElements: ULONG,
    /// Reserved.
    pub Reserved: ULONG_PTR,
    /// The first element.
    pub Elements: [SCATTER_GATHER_ELEMENT; 1],
}
assert_layout!(SCATTER_GATHER_LIST, size 0x28, {
    NumberOfElements: 0x0, Reserved: 0x8, Elements: 0x10,
});
