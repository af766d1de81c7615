//! Parsing the buffer NdisGetRssProcessorInformation fills (`NDIS_RSS_PROCESSOR_INFO` followed
//! by an array of `NDIS_RSS_PROCESSOR`) into the processor set the driver requests one MSI-X
//! message per processor for.
//!
//! The VMQ interrupt rules require this set to come from NdisGetRssProcessorInformation and from
//! nowhere else (not the registry). The buffer is walked as bytes: entry *i* is at
//! `RssProcessorArrayOffset + i * RssProcessorEntrySize` (the entry size may grow in later
//! revisions), every offset is overflow-checked and bounded by the buffer, and anything
//! malformed is an error rather than a partial answer.

use alloc::vec::Vec;
use core::mem::offset_of;

use super::{Processor, bytes};
use crate::ndis::{
    NDIS_OBJECT_TYPE_RSS_PROCESSOR_INFO, NDIS_RSS_PROCESSOR, NDIS_RSS_PROCESSOR_INFO,
    NDIS_SIZEOF_RSS_PROCESSOR_INFO_REVISION_1, NDIS_SIZEOF_RSS_PROCESSOR_REVISION_1,
    PROCESSOR_NUMBER,
};

/// Why an RSS processor-information buffer was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssInfoError {
    /// Shorter than the revision-1 structure, or than its own `Header.Size`.
    Truncated,
    /// `Header.Type` is not `NDIS_OBJECT_TYPE_RSS_PROCESSOR_INFO`, or the revision is 0, or
    /// `Header.Size` is below the revision-1 size.
    BadHeader,
    /// `RssProcessorEntrySize` is smaller than an `NDIS_RSS_PROCESSOR` (revision 1).
    EntryTooSmall,
    /// The processor array does not lie inside the buffer (or its extent overflows).
    ArrayOutOfBounds,
    /// An entry names a processor number that cannot be in a `KAFFINITY` (>= 64).
    BadProcessorNumber,
    /// The array holds no processor.
    Empty,
}

/// One processor of the RSS set with its preference (smaller = more preferred).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssProcessor {
    /// The processor.
    pub processor: Processor,
    /// `PreferenceIndex`: distance from the adapter's preferred NUMA node.
    pub preference_index: u16,
}

const OFF_TYPE: usize = offset_of!(NDIS_RSS_PROCESSOR_INFO, Header);
const OFF_REVISION: usize = OFF_TYPE + 1;
const OFF_SIZE: usize = OFF_TYPE + 2;
const OFF_ARRAY_OFFSET: usize = offset_of!(NDIS_RSS_PROCESSOR_INFO, RssProcessorArrayOffset);
const OFF_COUNT: usize = offset_of!(NDIS_RSS_PROCESSOR_INFO, RssProcessorCount);
const OFF_ENTRY_SIZE: usize = offset_of!(NDIS_RSS_PROCESSOR_INFO, RssProcessorEntrySize);
const ENTRY_OFF_GROUP: usize =
    offset_of!(NDIS_RSS_PROCESSOR, ProcNum) + offset_of!(PROCESSOR_NUMBER, Group);
const ENTRY_OFF_NUMBER: usize =
    offset_of!(NDIS_RSS_PROCESSOR, ProcNum) + offset_of!(PROCESSOR_NUMBER, Number);
const ENTRY_OFF_PREFERENCE: usize = offset_of!(NDIS_RSS_PROCESSOR, PreferenceIndex);

