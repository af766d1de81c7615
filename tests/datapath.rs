//! The data path of the real driver on QEMU's 82576 under the simulated NDIS: frames injected
//! on the wire come up as NBLs (byte-exact, in order, on the default queue, on the processor of
//! its message), through many wraps of the ring, with NBLs held by the protocol (the
//! low-resources path) and returned, with no register read and no allocation per packet.

use std::time::{Duration, Instant};

use ndis_sim::sim::{
    AdapterState, Completion, GrantPolicy, OidRequest, ReturnPolicy, SendFrame, Sim, SimConfig,
};
use vmqnic::hw::igb::regs;
use vmqnic::miniport::receive::RX_DESCRIPTORS;
use vmqnic::miniport::send::TX_DESCRIPTORS;
use vmqnic::ndis::{
    NDIS_PACKET_TYPE_ALL_MULTICAST, NDIS_PACKET_TYPE_DIRECTED, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
    NDIS_RECEIVE_FLAGS_RESOURCES, NDIS_RECEIVE_FLAGS_SINGLE_QUEUE, NDIS_STATUS_PAUSED,
    NDIS_STATUS_SEND_ABORTED, NDIS_STATUS_SUCCESS, NdisInterruptModerationDisabled,
    OID_802_3_MULTICAST_LIST, OID_GEN_CURRENT_PACKET_FILTER, OID_GEN_INTERRUPT_MODERATION,
    OID_GEN_RCV_ERROR, OID_GEN_RCV_OK, OID_GEN_XMIT_OK,
};

mod common;

use common::*;

#[test]
fn frames_arrive_byte_exact_in_order_on_the_default_queue_through_many_ring_wraps() {
    let sim = running(SimConfig::with_groups(&[2]), GrantPolicy::AsRequested);
    let ours = mac(&sim);
    let count = usize::from(RX_DESCRIPTORS) * 5;
    let frames: Vec<Vec<u8>> =
        (0..count).map(|n| frame(if n % 10 == 9 { BROADCAST } else { ours }, n)).collect();
    let (reads_before, _) = sim.register_accesses();
    inject(&sim, &frames);
    let (reads_after, _) = sim.register_accesses();

    let nbls = received(&sim);
    assert_eq!(nbls.len(), count);
    for (n, (nbl, sent)) in nbls.iter().zip(&frames).enumerate() {
        assert_eq!(nbl.bytes(), &sent[..], "frame {n} byte-exact");
        assert_eq!(nbl.queue_id, 0, "default queue");
        assert_eq!(nbl.ieee8021q, None);
    }
    let grant = sim.grant().unwrap();
    let default_target = grant.messages[1].target;
    for indication in sim.receive_indications() {
        let flags = indication.flags;
        assert_ne!(flags & NDIS_RECEIVE_FLAGS_SINGLE_QUEUE, 0, "one queue per indication");
        assert_ne!(flags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL, 0);
        assert_eq!(flags & NDIS_RECEIVE_FLAGS_RESOURCES, 0, "returned at once: never short");
        assert_eq!(indication.processor, default_target, "on the default queue's processor");
    }
    assert_eq!(reads_after - reads_before, 0, "no register read on the receive path");
    stop(sim);
}

