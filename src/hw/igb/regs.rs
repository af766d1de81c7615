//! The 82576 register map: BAR0 byte offsets and bit fields, transliterated from the 82576
//! datasheet's register names as Linux igb spells them (`e1000_regs.h`, `e1000_defines.h`,
//! without the `E1000_` prefix) and as QEMU's model implements them (`hw/net/igb_regs.h`).
//! Semantics and QEMU's deviations are in `shared/docs/igb-qemu.md`, cited as "§n".
//!
//! Names grep-match the datasheet: fixed registers are consts (`CTRL`), register arrays are
//! `const fn`s of the index (`RDT(n)`), and bit fields carry the register's name as a prefix
//! (`CTRL_RST`). An index outside a register array gives [`INVALID`], an offset that is
//! neither 4-byte aligned nor inside the BAR: [`crate::hw::Registers`] implementations read it
//! as all-ones and drop writes to it, so a bad index can neither panic nor alias another
//! register. Device code checks its indices before it gets here anyway.
//!
//! The tables are kept out of rustfmt's reach (`#[rustfmt::skip]` on the module) so that
//! offsets stay in one aligned column.
#![allow(non_snake_case)] // RDT(n), RAL(n), ...: the datasheet's names.

/// What every indexed register returns for an out-of-range index: not 4-byte aligned and far
/// outside the 128 KiB BAR, so it is never a register.
pub const INVALID: u32 = u32::MAX;

/// `base + stride * n` if `n < count`, else [`INVALID`].
const fn indexed(base: u32, stride: u32, count: u32, n: u32) -> u32 {
    if n < count { base + stride * n } else { INVALID }
}

/// A per-queue register: `base + 0x40 * n` for queues 0..16 (§5). Queues 0-3 also have legacy
/// aliases at `0x2800 + 0x100 * n` (RX) and `0x3800 + 0x100 * n` (TX); the driver uses the
/// canonical block only.
const fn queue(base: u32, n: u32) -> u32 {
    indexed(base, 0x40, NUM_QUEUES, n)
}

// ---- Sizes -----------------------------------------------------------------------------------

/// RX and TX queues (each has its own register block).
pub const NUM_QUEUES: u32 = 16;
/// VMDq pools; in VMDq mode pool k uses RX queue k (§4).
pub const NUM_POOLS: u32 = 8;
/// Receive-address registers: 16 in the first bank, 8 in the second (§4).
pub const NUM_RAR: u32 = 24;
/// Interrupt vectors the register file can address: EICR/EIMS bits 0..=24 and EITR0..=24 in
/// MSI-X mode. The MSI-X *table* may be smaller (QEMU's has 10 entries, §2); its size comes from
/// the PCI capability, never from here.
pub const NUM_VECTORS: u32 = 25;
/// IVAR0 registers: each routes two RX and two TX queues (§6).
pub const NUM_IVAR: u32 = 8;
/// Words of the multicast, unicast-hash and VLAN filter tables.
pub const NUM_TABLE_WORDS: u32 = 128;
/// VLAN VM filter entries.
pub const NUM_VLVF: u32 = 32;

// ---- General ---------------------------------------------------------------------------------

/// Device Control.
pub const CTRL: u32       = 0x0_0000;
/// Device Status (read-only). An all-ones read means the device is gone.
pub const STATUS: u32     = 0x0_0008;
/// EEPROM/Flash Control.
pub const EECD: u32       = 0x0_0010;
/// EEPROM Read: start a one-word read, poll DONE, take the data.
pub const EERD: u32       = 0x0_0014;
/// Extended Device Control.
pub const CTRL_EXT: u32   = 0x0_0018;
/// MDI Control: PHY register access.
pub const MDIC: u32       = 0x0_0020;
/// Copper/Fiber Switch Control.
pub const CONNSW: u32     = 0x0_0034;
/// VLAN Ether Type (inner in 15:0, outer in 31:16).
pub const VET: u32        = 0x0_0038;
/// LED Control.
pub const LEDCTL: u32     = 0x0_0E00;
/// Packet Buffer Allocation.
pub const PBA: u32        = 0x0_1000;
/// RX Packet Buffer Size (not reset by CTRL.RST in QEMU, §3).
pub const RXPBS: u32      = 0x0_2404;
/// TX Packet Buffer Size (not reset by CTRL.RST in QEMU, §3).
pub const TXPBS: u32      = 0x0_3404;
/// PCI Express Control.
pub const GCR: u32        = 0x0_5B00;
/// Software Semaphore.
pub const SWSM: u32       = 0x0_5B50;
/// Firmware Semaphore.
pub const FWSM: u32       = 0x0_5B54;
/// Software-Firmware Synchronization.
pub const SW_FW_SYNC: u32 = 0x0_5B5C;

// ---- Interrupts: legacy causes ("other causes" in MSI-X mode) -------------------------------

