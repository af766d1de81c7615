//! What the fuzz targets share: a reader that takes structured values from the fuzzer's bytes
//! (zeros once they run out, so every input is usable), and the checks every VMQ OID parser
//! must pass whatever the bytes.

use core::fmt::Debug;

use vmqnic::ndis::{NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_NOT_SUPPORTED};
use vmqnic::vmq::oids::{OidError, Parsed};

/// Takes little-endian values from the front of the fuzzer's input.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next `N` bytes, zero-padded past the end.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let n = N.min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        out
    }

    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// The next `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// The next `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// The next `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// The next byte's low bit.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    /// Everything not taken yet.
    #[must_use]
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// The checks every VMQ OID parser passes for any `buffer`, whatever it returns:
///
/// * success: `bytes_read` ≤ the buffer, and the parser read nothing beyond it (the first
///   `bytes_read` bytes alone parse to the same request);
/// * too short: `BytesNeeded` is more than the buffer holds;
/// * refused: with `NDIS_STATUS_INVALID_PARAMETER` or `NDIS_STATUS_NOT_SUPPORTED` only.
///
/// # Panics
/// When one of them fails (the fuzzer's crash).
pub fn check_vmq_parser<T: Copy + Debug + PartialEq>(
    buffer: &[u8],
    parse: fn(&[u8]) -> Result<Parsed<T>, OidError>,
) -> Option<Parsed<T>> {
    match parse(buffer) {
        Ok(parsed) => {
            let read = usize::try_from(parsed.bytes_read).expect("u32 fits usize");
            assert!(read <= buffer.len(), "bytes_read {read} beyond the {} bytes", buffer.len());
            assert_eq!(parse(&buffer[..read]), Ok(parsed), "read beyond bytes_read");
            Some(parsed)
        }
        Err(OidError::TooShort { needed }) => {
            let needed = usize::try_from(needed).expect("u32 fits usize");
            assert!(needed > buffer.len(), "needed {needed} for {} bytes", buffer.len());
            None
        }
        Err(OidError::Rejected(status)) => {
            assert!(
                status == NDIS_STATUS_INVALID_PARAMETER || status == NDIS_STATUS_NOT_SUPPORTED,
                "status {status:#x}"
            );
            None
        }
    }
}
