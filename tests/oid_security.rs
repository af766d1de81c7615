//! The OID security rules (anchors B3; `network/security-issues-for-network-drivers.md`), one
//! test per rule, over every OID the driver handles, through the real MiniportOidRequest on
//! QEMU's 82576 under the simulated NDIS:
//!
//! 1. `BytesWritten` never exceeds what was written: every byte below `BytesWritten` is the
//!    answer (the same whatever garbage the buffer held before), no byte at or above it
//!    changed, and `BytesWritten` ≤ the buffer (for a method: ≤ the input it answers in).
//! 2. `BytesNeeded` is set on every short buffer: a query, set or method given fewer bytes
//!    than it needs fails with `BUFFER_TOO_SHORT` (query) or `INVALID_LENGTH` (set, method),
//!    writes and reads nothing, and says how many bytes it needs (more than it got, and enough
//!    to make progress). The exceptions are CLEAR_FILTER and FREE_QUEUE, which the verifier
//!    rule NdisOidComplete allows to complete only with SUCCESS: short, they complete with
//!    SUCCESS, read nothing and change nothing.
//! 3. Nothing is read back from an output buffer: the same query with its output buffer filled
//!    with two different garbage patterns gets the identical answer; a method gets the
//!    identical answer with garbage beyond its input, and never takes that garbage for input
//!    (not even when the garbage is exactly the input it lacks).
//! 4. Every embedded offset is overflow-checked: SET_FILTER and QUEUE_ALLOCATION_COMPLETE
//!    with offsets, counts and element sizes near `u32::MAX`, and with products and sums that
//!    wrap in 32 bits, are refused; nothing is written into the buffer, no register and no
//!    model state changes, and a valid request afterwards behaves as if they never came.
//!
//! "Every OID the driver handles": the queries of `oid::general::SUPPORTED_OIDS` (as
//! `NdisRequestQueryInformation` and `NdisRequestQueryStatistics`), the general sets (packet
//! filter, lookahead, multicast list, interrupt moderation), the VMQ methods (ALLOCATE_QUEUE,
//! SET_FILTER, QUEUE_ALLOCATION_COMPLETE) and the VMQ sets (QUEUE_PARAMETERS, CLEAR_FILTER,
//! FREE_QUEUE, GLOBAL_PARAMETERS); `every_oid_and_request_type_keeps_to_its_buffer` also sends
//! each of them (and OIDs the driver does not handle) as every request type.

mod common;

use std::mem::{offset_of, size_of};

use common::{running, set, stop};
use ndis_sim::sim::{GrantPolicy, OidCompletion, OidKind, OidOutcome, OidRequest, Sim, SimConfig};
use ndis_sim::vmq_requests::{self, FilterField};
use vmqnic::hw::igb::regs::{NUM_POOLS, NUM_RAR, NUM_TABLE_WORDS, NUM_VLVF, RAH, RAL, RXDCTL};
use vmqnic::hw::igb::regs::{VFRE, VFTA, VLVF, VMOLR};
use vmqnic::ndis::{
    NDIS_INTERRUPT_MODERATION_PARAMETERS, NDIS_RECEIVE_FILTER_FIELD_PARAMETERS,
    NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS, NDIS_RECEIVE_FILTER_PARAMETERS,
    NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED, NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, NDIS_STATUS, NDIS_STATUS_BUFFER_TOO_SHORT,
    NDIS_STATUS_INVALID_LENGTH, NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_NOT_SUPPORTED,
    NDIS_STATUS_SUCCESS, OID_802_3_MULTICAST_LIST, OID_GEN_CURRENT_LOOKAHEAD,
    OID_GEN_CURRENT_PACKET_FILTER, OID_GEN_INTERRUPT_MODERATION, OID_GEN_RCV_CRC_ERROR,
    OID_GEN_RCV_ERROR, OID_GEN_RCV_NO_BUFFER, OID_GEN_RCV_OK, OID_GEN_SUPPORTED_LIST,
    OID_GEN_XMIT_ERROR, OID_GEN_XMIT_OK, OID_RECEIVE_FILTER_ALLOCATE_QUEUE,
    OID_RECEIVE_FILTER_CLEAR_FILTER, OID_RECEIVE_FILTER_ENUM_QUEUES, OID_RECEIVE_FILTER_FREE_QUEUE,
    OID_RECEIVE_FILTER_GLOBAL_PARAMETERS, OID_RECEIVE_FILTER_HARDWARE_CAPABILITIES,
    OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE, OID_RECEIVE_FILTER_QUEUE_PARAMETERS,
    OID_RECEIVE_FILTER_SET_FILTER,
};
use vmqnic::oid::general::SUPPORTED_OIDS;

// ---- Garbage --------------------------------------------------------------------------------

/// Length of the garbage patterns: a prime, so the pattern never lines up with a structure.
const PATTERN_LENGTH: usize = 251;

/// Garbage pattern A; pattern B is its complement, so the two differ in every byte.
fn garbage(complement: bool) -> Vec<u8> {
    (0..PATTERN_LENGTH)
        .map(|i| {
            let byte = u8::try_from((i * 7 + 0x5A) % 256).unwrap();
            if complement { !byte } else { byte }
        })
        .collect()
}

