//! The PnP manager's side: the requirements list the PCI bus driver builds for the device,
//! IRP_MN_FILTER_RESOURCE_REQUIREMENTS around it (with the memory rules of the filter), and
//! the resource assignment: which interrupts the grant policy gives, the translated
//! `CM_PARTIAL_RESOURCE_LIST` MiniportInitializeEx gets, and the `IO_INTERRUPT_MESSAGE_INFO`
//! NdisMRegisterInterruptEx hands back.

use std::ffi::c_void;

use vmqnic::interrupt::Processor;
use vmqnic::interrupt::grant::build as cm;
use vmqnic::interrupt::requirements::{RequirementsList, build};
use vmqnic::ndis::{
    CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN, CM_RESOURCE_INTERRUPT_POLICY_INCLUDED,
    CmResourceShareShared, CmResourceTypeInterrupt, CmResourceTypeMemory, CmResourceTypePort,
    IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE, IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE, IRP,
    IrqPolicySpecifiedProcessors, Latched, MINIPORT_PNP_IRP, NDIS_STATUS,
};

use super::cpu::DEVICE_IRQL;
use super::exports::{allocate_block, release_block};
use super::machine::{BarSpace, SimBar};
use super::state::{Owner, Phase, in_phase, with_state};
use super::{
    GrantKind, GrantPolicy, GrantedInterrupts, GrantedLine, GrantedMessage, SimProcessor, rules,
};

/// Pool tag of lists the simulated bus driver allocates ("PnPr").
pub const BUS_LIST_TAG: u32 = u32::from_ne_bytes(*b"PnPr");

/// What came of one IRP_MN_FILTER_RESOURCE_REQUIREMENTS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterOutcome {
    /// What the handler returned.
    pub status: NDIS_STATUS,
    /// The list after the driver's filter (the original bytes if it kept the list).
    pub list: Vec<u8>,
    /// Whether the driver replaced the list.
    pub replaced: bool,
}

/// Sends IRP_MN_FILTER_RESOURCE_REQUIREMENTS with `bus_list` to `handler` (as NDIS does after
/// the bus driver completed it: PASSIVE_LEVEL, in the FilterResources phase).
///
/// Memory rules checked (NET:msi-x-resource-filtering): a replaced list must be a block the
/// driver allocated with NdisAllocateMemoryWithTagPriority, and the old list must have been
/// freed with NdisFreeMemory; a kept list must not have been freed.
///
/// # Safety
/// `handler` is the driver's MiniportFilterResourceRequirements and `context` its add-device
/// context.
pub unsafe fn filter_resource_requirements(
    handler: MINIPORT_PNP_IRP,
    context: *mut c_void,
    bus_list: &[u8],
) -> FilterOutcome {
    let old = allocate_block(bus_list.len(), BUS_LIST_TAG, Owner::PnpManager);
    assert!(!old.is_null(), "simulated pool exhausted");
    // SAFETY: `old` is a fresh block of `bus_list.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(bus_list.as_ptr(), old.cast::<u8>(), bus_list.len()) };
    // SAFETY: an all-zero IRP is a valid value of this plain-data struct.
    let mut irp: IRP = unsafe { std::mem::zeroed() };
    irp.IoStatus.Information = old as usize;
    // SAFETY: the caller passes the driver's handler and context; the IRP lives on this frame.
    let status = in_phase(Phase::FilterResources, || unsafe { handler(context, &raw mut irp) });
    let new = irp.IoStatus.Information;
    let replaced = new != old as usize;

    let (list, checks) = with_state(|s| {
        let old_live = s.allocations.contains_key(&(old as usize));
        let mut violations = Vec::new();
        if replaced {
            if old_live {
                violations.push((
                    rules::FILTER_OLD_LIST_NOT_FREED,
                    "the replaced list was not freed".to_owned(),
                ));
            }
            match s.allocations.get_mut(&new) {
                Some(block) if block.owner == Owner::Driver => {
                    // From here on the PnP manager owns (and will free) the new list.
                    block.owner = Owner::PnpManager;
                    let size = block.size;
                    // SAFETY: `new` is a live block of `size` bytes in the simulated pool.
                    let bytes =
                        unsafe { std::slice::from_raw_parts(new as *const u8, size) }.to_vec();
                    (bytes, violations)
                }
                _ => {
                    violations.push((
                        rules::FILTER_NEW_LIST_NOT_FROM_POOL,
                        format!("{new:#x} is not a driver allocation"),
                    ));
                    (Vec::new(), violations)
                }
            }
        } else {
            if !old_live {
                violations.push((
                    rules::FILTER_KEPT_LIST_FREED,
                    "the driver freed the list it kept".to_owned(),
                ));
            }
            (bus_list.to_vec(), violations)
        }
    });
    with_state(|s| {
        for (rule, detail) in checks {
            s.violate(rule, detail);
        }
        // The PnP manager frees the surviving list after the IRP completes.
        if let Some(block) = s.allocations.remove(&new) {
            release_block(new, block.size);
        }
    });
    FilterOutcome { status, list, replaced }
}

