//! What the miniport indicates and completes: status indications, OID completions, received
//! and sent NBLs, pause and restart completions.

use std::mem::offset_of;

use vmqnic::ndis::{
    self, Ieee8021QNetBufferListInfo, NDIS_HANDLE, NDIS_OBJECT_TYPE_STATUS_INDICATION,
    NDIS_OID_REQUEST, NDIS_PORT_NUMBER, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
    NDIS_RECEIVE_FLAGS_RESOURCES, NDIS_RECEIVE_FLAGS_SINGLE_QUEUE, NDIS_RECEIVE_QUEUE_STATE,
    NDIS_STATUS, NDIS_STATUS_INDICATION, NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_PENDING,
    NDIS_STATUS_RECEIVE_QUEUE_STATE, NDIS_STATUS_REQUEST_ABORTED, NDIS_STATUS_SUCCESS, NET_BUFFER,
    NET_BUFFER_LIST, NdisReceiveQueueOperationalStateDmaStopped, NetBufferListFilteringInfo,
    OID_RECEIVE_FILTER_CLEAR_FILTER, OID_RECEIVE_FILTER_FREE_QUEUE, ULONG,
};

use super::nbl::{DataError, net_buffer_bytes};
use super::{
    check_handle, check_irql, field, handle_rule, header_matches, irql_rule, read_header,
    read_versioned,
};
use crate::sim::cpu::{self, DISPATCH_LEVEL};
use crate::sim::oid::completion_of;
use crate::sim::state::{AdapterState, SimState, with_state};
use crate::sim::{
    ReceiveIndicationRecord, ReceivedNbl, ReturnPolicy, SendCompletionRecord,
    StatusIndicationRecord, lifecycle, rules,
};

/// Longest NBL or NB chain the simulator walks (a longer one is taken for a loop).
const MAX_CHAIN: usize = 1 << 16;

/// `NdisMIndicateStatusEx`: checks the header, the source handle and that an adapter exists
/// (never after MiniportHaltEx returned); records the indication with a copy of its buffer.
/// IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `StatusIndication` points to an indication of at least `Header.Size` bytes whose
/// `StatusBuffer` holds `StatusBufferSize` readable bytes (or is NULL).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMIndicateStatusEx(
    MiniportAdapterHandle: NDIS_HANDLE,
    StatusIndication: *const NDIS_STATUS_INDICATION,
) {
    let allowed = with_state(|s| {
        check_irql(s, irql_rule!(NdisMIndicateStatusEx), DISPATCH_LEVEL);
        if !check_handle(s, handle_rule!(NdisMIndicateStatusEx), MiniportAdapterHandle) {
            return false;
        }
        if !s.adapter_state.adapter_exists() {
            s.violate(
                rules::INDICATE_STATUS_AFTER_HALT,
                format!("no initialized adapter (state {:?})", s.adapter_state),
            );
            return false;
        }
        true
    });
    if !allowed {
        return;
    }
    // SAFETY: NULL or an indication starting with its header (caller).
    let Some(header) = (unsafe { read_header(StatusIndication.cast()) }) else { return };
    if !header_matches(header, NDIS_OBJECT_TYPE_STATUS_INDICATION, &[(1, 0x70)]) {
        with_state(|s| s.violate(rules::OBJECT_HEADER_STATUS_INDICATION, format!("{header:?}")));
        return;
    }
    // SAFETY: `Size` bytes of indication (header); all-zero is valid.
    let indication: NDIS_STATUS_INDICATION =
        unsafe { read_versioned(StatusIndication.cast(), usize::from(header.Size)) };
    let buffer = if indication.StatusBuffer.is_null() {
        Vec::new()
    } else {
        let length = usize::try_from(indication.StatusBufferSize).unwrap_or(0);
        // SAFETY: the caller vouches for StatusBufferSize readable bytes; copied at once.
        unsafe { std::slice::from_raw_parts(indication.StatusBuffer.cast::<u8>(), length) }.to_vec()
    };
    let irql = cpu::current().irql;
    with_state(|s| {
        if indication.SourceHandle as usize != s.miniport_handle {
            s.violate(
                rules::INDICATE_STATUS_SOURCE_HANDLE,
                format!("SourceHandle {:?}", indication.SourceHandle),
            );
        }
        if indication.StatusCode == NDIS_STATUS_RECEIVE_QUEUE_STATE {
            let field = |offset: usize| {
                buffer
                    .get(offset..offset + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes)
            };
            let queue = field(std::mem::offset_of!(NDIS_RECEIVE_QUEUE_STATE, QueueId));
            let state = field(std::mem::offset_of!(NDIS_RECEIVE_QUEUE_STATE, QueueState));
            if let (Some(queue), Some(NdisReceiveQueueOperationalStateDmaStopped)) = (queue, state)
            {
                s.dma_stopped_queues.insert(queue);
            }
        }
        s.status_indications.push(StatusIndicationRecord {
            status_code: indication.StatusCode,
            port: indication.PortNumber,
            buffer,
            irql,
        });
    });
}
const _: ndis::sig::NdisMIndicateStatusEx = NdisMIndicateStatusEx;

