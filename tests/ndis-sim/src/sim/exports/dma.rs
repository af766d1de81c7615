//! DMA: scatter-gather registration and shared memory from guest RAM.

use std::mem::offset_of;

use vmqnic::ndis::{
    self, BOOLEAN, NDIS_HANDLE, NDIS_OBJECT_TYPE_DEFAULT, NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
    NDIS_SG_DMA_DESCRIPTION, NDIS_SHARED_MEMORY_PARAMETERS, NDIS_STATUS, NDIS_STATUS_FAILURE,
    NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS, PHYSICAL_ADDRESS,
    PVOID, SCATTER_GATHER_ELEMENT, SCATTER_GATHER_LIST, ULONG,
};

use super::{
    check_handle, check_irql, check_registration_first, field, handle_rule, header_matches,
    irql_rule, read_header, read_versioned,
};
use crate::qemu::PAGE_SIZE;
use crate::sim::cpu::PASSIVE_LEVEL;
use crate::sim::state::{MiniportSharedBlock, Phase, SharedBlock, with_state};
use crate::sim::{dma_handle, freed_memory, rules};

/// Bytes of a `SCATTER_GATHER_LIST` with `elements` elements.
fn sg_list_size(elements: usize) -> usize {
    offset_of!(SCATTER_GATHER_LIST, Elements) + elements * size_of::<SCATTER_GATHER_ELEMENT>()
}