/// Interrupt Cause Read. Read-to-clear except in MSI-X mode without GPIE.NSICR (§6);
/// writing 1s clears.
pub const ICR: u32 = 0x0_00C0;
/// Interrupt Throttling Rate (legacy/MSI mode).
pub const ITR: u32 = 0x0_00C4;
/// Interrupt Cause Set: raises causes from software.
pub const ICS: u32 = 0x0_00C8;
/// Interrupt Mask Set (and read).
pub const IMS: u32 = 0x0_00D0;
/// Interrupt Mask Clear.
pub const IMC: u32 = 0x0_00D8;
/// Interrupt Acknowledge Auto Mask: IMS bits cleared when an asserted ICR is read.
pub const IAM: u32 = 0x0_00E0;

// ---- Interrupts: extended (per-vector) -------------------------------------------------------

/// General Purpose Interrupt Enable. Program it first: EIAC ignores writes without MSIX_MODE
/// (§6, §13.3).
pub const GPIE: u32      = 0x0_1514;
/// Extended Interrupt Cause Set: raises vectors from software.
pub const EICS: u32      = 0x0_1520;
/// Extended Interrupt Mask Set (and read).
pub const EIMS: u32      = 0x0_1524;
/// Extended Interrupt Mask Clear.
pub const EIMC: u32      = 0x0_1528;
/// Extended Interrupt Auto Clear. In QEMU writes only OR bits in (§6).
pub const EIAC: u32      = 0x0_152C;
/// Extended Interrupt Auto Mask. Broken in QEMU (a write ORs in the complement, §6).
pub const EIAM: u32      = 0x0_1530;
/// Extended Interrupt Cause Read: read-to-clear, or write 1s to clear.
pub const EICR: u32      = 0x0_1580;
/// Interrupt Vector Allocation for "other" causes: byte 1 for every ICR cause enabled in IMS,
/// byte 0 for the TCP timer only (§6).
pub const IVAR_MISC: u32 = 0x0_1740;
/// MSI-X PBA Clear.
pub const PBACLR: u32    = 0x0_5B68;
/// Interrupt Throttle Rate of vector `n` (0..25). Not reset by CTRL.RST in QEMU (§6).
#[must_use] pub const fn EITR(n: u32) -> u32  { indexed(0x0_1680, 4, NUM_VECTORS, n) }
/// Interrupt Vector Allocation `n` (0..8): byte 0 RX queue n, byte 1 TX queue n, byte 2 RX queue
/// n+8, byte 3 TX queue n+8 (§6).
#[must_use] pub const fn IVAR0(n: u32) -> u32 { indexed(0x0_1700, 4, NUM_IVAR, n) }

// ---- Receive ---------------------------------------------------------------------------------

/// Receive Control.
pub const RCTL: u32   = 0x0_0100;
/// Flow Control Receive Threshold Low.
pub const FCRTL: u32  = 0x0_2160;
/// Flow Control Receive Threshold High.
pub const FCRTH: u32  = 0x0_2168;
/// Queue Drop Enable.
pub const QDE: u32    = 0x0_2408;
/// Receive Checksum Control.
pub const RXCSUM: u32 = 0x0_5000;
/// Receive Long Packet Maximum Length.
pub const RLPML: u32  = 0x0_5004;
/// Receive Filter Control.
pub const RFCTL: u32  = 0x0_5008;
/// Multiple Receive Queues Command: bit 0 set = VMDq in QEMU; use 3 (§4).
pub const MRQC: u32   = 0x0_5818;
/// VMDq Control: default pool, Dis_Def_Pool (§4).
pub const VT_CTL: u32 = 0x0_581C;
/// Replication Offload (VLAN stripping of multicast in VMDq mode, §4).
pub const RPLOLR: u32 = 0x0_5AF0;
/// Multicast Table Array word `n` (0..128).
#[must_use] pub const fn MTA(n: u32) -> u32    { indexed(0x0_5200, 4, NUM_TABLE_WORDS, n) }
/// Receive Address Low `n` (0..24): MAC bytes 0-3. 16..24 are the second bank at 0x54E0 (§4).
#[must_use] pub const fn RAL(n: u32) -> u32    { if n < 16 { 0x0_5400 + 8 * n } else { indexed(0x0_54E0, 8, NUM_RAR - 16, n - 16) } }
/// Receive Address High `n` (0..24): MAC bytes 4-5, POOLSEL, AV.
#[must_use] pub const fn RAH(n: u32) -> u32    { if n < NUM_RAR { RAL(n) + 4 } else { INVALID } }
/// VLAN Filter Table Array word `n` (0..128).
#[must_use] pub const fn VFTA(n: u32) -> u32   { indexed(0x0_5600, 4, NUM_TABLE_WORDS, n) }
/// VM Offload register of pool `n` (0..8).
#[must_use] pub const fn VMOLR(n: u32) -> u32  { indexed(0x0_5AD0, 4, NUM_POOLS, n) }
/// Redirection Table word `n` (0..32), RSS only.
#[must_use] pub const fn RETA(n: u32) -> u32   { indexed(0x0_5C00, 4, 32, n) }
/// RSS Random Key word `n` (0..10).
#[must_use] pub const fn RSSRK(n: u32) -> u32  { indexed(0x0_5C80, 4, 10, n) }
/// VLAN VM Filter `n` (0..32).
#[must_use] pub const fn VLVF(n: u32) -> u32   { indexed(0x0_5D00, 4, NUM_VLVF, n) }
/// Unicast Table Array word `n` (0..128).
#[must_use] pub const fn UTA(n: u32) -> u32    { indexed(0x0_A000, 4, NUM_TABLE_WORDS, n) }

