//! QEMU hardware backend: one QEMU process with one igb NIC, driven from this process.
//!
//! A Rust port of the Python reference harness (`shared/reference/igb-poc/igbqt.py`); the
//! behaviour of the emulated 82576 is described in `shared/docs/igb-qemu.md`, whose sections
//! the comments cite as "§n".
//!
//! * [`Qemu`] starts QEMU (q35, TCG, a halting BIOS, `-qtest`, guest RAM in a shared file, a
//!   netdev stream socket) and owns it: dropping it stops QEMU, and QEMU also dies with this
//!   process.
//! * [`Qtest`] is the qtest client (MMIO, port I/O and guest-memory commands).
//! * The QMP client ([`qmp`]) gives [`Qemu::set_link`], the NIC's cable, and
//!   [`Qemu::qmp`], any QMP command; its module docs say what `set_link` does to the 82576.
//! * [`GuestRam`] is the guest RAM mapped into this process; [`Qemu::dma_alloc`] hands out
//!   page-aligned guest-physical ranges from it ([`GpaAllocator`]).
//! * [`PciConfig`] is configuration space over 0xCF8/0xCFC.
//! * [`Igb`] is the NIC with its BARs assigned: counted BAR0 register access, the MSI-X table
//!   and MSI-X mailboxes in guest RAM.
//! * [`regs`] names the registers, [`desc`] the descriptor formats, and [`RxRing`] is a
//!   harness-side RX ring for self-tests.

pub mod desc;
mod driver_seams;
mod error;
mod gpa_alloc;
mod guest_ram;
mod igb;
mod launcher;
mod netdev;
pub mod pci;
pub mod qmp;
mod qtest;
pub mod regs;
mod rx_ring;
mod spawner;

pub use driver_seams::{QemuRegisters, SleepStall};
pub use error::{Error, QEMU_REQUIREMENT, Result};
pub use gpa_alloc::{Allocation, GpaAllocator, GpaRange, PAGE_SIZE};
pub use guest_ram::{FIRST_DMA_ADDRESS, GuestRam, NOT_RAM_FOR_DMA};
pub use igb::{
    BarLayout, IGB_82576_DEVICE_ID, INTEL_VENDOR_ID, Igb, MsixEntry, MsixMailbox,
    Q35_IGB_INTX_IOAPIC_PIN, Q35_IOAPIC_QOM_PATH, RegisterCounts,
};
pub use launcher::{
    DEFAULT_QEMU_BINARY, IGB_PCI_DEVICE, MAX_MEMORY_MIB, MIN_MEMORY_MIB, NETDEV_ID, Qemu,
    QemuConfig,
};
pub use netdev::{FrameDecoder, MAX_FRAME_LEN, MacAddress, encode_frame};
pub use pci::{BarInfo, BarKind, MsixCapability, PciAddress, PciCapability, PciConfig};
pub use qmp::IGB_NIC_ID;
pub use qtest::{IrqEvent, Qtest, QtestSession};
pub use rx_ring::{RxCompletion, RxRing};

/// The simulator will share the backend between threads (driver paths, an interrupt poller).
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Qemu>();
    shareable::<Igb>();
    shareable::<Qtest>();
    shareable::<GuestRam>();
};
