//! Every ndis.sys (and ntoskrnl) function the driver imports (spec §3.24), declared exactly once.
//!
//! The `ndis_imports!` macro emits, from one list, both the `unsafe extern "system"` block the
//! driver calls and a module [`sig`] with one function-pointer type per import, spelled with the
//! same tokens. C symbols carry no types, so a simulated ndis.sys whose function took different
//! parameters would still link; the simulator therefore assigns each of its exports to a
//! constant of the matching `sig` type, which turns any signature drift into a compile error.

use super::{
    BOOLEAN, DRIVER_OBJECT, GROUP_AFFINITY, KAFFINITY, KPROCESSOR_MODE, MDL, MEMORY_CACHING_TYPE,
    MINIPORT_SYNCHRONIZE_INTERRUPT, NDIS_CONFIGURATION_OBJECT, NDIS_CONFIGURATION_PARAMETER,
    NDIS_HANDLE, NDIS_IO_WORKITEM_ROUTINE, NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
    NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS, NDIS_MSIX_CONFIG_PARAMETERS, NDIS_OBJECT_HEADER,
    NDIS_OID_REQUEST, NDIS_PARAMETER_TYPE, NDIS_PORT_NUMBER, NDIS_RSS_PROCESSOR_INFO,
    NDIS_SG_DMA_DESCRIPTION, NDIS_SHARED_MEMORY_PARAMETERS, NDIS_SPIN_LOCK, NDIS_STATUS,
    NDIS_STATUS_INDICATION, NDIS_STRING, NET_BUFFER_LIST, NET_BUFFER_LIST_POOL_PARAMETERS,
    PHYSICAL_ADDRESS, PROCESSOR_NUMBER, PVOID, SIZE_T, ULONG, UNICODE_STRING, USHORT,
};

