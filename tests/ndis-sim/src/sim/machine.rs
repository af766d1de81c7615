//! The simulated machine's hardware: QEMU's emulated 82576 (an [`Igb`] with its BARs assigned
//! and bus mastering on), or no device at all for tests of the NDIS contract alone. Either
//! way there is RAM for DMA: the QEMU guest's RAM mapped into this process, or a private
//! memfd laid out the same way (offset == physical address).

use std::sync::{Mutex, PoisonError};

use vmqnic::interrupt::pci::{PCI_CAPABILITY_ID_MSI, PCI_CAPABILITY_ID_MSIX, find_capability};

use super::GrantKind;
use crate::qemu::{
    self, BarKind, BarLayout, FIRST_DMA_ADDRESS, GpaAllocator, GpaRange, GuestRam, Igb, Qemu,
    QemuConfig,
};

/// The address space a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarSpace {
    /// Memory space (reported as `CmResourceTypeMemory`).
    Memory,
    /// I/O space (reported as `CmResourceTypePort`).
    Port,
}

/// One BAR of the device as the (simulated) PCI bus assigned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimBar {
    /// BAR register index (0..6).
    pub index: u8,
    /// Bus address (guest-physical for memory BARs).
    pub address: u64,
    /// Length in bytes.
    pub length: u64,
    /// Memory or I/O.
    pub space: BarSpace,
}

impl SimBar {
    /// Whether `[address, address + length)` lies inside this BAR.
    #[must_use]
    pub fn contains(&self, address: u64, length: u64) -> bool {
        address >= self.address
            && address.checked_add(length).is_some_and(|end| end <= self.address + self.length)
    }
}

/// The 82576's BARs as QEMU presents them (igb-qemu.md §2), at [`BarLayout::default`]: used
/// as the device's resources when the simulator runs without QEMU.
#[must_use]
pub fn igb_bars() -> Vec<SimBar> {
    let layout = BarLayout::default();
    vec![
        SimBar { index: 0, address: layout.registers, length: 0x2_0000, space: BarSpace::Memory },
        SimBar { index: 1, address: layout.flash, length: 0x2_0000, space: BarSpace::Memory },
        SimBar { index: 2, address: u64::from(layout.io_ports), length: 32, space: BarSpace::Port },
        SimBar { index: 3, address: layout.msix, length: 0x4000, space: BarSpace::Memory },
    ]
}

/// Sets or clears `mask` in byte `offset` of the capability with `id` (if the device has it).
fn set_capability_bit(config: &mut [u8], id: u8, offset: usize, mask: u8, set: bool) {
    let Some(capability) = find_capability(config, id) else { return };
    if let Some(byte) = config.get_mut(usize::from(capability) + offset) {
        *byte = if set { *byte | mask } else { *byte & !mask };
    }
}

/// Size of the private RAM used without QEMU (sparse; only touched pages cost memory).
const PRIVATE_RAM_BYTES: usize = 64 << 20;

/// No device: private RAM for DMA, and the configuration space and BARs of the test's
/// configuration.
#[derive(Debug)]
pub(crate) struct Bare {
    ram: GuestRam,
    dma: Mutex<GpaAllocator>,
    /// Configuration space; the OS updates the MSI-X and MSI enable bits.
    config_space: Mutex<Vec<u8>>,
    bars: Vec<SimBar>,
}

/// The hardware behind the simulated ndis.sys.
#[derive(Debug)]
pub(crate) enum Machine {
    /// QEMU's 82576.
    Qemu(Box<Igb>),
    /// No device.
    Bare(Bare),
}

impl Machine {
    /// Starts QEMU and attaches the 82576 (BARs assigned, I/O, memory and bus mastering
    /// enabled, MSI-X left disabled until the OS connects an interrupt).
    pub(crate) fn qemu(config: &QemuConfig) -> qemu::Result<Self> {
        let qemu = Qemu::start(config)?;
        Ok(Machine::Qemu(Box::new(Igb::attach(qemu, BarLayout::default())?)))
    }

    /// No device: `config_space` answers NdisMGetBusData and `bars` are the resources.
    pub(crate) fn bare(config_space: Vec<u8>, bars: Vec<SimBar>) -> qemu::Result<Self> {
        let ram = GuestRam::private(PRIVATE_RAM_BYTES)?;
        let dma = GpaAllocator::new(FIRST_DMA_ADDRESS, PRIVATE_RAM_BYTES as u64)?;
        Ok(Machine::Bare(Bare {
            ram,
            dma: Mutex::new(dma),
            config_space: Mutex::new(config_space),
            bars,
        }))
    }

