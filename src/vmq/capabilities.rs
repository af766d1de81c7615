//! The receive-filter capabilities MiniportInitializeEx reports in its hardware-assist
//! attributes (spec §2.1): the **hardware** capabilities, always in full, and the **current**
//! ones, which the interrupt plan and the `*VMQ` / `*VMQVlanFiltering` keywords decide; and the
//! configuration of the VMQ model, taken from the current capabilities so that the model accepts
//! exactly what the adapter advertises.

use crate::hw::igb::RarSlots;
use crate::interrupt::plan::InterruptPlan;
use crate::ndis::{
    NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT, NDIS_RECEIVE_FILTER_CAPABILITIES,
    NDIS_RECEIVE_FILTER_CAPABILITIES_REVISION_2,
    NDIS_RECEIVE_FILTER_DYNAMIC_PROCESSOR_AFFINITY_CHANGE_SUPPORTED,
    NDIS_RECEIVE_FILTER_INTERRUPT_VECTOR_COALESCING_SUPPORTED,
    NDIS_RECEIVE_FILTER_MAC_HEADER_DEST_ADDR_SUPPORTED, NDIS_RECEIVE_FILTER_MAC_HEADER_SUPPORTED,
    NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED, NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED,
    NDIS_RECEIVE_FILTER_TEST_HEADER_FIELD_EQUAL_SUPPORTED, NDIS_RECEIVE_FILTER_VM_QUEUE_SUPPORTED,
    NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED, NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED,
    NDIS_SIZEOF_RECEIVE_FILTER_CAPABILITIES_REVISION_2,
};
use crate::vmq::keywords::Configuration;
use crate::vmq::model::VmqConfig;

/// What the NIC can do for VMQ, independent of the grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmqHardware {
    /// VM queues besides the default queue (82576 in VMDq mode: 8 pools − the default = 7).
    pub queues: u32,
    /// Unicast MAC filters available to VM queues (receive-address registers minus the one
    /// holding the adapter's own address).
    pub mac_filters: u32,
    /// Whether the NIC can filter on VLAN id (82576: VLVF with per-pool selection).
    pub vlan_filtering: bool,
}

impl VmqHardware {
    /// The 82576 in VMDq mode, as the datasheet and QEMU have it (igb-qemu.md §4, spec §4.7):
    /// 8 pools (pool 0 is the default queue), 24 receive-address registers of which RAR0 holds
    /// the adapter's own MAC (so the free slots of a fresh [`RarSlots`], 23, are the MAC
    /// filters), 32 VLVF entries.
    pub const IGB_82576: Self =
        Self { queues: 7, mac_filters: RarSlots::new().available(), vlan_filtering: true };
}

/// The capabilities the hardware supports, reported in full whatever the grant and the
/// keywords: VM queues with MSI-X, dynamic affinity change and vector coalescing (both
/// mandatory for NDIS 6.30 VMQ), MAC destination and VLAN id equality tests, never lookahead
/// split.
#[must_use]
pub fn hardware_capabilities(hardware: VmqHardware) -> NDIS_RECEIVE_FILTER_CAPABILITIES {
    let mut mac_fields = NDIS_RECEIVE_FILTER_MAC_HEADER_DEST_ADDR_SUPPORTED;
    if hardware.vlan_filtering {
        mac_fields |= NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED;
    }
    NDIS_RECEIVE_FILTER_CAPABILITIES {
        Header: header(),
        Flags: 0,
        EnabledFilterTypes: NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED,
        EnabledQueueTypes: NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED,
        // Never more queues than MAC filters available to VMs.
        NumQueues: hardware.queues.min(hardware.mac_filters),
        SupportedQueueProperties: NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED
            | NDIS_RECEIVE_FILTER_VM_QUEUE_SUPPORTED
            | NDIS_RECEIVE_FILTER_DYNAMIC_PROCESSOR_AFFINITY_CHANGE_SUPPORTED
            | NDIS_RECEIVE_FILTER_INTERRUPT_VECTOR_COALESCING_SUPPORTED,
        SupportedFilterTests: NDIS_RECEIVE_FILTER_TEST_HEADER_FIELD_EQUAL_SUPPORTED,
        SupportedHeaders: NDIS_RECEIVE_FILTER_MAC_HEADER_SUPPORTED,
        SupportedMacHeaderFields: mac_fields,
        MaxMacHeaderFilters: hardware.mac_filters,
        ..NDIS_RECEIVE_FILTER_CAPABILITIES::default()
    }
}

