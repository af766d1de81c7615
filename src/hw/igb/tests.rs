//! Unit tests of the 82576 code against [`FakeIgb`].

use std::vec::Vec;

use proptest::prelude::*;

use super::fake::{Access, CountingStall, FakeIgb, Mdic};
use super::interrupts::{IvarSlot, ivar_slot};
use super::regs::{
    CTRL, CTRL_FRCDPX, CTRL_FRCSPD, CTRL_GIO_MASTER_DISABLE, CTRL_RST, CTRL_SLU, EERD, EIAC, EICR,
    EIMC, EIMS, EITR, GPIE, GPIE_MSIX_MODE, GPIE_NSICR, IAM, ICR, ICR_INT_ASSERTED, ICR_LSC,
    ICR_RXDW, ICR_RXO, ICR_TXDW, IMC, IMS, IVAR_MISC, IVAR_TX_SHIFT, IVAR_VALID, IVAR0, MDIC, RAH,
    RAH_AV, RAL, RCTL, STATUS, TCTL, TCTL_PSP,
};
use super::{
    AUTO_READ_POLL_US, AUTO_READ_POLLS, Causes, EERD_POLL_US, EERD_POLLS, IgbError, LinkState,
    MASTER_DISABLE_POLL_US, MASTER_DISABLE_POLLS, MDIC_POLL_US, MDIC_POLLS, OtherCauses,
    RESET_POLL_US, RESET_POLLS, RESET_SETTLE_US, SINGLE_VECTOR_CAUSES, configure_msix,
    configure_single_vector, disable_all_interrupts, disable_entry, enable_entry,
    line_interrupt_causes, link_state, other_causes, read_permanent_mac, reset, route_rx_queue,
    route_tx_queue, start_link,
};
use crate::hw::{ALL_ONES, Registers};

const MAC: [u8; 6] = [0x02, 0x4E, 0x44, 0x49, 0x53, 0x01];
const OTHER_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// The longest `reset` may stall: every bounded wait running out.
const RESET_STALL_BOUND_US: u64 = MASTER_DISABLE_POLLS as u64 * MASTER_DISABLE_POLL_US as u64
    + RESET_SETTLE_US as u64
    + RESET_POLLS as u64 * RESET_POLL_US as u64
    + AUTO_READ_POLLS as u64 * AUTO_READ_POLL_US as u64;

fn position(log: &[Access], access: Access) -> usize {
    log.iter().position(|a| *a == access).unwrap_or_else(|| panic!("{access:x?} not in the log"))
}

// ---- reset ---------------------------------------------------------------------------------

#[test]
fn reset_quiesces_resets_and_leaves_no_cause_pending() {
    let fake = FakeIgb::new(MAC);
    fake.set(IMS, ICR_LSC);
    fake.set(EIMS, 0b111);
    fake.set(ICR, ICR_LSC | ICR_INT_ASSERTED);
    fake.set(EICR, 0b10);
    fake.set(RCTL, 0x0404_8002);
    fake.set(RAL(0), 0xDEAD_BEEF); // an earlier driver's address
    fake.set(EITR(0), 0x7FFC);
    fake.rst_reads.set(3);
    let stall = CountingStall::default();

    reset(&fake, &stall).unwrap();

    let log = fake.log();
    let rst = position(&log, Access::Write(CTRL, 0x0010_0209 | CTRL_GIO_MASTER_DISABLE | CTRL_RST));
    // Interrupts masked and DMA stopped before the reset...
    assert!(position(&log, Access::Write(IMC, ALL_ONES)) < rst);
    assert!(position(&log, Access::Write(EIMC, ALL_ONES)) < rst);
    assert!(position(&log, Access::Write(RCTL, 0)) < rst);
    assert!(position(&log, Access::Write(TCTL, TCTL_PSP)) < rst);
    assert!(position(&log, Access::Write(CTRL, 0x0010_0209 | CTRL_GIO_MASTER_DISABLE)) < rst);
    // ...and again after it, with ICR and EICR cleared.
    let after = &log[rst..];
    for access in [
        Access::Write(IMC, ALL_ONES),
        Access::Write(EIMC, ALL_ONES),
        Access::Read(ICR),
        Access::Write(ICR, ALL_ONES),
        Access::Write(EICR, ALL_ONES),
    ] {
        assert!(after.contains(&access), "{access:x?} after the reset");
    }
    assert_eq!(fake.get(CTRL) & CTRL_RST, 0);
    assert_eq!((fake.get(IMS), fake.get(EIMS), fake.get(ICR), fake.get(EICR)), (0, 0, 0, 0));
    assert_eq!(fake.get(RAL(0)), 0x4944_4E02, "RAR0 reloaded with the permanent MAC");
    // CTRL.RST was polled until it cleared, with a settle time first.
    assert_eq!(fake.reads_of(CTRL), 1 + 4);
    assert!(stall.total_us.get() >= u64::from(RESET_SETTLE_US));
    assert!(stall.total_us.get() <= RESET_STALL_BOUND_US);
}

