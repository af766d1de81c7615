//! What PnP actually granted, parsed from the two buffers MiniportInitializeEx sees: the
//! translated `CM_PARTIAL_RESOURCE_LIST` (`InitParameters->AllocatedResources`) and, after
//! NdisMRegisterInterruptEx, the `IO_INTERRUPT_MESSAGE_INFO` table. The driver plans from this,
//! never from what it asked for in MiniportFilterResourceRequirements.
//!
//! Both buffers are parsed as bytes. The `CM_*` structures are 4-byte packed, so the 64-bit
//! affinity sits at an unaligned offset; reading through [`bytes`] makes that a non-issue.

use alloc::vec::Vec;
use core::mem::offset_of;

use super::{Processor, bytes};
use crate::ndis::{
    CM_INTERRUPT, CM_MEMORY, CM_PARTIAL_RESOURCE_DESCRIPTOR, CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE,
    CM_PARTIAL_RESOURCE_LIST, CM_PARTIAL_RESOURCE_LIST_HEADER_SIZE, CM_RESOURCE_INTERRUPT_MESSAGE,
    CmResourceTypeInterrupt, CmResourceTypeMemory, IO_INTERRUPT_MESSAGE_INFO,
    IO_INTERRUPT_MESSAGE_INFO_ENTRY, IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE,
    IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE, NDIS_CONNECT_LINE_BASED, NDIS_CONNECT_MESSAGE_BASED,
};

/// Why granted resources could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// The resource list is shorter than its header or its `Count` descriptors.
    TruncatedResourceList,
    /// The message table is missing, or shorter than its header or its `MessageCount` entries.
    TruncatedMessageInfo,
    /// A message-based grant with `MessageCount == 0`.
    NoMessages,
    /// MSI-X grants one translated descriptor per message; these counts disagree.
    MessageCountMismatch {
        /// Message-interrupt descriptors in the resource list.
        descriptors: usize,
        /// `MessageCount` of the message table.
        messages: usize,
    },
    /// `InterruptType` is neither line-based nor message-based.
    UnknownInterruptType(u32),
}

/// One `CM_PARTIAL_RESOURCE_DESCRIPTOR`, viewed as its 20 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialDescriptor<'a>(&'a [u8; CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE]);

const OFF_TYPE: usize = offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, Type);
const OFF_FLAGS: usize = offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, Flags);
const OFF_U: usize = offset_of!(CM_PARTIAL_RESOURCE_DESCRIPTOR, u);
const OFF_INT_GROUP: usize = OFF_U + offset_of!(CM_INTERRUPT, Group);
const OFF_INT_VECTOR: usize = OFF_U + offset_of!(CM_INTERRUPT, Vector);
const OFF_INT_AFFINITY: usize = OFF_U + offset_of!(CM_INTERRUPT, Affinity);
const OFF_MEM_START: usize = OFF_U + offset_of!(CM_MEMORY, Start);
const OFF_MEM_LENGTH: usize = OFF_U + offset_of!(CM_MEMORY, Length);
const OFF_LIST_COUNT: usize = offset_of!(CM_PARTIAL_RESOURCE_LIST, Count);
const OFF_INFO_COUNT: usize = offset_of!(IO_INTERRUPT_MESSAGE_INFO, MessageCount);
const OFF_ENTRY_TARGETS: usize = offset_of!(IO_INTERRUPT_MESSAGE_INFO_ENTRY, TargetProcessorSet);

