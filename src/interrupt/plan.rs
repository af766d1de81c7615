//! The interrupt plan: what the driver does with whatever PnP granted. Decided once in
//! MiniportInitializeEx, after NdisMRegisterInterruptEx, from the [`Grant`] and the MSI-X table
//! size; never from what FilterResourceRequirements asked for.
//!
//! # Policy for each grant
//!
//! | grant | who serves "other causes" (link, errors) | VMQ | queues offered |
//! |---|---|---|---|
//! | MSI-X, >= 2 messages, at least one of them on a single processor | the first message that does not target a single processor (the one FilterResourceRequirements left with PCI's policy), else message 0; table entry 0 | **on** | [`advertised_queue_count`] of the hardware's VM queues and the usable vectors (`min(T - 1, distinct receive processors)`) |
//! | MSI-X, fewer messages than RSS processors | as above | **on**, best effort: a queue whose processor has no message is served by the nearest processor that has one ([`super::binding`]) | as above |
//! | MSI-X, one message | message 0 serves everything | off | 0 |
//! | MSI-X, no message on a single processor | message 0 serves everything | off | 0 |
//! | MSI-X table of one entry (`T < 2`) | message 0 serves everything | off | 0 |
//! | MSI (any number of messages) | message 0 serves everything (all MSI messages share one affinity and there is no table to re-point) | off | 0 |
//! | one line-based interrupt (possibly shared) | the line ISR, which checks ownership in ICR | off | 0 |
//!
//! "Off" means the current receive-filter capabilities carry only their header (NDIS then
//! never sends a VMQ OID); the hardware capabilities are still reported in full, with
//! `NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED`, as the VMQ rules require. The default queue is always
//! served: by the first receive message (the most preferred RSS processor) when VMQ is on, and
//! by the one vector that serves everything otherwise.
//!
//! Enabling VMQ when fewer messages than processors were granted is a choice (the docs are
//! silent between "all" and "one"): vector coalescing and nearest-processor fallback keep every
//! queue working, only with its interrupts on a neighbouring processor, which NDIS tolerates
//! better than losing VMQ altogether.

use alloc::vec::Vec;

use super::Processor;
use super::binding::{self, Binder, BinderConfig, SetupError, advertised_queue_count};
use super::grant::{Grant, InterruptKind};

/// Why VMQ is not offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmqOff {
    /// A line-based interrupt: one vector for every cause.
    LineBased,
    /// MSI: one affinity for all messages, no table to re-point.
    Msi,
    /// MSI-X with a single message.
    SingleMessage,
    /// The device reported no usable MSI-X table (`T < 2`, or no capability).
    TableTooSmall,
    /// No granted message targets a single processor.
    NoReceiveMessage,
    /// The hardware has no VM queue to offer.
    NoHardwareQueues,
    /// The granted resources could not be parsed (inconsistent or truncated buffers from the
    /// OS): the driver runs on message 0 (or the line) for everything rather than failing
    /// Initialize.
    UnreadableGrant,
}

/// The plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterruptPlan {
    /// How the device interrupts.
    pub kind: InterruptKind,
    /// Granted messages (0 for a line-based interrupt).
    pub granted_messages: u32,
    /// The message serving other causes (and, when VMQ is off, everything). 0 for a line.
    pub other_message: u32,
    /// The MSI-X table entry routed to `other_message` (IVAR_MISC and, with VMQ off, every
    /// queue). Always 0.
    pub other_entry: u32,
    /// The target of each granted message (`None`: not a single processor).
    pub message_targets: Vec<Option<Processor>>,
    /// MSI-X table entries of the device (0 without MSI-X).
    pub table_entries: u32,
    /// The message serving the default queue: the first receive message when VMQ is on,
    /// `other_message` otherwise.
    pub default_queue_message: u32,
    /// VM queues offered (`NumQueues` of the current capabilities); 0 when VMQ is off.
    pub vmq_queues: u32,
    /// Why VMQ is off, if it is.
    pub vmq_off: Option<VmqOff>,
}

impl InterruptPlan {
    /// Whether VMQ is offered.
    #[must_use]
    pub const fn vmq_enabled(&self) -> bool {
        self.vmq_off.is_none()
    }

    /// The queue-to-entry binder for this plan (`None` when VMQ is off).
    ///
    /// # Errors
    /// [`SetupError`] only if the plan and the binder disagree about what is usable, or memory
    /// runs out.
    #[must_use]
    pub fn binder(&self) -> Option<Result<Binder, SetupError>> {
        self.vmq_enabled().then(|| Binder::new(&self.binder_config()))
    }

    fn binder_config(&self) -> BinderConfig<'_> {
        BinderConfig {
            message_targets: &self.message_targets,
            other_message: self.other_message,
            table_entries: self.table_entries,
            other_entry: self.other_entry,
            max_queues: usize::try_from(self.vmq_queues).unwrap_or(usize::MAX),
        }
    }
}