#[test]
fn reset_gives_up_when_rst_never_clears() {
    let fake = FakeIgb::new(MAC);
    fake.rst_reads.set(u32::MAX);
    let stall = CountingStall::default();
    assert_eq!(reset(&fake, &stall), Err(IgbError::ResetTimeout));
    assert_eq!(fake.reads_of(CTRL), 1 + RESET_POLLS as usize);
    assert!(stall.total_us.get() <= RESET_STALL_BOUND_US);
}

#[test]
fn reset_goes_ahead_when_the_master_never_idles() {
    // Linux igb resets anyway; so does the driver, after a bounded wait.
    let fake = FakeIgb::new(MAC);
    fake.master_stuck.set(true);
    let stall = CountingStall::default();
    reset(&fake, &stall).unwrap();
    assert!(fake.writes().iter().any(|&(offset, value)| offset == CTRL && value & CTRL_RST != 0));
    assert!(fake.reads_of(STATUS) >= MASTER_DISABLE_POLLS as usize);
    assert!(stall.total_us.get() <= RESET_STALL_BOUND_US);
}

#[test]
fn reset_of_a_removed_device_touches_nothing() {
    let fake = FakeIgb::new(MAC);
    fake.gone.set(true);
    assert_eq!(reset(&fake, &CountingStall::default()), Err(IgbError::DeviceGone));
    assert_eq!(fake.writes(), [], "no write to a device that is not there");
}

#[test]
fn reset_notices_a_removal_at_every_step() {
    // The device disappears after n reads, for every n up to the whole sequence: the result
    // is DeviceGone (never a timeout, a panic or success), and nothing more is asked of it.
    let reads = {
        let fake = FakeIgb::new(MAC);
        reset(&fake, &CountingStall::default()).unwrap();
        fake.log().iter().filter(|a| matches!(a, Access::Read(_))).count()
    };
    for n in 0..u32::try_from(reads).unwrap() {
        let fake = FakeIgb::new(MAC);
        fake.gone_after_reads.set(Some(n));
        let stall = CountingStall::default();
        assert_eq!(reset(&fake, &stall), Err(IgbError::DeviceGone), "gone after {n} reads");
        // It stops at the first all-ones read: no write, no stall after it.
        let log = fake.log();
        let first_gone_read = log
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a, Access::Read(_)))
            .nth(n as usize)
            .map(|(i, _)| i)
            .unwrap();
        assert_eq!(
            log.len(),
            first_gone_read + 1,
            "gone after {n} reads: {:x?}",
            &log[first_gone_read..]
        );
    }
}

// ---- permanent MAC -------------------------------------------------------------------------

#[test]
fn mac_comes_from_the_eeprom_first() {
    let fake = FakeIgb::new(MAC);
    fake.set(RAL(0), u32::from_le_bytes([0x52, 0x54, 0x00, 0x12]));
    fake.set(RAH(0), 0x5634 | RAH_AV);
    assert_eq!(read_permanent_mac(&fake, &CountingStall::default()), Ok(MAC));
    // Three words, each: start (word << 2 | START), then one read with DONE.
    let eerd_writes: Vec<u32> =
        fake.writes().iter().filter(|(o, _)| *o == EERD).map(|(_, v)| *v).collect();
    assert_eq!(eerd_writes, [0x1, 0x5, 0x9]);
    assert_eq!(fake.reads_of(EERD), 3);
}

