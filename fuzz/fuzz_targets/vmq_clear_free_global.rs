//! The three small VMQ structures: CLEAR_FILTER, FREE_QUEUE and GLOBAL_PARAMETERS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::vmq::oids::{parse_clear_filter, parse_free_queue, parse_global_parameters};
use vmqnic_fuzz::check_vmq_parser;

fuzz_target!(|data: &[u8]| {
    check_vmq_parser(data, parse_clear_filter);
    check_vmq_parser(data, parse_free_queue);
    check_vmq_parser(data, parse_global_parameters);
});
