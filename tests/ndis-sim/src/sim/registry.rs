//! The adapter's registry, as NdisOpenConfigurationEx / NdisReadConfiguration serve it: the
//! values of its driver (instance) key ([`SimConfig::keywords`](super::SimConfig::keywords)),
//! the conversions ndis.sys applies when a driver reads them, and the memory NDIS hands the
//! driver for each value read.
//!
//! # What a read returns (ndis.sys, as its NdisReadConfiguration does it)
//!
//! * A REG_DWORD comes back as `NdisParameterInteger`, whatever type was asked for.
//! * A REG_SZ asked for as `NdisParameterInteger` (or `NdisParameterHexInteger`) is converted
//!   with RtlUnicodeStringToInteger in base 10 (or 16) and comes back as that type. ndis.sys
//!   ignores the conversion's status, so every string becomes some number
//!   ([`string_to_integer`]: `"abc"` is 0, `"1x"` is 1, `"-1"` is 0xFFFFFFFF). Asked for as
//!   any other type, it comes back as `NdisParameterString`.
//! * A REG_MULTI_SZ comes back as `NdisParameterMultiString`, a REG_BINARY as
//!   `NdisParameterBinary`.
//!
//! With [`StringConversion::None`] strings are never converted: the WDK documentation says
//! NDIS ignores `ParameterType`, and a driver must cope with a string where it asked for an
//! integer.
//!
//! # The memory
//!
//! Each value read gets its own anonymous mapping (the `NDIS_CONFIGURATION_PARAMETER`, then
//! the characters or bytes). NdisCloseConfiguration makes the mappings of its handle
//! inaccessible (`PROT_NONE`) rather than freeing them, so a driver that uses a value after the
//! close faults at once, as it would with Driver Verifier's special pool, instead of reading
//! stale memory. The mappings are released when the simulation ends.

use std::mem::size_of;

use vmqnic::ndis::{
    BINARY_DATA, NDIS_CONFIGURATION_PARAMETER, NDIS_CONFIGURATION_PARAMETER_DATA,
    NDIS_PARAMETER_TYPE, NDIS_STATUS, NDIS_STRING, NdisParameterBinary, NdisParameterHexInteger,
    NdisParameterInteger, NdisParameterMultiString, NdisParameterString,
};
use vmqnic::vmq::keywords::{KEYWORDS, Role};

/// A value of the adapter's driver key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeywordValue {
    /// REG_DWORD.
    Dword(u32),
    /// REG_SZ (how the class installer stores every `Ndi\Params` keyword).
    String(String),
    /// REG_MULTI_SZ.
    MultiString(Vec<String>),
    /// REG_BINARY.
    Binary(Vec<u8>),
}

impl KeywordValue {
    /// A REG_SZ.
    #[must_use]
    pub fn string(text: &str) -> Self {
        KeywordValue::String(text.to_owned())
    }
}

/// Whether ndis.sys converts a REG_SZ that a driver reads as an integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StringConversion {
    /// As ndis.sys does: RtlUnicodeStringToInteger, base 10 (16 for HexInteger).
    #[default]
    Ndis,
    /// Never: a REG_SZ always comes back as `NdisParameterString`.
    None,
}

/// The registry of a freshly installed adapter: every keyword of the INF's `Ndi\Params` with
/// its default, as REG_SZ (the class installer writes each `default` there). The hidden
/// `*RssOrVmqPreference` is absent: the OS, not the INF, sets it. The defaults are the driver's
/// (`vmqnic::vmq::keywords`), which `tests/inf_keywords.rs` proves equal to the INF's.
#[must_use]
pub fn inf_defaults() -> Vec<(String, KeywordValue)> {
    KEYWORDS
        .iter()
        .filter(|k| k.role != Role::HiddenReadByDriver)
        .map(|k| (k.name.to_owned(), KeywordValue::String(k.default.to_string())))
        .collect()
}

/// RtlUnicodeStringToInteger as ndis.sys uses it, on the characters of a REG_SZ: leading
/// characters up to and including the space are skipped, then an optional `+` or `-`, then
/// digits of `base` (letters either case) up to the first character that is not one; the
/// result wraps modulo 2^32 and is negated for `-`. Nothing is an error: no digit gives 0.
/// (The behaviour of ReactOS's and Wine's implementations, which match Windows'.)
#[must_use]
pub fn string_to_integer(units: &[u16], base: u32) -> u32 {
    let mut rest = units;
    while let [first, tail @ ..] = rest
        && *first <= u16::from(b' ')
    {
        rest = tail;
    }
    let mut negative = false;
    if let [sign, tail @ ..] = rest
        && (*sign == u16::from(b'+') || *sign == u16::from(b'-'))
    {
        negative = *sign == u16::from(b'-');
        rest = tail;
    }
    let mut total = 0u32;
    for &unit in rest {
        let digit = char::from_u32(u32::from(unit)).and_then(|c| c.to_digit(36));
        match digit {
            Some(digit) if digit < base => {
                total = total.wrapping_mul(base).wrapping_add(digit);
            }
            _ => break,
        }
    }
    if negative { total.wrapping_neg() } else { total }
}

