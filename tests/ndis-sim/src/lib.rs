//! `ndis-sim`: the simulated ndis.sys that vmqnic's integration tests link the real driver
//! against, on Linux.
//!
//! * [`sim`] exports the ndis.sys functions the driver imports (each checked at compile time
//!   against the driver's own import signature in `vmqnic::ndis::sig`), keeps the state they
//!   share, records contract violations the way Driver Verifier would, and plays the PnP
//!   manager for the driver's PnP handlers.
//! * [`qemu`] is the hardware backend: QEMU's emulated Intel 82576 (`-device igb`) over the
//!   qtest protocol, with guest RAM shared into this process and a netdev socket for frame
//!   injection and capture. See `README.md` next to `Cargo.toml`.

#![allow(non_snake_case)] // the exports keep ndis.h's parameter names
#![allow(non_upper_case_globals)] // and match on its constants (CmResourceTypeMemory, …)

pub mod qemu;
pub mod sim;
pub mod vmq_requests;
