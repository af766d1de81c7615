//! Tests of the VMQ model: scenarios, the register image and its diff on a fake 82576, and a
//! property test against an independent reference model.

use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::hw::igb::PoolOptions;
use crate::hw::igb::fake::FakeIgb;
use crate::hw::igb::regs::{RAH, RAL, VFRE, VFTA, VLVF, VMOLR};
use crate::vmq::image::RegisterChange;

const ADAPTER: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const RESOURCES: NDIS_STATUS = NDIS_STATUS_RESOURCES;

fn mac(n: u8) -> [u8; 6] {
    [0x00, 0x15, 0x5D, 0x00, 0x00, n]
}

fn cpu(number: u8) -> Processor {
    Processor { group: 0, number }
}

fn vmq(queues: u32) -> Vmq {
    Vmq::new(VmqConfig { queues, vlan_filtering: true, adapter_mac: ADAPTER })
}

fn untagged(queue_id: u32, filter_id: u32, mac: [u8; 6]) -> SetFilterRequest {
    SetFilterRequest { queue_id, filter_id, mac: Some(mac), vlan: None, untagged_or_zero: true }
}

fn tagged(queue_id: u32, filter_id: u32, mac: [u8; 6], vlan: u16) -> SetFilterRequest {
    SetFilterRequest {
        queue_id,
        filter_id,
        mac: Some(mac),
        vlan: Some(vlan),
        untagged_or_zero: false,
    }
}

fn vlan_only(queue_id: u32, filter_id: u32, vlan: u16) -> SetFilterRequest {
    SetFilterRequest { queue_id, filter_id, mac: None, vlan: Some(vlan), untagged_or_zero: false }
}

/// Runs `operation` and checks that a failure left the model exactly as it was.
fn refused<T: core::fmt::Debug>(
    model: &mut Vmq,
    operation: impl FnOnce(&mut Vmq) -> Result<T, NDIS_STATUS>,
) -> NDIS_STATUS {
    let before = model.clone();
    let status = operation(model).unwrap_err();
    assert_eq!(*model, before, "a refused operation changed the model");
    status
}

// ---- Scenarios --------------------------------------------------------------------------------

#[test]
fn a_queue_from_allocation_to_freed() {
    let mut model = vmq(7);
    assert_eq!(model.allocate_queue(5, cpu(2)), Ok(1));
    let queue = model.queue(5).unwrap();
    assert_eq!(
        (queue.pool, queue.state, queue.processor, queue.filters),
        (1, QueueState::Allocated, cpu(2), 0)
    );
    assert_eq!(model.hardware(), HardwareImage::EMPTY);

    model.set_filter(&untagged(5, 40, mac(1))).unwrap();
    assert_eq!(model.queue(5).unwrap().state, QueueState::Set);
    let filter = model.filter(40).unwrap();
    assert_eq!(
        (filter.receive_address, filter.vlan_filter, filter.tag),
        (Some(1), None, FilterTag::Untagged)
    );
    // Reserved, but not in the device until the queue runs: its frames go to the default queue.
    let image = model.hardware();
    assert_eq!(image.receive_address(1), None);
    assert_eq!(image.pool_options(1), Some(vm_pool_options(true)));
    assert_eq!((image.receiving_pools(), model.free_receive_addresses()), (0, 22));

    assert_eq!(model.allocation_complete(5), Ok(QueueState::Running));
    let image = model.hardware();
    assert_eq!(image.receive_address(1), Some(ReceiveAddress { mac: mac(1), pools: 0b10 }));
    assert_eq!((image.receiving_pools(), model.receiving_pools()), (0b10, 0b10));

    model.set_processor(5, cpu(3)).unwrap();
    assert_eq!(model.queue(5).unwrap().processor, cpu(3));
    assert_eq!(
        model.clear_filter(5, 40),
        ClearOutcome::Cleared { queue_state: Some(QueueState::Paused) }
    );
    assert_eq!(model.hardware(), HardwareImage::EMPTY);
    assert_eq!(model.free_receive_addresses(), 23);

    assert_eq!(model.free_queue(5), Ok(1));
    assert_eq!(model.queue(5).unwrap().state, QueueState::StopDma);
    assert_eq!(refused(&mut model, |m| m.freed(5)), INVALID);
    model.dma_stopped(5).unwrap();
    assert_eq!(model.freed(5), Ok(1));
    assert_eq!(model.queue(5), None);
    assert_eq!(model, vmq(7));
}

#[test]
fn queues_take_the_lowest_free_pool_up_to_the_advertised_count() {
    let mut model = vmq(3);
    assert_eq!(model.allocate_queue(10, cpu(0)), Ok(1));
    assert_eq!(model.allocate_queue(11, cpu(0)), Ok(2));
    assert_eq!(model.allocate_queue(12, cpu(0)), Ok(3));
    assert_eq!(refused(&mut model, |m| m.allocate_queue(13, cpu(0))), RESOURCES);
    assert_eq!(refused(&mut model, |m| m.allocate_queue(11, cpu(0))), INVALID, "in use");
    assert_eq!(refused(&mut model, |m| m.allocate_queue(0, cpu(0))), INVALID, "default queue");
    // A queue being freed still holds its pool.
    model.free_queue(11).unwrap();
    assert_eq!(refused(&mut model, |m| m.allocate_queue(13, cpu(0))), RESOURCES);
    assert_eq!(refused(&mut model, |m| m.allocate_queue(11, cpu(0))), INVALID, "still in use");
    model.dma_stopped(11).unwrap();
    model.freed(11).unwrap();
    assert_eq!(model.allocate_queue(13, cpu(0)), Ok(2));
    assert_eq!(model.queue_of_pool(2), Some(13));
    assert_eq!((model.pool_of(13), model.pool_of(0), model.pool_of(99)), (Some(2), Some(0), None));
    assert_eq!(
        (model.queue_of_pool(0), model.queue_of_pool(4), model.queue_of_pool(9)),
        (Some(0), None, None)
    );
    let ids: Vec<u32> = model.queues().map(|q| q.id).collect();
    assert_eq!(ids, [10, 13, 12]);
    // More than 7 advertised is 7.
    assert_eq!(vmq(100).config().queues, 7);
}

