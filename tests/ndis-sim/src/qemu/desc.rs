//! Advanced RX and TX descriptor layouts as QEMU's igb reads and writes them
//! (igb-qemu.md §5 and §7). All fields are little-endian; a descriptor is 16 bytes.

/// Size of every RX and TX descriptor.
pub const DESC_SIZE: usize = 16;

/// RX status: descriptor done.
pub const RXD_STAT_DD: u32 = 1 << 0;
/// RX status: end of packet.
pub const RXD_STAT_EOP: u32 = 1 << 1;
/// RX status: VLAN tag stripped into the descriptor.
pub const RXD_STAT_VP: u32 = 1 << 3;
/// RX status: UDP checksum computed.
pub const RXD_STAT_UDPCS: u32 = 1 << 4;
/// RX status: L4 (TCP/UDP) checksum computed.
pub const RXD_STAT_L4I: u32 = 1 << 5;
/// RX status: IPv4 checksum computed.
pub const RXD_STAT_IPCS: u32 = 1 << 6;
/// RX status: IP identification valid in dword 1.
pub const RXD_STAT_IPIDV: u32 = 1 << 9;
/// RX error: L4 checksum error.
pub const RXD_ERR_L4E: u32 = 1 << 29;
/// RX error: IPv4 checksum error.
pub const RXD_ERR_IPE: u32 = 1 << 30;

/// TX command: end of packet.
pub const TXD_CMD_EOP: u32 = 1 << 24;
/// TX command: insert FCS.
pub const TXD_CMD_IFCS: u32 = 1 << 25;
/// TX command: report status (write back DD).
pub const TXD_CMD_RS: u32 = 1 << 27;
/// TX command: descriptor extension (advanced format).
pub const TXD_CMD_DEXT: u32 = 1 << 29;
/// TX descriptor type "advanced data" (DTYP = 0011 in bits 23:20).
pub const TXD_DTYP_DATA: u32 = 0x3 << 20;
/// TX olinfo: PAYLEN shift (bits 31:14).
pub const TXD_PAYLEN_SHIFT: u32 = 14;
/// TX write-back: descriptor done, bit 0 of the status/olinfo dword.
pub const TXD_STAT_DD: u32 = 1 << 0;

/// Advanced one-buffer RX descriptor, read format (what software hands to the NIC): packet
/// buffer address, then header buffer address. Writing 0 as header address also clears the
/// previous write-back's DD bit, which shares those bytes (§5).
#[must_use]
pub fn adv_rx_read(packet_buffer: u64, header_buffer: u64) -> [u8; DESC_SIZE] {
    let mut d = [0u8; DESC_SIZE];
    d[..8].copy_from_slice(&packet_buffer.to_le_bytes());
    d[8..].copy_from_slice(&header_buffer.to_le_bytes());
    d
}

fn dword(d: &[u8; DESC_SIZE], index: usize) -> u32 {
    u32::from_le_bytes([d[4 * index], d[4 * index + 1], d[4 * index + 2], d[4 * index + 3]])
}

/// Advanced RX descriptor, write-back format (`igb_write_adv_rx_descr`, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdvRxWriteback {
    /// Dword 0 bits 3:0.
    pub rss_type: u8,
    /// Dword 0 bits 15:4: bit 0 IPv4, bit 2 IPv6, bit 4 TCP, bit 5 UDP, ...
    pub packet_type: u16,
    /// Dword 0 bits 31:16 (header-split modes only).
    pub hdr_info: u16,
    /// Dword 1: RSS hash, or the IPv4 identification when IPIDV is set.
    pub rss_hash_or_ip_id: u32,
    /// Dword 2: status and error bits (`RXD_STAT_*`, `RXD_ERR_*`).
    pub status_error: u32,
    /// Dword 3 bits 15:0: bytes written to this descriptor's buffer.
    pub length: u16,
    /// Dword 3 bits 31:16: stripped VLAN tag when VP is set.
    pub vlan: u16,
}

impl AdvRxWriteback {
    /// Decodes the 16 bytes of a written-back descriptor.
    #[must_use]
    pub fn decode(d: &[u8; DESC_SIZE]) -> Self {
        let dw0 = dword(d, 0);
        let dw3 = dword(d, 3);
        AdvRxWriteback {
            rss_type: (dw0 & 0xF) as u8,
            packet_type: ((dw0 >> 4) & 0xFFF) as u16,
            hdr_info: (dw0 >> 16) as u16,
            rss_hash_or_ip_id: dword(d, 1),
            status_error: dword(d, 2),
            length: (dw3 & 0xFFFF) as u16,
            vlan: (dw3 >> 16) as u16,
        }
    }

