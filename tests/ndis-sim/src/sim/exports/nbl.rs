//! NET_BUFFER_LIST pools, NBLs with their preallocated NET_BUFFER, and MDLs:
//! NdisAllocateNetBufferListPool, NdisFreeNetBufferListPool,
//! NdisAllocateNetBufferAndNetBufferList, NdisFreeNetBufferList, NdisAllocateMdl, NdisFreeMdl.
//! Also what the simulated protocol uses to read the bytes an NB describes, and to build the
//! NBLs it sends.
//!
//! Every NBL the simulator hands out is one zeroed, 16-byte aligned block: the
//! `NET_BUFFER_LIST` with room for [`NBL_INFO_ENTRIES`] `NetBufferListInfo` entries (NDIS's
//! real array is longer than the 16 the driver declares, and grows with NDIS versions), then
//! its `NET_BUFFER`. MDLs are blocks of `sizeof(MDL)` plus one `PFN_NUMBER` per page spanned,
//! as IoAllocateMdl sizes them.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::mem::{offset_of, size_of};

use vmqnic::ndis::{
    self, MDL, MDL_ALLOCATED_FIXED_SIZE, MDL_MAPPED_TO_SYSTEM_VA, MDL_SOURCE_IS_NONPAGED_POOL,
    MEMORY_ALLOCATION_ALIGNMENT, NDIS_HANDLE, NDIS_OBJECT_TYPE_DEFAULT, NDIS_PROTOCOL_ID_DEFAULT,
    NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2, NET_BUFFER, NET_BUFFER_DATA_LENGTH,
    NET_BUFFER_LIST, NET_BUFFER_LIST_POOL_PARAMETERS, NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
    NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2, PVOID, SIZE_T, ULONG, USHORT,
};

use super::{check_irql, handle_rule, header_matches, irql_rule, read_header, read_versioned};
use crate::sim::cpu::DISPATCH_LEVEL;
use crate::sim::rules;
use crate::sim::state::{MdlRecord, NblPool, NblRecord, SimState, with_state};

/// `NetBufferListInfo` entries each simulated NBL has room for: more than any ndis.h so far
/// declares (`MaxNetBufferListInfo` is in the high twenties in current WDKs), so a driver that
/// writes any documented index stays inside the block.
pub const NBL_INFO_ENTRIES: usize = 32;
/// Offset of the NET_BUFFER in a simulated NBL block.
pub const NBL_BLOCK_NB_OFFSET: usize =
    offset_of!(NET_BUFFER_LIST, NetBufferListInfo) + NBL_INFO_ENTRIES * size_of::<PVOID>();
/// Bytes of a simulated NBL block (NBL, full info array, NB).
pub const NBL_BLOCK_SIZE: usize = NBL_BLOCK_NB_OFFSET + size_of::<NET_BUFFER>();
const _: () = assert!(NBL_BLOCK_NB_OFFSET.is_multiple_of(16), "the NB is 16-byte aligned");

/// x64 page size (MDL page arithmetic).
const PAGE: usize = 0x1000;
/// `sizeof(PFN_NUMBER)` on x64.
const PFN_SIZE: usize = 8;
/// Longest MDL chain the simulator walks (a longer one is taken for a loop).
const MAX_MDLS: usize = 1 << 12;

fn block_layout(size: usize) -> Layout {
    Layout::from_size_align(size.max(1), 16).expect("simulated blocks are small")
}

/// A zeroed, 16-byte aligned block of `size` bytes (its address; 0 if the allocator failed).
fn allocate_raw(size: usize) -> usize {
    // SAFETY: the layout has a non-zero size and a power-of-two alignment.
    unsafe { alloc_zeroed(block_layout(size)) as usize }
}

/// Releases a block from [`allocate_raw`] of the same `size`.
pub(crate) fn release_raw(address: usize, size: usize) {
    if address != 0 {
        // SAFETY: `address` came from `allocate_raw(size)` (same layout) and its owner gives
        // it up here, exactly once.
        unsafe { dealloc(address as *mut u8, block_layout(size)) };
    }
}

/// A block the simulated protocol owns (an NBL block or an MDL), freed on drop.
#[derive(Debug)]
pub(crate) struct RawBlock {
    address: usize,
    size: usize,
}

impl RawBlock {
    fn new(size: usize) -> Self {
        let address = allocate_raw(size);
        assert!(address != 0, "out of memory for a simulated block of {size} bytes");
        Self { address, size }
    }
}

