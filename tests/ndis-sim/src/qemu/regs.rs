//! 82576 register offsets in BAR0 and the bits the harness uses, with datasheet names
//! (values from QEMU's `hw/net/igb_regs.h` and `e1000x_regs.h`, as in the reference harness
//! `igbqt.py`; semantics in igb-qemu.md §3-§6).
//!
//! This copy serves the simulator's own tests; the driver keeps its own register module.
//!
//! Indexed registers are functions named like the datasheet (`RDT(n)`). An index outside the
//! register array gives [`INVALID_REGISTER`], which every register access rejects with an
//! error, so a bad index can neither panic nor silently alias another register.
#![allow(non_snake_case)] // RAL(n), RDT(n), ...: the datasheet's names.

/// Returned by the indexed-register functions for an out-of-range index.
pub const INVALID_REGISTER: u32 = u32::MAX;

const fn indexed(base: u32, stride: u32, n: u32, count: u32) -> u32 {
    if n < count { base + stride * n } else { INVALID_REGISTER }
}

// ---- General ---------------------------------------------------------------------------------
/// Device Control.
pub const CTRL: u32 = 0x0000;
/// Device Status.
pub const STATUS: u32 = 0x0008;
/// EEPROM/Flash Control.
pub const EECD: u32 = 0x0010;
/// EEPROM Read.
pub const EERD: u32 = 0x0014;
/// Extended Device Control.
pub const CTRL_EXT: u32 = 0x0018;
/// MDI (PHY) Control.
pub const MDIC: u32 = 0x0020;
/// VLAN Ether Type.
pub const VET: u32 = 0x0038;

// ---- Legacy interrupt cause / mask ("other causes" in MSI-X mode) ---------------------------
/// Interrupt Cause Read.
pub const ICR: u32 = 0x00C0;
/// Interrupt Cause Set.
pub const ICS: u32 = 0x00C8;
/// Interrupt Mask Set.
pub const IMS: u32 = 0x00D0;
/// Interrupt Mask Clear.
pub const IMC: u32 = 0x00D8;
/// Interrupt Acknowledge Auto Mask.
pub const IAM: u32 = 0x00E0;

// ---- RX / TX control --------------------------------------------------------------------------
/// Receive Control.
pub const RCTL: u32 = 0x0100;
/// Transmit Control.
pub const TCTL: u32 = 0x0400;

// ---- Extended (MSI-X) interrupts ------------------------------------------------------------
/// General Purpose Interrupt Enable.
pub const GPIE: u32 = 0x1514;
/// Extended Interrupt Cause Set.
pub const EICS: u32 = 0x1520;
/// Extended Interrupt Mask Set.
pub const EIMS: u32 = 0x1524;
/// Extended Interrupt Mask Clear.
pub const EIMC: u32 = 0x1528;
/// Extended Interrupt Auto Clear.
pub const EIAC: u32 = 0x152C;
/// Extended Interrupt Auto Mask (broken in QEMU, igb-qemu.md §6).
pub const EIAM: u32 = 0x1530;
/// Extended Interrupt Cause Read.
pub const EICR: u32 = 0x1580;
/// Interrupt Throttle Rate of vector `n` (0..25).
pub const fn EITR(n: u32) -> u32 {
    indexed(0x1680, 4, n, 25)
}
/// Interrupt Vector Allocation `n` (0..8): byte 0 RX queue n, byte 1 TX queue n, byte 2 RX
/// queue n+8, byte 3 TX queue n+8 (igb-qemu.md §6).
pub const fn IVAR(n: u32) -> u32 {
    indexed(0x1700, 4, n, 8)
}
/// Interrupt Vector Allocation for "other" causes (byte 1).
pub const IVAR_MISC: u32 = 0x1740;
/// MSI-X PBA Clear.
pub const PBACLR: u32 = 0x5B68;

