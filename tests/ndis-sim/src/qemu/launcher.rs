//! Starting and stopping one QEMU with one igb NIC (igb-qemu.md §1).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::error::{Error, QemuLog, Result};
use super::gpa_alloc::{Allocation, GpaAllocator, GpaRange};
use super::guest_ram::{FIRST_DMA_ADDRESS, GuestRam};
use super::netdev::{MacAddress, Netdev};
use super::qmp::{IGB_NIC_ID, Qmp, set_link_arguments};
use super::qtest::Qtest;
use super::spawner::{SpawnSpec, spawn_tied_to_process};

/// The binary used when neither [`QemuConfig::binary`] nor `$QEMU` is set.
pub const DEFAULT_QEMU_BINARY: &str = "qemu-system-x86_64";

/// Smallest guest RAM accepted: the harness allocates DMA memory from 1 MiB up.
pub const MIN_MEMORY_MIB: u32 = 16;

/// Largest guest RAM accepted. On q35, RAM up to this size is all below 4 GiB, which keeps
/// "file offset == guest-physical address" true for every byte (igb-qemu.md §9), and it stays
/// below the BAR addresses the harness uses (`0xC000_0000`).
pub const MAX_MEMORY_MIB: u32 = 2048;

/// The igb's PCI slot, fixed on the command line (`addr=3.0`).
pub const IGB_PCI_DEVICE: u8 = 3;

/// The `id` of the `-netdev stream` backend (when [`QemuConfig::netdev`] is on), which is also
/// its net-client name for QMP `set_link`.
pub const NETDEV_ID: &str = "n0";

/// How to start QEMU.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// QEMU binary; `None` means `$QEMU` if set, else `qemu-system-x86_64` on `$PATH`.
    pub binary: Option<PathBuf>,
    /// Guest RAM in MiB ([`MIN_MEMORY_MIB`]..=[`MAX_MEMORY_MIB`]).
    pub memory_mib: u32,
    /// The NIC's permanent MAC (what RAR0 and the EEPROM hold after reset).
    pub mac: MacAddress,
    /// Connect the NIC to a `-netdev stream` socket served by this process.
    pub netdev: bool,
    /// Appended to QEMU's command line (e.g. `-trace igb_*`).
    pub extra_args: Vec<OsString>,
    /// Bound for QEMU to start and connect its sockets.
    pub startup_timeout: Duration,
    /// Bound for each qtest reply and each QMP answer.
    pub qtest_timeout: Duration,
}

impl Default for QemuConfig {
    fn default() -> Self {
        QemuConfig {
            binary: None,
            memory_mib: 256,
            mac: MacAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            netdev: true,
            extra_args: Vec::new(),
            startup_timeout: Duration::from_secs(10),
            qtest_timeout: Duration::from_secs(10),
        }
    }
}

impl QemuConfig {
    /// The binary that will be started.
    #[must_use]
    pub fn resolved_binary(&self) -> PathBuf {
        if let Some(binary) = &self.binary {
            return binary.clone();
        }
        if let Some(from_env) = std::env::var_os("QEMU").filter(|v| !v.is_empty()) {
            return PathBuf::from(from_env);
        }
        PathBuf::from(DEFAULT_QEMU_BINARY)
    }
}

/// A unique directory for one QEMU's sockets, BIOS image and log; removed on drop.
#[derive(Debug)]
struct WorkDir {
    path: PathBuf,
}

/// Distinguishes the QEMUs of one process; with the pid it makes names unique across the
/// parallel tests of one binary and across nextest's one-process-per-test runs.
static INSTANCE_COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    format!("{}-{}", std::process::id(), INSTANCE_COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl WorkDir {
    /// Unix socket paths are limited to 107 bytes; keep ours far from that.
    const MAX_SOCKET_PATH: usize = 100;

    const PREFIX: &'static str = "ndis-sim-qemu-";

    fn create() -> Result<Self> {
        static SWEPT: std::sync::Once = std::sync::Once::new();
        let base = std::env::temp_dir();
        SWEPT.call_once(|| Self::remove_stale(&base));
        for _ in 0..100 {
            let path = base.join(format!("{}{}", Self::PREFIX, unique_suffix()));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let dir = WorkDir { path };
                    let probe = dir.path.join("qtest.sock");
                    if probe.as_os_str().len() > Self::MAX_SOCKET_PATH {
                        return Err(Error::InvalidArgument(format!(
                            "temporary directory {} is too long for unix socket paths; set \
                             TMPDIR to a shorter directory",
                            base.display()
                        )));
                    }
                    return Ok(dir);
                }
                // A leftover of an earlier process with the same pid: pick the next number.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(format!("creating {}", path.display()), e)),
            }
        }
        Err(Error::InvalidArgument("could not create a unique temporary directory".to_owned()))
    }
}