/// An I/O port requirement (`u.Port` has the layout of `u.Memory`).
fn port(length: u32, minimum: i64, maximum: i64) -> build::RawDescriptor {
    let mut d = build::memory(length, 1, minimum, maximum);
    d[1] = CmResourceTypePort;
    d
}

/// The requirements list the PCI bus driver builds for the device: one descriptor per BAR
/// (fixed at its assigned address), then one message descriptor per MSI-X table entry (or
/// the single MSI descriptor of a device without MSI-X), then the line-based interrupt as an
/// alternative.
#[must_use]
pub fn bus_requirements(bars: &[SimBar], msix_table_size: u16, line_pin: u32) -> Vec<u8> {
    let mut descriptors = Vec::new();
    for bar in bars {
        let length = u32::try_from(bar.length).unwrap_or(u32::MAX);
        let minimum = i64::try_from(bar.address).unwrap_or(i64::MAX);
        let maximum = minimum.saturating_add(i64::from(length)).saturating_sub(1);
        descriptors.push(match bar.space {
            BarSpace::Memory => build::memory(length, length, minimum, maximum),
            BarSpace::Port => port(length, minimum, maximum),
        });
    }
    if msix_table_size > 0 {
        descriptors
            .extend(std::iter::repeat_n(build::msix_message(), usize::from(msix_table_size)));
    } else {
        descriptors.push(build::msi_messages(1));
    }
    descriptors.push(build::line_interrupt(line_pin));
    build::requirements_list(&[descriptors])
}

/// The non-message descriptors of every alternative, for the "filter changes only message
/// interrupts" rule.
fn non_message_descriptors(list: &RequirementsList<'_>) -> Vec<Vec<[u8; 32]>> {
    (0..list.alternative_count())
        .map(|i| {
            list.descriptors(i).filter(|d| !d.is_message_interrupt()).map(|d| *d.bytes()).collect()
        })
        .collect()
}

/// Checks that the filtered list changed nothing but message interrupts.
pub(crate) fn check_only_messages_changed(bus_list: &[u8], filtered: &[u8]) {
    let (Ok(before), Ok(after)) =
        (RequirementsList::parse(bus_list), RequirementsList::parse(filtered))
    else {
        with_state(|s| {
            s.violate(
                rules::FILTER_NON_MESSAGE_RESOURCES_CHANGED,
                "the filtered list does not parse",
            );
        });
        return;
    };
    if non_message_descriptors(&before) != non_message_descriptors(&after) {
        with_state(|s| {
            s.violate(
                rules::FILTER_NON_MESSAGE_RESOURCES_CHANGED,
                "a memory, port or line-interrupt descriptor (or an alternative) differs from the \
                 bus driver's list",
            );
        });
    }
}

/// Every processor of group 0: the affinity this OS gives interrupts without a policy.
fn default_affinity(processors: &[SimProcessor]) -> (u16, u64) {
    let mask = processors
        .iter()
        .filter(|p| p.processor.group == 0)
        .fold(0u64, |m, p| m | p.processor.affinity_mask());
    (0, mask)
}