// ---- Receive filtering and VMDq (igb-qemu.md §4) ---------------------------------------------
/// Receive Checksum Control.
pub const RXCSUM: u32 = 0x5000;
/// Receive Long Packet Maximum Length.
pub const RLPML: u32 = 0x5004;
/// Receive Filter Control.
pub const RFCTL: u32 = 0x5008;
/// Multicast Table Array word `n` (0..128).
pub const fn MTA(n: u32) -> u32 {
    indexed(0x5200, 4, n, 128)
}
/// Receive Address Low `n` (0..24; 16..24 are the second bank at 0x54E0).
pub const fn RAL(n: u32) -> u32 {
    if n < 16 { 0x5400 + 8 * n } else { indexed(0x54E0, 8, n - 16, 8) }
}
/// Receive Address High `n` (0..24): bits 15:0 MAC high, 25:18 POOLSEL, 31 AV.
pub const fn RAH(n: u32) -> u32 {
    let low = RAL(n);
    if low == INVALID_REGISTER { INVALID_REGISTER } else { low + 4 }
}
/// VLAN Filter Table Array word `n` (0..128).
pub const fn VFTA(n: u32) -> u32 {
    indexed(0x5600, 4, n, 128)
}
/// Multiple Receive Queues Command (bit 0 set = VMDq in QEMU).
pub const MRQC: u32 = 0x5818;
/// VMDq Control.
pub const VT_CTL: u32 = 0x581C;
/// Redirection Table word `n` (0..32).
pub const fn RETA(n: u32) -> u32 {
    indexed(0x5C00, 4, n, 32)
}
/// RSS Random Key word `n` (0..10).
pub const fn RSSRK(n: u32) -> u32 {
    indexed(0x5C80, 4, n, 10)
}
/// VF Receive Enable (one bit per pool).
pub const VFRE: u32 = 0x0C8C;
/// VF Transmit Enable (one bit per pool).
pub const VFTE: u32 = 0x0C90;
/// DMA TX Switch Control.
pub const DTXSWC: u32 = 0x3500;
/// VM VLAN Insert Register of pool `n` (0..8).
pub const fn VMVIR(n: u32) -> u32 {
    indexed(0x3700, 4, n, 8)
}
/// VM Offload Register of pool `n` (0..8).
pub const fn VMOLR(n: u32) -> u32 {
    indexed(0x5AD0, 4, n, 8)
}
/// Replication Offload Register.
pub const RPLOLR: u32 = 0x5AF0;
/// VLAN VM Filter `n` (0..32): 11:0 VID, 19:12 POOLSEL, 31 enable.
pub const fn VLVF(n: u32) -> u32 {
    indexed(0x5D00, 4, n, 32)
}
/// Unicast Table Array word `n` (0..128).
pub const fn UTA(n: u32) -> u32 {
    indexed(0xA000, 4, n, 128)
}

// ---- RX queues (igb-qemu.md §5), n = 0..16 ---------------------------------------------------
/// RX Descriptor Base Address Low.
pub const fn RDBAL(n: u32) -> u32 {
    indexed(0xC000, 0x40, n, 16)
}
/// RX Descriptor Base Address High.
pub const fn RDBAH(n: u32) -> u32 {
    indexed(0xC004, 0x40, n, 16)
}
/// RX Descriptor Length (bytes).
pub const fn RDLEN(n: u32) -> u32 {
    indexed(0xC008, 0x40, n, 16)
}
/// Split and Replication Receive Control.
pub const fn SRRCTL(n: u32) -> u32 {
    indexed(0xC00C, 0x40, n, 16)
}
/// RX Descriptor Head.
pub const fn RDH(n: u32) -> u32 {
    indexed(0xC010, 0x40, n, 16)
}
/// RX Descriptor Tail.
pub const fn RDT(n: u32) -> u32 {
    indexed(0xC018, 0x40, n, 16)
}
/// RX Descriptor Control (bit 25 ENABLE).
pub const fn RXDCTL(n: u32) -> u32 {
    indexed(0xC028, 0x40, n, 16)
}
/// RX Queue Drop Packet Count (never incremented by QEMU).
pub const fn RQDPC(n: u32) -> u32 {
    indexed(0xC030, 0x40, n, 16)
}

