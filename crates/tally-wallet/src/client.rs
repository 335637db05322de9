//! The mint's HTTP API (NUT-01, 02, 03, 04, 05, 06, 07, 09, 20; NUT-17's
//! websocket is [`crate::ws`]'s) over reqwest
//! (hyper underneath, rustls with ring the only TLS stack, no redirects).
//!
//! Every call has a connect timeout and a whole-request timeout; every
//! response body is read through a size cap before it is parsed; every
//! response is parsed strictly into bounded types (the keysets' ids are
//! recomputed by [`tally_cashu`]). Errors are classified for the sagas:
//!
//! * [`Error::Unreachable`]: the connection was never made, nothing was sent
//!   (definitive);
//! * [`Error::Mint`]: the mint answered 4xx with a NUT error (definitive);
//! * [`Error::Ambiguous`]: a timeout, a connection lost after sending, or a
//!   5xx: the mint may have processed the request;
//! * [`Error::InvalidResponse`]: the mint answered 2xx with something that
//!   does not parse or exceeds a bound (the request was processed).
//!
//! Retries (with backoff and jitter, only where the error says a retry is
//! safe) and the per-mint circuit breaker are [`crate::resilience`]'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tally_cashu::nuts::nut00::{BlindSignature, BlindedMessage, MintUrl, Proof};
use tally_cashu::nuts::nut01::{Keyset, parse_keysets_response};
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};
use tally_cashu::nuts::nut06::MintInfo;

use crate::error::{Error, Result};
use crate::resilience::{Breaker, BreakerPolicy, Call, Outcome, RetryPolicy, jitter_word};

/// Connect timeout.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Whole-request timeout (connect, send, wait, read).
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// The largest response body read, bytes (a keys response of 256 keysets of
/// 64 keys is about 1.5 MiB).
pub const RESPONSE_LEN_MAX: usize = 2 << 20;
/// The most characters of a mint's error detail kept.
pub const DETAIL_LEN_MAX: usize = 256;
/// The most blind signatures or states a response may carry.
pub const ITEMS_PER_RESPONSE_MAX: usize = 1_000;
/// NUT error codes of keyset refusals (unknown 12001, inactive 12002, and
/// the class): they drop the cached info.
pub const KEYSET_ERRORS: std::ops::Range<u32> = 12_000..13_000;
/// How long a mint's `/v1/info` answer is reused by [`MintClient::info`]
/// (ms). A keyset refusal (NUT error 12xxx) drops it sooner.
pub const INFO_MAX_AGE_MS: u64 = 300_000;

/// A NUT-04 quote as the mint returns it.
#[derive(Clone, Debug, Deserialize)]
pub struct MintQuoteResponse {
    /// Quote id.
    pub quote: String,
    /// Payment request.
    pub request: String,
    /// `UNPAID`, `PAID`, `ISSUED`.
    pub state: String,
    /// Expiry, unix seconds.
    #[serde(default)]
    pub expiry: Option<u64>,
    /// NUT-20 key the quote is locked to.
    #[serde(default)]
    pub pubkey: Option<String>,
    /// Amount (newer mints echo it).
    #[serde(default)]
    pub amount: Option<u64>,
}

/// One NUT-07 proof state.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ProofStateEntry {
    /// `Y` in hex.
    #[serde(rename = "Y")]
    pub y: String,
    /// `UNSPENT`, `PENDING` or `SPENT`.
    pub state: String,
}

#[derive(Serialize)]
struct MintQuoteRequest<'a> {
    amount: u64,
    unit: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pubkey: Option<String>,
}

/// A NUT-04 mint request body (stored before it is sent).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MintRequest {
    /// Quote id.
    pub quote: String,
    /// Outputs.
    pub outputs: Vec<BlindedMessage>,
    /// NUT-20 signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A NUT-29 batch mint request body (stored before it is sent).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MintBatchRequest {
    /// Unique quote ids.
    pub quotes: Vec<String>,
    /// Outputs for the quotes' total.
    pub outputs: Vec<BlindedMessage>,
    /// NUT-20 signatures, one per quote (`None` for an unlocked one);
    /// absent when no quote is locked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signatures: Option<Vec<Option<String>>>,
}

