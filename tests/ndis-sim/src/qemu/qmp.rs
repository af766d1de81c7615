//! Client for the QEMU Machine Protocol (QMP), used for what qtest cannot do: pulling the NIC's
//! cable ([`Qemu::set_link`](super::Qemu::set_link)) and, as an escape hatch for tests, any
//! other QMP command ([`Qemu::qmp`](super::Qemu::qmp)).
//!
//! # Connection
//!
//! QEMU gets `-chardev socket,id=qmp0,path=P -mon chardev=qmp0,mode=control`: a *client*
//! chardev, so, as for qtest and the netdev, this process listens on `P` before QEMU starts and
//! QEMU connects (synchronously, while it creates its chardevs, before qtest). QEMU then sends a
//! greeting `{"QMP": {"version": ..., "capabilities": [...]}}`; the client answers with
//! `{"execute": "qmp_capabilities"}` and from then on sends commands.
//!
//! # Framing
//!
//! Each message QEMU sends is one line of compact JSON (QEMU's monitor ends it with `\r\n`).
//! Three kinds arrive: `{"return": ...}` and `{"error": {"class": ..., "desc": ...}}` answer a
//! command, and `{"event": ..., "timestamp": ...}` can arrive at any time. Every command is sent
//! with an `"id"`, which QEMU copies into its answer, so events are skipped and an answer is
//! matched to its command; an answer to an earlier command that timed out is recognised by its
//! id and skipped, so a timeout does not leave the connection desynchronised as it would for
//! qtest. Anything that is not JSON (or a message of an unknown kind) marks the connection
//! broken. A small JSON parser and writer (`Json`) cover exactly what this needs.
//!
//! # `set_link` and the 82576 (QEMU 10.0.2: read in the source, then measured)
//!
//! * **Which name.** `qmp_set_link` (net/net.c) looks the name up among *net clients*. Both the
//!   NIC (its `-device ...,id=`, here `nic0`, [`IGB_NIC_ID`]; without an id it would be a
//!   generated `igb.0`) and the netdev (`n0`, [`NETDEV_ID`](super::NETDEV_ID)) are net
//!   clients, and both names reach the igb: with the NIC's name QEMU sets the NIC's
//!   `link_down` and calls its `link_status_changed`, `igb_core_set_link_status`
//!   (hw/net/igb_core.c); with the netdev's name it sets the netdev's `link_down`, then,
//!   because the netdev's peer is a NIC, the NIC's too, and calls the same igb handler.
//!   [`Qemu::set_link`](super::Qemu::set_link) uses the **netdev's** name, because only that
//!   takes both ends down (next point), and the NIC's name for a QEMU without a netdev.
//! * **Frames while the cable is out.** QEMU discards what a net client whose link is down
//!   *sends* (`qemu_send_packet_async_with_flags`). With the netdev's name that is every
//!   injected frame, and with either name every frame the NIC transmits (the TX descriptor
//!   still completes with DD: the frame just never reaches the socket). With only the NIC's
//!   name, injected frames are *not* lost: igb refuses them while STATUS.LU is 0
//!   (`igb_can_receive`), so QEMU queues them and delivers them all at link-up (*measured*).
//!   A real cable cannot do that, hence the netdev's name.
//! * **Down** is synchronous. By the time the QMP answer arrives, `igb_core_set_link_status`
//!   has cleared STATUS.LU and the PHY's BMSR link and auto-negotiation-complete bits, set
//!   ICR.LSC and, if LSC is enabled in IMS, sent the interrupt (MSI-X: the IVAR_MISC vector,
//!   whose message has landed in its mailbox). LSC is raised only if STATUS changed, so taking
//!   down a link that is already down raises nothing; and, as for every cause, an LSC that is
//!   still set in ICR from the link-up gives no new edge and no message (igb-qemu.md §6).
//! * **Up** is *not* immediate when the PHY has auto-negotiation enabled (BMCR.AUTOEN, its
//!   reset value and what the driver sets): link-down cleared "auto-negotiation complete", so
//!   QEMU restarts auto-negotiation, and STATUS.LU, ICR.LSC and the message come ~500 ms later
//!   from the autoneg timer (wall-clock time under TCG, igb-qemu.md §3); the command itself
//!   changes no register the driver sees. Plugging in a link that is already up raises nothing.
//! * **While the cable is out** the autoneg timer does nothing (`igb_autoneg_timer` checks
//!   `link_down`), so a driver that resets the device and restarts auto-negotiation gets no link
//!   until the cable is plugged in, and then ~500 ms later.
//! * A `set_link` round trip (command to answer, both ways through QEMU's monitor thread and
//!   main loop) takes 0.3-0.6 ms on the 2-vCPU test VM, about ten qtest round trips.

