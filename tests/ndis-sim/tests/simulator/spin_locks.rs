//! NDIS spin locks: the IRQL the exports raise and restore, every `SpinLock.*` check made to
//! fire (by calling the exports wrongly from the test, or by the fake miniport), each next to
//! its passing counterpart.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::time::Duration;

use ndis_sim::sim::cpu::{self, DEVICE_IRQL, DISPATCH_LEVEL, PASSIVE_LEVEL};
use ndis_sim::sim::exports::{
    NdisAcquireSpinLock, NdisAllocateMemoryWithTagPriority, NdisAllocateSpinLock,
    NdisDprAcquireSpinLock, NdisDprReleaseSpinLock, NdisFreeMemory, NdisFreeSpinLock,
    NdisReleaseSpinLock,
};
use ndis_sim::sim::{GrantPolicy, ReturnPolicy, Sim, SimConfig, SpinLockState, rules, with_state};
use vmqnic::interrupt::Processor;
use vmqnic::ndis::NDIS_SPIN_LOCK;

use crate::fake::{self, Behaviour, HALT, INITIALIZE, Receive, Step, fake_lock};

const WAIT: Duration = Duration::from_secs(2);
const CPU0: Processor = Processor { group: 0, number: 0 };
const CPU1: Processor = Processor { group: 0, number: 1 };

type LockFunction = unsafe extern "system" fn(*mut NDIS_SPIN_LOCK);

/// A lock in memory of the test's own, at a stable address.
struct TestLock(Box<UnsafeCell<NDIS_SPIN_LOCK>>);

impl TestLock {
    fn new() -> Self {
        // Garbage in both fields: NdisAllocateSpinLock must initialize the lock word.
        Self(Box::new(UnsafeCell::new(NDIS_SPIN_LOCK { SpinLock: 0x5A5A, OldIrql: 0xEE })))
    }

    fn ptr(&self) -> *mut NDIS_SPIN_LOCK {
        self.0.get()
    }

    /// (SpinLock, OldIrql) as the exports left them.
    fn fields(&self) -> (usize, u8) {
        // SAFETY: the test's own lock; no export runs while it is read.
        let lock = unsafe { &*self.ptr() };
        (lock.SpinLock, lock.OldIrql)
    }
}

fn call(operation: LockFunction, lock: *mut NDIS_SPIN_LOCK) {
    // SAFETY: every lock of these tests outlives its use, or is a pointer the simulator must
    // refuse without dereferencing it (NULL, never allocated, freed).
    unsafe { operation(lock) };
}

fn irql() -> u8 {
    cpu::current().irql
}

fn sim() -> Sim {
    Sim::start(SimConfig::with_groups(&[2]))
}

// ---- What the exports do -----------------------------------------------------------------------

#[test]
fn acquire_raises_to_dispatch_and_release_restores_the_irql() {
    let sim = sim();
    let (outer, inner) = (TestLock::new(), TestLock::new());
    call(NdisAllocateSpinLock, outer.ptr());
    call(NdisAllocateSpinLock, inner.ptr());
    assert_eq!(outer.fields(), (0, 0xEE), "KeInitializeSpinLock zeroes the lock word only");
    assert_eq!(irql(), PASSIVE_LEVEL);

    call(NdisAcquireSpinLock, outer.ptr());
    assert_eq!(irql(), DISPATCH_LEVEL);
    assert_eq!(outer.fields(), (1, PASSIVE_LEVEL), "held, and the IRQL to go back to");
    // At DISPATCH_LEVEL, a second lock nests with the Dpr variants.
    call(NdisDprAcquireSpinLock, inner.ptr());
    assert_eq!((irql(), inner.fields()), (DISPATCH_LEVEL, (1, 0xEE)), "Dpr leaves OldIrql");
    let held: Vec<Option<Processor>> = sim.spin_locks().iter().map(|l| l.held_by).collect();
    assert_eq!(held, vec![Some(CPU0); 2]);
    call(NdisDprReleaseSpinLock, inner.ptr());
    assert_eq!(irql(), DISPATCH_LEVEL);
    call(NdisReleaseSpinLock, outer.ptr());
    assert_eq!((irql(), outer.fields().0), (PASSIVE_LEVEL, 0));

    // Acquired at DISPATCH_LEVEL, released back to DISPATCH_LEVEL.
    sim.run_on(CPU1, DISPATCH_LEVEL, || {
        call(NdisAcquireSpinLock, outer.ptr());
        assert_eq!(outer.fields(), (1, DISPATCH_LEVEL));
        call(NdisReleaseSpinLock, outer.ptr());
        assert_eq!(irql(), DISPATCH_LEVEL);
    });
    assert_eq!(irql(), PASSIVE_LEVEL);

    call(NdisFreeSpinLock, outer.ptr());
    call(NdisFreeSpinLock, inner.ptr());
    assert!(sim.spin_locks().iter().all(|l| l.freed && l.held_by.is_none()));
    // A freed lock may be initialized again.
    call(NdisAllocateSpinLock, outer.ptr());
    call(NdisAcquireSpinLock, outer.ptr());
    call(NdisReleaseSpinLock, outer.ptr());
    assert_eq!(sim.violations(), vec![]);
}

