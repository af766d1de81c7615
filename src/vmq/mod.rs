//! The VMQ control path, as pure logic: what the adapter reports and (from issue [5/8] on) the
//! queue state machine, the filter table and the parsing of VMQ OIDs.

pub mod capabilities;
