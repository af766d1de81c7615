//! `oid::general::query`: any OID, any output length, any adapter state. The answer fits the
//! buffer, what it reports as written is all it wrote, a short buffer gets BytesNeeded and
//! nothing else, and the answer does not depend on what the output buffer held (it is never
//! read back): the same query into a buffer of 0x00 and one of 0xFF answers identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::hw::igb::LinkState;
use vmqnic::oid::Outcome;
use vmqnic::oid::general::{
    Counters, MAXIMUM_MULTICAST_LIST, SUPPORTED_OIDS, Settings, Snapshot, query,
};
use vmqnic_fuzz::Reader;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let selector = usize::from(r.u8());
    let oid = SUPPORTED_OIDS.get(selector).copied().unwrap_or_else(|| r.u32());
    let length = usize::from(r.u16() % 0x400);
    let snapshot = Snapshot {
        permanent_mac: r.array(),
        current_mac: r.array(),
        link: LinkState { up: r.bool(), speed_mbps: r.u32(), full_duplex: r.bool() },
        counters: Counters {
            rx_ok: r.u64(),
            tx_ok: r.u64(),
            rx_errors: r.u64(),
            tx_errors: r.u64(),
            rx_no_buffer: r.u64(),
            rx_crc_errors: r.u64(),
            rx_bytes: r.u64(),
            tx_bytes: r.u64(),
            rx_broadcast: r.u64(),
            rx_multicast: r.u64(),
            tx_broadcast: r.u64(),
            tx_multicast: r.u64(),
        },
    };
    let mut settings = Settings {
        packet_filter: r.u32(),
        lookahead: r.u32(),
        interrupt_moderation: r.bool(),
        ..Settings::default()
    };
    settings.multicast_count = usize::from(r.u8()) % (MAXIMUM_MULTICAST_LIST + 1);
    for address in &mut settings.multicast {
        *address = r.array();
    }

    let mut zeros = vec![0x00u8; length];
    let mut ones = vec![0xFFu8; length];
    let a = query(oid, &snapshot, &settings, &mut zeros);
    let b = query(oid, &snapshot, &settings, &mut ones);
    assert_eq!(a, b, "the answer depends on the output buffer's old content");
    let written = usize::try_from(a.bytes()).unwrap();
    assert!(written <= length, "BytesWritten {written} beyond the {length}-byte buffer");
    assert_eq!(zeros[..written], ones[..written], "a reported byte was not written");
    assert!(zeros[written..].iter().all(|b| *b == 0x00), "written beyond BytesWritten");
    assert!(ones[written..].iter().all(|b| *b == 0xFF), "written beyond BytesWritten");
    match a {
        Outcome::Done { bytes, needed } => assert!(needed >= bytes),
        Outcome::TooShort { needed } => {
            assert!(usize::try_from(needed).unwrap() > length, "BytesNeeded {needed} for {length}");
        }
        Outcome::Failed(_) => {}
    }
});
