//! The simulator's own tests: the exports against the driver's imports, the lifecycle it
//! drives (without a device and on QEMU's 82576), the interrupts it delivers, and every
//! contract check made to fire by a deliberately wrong driver (the [`fake`] miniport), with
//! its passing counterpart.
//!
//! The simulator is global state; `cargo nextest` runs each test in its own process, and under
//! `cargo test` [`Sim::start`](ndis_sim::sim::Sim::start) serializes them.

mod allocation_calls;
mod checks;
mod configuration;
mod export_checks;
mod exports;
mod fake;
mod faults;
mod freed_memory;
mod interrupts;
mod lifecycle;
mod mdl_mapping;
mod miniport_shared_memory;
mod net_buffers;
mod oids;
mod rules_coverage;
mod spin_locks;
mod vmq_oids;
mod work_items;
