//! The VMQ OIDs as a property (issue [5/8]): random sequences of queue and filter OIDs, valid
//! and invalid, sent to the real driver on QEMU's 82576 under the simulated NDIS, and the same
//! bytes given to the pure model the driver is built on.
//!
//! A case is up to 36 steps on a fresh adapter (4 processors in groups [2, 2], every MSI-X
//! message granted): ALLOCATE_QUEUE (queue ids 0..=5, one of the 4 processors or a zero mask),
//! SET_FILTER (filter ids 0..=8; a MAC of three VMs, the adapter's own or a multicast one, or
//! none; VLAN 100, 200, 0, 4095 or none; the untagged flag mostly as the Hyper-V switch sets
//! it), QUEUE_ALLOCATION_COMPLETE (0 to 3 ids, duplicates included), QUEUE_PARAMETERS
//! (affinity change, no change, buffer-count change), CLEAR_FILTER and FREE_QUEUE; each of
//! those damaged (truncated, a short method output, a header byte replaced, a byte flipped);
//! random bytes for any of the six OIDs; and, so that queues really run and the adapter runs
//! out of them, whole bring-ups (allocate, one or two filters, complete) and runs of
//! allocations. Every case starts QEMU (about 0.5 s), so there are 12 cases and shrinking is
//! bounded; `VMQ_PROP_TRACE=1` prints every step with its status.
//!
//! The oracle is a [`Vmq`] configured as MiniportInitializeEx configures the driver's (the
//! `NumQueues` of the current capabilities, VLAN filtering, the adapter's MAC). Each request's
//! information buffer goes through the same [`oids`] parsers the glue uses (for a method, the
//! `min(InputBufferLength, OutputBufferLength)` bytes it answers in), and the parsed request
//! through the model; CLEAR_FILTER and FREE_QUEUE always answer SUCCESS (the verifier rule), and
//! a FREE_QUEUE the model accepts runs `free_queue` → `dma_stopped` → `freed` (no traffic, so no
//! NBL is out and the OID completes synchronously).
//!
//! After every step:
//!
//! * the OID's status, `BytesRead`, `BytesWritten` (methods) and `BytesNeeded` are the model's,
//!   and the information buffer is the request's with exactly the fields the answer writes:
//!   ALLOCATE_QUEUE's `MSIXTableEntry` (a VM queue's entry, never 0) and each
//!   QUEUE_ALLOCATION_COMPLETE element's `CompletionStatus` (the model's);
//! * RAR 1..=23, all 32 VLVF, all 128 VFTA words, VMOLR of pools 1..=7 and VFRE bits 1..=7 hold
//!   the model's `hardware()` image; RAR0, pool 0's VMOLR and the rest of VFRE keep their values
//!   from before the first step (they are not the model's);
//! * a step that leaves the model as it was (a refused or malformed request, a CLEAR_FILTER or
//!   FREE_QUEUE the model ignores) leaves every one of those registers, and every RXDCTL of
//!   pools 0..=7, bit-identical;
//! * the driver's own state agrees with the model's queues: a VM pool's ring is enabled
//!   (RXDCTL.ENABLE) and its queue owns shared memory exactly while the model has the queue
//!   allocation-complete on that pool (Running or Paused), DmaStopped is indicated exactly for
//!   the queues the model freed, and the simulator saw no contract violation.
//!
//! Each case ends as NDIS would before a halt: every filter cleared and every queue freed (with
//! the same checks), then the usual stop (no violation, nothing leaked).
//!
//! The model's processor of a queue is not compared: it reaches no register read here (the
//! interrupt side is `tests/vmq.rs`'s).

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::mem::offset_of;
use std::time::{Duration, Instant};

use common::{mac, running, stop};
use ndis_sim::sim::{GrantPolicy, OidCompletion, OidKind, OidOutcome, OidRequest, Sim, SimConfig};
use ndis_sim::vmq_requests::{self, FilterField};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vmqnic::hw::igb::VlanEntry;
use vmqnic::hw::igb::regs::{
    NUM_POOLS, NUM_RAR, NUM_TABLE_WORDS, NUM_VLVF, RAH, RAH_AV, RAH_POOLSEL_SHIFT, RAL, RXDCTL,
    RXDCTL_ENABLE, VFRE, VFTA, VLVF, VLVF_POOLSEL_SHIFT, VLVF_VLANID_ENABLE, VMOLR,
};
use vmqnic::interrupt::Processor;
use vmqnic::ndis::{
    NDIS_RECEIVE_FILTER_CAPABILITIES, NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, NDIS_RECEIVE_QUEUE_PARAMETERS,
    NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED,
    NDIS_RECEIVE_QUEUE_PARAMETERS_SUGGESTED_RECV_BUFFER_NUMBERS_CHANGED, NDIS_RECEIVE_QUEUE_STATE,
    NDIS_STATUS, NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_RECEIVE_QUEUE_STATE,
    NDIS_STATUS_SUCCESS, NdisReceiveQueueOperationalStateDmaStopped,
    OID_RECEIVE_FILTER_ALLOCATE_QUEUE, OID_RECEIVE_FILTER_CLEAR_FILTER,
    OID_RECEIVE_FILTER_FREE_QUEUE, OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE,
    OID_RECEIVE_FILTER_QUEUE_PARAMETERS, OID_RECEIVE_FILTER_SET_FILTER,
};
use vmqnic::vmq::image::{HardwareImage, ReceiveAddress};
use vmqnic::vmq::model::{Vmq, VmqConfig};
use vmqnic::vmq::oids::{self, OidError};
use vmqnic::vmq::state::QueueState;

