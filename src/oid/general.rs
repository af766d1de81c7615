//! The general OIDs every Ethernet miniport answers (NDIS 6 answers some of them itself from the
//! general attributes; answering them here too is harmless and keeps the driver honest when
//! they do reach it).

use core::mem::{offset_of, size_of};

use super::{Outcome, answer, answer_counter};
use crate::hw::igb::LinkState;
use crate::ndis::{
    self, NDIS_INTERRUPT_MODERATION_PARAMETERS, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT,
    NDIS_OID, NDIS_STATISTICS_INFO, NDIS_STATUS_INVALID_DATA, NDIS_STATUS_INVALID_PARAMETER,
    NDIS_STATUS_MULTICAST_FULL, NDIS_STATUS_NOT_SUPPORTED,
};

/// Largest frame payload (MTU).
pub const MAXIMUM_FRAME_SIZE: u32 = 1500;
/// Largest frame with its Ethernet header (no FCS).
pub const MAXIMUM_TOTAL_SIZE: u32 = 1514;
/// Multicast addresses the adapter keeps in its list (the 82576 hashes them into the MTA, so the
/// limit is a driver choice: NDIS's own default of 32).
pub const MAXIMUM_MULTICAST_LIST: usize = 32;
/// PCI vendor id in the low bytes and an adapter index in the high byte, as OID_GEN_VENDOR_ID
/// wants the IEEE OUI: Intel's OUI 00-1B-21.
pub const VENDOR_ID: u32 = 0x0021_1B00;
/// OID_GEN_VENDOR_DESCRIPTION (NUL-terminated ASCII).
pub const VENDOR_DESCRIPTION: &[u8] = b"vmqnic: Intel 82576 VMQ miniport\0";
/// OID_GEN_VENDOR_DRIVER_VERSION: major in the high word, minor in the low word.
pub const VENDOR_DRIVER_VERSION: u32 = 0x0000_0001;
/// Packet filters the adapter supports.
pub const SUPPORTED_PACKET_FILTERS: u32 = ndis::NDIS_PACKET_TYPE_DIRECTED
    | ndis::NDIS_PACKET_TYPE_MULTICAST
    | ndis::NDIS_PACKET_TYPE_ALL_MULTICAST
    | ndis::NDIS_PACKET_TYPE_BROADCAST
    | ndis::NDIS_PACKET_TYPE_PROMISCUOUS;

/// The statistics `OID_GEN_STATISTICS` reports (`SupportedStatistics`).
pub const SUPPORTED_STATISTICS: u32 = ndis::NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV
    | ndis::NDIS_STATISTICS_FLAGS_VALID_MULTICAST_FRAMES_RCV
    | ndis::NDIS_STATISTICS_FLAGS_VALID_BROADCAST_FRAMES_RCV
    | ndis::NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV
    | ndis::NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS
    | ndis::NDIS_STATISTICS_FLAGS_VALID_RCV_ERROR
    | ndis::NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT
    | ndis::NDIS_STATISTICS_FLAGS_VALID_MULTICAST_FRAMES_XMIT
    | ndis::NDIS_STATISTICS_FLAGS_VALID_BROADCAST_FRAMES_XMIT
    | ndis::NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT
    | ndis::NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR;

