//! The 82576's statistics registers. They clear when read (64-bit ones when their high half
//! is read, after the low half), so the driver reads them now and then and adds the deltas to
//! 64-bit software totals; a read never happens on the packet path.

use super::regs::{
    ALGNERRC, BPRC, BPTC, CRCERRS, GORCH, GORCL, GOTCH, GOTCL, GPRC, GPTC, MPC, MPRC, MPTC, RLEC,
    RNBC, ROC, RUC, RXERRC,
};
use crate::hw::{ALL_ONES, Registers};

/// What the statistics registers counted since they were last read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatisticsDelta {
    /// Good packets received (GPRC).
    pub rx_packets: u64,
    /// Good octets received (GORC).
    pub rx_bytes: u64,
    /// Broadcast packets received (BPRC).
    pub rx_broadcast: u64,
    /// Multicast packets received (MPRC).
    pub rx_multicast: u64,
    /// Good packets sent (GPTC).
    pub tx_packets: u64,
    /// Good octets sent (GOTC).
    pub tx_bytes: u64,
    /// Broadcast packets sent (BPTC).
    pub tx_broadcast: u64,
    /// Multicast packets sent (MPTC).
    pub tx_multicast: u64,
    /// CRC errors (CRCERRS).
    pub rx_crc_errors: u64,
    /// Other receive errors: alignment, RX error, length, undersize, oversize.
    pub rx_errors: u64,
    /// Frames missed for lack of buffers (MPC + RNBC).
    pub rx_no_buffer: u64,
}

/// Reads (and so clears) the statistics registers. `None` if the device is gone (a register
/// read all-ones): those values are not counts.
#[must_use]
pub fn read_statistics(regs: &impl Registers) -> Option<StatisticsDelta> {
    let read = |offset: u32| {
        let value = regs.read32(offset);
        (value != ALL_ONES).then_some(u64::from(value))
    };
    // Low half first: reading the high half clears the pair.
    let read64 = |low: u32, high: u32| {
        let low = read(low)?;
        Some(low | (read(high)? << 32))
    };
    Some(StatisticsDelta {
        rx_packets: read(GPRC)?,
        rx_bytes: read64(GORCL, GORCH)?,
        rx_broadcast: read(BPRC)?,
        rx_multicast: read(MPRC)?,
        tx_packets: read(GPTC)?,
        tx_bytes: read64(GOTCL, GOTCH)?,
        tx_broadcast: read(BPTC)?,
        tx_multicast: read(MPTC)?,
        rx_crc_errors: read(CRCERRS)?,
        rx_errors: read(ALGNERRC)?
            .saturating_add(read(RXERRC)?)
            .saturating_add(read(RLEC)?)
            .saturating_add(read(RUC)?)
            .saturating_add(read(ROC)?),
        rx_no_buffer: read(MPC)?.saturating_add(read(RNBC)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;
    use std::collections::BTreeMap;

    /// Read-to-clear registers.
    struct Counters(RefCell<BTreeMap<u32, u32>>);

    impl Registers for Counters {
        fn read32(&self, offset: u32) -> u32 {
            self.0.borrow_mut().remove(&offset).unwrap_or(0)
        }
        fn write32(&self, _offset: u32, _value: u32) {}
    }

    #[test]
    fn deltas_and_clear_on_read() {
        let regs = Counters(RefCell::new(BTreeMap::from([
            (GPRC, 5),
            (GORCL, 0x10),
            (GORCH, 1),
            (BPRC, 2),
            (RLEC, 1),
            (ROC, 2),
            (MPC, 3),
        ])));
        let delta = read_statistics(&regs).unwrap();
        assert_eq!(delta.rx_packets, 5);
        assert_eq!(delta.rx_bytes, 0x1_0000_0010);
        assert_eq!(delta.rx_broadcast, 2);
        assert_eq!(delta.rx_errors, 3);
        assert_eq!(delta.rx_no_buffer, 3);
        assert_eq!(
            read_statistics(&regs).unwrap(),
            StatisticsDelta::default(),
            "cleared by the read"
        );
    }

    #[test]
    fn a_vanished_device_gives_no_counts() {
        struct Gone;
        impl Registers for Gone {
            fn read32(&self, _offset: u32) -> u32 {
                ALL_ONES
            }
            fn write32(&self, _offset: u32, _value: u32) {}
        }
        assert_eq!(read_statistics(&Gone), None);
    }
}