/// RX Descriptor Base Address Low of queue `n` (0..16).
#[must_use] pub const fn RDBAL(n: u32) -> u32  { queue(0x0_C000, n) }
/// RX Descriptor Base Address High.
#[must_use] pub const fn RDBAH(n: u32) -> u32  { queue(0x0_C004, n) }
/// RX Descriptor ring Length in bytes.
#[must_use] pub const fn RDLEN(n: u32) -> u32  { queue(0x0_C008, n) }
/// Split and Replication Receive Control.
#[must_use] pub const fn SRRCTL(n: u32) -> u32 { queue(0x0_C00C, n) }
/// RX Descriptor Head.
#[must_use] pub const fn RDH(n: u32) -> u32    { queue(0x0_C010, n) }
/// RX DCA Control.
#[must_use] pub const fn RXCTL(n: u32) -> u32  { queue(0x0_C014, n) }
/// RX Descriptor Tail.
#[must_use] pub const fn RDT(n: u32) -> u32    { queue(0x0_C018, n) }
/// RX Descriptor Control (ENABLE is the only bit QEMU uses, §5).
#[must_use] pub const fn RXDCTL(n: u32) -> u32 { queue(0x0_C028, n) }
/// RX Queue Drop Packet Count (never incremented by QEMU, §5).
#[must_use] pub const fn RQDPC(n: u32) -> u32  { queue(0x0_C030, n) }

// ---- Transmit --------------------------------------------------------------------------------

/// Transmit Control.
pub const TCTL: u32     = 0x0_0400;
/// Extended Transmit Control.
pub const TCTL_EXT: u32 = 0x0_0404;
/// Transmit Inter-Packet Gap.
pub const TIPG: u32     = 0x0_0410;
/// DMA TX Switch Control (VM-to-VM loopback, §4).
pub const DTXSWC: u32   = 0x0_3500;
/// DMA TX Control.
pub const DTXCTL: u32   = 0x0_3590;
/// VF (pool) Receive Enable: one bit per pool, applied last (§4).
pub const VFRE: u32     = 0x0_0C8C;
/// VF (pool) Transmit Enable: one bit per pool (§4).
pub const VFTE: u32     = 0x0_0C90;
/// VM VLAN Insert register of pool `n` (0..8).
#[must_use] pub const fn VMVIR(n: u32) -> u32  { indexed(0x0_3700, 4, NUM_POOLS, n) }

/// TX Descriptor Base Address Low of queue `n` (0..16).
#[must_use] pub const fn TDBAL(n: u32) -> u32  { queue(0x0_E000, n) }
/// TX Descriptor Base Address High.
#[must_use] pub const fn TDBAH(n: u32) -> u32  { queue(0x0_E004, n) }
/// TX Descriptor ring Length in bytes.
#[must_use] pub const fn TDLEN(n: u32) -> u32  { queue(0x0_E008, n) }
/// TX Descriptor Head.
#[must_use] pub const fn TDH(n: u32) -> u32    { queue(0x0_E010, n) }
/// TX DCA Control.
#[must_use] pub const fn TXCTL(n: u32) -> u32  { queue(0x0_E014, n) }
/// TX Descriptor Tail. In QEMU a write transmits synchronously (§7).
#[must_use] pub const fn TDT(n: u32) -> u32    { queue(0x0_E018, n) }
/// TX Descriptor Control.
#[must_use] pub const fn TXDCTL(n: u32) -> u32 { queue(0x0_E028, n) }
/// TX Descriptor completion Write-Back Address Low.
#[must_use] pub const fn TDWBAL(n: u32) -> u32 { queue(0x0_E038, n) }
/// TX Descriptor completion Write-Back Address High.
#[must_use] pub const fn TDWBAH(n: u32) -> u32 { queue(0x0_E03C, n) }

// ---- Statistics (read-to-clear) ------------------------------------------------------------
// 64-bit counters are split into L/H halves: read L first, then H (reading H clears both in
// QEMU's model, `igb_mac_read_clr8`). QEMU never increments MPC, RNBC or RQDPC (§12).

