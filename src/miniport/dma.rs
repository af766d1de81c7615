//! DMA memory from NDIS: scatter-gather DMA registration, shared memory blocks
//! (NdisAllocateSharedMemory), and fixed-size pool arrays for the rings' bookkeeping.

use core::mem::{align_of, size_of};
use core::ptr::{self, NonNull};

use super::{pool_allocate, pool_free};
use crate::hw::DmaRegion;
use crate::ndis::{
    MM_ANY_NODE_OK, NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT,
    NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION, NDIS_SG_DMA_64_BIT_ADDRESS, NDIS_SG_DMA_DESCRIPTION,
    NDIS_SG_DMA_DESCRIPTION_REVISION_1, NDIS_SHARED_MEM_PARAMETERS_CONTIGOUS,
    NDIS_SHARED_MEMORY_PARAMETERS, NDIS_SHARED_MEMORY_PARAMETERS_REVISION_1,
    NDIS_SIZEOF_SHARED_MEMORY_PARAMETERS_REVISION_1, NDIS_STATUS, NDIS_STATUS_RESOURCES,
    NDIS_STATUS_SUCCESS, NdisAllocateSharedMemory, NdisFreeSharedMemory, NdisMAllocateSharedMemory,
    NdisMFreeSharedMemory, NdisMRegisterScatterGatherDma, NdisSharedMemoryUsageReceive,
    PHYSICAL_ADDRESS, PVOID, SCATTER_GATHER_LIST, ULONG,
};

/// `NDIS_SIZEOF_SG_DMA_DESCRIPTION_REVISION_1`: through `ScatterGatherListSize` (the
/// structure's 8-byte tail padding is not part of it).
const SG_DMA_DESCRIPTION_SIZE: u16 = 0x24;

/// Registers scatter-gather DMA (Initialize step 7, spec §1.7): 64-bit addresses, sends of at
/// most `maximum_mapping` bytes. NdisAllocateSharedMemory needs it. The driver copies sends
/// into its own buffers, so NDIS never builds a scatter-gather list for it and
/// [`process_sg_list`] is never called; the registration is for the shared memory.
///
/// # Safety
/// Inside MiniportInitializeEx, after the registration attributes; PASSIVE_LEVEL.
pub(crate) unsafe fn register_sg_dma(
    miniport: NDIS_HANDLE,
    maximum_mapping: ULONG,
) -> Result<NDIS_HANDLE, NDIS_STATUS> {
    let mut description = NDIS_SG_DMA_DESCRIPTION {
        Header: NDIS_OBJECT_HEADER::new(
            NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
            NDIS_SG_DMA_DESCRIPTION_REVISION_1,
            SG_DMA_DESCRIPTION_SIZE,
        ),
        Flags: NDIS_SG_DMA_64_BIT_ADDRESS,
        MaximumPhysicalMapping: maximum_mapping,
        ProcessSGListHandler: Some(process_sg_list),
        SharedMemAllocateCompleteHandler: None,
        ScatterGatherListSize: 0,
    };
    let mut handle: NDIS_HANDLE = ptr::null_mut();
    // SAFETY: the description and the out handle live on this frame for the call; the
    // caller guarantees the phase and IRQL.
    let status =
        unsafe { NdisMRegisterScatterGatherDma(miniport, &raw mut description, &raw mut handle) };
    match status {
        NDIS_STATUS_SUCCESS if !handle.is_null() => Ok(handle),
        NDIS_STATUS_SUCCESS => Err(NDIS_STATUS_RESOURCES),
        failure => Err(failure),
    }
}

/// MiniportProcessSGList. The driver never calls NdisMAllocateNetBufferSGList (sends are
/// copied into pre-mapped transmit buffers), so NDIS has no list to hand over; the handler
/// exists because the registration requires one.
unsafe extern "system" fn process_sg_list(
    _device_object: PVOID,
    _reserved: PVOID,
    _scatter_gather_list: PVOID,
    _context: PVOID,
) {
}

/// One physically contiguous block from NdisAllocateSharedMemory.
#[derive(Debug)]
pub(crate) struct SharedBlock {
    allocation: NDIS_HANDLE,
    /// The `SharedMemoryHandle` NDIS returned, for `NET_BUFFER_SHARED_MEMORY`.
    shared_memory_handle: NDIS_HANDLE,
    virtual_address: NonNull<u8>,
    physical: u64,
    length: u32,
}

