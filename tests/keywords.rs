//! The standardized keywords, read by the real driver at MiniportInitializeEx on QEMU's 82576
//! under the simulated NDIS: `*VMQ` = 0 turns VMQ off (the current receive-filter capabilities
//! carry only their header, and ALLOCATE_QUEUE is refused), `*VMQVlanFiltering` = 0 takes VLAN
//! filtering out of the current capabilities (and filters on a VLAN id are refused), and values
//! out of range get the documented defaults. The driver reads exactly its three keywords, as
//! integers, and closes the configuration handle before Initialize returns.

mod common;

use std::mem::offset_of;
use std::time::Duration;

use common::*;
use ndis_sim::sim::{
    GrantPolicy, KeywordValue, OidCompletion, OidOutcome, OidRequest, Sim, SimConfig,
    StringConversion,
};
use ndis_sim::vmq_requests::{self, FilterField};
use vmqnic::ndis::{
    NDIS_RECEIVE_FILTER_CAPABILITIES, NDIS_RECEIVE_FILTER_MAC_HEADER_DEST_ADDR_SUPPORTED,
    NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED, NDIS_STATUS_INVALID_PARAMETER,
    NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_SUCCESS, NdisParameterInteger,
};
use vmqnic::vmq::keywords::READ_BY_DRIVER;

/// The VM queues a full grant offers on 2 groups × 2 processors: one per receive processor.
const QUEUES: u32 = 4;

/// A VM's MAC address.
const VM_MAC: [u8; 6] = [0x02, 0x56, 0x4D, 0, 0, 1];

/// Two groups of two processors, QEMU's 82576, the registry as `keywords` leaves it.
fn machine(keywords: &[(&str, KeywordValue)]) -> SimConfig {
    keywords.iter().fold(SimConfig::with_groups(&[2, 2]), |config, (name, value)| {
        config.with_keyword(name, value.clone())
    })
}

/// What the adapter reported: (`NumQueues`, `SupportedMacHeaderFields`,
/// `SupportedQueueProperties`) of (hardware, current) capabilities.
fn capabilities(sim: &Sim) -> ([u32; 3], [u32; 3]) {
    let field = |bytes: &[u8], at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let read = |bytes: Option<Vec<u8>>| {
        let bytes = bytes.expect("the hardware-assist attributes point at capabilities");
        [
            field(&bytes, offset_of!(NDIS_RECEIVE_FILTER_CAPABILITIES, NumQueues)),
            field(&bytes, offset_of!(NDIS_RECEIVE_FILTER_CAPABILITIES, SupportedMacHeaderFields)),
            field(&bytes, offset_of!(NDIS_RECEIVE_FILTER_CAPABILITIES, SupportedQueueProperties)),
        ]
    };
    let (hardware, current) = sim.receive_filter_capabilities();
    (read(hardware), read(current))
}

fn completed(sim: &mut Sim, request: &OidRequest) -> OidCompletion {
    match sim.oid_request(request).expect("OID request") {
        OidOutcome::Completed(done) => done,
        OidOutcome::Pending(id) => sim.wait_oid(id, Duration::from_secs(5)).expect("completion"),
    }
}

/// The adapter's own frames still arrive on the default queue.
fn default_queue_receives(sim: &Sim) {
    let frames: Vec<Vec<u8>> = (0..4).map(|n| frame(mac(sim), n)).collect();
    inject(sim, &frames);
    assert!(received(sim).iter().all(|nbl| nbl.queue_id == 0));
}

const MAC_AND_VLAN: u32 = NDIS_RECEIVE_FILTER_MAC_HEADER_DEST_ADDR_SUPPORTED
    | NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED;

#[test]
fn by_default_vmq_and_vlan_filtering_are_on() {
    let sim = running(machine(&[]), GrantPolicy::AsRequested);
    let (hardware, current) = capabilities(&sim);
    assert_eq!(hardware[..2], [7, MAC_AND_VLAN]);
    assert_eq!(current[..2], [QUEUES, MAC_AND_VLAN], "one queue per receive processor");
    stop(sim);
}

#[test]
fn the_driver_reads_its_three_keywords_as_integers_and_closes_the_handle() {
    let sim = running(machine(&[]), GrantPolicy::AsRequested);
    let reads = sim.configuration_reads();
    let names: Vec<&str> = reads.iter().map(|r| r.keyword.as_str()).collect();
    let expected: Vec<&str> = READ_BY_DRIVER.iter().map(|k| k.name).collect();
    assert_eq!(names, expected, "the preference first; never an RSS keyword");
    assert!(reads.iter().all(|r| r.requested == NdisParameterInteger));
    assert!(reads.iter().all(|r| r.handle == reads[0].handle), "one handle");
    // The hidden preference is not in a fresh registry: the read fails, the default holds.
    assert_eq!(reads[0].returned, None);
    assert_eq!(reads[1].returned, Some(NdisParameterInteger), "\"1\", converted by NDIS");
    assert_eq!(sim.open_configurations(), vec![]);
    let calls = sim.allocation_calls_by_function();
    assert_eq!(calls.get("NdisOpenConfigurationEx"), Some(&1));
    stop(sim);
}

#[test]
fn vmq_keyword_off_reports_vmq_off_and_refuses_queues() {
    let mut sim =
        running(machine(&[("*VMQ", KeywordValue::string("0"))]), GrantPolicy::AsRequested);
    let (hardware, current) = capabilities(&sim);
    assert_eq!(hardware[0], 7, "the hardware capabilities are always reported in full");
    assert_eq!(current, [0, 0, 0], "VMQ off: the header alone");
    let done = completed(&mut sim, &vmq_requests::allocate_queue(1, 0, 1 << 1));
    assert_eq!(done.status, NDIS_STATUS_NOT_SUPPORTED);
    let fields = [FilterField::Mac { address: VM_MAC, untagged_or_zero: true }];
    let done = completed(&mut sim, &vmq_requests::set_filter(1, 1, &fields));
    assert_eq!(done.status, NDIS_STATUS_NOT_SUPPORTED);
    default_queue_receives(&sim);
    stop(sim);
}

