//! The report of a run: plain data (serialized as JSON by `--json`) and its text form.

use std::fmt::Write as _;

use serde::Serialize;

/// Everything a run observed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The scenario file.
    pub scenario: String,
    /// The machine.
    pub host: Host,
    /// What the driver asked PnP for and what PnP granted.
    pub interrupt: Interrupt,
    /// VMQ as the driver offers it with this grant.
    pub vmq: Vmq,
    /// Each VM of the scenario: its queue, or why it has none.
    pub vms: Vec<VmReport>,
    /// Each VM queue the driver allocated.
    pub queues: Vec<QueueReport>,
    /// The default queue (queue id 0).
    pub default_queue: DefaultQueue,
    /// Interrupts, DPCs and indications per processor (only processors with any).
    pub processors: Vec<ProcessorActivity>,
    /// Frames sent and how they came back.
    pub traffic: TrafficReport,
    /// The simulator's contract violations (the Driver Verifier stand-in).
    pub violations: Vec<ViolationReport>,
    /// What the driver did not free by Unload.
    pub leaks: Vec<String>,
    /// OIDs that failed where they must succeed, and lifecycle calls that failed.
    pub problems: Vec<String>,
    /// Wall-clock time of each phase.
    pub seconds: Timings,
    /// No violation, leak, problem, lost or misdelivered frame, or processor mismatch.
    pub passed: bool,
}

/// The simulated machine.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Host {
    /// Processors per group.
    pub groups: Vec<u8>,
    /// Processors in all.
    pub processors: usize,
    /// The RSS set NdisGetRssProcessorInformation reports, `"group:number"`.
    pub rss: Vec<String>,
    /// Whether the RSS set is every processor.
    pub rss_all: bool,
    /// The scenario's grant (`full`, `messages:N`, `msi`, `line`).
    pub grant: String,
    /// The adapter's permanent MAC (QEMU's).
    pub adapter_mac: String,
}

/// The interrupt plan: requested and granted.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Interrupt {
    /// The MSI-X messages of the driver's filtered resource requirements, in order.
    pub requested: Vec<Requested>,
    /// What PnP granted.
    pub granted: Granted,
}

/// One requested message.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Requested {
    /// Message number.
    pub message: u32,
    /// The group of its processor (`None`: PCI's own affinity policy).
    pub group: Option<u16>,
    /// Its processor (`IrqPolicySpecifiedProcessors`).
    pub processor: Option<u8>,
    /// `"rx"` (one per RSS processor) or `"other"` (link and other causes).
    pub role: &'static str,
}

/// The grant.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Granted {
    /// `"msix"`, `"msi"` or `"line"`.
    pub kind: &'static str,
    /// Messages granted (0 for a line).
    pub messages: usize,
    /// Entries of the device's MSI-X table.
    pub table_size: u16,
    /// Each message (or the line) and the processor its ISR runs on.
    pub targets: Vec<GrantedTarget>,
}

/// A granted message or line.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GrantedTarget {
    /// Message number (`None`: the line).
    pub message: Option<u32>,
    /// Group of its target.
    pub group: u16,
    /// The processor its ISR runs on (the lowest of its affinity).
    pub processor: u8,
    /// Its affinity within the group, as a hexadecimal mask.
    pub affinity: String,
}

/// VMQ as the current receive-filter capabilities say.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Vmq {
    /// Any VM queue offered.
    pub enabled: bool,
    /// `NumQueues` of the current capabilities.
    pub queues_offered: u32,
}

/// One VM of the scenario.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VmReport {
    /// Its name.
    pub name: String,
    /// Its MAC.
    pub mac: String,
    /// Its VLAN.
    pub vlan: Option<u16>,
    /// The group of the processor it asked for.
    pub group: u16,
    /// The processor it asked for.
    pub processor: u8,
    /// Its queue, if it got one.
    pub queue_id: Option<u32>,
    /// `"queue"` or `"default queue"`.
    pub placement: &'static str,
    /// Why it has no queue.
    pub reason: Option<String>,
    /// Without a queue: its filter on the default queue (`"filter N set"` or why not).
    pub default_queue_filter: Option<String>,
    /// Frames sent to it.
    pub frames_sent: u64,
    /// Its frames never indicated.
    pub frames_lost: u64,
}