#[test]
fn queue_operations_in_the_wrong_state() {
    let mut model = vmq(7);
    model.allocate_queue(5, cpu(0)).unwrap();
    model.set_filter(&untagged(5, 1, mac(1))).unwrap();
    assert_eq!(refused(&mut model, |m| m.free_queue(5)), INVALID, "filters still set");
    assert_eq!(refused(&mut model, |m| m.dma_stopped(5)), INVALID);
    assert_eq!(model.allocation_complete(5), Ok(QueueState::Running));
    assert_eq!(refused(&mut model, |m| m.allocation_complete(5)), INVALID, "twice");
    for id in [0, 6] {
        assert_eq!(refused(&mut model, |m| m.allocation_complete(id)), INVALID);
        assert_eq!(refused(&mut model, |m| m.free_queue(id)), INVALID);
        assert_eq!(refused(&mut model, |m| m.set_processor(id, cpu(1))), INVALID);
        assert_eq!(refused(&mut model, |m| m.freed(id)), INVALID);
    }
    model.clear_filter(5, 1);
    model.free_queue(5).unwrap();
    assert_eq!(refused(&mut model, |m| m.set_processor(5, cpu(1))), INVALID, "being freed");
    assert_eq!(
        refused(&mut model, |m| m.set_filter(&untagged(5, 2, mac(1)))),
        INVALID,
        "being freed"
    );
}

#[test]
fn set_filter_moves_a_paused_queue_to_running() {
    let mut model = vmq(7);
    model.allocate_queue(5, cpu(0)).unwrap();
    assert_eq!(model.allocation_complete(5), Ok(QueueState::Paused));
    assert_eq!(model.hardware().receiving_pools(), 0);
    model.set_filter(&tagged(5, 1, mac(1), 100)).unwrap();
    assert_eq!(model.queue(5).unwrap().state, QueueState::Running);
    let image = model.hardware();
    assert_eq!(image.receive_address(1), Some(ReceiveAddress { mac: mac(1), pools: 0b10 }));
    assert_eq!(image.vlan_filter(0), Some(VlanEntry { vlan: 100, pools: 0b10 }));
    assert!(image.vlan_table_accepts(100) && !image.vlan_table_accepts(101));
    assert_eq!(image.vlan_table_word(3), 1 << 4);
    assert_eq!(image.pool_options(1), Some(vm_pool_options(false)));
    assert_eq!(image.receiving_pools(), 0b10);
    // Not the last filter: the queue keeps running.
    model.set_filter(&tagged(5, 2, mac(1), 101)).unwrap();
    assert_eq!(
        model.clear_filter(5, 1),
        ClearOutcome::Cleared { queue_state: Some(QueueState::Running) }
    );
    assert_eq!(model.hardware().vlan_filter(0), None, "VLAN 100's slot is free again");
    assert_eq!(model.hardware().vlan_filter(1), Some(VlanEntry { vlan: 101, pools: 0b10 }));
}

#[test]
fn a_mac_shared_by_queues_on_different_vlans_is_one_receive_address() {
    let mut model = vmq(7);
    for (queue, pool) in [(5, 1u8), (6, 2)] {
        assert_eq!(model.allocate_queue(queue, cpu(0)), Ok(pool));
        model.allocation_complete(queue).unwrap();
    }
    model.set_filter(&tagged(5, 1, mac(1), 10)).unwrap();
    model.set_filter(&tagged(6, 2, mac(1), 20)).unwrap();
    let (a, b) = (model.filter(1).unwrap(), model.filter(2).unwrap());
    assert_eq!((a.receive_address, b.receive_address), (Some(1), Some(1)));
    assert_eq!((a.vlan_filter, b.vlan_filter), (Some(0), Some(1)));
    let image = model.hardware();
    assert_eq!(
        image.receive_addresses().collect::<Vec<_>>(),
        [(1, ReceiveAddress { mac: mac(1), pools: 0b110 })]
    );
    assert_eq!(
        image.vlan_filters().collect::<Vec<_>>(),
        [(0, VlanEntry { vlan: 10, pools: 0b10 }), (1, VlanEntry { vlan: 20, pools: 0b100 })]
    );
    // The same MAC untagged on a third queue is fine too; on one of them, the same VLAN is not.
    model.allocate_queue(7, cpu(0)).unwrap();
    model.set_filter(&untagged(7, 3, mac(1))).unwrap();
    assert_eq!(
        refused(&mut model, |m| m.set_filter(&tagged(7, 4, mac(1), 10))),
        INVALID,
        "pool 1's pair"
    );
    assert_eq!(
        refused(&mut model, |m| m.set_filter(&untagged(5, 4, mac(1)))),
        INVALID,
        "pool 3's pair"
    );
    // Clearing one user keeps the register for the others.
    model.clear_filter(5, 1);
    assert_eq!(
        model.hardware().receive_address(1),
        Some(ReceiveAddress { mac: mac(1), pools: 0b100 })
    );
}

#[test]
fn a_pool_accepts_only_products_its_filters_cover() {
    let mut model = vmq(7);
    model.allocate_queue(5, cpu(0)).unwrap();
    model.set_filter(&untagged(5, 1, mac(1))).unwrap();
    // (MAC 1, untagged) + (MAC 2, VLAN 5) would also accept MAC 1 on VLAN 5 and MAC 2 untagged.
    assert_eq!(refused(&mut model, |m| m.set_filter(&tagged(5, 2, mac(2), 5))), INVALID);
    // One MAC, several tags.
    model.set_filter(&tagged(5, 2, mac(1), 5)).unwrap();
    model.set_filter(&tagged(5, 3, mac(1), 6)).unwrap();
    // A second MAC would need all three tags at once.
    assert_eq!(refused(&mut model, |m| m.set_filter(&untagged(5, 4, mac(2)))), INVALID);
    // The same pair twice shares everything.
    model.set_filter(&tagged(5, 4, mac(1), 6)).unwrap();
    assert_eq!(model.filter(4).unwrap().vlan_filter, model.filter(3).unwrap().vlan_filter);
    assert_eq!(model.queue(5).unwrap().filters, 4);

    // Several MACs, one tag.
    model.allocate_queue(6, cpu(0)).unwrap();
    model.set_filter(&untagged(6, 10, mac(7))).unwrap();
    model.set_filter(&untagged(6, 11, mac(8))).unwrap();
    assert_eq!(refused(&mut model, |m| m.set_filter(&tagged(6, 12, mac(8), 5))), INVALID);
}

