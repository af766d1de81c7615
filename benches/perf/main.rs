//! `cargo make bench` (or `cargo bench --bench perf`): the data path's instruction counts
//! (callgrind), the driver's event counts on QEMU, and the cost of interrupt planning, in one
//! table with each figure beside its target; the same figures go to
//! `<target dir>/bench/summary.json`. See `harness` and README "Performance".
//!
//! Arguments: none (cargo passes `--bench`) for the full run; `--no-callgrind`, `--no-qemu` to
//! leave a part out. With `VMQNIC_BENCH_MEASURE=NAME` in its environment the binary runs that
//! one measurement and prints its tally instead (what the full run starts under callgrind),
//! e.g. `VMQNIC_BENCH_MEASURE=rx:32:60 valgrind --tool=callgrind ... perf-<hash>`.

mod harness;

use std::process::ExitCode;

use harness::{EVENT_FRAMES, Options, Size};

// The driver's NDIS glue imports ndis.sys; the simulated one provides every export.
use ndis_sim as _;

#[global_allocator]
static ALLOCATOR: harness::heap::Counting = harness::heap::Counting;

fn main() -> ExitCode {
    match harness::measure_if_child() {
        Ok(true) => return ExitCode::SUCCESS,
        Ok(false) => {}
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let exe = std::env::current_exe().expect("the bench binary's path");
    // scripts/bench.sh builds in a target directory of its own and names the output here.
    let out_dir = std::env::var_os("VMQNIC_BENCH_OUT")
        .map_or_else(|| harness::target_dir(&exe).join("bench"), std::path::PathBuf::from);
    std::fs::create_dir_all(&out_dir).expect("the output directory");
    let options = Options {
        size: Size::Full,
        callgrind: !has("--no-callgrind"),
        callgrind_only: None,
        event_frames: (!has("--no-qemu")).then_some(EVENT_FRAMES),
        out_dir: out_dir.clone(),
        child: harness::callgrind::Child { exe, args: Vec::new() },
    };
    let started = std::time::Instant::now();
    let outcome = harness::run(&options);
    let figures = harness::report::figures(&outcome);
    println!("{}", harness::report::table(&outcome, &figures));
    let json = harness::report::json(&outcome, &figures);
    let path = out_dir.join("summary.json");
    let text = serde_json::to_string_pretty(&json).expect("JSON");
    std::fs::write(&path, text + "\n").expect("summary.json");
    println!("wrote {} ({:.0} s)", path.display(), started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
