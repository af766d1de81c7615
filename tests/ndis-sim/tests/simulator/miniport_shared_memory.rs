//! NdisMAllocateSharedMemory and NdisMFreeSharedMemory, the classic miniport shared memory (the
//! transmit ring's): what they hand out, and each of their rules made to fire by the fake
//! driver, next to the same driver doing it right.

use std::ffi::c_void;
use std::ptr;
use std::time::Duration;

use ndis_sim::sim::exports::{NdisMAllocateSharedMemory, NdisMFreeSharedMemory};
use ndis_sim::sim::{GrantPolicy, MiniportSharedMemoryRecord, Sim, SimConfig, SimError, rules};
use vmqnic::ndis::{NDIS_STATUS_FAILURE, NDIS_STATUS_RESOURCES};

use crate::fake::{self, Behaviour, HALT, INITIALIZE, Step, with_fake};

const PAGE: u64 = 0x1000;

/// Loads and starts the fake on `config` (the start may fail).
fn start_fake_on(config: SimConfig, behaviour: Behaviour) -> (Sim, Result<(), SimError>) {
    let mut sim = Sim::start(config);
    fake::reset(behaviour);
    sim.load_driver(fake::driver_entry).unwrap();
    let started = sim.start_device(GrantPolicy::AsRequested).map(drop);
    (sim, started)
}

fn start_fake(behaviour: Behaviour) -> (Sim, Result<(), SimError>) {
    start_fake_on(SimConfig::with_groups(&[2]), behaviour)
}

/// A well-behaved driver that allocates NdisM shared memory of these lengths in
/// MiniportInitializeEx (after registering scatter-gather DMA) and frees it first in
/// MiniportHaltEx (before deregistering it).
fn with_blocks(lengths: &[u32]) -> Behaviour {
    let mut initialize = INITIALIZE.to_vec();
    initialize.extend(lengths.iter().map(|&length| Step::AllocateMiniportShared(length)));
    let mut halt = vec![Step::FreeMiniportShared];
    halt.extend_from_slice(HALT);
    Behaviour { initialize, halt, ..Behaviour::default() }
}

/// The fake's NdisM blocks, taken from it (so that its Halt does not free them again).
fn take_blocks() -> Vec<(usize, i64, u32)> {
    with_fake(|f| std::mem::take(&mut f.miniport_shared))
}

fn free(sim: &Sim, length: u32, cached: u8, address: usize, physical: i64) {
    NdisMFreeSharedMemory(
        sim.miniport_handle() as _,
        length,
        cached,
        address as *mut c_void,
        physical,
    );
}

#[test]
fn allocated_after_scatter_gather_dma_and_freed_in_halt_breaks_no_rule() {
    let (mut sim, started) = start_fake(with_blocks(&[0x1800, 0x1000]));
    started.unwrap();
    let blocks = with_fake(|f| f.miniport_shared.clone());
    let records = sim.miniport_shared_memory();
    let mut expected: Vec<MiniportSharedMemoryRecord> = blocks
        .iter()
        .map(|&(virtual_address, physical, length)| MiniportSharedMemoryRecord {
            virtual_address,
            physical_address: u64::try_from(physical).unwrap(),
            length,
            cached: false,
        })
        .collect();
    expected.sort_by_key(|r| r.virtual_address);
    assert_eq!(records, expected, "what the driver got is what the simulator recorded");
    for record in &records {
        assert_eq!(record.physical_address % PAGE, 0, "page-aligned: {record:?}");
        assert_eq!(record.virtual_address as u64 % PAGE, 0, "page-aligned: {record:?}");
        assert!(record.physical_address >= 0x10_0000, "DMA memory lies above 1 MiB");
        // SAFETY: the live block of `length` bytes the simulator handed the fake.
        let bytes = unsafe {
            std::slice::from_raw_parts(record.virtual_address as *const u8, record.length as usize)
        };
        assert!(bytes.iter().all(|b| *b == 0), "zeroed");
    }
    let (a, b) = (records[0], records[1]);
    let end = |r: MiniportSharedMemoryRecord| r.physical_address + u64::from(r.length);
    assert!(end(a) <= b.physical_address || end(b) <= a.physical_address, "disjoint");
    assert_eq!(sim.allocation_calls_by_function().get("NdisMAllocateSharedMemory"), Some(&2));
    assert!(sim.shared_memory().is_empty(), "NdisAllocateSharedMemory's blocks are apart");

    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
    assert!(sim.miniport_shared_memory().is_empty());
}

