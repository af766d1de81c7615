//! A counting global allocator: the data path must make no heap allocation per packet, and
//! this counts every one a measured region makes (the bench binary and the smoke test install
//! it as their `#[global_allocator]`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// [`System`], counting allocations (`alloc`, `alloc_zeroed`, `realloc`).
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; counting does not touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: GlobalAlloc::alloc's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: GlobalAlloc::alloc_zeroed's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: GlobalAlloc::realloc's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: GlobalAlloc::dealloc's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations so far in this process.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Whether [`Counting`] is the global allocator (a figure of 0 allocations means nothing
/// otherwise).
pub fn counting() -> bool {
    let before = allocations();
    drop(black_box(Box::new(black_box(7u64))));
    allocations() > before
}
