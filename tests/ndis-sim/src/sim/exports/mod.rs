//! The ndis.sys (and ntoskrnl) functions the driver imports, implemented with NDIS's
//! documented semantics and exported under their C names. Each export is assigned to a
//! constant of the driver's own import type (`vmqnic::ndis::sig`), so a signature that drifts
//! from the driver's declaration is a compile error here rather than stack corruption at run
//! time; [`EXPORTED`] lists them, and a test compares it with the driver's import list.

mod bus;
pub(crate) mod config;
mod dma;
mod driver;
pub(crate) mod indications;
mod interrupt;
mod kernel;
mod memory;
mod mm;
pub(crate) mod nbl;
mod spin_lock;
mod work_item;

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ffi::c_void;
use std::mem::MaybeUninit;

use vmqnic::ndis::{self, NDIS_HANDLE, NDIS_OBJECT_HEADER};

pub use bus::{
    NdisMGetBusData, NdisMMapIoSpace, NdisMUnmapIoSpace, READ_REGISTER_ULONG, WRITE_REGISTER_ULONG,
};
pub use config::{NdisCloseConfiguration, NdisOpenConfigurationEx, NdisReadConfiguration};
pub use dma::{
    NdisAllocateSharedMemory, NdisFreeSharedMemory, NdisMAllocateSharedMemory,
    NdisMDeregisterScatterGatherDma, NdisMFreeSharedMemory, NdisMRegisterScatterGatherDma,
};
pub use driver::{
    NdisGetRssProcessorInformation, NdisGroupMaxProcessorCount, NdisMDeregisterMiniportDriver,
    NdisMRegisterMiniportDriver, NdisMSetMiniportAttributes, NdisSetOptionalHandlers,
};
pub use indications::{
    NdisMIndicateReceiveNetBufferLists, NdisMIndicateStatusEx, NdisMOidRequestComplete,
    NdisMPauseComplete, NdisMRestartComplete, NdisMSendNetBufferListsComplete,
};
pub use interrupt::{
    NdisMConfigMSIXTableEntry, NdisMDeregisterInterruptEx, NdisMQueueDpcEx,
    NdisMRegisterInterruptEx, NdisMSynchronizeWithInterruptEx,
};
pub use kernel::{KeGetCurrentProcessorNumberEx, KeStallExecutionProcessor};
pub use memory::{NdisAllocateMemoryWithTagPriority, NdisFreeMemory};
pub use mm::MmMapLockedPagesSpecifyCache;
pub use nbl::{
    NBL_BLOCK_NB_OFFSET, NBL_BLOCK_SIZE, NBL_INFO_ENTRIES, NdisAllocateMdl,
    NdisAllocateNetBufferAndNetBufferList, NdisAllocateNetBufferListPool, NdisFreeMdl,
    NdisFreeNetBufferList, NdisFreeNetBufferListPool, SendFrame,
};
pub use spin_lock::{
    NdisAcquireSpinLock, NdisAllocateSpinLock, NdisDprAcquireSpinLock, NdisDprReleaseSpinLock,
    NdisFreeSpinLock, NdisReleaseSpinLock,
};
pub use work_item::{NdisAllocateIoWorkItem, NdisFreeIoWorkItem, NdisQueueIoWorkItem};

use super::cpu::{self, irql_name};
use super::state::{Allocation, Owner, Phase, SimState, with_state};

/// Lists the exports and proves each has exactly the driver's import type.
macro_rules! exported {
    ($($name:ident),* $(,)?) => {
        $(const _: ndis::sig::$name = $name;)*
        /// The C names of every export, each checked against `vmqnic::ndis::sig` at compile
        /// time. A test compares this list with the driver's import list, so an import without
        /// an export (or the reverse) fails the build of the tests.
        pub const EXPORTED: &[&str] = &[$(stringify!($name)),*];
    };
}

