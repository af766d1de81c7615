//! The Intel 82576 (PCI 8086:10C9, QEMU's `-device igb`).
//!
//! Pure device logic in the style of Linux igb's `e1000_82575.c`: everything takes the register
//! space as `&impl Registers` and never calls NDIS. [`regs`] is the register map.

#[rustfmt::skip]
pub mod regs;
