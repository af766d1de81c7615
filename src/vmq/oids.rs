//! The VMQ OIDs the miniport handles (ndis-vmq-spec §2.0, §2.2), parsed from and written into
//! the OID's information buffer as plain byte slices.
//!
//! Each parser checks the structure's own `NDIS_OBJECT_HEADER` (type `NDIS_OBJECT_TYPE_DEFAULT`,
//! revision ≥ 1, `Size` ≥ the `NDIS_SIZEOF_…` of that revision) and that the buffer holds that
//! revision, then the fields, and returns either a typed request or an [`OidError`]. Every
//! offset and length that comes from the buffer is combined with `checked_*` arithmetic and
//! compared with the buffer's length before anything is read, so no input can make a parser
//! read outside the buffer, overflow or panic. Parsers read only; the two writers change exactly
//! the field they name. Nothing here allocates.
//!
//! What the parsers check is the *format* and what NDIS documents as invalid in itself; whether
//! the request fits the adapter's state (queue ids in use, free hardware slots, combinations the
//! 82576 cannot filter) is [`super::model::Vmq`]'s business.
//!
//! # VLAN ids in SET_FILTER: host byte order
//!
//! The DDI says every multi-byte `FieldValue` is in network byte order; the NETVMINI sample and
//! the Pensando ionic miniport, two independent VMQ drivers, both use `FieldShortValue` as the
//! VLAN id without swapping, i.e. in host (little-endian) order. The driver follows the drivers,
//! as [`FILTER_VLAN_ID_BYTE_ORDER`] says in one place: a shipping driver has to agree with what
//! the Hyper-V switch really sends, while the DDI sentence is a remark about all field values
//! (MAC addresses, EtherTypes, IP addresses) written for the general case. A wrong guess is visible for most
//! ids: a swapped id reads as a valid VLAN id only when the real id's low byte is at most 0x0F
//! (ids 1–15, 256–271, …: one in sixteen); every other one reads as more than 4094 and the
//! filter is refused with `NDIS_STATUS_INVALID_PARAMETER`. Spec §2.2 marks the order as to be
//! verified on Windows.

use core::mem::offset_of;

use crate::hw::igb::vmdq::MAX_VLAN_ID;
use crate::interrupt::bytes::{read_array, read_u8, read_u16, read_u32, read_u64, write_u32};
use crate::ndis::{
    GROUP_AFFINITY, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT,
    NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS,
    NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO,
    NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, NDIS_RECEIVE_FILTER_FIELD_VALUE,
    NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS, NDIS_RECEIVE_FILTER_PARAMETERS,
    NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED, NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, NDIS_RECEIVE_QUEUE_FREE_PARAMETERS,
    NDIS_RECEIVE_QUEUE_PARAMETERS, NDIS_RECEIVE_QUEUE_PARAMETERS_CHANGE_MASK,
    NDIS_RECEIVE_QUEUE_PARAMETERS_PER_QUEUE_RECEIVE_INDICATION,
    NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED,
    NDIS_RECEIVE_QUEUE_PARAMETERS_QOS_SQ_ID_CHANGED,
    NDIS_RECEIVE_QUEUE_PARAMETERS_SUGGESTED_RECV_BUFFER_NUMBERS_CHANGED,
    NDIS_SIZEOF_RECEIVE_FILTER_CLEAR_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_RECEIVE_FILTER_FIELD_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_RECEIVE_FILTER_GLOBAL_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_RECEIVE_FILTER_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_RECEIVE_FILTER_PARAMETERS_REVISION_2,
    NDIS_SIZEOF_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY_REVISION_1,
    NDIS_SIZEOF_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_RECEIVE_QUEUE_FREE_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_RECEIVE_QUEUE_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_RECEIVE_QUEUE_PARAMETERS_REVISION_2,
    NDIS_SIZEOF_RECEIVE_QUEUE_PARAMETERS_REVISION_3, NDIS_STATUS, NDIS_STATUS_INVALID_LENGTH,
    NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_NOT_SUPPORTED, NdisFrameHeaderMac,
    NdisMacHeaderFieldDestinationAddress, NdisMacHeaderFieldVlanId, NdisReceiveFilterTestEqual,
    NdisReceiveFilterTypeVMQueue, NdisReceiveQueueTypeVMQueue,
};
use crate::oid::Outcome;

/// Why a VMQ OID's buffer was refused. Nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OidError {
    /// The buffer ends before the structure (or its array) does: `NDIS_STATUS_INVALID_LENGTH`
    /// with `BytesNeeded = needed`.
    TooShort {
        /// The buffer length that would hold everything the header describes.
        needed: u32,
    },
    /// The content is refused with this status (`NDIS_STATUS_INVALID_PARAMETER` or
    /// `NDIS_STATUS_NOT_SUPPORTED`, as each parser documents).
    Rejected(NDIS_STATUS),
}