exported! {
    NdisMRegisterMiniportDriver,
    NdisMDeregisterMiniportDriver,
    NdisSetOptionalHandlers,
    NdisMSetMiniportAttributes,
    NdisGetRssProcessorInformation,
    NdisOpenConfigurationEx,
    NdisReadConfiguration,
    NdisCloseConfiguration,
    NdisAllocateMemoryWithTagPriority,
    NdisFreeMemory,
    NdisMRegisterInterruptEx,
    NdisMDeregisterInterruptEx,
    NdisMConfigMSIXTableEntry,
    NdisMQueueDpcEx,
    NdisMSynchronizeWithInterruptEx,
    NdisMRegisterScatterGatherDma,
    NdisMDeregisterScatterGatherDma,
    NdisAllocateSharedMemory,
    NdisFreeSharedMemory,
    NdisMAllocateSharedMemory,
    NdisMFreeSharedMemory,
    NdisAllocateNetBufferListPool,
    NdisFreeNetBufferListPool,
    NdisAllocateNetBufferAndNetBufferList,
    NdisFreeNetBufferList,
    NdisAllocateMdl,
    NdisFreeMdl,
    NdisMIndicateStatusEx,
    NdisMOidRequestComplete,
    NdisAllocateIoWorkItem,
    NdisQueueIoWorkItem,
    NdisFreeIoWorkItem,
    NdisMIndicateReceiveNetBufferLists,
    NdisMSendNetBufferListsComplete,
    NdisMPauseComplete,
    NdisMRestartComplete,
    NdisMGetBusData,
    NdisMMapIoSpace,
    NdisMUnmapIoSpace,
    NdisGroupMaxProcessorCount,
    NdisAllocateSpinLock,
    NdisFreeSpinLock,
    NdisAcquireSpinLock,
    NdisReleaseSpinLock,
    NdisDprAcquireSpinLock,
    NdisDprReleaseSpinLock,
    KeStallExecutionProcessor,
    KeGetCurrentProcessorNumberEx,
    MmMapLockedPagesSpecifyCache,
    READ_REGISTER_ULONG,
    WRITE_REGISTER_ULONG,
}

/// `Irql.<Function>`.
macro_rules! irql_rule {
    ($function:ident) => {
        concat!("Irql.", stringify!($function))
    };
}
pub(crate) use irql_rule;

/// `<Function>.Handle`.
macro_rules! handle_rule {
    ($function:ident) => {
        concat!(stringify!($function), ".Handle")
    };
}
pub(crate) use handle_rule;

/// `NDIS_STATUS_BAD_VERSION`.
pub(crate) const NDIS_STATUS_BAD_VERSION: ndis::NDIS_STATUS = ndis::status_from_code(0xC001_0004);
/// `NDIS_STATUS_BAD_CHARACTERISTICS`.
pub(crate) const NDIS_STATUS_BAD_CHARACTERISTICS: ndis::NDIS_STATUS =
    ndis::status_from_code(0xC001_0005);
/// `NDIS_STATUS_RESOURCE_CONFLICT`.
pub(crate) const NDIS_STATUS_RESOURCE_CONFLICT: ndis::NDIS_STATUS =
    ndis::status_from_code(0xC001_001E);

/// Alignment of simulated pool blocks (x64 pool allocations are 16-byte aligned).
const POOL_ALIGNMENT: usize = 16;

fn pool_layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.max(1), POOL_ALIGNMENT).ok()
}

/// Allocates a zeroed pool block and records it.
pub(crate) fn allocate_block(size: usize, tag: u32, owner: Owner) -> *mut c_void {
    let Some(layout) = pool_layout(size) else { return std::ptr::null_mut() };
    // SAFETY: the layout has a non-zero size (at least 1) and a power-of-two alignment.
    let block = unsafe { alloc_zeroed(layout) };
    if !block.is_null() {
        with_state(|s| {
            let scope = s.allocation_scope();
            s.allocations.insert(block as usize, Allocation { size, tag, owner, scope })
        });
    }
    block.cast()
}