impl Drop for RawBlock {
    fn drop(&mut self) {
        release_raw(self.address, self.size);
    }
}

/// A send NBL built by the simulated protocol: the NBL block, its MDLs and the frame's bytes,
/// alive until the simulation ends (the driver may still touch them after completing them,
/// wrongly, without touching freed memory).
#[derive(Debug)]
pub(crate) struct ProtocolPacket {
    nbl: RawBlock,
    _mdls: Vec<RawBlock>,
    _data: Vec<u8>,
    /// (MDL address, buffer address, length) of each MDL, as built.
    ranges: Vec<(usize, usize, u32)>,
}

/// Bytes of the MDL block for `length` bytes at `address`: `sizeof(MDL)` plus one PFN per page
/// spanned (`MmSizeOfMdl`).
fn mdl_block_size(address: usize, length: usize) -> usize {
    let pages = ((address % PAGE) + length).div_ceil(PAGE);
    size_of::<MDL>() + pages * PFN_SIZE
}

/// Builds an MDL for `length` bytes at `address` in a fresh block, as IoAllocateMdl followed by
/// MmBuildMdlForNonPagedPool would: `MappedSystemVa` is the address, `StartVa` its page,
/// `ByteOffset` the offset in the page, no process. The PFN array stays zero: the memory is
/// this process's, and no driver reads the frame numbers of an MDL NDIS built (it maps DMA
/// through shared memory and scatter-gather lists). `None` if `Size` would not fit its CSHORT.
fn build_mdl(address: usize, length: u32) -> Option<(usize, usize)> {
    let block_size = mdl_block_size(address, usize::try_from(length).ok()?);
    let size = i16::try_from(block_size).ok()?;
    let block = allocate_raw(block_size);
    if block == 0 {
        return None;
    }
    let mdl = MDL {
        Next: std::ptr::null_mut(),
        Size: size,
        MdlFlags: MDL_SOURCE_IS_NONPAGED_POOL | MDL_ALLOCATED_FIXED_SIZE,
        AllocationProcessorNumber: 0,
        Reserved: 0,
        Process: std::ptr::null_mut(),
        MappedSystemVa: address as PVOID,
        StartVa: (address - address % PAGE) as PVOID,
        ByteCount: length,
        ByteOffset: u32::try_from(address % PAGE).unwrap_or(0),
    };
    // SAFETY: a fresh, exclusively owned block of at least sizeof(MDL) bytes, 16-byte aligned.
    unsafe { (block as *mut MDL).write(mdl) };
    Some((block, block_size))
}

/// Fills a zeroed NBL block: `FirstNetBuffer` is its NB, both carry `pool` as NdisPoolHandle,
/// and the NB describes `data_length` bytes at `data_offset` into `mdl_chain`, with
/// `CurrentMdl`/`CurrentMdlOffset` at the MDL that holds the first used byte.
///
/// # Safety
/// `block` is a zeroed, exclusively owned block of [`NBL_BLOCK_SIZE`] bytes, 16-byte aligned.
unsafe fn init_nbl_block(
    block: usize,
    pool: usize,
    mdl_chain: *mut MDL,
    data_offset: u32,
    data_length: usize,
    current: (*mut MDL, u32),
) -> *mut NET_BUFFER_LIST {
    let list = block as *mut NET_BUFFER_LIST;
    let buffer = (block + NBL_BLOCK_NB_OFFSET) as *mut NET_BUFFER;
    // SAFETY: all-zero is a valid NET_BUFFER (null pointers, zero integers).
    let mut nb: NET_BUFFER = unsafe { std::mem::zeroed() };
    nb.MdlChain = mdl_chain;
    nb.CurrentMdl = current.0;
    nb.CurrentMdlOffset = current.1;
    nb.DataOffset = data_offset;
    nb.DataLength = NET_BUFFER_DATA_LENGTH { stDataLength: data_length };
    nb.NdisPoolHandle = pool as NDIS_HANDLE;
    // SAFETY: all-zero is a valid NET_BUFFER_LIST.
    let mut nbl: NET_BUFFER_LIST = unsafe { std::mem::zeroed() };
    nbl.FirstNetBuffer = buffer;
    nbl.NdisPoolHandle = pool as NDIS_HANDLE;
    // SAFETY: the NB lies inside the caller's block, 16-byte aligned (NBL_BLOCK_NB_OFFSET).
    unsafe { buffer.write(nb) };
    // SAFETY: the NBL prefix lies at the start of the caller's block; the info entries beyond
    // the declared 16 stay zero.
    unsafe { list.write(nbl) };
    list
}