/// The capabilities enabled now: the hardware capabilities with `NumQueues` lowered to what
/// the interrupt plan offers and `MaxMacHeaderFilters` the receive-address registers free for
/// filters (`hardware.mac_filters`: at Initialize nothing but RAR0 is taken), without
/// `NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED` when `*VMQVlanFiltering` is 0. When the
/// plan turns VMQ off, or `*VMQ` is 0: the header alone, every other field 0 (which is how NDIS
/// learns that VMQ is disabled).
#[must_use]
pub fn current_capabilities(
    hardware: VmqHardware,
    plan: &InterruptPlan,
    keywords: &Configuration,
) -> NDIS_RECEIVE_FILTER_CAPABILITIES {
    if !plan.vmq_enabled() || !keywords.vmq_enabled {
        return NDIS_RECEIVE_FILTER_CAPABILITIES {
            Header: header(),
            ..NDIS_RECEIVE_FILTER_CAPABILITIES::default()
        };
    }
    let enabled = VmqHardware {
        vlan_filtering: hardware.vlan_filtering && keywords.vlan_filtering,
        ..hardware
    };
    let full = hardware_capabilities(enabled);
    NDIS_RECEIVE_FILTER_CAPABILITIES { NumQueues: full.NumQueues.min(plan.vmq_queues), ..full }
}

/// The VMQ model's configuration for the `current` capabilities: as many queues as
/// `NumQueues`, VLAN filters exactly when `NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED` is
/// advertised. `None` when VMQ is off (`NumQueues` 0): then there is no model, and every
/// VM-queue OID is refused.
#[must_use]
pub fn model_config(
    current: &NDIS_RECEIVE_FILTER_CAPABILITIES,
    adapter_mac: [u8; 6],
) -> Option<VmqConfig> {
    (current.NumQueues > 0).then_some(VmqConfig {
        queues: current.NumQueues,
        vlan_filtering: current.SupportedMacHeaderFields
            & NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED
            != 0,
        adapter_mac,
    })
}