/// The lowest processor of `mask` in `group`.
fn lowest(group: u16, mask: u64) -> Processor {
    let number = u8::try_from(mask.trailing_zeros().min(63)).unwrap_or(0);
    Processor { group, number }
}

/// The group and affinity a message descriptor gets: its IrqPolicySpecifiedProcessors
/// processors that exist, else the default (every processor of group 0).
fn message_affinity(
    descriptor: vmqnic::interrupt::requirements::Descriptor<'_>,
    processors: &[SimProcessor],
) -> (u16, u64) {
    if descriptor.flags() & CM_RESOURCE_INTERRUPT_POLICY_INCLUDED != 0
        && descriptor.affinity_policy() == IrqPolicySpecifiedProcessors
    {
        let group = descriptor.group();
        let existing = processors
            .iter()
            .filter(|p| p.processor.group == group)
            .fold(0u64, |m, p| m | p.processor.affinity_mask());
        let mask = descriptor.targeted_processors() & existing;
        if mask != 0 {
            return (group, mask);
        }
    }
    default_affinity(processors)
}

/// Word the device writes to message `number`'s mailbox (never 0, which means "empty").
#[must_use]
pub fn message_data(kind: GrantKind, number: u32) -> u32 {
    match kind {
        // MSI data is 16 bits wide.
        GrantKind::Msi => 0x4D01,
        _ => 0x4D53_0001 + number,
    }
}

/// What PnP assigns from `list` under `policy`: the kind and the messages (mailboxes at
/// `mailbox_base + 4 * number`). `Err` if the list cannot satisfy the policy.
pub(crate) fn assign(
    list: &[u8],
    policy: GrantPolicy,
    processors: &[SimProcessor],
    line_pin: u32,
    mailbox_base: u64,
) -> Result<(GrantKind, Vec<GrantedMessage>, Option<GrantedLine>), String> {
    let list =
        RequirementsList::parse(list).map_err(|e| format!("the requirements list: {e:?}"))?;
    let descriptors: Vec<_> = list.descriptors(0).collect();
    let messages: Vec<_> = descriptors.iter().filter(|d| d.is_message_interrupt()).collect();
    let has_line = descriptors
        .iter()
        .any(|d| d.resource_type() == CmResourceTypeInterrupt && !d.is_message_interrupt());
    let msi_style =
        messages.len() == 1 && messages[0].minimum_vector() != CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN;
    let take = match policy {
        GrantPolicy::AsRequested => messages.len(),
        GrantPolicy::AtMost(n) => messages.len().min(usize::try_from(n).unwrap_or(usize::MAX)),
        GrantPolicy::Msi | GrantPolicy::LineBased => 0,
    };
    let kind = match policy {
        GrantPolicy::Msi => GrantKind::Msi,
        _ if take == 0 => GrantKind::Line,
        _ if msi_style => GrantKind::Msi,
        _ => GrantKind::MsiX,
    };
    let (default_group, default_mask) = default_affinity(processors);
    let line = (kind == GrantKind::Line).then(|| GrantedLine {
        pin: line_pin,
        group: default_group,
        affinity: default_mask,
        target: lowest(default_group, default_mask),
    });
    if kind == GrantKind::Line && !has_line {
        return Err("the filtered list has no line-based interrupt to grant".to_owned());
    }
    let granted = match kind {
        GrantKind::Line => Vec::new(),
        GrantKind::Msi => vec![GrantedMessage {
            number: 0,
            group: default_group,
            affinity: default_mask,
            target: lowest(default_group, default_mask),
            mailbox: mailbox_base,
            data: message_data(GrantKind::Msi, 0),
        }],
        GrantKind::MsiX => messages
            .iter()
            .take(take)
            .zip(0u32..)
            .map(|(d, number)| {
                let (group, affinity) = message_affinity(**d, processors);
                GrantedMessage {
                    number,
                    group,
                    affinity,
                    target: lowest(group, affinity),
                    mailbox: mailbox_base + 4 * u64::from(number),
                    data: message_data(GrantKind::MsiX, number),
                }
            })
            .collect(),
    };
    Ok((kind, granted, line))
}

