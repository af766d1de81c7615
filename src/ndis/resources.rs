//! PnP resource structures (wdm.h): the requirements list a driver edits in
//! MiniportFilterResourceRequirements, the translated resource list it receives in
//! MiniportInitializeEx, the interrupt-message table NdisMRegisterInterruptEx returns, and the
//! processor-group types (spec §3.16–§3.19, §3.21).
//!
//! The `CM_*` structures are 4-byte packed (`#pragma pack(4)` in wdm.h). windows-sys 0.61 gets
//! them wrong (it drops the pragma: 24/32/40/48 bytes instead of 20/28/36/40), so they are never
//! cross-checked against it; their `u64` members are unaligned and must be read by value.

use core::ffi::c_void;

use super::{KAFFINITY, KIRQL, NTSTATUS, PVOID, UCHAR, ULONG, ULONG_PTR, USHORT, assert_layout};

// ---------------------------------------------------------------------------------------------
// Processor groups (§3.19)
// ---------------------------------------------------------------------------------------------

/// `GROUP_AFFINITY`: a processor mask within one processor group.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GROUP_AFFINITY {
    /// Processors of `Group` (bit n = processor number n).
    pub Mask: KAFFINITY,
    /// Processor group.
    pub Group: USHORT,
    /// Must be zero.
    pub Reserved: [USHORT; 3],
}
assert_layout!(GROUP_AFFINITY, size 0x10, { Mask: 0x0, Group: 0x8, Reserved: 0xA });

/// `PROCESSOR_NUMBER`: a processor as (group, number within the group).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PROCESSOR_NUMBER {
    /// Processor group.
    pub Group: USHORT,
    /// Number within the group (< 64 on x64).
    pub Number: UCHAR,
    /// Reserved.
    pub Reserved: UCHAR,
}
assert_layout!(PROCESSOR_NUMBER, size 0x4, { Group: 0x0, Number: 0x2, Reserved: 0x3 });

/// `ALL_PROCESSOR_GROUPS`: the `Group` value for interrupt policies that name no processors.
pub const ALL_PROCESSOR_GROUPS: USHORT = 0xFFFF;
/// Processors per group on x64 (`MAXIMUM_PROC_PER_GROUP`): the width of a `KAFFINITY`.
pub const MAXIMUM_PROC_PER_GROUP: u32 = 64;

// ---------------------------------------------------------------------------------------------
// IO_RESOURCE_REQUIREMENTS_LIST (§3.16)
// ---------------------------------------------------------------------------------------------

/// `u.Interrupt` of an `IO_RESOURCE_DESCRIPTOR` (with `NT_PROCESSOR_GROUPS`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IO_RESOURCE_INTERRUPT {
    /// Lowest vector; for message interrupts `CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN - n + 1`.
    pub MinimumVector: ULONG,
    /// Highest vector; `CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN` for message interrupts.
    pub MaximumVector: ULONG,
    /// `IRQ_DEVICE_POLICY` (`IRQ_DEVICE_POLICY_USHORT` in group-aware kernels).
    pub AffinityPolicy: USHORT,
    /// Group of `TargetedProcessors`, or `ALL_PROCESSOR_GROUPS`.
    pub Group: USHORT,
    /// `IRQ_PRIORITY`.
    pub PriorityPolicy: ULONG,
    /// Processors within `Group` (with `IrqPolicySpecifiedProcessors`).
    pub TargetedProcessors: KAFFINITY,
}
assert_layout!(IO_RESOURCE_INTERRUPT, size 0x18, {
    MinimumVector: 0x0, MaximumVector: 0x4, AffinityPolicy: 0x8, Group: 0xA,
    PriorityPolicy: 0xC, TargetedProcessors: 0x10,
});

/// `u.Memory` (and, with the same layout, `u.Port`) of an `IO_RESOURCE_DESCRIPTOR`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IO_RESOURCE_MEMORY {
    /// Length of the range.
    pub Length: ULONG,
    /// Required alignment.
    pub Alignment: ULONG,
    /// Lowest acceptable start address.
    pub MinimumAddress: i64,
    /// Highest acceptable end address.
    pub MaximumAddress: i64,
}
assert_layout!(IO_RESOURCE_MEMORY, size 0x18, {
    Length: 0x0, Alignment: 0x4, MinimumAddress: 0x8, MaximumAddress: 0x10,
});