// ---- TX queues, n = 0..16 --------------------------------------------------------------------
/// TX Descriptor Base Address Low.
pub const fn TDBAL(n: u32) -> u32 {
    indexed(0xE000, 0x40, n, 16)
}
/// TX Descriptor Base Address High.
pub const fn TDBAH(n: u32) -> u32 {
    indexed(0xE004, 0x40, n, 16)
}
/// TX Descriptor Length (bytes).
pub const fn TDLEN(n: u32) -> u32 {
    indexed(0xE008, 0x40, n, 16)
}
/// TX Descriptor Head.
pub const fn TDH(n: u32) -> u32 {
    indexed(0xE010, 0x40, n, 16)
}
/// TX Descriptor Tail. A write transmits synchronously in QEMU (igb-qemu.md §7).
pub const fn TDT(n: u32) -> u32 {
    indexed(0xE018, 0x40, n, 16)
}
/// TX Descriptor Control.
pub const fn TXDCTL(n: u32) -> u32 {
    indexed(0xE028, 0x40, n, 16)
}

// ---- Statistics ------------------------------------------------------------------------------
/// Missed Packets Count.
pub const MPC: u32 = 0x4010;
/// Good Packets Received Count.
pub const GPRC: u32 = 0x4074;
/// Broadcast Packets Received Count.
pub const BPRC: u32 = 0x4078;
/// Multicast Packets Received Count.
pub const MPRC: u32 = 0x407C;
/// Receive No Buffers Count.
pub const RNBC: u32 = 0x40A0;
/// Receive Undersize Count.
pub const RUC: u32 = 0x40A4;
/// Receive Oversize Count.
pub const ROC: u32 = 0x40AC;
/// Total Packets Received.
pub const TPR: u32 = 0x40D0;
/// Per-pool Good Packets Received Count of pool `n` (0..8).
pub const fn PVFGPRC(n: u32) -> u32 {
    indexed(0x10010, 0x100, n, 8)
}
/// Per-pool Good Octets Received Count of pool `n` (0..8).
pub const fn PVFGORC(n: u32) -> u32 {
    indexed(0x10018, 0x100, n, 8)
}

// ---- Bits ------------------------------------------------------------------------------------
/// CTRL: software reset (synchronous in QEMU; drops the link, §3).
pub const CTRL_RST: u32 = 1 << 26;
/// CTRL: set link up (ignored by QEMU, §3).
pub const CTRL_SLU: u32 = 1 << 6;
/// STATUS: link up.
pub const STATUS_LU: u32 = 1 << 1;

/// EERD: start a read.
pub const EERD_START: u32 = 1 << 0;
/// EERD: read done.
pub const EERD_DONE: u32 = 1 << 1;
/// EERD: word address field shift.
pub const EERD_ADDR_SHIFT: u32 = 2;
/// EERD: data field shift (bits 31:16).
pub const EERD_DATA_SHIFT: u32 = 16;

/// MDIC: register address shift (bits 20:16).
pub const MDIC_REG_SHIFT: u32 = 16;
/// MDIC: PHY address shift (bits 25:21); QEMU accepts only PHY 1.
pub const MDIC_PHY_SHIFT: u32 = 21;
/// MDIC: write opcode.
pub const MDIC_OP_WRITE: u32 = 1 << 26;
/// MDIC: read opcode.
pub const MDIC_OP_READ: u32 = 1 << 27;
/// MDIC: ready.
pub const MDIC_READY: u32 = 1 << 28;
/// MDIC: error.
pub const MDIC_ERROR: u32 = 1 << 30;
/// PHY register 0: Basic Mode Control.
pub const PHY_BMCR: u32 = 0;
/// BMCR: auto-negotiation enable.
pub const BMCR_AUTOEN: u16 = 0x1000;
/// BMCR: restart auto-negotiation (QEMU raises link 500 ms later, §3).
pub const BMCR_ANRESTART: u16 = 0x0200;
/// BMCR: full duplex.
pub const BMCR_FD: u16 = 0x0100;
/// BMCR: 1000 Mb/s.
pub const BMCR_SPEED1000: u16 = 0x0040;

/// RCTL: receiver enable.
pub const RCTL_EN: u32 = 1 << 1;
/// RCTL: store bad packets.
pub const RCTL_SBP: u32 = 1 << 2;
/// RCTL: unicast promiscuous (no effect in VMDq mode).
pub const RCTL_UPE: u32 = 1 << 3;
/// RCTL: multicast promiscuous (no effect in VMDq mode).
pub const RCTL_MPE: u32 = 1 << 4;
/// RCTL: long packet enable.
pub const RCTL_LPE: u32 = 1 << 5;
/// RCTL: broadcast accept (no effect in VMDq mode).
pub const RCTL_BAM: u32 = 1 << 15;
/// RCTL: VLAN filter enable.
pub const RCTL_VFE: u32 = 1 << 18;
/// RCTL: strip Ethernet CRC (otherwise 4 zero bytes are appended, §5).
pub const RCTL_SECRC: u32 = 1 << 26;
/// TCTL: transmit enable.
pub const TCTL_EN: u32 = 1 << 1;

