//! Fault injection: making ndis.sys fail a call the driver must survive.
//!
//! * **Failing calls.** [`Sim::inject_fault`] arms a [`Fault`]: the `n`-th call from now of any
//!   allocating export ([`ALLOCATING_EXPORTS`](super::ALLOCATING_EXPORTS)), the `n`-th call of
//!   one [`FAILABLE_EXPORTS`] function, or every allocating call until [`Sim::clear_faults`].
//!   The call then fails as ndis.sys reports running out of resources (NULL, or
//!   `NDIS_STATUS_RESOURCES`), allocates nothing and records no violation;
//!   [`Sim::injected_faults`] lists each failure with the export's call number and the
//!   handler that made the call. Allocating exports count toward
//!   [`Sim::allocation_calls`](super::Sim::allocation_calls) whether they fail or not.
//! * **Surprise removal.** [`Sim::surprise_remove`] pulls the device out: register reads return
//!   all-ones and writes go nowhere, configuration space reads all-ones, the device's bus
//!   mastering is turned off in QEMU (no more DMA, no more MSI or MSI-X writes), no interrupt is
//!   delivered any more, and the driver's MiniportDevicePnPEventNotify gets
//!   `NdisDevicePnPEventSurpriseRemoved`. A halt afterwards passes `NdisHaltDeviceSurpriseRemoved`.
//!   The device stays removed until the simulation ends. [`Sim::surprise_remove_after`] makes
//!   the device vanish at the `n`-th register access from now, in the middle of whatever the
//!   driver is doing (the driver hears of it when the test calls [`Sim::surprise_remove`]).

use vmqnic::ndis::{
    NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_OBJECT_TYPE_DEFAULT, NET_DEVICE_PNP_EVENT_FIELDS,
    NdisDevicePnPEventSurpriseRemoved,
};

use super::state::{Phase, SimState, in_phase, with_state};
use super::{Sim, SimError};
use crate::qemu::pci::COMMAND_BUS_MASTER;

/// Every export [`Fault::NthCall`] can name: the allocating exports, and the registrations of
/// MiniportInitializeEx that can fail on Windows for want of resources.
pub const FAILABLE_EXPORTS: [&str; 12] = [
    "NdisAllocateMemoryWithTagPriority",
    "NdisAllocateNetBufferListPool",
    "NdisAllocateNetBufferAndNetBufferList",
    "NdisAllocateMdl",
    "NdisAllocateSharedMemory",
    "NdisMAllocateSharedMemory",
    "NdisAllocateIoWorkItem",
    "NdisOpenConfigurationEx",
    "NdisReadConfiguration",
    "NdisMRegisterInterruptEx",
    "NdisMRegisterScatterGatherDma",
    "NdisMMapIoSpace",
];

/// A fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The `n`-th call from now (1: the next one) of any allocating export fails.
    NthAllocation(u64),
    /// The `n`-th call from now of this export (one of [`FAILABLE_EXPORTS`]) fails.
    NthCall(&'static str, u64),
    /// Every call of an allocating export fails, until [`Sim::clear_faults`].
    EveryAllocation,
}

/// A call the simulator made fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectedFault {
    /// The export.
    pub function: &'static str,
    /// Its call number since the simulation started (1 = its first call).
    pub call: u64,
    /// The driver handler that made the call (`Initialize`, `OidRequest`, `Dpc`, …).
    pub handler: String,
}

/// What the simulator keeps for fault injection.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    armed: Vec<Fault>,
    injected: Vec<InjectedFault>,
    calls: std::collections::BTreeMap<&'static str, u64>,
    /// Register accesses left before the device vanishes.
    remove_after: Option<u64>,
}

/// Called for each register access the driver makes: whether the device is gone (counting
/// down an armed [`Sim::surprise_remove_after`], and turning bus mastering off when it
/// fires).
pub(crate) fn device_gone(machine: &super::machine::Machine) -> bool {
    let (gone, now) = with_state(|s| {
        let mut now = false;
        if let Some(left) = s.faults.remove_after.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                s.faults.remove_after = None;
                s.surprise_removed = true;
                now = true;
            }
        }
        (s.surprise_removed, now)
    });
    if now && let Some(igb) = machine.igb() {
        let pci = igb.pci();
        if let Ok(command) = pci.command() {
            let _ = pci.set_command(command & !COMMAND_BUS_MASTER);
        }
    }
    gone
}

