//! The standardized INF keywords of the driver package (spec §6.1), as pure logic: each
//! keyword's name, default and allowed values ([`Keyword`]), and what the driver makes of the
//! values MiniportInitializeEx reads from the registry ([`Configuration`]).
//!
//! This module is the one source of truth for those numbers: the driver takes its defaults
//! from here, and `tests/inf_keywords.rs` checks that `inf/vmqnic.inx` declares exactly these
//! keywords with exactly these defaults and values (and these against the spec's tables).
//!
//! # What is read, and what each value does
//!
//! The driver reads three keywords, in this order ([`READ_BY_DRIVER`]):
//!
//! | keyword | values (default) | effect |
//! |---|---|---|
//! | `*RssOrVmqPreference` | 0 RSS, 1 VMQ (**0**) | recorded only (see below) |
//! | `*VMQ` | 0, 1 (**1**) | 0: VMQ is off. The current receive-filter capabilities carry only their header, and no VMQ model exists, so every VM-queue OID is refused |
//! | `*VMQVlanFiltering` | 0, 1 (**1**) | 0: `NDIS_RECEIVE_FILTER_MAC_HEADER_VLAN_ID_SUPPORTED` is cleared in the current capabilities, and the model refuses filters on a VLAN id |
//!
//! Each value goes through [`Keyword::interpret`]: a value that is missing, not an integer,
//! or not one of the keyword's values is replaced by the keyword's default. Nothing read from
//! the registry can make the driver panic or fail MiniportInitializeEx.
//!
//! The RSS keywords of the INF (`*RssBaseProcGroup`, `*MaxRssProcessors`, …) are never read by
//! the driver: NDIS reads them, and they shape what NdisGetRssProcessorInformation returns,
//! the processor set the VMQ interrupts are spread over. The documentation reserves them in VMQ
//! mode, and forbids reading the legacy `*TenGigVmqEnabled`; the driver reads neither.
//!
//! # `*RssOrVmqPreference`
//!
//! The documentation ("Handling SR-IOV, VMQ, and RSS Standardized INF Keywords") describes it
//! for adapters that support both RSS and VMQ: 1 selects VMQ, 0 or absent selects RSS, and the
//! two are never enabled together. This driver implements VMQ only, so there is nothing to
//! choose between: like Microsoft's VMQ sample miniport (NETVMINI 6.30, whose `*VMQ` comment
//! says the preference decides only for a miniport that supports RSS as well), it reads `*VMQ`
//! whatever the preference says. The preference is read first, as spec §1.7 step 3 orders, and
//! kept in [`Configuration::rss_or_vmq_preference`], but it turns nothing on or off.
//!
//! # How NDIS hands the values over
//!
//! The class installer stores an enumeration keyword as REG_SZ (`"0"`, `"1"`). The driver asks
//! for `NdisParameterInteger`, and ndis.sys converts a REG_SZ with RtlUnicodeStringToInteger in
//! base 10, so the value arrives as an integer (a REG_DWORD arrives as an integer anyway).
//! ndis.sys ignores the conversion's status, so a string that is not a number arrives as
//! whatever the conversion made of it (`"abc"`: 0, `"1x"`: 1, `"-1"`: 0xFFFFFFFF); the range
//! check here is what keeps such values in bounds. The WDK documentation says the parameter
//! type is ignored, so a string may also come back as `NdisParameterString`: the driver then
//! converts it itself, strictly ([`parse_decimal`]), and anything but a plain decimal number
//! gets the default.

/// `MAXIMUM_GROUPS` on x64: 32 processor groups of 64 (`MAXIMUM_PROC_PER_GROUP`), 2048
/// logical processors in all.
pub const MAXIMUM_GROUPS: u32 = 32;

const PROC_PER_GROUP: u32 = crate::ndis::MAXIMUM_PROC_PER_GROUP;

/// What values a keyword allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Values {
    /// An enumeration keyword (`type = "enum"`): exactly these values.
    Enum(&'static [u32]),
    /// An integer keyword (`type = "int"`): `min..=max`.
    Range {
        /// The smallest value.
        min: u32,
        /// The largest value.
        max: u32,
    },
}

