//! One run of a scenario: QEMU's 82576 under the simulated ndis.sys, vmqnic loaded and started
//! with the scenario's grant, a queue per VM (ALLOCATE_QUEUE, SET_FILTER,
//! QUEUE_ALLOCATION_COMPLETE), the traffic in waves, then the teardown (CLEAR_FILTER,
//! FREE_QUEUE, Pause, Halt, RemoveDevice, Unload) and the simulator's verdict.

use std::collections::BTreeMap;
use std::fmt;
use std::mem::offset_of;
use std::time::{Duration, Instant};

use ndis_sim::qemu::regs;
use ndis_sim::sim::{
    Delivery, GrantKind, GrantedInterrupts, OidCompletion, OidOutcome, OidRequest,
    ReceiveIndicationRecord, Sim, SimError,
};
use ndis_sim::vmq_requests::{self, FilterField};
use vmqnic::interrupt::Processor;
use vmqnic::interrupt::requirements::{AlternativeKind, RequirementsList};
use vmqnic::miniport::driver::driver_entry;
use vmqnic::ndis::{
    NDIS_PACKET_TYPE_BROADCAST, NDIS_PACKET_TYPE_DIRECTED, NDIS_PACKET_TYPE_MULTICAST,
    NDIS_RECEIVE_FILTER_CAPABILITIES, NDIS_RECEIVE_QUEUE_PARAMETERS, NDIS_STATUS,
    NDIS_STATUS_FAILURE, NDIS_STATUS_INVALID_LENGTH, NDIS_STATUS_INVALID_PARAMETER,
    NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS,
    OID_GEN_CURRENT_PACKET_FILTER,
};

use super::report::{
    DefaultQueue, Granted, GrantedTarget, Host, Interrupt, ProcessorActivity, QueueReport, Report,
    Requested, Timings, TrafficReport, ViolationReport, VmReport, Vmq,
};
use super::scenario::{Scenario, Vm, format_mac};

/// Frames injected per wave and per queue: a quarter of a receive ring, so QEMU never drops.
pub const WAVE: usize = 64;
/// The peer on the wire (source address of every injected frame).
const PEER: [u8; 6] = [0x02, 0x50, 0x45, 0x45, 0x52, 0x01];
/// IEEE 802 local experimental EtherType: the frames' payload starts with their number.
const ETHERTYPE: [u8; 2] = [0x88, 0xB5];
/// What a protocol (the Hyper-V switch) asks for.
const PACKET_FILTER: u32 =
    NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_MULTICAST;
const LINK_TIMEOUT: Duration = Duration::from_secs(5);
const OID_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait for one wave.
const WAVE_TIMEOUT: Duration = Duration::from_secs(10);
/// A wave whose frames stop coming for this long is given up on (the rest count as lost).
const QUIET: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(20);

/// Why a run stopped before it could report (QEMU missing, the driver failed to start, …).
#[derive(Debug)]
pub struct RunError(pub String);

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

fn failed(what: &'static str) -> impl Fn(SimError) -> RunError {
    move |e| RunError(format!("{what}: {e}"))
}

/// The name of an NDIS status, for the report.
#[must_use]
pub fn status_name(status: NDIS_STATUS) -> String {
    let name = match status {
        NDIS_STATUS_SUCCESS => "NDIS_STATUS_SUCCESS",
        NDIS_STATUS_RESOURCES => "NDIS_STATUS_RESOURCES",
        NDIS_STATUS_NOT_SUPPORTED => "NDIS_STATUS_NOT_SUPPORTED",
        NDIS_STATUS_INVALID_PARAMETER => "NDIS_STATUS_INVALID_PARAMETER",
        NDIS_STATUS_INVALID_LENGTH => "NDIS_STATUS_INVALID_LENGTH",
        NDIS_STATUS_FAILURE => "NDIS_STATUS_FAILURE",
        other => return format!("NDIS status {:#010x}", other.cast_unsigned()),
    };
    name.to_owned()
}

/// Where a VM's queue ended up.
#[derive(Clone, Copy, Debug)]
struct Placement {
    queue_id: u32,
    table_entry: u32,
    message: Option<u32>,
    /// The processor the queue's message targets (where its interrupt is delivered).
    served: Option<Processor>,
    pool: Option<u8>,
}

/// A filter on the default queue for a VM without a queue (what the Hyper-V switch does).
#[derive(Clone, Debug)]
struct DefaultFilter {
    id: u32,
    /// `Err(status)` when SET_FILTER was refused.
    outcome: Result<(), String>,
}

