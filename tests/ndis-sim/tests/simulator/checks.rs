//! Every lifecycle contract check, made to fire by a fake driver that breaks exactly that rule,
//! next to its passing counterpart (the same driver doing it right breaks nothing).
//! Checks of single exports called in isolation are in `export_checks`; OID rules in `oids`.

use std::ffi::c_void;
use std::ptr;
use std::time::Duration;

use ndis_sim::sim::exports::{
    NdisFreeSharedMemory, NdisMDeregisterMiniportDriver, NdisMMapIoSpace, NdisMPauseComplete,
    NdisMQueueDpcEx, NdisMRegisterMiniportDriver, NdisMRestartComplete, NdisMSetMiniportAttributes,
    NdisMUnmapIoSpace, READ_REGISTER_ULONG,
};
use ndis_sim::sim::{AdapterState, GrantPolicy, ReturnPolicy, Sim, SimConfig, SimError, rules};
use vmqnic::ndis::{
    GROUP_AFFINITY, NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS, NDIS_OBJECT_HEADER,
    NDIS_RECEIVE_FILTER_VM_QUEUE_SUPPORTED, NDIS_RECEIVE_FLAGS_SINGLE_QUEUE,
    NDIS_RETURN_FLAGS_DISPATCH_LEVEL, NDIS_RETURN_FLAGS_SINGLE_QUEUE, NDIS_STATUS_FAILURE,
    NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, NdisMSIXTableConfigMaskTableEntry,
};

use crate::fake::{self, Behaviour, HALT, INITIALIZE, Receive, Step, with_fake};
use crate::lifecycle::busy_behaviour;

const WAIT: Duration = Duration::from_secs(2);

fn sim() -> Sim {
    Sim::start(SimConfig::with_groups(&[2]))
}

/// Loads the fake with `behaviour`; `Err` if DriverEntry failed.
fn loaded(behaviour: Behaviour) -> (Sim, Result<(), SimError>) {
    let mut sim = sim();
    fake::reset(behaviour);
    let loaded = sim.load_driver(fake::driver_entry);
    (sim, loaded)
}

/// Loads and starts the fake (the start may fail).
fn started(behaviour: Behaviour) -> (Sim, Result<(), SimError>) {
    let (mut sim, loaded) = loaded(behaviour);
    loaded.unwrap();
    let started = sim.start_device(GrantPolicy::AsRequested).map(drop);
    (sim, started)
}

/// Starts, stops and unloads the fake.
fn full_cycle(behaviour: Behaviour) -> Sim {
    let (mut sim, started) = started(behaviour);
    started.unwrap();
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    sim
}

fn header(object_type: u8, revision: u8, size: u16) -> NDIS_OBJECT_HEADER {
    NDIS_OBJECT_HEADER::new(object_type, revision, size)
}

fn with_headers(change: impl FnOnce(&mut fake::Headers)) -> Behaviour {
    let mut behaviour = busy_behaviour();
    change(&mut behaviour.headers);
    behaviour
}

fn first_rule(sim: &Sim) -> Option<&'static str> {
    sim.violated_rules().first().copied()
}

fn initialize_with(steps: &[Step]) -> Behaviour {
    Behaviour { initialize: steps.to_vec(), ..Behaviour::default() }
}

// ---- Driver registration -----------------------------------------------------------------

#[test]
fn driver_characteristics_of_every_revision_with_their_size_load() {
    for header in [header(0x8A, 1, 0x88), header(0x8A, 2, 0x98), header(0x8A, 3, 0xA0)] {
        let (sim, loaded) = loaded(with_headers(|h| h.driver = header));
        loaded.unwrap();
        assert_eq!(sim.violations(), vec![], "{header:?}");
    }
}

#[test]
fn driver_characteristics_with_the_size_of_another_revision() {
    let (sim, loaded) = loaded(with_headers(|h| h.driver = header(0x8A, 2, 0x88)));
    assert!(matches!(loaded, Err(SimError::Failed { handler: "DriverEntry", .. })));
    assert_eq!(sim.violated_rules(), vec![rules::OBJECT_HEADER_DRIVER_CHARACTERISTICS]);
}

