//! Little-endian field access over byte slices, for parsers of buffers NDIS and PnP hand the
//! driver. Every read is bounds-checked and returns `None` instead of panicking; every write
//! returns `false` when the field does not fit. x64 Windows is little-endian, so these are the
//! in-memory layouts of the `ndis` structures.

/// Reads the `N` bytes at `offset`, or `None` if they are not all inside `bytes`.
#[must_use]
pub fn read_array<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    let end = offset.checked_add(N)?;
    bytes.get(offset..end)?.try_into().ok()
}

/// Reads a `u8` at `offset`.
#[must_use]
pub fn read_u8(bytes: &[u8], offset: usize) -> Option<u8> {
    bytes.get(offset).copied()
}

/// Reads a little-endian `u16` at `offset`.
#[must_use]
pub fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    read_array(bytes, offset).map(u16::from_le_bytes)
}

/// Reads a little-endian `u32` at `offset`.
#[must_use]
pub fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    read_array(bytes, offset).map(u32::from_le_bytes)
}

/// Reads a little-endian `u64` at `offset` (no alignment needed: the packed `CM_*` lists hold
/// 64-bit fields at 4-byte boundaries).
#[must_use]
pub fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    read_array(bytes, offset).map(u64::from_le_bytes)
}

/// Writes `value` at `offset`; `false` (and nothing written) if it does not fit.
pub fn write_array<const N: usize>(bytes: &mut [u8], offset: usize, value: [u8; N]) -> bool {
    let Some(end) = offset.checked_add(N) else { return false };
    match bytes.get_mut(offset..end) {
        Some(field) => {
            field.copy_from_slice(&value);
            true
        }
        None => false,
    }
}

/// Writes a little-endian `u16` at `offset`.
pub fn write_u16(bytes: &mut [u8], offset: usize, value: u16) -> bool {
    write_array(bytes, offset, value.to_le_bytes())
}

/// Writes a little-endian `u32` at `offset`.
pub fn write_u32(bytes: &mut [u8], offset: usize, value: u32) -> bool {
    write_array(bytes, offset, value.to_le_bytes())
}

/// Writes a little-endian `u64` at `offset`.
pub fn write_u64(bytes: &mut [u8], offset: usize, value: u64) -> bool {
    write_array(bytes, offset, value.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_little_endian_and_bounded() {
        let bytes = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(read_u16(&bytes, 0), Some(0x0201));
        assert_eq!(read_u32(&bytes, 1), Some(0x0504_0302));
        assert_eq!(read_u64(&bytes, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(read_u64(&bytes, 2), None);
        assert_eq!(read_u32(&bytes, usize::MAX - 1), None);
        assert_eq!(read_u8(&bytes, 9), None);
    }

    #[test]
    fn writes_are_all_or_nothing() {
        let mut bytes = [0u8; 6];
        assert!(write_u32(&mut bytes, 2, 0xAABB_CCDD));
        assert_eq!(bytes, [0, 0, 0xDD, 0xCC, 0xBB, 0xAA]);
        assert!(!write_u32(&mut bytes, 3, 0x1122_3344));
        assert_eq!(bytes, [0, 0, 0xDD, 0xCC, 0xBB, 0xAA]);
        assert!(!write_u16(&mut bytes, usize::MAX, 1));
        assert!(write_u16(&mut bytes, 4, 0x0102));
        assert!(write_u64(&mut [0u8; 8], 0, u64::MAX));
    }
}