/// Whether `handle` is the miniport adapter handle or the handle of the loaded driver.
fn adapter_or_driver_handle(s: &SimState, handle: NDIS_HANDLE) -> bool {
    let handle = handle as usize;
    (handle == s.miniport_handle && handle != 0)
        || (s.driver.is_some_and(|d| !d.deregistered) && handle == s.driver_handle)
}

/// `NdisAllocateNetBufferListPool`: checks the handle (adapter or driver), the header
/// (`{0x80, 1 (>= 0x10) or 2 (>= 0x14)}`) and that a miniport's `ProtocolId` is
/// NDIS_PROTOCOL_ID_DEFAULT; returns an opaque pool handle charged to the running scope.
/// A NET_BUFFER_LIST_CONTEXT (`ContextSize` != 0) is not modelled and stops the test.
/// IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `Parameters` points to at least `Header.Size` readable bytes of parameters.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisAllocateNetBufferListPool(
    NdisHandle: NDIS_HANDLE,
    Parameters: *const NET_BUFFER_LIST_POOL_PARAMETERS,
) -> NDIS_HANDLE {
    // SAFETY: NULL or parameters starting with their header (caller).
    let header = unsafe { read_header(Parameters.cast()) };
    let parameters = header
        .filter(|h| {
            header_matches(
                *h,
                NDIS_OBJECT_TYPE_DEFAULT,
                &[
                    (
                        NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
                        NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
                    ),
                    (
                        NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2,
                        NDIS_SIZEOF_NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_2,
                    ),
                ],
            )
        })
        .map(|h| {
            // SAFETY: `Size` readable bytes (caller); all-zero parameters are valid.
            unsafe {
                read_versioned::<NET_BUFFER_LIST_POOL_PARAMETERS>(
                    Parameters.cast(),
                    usize::from(h.Size),
                )
            }
        });
    let pool = with_state(|s| {
        let injected = s.count_allocation("NdisAllocateNetBufferListPool");
        check_irql(s, irql_rule!(NdisAllocateNetBufferListPool), DISPATCH_LEVEL);
        if !adapter_or_driver_handle(s, NdisHandle) {
            s.violate(
                handle_rule!(NdisAllocateNetBufferListPool),
                format!(
                    "called with {NdisHandle:?}, neither the miniport adapter nor the driver handle"
                ),
            );
            return None;
        }
        let Some(parameters) = parameters else {
            s.violate(rules::OBJECT_HEADER_NBL_POOL_PARAMETERS, format!("{header:?}"));
            return None;
        };
        if parameters.ProtocolId != NDIS_PROTOCOL_ID_DEFAULT {
            s.violate(
                rules::NBL_POOL_PROTOCOL_ID,
                format!(
                    "ProtocolId {} (a miniport uses NDIS_PROTOCOL_ID_DEFAULT)",
                    parameters.ProtocolId
                ),
            );
        }
        assert!(
            parameters.ContextSize == 0,
            "the simulator does not model NET_BUFFER_LIST_CONTEXT (pool ContextSize {})",
            parameters.ContextSize
        );
        if injected {
            return None;
        }
        let handle = s.new_handle();
        let scope = s.allocation_scope();
        s.nbl_pools.insert(handle, NblPool { parameters, scope });
        Some(handle)
    });
    pool.map_or(std::ptr::null_mut(), |h| h as NDIS_HANDLE)
}
const _: ndis::sig::NdisAllocateNetBufferListPool = NdisAllocateNetBufferListPool;

/// `NdisFreeNetBufferListPool`: the pool must be live and every NBL from it freed (the NBLs
/// still allocated are reported and stay tracked, so Halt reports them too).
/// IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisFreeNetBufferListPool(PoolHandle: NDIS_HANDLE) {
    with_state(|s| {
        check_irql(s, irql_rule!(NdisFreeNetBufferListPool), DISPATCH_LEVEL);
        let pool = PoolHandle as usize;
        if s.nbl_pools.remove(&pool).is_none() {
            s.violate(rules::FREE_NBL_POOL_UNKNOWN, format!("{PoolHandle:?} is not a live pool"));
            return;
        }
        let outstanding = s.nbls.values().filter(|n| n.pool == pool).count();
        if outstanding > 0 {
            s.violate(
                rules::FREE_NBL_POOL_NBLS_OUTSTANDING,
                format!("{outstanding} NBL(s) of pool {PoolHandle:?} not freed"),
            );
        }
    });
}
const _: ndis::sig::NdisFreeNetBufferListPool = NdisFreeNetBufferListPool;