#[test]
fn a_protocol_holding_every_nbl_gets_copies_then_lending_resumes_without_a_reset() {
    let mut config = SimConfig::with_groups(&[1]);
    config.receive_returns = ReturnPolicy::Hold;
    let sim = running(config, GrantPolicy::AsRequested);
    let ours = mac(&sim);
    // More frames than the ring has buffers: the spares run out, and the rest are indicated
    // with the resources flag (the protocol copies them during the call).
    let count = usize::from(RX_DESCRIPTORS) * 3;
    let frames: Vec<Vec<u8>> = (0..count).map(|n| frame(ours, n)).collect();
    inject(&sim, &frames);
    let indications = sim.receive_indications();
    let lent: usize = indications
        .iter()
        .filter(|i| i.flags & NDIS_RECEIVE_FLAGS_RESOURCES == 0)
        .map(|i| i.nbls.len())
        .sum();
    let copied = count - lent;
    assert_eq!(lent, usize::from(RX_DESCRIPTORS), "one spare buffer per descriptor is lent");
    assert!(copied > 0);
    for (n, (nbl, sent)) in received(&sim).iter().zip(&frames).enumerate() {
        assert_eq!(nbl.bytes(), &sent[..], "frame {n}");
    }
    // The protocol returns everything; the next frames are lent again.
    sim.return_indicated_nbls();
    let more: Vec<Vec<u8>> = (count..count + WAVE).map(|n| frame(ours, n)).collect();
    inject(&sim, &more);
    let last = sim.receive_indications();
    let after: Vec<_> = last[indications.len()..].iter().collect();
    assert!(after.iter().all(|i| i.flags & NDIS_RECEIVE_FLAGS_RESOURCES == 0), "lending resumed");
    assert_eq!(after.iter().map(|i| i.nbls.len()).sum::<usize>(), WAVE);
    sim.return_indicated_nbls();
    stop(sim);
}

#[test]
fn nbls_returned_from_inside_the_indication_come_home_without_a_lock_problem() {
    let mut config = SimConfig::with_groups(&[1]);
    config.receive_returns = ReturnPolicy::DuringIndication;
    let sim = running(config, GrantPolicy::AsRequested);
    let ours = mac(&sim);
    let frames: Vec<Vec<u8>> =
        (0..usize::from(RX_DESCRIPTORS) * 3).map(|n| frame(ours, n)).collect();
    inject(&sim, &frames);
    for (nbl, sent) in received(&sim).iter().zip(&frames) {
        assert_eq!(nbl.bytes(), &sent[..]);
    }
    let copied = sim
        .receive_indications()
        .iter()
        .filter(|i| i.flags & NDIS_RECEIVE_FLAGS_RESOURCES != 0)
        .count();
    assert_eq!(copied, 0, "buffers returned during the call are lent again");
    stop(sim);
}

#[test]
fn every_grant_delivers_every_frame() {
    for (groups, policy) in [
        (&[4u8][..], GrantPolicy::AtMost(1)),
        (&[2][..], GrantPolicy::Msi),
        (&[2][..], GrantPolicy::LineBased),
        (&[2, 2][..], GrantPolicy::AsRequested),
    ] {
        let sim = running(SimConfig::with_groups(groups), policy);
        let ours = mac(&sim);
        let frames: Vec<Vec<u8>> = (0..300).map(|n| frame(ours, n)).collect();
        inject(&sim, &frames);
        for (nbl, sent) in received(&sim).iter().zip(&frames) {
            assert_eq!(nbl.bytes(), &sent[..], "{policy:?}");
        }
        stop(sim);
    }
}

// ---- send ------------------------------------------------------------------------------------

/// Delivers interrupts until every NBL in `nbls` is completed (or 10 s pass); returns their
/// statuses in order.
fn wait_for_completions(sim: &Sim, nbls: &[usize]) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while nbls.iter().any(|n| sim.send_status(*n).is_none()) && Instant::now() < deadline {
        sim.deliver_interrupts(Duration::from_millis(20)).expect("interrupt delivery");
    }
    nbls.iter().map(|n| sim.send_status(*n).expect("every send completes")).collect()
}

/// Every frame the wire carries within `timeout` of the last one.
fn wire_frames(sim: &Sim, timeout: Duration) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    while let Some(frame) = sim.recv_frame(timeout).expect("the wire") {
        frames.push(frame);
    }
    frames
}

/// `frame` with an 802.1Q tag (TPID 0x8100, `priority`, `vlan`) after the MAC addresses.
fn tagged(frame: &[u8], vlan: u16, priority: u8) -> Vec<u8> {
    let tci = (u16::from(priority) << 13 | vlan).to_be_bytes();
    [&frame[..12], &[0x81, 0x00, tci[0], tci[1]], &frame[12..]].concat()
}