/// The queues and filters set up for the VMs, in VM order.
struct Setup {
    /// A VM queue, or why there is none.
    placements: Vec<Result<Placement, String>>,
    /// For a VM without a queue: its filter on the default queue.
    default_filters: Vec<Option<DefaultFilter>>,
}

/// One frame sent, as it must come back.
struct SentFrame {
    /// The untagged bytes (what an indication carries once the tag is stripped).
    untagged: Vec<u8>,
    /// The bytes on the wire.
    wire: Vec<u8>,
    vlan: Option<u16>,
    /// The queue that must indicate it.
    queue: u16,
    /// The VM it is for (`None`: unknown unicast or broadcast).
    vm: Option<usize>,
}

/// Runs `scenario`, reporting progress through `progress` (one line each).
///
/// # Errors
/// The simulator or QEMU cannot start, or the driver does not start or bring the link up.
/// Everything after that (refused queues, lost frames, violations) is in the report.
pub fn run(scenario: &Scenario, progress: &mut dyn FnMut(&str)) -> Result<Report, RunError> {
    let started = Instant::now();
    let (mut sim, grant, mut deliveries) = start(scenario, progress)?;
    let start_seconds = started.elapsed().as_secs_f64();

    let bring_up_started = Instant::now();
    let queues_offered = current_queue_count(&sim);
    let mut problems = Vec::new();
    let placements = allocate_queues(&mut sim, &scenario.vms, &grant, &mut problems, progress)?;
    let default_filters = default_queue_filters(&mut sim, &scenario.vms, &placements, progress)?;
    let setup = Setup { placements, default_filters };
    let bring_up_seconds = bring_up_started.elapsed().as_secs_f64();

    let traffic_started = Instant::now();
    let adapter_mac = sim.qemu().map_or([0; 6], |q| q.mac().0);
    let frames = frames(scenario, &setup.placements, adapter_mac);
    let first_indication = sim.receive_indications().len();
    let link_up_deliveries = deliveries.len();
    let waves = inject(&sim, &frames, &mut deliveries, progress)?;
    let records: Vec<ReceiveIndicationRecord> =
        sim.receive_indications().split_off(first_indication);
    let traffic_seconds = traffic_started.elapsed().as_secs_f64();

    let teardown_started = Instant::now();
    progress("tearing down: CLEAR_FILTER and FREE_QUEUE, then Pause, HaltEx, RemoveDevice, Unload");
    tear_down(&mut sim, &setup, &mut problems)?;
    let leaks = leaks(&sim);
    let violations: Vec<ViolationReport> = sim
        .violations()
        .into_iter()
        .map(|v| ViolationReport { rule: v.rule.to_owned(), detail: v.detail })
        .collect();
    let teardown_seconds = teardown_started.elapsed().as_secs_f64();

    let mut report = Report {
        scenario: scenario.source.clone(),
        host: host(scenario, adapter_mac),
        interrupt: Interrupt {
            requested: requested_messages(&grant.requirements),
            granted: granted(&grant),
        },
        vmq: Vmq { enabled: queues_offered > 0, queues_offered },
        vms: Vec::new(),
        queues: Vec::new(),
        default_queue: DefaultQueue::default(),
        processors: Vec::new(),
        traffic: TrafficReport { waves, ..TrafficReport::default() },
        violations,
        leaks,
        problems,
        seconds: Timings {
            start: start_seconds,
            bring_up: bring_up_seconds,
            traffic: traffic_seconds,
            teardown: teardown_seconds,
            total: started.elapsed().as_secs_f64(),
        },
        passed: false,
    };
    let observed = Observed {
        records: &records,
        deliveries: &deliveries,
        traffic_deliveries: &deliveries[link_up_deliveries..],
    };
    account(&mut report, scenario, &setup, &frames, &observed);
    report.passed = report.verdict().is_empty();
    Ok(report)
}