/// Where used data starts in an MDL chain of live NdisAllocateMdl MDLs: the MDL holding byte
/// `data_offset` and the offset in it, and whether `data_offset + data_length` fits the chain.
/// `Err` names the first MDL the simulator did not allocate.
fn locate_data(
    s: &SimState,
    chain: *mut MDL,
    data_offset: u32,
    data_length: usize,
) -> Result<((*mut MDL, u32), bool), usize> {
    let mut total = 0usize;
    let mut current = None;
    let mut mdl = chain;
    let offset = usize::try_from(data_offset).unwrap_or(usize::MAX);
    for _ in 0..MAX_MDLS {
        if mdl.is_null() {
            break;
        }
        if !s.mdls.contains_key(&(mdl as usize)) {
            return Err(mdl as usize);
        }
        // SAFETY: a live MDL the simulator allocated (checked above).
        let m = unsafe { mdl.read() };
        let count = usize::try_from(m.ByteCount).unwrap_or(0);
        if current.is_none() && offset < total + count {
            current = Some((mdl, u32::try_from(offset - total).unwrap_or(0)));
        }
        total += count;
        mdl = m.Next;
    }
    let fits = offset.checked_add(data_length).is_some_and(|end| end <= total);
    Ok((current.unwrap_or((chain, data_offset)), fits))
}

/// `NdisAllocateNetBufferAndNetBufferList`: an NBL with its preallocated NB from a live pool
/// created with `fAllocateNetBuffer` = TRUE and `DataSize` = 0. `ContextSize` and
/// `ContextBackFill` must be multiples of MEMORY_ALLOCATION_ALIGNMENT (non-zero ones are not
/// modelled and stop the test); a NULL `MdlChain` needs `DataOffset` = `DataLength` = 0; the
/// used data must lie within the chain's MDLs, which must come from NdisAllocateMdl.
/// IRQL <= DISPATCH_LEVEL.
// The MDLs of `MdlChain` are read only once found among the live MDLs the simulator itself
// allocated (`locate_data`), so a wrong pointer is a recorded violation, never a dereference.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
#[unsafe(no_mangle)]
pub extern "system" fn NdisAllocateNetBufferAndNetBufferList(
    PoolHandle: NDIS_HANDLE,
    ContextSize: USHORT,
    ContextBackFill: USHORT,
    MdlChain: *mut MDL,
    DataOffset: ULONG,
    DataLength: SIZE_T,
) -> *mut NET_BUFFER_LIST {
    let pool = PoolHandle as usize;
    let current = with_state(|s| {
        let injected = s.count_allocation("NdisAllocateNetBufferAndNetBufferList");
        check_irql(s, irql_rule!(NdisAllocateNetBufferAndNetBufferList), DISPATCH_LEVEL);
        let Some(record) = s.nbl_pools.get(&pool).copied() else {
            s.violate(
                rules::ALLOCATE_NBL_UNKNOWN_POOL,
                format!("{PoolHandle:?} is not a live NBL pool"),
            );
            return None;
        };
        if record.parameters.fAllocateNetBuffer == 0 || record.parameters.DataSize != 0 {
            s.violate(
                rules::ALLOCATE_NBL_POOL_KIND,
                format!(
                    "pool with fAllocateNetBuffer {} and DataSize {}",
                    record.parameters.fAllocateNetBuffer, record.parameters.DataSize
                ),
            );
            return None;
        }
        let alignment = u16::try_from(MEMORY_ALLOCATION_ALIGNMENT).unwrap_or(16);
        if !ContextSize.is_multiple_of(alignment) || !ContextBackFill.is_multiple_of(alignment) {
            s.violate(
                rules::ALLOCATE_NBL_CONTEXT_ALIGNMENT,
                format!("ContextSize {ContextSize}, ContextBackFill {ContextBackFill}"),
            );
            return None;
        }
        assert!(
            ContextSize == 0 && ContextBackFill == 0,
            "the simulator does not model NET_BUFFER_LIST_CONTEXT (ContextSize {ContextSize}, \
             ContextBackFill {ContextBackFill})"
        );
        if MdlChain.is_null() {
            if DataOffset != 0 || DataLength != 0 {
                s.violate(
                    rules::ALLOCATE_NBL_DATA_WITHOUT_MDL,
                    format!(
                        "DataOffset {DataOffset}, DataLength {DataLength} without an MDL chain"
                    ),
                );
                return None;
            }
            return Some((std::ptr::null_mut(), 0));
        }
        match locate_data(s, MdlChain, DataOffset, DataLength) {
            Err(mdl) => {
                s.violate(
                    rules::ALLOCATE_NBL_UNKNOWN_MDL,
                    format!("MDL {mdl:#x} of the chain is not a live NdisAllocateMdl MDL"),
                );
                None
            }
            Ok((_, false)) => {
                s.violate(
                    rules::ALLOCATE_NBL_DATA_BEYOND_MDLS,
                    format!("DataOffset {DataOffset} + DataLength {DataLength} beyond the chain"),
                );
                None
            }
            Ok((current, true)) => Some(current),
        }
        .filter(|_| !injected)
    });
    let Some(current) = current else { return std::ptr::null_mut() };
    let block = allocate_raw(NBL_BLOCK_SIZE);
    if block == 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: a fresh zeroed block of NBL_BLOCK_SIZE bytes, 16-byte aligned.
    let nbl = unsafe { init_nbl_block(block, pool, MdlChain, DataOffset, DataLength, current) };
    with_state(|s| {
        let scope = s.allocation_scope();
        s.nbls.insert(block, NblRecord { pool, scope });
    });
    nbl
}
const _: ndis::sig::NdisAllocateNetBufferAndNetBufferList = NdisAllocateNetBufferAndNetBufferList;