#[test]
fn sends_go_out_byte_exact_from_mdl_chains_with_backfill_and_vlan_tags() {
    let mut sim = running(SimConfig::with_groups(&[2]), GrantPolicy::AsRequested);
    let frames: Vec<Vec<u8>> = (0..40).map(|n| frame(PEER, n)).collect();
    let sends: Vec<SendFrame> = frames
        .iter()
        .enumerate()
        .map(|(n, bytes)| SendFrame {
            bytes: bytes.clone(),
            backfill: u32::try_from(n % 3 * 14).unwrap(),
            mdl_size: (n % 2 == 1).then_some(100 + n * 7),
            ieee8021q: (n % 5 == 4).then(|| (u16::try_from(n).unwrap() + 1, 5)),
            ..SendFrame::default()
        })
        .collect();
    let nbls = sim.send_frames_as_nbls(&sends, 0).expect("sent");
    let statuses = wait_for_completions(&sim, &nbls);
    assert!(statuses.iter().all(|s| *s == NDIS_STATUS_SUCCESS), "{statuses:x?}");
    let wire = wire_frames(&sim, Duration::from_millis(200));
    assert_eq!(wire.len(), frames.len());
    for (n, (got, send)) in wire.iter().zip(&sends).enumerate() {
        let expected = match send.ieee8021q {
            Some((vlan, priority)) => tagged(&send.bytes, vlan, priority),
            None => send.bytes.clone(),
        };
        assert_eq!(got, &expected, "frame {n}");
    }
    for (n, nbl) in nbls.iter().enumerate() {
        assert_eq!(sim.sent_nbl_bytes(*nbl).as_deref(), Some(&frames[n][..]), "NBL {n} untouched");
    }
    stop(sim);
}

#[test]
fn sends_beyond_the_ring_wait_cancel_aborts_only_waiting_ones_and_pause_drains_the_rest() {
    let mut sim = running(SimConfig::with_groups(&[1]), GrantPolicy::AsRequested);
    // One call with more NBLs than the ring has descriptors: 255 are posted (and sent at once
    // by QEMU), the rest wait for the transmit DPC to free slots.
    let count = usize::from(TX_DESCRIPTORS) + 60;
    let sends: Vec<SendFrame> = (0..count)
        .map(|n| SendFrame {
            bytes: frame(PEER, n),
            cancel_id: match n {
                n if n >= count - 20 => Some(0xC1),
                n if n >= count - 40 => Some(0xC2),
                _ => None,
            },
            ..SendFrame::default()
        })
        .collect();
    let nbls = sim.send_frames_as_nbls(&sends, 0).expect("sent");
    // Cancel C1 before any interrupt is handled: those 20 are still waiting.
    sim.cancel_send(0xC1).expect("cancel");
    for nbl in &nbls[count - 20..] {
        assert_eq!(sim.send_status(*nbl), Some(NDIS_STATUS_SEND_ABORTED));
    }
    assert!(nbls[..count - 20].iter().all(|n| sim.send_status(*n).is_none()), "others wait");
    // A second wave after the ring filled again, then Pause: the waiting ones complete with
    // PAUSED, the ones in the ring finish from the transmit DPC, and only then the pause.
    let statuses = wait_for_completions(&sim, &nbls[..count - 20]);
    assert!(statuses.iter().all(|s| *s == NDIS_STATUS_SUCCESS));
    let wave: Vec<SendFrame> = (0..count)
        .map(|n| SendFrame { bytes: frame(PEER, 1000 + n), ..SendFrame::default() })
        .collect();
    let second = sim.send_frames_as_nbls(&wave, 0).expect("sent");
    let pause = sim.pause().expect("pause");
    assert_eq!(pause, Completion::Pending, "sends were in the ring");
    let posted = usize::from(TX_DESCRIPTORS) - 1;
    for nbl in &second[posted..] {
        assert_eq!(sim.send_status(*nbl), Some(NDIS_STATUS_PAUSED), "waiting sends end at pause");
    }
    let statuses = wait_for_completions(&sim, &second[..posted]);
    assert!(statuses.iter().all(|s| *s == NDIS_STATUS_SUCCESS));
    assert_eq!(sim.adapter_state(), AdapterState::Paused, "the last completion ends the pause");
    let wire = wire_frames(&sim, Duration::from_millis(200));
    assert_eq!(wire.len(), count - 20 + posted, "cancelled and paused sends never reach the wire");
    sim.restart().expect("restart");
    stop(sim);
}

