//! NDIS spin locks: NdisAllocateSpinLock, NdisFreeSpinLock, NdisAcquireSpinLock,
//! NdisReleaseSpinLock, NdisDprAcquireSpinLock and NdisDprReleaseSpinLock.
//!
//! Everything runs on the test's thread, so a lock is never contended: what the simulator
//! models is the IRQL (NdisAcquireSpinLock raises the calling context to DISPATCH_LEVEL and
//! stores the previous IRQL in `OldIrql`, which NdisReleaseSpinLock restores) and who holds
//! each lock (which processor, which handler), so that every misuse that would deadlock or
//! corrupt on a real machine is a named violation (`SpinLock.*` in [`rules`]). Locks are
//! tracked by the address of their `NDIS_SPIN_LOCK`; the simulator writes the structure as
//! the kernel does (`SpinLock` 0 when free and 1 when held, `OldIrql`), but only that of a lock
//! NdisAllocateSpinLock initialized: any other pointer is a violation and is not dereferenced.

use vmqnic::ndis::{self, NDIS_SPIN_LOCK};

use std::mem::offset_of;

use super::{check_irql, field, irql_rule};
use crate::sim::cpu::{self, CpuContext, DISPATCH_LEVEL, irql_name};
use crate::sim::rules;
use crate::sim::state::{LockHolder, SimState, SpinLockRecord, with_state};

/// Which of the four acquire/release exports is running.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// NdisAcquireSpinLock / NdisReleaseSpinLock: raise to and lower from DISPATCH_LEVEL.
    Raising,
    /// NdisDprAcquireSpinLock / NdisDprReleaseSpinLock: at DISPATCH_LEVEL, IRQL unchanged.
    Dpr,
}

/// Writes `value` to the lock word of `lock`.
///
/// # Safety
/// `lock` points to writable memory of an `NDIS_SPIN_LOCK`.
unsafe fn write_lock_word(lock: *mut NDIS_SPIN_LOCK, value: usize) {
    // SAFETY: writable (caller); unaligned, so a misaligned lock is the driver's bug, not UB here.
    unsafe { field::<_, usize>(lock, offset_of!(NDIS_SPIN_LOCK, SpinLock)).write_unaligned(value) };
}

/// The live (allocated, not freed) record of `lock`; otherwise a violation naming `function`.
fn live_lock<'s>(
    s: &'s mut SimState,
    lock: *mut NDIS_SPIN_LOCK,
    function: &str,
) -> Option<&'s mut SpinLockRecord> {
    let address = lock as usize;
    let state = match s.spin_locks.get(&address) {
        Some(record) if !record.freed => None,
        Some(_) => Some("was given up with NdisFreeSpinLock"),
        None if lock.is_null() => Some("is NULL"),
        None => Some("was never initialized with NdisAllocateSpinLock"),
    };
    if let Some(state) = state {
        s.violate(rules::SPIN_LOCK_NOT_ALLOCATED, format!("{function}: lock {lock:?} {state}"));
        return None;
    }
    s.spin_locks.get_mut(&address)
}

/// The DISPATCH_LEVEL check of the Dpr variants.
fn check_dpr_irql(s: &mut SimState, function: &str, here: CpuContext) {
    if here.irql < DISPATCH_LEVEL {
        s.violate(
            rules::SPIN_LOCK_DPR_BELOW_DISPATCH,
            format!("{function} at {} (only at DISPATCH_LEVEL)", irql_name(here.irql)),
        );
    }
}

/// `NdisAllocateSpinLock`: initializes the lock (KeInitializeSpinLock: the lock word is 0) and
/// tracks it as allocated and free. Initializing a lock again resets it, as on Windows (a
/// holder's later release then finds it not held). IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// `SpinLock` is NULL (a recorded violation) or points to writable memory of an
/// `NDIS_SPIN_LOCK` that stays valid while the lock is in use.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisAllocateSpinLock(SpinLock: *mut NDIS_SPIN_LOCK) {
    let initialize = with_state(|s| {
        check_irql(s, irql_rule!(NdisAllocateSpinLock), DISPATCH_LEVEL);
        if SpinLock.is_null() {
            s.violate(rules::SPIN_LOCK_NOT_ALLOCATED, "NdisAllocateSpinLock of a NULL lock");
            return false;
        }
        s.spin_locks.insert(SpinLock as usize, SpinLockRecord::default());
        true
    });
    if initialize {
        // SAFETY: a non-null pointer to writable lock memory (caller).
        unsafe { write_lock_word(SpinLock, 0) };
    }
}
const _: ndis::sig::NdisAllocateSpinLock = NdisAllocateSpinLock;

