//! NDIS I/O work items: when the simulator runs them (at PASSIVE_LEVEL on the first processor,
//! once the driver call that queued them has returned), an OID that MiniportOidRequest pends
//! and a work item completes, and every work-item rule made to fire by the fake miniport, next
//! to its passing counterpart.

use std::ffi::c_void;
use std::time::Duration;

use ndis_sim::sim::cpu::{DEVICE_IRQL, DISPATCH_LEVEL, PASSIVE_LEVEL};
use ndis_sim::sim::exports::{NdisAllocateIoWorkItem, NdisFreeIoWorkItem, NdisQueueIoWorkItem};
use ndis_sim::sim::work_items::MAX_RUNS_PER_DRAIN;
use ndis_sim::sim::{
    GrantPolicy, OidOutcome, OidRequest, ReturnPolicy, Scope, Sim, SimConfig, SimError,
    WorkItemRun, rules,
};
use vmqnic::interrupt::Processor;
use vmqnic::ndis::{
    NDIS_HANDLE, NDIS_RECEIVE_FLAGS_SINGLE_QUEUE, NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
    NDIS_STATUS_FAILURE, NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS,
    OID_GEN_MAXIMUM_FRAME_SIZE,
};

use crate::fake::{
    self, Behaviour, DriverWorkItem, HALT, INITIALIZE, OidMode, Receive, Step, WORK_ITEM_CONTEXT,
    WorkItemCall, with_fake,
};

const WAIT: Duration = Duration::from_secs(2);
const CPU_0: Processor = Processor { group: 0, number: 0 };

/// Loads and starts the fake on two processors.
fn started(behaviour: Behaviour) -> Sim {
    started_with(SimConfig::with_groups(&[2]), behaviour)
}

fn started_with(config: SimConfig, behaviour: Behaviour) -> Sim {
    let mut sim = Sim::start(config);
    fake::reset(behaviour);
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    sim
}

/// Starts, stops and unloads the fake.
fn full_cycle(behaviour: Behaviour) -> Sim {
    let mut sim = started(behaviour);
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    sim
}

/// The well-behaved scripts with the adapter's work item: allocated by InitializeEx, freed by
/// HaltEx.
fn with_work_item(behaviour: Behaviour) -> Behaviour {
    Behaviour {
        initialize: [INITIALIZE, &[Step::AllocateWorkItem]].concat(),
        halt: [HALT, &[Step::FreeWorkItem]].concat(),
        ..behaviour
    }
}

/// The same, with the work item queued by MiniportRestart.
fn queued_by_restart(steps: &[Step]) -> Behaviour {
    with_work_item(Behaviour { restart: steps.to_vec(), ..Behaviour::default() })
}

fn events() -> Vec<&'static str> {
    with_fake(|f| f.events.clone())
}

fn calls() -> Vec<WorkItemCall> {
    with_fake(|f| f.work_item_calls.clone())
}

/// Raises message 2 and delivers it: the ISR and its DPC run.
fn interrupt(sim: &Sim) {
    sim.signal_message(2).unwrap();
    sim.deliver_interrupts(WAIT).unwrap();
}

// ---- When work items run ------------------------------------------------------------------