#[test]
fn a_required_driver_handler_missing() {
    let (sim, loaded) =
        loaded(Behaviour { omit_driver_handler: Some("PauseHandler"), ..Behaviour::default() });
    assert!(loaded.is_err());
    assert_eq!(sim.violated_rules(), vec![rules::DRIVER_CHARACTERISTICS_REQUIRED_HANDLER]);
}

#[test]
fn check_for_hang_without_reset() {
    let (sim, loaded) = loaded(Behaviour { check_for_hang: true, ..Behaviour::default() });
    assert!(loaded.is_err());
    assert_eq!(
        sim.violated_rules(),
        vec![rules::DRIVER_CHARACTERISTICS_CHECK_FOR_HANG_WITHOUT_RESET]
    );
}

#[test]
fn an_ndis_version_newer_than_this_ndis() {
    let (sim, loaded) = loaded(Behaviour { ndis_version: (6, 40), ..Behaviour::default() });
    assert!(loaded.is_err());
    assert_eq!(sim.violated_rules(), vec![rules::DRIVER_CHARACTERISTICS_NDIS_VERSION]);
    drop(sim);
    let (sim, loaded) = self::loaded(Behaviour { ndis_version: (6, 20), ..Behaviour::default() });
    loaded.unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn pnp_characteristics_with_a_short_size() {
    let (sim, loaded) = loaded(with_headers(|h| h.pnp = header(0x92, 1, 0x20)));
    assert!(loaded.is_err(), "MiniportSetOptions fails, so the registration fails");
    assert_eq!(sim.violated_rules(), vec![rules::OBJECT_HEADER_PNP_CHARACTERISTICS]);
}

#[test]
fn a_required_pnp_handler_missing() {
    let (sim, loaded) = loaded(Behaviour {
        omit_pnp_handler: Some("MiniportRemoveDeviceHandler"),
        ..Behaviour::default()
    });
    assert!(loaded.is_err());
    assert_eq!(sim.violated_rules(), vec![rules::PNP_CHARACTERISTICS_REQUIRED_HANDLER]);
    drop(sim);
    // MiniportStartDevice is optional.
    let sim = full_cycle(Behaviour {
        omit_pnp_handler: Some("MiniportStartDeviceHandler"),
        ..Behaviour::default()
    });
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn optional_handlers_set_outside_set_options() {
    let (sim, loaded) =
        loaded(Behaviour { set_optional_handlers_in_driver_entry: true, ..Behaviour::default() });
    loaded.unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::SET_OPTIONAL_HANDLERS_OUTSIDE_SET_OPTIONS]);
}

#[test]
fn registering_outside_driver_entry() {
    let sim = sim();
    // SAFETY: all-zero characteristics are a valid value.
    let characteristics: NDIS_MINIPORT_DRIVER_CHARACTERISTICS = unsafe { std::mem::zeroed() };
    let mut handle = ptr::null_mut();
    // SAFETY: valid structures on this frame.
    let status = unsafe {
        NdisMRegisterMiniportDriver(
            ptr::null_mut(),
            ptr::null(),
            ptr::null_mut(),
            &raw const characteristics,
            &raw mut handle,
        )
    };
    assert_ne!(status, NDIS_STATUS_SUCCESS);
    assert_eq!(sim.violated_rules(), vec![rules::REGISTER_DRIVER_OUTSIDE_DRIVER_ENTRY]);
}

#[test]
fn deregistering_outside_unload() {
    let (sim, loaded) = loaded(Behaviour::default());
    loaded.unwrap();
    NdisMDeregisterMiniportDriver(sim.driver_handle() as _);
    assert_eq!(sim.violated_rules(), vec![rules::DEREGISTER_DRIVER_OUTSIDE_UNLOAD]);
}

#[test]
fn unloading_without_deregistering() {
    let (mut sim, loaded) =
        loaded(Behaviour { deregister_on_unload: false, ..Behaviour::default() });
    loaded.unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::UNLOAD_DRIVER_NOT_DEREGISTERED]);
}

#[test]
fn pool_still_allocated_at_unload() {
    let (mut sim, loaded) = loaded(Behaviour {
        allocate_in_driver_entry: true,
        leak_driver_block: true,
        ..Behaviour::default()
    });
    loaded.unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::UNLOAD_POOL]);
    drop(sim);
    // Freed in unload: nothing to report.
    let (mut sim, loaded) =
        self::loaded(Behaviour { allocate_in_driver_entry: true, ..Behaviour::default() });
    loaded.unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

