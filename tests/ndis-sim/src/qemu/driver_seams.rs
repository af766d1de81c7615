//! The driver's hardware seams (`vmqnic::hw::Registers`, `vmqnic::hw::Stall`) over this
//! backend, for tests that run the driver's device code directly against QEMU's 82576 (without
//! the simulated NDIS in between).

use std::time::Duration;

use vmqnic::hw::{ALL_ONES, Registers, Stall};

use super::Igb;

/// `vmqnic::hw::Registers` over the backend's BAR0 access. As the trait requires, an offset the
/// backend refuses reads as all-ones and is not written; so does any access once QEMU has gone,
/// which is exactly what a surprise-removed device looks like to the driver.
pub struct QemuRegisters<'a>(pub &'a Igb);

impl Registers for QemuRegisters<'_> {
    fn read32(&self, offset: u32) -> u32 {
        self.0.reg_read(offset).unwrap_or(ALL_ONES)
    }

    fn write32(&self, offset: u32, value: u32) {
        let _ = self.0.reg_write(offset, value);
    }
}

/// `vmqnic::hw::Stall` as a sleep: under TCG the device's timers run in wall-clock time.
pub struct SleepStall;

impl Stall for SleepStall {
    fn stall_us(&self, us: u32) {
        std::thread::sleep(Duration::from_micros(u64::from(us)));
    }
}
