//! The NDIS configuration interface: NdisOpenConfigurationEx, NdisReadConfiguration,
//! NdisCloseConfiguration, over the adapter's simulated registry ([`crate::sim::registry`]).

use vmqnic::ndis::{
    self, NDIS_CONFIGURATION_OBJECT, NDIS_CONFIGURATION_PARAMETER, NDIS_HANDLE,
    NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, NDIS_PARAMETER_TYPE, NDIS_STATUS, NDIS_STATUS_FAILURE,
    NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS, NDIS_STRING,
};

use super::{check_irql, handle_rule, header_matches, irql_rule, read_header};
use crate::sim::cpu::PASSIVE_LEVEL;
use crate::sim::registry::{self, ConfigurationRead};
use crate::sim::rules;
use crate::sim::state::{ConfigurationRecord, Phase, Scope, SimState, with_state};

/// `NdisOpenConfigurationEx`: opens the registry of the adapter (`NdisHandle` the miniport
/// adapter handle) or of the driver (the driver handle), and writes a fresh handle to
/// `*ConfigurationHandle`. NDIS_STATUS_FAILURE, with a violation, for a bad header
/// (`ObjectHeader.ConfigurationObject`) or another handle (`NdisOpenConfigurationEx.Handle`);
/// NDIS_STATUS_FAILURE without one for a NULL `ConfigurationHandle`. A second open while one
/// of the same NDIS handle is open is the DDI rule `NdisOpenConfigurationEx` (the handle is
/// still opened, as ndis.sys would). Counted in `allocation_calls`. PASSIVE_LEVEL.
///
/// # Safety
/// `ConfigObject` is NULL or a readable `NDIS_CONFIGURATION_OBJECT`; `ConfigurationHandle` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisOpenConfigurationEx(
    ConfigObject: *const NDIS_CONFIGURATION_OBJECT,
    ConfigurationHandle: *mut NDIS_HANDLE,
) -> NDIS_STATUS {
    let injected = with_state(|s| {
        check_irql(s, irql_rule!(NdisOpenConfigurationEx), PASSIVE_LEVEL);
        s.count_allocation("NdisOpenConfigurationEx")
    });
    // SAFETY: NULL or a readable object starting with its header (caller).
    let header = unsafe { read_header(ConfigObject.cast()) };
    if !header
        .is_some_and(|h| header_matches(h, NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, &[(1, 0x18)]))
    {
        with_state(|s| {
            s.violate(rules::OBJECT_HEADER_CONFIGURATION_OBJECT, format!("{header:?}"));
        });
        return NDIS_STATUS_FAILURE;
    }
    // SAFETY: the header says the object has (at least) the 0x18 bytes of revision 1.
    let object = unsafe { ConfigObject.read_unaligned() };
    if ConfigurationHandle.is_null() {
        return NDIS_STATUS_FAILURE;
    }
    if injected {
        return NDIS_STATUS_RESOURCES;
    }
    let opened = with_state(|s| open(s, object.NdisHandle as usize));
    let Some(handle) = opened else { return NDIS_STATUS_FAILURE };
    // SAFETY: non-null and writable (caller).
    unsafe { ConfigurationHandle.write(handle as NDIS_HANDLE) };
    NDIS_STATUS_SUCCESS
}
const _: ndis::sig::NdisOpenConfigurationEx = NdisOpenConfigurationEx;

/// Records a configuration handle opened with `owner` (the adapter or the driver handle).
fn open(s: &mut SimState, owner: usize) -> Option<usize> {
    let adapter = owner == s.miniport_handle && s.adapter_state.adapter_exists();
    let driver = owner == s.driver_handle && s.driver.is_some_and(|d| !d.deregistered);
    if !adapter && !driver {
        s.violate(
            handle_rule!(NdisOpenConfigurationEx),
            format!(
                "NdisHandle {owner:#x} is neither the handle of an initializing or initialized \
                 adapter nor the driver handle"
            ),
        );
        return None;
    }
    if let Some(open) = s.configurations.iter().find(|(_, c)| c.owner == owner).map(|(h, _)| *h) {
        s.violate(
            rules::OPEN_CONFIGURATION,
            format!(
                "NdisOpenConfigurationEx while configuration handle {open:#x} of the same NDIS \
                 handle is open (open and close must alternate)"
            ),
        );
    }
    let handle = s.new_handle();
    let scope = if driver && !adapter { Scope::Driver } else { Scope::Adapter };
    let in_initialize = s.in_phase(Phase::Initialize);
    s.configurations
        .insert(handle, ConfigurationRecord { owner, scope, in_initialize, blocks: Vec::new() });
    Some(handle)
}

