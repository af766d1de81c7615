//! The processor and IRQL the calling thread runs "on".
//!
//! The simulator calls every driver handler from the test's thread; what makes an ISR run
//! "on" processor 1:3 at DIRQL is this thread-local context, which the simulator sets around
//! the call and which KeGetCurrentProcessorNumberEx and the IRQL checks of the exports read.
//! A thread the simulator never configured (a thread a fake driver spawns, say) runs at
//! PASSIVE_LEVEL on processor 0:0.

use std::cell::Cell;

use vmqnic::interrupt::Processor;

/// `PASSIVE_LEVEL`.
pub const PASSIVE_LEVEL: u8 = 0;
/// `DISPATCH_LEVEL`: DPCs.
pub const DISPATCH_LEVEL: u8 = 2;
/// The DIRQL of every interrupt this simulated OS grants (and `UnifiedIrql`). On x64 a device
/// IRQL is the IDT vector's upper nibble; 8 is a typical value and any value between
/// DISPATCH_LEVEL and HIGH_LEVEL would do.
pub const DEVICE_IRQL: u8 = 8;
/// `HIGH_LEVEL`.
pub const HIGH_LEVEL: u8 = 15;

/// Where and at which IRQL code runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuContext {
    /// The processor.
    pub processor: Processor,
    /// The IRQL.
    pub irql: u8,
}

const DEFAULT_CONTEXT: CpuContext =
    CpuContext { processor: Processor { group: 0, number: 0 }, irql: PASSIVE_LEVEL };

thread_local! {
    static CONTEXT: Cell<CpuContext> = const { Cell::new(DEFAULT_CONTEXT) };
    /// What KeGetCurrentProcessorNumberEx last answered on this thread (taken per handler).
    static OBSERVED: Cell<Option<Processor>> = const { Cell::new(None) };
}

/// The context of the calling thread.
#[must_use]
pub fn current() -> CpuContext {
    CONTEXT.with(Cell::get)
}

/// Sets the calling thread's context (the simulator does this when a test starts).
pub(crate) fn set(context: CpuContext) {
    CONTEXT.with(|c| c.set(context));
}

/// Runs `f` in `context`, then restores the previous context, also if `f` panics.
pub(crate) fn run_as<R>(context: CpuContext, f: impl FnOnce() -> R) -> R {
    struct Restore(CpuContext);
    impl Drop for Restore {
        fn drop(&mut self) {
            set(self.0);
        }
    }
    let _restore = Restore(current());
    set(context);
    f()
}

/// Records the processor KeGetCurrentProcessorNumberEx answered.
pub(crate) fn note_observed(processor: Processor) {
    OBSERVED.with(|o| o.set(Some(processor)));
}

/// Takes (and clears) what KeGetCurrentProcessorNumberEx answered since the last take.
pub(crate) fn take_observed() -> Option<Processor> {
    OBSERVED.with(Cell::take)
}

/// `KIRQL` name for messages.
#[must_use]
pub fn irql_name(irql: u8) -> String {
    match irql {
        PASSIVE_LEVEL => "PASSIVE_LEVEL".to_owned(),
        1 => "APC_LEVEL".to_owned(),
        DISPATCH_LEVEL => "DISPATCH_LEVEL".to_owned(),
        HIGH_LEVEL => "HIGH_LEVEL".to_owned(),
        other => format!("DIRQL {other}"),
    }
}