// ---- counters and per-packet costs -----------------------------------------------------------

/// A 64-bit counter OID, queried with an 8-byte buffer.
fn counter(sim: &mut Sim, oid: u32) -> u64 {
    let done = sim.oid_request(&OidRequest::query(oid, 8)).expect("query").completed().unwrap();
    assert_eq!(done.status, NDIS_STATUS_SUCCESS, "OID {oid:#x}");
    u64::from_le_bytes(done.buffer[..8].try_into().unwrap())
}

#[test]
fn steady_state_traffic_reads_no_register_and_allocates_nothing_and_counters_match() {
    let mut sim = running(SimConfig::with_groups(&[2]), GrantPolicy::AsRequested);
    let ours = mac(&sim);
    // Warm up: one wave each way (the first interrupts, link settling).
    inject(&sim, &(0..WAVE).map(|n| frame(ours, n)).collect::<Vec<_>>());
    let warm: Vec<SendFrame> =
        (0..WAVE).map(|n| SendFrame { bytes: frame(PEER, n), ..SendFrame::default() }).collect();
    let nbls = sim.send_frames_as_nbls(&warm, 0).expect("sent");
    wait_for_completions(&sim, &nbls);
    let rx_before = counter(&mut sim, OID_GEN_RCV_OK);
    let tx_before = counter(&mut sim, OID_GEN_XMIT_OK);
    let _ = wire_frames(&sim, Duration::from_millis(100));

    let (reads_before, writes_before) = sim.register_accesses();
    let allocations_before = sim.allocation_calls();
    let indications_before = sim.receive_indications().len();
    let received_frames = 10 * WAVE;
    inject(&sim, &(0..received_frames).map(|n| frame(ours, 100 + n)).collect::<Vec<_>>());
    let mut sent_frames = 0;
    for wave in 0..10 {
        let sends: Vec<SendFrame> = (0..WAVE)
            .map(|n| SendFrame { bytes: frame(PEER, wave * WAVE + n), ..SendFrame::default() })
            .collect();
        let nbls = sim.send_frames_as_nbls(&sends, 0).expect("sent");
        let statuses = wait_for_completions(&sim, &nbls);
        assert!(statuses.iter().all(|s| *s == NDIS_STATUS_SUCCESS));
        sent_frames += sends.len();
    }
    let (reads_after, writes_after) = sim.register_accesses();
    let allocations = sim.allocation_calls() - allocations_before;
    let receive_batches = sim.receive_indications().len() - indications_before;

    assert_eq!(reads_after - reads_before, 0, "register reads per packet: 0");
    assert_eq!(allocations, 0, "allocations per packet: 0");
    // Register writes: per receive batch one RDT write and one EIMC/EIMS pair; per send call
    // one TDT write, per transmit interrupt one EIMC/EIMS pair. Far below one per packet.
    let writes = writes_after - writes_before;
    let packets = u64::try_from(received_frames + sent_frames).unwrap();
    assert!(writes * 4 < packets, "{writes} register writes for {packets} packets");
    assert!(receive_batches <= received_frames / 8, "{receive_batches} batches");

    assert_eq!(wire_frames(&sim, Duration::from_millis(200)).len(), sent_frames);
    let rx = counter(&mut sim, OID_GEN_RCV_OK) - rx_before;
    let tx = counter(&mut sim, OID_GEN_XMIT_OK) - tx_before;
    assert_eq!(rx, u64::try_from(received_frames).unwrap(), "OID_GEN_RCV_OK");
    assert_eq!(tx, u64::try_from(sent_frames).unwrap(), "OID_GEN_XMIT_OK");
    stop(sim);
}

