//! PCI configuration space through the legacy 0xCF8/0xCFC mechanism (type 1 accesses over
//! qtest port I/O), a capability-list walker, BAR sizing/assignment and the MSI-X capability
//! (igb-qemu.md §2).

use super::error::{Error, Result};
use super::qtest::Qtest;

/// CONFIG_ADDRESS I/O port.
pub const CONFIG_ADDRESS_PORT: u16 = 0xCF8;
/// CONFIG_DATA I/O port.
pub const CONFIG_DATA_PORT: u16 = 0xCFC;

/// Vendor ID register (16-bit).
pub const VENDOR_ID: u8 = 0x00;
/// Device ID register (16-bit).
pub const DEVICE_ID: u8 = 0x02;
/// Command register (16-bit).
pub const COMMAND: u8 = 0x04;
/// Status register (16-bit).
pub const STATUS: u8 = 0x06;
/// Revision ID (8-bit).
pub const REVISION_ID: u8 = 0x08;
/// Class code, 24 bits at 0x09..0x0B (read as the upper three bytes of dword 0x08).
pub const CLASS_REVISION: u8 = 0x08;
/// First BAR register; BAR n is at `BAR0 + 4 n`.
pub const BAR0: u8 = 0x10;
/// Capabilities pointer (8-bit).
pub const CAPABILITIES_POINTER: u8 = 0x34;

/// Command: I/O space decode.
pub const COMMAND_IO_SPACE: u16 = 1 << 0;
/// Command: memory space decode.
pub const COMMAND_MEMORY_SPACE: u16 = 1 << 1;
/// Command: bus master. QEMU's igb refuses RX DMA without it (`e1000x_rx_ready`, §2).
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
/// Command: INTx Disable. While set, the function never asserts its INTx line.
pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;
/// Status: the capability list is present.
pub const STATUS_CAPABILITIES_LIST: u16 = 1 << 4;

/// Capability ID of power management.
pub const CAP_ID_POWER_MANAGEMENT: u8 = 0x01;
/// Capability ID of MSI.
pub const CAP_ID_MSI: u8 = 0x05;
/// Capability ID of PCI Express.
pub const CAP_ID_PCI_EXPRESS: u8 = 0x10;
/// Capability ID of MSI-X.
pub const CAP_ID_MSIX: u8 = 0x11;

/// MSI-X Message Control: bits 10:0 = table size - 1.
pub const MSIX_CONTROL_TABLE_SIZE_MASK: u16 = 0x07FF;
/// MSI-X Message Control: Function Mask (every vector masked, messages become pending).
pub const MSIX_CONTROL_FUNCTION_MASK: u16 = 1 << 14;
/// MSI-X Message Control: MSI-X Enable.
pub const MSIX_CONTROL_ENABLE: u16 = 1 << 15;

/// MSI Message Control: MSI Enable.
pub const MSI_CONTROL_ENABLE: u16 = 1 << 0;
/// MSI Message Control: bits 6:4, Multiple Message Enable (log2 of the enabled count).
pub const MSI_CONTROL_MULTIPLE_MESSAGE_ENABLE: u16 = 0x7 << 4;
/// MSI Message Control: the capability has a 64-bit address.
pub const MSI_CONTROL_64BIT: u16 = 1 << 7;

/// Bytes per MSI-X table entry: address low, address high, data, vector control.
pub const MSIX_ENTRY_SIZE: u64 = 16;
/// Vector control bit 0: the entry is masked.
pub const MSIX_VECTOR_CONTROL_MASKED: u32 = 1;

/// Number of BAR registers in a type 0 header.
pub const BAR_COUNT: u8 = 6;

/// Bus/device/function of a PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddress {
    bus: u8,
    device: u8,
    function: u8,
}

impl PciAddress {
    /// Checks device < 32 and function < 8.
    pub fn new(bus: u8, device: u8, function: u8) -> Result<Self> {
        if device >= 32 || function >= 8 {
            return Err(Error::InvalidArgument(format!(
                "PCI address {bus:02x}:{device:02x}.{function} out of range"
            )));
        }
        Ok(PciAddress { bus, device, function })
    }

    /// The CONFIG_ADDRESS value selecting the dword that holds `offset`.
    #[must_use]
    pub fn config_address(&self, offset: u8) -> u32 {
        0x8000_0000
            | (u32::from(self.bus) << 16)
            | (u32::from(self.device) << 11)
            | (u32::from(self.function) << 8)
            | u32::from(offset & 0xFC)
    }
}