/// Plans interrupts for `grant`, on a device whose MSI-X table has `table_entries` entries
/// (`None`: no MSI-X capability) and which has `hardware_queues` VM queues besides the default
/// queue (82576 in VMDq mode: 8 pools, pool 0 for the default queue, so 7).
#[must_use]
pub fn plan_interrupts(
    grant: &Grant,
    table_entries: Option<u16>,
    hardware_queues: u32,
) -> InterruptPlan {
    let granted = u32::try_from(grant.messages.len()).unwrap_or(u32::MAX);
    let message_targets: Vec<Option<Processor>> =
        grant.messages.iter().map(super::grant::GrantedMessage::processor).collect();
    let table = u32::from(table_entries.unwrap_or(0));
    let off = |reason| InterruptPlan {
        kind: grant.kind,
        granted_messages: granted,
        other_message: 0,
        other_entry: 0,
        message_targets: message_targets.clone(),
        table_entries: table,
        default_queue_message: 0,
        vmq_queues: 0,
        vmq_off: Some(reason),
    };
    match grant.kind {
        InterruptKind::Line => return off(VmqOff::LineBased),
        InterruptKind::Msi => return off(VmqOff::Msi),
        InterruptKind::MsiX if granted < 2 => return off(VmqOff::SingleMessage),
        InterruptKind::MsiX => {}
    }
    if table < 2 {
        return off(VmqOff::TableTooSmall);
    }
    if hardware_queues == 0 {
        return off(VmqOff::NoHardwareQueues);
    }
    // Other causes: the message FilterResourceRequirements left with PCI's policy (the first
    // one without a single target), else message 0.
    let other_message = message_targets.iter().position(Option::is_none).unwrap_or(0);
    let receive: Vec<(usize, Processor)> = message_targets
        .iter()
        .enumerate()
        .filter(|(m, _)| *m != other_message)
        .filter_map(|(m, target)| Some((m, (*target)?)))
        .collect();
    let Some(&(first_receive, _)) = receive.first() else { return off(VmqOff::NoReceiveMessage) };
    let mut processors: Vec<Processor> = receive.iter().map(|(_, p)| *p).collect();
    processors.sort_unstable();
    processors.dedup();
    let distinct = u32::try_from(processors.len()).unwrap_or(u32::MAX);
    let usable_vectors = distinct.min(table - 1);
    let queues = advertised_queue_count(hardware_queues, usable_vectors);
    if queues == 0 {
        return off(VmqOff::NoReceiveMessage);
    }
    InterruptPlan {
        kind: grant.kind,
        granted_messages: granted,
        other_message: u32::try_from(other_message).unwrap_or(0),
        other_entry: 0,
        message_targets,
        table_entries: table,
        default_queue_message: u32::try_from(first_receive).unwrap_or(0),
        vmq_queues: queues,
        vmq_off: None,
    }
}

/// The plan when the grant itself could not be read: one vector for everything, VMQ off.
/// `message_based` says whether NdisMRegisterInterruptEx connected messages (message 0 then
/// serves everything) or a line.
#[must_use]
pub fn unreadable_grant_plan(message_based: bool) -> InterruptPlan {
    InterruptPlan {
        kind: if message_based { InterruptKind::Msi } else { InterruptKind::Line },
        granted_messages: u32::from(message_based),
        other_message: 0,
        other_entry: 0,
        message_targets: Vec::new(),
        table_entries: 0,
        default_queue_message: 0,
        vmq_queues: 0,
        vmq_off: Some(VmqOff::UnreadableGrant),
    }
}