// ---- a device that writes back nonsense ------------------------------------------------------

/// The guest-physical address of RX queue 0's descriptor ring, as the driver programmed it.
fn rx_ring_address(sim: &Sim) -> u64 {
    let igb = sim.igb().expect("QEMU runs");
    let low = igb.reg_read(regs::RDBAL(0)).expect("RDBAL");
    let high = igb.reg_read(regs::RDBAH(0)).expect("RDBAH");
    u64::from(high) << 32 | u64::from(low)
}

#[test]
fn malformed_writebacks_are_dropped_and_counted_and_the_ring_goes_on() {
    let mut sim = running(SimConfig::with_groups(&[1]), GrantPolicy::AsRequested);
    let ours = mac(&sim);
    let ring = rx_ring_address(&sim);
    let status_of = |slot: u64| ring + slot * 16 + 8;
    let length_of = |slot: u64| ring + slot * 16 + 12;
    let errors_before = counter(&mut sim, OID_GEN_RCV_ERROR);
    let ram = sim.qemu().expect("QEMU runs").ram();

    // Six frames land in descriptors 0..6; before the driver looks, three write-backs are
    // corrupted the way a faulty device or a stray DMA could: a length (4000 = 0xFA0) beyond the 2 KiB
    // buffer, a CRC error, and a missing EOP (which makes descriptor 4 a continuation).
    let frames: Vec<Vec<u8>> = (0..6).map(|n| frame(ours, n)).collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    sim.send_frames(&refs).expect("frames injected");
    let deadline = Instant::now() + Duration::from_secs(5);
    while ram.read_u32(status_of(5)).unwrap() & 1 == 0 {
        assert!(Instant::now() < deadline, "the device wrote back six descriptors");
        std::thread::sleep(Duration::from_millis(5));
    }
    let length = ram.read_u32(length_of(1)).unwrap();
    ram.write_u32(length_of(1), length & 0xFFFF_0000 | 0x0FA0).unwrap();
    let status = ram.read_u32(status_of(2)).unwrap();
    ram.write_u32(status_of(2), status | 1 << 24).unwrap();
    let status = ram.read_u32(status_of(3)).unwrap();
    ram.write_u32(status_of(3), status & !2).unwrap();
    wait_for(&sim, 2);
    let good: Vec<Vec<u8>> = received(&sim).iter().map(|n| n.bytes().to_vec()).collect();
    assert_eq!(good, [frames[0].clone(), frames[5].clone()], "only the sound frames go up");
    let errors = counter(&mut sim, OID_GEN_RCV_ERROR) - errors_before;
    assert_eq!(errors, 4, "four descriptors dropped: too long, CRC, no EOP and its continuation");

    // The ring carries on: many more frames, all delivered, none lost.
    let more: Vec<Vec<u8>> =
        (6..6 + 3 * usize::from(RX_DESCRIPTORS)).map(|n| frame(ours, n)).collect();
    inject(&sim, &more);
    let after: Vec<Vec<u8>> = received(&sim)[2..].iter().map(|n| n.bytes().to_vec()).collect();
    assert_eq!(after, more);
    stop(sim);
}

// ---- the packet filter and the multicast list ------------------------------------------------

