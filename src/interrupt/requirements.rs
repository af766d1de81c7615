//! Editing the `IO_RESOURCE_REQUIREMENTS_LIST` in MiniportFilterResourceRequirements: every MSI-X
//! alternative asks for **one message per RSS processor**, each bound to its processor with
//! `IrqPolicySpecifiedProcessors`, **plus one** message for "other causes" (link, errors), and
//! never more than [`MAX_MESSAGES_PER_FUNCTION`] messages.
//!
//! The routine is a pure transform of (input list, RSS processors): it never looks at the
//! hardware or the running adapter, because NDIS may call it again while the miniport runs
//! (the new resources only apply after the next halt and re-initialize).
//!
//! ## What changes and what does not
//! * **MSI-X alternatives** (one message descriptor per message, `MinimumVector ==
//!   MaximumVector == CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN`): their message descriptors are
//!   replaced. Message order, a documented choice:
//!   - message 0 = "other causes": a verbatim copy of the first message descriptor PCI produced
//!     (it keeps PCI's affinity policy). If PnP ends up granting a single message, it is this
//!     one, and a single message must serve everything anyway.
//!   - messages 1..=n = one per RSS processor, most preferred first (`PreferenceIndex`), each a
//!     copy of that same descriptor with `CM_RESOURCE_INTERRUPT_POLICY_INCLUDED`,
//!     `AffinityPolicy = IrqPolicySpecifiedProcessors`, `Group` = the processor's group and
//!     `TargetedProcessors` = its bit. When the set is larger than 2048 − 1, the least
//!     preferred processors are dropped.
//!
//!   The new message descriptors take the place of the first old one; every other descriptor
//!   of the alternative keeps its bytes and its order relative to the other non-message
//!   descriptors (in PCI's lists: memory BARs before, the line interrupt marked
//!   `IO_RESOURCE_ALTERNATIVE` after).
//! * **MSI alternatives** (a single message descriptor whose vector range gives the count):
//!   copied byte for byte. MSI messages all share one affinity, so per-processor requests are
//!   impossible there, and the interrupt plan offers no VMQ under MSI.
//! * **Alternatives without message interrupts** (line-based only) and every memory, port or
//!   other descriptor: byte-identical.
//!
//! A single message descriptor with `MinimumVector == MaximumVector` is MSI-X with one table
//! entry or MSI with one message; the requirements list cannot tell them apart. It is treated
//! as MSI-X (expanded). If PnP grants it as MSI, the plan built from the grant copes.
//!
//! ## Malformed input
//! Counts that overrun `ListSize`, a `ListSize` beyond the buffer or below the header, zero
//! alternatives, truncated descriptors and unknown descriptor types are errors; the caller then
//! leaves the list untouched. Nothing here can panic or read out of bounds.

use alloc::vec::Vec;
use core::mem::{offset_of, size_of};

use super::{MAX_MESSAGES_PER_FUNCTION, OTHER_CAUSE_MESSAGES, Processor, bytes};
use crate::ndis::{
    CM_RESOURCE_INTERRUPT_MESSAGE, CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN,
    CM_RESOURCE_INTERRUPT_POLICY_INCLUDED, CmResourceTypeConnection, CmResourceTypeInterrupt,
    CmResourceTypeMemoryLarge, CmResourceTypeNonArbitrated, IO_RESOURCE_DESCRIPTOR,
    IO_RESOURCE_DESCRIPTOR_SIZE, IO_RESOURCE_INTERRUPT, IO_RESOURCE_LIST,
    IO_RESOURCE_LIST_HEADER_SIZE, IO_RESOURCE_REQUIREMENTS_LIST,
    IO_RESOURCE_REQUIREMENTS_LIST_HEADER_SIZE, IrqPolicySpecifiedProcessors,
};

/// Why a requirements list was not edited (the caller keeps the original).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequirementsError {
    /// Shorter than the list header.
    Truncated,
    /// `ListSize` is below the header size or beyond the buffer.
    ListSizeOutOfRange,
    /// `AlternativeLists` is 0.
    NoAlternatives,
    /// An alternative's header or descriptors run past `ListSize`.
    DescriptorsOverrun {
        /// Index of the alternative.
        alternative: usize,
    },
    /// A descriptor has a type that is not a known `CmResourceType*`.
    UnknownResourceType {
        /// Index of the alternative.
        alternative: usize,
        /// Index of the descriptor in it.
        descriptor: usize,
        /// The type byte.
        resource_type: u8,
    },
    /// No RSS processor to bind messages to.
    NoProcessors,
    /// The edited list would not fit a `ULONG` `ListSize` (cannot happen with <= 2048 messages
    /// per alternative and a valid input; checked rather than assumed).
    TooLarge,
    /// The output buffer is smaller than [`edited_size`] said.
    OutputTooSmall,
}