// ---- Operations ---------------------------------------------------------------------------------

/// A destination MAC a filter may name.
#[derive(Clone, Copy, Debug)]
enum Mac {
    /// A VM's unicast address, `02:56:4D:00:00:n`.
    Vm(u8),
    /// The adapter's own address (RAR0's).
    Adapter,
    /// A multicast address.
    Multicast,
}

impl Mac {
    fn address(self, adapter: [u8; 6]) -> [u8; 6] {
        match self {
            Self::Vm(n) => [0x02, 0x56, 0x4D, 0, 0, n],
            Self::Adapter => adapter,
            Self::Multicast => [0x01, 0x00, 0x5E, 0x00, 0x00, 0x01],
        }
    }
}

/// What is done to a well-formed request's buffer.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Keep the first `len × n / 65536` bytes (a method's output length shrinks with it).
    Truncate(u16),
    /// A method's `OutputBufferLength` becomes `len × n / 65536` (the input stays whole); a
    /// set is truncated instead.
    ShortOutput(u16),
    /// Byte `at` (0..4) of the object header becomes `value`.
    Header { at: u8, value: u8 },
    /// Byte `len × at / 65536` is XORed with `xor` (≠ 0).
    Flip { at: u16, xor: u8 },
}

/// One step of a case.
#[derive(Clone, Debug)]
enum Op {
    /// ALLOCATE_QUEUE on processor `cpu` (0..4: groups [2, 2]; `None`: mask 0).
    Allocate { queue: u32, cpu: Option<u8> },
    /// SET_FILTER: an optional MAC test (with `untagged` as its VLAN_UNTAGGED_OR_ZERO flag) and
    /// an optional VLAN test.
    SetFilter { queue: u32, filter: u32, mac: Option<Mac>, untagged: bool, vlan: Option<u16> },
    /// QUEUE_ALLOCATION_COMPLETE for these queues.
    Complete { queues: Vec<u32> },
    /// QUEUE_PARAMETERS with `flags` (the affinity is `cpu`'s, as for `Allocate`).
    Parameters { queue: u32, cpu: Option<u8>, flags: u32 },
    /// CLEAR_FILTER.
    Clear { queue: u32, filter: u32 },
    /// FREE_QUEUE.
    Free { queue: u32 },
    /// A well-formed request, damaged.
    Malformed { op: Box<Op>, damage: Damage },
    /// Random bytes for one of the six OIDs (`oid` indexes [`OIDS`]).
    Garbage { oid: usize, bytes: Vec<u8> },
}

/// The VMQ OIDs with whether each is a method.
const OIDS: [(u32, bool); 6] = [
    (OID_RECEIVE_FILTER_ALLOCATE_QUEUE, true),
    (OID_RECEIVE_FILTER_SET_FILTER, true),
    (OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE, true),
    (OID_RECEIVE_FILTER_QUEUE_PARAMETERS, false),
    (OID_RECEIVE_FILTER_CLEAR_FILTER, false),
    (OID_RECEIVE_FILTER_FREE_QUEUE, false),
];

/// `(group, mask)` of processor `cpu` of groups [2, 2]; mask 0 for `None`.
fn affinity(cpu: Option<u8>) -> (u16, u64) {
    cpu.map_or((0, 0), |cpu| (u16::from(cpu / 2), 1 << (cpu % 2)))
}

fn scaled(length: usize, fraction: u16) -> usize {
    length * usize::from(fraction) / 0x1_0000
}

fn length_u32(length: usize) -> u32 {
    u32::try_from(length).expect("test buffers are small")
}