/// Whether `status` may finish `oid` (Driver Verifier NdisOidComplete: FREE_QUEUE and
/// CLEAR_FILTER may not fail). `asynchronous`: passed to NdisMOidRequestComplete, where
/// PENDING is never allowed.
pub(crate) fn oid_status_allowed(oid: u32, status: NDIS_STATUS, asynchronous: bool) -> bool {
    if asynchronous && status == NDIS_STATUS_PENDING {
        return false;
    }
    if oid == OID_RECEIVE_FILTER_FREE_QUEUE || oid == OID_RECEIVE_FILTER_CLEAR_FILTER {
        return matches!(
            status,
            NDIS_STATUS_SUCCESS | NDIS_STATUS_NOT_ACCEPTED | NDIS_STATUS_REQUEST_ABORTED
        ) || (!asynchronous && status == NDIS_STATUS_PENDING);
    }
    true
}

/// `NdisMOidRequestComplete`: finishes a request MiniportOidRequest returned as pending,
/// exactly once, with an allowed status, within [`SimConfig::oid_timeout`](crate::sim::SimConfig)
/// (12 s). IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `OidRequest` is the request NDIS passed to MiniportOidRequest.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMOidRequestComplete(
    MiniportAdapterHandle: NDIS_HANDLE,
    OidRequest: *mut NDIS_OID_REQUEST,
    Status: NDIS_STATUS,
) {
    with_state(|s| {
        check_irql(s, irql_rule!(NdisMOidRequestComplete), DISPATCH_LEVEL);
        check_handle(s, handle_rule!(NdisMOidRequestComplete), MiniportAdapterHandle);
        let Some(index) = s
            .oids
            .iter()
            .position(|r| std::ptr::addr_eq(&raw const *r.request.0, OidRequest.cast_const()))
        else {
            s.violate(
                rules::OID_COMPLETE_UNKNOWN_REQUEST,
                format!("{OidRequest:?} is not a request NDIS issued"),
            );
            return;
        };
        let (oid, finished, elapsed) = {
            let r = &s.oids[index];
            (r.oid, r.completion.clone(), r.issued.elapsed())
        };
        if let Some(done) = finished {
            s.violate(
                rules::OID_DOUBLE_COMPLETE,
                format!(
                    "OID {oid:#x} was already completed ({}) with {:#010x}",
                    if done.synchronous { "synchronously" } else { "by NdisMOidRequestComplete" },
                    done.status.cast_unsigned()
                ),
            );
            return;
        }
        if !oid_status_allowed(oid, Status, true) {
            s.violate(
                rules::OID_COMPLETE_STATUS,
                format!("OID {oid:#x} completed with {:#010x}", Status.cast_unsigned()),
            );
        }
        let timeout = s.config.as_ref().map_or(std::time::Duration::MAX, |c| c.oid_timeout);
        if elapsed > timeout {
            s.violate(rules::OID_TIMED_COMPLETE, format!("OID {oid:#x} took {elapsed:?}"));
        }
        let record = &mut s.oids[index];
        record.completion = Some(completion_of(record, Status, false));
        s.track_vmq(index);
    });
}
const _: ndis::sig::NdisMOidRequestComplete = NdisMOidRequestComplete;

/// One NBL of a chain as [`walk_nbls`] found it.
pub(crate) struct WalkedNbl {
    /// `SourceHandle`.
    pub(crate) source: usize,
    /// The addresses of its NBs.
    pub(crate) net_buffers: Vec<usize>,
    /// What the record keeps (bytes and VLAN not yet filled in).
    pub(crate) received: ReceivedNbl,
}