impl OidError {
    const INVALID: Self = Self::Rejected(NDIS_STATUS_INVALID_PARAMETER);

    /// The status to complete the OID with (but see [`parse_clear_filter`] and
    /// [`parse_free_queue`], which must never fail).
    #[must_use]
    pub const fn status(self) -> NDIS_STATUS {
        match self {
            Self::TooShort { .. } => NDIS_STATUS_INVALID_LENGTH,
            Self::Rejected(status) => status,
        }
    }

    /// `BytesNeeded` (0 unless the buffer is too short).
    #[must_use]
    pub const fn bytes_needed(self) -> u32 {
        match self {
            Self::TooShort { needed } => needed,
            Self::Rejected(_) => 0,
        }
    }
}

/// The general OID outcome: a short buffer is `TooShort` (which `Outcome::status(true)` turns
/// into `NDIS_STATUS_INVALID_LENGTH`, the status for sets and methods), anything else `Failed`.
impl From<OidError> for Outcome {
    fn from(error: OidError) -> Self {
        match error {
            OidError::TooShort { needed } => Self::TooShort { needed },
            OidError::Rejected(status) => Self::Failed(status),
        }
    }
}

/// A parsed request and how many bytes of the buffer it spans (`BytesRead`; for the method OIDs
/// also `BytesWritten`, since the answer is the same structure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed<T> {
    /// The request.
    pub request: T,
    /// Bytes of the information buffer the request occupies.
    pub bytes_read: u32,
}

/// A `GROUP_AFFINITY` as NDIS passes it: the processors the queue may run on. The glue picks the
/// processor (lowest set bit with a receive message, ndis-vmq-spec §4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessorAffinity {
    /// Processor group.
    pub group: u16,
    /// Processors of the group (bit n = processor n); never 0 in a parsed request.
    pub mask: u64,
}

// ---- Common checks ------------------------------------------------------------------------------

const HEADER_TYPE: usize = offset_of!(NDIS_OBJECT_HEADER, Type);
const HEADER_REVISION: usize = offset_of!(NDIS_OBJECT_HEADER, Revision);
const HEADER_SIZE: usize = offset_of!(NDIS_OBJECT_HEADER, Size);

/// Checks the `NDIS_OBJECT_HEADER` at `offset` of `buffer` against `size_of_revision` (the
/// `NDIS_SIZEOF_…` of each revision; revisions above the highest known one are read as the
/// highest) and returns (revision, SIZEOF of that revision). The buffer must hold `offset +
/// SIZEOF`; `minimum` is what a too-short buffer is told it needs when not even the header fits.
fn check_header(
    buffer: &[u8],
    offset: usize,
    size_of_revision: fn(u8) -> u16,
) -> Result<(u8, usize), OidError> {
    let minimum = usize::from(size_of_revision(1));
    let too_short = |size: usize| OidError::TooShort { needed: needed(offset, size) };
    let (Some(object_type), Some(revision), Some(size)) = (
        read_u8(buffer, offset.saturating_add(HEADER_TYPE)),
        read_u8(buffer, offset.saturating_add(HEADER_REVISION)),
        read_u16(buffer, offset.saturating_add(HEADER_SIZE)),
    ) else {
        return Err(too_short(minimum));
    };
    if buffer.len() < offset.saturating_add(minimum) {
        return Err(too_short(minimum));
    }
    if object_type != NDIS_OBJECT_TYPE_DEFAULT || revision == 0 {
        return Err(OidError::INVALID);
    }
    let sizeof = usize::from(size_of_revision(revision));
    if usize::from(size) < sizeof {
        return Err(OidError::INVALID);
    }
    if buffer.len() < offset.saturating_add(sizeof) {
        return Err(too_short(sizeof));
    }
    Ok((revision, sizeof))
}

/// `offset + size` as a `BytesNeeded` value (saturating: only ever reported, never used to
/// index).
fn needed(offset: usize, size: usize) -> u32 {
    u32::try_from(offset.saturating_add(size)).unwrap_or(u32::MAX)
}

fn as_u32(length: usize) -> u32 {
    // Parsed lengths are bounded by the buffer, whose length NDIS gives as a ULONG.
    u32::try_from(length).unwrap_or(u32::MAX)
}

/// Where an array of `count` elements of `stride` bytes starting at `first` ends, if that is
/// representable; the caller compares it with the buffer length.
fn array_end(first: u32, count: u32, stride: u32) -> Option<usize> {
    let bytes = usize::try_from(count).ok()?.checked_mul(usize::try_from(stride).ok()?)?;
    usize::try_from(first).ok()?.checked_add(bytes)
}