/// Who reads a keyword, and whether the INF carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// In the INF's `Ndi\Params`, read by the driver at MiniportInitializeEx.
    ReadByDriver,
    /// Hidden: never in the INF nor in the UI (the OS sets it); read by the driver.
    HiddenReadByDriver,
    /// In the INF, read by NDIS only (the RSS processor set).
    ReadByNdis,
}

/// One standardized keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyword {
    /// Its name, as the registry value and the INF spell it.
    pub name: &'static str,
    /// The same name in UTF-16, for an `NDIS_STRING`.
    pub name_utf16: &'static [u16],
    /// Its documented default.
    pub default: u32,
    /// The values it allows.
    pub values: Values,
    /// Who reads it.
    pub role: Role,
}

/// `name` (ASCII) as UTF-16 code units.
const fn ascii_to_utf16<const N: usize>(name: &str) -> [u16; N] {
    let bytes = name.as_bytes();
    assert!(bytes.len() == N, "length of the keyword name");
    let mut units = [0u16; N];
    let mut i = 0;
    while i < N {
        assert!(bytes[i].is_ascii(), "keyword names are ASCII");
        // Widening u8 -> u16 (`u16::from` is not callable in a const fn).
        #[allow(clippy::cast_lossless)]
        {
            units[i] = bytes[i] as u16;
        }
        i += 1;
    }
    units
}

/// A [`Keyword`] whose `name_utf16` is built from its `name` at compile time.
macro_rules! keyword {
    ($name:literal, default $default:expr, $values:expr, $role:expr) => {
        Keyword {
            name: $name,
            name_utf16: {
                const UNITS: [u16; $name.len()] = ascii_to_utf16($name);
                &UNITS
            },
            default: $default,
            values: $values,
            role: $role,
        }
    };
}

/// Disabled / enabled.
const OFF_ON: &[u32] = &[0, 1];

/// `*RssOrVmqPreference`: 0 report RSS (default), 1 report VMQ. Hidden: the OS sets it.
pub const RSS_OR_VMQ_PREFERENCE: Keyword =
    keyword!("*RssOrVmqPreference", default 0, Values::Enum(OFF_ON), Role::HiddenReadByDriver);
/// `*VMQ`: 0 disabled, 1 enabled (default).
pub const VMQ: Keyword = keyword!("*VMQ", default 1, Values::Enum(OFF_ON), Role::ReadByDriver);
/// `*VMQVlanFiltering`: 0 disabled, 1 enabled (default).
pub const VMQ_VLAN_FILTERING: Keyword =
    keyword!("*VMQVlanFiltering", default 1, Values::Enum(OFF_ON), Role::ReadByDriver);
/// `*RssBaseProcGroup`: 0..=MAXIMUM_GROUPS−1, default 0.
pub const RSS_BASE_PROC_GROUP: Keyword = keyword!(
    "*RssBaseProcGroup",
    default 0,
    Values::Range { min: 0, max: MAXIMUM_GROUPS - 1 },
    Role::ReadByNdis
);
/// `*RssBaseProcNumber`: 0..=MAXIMUM_PROC_PER_GROUP−1, default 0.
pub const RSS_BASE_PROC_NUMBER: Keyword = keyword!(
    "*RssBaseProcNumber",
    default 0,
    Values::Range { min: 0, max: PROC_PER_GROUP - 1 },
    Role::ReadByNdis
);
/// `*MaxRssProcessors`: 1..=MAXIMUM_PROC_PER_SYSTEM, default 16.
pub const MAX_RSS_PROCESSORS: Keyword = keyword!(
    "*MaxRssProcessors",
    default 16,
    Values::Range { min: 1, max: MAXIMUM_GROUPS * PROC_PER_GROUP },
    Role::ReadByNdis
);
/// `*NumaNodeId`: 0..=65535, default 65535 (any node; a PCI add-in card names none).
pub const NUMA_NODE_ID: Keyword = keyword!(
    "*NumaNodeId",
    default 65535,
    Values::Range { min: 0, max: 65535 },
    Role::ReadByNdis
);
/// `*RssMaxProcGroup`: 0..=MAXIMUM_GROUPS−1, default 0.
pub const RSS_MAX_PROC_GROUP: Keyword = keyword!(
    "*RssMaxProcGroup",
    default 0,
    Values::Range { min: 0, max: MAXIMUM_GROUPS - 1 },
    Role::ReadByNdis
);
/// `*RssMaxProcNumber`: 0..=MAXIMUM_PROC_PER_GROUP−1, default MAXIMUM_PROC_PER_GROUP−1.
pub const RSS_MAX_PROC_NUMBER: Keyword = keyword!(
    "*RssMaxProcNumber",
    default PROC_PER_GROUP - 1,
    Values::Range { min: 0, max: PROC_PER_GROUP - 1 },
    Role::ReadByNdis
);