/// One entry of the capability list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciCapability {
    /// Offset in configuration space.
    pub offset: u8,
    /// Capability ID.
    pub id: u8,
}

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// I/O space.
    Io,
    /// 32-bit memory space.
    Memory32 {
        /// Prefetchable bit.
        prefetchable: bool,
    },
    /// 64-bit memory space; occupies this BAR register and the next.
    Memory64 {
        /// Prefetchable bit.
        prefetchable: bool,
    },
}

/// A sized BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarInfo {
    /// BAR index (0..6).
    pub index: u8,
    /// Decode type.
    pub kind: BarKind,
    /// Size in bytes (a power of two).
    pub size: u64,
}

/// Decodes what a BAR reads back after all-ones were written to it (and, for a 64-bit BAR,
/// to its upper half). `None` for an unimplemented BAR (reads back 0).
#[must_use]
pub fn decode_bar_sizing(index: u8, low: u32, high: Option<u32>) -> Option<BarInfo> {
    if low & 1 == 1 {
        let mask = low & !0x3;
        if mask == 0 {
            return None;
        }
        // I/O BARs decode 16 address bits on x86; the upper half may read back as 0.
        let size = u64::from((!(mask | 0xFFFF_0000)).wrapping_add(1) & 0xFFFF);
        return Some(BarInfo {
            index,
            kind: BarKind::Io,
            size: if size == 0 { 0x1_0000 } else { size },
        });
    }
    let prefetchable = low & 0x8 != 0;
    let (kind, mask) = match (low >> 1) & 0x3 {
        0x2 => {
            let high = u64::from(high.unwrap_or(0xFFFF_FFFF));
            (BarKind::Memory64 { prefetchable }, (high << 32) | u64::from(low & !0xF))
        }
        _ => (BarKind::Memory32 { prefetchable }, 0xFFFF_FFFF_0000_0000 | u64::from(low & !0xF)),
    };
    if matches!(kind, BarKind::Memory32 { .. }) && low & !0xF == 0 {
        return None;
    }
    Some(BarInfo { index, kind, size: (!mask).wrapping_add(1) })
}

/// Where the MSI-X table and PBA are, from the MSI-X capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsixCapability {
    /// Offset of the capability in configuration space.
    pub cap_offset: u8,
    /// Number of table entries (Message Control bits 10:0, plus one).
    pub table_size: u16,
    /// BAR holding the table.
    pub table_bir: u8,
    /// Offset of the table in that BAR.
    pub table_offset: u32,
    /// BAR holding the pending-bit array.
    pub pba_bir: u8,
    /// Offset of the PBA in that BAR.
    pub pba_offset: u32,
}

impl MsixCapability {
    /// Decodes the capability's Message Control, Table Offset/BIR and PBA Offset/BIR registers.
    pub fn decode(cap_offset: u8, message_control: u16, table: u32, pba: u32) -> Result<Self> {
        let table_bir = u8::try_from(table & 0x7).unwrap_or(u8::MAX);
        let pba_bir = u8::try_from(pba & 0x7).unwrap_or(u8::MAX);
        if table_bir >= BAR_COUNT || pba_bir >= BAR_COUNT {
            return Err(Error::Device(format!(
                "MSI-X BIR out of range (table {table_bir}, PBA {pba_bir})"
            )));
        }
        Ok(MsixCapability {
            cap_offset,
            table_size: (message_control & MSIX_CONTROL_TABLE_SIZE_MASK) + 1,
            table_bir,
            table_offset: table & !0x7,
            pba_bir,
            pba_offset: pba & !0x7,
        })
    }

    /// Offset of the Message Control register.
    #[must_use]
    pub fn control_offset(&self) -> u8 {
        self.cap_offset + 2
    }
}

/// Configuration space of one PCI function, accessed over qtest.
#[derive(Clone, Copy, Debug)]
pub struct PciConfig<'q> {
    qtest: &'q Qtest,
    address: PciAddress,
}

fn check_aligned(offset: u8, width: u8) -> Result<()> {
    if !offset.is_multiple_of(width) {
        return Err(Error::InvalidArgument(format!(
            "config-space offset {offset:#x} is not aligned for a {}-bit access",
            width * 8
        )));
    }
    Ok(())
}

