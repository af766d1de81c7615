//! Tests of the VMQ OID parsers. Buffers are built with the offsets of ndis-vmq-spec §3.6–§3.9
//! written out as literals, so a wrong `offset_of!` in the parser would show here.

use super::*;
use crate::ndis::{
    NDIS_RECEIVE_QUEUE_PARAMETERS_FLAGS_CHANGED,
    NDIS_RECEIVE_QUEUE_PARAMETERS_LOOKAHEAD_SPLIT_REQUIRED,
    NDIS_RECEIVE_QUEUE_PARAMETERS_NAME_CHANGED, NDIS_STATUS_FAILURE, NDIS_STATUS_SUCCESS,
};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

const INVALID: OidError = OidError::Rejected(NDIS_STATUS_INVALID_PARAMETER);
const NOT_SUPPORTED: OidError = OidError::Rejected(NDIS_STATUS_NOT_SUPPORTED);

fn put32(buffer: &mut [u8], offset: usize, value: u32) {
    buffer[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_header(buffer: &mut [u8], offset: usize, object_type: u8, revision: u8, size: u16) {
    buffer[offset] = object_type;
    buffer[offset + 1] = revision;
    buffer[offset + 2..offset + 4].copy_from_slice(&size.to_le_bytes());
}

// ---- NDIS_RECEIVE_QUEUE_PARAMETERS -------------------------------------------------------------

fn queue_parameters(revision: u8, queue_id: u32, group: u16, mask: u64, flags: u32) -> Vec<u8> {
    let size: u16 = match revision {
        1 => 0x43C,
        2 => 0x444,
        _ => 0x448,
    };
    let mut buffer = vec![0u8; usize::from(size)];
    put_header(&mut buffer, 0, 0x80, revision, size);
    put32(&mut buffer, 0x4, flags);
    put32(&mut buffer, 0x8, 1); // QueueType: VM queue
    put32(&mut buffer, 0xC, queue_id);
    buffer[0x18..0x20].copy_from_slice(&mask.to_le_bytes());
    buffer[0x20..0x22].copy_from_slice(&group.to_le_bytes());
    put32(&mut buffer, 0x28, 64); // NumSuggestedReceiveBuffers
    put32(&mut buffer, 0x2C, 0xDEAD); // MSIXTableEntry (NDIS's value, overwritten by the driver)
    buffer
}

#[test]
fn allocate_queue_reads_every_revision() {
    for (revision, size) in [(1u8, 0x43Cu32), (2, 0x444), (3, 0x448)] {
        let buffer = queue_parameters(revision, 7, 1, 0b1100, 0x1);
        let parsed = parse_allocate_queue(&buffer).unwrap();
        assert_eq!(parsed.bytes_read, size);
        assert_eq!(
            parsed.request,
            AllocateQueueRequest {
                queue_id: 7,
                affinity: ProcessorAffinity { group: 1, mask: 0b1100 },
                per_queue_receive_indication: true,
                suggested_receive_buffers: 64,
                revision,
            }
        );
    }
    // A future revision is read as revision 3.
    let mut buffer = queue_parameters(3, 7, 0, 1, 0);
    buffer[1] = 9;
    assert_eq!(parse_allocate_queue(&buffer).unwrap().bytes_read, 0x448);
}

#[test]
fn allocate_queue_lengths() {
    let buffer = queue_parameters(1, 7, 0, 1, 0);
    for length in [0, 3, 4, 0x43B] {
        assert_eq!(
            parse_allocate_queue(&buffer[..length]),
            Err(OidError::TooShort { needed: 0x43C }),
            "{length}"
        );
    }
    // A revision-2 header in a revision-1-sized buffer needs the revision-2 size.
    let mut buffer = queue_parameters(2, 7, 0, 1, 0);
    assert_eq!(parse_allocate_queue(&buffer[..0x43C]), Err(OidError::TooShort { needed: 0x444 }));
    // Trailing bytes beyond the structure are fine.
    buffer.extend_from_slice(&[0xFF; 16]);
    assert_eq!(parse_allocate_queue(&buffer).unwrap().bytes_read, 0x444);
    let error = OidError::TooShort { needed: 0x43C };
    assert_eq!((error.status(), error.bytes_needed()), (NDIS_STATUS_INVALID_LENGTH, 0x43C));
    assert_eq!(Outcome::from(error), Outcome::TooShort { needed: 0x43C });
    assert_eq!((INVALID.bytes_needed(), INVALID.status()), (0, NDIS_STATUS_INVALID_PARAMETER));
    assert_eq!(Outcome::from(INVALID), Outcome::Failed(NDIS_STATUS_INVALID_PARAMETER));
}

#[test]
fn allocate_queue_refusals() {
    let good = queue_parameters(2, 7, 0, 1, 0);
    let refused = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut buffer = good.clone();
        edit(&mut buffer);
        parse_allocate_queue(&buffer).unwrap_err()
    };
    assert_eq!(refused(&|b| b[0] = 0x81), INVALID, "type");
    assert_eq!(refused(&|b| b[1] = 0), INVALID, "revision 0");
    assert_eq!(refused(&|b| b[2..4].copy_from_slice(&0x443u16.to_le_bytes())), INVALID, "size");
    assert_eq!(refused(&|b| put32(b, 0x8, 2)), INVALID, "queue type");
    assert_eq!(refused(&|b| b[0x18..0x20].fill(0)), INVALID, "empty affinity");
    assert_eq!(refused(&|b| put32(b, 0xC, 0)), INVALID, "queue id 0");
    let mut qos = queue_parameters(3, 7, 0, 1, 0);
    put32(&mut qos, 0x444, 5);
    assert_eq!(parse_allocate_queue(&qos), Err(NOT_SUPPORTED));
    // QosSqId does not exist below revision 3: bytes there are not read.
    let mut rev2 = queue_parameters(2, 7, 0, 1, 0);
    rev2.extend_from_slice(&5u32.to_le_bytes());
    assert!(parse_allocate_queue(&rev2).is_ok());
}

#[test]
fn allocate_queue_ignores_lookahead_split() {
    let mut buffer =
        queue_parameters(2, 7, 0, 1, NDIS_RECEIVE_QUEUE_PARAMETERS_LOOKAHEAD_SPLIT_REQUIRED);
    put32(&mut buffer, 0x30, 128); // LookaheadSize
    let request = parse_allocate_queue(&buffer).unwrap().request;
    assert!(!request.per_queue_receive_indication);
}

#[test]
fn the_msix_table_entry_is_the_only_byte_written() {
    let mut buffer = queue_parameters(2, 7, 0, 1, 0);
    let before = buffer.clone();
    write_msix_table_entry(&mut buffer, 3).unwrap();
    let changed: Vec<usize> = (0..buffer.len()).filter(|&i| buffer[i] != before[i]).collect();
    assert_eq!(changed, [0x2C, 0x2D]); // 0xDEAD → 3
    assert_eq!(&buffer[0x2C..0x30], &3u32.to_le_bytes());
    let mut short = [0u8; 0x2F];
    assert_eq!(write_msix_table_entry(&mut short, 3), Err(OidError::TooShort { needed: 0x43C }));
    assert_eq!(short, [0u8; 0x2F]);
}

#[test]
fn queue_parameters_change() {
    let flags = NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED
        | NDIS_RECEIVE_QUEUE_PARAMETERS_SUGGESTED_RECV_BUFFER_NUMBERS_CHANGED
        | NDIS_RECEIVE_QUEUE_PARAMETERS_FLAGS_CHANGED
        | NDIS_RECEIVE_QUEUE_PARAMETERS_PER_QUEUE_RECEIVE_INDICATION;
    let buffer = queue_parameters(2, 9, 1, 0b100, flags);
    let parsed = parse_queue_parameters(&buffer).unwrap();
    assert_eq!(parsed.bytes_read, 0x444);
    assert_eq!(
        parsed.request,
        QueueParametersChange {
            queue_id: 9,
            changes: 0x7_0000,
            affinity: Some(ProcessorAffinity { group: 1, mask: 0b100 }),
            suggested_receive_buffers: Some(64),
            flags: 1,
        }
    );
    // Nothing changed: the values without change bits are not reported.
    let buffer = queue_parameters(2, 9, 1, 0, NDIS_RECEIVE_QUEUE_PARAMETERS_NAME_CHANGED);
    let request = parse_queue_parameters(&buffer).unwrap().request;
    assert_eq!(
        (request.changes, request.affinity, request.suggested_receive_buffers),
        (0x8_0000, None, None)
    );
    // An affinity change to nothing, or for the default queue.
    let buffer =
        queue_parameters(2, 9, 1, 0, NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED);
    assert_eq!(parse_queue_parameters(&buffer), Err(INVALID));
    let buffer =
        queue_parameters(2, 0, 1, 1, NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED);
    assert_eq!(parse_queue_parameters(&buffer), Err(INVALID));
    // The set form does not look at QueueType.
    let mut buffer = queue_parameters(2, 9, 0, 1, 0);
    put32(&mut buffer, 0x8, 0);
    assert!(parse_queue_parameters(&buffer).is_ok());
}

#[test]
fn queue_parameters_qos() {
    let changed = NDIS_RECEIVE_QUEUE_PARAMETERS_QOS_SQ_ID_CHANGED;
    assert_eq!(parse_queue_parameters(&queue_parameters(2, 9, 0, 1, changed)), Err(INVALID));
    let mut buffer = queue_parameters(3, 9, 0, 1, changed);
    assert!(parse_queue_parameters(&buffer).is_ok(), "back to no QoS queue");
    put32(&mut buffer, 0x444, 1);
    assert_eq!(parse_queue_parameters(&buffer), Err(NOT_SUPPORTED));
    assert_eq!(parse_queue_parameters(&buffer[..0x444]), Err(OidError::TooShort { needed: 0x448 }));
}

// ---- SET_FILTER ----------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Field {
    kind: u32,
    flags: u32,
    value: [u8; 16],
}