impl Op {
    /// The request NDIS would send for this step.
    fn request(&self, adapter: [u8; 6]) -> OidRequest {
        match self {
            Self::Allocate { queue, cpu } => {
                let (group, mask) = affinity(*cpu);
                vmq_requests::allocate_queue(*queue, group, mask)
            }
            Self::SetFilter { queue, filter, mac, untagged, vlan } => {
                let mut fields = Vec::new();
                if let Some(mac) = mac {
                    fields.push(FilterField::Mac {
                        address: mac.address(adapter),
                        untagged_or_zero: *untagged,
                    });
                }
                if let Some(vlan) = vlan {
                    fields.push(FilterField::Vlan(*vlan));
                }
                vmq_requests::set_filter(*queue, *filter, &fields)
            }
            Self::Complete { queues } => vmq_requests::allocation_complete(queues),
            Self::Parameters { queue, cpu, flags } => {
                let (group, mask) = affinity(*cpu);
                let parameters = vmq_requests::queue_parameters(*queue, group, mask, *flags);
                OidRequest::set(OID_RECEIVE_FILTER_QUEUE_PARAMETERS, &parameters)
            }
            Self::Clear { queue, filter } => vmq_requests::clear_filter(*queue, *filter),
            Self::Free { queue } => vmq_requests::free_queue(*queue),
            Self::Malformed { op, damage } => damaged(op.request(adapter), *damage),
            Self::Garbage { oid, bytes } => {
                let (oid, method) = OIDS[*oid % OIDS.len()];
                if method {
                    OidRequest::method(oid, bytes, length_u32(bytes.len()))
                } else {
                    OidRequest::set(oid, bytes)
                }
            }
        }
    }
}

fn damaged(mut request: OidRequest, damage: Damage) -> OidRequest {
    let method = matches!(request.kind, OidKind::Method { .. });
    let length = request.input.len();
    match damage {
        Damage::ShortOutput(n) if method => request.output_length = length_u32(scaled(length, n)),
        Damage::Truncate(n) | Damage::ShortOutput(n) => {
            request.input.truncate(scaled(length, n));
            if method {
                request.output_length = length_u32(request.input.len());
            }
        }
        Damage::Header { at, value } => {
            if let Some(byte) = request.input.get_mut(usize::from(at % 4)) {
                *byte = value;
            }
        }
        Damage::Flip { at, xor } => {
            if let Some(byte) = request.input.get_mut(scaled(length, at)) {
                *byte ^= xor;
            }
        }
    }
    request
}

// ---- Strategies ---------------------------------------------------------------------------------

/// Queue ids: 0 (the default queue; invalid to allocate), 1..=5 (one more than the 4 queues
/// the adapter offers), the low ones more often so that queues get filters and complete.
fn queue_id() -> impl Strategy<Value = u32> {
    prop_oneof![
        1 => Just(0u32),
        3 => Just(1),
        3 => Just(2),
        2 => Just(3),
        1 => Just(4),
        1 => Just(5),
    ]
}

fn cpu() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![9 => (0u8..4).prop_map(Some), 1 => Just(None)]
}

fn filter_mac() -> impl Strategy<Value = Option<Mac>> {
    prop_oneof![
        7 => (1u8..=3).prop_map(|n| Some(Mac::Vm(n))),
        1 => Just(Some(Mac::Adapter)),
        1 => Just(Some(Mac::Multicast)),
        1 => Just(None),
    ]
}

fn vlan() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![
        4 => Just(None),
        3 => Just(Some(100u16)),
        2 => Just(Some(200)),
        1 => Just(Some(0)),
        1 => Just(Some(4095)),
    ]
}

fn set_filter() -> impl Strategy<Value = Op> {
    // Mostly the flag the Hyper-V switch sets (untagged exactly without a VLAN test).
    (queue_id(), 0u32..=8, filter_mac(), vlan(), proptest::bool::weighted(0.85)).prop_map(
        |(queue, filter, mac, vlan, usual)| Op::SetFilter {
            queue,
            filter,
            mac,
            untagged: vlan.is_none() == usual,
            vlan,
        },
    )
}

fn parameters_flags() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => Just(NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED),
        1 => Just(0),
        1 => Just(NDIS_RECEIVE_QUEUE_PARAMETERS_SUGGESTED_RECV_BUFFER_NUMBERS_CHANGED),
    ]
}

fn well_formed() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (queue_id(), cpu()).prop_map(|(queue, cpu)| Op::Allocate { queue, cpu }),
        5 => set_filter(),
        3 => proptest::collection::vec(queue_id(), 0..=3)
            .prop_map(|queues| Op::Complete { queues }),
        2 => (queue_id(), cpu(), parameters_flags())
            .prop_map(|(queue, cpu, flags)| Op::Parameters { queue, cpu, flags }),
        2 => (queue_id(), 0u32..=8).prop_map(|(queue, filter)| Op::Clear { queue, filter }),
        2 => queue_id().prop_map(|queue| Op::Free { queue }),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<u16>().prop_map(Damage::Truncate),
        any::<u16>().prop_map(Damage::ShortOutput),
        (0u8..4, any::<u8>()).prop_map(|(at, value)| Damage::Header { at, value }),
        (any::<u16>(), 1u8..=255).prop_map(|(at, xor)| Damage::Flip { at, xor }),
    ]
}