impl SimState {
    /// Counts a call of the failable export `function` and says whether it must fail.
    pub(crate) fn inject(&mut self, function: &'static str, allocating: bool) -> bool {
        let call = {
            let calls = self.faults.calls.entry(function).or_default();
            *calls += 1;
            *calls
        };
        let mut fail = false;
        self.faults.armed.retain_mut(|fault| {
            let countdown = match fault {
                Fault::NthAllocation(n) if allocating => n,
                Fault::NthCall(name, n) if *name == function => n,
                Fault::EveryAllocation if allocating => {
                    fail = true;
                    return true;
                }
                _ => return true,
            };
            *countdown = countdown.saturating_sub(1);
            if *countdown == 0 {
                fail = true;
                return false;
            }
            true
        });
        if fail {
            let handler = self.phase().map_or_else(|| "none".to_owned(), |p| format!("{p:?}"));
            self.faults.injected.push(InjectedFault { function, call, handler });
        }
        fail
    }
}

impl Sim {
    /// Arms `fault` (see the module documentation). Several faults may be armed at once.
    ///
    /// # Panics
    /// For [`Fault::NthCall`] of a function that is not in [`FAILABLE_EXPORTS`], or an `n` of 0.
    pub fn inject_fault(&self, fault: Fault) {
        match fault {
            Fault::NthCall(function, n) => {
                assert!(FAILABLE_EXPORTS.contains(&function), "{function} cannot be made to fail");
                assert!(n > 0, "calls are counted from 1");
            }
            Fault::NthAllocation(n) => assert!(n > 0, "calls are counted from 1"),
            Fault::EveryAllocation => {}
        }
        with_state(|s| s.faults.armed.push(fault));
    }

    /// Disarms every fault not injected yet.
    pub fn clear_faults(&self) {
        with_state(|s| s.faults.armed.clear());
    }

    /// The faults armed and not injected yet.
    #[must_use]
    pub fn armed_faults(&self) -> Vec<Fault> {
        with_state(|s| s.faults.armed.clone())
    }

    /// Every call made to fail so far, in order.
    #[must_use]
    pub fn injected_faults(&self) -> Vec<InjectedFault> {
        with_state(|s| s.faults.injected.clone())
    }

    /// Calls of each failable export since the start (failed or not).
    #[must_use]
    pub fn failable_calls(&self) -> std::collections::BTreeMap<&'static str, u64> {
        with_state(|s| s.faults.calls.clone())
    }

    /// Makes the device vanish (as [`Sim::surprise_remove`] does, without telling the driver)
    /// at the `n`-th register read or write from now (1: the next).
    ///
    /// # Panics
    /// For `n` = 0.
    pub fn surprise_remove_after(&self, n: u64) {
        assert!(n > 0, "accesses are counted from 1");
        with_state(|s| s.faults.remove_after = Some(n));
    }

    /// Whether the device was surprise-removed.
    #[must_use]
    pub fn surprise_removed(&self) -> bool {
        with_state(|s| s.surprise_removed)
    }

    /// Surprise removal (see the module documentation): the device is gone from now on, and
    /// the driver's MiniportDevicePnPEventNotify hears of it (at PASSIVE_LEVEL). What NDIS does
    /// next (pause, halt, remove) is the test's [`Sim::stop_device`].
    ///
    /// # Errors
    /// QEMU's failure to turn bus mastering off.
    pub fn surprise_remove(&self) -> Result<(), SimError> {
        with_state(|s| {
            s.surprise_removed = true;
            s.faults.remove_after = None;
        });
        if let Some(igb) = self.igb() {
            let pci = igb.pci();
            let command = pci.command().map_err(SimError::Hardware)?;
            pci.set_command(command & !COMMAND_BUS_MASTER).map_err(SimError::Hardware)?;
        }
        let (driver, context) = with_state(|s| (s.driver, s.adapter.context));
        let notify = driver.and_then(|d| d.characteristics.DevicePnPEventNotifyHandler);
        if let (Some(notify), true) = (notify, self.adapter_state().adapter_exists()) {
            let mut event = NET_DEVICE_PNP_EVENT_FIELDS {
                Header: NDIS_OBJECT_HEADER::new(NDIS_OBJECT_TYPE_DEFAULT, 1, 0x30),
                PortNumber: 0,
                DevicePnPEvent: NdisDevicePnPEventSurpriseRemoved,
                InformationBuffer: std::ptr::null_mut(),
                InformationBufferLength: 0,
                NdisReserved: [std::ptr::null_mut(); 2],
            };
            // SAFETY: the driver's DevicePnPEventNotify with its adapter context and an event
            // that outlives the call, at PASSIVE_LEVEL.
            in_phase(Phase::DevicePnPEvent, || unsafe {
                notify(context as NDIS_HANDLE, &raw mut event);
            });
        }
        Ok(())
    }
}