/// The union `u` of an `IO_RESOURCE_DESCRIPTOR` (0x18 bytes, 8-aligned).
#[repr(C)]
#[derive(Clone, Copy)]
pub union IO_RESOURCE_DESCRIPTOR_U {
    /// `CmResourceTypeInterrupt`.
    pub Interrupt: IO_RESOURCE_INTERRUPT,
    /// `CmResourceTypeMemory`.
    pub Memory: IO_RESOURCE_MEMORY,
    /// `CmResourceTypePort` (same layout as memory).
    pub Port: IO_RESOURCE_MEMORY,
    /// Raw view, for verbatim copies of descriptor types the driver does not interpret.
    pub Raw: [ULONG; 6],
}
assert_layout!(IO_RESOURCE_DESCRIPTOR_U, size 0x18, {
    Interrupt: 0x0, Memory: 0x0, Port: 0x0, Raw: 0x0,
});

/// `IO_RESOURCE_DESCRIPTOR`: one acceptable resource inside an alternative list.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IO_RESOURCE_DESCRIPTOR {
    /// 0, `IO_RESOURCE_PREFERRED`, `IO_RESOURCE_DEFAULT` or `IO_RESOURCE_ALTERNATIVE`.
    pub Option: UCHAR,
    /// `CmResourceType*`.
    pub Type: UCHAR,
    /// `CmResourceShare*`.
    pub ShareDisposition: UCHAR,
    /// Unused.
    pub Spare1: UCHAR,
    /// Type-specific flags (`CM_RESOURCE_INTERRUPT_*` for interrupts).
    pub Flags: USHORT,
    /// Unused.
    pub Spare2: USHORT,
    /// Type-specific data.
    pub u: IO_RESOURCE_DESCRIPTOR_U,
}
assert_layout!(IO_RESOURCE_DESCRIPTOR, size 0x20, {
    Option: 0x0, Type: 0x1, ShareDisposition: 0x2, Spare1: 0x3, Flags: 0x4, Spare2: 0x6, u: 0x8,
    u.Interrupt: 0x8, u.Memory: 0x8, u.Port: 0x8, u.Raw: 0x8,
});

/// `IO_RESOURCE_LIST`: one alternative configuration (a variable number of descriptors).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IO_RESOURCE_LIST {
    /// Version.
    pub Version: USHORT,
    /// Revision.
    pub Revision: USHORT,
    /// Number of descriptors that follow.
    pub Count: ULONG,
    /// The first of `Count` descriptors (stride 0x20).
    pub Descriptors: [IO_RESOURCE_DESCRIPTOR; 1],
}
assert_layout!(IO_RESOURCE_LIST, size 0x28, {
    Version: 0x0, Revision: 0x2, Count: 0x4, Descriptors: 0x8,
});

/// `IO_RESOURCE_REQUIREMENTS_LIST`: what a device can use, as alternative lists.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IO_RESOURCE_REQUIREMENTS_LIST {
    /// Total size in bytes of the whole list, header included.
    pub ListSize: ULONG,
    /// `INTERFACE_TYPE` (`PCIBus` = 5).
    pub InterfaceType: i32,
    /// Bus number.
    pub BusNumber: ULONG,
    /// Slot number.
    pub SlotNumber: ULONG,
    /// Reserved.
    pub Reserved: [ULONG; 3],
    /// Number of `IO_RESOURCE_LIST`s that follow.
    pub AlternativeLists: ULONG,
    /// The first alternative list (variable stride: 8 + Count × 0x20).
    pub List: [IO_RESOURCE_LIST; 1],
}
assert_layout!(IO_RESOURCE_REQUIREMENTS_LIST, size 0x48, {
    ListSize: 0x0, InterfaceType: 0x4, BusNumber: 0x8, SlotNumber: 0xC, Reserved: 0x10,
    AlternativeLists: 0x1C, List: 0x20,
});

