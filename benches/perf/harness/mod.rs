//! The performance harness behind `cargo make bench` (README "Performance").
//!
//! * Instruction counts, no QEMU: the receive path ([`rx`]), the send path ([`tx`]), a bare
//!   ring-consumer loop as the floor ([`bare`]), and interrupt planning ([`plan`]), each run
//!   natively (wall clock, a trend only) and under callgrind ([`callgrind`]), which counts the
//!   instructions inside [`measured`] and nothing else.
//! * Event counts on QEMU under the simulated ndis.sys ([`events`]).
//! * One table with each figure beside its target, and the same figures as JSON
//!   ([`report`]).
//!
//! `tests/bench_smoke.rs` runs the same code in a tiny configuration so that it cannot rot.

pub mod bare;
pub mod callgrind;
pub mod events;
pub mod heap;
pub mod memory;
pub mod plan;
pub mod regs;
pub mod report;
pub mod rx;
pub mod tx;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Batch sizes of the data-path benches.
pub const BATCHES: [usize; 5] = [1, 8, 32, 64, 256];
/// Frame sizes: 64 bytes on the wire (60 + FCS) and the largest untagged frame (without FCS).
pub const FRAMES: [usize; 2] = [60, 1514];
/// Processor counts of the planning benches.
pub const PROCESSORS: [usize; 4] = [1, 64, 640, 2048];
/// Frames each way on QEMU.
pub const EVENT_FRAMES: usize = 10_000;

/// How much work each measurement does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// The real run.
    Full,
    /// The smoke test's.
    Smoke,
}

impl Size {
    /// Packets measured per data-path measurement.
    pub fn packets(self) -> usize {
        match self {
            Self::Full => 16_384,
            Self::Smoke => 512,
        }
    }

    /// Packets run before measuring: two trips round the ring (one in the smoke test).
    pub fn warmup_packets(self, ring: usize) -> usize {
        match self {
            Self::Full => 2 * ring,
            Self::Smoke => ring,
        }
    }
}

/// What the measured regions of one measurement did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Packets (or planning runs) processed in measured regions.
    pub units: u64,
    /// Measured regions.
    pub calls: u64,
    /// Wall-clock nanoseconds inside them.
    pub nanos: u128,
    /// Heap allocations inside them.
    pub allocations: u64,
    /// Register reads and writes inside them.
    pub register_reads: u64,
    pub register_writes: u64,
}

/// The measured region: callgrind collects inside this function only (see
/// [`callgrind::TOGGLE`]); nothing else may be called `measured`.
#[inline(never)]
pub fn measured<F: FnMut()>(region: &mut F) {
    region();
}

impl Tally {
    /// Runs one measured region of `units` units.
    pub fn run<F: FnMut()>(&mut self, units: u64, region: &mut F) {
        let allocations = heap::allocations();
        let start = Instant::now();
        measured(region);
        self.nanos += start.elapsed().as_nanos();
        self.allocations += heap::allocations() - allocations;
        self.units += units;
        self.calls += 1;
    }

    fn line(&self) -> String {
        format!(
            "tally units={} calls={} nanos={} allocations={} register_reads={} register_writes={}",
            self.units,
            self.calls,
            self.nanos,
            self.allocations,
            self.register_reads,
            self.register_writes
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let mut tally = Self::default();
        for field in line.strip_prefix("tally ")?.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "units" => tally.units = value.parse().ok()?,
                "calls" => tally.calls = value.parse().ok()?,
                "nanos" => tally.nanos = value.parse().ok()?,
                "allocations" => tally.allocations = value.parse().ok()?,
                "register_reads" => tally.register_reads = value.parse().ok()?,
                "register_writes" => tally.register_writes = value.parse().ok()?,
                _ => return None,
            }
        }
        Some(tally)
    }
}

/// One measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measurement {
    Rx { batch: usize, frame: usize },
    Bare { batch: usize, frame: usize },
    TxSend { batch: usize, frame: usize },
    TxComplete { batch: usize, frame: usize },
    Plan { processors: usize, region: plan::Region },
}

impl Measurement {
    /// Every measurement of a full run.
    pub fn all() -> Vec<Self> {
        let mut all = Vec::new();
        for frame in FRAMES {
            for batch in BATCHES {
                all.push(Self::Rx { batch, frame });
                all.push(Self::Bare { batch, frame });
                all.push(Self::TxSend { batch, frame });
                all.push(Self::TxComplete { batch, frame });
            }
        }
        for processors in PROCESSORS {
            for region in [plan::Region::Requirements, plan::Region::Plan, plan::Region::Binding] {
                all.push(Self::Plan { processors, region });
            }
        }
        all
    }

    /// Its name on the command line (`--measure NAME`).
    pub fn name(self) -> String {
        match self {
            Self::Rx { batch, frame } => format!("rx:{batch}:{frame}"),
            Self::Bare { batch, frame } => format!("bare:{batch}:{frame}"),
            Self::TxSend { batch, frame } => format!("tx:{batch}:{frame}"),
            Self::TxComplete { batch, frame } => format!("txdone:{batch}:{frame}"),
            Self::Plan { processors, region } => {
                let region = match region {
                    plan::Region::Requirements => "requirements",
                    plan::Region::Plan => "plan",
                    plan::Region::Binding => "binding",
                };
                format!("{region}:{processors}")
            }
        }
    }