/// `NdisFreeNetBufferList`: frees an NBL from NdisAllocateNetBufferAndNetBufferList (not its
/// MDLs). Unknown NBLs, double frees and NBLs the protocol still holds (indicated, not yet
/// returned) are violations and are not freed. IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisFreeNetBufferList(NetBufferList: *mut NET_BUFFER_LIST) {
    let address = NetBufferList as usize;
    let free = with_state(|s| {
        check_irql(s, irql_rule!(NdisFreeNetBufferList), DISPATCH_LEVEL);
        if !s.nbls.contains_key(&address) {
            s.violate(
                rules::FREE_NBL_UNKNOWN,
                format!("{NetBufferList:?} is not a live NBL from a driver pool"),
            );
            return false;
        }
        if s.held_nbls().contains(&address) {
            s.violate(
                rules::FREE_NBL_STILL_INDICATED,
                format!("{NetBufferList:?} was indicated and not yet returned"),
            );
            return false;
        }
        s.nbls.remove(&address);
        true
    });
    if free {
        release_raw(address, NBL_BLOCK_SIZE);
    }
}
const _: ndis::sig::NdisFreeNetBufferList = NdisFreeNetBufferList;

/// `NdisAllocateMdl`: an MDL for `Length` bytes of the caller's non-paged memory at
/// `VirtualAddress`, charged to the running scope, built as IoAllocateMdl and
/// MmBuildMdlForNonPagedPool build it (`MappedSystemVa` = the address, `StartVa` its page,
/// `ByteOffset`, `ByteCount` = `Length`, flags MDL_SOURCE_IS_NONPAGED_POOL |
/// MDL_ALLOCATED_FIXED_SIZE; the PFN array is zero, as this process's memory has no frame
/// numbers to give). The handle is the miniport adapter or driver handle. NULL if `Size` would
/// not fit its CSHORT (about 16 MiB). IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisAllocateMdl(
    NdisHandle: NDIS_HANDLE,
    VirtualAddress: PVOID,
    Length: ULONG,
) -> *mut MDL {
    let allowed = with_state(|s| {
        let injected = s.count_allocation("NdisAllocateMdl");
        check_irql(s, irql_rule!(NdisAllocateMdl), DISPATCH_LEVEL);
        if adapter_or_driver_handle(s, NdisHandle) {
            !injected
        } else {
            s.violate(
                handle_rule!(NdisAllocateMdl),
                format!(
                    "called with {NdisHandle:?}, neither the miniport adapter nor the driver handle"
                ),
            );
            false
        }
    });
    if !allowed {
        return std::ptr::null_mut();
    }
    let Some((block, block_size)) = build_mdl(VirtualAddress as usize, Length) else {
        return std::ptr::null_mut();
    };
    with_state(|s| {
        let scope = s.allocation_scope();
        s.mdls.insert(
            block,
            MdlRecord {
                virtual_address: VirtualAddress as usize,
                length: Length,
                block_size,
                scope,
            },
        );
    });
    block as *mut MDL
}
const _: ndis::sig::NdisAllocateMdl = NdisAllocateMdl;