/// Checks that an array `[first, end)` fits `buffer`: INVALID_LENGTH with the end as
/// `BytesNeeded` when it does not (or INVALID_PARAMETER when the end is not even a `u32`).
fn check_array_fits(buffer: &[u8], end: Option<usize>) -> Result<usize, OidError> {
    let end = end.ok_or(OidError::INVALID)?;
    if end <= buffer.len() {
        return Ok(end);
    }
    match u32::try_from(end) {
        Ok(needed) => Err(OidError::TooShort { needed }),
        Err(_) => Err(OidError::INVALID),
    }
}

fn field_u32(buffer: &[u8], offset: usize) -> Result<u32, OidError> {
    // Only called for fields inside a checked SIZEOF, so `None` cannot happen; it is still an
    // error rather than a panic.
    read_u32(buffer, offset).ok_or(OidError::INVALID)
}

// ---- NDIS_RECEIVE_QUEUE_PARAMETERS (ALLOCATE_QUEUE, QUEUE_PARAMETERS) ---------------------------

const fn queue_parameters_size(revision: u8) -> u16 {
    match revision {
        0 | 1 => NDIS_SIZEOF_RECEIVE_QUEUE_PARAMETERS_REVISION_1,
        2 => NDIS_SIZEOF_RECEIVE_QUEUE_PARAMETERS_REVISION_2,
        _ => NDIS_SIZEOF_RECEIVE_QUEUE_PARAMETERS_REVISION_3,
    }
}

const QUEUE_FLAGS: usize = offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, Flags);
const QUEUE_TYPE: usize = offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, QueueType);
const QUEUE_ID: usize = offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, QueueId);
const QUEUE_AFFINITY_MASK: usize =
    offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, ProcessorAffinity) + offset_of!(GROUP_AFFINITY, Mask);
const QUEUE_AFFINITY_GROUP: usize = offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, ProcessorAffinity)
    + offset_of!(GROUP_AFFINITY, Group);
const QUEUE_SUGGESTED_BUFFERS: usize =
    offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, NumSuggestedReceiveBuffers);
const QUEUE_MSIX_TABLE_ENTRY: usize = offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, MSIXTableEntry);
const QUEUE_QOS_SQ_ID: usize = offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, QosSqId);

/// The common part of both uses of `NDIS_RECEIVE_QUEUE_PARAMETERS`.
struct QueueParameters {
    revision: u8,
    sizeof: usize,
    flags: u32,
    queue_id: u32,
    affinity: ProcessorAffinity,
    suggested_receive_buffers: u32,
    /// `QosSqId`, 0 below revision 3 (where the field does not exist).
    qos_sq_id: u32,
}

fn read_queue_parameters(buffer: &[u8]) -> Result<QueueParameters, OidError> {
    let (revision, sizeof) = check_header(buffer, 0, queue_parameters_size)?;
    let qos_sq_id = if revision >= 3 { field_u32(buffer, QUEUE_QOS_SQ_ID)? } else { 0 };
    Ok(QueueParameters {
        revision,
        sizeof,
        flags: field_u32(buffer, QUEUE_FLAGS)?,
        queue_id: field_u32(buffer, QUEUE_ID)?,
        affinity: ProcessorAffinity {
            group: read_u16(buffer, QUEUE_AFFINITY_GROUP).ok_or(OidError::INVALID)?,
            mask: read_u64(buffer, QUEUE_AFFINITY_MASK).ok_or(OidError::INVALID)?,
        },
        suggested_receive_buffers: field_u32(buffer, QUEUE_SUGGESTED_BUFFERS)?,
        qos_sq_id,
    })
}

/// OID_RECEIVE_FILTER_ALLOCATE_QUEUE, as parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocateQueueRequest {
    /// The id NDIS chose for the queue (never 0).
    pub queue_id: u32,
    /// The processors the queue may use (mask ≠ 0); the glue resolves it to one processor.
    pub affinity: ProcessorAffinity,
    /// `NDIS_RECEIVE_QUEUE_PARAMETERS_PER_QUEUE_RECEIVE_INDICATION`: indications for this queue
    /// must carry only its NBLs (the driver always indicates one queue at a time anyway).
    pub per_queue_receive_indication: bool,
    /// `NumSuggestedReceiveBuffers`: a hint.
    pub suggested_receive_buffers: u32,
    /// The structure's revision (1 to 3; higher revisions are read as 3).
    pub revision: u8,
}