/// One VM queue.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QueueReport {
    /// The VM.
    pub vm: String,
    /// Queue id.
    pub queue_id: u32,
    /// The VMDq pool whose RAR holds the VM's MAC (read from the device).
    pub pool: Option<u8>,
    /// Group of the processor the queue's interrupt is delivered on.
    pub group: u16,
    /// The processor the queue's interrupt is delivered on (its message's target).
    pub processor: u8,
    /// Group of the processor the VM asked for.
    pub requested_group: u16,
    /// The processor the VM asked for.
    pub requested_processor: u8,
    /// No message targets the asked-for processor: the nearest one with a message serves it.
    pub best_effort: bool,
    /// MSI-X table entry (from ALLOCATE_QUEUE's `MSIXTableEntry`).
    pub table_entry: u32,
    /// The message that entry points at (the simulated OS's view of the table).
    pub message: Option<u32>,
    /// Frames indicated on the queue.
    pub frames: u64,
    /// Frames that should have been.
    pub expected_frames: u64,
    /// ISRs of its message during the traffic.
    pub isrs: u64,
    /// DPCs of its message during the traffic.
    pub dpcs: u64,
    /// Receive indications of the queue.
    pub indications: u64,
    /// Its ISRs, DPCs and indications that did not run on `processor`.
    pub mismatched_processor_events: u64,
}

/// The default queue.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DefaultQueue {
    /// Frames indicated on it.
    pub frames: u64,
    /// Frames that should have been (unknown unicast, broadcast, VMs without a queue).
    pub expected_frames: u64,
    /// Unknown unicast frames sent.
    pub unknown_unicast: u64,
    /// Broadcast frames sent.
    pub broadcast: u64,
    /// VMs whose frames it takes because they have no queue.
    pub fallback_vms: Vec<String>,
    /// Processors its indications ran on.
    pub processors: Vec<String>,
}

/// One processor's share of the work.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessorActivity {
    /// Group.
    pub group: u16,
    /// Number.
    pub processor: u8,
    /// ISRs run on it.
    pub isrs: u64,
    /// DPCs run on it.
    pub dpcs: u64,
    /// Receive indications made on it.
    pub indications: u64,
    /// Frames indicated on it.
    pub frames: u64,
}

/// The traffic.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TrafficReport {
    /// Frames sent.
    pub sent: u64,
    /// NBLs indicated.
    pub indicated: u64,
    /// Frames indicated once, on the right queue, byte for byte, with the right VLAN.
    pub delivered: u64,
    /// Frames never indicated.
    pub lost: u64,
    /// Frames indicated on another queue.
    pub misrouted: u64,
    /// Frames indicated with other bytes or another VLAN.
    pub corrupted: u64,
    /// Frames indicated more than once (the repeats).
    pub duplicated: u64,
    /// Indicated NBLs that were no frame of this run.
    pub unexpected: u64,
    /// Waves the frames were sent in.
    pub waves: usize,
}

/// A contract violation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ViolationReport {
    /// The rule.
    pub rule: String,
    /// What happened.
    pub detail: String,
}

/// Seconds per phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// QEMU, DriverEntry, PnP start, link up.
    pub start: f64,
    /// The queue OIDs.
    pub bring_up: f64,
    /// The frames.
    pub traffic: f64,
    /// Queue OIDs, stop, unload, checks.
    pub teardown: f64,
    /// The whole run.
    pub total: f64,
}

impl Report {
    /// What went wrong, one line each (empty: the run passed).
    #[must_use]
    pub fn verdict(&self) -> Vec<String> {
        let mut wrong = Vec::new();
        let t = &self.traffic;
        for (count, what) in [
            (t.lost, "frame(s) lost"),
            (t.misrouted, "frame(s) on the wrong queue"),
            (t.corrupted, "frame(s) with wrong bytes or VLAN"),
            (t.duplicated, "frame(s) indicated twice"),
            (t.unexpected, "unexpected NBL(s)"),
        ] {
            if count > 0 {
                wrong.push(format!("{count} {what}"));
            }
        }
        for vm in self.vms.iter().filter(|vm| vm.frames_lost > 0) {
            let why = match (vm.vlan, vm.queue_id, &vm.default_queue_filter) {
                (Some(vlan), None, Some(filter)) if !filter.ends_with(" set") => format!(
                    ": VLAN {vlan} has no filter (no queue, and {filter}), and the 82576 drops \
                     tagged frames whose VLAN is not in its VLAN table (vmqnic keeps VLAN \
                     filtering on)"
                ),
                _ => String::new(),
            };
            wrong.push(format!("VM {}: {} of its frames lost{why}", vm.name, vm.frames_lost));
        }
        let mismatched: u64 = self.queues.iter().map(|q| q.mismatched_processor_events).sum();
        if mismatched > 0 {
            wrong.push(format!("{mismatched} queue event(s) off the queue's processor"));
        }
        if !self.violations.is_empty() {
            wrong.push(format!("{} contract violation(s)", self.violations.len()));
        }
        wrong.extend(self.leaks.iter().cloned());
        wrong.extend(self.problems.iter().cloned());
        wrong
    }