// ---- PnP -----------------------------------------------------------------------------------

#[test]
fn pool_of_add_device_not_freed_by_remove_device() {
    let (mut sim, started) =
        started(Behaviour { leak_in_add_device: true, ..Behaviour::default() });
    started.unwrap();
    sim.stop_device().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::REMOVE_DEVICE_POOL]);
}

#[test]
fn a_filter_that_drops_the_line_interrupt() {
    let (sim, started) = started(Behaviour { filter_drops_line: true, ..Behaviour::default() });
    started.unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::FILTER_NON_MESSAGE_RESOURCES_CHANGED]);
}

#[test]
fn add_device_attributes_outside_add_device() {
    let sim = sim();
    let attributes = NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES {
        Header: header(0xA4, 1, 0x14),
        MiniportAddDeviceContext: ptr::dangling_mut(),
        Flags: 0,
    };
    // SAFETY: a valid structure on this frame.
    unsafe { NdisMSetMiniportAttributes(sim.miniport_handle() as _, &raw const attributes.Header) };
    assert_eq!(sim.violated_rules(), vec![rules::SET_ATTRIBUTES_WINDOW]);
}

// ---- MiniportInitializeEx --------------------------------------------------------------------

#[test]
fn attribute_headers_of_the_adapter() {
    type Case = (fn(&mut fake::Headers), &'static str);
    let cases: [Case; 6] = [
        (|h| h.registration = header(0x9E, 2, 0x18), rules::OBJECT_HEADER_REGISTRATION_ATTRIBUTES),
        (|h| h.general = header(0x9F, 2, 0xD8), rules::OBJECT_HEADER_GENERAL_ATTRIBUTES),
        (
            |h| h.hardware_assist = header(0xAF, 3, 0x30),
            rules::OBJECT_HEADER_HARDWARE_ASSIST_ATTRIBUTES,
        ),
        (
            |h| h.receive_filter = header(0x80, 2, 0x38),
            rules::OBJECT_HEADER_RECEIVE_FILTER_CAPABILITIES,
        ),
        (|h| h.sg_dma = header(0x83, 2, 0x24), rules::OBJECT_HEADER_SG_DMA_DESCRIPTION),
        (|h| h.interrupt = header(0x80, 1, 0x60), rules::OBJECT_HEADER_INTERRUPT_CHARACTERISTICS),
    ];
    for (change, rule) in cases {
        let (sim, _) = started(with_headers(change));
        assert_eq!(first_rule(&sim), Some(rule));
    }
}

#[test]
fn receive_filter_capabilities_of_revision_1_are_fine() {
    let sim = full_cycle(with_headers(|h| h.receive_filter = header(0x80, 1, 0x38)));
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn shared_memory_parameters_and_status_indication_headers() {
    let (sim, _) = started(with_headers(|h| h.shared_memory = header(0x84, 1, 0x40)));
    assert_eq!(first_rule(&sim), Some(rules::OBJECT_HEADER_SHARED_MEMORY_PARAMETERS));
    drop(sim);
    let (sim, _) = started(with_headers(|h| h.status = header(0x98, 1, 0x40)));
    assert_eq!(first_rule(&sim), Some(rules::OBJECT_HEADER_STATUS_INDICATION));
}

#[test]
fn resources_claimed_before_the_registration_attributes() {
    let (sim, started) = started(initialize_with(&[
        Step::AllocateContext,
        Step::MapRegisters,
        Step::Registration,
        Step::General,
        Step::RegisterSgDma,
        Step::RegisterInterrupt,
    ]));
    started.unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::INITIALIZE_REGISTRATION_ATTRIBUTES_FIRST]);
}

#[test]
fn hardware_assist_before_general_attributes() {
    let (sim, started) = started(initialize_with(&[
        Step::AllocateContext,
        Step::Registration,
        Step::HardwareAssist,
        Step::General,
        Step::MapRegisters,
        Step::RegisterSgDma,
        Step::RegisterInterrupt,
    ]));
    started.unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::INITIALIZE_GENERAL_ATTRIBUTES_BEFORE_OTHERS]);
}

#[test]
fn initialize_without_general_attributes() {
    let (sim, started) = started(initialize_with(&[
        Step::AllocateContext,
        Step::Registration,
        Step::MapRegisters,
        Step::RegisterSgDma,
        Step::RegisterInterrupt,
    ]));
    started.unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::INITIALIZE_MISSING_ATTRIBUTES]);
}