/// A VM's usual bring-up: ALLOCATE_QUEUE, one or two filters on a VM MAC (untagged, or with
/// VLAN 100 or 200), QUEUE_ALLOCATION_COMPLETE.
fn bring_up() -> impl Strategy<Value = Vec<Op>> {
    let filter = (0u32..=8, 1u8..=3, prop_oneof![Just(None), Just(Some(100u16)), Just(Some(200))]);
    (queue_id(), cpu(), proptest::collection::vec(filter, 1..=2)).prop_map(
        |(queue, cpu, filters)| {
            let mut ops = vec![Op::Allocate { queue, cpu }];
            for (filter, vm, vlan) in filters {
                ops.push(Op::SetFilter {
                    queue,
                    filter,
                    mac: Some(Mac::Vm(vm)),
                    untagged: vlan.is_none(),
                    vlan,
                });
            }
            ops.push(Op::Complete { queues: vec![queue] });
            ops
        },
    )
}

/// Several ALLOCATE_QUEUEs in a row, so that the adapter runs out of queues (RESOURCES).
fn allocations() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec((1u32..=5, cpu()), 2..=5).prop_map(|queues| {
        queues.into_iter().map(|(queue, cpu)| Op::Allocate { queue, cpu }).collect()
    })
}

/// The steps of a case: single operations and bring-ups, at most 36.
fn steps() -> impl Strategy<Value = Vec<Op>> {
    let chunk = prop_oneof![
        6 => any_op().prop_map(|op| vec![op]),
        2 => bring_up(),
        1 => allocations(),
    ];
    proptest::collection::vec(chunk, 1..=16).prop_map(|chunks| {
        let mut ops: Vec<Op> = chunks.into_iter().flatten().collect();
        ops.truncate(36);
        ops
    })
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        16 => well_formed(),
        3 => (well_formed(), damage())
            .prop_map(|(op, damage)| Op::Malformed { op: Box::new(op), damage }),
        1 => (0..OIDS.len(), proptest::collection::vec(any::<u8>(), 0..=72))
            .prop_map(|(oid, bytes)| Op::Garbage { oid, bytes }),
    ]
}

// ---- The oracle ---------------------------------------------------------------------------------

/// What the driver must answer, per the model.
#[derive(Debug)]
struct Expected {
    status: NDIS_STATUS,
    bytes_read: u32,
    /// Methods only (a set has no `BytesWritten`).
    bytes_written: Option<u32>,
    bytes_needed: u32,
    /// The information buffer afterwards; for ALLOCATE_QUEUE without its `MSIXTableEntry`,
    /// which the driver chooses (`msix_entry_written`).
    buffer: Vec<u8>,
    msix_entry_written: bool,
    /// QUEUE_ALLOCATION_COMPLETE: each element's status.
    element_statuses: Vec<NDIS_STATUS>,
    /// The queue whose DmaStopped must be indicated.
    dma_stopped: Option<u32>,
}

const MSIX_TABLE_ENTRY: usize = offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, MSIXTableEntry);

/// The model, fed as the glue feeds it (`src/miniport/vmq.rs`).
struct Oracle {
    vmq: Vmq,
}

impl Oracle {
    fn expect(&mut self, request: &OidRequest) -> Expected {
        let method = matches!(request.kind, OidKind::Method { .. });
        // The information buffer the driver gets: max(input, output) bytes, the input first.
        let mut buffer = request.input.clone();
        buffer.resize(request.buffer_length(), 0);
        // A method is read and answered within min(input, output) bytes; a set reads them all.
        let usable = if method {
            request.input.len().min(usize::try_from(request.output_length).unwrap_or(usize::MAX))
        } else {
            request.input.len()
        };
        let mut expected = Expected {
            status: NDIS_STATUS_SUCCESS,
            bytes_read: 0,
            bytes_written: method.then_some(0),
            bytes_needed: 0,
            buffer,
            msix_entry_written: false,
            element_statuses: Vec::new(),
            dma_stopped: None,
        };
        let (status, read) = self.run(request.oid, &mut expected, usable);
        expected.status = status;
        if status == NDIS_STATUS_SUCCESS {
            expected.bytes_read = read;
            if method {
                expected.bytes_written = Some(read);
            }
        }
        expected
    }

