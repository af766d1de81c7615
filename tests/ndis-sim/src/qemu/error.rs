//! The error type of the QEMU backend. Library code never panics: every failure, including
//! QEMU dying underneath us, comes back as an [`Error`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `Result` with the backend's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Install hint shown whenever QEMU is missing or too old (igb-qemu.md, introduction).
pub const QEMU_REQUIREMENT: &str = "QEMU >= 8.0 with the igb device (`-device igb`, Intel 82576) \
     is required. Set $QEMU to such a qemu-system-x86_64, or on Debian bookworm install it with \
     `apt-get install -t bookworm-backports qemu-system-x86` (bookworm's own QEMU 7.2 has no igb)";

/// Everything that can go wrong while driving QEMU.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The QEMU binary is missing, cannot be executed, or cannot emulate the igb NIC.
    QemuUnavailable {
        /// The binary that was tried.
        binary: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// An operating-system call failed.
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// QEMU did not come up: it exited early or did not connect its sockets in time.
    Startup {
        /// What went wrong.
        reason: String,
        /// The end of QEMU's stderr.
        log_tail: String,
    },
    /// QEMU closed a socket (usually because it exited or aborted).
    Disconnected {
        /// Which channel was closed and while doing what.
        what: String,
        /// The end of QEMU's stderr.
        log_tail: String,
    },
    /// No reply or event arrived in time.
    Timeout {
        /// What we were waiting for.
        what: String,
        /// How long we waited.
        after: Duration,
        /// The end of QEMU's stderr.
        log_tail: String,
    },
    /// QEMU answered a qtest command with `FAIL ...` or `ERR ...`.
    QtestRejected {
        /// The command as sent (long payloads shortened).
        command: String,
        /// QEMU's reply line.
        reply: String,
    },
    /// QEMU answered with something that is not a valid reply to the command.
    Protocol {
        /// The command as sent (long payloads shortened).
        command: String,
        /// The reply line.
        reply: String,
        /// Why it was not accepted.
        problem: String,
    },
    /// An earlier timeout or I/O error left the qtest stream in an unknown state (a late reply
    /// would be taken for the answer to the next command), so no further command is sent.
    QtestBroken {
        /// The failure that broke the stream.
        reason: String,
    },
    /// QEMU answered a QMP command with `{"error": ...}`.
    QmpRejected {
        /// The command as sent (long ones shortened).
        command: String,
        /// QMP's error class (`GenericError`, `DeviceNotFound`, `CommandNotFound`, ...).
        class: String,
        /// QMP's human-readable description.
        description: String,
    },
    /// A QMP message was not valid (not JSON, not a QMP message, an answer to no command), or
    /// an earlier such failure left the QMP connection unusable.
    QmpProtocol {
        /// The command waited for (long ones shortened).
        command: String,
        /// The offending message (shortened), empty if none.
        reply: String,
        /// What was wrong.
        problem: String,
    },
    /// An argument would produce a malformed qtest command or an invalid access. Checked before
    /// anything is sent, because a malformed command can make QEMU assert and abort
    /// (igb-qemu.md §1).
    InvalidArgument(String),
    /// A guest-RAM access outside the RAM that is mapped 1:1 into this process.
    GuestRamOutOfRange {
        /// First guest-physical address of the access.
        gpa: u64,
        /// Length of the access in bytes.
        len: u64,
        /// Why the range is not accessible.
        reason: &'static str,
    },
    /// The guest-physical allocator has no free range large enough.
    OutOfGuestMemory {
        /// Bytes requested (rounded up to pages).
        requested: u64,
        /// The largest free range.
        largest_free: u64,
    },
    /// A range was freed that is not an outstanding allocation (double free or wrong length).
    NotAllocated {
        /// Start of the range.
        gpa: u64,
        /// Length of the range.
        len: u64,
    },
    /// Frame I/O was requested on a QEMU started without a netdev.
    NoNetdev,
    /// The device did not behave as QEMU's igb model does (wrong IDs, EEPROM read not done,
    /// link never came up, ...).
    Device(String),
}

/// A socket read that found nothing yet (non-blocking or timed out) or was interrupted: try
/// again rather than fail.
pub(crate) fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}

