//! Ethernet frames between this process and the NIC, over QEMU's
//! `-netdev stream,addr.type=unix` backend (igb-qemu.md §7): each frame, in both directions, is
//! a 4-byte big-endian length followed by the raw frame without FCS. No vnet header.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::error::{Error, QemuLog, Result};

/// Largest frame accepted in either direction. QEMU's stream backend reassembles frames into a
/// buffer of `NET_BUFSIZE` (4096 + 65536) bytes and drops the connection on longer ones, so
/// stay below that; no Ethernet frame comes close.
pub const MAX_FRAME_LEN: usize = 65536;

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddress = MacAddress([0xFF; 6]);

    /// Whether the group (multicast/broadcast) bit is set.
    #[must_use]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl FromStr for MacAddress {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad =
            || Error::InvalidArgument(format!("{s:?} is not a MAC address like 52:54:00:12:34:56"));
        let mut bytes = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut bytes {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddress(bytes))
    }
}

/// Prefixes `frame` with its 4-byte big-endian length.
pub fn encode_frame(frame: &[u8]) -> Result<Vec<u8>> {
    if frame.is_empty() || frame.len() > MAX_FRAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "frame length {} is outside 1..={MAX_FRAME_LEN}",
            frame.len()
        )));
    }
    let len = u32::try_from(frame.len())
        .map_err(|_| Error::InvalidArgument("frame too long".to_owned()))?;
    let mut out = Vec::with_capacity(4 + frame.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(frame);
    Ok(out)
}

/// Reassembles length-prefixed frames from a byte stream that arrives in arbitrary pieces.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(header) = self.buf.first_chunk::<4>() else { return Ok(None) };
        let len = u32::from_be_bytes(*header) as usize;
        if len > MAX_FRAME_LEN {
            return Err(Error::Device(format!("QEMU sent a frame length of {len} bytes")));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let frame = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(frame))
    }

    /// Bytes received but not yet returned as frames.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Our end of the netdev stream.
#[derive(Debug)]
pub(crate) struct Netdev {
    tx: Mutex<UnixStream>,
    rx: Mutex<(UnixStream, FrameDecoder)>,
    log: QemuLog,
}

impl Netdev {
    /// How long a send may block when QEMU does not read the socket. QEMU stops reading while
    /// no RX ring has room (igb-qemu.md §8), so a test that injects far more frames than there
    /// are free descriptors ends here rather than hanging.
    const SEND_TIMEOUT: Duration = Duration::from_secs(10);

    pub(crate) fn new(stream: UnixStream, log: QemuLog) -> Result<Self> {
        stream
            .set_write_timeout(Some(Self::SEND_TIMEOUT))
            .map_err(|e| Error::io("netdev set_write_timeout", e))?;
        let rx = stream.try_clone().map_err(|e| Error::io("netdev socket clone", e))?;
        Ok(Netdev { tx: Mutex::new(stream), rx: Mutex::new((rx, FrameDecoder::default())), log })
    }

    pub(crate) fn send_frames(&self, frames: &[&[u8]]) -> Result<()> {
        let mut bytes = Vec::new();
        for frame in frames {
            bytes.extend(encode_frame(frame)?);
        }
        let mut tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        tx.write_all(&bytes).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
                what: "QEMU to read the netdev socket (it stops reading while no RX ring has a \
                       free descriptor, igb-qemu.md §8)"
                    .to_owned(),
                after: Self::SEND_TIMEOUT,
                log_tail: self.log.tail(),
            },
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Error::Disconnected {
                what: format!("netdev socket, sending a frame: {e}"),
                log_tail: self.log.tail(),
            },
            _ => Error::io("sending a frame to the netdev socket", e),
        })
    }

    pub(crate) fn recv_frame(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        let mut guard = self.rx.lock().unwrap_or_else(PoisonError::into_inner);
        let (stream, decoder) = &mut *guard;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(frame) = decoder.next_frame()? {
                return Ok(Some(frame));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // A zero read timeout means "block forever" to std, so never pass zero.
            let wait = (deadline - now).max(Duration::from_micros(100));
            stream
                .set_read_timeout(Some(wait))
                .map_err(|e| Error::io("netdev set_read_timeout", e))?;
            match stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(Error::Disconnected {
                        what: "netdev socket, waiting for a frame".to_owned(),
                        log_tail: self.log.tail(),
                    });
                }
                Ok(n) => decoder.push(&chunk[..n]),
                Err(e) if super::error::is_transient(&e) => {}
                Err(e) => return Err(Error::io("reading the netdev socket", e)),
            }
        }
    }

    /// Bytes we sent that QEMU has not read from the socket yet (`TIOCOUTQ`: on a unix stream
    /// socket this is the memory still charged to the sender, released as the peer reads).
    pub(crate) fn unread_by_qemu(&self) -> Result<usize> {
        let tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        let mut pending: libc::c_int = 0;
        // SAFETY: TIOCOUTQ writes one c_int through the pointer, which points to a live local
        // c_int; the fd is an open socket owned by `tx`, held locked for the call.
        let rc = unsafe { libc::ioctl(tx.as_raw_fd(), libc::TIOCOUTQ, &raw mut pending) };
        if rc != 0 {
            return Err(Error::io(
                "ioctl(TIOCOUTQ) on the netdev socket",
                io::Error::last_os_error(),
            ));
        }
        Ok(usize::try_from(pending).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_length_prefixed_big_endian() {
        let bytes = encode_frame(&[0xAA; 300]).unwrap();
        assert_eq!(&bytes[..4], &[0, 0, 0x01, 0x2C]);
        assert_eq!(bytes.len(), 304);
        assert!(encode_frame(&[]).is_err());
        assert!(encode_frame(&vec![0; MAX_FRAME_LEN + 1]).is_err());
        assert!(encode_frame(&vec![0; MAX_FRAME_LEN]).is_ok());
    }

    #[test]
    fn decoder_reassembles_frames_split_anywhere() {
        let a = vec![1u8; 60];
        let b = vec![2u8; 1514];
        let mut stream = encode_frame(&a).unwrap();
        stream.extend(encode_frame(&b).unwrap());
        for split in [1, 3, 4, 5, 63, 64, 65, 70, 1000] {
            let mut d = FrameDecoder::default();
            let mut got = Vec::new();
            for piece in stream.chunks(split) {
                d.push(piece);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, vec![a.clone(), b.clone()], "split {split}");
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn decoder_rejects_absurd_lengths() {
        let mut d = FrameDecoder::default();
        d.push(&[0x7F, 0, 0, 0]);
        assert!(d.next_frame().is_err());
    }

    #[test]
    fn mac_addresses_parse_and_print() {
        let mac: MacAddress = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(mac.0, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(mac.to_string(), "52:54:00:12:34:56");
        assert!(!mac.is_multicast());
        assert!(MacAddress::BROADCAST.is_multicast());
        for bad in
            ["52:54:00:12:34", "52:54:00:12:34:56:78", "5254:00:12:34:56", "zz:54:00:12:34:56", ""]
        {
            assert!(bad.parse::<MacAddress>().is_err(), "{bad}");
        }
    }
}
