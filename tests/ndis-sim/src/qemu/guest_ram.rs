//! Guest RAM shared with QEMU through a `memory-backend-file,share=on` on /dev/shm
//! (igb-qemu.md §9): the file is mapped `MAP_SHARED` here, and file offset == guest-physical
//! address. NIC DMA (descriptor write-back, packet data, MSI-X mailbox writes) is visible at
//! once, and what we write is what the NIC reads.
//!
//! The memory is shared with another process that writes it at any time, so this module never
//! hands out references into it: every access copies, and scalar accesses are single volatile
//! (or atomic) loads and stores so that a 32-bit word the device wrote is never torn.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering, fence};

use super::error::{Error, Result};

/// The legacy VGA/BIOS window: the file holds bytes there, but for qtest and device DMA these
/// addresses are the BIOS ROM and PAM windows, not this RAM (igb-qemu.md §9). Accesses that
/// touch it are rejected so that a test cannot believe the NIC sees what it wrote.
pub const NOT_RAM_FOR_DMA: std::ops::Range<u64> = 0xC_0000..0x10_0000;

/// First guest-physical address that is plain RAM for the CPU, qtest and DMA alike; everything
/// the harness allocates for the device lives at or above it (igb-qemu.md §9).
pub const FIRST_DMA_ADDRESS: u64 = 0x10_0000;

/// The mapped guest RAM of one QEMU.
#[derive(Debug)]
pub struct GuestRam {
    base: NonNull<u8>,
    size: usize,
}

// SAFETY: GuestRam owns a MAP_SHARED mapping that lives until Drop. It never creates Rust
// references into it; all accesses are copies, volatile or atomic operations through raw
// pointers, which may happen from any thread (QEMU writes the same memory concurrently anyway).
unsafe impl Send for GuestRam {}
// SAFETY: see the Send impl: no method hands out references into the mapping, so shared use
// from several threads is no different from QEMU and us sharing it.
unsafe impl Sync for GuestRam {}

