//! Interrupt planning and mapping for N RSS processors (64 per group), in three regions:
//!
//! * **requirements**: MiniportFilterResourceRequirements' pure part: parse the RSS processor
//!   information (`parse_rss_processor_info`), parse PCI's requirements list (an MSI-X
//!   function with the 82576's 25-entry table), size and write the edited list (one message
//!   per processor plus one, at most 2048) into a buffer allocated beforehand (the driver
//!   allocates it with NDIS between the two passes).
//! * **plan**: MiniportInitializeEx's: `parse_grant` over the translated resources and the
//!   message table of a grant of every requested message, then `plan_interrupts` for an MSI-X
//!   table as large as the grant (the worst case the policy accepts: `T` = messages ≤ 2048).
//! * **binding**: `InterruptPlan::binder` (`Binder::new`), the default queue's binding, every
//!   offered VM queue bound (spread over the processors), one affinity change (`rebind`) and
//!   one FREE_QUEUE (`unbind`).
//!
//! `plan_instructions_N_processors` is plan + binding: everything decided from a grant.

use std::hint::black_box;

use vmqnic::interrupt::grant::{build as granted, parse_grant};
use vmqnic::interrupt::plan::{InterruptPlan, plan_interrupts};
use vmqnic::interrupt::requirements::{self, RequirementsList, build as required};
use vmqnic::interrupt::rss::{RssProcessor, build_rss_processor_info, parse_rss_processor_info};
use vmqnic::interrupt::{MAX_MESSAGES_PER_FUNCTION, Processor};
use vmqnic::ndis::NDIS_CONNECT_MESSAGE_BASED;

use super::Tally;

/// The 82576's VM queues (8 VMDq pools, pool 0 for the default queue).
const HARDWARE_QUEUES: u32 = 7;
/// The 82576's MSI-X table (datasheet; QEMU's model has 10).
const DEVICE_TABLE: usize = 25;

/// Which region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    Requirements,
    Plan,
    Binding,
}

fn processors(count: usize) -> Vec<Processor> {
    (0..count)
        .map(|i| {
            let group = u16::try_from(i / 64).expect("a group");
            let number = u8::try_from(i % 64).expect("a number");
            Processor { group, number }
        })
        .collect()
}

struct Inputs {
    rss_info: Vec<u8>,
    pci_list: Vec<u8>,
    edited: Vec<u8>,
    resources: Vec<u8>,
    message_info: Vec<u8>,
    table: u16,
    spread: Vec<Processor>,
}

fn inputs(count: usize) -> Inputs {
    let all = processors(count);
    // Preference: the NUMA distance, one node per group.
    let rss: Vec<RssProcessor> =
        all.iter().map(|p| RssProcessor { processor: *p, preference_index: p.group }).collect();
    let rss_info = build_rss_processor_info(&rss);
    let pci_list = required::pci_msix_function(&[0x2_0000, 0x4000], DEVICE_TABLE, 11);
    let list = RequirementsList::parse(&pci_list).expect("PCI's list");
    let edited = vec![0u8; requirements::edited_size(&list, &all).expect("a size")];
    // The grant: every message requested. Message 0 keeps PCI's policy (here: all of group
    // 0), messages 1.. one per processor, most preferred first.
    let messages = (count + 1).min(MAX_MESSAGES_PER_FUNCTION);
    let mut descriptors = vec![granted::memory(0xFEB8_0000, 0x2_0000)];
    let mut targets = Vec::with_capacity(messages);
    descriptors.push(granted::message(0, 0x60, u64::MAX));
    targets.push(u64::MAX);
    for (message, p) in (1..messages).zip(&all) {
        let vector = 0x61 + u32::try_from(message).expect("a vector");
        descriptors.push(granted::message(p.group, vector, p.affinity_mask()));
        targets.push(p.affinity_mask());
    }
    let resources = granted::partial_resource_list(&descriptors);
    let message_info = granted::message_info(&targets);
    let spread = (0..8).map(|q| all[q * count / 8]).collect();
    Inputs {
        rss_info,
        pci_list,
        edited,
        resources,
        message_info,
        table: u16::try_from(messages).expect("a table size"),
        spread,
    }
}

fn requirements_region(inputs: &mut Inputs) {
    let parsed = parse_rss_processor_info(&inputs.rss_info).expect("RSS info");
    let processors: Vec<Processor> = parsed.into_iter().map(|p| p.processor).collect();
    let list = RequirementsList::parse(&inputs.pci_list).expect("PCI's list");
    let size = requirements::edited_size(&list, &processors).expect("a size");
    let out = inputs.edited.get_mut(..size).expect("room for the edited list");
    black_box(requirements::write_edited(&list, &processors, out).expect("an edited list"));
}

fn plan_region(inputs: &Inputs) -> InterruptPlan {
    let grant = parse_grant(
        NDIS_CONNECT_MESSAGE_BASED,
        &inputs.resources,
        Some(&inputs.message_info),
        Some(true),
    )
    .expect("a grant");
    black_box(plan_interrupts(&grant, Some(inputs.table), HARDWARE_QUEUES))
}

fn binding_region(plan: &InterruptPlan, spread: &[Processor]) {
    let mut binder = plan.binder().expect("VMQ on").expect("a binder");
    let _bound = black_box(binder.bind_default(spread[0]).expect("the default queue"));
    for queue in 1..=plan.vmq_queues {
        let index = usize::try_from(queue).expect("an index") % spread.len();
        let _bound = black_box(binder.bind(queue, spread[index]).expect("a queue"));
    }
    if plan.vmq_queues >= 2 {
        let _rebound = black_box(binder.rebind(1, spread[spread.len() - 1]).expect("a rebind"));
        let _unbound = black_box(binder.unbind(2).expect("an unbind"));
    }
    black_box(binder);
}

/// Runs one region for `count` processors (once to warm up, then measured).
pub fn run(count: usize, region: Region, measure: bool) -> Tally {
    let mut inputs = inputs(count);
    let plan = plan_region(&inputs);
    assert!(plan.vmq_enabled(), "VMQ on for {count} processors: {plan:?}");
    let mut tally = Tally::default();
    for round in 0..2 {
        let measured = measure && round == 1;
        match region {
            Region::Requirements if measured => {
                tally.run(1, &mut || requirements_region(&mut inputs));
            }
            Region::Requirements => requirements_region(&mut inputs),
            Region::Plan if measured => tally.run(1, &mut || {
                plan_region(&inputs);
            }),
            Region::Plan => {
                plan_region(&inputs);
            }
            Region::Binding if measured => {
                tally.run(1, &mut || binding_region(&plan, &inputs.spread));
            }
            Region::Binding => binding_region(&plan, &inputs.spread),
        }
    }
    tally
}