/// Re-exported so the glue needs one import for the whole VMQ interrupt story.
pub use binding::minimum_vectors;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::grant::GrantedMessage;
    use proptest::prelude::*;
    use std::vec;

    fn msix(targets: &[(u16, u64)]) -> Grant {
        Grant {
            kind: InterruptKind::MsiX,
            messages: targets
                .iter()
                .map(|(group, affinity)| GrantedMessage { group: *group, affinity: *affinity })
                .collect(),
        }
    }

    fn p(group: u16, number: u8) -> Processor {
        Processor { group, number }
    }

    /// All messages granted: 8 receive processors plus the other-causes message on a NIC with
    /// 10 table entries and 7 VM queues.
    #[test]
    fn full_grant_offers_every_hardware_queue() {
        let mut targets = vec![(0u16, 0xFFu64)];
        targets.extend((0..8).map(|n| (0u16, 1u64 << n)));
        let plan = plan_interrupts(&msix(&targets), Some(10), 7);
        assert!(plan.vmq_enabled());
        assert_eq!(plan.other_message, 0);
        assert_eq!(plan.default_queue_message, 1);
        assert_eq!(plan.vmq_queues, 7);
        let mut binder = plan.binder().unwrap().unwrap();
        // Queue on processor 0:5 gets the message on that processor.
        let bound = binder.bind(1, p(0, 5)).unwrap();
        assert_eq!(bound.binding.message, 6);
        assert!(bound.binding.is_exact());
    }

    /// The seed's example: 8 processors, a NIC with 4 table entries. 9 messages are granted but
    /// only 3 entries remain for queues, so at most 3 queues can have a vector of their own.
    #[test]
    fn small_table_limits_the_queue_count() {
        let mut targets = vec![(0u16, 0xFFu64)];
        targets.extend((0..8).map(|n| (0u16, 1u64 << n)));
        let plan = plan_interrupts(&msix(&targets), Some(4), 7);
        assert_eq!(plan.vmq_queues, 3);
        assert_eq!(minimum_vectors(plan.vmq_queues), 3);
    }

    /// Fewer messages than processors (3 of 8 granted, 2 receive): VMQ stays on with 2 queues
    /// and best-effort affinity.
    #[test]
    fn fewer_messages_than_processors() {
        let plan = plan_interrupts(&msix(&[(0, 0xFF), (0, 1 << 0), (0, 1 << 1)]), Some(10), 7);
        assert!(plan.vmq_enabled());
        assert_eq!(plan.vmq_queues, 2);
        let mut binder = plan.binder().unwrap().unwrap();
        let far = binder.bind(5, p(0, 6)).unwrap();
        assert_eq!(far.binding.served, p(0, 1), "nearest processor with a message");
        assert!(!far.binding.is_exact());
    }

    #[test]
    fn degraded_grants_turn_vmq_off() {
        let single = plan_interrupts(&msix(&[(0, 0xF)]), Some(10), 7);
        assert_eq!(single.vmq_off, Some(VmqOff::SingleMessage));
        assert_eq!(single.vmq_queues, 0);
        assert!(single.binder().is_none());

        let msi = Grant {
            kind: InterruptKind::Msi,
            messages: vec![GrantedMessage { group: 0, affinity: 1 }; 4],
        };
        assert_eq!(plan_interrupts(&msi, Some(10), 7).vmq_off, Some(VmqOff::Msi));

        let line = Grant { kind: InterruptKind::Line, messages: vec![] };
        let line_plan = plan_interrupts(&line, None, 7);
        assert_eq!(line_plan.vmq_off, Some(VmqOff::LineBased));
        assert_eq!(line_plan.granted_messages, 0);

        let all_sets = plan_interrupts(&msix(&[(0, 0xF), (0, 0xF0)]), Some(10), 7);
        assert_eq!(all_sets.vmq_off, Some(VmqOff::NoReceiveMessage));

        assert_eq!(
            plan_interrupts(&msix(&[(0, 0xF), (0, 1)]), Some(1), 7).vmq_off,
            Some(VmqOff::TableTooSmall)
        );
        assert_eq!(
            plan_interrupts(&msix(&[(0, 0xF), (0, 1)]), None, 7).vmq_off,
            Some(VmqOff::TableTooSmall)
        );
        assert_eq!(
            plan_interrupts(&msix(&[(0, 0xF), (0, 1)]), Some(10), 0).vmq_off,
            Some(VmqOff::NoHardwareQueues)
        );
    }

    /// If every message got a single processor (say, an administrator's policy), message 0 is
    /// the other-causes message and the rest serve queues.
    #[test]
    fn all_messages_on_single_processors() {
        let plan = plan_interrupts(&msix(&[(0, 1), (0, 2), (0, 4)]), Some(10), 7);
        assert_eq!(plan.other_message, 0);
        assert_eq!(plan.default_queue_message, 1);
        assert_eq!(plan.vmq_queues, 2);
    }

    proptest! {
        #[test]
        fn any_grant_gets_a_plan_and_a_working_binder(
            targets in proptest::collection::vec((0u16..4, any::<u64>()), 0..80),
            table in proptest::option::of(1u16..=2048),
            hardware_queues in 0u32..100,
        ) {
            let plan = plan_interrupts(&msix(&targets), table, hardware_queues);
            prop_assert_eq!(plan.granted_messages as usize, targets.len());
            prop_assert!(plan.other_message < plan.granted_messages.max(1));
            if plan.vmq_enabled() {
                prop_assert!(plan.vmq_queues >= 1 && plan.vmq_queues <= hardware_queues);
                // The VMQ minimum-vector table holds: the queues offered never need more vectors
                // than the table entries left after the other-causes entry.
                prop_assert!(minimum_vectors(plan.vmq_queues) < u32::from(table.unwrap_or(0)));
                let binder = plan.binder().unwrap();
                prop_assert!(binder.is_ok(), "{:?}", binder.err());
                prop_assert!(plan.message_targets[plan.default_queue_message as usize].is_some());
            } else {
                prop_assert_eq!(plan.vmq_queues, 0);
            }
        }
    }
}