/// Walks an NBL chain: the NBL addresses, their NBs with their data lengths, and the
/// filtering and 802.1Q info.
///
/// # Safety
/// `head` is NULL or the first of a chain of valid NBLs, each with a valid NB chain.
pub(crate) unsafe fn walk_nbls(head: *const NET_BUFFER_LIST) -> Vec<WalkedNbl> {
    let mut out = Vec::new();
    let mut nbl = head;
    while !nbl.is_null() && out.len() < MAX_CHAIN {
        let at = nbl.cast_mut();
        // SAFETY: `nbl` is a valid NBL of the chain (caller), and each field address is inside
        // it (so for the reads below).
        let next = unsafe {
            field::<_, *const NET_BUFFER_LIST>(at, offset_of!(NET_BUFFER_LIST, Next)).read()
        };
        // SAFETY: as above.
        let first = unsafe {
            field::<_, *const NET_BUFFER>(at, offset_of!(NET_BUFFER_LIST, FirstNetBuffer)).read()
        };
        // SAFETY: as above.
        let source =
            unsafe { field::<_, usize>(at, offset_of!(NET_BUFFER_LIST, SourceHandle)).read() };
        let info = |index: usize| offset_of!(NET_BUFFER_LIST, NetBufferListInfo) + index * 8;
        // SAFETY: as above.
        let filtering = unsafe { field::<_, usize>(at, info(NetBufferListFilteringInfo)).read() };
        // SAFETY: as above.
        let ieee8021q = unsafe { field::<_, usize>(at, info(Ieee8021QNetBufferListInfo)).read() };
        let mut data_lengths = Vec::new();
        let mut net_buffers = Vec::new();
        let mut nb = first;
        while !nb.is_null() && data_lengths.len() < MAX_CHAIN {
            let at = nb.cast_mut();
            // SAFETY: `nb` is a valid NB of the NBL's chain (caller).
            let next_nb =
                unsafe { field::<_, *const NET_BUFFER>(at, offset_of!(NET_BUFFER, Next)).read() };
            // SAFETY: as above; DataLength is the ULONG view of the length union.
            let length = unsafe { field::<_, u32>(at, offset_of!(NET_BUFFER, DataLength)).read() };
            data_lengths.push(length);
            net_buffers.push(nb as usize);
            nb = next_nb;
        }
        out.push(WalkedNbl {
            source,
            net_buffers,
            received: ReceivedNbl {
                address: nbl as usize,
                queue_id: u16::try_from((filtering >> 16) & 0xFFFF).unwrap_or(0),
                filter_id: u16::try_from(filtering & 0xFFFF).unwrap_or(0),
                data_lengths,
                frames: Vec::new(),
                ieee8021q: (ieee8021q != 0).then(|| {
                    (
                        u16::try_from((ieee8021q >> 4) & 0xFFF).unwrap_or(0),
                        u8::try_from(ieee8021q & 0x7).unwrap_or(0),
                    )
                }),
            },
        });
        nbl = next;
    }
    out
}

/// Reads the bytes of every NB of a received chain, recording a violation for each NB whose
/// data cannot be read (the frames of that NBL stay empty).
///
/// # Safety
/// Each NB address is a valid NB of the chain being indicated.
unsafe fn read_received_bytes(s: &mut SimState, chain: &mut [WalkedNbl]) {
    for walked in chain.iter_mut() {
        let mut frames = Vec::new();
        for &nb in &walked.net_buffers {
            // SAFETY: a valid NB (caller); the MDLs' memory is the driver's receive buffers,
            // which it keeps while the NBL is indicated.
            match unsafe { net_buffer_bytes(s, nb as *const NET_BUFFER, &[]) } {
                Ok(bytes) => frames.push(bytes),
                Err(DataError::UnknownMdl(mdl)) => {
                    s.violate(
                        rules::RECEIVE_UNKNOWN_MDL,
                        format!("NB {nb:#x}: MDL {mdl:#x} is not a live NdisAllocateMdl MDL"),
                    );
                    frames.clear();
                    break;
                }
                Err(DataError::BeyondChain) => {
                    s.violate(
                        rules::RECEIVE_DATA_BEYOND_MDLS,
                        format!("NB {nb:#x}: DataOffset + DataLength beyond its MDL chain"),
                    );
                    frames.clear();
                    break;
                }
            }
        }
        walked.received.frames = frames;
    }
}

