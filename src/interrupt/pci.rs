//! The PCI MSI-X capability, read from configuration space (NdisMGetBusData with
//! `PCI_WHICHSPACE_CONFIG`). Its Message Control word gives the size of the NIC's MSI-X table,
//! which bounds how many table entries the driver may use. The size is read from the device,
//! never assumed: QEMU's 82576 has 10 entries, real silicon and other NICs differ.

use super::bytes;

/// PCI configuration space header: status register (bit 4 = capabilities list present).
const PCI_STATUS: usize = 0x06;
const PCI_STATUS_CAPABILITIES_LIST: u16 = 1 << 4;
/// Capabilities pointer (type-0 header).
const PCI_CAPABILITIES_POINTER: usize = 0x34;
/// Capability id of MSI-X.
pub const PCI_CAPABILITY_ID_MSIX: u8 = 0x11;
/// Capability id of MSI.
pub const PCI_CAPABILITY_ID_MSI: u8 = 0x05;
/// Bytes of configuration space the driver reads: the standard 256-byte space, which holds
/// every classic capability.
pub const PCI_CONFIG_SPACE_SIZE: usize = 256;
/// A capability list can have at most (256 - 64) / 4 entries; more steps means a loop.
const MAX_CAPABILITIES: usize = 48;

/// What the MSI-X capability says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsixCapability {
    /// Offset of the capability in configuration space.
    pub offset: u8,
    /// Entries in the MSI-X table: Message Control bits 10:0, plus one (1..=2048).
    pub table_size: u16,
    /// Message Control bit 15: MSI-X is enabled (the OS granted MSI-X, not MSI or a line).
    pub enabled: bool,
    /// Message Control bit 14: every vector masked.
    pub function_masked: bool,
    /// BAR holding the table (BIR, bits 2:0 of the table offset register).
    pub table_bar: u8,
    /// Offset of the table in that BAR.
    pub table_offset: u32,
    /// BAR holding the pending-bit array.
    pub pba_bar: u8,
    /// Offset of the pending-bit array in that BAR.
    pub pba_offset: u32,
}

/// Finds a capability by id in `config` (configuration space from offset 0). `None` if the
/// device has no capability list, the id is absent, or the list is malformed (a pointer into
/// the header, past the buffer, or a loop).
#[must_use]
pub fn find_capability(config: &[u8], id: u8) -> Option<u8> {
    let status = bytes::read_u16(config, PCI_STATUS)?;
    if status & PCI_STATUS_CAPABILITIES_LIST == 0 {
        return None;
    }
    let mut pointer = bytes::read_u8(config, PCI_CAPABILITIES_POINTER)? & 0xFC;
    for _ in 0..MAX_CAPABILITIES {
        // Capabilities live after the 64-byte header.
        if pointer < 0x40 {
            return None;
        }
        let at = usize::from(pointer);
        if bytes::read_u8(config, at)? == id {
            return Some(pointer);
        }
        pointer = bytes::read_u8(config, at + 1)? & 0xFC;
    }
    None
}

/// Parses the MSI-X capability out of configuration space.
#[must_use]
pub fn msix_capability(config: &[u8]) -> Option<MsixCapability> {
    let offset = find_capability(config, PCI_CAPABILITY_ID_MSIX)?;
    let at = usize::from(offset);
    let control = bytes::read_u16(config, at + 2)?;
    let table = bytes::read_u32(config, at + 4)?;
    let pba = bytes::read_u32(config, at + 8)?;
    // The mask keeps 3 bits, so the casts cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    Some(MsixCapability {
        offset,
        table_size: (control & 0x07FF) + 1,
        enabled: control & (1 << 15) != 0,
        function_masked: control & (1 << 14) != 0,
        table_bar: (table & 0x7) as u8,
        table_offset: table & !0x7,
        pba_bar: (pba & 0x7) as u8,
        pba_offset: pba & !0x7,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An 82576-like configuration space: 8086:10C9 with the capability chain 0x40 (power
    /// management) → 0x50 (MSI) → 0x70 (MSI-X: 10 entries, enabled, table in BAR3 at 0, PBA in
    /// BAR3 at 0x2000, as igb-qemu.md §2 describes the emulated device).
    fn igb_like_config() -> [u8; PCI_CONFIG_SPACE_SIZE] {
        let mut c = [0u8; PCI_CONFIG_SPACE_SIZE];
        c[0..4].copy_from_slice(&[0x86, 0x80, 0xC9, 0x10]);
        c[PCI_STATUS] = 0x10;
        c[PCI_CAPABILITIES_POINTER] = 0x40;
        c[0x40] = 0x01; // power management
        c[0x41] = 0x50;
        c[0x50] = PCI_CAPABILITY_ID_MSI;
        c[0x51] = 0x70;
        c[0x70] = PCI_CAPABILITY_ID_MSIX;
        c[0x71] = 0x00;
        c[0x72..0x74].copy_from_slice(&(9u16 | 1 << 15).to_le_bytes());
        c[0x74..0x78].copy_from_slice(&3u32.to_le_bytes());
        c[0x78..0x7C].copy_from_slice(&(0x2000u32 | 3).to_le_bytes());
        c
    }

    #[test]
    fn reads_the_table_size_from_message_control() {
        let cap = msix_capability(&igb_like_config()).unwrap();
        assert_eq!(
            cap,
            MsixCapability {
                offset: 0x70,
                table_size: 10,
                enabled: true,
                function_masked: false,
                table_bar: 3,
                table_offset: 0,
                pba_bar: 3,
                pba_offset: 0x2000,
            }
        );
        assert_eq!(find_capability(&igb_like_config(), PCI_CAPABILITY_ID_MSI), Some(0x50));
    }

    #[test]
    fn full_size_table() {
        let mut c = igb_like_config();
        c[0x72..0x74].copy_from_slice(&0x07FFu16.to_le_bytes());
        assert_eq!(msix_capability(&c).unwrap().table_size, 2048);
    }

    #[test]
    fn missing_or_malformed_lists() {
        let mut no_list = igb_like_config();
        no_list[PCI_STATUS] = 0;
        assert_eq!(msix_capability(&no_list), None);

        let mut looped = igb_like_config();
        looped[0x51] = 0x40; // MSI points back at PM: a loop without MSI-X
        assert_eq!(msix_capability(&looped), None);

        let mut into_header = igb_like_config();
        into_header[0x41] = 0x10;
        assert_eq!(msix_capability(&into_header), None);

        assert_eq!(msix_capability(&igb_like_config()[..0x78]), None);
    }

    proptest! {
        #[test]
        fn random_config_space_never_panics(config in proptest::collection::vec(any::<u8>(), 0..=256)) {
            if let Some(cap) = msix_capability(&config) {
                prop_assert!((1..=2048).contains(&cap.table_size));
            }
        }
    }
}