const OFF_LIST_SIZE: usize = offset_of!(IO_RESOURCE_REQUIREMENTS_LIST, ListSize);
const OFF_ALTERNATIVE_LISTS: usize = offset_of!(IO_RESOURCE_REQUIREMENTS_LIST, AlternativeLists);
const OFF_LIST_COUNT: usize = offset_of!(IO_RESOURCE_LIST, Count);
const OFF_DESC_OPTION: usize = offset_of!(IO_RESOURCE_DESCRIPTOR, Option);
const OFF_DESC_TYPE: usize = offset_of!(IO_RESOURCE_DESCRIPTOR, Type);
const OFF_DESC_FLAGS: usize = offset_of!(IO_RESOURCE_DESCRIPTOR, Flags);
const OFF_INTERRUPT: usize = offset_of!(IO_RESOURCE_DESCRIPTOR, u);
const OFF_MIN_VECTOR: usize = OFF_INTERRUPT + offset_of!(IO_RESOURCE_INTERRUPT, MinimumVector);
const OFF_MAX_VECTOR: usize = OFF_INTERRUPT + offset_of!(IO_RESOURCE_INTERRUPT, MaximumVector);
const OFF_AFFINITY_POLICY: usize =
    OFF_INTERRUPT + offset_of!(IO_RESOURCE_INTERRUPT, AffinityPolicy);
const OFF_GROUP: usize = OFF_INTERRUPT + offset_of!(IO_RESOURCE_INTERRUPT, Group);
const OFF_TARGETED: usize = OFF_INTERRUPT + offset_of!(IO_RESOURCE_INTERRUPT, TargetedProcessors);
const _: () = assert!(size_of::<IO_RESOURCE_DESCRIPTOR>() == IO_RESOURCE_DESCRIPTOR_SIZE);

/// One `IO_RESOURCE_DESCRIPTOR`, viewed as its 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor<'a>(&'a [u8; IO_RESOURCE_DESCRIPTOR_SIZE]);

impl<'a> Descriptor<'a> {
    /// The raw bytes.
    #[must_use]
    pub const fn bytes(self) -> &'a [u8; IO_RESOURCE_DESCRIPTOR_SIZE] {
        self.0
    }
    /// `Option` (`IO_RESOURCE_ALTERNATIVE`, …).
    #[must_use]
    pub const fn option(self) -> u8 {
        self.0[OFF_DESC_OPTION]
    }
    /// `Type` (`CmResourceType*`).
    #[must_use]
    pub const fn resource_type(self) -> u8 {
        self.0[OFF_DESC_TYPE]
    }
    /// `Flags`.
    #[must_use]
    pub const fn flags(self) -> u16 {
        u16::from_le_bytes([self.0[OFF_DESC_FLAGS], self.0[OFF_DESC_FLAGS + 1]])
    }
    fn field_u32(self, offset: usize) -> u32 {
        bytes::read_u32(self.0, offset).unwrap_or(0)
    }
    /// `u.Interrupt.MinimumVector`.
    #[must_use]
    pub fn minimum_vector(self) -> u32 {
        self.field_u32(OFF_MIN_VECTOR)
    }
    /// `u.Interrupt.MaximumVector`.
    #[must_use]
    pub fn maximum_vector(self) -> u32 {
        self.field_u32(OFF_MAX_VECTOR)
    }
    /// `u.Interrupt.AffinityPolicy`.
    #[must_use]
    pub fn affinity_policy(self) -> u16 {
        bytes::read_u16(self.0, OFF_AFFINITY_POLICY).unwrap_or(0)
    }
    /// `u.Interrupt.Group`.
    #[must_use]
    pub fn group(self) -> u16 {
        bytes::read_u16(self.0, OFF_GROUP).unwrap_or(0)
    }
    /// `u.Interrupt.TargetedProcessors`.
    #[must_use]
    pub fn targeted_processors(self) -> u64 {
        bytes::read_u64(self.0, OFF_TARGETED).unwrap_or(0)
    }
    /// A message-signaled interrupt (MSI or MSI-X)?
    #[must_use]
    pub const fn is_message_interrupt(self) -> bool {
        self.resource_type() == CmResourceTypeInterrupt
            && self.flags() & CM_RESOURCE_INTERRUPT_MESSAGE != 0
    }
    /// The processor this message descriptor is bound to with `IrqPolicySpecifiedProcessors`.
    #[must_use]
    pub fn specified_processor(self) -> Option<Processor> {
        (self.is_message_interrupt()
            && self.flags() & CM_RESOURCE_INTERRUPT_POLICY_INCLUDED != 0
            && self.affinity_policy() == IrqPolicySpecifiedProcessors)
            .then(|| Processor::from_single_bit_mask(self.group(), self.targeted_processors()))
            .flatten()
    }
}

/// What kind of interrupt an alternative list asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlternativeKind {
    /// No message descriptor: line-based (or no interrupt at all).
    NoMessages,
    /// One message descriptor for `messages` MSI messages.
    Msi {
        /// `MaximumVector - MinimumVector + 1`.
        messages: u32,
    },
    /// One descriptor per MSI-X message.
    MsiX {
        /// Number of message descriptors.
        messages: usize,
    },
    /// Message descriptors in a shape neither MSI nor MSI-X describes (several descriptors
    /// with a vector range): left untouched.
    Irregular,
}

#[derive(Clone, Copy, Debug)]
struct AlternativeSpan {
    /// Offset of the `IO_RESOURCE_LIST` header within the list.
    offset: usize,
    /// `Count`.
    count: usize,
}

impl AlternativeSpan {
    fn byte_len(&self) -> usize {
        IO_RESOURCE_LIST_HEADER_SIZE + self.count * IO_RESOURCE_DESCRIPTOR_SIZE
    }
}

