//! Interrupt resources, as pure logic: no NDIS call, no hardware access, byte slices in and
//! decisions out. The NDIS glue in `miniport` applies what these functions decide.
//!
//! Vocabulary (the one idea of the seed documents):
//! * A **message** is an OS-owned interrupt (address, data, target processor). Its processor is
//!   fixed when PnP assigns resources. Messages are numbered by their order among the message
//!   descriptors of the resource list; that number is the `MessageId` NDIS passes to the ISR.
//! * A **table entry** is one row of the NIC's MSI-X table. The 82576 routes each receive queue
//!   to a table entry (IVAR). At start the PCI driver points entry *i* at message *i*;
//!   NdisMConfigMSIXTableEntry re-points an entry at any granted message.
//!
//! The flow:
//! 1. [`rss`] parses what NdisGetRssProcessorInformation returned into the processor set.
//! 2. [`requirements`] edits the `IO_RESOURCE_REQUIREMENTS_LIST` in
//!    MiniportFilterResourceRequirements: one MSI-X message per RSS processor, plus one for
//!    "other causes", never more than [`MAX_MESSAGES_PER_FUNCTION`].
//! 3. [`grant`] parses what PnP actually granted (translated `CM_PARTIAL_RESOURCE_LIST` and
//!    `IO_INTERRUPT_MESSAGE_INFO`), and [`plan`] turns it into the interrupt plan: which message
//!    serves other causes, whether VMQ is offered and with how many queues.
//! 4. [`binding`] binds VMQ queues to table entries and messages at run time (allocation,
//!    affinity change, free), emitting the NdisMConfigMSIXTableEntry operations to perform.

pub mod binding;
pub mod bytes;
pub mod grant;
pub mod pci;
pub mod plan;
pub mod requirements;
pub mod rss;

/// Windows 8 and later accept at most this many interrupt messages per PCI function; asking
/// for more can stop the device from starting.
pub const MAX_MESSAGES_PER_FUNCTION: usize = 2048;

/// Messages requested for causes unrelated to send/receive (link status, errors). The VMQ
/// interrupt rules allow at most two; one is enough for the 82576, whose "other causes" all
/// share one IVAR_MISC vector.
pub const OTHER_CAUSE_MESSAGES: usize = 1;

/// A logical processor: (group, number within the group), as `PROCESSOR_NUMBER` names it.
///
/// The ordering (group, then number) is the "distance" order used when no message targets a
/// wanted processor: the nearest one in the same group first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Processor {
    /// Processor group.
    pub group: u16,
    /// Number within the group (< 64 on x64, the width of a `KAFFINITY`).
    pub number: u8,
}

impl Processor {
    /// A processor, if `number` fits a `KAFFINITY` (x64: < 64).
    #[must_use]
    pub const fn new(group: u16, number: u8) -> Option<Self> {
        if (number as u32) < crate::ndis::MAXIMUM_PROC_PER_GROUP {
            Some(Self { group, number })
        } else {
            None
        }
    }

    /// The single-processor `KAFFINITY` of this processor within its group.
    #[must_use]
    pub const fn affinity_mask(self) -> u64 {
        1u64 << (self.number & 63)
    }

    /// The processor named by a one-bit mask within `group`; `None` unless exactly one bit is set.
    #[must_use]
    pub const fn from_single_bit_mask(group: u16, mask: u64) -> Option<Self> {
        if mask.is_power_of_two() {
            // trailing_zeros of a one-bit u64 is < 64, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let number = mask.trailing_zeros() as u8;
            Some(Self { group, number })
        } else {
            None
        }
    }
}

impl core::fmt::Display for Processor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}", self.group, self.number)
    }
}

/// One NdisMConfigMSIXTableEntry operation, as decided by [`binding`]. The glue performs them
/// in order; `SetTableEntry` is always bracketed by `Mask` and `Unmask` when it re-points an
/// entry that may be live, so no interrupt is delivered half-way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsixOp {
    /// `NdisMSIXTableConfigSetTableEntry`: point `entry` at `message`.
    SetTableEntry {
        /// MSI-X table entry (hardware vector).
        entry: u32,
        /// Granted message number.
        message: u32,
    },
    /// `NdisMSIXTableConfigMaskTableEntry`.
    Mask {
        /// MSI-X table entry.
        entry: u32,
    },
    /// `NdisMSIXTableConfigUnmaskTableEntry`.
    Unmask {
        /// MSI-X table entry.
        entry: u32,
    },
}
