//! Client for QEMU's qtest text protocol (`-qtest unix:PATH`).
//!
//! One command per line; QEMU answers each with exactly one line: `OK`, `OK <value>`,
//! `FAIL ...` or `ERR ...` (igb-qemu.md §1). `IRQ raise N` / `IRQ lower N` lines are
//! asynchronous notifications that only appear after `irq_intercept_in`/`irq_intercept_out`:
//! they can arrive before any reply, so every line read is sorted, and IRQ lines are recorded
//! as [`IrqEvent`]s (with the level of each line) instead of being taken for a reply.
//!
//! Every argument is checked before a command is sent, because QEMU handles a malformed
//! command with `g_assert` and aborts. After a timeout or an I/O error the stream is marked
//! broken: a late reply would otherwise be taken for the answer to the next command.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::error::{Error, QemuLog, Result};

/// Largest guest-memory transfer sent in one `b64read`/`b64write`/`read`/`write` command.
/// Bigger transfers are split; the limit only keeps single lines reasonably short.
const MAX_TRANSFER_PER_COMMAND: usize = 64 * 1024;

/// Commands longer than this are shortened in error messages.
const MAX_COMMAND_IN_ERROR: usize = 120;

/// A qtest connection shared by all users of one QEMU. Each method sends one command (or a
/// few, for large memory transfers) under an internal lock; use [`Qtest::session`] to keep the
/// lock across several commands that must not interleave with other threads (PCI config
/// access writes 0xCF8 and then accesses 0xCFC).
#[derive(Debug)]
pub struct Qtest {
    conn: Mutex<QtestConn>,
}

/// Exclusive use of the qtest connection for a sequence of commands.
#[derive(Debug)]
pub struct QtestSession<'a> {
    conn: MutexGuard<'a, QtestConn>,
}

#[derive(Debug)]
struct QtestConn {
    stream: UnixStream,
    /// Bytes received after the last complete line.
    pending: Vec<u8>,
    timeout: Duration,
    broken: Option<String>,
    log: QemuLog,
    commands_sent: u64,
    /// IRQ notifications received and not yet taken, oldest first.
    irq_events: Vec<IrqEvent>,
    /// The last level QEMU reported for each intercepted line.
    irq_levels: std::collections::BTreeMap<u32, bool>,
}

/// One `IRQ raise N` / `IRQ lower N` notification: intercepted GPIO line `line` changed level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqEvent {
    /// The GPIO line number of the intercepted device (for `irq_intercept_in ioapic`: the
    /// IOAPIC input pin, i.e. the GSI).
    pub line: u32,
    /// `true` for `raise`, `false` for `lower`.
    pub raised: bool,
}

/// Parses the text of an `IRQ ...` line.
pub(crate) fn parse_irq_line(line: &str) -> std::result::Result<IrqEvent, String> {
    let mut words = line.split_ascii_whitespace();
    let (Some("IRQ"), Some(level), Some(number), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(format!("{line:?} is not `IRQ raise|lower N`"));
    };
    let raised = match level {
        "raise" => true,
        "lower" => false,
        other => return Err(format!("unknown IRQ level {other:?}")),
    };
    let line = number.parse::<u32>().map_err(|e| format!("IRQ line {number:?}: {e}"))?;
    Ok(IrqEvent { line, raised })
}

/// What one reply line means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply<'a> {
    /// `OK` with the rest of the line (empty for a bare `OK`).
    Ok(&'a str),
    /// `FAIL ...` or `ERR ...`.
    Rejected,
    /// `IRQ ...`: asynchronous, not a reply to our command.
    Async,
}

/// Sorts a reply line; `Err` for lines that are none of the above.
pub(crate) fn classify_reply(line: &str) -> std::result::Result<Reply<'_>, String> {
    if line == "OK" {
        return Ok(Reply::Ok(""));
    }
    if let Some(rest) = line.strip_prefix("OK ") {
        return Ok(Reply::Ok(rest.trim()));
    }
    if line.starts_with("FAIL") || line.starts_with("ERR") {
        return Ok(Reply::Rejected);
    }
    if line.starts_with("IRQ") {
        return Ok(Reply::Async);
    }
    Err("not an OK/FAIL/ERR/IRQ line".to_owned())
}