/// ICR / IMS: link status change.
pub const ICR_LSC: u32 = 1 << 2;
/// ICR / IMS: receiver overrun (a frame was dropped for lack of descriptors).
pub const ICR_RXO: u32 = 1 << 6;
/// ICR / IMS: receive descriptor written back.
pub const ICR_RXDW: u32 = 1 << 7;

/// GPIE: ICR is clear-on-read in MSI-X mode only with this bit (§6).
pub const GPIE_NSICR: u32 = 1 << 0;
/// GPIE: MSI-X mode; must be set before EIAC (§6, §13).
pub const GPIE_MSIX_MODE: u32 = 1 << 4;
/// GPIE: extended interrupt auto-mask enable (no effect in QEMU).
pub const GPIE_EIAME: u32 = 1 << 30;
/// GPIE: PBA support (no effect in QEMU).
pub const GPIE_PBA: u32 = 1 << 31;

/// IVAR byte: entry valid.
pub const IVAR_VALID: u32 = 0x80;
/// IVAR byte: vector field.
pub const IVAR_VECTOR_MASK: u32 = 0x1F;
/// IVAR_MISC: shift of the "other causes" byte.
pub const IVAR_MISC_OTHER_SHIFT: u32 = 8;

/// MRQC value for VMDq without RSS (§4).
pub const MRQC_VMDQ: u32 = 3;
/// VT_CTL: default pool field shift (bits 9:7).
pub const VT_CTL_DEF_POOL_SHIFT: u32 = 7;
/// VT_CTL: disable the default pool.
pub const VT_CTL_DIS_DEF_POOL: u32 = 1 << 29;
/// VT_CTL: replication enable (ignored by QEMU).
pub const VT_CTL_REPL_EN: u32 = 1 << 30;
/// RAH: address valid.
pub const RAH_AV: u32 = 1 << 31;
/// RAH: POOLSEL shift (bits 25:18, bit 18 + k = pool k).
pub const RAH_POOL_SHIFT: u32 = 18;
/// VMOLR: long packet enable.
pub const VMOLR_LPE: u32 = 1 << 16;
/// VMOLR: RSS enable.
pub const VMOLR_RSSE: u32 = 1 << 17;
/// VMOLR: accept untagged packets.
pub const VMOLR_AUPE: u32 = 1 << 24;
/// VMOLR: accept hash-filter (UTA/MTA) hits.
pub const VMOLR_ROMPE: u32 = 1 << 25;
/// VMOLR: accept unicast hash hits (ignored by QEMU).
pub const VMOLR_ROPE: u32 = 1 << 26;
/// VMOLR: accept broadcast.
pub const VMOLR_BAM: u32 = 1 << 27;
/// VMOLR: multicast promiscuous (ignored by QEMU).
pub const VMOLR_MPME: u32 = 1 << 28;
/// VMOLR: strip VLAN tag.
pub const VMOLR_STRVLAN: u32 = 1 << 30;
/// VLVF: entry enabled.
pub const VLVF_EN: u32 = 1 << 31;
/// VLVF: POOLSEL shift (bits 19:12).
pub const VLVF_POOLSEL_SHIFT: u32 = 12;

/// SRRCTL: packet buffer size field (KiB, bits 6:0).
pub const SRRCTL_BSIZEPKT_MASK: u32 = 0x7F;
/// SRRCTL: descriptor type "advanced, one buffer" (bits 27:25 = 001).
pub const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 1 << 25;
/// RXDCTL: queue enable (the only bit QEMU uses, §5).
pub const RXDCTL_ENABLE: u32 = 1 << 25;
/// TXDCTL: queue enable.
pub const TXDCTL_ENABLE: u32 = 1 << 25;

