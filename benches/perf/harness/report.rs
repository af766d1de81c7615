//! The figures: one flat map of named numbers (the JSON's top level), the targets they are
//! held against, and the table `cargo make bench` prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::events::{Direction, Events};
use super::{BATCHES, FRAMES, Measurement, Outcome, PROCESSORS, plan};

/// A figure's name suffix for a frame size (64-byte frames are the default).
fn frame_suffix(frame: usize) -> String {
    if frame == FRAMES[0] { String::new() } else { format!("_{frame}b") }
}

/// A target: the figure must be at most `limit`.
pub struct Target {
    pub key: &'static str,
    pub label: &'static str,
    pub limit: f64,
}

/// The targets (ambitious on purpose).
pub const TARGETS: [Target; 9] = [
    Target {
        key: "rx_instructions_per_packet_batch32",
        label: "RX instructions/packet, batch 32, 64 B",
        limit: 180.0,
    },
    Target { key: "rx_to_bare_loop_ratio_batch32", label: "RX / bare loop, batch 32", limit: 2.0 },
    Target {
        key: "tx_instructions_per_packet_batch32",
        label: "TX instructions/packet, batch 32, 64 B",
        limit: 200.0,
    },
    Target { key: "rx_batch1_to_batch32_ratio", label: "RX batch 1 / batch 32", limit: 1.6 },
    Target { key: "tx_batch1_to_batch32_ratio", label: "TX batch 1 / batch 32", limit: 1.6 },
    Target { key: "register_reads_per_packet", label: "register reads/packet (QEMU)", limit: 0.0 },
    Target {
        key: "allocations_per_packet",
        label: "allocations/packet (NDIS on QEMU + heap)",
        limit: 0.0,
    },
    Target { key: "tail_writes_per_batch", label: "tail writes/batch (QEMU)", limit: 1.0 },
    Target {
        key: "plan_instructions_2048_processors",
        label: "plan + binding, 2048 processors (instr.)",
        limit: 2_000_000.0,
    },
];

/// A count as a float (counts here stay far below 2^52).
#[allow(clippy::cast_precision_loss)]
pub fn float(count: u64) -> f64 {
    count as f64
}

fn per(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| float(numerator) / float(denominator))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|r| r.is_finite())
}

fn event_figures(figures: &mut BTreeMap<String, Option<f64>>, events: Option<&Events>) {
    let mut put = |key: &str, value: Option<f64>| {
        figures.insert(key.to_owned(), value);
    };
    let both = events.map(|e| {
        let (rx, tx) = (e.rx, e.tx);
        Direction {
            frames: rx.frames + tx.frames,
            register_reads: rx.register_reads + tx.register_reads,
            register_writes: rx.register_writes + tx.register_writes,
            tail_writes: rx.tail_writes + tx.tail_writes,
            batches: rx.batches + tx.batches,
            copied_batches: rx.copied_batches + tx.copied_batches,
            interrupts: rx.interrupts + tx.interrupts,
            dpcs: rx.dpcs + tx.dpcs,
            dpc_passes: rx.dpc_passes + tx.dpc_passes,
            cross_processor_dpcs: rx.cross_processor_dpcs + tx.cross_processor_dpcs,
            allocation_calls: rx.allocation_calls + tx.allocation_calls,
        }
    });
    let directions = [("", both), ("rx_", events.map(|e| e.rx)), ("tx_", events.map(|e| e.tx))];
    for (prefix, d) in directions {
        let f = |g: fn(&Direction) -> u64| d.and_then(|d| per(g(&d), d.frames));
        put(&format!("{prefix}register_reads_per_packet"), f(|d| d.register_reads));
        put(&format!("{prefix}register_writes_per_packet"), f(|d| d.register_writes));
        put(&format!("{prefix}interrupts_per_packet"), f(|d| d.interrupts));
        put(&format!("{prefix}dpcs_per_packet"), f(|d| d.dpcs));
        put(&format!("{prefix}cross_processor_dpcs_per_packet"), f(|d| d.cross_processor_dpcs));
        put(&format!("{prefix}ndis_allocation_calls_per_packet"), f(|d| d.allocation_calls));
        put(&format!("{prefix}event_frames"), d.map(|d| float(d.frames)));
    }
    let tail = |d: Option<Direction>| d.and_then(|d| per(d.tail_writes, d.batches));
    let rx_tail = tail(events.map(|e| e.rx));
    let tx_tail = tail(events.map(|e| e.tx));
    put("rx_tail_writes_per_batch", rx_tail);
    put("tx_tail_writes_per_batch", tx_tail);
    put("tail_writes_per_batch", rx_tail.zip(tx_tail).map(|(a, b)| a.max(b)));
    put("rx_packets_per_indication", events.and_then(|e| per(e.rx.frames, e.rx.batches)));
    put("rx_copied_indications", events.map(|e| float(e.rx.copied_batches)));
    put("cross_processor_dpcs", both.map(|d| float(d.cross_processor_dpcs)));
    put("dpc_passes_per_dpc", both.and_then(|d| per(d.dpc_passes, d.dpcs)));
}

