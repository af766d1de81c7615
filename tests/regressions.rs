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

/// With MSI or a line, QEMU's 82576 raises ICR.TXDW only when transmit queue 0's IVAR byte is
/// valid (igb_start_xmit raises it together with the EICR bit it takes from IVAR), although
/// the datasheet says IVAR is ignored in single-vector mode. The driver left IVAR alone there,
/// so a send completed only when some other interrupt (a received frame, a link change) ran the
/// DPC: without receive traffic the NBLs stayed with the driver, and a Pause never completed.
#[test]
fn sends_complete_with_msi_and_a_line_without_receive_traffic() {
    use std::time::{Duration, Instant};

    use ndis_sim::sim::SendFrame;
    use vmqnic::ndis::NDIS_STATUS_SUCCESS;

    for policy in [GrantPolicy::Msi, GrantPolicy::LineBased] {
        let mut sim = Sim::start(SimConfig::with_groups(&[2]).with_qemu());
        sim.load_driver(driver_entry).unwrap();
        sim.start_device(policy).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !sim.link_up_indicated() && Instant::now() < deadline {
            sim.deliver_interrupts(Duration::from_millis(20)).unwrap();
        }
        let frame = |n: u8| SendFrame {
            bytes: [[0x02, 0, 0, 0, 0, 1], [0x02, 0, 0, 0, 0, 2]]
                .concat()
                .into_iter()
                .chain([0x88, 0xB5, n])
                .chain([0; 47])
                .collect(),
            backfill: 0,
            mdl_size: None,
            ieee8021q: None,
            queue_id: None,
            cancel_id: None,
        };
        let nbls = sim.send_frames_as_nbls(&(0..8).map(frame).collect::<Vec<_>>(), 0).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while nbls.iter().any(|n| sim.send_status(*n).is_none()) && Instant::now() < deadline {
            sim.deliver_interrupts(Duration::from_millis(10)).unwrap();
        }
        for nbl in &nbls {
            assert_eq!(sim.send_status(*nbl), Some(NDIS_STATUS_SUCCESS), "{policy:?}: a send");
        }
        sim.stop_device().expect("the pause completes");
        assert_eq!(sim.violations(), vec![]);
    }
}

/// A surprise removal with sends in the transmit ring: the device is gone, so their
/// completions never come (no write-back, no interrupt). The driver waited for them, so the
/// Pause NDIS sends after the removal never completed (NdisTimedDataHang, a hung removal).
/// Now the sends in the ring and those that still come are completed (failed) by the driver.
#[test]
fn a_surprise_removal_with_sends_in_the_ring_completes_them_and_the_pause() {
    use std::time::{Duration, Instant};

    use ndis_sim::sim::SendFrame;

    let mut sim = Sim::start(SimConfig::with_groups(&[2]).with_qemu());
    sim.load_driver(driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sim.link_up_indicated() && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(20)).unwrap();
    }
    let frame = SendFrame {
        bytes: [[0x02, 0, 0, 0, 0, 1], [0x02, 0, 0, 0, 0, 2]]
            .concat()
            .into_iter()
            .chain([0x88, 0xB5])
            .chain([0; 48])
            .collect(),
        backfill: 0,
        mdl_size: None,
        ieee8021q: None,
        queue_id: None,
        cancel_id: None,
    };
    // In the ring: no interrupt is delivered before the device goes.
    let in_ring = sim.send_frames_as_nbls(&vec![frame.clone(); 16], 0).unwrap();
    sim.surprise_remove().unwrap();
    let late = sim.send_frames_as_nbls(&vec![frame; 4], 0).unwrap();
    sim.stop_device().expect("the pause completes after a surprise removal");
    let completions = sim.send_completions();
    for nbl in in_ring.iter().chain(&late) {
        assert_eq!(completions.iter().filter(|c| c.nbl == *nbl).count(), 1, "each send once");
    }
    assert_eq!(sim.violations(), vec![]);
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}