/// Starts the simulation and the adapter, waits for the link, sets the packet filter.
fn start(
    scenario: &Scenario,
    progress: &mut dyn FnMut(&str),
) -> Result<(Sim, GrantedInterrupts, Vec<Delivery>), RunError> {
    let processors = scenario.processors().len();
    progress(&format!(
        "starting QEMU's 82576 under the simulated ndis.sys: {processors} processors in {} \
         group(s) {:?}",
        scenario.groups.len(),
        scenario.groups
    ));
    let mut sim = Sim::try_start(scenario.sim_config()).map_err(failed("starting QEMU"))?;
    progress("loading vmqnic: DriverEntry, NdisMRegisterMiniportDriver");
    sim.load_driver(driver_entry).map_err(failed("DriverEntry"))?;
    progress(&format!(
        "PnP start with grant \"{}\": AddDevice, FilterResourceRequirements, InitializeEx, \
         Restart",
        scenario.grant
    ));
    let grant =
        sim.start_device(scenario.grant.policy()).map_err(failed("starting the adapter"))?;
    progress(&format!(
        "granted {}; waiting for the link (QEMU's auto-negotiation)",
        describe_grant(&grant)
    ));
    let mut deliveries = Vec::new();
    let deadline = Instant::now() + LINK_TIMEOUT;
    while !sim.link_up_indicated() && Instant::now() < deadline {
        deliveries.extend(sim.deliver_interrupts(POLL).map_err(failed("interrupt delivery"))?);
    }
    if !sim.link_up_indicated() {
        return Err(RunError(format!(
            "the driver did not indicate link up within {} s",
            LINK_TIMEOUT.as_secs()
        )));
    }
    let done = request(
        &mut sim,
        &OidRequest::set(OID_GEN_CURRENT_PACKET_FILTER, &{ PACKET_FILTER.to_le_bytes() }),
    )?;
    if done.status != NDIS_STATUS_SUCCESS {
        return Err(RunError(format!(
            "OID_GEN_CURRENT_PACKET_FILTER failed: {}",
            status_name(done.status)
        )));
    }
    progress("link up; packet filter set (directed, broadcast, multicast)");
    Ok((sim, grant, deliveries))
}

fn describe_grant(grant: &GrantedInterrupts) -> String {
    match grant.kind {
        GrantKind::MsiX => format!("{} MSI-X message(s)", grant.messages.len()),
        GrantKind::Msi => "one MSI message".to_owned(),
        GrantKind::Line => "a line-based interrupt".to_owned(),
    }
}

/// Issues an OID and waits for its completion.
fn request(sim: &mut Sim, oid: &OidRequest) -> Result<OidCompletion, RunError> {
    match sim.oid_request(oid).map_err(failed("OID request"))? {
        OidOutcome::Completed(done) => Ok(done),
        OidOutcome::Pending(id) => sim.wait_oid(id, OID_TIMEOUT).map_err(failed("OID completion")),
    }
}

/// `NumQueues` of the current receive-filter capabilities (0 when they carry only a header:
/// VMQ off).
fn current_queue_count(sim: &Sim) -> u32 {
    let at = offset_of!(NDIS_RECEIVE_FILTER_CAPABILITIES, NumQueues);
    sim.receive_filter_capabilities()
        .1
        .and_then(|c| c.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes))
        .unwrap_or(0)
}

fn filter_fields(vm: &Vm) -> Vec<FilterField> {
    match vm.vlan {
        Some(vlan) => vec![
            FilterField::Mac { address: vm.mac, untagged_or_zero: false },
            FilterField::Vlan(vlan),
        ],
        None => vec![FilterField::Mac { address: vm.mac, untagged_or_zero: true }],
    }
}

