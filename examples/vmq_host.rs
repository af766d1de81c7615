//! The main job on Linux: vmqnic, the real driver, on QEMU's emulated Intel 82576 under the
//! simulated ndis.sys, with the VMs and traffic of a scenario file, and a report of what
//! happened.
//!
//! ```text
//! cargo run --example vmq_host -- [--scenario FILE] [--json] [--quiet]
//! ```
//!
//! It boots QEMU's 82576, loads vmqnic (DriverEntry, PnP start with the scenario's interrupt
//! grant), creates a VM queue per VM (ALLOCATE_QUEUE, SET_FILTER, QUEUE_ALLOCATION_COMPLETE),
//! sends the frames in waves, tears everything down and prints the interrupt plan, each queue,
//! the frames per queue, the interrupts and DPCs per processor and the contract violations.
//! Progress goes to stderr, the report to stdout (text, or JSON with `--json`). The exit code
//! is 0 when every frame came back on its queue and processor with no contract violation and
//! nothing leaked, 1 otherwise, 2 for a scenario or usage error.
//!
//! The scenario format is in `examples/scenarios/default.toml`.

mod demo;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: vmq_host [--scenario FILE] [--json] [--quiet]

  --scenario FILE  the scenario (TOML); default: examples/scenarios/default.toml
  --json           print the report as JSON
  --quiet          no progress lines on stderr";

struct Options {
    scenario: PathBuf,
    json: bool,
    quiet: bool,
}

fn options() -> Result<Options, String> {
    let mut options =
        Options { scenario: demo::scenarios_dir().join("default.toml"), json: false, quiet: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" => {
                let file = args.next().ok_or("--scenario needs a file")?;
                options.scenario = PathBuf::from(file);
            }
            "--json" => options.json = true,
            "--quiet" => options.quiet = true,
            "-h" | "--help" => return Err(String::new()),
            other => match other.strip_prefix("--scenario=") {
                Some(file) => options.scenario = PathBuf::from(file),
                None => return Err(format!("unknown argument {other}")),
            },
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            if message.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("vmq_host: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let scenario = match demo::Scenario::load(&options.scenario) {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("vmq_host: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let quiet = options.quiet;
    let mut progress = |line: &str| {
        if !quiet {
            eprintln!("[{:6.2} s] {line}", started.elapsed().as_secs_f64());
        }
    };
    let report = match demo::run(&scenario, &mut progress) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("vmq_host: {e}");
            return ExitCode::FAILURE;
        }
    };
    progress(if report.passed { "done: passed" } else { "done: FAILED" });
    let text = if options.json { report.json() } else { report.text() };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", text.trim_end());
    if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
