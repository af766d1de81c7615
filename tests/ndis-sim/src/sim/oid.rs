//! OID requests as the test issues them through [`Sim::oid_request`](super::Sim::oid_request),
//! and what came back.

use vmqnic::ndis::NDIS_STATUS;

use super::state::OidRecord;

/// `NDIS_REQUEST_TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OidKind {
    /// `NdisRequestQueryInformation`.
    Query,
    /// `NdisRequestSetInformation`.
    Set,
    /// `NdisRequestQueryStatistics`.
    QueryStatistics,
    /// `NdisRequestMethod` with this `MethodId`.
    Method {
        /// `MethodId`.
        method_id: u32,
    },
}

/// An OID request to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidRequest {
    /// Query, set or method.
    pub kind: OidKind,
    /// The OID.
    pub oid: u32,
    /// Input bytes (set and method); the start of the information buffer.
    pub input: Vec<u8>,
    /// Size of the information buffer: for a query, what the miniport may write; for a method,
    /// `OutputBufferLength` (the buffer holds `max(input, output)` bytes).
    pub output_length: u32,
    /// `PortNumber`.
    pub port: u32,
    /// What the rest of the information buffer (after `input`) holds when the miniport gets
    /// it: this pattern repeated from the end of the input (empty: zeros). Output buffers
    /// NDIS hands a miniport are not cleared, so a test fills them with garbage to show the
    /// miniport neither reads it back nor reports it as written.
    pub fill: Vec<u8>,
}

impl OidRequest {
    /// A query with a `length`-byte buffer.
    #[must_use]
    pub fn query(oid: u32, length: u32) -> Self {
        Self {
            kind: OidKind::Query,
            oid,
            input: Vec::new(),
            output_length: length,
            port: 0,
            fill: Vec::new(),
        }
    }

    /// A set carrying `data`.
    #[must_use]
    pub fn set(oid: u32, data: &[u8]) -> Self {
        Self {
            kind: OidKind::Set,
            oid,
            input: data.to_vec(),
            output_length: 0,
            port: 0,
            fill: Vec::new(),
        }
    }

    /// A method with `input`, allowing `output_length` bytes of output in the same buffer.
    #[must_use]
    pub fn method(oid: u32, input: &[u8], output_length: u32) -> Self {
        Self {
            kind: OidKind::Method { method_id: 0 },
            oid,
            input: input.to_vec(),
            output_length,
            port: 0,
            fill: Vec::new(),
        }
    }

    /// The same request as `NdisRequestQueryStatistics` (a query).
    #[must_use]
    pub fn as_statistics(mut self) -> Self {
        self.kind = OidKind::QueryStatistics;
        self
    }

    /// The same request with the information buffer after the input filled with `pattern`,
    /// repeated (see [`OidRequest::fill`]).
    #[must_use]
    pub fn with_fill(mut self, pattern: &[u8]) -> Self {
        self.fill = pattern.to_vec();
        self
    }

    /// Bytes of information buffer the request carries.
    #[must_use]
    pub fn buffer_length(&self) -> usize {
        let output = usize::try_from(self.output_length).unwrap_or(usize::MAX);
        match self.kind {
            OidKind::Set => self.input.len(),
            OidKind::Query | OidKind::QueryStatistics => output,
            OidKind::Method { .. } => self.input.len().max(output),
        }
    }
}

/// Identifies a request that is pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OidId(pub(crate) u64);

/// How a request finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidCompletion {
    /// The status (the return value, or what NdisMOidRequestComplete passed).
    pub status: NDIS_STATUS,
    /// Whether MiniportOidRequest returned it (not NDIS_STATUS_PENDING).
    pub synchronous: bool,
    /// `BytesWritten` (query, method).
    pub bytes_written: u32,
    /// `BytesRead` (set, method).
    pub bytes_read: u32,
    /// `BytesNeeded`.
    pub bytes_needed: u32,
    /// The information buffer afterwards.
    pub buffer: Vec<u8>,
}

/// What [`Sim::oid_request`](super::Sim::oid_request) returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OidOutcome {
    /// MiniportOidRequest finished the request.
    Completed(OidCompletion),
    /// MiniportOidRequest returned NDIS_STATUS_PENDING.
    Pending(OidId),
}

impl OidOutcome {
    /// The completion, if the request finished synchronously.
    #[must_use]
    pub fn completed(self) -> Option<OidCompletion> {
        match self {
            OidOutcome::Completed(c) => Some(c),
            OidOutcome::Pending(_) => None,
        }
    }
}

/// Reads the outcome of `record` out of its request and buffer.
pub(crate) fn completion_of(
    record: &OidRecord,
    status: NDIS_STATUS,
    synchronous: bool,
) -> OidCompletion {
    let request = &*record.request.0;
    let (bytes_written, bytes_read, bytes_needed) = match record.kind {
        OidKind::Query | OidKind::QueryStatistics => {
            // SAFETY: a query request: its DATA union holds the QUERY_INFORMATION view
            // (plain integers and a pointer; every bit pattern is valid).
            let q = unsafe { request.DATA.QUERY_INFORMATION };
            (q.BytesWritten, 0, q.BytesNeeded)
        }
        OidKind::Set => {
            // SAFETY: a set request: SET_INFORMATION view, as above.
            let v = unsafe { request.DATA.SET_INFORMATION };
            (0, v.BytesRead, v.BytesNeeded)
        }
        OidKind::Method { .. } => {
            // SAFETY: a method request: METHOD_INFORMATION view, as above.
            let m = unsafe { request.DATA.METHOD_INFORMATION };
            (m.BytesWritten, m.BytesRead, m.BytesNeeded)
        }
    };
    let buffer: Vec<u8> =
        record.buffer.iter().flat_map(|w| w.to_le_bytes()).take(record.length).collect();
    OidCompletion { status, synchronous, bytes_written, bytes_read, bytes_needed, buffer }
}