/// A validated `IO_RESOURCE_REQUIREMENTS_LIST`.
#[derive(Clone, Debug)]
pub struct RequirementsList<'a> {
    /// The list's bytes, exactly `ListSize` long.
    bytes: &'a [u8],
    alternatives: Vec<AlternativeSpan>,
}

impl<'a> RequirementsList<'a> {
    /// Validates `input` (which may be longer than `ListSize`; the excess is ignored).
    ///
    /// # Errors
    /// [`RequirementsError`] for anything malformed.
    pub fn parse(input: &'a [u8]) -> Result<Self, RequirementsError> {
        let list_size =
            bytes::read_u32(input, OFF_LIST_SIZE).ok_or(RequirementsError::Truncated)?;
        let alternatives =
            bytes::read_u32(input, OFF_ALTERNATIVE_LISTS).ok_or(RequirementsError::Truncated)?;
        let list_size =
            usize::try_from(list_size).map_err(|_| RequirementsError::ListSizeOutOfRange)?;
        if list_size < IO_RESOURCE_REQUIREMENTS_LIST_HEADER_SIZE || list_size > input.len() {
            return Err(RequirementsError::ListSizeOutOfRange);
        }
        if alternatives == 0 {
            return Err(RequirementsError::NoAlternatives);
        }
        let list = input.get(..list_size).ok_or(RequirementsError::ListSizeOutOfRange)?;
        // Each alternative needs at least its 8-byte header inside ListSize, which bounds the
        // count before anything is allocated for it.
        let max_alternatives =
            (list_size - IO_RESOURCE_REQUIREMENTS_LIST_HEADER_SIZE) / IO_RESOURCE_LIST_HEADER_SIZE;
        let alternatives = usize::try_from(alternatives).unwrap_or(usize::MAX);
        if alternatives > max_alternatives {
            return Err(RequirementsError::DescriptorsOverrun { alternative: max_alternatives });
        }
        let mut spans = Vec::new();
        spans.try_reserve_exact(alternatives).map_err(|_| RequirementsError::TooLarge)?;
        let mut offset = IO_RESOURCE_REQUIREMENTS_LIST_HEADER_SIZE;
        for alternative in 0..alternatives {
            let overrun = RequirementsError::DescriptorsOverrun { alternative };
            let count = bytes::read_u32(list, offset + OFF_LIST_COUNT).ok_or(overrun)?;
            let count = usize::try_from(count).map_err(|_| overrun)?;
            let end = count
                .checked_mul(IO_RESOURCE_DESCRIPTOR_SIZE)
                .and_then(|d| d.checked_add(IO_RESOURCE_LIST_HEADER_SIZE))
                .and_then(|len| len.checked_add(offset))
                .ok_or(overrun)?;
            if end > list.len() {
                return Err(overrun);
            }
            let span = AlternativeSpan { offset, count };
            for (descriptor, d) in descriptors_of(list, span).enumerate() {
                if !is_known_resource_type(d.resource_type()) {
                    return Err(RequirementsError::UnknownResourceType {
                        alternative,
                        descriptor,
                        resource_type: d.resource_type(),
                    });
                }
            }
            spans.push(span);
            offset = end;
        }
        Ok(Self { bytes: list, alternatives: spans })
    }

    /// `ListSize`.
    #[must_use]
    pub const fn list_size(&self) -> usize {
        self.bytes.len()
    }

    /// Number of alternative lists.
    #[must_use]
    pub fn alternative_count(&self) -> usize {
        self.alternatives.len()
    }

    /// The descriptors of alternative `index` (empty if there is no such alternative).
    pub fn descriptors(&self, index: usize) -> impl Iterator<Item = Descriptor<'a>> + use<'a> {
        let span = self
            .alternatives
            .get(index)
            .copied()
            .unwrap_or(AlternativeSpan { offset: 0, count: 0 });
        descriptors_of(self.bytes, span)
    }

    /// What kind of interrupt alternative `index` asks for.
    #[must_use]
    pub fn kind(&self, index: usize) -> AlternativeKind {
        let mut messages = self.descriptors(index).filter(|d| d.is_message_interrupt());
        let Some(first) = messages.next() else { return AlternativeKind::NoMessages };
        let is_msix_message = |d: Descriptor<'_>| {
            d.minimum_vector() == CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN
                && d.maximum_vector() == CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN
        };
        let rest = self.descriptors(index).filter(|d| d.is_message_interrupt()).count() - 1;
        if rest == 0 && !is_msix_message(first) {
            let span = first.maximum_vector().wrapping_sub(first.minimum_vector());
            return AlternativeKind::Msi { messages: span.saturating_add(1) };
        }
        if is_msix_message(first) && messages.all(is_msix_message) {
            AlternativeKind::MsiX { messages: rest + 1 }
        } else {
            AlternativeKind::Irregular
        }
    }
}

fn descriptors_of(list: &[u8], span: AlternativeSpan) -> impl Iterator<Item = Descriptor<'_>> {
    let start = span.offset + IO_RESOURCE_LIST_HEADER_SIZE;
    let area = list.get(start..start + span.count * IO_RESOURCE_DESCRIPTOR_SIZE).unwrap_or(&[]);
    area.chunks_exact(IO_RESOURCE_DESCRIPTOR_SIZE)
        .filter_map(|chunk| <&[u8; IO_RESOURCE_DESCRIPTOR_SIZE]>::try_from(chunk).ok())
        .map(Descriptor)
}