/// Byte `i` of the information buffer of a request filled with `pattern` after `input`.
fn expected_byte(input: &[u8], pattern: &[u8], i: usize) -> u8 {
    input.get(i).copied().unwrap_or_else(|| pattern[(i - input.len()) % pattern.len()])
}

fn length_u32(length: usize) -> u32 {
    u32::try_from(length).expect("test buffers are small")
}

/// Sends `request` and returns its completion (every request here completes synchronously:
/// no NBL is ever outstanding, so FREE_QUEUE does not pend).
fn complete(sim: &mut Sim, request: &OidRequest) -> OidCompletion {
    match sim.oid_request(request).expect("the OID reaches the miniport") {
        OidOutcome::Completed(done) => done,
        OidOutcome::Pending(id) => panic!("OID {:#x} pended ({id:?})", request.oid),
    }
}

fn succeed(sim: &mut Sim, request: &OidRequest) -> OidCompletion {
    let done = complete(sim, request);
    assert_eq!(done.status, NDIS_STATUS_SUCCESS, "OID {:#x}", request.oid);
    done
}

/// The bytes of the information buffer the miniport may answer in, and the bytes it may not
/// touch at all: for a query the whole buffer; for a method the input (its answer is the
/// same structure, in place), never the rest.
fn answer_room(request: &OidRequest) -> usize {
    let output = usize::try_from(request.output_length).unwrap();
    match request.kind {
        OidKind::Query | OidKind::QueryStatistics => output,
        OidKind::Method { .. } => request.input.len().min(output),
        OidKind::Set => 0,
    }
}

/// Rules 1 and 3 for one request sent twice, with garbage patterns A and B after its input.
/// `between` runs between the two (to undo what the first one did). Returns the completion
/// with pattern A.
fn same_answer_whatever_the_garbage(
    sim: &mut Sim,
    request: &OidRequest,
    between: impl FnOnce(&mut Sim, &OidCompletion),
) -> OidCompletion {
    let what =
        format!("OID {:#x} ({:?}, output {})", request.oid, request.kind, request.output_length);
    let (pattern_a, pattern_b) = (garbage(false), garbage(true));
    let a = complete(sim, &request.clone().with_fill(&pattern_a));
    between(sim, &a);
    let b = complete(sim, &request.clone().with_fill(&pattern_b));
    // Rule 3: the answer does not depend on what the output buffer held.
    assert_eq!(
        (a.status, a.bytes_written, a.bytes_read, a.bytes_needed),
        (b.status, b.bytes_written, b.bytes_read, b.bytes_needed),
        "{what}: status and Bytes* differ with different garbage in the output buffer"
    );
    let written = usize::try_from(a.bytes_written).unwrap();
    let room = answer_room(request);
    // Rule 1: BytesWritten within the room, every byte below it written (identical in both
    // runs although the garbage differed in every byte), nothing at or above it changed.
    assert!(written <= room, "{what}: BytesWritten {written} beyond the {room} bytes it may use");
    assert_eq!(a.buffer[..written], b.buffer[..written], "{what}: garbage reported as written");
    for (run, pattern) in [(&a, &pattern_a), (&b, &pattern_b)] {
        let untouched = (written..run.buffer.len())
            .all(|i| run.buffer[i] == expected_byte(&request.input, pattern, i));
        assert!(untouched, "{what}: bytes beyond BytesWritten {written} changed");
    }
    if a.status != NDIS_STATUS_SUCCESS {
        assert_eq!((a.bytes_written, a.bytes_read), (0, 0), "{what}: a failure wrote or read");
    }
    a
}

// ---- Registers ------------------------------------------------------------------------------

/// The VMDq registers the VMQ OIDs program, and each pool's RXDCTL: what a refused request
/// must leave bit-identical.
fn registers(sim: &Sim) -> Vec<u32> {
    let igb = sim.igb().expect("QEMU's 82576");
    let read = |offset: u32| igb.reg_read(offset).expect("register read");
    let mut out = Vec::new();
    out.extend((0..NUM_RAR).flat_map(|n| [read(RAL(n)), read(RAH(n))]));
    out.extend((0..NUM_VLVF).map(|n| read(VLVF(n))));
    out.extend((0..NUM_TABLE_WORDS).map(|n| read(VFTA(n))));
    out.extend((0..NUM_POOLS).map(|n| read(VMOLR(n))));
    out.extend((0..NUM_POOLS).map(|n| read(RXDCTL(n))));
    out.push(read(VFRE));
    out
}

// ---- The OIDs -------------------------------------------------------------------------------

/// A 4-processor adapter (groups [2, 2]), every message granted, link up, the usual filter.
fn adapter() -> Sim {
    running(SimConfig::with_groups(&[2, 2]), GrantPolicy::AsRequested)
}

const VM_MAC: [u8; 6] = [0x02, 0x56, 0x4D, 0, 0, 1];

fn mac_filter(queue: u32, filter: u32) -> OidRequest {
    vmq_requests::set_filter(
        queue,
        filter,
        &[FilterField::Mac { address: VM_MAC, untagged_or_zero: true }],
    )
}

