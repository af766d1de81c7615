//! Pool memory: NdisAllocateMemoryWithTagPriority and NdisFreeMemory.

use vmqnic::ndis::{NDIS_HANDLE, PVOID, ULONG};

use super::{allocate_block, check_irql, irql_rule, release_block};
use crate::sim::cpu::DISPATCH_LEVEL;
use crate::sim::rules;
use crate::sim::state::{Owner, with_state};

/// `NdisAllocateMemoryWithTagPriority`: a zeroed, 16-byte aligned block, charged to the scope
/// that is running (driver, device or adapter; see [`Scope`](crate::sim::Scope)). The handle
/// is the driver handle or the miniport adapter handle; the tag must not be 0 (DDI rule
/// NdisAllocateMemoryWithTagPriority). Every call is counted
/// ([`Sim::allocation_calls`](crate::sim::Sim::allocation_calls)). IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisAllocateMemoryWithTagPriority(
    NdisHandle: NDIS_HANDLE,
    Length: ULONG,
    Tag: ULONG,
    _Priority: i32,
) -> PVOID {
    let fail = with_state(|s| {
        let injected = s.count_allocation("NdisAllocateMemoryWithTagPriority");
        check_irql(s, irql_rule!(NdisAllocateMemoryWithTagPriority), DISPATCH_LEVEL);
        let handle = NdisHandle as usize;
        let driver_handle = s.driver.is_some_and(|d| !d.deregistered) && handle == s.driver_handle;
        let mut fail = false;
        if handle != s.miniport_handle && !driver_handle {
            s.violate(
                rules::ALLOCATE_HANDLE,
                format!(
                    "called with {NdisHandle:?}, neither the miniport adapter nor the driver handle"
                ),
            );
            fail = true;
        }
        if Tag == 0 {
            s.violate(rules::ALLOCATE_NON_ZERO_TAG, "pool tag 0");
        }
        if Length == 0 {
            s.violate(rules::ALLOCATE_LENGTH, "zero-length allocation");
            fail = true;
        }
        fail || injected
    });
    if fail {
        return std::ptr::null_mut();
    }
    allocate_block(usize::try_from(Length).unwrap_or(usize::MAX), Tag, Owner::Driver)
}
const _: vmqnic::ndis::sig::NdisAllocateMemoryWithTagPriority = NdisAllocateMemoryWithTagPriority;

/// `NdisFreeMemory`: frees a block from NdisAllocateMemoryWithTagPriority (or a requirements
/// list the PnP manager handed to the driver to replace). Unknown addresses and double frees
/// are violations and are not freed. Spin locks inside the block are forgotten with it (a held
/// one is a violation). IRQL <= DISPATCH_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisFreeMemory(VirtualAddress: PVOID, Length: ULONG, MemoryFlags: ULONG) {
    let freed = with_state(|s| {
        check_irql(s, irql_rule!(NdisFreeMemory), DISPATCH_LEVEL);
        if Length != 0 || MemoryFlags != 0 {
            s.violate(
                rules::FREE_ARGUMENTS,
                format!("Length {Length} / MemoryFlags {MemoryFlags:#x}: both must be 0"),
            );
        }
        let freed = s.allocations.remove(&(VirtualAddress as usize)).map(|a| a.size);
        if let Some(size) = freed {
            super::spin_lock::forget_locks_in(s, VirtualAddress as usize, size);
        } else {
            s.violate(
                rules::FREE_UNKNOWN_ADDRESS,
                format!("{VirtualAddress:?} is not a live allocation"),
            );
        }
        freed
    });
    if let Some(size) = freed {
        release_block(VirtualAddress as usize, size);
    }
}
const _: vmqnic::ndis::sig::NdisFreeMemory = NdisFreeMemory;