/// Size of the `IO_RESOURCE_REQUIREMENTS_LIST` header (up to `List`).
pub const IO_RESOURCE_REQUIREMENTS_LIST_HEADER_SIZE: usize = 0x20;
/// Size of the `IO_RESOURCE_LIST` header (up to `Descriptors`).
pub const IO_RESOURCE_LIST_HEADER_SIZE: usize = 0x8;
/// Size (and stride) of an `IO_RESOURCE_DESCRIPTOR`.
pub const IO_RESOURCE_DESCRIPTOR_SIZE: usize = 0x20;

/// `IO_RESOURCE_PREFERRED`.
pub const IO_RESOURCE_PREFERRED: UCHAR = 0x1;
/// `IO_RESOURCE_DEFAULT`.
pub const IO_RESOURCE_DEFAULT: UCHAR = 0x2;
/// `IO_RESOURCE_ALTERNATIVE`: an alternative to the preceding descriptor of the same type.
pub const IO_RESOURCE_ALTERNATIVE: UCHAR = 0x8;

/// `CmResourceTypeNull`.
pub const CmResourceTypeNull: UCHAR = 0;
/// `CmResourceTypePort`.
pub const CmResourceTypePort: UCHAR = 1;
/// `CmResourceTypeInterrupt`.
pub const CmResourceTypeInterrupt: UCHAR = 2;
/// `CmResourceTypeMemory`.
pub const CmResourceTypeMemory: UCHAR = 3;
/// `CmResourceTypeDma`.
pub const CmResourceTypeDma: UCHAR = 4;
/// `CmResourceTypeDeviceSpecific`.
pub const CmResourceTypeDeviceSpecific: UCHAR = 5;
/// `CmResourceTypeBusNumber`.
pub const CmResourceTypeBusNumber: UCHAR = 6;
/// `CmResourceTypeMemoryLarge`.
pub const CmResourceTypeMemoryLarge: UCHAR = 7;
/// `CmResourceTypeNonArbitrated` / `CmResourceTypeConfigData` (128).
pub const CmResourceTypeNonArbitrated: UCHAR = 128;
/// `CmResourceTypeDevicePrivate` (129).
pub const CmResourceTypeDevicePrivate: UCHAR = 129;
/// `CmResourceTypePcCardConfig` (130).
pub const CmResourceTypePcCardConfig: UCHAR = 130;
/// `CmResourceTypeMfCardConfig` (131).
pub const CmResourceTypeMfCardConfig: UCHAR = 131;
/// `CmResourceTypeConnection` (132).
pub const CmResourceTypeConnection: UCHAR = 132;

/// `CmResourceShareUndetermined`.
pub const CmResourceShareUndetermined: UCHAR = 0;
/// `CmResourceShareDeviceExclusive`.
pub const CmResourceShareDeviceExclusive: UCHAR = 1;
/// `CmResourceShareDriverExclusive`.
pub const CmResourceShareDriverExclusive: UCHAR = 2;
/// `CmResourceShareShared`.
pub const CmResourceShareShared: UCHAR = 3;

/// `CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE` (the absence of `LATCHED`).
pub const CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE: USHORT = 0x0;
/// `CM_RESOURCE_INTERRUPT_LATCHED`.
pub const CM_RESOURCE_INTERRUPT_LATCHED: USHORT = 0x1;
/// `CM_RESOURCE_INTERRUPT_MESSAGE`: an MSI or MSI-X message interrupt.
pub const CM_RESOURCE_INTERRUPT_MESSAGE: USHORT = 0x2;
/// `CM_RESOURCE_INTERRUPT_POLICY_INCLUDED`: `AffinityPolicy`/`Group`/`TargetedProcessors` apply.
pub const CM_RESOURCE_INTERRUPT_POLICY_INCLUDED: USHORT = 0x4;
/// `CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN` (`(ULONG)-2`): the vector value of message interrupts.
pub const CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN: ULONG = 0xFFFF_FFFE;