fn mac_field(mac: [u8; 6], flags: u32) -> Field {
    let mut value = [0u8; 16];
    value[..6].copy_from_slice(&mac);
    Field { kind: 1, flags, value }
}

fn vlan_field(vlan: u16) -> Field {
    let mut value = [0u8; 16];
    value[..2].copy_from_slice(&vlan.to_le_bytes());
    Field { kind: 4, flags: 0, value }
}

/// A revision-2 SET_FILTER buffer with `fields` right after the parameters, `stride` apart.
fn filter_buffer(queue_id: u32, filter_id: u32, fields: &[Field], stride: usize) -> Vec<u8> {
    let first = 0x30;
    let mut buffer = vec![0u8; first + stride * fields.len()];
    put_header(&mut buffer, 0, 0x80, 2, 0x2C);
    put32(&mut buffer, 0x8, 1); // FilterType: VMQ
    put32(&mut buffer, 0xC, queue_id);
    put32(&mut buffer, 0x10, filter_id);
    put32(&mut buffer, 0x14, u32::try_from(first).unwrap());
    put32(&mut buffer, 0x18, u32::try_from(fields.len()).unwrap());
    put32(&mut buffer, 0x1C, u32::try_from(stride).unwrap());
    for (index, field) in fields.iter().enumerate() {
        let base = first + index * stride;
        put_header(&mut buffer, base, 0x80, 1, 0x38);
        put32(&mut buffer, base + 0x4, field.flags);
        put32(&mut buffer, base + 0x8, 1); // FrameHeader: MAC
        put32(&mut buffer, base + 0xC, 1); // Test: Equal
        put32(&mut buffer, base + 0x10, field.kind);
        buffer[base + 0x18..base + 0x28].copy_from_slice(&field.value);
    }
    buffer
}