impl PartialDescriptor<'_> {
    /// `Type`.
    #[must_use]
    pub const fn resource_type(self) -> u8 {
        self.0[OFF_TYPE]
    }
    /// `Flags`.
    #[must_use]
    pub const fn flags(self) -> u16 {
        u16::from_le_bytes([self.0[OFF_FLAGS], self.0[OFF_FLAGS + 1]])
    }
    /// An MSI/MSI-X message interrupt?
    #[must_use]
    pub const fn is_message_interrupt(self) -> bool {
        self.resource_type() == CmResourceTypeInterrupt
            && self.flags() & CM_RESOURCE_INTERRUPT_MESSAGE != 0
    }
    /// `u.Interrupt.Group` / `u.MessageInterrupt.Translated.Group`.
    #[must_use]
    pub fn interrupt_group(self) -> u16 {
        bytes::read_u16(self.0, OFF_INT_GROUP).unwrap_or(0)
    }
    /// `u.Interrupt.Vector` / `u.MessageInterrupt.Translated.Vector`.
    #[must_use]
    pub fn interrupt_vector(self) -> u32 {
        bytes::read_u32(self.0, OFF_INT_VECTOR).unwrap_or(0)
    }
    /// `u.Interrupt.Affinity` / `u.MessageInterrupt.Translated.Affinity` (unaligned `u64`).
    #[must_use]
    pub fn interrupt_affinity(self) -> u64 {
        bytes::read_u64(self.0, OFF_INT_AFFINITY).unwrap_or(0)
    }
    /// `(u.Memory.Start, u.Memory.Length)` of a memory resource.
    #[must_use]
    pub fn memory(self) -> Option<(i64, u32)> {
        if self.resource_type() != CmResourceTypeMemory {
            return None;
        }
        let start = bytes::read_array(self.0, OFF_MEM_START).map(i64::from_le_bytes)?;
        Some((start, bytes::read_u32(self.0, OFF_MEM_LENGTH)?))
    }
}

/// Parses a `CM_PARTIAL_RESOURCE_LIST` into its descriptors.
///
/// # Errors
/// [`GrantError::TruncatedResourceList`] if `Count` descriptors do not fit in `list`.
pub fn partial_descriptors(list: &[u8]) -> Result<Vec<PartialDescriptor<'_>>, GrantError> {
    let count = bytes::read_u32(list, OFF_LIST_COUNT).ok_or(GrantError::TruncatedResourceList)?;
    let count = usize::try_from(count).map_err(|_| GrantError::TruncatedResourceList)?;
    let end = count
        .checked_mul(CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE)
        .and_then(|len| len.checked_add(CM_PARTIAL_RESOURCE_LIST_HEADER_SIZE))
        .ok_or(GrantError::TruncatedResourceList)?;
    let area = list
        .get(CM_PARTIAL_RESOURCE_LIST_HEADER_SIZE..end)
        .ok_or(GrantError::TruncatedResourceList)?;
    Ok(area
        .chunks_exact(CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE)
        .filter_map(|chunk| <&[u8; CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE]>::try_from(chunk).ok())
        .map(PartialDescriptor)
        .collect())
}

/// How the device interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptKind {
    /// MSI-X: one message per descriptor, each with its own affinity; table entries can be
    /// re-pointed with NdisMConfigMSIXTableEntry.
    MsiX,
    /// MSI: all messages share one address and one affinity; no table to re-point.
    Msi,
    /// One (possibly shared) line-based interrupt.
    Line,
}

/// One granted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantedMessage {
    /// Processor group of `affinity` (from the translated resource descriptor; the message
    /// table carries only a `KAFFINITY`).
    pub group: u16,
    /// `TargetProcessorSet` of the message.
    pub affinity: u64,
}

impl GrantedMessage {
    /// The one processor this message targets, if its target set is a single processor.
    #[must_use]
    pub const fn processor(&self) -> Option<Processor> {
        Processor::from_single_bit_mask(self.group, self.affinity)
    }
}

/// The interrupt resources PnP granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// MSI-X, MSI or line-based.
    pub kind: InterruptKind,
    /// The granted messages in message-number order (empty for a line-based interrupt).
    pub messages: Vec<GrantedMessage>,
}

