//! Driver bugs the reliability work (issue [7/8]) found, each with the test that failed before
//! its fix, on QEMU's 82576 under the simulated NDIS.

use ndis_sim::sim::{Fault, GrantPolicy, Sim, SimConfig};
use vmqnic::miniport::driver::driver_entry;

/// NdisOpenConfigurationEx failing (no memory for the handle) left the driver calling
/// NdisCloseConfiguration on the NULL handle it never got: `bool::then_some` built (and
/// dropped) the closing guard even when the open had failed.
#[test]
fn a_failed_configuration_open_closes_nothing() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]).with_qemu());
    sim.load_driver(driver_entry).unwrap();
    sim.inject_fault(Fault::NthCall("NdisOpenConfigurationEx", 1));
    sim.start_device(GrantPolicy::AsRequested).expect("the keywords take their defaults");
    assert_eq!(sim.injected_faults().len(), 1);
    assert_eq!(sim.violations(), vec![], "nothing closed that was not opened");
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}
