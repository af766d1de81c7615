//! # vmqnic — an NDIS 6.30 VMQ miniport for the Intel 82576, in `no_std` Rust
//!
//! The crate is layered so that everything which does not need a Windows kernel is plain,
//! testable Rust (see `docs/architecture.md` in the repository):
//!
//! * [`ndis`] — the hand-written NDIS/NT ABI: `#[repr(C)]` structures with compile-time size and
//!   offset assertions, constants, the `extern "system"` imports of ndis.sys and one
//!   function-pointer type per import ([`ndis::sig`]) that a simulated ndis.sys is checked against.
//! * [`interrupt`] — pure logic: editing the PnP resource-requirements list (one MSI-X message per
//!   RSS processor plus one for "other causes"), parsing what PnP granted into an interrupt plan,
//!   and binding VMQ receive queues to MSI-X table entries and messages.
//! * [`hw`] — the device: the register-access seam ([`hw::Registers`]) and the 82576 code.
//! * [`oid`] — OID requests, pure: general queries and sets over byte buffers.
//! * [`vmq`] — the VMQ control path, pure: capabilities, the VMQ OIDs' buffers, the queue state
//!   machine, and the model of queues and filters with the VMDq register image it implies.
//! * [`miniport`] — the thin NDIS glue (`extern "system"` callbacks) that applies those decisions.
//!
//! The crate is `no_std` on every target so that Linux builds catch any accidental use of `std`
//! in driver code. Only the `cfg(windows)` `kernel` module touches the windows-drivers-rs crates
//! (panic handler, global allocator).

#![no_std]

// A no_std cdylib still needs a panic handler and an allocator to link on Linux; std supplies
// both there. `as _` keeps `std::` out of scope so driver code cannot use it by accident.
#[cfg(not(windows))]
extern crate std as _;
// Unit tests may name std (e.g. `std::vec`) explicitly.
#[cfg(test)]
extern crate std;

// Pure layers allocate only at PASSIVE_LEVEL (PnP filtering, Initialize, queue OIDs), never on
// the data path. On Windows the allocator is wdk-alloc's (non-paged pool).
extern crate alloc;

pub mod datapath;
pub mod hw;
pub mod interrupt;
pub mod miniport;
pub mod ndis;
pub mod oid;
pub mod vmq;

#[cfg(windows)]
mod kernel;
