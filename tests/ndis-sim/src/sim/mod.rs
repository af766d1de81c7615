//! The simulated ndis.sys: the exported `NdisXxx` functions, the global state they share, the
//! contract checks that stand in for Driver Verifier and NDISTest, and the simulated OS around
//! them (PnP manager, interrupt controller, processors), driven by the test through [`Sim`].
//!
//! ```no_run
//! # use ndis_sim::sim::{GrantPolicy, Sim, SimConfig};
//! # unsafe extern "system" fn driver_entry(
//! #     _: *mut vmqnic::ndis::DRIVER_OBJECT, _: *const vmqnic::ndis::UNICODE_STRING,
//! # ) -> i32 { 0 }
//! let mut sim = Sim::start(SimConfig::with_groups(&[2, 2]).with_qemu());
//! sim.load_driver(driver_entry).unwrap();
//! let grant = sim.start_device(GrantPolicy::AsRequested).unwrap();
//! let deliveries = sim.deliver_interrupts(std::time::Duration::from_millis(100)).unwrap();
//! sim.stop_device().unwrap();
//! sim.unload_driver().unwrap();
//! assert_eq!(sim.violations(), vec![]);
//! ```
//!
//! The driver's imports are C symbols, so the simulator is necessarily global state. Every
//! test starts a [`Sim`] with [`Sim::start`], which takes a process-wide lock for the test's
//! lifetime: tests of one binary run one at a time under `cargo test`, and `cargo nextest` (a
//! process per test) isolates them anyway.

pub mod cpu;
pub mod exports;
pub mod faults;
mod freed_memory;
mod interrupts;
mod lifecycle;
pub mod machine;
pub mod mmio;
pub mod oid;
pub mod pnp;
pub mod registry;
pub mod rules;
mod state;
pub mod vmq;
pub mod work_items;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use vmqnic::interrupt::Processor;
use vmqnic::ndis::NDIS_STATUS;

use crate::qemu::{self, Igb, Qemu, QemuConfig};

pub use exports::SendFrame;
pub use faults::{FAILABLE_EXPORTS, Fault, InjectedFault};
pub use freed_memory::{CANARY_TAG, FreedRange, canary_word};
pub use interrupts::{Delivery, DpcRun, IsrRun};
pub use lifecycle::{Completion, DriverEntry};
pub use machine::{BarSpace, SimBar, igb_bars};
pub use mmio::IoMapping;
pub use oid::{OidCompletion, OidId, OidKind, OidOutcome, OidRequest};
pub use registry::{ConfigurationRead, KeywordValue, StringConversion};
pub use state::{AdapterState, Allocation, Owner, Scope, SimState, TableEntry, with_state};
pub use work_items::{WorkItemRun, WorkItemState};

use machine::Machine;

/// A broken rule of the NDIS contract, named as Driver Verifier or the docs name it (the names
/// are listed in [`rules`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule (e.g. `"NdisAllocateMemoryWithTagPriority.NonZeroTag"`).
    pub rule: &'static str,
    /// What happened.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

/// One processor of the simulated machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimProcessor {
    /// Group and number.
    pub processor: Processor,
    /// NUMA node.
    pub node: u16,
}

/// When the simulated protocol returns the NBLs the miniport indicates (without
/// `NDIS_RECEIVE_FLAGS_RESOURCES`; with it, ownership comes back when the call returns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReturnPolicy {
    /// After the DPC that indicated them returns, on the same processor at DISPATCH_LEVEL.
    #[default]
    AfterDpc,
    /// Inside NdisMIndicateReceiveNetBufferLists, before it returns (a protocol may return
    /// NBLs from its receive handler; this catches a driver holding a lock across the call).
    DuringIndication,
    /// Only when the test calls [`Sim::return_indicated_nbls`].
    Hold,
}

/// Which interrupt resources the simulated PnP manager grants (spec §4.2: PnP may grant
/// fewer messages than requested, a single MSI message, or a line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantPolicy {
    /// Every message descriptor of the filtered list (the line if it has none).
    AsRequested,
    /// The first `n` message descriptors (a line-based interrupt if `n` is 0).
    AtMost(u32),
    /// One MSI message; MSI-X stays disabled in configuration space.
    Msi,
    /// The line-based alternative.
    LineBased,
}

