//! The VMQ OIDs a protocol (the Hyper-V switch) sends, as [`OidRequest`]s with their
//! information buffers laid out as NDIS lays them out (spec §2.2): one place for every test
//! that drives a miniport's VMQ path.

use std::mem::{offset_of, size_of};

use vmqnic::ndis::{
    NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS,
    NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO,
    NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, NDIS_RECEIVE_FILTER_PARAMETERS,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, NDIS_RECEIVE_QUEUE_FREE_PARAMETERS,
    NDIS_RECEIVE_QUEUE_PARAMETERS, NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED,
    NdisFrameHeaderMac, NdisMacHeaderFieldDestinationAddress, NdisMacHeaderFieldVlanId,
    NdisReceiveFilterTestEqual, OID_RECEIVE_FILTER_ALLOCATE_QUEUE, OID_RECEIVE_FILTER_CLEAR_FILTER,
    OID_RECEIVE_FILTER_FREE_QUEUE, OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE,
    OID_RECEIVE_FILTER_QUEUE_PARAMETERS, OID_RECEIVE_FILTER_SET_FILTER,
};

use crate::sim::OidRequest;

/// `NdisReceiveQueueTypeVMQueue`.
const VM_QUEUE: u32 = 1;
/// `NdisReceiveFilterTypeVMQueue`.
const VM_QUEUE_FILTER: u32 = 1;

fn put(buffer: &mut [u8], offset: usize, value: u32) {
    buffer[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

/// Writes an `NDIS_OBJECT_HEADER` {0x80 (default), `revision`, `size`} at the start of
/// `buffer`.
pub fn header(buffer: &mut [u8], revision: u8, size: usize) {
    let size = u16::try_from(size).expect("object sizes fit a USHORT");
    buffer[0] = 0x80;
    buffer[1] = revision;
    buffer[2..4].copy_from_slice(&size.to_le_bytes());
}

/// One field test of a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterField {
    /// Destination MAC address equal to this; `untagged_or_zero` sets
    /// `NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO` (what the Hyper-V switch
    /// does for a VM without a VLAN).
    Mac {
        /// The address.
        address: [u8; 6],
        /// Only untagged frames (or VLAN 0).
        untagged_or_zero: bool,
    },
    /// VLAN id equal to this (`FieldShortValue`, in the byte order NETVMINI and vmqnic use:
    /// the host's).
    Vlan(u16),
}

/// The `NDIS_RECEIVE_QUEUE_PARAMETERS` (revision 2, 0x444 bytes) of a VM queue with
/// `queue_id` and affinity `mask` in `group`; `flags` as the protocol sets them.
#[must_use]
pub fn queue_parameters(queue_id: u32, group: u16, mask: u64, flags: u32) -> Vec<u8> {
    let size = 0x444;
    let mut p = vec![0u8; size_of::<NDIS_RECEIVE_QUEUE_PARAMETERS>()];
    header(&mut p, 2, size);
    put(&mut p, offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, Flags), flags);
    put(&mut p, offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, QueueType), VM_QUEUE);
    put(&mut p, offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, QueueId), queue_id);
    let affinity = offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, ProcessorAffinity);
    p[affinity..affinity + 8].copy_from_slice(&mask.to_le_bytes());
    p[affinity + 8..affinity + 10].copy_from_slice(&group.to_le_bytes());
    p.truncate(size);
    p
}

/// OID_RECEIVE_FILTER_ALLOCATE_QUEUE (method) for a VM queue on `group`:`mask`.
#[must_use]
pub fn allocate_queue(queue_id: u32, group: u16, mask: u64) -> OidRequest {
    let p = queue_parameters(queue_id, group, mask, 0);
    let length = u32::try_from(p.len()).unwrap_or(u32::MAX);
    OidRequest::method(OID_RECEIVE_FILTER_ALLOCATE_QUEUE, &p, length)
}

/// OID_RECEIVE_FILTER_QUEUE_PARAMETERS (set) moving queue `queue_id` to `group`:`mask`.
#[must_use]
pub fn change_affinity(queue_id: u32, group: u16, mask: u64) -> OidRequest {
    let flags = NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED;
    OidRequest::set(
        OID_RECEIVE_FILTER_QUEUE_PARAMETERS,
        &queue_parameters(queue_id, group, mask, flags),
    )
}

