//! Binding VMQ receive queues to MSI-X table entries and messages (spec §4.6), as pure logic.
//!
//! The NIC routes a receive queue to a **table entry** (82576: an IVAR byte); the OS delivers a
//! **message**, whose target processor was fixed when PnP granted it. NDIS 6.30 wants a queue's
//! interrupt on the queue's processor, and wants queues with the same processor to share one
//! vector (`INTERRUPT_VECTOR_COALESCING_SUPPORTED`, spec §4.1 rule 6). The only run-time knob is
//! NdisMConfigMSIXTableEntry: point an entry at another message that already targets the wanted
//! processor. [`Binder`] decides which entry each queue uses and which table operations that
//! takes; the glue performs the returned [`MsixOp`]s in order and programs the IVARs.
//!
//! # Policy, in one place
//!
//! * **Served processor.** A queue is served by the message on its processor. If no receive
//!   message targets that processor, by the *nearest* processor that has one: the same group
//!   first (smallest number difference, ties to the lower number), then the nearest group
//!   (smallest group difference, ties to the lower group) and within it the smallest number
//!   difference (ties lower). When several messages target one processor, the lowest-numbered
//!   one is used whenever an entry has to be (re-)pointed.
//! * **Coalescing.** All queues with the same served processor share one entry (refcounted), so
//!   at most `min(T - 1, distinct served processors)` entries are ever in use.
//! * **Taking a new entry.** From the free entries (refcount 0, not the other-causes entry):
//!   the lowest one that already points at a message on the served processor, so that no
//!   SetTableEntry is needed (the PCI driver's initial entry *i* → message *i* mapping, or an
//!   entry released earlier); otherwise the lowest free entry, re-pointed with
//!   `Mask, SetTableEntry, Unmask` (the `Mask` is left out when the entry is known to be masked).
//!   Because every granted message has an initial entry when `T ≥ G`, and the lowest free
//!   entry is preferred, entries that start out pointing nowhere (index ≥ `G`) are only ever
//!   taken after every lower entry is in use.
//! * **Out of entries.** The queue shares the in-use entry whose processor is nearest to the
//!   requested one (same distance rule). The table is never exceeded; the binding is recorded as
//!   [`Quality::SharedEntry`]. A degraded queue is not moved later when an entry frees up: that
//!   would reprogram a queue NDIS did not ask about.
//! * **Release.** When an entry's last queue leaves, it is masked and returned to the free set.
//!   It keeps pointing at its message, which makes re-using it for the same processor a single
//!   `Unmask`.
//! * **Affinity change.** Same requested processor: nothing to do. Otherwise a queue alone on its
//!   entry keeps that entry and re-points it (so its IVAR does not change) unless another entry
//!   already serves the new processor, in which case the queue joins it (coalescing) and its old
//!   entry is released.
//! * **Default queue.** Queue 0 (`NDIS_DEFAULT_RECEIVE_QUEUE_ID`) is bound once, at Initialize,
//!   with [`Binder::bind_default`] on the processor of the plan's default-queue message, by the
//!   same rules as any queue (so VM queues on that processor share its entry). NDIS never
//!   allocates, frees or re-targets it through the queue OIDs, so [`Binder::bind`],
//!   [`Binder::rebind`] and [`Binder::unbind`] refuse it, and it takes none of the
//!   `max_queues` slots.
//!
//! # Costs
//!
//! All allocation happens in [`Binder::new`] (fallibly, with `try_reserve`). Binding, rebinding
//! and unbinding never allocate: operations are returned in a fixed-capacity [`MsixOps`]. Each
//! call scans the table and the queue slots linearly (T ≤ 2048), which is fine on the OID path
//! at PASSIVE_LEVEL; the queries the ISR needs should be cached by the glue (e.g. as an EICR
//! mask per message) rather than called at DIRQL.

use alloc::vec::Vec;

use super::{MAX_MESSAGES_PER_FUNCTION, MsixOp, Processor};

/// A VMQ receive queue, as NDIS numbers it (`NDIS_RECEIVE_QUEUE_ID`; 0 is the default queue).
pub type QueueId = crate::ndis::NDIS_RECEIVE_QUEUE_ID;

/// The largest MSI-X table a PCI function can have: Message Control bits 10:0 hold `T - 1`.
pub const MAX_TABLE_ENTRIES: u32 = 2048;

/// The most [`MsixOp`]s one call can produce: `Mask, SetTableEntry, Unmask` for the entry the
/// queue moves to, plus one `Mask` for an entry the queue leaves empty.
pub const MAX_OPS_PER_CALL: usize = 4;

/// How well a binding matches what NDIS asked for. Anything but [`Quality::Exact`] is worth a
/// log line: the queue's interrupt runs on another processor than its affinity says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quality {
    /// The queue's interrupt targets the requested processor.
    Exact,
    /// No receive message targets the requested processor; the nearest processor that has one
    /// serves the queue, on an entry of its own or shared with queues of that processor.
    NearestMessage,
    /// No table entry was free: the queue shares the entry of the nearest processor in use.
    SharedEntry,
}

/// Where a queue's interrupt goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueueBinding {
    /// The processor NDIS asked for (the queue's `ProcessorAffinity`).
    pub requested: Processor,
    /// The processor the queue's message actually targets.
    pub served: Processor,
    /// The MSI-X table entry the queue's IVAR must name (also what the glue may write back into
    /// `NDIS_RECEIVE_QUEUE_PARAMETERS.MSIXTableEntry`).
    pub entry: u32,
    /// The message `entry` points at: the `MessageId` the ISR sees for this queue.
    pub message: u32,
    /// How `served` relates to `requested`.
    pub quality: Quality,
}

impl QueueBinding {
    /// Whether the queue's interrupt targets the processor NDIS asked for.
    #[must_use]
    pub const fn is_exact(&self) -> bool {
        matches!(self.quality, Quality::Exact)
    }
}

/// The NdisMConfigMSIXTableEntry operations of one call, in the order they must be performed.
///
/// They come in two parts so that a queue moving between entries never has its IVAR pointing at
/// a masked entry: [`setup`](Self::setup) readies the queue's new entry, then the glue writes the
/// queue's IVAR (if [`Rebound::entry_changed`], or on bind/unbind), then performs
/// [`release`](Self::release), which masks an entry the queue left empty. After a re-point of a
/// live entry the glue should also run one DPC pass for the entry's queues, so that an interrupt
/// raised while the entry was masked is not lost.
#[derive(Clone, Copy, Debug, Eq)]
#[must_use = "the MSI-X table must be updated as the binder decided"]
pub struct MsixOps {
    ops: [MsixOp; MAX_OPS_PER_CALL],
    len: u8,
    setup_len: u8,
}

impl MsixOps {
    const fn new() -> Self {
        Self { ops: [MsixOp::Mask { entry: 0 }; MAX_OPS_PER_CALL], len: 0, setup_len: 0 }
    }

    /// All operations, in order.
    #[must_use]
    pub fn as_slice(&self) -> &[MsixOp] {
        self.ops.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The operations that ready the queue's (new) entry; perform them before the IVAR write.
    #[must_use]
    pub fn setup(&self) -> &[MsixOp] {
        self.ops.get(..usize::from(self.setup_len)).unwrap_or(&[])
    }

    /// The operations that retire an entry left without queues; perform them after the IVAR
    /// write (or after clearing the IVAR, on unbind).
    #[must_use]
    pub fn release(&self) -> &[MsixOp] {
        self.ops.get(usize::from(self.setup_len)..usize::from(self.len)).unwrap_or(&[])
    }

    /// Iterates over all operations, in order.
    pub fn iter(&self) -> core::slice::Iter<'_, MsixOp> {
        self.as_slice().iter()
    }

