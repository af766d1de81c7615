//! Test support for `tests/qemu_backend`: starts a QEMU, prints `qemu-pid <pid> <workdir>` on
//! stdout and then waits until stdin is closed. The test SIGKILLs this process and checks that the
//! QEMU dies with it (`PR_SET_PDEATHSIG`), which no destructor could arrange.

use std::io::{Read, Write};

use ndis_sim::qemu::{Qemu, QemuConfig};

fn main() {
    let config = QemuConfig { netdev: false, ..QemuConfig::default() };
    let qemu = match Qemu::start(&config) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("qemu-orphan-probe: {e}");
            std::process::exit(2);
        }
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "qemu-pid {} {}", qemu.pid(), qemu.workdir().display());
    let _ = stdout.flush();
    // Returns when the test closes our stdin (or dies); a normal exit drops `qemu` cleanly.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(qemu);
}