#[test]
fn initialize_returning_pending() {
    let (sim, started) = started(initialize_with(&[Step::Return(NDIS_STATUS_PENDING)]));
    assert!(started.is_err());
    assert_eq!(sim.violated_rules(), vec![rules::INITIALIZE_RETURNED_PENDING]);
}

#[test]
fn interrupt_registered_twice() {
    let mut initialize = INITIALIZE.to_vec();
    initialize.push(Step::RegisterInterrupt);
    let (sim, started) = started(initialize_with(&initialize));
    started.unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::REGISTER_INTERRUPT_WINDOW]);
}

#[test]
fn a_required_interrupt_handler_missing() {
    let (sim, _) = started(Behaviour {
        omit_interrupt_handler: Some("MessageInterruptDpcHandler"),
        ..Behaviour::default()
    });
    assert_eq!(first_rule(&sim), Some(rules::INTERRUPT_CHARACTERISTICS_REQUIRED_HANDLER));
    drop(sim);
    // Without MSI support the message handlers are not required (and a line is granted).
    let mut sim = Sim::start(SimConfig::with_groups(&[1]));
    fake::reset(Behaviour {
        msi_supported: false,
        omit_interrupt_handler: Some("MessageInterruptDpcHandler"),
        ..Behaviour::default()
    });
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::LineBased).unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn vm_queues_without_msix_support() {
    let (sim, started) = started(Behaviour {
        queue_properties: NDIS_RECEIVE_FILTER_VM_QUEUE_SUPPORTED,
        ..Behaviour::default()
    });
    started.unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::VMQ_REQUIRES_MSIX]);
}

#[test]
fn mapping_memory_that_is_not_a_resource_of_the_device() {
    let mut initialize = INITIALIZE.to_vec();
    initialize.push(Step::MapAt(0x1000, 0x1000));
    let (sim, _) = started(initialize_with(&initialize));
    assert_eq!(sim.violated_rules(), vec![rules::MAP_IO_SPACE_NOT_A_RESOURCE]);
}

#[test]
fn shared_memory_before_scatter_gather_dma() {
    let (sim, _) = started(initialize_with(&[
        Step::AllocateContext,
        Step::Registration,
        Step::General,
        Step::AllocateShared(4096),
    ]));
    assert_eq!(sim.violated_rules(), vec![rules::SHARED_MEMORY_WITHOUT_SG_DMA]);
}

#[test]
fn a_failing_initialize_that_keeps_its_resources() {
    let mut initialize = busy_behaviour().initialize;
    initialize.push(Step::Return(NDIS_STATUS_FAILURE));
    let (sim, started) = started(initialize_with(&initialize));
    assert!(started.is_err());
    assert_eq!(
        sim.violated_rules(),
        vec![
            rules::INITIALIZE_FAILURE_INTERRUPT_REGISTERED,
            rules::INITIALIZE_FAILURE_SG_DMA_REGISTERED,
            rules::INITIALIZE_FAILURE_IO_SPACE_MAPPED,
            rules::INITIALIZE_FAILURE_SHARED_MEMORY,
            rules::INITIALIZE_FAILURE_POOL,
        ]
    );
}

// ---- Running, pausing, halting ----------------------------------------------------------------

#[test]
fn attributes_and_dma_registration_outside_initialize() {
    let (sim, started) =
        started(Behaviour { restart: vec![Step::Registration], ..Behaviour::default() });
    started.unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::SET_ATTRIBUTES_WINDOW]);
    drop(sim);
    let (sim, started) =
        self::started(Behaviour { restart: vec![Step::RegisterSgDma], ..Behaviour::default() });
    started.unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::REGISTER_SG_DMA_WINDOW]);
}

#[test]
fn pause_returning_failure() {
    let (mut sim, started) =
        started(Behaviour { pause_status: NDIS_STATUS_FAILURE, ..Behaviour::default() });
    started.unwrap();
    sim.pause().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::MINIPORT_PAUSE_RETURN]);
}