/// Returns a block to the system allocator (the caller has already removed its record).
pub(crate) fn release_block(address: usize, size: usize) {
    if let Some(layout) = pool_layout(size) {
        // SAFETY: `address` was returned by `alloc_zeroed` with this same layout (the size is
        // the recorded one) and its record was removed, so it is released exactly once.
        unsafe { dealloc(address as *mut u8, layout) };
    }
}

/// Checks that `handle` is the miniport adapter handle.
pub(crate) fn check_handle(s: &mut SimState, rule: &'static str, handle: NDIS_HANDLE) -> bool {
    if handle as usize == s.miniport_handle && s.miniport_handle != 0 {
        true
    } else {
        s.violate(rule, format!("called with {handle:?}, not the miniport adapter handle"));
        false
    }
}

/// Checks that the caller runs at or below `max`; records `rule` otherwise.
pub(crate) fn check_irql(s: &mut SimState, rule: &'static str, max: u8) -> bool {
    let irql = cpu::current().irql;
    if irql > max {
        s.violate(rule, format!("called at {} (allowed: <= {})", irql_name(irql), irql_name(max)));
        false
    } else {
        true
    }
}

/// In MiniportInitializeEx, calls that claim hardware resources or depend on the adapter
/// context must come after the registration attributes (NdisMSetMiniportAttributes remarks).
pub(crate) fn check_registration_first(s: &mut SimState, function: &str) {
    if s.in_phase(Phase::Initialize) && s.adapter.registration.is_none() {
        s.violate(
            super::rules::INITIALIZE_REGISTRATION_ATTRIBUTES_FIRST,
            format!("{function} before the registration attributes"),
        );
    }
}

/// Whether `header` has `object_type` and one of the `(revision, minimum size)` pairs.
pub(crate) fn header_matches(
    header: NDIS_OBJECT_HEADER,
    object_type: u8,
    revisions: &[(u8, u16)],
) -> bool {
    header.Type == object_type
        && revisions
            .iter()
            .any(|&(revision, size)| header.Revision == revision && header.Size >= size)
}

/// Reads a versioned structure of which the caller provides `size` bytes (its header's
/// `Size`): the bytes beyond are zero, as for an older revision.
///
/// # Safety
/// `source` points to at least `size` readable bytes, and an all-zero `T` is a valid value.
pub(crate) unsafe fn read_versioned<T: Copy>(source: *const u8, size: usize) -> T {
    let mut value = MaybeUninit::<T>::zeroed();
    let length = size.min(size_of::<T>());
    // SAFETY: the caller vouches for `length <= size` readable bytes at `source`; the
    // destination is a distinct local of at least `length` bytes.
    unsafe { std::ptr::copy_nonoverlapping(source, value.as_mut_ptr().cast::<u8>(), length) };
    // SAFETY: zero-initialized and partly overwritten with bytes of a `T` of the caller's
    // revision; an all-zero `T` is valid (caller), and so is every prefix the driver wrote.
    unsafe { value.assume_init() }
}

/// The address of the field at `offset` in the structure at `base`: address arithmetic only
/// (`wrapping_byte_add`), so computing it is safe; accessing it is the caller's `unsafe`.
pub(crate) fn field<T, U>(base: *mut T, offset: usize) -> *mut U {
    base.wrapping_byte_add(offset).cast()
}

/// Reads the object header at `pointer`, or `None` for NULL.
///
/// # Safety
/// `pointer` is NULL or points to a readable `NDIS_OBJECT_HEADER`.
pub(crate) unsafe fn read_header(pointer: *const NDIS_OBJECT_HEADER) -> Option<NDIS_OBJECT_HEADER> {
    if pointer.is_null() {
        return None;
    }
    // SAFETY: non-null and readable (caller); the header has alignment 2, which every NDIS
    // structure provides.
    Some(unsafe { pointer.read_unaligned() })
}

/// The table entries in use as the simulated OS sees them: (entry, message) for every
/// unmasked entry that points at a message.
#[must_use]
pub fn live_entries(table: &[super::TableEntry]) -> Vec<(u32, u32)> {
    table
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.masked)
        .filter_map(|(i, e)| Some((u32::try_from(i).ok()?, e.message?)))
        .collect()
}