use std::fmt::{self, Write as _};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::error::{Error, QemuLog, Result};

/// The `id` of the igb NIC on QEMU's command line (`-device igb,...,id=nic0`), which is also its
/// net-client name for QMP `set_link`.
pub const IGB_NIC_ID: &str = "nic0";

/// Messages longer than this are refused: nothing this client asks for comes close, and an
/// unbounded buffer would let a runaway peer exhaust memory.
const MAX_MESSAGE: usize = 16 << 20;

/// Nesting limit of the JSON parser (QEMU's own parser limits nesting to 1024; answers to the
/// commands tests use are a few levels deep).
const MAX_DEPTH: usize = 128;

/// Commands and replies longer than this are shortened in error messages.
const MAX_TEXT_IN_ERROR: usize = 200;

/// A JSON value, as much of JSON as QMP needs. Numbers keep their text (QMP numbers can be
/// 64-bit integers that `f64` would round); objects keep their members in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses one JSON text (surrounding whitespace allowed, nothing else).
    pub(crate) fn parse(text: &str) -> std::result::Result<Json, String> {
        let mut parser = Parser { bytes: text.as_bytes(), at: 0 };
        let value = parser.value(0)?;
        parser.skip_whitespace();
        if parser.at != parser.bytes.len() {
            return Err(format!("trailing characters at byte {}", parser.at));
        }
        Ok(value)
    }

    /// The member `key` of an object (`None` for other values or a missing key).
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string value.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a non-negative integer number.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(text) => text.parse().ok(),
            _ => None,
        }
    }
}

/// Compact JSON, with every control character escaped (so the text is one line).
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(text) => f.write_str(text),
            Json::String(s) => write_json_string(f, s),
            Json::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Json::Object(members) => {
                f.write_char('{')?;
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_json_string(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn write_json_string(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 || c == '\u{7F}' => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Recursive-descent parser over the bytes of a `&str` (so slices at ASCII positions are valid
/// UTF-8).
struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> std::result::Result<(), String> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", char::from(byte), self.at))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> std::result::Result<Json, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(format!("invalid literal at byte {}", self.at))
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH}"));
        }
        self.skip_whitespace();
        match self.peek() {
            None => Err("unexpected end of JSON".to_owned()),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(other) => Err(format!("unexpected {:?} at byte {}", char::from(other), self.at)),
        }
    }

    fn object(&mut self, depth: usize) -> std::result::Result<Json, String> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(format!("expected ',' or '}}' at byte {}", self.at)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> std::result::Result<Json, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(format!("expected ',' or ']' at byte {}", self.at)),
            }
        }
    }

    fn hex4(&mut self) -> std::result::Result<u32, String> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("invalid \\u escape at byte {}", self.at))?;
        self.at += 4;
        u32::from_str_radix(digits, 16).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            // Copy the run of plain characters at once; the input is a &str, so cutting at
            // the ASCII bytes '"' and '\\' keeps UTF-8 sequences whole.
            let start = self.at;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(
                std::str::from_utf8(&self.bytes[start..self.at]).map_err(|e| e.to_string())?,
            );
            match self.peek() {
                None => return Err("unterminated string".to_owned()),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escape = self.peek().ok_or("unterminated escape")?;
                    self.at += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{C}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        other => {
                            return Err(format!("invalid escape \\{}", char::from(other)));
                        }
                    }
                }
                Some(_) => return Err(format!("raw control character at byte {}", self.at)),
            }
        }
    }

    /// The character of a `\uXXXX` escape (the `\u` already consumed), joining a surrogate
    /// pair.
    fn unicode_escape(&mut self) -> std::result::Result<char, String> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.at..].starts_with(b"\\u") {
                return Err("unpaired high surrogate".to_owned());
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err("invalid low surrogate".to_owned());
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| format!("invalid code point {code:#x}"))
    }

    fn number(&mut self) -> std::result::Result<Json, String> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.at += 1;
            }
            p.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(format!("invalid number at byte {start}")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(format!("invalid fraction at byte {start}"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(format!("invalid exponent at byte {start}"));
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|e| e.to_string())?;
        Ok(Json::Number(text.to_owned()))
    }
}

