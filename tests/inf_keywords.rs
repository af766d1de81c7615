//! Checks `inf/vmqnic.inx`, the INF source of the driver package, against the rules of spec §6
//! and rust-wdk-notes §8, with a small INF parser written here (no WDK on Linux, so neither
//! stampinf nor infverif can run in CI).
//!
//! What must hold, and why:
//! * `[Version]`: signature, class Net and its GUID, provider, catalog, DriverVer, PnpLockdown.
//! * The install chain `[Manufacturer]` → models → DDInstall reaches `PCI\VEN_8086&DEV_10C9`,
//!   for amd64 only (the ABI is x64), and for Windows 10 1709+ if files run from DIRID 13.
//! * DDInstall: a physical Ethernet NIC on PCI (values cross-checked against `vmqnic::ndis`).
//! * DDInstall.HW: `MSISupported = 1` (else PnP offers no MSI-X and VMQ cannot work), and a
//!   `MessageNumberLimit`, if any, that cannot undercut what FilterResourceRequirements asks for.
//! * Standardized keywords: each one present has ParamDesc/default/type; ints have min/max/step
//!   with the default inside the range; enums have an `Enum` entry for the default; the INF
//!   declares exactly the keywords of `vmqnic::vmq::keywords` (the one source of truth: the
//!   driver's defaults and allowed values come from there), with exactly their defaults and
//!   values; that table equals the spec §6.1 tables; `*RssOrVmqPreference` and
//!   `*VMQLookaheadSplit` are absent.
//! * Service, event log, files and strings are complete.

use std::collections::BTreeMap;
use std::path::Path;

use vmqnic::interrupt::{MAX_MESSAGES_PER_FUNCTION, OTHER_CAUSE_MESSAGES};
use vmqnic::ndis as abi;
use vmqnic::vmq::keywords::{self as driver, Role, Values};

// ---------------------------------------------------------------------------------------------
// A small INF parser
// ---------------------------------------------------------------------------------------------

/// One non-empty, comment-free line: `key = a, b, c` or `a, b, c`.
#[derive(Debug)]
struct Line {
    /// 1-based line number in the file, for messages.
    number: usize,
    /// The text left of the first `=` outside quotes, if there is one.
    key: Option<String>,
    /// The comma-separated fields (right of `=`), trimmed and unquoted.
    fields: Vec<String>,
    /// The line as written (comment removed), for substring checks.
    raw: String,
}

/// A `[section]` and its lines.
#[derive(Debug)]
struct Section {
    name: String,
    lines: Vec<Line>,
}

impl Section {
    /// Lines whose key is `key` (case-insensitive).
    fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Line> + 'a {
        self.lines
            .iter()
            .filter(move |l| l.key.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(key)))
    }

    /// The single value of directive `key`: its fields joined by ", ".
    fn value(&self, key: &str) -> String {
        let found: Vec<&Line> = self.values(key).collect();
        assert_eq!(found.len(), 1, "[{}] must set {key} exactly once", self.name);
        found[0].fields.join(", ")
    }
}

/// An `HKR, subkey, value name, flags, data` line of an AddReg section.
#[derive(Debug)]
struct RegEntry {
    section: String,
    number: usize,
    subkey: String,
    name: String,
    flags: String,
    data: Vec<String>,
}

/// The whole INF.
#[derive(Debug)]
struct Inf {
    sections: Vec<Section>,
}

/// Removes a `;` comment (outside double quotes) and surrounding blanks.
fn strip_comment(line: &str) -> &str {
    let mut in_quotes = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => return line[..i].trim(),
            _ => {}
        }
    }
    line.trim()
}

/// Splits on `sep` outside double quotes; fields are trimmed and lose one pair of quotes.
fn split_outside_quotes(text: &str, sep: char) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    for c in text.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if c == sep && !in_quotes {
            fields.push(current);
            current = String::new();
        } else {
            current.push(c);
        }
    }
    fields.push(current);
    fields.iter().map(|f| unquote(f.trim()).to_owned()).collect()
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text)
}