/// Parses an RSS processor-information buffer into its processors, most preferred first.
///
/// Order: ascending `PreferenceIndex`; processors with equal preference keep NDIS's array order
/// (the sort is stable). A processor listed twice appears once, at its most preferred place.
/// When the set is larger than the driver can request messages for, the caller keeps a prefix,
/// which therefore drops the least preferred processors.
///
/// # Errors
/// [`RssInfoError`] for any malformed buffer; nothing partial is returned.
pub fn parse_rss_processor_info(info: &[u8]) -> Result<Vec<RssProcessor>, RssInfoError> {
    let header_type = bytes::read_u8(info, OFF_TYPE).ok_or(RssInfoError::Truncated)?;
    let revision = bytes::read_u8(info, OFF_REVISION).ok_or(RssInfoError::Truncated)?;
    let size = bytes::read_u16(info, OFF_SIZE).ok_or(RssInfoError::Truncated)?;
    if header_type != NDIS_OBJECT_TYPE_RSS_PROCESSOR_INFO
        || revision == 0
        || size < NDIS_SIZEOF_RSS_PROCESSOR_INFO_REVISION_1
    {
        return Err(RssInfoError::BadHeader);
    }
    if info.len() < usize::from(size) {
        return Err(RssInfoError::Truncated);
    }
    let field = |offset| bytes::read_u32(info, offset).ok_or(RssInfoError::Truncated);
    let array_offset =
        usize::try_from(field(OFF_ARRAY_OFFSET)?).map_err(|_| RssInfoError::ArrayOutOfBounds)?;
    let count = usize::try_from(field(OFF_COUNT)?).map_err(|_| RssInfoError::ArrayOutOfBounds)?;
    let entry_size = field(OFF_ENTRY_SIZE)?;
    if entry_size < NDIS_SIZEOF_RSS_PROCESSOR_REVISION_1 {
        return Err(RssInfoError::EntryTooSmall);
    }
    let entry_size = usize::try_from(entry_size).map_err(|_| RssInfoError::ArrayOutOfBounds)?;
    // The whole array must be inside the buffer before anything is read from it. The last
    // entry only needs its revision-1 bytes (a buffer may end right after them).
    let extent = count.checked_sub(1).map_or(Some(array_offset), |last| {
        last.checked_mul(entry_size)
            .and_then(|start| start.checked_add(array_offset))
            .and_then(|start| start.checked_add(NDIS_SIZEOF_RSS_PROCESSOR_REVISION_1 as usize))
    });
    match extent {
        Some(end) if end <= info.len() => {}
        _ => return Err(RssInfoError::ArrayOutOfBounds),
    }
    if count == 0 {
        return Err(RssInfoError::Empty);
    }

    let mut processors: Vec<RssProcessor> = Vec::new();
    processors.try_reserve_exact(count).map_err(|_| RssInfoError::ArrayOutOfBounds)?;
    let mut entry = array_offset;
    for _ in 0..count {
        let read = |offset: usize| entry.checked_add(offset).ok_or(RssInfoError::ArrayOutOfBounds);
        let group =
            bytes::read_u16(info, read(ENTRY_OFF_GROUP)?).ok_or(RssInfoError::ArrayOutOfBounds)?;
        let number =
            bytes::read_u8(info, read(ENTRY_OFF_NUMBER)?).ok_or(RssInfoError::ArrayOutOfBounds)?;
        let preference_index = bytes::read_u16(info, read(ENTRY_OFF_PREFERENCE)?)
            .ok_or(RssInfoError::ArrayOutOfBounds)?;
        let processor = Processor::new(group, number).ok_or(RssInfoError::BadProcessorNumber)?;
        processors.push(RssProcessor { processor, preference_index });
        entry = entry.saturating_add(entry_size);
    }
    // Stable: processors with the same preference keep their array order.
    processors.sort_by_key(|p| p.preference_index);
    // Keep the first (most preferred) occurrence of each processor, in O(n log n): order the
    // positions by (processor, position), and the first position of each processor is the
    // one to keep. (A linear look-back per entry was quadratic: 15 million instructions for
    // 2048 processors.)
    let count = processors.len();
    let mut order: Vec<usize> = Vec::new();
    order.try_reserve_exact(count).map_err(|_| RssInfoError::ArrayOutOfBounds)?;
    order.extend(0..count);
    order.sort_unstable_by_key(|&i| (processors.get(i).map(|p| p.processor), i));
    let mut keep: Vec<bool> = Vec::new();
    keep.try_reserve_exact(count).map_err(|_| RssInfoError::ArrayOutOfBounds)?;
    keep.resize(count, false);
    let mut previous = None;
    for &i in &order {
        let processor = processors.get(i).map(|p| p.processor);
        if processor != previous {
            if let Some(slot) = keep.get_mut(i) {
                *slot = true;
            }
            previous = processor;
        }
    }
    let mut unique: Vec<RssProcessor> = Vec::new();
    unique.try_reserve_exact(count).map_err(|_| RssInfoError::ArrayOutOfBounds)?;
    unique.extend(processors.iter().zip(&keep).filter(|(_, k)| **k).map(|(p, _)| *p));
    Ok(unique)
}

