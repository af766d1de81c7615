//! Scenario files (TOML): the host (processor groups, RSS set, interrupt grant), the VMs and
//! the traffic. Everything the 82576 or the topology cannot do is refused here, with the file
//! and the field named, before QEMU starts.

use std::fmt;
use std::path::Path;

use ndis_sim::sim::{GrantPolicy, SimConfig};
use serde::Deserialize;
use vmqnic::interrupt::Processor;

/// VM pools of the 82576 (pools 1..=7; pool 0 is the default queue's).
pub const VM_POOLS: usize = 7;
/// Processors per group (the width of a `KAFFINITY`).
pub const MAX_PROCESSORS_PER_GROUP: u32 = 64;
/// Processor groups Windows supports.
pub const MAX_GROUPS: usize = 32;
/// Messages a PCI function may be granted.
pub const MAX_MESSAGES: u32 = 2048;
/// Upper bound of each traffic count (keeps a run within minutes).
pub const MAX_FRAMES: u32 = 100_000;
/// Frames per VM when `[traffic]` does not say.
pub const DEFAULT_FRAMES_PER_VM: u32 = 100;

/// What the simulated PnP manager grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Every message the driver asked for (`"full"`).
    Full,
    /// The first `n` messages of the driver's list (`"messages:N"`).
    Messages(u32),
    /// One MSI message (`"msi"`).
    Msi,
    /// The line-based interrupt (`"line"`).
    Line,
}

impl Grant {
    /// The simulator's policy for this grant.
    #[must_use]
    pub fn policy(self) -> GrantPolicy {
        match self {
            Grant::Full => GrantPolicy::AsRequested,
            Grant::Messages(n) => GrantPolicy::AtMost(n),
            Grant::Msi => GrantPolicy::Msi,
            Grant::Line => GrantPolicy::LineBased,
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::Full => write!(f, "full"),
            Grant::Messages(n) => write!(f, "messages:{n}"),
            Grant::Msi => write!(f, "msi"),
            Grant::Line => write!(f, "line"),
        }
    }
}

/// One VM: a MAC (and perhaps a VLAN) on a processor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vm {
    /// Its name in the report.
    pub name: String,
    /// Its unicast MAC address (the queue's filter).
    pub mac: [u8; 6],
    /// Its VLAN: its frames carry this tag and its filter tests it.
    pub vlan: Option<u16>,
    /// The processor its queue asks for.
    pub processor: Processor,
}

/// The frames sent to the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traffic {
    /// Frames to each VM's MAC (tagged with its VLAN if it has one).
    pub frames_per_vm: u32,
    /// Untagged frames to unicast addresses no filter knows (the default queue's).
    pub unknown_unicast: u32,
    /// Untagged broadcast frames (the default queue's).
    pub broadcast: u32,
}

/// A checked scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The file (or name) it came from.
    pub source: String,
    /// Processors per group.
    pub groups: Vec<u8>,
    /// The RSS set, or `None` for every processor.
    pub rss: Option<Vec<Processor>>,
    /// The interrupt grant.
    pub grant: Grant,
    /// The VMs, in file order (VM `i` asks for queue id `i + 1`).
    pub vms: Vec<Vm>,
    /// The traffic.
    pub traffic: Traffic,
}