/// The `CmResourceType*` values wdm.h defines (0..=7 and 128..=132).
const fn is_known_resource_type(resource_type: u8) -> bool {
    resource_type <= CmResourceTypeMemoryLarge
        || (resource_type >= CmResourceTypeNonArbitrated
            && resource_type <= CmResourceTypeConnection)
}

/// The receive processors the edited list asks a message for: the most preferred prefix of
/// `processors` that keeps the total at or below [`MAX_MESSAGES_PER_FUNCTION`].
#[must_use]
pub fn receive_processors(processors: &[Processor]) -> &[Processor] {
    let limit = MAX_MESSAGES_PER_FUNCTION - OTHER_CAUSE_MESSAGES;
    processors.get(..limit).unwrap_or(processors)
}

/// Message descriptors each MSI-X alternative gets: one per receive processor plus the
/// "other causes" message(s).
#[must_use]
pub fn messages_per_msix_alternative(processors: &[Processor]) -> usize {
    receive_processors(processors).len() + OTHER_CAUSE_MESSAGES
}

/// What an edit did, for logging and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EditSummary {
    /// `ListSize` of the new list.
    pub list_size: usize,
    /// Alternatives whose message descriptors were replaced.
    pub msix_alternatives: usize,
    /// Message descriptors in each of those (receive processors + other causes).
    pub messages_per_msix_alternative: usize,
    /// RSS processors that got a message.
    pub receive_processors: usize,
    /// RSS processors left out to stay within [`MAX_MESSAGES_PER_FUNCTION`].
    pub dropped_processors: usize,
}

fn edited_alternative_len(list: &RequirementsList<'_>, index: usize, messages: usize) -> usize {
    let Some(span) = list.alternatives.get(index) else { return 0 };
    match list.kind(index) {
        AlternativeKind::MsiX { messages: old } => {
            IO_RESOURCE_LIST_HEADER_SIZE
                + (span.count - old + messages) * IO_RESOURCE_DESCRIPTOR_SIZE
        }
        _ => span.byte_len(),
    }
}

/// Size in bytes of the edited list (pass 1 of 2: the caller allocates exactly this much).
///
/// # Errors
/// [`RequirementsError::NoProcessors`] for an empty processor set, [`RequirementsError::TooLarge`]
/// if the size would not fit a `ULONG`.
pub fn edited_size(
    list: &RequirementsList<'_>,
    processors: &[Processor],
) -> Result<usize, RequirementsError> {
    if processors.is_empty() {
        return Err(RequirementsError::NoProcessors);
    }
    let messages = messages_per_msix_alternative(processors);
    let mut size = IO_RESOURCE_REQUIREMENTS_LIST_HEADER_SIZE;
    for index in 0..list.alternative_count() {
        size = size
            .checked_add(edited_alternative_len(list, index, messages))
            .ok_or(RequirementsError::TooLarge)?;
    }
    if u32::try_from(size).is_err() {
        return Err(RequirementsError::TooLarge);
    }
    Ok(size)
}

/// Writes the edited list into `out` (pass 2 of 2), which must hold [`edited_size`] bytes.
///
/// # Errors
/// As [`edited_size`], plus [`RequirementsError::OutputTooSmall`]. On error `out` may hold a
/// partial list and must not be used.
pub fn write_edited(
    list: &RequirementsList<'_>,
    processors: &[Processor],
    out: &mut [u8],
) -> Result<EditSummary, RequirementsError> {
    let size = edited_size(list, processors)?;
    let out = out.get_mut(..size).ok_or(RequirementsError::OutputTooSmall)?;
    let receive = receive_processors(processors);
    let messages = receive.len() + OTHER_CAUSE_MESSAGES;

    let mut writer = Writer { out, at: 0 };
    // Header: InterfaceType, BusNumber, SlotNumber, Reserved and AlternativeLists unchanged;
    // ListSize is the new size.
    writer.put(list.bytes.get(..IO_RESOURCE_REQUIREMENTS_LIST_HEADER_SIZE).unwrap_or(&[]))?;
    let new_size = u32::try_from(size).map_err(|_| RequirementsError::TooLarge)?;
    if !bytes::write_u32(writer.out, OFF_LIST_SIZE, new_size) {
        return Err(RequirementsError::OutputTooSmall);
    }

    let mut msix_alternatives = 0;
    for (index, span) in list.alternatives.iter().enumerate() {
        let header =
            list.bytes.get(span.offset..span.offset + IO_RESOURCE_LIST_HEADER_SIZE).unwrap_or(&[]);
        let AlternativeKind::MsiX { messages: old } = list.kind(index) else {
            writer
                .put(list.bytes.get(span.offset..span.offset + span.byte_len()).unwrap_or(&[]))?;
            continue;
        };
        msix_alternatives += 1;
        let count_at = writer.at + OFF_LIST_COUNT;
        writer.put(header)?;
        let new_count =
            u32::try_from(span.count - old + messages).map_err(|_| RequirementsError::TooLarge)?;
        if !bytes::write_u32(writer.out, count_at, new_count) {
            return Err(RequirementsError::OutputTooSmall);
        }
        let mut replaced = false;
        for descriptor in list.descriptors(index) {
            if !descriptor.is_message_interrupt() {
                writer.put(descriptor.bytes())?;
            } else if !replaced {
                replaced = true;
                // Message 0: other causes, PCI's own descriptor and policy.
                writer.put(descriptor.bytes())?;
                for processor in receive {
                    writer.put(&receive_descriptor(descriptor, *processor))?;
                }
            }
        }
    }
    if writer.at != size {
        return Err(RequirementsError::OutputTooSmall);
    }
    Ok(EditSummary {
        list_size: size,
        msix_alternatives,
        messages_per_msix_alternative: messages,
        receive_processors: receive.len(),
        dropped_processors: processors.len() - receive.len(),
    })
}

