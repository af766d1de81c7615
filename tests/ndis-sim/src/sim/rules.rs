//! The names of the contract checks, as [`Violation::rule`](super::Violation::rule) reports
//! them. Where Driver Verifier or the static DDI rules have a name for the rule, the name is
//! theirs (`NdisOidDoubleComplete`, `MiniportPause_Return`, …); the others are
//! `<Function or structure>.<what went wrong>`.
//!
//! Two families are named after the export that checks them:
//! * `Irql.<Function>`: the export was called above its maximum IRQL (spec §1.11:
//!   PASSIVE_LEVEL, <= DISPATCH_LEVEL, or any);
//! * `<Function>.Handle`: a function that takes the miniport adapter (or driver, or interrupt)
//!   handle got something else.

/// `NDIS_MINIPORT_DRIVER_CHARACTERISTICS` header: `{0x8A, 1..3, >= SIZEOF of that revision}`.
pub const OBJECT_HEADER_DRIVER_CHARACTERISTICS: &str = "ObjectHeader.DriverCharacteristics";
/// `NDIS_MINIPORT_PNP_CHARACTERISTICS` header: `{0x92, 1, >= 0x2C}`.
pub const OBJECT_HEADER_PNP_CHARACTERISTICS: &str = "ObjectHeader.PnpCharacteristics";
/// `NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES` header: `{0xA4, 1, >= 0x14}`.
pub const OBJECT_HEADER_ADD_DEVICE_ATTRIBUTES: &str =
    "ObjectHeader.AddDeviceRegistrationAttributes";
/// `NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES` header: `{0x9E, 1 or 2, >= 0x1C}`.
pub const OBJECT_HEADER_REGISTRATION_ATTRIBUTES: &str = "ObjectHeader.RegistrationAttributes";
/// `NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES` header: `{0x9F, 1 (>= 0xD8) or 2 (>= 0xE0)}`.
pub const OBJECT_HEADER_GENERAL_ATTRIBUTES: &str = "ObjectHeader.GeneralAttributes";
/// `NDIS_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES` header: `{0xAF, 1..4, >= 0x10/0x30/0x50/0x60}`.
pub const OBJECT_HEADER_HARDWARE_ASSIST_ATTRIBUTES: &str = "ObjectHeader.HardwareAssistAttributes";
/// `NDIS_RECEIVE_FILTER_CAPABILITIES` the hardware-assist attributes point to:
/// `{0x80, 1 (>= 0x38) or 2 (>= 0x54)}`.
pub const OBJECT_HEADER_RECEIVE_FILTER_CAPABILITIES: &str =
    "ObjectHeader.ReceiveFilterCapabilities";
/// `NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS` header: `{0x84, 1, >= 0x60}`.
pub const OBJECT_HEADER_INTERRUPT_CHARACTERISTICS: &str = "ObjectHeader.InterruptCharacteristics";
/// `NDIS_SG_DMA_DESCRIPTION` header: `{0x83, 1, >= 0x24}`.
pub const OBJECT_HEADER_SG_DMA_DESCRIPTION: &str = "ObjectHeader.SgDmaDescription";
/// `NDIS_STATUS_INDICATION` header: `{0x98, 1, >= 0x70}`.
pub const OBJECT_HEADER_STATUS_INDICATION: &str = "ObjectHeader.StatusIndication";
/// `NDIS_SHARED_MEMORY_PARAMETERS` header: `{0x80, 1 (>= 0x40) or 2 (>= 0x44)}`.
pub const OBJECT_HEADER_SHARED_MEMORY_PARAMETERS: &str = "ObjectHeader.SharedMemoryParameters";
/// `NDIS_MSIX_CONFIG_PARAMETERS` header: `{0x80, 1, >= 0x10}`.
pub const OBJECT_HEADER_MSIX_CONFIG_PARAMETERS: &str = "ObjectHeader.MsixConfigParameters";

/// `NDIS_CONFIGURATION_OBJECT` header: `{0xA9, 1, >= 0x18}` (NdisOpenConfigurationEx then
/// fails with NDIS_STATUS_FAILURE; so does a NULL object).
pub const OBJECT_HEADER_CONFIGURATION_OBJECT: &str = "ObjectHeader.ConfigurationObject";

/// A handler ndis.h marks required is NULL in the driver characteristics (InitializeEx,
/// HaltEx, Unload, Pause, Restart, OidRequest, SendNetBufferLists, ReturnNetBufferLists,
/// CancelSend, DevicePnPEventNotify, ShutdownEx, CancelOidRequest).
pub const DRIVER_CHARACTERISTICS_REQUIRED_HANDLER: &str = "DriverCharacteristics.RequiredHandler";
/// CheckForHangHandlerEx without ResetHandlerEx.
pub const DRIVER_CHARACTERISTICS_CHECK_FOR_HANG_WITHOUT_RESET: &str =
    "DriverCharacteristics.CheckForHangWithoutReset";