/// One NdisReadConfiguration call, as [`Sim::configuration_reads`](super::Sim::configuration_reads)
/// lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigurationRead {
    /// The configuration handle it was called with.
    pub handle: usize,
    /// The keyword's name (empty if the `NDIS_STRING` was malformed).
    pub keyword: String,
    /// The `ParameterType` asked for.
    pub requested: NDIS_PARAMETER_TYPE,
    /// The status it returned.
    pub status: NDIS_STATUS,
    /// The `ParameterType` of the value it returned (`None`: nothing returned).
    pub returned: Option<NDIS_PARAMETER_TYPE>,
}

/// What NdisReadConfiguration hands back for one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Returned {
    /// `IntegerData`, with its type.
    Integer(NDIS_PARAMETER_TYPE, u32),
    /// `StringData` (these characters), with its type.
    Text(NDIS_PARAMETER_TYPE, Vec<u16>),
    /// `BinaryData`.
    Binary(Vec<u8>),
}

impl Returned {
    /// The `ParameterType` it comes back with.
    pub(crate) fn parameter_type(&self) -> NDIS_PARAMETER_TYPE {
        match self {
            Returned::Integer(kind, _) | Returned::Text(kind, _) => *kind,
            Returned::Binary(_) => NdisParameterBinary,
        }
    }
}

/// What reading `value` as `requested` returns (see the module docs).
pub(crate) fn returned(
    value: &KeywordValue,
    requested: NDIS_PARAMETER_TYPE,
    conversion: StringConversion,
) -> Returned {
    match value {
        KeywordValue::Dword(number) => Returned::Integer(NdisParameterInteger, *number),
        KeywordValue::String(text) => {
            let units: Vec<u16> = text.encode_utf16().collect();
            let base = if requested == NdisParameterInteger {
                Some(10)
            } else if requested == NdisParameterHexInteger {
                Some(16)
            } else {
                None
            };
            let base = base.filter(|_| conversion == StringConversion::Ndis);
            let Some(base) = base else {
                return Returned::Text(NdisParameterString, units);
            };
            Returned::Integer(requested, string_to_integer(&units, base))
        }
        KeywordValue::MultiString(strings) => {
            let mut units = Vec::new();
            for string in strings {
                units.extend(string.encode_utf16());
                units.push(0);
            }
            units.push(0);
            Returned::Text(NdisParameterMultiString, units)
        }
        KeywordValue::Binary(bytes) => Returned::Binary(bytes.clone()),
    }
}

const PAGE: usize = 4096;

/// One value's memory: an anonymous mapping holding the `NDIS_CONFIGURATION_PARAMETER` and,
/// after it, its characters or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParameterBlock {
    /// The mapping (and the parameter) address.
    pub(crate) address: usize,
    /// Bytes mapped (whole pages).
    pub(crate) length: usize,
}

/// Where the characters or bytes start (8-aligned, after the parameter).
const DATA_OFFSET: usize = size_of::<NDIS_CONFIGURATION_PARAMETER>();

