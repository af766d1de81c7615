//! The NDIS glue: `extern "system"` callbacks NDIS calls, and the few helpers that call NDIS
//! imports. It holds the NDIS handles and applies the decisions of the pure layers
//! ([`crate::interrupt`]); it has no policy of its own.
//!
//! Every `unsafe` block here performs exactly one unsafe operation, with a `// SAFETY:` note
//! saying why the contract holds. Buffers NDIS or PnP hand over are turned into byte slices
//! once, with their length bounded, and parsed by safe code.

pub mod adapter;
pub mod config;
pub mod dma;
pub mod driver;
pub mod msix;
pub mod pnp;
mod queue_interrupts;
pub mod receive;
pub mod send;
mod vmq;

use core::ptr::NonNull;

use crate::ndis::{
    NDIS_HANDLE, NdisAllocateMemoryWithTagPriority, NdisFreeMemory, NormalPoolPriority,
};

/// Allocates `length` bytes of non-paged pool tagged `tag` (NdisAllocateMemoryWithTagPriority,
/// normal priority). `None` when the pool is exhausted or `length` does not fit a `ULONG`.
///
/// # Safety
/// `ndis_handle` is a valid NDIS handle (the miniport adapter handle); IRQL <= DISPATCH_LEVEL.
pub(crate) unsafe fn pool_allocate(
    ndis_handle: NDIS_HANDLE,
    length: usize,
    tag: u32,
) -> Option<NonNull<u8>> {
    let length = u32::try_from(length).ok()?;
    // SAFETY: the caller guarantees the handle and the IRQL; the call only allocates.
    let block =
        unsafe { NdisAllocateMemoryWithTagPriority(ndis_handle, length, tag, NormalPoolPriority) };
    NonNull::new(block.cast())
}

/// Frees a pool block with NdisFreeMemory.
///
/// # Safety
/// `block` came from [`pool_allocate`] (or is a pool block NDIS hands the driver to free, such
/// as the requirements list being replaced), is freed once, and is not used afterwards.
pub(crate) unsafe fn pool_free(block: NonNull<u8>) {
    // SAFETY: the caller guarantees ownership and that this is the only free.
    unsafe { NdisFreeMemory(block.as_ptr().cast(), 0, 0) };
}

/// Pool tags, one per purpose (Driver Verifier's pool tracking and `!poolused` show them as
/// the four characters in memory order).
pub mod tags {
    /// The adapter context (MiniportInitializeEx .. MiniportHaltEx).
    pub const ADAPTER: u32 = u32::from_ne_bytes(*b"VqAp");
    /// The add-device context.
    pub const ADD_DEVICE_CONTEXT: u32 = u32::from_ne_bytes(*b"VqAd");
    /// The edited resource-requirements list (freed by the PnP manager, not by the driver).
    pub const REQUIREMENTS_LIST: u32 = u32::from_ne_bytes(*b"VqRl");
    /// The RSS processor-information buffer (freed before FilterResourceRequirements returns).
    pub const RSS_PROCESSOR_INFO: u32 = u32::from_ne_bytes(*b"VqRs");
    /// A receive ring's bookkeeping (slot table, NBL and MDL tables) and its NBL pool.
    pub const RX: u32 = u32::from_ne_bytes(*b"VqRx");
    /// The transmit ring's bookkeeping.
    pub const TX: u32 = u32::from_ne_bytes(*b"VqTx");
}