/// `NdisMIndicateReceiveNetBufferLists`: checks the adapter is running, the count, the source
/// handles, single-queue indications and the DISPATCH_LEVEL flag; records the chain (NBLs,
/// queue ids, lengths); takes ownership unless `NDIS_RECEIVE_FLAGS_RESOURCES`, returning the
/// NBLs as [`ReturnPolicy`] says. IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `NetBufferList` is a valid NBL chain the driver owns.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMIndicateReceiveNetBufferLists(
    MiniportAdapterHandle: NDIS_HANDLE,
    NetBufferList: *mut NET_BUFFER_LIST,
    PortNumber: NDIS_PORT_NUMBER,
    NumberOfNetBufferLists: ULONG,
    ReceiveFlags: ULONG,
) {
    // SAFETY: the caller's chain.
    let mut chain = unsafe { walk_nbls(NetBufferList) };
    let here = cpu::current();
    let return_now = with_state(|s| {
        let held = s.held_nbls();
        let mut already_held = false;
        for walked in &chain {
            let nbl = walked.received.address;
            if !s.nbls.contains_key(&nbl) {
                s.violate(
                    rules::RECEIVE_NBL_NOT_FROM_POOL,
                    format!("NBL {nbl:#x} is not a live NBL from one of the driver's pools"),
                );
            } else if held.contains(&nbl) {
                already_held = true;
                s.violate(
                    rules::RECEIVE_NBL_ALREADY_INDICATED,
                    format!("NBL {nbl:#x} is still held from an earlier indication"),
                );
            }
        }
        // SAFETY: the NBs of the caller's chain.
        unsafe { read_received_bytes(s, &mut chain) };
        check_irql(s, irql_rule!(NdisMIndicateReceiveNetBufferLists), DISPATCH_LEVEL);
        check_handle(s, handle_rule!(NdisMIndicateReceiveNetBufferLists), MiniportAdapterHandle);
        if !matches!(s.adapter_state, AdapterState::Running | AdapterState::Pausing) {
            s.violate(rules::RECEIVE_NOT_RUNNING, format!("adapter {:?}", s.adapter_state));
        }
        if usize::try_from(NumberOfNetBufferLists).ok() != Some(chain.len()) {
            s.violate(
                rules::RECEIVE_COUNT,
                format!(
                    "NumberOfNetBufferLists {NumberOfNetBufferLists}, chain of {}",
                    chain.len()
                ),
            );
        }
        let at_dispatch = here.irql == DISPATCH_LEVEL;
        if at_dispatch != (ReceiveFlags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL != 0) {
            s.violate(
                rules::RECEIVE_DISPATCH_FLAG,
                format!("ReceiveFlags {ReceiveFlags:#x} at {}", cpu::irql_name(here.irql)),
            );
        }
        for WalkedNbl { source, received, .. } in &chain {
            let nbl = received.address;
            if *source != s.miniport_handle {
                s.violate(
                    rules::RECEIVE_SOURCE_HANDLE,
                    format!("NBL {nbl:#x} has SourceHandle {source:#x}"),
                );
            }
        }
        for WalkedNbl { received, .. } in &chain {
            let nbl = received.address;
            let queue = u32::from(received.queue_id);
            if queue != 0
                && !s.vmq_queues.get(&queue).is_some_and(super::super::vmq::QueueTrack::running)
            {
                s.violate(
                    rules::RECEIVE_QUEUE_NOT_RUNNING,
                    format!(
                        "NBL {nbl:#x} on queue {queue}, which is not Running ({:?})",
                        s.vmq_queues.get(&queue)
                    ),
                );
            }
        }
        if ReceiveFlags & NDIS_RECEIVE_FLAGS_SINGLE_QUEUE != 0 {
            let mut queues: Vec<u16> = chain.iter().map(|n| n.received.queue_id).collect();
            queues.dedup();
            if queues.len() > 1 {
                s.violate(rules::RECEIVE_MIXED_QUEUES, format!("queues {queues:?} in one call"));
            }
        }
        s.receives.push(ReceiveIndicationRecord {
            nbls: chain.into_iter().map(|n| n.received).collect(),
            count: NumberOfNetBufferLists,
            flags: ReceiveFlags,
            port: PortNumber,
            irql: here.irql,
            processor: here.processor,
        });
        // A chain with an NBL the protocol already holds is not taken a second time (it will
        // be returned once, with the earlier indication).
        if ReceiveFlags & NDIS_RECEIVE_FLAGS_RESOURCES != 0
            || NetBufferList.is_null()
            || already_held
        {
            return false;
        }
        let policy = s.config.as_ref().map(|c| c.receive_returns).unwrap_or_default();
        if policy == ReturnPolicy::DuringIndication {
            true
        } else {
            s.unreturned.push((NetBufferList as usize, ReceiveFlags));
            false
        }
    });
    if return_now {
        lifecycle::return_nbls(&[(NetBufferList as usize, ReceiveFlags)]);
    }
}
const _: ndis::sig::NdisMIndicateReceiveNetBufferLists = NdisMIndicateReceiveNetBufferLists;

