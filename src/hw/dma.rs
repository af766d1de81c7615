//! DMA memory as device code sees it: CPU-visible bytes plus the address the device uses for
//! the same bytes.
//!
//! The driver backs a [`DmaRegion`] with NdisMAllocateSharedMemory (the default queue's rings)
//! or NdisAllocateSharedMemory with `NDIS_SHARED_MEM_PARAMETERS_CONTIGOUS` (a VM queue's
//! buffers, ndis-vmq-spec §2.6); tests back it with the QEMU backend's guest RAM, where file
//! offset == guest-physical address (igb-qemu §9).
//!
//! # Why raw pointers and not `&mut [u8]`
//!
//! The device writes descriptor memory (write-back) and packet buffers while the driver holds
//! the region. A `&mut [u8]` promises the compiler that nothing else changes those bytes, so
//! reading a descriptor through it could legally be cached or hoisted out of a polling loop.
//! [`DmaRegion`] therefore keeps only a pointer, and every access to memory the device may be
//! writing is a volatile load or store of one aligned `u32`. Plain slices are handed out only
//! for bytes the device does not own at that moment (a received buffer whose descriptor has not
//! been given back yet), and the ring types tie those slices to a borrow that ends before the
//! descriptor can be given back.
//!
//! # Ordering
//!
//! The rings write descriptors (and copy TX frames) with ordinary/volatile stores, then issue
//! `fence(Release)` before the tail-register write that hands them to the device, and read the
//! DD status dword before `fence(Acquire)` and the rest of a write-back. On x86-64 (the only
//! target) stores are not reordered with other stores and loads not with other loads, so these
//! fences only have to stop the *compiler* from reordering; the MMIO write itself is an
//! uncached store that the CPU does not move ahead of earlier stores to write-back memory.

use core::marker::PhantomData;
use core::ptr::NonNull;

/// A physically contiguous region of DMA-able memory: `len` bytes the CPU reaches at a virtual
/// address and the device at [`physical`](Self::physical).
///
/// The region borrows the memory for `'a`; whoever allocated it (NDIS, or the test harness)
/// frees it only after the region and everything built on it is gone, and after the device was
/// told to stop using it (queue disabled).
#[derive(Debug)]
pub struct DmaRegion<'a> {
    virt: NonNull<u8>,
    len: usize,
    physical: u64,
    _memory: PhantomData<&'a mut [u8]>,
}

// SAFETY: a DmaRegion is an exclusive borrow of plain memory (like `&mut [u8]`, which is Send);
// it has no thread affinity. NDIS may run the DPC that polls a ring on another processor than
// the one that built it.
unsafe impl Send for DmaRegion<'_> {}

impl<'a> DmaRegion<'a> {
    /// A region over ordinary memory the caller owns exclusively, e.g. a test buffer.
    ///
    /// `physical` must be the device-visible address of `bytes[0]` (with the rest physically
    /// contiguous) for any device this region is given to. Rust cannot check that, here or in
    /// [`from_raw_parts`](Self::from_raw_parts); it is the same contract as writing RDBAL.
    #[must_use]
    pub fn from_slice(bytes: &'a mut [u8], physical: u64) -> Self {
        let len = bytes.len();
        DmaRegion { virt: NonNull::from(bytes).cast::<u8>(), len, physical, _memory: PhantomData }
    }

    /// A region over memory that another agent (the device, another process) may also write:
    /// shared memory from NDIS, or the QEMU backend's guest-RAM mapping.
    ///
    /// # Safety
    /// For the whole of `'a`, `virt` must be valid for reads and writes of `len` bytes, and no
    /// Rust reference to those bytes may exist outside this region (the device's DMA is
    /// expected; other CPU code touching them is not). `physical` is as for
    /// [`from_slice`](Self::from_slice).
    #[must_use]
    pub unsafe fn from_raw_parts(virt: NonNull<u8>, len: usize, physical: u64) -> Self {
        DmaRegion { virt, len, physical, _memory: PhantomData }
    }

    /// Size in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device-visible (physical, or bus) address of the first byte.
    #[must_use]
    pub fn physical(&self) -> u64 {
        self.physical
    }

    /// The CPU address of the first byte (alignment checks).
    #[must_use]
    pub fn virtual_address(&self) -> usize {
        self.virt.as_ptr() as usize
    }

    /// The CPU address of the byte at `offset`, if inside the region. Only an address: what
    /// may be done through it is the caller's business (an MDL describing a receive buffer,
    /// whose bytes NDIS reads while the driver does not re-arm it).
    #[must_use]
    pub fn address_at(&self, offset: usize) -> Option<NonNull<u8>> {
        if offset >= self.len {
            return None;
        }
        // wrapping_add is address arithmetic only; the bounds check keeps it inside.
        NonNull::new(self.virt.as_ptr().wrapping_add(offset))
    }

    /// A pointer to the aligned `u32` at `offset`, if the region holds one there.
    fn dword(&self, offset: usize) -> Option<*mut u32> {
        let end = offset.checked_add(4)?;
        if end > self.len {
            return None;
        }
        // wrapping_add is address arithmetic only; the bounds check above keeps it inside.
        // The cast may produce a misaligned pointer, which is_aligned rejects below.
        #[allow(clippy::cast_ptr_alignment)]
        let ptr = self.virt.as_ptr().wrapping_add(offset).cast::<u32>();
        ptr.is_aligned().then_some(ptr)
    }

