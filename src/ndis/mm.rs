//! Memory-manager pieces of the data path: the parameter types and constants of
//! MmMapLockedPagesSpecifyCache, and [`mdl_system_address`], the WDK macro
//! `MmGetSystemAddressForMdlSafe`.

use core::ptr::{self, NonNull};

use super::{
    KPROCESSOR_MODE, MDL, MDL_MAPPED_TO_SYSTEM_VA, MDL_SOURCE_IS_NONPAGED_POOL,
    MmMapLockedPagesSpecifyCache, ULONG,
};

/// `MEMORY_CACHING_TYPE` (a C enum, 32 bits).
pub type MEMORY_CACHING_TYPE = i32;
/// `MmNonCached`.
pub const MmNonCached: MEMORY_CACHING_TYPE = 0;
/// `MmCached`: what `MmGetSystemAddressForMdlSafe` maps with.
pub const MmCached: MEMORY_CACHING_TYPE = 1;
/// `MmWriteCombined`.
pub const MmWriteCombined: MEMORY_CACHING_TYPE = 2;

/// `KernelMode` (`KPROCESSOR_MODE`): a mapping in system address space.
pub const KernelMode: KPROCESSOR_MODE = 0;

/// `NormalPagePriority` (`MM_PAGE_PRIORITY`): the mapping may fail when the system is very low
/// on page-table entries.
pub const NormalPagePriority: ULONG = 16;
/// `MdlMappingNoExecute`: OR-ed into the priority (Windows 8 and later), the mapping is not
/// executable. Drivers for Windows 8+ should always ask for it.
pub const MdlMappingNoExecute: ULONG = 0x4000_0000;

/// The priority [`mdl_system_address`] maps with: `NormalPagePriority | MdlMappingNoExecute`.
pub const MDL_MAPPING_PRIORITY: ULONG = NormalPagePriority | MdlMappingNoExecute;

/// The system virtual address of the buffer `mdl` describes: the WDK macro
/// `MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority | MdlMappingNoExecute)`.
///
/// If `MdlFlags` has [`MDL_MAPPED_TO_SYSTEM_VA`] or [`MDL_SOURCE_IS_NONPAGED_POOL`] (every MDL
/// NdisAllocateMdl builds, and most MDLs of the NBLs NDIS sends), this is `MappedSystemVa` and
/// no call is made. Otherwise the pages are mapped with
/// `MmMapLockedPagesSpecifyCache(mdl, KernelMode, MmCached, NULL, FALSE, priority)`; the
/// mapping belongs to the MDL (it records it in `MappedSystemVa` and `MdlFlags`), and is
/// released when its owner unlocks or frees it, never by the caller. `None` when the mapping
/// failed (low on system page-table entries): a send path then fails the NBL, a receive path
/// drops the frame.
///
/// # Safety
/// `mdl` points to a valid MDL that describes locked pages (built by MmBuildMdlForNonPagedPool
/// or NdisAllocateMdl, MmProbeAndLockPages, IoBuildPartialMdl or MmAllocatePagesForMdlEx, as
/// every MDL of an NBL NDIS hands a miniport is) and stays valid for the call; the caller runs
/// at IRQL <= DISPATCH_LEVEL.
#[must_use]
pub unsafe fn mdl_system_address(mdl: NonNull<MDL>) -> Option<NonNull<u8>> {
    let mdl = mdl.as_ptr();
    // SAFETY: a valid, readable MDL (caller). The macro reads the flags without a lock too:
    // the Memory Manager only ever adds MDL_MAPPED_TO_SYSTEM_VA, after setting MappedSystemVa.
    let flags = unsafe { (*mdl).MdlFlags };
    let address = if flags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
        // SAFETY: as above; with either flag, MappedSystemVa is the buffer's system address.
        unsafe { (*mdl).MappedSystemVa }
    } else {
        // SAFETY: a valid MDL of locked pages, at IRQL <= DISPATCH_LEVEL (caller); KernelMode,
        // MmCached, no requested address and BugCheckOnFailure FALSE are the macro's own
        // arguments, so a failure returns NULL instead of bug-checking.
        unsafe {
            MmMapLockedPagesSpecifyCache(
                mdl,
                KernelMode,
                MmCached,
                ptr::null_mut(),
                0,
                MDL_MAPPING_PRIORITY,
            )
        }
    };
    NonNull::new(address.cast::<u8>())
}