#[test]
fn qemu_the_virtual_address_is_guest_ram_at_the_physical_address() {
    let (mut sim, started) =
        start_fake_on(SimConfig::with_groups(&[1]).with_qemu(), with_blocks(&[0x2000]));
    started.unwrap();
    let (address, physical, _) = with_fake(|f| f.miniport_shared[0]);
    let physical = u64::try_from(physical).unwrap();
    let ram = sim.qemu().unwrap().ram();
    // The device's writes (guest RAM) are what the driver reads ...
    ram.write_u32(physical + 0x1000, 0x1234_5678).unwrap();
    // SAFETY: inside the live 0x2000-byte block the simulator handed the fake.
    let seen = unsafe { ((address + 0x1000) as *const u32).read_volatile() };
    assert_eq!(seen, 0x1234_5678);
    // ... and the driver's writes (descriptors) are what the device reads.
    // SAFETY: as above.
    unsafe { (address as *mut u32).write_volatile(0x9ABC_DEF0) };
    assert_eq!(ram.read_u32(physical).unwrap(), 0x9ABC_DEF0);
    sim.stop_device().unwrap();
    assert_eq!(sim.violations(), vec![]);
    let outstanding = sim.qemu().unwrap().dma_outstanding();
    assert!(
        outstanding.iter().all(|a| a.tag != "NdisMAllocateSharedMemory"),
        "the range went back to the allocator: {outstanding:?}"
    );
}

#[test]
fn allocated_without_scatter_gather_dma() {
    // Before NdisMRegisterScatterGatherDma.
    let (sim, _) = start_fake(Behaviour {
        initialize: vec![
            Step::AllocateContext,
            Step::Registration,
            Step::General,
            Step::AllocateMiniportShared(0x1000),
        ],
        ..Behaviour::default()
    });
    assert_eq!(sim.violated_rules(), vec![rules::MINIPORT_SHARED_MEMORY_WITHOUT_SG_DMA]);
    let statuses = with_fake(|f| f.statuses.clone());
    assert!(statuses.contains(&(Step::AllocateMiniportShared(0x1000), NDIS_STATUS_RESOURCES)));
    assert!(sim.miniport_shared_memory().is_empty(), "nothing was allocated");
    drop(sim);

    // After NdisMDeregisterScatterGatherDma.
    let mut halt = vec![Step::DeregisterSgDma, Step::AllocateMiniportShared(0x1000)];
    halt.extend(HALT.iter().filter(|s| **s != Step::DeregisterSgDma));
    let (mut sim, started) = start_fake(Behaviour { halt, ..Behaviour::default() });
    started.unwrap();
    sim.stop_device().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::MINIPORT_SHARED_MEMORY_WITHOUT_SG_DMA]);
    assert_eq!(sim.allocation_calls_by_function().get("NdisMAllocateSharedMemory"), Some(&1));
}

#[test]
fn freed_with_another_length_caching_or_physical_address() {
    let (mut sim, started) = start_fake(with_blocks(&[0x1000, 0x1000, 0x1000, 0x1000]));
    started.unwrap();
    let blocks = take_blocks();
    let [exact, length, cached, physical] = blocks[..] else { panic!("four blocks: {blocks:?}") };
    free(&sim, exact.2, 0, exact.0, exact.1);
    assert_eq!(sim.violations(), vec![], "the allocation's own arguments");
    free(&sim, 0x800, 0, length.0, length.1);
    free(&sim, cached.2, 1, cached.0, cached.1);
    free(&sim, physical.2, 0, physical.0, physical.1 + 0x1000);
    assert_eq!(sim.violated_rules(), vec![rules::FREE_MINIPORT_SHARED_MEMORY_MISMATCH; 3]);
    assert!(sim.miniport_shared_memory().is_empty(), "each block was freed all the same");
    sim.stop_device().unwrap();
    assert_eq!(sim.violations().len(), 3, "no leak at Halt");
}

#[test]
fn freed_twice_in_part_or_never_allocated_by_it() {
    let mut behaviour = with_blocks(&[0x1000, 0x2000]);
    behaviour.initialize.push(Step::AllocateShared(0x1000));
    let (mut sim, started) = start_fake(behaviour);
    started.unwrap();
    let blocks = take_blocks();
    let [first, second] = blocks[..] else { panic!("two blocks: {blocks:?}") };
    free(&sim, first.2, 0, first.0, first.1);
    assert_eq!(sim.violations(), vec![]);
    // A double free.
    free(&sim, first.2, 0, first.0, first.1);
    // A subrange: the second page of the second block.
    free(&sim, 0x1000, 0, second.0 + 0x1000, second.1 + 0x1000);
    // NdisAllocateSharedMemory's memory.
    let (_, other_address, other_physical) = with_fake(|f| f.shared[0]);
    free(&sim, 0x1000, 0, other_address, other_physical);
    let violations = sim.violations();
    assert_eq!(sim.violated_rules(), vec![rules::FREE_MINIPORT_SHARED_MEMORY_UNKNOWN; 3]);
    assert!(violations[1].detail.contains("subrange"), "{}", violations[1]);
    assert_eq!(sim.miniport_shared_memory().len(), 1, "the second block is still allocated");
    assert_eq!(sim.shared_memory().len(), 1, "and so is NdisAllocateSharedMemory's");
    free(&sim, second.2, 0, second.0, second.1);
    sim.stop_device().unwrap();
    assert_eq!(sim.violations().len(), 3, "nothing more, no leak at Halt");
}