/// Convenience for tests and the simulator: parse, size, allocate and write in one call.
///
/// # Errors
/// Any [`RequirementsError`].
pub fn edit_requirements(
    input: &[u8],
    processors: &[Processor],
) -> Result<(Vec<u8>, EditSummary), RequirementsError> {
    let list = RequirementsList::parse(input)?;
    let mut out = alloc::vec![0u8; edited_size(&list, processors)?];
    let summary = write_edited(&list, processors, &mut out)?;
    Ok((out, summary))
}

/// A message descriptor for `processor`, derived from PCI's `template`.
fn receive_descriptor(
    template: Descriptor<'_>,
    processor: Processor,
) -> [u8; IO_RESOURCE_DESCRIPTOR_SIZE] {
    let mut descriptor = *template.bytes();
    let flags = template.flags() | CM_RESOURCE_INTERRUPT_POLICY_INCLUDED;
    // Every offset below is a constant inside the 32-byte descriptor (checked by the
    // layout assertions), so the writes cannot fail; their results are ignored on purpose.
    let _ = bytes::write_u16(&mut descriptor, OFF_DESC_FLAGS, flags);
    let _ = bytes::write_u16(&mut descriptor, OFF_AFFINITY_POLICY, IrqPolicySpecifiedProcessors);
    let _ = bytes::write_u16(&mut descriptor, OFF_GROUP, processor.group);
    let _ = bytes::write_u64(&mut descriptor, OFF_TARGETED, processor.affinity_mask());
    descriptor
}

struct Writer<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, data: &[u8]) -> Result<(), RequirementsError> {
        let end = self.at.checked_add(data.len()).ok_or(RequirementsError::OutputTooSmall)?;
        self.out
            .get_mut(self.at..end)
            .ok_or(RequirementsError::OutputTooSmall)?
            .copy_from_slice(data);
        self.at = end;
        Ok(())
    }
}

/// Builders of requirements lists in the shape the PCI bus driver produces them, for tests and
/// for the simulated PnP manager. The driver itself never builds a list from scratch.
pub mod build {
    use alloc::vec::Vec;

    use super::{
        OFF_AFFINITY_POLICY, OFF_DESC_FLAGS, OFF_DESC_OPTION, OFF_DESC_TYPE, OFF_GROUP,
        OFF_MAX_VECTOR, OFF_MIN_VECTOR, OFF_TARGETED,
    };
    use crate::interrupt::bytes;
    use crate::ndis::{
        ALL_PROCESSOR_GROUPS, CM_RESOURCE_INTERRUPT_LATCHED, CM_RESOURCE_INTERRUPT_MESSAGE,
        CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN, CmResourceShareDeviceExclusive, CmResourceShareShared,
        CmResourceTypeInterrupt, CmResourceTypeMemory, IO_RESOURCE_ALTERNATIVE,
        IO_RESOURCE_DESCRIPTOR_SIZE, IrqPolicyMachineDefault, PCIBus,
    };

    /// A raw `IO_RESOURCE_DESCRIPTOR`.
    pub type RawDescriptor = [u8; IO_RESOURCE_DESCRIPTOR_SIZE];

    fn descriptor(option: u8, resource_type: u8, share: u8, flags: u16) -> RawDescriptor {
        let mut d = [0u8; IO_RESOURCE_DESCRIPTOR_SIZE];
        d[OFF_DESC_OPTION] = option;
        d[OFF_DESC_TYPE] = resource_type;
        d[OFF_DESC_TYPE + 1] = share;
        bytes::write_u16(&mut d, OFF_DESC_FLAGS, flags);
        d
    }

    /// A memory BAR requirement (`u.Memory`).
    #[must_use]
    pub fn memory(length: u32, alignment: u32, minimum: i64, maximum: i64) -> RawDescriptor {
        let mut d = descriptor(0, CmResourceTypeMemory, CmResourceShareDeviceExclusive, 0);
        bytes::write_u32(&mut d, 8, length);
        bytes::write_u32(&mut d, 12, alignment);
        bytes::write_array(&mut d, 16, minimum.to_le_bytes());
        bytes::write_array(&mut d, 24, maximum.to_le_bytes());
        d
    }

    /// One MSI-X message as PCI lists it: latched, message, vector range = the token, machine
    /// default affinity.
    #[must_use]
    pub fn msix_message() -> RawDescriptor {
        msi_messages(1)
    }

    /// The single MSI descriptor standing for `count` (>= 1) messages.
    #[must_use]
    pub fn msi_messages(count: u32) -> RawDescriptor {
        let mut d = descriptor(
            0,
            CmResourceTypeInterrupt,
            CmResourceShareDeviceExclusive,
            CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE,
        );
        let minimum = CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN.wrapping_sub(count.max(1) - 1);
        bytes::write_u32(&mut d, OFF_MIN_VECTOR, minimum);
        bytes::write_u32(&mut d, OFF_MAX_VECTOR, CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN);
        bytes::write_u16(&mut d, OFF_AFFINITY_POLICY, IrqPolicyMachineDefault);
        bytes::write_u16(&mut d, OFF_GROUP, ALL_PROCESSOR_GROUPS);
        bytes::write_u64(&mut d, OFF_TARGETED, 0);
        d
    }

