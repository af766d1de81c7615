//! The vmq_host demo as a library: scenario files, one run of vmqnic on QEMU's 82576 under
//! the simulated ndis.sys, and the report. `examples/vmq_host.rs` is its command line;
//! `tests/demo.rs` runs the shipped scenarios through the same code.

pub mod report;
pub mod run;
pub mod scenario;

pub use run::run;
pub use scenario::Scenario;

/// The directory of the shipped scenarios.
#[must_use]
pub fn scenarios_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join("scenarios")
}
