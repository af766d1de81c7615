//! The two ntoskrnl functions the driver imports.

use std::time::Duration;

use vmqnic::ndis::{self, PROCESSOR_NUMBER, ULONG};

use crate::sim::cpu;
use crate::sim::state::with_state;

/// `KeStallExecutionProcessor`: waits `MicroSeconds` (the simulator sleeps instead of
/// spinning; the driver cannot tell) and adds them to
/// [`Sim::stalled_microseconds`](crate::sim::Sim::stalled_microseconds). Any IRQL.
#[unsafe(no_mangle)]
pub extern "system" fn KeStallExecutionProcessor(MicroSeconds: ULONG) {
    with_state(|s| s.stalled_microseconds += u64::from(MicroSeconds));
    std::thread::sleep(Duration::from_micros(u64::from(MicroSeconds)));
}
const _: ndis::sig::KeStallExecutionProcessor = KeStallExecutionProcessor;

/// `KeGetCurrentProcessorNumberEx`: the processor the calling code runs "on" (the target
/// processor of the message whose ISR or DPC is running, the PASSIVE processor otherwise),
/// written to `ProcNumber` if it is not NULL; returns its system-wide index (processors
/// numbered in group order). Any IRQL.
///
/// # Safety
/// `ProcNumber` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn KeGetCurrentProcessorNumberEx(
    ProcNumber: *mut PROCESSOR_NUMBER,
) -> ULONG {
    let processor = cpu::current().processor;
    cpu::note_observed(processor);
    let index = with_state(|s| {
        s.config
            .as_ref()
            .and_then(|c| c.processors.iter().position(|p| p.processor == processor))
            .unwrap_or(0)
    });
    if !ProcNumber.is_null() {
        let number =
            PROCESSOR_NUMBER { Group: processor.group, Number: processor.number, Reserved: 0 };
        // SAFETY: non-null and writable (caller).
        unsafe { ProcNumber.write_unaligned(number) };
    }
    u32::try_from(index).unwrap_or(u32::MAX)
}
const _: ndis::sig::KeGetCurrentProcessorNumberEx = KeGetCurrentProcessorNumberEx;
