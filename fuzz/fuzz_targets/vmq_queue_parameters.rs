//! `NDIS_RECEIVE_QUEUE_PARAMETERS` as both its OIDs parse it: ALLOCATE_QUEUE (then its answer,
//! `write_msix_table_entry`, which must fit whenever the parse succeeded and change four
//! bytes inside what was read) and QUEUE_PARAMETERS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::vmq::oids::{parse_allocate_queue, parse_queue_parameters, write_msix_table_entry};
use vmqnic_fuzz::check_vmq_parser;

fuzz_target!(|data: &[u8]| {
    if let Some(parsed) = check_vmq_parser(data, parse_allocate_queue) {
        assert_ne!(parsed.request.queue_id, 0);
        assert_ne!(parsed.request.affinity.mask, 0);
        let mut answer = data.to_vec();
        write_msix_table_entry(&mut answer, 0xA5A5_A5A5).expect("the answer fits what was parsed");
        let read = usize::try_from(parsed.bytes_read).unwrap();
        let changed: Vec<usize> = (0..data.len()).filter(|&i| answer[i] != data[i]).collect();
        assert!(changed.len() <= 4, "the answer changed {} bytes", changed.len());
        assert!(changed.iter().all(|&i| i < read), "the answer wrote beyond BytesWritten");
    }
    if let Some(parsed) = check_vmq_parser(data, parse_queue_parameters) {
        let change = parsed.request;
        assert_ne!(change.queue_id, 0);
        assert!(change.affinity.is_none_or(|a| a.mask != 0));
    }
});