/// Parses the input of OID_RECEIVE_FILTER_ALLOCATE_QUEUE (ndis-vmq-spec §2.2).
///
/// `LOOKAHEAD_SPLIT_REQUIRED` and `LookaheadSize` are ignored, as NDIS 6.30 requires; so are
/// the names, `PortId` and unknown flag bits. `bytes_read` is the SIZEOF of the revision, which
/// is also `BytesWritten` after [`write_msix_table_entry`].
///
/// # Errors
/// * [`OidError::TooShort`]: shorter than revision 1 (0x43C), or than the revision the header
///   names.
/// * `INVALID_PARAMETER`: header type ≠ 0x80, revision 0, `Size` below the revision's SIZEOF,
///   `QueueType` ≠ `NdisReceiveQueueTypeVMQueue`, `ProcessorAffinity.Mask` = 0, `QueueId` = 0.
/// * `NOT_SUPPORTED`: revision ≥ 3 with `QosSqId` ≠ 0 (no QoS send queues).
pub fn parse_allocate_queue(buffer: &[u8]) -> Result<Parsed<AllocateQueueRequest>, OidError> {
    let parameters = read_queue_parameters(buffer)?;
    if field_u32(buffer, QUEUE_TYPE)? != NdisReceiveQueueTypeVMQueue
        || parameters.affinity.mask == 0
        || parameters.queue_id == 0
    {
        return Err(OidError::INVALID);
    }
    if parameters.qos_sq_id != 0 {
        return Err(OidError::Rejected(NDIS_STATUS_NOT_SUPPORTED));
    }
    Ok(Parsed {
        request: AllocateQueueRequest {
            queue_id: parameters.queue_id,
            affinity: parameters.affinity,
            per_queue_receive_indication: parameters.flags
                & NDIS_RECEIVE_QUEUE_PARAMETERS_PER_QUEUE_RECEIVE_INDICATION
                != 0,
            suggested_receive_buffers: parameters.suggested_receive_buffers,
            revision: parameters.revision,
        },
        bytes_read: as_u32(parameters.sizeof),
    })
}

/// The output of OID_RECEIVE_FILTER_ALLOCATE_QUEUE: stores `MSIXTableEntry` (the table entry
/// that serves the queue's interrupt) and leaves every other byte of the buffer as NDIS passed
/// it.
///
/// # Errors
/// [`OidError::TooShort`] if the buffer does not reach the field (never after a successful
/// [`parse_allocate_queue`] of the same buffer); nothing is written then.
pub fn write_msix_table_entry(buffer: &mut [u8], table_entry: u32) -> Result<(), OidError> {
    if write_u32(buffer, QUEUE_MSIX_TABLE_ENTRY, table_entry) {
        Ok(())
    } else {
        Err(OidError::TooShort {
            needed: u32::from(NDIS_SIZEOF_RECEIVE_QUEUE_PARAMETERS_REVISION_1),
        })
    }
}

/// OID_RECEIVE_FILTER_QUEUE_PARAMETERS (set), as parsed: what changed and the new values that
/// matter to the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueParametersChange {
    /// The queue (≠ 0: the default queue's parameters cannot be set, the driver does not
    /// advertise `DYNAMIC_PROCESSOR_AFFINITY_CHANGE_FOR_DEFAULT_QUEUE_SUPPORTED`).
    pub queue_id: u32,
    /// The change bits: `Flags & NDIS_RECEIVE_QUEUE_PARAMETERS_CHANGE_MASK` (`FLAGS_CHANGED`,
    /// `PROCESSOR_AFFINITY_CHANGED`, `SUGGESTED_RECV_BUFFER_NUMBERS_CHANGED`, `NAME_CHANGED`,
    /// `INTERRUPT_COALESCING_DOMAIN_ID_CHANGED`, `QOS_SQ_ID_CHANGED`). 0: nothing changed.
    pub changes: u32,
    /// The new affinity, exactly when `PROCESSOR_AFFINITY_CHANGED` is set (mask ≠ 0).
    pub affinity: Option<ProcessorAffinity>,
    /// The new `NumSuggestedReceiveBuffers`, exactly when
    /// `SUGGESTED_RECV_BUFFER_NUMBERS_CHANGED` is set (may be applied lazily).
    pub suggested_receive_buffers: Option<u32>,
    /// The queue's flags (the low half of `Flags`), meaningful when `FLAGS_CHANGED` is set.
    pub flags: u32,
}

