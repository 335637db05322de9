//! Every limit of the service: a named default, and (in `tally serve`) a
//! flag and an environment variable of the same name as seed 004 §15's
//! (`MAX_INFLIGHT`, `MAX_RPS`, `REQ_BODY_MAX`, `DECOMP_RATIO_MAX`,
//! `POST_INFLATE_MAX`, …).

use std::time::Duration;

/// Requests handled at once; one more is shed with 503 `OVERLOADED`.
pub const MAX_INFLIGHT: usize = 512;
/// Requests per second for the whole instance (token bucket).
pub const MAX_RPS: u32 = 500;
/// The global bucket's burst.
pub const RPS_BURST: u32 = 200;
/// Requests per second for one tenant (token bucket).
pub const TENANT_RPS: u32 = 100;
/// One tenant's burst.
pub const TENANT_BURST: u32 = 100;
/// The largest request body on the wire, bytes (1 MiB).
pub const REQ_BODY_MAX: usize = 1 << 20;
/// The largest inflation ratio of a compressed body (inflated ≤ ratio × wire).
pub const DECOMP_RATIO_MAX: usize = 10;
/// The largest body after inflation, bytes (8 MiB).
pub const POST_INFLATE_MAX: usize = 8 << 20;
/// The time a request may take, headers aside: reading its body, handling
/// it and writing its answer.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// The time a client may take to send a request's headers (slow-loris).
pub const HEADER_READ_TIMEOUT_MS: u64 = 5_000;
/// The time a client may take to complete a TLS handshake, from the
/// connection's accept (a client that connects and never finishes one is
/// cut off). Only with `--tls-cert`/`--tls-key`.
pub const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Open connections at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 4_096;
/// How long an idempotency record is kept (at least 24 h).
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 60 * 60;
/// The longest `Idempotency-Key`, bytes.
pub const IDEMPOTENCY_KEY_MAX_BYTES: usize = 255;
/// A request still marked in flight after this long was cut off (a crash):
/// a retry takes it over. Twice the request timeout (this is the default's).
/// PostgreSQL only: an embedded claim lives in the process's memory and is
/// released the moment its request ends or is cut off.
pub const IN_FLIGHT_STALE_MS: u64 = 2 * REQUEST_TIMEOUT_MS;
/// The most rows one history page returns.
pub const HISTORY_PAGE_MAX: usize = 1_000;
/// Events in one batch of accounts or transfers (TigerBeetle's 8,189).
pub const BATCH_EVENTS_MAX: usize = tally_ledger::MAX_BATCH_EVENTS;
/// Requests queued for the embedded ledger's writer; more are shed with 503.
pub const WRITER_QUEUE_MAX: usize = 4_096;
/// Requests the writer takes into one group commit.
pub const GROUP_COMMIT_MAX: usize = 256;
/// `/readyz` reports backpressure when fewer than this share of the
/// in-flight permits is left (percent).
pub const BACKPRESSURE_FREE_PERCENT_MIN: usize = 10;

/// The limits one server runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// [`MAX_INFLIGHT`].
    pub max_inflight: usize,
    /// [`MAX_RPS`].
    pub max_rps: u32,
    /// [`RPS_BURST`].
    pub rps_burst: u32,
    /// [`TENANT_RPS`].
    pub tenant_rps: u32,
    /// [`TENANT_BURST`].
    pub tenant_burst: u32,
    /// [`REQ_BODY_MAX`].
    pub req_body_max: usize,
    /// [`DECOMP_RATIO_MAX`].
    pub decomp_ratio_max: usize,
    /// [`POST_INFLATE_MAX`].
    pub post_inflate_max: usize,
    /// [`REQUEST_TIMEOUT_MS`].
    pub request_timeout: Duration,
    /// [`HEADER_READ_TIMEOUT_MS`].
    pub header_read_timeout: Duration,
    /// [`TLS_HANDSHAKE_TIMEOUT_MS`].
    pub tls_handshake_timeout: Duration,
    /// [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// [`IDEMPOTENCY_TTL_SECS`].
    pub idempotency_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_inflight: MAX_INFLIGHT,
            max_rps: MAX_RPS,
            rps_burst: RPS_BURST,
            tenant_rps: TENANT_RPS,
            tenant_burst: TENANT_BURST,
            req_body_max: REQ_BODY_MAX,
            decomp_ratio_max: DECOMP_RATIO_MAX,
            post_inflate_max: POST_INFLATE_MAX,
            request_timeout: Duration::from_millis(REQUEST_TIMEOUT_MS),
            header_read_timeout: Duration::from_millis(HEADER_READ_TIMEOUT_MS),
            tls_handshake_timeout: Duration::from_millis(TLS_HANDSHAKE_TIMEOUT_MS),
            max_connections: MAX_CONNECTIONS,
            idempotency_ttl: Duration::from_secs(IDEMPOTENCY_TTL_SECS),
        }
    }
}

/// Why a set of limits is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("limit {name}: {what}")]
pub struct LimitError {
    /// The limit's environment name.
    pub name: &'static str,
    /// What is wrong.
    pub what: &'static str,
}

impl Limits {
    /// Checks that every limit is usable: nothing zero, the inflated cap at
    /// least the wire cap, idempotency records kept at least 24 h.
    ///
    /// # Errors
    /// The first limit that is not.
    pub fn validate(&self) -> Result<(), LimitError> {
        let zero = |name, v: usize| {
            if v == 0 {
                Err(LimitError {
                    name,
                    what: "must be above 0",
                })
            } else {
                Ok(())
            }
        };
        zero("MAX_INFLIGHT", self.max_inflight)?;
        zero("MAX_RPS", self.max_rps as usize)?;
        zero("RPS_BURST", self.rps_burst as usize)?;
        zero("TENANT_RPS", self.tenant_rps as usize)?;
        zero("TENANT_BURST", self.tenant_burst as usize)?;
        zero("REQ_BODY_MAX", self.req_body_max)?;
        zero("DECOMP_RATIO_MAX", self.decomp_ratio_max)?;
        zero("MAX_CONNECTIONS", self.max_connections)?;
        if self.post_inflate_max < self.req_body_max {
            return Err(LimitError {
                name: "POST_INFLATE_MAX",
                what: "must be at least REQ_BODY_MAX",
            });
        }
        if self.request_timeout.is_zero() || self.header_read_timeout.is_zero() {
            return Err(LimitError {
                name: "REQUEST_TIMEOUT_MS",
                what: "must be above 0",
            });
        }
        if self.tls_handshake_timeout.is_zero() {
            return Err(LimitError {
                name: "TLS_HANDSHAKE_TIMEOUT_MS",
                what: "must be above 0",
            });
        }
        if self.idempotency_ttl < Duration::from_secs(IDEMPOTENCY_TTL_SECS) {
            return Err(LimitError {
                name: "IDEMPOTENCY_TTL_SECS",
                what: "must be at least 86400 (24 h)",
            });
        }
        Ok(())
    }
}