/// Builds an RSS processor-information buffer (revision 2) for `processors`, laid out as
/// ndis.sys lays it out: the header, then the array right after it, entry size 8. Used by tests
/// and by the simulated ndis.sys; the driver itself only parses such buffers.
#[must_use]
pub fn build_rss_processor_info(processors: &[RssProcessor]) -> Vec<u8> {
    let header = core::mem::size_of::<NDIS_RSS_PROCESSOR_INFO>();
    let entry = core::mem::size_of::<NDIS_RSS_PROCESSOR>();
    let mut info = alloc::vec![0u8; header + entry * processors.len()];
    let count = u32::try_from(processors.len()).unwrap_or(u32::MAX);
    let fields: [(usize, &[u8]); 6] = [
        (OFF_TYPE, &[NDIS_OBJECT_TYPE_RSS_PROCESSOR_INFO, 2]),
        (OFF_SIZE, &crate::ndis::NDIS_SIZEOF_RSS_PROCESSOR_INFO_REVISION_2.to_le_bytes()),
        (OFF_ARRAY_OFFSET, &u32::try_from(header).unwrap_or(u32::MAX).to_le_bytes()),
        (OFF_COUNT, &count.to_le_bytes()),
        (OFF_ENTRY_SIZE, &u32::try_from(entry).unwrap_or(u32::MAX).to_le_bytes()),
        (offset_of!(NDIS_RSS_PROCESSOR_INFO, MaxNumRssProcessors), &count.to_le_bytes()),
    ];
    for (offset, value) in fields {
        if let Some(slot) = info.get_mut(offset..offset + value.len()) {
            slot.copy_from_slice(value);
        }
    }
    for (i, p) in processors.iter().enumerate() {
        let base = header + i * entry;
        bytes::write_u16(&mut info, base + ENTRY_OFF_GROUP, p.processor.group);
        if let Some(number) = info.get_mut(base + ENTRY_OFF_NUMBER) {
            *number = p.processor.number;
        }
        bytes::write_u16(&mut info, base + ENTRY_OFF_PREFERENCE, p.preference_index);
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    fn rss(group: u16, number: u8, preference_index: u16) -> RssProcessor {
        RssProcessor { processor: Processor { group, number }, preference_index }
    }

    #[test]
    fn round_trips_and_sorts_by_preference() {
        let set = [rss(0, 1, 2), rss(0, 3, 0), rss(1, 5, 1), rss(0, 2, 0)];
        let parsed = parse_rss_processor_info(&build_rss_processor_info(&set)).unwrap();
        assert_eq!(parsed, vec![rss(0, 3, 0), rss(0, 2, 0), rss(1, 5, 1), rss(0, 1, 2)]);
    }

    #[test]
    fn duplicates_keep_the_most_preferred() {
        let set = [rss(0, 1, 5), rss(0, 1, 1), rss(0, 2, 3)];
        let parsed = parse_rss_processor_info(&build_rss_processor_info(&set)).unwrap();
        assert_eq!(parsed, vec![rss(0, 1, 1), rss(0, 2, 3)]);
    }

    #[test]
    fn larger_entry_size_is_honoured() {
        // A future revision with 16-byte entries and the array further down the buffer.
        let mut info = build_rss_processor_info(&[]);
        info.resize(0x40 + 2 * 16, 0xEE);
        bytes::write_u32(&mut info, OFF_ARRAY_OFFSET, 0x40);
        bytes::write_u32(&mut info, OFF_COUNT, 2);
        bytes::write_u32(&mut info, OFF_ENTRY_SIZE, 16);
        for (i, (group, number, preference)) in [(2u16, 7u8, 1u16), (0, 0, 0)].iter().enumerate() {
            let base = 0x40 + i * 16;
            bytes::write_u16(&mut info, base, *group);
            info[base + 2] = *number;
            bytes::write_u16(&mut info, base + 4, *preference);
        }
        let parsed = parse_rss_processor_info(&info).unwrap();
        assert_eq!(parsed, vec![rss(0, 0, 0), rss(2, 7, 1)]);
    }

    #[test]
    fn malformed_buffers_are_rejected() {
        let good = build_rss_processor_info(&[rss(0, 1, 0), rss(0, 2, 0)]);
        assert!(parse_rss_processor_info(&good).is_ok());
        assert_eq!(parse_rss_processor_info(&good[..0x1F]), Err(RssInfoError::Truncated));
        assert_eq!(
            parse_rss_processor_info(&good[..good.len() - 3]),
            Err(RssInfoError::ArrayOutOfBounds)
        );

        let mut wrong_type = good.clone();
        wrong_type[0] = 0x80;
        assert_eq!(parse_rss_processor_info(&wrong_type), Err(RssInfoError::BadHeader));

        let mut small_entry = good.clone();
        bytes::write_u32(&mut small_entry, OFF_ENTRY_SIZE, 5);
        assert_eq!(parse_rss_processor_info(&small_entry), Err(RssInfoError::EntryTooSmall));

        let mut huge_count = good.clone();
        bytes::write_u32(&mut huge_count, OFF_COUNT, u32::MAX);
        assert_eq!(parse_rss_processor_info(&huge_count), Err(RssInfoError::ArrayOutOfBounds));

        let mut wild_offset = good.clone();
        bytes::write_u32(&mut wild_offset, OFF_ARRAY_OFFSET, u32::MAX - 3);
        assert_eq!(parse_rss_processor_info(&wild_offset), Err(RssInfoError::ArrayOutOfBounds));

        let mut bad_number = good.clone();
        bad_number[0x28 + 2] = 64;
        assert_eq!(parse_rss_processor_info(&bad_number), Err(RssInfoError::BadProcessorNumber));

        assert_eq!(
            parse_rss_processor_info(&build_rss_processor_info(&[])),
            Err(RssInfoError::Empty)
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(info in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_rss_processor_info(&info);
        }

        #[test]
        fn random_headers_over_valid_arrays_never_panic(
            offset in any::<u32>(), count in any::<u32>(), entry in any::<u32>(), tail in 0usize..64,
        ) {
            let mut info = build_rss_processor_info(&[rss(0, 1, 0), rss(3, 63, 9)]);
            info.truncate(info.len().saturating_sub(tail));
            bytes::write_u32(&mut info, OFF_ARRAY_OFFSET, offset);
            bytes::write_u32(&mut info, OFF_COUNT, count);
            bytes::write_u32(&mut info, OFF_ENTRY_SIZE, entry);
            if let Ok(set) = parse_rss_processor_info(&info) {
                prop_assert!(!set.is_empty());
                prop_assert!(set.windows(2).all(|w| w[0].preference_index <= w[1].preference_index));
            }
        }
    }
}