/// `NdisFreeSpinLock`: gives up a lock nobody holds (it frees nothing: the memory is the
/// driver's). A held lock is a violation and stays allocated and held. A lock that is never
/// freed is not a violation (the Windows implementation has nothing to free);
/// [`Sim::spin_locks`](crate::sim::Sim::spin_locks) shows it. IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// If NdisAllocateSpinLock initialized `SpinLock`, its memory is still valid (any other
/// pointer is a recorded violation and is not dereferenced).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisFreeSpinLock(SpinLock: *mut NDIS_SPIN_LOCK) {
    with_state(|s| {
        check_irql(s, irql_rule!(NdisFreeSpinLock), DISPATCH_LEVEL);
        let Some(record) = live_lock(s, SpinLock, "NdisFreeSpinLock") else { return };
        match record.holder {
            Some(holder) => {
                let detail = format!(
                    "lock {SpinLock:?} is held by processor {}:{} (acquired in {:?})",
                    holder.processor.group, holder.processor.number, holder.phase
                );
                s.violate(rules::SPIN_LOCK_FREED_WHILE_HELD, detail);
            }
            None => record.freed = true,
        }
    });
}
const _: ndis::sig::NdisFreeSpinLock = NdisFreeSpinLock;

/// NdisAcquireSpinLock and NdisDprAcquireSpinLock (`function`), whose IRQL rule is `irql`.
///
/// # Safety
/// As for the exports.
unsafe fn acquire(
    lock: *mut NDIS_SPIN_LOCK,
    kind: Kind,
    function: &'static str,
    irql: &'static str,
) {
    let here = cpu::current();
    let acquired = with_state(|s| {
        check_irql(s, irql, DISPATCH_LEVEL);
        if kind == Kind::Dpr {
            check_dpr_irql(s, function, here);
        }
        let depth = s.phases.len();
        let phase = s.phase();
        let record = live_lock(s, lock, function)?;
        if let Some(holder) = record.holder {
            record.nested += 1;
            let detail = format!(
                "{function} of lock {lock:?} on processor {}:{} in {phase:?}: already held by \
                 processor {}:{} (acquired in {:?}); a certain deadlock",
                here.processor.group,
                here.processor.number,
                holder.processor.group,
                holder.processor.number,
                holder.phase
            );
            s.violate(rules::SPIN_LOCK_ACQUIRE_HELD, detail);
            return None;
        }
        record.holder =
            Some(LockHolder { processor: here.processor, depth, phase, dpr: kind == Kind::Dpr });
        Some(())
    });
    if acquired.is_none() {
        return;
    }
    // SAFETY: a lock NdisAllocateSpinLock initialized, whose memory is valid (caller).
    unsafe { write_lock_word(lock, 1) };
    if kind == Kind::Raising {
        // SAFETY: as above; the field is a byte, so any address is aligned for it.
        unsafe { field::<_, u8>(lock, offset_of!(NDIS_SPIN_LOCK, OldIrql)).write(here.irql) };
        // KeAcquireSpinLock raises; above DISPATCH_LEVEL (a violation reported above) it would
        // have to lower, which it cannot: the IRQL stays.
        cpu::set(CpuContext { irql: here.irql.max(DISPATCH_LEVEL), ..here });
    }
}

/// NdisReleaseSpinLock and NdisDprReleaseSpinLock (`function`), whose IRQL rule is `irql`.
///
/// # Safety
/// As for the exports.
unsafe fn release(
    lock: *mut NDIS_SPIN_LOCK,
    kind: Kind,
    function: &'static str,
    irql: &'static str,
) {
    let here = cpu::current();
    let released = with_state(|s| {
        check_irql(s, irql, DISPATCH_LEVEL);
        if kind == Kind::Dpr {
            check_dpr_irql(s, function, here);
        }
        let record = live_lock(s, lock, function)?;
        if record.nested > 0 {
            // The release of an acquisition that was reported and skipped.
            record.nested -= 1;
            return None;
        }
        let holder = match record.holder {
            Some(holder) if holder.processor == here.processor => holder,
            Some(holder) => {
                let detail = format!(
                    "{function} of lock {lock:?} on processor {}:{}: processor {}:{} holds it",
                    here.processor.group,
                    here.processor.number,
                    holder.processor.group,
                    holder.processor.number
                );
                s.violate(rules::SPIN_LOCK_RELEASE_NOT_HELD, detail);
                return None;
            }
            None => {
                let detail = format!("{function} of lock {lock:?}, which nobody holds");
                s.violate(rules::SPIN_LOCK_RELEASE_NOT_HELD, detail);
                return None;
            }
        };
        record.holder = None;
        if holder.dpr != (kind == Kind::Dpr) {
            let acquired =
                if holder.dpr { "NdisDprAcquireSpinLock" } else { "NdisAcquireSpinLock" };
            s.violate(
                rules::SPIN_LOCK_MISMATCHED_RELEASE,
                format!("lock {lock:?} taken with {acquired}, released with {function}"),
            );
        }
        Some(holder)
    });
    let Some(holder) = released else { return };
    // SAFETY: a lock NdisAllocateSpinLock initialized, whose memory is valid (caller).
    unsafe { write_lock_word(lock, 0) };
    // The IRQL goes back as the release matching the acquisition would put it.
    if !holder.dpr {
        // SAFETY: as above; a byte field.
        let old = unsafe { field::<_, u8>(lock, offset_of!(NDIS_SPIN_LOCK, OldIrql)).read() };
        cpu::set(CpuContext { irql: old, ..here });
    }
}

