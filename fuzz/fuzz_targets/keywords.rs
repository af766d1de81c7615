//! The keywords interpreter: any keyword, any registry value (an integer, a string of any
//! UTF-16 units, missing, of another type). The setting is always one the keyword allows, the
//! registry's number exactly when the keyword allows it; strings are plain decimal or nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::vmq::keywords::{Configuration, KEYWORDS, RegistryValue, Source, parse_decimal};
use vmqnic_fuzz::Reader;

/// The reference for `parse_decimal`: blanks trimmed, then ASCII digits only, as a `u32`.
fn reference(units: &[u16]) -> Option<u32> {
    let text = String::from_utf16(units).ok()?;
    let digits = text.trim_matches([' ', '\t', '\r', '\n']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn value<'a>(r: &mut Reader<'_>, units: &'a [u16]) -> RegistryValue<'a> {
    match r.u8() % 4 {
        0 => RegistryValue::Missing,
        1 => RegistryValue::Integer(r.u32()),
        2 => RegistryValue::String(units),
        _ => RegistryValue::Unsupported,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let keyword = KEYWORDS[usize::from(r.u8()) % KEYWORDS.len()];
    let selectors: [u8; 8] = r.array();
    let units: Vec<u16> =
        r.rest().chunks(2).map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect();
    assert_eq!(parse_decimal(&units), reference(&units), "parse_decimal disagrees");

    let mut choice = Reader::new(&selectors);
    let registry = value(&mut choice, &units);
    let setting = keyword.interpret(registry);
    assert!(keyword.allows(setting.value), "{} = {}", keyword.name, setting.value);
    let number = match registry {
        RegistryValue::Integer(n) => Some(n),
        RegistryValue::String(units) => parse_decimal(units),
        _ => None,
    };
    match setting.source {
        Source::Registry => assert_eq!(Some(setting.value), number),
        Source::DefaultOutOfRange(n) => {
            assert_eq!(Some(n), number);
            assert!(!keyword.allows(n));
            assert_eq!(setting.value, keyword.default);
        }
        Source::DefaultMissing | Source::DefaultUnreadable => {
            assert_eq!(setting.value, keyword.default);
        }
    }
    let mut reads = 0;
    let configuration = Configuration::read(|_| {
        reads += 1;
        value(&mut choice, &units)
    });
    assert_eq!(reads, 3, "each of the three keywords read once");
    let _ = configuration;
});