// ---- The checks ----------------------------------------------------------------------------------

#[test]
fn a_lock_never_allocated_already_freed_or_null() {
    let sim = sim();
    let never = TestLock::new();
    call(NdisAcquireSpinLock, never.ptr());
    assert_eq!(irql(), PASSIVE_LEVEL, "nothing done to a lock that was never allocated");
    assert_eq!(never.fields(), (0x5A5A, 0xEE), "nor written");
    let freed = TestLock::new();
    call(NdisAllocateSpinLock, freed.ptr());
    call(NdisFreeSpinLock, freed.ptr());
    call(NdisDprAcquireSpinLock, freed.ptr());
    call(NdisFreeSpinLock, freed.ptr());
    call(NdisAllocateSpinLock, std::ptr::null_mut());
    call(NdisReleaseSpinLock, std::ptr::null_mut());
    let mut violations = sim.violated_rules();
    // The Dpr call was also below DISPATCH_LEVEL.
    violations.retain(|rule| *rule != rules::SPIN_LOCK_DPR_BELOW_DISPATCH);
    assert_eq!(violations, vec![rules::SPIN_LOCK_NOT_ALLOCATED; 5]);
    assert_eq!(
        sim.spin_locks(),
        vec![SpinLockState { address: freed.ptr() as usize, freed: true, held_by: None }]
    );
}

#[test]
fn freeing_a_held_lock_or_the_memory_it_lives_in() {
    let sim = sim();
    let lock = TestLock::new();
    call(NdisAllocateSpinLock, lock.ptr());
    call(NdisAcquireSpinLock, lock.ptr());
    call(NdisFreeSpinLock, lock.ptr());
    assert_eq!(sim.take_violations()[0].rule, rules::SPIN_LOCK_FREED_WHILE_HELD);
    // It stays allocated and held: the release works, then the free.
    assert_eq!(sim.spin_locks()[0].held_by, Some(CPU0));
    call(NdisReleaseSpinLock, lock.ptr());
    call(NdisFreeSpinLock, lock.ptr());
    assert_eq!(sim.take_violations(), vec![]);

    // Locks in pool memory go with it; freeing a held one is the same mistake.
    let miniport = with_state(|s| s.miniport_handle) as *mut c_void;
    let block = NdisAllocateMemoryWithTagPriority(miniport, 64, fake::TAG, 16);
    let (first, second) = (block.cast::<NDIS_SPIN_LOCK>(), block.wrapping_byte_add(32).cast());
    call(NdisAllocateSpinLock, first);
    call(NdisAllocateSpinLock, second);
    call(NdisAcquireSpinLock, second);
    NdisFreeMemory(block, 0, 0);
    assert_eq!(sim.violated_rules(), vec![rules::SPIN_LOCK_FREED_WHILE_HELD]);
    assert_eq!(sim.spin_locks().len(), 1, "only the test's own lock is left");
}

