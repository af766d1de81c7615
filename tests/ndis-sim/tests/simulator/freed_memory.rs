//! Freed shared memory under watch (`Dma.IntoFreedMemory`): with QEMU the simulator fills the
//! shared memory a driver frees with a canary and keeps it in quarantine, so a device still
//! DMAing into a VM queue's ring after OID_RECEIVE_FILTER_FREE_QUEUE is caught. The rule fires
//! for test code standing in for a device, for QEMU's 82576 writing into a freed RX ring, and
//! not for a queue whose DMA was stopped before its memory went.

use std::ffi::c_void;
use std::time::{Duration, Instant};

use ndis_sim::qemu::{GpaRange, QemuConfig, RxRing, desc, regs};
use ndis_sim::sim::exports::{NdisMAllocateSharedMemory, NdisMFreeSharedMemory};
use ndis_sim::sim::{FreedRange, GrantPolicy, Sim, SimConfig, canary_word, rules};

use crate::fake::{self, Behaviour, HALT, INITIALIZE, Step, with_fake};
use crate::vmq_oids;

const WAIT: Duration = Duration::from_secs(3);
/// The VM queue whose memory the tests free.
const QUEUE: u32 = 3;
/// Its shared memory: one page of descriptors, then eight 1 KiB packet buffers.
const QUEUE_MEMORY: u32 = 0x3000;
/// Descriptors of the RX ring the tests build in it.
const DESCRIPTORS: u16 = 8;
const BUFFER: u64 = 1024;
/// The MSI-X message (and vector) RX queue 0 raises: message 0 is the fake's "other causes".
const RX_VECTOR: u16 = 1;

/// Loads and starts the fake on `config`.
fn started(config: SimConfig, behaviour: Behaviour) -> Sim {
    let mut sim = Sim::start(config);
    fake::reset(behaviour);
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    sim
}

/// The fake with shared memory for VM queue [`QUEUE`] (and `extra`), whose FREE_QUEUE runs
/// `free_queue`.
fn with_queue_memory(free_queue: &[Step], extra: &[Step]) -> Behaviour {
    let mut initialize = INITIALIZE.to_vec();
    initialize.push(Step::AllocateQueueShared(QUEUE, QUEUE_MEMORY));
    initialize.extend_from_slice(extra);
    let mut halt = vec![Step::FreeMiniportShared];
    halt.extend_from_slice(HALT);
    Behaviour { initialize, halt, free_queue_steps: free_queue.to_vec(), ..Behaviour::default() }
}

/// FREE_QUEUE as the classic bug has it: DmaStopped indicated, memory freed, DMA never stopped.
const FREE_WITHOUT_STOPPING: &[Step] = &[Step::IndicateDmaStopped(QUEUE), Step::FreeShared];
/// FREE_QUEUE done right: the device's queue disabled first.
const FREE_AFTER_STOPPING: &[Step] =
    &[Step::DisableRxQueue(0), Step::IndicateDmaStopped(QUEUE), Step::FreeShared];

/// The queue's memory as the fake got it: (virtual address, guest-physical address).
fn queue_memory() -> (usize, u64) {
    let (_, address, physical) = with_fake(|f| f.shared[0]);
    (address, u64::try_from(physical).unwrap())
}

/// The queue comes to Running and goes again (OID_RECEIVE_FILTER_FREE_QUEUE).
fn run_and_free_the_queue(sim: &mut Sim) {
    vmq_oids::make_running(sim, QUEUE, 100 + QUEUE);
    vmq_oids::free(sim, QUEUE);
}