/// Parses the `0x...` value of a read reply and checks that it fits in `bits` bits.
pub(crate) fn parse_hex_value(payload: &str, bits: u32) -> std::result::Result<u64, String> {
    let digits =
        payload.strip_prefix("0x").ok_or_else(|| "value lacks the 0x prefix".to_owned())?;
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{payload:?} is not a 64-bit hexadecimal value"));
    }
    let value = u64::from_str_radix(digits, 16).map_err(|e| e.to_string())?;
    if bits < 64 && value >> bits != 0 {
        return Err(format!("{value:#x} does not fit in {bits} bits"));
    }
    Ok(value)
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what GLib's `g_base64_encode` produces and accepts).
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(BASE64_ALPHABET[((n >> shift) & 0x3F) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard padded base64; rejects anything else.
pub(crate) fn base64_decode(text: &str) -> std::result::Result<Vec<u8>, String> {
    fn sextet(c: u8) -> Option<u32> {
        BASE64_ALPHABET.iter().position(|&a| a == c).and_then(|p| u32::try_from(p).ok())
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(format!("base64 length {} is not a multiple of 4", bytes.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (q, quad) in bytes.chunks(4).enumerate() {
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && q + 1 != quads) {
            return Err("misplaced base64 padding".to_owned());
        }
        let mut n = 0u32;
        for &c in &quad[..4 - padding] {
            n = (n << 6) | sextet(c).ok_or_else(|| format!("invalid base64 byte {c:#x}"))?;
        }
        n <<= 6 * u32::try_from(padding).unwrap_or(0);
        let decoded = n.to_be_bytes();
        out.extend_from_slice(&decoded[1..4 - padding]);
    }
    Ok(out)
}

/// Lower-case hex without prefix.
pub(crate) fn hex_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Decodes the payload of a `read` reply (`0x` followed by two digits per byte).
pub(crate) fn hex_decode(
    payload: &str,
    expected_len: usize,
) -> std::result::Result<Vec<u8>, String> {
    let digits = payload.strip_prefix("0x").ok_or_else(|| "data lacks the 0x prefix".to_owned())?;
    if digits.len() != expected_len * 2 {
        return Err(format!("expected {} hex digits, got {}", expected_len * 2, digits.len()));
    }
    (0..expected_len)
        .map(|i| {
            u8::from_str_radix(&digits[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("invalid hex at byte {i}"))
        })
        .collect()
}

fn shorten(command: &str) -> String {
    if command.len() <= MAX_COMMAND_IN_ERROR {
        command.to_owned()
    } else {
        let cut = (0..=MAX_COMMAND_IN_ERROR).rev().find(|&i| command.is_char_boundary(i));
        format!("{}...", &command[..cut.unwrap_or(0)])
    }
}

/// Rejects a guest-memory range whose end would wrap around the 64-bit address space.
fn check_range(addr: u64, len: usize) -> Result<()> {
    let len64 = u64::try_from(len)
        .map_err(|_| Error::InvalidArgument(format!("transfer of {len} bytes is too large")))?;
    if addr.checked_add(len64).is_none() {
        return Err(Error::InvalidArgument(format!(
            "range {addr:#x}+{len:#x} wraps around the address space"
        )));
    }
    Ok(())
}

impl QtestConn {
    fn fail_broken(&mut self, reason: String) -> Error {
        self.broken = Some(reason.clone());
        Error::QtestBroken { reason }
    }

    /// Sends one command and returns the payload of its `OK` reply.
    fn command(&mut self, line: &str) -> Result<String> {
        if let Some(reason) = &self.broken {
            return Err(Error::QtestBroken { reason: reason.clone() });
        }
        if line.contains('\n') {
            // A second line would be parsed by QEMU as another command.
            return Err(Error::InvalidArgument(format!(
                "qtest command {:?} spans lines",
                shorten(line)
            )));
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let deadline = Instant::now() + self.timeout;
        if let Err(e) = self.stream.write_all(&bytes) {
            self.broken = Some(format!("write of `{}` failed: {e}", shorten(line)));
            return Err(Error::Disconnected {
                what: format!("qtest write of `{}`: {e}", shorten(line)),
                log_tail: self.log.tail(),
            });
        }
        self.commands_sent += 1;
        loop {
            let reply = self.read_line(line, deadline)?;
            match classify_reply(&reply) {
                Ok(Reply::Async) => self.record_irq(&reply)?,
                Ok(Reply::Ok(payload)) => return Ok(payload.to_owned()),
                Ok(Reply::Rejected) => {
                    return Err(Error::QtestRejected { command: shorten(line), reply });
                }
                Err(problem) => {
                    self.broken = Some(format!("unexpected reply {reply:?}"));
                    return Err(Error::Protocol { command: shorten(line), reply, problem });
                }
            }
        }
    }

    /// Records one `IRQ ...` line; a malformed one breaks the stream like any garbage.
    fn record_irq(&mut self, text: &str) -> Result<()> {
        match parse_irq_line(text) {
            Ok(event) => {
                self.irq_levels.insert(event.line, event.raised);
                self.irq_events.push(event);
                Ok(())
            }
            Err(problem) => {
                self.broken = Some(format!("unparsable IRQ line {text:?}"));
                Err(Error::Protocol {
                    command: "(none)".to_owned(),
                    reply: text.to_owned(),
                    problem,
                })
            }
        }
    }

    /// Reads whatever QEMU sent while no command was outstanding (only IRQ lines can be
    /// there), waiting at most `wait` for the first byte.
    fn drain_async(&mut self, wait: Duration) -> Result<()> {
        if let Some(reason) = &self.broken {
            return Err(Error::QtestBroken { reason: reason.clone() });
        }
        let mut chunk = [0u8; 4096];
        let mut wait = wait;
        loop {
            while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line[..end]).into_owned();
                if matches!(classify_reply(&text), Ok(Reply::Async)) {
                    self.record_irq(&text)?;
                } else {
                    self.broken = Some(format!("unsolicited reply {text:?}"));
                    return Err(Error::Protocol {
                        command: "(none)".to_owned(),
                        reply: text,
                        problem: "a reply arrived while no command was outstanding".to_owned(),
                    });
                }
            }
            // poll(2), not a socket read timeout: those are rounded up to a scheduler tick
            // (4-10 ms), far too coarse for "is anything there?" in a delivery loop.
            if !readable(&self.stream, wait)? {
                return Ok(());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.broken = Some("QEMU closed the qtest socket".to_owned());
                    return Err(Error::Disconnected {
                        what: "qtest socket, waiting for IRQ notifications".to_owned(),
                        log_tail: self.log.tail(),
                    });
                }
                Ok(n) => {
                    self.pending.extend_from_slice(&chunk[..n]);
                    // Whatever else is already there is read without waiting again.
                    wait = Duration::ZERO;
                }
                Err(e) if super::error::is_transient(&e) => {}
                Err(e) => {
                    self.broken = Some(format!("qtest read failed: {e}"));
                    return Err(Error::Io {
                        context: "reading IRQ notifications".to_owned(),
                        source: e,
                    });
                }
            }
        }
    }

    fn read_line(&mut self, command: &str, deadline: Instant) -> Result<String> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let text = String::from_utf8(line[..end].to_vec()).map_err(|_| {
                    let reply = String::from_utf8_lossy(&line[..end]).into_owned();
                    self.broken = Some("non-UTF-8 reply".to_owned());
                    Error::Protocol {
                        command: shorten(command),
                        reply,
                        problem: "reply is not UTF-8".to_owned(),
                    }
                })?;
                return Ok(text);
            }
            let now = Instant::now();
            if now >= deadline {
                let err = Error::Timeout {
                    what: format!("the qtest reply to `{}`", shorten(command)),
                    after: self.timeout,
                    log_tail: self.log.tail(),
                };
                self.broken = Some(err.to_string());
                return Err(err);
            }
            // A zero read timeout means "block forever" to std, so never pass zero.
            let wait = (deadline - now).max(Duration::from_micros(100));
            if let Err(e) = self.stream.set_read_timeout(Some(wait)) {
                return Err(self.fail_broken(format!("set_read_timeout: {e}")));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.broken = Some("QEMU closed the qtest socket".to_owned());
                    return Err(Error::Disconnected {
                        what: format!(
                            "qtest socket, waiting for the reply to `{}`",
                            shorten(command)
                        ),
                        log_tail: self.log.tail(),
                    });
                }
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if super::error::is_transient(&e) => {}
                Err(e) => {
                    self.broken = Some(format!("qtest read failed: {e}"));
                    return Err(Error::Io {
                        context: "reading a qtest reply".to_owned(),
                        source: e,
                    });
                }
            }
        }
    }

    fn read_value(&mut self, line: &str, bits: u32) -> Result<u64> {
        let payload = self.command(line)?;
        parse_hex_value(&payload, bits).map_err(|problem| {
            self.broken = Some(format!("unparsable reply to `{line}`"));
            Error::Protocol { command: line.to_owned(), reply: format!("OK {payload}"), problem }
        })
    }
}

