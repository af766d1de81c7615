//! The simulated ndis.sys: global state shared by the exported `NdisXxx` functions, the
//! contract checks that stand in for Driver Verifier and NDISTest, and the PnP manager that
//! drives the driver's PnP handlers.
//!
//! The driver's imports are C symbols, so the simulator is necessarily global state. Every test
//! starts a [`Sim`] with [`Sim::start`], which takes a process-wide lock for the test's lifetime:
//! tests of one binary run one at a time under `cargo test`, and `cargo nextest` (a process per
//! test) isolates them anyway.

pub mod exports;
pub mod pnp;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use vmqnic::interrupt::Processor;

/// A broken rule of the NDIS contract, named as Driver Verifier or the docs name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule (e.g. `"NdisAllocateMemoryWithTagPriority.NonZeroTag"`).
    pub rule: &'static str,
    /// What happened.
    pub detail: String,
}

/// One processor of the simulated machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimProcessor {
    /// Group and number.
    pub processor: Processor,
    /// NUMA node.
    pub node: u16,
}

/// The machine and the device as the test configures them.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Every processor, in group order.
    pub processors: Vec<SimProcessor>,
    /// The RSS set NdisGetRssProcessorInformation reports, with preference indices, in NDIS's
    /// array order.
    pub rss: Vec<(Processor, u16)>,
    /// The device's PCI configuration space (256 bytes), as NdisMGetBusData returns it.
    pub pci_config: Vec<u8>,
}

impl SimConfig {
    /// `groups[g]` processors in group `g`, every one of them in the RSS set with preference
    /// equal to its group (NUMA node = group).
    #[must_use]
    pub fn with_groups(groups: &[u8]) -> Self {
        let mut processors = Vec::new();
        for (group, count) in groups.iter().enumerate() {
            let group = u16::try_from(group).expect("at most 65535 groups");
            for number in 0..*count {
                let processor =
                    Processor::new(group, number).expect("at most 64 processors per group");
                processors.push(SimProcessor { processor, node: group });
            }
        }
        let rss = processors.iter().map(|p| (p.processor, p.node)).collect();
        Self { processors, rss, pci_config: igb_config_space(10) }
    }
}

/// The 82576's PCI configuration space as QEMU presents it (igb-qemu.md §2), with an MSI-X
/// table of `table_entries` entries.
#[must_use]
pub fn igb_config_space(table_entries: u16) -> Vec<u8> {
    let mut c = vec![0u8; 256];
    c[0..4].copy_from_slice(&[0x86, 0x80, 0xC9, 0x10]);
    c[0x06] = 0x10; // capabilities list
    c[0x34] = 0x40;
    c[0x40] = 0x01; // power management
    c[0x41] = 0x50;
    c[0x50] = 0x05; // MSI
    c[0x51] = 0x70;
    c[0x70] = 0x11; // MSI-X
    let control = (table_entries.clamp(1, 2048) - 1) | (1 << 15);
    c[0x72..0x74].copy_from_slice(&control.to_le_bytes());
    c[0x74..0x78].copy_from_slice(&3u32.to_le_bytes());
    c[0x78..0x7C].copy_from_slice(&(0x2000u32 | 3).to_le_bytes());
    c
}

/// A pool allocation the simulator handed out (or, for lists the PnP manager owns, adopted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Bytes.
    pub size: usize,
    /// Pool tag.
    pub tag: u32,
    /// Who allocated it: the driver, or the simulated PnP manager / bus driver.
    pub owner: Owner,
}

/// Who allocated a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The driver, through NdisAllocateMemoryWithTagPriority.
    Driver,
    /// The simulated PnP manager (the bus driver's requirements list).
    PnpManager,
}

/// One MSI-X table entry as the simulated OS programs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableEntry {
    /// The message the entry raises (`None`: never programmed).
    pub message: Option<u32>,
    /// Vector-control mask bit.
    pub masked: bool,
}

