//! The NDIS glue: `extern "system"` callbacks NDIS calls, and the few helpers that call NDIS
//! imports. It holds the NDIS handles and applies the decisions of the pure layers
//! ([`crate::interrupt`]); it has no policy of its own.
//!
//! Every `unsafe` block here performs exactly one unsafe operation, with a `// SAFETY:` note
//! saying why the contract holds. Buffers NDIS or PnP hand over are turned into byte slices
//! once, with their length bounded, and parsed by safe code.

pub mod msix;
pub mod pnp;

/// Pool tags, one per purpose (Driver Verifier's pool tracking and `!poolused` show them as
/// the four characters in memory order).
pub mod tags {
    /// The add-device context.
    pub const ADD_DEVICE_CONTEXT: u32 = u32::from_ne_bytes(*b"VqAd");
    /// The edited resource-requirements list (freed by the PnP manager, not by the driver).
    pub const REQUIREMENTS_LIST: u32 = u32::from_ne_bytes(*b"VqRl");
    /// The RSS processor-information buffer (freed before FilterResourceRequirements returns).
    pub const RSS_PROCESSOR_INFO: u32 = u32::from_ne_bytes(*b"VqRs");
}
