//! Address ranges NdisMMapIoSpace hands out: reserved with `mmap(PROT_NONE)`, so that a driver
//! that dereferences a register pointer instead of going through READ_REGISTER_ULONG /
//! WRITE_REGISTER_ULONG crashes with SIGSEGV at once, rather than silently reading host
//! memory. The simulator translates an address inside a reservation to (BAR, offset).

use super::machine::SimBar;

/// One live NdisMMapIoSpace mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoMapping {
    /// The address NdisMMapIoSpace returned.
    pub virtual_address: usize,
    /// The length the driver asked for.
    pub length: u32,
    /// Bytes reserved (whole pages).
    pub(crate) reserved: usize,
    /// The physical address the driver asked for.
    pub physical_address: u64,
    /// The BAR it lies in.
    pub bar: SimBar,
    /// Register reads through this mapping.
    pub reads: u64,
    /// Register writes through this mapping.
    pub writes: u64,
}

impl IoMapping {
    /// The bus address of `address`, if a 4-byte access there stays inside this mapping.
    pub(crate) fn translate(&self, address: usize) -> Option<u64> {
        let offset = address.checked_sub(self.virtual_address)?;
        let end = offset.checked_add(4)?;
        (end <= usize::try_from(self.length).ok()?).then(|| self.physical_address + offset as u64)
    }
}

const PAGE: usize = 4096;

/// Reserves `length` bytes of inaccessible address space; `None` if mmap fails.
pub(crate) fn reserve(length: u32) -> Option<(usize, usize)> {
    let reserved = usize::try_from(length).ok()?.max(1).checked_next_multiple_of(PAGE)?;
    // SAFETY: a fresh anonymous mapping at an address the kernel chooses (NULL hint), so no
    // existing mapping is replaced; PROT_NONE, so nothing can read or write it. The result is
    // checked against MAP_FAILED.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            reserved,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (address != libc::MAP_FAILED).then_some((address as usize, reserved))
}

/// Releases a reservation made by [`reserve`].
pub(crate) fn release(address: usize, reserved: usize) {
    // SAFETY: `address`/`reserved` describe exactly one reservation from `reserve`, released
    // once (its record was removed by the caller); it is PROT_NONE, so no Rust reference
    // points into it. munmap of such a range cannot fail in a way we could act on.
    let _ = unsafe { libc::munmap(address as *mut libc::c_void, reserved) };
}