impl<'q> PciConfig<'q> {
    /// Config space of `address`.
    #[must_use]
    pub fn new(qtest: &'q Qtest, address: PciAddress) -> Self {
        PciConfig { qtest, address }
    }

    /// The function's address.
    #[must_use]
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// 8-bit read.
    pub fn read8(&self, offset: u8) -> Result<u8> {
        let mut s = self.qtest.session();
        s.outl(CONFIG_ADDRESS_PORT, self.address.config_address(offset))?;
        s.inb(CONFIG_DATA_PORT + u16::from(offset & 3))
    }

    /// 16-bit read; `offset` must be even.
    pub fn read16(&self, offset: u8) -> Result<u16> {
        check_aligned(offset, 2)?;
        let mut s = self.qtest.session();
        s.outl(CONFIG_ADDRESS_PORT, self.address.config_address(offset))?;
        s.inw(CONFIG_DATA_PORT + u16::from(offset & 2))
    }

    /// 32-bit read; `offset` must be a multiple of 4.
    pub fn read32(&self, offset: u8) -> Result<u32> {
        check_aligned(offset, 4)?;
        let mut s = self.qtest.session();
        s.outl(CONFIG_ADDRESS_PORT, self.address.config_address(offset))?;
        s.inl(CONFIG_DATA_PORT)
    }

    /// 8-bit write.
    pub fn write8(&self, offset: u8, value: u8) -> Result<()> {
        let mut s = self.qtest.session();
        s.outl(CONFIG_ADDRESS_PORT, self.address.config_address(offset))?;
        s.outb(CONFIG_DATA_PORT + u16::from(offset & 3), value)
    }

    /// 16-bit write; `offset` must be even.
    pub fn write16(&self, offset: u8, value: u16) -> Result<()> {
        check_aligned(offset, 2)?;
        let mut s = self.qtest.session();
        s.outl(CONFIG_ADDRESS_PORT, self.address.config_address(offset))?;
        s.outw(CONFIG_DATA_PORT + u16::from(offset & 2), value)
    }

    /// 32-bit write; `offset` must be a multiple of 4.
    pub fn write32(&self, offset: u8, value: u32) -> Result<()> {
        check_aligned(offset, 4)?;
        let mut s = self.qtest.session();
        s.outl(CONFIG_ADDRESS_PORT, self.address.config_address(offset))?;
        s.outl(CONFIG_DATA_PORT, value)
    }

    /// Vendor and device ID.
    pub fn ids(&self) -> Result<(u16, u16)> {
        let dword = self.read32(VENDOR_ID)?;
        Ok(((dword & 0xFFFF) as u16, (dword >> 16) as u16))
    }

    /// The Command register.
    pub fn command(&self) -> Result<u16> {
        self.read16(COMMAND)
    }

    /// Writes the Command register.
    pub fn set_command(&self, value: u16) -> Result<()> {
        self.write16(COMMAND, value)
    }

    /// Walks the capability list (empty if Status.CapabilitiesList is clear). Errors on a
    /// malformed list: a pointer into the header, or a loop.
    pub fn capabilities(&self) -> Result<Vec<PciCapability>> {
        let mut out = Vec::new();
        if self.read16(STATUS)? & STATUS_CAPABILITIES_LIST == 0 {
            return Ok(out);
        }
        // The low two bits of every pointer are reserved.
        let mut pointer = self.read8(CAPABILITIES_POINTER)? & 0xFC;
        while pointer != 0 {
            // At most (256 - 64) / 4 capabilities fit after the header; more means a loop.
            if pointer < 0x40 || out.len() >= 48 {
                return Err(Error::Device(format!("malformed capability list at {pointer:#x}")));
            }
            let header = self.read16(pointer)?;
            out.push(PciCapability { offset: pointer, id: (header & 0xFF) as u8 });
            pointer = ((header >> 8) as u8) & 0xFC;
        }
        Ok(out)
    }

    /// Offset of the first capability with `id`.
    pub fn find_capability(&self, id: u8) -> Result<Option<u8>> {
        Ok(self.capabilities()?.into_iter().find(|c| c.id == id).map(|c| c.offset))
    }

    fn bar_offset(index: u8) -> Result<u8> {
        if index >= BAR_COUNT {
            return Err(Error::InvalidArgument(format!("BAR index {index} out of range")));
        }
        Ok(BAR0 + 4 * index)
    }