    /// Descriptor done.
    #[must_use]
    pub fn dd(&self) -> bool {
        self.status_error & RXD_STAT_DD != 0
    }

    /// Last descriptor of the frame.
    #[must_use]
    pub fn eop(&self) -> bool {
        self.status_error & RXD_STAT_EOP != 0
    }

    /// A VLAN tag was stripped into [`vlan`](Self::vlan).
    #[must_use]
    pub fn vlan_stripped(&self) -> bool {
        self.status_error & RXD_STAT_VP != 0
    }
}

/// Advanced TX data descriptor for a single-buffer frame: DTYP=data, DEXT, EOP, IFCS, RS and
/// PAYLEN = `length` (what poc.py transmits, §7).
#[must_use]
pub fn adv_tx_data(buffer: u64, length: u16) -> [u8; DESC_SIZE] {
    let cmd_type_len =
        TXD_DTYP_DATA | TXD_CMD_DEXT | TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS | u32::from(length);
    let olinfo_status = u32::from(length) << TXD_PAYLEN_SHIFT;
    let mut d = [0u8; DESC_SIZE];
    d[..8].copy_from_slice(&buffer.to_le_bytes());
    d[8..12].copy_from_slice(&cmd_type_len.to_le_bytes());
    d[12..].copy_from_slice(&olinfo_status.to_le_bytes());
    d
}

/// Whether a TX descriptor has been written back. QEMU ORs DD into the old olinfo value, so
/// only bit 0 is meaningful (§7, §13).
#[must_use]
pub fn tx_done(d: &[u8; DESC_SIZE]) -> bool {
    dword(d, 3) & TXD_STAT_DD != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_read_format_is_two_little_endian_addresses() {
        let d = adv_rx_read(0x0000_0001_0040_0800, 0);
        assert_eq!(d, [0x00, 0x08, 0x40, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn rx_writeback_fields_are_decoded() {
        // The IPv4/UDP write-back from the PoC: pkt_info 0x210, status 0x273, IP id 0x4242,
        // length 72 (0x48), plus a VLAN tag of 100 (0x64) and RSS type 1 to check the bit positions.
        let mut d = [0u8; DESC_SIZE];
        d[0..4].copy_from_slice(&(0x0210u32 | 1 | (0x0007 << 16)).to_le_bytes());
        d[4..8].copy_from_slice(&0x4242u32.to_le_bytes());
        d[8..12].copy_from_slice(&0x273u32.to_le_bytes());
        d[12..16].copy_from_slice(&(0x48u32 | (0x64 << 16)).to_le_bytes());
        let wb = AdvRxWriteback::decode(&d);
        assert_eq!(wb.rss_type, 1);
        assert_eq!(wb.packet_type, 0x21); // IPv4 | UDP
        assert_eq!(wb.hdr_info, 7);
        assert_eq!(wb.rss_hash_or_ip_id, 0x4242);
        assert_eq!(wb.status_error, 0x273);
        assert!(wb.dd() && wb.eop() && !wb.vlan_stripped());
        assert_eq!((wb.length, wb.vlan), (72, 100));
    }

    #[test]
    fn tx_data_descriptor_matches_the_poc_encoding() {
        // poc.py: struct.pack("<QII", TXBUF, cmd | len(f), len(f) << 14) with
        // cmd = (0x3 << 20) | (1 << 29) | (1 << 24) | (1 << 25) | (1 << 27).
        let d = adv_tx_data(0x38_0000, 64);
        let cmd = (0x3u32 << 20) | (1 << 29) | (1 << 24) | (1 << 25) | (1 << 27);
        assert_eq!(&d[..8], &0x38_0000u64.to_le_bytes());
        assert_eq!(&d[8..12], &(cmd | 64).to_le_bytes());
        assert_eq!(&d[12..], &(64u32 << 14).to_le_bytes());
        assert!(!tx_done(&d));
        let mut written_back = d;
        written_back[12] |= 1;
        assert!(tx_done(&written_back));
    }
}