/// CRC Error Count.
pub const CRCERRS: u32 = 0x0_4000;
/// Alignment Error Count.
pub const ALGNERRC: u32 = 0x0_4004;
/// Symbol Error Count.
pub const SYMERRS: u32 = 0x0_4008;
/// Receive Error Count.
pub const RXERRC: u32  = 0x0_400C;
/// Missed Packets Count.
pub const MPC: u32     = 0x0_4010;
/// Single Collision Count.
pub const SCC: u32     = 0x0_4014;
/// Excessive Collisions Count.
pub const ECOL: u32    = 0x0_4018;
/// Multiple Collision Count.
pub const MCC: u32     = 0x0_401C;
/// Late Collisions Count.
pub const LATECOL: u32 = 0x0_4020;
/// Collision Count.
pub const COLC: u32    = 0x0_4028;
/// Defer Count.
pub const DC: u32      = 0x0_4030;
/// Transmit with No CRS.
pub const TNCRS: u32   = 0x0_4034;
/// Receive Length Error Count.
pub const RLEC: u32    = 0x0_4040;
/// XON Received Count.
pub const XONRXC: u32  = 0x0_4048;
/// XON Transmitted Count.
pub const XONTXC: u32  = 0x0_404C;
/// XOFF Received Count.
pub const XOFFRXC: u32 = 0x0_4050;
/// XOFF Transmitted Count.
pub const XOFFTXC: u32 = 0x0_4054;
/// Flow Control Receive Unsupported Count.
pub const FCRUC: u32   = 0x0_4058;
/// Packets Received (64 bytes).
pub const PRC64: u32   = 0x0_405C;
/// Packets Received (65-127 bytes).
pub const PRC127: u32  = 0x0_4060;
/// Packets Received (128-255 bytes).
pub const PRC255: u32  = 0x0_4064;
/// Packets Received (256-511 bytes).
pub const PRC511: u32  = 0x0_4068;
/// Packets Received (512-1023 bytes).
pub const PRC1023: u32 = 0x0_406C;
/// Packets Received (1024 bytes and up).
pub const PRC1522: u32 = 0x0_4070;
/// Good Packets Received Count (counts each replicated copy in QEMU, §4).
pub const GPRC: u32    = 0x0_4074;
/// Broadcast Packets Received Count.
pub const BPRC: u32    = 0x0_4078;
/// Multicast Packets Received Count.
pub const MPRC: u32    = 0x0_407C;
/// Good Packets Transmitted Count.
pub const GPTC: u32    = 0x0_4080;
/// Good Octets Received Count, low half.
pub const GORCL: u32   = 0x0_4088;
/// Good Octets Received Count, high half.
pub const GORCH: u32   = 0x0_408C;
/// Good Octets Transmitted Count, low half.
pub const GOTCL: u32   = 0x0_4090;
/// Good Octets Transmitted Count, high half.
pub const GOTCH: u32   = 0x0_4094;
/// Receive No Buffers Count.
pub const RNBC: u32    = 0x0_40A0;
/// Receive Undersize Count.
pub const RUC: u32     = 0x0_40A4;
/// Receive Fragment Count.
pub const RFC: u32     = 0x0_40A8;
/// Receive Oversize Count.
pub const ROC: u32     = 0x0_40AC;
/// Receive Jabber Count.
pub const RJC: u32     = 0x0_40B0;
/// Total Octets Received, low half.
pub const TORL: u32    = 0x0_40C0;
/// Total Octets Received, high half.
pub const TORH: u32    = 0x0_40C4;
/// Total Octets Transmitted, low half.
pub const TOTL: u32    = 0x0_40C8;
/// Total Octets Transmitted, high half.
pub const TOTH: u32    = 0x0_40CC;
/// Total Packets Received.
pub const TPR: u32     = 0x0_40D0;
/// Total Packets Transmitted.
pub const TPT: u32     = 0x0_40D4;
/// Packets Transmitted (64 bytes).
pub const PTC64: u32   = 0x0_40D8;
/// Packets Transmitted (65-127 bytes).
pub const PTC127: u32  = 0x0_40DC;
/// Packets Transmitted (128-255 bytes).
pub const PTC255: u32  = 0x0_40E0;
/// Packets Transmitted (256-511 bytes).
pub const PTC511: u32  = 0x0_40E4;
/// Packets Transmitted (512-1023 bytes).
pub const PTC1023: u32 = 0x0_40E8;
/// Packets Transmitted (1024 bytes and up).
pub const PTC1522: u32 = 0x0_40EC;
/// Multicast Packets Transmitted Count.
pub const MPTC: u32    = 0x0_40F0;
/// Broadcast Packets Transmitted Count.
pub const BPTC: u32    = 0x0_40F4;
/// TCP Segmentation Context Transmitted Count.
pub const TSCTC: u32   = 0x0_40F8;
/// TCP Segmentation Context Transmit Fail Count.
pub const TSCTFC: u32  = 0x0_40FC;
/// Interrupt Assertion Count.
pub const IAC: u32     = 0x0_4100;
/// Per-pool Good Packets Received Count of pool `n` (0..8). Not cleared on read.
#[must_use] pub const fn PVFGPRC(n: u32) -> u32 { indexed(0x1_0010, 0x100, NUM_POOLS, n) }
/// Per-pool Good Packets Transmitted Count. Not cleared on read.
#[must_use] pub const fn PVFGPTC(n: u32) -> u32 { indexed(0x1_0014, 0x100, NUM_POOLS, n) }
/// Per-pool Good Octets Received Count. Not cleared on read.
#[must_use] pub const fn PVFGORC(n: u32) -> u32 { indexed(0x1_0018, 0x100, NUM_POOLS, n) }
/// Per-pool Good Octets Transmitted Count. Not cleared on read.
#[must_use] pub const fn PVFGOTC(n: u32) -> u32 { indexed(0x1_0034, 0x100, NUM_POOLS, n) }
/// Per-pool Multicast Packets Received Count. Not cleared on read.
#[must_use] pub const fn PVFMPRC(n: u32) -> u32 { indexed(0x1_003C, 0x100, NUM_POOLS, n) }

