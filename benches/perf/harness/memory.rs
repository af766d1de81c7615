//! Plain memory the benches lay out by hand: DMA regions shared by a ring and the bench's
//! "device", and arrays of NDIS structures (NBLs, NET_BUFFERs, MDLs) as NDIS would allocate
//! them. Zeroed, aligned, freed on drop; accessed through raw pointers only, so the device side
//! and the ring (which holds a [`DmaRegion`]) never alias a Rust reference.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

use vmqnic::hw::DmaRegion;

/// Zeroed memory, `align`-aligned.
pub struct Memory {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Memory {
    /// `len` zeroed bytes (at least one page), page-aligned.
    pub fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len.max(4096), 4096).expect("a valid layout");
        // SAFETY: the layout's size is non-zero.
        let ptr = unsafe { alloc_zeroed(layout) };
        Self { ptr: NonNull::new(ptr).expect("memory for the bench"), layout }
    }

    /// Zeroed room for `count` values of `T`; all-zero must be a valid `T` for the caller to
    /// use them (true of the NDIS structures: pointers, integers, unions of those).
    pub fn array<T>(count: usize) -> Self {
        assert!(std::mem::align_of::<T>() <= 4096);
        Self::new(std::mem::size_of::<T>() * count)
    }

    /// Element `index` of the memory seen as an array of `T` (an address only).
    pub fn element<T>(&self, index: usize) -> *mut T {
        assert!((index + 1) * std::mem::size_of::<T>() <= self.layout.size());
        self.ptr.as_ptr().cast::<T>().wrapping_add(index)
    }

    /// The first byte's address.
    pub fn address(&self) -> NonNull<u8> {
        self.ptr
    }

    /// A DMA region over the whole memory, with device address `physical`.
    pub fn region(&self, physical: u64) -> DmaRegion<'_> {
        // SAFETY: the memory is valid for reads and writes of its size for as long as the
        // borrow of self, and no Rust reference to it exists: the bench's device accesses it
        // through raw pointers only (`write_u32`, `read_u32`), as DMA would.
        unsafe { DmaRegion::from_raw_parts(self.ptr, self.layout.size(), physical) }
    }

    /// A device write of a little-endian `u32` at `offset` (4-byte aligned).
    pub fn write_u32(&self, offset: usize, value: u32) {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.layout.size());
        // Page-aligned base plus a multiple of 4 (asserted): aligned for u32.
        #[allow(clippy::cast_ptr_alignment)]
        let ptr = self.ptr.as_ptr().wrapping_add(offset).cast::<u32>();
        // SAFETY: aligned and inside the allocation (asserted); volatile, as a device write.
        unsafe { ptr.write_volatile(value.to_le()) };
    }

    /// A device read of the little-endian `u32` at `offset` (4-byte aligned).
    pub fn read_u32(&self, offset: usize) -> u32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.layout.size());
        // Page-aligned base plus a multiple of 4 (asserted): aligned for u32.
        #[allow(clippy::cast_ptr_alignment)]
        let ptr = self.ptr.as_ptr().wrapping_add(offset).cast::<u32>();
        // SAFETY: aligned and inside the allocation (asserted).
        u32::from_le(unsafe { ptr.read_volatile() })
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}
