//! Shared helpers of the QEMU backend tests.
//!
//! Every helper that starts QEMU panics with the backend's own message when that fails, so a
//! machine without a suitable QEMU makes these tests FAIL with the install hint; they never
//! skip.

use std::time::Duration;

use ndis_sim::qemu::{BarLayout, GpaRange, Igb, MacAddress, MsixMailbox, Qemu, QemuConfig, regs};

/// MAC given to QEMU in most tests. Deliberately not QEMU's default 52:54:00:12:34:56, so a
/// test reading it back proves the configuration reached the device.
pub const PF_MAC: MacAddress = MacAddress([0x02, 0x4E, 0x44, 0x49, 0x53, 0x01]);
/// Source address of injected frames.
pub const PEER_MAC: MacAddress = MacAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0xAA]);

/// Vector of the "other" causes (link status change, RX overrun).
pub const OTHER_VECTOR: u16 = 0;
/// Vector of RX queue 0.
pub const RX_VECTOR: u16 = 1;
/// Vector of TX queue 0.
pub const TX_VECTOR: u16 = 2;
/// A vector only ever raised by software (EICS).
pub const SOFTWARE_VECTOR: u16 = 3;
/// Vectors `0..VECTORS_USED` get a mailbox.
pub const VECTORS_USED: u16 = 4;

/// Generous bound for events that take microseconds to milliseconds.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(3);

/// Message data of vector `v`, as in poc.py.
pub fn msix_data(vector: u16) -> u32 {
    0xCAFE_0000 | u32::from(vector)
}

pub fn config() -> QemuConfig {
    QemuConfig { mac: PF_MAC, ..QemuConfig::default() }
}

pub fn start_qemu(config: &QemuConfig) -> Qemu {
    Qemu::start(config).unwrap_or_else(|e| panic!("{e}"))
}

pub fn start_igb(config: &QemuConfig) -> Igb {
    let qemu = start_qemu(config);
    Igb::attach(qemu, BarLayout::default()).unwrap_or_else(|e| panic!("attaching the igb: {e}"))
}

/// A 64-byte frame to `dst` with a recognisable label in the payload (`EtherType` 0x88B5, the
/// IEEE local experimental type, as in poc.py).
pub fn frame(dst: MacAddress, label: &str) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&PEER_MAC.0);
    f.extend_from_slice(&[0x88, 0xB5]);
    f.extend_from_slice(b"NDISSIM:");
    f.extend_from_slice(label.as_bytes());
    f.resize(64, b'.');
    f
}

/// The label `frame` put into `data`.
pub fn label_of(data: &[u8]) -> String {
    let payload = data.get(22..).unwrap_or(&[]);
    String::from_utf8_lossy(payload).trim_end_matches('.').to_owned()
}

/// An igb with MSI-X enabled, reset, and vectors `0..VECTORS_USED` pointed at mailboxes in
/// guest RAM, routed as the PoC does it (igb-qemu.md §10).
pub struct Nic {
    pub igb: Igb,
    pub mailboxes: Vec<MsixMailbox>,
    pub mailbox_page: GpaRange,
}

impl Nic {
    pub fn bring_up(config: &QemuConfig) -> Nic {
        let igb = start_igb(config);
        igb.msix_set_control(true, false).expect("MSI-X enable");
        igb.reset().expect("reset");
        let mailbox_page = igb.qemu().dma_alloc(4096, "msix mailboxes").expect("mailbox page");
        let mailboxes = (0..VECTORS_USED)
            .map(|v| {
                igb.route_msix_to_mailbox(v, mailbox_page.gpa + 0x40 * u64::from(v), msix_data(v))
                    .expect("route MSI-X entry")
            })
            .collect();
        let vector_mask = (1u32 << VECTORS_USED) - 1;
        // GPIE.MSIX_MODE before EIAC, or the EIAC write is dropped (§6, §13.3).
        igb.reg_write(regs::GPIE, regs::GPIE_MSIX_MODE).unwrap();
        // Auto-clear EICR after each message, so every event gives one message (§6).
        igb.reg_write(regs::EIAC, vector_mask).unwrap();
        for v in 0..u32::from(VECTORS_USED) {
            igb.reg_write(regs::EITR(v), 0).unwrap();
        }
        igb.set_ivar_misc(OTHER_VECTOR).unwrap();
        igb.reg_write(regs::IMS, regs::ICR_LSC).unwrap();
        igb.reg_write(regs::EIMS, vector_mask).unwrap();
        Nic { igb, mailboxes, mailbox_page }
    }

    /// Brings the link up and consumes the link-change message, so later checks start from
    /// empty mailboxes.
    pub fn link_up(&self) {
        self.igb.link_up(EVENT_TIMEOUT).unwrap_or_else(|e| panic!("link-up: {e}"));
        let fired = self.igb.poll_mailboxes(&self.mailboxes, EVENT_TIMEOUT).unwrap();
        assert_eq!(fired, [(OTHER_VECTOR, msix_data(OTHER_VECTOR))], "link-up message");
    }

    pub fn qemu(&self) -> &Qemu {
        self.igb.qemu()
    }
}

/// State letter and start time (clock ticks since boot) of a process, from /proc; `None` if
/// there is no such process.
pub fn process_identity(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some((state, start_time))
}

/// Whether the process that had `start_time` is still running (not gone, not a zombie, and
/// the pid not reused by another process).
pub fn still_running(pid: u32, start_time: u64) -> bool {
    matches!(process_identity(pid), Some((state, t)) if t == start_time && state != 'Z' && state != 'X')
}