macro_rules! narrow {
    ($value:expr, $ty:ty) => {
        // parse_hex_value has already checked the width, so this cannot fail.
        <$ty>::try_from($value).map_err(|_| Error::InvalidArgument("value too wide".to_owned()))
    };
}

impl QtestSession<'_> {
    /// `readb ADDR`: one byte of guest-physical memory or MMIO.
    pub fn readb(&mut self, addr: u64) -> Result<u8> {
        narrow!(self.conn.read_value(&format!("readb {addr:#x}"), 8)?, u8)
    }
    /// `readw ADDR`.
    pub fn readw(&mut self, addr: u64) -> Result<u16> {
        narrow!(self.conn.read_value(&format!("readw {addr:#x}"), 16)?, u16)
    }
    /// `readl ADDR`.
    pub fn readl(&mut self, addr: u64) -> Result<u32> {
        narrow!(self.conn.read_value(&format!("readl {addr:#x}"), 32)?, u32)
    }
    /// `readq ADDR`.
    pub fn readq(&mut self, addr: u64) -> Result<u64> {
        self.conn.read_value(&format!("readq {addr:#x}"), 64)
    }
    /// `writeb ADDR VALUE`.
    pub fn writeb(&mut self, addr: u64, value: u8) -> Result<()> {
        self.conn.command(&format!("writeb {addr:#x} {value:#x}")).map(drop)
    }
    /// `writew ADDR VALUE`.
    pub fn writew(&mut self, addr: u64, value: u16) -> Result<()> {
        self.conn.command(&format!("writew {addr:#x} {value:#x}")).map(drop)
    }
    /// `writel ADDR VALUE`.
    pub fn writel(&mut self, addr: u64, value: u32) -> Result<()> {
        self.conn.command(&format!("writel {addr:#x} {value:#x}")).map(drop)
    }
    /// `writeq ADDR VALUE`.
    pub fn writeq(&mut self, addr: u64, value: u64) -> Result<()> {
        self.conn.command(&format!("writeq {addr:#x} {value:#x}")).map(drop)
    }
    /// `inb PORT`: x86 I/O port read.
    pub fn inb(&mut self, port: u16) -> Result<u8> {
        narrow!(self.conn.read_value(&format!("inb {port:#x}"), 8)?, u8)
    }
    /// `inw PORT`.
    pub fn inw(&mut self, port: u16) -> Result<u16> {
        narrow!(self.conn.read_value(&format!("inw {port:#x}"), 16)?, u16)
    }
    /// `inl PORT`.
    pub fn inl(&mut self, port: u16) -> Result<u32> {
        narrow!(self.conn.read_value(&format!("inl {port:#x}"), 32)?, u32)
    }
    /// `outb PORT VALUE`.
    pub fn outb(&mut self, port: u16, value: u8) -> Result<()> {
        self.conn.command(&format!("outb {port:#x} {value:#x}")).map(drop)
    }
    /// `outw PORT VALUE`.
    pub fn outw(&mut self, port: u16, value: u16) -> Result<()> {
        self.conn.command(&format!("outw {port:#x} {value:#x}")).map(drop)
    }
    /// `outl PORT VALUE`.
    pub fn outl(&mut self, port: u16, value: u32) -> Result<()> {
        self.conn.command(&format!("outl {port:#x} {value:#x}")).map(drop)
    }

    /// Reads guest memory with `b64read` (split into several commands when large).
    pub fn b64read(&mut self, addr: u64, buf: &mut [u8]) -> Result<()> {
        self.read_in_chunks(
            addr,
            buf,
            |gpa, len| format!("b64read {gpa:#x} {len:#x}"),
            |payload, len| {
                let data = base64_decode(payload)?;
                if data.len() == len {
                    Ok(data)
                } else {
                    Err(format!("{} bytes decoded, {len} requested", data.len()))
                }
            },
        )
    }

    /// Writes guest memory with `b64write` (split into several commands when large).
    pub fn b64write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        self.write_in_chunks(addr, data, |gpa, chunk| {
            format!("b64write {gpa:#x} {:#x} {}", chunk.len(), base64_encode(chunk))
        })
    }

    /// Reads guest memory with the plain `read` command (hex reply).
    pub fn read_hex(&mut self, addr: u64, buf: &mut [u8]) -> Result<()> {
        self.read_in_chunks(addr, buf, |gpa, len| format!("read {gpa:#x} {len:#x}"), hex_decode)
    }

    /// Writes guest memory with the plain `write` command (hex argument).
    pub fn write_hex(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        self.write_in_chunks(addr, data, |gpa, chunk| {
            format!("write {gpa:#x} {:#x} 0x{}", chunk.len(), hex_encode(chunk))
        })
    }

    /// Reads `buf` from guest memory at `addr`, one command of at most
    /// `MAX_TRANSFER_PER_COMMAND` bytes at a time: `command(gpa, len)` asks for a chunk and
    /// `decode(reply, len)` turns the reply into exactly `len` bytes.
    fn read_in_chunks(
        &mut self,
        addr: u64,
        buf: &mut [u8],
        command: impl Fn(u64, usize) -> String,
        decode: impl Fn(&str, usize) -> std::result::Result<Vec<u8>, String>,
    ) -> Result<()> {
        check_range(addr, buf.len())?;
        let mut gpa = addr;
        for chunk in buf.chunks_mut(MAX_TRANSFER_PER_COMMAND) {
            let line = command(gpa, chunk.len());
            let payload = self.conn.command(&line)?;
            let data = decode(&payload, chunk.len()).map_err(|problem| Error::Protocol {
                command: line.clone(),
                reply: shorten(&payload),
                problem,
            })?;
            chunk.copy_from_slice(&data);
            gpa += chunk.len() as u64;
        }
        Ok(())
    }

    /// Writes `data` to guest memory at `addr`, one `command(gpa, chunk)` per chunk of at most
    /// `MAX_TRANSFER_PER_COMMAND` bytes.
    fn write_in_chunks(
        &mut self,
        addr: u64,
        data: &[u8],
        command: impl Fn(u64, &[u8]) -> String,
    ) -> Result<()> {
        check_range(addr, data.len())?;
        let mut gpa = addr;
        for chunk in data.chunks(MAX_TRANSFER_PER_COMMAND) {
            self.conn.command(&command(gpa, chunk))?;
            gpa += chunk.len() as u64;
        }
        Ok(())
    }

    /// One round trip (`endianness`) that must answer `OK little`.
    ///
    /// Also a barrier: QEMU serves qtest commands in its main loop, between (never during) the
    /// handling of netdev frames and timers, so when this returns every frame QEMU had already
    /// started to process has been fully handled, including its MSI-X writes (igb-qemu.md §7).
    pub fn sync(&mut self) -> Result<()> {
        let payload = self.conn.command("endianness")?;
        if payload == "little" {
            Ok(())
        } else {
            Err(Error::Protocol {
                command: "endianness".to_owned(),
                reply: format!("OK {payload}"),
                problem: "expected a little-endian target".to_owned(),
            })
        }
    }

    /// Number of commands sent over this connection so far.
    #[must_use]
    pub fn commands_sent(&self) -> u64 {
        self.conn.commands_sent
    }

    /// `irq_intercept_in QOM-PATH`: from now on QEMU reports level changes of the device's
    /// GPIO *inputs* as `IRQ raise|lower N` (and no longer delivers them). QEMU allows one
    /// intercept per session. `irq_intercept_in ioapic` observes every interrupt line of a
    /// q35 machine, PCI INTx included.
    pub fn irq_intercept_in(&mut self, qom_path: &str) -> Result<()> {
        check_qom_path(qom_path)?;
        self.conn.command(&format!("irq_intercept_in {qom_path}")).map(drop)
    }

    /// `irq_intercept_out QOM-PATH`: the same for the device's GPIO *outputs*.
    pub fn irq_intercept_out(&mut self, qom_path: &str) -> Result<()> {
        check_qom_path(qom_path)?;
        self.conn.command(&format!("irq_intercept_out {qom_path}")).map(drop)
    }

    /// Takes the IRQ notifications received so far (also those that arrived while no command
    /// was outstanding, waiting at most `wait` for the first one), oldest first.
    pub fn take_irq_events(&mut self, wait: Duration) -> Result<Vec<IrqEvent>> {
        self.conn.drain_async(wait)?;
        Ok(std::mem::take(&mut self.conn.irq_events))
    }

    /// The last level QEMU reported for intercepted line `line` (`false` if it never changed).
    #[must_use]
    pub fn irq_level(&self, line: u32) -> bool {
        self.conn.irq_levels.get(&line).copied().unwrap_or(false)
    }
}

