//! Integration tests of the QEMU igb backend. Each test starts its own QEMU; they run in
//! parallel under `cargo test` (threads) and `cargo nextest run` (processes).

mod launch;
mod nic;
mod qmp;
mod support;