    /// The status and, on success, `BytesRead` of `oid` with `expected.buffer[..usable]`.
    fn run(&mut self, oid: u32, expected: &mut Expected, usable: usize) -> (NDIS_STATUS, u32) {
        let refused = |expected: &mut Expected, error: OidError| {
            expected.bytes_needed = error.bytes_needed();
            (error.status(), 0)
        };
        let bytes = &mut expected.buffer[..usable];
        match oid {
            OID_RECEIVE_FILTER_ALLOCATE_QUEUE => match oids::parse_allocate_queue(bytes) {
                Err(error) => refused(expected, error),
                Ok(parsed) => {
                    let affinity = parsed.request.affinity;
                    let lowest = affinity.mask & affinity.mask.wrapping_neg();
                    let processor = Processor::from_single_bit_mask(affinity.group, lowest)
                        .expect("the parser refuses a zero mask");
                    match self.vmq.allocate_queue(parsed.request.queue_id, processor) {
                        Ok(_) => {
                            expected.msix_entry_written = true;
                            (NDIS_STATUS_SUCCESS, parsed.bytes_read)
                        }
                        Err(status) => (status, 0),
                    }
                }
            },
            OID_RECEIVE_FILTER_SET_FILTER => match oids::parse_set_filter(bytes) {
                Err(error) => refused(expected, error),
                Ok(parsed) => match self.vmq.set_filter(&parsed.request) {
                    Ok(()) => (NDIS_STATUS_SUCCESS, parsed.bytes_read),
                    Err(status) => (status, 0),
                },
            },
            OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE => {
                match oids::parse_allocation_complete(bytes) {
                    Err(error) => refused(expected, error),
                    Ok(parsed) => {
                        let array = parsed.request;
                        let ids: Vec<u32> = array.queue_ids(bytes).collect();
                        for (index, id) in ids.into_iter().enumerate() {
                            let status = match self.vmq.allocation_complete(id) {
                                Ok(_) => NDIS_STATUS_SUCCESS,
                                Err(status) => status,
                            };
                            array.write_completion_status(bytes, index, status);
                            expected.element_statuses.push(status);
                        }
                        (NDIS_STATUS_SUCCESS, parsed.bytes_read)
                    }
                }
            }
            OID_RECEIVE_FILTER_QUEUE_PARAMETERS => match oids::parse_queue_parameters(bytes) {
                Err(error) => refused(expected, error),
                Ok(parsed) => {
                    let change = parsed.request;
                    if self.vmq.queue(change.queue_id).is_none() {
                        return (NDIS_STATUS_INVALID_PARAMETER, 0);
                    }
                    if let Some(affinity) = change.affinity {
                        let lowest = affinity.mask & affinity.mask.wrapping_neg();
                        let processor = Processor::from_single_bit_mask(affinity.group, lowest)
                            .expect("the parser refuses a zero mask");
                        if let Err(status) = self.vmq.set_processor(change.queue_id, processor) {
                            return (status, 0);
                        }
                    }
                    (NDIS_STATUS_SUCCESS, parsed.bytes_read)
                }
            },
            // Always SUCCESS (the verifier rule); BytesRead 0 when the buffer is unreadable.
            OID_RECEIVE_FILTER_CLEAR_FILTER => match oids::parse_clear_filter(bytes) {
                Err(_) => (NDIS_STATUS_SUCCESS, 0),
                Ok(parsed) => {
                    let _ =
                        self.vmq.clear_filter(parsed.request.queue_id, parsed.request.filter_id);
                    (NDIS_STATUS_SUCCESS, parsed.bytes_read)
                }
            },
            OID_RECEIVE_FILTER_FREE_QUEUE => match oids::parse_free_queue(bytes) {
                Err(_) => (NDIS_STATUS_SUCCESS, 0),
                Ok(parsed) => {
                    let id = parsed.request.queue_id;
                    if self.vmq.free_queue(id).is_ok() {
                        self.vmq.dma_stopped(id).expect("StopDma → Freeing");
                        self.vmq.freed(id).expect("Freeing → Undefined");
                        expected.dma_stopped = Some(id);
                    }
                    (NDIS_STATUS_SUCCESS, parsed.bytes_read)
                }
            },
            _ => unreachable!("only VMQ OIDs are generated"),
        }
    }

    /// The VM queues whose allocation completed (Running or Paused), with their pools.
    fn armed_queues(&self) -> BTreeSet<(u32, u8)> {
        self.vmq
            .queues()
            .filter(|q| matches!(q.state, QueueState::Running | QueueState::Paused))
            .map(|q| (q.id, q.pool))
            .collect()
    }
}

// ---- Registers ----------------------------------------------------------------------------------

/// The registers the test reads after every step.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Registers {
    /// (RAL, RAH) of RAR 0..24.
    rar: Vec<(u32, u32)>,
    vlvf: Vec<u32>,
    vfta: Vec<u32>,
    /// VMOLR of pools 0..8.
    vmolr: Vec<u32>,
    vfre: u32,
    /// RXDCTL of pools (queues) 0..8.
    rxdctl: Vec<u32>,
}