/// Whether `stream` has bytes to read within `wait` (`poll` with millisecond resolution,
/// rounded up; zero does not wait).
fn readable(stream: &UnixStream, wait: Duration) -> Result<bool> {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd { fd: stream.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let millis = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd on this frame, for the duration of the call.
    let ready = unsafe { libc::poll(&raw mut poll, 1, millis) };
    if ready < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(Error::Io { context: "polling the qtest socket".to_owned(), source: e })
        };
    }
    Ok(ready > 0)
}

/// Rejects QOM paths that would not be one word of a qtest command.
fn check_qom_path(path: &str) -> Result<()> {
    if path.is_empty() || path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(Error::InvalidArgument(format!("QOM path {path:?} is not a single word")));
    }
    Ok(())
}

macro_rules! delegate_to_session {
    ($( $(#[$meta:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        $(
            $(#[$meta])*
            pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.session().$name($($arg),*)
            }
        )*
    };
}

impl Qtest {
    /// Wraps a connected qtest stream. `timeout` bounds the wait for each reply.
    pub(crate) fn new(stream: UnixStream, timeout: Duration, log: QemuLog) -> Self {
        Qtest {
            conn: Mutex::new(QtestConn {
                stream,
                pending: Vec::new(),
                timeout,
                broken: None,
                log,
                commands_sent: 0,
                irq_events: Vec::new(),
                irq_levels: std::collections::BTreeMap::new(),
            }),
        }
    }

    /// Takes the connection for a sequence of commands that must not interleave with other
    /// threads' commands.
    pub fn session(&self) -> QtestSession<'_> {
        // Nothing panics while the lock is held (library code returns errors), and the
        // `broken` flag records any desynchronisation, so a poisoned lock is still usable.
        QtestSession { conn: self.conn.lock().unwrap_or_else(PoisonError::into_inner) }
    }

    delegate_to_session! {
        /// `readb ADDR`.
        fn readb(&self, addr: u64) -> Result<u8>;
        /// `readw ADDR`.
        fn readw(&self, addr: u64) -> Result<u16>;
        /// `readl ADDR`.
        fn readl(&self, addr: u64) -> Result<u32>;
        /// `readq ADDR`.
        fn readq(&self, addr: u64) -> Result<u64>;
        /// `writeb ADDR VALUE`.
        fn writeb(&self, addr: u64, value: u8) -> Result<()>;
        /// `writew ADDR VALUE`.
        fn writew(&self, addr: u64, value: u16) -> Result<()>;
        /// `writel ADDR VALUE`.
        fn writel(&self, addr: u64, value: u32) -> Result<()>;
        /// `writeq ADDR VALUE`.
        fn writeq(&self, addr: u64, value: u64) -> Result<()>;
        /// `inb PORT`.
        fn inb(&self, port: u16) -> Result<u8>;
        /// `inw PORT`.
        fn inw(&self, port: u16) -> Result<u16>;
        /// `inl PORT`.
        fn inl(&self, port: u16) -> Result<u32>;
        /// `outb PORT VALUE`.
        fn outb(&self, port: u16, value: u8) -> Result<()>;
        /// `outw PORT VALUE`.
        fn outw(&self, port: u16, value: u16) -> Result<()>;
        /// `outl PORT VALUE`.
        fn outl(&self, port: u16, value: u32) -> Result<()>;
        /// Reads guest memory with `b64read`.
        fn b64read(&self, addr: u64, buf: &mut [u8]) -> Result<()>;
        /// Writes guest memory with `b64write`.
        fn b64write(&self, addr: u64, data: &[u8]) -> Result<()>;
        /// Reads guest memory with `read` (hex).
        fn read_hex(&self, addr: u64, buf: &mut [u8]) -> Result<()>;
        /// Writes guest memory with `write` (hex).
        fn write_hex(&self, addr: u64, data: &[u8]) -> Result<()>;
        /// Round trip and barrier; see [`QtestSession::sync`].
        fn sync(&self) -> Result<()>;
        /// See [`QtestSession::irq_intercept_in`].
        fn irq_intercept_in(&self, qom_path: &str) -> Result<()>;
        /// See [`QtestSession::irq_intercept_out`].
        fn irq_intercept_out(&self, qom_path: &str) -> Result<()>;
        /// See [`QtestSession::take_irq_events`].
        fn take_irq_events(&self, wait: Duration) -> Result<Vec<IrqEvent>>;
    }

    /// See [`QtestSession::irq_level`].
    pub fn irq_level(&self, line: u32) -> bool {
        self.session().irq_level(line)
    }

    /// Number of commands sent so far.
    pub fn commands_sent(&self) -> u64 {
        self.session().commands_sent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::thread;

    #[test]
    fn replies_are_classified() {
        assert_eq!(classify_reply("OK"), Ok(Reply::Ok("")));
        assert_eq!(classify_reply("OK 0x00000000000000ff"), Ok(Reply::Ok("0x00000000000000ff")));
        assert_eq!(classify_reply("OK little"), Ok(Reply::Ok("little")));
        assert_eq!(classify_reply("FAIL Unknown command 'x'"), Ok(Reply::Rejected));
        assert_eq!(classify_reply("ERR invalid argument size"), Ok(Reply::Rejected));
        assert_eq!(classify_reply("IRQ raise 3"), Ok(Reply::Async));
        assert!(classify_reply("OKAY").is_err());
        assert!(classify_reply("").is_err());
        assert!(classify_reply("0x1234").is_err());
    }

    #[test]
    fn hex_values_are_parsed_and_width_checked() {
        assert_eq!(parse_hex_value("0x00000000000000ff", 8), Ok(0xFF));
        assert_eq!(parse_hex_value("0x10c9", 16), Ok(0x10C9));
        assert_eq!(parse_hex_value("0xffffffffffffffff", 64), Ok(u64::MAX));
        assert!(parse_hex_value("0x100", 8).is_err());
        assert!(parse_hex_value("ff", 8).is_err());
        assert!(parse_hex_value("0x", 8).is_err());
        assert!(parse_hex_value("0x1g", 8).is_err());
        assert!(parse_hex_value("0x00000000000000001", 64).is_err());
    }

    #[test]
    fn base64_matches_rfc4648_vectors_and_round_trips() {
        let vectors: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64_encode(plain), encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Ok(plain));
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)), Ok(all));
        assert!(base64_decode("Zg=").is_err());
        assert!(base64_decode("Zg==Zg==").is_err());
        assert!(base64_decode("Z===").is_err());
        assert!(base64_decode("Zm9*").is_err());
    }

    #[test]
    fn hex_data_round_trips() {
        assert_eq!(hex_encode(&[0x00, 0xAB, 0x7F]), "00ab7f");
        assert_eq!(hex_decode("0x00ab7f", 3), Ok(vec![0x00, 0xAB, 0x7F]));
        assert!(hex_decode("0x00ab7f", 2).is_err());
        assert!(hex_decode("00ab", 2).is_err());
        assert!(hex_decode("0xzz", 1).is_err());
    }

    /// A qtest "server" thread that answers each received line with the scripted replies.
    fn fake_qemu(script: Vec<(&'static str, &'static str)>) -> (Qtest, thread::JoinHandle<()>) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let server = thread::spawn(move || {
            let mut reader = BufReader::new(theirs.try_clone().unwrap());
            let mut writer = theirs;
            for (expected, reply) in script {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 {
                    return;
                }
                assert_eq!(line.trim_end(), expected);
                if reply == "<close>" {
                    return;
                }
                if reply == "<silence>" {
                    thread::sleep(Duration::from_millis(300));
                    return;
                }
                writer.write_all(reply.as_bytes()).unwrap();
            }
        });
        (Qtest::new(ours, Duration::from_millis(100), QemuLog::none()), server)
    }

    #[test]
    fn client_formats_commands_and_skips_irq_lines() {
        let (qt, server) = fake_qemu(vec![
            ("readl 0xc0000008", "IRQ raise 1\nOK 0x0000000080080483\n"),
            ("writel 0xc0000000 0x4000000", "OK\n"),
            ("inw 0xcfe", "OK 0x10c9\n"),
            ("outb 0x80 0x5", "OK\n"),
            ("readq 0x100000", "OK 0x1122334455667788\n"),
            ("endianness", "OK little\n"),
        ]);
        assert_eq!(qt.readl(0xC000_0008).unwrap(), 0x8008_0483);
        qt.writel(0xC000_0000, 1 << 26).unwrap();
        assert_eq!(qt.inw(0xCFE).unwrap(), 0x10C9);
        qt.outb(0x80, 5).unwrap();
        assert_eq!(qt.readq(0x10_0000).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(qt.commands_sent(), 5);
        // The IRQ line that preceded the first reply was recorded, not lost. (The fake server
        // closes the socket after its last reply, so take the events before that.)
        assert_eq!(
            qt.take_irq_events(Duration::ZERO).unwrap(),
            vec![IrqEvent { line: 1, raised: true }]
        );
        assert!(qt.irq_level(1));
        qt.sync().unwrap();
        server.join().unwrap();
    }

    #[test]
    fn irq_lines_are_parsed_strictly() {
        assert_eq!(parse_irq_line("IRQ raise 23"), Ok(IrqEvent { line: 23, raised: true }));
        assert_eq!(parse_irq_line("IRQ lower 0"), Ok(IrqEvent { line: 0, raised: false }));
        assert!(parse_irq_line("IRQ raise").is_err());
        assert!(parse_irq_line("IRQ up 3").is_err());
        assert!(parse_irq_line("IRQ raise 3 4").is_err());
        assert!(parse_irq_line("IRQ raise -1").is_err());
    }

    #[test]
    fn irq_lines_between_commands_are_collected() {
        let (qt, server) = fake_qemu(vec![
            ("irq_intercept_in ioapic", "OK\nIRQ raise 23\nIRQ lower 23\nIRQ raise 23\n"),
            ("endianness", "OK little\n"),
            ("endianness", "OK little\n"),
        ]);
        qt.irq_intercept_in("ioapic").unwrap();
        let events = qt.take_irq_events(Duration::from_millis(50)).unwrap();
        assert_eq!(events.len(), 3);
        assert!(qt.irq_level(23));
        qt.sync().unwrap();
        assert!(qt.take_irq_events(Duration::ZERO).unwrap().is_empty());
        assert!(matches!(qt.irq_intercept_in("two words"), Err(Error::InvalidArgument(_))));
        qt.sync().unwrap();
        // After the server closed, waiting for notifications reports the disconnect.
        server.join().unwrap();
        assert!(matches!(qt.take_irq_events(Duration::ZERO), Err(Error::Disconnected { .. })));
    }

    #[test]
    fn memory_transfers_use_base64_and_hex() {
        let (qt, server) = fake_qemu(vec![
            ("b64write 0x1000 0x3 Zm9v", "OK\n"),
            ("b64read 0x1000 0x3", "OK Zm9v\n"),
            ("write 0x2000 0x2 0xabcd", "OK\n"),
            ("read 0x2000 0x2", "OK 0xabcd\n"),
            ("b64read 0x1000 0x3", "OK Zm8=\n"),
        ]);
        qt.b64write(0x1000, b"foo").unwrap();
        let mut buf = [0u8; 3];
        qt.b64read(0x1000, &mut buf).unwrap();
        assert_eq!(&buf, b"foo");
        qt.write_hex(0x2000, &[0xAB, 0xCD]).unwrap();
        let mut two = [0u8; 2];
        qt.read_hex(0x2000, &mut two).unwrap();
        assert_eq!(two, [0xAB, 0xCD]);
        // A reply with the wrong number of bytes is a protocol error, not a short read.
        assert!(matches!(qt.b64read(0x1000, &mut buf), Err(Error::Protocol { .. })));
        server.join().unwrap();
    }

    #[test]
    fn empty_and_wrapping_transfers_send_nothing() {
        let (qt, server) = fake_qemu(vec![]);
        qt.b64write(0x1000, &[]).unwrap();
        qt.b64read(0x1000, &mut []).unwrap();
        assert!(matches!(qt.b64write(u64::MAX - 1, &[1, 2, 3]), Err(Error::InvalidArgument(_))));
        assert!(matches!(qt.read_hex(u64::MAX, &mut [0u8; 2]), Err(Error::InvalidArgument(_))));
        assert_eq!(qt.commands_sent(), 0);
        drop(qt);
        server.join().unwrap();
    }

    #[test]
    fn fail_and_err_are_errors_but_keep_the_stream_usable() {
        let (qt, server) = fake_qemu(vec![
            ("readl 0x0", "FAIL Unknown command 'readl'\n"),
            ("writel 0x0 0x1", "ERR invalid argument size\n"),
            ("readb 0x0", "OK 0x7f\n"),
        ]);
        let e = qt.readl(0).unwrap_err();
        assert!(
            matches!(&e, Error::QtestRejected { reply, .. } if reply.contains("Unknown")),
            "{e}"
        );
        assert!(matches!(qt.writel(0, 1), Err(Error::QtestRejected { .. })));
        assert_eq!(qt.readb(0).unwrap(), 0x7F);
        server.join().unwrap();
    }

    #[test]
    fn oversized_value_is_a_protocol_error_and_breaks_the_stream() {
        let (qt, server) = fake_qemu(vec![("readb 0x0", "OK 0x1ff\n")]);
        assert!(matches!(qt.readb(0), Err(Error::Protocol { .. })));
        assert!(matches!(qt.readb(0), Err(Error::QtestBroken { .. })));
        server.join().unwrap();
    }

    #[test]
    fn timeout_breaks_the_stream() {
        let (qt, server) = fake_qemu(vec![("readl 0x0", "<silence>")]);
        assert!(matches!(qt.readl(0), Err(Error::Timeout { .. })));
        // The late reply, if any, must never be read as the answer to this command.
        assert!(matches!(qt.readl(4), Err(Error::QtestBroken { .. })));
        server.join().unwrap();
    }

    #[test]
    fn closed_socket_is_reported_as_disconnect() {
        let (qt, server) = fake_qemu(vec![("endianness", "<close>")]);
        let e = qt.sync().unwrap_err();
        assert!(matches!(e, Error::Disconnected { .. }), "{e}");
        server.join().unwrap();
        assert!(matches!(qt.sync(), Err(Error::QtestBroken { .. })));
    }

    #[test]
    fn garbage_reply_is_a_protocol_error() {
        let (qt, server) = fake_qemu(vec![("endianness", "HELLO\n")]);
        assert!(matches!(qt.sync(), Err(Error::Protocol { .. })));
        server.join().unwrap();
    }

    #[test]
    fn sync_requires_little_endian() {
        let (qt, server) =
            fake_qemu(vec![("endianness", "OK little\n"), ("endianness", "OK big\n")]);
        qt.sync().unwrap();
        assert!(matches!(qt.sync(), Err(Error::Protocol { .. })));
        server.join().unwrap();
    }
}