fn moderation(enabled: bool) -> Vec<u8> {
    let size = size_of::<NDIS_INTERRUPT_MODERATION_PARAMETERS>();
    let mut p = vec![0u8; size];
    vmq_requests::header(&mut p, 1, size);
    let at = offset_of!(NDIS_INTERRUPT_MODERATION_PARAMETERS, InterruptModeration);
    // NdisInterruptModerationEnabled (2) / Disabled (3).
    p[at..at + 4].copy_from_slice(&(if enabled { 2u32 } else { 3 }).to_le_bytes());
    p
}

fn global_parameters(enabled: bool) -> Vec<u8> {
    let size = size_of::<NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS>();
    let mut p = vec![0u8; size];
    vmq_requests::header(&mut p, 1, size);
    let (filters, queues) = if enabled {
        (NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED, NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED)
    } else {
        (0, 0)
    };
    let at = offset_of!(NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS, EnabledFilterTypes);
    p[at..at + 4].copy_from_slice(&filters.to_le_bytes());
    let at = offset_of!(NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS, EnabledQueueTypes);
    p[at..at + 4].copy_from_slice(&queues.to_le_bytes());
    p
}

/// Valid input for each general set the driver handles.
fn general_sets() -> Vec<(u32, Vec<u8>)> {
    vec![
        (OID_GEN_CURRENT_PACKET_FILTER, common::USUAL_FILTER.to_le_bytes().to_vec()),
        (OID_GEN_CURRENT_LOOKAHEAD, 256u32.to_le_bytes().to_vec()),
        (OID_802_3_MULTICAST_LIST, [[0x01, 0, 0x5E, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 1]].concat()),
        (OID_GEN_INTERRUPT_MODERATION, moderation(true)),
    ]
}

/// Every OID the driver answers, with the request types it takes, and OIDs it must refuse.
fn every_oid() -> Vec<u32> {
    let mut oids = SUPPORTED_OIDS.to_vec();
    oids.extend([
        OID_RECEIVE_FILTER_ALLOCATE_QUEUE,
        OID_RECEIVE_FILTER_SET_FILTER,
        OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE,
        OID_RECEIVE_FILTER_QUEUE_PARAMETERS,
        OID_RECEIVE_FILTER_CLEAR_FILTER,
        OID_RECEIVE_FILTER_FREE_QUEUE,
        OID_RECEIVE_FILTER_GLOBAL_PARAMETERS,
        // Not handled by the driver (NDIS answers them, or nobody does).
        OID_GEN_SUPPORTED_LIST,
        OID_RECEIVE_FILTER_HARDWARE_CAPABILITIES,
        OID_RECEIVE_FILTER_ENUM_QUEUES,
        0,
        0xFFFF_FFFF,
    ]);
    oids
}

fn is_counter(oid: u32) -> bool {
    [
        OID_GEN_XMIT_OK,
        OID_GEN_RCV_OK,
        OID_GEN_XMIT_ERROR,
        OID_GEN_RCV_ERROR,
        OID_GEN_RCV_NO_BUFFER,
        OID_GEN_RCV_CRC_ERROR,
    ]
    .contains(&oid)
}

// ---- Rule 1 and 3: queries ------------------------------------------------------------------

/// Every supported query, as QueryInformation and QueryStatistics, with every buffer length
/// from 0 to 8 bytes past its full answer, each twice with different garbage.
#[test]
fn queries_write_exactly_what_they_report_and_never_read_their_output_buffer() {
    let mut sim = adapter();
    // A multicast list, so that its query has something to say.
    set(&mut sim, OID_802_3_MULTICAST_LIST, &general_sets()[2].1);
    let mut requests = 0;
    for &oid in SUPPORTED_OIDS {
        for statistics in [false, true] {
            let query = |length: usize| {
                let request = OidRequest::query(oid, length_u32(length));
                if statistics { request.as_statistics() } else { request }
            };
            let full = complete(&mut sim, &query(0x400));
            assert_eq!(full.status, NDIS_STATUS_SUCCESS, "query {oid:#x}");
            let full_length = usize::try_from(full.bytes_written).unwrap();
            for length in 0..=full_length + 8 {
                let done = same_answer_whatever_the_garbage(&mut sim, &query(length), |_, _| {});
                requests += 2;
                let written = usize::try_from(done.bytes_written).unwrap();
                assert_eq!(
                    done.buffer[..written],
                    full.buffer[..written],
                    "query {oid:#x} with {length} bytes: a different answer"
                );
            }
        }
    }
    eprintln!("{requests} queries, each answer identical under two garbage patterns");
    stop(sim);
}

// ---- Rule 2: short buffers ------------------------------------------------------------------