    /// Sizes BAR `index` by the all-ones protocol and restores its value. Decoding is turned
    /// off meanwhile so the transient all-ones address never claims a window.
    pub fn size_bar(&self, index: u8) -> Result<Option<BarInfo>> {
        let offset = Self::bar_offset(index)?;
        let command = self.command()?;
        self.set_command(command & !(COMMAND_IO_SPACE | COMMAND_MEMORY_SPACE))?;
        let result = self.size_bar_decode_off(index, offset);
        self.set_command(command)?;
        result
    }

    fn size_bar_decode_off(&self, index: u8, offset: u8) -> Result<Option<BarInfo>> {
        let original = self.read32(offset)?;
        self.write32(offset, 0xFFFF_FFFF)?;
        let low = self.read32(offset)?;
        self.write32(offset, original)?;
        let is_mem64 = low & 1 == 0 && (low >> 1) & 0x3 == 0x2;
        let high = if is_mem64 {
            if index + 1 >= BAR_COUNT {
                return Err(Error::Device(format!("64-bit BAR {index} has no upper half")));
            }
            let original_high = self.read32(offset + 4)?;
            self.write32(offset + 4, 0xFFFF_FFFF)?;
            let high = self.read32(offset + 4)?;
            self.write32(offset + 4, original_high)?;
            Some(high)
        } else {
            None
        };
        Ok(decode_bar_sizing(index, low, high))
    }

    /// Sizes BAR `index` and places it at `address`, which must suit its kind and be aligned
    /// to its size.
    pub fn assign_bar(&self, index: u8, address: u64) -> Result<BarInfo> {
        let offset = Self::bar_offset(index)?;
        let info = self
            .size_bar(index)?
            .ok_or_else(|| Error::Device(format!("BAR{index} is not implemented")))?;
        if !address.is_multiple_of(info.size) {
            return Err(Error::InvalidArgument(format!(
                "BAR{index} address {address:#x} is not aligned to its size {:#x}",
                info.size
            )));
        }
        let too_high = |limit: u64| {
            Error::InvalidArgument(format!("BAR{index} address {address:#x} above {limit:#x}"))
        };
        match info.kind {
            BarKind::Io => {
                let port = u32::try_from(address)
                    .ok()
                    .filter(|&p| p <= 0xFFFF)
                    .ok_or_else(|| too_high(0xFFFF))?;
                self.write32(offset, port | 1)?;
            }
            BarKind::Memory32 { .. } => {
                let low = u32::try_from(address).map_err(|_| too_high(0xFFFF_FFFF))?;
                self.write32(offset, low)?;
            }
            BarKind::Memory64 { .. } => {
                self.write32(offset, (address & 0xFFFF_FFFF) as u32)?;
                self.write32(offset + 4, (address >> 32) as u32)?;
            }
        }
        Ok(info)
    }

    /// The address BAR `index` is programmed with (without sizing it).
    pub fn bar_address(&self, index: u8, kind: BarKind) -> Result<u64> {
        let offset = Self::bar_offset(index)?;
        let low = self.read32(offset)?;
        Ok(match kind {
            BarKind::Io => u64::from(low & !0x3),
            BarKind::Memory32 { .. } => u64::from(low & !0xF),
            BarKind::Memory64 { .. } => {
                (u64::from(self.read32(offset + 4)?) << 32) | u64::from(low & !0xF)
            }
        })
    }

    /// Finds and decodes the MSI-X capability.
    pub fn msix_capability(&self) -> Result<MsixCapability> {
        let cap = self
            .find_capability(CAP_ID_MSIX)?
            .ok_or_else(|| Error::Device("no MSI-X capability".to_owned()))?;
        let control = self.read16(cap + 2)?;
        let table = self.read32(cap + 4)?;
        let pba = self.read32(cap + 8)?;
        MsixCapability::decode(cap, control, table, pba)
    }