/// Parses OID_RECEIVE_FILTER_QUEUE_PARAMETERS (set) (ndis-vmq-spec §2.2). Fields without a
/// change bit cannot change after allocation and are not looked at (`QueueType` included).
/// A name change needs nothing from the driver; `INTERRUPT_COALESCING_DOMAIN_ID_CHANGED` is
/// reserved for NDIS and accepted.
///
/// # Errors
/// * [`OidError::TooShort`], and `INVALID_PARAMETER` for the header, as
///   [`parse_allocate_queue`].
/// * `INVALID_PARAMETER`: `QueueId` = 0; `PROCESSOR_AFFINITY_CHANGED` with a zero mask;
///   `QOS_SQ_ID_CHANGED` in a structure below revision 3 (it has no `QosSqId`).
/// * `NOT_SUPPORTED`: `QOS_SQ_ID_CHANGED` to a non-zero `QosSqId`.
pub fn parse_queue_parameters(buffer: &[u8]) -> Result<Parsed<QueueParametersChange>, OidError> {
    let parameters = read_queue_parameters(buffer)?;
    let changes = parameters.flags & NDIS_RECEIVE_QUEUE_PARAMETERS_CHANGE_MASK;
    if parameters.queue_id == 0 {
        return Err(OidError::INVALID);
    }
    let affinity = if changes & NDIS_RECEIVE_QUEUE_PARAMETERS_PROCESSOR_AFFINITY_CHANGED != 0 {
        if parameters.affinity.mask == 0 {
            return Err(OidError::INVALID);
        }
        Some(parameters.affinity)
    } else {
        None
    };
    if changes & NDIS_RECEIVE_QUEUE_PARAMETERS_QOS_SQ_ID_CHANGED != 0 {
        if parameters.revision < 3 {
            return Err(OidError::INVALID);
        }
        if parameters.qos_sq_id != 0 {
            return Err(OidError::Rejected(NDIS_STATUS_NOT_SUPPORTED));
        }
    }
    let suggested_receive_buffers =
        (changes & NDIS_RECEIVE_QUEUE_PARAMETERS_SUGGESTED_RECV_BUFFER_NUMBERS_CHANGED != 0)
            .then_some(parameters.suggested_receive_buffers);
    Ok(Parsed {
        request: QueueParametersChange {
            queue_id: parameters.queue_id,
            changes,
            affinity,
            suggested_receive_buffers,
            flags: parameters.flags & !NDIS_RECEIVE_QUEUE_PARAMETERS_CHANGE_MASK,
        },
        bytes_read: as_u32(parameters.sizeof),
    })
}

// ---- NDIS_RECEIVE_FILTER_PARAMETERS + fields (SET_FILTER) ----------------------------------------

/// How `FieldShortValue` carries a VLAN id (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VlanIdByteOrder {
    /// Little-endian, as NETVMINI and the ionic miniport read it.
    Host,
    /// Big-endian, as the DDI's general remark on field values says.
    Network,
}

/// The byte order the driver reads SET_FILTER VLAN ids in. One constant, so that a Windows test
/// that shows otherwise is a one-line change.
pub const FILTER_VLAN_ID_BYTE_ORDER: VlanIdByteOrder = VlanIdByteOrder::Host;

/// Decodes the two bytes of `FieldShortValue` as a VLAN id in `order`.
#[must_use]
pub const fn decode_vlan_id(bytes: [u8; 2], order: VlanIdByteOrder) -> u16 {
    match order {
        VlanIdByteOrder::Host => u16::from_le_bytes(bytes),
        VlanIdByteOrder::Network => u16::from_be_bytes(bytes),
    }
}

/// OID_RECEIVE_FILTER_SET_FILTER, as parsed: the conjunction of at most one destination-MAC
/// test and at most one VLAN-id test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SetFilterRequest {
    /// The queue the filter routes to (0 = the default queue).
    pub queue_id: u32,
    /// The id NDIS chose for the filter (unique per adapter).
    pub filter_id: u32,
    /// Destination MAC address to match, if the filter tests it.
    pub mac: Option<[u8; 6]>,
    /// VLAN id (1..=4094) to match, if the filter tests it.
    pub vlan: Option<u16>,
    /// `NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO` on the MAC test: only
    /// untagged (or VLAN 0) frames match. Never set without `mac` or together with `vlan`.
    pub untagged_or_zero: bool,
}

const fn filter_parameters_size(revision: u8) -> u16 {
    match revision {
        0 | 1 => NDIS_SIZEOF_RECEIVE_FILTER_PARAMETERS_REVISION_1,
        _ => NDIS_SIZEOF_RECEIVE_FILTER_PARAMETERS_REVISION_2,
    }
}

const fn field_parameters_size(_revision: u8) -> u16 {
    // Revision 2 only widens the header-field enum union; the size is the same.
    NDIS_SIZEOF_RECEIVE_FILTER_FIELD_PARAMETERS_REVISION_1
}

const FILTER_TYPE: usize = offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FilterType);
const FILTER_QUEUE_ID: usize = offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, QueueId);
const FILTER_ID: usize = offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FilterId);
const FILTER_ARRAY_OFFSET: usize =
    offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FieldParametersArrayOffset);
const FILTER_ARRAY_COUNT: usize =
    offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FieldParametersArrayNumElements);
const FILTER_ARRAY_STRIDE: usize =
    offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FieldParametersArrayElementSize);
const FILTER_VPORT_ID: usize = offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, VPortId);

const FIELD_FLAGS: usize = offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, Flags);
const FIELD_FRAME_HEADER: usize = offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, FrameHeader);
const FIELD_TEST: usize = offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, ReceiveFilterTest);
const FIELD_HEADER_FIELD: usize = offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, HeaderField);
const FIELD_VALUE: usize = offset_of!(NDIS_RECEIVE_FILTER_FIELD_PARAMETERS, FieldValue)
    + offset_of!(NDIS_RECEIVE_FILTER_FIELD_VALUE, FieldByteArrayValue);