impl WorkDir {
    /// Removes directories left by test processes that were killed (no destructor ran): ours
    /// are named `ndis-sim-qemu-<pid>-<n>`, and only those whose pid no longer exists go.
    /// (This assumes the temporary directory is not shared with another pid namespace.)
    fn remove_stale(base: &Path) {
        let Ok(entries) = fs::read_dir(base) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(Self::PREFIX)) else {
                continue;
            };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The /dev/shm file backing guest RAM. Unlinked as soon as both QEMU and we have it open,
/// or on drop if startup failed before that.
#[derive(Debug)]
struct ShmFile {
    path: PathBuf,
    file: File,
    linked: bool,
}

impl ShmFile {
    fn create(size: u64) -> Result<Self> {
        for _ in 0..100 {
            let path = PathBuf::from(format!("/dev/shm/ndis-sim-{}", unique_suffix()));
            match OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)
            {
                Ok(file) => {
                    let shm = ShmFile { path, file, linked: true };
                    shm.file
                        .set_len(size)
                        .map_err(|e| Error::io(format!("sizing {}", shm.path.display()), e))?;
                    return Ok(shm);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(format!("creating {}", path.display()), e)),
            }
        }
        Err(Error::InvalidArgument("could not create a unique /dev/shm file".to_owned()))
    }