/// The OIDs [`query`] and [`set`] handle, for the general attributes' `SupportedOidList`.
pub const SUPPORTED_OIDS: &[NDIS_OID] = &[
    ndis::OID_GEN_HARDWARE_STATUS,
    ndis::OID_GEN_MEDIA_SUPPORTED,
    ndis::OID_GEN_MEDIA_IN_USE,
    ndis::OID_GEN_MAXIMUM_LOOKAHEAD,
    ndis::OID_GEN_CURRENT_LOOKAHEAD,
    ndis::OID_GEN_MAXIMUM_FRAME_SIZE,
    ndis::OID_GEN_MAXIMUM_TOTAL_SIZE,
    ndis::OID_GEN_LINK_SPEED,
    ndis::OID_GEN_MEDIA_CONNECT_STATUS,
    ndis::OID_GEN_TRANSMIT_BLOCK_SIZE,
    ndis::OID_GEN_RECEIVE_BLOCK_SIZE,
    ndis::OID_GEN_VENDOR_ID,
    ndis::OID_GEN_VENDOR_DESCRIPTION,
    ndis::OID_GEN_VENDOR_DRIVER_VERSION,
    ndis::OID_GEN_DRIVER_VERSION,
    ndis::OID_GEN_MAC_OPTIONS,
    ndis::OID_GEN_CURRENT_PACKET_FILTER,
    ndis::OID_GEN_XMIT_OK,
    ndis::OID_GEN_RCV_OK,
    ndis::OID_GEN_XMIT_ERROR,
    ndis::OID_GEN_RCV_ERROR,
    ndis::OID_GEN_RCV_NO_BUFFER,
    ndis::OID_GEN_RCV_CRC_ERROR,
    ndis::OID_GEN_STATISTICS,
    ndis::OID_GEN_INTERRUPT_MODERATION,
    ndis::OID_802_3_PERMANENT_ADDRESS,
    ndis::OID_802_3_CURRENT_ADDRESS,
    ndis::OID_802_3_MULTICAST_LIST,
    ndis::OID_802_3_MAXIMUM_LIST_SIZE,
];

/// What the protocols have set; changed only by a fully valid [`set`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `NDIS_PACKET_TYPE_*` currently enabled (0 until a protocol sets it: receive nothing).
    pub packet_filter: u32,
    /// Current lookahead.
    pub lookahead: u32,
    /// Multicast list (the first `multicast_count` entries).
    pub multicast: [[u8; 6]; MAXIMUM_MULTICAST_LIST],
    /// Entries of `multicast` in use.
    pub multicast_count: usize,
    /// Interrupt moderation on (EITR throttling) or off.
    pub interrupt_moderation: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            packet_filter: 0,
            lookahead: MAXIMUM_FRAME_SIZE,
            multicast: [[0; 6]; MAXIMUM_MULTICAST_LIST],
            multicast_count: 0,
            interrupt_moderation: true,
        }
    }
}

impl Settings {
    /// The multicast addresses in use.
    #[must_use]
    pub fn multicast_list(&self) -> &[[u8; 6]] {
        self.multicast.get(..self.multicast_count).unwrap_or(&[])
    }
}

/// 64-bit counters since Initialize.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames received and indicated.
    pub rx_ok: u64,
    /// Frames sent.
    pub tx_ok: u64,
    /// Receive errors (CRC, alignment, length, malformed write-backs).
    pub rx_errors: u64,
    /// Frames that failed to send.
    pub tx_errors: u64,
    /// Frames dropped for lack of receive buffers.
    pub rx_no_buffer: u64,
    /// Frames with a CRC error.
    pub rx_crc_errors: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Broadcast frames received.
    pub rx_broadcast: u64,
    /// Multicast frames received.
    pub rx_multicast: u64,
    /// Broadcast frames sent.
    pub tx_broadcast: u64,
    /// Multicast frames sent.
    pub tx_multicast: u64,
}

/// What a query needs to know about the adapter right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// EEPROM address.
    pub permanent_mac: [u8; 6],
    /// Address in use.
    pub current_mac: [u8; 6],
    /// Link as last seen.
    pub link: LinkState,
    /// Counters.
    pub counters: Counters,
}

