//! (ntoskrnl) MmMapLockedPagesSpecifyCache: what the driver's `ndis::mdl_system_address`
//! (the WDK's `MmGetSystemAddressForMdlSafe`) calls for an MDL without a system mapping.

use vmqnic::ndis::{
    self, KPROCESSOR_MODE, MDL, MDL_MAPPED_TO_SYSTEM_VA, MEMORY_CACHING_TYPE, PVOID, ULONG,
};

use super::{check_irql, irql_rule};
use crate::sim::cpu::DISPATCH_LEVEL;
use crate::sim::rules;
use crate::sim::state::{SimState, with_state};

/// The buffer address the simulator built `mdl` for: NdisAllocateMdl's, or a send MDL of the
/// simulated protocol's. `None` for any other MDL.
fn built_for(s: &SimState, mdl: usize) -> Option<usize> {
    if let Some(record) = s.mdls.get(&mdl) {
        return Some(record.virtual_address);
    }
    s.protocol_sends
        .iter()
        .flat_map(|packet| packet.mdl_ranges().iter())
        .find(|(address, _, _)| *address == mdl)
        .map(|(_, buffer, _)| *buffer)
}

/// `MmMapLockedPagesSpecifyCache`: every MDL the simulator builds describes memory of this
/// process, which is mapped already, so the "mapping" of a known MDL is `StartVa +
/// ByteOffset`; it is recorded in the MDL as the Memory Manager records a system mapping
/// (`MappedSystemVa`, `MDL_MAPPED_TO_SYSTEM_VA`), so a second `MmGetSystemAddressForMdlSafe`
/// makes no call. An MDL the simulator did not build, or whose `StartVa + ByteOffset` is no
/// longer the buffer it was built for, is a violation
/// ([`rules::MAP_LOCKED_PAGES_UNKNOWN_MDL`]) and gets NULL, as a failed mapping does. The
/// other arguments change nothing here (there is one cache type and no page-table shortage).
/// IRQL <= DISPATCH_LEVEL.
// The MDL is read and written only once found among the MDLs the simulator itself built and
// keeps alive, so a wrong pointer is a recorded violation, never a dereference.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
#[unsafe(no_mangle)]
pub extern "system" fn MmMapLockedPagesSpecifyCache(
    MemoryDescriptorList: *mut MDL,
    _AccessMode: KPROCESSOR_MODE,
    _CacheType: MEMORY_CACHING_TYPE,
    _RequestedAddress: PVOID,
    _BugCheckOnFailure: ULONG,
    _Priority: ULONG,
) -> PVOID {
    let mapped = with_state(|s| {
        check_irql(s, irql_rule!(MmMapLockedPagesSpecifyCache), DISPATCH_LEVEL);
        let Some(buffer) = built_for(s, MemoryDescriptorList as usize) else {
            s.violate(
                rules::MAP_LOCKED_PAGES_UNKNOWN_MDL,
                format!("{MemoryDescriptorList:?} is not an MDL the simulator built"),
            );
            return None;
        };
        // SAFETY: an MDL the simulator built and keeps alive (found above); no one else runs.
        let mdl = unsafe { &mut *MemoryDescriptorList };
        let address = (mdl.StartVa as usize).wrapping_add(mdl.ByteOffset as usize);
        if address != buffer {
            s.violate(
                rules::MAP_LOCKED_PAGES_UNKNOWN_MDL,
                format!(
                    "MDL {MemoryDescriptorList:?} was built for {buffer:#x}; its StartVa + \
                     ByteOffset is {address:#x}"
                ),
            );
            return None;
        }
        mdl.MappedSystemVa = address as PVOID;
        mdl.MdlFlags |= MDL_MAPPED_TO_SYSTEM_VA;
        Some(address)
    });
    mapped.map_or(std::ptr::null_mut(), |address| address as PVOID)
}
const _: ndis::sig::MmMapLockedPagesSpecifyCache = MmMapLockedPagesSpecifyCache;