/// A NUT-03 swap request body (stored before it is sent).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SwapRequest {
    /// Inputs, without their DLEQ proofs (the blinding factor never goes
    /// to the mint).
    pub inputs: Vec<Proof>,
    /// Outputs.
    pub outputs: Vec<BlindedMessage>,
}

/// A NUT-05 bolt11 melt quote as the mint returns it (from the quote, the
/// melt and the state endpoints).
#[derive(Clone, Debug, Deserialize)]
pub struct MeltQuoteResponse {
    /// Quote id.
    pub quote: String,
    /// Amount to pay, in the unit.
    pub amount: u64,
    /// Lightning fee reserve, in the unit.
    #[serde(default)]
    pub fee_reserve: u64,
    /// `UNPAID`, `PENDING`, `PAID`.
    pub state: String,
    /// Expiry, unix seconds.
    #[serde(default)]
    pub expiry: Option<u64>,
    /// The payment preimage, once paid.
    #[serde(default)]
    pub payment_preimage: Option<String>,
    /// NUT-08 change: signatures on the first blank outputs.
    #[serde(default)]
    pub change: Option<Vec<BlindSignature>>,
}

#[derive(Serialize)]
struct MeltQuoteRequest<'a> {
    request: &'a str,
    unit: &'a str,
}

/// A NUT-05/08 melt request body (stored before it is sent).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeltRequest {
    /// Quote id.
    pub quote: String,
    /// Inputs, without their DLEQ proofs.
    pub inputs: Vec<Proof>,
    /// NUT-08 blank outputs for the change.
    pub outputs: Vec<BlindedMessage>,
}

#[derive(Deserialize)]
struct SignaturesResponse {
    signatures: Vec<BlindSignature>,
}

#[derive(Serialize)]
struct RestoreRequest<'a> {
    outputs: &'a [BlindedMessage],
}

#[derive(Deserialize)]
struct RestoreResponse {
    outputs: Vec<BlindedMessage>,
    signatures: Vec<BlindSignature>,
}

#[derive(Serialize)]
struct CheckStateRequest<'a> {
    #[serde(rename = "Ys")]
    ys: &'a [String],
}

#[derive(Deserialize)]
struct CheckStateResponse {
    states: Vec<ProofStateEntry>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    detail: Option<String>,
}

/// How a [`MintClient`] talks to its mint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Connect timeout, ms (at least 1).
    pub connect_ms: u64,
    /// Whole-request timeout, ms (at least 1).
    pub request_ms: u64,
    /// Retries (see [`crate::resilience`]).
    pub retry: RetryPolicy,
    /// The circuit breaker (see [`crate::resilience`]).
    pub breaker: BreakerPolicy,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_ms: CONNECT_TIMEOUT_MS,
            request_ms: REQUEST_TIMEOUT_MS,
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
        }
    }
}

/// A client for one mint. Clones share one circuit breaker.
#[derive(Clone, Debug)]
pub struct MintClient {
    url: MintUrl,
    http: reqwest::Client,
    /// HTTP/1.1 only, no whole-request timeout: the NUT-17 websocket's
    /// handshake (an upgrade), with the same TLS stack and connect timeout.
    ws_http: reqwest::Client,
    retry: RetryPolicy,
    breaker: Arc<Breaker>,
    /// The last `/v1/info` answer and when it came (shared by clones).
    info: Arc<std::sync::Mutex<Option<(Instant, MintInfo)>>>,
}

fn truncate(text: &str) -> String {
    text.chars().take(DETAIL_LEN_MAX).collect()
}