    /// The line-based interrupt PCI appends after the messages, marked as an alternative.
    #[must_use]
    pub fn line_interrupt(vector: u32) -> RawDescriptor {
        let mut d =
            descriptor(IO_RESOURCE_ALTERNATIVE, CmResourceTypeInterrupt, CmResourceShareShared, 0);
        bytes::write_u32(&mut d, OFF_MIN_VECTOR, vector);
        bytes::write_u32(&mut d, OFF_MAX_VECTOR, vector);
        bytes::write_u16(&mut d, OFF_GROUP, ALL_PROCESSOR_GROUPS);
        d
    }

    /// An `IO_RESOURCE_REQUIREMENTS_LIST` (PCI bus) holding `alternatives`.
    #[must_use]
    pub fn requirements_list(alternatives: &[Vec<RawDescriptor>]) -> Vec<u8> {
        let mut list = alloc::vec![0u8; 0x20];
        bytes::write_u32(&mut list, 4, PCIBus.cast_unsigned());
        bytes::write_u32(&mut list, 0xC, 3 << 3);
        bytes::write_u32(&mut list, 0x1C, u32::try_from(alternatives.len()).unwrap_or(u32::MAX));
        for descriptors in alternatives {
            list.extend_from_slice(&1u16.to_le_bytes());
            list.extend_from_slice(&1u16.to_le_bytes());
            list.extend_from_slice(
                &u32::try_from(descriptors.len()).unwrap_or(u32::MAX).to_le_bytes(),
            );
            for d in descriptors {
                list.extend_from_slice(d);
            }
        }
        let size = u32::try_from(list.len()).unwrap_or(u32::MAX);
        bytes::write_u32(&mut list, 0, size);
        list
    }

    /// The list PCI builds for an MSI-X function with `table_entries` entries and one memory
    /// BAR per entry of `bars`: memory, one message per table entry, then the line interrupt.
    #[must_use]
    pub fn pci_msix_function(bars: &[u32], table_entries: usize, line_vector: u32) -> Vec<u8> {
        let mut descriptors: Vec<RawDescriptor> =
            bars.iter().map(|len| memory(*len, *len, 0, i64::MAX)).collect();
        descriptors.extend(core::iter::repeat_n(msix_message(), table_entries));
        descriptors.push(line_interrupt(line_vector));
        requirements_list(&[descriptors])
    }
}

#[cfg(test)]
mod tests {
    use super::build::{self, RawDescriptor};
    use super::*;
    use crate::ndis::{CmResourceTypeMemory, IO_RESOURCE_ALTERNATIVE, IrqPolicyMachineDefault};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn p(group: u16, number: u8) -> Processor {
        Processor { group, number }
    }

    fn alternative(list: &RequirementsList<'_>, index: usize) -> Vec<RawDescriptor> {
        list.descriptors(index).map(|d| *d.bytes()).collect()
    }

    fn message_targets(list: &RequirementsList<'_>, index: usize) -> Vec<Option<Processor>> {
        list.descriptors(index)
            .filter(|d| d.is_message_interrupt())
            .map(Descriptor::specified_processor)
            .collect()
    }

    /// The test vector of ndis-vmq-spec §1.5: [memory, msg, msg, line-ALT] with RSS processors
    /// 0:1, 0:3, 1:5 → [memory, msg0 (other causes, PCI policy), msg→0:1, msg→0:3, msg→1:5,
    /// line-ALT].
    #[test]
    fn spec_test_vector() {
        let memory = build::memory(0x2_0000, 0x2_0000, 0, i64::MAX);
        let line = build::line_interrupt(11);
        let input = build::requirements_list(&[vec![
            memory,
            build::msix_message(),
            build::msix_message(),
            line,
        ]]);
        let processors = [p(0, 1), p(0, 3), p(1, 5)];
        let (output, summary) = edit_requirements(&input, &processors).unwrap();
        let list = RequirementsList::parse(&output).unwrap();
        assert_eq!(list.list_size(), output.len());
        assert_eq!(output.len(), 0x20 + 8 + 6 * 0x20);
        let descriptors = alternative(&list, 0);
        assert_eq!(descriptors.len(), 6);
        assert_eq!(descriptors[0], memory);
        assert_eq!(descriptors[1], build::msix_message(), "message 0 keeps PCI's policy");
        assert_eq!(descriptors[5], line);
        assert_eq!(descriptors[5][0], IO_RESOURCE_ALTERNATIVE);
        assert_eq!(
            message_targets(&list, 0),
            vec![None, Some(p(0, 1)), Some(p(0, 3)), Some(p(1, 5))]
        );
        assert_eq!(summary.messages_per_msix_alternative, 4);
        assert_eq!(summary.msix_alternatives, 1);
        // Header fields other than ListSize are untouched.
        assert_eq!(output[4..0x20], input[4..0x20]);
    }