/// The kind of interrupt granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    /// MSI-X: one translated descriptor per message.
    MsiX,
    /// MSI: one translated descriptor.
    Msi,
    /// A line-based interrupt (INTx).
    Line,
}

/// One granted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantedMessage {
    /// Message number (the `MessageId` the ISR and DPC get).
    pub number: u32,
    /// Processor group of `affinity`.
    pub group: u16,
    /// `TargetProcessorSet` within `group`.
    pub affinity: u64,
    /// The processor the ISR runs on: the lowest one of `affinity`.
    pub target: Processor,
    /// Guest-physical address of the message's mailbox (its `MessageAddress`).
    pub mailbox: u64,
    /// `MessageData`: the word the device writes to the mailbox.
    pub data: u32,
}

/// A granted line-based interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantedLine {
    /// The IOAPIC input (GSI) the device's INTx arrives on; also the descriptor's vector.
    pub pin: u32,
    /// Processor group of `affinity`.
    pub group: u16,
    /// Processors the interrupt may go to.
    pub affinity: u64,
    /// The processor the ISR runs on: the lowest one of `affinity`.
    pub target: Processor,
}

/// The interrupt resources granted at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantedInterrupts {
    /// MSI-X, MSI or line.
    pub kind: GrantKind,
    /// Granted messages in message-number order (empty for a line).
    pub messages: Vec<GrantedMessage>,
    /// For a line-based grant: the line.
    pub line: Option<GrantedLine>,
    /// Entries of the device's MSI-X table (0 if it has no MSI-X capability).
    pub table_size: u16,
    /// The requirements list the grant was made from (after the driver's filter).
    pub requirements: Vec<u8>,
    /// The translated `CM_PARTIAL_RESOURCE_LIST` MiniportInitializeEx gets.
    pub translated_resources: Vec<u8>,
}

/// One NdisMIndicateStatusEx call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusIndicationRecord {
    /// `StatusCode`.
    pub status_code: NDIS_STATUS,
    /// `PortNumber`.
    pub port: u32,
    /// A copy of `StatusBuffer` (`StatusBufferSize` bytes).
    pub buffer: Vec<u8>,
    /// The IRQL of the call.
    pub irql: u8,
}

/// One received NBL as indicated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedNbl {
    /// The NBL's address.
    pub address: usize,
    /// Queue id from `NetBufferListFilteringInfo` (bits 31:16).
    pub queue_id: u16,
    /// Filter id from `NetBufferListFilteringInfo` (bits 15:0).
    pub filter_id: u16,
    /// `DataLength` of each NET_BUFFER.
    pub data_lengths: Vec<u32>,
    /// The bytes of each NET_BUFFER (`DataLength` bytes from `DataOffset` of its MDL chain),
    /// copied during the indication; empty when they could not be read (a violation says why).
    pub frames: Vec<Vec<u8>>,
    /// `NetBufferListInfo[Ieee8021QNetBufferListInfo]`: (VlanId, UserPriority) of the tag the
    /// hardware stripped; `None` when the entry is 0.
    pub ieee8021q: Option<(u16, u8)>,
}

impl ReceivedNbl {
    /// The bytes of the first NET_BUFFER (a received NBL has one), empty if none were read.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        self.frames.first().map_or(&[], Vec::as_slice)
    }
}

/// One NdisMIndicateReceiveNetBufferLists call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiveIndicationRecord {
    /// The chain.
    pub nbls: Vec<ReceivedNbl>,
    /// `NumberOfNetBufferLists`.
    pub count: u32,
    /// `ReceiveFlags`.
    pub flags: u32,
    /// `PortNumber`.
    pub port: u32,
    /// IRQL and processor of the call.
    pub irql: u8,
    /// The processor of the call.
    pub processor: Processor,
}

