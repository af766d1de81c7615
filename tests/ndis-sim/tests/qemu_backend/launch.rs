//! Starting and stopping QEMU, PCI discovery, guest RAM.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ndis_sim::qemu::pci::{self, CAP_ID_MSIX, CAP_ID_PCI_EXPRESS};
use ndis_sim::qemu::{
    BarKind, BarLayout, Error, IGB_82576_DEVICE_ID, INTEL_VENDOR_ID, Igb, PciAddress, PciConfig,
    Qemu, QemuConfig,
};

use crate::support::{config, process_identity, start_igb, start_qemu, still_running};

#[test]
fn qemu_starts_and_pci_config_space_describes_an_82576() {
    let qemu = start_qemu(&config());
    let pci = PciConfig::new(qemu.qtest(), PciAddress::new(0, 3, 0).unwrap());
    assert_eq!(pci.ids().unwrap(), (INTEL_VENDOR_ID, IGB_82576_DEVICE_ID));
    assert_eq!(pci.read16(pci::VENDOR_ID).unwrap(), 0x8086);
    assert_eq!(pci.read16(pci::DEVICE_ID).unwrap(), 0x10C9);
    assert_eq!(pci.read32(pci::CLASS_REVISION).unwrap() >> 8, 0x02_0000, "Ethernet controller");
    // No other function answers: slot 4 reads as all-ones.
    let empty = PciConfig::new(qemu.qtest(), PciAddress::new(0, 4, 0).unwrap());
    assert_eq!(empty.read32(0).unwrap(), 0xFFFF_FFFF);

    // Capability list as documented in igb-qemu.md §2: PM 0x40, MSI 0x50, MSI-X 0x70, PCIe 0xA0.
    let caps: Vec<(u8, u8)> =
        pci.capabilities().unwrap().iter().map(|c| (c.offset, c.id)).collect();
    assert_eq!(caps, [(0x40, 0x01), (0x50, 0x05), (0x70, CAP_ID_MSIX), (0xA0, CAP_ID_PCI_EXPRESS)]);

    // BAR sizing (§2): BAR0 128 KiB mem32, BAR1 128 KiB mem32, BAR2 32 B I/O, BAR3 16 KiB mem64.
    let bar = |i| pci.size_bar(i).unwrap().expect("implemented BAR");
    assert_eq!((bar(0).kind, bar(0).size), (BarKind::Memory32 { prefetchable: false }, 128 << 10));
    assert_eq!((bar(1).kind, bar(1).size), (BarKind::Memory32 { prefetchable: false }, 128 << 10));
    assert_eq!((bar(2).kind, bar(2).size), (BarKind::Io, 32));
    assert_eq!((bar(3).kind, bar(3).size), (BarKind::Memory64 { prefetchable: false }, 16 << 10));
    assert_eq!(pci.size_bar(5).unwrap(), None, "BAR5 is not implemented");
    // Sizing restored the (unassigned) BARs.
    assert_eq!(pci.read32(pci::BAR0).unwrap(), 0);

    // MSI-X: the table size comes from Message Control; igb-qemu.md says 10 vectors, table at
    // BAR3 + 0, PBA at BAR3 + 0x2000.
    let msix = pci.msix_capability().unwrap();
    let message_control = pci.read16(0x72).unwrap();
    assert_eq!(msix.table_size, (message_control & 0x7FF) + 1);
    assert_eq!(msix.table_size, 10);
    assert_eq!((msix.table_bir, msix.table_offset), (3, 0));
    assert_eq!((msix.pba_bir, msix.pba_offset), (3, 0x2000));
}