// ==== Bit fields ==============================================================================

// ---- CTRL ------------------------------------------------------------------------------------
/// CTRL: full duplex (when forced).
pub const CTRL_FD: u32                 = 1 << 0;
/// CTRL: block new PCIe master requests (before a reset); STATUS.GIO_MASTER_ENABLE clears once
/// none is pending.
pub const CTRL_GIO_MASTER_DISABLE: u32 = 1 << 2;
/// CTRL: link reset.
pub const CTRL_LRST: u32               = 1 << 3;
/// CTRL: auto-speed detection enable.
pub const CTRL_ASDE: u32               = 1 << 5;
/// CTRL: set link up. Ignored by QEMU (§3).
pub const CTRL_SLU: u32                = 1 << 6;
/// CTRL: speed selection field (bits 9:8).
pub const CTRL_SPD_SEL: u32            = 0b11 << 8;
/// CTRL: force speed.
pub const CTRL_FRCSPD: u32             = 1 << 11;
/// CTRL: force duplex.
pub const CTRL_FRCDPX: u32             = 1 << 12;
/// CTRL: device reset; self-clearing (synchronous in QEMU, §3).
pub const CTRL_RST: u32                = 1 << 26;
/// CTRL: receive flow control enable.
pub const CTRL_RFCE: u32               = 1 << 27;
/// CTRL: transmit flow control enable.
pub const CTRL_TFCE: u32               = 1 << 28;
/// CTRL: VLAN mode enable (ignored by QEMU in VMDq mode, §5).
pub const CTRL_VME: u32                = 1 << 30;
/// CTRL: PHY reset.
pub const CTRL_PHY_RST: u32            = 1 << 31;

// ---- STATUS ----------------------------------------------------------------------------------
/// STATUS: full duplex.
pub const STATUS_FD: u32                = 1 << 0;
/// STATUS: link up.
pub const STATUS_LU: u32                = 1 << 1;
/// STATUS: LAN (PCI function) ID field (bits 3:2).
pub const STATUS_FUNC_MASK: u32         = 0b11 << 2;
/// STATUS: shift of [`STATUS_FUNC_MASK`].
pub const STATUS_FUNC_SHIFT: u32        = 2;
/// STATUS: transmission paused (flow control).
pub const STATUS_TXOFF: u32             = 1 << 4;
/// STATUS: speed field (bits 7:6): 00 = 10, 01 = 100, 1x = 1000 Mb/s.
pub const STATUS_SPEED_MASK: u32        = 0b11 << 6;
/// STATUS: speed field value for 100 Mb/s.
pub const STATUS_SPEED_100: u32         = 0b01 << 6;
/// STATUS: speed field bit meaning 1000 Mb/s.
pub const STATUS_SPEED_1000: u32        = 0b10 << 6;
/// STATUS: PHY reset asserted.
pub const STATUS_PHYRA: u32             = 1 << 10;
/// STATUS: PCIe master requests enabled; clears after CTRL.GIO_MASTER_DISABLE once idle.
pub const STATUS_GIO_MASTER_ENABLE: u32 = 1 << 19;

// ---- EECD / EERD -----------------------------------------------------------------------------
/// EECD: NVM present.
pub const EECD_PRES: u32       = 1 << 8;
/// EECD: NVM auto-read done (QEMU never sets it).
pub const EECD_AUTO_RD: u32    = 1 << 9;
/// EERD: start a read.
pub const EERD_START: u32      = 1 << 0;
/// EERD: read done.
pub const EERD_DONE: u32       = 1 << 1;
/// EERD: word address field shift (bits 15:2).
pub const EERD_ADDR_SHIFT: u32 = 2;
/// EERD: data field shift (bits 31:16).
pub const EERD_DATA_SHIFT: u32 = 16;