/// ALLOCATE_QUEUE and SET_FILTER for each VM, then one QUEUE_ALLOCATION_COMPLETE. A VM whose
/// queue is refused falls back to the default queue (`Err(reason)`).
fn allocate_queues(
    sim: &mut Sim,
    vms: &[Vm],
    grant: &GrantedInterrupts,
    problems: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Result<Placement, String>>, RunError> {
    let mut placements = Vec::new();
    for (index, vm) in vms.iter().enumerate() {
        let queue_id = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let placement = allocate_one(sim, vm, queue_id, problems)?;
        match &placement {
            Ok(_) => progress(&format!(
                "VM {}: queue {queue_id} allocated on {} with its filter ({}{})",
                vm.name,
                vm.processor,
                format_mac(vm.mac),
                vm.vlan.map(|v| format!(", VLAN {v}")).unwrap_or_default()
            )),
            Err(reason) => progress(&format!("VM {}: no queue ({reason}); default queue", vm.name)),
        }
        placements.push(placement);
    }
    let ids: Vec<u32> = placements.iter().flatten().map(|p| p.queue_id).collect();
    if !ids.is_empty() {
        let done = request(sim, &vmq_requests::allocation_complete(&ids))?;
        for (index, id) in ids.iter().enumerate() {
            let status = if done.status == NDIS_STATUS_SUCCESS {
                vmq_requests::completion_status(&done.buffer, index)
            } else {
                Some(done.status)
            };
            if status != Some(NDIS_STATUS_SUCCESS) {
                let status = status.map_or_else(|| "no status".to_owned(), status_name);
                problems.push(format!("QUEUE_ALLOCATION_COMPLETE for queue {id}: {status}"));
            }
        }
        progress(&format!("QUEUE_ALLOCATION_COMPLETE for queue(s) {ids:?}"));
    }
    // Where each queue's interrupt goes, once every queue is bound.
    let table = sim.msix_table();
    for placement in placements.iter_mut().flatten() {
        let entry = usize::try_from(placement.table_entry).ok();
        placement.message = entry.and_then(|e| table.get(e)).and_then(|e| e.message);
        placement.served = placement
            .message
            .and_then(|m| grant.messages.iter().find(|g| g.number == m))
            .map(|g| g.target);
    }
    for (vm, placement) in vms.iter().zip(placements.iter_mut()) {
        if let Ok(placement) = placement {
            placement.pool = pool_of(sim, vm.mac);
        }
    }
    Ok(placements)
}

/// SET_FILTER on the default queue for each VM without a queue, with the VM's MAC (and VLAN):
/// what the Hyper-V switch does for a vNIC without a VMQ queue. A VLAN passes the 82576's VLAN
/// table only through a filter, so without it a VLAN VM's frames would be dropped.
fn default_queue_filters(
    sim: &mut Sim,
    vms: &[Vm],
    placements: &[Result<Placement, String>],
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Option<DefaultFilter>>, RunError> {
    let mut filters = Vec::new();
    for (index, (vm, placement)) in vms.iter().zip(placements).enumerate() {
        if placement.is_ok() {
            filters.push(None);
            continue;
        }
        // Filter ids 1..=7 are the VM queues'.
        let id = u32::try_from(index + 1 + super::scenario::VM_POOLS).unwrap_or(u32::MAX);
        let done = request(sim, &vmq_requests::set_filter(0, id, &filter_fields(vm)))?;
        let outcome = if done.status == NDIS_STATUS_SUCCESS {
            progress(&format!("VM {}: filter {id} set on the default queue", vm.name));
            Ok(())
        } else {
            progress(&format!(
                "VM {}: SET_FILTER on the default queue refused: {}",
                vm.name,
                status_name(done.status)
            ));
            Err(status_name(done.status))
        };
        filters.push(Some(DefaultFilter { id, outcome }));
    }
    Ok(filters)
}

fn allocate_one(
    sim: &mut Sim,
    vm: &Vm,
    queue_id: u32,
    problems: &mut Vec<String>,
) -> Result<Result<Placement, String>, RunError> {
    let mask = vm.processor.affinity_mask();
    let done = request(sim, &vmq_requests::allocate_queue(queue_id, vm.processor.group, mask))?;
    if done.status != NDIS_STATUS_SUCCESS {
        return Ok(Err(format!("ALLOCATE_QUEUE refused: {}", status_name(done.status))));
    }
    let at = offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, MSIXTableEntry);
    let table_entry = done
        .buffer
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(u32::MAX, u32::from_le_bytes);
    let filter = request(sim, &vmq_requests::set_filter(queue_id, queue_id, &filter_fields(vm)))?;
    if filter.status != NDIS_STATUS_SUCCESS {
        let free = request(sim, &vmq_requests::free_queue(queue_id))?;
        if free.status != NDIS_STATUS_SUCCESS {
            problems.push(format!(
                "FREE_QUEUE of queue {queue_id} after its refused filter: {}",
                status_name(free.status)
            ));
        }
        return Ok(Err(format!("SET_FILTER refused: {}", status_name(filter.status))));
    }
    Ok(Ok(Placement { queue_id, table_entry, message: None, served: None, pool: None }))
}

/// The VM pool whose RAR holds `mac` (read from the device: RAH.POOLSEL).
fn pool_of(sim: &Sim, mac: [u8; 6]) -> Option<u8> {
    let igb = sim.igb()?;
    for n in 0..24 {
        let low = igb.reg_read(regs::RAL(n)).ok()?;
        let high = igb.reg_read(regs::RAH(n)).ok()?;
        let mut address = [0u8; 6];
        address[..4].copy_from_slice(&low.to_le_bytes());
        address[4..].copy_from_slice(&high.to_le_bytes()[..2]);
        if high & regs::RAH_AV != 0 && address == mac {
            let pools = (high >> regs::RAH_POOL_SHIFT) & 0xFF;
            return u8::try_from(pools.trailing_zeros()).ok().filter(|_| pools != 0);
        }
    }
    None
}

/// Frame number `seq` to `destination`: a header, the number, and a length between 60 and
/// 1514 bytes that varies with it.
fn frame(destination: [u8; 6], seq: u32) -> Vec<u8> {
    let n = usize::try_from(seq).unwrap_or(0);
    let length = 60 + (n * 97) % (1514 - 60);
    let mut f = Vec::with_capacity(length);
    f.extend_from_slice(&destination);
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&ETHERTYPE);
    f.extend_from_slice(&seq.to_be_bytes());
    while f.len() < length {
        f.push(u8::try_from((f.len() + n) % 251).unwrap_or(0));
    }
    f
}

