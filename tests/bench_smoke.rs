//! The performance harness of `cargo make bench` (`benches/perf`) in a tiny configuration, so
//! that it cannot rot: every measurement runs natively with a few hundred packets, one of them
//! under callgrind (when valgrind is installed), the driver on QEMU with one wave each way,
//! and the summary has every key the README and the targets name.

#[path = "../benches/perf/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use harness::{Measurement, Options, Size, callgrind};

#[global_allocator]
static ALLOCATOR: harness::heap::Counting = harness::heap::Counting;

/// The callgrind child: does nothing unless the harness started this binary as one.
#[test]
fn callgrind_child() {
    harness::measure_if_child().expect("a known measurement");
}

#[test]
fn the_bench_harness_runs_a_tiny_configuration_and_writes_every_summary_key() {
    let out_dir = std::env::temp_dir().join(format!("vmqnic-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let child = callgrind::Child {
        exe: std::env::current_exe().unwrap(),
        args: ["callgrind_child", "--exact", "--nocapture", "--test-threads=1"]
            .map(String::from)
            .to_vec(),
    };
    let options = Options {
        size: Size::Smoke,
        callgrind: true,
        callgrind_only: Some(vec![Measurement::Rx { batch: 32, frame: 60 }]),
        event_frames: Some(64),
        out_dir: out_dir.clone(),
        child,
    };
    let outcome = harness::run(&options);
    let figures = harness::report::figures(&outcome);
    let table = harness::report::table(&outcome, &figures);
    let json = harness::report::json(&outcome, &figures);
    std::fs::remove_dir_all(&out_dir).unwrap();

    for target in &harness::report::TARGETS {
        assert!(json.get(target.key).is_some(), "{} in the summary", target.key);
        assert!(table.contains(target.label), "{} in the table", target.label);
    }
    for key in [
        "rx_instructions_per_packet_batch1",
        "bare_loop_instructions_per_packet_batch32",
        "tx_instructions_per_packet_batch256_1514b",
        "register_writes_per_packet",
        "interrupts_per_packet",
        "dpcs_per_packet",
        "cross_processor_dpcs",
        "plan_instructions_64_processors",
    ] {
        assert!(json.get(key).is_some(), "{key} in the summary");
    }
    // What every native run checks: no allocation and no register read in a measured region.
    assert_eq!(json["heap_allocations_per_packet"], 0.0);
    assert_eq!(json["bench_register_reads_per_packet"], 0.0);
    // The driver on QEMU: measured, no register read, no allocation.
    assert!(outcome.events.is_ok(), "{:?}", outcome.events.err());
    assert_eq!(json["register_reads_per_packet"], 0.0);
    assert_eq!(json["allocations_per_packet"], 0.0);
    assert_eq!(json["rx_event_frames"], 64.0);
    // Callgrind counted the one measurement asked for, if valgrind is here.
    let counted = &json["rx_instructions_per_packet_batch32"];
    if outcome.valgrind.is_some() {
        assert!(counted.as_f64().is_some_and(|v| v > 10.0), "{counted} ({:?})", outcome.notes);
    } else {
        assert!(counted.is_null());
    }
}
