//! OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE: an array header with an embedded offset,
//! count and element size, then the elements; each element's `CompletionStatus` is written
//! back, inside the element and inside what was read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::ndis::NDIS_STATUS_INVALID_PARAMETER;
use vmqnic::vmq::oids::parse_allocation_complete;
use vmqnic_fuzz::check_vmq_parser;

fuzz_target!(|data: &[u8]| {
    let Some(parsed) = check_vmq_parser(data, parse_allocation_complete) else { return };
    let array = parsed.request;
    let read = usize::try_from(parsed.bytes_read).unwrap();
    assert_eq!(array.queue_ids(data).count(), array.len(), "an element cannot be read");
    assert_eq!(array.is_empty(), array.queue_ids(data).next().is_none());
    assert!(array.queue_id(data, array.len()).is_none(), "an element past the end");
    let mut answer = data.to_vec();
    for index in 0..array.len() {
        assert!(array.write_completion_status(&mut answer, index, NDIS_STATUS_INVALID_PARAMETER));
    }
    assert!(!array.write_completion_status(&mut answer, array.len(), 0));
    let changed = (0..data.len()).filter(|&i| answer[i] != data[i]);
    assert!(changed.clone().all(|i| i < read), "a status written beyond BytesWritten");
    // The queue ids are not where the statuses go.
    assert!(array.queue_ids(&answer).eq(array.queue_ids(data)), "a status overwrote a queue id");
});