fn tagged(untagged: &[u8], vlan: u16) -> Vec<u8> {
    let tci = vlan.to_be_bytes();
    [&untagged[..12], &[0x81, 0x00, tci[0], tci[1]], &untagged[12..]].concat()
}

/// Unicast addresses no filter knows (neither a VM's nor the adapter's).
fn unknown_addresses(vms: &[Vm], adapter: [u8; 6]) -> Vec<[u8; 6]> {
    (0u8..=255)
        .map(|n| [0x02, 0x55, 0x4E, 0x4B, 0x4E, n])
        .filter(|a| *a != adapter && vms.iter().all(|vm| vm.mac != *a))
        .take(8)
        .collect()
}

/// The frames of one destination.
struct Stream {
    /// `None`: unknown unicast (addresses no filter knows, in turn).
    destination: Option<[u8; 6]>,
    vlan: Option<u16>,
    queue: u16,
    count: u32,
    vm: Option<usize>,
}

/// Every frame of the scenario, the streams (each VM, unknown unicast, broadcast) interleaved
/// round-robin and numbered in that order.
fn frames(
    scenario: &Scenario,
    placements: &[Result<Placement, String>],
    adapter: [u8; 6],
) -> Vec<SentFrame> {
    let traffic = scenario.traffic;
    let unknown = unknown_addresses(&scenario.vms, adapter);
    let mut streams: Vec<Stream> = Vec::new();
    for (index, (vm, placement)) in scenario.vms.iter().zip(placements).enumerate() {
        let queue = placement.as_ref().map_or(0, |p| u16::try_from(p.queue_id).unwrap_or(0));
        streams.push(Stream {
            destination: Some(vm.mac),
            vlan: vm.vlan,
            queue,
            count: traffic.frames_per_vm,
            vm: Some(index),
        });
    }
    let untagged =
        |destination, count| Stream { destination, vlan: None, queue: 0, count, vm: None };
    streams.push(untagged(None, traffic.unknown_unicast));
    streams.push(untagged(Some([0xFF; 6]), traffic.broadcast));
    let longest = streams.iter().map(|s| s.count).max().unwrap_or(0);
    let mut frames = Vec::new();
    let mut seq = 0u32;
    for n in 0..longest {
        for stream in streams.iter().filter(|s| n < s.count) {
            let destination = stream
                .destination
                .unwrap_or_else(|| unknown[usize::try_from(n).unwrap_or(0) % unknown.len().max(1)]);
            let untagged = frame(destination, seq);
            let wire = stream.vlan.map_or_else(|| untagged.clone(), |v| tagged(&untagged, v));
            frames.push(SentFrame {
                untagged,
                wire,
                vlan: stream.vlan,
                queue: stream.queue,
                vm: stream.vm,
            });
            seq += 1;
        }
    }
    frames
}

/// Cuts `frames` into waves with at most [`WAVE`] frames for each queue.
fn waves(frames: &[SentFrame]) -> Vec<std::ops::Range<usize>> {
    let mut waves = Vec::new();
    let mut start = 0;
    let mut per_queue: BTreeMap<u16, usize> = BTreeMap::new();
    for (index, frame) in frames.iter().enumerate() {
        let count = per_queue.entry(frame.queue).or_default();
        if *count == WAVE {
            waves.push(start..index);
            start = index;
            per_queue.clear();
            per_queue.insert(frame.queue, 1);
        } else {
            *count += 1;
        }
    }
    if start < frames.len() {
        waves.push(start..frames.len());
    }
    waves
}

fn indicated_nbls(sim: &Sim) -> usize {
    sim.receive_indications().iter().map(|r| r.nbls.len()).sum()
}