/// Parses the grant.
///
/// * `interrupt_type`: `NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS.InterruptType` after
///   NdisMRegisterInterruptEx.
/// * `resources`: the translated `CM_PARTIAL_RESOURCE_LIST`.
/// * `message_info`: the `IO_INTERRUPT_MESSAGE_INFO` (message-based grants only).
/// * `msix_enabled`: the MSI-X Enable bit of the device's MSI-X capability, if it has one. It
///   is what tells MSI from MSI-X when a single message was granted (both then have a single
///   descriptor). Without it, one descriptor per message means MSI-X and a single descriptor
///   for several messages means MSI.
///
/// # Errors
/// [`GrantError`] if a buffer is truncated or the two disagree.
pub fn parse_grant(
    interrupt_type: u32,
    resources: &[u8],
    message_info: Option<&[u8]>,
    msix_enabled: Option<bool>,
) -> Result<Grant, GrantError> {
    let descriptors = partial_descriptors(resources)?;
    match interrupt_type {
        NDIS_CONNECT_LINE_BASED => Ok(Grant { kind: InterruptKind::Line, messages: Vec::new() }),
        NDIS_CONNECT_MESSAGE_BASED => {
            let info = message_info.ok_or(GrantError::TruncatedMessageInfo)?;
            let targets = message_targets(info)?;
            let message_descriptors: Vec<PartialDescriptor<'_>> =
                descriptors.into_iter().filter(|d| d.is_message_interrupt()).collect();
            let single_descriptor_for_many = message_descriptors.len() == 1 && targets.len() > 1;
            let kind = if msix_enabled.unwrap_or(!single_descriptor_for_many) {
                InterruptKind::MsiX
            } else {
                InterruptKind::Msi
            };
            let group_of = |message: usize| -> Result<u16, GrantError> {
                match kind {
                    InterruptKind::MsiX => message_descriptors
                        .get(message)
                        .map(|d| d.interrupt_group())
                        .ok_or(GrantError::MessageCountMismatch {
                            descriptors: message_descriptors.len(),
                            messages: targets.len(),
                        }),
                    // MSI: one descriptor (one affinity, one group) for every message.
                    _ => Ok(message_descriptors.first().map_or(0, |d| d.interrupt_group())),
                }
            };
            if kind == InterruptKind::MsiX && message_descriptors.len() != targets.len() {
                return Err(GrantError::MessageCountMismatch {
                    descriptors: message_descriptors.len(),
                    messages: targets.len(),
                });
            }
            let mut messages = Vec::new();
            messages
                .try_reserve_exact(targets.len())
                .map_err(|_| GrantError::TruncatedMessageInfo)?;
            for (message, affinity) in targets.iter().enumerate() {
                messages.push(GrantedMessage { group: group_of(message)?, affinity: *affinity });
            }
            Ok(Grant { kind, messages })
        }
        other => Err(GrantError::UnknownInterruptType(other)),
    }
}

/// `TargetProcessorSet` of every entry of an `IO_INTERRUPT_MESSAGE_INFO`.
fn message_targets(info: &[u8]) -> Result<Vec<u64>, GrantError> {
    let count = bytes::read_u32(info, OFF_INFO_COUNT).ok_or(GrantError::TruncatedMessageInfo)?;
    let count = usize::try_from(count).map_err(|_| GrantError::TruncatedMessageInfo)?;
    if count == 0 {
        return Err(GrantError::NoMessages);
    }
    let end = count
        .checked_mul(IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE)
        .and_then(|len| len.checked_add(IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE))
        .ok_or(GrantError::TruncatedMessageInfo)?;
    if end > info.len() {
        return Err(GrantError::TruncatedMessageInfo);
    }
    (0..count)
        .map(|i| {
            let entry =
                IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE + i * IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE;
            bytes::read_u64(info, entry + OFF_ENTRY_TARGETS).ok_or(GrantError::TruncatedMessageInfo)
        })
        .collect()
}

/// Builders of granted-resource buffers as the PnP manager and the kernel lay them out, for
/// tests and for the simulated NDIS. The driver itself only parses them.
pub mod build {
    use alloc::vec::Vec;

    use super::{
        OFF_FLAGS, OFF_INT_AFFINITY, OFF_INT_GROUP, OFF_INT_VECTOR, OFF_MEM_LENGTH, OFF_MEM_START,
        OFF_TYPE,
    };
    use crate::interrupt::bytes;
    use crate::ndis::{
        CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE, CM_RESOURCE_INTERRUPT_LATCHED,
        CM_RESOURCE_INTERRUPT_MESSAGE, CmResourceTypeInterrupt, CmResourceTypeMemory,
        IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE, IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE,
    };

    /// A raw `CM_PARTIAL_RESOURCE_DESCRIPTOR`.
    pub type RawPartialDescriptor = [u8; CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE];

    /// A translated memory resource.
    #[must_use]
    pub fn memory(start: i64, length: u32) -> RawPartialDescriptor {
        let mut d = [0u8; CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE];
        d[OFF_TYPE] = CmResourceTypeMemory;
        bytes::write_array(&mut d, OFF_MEM_START, start.to_le_bytes());
        bytes::write_u32(&mut d, OFF_MEM_LENGTH, length);
        d
    }