const MAC: [u8; 6] = [0x00, 0x15, 0x5D, 0x01, 0x02, 0x03];
const UNTAGGED: u32 = NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO;

#[test]
fn set_filter_mac_untagged_and_mac_vlan() {
    let parsed =
        parse_set_filter(&filter_buffer(3, 11, &[mac_field(MAC, UNTAGGED)], 0x38)).unwrap();
    assert_eq!(parsed.bytes_read, 0x30 + 0x38);
    assert_eq!(
        parsed.request,
        SetFilterRequest {
            queue_id: 3,
            filter_id: 11,
            mac: Some(MAC),
            vlan: None,
            untagged_or_zero: true
        }
    );
    // Either order, a wider stride.
    let buffer = filter_buffer(3, 12, &[vlan_field(100), mac_field(MAC, 0)], 0x40);
    let parsed = parse_set_filter(&buffer).unwrap();
    assert_eq!(parsed.bytes_read, 0x30 + 0x80);
    assert_eq!(
        parsed.request,
        SetFilterRequest {
            queue_id: 3,
            filter_id: 12,
            mac: Some(MAC),
            vlan: Some(100),
            untagged_or_zero: false
        }
    );
    // VLAN only (the default queue may take it), MAC only without the flag (the model decides).
    let request =
        parse_set_filter(&filter_buffer(0, 13, &[vlan_field(4094)], 0x38)).unwrap().request;
    assert_eq!((request.mac, request.vlan), (None, Some(4094)));
    let request =
        parse_set_filter(&filter_buffer(0, 14, &[mac_field(MAC, 0)], 0x38)).unwrap().request;
    assert_eq!((request.mac, request.untagged_or_zero), (Some(MAC), false));
}

