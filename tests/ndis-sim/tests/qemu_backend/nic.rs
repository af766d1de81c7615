//! The NIC end to end: reset and MAC, MSI-X mailboxes, RX, TX and QEMU's held frames.

use std::time::Duration;

use ndis_sim::qemu::desc::{self, DESC_SIZE, RXD_STAT_DD, RXD_STAT_EOP};
use ndis_sim::qemu::{Error, MacAddress, QemuConfig, RegisterCounts, RxRing, regs};

use crate::support::{
    EVENT_TIMEOUT, Nic, OTHER_VECTOR, PF_MAC, RX_VECTOR, SOFTWARE_VECTOR, TX_VECTOR, config, frame,
    label_of, msix_data, start_igb,
};

#[test]
fn reset_restores_the_configured_mac_in_rar0_and_eeprom() {
    let mac = MacAddress([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    let igb = start_igb(&QemuConfig { mac, netdev: false, ..config() });
    // Scribble over RAR0 so the reset has something to restore.
    igb.reg_write(regs::RAL(0), 0xDEAD_BEEF).unwrap();
    igb.reg_write(regs::RAH(0), 0).unwrap();
    igb.reset().unwrap();
    assert_eq!(igb.mac_from_rar0().unwrap(), mac);
    assert_eq!(igb.mac_from_eeprom().unwrap(), mac);
    // After reset RAR0 is valid with POOLSEL = 0 (§3, §13.1) and the link is down.
    assert_eq!(igb.reg_read(regs::RAH(0)).unwrap(), regs::RAH_AV | 0x5544);
    assert_eq!(igb.reg_read(regs::RAL(0)).unwrap(), 0x3322_1102);
    assert_eq!(igb.reg_read(regs::STATUS).unwrap() & regs::STATUS_LU, 0);
}

#[test]
fn register_counters_count_bar0_accesses_only() {
    let igb = start_igb(&QemuConfig { netdev: false, ..config() });
    let before = igb.register_counts();
    igb.reg_read(regs::STATUS).unwrap();
    igb.reg_read(regs::CTRL).unwrap();
    igb.reg_write(regs::EIMC, 0xFFFF_FFFF).unwrap();
    // MSI-X table and guest-RAM accesses are not register accesses.
    igb.msix_read_entry(0).unwrap();
    igb.qemu().ram().read_u32(0x10_0000).unwrap();
    let delta = igb.register_counts().since(before);
    assert_eq!((delta.reads, delta.writes), (2, 1));
    // Bad offsets are refused before anything is sent or counted.
    assert!(matches!(igb.reg_read(regs::RDT(16)), Err(Error::InvalidArgument(_))));
    assert!(matches!(igb.reg_read(0x2), Err(Error::InvalidArgument(_))));
    assert!(matches!(igb.reg_write(128 << 10, 0), Err(Error::InvalidArgument(_))));
    assert_eq!(igb.register_counts().since(before), delta);
}

#[test]
fn software_interrupt_mask_pending_and_retarget() {
    let nic = Nic::bring_up(&QemuConfig { netdev: false, ..config() });
    let igb = &nic.igb;
    let mailboxes = &nic.mailboxes;
    let eics_bit = 1u32 << SOFTWARE_VECTOR;

    igb.reg_write(regs::EICS, eics_bit).unwrap();
    let fired = igb.poll_mailboxes(mailboxes, EVENT_TIMEOUT).unwrap();
    assert_eq!(fired, [(SOFTWARE_VECTOR, msix_data(SOFTWARE_VECTOR))]);

    // A masked vector only sets its PBA bit; unmasking delivers it (§6).
    igb.msix_set_masked(SOFTWARE_VECTOR, true).unwrap();
    igb.reg_write(regs::EICS, eics_bit).unwrap();
    assert_eq!(igb.take_mailboxes(mailboxes).unwrap(), []);
    assert!(igb.msix_pending(SOFTWARE_VECTOR).unwrap());
    igb.msix_set_masked(SOFTWARE_VECTOR, false).unwrap();
    let fired = igb.poll_mailboxes(mailboxes, EVENT_TIMEOUT).unwrap();
    assert_eq!(fired, [(SOFTWARE_VECTOR, msix_data(SOFTWARE_VECTOR))]);
    assert!(!igb.msix_pending(SOFTWARE_VECTOR).unwrap());

    // Re-targeting: new address and data, no NIC register involved.
    let new_mailbox = igb
        .route_msix_to_mailbox(SOFTWARE_VECTOR, nic.mailbox_page.gpa + 0x800, 0xBEEF_0003)
        .unwrap();
    assert_eq!(
        igb.msix_read_entry(SOFTWARE_VECTOR).unwrap(),
        ndis_sim::qemu::MsixEntry {
            address: nic.mailbox_page.gpa + 0x800,
            data: 0xBEEF_0003,
            masked: false
        }
    );
    igb.reg_write(regs::EICS, eics_bit).unwrap();
    let mut all = mailboxes.clone();
    all.push(new_mailbox);
    let fired = igb.poll_mailboxes(&all, EVENT_TIMEOUT).unwrap();
    assert_eq!(fired, [(SOFTWARE_VECTOR, 0xBEEF_0003)], "only the new mailbox is written");
    assert!(matches!(
        igb.route_msix_to_mailbox(0, nic.mailbox_page.gpa, 0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn link_up_arrives_as_an_msix_other_causes_message() {
    let nic = Nic::bring_up(&QemuConfig { netdev: false, ..config() });
    let igb = &nic.igb;
    // Nothing is pending before the link comes up.
    assert_eq!(igb.take_mailboxes(&nic.mailboxes).unwrap(), []);
    let took = igb.link_up(EVENT_TIMEOUT).unwrap();
    // QEMU's autoneg timer is 500 ms of (wall-clock) virtual time (§3).
    assert!(took >= Duration::from_millis(450), "link-up after {took:?}");
    let fired = igb.poll_mailboxes(&nic.mailboxes, EVENT_TIMEOUT).unwrap();
    assert_eq!(fired, [(OTHER_VECTOR, msix_data(OTHER_VECTOR))]);
    assert_ne!(igb.reg_read(regs::ICR).unwrap() & regs::ICR_LSC, 0, "cause is LSC");
    assert_eq!(igb.reg_read(regs::STATUS).unwrap(), 0x8008_0483, "STATUS after link-up (§3)");
}

/// Brings up the NIC with the link up and one RX ring on queue 0 (non-VMDq: a unicast to the
/// PF MAC in RAR0 lands in queue 0), RX queue 0 -> `RX_VECTOR`.
fn receiving_nic() -> Nic {
    let nic = Nic::bring_up(&config());
    nic.link_up();
    nic.igb.set_ivar_rx(0, RX_VECTOR).unwrap();
    nic
}

fn enable_receiver(nic: &Nic) {
    nic.igb.reg_write(regs::RCTL, regs::RCTL_EN | regs::RCTL_BAM | regs::RCTL_SECRC).unwrap();
}

#[test]
fn rx_frame_end_to_end() {
    let nic = receiving_nic();
    let igb = &nic.igb;
    let mut ring = RxRing::new(igb, 0, 16, 2048).unwrap();
    enable_receiver(&nic);
    assert_eq!(igb.reg_read(regs::RDT(0)).unwrap(), 15, "N-1 descriptors given to the NIC");

    let sent = frame(PF_MAC, "rx end to end");
    let before = igb.register_counts();
    nic.qemu().send_frame(&sent).unwrap();
    let fired = igb.poll_mailboxes(&nic.mailboxes, EVENT_TIMEOUT).unwrap();
    assert_eq!(fired, [(RX_VECTOR, msix_data(RX_VECTOR))], "exactly the RX vector fired");

    // When the message has landed, the write-back is already visible (§4 step 8).
    let completed = ring.poll_completed().unwrap();
    assert_eq!(completed.len(), 1, "{completed:?}");
    let rx = &completed[0];
    assert_eq!(rx.index, 0);
    assert_eq!(
        rx.writeback.status_error & (RXD_STAT_DD | RXD_STAT_EOP),
        RXD_STAT_DD | RXD_STAT_EOP
    );
    assert_eq!(usize::from(rx.writeback.length), sent.len(), "SECRC: no FCS bytes");
    assert_eq!(rx.data, sent);
    // Receiving took no register access at all: completion was seen in guest RAM.
    assert_eq!(igb.register_counts().since(before), RegisterCounts::default());

    assert_eq!(igb.reg_read(regs::RDH(0)).unwrap(), 1);
    ring.rearm(1).unwrap();
    assert_eq!(igb.reg_read(regs::RDT(0)).unwrap(), 0);
    assert_eq!(igb.reg_read(regs::GPRC).unwrap(), 1, "good packets received");

    drop(ring);
    let leftovers: Vec<_> = nic.qemu().dma_outstanding().iter().map(|a| a.tag).collect();
    assert_eq!(leftovers, ["msix mailboxes"], "the ring returned its memory");
}

#[test]
fn tx_frame_is_captured_byte_exact() {
    let nic = Nic::bring_up(&config());
    let igb = &nic.igb;
    let qemu = nic.qemu();
    igb.set_ivar_tx(0, TX_VECTOR).unwrap();
    let ring = qemu.dma_alloc(16 * DESC_SIZE as u64, "tx ring").unwrap();
    let buffer = qemu.dma_alloc(2048, "tx buffer").unwrap();
    let mut sent = frame(MacAddress([0x02, 0, 0, 0, 0, 0xBB]), "tx from the NIC");
    sent.extend((0..200u8).map(|i| i.wrapping_mul(37))); // a 264-byte, non-repeating frame
    qemu.ram().write(buffer.gpa, &sent).unwrap();
    let length = u16::try_from(sent.len()).unwrap();
    qemu.ram().write(ring.gpa, &desc::adv_tx_data(buffer.gpa, length)).unwrap();

    igb.reg_write(regs::TDBAL(0), (ring.gpa & 0xFFFF_FFFF) as u32).unwrap();
    igb.reg_write(regs::TDBAH(0), (ring.gpa >> 32) as u32).unwrap();
    igb.reg_write(regs::TDLEN(0), u32::try_from(16 * DESC_SIZE).unwrap()).unwrap();
    igb.reg_write(regs::TDH(0), 0).unwrap();
    igb.reg_write(regs::TDT(0), 0).unwrap();
    let tctl = igb.reg_read(regs::TCTL).unwrap();
    igb.reg_write(regs::TCTL, tctl | regs::TCTL_EN).unwrap();
    // TX runs synchronously inside the TDT write (§7).
    igb.reg_write(regs::TDT(0), 1).unwrap();

    let captured = qemu.recv_frame(EVENT_TIMEOUT).unwrap().expect("a frame on the netdev socket");
    assert_eq!(captured, sent);
    assert_eq!(qemu.recv_frame(Duration::from_millis(100)).unwrap(), None, "exactly one frame");
    let mut written_back = [0u8; DESC_SIZE];
    qemu.ram().read(ring.gpa, &mut written_back).unwrap();
    assert!(desc::tx_done(&written_back), "DD written back");
    assert_eq!(igb.reg_read(regs::TDH(0)).unwrap(), 1);
    let fired = igb.poll_mailboxes(&nic.mailboxes, EVENT_TIMEOUT).unwrap();
    assert_eq!(fired, [(TX_VECTOR, msix_data(TX_VECTOR))], "TX completion vector");
}

/// Fills the 8-descriptor ring of queue 0 (7 usable), then injects three more frames, which
/// QEMU holds because no enabled ring has room (§8). Returns with the ring full and consumed.
fn ring_full_with_three_frames_held(nic: &Nic) -> RxRing<'_> {
    let igb = &nic.igb;
    let qemu = nic.qemu();
    let mut ring = RxRing::new(igb, 0, 8, 2048).unwrap();
    enable_receiver(nic);
    igb.reg_write(regs::ICR, 0xFFFF_FFFF).unwrap(); // W1C: start with no causes
    for i in 0..7 {
        qemu.send_frame(&frame(PF_MAC, &format!("fill{i}"))).unwrap();
    }
    assert_eq!(qemu.settle_injected_frames(EVENT_TIMEOUT).unwrap(), 0);
    let fills = ring.poll_completed().unwrap();
    let labels: Vec<_> = fills.iter().map(|c| label_of(&c.data)).collect();
    assert_eq!(labels, (0..7).map(|i| format!("fill{i}")).collect::<Vec<_>>());

    // One socket write, so QEMU reads all three in one chunk and queues them: the ring has no
    // room. (Sent one by one, QEMU would stop reading after queueing the first, and frames
    // left in the socket are not at risk.)
    let late: Vec<Vec<u8>> = (0..3).map(|i| frame(PF_MAC, &format!("late{i}"))).collect();
    qemu.send_frames(&late.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
    assert_eq!(qemu.settle_injected_frames(EVENT_TIMEOUT).unwrap(), 0, "QEMU read the late frames");
    assert_eq!(ring.poll_completed().unwrap(), [], "nothing can be delivered yet");
    assert_eq!(igb.reg_read(regs::ICR).unwrap() & regs::ICR_RXO, 0, "not dropped yet");
    ring
}

#[test]
fn held_frames_are_lost_when_descriptors_come_back_one_tail_write_at_a_time() {
    let nic = receiving_nic();
    let mut ring = ring_full_with_three_frames_held(&nic);
    // One descriptor back with one RDT write: the flush pushes all three held frames at the
    // ring; one fits and two are dropped with ICR.RXO (§8). This is the hazard rearm() avoids.
    ring.rearm(1).unwrap();
    nic.qemu().qtest().sync().unwrap();
    let got: Vec<_> = ring.poll().unwrap().iter().map(|c| label_of(&c.data)).collect();
    assert_eq!(got, ["late0"]);
    assert_ne!(nic.igb.reg_read(regs::ICR).unwrap() & regs::ICR_RXO, 0, "ICR.RXO");
    ring.kick().unwrap();
    assert_eq!(nic.qemu().settle_injected_frames(EVENT_TIMEOUT).unwrap(), 0);
    assert_eq!(ring.poll_completed().unwrap(), [], "late1 and late2 are gone");
}

#[test]
fn held_frames_survive_when_all_descriptors_come_back_in_one_tail_write() {
    let nic = receiving_nic();
    let mut ring = ring_full_with_three_frames_held(&nic);
    let before = nic.igb.register_counts();
    ring.rearm(ring.consumed()).unwrap();
    assert_eq!(nic.igb.register_counts().since(before).writes, 1, "a single RDT write");
    nic.qemu().qtest().sync().unwrap();
    let got: Vec<_> = ring.poll().unwrap().iter().map(|c| label_of(&c.data)).collect();
    assert_eq!(got, ["late0", "late1", "late2"]);
    assert_eq!(nic.igb.reg_read(regs::ICR).unwrap() & regs::ICR_RXO, 0, "nothing dropped");
}