const fn header() -> NDIS_OBJECT_HEADER {
    NDIS_OBJECT_HEADER::new(
        NDIS_OBJECT_TYPE_DEFAULT,
        NDIS_RECEIVE_FILTER_CAPABILITIES_REVISION_2,
        NDIS_SIZEOF_RECEIVE_FILTER_CAPABILITIES_REVISION_2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::grant::{Grant, GrantedMessage, InterruptKind};
    use crate::interrupt::plan::plan_interrupts;
    use crate::ndis::NDIS_RECEIVE_FILTER_LOOKAHEAD_SPLIT_SUPPORTED;
    use std::vec::Vec;

    /// The keywords at their defaults: VMQ and VLAN filtering on.
    const ON: Configuration = Configuration::DEFAULT;

    fn msix_plan(receive_processors: u8, table: u16) -> InterruptPlan {
        let mut messages = std::vec![GrantedMessage { group: 0, affinity: u64::MAX }];
        messages
            .extend((0..receive_processors).map(|n| GrantedMessage { group: 0, affinity: 1 << n }));
        plan_interrupts(
            &Grant { kind: InterruptKind::MsiX, messages },
            Some(table),
            VmqHardware::IGB_82576.queues,
        )
    }

    #[test]
    fn hardware_capabilities_are_the_vmq_minimum_and_more() {
        let caps = hardware_capabilities(VmqHardware::IGB_82576);
        assert_eq!((caps.Header.Type, caps.Header.Revision, caps.Header.Size), (0x80, 2, 0x54));
        assert_ne!(caps.SupportedQueueProperties & NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED, 0);
        assert_ne!(
            caps.SupportedQueueProperties
                & NDIS_RECEIVE_FILTER_DYNAMIC_PROCESSOR_AFFINITY_CHANGE_SUPPORTED,
            0
        );
        assert_ne!(
            caps.SupportedQueueProperties
                & NDIS_RECEIVE_FILTER_INTERRUPT_VECTOR_COALESCING_SUPPORTED,
            0
        );
        assert_eq!(
            caps.SupportedQueueProperties & NDIS_RECEIVE_FILTER_LOOKAHEAD_SPLIT_SUPPORTED,
            0
        );
        assert_eq!((caps.MinLookaheadSplitSize, caps.MaxLookaheadSplitSize), (0, 0));
        assert_eq!(caps.NumQueues, 7);
        assert_eq!(caps.MaxMacHeaderFilters, 23, "24 RARs, RAR0 is the adapter's");
        assert!(caps.MaxMacHeaderFilters >= caps.NumQueues);
    }

    #[test]
    fn current_capabilities_follow_the_plan() {
        let hw = VmqHardware::IGB_82576;
        assert_eq!(current_capabilities(hw, &msix_plan(8, 10), &ON).NumQueues, 7);
        let three = current_capabilities(hw, &msix_plan(3, 10), &ON);
        assert_eq!((three.NumQueues, three.MaxMacHeaderFilters), (3, 23));
        let off = current_capabilities(hw, &msix_plan(0, 10), &ON);
        assert_eq!(
            off,
            NDIS_RECEIVE_FILTER_CAPABILITIES { Header: header(), ..Default::default() }
        );
        let fields: Vec<u32> =
            [off.NumQueues, off.SupportedQueueProperties, off.EnabledFilterTypes].to_vec();
        assert_eq!(fields, [0, 0, 0]);
    }

    #[test]
    fn vmq_keyword_off_leaves_only_the_header() {
        let hw = VmqHardware::IGB_82576;
        let keywords = Configuration { vmq_enabled: false, ..ON };
        let off = current_capabilities(hw, &msix_plan(8, 10), &keywords);
        assert_eq!(
            off,
            NDIS_RECEIVE_FILTER_CAPABILITIES { Header: header(), ..Default::default() }
        );
        assert_eq!(model_config(&off, [2; 6]), None);
        // The hardware capabilities do not change with the keywords.
        assert_eq!(hardware_capabilities(hw).NumQueues, 7);
    }

    #[test]
    fn vlan_filtering_keyword_off_clears_only_the_vlan_bit() {
        let hw = VmqHardware::IGB_82576;
        let on = current_capabilities(hw, &msix_plan(8, 10), &ON);
        let keywords = Configuration { vlan_filtering: false, ..ON };
        let off = current_capabilities(hw, &msix_plan(8, 10), &keywords);
        assert_ne!(
            on.SupportedMacHeaderFields & NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED,
            0
        );
        assert_eq!(
            off,
            NDIS_RECEIVE_FILTER_CAPABILITIES {
                SupportedMacHeaderFields: NDIS_RECEIVE_FILTER_MAC_HEADER_DEST_ADDR_SUPPORTED,
                ..on
            }
        );
        let model = model_config(&off, [2; 6]).unwrap();
        assert_eq!((model.queues, model.vlan_filtering), (7, false));
        let model = model_config(&on, [2; 6]).unwrap();
        assert_eq!((model.queues, model.vlan_filtering, model.adapter_mac), (7, true, [2; 6]));
    }

    #[test]
    fn model_config_follows_the_plan() {
        let hw = VmqHardware::IGB_82576;
        let three = current_capabilities(hw, &msix_plan(3, 10), &ON);
        assert_eq!(model_config(&three, [2; 6]).map(|c| c.queues), Some(3));
        let off = current_capabilities(hw, &msix_plan(0, 10), &ON);
        assert_eq!(model_config(&off, [2; 6]), None);
    }

    #[test]
    fn mac_filters_are_what_the_vmq_model_can_hand_out() {
        use crate::vmq::model::{Vmq, VmqConfig};
        let model = Vmq::new(VmqConfig { queues: 7, vlan_filtering: true, adapter_mac: [2; 6] });
        assert_eq!(VmqHardware::IGB_82576.mac_filters, model.free_receive_addresses());
        assert_eq!(VmqHardware::IGB_82576.mac_filters, crate::hw::igb::regs::NUM_RAR - 1);
    }

    #[test]
    fn queues_never_exceed_mac_filters() {
        let caps =
            hardware_capabilities(VmqHardware { queues: 8, mac_filters: 3, vlan_filtering: false });
        assert_eq!(caps.NumQueues, 3);
        assert_eq!(
            caps.SupportedMacHeaderFields,
            NDIS_RECEIVE_FILTER_MAC_HEADER_DEST_ADDR_SUPPORTED
        );
    }
}