#[test]
fn mac_read_waits_for_eerd_done() {
    let fake = FakeIgb::new(MAC);
    fake.eerd_reads.set(7);
    let stall = CountingStall::default();
    assert_eq!(read_permanent_mac(&fake, &stall), Ok(MAC));
    assert_eq!(fake.reads_of(EERD), 3 * 8);
    assert_eq!(stall.total_us.get(), 3 * 7 * u64::from(EERD_POLL_US));
}

#[test]
fn mac_falls_back_to_rar0_when_the_eeprom_never_answers() {
    let fake = FakeIgb::new(MAC);
    fake.permanent_mac.set(OTHER_MAC);
    reset(&fake, &CountingStall::default()).unwrap();
    fake.eerd_reads.set(u32::MAX);
    fake.clear_log();
    let stall = CountingStall::default();
    assert_eq!(read_permanent_mac(&fake, &stall), Ok(OTHER_MAC));
    // The first word timed out after exactly EERD_POLLS reads; the other two were not tried.
    assert_eq!(fake.reads_of(EERD), EERD_POLLS as usize);
    assert_eq!(stall.total_us.get(), u64::from(EERD_POLLS - 1) * u64::from(EERD_POLL_US));
}

#[test]
fn unusable_eeprom_addresses_fall_back_to_rar0() {
    let bad = [
        [0u8; 6],                             // erased to zero
        [0xFF; 6],                            // erased to ones (broadcast)
        [0x01, 0x00, 0x5E, 0x00, 0x00, 0x01], // multicast
        [0x03, 0x00, 0x00, 0x00, 0x00, 0x01], // group bit with the local bit
    ];
    for mac in bad {
        let fake = FakeIgb::new(OTHER_MAC);
        for (word, pair) in fake.eeprom.borrow_mut().iter_mut().zip(mac.chunks_exact(2)) {
            *word = u16::from_le_bytes([pair[0], pair[1]]);
        }
        assert_eq!(read_permanent_mac(&fake, &CountingStall::default()), Ok(OTHER_MAC), "{mac:x?}");
    }
}

#[test]
fn no_usable_address_anywhere_is_an_error() {
    // EEPROM silent, and RAR0 invalid or holding a group address.
    for (ral, rah) in
        [(0x1200_5452, 0x5634), (0x0000_0001, RAH_AV), (0, RAH_AV), (ALL_ONES, 0xFFFF | RAH_AV)]
    {
        let fake = FakeIgb::new(MAC);
        fake.eerd_reads.set(u32::MAX);
        fake.set(RAL(0), ral);
        fake.set(RAH(0), rah);
        assert_eq!(
            read_permanent_mac(&fake, &CountingStall::default()),
            Err(IgbError::NoPermanentMac),
            "RAL0 {ral:#x} RAH0 {rah:#x}"
        );
    }
}

#[test]
fn a_removed_device_has_no_mac() {
    let fake = FakeIgb::new(MAC);
    fake.gone.set(true);
    let stall = CountingStall::default();
    assert_eq!(read_permanent_mac(&fake, &stall), Err(IgbError::DeviceGone));
    assert_eq!(stall.calls.get(), 0, "all-ones EERD is not a slow EEPROM");
    // Gone between the EEPROM and RAR0.
    let fake = FakeIgb::new(MAC);
    fake.eerd_reads.set(u32::MAX);
    fake.gone_after_reads.set(Some(EERD_POLLS + 1));
    assert_eq!(read_permanent_mac(&fake, &stall), Err(IgbError::DeviceGone));
}

// ---- link ----------------------------------------------------------------------------------