/// Every standardized keyword of the package: the two VMQ keywords and the RSS set, which the
/// INF declares, and the hidden preference, which it must not.
pub const KEYWORDS: [&Keyword; 9] = [
    &RSS_OR_VMQ_PREFERENCE,
    &VMQ,
    &VMQ_VLAN_FILTERING,
    &RSS_BASE_PROC_GROUP,
    &RSS_BASE_PROC_NUMBER,
    &MAX_RSS_PROCESSORS,
    &NUMA_NODE_ID,
    &RSS_MAX_PROC_GROUP,
    &RSS_MAX_PROC_NUMBER,
];

/// The keywords MiniportInitializeEx reads, in the order it reads them (the preference first,
/// spec §1.7 step 3).
pub const READ_BY_DRIVER: [&Keyword; 3] = [&RSS_OR_VMQ_PREFERENCE, &VMQ, &VMQ_VLAN_FILTERING];

/// Keywords the INF must never carry although they are standardized: `*VMQLookaheadSplit` is
/// obsolete from NDIS 6.30 (Windows Server 2012). (`*RssOrVmqPreference`, hidden, is in
/// [`KEYWORDS`] with [`Role::HiddenReadByDriver`].)
pub const OBSOLETE: [&str; 1] = ["*VMQLookaheadSplit"];

/// A registry value as NdisReadConfiguration returned it (the string borrows NDIS's memory,
/// which stays valid until the configuration handle is closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryValue<'a> {
    /// NdisReadConfiguration failed: no such value (or no configuration handle at all).
    Missing,
    /// `NdisParameterInteger` or `NdisParameterHexInteger`: `IntegerData`.
    Integer(u32),
    /// `NdisParameterString`: the UTF-16 code units of `StringData`.
    String(&'a [u16]),
    /// Any other type (multi-string, binary, unknown) or a malformed string.
    Unsupported,
}

/// Where a [`Setting`]'s value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The registry, as read.
    Registry,
    /// The default: the keyword is not in the registry.
    DefaultMissing,
    /// The default: the registry holds this number, which the keyword does not allow.
    DefaultOutOfRange(u32),
    /// The default: the registry holds a value that is not a number (a string that is not
    /// plain decimal, a multi-string, binary data).
    DefaultUnreadable,
}

/// The value a keyword takes, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// One of the keyword's allowed values.
    pub value: u32,
    /// Where it came from.
    pub source: Source,
}

impl Keyword {
    /// Whether `value` is one of this keyword's values.
    #[must_use]
    pub fn allows(&self, value: u32) -> bool {
        match self.values {
            Values::Enum(values) => values.contains(&value),
            Values::Range { min, max } => (min..=max).contains(&value),
        }
    }