/// Answers a query OID into `out` (which is only written, never read).
#[must_use]
pub fn query(oid: NDIS_OID, snapshot: &Snapshot, settings: &Settings, out: &mut [u8]) -> Outcome {
    let u32_answer = |out: &mut [u8], value: u32| answer(out, &value.to_le_bytes());
    let c = &snapshot.counters;
    match oid {
        ndis::OID_GEN_HARDWARE_STATUS => u32_answer(out, ndis::NdisHardwareStatusReady),
        ndis::OID_GEN_MEDIA_SUPPORTED | ndis::OID_GEN_MEDIA_IN_USE => {
            u32_answer(out, ndis::NdisMedium802_3)
        }
        ndis::OID_GEN_MAXIMUM_LOOKAHEAD | ndis::OID_GEN_MAXIMUM_FRAME_SIZE => {
            u32_answer(out, MAXIMUM_FRAME_SIZE)
        }
        ndis::OID_GEN_CURRENT_LOOKAHEAD => u32_answer(out, settings.lookahead),
        ndis::OID_GEN_MAXIMUM_TOTAL_SIZE
        | ndis::OID_GEN_TRANSMIT_BLOCK_SIZE
        | ndis::OID_GEN_RECEIVE_BLOCK_SIZE => u32_answer(out, MAXIMUM_TOTAL_SIZE),
        // In units of 100 bit/s.
        ndis::OID_GEN_LINK_SPEED => {
            u32_answer(out, snapshot.link.speed_mbps.saturating_mul(10_000))
        }
        ndis::OID_GEN_MEDIA_CONNECT_STATUS => u32_answer(
            out,
            if snapshot.link.up {
                ndis::MediaConnectStateConnected
            } else {
                ndis::MediaConnectStateDisconnected
            },
        ),
        ndis::OID_GEN_VENDOR_ID => u32_answer(out, VENDOR_ID),
        ndis::OID_GEN_VENDOR_DESCRIPTION => answer(out, VENDOR_DESCRIPTION),
        ndis::OID_GEN_VENDOR_DRIVER_VERSION => u32_answer(out, VENDOR_DRIVER_VERSION),
        ndis::OID_GEN_DRIVER_VERSION => answer(out, &0x0630_u16.to_le_bytes()),
        ndis::OID_GEN_MAC_OPTIONS => u32_answer(
            out,
            ndis::NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA
                | ndis::NDIS_MAC_OPTION_TRANSFERS_NOT_PEND
                | ndis::NDIS_MAC_OPTION_NO_LOOPBACK
                | ndis::NDIS_MAC_OPTION_8021P_PRIORITY
                | ndis::NDIS_MAC_OPTION_8021Q_VLAN,
        ),
        ndis::OID_GEN_CURRENT_PACKET_FILTER => u32_answer(out, settings.packet_filter),
        ndis::OID_GEN_XMIT_OK => answer_counter(out, c.tx_ok),
        ndis::OID_GEN_RCV_OK => answer_counter(out, c.rx_ok),
        ndis::OID_GEN_XMIT_ERROR => answer_counter(out, c.tx_errors),
        ndis::OID_GEN_RCV_ERROR => answer_counter(out, c.rx_errors),
        ndis::OID_GEN_RCV_NO_BUFFER => answer_counter(out, c.rx_no_buffer),
        ndis::OID_GEN_RCV_CRC_ERROR => answer_counter(out, c.rx_crc_errors),
        ndis::OID_GEN_STATISTICS => answer(out, statistics_bytes(c).as_slice()),
        ndis::OID_GEN_INTERRUPT_MODERATION => {
            answer(out, &moderation_bytes(settings.interrupt_moderation))
        }
        ndis::OID_802_3_PERMANENT_ADDRESS => answer(out, &snapshot.permanent_mac),
        ndis::OID_802_3_CURRENT_ADDRESS => answer(out, &snapshot.current_mac),
        ndis::OID_802_3_MULTICAST_LIST => answer(out, settings.multicast_list().as_flattened()),
        ndis::OID_802_3_MAXIMUM_LIST_SIZE => {
            u32_answer(out, u32::try_from(MAXIMUM_MULTICAST_LIST).unwrap_or(u32::MAX))
        }
        _ => Outcome::Failed(NDIS_STATUS_NOT_SUPPORTED),
    }
}

/// Applies a set OID to `settings` only if `input` is entirely valid; otherwise `settings` is
/// left exactly as it was.
pub fn set(oid: NDIS_OID, input: &[u8], settings: &mut Settings) -> Outcome {
    let mut next = *settings;
    let outcome = match oid {
        ndis::OID_GEN_CURRENT_PACKET_FILTER => with_u32(input, |filter| {
            if filter & !SUPPORTED_PACKET_FILTERS != 0 {
                return Err(NDIS_STATUS_NOT_SUPPORTED);
            }
            next.packet_filter = filter;
            Ok(())
        }),
        ndis::OID_GEN_CURRENT_LOOKAHEAD => with_u32(input, |lookahead| {
            if lookahead > MAXIMUM_FRAME_SIZE {
                return Err(NDIS_STATUS_INVALID_DATA);
            }
            next.lookahead = lookahead;
            Ok(())
        }),
        ndis::OID_802_3_MULTICAST_LIST => set_multicast_list(input, &mut next),
        ndis::OID_GEN_INTERRUPT_MODERATION => set_interrupt_moderation(input, &mut next),
        _ => Outcome::Failed(NDIS_STATUS_NOT_SUPPORTED),
    };
    if matches!(outcome, Outcome::Done { .. }) {
        *settings = next;
    }
    outcome
}

