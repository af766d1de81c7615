//! The NDIS configuration interface (NdisOpenConfigurationEx, NdisReadConfiguration,
//! NdisCloseConfiguration) over the adapter's simulated registry: what a read returns (ndis.sys's
//! conversions), that the values live only until the close, and every configuration rule made
//! to fire by the fake miniport, next to its passing counterpart.

use std::ptr;

use ndis_sim::sim::exports::{NdisCloseConfiguration, NdisReadConfiguration};
use ndis_sim::sim::{
    ConfigurationRead, GrantPolicy, KeywordValue, Sim, SimConfig, SimError, StringConversion, rules,
};
use vmqnic::interrupt::Processor;
use vmqnic::ndis::{
    NDIS_CONFIGURATION_PARAMETER, NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_STATUS_FAILURE,
    NDIS_STATUS_SUCCESS, NdisParameterBinary, NdisParameterHexInteger, NdisParameterInteger,
    NdisParameterMultiString, NdisParameterString, UNICODE_STRING,
};
use vmqnic::vmq::keywords::{KEYWORDS, Role};

use crate::fake::{self, Behaviour, HALT, INITIALIZE, KeywordRead, Seen, Step, with_fake};

const CPU_0: Processor = Processor { group: 0, number: 0 };

/// Loads and starts the fake on `config` (the start may fail).
fn started_with(config: SimConfig, behaviour: Behaviour) -> (Sim, Result<(), SimError>) {
    let mut sim = Sim::start(config);
    fake::reset(behaviour);
    sim.load_driver(fake::driver_entry).unwrap();
    let started = sim.start_device(GrantPolicy::AsRequested).map(drop);
    (sim, started)
}

fn started(behaviour: Behaviour) -> Sim {
    let (sim, started) = started_with(SimConfig::with_groups(&[2]), behaviour);
    started.unwrap();
    sim
}

/// The well-behaved scripts, with `steps` right after the registration attributes in
/// MiniportInitializeEx (where spec §1.7 step 3 reads the keywords).
fn reading(steps: &[Step]) -> Behaviour {
    Behaviour {
        initialize: [&INITIALIZE[..2], steps, &INITIALIZE[2..]].concat(),
        ..Behaviour::default()
    }
}

fn reads() -> Vec<KeywordRead> {
    with_fake(|f| f.parameters.clone())
}

fn value(keyword: &str) -> Option<Seen> {
    reads().into_iter().find(|r| r.keyword == keyword).and_then(|r| r.value)
}

fn units(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
}

/// The permissions `/proc/self/maps` shows for the page holding `address` (`rw-p`, `---p`).
fn permissions(address: usize) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .find_map(|line| {
            let (range, rest) = line.split_once(' ')?;
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (start..end)
                .contains(&address)
                .then(|| rest.split(' ').next().unwrap_or_default().to_owned())
        })
        .expect("the mapping is in /proc/self/maps")
}

// ---- What a read returns ------------------------------------------------------------------