/// Every supported query with every buffer shorter than its answer: BUFFER_TOO_SHORT,
/// BytesNeeded the full answer, nothing written (64-bit counters: the low half with 4 to 7
/// bytes, BytesNeeded 8, as NDISTest's 1c_64BitOIDs wants).
#[test]
fn short_query_buffers_get_bytes_needed_and_nothing_else() {
    let mut sim = adapter();
    set(&mut sim, OID_802_3_MULTICAST_LIST, &general_sets()[2].1);
    for &oid in SUPPORTED_OIDS {
        let full = succeed(&mut sim, &OidRequest::query(oid, 0x400));
        for length in 0..full.bytes_written {
            let request = OidRequest::query(oid, length).with_fill(&garbage(false));
            let done = complete(&mut sim, &request);
            let what = format!("query {oid:#x} with {length} bytes");
            if is_counter(oid) && length >= 4 {
                assert_eq!(
                    (done.status, done.bytes_written, done.bytes_needed),
                    (NDIS_STATUS_SUCCESS, 4, 8),
                    "{what}"
                );
                continue;
            }
            assert_eq!(
                (done.status, done.bytes_written, done.bytes_needed),
                (NDIS_STATUS_BUFFER_TOO_SHORT, 0, full.bytes_written),
                "{what}"
            );
            assert_eq!(done.buffer, expected(&request), "{what}: a short buffer was written");
        }
    }
    stop(sim);
}

/// The information buffer of `request` as sent.
fn expected(request: &OidRequest) -> Vec<u8> {
    (0..request.buffer_length()).map(|i| expected_byte(&request.input, &request.fill, i)).collect()
}

/// Checks a refused short request: the status, BytesNeeded more than it got, nothing read or
/// written, the buffer as sent.
fn assert_short(done: &OidCompletion, request: &OidRequest, status: NDIS_STATUS, what: &str) {
    let given = match request.kind {
        OidKind::Method { .. } => request.input.len().min(answer_room(request)),
        _ => request.buffer_length(),
    };
    assert_eq!(done.status, status, "{what}");
    assert!(
        usize::try_from(done.bytes_needed).unwrap() > given,
        "{what}: BytesNeeded {} for {given} bytes",
        done.bytes_needed
    );
    assert_eq!((done.bytes_written, done.bytes_read), (0, 0), "{what}");
    assert_eq!(done.buffer, expected(request), "{what}: the buffer changed");
}

/// Every general set with every input shorter than it needs: INVALID_LENGTH, BytesNeeded,
/// nothing applied (the setting reads back as before).
#[test]
fn short_general_sets_get_bytes_needed_and_change_nothing() {
    let mut sim = adapter();
    for (oid, input) in general_sets() {
        let before = answer(&mut sim, oid);
        for length in 0..input.len() {
            if oid == OID_802_3_MULTICAST_LIST && length % 6 == 0 {
                continue; // whole addresses: a valid (shorter) list
            }
            let request = OidRequest::set(oid, &input[..length]);
            let done = complete(&mut sim, &request);
            let what = format!("set {oid:#x} with {length} of {} bytes", input.len());
            assert_short(&done, &request, NDIS_STATUS_INVALID_LENGTH, &what);
            // Progress: the bytes it asks for are not refused as too short again.
            let needed = usize::try_from(done.bytes_needed).unwrap();
            if needed <= input.len() {
                let retry = complete(&mut sim, &OidRequest::set(oid, &input[..needed]));
                assert_ne!(retry.status, NDIS_STATUS_INVALID_LENGTH, "{what}: retry");
                set(&mut sim, oid, &undo_input(oid, &before));
            }
            assert_eq!(answer(&mut sim, oid), before, "{what}: the setting changed");
        }
        let done = succeed(&mut sim, &OidRequest::set(oid, &input));
        assert_eq!(done.bytes_read, length_u32(input.len()), "set {oid:#x}: BytesRead");
        set(&mut sim, oid, &undo_input(oid, &before));
    }
    stop(sim);
}

/// What a query of `oid` answers (its `BytesWritten` bytes).
fn answer(sim: &mut Sim, oid: u32) -> Vec<u8> {
    let mut done = succeed(sim, &OidRequest::query(oid, 0x400));
    done.buffer.truncate(usize::try_from(done.bytes_written).unwrap());
    done.buffer
}

/// The set input that restores what a query of `oid` answered.
fn undo_input(oid: u32, answer: &[u8]) -> Vec<u8> {
    match oid {
        OID_GEN_CURRENT_PACKET_FILTER | OID_GEN_CURRENT_LOOKAHEAD => answer[..4].to_vec(),
        OID_GEN_INTERRUPT_MODERATION => answer[..12].to_vec(),
        _ => answer.to_vec(), // the multicast list: its addresses
    }
}