#[test]
fn pause_and_restart_completions_nobody_waits_for() {
    let (sim, started) = started(Behaviour::default());
    started.unwrap();
    NdisMPauseComplete(sim.miniport_handle() as _);
    NdisMRestartComplete(sim.miniport_handle() as _, NDIS_STATUS_SUCCESS);
    assert_eq!(
        sim.violated_rules(),
        vec![rules::PAUSE_COMPLETE_NOT_PENDING, rules::RESTART_COMPLETE_NOT_PENDING]
    );
    assert_eq!(sim.adapter_state(), AdapterState::Running);
}

#[test]
fn a_halt_that_releases_nothing() {
    let (mut sim, started) = started(Behaviour { halt: Vec::new(), ..busy_behaviour() });
    started.unwrap();
    sim.stop_device().unwrap();
    assert_eq!(
        sim.violated_rules(),
        vec![
            rules::HALT_INTERRUPT_REGISTERED,
            rules::HALT_SG_DMA_REGISTERED,
            rules::HALT_IO_SPACE_MAPPED,
            rules::HALT_SHARED_MEMORY,
            rules::HALT_POOL,
        ]
    );
}

#[test]
fn deregistering_twice() {
    let mut halt = vec![Step::DeregisterInterrupt, Step::DeregisterSgDma];
    halt.extend_from_slice(HALT);
    let (mut sim, started) = started(Behaviour { halt, ..Behaviour::default() });
    started.unwrap();
    sim.stop_device().unwrap();
    assert_eq!(
        sim.violated_rules(),
        vec![rules::DEREGISTER_INTERRUPT_UNKNOWN, rules::DEREGISTER_SG_DMA_UNKNOWN]
    );
}

#[test]
fn synchronizing_after_deregistering() {
    let mut halt = vec![Step::DeregisterInterrupt, Step::Synchronize];
    halt.extend(HALT.iter().filter(|s| **s != Step::DeregisterInterrupt));
    let (mut sim, started) =
        started(Behaviour { halt, restart: vec![Step::Synchronize], ..Behaviour::default() });
    started.unwrap();
    assert_eq!(
        with_fake(|f| f.synchronized),
        1,
        "synchronizing while registered runs the function"
    );
    assert_eq!(sim.violations(), vec![]);
    sim.stop_device().unwrap();
    assert_eq!(with_fake(|f| f.synchronized), 1, "not after deregistering");
    assert_eq!(sim.violated_rules(), vec![rules::SYNCHRONIZE_AFTER_DEREGISTER]);
}

#[test]
fn msix_configuration_and_status_indication_after_halt() {
    let (mut sim, started) = started(Behaviour::default());
    started.unwrap();
    assert_eq!(fake::config_msix(NdisMSIXTableConfigMaskTableEntry, 1, 0), NDIS_STATUS_SUCCESS);
    fake::indicate_status(header(0x98, 1, 0x70), sim.miniport_handle());
    assert_eq!(sim.violations(), vec![]);
    sim.stop_device().unwrap();
    assert_ne!(fake::config_msix(NdisMSIXTableConfigMaskTableEntry, 1, 0), NDIS_STATUS_SUCCESS);
    fake::indicate_status(header(0x98, 1, 0x70), sim.miniport_handle());
    assert_eq!(
        sim.violated_rules(),
        vec![rules::CONFIG_MSIX_WINDOW, rules::INDICATE_STATUS_AFTER_HALT]
    );
}

#[test]
fn a_status_indication_from_a_foreign_source() {
    let (sim, started) = started(Behaviour::default());
    started.unwrap();
    fake::indicate_status_from(header(0x98, 1, 0x70), sim.miniport_handle(), 0x1234);
    assert_eq!(sim.violated_rules(), vec![rules::INDICATE_STATUS_SOURCE_HANDLE]);
}

#[test]
fn shared_memory_freed_in_shutdown_or_never_allocated() {
    let (mut sim, started) = started(Behaviour { shutdown_frees_shared: true, ..busy_behaviour() });
    started.unwrap();
    NdisFreeSharedMemory(sim.miniport_handle() as _, 0x77 as _);
    sim.shutdown(0).unwrap();
    assert_eq!(
        sim.violated_rules(),
        vec![rules::FREE_SHARED_MEMORY_UNKNOWN, rules::FREE_SHARED_MEMORY_FROM_SHUTDOWN]
    );
}

// ---- Registers -------------------------------------------------------------------------------