/// Maps a block and writes `value` into it; `None` if it does not fit a `USHORT` length or
/// mmap fails (NDIS_STATUS_RESOURCES).
pub(crate) fn allocate(value: &Returned) -> Option<ParameterBlock> {
    let data: Vec<u8> = match value {
        Returned::Integer(..) => Vec::new(),
        // The characters, then a terminating NUL (not counted in `Length`).
        Returned::Text(_, units) => {
            units.iter().chain(&[0]).flat_map(|u| u.to_le_bytes()).collect()
        }
        Returned::Binary(bytes) => bytes.clone(),
    };
    let payload = match value {
        Returned::Text(..) => data.len() - 2,
        _ => data.len(),
    };
    let payload = u16::try_from(payload).ok()?;
    let length = (DATA_OFFSET + data.len()).next_multiple_of(PAGE);
    // SAFETY: a fresh private anonymous mapping at an address the kernel chooses (NULL hint):
    // nothing existing is replaced. The result is checked against MAP_FAILED.
    let mapping = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            length,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mapping == libc::MAP_FAILED {
        return None;
    }
    let base = mapping.cast::<u8>();
    let parameter_address = mapping.cast::<NDIS_CONFIGURATION_PARAMETER>();
    let data_address = base.wrapping_add(DATA_OFFSET);
    let parameter = NDIS_CONFIGURATION_PARAMETER {
        ParameterType: value.parameter_type(),
        ParameterData: match value {
            Returned::Integer(_, number) => {
                NDIS_CONFIGURATION_PARAMETER_DATA { IntegerData: *number }
            }
            Returned::Text(..) => NDIS_CONFIGURATION_PARAMETER_DATA {
                StringData: NDIS_STRING {
                    Length: payload,
                    MaximumLength: payload.saturating_add(2),
                    Buffer: data_address.cast(),
                },
            },
            Returned::Binary(_) => NDIS_CONFIGURATION_PARAMETER_DATA {
                BinaryData: BINARY_DATA { Length: payload, Buffer: data_address.cast() },
            },
        },
    };
    // SAFETY: the mapping is `length` >= DATA_OFFSET + data bytes long, readable and writable,
    // page-aligned (so aligned for the parameter), and nothing else refers to it yet.
    unsafe { parameter_address.write(parameter) };
    // SAFETY: `data.len()` bytes fit after DATA_OFFSET (see `length`); the source is a
    // distinct heap buffer.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), data_address, data.len()) };
    Some(ParameterBlock { address: base as usize, length })
}

/// Makes a block inaccessible (NdisCloseConfiguration): any later access faults.
pub(crate) fn revoke(block: ParameterBlock) {
    // SAFETY: `block` is one live mapping from `allocate`; the simulator holds no reference
    // into it. Dropping its access rights cannot break memory safety on the simulator's side.
    let _ = unsafe {
        libc::mprotect(block.address as *mut libc::c_void, block.length, libc::PROT_NONE)
    };
}

/// Unmaps a block (the end of the simulation).
pub(crate) fn release(block: ParameterBlock) {
    // SAFETY: `block` is one mapping from `allocate`, released once (the caller forgets it);
    // the simulator holds no reference into it.
    let _ = unsafe { libc::munmap(block.address as *mut libc::c_void, block.length) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str) -> Vec<u16> {
        text.encode_utf16().collect()
    }

    #[test]
    fn rtl_unicode_string_to_integer_as_ndis_uses_it() {
        let cases = [
            ("1", 10, 1),
            ("0", 10, 0),
            ("  42", 10, 42),
            ("+7", 10, 7),
            ("-1", 10, u32::MAX),
            ("abc", 10, 0),
            ("1x", 10, 1),
            ("0x10", 10, 0),
            ("", 10, 0),
            ("4294967297", 10, 1),
            ("ff", 16, 255),
            ("FF", 16, 255),
            ("12", 16, 0x12),
            ("\t9", 10, 9),
        ];
        for (text, base, expected) in cases {
            assert_eq!(string_to_integer(&units(text), base), expected, "{text:?} base {base}");
        }
    }

    #[test]
    fn what_a_read_returns() {
        let ndis = StringConversion::Ndis;
        let one = KeywordValue::string("1");
        assert_eq!(returned(&one, NdisParameterInteger, ndis), Returned::Integer(0, 1));
        assert_eq!(returned(&one, NdisParameterHexInteger, ndis), Returned::Integer(1, 1));
        assert_eq!(returned(&one, NdisParameterString, ndis), Returned::Text(2, units("1")));
        assert_eq!(
            returned(&one, NdisParameterInteger, StringConversion::None),
            Returned::Text(2, units("1"))
        );
        assert_eq!(
            returned(&KeywordValue::Dword(5), NdisParameterString, ndis),
            Returned::Integer(0, 5)
        );
        let multi = KeywordValue::MultiString(vec!["a".into(), "b".into()]);
        assert_eq!(
            returned(&multi, NdisParameterInteger, ndis),
            Returned::Text(3, vec![0x61, 0, 0x62, 0, 0])
        );
        assert_eq!(
            returned(&KeywordValue::Binary(vec![1, 2]), NdisParameterInteger, ndis),
            Returned::Binary(vec![1, 2])
        );
    }

    #[test]
    fn the_defaults_are_the_inf_keywords() {
        let names: Vec<String> = inf_defaults().into_iter().map(|(name, _)| name).collect();
        assert!(names.contains(&"*VMQ".to_owned()));
        assert!(!names.contains(&"*RssOrVmqPreference".to_owned()));
        assert_eq!(names.len(), 8);
    }
}