#[test]
fn freed_in_shutdown() {
    let (mut sim, started) = start_fake(with_blocks(&[0x1000]));
    started.unwrap();
    sim.shutdown(0).unwrap();
    assert_eq!(sim.violations(), vec![], "a shutdown that leaves the memory alone");
    drop(sim);

    let (mut sim, started) = start_fake(Behaviour {
        shutdown_step: Some(Step::FreeMiniportShared),
        ..with_blocks(&[0x1000])
    });
    started.unwrap();
    sim.shutdown(0).unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::FREE_MINIPORT_SHARED_MEMORY_FROM_SHUTDOWN]);
}

#[test]
fn a_halt_that_keeps_its_miniport_shared_memory() {
    let (mut sim, started) =
        start_fake(Behaviour { halt: HALT.to_vec(), ..with_blocks(&[0x1000, 0x3000]) });
    started.unwrap();
    sim.stop_device().unwrap();
    let violations = sim.violations();
    assert_eq!(sim.violated_rules(), vec![rules::HALT_SHARED_MEMORY]);
    assert!(
        violations[0].detail.contains("0 NdisAllocateSharedMemory and 2 NdisMAllocateSharedMemory"),
        "{}",
        violations[0]
    );
}

#[test]
fn a_failing_initialize_that_keeps_its_miniport_shared_memory() {
    // Everything else is released: only the shared memory is left.
    let failing = |free_it: bool| {
        let mut initialize = INITIALIZE.to_vec();
        initialize.push(Step::AllocateMiniportShared(0x1000));
        if free_it {
            initialize.push(Step::FreeMiniportShared);
        }
        initialize.extend([
            Step::DeregisterInterrupt,
            Step::DeregisterSgDma,
            Step::Unmap,
            Step::FreeContext,
            Step::Return(NDIS_STATUS_FAILURE),
        ]);
        Behaviour { initialize, ..Behaviour::default() }
    };
    let (sim, started) = start_fake(failing(true));
    assert!(started.is_err());
    assert_eq!(sim.violations(), vec![], "a failure that frees it");
    drop(sim);

    let (sim, started) = start_fake(failing(false));
    assert!(started.is_err());
    assert_eq!(sim.violated_rules(), vec![rules::INITIALIZE_FAILURE_SHARED_MEMORY]);
}

#[test]
fn calls_above_passive_level() {
    // The ISR allocates (at DIRQL), its DPC frees (at DISPATCH_LEVEL).
    let (sim, started) = start_fake(Behaviour {
        isr_step: Some(Step::AllocateMiniportShared(0x1000)),
        dpc_step: Some(Step::FreeMiniportShared),
        ..Behaviour::default()
    });
    started.unwrap();
    sim.signal_message(0).unwrap();
    sim.deliver_interrupts(Duration::from_secs(2)).unwrap();
    assert_eq!(
        sim.violated_rules(),
        vec!["Irql.NdisMAllocateSharedMemory", "Irql.NdisMFreeSharedMemory"]
    );
    assert!(sim.miniport_shared_memory().is_empty());
}

#[test]
fn calls_with_a_foreign_handle() {
    let (sim, started) = start_fake(with_blocks(&[0x1000]));
    started.unwrap();
    let mut address: *mut c_void = ptr::dangling_mut();
    let mut physical: i64 = -1;
    // SAFETY: both out parameters live on this frame.
    unsafe {
        NdisMAllocateSharedMemory(
            ptr::dangling_mut(),
            0x1000,
            0,
            &raw mut address,
            &raw mut physical,
        );
    };
    assert_eq!((address, physical), (ptr::null_mut(), 0), "a failure gives NULL and 0");
    assert_eq!(sim.violated_rules(), vec!["NdisMAllocateSharedMemory.Handle"]);
    sim.take_violations();

    let [(address, physical, length)] = take_blocks()[..] else { panic!("one block") };
    NdisMFreeSharedMemory(ptr::dangling_mut(), length, 0, address as *mut c_void, physical);
    assert_eq!(sim.violated_rules(), vec!["NdisMFreeSharedMemory.Handle"]);
    assert!(sim.miniport_shared_memory().is_empty());
}