/// MajorNdisVersion/MinorNdisVersion is not an NDIS 6.x version this NDIS (6.30) supports.
pub const DRIVER_CHARACTERISTICS_NDIS_VERSION: &str = "DriverCharacteristics.NdisVersion";
/// MiniportAddDevice, MiniportRemoveDevice or MiniportFilterResourceRequirements is NULL in
/// the PnP characteristics (only MiniportStartDevice is optional).
pub const PNP_CHARACTERISTICS_REQUIRED_HANDLER: &str = "PnpCharacteristics.RequiredHandler";
/// A required interrupt handler is NULL: the four line-based handlers always (the grant may
/// be a line), the four message handlers when `MsiSupported`.
pub const INTERRUPT_CHARACTERISTICS_REQUIRED_HANDLER: &str =
    "InterruptCharacteristics.RequiredHandler";

/// NdisMRegisterMiniportDriver outside DriverEntry (or a second time).
pub const REGISTER_DRIVER_OUTSIDE_DRIVER_ENTRY: &str =
    "NdisMRegisterMiniportDriver.OutsideDriverEntry";
/// NdisSetOptionalHandlers outside MiniportSetOptions.
pub const SET_OPTIONAL_HANDLERS_OUTSIDE_SET_OPTIONS: &str =
    "NdisSetOptionalHandlers.OutsideSetOptions";
/// NdisMDeregisterMiniportDriver outside MiniportDriverUnload (or a failing DriverEntry), or
/// with a handle that is not the driver's.
pub const DEREGISTER_DRIVER_OUTSIDE_UNLOAD: &str = "NdisMDeregisterMiniportDriver.OutsideUnload";
/// MiniportDriverUnload returned without NdisMDeregisterMiniportDriver.
pub const UNLOAD_DRIVER_NOT_DEREGISTERED: &str = "Unload.DriverNotDeregistered";
/// An NDIS I/O work item was still queued when the driver called
/// NdisMDeregisterMiniportDriver, or when MiniportDriverUnload returned (queued after the
/// deregistration, or by a driver that never deregistered): its routine would run in a driver
/// that is gone. It never runs.
pub const DEREGISTER_IO_WORK_ITEM_QUEUED: &str = "NdisMDeregisterMiniportDriver.IoWorkItemQueued";
/// An attribute set outside the handler it belongs to (add-device attributes outside
/// MiniportAddDevice, adapter attributes outside MiniportInitializeEx).
pub const SET_ATTRIBUTES_WINDOW: &str = "NdisMSetMiniportAttributes.Window";
/// An attribute type the simulator does not know.
pub const SET_ATTRIBUTES_TYPE: &str = "NdisMSetMiniportAttributes.Type";
/// In MiniportInitializeEx, a call that claims hardware resources or sets other attributes
/// before the registration attributes.
pub const INITIALIZE_REGISTRATION_ATTRIBUTES_FIRST: &str =
    "InitializeEx.RegistrationAttributesFirst";
/// In MiniportInitializeEx, an attribute other than registration/general before the general
/// attributes.
pub const INITIALIZE_GENERAL_ATTRIBUTES_BEFORE_OTHERS: &str =
    "InitializeEx.GeneralAttributesBeforeOthers";