#[test]
fn releasing_a_lock_nobody_holds_or_another_processor_holds() {
    let sim = sim();
    let lock = TestLock::new();
    call(NdisAllocateSpinLock, lock.ptr());
    call(NdisReleaseSpinLock, lock.ptr());
    assert_eq!(irql(), PASSIVE_LEVEL, "nothing released, the IRQL untouched");
    sim.run_on(CPU1, DISPATCH_LEVEL, || call(NdisDprAcquireSpinLock, lock.ptr()));
    sim.run_on(CPU0, DISPATCH_LEVEL, || call(NdisDprReleaseSpinLock, lock.ptr()));
    assert_eq!(sim.spin_locks()[0].held_by, Some(CPU1), "still processor 1's");
    assert_eq!(sim.violated_rules(), vec![rules::SPIN_LOCK_RELEASE_NOT_HELD; 2]);
    // Its holder releases it.
    sim.run_on(CPU1, DISPATCH_LEVEL, || call(NdisDprReleaseSpinLock, lock.ptr()));
    assert_eq!(sim.violations().len(), 2);
}

#[test]
fn acquiring_a_held_lock_reports_the_deadlock_and_returns() {
    let sim = sim();
    let lock = TestLock::new();
    call(NdisAllocateSpinLock, lock.ptr());
    call(NdisAcquireSpinLock, lock.ptr());
    // Again, on the same processor (a nested call) and on another one: both would spin
    // forever, since everything here is one thread.
    call(NdisAcquireSpinLock, lock.ptr());
    sim.run_on(CPU1, DISPATCH_LEVEL, || call(NdisDprAcquireSpinLock, lock.ptr()));
    assert_eq!(lock.fields().1, PASSIVE_LEVEL, "the holder's OldIrql is kept");
    assert_eq!(sim.violated_rules(), vec![rules::SPIN_LOCK_ACQUIRE_HELD; 2]);
    // The releases that pair with the refused acquisitions change nothing...
    sim.run_on(CPU1, DISPATCH_LEVEL, || call(NdisDprReleaseSpinLock, lock.ptr()));
    call(NdisReleaseSpinLock, lock.ptr());
    assert_eq!((irql(), sim.spin_locks()[0].held_by), (DISPATCH_LEVEL, Some(CPU0)));
    // ...and the holder's own release restores everything, with nothing more reported.
    call(NdisReleaseSpinLock, lock.ptr());
    call(NdisFreeSpinLock, lock.ptr());
    assert_eq!(irql(), PASSIVE_LEVEL);
    assert_eq!(sim.violations().len(), 2);
}

#[test]
fn dpr_variants_below_or_above_dispatch_level() {
    let sim = sim();
    let lock = TestLock::new();
    call(NdisAllocateSpinLock, lock.ptr());
    call(NdisDprAcquireSpinLock, lock.ptr());
    call(NdisDprReleaseSpinLock, lock.ptr());
    assert_eq!(sim.violated_rules(), vec![rules::SPIN_LOCK_DPR_BELOW_DISPATCH; 2]);
    sim.take_violations();
    sim.run_on(CPU0, DISPATCH_LEVEL, || {
        call(NdisDprAcquireSpinLock, lock.ptr());
        call(NdisDprReleaseSpinLock, lock.ptr());
    });
    assert_eq!(sim.violations(), vec![]);
    sim.run_on(CPU0, DEVICE_IRQL, || {
        call(NdisDprAcquireSpinLock, lock.ptr());
        call(NdisDprReleaseSpinLock, lock.ptr());
        call(NdisAcquireSpinLock, lock.ptr());
        assert_eq!(irql(), DEVICE_IRQL, "KeAcquireSpinLock cannot lower the IRQL");
        call(NdisReleaseSpinLock, lock.ptr());
    });
    assert_eq!(
        sim.violated_rules(),
        vec![
            "Irql.NdisDprAcquireSpinLock",
            "Irql.NdisDprReleaseSpinLock",
            "Irql.NdisAcquireSpinLock",
            "Irql.NdisReleaseSpinLock",
        ]
    );
}

#[test]
fn a_release_that_does_not_match_the_acquisition() {
    let sim = sim();
    let lock = TestLock::new();
    call(NdisAllocateSpinLock, lock.ptr());
    call(NdisAcquireSpinLock, lock.ptr());
    call(NdisDprReleaseSpinLock, lock.ptr());
    assert_eq!(irql(), PASSIVE_LEVEL, "restored as NdisReleaseSpinLock would have");
    sim.run_on(CPU0, DISPATCH_LEVEL, || {
        call(NdisDprAcquireSpinLock, lock.ptr());
        call(NdisReleaseSpinLock, lock.ptr());
        assert_eq!(irql(), DISPATCH_LEVEL, "left alone as NdisDprReleaseSpinLock would");
    });
    assert_eq!(sim.violated_rules(), vec![rules::SPIN_LOCK_MISMATCHED_RELEASE; 2]);
    assert_eq!(sim.spin_locks()[0].held_by, None);
}