    /// The seed's example: a NIC with 4 table entries on an 8-processor machine asks for 8
    /// receive messages (plus one for other causes): more messages than table entries.
    #[test]
    fn more_messages_than_table_entries() {
        let input = build::pci_msix_function(&[0x2_0000, 0x4000], 4, 10);
        let processors: Vec<Processor> = (0..8).map(|n| p(0, n)).collect();
        let (output, summary) = edit_requirements(&input, &processors).unwrap();
        let list = RequirementsList::parse(&output).unwrap();
        assert_eq!(list.kind(0), AlternativeKind::MsiX { messages: 9 });
        let targets = message_targets(&list, 0);
        assert_eq!(targets[0], None);
        assert_eq!(targets[1..].iter().map(|t| t.unwrap()).collect::<Vec<_>>(), processors);
        assert_eq!(summary.dropped_processors, 0);
    }

    #[test]
    fn fewer_processors_than_table_entries_shrinks_the_request() {
        let input = build::pci_msix_function(&[0x2_0000], 10, 10);
        let (output, _) = edit_requirements(&input, &[p(0, 0)]).unwrap();
        let list = RequirementsList::parse(&output).unwrap();
        assert_eq!(list.kind(0), AlternativeKind::MsiX { messages: 2 });
    }

    #[test]
    fn msi_and_line_only_alternatives_are_copied_verbatim() {
        let memory = build::memory(0x2_0000, 0x2_0000, 0, i64::MAX);
        let msi = vec![memory, build::msi_messages(4), build::line_interrupt(10)];
        let line_only = vec![memory, build::line_interrupt(10)];
        let msix = vec![memory, build::msix_message(), build::line_interrupt(10)];
        let input = build::requirements_list(&[msi.clone(), line_only.clone(), msix]);
        let (output, summary) = edit_requirements(&input, &[p(0, 0), p(0, 1)]).unwrap();
        let list = RequirementsList::parse(&output).unwrap();
        assert_eq!(list.kind(0), AlternativeKind::Msi { messages: 4 });
        assert_eq!(alternative(&list, 0), msi);
        assert_eq!(list.kind(1), AlternativeKind::NoMessages);
        assert_eq!(alternative(&list, 1), line_only);
        assert_eq!(list.kind(2), AlternativeKind::MsiX { messages: 3 });
        assert_eq!(summary.msix_alternatives, 1);
    }

    #[test]
    fn the_total_never_exceeds_2048_messages() {
        let input = build::pci_msix_function(&[0x2_0000], 10, 10);
        let processors: Vec<Processor> = (0..3000u32)
            .map(|i| p(u16::try_from(i / 64).unwrap(), u8::try_from(i % 64).unwrap()))
            .collect();
        let (output, summary) = edit_requirements(&input, &processors).unwrap();
        let list = RequirementsList::parse(&output).unwrap();
        assert_eq!(list.kind(0), AlternativeKind::MsiX { messages: MAX_MESSAGES_PER_FUNCTION });
        assert_eq!(summary.receive_processors, 2047);
        assert_eq!(summary.dropped_processors, 3000 - 2047);
        // The most preferred (first) processors are the ones kept.
        let targets = message_targets(&list, 0);
        assert_eq!(targets[1], Some(processors[0]));
        assert_eq!(targets[2047], Some(processors[2046]));
    }

    #[test]
    fn malformed_lists_are_rejected() {
        let good = build::pci_msix_function(&[0x2_0000], 2, 10);
        assert!(RequirementsList::parse(&good).is_ok());
        assert_eq!(
            RequirementsList::parse(&good[..0x1F]).unwrap_err(),
            RequirementsError::Truncated
        );
        assert_eq!(
            RequirementsList::parse(&good[..good.len() - 1]).unwrap_err(),
            RequirementsError::ListSizeOutOfRange
        );

        let mut small = good.clone();
        bytes::write_u32(&mut small, 0, 0x1F);
        assert_eq!(
            RequirementsList::parse(&small).unwrap_err(),
            RequirementsError::ListSizeOutOfRange
        );

        let mut none = good.clone();
        bytes::write_u32(&mut none, 0x1C, 0);
        assert_eq!(RequirementsList::parse(&none).unwrap_err(), RequirementsError::NoAlternatives);

        let mut too_many = good.clone();
        bytes::write_u32(&mut too_many, 0x1C, 2);
        assert!(matches!(
            RequirementsList::parse(&too_many).unwrap_err(),
            RequirementsError::DescriptorsOverrun { alternative: 1 }
        ));

        let mut count_overrun = good.clone();
        bytes::write_u32(&mut count_overrun, 0x24, 5);
        assert_eq!(
            RequirementsList::parse(&count_overrun).unwrap_err(),
            RequirementsError::DescriptorsOverrun { alternative: 0 }
        );

        let mut huge_count = good.clone();
        bytes::write_u32(&mut huge_count, 0x24, u32::MAX);
        assert_eq!(
            RequirementsList::parse(&huge_count).unwrap_err(),
            RequirementsError::DescriptorsOverrun { alternative: 0 }
        );

        let mut unknown = good.clone();
        unknown[0x28 + 1] = 42;
        assert_eq!(
            RequirementsList::parse(&unknown).unwrap_err(),
            RequirementsError::UnknownResourceType {
                alternative: 0,
                descriptor: 0,
                resource_type: 42
            }
        );

        let list = RequirementsList::parse(&good).unwrap();
        assert_eq!(edited_size(&list, &[]), Err(RequirementsError::NoProcessors));
        let mut short = vec![0u8; edited_size(&list, &[p(0, 0)]).unwrap() - 1];
        assert_eq!(
            write_edited(&list, &[p(0, 0)], &mut short),
            Err(RequirementsError::OutputTooSmall)
        );
    }