impl SharedBlock {
    /// Allocates `length` bytes of contiguous receive memory for queue `queue_id` (0 for the
    /// default queue), spec §2.6.
    ///
    /// # Safety
    /// PASSIVE_LEVEL; scatter-gather DMA is registered; `miniport` is the adapter handle.
    pub(crate) unsafe fn allocate(
        miniport: NDIS_HANDLE,
        length: u32,
        queue_id: u32,
    ) -> Result<Self, NDIS_STATUS> {
        let mut list = SCATTER_GATHER_LIST::default();
        let mut parameters = NDIS_SHARED_MEMORY_PARAMETERS {
            Header: NDIS_OBJECT_HEADER::new(
                NDIS_OBJECT_TYPE_DEFAULT,
                NDIS_SHARED_MEMORY_PARAMETERS_REVISION_1,
                NDIS_SIZEOF_SHARED_MEMORY_PARAMETERS_REVISION_1,
            ),
            Flags: NDIS_SHARED_MEM_PARAMETERS_CONTIGOUS,
            QueueId: queue_id,
            SharedMemoryHandle: ptr::null_mut(),
            PreferredNode: MM_ANY_NODE_OK,
            Usage: NdisSharedMemoryUsageReceive,
            Length: length,
            VirtualAddress: ptr::null_mut(),
            SGListBufferLength: u32::try_from(size_of::<SCATTER_GATHER_LIST>()).unwrap_or(0),
            SGListBuffer: (&raw mut list).cast(),
            VPortId: 0,
        };
        let mut allocation: NDIS_HANDLE = ptr::null_mut();
        // SAFETY: the parameters, their one-element SG list and the out handle live on this
        // frame for the call; the caller guarantees the IRQL and the DMA registration.
        let status =
            unsafe { NdisAllocateSharedMemory(miniport, &raw mut parameters, &raw mut allocation) };
        if status != NDIS_STATUS_SUCCESS {
            return Err(status);
        }
        let element = list.Elements[0];
        let block = NonNull::new(parameters.VirtualAddress.cast::<u8>())
            .filter(|_| list.NumberOfElements == 1 && element.Length >= length)
            .zip(u64::try_from(element.Address).ok());
        if let Some((virtual_address, physical)) = block {
            let shared_memory_handle = parameters.SharedMemoryHandle;
            return Ok(Self {
                allocation,
                shared_memory_handle,
                virtual_address,
                physical,
                length,
            });
        }
        // Not one contiguous range as asked: unusable for a descriptor ring.
        // SAFETY: the allocation just made, freed once, at PASSIVE_LEVEL.
        unsafe { NdisFreeSharedMemory(miniport, allocation) };
        Err(NDIS_STATUS_RESOURCES)
    }

    /// The `SharedMemoryHandle` of the block (for `NET_BUFFER_SHARED_MEMORY`).
    pub(crate) fn shared_memory_handle(&self) -> NDIS_HANDLE {
        self.shared_memory_handle
    }

    /// The block as DMA memory for the rings.
    ///
    /// # Safety
    /// The region must be dropped before [`free`](Self::free), and nothing else may make a
    /// Rust reference to the block's bytes while it lives (the device's DMA is expected).
    pub(crate) unsafe fn region(&self) -> DmaRegion<'static> {
        let length = usize::try_from(self.length).unwrap_or(0);
        // SAFETY: NDIS mapped `length` bytes at the address, physically contiguous at
        // `physical`, until NdisFreeSharedMemory; the caller keeps the region within that.
        unsafe { DmaRegion::from_raw_parts(self.virtual_address, length, self.physical) }
    }

    /// Frees the block.
    ///
    /// # Safety
    /// PASSIVE_LEVEL; the device no longer accesses the block (its queue is disabled) and no
    /// region or NBL refers to it any more.
    pub(crate) unsafe fn free(self, miniport: NDIS_HANDLE) {
        // SAFETY: the allocation handle NdisAllocateSharedMemory returned, freed once.
        unsafe { NdisFreeSharedMemory(miniport, self.allocation) };
    }
}

/// One block from NdisMAllocateSharedMemory: the classic miniport DMA memory, for rings that
/// belong to no VM queue (the transmit ring).
#[derive(Debug)]
pub(crate) struct MiniportBlock {
    virtual_address: NonNull<u8>,
    physical: PHYSICAL_ADDRESS,
    length: u32,
}