/// Every figure by name (`None`: not measured in this run).
pub fn figures(outcome: &Outcome) -> BTreeMap<String, Option<f64>> {
    let mut figures = BTreeMap::new();
    let result = |m: Measurement| outcome.results.get(&m.name()).copied();
    let instructions = |m: Measurement| result(m).and_then(|r| r.instructions);
    let nanos = |m: Measurement| {
        result(m)
            .and_then(|r| per(u64::try_from(r.native.nanos).unwrap_or(u64::MAX), r.native.units))
    };
    let mut heap = 0;
    let mut reads = 0;
    let mut packets = 0;
    for frame in FRAMES {
        let sfx = frame_suffix(frame);
        for batch in BATCHES {
            let kinds = [
                ("rx", Measurement::Rx { batch, frame }),
                ("bare_loop", Measurement::Bare { batch, frame }),
                ("tx", Measurement::TxSend { batch, frame }),
                ("tx_completion", Measurement::TxComplete { batch, frame }),
            ];
            for (kind, m) in kinds {
                figures.insert(
                    format!("{kind}_instructions_per_packet_batch{batch}{sfx}"),
                    instructions(m),
                );
                figures.insert(format!("{kind}_ns_per_packet_batch{batch}{sfx}"), nanos(m));
                if let Some(r) = result(m) {
                    heap += r.native.allocations;
                    reads += r.native.register_reads;
                    packets += r.native.units;
                }
            }
        }
    }
    let get =
        |figures: &BTreeMap<String, Option<f64>>, key: &str| figures.get(key).copied().flatten();
    let rx32 = get(&figures, "rx_instructions_per_packet_batch32");
    let tx32 = get(&figures, "tx_instructions_per_packet_batch32");
    let derived = [
        (
            "rx_to_bare_loop_ratio_batch32",
            ratio(rx32, get(&figures, "bare_loop_instructions_per_packet_batch32")),
        ),
        (
            "rx_batch1_to_batch32_ratio",
            ratio(get(&figures, "rx_instructions_per_packet_batch1"), rx32),
        ),
        (
            "tx_batch1_to_batch32_ratio",
            ratio(get(&figures, "tx_instructions_per_packet_batch1"), tx32),
        ),
        (
            "rx_batch64_to_batch256_ratio",
            ratio(
                get(&figures, "rx_instructions_per_packet_batch64"),
                get(&figures, "rx_instructions_per_packet_batch256"),
            ),
        ),
        ("heap_allocations_per_packet", per(heap, packets)),
        ("bench_register_reads_per_packet", per(reads, packets)),
    ];
    for (key, value) in derived {
        figures.insert(key.to_owned(), value);
    }
    for processors in PROCESSORS {
        let region = |region| instructions(Measurement::Plan { processors, region });
        let requirements = region(plan::Region::Requirements);
        let grant_plan = region(plan::Region::Plan);
        let binding = region(plan::Region::Binding);
        figures.insert(format!("requirements_instructions_{processors}_processors"), requirements);
        figures.insert(format!("grant_plan_instructions_{processors}_processors"), grant_plan);
        figures.insert(format!("binding_instructions_{processors}_processors"), binding);
        figures.insert(
            format!("plan_instructions_{processors}_processors"),
            grant_plan.zip(binding).map(|(a, b)| a + b),
        );
    }
    event_figures(&mut figures, outcome.events.as_ref().ok());
    let ndis = get(&figures, "ndis_allocation_calls_per_packet");
    let heap = get(&figures, "heap_allocations_per_packet");
    figures.insert("allocations_per_packet".into(), ndis.zip(heap).map(|(a, b)| a + b));
    figures
}

