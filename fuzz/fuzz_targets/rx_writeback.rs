//! The RX write-back validator: any 16 bytes the device (or a hostile one) wrote, any buffer
//! size. Only a complete, error-free frame of 1..=buffer-size bytes is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::hw::igb::{DESCRIPTOR_SIZE, ERR_FRAME_MASK, Malformed, WriteBack, parse_writeback};
use vmqnic_fuzz::Reader;

/// STATUS.DD, STATUS.EOP (igb-qemu §5).
const DD: u32 = 1;
const EOP: u32 = 1 << 1;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let desc: [u8; DESCRIPTOR_SIZE] = r.array();
    let buffer_size = match r.u8() % 5 {
        0 => 2048,
        1 => 0,
        2 => 1,
        3 => u32::MAX,
        _ => r.u32(),
    };
    let status = u32::from_le_bytes([desc[8], desc[9], desc[10], desc[11]]);
    let length = u16::from_le_bytes([desc[12], desc[13]]);
    match parse_writeback(&desc, buffer_size) {
        WriteBack::NotDone => assert_eq!(status & DD, 0),
        WriteBack::Frame(frame) => {
            assert_ne!(status & DD, 0);
            assert_ne!(status & EOP, 0, "a frame without EOP");
            assert_eq!(status & ERR_FRAME_MASK, 0, "a frame with an error");
            assert_eq!(frame.length, length);
            assert!(frame.length >= 1 && u32::from(frame.length) <= buffer_size);
        }
        WriteBack::Malformed(why) => {
            assert_ne!(status & DD, 0);
            if let Malformed::TooLong(long) = why {
                assert!(u32::from(long) > buffer_size);
            }
        }
    }
});