#[test]
fn set_filter_revision_1_and_the_array_position() {
    let mut buffer = filter_buffer(3, 11, &[mac_field(MAC, UNTAGGED)], 0x38);
    put_header(&mut buffer, 0, 0x80, 1, 0x24);
    put32(&mut buffer, 0x28, 99); // VPortId does not exist in revision 1
    assert!(parse_set_filter(&buffer).is_ok());
    // The array may not overlap the parameters' first revision.
    put32(&mut buffer, 0x14, 0x20);
    assert_eq!(parse_set_filter(&buffer), Err(INVALID));
    // Revision 2 with a vPort.
    let mut buffer = filter_buffer(3, 11, &[mac_field(MAC, UNTAGGED)], 0x38);
    put32(&mut buffer, 0x28, 1);
    assert_eq!(parse_set_filter(&buffer), Err(INVALID));
}

#[test]
fn set_filter_lengths() {
    let buffer = filter_buffer(3, 11, &[mac_field(MAC, UNTAGGED), vlan_field(5)], 0x38);
    assert_eq!(parse_set_filter(&buffer[..0x23]), Err(OidError::TooShort { needed: 0x24 }));
    let mut rev2 = buffer.clone();
    rev2.truncate(0x28);
    assert_eq!(parse_set_filter(&rev2), Err(OidError::TooShort { needed: 0x2C }));
    // The array's end.
    let full = 0x30 + 2 * 0x38;
    assert_eq!(buffer.len(), full);
    assert_eq!(parse_set_filter(&buffer[..full - 1]), Err(OidError::TooShort { needed: 0xA0 }));
    // Offsets and sizes that overflow or leave u32.
    let mut huge = buffer.clone();
    put32(&mut huge, 0x14, u32::MAX);
    assert_eq!(parse_set_filter(&huge), Err(INVALID), "offset + size beyond u32");
    let mut huge = buffer.clone();
    put32(&mut huge, 0x1C, u32::MAX);
    assert_eq!(parse_set_filter(&huge), Err(INVALID), "2 × u32::MAX");
    let mut huge = buffer.clone();
    put32(&mut huge, 0x1C, 0x8000_0000);
    assert_eq!(parse_set_filter(&huge), Err(INVALID), "0x30 + 2 × 2^31");
    let mut large = buffer;
    put32(&mut large, 0x1C, 0x100);
    assert_eq!(parse_set_filter(&large), Err(OidError::TooShort { needed: 0x230 }));
}