/// The first `=` outside double quotes.
fn find_equals(text: &str) -> Option<usize> {
    let mut in_quotes = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '=' if !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

impl Inf {
    fn parse(text: &str) -> Self {
        let mut sections: Vec<Section> = Vec::new();
        for (index, raw_line) in text.lines().enumerate() {
            let number = index + 1;
            let line = strip_comment(raw_line.trim_end_matches('\r'));
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let name = name.trim().to_owned();
                assert!(
                    !sections.iter().any(|s| s.name.eq_ignore_ascii_case(&name)),
                    "line {number}: section [{name}] appears twice",
                );
                sections.push(Section { name, lines: Vec::new() });
                continue;
            }
            let section = sections
                .last_mut()
                .unwrap_or_else(|| panic!("line {number}: text before the first section"));
            let (key, rest) = match find_equals(line) {
                Some(at) => (Some(line[..at].trim().to_owned()), &line[at + 1..]),
                None => (None, line),
            };
            section.lines.push(Line {
                number,
                key,
                fields: split_outside_quotes(rest, ','),
                raw: line.to_owned(),
            });
        }
        Self { sections }
    }

    fn find(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn section(&self, name: &str) -> &Section {
        self.find(name).unwrap_or_else(|| panic!("section [{name}] is missing"))
    }

    /// `%token%` → its `[Strings]` value; anything else unchanged.
    fn resolve(&self, text: &str) -> String {
        match text.strip_prefix('%').and_then(|t| t.strip_suffix('%')) {
            Some(token) if !token.is_empty() && !token.contains('%') => {
                let strings = self.section("Strings");
                strings.value(token)
            }
            _ => text.to_owned(),
        }
    }

    /// Every `HKR` entry of the AddReg sections listed by `AddReg` directives in `section`.
    fn addreg_entries(&self, section: &Section) -> Vec<RegEntry> {
        let mut entries = Vec::new();
        for line in section.values("AddReg") {
            for name in &line.fields {
                let reg = self.section(name);
                for l in &reg.lines {
                    assert!(
                        l.key.is_none(),
                        "[{}] line {}: not a registry line",
                        reg.name,
                        l.number
                    );
                    assert!(
                        l.fields.len() >= 3,
                        "[{}] line {}: too few fields",
                        reg.name,
                        l.number
                    );
                    assert_eq!(
                        l.fields[0], "HKR",
                        "[{}] line {}: only HKR is used",
                        reg.name, l.number
                    );
                    entries.push(RegEntry {
                        section: reg.name.clone(),
                        number: l.number,
                        subkey: l.fields[1].clone(),
                        name: l.fields[2].clone(),
                        flags: l.fields.get(3).cloned().unwrap_or_default(),
                        data: l.fields.iter().skip(4).cloned().collect(),
                    });
                }
            }
        }
        entries
    }
}

fn load() -> Inf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("inf").join("vmqnic.inx");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.is_ascii(), "{} must be ASCII (it is stored as text, CRLF)", path.display());
    let text = String::from_utf8(bytes).expect("ASCII is UTF-8");
    Inf::parse(&text)
}

/// The DDInstall section the hardware id installs, after platform-extension lookup.
fn ddinstall(inf: &Inf) -> &Section {
    let install = install_section_name(inf);
    ["NTamd64", "NT", ""]
        .iter()
        .find_map(|ext| {
            let name = if ext.is_empty() { install.clone() } else { format!("{install}.{ext}") };
            inf.find(&name)
        })
        .unwrap_or_else(|| panic!("no DDInstall section for {install}"))
}

const HARDWARE_ID: &str = r"PCI\VEN_8086&DEV_10C9";

/// Follows `[Manufacturer]` → models section → the install section of `HARDWARE_ID`.
fn install_section_name(inf: &Inf) -> String {
    let manufacturer = inf.section("Manufacturer");
    assert_eq!(manufacturer.lines.len(), 1, "[Manufacturer] has one manufacturer");
    let fields = &manufacturer.lines[0].fields;
    let (models, decorations) = fields.split_first().expect("a models section name");
    assert!(!decorations.is_empty(), "[Manufacturer] must decorate the models section");
    let mut install = None;
    for decoration in decorations {
        let section = inf.section(&format!("{models}.{decoration}"));
        for line in &section.lines {
            assert!(line.fields.len() >= 2, "models line {} needs a hardware id", line.number);
            if line.fields[1..].iter().any(|id| id.eq_ignore_ascii_case(HARDWARE_ID)) {
                install = Some(line.fields[0].clone());
            }
        }
    }
    install.unwrap_or_else(|| panic!("no models section lists {HARDWARE_ID}"))
}

fn parse_int(text: &str, what: &str) -> i64 {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("{what}: {text:?} is not an integer"))
}