/// `method` with every input shorter than its structure, and with its whole input but every
/// output room shorter than it: refused as short, with progress (given the bytes it asked for,
/// it asks for more or is satisfied). Returns the requests sent.
fn short_method(sim: &mut Sim, method: &OidRequest) -> usize {
    let full = method.input.len();
    let mut requests = 0;
    for length in 0..full {
        let mut truncated = method.clone();
        truncated.input.truncate(length);
        truncated.output_length = length_u32(length);
        let mut short_room = method.clone();
        short_room.output_length = length_u32(length);
        for request in [truncated, short_room] {
            let what = format!(
                "method {:#x}: input {}, output {}",
                request.oid,
                request.input.len(),
                request.output_length
            );
            let done = complete(sim, &request);
            requests += 1;
            assert_short(&done, &request, NDIS_STATUS_INVALID_LENGTH, &what);
            let needed = usize::try_from(done.bytes_needed).unwrap();
            assert!(needed <= full, "{what}");
            if needed == full {
                continue; // the whole request, which is known to be right
            }
            let mut retry = method.clone();
            retry.input.truncate(needed);
            retry.output_length = length_u32(needed);
            let again = complete(sim, &retry);
            requests += 1;
            assert_ne!(again.status, NDIS_STATUS_SUCCESS, "{what}: a part succeeded");
            if again.status == NDIS_STATUS_INVALID_LENGTH {
                assert!(again.bytes_needed > done.bytes_needed, "{what}: no progress");
            }
        }
    }
    requests
}

/// The set `request` with every shorter input: refused as short, with progress.
fn short_set(sim: &mut Sim, request: &OidRequest) -> usize {
    let mut requests = 0;
    for length in 0..request.input.len() {
        let short = OidRequest::set(request.oid, &request.input[..length]);
        let what = format!("set {:#x} with {length} bytes", request.oid);
        let done = complete(sim, &short);
        requests += 1;
        assert_short(&done, &short, NDIS_STATUS_INVALID_LENGTH, &what);
        let needed = usize::try_from(done.bytes_needed).unwrap();
        if needed >= request.input.len() {
            continue;
        }
        let again = complete(sim, &OidRequest::set(request.oid, &request.input[..needed]));
        requests += 1;
        assert_ne!(again.status, NDIS_STATUS_SUCCESS, "{what}: a part succeeded");
        if again.status == NDIS_STATUS_INVALID_LENGTH {
            assert!(again.bytes_needed > done.bytes_needed, "{what}: no progress");
        }
    }
    requests
}

/// The VMQ methods with every input shorter than the structure (and with every output shorter
/// than the input), and the VMQ sets with every short input: INVALID_LENGTH with BytesNeeded,
/// nothing read, written or programmed. CLEAR_FILTER and FREE_QUEUE complete with SUCCESS
/// (NdisOidComplete) and change nothing.
#[test]
fn short_vmq_requests_get_bytes_needed_and_change_nothing() {
    let mut sim = adapter();
    // Queue 1 allocated with a filter, queue 2 allocated and completed: every OID has
    // something it could wrongly act on.
    succeed(&mut sim, &vmq_requests::allocate_queue(1, 0, 0b10));
    succeed(&mut sim, &mac_filter(1, 1));
    succeed(&mut sim, &vmq_requests::allocate_queue(2, 1, 0b01));
    let methods = [
        vmq_requests::allocate_queue(3, 1, 0b10),
        vmq_requests::set_filter(
            1,
            2,
            &[
                FilterField::Mac { address: VM_MAC, untagged_or_zero: false },
                FilterField::Vlan(100),
            ],
        ),
        vmq_requests::allocation_complete(&[2]),
    ];
    let sets = [
        vmq_requests::change_affinity(1, 1, 0b01),
        OidRequest::set(OID_RECEIVE_FILTER_GLOBAL_PARAMETERS, &global_parameters(true)),
    ];
    let must_succeed = [vmq_requests::clear_filter(1, 1), vmq_requests::free_queue(2)];
    let baseline = registers(&sim);
    let mut requests = 0;
    for method in &methods {
        requests += short_method(&mut sim, method);
    }
    for request in &sets {
        requests += short_set(&mut sim, request);
    }
    for request in &must_succeed {
        for length in 0..request.input.len() {
            let short = OidRequest::set(request.oid, &request.input[..length]);
            let done = complete(&mut sim, &short);
            requests += 1;
            assert_eq!(
                (done.status, done.bytes_read),
                (NDIS_STATUS_SUCCESS, 0),
                "set {:#x} with {length} bytes: SUCCESS (NdisOidComplete), nothing read",
                request.oid
            );
        }
    }
    assert_eq!(registers(&sim), baseline, "short requests changed the VMDq registers");
    eprintln!("{requests} short VMQ requests");
    // The state is as before: the filter and both queues still exist, queue 3 does not.
    let again = complete(&mut sim, &mac_filter(1, 1));
    assert_eq!(again.status, NDIS_STATUS_INVALID_PARAMETER, "filter 1 still exists");
    for request in [
        vmq_requests::allocate_queue(3, 1, 0b10),
        vmq_requests::allocation_complete(&[2, 3]),
        vmq_requests::clear_filter(1, 1),
        vmq_requests::free_queue(3),
        vmq_requests::free_queue(2),
        vmq_requests::free_queue(1),
    ] {
        let done = succeed(&mut sim, &request);
        if request.oid == OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE {
            for index in 0..2 {
                let status = vmq_requests::completion_status(&done.buffer, index);
                assert_eq!(status, Some(NDIS_STATUS_SUCCESS), "element {index}");
            }
        }
    }
    stop(sim);
}

// ---- Rule 3: methods ------------------------------------------------------------------------