/// What one message from QEMU is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// `{"QMP": ...}`, sent once when the connection opens.
    Greeting,
    /// `{"event": NAME, ...}`: asynchronous.
    Event(String),
    /// `{"return": VALUE, "id": ID}`.
    Return { id: Option<Json>, value: Json },
    /// `{"error": {"class": CLASS, "desc": DESC}, "id": ID}`.
    Error { id: Option<Json>, class: String, description: String },
}

/// Sorts one message; `Err` for anything that is not one of QMP's message kinds.
pub(crate) fn classify(message: Json) -> std::result::Result<Message, String> {
    let Json::Object(mut members) = message else {
        return Err("not a JSON object".to_owned());
    };
    let mut take =
        |key: &str| members.iter().position(|(k, _)| k == key).map(|i| members.swap_remove(i).1);
    if take("QMP").is_some() {
        return Ok(Message::Greeting);
    }
    if let Some(event) = take("event") {
        let name = event.as_str().ok_or("event name is not a string")?;
        return Ok(Message::Event(name.to_owned()));
    }
    let id = take("id");
    if let Some(value) = take("return") {
        return Ok(Message::Return { id, value });
    }
    if let Some(error) = take("error") {
        let text = |key| error.get(key).and_then(Json::as_str).unwrap_or("").to_owned();
        return Ok(Message::Error { id, class: text("class"), description: text("desc") });
    }
    Err("neither a greeting, an event, a return nor an error".to_owned())
}

fn shorten(text: &str) -> String {
    if text.len() <= MAX_TEXT_IN_ERROR {
        text.to_owned()
    } else {
        let cut = (0..=MAX_TEXT_IN_ERROR).rev().find(|&i| text.is_char_boundary(i));
        format!("{}...", &text[..cut.unwrap_or(0)])
    }
}

/// A QMP connection after the capabilities negotiation. Commands are serialised by an
/// internal lock.
#[derive(Debug)]
pub(crate) struct Qmp {
    conn: Mutex<QmpConn>,
}

#[derive(Debug)]
struct QmpConn {
    stream: UnixStream,
    /// Bytes received after the last complete line.
    pending: Vec<u8>,
    timeout: Duration,
    /// Set once garbage arrived or the socket failed: no command is sent after that.
    broken: Option<String>,
    log: QemuLog,
    /// The id of the next command; answers with a smaller id are late answers to commands
    /// that timed out.
    next_id: u64,
    /// Asynchronous events received and skipped.
    events_skipped: u64,
}

impl Qmp {
    /// Reads QEMU's greeting from a connected QMP socket and negotiates capabilities (none).
    /// `timeout` bounds each wait for a message.
    pub(crate) fn connect(stream: UnixStream, timeout: Duration, log: QemuLog) -> Result<Self> {
        let mut conn = QmpConn {
            stream,
            pending: Vec::new(),
            timeout,
            broken: None,
            log,
            next_id: 1,
            events_skipped: 0,
        };
        let deadline = Instant::now() + timeout;
        let (text, greeting) = conn.read_message("the QMP greeting", deadline)?;
        if !matches!(classify(greeting), Ok(Message::Greeting)) {
            return Err(conn.protocol_error(
                "(greeting)",
                &text,
                "the first message is not a QMP greeting",
            ));
        }
        conn.execute("qmp_capabilities", None)?;
        Ok(Qmp { conn: Mutex::new(conn) })
    }

