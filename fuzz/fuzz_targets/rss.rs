//! `NDIS_RSS_PROCESSOR_INFO` (NdisGetRssProcessorInformation): any buffer. A buffer that
//! parses gives processors that fit a KAFFINITY, each once, most preferred first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::interrupt::rss::parse_rss_processor_info;

fuzz_target!(|data: &[u8]| {
    let Ok(processors) = parse_rss_processor_info(data) else { return };
    assert!(!processors.is_empty());
    for (i, p) in processors.iter().enumerate() {
        assert!(p.processor.number < 64);
        assert!(
            processors[..i].iter().all(|q| q.processor != p.processor),
            "{:?} listed twice",
            p.processor
        );
    }
    assert!(processors.windows(2).all(|w| w[0].preference_index <= w[1].preference_index));
});