    /// The value this keyword takes when the registry holds `value`: the value itself if the
    /// keyword allows it, the default otherwise (missing, out of range, unreadable).
    #[must_use]
    pub fn interpret(&self, value: RegistryValue<'_>) -> Setting {
        let default = |source| Setting { value: self.default, source };
        let number = match value {
            RegistryValue::Missing => return default(Source::DefaultMissing),
            RegistryValue::Unsupported => return default(Source::DefaultUnreadable),
            RegistryValue::Integer(number) => number,
            RegistryValue::String(units) => match parse_decimal(units) {
                Some(number) => number,
                None => return default(Source::DefaultUnreadable),
            },
        };
        if self.allows(number) {
            Setting { value: number, source: Source::Registry }
        } else {
            default(Source::DefaultOutOfRange(number))
        }
    }
}

/// A plain decimal number in UTF-16: ASCII digits, with optional blanks (space, tab, CR, LF)
/// around them, no sign, at most `u32::MAX`. `None` for anything else (stricter than NDIS's
/// own conversion, which makes a number of any string).
#[must_use]
pub fn parse_decimal(units: &[u16]) -> Option<u32> {
    let blank = |unit: &u16| matches!(*unit, 0x20 | 0x09 | 0x0A | 0x0D);
    let start = units.iter().position(|u| !blank(u))?;
    let end = units.iter().rposition(|u| !blank(u))?;
    let digits = units.get(start..=end)?;
    digits.iter().try_fold(0u32, |number, &unit| {
        let digit = u32::from(unit).checked_sub(u32::from(b'0')).filter(|d| *d <= 9)?;
        number.checked_mul(10)?.checked_add(digit)
    })
}

/// `*RssOrVmqPreference`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssOrVmqPreference {
    /// 0, or absent: report RSS.
    Rss,
    /// 1: report VMQ.
    Vmq,
}

/// What the driver makes of its keywords (see the module docs for each one's effect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Configuration {
    /// `*RssOrVmqPreference`: recorded, acted on by nothing (this driver has no RSS).
    pub rss_or_vmq_preference: RssOrVmqPreference,
    /// `*VMQ` = 1.
    pub vmq_enabled: bool,
    /// `*VMQVlanFiltering` = 1.
    pub vlan_filtering: bool,
}

impl Configuration {
    /// Every keyword at its default: what an adapter whose registry holds none of them (or
    /// whose configuration could not be opened) gets.
    pub const DEFAULT: Self = Self {
        rss_or_vmq_preference: if RSS_OR_VMQ_PREFERENCE.default == 1 {
            RssOrVmqPreference::Vmq
        } else {
            RssOrVmqPreference::Rss
        },
        vmq_enabled: VMQ.default == 1,
        vlan_filtering: VMQ_VLAN_FILTERING.default == 1,
    };

    /// Reads [`READ_BY_DRIVER`] through `read` (in that order, each once) and interprets each
    /// value ([`Keyword::interpret`]).
    pub fn read<'a>(mut read: impl FnMut(&'static Keyword) -> RegistryValue<'a>) -> Self {
        let mut setting = |keyword: &'static Keyword| keyword.interpret(read(keyword)).value;
        let preference = setting(&RSS_OR_VMQ_PREFERENCE);
        let vmq = setting(&VMQ);
        let vlan_filtering = setting(&VMQ_VLAN_FILTERING);
        Self {
            rss_or_vmq_preference: if preference == 1 {
                RssOrVmqPreference::Vmq
            } else {
                RssOrVmqPreference::Rss
            },
            vmq_enabled: vmq == 1,
            vlan_filtering: vlan_filtering == 1,
        }
    }
}

impl Default for Configuration {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec::Vec;

    fn utf16(text: &str) -> Vec<u16> {
        text.encode_utf16().collect()
    }

    #[test]
    fn names_in_utf16_are_the_names() {
        for keyword in KEYWORDS {
            assert_eq!(String::from_utf16(keyword.name_utf16).unwrap(), keyword.name);
        }
    }

    #[test]
    fn every_default_is_allowed() {
        for keyword in KEYWORDS {
            assert!(keyword.allows(keyword.default), "{}", keyword.name);
        }
    }