impl Registers {
    fn read(sim: &Sim) -> Self {
        let igb = sim.igb().expect("QEMU's 82576");
        let read = |offset: u32| igb.reg_read(offset).expect("register read");
        Self {
            rar: (0..NUM_RAR).map(|n| (read(RAL(n)), read(RAH(n)))).collect(),
            vlvf: (0..NUM_VLVF).map(|n| read(VLVF(n))).collect(),
            vfta: (0..NUM_TABLE_WORDS).map(|n| read(VFTA(n))).collect(),
            vmolr: (0..NUM_POOLS).map(|n| read(VMOLR(n))).collect(),
            vfre: read(VFRE),
            rxdctl: (0..NUM_POOLS).map(|n| read(RXDCTL(n))).collect(),
        }
    }

    /// One line per register that differs from `other`.
    fn differences(&self, other: &Self) -> String {
        let mut out = String::new();
        let mut line = |name: String, a: u32, b: u32| {
            if a != b {
                let _ = writeln!(out, "  {name}: {a:#010x} vs {b:#010x}");
            }
        };
        for (n, ((al, ah), (bl, bh))) in self.rar.iter().zip(&other.rar).enumerate() {
            line(format!("RAL({n})"), *al, *bl);
            line(format!("RAH({n})"), *ah, *bh);
        }
        let tables = [
            ("VLVF", &self.vlvf, &other.vlvf),
            ("VFTA", &self.vfta, &other.vfta),
            ("VMOLR", &self.vmolr, &other.vmolr),
            ("RXDCTL", &self.rxdctl, &other.rxdctl),
        ];
        for (name, a, b) in tables {
            for (n, (a, b)) in a.iter().zip(b).enumerate() {
                line(format!("{name}({n})"), *a, *b);
            }
        }
        line("VFRE".into(), self.vfre, other.vfre);
        out
    }
}

/// RAL and RAH of a receive-address register as the image has it (`set_receive_address_pools`,
/// `clear_receive_address`).
fn rar_value(address: Option<ReceiveAddress>) -> (u32, u32) {
    address.map_or((0, 0), |a| {
        let low = u32::from_le_bytes([a.mac[0], a.mac[1], a.mac[2], a.mac[3]]);
        let high = u32::from(u16::from_le_bytes([a.mac[4], a.mac[5]]));
        (low, high | u32::from(a.pools) << RAH_POOLSEL_SHIFT | RAH_AV)
    })
}

/// A VLVF as the image has it (`write_vlan_pool_filter`).
fn vlvf_value(entry: Option<VlanEntry>) -> u32 {
    entry.map_or(0, |e| {
        VLVF_VLANID_ENABLE | u32::from(e.pools) << VLVF_POOLSEL_SHIFT | u32::from(e.vlan)
    })
}

/// VFRE bits 1..=7: the VM pools.
const VM_POOL_BITS: u32 = 0xFE;

/// `registers` with the model's part replaced by what `image` says, the rest (RAR0, pool 0's
/// VMOLR, VFRE outside bits 1..=7, RXDCTL) kept.
fn with_image(registers: &Registers, image: &HardwareImage) -> Registers {
    let mut expected = registers.clone();
    for n in 1..NUM_RAR {
        expected.rar[n as usize] = rar_value(image.receive_address(n));
    }
    for n in 0..NUM_VLVF {
        expected.vlvf[n as usize] = vlvf_value(image.vlan_filter(n));
    }
    for n in 0..NUM_TABLE_WORDS {
        expected.vfta[n as usize] = image.vlan_table_word(n);
    }
    for pool in 1..8u8 {
        let options = image.pool_options(pool).expect("VM pools 1..=7");
        expected.vmolr[usize::from(pool)] = options.vmolr();
    }
    expected.vfre = registers.vfre & !VM_POOL_BITS | u32::from(image.receiving_pools());
    expected
}

// ---- A case -------------------------------------------------------------------------------------

/// The running adapter, the oracle, and the registers as they were after the last step.
struct Case {
    sim: Sim,
    oracle: Oracle,
    adapter: [u8; 6],
    registers: Registers,
    /// RAR0, pool 0's VMOLR and VFRE outside the VM pools' bits before the first step.
    baseline: Registers,
    stats: Stats,
}

/// What a run covered (printed at the end).
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    steps: usize,
    accepted: usize,
    refused: usize,
    malformed: usize,
    running_seen: usize,
    max_queues: usize,
    max_filters: usize,
}