#[test]
fn set_filter_refusals() {
    let good = filter_buffer(3, 11, &[mac_field(MAC, 0), vlan_field(100)], 0x38);
    let refused = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut buffer = good.clone();
        edit(&mut buffer);
        parse_set_filter(&buffer).unwrap_err()
    };
    let second = 0x30 + 0x38;
    assert_eq!(refused(&|b| put32(b, 0x8, 2)), INVALID, "packet coalescing");
    assert_eq!(refused(&|b| put32(b, 0x18, 0)), INVALID, "no field");
    assert_eq!(refused(&|b| put32(b, 0x18, 3)), INVALID, "three fields");
    assert_eq!(refused(&|b| put32(b, 0x1C, 0x37)), INVALID, "element size");
    assert_eq!(refused(&|b| b[second] = 0x81), INVALID, "field header type");
    assert_eq!(refused(&|b| b[second + 1] = 0), INVALID, "field revision");
    assert_eq!(refused(&|b| b[second + 2] = 0x37), INVALID, "field size");
    assert_eq!(refused(&|b| put32(b, second + 0x8, 3)), INVALID, "IPv4 header");
    assert_eq!(refused(&|b| put32(b, second + 0xC, 2)), INVALID, "mask-equal test");
    assert_eq!(refused(&|b| put32(b, second + 0x10, 2)), INVALID, "source address");
    assert_eq!(refused(&|b| put32(b, second + 0x10, 1)), INVALID, "two MAC tests");
    assert_eq!(refused(&|b| put32(b, second + 0x4, UNTAGGED)), INVALID, "flag on the VLAN");
    assert_eq!(refused(&|b| put32(b, 0x30 + 0x4, UNTAGGED)), INVALID, "untagged + VLAN");
    assert_eq!(refused(&|b| put32(b, 0x30 + 0x4, 2)), INVALID, "unknown MAC flag");
    for vlan in [0u16, 4095, 0x1064] {
        assert_eq!(
            refused(&|b| b[second + 0x18..second + 0x1A].copy_from_slice(&vlan.to_le_bytes())),
            INVALID,
            "VLAN {vlan}"
        );
    }
    let two_vlans = filter_buffer(3, 11, &[vlan_field(5), vlan_field(6)], 0x38);
    assert_eq!(parse_set_filter(&two_vlans), Err(INVALID));
}

#[test]
fn vlan_ids_are_read_in_the_chosen_order() {
    assert_eq!(FILTER_VLAN_ID_BYTE_ORDER, VlanIdByteOrder::Host);
    assert_eq!(decode_vlan_id([0x64, 0x00], VlanIdByteOrder::Host), 100);
    assert_eq!(decode_vlan_id([0x00, 0x64], VlanIdByteOrder::Network), 100);
    // 100 in network order, read as host order, is 25600: refused rather than misfiltered.
    let mut field = vlan_field(0);
    field.value[..2].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(parse_set_filter(&filter_buffer(0, 1, &[field], 0x38)), Err(INVALID));
}

// ---- QUEUE_ALLOCATION_COMPLETE -------------------------------------------------------------------

fn allocation_complete(queue_ids: &[u32], first: usize, stride: usize) -> Vec<u8> {
    let mut buffer = vec![0u8; first + stride * queue_ids.len()];
    put_header(&mut buffer, 0, 0x80, 1, 0x14);
    put32(&mut buffer, 0x8, u32::try_from(first).unwrap());
    put32(&mut buffer, 0xC, u32::try_from(queue_ids.len()).unwrap());
    put32(&mut buffer, 0x10, u32::try_from(stride).unwrap());
    for (index, id) in queue_ids.iter().enumerate() {
        let base = first + index * stride;
        put_header(&mut buffer, base, 0x80, 1, 0x10);
        put32(&mut buffer, base + 0x8, *id);
        put32(&mut buffer, base + 0xC, NDIS_STATUS_FAILURE.cast_unsigned());
    }
    buffer
}