    /// Number of operations.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there is nothing to perform.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `op`; returns `false` (and drops it) if the list is full. The binder never emits
    /// more than [`MAX_OPS_PER_CALL`]; the property tests replay every list against a model table
    /// and would notice a dropped operation.
    fn push(&mut self, op: MsixOp) -> bool {
        match self.ops.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = op;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Appends a setup operation. Setup operations all precede release ones.
    fn push_setup(&mut self, op: MsixOp) {
        if self.len == self.setup_len && self.push(op) {
            self.setup_len = self.len;
        }
    }

    /// Appends a release operation.
    fn push_release(&mut self, op: MsixOp) {
        self.push(op);
    }
}

impl Default for MsixOps {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for MsixOps {
    fn eq(&self, other: &Self) -> bool {
        self.setup() == other.setup() && self.release() == other.release()
    }
}

impl<'a> IntoIterator for &'a MsixOps {
    type Item = &'a MsixOp;
    type IntoIter = core::slice::Iter<'a, MsixOp>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

/// The result of [`Binder::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the MSI-X table must be updated as the binder decided"]
pub struct Bound {
    /// The new queue's binding.
    pub binding: QueueBinding,
    /// Table operations: perform `ops.setup()`, program the queue's IVAR with `binding.entry`.
    /// (A bind never releases an entry.)
    pub ops: MsixOps,
}

/// The result of [`Binder::rebind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the MSI-X table must be updated as the binder decided"]
pub struct Rebound {
    /// The binding before the call.
    pub previous: QueueBinding,
    /// The binding after the call.
    pub binding: QueueBinding,
    /// Table operations: `ops.setup()`, then the IVAR write if the entry changed, then
    /// `ops.release()`.
    pub ops: MsixOps,
}

impl Rebound {
    /// Whether the queue moved to another table entry, i.e. its IVAR must be rewritten.
    #[must_use]
    pub const fn entry_changed(&self) -> bool {
        self.previous.entry != self.binding.entry
    }
}

/// The result of [`Binder::unbind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the MSI-X table must be updated as the binder decided"]
pub struct Unbound {
    /// The binding the queue had.
    pub binding: QueueBinding,
    /// Table operations: clear the queue's IVAR first, then perform `ops.release()` (a `Mask`
    /// of the entry if the queue was its last user).
    pub ops: MsixOps,
}

/// Why a [`Binder`] cannot be built from a grant. Each one means "do not offer VMQ" (or fix the
/// caller), never "bugcheck".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetupError {
    /// `T < 2`: after the other-causes entry there is no table entry left for queues.
    TableTooSmall,
    /// `T > 2048`: not a size the MSI-X capability can express.
    TableTooLarge,
    /// More than [`MAX_MESSAGES_PER_FUNCTION`] messages: not a grant Windows can make.
    TooManyMessages,
    /// `other_entry >= T`.
    OtherEntryOutOfRange,
    /// `other_message >= G` (this includes a grant without messages).
    OtherMessageOutOfRange,
    /// No message other than the other-causes one targets a single processor, so no queue could
    /// ever have an interrupt of its own.
    NoReceiveMessage,
    /// The tables could not be allocated.
    OutOfMemory,
}

/// Why a bind, rebind or unbind was refused. The binder's state is unchanged in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BindError {
    /// Queue id 0, the default queue, which is not bound through this API (module docs).
    DefaultQueue,
    /// The queue id is already bound (ALLOCATE_QUEUE with an id in use).
    AlreadyBound,
    /// The queue id is not bound.
    UnknownQueue,
    /// All `max_queues` slots are taken.
    NoQueueSlot,
    /// No table entry can serve the queue. A binder built by [`Binder::new`] always has one
    /// (`T ≥ 2` and at least one receive message); this is reported instead of panicking should
    /// that reasoning ever be wrong.
    Internal,
}

/// What [`Binder::new`] needs to know about the grant and the hardware.
#[derive(Clone, Copy, Debug)]
pub struct BinderConfig<'a> {
    /// The target of each granted message, indexed by message number: `Some(p)` if the message
    /// targets exactly processor `p`, `None` if its target set is anything else (such a message
    /// cannot serve a queue with a known affinity).
    pub message_targets: &'a [Option<Processor>],
    /// The message that serves "other causes" (link, errors); never used for a queue.
    pub other_message: u32,
    /// `T`, the MSI-X table size read from the PCI MSI-X capability (1..=2048).
    pub table_entries: u32,
    /// The table entry reserved for other causes (normally 0); never given to a queue. The glue
    /// is responsible for pointing it at `other_message` if the PCI initial mapping does not.
    pub other_entry: u32,
    /// The most queues bound at once (the VMQ queue count advertised to NDIS). Slots are
    /// allocated up front so that binding never allocates.
    pub max_queues: usize,
}

/// What the binder knows about one table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// The message the entry points at: the PCI initial mapping or the last SetTableEntry.
    /// `None` for entries that had no message at start.
    message: Option<u32>,
    /// Queues bound to the entry.
    refs: usize,
    /// `false` only when the entry is known to be masked: the binder masked it, or it had no
    /// message at start (MSI-X entries reset masked and the OS unmasks only entries it uses).
    /// Entries of the PCI initial mapping may be live, so re-pointing them starts with `Mask`.
    may_be_unmasked: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    queue: QueueId,
    binding: QueueBinding,
}

/// How a queue gets its (new) entry. Computed without side effects, then applied, so that every
/// error leaves the binder unchanged.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Keep the current entry (rebind only).
    Stay,
    /// Join an entry already in use.
    Share { entry: u32 },
    /// Take a free entry; `set` is the message to point it at, or `None` if it already points at
    /// a message on the served processor.
    Fresh { entry: u32, set: Option<u32>, mask_first: bool },
    /// Re-point the queue's own entry, of which it is the only user (rebind only).
    Repoint { entry: u32, message: u32 },
}

/// The run-time queue → table entry → message binding of one adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binder {
    /// Target of each message; `None` for unspecific ones.
    targets: Vec<Option<Processor>>,
    /// Distinct processors with a receive message, sorted, each with its lowest such message.
    rx: Vec<(Processor, u32)>,
    /// One record per table entry (`len == table_entries`).
    entries: Vec<Entry>,
    table_entries: u32,
    other_entry: u32,
    other_message: u32,
    slots: Vec<Option<Slot>>,
    /// The default queue's binding, once [`Binder::bind_default`] made it.
    default_queue: Option<QueueBinding>,
}

/// The distance order of the module docs as a sort key: smaller is nearer. It is a total order
/// on processors, so "the nearest" is always unique.
fn distance_key(from: Processor, to: Processor) -> (u16, u16, u8, u8) {
    (from.group.abs_diff(to.group), to.group, from.number.abs_diff(to.number), to.number)
}

/// Fallible `Vec::with_capacity`: a grant-sized allocation must not bugcheck the machine.
fn vec_with_capacity<T>(capacity: usize) -> Result<Vec<T>, SetupError> {
    let mut v = Vec::new();
    v.try_reserve_exact(capacity).map_err(|_| SetupError::OutOfMemory)?;
    Ok(v)
}

impl Binder {
    /// Builds the binding state for a grant: the PCI initial mapping (entry *i* → message *i* for
    /// *i* < min(T, G)), no queue bound.
    ///
    /// # Errors
    /// A [`SetupError`] when the grant or the table cannot carry any VMQ queue, or the input is
    /// out of the ranges PCI and Windows allow.
    pub fn new(config: &BinderConfig<'_>) -> Result<Self, SetupError> {
        let table_entries = config.table_entries;
        if table_entries < 2 {
            return Err(SetupError::TableTooSmall);
        }
        if table_entries > MAX_TABLE_ENTRIES {
            return Err(SetupError::TableTooLarge);
        }
        let message_count = config.message_targets.len();
        if message_count > MAX_MESSAGES_PER_FUNCTION {
            return Err(SetupError::TooManyMessages);
        }
        if config.other_entry >= table_entries {
            return Err(SetupError::OtherEntryOutOfRange);
        }
        if usize::try_from(config.other_message).map_or(true, |m| m >= message_count) {
            return Err(SetupError::OtherMessageOutOfRange);
        }

        let mut targets = vec_with_capacity(message_count)?;
        targets.extend_from_slice(config.message_targets);

        let mut rx = vec_with_capacity(message_count)?;
        for (message, target) in (0u32..).zip(config.message_targets) {
            if let Some(processor) = *target
                && message != config.other_message
            {
                rx.push((processor, message));
            }
        }
        if rx.is_empty() {
            return Err(SetupError::NoReceiveMessage);
        }
        // Sorting by (processor, message) then keeping the first of each processor leaves each
        // processor with its lowest message. `sort_unstable` does not allocate.
        rx.sort_unstable();
        rx.dedup_by_key(|&mut (processor, _)| processor);

        let mut entries = vec_with_capacity(table_entries as usize)?;
        for entry in 0..table_entries {
            let message =
                (entry < u32::try_from(message_count).unwrap_or(u32::MAX)).then_some(entry);
            entries.push(Entry { message, refs: 0, may_be_unmasked: message.is_some() });
        }

        let mut slots = vec_with_capacity(config.max_queues)?;
        slots.resize(config.max_queues, None);

        Ok(Self {
            targets,
            rx,
            entries,
            table_entries,
            other_entry: config.other_entry,
            other_message: config.other_message,
            slots,
            default_queue: None,
        })
    }

    // ----------------------------------------------------------------------------------------
    // Queries.

    /// `T`, the MSI-X table size.
    #[must_use]
    pub const fn table_entries(&self) -> u32 {
        self.table_entries
    }

    /// The table entry reserved for other causes.
    #[must_use]
    pub const fn other_entry(&self) -> u32 {
        self.other_entry
    }

    /// The message reserved for other causes.
    #[must_use]
    pub const fn other_message(&self) -> u32 {
        self.other_message
    }

    /// How many table entries queues can ever use at once: `min(T - 1, distinct processors with
    /// a receive message)`. Distinct processors, not messages: coalescing puts all queues of a
    /// processor on one entry, so a second message on the same processor adds no vector. This is
    /// the `usable_vectors` argument of [`advertised_queue_count`].
    #[must_use]
    pub fn usable_vectors(&self) -> u32 {
        let processors = u32::try_from(self.rx.len()).unwrap_or(u32::MAX);
        processors.min(self.table_entries.saturating_sub(1))
    }

    /// The processor that would serve a queue with affinity `requested` if entries were
    /// plentiful: `requested` itself if a receive message targets it, else the nearest one that
    /// has one.
    #[must_use]
    pub fn processor_for(&self, requested: Processor) -> Option<Processor> {
        self.resolve(requested).map(|(processor, _)| processor)
    }

    /// Whether some receive message targets `processor`.
    #[must_use]
    pub fn has_receive_message(&self, processor: Processor) -> bool {
        self.rx.binary_search_by_key(&processor, |&(p, _)| p).is_ok()
    }