fn show(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if v.fract().abs() < f64::EPSILON && v.abs() < 1e12 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

fn status(value: Option<f64>, limit: f64) -> &'static str {
    match value {
        None => "not measured",
        Some(v) if v <= limit + 1e-9 => "met",
        Some(_) => "MISSED",
    }
}

type Figures = BTreeMap<String, Option<f64>>;

/// How this binary was built to panic (`cargo make bench`: abort, as the driver ships).
pub const PANIC: &str = if cfg!(panic = "abort") { "abort" } else { "unwind" };

fn get(figures: &Figures, key: &str) -> Option<f64> {
    figures.get(key).copied().flatten()
}

/// The table `cargo make bench` prints.
pub fn table(outcome: &Outcome, figures: &Figures) -> String {
    let mut out = String::new();
    targets_table(&mut out, figures);
    datapath_table(&mut out, figures);
    planning_table(&mut out, figures);
    events_table(&mut out, outcome, figures);
    for note in &outcome.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let valgrind = outcome.valgrind.as_deref().unwrap_or("no valgrind");
    let _ = writeln!(out, "(built with panic={PANIC}; {valgrind})");
    out
}

fn targets_table(out: &mut String, figures: &Figures) {
    let _ = writeln!(
        out,
        "{:<46} {:>12}  {:>12}  {:>10}  by",
        "figure", "measured", "target", "status"
    );
    for t in &TARGETS {
        let value = get(figures, t.key);
        let by = value
            .filter(|v| *v > t.limit)
            .map(|v| {
                if t.limit > 0.0 {
                    format!("+{:.0} %", (v / t.limit - 1.0) * 100.0)
                } else {
                    format!("+{}", show(Some(v)))
                }
            })
            .unwrap_or_default();
        let target =
            if t.limit == 0.0 { "= 0".to_owned() } else { format!("<= {}", show(Some(t.limit))) };
        let _ = writeln!(
            out,
            "{:<46} {:>12}  {:>12}  {:>10}  {by}",
            t.label,
            show(value),
            target,
            status(value, t.limit)
        );
    }
}

fn datapath_table(out: &mut String, figures: &Figures) {
    let _ =
        writeln!(out, "\ninstructions per packet (callgrind; ns/packet natively, a trend only)");
    let _ = writeln!(
        out,
        "{:<8} {:>6} {:>10} {:>10} {:>10} {:>12} {:>9} {:>9}",
        "frame", "batch", "RX", "bare loop", "TX send", "TX complete", "RX ns", "TX ns"
    );
    for frame in FRAMES {
        let sfx = frame_suffix(frame);
        for batch in BATCHES {
            let k = |kind: &str, what: &str| {
                get(figures, &format!("{kind}_{what}_per_packet_batch{batch}{sfx}"))
            };
            let wire = if frame == FRAMES[0] { "64 B".to_owned() } else { format!("{frame} B") };
            let _ = writeln!(
                out,
                "{:<8} {:>6} {:>10} {:>10} {:>10} {:>12} {:>9} {:>9}",
                wire,
                batch,
                show(k("rx", "instructions")),
                show(k("bare_loop", "instructions")),
                show(k("tx", "instructions")),
                show(k("tx_completion", "instructions")),
                show(k("rx", "ns")),
                show(k("tx", "ns")),
            );
        }
    }
}