#[test]
fn default_queue_filters() {
    let mut model = vmq(7);
    // The adapter's own MAC needs no register: RAR0 covers it.
    model.set_filter(&untagged(0, 1, ADAPTER)).unwrap();
    model.set_filter(&tagged(0, 2, ADAPTER, 7)).unwrap();
    assert_eq!(model.filter(1).unwrap().receive_address, None);
    assert_eq!(model.free_receive_addresses(), 23);
    // Another MAC, a VLAN alone.
    model.set_filter(&untagged(0, 3, mac(1))).unwrap();
    model.set_filter(&vlan_only(0, 4, 9)).unwrap();
    assert_eq!(model.filter(1).unwrap().queue_id, 0);
    let image = model.hardware();
    assert_eq!(
        image.receive_addresses().collect::<Vec<_>>(),
        [(1, ReceiveAddress { mac: mac(1), pools: 1 })]
    );
    assert_eq!(
        image.vlan_filters().collect::<Vec<_>>(),
        [(0, VlanEntry { vlan: 7, pools: 1 }), (1, VlanEntry { vlan: 9, pools: 1 })]
    );
    assert_eq!(image.pool_options(0), None, "pool 0's VMOLR belongs to the packet filter");
    assert_eq!(image.receiving_pools(), 0);
    assert_eq!(model.clear_filter(0, 4), ClearOutcome::Cleared { queue_state: None });

    // The default pool accepts its MACs × its tags: {adapter, MAC 1} × {untagged, VLAN 7}.
    model.allocate_queue(5, cpu(0)).unwrap();
    assert_eq!(refused(&mut model, |m| m.set_filter(&tagged(5, 10, mac(1), 7))), INVALID);
    assert_eq!(refused(&mut model, |m| m.set_filter(&untagged(5, 10, mac(1)))), INVALID);
    model.set_filter(&tagged(5, 10, mac(1), 8)).unwrap();
    // And the default queue may not grow into a VM queue's pair.
    assert_eq!(refused(&mut model, |m| m.set_filter(&vlan_only(0, 11, 8))), INVALID);
    assert_eq!(refused(&mut model, |m| m.set_filter(&tagged(0, 11, mac(2), 8))), INVALID);
    model.set_filter(&tagged(0, 11, mac(2), 12)).unwrap();
}

#[test]
fn filters_the_82576_cannot_express_are_refused() {
    let mut model = vmq(7);
    model.allocate_queue(5, cpu(0)).unwrap();
    let no_tag = SetFilterRequest { untagged_or_zero: false, ..untagged(5, 1, mac(1)) };
    assert_eq!(refused(&mut model, |m| m.set_filter(&no_tag)), INVALID, "MAC without a tag test");
    let nothing = SetFilterRequest { mac: None, ..no_tag };
    assert_eq!(refused(&mut model, |m| m.set_filter(&nothing)), INVALID, "no test");
    let both = SetFilterRequest { vlan: Some(5), ..untagged(5, 1, mac(1)) };
    assert_eq!(refused(&mut model, |m| m.set_filter(&both)), INVALID, "untagged and VLAN 5");
    let flag_alone = SetFilterRequest { mac: None, ..untagged(5, 1, mac(1)) };
    assert_eq!(refused(&mut model, |m| m.set_filter(&flag_alone)), INVALID);
    assert_eq!(refused(&mut model, |m| m.set_filter(&vlan_only(5, 1, 5))), INVALID, "VLAN alone");
    let multicast = [0x01, 0x00, 0x5E, 0, 0, 1];
    assert_eq!(refused(&mut model, |m| m.set_filter(&untagged(5, 1, multicast))), INVALID);
    assert_eq!(refused(&mut model, |m| m.set_filter(&untagged(0, 1, [0xFF; 6]))), INVALID);
    assert_eq!(refused(&mut model, |m| m.set_filter(&untagged(5, 1, ADAPTER))), INVALID);
    for vlan in [0, 4095] {
        assert_eq!(refused(&mut model, |m| m.set_filter(&tagged(5, 1, mac(1), vlan))), INVALID);
    }
    assert_eq!(
        refused(&mut model, |m| m.set_filter(&untagged(6, 1, mac(1)))),
        INVALID,
        "no queue 6"
    );
    model.set_filter(&untagged(5, 1, mac(1))).unwrap();
    assert_eq!(
        refused(&mut model, |m| m.set_filter(&untagged(0, 1, mac(2)))),
        INVALID,
        "id in use"
    );

    let mut plain = Vmq::new(VmqConfig { queues: 7, vlan_filtering: false, adapter_mac: ADAPTER });
    plain.allocate_queue(5, cpu(0)).unwrap();
    assert_eq!(refused(&mut plain, |m| m.set_filter(&tagged(5, 1, mac(1), 5))), INVALID);
    plain.set_filter(&untagged(5, 1, mac(1))).unwrap();
}

#[test]
fn slots_run_out() {
    // 23 receive addresses.
    let mut model = vmq(7);
    for n in 0..23 {
        model.set_filter(&untagged(0, u32::from(n), mac(n))).unwrap();
    }
    assert_eq!(model.free_receive_addresses(), 0);
    assert_eq!(refused(&mut model, |m| m.set_filter(&untagged(0, 99, mac(99)))), RESOURCES);
    model.set_filter(&tagged(0, 99, mac(3), 5)).unwrap();
    let used: BTreeSet<u32> = model.filters().filter_map(|f| f.receive_address).collect();
    assert_eq!(used, (1..=23).collect());

    // 32 VLAN filters.
    let mut model = vmq(7);
    for vlan in 1..=32 {
        model.set_filter(&vlan_only(0, u32::from(vlan), vlan)).unwrap();
    }
    assert_eq!(model.free_vlan_filters(), 0);
    assert_eq!(refused(&mut model, |m| m.set_filter(&vlan_only(0, 99, 33))), RESOURCES);
    model.set_filter(&tagged(0, 99, mac(1), 32)).unwrap();

    // 64 filter records (the same pair again and again).
    let mut model = vmq(7);
    for id in 0..64 {
        model.set_filter(&untagged(0, id, mac(1))).unwrap();
    }
    assert_eq!(refused(&mut model, |m| m.set_filter(&untagged(0, 64, mac(1)))), RESOURCES);
    // An invalid request is INVALID_PARAMETER even when the tables are full.
    assert_eq!(refused(&mut model, |m| m.set_filter(&untagged(0, 63, mac(1)))), INVALID);
}