#[test]
fn register_accesses_outside_the_mappings_misaligned_or_into_the_msix_table() {
    let mut initialize = INITIALIZE.to_vec();
    initialize.push(Step::MapResourceOfLength(0x4000));
    let (sim, started) = started(initialize_with(&initialize));
    started.unwrap();
    // SAFETY: the simulator only translates the address; it never dereferences it.
    let value = unsafe { READ_REGISTER_ULONG(0x1000 as *const u32) };
    assert_eq!(value, u32::MAX, "nothing answers there");
    let base = with_fake(|f| f.mappings[0].0);
    // SAFETY: as above.
    unsafe { READ_REGISTER_ULONG((base + 2) as *const u32) };
    fake::write_mapping(1, 0xC, 0);
    assert_eq!(
        sim.violated_rules(),
        vec![
            rules::REGISTER_ACCESS_UNMAPPED,
            rules::REGISTER_ACCESS_UNALIGNED,
            rules::REGISTER_ACCESS_MSIX_TABLE
        ]
    );
}

#[test]
fn unmapping_what_was_never_mapped_and_a_foreign_handle() {
    let (sim, started) = started(Behaviour::default());
    started.unwrap();
    NdisMUnmapIoSpace(sim.miniport_handle() as _, 0x5000 as *mut c_void, 4);
    let mut address = ptr::null_mut();
    // SAFETY: the out pointer lives on this frame.
    unsafe { NdisMMapIoSpace(&raw mut address, 0x42 as _, 0xC000_0000, 4) };
    assert_eq!(sim.violated_rules(), vec![rules::UNMAP_IO_SPACE_UNKNOWN, "NdisMMapIoSpace.Handle"]);
}

#[test]
fn mapped_registers_are_not_accessible_memory() {
    // NdisMMapIoSpace returns an address in a PROT_NONE reservation: a driver that
    // dereferences it instead of calling READ_REGISTER_ULONG gets SIGSEGV, not host memory.
    let (sim, started) = started(Behaviour::default());
    started.unwrap();
    let address = sim.io_mappings()[0].virtual_address;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let permissions = maps
        .lines()
        .find_map(|line| {
            let (range, rest) = line.split_once(' ')?;
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (start..end)
                .contains(&address)
                .then(|| rest.split(' ').next().unwrap_or_default().to_owned())
        })
        .expect("the mapping is in /proc/self/maps");
    assert_eq!(permissions, "---p");
}

// ---- Interrupts ----------------------------------------------------------------------------

#[test]
fn an_isr_that_sets_target_processors() {
    let (sim, started) =
        started(Behaviour { isr_sets_target_processors: true, ..Behaviour::default() });
    started.unwrap();
    sim.signal_message(0).unwrap();
    sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::ISR_TARGET_PROCESSORS]);
}

#[test]
fn queueing_a_dpc_for_a_message_that_was_not_granted() {
    let (sim, started) = started(Behaviour::default());
    started.unwrap();
    let interrupt = with_fake(|f| f.interrupt_handle);
    let mut affinity = GROUP_AFFINITY { Mask: 1, Group: 0, Reserved: [0; 3] };
    // SAFETY: the affinity lives on this frame.
    let queued = unsafe { NdisMQueueDpcEx(interrupt as _, 99, &raw mut affinity, ptr::null_mut()) };
    assert_eq!(queued, 0);
    assert_eq!(sim.violated_rules(), vec![rules::QUEUE_DPC_INVALID]);
    // Message 1 is granted: queued on processor 0:0, once.
    // SAFETY: as above.
    let first = unsafe { NdisMQueueDpcEx(interrupt as _, 1, &raw mut affinity, ptr::null_mut()) };
    // SAFETY: as above.
    let again = unsafe { NdisMQueueDpcEx(interrupt as _, 1, &raw mut affinity, ptr::null_mut()) };
    assert_eq!((first, again), (1, 0), "one DPC object per message and processor");
    assert_eq!(sim.run_queued_dpcs().len(), 1);
}

#[test]
fn calls_above_their_irql() {
    let (sim, started) = started(Behaviour {
        isr_allocates: true,
        dpc_step: Some(Step::AllocateShared(4096)),
        ..Behaviour::default()
    });
    started.unwrap();
    sim.signal_message(0).unwrap();
    sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!(
        sim.violated_rules(),
        vec![
            "Irql.NdisAllocateMemoryWithTagPriority",
            "Irql.NdisFreeMemory",
            "Irql.NdisAllocateSharedMemory",
        ]
    );
}