/// Why a scenario cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub source: String,
    /// What is wrong, naming the field.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    host: RawHost,
    #[serde(default)]
    vm: Vec<RawVm>,
    traffic: Option<RawTraffic>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    groups: Vec<i64>,
    rss: Option<toml::Value>,
    grant: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVm {
    name: String,
    mac: String,
    vlan: Option<i64>,
    processor: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraffic {
    frames_per_vm: Option<i64>,
    unknown_unicast: Option<i64>,
    broadcast: Option<i64>,
}

impl Scenario {
    /// Reads and checks the scenario in `path`.
    ///
    /// # Errors
    /// The file cannot be read, is not valid TOML of this format, or asks for something the
    /// 82576 or the topology cannot do.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            source: source.clone(),
            message: format!("cannot read the file: {e}"),
        })?;
        Self::parse(&source, &text)
    }

    /// Parses and checks a scenario; `source` names it in errors and in the report.
    ///
    /// # Errors
    /// Not valid TOML of this format, or something the 82576 or the topology cannot do.
    pub fn parse(source: &str, text: &str) -> Result<Self, ScenarioError> {
        let error = |message: String| ScenarioError { source: source.to_owned(), message };
        let raw: RawScenario = toml::from_str(text).map_err(|e| error(toml_message(&e)))?;
        let groups = groups(&raw.host.groups).map_err(error)?;
        let exists =
            |p: Processor| groups.get(usize::from(p.group)).is_some_and(|&count| p.number < count);
        let topology = describe_topology(&groups);
        let processor = |field: &str, text: &str| -> Result<Processor, String> {
            let p = parse_processor(text).map_err(|e| format!("{field}: {e}"))?;
            if exists(p) {
                Ok(p)
            } else {
                Err(format!("{field}: {p} is not in the topology ({topology})"))
            }
        };
        let rss = match &raw.host.rss {
            None => None,
            Some(value) => rss_set(value, &processor).map_err(error)?,
        };
        let grant = match raw.host.grant.as_deref() {
            None => Grant::Full,
            Some(text) => parse_grant(text).map_err(|e| error(format!("host.grant: {e}")))?,
        };
        if raw.vm.len() > VM_POOLS {
            return Err(error(format!(
                "{} VMs, but the 82576 has {VM_POOLS} VM pools (pool 0 is the default queue's): \
                 at most {VM_POOLS} [[vm]] entries",
                raw.vm.len()
            )));
        }
        let mut vms: Vec<Vm> = Vec::new();
        for (index, raw_vm) in raw.vm.iter().enumerate() {
            let vm = vm(index, raw_vm, &processor).map_err(&error)?;
            if let Some(other) = vms.iter().find(|o| o.name == vm.name) {
                return Err(error(format!("vm[{index}]: the name \"{}\" is taken", other.name)));
            }
            if let Some(other) = vms.iter().find(|o| o.mac == vm.mac) {
                return Err(error(format!(
                    "vm \"{}\": MAC {} is VM \"{}\"'s already (each VM needs its own address)",
                    vm.name,
                    format_mac(vm.mac),
                    other.name
                )));
            }
            vms.push(vm);
        }
        let traffic = traffic(raw.traffic.as_ref()).map_err(error)?;
        Ok(Self { source: source.to_owned(), groups, rss, grant, vms, traffic })
    }

    /// Every processor of the topology, group by group.
    #[must_use]
    pub fn processors(&self) -> Vec<Processor> {
        let mut all = Vec::new();
        for (group, &count) in self.groups.iter().enumerate() {
            let group = u16::try_from(group).unwrap_or(u16::MAX);
            all.extend((0..count).map(|number| Processor { group, number }));
        }
        all
    }

    /// The RSS set NDIS reports (every processor unless the scenario lists some).
    #[must_use]
    pub fn rss_processors(&self) -> Vec<Processor> {
        self.rss.clone().unwrap_or_else(|| self.processors())
    }

    /// The simulated machine, with QEMU's 82576.
    #[must_use]
    pub fn sim_config(&self) -> SimConfig {
        let mut config = SimConfig::with_groups(&self.groups);
        if let Some(rss) = &self.rss {
            // Preference index = NUMA node = group, as `with_groups` sets it for "all".
            config.rss = rss.iter().map(|&p| (p, p.group)).collect();
        }
        config.with_qemu()
    }
}

/// TOML's message on one line (the toml crate spreads it over several, with a caret).
fn toml_message(error: &toml::de::Error) -> String {
    let text = error.to_string();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let location = lines.next().unwrap_or_default().trim().trim_end_matches(':').to_owned();
    let message = lines.next_back().unwrap_or_default().trim().to_owned();
    if message.is_empty() { location } else { format!("{location}: {message}") }
}

fn groups(raw: &[i64]) -> Result<Vec<u8>, String> {
    if raw.is_empty() || raw.len() > MAX_GROUPS {
        return Err(format!("host.groups: 1 to {MAX_GROUPS} processor groups, not {}", raw.len()));
    }
    raw.iter()
        .enumerate()
        .map(|(group, &count)| {
            u8::try_from(count)
                .ok()
                .filter(|&c| c >= 1 && u32::from(c) <= MAX_PROCESSORS_PER_GROUP)
                .ok_or_else(|| {
                    format!(
                        "host.groups[{group}]: 1 to {MAX_PROCESSORS_PER_GROUP} processors per \
                         group, not {count}"
                    )
                })
        })
        .collect()
}

fn describe_topology(groups: &[u8]) -> String {
    let ranges: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(group, count)| format!("{group}:0..{group}:{}", count.saturating_sub(1)))
        .collect();
    format!("groups {groups:?}: {}", ranges.join(", "))
}

