//! Which MSI-X table entries a message serves, and what each entry carries: the lookup the ISR
//! and the DPC make, without registers, locks or allocation.
//!
//! The 82576 routes each queue to a table entry (IVAR) and the "other" causes to one more;
//! the OS delivers entries as messages. An ISR learns only its `MessageId`, so it needs the
//! entries that point at that message (to mask exactly those with one EIMC write), and its DPC
//! needs what those entries carry (which rings to service, whether to read the other causes).
//! The OID path changes the table at PASSIVE_LEVEL (queue allocation, affinity change) while
//! ISRs and DPCs read it, so every field is an atomic, and a route is published by writing its
//! `serves` bits last.

use core::sync::atomic::{AtomicU32, Ordering};

/// Table entries the 82576 can address: EICR bits 0..=24 (QEMU's table has 10 entries,
/// igb-qemu §6). The driver uses at most one per pool plus one for the other causes.
pub const VECTORS: usize = crate::hw::igb::regs::NUM_VECTORS as usize;

/// `serves` bit: the entry carries the "other" causes (link change).
pub const SERVES_OTHER: u32 = 1 << 31;
/// `serves` bit: the entry carries transmit queue 0's completions.
pub const SERVES_TX: u32 = 1 << 16;

/// `serves` bit: the entry carries receive pool `pool`'s completions (pools 0..8).
#[must_use]
pub const fn serves_rx(pool: u8) -> u32 {
    if pool < 16 { 1 << pool } else { 0 }
}

/// No message (an entry not in use).
const NO_MESSAGE: u32 = u32::MAX;

/// The routes (see the module docs).
#[derive(Debug)]
pub struct VectorRoutes {
    message: [AtomicU32; VECTORS],
    serves: [AtomicU32; VECTORS],
}

impl Default for VectorRoutes {
    fn default() -> Self {
        Self::new()
    }
}

/// What one message serves: the EIMS/EIMC bits of its entries and the union of what they carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageRoute {
    /// Bit e: entry e points at the message and is in use.
    pub entries: u32,
    /// The union of the entries' `serves` bits.
    pub serves: u32,
}

impl MessageRoute {
    /// Receive pools to service, as a bit mask (bit p = pool p).
    #[must_use]
    pub const fn rx_pools(&self) -> u32 {
        self.serves & 0xFFFF
    }
}

impl VectorRoutes {
    /// No entry in use.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            message: [const { AtomicU32::new(NO_MESSAGE) }; VECTORS],
            serves: [const { AtomicU32::new(0) }; VECTORS],
        }
    }

    /// Entry `entry` points at `message` and carries `serves` (replacing what it carried).
    /// `false` (nothing changes) for an entry the device cannot address.
    pub fn set(&self, entry: u32, message: u32, serves: u32) -> bool {
        let Some((m, s)) = self.slot(entry) else { return false };
        m.store(message, Ordering::Relaxed);
        s.store(serves, Ordering::Release);
        true
    }

    /// Entry `entry` now points at `message` (a re-point); what it carries is unchanged.
    pub fn set_message(&self, entry: u32, message: u32) -> bool {
        let Some((m, _)) = self.slot(entry) else { return false };
        m.store(message, Ordering::Release);
        true
    }

    /// Adds `serves` bits to entry `entry`, which must already point at a message.
    pub fn add(&self, entry: u32, serves: u32) -> bool {
        let Some((_, s)) = self.slot(entry) else { return false };
        s.fetch_or(serves, Ordering::AcqRel);
        true
    }

    /// Removes `serves` bits from entry `entry`; the entry is unused once nothing is left.
    pub fn remove(&self, entry: u32, serves: u32) -> bool {
        let Some((_, s)) = self.slot(entry) else { return false };
        s.fetch_and(!serves, Ordering::AcqRel);
        true
    }

    /// What `message` serves now.
    #[must_use]
    pub fn for_message(&self, message: u32) -> MessageRoute {
        let mut route = MessageRoute::default();
        for (bit, (m, s)) in self.message.iter().zip(&self.serves).enumerate() {
            let serves = s.load(Ordering::Acquire);
            if serves != 0 && m.load(Ordering::Relaxed) == message {
                route.entries |= 1 << bit;
                route.serves |= serves;
            }
        }
        route
    }

    /// The entries that carry a receive pool, as a bit mask (bit e = entry e).
    #[must_use]
    pub fn receive_entries(&self) -> u32 {
        (0u32..)
            .zip(&self.serves)
            .filter(|(_, s)| s.load(Ordering::Acquire) & 0xFFFF != 0)
            .fold(0, |mask, (entry, _)| mask | 1 << entry)
    }

    /// The entry carrying `serves_bits` (all of them), if any.
    #[must_use]
    pub fn entry_serving(&self, serves_bits: u32) -> Option<u32> {
        (0u32..)
            .zip(&self.serves)
            .find(|(_, s)| {
                serves_bits != 0 && s.load(Ordering::Acquire) & serves_bits == serves_bits
            })
            .map(|(entry, _)| entry)
    }

    fn slot(&self, entry: u32) -> Option<(&AtomicU32, &AtomicU32)> {
        let index = usize::try_from(entry).ok()?;
        Some((self.message.get(index)?, self.serves.get(index)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_gathers_its_entries_and_what_they_carry() {
        let routes = VectorRoutes::new();
        assert!(routes.set(0, 0, SERVES_OTHER));
        assert!(routes.set(1, 3, serves_rx(0) | SERVES_TX));
        assert!(routes.set(4, 3, serves_rx(2)));
        assert!(routes.set(2, 5, serves_rx(1)));
        assert!(!routes.set(25, 1, serves_rx(3)), "no such entry");
        let three = routes.for_message(3);
        assert_eq!(three.entries, 0b1_0010);
        assert_eq!(three.rx_pools(), 0b101);
        assert_ne!(three.serves & SERVES_TX, 0);
        assert_eq!(routes.for_message(0), MessageRoute { entries: 1, serves: SERVES_OTHER });
        assert_eq!(routes.for_message(7), MessageRoute::default());
        assert_eq!(routes.entry_serving(serves_rx(2)), Some(4));
        assert_eq!(routes.receive_entries(), 0b1_0110);
        assert!(routes.remove(4, serves_rx(2)));
        assert_eq!(routes.for_message(3).entries, 0b10, "an entry carrying nothing is unused");
        assert!(routes.add(2, serves_rx(3)));
        assert!(routes.set_message(2, 6));
        assert_eq!(routes.for_message(5).entries, 0);
        assert_eq!(routes.for_message(6).entries, 0b100);
        assert!(routes.set_message(2, 5));
        assert_eq!(routes.for_message(5).rx_pools(), 0b1010);
        assert_eq!(serves_rx(16), 0);
    }
}