/// A live NdisAllocateSharedMemory block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedMemoryRecord {
    /// Guest-physical address (what the SG list says).
    pub physical_address: u64,
    /// `Length` as requested.
    pub length: u32,
    /// `QueueId` of the request.
    pub queue_id: u32,
    /// The `SharedMemoryHandle` handed out (for `NET_BUFFER_SHARED_MEMORY`).
    pub shared_memory_handle: usize,
}

/// A live NdisMAllocateSharedMemory block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MiniportSharedMemoryRecord {
    /// The address `*VirtualAddress` got (in this process: the same bytes as guest RAM at
    /// `physical_address`).
    pub virtual_address: usize,
    /// Guest-physical address (what `*PhysicalAddress` got), page-aligned.
    pub physical_address: u64,
    /// `Length` as requested.
    pub length: u32,
    /// `Cached` as requested.
    pub cached: bool,
}

/// One NBL NdisMSendNetBufferListsComplete completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendCompletionRecord {
    /// The NBL.
    pub nbl: usize,
    /// Its `Status`.
    pub status: NDIS_STATUS,
    /// `SendCompleteFlags`.
    pub flags: u32,
}

/// An NDIS spin lock as the simulator tracks it (see [`Sim::spin_locks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpinLockState {
    /// The address of its `NDIS_SPIN_LOCK`.
    pub address: usize,
    /// Given up with NdisFreeSpinLock.
    pub freed: bool,
    /// The processor holding it.
    pub held_by: Option<Processor>,
}

/// The exports [`Sim::allocation_calls`] counts: every one that allocates memory or NDIS
/// objects for the driver (not NdisAllocateSpinLock, which only initializes the driver's own
/// memory). NdisOpenConfigurationEx and NdisReadConfiguration allocate NDIS's own memory (the
/// handle, each value), which the driver holds until NdisCloseConfiguration.
pub const ALLOCATING_EXPORTS: [&str; 9] = [
    "NdisAllocateMemoryWithTagPriority",
    "NdisAllocateNetBufferListPool",
    "NdisAllocateNetBufferAndNetBufferList",
    "NdisAllocateMdl",
    "NdisAllocateSharedMemory",
    "NdisMAllocateSharedMemory",
    "NdisAllocateIoWorkItem",
    "NdisOpenConfigurationEx",
    "NdisReadConfiguration",
];

/// Why a simulator operation could not be carried out. (Contract violations are not errors:
/// they are recorded and read with [`Sim::violations`].)
#[derive(Debug)]
pub enum SimError {
    /// The QEMU backend failed.
    Hardware(qemu::Error),
    /// The operation does not fit the current state (e.g. stop before start).
    WrongState {
        /// What was asked.
        operation: &'static str,
        /// Why it could not be done.
        reason: String,
    },
    /// A driver handler (or DriverEntry) failed.
    Failed {
        /// The handler.
        handler: &'static str,
        /// Its status.
        status: NDIS_STATUS,
    },
    /// Waited in vain.
    Timeout(&'static str),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Hardware(e) => write!(f, "hardware backend: {e}"),
            SimError::WrongState { operation, reason } => write!(f, "cannot {operation}: {reason}"),
            SimError::Failed { handler, status } => {
                write!(f, "{handler} failed with {:#010x}", status.cast_unsigned())
            }
            SimError::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

impl std::error::Error for SimError {}

impl From<qemu::Error> for SimError {
    fn from(e: qemu::Error) -> Self {
        SimError::Hardware(e)
    }
}

/// The machine and the device as the test configures them.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Every processor, in group order (the first runs the PASSIVE_LEVEL handlers).
    pub processors: Vec<SimProcessor>,
    /// The RSS set NdisGetRssProcessorInformation reports, with preference indices, in NDIS's
    /// array order.
    pub rss: Vec<(Processor, u16)>,
    /// `PreferredNumaNode` of the RSS information.
    pub preferred_numa_node: u16,
    /// Without QEMU: the device's PCI configuration space, as NdisMGetBusData returns it.
    pub pci_config: Vec<u8>,
    /// Without QEMU: the device's BARs.
    pub bars: Vec<SimBar>,
    /// `Some`: QEMU's emulated 82576 is the device (registers, DMA, interrupts are real).
    pub hardware: Option<QemuConfig>,
    /// When indicated NBLs come back.
    pub receive_returns: ReturnPolicy,
    /// `MaxNblsToIndicate` of the receive throttle parameters each DPC gets.
    pub max_nbls_per_dpc: u32,
    /// How long an OID may take (Driver Verifier's NdisTimedOidComplete: 12 s).
    pub oid_timeout: Duration,
    /// The adapter's registry (its driver key), which NdisReadConfiguration reads: name and
    /// value, names matched case-insensitively. By default the INF's keywords at their defaults
    /// ([`registry::inf_defaults`]); change it with [`SimConfig::with_keyword`] and
    /// [`SimConfig::without_keyword`], or [`Sim::set_keyword`] between two starts.
    pub keywords: Vec<(String, KeywordValue)>,
    /// Whether a REG_SZ read as an integer comes back converted (as ndis.sys does, the
    /// default) or as a string.
    pub string_conversion: StringConversion,
}

impl SimConfig {
    /// `groups[g]` processors in group `g`, every one of them in the RSS set with preference
    /// equal to its group (NUMA node = group); no device (see [`SimConfig::with_qemu`]).
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
        Self {
            processors,
            rss,
            preferred_numa_node: 0,
            pci_config: igb_config_space(10),
            bars: igb_bars(),
            hardware: None,
            receive_returns: ReturnPolicy::default(),
            max_nbls_per_dpc: 64,
            oid_timeout: Duration::from_secs(12),
            keywords: registry::inf_defaults(),
            string_conversion: StringConversion::default(),
        }
    }