    #[test]
    fn irregular_message_shapes_are_left_alone() {
        // Two message descriptors, one of them with an MSI-style vector range.
        let irregular = vec![build::msix_message(), build::msi_messages(2)];
        let input = build::requirements_list(core::slice::from_ref(&irregular));
        let (output, summary) = edit_requirements(&input, &[p(0, 0)]).unwrap();
        let list = RequirementsList::parse(&output).unwrap();
        assert_eq!(list.kind(0), AlternativeKind::Irregular);
        assert_eq!(alternative(&list, 0), irregular);
        assert_eq!(summary.msix_alternatives, 0);
    }

    fn descriptor_strategy() -> impl Strategy<Value = RawDescriptor> {
        prop_oneof![
            (any::<u32>(), any::<i64>()).prop_map(|(len, min)| build::memory(
                len,
                0x1000,
                min,
                i64::MAX
            )),
            Just(build::msix_message()),
            (1u32..=32).prop_map(build::msi_messages),
            any::<u32>().prop_map(build::line_interrupt),
            // Port, DMA, bus number, device-private… with random payloads.
            (prop_oneof![Just(1u8), Just(4), Just(6), Just(129)], any::<[u8; 24]>()).prop_map(
                |(ty, payload)| {
                    let mut d = [0u8; 32];
                    d[1] = ty;
                    d[8..].copy_from_slice(&payload);
                    d
                }
            ),
        ]
    }

    fn processors_strategy() -> impl Strategy<Value = Vec<Processor>> {
        // 1..=3000 processors in up to 32 groups, unique.
        (1usize..=3000, 1u16..=32).prop_flat_map(|(count, groups)| {
            proptest::collection::btree_set(
                (0..groups, 0u8..64),
                1..=count.min(usize::from(groups) * 64),
            )
            .prop_map(|set| set.into_iter().map(|(g, n)| p(g, n)).collect::<Vec<_>>())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn edited_lists_keep_the_invariants(
            alternatives in proptest::collection::vec(proptest::collection::vec(descriptor_strategy(), 0..12), 1..=4),
            processors in processors_strategy(),
        ) {
            let input = build::requirements_list(&alternatives);
            let before = RequirementsList::parse(&input).unwrap();
            let (output, summary) = edit_requirements(&input, &processors).unwrap();
            let after = RequirementsList::parse(&output).expect("the output parses back");
            prop_assert_eq!(after.list_size(), output.len());
            prop_assert_eq!(after.alternative_count(), before.alternative_count());
            let receive = receive_processors(&processors);
            prop_assert!(receive.len() + OTHER_CAUSE_MESSAGES <= MAX_MESSAGES_PER_FUNCTION);
            for index in 0..before.alternative_count() {
                let old: Vec<Descriptor<'_>> = before.descriptors(index).collect();
                let new: Vec<Descriptor<'_>> = after.descriptors(index).collect();
                // Non-interrupt-message descriptors: same bytes, same order.
                let keep = |ds: &[Descriptor<'_>]| ds.iter().filter(|d| !d.is_message_interrupt()).map(|d| *d.bytes()).collect::<Vec<_>>();
                prop_assert_eq!(keep(&old), keep(&new));
                if let AlternativeKind::MsiX { .. } = before.kind(index) {
                        let targets = message_targets(&after, index);
                        prop_assert_eq!(targets.len(), receive.len() + OTHER_CAUSE_MESSAGES);
                        prop_assert!(targets.len() <= MAX_MESSAGES_PER_FUNCTION);
                        prop_assert_eq!(targets[0], None);
                        // Exactly one message per chosen processor, in preference order.
                        let chosen: Vec<Processor> = targets[1..].iter().map(|t| t.unwrap()).collect();
                        prop_assert_eq!(&chosen[..], receive);
                } else {
                    prop_assert_eq!(old, new);
                }
            }
            prop_assert_eq!(summary.receive_processors + summary.dropped_processors, processors.len());
        }

        #[test]
        fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512), n in 1u8..8) {
            let processors: Vec<Processor> = (0..n).map(|i| p(0, i)).collect();
            if let Ok((output, _)) = edit_requirements(&input, &processors) {
                prop_assert!(RequirementsList::parse(&output).is_ok());
            }
        }

        #[test]
        fn mutated_valid_lists_never_panic(
            alternatives in proptest::collection::vec(proptest::collection::vec(descriptor_strategy(), 0..6), 1..=3),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut input = build::requirements_list(&alternatives);
            let len = input.len();
            for (at, value) in flips {
                input[at % len] = value;
            }
            if let Ok((output, _)) = edit_requirements(&input, &[p(0, 0), p(1, 63)]) {
                prop_assert!(RequirementsList::parse(&output).is_ok());
            }
        }
    }

    #[test]
    fn builder_descriptors_have_the_pci_shape() {
        let d = build::msix_message();
        let view = Descriptor(&d);
        assert!(view.is_message_interrupt());
        assert_eq!(view.affinity_policy(), IrqPolicyMachineDefault);
        assert_eq!(Descriptor(&build::memory(1, 1, 0, 1)).resource_type(), CmResourceTypeMemory);
    }
}