    fn unlink(&mut self) -> Result<()> {
        if self.linked {
            fs::remove_file(&self.path)
                .map_err(|e| Error::io(format!("unlinking {}", self.path.display()), e))?;
            self.linked = false;
        }
        Ok(())
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        if self.linked {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The QEMU child process. Dropping it stops that process (and no other): SIGTERM, then
/// SIGKILL after [`QemuProcess::TERM_GRACE`], then reaps it.
#[derive(Debug)]
struct QemuProcess {
    child: Child,
    exit: Option<ExitStatus>,
}

impl QemuProcess {
    const TERM_GRACE: Duration = Duration::from_secs(3);

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if QEMU has exited (and is now reaped).
    fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    fn stop(&mut self) {
        if self.try_exit_status().is_some() {
            return;
        }
        // The child is not reaped yet, so its pid cannot have been reused: this signals our
        // QEMU and nothing else.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) with a pid we own (an unreaped child) and a valid signal number;
            // it touches no memory.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Self::TERM_GRACE;
        while Instant::now() < deadline {
            if self.try_exit_status().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill(); // SIGKILL
        self.exit = self.child.wait().ok();
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One running QEMU: q35 under TCG with a halting BIOS, qtest, a QMP monitor, shared guest RAM
/// and one igb NIC (`id=nic0`) at 00:03.0, optionally connected to a netdev stream served by
/// this process.
///
/// Dropping it stops QEMU (SIGTERM, then SIGKILL), unmaps guest RAM and removes the temporary
/// directory. QEMU is also SIGKILLed by the kernel if this process dies.
#[derive(Debug)]
pub struct Qemu {
    // Field order is drop order: stop QEMU first, then close our ends, unmap RAM, and remove
    // the directory last.
    process: QemuProcess,
    qtest: Qtest,
    qmp: Qmp,
    netdev: Option<Netdev>,
    ram: GuestRam,
    dma: Mutex<GpaAllocator>,
    mac: MacAddress,
    log: QemuLog,
    log_path: PathBuf,
    _shm: ShmFile,
    workdir: WorkDir,
}

fn bind_listener(path: &Path) -> Result<UnixListener> {
    let listener = UnixListener::bind(path)
        .map_err(|e| Error::io(format!("binding {}", path.display()), e))?;
    // Non-blocking so that the accept loop can notice QEMU exiting early.
    listener.set_nonblocking(true).map_err(|e| Error::io("listener set_nonblocking", e))?;
    Ok(listener)
}

/// Text QEMU prints when it was built without the igb model.
fn lacks_igb(log: &str) -> bool {
    log.contains("'igb' is not a valid device model name")
}

impl Qemu {
    /// Starts QEMU with `config` (igb-qemu.md §1) and connects to it.
    ///
    /// # Errors
    /// [`Error::QemuUnavailable`] if the binary is missing or has no igb device (the message
    /// says how to install a suitable QEMU); [`Error::Startup`] if QEMU exits or does not
    /// connect in time, with the end of its stderr.
    pub fn start(config: &QemuConfig) -> Result<Self> {
        if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&config.memory_mib) {
            return Err(Error::InvalidArgument(format!(
                "memory_mib {} is outside {MIN_MEMORY_MIB}..={MAX_MEMORY_MIB}",
                config.memory_mib
            )));
        }
        let binary = config.resolved_binary();
        let mem_bytes = u64::from(config.memory_mib) << 20;
        let workdir = WorkDir::create()?;

        // No firmware: 64 KiB of HLT. The vCPU halts with interrupts off and never touches
        // the NIC (igb-qemu.md §1).
        let bios = workdir.path.join("halt.bin");
        fs::write(&bios, vec![0xF4u8; 65536])
            .map_err(|e| Error::io("writing the BIOS image", e))?;

        // Listen before QEMU starts: QEMU connects to both sockets as a client.
        let qtest_path = workdir.path.join("qtest.sock");
        let qtest_listener = bind_listener(&qtest_path)?;
        let net_path = workdir.path.join("net.sock");
        let net_listener = if config.netdev { Some(bind_listener(&net_path)?) } else { None };
        let qmp_path = workdir.path.join("qmp.sock");
        let qmp_listener = bind_listener(&qmp_path)?;

        let mut shm = ShmFile::create(mem_bytes)?;
        let log_path = workdir.path.join("qemu.log");
        let log_file = File::create(&log_path).map_err(|e| Error::io("creating qemu.log", e))?;
        let log = QemuLog::new(&log_path);

        let args = CommandLine {
            config,
            bios: &bios,
            qtest: &qtest_path,
            qmp: &qmp_path,
            netdev: &net_path,
            guest_ram: &shm.path,
        }
        .args();

        let child =
            spawn_tied_to_process(SpawnSpec { program: binary.clone(), args, log: log_file })
                .map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => Error::QemuUnavailable {
                        binary: binary.clone(),
                        reason: "not found (neither as given nor on $PATH)".to_owned(),
                    },
                    io::ErrorKind::PermissionDenied => Error::QemuUnavailable {
                        binary: binary.clone(),
                        reason: "not executable".to_owned(),
                    },
                    _ => Error::io(format!("starting {}", binary.display()), e),
                })?;
        let mut process = QemuProcess { child, exit: None };

        let deadline = Instant::now() + config.startup_timeout;
        // Order matters: QEMU connects qtest first, then the netdev (igb-qemu.md §1). The QMP
        // chardev connects before both (chardevs are created first), so it is already
        // waiting in the listener's backlog.
        let qtest_stream =
            accept_from_qemu(&qtest_listener, "qtest", &mut process, &binary, &log, deadline)?;
        let net_stream = match &net_listener {
            Some(listener) => {
                Some(accept_from_qemu(listener, "netdev", &mut process, &binary, &log, deadline)?)
            }
            None => None,
        };
        let qmp_stream =
            accept_from_qemu(&qmp_listener, "QMP", &mut process, &binary, &log, deadline)?;
        drop(qtest_listener);
        drop(net_listener);
        drop(qmp_listener);
        // The sockets' paths are no longer needed; nothing else may connect.
        let _ = fs::remove_file(&qtest_path);
        let _ = fs::remove_file(&net_path);
        let _ = fs::remove_file(&qmp_path);

        let qtest = Qtest::new(qtest_stream, config.qtest_timeout, log.clone());
        // The first reply proves QEMU finished initialising (it serves qtest from its main
        // loop), so it has opened the guest RAM file by now.
        qtest.sync().map_err(|e| Error::Startup {
            reason: format!("qtest handshake failed: {e}"),
            log_tail: log.tail(),
        })?;
        let mem_size = usize::try_from(mem_bytes).map_err(|_| {
            Error::InvalidArgument("guest RAM larger than the address space".into())
        })?;
        let qmp = Qmp::connect(qmp_stream, config.qtest_timeout, log.clone()).map_err(|e| {
            Error::Startup { reason: format!("QMP handshake failed: {e}"), log_tail: log.tail() }
        })?;
        let ram = GuestRam::map(&shm.file, mem_size)?;
        // Both QEMU and we hold it open; drop the name now so nothing leaks if we are killed.
        shm.unlink()?;

        let netdev = match net_stream {
            Some(stream) => Some(Netdev::new(stream, log.clone())?),
            None => None,
        };
        let dma = GpaAllocator::new(FIRST_DMA_ADDRESS, mem_bytes)?;
        Ok(Qemu {
            process,
            qtest,
            qmp,
            netdev,
            ram,
            dma: Mutex::new(dma),
            mac: config.mac,
            log,
            log_path,
            _shm: shm,
            workdir,
        })
    }

    /// QEMU's process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The temporary directory of this instance (removed on drop).
    #[must_use]
    pub fn workdir(&self) -> &Path {
        &self.workdir.path
    }

    /// QEMU's stdout+stderr log file (inside [`workdir`](Self::workdir)).
    #[must_use]
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The end of QEMU's stderr.
    #[must_use]
    pub fn log_tail(&self) -> String {
        self.log.tail()
    }

    /// Whether QEMU is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.try_exit_status().is_none()
    }

    /// The MAC address QEMU was started with.
    #[must_use]
    pub fn mac(&self) -> MacAddress {
        self.mac
    }

    /// The qtest connection (MMIO, port I/O, guest memory through QEMU).
    #[must_use]
    pub fn qtest(&self) -> &Qtest {
        &self.qtest
    }

    /// Plugs (`up`) or pulls (`!up`) the NIC's cable: QMP `set_link` on the netdev
    /// ([`NETDEV_ID`]), which takes both ends of the link down, or on the NIC
    /// ([`IGB_NIC_ID`](super::IGB_NIC_ID)) when QEMU has no netdev. Returns once QEMU has
    /// answered, so every immediate effect of the command has happened by then.
    ///
    /// On the 82576 (see the [`qmp`](super::qmp) module docs): pulling the cable clears
    /// STATUS.LU and raises ICR.LSC (and its interrupt, if enabled) before this returns.
    /// Plugging it back restarts auto-negotiation when the PHY has it enabled (the default), so
    /// STATUS.LU and ICR.LSC follow ~500 ms later, from QEMU's autoneg timer. Frames injected and
    /// frames transmitted while the cable is out are lost, as on a wire. A change to the state
    /// the link already has raises nothing.
    pub fn set_link(&self, up: bool) -> Result<()> {
        let name = if self.netdev.is_some() { NETDEV_ID } else { IGB_NIC_ID };
        self.qmp.execute("set_link", Some(set_link_arguments(name, up))).map(drop)
    }

    /// Runs one QMP command given as JSON text, `{"execute": NAME}` or `{"execute": NAME,
    /// "arguments": {...}}`, and returns its `return` value as compact JSON text (for example
    /// `{"execute": "query-status"}` gives `{"status":"running","running":true}`).
    ///
    /// An escape hatch for tests: the command is not checked beyond its shape (`"id"` and
    /// `"exec-oob"` are refused; the client numbers commands itself), so a command like `quit`
    /// or `system_reset` does what it says to the backend. A QMP error comes back as
    /// [`Error::QmpRejected`] with QEMU's class and description.
    pub fn qmp(&self, command: &str) -> Result<String> {
        self.qmp.execute_text(command)
    }

    /// Guest RAM, mapped into this process.
    #[must_use]
    pub fn ram(&self) -> &GuestRam {
        &self.ram
    }

    /// Allocates zeroed, page-aligned guest memory for DMA at or above 1 MiB.
    pub fn dma_alloc(&self, len: u64, tag: &'static str) -> Result<GpaRange> {
        let range = self.dma.lock().unwrap_or_else(PoisonError::into_inner).alloc(len, tag)?;
        if let Err(e) = self.ram.fill(range.gpa, range.len, 0) {
            let _ = self.dma_free(range);
            return Err(e);
        }
        Ok(range)
    }

    /// Returns memory from [`dma_alloc`](Self::dma_alloc).
    pub fn dma_free(&self, range: GpaRange) -> Result<()> {
        self.dma.lock().unwrap_or_else(PoisonError::into_inner).free(range)
    }

    /// Outstanding DMA allocations, for leak checks (quarantined ranges are not outstanding).
    #[must_use]
    pub fn dma_outstanding(&self) -> Vec<Allocation> {
        self.dma.lock().unwrap_or_else(PoisonError::into_inner).outstanding()
    }

    /// Puts memory from [`dma_alloc`](Self::dma_alloc) in quarantine instead of freeing it: no
    /// allocation gets it until [`dma_release`](Self::dma_release) (see
    /// [`GpaAllocator::quarantine`]).
    pub fn dma_quarantine(&self, range: GpaRange) -> Result<()> {
        self.dma.lock().unwrap_or_else(PoisonError::into_inner).quarantine(range)
    }

    /// Frees a range [`dma_quarantine`](Self::dma_quarantine) quarantined.
    pub fn dma_release(&self, range: GpaRange) -> Result<()> {
        self.dma.lock().unwrap_or_else(PoisonError::into_inner).release(range)
    }

    /// The quarantined DMA ranges, oldest first.
    #[must_use]
    pub fn dma_quarantined(&self) -> Vec<Allocation> {
        self.dma.lock().unwrap_or_else(PoisonError::into_inner).quarantined()
    }

    fn netdev(&self) -> Result<&Netdev> {
        self.netdev.as_ref().ok_or(Error::NoNetdev)
    }

    /// Injects one Ethernet frame (without FCS) towards the NIC.
    ///
    /// Inject only after bring-up (link up, RCTL.EN, rings armed): QEMU holds frames it cannot
    /// deliver and drops them at the next flush (igb-qemu.md §8).
    pub fn send_frame(&self, frame: &[u8]) -> Result<()> {
        self.netdev()?.send_frames(&[frame])
    }

    /// Injects several frames with a single socket write, so QEMU reads them together.
    ///
    /// This matters for held frames (igb-qemu.md §8): QEMU's stream backend stops reading the
    /// socket once it had to queue a frame, but the frames it already read in the same chunk
    /// are queued too, and a later flush can drop them. Frames still in the socket are never
    /// dropped by a flush; they are read one at a time as rings free up.
    pub fn send_frames(&self, frames: &[&[u8]]) -> Result<()> {
        self.netdev()?.send_frames(frames)
    }

    /// The next frame the NIC transmitted, or `None` if none arrives within `timeout`.
    pub fn recv_frame(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        self.netdev()?.recv_frame(timeout)
    }

    /// Waits until QEMU has read every injected byte from the netdev socket and has finished
    /// processing what it read (a qtest round trip is a barrier, igb-qemu.md §7). Returns the
    /// number of bytes QEMU still has not read when `timeout` expires: 0 means every injected
    /// frame was delivered to a ring, dropped, or is held in QEMU's queue (§8). QEMU stops
    /// reading the socket while no RX ring can take a frame, so a non-zero result is normal
    /// then.
    pub fn settle_injected_frames(&self, timeout: Duration) -> Result<usize> {
        let netdev = self.netdev()?;
        let deadline = Instant::now() + timeout;
        loop {
            let unread = netdev.unread_by_qemu()?;
            if unread == 0 || Instant::now() >= deadline {
                self.qtest.sync()?;
                return Ok(unread);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Paths that go into QEMU's command line.
struct CommandLine<'a> {
    config: &'a QemuConfig,
    bios: &'a Path,
    qtest: &'a Path,
    qmp: &'a Path,
    netdev: &'a Path,
    guest_ram: &'a Path,
}

impl CommandLine<'_> {
    /// The command line of igb-qemu.md §1, plus a QMP monitor and an id for the NIC.
    fn args(&self) -> Vec<OsString> {
        let config = self.config;
        let mut args: Vec<String> = vec![
            "-accel".into(),
            "tcg".into(),
            "-bios".into(),
            self.bios.display().to_string(),
            "-qtest".into(),
            format!("unix:{}", self.qtest.display()),
            // Without this QEMU logs every qtest command to stderr (and is ~50% slower).
            "-qtest-log".into(),
            "none".into(),
            // A QMP monitor on a client chardev: QEMU connects to our listener (qmp.rs).
            "-chardev".into(),
            format!("socket,id=qmp0,path={}", self.qmp.display()),
            "-mon".into(),
            "chardev=qmp0,mode=control".into(),
            "-display".into(),
            "none".into(),
            "-nodefaults".into(),
            "-m".into(),
            format!("{}M", config.memory_mib),
            // Guest RAM in a shared file that this process maps (§9).
            "-object".into(),
            format!(
                "memory-backend-file,id=mem,size={}M,mem-path={},share=on",
                config.memory_mib,
                self.guest_ram.display()
            ),
            "-machine".into(),
            "q35,memory-backend=mem".into(),
        ];
        // The id names the NIC's net client for QMP set_link.
        let mut device = format!("igb,addr={IGB_PCI_DEVICE}.0,mac={},id={IGB_NIC_ID}", config.mac);
        if config.netdev {
            args.push("-netdev".into());
            args.push(format!(
                "stream,id={NETDEV_ID},server=off,addr.type=unix,addr.path={}",
                self.netdev.display()
            ));
            device.push_str(",netdev=");
            device.push_str(NETDEV_ID);
        }
        args.push("-device".into());
        args.push(device);
        let mut args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
        args.extend(config.extra_args.iter().cloned());
        args
    }
}

/// Accepts QEMU's connection on `listener`, failing early if QEMU exits.
fn accept_from_qemu(
    listener: &UnixListener,
    what: &str,
    process: &mut QemuProcess,
    binary: &Path,
    log: &QemuLog,
    deadline: Instant,
) -> Result<UnixStream> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .map_err(|e| Error::io(format!("{what} socket set_nonblocking"), e))?;
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(format!("accepting the {what} connection"), e)),
        }
        if let Some(status) = process.try_exit_status() {
            let tail = log.tail();
            if lacks_igb(&tail) {
                return Err(Error::QemuUnavailable {
                    binary: binary.to_path_buf(),
                    reason: format!("it has no igb device ({})", tail.trim()),
                });
            }
            return Err(Error::Startup {
                reason: format!("{} exited ({status}) before connecting {what}", binary.display()),
                log_tail: tail,
            });
        }
        if Instant::now() >= deadline {
            return Err(Error::Startup {
                reason: format!("{} did not connect {what} in time", binary.display()),
                log_tail: log.tail(),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn igb_missing_is_recognised_from_qemus_message() {
        assert!(lacks_igb(
            "qemu-system-x86_64: -device igb,addr=3.0,mac=52:54:00:12:34:56: 'igb' is not a valid \
             device model name\n"
        ));
        assert!(!lacks_igb(
            "qemu-system-x86_64: -device igbx: 'igbx' is not a valid device model name"
        ));
    }

    #[test]
    fn binary_resolution_prefers_the_config() {
        let config = QemuConfig { binary: Some("/opt/q/bin/qemu".into()), ..QemuConfig::default() };
        assert_eq!(config.resolved_binary(), PathBuf::from("/opt/q/bin/qemu"));
    }

    #[test]
    fn memory_size_is_validated_before_anything_starts() {
        for memory_mib in [0, MIN_MEMORY_MIB - 1, MAX_MEMORY_MIB + 1] {
            let config = QemuConfig {
                memory_mib,
                binary: Some("/nonexistent".into()),
                ..QemuConfig::default()
            };
            assert!(matches!(Qemu::start(&config), Err(Error::InvalidArgument(_))));
        }
    }

    #[test]
    fn command_line_has_a_qmp_monitor_and_names_the_nic() {
        let config = QemuConfig::default();
        let paths =
            ["/t/bios", "/t/qtest.sock", "/t/qmp.sock", "/t/net.sock", "/dev/shm/x"].map(Path::new);
        let args: Vec<String> = CommandLine {
            config: &config,
            bios: paths[0],
            qtest: paths[1],
            qmp: paths[2],
            netdev: paths[3],
            guest_ram: paths[4],
        }
        .args()
        .into_iter()
        .map(|a| a.into_string().unwrap())
        .collect();
        let after = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .unwrap_or_else(|| panic!("no {flag} in {args:?}"))
                .as_str()
        };
        assert_eq!(after("-chardev"), "socket,id=qmp0,path=/t/qmp.sock");
        assert_eq!(after("-mon"), "chardev=qmp0,mode=control");
        assert_eq!(after("-device"), "igb,addr=3.0,mac=52:54:00:12:34:56,id=nic0,netdev=n0");
        assert_eq!(after("-qtest"), "unix:/t/qtest.sock");
    }

    #[test]
    fn work_directories_are_unique() {
        let a = WorkDir::create().unwrap();
        let b = WorkDir::create().unwrap();
        assert_ne!(a.path, b.path);
        assert!(a.path.is_dir() && b.path.is_dir());
        let path = a.path.clone();
        drop(a);
        assert!(!path.exists());
    }
}