    /// The measurement named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        let mut parts = name.split(':');
        let kind = parts.next()?;
        let first: usize = parts.next()?.parse().ok()?;
        let second: Option<usize> = parts.next().and_then(|p| p.parse().ok());
        let region = |region| Some(Self::Plan { processors: first, region });
        match (kind, second) {
            ("rx", Some(frame)) => Some(Self::Rx { batch: first, frame }),
            ("bare", Some(frame)) => Some(Self::Bare { batch: first, frame }),
            ("tx", Some(frame)) => Some(Self::TxSend { batch: first, frame }),
            ("txdone", Some(frame)) => Some(Self::TxComplete { batch: first, frame }),
            ("requirements", None) => region(plan::Region::Requirements),
            ("plan", None) => region(plan::Region::Plan),
            ("binding", None) => region(plan::Region::Binding),
            _ => None,
        }
    }

    /// Runs it in this process.
    pub fn run(self, size: Size) -> Tally {
        match self {
            Self::Rx { batch, frame } => rx::run(batch, frame, size, true),
            Self::Bare { batch, frame } => bare::run(batch, frame, size, true),
            Self::TxSend { batch, frame } => tx::run(batch, frame, size, tx::Region::Send, true),
            Self::TxComplete { batch, frame } => {
                tx::run(batch, frame, size, tx::Region::Complete, true)
            }
            Self::Plan { processors, region } => plan::run(processors, region, true),
        }
    }
}

/// A measurement's results.
#[derive(Clone, Copy, Debug, Default)]
pub struct Measured {
    /// Native run (wall clock, allocations, register accesses).
    pub native: Tally,
    /// Instructions per unit under callgrind, if it ran.
    pub instructions: Option<f64>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub size: Size,
    /// Count instructions with callgrind (else only the native run).
    pub callgrind: bool,
    /// Measurements under callgrind (`None`: all).
    pub callgrind_only: Option<Vec<Measurement>>,
    /// Frames each way on QEMU (`None`: no QEMU run).
    pub event_frames: Option<usize>,
    /// Where the JSON and callgrind's files go.
    pub out_dir: PathBuf,
    /// How to start a measurement under callgrind.
    pub child: callgrind::Child,
}

/// Everything measured.
pub struct Outcome {
    pub results: BTreeMap<String, Measured>,
    pub events: Result<events::Events, String>,
    pub valgrind: Option<String>,
    pub notes: Vec<String>,
}

/// Runs every measurement natively, then under callgrind (two at a time), then on QEMU.
pub fn run(options: &Options) -> Outcome {
    let mut notes = Vec::new();
    assert!(heap::counting(), "the counting allocator is the global allocator");
    let mut results: BTreeMap<String, Measured> = BTreeMap::new();
    for measurement in Measurement::all() {
        // The median of 5 native runs (wall clock is a trend only); one in the smoke test.
        let repeat = if options.size == Size::Full { 5 } else { 1 };
        let mut runs: Vec<Tally> = (0..repeat).map(|_| measurement.run(options.size)).collect();
        runs.sort_by_key(|t| t.nanos);
        let native = runs[runs.len() / 2];
        results.insert(measurement.name(), Measured { native, instructions: None });
    }
    let valgrind = callgrind::version();
    if options.callgrind {
        if valgrind.is_some() {
            let wanted = options.callgrind_only.clone().unwrap_or_else(Measurement::all);
            let counted =
                count_instructions(&options.child, &wanted, options.size, &options.out_dir);
            for (name, counted) in counted {
                match counted {
                    Ok(per_unit) => {
                        if let Some(result) = results.get_mut(&name) {
                            result.instructions = Some(per_unit);
                        }
                    }
                    Err(error) => notes.push(error),
                }
            }
        } else {
            notes.push(
                "valgrind not found: no instruction counts (`apt-get install valgrind`)".into(),
            );
        }
    }
    let events = match options.event_frames {
        Some(frames) => events::run(frames),
        None => Err("not run".into()),
    };
    Outcome { results, events, valgrind, notes }
}

/// Instructions per unit of each measurement, two callgrind processes at a time.
fn count_instructions(
    child: &callgrind::Child,
    wanted: &[Measurement],
    size: Size,
    out_dir: &Path,
) -> Vec<(String, Result<f64, String>)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(measurement) = wanted.get(index) else { break };
                    let name = measurement.name();
                    let counted =
                        callgrind::measure(child, &name, size, out_dir).and_then(|(ir, line)| {
                            let tally = Tally::parse(&line)
                                .ok_or_else(|| format!("{name}: no tally from the child"))?;
                            if tally.units == 0 {
                                return Err(format!("{name}: nothing measured"));
                            }
                            Ok(report::float(ir) / report::float(tally.units))
                        });
                    done.lock().expect("the results").push((name, counted));
                }
            });
        }
    });
    done.into_inner().expect("the results")
}

/// The child's side: if [`callgrind::MEASURE_VAR`] names a measurement, runs it (under
/// callgrind) and prints its tally; `Ok(false)` if this process is not a child.
///
/// # Errors
/// An unknown measurement name.
pub fn measure_if_child() -> Result<bool, String> {
    let Ok(name) = std::env::var(callgrind::MEASURE_VAR) else { return Ok(false) };
    let smoke = std::env::var(callgrind::SMOKE_VAR).is_ok_and(|v| !v.is_empty());
    measure_one(&name, if smoke { Size::Smoke } else { Size::Full })?;
    Ok(true)
}

/// Runs one measurement and prints its tally.
fn measure_one(name: &str, size: Size) -> Result<(), String> {
    let measurement = Measurement::parse(name).ok_or_else(|| format!("no measurement {name}"))?;
    assert!(heap::counting(), "the counting allocator is the global allocator");
    let tally = measurement.run(size);
    println!("{}", tally.line());
    Ok(())
}

/// The target directory (`target/`, or `CARGO_TARGET_DIR`) of the running bench binary
/// (`<target>/release/deps/perf-<hash>`).
pub fn target_dir(exe: &Path) -> PathBuf {
    exe.ancestors().nth(3).map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}