#[test]
fn allocation_complete_ids_and_statuses() {
    let mut buffer = allocation_complete(&[4, 9, 2], 0x18, 0x14);
    let parsed = parse_allocation_complete(&buffer).unwrap();
    let array = parsed.request;
    assert_eq!(parsed.bytes_read, 0x18 + 3 * 0x14);
    assert_eq!((array.len(), array.is_empty()), (3, false));
    assert_eq!(array.queue_ids(&buffer).collect::<Vec<_>>(), [4, 9, 2]);
    assert_eq!(array.queue_id(&buffer, 3), None);
    let before = buffer.clone();
    for index in 0..array.len() {
        assert!(array.write_completion_status(&mut buffer, index, NDIS_STATUS_SUCCESS));
    }
    assert!(!array.write_completion_status(&mut buffer, 3, NDIS_STATUS_SUCCESS));
    let changed: Vec<usize> = (0..buffer.len()).filter(|&i| buffer[i] != before[i]).collect();
    let statuses: Vec<usize> =
        (0..3).flat_map(|i| 0x18 + i * 0x14 + 0xC..0x18 + i * 0x14 + 0x10).collect();
    // SUCCESS over FAILURE (0xC0000001): the first and last byte of each status change.
    assert!(changed.iter().all(|i| statuses.contains(i)), "{changed:x?}");
    for index in 0..3 {
        let at = 0x18 + index * 0x14 + 0xC;
        assert_eq!(&buffer[at..at + 4], &[0; 4]);
    }
    // An empty array.
    let empty = allocation_complete(&[], 0x14, 0x10);
    let array = parse_allocation_complete(&empty).unwrap().request;
    assert!(array.is_empty());
    assert_eq!(array.queue_ids(&empty).count(), 0);
}

#[test]
fn allocation_complete_refusals() {
    let good = allocation_complete(&[4, 9], 0x14, 0x10);
    assert_eq!(parse_allocation_complete(&good[..0x13]), Err(OidError::TooShort { needed: 0x14 }));
    assert_eq!(parse_allocation_complete(&good[..0x33]), Err(OidError::TooShort { needed: 0x34 }));
    let refused = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut buffer = good.clone();
        edit(&mut buffer);
        parse_allocation_complete(&buffer).unwrap_err()
    };
    assert_eq!(refused(&|b| b[0] = 0), INVALID, "type");
    assert_eq!(refused(&|b| put32(b, 0x10, 0xF)), INVALID, "element size");
    assert_eq!(refused(&|b| put32(b, 0x8, 0x10)), INVALID, "elements inside the header");
    assert_eq!(refused(&|b| b[0x24 + 1] = 0), INVALID, "second element's revision");
    assert_eq!(refused(&|b| b[0x24 + 2] = 0xF), INVALID, "second element's size");
    assert_eq!(refused(&|b| put32(b, 0xC, 0x1000)), OidError::TooShort { needed: 0x1_0014 });
    assert_eq!(refused(&|b| put32(b, 0xC, u32::MAX)), INVALID, "count × size beyond u32");
    assert_eq!(refused(&|b| put32(b, 0x10, u32::MAX)), INVALID, "beyond u32");
}

// ---- CLEAR_FILTER, FREE_QUEUE, GLOBAL_PARAMETERS ----------------------------------------------------

#[test]
fn clear_filter_and_free_queue() {
    let mut clear = vec![0u8; 0x10];
    put_header(&mut clear, 0, 0x80, 1, 0x10);
    put32(&mut clear, 0x8, 3);
    put32(&mut clear, 0xC, 17);
    assert_eq!(
        parse_clear_filter(&clear),
        Ok(Parsed { request: ClearFilterRequest { queue_id: 3, filter_id: 17 }, bytes_read: 0x10 })
    );
    assert_eq!(parse_clear_filter(&clear[..0xF]), Err(OidError::TooShort { needed: 0x10 }));
    clear[2] = 0xC;
    assert_eq!(parse_clear_filter(&clear), Err(INVALID));

    let mut free = vec![0u8; 0xC];
    put_header(&mut free, 0, 0x80, 1, 0xC);
    put32(&mut free, 0x8, 3);
    assert_eq!(
        parse_free_queue(&free),
        Ok(Parsed { request: FreeQueueRequest { queue_id: 3 }, bytes_read: 0xC })
    );
    assert_eq!(parse_free_queue(&free[..0xB]), Err(OidError::TooShort { needed: 0xC }));
    free[0] = 0x96;
    assert_eq!(parse_free_queue(&free), Err(INVALID));
}