#[test]
fn a_work_item_queued_by_a_dpc_runs_at_passive_level_once_the_dpc_has_returned() {
    let sim = started(with_work_item(Behaviour {
        dpc_step: Some(Step::QueueWorkItem),
        ..Behaviour::default()
    }));
    assert_eq!(sim.work_item_runs(), vec![]);
    interrupt(&sim);
    let dpc = with_fake(|f| f.dpc_calls[0].processor);
    assert_ne!(dpc, CPU_0, "message 2 is another processor's");
    let item = with_fake(|f| f.work_item);
    assert_eq!(with_fake(|f| f.work_items_queued.clone()), vec![(dpc, DISPATCH_LEVEL)]);
    assert_eq!(
        calls(),
        vec![WorkItemCall {
            context: WORK_ITEM_CONTEXT,
            handle: item,
            processor: CPU_0,
            irql: PASSIVE_LEVEL
        }]
    );
    assert_eq!(events(), vec!["initialize returns", "queued", "dpc returns", "work item"]);
    assert_eq!(
        sim.work_item_runs(),
        vec![WorkItemRun {
            handle: item,
            context: WORK_ITEM_CONTEXT,
            queued_on: dpc,
            queued_at_irql: DISPATCH_LEVEL,
            processor: CPU_0,
            irql: PASSIVE_LEVEL,
        }]
    );
    let live = sim.work_items();
    assert_eq!(live.len(), 1);
    assert_eq!((live[0].handle, live[0].scope, live[0].queued), (item, Scope::Adapter, false));
    // Queued again once it ran: runs again.
    interrupt(&sim);
    assert_eq!(calls().len(), 2);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_work_item_queued_by_test_code_runs_at_the_next_drain() {
    let sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(Behaviour::default());
    let item = NdisAllocateIoWorkItem(sim.miniport_handle() as NDIS_HANDLE);
    assert!(!item.is_null());
    assert_eq!(sim.allocation_calls_by_function().get("NdisAllocateIoWorkItem"), Some(&1));
    let cpu_1 = Processor { group: 0, number: 1 };
    sim.run_on(cpu_1, DISPATCH_LEVEL, || {
        // SAFETY: the fake's routine may run at any time with this context.
        unsafe {
            NdisQueueIoWorkItem(
                item,
                Some(fake::work_item_routine),
                WORK_ITEM_CONTEXT as *mut c_void,
            );
        };
    });
    assert!(sim.work_items()[0].queued);
    assert_eq!(calls(), vec![], "nothing runs work items outside the simulator's calls");
    let runs = sim.run_work_items();
    assert_eq!(
        runs,
        vec![WorkItemRun {
            handle: item as usize,
            context: WORK_ITEM_CONTEXT,
            queued_on: cpu_1,
            queued_at_irql: DISPATCH_LEVEL,
            processor: CPU_0,
            irql: PASSIVE_LEVEL,
        }]
    );
    assert_eq!(calls()[0].irql, PASSIVE_LEVEL);
    assert_eq!(sim.run_work_items(), vec![], "each queuing runs once");
    NdisFreeIoWorkItem(item);
    assert_eq!(sim.work_items(), vec![]);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_work_item_that_queues_itself_again_runs_a_bounded_number_of_times_per_drain() {
    let sim = started(with_work_item(Behaviour {
        restart: vec![Step::QueueWorkItem],
        work_item_steps: vec![Step::QueueWorkItem],
        ..Behaviour::default()
    }));
    assert_eq!(calls().len(), MAX_RUNS_PER_DRAIN);
    assert!(sim.work_items()[0].queued, "the last queuing waits for the next drain");
    with_fake(|f| f.behaviour.work_item_steps.clear());
    assert_eq!(sim.run_work_items().len(), 1);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_work_item_initialize_queued_runs_once_initialize_succeeded() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(Behaviour {
        initialize: [INITIALIZE, &[Step::AllocateWorkItem, Step::QueueWorkItem]].concat(),
        halt: [HALT, &[Step::FreeWorkItem]].concat(),
        ..Behaviour::default()
    });
    sim.load_driver(fake::driver_entry).unwrap();
    sim.initialize_device(GrantPolicy::AsRequested).unwrap();
    assert_eq!(events(), vec!["queued", "initialize returns", "work item"]);
    assert_eq!(calls()[0].irql, PASSIVE_LEVEL);
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

// ---- An OID pended by MiniportOidRequest and completed by a work item ----------------------

#[test]
fn an_oid_completed_by_a_work_item_a_dpc_queued() {
    let mut sim = started(with_work_item(Behaviour {
        oid: OidMode::Pend,
        dpc_step: Some(Step::QueueWorkItem),
        work_item_steps: vec![Step::CompletePendingOid(NDIS_STATUS_NOT_SUPPORTED)],
        ..Behaviour::default()
    }));
    let OidOutcome::Pending(id) =
        sim.oid_request(&OidRequest::query(OID_GEN_MAXIMUM_FRAME_SIZE, 4)).unwrap()
    else {
        panic!("MiniportOidRequest returned PENDING");
    };
    assert_eq!(sim.oid_completion(id), None);
    interrupt(&sim);
    let done = sim.oid_completion(id).expect("the work item completed the request");
    assert_eq!(done.status, NDIS_STATUS_NOT_SUPPORTED);
    assert!(!done.synchronous, "completed by NdisMOidRequestComplete");
    assert_eq!(sim.wait_oid(id, Duration::ZERO).unwrap(), done);
    assert_eq!(calls()[0].irql, PASSIVE_LEVEL);
    assert_eq!(
        events(),
        vec!["initialize returns", "oid returns", "queued", "dpc returns", "work item"]
    );
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn an_oid_completed_by_a_work_item_miniport_oid_request_queued_is_still_pending() {
    let mut sim = started(with_work_item(Behaviour {
        oid: OidMode::Pend,
        oid_step: Some(Step::QueueWorkItem),
        work_item_steps: vec![Step::CompletePendingOid(NDIS_STATUS_SUCCESS)],
        ..Behaviour::default()
    }));
    let outcome = sim.oid_request(&OidRequest::query(OID_GEN_MAXIMUM_FRAME_SIZE, 4)).unwrap();
    // MiniportOidRequest returned PENDING; the work item completed the request after that, by
    // the time oid_request returned.
    let OidOutcome::Pending(id) = outcome else { panic!("{outcome:?}") };
    assert_eq!(events(), vec!["initialize returns", "queued", "oid returns", "work item"]);
    let done = sim.oid_completion(id).expect("completed");
    assert_eq!((done.status, done.synchronous), (NDIS_STATUS_SUCCESS, false));
    assert_eq!(sim.wait_oid(id, Duration::ZERO).unwrap(), done);
    assert_eq!(sim.violations(), vec![]);
}

/// OID_RECEIVE_FILTER_FREE_QUEUE as spec §2.2 (b) has it: MiniportOidRequest stops the queue's
/// DMA, indicates it and pends; the protocol returns the queue's last NBL at DISPATCH_LEVEL;
/// the return path queues a work item, which frees the queue's shared memory at PASSIVE_LEVEL
/// and completes the OID.
#[test]
fn free_queue_finished_by_a_work_item_the_last_return_queued() {
    const QUEUE: u32 = 5;
    let config = SimConfig { receive_returns: ReturnPolicy::Hold, ..SimConfig::with_groups(&[2]) };
    let receive = Receive {
        nbls: vec![(5, 60)],
        flags: NDIS_RECEIVE_FLAGS_SINGLE_QUEUE,
        ..Receive::default()
    };
    let mut sim = started_with(
        config,
        Behaviour {
            initialize: [
                INITIALIZE,
                &[Step::AllocateQueueShared(QUEUE, 0x1000), Step::AllocateWorkItem],
            ]
            .concat(),
            halt: [HALT, &[Step::FreeWorkItem]].concat(),
            dpc_receive: Some(receive),
            ..Behaviour::default()
        },
    );
    crate::vmq_oids::make_running(&mut sim, QUEUE, 105);
    interrupt(&sim);
    assert_eq!(sim.receive_indications().len(), 1, "the protocol holds the queue's NBL");
    crate::vmq_oids::clear_filter(&mut sim, QUEUE, 105);

    with_fake(|f| {
        f.behaviour.oid = OidMode::Pend;
        f.behaviour.oid_step = Some(Step::IndicateDmaStopped(QUEUE));
        f.behaviour.return_step = Some(Step::QueueWorkItem);
        f.behaviour.work_item_steps =
            vec![Step::FreeShared, Step::CompletePendingOid(NDIS_STATUS_SUCCESS)];
        f.events.clear();
    });
    let outcome = sim.oid_request(&ndis_sim::vmq_requests::free_queue(QUEUE)).unwrap();
    let OidOutcome::Pending(id) = outcome else { panic!("{outcome:?}") };
    assert_eq!(sim.shared_memory().len(), 1, "the queue's memory waits for its NBL");

    // The protocol returns the NBL from its own DPC, on processor 0:1.
    let cpu_1 = Processor { group: 0, number: 1 };
    sim.run_on(cpu_1, DISPATCH_LEVEL, || sim.return_indicated_nbls());
    let returned = with_fake(|f| f.returned.clone());
    assert_eq!(returned.len(), 1);
    assert_ne!(returned[0].1 & NDIS_RETURN_FLAGS_DISPATCH_LEVEL, 0);
    assert_eq!(with_fake(|f| f.work_items_queued.clone()), vec![(cpu_1, DISPATCH_LEVEL)]);
    assert_eq!(events(), vec!["oid returns", "queued", "return returns", "work item"]);
    assert_eq!(calls()[0].processor, CPU_0);
    assert_eq!(calls()[0].irql, PASSIVE_LEVEL);

    let done = sim.oid_completion(id).expect("the work item completed FREE_QUEUE");
    assert_eq!((done.status, done.synchronous), (NDIS_STATUS_SUCCESS, false));
    assert_eq!(sim.wait_oid(id, Duration::ZERO).unwrap(), done);
    assert_eq!(sim.shared_memory(), vec![], "the work item freed the queue's memory");
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

// ---- NdisAllocateIoWorkItem -----------------------------------------------------------------

#[test]
fn a_work_item_for_the_adapter_context_instead_of_a_handle() {
    let sim = started(Behaviour {
        restart: vec![Step::AllocateWorkItemWithContext],
        ..Behaviour::default()
    });
    assert_eq!(sim.violated_rules(), vec!["NdisAllocateIoWorkItem.Handle"]);
    assert_eq!(
        with_fake(|f| f.statuses.clone()).last(),
        Some(&(Step::AllocateWorkItemWithContext, NDIS_STATUS_RESOURCES)),
        "NULL"
    );
    assert_eq!(sim.work_items(), vec![]);
}

#[test]
fn work_items_of_the_adapter_and_of_the_driver_handle() {
    let sim = started(Behaviour {
        restart: vec![Step::AllocateWorkItem, Step::AllocateDriverWorkItem],
        ..Behaviour::default()
    });
    // Freed by the time HaltEx returns, and before the driver unloads.
    let scopes: Vec<Scope> = sim.work_items().iter().map(|w| w.scope).collect();
    assert_eq!(scopes, vec![Scope::Adapter, Scope::Driver]);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn work_item_calls_above_dispatch_level() {
    let sim = started(with_work_item(Behaviour {
        isr_step: Some(Step::QueueWorkItem),
        ..Behaviour::default()
    }));
    interrupt(&sim);
    assert_eq!(sim.violated_rules(), vec!["Irql.NdisQueueIoWorkItem"]);
    assert_eq!(with_fake(|f| f.work_items_queued[0].1), DEVICE_IRQL);
    // The check is reported; the work item still runs, at PASSIVE_LEVEL, after the ISR.
    assert_eq!(calls()[0].irql, PASSIVE_LEVEL);
}

// ---- NdisQueueIoWorkItem --------------------------------------------------------------------

#[test]
fn queueing_a_work_item_that_was_freed_or_never_allocated() {
    for restart in [
        vec![Step::QueueWorkItem],
        vec![Step::AllocateWorkItem, Step::FreeWorkItem, Step::QueueWorkItem],
    ] {
        let sim = started(Behaviour { restart: restart.clone(), ..Behaviour::default() });
        assert_eq!(sim.violated_rules(), vec![rules::QUEUE_WORK_ITEM_UNKNOWN], "{restart:?}");
        assert_eq!(calls(), vec![], "nothing ran");
    }
}

#[test]
fn queueing_a_work_item_that_is_still_queued() {
    let sim = started(queued_by_restart(&[Step::QueueWorkItem, Step::QueueWorkItem]));
    assert_eq!(sim.violated_rules(), vec![rules::QUEUE_WORK_ITEM_ALREADY_QUEUED]);
    assert_eq!(calls().len(), 1, "the routine runs once");
}

#[test]
fn queueing_a_work_item_again_once_it_ran() {
    let sim = started(with_work_item(Behaviour {
        restart: vec![Step::QueueWorkItem],
        dpc_step: Some(Step::QueueWorkItem),
        ..Behaviour::default()
    }));
    interrupt(&sim);
    assert_eq!(calls().len(), 2);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn queueing_a_work_item_without_a_routine() {
    let sim = started(queued_by_restart(&[Step::QueueWorkItemWithoutRoutine]));
    assert_eq!(sim.violated_rules(), vec![rules::QUEUE_WORK_ITEM_NULL_ROUTINE]);
    assert!(!sim.work_items()[0].queued, "nothing was queued");
    assert_eq!(sim.run_work_items(), vec![]);
}

// ---- NdisFreeIoWorkItem ---------------------------------------------------------------------

#[test]
fn freeing_a_work_item_twice() {
    let sim = started(Behaviour {
        restart: vec![Step::AllocateWorkItem, Step::FreeWorkItem, Step::FreeWorkItem],
        ..Behaviour::default()
    });
    assert_eq!(sim.violated_rules(), vec![rules::FREE_WORK_ITEM_UNKNOWN]);
}

#[test]
fn freeing_a_work_item_that_is_queued() {
    let sim = started(queued_by_restart(&[Step::QueueWorkItem, Step::FreeWorkItem]));
    assert_eq!(sim.violated_rules(), vec![rules::FREE_WORK_ITEM_QUEUED]);
    // Nothing was freed: the routine ran, and the work item is still there.
    assert_eq!(calls().len(), 1);
    assert_eq!(sim.work_items().len(), 1);
}

#[test]
fn a_work_item_that_frees_itself() {
    let sim = full_cycle(Behaviour {
        initialize: [INITIALIZE, &[Step::AllocateWorkItem]].concat(),
        restart: vec![Step::QueueWorkItem],
        work_item_steps: vec![Step::FreeWorkItem],
        ..Behaviour::default()
    });
    assert_eq!(calls().len(), 1);
    assert_eq!(sim.work_items(), vec![]);
    assert_eq!(sim.violations(), vec![], "nothing left for HaltEx to free");
}

// ---- Halt and a failing InitializeEx ----------------------------------------------------------

#[test]
fn a_halt_that_keeps_its_work_item() {
    let mut sim = started(Behaviour {
        initialize: [INITIALIZE, &[Step::AllocateWorkItem]].concat(),
        ..Behaviour::default()
    });
    sim.stop_device().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::HALT_IO_WORK_ITEM]);
}

#[test]
fn a_halt_that_frees_its_work_item() {
    let sim = full_cycle(with_work_item(Behaviour::default()));
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_halt_that_returns_with_its_work_item_queued() {
    let mut sim = started(Behaviour {
        initialize: [INITIALIZE, &[Step::AllocateWorkItem]].concat(),
        halt: [&[Step::QueueWorkItem], HALT].concat(),
        ..Behaviour::default()
    });
    sim.stop_device().unwrap();
    assert_eq!(
        sim.violated_rules(),
        vec![rules::HALT_IO_WORK_ITEM_QUEUED, rules::HALT_IO_WORK_ITEM]
    );
    assert_eq!(sim.run_work_items(), vec![]);
    assert_eq!(calls(), vec![], "the routine never runs on a halted adapter");
}

#[test]
fn a_work_item_queued_before_the_halt_runs_before_it() {
    let mut sim = started(with_work_item(Behaviour::default()));
    sim.pause().unwrap();
    let item = with_fake(|f| f.work_item);
    sim.run_on(CPU_0, DISPATCH_LEVEL, || {
        // SAFETY: the fake's routine may run at any time with this context.
        unsafe {
            NdisQueueIoWorkItem(
                item as NDIS_HANDLE,
                Some(fake::work_item_routine),
                WORK_ITEM_CONTEXT as *mut c_void,
            );
        };
    });
    // Queued outside every handler: nothing ran it yet; the halt does, before HaltEx.
    assert_eq!(calls(), vec![]);
    sim.stop_device().unwrap();
    assert_eq!(events(), vec!["initialize returns", "work item", "halt"]);
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_driver_work_item_may_be_queued_when_halt_returns() {
    let mut sim = started(Behaviour {
        driver_work_item: DriverWorkItem::FreedAtUnload,
        halt: [&[Step::QueueWorkItem], HALT].concat(),
        ..Behaviour::default()
    });
    sim.pause().unwrap();
    sim.halt().unwrap();
    // Of the driver handle: it runs after HaltEx, and is the driver's to free at unload.
    assert_eq!(events(), vec!["initialize returns", "halt", "queued", "work item"]);
    sim.remove_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn a_failing_initialize_that_keeps_its_work_item_queued() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(Behaviour {
        initialize: vec![
            Step::AllocateWorkItem,
            Step::QueueWorkItem,
            Step::Return(NDIS_STATUS_FAILURE),
        ],
        ..Behaviour::default()
    });
    sim.load_driver(fake::driver_entry).unwrap();
    let started = sim.start_device(GrantPolicy::AsRequested);
    assert!(matches!(started, Err(SimError::Failed { handler: "MiniportInitializeEx", .. })));
    assert_eq!(
        sim.violated_rules(),
        vec![rules::INITIALIZE_FAILURE_IO_WORK_ITEM_QUEUED, rules::INITIALIZE_FAILURE_IO_WORK_ITEM]
    );
    assert_eq!(calls(), vec![], "the routine never runs for an adapter that never existed");
}

#[test]
fn a_failing_initialize_that_frees_its_work_item() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(Behaviour {
        initialize: vec![
            Step::AllocateWorkItem,
            Step::FreeWorkItem,
            Step::Return(NDIS_STATUS_FAILURE),
        ],
        ..Behaviour::default()
    });
    sim.load_driver(fake::driver_entry).unwrap();
    assert!(sim.start_device(GrantPolicy::AsRequested).is_err());
    assert_eq!(sim.violations(), vec![]);
}

// ---- RemoveDevice, deregistration and unload ---------------------------------------------------

#[test]
fn a_remove_device_that_keeps_add_devices_work_item() {
    let sim = full_cycle(Behaviour { add_device_work_item: Some(false), ..Behaviour::default() });
    assert_eq!(
        sim.violated_rules(),
        vec![rules::REMOVE_DEVICE_IO_WORK_ITEM, rules::UNLOAD_IO_WORK_ITEM]
    );
}

#[test]
fn a_remove_device_that_frees_add_devices_work_item() {
    let sim = full_cycle(Behaviour { add_device_work_item: Some(true), ..Behaviour::default() });
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn an_unload_that_keeps_the_driver_work_item() {
    let sim = full_cycle(Behaviour {
        driver_work_item: DriverWorkItem::KeptAtUnload,
        ..Behaviour::default()
    });
    assert_eq!(sim.violated_rules(), vec![rules::UNLOAD_IO_WORK_ITEM]);
}

#[test]
fn an_unload_that_frees_the_driver_work_item_it_used() {
    let sim = full_cycle(Behaviour {
        driver_work_item: DriverWorkItem::FreedAtUnload,
        restart: vec![Step::QueueWorkItem],
        ..Behaviour::default()
    });
    assert_eq!(calls().len(), 1);
    assert_eq!(sim.violations(), vec![], "HaltEx need not free a work item of the driver");
}

#[test]
fn deregistering_with_the_driver_work_item_queued() {
    let sim = full_cycle(Behaviour {
        driver_work_item: DriverWorkItem::QueuedAtUnload,
        ..Behaviour::default()
    });
    assert_eq!(
        sim.violated_rules(),
        vec![rules::DEREGISTER_IO_WORK_ITEM_QUEUED, rules::UNLOAD_IO_WORK_ITEM]
    );
    assert_eq!(calls(), vec![], "the routine never runs in an unloaded driver");
}