    /// Runs `command` with `arguments` (an object, or `None`) and returns its `return` value.
    pub(crate) fn execute(&self, command: &str, arguments: Option<Json>) -> Result<Json> {
        // Nothing panics while the lock is held, and `broken` records any desynchronisation.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner).execute(command, arguments)
    }

    /// Asynchronous events received (and skipped) so far.
    #[cfg(test)]
    fn events_skipped(&self) -> u64 {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner).events_skipped
    }

    /// Runs a command given as JSON text, `{"execute": NAME, "arguments": {...}}`, and returns
    /// its `return` value as compact JSON text.
    pub(crate) fn execute_text(&self, command: &str) -> Result<String> {
        let invalid =
            |why: &str| Error::InvalidArgument(format!("QMP command {}: {why}", shorten(command)));
        let Json::Object(members) = Json::parse(command).map_err(|e| invalid(&e))? else {
            return Err(invalid("not a JSON object"));
        };
        let mut name = None;
        let mut arguments = None;
        for (key, value) in members {
            match (key.as_str(), value) {
                ("execute", Json::String(n)) => name = Some(n),
                ("arguments", a @ Json::Object(_)) => arguments = Some(a),
                ("execute" | "arguments", _) => {
                    return Err(invalid(&format!("\"{key}\" has the wrong type")));
                }
                // The client numbers commands itself to match answers; out-of-band execution
                // was not negotiated.
                (other, _) => return Err(invalid(&format!("unsupported member \"{other}\""))),
            }
        }
        let name = name.ok_or_else(|| invalid("no \"execute\" member"))?;
        self.execute(&name, arguments).map(|value| value.to_string())
    }
}

impl QmpConn {
    fn protocol_error(&mut self, command: &str, reply: &str, problem: &str) -> Error {
        self.broken = Some(format!("{problem} (message: {})", shorten(reply)));
        Error::QmpProtocol {
            command: shorten(command),
            reply: shorten(reply),
            problem: problem.to_owned(),
        }
    }