fn with_u32(
    input: &[u8],
    apply: impl FnOnce(u32) -> Result<(), crate::ndis::NDIS_STATUS>,
) -> Outcome {
    let Some(bytes) = input.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return Outcome::TooShort { needed: 4 };
    };
    match apply(u32::from_le_bytes(bytes)) {
        Ok(()) => Outcome::Done { bytes: 4, needed: 4 },
        Err(status) => Outcome::Failed(status),
    }
}

fn set_multicast_list(input: &[u8], next: &mut Settings) -> Outcome {
    // The list is whole 6-byte addresses; a partial address is a malformed request.
    if !input.len().is_multiple_of(6) {
        return Outcome::TooShort {
            needed: u32::try_from(input.len().div_ceil(6) * 6).unwrap_or(u32::MAX),
        };
    }
    let addresses = input.chunks_exact(6);
    if addresses.len() > MAXIMUM_MULTICAST_LIST {
        return Outcome::Failed(NDIS_STATUS_MULTICAST_FULL);
    }
    let mut list = [[0u8; 6]; MAXIMUM_MULTICAST_LIST];
    for (slot, address) in list.iter_mut().zip(addresses) {
        // Only group addresses (I/G bit set) belong in a multicast list.
        if address.first().is_none_or(|first| first & 1 == 0) {
            return Outcome::Failed(NDIS_STATUS_INVALID_DATA);
        }
        slot.copy_from_slice(address);
    }
    next.multicast = list;
    next.multicast_count = input.len() / 6;
    let read = u32::try_from(input.len()).unwrap_or(u32::MAX);
    Outcome::Done { bytes: read, needed: read }
}

fn set_interrupt_moderation(input: &[u8], next: &mut Settings) -> Outcome {
    const SIZE: usize = size_of::<NDIS_INTERRUPT_MODERATION_PARAMETERS>();
    let Some(bytes) = input.get(..SIZE) else {
        return Outcome::TooShort { needed: u32::try_from(SIZE).unwrap_or(u32::MAX) };
    };
    let field = |offset: usize| crate::interrupt::bytes::read_u32(bytes, offset).unwrap_or(0);
    let header_ok = bytes.first() == Some(&NDIS_OBJECT_TYPE_DEFAULT)
        && bytes.get(1).is_some_and(|revision| *revision >= 1)
        && crate::interrupt::bytes::read_u16(bytes, 2)
            .is_some_and(|size| usize::from(size) >= SIZE);
    if !header_ok {
        return Outcome::Failed(NDIS_STATUS_INVALID_PARAMETER);
    }
    next.interrupt_moderation =
        match field(offset_of!(NDIS_INTERRUPT_MODERATION_PARAMETERS, InterruptModeration)) {
            ndis::NdisInterruptModerationEnabled => true,
            ndis::NdisInterruptModerationDisabled => false,
            _ => return Outcome::Failed(NDIS_STATUS_INVALID_PARAMETER),
        };
    let read = u32::try_from(SIZE).unwrap_or(u32::MAX);
    Outcome::Done { bytes: read, needed: read }
}

fn moderation_bytes(enabled: bool) -> [u8; size_of::<NDIS_INTERRUPT_MODERATION_PARAMETERS>()] {
    let parameters = NDIS_INTERRUPT_MODERATION_PARAMETERS {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_DEFAULT,
            ndis::NDIS_INTERRUPT_MODERATION_PARAMETERS_REVISION_1,
            ndis::NDIS_SIZEOF_INTERRUPT_MODERATION_PARAMETERS_REVISION_1,
        ),
        Flags: 0,
        InterruptModeration: if enabled {
            ndis::NdisInterruptModerationEnabled
        } else {
            ndis::NdisInterruptModerationDisabled
        },
    };
    let mut out = [0u8; size_of::<NDIS_INTERRUPT_MODERATION_PARAMETERS>()];
    out[0] = parameters.Header.Type;
    out[1] = parameters.Header.Revision;
    out[2..4].copy_from_slice(&parameters.Header.Size.to_le_bytes());
    out[4..8].copy_from_slice(&parameters.Flags.to_le_bytes());
    out[8..12].copy_from_slice(&parameters.InterruptModeration.to_le_bytes());
    out
}