impl MintClient {
    /// A client for `url`.
    ///
    /// # Errors
    /// [`Error::Unreachable`] if the HTTP stack cannot be set up.
    pub fn new(url: MintUrl) -> Result<Self> {
        Self::with_timeouts(url, CONNECT_TIMEOUT_MS, REQUEST_TIMEOUT_MS)
    }

    /// A client for `url` with other timeouts (each at least 1 ms).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero timeout; as [`MintClient::new`].
    pub fn with_timeouts(url: MintUrl, connect_ms: u64, request_ms: u64) -> Result<Self> {
        Self::with_config(
            url,
            ClientConfig {
                connect_ms,
                request_ms,
                ..ClientConfig::default()
            },
        )
    }

    /// A client for `url` with `config`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero timeout or a policy out of its
    /// bounds; as [`MintClient::new`].
    pub fn with_config(url: MintUrl, config: ClientConfig) -> Result<Self> {
        if config.connect_ms == 0 || config.request_ms == 0 {
            return Err(Error::InvalidArgument("timeouts must be at least 1 ms"));
        }
        config.retry.validate()?;
        config.breaker.validate()?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_millis(config.connect_ms))
            .timeout(Duration::from_millis(config.request_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Unreachable(e.to_string()))?;
        let ws_http = reqwest::Client::builder()
            .use_rustls_tls()
            .http1_only()
            .connect_timeout(Duration::from_millis(config.connect_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Unreachable(e.to_string()))?;
        Ok(Self {
            url,
            http,
            ws_http,
            retry: config.retry,
            breaker: Arc::new(Breaker::new(config.breaker)),
            info: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// The mint's circuit breaker (shared by this client's clones).
    #[must_use]
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The mint's URL.
    #[must_use]
    pub fn url(&self) -> &MintUrl {
        &self.url
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url.as_str())
    }

    /// One call: admitted by the breaker, its outcome recorded, retried
    /// after a backoff while [`RetryPolicy::may_retry`] allows.
    async fn read(&self, call: Call, request: reqwest::RequestBuilder) -> Result<Vec<u8>> {
        let mut retry = 0u32;
        loop {
            self.breaker.admit()?;
            let attempt = request.try_clone().ok_or(Error::InvalidArgument(
                "a request body that cannot be re-sent",
            ))?;
            let result = self.read_once(attempt).await;
            self.breaker.record(Outcome::of(&result));
            if let Err(Error::Mint { code, .. }) = &result
                && KEYSET_ERRORS.contains(code)
            {
                // A keyset the mint does not know or no longer signs with:
                // what it said of itself may be stale too.
                self.forget_info();
            }
            match result {
                Err(e)
                    if retry.saturating_add(1) < self.retry.attempts
                        && RetryPolicy::may_retry(call, &e) =>
                {
                    let ms = self.retry.delay_ms(retry, jitter_word());
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    retry = retry.saturating_add(1);
                }
                other => return other,
            }
        }
    }

    async fn read_once(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>> {
        let mut response = request.send().await.map_err(|e| {
            if e.is_connect() {
                Error::Unreachable(e.to_string())
            } else {
                Error::Ambiguous(e.to_string())
            }
        })?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|n| n > RESPONSE_LEN_MAX as u64)
        {
            return Err(Error::InvalidResponse(format!(
                "response of {} bytes (at most {RESPONSE_LEN_MAX})",
                response.content_length().unwrap_or(0)
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Error::Ambiguous(e.to_string()))?
        {
            if body.len().saturating_add(chunk.len()) > RESPONSE_LEN_MAX {
                return Err(Error::InvalidResponse(format!(
                    "response over {RESPONSE_LEN_MAX} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(body);
        }
        if status.is_server_error() {
            return Err(Error::Ambiguous(format!("mint answered {status}")));
        }
        if status.is_client_error() {
            let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
            let (code, detail) = match parsed {
                Some(b) => (b.code.unwrap_or(0), b.detail.unwrap_or_default()),
                None => (0, String::from_utf8_lossy(&body).into_owned()),
            };
            return Err(Error::Mint {
                code,
                detail: truncate(&detail),
            });
        }
        Err(Error::InvalidResponse(format!(
            "unexpected status {status}"
        )))
    }

    async fn get_text(&self, path: &str) -> Result<String> {
        let body = self
            .read(Call::Read, self.http.get(self.endpoint(path)))
            .await?;
        String::from_utf8(body).map_err(|_| Error::InvalidResponse("body is not UTF-8".into()))
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        call: Call,
        path: &str,
        json: String,
    ) -> Result<T> {
        let body = self
            .read(
                call,
                self.http
                    .post(self.endpoint(path))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(json),
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse(truncate(&e.to_string())))
    }

    /// The mint's info (NUT-06): the answer this client (or a clone) got in
    /// the last [`INFO_MAX_AGE_MS`], else [`MintClient::fetch_info`].
    ///
    /// # Errors
    /// As the module says.
    pub async fn info(&self) -> Result<MintInfo> {
        let max_age = Duration::from_millis(INFO_MAX_AGE_MS);
        if let Some((at, info)) = self.info_slot().as_ref()
            && at.elapsed() < max_age
        {
            return Ok(info.clone());
        }
        self.fetch_info().await
    }

    /// `GET /v1/info` (NUT-06), always asked; the answer replaces the
    /// cached one.
    ///
    /// # Errors
    /// As the module says.
    pub async fn fetch_info(&self) -> Result<MintInfo> {
        let text = self.get_text("/v1/info").await?;
        let info = MintInfo::from_json(&text).map_err(|e| Error::InvalidResponse(e.to_string()))?;
        *self.info_slot() = Some((Instant::now(), info.clone()));
        Ok(info)
    }

    /// Drops the cached info: the next [`MintClient::info`] asks the mint.
    pub fn forget_info(&self) {
        *self.info_slot() = None;
    }

    fn info_slot(&self) -> std::sync::MutexGuard<'_, Option<(Instant, MintInfo)>> {
        self.info
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens the mint's NUT-17 websocket (`/v1/ws`). Its failures do not
    /// count against the circuit breaker: the socket is optional.
    ///
    /// # Errors
    /// [`Error::Unreachable`] (see [`crate::ws::QuoteSocket::connect`]).
    pub async fn quote_socket(&self) -> Result<crate::ws::QuoteSocket> {
        crate::ws::QuoteSocket::connect(&self.ws_http, &self.url).await
    }

    /// `GET /v1/keysets` (NUT-02).
    ///
    /// # Errors
    /// As the module says.
    pub async fn keysets(&self) -> Result<Vec<KeySetInfo>> {
        let text = self.get_text("/v1/keysets").await?;
        parse_keysets_response(&text).map_err(|e| Error::InvalidResponse(e.to_string()))
    }

    /// `GET /v1/keys/{id}` (NUT-01): the keyset `id`, with its id verified
    /// against its keys; the mint must return exactly that keyset.
    ///
    /// # Errors
    /// As the module says.
    pub async fn keyset(&self, id: &KeysetId) -> Result<Keyset> {
        let text = self.get_text(&format!("/v1/keys/{}", id.to_hex())).await?;
        let mut sets =
            Keyset::from_keys_response(&text).map_err(|e| Error::InvalidResponse(e.to_string()))?;
        match (sets.pop(), sets.is_empty()) {
            (Some(k), true) if k.id() == *id => Ok(k),
            _ => Err(Error::InvalidResponse(
                "keys response is not exactly the keyset asked for".into(),
            )),
        }
    }

    /// `POST /v1/mint/quote/bolt11` (NUT-04, NUT-20 `pubkey`).
    ///
    /// # Errors
    /// As the module says.
    pub async fn mint_quote(
        &self,
        amount: u64,
        unit: &str,
        pubkey: Option<String>,
    ) -> Result<MintQuoteResponse> {
        let json = serde_json::to_string(&MintQuoteRequest {
            amount,
            unit,
            pubkey,
        })
        .map_err(|e| Error::InvalidArgument(if e.is_io() { "io" } else { "json" }))?;
        self.post(Call::Write, "/v1/mint/quote/bolt11", json).await
    }

    /// `GET /v1/mint/quote/bolt11/{id}` (NUT-04).
    ///
    /// # Errors
    /// As the module says.
    pub async fn mint_quote_state(&self, quote: &str) -> Result<MintQuoteResponse> {
        check_quote_id(quote)?;
        let text = self
            .get_text(&format!("/v1/mint/quote/bolt11/{quote}"))
            .await?;
        serde_json::from_str(&text).map_err(|e| Error::InvalidResponse(truncate(&e.to_string())))
    }

    /// `POST /v1/mint/bolt11` with a request body already stored (NUT-04).
    ///
    /// # Errors
    /// As the module says.
    pub async fn mint(&self, stored_request: String) -> Result<Vec<BlindSignature>> {
        let r: SignaturesResponse = self
            .post(Call::Write, "/v1/mint/bolt11", stored_request)
            .await?;
        bounded(r.signatures)
    }

    /// `POST /v1/mint/bolt11/batch` with a request body already stored
    /// (NUT-29).
    ///
    /// # Errors
    /// As the module says.
    pub async fn mint_batch(&self, stored_request: String) -> Result<Vec<BlindSignature>> {
        let r: SignaturesResponse = self
            .post(Call::Write, "/v1/mint/bolt11/batch", stored_request)
            .await?;
        bounded(r.signatures)
    }

    /// `POST /v1/swap` with a request body already stored (NUT-03).
    ///
    /// # Errors
    /// As the module says.
    pub async fn swap(&self, stored_request: String) -> Result<Vec<BlindSignature>> {
        let r: SignaturesResponse = self.post(Call::Write, "/v1/swap", stored_request).await?;
        bounded(r.signatures)
    }

    /// `POST /v1/melt/quote/bolt11` (NUT-05, NUT-23).
    ///
    /// # Errors
    /// As the module says.
    pub async fn melt_quote(&self, request: &str, unit: &str) -> Result<MeltQuoteResponse> {
        let json = serde_json::to_string(&MeltQuoteRequest { request, unit })
            .map_err(|_| Error::InvalidArgument("json"))?;
        let r: MeltQuoteResponse = self
            .post(Call::Write, "/v1/melt/quote/bolt11", json)
            .await?;
        melt_bounded(r)
    }

    /// `GET /v1/melt/quote/bolt11/{id}` (NUT-05).
    ///
    /// # Errors
    /// As the module says.
    pub async fn melt_quote_state(&self, quote: &str) -> Result<MeltQuoteResponse> {
        check_quote_id(quote)?;
        let text = self
            .get_text(&format!("/v1/melt/quote/bolt11/{quote}"))
            .await?;
        let r: MeltQuoteResponse = serde_json::from_str(&text)
            .map_err(|e| Error::InvalidResponse(truncate(&e.to_string())))?;
        melt_bounded(r)
    }

    /// `POST /v1/melt/bolt11` with a request body already stored (NUT-05,
    /// NUT-08).
    ///
    /// # Errors
    /// As the module says.
    pub async fn melt(&self, stored_request: String) -> Result<MeltQuoteResponse> {
        let r: MeltQuoteResponse = self
            .post(Call::Write, "/v1/melt/bolt11", stored_request)
            .await?;
        melt_bounded(r)
    }

    /// `POST /v1/restore` (NUT-09): the signatures the mint holds for any of
    /// `outputs`, returned in the order of `outputs` (`None` where the mint
    /// signed nothing).
    ///
    /// # Errors
    /// As the module says, and [`Error::InvalidResponse`] if the mint returns
    /// an output not asked for, twice, or a different count of outputs and
    /// signatures.
    pub async fn restore(&self, outputs: &[BlindedMessage]) -> Result<Vec<Option<BlindSignature>>> {
        if outputs.len() > ITEMS_PER_RESPONSE_MAX {
            return Err(Error::InvalidArgument("too many outputs in one restore"));
        }
        let json = serde_json::to_string(&RestoreRequest { outputs })
            .map_err(|_| Error::InvalidArgument("json"))?;
        let r: RestoreResponse = self.post(Call::Read, "/v1/restore", json).await?;
        let returned = bounded(r.outputs)?;
        let signatures = bounded(r.signatures)?;
        if returned.len() != signatures.len() {
            return Err(Error::InvalidResponse(
                "restore: outputs and signatures differ in count".into(),
            ));
        }
        let mut found: Vec<Option<BlindSignature>> = vec![None; outputs.len()];
        for (out, sig) in returned.into_iter().zip(signatures) {
            let slot = outputs
                .iter()
                .position(|o| o.blinded == out.blinded)
                .and_then(|i| found.get_mut(i))
                .ok_or_else(|| Error::InvalidResponse("restore: an output not asked for".into()))?;
            if slot.replace(sig).is_some() {
                return Err(Error::InvalidResponse("restore: an output twice".into()));
            }
        }
        Ok(found)
    }

    /// `POST /v1/checkstate` (NUT-07): one state per `Y`, in order.
    ///
    /// # Errors
    /// As the module says, and [`Error::InvalidResponse`] if the mint does
    /// not answer exactly the `Y`s asked, in order.
    pub async fn check_state(&self, ys: &[String]) -> Result<Vec<ProofStateEntry>> {
        if ys.len() > ITEMS_PER_RESPONSE_MAX {
            return Err(Error::InvalidArgument("too many Ys in one check"));
        }
        let json = serde_json::to_string(&CheckStateRequest { ys })
            .map_err(|_| Error::InvalidArgument("json"))?;
        let r: CheckStateResponse = self.post(Call::Read, "/v1/checkstate", json).await?;
        let states = bounded(r.states)?;
        if states.len() != ys.len() || states.iter().zip(ys).any(|(s, y)| &s.y != y) {
            return Err(Error::InvalidResponse(
                "states do not answer the Ys asked".into(),
            ));
        }
        if let Some(bad) = states
            .iter()
            .find(|s| !matches!(s.state.as_str(), "UNSPENT" | "PENDING" | "SPENT"))
        {
            return Err(Error::InvalidResponse(format!(
                "unknown proof state {}",
                truncate(&bad.state)
            )));
        }
        Ok(states)
    }
}

fn bounded<T>(items: Vec<T>) -> Result<Vec<T>> {
    if items.len() > ITEMS_PER_RESPONSE_MAX {
        return Err(Error::InvalidResponse(format!(
            "{} items (at most {ITEMS_PER_RESPONSE_MAX})",
            items.len()
        )));
    }
    Ok(items)
}

/// A quote id goes into a URL path: 1..=256 characters of `[A-Za-z0-9_-]`.
pub(crate) fn check_quote_id(quote: &str) -> Result<()> {
    if quote.is_empty()
        || quote.len() > 256
        || !quote
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::InvalidArgument("quote id"));
    }
    Ok(())
}

/// The most characters of a melt quote's preimage kept.
const PREIMAGE_LEN_MAX: usize = 256;

fn melt_bounded(mut r: MeltQuoteResponse) -> Result<MeltQuoteResponse> {
    if r.quote.is_empty() || r.quote.len() > 256 || r.state.len() > 16 {
        return Err(Error::InvalidResponse(
            "melt quote fields out of bounds".into(),
        ));
    }
    if r.payment_preimage
        .as_ref()
        .is_some_and(|p| p.len() > PREIMAGE_LEN_MAX)
    {
        r.payment_preimage = None;
    }
    if let Some(change) = r.change.take() {
        r.change = Some(bounded(change)?);
    }
    Ok(r)
}