    /// The same registry with `name` set to `value` (replacing a value of that name, in any
    /// case).
    #[must_use]
    pub fn with_keyword(mut self, name: &str, value: KeywordValue) -> Self {
        set_keyword(&mut self.keywords, name, Some(value));
        self
    }

    /// The same registry without `name`.
    #[must_use]
    pub fn without_keyword(mut self, name: &str) -> Self {
        set_keyword(&mut self.keywords, name, None);
        self
    }

    /// The same machine with REG_SZ values handed over as `conversion` says.
    #[must_use]
    pub fn with_string_conversion(mut self, conversion: StringConversion) -> Self {
        self.string_conversion = conversion;
        self
    }

    /// The same machine with QEMU's 82576 as the device (default QEMU configuration).
    #[must_use]
    pub fn with_qemu(self) -> Self {
        self.with_qemu_config(QemuConfig::default())
    }

    /// The same machine with QEMU's 82576 started with `config`.
    #[must_use]
    pub fn with_qemu_config(mut self, config: QemuConfig) -> Self {
        self.hardware = Some(config);
        self
    }

    /// The processor PASSIVE_LEVEL handlers run on (the first one).
    #[must_use]
    pub fn passive_processor(&self) -> Processor {
        self.processors.first().map_or(Processor { group: 0, number: 0 }, |p| p.processor)
    }
}