#[test]
fn attach_assigns_bars_enables_bus_mastering_and_finds_the_msix_table() {
    let igb = start_igb(&config());
    let pci = igb.pci();
    let layout = BarLayout::default();
    assert_eq!(pci.read32(0x10).unwrap(), 0xC000_0000);
    assert_eq!(pci.read32(0x14).unwrap(), 0xC002_0000);
    assert_eq!(pci.read32(0x18).unwrap(), 0xC001, "I/O BAR with the I/O indicator bit");
    assert_eq!(pci.read32(0x1C).unwrap(), 0xC004_0004, "64-bit memory BAR type bits");
    assert_eq!(pci.read32(0x20).unwrap(), 0);
    assert_eq!(pci.command().unwrap() & 0x7, 0x7, "I/O, memory and bus master");
    assert_eq!(igb.bar0(), layout.registers);
    assert_eq!(igb.bar0_size(), 128 << 10);
    assert_eq!(igb.msix_table_address(), layout.msix);
    assert_eq!(igb.msix_table_size(), pci.msix_capability().unwrap().table_size);

    // BAR0 decodes: STATUS reads as in §3 (link down, full duplex, 1000 Mb/s, GIO master).
    let status = igb.reg_read(ndis_sim::qemu::regs::STATUS).unwrap();
    assert_eq!(status, 0x8008_0481);
    // All MSI-X entries are masked after reset (§2 step 4).
    for entry in 0..igb.msix_table_size() {
        assert!(igb.msix_read_entry(entry).unwrap().masked, "entry {entry}");
    }
    // MSI-X is off until the OS enables it; enabling clears Function Mask.
    assert_eq!(pci.read16(0x72).unwrap() & 0xC000, 0);
    igb.msix_set_control(true, true).unwrap();
    assert_eq!(pci.read16(0x72).unwrap() & 0xC000, 0xC000);
    igb.msix_set_control(true, false).unwrap();
    assert_eq!(pci.read16(0x72).unwrap() & 0xC000, 0x8000);
    assert!(matches!(igb.msix_read_entry(igb.msix_table_size()), Err(Error::InvalidArgument(_))));
}

#[test]
fn drop_kills_qemu_and_removes_its_files() {
    let qemu = start_qemu(&config());
    let pid = qemu.pid();
    let workdir = qemu.workdir().to_path_buf();
    let (_, start_time) = process_identity(pid).expect("QEMU is running");
    assert!(still_running(pid, start_time));
    assert!(workdir.join("qemu.log").exists());
    // The guest RAM file was unlinked as soon as both sides had it mapped (§9).
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let ram_line = maps.lines().find(|l| l.contains("/dev/shm/ndis-sim-")).expect("RAM mapping");
    assert!(ram_line.ends_with("(deleted)"), "{ram_line}");

    let started = Instant::now();
    drop(qemu);
    // Drop reaps QEMU, so the pid is gone at once (or belongs to a different process).
    assert!(!still_running(pid, start_time), "QEMU {pid} survived Drop");
    assert!(process_identity(pid).is_none_or(|(_, t)| t != start_time), "QEMU {pid} not reaped");
    assert!(!workdir.exists(), "{} not removed", workdir.display());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "SIGTERM was enough: {:?}",
        started.elapsed()
    );
}