#[test]
fn link_state_decodes_status() {
    let cases = [
        (0x8008_0481, LinkState::DOWN), // QEMU after reset (igb-qemu §3)
        (0x8008_0483, LinkState { up: true, speed_mbps: 1000, full_duplex: true }), // QEMU, up
        (0x0000_0002, LinkState { up: true, speed_mbps: 10, full_duplex: false }),
        (0x0000_0043, LinkState { up: true, speed_mbps: 100, full_duplex: true }),
        (0x0000_00C2, LinkState { up: true, speed_mbps: 1000, full_duplex: false }),
        (0x0000_0000, LinkState::DOWN),
    ];
    for (status, expected) in cases {
        let fake = FakeIgb::new(MAC);
        fake.set(STATUS, status);
        assert_eq!(link_state(&fake), Ok(expected), "STATUS {status:#x}");
        assert_eq!(LinkState::from_status(status), expected);
    }
    let fake = FakeIgb::new(MAC);
    fake.gone.set(true);
    assert_eq!(link_state(&fake), Err(IgbError::DeviceGone));
}

#[test]
fn start_link_sets_slu_and_restarts_autoneg_on_phy_1() {
    let fake = FakeIgb::new(MAC);
    fake.set(CTRL, 0x0010_0209 | CTRL_FRCSPD | CTRL_FRCDPX);
    start_link(&fake, &CountingStall::default()).unwrap();
    assert_eq!(fake.get(CTRL), 0x0010_0209 | CTRL_SLU);
    // The exact MDIC write of igb-qemu §3 / poc.py.
    assert!(fake.writes().contains(&(MDIC, 0x0420_1340)));
}

#[test]
fn phy_failures_are_errors_not_hangs() {
    let fake = FakeIgb::new(MAC);
    fake.mdic.set(Mdic::Stuck);
    let stall = CountingStall::default();
    assert_eq!(start_link(&fake, &stall), Err(IgbError::PhyTimeout));
    assert_eq!(fake.reads_of(MDIC), MDIC_POLLS as usize);
    assert_eq!(stall.total_us.get(), u64::from(MDIC_POLLS - 1) * u64::from(MDIC_POLL_US));

    let fake = FakeIgb::new(MAC);
    fake.mdic.set(Mdic::Error);
    assert_eq!(start_link(&fake, &CountingStall::default()), Err(IgbError::PhyError));

    let fake = FakeIgb::new(MAC);
    fake.gone.set(true);
    assert_eq!(start_link(&fake, &CountingStall::default()), Err(IgbError::DeviceGone));
}

// ---- MSI-X ---------------------------------------------------------------------------------

#[test]
fn configure_msix_programs_gpie_first_then_the_other_vector() {
    let fake = FakeIgb::new(MAC);
    fake.msix_enabled.set(true);
    fake.set(EITR(3), 0x7FFC); // survives CTRL.RST in QEMU
    configure_msix(&fake, 3).unwrap();
    let writes = fake.writes();
    assert_eq!(writes.first(), Some(&(GPIE, GPIE_MSIX_MODE | GPIE_NSICR | (1 << 31))));
    assert_eq!(fake.get(IVAR_MISC), 0x0000_8300, "byte 1 = VALID | 3, byte 0 unused");
    assert_eq!(fake.get(EITR(3)), 0);
    // EIAC stuck only because GPIE.MSIX_MODE was already set (the fake drops it otherwise).
    assert_eq!(fake.get(EIAC), 1 << 3);
    assert_eq!(fake.get(IMS), ICR_LSC);
    assert_eq!(fake.get(EIMS), 1 << 3);
    let pos = |o| writes.iter().position(|&(offset, _)| offset == o).unwrap();
    assert!(pos(IMS) < pos(super::regs::EIMS));
}

#[test]
fn auto_clear_bits_of_other_entries_survive() {
    // On silicon EIAC is an ordinary register: a plain write would drop the queues' bits.
    let fake = FakeIgb::new(MAC);
    fake.silicon_eiac.set(true);
    fake.set(EIAC, 0b0110);
    configure_msix(&fake, 0).unwrap();
    assert_eq!(fake.get(EIAC), 0b0111);
    route_rx_queue(&fake, 3, Some(4)).unwrap();
    assert_eq!(fake.get(EIAC), 0b1_0111);
}