/// `IrqPolicyMachineDefault`.
pub const IrqPolicyMachineDefault: USHORT = 0;
/// `IrqPolicyAllCloseProcessors`.
pub const IrqPolicyAllCloseProcessors: USHORT = 1;
/// `IrqPolicyOneCloseProcessor`.
pub const IrqPolicyOneCloseProcessor: USHORT = 2;
/// `IrqPolicyAllProcessorsInMachine`.
pub const IrqPolicyAllProcessorsInMachine: USHORT = 3;
/// `IrqPolicySpecifiedProcessors`: target exactly `Group`/`TargetedProcessors`.
pub const IrqPolicySpecifiedProcessors: USHORT = 4;
/// `IrqPolicySpreadMessagesAcrossAllProcessors`.
pub const IrqPolicySpreadMessagesAcrossAllProcessors: USHORT = 5;
/// `IrqPolicyAllProcessorsInMachineWhenSteered`.
pub const IrqPolicyAllProcessorsInMachineWhenSteered: USHORT = 6;

/// `IrqPriorityUndefined`.
pub const IrqPriorityUndefined: ULONG = 0;
/// `IrqPriorityLow`.
pub const IrqPriorityLow: ULONG = 1;
/// `IrqPriorityNormal`.
pub const IrqPriorityNormal: ULONG = 2;
/// `IrqPriorityHigh`.
pub const IrqPriorityHigh: ULONG = 3;

/// `INTERFACE_TYPE::PCIBus`.
pub const PCIBus: i32 = 5;

/// `KINTERRUPT_MODE::LevelSensitive`.
pub const LevelSensitive: ULONG = 0;
/// `KINTERRUPT_MODE::Latched`.
pub const Latched: ULONG = 1;

// ---------------------------------------------------------------------------------------------
// CM_RESOURCE_LIST and friends, 4-byte packed (§3.17)
// ---------------------------------------------------------------------------------------------

/// `u.Interrupt` and `u.MessageInterrupt.Translated` of a `CM_PARTIAL_RESOURCE_DESCRIPTOR`.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default)]
pub struct CM_INTERRUPT {
    /// IRQL (translated) or level.
    pub Level: USHORT,
    /// Processor group of `Affinity`.
    pub Group: USHORT,
    /// Vector.
    pub Vector: ULONG,
    /// Processors within `Group` (unaligned: read by value).
    pub Affinity: KAFFINITY,
}
assert_layout!(CM_INTERRUPT, size 0x10, { Level: 0x0, Group: 0x2, Vector: 0x4, Affinity: 0x8 });

/// `u.MessageInterrupt.Raw` of a `CM_PARTIAL_RESOURCE_DESCRIPTOR`.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default)]
pub struct CM_MESSAGE_INTERRUPT_RAW {
    /// Processor group.
    pub Group: USHORT,
    /// Number of messages this descriptor stands for (MSI: all of them; MSI-X: 1).
    pub MessageCount: USHORT,
    /// Vector.
    pub Vector: ULONG,
    /// Processors within `Group`.
    pub Affinity: KAFFINITY,
}
assert_layout!(CM_MESSAGE_INTERRUPT_RAW, size 0x10, {
    Group: 0x0, MessageCount: 0x2, Vector: 0x4, Affinity: 0x8,
});

/// `u.Memory` of a `CM_PARTIAL_RESOURCE_DESCRIPTOR` (also the layout of `u.Port`).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default)]
pub struct CM_MEMORY {
    /// Start address (`PHYSICAL_ADDRESS`, unaligned: read by value).
    pub Start: i64,
    /// Length in bytes.
    pub Length: ULONG,
}
assert_layout!(CM_MEMORY, size 0xC, { Start: 0x0, Length: 0x8 });

/// The union `u` of a `CM_PARTIAL_RESOURCE_DESCRIPTOR` (16 bytes, 4-aligned).
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union CM_PARTIAL_RESOURCE_DESCRIPTOR_U {
    /// Line-based interrupt.
    pub Interrupt: CM_INTERRUPT,
    /// `u.MessageInterrupt.Raw` (raw resource list).
    pub MessageInterruptRaw: CM_MESSAGE_INTERRUPT_RAW,
    /// `u.MessageInterrupt.Translated` (translated resource list).
    pub MessageInterruptTranslated: CM_INTERRUPT,
    /// Memory range.
    pub Memory: CM_MEMORY,
    /// I/O port range.
    pub Port: CM_MEMORY,
    /// Raw view.
    pub Raw: [ULONG; 4],
}
assert_layout!(CM_PARTIAL_RESOURCE_DESCRIPTOR_U, size 0x10, {
    Interrupt: 0x0, MessageInterruptRaw: 0x0, MessageInterruptTranslated: 0x0, Memory: 0x0,
    Port: 0x0, Raw: 0x0,
});