/// `NdisMRegisterScatterGatherDma`: checks the description, fills `ScatterGatherListSize`
/// (the list for `MaximumPhysicalMapping` bytes spanning one page more than their length) and
/// returns the DMA handle. Legal once, in MiniportInitializeEx, after the registration
/// attributes. PASSIVE_LEVEL.
///
/// # Safety
/// `DmaDescription` points to a writable description of at least `Header.Size` bytes;
/// `NdisMiniportDmaHandle` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMRegisterScatterGatherDma(
    MiniportAdapterHandle: NDIS_HANDLE,
    DmaDescription: *mut NDIS_SG_DMA_DESCRIPTION,
    NdisMiniportDmaHandle: *mut NDIS_HANDLE,
) -> NDIS_STATUS {
    let allowed = with_state(|s| {
        check_irql(s, irql_rule!(NdisMRegisterScatterGatherDma), PASSIVE_LEVEL);
        if !check_handle(s, handle_rule!(NdisMRegisterScatterGatherDma), MiniportAdapterHandle) {
            return false;
        }
        check_registration_first(s, "NdisMRegisterScatterGatherDma");
        if !s.in_phase(Phase::Initialize) || s.sg_dma == Some(true) {
            s.violate(
                rules::REGISTER_SG_DMA_WINDOW,
                "NdisMRegisterScatterGatherDma outside MiniportInitializeEx, or a second time",
            );
            return false;
        }
        true
    });
    if !allowed {
        return NDIS_STATUS_FAILURE;
    }
    if with_state(|s| s.inject("NdisMRegisterScatterGatherDma", false)) {
        return NDIS_STATUS_RESOURCES;
    }
    if NdisMiniportDmaHandle.is_null() {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: NULL or a description starting with its header (caller).
    let Some(header) = (unsafe { read_header(DmaDescription.cast_const().cast()) }) else {
        return NDIS_STATUS_INVALID_PARAMETER;
    };
    if !header_matches(header, NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION, &[(1, 0x24)]) {
        with_state(|s| s.violate(rules::OBJECT_HEADER_SG_DMA_DESCRIPTION, format!("{header:?}")));
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `Size` bytes of description (header); all-zero is valid.
    let description: NDIS_SG_DMA_DESCRIPTION =
        unsafe { read_versioned(DmaDescription.cast_const().cast(), usize::from(header.Size)) };
    let pages = usize::try_from(description.MaximumPhysicalMapping)
        .unwrap_or(usize::MAX)
        .div_ceil(usize::try_from(PAGE_SIZE).unwrap_or(4096))
        .saturating_add(1);
    let list_size = u32::try_from(sg_list_size(pages)).unwrap_or(u32::MAX);
    // SAFETY: the description is writable and at least 0x24 bytes (checked), so the out field
    // at 0x20 is inside it.
    unsafe {
        field::<_, u32>(DmaDescription, offset_of!(NDIS_SG_DMA_DESCRIPTION, ScatterGatherListSize))
            .write_unaligned(list_size);
    };
    // SAFETY: checked non-null; the driver passes a writable handle location.
    unsafe { NdisMiniportDmaHandle.write(dma_handle() as NDIS_HANDLE) };
    with_state(|s| s.sg_dma = Some(true));
    NDIS_STATUS_SUCCESS
}
const _: ndis::sig::NdisMRegisterScatterGatherDma = NdisMRegisterScatterGatherDma;

/// `NdisMDeregisterScatterGatherDma`. PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisMDeregisterScatterGatherDma(NdisMiniportDmaHandle: NDIS_HANDLE) {
    with_state(|s| {
        check_irql(s, irql_rule!(NdisMDeregisterScatterGatherDma), PASSIVE_LEVEL);
        if NdisMiniportDmaHandle as usize == dma_handle() && s.sg_dma == Some(true) {
            s.sg_dma = Some(false);
        } else {
            s.violate(
                rules::DEREGISTER_SG_DMA_UNKNOWN,
                format!("{NdisMiniportDmaHandle:?} is not a registered DMA handle"),
            );
        }
    });
}
const _: ndis::sig::NdisMDeregisterScatterGatherDma = NdisMDeregisterScatterGatherDma;

/// `NdisAllocateSharedMemory`: physically contiguous, page-aligned, zeroed memory from guest
/// RAM (the same bytes the device DMAs into): `VirtualAddress` is its address in this process,
/// the caller's `SGListBuffer` gets one element with its guest-physical address. Needs
/// NdisMRegisterScatterGatherDma first. PASSIVE_LEVEL.
///
/// # Safety
/// `SharedMemoryParameters` points to writable parameters of at least `Header.Size` bytes,
/// whose `SGListBuffer` is NULL or holds `SGListBufferLength` writable bytes;
/// `pAllocationHandle` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisAllocateSharedMemory(
    NdisHandle: NDIS_HANDLE,
    SharedMemoryParameters: *mut NDIS_SHARED_MEMORY_PARAMETERS,
    pAllocationHandle: *mut NDIS_HANDLE,
) -> NDIS_STATUS {
    let mut injected = false;
    let machine = with_state(|s| {
        injected = s.count_allocation("NdisAllocateSharedMemory");
        check_irql(s, irql_rule!(NdisAllocateSharedMemory), PASSIVE_LEVEL);
        if !check_handle(s, handle_rule!(NdisAllocateSharedMemory), NdisHandle) {
            return None;
        }
        check_registration_first(s, "NdisAllocateSharedMemory");
        if s.sg_dma != Some(true) {
            s.violate(
                rules::SHARED_MEMORY_WITHOUT_SG_DMA,
                "NdisAllocateSharedMemory before NdisMRegisterScatterGatherDma",
            );
            return None;
        }
        s.machine()
    });
    let Some(machine) = machine else { return NDIS_STATUS_FAILURE };
    if injected {
        return NDIS_STATUS_RESOURCES;
    }
    if pAllocationHandle.is_null() {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: NULL or parameters starting with their header (caller).
    let Some(header) = (unsafe { read_header(SharedMemoryParameters.cast_const().cast()) }) else {
        return NDIS_STATUS_INVALID_PARAMETER;
    };
    if !header_matches(header, NDIS_OBJECT_TYPE_DEFAULT, &[(1, 0x40), (2, 0x44)]) {
        with_state(|s| {
            s.violate(rules::OBJECT_HEADER_SHARED_MEMORY_PARAMETERS, format!("{header:?}"));
        });
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `Size` bytes of parameters (header); all-zero is valid.
    let p: NDIS_SHARED_MEMORY_PARAMETERS = unsafe {
        read_versioned(SharedMemoryParameters.cast_const().cast(), usize::from(header.Size))
    };
    if p.Length == 0 {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    let sg_needed = sg_list_size(1);
    let sg_ok = p.SGListBuffer.is_null()
        || usize::try_from(p.SGListBufferLength).is_ok_and(|l| l >= sg_needed);
    if !sg_ok {
        return NDIS_STATUS_INVALID_PARAMETER;
    }
    let Ok(range) = machine.dma_alloc(u64::from(p.Length), "NdisAllocateSharedMemory") else {
        return NDIS_STATUS_RESOURCES;
    };
    let Ok(host) = machine.ram().host_address(range.gpa, usize::try_from(range.len).unwrap_or(0))
    else {
        let _ = machine.dma_free(range);
        return NDIS_STATUS_RESOURCES;
    };
    let (allocation_handle, shared_handle) = with_state(|s| {
        let allocation_handle = s.new_handle();
        let shared_handle = s.new_handle();
        s.shared_memory.insert(
            allocation_handle,
            SharedBlock { range, length: p.Length, queue_id: p.QueueId, shared_handle },
        );
        (allocation_handle, shared_handle)
    });
    if !p.SGListBuffer.is_null() {
        let list = SCATTER_GATHER_LIST {
            NumberOfElements: 1,
            Reserved: 0,
            Elements: [SCATTER_GATHER_ELEMENT {
                Address: i64::try_from(range.gpa).unwrap_or(i64::MAX),
                Length: p.Length,
                Reserved: 0,
            }],
        };
        // SAFETY: the caller's buffer holds SGListBufferLength >= sizeof(one-element list)
        // writable bytes (checked above); unaligned write because it is the caller's memory.
        unsafe { p.SGListBuffer.cast::<SCATTER_GATHER_LIST>().write_unaligned(list) };
    }
    // SAFETY: the parameters are writable and at least 0x40 bytes (checked), which covers
    // both out fields.
    unsafe {
        field::<_, NDIS_HANDLE>(
            SharedMemoryParameters,
            offset_of!(NDIS_SHARED_MEMORY_PARAMETERS, SharedMemoryHandle),
        )
        .write_unaligned(shared_handle as NDIS_HANDLE);
    };
    // SAFETY: as above.
    unsafe {
        field::<_, *mut u8>(
            SharedMemoryParameters,
            offset_of!(NDIS_SHARED_MEMORY_PARAMETERS, VirtualAddress),
        )
        .write_unaligned(host);
    };
    // SAFETY: checked non-null; the driver passes a writable handle location.
    unsafe { pAllocationHandle.write(allocation_handle as NDIS_HANDLE) };
    NDIS_STATUS_SUCCESS
}
const _: ndis::sig::NdisAllocateSharedMemory = NdisAllocateSharedMemory;

/// `NdisFreeSharedMemory`: never from MiniportShutdownEx. With QEMU the memory is filled with
/// a canary and quarantined, so that a device still writing into it is caught
/// (`sim::freed_memory`). PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisFreeSharedMemory(
    NdisHandle: NDIS_HANDLE,
    AllocationHandle: NDIS_HANDLE,
) {
    let freed = with_state(|s| {
        check_irql(s, irql_rule!(NdisFreeSharedMemory), PASSIVE_LEVEL);
        check_handle(s, handle_rule!(NdisFreeSharedMemory), NdisHandle);
        if s.in_phase(Phase::Shutdown) {
            s.violate(
                rules::FREE_SHARED_MEMORY_FROM_SHUTDOWN,
                "NdisFreeSharedMemory in MiniportShutdownEx",
            );
        }
        if let Some(block) = s.shared_memory.remove(&(AllocationHandle as usize)) {
            // A VM queue's memory may go only after its DMA was stopped and reported, and every
            // NBL indicated from it came back (OID_RECEIVE_FILTER_FREE_QUEUE, spec §2.2). The
            // exception: a QUEUE_ALLOCATION_COMPLETE that fails for a queue half-way may free
            // what it allocated for it then and there (the queue never received; the
            // quarantine still catches any DMA into the memory).
            if block.queue_id != 0 {
                let completing = s.in_phase(Phase::OidRequest)
                    && s.oids.last().is_some_and(|r| {
                        r.completion.is_none()
                            && r.oid == vmqnic::ndis::OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE
                    })
                    && !s
                        .vmq_queues
                        .get(&block.queue_id)
                        .is_some_and(|track| track.allocation_complete);
                if !completing && !s.dma_stopped_queues.contains(&block.queue_id) {
                    s.violate(
                        rules::FREE_SHARED_MEMORY_BEFORE_DMA_STOPPED,
                        format!(
                            "queue {}: no DmaStopped queue state was indicated",
                            block.queue_id
                        ),
                    );
                }
                let outstanding = s.nbls_outstanding_for_queue(block.queue_id);
                if outstanding > 0 {
                    s.violate(
                        rules::FREE_SHARED_MEMORY_NBLS_OUTSTANDING,
                        format!(
                            "queue {}: {outstanding} indicated NBLs not returned",
                            block.queue_id
                        ),
                    );
                }
                if !s.shared_memory.values().any(|b| b.queue_id == block.queue_id) {
                    // The queue is gone; an id NDIS reuses later starts afresh.
                    s.dma_stopped_queues.remove(&block.queue_id);
                }
            }
            s.machine().map(|m| (m, block.range, block.queue_id))
        } else {
            s.violate(
                rules::FREE_SHARED_MEMORY_UNKNOWN,
                format!("{AllocationHandle:?} is not a live shared-memory allocation"),
            );
            None
        }
    });
    if let Some((machine, range, queue_id)) = freed {
        freed_memory::free_shared(&machine, range, Some(queue_id), "NdisFreeSharedMemory");
    }
}
const _: ndis::sig::NdisFreeSharedMemory = NdisFreeSharedMemory;

/// The `PHYSICAL_ADDRESS` of a guest-physical address (guest RAM lies far below 2^63).
fn physical_address(gpa: u64) -> PHYSICAL_ADDRESS {
    PHYSICAL_ADDRESS::try_from(gpa).unwrap_or(PHYSICAL_ADDRESS::MAX)
}

/// `NdisMAllocateSharedMemory`: physically contiguous, page-aligned, zeroed memory from guest
/// RAM, as NdisAllocateSharedMemory hands out: `*VirtualAddress` gets its address in this
/// process, `*PhysicalAddress` its guest-physical address (what the device DMAs to). On
/// failure they get NULL and 0 (a NULL out pointer is left alone). Needs
/// NdisMRegisterScatterGatherDma first. Every call is counted
/// ([`Sim::allocation_calls`](crate::sim::Sim::allocation_calls)). PASSIVE_LEVEL.
///
/// # Safety
/// `VirtualAddress` and `PhysicalAddress` are each NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisMAllocateSharedMemory(
    MiniportAdapterHandle: NDIS_HANDLE,
    Length: ULONG,
    Cached: BOOLEAN,
    VirtualAddress: *mut PVOID,
    PhysicalAddress: *mut PHYSICAL_ADDRESS,
) {
    let (address, physical) = miniport_shared_allocation(MiniportAdapterHandle, Length, Cached)
        .unwrap_or((std::ptr::null_mut(), 0));
    if !VirtualAddress.is_null() {
        // SAFETY: non-null, so writable (caller); unaligned because it is the caller's memory.
        unsafe { VirtualAddress.write_unaligned(address) };
    }
    if !PhysicalAddress.is_null() {
        // SAFETY: as above.
        unsafe { PhysicalAddress.write_unaligned(physical) };
    }
}
const _: ndis::sig::NdisMAllocateSharedMemory = NdisMAllocateSharedMemory;

/// The checks and the allocation of NdisMAllocateSharedMemory: the block's address and
/// physical address, recorded, or `None`.
fn miniport_shared_allocation(
    handle: NDIS_HANDLE,
    length: ULONG,
    cached: BOOLEAN,
) -> Option<(PVOID, PHYSICAL_ADDRESS)> {
    let machine = with_state(|s| {
        let injected = s.count_allocation("NdisMAllocateSharedMemory");
        check_irql(s, irql_rule!(NdisMAllocateSharedMemory), PASSIVE_LEVEL);
        if !check_handle(s, handle_rule!(NdisMAllocateSharedMemory), handle) {
            return None;
        }
        check_registration_first(s, "NdisMAllocateSharedMemory");
        if s.sg_dma != Some(true) {
            s.violate(
                rules::MINIPORT_SHARED_MEMORY_WITHOUT_SG_DMA,
                "NdisMAllocateSharedMemory without NdisMRegisterScatterGatherDma",
            );
            return None;
        }
        if injected {
            return None;
        }
        s.machine()
    })?;
    if length == 0 {
        return None;
    }
    let range = machine.dma_alloc(u64::from(length), "NdisMAllocateSharedMemory").ok()?;
    let Ok(host) = machine.ram().host_address(range.gpa, usize::try_from(range.len).unwrap_or(0))
    else {
        let _ = machine.dma_free(range);
        return None;
    };
    with_state(|s| {
        s.miniport_shared_memory
            .insert(host as usize, MiniportSharedBlock { range, length, cached: cached != 0 });
    });
    Some((host.cast(), physical_address(range.gpa)))
}

/// `NdisMFreeSharedMemory`: frees the live NdisMAllocateSharedMemory block that starts at
/// `VirtualAddress`; `Length`, `Cached` and `PhysicalAddress` must be the allocation's. Never
/// from MiniportShutdownEx. PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisMFreeSharedMemory(
    MiniportAdapterHandle: NDIS_HANDLE,
    Length: ULONG,
    Cached: BOOLEAN,
    VirtualAddress: PVOID,
    PhysicalAddress: PHYSICAL_ADDRESS,
) {
    let freed = with_state(|s| {
        check_irql(s, irql_rule!(NdisMFreeSharedMemory), PASSIVE_LEVEL);
        check_handle(s, handle_rule!(NdisMFreeSharedMemory), MiniportAdapterHandle);
        if s.in_phase(Phase::Shutdown) {
            s.violate(
                rules::FREE_MINIPORT_SHARED_MEMORY_FROM_SHUTDOWN,
                "NdisMFreeSharedMemory in MiniportShutdownEx",
            );
        }
        let address = VirtualAddress as usize;
        let Some(block) = s.miniport_shared_memory.remove(&address) else {
            let inside = s
                .miniport_shared_memory
                .range(..address)
                .next_back()
                .filter(|(start, b)| address - **start < usize::try_from(b.range.len).unwrap_or(0))
                .map(|(start, _)| *start);
            let detail = match inside {
                Some(start) => format!(
                    "{VirtualAddress:?} lies inside the block at {start:#x}: a subrange cannot be \
                     freed"
                ),
                None => format!("{VirtualAddress:?} is not a live NdisMAllocateSharedMemory block"),
            };
            s.violate(rules::FREE_MINIPORT_SHARED_MEMORY_UNKNOWN, detail);
            return None;
        };
        let physical = physical_address(block.range.gpa);
        let cached = Cached != 0;
        if (Length, cached, PhysicalAddress) != (block.length, block.cached, physical) {
            s.violate(
                rules::FREE_MINIPORT_SHARED_MEMORY_MISMATCH,
                format!(
                    "{VirtualAddress:?} freed with Length {Length}, Cached {cached}, \
                     PhysicalAddress {PhysicalAddress:#x}; allocated with Length {}, Cached {}, \
                     PhysicalAddress {physical:#x}",
                    block.length, block.cached
                ),
            );
        }
        s.machine().map(|m| (m, block.range))
    });
    if let Some((machine, range)) = freed {
        freed_memory::free_shared(&machine, range, None, "NdisMFreeSharedMemory");
    }
}
const _: ndis::sig::NdisMFreeSharedMemory = NdisMFreeSharedMemory;