#[test]
fn vlan_filtering_keyword_off_refuses_vlan_filters() {
    let keywords = [("*VMQVlanFiltering", KeywordValue::string("0"))];
    let mut sim = running(machine(&keywords), GrantPolicy::AsRequested);
    let (hardware, current) = capabilities(&sim);
    assert_eq!(hardware[1], MAC_AND_VLAN, "the hardware still can");
    assert_eq!(current[..2], [QUEUES, NDIS_RECEIVE_FILTER_MAC_HEADER_DEST_ADDR_SUPPORTED]);
    assert_eq!(current[2], hardware[2], "queue properties unchanged");
    let done = completed(&mut sim, &vmq_requests::allocate_queue(1, 0, 1 << 1));
    assert_eq!(done.status, NDIS_STATUS_SUCCESS);
    let tagged =
        [FilterField::Mac { address: VM_MAC, untagged_or_zero: false }, FilterField::Vlan(100)];
    let done = completed(&mut sim, &vmq_requests::set_filter(1, 1, &tagged));
    assert_eq!(done.status, NDIS_STATUS_INVALID_PARAMETER, "a VLAN filter is refused");
    let untagged = [FilterField::Mac { address: VM_MAC, untagged_or_zero: true }];
    let done = completed(&mut sim, &vmq_requests::set_filter(1, 2, &untagged));
    assert_eq!(done.status, NDIS_STATUS_SUCCESS, "a MAC filter is not");
    let done = completed(&mut sim, &vmq_requests::free_queue(1));
    assert_eq!(done.status, NDIS_STATUS_SUCCESS);
    stop(sim);
}

#[test]
fn out_of_range_values_get_the_defaults() {
    let keywords = [
        ("*VMQ", KeywordValue::string("7")),
        ("*VMQVlanFiltering", KeywordValue::Dword(2)),
        ("*RssOrVmqPreference", KeywordValue::string("-1")),
    ];
    let sim = running(machine(&keywords), GrantPolicy::AsRequested);
    let (_, current) = capabilities(&sim);
    assert_eq!(current[..2], [QUEUES, MAC_AND_VLAN], "as if the registry held the defaults");
    stop(sim);
}

#[test]
fn values_of_another_type_get_the_defaults() {
    let keywords = [
        ("*VMQ", KeywordValue::Binary(vec![0])),
        ("*VMQVlanFiltering", KeywordValue::MultiString(vec!["0".into()])),
    ];
    let sim = running(machine(&keywords), GrantPolicy::AsRequested);
    let (_, current) = capabilities(&sim);
    assert_eq!(current[..2], [QUEUES, MAC_AND_VLAN]);
    stop(sim);
}

#[test]
fn strings_ndis_hands_over_unconverted_are_parsed_strictly() {
    // The WDK says NDIS may ignore the requested type: "0" still turns VMQ off, but a string
    // that is not a plain number gets the default (ndis.sys itself would have made it 0).
    let keywords =
        [("*VMQ", KeywordValue::string(" 0 ")), ("*VMQVlanFiltering", KeywordValue::string("off"))];
    let config = machine(&keywords).with_string_conversion(StringConversion::None);
    let sim = running(config, GrantPolicy::AsRequested);
    assert_eq!(capabilities(&sim).1, [0, 0, 0], "*VMQ \" 0 \": VMQ off");
    stop(sim);

    let keywords = [("*VMQVlanFiltering", KeywordValue::string("off"))];
    let config = machine(&keywords).with_string_conversion(StringConversion::None);
    let sim = running(config, GrantPolicy::AsRequested);
    assert_eq!(capabilities(&sim).1[1], MAC_AND_VLAN, "\"off\": the default, on");
    stop(sim);
}

#[test]
fn a_string_ndis_converts_to_zero_turns_the_keyword_off() {
    // ndis.sys converts any REG_SZ read as an integer and ignores the conversion's status:
    // "off" arrives as 0, a value the keyword allows. The driver cannot tell; this documents it.
    let keywords = [("*VMQVlanFiltering", KeywordValue::string("off"))];
    let sim = running(machine(&keywords), GrantPolicy::AsRequested);
    assert_eq!(capabilities(&sim).1[1], NDIS_RECEIVE_FILTER_MAC_HEADER_DEST_ADDR_SUPPORTED);
    stop(sim);
}

#[test]
fn the_preference_changes_nothing_in_a_vmq_only_driver() {
    for preference in ["0", "1"] {
        let keywords = [("*RssOrVmqPreference", KeywordValue::string(preference))];
        let sim = running(machine(&keywords), GrantPolicy::AsRequested);
        assert_eq!(capabilities(&sim).1[..2], [QUEUES, MAC_AND_VLAN], "preference {preference}");
        stop(sim);
    }
}

#[test]
fn a_keyword_change_takes_effect_at_the_next_initialize() {
    let mut sim = running(machine(&[]), GrantPolicy::AsRequested);
    assert_eq!(capabilities(&sim).1[0], QUEUES);
    sim.stop_device().unwrap();
    sim.set_keyword("*VMQ", Some(KeywordValue::string("0")));
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    assert_eq!(capabilities(&sim).1, [0, 0, 0]);
    let done = completed(&mut sim, &vmq_requests::allocate_queue(1, 0, 1 << 1));
    assert_eq!(done.status, NDIS_STATUS_NOT_SUPPORTED);
    stop(sim);
}