    #[test]
    fn the_spec_section_6_1_values() {
        // Spec §6.1, literally: enumeration keywords and their defaults, then the RSS set.
        let enumerations = [("*RssOrVmqPreference", 0), ("*VMQ", 1), ("*VMQVlanFiltering", 1)];
        for (name, default) in enumerations {
            let keyword = KEYWORDS.iter().find(|k| k.name == name).unwrap();
            assert_eq!((keyword.default, keyword.values), (default, Values::Enum(&[0, 1])));
        }
        let ranges = [
            ("*RssBaseProcGroup", 0, 0, 31),
            ("*RssBaseProcNumber", 0, 0, 63),
            ("*MaxRssProcessors", 16, 1, 2048),
            ("*NumaNodeId", 65535, 0, 65535),
            ("*RssMaxProcGroup", 0, 0, 31),
            ("*RssMaxProcNumber", 63, 0, 63),
        ];
        for (name, default, min, max) in ranges {
            let keyword = KEYWORDS.iter().find(|k| k.name == name).unwrap();
            assert_eq!((keyword.default, keyword.values), (default, Values::Range { min, max }));
            assert_eq!(keyword.role, Role::ReadByNdis, "{name}");
        }
        assert_eq!(RSS_OR_VMQ_PREFERENCE.role, Role::HiddenReadByDriver);
        let read: Vec<&str> = READ_BY_DRIVER.iter().map(|k| k.name).collect();
        assert_eq!(read, ["*RssOrVmqPreference", "*VMQ", "*VMQVlanFiltering"]);
    }

    #[test]
    fn defaults_are_vmq_on_with_vlan_filtering() {
        let all_missing = Configuration::read(|_| RegistryValue::Missing);
        assert_eq!(all_missing, Configuration::DEFAULT);
        assert_eq!(
            Configuration::DEFAULT,
            Configuration {
                rss_or_vmq_preference: RssOrVmqPreference::Rss,
                vmq_enabled: true,
                vlan_filtering: true,
            }
        );
        assert_eq!(Configuration::default(), Configuration::DEFAULT);
    }

    #[test]
    fn reads_each_keyword_once_in_order() {
        let mut asked = Vec::new();
        let _ = Configuration::read(|keyword| {
            asked.push(keyword.name);
            RegistryValue::Missing
        });
        assert_eq!(asked, ["*RssOrVmqPreference", "*VMQ", "*VMQVlanFiltering"]);
    }

    #[test]
    fn keywords_switch_vmq_and_vlan_filtering_off() {
        let zero = utf16("0");
        let config = Configuration::read(|keyword| match keyword.name {
            "*VMQ" => RegistryValue::Integer(0),
            "*VMQVlanFiltering" => RegistryValue::String(&zero),
            _ => RegistryValue::Integer(1),
        });
        assert_eq!(
            config,
            Configuration {
                rss_or_vmq_preference: RssOrVmqPreference::Vmq,
                vmq_enabled: false,
                vlan_filtering: false,
            }
        );
        let vlan_only = Configuration::read(|keyword| {
            RegistryValue::Integer(u32::from(keyword.name != "*VMQVlanFiltering"))
        });
        assert!(vlan_only.vmq_enabled && !vlan_only.vlan_filtering);
    }

