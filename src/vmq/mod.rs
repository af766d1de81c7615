//! The VMQ control path, as pure logic: what the adapter reports, the VMQ OIDs' buffers, the
//! queue state machine, and the model of queues and filters with the VMDq register image it
//! implies.
//!
//! * [`capabilities`]: the receive-filter capabilities (hardware and current).
//! * [`state`]: one VM queue's state machine (ndis-vmq-spec §2.3).
//! * [`oids`]: parsers and writers for the VMQ OIDs' information buffers (§2.2).

pub mod capabilities;
pub mod oids;
pub mod state;