/// Each VMQ method, successful and refused, with room for output beyond its input filled with
/// two different garbage patterns (the request undone in between): identical answers, nothing
/// beyond the input written.
#[test]
fn methods_never_read_or_write_beyond_their_input() {
    let mut sim = adapter();
    let with_room = |mut request: OidRequest| {
        request.output_length = length_u32(request.input.len() + 0x200);
        request
    };
    // ALLOCATE_QUEUE, freed in between.
    let allocate = with_room(vmq_requests::allocate_queue(1, 0, 0b10));
    let done = same_answer_whatever_the_garbage(&mut sim, &allocate, |sim, _| {
        succeed(sim, &vmq_requests::free_queue(1));
    });
    assert_eq!(done.status, NDIS_STATUS_SUCCESS);
    assert_eq!(done.bytes_written, length_u32(allocate.input.len()));
    // SET_FILTER, cleared in between.
    let filter = with_room(mac_filter(1, 1));
    let done = same_answer_whatever_the_garbage(&mut sim, &filter, |sim, _| {
        succeed(sim, &vmq_requests::clear_filter(1, 1));
    });
    assert_eq!(done.status, NDIS_STATUS_SUCCESS);
    // QUEUE_ALLOCATION_COMPLETE: the queue freed, allocated and filtered again in between.
    let complete_1 = with_room(vmq_requests::allocation_complete(&[1]));
    let done = same_answer_whatever_the_garbage(&mut sim, &complete_1, |sim, _| {
        succeed(sim, &vmq_requests::clear_filter(1, 1));
        succeed(sim, &vmq_requests::free_queue(1));
        succeed(sim, &vmq_requests::allocate_queue(1, 0, 0b10));
        succeed(sim, &mac_filter(1, 1));
    });
    assert_eq!(done.status, NDIS_STATUS_SUCCESS);
    assert_eq!(vmq_requests::completion_status(&done.buffer, 0), Some(NDIS_STATUS_SUCCESS));
    // Refused methods: a duplicate queue id, a duplicate filter id; an unknown queue (the OID
    // succeeds, its element carries the refusal).
    for request in [vmq_requests::allocate_queue(1, 0, 0b10), mac_filter(1, 1)] {
        let done = same_answer_whatever_the_garbage(&mut sim, &with_room(request), |_, _| {});
        assert_ne!(done.status, NDIS_STATUS_SUCCESS);
    }
    let unknown = with_room(vmq_requests::allocation_complete(&[7]));
    let done = same_answer_whatever_the_garbage(&mut sim, &unknown, |_, _| {});
    assert_eq!(done.status, NDIS_STATUS_SUCCESS);
    assert_eq!(
        vmq_requests::completion_status(&done.buffer, 0),
        Some(NDIS_STATUS_INVALID_PARAMETER)
    );
    succeed(&mut sim, &vmq_requests::clear_filter(1, 1));
    succeed(&mut sim, &vmq_requests::free_queue(1));
    stop(sim);
}

/// A method whose input lacks the end of its structure, with exactly that missing end in the
/// garbage after the input: a driver that read beyond `InputBufferLength` would find a valid
/// request there. SET_FILTER announcing two fields with one in the input, and
/// QUEUE_ALLOCATION_COMPLETE announcing two elements with one in the input, are refused as
/// too short, and the garbage stays as it was.
#[test]
fn methods_do_not_take_the_bytes_after_their_input_for_input() {
    let mut sim = adapter();
    succeed(&mut sim, &vmq_requests::allocate_queue(1, 0, 0b10));
    succeed(&mut sim, &vmq_requests::allocate_queue(2, 1, 0b01));
    let baseline = registers(&sim);
    let two_fields = vmq_requests::set_filter(
        1,
        1,
        &[FilterField::Mac { address: VM_MAC, untagged_or_zero: false }, FilterField::Vlan(100)],
    );
    let two_elements = vmq_requests::allocation_complete(&[1, 2]);
    let one_field = size_of::<NDIS_RECEIVE_FILTER_PARAMETERS>()
        + size_of::<NDIS_RECEIVE_FILTER_FIELD_PARAMETERS>();
    let one_element = size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY>()
        + size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS>();
    for (full, cut) in [(two_fields, one_field), (two_elements, one_element)] {
        let mut request = full.clone();
        let rest = request.input.split_off(cut);
        // The rest of the structure, then zeros: exactly the full request's buffer.
        let fill: Vec<u8> = rest.iter().copied().chain([0; 0x100]).collect();
        let request = request.with_fill(&fill);
        let done = complete(&mut sim, &request);
        let what = format!("method {:#x} cut at {cut} of {}", full.oid, full.input.len());
        assert_short(&done, &request, NDIS_STATUS_INVALID_LENGTH, &what);
        assert_eq!(done.bytes_needed, length_u32(full.input.len()), "{what}");
    }
    assert_eq!(registers(&sim), baseline, "a refused method changed the registers");
    succeed(&mut sim, &vmq_requests::free_queue(1));
    succeed(&mut sim, &vmq_requests::free_queue(2));
    stop(sim);
}

// ---- Rules 1–3 over every OID and request type ----------------------------------------------