#[test]
fn bad_vectors_and_queues_write_nothing() {
    let fake = FakeIgb::new(MAC);
    fake.clear_log();
    assert_eq!(configure_msix(&fake, 25), Err(IgbError::InvalidEntry(25)));
    assert_eq!(configure_msix(&fake, u32::MAX), Err(IgbError::InvalidEntry(u32::MAX)));
    assert_eq!(route_rx_queue(&fake, 16, Some(0)), Err(IgbError::InvalidQueue(16)));
    assert_eq!(route_tx_queue(&fake, 255, None), Err(IgbError::InvalidQueue(255)));
    assert_eq!(route_rx_queue(&fake, 0, Some(25)), Err(IgbError::InvalidEntry(25)));
    assert_eq!(route_tx_queue(&fake, 15, Some(32)), Err(IgbError::InvalidEntry(32)));
    assert_eq!(enable_entry(&fake, 25), Err(IgbError::InvalidEntry(25)));
    assert_eq!(disable_entry(&fake, 1000), Err(IgbError::InvalidEntry(1000)));
    assert_eq!(fake.log(), [], "not even a read");
}

/// (queue, IVAR0 index, RX byte, TX byte) for every queue, as igb-qemu §6 and Linux's
/// `igb_assign_vector` (82576: row `q & 7`, column `(q & 8) << 1`) lay them out.
const IVAR_LAYOUT: [(u8, u32, u32, u32); 16] = [
    (0, 0, 0, 1),
    (1, 1, 0, 1),
    (2, 2, 0, 1),
    (3, 3, 0, 1),
    (4, 4, 0, 1),
    (5, 5, 0, 1),
    (6, 6, 0, 1),
    (7, 7, 0, 1),
    (8, 0, 2, 3),
    (9, 1, 2, 3),
    (10, 2, 2, 3),
    (11, 3, 2, 3),
    (12, 4, 2, 3),
    (13, 5, 2, 3),
    (14, 6, 2, 3),
    (15, 7, 2, 3),
];

#[test]
fn ivar_slots_match_the_82576_layout() {
    for (queue, register, rx_byte, tx_byte) in IVAR_LAYOUT {
        assert_eq!(
            ivar_slot(queue, false),
            Ok(IvarSlot { register: IVAR0(register), shift: 8 * rx_byte })
        );
        assert_eq!(
            ivar_slot(queue, true),
            Ok(IvarSlot { register: IVAR0(register), shift: 8 * tx_byte })
        );
    }
}

#[test]
fn every_queue_routes_into_its_own_ivar_byte() {
    let fake = FakeIgb::new(MAC);
    fake.set(GPIE, GPIE_MSIX_MODE);
    // RX queue q -> entry q, TX queue q -> entry 24 - q: every byte distinct.
    for (queue, ..) in IVAR_LAYOUT {
        route_rx_queue(&fake, queue, Some(u32::from(queue))).unwrap();
        route_tx_queue(&fake, queue, Some(24 - u32::from(queue))).unwrap();
    }
    for (queue, register, rx_byte, tx_byte) in IVAR_LAYOUT {
        let ivar = fake.get(IVAR0(register));
        assert_eq!((ivar >> (8 * rx_byte)) & 0xFF, 0x80 | u32::from(queue), "RX {queue}");
        assert_eq!((ivar >> (8 * tx_byte)) & 0xFF, 0x80 | (24 - u32::from(queue)), "TX {queue}");
    }
    assert_eq!(fake.get(EIAC), 0x01FF_FFFF, "every routed entry auto-clears");

    // Unrouting clears exactly one byte. IVAR0(1): RX 1 -> 1, TX 1 -> 23, RX 9 -> 9, TX 9 -> 15.
    assert_eq!(fake.get(IVAR0(1)), 0x8F89_9781);
    route_tx_queue(&fake, 9, None).unwrap();
    assert_eq!(fake.get(IVAR0(1)), 0x0089_9781);
    route_rx_queue(&fake, 1, None).unwrap();
    assert_eq!(fake.get(IVAR0(1)), 0x0089_9700);
}