    /// Chooses one processor from a `GROUP_AFFINITY` (ALLOCATE_QUEUE / QUEUE_PARAMETERS carry a
    /// mask, the binding needs one processor): the lowest set bit whose processor has a receive
    /// message, else the lowest set bit (to be served by the nearest one). `None` for an empty
    /// mask.
    #[must_use]
    pub fn pick_processor(&self, group: u16, mask: u64) -> Option<Processor> {
        let lowest = Processor::from_single_bit_mask(group, mask & mask.wrapping_neg())?;
        let mut rest = mask;
        while rest != 0 {
            let bit = rest & rest.wrapping_neg();
            rest &= !bit;
            if let Some(processor) = Processor::from_single_bit_mask(group, bit)
                && self.has_receive_message(processor)
            {
                return Some(processor);
            }
        }
        Some(lowest)
    }

    /// The binding of `queue`, if bound (the default queue's after
    /// [`bind_default`](Self::bind_default)).
    #[must_use]
    pub fn binding(&self, queue: QueueId) -> Option<QueueBinding> {
        if queue == crate::ndis::NDIS_DEFAULT_RECEIVE_QUEUE_ID {
            return self.default_queue;
        }
        self.slot_of(queue).and_then(|i| self.slots.get(i)).copied().flatten().map(|s| s.binding)
    }

    /// Every bound queue with its binding, in slot order.
    pub fn queues(&self) -> impl Iterator<Item = (QueueId, QueueBinding)> + '_ {
        self.slots.iter().flatten().map(|s| (s.queue, s.binding))
    }

    /// Number of bound queues.
    #[must_use]
    pub fn queue_count(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// The message table entry `entry` points at, as far as the driver knows (the PCI initial
    /// mapping or the last SetTableEntry); `None` if it has none or is out of range. Free entries
    /// keep their message but are masked.
    #[must_use]
    pub fn entry_message(&self, entry: u32) -> Option<u32> {
        self.entry(entry).and_then(|e| e.message)
    }

    /// How many queues use table entry `entry` (0 when free or out of range).
    #[must_use]
    pub fn entry_refcount(&self, entry: u32) -> usize {
        self.entry(entry).map_or(0, |e| e.refs)
    }

    /// Number of table entries used by at least one queue.
    #[must_use]
    pub fn entries_in_use(&self) -> usize {
        self.entries.iter().filter(|e| e.refs > 0).count()
    }

    /// The in-use table entries that point at `message`, in increasing order: the ISR for
    /// `MessageId == message` must check and service these entries (82576: these EICR bits).
    pub fn entries_of_message(&self, message: u32) -> impl Iterator<Item = u32> + '_ {
        self.indexed_entries()
            .filter(move |(_, e)| e.refs > 0 && e.message == Some(message))
            .map(|(i, _)| i)
    }

    /// The queues bound to table entry `entry`: the default queue first (if bound there),
    /// then the VM queues in slot order.
    pub fn queues_on_entry(&self, entry: u32) -> impl Iterator<Item = QueueId> + '_ {
        let default = self
            .default_queue
            .filter(|b| b.entry == entry)
            .map(|_| crate::ndis::NDIS_DEFAULT_RECEIVE_QUEUE_ID);
        default.into_iter().chain(
            self.slots.iter().flatten().filter(move |s| s.binding.entry == entry).map(|s| s.queue),
        )
    }

    // ----------------------------------------------------------------------------------------
    // Operations.

    /// Binds a newly allocated queue (OID_RECEIVE_FILTER_ALLOCATE_QUEUE) with affinity
    /// `requested`.
    ///
    /// # Errors
    /// [`BindError::DefaultQueue`], [`BindError::AlreadyBound`], [`BindError::NoQueueSlot`];
    /// the binder is unchanged.
    pub fn bind(&mut self, queue: QueueId, requested: Processor) -> Result<Bound, BindError> {
        if queue == crate::ndis::NDIS_DEFAULT_RECEIVE_QUEUE_ID {
            return Err(BindError::DefaultQueue);
        }
        if self.slot_of(queue).is_some() {
            return Err(BindError::AlreadyBound);
        }
        let free_slot =
            self.slots.iter().position(Option::is_none).ok_or(BindError::NoQueueSlot)?;
        let (step, binding) = self.plan(requested, None)?;
        let mut ops = MsixOps::new();
        self.apply(step, None, &mut ops);
        if let Some(slot) = self.slots.get_mut(free_slot) {
            *slot = Some(Slot { queue, binding });
        }
        Ok(Bound { binding, ops })
    }

    /// Binds the default queue (once, at Initialize) with affinity `requested`: normally the
    /// target of the plan's default-queue message, whose PCI initial entry then serves it
    /// without a table change.
    ///
    /// # Errors
    /// [`BindError::AlreadyBound`]; the binder is unchanged.
    pub fn bind_default(&mut self, requested: Processor) -> Result<Bound, BindError> {
        if self.default_queue.is_some() {
            return Err(BindError::AlreadyBound);
        }
        let (step, binding) = self.plan(requested, None)?;
        let mut ops = MsixOps::new();
        self.apply(step, None, &mut ops);
        self.default_queue = Some(binding);
        Ok(Bound { binding, ops })
    }

    /// Re-targets a bound queue (OID_RECEIVE_FILTER_QUEUE_PARAMETERS with
    /// `PROCESSOR_AFFINITY_CHANGED`). Rebinding to the requested processor it already has is a
    /// no-op, even for a degraded binding: NDIS did not ask for anything new.
    ///
    /// # Errors
    /// [`BindError::DefaultQueue`], [`BindError::UnknownQueue`]; the binder is unchanged.
    pub fn rebind(&mut self, queue: QueueId, requested: Processor) -> Result<Rebound, BindError> {
        if queue == crate::ndis::NDIS_DEFAULT_RECEIVE_QUEUE_ID {
            return Err(BindError::DefaultQueue);
        }
        let index = self.slot_of(queue).ok_or(BindError::UnknownQueue)?;
        let previous =
            self.slots.get(index).copied().flatten().ok_or(BindError::UnknownQueue)?.binding;
        let mut ops = MsixOps::new();
        if previous.requested == requested {
            return Ok(Rebound { previous, binding: previous, ops });
        }
        let alone = self.entry_refcount(previous.entry) == 1;
        let (step, binding) = self.plan(requested, Some((previous, alone)))?;
        self.apply(step, Some(previous.entry), &mut ops);
        if let Some(Some(slot)) = self.slots.get_mut(index) {
            slot.binding = binding;
        }
        Ok(Rebound { previous, binding, ops })
    }

    /// Unbinds a queue (OID_RECEIVE_FILTER_FREE_QUEUE). Its entry is masked and freed if no
    /// other queue uses it.
    ///
    /// # Errors
    /// [`BindError::DefaultQueue`], [`BindError::UnknownQueue`]; the binder is unchanged.
    pub fn unbind(&mut self, queue: QueueId) -> Result<Unbound, BindError> {
        if queue == crate::ndis::NDIS_DEFAULT_RECEIVE_QUEUE_ID {
            return Err(BindError::DefaultQueue);
        }
        let index = self.slot_of(queue).ok_or(BindError::UnknownQueue)?;
        let slot = self.slots.get_mut(index).ok_or(BindError::UnknownQueue)?;
        let binding = slot.take().ok_or(BindError::UnknownQueue)?.binding;
        let mut ops = MsixOps::new();
        self.release(binding.entry, &mut ops);
        Ok(Unbound { binding, ops })
    }

    // ----------------------------------------------------------------------------------------
    // Internals.

    fn entry(&self, entry: u32) -> Option<&Entry> {
        self.entries.get(entry as usize)
    }

    /// Entries with their index. `entries.len() == table_entries ≤ 2048`, so the `u32` range
    /// never runs out.
    fn indexed_entries(&self) -> impl Iterator<Item = (u32, &Entry)> + '_ {
        (0u32..).zip(self.entries.iter())
    }

    fn slot_of(&self, queue: QueueId) -> Option<usize> {
        self.slots.iter().position(|s| s.is_some_and(|s| s.queue == queue))
    }

    /// The processor of a message that may serve a queue: targets one processor and is not the
    /// other-causes message.
    fn receive_target(&self, message: u32) -> Option<Processor> {
        if message == self.other_message {
            return None;
        }
        self.targets.get(message as usize).copied().flatten()
    }

    /// The (message, processor) an entry delivers to, if that message may serve a queue.
    fn entry_target(&self, entry: &Entry) -> Option<(u32, Processor)> {
        let message = entry.message?;
        Some((message, self.receive_target(message)?))
    }

    fn is_free(&self, index: u32, entry: &Entry) -> bool {
        entry.refs == 0 && index != self.other_entry
    }

    /// The nearest processor with a receive message, and its lowest message.
    fn resolve(&self, requested: Processor) -> Option<(Processor, u32)> {
        self.rx.iter().copied().min_by_key(|&(p, _)| distance_key(requested, p))
    }

    /// The in-use entry serving `processor` (at most one, by coalescing), with its message.
    fn serving_entry(&self, processor: Processor) -> Option<(u32, u32)> {
        self.indexed_entries().find_map(|(i, e)| match self.entry_target(e) {
            Some((message, p)) if e.refs > 0 && p == processor => Some((i, message)),
            _ => None,
        })
    }

    /// The free entry to take for `processor` (module docs): `(entry, message it already points
    /// at if that message targets `processor`, whether it may be unmasked)`.
    fn free_entry_for(&self, processor: Processor) -> Option<(u32, Option<u32>, bool)> {
        let pointing = self.indexed_entries().find_map(|(i, e)| match self.entry_target(e) {
            Some((message, p)) if self.is_free(i, e) && p == processor => Some((i, Some(message))),
            _ => None,
        });
        let (index, message) = pointing.or_else(|| {
            self.indexed_entries().find(|&(i, e)| self.is_free(i, e)).map(|(i, _)| (i, None))
        })?;
        Some((index, message, self.entry(index)?.may_be_unmasked))
    }

    /// The in-use entry whose processor is nearest to `requested`: `(entry, message, processor)`.
    fn nearest_in_use(&self, requested: Processor) -> Option<(u32, u32, Processor)> {
        self.indexed_entries()
            .filter(|(_, e)| e.refs > 0)
            .filter_map(|(i, e)| self.entry_target(e).map(|(m, p)| (i, m, p)))
            .min_by_key(|&(_, _, p)| distance_key(requested, p))
    }

    /// Decides where a queue with affinity `requested` goes. `current` is the queue's binding and
    /// whether it is alone on its entry, for a rebind. No side effects.
    fn plan(
        &self,
        requested: Processor,
        current: Option<(QueueBinding, bool)>,
    ) -> Result<(Step, QueueBinding), BindError> {
        let (served, lowest_message) = self.resolve(requested).ok_or(BindError::Internal)?;
        let quality = if served == requested { Quality::Exact } else { Quality::NearestMessage };
        let binding = |entry, message| QueueBinding { requested, served, entry, message, quality };

        if let Some((cur, _)) = current
            && cur.served == served
        {
            return Ok((Step::Stay, binding(cur.entry, cur.message)));
        }
        if let Some((entry, message)) = self.serving_entry(served) {
            return Ok((Step::Share { entry }, binding(entry, message)));
        }
        if let Some((cur, true)) = current {
            let step = Step::Repoint { entry: cur.entry, message: lowest_message };
            return Ok((step, binding(cur.entry, lowest_message)));
        }
        if let Some((entry, pointing, may_be_unmasked)) = self.free_entry_for(served) {
            let step = Step::Fresh {
                entry,
                set: if pointing.is_some() { None } else { Some(lowest_message) },
                mask_first: may_be_unmasked,
            };
            return Ok((step, binding(entry, pointing.unwrap_or(lowest_message))));
        }
        let (entry, message, nearest) =
            self.nearest_in_use(requested).ok_or(BindError::Internal)?;
        let degraded = QueueBinding {
            requested,
            served: nearest,
            entry,
            message,
            quality: Quality::SharedEntry,
        };
        match current {
            Some((cur, _)) if cur.entry == entry => Ok((Step::Stay, degraded)),
            _ => Ok((Step::Share { entry }, degraded)),
        }
    }

    /// Performs a planned step; `old_entry` is the queue's entry before a rebind. Indices were
    /// validated by `plan`, so the `get_mut` misses below cannot happen; they are skipped rather
    /// than unwrapped.
    fn apply(&mut self, step: Step, old_entry: Option<u32>, ops: &mut MsixOps) {
        match step {
            Step::Stay => {}
            Step::Share { entry } => {
                if let Some(e) = self.entries.get_mut(entry as usize) {
                    e.refs = e.refs.saturating_add(1);
                }
                if let Some(old) = old_entry {
                    self.release(old, ops);
                }
            }
            Step::Fresh { entry, set, mask_first } => {
                if let Some(e) = self.entries.get_mut(entry as usize) {
                    if let Some(message) = set {
                        if mask_first {
                            ops.push_setup(MsixOp::Mask { entry });
                        }
                        ops.push_setup(MsixOp::SetTableEntry { entry, message });
                        e.message = Some(message);
                    }
                    // Unmask even when no Set was needed: a free entry is masked, or (PCI
                    // initial mapping) in an unknown state; unmasking is idempotent.
                    ops.push_setup(MsixOp::Unmask { entry });
                    e.may_be_unmasked = true;
                    e.refs = e.refs.saturating_add(1);
                }
                if let Some(old) = old_entry {
                    self.release(old, ops);
                }
            }
            Step::Repoint { entry, message } => {
                if let Some(e) = self.entries.get_mut(entry as usize) {
                    ops.push_setup(MsixOp::Mask { entry });
                    ops.push_setup(MsixOp::SetTableEntry { entry, message });
                    ops.push_setup(MsixOp::Unmask { entry });
                    e.message = Some(message);
                    e.may_be_unmasked = true;
                }
            }
        }
    }

    /// Drops one reference to `entry`; masks it when it becomes free.
    fn release(&mut self, entry: u32, ops: &mut MsixOps) {
        if let Some(e) = self.entries.get_mut(entry as usize) {
            e.refs = e.refs.saturating_sub(1);
            if e.refs == 0 {
                ops.push_release(MsixOp::Mask { entry });
                e.may_be_unmasked = false;
            }
        }
    }
}