/// The most field tests a filter the driver accepts can have: one MAC, one VLAN.
const MAX_FIELDS: u32 = 2;

/// Parses the input of OID_RECEIVE_FILTER_SET_FILTER (ndis-vmq-spec §2.2): the parameters, then
/// `FieldParametersArrayNumElements` field tests at `FieldParametersArrayOffset` (from the start
/// of the buffer) with `FieldParametersArrayElementSize` as the stride. `bytes_read` is where
/// the last field ends (at least the parameters' SIZEOF).
///
/// # Errors
/// * [`OidError::TooShort`]: shorter than revision 1 (0x24) or the header's revision; or the
///   field array ends beyond the buffer (`needed` = its end).
/// * `INVALID_PARAMETER`:
///   * the header (type, revision 0, `Size`); `FilterType` ≠ `NdisReceiveFilterTypeVMQueue`;
///     a revision-2 `VPortId` ≠ 0 (VMQ has no vPorts);
///   * no field, more than two, `ElementSize` < 0x38, an array that starts inside the
///     parameters, or an end beyond `u32`;
///   * a field whose header is wrong, whose `FrameHeader` is not MAC, whose test is not
///     Equal, or whose header field is neither the destination address nor the VLAN id;
///   * two MAC tests or two VLAN tests; a VLAN id outside 1..=4094 (after
///     [`FILTER_VLAN_ID_BYTE_ORDER`]);
///   * flags other than `VLAN_UNTAGGED_OR_ZERO` on the MAC test, any flag on the VLAN test, or
///     `VLAN_UNTAGGED_OR_ZERO` together with a VLAN test (no frame can be both).
pub fn parse_set_filter(buffer: &[u8]) -> Result<Parsed<SetFilterRequest>, OidError> {
    let (revision, sizeof) = check_header(buffer, 0, filter_parameters_size)?;
    if field_u32(buffer, FILTER_TYPE)? != NdisReceiveFilterTypeVMQueue
        || (revision >= 2 && field_u32(buffer, FILTER_VPORT_ID)? != 0)
    {
        return Err(OidError::INVALID);
    }
    let first = field_u32(buffer, FILTER_ARRAY_OFFSET)?;
    let count = field_u32(buffer, FILTER_ARRAY_COUNT)?;
    let stride = field_u32(buffer, FILTER_ARRAY_STRIDE)?;
    if !(1..=MAX_FIELDS).contains(&count)
        || stride < u32::from(NDIS_SIZEOF_RECEIVE_FILTER_FIELD_PARAMETERS_REVISION_1)
        || (first as usize) < usize::from(NDIS_SIZEOF_RECEIVE_FILTER_PARAMETERS_REVISION_1)
    {
        return Err(OidError::INVALID);
    }
    let end = check_array_fits(buffer, array_end(first, count, stride))?;

    let mut request = SetFilterRequest {
        queue_id: field_u32(buffer, FILTER_QUEUE_ID)?,
        filter_id: field_u32(buffer, FILTER_ID)?,
        mac: None,
        vlan: None,
        untagged_or_zero: false,
    };
    for index in 0..count {
        // In range: `first + count × stride` fits the buffer.
        let base = array_end(first, index, stride).ok_or(OidError::INVALID)?;
        read_field(buffer, base, &mut request)?;
    }
    if request.untagged_or_zero && request.vlan.is_some() {
        return Err(OidError::INVALID);
    }
    Ok(Parsed { request, bytes_read: as_u32(end.max(sizeof)) })
}

/// Reads the field test at `base` into `request`.
fn read_field(buffer: &[u8], base: usize, request: &mut SetFilterRequest) -> Result<(), OidError> {
    // The stride check guarantees SIZEOF bytes here; a failure would still only be an error.
    check_header(buffer, base, field_parameters_size).map_err(|_| OidError::INVALID)?;
    let at = |offset: usize| field_u32(buffer, base.saturating_add(offset));
    if at(FIELD_FRAME_HEADER)? != NdisFrameHeaderMac
        || at(FIELD_TEST)? != NdisReceiveFilterTestEqual
    {
        return Err(OidError::INVALID);
    }
    let flags = at(FIELD_FLAGS)?;
    let value = base.saturating_add(FIELD_VALUE);
    let header_field = at(FIELD_HEADER_FIELD)?;
    if header_field == NdisMacHeaderFieldDestinationAddress {
        if request.mac.is_some()
            || flags & !NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO != 0
        {
            return Err(OidError::INVALID);
        }
        request.mac = Some(read_array(buffer, value).ok_or(OidError::INVALID)?);
        request.untagged_or_zero =
            flags & NDIS_RECEIVE_FILTER_FIELD_MAC_HEADER_VLAN_UNTAGGED_OR_ZERO != 0;
    } else if header_field == NdisMacHeaderFieldVlanId {
        let raw = read_array(buffer, value).ok_or(OidError::INVALID)?;
        let vlan = decode_vlan_id(raw, FILTER_VLAN_ID_BYTE_ORDER);
        if request.vlan.is_some() || flags != 0 || !(1..=MAX_VLAN_ID).contains(&vlan) {
            return Err(OidError::INVALID);
        }
        request.vlan = Some(vlan);
    } else {
        return Err(OidError::INVALID);
    }
    Ok(())
}