fn completion(sim: &mut Sim, request: &OidRequest) -> OidCompletion {
    match sim.oid_request(request).expect("the OID is issued") {
        OidOutcome::Completed(done) => done,
        OidOutcome::Pending(id) => {
            sim.wait_oid(id, Duration::from_secs(5)).expect("the pending OID completes")
        }
    }
}

fn dma_stopped_queues(sim: &Sim) -> Vec<u32> {
    let queue = offset_of!(NDIS_RECEIVE_QUEUE_STATE, QueueId);
    let state = offset_of!(NDIS_RECEIVE_QUEUE_STATE, QueueState);
    let word =
        |b: &[u8], at: usize| b.get(at..at + 4).map(|w| u32::from_le_bytes(w.try_into().unwrap()));
    sim.status_indications()
        .iter()
        .filter(|s| s.status_code == NDIS_STATUS_RECEIVE_QUEUE_STATE)
        .filter(|s| word(&s.buffer, state) == Some(NdisReceiveQueueOperationalStateDmaStopped))
        .filter_map(|s| word(&s.buffer, queue))
        .collect()
}

/// Queue ids (≠ 0) that own shared memory.
fn queues_with_shared_memory(sim: &Sim) -> BTreeSet<u32> {
    sim.shared_memory().iter().map(|b| b.queue_id).filter(|q| *q != 0).collect()
}

impl Case {
    fn start() -> Result<Self, TestCaseError> {
        let sim = running(SimConfig::with_groups(&[2, 2]), GrantPolicy::AsRequested);
        let adapter = mac(&sim);
        let (_, current) = sim.receive_filter_capabilities();
        let current = current.expect("current receive-filter capabilities");
        let at = offset_of!(NDIS_RECEIVE_FILTER_CAPABILITIES, NumQueues);
        let queues = u32::from_le_bytes(current[at..at + 4].try_into().unwrap());
        prop_assert!(queues > 0, "VMQ is on with a full MSI-X grant");
        let vmq = Vmq::new(VmqConfig { queues, vlan_filtering: true, adapter_mac: adapter });
        let registers = Registers::read(&sim);
        let case = Self {
            sim,
            oracle: Oracle { vmq },
            adapter,
            baseline: registers.clone(),
            registers,
            stats: Stats::default(),
        };
        case.check_state("start")?;
        Ok(case)
    }

    /// The registers and the driver's queue state agree with the model.
    fn check_state(&self, what: &str) -> Result<(), TestCaseError> {
        let image = self.oracle.vmq.hardware();
        let expected = with_image(&self.baseline, &image);
        // RXDCTL is the driver's (checked below), not the image's.
        let expected = Registers { rxdctl: self.registers.rxdctl.clone(), ..expected };
        prop_assert!(
            self.registers == expected,
            "{}: registers (device vs model):\n{}",
            what,
            self.registers.differences(&expected)
        );
        let armed = self.oracle.armed_queues();
        prop_assert!(self.registers.rxdctl[0] & RXDCTL_ENABLE != 0, "{}: default ring on", what);
        for pool in 1..8u8 {
            let enabled = self.registers.rxdctl[usize::from(pool)] & RXDCTL_ENABLE != 0;
            let model = armed.iter().any(|(_, p)| *p == pool);
            prop_assert_eq!(enabled, model, "{}: RXDCTL({}).ENABLE", what, pool);
        }
        let ids: BTreeSet<u32> = armed.iter().map(|(id, _)| *id).collect();
        prop_assert_eq!(queues_with_shared_memory(&self.sim), ids, "{}: queues with memory", what);
        Ok(())
    }

