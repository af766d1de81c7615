//! OID requests, as pure logic: typed answers to queries written into the caller's output
//! slice (never read back), and validated sets that change a copy of the settings only when
//! the whole input is valid. The glue in `miniport` turns `NDIS_OID_REQUEST` into these calls
//! and writes `BytesWritten`/`BytesRead`/`BytesNeeded` from the [`Outcome`].

pub mod general;

use crate::ndis::{
    NDIS_STATUS, NDIS_STATUS_BUFFER_TOO_SHORT, NDIS_STATUS_INVALID_LENGTH, NDIS_STATUS_SUCCESS,
};

/// How an OID request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success: `bytes` were written (query) or read (set). `needed` is what a full answer
    /// takes; it exceeds `bytes` only for 64-bit counters answered in a 4-byte buffer.
    Done {
        /// Bytes written or read.
        bytes: u32,
        /// Bytes a complete answer needs.
        needed: u32,
    },
    /// The buffer is too small: nothing was written or changed; `needed` bytes are required.
    TooShort {
        /// Minimum buffer length.
        needed: u32,
    },
    /// Refused with this status (unsupported OID, invalid data, …); nothing was written or
    /// changed.
    Failed(NDIS_STATUS),
}

impl Outcome {
    /// The status to return, for a query (`BUFFER_TOO_SHORT` when short) or a set
    /// (`INVALID_LENGTH` when short).
    #[must_use]
    pub const fn status(self, is_set: bool) -> NDIS_STATUS {
        match self {
            Self::Done { .. } => NDIS_STATUS_SUCCESS,
            Self::TooShort { .. } if is_set => NDIS_STATUS_INVALID_LENGTH,
            Self::TooShort { .. } => NDIS_STATUS_BUFFER_TOO_SHORT,
            Self::Failed(status) => status,
        }
    }

    /// `BytesWritten` (query) or `BytesRead` (set).
    #[must_use]
    pub const fn bytes(self) -> u32 {
        match self {
            Self::Done { bytes, .. } => bytes,
            _ => 0,
        }
    }

    /// `BytesNeeded`.
    #[must_use]
    pub const fn needed(self) -> u32 {
        match self {
            Self::Done { needed, .. } | Self::TooShort { needed } => needed,
            Self::Failed(_) => 0,
        }
    }
}

/// Writes `value` into `out` if it fits entirely.
pub(crate) fn answer(out: &mut [u8], value: &[u8]) -> Outcome {
    let needed = u32::try_from(value.len()).unwrap_or(u32::MAX);
    match out.get_mut(..value.len()) {
        Some(slot) => {
            slot.copy_from_slice(value);
            Outcome::Done { bytes: needed, needed }
        }
        None => Outcome::TooShort { needed },
    }
}

/// Writes a 64-bit counter the way NDIS 6 statistics OIDs answer it (and NDISTest's
/// 1c_64BitOIDs job checks): 8 bytes when the buffer holds 8; the low 32 bits when it holds
/// only 4 (with `BytesNeeded` = 8 so the caller can learn the full width); too short below 4.
pub(crate) fn answer_counter(out: &mut [u8], value: u64) -> Outcome {
    if out.len() >= 8 {
        return answer(out, &value.to_le_bytes());
    }
    // Truncation to the low half is exactly the documented 4-byte answer.
    #[allow(clippy::cast_possible_truncation)]
    let low = value as u32;
    match answer(out, &low.to_le_bytes()) {
        Outcome::Done { bytes, .. } => Outcome::Done { bytes, needed: 8 },
        _ => Outcome::TooShort { needed: 8 },
    }
}