/// The IDT vector this OS gives message `number` (unique; the driver does not use it).
fn vector(number: u32) -> u32 {
    0x60 + number
}

/// The translated `CM_PARTIAL_RESOURCE_LIST`: the BARs (memory and port, in BAR order as the
/// list names them) and the granted interrupts.
pub(crate) fn translated_resources(
    list: &[u8],
    bars: &[SimBar],
    grant: &GrantedInterrupts,
) -> Vec<u8> {
    let Ok(list) = RequirementsList::parse(list) else { return cm::partial_resource_list(&[]) };
    let mut memory_bars = bars.iter().filter(|b| b.space == BarSpace::Memory);
    let mut port_bars = bars.iter().filter(|b| b.space == BarSpace::Port);
    let mut out = Vec::new();
    let mut messages_written = false;
    let with_level = |mut d: cm::RawPartialDescriptor| {
        d[4..6].copy_from_slice(&u16::from(DEVICE_IRQL).to_le_bytes());
        d
    };
    for d in list.descriptors(0) {
        match d.resource_type() {
            CmResourceTypeMemory => {
                if let Some(bar) = memory_bars.next() {
                    out.push(cm::memory(
                        i64::try_from(bar.address).unwrap_or(0),
                        u32::try_from(bar.length).unwrap_or(u32::MAX),
                    ));
                }
            }
            CmResourceTypePort => {
                if let Some(bar) = port_bars.next() {
                    let mut p = cm::memory(
                        i64::try_from(bar.address).unwrap_or(0),
                        u32::try_from(bar.length).unwrap_or(u32::MAX),
                    );
                    p[0] = CmResourceTypePort;
                    out.push(p);
                }
            }
            CmResourceTypeInterrupt if d.is_message_interrupt() => {
                if messages_written || grant.kind == GrantKind::Line {
                    continue;
                }
                messages_written = true;
                let count = if grant.kind == GrantKind::Msi { 1 } else { grant.messages.len() };
                for m in grant.messages.iter().take(count) {
                    out.push(with_level(cm::message(m.group, vector(m.number), m.affinity)));
                }
            }
            CmResourceTypeInterrupt => {
                if let (GrantKind::Line, Some(granted)) = (grant.kind, grant.line) {
                    let mut line =
                        with_level(cm::interrupt(granted.group, granted.pin, granted.affinity));
                    line[1] = CmResourceShareShared;
                    out.push(line);
                }
            }
            _ => {}
        }
    }
    cm::partial_resource_list(&out)
}

/// The `IO_INTERRUPT_MESSAGE_INFO` for the granted messages, as 8-byte words (its alignment).
pub(crate) fn message_info(grant: &GrantedInterrupts, interrupt_object: usize) -> Vec<u64> {
    let count = grant.messages.len();
    let mut bytes = vec![
        0u8;
        IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE
            + count * IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE
    ];
    bytes[0] = DEVICE_IRQL;
    bytes[4..8].copy_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_le_bytes());
    for (i, m) in grant.messages.iter().enumerate() {
        let e = IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE + i * IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE;
        bytes[e..e + 8].copy_from_slice(&m.mailbox.to_le_bytes());
        bytes[e + 8..e + 0x10].copy_from_slice(&m.affinity.to_le_bytes());
        bytes[e + 0x10..e + 0x18].copy_from_slice(&(interrupt_object as u64).to_le_bytes());
        bytes[e + 0x18..e + 0x1C].copy_from_slice(&m.data.to_le_bytes());
        bytes[e + 0x1C..e + 0x20].copy_from_slice(&vector(m.number).to_le_bytes());
        bytes[e + 0x20] = DEVICE_IRQL;
        bytes[e + 0x24..e + 0x28].copy_from_slice(&Latched.to_le_bytes());
    }
    bytes
        .chunks(8)
        .map(|c| {
            let mut word = [0u8; 8];
            word[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(word)
        })
        .collect()
}