    fn execute(&mut self, command: &str, arguments: Option<Json>) -> Result<Json> {
        if let Some(reason) = &self.broken {
            return Err(Error::QmpProtocol {
                command: command.to_owned(),
                reply: String::new(),
                problem: format!(
                    "the QMP connection is unusable after an earlier failure: {reason}"
                ),
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut members = vec![("execute".to_owned(), Json::String(command.to_owned()))];
        if let Some(arguments) = arguments {
            members.push(("arguments".to_owned(), arguments));
        }
        members.push(("id".to_owned(), Json::Number(id.to_string())));
        let text = Json::Object(members).to_string();
        let deadline = Instant::now() + self.timeout;
        let mut line = text.clone().into_bytes();
        line.push(b'\n');
        if let Err(e) = self.stream.write_all(&line) {
            self.broken = Some(format!("write of {} failed: {e}", shorten(&text)));
            return Err(Error::Disconnected {
                what: format!("QMP write of {}: {e}", shorten(&text)),
                log_tail: self.log.tail(),
            });
        }
        let what = format!("the QMP answer to {}", shorten(&text));
        loop {
            let (reply, message) = self.read_message(&what, deadline)?;
            let message = match classify(message) {
                Ok(message) => message,
                Err(problem) => return Err(self.protocol_error(&text, &reply, &problem)),
            };
            let (answer_id, outcome) = match message {
                Message::Event(_) => {
                    self.events_skipped += 1;
                    continue;
                }
                Message::Greeting => {
                    return Err(self.protocol_error(&text, &reply, "a second greeting"));
                }
                Message::Return { id, value } => (id, Ok(value)),
                Message::Error { id, class, description } => {
                    (id, Err(Error::QmpRejected { command: shorten(&text), class, description }))
                }
            };
            match answer_id.as_ref().and_then(Json::as_u64) {
                Some(answered) if answered == id => return outcome,
                // The late answer to a command that timed out.
                Some(answered) if answered < id => {}
                _ => {
                    return Err(self.protocol_error(
                        &text,
                        &reply,
                        "an answer that does not carry the id of any command sent",
                    ));
                }
            }
        }
    }

    /// Reads the next message: its text and its JSON value.
    fn read_message(&mut self, what: &str, deadline: Instant) -> Result<(String, Json)> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let Ok(text) = String::from_utf8(line) else {
                    return Err(self.protocol_error(what, "(not UTF-8)", "message is not UTF-8"));
                };
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                return match Json::parse(text) {
                    Ok(json) => Ok((text.to_owned(), json)),
                    Err(problem) => Err(self.protocol_error(
                        what,
                        text,
                        &format!("message is not JSON: {problem}"),
                    )),
                };
            }
            if self.pending.len() > MAX_MESSAGE {
                let start = String::from_utf8_lossy(&self.pending[..64]).into_owned();
                return Err(self.protocol_error(
                    what,
                    &start,
                    &format!("message longer than {MAX_MESSAGE} bytes"),
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                // Not broken: a late answer is recognised by its id and skipped.
                return Err(Error::Timeout {
                    what: what.to_owned(),
                    after: self.timeout,
                    log_tail: self.log.tail(),
                });
            }
            // A zero read timeout means "block forever" to std, so never pass zero.
            let wait = (deadline - now).max(Duration::from_micros(100));
            if let Err(e) = self.stream.set_read_timeout(Some(wait)) {
                self.broken = Some(format!("set_read_timeout: {e}"));
                return Err(Error::io("QMP socket set_read_timeout", e));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.broken = Some("QEMU closed the QMP socket".to_owned());
                    return Err(Error::Disconnected {
                        what: format!("QMP socket, waiting for {what}"),
                        log_tail: self.log.tail(),
                    });
                }
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if super::error::is_transient(&e) => {}
                Err(e) => {
                    self.broken = Some(format!("QMP read failed: {e}"));
                    return Err(Error::io(format!("reading {what}"), e));
                }
            }
        }
    }
}

/// The arguments of `set_link` for the net client `name`.
pub(crate) fn set_link_arguments(name: &str, up: bool) -> Json {
    Json::Object(vec![
        ("name".to_owned(), Json::String(name.to_owned())),
        ("up".to_owned(), Json::Bool(up)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    fn parse(text: &str) -> Json {
        Json::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn json_round_trips_what_qemu_sends() {
        let greeting = r#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}, "capabilities": ["oob"]}}"#;
        let value = parse(greeting);
        assert_eq!(
            value.to_string(),
            r#"{"QMP":{"version":{"qemu":{"micro":2,"minor":0,"major":10},"package":"Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"},"capabilities":["oob"]}}"#
        );
        assert_eq!(parse(&value.to_string()), value);
        let numbers = parse("[0, -1, 18446744073709551615, 1.5e-3, -0.0, 2E+10]");
        assert_eq!(numbers.to_string(), "[0,-1,18446744073709551615,1.5e-3,-0.0,2E+10]");
        assert_eq!(parse("  true ").to_string(), "true");
        assert_eq!(parse("{ }"), Json::Object(vec![]));
        assert_eq!(parse("[ ]"), Json::Array(vec![]));
        assert_eq!(parse("null"), Json::Null);
    }

    #[test]
    fn json_strings_unescape_and_escape() {
        let value = parse(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00 é""#);
        assert_eq!(value, Json::String("a\"b\\c/d\u{8}\u{c}\n\r\té😀 é".to_owned()));
        // Written back on one line, control characters escaped.
        let text = value.to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        assert_eq!(parse(&text), value);
        assert_eq!(Json::String("\u{1}".into()).to_string(), r#""\u0001""#);
    }

    #[test]
    fn json_rejects_malformed_text() {
        for bad in [
            "",
            "{",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            "1e",
            "-",
            "\"unterminated",
            "\"raw\ncontrol\"",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\ud800\\u0041\"",
            "tru",
            "nul",
            "{} {}",
            "{1:2}",
        ] {
            assert!(Json::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(Json::parse(&deep).is_err(), "unbounded nesting");
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Json::parse(&fine).is_ok());
    }

    #[test]
    fn messages_are_sorted_by_kind() {
        let kind = |text: &str| classify(parse(text));
        assert_eq!(kind(r#"{"QMP": {"capabilities": []}}"#), Ok(Message::Greeting));
        assert_eq!(
            kind(r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}"#),
            Ok(Message::Event("RESUME".to_owned()))
        );
        assert_eq!(
            kind(r#"{"return": {}, "id": 7}"#),
            Ok(Message::Return { id: Some(Json::Number("7".into())), value: Json::Object(vec![]) })
        );
        assert_eq!(
            kind(
                r#"{"id": 8, "error": {"class": "DeviceNotFound", "desc": "Device 'x' not found"}}"#
            ),
            Ok(Message::Error {
                id: Some(Json::Number("8".into())),
                class: "DeviceNotFound".to_owned(),
                description: "Device 'x' not found".to_owned(),
            })
        );
        assert!(kind("[]").is_err());
        assert!(kind(r#"{"something": 1}"#).is_err());
        assert!(kind(r#"{"event": 3}"#).is_err());
    }

    /// A fake QEMU on the other end of a socket pair: sends `greeting`, then answers each line
    /// it reads with `answer(command)` (several messages, one per line).
    fn fake_qemu(
        greeting: &'static str,
        answer: impl Fn(&Json) -> Vec<String> + Send + 'static,
    ) -> (UnixStream, std::thread::JoinHandle<Vec<String>>) {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let handle = std::thread::spawn(move || {
            let mut received = Vec::new();
            theirs.write_all(greeting.as_bytes()).unwrap();
            let mut reader = BufReader::new(theirs.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let command = parse(line.trim());
                for message in answer(&command) {
                    if theirs.write_all(format!("{message}\r\n").as_bytes()).is_err() {
                        break;
                    }
                }
                received.push(std::mem::take(&mut line).trim().to_owned());
            }
            received
        });
        (ours, handle)
    }

    const GREETING: &str = "{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}\r\n";

    fn id_of(command: &Json) -> String {
        command.get("id").map(ToString::to_string).unwrap_or_default()
    }

    #[test]
    fn negotiates_then_matches_answers_by_id_and_skips_events() {
        let (stream, fake) = fake_qemu(GREETING, |command| {
            let id = id_of(command);
            match command.get("execute").and_then(Json::as_str) {
                Some("qmp_capabilities") => vec![format!("{{\"return\": {{}}, \"id\": {id}}}")],
                Some("set_link") => vec![
                    r#"{"timestamp": {"seconds": 0, "microseconds": 0}, "event": "X"}"#.to_owned(),
                    format!("{{\"return\": {{}}, \"id\": {id}}}"),
                ],
                _ => vec![format!(
                    "{{\"id\": {id}, \"error\": {{\"class\": \"CommandNotFound\", \"desc\": \
                     \"The command nope has not been found\"}}}}"
                )],
            }
        });
        let qmp = Qmp::connect(stream, Duration::from_secs(5), QemuLog::none()).unwrap();
        assert_eq!(
            qmp.execute("set_link", Some(set_link_arguments("nic0", false))).unwrap(),
            Json::Object(vec![])
        );
        assert_eq!(qmp.events_skipped(), 1);
        match qmp.execute_text(r#"{"execute": "nope"}"#) {
            Err(Error::QmpRejected { class, description, .. }) => {
                assert_eq!(class, "CommandNotFound");
                assert!(description.contains("nope"), "{description}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        drop(qmp);
        let sent = fake.join().unwrap();
        assert_eq!(
            sent,
            [
                r#"{"execute":"qmp_capabilities","id":1}"#,
                r#"{"execute":"set_link","arguments":{"name":"nic0","up":false},"id":2}"#,
                r#"{"execute":"nope","id":3}"#,
            ]
        );
    }

    #[test]
    fn a_late_answer_after_a_timeout_is_skipped() {
        // The first set_link is answered only after the second one was sent.
        let (stream, fake) = fake_qemu(GREETING, |command| {
            let id = id_of(command);
            match id.as_str() {
                "1" => vec![format!("{{\"return\": {{}}, \"id\": {id}}}")],
                "2" => vec![],
                _ => vec![
                    r#"{"return": {"late": true}, "id": 2}"#.to_owned(),
                    format!("{{\"return\": {{\"id\": {id}}}, \"id\": {id}}}"),
                ],
            }
        });
        let qmp = Qmp::connect(stream, Duration::from_millis(200), QemuLog::none()).unwrap();
        let started = Instant::now();
        assert!(matches!(qmp.execute("slow", None), Err(Error::Timeout { .. })));
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(qmp.execute_text(r#"{"execute": "next"}"#).unwrap(), r#"{"id":3}"#);
        drop(qmp);
        fake.join().unwrap();
    }

    #[test]
    fn garbage_breaks_the_connection() {
        let (stream, fake) = fake_qemu(GREETING, |command| {
            if id_of(command) == "1" {
                vec![r#"{"return": {}, "id": 1}"#.to_owned()]
            } else {
                vec!["this is not JSON".to_owned()]
            }
        });
        let qmp = Qmp::connect(stream, Duration::from_secs(5), QemuLog::none()).unwrap();
        let first = qmp.execute("x", None).unwrap_err();
        assert!(matches!(first, Error::QmpProtocol { .. }), "{first}");
        assert!(first.to_string().contains("not JSON"), "{first}");
        let second = qmp.execute("y", None).unwrap_err();
        assert!(second.to_string().contains("unusable"), "{second}");
        drop(qmp);
        assert_eq!(fake.join().unwrap().len(), 2, "nothing sent once broken");
    }

    #[test]
    fn a_missing_or_wrong_greeting_fails_the_connection() {
        let (stream, _fake) = fake_qemu("{\"return\": {}}\r\n", |_| vec![]);
        let error = Qmp::connect(stream, Duration::from_secs(5), QemuLog::none()).unwrap_err();
        assert!(error.to_string().contains("not a QMP greeting"), "{error}");

        let (ours, theirs) = UnixStream::pair().unwrap();
        let error = Qmp::connect(ours, Duration::from_millis(100), QemuLog::none()).unwrap_err();
        assert!(matches!(error, Error::Timeout { .. }), "{error}");
        drop(theirs);
    }

    #[test]
    fn a_closed_socket_is_a_disconnect() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(GREETING.as_bytes()).unwrap();
        drop(theirs);
        let error = Qmp::connect(ours, Duration::from_secs(5), QemuLog::none()).unwrap_err();
        assert!(matches!(error, Error::Disconnected { .. }), "{error}");
    }

    #[test]
    fn command_text_is_validated_before_sending() {
        let (stream, fake) = fake_qemu(GREETING, |command| {
            vec![format!("{{\"return\": {{}}, \"id\": {}}}", id_of(command))]
        });
        let qmp = Qmp::connect(stream, Duration::from_secs(5), QemuLog::none()).unwrap();
        for bad in [
            "",
            "[]",
            r#"{"arguments": {}}"#,
            r#"{"execute": 1}"#,
            r#"{"execute": "x", "arguments": []}"#,
            r#"{"execute": "x", "id": 5}"#,
            r#"{"exec-oob": "x"}"#,
        ] {
            let error = qmp.execute_text(bad).unwrap_err();
            assert!(matches!(error, Error::InvalidArgument(_)), "{bad}: {error}");
        }
        assert_eq!(
            qmp.execute_text(r#"{"execute": "x", "arguments": {"a": "line\nbreak"}}"#).unwrap(),
            "{}"
        );
        drop(qmp);
        let sent = fake.join().unwrap();
        assert_eq!(sent.len(), 2, "only the capabilities and the valid command: {sent:?}");
        assert_eq!(sent[1], r#"{"execute":"x","arguments":{"a":"line\nbreak"},"id":2}"#);
    }
}