/// `CM_PARTIAL_RESOURCE_DESCRIPTOR`: one assigned resource (20 bytes, 4-byte packed).
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_DESCRIPTOR {
    /// `CmResourceType*`.
    pub Type: UCHAR,
    /// `CmResourceShare*`.
    pub ShareDisposition: UCHAR,
    /// Type-specific flags.
    pub Flags: USHORT,
    /// Type-specific data.
    pub u: CM_PARTIAL_RESOURCE_DESCRIPTOR_U,
}
assert_layout!(CM_PARTIAL_RESOURCE_DESCRIPTOR, size 0x14, {
    Type: 0x0, ShareDisposition: 0x1, Flags: 0x2, u: 0x4,
    u.Interrupt: 0x4, u.MessageInterruptRaw: 0x4, u.MessageInterruptTranslated: 0x4,
    u.Memory: 0x4, u.Port: 0x4, u.Raw: 0x4,
});

/// `CM_PARTIAL_RESOURCE_LIST`: the resources assigned to a device (MiniportInitializeEx).
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_PARTIAL_RESOURCE_LIST {
    /// Version.
    pub Version: USHORT,
    /// Revision.
    pub Revision: USHORT,
    /// Number of descriptors that follow.
    pub Count: ULONG,
    /// The first of `Count` descriptors (stride 20).
    pub PartialDescriptors: [CM_PARTIAL_RESOURCE_DESCRIPTOR; 1],
}
assert_layout!(CM_PARTIAL_RESOURCE_LIST, size 0x1C, {
    Version: 0x0, Revision: 0x2, Count: 0x4, PartialDescriptors: 0x8,
});

/// `CM_FULL_RESOURCE_DESCRIPTOR`.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_FULL_RESOURCE_DESCRIPTOR {
    /// `INTERFACE_TYPE`.
    pub InterfaceType: i32,
    /// Bus number.
    pub BusNumber: ULONG,
    /// The partial list.
    pub PartialResourceList: CM_PARTIAL_RESOURCE_LIST,
}
assert_layout!(CM_FULL_RESOURCE_DESCRIPTOR, size 0x24, {
    InterfaceType: 0x0, BusNumber: 0x4, PartialResourceList: 0x8,
});

/// `CM_RESOURCE_LIST`.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct CM_RESOURCE_LIST {
    /// Number of full descriptors.
    pub Count: ULONG,
    /// The first full descriptor.
    pub List: [CM_FULL_RESOURCE_DESCRIPTOR; 1],
}
assert_layout!(CM_RESOURCE_LIST, size 0x28, { Count: 0x0, List: 0x4 });

/// Size of the `CM_PARTIAL_RESOURCE_LIST` header (up to `PartialDescriptors`).
pub const CM_PARTIAL_RESOURCE_LIST_HEADER_SIZE: usize = 0x8;
/// Size (and stride) of a `CM_PARTIAL_RESOURCE_DESCRIPTOR`.
pub const CM_PARTIAL_RESOURCE_DESCRIPTOR_SIZE: usize = 0x14;

// ---------------------------------------------------------------------------------------------
// IO_INTERRUPT_MESSAGE_INFO (§3.18)
// ---------------------------------------------------------------------------------------------

/// `IO_INTERRUPT_MESSAGE_INFO_ENTRY`: one granted message.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_INTERRUPT_MESSAGE_INFO_ENTRY {
    /// Address the device writes to raise the message.
    pub MessageAddress: i64,
    /// Processors the message targets (the group comes from the CM descriptor).
    pub TargetProcessorSet: KAFFINITY,
    /// `PKINTERRUPT`.
    pub InterruptObject: PVOID,
    /// Data the device writes.
    pub MessageData: ULONG,
    /// IDT vector.
    pub Vector: ULONG,
    /// DIRQL of the message.
    pub Irql: KIRQL,
    /// `KINTERRUPT_MODE`.
    pub Mode: ULONG,
    /// `KINTERRUPT_POLARITY`.
    pub Polarity: ULONG,
}
assert_layout!(IO_INTERRUPT_MESSAGE_INFO_ENTRY, size 0x30, {
    MessageAddress: 0x0, TargetProcessorSet: 0x8, InterruptObject: 0x10, MessageData: 0x18,
    Vector: 0x1C, Irql: 0x20, Mode: 0x24, Polarity: 0x28,
});