/// Every OID (handled or not) as every request type, with buffers of many lengths full of
/// garbage: queries and methods answer identically under both patterns and write only below
/// BytesWritten; sets read at most their input and give BytesNeeded when short; what the
/// driver does not handle is NOT_SUPPORTED and untouched.
#[test]
fn every_oid_and_request_type_keeps_to_its_buffer() {
    let mut sim = adapter();
    let lengths = [0usize, 1, 3, 4, 6, 7, 8, 12, 0x10, 0x14, 0x24, 0x98, 0x43C, 0x444, 0x600];
    let mut requests = 0;
    for oid in every_oid() {
        for kind in [
            OidKind::Query,
            OidKind::QueryStatistics,
            OidKind::Set,
            OidKind::Method { method_id: 0 },
        ] {
            if set_only(oid) && kind != OidKind::Set {
                continue;
            }
            for length in lengths {
                let length32 = length_u32(length);
                let what = format!("OID {oid:#x} as {kind:?}, {length} bytes");
                if kind == OidKind::Set {
                    // The garbage is the input: no two runs to compare, but the rules hold.
                    for pattern in [garbage(false), garbage(true)] {
                        let input: Vec<u8> = pattern.iter().copied().cycle().take(length).collect();
                        let done = complete(&mut sim, &OidRequest::set(oid, &input));
                        requests += 1;
                        assert!(done.bytes_read <= length32, "{what}: BytesRead beyond the input");
                        assert_eq!(done.bytes_written, 0, "{what}");
                        if done.status == NDIS_STATUS_INVALID_LENGTH {
                            assert!(done.bytes_needed > length32, "{what}: BytesNeeded");
                        }
                        if done.status != NDIS_STATUS_SUCCESS {
                            assert_eq!(done.bytes_read, 0, "{what}");
                        }
                    }
                    continue;
                }
                let request = match kind {
                    OidKind::Method { .. } => OidRequest::method(oid, &[], length32),
                    OidKind::QueryStatistics => OidRequest::query(oid, length32).as_statistics(),
                    _ => OidRequest::query(oid, length32),
                };
                let done = same_answer_whatever_the_garbage(&mut sim, &request, |_, _| {});
                requests += 2;
                if matches!(done.status, NDIS_STATUS_BUFFER_TOO_SHORT | NDIS_STATUS_INVALID_LENGTH)
                {
                    let given = length_u32(answer_room(&request));
                    assert!(done.bytes_needed > given, "{what}: BytesNeeded");
                }
                let handled_query =
                    SUPPORTED_OIDS.contains(&oid) && !matches!(kind, OidKind::Method { .. });
                if !handled_query && !is_vmq_method(oid, kind) {
                    assert_eq!(done.status, NDIS_STATUS_NOT_SUPPORTED, "{what}");
                }
            }
        }
    }
    eprintln!("{requests} requests");
    // Garbage sets may have changed the general settings; the queues are untouched.
    set(&mut sim, OID_GEN_CURRENT_PACKET_FILTER, &common::USUAL_FILTER.to_le_bytes());
    stop(sim);
}

/// CLEAR_FILTER and FREE_QUEUE: NDIS sends them only as sets, and the simulator applies the
/// verifier rule NdisOidComplete (SUCCESS, PENDING, NOT_ACCEPTED or REQUEST_ABORTED only) to
/// them whatever the request type, as the rule's text does; the driver answers a query or
/// method of them NOT_SUPPORTED, so they are sent as sets only.
fn set_only(oid: u32) -> bool {
    [OID_RECEIVE_FILTER_CLEAR_FILTER, OID_RECEIVE_FILTER_FREE_QUEUE].contains(&oid)
}

fn is_vmq_method(oid: u32, kind: OidKind) -> bool {
    matches!(kind, OidKind::Method { .. })
        && [
            OID_RECEIVE_FILTER_ALLOCATE_QUEUE,
            OID_RECEIVE_FILTER_SET_FILTER,
            OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE,
        ]
        .contains(&oid)
}

// ---- Rule 4: embedded offsets ---------------------------------------------------------------

/// Offsets, counts and element sizes near `u32::MAX`, and combinations whose product or sum
/// wraps in 32 bits to something that looks valid.
fn hostile_arrays(header: u32, element: u32) -> Vec<(u32, u32, u32)> {
    let valid = (header, 1, element);
    let mut out = vec![
        // first + count × stride wraps to the valid end (or just past the header).
        ((header + 1).wrapping_sub(element).wrapping_add(u32::MAX), 1, element),
        (u32::MAX, 1, element),
        (u32::MAX - 3, 1, element),
        (0x8000_0000, 1, element),
        (0x7FFF_FFFF, 2, element),
        // count × stride wraps to 0 or to one element.
        (header, 2, 0x8000_0000),
        (header, 2, 0x8000_0000 + element / 2),
        (header, 0x1_0000, 0x1_0000),
        (header, 0x4000_0000, 4 * element),
        (header, 0x2000_0001, 8),
        (header, 0x8000_0001, 2 * element),
        // counts and sizes at the limit.
        (header, u32::MAX, element),
        (header, u32::MAX, u32::MAX),
        (header, 1, u32::MAX),
        (header, 2, u32::MAX),
        (header, 1, u32::MAX - header + 1),
        (u32::MAX, u32::MAX, u32::MAX),
        // the array inside the header, or before it.
        (0, 1, element),
        (header - 1, 1, element),
        (4, 1, element),
    ];
    out.retain(|a| *a != valid);
    out
}

