//! `oid::general::set`: any OID, any input. A set reads at most its input and is all or
//! nothing: refused, the settings are exactly as before; accepted, a query of the same OID
//! answers what was set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::hw::igb::LinkState;
use vmqnic::ndis::{
    OID_802_3_MULTICAST_LIST, OID_GEN_CURRENT_LOOKAHEAD, OID_GEN_CURRENT_PACKET_FILTER,
    OID_GEN_INTERRUPT_MODERATION,
};
use vmqnic::oid::Outcome;
use vmqnic::oid::general::{Counters, Settings, Snapshot, query, set};
use vmqnic_fuzz::Reader;

const SETS: [u32; 4] = [
    OID_GEN_CURRENT_PACKET_FILTER,
    OID_GEN_CURRENT_LOOKAHEAD,
    OID_802_3_MULTICAST_LIST,
    OID_GEN_INTERRUPT_MODERATION,
];

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let selector = usize::from(r.u8());
    let oid = SETS.get(selector % 8).copied().unwrap_or_else(|| r.u32());
    // A first set, so that the second one starts from a state other than the default.
    let first = usize::from(r.u8());
    let input = r.rest();
    let (first_input, input) = input.split_at(first.min(input.len()));
    let mut settings = Settings::default();
    let _ = set(oid, first_input, &mut settings);

    let before = settings;
    let outcome = set(oid, input, &mut settings);
    match outcome {
        Outcome::Done { bytes, needed } => {
            assert!(usize::try_from(bytes).unwrap() <= input.len(), "BytesRead beyond the input");
            assert!(needed >= bytes);
        }
        Outcome::TooShort { needed } => {
            assert!(usize::try_from(needed).unwrap() > input.len(), "BytesNeeded {needed}");
            assert_eq!(settings, before, "a refused set changed the settings");
        }
        Outcome::Failed(_) => assert_eq!(settings, before, "a refused set changed the settings"),
    }
    if !matches!(outcome, Outcome::Done { .. }) {
        return;
    }
    let snapshot = Snapshot {
        permanent_mac: [0; 6],
        current_mac: [0; 6],
        link: LinkState { up: false, speed_mbps: 0, full_duplex: false },
        counters: Counters::default(),
    };
    let mut answer = vec![0u8; 0x400];
    let written = query(oid, &snapshot, &settings, &mut answer).bytes();
    let answer = &answer[..usize::try_from(written).unwrap()];
    match oid {
        OID_GEN_CURRENT_PACKET_FILTER | OID_GEN_CURRENT_LOOKAHEAD => {
            assert_eq!(answer, &input[..4], "the query answers another value");
        }
        OID_802_3_MULTICAST_LIST => assert_eq!(answer, input, "the query answers another list"),
        OID_GEN_INTERRUPT_MODERATION => {
            assert_eq!(answer[8..12], input[8..12], "the query answers another moderation");
        }
        _ => unreachable!("only these four sets succeed"),
    }
});
