//! The send side as pure logic: packets (NBLs) wait in a FIFO, their frames (NET_BUFFERs) are
//! copied into the transmit ring while it has room, and a packet completes once every one of
//! its frames has been sent (or refused).
//!
//! The glue (`miniport::send`) implements [`Packets`] over NBLs: the FIFO is linked through the
//! NBLs themselves and each NBL's progress lives in its `MiniportReserved` words, so nothing is
//! allocated per send. Tests implement it over plain vectors.
//!
//! # Choices
//!
//! * **Copy**, not scatter-gather: every frame fits one 2 KiB transmit buffer, and a copy of at
//!   most 1518 bytes costs less than mapping an SG list per NET_BUFFER (an allocation and an
//!   HAL call each) would; the buffers are DMA-mapped once.
//! * **In order**: a packet's frames go out in order, packets in submission order. A packet
//!   can be half posted when the ring fills; the rest follows as soon as slots are reclaimed.
//! * **A bad frame fails its packet, not the queue**: a frame of 0 bytes, longer than a
//!   buffer, or unreadable is counted done without a descriptor and its packet completes with
//!   a failure status; the next frames and packets go on.

use crate::hw::Registers;
use crate::hw::igb::{TxError, TxRing};

/// What the send engine needs from the packets it carries.
pub trait Packets {
    /// A packet (an NBL pointer in the driver).
    type Packet: Copy + Eq;
    /// A frame of a packet (a NET_BUFFER pointer).
    type Frame: Copy;

    /// The packet after `packet` in the FIFO.
    fn next(&self, packet: Self::Packet) -> Option<Self::Packet>;
    /// Links `next` after `packet`.
    fn set_next(&mut self, packet: Self::Packet, next: Option<Self::Packet>);
    /// The packet's first frame.
    fn first_frame(&self, packet: Self::Packet) -> Option<Self::Frame>;
    /// The frame after `frame` in its packet.
    fn next_frame(&self, frame: Self::Frame) -> Option<Self::Frame>;
    /// Writes `frame` of `packet` (as it goes on the wire) into `buffer`; returns its length,
    /// or why it cannot be sent.
    ///
    /// # Errors
    /// [`TxError::TooLong`] / [`TxError::Empty`], or `TooLong(0)` for unreadable data.
    fn copy_frame(
        &mut self,
        packet: Self::Packet,
        frame: Self::Frame,
        buffer: &mut [u8],
    ) -> Result<usize, TxError>;
    /// The packet's progress word (see [`Progress`]).
    fn progress(&self, packet: Self::Packet) -> u32;
    /// Stores the packet's progress word.
    fn set_progress(&mut self, packet: Self::Packet, progress: u32);
}

/// A packet's progress, packed into one word: frames handed to the ring and not yet sent, and
/// two flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Frames in the ring, not yet reclaimed.
    pub in_ring: u32,
    /// Every frame has been handed to the ring (or refused).
    pub all_posted: bool,
    /// A frame was refused: the packet completes with a failure status.
    pub failed: bool,
}

const ALL_POSTED: u32 = 1 << 31;
const FAILED: u32 = 1 << 30;
const IN_RING: u32 = FAILED - 1;

impl Progress {
    /// Decodes a progress word.
    #[must_use]
    pub const fn from_word(word: u32) -> Self {
        Self {
            in_ring: word & IN_RING,
            all_posted: word & ALL_POSTED != 0,
            failed: word & FAILED != 0,
        }
    }

    /// Encodes it.
    #[must_use]
    pub const fn word(self) -> u32 {
        let mut word = self.in_ring & IN_RING;
        if self.all_posted {
            word |= ALL_POSTED;
        }
        if self.failed {
            word |= FAILED;
        }
        word
    }

    /// Whether the packet is finished: all posted and none left in the ring.
    #[must_use]
    pub const fn done(self) -> bool {
        self.all_posted && self.in_ring == 0
    }
}

/// A finished packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished<P> {
    /// The packet.
    pub packet: P,
    /// Whether every frame was sent.
    pub ok: bool,
}