/// A readable name for a BAR0 offset, for traces and messages (`RDT[3]`, `CTRL`, `?`).
#[must_use]
pub fn reg_name(offset: u32) -> String {
    const FIXED: &[(u32, &str)] = &[
        (CTRL, "CTRL"),
        (STATUS, "STATUS"),
        (EECD, "EECD"),
        (EERD, "EERD"),
        (CTRL_EXT, "CTRL_EXT"),
        (MDIC, "MDIC"),
        (VET, "VET"),
        (ICR, "ICR"),
        (ICS, "ICS"),
        (IMS, "IMS"),
        (IMC, "IMC"),
        (IAM, "IAM"),
        (RCTL, "RCTL"),
        (TCTL, "TCTL"),
        (GPIE, "GPIE"),
        (EICS, "EICS"),
        (EIMS, "EIMS"),
        (EIMC, "EIMC"),
        (EIAC, "EIAC"),
        (EIAM, "EIAM"),
        (EICR, "EICR"),
        (IVAR_MISC, "IVAR_MISC"),
        (RXCSUM, "RXCSUM"),
        (RLPML, "RLPML"),
        (RFCTL, "RFCTL"),
        (MRQC, "MRQC"),
        (VT_CTL, "VT_CTL"),
        (VFRE, "VFRE"),
        (VFTE, "VFTE"),
        (DTXSWC, "DTXSWC"),
        (RPLOLR, "RPLOLR"),
        (PBACLR, "PBACLR"),
    ];
    type Indexed = (&'static str, fn(u32) -> u32, u32);
    const ARRAYS: &[Indexed] = &[
        ("EITR", EITR, 25),
        ("IVAR", IVAR, 8),
        ("MTA", MTA, 128),
        ("RAL", RAL, 24),
        ("RAH", RAH, 24),
        ("VFTA", VFTA, 128),
        ("RETA", RETA, 32),
        ("RSSRK", RSSRK, 10),
        ("VMVIR", VMVIR, 8),
        ("VMOLR", VMOLR, 8),
        ("VLVF", VLVF, 32),
        ("UTA", UTA, 128),
        ("RDBAL", RDBAL, 16),
        ("RDBAH", RDBAH, 16),
        ("RDLEN", RDLEN, 16),
        ("SRRCTL", SRRCTL, 16),
        ("RDH", RDH, 16),
        ("RDT", RDT, 16),
        ("RXDCTL", RXDCTL, 16),
        ("RQDPC", RQDPC, 16),
        ("TDBAL", TDBAL, 16),
        ("TDBAH", TDBAH, 16),
        ("TDLEN", TDLEN, 16),
        ("TDH", TDH, 16),
        ("TDT", TDT, 16),
        ("TXDCTL", TXDCTL, 16),
        ("PVFGPRC", PVFGPRC, 8),
        ("PVFGORC", PVFGORC, 8),
    ];
    if let Some((_, name)) = FIXED.iter().find(|(o, _)| *o == offset) {
        return (*name).to_owned();
    }
    for (name, f, count) in ARRAYS {
        if let Some(n) = (0..*count).find(|&n| f(n) == offset) {
            return format!("{name}[{n}]");
        }
    }
    "?".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_the_reference_harness() {
        // Spot checks against igbqt.py / igb-qemu.md tables.
        assert_eq!(RAL(0), 0x5400);
        assert_eq!(RAH(0), 0x5404);
        assert_eq!(RAH(15), 0x547C);
        assert_eq!(RAL(16), 0x54E0);
        assert_eq!(RAH(23), 0x551C);
        assert_eq!(RDT(3), 0xC0D8);
        assert_eq!(RXDCTL(15), 0xC3E8);
        assert_eq!(TDT(0), 0xE018);
        assert_eq!(IVAR(7), 0x171C);
        assert_eq!(EITR(24), 0x16E0);
        assert_eq!(VLVF(31), 0x5D7C);
        assert_eq!(PVFGPRC(7), 0x10710);
    }

    #[test]
    fn out_of_range_indices_are_invalid_not_aliases() {
        for offset in [RAL(24), RAH(24), RDT(16), IVAR(8), EITR(25), VMOLR(8), VFTA(128)] {
            assert_eq!(offset, INVALID_REGISTER);
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(reg_name(CTRL), "CTRL");
        assert_eq!(reg_name(RDT(3)), "RDT[3]");
        assert_eq!(reg_name(RAH(17)), "RAH[17]");
        assert_eq!(reg_name(0x1234_5678), "?");
    }
}