macro_rules! ndis_imports {
    ($(
        $(#[$meta:meta])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;
    )*) => {
        // wdk-build puts the WDK's km library directory on the search path; ndis.lib is the
        // import library of ndis.sys. On Linux the symbols come from the simulated ndis.sys.
        #[cfg_attr(windows, link(name = "ndis", kind = "static", modifiers = "-bundle"))]
        unsafe extern "system" {
            $(
                $(#[$meta])*
                pub fn $name($($arg: $ty),*) $(-> $ret)?;
            )*
        }

        /// One function-pointer type per ndis.sys import, with exactly the signature of the
        /// import of the same name. A simulated ndis.sys proves its exports match by assigning
        /// each of them to a constant of its `sig` type.
        pub mod sig {
            #[allow(clippy::wildcard_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[doc = concat!("\n\nSignature of the `", stringify!($name), "` import.")]
                pub type $name = unsafe extern "system" fn($($ty),*) $(-> $ret)?;
            )*
        }

        // The declarations above and their `sig` types come from the same tokens; this proves
        // it to the compiler as well.
        $(
            $(#[$meta])*
            const _: () = {
                let _: sig::$name = $name;
            };
        )*
    };
}

ndis_imports! {
    /// Registers the miniport driver; NDIS calls MiniportSetOptions from inside (PASSIVE).
    fn NdisMRegisterMiniportDriver(
        DriverObject: *mut DRIVER_OBJECT,
        RegistryPath: *const UNICODE_STRING,
        MiniportDriverContext: NDIS_HANDLE,
        MiniportDriverCharacteristics: *const NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
        NdisMiniportDriverHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// Undoes NdisMRegisterMiniportDriver (MiniportDriverUnload, PASSIVE).
    fn NdisMDeregisterMiniportDriver(NdisMiniportDriverHandle: NDIS_HANDLE);
    /// Registers optional handlers, here the PnP characteristics (MiniportSetOptions only).
    fn NdisSetOptionalHandlers(NdisHandle: NDIS_HANDLE, OptionalHandlers: *const NDIS_OBJECT_HEADER) -> NDIS_STATUS;
    /// Sets add-device, registration, general or hardware-assist attributes (PASSIVE).
    fn NdisMSetMiniportAttributes(
        NdisMiniportHandle: NDIS_HANDLE,
        MiniportAttributes: *const NDIS_OBJECT_HEADER,
    ) -> NDIS_STATUS;
    /// The RSS processor set: the only permitted source for VMQ interrupt allocation
    /// (two calls: size, then data; IRQL <= DISPATCH).
    fn NdisGetRssProcessorInformation(
        NdisHandle: NDIS_HANDLE,
        RssProcessorInfo: *mut NDIS_RSS_PROCESSOR_INFO,
        Size: *mut SIZE_T,
    ) -> NDIS_STATUS;
    /// Opens the registry key `ConfigObject` names (with the miniport adapter handle: the
    /// adapter's driver key, where its keywords live) and writes a configuration handle to
    /// `*ConfigurationHandle`; NDIS_STATUS_SUCCESS, NDIS_STATUS_RESOURCES or NDIS_STATUS_FAILURE.
    /// Close the handle with NdisCloseConfiguration (the DDI rule NdisOpenConfigurationEx: open
    /// and close alternate, and nothing is open when MiniportHaltEx returns). PASSIVE_LEVEL.
    fn NdisOpenConfigurationEx(
        ConfigObject: *const NDIS_CONFIGURATION_OBJECT,
        ConfigurationHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// Reads the value named `*Keyword` under the open key: on NDIS_STATUS_SUCCESS
    /// `*ParameterValue` points to an `NDIS_CONFIGURATION_PARAMETER` NDIS allocated, valid until
    /// NdisCloseConfiguration; NDIS_STATUS_FAILURE when there is no such value (and
    /// `*ParameterValue` is left alone). A REG_SZ read as NdisParameterInteger (or HexInteger)
    /// comes back converted (base 10, or 16) by ndis.sys; a REG_DWORD comes back as
    /// NdisParameterInteger. Serialized with itself and NdisWriteConfiguration. PASSIVE_LEVEL.
    fn NdisReadConfiguration(
        Status: *mut NDIS_STATUS,
        ParameterValue: *mut *mut NDIS_CONFIGURATION_PARAMETER,
        ConfigurationHandle: NDIS_HANDLE,
        Keyword: *const NDIS_STRING,
        ParameterType: NDIS_PARAMETER_TYPE,
    );
    /// Closes a handle from NdisOpenConfigurationEx, once, and frees whatever
    /// NdisReadConfiguration returned through it. PASSIVE_LEVEL.
    fn NdisCloseConfiguration(ConfigurationHandle: NDIS_HANDLE);
    /// Non-paged pool allocation with a tag (IRQL <= DISPATCH).
    fn NdisAllocateMemoryWithTagPriority(
        NdisHandle: NDIS_HANDLE,
        Length: ULONG,
        Tag: ULONG,
        Priority: i32,
    ) -> PVOID;
    /// Frees memory from NdisAllocateMemoryWithTagPriority (Length and MemoryFlags are 0).
    fn NdisFreeMemory(VirtualAddress: PVOID, Length: ULONG, MemoryFlags: ULONG);
    /// Connects line-based and message-based interrupt handlers (MiniportInitializeEx).
    fn NdisMRegisterInterruptEx(
        MiniportAdapterHandle: NDIS_HANDLE,
        MiniportInterruptContext: NDIS_HANDLE,
        MiniportInterruptCharacteristics: *mut NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
        NdisInterruptHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// Disconnects the interrupt (MiniportHaltEx, Initialize failure paths).
    fn NdisMDeregisterInterruptEx(NdisInterruptHandle: NDIS_HANDLE);
    /// Points an MSI-X table entry at a message, or masks/unmasks it (Initialize..Halt).
    fn NdisMConfigMSIXTableEntry(
        NdisMiniportHandle: NDIS_HANDLE,
        MSIXConfigParameters: *mut NDIS_MSIX_CONFIG_PARAMETERS,
    ) -> NDIS_STATUS;
    /// Queues the message's DPC on chosen processors.
    fn NdisMQueueDpcEx(
        NdisInterruptHandle: NDIS_HANDLE,
        MessageId: ULONG,
        TargetProcessors: *mut GROUP_AFFINITY,
        MiniportDpcContext: PVOID,
    ) -> KAFFINITY;
    /// Runs a function synchronized with the ISR of one message.
    fn NdisMSynchronizeWithInterruptEx(
        NdisInterruptHandle: NDIS_HANDLE,
        MessageId: ULONG,
        SynchronizeFunction: MINIPORT_SYNCHRONIZE_INTERRUPT,
        SynchronizeContext: PVOID,
    ) -> BOOLEAN;
    /// Registers scatter-gather DMA (needed before NdisAllocateSharedMemory).
    fn NdisMRegisterScatterGatherDma(
        MiniportAdapterHandle: NDIS_HANDLE,
        DmaDescription: *mut NDIS_SG_DMA_DESCRIPTION,
        NdisMiniportDmaHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// Undoes NdisMRegisterScatterGatherDma.
    fn NdisMDeregisterScatterGatherDma(NdisMiniportDmaHandle: NDIS_HANDLE);
    /// Allocates DMA-able shared memory for a receive queue (PASSIVE).
    fn NdisAllocateSharedMemory(
        NdisHandle: NDIS_HANDLE,
        SharedMemoryParameters: *mut NDIS_SHARED_MEMORY_PARAMETERS,
        AllocationHandle: *mut NDIS_HANDLE,
    ) -> NDIS_STATUS;
    /// Frees memory from NdisAllocateSharedMemory (PASSIVE).
    fn NdisFreeSharedMemory(NdisHandle: NDIS_HANDLE, AllocationHandle: NDIS_HANDLE);
    /// Allocates `Length` bytes of physically contiguous memory that the device can DMA into
    /// and the driver can read and write, as the classic miniport call (the transmit ring).
    /// Writes its base address to `*VirtualAddress` and its bus address to `*PhysicalAddress`;
    /// on failure NULL and 0. `Cached` is ignored on x86/x64 (cached memory is always used),
    /// but NdisMFreeSharedMemory must get the same value. NDIS 6 requires
    /// NdisMRegisterScatterGatherDma first. PASSIVE_LEVEL.
    fn NdisMAllocateSharedMemory(
        MiniportAdapterHandle: NDIS_HANDLE,
        Length: ULONG,
        Cached: BOOLEAN,
        VirtualAddress: *mut PVOID,
        PhysicalAddress: *mut PHYSICAL_ADDRESS,
    );
    /// Frees a whole block from NdisMAllocateSharedMemory: `Length`, `Cached`,
    /// `VirtualAddress` and `PhysicalAddress` exactly as the allocation had and returned them
    /// (never a subrange). Not from MiniportShutdownEx. PASSIVE_LEVEL.
    fn NdisMFreeSharedMemory(
        MiniportAdapterHandle: NDIS_HANDLE,
        Length: ULONG,
        Cached: BOOLEAN,
        VirtualAddress: PVOID,
        PhysicalAddress: PHYSICAL_ADDRESS,
    );
    /// Indicates a status (link state, receive-queue state) (IRQL <= DISPATCH).
    fn NdisMIndicateStatusEx(
        MiniportAdapterHandle: NDIS_HANDLE,
        StatusIndication: *const NDIS_STATUS_INDICATION,
    );
    /// Completes an OID that MiniportOidRequest returned as pending (exactly once).
    fn NdisMOidRequestComplete(
        MiniportAdapterHandle: NDIS_HANDLE,
        OidRequest: *mut NDIS_OID_REQUEST,
        Status: NDIS_STATUS,
    );
    /// Allocates an NDIS I/O work item for the object `NdisObjectHandle` names: for a miniport
    /// the adapter handle MiniportInitializeEx got (the work item must then be freed by the
    /// time MiniportHaltEx returns) or the driver handle NdisMRegisterMiniportDriver returned
    /// (freed before the driver unloads). Returns the work item's handle, or NULL on failure.
    /// IRQL <= DISPATCH.
    fn NdisAllocateIoWorkItem(NdisObjectHandle: NDIS_HANDLE) -> NDIS_HANDLE;
    /// Queues a work item: NDIS calls `Routine(WorkItemContext, NdisIoWorkItemHandle)` later, in
    /// a system worker thread at PASSIVE_LEVEL (IoQueueWorkItem on the CriticalWorkQueue). A
    /// work item that is queued and has not run yet must not be queued again, nor freed.
    /// IRQL <= DISPATCH.
    fn NdisQueueIoWorkItem(
        NdisIoWorkItemHandle: NDIS_HANDLE,
        Routine: NDIS_IO_WORKITEM_ROUTINE,
        WorkItemContext: PVOID,
    );
    /// Frees a work item from NdisAllocateIoWorkItem that is not queued (its own routine may
    /// free it). IRQL <= DISPATCH.
    fn NdisFreeIoWorkItem(NdisIoWorkItemHandle: NDIS_HANDLE);
    /// Creates a pool of NBLs (each with a preallocated NB when `fAllocateNetBuffer`); NULL on
    /// failure. `NdisHandle` is the miniport adapter (or driver) handle. IRQL <= DISPATCH.
    fn NdisAllocateNetBufferListPool(
        NdisHandle: NDIS_HANDLE,
        Parameters: *const NET_BUFFER_LIST_POOL_PARAMETERS,
    ) -> NDIS_HANDLE;
    /// Frees a pool whose NBLs have all been freed (IRQL <= DISPATCH).
    fn NdisFreeNetBufferListPool(PoolHandle: NDIS_HANDLE);
    /// Allocates an NBL with its preallocated NB from a pool created with
    /// `fAllocateNetBuffer` = TRUE and `DataSize` = 0; the NB describes `DataLength` bytes at
    /// `DataOffset` in `MdlChain` (NULL chain: both 0). `ContextSize` and `ContextBackFill` are
    /// multiples of MEMORY_ALLOCATION_ALIGNMENT. NULL on failure. IRQL <= DISPATCH.
    fn NdisAllocateNetBufferAndNetBufferList(
        PoolHandle: NDIS_HANDLE,
        ContextSize: USHORT,
        ContextBackFill: USHORT,
        MdlChain: *mut MDL,
        DataOffset: ULONG,
        DataLength: SIZE_T,
    ) -> *mut NET_BUFFER_LIST;
    /// Frees an NBL (and its preallocated NB) back to its pool; not the MDLs (IRQL <= DISPATCH).
    fn NdisFreeNetBufferList(NetBufferList: *mut NET_BUFFER_LIST);
    /// Allocates an MDL for `Length` bytes of non-paged memory at `VirtualAddress` (built as
    /// MmBuildMdlForNonPagedPool does); NULL on failure. IRQL <= DISPATCH.
    fn NdisAllocateMdl(NdisHandle: NDIS_HANDLE, VirtualAddress: PVOID, Length: ULONG) -> *mut MDL;
    /// Frees an MDL from NdisAllocateMdl (not the memory it describes; IRQL <= DISPATCH).
    fn NdisFreeMdl(Mdl: *mut MDL);
    /// Indicates received NBLs (DISPATCH from the DPC).
    fn NdisMIndicateReceiveNetBufferLists(
        MiniportAdapterHandle: NDIS_HANDLE,
        NetBufferList: *mut NET_BUFFER_LIST,
        PortNumber: NDIS_PORT_NUMBER,
        NumberOfNetBufferLists: ULONG,
        ReceiveFlags: ULONG,
    );
    /// Completes sent NBLs (IRQL <= DISPATCH).
    fn NdisMSendNetBufferListsComplete(
        MiniportAdapterHandle: NDIS_HANDLE,
        NetBufferList: *mut NET_BUFFER_LIST,
        SendCompleteFlags: ULONG,
    );
    /// Completes a pause that MiniportPause returned as pending.
    fn NdisMPauseComplete(MiniportAdapterHandle: NDIS_HANDLE);
    /// Completes a restart that MiniportRestart returned as pending.
    fn NdisMRestartComplete(MiniportAdapterHandle: NDIS_HANDLE, Status: NDIS_STATUS);
    /// Reads PCI configuration space (the MSI-X capability gives the table size).
    fn NdisMGetBusData(
        NdisMiniportHandle: NDIS_HANDLE,
        WhichSpace: ULONG,
        Offset: ULONG,
        Buffer: PVOID,
        Length: ULONG,
    ) -> ULONG;
    /// Maps a memory BAR (PASSIVE).
    fn NdisMMapIoSpace(
        VirtualAddress: *mut PVOID,
        MiniportAdapterHandle: NDIS_HANDLE,
        PhysicalAddress: PHYSICAL_ADDRESS,
        Length: ULONG,
    ) -> NDIS_STATUS;
    /// Unmaps a BAR mapped with NdisMMapIoSpace.
    fn NdisMUnmapIoSpace(MiniportAdapterHandle: NDIS_HANDLE, VirtualAddress: PVOID, Length: ULONG);
    /// Number of processors a group can hold.
    fn NdisGroupMaxProcessorCount(Group: USHORT) -> ULONG;
    /// Initializes a spin lock in driver-provided non-paged memory, before any other use of it
    /// (IRQL <= DISPATCH).
    fn NdisAllocateSpinLock(SpinLock: *mut NDIS_SPIN_LOCK);
    /// Gives up a spin lock from NdisAllocateSpinLock that no one holds; it frees nothing (the
    /// memory is the driver's), so a lock that is never freed leaks nothing (IRQL <= DISPATCH).
    fn NdisFreeSpinLock(SpinLock: *mut NDIS_SPIN_LOCK);
    /// Raises the IRQL to DISPATCH_LEVEL, stores the previous one in `OldIrql`, and takes the
    /// lock (IRQL <= DISPATCH). Not re-entrant: taking a lock the caller already holds
    /// deadlocks. Release with NdisReleaseSpinLock before the handler returns.
    fn NdisAcquireSpinLock(SpinLock: *mut NDIS_SPIN_LOCK);
    /// Releases a lock taken with NdisAcquireSpinLock and lowers the IRQL back to `OldIrql`
    /// (at DISPATCH, on the processor that took it).
    fn NdisReleaseSpinLock(SpinLock: *mut NDIS_SPIN_LOCK);
    /// Takes the lock without changing the IRQL: only at DISPATCH_LEVEL (DPCs, or code already
    /// holding another NDIS spin lock). Release with NdisDprReleaseSpinLock.
    fn NdisDprAcquireSpinLock(SpinLock: *mut NDIS_SPIN_LOCK);
    /// Releases a lock taken with NdisDprAcquireSpinLock, leaving the IRQL alone (DISPATCH).
    fn NdisDprReleaseSpinLock(SpinLock: *mut NDIS_SPIN_LOCK);
    /// (ntoskrnl) Maps the locked pages an MDL describes into system space, recording the
    /// mapping in the MDL; NULL on failure when `BugCheckOnFailure` is FALSE. Call it through
    /// [`mdl_system_address`](crate::ndis::mdl_system_address), the WDK's
    /// `MmGetSystemAddressForMdlSafe`, which first uses an existing mapping. IRQL <= DISPATCH
    /// for `KernelMode`.
    fn MmMapLockedPagesSpecifyCache(
        MemoryDescriptorList: *mut MDL,
        AccessMode: KPROCESSOR_MODE,
        CacheType: MEMORY_CACHING_TYPE,
        RequestedAddress: PVOID,
        BugCheckOnFailure: ULONG,
        Priority: ULONG,
    ) -> PVOID;
    /// (ntoskrnl) Busy-waits `MicroSeconds` (what NdisStallExecution expands to): device
    /// bring-up polls with bounded stalls, never sleeps (MiniportInitializeEx may hold locks).
    fn KeStallExecutionProcessor(MicroSeconds: ULONG);
    /// (ntoskrnl) The processor the caller runs on: which CPU an ISR or DPC really ran on.
    fn KeGetCurrentProcessorNumberEx(ProcNumber: *mut PROCESSOR_NUMBER) -> ULONG;
    /// (Linux only) Reads a device register. On Windows x64 READ_REGISTER_ULONG is an inline
    /// volatile access in wdm.h, not an export, and `hw::mmio` does exactly that instead; on
    /// Linux the simulated ndis.sys provides it and routes the access to QEMU's 82576.
    #[cfg(not(windows))]
    fn READ_REGISTER_ULONG(Register: *const ULONG) -> ULONG;
    /// (Linux only) Writes a device register; see `READ_REGISTER_ULONG`.
    #[cfg(not(windows))]
    fn WRITE_REGISTER_ULONG(Register: *mut ULONG, Value: ULONG);
}
