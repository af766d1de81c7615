//! A memory BAR mapped with NdisMMapIoSpace, accessed 32 bits at a time.

use core::ptr::NonNull;

use super::{ALL_ONES, Registers};

/// A mapped memory BAR: `length` bytes of device registers at `base`.
#[derive(Debug)]
pub struct MappedBar {
    base: NonNull<u8>,
    length: u32,
}

// SAFETY: a MappedBar is an address range of device registers; MMIO accesses from several
// processors are what the device is designed for (ordering is the caller's business, as with
// any NIC driver). The type holds no interior Rust state.
unsafe impl Send for MappedBar {}
// SAFETY: as above; `read32`/`write32` take `&self` and perform single volatile accesses.
unsafe impl Sync for MappedBar {}

impl MappedBar {
    /// Wraps a mapping.
    ///
    /// # Safety
    /// `base..base + length` is a device BAR mapped with NdisMMapIoSpace, and it stays mapped
    /// for as long as this value (or a copy of its address) is used.
    #[must_use]
    pub const unsafe fn new(base: NonNull<u8>, length: u32) -> Self {
        Self { base, length }
    }

    /// The mapped address (for NdisMUnmapIoSpace).
    #[must_use]
    pub const fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// The mapped length in bytes.
    #[must_use]
    pub const fn length(&self) -> u32 {
        self.length
    }

    /// The register's address, if `offset` is a 4-byte aligned register inside the BAR.
    fn register(&self, offset: u32) -> Option<NonNull<u32>> {
        let in_bounds =
            offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.length);
        if !in_bounds {
            return None;
        }
        let offset = usize::try_from(offset).ok()?;
        // The offset is inside the mapping (checked above), so the address cannot wrap; the
        // mapping is page-aligned, so `base + offset` is 4-byte aligned.
        Some(self.base.map_addr(|address| address.saturating_add(offset)).cast::<u32>())
    }
}

impl Registers for MappedBar {
    fn read32(&self, offset: u32) -> u32 {
        let Some(register) = self.register(offset) else { return ALL_ONES };
        #[cfg(windows)]
        {
            // SAFETY: `register` is an aligned register inside the BAR, mapped for the life of
            // `self` (constructor contract); a volatile read is how MMIO is read on x64
            // (wdm.h's READ_REGISTER_ULONG is exactly this).
            unsafe { register.as_ptr().read_volatile() }
        }
        #[cfg(not(windows))]
        {
            // SAFETY: as above; on Linux the simulated ndis.sys owns the mapping and forwards
            // the access to the emulated device.
            unsafe { crate::ndis::READ_REGISTER_ULONG(register.as_ptr()) }
        }
    }

    fn write32(&self, offset: u32, value: u32) {
        let Some(register) = self.register(offset) else { return };
        #[cfg(windows)]
        {
            // SAFETY: see `read32`.
            unsafe { register.as_ptr().write_volatile(value) };
        }
        #[cfg(not(windows))]
        {
            // SAFETY: see `read32`.
            unsafe { crate::ndis::WRITE_REGISTER_ULONG(register.as_ptr(), value) };
        }
    }
}
