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
//! * **Default queue.** Queue 0 (`NDIS_DEFAULT_RECEIVE_QUEUE_ID`) is not bound here: NDIS never
//!   allocates, frees or re-targets it through the queue OIDs, so its vector is part of the
//!   interrupt plan decided at Initialize, not of this run-time binding.
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

    /// The binding of `queue`, if bound.
    #[must_use]
    pub fn binding(&self, queue: QueueId) -> Option<QueueBinding> {
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

    /// The queues bound to table entry `entry`, in slot order.
    pub fn queues_on_entry(&self, entry: u32) -> impl Iterator<Item = QueueId> + '_ {
        self.slots.iter().flatten().filter(move |s| s.binding.entry == entry).map(|s| s.queue)
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
    use std::vec::Vec;

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
}
