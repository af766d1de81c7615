//! The register file the instruction benches use: what an MMIO access costs on Windows (a
//! bounds check and one store) plus a counter, instead of the simulator's qtest round trip or
//! the fake device's access log (which allocates). Counts reads and writes so that a region's
//! device accesses can be checked (0 reads; one tail write per pass).

use std::cell::Cell;

use vmqnic::hw::{ALL_ONES, Registers, Stall};

/// BAR0 of the 82576: 128 KiB.
const BAR_WORDS: usize = (128 << 10) / 4;

/// A plain register file.
pub struct BenchRegs {
    file: Vec<Cell<u32>>,
    reads: Cell<u64>,
    writes: Cell<u64>,
}

impl BenchRegs {
    pub fn new() -> Self {
        Self { file: vec![Cell::new(0); BAR_WORDS], reads: Cell::new(0), writes: Cell::new(0) }
    }

    /// The value at `offset` as the device sees it (not counted).
    pub fn peek(&self, offset: u32) -> u32 {
        self.file.get(offset as usize / 4).map_or(ALL_ONES, Cell::get)
    }

    /// (reads, writes) so far.
    pub fn accesses(&self) -> (u64, u64) {
        (self.reads.get(), self.writes.get())
    }
}

impl Registers for BenchRegs {
    fn read32(&self, offset: u32) -> u32 {
        self.reads.set(self.reads.get() + 1);
        self.peek(offset)
    }

    fn write32(&self, offset: u32, value: u32) {
        self.writes.set(self.writes.get() + 1);
        if let Some(register) = self.file.get(offset as usize / 4) {
            register.set(value);
        }
    }
}

/// No real time passes in a bench (the rings' enable polls find ENABLE at once).
pub struct NoStall;

impl Stall for NoStall {
    fn stall_us(&self, _us: u32) {}
}
