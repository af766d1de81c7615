//! Build script. On a Windows host with the WDK it hands over to wdk-build exactly as the
//! windows-drivers-rs samples do (link paths, `/DRIVER` linker arguments, driver-model cfgs).
//! On any other host there is nothing to configure: the crate builds as a plain library so that
//! its pure logic and its NDIS glue (against the simulated ndis.sys) can be tested.

#[cfg(windows)]
fn main() -> Result<(), wdk_build::ConfigError> {
    wdk_build::configure_wdk_binary_build()
}

#[cfg(not(windows))]
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}