    /// A translated message interrupt (`u.MessageInterrupt.Translated`).
    #[must_use]
    pub fn message(group: u16, vector: u32, affinity: u64) -> RawPartialDescriptor {
        let mut d = interrupt(group, vector, affinity);
        bytes::write_u16(
            &mut d,
            OFF_FLAGS,
            CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE,
        );
        d
    }

    /// A translated line-based interrupt (`u.Interrupt`).
    #[must_use]
    pub fn interrupt(group: u16, vector: u32, affinity: u64) -> RawPartialDescriptor {
        let mut d = [0u8; CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE];
        d[OFF_TYPE] = CmResourceTypeInterrupt;
        bytes::write_u16(&mut d, OFF_INT_GROUP, group);
        bytes::write_u32(&mut d, OFF_INT_VECTOR, vector);
        bytes::write_u64(&mut d, OFF_INT_AFFINITY, affinity);
        d
    }

    /// A `CM_PARTIAL_RESOURCE_LIST` holding `descriptors`.
    #[must_use]
    pub fn partial_resource_list(descriptors: &[RawPartialDescriptor]) -> Vec<u8> {
        let mut list = alloc::vec![1u8, 0, 1, 0];
        list.extend_from_slice(&u32::try_from(descriptors.len()).unwrap_or(u32::MAX).to_le_bytes());
        for d in descriptors {
            list.extend_from_slice(d);
        }
        list
    }