/// MiniportInitializeEx succeeded without registration or general attributes.
pub const INITIALIZE_MISSING_ATTRIBUTES: &str = "InitializeEx.MissingAttributes";
/// MiniportInitializeEx returned NDIS_STATUS_PENDING (it must complete synchronously).
pub const INITIALIZE_RETURNED_PENDING: &str = "InitializeEx.ReturnedPending";
/// NdisMRegisterInterruptEx outside MiniportInitializeEx, or twice.
pub const REGISTER_INTERRUPT_WINDOW: &str = "NdisMRegisterInterruptEx.Window";
/// NdisMRegisterScatterGatherDma outside MiniportInitializeEx, or twice.
pub const REGISTER_SG_DMA_WINDOW: &str = "NdisMRegisterScatterGatherDma.Window";
/// NdisMConfigMSIXTableEntry outside MiniportInitializeEx .. return of MiniportHaltEx.
pub const CONFIG_MSIX_WINDOW: &str = "NdisMConfigMSIXTableEntry.Window";
/// NdisMIndicateStatusEx when no adapter is initialized (after MiniportHaltEx returned, or
/// before MiniportInitializeEx).
pub const INDICATE_STATUS_AFTER_HALT: &str = "NdisMIndicateStatusEx.AfterHalt";
/// NdisMIndicateStatusEx with a SourceHandle that is not the miniport adapter handle.
pub const INDICATE_STATUS_SOURCE_HANDLE: &str = "NdisMIndicateStatusEx.SourceHandle";
/// NdisMSynchronizeWithInterruptEx after NdisMDeregisterInterruptEx.
pub const SYNCHRONIZE_AFTER_DEREGISTER: &str = "NdisMSynchronizeWithInterruptEx.AfterDeregister";
/// MiniportPause returned something other than NDIS_STATUS_SUCCESS or NDIS_STATUS_PENDING.
pub const MINIPORT_PAUSE_RETURN: &str = "MiniportPause_Return";
/// NdisMPauseComplete without a pending pause.
pub const PAUSE_COMPLETE_NOT_PENDING: &str = "NdisMPauseComplete.NotPending";
/// NdisMRestartComplete without a pending restart.
pub const RESTART_COMPLETE_NOT_PENDING: &str = "NdisMRestartComplete.NotPending";

/// Every OID is completed exactly once: NdisMOidRequestComplete for a request MiniportOidRequest
/// already finished synchronously, or a second NdisMOidRequestComplete.
pub const OID_DOUBLE_COMPLETE: &str = "NdisOidDoubleComplete";
/// A completion status the rules forbid: NDIS_STATUS_PENDING passed to NdisMOidRequestComplete,
/// or OID_RECEIVE_FILTER_FREE_QUEUE / OID_RECEIVE_FILTER_CLEAR_FILTER finished with something
/// other than SUCCESS, NOT_ACCEPTED, REQUEST_ABORTED (or PENDING, synchronously).
pub const OID_COMPLETE_STATUS: &str = "NdisOidComplete";
/// An OID completed more than 12 s after NDIS issued it.
pub const OID_TIMED_COMPLETE: &str = "NdisTimedOidComplete";
/// NdisMOidRequestComplete for a request NDIS never issued.
pub const OID_COMPLETE_UNKNOWN_REQUEST: &str = "NdisMOidRequestComplete.UnknownRequest";

/// MiniportHaltEx returned with the interrupt still registered.
pub const HALT_INTERRUPT_REGISTERED: &str = "Halt.InterruptStillRegistered";
/// MiniportHaltEx returned with scatter-gather DMA still registered.
pub const HALT_SG_DMA_REGISTERED: &str = "Halt.ScatterGatherDmaStillRegistered";
/// MiniportHaltEx returned with I/O space still mapped.
pub const HALT_IO_SPACE_MAPPED: &str = "Halt.IoSpaceStillMapped";
/// MiniportHaltEx returned with shared memory not freed (from NdisAllocateSharedMemory or
/// NdisMAllocateSharedMemory).
pub const HALT_SHARED_MEMORY: &str = "Halt.SharedMemoryNotFreed";
/// MiniportHaltEx returned with pool memory allocated since MiniportInitializeEx not freed.
pub const HALT_POOL: &str = "Halt.PoolNotFreed";
/// MiniportHaltEx returned with an NBL pool allocated since MiniportInitializeEx not freed.
pub const HALT_NBL_POOL: &str = "Halt.NblPoolNotFreed";
/// MiniportHaltEx returned with an NBL allocated since MiniportInitializeEx not freed.
pub const HALT_NBL: &str = "Halt.NblNotFreed";
/// MiniportHaltEx returned with an MDL allocated since MiniportInitializeEx not freed.
pub const HALT_MDL: &str = "Halt.MdlNotFreed";
/// MiniportHaltEx returned with an NDIS I/O work item of the adapter (allocated with the
/// adapter handle since MiniportInitializeEx) not freed (NdisAllocateIoWorkItem remarks: freed
/// before or in MiniportHaltEx).
pub const HALT_IO_WORK_ITEM: &str = "Halt.IoWorkItemNotFreed";
/// MiniportHaltEx returned with a work item (other than one of the driver handle) queued and
/// not yet run: its routine would run on a halted adapter (spec §1.10: HaltEx does not return
/// while a work item is outstanding). It never runs. (Work items queued before HaltEx was
/// called have all run by then: the simulator drains the queue before calling it.)
pub const HALT_IO_WORK_ITEM_QUEUED: &str = "Halt.IoWorkItemQueued";
/// A failed MiniportInitializeEx left an NBL pool allocated.
pub const INITIALIZE_FAILURE_NBL_POOL: &str = "InitializeFailure.NblPoolNotFreed";
/// A failed MiniportInitializeEx left an NBL allocated.
pub const INITIALIZE_FAILURE_NBL: &str = "InitializeFailure.NblNotFreed";
/// A failed MiniportInitializeEx left an MDL allocated.
pub const INITIALIZE_FAILURE_MDL: &str = "InitializeFailure.MdlNotFreed";
/// A failed MiniportInitializeEx left an NDIS I/O work item of the adapter allocated.
pub const INITIALIZE_FAILURE_IO_WORK_ITEM: &str = "InitializeFailure.IoWorkItemNotFreed";
/// A failed MiniportInitializeEx returned with a work item (other than one of the driver
/// handle) queued: its routine would run for an adapter that never existed. It never runs.
pub const INITIALIZE_FAILURE_IO_WORK_ITEM_QUEUED: &str = "InitializeFailure.IoWorkItemQueued";
/// MiniportDriverUnload returned with NBL pools, NBLs or MDLs still allocated.
pub const UNLOAD_NET_BUFFERS: &str = "Unload.NetBufferObjectsNotFreed";
/// A failed MiniportInitializeEx left the interrupt registered.
pub const INITIALIZE_FAILURE_INTERRUPT_REGISTERED: &str =
    "InitializeFailure.InterruptStillRegistered";