impl GuestRam {
    /// Maps `size` bytes of `file` read/write and shared.
    pub(crate) fn map(file: &File, size: usize) -> Result<Self> {
        if size == 0 {
            return Err(Error::InvalidArgument("guest RAM size is zero".to_owned()));
        }
        // SAFETY: a fresh mapping chosen by the kernel (addr = NULL), so no existing memory is
        // replaced; fd is an open descriptor of a file at least `size` bytes long (the caller
        // set its length); the result is checked against MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::io("mmap of the guest RAM file", std::io::Error::last_os_error()));
        }
        let base = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| Error::Device("mmap returned a null mapping".to_owned()))?;
        Ok(GuestRam { base, size })
    }

    /// RAM that no QEMU shares: a sealed-off memfd of `size` bytes, laid out like guest RAM
    /// (offset == "physical" address). The simulator uses it as DMA memory when it runs
    /// without a device, so shared memory and MSI mailboxes behave the same either way.
    pub(crate) fn private(size: usize) -> Result<Self> {
        // SAFETY: memfd_create with a NUL-terminated name and valid flags; it only returns a
        // new descriptor (or -1).
        let fd = unsafe { libc::memfd_create(c"ndis-sim-ram".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io("memfd_create", std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a descriptor this function just created and nothing else owns.
        let file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        file.set_len(size as u64).map_err(|e| Error::io("sizing the private RAM", e))?;
        // The mapping keeps the memory alive after `file` closes.
        Self::map(&file, size)
    }

    /// The host address of `len` bytes of guest RAM at `gpa`, for code that accesses DMA
    /// memory directly (the simulated NdisAllocateSharedMemory hands it to the driver, which
    /// reads and writes descriptors there while the device DMAs into the same bytes; device
    /// tests build the driver's DMA regions over it).
    ///
    /// The pointer stays valid while this `GuestRam` lives. QEMU writes those bytes at any
    /// time, so access them only with volatile or atomic operations, or while the device
    /// cannot be writing them.
    pub fn host_address(&self, gpa: u64, len: usize) -> Result<*mut u8> {
        let offset = self.offset_of(gpa, len)?;
        Ok(self.ptr_at(offset))
    }

    /// Size of guest RAM in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size as u64
    }

    /// Checks `[gpa, gpa+len)` and returns the offset into the mapping.
    fn offset_of(&self, gpa: u64, len: usize) -> Result<usize> {
        let len64 = len as u64;
        let out_of_range = |reason| Error::GuestRamOutOfRange { gpa, len: len64, reason };
        let end = gpa.checked_add(len64).ok_or_else(|| out_of_range("range wraps around"))?;
        if end > self.size() {
            return Err(out_of_range("beyond the end of guest RAM"));
        }
        if gpa < NOT_RAM_FOR_DMA.end && end > NOT_RAM_FOR_DMA.start && len > 0 {
            return Err(out_of_range(
                "0xC0000-0xFFFFF is BIOS ROM/PAM for qtest and DMA, not this RAM (igb-qemu.md §9)",
            ));
        }
        usize::try_from(gpa).map_err(|_| out_of_range("address does not fit in usize"))
    }

    fn ptr_at(&self, offset: usize) -> *mut u8 {
        // wrapping_add is only address arithmetic; offset_of guaranteed it stays in the mapping.
        self.base.as_ptr().wrapping_add(offset)
    }

    /// A pointer to a `T` at `offset`, if that address is suitably aligned for `T`.
    fn aligned<T>(&self, offset: usize) -> Option<*mut T> {
        let ptr = self.ptr_at(offset).cast::<T>();
        ptr.is_aligned().then_some(ptr)
    }

    /// Copies guest RAM at `gpa` into `buf`.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<()> {
        let offset = self.offset_of(gpa, buf.len())?;
        fence(Ordering::Acquire);
        // SAFETY: offset_of checked that [offset, offset+len) lies inside the live mapping;
        // `buf` is a distinct Rust buffer, so the ranges cannot overlap. A concurrent device
        // write can only make the copied bytes stale, which the descriptor protocol handles
        // (DD is written last, igb-qemu.md §5).
        unsafe { std::ptr::copy_nonoverlapping(self.ptr_at(offset), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Reads `len` bytes into a new vector.
    pub fn read_vec(&self, gpa: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read(gpa, &mut buf)?;
        Ok(buf)
    }

    /// Copies `data` into guest RAM at `gpa`.
    pub fn write(&self, gpa: u64, data: &[u8]) -> Result<()> {
        let offset = self.offset_of(gpa, data.len())?;
        // SAFETY: offset_of checked the destination lies inside the live, writable mapping;
        // `data` is a distinct Rust buffer, so the ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr_at(offset), data.len()) };
        fence(Ordering::Release);
        Ok(())
    }

    /// Whether the `expected.len()` bytes at `gpa` are `expected`: one `memcmp` over the
    /// mapping, without copying (cheap enough to watch megabytes after every interrupt).
    pub fn equals(&self, gpa: u64, expected: &[u8]) -> Result<bool> {
        let offset = self.offset_of(gpa, expected.len())?;
        fence(Ordering::Acquire);
        // SAFETY: offset_of checked that [offset, offset+len) lies inside the live mapping, and
        // `expected` is a distinct Rust buffer of len bytes; memcmp only reads both and makes
        // no reference into the mapping. A concurrent device write can only make the answer
        // stale, as with `read`.
        let order = unsafe {
            libc::memcmp(self.ptr_at(offset).cast(), expected.as_ptr().cast(), expected.len())
        };
        Ok(order == 0)
    }

    /// Sets `len` bytes at `gpa` to `byte`.
    pub fn fill(&self, gpa: u64, len: u64, byte: u8) -> Result<()> {
        let len = usize::try_from(len).map_err(|_| Error::GuestRamOutOfRange {
            gpa,
            len,
            reason: "length too large",
        })?;
        let offset = self.offset_of(gpa, len)?;
        // SAFETY: offset_of checked that [offset, offset+len) lies inside the live, writable
        // mapping.
        unsafe { std::ptr::write_bytes(self.ptr_at(offset), byte, len) };
        fence(Ordering::Release);
        Ok(())
    }

    /// Little-endian 16-bit read.
    pub fn read_u16(&self, gpa: u64) -> Result<u16> {
        let offset = self.offset_of(gpa, 2)?;
        if let Some(ptr) = self.aligned::<u16>(offset) {
            // SAFETY: in bounds (offset_of) and aligned (checked by `aligned`); a volatile load
            // so the compiler re-reads memory QEMU may change.
            let raw = unsafe { ptr.read_volatile() };
            fence(Ordering::Acquire);
            Ok(u16::from_le(raw))
        } else {
            let mut b = [0u8; 2];
            self.read(gpa, &mut b)?;
            Ok(u16::from_le_bytes(b))
        }
    }

    /// Little-endian 32-bit read; a single load when `gpa` is 4-byte aligned.
    pub fn read_u32(&self, gpa: u64) -> Result<u32> {
        let offset = self.offset_of(gpa, 4)?;
        if let Some(ptr) = self.aligned::<u32>(offset) {
            // SAFETY: in bounds (offset_of) and aligned (checked by `aligned`); a volatile load
            // so the compiler re-reads memory QEMU may change.
            let raw = unsafe { ptr.read_volatile() };
            fence(Ordering::Acquire);
            Ok(u32::from_le(raw))
        } else {
            let mut b = [0u8; 4];
            self.read(gpa, &mut b)?;
            Ok(u32::from_le_bytes(b))
        }
    }

    /// Little-endian 64-bit read; a single load when `gpa` is 8-byte aligned.
    pub fn read_u64(&self, gpa: u64) -> Result<u64> {
        let offset = self.offset_of(gpa, 8)?;
        if let Some(ptr) = self.aligned::<u64>(offset) {
            // SAFETY: in bounds (offset_of) and aligned (checked by `aligned`); a volatile load
            // so the compiler re-reads memory QEMU may change.
            let raw = unsafe { ptr.read_volatile() };
            fence(Ordering::Acquire);
            Ok(u64::from_le(raw))
        } else {
            let mut b = [0u8; 8];
            self.read(gpa, &mut b)?;
            Ok(u64::from_le_bytes(b))
        }
    }

    /// Little-endian 16-bit write.
    pub fn write_u16(&self, gpa: u64, value: u16) -> Result<()> {
        self.write(gpa, &value.to_le_bytes())
    }

    /// Little-endian 32-bit write; a single store when `gpa` is 4-byte aligned.
    pub fn write_u32(&self, gpa: u64, value: u32) -> Result<()> {
        let offset = self.offset_of(gpa, 4)?;
        if let Some(ptr) = self.aligned::<u32>(offset) {
            fence(Ordering::Release);
            // SAFETY: in bounds (offset_of), aligned (checked by `aligned`) and writable.
            unsafe { ptr.write_volatile(value.to_le()) };
            Ok(())
        } else {
            self.write(gpa, &value.to_le_bytes())
        }
    }

    /// Little-endian 64-bit write; a single store when `gpa` is 8-byte aligned.
    pub fn write_u64(&self, gpa: u64, value: u64) -> Result<()> {
        let offset = self.offset_of(gpa, 8)?;
        if let Some(ptr) = self.aligned::<u64>(offset) {
            fence(Ordering::Release);
            // SAFETY: in bounds (offset_of), aligned (checked by `aligned`) and writable.
            unsafe { ptr.write_volatile(value.to_le()) };
            Ok(())
        } else {
            self.write(gpa, &value.to_le_bytes())
        }
    }

    /// Atomically replaces the little-endian 32-bit word at `gpa` (which must be 4-byte
    /// aligned) and returns the old value. Used to consume MSI-X mailboxes: a message the
    /// device writes between our read and our clear cannot be lost.
    pub fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32> {
        let offset = self.offset_of(gpa, 4)?;
        let ptr = self.aligned::<u32>(offset).ok_or_else(|| {
            Error::InvalidArgument(format!("swap_u32 at unaligned address {gpa:#x}"))
        })?;
        // SAFETY: the pointer is in bounds (offset_of), aligned for u32 (checked by `aligned`),
        // valid for the lifetime of `self`, and this process only accesses the word with single
        // aligned loads/stores or atomics, which do not conflict with an atomic RMW on x86-64.
        let word = unsafe { AtomicU32::from_ptr(ptr) };
        Ok(u32::from_le(word.swap(value.to_le(), Ordering::AcqRel)))
    }
}

impl Drop for GuestRam {
    fn drop(&mut self) {
        // SAFETY: base/size describe exactly the mapping created in `map`, which is unmapped
        // only here; no references into it exist (none are ever handed out).
        // munmap of a mapping we created cannot fail; there is nothing to do if it did.
        let _ = unsafe { libc::munmap(self.base.as_ptr().cast(), self.size) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guest RAM backed by an unlinked temporary file, without QEMU.
    fn scratch_ram(size: usize) -> GuestRam {
        let path = std::env::temp_dir().join(format!(
            "ndis-sim-ramtest-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file.set_len(size as u64).unwrap();
        GuestRam::map(&file, size).unwrap()
    }

    #[test]
    fn scalar_and_bulk_accesses_are_little_endian_and_consistent() {
        let ram = scratch_ram(2 << 20);
        ram.write_u32(0x10_0000, 0x1122_3344).unwrap();
        assert_eq!(ram.read_vec(0x10_0000, 4).unwrap(), [0x44, 0x33, 0x22, 0x11]);
        ram.write_u64(0x10_0008, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(ram.read_u64(0x10_0008).unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(ram.read_u32(0x10_000C).unwrap(), 0x0102_0304);
        // Unaligned accesses go through the byte-copy path and agree with the aligned ones.
        assert_eq!(ram.read_u32(0x10_0001).unwrap(), 0x0011_2233);
        ram.write_u32(0x10_0021, 0xDEAD_BEEF).unwrap();
        assert_eq!(ram.read_u32(0x10_0021).unwrap(), 0xDEAD_BEEF);
        ram.write_u16(0x10_0031, 0xABCD).unwrap();
        assert_eq!(ram.read_u16(0x10_0031).unwrap(), 0xABCD);
        ram.fill(0x10_0100, 16, 0x5A).unwrap();
        assert_eq!(ram.read_vec(0x10_0100, 16).unwrap(), [0x5A; 16]);
        assert_eq!(ram.swap_u32(0x10_0000, 0).unwrap(), 0x1122_3344);
        assert_eq!(ram.read_u32(0x10_0000).unwrap(), 0);
        assert!(ram.equals(0x10_0100, &[0x5A; 16]).unwrap());
        assert!(!ram.equals(0x10_0100, &[0x5A; 17]).unwrap(), "one byte more differs");
        assert!(ram.equals(0x10_0100, &[]).unwrap());
        assert!(ram.equals(ram.size(), &[1]).is_err(), "bounds-checked");
    }

    #[test]
    fn out_of_range_and_rom_window_accesses_are_rejected() {
        let ram = scratch_ram(2 << 20);
        let top = ram.size();
        assert!(ram.read_u32(top - 4).is_ok());
        assert!(matches!(ram.read_u32(top - 2), Err(Error::GuestRamOutOfRange { .. })));
        assert!(matches!(ram.write(u64::MAX, &[1, 2]), Err(Error::GuestRamOutOfRange { .. })));
        assert!(matches!(ram.read_u32(0xC_0000), Err(Error::GuestRamOutOfRange { .. })));
        assert!(matches!(ram.read_u32(0xB_FFFE), Err(Error::GuestRamOutOfRange { .. })));
        assert!(matches!(ram.read_u32(0xF_FFFE), Err(Error::GuestRamOutOfRange { .. })));
        assert!(ram.read_u32(0xB_FFFC).is_ok());
        assert!(ram.read(0xC_0000, &mut []).is_ok());
        assert!(matches!(ram.swap_u32(0x10_0002, 0), Err(Error::InvalidArgument(_))));
    }
}