/// `NDIS_STATISTICS_INFO` for `c`, as bytes (x64 layout, asserted in `ndis`).
fn statistics_bytes(c: &Counters) -> [u8; size_of::<NDIS_STATISTICS_INFO>()] {
    let rx_unicast = c.rx_ok.saturating_sub(c.rx_broadcast).saturating_sub(c.rx_multicast);
    let tx_unicast = c.tx_ok.saturating_sub(c.tx_broadcast).saturating_sub(c.tx_multicast);
    let supported = SUPPORTED_STATISTICS;
    let mut out = [0u8; size_of::<NDIS_STATISTICS_INFO>()];
    out[0] = NDIS_OBJECT_TYPE_DEFAULT;
    out[1] = ndis::NDIS_STATISTICS_INFO_REVISION_1;
    out[2..4].copy_from_slice(&ndis::NDIS_SIZEOF_STATISTICS_INFO_REVISION_1.to_le_bytes());
    out[4..8].copy_from_slice(&supported.to_le_bytes());
    let counters: [(usize, u64); 12] = [
        (offset_of!(NDIS_STATISTICS_INFO, ifInDiscards), c.rx_no_buffer),
        (offset_of!(NDIS_STATISTICS_INFO, ifInErrors), c.rx_errors),
        (offset_of!(NDIS_STATISTICS_INFO, ifHCInOctets), c.rx_bytes),
        (offset_of!(NDIS_STATISTICS_INFO, ifHCInUcastPkts), rx_unicast),
        (offset_of!(NDIS_STATISTICS_INFO, ifHCInMulticastPkts), c.rx_multicast),
        (offset_of!(NDIS_STATISTICS_INFO, ifHCInBroadcastPkts), c.rx_broadcast),
        (offset_of!(NDIS_STATISTICS_INFO, ifHCOutOctets), c.tx_bytes),
        (offset_of!(NDIS_STATISTICS_INFO, ifHCOutUcastPkts), tx_unicast),
        (offset_of!(NDIS_STATISTICS_INFO, ifHCOutMulticastPkts), c.tx_multicast),
        (offset_of!(NDIS_STATISTICS_INFO, ifHCOutBroadcastPkts), c.tx_broadcast),
        (offset_of!(NDIS_STATISTICS_INFO, ifOutErrors), c.tx_errors),
        (offset_of!(NDIS_STATISTICS_INFO, ifOutDiscards), 0),
    ];
    for (offset, value) in counters {
        crate::interrupt::bytes::write_u64(&mut out, offset, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn snapshot() -> Snapshot {
        Snapshot {
            permanent_mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            current_mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            link: LinkState { up: true, speed_mbps: 1000, full_duplex: true },
            counters: Counters {
                rx_ok: 0x1_0000_0005,
                tx_ok: 7,
                rx_broadcast: 2,
                rx_multicast: 1,
                rx_bytes: 1234,
                tx_bytes: 99,
                ..Counters::default()
            },
        }
    }

    fn query_vec(oid: NDIS_OID, len: usize) -> (Outcome, Vec<u8>) {
        let mut out = vec![0xAA; len];
        let outcome = query(oid, &snapshot(), &Settings::default(), &mut out);
        (outcome, out)
    }

    #[test]
    fn simple_queries() {
        let (outcome, out) = query_vec(ndis::OID_GEN_LINK_SPEED, 4);
        assert_eq!(outcome, Outcome::Done { bytes: 4, needed: 4 });
        assert_eq!(
            u32::from_le_bytes(out[..4].try_into().unwrap()),
            10_000_000,
            "1 Gb/s in 100 b/s units"
        );
        let (_, out) = query_vec(ndis::OID_802_3_PERMANENT_ADDRESS, 6);
        assert_eq!(out, snapshot().permanent_mac);
        let (_, out) = query_vec(ndis::OID_GEN_MEDIA_CONNECT_STATUS, 4);
        assert_eq!(out, ndis::MediaConnectStateConnected.to_le_bytes());
        assert_eq!(query_vec(0x0101_0108, 4).0, Outcome::Failed(NDIS_STATUS_NOT_SUPPORTED));
    }

    #[test]
    fn short_buffers_get_bytes_needed_and_are_not_written() {
        let (outcome, out) = query_vec(ndis::OID_802_3_CURRENT_ADDRESS, 5);
        assert_eq!(outcome, Outcome::TooShort { needed: 6 });
        assert_eq!(outcome.status(false), ndis::NDIS_STATUS_BUFFER_TOO_SHORT);
        assert_eq!(out, vec![0xAA; 5]);
    }

    #[test]
    fn sixty_four_bit_counters_answer_four_or_eight_bytes() {
        let (outcome, out) = query_vec(ndis::OID_GEN_RCV_OK, 8);
        assert_eq!(outcome, Outcome::Done { bytes: 8, needed: 8 });
        assert_eq!(u64::from_le_bytes(out.try_into().unwrap()), 0x1_0000_0005);
        let (outcome, out) = query_vec(ndis::OID_GEN_RCV_OK, 4);
        assert_eq!(outcome, Outcome::Done { bytes: 4, needed: 8 });
        assert_eq!(u32::from_le_bytes(out.try_into().unwrap()), 5, "the low 32 bits");
        let (outcome, out) = query_vec(ndis::OID_GEN_RCV_OK, 6);
        assert_eq!(outcome, Outcome::Done { bytes: 4, needed: 8 });
        assert_eq!(out[4..], [0xAA, 0xAA]);
        assert_eq!(query_vec(ndis::OID_GEN_RCV_OK, 3).0, Outcome::TooShort { needed: 8 });
    }

    #[test]
    fn statistics() {
        let (outcome, out) = query_vec(ndis::OID_GEN_STATISTICS, 0x98);
        assert_eq!(outcome, Outcome::Done { bytes: 0x98, needed: 0x98 });
        assert_eq!(&out[..4], &[0x80, 1, 0x98, 0]);
        let at = |offset: usize| u64::from_le_bytes(out[offset..offset + 8].try_into().unwrap());
        assert_eq!(at(offset_of!(NDIS_STATISTICS_INFO, ifHCInUcastPkts)), 0x1_0000_0002);
        assert_eq!(at(offset_of!(NDIS_STATISTICS_INFO, ifHCInBroadcastPkts)), 2);
        assert_eq!(at(offset_of!(NDIS_STATISTICS_INFO, ifHCInOctets)), 1234);
        assert_eq!(at(offset_of!(NDIS_STATISTICS_INFO, ifHCOutUcastPkts)), 7);
    }

    #[test]
    fn packet_filter_and_lookahead() {
        let mut settings = Settings::default();
        let filter = ndis::NDIS_PACKET_TYPE_DIRECTED | ndis::NDIS_PACKET_TYPE_BROADCAST;
        assert_eq!(
            set(ndis::OID_GEN_CURRENT_PACKET_FILTER, &filter.to_le_bytes(), &mut settings).bytes(),
            4
        );
        assert_eq!(settings.packet_filter, filter);
        let before = settings;
        // NDIS_PACKET_TYPE_SOURCE_ROUTING (0x10) is not supported.
        assert_eq!(
            set(ndis::OID_GEN_CURRENT_PACKET_FILTER, &0x10u32.to_le_bytes(), &mut settings),
            Outcome::Failed(NDIS_STATUS_NOT_SUPPORTED)
        );
        assert_eq!(
            set(ndis::OID_GEN_CURRENT_LOOKAHEAD, &9000u32.to_le_bytes(), &mut settings),
            Outcome::Failed(NDIS_STATUS_INVALID_DATA)
        );
        let short = set(ndis::OID_GEN_CURRENT_PACKET_FILTER, &[1, 0], &mut settings);
        assert_eq!(
            (short, short.status(true)),
            (Outcome::TooShort { needed: 4 }, ndis::NDIS_STATUS_INVALID_LENGTH)
        );
        assert_eq!(settings, before, "failed sets change nothing");
    }

    #[test]
    fn multicast_list() {
        let mut settings = Settings::default();
        let list = [0x01, 0, 0x5E, 0, 0, 1, 0x33, 0x33, 0, 0, 0, 1];
        assert_eq!(set(ndis::OID_802_3_MULTICAST_LIST, &list, &mut settings).bytes(), 12);
        assert_eq!(
            settings.multicast_list(),
            &[[0x01, 0, 0x5E, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 1]]
        );
        let (_, out) = {
            let mut out = vec![0; 12];
            (query(ndis::OID_802_3_MULTICAST_LIST, &snapshot(), &settings, &mut out), out)
        };
        assert_eq!(out, list);
        let before = settings;
        assert_eq!(
            set(ndis::OID_802_3_MULTICAST_LIST, &list[..7], &mut settings),
            Outcome::TooShort { needed: 12 }
        );
        assert_eq!(
            set(ndis::OID_802_3_MULTICAST_LIST, &[2, 0, 0, 0, 0, 1], &mut settings),
            Outcome::Failed(NDIS_STATUS_INVALID_DATA)
        );
        assert_eq!(
            set(ndis::OID_802_3_MULTICAST_LIST, &[1u8; 6 * 33], &mut settings),
            Outcome::Failed(NDIS_STATUS_MULTICAST_FULL)
        );
        assert_eq!(settings, before);
        assert_eq!(set(ndis::OID_802_3_MULTICAST_LIST, &[], &mut settings).bytes(), 0);
        assert!(settings.multicast_list().is_empty(), "an empty list clears it");
    }

    #[test]
    fn interrupt_moderation() {
        let mut settings = Settings::default();
        let (_, out) = query_vec(ndis::OID_GEN_INTERRUPT_MODERATION, 12);
        assert_eq!(
            u32::from_le_bytes(out[8..12].try_into().unwrap()),
            ndis::NdisInterruptModerationEnabled
        );
        let mut disable = moderation_bytes(false);
        assert_eq!(set(ndis::OID_GEN_INTERRUPT_MODERATION, &disable, &mut settings).bytes(), 12);
        assert!(!settings.interrupt_moderation);
        disable[0] = 0x81;
        assert_eq!(
            set(ndis::OID_GEN_INTERRUPT_MODERATION, &disable, &mut settings),
            Outcome::Failed(NDIS_STATUS_INVALID_PARAMETER)
        );
        let mut unknown = moderation_bytes(true);
        unknown[8] = 1; // NotSupported is not something a protocol may set
        assert_eq!(
            set(ndis::OID_GEN_INTERRUPT_MODERATION, &unknown, &mut settings),
            Outcome::Failed(NDIS_STATUS_INVALID_PARAMETER)
        );
        assert!(!settings.interrupt_moderation);
    }

    proptest! {
        /// OID security rules: a query writes nothing past what it reports, reports a need
        /// larger than the buffer when it is short, and leaves a short buffer untouched.
        #[test]
        fn queries_stay_inside_their_buffer(index in 0..SUPPORTED_OIDS.len(), len in 0usize..0x100) {
            let oid = SUPPORTED_OIDS[index];
            let (outcome, out) = query_vec(oid, len);
            match outcome {
                Outcome::Done { bytes, needed } => {
                    prop_assert!(bytes as usize <= len);
                    prop_assert!(needed >= bytes);
                    prop_assert!(out[bytes as usize..].iter().all(|b| *b == 0xAA));
                }
                Outcome::TooShort { needed } => {
                    prop_assert!(needed as usize > len);
                    prop_assert!(out.iter().all(|b| *b == 0xAA));
                }
                Outcome::Failed(_) => prop_assert!(out.iter().all(|b| *b == 0xAA)),
            }
        }

        /// A set either succeeds reading no more than it was given, or changes nothing.
        #[test]
        fn sets_are_all_or_nothing(index in 0..SUPPORTED_OIDS.len(), input in proptest::collection::vec(any::<u8>(), 0..240)) {
            let mut settings = Settings::default();
            let before = settings;
            if let Outcome::Done { bytes, .. } = set(SUPPORTED_OIDS[index], &input, &mut settings) {
                prop_assert!(bytes as usize <= input.len());
            } else {
                prop_assert_eq!(settings, before);
            }
        }
    }
}