/// A failed MiniportInitializeEx left scatter-gather DMA registered.
pub const INITIALIZE_FAILURE_SG_DMA_REGISTERED: &str =
    "InitializeFailure.ScatterGatherDmaStillRegistered";
/// A failed MiniportInitializeEx left I/O space mapped.
pub const INITIALIZE_FAILURE_IO_SPACE_MAPPED: &str = "InitializeFailure.IoSpaceStillMapped";
/// A failed MiniportInitializeEx left shared memory allocated (from NdisAllocateSharedMemory or
/// NdisMAllocateSharedMemory).
pub const INITIALIZE_FAILURE_SHARED_MEMORY: &str = "InitializeFailure.SharedMemoryNotFreed";
/// A failed MiniportInitializeEx left pool memory allocated.
pub const INITIALIZE_FAILURE_POOL: &str = "InitializeFailure.PoolNotFreed";
/// MiniportRemoveDevice returned with pool memory allocated by the PnP handlers not freed.
pub const REMOVE_DEVICE_POOL: &str = "RemoveDevice.PoolNotFreed";
/// MiniportRemoveDevice returned with an NDIS I/O work item the PnP handlers allocated (with
/// the miniport handle, in AddDevice, FilterResourceRequirements or StartDevice) not freed.
pub const REMOVE_DEVICE_IO_WORK_ITEM: &str = "RemoveDevice.IoWorkItemNotFreed";
/// MiniportDriverUnload returned with pool memory still allocated (pool tracking).
pub const UNLOAD_POOL: &str = "Unload.PoolNotFreed";
/// MiniportDriverUnload returned with NDIS I/O work items still allocated (any of them: those
/// of the driver handle must be freed before the driver unloads).
pub const UNLOAD_IO_WORK_ITEM: &str = "Unload.IoWorkItemNotFreed";

