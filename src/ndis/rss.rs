//! `NDIS_RSS_PROCESSOR_INFO` and `NDIS_RSS_PROCESSOR` (spec §3.4, §3.5): what
//! NdisGetRssProcessorInformation returns, the only permitted source of the processor set for
//! VMQ interrupt allocation. NDIS fills these; the driver only reads them, as bytes, stepping by
//! `RssProcessorEntrySize` (which may grow in future revisions).

use super::{NDIS_OBJECT_HEADER, PROCESSOR_NUMBER, ULONG, USHORT, assert_layout};

/// `NDIS_RSS_PROCESSOR`: one processor of the RSS set.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RSS_PROCESSOR {
    /// The processor.
    pub ProcNum: PROCESSOR_NUMBER,
    /// Smaller = more preferred (closer to `PreferredNumaNode`).
    pub PreferenceIndex: USHORT,
    /// Reserved.
    pub Reserved: USHORT,
}
assert_layout!(NDIS_RSS_PROCESSOR, size 0x8, { ProcNum: 0x0, PreferenceIndex: 0x4, Reserved: 0x6 });

/// `NDIS_SIZEOF_RSS_PROCESSOR_REVISION_1`.
pub const NDIS_SIZEOF_RSS_PROCESSOR_REVISION_1: u32 = 0x6;

/// `NDIS_RSS_PROCESSOR_INFO`: header of the RSS processor set.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NDIS_RSS_PROCESSOR_INFO {
    /// `{NDIS_OBJECT_TYPE_RSS_PROCESSOR_INFO, 1 or 2, SIZEOF}`.
    pub Header: NDIS_OBJECT_HEADER,
    /// Reserved.
    pub Flags: ULONG,
    /// First processor NDIS may use (`*RssBaseProcGroup`/`*RssBaseProcNumber`).
    pub RssBaseProcessor: PROCESSOR_NUMBER,
    /// `*MaxRssProcessors`.
    pub MaxNumRssProcessors: ULONG,
    /// NUMA node preferred for this adapter.
    pub PreferredNumaNode: USHORT,
    /// Byte offset of the `NDIS_RSS_PROCESSOR` array from the start of this structure.
    pub RssProcessorArrayOffset: ULONG,
    /// Number of array entries.
    pub RssProcessorCount: ULONG,
    /// Stride of the array (>= `NDIS_SIZEOF_RSS_PROCESSOR_REVISION_1`).
    pub RssProcessorEntrySize: ULONG,
    /// Revision 2: last processor NDIS may use.
    pub RssMaxProcessor: PROCESSOR_NUMBER,
    /// Revision 2: `NDIS_RSS_PROFILE`.
    pub RssProfile: ULONG,
}
assert_layout!(NDIS_RSS_PROCESSOR_INFO, size 0x28, {
    Header: 0x0, Flags: 0x4, RssBaseProcessor: 0x8, MaxNumRssProcessors: 0xC,
    PreferredNumaNode: 0x10, RssProcessorArrayOffset: 0x14, RssProcessorCount: 0x18,
    RssProcessorEntrySize: 0x1C, RssMaxProcessor: 0x20, RssProfile: 0x24,
});

/// `NDIS_RSS_PROCESSOR_INFO_REVISION_1`.
pub const NDIS_RSS_PROCESSOR_INFO_REVISION_1: u8 = 1;
/// `NDIS_RSS_PROCESSOR_INFO_REVISION_2`.
pub const NDIS_RSS_PROCESSOR_INFO_REVISION_2: u8 = 2;
/// `NDIS_SIZEOF_RSS_PROCESSOR_INFO_REVISION_1`.
pub const NDIS_SIZEOF_RSS_PROCESSOR_INFO_REVISION_1: u16 = 0x20;
/// `NDIS_SIZEOF_RSS_PROCESSOR_INFO_REVISION_2`.
pub const NDIS_SIZEOF_RSS_PROCESSOR_INFO_REVISION_2: u16 = 0x28;