/// The minimum number of MSI-X vectors a VMQ miniport exposing `queues` VM queues must support,
/// per the table of "VMQ Interrupt Requirements" (spec §4.1 rule 5).
///
/// The table (1–16 queues → 1–16 vectors; 17–64 → 16–32; 65 or more → 32 or more) comes without
/// explanation. Its only consistent reading is a capability floor: with up to 16 queues each
/// queue must be able to have its own vector (Q queues → Q vectors); with 17–64 queues at least
/// 16 vectors (queues then share, and 32 are enough); with 65 or more at least 32. The upper
/// ends of the ranges are not requirements. It is not a request size: what is requested is one
/// message per RSS processor (rule 3).
#[must_use]
pub const fn minimum_vectors(queues: u32) -> u32 {
    match queues {
        0..=16 => queues,
        17..=64 => 16,
        _ => 32,
    }
}

/// How many VMQ queues to advertise so that the minimum-vector table holds: the largest queue
/// count ≤ `hardware_queues` whose [`minimum_vectors`] is at most `usable_vectors` (the table
/// entries queues can actually have, [`Binder::usable_vectors`]), or 0 if none.
///
/// Because the floor never decreases as queues are added, this is: every hardware queue once
/// 32 vectors are usable; up to 64 queues with 16–31 vectors; otherwise one queue per vector.
/// Advertising more would claim a vector-per-queue capability the grant cannot deliver.
#[must_use]
pub const fn advertised_queue_count(hardware_queues: u32, usable_vectors: u32) -> u32 {
    let limit = if usable_vectors >= 32 {
        u32::MAX
    } else if usable_vectors >= 16 {
        64
    } else {
        usable_vectors
    };
    if hardware_queues < limit { hardware_queues } else { limit }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::string::String;
    use std::vec::Vec;

    use proptest::prelude::*;

    fn cpu(group: u16, number: u8) -> Processor {
        Processor { group, number }
    }

    fn binder(targets: &[Option<Processor>], table_entries: u32, max_queues: usize) -> Binder {
        Binder::new(&BinderConfig {
            message_targets: targets,
            other_message: 0,
            table_entries,
            other_entry: 0,
            max_queues,
        })
        .expect("valid grant")
    }

    /// The seed's example grant: 8 CPUs, message 0 for other causes (PCI default policy, so no
    /// single target), messages 1..=8 on CPUs 0..=7.
    fn seed_targets() -> Vec<Option<Processor>> {
        let mut targets = std::vec![None];
        targets.extend((0..8).map(|n| Some(cpu(0, n))));
        targets
    }

    fn ops(list: &[MsixOp]) -> Vec<MsixOp> {
        list.to_vec()
    }

    use MsixOp::{Mask, SetTableEntry as Set, Unmask};

    #[test]
    fn seed_example_coalesces_then_shares_the_nearest_entry() {
        // 4 table entries: entry 0 for other causes leaves 3 for 8 queues on 8 CPUs.
        let mut b = binder(&seed_targets(), 4, 16);
        assert_eq!(b.usable_vectors(), 3);
        assert_eq!(advertised_queue_count(7, b.usable_vectors()), 3);

        // CPUs 0..2: the PCI initial mapping already points entries 1..3 at messages 1..3.
        for (queue, entry) in [(1u32, 1u32), (2, 2), (3, 3)] {
            let number = u8::try_from(entry - 1).unwrap();
            let r = b.bind(queue, cpu(0, number)).unwrap();
            assert_eq!(r.binding.entry, entry);
            assert_eq!(r.binding.message, entry);
            assert_eq!(r.binding.served, cpu(0, number));
            assert!(r.binding.is_exact());
            assert_eq!(ops(r.ops.as_slice()), [Unmask { entry }]);
        }
        // CPUs 3..7: no entry left; all share the entry of CPU 2, the nearest in use.
        for (queue, number) in (4u32..=8).zip(3u8..=7) {
            let r = b.bind(queue, cpu(0, number)).unwrap();
            assert_eq!(r.binding.entry, 3);
            assert_eq!(r.binding.message, 3);
            assert_eq!(r.binding.served, cpu(0, 2));
            assert_eq!(r.binding.requested, cpu(0, number));
            assert_eq!(r.binding.quality, Quality::SharedEntry);
            assert!(r.ops.is_empty());
        }
        assert_eq!(b.entries_in_use(), 3);
        assert_eq!(b.entry_refcount(3), 6);
        assert_eq!(b.entries_of_message(3).collect::<Vec<_>>(), [3]);
        assert_eq!(b.queues_on_entry(3).collect::<Vec<_>>(), [3, 4, 5, 6, 7, 8]);
        assert_eq!(b.entry_refcount(0), 0);

        // Freeing CPU 1's queue masks entry 2, which then serves the next new processor. The
        // binder masked it itself, so re-pointing it needs no Mask first.
        let u = b.unbind(2).unwrap();
        assert_eq!(ops(u.ops.release()), [Mask { entry: 2 }]);
        assert_eq!(b.entry_message(2), Some(2), "a freed entry keeps its message");
        let r = b.bind(9, cpu(0, 5)).unwrap();
        assert_eq!(r.binding.entry, 2);
        assert_eq!(r.binding.message, 6);
        assert!(r.binding.is_exact());
        assert_eq!(ops(r.ops.setup()), [Set { entry: 2, message: 6 }, Unmask { entry: 2 }]);
        assert_eq!(b.entries_of_message(6).collect::<Vec<_>>(), [2]);
        assert_eq!(b.entries_of_message(2).count(), 0);
    }

    #[test]
    fn queues_on_the_same_processor_share_one_entry_without_ops() {
        let mut b = binder(&seed_targets(), 10, 8);
        let first = b.bind(5, cpu(0, 4)).unwrap();
        assert_eq!(ops(first.ops.as_slice()), [Unmask { entry: 5 }]);
        let second = b.bind(6, cpu(0, 4)).unwrap();
        assert!(second.ops.is_empty());
        assert_eq!(second.binding, QueueBinding { requested: cpu(0, 4), ..first.binding });
        assert_eq!(b.entry_refcount(5), 2);
        assert_eq!(b.entries_in_use(), 1);
        assert_eq!(b.queues_on_entry(5).collect::<Vec<_>>(), [5, 6]);
    }

    #[test]
    fn affinity_change_repoints_a_lone_queues_entry() {
        let mut b = binder(&seed_targets(), 9, 8);
        let _ = b.bind(1, cpu(0, 0)).unwrap();
        let _ = b.bind(2, cpu(0, 1)).unwrap();
        let r = b.rebind(1, cpu(0, 3)).unwrap();
        assert_eq!(
            ops(r.ops.setup()),
            [Mask { entry: 1 }, Set { entry: 1, message: 4 }, Unmask { entry: 1 }]
        );
        assert!(r.ops.release().is_empty());
        assert!(!r.entry_changed(), "the queue's IVAR keeps naming entry 1");
        assert_eq!(r.binding.served, cpu(0, 3));
        assert_eq!(r.binding.message, 4);
        assert_eq!(b.entry_message(1), Some(4));
        assert_eq!(b.entries_of_message(4).collect::<Vec<_>>(), [1]);
        assert_eq!(b.entries_of_message(1).count(), 0);
        assert_eq!(b.binding(1), Some(r.binding));
    }

    #[test]
    fn affinity_change_to_a_served_processor_moves_and_masks_the_freed_entry() {
        let mut b = binder(&seed_targets(), 9, 8);
        let _ = b.bind(1, cpu(0, 0)).unwrap();
        let _ = b.bind(2, cpu(0, 1)).unwrap();
        let r = b.rebind(1, cpu(0, 1)).unwrap();
        assert!(r.ops.setup().is_empty());
        assert_eq!(ops(r.ops.release()), [Mask { entry: 1 }]);
        assert!(r.entry_changed());
        assert_eq!((r.previous.entry, r.binding.entry), (1, 2));
        assert_eq!((b.entry_refcount(1), b.entry_refcount(2)), (0, 2));
        // The released entry still points at CPU 0's message: re-using it is a single Unmask.
        let again = b.bind(3, cpu(0, 0)).unwrap();
        assert_eq!(again.binding.entry, 1);
        assert_eq!(ops(again.ops.as_slice()), [Unmask { entry: 1 }]);
    }

    #[test]
    fn affinity_change_of_a_shared_queue_takes_a_free_entry_and_keeps_the_old_one() {
        let mut b = binder(&seed_targets(), 9, 8);
        let _ = b.bind(1, cpu(0, 0)).unwrap();
        let _ = b.bind(2, cpu(0, 0)).unwrap();
        let r = b.rebind(1, cpu(0, 2)).unwrap();
        assert_eq!(ops(r.ops.as_slice()), [Unmask { entry: 3 }]);
        assert_eq!(r.binding.entry, 3);
        assert_eq!(b.entry_refcount(1), 1);
    }

    #[test]
    fn rebinding_to_the_same_processor_is_a_no_op() {
        let mut b = binder(&seed_targets(), 3, 8);
        let _ = b.bind(1, cpu(0, 0)).unwrap();
        let _ = b.bind(2, cpu(0, 1)).unwrap();
        let degraded = b.bind(3, cpu(0, 7)).unwrap().binding;
        assert_eq!(degraded.quality, Quality::SharedEntry);
        let before = b.clone();
        for queue in [1, 3] {
            let r = b.rebind(queue, b.binding(queue).unwrap().requested).unwrap();
            assert!(r.ops.is_empty());
            assert_eq!(r.previous, r.binding);
            assert_eq!(b, before);
        }
    }

    #[test]
    fn free_masks_the_entry_only_when_its_last_queue_leaves() {
        let mut b = binder(&seed_targets(), 9, 8);
        let _ = b.bind(1, cpu(0, 0)).unwrap();
        let _ = b.bind(2, cpu(0, 0)).unwrap();
        let u = b.unbind(1).unwrap();
        assert!(u.ops.is_empty());
        assert_eq!(b.entry_refcount(1), 1);
        let u = b.unbind(2).unwrap();
        assert_eq!(ops(u.ops.as_slice()), [Mask { entry: 1 }]);
        assert_eq!(ops(u.ops.release()), [Mask { entry: 1 }]);
        assert_eq!(u.binding.entry, 1);
        assert_eq!((b.entries_in_use(), b.queue_count()), (0, 0));
        assert_eq!(b.binding(2), None);
    }

    #[test]
    fn a_processor_without_a_message_is_served_by_the_nearest_in_its_group() {
        let targets = [None, Some(cpu(0, 2)), Some(cpu(0, 6)), Some(cpu(1, 4))];
        let mut b = binder(&targets, 8, 8);
        // 4 is as far from 2 as from 6: the lower number wins.
        let r = b.bind(1, cpu(0, 4)).unwrap();
        assert_eq!((r.binding.served, r.binding.message, r.binding.entry), (cpu(0, 2), 1, 1));
        assert_eq!(r.binding.quality, Quality::NearestMessage);
        // The same group beats a closer number in another group.
        let r = b.bind(2, cpu(0, 5)).unwrap();
        assert_eq!((r.binding.served, r.binding.message), (cpu(0, 6), 2));
        // Coalescing applies to the served processor, not the requested one.
        let r = b.bind(3, cpu(0, 0)).unwrap();
        assert_eq!(r.binding.entry, 1);
        assert!(r.ops.is_empty());
        assert_eq!(b.processor_for(cpu(0, 63)), Some(cpu(0, 6)));
    }

    #[test]
    fn group_fallback_takes_the_nearest_group_then_the_nearest_number() {
        let targets = [None, Some(cpu(0, 10)), Some(cpu(2, 1)), Some(cpu(2, 30)), Some(cpu(5, 0))];
        let mut b = binder(&targets, 8, 8);
        // Groups 0 and 2 are both one away from group 1: the lower group wins.
        assert_eq!(b.processor_for(cpu(1, 20)), Some(cpu(0, 10)));
        // Group 3: group 2 is nearest; in it, 30 is nearer 25 than 1 is.
        assert_eq!(b.processor_for(cpu(3, 25)), Some(cpu(2, 30)));
        assert_eq!(b.processor_for(cpu(4, 0)), Some(cpu(5, 0)));
        assert_eq!(b.processor_for(cpu(60, 0)), Some(cpu(5, 0)));
        let r = b.bind(1, cpu(3, 25)).unwrap();
        assert_eq!((r.binding.served, r.binding.message, r.binding.entry), (cpu(2, 30), 3, 3));
        assert_eq!(r.binding.quality, Quality::NearestMessage);
    }

    #[test]
    fn the_other_causes_entry_and_message_are_never_used_for_queues() {
        // Entry 2 is reserved; message 0 targets CPU 0 but is the other-causes message.
        let targets = [Some(cpu(0, 0)), Some(cpu(0, 1)), Some(cpu(0, 2)), Some(cpu(0, 3))];
        let mut b = Binder::new(&BinderConfig {
            message_targets: &targets,
            other_message: 0,
            table_entries: 4,
            other_entry: 2,
            max_queues: 8,
        })
        .unwrap();
        assert!(!b.has_receive_message(cpu(0, 0)));
        let r = b.bind(1, cpu(0, 0)).unwrap();
        assert_eq!((r.binding.served, r.binding.entry), (cpu(0, 1), 1));
        // CPU 2's message has entry 2 in the initial mapping, but that entry is reserved: the
        // lowest free entry, 0 (pointing at the other-causes message, possibly live), is taken.
        let r = b.bind(2, cpu(0, 2)).unwrap();
        assert_eq!(r.binding.entry, 0);
        assert_eq!(
            ops(r.ops.as_slice()),
            [Mask { entry: 0 }, Set { entry: 0, message: 2 }, Unmask { entry: 0 }]
        );
        let r = b.bind(3, cpu(0, 3)).unwrap();
        assert_eq!(ops(r.ops.as_slice()), [Unmask { entry: 3 }]);
        // Out of entries (entry 2 reserved): CPU 2's queue is joined, not entry 2 taken.
        let r = b.bind(4, cpu(0, 0)).unwrap();
        assert_eq!(r.binding.entry, 1);
        assert_eq!(b.entry_refcount(2), 0);
    }

    #[test]
    fn the_default_queue_binds_once_takes_no_slot_and_vm_queues_share_its_entry() {
        // Seed topology: message 0 other causes, messages 1..=8 on CPUs 0..=7; 2 queue slots.
        let mut b = binder(&seed_targets(), 10, 2);
        let d = b.bind_default(cpu(0, 0)).unwrap();
        assert_eq!((d.binding.entry, d.binding.message), (1, 1));
        assert_eq!(ops(d.ops.as_slice()), [Unmask { entry: 1 }]);
        assert_eq!(b.binding(0), Some(d.binding));
        let snapshot = b.clone();
        assert_eq!(b.bind_default(cpu(0, 3)), Err(BindError::AlreadyBound));
        assert_eq!(b, snapshot);
        // A VM queue on CPU 0 coalesces onto the default queue's entry; both slots stay free
        // for VM queues.
        let q = b.bind(5, cpu(0, 0)).unwrap();
        assert_eq!(q.binding.entry, 1);
        assert!(q.ops.is_empty());
        assert!(b.bind(6, cpu(0, 1)).is_ok());
        assert_eq!(b.queues_on_entry(1).collect::<Vec<_>>(), [0, 5]);
        assert_eq!(b.queue_count(), 2, "the default queue is not a VM queue");
        // Freeing the VM queue leaves the entry with the default queue: not masked.
        let u = b.unbind(5).unwrap();
        assert!(u.ops.is_empty());
        assert_eq!(b.entry_refcount(1), 1);
    }

    #[test]
    fn errors_leave_the_state_unchanged() {
        let mut b = binder(&seed_targets(), 4, 2);
        let _ = b.bind(1, cpu(0, 0)).unwrap();
        let snapshot = b.clone();
        assert_eq!(b.bind(0, cpu(0, 1)), Err(BindError::DefaultQueue));
        assert_eq!(b.bind(1, cpu(0, 1)), Err(BindError::AlreadyBound));
        assert_eq!(b.rebind(0, cpu(0, 1)), Err(BindError::DefaultQueue));
        assert_eq!(b.rebind(7, cpu(0, 1)), Err(BindError::UnknownQueue));
        assert_eq!(b.unbind(0), Err(BindError::DefaultQueue));
        assert_eq!(b.unbind(7), Err(BindError::UnknownQueue));
        assert_eq!(b, snapshot);
        let _ = b.bind(2, cpu(0, 1)).unwrap();
        let snapshot = b.clone();
        assert_eq!(b.bind(3, cpu(0, 2)), Err(BindError::NoQueueSlot));
        assert_eq!(b, snapshot);
        // A freed slot is usable again.
        let _ = b.unbind(1).unwrap();
        assert!(b.bind(3, cpu(0, 2)).is_ok());
    }

    #[test]
    fn unusable_grants_are_refused_at_setup() {
        let seed = seed_targets();
        let config = BinderConfig {
            message_targets: &seed,
            other_message: 0,
            table_entries: 4,
            other_entry: 0,
            max_queues: 4,
        };
        let with = |c: BinderConfig<'_>| Binder::new(&c).err();
        assert_eq!(with(config), None);
        assert_eq!(
            with(BinderConfig { table_entries: 0, ..config }),
            Some(SetupError::TableTooSmall)
        );
        assert_eq!(
            with(BinderConfig { table_entries: 1, ..config }),
            Some(SetupError::TableTooSmall)
        );
        assert_eq!(with(BinderConfig { table_entries: 2, ..config }), None);
        assert_eq!(with(BinderConfig { table_entries: 2048, ..config }), None);
        assert_eq!(
            with(BinderConfig { table_entries: 2049, ..config }),
            Some(SetupError::TableTooLarge)
        );
        assert_eq!(
            with(BinderConfig { other_entry: 4, ..config }),
            Some(SetupError::OtherEntryOutOfRange)
        );
        assert_eq!(
            with(BinderConfig { other_message: 9, ..config }),
            Some(SetupError::OtherMessageOutOfRange)
        );
        assert_eq!(
            with(BinderConfig { message_targets: &[], ..config }),
            Some(SetupError::OtherMessageOutOfRange)
        );
        // Only the other-causes message, or only unspecific ones: nothing can serve a queue.
        assert_eq!(
            with(BinderConfig { message_targets: &[None], ..config }),
            Some(SetupError::NoReceiveMessage)
        );
        let lone = [Some(cpu(0, 0))];
        assert_eq!(
            with(BinderConfig { message_targets: &lone, ..config }),
            Some(SetupError::NoReceiveMessage)
        );
        let unspecific = [None, None, None];
        assert_eq!(
            with(BinderConfig { message_targets: &unspecific, ..config }),
            Some(SetupError::NoReceiveMessage)
        );
        let too_many = std::vec![Some(cpu(0, 1)); MAX_MESSAGES_PER_FUNCTION + 1];
        assert_eq!(
            with(BinderConfig { message_targets: &too_many, ..config }),
            Some(SetupError::TooManyMessages)
        );
        let at_limit = std::vec![Some(cpu(0, 1)); MAX_MESSAGES_PER_FUNCTION];
        assert_eq!(with(BinderConfig { message_targets: &at_limit, ..config }), None);
        assert_eq!(
            with(BinderConfig { max_queues: usize::MAX, ..config }),
            Some(SetupError::OutOfMemory)
        );
    }

    #[test]
    fn pick_processor_prefers_a_set_bit_with_a_message() {
        let b = binder(&[None, Some(cpu(1, 5)), Some(cpu(0, 9))], 4, 4);
        assert_eq!(b.pick_processor(1, 0), None);
        assert_eq!(b.pick_processor(1, 0b10_1010), Some(cpu(1, 5)));
        assert_eq!(b.pick_processor(1, 0b1010), Some(cpu(1, 1)));
        assert_eq!(b.pick_processor(0, 1 << 63 | 1 << 9), Some(cpu(0, 9)));
        assert_eq!(b.pick_processor(0, 1 << 63), Some(cpu(0, 63)));
    }

    #[test]
    fn msix_ops_keep_setup_before_release_and_never_overflow() {
        let mut list = MsixOps::new();
        list.push_setup(Unmask { entry: 1 });
        list.push_release(Mask { entry: 2 });
        list.push_setup(Unmask { entry: 3 }); // out of order: dropped
        assert_eq!(ops(list.setup()), [Unmask { entry: 1 }]);
        assert_eq!(ops(list.release()), [Mask { entry: 2 }]);
        assert!(list.push(Mask { entry: 4 }));
        assert!(list.push(Mask { entry: 5 }));
        assert!(!list.push(Mask { entry: 6 }));
        assert_eq!(list.len(), MAX_OPS_PER_CALL);
        assert_eq!(list.iter().count(), MAX_OPS_PER_CALL);
        assert_ne!(list, MsixOps::default());
    }

    #[test]
    fn advertised_queue_count_meets_the_minimum_vector_table() {
        // (hardware queues, usable vectors) -> advertised
        let cases = [
            (0, 0, 0),
            (0, 32, 0),
            (1, 0, 0),
            (1, 1, 1),
            (15, 15, 15),
            (16, 15, 15),
            (16, 16, 16),
            (17, 15, 15),
            (17, 16, 17),
            (64, 16, 64),
            (64, 31, 64),
            (65, 31, 64),
            (65, 32, 65),
            (7, 3, 3),
            (7, 1, 1),
            (u32::MAX, 32, u32::MAX),
        ];
        for (hw, vectors, expected) in cases {
            assert_eq!(advertised_queue_count(hw, vectors), expected, "hw {hw} vectors {vectors}");
        }
        assert_eq!([0, 1, 15, 16, 17, 64, 65].map(minimum_vectors), [0, 1, 15, 16, 16, 16, 32]);
        // Brute force: the largest count whose floor is met.
        for hw in 0..=140 {
            for vectors in [0, 1, 2, 15, 16, 17, 31, 32, 33, 100] {
                let brute = (0..=hw).rev().find(|&q| minimum_vectors(q) <= vectors).unwrap();
                assert_eq!(advertised_queue_count(hw, vectors), brute, "hw {hw} vectors {vectors}");
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Property tests: random topologies, grants, tables and queue operations.

    /// A replayed MSI-X table: what the OS table would hold after the glue performed every op.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum MaskState {
        /// PCI initial state of a mapped entry: maybe live.
        Unknown,
        Masked,
        Unmasked,
    }

    struct SimTable {
        entries: Vec<(Option<u32>, MaskState)>,
        messages: u32,
    }

    impl SimTable {
        fn new(table_entries: u32, messages: u32) -> Self {
            let entries = (0..table_entries)
                .map(|e| {
                    if e < messages {
                        (Some(e), MaskState::Unknown)
                    } else {
                        (None, MaskState::Masked)
                    }
                })
                .collect();
            Self { entries, messages }
        }

        fn apply(&mut self, op: MsixOp) -> Result<(), String> {
            let entry = match op {
                Mask { entry } | Unmask { entry } | Set { entry, .. } => entry,
            };
            let slot = self
                .entries
                .get_mut(entry as usize)
                .ok_or_else(|| std::format!("{op:?}: entry out of the table"))?;
            match op {
                Mask { .. } => slot.1 = MaskState::Masked,
                Unmask { .. } if slot.0.is_none() => {
                    return Err(std::format!("{op:?}: entry points at no message"));
                }
                Unmask { .. } => slot.1 = MaskState::Unmasked,
                Set { message, .. } if message >= self.messages => {
                    return Err(std::format!("{op:?}: no such message"));
                }
                Set { .. } if slot.1 != MaskState::Masked => {
                    return Err(std::format!("{op:?}: entry may be live ({:?})", slot.1));
                }
                Set { message, .. } => slot.0 = Some(message),
            }
            Ok(())
        }
    }

    #[derive(Clone, Debug)]
    enum Action {
        Bind(QueueId, Processor),
        Rebind(QueueId, Processor),
        Unbind(QueueId),
    }

    #[derive(Clone, Debug)]
    struct Scenario {
        targets: Vec<Option<Processor>>,
        other_message: u32,
        table_entries: u32,
        other_entry: u32,
        max_queues: usize,
        actions: Vec<Action>,
    }

    impl Scenario {
        fn config(&self) -> BinderConfig<'_> {
            BinderConfig {
                message_targets: &self.targets,
                other_message: self.other_message,
                table_entries: self.table_entries,
                other_entry: self.other_entry,
                max_queues: self.max_queues,
            }
        }

        fn rx_target(&self, message: u32) -> Option<Processor> {
            if message == self.other_message {
                None
            } else {
                self.targets.get(message as usize).copied().flatten()
            }
        }

        fn rx_processors(&self) -> Vec<Processor> {
            let set: BTreeSet<Processor> =
                (0u32..).zip(&self.targets).filter_map(|(m, _)| self.rx_target(m)).collect();
            set.into_iter().collect()
        }

        fn expected_setup_error(&self) -> Option<SetupError> {
            let messages = u32::try_from(self.targets.len()).unwrap();
            if self.table_entries < 2 {
                Some(SetupError::TableTooSmall)
            } else if self.other_entry >= self.table_entries {
                Some(SetupError::OtherEntryOutOfRange)
            } else if self.other_message >= messages {
                Some(SetupError::OtherMessageOutOfRange)
            } else if self.rx_processors().is_empty() {
                Some(SetupError::NoReceiveMessage)
            } else {
                None
            }
        }
    }

    /// The distance rule, written differently from `distance_key`: same group first, else the
    /// nearest group (lower on ties), then the nearest number in that group (lower on ties).
    fn model_nearest(candidates: &[Processor], from: Processor) -> Option<Processor> {
        let nearest_number = |group: u16| {
            let mut best: Option<Processor> = None;
            for &c in candidates.iter().filter(|c| c.group == group) {
                let better = match best {
                    None => true,
                    Some(b) => {
                        let (dc, db) = (
                            i32::from(c.number) - i32::from(from.number),
                            i32::from(b.number) - i32::from(from.number),
                        );
                        dc.abs() < db.abs() || (dc.abs() == db.abs() && c.number < b.number)
                    }
                };
                if better {
                    best = Some(c);
                }
            }
            best
        };
        if let Some(same) = nearest_number(from.group) {
            return Some(same);
        }
        let gap = |c: &Processor| (i32::from(c.group) - i32::from(from.group)).abs();
        let best_gap = candidates.iter().map(gap).min()?;
        let group = candidates.iter().filter(|c| gap(c) == best_gap).map(|c| c.group).min()?;
        nearest_number(group)
    }

    fn processor_strategy() -> impl Strategy<Value = (u32, u8)> {
        (any::<u32>(), 0u8..8)
    }

    fn scenario_strategy() -> impl Strategy<Value = Scenario> {
        let topology = prop::collection::vec(1u8..=64, 1..=32);
        let message = (any::<u32>(), 0u8..16);
        let messages = prop_oneof![
            prop::collection::vec(message.clone(), 1..=16),
            prop::collection::vec(message, 1..=2048),
        ];
        // Small tables make entries run out (degraded sharing); large ones exercise T up to 2048.
        let table = prop_oneof![1u32..=4, 1u32..=12, 1u32..=2048];
        let reserved = (any::<u32>(), 0u8..20);
        let action = (0u8..3, 0u32..12, processor_strategy());
        let actions = prop::collection::vec(action, 0..=40);
        (topology, messages, table, reserved.clone(), reserved, 0usize..=10, actions).prop_map(
            |(
                topology,
                messages,
                table_entries,
                other_entry,
                other_message,
                max_queues,
                actions,
            )| {
                let processors: Vec<Processor> = (0u16..)
                    .zip(&topology)
                    .flat_map(|(group, &size)| (0..size).map(move |n| cpu(group, n)))
                    .collect();
                let len = u32::try_from(processors.len()).unwrap();
                let pick = |x: u32| processors[(x % len) as usize];
                let targets: Vec<Option<Processor>> = messages
                    .iter()
                    .map(|&(x, kind)| if kind == 0 { None } else { Some(pick(x)) })
                    .collect();
                let count = u32::try_from(targets.len()).unwrap();
                // Mostly 0 (the usual layout), sometimes anywhere, rarely out of range.
                let reserve = |(raw, kind): (u32, u8), limit: u32| match kind {
                    0 => raw,
                    1..=13 => 0,
                    _ => raw % limit,
                };
                let request = |(x, kind): (u32, u8)| match kind {
                    // Anything, even numbers no KAFFINITY can hold.
                    0 => cpu(u16::try_from(x % 40).unwrap(), u8::try_from((x >> 8) % 70).unwrap()),
                    // A processor some message targets (often an exact match).
                    1..=3 => targets[(x % count) as usize].unwrap_or_else(|| pick(x)),
                    _ => pick(x),
                };
                let actions = actions
                    .into_iter()
                    .map(|(kind, queue, p)| match kind {
                        0 => Action::Bind(queue, request(p)),
                        1 => Action::Rebind(queue, request(p)),
                        _ => Action::Unbind(queue),
                    })
                    .collect();
                Scenario {
                    other_entry: reserve(other_entry, table_entries),
                    other_message: reserve(other_message, count),
                    targets,
                    table_entries,
                    max_queues,
                    actions,
                }
            },
        )
    }

    /// Checks that `after` is where the policy puts a queue with affinity `requested`, given the
    /// state `before` and the queue's binding before a rebind.
    fn check_placement(
        s: &Scenario,
        before: &Binder,
        current: Option<QueueBinding>,
        requested: Processor,
        after: &Binder,
        (result, ops): (&QueueBinding, &MsixOps),
    ) -> Result<(), TestCaseError> {
        let rx = s.rx_processors();
        let nearest = model_nearest(&rx, requested).unwrap();
        let in_use: Vec<Processor> =
            before.queues().map(|(_, b)| b.served).collect::<BTreeSet<_>>().into_iter().collect();
        let serving = before.queues().find(|(_, b)| b.served == nearest).map(|(_, b)| b.entry);
        let free: Vec<u32> = (0..s.table_entries)
            .filter(|&e| e != s.other_entry && before.entry_refcount(e) == 0)
            .collect();
        let alone = current.filter(|c| before.entry_refcount(c.entry) == 1);

        prop_assert_eq!(result.requested, requested);
        if serving.is_some() || !free.is_empty() || alone.is_some() {
            // An entry can be dedicated: the queue is on the nearest processor with a message,
            // which is the requested one whenever that one has a message.
            prop_assert_eq!(result.served, nearest);
            if rx.contains(&requested) {
                prop_assert_eq!(result.served, requested);
                prop_assert_eq!(result.quality, Quality::Exact);
            } else {
                prop_assert_eq!(result.quality, Quality::NearestMessage);
            }
            if let Some(entry) = serving {
                // Coalescing: join the entry already serving the processor, no setup op.
                prop_assert_eq!(result.entry, entry);
                prop_assert!(ops.setup().is_empty());
            } else if let Some(cur) = alone {
                // A lone queue keeps its entry (and IVAR) and re-points it.
                prop_assert_eq!(result.entry, cur.entry);
                prop_assert_eq!(
                    ops.setup(),
                    &[
                        Mask { entry: cur.entry },
                        Set { entry: cur.entry, message: result.message },
                        Unmask { entry: cur.entry }
                    ][..]
                );
            } else {
                // A free entry: the lowest already pointing at a message on the processor, else
                // the lowest, re-pointed.
                let pointing = free.iter().copied().find(|&e| {
                    before.entry_message(e).and_then(|m| s.rx_target(m)) == Some(nearest)
                });
                prop_assert_eq!(result.entry, pointing.unwrap_or(free[0]));
                let sets = ops.setup().iter().any(|op| matches!(op, Set { .. }));
                prop_assert_eq!(sets, pointing.is_none());
                prop_assert_eq!(ops.setup().last(), Some(&Unmask { entry: result.entry }));
            }
        } else {
            // No entry to spare: share the in-use entry nearest to the requested processor.
            prop_assert_eq!(result.quality, Quality::SharedEntry);
            prop_assert_eq!(Some(result.served), model_nearest(&in_use, requested));
            prop_assert!(ops.setup().is_empty());
            prop_assert!(after.entries_in_use() <= before.entries_in_use());
        }
        Ok(())
    }

    fn check_invariants(
        s: &Scenario,
        b: &Binder,
        sim: &SimTable,
        model: &BTreeMap<QueueId, Processor>,
    ) -> Result<(), TestCaseError> {
        let t = s.table_entries;
        let rx = s.rx_processors();
        let queues: BTreeMap<QueueId, QueueBinding> = b.queues().collect();
        prop_assert_eq!(queues.len(), b.queue_count());
        prop_assert_eq!(queues.keys().collect::<Vec<_>>(), model.keys().collect::<Vec<_>>());

        let mut refs: BTreeMap<u32, usize> = BTreeMap::new();
        let mut entry_of_served: BTreeMap<Processor, u32> = BTreeMap::new();
        for (&q, bd) in &queues {
            prop_assert_eq!(Some(*bd), b.binding(q));
            prop_assert_eq!(bd.requested, model[&q]);
            prop_assert!(bd.entry < t, "entry {} outside a table of {}", bd.entry, t);
            prop_assert_ne!(bd.entry, s.other_entry);
            prop_assert_eq!(b.entry_message(bd.entry), Some(bd.message));
            prop_assert_eq!(s.rx_target(bd.message), Some(bd.served));
            let nearest = model_nearest(&rx, bd.requested).unwrap();
            match bd.quality {
                Quality::Exact => prop_assert_eq!(bd.served, bd.requested),
                Quality::NearestMessage => {
                    prop_assert!(!rx.contains(&bd.requested));
                    prop_assert_eq!(bd.served, nearest);
                }
                Quality::SharedEntry => prop_assert_ne!(bd.served, nearest),
            }
            // Coalescing: one entry per served processor.
            let entry = *entry_of_served.entry(bd.served).or_insert(bd.entry);
            prop_assert_eq!(entry, bd.entry);
            *refs.entry(bd.entry).or_default() += 1;
        }
        prop_assert_eq!(b.entries_in_use(), refs.len());
        prop_assert!(refs.len() <= (t as usize - 1).min(rx.len()));
        for e in 0..t + 2 {
            prop_assert_eq!(b.entry_refcount(e), refs.get(&e).copied().unwrap_or(0), "entry {}", e);
        }
        for &e in refs.keys() {
            let on_entry: BTreeSet<QueueId> = b.queues_on_entry(e).collect();
            let expected: BTreeSet<QueueId> =
                queues.iter().filter(|(_, bd)| bd.entry == e).map(|(&q, _)| q).collect();
            prop_assert_eq!(on_entry, expected);
        }
        // message -> entries, for the messages that matter and two that should map to nothing.
        let mut messages: BTreeSet<u32> = queues.values().map(|bd| bd.message).collect();
        messages.extend([s.other_message, 0, sim.messages]);
        for m in messages {
            let got: Vec<u32> = b.entries_of_message(m).collect();
            let expected: Vec<u32> =
                refs.keys().copied().filter(|&e| b.entry_message(e) == Some(m)).collect();
            prop_assert_eq!(got, expected, "message {}", m);
        }
        // The replayed table agrees with the binder, in-use entries are live, others are not.
        for (e, &(message, state)) in (0u32..).zip(&sim.entries) {
            prop_assert_eq!(message, b.entry_message(e), "entry {}", e);
            if refs.contains_key(&e) {
                prop_assert_eq!(state, MaskState::Unmasked, "in-use entry {}", e);
            } else {
                prop_assert_ne!(state, MaskState::Unmasked, "free entry {}", e);
            }
        }
        prop_assert_eq!(b.entry_message(t), None);
        prop_assert_eq!(b.usable_vectors() as usize, (t as usize - 1).min(rx.len()));
        Ok(())
    }

    fn replay(sim: &mut SimTable, ops: &MsixOps) -> Result<(), TestCaseError> {
        prop_assert!(ops.len() <= MAX_OPS_PER_CALL);
        for &op in ops {
            sim.apply(op).map_err(TestCaseError::fail)?;
        }
        Ok(())
    }

    /// The state a property run carries from step to step: the binder, the replayed table and
    /// the expected queue set (queue -> requested processor).
    struct Run<'a> {
        scenario: &'a Scenario,
        binder: Binder,
        sim: SimTable,
        model: BTreeMap<QueueId, Processor>,
    }

    impl Run<'_> {
        /// The error a call on `queue` must fail with, for rebind and unbind.
        fn expected_lookup_error(&self, queue: QueueId) -> Option<BindError> {
            if queue == 0 {
                Some(BindError::DefaultQueue)
            } else if self.model.contains_key(&queue) {
                None
            } else {
                Some(BindError::UnknownQueue)
            }
        }

        fn bind(&mut self, queue: QueueId, requested: Processor) -> Result<(), TestCaseError> {
            let before = self.binder.clone();
            let expected = if queue == 0 {
                Some(BindError::DefaultQueue)
            } else if self.model.contains_key(&queue) {
                Some(BindError::AlreadyBound)
            } else if self.model.len() >= self.scenario.max_queues {
                Some(BindError::NoQueueSlot)
            } else {
                None
            };
            match self.binder.bind(queue, requested) {
                Err(error) => {
                    prop_assert_eq!(Some(error), expected);
                    prop_assert_eq!(&self.binder, &before);
                }
                Ok(bound) => {
                    prop_assert_eq!(expected, None);
                    prop_assert_eq!(Some(bound.binding), self.binder.binding(queue));
                    prop_assert!(bound.ops.release().is_empty());
                    let placed = (&bound.binding, &bound.ops);
                    check_placement(self.scenario, &before, None, requested, &self.binder, placed)?;
                    self.model.insert(queue, requested);
                    replay(&mut self.sim, &bound.ops)?;
                }
            }
            Ok(())
        }

        fn rebind(&mut self, queue: QueueId, requested: Processor) -> Result<(), TestCaseError> {
            let before = self.binder.clone();
            let expected = self.expected_lookup_error(queue);
            match self.binder.rebind(queue, requested) {
                Err(error) => {
                    prop_assert_eq!(Some(error), expected);
                    prop_assert_eq!(&self.binder, &before);
                }
                Ok(rebound) => {
                    prop_assert_eq!(expected, None);
                    prop_assert_eq!(Some(rebound.previous), before.binding(queue));
                    prop_assert_eq!(Some(rebound.binding), self.binder.binding(queue));
                    if rebound.previous.requested == requested {
                        prop_assert!(rebound.ops.is_empty());
                        prop_assert_eq!(&self.binder, &before);
                    } else {
                        let current = Some(rebound.previous);
                        let placed = (&rebound.binding, &rebound.ops);
                        check_placement(
                            self.scenario,
                            &before,
                            current,
                            requested,
                            &self.binder,
                            placed,
                        )?;
                        // The old entry is masked exactly when the queue left it empty.
                        let old = rebound.previous.entry;
                        let freed = rebound.entry_changed() && before.entry_refcount(old) == 1;
                        let expected_release: &[MsixOp] =
                            if freed { &[Mask { entry: old }] } else { &[] };
                        prop_assert_eq!(rebound.ops.release(), expected_release);
                    }
                    self.model.insert(queue, requested);
                    replay(&mut self.sim, &rebound.ops)?;
                }
            }
            Ok(())
        }

        fn unbind(&mut self, queue: QueueId) -> Result<(), TestCaseError> {
            let before = self.binder.clone();
            let expected = self.expected_lookup_error(queue);
            match self.binder.unbind(queue) {
                Err(error) => {
                    prop_assert_eq!(Some(error), expected);
                    prop_assert_eq!(&self.binder, &before);
                }
                Ok(unbound) => {
                    prop_assert_eq!(expected, None);
                    prop_assert_eq!(Some(unbound.binding), before.binding(queue));
                    let entry = unbound.binding.entry;
                    let last = before.entry_refcount(entry) == 1;
                    let expected_ops: &[MsixOp] = if last { &[Mask { entry }] } else { &[] };
                    prop_assert_eq!(unbound.ops.as_slice(), expected_ops);
                    prop_assert!(unbound.ops.setup().is_empty());
                    self.model.remove(&queue);
                    replay(&mut self.sim, &unbound.ops)?;
                }
            }
            Ok(())
        }
    }

    fn run(scenario: &Scenario) -> Result<(), TestCaseError> {
        let binder = match Binder::new(&scenario.config()) {
            Ok(binder) => {
                prop_assert_eq!(scenario.expected_setup_error(), None);
                binder
            }
            Err(error) => {
                prop_assert_eq!(Some(error), scenario.expected_setup_error());
                return Ok(());
            }
        };
        let messages = u32::try_from(scenario.targets.len()).unwrap();
        let sim = SimTable::new(scenario.table_entries, messages);
        let mut run = Run { scenario, binder, sim, model: BTreeMap::new() };
        check_invariants(scenario, &run.binder, &run.sim, &run.model)?;
        for action in &scenario.actions {
            match *action {
                Action::Bind(queue, requested) => run.bind(queue, requested)?,
                Action::Rebind(queue, requested) => run.rebind(queue, requested)?,
                Action::Unbind(queue) => run.unbind(queue)?,
            }
            check_invariants(scenario, &run.binder, &run.sim, &run.model)?;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

        #[test]
        fn random_operations_keep_every_invariant(s in scenario_strategy()) {
            run(&s)?;
        }

        #[test]
        fn advertised_queue_count_is_the_largest_count_that_meets_the_floor(
            hw in any::<u32>(),
            vectors in prop_oneof![0u32..=40, any::<u32>()],
        ) {
            let q = advertised_queue_count(hw, vectors);
            prop_assert!(q <= hw);
            prop_assert!(minimum_vectors(q) <= vectors);
            prop_assert!(q == hw || minimum_vectors(q + 1) > vectors);
        }
    }
}