/// `NdisFreeMdl`: frees an MDL from NdisAllocateMdl (not the memory it describes). Unknown
/// MDLs and double frees are violations and are not freed. IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisFreeMdl(Mdl: *mut MDL) {
    let freed = with_state(|s| {
        check_irql(s, irql_rule!(NdisFreeMdl), DISPATCH_LEVEL);
        let freed = s.mdls.remove(&(Mdl as usize));
        if freed.is_none() {
            s.violate(
                rules::FREE_MDL_UNKNOWN,
                format!("{Mdl:?} is not a live NdisAllocateMdl MDL"),
            );
        }
        freed
    });
    if let Some(record) = freed {
        release_raw(Mdl as usize, record.block_size);
    }
}
const _: ndis::sig::NdisFreeMdl = NdisFreeMdl;

/// Why the bytes of an NB could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DataError {
    /// An MDL of the chain that neither NdisAllocateMdl nor the simulated protocol built.
    UnknownMdl(usize),
    /// `DataOffset + DataLength` goes past the end of the chain.
    BeyondChain,
}

/// The `DataLength` bytes at `DataOffset` of the MDL chain of `nb`. Reads only MDLs the
/// simulator built (NdisAllocateMdl, or `protocol_mdls`), each within the range it was built
/// for (a driver may shorten `ByteCount`, as NdisAdjustMdlLength does, never lengthen it).
///
/// # Safety
/// `nb` is a valid NET_BUFFER, and the memory each known MDL describes is still allocated.
pub(crate) unsafe fn net_buffer_bytes(
    s: &SimState,
    nb: *const NET_BUFFER,
    protocol_mdls: &[(usize, usize, u32)],
) -> Result<Vec<u8>, DataError> {
    // SAFETY: a valid NB (caller).
    let nb = unsafe { nb.read() };
    // SAFETY: stDataLength and DataLength overlap; a length set through either view reads
    // back through the ULONG view on little-endian x64 (NDIS 6.30 uses the ULONG).
    let length = usize::try_from(unsafe { nb.DataLength.DataLength }).unwrap_or(0);
    let mut skip = usize::try_from(nb.DataOffset).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(length);
    let mut mdl = nb.MdlChain;
    for _ in 0..MAX_MDLS {
        if out.len() == length || mdl.is_null() {
            break;
        }
        let limit = match s.mdls.get(&(mdl as usize)) {
            Some(record) => (record.virtual_address, record.length),
            None => protocol_mdls
                .iter()
                .find(|(address, _, _)| *address == mdl as usize)
                .map(|(_, va, length)| (*va, *length))
                .ok_or(DataError::UnknownMdl(mdl as usize))?,
        };
        // SAFETY: an MDL the simulator built and still tracks.
        let m = unsafe { mdl.read() };
        let count = usize::try_from(m.ByteCount.min(limit.1)).unwrap_or(0);
        if skip >= count {
            skip -= count;
        } else {
            let wanted = (count - skip).min(length - out.len());
            let mapped = m.MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0;
            let va = if mapped {
                m.MappedSystemVa as usize
            } else {
                m.StartVa as usize + m.ByteOffset as usize
            };
            // Never outside the range the MDL was built for.
            if va != limit.0 {
                return Err(DataError::UnknownMdl(mdl as usize));
            }
            // SAFETY: `skip + wanted <= count <= limit.1` bytes at the MDL's own buffer, which
            // is still allocated (caller).
            let bytes = unsafe { std::slice::from_raw_parts((va + skip) as *const u8, wanted) };
            out.extend_from_slice(bytes);
            skip = 0;
        }
        mdl = m.Next;
    }
    if out.len() == length { Ok(out) } else { Err(DataError::BeyondChain) }
}