/// NdisAllocateMemoryWithTagPriority with tag 0.
pub const ALLOCATE_NON_ZERO_TAG: &str = "NdisAllocateMemoryWithTagPriority.NonZeroTag";
/// NdisAllocateMemoryWithTagPriority of 0 bytes.
pub const ALLOCATE_LENGTH: &str = "NdisAllocateMemoryWithTagPriority.Length";
/// NdisAllocateMemoryWithTagPriority with a handle that is neither the driver's nor the
/// adapter's.
pub const ALLOCATE_HANDLE: &str = "NdisAllocateMemoryWithTagPriority.Handle";
/// NdisFreeMemory of something that is not a live allocation (double free, foreign memory).
pub const FREE_UNKNOWN_ADDRESS: &str = "NdisFreeMemory.UnknownAddress";
/// NdisFreeMemory with a non-zero Length or MemoryFlags (memory from
/// NdisAllocateMemoryWithTagPriority is freed with 0, 0).
pub const FREE_ARGUMENTS: &str = "NdisFreeMemory.Arguments";
/// NdisAllocateSharedMemory before NdisMRegisterScatterGatherDma.
pub const SHARED_MEMORY_WITHOUT_SG_DMA: &str = "NdisAllocateSharedMemory.NoScatterGatherDma";
/// NdisFreeSharedMemory of an unknown allocation handle.
pub const FREE_SHARED_MEMORY_UNKNOWN: &str = "NdisFreeSharedMemory.UnknownHandle";
/// NdisFreeSharedMemory of a VM queue's memory before the driver indicated
/// `NDIS_STATUS_RECEIVE_QUEUE_STATE` with `NdisReceiveQueueOperationalStateDmaStopped` for that
/// queue (OID_RECEIVE_FILTER_FREE_QUEUE steps 1–2 come before step 4): the device could still
/// be writing into it. Except inside an OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE that fails
/// for a queue not completed before: what it allocated for that queue may be freed at once.
pub const FREE_SHARED_MEMORY_BEFORE_DMA_STOPPED: &str = "NdisFreeSharedMemory.BeforeDmaStopped";
/// NdisFreeSharedMemory of a VM queue's memory while NBLs indicated from that queue are still
/// held by the protocols (FREE_QUEUE step 3 waits for every one of them to come back).
pub const FREE_SHARED_MEMORY_NBLS_OUTSTANDING: &str = "NdisFreeSharedMemory.NblsOutstanding";
/// A byte of freed shared memory changed after the driver freed it (NdisFreeSharedMemory or
/// NdisMFreeSharedMemory): the device still DMA'd into it (a VM queue freed before its DMA
/// stopped, say), or the driver wrote into memory it no longer owned. With QEMU the simulator
/// fills freed memory with a canary and keeps it in quarantine (`sim::freed_memory`); the
/// check runs after each delivered interrupt, when MiniportHaltEx returns, before the
/// allocator reuses the range, and at `Sim::check_freed_memory`. Reported once per range, with
/// the range, its queue and the first changed offset.
pub const DMA_INTO_FREED_MEMORY: &str = "Dma.IntoFreedMemory";
/// NdisFreeSharedMemory from MiniportShutdownEx.
pub const FREE_SHARED_MEMORY_FROM_SHUTDOWN: &str = "NdisFreeSharedMemory.FromShutdown";
/// NdisMAllocateSharedMemory before NdisMRegisterScatterGatherDma (or after
/// NdisMDeregisterScatterGatherDma): NDIS 6 allocates it through the DMA adapter that the
/// registration creates. Nothing is allocated.
pub const MINIPORT_SHARED_MEMORY_WITHOUT_SG_DMA: &str =
    "NdisMAllocateSharedMemory.NoScatterGatherDma";
/// NdisMFreeSharedMemory of a `VirtualAddress` that is not the start of a live
/// NdisMAllocateSharedMemory block: a double free, a subrange, memory from another allocator.
/// Nothing is freed.
pub const FREE_MINIPORT_SHARED_MEMORY_UNKNOWN: &str = "NdisMFreeSharedMemory.UnknownAddress";
/// NdisMFreeSharedMemory of a live block with a `Length`, `Cached` or `PhysicalAddress` other
/// than the allocation's (the parameters must match the allocation exactly). The block, which
/// `VirtualAddress` names, is freed all the same.
pub const FREE_MINIPORT_SHARED_MEMORY_MISMATCH: &str = "NdisMFreeSharedMemory.ArgumentsMismatch";
/// NdisMFreeSharedMemory from MiniportShutdownEx.
pub const FREE_MINIPORT_SHARED_MEMORY_FROM_SHUTDOWN: &str = "NdisMFreeSharedMemory.FromShutdown";
/// NdisMMapIoSpace of a range that is not one of the device's memory resources.
pub const MAP_IO_SPACE_NOT_A_RESOURCE: &str = "NdisMMapIoSpace.NotAssignedResource";
/// NdisMUnmapIoSpace of something NdisMMapIoSpace did not return (or with another length).
pub const UNMAP_IO_SPACE_UNKNOWN: &str = "NdisMUnmapIoSpace.UnknownMapping";
/// NdisMDeregisterInterruptEx with an unknown handle, or twice.
pub const DEREGISTER_INTERRUPT_UNKNOWN: &str = "NdisMDeregisterInterruptEx.UnknownHandle";
/// NdisMDeregisterScatterGatherDma with an unknown handle, or twice.
pub const DEREGISTER_SG_DMA_UNKNOWN: &str = "NdisMDeregisterScatterGatherDma.UnknownHandle";
/// NdisMQueueDpcEx with an unknown or deregistered interrupt handle, or a message that was
/// not granted.
pub const QUEUE_DPC_INVALID: &str = "NdisMQueueDpcEx.Invalid";

/// READ_REGISTER_ULONG / WRITE_REGISTER_ULONG outside every mapping NdisMMapIoSpace returned.
pub const REGISTER_ACCESS_UNMAPPED: &str = "RegisterAccess.Unmapped";
/// A register access that is not 4-byte aligned.
pub const REGISTER_ACCESS_UNALIGNED: &str = "RegisterAccess.Unaligned";
/// A driver write into the MSI-X table or PBA, which the OS owns (use
/// NdisMConfigMSIXTableEntry).
pub const REGISTER_ACCESS_MSIX_TABLE: &str = "RegisterAccess.MsixTableWrite";