// ---- MDIC and the PHY ------------------------------------------------------------------------
/// MDIC: data field (bits 15:0).
pub const MDIC_DATA_MASK: u32 = 0xFFFF;
/// MDIC: PHY register field shift (bits 20:16).
pub const MDIC_REG_SHIFT: u32 = 16;
/// MDIC: PHY address field shift (bits 25:21).
pub const MDIC_PHY_SHIFT: u32 = 21;
/// MDIC: write opcode.
pub const MDIC_OP_WRITE: u32  = 1 << 26;
/// MDIC: read opcode.
pub const MDIC_OP_READ: u32   = 1 << 27;
/// MDIC: the access completed.
pub const MDIC_READY: u32     = 1 << 28;
/// MDIC: interrupt (ICR.MDAC) on completion.
pub const MDIC_INT_EN: u32    = 1 << 29;
/// MDIC: the access failed.
pub const MDIC_ERROR: u32     = 1 << 30;
/// The internal copper PHY's MDIO address (the only one QEMU accepts, §3).
pub const PHY_ADDRESS: u32    = 1;
/// PHY register 0: Basic Mode Control (IEEE 802.3 clause 22).
pub const PHY_BMCR: u32       = 0;
/// PHY register 1: Basic Mode Status.
pub const PHY_BMSR: u32       = 1;
/// BMCR: speed selection bit 6 (1000 Mb/s with bit 13 clear); ignored while autoneg is on.
pub const BMCR_SPEED1000: u32 = 1 << 6;
/// BMCR: full duplex; ignored while autoneg is on.
pub const BMCR_FD: u32        = 1 << 8;
/// BMCR: restart auto-negotiation (self-clearing).
pub const BMCR_ANRESTART: u32 = 1 << 9;
/// BMCR: power down.
pub const BMCR_PDOWN: u32     = 1 << 11;
/// BMCR: auto-negotiation enable.
pub const BMCR_AUTOEN: u32    = 1 << 12;
/// BMCR: PHY reset (self-clearing).
pub const BMCR_RESET: u32     = 1 << 15;

// ---- ICR / ICS / IMS / IMC -------------------------------------------------------------------
/// ICR: transmit descriptor written back.
pub const ICR_TXDW: u32         = 1 << 0;
/// ICR: transmit queue empty.
pub const ICR_TXQE: u32         = 1 << 1;
/// ICR: link status change.
pub const ICR_LSC: u32          = 1 << 2;
/// ICR: receive sequence error.
pub const ICR_RXSEQ: u32        = 1 << 3;
/// ICR: receive descriptor minimum threshold reached.
pub const ICR_RXDMT0: u32       = 1 << 4;
/// ICR: receiver overrun (a frame was dropped for lack of descriptors, §8).
pub const ICR_RXO: u32          = 1 << 6;
/// ICR: receive descriptor written back (the datasheet's RXT0).
pub const ICR_RXDW: u32         = 1 << 7;
/// ICR: VF mailbox event.
pub const ICR_VMMB: u32         = 1 << 8;
/// ICR: MDI access complete.
pub const ICR_MDAC: u32         = 1 << 9;
/// ICR: DMA TX out of sync.
pub const ICR_DOUTSYNC: u32     = 1 << 28;
/// ICR: device reset asserted (routed through IVAR_MISC byte 0 in QEMU).
pub const ICR_DRSTA: u32        = 1 << 30;
/// ICR: an interrupt was asserted; a shared-line ISR claims the interrupt only with this bit.
/// In single-vector mode QEMU sets it whenever ICR is non-zero, even for masked causes
/// (`igb_fix_icr_asserted`); in MSI-X mode it never sets it.
pub const ICR_INT_ASSERTED: u32 = 1 << 31;

// ---- GPIE ------------------------------------------------------------------------------------
/// GPIE: ICR is cleared by every read (otherwise, in MSI-X mode, not at all in QEMU, §6).
pub const GPIE_NSICR: u32     = 1 << 0;
/// GPIE: MSI-X mode: causes go to vectors through IVAR/IVAR_MISC (§6).
pub const GPIE_MSIX_MODE: u32 = 1 << 4;
/// GPIE: EIAM auto-masking enable (not implemented by QEMU, §6).
pub const GPIE_EIAME: u32     = 1 << 30;
/// GPIE: PBA support (the MSI-X pending-bit array reflects EICR).
pub const GPIE_PBA: u32       = 1 << 31;

// ---- IVAR ------------------------------------------------------------------------------------
/// IVAR byte: entry valid.
pub const IVAR_VALID: u32       = 0x80;
/// IVAR byte: vector field (bits 4:0).
pub const IVAR_VECTOR_MASK: u32 = 0x1F;
/// IVAR0: shift of the RX byte of queue n < 8 (n >= 8: + [`IVAR_HIGH_QUEUE_SHIFT`]).
pub const IVAR_RX_SHIFT: u32    = 0;
/// IVAR0: shift of the TX byte of queue n < 8.
pub const IVAR_TX_SHIFT: u32    = 8;
/// IVAR0: extra shift for queues 8..16 (bytes 2 and 3).
pub const IVAR_HIGH_QUEUE_SHIFT: u32 = 16;
/// IVAR_MISC: shift of the "other causes" byte.
pub const IVAR_MISC_OTHER_SHIFT: u32 = 8;