/// Writes (first, count, stride) at the three offsets of an array header.
fn with_array(
    mut request: OidRequest,
    at: [usize; 3],
    (first, count, stride): (u32, u32, u32),
) -> OidRequest {
    for (offset, value) in at.into_iter().zip([first, count, stride]) {
        request.input[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }
    request
}

/// SET_FILTER and QUEUE_ALLOCATION_COMPLETE with hostile array headers: refused with
/// INVALID_PARAMETER or INVALID_LENGTH (BytesNeeded more than given), nothing written into the
/// buffer, no register changed, and valid requests afterwards work as if nothing happened.
#[test]
fn embedded_offsets_near_u32_max_and_wrapping_products_are_refused() {
    let mut sim = adapter();
    succeed(&mut sim, &vmq_requests::allocate_queue(1, 0, 0b10));
    let baseline = registers(&sim);
    let filter_header = length_u32(size_of::<NDIS_RECEIVE_FILTER_PARAMETERS>());
    let field = length_u32(size_of::<NDIS_RECEIVE_FILTER_FIELD_PARAMETERS>());
    let array_header = length_u32(size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY>());
    let element = length_u32(size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS>());
    let filter_fields = [
        offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FieldParametersArrayOffset),
        offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FieldParametersArrayNumElements),
        offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FieldParametersArrayElementSize),
    ];
    let array_fields = [
        offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, FirstElementOffset),
        offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, NumElements),
        offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, ElementSize),
    ];
    let mut cases = Vec::new();
    for array in hostile_arrays(filter_header, field) {
        cases.push((with_array(mac_filter(1, 1), filter_fields, array), array));
    }
    for array in hostile_arrays(array_header, element) {
        cases.push((
            with_array(vmq_requests::allocation_complete(&[1]), array_fields, array),
            array,
        ));
    }
    for (request, array) in &cases {
        // As sent, and with room for output beyond the input full of garbage.
        let mut roomy = request.clone();
        roomy.output_length = length_u32(request.input.len() + 0x100);
        for request in [request.clone(), roomy.with_fill(&garbage(false))] {
            let what = format!("OID {:#x} with (first, count, size) {array:x?}", request.oid);
            let done = complete(&mut sim, &request);
            assert!(
                matches!(done.status, NDIS_STATUS_INVALID_PARAMETER | NDIS_STATUS_INVALID_LENGTH),
                "{what}: status {:#x}",
                done.status
            );
            if done.status == NDIS_STATUS_INVALID_LENGTH {
                assert!(
                    usize::try_from(done.bytes_needed).unwrap() > request.input.len(),
                    "{what}: BytesNeeded {}",
                    done.bytes_needed
                );
            }
            assert_eq!((done.bytes_written, done.bytes_read), (0, 0), "{what}");
            assert_eq!(done.buffer, expected(&request), "{what}: the buffer was written");
        }
    }
    assert_eq!(registers(&sim), baseline, "a refused request changed the registers");
    assert_eq!(sim.violations(), vec![]);
    eprintln!("{} hostile array headers, each sent twice", cases.len());
    // Nothing was installed or completed: filter 1 and the completion are still possible.
    succeed(&mut sim, &mac_filter(1, 1));
    let done = succeed(&mut sim, &vmq_requests::allocation_complete(&[1]));
    assert_eq!(vmq_requests::completion_status(&done.buffer, 0), Some(NDIS_STATUS_SUCCESS));
    succeed(&mut sim, &vmq_requests::clear_filter(1, 1));
    succeed(&mut sim, &vmq_requests::free_queue(1));
    stop(sim);
}

/// A set has no output: every set the driver handles, successful, leaves its buffer exactly
/// as NDIS passed it and reads at most its input.
#[test]
fn sets_never_write_their_input_buffer() {
    let mut sim = adapter();
    succeed(&mut sim, &vmq_requests::allocate_queue(1, 0, 0b10));
    succeed(&mut sim, &mac_filter(1, 1));
    let mut requests = vec![
        vmq_requests::change_affinity(1, 1, 0b01),
        OidRequest::set(OID_RECEIVE_FILTER_GLOBAL_PARAMETERS, &global_parameters(true)),
        vmq_requests::clear_filter(1, 1),
        vmq_requests::free_queue(1),
    ];
    requests.extend(general_sets().into_iter().map(|(oid, input)| OidRequest::set(oid, &input)));
    for request in requests {
        let done = complete(&mut sim, &request);
        assert_eq!(done.status, NDIS_STATUS_SUCCESS, "set {:#x}", request.oid);
        assert_eq!(done.buffer, request.input, "set {:#x} wrote its buffer", request.oid);
        assert!(usize::try_from(done.bytes_read).unwrap() <= request.input.len());
    }
    stop(sim);
}
