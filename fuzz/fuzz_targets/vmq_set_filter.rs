//! OID_RECEIVE_FILTER_SET_FILTER: the parameters, then an array of field tests at an embedded
//! offset with an embedded count and element size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::vmq::oids::parse_set_filter;
use vmqnic_fuzz::check_vmq_parser;

fuzz_target!(|data: &[u8]| {
    if let Some(parsed) = check_vmq_parser(data, parse_set_filter) {
        let filter = parsed.request;
        assert!(filter.mac.is_some() || filter.vlan.is_some(), "a filter without a test");
        assert!(filter.vlan.is_none_or(|vlan| (1..=4094).contains(&vlan)));
        assert!(!(filter.untagged_or_zero && (filter.vlan.is_some() || filter.mac.is_none())));
    }
});