    /// Volatile read of the little-endian `u32` at `offset`; `None` if it is outside the region
    /// or not 4-byte aligned.
    pub(crate) fn read_u32(&self, offset: usize) -> Option<u32> {
        let ptr = self.dword(offset)?;
        // SAFETY: `dword` checked that ptr is aligned and its 4 bytes lie inside the region,
        // which the constructor's contract makes valid for reads for 'a. Volatile, because
        // the device may write the same bytes.
        let value = unsafe { ptr.read_volatile() };
        Some(u32::from_le(value))
    }

    /// Volatile write of `value` little-endian at `offset`; `false` (nothing written) if it is
    /// outside the region or not 4-byte aligned.
    pub(crate) fn write_u32(&mut self, offset: usize, value: u32) -> bool {
        let Some(ptr) = self.dword(offset) else { return false };
        // SAFETY: as in `read_u32`, and the region is valid for writes; `&mut self` means no
        // slice handed out by `bytes` is alive.
        unsafe { ptr.write_volatile(value.to_le()) };
        true
    }

    /// Volatile write of `value` little-endian at `offset` as one 8-byte store; `false`
    /// (nothing written) if it is outside the region or not 8-byte aligned. (A descriptor's
    /// read format is two such quadwords: one store each instead of two.)
    pub(crate) fn write_u64(&mut self, offset: usize, value: u64) -> bool {
        let Some(end) = offset.checked_add(8) else { return false };
        if end > self.len {
            return false;
        }
        // wrapping_add is address arithmetic only; the bounds check above keeps it inside.
        // The cast may produce a misaligned pointer, which is_aligned rejects below.
        #[allow(clippy::cast_ptr_alignment)]
        let ptr = self.virt.as_ptr().wrapping_add(offset).cast::<u64>();
        if !ptr.is_aligned() {
            return false;
        }
        // SAFETY: ptr is aligned and its 8 bytes lie inside the region (checked above), which
        // the constructor's contract makes valid for writes for 'a; `&mut self` means no slice
        // handed out by `bytes` is alive.
        unsafe { ptr.write_volatile(value.to_le()) };
        true
    }

    /// The bytes `offset..offset + len`, if inside the region.
    ///
    /// Only for bytes the device does not write while the returned borrow lives: callers
    /// (the rings) use it for buffers whose descriptor is owned by software.
    pub(crate) fn bytes(&self, offset: usize, len: usize) -> Option<&[u8]> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        let start = self.virt.as_ptr().wrapping_add(offset);
        // SAFETY: [start, start + len) lies inside the region, valid for reads for 'a (which
        // outlives the returned borrow of self); the caller guarantees the device does not
        // write these bytes while the borrow lives, and `&self` excludes writes through the
        // region itself.
        Some(unsafe { core::slice::from_raw_parts(start, len) })
    }

    /// The bytes `offset..offset + len`, writable, if inside the region.
    ///
    /// Only for bytes the device neither reads nor writes at the moment (a TX buffer whose
    /// descriptor has not been handed over yet).
    pub(crate) fn bytes_mut(&mut self, offset: usize, len: usize) -> Option<&mut [u8]> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        let start = self.virt.as_ptr().wrapping_add(offset);
        // SAFETY: [start, start + len) lies inside the region, valid for writes for 'a; the
        // caller guarantees the device does not access these bytes while the borrow lives,
        // and `&mut self` excludes every other slice of the region.
        Some(unsafe { core::slice::from_raw_parts_mut(start, len) })
    }
}

#[cfg(test)]
mod tests {
    use super::DmaRegion;

    #[repr(align(16))]
    struct Aligned([u8; 64]);

    #[test]
    fn dword_access_is_bounded_aligned_and_little_endian() {
        let mut memory = Aligned([0; 64]);
        let mut region = DmaRegion::from_slice(&mut memory.0, 0x1000);
        assert_eq!((region.len(), region.physical(), region.is_empty()), (64, 0x1000, false));
        assert!(region.write_u32(60, 0x0403_0201));
        assert_eq!(region.read_u32(60), Some(0x0403_0201));
        assert_eq!(region.bytes(60, 4), Some(&[1u8, 2, 3, 4][..]));
        assert!(!region.write_u32(61, 0), "unaligned");
        assert!(!region.write_u32(64, 0), "past the end");
        assert!(region.write_u64(48, 0x0807_0605_0403_0201));
        assert_eq!(region.bytes(48, 8), Some(&[1u8, 2, 3, 4, 5, 6, 7, 8][..]));
        assert_eq!(
            (region.read_u32(48), region.read_u32(52)),
            (Some(0x0403_0201), Some(0x0807_0605))
        );
        assert!(!region.write_u64(52, 0), "unaligned");
        assert!(!region.write_u64(64, 0), "past the end");
        assert!(!region.write_u64(usize::MAX - 3, 0), "no overflow");
        assert_eq!(region.read_u32(52), Some(0x0807_0605), "refused writes write nothing");
        assert_eq!(region.read_u32(62), None);
        assert_eq!(region.read_u32(usize::MAX - 1), None, "no overflow");
        region.bytes_mut(0, 3).unwrap().copy_from_slice(b"abc");
        assert!(region.bytes_mut(62, 3).is_none());
        assert!(region.bytes_mut(usize::MAX, 1).is_none());
        assert_eq!(region.bytes(0, 3), Some(&b"abc"[..]));
        assert_eq!(region.bytes(1, 64), None);
        assert_eq!(region.bytes(usize::MAX, 2), None);
    }
}
