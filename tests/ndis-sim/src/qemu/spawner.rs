//! Starts QEMU so that it dies with this process.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not when the
//! process does (prctl(2): "the parent is considered to be the thread that created this
//! process"). A QEMU forked from a test thread would be SIGKILLed as soon as that thread ends,
//! even if the `Qemu` value has been moved to another thread. So every QEMU is forked from one
//! dedicated thread that lives as long as the process: QEMU then dies exactly when this
//! process dies, however it dies (including SIGKILL, where no destructor runs).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;

/// What to start: a plain description, built into a `Command` on the spawner thread.
pub(crate) struct SpawnSpec {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    /// Receives QEMU's stdout and stderr.
    pub(crate) log: File,
}

struct SpawnRequest {
    spec: SpawnSpec,
    reply: mpsc::Sender<io::Result<Child>>,
}

static SPAWNER: OnceLock<io::Result<mpsc::Sender<SpawnRequest>>> = OnceLock::new();

fn spawner() -> io::Result<&'static mpsc::Sender<SpawnRequest>> {
    let started = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new().name("ndis-sim-qemu-spawner".to_owned()).spawn(move || {
            // The sender lives in a static, so this loop (and the thread) never ends while the
            // process runs, which is the point.
            for request in rx {
                let result = spawn_now(request.spec);
                // The requester may have given up; then the Child is dropped here, and the
                // `Drop` of QemuProcess never runs, so kill it rather than leak it.
                if let Err(mpsc::SendError(Ok(mut orphan))) = request.reply.send(result) {
                    let _ = orphan.kill();
                    let _ = orphan.wait();
                }
            }
        })?;
        Ok(tx)
    });
    started.as_ref().map_err(|e| io::Error::new(e.kind(), e.to_string()))
}

/// Starts `spec` from the spawner thread, with `PR_SET_PDEATHSIG = SIGKILL`.
pub(crate) fn spawn_tied_to_process(spec: SpawnSpec) -> io::Result<Child> {
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner()?
        .send(SpawnRequest { spec, reply: reply_tx })
        .map_err(|_| io::Error::other("the QEMU spawner thread is gone"))?;
    reply_rx.recv().map_err(|_| io::Error::other("the QEMU spawner thread dropped the request"))?
}

fn spawn_now(spec: SpawnSpec) -> io::Result<Child> {
    let stderr = spec.log.try_clone()?;
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(spec.log))
        .stderr(Stdio::from(stderr));
    let parent = std::process::id();
    // SAFETY: the hook runs in the forked child before exec and only calls prctl and getppid,
    // which are async-signal-safe, and builds errors with from_raw_os_error/last_os_error,
    // which do not allocate.
    unsafe { command.pre_exec(move || die_with_parent(parent)) };
    command.spawn()
}

/// Runs in the child between fork and exec.
fn die_with_parent(parent: u32) -> io::Result<()> {
    let sigkill = libc::c_ulong::try_from(libc::SIGKILL).unwrap_or(9);
    // SAFETY: prctl(PR_SET_PDEATHSIG, sig) reads its integer arguments only and touches no
    // memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sigkill) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // If the parent died between fork and prctl, the death signal will never come; the child
    // has been re-parented by then, so refuse to start instead of running unsupervised.
    // SAFETY: getppid has no preconditions and cannot fail.
    let ppid = unsafe { libc::getppid() };
    if u32::try_from(ppid).ok() != Some(parent) {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}