#[test]
fn qemu_a_write_into_freed_shared_memory_is_reported_once() {
    let mut sim = started(
        SimConfig::with_groups(&[1]).with_qemu(),
        with_queue_memory(FREE_WITHOUT_STOPPING, &[Step::AllocateMiniportShared(0x1000)]),
    );
    let (_, gpa) = queue_memory();
    assert_eq!(sim.freed_memory(), vec![]);
    run_and_free_the_queue(&mut sim);
    assert_eq!(sim.shared_memory(), vec![], "the queue's memory was freed");
    let watched = FreedRange {
        gpa,
        length: u64::from(QUEUE_MEMORY),
        queue_id: Some(QUEUE),
        freed_by: "NdisFreeSharedMemory",
        intact: true,
        first_changed: None,
    };
    assert_eq!(sim.freed_memory(), vec![watched]);
    let qemu = sim.qemu().unwrap();
    let ram = qemu.ram();
    // Filled with the canary: every word holds its own address under the tag.
    for offset in [0, 0x18, 0x2FF8] {
        assert_eq!(ram.read_u64(gpa + offset).unwrap(), canary_word(gpa + offset));
    }
    // In quarantine: neither outstanding nor handed out again.
    let range = GpaRange { gpa, len: u64::from(QUEUE_MEMORY) };
    assert!(qemu.dma_quarantined().iter().any(|q| q.range == range));
    assert!(qemu.dma_outstanding().iter().all(|a| a.range != range));
    let other = qemu.dma_alloc(u64::from(QUEUE_MEMORY), "test").unwrap();
    assert!(other.end() <= gpa || other.gpa >= range.end(), "{other:?} overlaps {range:?}");
    qemu.dma_free(other).unwrap();
    assert_eq!(sim.check_freed_memory().unwrap(), vec![], "intact");

    // Test code stands in for a device that still writes into it.
    ram.write(gpa + 0x1234, &[0xAB, 0xCD]).unwrap();
    assert_eq!(
        sim.freed_memory(),
        vec![FreedRange { intact: false, first_changed: Some(0x1234), ..watched }]
    );
    assert_eq!(sim.violations(), vec![], "freed_memory() only looks");
    let found = sim.check_freed_memory().unwrap();
    assert_eq!(sim.violations(), found);
    assert_eq!(sim.violated_rules(), vec![rules::DMA_INTO_FREED_MEMORY]);
    let detail = &found[0].detail;
    for part in [
        &format!("[{gpa:#x}, +0x3000) of queue 3, freed by NdisFreeSharedMemory"),
        "2 bytes changed after the free, the first at offset 0x1234",
        "ab cd",
    ] {
        assert!(detail.contains(part), "{part:?} in {detail}");
    }
    // Once per range: neither the next check nor the one at Halt reports it again.
    ram.write(gpa + 0x10, &[0xEE]).unwrap();
    assert_eq!(sim.check_freed_memory().unwrap(), vec![]);
    sim.stop_device().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::DMA_INTO_FREED_MEMORY]);

    // NdisMFreeSharedMemory's memory (freed in MiniportHaltEx) is watched too; it has no queue.
    let freed = sim.freed_memory();
    assert_eq!(freed.len(), 2);
    let miniport = freed[1];
    assert_eq!((miniport.queue_id, miniport.freed_by), (None, "NdisMFreeSharedMemory"));
    assert!(miniport.intact);
    sim.qemu().unwrap().ram().write_u32(miniport.gpa + 0xFFC, 0).unwrap();
    let found = sim.check_freed_memory().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].detail.contains("of no queue (NdisMAllocateSharedMemory), freed by NdisMFree"),
        "{}",
        found[0].detail
    );
    assert!(found[0].detail.contains("offset 0xffc"), "{}", found[0].detail);
}

#[test]
fn qemu_a_write_into_freed_memory_is_caught_at_halt() {
    let mut sim = started(
        SimConfig::with_groups(&[1]).with_qemu(),
        with_queue_memory(FREE_WITHOUT_STOPPING, &[]),
    );
    let (_, gpa) = queue_memory();
    run_and_free_the_queue(&mut sim);
    sim.qemu().unwrap().ram().write_u64(gpa + 0x2000, 0).unwrap();
    sim.stop_device().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::DMA_INTO_FREED_MEMORY]);
    assert!(sim.violations()[0].detail.contains("offset 0x2000"));
}

/// Builds an RX ring of [`DESCRIPTORS`] one-buffer descriptors in the queue's shared memory
/// (descriptors first, then the buffers) on RX queue 0 of the device, with the link up and the
/// receiver on: what the driver would do for the queue (test code stands in for it). RX queue
/// 0 raises message [`RX_VECTOR`].
fn rx_ring_in_queue_memory(sim: &Sim) {
    let igb = sim.igb().unwrap();
    let (_, gpa) = queue_memory();
    let ram = igb.qemu().ram();
    for i in 0..u64::from(DESCRIPTORS) {
        let buffer = gpa + 0x1000 + i * BUFFER;
        ram.write(gpa + i * desc::DESC_SIZE as u64, &desc::adv_rx_read(buffer, 0)).unwrap();
    }
    igb.link_up(WAIT).unwrap();
    igb.set_ivar_rx(0, RX_VECTOR).unwrap();
    igb.reg_write(regs::RDBAL(0), u32::try_from(gpa).unwrap()).unwrap();
    igb.reg_write(regs::RDBAH(0), 0).unwrap();
    igb.reg_write(regs::RDLEN(0), u32::from(DESCRIPTORS) * 16).unwrap();
    igb.reg_write(regs::SRRCTL(0), regs::SRRCTL_DESCTYPE_ADV_ONEBUF | 1).unwrap();
    igb.reg_write(regs::RDH(0), 0).unwrap();
    igb.reg_write(regs::RDT(0), 0).unwrap();
    igb.reg_write(regs::RXDCTL(0), regs::RXDCTL_ENABLE).unwrap();
    igb.reg_write(regs::RDT(0), u32::from(DESCRIPTORS - 1)).unwrap();
    igb.reg_write(regs::RCTL, regs::RCTL_EN | regs::RCTL_BAM | regs::RCTL_SECRC).unwrap();
    // The link change's interrupt, if any, goes before the frames'.
    sim.deliver_interrupts(Duration::from_millis(20)).unwrap();
}