// ---- QUEUE_ALLOCATION_COMPLETE -------------------------------------------------------------------

const fn allocation_complete_array_size(_revision: u8) -> u16 {
    NDIS_SIZEOF_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY_REVISION_1
}

const fn allocation_complete_element_size(_revision: u8) -> u16 {
    NDIS_SIZEOF_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS_REVISION_1
}

const ARRAY_FIRST: usize =
    offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, FirstElementOffset);
const ARRAY_COUNT: usize = offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, NumElements);
const ARRAY_STRIDE: usize = offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, ElementSize);
const ELEMENT_QUEUE_ID: usize =
    offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, QueueId);
const ELEMENT_STATUS: usize =
    offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, CompletionStatus);

/// Where the elements of an OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE buffer are, once
/// checked. It holds offsets, not the buffer, so the glue can read a queue id and write its
/// status into the same `&mut [u8]` in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocationCompleteArray {
    first: usize,
    count: usize,
    stride: usize,
}

impl AllocationCompleteArray {
    /// Number of elements (queues).
    #[must_use]
    pub const fn len(&self) -> usize {
        self.count
    }

    /// Whether the array has no element.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn element(&self, index: usize) -> Option<usize> {
        if index >= self.count {
            return None;
        }
        self.first.checked_add(index.checked_mul(self.stride)?)
    }

    /// The queue id of element `index`; `None` past the end (or for another buffer that is too
    /// short).
    #[must_use]
    pub fn queue_id(&self, buffer: &[u8], index: usize) -> Option<u32> {
        read_u32(buffer, self.element(index)?.checked_add(ELEMENT_QUEUE_ID)?)
    }

    /// The queue ids in element order.
    pub fn queue_ids<'a>(&self, buffer: &'a [u8]) -> impl Iterator<Item = u32> + 'a {
        let array = *self;
        (0..array.count).map_while(move |index| array.queue_id(buffer, index))
    }

    /// Writes element `index`'s `CompletionStatus` (SUCCESS, or why that queue could not be
    /// finished); `false` (nothing written) past the end.
    pub fn write_completion_status(
        &self,
        buffer: &mut [u8],
        index: usize,
        status: NDIS_STATUS,
    ) -> bool {
        let Some(offset) = self.element(index).and_then(|e| e.checked_add(ELEMENT_STATUS)) else {
            return false;
        };
        write_u32(buffer, offset, status.cast_unsigned())
    }
}

/// Parses OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE (ndis-vmq-spec §2.2): the array header,
/// then every element's header, before anything is done (so a bad element refuses the whole
/// OID). An empty array is valid. `bytes_read` is where the last element ends (at least the
/// array header), also `BytesWritten` once the statuses are written.
///
/// # Errors
/// * [`OidError::TooShort`]: shorter than the array header (0x14), or the elements end beyond
///   the buffer (`needed` = their end).
/// * `INVALID_PARAMETER`: the array header; `ElementSize` < 0x10; elements that start inside
///   the array header; an end beyond `u32`; an element header that is not `{0x80, ≥ 1,
///   ≥ 0x10}`.
pub fn parse_allocation_complete(
    buffer: &[u8],
) -> Result<Parsed<AllocationCompleteArray>, OidError> {
    let (_, sizeof) = check_header(buffer, 0, allocation_complete_array_size)?;
    let first = field_u32(buffer, ARRAY_FIRST)?;
    let count = field_u32(buffer, ARRAY_COUNT)?;
    let stride = field_u32(buffer, ARRAY_STRIDE)?;
    if stride < u32::from(NDIS_SIZEOF_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS_REVISION_1)
        || (first as usize) < sizeof
    {
        return Err(OidError::INVALID);
    }
    let end = check_array_fits(buffer, array_end(first, count, stride))?;
    let array = AllocationCompleteArray {
        first: first as usize,
        count: count as usize,
        stride: stride as usize,
    };
    for index in 0..array.count {
        let base = array.element(index).ok_or(OidError::INVALID)?;
        check_header(buffer, base, allocation_complete_element_size)
            .map_err(|_| OidError::INVALID)?;
    }
    Ok(Parsed { request: array, bytes_read: as_u32(end.max(sizeof)) })
}

// ---- CLEAR_FILTER, FREE_QUEUE ----------------------------------------------------------------------