    /// An `IO_INTERRUPT_MESSAGE_INFO` whose entry *i* targets `targets[i]` (other fields:
    /// plausible addresses and data; the driver does not read them).
    #[must_use]
    pub fn message_info(targets: &[u64]) -> Vec<u8> {
        let mut info = alloc::vec![0u8; IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE + targets.len() * IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE];
        info[0] = 0x8; // UnifiedIrql (DIRQL)
        bytes::write_u32(&mut info, 4, u32::try_from(targets.len()).unwrap_or(u32::MAX));
        for (i, target) in targets.iter().enumerate() {
            let entry =
                IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE + i * IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE;
            let data = u32::try_from(0x4000 + i).unwrap_or(u32::MAX);
            bytes::write_u64(&mut info, entry, 0xFEE0_0000);
            bytes::write_u64(&mut info, entry + 8, *target);
            bytes::write_u32(&mut info, entry + 0x18, data);
            bytes::write_u32(&mut info, entry + 0x1C, 0x60 + data % 0x80);
            info[entry + 0x20] = 0x8;
            bytes::write_u32(&mut info, entry + 0x24, 1);
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    fn msix_grant(messages: &[(u16, u64)]) -> (Vec<u8>, Vec<u8>) {
        let mut descriptors =
            vec![build::memory(0xFEB0_0000, 0x2_0000), build::memory(0xFEB2_0000, 0x4000)];
        descriptors.extend(
            messages
                .iter()
                .enumerate()
                .map(|(i, (g, a))| build::message(*g, 0x60 + u32::try_from(i).unwrap(), *a)),
        );
        let targets: Vec<u64> = messages.iter().map(|(_, a)| *a).collect();
        (build::partial_resource_list(&descriptors), build::message_info(&targets))
    }

    #[test]
    fn msix_messages_take_their_group_from_the_descriptors() {
        let (resources, info) = msix_grant(&[(0, 0b1111), (0, 1 << 1), (1, 1 << 5)]);
        let grant =
            parse_grant(NDIS_CONNECT_MESSAGE_BASED, &resources, Some(&info), Some(true)).unwrap();
        assert_eq!(grant.kind, InterruptKind::MsiX);
        assert_eq!(grant.messages.len(), 3);
        assert_eq!(grant.messages[0].processor(), None, "a set of processors is not one processor");
        assert_eq!(grant.messages[1].processor(), Some(Processor { group: 0, number: 1 }));
        assert_eq!(grant.messages[2].processor(), Some(Processor { group: 1, number: 5 }));
        let bars: Vec<(i64, u32)> =
            partial_descriptors(&resources).unwrap().iter().filter_map(|d| d.memory()).collect();
        assert_eq!(bars, vec![(0xFEB0_0000, 0x2_0000), (0xFEB2_0000, 0x4000)]);
    }

    #[test]
    fn msi_is_one_descriptor_for_several_messages() {
        let resources = build::partial_resource_list(&[build::message(2, 0x60, 1 << 3)]);
        let info = build::message_info(&[1 << 3; 4]);
        for hint in [None, Some(false)] {
            let grant =
                parse_grant(NDIS_CONNECT_MESSAGE_BASED, &resources, Some(&info), hint).unwrap();
            assert_eq!(grant.kind, InterruptKind::Msi);
            assert!(
                grant
                    .messages
                    .iter()
                    .all(|m| m.processor() == Some(Processor { group: 2, number: 3 }))
            );
        }
    }

    #[test]
    fn a_single_message_is_msix_only_if_the_capability_says_so() {
        let (resources, info) = msix_grant(&[(0, 1)]);
        assert_eq!(
            parse_grant(NDIS_CONNECT_MESSAGE_BASED, &resources, Some(&info), Some(true))
                .unwrap()
                .kind,
            InterruptKind::MsiX
        );
        assert_eq!(
            parse_grant(NDIS_CONNECT_MESSAGE_BASED, &resources, Some(&info), Some(false))
                .unwrap()
                .kind,
            InterruptKind::Msi
        );
    }

    #[test]
    fn line_based() {
        let resources = build::partial_resource_list(&[
            build::memory(0xFEB0_0000, 0x2_0000),
            build::interrupt(0, 11, 0xF),
        ]);
        let grant = parse_grant(NDIS_CONNECT_LINE_BASED, &resources, None, Some(false)).unwrap();
        assert_eq!(grant, Grant { kind: InterruptKind::Line, messages: vec![] });
    }

    #[test]
    fn inconsistent_or_truncated_grants_are_errors() {
        let (resources, info) = msix_grant(&[(0, 1), (0, 2)]);
        assert_eq!(
            parse_grant(7, &resources, Some(&info), None),
            Err(GrantError::UnknownInterruptType(7))
        );
        assert_eq!(
            parse_grant(NDIS_CONNECT_MESSAGE_BASED, &resources, None, None),
            Err(GrantError::TruncatedMessageInfo)
        );
        assert_eq!(
            parse_grant(
                NDIS_CONNECT_MESSAGE_BASED,
                &resources,
                Some(&info[..info.len() - 1]),
                None
            ),
            Err(GrantError::TruncatedMessageInfo)
        );
        assert_eq!(
            parse_grant(
                NDIS_CONNECT_MESSAGE_BASED,
                &resources[..resources.len() - 1],
                Some(&info),
                None
            ),
            Err(GrantError::TruncatedResourceList)
        );
        let three = build::message_info(&[1, 2, 4]);
        assert_eq!(
            parse_grant(NDIS_CONNECT_MESSAGE_BASED, &resources, Some(&three), Some(true)),
            Err(GrantError::MessageCountMismatch { descriptors: 2, messages: 3 })
        );
        assert_eq!(
            parse_grant(
                NDIS_CONNECT_MESSAGE_BASED,
                &resources,
                Some(&build::message_info(&[])),
                None
            ),
            Err(GrantError::NoMessages)
        );
    }

    proptest! {
        #[test]
        fn random_buffers_never_panic(
            resources in proptest::collection::vec(any::<u8>(), 0..200),
            info in proptest::collection::vec(any::<u8>(), 0..200),
            kind in 0u32..4,
            hint in proptest::option::of(any::<bool>()),
        ) {
            if let Ok(grant) = parse_grant(kind, &resources, Some(&info), hint) {
                prop_assert!(grant.kind == InterruptKind::Line || !grant.messages.is_empty());
            }
        }

        #[test]
        fn valid_msix_grants_round_trip(messages in proptest::collection::vec((0u16..32, any::<u64>()), 1..64)) {
            let (resources, info) = msix_grant(&messages);
            let grant = parse_grant(NDIS_CONNECT_MESSAGE_BASED, &resources, Some(&info), Some(true)).unwrap();
            let parsed: Vec<(u16, u64)> = grant.messages.iter().map(|m| (m.group, m.affinity)).collect();
            prop_assert_eq!(parsed, messages);
        }
    }
}