/// `NdisReadConfiguration`: the value named `*Keyword` (case-insensitive) in the registry of
/// the handle, converted as ndis.sys does ([`registry`]), in memory of its own that stays
/// valid until NdisCloseConfiguration. NDIS_STATUS_FAILURE (and `*ParameterValue` untouched)
/// when the keyword is absent, the handle is not open (`NdisReadConfiguration.UnknownHandle`)
/// or the keyword is malformed (`NdisReadConfiguration.Keyword`); NDIS_STATUS_RESOURCES if
/// the memory cannot be mapped. Each call is recorded ([`Sim::configuration_reads`]) and
/// counted in `allocation_calls`. PASSIVE_LEVEL.
///
/// [`Sim::configuration_reads`]: crate::sim::Sim::configuration_reads
///
/// # Safety
/// `Status` and `ParameterValue` are writable; `Keyword` is NULL or a readable `NDIS_STRING`
/// whose `Buffer` holds `Length` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NdisReadConfiguration(
    Status: *mut NDIS_STATUS,
    ParameterValue: *mut *mut NDIS_CONFIGURATION_PARAMETER,
    ConfigurationHandle: NDIS_HANDLE,
    Keyword: *const NDIS_STRING,
    ParameterType: NDIS_PARAMETER_TYPE,
) {
    // SAFETY: as the caller guarantees for `Keyword`.
    let keyword = unsafe { keyword_name(Keyword) };
    let handle = ConfigurationHandle as usize;
    let (status, parameter) = with_state(|s| {
        let injected = s.count_allocation("NdisReadConfiguration");
        check_irql(s, irql_rule!(NdisReadConfiguration), PASSIVE_LEVEL);
        let outcome = if injected {
            (NDIS_STATUS_RESOURCES, None)
        } else {
            read(s, handle, keyword.as_deref(), ParameterType)
        };
        s.configuration_reads.push(ConfigurationRead {
            handle,
            keyword: keyword.clone().unwrap_or_default(),
            requested: ParameterType,
            status: outcome.0,
            returned: outcome.1.map(|(kind, _)| kind),
        });
        (outcome.0, outcome.1.map(|(_, address)| address))
    });
    if let Some(address) = parameter
        && !ParameterValue.is_null()
    {
        // SAFETY: non-null and writable (caller).
        unsafe { ParameterValue.write(address as *mut NDIS_CONFIGURATION_PARAMETER) };
    }
    if !Status.is_null() {
        // SAFETY: non-null and writable (caller).
        unsafe { Status.write(status) };
    }
}
const _: ndis::sig::NdisReadConfiguration = NdisReadConfiguration;

/// The keyword's characters, or `None` (with the `NdisReadConfiguration.Keyword` violation
/// recorded) if the string is malformed.
///
/// # Safety
/// As `NdisReadConfiguration`'s `Keyword`.
unsafe fn keyword_name(keyword: *const NDIS_STRING) -> Option<String> {
    let malformed = |why: String| {
        with_state(|s| s.violate(rules::READ_CONFIGURATION_KEYWORD, why));
        None
    };
    if keyword.is_null() {
        return malformed("Keyword is NULL".to_owned());
    }
    // SAFETY: non-null and readable (caller).
    let string = unsafe { keyword.read_unaligned() };
    let (length, maximum) = (usize::from(string.Length), usize::from(string.MaximumLength));
    if length % 2 != 0 || length > maximum || (length > 0 && string.Buffer.is_null()) {
        return malformed(format!(
            "Keyword {{Length {length}, MaximumLength {maximum}, Buffer {:?}}}",
            string.Buffer
        ));
    }
    let units: Vec<u16> = (0..length / 2)
        .map(|i| {
            // SAFETY: `Length` readable bytes at the non-NULL `Buffer` (caller), of which this
            // is the i-th character (`wrapping_add` is plain address arithmetic).
            unsafe { string.Buffer.wrapping_add(i).read_unaligned() }
        })
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// The read itself: `(status, Some((ParameterType, parameter address)))` on success.
fn read(
    s: &mut SimState,
    handle: usize,
    keyword: Option<&str>,
    requested: NDIS_PARAMETER_TYPE,
) -> (NDIS_STATUS, Option<(NDIS_PARAMETER_TYPE, usize)>) {
    if !s.configurations.contains_key(&handle) {
        s.violate(
            rules::READ_CONFIGURATION_UNKNOWN_HANDLE,
            format!("{handle:#x} is not an open configuration handle (never opened, or closed)"),
        );
        return (NDIS_STATUS_FAILURE, None);
    }
    let Some(keyword) = keyword else { return (NDIS_STATUS_FAILURE, None) };
    let config = s.config.as_ref();
    let value = config.and_then(|c| {
        c.keywords.iter().find(|(name, _)| name.eq_ignore_ascii_case(keyword)).map(|(_, v)| v)
    });
    let Some(value) = value else { return (NDIS_STATUS_FAILURE, None) };
    let conversion = config.map(|c| c.string_conversion).unwrap_or_default();
    let returned = registry::returned(value, requested, conversion);
    let Some(block) = registry::allocate(&returned) else {
        return (NDIS_STATUS_RESOURCES, None);
    };
    s.parameter_blocks.push(block);
    if let Some(record) = s.configurations.get_mut(&handle) {
        record.blocks.push(block);
    }
    (NDIS_STATUS_SUCCESS, Some((returned.parameter_type(), block.address)))
}

/// `NdisCloseConfiguration`: closes an open handle, once; every value read through it becomes
/// inaccessible (a later access faults). A handle that is not open is the
/// `NdisCloseConfiguration.UnknownHandle` violation. PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub extern "system" fn NdisCloseConfiguration(ConfigurationHandle: NDIS_HANDLE) {
    with_state(|s| {
        check_irql(s, irql_rule!(NdisCloseConfiguration), PASSIVE_LEVEL);
        let handle = ConfigurationHandle as usize;
        if !close(s, handle) {
            s.violate(
                rules::CLOSE_CONFIGURATION_UNKNOWN_HANDLE,
                format!("{handle:#x} is not an open configuration handle (closed twice?)"),
            );
        }
    });
}
const _: ndis::sig::NdisCloseConfiguration = NdisCloseConfiguration;

/// Closes `handle` if it is open: its values become inaccessible. Whether it was open.
pub(crate) fn close(s: &mut SimState, handle: usize) -> bool {
    let Some(record) = s.configurations.remove(&handle) else { return false };
    for block in record.blocks {
        registry::revoke(block);
    }
    true
}