fn planning_table(out: &mut String, figures: &Figures) {
    let _ = writeln!(out, "\ninterrupt planning (instructions per run)");
    let _ = writeln!(
        out,
        "{:<11} {:>14} {:>14} {:>14} {:>14}",
        "processors", "requirements", "grant+plan", "binding", "plan+binding"
    );
    for n in PROCESSORS {
        let k = |what: &str| get(figures, &format!("{what}_instructions_{n}_processors"));
        let _ = writeln!(
            out,
            "{:<11} {:>14} {:>14} {:>14} {:>14}",
            n,
            show(k("requirements")),
            show(k("grant_plan")),
            show(k("binding")),
            show(k("plan"))
        );
    }
}

fn events_table(out: &mut String, outcome: &Outcome, figures: &Figures) {
    let _ = writeln!(out, "\nevents on QEMU per packet");
    if let Err(error) = &outcome.events {
        let _ = writeln!(out, "not measured: {error}");
        return;
    }
    let _ = writeln!(out, "{:<34} {:>10} {:>10} {:>10}", "", "RX", "TX", "both");
    let rows = [
        ("register reads", "register_reads_per_packet"),
        ("register writes", "register_writes_per_packet"),
        ("interrupts", "interrupts_per_packet"),
        ("DPCs", "dpcs_per_packet"),
        ("DPCs off their ISR's processor", "cross_processor_dpcs_per_packet"),
        ("NDIS allocation calls", "ndis_allocation_calls_per_packet"),
        ("frames", "event_frames"),
    ];
    for (label, key) in rows {
        let _ = writeln!(
            out,
            "{:<34} {:>10} {:>10} {:>10}",
            label,
            show(get(figures, &format!("rx_{key}"))),
            show(get(figures, &format!("tx_{key}"))),
            show(get(figures, key))
        );
    }
    let _ = writeln!(
        out,
        "{:<34} {:>10} {:>10}",
        "tail writes per batch",
        show(get(figures, "rx_tail_writes_per_batch")),
        show(get(figures, "tx_tail_writes_per_batch"))
    );
    let _ = writeln!(
        out,
        "{:<34} {:>10}",
        "frames per receive indication",
        show(get(figures, "rx_packets_per_indication"))
    );
}

/// The JSON: every figure at the top level, plus `targets` and `meta`.
pub fn json(outcome: &Outcome, figures: &Figures) -> Value {
    let mut map = Map::new();
    for (key, value) in figures {
        map.insert(key.clone(), value.map_or(Value::Null, |v| json!(v)));
    }
    let mut targets = Map::new();
    for t in &TARGETS {
        let value = figures.get(t.key).copied().flatten();
        targets.insert(
            t.key.to_owned(),
            json!({ "limit": t.limit, "measured": value, "met": value.map(|v| v <= t.limit + 1e-9) }),
        );
    }
    map.insert("targets".into(), Value::Object(targets));
    map.insert(
        "meta".into(),
        json!({
            "valgrind": outcome.valgrind,
            "panic": PANIC,
            "frames": "64 B = 60 bytes + FCS; 1514 B = the largest untagged frame",
            "instructions": "callgrind Ir inside the measured region / packets (or per planning run)",
            "events": "QEMU 82576 under the simulated ndis.sys, frames each way in waves of 64",
            "notes": outcome.notes,
            "events_error": outcome.events.as_ref().err(),
        }),
    );
    Value::Object(map)
}