    #[test]
    fn out_of_range_and_unreadable_values_get_the_default() {
        let cases: [(RegistryValue<'_>, Source); 6] = [
            (RegistryValue::Integer(2), Source::DefaultOutOfRange(2)),
            (RegistryValue::Integer(u32::MAX), Source::DefaultOutOfRange(u32::MAX)),
            (RegistryValue::String(&[0x37]), Source::DefaultOutOfRange(7)),
            (RegistryValue::String(&[0x61, 0x62]), Source::DefaultUnreadable),
            (RegistryValue::Unsupported, Source::DefaultUnreadable),
            (RegistryValue::Missing, Source::DefaultMissing),
        ];
        for (value, source) in cases {
            assert_eq!(VMQ.interpret(value), Setting { value: 1, source }, "{value:?}");
            let config = Configuration::read(|_| value);
            assert_eq!(config, Configuration::DEFAULT, "{value:?}");
        }
        assert_eq!(
            MAX_RSS_PROCESSORS.interpret(RegistryValue::Integer(0)),
            Setting { value: 16, source: Source::DefaultOutOfRange(0) }
        );
        assert_eq!(
            MAX_RSS_PROCESSORS.interpret(RegistryValue::Integer(2048)),
            Setting { value: 2048, source: Source::Registry }
        );
    }

    #[test]
    fn decimal_strings() {
        let parse = |text: &str| parse_decimal(&utf16(text));
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("1"), Some(1));
        assert_eq!(parse(" 12\t\r\n"), Some(12));
        assert_eq!(parse("007"), Some(7));
        assert_eq!(parse("4294967295"), Some(u32::MAX));
        for bad in ["", "   ", "4294967296", "-1", "+1", "1x", "0x1", "1 2", "١", "abc", "1.0"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    /// Any registry value a keyword might hold, with the strings both random and numeric.
    fn registry_value() -> impl Strategy<Value = (u8, u32, Vec<u16>)> {
        (0u8..5, any::<u32>(), proptest::collection::vec(any::<u16>(), 0..12))
    }

    fn as_value(kind: u8, number: u32, units: &[u16]) -> (RegistryValue<'_>, Option<u32>) {
        match kind {
            0 => (RegistryValue::Missing, None),
            1 => (RegistryValue::Integer(number), Some(number)),
            2 | 3 => (RegistryValue::String(units), parse_decimal(units)),
            _ => (RegistryValue::Unsupported, None),
        }
    }

    proptest! {
        #[test]
        fn interpret_keeps_allowed_values_and_defaults_the_rest(
            index in 0..KEYWORDS.len(),
            (kind, number, units) in registry_value(),
        ) {
            let keyword = KEYWORDS[index];
            let digits: Vec<u16> = utf16(&std::format!("{number}"));
            let units = if kind == 3 { digits } else { units };
            let (value, read) = as_value(kind, number, &units);
            let setting = keyword.interpret(value);
            prop_assert!(keyword.allows(setting.value));
            match read {
                Some(n) if keyword.allows(n) => {
                    prop_assert_eq!(setting, Setting { value: n, source: Source::Registry });
                }
                Some(n) => prop_assert_eq!(
                    setting,
                    Setting { value: keyword.default, source: Source::DefaultOutOfRange(n) }
                ),
                None => prop_assert_eq!(setting.value, keyword.default),
            }
        }

        #[test]
        fn configuration_follows_the_values_read(
            values in proptest::collection::vec(registry_value(), 3),
        ) {
            let resolved: Vec<u32> = READ_BY_DRIVER
                .iter()
                .zip(&values)
                .map(|(keyword, (kind, number, units))| {
                    keyword.interpret(as_value(*kind, *number, units).0).value
                })
                .collect();
            let mut next = values.iter();
            let config = Configuration::read(|_| {
                let (kind, number, units) = next.next().unwrap();
                as_value(*kind, *number, units).0
            });
            prop_assert_eq!(config.rss_or_vmq_preference == RssOrVmqPreference::Vmq, resolved[0] == 1);
            prop_assert_eq!(config.vmq_enabled, resolved[1] == 1);
            prop_assert_eq!(config.vlan_filtering, resolved[2] == 1);
        }

        #[test]
        fn parse_decimal_agrees_with_str_parse(units in proptest::collection::vec(any::<u16>(), 0..12)) {
            let expected = String::from_utf16(&units).ok().and_then(|text| {
                let trimmed = text.trim_matches([' ', '\t', '\r', '\n']);
                (!trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| trimmed.parse::<u32>().ok())
                    .flatten()
            });
            prop_assert_eq!(parse_decimal(&units), expected);
        }

        #[test]
        fn parse_decimal_reads_every_number(number in any::<u32>(), pad in 0usize..3) {
            let text = std::format!("{}{number}{}", " ".repeat(pad), "\t".repeat(pad));
            prop_assert_eq!(parse_decimal(&utf16(&text)), Some(number));
        }
    }
}
