//! Instruction counts with `valgrind --tool=callgrind`: a child process (the bench binary, with
//! [`MEASURE_VAR`] set) runs one measurement under callgrind, which collects only inside `harness::measured` (`--toggle-collect`), so
//! set-up, warm-up and the bench's "device" are not counted.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Size;

/// The environment variable that makes a process the child: run that one measurement and
/// print its tally (`harness::measure_one`).
pub const MEASURE_VAR: &str = "VMQNIC_BENCH_MEASURE";
/// Set (to anything) for the smoke test's small sizes.
pub const SMOKE_VAR: &str = "VMQNIC_BENCH_SMOKE";

/// How to start the child: the bench binary itself, or (in the smoke test) the test binary
/// with the arguments that select its child test.
#[derive(Clone, Debug)]
pub struct Child {
    pub exe: PathBuf,
    pub args: Vec<String>,
}

/// The function whose calls are counted (see `harness::measured`).
pub const TOGGLE: &str = "--toggle-collect=*harness*measured*";

/// valgrind's version line, if valgrind runs here.
pub fn version() -> Option<String> {
    let output = Command::new("valgrind").arg("--version").output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Runs the child for measurement `name` under callgrind; returns the instructions collected
/// and the child's tally line.
///
/// # Errors
/// Why it failed (valgrind missing, the child failed, no counts in the output).
pub fn measure(
    child: &Child,
    name: &str,
    size: Size,
    out_dir: &Path,
) -> Result<(u64, String), String> {
    let file = out_dir.join(format!("callgrind.{}.out", name.replace(':', "_")));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg(TOGGLE)
        .arg(format!("--callgrind-out-file={}", file.display()))
        .arg(&child.exe)
        .args(&child.args)
        .env(MEASURE_VAR, name)
        .env(SMOKE_VAR, if size == Size::Smoke { "1" } else { "" })
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{name} under callgrind failed: {stderr}"));
    }
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let totals = text
        .lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .ok_or_else(|| format!("no totals in {}", file.display()))?;
    if totals == 0 {
        return Err(format!("{name}: callgrind collected nothing (is `measured` still called?)"));
    }
    // The tally may follow other output on its line (libtest's "test callgrind_child ... ").
    let report = stdout
        .lines()
        .find_map(|l| l.find("tally ").map(|at| l[at..].to_owned()))
        .unwrap_or_default();
    Ok((totals, report))
}