fn num<T>(value: T) -> i64
where
    i64: TryFrom<T>,
{
    i64::try_from(value).unwrap_or_else(|_| panic!("constant does not fit in i64"))
}

// ---------------------------------------------------------------------------------------------
// The spec §6.1 tables
// ---------------------------------------------------------------------------------------------

/// `MAXIMUM_GROUPS` on x64 (32 groups × 64 processors = 2048 logical processors).
const MAXIMUM_GROUPS: i64 = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Keyword {
    /// `type = "enum"`: the default and the complete set of values.
    Enum { default: i64, values: Vec<i64> },
    /// `type = "int"`: default, min, max.
    Int { default: i64, min: i64, max: i64 },
}

/// The keywords the INF must declare, from the driver's own table (`vmqnic::vmq::keywords`):
/// every one but the hidden `*RssOrVmqPreference`. All are required: the VMQ pair because the
/// driver reads them, the RSS set because it shapes what NdisGetRssProcessorInformation
/// returns, and with it the VMQ interrupt processors.
fn driver_keywords() -> BTreeMap<&'static str, Keyword> {
    driver::KEYWORDS
        .iter()
        .filter(|k| k.role != Role::HiddenReadByDriver)
        .map(|k| {
            let default = num(k.default);
            let keyword = match k.values {
                Values::Enum(values) => {
                    Keyword::Enum { default, values: values.iter().map(|v| num(*v)).collect() }
                }
                Values::Range { min, max } => {
                    Keyword::Int { default, min: num(min), max: num(max) }
                }
            };
            (k.name, keyword)
        })
        .collect()
}

/// The same keywords as spec §6.1 tabulates them, written out here as an independent reference
/// for the driver's table.
fn spec_keywords() -> BTreeMap<&'static str, Keyword> {
    let per_group = num(abi::MAXIMUM_PROC_PER_GROUP);
    BTreeMap::from([
        ("*VMQ", Keyword::Enum { default: 1, values: vec![0, 1] }),
        ("*VMQVlanFiltering", Keyword::Enum { default: 1, values: vec![0, 1] }),
        ("*RssBaseProcGroup", Keyword::Int { default: 0, min: 0, max: MAXIMUM_GROUPS - 1 }),
        ("*RssBaseProcNumber", Keyword::Int { default: 0, min: 0, max: per_group - 1 }),
        (
            "*MaxRssProcessors",
            Keyword::Int { default: 16, min: 1, max: MAXIMUM_GROUPS * per_group },
        ),
        ("*NumaNodeId", Keyword::Int { default: 65535, min: 0, max: 65535 }),
        ("*RssMaxProcGroup", Keyword::Int { default: 0, min: 0, max: MAXIMUM_GROUPS - 1 }),
        ("*RssMaxProcNumber", Keyword::Int { default: per_group - 1, min: 0, max: per_group - 1 }),
    ])
}

/// Keywords that must never be in the INF: the OS owns the hidden `*RssOrVmqPreference`, and
/// `*VMQLookaheadSplit` is obsolete from NDIS 6.30.
const FORBIDDEN_KEYWORDS: [&str; 2] = ["*RssOrVmqPreference", "*VMQLookaheadSplit"];