/// `IO_INTERRUPT_MESSAGE_INFO`: the message table NdisMRegisterInterruptEx returns (read-only,
/// owned by the system until the interrupt is deregistered).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IO_INTERRUPT_MESSAGE_INFO {
    /// The one IRQL that synchronizes every message.
    pub UnifiedIrql: KIRQL,
    /// Number of granted messages.
    pub MessageCount: ULONG,
    /// The first of `MessageCount` entries (stride 0x30).
    pub MessageInfo: [IO_INTERRUPT_MESSAGE_INFO_ENTRY; 1],
}
assert_layout!(IO_INTERRUPT_MESSAGE_INFO, size 0x38, {
    UnifiedIrql: 0x0, MessageCount: 0x4, MessageInfo: 0x8,
});

/// Size of the `IO_INTERRUPT_MESSAGE_INFO` header (up to `MessageInfo`).
pub const IO_INTERRUPT_MESSAGE_INFO_HEADER_SIZE: usize = 0x8;
/// Size (and stride) of an `IO_INTERRUPT_MESSAGE_INFO_ENTRY`.
pub const IO_INTERRUPT_MESSAGE_INFO_ENTRY_SIZE: usize = 0x30;

// ---------------------------------------------------------------------------------------------
// IRP: only what MiniportFilterResourceRequirements needs (§3.21)
// ---------------------------------------------------------------------------------------------

/// The `Status`/`Pointer` union of an `IO_STATUS_BLOCK`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IO_STATUS_BLOCK_U {
    /// Completion status.
    pub Status: NTSTATUS,
    /// Reserved.
    pub Pointer: PVOID,
}
assert_layout!(IO_STATUS_BLOCK_U, size 0x8, { Status: 0x0, Pointer: 0x0 });

/// `IO_STATUS_BLOCK`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IO_STATUS_BLOCK {
    /// Status / pointer.
    pub u: IO_STATUS_BLOCK_U,
    /// Request-specific: for IRP_MN_FILTER_RESOURCE_REQUIREMENTS, the
    /// `*mut IO_RESOURCE_REQUIREMENTS_LIST` (possibly NULL).
    pub Information: ULONG_PTR,
}
assert_layout!(IO_STATUS_BLOCK, size 0x10, { u: 0x0, u.Status: 0x0, Information: 0x8 });

/// `IRP`, with named fields up to `IoStatus` and the rest opaque. The driver only ever reads and
/// replaces `IoStatus.Information` (offset 0x38) and never allocates an IRP.
#[repr(C)]
pub struct IRP {
    /// `CSHORT Type` (`IO_TYPE_IRP`).
    pub Type: i16,
    /// Size of the IRP in bytes.
    pub Size: USHORT,
    /// Processor the IRP was allocated on.
    pub AllocationProcessorNumber: USHORT,
    /// Reserved.
    pub Reserved: USHORT,
    /// `PMDL`.
    pub MdlAddress: *mut c_void,
    /// IRP flags.
    pub Flags: ULONG,
    /// `AssociatedIrp` union (system buffer, master IRP, IRP count).
    pub AssociatedIrp: *mut c_void,
    /// `LIST_ENTRY ThreadListEntry`.
    pub ThreadListEntry: [*mut c_void; 2],
    /// Completion status and information.
    pub IoStatus: IO_STATUS_BLOCK,
    /// Fields the driver never touches (RequestorMode … Tail), kept opaque.
    pub Opaque: [usize; 0x12],
}
assert_layout!(IRP, size 0xD0, {
    Type: 0x0, Size: 0x2, AllocationProcessorNumber: 0x4, Reserved: 0x6, MdlAddress: 0x8,
    Flags: 0x10, AssociatedIrp: 0x18, ThreadListEntry: 0x20, IoStatus: 0x30,
    IoStatus.Information: 0x38, Opaque: 0x40,
});