    /// The device, when there is one.
    pub(crate) fn igb(&self) -> Option<&Igb> {
        match self {
            Machine::Qemu(igb) => Some(igb),
            Machine::Bare(_) => None,
        }
    }

    /// RAM that DMA memory comes from.
    pub(crate) fn ram(&self) -> &GuestRam {
        match self {
            Machine::Qemu(igb) => igb.qemu().ram(),
            Machine::Bare(bare) => &bare.ram,
        }
    }

    /// Zeroed, page-aligned DMA memory. With QEMU, when no fresh memory is left, the oldest
    /// freed range in quarantine is checked and released, as often as it takes
    /// (`sim::freed_memory`).
    pub(crate) fn dma_alloc(&self, len: u64, tag: &'static str) -> qemu::Result<GpaRange> {
        match self {
            Machine::Qemu(igb) => loop {
                match igb.qemu().dma_alloc(len, tag) {
                    Err(qemu::Error::OutOfGuestMemory { .. })
                        if super::freed_memory::release_oldest(self)? => {}
                    result => return result,
                }
            },
            Machine::Bare(bare) => {
                let range =
                    bare.dma.lock().unwrap_or_else(PoisonError::into_inner).alloc(len, tag)?;
                bare.ram.fill(range.gpa, range.len, 0)?;
                Ok(range)
            }
        }
    }

    /// Returns DMA memory at once (the driver's shared memory goes through
    /// `sim::freed_memory::free_shared` instead).
    pub(crate) fn dma_free(&self, range: GpaRange) -> qemu::Result<()> {
        match self {
            Machine::Qemu(igb) => igb.qemu().dma_free(range),
            Machine::Bare(bare) => {
                bare.dma.lock().unwrap_or_else(PoisonError::into_inner).free(range)
            }
        }
    }

    /// The device's 256-byte configuration space, read live from the device (its MSI-X and
    /// MSI enable bits change as the OS connects interrupts).
    pub(crate) fn config_space(&self) -> qemu::Result<Vec<u8>> {
        match self {
            Machine::Qemu(igb) => {
                let pci = igb.pci();
                let mut bytes = Vec::with_capacity(256);
                for offset in (0..=252u8).step_by(4) {
                    bytes.extend_from_slice(&pci.read32(offset)?.to_le_bytes());
                }
                Ok(bytes)
            }
            Machine::Bare(bare) => {
                let mut bytes =
                    bare.config_space.lock().unwrap_or_else(PoisonError::into_inner).clone();
                bytes.resize(256, 0);
                Ok(bytes)
            }
        }
    }

    /// Sets the device's interrupt mechanism the way the PCI bus driver does when it starts
    /// the device with a grant (before MiniportInitializeEx, so the driver reads the granted
    /// mode from configuration space): MSI-X enabled (entries still masked), or MSI-X off for
    /// MSI (whose capability is programmed when the interrupt is connected), or only INTx;
    /// `None` turns everything off (the device stopped).
    pub(crate) fn set_interrupt_mode(&self, kind: Option<GrantKind>) -> qemu::Result<()> {
        let msix = kind == Some(GrantKind::MsiX);
        let intx = kind == Some(GrantKind::Line);
        match self {
            Machine::Qemu(igb) => {
                igb.msi_disable()?;
                igb.set_intx_disabled(!intx)?;
                igb.msix_set_control(msix, false)
            }
            Machine::Bare(bare) => {
                let mut config = bare.config_space.lock().unwrap_or_else(PoisonError::into_inner);
                set_capability_bit(&mut config, PCI_CAPABILITY_ID_MSIX, 3, 0x80, msix);
                set_capability_bit(&mut config, PCI_CAPABILITY_ID_MSI, 2, 0x01, false);
                Ok(())
            }
        }
    }

    /// Without a device: the MSI capability's enable bit (the OS sets it when it connects an
    /// MSI interrupt).
    pub(crate) fn set_bare_msi_enabled(&self, enabled: bool) {
        if let Machine::Bare(bare) = self {
            let mut config = bare.config_space.lock().unwrap_or_else(PoisonError::into_inner);
            set_capability_bit(&mut config, PCI_CAPABILITY_ID_MSI, 2, 0x01, enabled);
        }
    }

    /// The BARs as the bus assigned them, in BAR order.
    pub(crate) fn bars(&self) -> qemu::Result<Vec<SimBar>> {
        match self {
            Machine::Qemu(igb) => Ok(igb
                .bars()?
                .into_iter()
                .map(|(info, address)| SimBar {
                    index: info.index,
                    address,
                    length: info.size,
                    space: if info.kind == BarKind::Io { BarSpace::Port } else { BarSpace::Memory },
                })
                .collect()),
            Machine::Bare(bare) => Ok(bare.bars.clone()),
        }
    }
}