/// `"group:number"`.
fn parse_processor(text: &str) -> Result<Processor, String> {
    let malformed = || format!("\"{text}\" is not \"group:number\" (e.g. \"0:1\")");
    let (group, number) = text.split_once(':').ok_or_else(malformed)?;
    let group: u16 = group.trim().parse().map_err(|_| malformed())?;
    let number: u8 = number.trim().parse().map_err(|_| malformed())?;
    Processor::new(group, number).ok_or_else(malformed)
}

type ProcessorCheck<'a> = dyn Fn(&str, &str) -> Result<Processor, String> + 'a;

fn rss_set(
    value: &toml::Value,
    processor: &ProcessorCheck<'_>,
) -> Result<Option<Vec<Processor>>, String> {
    let expected = "host.rss: \"all\" or a list of processors such as [\"0:1\", \"1:0\"]";
    match value {
        toml::Value::String(word) if word == "all" => Ok(None),
        toml::Value::Array(items) => {
            if items.is_empty() {
                return Err(format!("{expected}, not an empty list"));
            }
            let mut set = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let field = format!("host.rss[{index}]");
                let text = item.as_str().ok_or_else(|| format!("{field}: not a string"))?;
                let p = processor(&field, text)?;
                if set.contains(&p) {
                    return Err(format!("{field}: processor {p} is listed twice"));
                }
                set.push(p);
            }
            Ok(Some(set))
        }
        other => Err(format!("{expected}; got {}", other.type_str())),
    }
}

fn parse_grant(text: &str) -> Result<Grant, String> {
    match text {
        "full" => Ok(Grant::Full),
        "msi" => Ok(Grant::Msi),
        "line" => Ok(Grant::Line),
        _ => {
            let n = text
                .strip_prefix("messages:")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .ok_or_else(|| {
                    format!("\"{text}\": expected \"full\", \"messages:N\", \"msi\" or \"line\"")
                })?;
            if (1..=MAX_MESSAGES).contains(&n) {
                Ok(Grant::Messages(n))
            } else {
                Err(format!("\"{text}\": N is 1 to {MAX_MESSAGES} (\"line\" for none)"))
            }
        }
    }
}

/// `"02:00:00:00:00:01"` (or with dashes).
///
/// # Errors
/// Not six hexadecimal bytes.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let malformed =
        || format!("\"{text}\" is not a MAC address (six hex bytes such as 02:00:00:00:00:01)");
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(malformed());
    }
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(&parts) {
        if part.len() != 2 {
            return Err(malformed());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| malformed())?;
    }
    Ok(mac)
}

/// `02:00:00:00:00:01`.
#[must_use]
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn vm(index: usize, raw: &RawVm, processor: &ProcessorCheck<'_>) -> Result<Vm, String> {
    let name = raw.name.trim().to_owned();
    if name.is_empty() {
        return Err(format!("vm[{index}]: the name is empty"));
    }
    let field = |f: &str| format!("vm \"{name}\": {f}");
    let mac = parse_mac(&raw.mac).map_err(|e| format!("{}: {e}", field("mac")))?;
    if mac[0] & 1 != 0 {
        return Err(format!(
            "{}: {} is a multicast address; a VM queue filters one unicast address",
            field("mac"),
            format_mac(mac)
        ));
    }
    if mac == [0; 6] {
        return Err(format!("{}: the all-zero address is not a station address", field("mac")));
    }
    let vlan = match raw.vlan {
        None => None,
        Some(id) => Some(
            u16::try_from(id)
                .ok()
                .filter(|v| (1..=4094).contains(v))
                .ok_or_else(|| format!("{}: VLAN ids are 1 to 4094, not {id}", field("vlan")))?,
        ),
    };
    let processor = processor(&field("processor"), &raw.processor)?;
    Ok(Vm { name, mac, vlan, processor })
}

fn traffic(raw: Option<&RawTraffic>) -> Result<Traffic, String> {
    let count = |name: &str, value: Option<i64>, default: u32| -> Result<u32, String> {
        match value {
            None => Ok(default),
            Some(v) => u32::try_from(v)
                .ok()
                .filter(|&n| n <= MAX_FRAMES)
                .ok_or_else(|| format!("traffic.{name}: 0 to {MAX_FRAMES} frames, not {v}")),
        }
    };
    let raw =
        raw.unwrap_or(&RawTraffic { frames_per_vm: None, unknown_unicast: None, broadcast: None });
    Ok(Traffic {
        frames_per_vm: count("frames_per_vm", raw.frames_per_vm, DEFAULT_FRAMES_PER_VM)?,
        unknown_unicast: count("unknown_unicast", raw.unknown_unicast, 0)?,
        broadcast: count("broadcast", raw.broadcast, 0)?,
    })
}