/// A 64-byte frame to the NIC's own address with `label` in its payload.
fn frame(sim: &Sim, label: &str) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&sim.qemu().unwrap().mac().0);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xAA]);
    f.extend_from_slice(&[0x88, 0xB5]);
    f.extend_from_slice(label.as_bytes());
    f.resize(64, b'.');
    f
}

/// Injects `frame`, waits until QEMU has taken it, and delivers the interrupts that follow.
fn receive(sim: &Sim, frame: &[u8]) -> usize {
    sim.send_frames(&[frame]).unwrap();
    sim.qemu().unwrap().settle_injected_frames(WAIT).unwrap();
    sim.deliver_interrupts(Duration::from_millis(200)).unwrap().len()
}

#[test]
fn qemu_the_device_dmaing_into_a_freed_rx_ring_breaks_the_rule() {
    let mut sim = started(
        SimConfig::with_groups(&[1]).with_qemu(),
        with_queue_memory(FREE_WITHOUT_STOPPING, &[]),
    );
    let (address, gpa) = queue_memory();
    rx_ring_in_queue_memory(&sim);
    // The ring works: the first frame lands in descriptor 0's buffer, in the driver's memory.
    let first = frame(&sim, "before FREE_QUEUE");
    assert_eq!(receive(&sim, &first), 1, "the RX message");
    let ram = sim.qemu().unwrap().ram();
    let status = ram.read_u32(gpa + 8).unwrap();
    assert_eq!(status & desc::RXD_STAT_DD, desc::RXD_STAT_DD);
    // SAFETY: the fake's live shared memory: descriptor 0's buffer is at offset 0x1000.
    let seen = unsafe { std::slice::from_raw_parts((address + 0x1000) as *const u8, 64) };
    assert_eq!(seen, first.as_slice(), "the driver's virtual address sees the DMA");

    // FREE_QUEUE frees the ring while RX queue 0 still runs on it; the next frame uses
    // descriptor 1 (whose buffer address is now a canary word, far beyond guest RAM) and
    // writes the descriptor back into the freed page.
    run_and_free_the_queue(&mut sim);
    assert_eq!(sim.violations(), vec![]);
    assert_eq!(receive(&sim, &frame(&sim, "after FREE_QUEUE")), 1, "the RX message");
    // Reported by deliver_interrupts, right after the delivery: no explicit check needed.
    assert_eq!(sim.violated_rules(), vec![rules::DMA_INTO_FREED_MEMORY]);
    let freed = sim.freed_memory();
    assert_eq!(freed.len(), 1);
    assert_eq!((freed[0].gpa, freed[0].queue_id), (gpa, Some(QUEUE)));
    let first_changed = freed[0].first_changed.unwrap();
    assert!((0x10..0x20).contains(&first_changed), "descriptor 1: {first_changed:#x}");
    let detail = &sim.violations()[0].detail;
    assert!(detail.contains("of queue 3, freed by NdisFreeSharedMemory"), "{detail}");
    assert!(detail.contains(&format!("offset {first_changed:#x}")), "{detail}");
    sim.stop_device().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::DMA_INTO_FREED_MEMORY], "reported once");
}