#[test]
fn entries_are_enabled_and_disabled_by_their_bit() {
    let fake = FakeIgb::new(MAC);
    enable_entry(&fake, 0).unwrap();
    enable_entry(&fake, 24).unwrap();
    assert_eq!(fake.get(EIMS), 1 | 1 << 24);
    disable_entry(&fake, 0).unwrap();
    assert_eq!(fake.get(EIMS), 1 << 24);
    assert_eq!(fake.writes(), [(EIMS, 1), (EIMS, 1 << 24), (EIMC, 1)]);
    disable_all_interrupts(&fake);
    assert_eq!(fake.writes()[3..], [(IMC, ALL_ONES), (EIMC, ALL_ONES)]);
    assert_eq!(fake.get(EIMS), 0);
}

#[test]
fn other_causes_reads_and_clears_icr() {
    let fake = FakeIgb::new(MAC);
    fake.msix_enabled.set(true);
    fake.set(IAM, ALL_ONES); // left behind by an earlier owner
    configure_msix(&fake, 0).unwrap();
    fake.set(ICR, ICR_LSC | ICR_RXO);
    assert_eq!(
        other_causes(&fake),
        Ok(OtherCauses { link_changed: true, rx_overrun: true, icr: ICR_LSC | ICR_RXO })
    );
    // Cleared by that read (GPIE.NSICR), so the next link change is a new edge.
    assert_eq!(fake.get(ICR), 0);
    assert_eq!(other_causes(&fake).map(|c| c.link_changed), Ok(false));
    // ...and the link interrupt is still enabled after those reads (no IAM auto-mask).
    assert_eq!(fake.get(IMS), ICR_LSC);
    fake.gone.set(true);
    assert_eq!(other_causes(&fake), Err(IgbError::DeviceGone));
}

// ---- single vector -------------------------------------------------------------------------

#[test]
fn single_vector_mode_turns_msix_mode_off() {
    let fake = FakeIgb::new(MAC);
    fake.set(GPIE, GPIE_MSIX_MODE | GPIE_NSICR);
    configure_single_vector(&fake).unwrap();
    assert_eq!(fake.get(GPIE), 0);
    assert_eq!(fake.get(IMS), SINGLE_VECTOR_CAUSES);
    // Queue 0's RX and TX bytes valid on vector 0: QEMU raises ICR.TXDW only then.
    assert_eq!(fake.get(IVAR0(0)) & 0xFFFF, (IVAR_VALID << IVAR_TX_SHIFT) | IVAR_VALID);
    assert_eq!(
        SINGLE_VECTOR_CAUSES & (ICR_LSC | ICR_RXDW | ICR_TXDW),
        ICR_LSC | ICR_RXDW | ICR_TXDW
    );
}

#[test]
fn line_interrupt_claims_only_an_asserted_enabled_cause() {
    let fake = FakeIgb::new(MAC);
    configure_single_vector(&fake).unwrap();

    // Nothing pending: not ours.
    assert_eq!(line_interrupt_causes(&fake), Ok(None));

    // Ours: claimed, decoded, and cleared by the read.
    fake.raise(ICR_LSC | ICR_RXDW);
    let causes = line_interrupt_causes(&fake).unwrap().expect("claimed");
    assert_eq!(causes, Causes::from_icr(ICR_INT_ASSERTED | ICR_LSC | ICR_RXDW));
    assert!(causes.link_changed && causes.rx_done && !causes.tx_done && !causes.rx_overrun);
    assert_eq!(fake.get(ICR), 0);

    // Silicon: a latched cause without INT_ASSERTED was not asserted.
    fake.set(ICR, ICR_TXDW);
    assert_eq!(line_interrupt_causes(&fake), Ok(None));

    // QEMU: INT_ASSERTED for a cause that is masked (RXO is not enabled).
    fake.set(ICR, ICR_RXO | ICR_INT_ASSERTED);
    assert_eq!(line_interrupt_causes(&fake), Ok(None));
}