#[test]
fn clear_filter_never_fails() {
    let mut model = vmq(7);
    model.allocate_queue(5, cpu(0)).unwrap();
    model.set_filter(&untagged(5, 1, mac(1))).unwrap();
    let before = model.clone();
    assert_eq!(model.clear_filter(5, 2), ClearOutcome::UnknownFilter);
    assert_eq!(model.clear_filter(0, 1), ClearOutcome::WrongQueue { filter_queue: 5 });
    assert_eq!(model, before);
    assert_eq!(
        model.clear_filter(5, 1),
        ClearOutcome::Cleared { queue_state: Some(QueueState::Allocated) }
    );
    assert_eq!(model.clear_filter(5, 1), ClearOutcome::UnknownFilter);
}

#[test]
fn vmq_off() {
    let mut model = vmq(0);
    assert!(!model.is_enabled());
    assert_eq!(refused(&mut model, |m| m.allocate_queue(5, cpu(0))), NDIS_STATUS_NOT_SUPPORTED);
    assert_eq!(
        refused(&mut model, |m| m.set_filter(&untagged(0, 1, mac(1)))),
        NDIS_STATUS_NOT_SUPPORTED
    );
    assert_eq!(refused(&mut model, |m| m.set_enabled(true)), INVALID, "no queue advertised");
    model.set_enabled(false).unwrap();

    let mut model = vmq(2);
    assert!(model.is_enabled());
    model.set_filter(&untagged(0, 1, mac(1))).unwrap();
    assert_eq!(refused(&mut model, |m| m.set_enabled(false)), INVALID, "a filter exists");
    model.clear_filter(0, 1);
    model.allocate_queue(5, cpu(0)).unwrap();
    assert_eq!(refused(&mut model, |m| m.set_enabled(false)), INVALID, "a queue exists");
    model.free_queue(5).unwrap();
    model.dma_stopped(5).unwrap();
    model.freed(5).unwrap();
    model.set_enabled(false).unwrap();
    assert_eq!(refused(&mut model, |m| m.allocate_queue(5, cpu(0))), NDIS_STATUS_NOT_SUPPORTED);
    model.set_enabled(true).unwrap();
    assert_eq!(model.allocate_queue(5, cpu(0)), Ok(1));
}

// ---- The image, its diff, and applying it ----------------------------------------------------------

#[test]
fn the_first_diff_sets_the_vm_pools_options() {
    let changes: Vec<RegisterChange> =
        HardwareImage::AFTER_CONFIGURE_VMDQ.diff(&vmq(7).hardware()).collect();
    let expected: Vec<RegisterChange> = (1..=7)
        .map(|pool| RegisterChange::PoolOptions { pool, options: vm_pool_options(false) })
        .collect();
    assert_eq!(changes, expected);
    assert_eq!(vmq(7).hardware().diff(&vmq(7).hardware()).count(), 0);
}

#[test]
fn the_diff_stops_receiving_first_and_starts_last() {
    let mut model = vmq(7);
    model.allocate_queue(5, cpu(0)).unwrap();
    model.allocation_complete(5).unwrap();
    model.set_filter(&tagged(5, 1, mac(1), 100)).unwrap();
    let running = model.hardware();
    let changes: Vec<RegisterChange> = vmq(7).hardware().diff(&running).collect();
    assert_eq!(
        changes,
        [
            RegisterChange::ReceiveAddress {
                index: 1,
                address: Some(ReceiveAddress { mac: mac(1), pools: 0b10 })
            },
            RegisterChange::VlanFilter {
                slot: 0,
                entry: Some(VlanEntry { vlan: 100, pools: 0b10 })
            },
            RegisterChange::VlanTableWord { word: 3, value: 1 << 4 },
            RegisterChange::PoolReceive { pool: 1, enabled: true },
        ]
    );
    model.clear_filter(5, 1);
    let changes: Vec<RegisterChange> = running.diff(&model.hardware()).collect();
    assert_eq!(
        changes,
        [
            RegisterChange::PoolReceive { pool: 1, enabled: false },
            RegisterChange::ReceiveAddress { index: 1, address: None },
            RegisterChange::VlanFilter { slot: 0, entry: None },
            RegisterChange::VlanTableWord { word: 3, value: 0 },
        ]
    );
}

/// What the fake's VMDq registers must read for `image` (pool 0's VFRE bit set, as
/// `configure_vmdq` leaves it).
fn assert_registers_hold(fake: &FakeIgb, image: &HardwareImage) {
    for index in 1..24 {
        let (low, high) = match image.receive_address(index) {
            Some(ReceiveAddress { mac, pools }) => (
                u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
                u32::from(u16::from_le_bytes([mac[4], mac[5]])) | u32::from(pools) << 18 | 1 << 31,
            ),
            None => (0, 0),
        };
        assert_eq!((fake.get(RAL(index)), fake.get(RAH(index))), (low, high), "RAR {index}");
    }
    for slot in 0..32 {
        let value = image
            .vlan_filter(slot)
            .map_or(0, |e| 1 << 31 | u32::from(e.pools) << 12 | u32::from(e.vlan));
        assert_eq!(fake.get(VLVF(slot)), value, "VLVF {slot}");
    }
    for word in 0..128 {
        assert_eq!(fake.get(VFTA(word)), image.vlan_table_word(word), "VFTA {word}");
    }
    for pool in 1..8u8 {
        let options = image.pool_options(pool).unwrap();
        assert_eq!(fake.get(VMOLR(u32::from(pool))), options.vmolr(), "VMOLR {pool}");
    }
    assert_eq!(fake.get(VFRE), u32::from(image.receiving_pools()) | 1);
}

/// Registers that differ between two images, counted by hand: the size of a minimal diff.
fn registers_that_differ(a: &HardwareImage, b: &HardwareImage) -> usize {
    let rars = (1..24).filter(|&i| a.receive_address(i) != b.receive_address(i)).count();
    let vlvfs = (0..32).filter(|&s| a.vlan_filter(s) != b.vlan_filter(s)).count();
    let words = (0..128).filter(|&w| a.vlan_table_word(w) != b.vlan_table_word(w)).count();
    let options = (1..8).filter(|&p| a.pool_options(p) != b.pool_options(p)).count();
    let receive = (a.receiving_pools() ^ b.receiving_pools()).count_ones() as usize;
    rars + vlvfs + words + options + receive
}

