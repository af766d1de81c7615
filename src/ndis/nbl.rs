//! `NET_BUFFER_LIST` / `NET_BUFFER` (spec §3.20): the fields a miniport touches. NBLs and NBs are
//! allocated only by NDIS (`NdisAllocateNetBufferAndNetBufferList`); the driver never builds or
//! copies one, so these definitions are a layout of the prefix NDIS hands out. Also the `MDL`
//! that describes their data, and the parameters of an NBL pool.

use super::{
    BOOLEAN, CSHORT, NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_STATUS, PHYSICAL_ADDRESS, PVOID, UCHAR,
    ULONG, ULONG_PTR, USHORT, assert_layout,
};

/// `MDL` (wdm.h, x64; 0x30 bytes, followed in memory by its array of page frame numbers).
///
/// An MDL describes a virtually contiguous buffer: `StartVa` is the page-aligned start,
/// `ByteOffset` the offset of the first byte in that page, `ByteCount` the length
/// (`MmGetMdlVirtualAddress` is `StartVa + ByteOffset`). `MappedSystemVa` is valid when
/// `MdlFlags` has [`MDL_MAPPED_TO_SYSTEM_VA`] or [`MDL_SOURCE_IS_NONPAGED_POOL`]. `Size` is
/// `sizeof(MDL)` plus one `PFN_NUMBER` (8 bytes) per page spanned. The driver gets MDLs only
/// from `NdisAllocateMdl` (which builds them for non-paged memory) and reads them; it never
/// builds one.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MDL {
    /// Next MDL of a chain (a NET_BUFFER's data may span several).
    pub Next: *mut MDL,
    /// `CSHORT`: bytes of the MDL including its PFN array.
    pub Size: CSHORT,
    /// `CSHORT`: `MDL_*` flags.
    pub MdlFlags: CSHORT,
    /// Processor the MDL was allocated on (Windows 10+; padding in older headers).
    pub AllocationProcessorNumber: USHORT,
    /// Reserved (padding in older headers).
    pub Reserved: USHORT,
    /// `PEPROCESS` of a user buffer; NULL for system memory.
    pub Process: PVOID,
    /// System virtual address of the buffer (see the flags).
    pub MappedSystemVa: PVOID,
    /// Page-aligned virtual address of the buffer's first page.
    pub StartVa: PVOID,
    /// Bytes described.
    pub ByteCount: ULONG,
    /// Offset of the first byte within the first page.
    pub ByteOffset: ULONG,
}
assert_layout!(MDL, size 0x30, {
    Next: 0x0, Size: 0x8, MdlFlags: 0xA, AllocationProcessorNumber: 0xC, Reserved: 0xE,
    Process: 0x10, MappedSystemVa: 0x18, StartVa: 0x20, ByteCount: 0x28, ByteOffset: 0x2C,
});

/// `MDL_MAPPED_TO_SYSTEM_VA`: `MappedSystemVa` holds a system mapping of the pages.
pub const MDL_MAPPED_TO_SYSTEM_VA: CSHORT = 0x0001;
/// `MDL_PAGES_LOCKED`: the pages were locked by MmProbeAndLockPages.
pub const MDL_PAGES_LOCKED: CSHORT = 0x0002;
/// `MDL_SOURCE_IS_NONPAGED_POOL`: built by MmBuildMdlForNonPagedPool (as NdisAllocateMdl
/// does); `MappedSystemVa` is the buffer's address.
pub const MDL_SOURCE_IS_NONPAGED_POOL: CSHORT = 0x0004;
/// `MDL_ALLOCATED_FIXED_SIZE`: allocated by IoAllocateMdl with room for its PFN array.
pub const MDL_ALLOCATED_FIXED_SIZE: CSHORT = 0x0008;
/// `MDL_PARTIAL`: built by IoBuildPartialMdl over part of another MDL's buffer.
pub const MDL_PARTIAL: CSHORT = 0x0010;
/// `MDL_PARTIAL_HAS_BEEN_MAPPED`: a partial MDL that has a system mapping.
pub const MDL_PARTIAL_HAS_BEEN_MAPPED: CSHORT = 0x0020;

/// `NET_BUFFER_LIST_POOL_PARAMETERS` (nblapi.h): what `NdisAllocateNetBufferListPool` creates.
///
/// Header `{NDIS_OBJECT_TYPE_DEFAULT, NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
/// NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1}` for NDIS 6.30 (revision 2, which
/// adds `Flags`, comes from a later NDIS). A miniport sets `ProtocolId` to
/// [`NDIS_PROTOCOL_ID_DEFAULT`]; `fAllocateNetBuffer` = TRUE and `DataSize` = 0 for a pool used
/// with `NdisAllocateNetBufferAndNetBufferList`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NET_BUFFER_LIST_POOL_PARAMETERS {
    /// Object header (see above).
    pub Header: NDIS_OBJECT_HEADER,
    /// `NDIS_PROTOCOL_ID_*`: 0 for miniports.
    pub ProtocolId: UCHAR,
    /// TRUE: each NBL comes with a preallocated NET_BUFFER.
    pub fAllocateNetBuffer: BOOLEAN,
    /// Bytes of `NET_BUFFER_LIST_CONTEXT` data preallocated per NBL (a multiple of
    /// MEMORY_ALLOCATION_ALIGNMENT).
    pub ContextSize: USHORT,
    /// Pool tag of the pool's allocations.
    pub PoolTag: ULONG,
    /// Non-zero: each NBL also gets an MDL and a data buffer of this size.
    pub DataSize: ULONG,
    /// Revision 2 only: `NET_BUFFER_LIST_POOL_FLAG_*`.
    pub Flags: ULONG,
}
assert_layout!(NET_BUFFER_LIST_POOL_PARAMETERS, size 0x14, {
    Header: 0x0, ProtocolId: 0x4, fAllocateNetBuffer: 0x5, ContextSize: 0x6, PoolTag: 0x8,
    DataSize: 0xC, Flags: 0x10,
});

/// `NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1` (NDIS 6.0).
pub const NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1: UCHAR = 1;
/// `NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2` (adds `Flags`).
pub const NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2: UCHAR = 2;
/// `NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1`: through `DataSize`.
pub const NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1: USHORT = 0x10;
/// `NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2`: through `Flags`.
pub const NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2: USHORT = 0x14;
/// `NDIS_PROTOCOL_ID_DEFAULT`: the `ProtocolId` of miniport, filter and intermediate drivers.
pub const NDIS_PROTOCOL_ID_DEFAULT: UCHAR = 0;
/// `MEMORY_ALLOCATION_ALIGNMENT` (x64): NBL context sizes and backfills are multiples of it.
pub const MEMORY_ALLOCATION_ALIGNMENT: usize = 16;

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