/// OID_RECEIVE_FILTER_SET_FILTER (method): filter `filter_id` on queue `queue_id` with
/// `fields` (ANDed), the field array right after the parameters.
#[must_use]
pub fn set_filter(queue_id: u32, filter_id: u32, fields: &[FilterField]) -> OidRequest {
    let parameters = size_of::<NDIS_RECEIVE_FILTER_PARAMETERS>();
    let element = size_of::<NDIS_RECEIVE_FILTER_FIELD_PARAMETERS>();
    let mut p = vec![0u8; parameters + fields.len() * element];
    header(&mut p, 2, parameters);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FilterType), VM_QUEUE_FILTER);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, QueueId), queue_id);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FilterId), filter_id);
    let count = u32::try_from(fields.len()).unwrap_or(u32::MAX);
    let at = |field| u32::try_from(field).unwrap_or(u32::MAX);
    put(
        &mut p,
        offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FieldParametersArrayOffset),
        at(parameters),
    );
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FieldParametersArrayNumElements), count);
    put(
        &mut p,
        offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FieldParametersArrayElementSize),
        at(element),
    );
    for (i, field) in fields.iter().enumerate() {
        let base = parameters + i * element;
        header(&mut p[base..], 1, element);
        put(
            &mut p,
            base + offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, FrameHeader),
            NdisFrameHeaderMac,
        );
        put(
            &mut p,
            base + offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, ReceiveFilterTest),
            NdisReceiveFilterTestEqual,
        );
        let value = base + offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, FieldValue);
        let (kind, flags) = match *field {
            FilterField::Mac { address, untagged_or_zero } => {
                p[value..value + 6].copy_from_slice(&address);
                let flags = if untagged_or_zero {
                    NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO
                } else {
                    0
                };
                (NdisMacHeaderFieldDestinationAddress, flags)
            }
            FilterField::Vlan(vlan) => {
                p[value..value + 2].copy_from_slice(&vlan.to_le_bytes());
                (NdisMacHeaderFieldVlanId, 0)
            }
        };
        put(&mut p, base + offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, Flags), flags);
        put(&mut p, base + offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, HeaderField), kind);
    }
    let length = u32::try_from(p.len()).unwrap_or(u32::MAX);
    OidRequest::method(OID_RECEIVE_FILTER_SET_FILTER, &p, length)
}

/// OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE (method) for `queue_ids`.
#[must_use]
pub fn allocation_complete(queue_ids: &[u32]) -> OidRequest {
    let array = size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY>();
    let element = size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS>();
    let mut p = vec![0u8; array + queue_ids.len() * element];
    header(&mut p, 1, array);
    let word = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    put(
        &mut p,
        offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, FirstElementOffset),
        word(array),
    );
    put(
        &mut p,
        offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, NumElements),
        word(queue_ids.len()),
    );
    put(
        &mut p,
        offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, ElementSize),
        word(element),
    );
    for (i, queue_id) in queue_ids.iter().enumerate() {
        let base = array + i * element;
        header(&mut p[base..], 1, element);
        put(
            &mut p,
            base + offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, QueueId),
            *queue_id,
        );
    }
    let length = word(p.len());
    OidRequest::method(OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE, &p, length)
}

/// The `CompletionStatus` of element `index` of an answered QUEUE_ALLOCATION_COMPLETE buffer.
#[must_use]
pub fn completion_status(buffer: &[u8], index: usize) -> Option<i32> {
    let array = size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY>();
    let element = size_of::<NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS>();
    let at = array
        + index * element
        + offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, CompletionStatus);
    buffer.get(at..at + 4)?.try_into().ok().map(i32::from_le_bytes)
}

/// OID_RECEIVE_FILTER_CLEAR_FILTER (set).
#[must_use]
pub fn clear_filter(queue_id: u32, filter_id: u32) -> OidRequest {
    let size = size_of::<NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS>();
    let mut p = vec![0u8; size];
    header(&mut p, 1, size);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, QueueId), queue_id);
    put(&mut p, offset_of!(NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, FilterId), filter_id);
    OidRequest::set(OID_RECEIVE_FILTER_CLEAR_FILTER, &p)
}

/// OID_RECEIVE_FILTER_FREE_QUEUE (set).
#[must_use]
pub fn free_queue(queue_id: u32) -> OidRequest {
    let size = size_of::<NDIS_RECEIVE_QUEUE_FREE_PARAMETERS>();
    let mut p = vec![0u8; size];
    header(&mut p, 1, size);
    put(&mut p, offset_of!(NDIS_RECEIVE_QUEUE_FREE_PARAMETERS, QueueId), queue_id);
    OidRequest::set(OID_RECEIVE_FILTER_FREE_QUEUE, &p)
}
