//! `NDIS_SPIN_LOCK` (ndis.h): the lock of the NDIS spin-lock interface (NdisAllocateSpinLock,
//! NdisAcquireSpinLock / NdisReleaseSpinLock, NdisDprAcquireSpinLock / NdisDprReleaseSpinLock,
//! NdisFreeSpinLock; see the `imports` module for their IRQL rules).

use super::{KIRQL, KSPIN_LOCK, assert_layout};

/// `NDIS_SPIN_LOCK` (ndis.h, x64: 16 bytes, 8-byte aligned): a kernel spin lock and the IRQL
/// its holder ran at before NdisAcquireSpinLock raised it to DISPATCH_LEVEL (which
/// NdisReleaseSpinLock restores).
///
/// The driver provides the storage, in non-paged memory (the lock is taken at DISPATCH_LEVEL),
/// initializes it with NdisAllocateSpinLock before any other use, and from then on touches it
/// only through the NdisXxxSpinLock imports, which write both fields while other processors may
/// hold shared references to the structure around it: keep it in an `UnsafeCell` and pass
/// `UnsafeCell::get()`. Neither `Clone` nor `Copy`: a copied lock is a different lock.
#[repr(C)]
#[derive(Debug, Default)]
pub struct NDIS_SPIN_LOCK {
    /// The kernel spin lock (`KSPIN_LOCK`): 0 when free.
    pub SpinLock: KSPIN_LOCK,
    /// The IRQL before NdisAcquireSpinLock (unused by the Dpr variants).
    pub OldIrql: KIRQL,
}
assert_layout!(NDIS_SPIN_LOCK, size 0x10, { SpinLock: 0x0, OldIrql: 0x8 });
const _: () = assert!(align_of::<NDIS_SPIN_LOCK>() == 8, "align of NDIS_SPIN_LOCK");