/// The ISR set `*TargetProcessors` (NDIS 6.20+ drivers leave it 0 and use NdisMQueueDpcEx).
pub const ISR_TARGET_PROCESSORS: &str = "Isr.TargetProcessorsNotZero";
/// A level-triggered line stayed asserted through many ISR calls: Windows would bug check
/// HARDWARE_INTERRUPT_STORM (0xF2).
pub const INTERRUPT_STORM: &str = "HardwareInterruptStorm";

/// NdisMIndicateReceiveNetBufferLists while the adapter is not running (paused, halted).
pub const RECEIVE_NOT_RUNNING: &str = "ReceiveIndication.NotRunning";
/// A receive indicated on a VM queue that is not Running: never allocated, not yet completed
/// (QUEUE_ALLOCATION_COMPLETE), without a filter, or freed (spec §2.3).
pub const RECEIVE_QUEUE_NOT_RUNNING: &str = "ReceiveIndication.QueueNotRunning";
/// NumberOfNetBufferLists differs from the length of the chain.
pub const RECEIVE_COUNT: &str = "ReceiveIndication.Count";
/// A received NBL whose SourceHandle is not the miniport adapter handle.
pub const RECEIVE_SOURCE_HANDLE: &str = "ReceiveIndication.SourceHandle";
/// NDIS_RECEIVE_FLAGS_SINGLE_QUEUE with NBLs of several queues in one call.
pub const RECEIVE_MIXED_QUEUES: &str = "ReceiveIndication.MixedQueues";
/// NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL set at an IRQL other than DISPATCH_LEVEL, or clear at
/// DISPATCH_LEVEL.
pub const RECEIVE_DISPATCH_FLAG: &str = "ReceiveIndication.DispatchLevelFlag";
/// NdisMSendNetBufferListsComplete for an NBL that is not an outstanding send.
pub const SEND_COMPLETE_NOT_OUTSTANDING: &str = "NdisMSendNetBufferListsComplete.NotOutstanding";

/// `NET_BUFFER_LIST_POOL_PARAMETERS` header: `{0x80, 1 (>= 0x10) or 2 (>= 0x14)}`.
pub const OBJECT_HEADER_NBL_POOL_PARAMETERS: &str = "ObjectHeader.NetBufferListPoolParameters";
/// NdisAllocateNetBufferListPool by a miniport with a `ProtocolId` other than
/// NDIS_PROTOCOL_ID_DEFAULT (only protocol drivers use the others).
pub const NBL_POOL_PROTOCOL_ID: &str = "NdisAllocateNetBufferListPool.ProtocolId";
/// NdisFreeNetBufferListPool of a handle that is not a live pool (double free, foreign handle).
pub const FREE_NBL_POOL_UNKNOWN: &str = "NdisFreeNetBufferListPool.UnknownPool";
/// NdisFreeNetBufferListPool while NBLs of the pool are still allocated.
pub const FREE_NBL_POOL_NBLS_OUTSTANDING: &str = "NdisFreeNetBufferListPool.NblsOutstanding";
/// NdisAllocateNetBufferAndNetBufferList from a handle that is not a live pool.
pub const ALLOCATE_NBL_UNKNOWN_POOL: &str = "NdisAllocateNetBufferAndNetBufferList.UnknownPool";
/// NdisAllocateNetBufferAndNetBufferList from a pool without `fAllocateNetBuffer` or with a
/// non-zero `DataSize`.
pub const ALLOCATE_NBL_POOL_KIND: &str = "NdisAllocateNetBufferAndNetBufferList.PoolKind";
/// `ContextSize` or `ContextBackFill` not a multiple of MEMORY_ALLOCATION_ALIGNMENT.
pub const ALLOCATE_NBL_CONTEXT_ALIGNMENT: &str =
    "NdisAllocateNetBufferAndNetBufferList.ContextAlignment";
/// A NULL `MdlChain` with a non-zero `DataOffset` or `DataLength`.
pub const ALLOCATE_NBL_DATA_WITHOUT_MDL: &str =
    "NdisAllocateNetBufferAndNetBufferList.DataWithoutMdl";
/// `DataOffset + DataLength` beyond the bytes of the MDL chain.
pub const ALLOCATE_NBL_DATA_BEYOND_MDLS: &str =
    "NdisAllocateNetBufferAndNetBufferList.DataBeyondMdlChain";