/// Every bit of an image as a fact, so that two images compare as sets.
fn facts(image: &HardwareImage) -> BTreeSet<(&'static str, u32, u16, u8)> {
    let mut facts = BTreeSet::new();
    for pool in 0..8u8 {
        for (index, address) in image.receive_addresses() {
            if address.pools & 1 << pool != 0 {
                let mac = u16::from_le_bytes([address.mac[4], address.mac[5]]);
                facts.insert(("rar", index, mac, pool));
            }
        }
        for (slot, entry) in image.vlan_filters() {
            if entry.pools & 1 << pool != 0 {
                facts.insert(("vlvf", slot, entry.vlan, pool));
            }
        }
        if image.pool_options(pool).is_some_and(|o| o.accept_untagged) {
            facts.insert(("aupe", 0, 0, pool));
        }
        if image.receiving_pools() & 1 << pool != 0 {
            facts.insert(("vfre", 0, 0, pool));
        }
    }
    for word in 0..128u16 {
        let value = image.vlan_table_word(u32::from(word));
        if value == 0 {
            continue;
        }
        for bit in (0..32).filter(|bit| value & 1 << bit != 0) {
            facts.insert(("vfta", 0, word * 32 + bit, 0));
        }
    }
    facts
}

// ---- The reference model ------------------------------------------------------------------------

/// The model, restated with sets and maps and without slots: what a queue's state is, which
/// filters exist, and from that what the device must accept.
#[derive(Clone, Debug)]
struct Reference {
    enabled: bool,
    capacity: usize,
    vlan_filtering: bool,
    queues: BTreeMap<u32, (QueueState, u8, Processor)>,
    filters: BTreeMap<u32, (u32, Option<[u8; 6]>, FilterTag)>,
}

type Pair = ([u8; 6], FilterTag);

impl Reference {
    fn new(queues: u32, vlan_filtering: bool) -> Self {
        Self {
            enabled: queues > 0,
            capacity: (queues as usize).min(7),
            vlan_filtering,
            queues: BTreeMap::new(),
            filters: BTreeMap::new(),
        }
    }

    fn pool(&self, queue: u32) -> u8 {
        if queue == 0 { 0 } else { self.queues[&queue].1 }
    }

    fn running_pools(&self) -> u8 {
        self.queues.values().filter(|q| q.0 == QueueState::Running).fold(0, |m, q| m | 1 << q.1)
    }

    /// What each pool with filters (and pool 0) accepts on the device: its MACs × its tags.
    fn accepted(
        filters: &BTreeMap<u32, (u32, Option<[u8; 6]>, FilterTag)>,
        pools: &BTreeMap<u32, u8>,
    ) -> BTreeMap<u8, BTreeSet<Pair>> {
        let mut macs: BTreeMap<u8, BTreeSet<[u8; 6]>> = BTreeMap::new();
        let mut tags: BTreeMap<u8, BTreeSet<FilterTag>> = BTreeMap::new();
        macs.entry(0).or_default().insert(ADAPTER);
        tags.entry(0).or_default().insert(FilterTag::Untagged);
        for (queue, mac, tag) in filters.values() {
            let pool = pools[queue];
            if let Some(mac) = mac {
                macs.entry(pool).or_default().insert(*mac);
            }
            tags.entry(pool).or_default().insert(*tag);
        }
        macs.iter()
            .map(|(pool, macs)| {
                let tags = tags.get(pool).cloned().unwrap_or_default();
                (*pool, macs.iter().flat_map(|m| tags.iter().map(move |t| (*m, *t))).collect())
            })
            .collect()
    }

    fn pairs_of(
        filters: &BTreeMap<u32, (u32, Option<[u8; 6]>, FilterTag)>,
        pools: &BTreeMap<u32, u8>,
        pool: u8,
    ) -> BTreeSet<Pair> {
        filters.values().filter(|f| pools[&f.0] == pool).filter_map(|f| Some((f.1?, f.2))).collect()
    }

    fn expressible(&self, filters: &BTreeMap<u32, (u32, Option<[u8; 6]>, FilterTag)>) -> bool {
        let mut pools: BTreeMap<u32, u8> = self.queues.iter().map(|(id, q)| (*id, q.1)).collect();
        pools.insert(0, 0);
        let accepted = Self::accepted(filters, &pools);
        let exact = accepted
            .iter()
            .filter(|(pool, _)| **pool != 0)
            .all(|(pool, set)| *set == Self::pairs_of(filters, &pools, *pool));
        let sets: Vec<&BTreeSet<Pair>> = accepted.values().collect();
        let disjoint =
            sets.iter().enumerate().all(|(i, a)| sets[i + 1..].iter().all(|b| a.is_disjoint(b)));
        exact && disjoint
    }

    fn set_filter(&mut self, request: &SetFilterRequest) -> Result<(), NDIS_STATUS> {
        if !self.enabled {
            return Err(NDIS_STATUS_NOT_SUPPORTED);
        }
        if self.filters.contains_key(&request.filter_id) {
            return Err(INVALID);
        }
        let tag = match (request.mac, request.vlan, request.untagged_or_zero) {
            (Some(_), None, true) => FilterTag::Untagged,
            (_, Some(vlan), false) if self.vlan_filtering && (1..=4094).contains(&vlan) => {
                FilterTag::Vlan(vlan)
            }
            _ => return Err(INVALID),
        };
        if request.mac.is_some_and(|m| m[0] & 1 == 1) {
            return Err(INVALID);
        }
        if request.queue_id != 0 {
            let Some(queue) = self.queues.get(&request.queue_id) else { return Err(INVALID) };
            let settable =
                [QueueState::Allocated, QueueState::Set, QueueState::Running, QueueState::Paused];
            if !settable.contains(&queue.0) || request.mac.is_none() || request.mac == Some(ADAPTER)
            {
                return Err(INVALID);
            }
        }
        let mut filters = self.filters.clone();
        filters.insert(request.filter_id, (request.queue_id, request.mac, tag));
        if !self.expressible(&filters) {
            return Err(INVALID);
        }
        let macs: BTreeSet<[u8; 6]> =
            filters.values().filter_map(|f| f.1).filter(|m| *m != ADAPTER).collect();
        let vlans: BTreeSet<FilterTag> =
            filters.values().map(|f| f.2).filter(|t| *t != FilterTag::Untagged).collect();
        if filters.len() > 64 || macs.len() > 23 || vlans.len() > 32 {
            return Err(RESOURCES);
        }
        self.filters = filters;
        if let Some(queue) = self.queues.get_mut(&request.queue_id) {
            queue.0 = match queue.0 {
                QueueState::Allocated => QueueState::Set,
                QueueState::Paused => QueueState::Running,
                same => same,
            };
        }
        Ok(())
    }