/// Sets (`Some`) or removes (`None`) the value `name` (any case) of a registry.
fn set_keyword(
    keywords: &mut Vec<(String, KeywordValue)>,
    name: &str,
    value: Option<KeywordValue>,
) {
    keywords.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
    if let Some(value) = value {
        keywords.push((name.to_owned(), value));
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
    c[0x3D] = 0x01; // interrupt pin INTA
    c[0x40] = 0x01; // power management
    c[0x41] = 0x50;
    c[0x50] = 0x05; // MSI: 64-bit, per-vector masking, one message
    c[0x51] = 0x70;
    c[0x52..0x54].copy_from_slice(&0x0180u16.to_le_bytes());
    c[0x70] = 0x11; // MSI-X
    let control = (table_entries.clamp(1, 2048) - 1) | (1 << 15);
    c[0x72..0x74].copy_from_slice(&control.to_le_bytes());
    c[0x74..0x78].copy_from_slice(&3u32.to_le_bytes());
    c[0x78..0x7C].copy_from_slice(&(0x2000u32 | 3).to_le_bytes());
    c
}

static TEST_LOCK: Mutex<()> = Mutex::new(());

thread_local! {
    /// Whether this thread holds the test lock (owns a live Sim).
    static SIM_ON_THIS_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Objects NDIS owns and hands to the driver as handles. The driver only passes their
/// addresses back; nothing reads these bytes.
static HANDLE_ANCHORS: [u8; 4] = [0; 4];
const MINIPORT_ANCHOR: usize = 0;
const DRIVER_ANCHOR: usize = 1;
const INTERRUPT_ANCHOR: usize = 2;
const DMA_ANCHOR: usize = 3;

fn anchor(index: usize) -> usize {
    std::ptr::addr_of!(HANDLE_ANCHORS[index]) as usize
}

/// The interrupt handle NdisMRegisterInterruptEx returns.
pub(crate) fn interrupt_handle() -> usize {
    anchor(INTERRUPT_ANCHOR)
}

/// The DMA handle NdisMRegisterScatterGatherDma returns.
pub(crate) fn dma_handle() -> usize {
    anchor(DMA_ANCHOR)
}

/// A running simulation; dropping it resets the simulator (stopping QEMU) and releases the
/// test lock.
pub struct Sim {
    machine: Arc<Machine>,
    /// The `DRIVER_OBJECT` DriverEntry and MiniportDriverUnload get (opaque to the driver;
    /// `sizeof(DRIVER_OBJECT)` is 0x150 on x64).
    driver_object: Box<[u64; 0x150 / 8]>,
    _serial: MutexGuard<'static, ()>,
}

impl Sim {
    /// Starts a simulation of `config`, waiting for any other test of this process to finish.
    ///
    /// # Panics
    /// If the hardware backend cannot start (for instance QEMU is missing: the message says
    /// how to install it). Use [`Sim::try_start`] to get the error instead.
    #[must_use]
    pub fn start(config: SimConfig) -> Self {
        Self::try_start(config).unwrap_or_else(|e| panic!("starting the simulator: {e}"))
    }

    /// Starts a simulation of `config`.
    pub fn try_start(config: SimConfig) -> Result<Self, SimError> {
        // A second Sim on the same thread would wait for the first forever.
        assert!(
            !SIM_ON_THIS_THREAD.get(),
            "a Sim is already running on this thread: drop it before starting another"
        );
        let serial = TEST_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        // Whatever an earlier (panicked) test left behind goes first.
        reset_state();
        let machine = Arc::new(match &config.hardware {
            Some(qemu_config) => Machine::qemu(qemu_config)?,
            None => Machine::bare(config.pci_config.clone(), config.bars.clone())?,
        });
        let bars = machine.bars()?;
        let config_space = machine.config_space()?;
        let capability = vmqnic::interrupt::pci::msix_capability(&config_space);
        let table = capability.map_or(0, |c| c.table_size);
        // Where the OS-owned MSI-X table and PBA are, so a driver write there is caught.
        let msix_structures: Vec<(u64, u64)> = capability
            .into_iter()
            .flat_map(|c| {
                let entries = u64::from(c.table_size);
                [
                    (c.table_bar, c.table_offset, entries * 16),
                    (c.pba_bar, c.pba_offset, entries.div_ceil(64) * 8),
                ]
            })
            .filter_map(|(bar, offset, length)| {
                let bar = bars.iter().find(|b| b.index == bar)?;
                let start = bar.address + u64::from(offset);
                Some((start, start + length))
            })
            .collect();
        cpu::set(cpu::CpuContext {
            processor: config.passive_processor(),
            irql: cpu::PASSIVE_LEVEL,
        });
        with_state(|state| {
            state.msix_table =
                vec![TableEntry { masked: true, ..TableEntry::default() }; usize::from(table)];
            state.config = Some(config);
            state.miniport_handle = anchor(MINIPORT_ANCHOR);
            state.driver_handle = anchor(DRIVER_ANCHOR);
            state.machine = Some(Arc::clone(&machine));
            state.bars = bars;
            state.msix_structures = msix_structures;
        });
        SIM_ON_THIS_THREAD.set(true);
        Ok(Self { machine, driver_object: Box::new([0; 0x150 / 8]), _serial: serial })
    }

    /// The violations recorded so far.
    #[must_use]
    pub fn violations(&self) -> Vec<Violation> {
        with_state(|s| s.violations.clone())
    }

    /// Takes the violations recorded so far (later checks start from an empty list).
    pub fn take_violations(&self) -> Vec<Violation> {
        with_state(|s| std::mem::take(&mut s.violations))
    }

    /// The rule names of the violations so far, in order.
    #[must_use]
    pub fn violated_rules(&self) -> Vec<&'static str> {
        with_state(|s| s.violations.iter().map(|v| v.rule).collect())
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

    /// The miniport adapter handle NDIS hands the driver.
    #[must_use]
    pub fn miniport_handle(&self) -> usize {
        with_state(|s| s.miniport_handle)
    }

    /// The driver handle NdisMRegisterMiniportDriver returns.
    #[must_use]
    pub fn driver_handle(&self) -> usize {
        with_state(|s| s.driver_handle)
    }

    /// Opens or closes the window in which NdisMConfigMSIXTableEntry is legal by hand, and
    /// sets the number of granted messages, for tests that call the export without a driver
    /// lifecycle (the lifecycle opens it when it calls MiniportInitializeEx and closes it when
    /// MiniportHaltEx returns).
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
                        pending: false,
                    };
                }
            }
        });
    }

    /// The simulated OS's view of the MSI-X table.
    #[must_use]
    pub fn msix_table(&self) -> Vec<TableEntry> {
        with_state(|s| s.msix_table.clone())
    }

    /// The device (QEMU's 82576), when the simulation has one.
    #[must_use]
    pub fn igb(&self) -> Option<&Igb> {
        self.machine.igb()
    }

    /// The QEMU of the device, when the simulation has one.
    #[must_use]
    pub fn qemu(&self) -> Option<&Qemu> {
        self.machine.igb().map(Igb::qemu)
    }

    /// Injects Ethernet frames towards the NIC (one socket write; see [`Qemu::send_frames`]).
    pub fn send_frames(&self, frames: &[&[u8]]) -> Result<(), SimError> {
        self.require_qemu("send frames")?.send_frames(frames).map_err(SimError::from)
    }

    /// The next frame the NIC transmitted, if one arrives within `timeout`.
    pub fn recv_frame(&self, timeout: Duration) -> Result<Option<Vec<u8>>, SimError> {
        self.require_qemu("receive frames")?.recv_frame(timeout).map_err(SimError::from)
    }

    /// Plugs (`up`) or pulls the device's cable ([`Qemu::set_link`]): pulling it takes the
    /// link down at once, with its interrupt; plugging it in brings the link up ~0.5 s later,
    /// after QEMU's auto-negotiation. Deliver the interrupts with
    /// [`deliver_interrupts`](Self::deliver_interrupts).
    pub fn set_link(&self, up: bool) -> Result<(), SimError> {
        self.require_qemu("set the link")?.set_link(up).map_err(SimError::from)
    }

    fn require_qemu(&self, operation: &'static str) -> Result<&Qemu, SimError> {
        self.qemu().ok_or_else(|| SimError::WrongState {
            operation,
            reason: "the simulation has no device (SimConfig::with_qemu)".to_owned(),
        })
    }

    /// Where the adapter is in its life.
    #[must_use]
    pub fn adapter_state(&self) -> AdapterState {
        with_state(|s| s.adapter_state)
    }

    /// The interrupt resources granted at the last start.
    #[must_use]
    pub fn grant(&self) -> Option<GrantedInterrupts> {
        with_state(|s| s.grant.clone())
    }

    /// Live NdisMMapIoSpace mappings, with their register access counts.
    #[must_use]
    pub fn io_mappings(&self) -> Vec<IoMapping> {
        with_state(|s| s.mappings.clone())
    }

    /// Register accesses through NdisMMapIoSpace mappings since the start (including mappings
    /// since unmapped): (reads, writes). [`Sim::io_mappings`] counts per live mapping.
    #[must_use]
    pub fn register_accesses(&self) -> (u64, u64) {
        with_state(|s| (s.register_reads, s.register_writes))
    }

    /// Register accesses per register since the start: offset within its NdisMMapIoSpace
    /// mapping (for BAR0, the register's offset) -> (reads, writes).
    #[must_use]
    pub fn register_access_counts(&self) -> BTreeMap<u64, (u64, u64)> {
        with_state(|s| s.register_counts.clone())
    }

    /// NdisMIndicateStatusEx calls so far.
    #[must_use]
    pub fn status_indications(&self) -> Vec<StatusIndicationRecord> {
        with_state(|s| s.status_indications.clone())
    }

    /// `MediaConnectState` of every `NDIS_STATUS_LINK_STATE` indication so far, in order.
    #[must_use]
    pub fn link_states(&self) -> Vec<u32> {
        let at = std::mem::offset_of!(vmqnic::ndis::NDIS_LINK_STATE, MediaConnectState);
        self.status_indications()
            .iter()
            .filter(|s| s.status_code == vmqnic::ndis::NDIS_STATUS_LINK_STATE)
            .filter_map(|s| s.buffer.get(at..at + 4)?.try_into().ok().map(u32::from_le_bytes))
            .collect()
    }

    /// Whether the driver has indicated the link up (`MediaConnectStateConnected`).
    #[must_use]
    pub fn link_up_indicated(&self) -> bool {
        self.link_states().contains(&vmqnic::ndis::MediaConnectStateConnected)
    }

    /// NdisMIndicateReceiveNetBufferLists calls so far.
    #[must_use]
    pub fn receive_indications(&self) -> Vec<ReceiveIndicationRecord> {
        with_state(|s| s.receives.clone())
    }

    /// NdisMIndicateReceiveNetBufferLists calls so far and the NBLs they carried, without
    /// copying the records (for loops that wait on many frames).
    #[must_use]
    pub fn receive_indication_counts(&self) -> (usize, usize) {
        with_state(|s| (s.receives.len(), s.receives.iter().map(|r| r.nbls.len()).sum()))
    }

    /// NBLs NdisMSendNetBufferListsComplete completed so far.
    #[must_use]
    pub fn send_completions(&self) -> Vec<SendCompletionRecord> {
        with_state(|s| s.send_completions.clone())
    }

    /// The driver's live NBL pools, NBLs and MDLs: (pools, NBLs, MDLs).
    #[must_use]
    pub fn net_buffer_objects(&self) -> (usize, usize, usize) {
        with_state(|s| (s.nbl_pools.len(), s.nbls.len(), s.mdls.len()))
    }

    /// Live NdisAllocateSharedMemory blocks ([`Sim::miniport_shared_memory`] has those of
    /// NdisMAllocateSharedMemory).
    #[must_use]
    pub fn shared_memory(&self) -> Vec<SharedMemoryRecord> {
        with_state(|s| {
            s.shared_memory
                .values()
                .map(|b| SharedMemoryRecord {
                    physical_address: b.range.gpa,
                    length: b.length,
                    queue_id: b.queue_id,
                    shared_memory_handle: b.shared_handle,
                })
                .collect()
        })
    }

    /// Live NdisMAllocateSharedMemory blocks, in address order ([`Sim::shared_memory`] has
    /// those of NdisAllocateSharedMemory).
    #[must_use]
    pub fn miniport_shared_memory(&self) -> Vec<MiniportSharedMemoryRecord> {
        with_state(|s| {
            s.miniport_shared_memory
                .iter()
                .map(|(&virtual_address, b)| MiniportSharedMemoryRecord {
                    virtual_address,
                    physical_address: b.range.gpa,
                    length: b.length,
                    cached: b.cached,
                })
                .collect()
        })
    }

    /// The general attributes the adapter set (their bytes, `Header.Size` long).
    #[must_use]
    pub fn general_attributes(&self) -> Option<Vec<u8>> {
        with_state(|s| s.adapter.general.clone())
    }

    /// The receive-filter capabilities of the hardware-assist attributes: (hardware, current),
    /// each `Header.Size` bytes.
    #[must_use]
    pub fn receive_filter_capabilities(&self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        with_state(|s| {
            (s.adapter.hardware_receive_filter.clone(), s.adapter.current_receive_filter.clone())
        })
    }

    /// Microseconds the driver spent in KeStallExecutionProcessor.
    #[must_use]
    pub fn stalled_microseconds(&self) -> u64 {
        with_state(|s| s.stalled_microseconds)
    }

    /// Every call of an allocating export ([`ALLOCATING_EXPORTS`]) since the start, successful
    /// or not: the number a data path must not move ("no allocation per packet"). Take it
    /// before and after the traffic and compare.
    #[must_use]
    pub fn allocation_calls(&self) -> u64 {
        with_state(|s| s.allocation_calls.values().sum())
    }

    /// [`Sim::allocation_calls`] per export, for the exports called at least once.
    #[must_use]
    pub fn allocation_calls_by_function(&self) -> BTreeMap<&'static str, u64> {
        with_state(|s| s.allocation_calls.clone())
    }

    /// Every spin lock NdisAllocateSpinLock initialized (and whose memory NdisFreeMemory has
    /// not freed), in address order: freed or not, and who holds it. A lock never given up
    /// with NdisFreeSpinLock is not a violation; this is where it shows.
    #[must_use]
    pub fn spin_locks(&self) -> Vec<SpinLockState> {
        with_state(|s| {
            s.spin_locks
                .iter()
                .map(|(address, record)| SpinLockState {
                    address: *address,
                    freed: record.freed,
                    held_by: record.holder.map(|h| h.processor),
                })
                .collect()
        })
    }

    /// Every NdisReadConfiguration call so far, in order: handle, keyword, the type asked for,
    /// the status and the type returned.
    #[must_use]
    pub fn configuration_reads(&self) -> Vec<ConfigurationRead> {
        with_state(|s| s.configuration_reads.clone())
    }

    /// The configuration handles open now (NdisOpenConfigurationEx without its
    /// NdisCloseConfiguration yet).
    #[must_use]
    pub fn open_configurations(&self) -> Vec<usize> {
        with_state(|s| s.configurations.keys().copied().collect())
    }

    /// Sets (`Some`) or removes (`None`) a value of the adapter's registry, for the next
    /// MiniportInitializeEx (as an administrator changes an Advanced property, after which
    /// NDIS halts and re-initializes the adapter).
    pub fn set_keyword(&self, name: &str, value: Option<KeywordValue>) {
        with_state(|s| {
            if let Some(config) = s.config.as_mut() {
                set_keyword(&mut config.keywords, name, value);
            }
        });
    }

    /// Runs `f` (test code calling exports, say) as if on `processor` at `irql`, as the
    /// simulator runs the driver's handlers, then restores the previous context.
    pub fn run_on<R>(&self, processor: Processor, irql: u8, f: impl FnOnce() -> R) -> R {
        cpu::run_as(cpu::CpuContext { processor, irql }, f)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        reset_state();
        SIM_ON_THIS_THREAD.set(false);
        cpu::set(cpu::CpuContext {
            processor: Processor { group: 0, number: 0 },
            irql: cpu::PASSIVE_LEVEL,
        });
    }
}

/// Frees what a simulation left (pool blocks, I/O reservations) and clears the state, so the
/// next test starts clean. Leaks were visible through [`Sim::driver_allocations`] and the
/// teardown checks before this point.
fn reset_state() {
    let old = with_state(std::mem::take);
    for (address, allocation) in &old.allocations {
        exports::release_block(*address, allocation.size);
    }
    for mapping in &old.mappings {
        mmio::release(mapping.virtual_address, mapping.reserved);
    }
    // NBLs and MDLs the driver did not free (the teardown checks reported them); the NBLs the
    // simulated protocol built drop with `old`.
    for address in old.nbls.keys() {
        exports::nbl::release_raw(*address, exports::NBL_BLOCK_SIZE);
    }
    for (address, mdl) in &old.mdls {
        exports::nbl::release_raw(*address, mdl.block_size);
    }
    // Every value NdisReadConfiguration handed out, open or closed.
    for block in &old.parameter_blocks {
        registry::release(*block);
    }
    // The OID records (and the machine, once the Sim's own reference goes) drop here.
    drop(old);
}