// ---- Receive and send --------------------------------------------------------------------------

use crate::fake::receiving;

#[test]
fn a_clean_receive_indication_is_recorded_and_returned() {
    let receive = Receive {
        nbls: vec![(3, 60), (3, 1514)],
        flags: NDIS_RECEIVE_FLAGS_SINGLE_QUEUE,
        ..Receive::default()
    };
    let sim = receiving(receive, ReturnPolicy::AfterDpc);
    let indications = sim.receive_indications();
    assert_eq!(indications.len(), 1);
    let indication = &indications[0];
    assert_eq!(indication.count, 2);
    assert_eq!(indication.processor, vmqnic::interrupt::Processor { group: 0, number: 1 });
    assert_eq!(
        indication.nbls.iter().map(|n| (n.queue_id, n.data_lengths.clone())).collect::<Vec<_>>(),
        vec![(3, vec![60]), (3, vec![1514])]
    );
    let returned = with_fake(|f| f.returned.clone());
    assert_eq!(returned.len(), 1, "the chain came back after the DPC");
    assert_eq!(returned[0].1, NDIS_RETURN_FLAGS_DISPATCH_LEVEL | NDIS_RETURN_FLAGS_SINGLE_QUEUE);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn returns_during_the_indication_or_held_until_the_test_returns_them() {
    let receive = Receive { nbls: vec![(0, 60)], ..Receive::default() };
    let sim = receiving(receive.clone(), ReturnPolicy::DuringIndication);
    assert_eq!(with_fake(|f| f.returned.len()), 1);
    drop(sim);
    let sim = receiving(receive, ReturnPolicy::Hold);
    assert_eq!(with_fake(|f| f.returned.len()), 0);
    sim.return_indicated_nbls();
    assert_eq!(with_fake(|f| f.returned.clone())[0].1, 0, "returned at PASSIVE_LEVEL");
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn receive_indications_that_break_the_rules() {
    let cases = [
        (
            Receive { nbls: vec![(0, 60), (0, 60)], count_override: Some(1), ..Receive::default() },
            rules::RECEIVE_COUNT,
        ),
        (
            Receive { nbls: vec![(0, 60)], no_source_handle: true, ..Receive::default() },
            rules::RECEIVE_SOURCE_HANDLE,
        ),
        (
            Receive {
                nbls: vec![(1, 60), (2, 60)],
                flags: NDIS_RECEIVE_FLAGS_SINGLE_QUEUE,
                ..Receive::default()
            },
            rules::RECEIVE_MIXED_QUEUES,
        ),
        (
            Receive { nbls: vec![(0, 60)], wrong_dispatch_flag: true, ..Receive::default() },
            rules::RECEIVE_DISPATCH_FLAG,
        ),
    ];
    for (receive, rule) in cases {
        let sim = receiving(receive, ReturnPolicy::AfterDpc);
        assert_eq!(sim.violated_rules(), vec![rule]);
    }
}

#[test]
fn receive_indications_while_paused() {
    let (mut sim, started) = started(Behaviour::default());
    started.unwrap();
    sim.pause().unwrap();
    fake::indicate_receive(&Receive { nbls: vec![(0, 60)], ..Receive::default() });
    assert_eq!(sim.violated_rules(), vec![rules::RECEIVE_NOT_RUNNING]);
}

#[test]
fn send_completions() {
    let (mut sim, started) = started(Behaviour::default());
    started.unwrap();
    let chain = fake::send_chain(2);
    // SAFETY: the fake keeps the chain alive for the rest of the test.
    unsafe { sim.send_net_buffer_lists(chain, 0) }.unwrap();
    assert_eq!(sim.send_completions().len(), 2);
    assert_eq!(sim.violations(), vec![]);
    fake::complete_send(fake::send_chain(1));
    assert_eq!(sim.violated_rules(), vec![rules::SEND_COMPLETE_NOT_OUTSTANDING]);
}

// ---- VM queue shared memory (OID_RECEIVE_FILTER_FREE_QUEUE order) -----------------------------

/// Initialize allocates memory for VM queue 5; Halt frees it, indicating DmaStopped first or not.
fn with_queue_memory(indicate_dma_stopped: bool) -> Behaviour {
    let mut halt = Vec::new();
    if indicate_dma_stopped {
        halt.push(Step::IndicateDmaStopped(5));
    }
    halt.extend_from_slice(HALT);
    Behaviour {
        initialize: [INITIALIZE, &[Step::AllocateQueueShared(5, 0x1000)]].concat(),
        halt,
        ..Behaviour::default()
    }
}

#[test]
fn queue_memory_freed_before_its_dma_stopped_state_was_indicated() {
    let sim = full_cycle(with_queue_memory(false));
    assert_eq!(sim.violated_rules(), vec![rules::FREE_SHARED_MEMORY_BEFORE_DMA_STOPPED]);
}

#[test]
fn queue_memory_freed_after_its_dma_stopped_state_was_indicated() {
    let sim = full_cycle(with_queue_memory(true));
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn queue_memory_freed_while_its_nbls_are_still_held() {
    let mut sim = Sim::start(SimConfig {
        receive_returns: ReturnPolicy::Hold,
        ..SimConfig::with_groups(&[2])
    });
    let receive = Receive {
        nbls: vec![(5, 60)],
        flags: vmqnic::ndis::NDIS_RECEIVE_FLAGS_SINGLE_QUEUE,
        ..Receive::default()
    };
    fake::reset(Behaviour {
        initialize: [INITIALIZE, &[Step::AllocateQueueShared(5, 0x1000)]].concat(),
        dpc_receive: Some(receive),
        ..Behaviour::default()
    });
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    crate::vmq_oids::make_running(&mut sim, 5, 105);
    sim.signal_message(2).unwrap();
    sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!(sim.receive_indications().len(), 1, "one NBL of queue 5 is held by the protocol");
    // FREE_QUEUE done wrong: DMA stopped and reported, but the memory goes before the NBL is back.
    fake::indicate_dma_stopped(sim.miniport_handle(), 5);
    let (allocation, _, _) = with_fake(|f| f.shared.remove(0));
    NdisFreeSharedMemory(sim.miniport_handle() as _, allocation as _);
    assert_eq!(sim.violated_rules(), vec![rules::FREE_SHARED_MEMORY_NBLS_OUTSTANDING]);
}

// ---- Receives only on Running VM queues ---------------------------------------------------------

/// Starts the fake and indicates one NBL of queue 7 after `prepare` ran the VMQ OIDs.
fn receive_on_queue_7(prepare: impl FnOnce(&mut Sim)) -> Sim {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    let receive = Receive {
        nbls: vec![(7, 60)],
        flags: vmqnic::ndis::NDIS_RECEIVE_FLAGS_SINGLE_QUEUE,
        ..Receive::default()
    };
    fake::reset(Behaviour { dpc_receive: Some(receive), ..Behaviour::default() });
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    prepare(&mut sim);
    sim.signal_message(2).unwrap();
    sim.deliver_interrupts(WAIT).unwrap();
    assert_eq!(sim.receive_indications().len(), 1);
    sim
}

#[test]
fn receives_on_a_running_queue_are_fine() {
    let sim = receive_on_queue_7(|sim| crate::vmq_oids::make_running(sim, 7, 70));
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn receives_on_a_queue_that_is_not_running() {
    type Prepare = fn(&mut Sim);
    let cases: [(&str, Prepare); 5] = [
        ("never allocated", |_| {}),
        ("no filter yet", |sim| {
            crate::vmq_oids::allocate(sim, 7);
            crate::vmq_oids::allocation_complete(sim, 7);
        }),
        ("allocation not complete", |sim| {
            crate::vmq_oids::allocate(sim, 7);
            crate::vmq_oids::set_filter(sim, 7, 70);
        }),
        ("last filter cleared", |sim| {
            crate::vmq_oids::make_running(sim, 7, 70);
            crate::vmq_oids::clear_filter(sim, 7, 70);
        }),
        ("freed", |sim| {
            crate::vmq_oids::make_running(sim, 7, 70);
            crate::vmq_oids::clear_filter(sim, 7, 70);
            crate::vmq_oids::free(sim, 7);
        }),
    ];
    for (case, prepare) in cases {
        let sim = receive_on_queue_7(prepare);
        assert_eq!(sim.violated_rules(), vec![rules::RECEIVE_QUEUE_NOT_RUNNING], "{case}");
    }
}
