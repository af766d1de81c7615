//! Hardware: the device-register seam and the 82576 itself ([`igb`]).
//!
//! Device code never dereferences a BAR pointer directly. It goes through [`Registers`], which
//! the driver implements with [`mmio::MappedBar`]. On Windows that is a volatile access to the
//! BAR NdisMMapIoSpace mapped. On Linux it is `READ_REGISTER_ULONG`/`WRITE_REGISTER_ULONG`,
//! exported by the simulated ndis.sys, which forwards them to QEMU's emulated 82576. Tests of
//! device logic can also supply a plain register file.
//!
//! Descriptor rings and packet buffers live in DMA memory, which device code reaches through
//! [`DmaRegion`] (the driver backs it with NDIS shared memory, tests with QEMU's guest RAM).

mod dma;
pub mod igb;
pub mod mmio;

pub use dma::DmaRegion;

/// 32-bit access to one device register space (a memory BAR), by byte offset.
///
/// Implementations never panic: an offset outside the space (or not 4-byte aligned) reads as
/// all-ones, which device code already treats as "device gone" (surprise removal), and is not
/// written.
pub trait Registers {
    /// Reads the register at `offset`.
    fn read32(&self, offset: u32) -> u32;
    /// Writes `value` to the register at `offset`.
    fn write32(&self, offset: u32, value: u32);
}

/// What a register read returns when the device is gone (PCI master abort) or the offset is
/// invalid.
pub const ALL_ONES: u32 = u32::MAX;

/// A busy wait, for device steps that need real time to pass (a reset settling, an EEPROM word
/// being fetched). The driver implements it with KeStallExecutionProcessor, which is allowed at
/// any IRQL; tests implement it with a sleep or with a counter.
///
/// Device code only ever stalls a bounded number of times with small arguments, so the total
/// wait of any one operation is known in advance (each polling loop documents its bound).
pub trait Stall {
    /// Waits at least `us` microseconds.
    fn stall_us(&self, us: u32);
}