/// The send engine of one transmit ring. `owners[slot]` is the packet whose frame sits in
/// `slot`.
#[derive(Debug)]
pub struct SendQueue<'a, P: Copy> {
    ring: TxRing<'a>,
    owners: &'a mut [Option<P>],
    head: Option<P>,
    tail: Option<P>,
    /// The head packet's next frame to post, when it is partly posted.
    cursor: Option<CursorState<P>>,
    waiting: usize,
}

#[derive(Clone, Copy, Debug)]
struct CursorState<P> {
    packet: P,
    /// `None`: the packet's frames are all posted (it leaves the FIFO at once then).
    frame: Option<FrameSlot>,
}

/// A frame kept as a raw word so that `SendQueue` needs no `Packets::Frame` type parameter.
#[derive(Clone, Copy, Debug)]
struct FrameSlot(usize);

/// Frames that can be kept in a [`SendQueue`]'s cursor: any `Copy` type that round-trips
/// through a `usize` (a pointer, an index).
pub trait FrameWord: Copy {
    /// To a word.
    fn to_word(self) -> usize;
    /// From a word made by [`to_word`](Self::to_word).
    fn from_word(word: usize) -> Self;
}

impl FrameWord for usize {
    fn to_word(self) -> usize {
        self
    }
    fn from_word(word: usize) -> Self {
        word
    }
}