#[test]
fn reading_keywords_in_initialize_and_closing_breaks_no_rule() {
    let steps = [
        Step::OpenConfiguration,
        Step::ReadKeyword("*VMQ"),
        Step::ReadKeyword("*vmqVLANfiltering"),
        Step::ReadKeyword("*RssOrVmqPreference"),
        Step::CloseConfiguration,
    ];
    let mut sim = started(reading(&steps));
    // The INF's defaults, as REG_SZ, converted by NDIS; the hidden preference is absent.
    assert_eq!(value("*VMQ"), Some(Seen::Integer(NdisParameterInteger, 1)));
    assert_eq!(value("*vmqVLANfiltering"), Some(Seen::Integer(NdisParameterInteger, 1)));
    let absent = &reads()[2];
    assert_eq!((absent.status, absent.parameter, &absent.value), (NDIS_STATUS_FAILURE, 0, &None));
    let handle = with_fake(|f| f.configuration);
    let logged: Vec<ConfigurationRead> = sim.configuration_reads();
    assert_eq!(logged.len(), 3);
    assert!(logged.iter().all(|r| r.handle == handle && r.requested == NdisParameterInteger));
    assert_eq!(logged[0].keyword, "*VMQ");
    assert_eq!((logged[0].status, logged[0].returned), (NDIS_STATUS_SUCCESS, Some(0)));
    assert_eq!((logged[2].status, logged[2].returned), (NDIS_STATUS_FAILURE, None));
    assert_eq!(sim.open_configurations(), vec![]);
    let calls = sim.allocation_calls_by_function();
    assert_eq!(calls.get("NdisOpenConfigurationEx"), Some(&1));
    assert_eq!(calls.get("NdisReadConfiguration"), Some(&3));
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn the_default_registry_holds_the_inf_keywords_at_their_defaults() {
    let registry = SimConfig::with_groups(&[1]).keywords;
    for keyword in KEYWORDS {
        let held = registry.iter().find(|(name, _)| name == keyword.name).map(|(_, v)| v);
        if keyword.role == Role::HiddenReadByDriver {
            assert_eq!(held, None, "{}: the OS sets it, not the INF", keyword.name);
        } else {
            assert_eq!(held, Some(&KeywordValue::String(keyword.default.to_string())));
        }
    }
}

#[test]
fn ndis_converts_a_string_read_as_an_integer() {
    let config = SimConfig::with_groups(&[2])
        .with_keyword("Decimal", KeywordValue::string("12"))
        .with_keyword("Dword", KeywordValue::Dword(7))
        .with_keyword("Letters", KeywordValue::string("abc"))
        .with_keyword("Negative", KeywordValue::string("-1"))
        .with_keyword("Multi", KeywordValue::MultiString(vec!["a".into(), "b".into()]))
        .with_keyword("Bytes", KeywordValue::Binary(vec![1, 2, 3]));
    let steps = [
        Step::OpenConfiguration,
        Step::ReadKeyword("Decimal"),
        Step::ReadKeywordAs("Decimal", NdisParameterHexInteger),
        Step::ReadKeywordAs("Decimal", NdisParameterString),
        Step::ReadKeywordAs("Dword", NdisParameterString),
        Step::ReadKeyword("Letters"),
        Step::ReadKeyword("Negative"),
        Step::ReadKeyword("Multi"),
        Step::ReadKeyword("Bytes"),
        Step::CloseConfiguration,
    ];
    let (sim, started) = started_with(config, reading(&steps));
    started.unwrap();
    let seen: Vec<Option<Seen>> = reads().into_iter().map(|r| r.value).collect();
    assert_eq!(
        seen,
        vec![
            Some(Seen::Integer(NdisParameterInteger, 12)),
            Some(Seen::Integer(NdisParameterHexInteger, 0x12)),
            Some(Seen::Text(NdisParameterString, units("12"))),
            Some(Seen::Integer(NdisParameterInteger, 7)),
            Some(Seen::Integer(NdisParameterInteger, 0)),
            Some(Seen::Integer(NdisParameterInteger, u32::MAX)),
            Some(Seen::Text(NdisParameterMultiString, vec![0x61, 0, 0x62, 0, 0])),
            Some(Seen::Binary(vec![1, 2, 3])),
        ]
    );
    assert_eq!(sim.configuration_reads()[7].returned, Some(NdisParameterBinary));
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn without_the_conversion_a_string_stays_a_string() {
    let config = SimConfig::with_groups(&[2])
        .with_keyword("*VMQ", KeywordValue::string("0"))
        .with_string_conversion(StringConversion::None);
    let steps = [Step::OpenConfiguration, Step::ReadKeyword("*VMQ"), Step::CloseConfiguration];
    let (sim, started) = started_with(config, reading(&steps));
    started.unwrap();
    assert_eq!(value("*VMQ"), Some(Seen::Text(NdisParameterString, units("0"))));
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_keyword_set_between_two_starts_is_read_by_the_second() {
    let steps = [Step::OpenConfiguration, Step::ReadKeyword("*VMQ"), Step::CloseConfiguration];
    let mut sim = started(Behaviour { halt: HALT.to_vec(), ..reading(&steps) });
    sim.stop_device().unwrap();
    sim.set_keyword("*vmq", Some(KeywordValue::Dword(0)));
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    sim.stop_device().unwrap();
    sim.set_keyword("*VMQ", None);
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    let statuses: Vec<_> = reads().into_iter().map(|r| (r.status, r.value)).collect();
    assert_eq!(
        statuses,
        vec![
            (NDIS_STATUS_SUCCESS, Some(Seen::Integer(NdisParameterInteger, 1))),
            (NDIS_STATUS_SUCCESS, Some(Seen::Integer(NdisParameterInteger, 0))),
            (NDIS_STATUS_FAILURE, None),
        ]
    );
    assert_eq!(sim.violations(), vec![]);
}

// ---- The values live until the close --------------------------------------------------------

#[test]
fn values_become_inaccessible_when_their_handle_closes() {
    // Initialize reads and keeps the handle open (a violation of its own); Halt closes it.
    let steps = [Step::OpenConfiguration, Step::ReadKeyword("*VMQ")];
    let behaviour =
        Behaviour { halt: [HALT, &[Step::CloseConfiguration]].concat(), ..reading(&steps) };
    let mut sim = started(behaviour);
    let parameter = reads()[0].parameter;
    assert_ne!(parameter, 0);
    assert_eq!(permissions(parameter), "rw-p", "readable while the handle is open");
    // SAFETY: the parameter NDIS returned; its handle is still open.
    let kind = unsafe { ptr::read(parameter as *const NDIS_CONFIGURATION_PARAMETER) }.ParameterType;
    assert_eq!(kind, NdisParameterInteger);
    sim.stop_device().unwrap();
    assert_eq!(permissions(parameter), "---p", "any access after the close faults");
    assert_eq!(sim.violated_rules(), vec![rules::INITIALIZE_CONFIGURATION_NOT_CLOSED]);
}

// ---- Rules --------------------------------------------------------------------------------

#[test]
fn a_configuration_object_with_a_wrong_header() {
    let mut behaviour = reading(&[Step::OpenConfiguration]);
    behaviour.headers.configuration = NDIS_OBJECT_HEADER::new(0xA9, 1, 0x10);
    let sim = started(behaviour);
    let statuses = with_fake(|f| f.statuses.clone());
    assert!(statuses.contains(&(Step::OpenConfiguration, NDIS_STATUS_FAILURE)));
    assert_eq!(sim.open_configurations(), vec![]);
    assert_eq!(sim.violated_rules(), vec![rules::OBJECT_HEADER_CONFIGURATION_OBJECT]);
}

#[test]
fn opening_with_the_adapter_context_instead_of_the_handle() {
    let sim = started(reading(&[Step::OpenConfigurationWithContext]));
    assert_eq!(sim.open_configurations(), vec![]);
    assert_eq!(sim.violated_rules(), vec!["NdisOpenConfigurationEx.Handle"]);
}

#[test]
fn configuration_calls_above_passive_level() {
    let sim = started(Behaviour::default());
    let header = fake::Headers::default().configuration;
    let miniport = sim.miniport_handle();
    sim.run_on(CPU_0, ndis_sim::sim::cpu::DISPATCH_LEVEL, || {
        assert_eq!(fake::open_configuration(header, miniport), NDIS_STATUS_SUCCESS);
        assert_eq!(fake::read_keyword("*VMQ", NdisParameterInteger), NDIS_STATUS_SUCCESS);
        NdisCloseConfiguration(with_fake(|f| f.configuration) as NDIS_HANDLE);
    });
    assert_eq!(
        sim.violated_rules(),
        vec![
            "Irql.NdisOpenConfigurationEx",
            "Irql.NdisReadConfiguration",
            "Irql.NdisCloseConfiguration",
        ]
    );
}

#[test]
fn reading_with_a_closed_handle() {
    let steps = [Step::OpenConfiguration, Step::CloseConfiguration, Step::ReadKeyword("*VMQ")];
    let sim = started(reading(&steps));
    assert_eq!((reads()[0].status, reads()[0].parameter), (NDIS_STATUS_FAILURE, 0));
    assert_eq!(sim.violated_rules(), vec![rules::READ_CONFIGURATION_UNKNOWN_HANDLE]);
}

#[test]
fn reading_with_a_malformed_keyword() {
    let sim = started(reading(&[Step::OpenConfiguration]));
    let configuration = with_fake(|f| f.configuration) as NDIS_HANDLE;
    let name = units("*VMQ");
    let odd = UNICODE_STRING { Length: 3, MaximumLength: 8, Buffer: name.as_ptr().cast_mut() };
    let no_buffer = UNICODE_STRING { Length: 8, MaximumLength: 8, Buffer: ptr::null_mut() };
    for keyword in [&raw const odd, &raw const no_buffer, ptr::null()] {
        let mut status = NDIS_STATUS_SUCCESS;
        let mut parameter: *mut NDIS_CONFIGURATION_PARAMETER = ptr::null_mut();
        // SAFETY: the out parameters live on this frame; the keyword is one of the above.
        unsafe {
            NdisReadConfiguration(
                &raw mut status,
                &raw mut parameter,
                configuration,
                keyword,
                NdisParameterInteger,
            );
        };
        assert_eq!((status, parameter), (NDIS_STATUS_FAILURE, ptr::null_mut()));
    }
    NdisCloseConfiguration(configuration);
    assert_eq!(
        sim.violated_rules(),
        vec![
            rules::INITIALIZE_CONFIGURATION_NOT_CLOSED,
            rules::READ_CONFIGURATION_KEYWORD,
            rules::READ_CONFIGURATION_KEYWORD,
            rules::READ_CONFIGURATION_KEYWORD,
        ]
    );
}

#[test]
fn closing_a_handle_twice() {
    let steps = [Step::OpenConfiguration, Step::CloseConfiguration, Step::CloseConfiguration];
    let sim = started(reading(&steps));
    assert_eq!(sim.violated_rules(), vec![rules::CLOSE_CONFIGURATION_UNKNOWN_HANDLE]);
}

#[test]
fn opening_again_before_closing() {
    // The second handle is closed, the first one never is.
    let steps = [Step::OpenConfiguration, Step::OpenConfiguration, Step::CloseConfiguration];
    let sim = started(reading(&steps));
    assert_eq!(sim.open_configurations().len(), 1);
    assert_eq!(
        sim.violated_rules(),
        vec![rules::OPEN_CONFIGURATION, rules::INITIALIZE_CONFIGURATION_NOT_CLOSED]
    );
}

#[test]
fn initialize_returning_with_the_configuration_open() {
    // Closed by HaltEx: only Initialize's own rule fires, and the handle stays open until then.
    let behaviour = Behaviour {
        halt: [HALT, &[Step::CloseConfiguration]].concat(),
        ..reading(&[Step::OpenConfiguration])
    };
    let mut sim = started(behaviour);
    assert_eq!(sim.open_configurations(), vec![with_fake(|f| f.configuration)]);
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.open_configurations(), vec![]);
    assert_eq!(sim.violated_rules(), vec![rules::INITIALIZE_CONFIGURATION_NOT_CLOSED]);
}

#[test]
fn a_failing_initialize_with_the_configuration_open() {
    let behaviour = Behaviour {
        initialize: vec![Step::OpenConfiguration, Step::Return(NDIS_STATUS_FAILURE)],
        ..Behaviour::default()
    };
    let (sim, started) = started_with(SimConfig::with_groups(&[2]), behaviour);
    assert!(matches!(started, Err(SimError::Failed { .. })));
    assert_eq!(sim.open_configurations(), vec![], "the simulator closed it");
    assert_eq!(sim.violated_rules(), vec![rules::INITIALIZE_CONFIGURATION_NOT_CLOSED]);
}

#[test]
fn halt_returning_with_a_configuration_open() {
    // Opened by MiniportRestart, never closed: the DDI rule fires when HaltEx returns.
    let behaviour = Behaviour { restart: vec![Step::OpenConfiguration], ..Behaviour::default() };
    let mut sim = started(behaviour);
    assert_eq!(sim.open_configurations().len(), 1);
    sim.stop_device().unwrap();
    assert_eq!(sim.open_configurations(), vec![]);
    assert_eq!(sim.violated_rules(), vec![rules::OPEN_CONFIGURATION]);
}

#[test]
fn a_driver_configuration_left_open_at_unload() {
    let mut sim = Sim::start(SimConfig::with_groups(&[1]));
    fake::reset(Behaviour::default());
    sim.load_driver(fake::driver_entry).unwrap();
    let header = fake::Headers::default().configuration;
    assert_eq!(fake::open_configuration(header, sim.driver_handle()), NDIS_STATUS_SUCCESS);
    assert_eq!(fake::read_keyword("*VMQ", NdisParameterInteger), NDIS_STATUS_SUCCESS);
    sim.unload_driver().unwrap();
    assert_eq!(sim.open_configurations(), vec![]);
    assert_eq!(sim.violated_rules(), vec![rules::OPEN_CONFIGURATION]);
}

#[test]
fn a_driver_configuration_closed_before_unload_is_fine() {
    let mut sim = Sim::start(SimConfig::with_groups(&[1]));
    fake::reset(Behaviour::default());
    sim.load_driver(fake::driver_entry).unwrap();
    let header = fake::Headers::default().configuration;
    assert_eq!(fake::open_configuration(header, sim.driver_handle()), NDIS_STATUS_SUCCESS);
    NdisCloseConfiguration(with_fake(|f| f.configuration) as NDIS_HANDLE);
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}