    /// The report as pretty-printed JSON.
    #[must_use]
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report as text.
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.text_header(&mut out);
        self.text_interrupts(&mut out);
        self.text_queues(&mut out);
        self.text_processors(&mut out);
        self.text_verdict(&mut out);
        out
    }

    fn text_header(&self, out: &mut String) {
        let h = &self.host;
        let rss = if h.rss_all {
            format!("all {}", h.rss.len())
        } else {
            format!("{} ({})", h.rss.len(), compress(&h.rss))
        };
        let _ = writeln!(out, "vmq_host: {}", self.scenario);
        let _ = writeln!(
            out,
            "host: {} processors in {} group(s) {:?}; RSS set: {rss}; adapter MAC {}",
            h.processors,
            h.groups.len(),
            h.groups,
            h.adapter_mac
        );
    }

    fn text_interrupts(&self, out: &mut String) {
        let _ = writeln!(out, "\ninterrupt plan");
        let requested = &self.interrupt.requested;
        if requested.is_empty() {
            let _ = writeln!(out, "  requested: no MSI-X alternative in the filtered list");
        } else {
            let _ = writeln!(
                out,
                "  requested (MiniportFilterResourceRequirements): {} MSI-X message(s)",
                requested.len()
            );
        }
        let mut rx: Vec<(u32, String)> = Vec::new();
        for r in requested {
            if let (Some(group), Some(number)) = (r.group, r.processor) {
                rx.push((r.message, format!("{group}:{number}")));
            } else {
                flush_messages(out, &mut rx, "receive, one per RSS processor");
                let _ = writeln!(
                    out,
                    "    message {:<10} -> PCI's affinity  (other causes: link, errors)",
                    r.message
                );
            }
        }
        flush_messages(out, &mut rx, "receive, one per RSS processor");
        let g = &self.interrupt.granted;
        let grant = match g.kind {
            "msix" => {
                format!(
                    "MSI-X, {} message(s); the device's table has {} entries",
                    g.messages, g.table_size
                )
            }
            "msi" => "one MSI message (MSI-X disabled)".to_owned(),
            _ => "the line-based interrupt".to_owned(),
        };
        let _ = writeln!(out, "  granted (\"{}\"): {grant}", self.host.grant);
        let mut single: Vec<(u32, String)> = Vec::new();
        for t in &g.targets {
            let target = format!("{}:{}", t.group, t.processor);
            let one_processor = u64::from_str_radix(t.affinity.trim_start_matches("0x"), 16)
                .is_ok_and(u64::is_power_of_two);
            match t.message {
                Some(message) if one_processor => single.push((message, target)),
                Some(message) => {
                    flush_messages(out, &mut single, "");
                    let _ = writeln!(
                        out,
                        "    message {message:<10} -> {target} (affinity {} in group {}; the ISR \
                         runs on the lowest)",
                        t.affinity, t.group
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "    line               -> {target} (affinity {} in group {})",
                        t.affinity, t.group
                    );
                }
            }
        }
        flush_messages(out, &mut single, "");
        let vmq = if self.vmq.enabled {
            format!(
                "on, {} VM queue(s) offered (NumQueues of the current receive-filter capabilities)",
                self.vmq.queues_offered
            )
        } else {
            "off with this grant (the current receive-filter capabilities offer no VM queue)"
                .to_owned()
        };
        let _ = writeln!(out, "  VMQ: {vmq}");
    }

    fn text_queues(&self, out: &mut String) {
        let _ = writeln!(out, "\nVMs and queues");
        let mut rows = vec![
            [
                "VM",
                "MAC",
                "VLAN",
                "asks",
                "queue",
                "pool",
                "processor",
                "entry -> msg",
                "frames",
                "mismatches",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for vm in &self.vms {
            let asks = format!("{}:{}", vm.group, vm.processor);
            let vlan = vm.vlan.map_or_else(|| "-".to_owned(), |v| v.to_string());
            match self.queues.iter().find(|q| q.vm == vm.name) {
                Some(q) => {
                    let processor = format!(
                        "{}:{}{}",
                        q.group,
                        q.processor,
                        if q.best_effort { " (nearest)" } else { "" }
                    );
                    rows.push(vec![
                        vm.name.clone(),
                        vm.mac.clone(),
                        vlan,
                        asks,
                        q.queue_id.to_string(),
                        q.pool.map_or_else(|| "?".to_owned(), |p| p.to_string()),
                        processor,
                        format!(
                            "{} -> {}",
                            q.table_entry,
                            q.message.map_or_else(|| "?".to_owned(), |m| m.to_string())
                        ),
                        format!("{}/{}", q.frames, q.expected_frames),
                        q.mismatched_processor_events.to_string(),
                    ]);
                }
                None => rows.push(vec![
                    vm.name.clone(),
                    vm.mac.clone(),
                    vlan,
                    asks,
                    "-".to_owned(),
                    "0".to_owned(),
                    "default queue".to_owned(),
                    "-".to_owned(),
                    format!("({} sent)", vm.frames_sent),
                    "-".to_owned(),
                ]),
            }
        }
        table(out, &rows);
        if !self.queues.is_empty() {
            let _ = writeln!(
                out,
                "  (processor: where the queue's interrupt runs, the target of its table entry's \
                 message; mismatches: its ISRs, DPCs and indications elsewhere)"
            );
        }
        for vm in self.vms.iter().filter(|v| v.reason.is_some()) {
            let filter = vm
                .default_queue_filter
                .as_deref()
                .map(|f| format!("; default-queue filter: {f}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} falls back to the default queue ({}){filter}",
                vm.name,
                vm.reason.as_deref().unwrap_or_default()
            );
        }
        let d = &self.default_queue;
        let mut what = vec![
            format!("{} unknown unicast", d.unknown_unicast),
            format!("{} broadcast", d.broadcast),
        ];
        if !d.fallback_vms.is_empty() {
            what.push(format!("the frames of {}", d.fallback_vms.join(", ")));
        }
        let on = if d.processors.is_empty() {
            String::new()
        } else {
            format!(", indicated on {}", d.processors.join(" "))
        };
        let _ = writeln!(
            out,
            "  default queue (id 0, pool 0): {}/{} frames ({}){on}",
            d.frames,
            d.expected_frames,
            what.join(", ")
        );
    }

    fn text_processors(&self, out: &mut String) {
        let _ = writeln!(out, "\ninterrupts per processor (during link-up and traffic)");
        let mut rows = vec![
            ["processor", "ISRs", "DPCs", "indications", "frames"].map(str::to_owned).to_vec(),
        ];
        for p in &self.processors {
            rows.push(vec![
                format!("{}:{}", p.group, p.processor),
                p.isrs.to_string(),
                p.dpcs.to_string(),
                p.indications.to_string(),
                p.frames.to_string(),
            ]);
        }
        table(out, &rows);
    }

    fn text_verdict(&self, out: &mut String) {
        let _ = writeln!(out);
        if self.violations.is_empty() {
            let _ = writeln!(out, "contract violations: none");
        } else {
            let _ = writeln!(out, "contract violations: {}", self.violations.len());
            for v in &self.violations {
                let _ = writeln!(out, "  {}: {}", v.rule, v.detail);
            }
        }
        for line in self.leaks.iter().chain(&self.problems) {
            let _ = writeln!(out, "  {line}");
        }
        let t = &self.traffic;
        let mismatched: u64 = self.queues.iter().map(|q| q.mismatched_processor_events).sum();
        let summary = format!(
            "{} frames sent in {} wave(s), {} delivered to the right queue, {} lost, \
             {mismatched} processor mismatches, {} violations, {} leaks ({:.1} s)",
            t.sent,
            t.waves,
            t.delivered,
            t.lost,
            self.violations.len(),
            self.leaks.len(),
            self.seconds.total
        );
        if self.passed {
            let _ = writeln!(out, "PASS: {summary}");
        } else {
            let _ = writeln!(out, "FAIL: {summary}");
            for line in self.verdict() {
                let _ = writeln!(out, "  - {line}");
            }
        }
    }
}

/// Writes one line for a run of messages (`first..last -> processors`) and empties `run`.
fn flush_messages(out: &mut String, run: &mut Vec<(u32, String)>, role: &str) {
    let (Some(first), Some(last)) = (run.first(), run.last()) else { return };
    let which = if run.len() == 1 {
        format!("message {}", first.0)
    } else {
        format!("messages {}..{}", first.0, last.0)
    };
    let processors: Vec<String> = run.iter().map(|(_, p)| p.clone()).collect();
    let role = if role.is_empty() { String::new() } else { format!("  ({role})") };
    let _ = writeln!(out, "    {which:<18} -> {}{role}", compress(&processors));
    run.clear();
}

/// `"g:n"` processors with consecutive runs in one group written as `g:a..g:b`.
fn compress(processors: &[String]) -> String {
    let parsed: Vec<Option<(u32, u32)>> = processors
        .iter()
        .map(|p| {
            let (g, n) = p.split_once(':')?;
            Some((g.parse().ok()?, n.parse().ok()?))
        })
        .collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < processors.len() {
        let mut j = i;
        while let (Some(Some((g, n))), Some(Some((g2, n2)))) = (parsed.get(j), parsed.get(j + 1)) {
            if g == g2 && n + 1 == *n2 {
                j += 1;
            } else {
                break;
            }
        }
        if j >= i + 2 {
            parts.push(format!("{}..{}", processors[i], processors[j]));
        } else {
            parts.extend(processors[i..=j].iter().cloned());
        }
        i = j + 1;
    }
    parts.join(" ")
}

/// Writes `rows` (the first is the header) as left-aligned columns.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let cells: Vec<String> =
            row.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
}