/// `NdisAcquireSpinLock`: raises the IRQL to DISPATCH_LEVEL, stores the previous IRQL in
/// `OldIrql` and takes the lock for the calling processor. IRQL <= DISPATCH_LEVEL. A lock that
/// is already held is a violation ([`rules::SPIN_LOCK_ACQUIRE_HELD`]) and returns at once,
/// without the lock.
///
/// # Safety
/// If NdisAllocateSpinLock initialized `SpinLock`, its memory is still valid (any other
/// pointer is a recorded violation and is not dereferenced).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisAcquireSpinLock(SpinLock: *mut NDIS_SPIN_LOCK) {
    // SAFETY: the caller's guarantee, passed on.
    unsafe {
        acquire(SpinLock, Kind::Raising, "NdisAcquireSpinLock", irql_rule!(NdisAcquireSpinLock));
    }
}
const _: ndis::sig::NdisAcquireSpinLock = NdisAcquireSpinLock;

/// `NdisReleaseSpinLock`: releases a lock the calling processor holds and lowers the IRQL to
/// the lock's `OldIrql`. IRQL <= DISPATCH_LEVEL.
///
/// # Safety
/// As for [`NdisAcquireSpinLock`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisReleaseSpinLock(SpinLock: *mut NDIS_SPIN_LOCK) {
    // SAFETY: the caller's guarantee, passed on.
    unsafe {
        release(SpinLock, Kind::Raising, "NdisReleaseSpinLock", irql_rule!(NdisReleaseSpinLock));
    }
}
const _: ndis::sig::NdisReleaseSpinLock = NdisReleaseSpinLock;

/// `NdisDprAcquireSpinLock`: takes the lock for the calling processor without changing the
/// IRQL, which must be DISPATCH_LEVEL.
///
/// # Safety
/// As for [`NdisAcquireSpinLock`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisDprAcquireSpinLock(SpinLock: *mut NDIS_SPIN_LOCK) {
    // SAFETY: the caller's guarantee, passed on.
    unsafe {
        acquire(SpinLock, Kind::Dpr, "NdisDprAcquireSpinLock", irql_rule!(NdisDprAcquireSpinLock));
    }
}
const _: ndis::sig::NdisDprAcquireSpinLock = NdisDprAcquireSpinLock;

/// `NdisDprReleaseSpinLock`: releases a lock taken with NdisDprAcquireSpinLock, leaving the
/// IRQL (DISPATCH_LEVEL) alone.
///
/// # Safety
/// As for [`NdisAcquireSpinLock`].
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisDprReleaseSpinLock(SpinLock: *mut NDIS_SPIN_LOCK) {
    // SAFETY: the caller's guarantee, passed on.
    unsafe {
        release(SpinLock, Kind::Dpr, "NdisDprReleaseSpinLock", irql_rule!(NdisDprReleaseSpinLock));
    }
}
const _: ndis::sig::NdisDprReleaseSpinLock = NdisDprReleaseSpinLock;

/// NdisFreeMemory is freeing `[start, start + size)`: the locks inside are gone with it
/// (a held one is a violation of [`rules::SPIN_LOCK_FREED_WHILE_HELD`]).
pub(crate) fn forget_locks_in(s: &mut SimState, start: usize, size: usize) {
    let end = start.saturating_add(size);
    let inside: Vec<usize> = s.spin_locks.range(start..end).map(|(address, _)| *address).collect();
    for address in inside {
        let Some(record) = s.spin_locks.remove(&address) else { continue };
        if let (false, Some(holder)) = (record.freed, record.holder) {
            s.violate(
                rules::SPIN_LOCK_FREED_WHILE_HELD,
                format!(
                    "NdisFreeMemory of {start:#x} frees lock {address:#x}, held by processor \
                     {}:{} (acquired in {:?})",
                    holder.processor.group, holder.processor.number, holder.phase
                ),
            );
        }
    }
}