// ---- Handlers that return holding a lock ---------------------------------------------------------

/// Starts the fake (whose Initialize allocates its lock, then runs `initialize_tail`), delivers
/// message 2 (its DPC runs `dpc_step`), stops it (Halt ends with `halt_tail`) and unloads it.
fn cycle(initialize_tail: &[Step], dpc_step: Option<Step>, halt_tail: &[Step]) -> Sim {
    let mut sim = sim();
    let mut initialize = INITIALIZE.to_vec();
    initialize.push(Step::AllocateLock);
    initialize.extend_from_slice(initialize_tail);
    let mut halt = HALT.to_vec();
    halt.extend_from_slice(halt_tail);
    fake::reset(Behaviour { initialize, halt, dpc_step, ..Behaviour::default() });
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    sim.signal_message(2).unwrap();
    assert_eq!(sim.deliver_interrupts(WAIT).unwrap().len(), 1);
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    sim
}

#[test]
fn locked_sections_in_initialize_and_a_dpc_and_a_lock_never_freed() {
    let sim = cycle(&[Step::LockedSection], Some(Step::DprLockedSection), &[]);
    assert_eq!(sim.violations(), vec![]);
    // NdisFreeSpinLock has nothing to free on Windows: a lock never given up is no leak.
    let locks = sim.spin_locks();
    assert_eq!(locks.len(), 1);
    assert!(!locks[0].freed && locks[0].held_by.is_none());
    assert_eq!(locks[0].address, fake_lock() as usize);
}

#[test]
fn a_dpc_that_returns_holding_a_lock() {
    let sim = cycle(&[], Some(Step::DprAcquireLock), &[Step::FreeLock]);
    let violations = sim.violations();
    assert_eq!(
        violations.iter().map(|v| v.rule).collect::<Vec<_>>(),
        vec![rules::SPIN_LOCK_HELD_AT_RETURN]
    );
    assert!(violations[0].detail.starts_with("Dpc returned"), "{}", violations[0].detail);
    let lock = sim.spin_locks()[0];
    assert_eq!((lock.held_by, lock.freed), (None, true), "released for the driver, then freed");
}

#[test]
fn initialize_returning_at_dispatch_level_with_its_lock() {
    // The IRQL goes back to PASSIVE_LEVEL with the lock, so Halt's PASSIVE_LEVEL calls (and
    // the rest of the cycle) report nothing more.
    let sim = cycle(&[Step::AcquireLock], Some(Step::DprLockedSection), &[Step::FreeLock]);
    assert_eq!(sim.violated_rules(), vec![rules::SPIN_LOCK_HELD_AT_RETURN]);
    assert_eq!(irql(), PASSIVE_LEVEL);
}

#[test]
fn a_lock_held_across_a_receive_indication_that_returns_at_once() {
    // The classic: the DPC holds its lock while it indicates, and the protocol returns the
    // NBLs from inside the indication to a return handler that takes the same lock.
    let start = |returns| {
        let mut sim =
            Sim::start(SimConfig { receive_returns: returns, ..SimConfig::with_groups(&[2]) });
        let mut initialize = INITIALIZE.to_vec();
        initialize.push(Step::AllocateLock);
        fake::reset(Behaviour {
            initialize,
            dpc_receive: Some(Receive { nbls: vec![(0, 60)], ..Receive::default() }),
            dpc_locks_around_receive: true,
            return_takes_lock: true,
            ..Behaviour::default()
        });
        sim.load_driver(fake::driver_entry).unwrap();
        sim.start_device(GrantPolicy::AsRequested).unwrap();
        sim.signal_message(2).unwrap();
        sim.deliver_interrupts(WAIT).unwrap();
        sim
    };
    let sim = start(ReturnPolicy::DuringIndication);
    assert_eq!(sim.violated_rules(), vec![rules::SPIN_LOCK_ACQUIRE_HELD]);
    drop(sim);
    // Returned after the DPC released the lock: fine.
    let sim = start(ReturnPolicy::AfterDpc);
    assert_eq!(sim.violations(), vec![]);
    assert_eq!(fake::with_fake(|f| f.returned.len()), 1);
}