/// Injects `frames` followed by a directed sentinel, waits for the sentinel, and returns which
/// of `frames` were indicated (the device handles frames in order, so anything not indicated
/// by then was filtered).
fn passed(sim: &Sim, frames: &[Vec<u8>], sentinel: usize) -> Vec<bool> {
    let before = received(sim).len();
    let marker = frame(mac(sim), sentinel);
    let mut refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    refs.push(&marker);
    sim.send_frames(&refs).expect("frames injected");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !received(sim)[before..].iter().any(|n| n.bytes() == &marker[..]) {
        assert!(Instant::now() < deadline, "the sentinel arrives");
        sim.deliver_interrupts(Duration::from_millis(20)).expect("interrupt delivery");
    }
    let got: Vec<Vec<u8>> = received(sim)[before..].iter().map(|n| n.bytes().to_vec()).collect();
    frames.iter().map(|f| got.contains(f)).collect()
}

#[test]
fn the_packet_filter_and_multicast_list_are_programmed_into_the_device() {
    let mut sim = running(SimConfig::with_groups(&[1]), GrantPolicy::AsRequested);
    let listed = [0x01, 0x00, 0x5E, 0x00, 0x00, 0x01];
    let unlisted = [0x01, 0x00, 0x5E, 0x00, 0x00, 0x02]; // another table bit
    let frames = [frame(BROADCAST, 1), frame(listed, 2), frame(unlisted, 3)];
    // Directed + broadcast + multicast with an empty list: no multicast.
    assert_eq!(passed(&sim, &frames, 10), [true, false, false]);
    set(&mut sim, OID_802_3_MULTICAST_LIST, &listed);
    assert_eq!(passed(&sim, &frames, 11), [true, true, false]);
    set(&mut sim, OID_GEN_CURRENT_PACKET_FILTER, &NDIS_PACKET_TYPE_DIRECTED.to_le_bytes());
    assert_eq!(passed(&sim, &frames, 12), [false, false, false]);
    let all = NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_ALL_MULTICAST;
    set(&mut sim, OID_GEN_CURRENT_PACKET_FILTER, &all.to_le_bytes());
    assert_eq!(passed(&sim, &frames, 13), [false, true, true]);
    // A filter of 0: nothing at all, not even directed frames.
    set(&mut sim, OID_GEN_CURRENT_PACKET_FILTER, &0u32.to_le_bytes());
    let before = received(&sim).len();
    sim.send_frames(&[&frame(mac(&sim), 14)]).expect("injected");
    sim.deliver_interrupts(Duration::from_millis(300)).expect("interrupt delivery");
    assert_eq!(received(&sim).len(), before, "filter 0 receives nothing");
    set(&mut sim, OID_GEN_CURRENT_PACKET_FILTER, &USUAL_FILTER.to_le_bytes());
    assert_eq!(passed(&sim, &frames, 15), [true, true, false]);
    stop(sim);
}

#[test]
fn interrupt_moderation_is_programmed_into_every_receive_vector() {
    let mut sim = running(SimConfig::with_groups(&[2]), GrantPolicy::AsRequested);
    let igb = sim.igb().expect("QEMU runs");
    let entry =
        u32::try_from(sim.msix_table().iter().position(|e| e.message == Some(1)).unwrap_or(1))
            .unwrap();
    let moderated = igb.reg_read(regs::EITR(entry)).expect("EITR");
    assert_eq!(moderated & 0x7FFC, vmqnic::miniport::adapter::MODERATED_EITR, "on by default");
    // Off: NDIS_INTERRUPT_MODERATION_PARAMETERS {header {0x80, 1, 0xC}, flags 0,
    // NdisInterruptModerationDisabled}.
    let mut off = vec![0x80, 1, 0x0C, 0, 0, 0, 0, 0];
    off.extend_from_slice(&NdisInterruptModerationDisabled.to_le_bytes());
    set(&mut sim, OID_GEN_INTERRUPT_MODERATION, &off);
    let igb = sim.igb().expect("QEMU runs");
    assert_eq!(igb.reg_read(regs::EITR(entry)).expect("EITR") & 0x7FFC, 0);
    stop(sim);
}