/// `NdisMSendNetBufferListsComplete`: each NBL must be an outstanding send; records its
/// status. IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `NetBufferList` is a valid NBL chain.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMSendNetBufferListsComplete(
    MiniportAdapterHandle: NDIS_HANDLE,
    NetBufferList: *mut NET_BUFFER_LIST,
    SendCompleteFlags: ULONG,
) {
    // SAFETY: the caller's chain.
    let chain = unsafe { walk_nbls(NetBufferList) };
    let statuses: Vec<NDIS_STATUS> = chain
        .iter()
        .map(|n| {
            let at = n.received.address as *mut NET_BUFFER_LIST;
            // SAFETY: each address is a valid NBL of the caller's chain.
            unsafe { field::<_, NDIS_STATUS>(at, offset_of!(NET_BUFFER_LIST, Status)).read() }
        })
        .collect();
    with_state(|s| {
        check_irql(s, irql_rule!(NdisMSendNetBufferListsComplete), DISPATCH_LEVEL);
        check_handle(s, handle_rule!(NdisMSendNetBufferListsComplete), MiniportAdapterHandle);
        for (walked, status) in chain.iter().zip(statuses) {
            let nbl = &walked.received.address;
            if !s.sends_outstanding.remove(nbl) {
                s.violate(
                    rules::SEND_COMPLETE_NOT_OUTSTANDING,
                    format!("NBL {nbl:#x} is not an outstanding send"),
                );
                continue;
            }
            s.send_completions.push(SendCompletionRecord {
                nbl: *nbl,
                status,
                flags: SendCompleteFlags,
            });
        }
    });
}
const _: ndis::sig::NdisMSendNetBufferListsComplete = NdisMSendNetBufferListsComplete;

/// `NdisMPauseComplete`: finishes a pause MiniportPause returned as pending.
/// IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisMPauseComplete(MiniportAdapterHandle: NDIS_HANDLE) {
    with_state(|s| {
        check_irql(s, irql_rule!(NdisMPauseComplete), DISPATCH_LEVEL);
        check_handle(s, handle_rule!(NdisMPauseComplete), MiniportAdapterHandle);
        if s.adapter_state == AdapterState::Pausing {
            s.adapter_state = AdapterState::Paused;
        } else {
            s.violate(rules::PAUSE_COMPLETE_NOT_PENDING, format!("adapter {:?}", s.adapter_state));
        }
    });
}
const _: ndis::sig::NdisMPauseComplete = NdisMPauseComplete;

/// `NdisMRestartComplete`: finishes a restart MiniportRestart returned as pending (a failure
/// status leaves the adapter paused). IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisMRestartComplete(
    MiniportAdapterHandle: NDIS_HANDLE,
    Status: NDIS_STATUS,
) {
    with_state(|s| {
        check_irql(s, irql_rule!(NdisMRestartComplete), DISPATCH_LEVEL);
        check_handle(s, handle_rule!(NdisMRestartComplete), MiniportAdapterHandle);
        if s.adapter_state == AdapterState::Restarting {
            s.adapter_state = if Status == NDIS_STATUS_SUCCESS {
                AdapterState::Running
            } else {
                AdapterState::Paused
            };
        } else {
            s.violate(
                rules::RESTART_COMPLETE_NOT_PENDING,
                format!("adapter {:?}", s.adapter_state),
            );
        }
    });
}
const _: ndis::sig::NdisMRestartComplete = NdisMRestartComplete;