/// An MDL of the chain that is not a live MDL from NdisAllocateMdl.
pub const ALLOCATE_NBL_UNKNOWN_MDL: &str = "NdisAllocateNetBufferAndNetBufferList.UnknownMdl";
/// NdisFreeNetBufferList of something that is not a live NBL from a driver pool (double free,
/// an NBL of the protocol's, a built-by-hand NBL).
pub const FREE_NBL_UNKNOWN: &str = "NdisFreeNetBufferList.UnknownNbl";
/// NdisFreeNetBufferList of an NBL the protocol still holds (indicated, not yet returned).
pub const FREE_NBL_STILL_INDICATED: &str = "NdisFreeNetBufferList.StillIndicated";
/// NdisFreeMdl of something that is not a live MDL from NdisAllocateMdl.
pub const FREE_MDL_UNKNOWN: &str = "NdisFreeMdl.UnknownMdl";
/// A received NBL that is not a live NBL from one of the driver's pools (NBLs must come from
/// NdisAllocateNetBufferAndNetBufferList; never from the driver's own memory).
pub const RECEIVE_NBL_NOT_FROM_POOL: &str = "ReceiveIndication.NblNotFromPool";
/// A received NBL the protocol still holds from an earlier indication.
pub const RECEIVE_NBL_ALREADY_INDICATED: &str = "ReceiveIndication.NblAlreadyIndicated";
/// A received NB whose MDL chain has an MDL that is not a live NdisAllocateMdl MDL (or whose
/// buffer address was changed).
pub const RECEIVE_UNKNOWN_MDL: &str = "ReceiveIndication.UnknownMdl";
/// A received NB whose `DataOffset + DataLength` goes beyond its MDL chain.
pub const RECEIVE_DATA_BEYOND_MDLS: &str = "ReceiveIndication.DataBeyondMdlChain";

/// The filter replaced the list but did not free the old one.
pub const FILTER_OLD_LIST_NOT_FREED: &str = "FilterResourceRequirements.OldListNotFreed";
/// The filter published a list that is not a driver pool allocation.
pub const FILTER_NEW_LIST_NOT_FROM_POOL: &str = "FilterResourceRequirements.NewListNotFromPool";
/// The filter kept the list but freed it.
pub const FILTER_KEPT_LIST_FREED: &str = "FilterResourceRequirements.KeptListFreed";
/// The filter changed, dropped or added a resource other than a message interrupt.
pub const FILTER_NON_MESSAGE_RESOURCES_CHANGED: &str =
    "FilterResourceRequirements.NonMessageResourcesChanged";

/// Hardware receive-filter capabilities offer VM queues without
/// NDIS_RECEIVE_FILTER_MSI_X_SUPPORTED (a VMQ miniport must support MSI-X).
pub const VMQ_REQUIRES_MSIX: &str = "VmqRequirements.MsixSupported";

/// NdisAcquireSpinLock, NdisReleaseSpinLock, their Dpr variants or NdisFreeSpinLock with a lock
/// NdisAllocateSpinLock never initialized, or one NdisFreeSpinLock already gave up (or whose
/// memory NdisFreeMemory freed); also a NULL lock, NdisAllocateSpinLock's included. Nothing is
/// done to such a lock.
pub const SPIN_LOCK_NOT_ALLOCATED: &str = "SpinLock.NotAllocated";
/// NdisFreeSpinLock of a lock someone holds (it stays allocated and held), or NdisFreeMemory of
/// the memory of a held lock.
pub const SPIN_LOCK_FREED_WHILE_HELD: &str = "NdisFreeSpinLock.Held";
/// NdisReleaseSpinLock or NdisDprReleaseSpinLock of a lock nobody holds, or that another
/// processor holds. Nothing is released.
pub const SPIN_LOCK_RELEASE_NOT_HELD: &str = "SpinLock.ReleaseNotHeld";
/// A lock acquired while it is already held (DDI rules SpinLock and SpinLockDpr: acquire only
/// an unlocked lock). NDIS spin locks are not re-entrant, and everything here runs on one
/// thread, so the holder can never release it: on Windows this is a certain deadlock. The
/// simulator reports it and returns without taking the lock (nor raising the IRQL); the
/// release that pairs with it is then skipped.
pub const SPIN_LOCK_ACQUIRE_HELD: &str = "SpinLock.AcquireWhileHeld";
/// NdisDprAcquireSpinLock or NdisDprReleaseSpinLock below DISPATCH_LEVEL (they leave the IRQL
/// alone, so the holder could be preempted while it spins others out). Above DISPATCH_LEVEL is
/// the `Irql.<Function>` rule.
pub const SPIN_LOCK_DPR_BELOW_DISPATCH: &str = "SpinLockDpr.BelowDispatch";
/// A lock taken with NdisAcquireSpinLock released with NdisDprReleaseSpinLock, or the reverse.
/// The lock is released, and the IRQL restored as the matching release would have.
pub const SPIN_LOCK_MISMATCHED_RELEASE: &str = "SpinLock.MismatchedRelease";
/// A driver handler (any Miniport* handler, ISR, DPC or synchronized function the simulator
/// calls) returned while still holding a spin lock it acquired (DDI rules SpinLock and
/// SpinLockDpr: the lock is released before the handler exits). The simulator releases it and
/// restores the IRQL the handler was called at.
pub const SPIN_LOCK_HELD_AT_RETURN: &str = "SpinLock.HeldAtHandlerReturn";