/// Everything the exports read and write.
#[derive(Debug, Default)]
pub struct SimState {
    /// The configuration.
    pub config: Option<SimConfig>,
    /// Live pool allocations by address.
    pub allocations: BTreeMap<usize, Allocation>,
    /// Contract violations, in order.
    pub violations: Vec<Violation>,
    /// The miniport adapter handle NDIS gave the driver (an address the simulator owns).
    pub miniport_handle: usize,
    /// The add-device context the driver registered.
    pub add_device_context: Option<usize>,
    /// Calls of NdisGetRssProcessorInformation.
    pub rss_queries: usize,
    /// The MSI-X table (one entry per table entry of the configured capability).
    pub msix_table: Vec<TableEntry>,
    /// Messages the simulated OS granted (NdisMConfigMSIXTableEntry checks against it).
    pub granted_messages: u32,
    /// Whether NdisMConfigMSIXTableEntry may be called (MiniportInitializeEx .. HaltEx return).
    pub msix_config_allowed: bool,
    /// Every NdisMConfigMSIXTableEntry call: (operation, entry, message, status).
    pub msix_calls: Vec<(u32, u32, u32, i32)>,
}

impl SimState {
    /// Records a violation of `rule`.
    pub fn violate(&mut self, rule: &'static str, detail: impl Into<String>) {
        self.violations.push(Violation { rule, detail: detail.into() });
    }
}

static STATE: Mutex<SimState> = Mutex::new(SimState {
    config: None,
    allocations: BTreeMap::new(),
    violations: Vec::new(),
    miniport_handle: 0,
    add_device_context: None,
    rss_queries: 0,
    msix_table: Vec::new(),
    granted_messages: 0,
    msix_config_allowed: false,
    msix_calls: Vec::new(),
});
static TEST_LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` on the simulator state. The lock is never held while driver code runs.
pub fn with_state<R>(f: impl FnOnce(&mut SimState) -> R) -> R {
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut state)
}

/// A running simulation; dropping it resets the simulator (and releases the test lock).
pub struct Sim {
    _serial: MutexGuard<'static, ()>,
}

impl Sim {
    /// Starts a simulation of `config`, waiting for any other test of this process to finish.
    #[must_use]
    pub fn start(config: SimConfig) -> Self {
        let serial = TEST_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        with_state(|state| {
            *state = SimState::default();
            let table = vmqnic::interrupt::pci::msix_capability(&config.pci_config)
                .map_or(0, |c| c.table_size);
            state.msix_table = vec![TableEntry::default(); usize::from(table)];
            state.config = Some(config);
            // A stable, non-null address for the miniport handle; the driver only passes it back.
            state.miniport_handle = std::ptr::addr_of!(TEST_LOCK) as usize;
        });
        Self { _serial: serial }
    }

    /// The violations recorded so far.
    #[must_use]
    pub fn violations(&self) -> Vec<Violation> {
        with_state(|s| s.violations.clone())
    }

    /// Live allocations the driver made and has not freed.
    #[must_use]
    pub fn driver_allocations(&self) -> Vec<Allocation> {
        with_state(|s| {
            s.allocations.values().filter(|a| a.owner == Owner::Driver).copied().collect()
        })
    }

    /// Calls of NdisGetRssProcessorInformation so far.
    #[must_use]
    pub fn rss_queries(&self) -> usize {
        with_state(|s| s.rss_queries)
    }

    /// Opens or closes the window in which NdisMConfigMSIXTableEntry is legal (the simulated
    /// NDIS opens it when it calls MiniportInitializeEx and closes it when MiniportHaltEx
    /// returns), and sets the number of granted messages.
    pub fn set_msix_window(&self, open: bool, granted_messages: u32) {
        with_state(|s| {
            s.msix_config_allowed = open;
            s.granted_messages = granted_messages;
            // At start the PCI driver points entry i at message i for i < min(T, G).
            if open {
                for (i, entry) in s.msix_table.iter_mut().enumerate() {
                    let i = u32::try_from(i).unwrap_or(u32::MAX);
                    *entry = TableEntry {
                        message: (i < granted_messages).then_some(i),
                        masked: i >= granted_messages,
                    };
                }
            }
        });
    }

    /// The simulated MSI-X table.
    #[must_use]
    pub fn msix_table(&self) -> Vec<TableEntry> {
        with_state(|s| s.msix_table.clone())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        with_state(|state| {
            // Free what is left so the next test starts clean (leaks were visible through
            // `driver_allocations` before this point).
            for (address, allocation) in std::mem::take(&mut state.allocations) {
                exports::release_block(address, allocation.size);
            }
            *state = SimState::default();
        });
    }
}