#[test]
fn qemu_dies_when_the_process_that_started_it_is_killed() {
    let mut probe = Command::new(env!("CARGO_BIN_EXE_qemu-orphan-probe"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu-orphan-probe");
    let mut line = String::new();
    BufReader::new(probe.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let mut fields = line.split_whitespace();
    let (Some("qemu-pid"), Some(pid), Some(workdir)) =
        (fields.next(), fields.next(), fields.next())
    else {
        let _ = probe.kill();
        let out = probe.wait_with_output().unwrap();
        panic!("probe failed: {line:?} {}", String::from_utf8_lossy(&out.stderr));
    };
    let pid: u32 = pid.parse().unwrap();
    // SIGKILL leaves the probe's temporary directory behind; it is ours to remove.
    let workdir = std::path::PathBuf::from(workdir);
    let (_, start_time) = process_identity(pid).expect("QEMU of the probe is running");
    assert!(still_running(pid, start_time));

    probe.kill().unwrap(); // SIGKILL: no destructor runs in the probe
    probe.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while still_running(pid, start_time) {
        assert!(
            Instant::now() < deadline,
            "QEMU {pid} outlived the SIGKILLed process that started it"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(workdir.starts_with(std::env::temp_dir()), "{}", workdir.display());
    // Another test process may already have swept it (its owner's pid is gone).
    match std::fs::remove_dir_all(&workdir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("removing {}: {e}", workdir.display()),
    }
}

#[test]
fn qemu_outlives_the_thread_that_started_it() {
    // PR_SET_PDEATHSIG fires when the forking *thread* exits; the backend forks from a
    // process-lifetime thread so that this does not kill QEMU.
    let config = QemuConfig { netdev: false, ..config() };
    let mut qemu = std::thread::spawn(move || start_qemu(&config)).join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(qemu.is_running(), "QEMU died with its starting thread:\n{}", qemu.log_tail());
    qemu.qtest().sync().unwrap();
    // Without a netdev, frame I/O is an error rather than a hang.
    assert!(matches!(qemu.send_frame(&[0; 60]), Err(Error::NoNetdev)));
    assert!(matches!(qemu.recv_frame(Duration::ZERO), Err(Error::NoNetdev)));
}

#[test]
fn missing_qemu_binary_fails_with_the_install_hint() {
    let config = QemuConfig { binary: Some("/nonexistent/qemu-system-x86_64".into()), ..config() };
    let err = Qemu::start(&config).expect_err("no such binary");
    assert!(matches!(err, Error::QemuUnavailable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("QEMU >= 8.0"), "{text}");
    assert!(text.contains("igb"), "{text}");
    assert!(text.contains("apt-get install -t bookworm-backports qemu-system-x86"), "{text}");
}

#[test]
fn qemu_without_igb_fails_with_the_install_hint() {
    // A stand-in for an old QEMU: prints what QEMU 7.2 prints for `-device igb` and exits.
    let dir = std::env::temp_dir().join(format!("ndis-sim-fake-qemu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("qemu-system-x86_64");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho \"qemu-system-x86_64: -device igb,addr=3.0: 'igb' is not a valid device \
         model name\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let result = Qemu::start(&QemuConfig { binary: Some(fake), ..config() });
    std::fs::remove_dir_all(&dir).unwrap();
    let err = result.expect_err("fake QEMU has no igb");
    assert!(matches!(err, Error::QemuUnavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("bookworm-backports"), "{err}");
}

#[test]
fn parallel_instances_have_their_own_files_and_memory() {
    let a = start_qemu(&config());
    let b = start_qemu(&config());
    assert_ne!(a.pid(), b.pid());
    assert_ne!(a.workdir(), b.workdir());
    let gpa = 0x20_0000;
    a.ram().write_u32(gpa, 0xA11C_E000).unwrap();
    b.ram().write_u32(gpa, 0x0000_B0B0).unwrap();
    assert_eq!(a.qtest().readl(gpa).unwrap(), 0xA11C_E000);
    assert_eq!(b.qtest().readl(gpa).unwrap(), 0x0000_B0B0);
}

#[test]
fn mapped_guest_ram_is_the_memory_qemu_sees() {
    let qemu = start_qemu(&QemuConfig { memory_mib: 64, netdev: false, ..config() });
    let ram = qemu.ram();
    let qt = qemu.qtest();
    assert_eq!(ram.size(), 64 << 20);
    // Our writes are what QEMU reads, through every qtest read command.
    let pattern: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    ram.write(0x30_0001, &pattern).unwrap();
    let mut back = vec![0u8; pattern.len()];
    qt.b64read(0x30_0001, &mut back).unwrap();
    assert_eq!(back, pattern);
    let mut hex = vec![0u8; 300];
    qt.read_hex(0x30_0001, &mut hex).unwrap();
    assert_eq!(hex, pattern[..300]);
    ram.write_u64(0x30_2000, 0x0123_4567_89AB_CDEF).unwrap();
    assert_eq!(qt.readq(0x30_2000).unwrap(), 0x0123_4567_89AB_CDEF);
    assert_eq!(qt.readw(0x30_2002).unwrap(), 0x89AB);
    assert_eq!(qt.readb(0x30_2007).unwrap(), 0x01);
    // QEMU's writes are what we read, at once.
    qt.writel(0x30_3000, 0xFEED_F00D).unwrap();
    assert_eq!(ram.read_u32(0x30_3000).unwrap(), 0xFEED_F00D);
    qt.writeq(0x30_3008, u64::MAX - 1).unwrap();
    assert_eq!(ram.read_u64(0x30_3008).unwrap(), u64::MAX - 1);
    qt.writew(0x30_3010, 0xBEEF).unwrap();
    qt.writeb(0x30_3012, 0x7A).unwrap();
    assert_eq!(ram.read_u32(0x30_3010).unwrap(), 0x007A_BEEF);
    qt.b64write(0x3F_FFF0, &[0x11; 16]).unwrap();
    qt.write_hex(0x3F_FFE0, &[0x22; 16]).unwrap();
    assert_eq!(ram.read_vec(0x3F_FFE0, 32).unwrap(), [[0x22; 16], [0x11; 16]].concat());
    // Low RAM below the BIOS window is RAM too (§9); the window itself is refused.
    ram.write_u32(0x9F000, 0x5AA5_5AA5).unwrap();
    assert_eq!(qt.readl(0x9F000).unwrap(), 0x5AA5_5AA5);
    assert!(matches!(ram.read_u32(0xF0000), Err(Error::GuestRamOutOfRange { .. })));
    assert!(matches!(ram.read_u32(64 << 20), Err(Error::GuestRamOutOfRange { .. })));
    // Port I/O round trip through the I/O space (the PCI config data port of an absent slot).
    qt.outl(0xCF8, 0x8000_2000).unwrap();
    assert_eq!(qt.inl(0xCFC).unwrap(), 0xFFFF_FFFF);
    assert_eq!(qt.inw(0xCFC).unwrap(), 0xFFFF);
    assert_eq!(qt.inb(0xCFC).unwrap(), 0xFF);
}

#[test]
fn dma_allocations_start_above_1mib_are_zeroed_and_tracked() {
    let qemu = start_qemu(&QemuConfig { memory_mib: 32, netdev: false, ..config() });
    let a = qemu.dma_alloc(100, "small").unwrap();
    assert!(a.gpa >= 0x10_0000 && a.gpa.is_multiple_of(4096) && a.len == 4096, "{a:?}");
    qemu.ram().fill(a.gpa, a.len, 0xFF).unwrap();
    qemu.dma_free(a).unwrap();
    let b = qemu.dma_alloc(4096, "reused").unwrap();
    assert_eq!(b, a, "first fit reuses the freed page");
    assert_eq!(qemu.ram().read_vec(b.gpa, 4096).unwrap(), vec![0; 4096], "zeroed on allocation");
    let tags: Vec<_> = qemu.dma_outstanding().iter().map(|x| x.tag).collect();
    assert_eq!(tags, ["reused"]);
    assert!(matches!(qemu.dma_alloc(32 << 20, "too big"), Err(Error::OutOfGuestMemory { .. })));
    qemu.dma_free(b).unwrap();
    assert!(qemu.dma_outstanding().is_empty());
}

#[test]
fn attach_rejects_a_misaligned_bar_layout() {
    let qemu = start_qemu(&QemuConfig { netdev: false, ..config() });
    let layout = BarLayout { registers: 0xC000_1000, ..BarLayout::default() };
    let err = Igb::attach(qemu, layout).expect_err("BAR0 must be aligned to 128 KiB");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}