impl<'a, P: Copy + Eq> SendQueue<'a, P> {
    /// An engine over an enabled `ring`, with `owners` of at least the ring's size.
    ///
    /// # Errors
    /// `ring` back if `owners` is too short.
    pub fn new(ring: TxRing<'a>, owners: &'a mut [Option<P>]) -> Result<Self, TxRing<'a>> {
        if owners.len() < usize::from(ring.count()) {
            return Err(ring);
        }
        owners.fill(None);
        Ok(Self { ring, owners, head: None, tail: None, cursor: None, waiting: 0 })
    }

    /// The ring.
    #[must_use]
    pub fn ring(&self) -> &TxRing<'a> {
        &self.ring
    }

    /// The ring, to enable or disable it.
    pub fn ring_mut(&mut self) -> &mut TxRing<'a> {
        &mut self.ring
    }

    /// Packets waiting in the FIFO (including a partly posted head).
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Appends `packet` to the FIFO (nothing is posted until [`pump`](Self::pump)).
    pub fn submit<L: Packets<Packet = P>>(&mut self, packets: &mut L, packet: P) {
        packets.set_next(packet, None);
        packets.set_progress(packet, Progress::default().word());
        match self.tail {
            Some(tail) => packets.set_next(tail, Some(packet)),
            None => self.head = Some(packet),
        }
        self.tail = Some(packet);
        self.waiting += 1;
    }

    /// Posts frames from the FIFO while the ring has room, then writes the tail once (if
    /// anything was posted). Packets that finish without needing the ring (all frames
    /// refused) go to `finished`. Returns the frames posted.
    pub fn pump<L>(
        &mut self,
        packets: &mut L,
        regs: &impl Registers,
        mut finished: impl FnMut(Finished<P>),
    ) -> usize
    where
        L: Packets<Packet = P>,
        L::Frame: FrameWord,
    {
        let mut posted = 0;
        while let Some(packet) = self.head {
            let resumed = self.cursor.filter(|c| c.packet == packet);
            let mut frame = match resumed {
                Some(c) => c.frame.map(|f| L::Frame::from_word(f.0)),
                None => packets.first_frame(packet),
            };
            let mut progress = Progress::from_word(packets.progress(packet));
            let mut handled = 0usize;
            let mut full = false;
            while let Some(current) = frame {
                match self.ring.post_with(|buffer| packets.copy_frame(packet, current, buffer)) {
                    Ok(slot) => {
                        if let Some(owner) = self.owners.get_mut(usize::from(slot)) {
                            *owner = Some(packet);
                        }
                        progress.in_ring += 1;
                        posted += 1;
                    }
                    Err(TxError::Full) => {
                        full = true;
                        break;
                    }
                    Err(_) => progress.failed = true,
                }
                handled += 1;
                frame = packets.next_frame(current);
            }
            if full {
                packets.set_progress(packet, progress.word());
                // A packet none of whose frames was handled yet has not started: it can still
                // be removed as a whole.
                self.cursor = (resumed.is_some() || handled > 0)
                    .then(|| CursorState { packet, frame: frame.map(|f| FrameSlot(f.to_word())) });
                break;
            }
            // Every frame is in the ring (or refused): the packet leaves the FIFO.
            progress.all_posted = true;
            packets.set_progress(packet, progress.word());
            self.cursor = None;
            self.head = packets.next(packet);
            if self.head.is_none() {
                self.tail = None;
            }
            self.waiting -= 1;
            if progress.done() {
                finished(Finished { packet, ok: !progress.failed });
            }
        }
        self.ring.flush(regs);
        posted
    }

    /// Frees the slots the device has sent, crediting their packets; each packet that is then
    /// done goes to `finished`. Reads no register. Returns the slots freed.
    pub fn reclaim<L: Packets<Packet = P>>(
        &mut self,
        packets: &mut L,
        mut finished: impl FnMut(Finished<P>),
    ) -> u16 {
        let owners = &mut *self.owners;
        self.ring.reclaim_each(|slot| {
            let Some(packet) = owners.get_mut(usize::from(slot)).and_then(Option::take) else {
                return;
            };
            let mut progress = Progress::from_word(packets.progress(packet));
            progress.in_ring = progress.in_ring.saturating_sub(1);
            packets.set_progress(packet, progress.word());
            if progress.done() {
                finished(Finished { packet, ok: !progress.failed });
            }
        })
    }

    /// The device is gone (surprise removal): gives up every frame in the ring and every packet
    /// in the FIFO, a partly posted head included. Each packet goes to `finished` exactly once,
    /// failed; a later [`reclaim`](Self::reclaim) finds no owner for the abandoned slots, so a
    /// stale write-back completes nothing twice. Touches no register. Returns the packets
    /// finished.
    pub fn abandon<L: Packets<Packet = P>>(
        &mut self,
        packets: &mut L,
        mut finished: impl FnMut(Finished<P>),
    ) -> usize {
        let mut count = 0;
        let mut give_up = |packets: &mut L, packet: P, in_ring: u32| {
            let mut progress = Progress::from_word(packets.progress(packet));
            progress.in_ring = progress.in_ring.saturating_sub(in_ring);
            progress.all_posted = true;
            progress.failed = true;
            packets.set_progress(packet, progress.word());
            if progress.done() {
                finished(Finished { packet, ok: false });
                count += 1;
            }
        };
        // The FIFO: the frames not posted yet never will be.
        let mut next = self.head.take();
        while let Some(packet) = next {
            next = packets.next(packet);
            packets.set_next(packet, None);
            give_up(packets, packet, 0);
        }
        self.tail = None;
        self.cursor = None;
        self.waiting = 0;
        // The ring: each frame in it is given up (its packet finishes with its last one).
        for owner in self.owners.iter_mut() {
            if let Some(packet) = owner.take() {
                give_up(packets, packet, 1);
            }
        }
        count
    }

    /// Takes every packet out of the FIFO that has no frame in the ring yet and for which
    /// `remove` says yes (cancellation, pause), handing each to `removed`. A partly posted
    /// head stays (its frames are on their way). Returns how many were removed.
    pub fn remove_waiting<L: Packets<Packet = P>>(
        &mut self,
        packets: &mut L,
        mut remove: impl FnMut(&L, P) -> bool,
        mut removed: impl FnMut(P),
    ) -> usize {
        let mut kept_head: Option<P> = None;
        let mut kept_tail: Option<P> = None;
        let mut count = 0;
        let mut next = self.head;
        while let Some(packet) = next {
            next = packets.next(packet);
            let started = self.cursor.is_some_and(|c| c.packet == packet);
            if !started && remove(packets, packet) {
                packets.set_next(packet, None);
                removed(packet);
                count += 1;
                continue;
            }
            packets.set_next(packet, None);
            match kept_tail {
                Some(tail) => packets.set_next(tail, Some(packet)),
                None => kept_head = Some(packet),
            }
            kept_tail = Some(packet);
        }
        self.head = kept_head;
        self.tail = kept_tail;
        self.waiting -= count;
        count
    }
}