fn write_log_tail(f: &mut fmt::Formatter<'_>, log_tail: &str) -> fmt::Result {
    if log_tail.trim().is_empty() {
        Ok(())
    } else {
        write!(f, "\n--- end of QEMU's stderr ---\n{}", log_tail.trim_end())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::QemuUnavailable { binary, reason } => {
                write!(
                    f,
                    "cannot use QEMU binary {}: {reason}. {QEMU_REQUIREMENT}",
                    binary.display()
                )
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Startup { reason, log_tail } => {
                write!(f, "QEMU did not start: {reason}")?;
                write_log_tail(f, log_tail)
            }
            Error::Disconnected { what, log_tail } => {
                write!(f, "QEMU closed the connection ({what})")?;
                write_log_tail(f, log_tail)
            }
            Error::Timeout { what, after, log_tail } => {
                write!(f, "timed out after {after:?} waiting for {what}")?;
                write_log_tail(f, log_tail)
            }
            Error::QtestRejected { command, reply } => {
                write!(f, "qtest command `{command}` was rejected: {reply}")
            }
            Error::Protocol { command, reply, problem } => {
                write!(f, "bad qtest reply to `{command}`: {problem} (reply: {reply:?})")
            }
            Error::QtestBroken { reason } => {
                write!(f, "the qtest connection is unusable after an earlier failure: {reason}")
            }
            Error::QmpRejected { command, class, description } => {
                write!(f, "QMP command {command} failed: {class}: {description}")
            }
            Error::QmpProtocol { command, reply, problem } => {
                write!(f, "bad QMP exchange for {command}: {problem}")?;
                if reply.is_empty() { Ok(()) } else { write!(f, " (message: {reply:?})") }
            }
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::GuestRamOutOfRange { gpa, len, reason } => {
                write!(f, "guest RAM access [{gpa:#x}, +{len:#x}) rejected: {reason}")
            }
            Error::OutOfGuestMemory { requested, largest_free } => write!(
                f,
                "out of guest memory: {requested:#x} bytes requested, largest free range is \
                 {largest_free:#x} bytes"
            ),
            Error::NotAllocated { gpa, len } => {
                write!(f, "[{gpa:#x}, +{len:#x}) is not an outstanding guest-memory allocation")
            }
            Error::NoNetdev => write!(f, "this QEMU was started without a netdev"),
            Error::Device(what) => write!(f, "igb device: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where QEMU's stderr goes; used to attach its last lines to error messages.
#[derive(Clone, Debug, Default)]
pub(crate) struct QemuLog {
    path: Option<PathBuf>,
}

impl QemuLog {
    /// How much of the log an error message carries.
    const TAIL_BYTES: u64 = 4096;

    pub(crate) fn new(path: &Path) -> Self {
        QemuLog { path: Some(path.to_path_buf()) }
    }

    /// No log (unit tests with a fake qtest server).
    #[cfg(test)]
    pub(crate) fn none() -> Self {
        QemuLog { path: None }
    }

    /// The last few KiB of the log, or an empty string if there is none.
    pub(crate) fn tail(&self) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let Some(path) = &self.path else { return String::new() };
        let Ok(mut file) = std::fs::File::open(path) else { return String::new() };
        let len = file.metadata().map_or(0, |m| m.len());
        let start = len.saturating_sub(Self::TAIL_BYTES);
        if file.seek(SeekFrom::Start(start)).is_err() {
            return String::new();
        }
        let mut bytes = Vec::new();
        if file.read_to_end(&mut bytes).is_err() {
            return String::new();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_message_names_requirement_and_install_command() {
        let e = Error::QemuUnavailable {
            binary: PathBuf::from("/nope/qemu-system-x86_64"),
            reason: "not found".into(),
        };
        let text = e.to_string();
        assert!(text.contains("/nope/qemu-system-x86_64"), "{text}");
        assert!(text.contains("QEMU >= 8.0"), "{text}");
        assert!(text.contains("igb"), "{text}");
        assert!(text.contains("apt-get install -t bookworm-backports qemu-system-x86"), "{text}");
    }

    #[test]
    fn log_tail_is_appended_only_when_present() {
        let quiet = Error::Startup { reason: "x".into(), log_tail: " \n".into() };
        assert_eq!(quiet.to_string(), "QEMU did not start: x");
        let loud = Error::Startup { reason: "x".into(), log_tail: "boom\n".into() };
        assert!(loud.to_string().ends_with("--- end of QEMU's stderr ---\nboom"), "{loud}");
    }

    #[test]
    fn log_tail_reads_only_the_end_of_a_long_log() {
        let dir = std::env::temp_dir().join(format!("ndis-sim-logtail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("qemu.log");
        let mut text = "a".repeat(10_000);
        text.push_str("LAST LINE\n");
        std::fs::write(&path, &text).unwrap();
        let tail = QemuLog::new(&path).tail();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(tail.len(), 4096);
        assert!(tail.ends_with("LAST LINE\n"));
        assert_eq!(QemuLog::none().tail(), "");
    }
}