/// Sends the frames wave by wave, delivering interrupts until each wave is indicated: until
/// the NBLs indicated since the first wave reach the frames sent so far (less those given up
/// on), or nothing new was indicated for [`QUIET`], or [`WAVE_TIMEOUT`] passed. Returns the
/// number of waves.
fn inject(
    sim: &Sim,
    frames: &[SentFrame],
    deliveries: &mut Vec<Delivery>,
    progress: &mut dyn FnMut(&str),
) -> Result<usize, RunError> {
    let waves = waves(frames);
    let before = indicated_nbls(sim);
    let step = waves.len().div_ceil(10).max(1);
    let mut missing = 0;
    progress(&format!("sending {} frames in {} wave(s)", frames.len(), waves.len()));
    for (number, wave) in waves.iter().enumerate() {
        let refs: Vec<&[u8]> = frames[wave.clone()].iter().map(|f| f.wire.as_slice()).collect();
        sim.send_frames(&refs).map_err(failed("injecting frames"))?;
        let target = before + wave.end - missing;
        let started = Instant::now();
        let mut last_news = started;
        let mut indicated = indicated_nbls(sim);
        while indicated < target && last_news.elapsed() < QUIET && started.elapsed() < WAVE_TIMEOUT
        {
            deliveries.extend(sim.deliver_interrupts(POLL).map_err(failed("interrupt delivery"))?);
            let now = indicated_nbls(sim);
            if now > indicated {
                last_news = Instant::now();
            }
            indicated = now;
        }
        if indicated < target {
            missing += target - indicated;
            progress(&format!(
                "wave {}/{}: {} frame(s) still not indicated after {:.1} s; going on",
                number + 1,
                waves.len(),
                target - indicated,
                started.elapsed().as_secs_f64()
            ));
        } else if (number + 1) % step == 0 || number + 1 == waves.len() {
            progress(&format!(
                "wave {}/{}: {} of {} frames indicated",
                number + 1,
                waves.len(),
                indicated - before,
                frames.len()
            ));
        }
    }
    if missing > 0 {
        // Late frames of a wave given up on still count; wait for them once more.
        let mut last_news = Instant::now();
        let mut indicated = indicated_nbls(sim);
        while indicated < before + frames.len() && last_news.elapsed() < QUIET {
            deliveries.extend(sim.deliver_interrupts(POLL).map_err(failed("interrupt delivery"))?);
            let now = indicated_nbls(sim);
            if now > indicated {
                last_news = Instant::now();
            }
            indicated = now;
        }
        progress(&format!("{} of {} frames indicated in all", indicated - before, frames.len()));
    }
    Ok(waves.len())
}

/// CLEAR_FILTER and FREE_QUEUE for every queue, CLEAR_FILTER for the default queue's filters,
/// then Pause, HaltEx, RemoveDevice and Unload.
fn tear_down(sim: &mut Sim, setup: &Setup, problems: &mut Vec<String>) -> Result<(), RunError> {
    let mut requests = Vec::new();
    for placement in setup.placements.iter().flatten() {
        let id = placement.queue_id;
        requests
            .push((format!("CLEAR_FILTER {id} of queue {id}"), vmq_requests::clear_filter(id, id)));
        requests.push((format!("FREE_QUEUE of queue {id}"), vmq_requests::free_queue(id)));
    }
    for filter in setup.default_filters.iter().flatten().filter(|f| f.outcome.is_ok()) {
        let id = filter.id;
        requests.push((
            format!("CLEAR_FILTER {id} of the default queue"),
            vmq_requests::clear_filter(0, id),
        ));
    }
    for (what, oid) in requests {
        let done = request(sim, &oid)?;
        if done.status != NDIS_STATUS_SUCCESS {
            problems.push(format!("{what}: {}", status_name(done.status)));
        }
    }
    if let Err(e) = sim.stop_device() {
        problems.push(format!("stopping the device: {e}"));
    } else if let Err(e) = sim.unload_driver() {
        problems.push(format!("unloading the driver: {e}"));
    }
    Ok(())
}

/// What the driver left behind after Unload.
fn leaks(sim: &Sim) -> Vec<String> {
    let mut leaks = Vec::new();
    let allocations = sim.driver_allocations();
    if !allocations.is_empty() {
        leaks.push(format!("{} pool allocation(s) not freed", allocations.len()));
    }
    let (pools, nbls, mdls) = sim.net_buffer_objects();
    if (pools, nbls, mdls) != (0, 0, 0) {
        leaks.push(format!("{pools} NBL pool(s), {nbls} NBL(s), {mdls} MDL(s) not freed"));
    }
    let shared = sim.shared_memory().len() + sim.miniport_shared_memory().len();
    if shared > 0 {
        leaks.push(format!("{shared} shared-memory block(s) not freed"));
    }
    leaks
}

fn host(scenario: &Scenario, adapter_mac: [u8; 6]) -> Host {
    Host {
        groups: scenario.groups.clone(),
        processors: scenario.processors().len(),
        rss: scenario.rss_processors().iter().map(ToString::to_string).collect(),
        rss_all: scenario.rss.is_none(),
        grant: scenario.grant.to_string(),
        adapter_mac: format_mac(adapter_mac),
    }
}

