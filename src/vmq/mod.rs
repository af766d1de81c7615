//! The VMQ control path, as pure logic: what the adapter reports, the VMQ OIDs' buffers, the
//! queue state machine, and the model of queues and filters with the VMDq register image it
//! implies.
//!
//! * [`capabilities`]: the receive-filter capabilities (hardware and current), and the model
//!   configuration the current ones imply.
//! * [`keywords`]: the standardized INF keywords (names, defaults, values) and what the driver
//!   makes of the values it reads ([`keywords::Configuration`]).
//! * [`state`]: one VM queue's state machine (ndis-vmq-spec §2.3).
//! * [`oids`]: parsers and writers for the VMQ OIDs' information buffers (§2.2).
//! * [`model`]: the queues, filters and hardware slots of the adapter ([`model::Vmq`]), every
//!   operation all-or-nothing.
//! * [`image`]: the VMDq registers the model implies ([`image::HardwareImage`]) and the minimal
//!   register changes between two images.

pub mod capabilities;
pub mod image;
pub mod keywords;
pub mod model;
pub mod oids;
pub mod state;