/// One frame the simulated protocol sends (see [`Sim::send_frames_as_nbls`](crate::sim::Sim)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendFrame {
    /// The Ethernet frame, without FCS.
    pub bytes: Vec<u8>,
    /// Unused bytes ahead of the frame in the first MDL (the NB's `DataOffset`; protocols
    /// leave backfill space for the headers of the drivers below them).
    pub backfill: u32,
    /// Split the data (backfill included) into MDLs of at most this many bytes (`None`: one
    /// MDL); a send path must follow MDL chains.
    pub mdl_size: Option<usize>,
    /// `NetBufferListInfo[Ieee8021QNetBufferListInfo]`: (VlanId, UserPriority) to insert.
    pub ieee8021q: Option<(u16, u8)>,
    /// `NetBufferListInfo[NetBufferListFilteringInfo]`: the QueueId the sender tagged.
    pub queue_id: Option<u16>,
    /// `NetBufferListInfo[NetBufferListCancelId]` (NDIS_SET_NET_BUFFER_LIST_CANCEL_ID), for
    /// [`Sim::cancel_send`](crate::sim::Sim::cancel_send).
    pub cancel_id: Option<usize>,
}

/// Builds a send NBL for `frame` the way NDIS would hand it to a miniport: an NBL block as the
/// pools make them (no pool: `NdisPoolHandle` is NULL, as for an NBL of another driver's pool
/// the miniport never sees), an MDL chain over a copy of the bytes, the info entries set.
pub(crate) fn build_protocol_packet(frame: &SendFrame) -> ProtocolPacket {
    let backfill = usize::try_from(frame.backfill).unwrap_or(0);
    let mut data = vec![0u8; backfill];
    data.extend_from_slice(&frame.bytes);
    let chunk = frame.mdl_size.unwrap_or(data.len()).max(1);
    let mut mdls: Vec<RawBlock> = Vec::new();
    let mut ranges = Vec::new();
    for piece in data.chunks(chunk) {
        let length = u32::try_from(piece.len()).expect("frames are shorter than 4 GiB");
        let (address, size) =
            build_mdl(piece.as_ptr() as usize, length).expect("an MDL for a frame-sized buffer");
        let block = RawBlock { address, size };
        if let Some(previous) = mdls.last() {
            let next = offset_of!(MDL, Next);
            // SAFETY: the previous MDL is a live block this function built; `Next` is inside.
            unsafe { ((previous.address + next) as *mut *mut MDL).write(address as *mut MDL) };
        }
        ranges.push((address, piece.as_ptr() as usize, length));
        mdls.push(block);
    }
    let chain = mdls.first().map_or(std::ptr::null_mut(), |m| m.address as *mut MDL);
    // CurrentMdl: the MDL that holds the first byte of the frame.
    let current = mdls.get(backfill / chunk).map_or((chain, frame.backfill), |m| {
        (m.address as *mut MDL, u32::try_from(backfill % chunk).unwrap_or(0))
    });
    let nbl = RawBlock::new(NBL_BLOCK_SIZE);
    // SAFETY: a fresh zeroed block of NBL_BLOCK_SIZE bytes, 16-byte aligned.
    let pointer = unsafe {
        init_nbl_block(nbl.address, 0, chain, frame.backfill, frame.bytes.len(), current)
    };
    let info = offset_of!(NET_BUFFER_LIST, NetBufferListInfo);
    let mut entries = Vec::new();
    if let Some((vlan, priority)) = frame.ieee8021q {
        entries
            .push((ndis::Ieee8021QNetBufferListInfo, ndis::ieee8021q_info_value(vlan, priority)));
    }
    if let Some(queue) = frame.queue_id {
        entries.push((ndis::NetBufferListFilteringInfo, ndis::filtering_info_value(queue, 0)));
    }
    if let Some(cancel_id) = frame.cancel_id {
        entries.push((ndis::NetBufferListCancelId, cancel_id));
    }
    for (index, value) in entries {
        let slot = (pointer as usize + info + index * size_of::<PVOID>()) as *mut usize;
        // SAFETY: an info entry (< NBL_INFO_ENTRIES) of the block just built.
        unsafe { slot.write(value) };
    }
    ProtocolPacket { nbl, _mdls: mdls, _data: data, ranges }
}

impl ProtocolPacket {
    /// The NBL.
    pub(crate) fn nbl(&self) -> *mut NET_BUFFER_LIST {
        self.nbl.address as *mut NET_BUFFER_LIST
    }

    /// (MDL address, buffer address, length) of each MDL, for [`net_buffer_bytes`].
    pub(crate) fn mdl_ranges(&self) -> &[(usize, usize, u32)] {
        &self.ranges
    }
}