/// MmMapLockedPagesSpecifyCache of an MDL the simulator did not build (neither NdisAllocateMdl
/// nor a send NBL of the simulated protocol), or whose buffer address was changed. NULL is
/// returned.
pub const MAP_LOCKED_PAGES_UNKNOWN_MDL: &str = "MmMapLockedPagesSpecifyCache.UnknownMdl";

/// NdisQueueIoWorkItem of a handle that is not a live work item (never allocated, or freed).
/// Nothing is queued.
pub const QUEUE_WORK_ITEM_UNKNOWN: &str = "NdisQueueIoWorkItem.UnknownWorkItem";
/// NdisQueueIoWorkItem of a work item that is queued and has not run yet (IoQueueWorkItem
/// would insert its list entry twice). The second call is ignored: the routine runs once, with
/// the routine and context of the first.
pub const QUEUE_WORK_ITEM_ALREADY_QUEUED: &str = "NdisQueueIoWorkItem.AlreadyQueued";
/// NdisQueueIoWorkItem with a NULL `Routine`. Nothing is queued.
pub const QUEUE_WORK_ITEM_NULL_ROUTINE: &str = "NdisQueueIoWorkItem.NullRoutine";
/// NdisFreeIoWorkItem of a handle that is not a live work item (double free, never allocated).
pub const FREE_WORK_ITEM_UNKNOWN: &str = "NdisFreeIoWorkItem.UnknownWorkItem";
/// NdisFreeIoWorkItem of a work item that is queued and has not run yet (its routine would run
/// with freed memory; free it in the routine, or after it ran). Nothing is freed: the work item
/// stays queued, its routine runs, and it still has to be freed.
pub const FREE_WORK_ITEM_QUEUED: &str = "NdisFreeIoWorkItem.Queued";

/// The DDI rule NdisOpenConfigurationEx: NdisOpenConfigurationEx and NdisCloseConfiguration are
/// called in alternate order, and no configuration handle is open when MiniportHaltEx returns.
/// Reported for an NdisOpenConfigurationEx while a handle of the same NDIS handle (adapter or
/// driver) is open (the second handle is still opened), for a handle of the adapter still open
/// when MiniportHaltEx returns, and for one of the driver handle still open when
/// MiniportDriverUnload returns. The simulator then closes what is left.
pub const OPEN_CONFIGURATION: &str = "NdisOpenConfigurationEx";
/// A configuration handle MiniportInitializeEx opened is still open when it returns
/// (successfully or not). Stricter than the DDI rule, which waits for MiniportHaltEx: spec §1.7
/// step 3 reads the keywords in Initialize, and nothing is gained by keeping NDIS's handle and
/// the values it owns for the adapter's lifetime. After a failing InitializeEx (no HaltEx
/// follows) the simulator closes the handle; after a successful one it stays open.
pub const INITIALIZE_CONFIGURATION_NOT_CLOSED: &str = "InitializeEx.ConfigurationNotClosed";
/// NdisReadConfiguration with a handle that is not open (never opened, or already closed):
/// `*Status` is NDIS_STATUS_FAILURE and nothing is returned.
pub const READ_CONFIGURATION_UNKNOWN_HANDLE: &str = "NdisReadConfiguration.UnknownHandle";
/// NdisReadConfiguration with a malformed `Keyword`: NULL, an odd `Length`, `Length` above
/// `MaximumLength`, or a NULL `Buffer` with characters. `*Status` is NDIS_STATUS_FAILURE.
pub const READ_CONFIGURATION_KEYWORD: &str = "NdisReadConfiguration.Keyword";
/// NdisCloseConfiguration of a handle that is not open: closed twice, or never opened (each
/// handle is closed exactly once). Nothing happens.
pub const CLOSE_CONFIGURATION_UNKNOWN_HANDLE: &str = "NdisCloseConfiguration.UnknownHandle";