impl MiniportBlock {
    /// `length` bytes of non-cached, physically contiguous memory.
    ///
    /// # Safety
    /// PASSIVE_LEVEL; scatter-gather DMA is registered; `miniport` is the adapter handle.
    pub(crate) unsafe fn allocate(miniport: NDIS_HANDLE, length: u32) -> Result<Self, NDIS_STATUS> {
        let mut virtual_address: PVOID = ptr::null_mut();
        let mut physical: PHYSICAL_ADDRESS = 0;
        // SAFETY: the out parameters live on this frame; the caller guarantees the IRQL and
        // the DMA registration.
        unsafe {
            NdisMAllocateSharedMemory(
                miniport,
                length,
                0,
                &raw mut virtual_address,
                &raw mut physical,
            );
        };
        let virtual_address =
            NonNull::new(virtual_address.cast::<u8>()).ok_or(NDIS_STATUS_RESOURCES)?;
        Ok(Self { virtual_address, physical, length })
    }

    /// The block as DMA memory for a ring.
    ///
    /// # Safety
    /// As for [`SharedBlock::region`].
    pub(crate) unsafe fn region(&self) -> DmaRegion<'static> {
        let length = usize::try_from(self.length).unwrap_or(0);
        let physical = u64::try_from(self.physical).unwrap_or(0);
        // SAFETY: NDIS mapped `length` contiguous bytes at the address until
        // NdisMFreeSharedMemory; the caller keeps the region within that.
        unsafe { DmaRegion::from_raw_parts(self.virtual_address, length, physical) }
    }

    /// Frees the block with the arguments it was allocated with.
    ///
    /// # Safety
    /// As for [`SharedBlock::free`].
    pub(crate) unsafe fn free(self, miniport: NDIS_HANDLE) {
        // SAFETY: the block NdisMAllocateSharedMemory returned, with its length, cache type,
        // address and physical address, freed once.
        unsafe {
            NdisMFreeSharedMemory(
                miniport,
                self.length,
                0,
                self.virtual_address.as_ptr().cast(),
                self.physical,
            );
        };
    }
}

/// A fixed-length array of plain values in non-paged pool, zero-initialized.
#[derive(Debug)]
pub(crate) struct PoolArray<T: Copy> {
    block: NonNull<T>,
    length: usize,
}

impl<T: Copy> PoolArray<T> {
    /// `length` elements, all bits zero (so `T` must be valid as all-zero: integers,
    /// pointers).
    ///
    /// # Safety
    /// `miniport` is the adapter handle; IRQL <= DISPATCH_LEVEL; all-zero bytes are a valid
    /// `T`.
    pub(crate) unsafe fn zeroed(miniport: NDIS_HANDLE, length: usize, tag: u32) -> Option<Self> {
        let bytes = length.checked_mul(size_of::<T>())?.max(1);
        // Pool blocks are 16-byte aligned.
        if align_of::<T>() > 16 {
            return None;
        }
        // SAFETY: forwarded contract.
        let block = unsafe { pool_allocate(miniport, bytes, tag) }?;
        // SAFETY: a fresh block of `bytes` bytes, exclusively owned.
        unsafe { ptr::write_bytes(block.as_ptr(), 0, bytes) };
        Some(Self { block: block.cast(), length })
    }

    /// The elements.
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: `length` initialized (zeroed, valid per `zeroed`'s contract) elements in a
        // block this array owns until `free`.
        unsafe { core::slice::from_raw_parts(self.block.as_ptr(), self.length) }
    }

    /// The elements, mutably.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; `&mut self` makes the borrow exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.block.as_ptr(), self.length) }
    }

    /// The elements as a slice that outlives this value's borrow, for a ring that keeps it.
    ///
    /// # Safety
    /// The caller drops every use of the slice before [`free`](Self::free), and makes no other
    /// access to the array while the slice lives.
    pub(crate) unsafe fn leak_mut(&mut self) -> &'static mut [T] {
        // SAFETY: as in `as_mut_slice`, for as long as the caller promises.
        unsafe { core::slice::from_raw_parts_mut(self.block.as_ptr(), self.length) }
    }

    /// Frees the block.
    ///
    /// # Safety
    /// No slice from [`leak_mut`](Self::leak_mut) is used afterwards.
    pub(crate) unsafe fn free(self) {
        // SAFETY: the block pool_allocate returned, freed once.
        unsafe { pool_free(self.block.cast()) };
    }
}