/// The messages of the filtered requirements list's first MSI-X alternative: message 0 (no
/// processor of its own) serves other causes, each message bound to one processor receives.
fn requested_messages(requirements: &[u8]) -> Vec<Requested> {
    let Ok(list) = RequirementsList::parse(requirements) else { return Vec::new() };
    let Some(alternative) = (0..list.alternative_count())
        .find(|&i| matches!(list.kind(i), AlternativeKind::MsiX { .. }))
    else {
        return Vec::new();
    };
    list.descriptors(alternative)
        .filter(|d| d.is_message_interrupt())
        .enumerate()
        .map(|(message, d)| {
            let processor = d.specified_processor();
            Requested {
                message: u32::try_from(message).unwrap_or(u32::MAX),
                group: processor.map(|p| p.group),
                processor: processor.map(|p| p.number),
                role: if processor.is_some() { "rx" } else { "other" },
            }
        })
        .collect()
}

fn granted(grant: &GrantedInterrupts) -> Granted {
    let (kind, targets) = match grant.kind {
        GrantKind::MsiX | GrantKind::Msi => (
            if grant.kind == GrantKind::MsiX { "msix" } else { "msi" },
            grant
                .messages
                .iter()
                .map(|m| GrantedTarget {
                    message: Some(m.number),
                    group: m.target.group,
                    processor: m.target.number,
                    affinity: format!("{:#x}", m.affinity),
                })
                .collect(),
        ),
        GrantKind::Line => (
            "line",
            grant
                .line
                .iter()
                .map(|l| GrantedTarget {
                    message: None,
                    group: l.target.group,
                    processor: l.target.number,
                    affinity: format!("{:#x}", l.affinity),
                })
                .collect(),
        ),
    };
    Granted { kind, messages: grant.messages.len(), table_size: grant.table_size, targets }
}

/// A frame as indicated: its number, its untagged bytes and its VLAN (stripped into the NBL's
/// 802.1Q info, or still in the frame).
fn decode(bytes: &[u8], ieee8021q: Option<(u16, u8)>) -> Option<(u32, Vec<u8>, Option<u16>)> {
    let (untagged, vlan) = if bytes.get(12..14) == Some(&[0x81, 0x00]) {
        let tci = u16::from_be_bytes(bytes.get(14..16)?.try_into().ok()?);
        ([&bytes[..12], &bytes[16..]].concat(), Some(tci & 0x0FFF))
    } else {
        (bytes.to_vec(), ieee8021q.map(|(vlan, _)| vlan))
    };
    if untagged.get(12..14) != Some(&ETHERTYPE[..]) {
        return None;
    }
    let seq = u32::from_be_bytes(untagged.get(14..18)?.try_into().ok()?);
    Some((seq, untagged, vlan))
}

/// Per processor: (ISRs, DPCs, indications, frames).
type Activity = BTreeMap<Processor, (u64, u64, u64, u64)>;

/// What the simulator recorded.
struct Observed<'a> {
    /// The receive indications of the traffic.
    records: &'a [ReceiveIndicationRecord],
    /// Every interrupt delivered while waiting for the link and for the traffic.
    deliveries: &'a [Delivery],
    /// Those delivered while waiting for the traffic.
    traffic_deliveries: &'a [Delivery],
}

/// What came back: NBLs per queue id, and which frames (by number) were indicated.
struct Seen<'a> {
    per_queue: &'a BTreeMap<u16, u64>,
    frames: &'a [bool],
}

/// Fills the report's VMs, queues, default queue, processors and traffic from what was sent,
/// indicated and delivered.
fn account(
    report: &mut Report,
    scenario: &Scenario,
    setup: &Setup,
    frames: &[SentFrame],
    observed: &Observed<'_>,
) {
    let mut activity: Activity = BTreeMap::new();
    for delivery in observed.deliveries {
        activity.entry(delivery.isr.processor).or_default().0 += 1;
        for dpc in &delivery.dpcs {
            activity.entry(dpc.processor).or_default().1 += 1;
        }
    }
    let mut per_queue: BTreeMap<u16, u64> = BTreeMap::new();
    let mut seen = vec![false; frames.len()];
    let traffic = &mut report.traffic;
    traffic.sent = frames.len() as u64;
    for record in observed.records {
        let slot = activity.entry(record.processor).or_default();
        slot.2 += 1;
        slot.3 += record.nbls.len() as u64;
        for nbl in &record.nbls {
            traffic.indicated += 1;
            *per_queue.entry(nbl.queue_id).or_default() += 1;
            let Some((seq, untagged, vlan)) = decode(nbl.bytes(), nbl.ieee8021q) else {
                traffic.unexpected += 1;
                continue;
            };
            let index = usize::try_from(seq).unwrap_or(usize::MAX);
            let Some(sent) = frames.get(index) else {
                traffic.unexpected += 1;
                continue;
            };
            if std::mem::replace(&mut seen[index], true) {
                traffic.duplicated += 1;
            } else if nbl.queue_id != sent.queue {
                traffic.misrouted += 1;
            } else if untagged != sent.untagged || vlan != sent.vlan {
                traffic.corrupted += 1;
            } else {
                traffic.delivered += 1;
            }
        }
    }
    traffic.lost = seen.iter().filter(|s| !**s).count() as u64;
    report.processors = activity
        .iter()
        .map(|(p, &(isrs, dpcs, indications, frames))| ProcessorActivity {
            group: p.group,
            processor: p.number,
            isrs,
            dpcs,
            indications,
            frames,
        })
        .collect();
    let seen = Seen { per_queue: &per_queue, frames: &seen };
    account_vms(report, scenario, setup, frames, observed, &seen);
}