    fn clear_filter(&mut self, queue_id: u32, filter_id: u32) -> ClearOutcome {
        let Some(filter) = self.filters.get(&filter_id).copied() else {
            return ClearOutcome::UnknownFilter;
        };
        if filter.0 != queue_id {
            return ClearOutcome::WrongQueue { filter_queue: filter.0 };
        }
        self.filters.remove(&filter_id);
        if queue_id == 0 {
            return ClearOutcome::Cleared { queue_state: None };
        }
        let last = !self.filters.values().any(|f| f.0 == queue_id);
        let queue = self.queues.get_mut(&queue_id).unwrap();
        queue.0 = match (queue.0, last) {
            (QueueState::Set, true) => QueueState::Allocated,
            (QueueState::Running, true) => QueueState::Paused,
            (same, _) => same,
        };
        ClearOutcome::Cleared { queue_state: Some(queue.0) }
    }

    /// Moves queue `id` from one of `from` to `to`.
    fn step(&mut self, id: u32, from: &[QueueState], to: QueueState) -> Result<u8, NDIS_STATUS> {
        match self.queues.get_mut(&id) {
            Some(queue) if id != 0 && from.contains(&queue.0) => {
                queue.0 = to;
                Ok(queue.1)
            }
            _ => Err(INVALID),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Allocate(u32, u8),
    SetFilter(SetFilterRequest),
    /// CLEAR_FILTER as NDIS sends it: the filter's own queue (from the reference; 0 for an
    /// unknown filter).
    Clear(u32),
    /// CLEAR_FILTER naming some queue.
    ClearOn(u32, u32),
    Complete(u32),
    Free(u32),
    DmaStopped(u32),
    Freed(u32),
    SetProcessor(u32, u8),
    Enable(bool),
}

/// The shape of a random operation sequence.
#[derive(Clone, Copy, Debug)]
struct Profile {
    /// Distinct unicast MACs.
    macs: u8,
    /// Filter ids 0..filter_ids.
    filter_ids: u32,
    /// Probability that a filter has no MAC test.
    no_mac: f64,
    /// Probability that a filter has a VLAN test.
    vlan: f64,
    /// Weight of SET_FILTER against everything else.
    set_filter: u32,
    /// Weight of CLEAR_FILTER.
    clear: u32,
    /// Weight of the default queue among the 8 queue ids a filter names.
    default_queue: u32,
    /// VLAN ids 1..vlans (and the invalid 0 and 4095).
    vlans: u16,
}

/// Few MACs and ids (many shared slots, many clears); crowded ones that run the receive-address
/// and the VLVF tables out.
#[rustfmt::skip]
const PROFILES: [Profile; 3] = [
    Profile { macs: 8, filter_ids: 24, no_mac: 0.1, vlan: 0.4, set_filter: 10, clear: 5, default_queue: 2, vlans: 48 },
    Profile { macs: 40, filter_ids: 96, no_mac: 0.5, vlan: 0.7, set_filter: 30, clear: 1, default_queue: 12, vlans: 48 },
    Profile { macs: 40, filter_ids: 96, no_mac: 0.8, vlan: 0.95, set_filter: 40, clear: 1, default_queue: 20, vlans: 40 },
];

fn any_mac(profile: Profile) -> impl Strategy<Value = [u8; 6]> {
    prop_oneof![
        2 => Just(ADAPTER),
        1 => Just([0x01, 0x00, 0x5E, 0x00, 0x00, 0x01]),
        30 => (1..=profile.macs).prop_map(mac),
    ]
}

fn any_op(profile: Profile) -> impl Strategy<Value = Op> {
    let queue = 0u32..8;
    let vlan = prop_oneof![1 => Just(0u16), 1 => Just(4095u16), 20 => 1..profile.vlans];
    let filter = (
        prop_oneof![profile.default_queue => Just(0u32), 7 => 1u32..8],
        0..profile.filter_ids,
        proptest::option::weighted(1.0 - profile.no_mac, any_mac(profile)),
        proptest::option::weighted(profile.vlan, vlan),
        // Mostly the flag NDIS sets (with a MAC and no VLAN), sometimes the wrong one.
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(queue_id, filter_id, mac, vlan, odd_flag)| {
            let untagged_or_zero = (mac.is_some() && vlan.is_none()) != odd_flag;
            Op::SetFilter(SetFilterRequest { queue_id, filter_id, mac, vlan, untagged_or_zero })
        });
    prop_oneof![
        3 => (queue.clone(), 0u8..4).prop_map(|(q, c)| Op::Allocate(q, c)),
        profile.set_filter => filter,
        profile.clear => (0..profile.filter_ids).prop_map(Op::Clear),
        1 => (queue.clone(), 0..profile.filter_ids).prop_map(|(q, f)| Op::ClearOn(q, f)),
        3 => queue.clone().prop_map(Op::Complete),
        2 => queue.clone().prop_map(Op::Free),
        3 => queue.clone().prop_map(Op::DmaStopped),
        3 => queue.clone().prop_map(Op::Freed),
        1 => (queue, 0u8..4).prop_map(|(q, c)| Op::SetProcessor(q, c)),
        1 => proptest::bool::weighted(0.8).prop_map(Op::Enable),
    ]
}

fn any_ops(length: core::ops::Range<usize>) -> impl Strategy<Value = Vec<Op>> {
    (0..PROFILES.len())
        .prop_flat_map(move |p| proptest::collection::vec(any_op(PROFILES[p]), length.clone()))
}

/// Applies `op` to both; checks that they agree and that an error changed nothing.
fn run(model: &mut Vmq, reference: &mut Reference, op: &Op) -> Result<(), TestCaseError> {
    let before = model.clone();
    let (got, expected): (Result<u8, NDIS_STATUS>, Result<u8, NDIS_STATUS>) = match *op {
        Op::Allocate(id, c) => {
            let got = model.allocate_queue(id, cpu(c));
            let expected = if !reference.enabled {
                Err(NDIS_STATUS_NOT_SUPPORTED)
            } else if id == 0 || reference.queues.contains_key(&id) {
                Err(INVALID)
            } else if reference.queues.len() >= reference.capacity {
                Err(RESOURCES)
            } else {
                // The pool is the model's choice: free and a VM pool.
                let pool = got.unwrap_or(0);
                prop_assert!((1..=7).contains(&pool), "pool {}", pool);
                prop_assert!(reference.queues.values().all(|q| q.1 != pool), "pool {} twice", pool);
                reference.queues.insert(id, (QueueState::Allocated, pool, cpu(c)));
                Ok(pool)
            };
            (got, expected)
        }
        Op::SetFilter(request) => {
            (model.set_filter(&request).map(|()| 0), reference.set_filter(&request).map(|()| 0))
        }
        Op::Clear(f) => {
            let q = reference.filters.get(&f).map_or(0, |filter| filter.0);
            prop_assert_eq!(model.clear_filter(q, f), reference.clear_filter(q, f));
            (Ok(0), Ok(0))
        }
        Op::ClearOn(q, f) => {
            prop_assert_eq!(model.clear_filter(q, f), reference.clear_filter(q, f));
            (Ok(0), Ok(0))
        }
        Op::Complete(id) => {
            let got = model.allocation_complete(id).map(|_| 0);
            let expected = match reference.queues.get(&id).map(|q| q.0) {
                Some(QueueState::Set) => {
                    reference.step(id, &[QueueState::Set], QueueState::Running)
                }
                _ => reference.step(id, &[QueueState::Allocated], QueueState::Paused),
            };
            (got, expected.map(|_| 0))
        }
        Op::Free(id) => (
            model.free_queue(id),
            reference.step(id, &[QueueState::Allocated, QueueState::Paused], QueueState::StopDma),
        ),
        Op::DmaStopped(id) => (
            model.dma_stopped(id).map(|()| 0),
            reference.step(id, &[QueueState::StopDma], QueueState::Freeing).map(|_| 0),
        ),
        Op::Freed(id) => {
            let expected = match reference.queues.get(&id) {
                Some(q) if id != 0 && q.0 == QueueState::Freeing => {
                    Ok(reference.queues.remove(&id).unwrap().1)
                }
                _ => Err(INVALID),
            };
            (model.freed(id), expected)
        }
        Op::SetProcessor(id, c) => {
            let live =
                [QueueState::Allocated, QueueState::Set, QueueState::Running, QueueState::Paused];
            let expected = match reference.queues.get_mut(&id) {
                Some(q) if id != 0 && live.contains(&q.0) => {
                    q.2 = cpu(c);
                    Ok(0)
                }
                _ => Err(INVALID),
            };
            (model.set_processor(id, cpu(c)).map(|()| 0), expected)
        }
        Op::Enable(on) => {
            let expected = if (on && reference.capacity == 0)
                || (!on && (!reference.queues.is_empty() || !reference.filters.is_empty()))
            {
                Err(INVALID)
            } else {
                reference.enabled = on;
                Ok(0)
            };
            (model.set_enabled(on).map(|()| 0), expected)
        }
    };
    prop_assert_eq!(got, expected, "{:?}", op);
    if got.is_err() {
        prop_assert_eq!(&*model, &before, "an error changed the model: {:?}", op);
    }
    Ok(())
}

/// Everything the model reports agrees with the reference, and the image makes the device
/// accept exactly what the filters say.
fn check(model: &Vmq, reference: &Reference) -> Result<(), TestCaseError> {
    // Queues.
    prop_assert_eq!(model.queues().count(), reference.queues.len());
    for (id, (state, pool, processor)) in &reference.queues {
        let filters = reference.filters.values().filter(|f| f.0 == *id).count();
        let expected =
            QueueInfo { id: *id, pool: *pool, state: *state, processor: *processor, filters };
        prop_assert_eq!(model.queue(*id), Some(expected));
    }
    prop_assert_eq!(model.receiving_pools(), reference.running_pools());

    // Filters and their slots: one receive address per distinct MAC, one VLVF slot per VLAN.
    prop_assert_eq!(model.filters().count(), reference.filters.len());
    let mut rar_of: BTreeMap<[u8; 6], u32> = BTreeMap::new();
    let mut vlvf_of: BTreeMap<u16, u32> = BTreeMap::new();
    for (id, (queue, mac, tag)) in &reference.filters {
        let info = model.filter(*id).unwrap();
        prop_assert_eq!(
            (info.queue_id, info.pool, info.mac, info.tag),
            (*queue, reference.pool(*queue), *mac, *tag)
        );
        match (mac, info.receive_address) {
            (Some(mac), Some(index)) if *mac != ADAPTER => {
                prop_assert!((1..=23).contains(&index));
                prop_assert_eq!(*rar_of.entry(*mac).or_insert(index), index);
            }
            (Some(mac), None) => prop_assert_eq!(*mac, ADAPTER),
            (None, None) => {}
            other => prop_assert!(false, "receive address {:?}", other),
        }
        match (tag, info.vlan_filter) {
            (FilterTag::Vlan(vlan), Some(slot)) => {
                prop_assert!(slot < 32);
                prop_assert_eq!(*vlvf_of.entry(*vlan).or_insert(slot), slot);
            }
            (FilterTag::Untagged, None) => {}
            other => prop_assert!(false, "VLAN filter {:?}", other),
        }
    }
    let distinct_rars: BTreeSet<u32> = rar_of.values().copied().collect();
    let distinct_vlvfs: BTreeSet<u32> = vlvf_of.values().copied().collect();
    prop_assert_eq!(distinct_rars.len(), rar_of.len(), "a receive address used twice");
    prop_assert_eq!(distinct_vlvfs.len(), vlvf_of.len(), "a VLVF slot used twice");
    prop_assert_eq!(model.free_receive_addresses() as usize, 23 - rar_of.len());
    prop_assert_eq!(model.free_vlan_filters() as usize, 32 - vlvf_of.len());

    check_image(&model.hardware(), reference)
}

/// The image, as sets, agrees with the reference's filters, and the device it describes
/// accepts exactly what the filters say.
fn check_image(image: &HardwareImage, reference: &Reference) -> Result<(), TestCaseError> {
    let active = reference.running_pools() | 1;
    let mut rars: BTreeMap<[u8; 6], u8> = BTreeMap::new();
    let mut vlans: BTreeMap<u16, u8> = BTreeMap::new();
    for (queue, mac, tag) in reference.filters.values() {
        let bit = 1 << reference.pool(*queue) & active;
        if let Some(mac) = mac.filter(|m| *m != ADAPTER) {
            *rars.entry(mac).or_default() |= bit;
        }
        if let FilterTag::Vlan(vlan) = tag {
            *vlans.entry(*vlan).or_default() |= bit;
        }
    }
    let expected_rars: BTreeSet<(u8, [u8; 6])> =
        rars.iter().filter(|e| *e.1 != 0).map(|(m, p)| (*p, *m)).collect();
    let image_rars: Vec<(u8, [u8; 6])> =
        image.receive_addresses().map(|(_, a)| (a.pools, a.mac)).collect();
    prop_assert_eq!(image_rars.iter().copied().collect::<BTreeSet<_>>(), expected_rars);
    prop_assert_eq!(
        image_rars.len(),
        rars.values().filter(|p| **p != 0).count(),
        "a MAC in two registers"
    );
    prop_assert!(image.receive_addresses().all(|(i, _)| (1..=23).contains(&i)));
    let expected_vlans: BTreeSet<(u8, u16)> =
        vlans.iter().filter(|e| *e.1 != 0).map(|(v, p)| (*p, *v)).collect();
    let image_vlans: Vec<(u8, u16)> =
        image.vlan_filters().map(|(_, e)| (e.pools, e.vlan)).collect();
    prop_assert_eq!(image_vlans.iter().copied().collect::<BTreeSet<_>>(), expected_vlans.clone());
    prop_assert_eq!(image_vlans.len(), expected_vlans.len(), "a VLAN in two slots");
    let mut table: BTreeSet<u16> = BTreeSet::new();
    for word in 0..128u16 {
        let value = image.vlan_table_word(u32::from(word));
        if value == 0 {
            continue;
        }
        table.extend((0..32).filter(|bit| value & 1 << bit != 0).map(|bit| word * 32 + bit));
    }
    prop_assert!(table.iter().all(|vlan| image.vlan_table_accepts(*vlan)));
    prop_assert_eq!(table, expected_vlans.iter().map(|e| e.1).collect::<BTreeSet<_>>());
    for pool in 1..=7u8 {
        let untagged = reference
            .filters
            .values()
            .any(|f| reference.pool(f.0) == pool && f.2 == FilterTag::Untagged);
        prop_assert_eq!(image.pool_options(pool), Some(vm_pool_options(untagged)));
    }
    prop_assert_eq!(image.receiving_pools(), reference.running_pools());

    check_accepted(image, reference)
}

/// What the device accepts with `image`: each active pool p takes the MACs of the RARs naming
/// p (pool 0 also the adapter's) × the VLANs of the VLVFs naming p, plus untagged frames if p
/// has AUPE (pool 0 always). Running VM pools must accept exactly their filters' pairs, and no
/// frame may reach two pools.
fn check_accepted(image: &HardwareImage, reference: &Reference) -> Result<(), TestCaseError> {
    let active = reference.running_pools() | 1;
    let mut accepted: BTreeMap<u8, BTreeSet<Pair>> = BTreeMap::new();
    for pool in (0..8u8).filter(|p| active & 1 << p != 0) {
        let mut macs: BTreeSet<[u8; 6]> = image
            .receive_addresses()
            .filter(|(_, a)| a.pools & 1 << pool != 0)
            .map(|(_, a)| a.mac)
            .collect();
        let mut tags: BTreeSet<FilterTag> = image
            .vlan_filters()
            .filter(|(_, e)| e.pools & 1 << pool != 0)
            .map(|(_, e)| FilterTag::Vlan(e.vlan))
            .collect();
        let aupe = image.pool_options(pool).is_none_or(|o: PoolOptions| o.accept_untagged);
        if pool == 0 {
            macs.insert(ADAPTER);
        }
        if aupe {
            tags.insert(FilterTag::Untagged);
        }
        accepted
            .insert(pool, macs.iter().flat_map(|m| tags.iter().map(move |t| (*m, *t))).collect());
    }
    for (pool, set) in accepted.iter().filter(|(p, _)| **p != 0) {
        let pairs: BTreeSet<Pair> = reference
            .filters
            .values()
            .filter(|f| reference.pool(f.0) == *pool)
            .filter_map(|f| Some((f.1?, f.2)))
            .collect();
        prop_assert_eq!(set, &pairs, "pool {} accepts more or less than its filters", pool);
    }
    let sets: Vec<&BTreeSet<Pair>> = accepted.values().collect();
    for (i, a) in sets.iter().enumerate() {
        for b in &sets[i + 1..] {
            prop_assert!(a.is_disjoint(b), "a frame reaches two pools");
        }
    }
    Ok(())
}

proptest! {
    // Each case runs up to 300 operations with a full comparison after each one.
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_model_agrees_with_the_reference(
        queues in 0u32..9,
        vlan_filtering in proptest::bool::weighted(0.8),
        ops in any_ops(1..300),
    ) {
        let config = VmqConfig { queues, vlan_filtering, adapter_mac: ADAPTER };
        let mut model = Vmq::new(config);
        let mut reference = Reference::new(queues, vlan_filtering);
        check(&model, &reference)?;
        for op in &ops {
            run(&mut model, &mut reference, op)?;
            check(&model, &reference)?;
        }
    }

    #[test]
    fn applying_each_diff_leaves_the_device_holding_the_image(
        ops in any_ops(1..100),
    ) {
        let fake = FakeIgb::new(ADAPTER);
        crate::hw::igb::configure_vmdq(&fake, 0).unwrap();
        let mut model = vmq(7);
        let mut reference = Reference::new(7, true);
        // What the glue does once after configure_vmdq.
        let mut applied = model.hardware();
        for change in HardwareImage::AFTER_CONFIGURE_VMDQ.diff(&applied) {
            change.apply(&fake).unwrap();
        }
        assert_registers_hold(&fake, &applied);
        for op in &ops {
            run(&mut model, &mut reference, op)?;
            let next = model.hardware();
            // One operation only sets bits or only clears them (see `HardwareImage::diff`).
            let (old, new) = (facts(&applied), facts(&next));
            prop_assert!(old.is_subset(&new) || new.is_subset(&old), "{:?} set and cleared bits", op);
            let changes: Vec<RegisterChange> = applied.diff(&next).collect();
            prop_assert_eq!(changes.len(), registers_that_differ(&applied, &next), "not minimal");
            for change in changes {
                change.apply(&fake).unwrap();
            }
            assert_registers_hold(&fake, &next);
            applied = next;
        }
    }
}