    /// Programs the MSI capability with one message (`address`, `data`) and enables or
    /// disables it. Multiple Message Enable is set to one message: this simulator's OS grants
    /// a single MSI message (QEMU's igb has a one-vector MSI capability, igb-qemu.md §2).
    pub fn set_msi(&self, address: u64, data: u16, enable: bool) -> Result<()> {
        let cap = self
            .find_capability(CAP_ID_MSI)?
            .ok_or_else(|| Error::Device("no MSI capability".to_owned()))?;
        let control = self.read16(cap + 2)?;
        let wide = control & MSI_CONTROL_64BIT != 0;
        if !wide && address >> 32 != 0 {
            return Err(Error::InvalidArgument(format!(
                "MSI address {address:#x} needs the 64-bit capability this device lacks"
            )));
        }
        let disabled = control & !(MSI_CONTROL_ENABLE | MSI_CONTROL_MULTIPLE_MESSAGE_ENABLE);
        // Disable while the address and data change, so no half-written message goes out.
        self.write16(cap + 2, disabled)?;
        self.write32(cap + 4, (address & 0xFFFF_FFFF) as u32)?;
        let data_offset = if wide {
            self.write32(cap + 8, (address >> 32) as u32)?;
            cap + 0xC
        } else {
            cap + 8
        };
        self.write16(data_offset, data)?;
        if enable {
            self.write16(cap + 2, disabled | MSI_CONTROL_ENABLE)?;
        }
        Ok(())
    }

    /// Sets MSI-X Enable and Function Mask in Message Control (igb-qemu.md §2 step 3: until
    /// Enable is set and Function Mask is clear, messages only set PBA bits).
    pub fn set_msix_control(
        &self,
        msix: &MsixCapability,
        enable: bool,
        function_mask: bool,
    ) -> Result<()> {
        let mut control = self.read16(msix.control_offset())?
            & !(MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK);
        if enable {
            control |= MSIX_CONTROL_ENABLE;
        }
        if function_mask {
            control |= MSIX_CONTROL_FUNCTION_MASK;
        }
        self.write16(msix.control_offset(), control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_address_encodes_bdf_and_dword() {
        let igb = PciAddress::new(0, 3, 0).unwrap();
        assert_eq!(igb.config_address(0x00), 0x8000_1800);
        assert_eq!(igb.config_address(0x72), 0x8000_1870);
        assert_eq!(PciAddress::new(1, 31, 7).unwrap().config_address(0x3F), 0x8001_FF3C);
        assert!(PciAddress::new(0, 32, 0).is_err());
        assert!(PciAddress::new(0, 0, 8).is_err());
    }

    #[test]
    fn bar_sizing_decodes_each_kind() {
        // 128 KiB non-prefetchable 32-bit memory BAR.
        assert_eq!(
            decode_bar_sizing(0, 0xFFFE_0000, None),
            Some(BarInfo {
                index: 0,
                kind: BarKind::Memory32 { prefetchable: false },
                size: 0x2_0000
            })
        );
        // 32-byte I/O BAR; some devices read the upper 16 bits back as zero.
        for low in [0xFFFF_FFE1, 0x0000_FFE1] {
            assert_eq!(
                decode_bar_sizing(2, low, None),
                Some(BarInfo { index: 2, kind: BarKind::Io, size: 32 })
            );
        }
        // 16 KiB 64-bit BAR.
        assert_eq!(
            decode_bar_sizing(3, 0xFFFF_C004, Some(0xFFFF_FFFF)),
            Some(BarInfo {
                index: 3,
                kind: BarKind::Memory64 { prefetchable: false },
                size: 0x4000
            })
        );
        // 8 GiB prefetchable 64-bit BAR.
        assert_eq!(
            decode_bar_sizing(0, 0x0000_000C, Some(0xFFFF_FFFE)),
            Some(BarInfo {
                index: 0,
                kind: BarKind::Memory64 { prefetchable: true },
                size: 1 << 33
            })
        );
        assert_eq!(decode_bar_sizing(5, 0, None), None);
    }

    #[test]
    fn msix_capability_fields_are_decoded() {
        // QEMU's igb: Message Control 0x0009 (10 vectors), table BAR3+0, PBA BAR3+0x2000.
        let cap = MsixCapability::decode(0x70, 0x0009, 0x0000_0003, 0x0000_2003).unwrap();
        assert_eq!(cap.table_size, 10);
        assert_eq!((cap.table_bir, cap.table_offset), (3, 0));
        assert_eq!((cap.pba_bir, cap.pba_offset), (3, 0x2000));
        assert_eq!(cap.control_offset(), 0x72);
        // Enable and Function Mask bits do not leak into the size.
        let cap = MsixCapability::decode(0x70, 0xC7FF, 0x10, 0x800).unwrap();
        assert_eq!(cap.table_size, 2048);
        assert_eq!((cap.table_bir, cap.table_offset), (0, 0x10));
        assert!(MsixCapability::decode(0x70, 0, 0x6, 0).is_err());
    }
}