// ---- RCTL / TCTL -----------------------------------------------------------------------------
/// RCTL: receiver enable.
pub const RCTL_EN: u32    = 1 << 1;
/// RCTL: store bad packets.
pub const RCTL_SBP: u32   = 1 << 2;
/// RCTL: unicast promiscuous (no effect in VMDq mode, §4).
pub const RCTL_UPE: u32   = 1 << 3;
/// RCTL: multicast promiscuous (no effect in VMDq mode, §4).
pub const RCTL_MPE: u32   = 1 << 4;
/// RCTL: long packet enable.
pub const RCTL_LPE: u32   = 1 << 5;
/// RCTL: multicast offset field shift (bits 13:12).
pub const RCTL_MO_SHIFT: u32 = 12;
/// RCTL: broadcast accept (no effect in VMDq mode, §4).
pub const RCTL_BAM: u32   = 1 << 15;
/// RCTL: VLAN filter enable.
pub const RCTL_VFE: u32   = 1 << 18;
/// RCTL: strip the Ethernet CRC (otherwise QEMU appends 4 zero bytes, §5).
pub const RCTL_SECRC: u32 = 1 << 26;
/// TCTL: transmit enable.
pub const TCTL_EN: u32    = 1 << 1;
/// TCTL: pad short packets.
pub const TCTL_PSP: u32   = 1 << 3;

// ---- Receive filtering and VMDq (§4) ---------------------------------------------------------
/// RAH: address valid.
pub const RAH_AV: u32              = 1 << 31;
/// RAH: POOLSEL field (bits 25:18; bit 18 + k = pool k).
pub const RAH_POOLSEL_MASK: u32    = 0xFF << 18;
/// RAH: shift of [`RAH_POOLSEL_MASK`].
pub const RAH_POOLSEL_SHIFT: u32   = 18;
/// MRQC: VMDq without RSS (§4).
pub const MRQC_ENABLE_VMDQ: u32    = 3;
/// VT_CTL: default pool field shift (bits 9:7).
pub const VT_CTL_DEF_PL_SHIFT: u32 = 7;
/// VT_CTL: no default pool (unmatched unicast is dropped).
pub const VT_CTL_DIS_DEF_POOL: u32 = 1 << 29;
/// VT_CTL: replication enable (ignored by QEMU: always on).
pub const VT_CTL_VM_REPL_EN: u32   = 1 << 30;
/// VMOLR: long packet maximum length field (bits 13:0).
pub const VMOLR_RLPML_MASK: u32    = 0x3FFF;
/// VMOLR: long packet enable.
pub const VMOLR_LPE: u32           = 1 << 16;
/// VMOLR: RSS enable.
pub const VMOLR_RSSE: u32          = 1 << 17;
/// VMOLR: accept untagged packets.
pub const VMOLR_AUPE: u32          = 1 << 24;
/// VMOLR: accept hash-filter (MTA and, in QEMU, UTA) hits.
pub const VMOLR_ROMPE: u32         = 1 << 25;
/// VMOLR: accept unicast hash hits (ignored by QEMU).
pub const VMOLR_ROPE: u32          = 1 << 26;
/// VMOLR: accept broadcast.
pub const VMOLR_BAM: u32           = 1 << 27;
/// VMOLR: multicast promiscuous (ignored by QEMU).
pub const VMOLR_MPME: u32          = 1 << 28;
/// VMOLR: strip the VLAN tag.
pub const VMOLR_STRVLAN: u32       = 1 << 30;
/// VMOLR: strip the CRC (ignored by QEMU; RCTL.SECRC decides).
pub const VMOLR_STRCRC: u32        = 1 << 31;
/// RPLOLR: strip the VLAN tag of replicated multicast.
pub const RPLOLR_STRVLAN: u32      = 1 << 30;
/// VLVF: VLAN ID field (bits 11:0).
pub const VLVF_VLANID_MASK: u32    = 0xFFF;
/// VLVF: POOLSEL field shift (bits 19:12).
pub const VLVF_POOLSEL_SHIFT: u32  = 12;
/// VLVF: entry enabled.
pub const VLVF_VLANID_ENABLE: u32  = 1 << 31;
/// DTXSWC: VM-to-VM loopback enable.
pub const DTXSWC_VMDQ_LOOPBACK_EN: u32 = 1 << 31;