#[test]
fn a_masked_device_does_not_read_icr_for_someone_elses_interrupt() {
    let fake = FakeIgb::new(MAC);
    configure_single_vector(&fake).unwrap();
    disable_all_interrupts(&fake); // the driver's DPC is running
    fake.raise(ICR_LSC);
    fake.clear_log();
    assert_eq!(line_interrupt_causes(&fake), Ok(None));
    assert_eq!(fake.reads_of(ICR), 0, "ICR left alone");
    assert_eq!(fake.get(ICR), ICR_LSC | ICR_INT_ASSERTED, "the link change is still latched");
    // Unmasking later finds it.
    configure_single_vector(&fake).unwrap();
    assert!(line_interrupt_causes(&fake).unwrap().is_some_and(|c| c.link_changed));
}

#[test]
fn a_removed_device_never_claims_the_line() {
    let fake = FakeIgb::new(MAC);
    configure_single_vector(&fake).unwrap();
    fake.gone.set(true);
    assert_eq!(line_interrupt_causes(&fake), Err(IgbError::DeviceGone));
}

// ---- garbage -------------------------------------------------------------------------------

/// Registers that return arbitrary values: whatever the device says, every operation ends,
/// within its documented bounds, without panicking.
struct Garbage {
    values: Vec<u32>,
    next: core::cell::Cell<usize>,
}

impl Garbage {
    /// Runs `operation` and returns how many registers it read.
    fn reads_during(&self, operation: impl FnOnce(&Self)) -> usize {
        let before = self.next.get();
        operation(self);
        self.next.get() - before
    }
}

impl Registers for Garbage {
    fn read32(&self, _offset: u32) -> u32 {
        let i = self.next.get();
        self.next.set(i + 1);
        self.values[i % self.values.len()]
    }

    fn write32(&self, _offset: u32, _value: u32) {}
}

proptest! {
    #[test]
    fn garbage_registers_never_panic_or_hang(
        values in proptest::collection::vec(any::<u32>(), 1..64),
        entry in any::<u32>(),
        queue in any::<u8>(),
    ) {
        let regs = Garbage { values, next: 0.into() };
        let stall = CountingStall::default();
        let polls = |n: u32| n as usize;
        // Each operation reads at most its fixed registers plus every poll running out.
        let bounds = [
            (regs.reads_during(|r| { let _ = reset(r, &stall); }),
             4 + polls(MASTER_DISABLE_POLLS) + polls(RESET_POLLS) + polls(AUTO_READ_POLLS)),
            (regs.reads_during(|r| { let _ = read_permanent_mac(r, &stall); }), 2 + 3 * polls(EERD_POLLS)),
            (regs.reads_during(|r| { let _ = start_link(r, &stall); }), 1 + polls(MDIC_POLLS)),
            (regs.reads_during(|r| { let _ = link_state(r); }), 1),
            (regs.reads_during(|r| { let _ = configure_msix(r, entry % 32); }), 2),
            (regs.reads_during(|r| { let _ = configure_single_vector(r); }), 2),
            (regs.reads_during(|r| { let _ = route_rx_queue(r, queue % 20, Some(entry % 32)); }), 2),
            (regs.reads_during(|r| { let _ = route_tx_queue(r, queue, None); }), 1),
            (regs.reads_during(|r| { let _ = other_causes(r); }), 1),
            (regs.reads_during(|r| { let _ = line_interrupt_causes(r); }), 2),
            (regs.reads_during(disable_all_interrupts), 1),
        ];
        for (operation, (reads, bound)) in bounds.into_iter().enumerate() {
            prop_assert!(reads <= bound, "operation {operation}: {reads} reads > {bound}");
        }
        prop_assert!(stall.total_us.get() <= RESET_STALL_BOUND_US
            + 3 * u64::from(EERD_POLLS) * u64::from(EERD_POLL_US)
            + u64::from(MDIC_POLLS) * u64::from(MDIC_POLL_US));
    }
}