fn account_vms(
    report: &mut Report,
    scenario: &Scenario,
    setup: &Setup,
    frames: &[SentFrame],
    observed: &Observed<'_>,
    seen: &Seen<'_>,
) {
    let records = observed.records;
    let (per_queue, seen) = (seen.per_queue, seen.frames);
    let per_vm = u64::from(scenario.traffic.frames_per_vm);
    let vms = scenario.vms.iter().zip(&setup.placements).zip(&setup.default_filters);
    for (index, ((vm, placement), default_filter)) in vms.enumerate() {
        let lost =
            frames.iter().zip(seen).filter(|(f, seen)| f.vm == Some(index) && !**seen).count()
                as u64;
        report.vms.push(VmReport {
            name: vm.name.clone(),
            mac: format_mac(vm.mac),
            vlan: vm.vlan,
            group: vm.processor.group,
            processor: vm.processor.number,
            queue_id: placement.as_ref().ok().map(|p| p.queue_id),
            placement: if placement.is_ok() { "queue" } else { "default queue" },
            reason: placement.as_ref().err().cloned(),
            default_queue_filter: default_filter.as_ref().map(|f| match &f.outcome {
                Ok(()) => format!("filter {} set", f.id),
                Err(status) => format!("SET_FILTER refused: {status}"),
            }),
            frames_sent: per_vm,
            frames_lost: lost,
        });
        let Ok(placement) = placement else {
            report.default_queue.fallback_vms.push(vm.name.clone());
            continue;
        };
        let queue = u16::try_from(placement.queue_id).unwrap_or(u16::MAX);
        let served = placement.served.unwrap_or(vm.processor);
        let (isrs, dpcs, indications, mismatched) =
            queue_events(queue, placement.message, served, records, observed.traffic_deliveries);
        report.queues.push(QueueReport {
            vm: vm.name.clone(),
            queue_id: placement.queue_id,
            pool: placement.pool,
            group: served.group,
            processor: served.number,
            requested_group: vm.processor.group,
            requested_processor: vm.processor.number,
            best_effort: served != vm.processor,
            table_entry: placement.table_entry,
            message: placement.message,
            frames: per_queue.get(&queue).copied().unwrap_or(0),
            expected_frames: frames.iter().filter(|f| f.queue == queue).count() as u64,
            isrs,
            dpcs,
            indications,
            mismatched_processor_events: mismatched,
        });
    }
    let default = &mut report.default_queue;
    default.frames = per_queue.get(&0).copied().unwrap_or(0);
    default.expected_frames = frames.iter().filter(|f| f.queue == 0).count() as u64;
    default.unknown_unicast = u64::from(scenario.traffic.unknown_unicast);
    default.broadcast = u64::from(scenario.traffic.broadcast);
    let mut processors: Vec<Processor> = records
        .iter()
        .filter(|r| r.nbls.iter().any(|n| n.queue_id == 0))
        .map(|r| r.processor)
        .collect();
    processors.sort_unstable();
    processors.dedup();
    default.processors = processors.iter().map(ToString::to_string).collect();
}

/// A queue's ISRs and DPCs (those of its message), its indications, and how many of them did
/// not run on `processor`.
fn queue_events(
    queue: u16,
    message: Option<u32>,
    processor: Processor,
    records: &[ReceiveIndicationRecord],
    deliveries: &[Delivery],
) -> (u64, u64, u64, u64) {
    let (mut isrs, mut dpcs, mut indications, mut mismatched) = (0, 0, 0, 0);
    for delivery in deliveries.iter().filter(|d| message.is_some() && d.message == message) {
        isrs += 1;
        mismatched += u64::from(delivery.isr.processor != processor);
        for dpc in delivery.dpcs.iter().filter(|d| Some(d.message) == message) {
            dpcs += 1;
            mismatched += u64::from(dpc.processor != processor);
        }
    }
    for record in records.iter().filter(|r| r.nbls.iter().any(|n| n.queue_id == queue)) {
        indications += 1;
        mismatched += u64::from(record.processor != processor);
    }
    (isrs, dpcs, indications, mismatched)
}