// ---- Queues (§5) -----------------------------------------------------------------------------
/// SRRCTL: packet buffer size field in KiB (bits 6:0).
pub const SRRCTL_BSIZEPKT_MASK: u32       = 0x7F;
/// SRRCTL: header buffer size field (bits 11:8, 64-byte units).
pub const SRRCTL_BSIZEHDR_MASK: u32       = 0xF << 8;
/// SRRCTL: descriptor type "advanced, one buffer" (bits 27:25 = 001).
pub const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 1 << 25;
/// SRRCTL: descriptor type field.
pub const SRRCTL_DESCTYPE_MASK: u32       = 0b111 << 25;
/// SRRCTL: drop when no descriptor (ignored by QEMU).
pub const SRRCTL_DROP_EN: u32             = 1 << 31;
/// RXDCTL: queue enable (reset value: queue 0 only, §13.2).
pub const RXDCTL_ENABLE: u32              = 1 << 25;
/// TXDCTL: queue enable.
pub const TXDCTL_ENABLE: u32              = 1 << 25;
/// RXCSUM: IPv4 checksum offload.
pub const RXCSUM_IPOFL: u32               = 1 << 8;
/// RXCSUM: TCP/UDP checksum offload.
pub const RXCSUM_TUOFL: u32               = 1 << 9;
/// RXCSUM: packet checksum disable (the RSS hash replaces the IP ID, §5).
pub const RXCSUM_PCSD: u32                = 1 << 13;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_the_datasheet_and_the_qemu_doc() {
        // Spot checks against igb-qemu.md's tables and Linux igb's e1000_regs.h.
        let known = [
            (CTRL, 0x0000), (STATUS, 0x0008), (EERD, 0x0014), (MDIC, 0x0020), (ICR, 0x00C0),
            (IMS, 0x00D0), (IMC, 0x00D8), (RCTL, 0x0100), (TCTL, 0x0400), (VFRE, 0x0C8C),
            (VFTE, 0x0C90), (GPIE, 0x1514), (EICS, 0x1520), (EIMS, 0x1524), (EIMC, 0x1528),
            (EIAC, 0x152C), (EIAM, 0x1530), (EICR, 0x1580), (IVAR_MISC, 0x1740),
            (DTXSWC, 0x3500), (DTXCTL, 0x3590), (GPRC, 0x4074), (GORCL, 0x4088),
            (GOTCH, 0x4094), (RXCSUM, 0x5000), (MRQC, 0x5818), (VT_CTL, 0x581C),
            (RPLOLR, 0x5AF0), (PBACLR, 0x5B68),
            (RAL(0), 0x5400), (RAH(0), 0x5404), (RAH(15), 0x547C), (RAL(16), 0x54E0),
            (RAH(23), 0x551C), (MTA(127), 0x53FC), (VFTA(3), 0x560C), (VMOLR(7), 0x5AEC),
            (VLVF(31), 0x5D7C), (UTA(0), 0xA000), (EITR(24), 0x16E0), (IVAR0(7), 0x171C),
            (RDBAL(0), 0xC000), (RDT(3), 0xC0D8), (RXDCTL(15), 0xC3E8), (SRRCTL(1), 0xC04C),
            (TDT(0), 0xE018), (TXDCTL(15), 0xE3E8), (TDWBAH(1), 0xE07C),
            (PVFGPRC(7), 0x1_0710), (PVFMPRC(0), 0x1_003C),
        ];
        for (offset, expected) in known {
            assert_eq!(offset, expected, "{expected:#x}");
        }
    }

    #[test]
    fn out_of_range_indices_are_invalid_not_aliases() {
        let past_the_end = [
            RAL(24), RAH(24), RAL(u32::MAX), RAH(u32::MAX), RDT(16), TDT(u32::MAX), IVAR0(8),
            EITR(25), VMOLR(8), VFTA(128), MTA(128), UTA(128), VLVF(32), RETA(32), RSSRK(10),
            VMVIR(8), PVFGPRC(8),
        ];
        for offset in past_the_end {
            assert_eq!(offset, INVALID);
        }
        // INVALID is what `Registers` implementations reject: unaligned and outside the BAR.
        assert!(!INVALID.is_multiple_of(4));
    }

    #[test]
    fn queue_blocks_do_not_overlap() {
        let mut offsets: std::vec::Vec<u32> = (0..NUM_QUEUES)
            .flat_map(|n| [RDBAL(n), RDBAH(n), RDLEN(n), SRRCTL(n), RDH(n), RXCTL(n), RDT(n), RXDCTL(n), RQDPC(n)])
            .chain((0..NUM_QUEUES).flat_map(|n| [TDBAL(n), TDBAH(n), TDLEN(n), TDH(n), TXCTL(n), TDT(n), TXDCTL(n), TDWBAL(n), TDWBAH(n)]))
            .chain((0..NUM_RAR).flat_map(|n| [RAL(n), RAH(n)]))
            .collect();
        let count = offsets.len();
        offsets.sort_unstable();
        offsets.dedup();
        assert_eq!(offsets.len(), count, "two registers share an offset");
    }
}