#[test]
fn global_parameters() {
    let global = |filters: u32, queues: u32| {
        let mut buffer = vec![0u8; 0x10];
        put_header(&mut buffer, 0, 0x80, 1, 0x10);
        put32(&mut buffer, 0x8, filters);
        put32(&mut buffer, 0xC, queues);
        parse_global_parameters(&buffer).map(|p| p.request.vmq_enabled)
    };
    assert_eq!(global(1, 1), Ok(true));
    assert_eq!(global(0, 0), Ok(false));
    assert_eq!(global(1, 0), Err(INVALID));
    assert_eq!(global(0, 1), Err(INVALID));
    assert_eq!(global(3, 1), Err(INVALID), "packet coalescing filters");
    assert_eq!(global(1, 2), Err(INVALID));
    assert_eq!(
        parse_global_parameters(&[0x80, 1, 0x10, 0]),
        Err(OidError::TooShort { needed: 0x10 })
    );
}

// ---- No input panics or reads outside the buffer ------------------------------------------------------

fn every_parser(buffer: &[u8]) {
    let _ = parse_allocate_queue(buffer);
    let _ = parse_queue_parameters(buffer);
    let _ = parse_set_filter(buffer);
    let _ = parse_clear_filter(buffer);
    let _ = parse_free_queue(buffer);
    let _ = parse_global_parameters(buffer);
    if let Ok(parsed) = parse_allocation_complete(buffer) {
        let array = parsed.request;
        assert!(array.queue_ids(buffer).count() == array.len());
        let mut copy = buffer.to_vec();
        for index in 0..=array.len() {
            let _ = array.write_completion_status(&mut copy, index, 0);
        }
    }
}

/// A valid buffer of each kind, for mutation.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        queue_parameters(3, 7, 0, 1, 0),
        filter_buffer(3, 11, &[mac_field(MAC, 0), vlan_field(100)], 0x38),
        allocation_complete(&[4, 9, 2], 0x14, 0x10),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(buffer in proptest::collection::vec(any::<u8>(), 0..0x500)) {
        every_parser(&buffer);
    }

    #[test]
    fn mutated_valid_buffers_never_panic(
        seed in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u32>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buffer = seeds()[seed].clone();
        for (at, value) in edits {
            let at = at.index(buffer.len());
            let end = (at + 4).min(buffer.len());
            buffer[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
        every_parser(&buffer);
        every_parser(&buffer[..cut.index(buffer.len() + 1)]);
    }

    #[test]
    fn set_filter_round_trips(
        queue_id in any::<u32>(),
        filter_id in any::<u32>(),
        mac in any::<[u8; 6]>(),
        vlan in 1u16..=4094,
        shape in 0u8..3,
        stride in 0x38usize..0x60,
    ) {
        let (fields, expected_vlan, untagged) = match shape {
            0 => (vec![mac_field(mac, UNTAGGED)], None, true),
            1 => (vec![mac_field(mac, 0), vlan_field(vlan)], Some(vlan), false),
            _ => (vec![vlan_field(vlan), mac_field(mac, 0)], Some(vlan), false),
        };
        let buffer = filter_buffer(queue_id, filter_id, &fields, stride);
        let parsed = parse_set_filter(&buffer).unwrap();
        prop_assert_eq!(parsed.bytes_read as usize, buffer.len());
        prop_assert_eq!(
            parsed.request,
            SetFilterRequest { queue_id, filter_id, mac: Some(mac), vlan: expected_vlan, untagged_or_zero: untagged }
        );
        // Any shorter buffer is refused as too short, never read past.
        let cut = buffer.len() - 1;
        let short = parse_set_filter(&buffer[..cut]);
        prop_assert!(matches!(short, Err(OidError::TooShort { .. })), "{:?}", short);
    }
}