    /// Sends `request`, and checks the answer and the state against the model.
    fn step(&mut self, request: &OidRequest, what: &str) -> Result<(), TestCaseError> {
        let model_before = self.oracle.vmq.clone();
        let stopped_before = dma_stopped_queues(&self.sim).len();
        let expected = self.oracle.expect(request);
        let done = completion(&mut self.sim, request);
        if std::env::var_os("VMQ_PROP_TRACE").is_some() {
            eprintln!("{what} -> {:#x}", done.status);
        }

        prop_assert_eq!(done.status, expected.status, "{}: status", what);
        prop_assert_eq!(done.bytes_read, expected.bytes_read, "{}: BytesRead", what);
        if let Some(written) = expected.bytes_written {
            prop_assert_eq!(done.bytes_written, written, "{}: BytesWritten", what);
        }
        prop_assert_eq!(done.bytes_needed, expected.bytes_needed, "{}: BytesNeeded", what);
        let mut buffer = expected.buffer.clone();
        if expected.msix_entry_written {
            let entry = &done.buffer[MSIX_TABLE_ENTRY..MSIX_TABLE_ENTRY + 4];
            let entry = u32::from_le_bytes(entry.try_into().unwrap());
            prop_assert_ne!(entry, 0, "{}: a VM queue's MSI-X entry (0 is other causes)", what);
            oids::write_msix_table_entry(&mut buffer, entry).unwrap();
        }
        if request.oid == OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE
            && expected.status == NDIS_STATUS_SUCCESS
        {
            let statuses = element_statuses(&done.buffer, expected.element_statuses.len());
            prop_assert_eq!(statuses, expected.element_statuses.clone(), "{}: completion", what);
        }
        prop_assert!(done.buffer == buffer, "{}: information buffer afterwards", what);
        prop_assert!(done.synchronous, "{}: completes synchronously (no NBL is out)", what);
        let stopped = dma_stopped_queues(&self.sim);
        prop_assert_eq!(
            &stopped[stopped_before..],
            expected.dma_stopped.as_slice(),
            "{}: DmaStopped indications",
            what
        );
        prop_assert_eq!(self.sim.violations(), vec![], "{}: contract violations", what);

        let before = std::mem::replace(&mut self.registers, Registers::read(&self.sim));
        if self.oracle.vmq == model_before {
            prop_assert!(
                self.registers == before,
                "{}: the model did not change, the registers did:\n{}",
                what,
                self.registers.differences(&before)
            );
        }
        self.check_state(what)?;

        self.stats.steps += 1;
        if expected.status == NDIS_STATUS_SUCCESS && self.oracle.vmq != model_before {
            self.stats.accepted += 1;
        } else {
            self.stats.refused += 1;
        }
        let queues = self.oracle.vmq.queues().count();
        let filters = self.oracle.vmq.filters().count();
        self.stats.max_queues = self.stats.max_queues.max(queues);
        self.stats.max_filters = self.stats.max_filters.max(filters);
        if self.oracle.vmq.queues().any(|q| q.state == QueueState::Running) {
            self.stats.running_seen += 1;
        }
        Ok(())
    }

    /// What NDIS does before a halt: every filter cleared, every queue freed.
    fn tear_down(&mut self) -> Result<(), TestCaseError> {
        let filters: Vec<(u32, u32)> =
            self.oracle.vmq.filters().map(|f| (f.queue_id, f.id)).collect();
        for (queue, filter) in filters {
            let what = format!("teardown: clear filter {filter} of queue {queue}");
            self.step(&vmq_requests::clear_filter(queue, filter), &what)?;
        }
        let queues: Vec<u32> = self.oracle.vmq.queues().map(|q| q.id).collect();
        for queue in queues {
            self.step(&vmq_requests::free_queue(queue), &format!("teardown: free queue {queue}"))?;
        }
        prop_assert_eq!(self.oracle.vmq.queues().count(), 0);
        prop_assert_eq!(self.oracle.vmq.filters().count(), 0);
        Ok(())
    }
}

/// The `CompletionStatus` of the first `count` elements, where the array header puts them.
fn element_statuses(buffer: &[u8], count: usize) -> Vec<NDIS_STATUS> {
    let word = |at: usize| u32::from_le_bytes(buffer[at..at + 4].try_into().unwrap());
    let first = word(offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, FirstElementOffset));
    let stride = word(offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, ElementSize));
    let status = offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, CompletionStatus);
    (0..count)
        .map(|k| {
            let at = first as usize + k * stride as usize + status;
            word(at).cast_signed()
        })
        .collect()
}

fn run_case(ops: &[Op], totals: &mut Stats) -> Result<(), TestCaseError> {
    let mut case = Case::start()?;
    for (n, op) in ops.iter().enumerate() {
        let request = op.request(case.adapter);
        let what = format!("step {n}: {op:?}");
        if matches!(op, Op::Malformed { .. } | Op::Garbage { .. }) {
            case.stats.malformed += 1;
        }
        case.step(&request, &what)?;
    }
    case.tear_down()?;
    let Case { sim, stats, .. } = case;
    stop(sim);
    totals.steps += stats.steps;
    totals.accepted += stats.accepted;
    totals.refused += stats.refused;
    totals.malformed += stats.malformed;
    totals.running_seen += stats.running_seen;
    totals.max_queues = totals.max_queues.max(stats.max_queues);
    totals.max_filters = totals.max_filters.max(stats.max_filters);
    Ok(())
}

#[test]
fn random_queue_and_filter_oids_keep_the_driver_and_the_registers_equal_to_the_model() {
    let config = ProptestConfig {
        cases: 12,
        // Every shrinking step starts QEMU again: keep it short.
        max_shrink_iters: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let started = Instant::now();
    let totals = std::cell::RefCell::new(Stats::default());
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&steps(), |ops| run_case(&ops, &mut totals.borrow_mut()));
    eprintln!("{:?} in {:.1} s", totals.borrow(), started.elapsed().as_secs_f64());
    if let Err(error) = result {
        panic!("{error}");
    }
}