/// `Ndi\Params\<keyword>[\Enum]` entries, grouped by keyword (in the INF's spelling).
fn params(inf: &Inf) -> BTreeMap<String, Vec<RegEntry>> {
    let mut by_keyword: BTreeMap<String, Vec<RegEntry>> = BTreeMap::new();
    for entry in inf.addreg_entries(ddinstall(inf)) {
        let mut parts = entry.subkey.split('\\');
        let (Some(ndi), Some(params), Some(keyword)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if ndi.eq_ignore_ascii_case("Ndi") && params.eq_ignore_ascii_case("Params") {
            by_keyword.entry(keyword.to_owned()).or_default().push(entry);
        }
    }
    by_keyword
}

/// The data of value `name` directly under `Ndi\Params\<keyword>` (REG_SZ, flags 0).
fn param_value(inf: &Inf, keyword: &str, entries: &[RegEntry], name: &str) -> String {
    let found: Vec<&RegEntry> = entries
        .iter()
        .filter(|e| e.subkey.split('\\').count() == 3 && e.name.eq_ignore_ascii_case(name))
        .collect();
    assert_eq!(found.len(), 1, "{keyword}: `{name}` must be set exactly once");
    let entry = found[0];
    let at = format!("[{}] line {}", entry.section, entry.number);
    assert_eq!(entry.flags, "0", "{at}: {keyword} `{name}` must be REG_SZ (flags 0)");
    assert_eq!(entry.data.len(), 1, "{at}: {keyword} `{name}` has one value");
    inf.resolve(&entry.data[0])
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn version_section() {
    let inf = load();
    let version = inf.section("Version");
    assert!(version.value("Signature").eq_ignore_ascii_case("$WINDOWS NT$"), "Signature");
    assert_eq!(version.value("Class"), "Net", "Class");
    assert!(
        version.value("ClassGuid").eq_ignore_ascii_case("{4d36e972-e325-11ce-bfc1-08002be10318}"),
        "ClassGuid must be the Net class GUID",
    );
    assert!(!inf.resolve(&version.value("Provider")).is_empty(), "Provider");
    assert!(version.value("CatalogFile").eq_ignore_ascii_case("vmqnic.cat"), "CatalogFile");
    assert_eq!(version.value("PnpLockdown"), "1", "PnpLockdown");
    // stampinf replaces the value, but it must be well formed: mm/dd/yyyy,w.x.y.z
    let driver_ver = version.value("DriverVer");
    let (date, ver) = driver_ver.split_once(", ").expect("DriverVer = date, version");
    assert_eq!(date.split('/').count(), 3, "DriverVer date {date:?}");
    assert_eq!(ver.split('.').count(), 4, "DriverVer version {ver:?}");
    for part in date.split('/').chain(ver.split('.')) {
        parse_int(part, "DriverVer");
    }
}

#[test]
fn hardware_id_and_decoration() {
    let inf = load();
    assert_eq!(install_section_name(&inf), "VmqNic.ndi", "install section of {HARDWARE_ID}");
    let manufacturer = &inf.section("Manufacturer").lines[0];
    let service = inf.section("VmqNic.Service");
    let runs_from_store = service.value("ServiceBinary").starts_with("%13%");
    for decoration in &manufacturer.fields[1..] {
        let lower = decoration.to_ascii_lowercase();
        assert!(lower.starts_with("ntamd64"), "{decoration}: the ABI is x64 only");
        if runs_from_store {
            // DIRID 13 (run from the driver store) needs Windows 10 1709, build 16299.
            let build = lower
                .strip_prefix("ntamd64.10.0...")
                .unwrap_or_else(|| panic!("{decoration}: %13% needs NTamd64.10.0...<build>"));
            assert!(parse_int(build, decoration) >= 16299, "{decoration}: %13% needs 16299");
        }
    }
}

#[test]
fn ddinstall_describes_a_physical_ethernet_nic() {
    let inf = load();
    let dd = ddinstall(&inf);
    assert_eq!(dd.name, "VmqNic.ndi.NTamd64");
    let int = |key: &str| parse_int(&dd.value(key), key);
    assert_eq!(int("Characteristics"), 0x84, "NCF_PHYSICAL | NCF_HAS_UI");
    assert_eq!(int("BusType"), num(abi::PCIBus), "BusType = PCIBus");
    assert_eq!(int("*IfType"), num(abi::IF_TYPE_ETHERNET_CSMACD), "*IfType");
    assert_eq!(int("*MediaType"), num(abi::NdisMedium802_3), "*MediaType");
    assert_eq!(int("*PhysicalMediaType"), num(abi::NdisPhysicalMedium802_3), "*PhysicalMediaType");

    let entries = inf.addreg_entries(dd);
    let reg = |subkey: &str, name: &str| -> String {
        let found: Vec<&RegEntry> = entries
            .iter()
            .filter(|e| e.subkey.eq_ignore_ascii_case(subkey) && e.name.eq_ignore_ascii_case(name))
            .collect();
        assert_eq!(found.len(), 1, r"HKR\{subkey}\{name} must be set exactly once");
        found[0].data.join(",")
    };
    assert_eq!(reg("Ndi", "Service"), "vmqnic", r"Ndi\Service");
    assert_eq!(reg(r"Ndi\Interfaces", "UpperRange"), "ndis5", "UpperRange");
    assert_eq!(reg(r"Ndi\Interfaces", "LowerRange"), "ethernet", "LowerRange");
}

#[test]
fn hw_section_enables_msi() {
    let inf = load();
    let hw = inf.section(&format!("{}.HW", ddinstall(&inf).name));
    let entries = inf.addreg_entries(hw);
    let value = |name: &str| -> Option<i64> {
        let found: Vec<&RegEntry> = entries
            .iter()
            .filter(|e| {
                e.subkey.eq_ignore_ascii_case(
                    r"Interrupt Management\MessageSignaledInterruptProperties",
                ) && e.name.eq_ignore_ascii_case(name)
            })
            .collect();
        assert!(found.len() <= 1, "{name} is set more than once");
        found.first().map(|e| {
            assert_eq!(e.flags, "0x00010001", "{name} must be a REG_DWORD (0x00010001)");
            assert_eq!(e.data.len(), 1, "{name} has one value");
            parse_int(&e.data[0], name)
        })
    };
    assert_eq!(value("MSISupported"), Some(1), "the .HW section must set MSISupported = 1");
    if let Some(limit) = value("MessageNumberLimit") {
        // FilterResourceRequirements asks for one message per RSS processor plus the
        // other-cause messages, never more than the per-function limit.
        let Keyword::Int { max: max_rss, .. } = driver_keywords()["*MaxRssProcessors"] else {
            unreachable!("*MaxRssProcessors is an int keyword");
        };
        let most_requested =
            (max_rss + num(OTHER_CAUSE_MESSAGES)).min(num(MAX_MESSAGES_PER_FUNCTION));
        assert!(
            (most_requested..=num(MAX_MESSAGES_PER_FUNCTION)).contains(&limit),
            "MessageNumberLimit {limit} must lie in {most_requested}..={MAX_MESSAGES_PER_FUNCTION}",
        );
    }
}

#[test]
fn the_drivers_keywords_are_the_specs() {
    assert_eq!(driver_keywords(), spec_keywords(), "vmqnic::vmq::keywords vs spec section 6.1");
    // The hidden one: read by the driver, never in the INF, default RSS.
    let hidden: Vec<&str> = driver::KEYWORDS
        .iter()
        .filter(|k| k.role == Role::HiddenReadByDriver)
        .map(|k| k.name)
        .collect();
    assert_eq!(hidden, ["*RssOrVmqPreference"]);
    assert_eq!(driver::RSS_OR_VMQ_PREFERENCE.default, 0);
    assert_eq!(driver::RSS_OR_VMQ_PREFERENCE.values, Values::Enum(&[0, 1]));
    let mut never: Vec<&str> = hidden.into_iter().chain(driver::OBSOLETE).collect();
    never.sort_unstable();
    assert_eq!(never, FORBIDDEN_KEYWORDS, "the driver's never-in-the-INF list");
}

#[test]
fn standardized_keywords_match_the_driver() {
    let inf = load();
    let params = params(&inf);
    let spec = driver_keywords();
    for name in params.keys() {
        if name.starts_with('*') {
            assert!(
                spec.keys().any(|k| k.eq_ignore_ascii_case(name)),
                "{name}: a standardized keyword the driver's table (vmqnic::vmq::keywords) lacks",
            );
        }
    }
    for (keyword, expected) in &spec {
        let (_, entries) = params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .unwrap_or_else(|| panic!("{keyword} is missing from Ndi\\Params"));
        assert!(
            !param_value(&inf, keyword, entries, "ParamDesc").is_empty(),
            "{keyword}: ParamDesc"
        );
        let default = parse_int(&param_value(&inf, keyword, entries, "default"), keyword);
        let kind = param_value(&inf, keyword, entries, "type");
        match *expected {
            Keyword::Int { default: spec_default, min: spec_min, max: spec_max } => {
                assert_eq!(kind, "int", "{keyword}: type");
                let min = parse_int(&param_value(&inf, keyword, entries, "min"), keyword);
                let max = parse_int(&param_value(&inf, keyword, entries, "max"), keyword);
                let step = parse_int(&param_value(&inf, keyword, entries, "step"), keyword);
                assert!(step >= 1, "{keyword}: step {step}");
                assert!(
                    (min..=max).contains(&default),
                    "{keyword}: default {default} not in {min}..={max}"
                );
                assert_eq!(
                    (default, min, max),
                    (spec_default, spec_min, spec_max),
                    "{keyword}: (default, min, max) vs the driver's"
                );
            }
            Keyword::Enum { default: spec_default, ref values } => {
                assert_eq!(kind, "enum", "{keyword}: type");
                assert_eq!(default, spec_default, "{keyword}: default vs the driver's");
                let mut listed: Vec<i64> = entries
                    .iter()
                    .filter(|e| e.subkey.to_ascii_lowercase().ends_with("\\enum"))
                    .map(|e| {
                        let at = format!("[{}] line {}", e.section, e.number);
                        assert_eq!(e.flags, "0", "{at}: {keyword}\\Enum {} must be REG_SZ", e.name);
                        assert!(
                            !inf.resolve(&e.data.join(",")).is_empty(),
                            "{keyword}\\Enum {}: text",
                            e.name
                        );
                        parse_int(&e.name, keyword)
                    })
                    .collect();
                listed.sort_unstable();
                assert!(
                    listed.contains(&default),
                    "{keyword}: no Enum entry for the default {default}"
                );
                assert_eq!(&listed, values, "{keyword}: Enum values vs the driver's");
            }
        }
    }
}

#[test]
fn forbidden_keywords_are_absent() {
    let inf = load();
    for section in &inf.sections {
        for line in &section.lines {
            for forbidden in FORBIDDEN_KEYWORDS {
                assert!(
                    !line.raw.to_ascii_lowercase().contains(&forbidden.to_ascii_lowercase()),
                    "[{}] line {}: {forbidden} must never be in the INF",
                    section.name,
                    line.number,
                );
            }
        }
    }
}

#[test]
fn service_event_log_and_files() {
    let inf = load();
    let services = inf.section(&format!("{}.Services", ddinstall(&inf).name));
    let add: Vec<&Line> = services.values("AddService").collect();
    assert_eq!(add.len(), 1, "one AddService");
    let fields = &add[0].fields;
    assert_eq!(fields.len(), 4, "AddService = name, flags, service, event log");
    assert_eq!(fields[0], "vmqnic", "service name");
    assert_eq!(parse_int(&fields[1], "AddService flags"), 2, "SPSVCINST_ASSOCSERVICE");

    let service = inf.section(&fields[2]);
    assert!(!inf.resolve(&service.value("DisplayName")).is_empty(), "DisplayName");
    assert_eq!(parse_int(&service.value("ServiceType"), "ServiceType"), 1, "kernel driver");
    assert_eq!(parse_int(&service.value("StartType"), "StartType"), 3, "demand start");
    assert_eq!(parse_int(&service.value("ErrorControl"), "ErrorControl"), 1, "normal errors");
    assert!(
        service.value("ServiceBinary").eq_ignore_ascii_case(r"%13%\vmqnic.sys"),
        "ServiceBinary"
    );
    assert_eq!(service.value("LoadOrderGroup"), "NDIS", "LoadOrderGroup");

    let event_log = inf.addreg_entries(inf.section(&fields[3]));
    for name in ["EventMessageFile", "TypesSupported"] {
        assert!(event_log.iter().any(|e| e.name == name), "event log sets {name}");
    }

    let copy = ddinstall(&inf).value("CopyFiles");
    let copy_section = inf.section(&copy);
    assert!(
        copy_section.lines.iter().any(|l| l.fields[0].eq_ignore_ascii_case("vmqnic.sys")),
        "[{copy}] copies vmqnic.sys",
    );
    assert_eq!(inf.section("DestinationDirs").value(&copy), "13", "[{copy}] goes to DIRID 13");
    assert_eq!(inf.section("DestinationDirs").value("DefaultDestDir"), "13", "DefaultDestDir");
    let disk_files = inf.section("SourceDisksFiles");
    assert_eq!(disk_files.value("vmqnic.sys"), "1, , ", "vmqnic.sys is on disk 1");
    assert!(inf.section("SourceDisksNames").values("1").count() == 1, "disk 1 is named");
}

#[test]
fn every_string_token_is_defined() {
    let inf = load();
    let strings = inf.section("Strings");
    for section in inf.sections.iter().filter(|s| !s.name.eq_ignore_ascii_case("Strings")) {
        for line in &section.lines {
            // %% is a literal percent sign; %<number>% is a DIRID.
            let text = line.raw.replace("%%", "");
            for token in text.split('%').skip(1).step_by(2) {
                if token.is_empty() || token.chars().all(|c| c.is_ascii_digit()) {
                    continue;
                }
                assert_eq!(
                    strings.values(token).count(),
                    1,
                    "[{}] line {}: %{token}% must be defined once in [Strings]",
                    section.name,
                    line.number,
                );
            }
        }
    }
}