#[test]
fn qemu_a_queue_whose_dma_stopped_before_its_memory_went_breaks_no_rule() {
    let mut sim = started(
        SimConfig::with_groups(&[1]).with_qemu(),
        with_queue_memory(FREE_AFTER_STOPPING, &[]),
    );
    let (_, gpa) = queue_memory();
    rx_ring_in_queue_memory(&sim);
    assert_eq!(receive(&sim, &frame(&sim, "before FREE_QUEUE")), 1);
    run_and_free_the_queue(&mut sim);
    assert!(with_fake(|f| f.statuses.contains(&(Step::DisableRxQueue(0), 0))), "disabled");
    assert_eq!(sim.freed_memory().len(), 1);

    // Traffic goes on, into a new ring on fresh memory: none of it reaches the freed range.
    let igb = sim.igb().unwrap();
    let mut ring = RxRing::new(igb, 0, 8, 1024).unwrap();
    let freed = GpaRange { gpa, len: u64::from(QUEUE_MEMORY) };
    let new = ring.ring_range();
    assert!(new.end() <= freed.gpa || new.gpa >= freed.end(), "the quarantine is not reused");
    let frames: Vec<Vec<u8>> = (0..3).map(|i| frame(&sim, &format!("after {i}"))).collect();
    sim.send_frames(&frames.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut received = Vec::new();
    while received.len() < 3 && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(20)).unwrap();
        received.extend(ring.poll().unwrap().into_iter().map(|c| c.data));
    }
    assert_eq!(received, frames, "the frames went to the live ring");
    assert_eq!(sim.check_freed_memory().unwrap(), vec![]);
    assert!(sim.freed_memory().iter().all(|r| r.intact), "{:?}", sim.freed_memory());
    drop(ring);
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}

/// NdisMAllocateSharedMemory from the test (the fake registered scatter-gather DMA):
/// (virtual address, physical address), NULL and 0 on failure.
fn allocate_miniport_shared(sim: &Sim, length: u32) -> (usize, i64) {
    let mut address: *mut c_void = std::ptr::null_mut();
    let mut physical = 0i64;
    // SAFETY: both out parameters live on this frame.
    unsafe {
        NdisMAllocateSharedMemory(
            sim.miniport_handle() as _,
            length,
            0,
            &raw mut address,
            &raw mut physical,
        );
    };
    (address as usize, physical)
}

#[test]
fn qemu_when_fresh_memory_runs_out_the_oldest_freed_range_is_checked_and_released() {
    // 16 MiB of guest RAM: 15 MiB above 1 MiB for DMA, one page of it for the MSI mailboxes.
    let config = SimConfig::with_groups(&[1])
        .with_qemu_config(QemuConfig { memory_mib: 16, ..QemuConfig::default() });
    let mut sim = started(config, Behaviour::default());
    let length = 8 << 20;
    let (address, physical) = allocate_miniport_shared(&sim, length);
    assert_ne!(address, 0);
    NdisMFreeSharedMemory(sim.miniport_handle() as _, length, 0, address as _, physical);
    let gpa = u64::try_from(physical).unwrap();
    assert_eq!(sim.freed_memory().len(), 1, "8 MiB in quarantine");
    sim.qemu().unwrap().ram().write(gpa + 0x7F_FFFF, &[0]).unwrap();
    // Another 8 MiB does not fit beside the quarantine: the freed range is checked (the write
    // is reported), released, and handed out again.
    let (again, again_physical) = allocate_miniport_shared(&sim, length);
    assert_ne!(again, 0, "the allocation succeeded");
    assert_eq!(again_physical, physical, "from the released range");
    assert_eq!(sim.freed_memory(), vec![]);
    assert_eq!(sim.violated_rules(), vec![rules::DMA_INTO_FREED_MEMORY]);
    assert!(sim.violations()[0].detail.contains("offset 0x7fffff"));
    // The new block starts zeroed, as every allocation does.
    assert_eq!(sim.qemu().unwrap().ram().read_u64(gpa + 0x7F_FFF8).unwrap(), 0);
    NdisMFreeSharedMemory(sim.miniport_handle() as _, length, 0, again as _, again_physical);
    sim.stop_device().unwrap();
    assert_eq!(sim.violated_rules(), vec![rules::DMA_INTO_FREED_MEMORY]);
    assert_eq!(sim.freed_memory().len(), 1, "the second block is watched in turn");
}

#[test]
fn without_qemu_freed_memory_goes_straight_back() {
    let mut sim =
        started(SimConfig::with_groups(&[1]), with_queue_memory(FREE_WITHOUT_STOPPING, &[]));
    run_and_free_the_queue(&mut sim);
    assert_eq!(sim.freed_memory(), vec![]);
    assert_eq!(sim.check_freed_memory().unwrap(), vec![]);
    sim.stop_device().unwrap();
    assert_eq!(sim.violations(), vec![]);
}