/// OID_RECEIVE_FILTER_CLEAR_FILTER, as parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClearFilterRequest {
    /// The queue the filter belongs to.
    pub queue_id: u32,
    /// The filter to remove.
    pub filter_id: u32,
}

const CLEAR_QUEUE_ID: usize = offset_of!(NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, QueueId);
const CLEAR_FILTER_ID: usize = offset_of!(NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, FilterId);

/// Parses OID_RECEIVE_FILTER_CLEAR_FILTER.
///
/// **The OID must still complete with `NDIS_STATUS_SUCCESS` when this fails.** The NDIS
/// verifier only lets CLEAR_FILTER complete with SUCCESS, PENDING, NOT_ACCEPTED or
/// REQUEST_ABORTED, and NDIS validated the ids before the OID reached the miniport, so an error
/// here is an internal inconsistency: the glue logs it, does nothing, and returns SUCCESS
/// (ndis-vmq-spec §2.2). The error only says what was wrong, for the log.
///
/// # Errors
/// [`OidError::TooShort`] below 0x10; `INVALID_PARAMETER` for the header.
pub fn parse_clear_filter(buffer: &[u8]) -> Result<Parsed<ClearFilterRequest>, OidError> {
    let (_, sizeof) =
        check_header(buffer, 0, |_| NDIS_SIZEOF_RECEIVE_FILTER_CLEAR_PARAMETERS_REVISION_1)?;
    Ok(Parsed {
        request: ClearFilterRequest {
            queue_id: field_u32(buffer, CLEAR_QUEUE_ID)?,
            filter_id: field_u32(buffer, CLEAR_FILTER_ID)?,
        },
        bytes_read: as_u32(sizeof),
    })
}

/// OID_RECEIVE_FILTER_FREE_QUEUE, as parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeQueueRequest {
    /// The queue to free.
    pub queue_id: u32,
}

const FREE_QUEUE_ID: usize = offset_of!(NDIS_RECEIVE_QUEUE_FREE_PARAMETERS, QueueId);

/// Parses OID_RECEIVE_FILTER_FREE_QUEUE.
///
/// **The OID must still complete with `NDIS_STATUS_SUCCESS` when this fails**, for the same
/// verifier rule as [`parse_clear_filter`]: log, do nothing, return SUCCESS.
///
/// # Errors
/// [`OidError::TooShort`] below 0x0C; `INVALID_PARAMETER` for the header.
pub fn parse_free_queue(buffer: &[u8]) -> Result<Parsed<FreeQueueRequest>, OidError> {
    let (_, sizeof) =
        check_header(buffer, 0, |_| NDIS_SIZEOF_RECEIVE_QUEUE_FREE_PARAMETERS_REVISION_1)?;
    Ok(Parsed {
        request: FreeQueueRequest { queue_id: field_u32(buffer, FREE_QUEUE_ID)? },
        bytes_read: as_u32(sizeof),
    })
}

// ---- GLOBAL_PARAMETERS -----------------------------------------------------------------------------

const GLOBAL_FILTER_TYPES: usize =
    offset_of!(NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS, EnabledFilterTypes);
const GLOBAL_QUEUE_TYPES: usize =
    offset_of!(NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS, EnabledQueueTypes);

/// OID_RECEIVE_FILTER_GLOBAL_PARAMETERS (set), as parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalParameters {
    /// VMQ filters and VM queues on (both) or off (neither).
    pub vmq_enabled: bool,
}

/// Parses OID_RECEIVE_FILTER_GLOBAL_PARAMETERS (set). NDIS normally answers this OID itself
/// (ndis-vmq-spec §2.0); the parser exists so that the driver refuses it properly if it ever
/// arrives. The adapter supports only VMQ filters and VM queues, and one without the other means
/// nothing, so the two must agree.
///
/// # Errors
/// [`OidError::TooShort`] below 0x10; `INVALID_PARAMETER` for the header, for filter or queue
/// types other than `NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED` / `…_VM_QUEUES_ENABLED` (packet
/// coalescing, for one, is not supported), and for VMQ filters without VM queues or the
/// reverse.
pub fn parse_global_parameters(buffer: &[u8]) -> Result<Parsed<GlobalParameters>, OidError> {
    let (_, sizeof) =
        check_header(buffer, 0, |_| NDIS_SIZEOF_RECEIVE_FILTER_GLOBAL_PARAMETERS_REVISION_1)?;
    let filters = field_u32(buffer, GLOBAL_FILTER_TYPES)?;
    let queues = field_u32(buffer, GLOBAL_QUEUE_TYPES)?;
    if filters & !NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED != 0
        || queues & !NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED != 0
        || (filters != 0) != (queues != 0)
    {
        return Err(OidError::INVALID);
    }
    Ok(Parsed {
        request: GlobalParameters { vmq_enabled: filters != 0 },
        bytes_read: as_u32(sizeof),
    })
}

#[cfg(test)]
#[path = "oids_tests.rs"]
mod tests;
