//! The one tower stack, in the order requests pass through it. Every
//! request:
//!
//! 1. `request_id`: a fresh correlation id (`x-request-id`, never the
//!    client's), one JSON log line per request (no header is ever logged,
//!    and `Authorization`, `Cookie` and `Set-Cookie` are marked sensitive
//!    before it, so a credential cannot leak), latency per route and status, and the
//!    rendering of every error body (code, fixed message, correlation id);
//!    `nosniff` (and HSTS with TLS) on every answer; a panic is a 500.
//!
//! The operator page (`/`, `/ui/…`, [`crate::ui`]) passes layers 3 to 6
//! and checks its credential itself.
//!
//! Then every `/v1` request (operations routes — `/healthz`, `/readyz`,
//! `/metrics`, `/openapi.json` — skip the limits so that they answer under
//! load):
//!
//! 2. `decompress`: `gzip` or `zstd` bodies inflated with a ratio cap and
//!    an absolute cap; nested or unknown encodings refused;
//! 3. `body_limit`: the body cap (on the wire, or inflated);
//! 4. `timeout`: the request timeout (reading the body included: a
//!    slow-loris body is cut off; slow headers are cut off by the
//!    connection's header timeout);
//! 5. `concurrency`: at most `max_inflight` at once, the rest shed (503,
//!    `Retry-After`);
//! 6. `rate_limit`: the instance's token bucket (429, `Retry-After`);
//! 7. `authenticate`: the credential, the tenant's token bucket (keyed by
//!    the *authenticated* tenant, so nobody can drain another tenant's
//!    bucket by naming it), the route's scope;
//! 8. `idempotency`: `Idempotency-Key` on state-changing POSTs;
//! 9. the handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};

use crate::AppState;
use crate::auth::{AuthError, Principal, Scope, alternative_scope, required_scope};
use crate::error::{ApiError, Code, Reason, for_status};
use crate::idem::{Begin, Claim, Stored};
use crate::{routes, routes_decide};

/// The one `/v1` route that needs a valid token but no scope.
pub const INTROSPECT_PATH: &str = "/v1/tokens/self";

/// The correlation id header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The idempotency key header.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The whole application: the routes and the one stack.
pub fn app(state: Arc<AppState>) -> Router {
    let s = &state;
    let api = Router::new()
        .route("/v1/ledger/accounts", post(routes::create_accounts))
        .route("/v1/ledger/accounts/{id}", get(routes::account))
        .route("/v1/ledger/accounts/{id}/history", get(routes::history))
        .route("/v1/ledger/transfers", post(routes::create_transfers))
        .route("/v1/ledger/transfers/{id}", get(routes::transfer))
        .route("/v1/ledger/transfers/{id}/proof", get(routes::proof))
        .route("/v1/ledger/conservation", get(routes::conservation))
        .route(
            "/v1/budget/tenants/{tenant}",
            post(routes::open_tenant).get(routes::tenant_view),
        )
        .route("/v1/budget/tenants/{tenant}/top-up", post(routes::top_up))
        .route(
            "/v1/budget/tenants/{tenant}/reservations",
            post(routes::reserve),
        )
        .route(
            "/v1/budget/tenants/{tenant}/reservations/{id}/commit",
            post(routes::commit),
        )
        .route(
            "/v1/budget/tenants/{tenant}/reservations/{id}/release",
            post(routes::release),
        )
        .route("/v1/decide/policies", post(routes_decide::store_policy))
        .route("/v1/decide/policies/{digest}", get(routes_decide::policy))
        .route("/v1/decisions", post(routes_decide::decide))
        .route("/v1/decisions/{seq}", get(routes_decide::decision))
        .route("/v1/audit/checkpoint", get(routes_decide::checkpoint))
        .route("/v1/audit/entries/{seq}", get(routes_decide::entry))
        .route("/v1/audit/consistency", get(routes_decide::consistency))
        .route("/v1/tokens", post(routes::mint_token))
        .route("/v1/tokens/self", get(routes::introspect))
        .route("/v1/tokens/{id}/revoke", post(routes::revoke_token))
        .route(
            "/v1/tokens/epochs/{epoch}/revoke",
            post(routes::revoke_epoch),
        )
        .merge(crate::rewarder::routes())
        .layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(s.clone(), decompress)) // 2
                .layer(from_fn_with_state(s.clone(), body_limit)) // 3
                .layer(from_fn_with_state(s.clone(), timeout)) // 4
                .layer(from_fn_with_state(s.clone(), concurrency)) // 5
                .layer(from_fn_with_state(s.clone(), rate_limit)) // 6
                .layer(from_fn_with_state(s.clone(), authenticate)) // 7
                .layer(from_fn_with_state(s.clone(), idempotency)), // 8
        );
    let ops = Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .route("/schema/{name}", get(routes::schema));
    // The operator page (`crate::ui`): its own credential handling (a
    // bearer header or the page's cookie), behind limits 3 to 6.
    let ui = crate::ui::routes().layer(
        ServiceBuilder::new()
            .layer(from_fn_with_state(s.clone(), body_limit)) // 3
            .layer(from_fn_with_state(s.clone(), timeout)) // 4
            .layer(from_fn_with_state(s.clone(), concurrency)) // 5
            .layer(from_fn_with_state(s.clone(), rate_limit)), // 6
    );
    Router::new()
        .merge(api)
        .merge(ops)
        .merge(ui)
        .layer(
            ServiceBuilder::new()
                // Credentials are marked sensitive before anything sees them.
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::COOKIE,
                ]))
                .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
                .layer(from_fn_with_state(s.clone(), request_id)) // 1
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal().into_response()
                }))
                .layer(from_fn(json_only)),
        )
        .with_state(state)
}

/// The body cap a request was given (by the body-limit layer).
#[derive(Clone, Copy, Debug)]
pub struct BodyCap(pub usize);

/// Marks an answer whose body is kept even with an error status (`/readyz`).
#[derive(Clone, Copy, Debug)]
pub struct KeepBody;

/// Marks a body inflated by `decompress`.
#[derive(Clone, Copy, Debug)]
struct Inflated;

/// The tenant, for the log line.
#[derive(Clone, Debug)]
struct LoggedTenant(String);

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn new_request_id(prefix: u64) -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}-{n:016x}")
}

/// Layer 1: correlation id, log line, metrics, error bodies, headers.
async fn request_id(State(s): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = new_request_id(s.boot_id);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    let mut response = next.run(req).await;
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && response.extensions().get::<KeepBody>().is_none()
    {
        let error = response
            .extensions()
            .get::<ApiError>()
            .copied()
            .unwrap_or_else(|| for_status(status));
        s.metrics.reject(error.reason.as_str());
        let mut rendered = (
            error.code.status(),
            [(header::CONTENT_TYPE, "application/json")],
            error.body(&id),
        )
            .into_response();
        // Keep the answer's own headers (Retry-After, WWW-Authenticate,
        // Idempotent-Replayed, Connection), not its body's.
        for (name, value) in response.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                rendered.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if let Some(t) = response.extensions().get::<LoggedTenant>() {
            rendered.extensions_mut().insert(t.clone());
        }
        response = rendered;
    }
    let tenant = response
        .extensions()
        .get::<LoggedTenant>()
        .map_or("-", |t| t.0.as_str());
    let latency = started.elapsed();
    tracing::info!(
        corr_id = %id, method = %method, route = %route, status = status.as_u16(),
        tenant = %tenant, latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    s.metrics
        .requests
        .get_or_create(&crate::metrics::RouteLabels {
            route,
            status: response.status().as_u16(),
        })
        .observe(latency.as_secs_f64());
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(REQUEST_ID.clone(), v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if s.tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

/// JSON only: a body must say `application/json`. A POST without a body
/// (no `Transfer-Encoding`, no or a zero `Content-Length`: a release, a
/// revocation) needs no content type.
async fn json_only(req: Request, next: Next) -> Response {
    let may_have_body = req.method() == Method::POST
        || req.method() == Method::PUT
        || req.method() == Method::PATCH;
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if may_have_body && has_body {
        let ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    // A blob is any bytes (`crate::blobs`).
                    || (req.uri().path() == crate::rewarder::BLOBS_PATH
                        && v.eq_ignore_ascii_case("application/octet-stream"))
                    // The operator page's login and logout are HTML forms (`crate::ui`).
                    || (req.uri().path().starts_with(crate::ui::FORMS_PREFIX)
                        && v.eq_ignore_ascii_case(crate::ui::FORM_TYPE))
            });
        if !ok {
            return ApiError::new(
                Code::UnsupportedMediaType,
                "the body must be application/json",
                Reason::Schema,
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Reads a body of at most `cap` bytes.
///
/// # Errors
/// 413 past the cap, 400 for a broken body.
pub async fn read_capped(body: Body, cap: usize) -> Result<Bytes, ApiError> {
    let mut body = body;
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::bad_request("the body could not be read"))?;
        if let Ok(data) = frame.into_data() {
            if buf.len().saturating_add(data.len()) > cap {
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

fn too_large() -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        "the body is over its cap",
        Reason::Oversize,
    )
}

fn decompress_cap() -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        "the inflated body is over its cap",
        Reason::DecompressCap,
    )
}

fn nested() -> ApiError {
    ApiError::new(
        Code::BadRequest,
        "one content encoding at most (gzip or zstd), not nested",
        Reason::DecompressCap,
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Gzip,
    Zstd,
}

fn encoding_of(req: &Request) -> Result<Option<Encoding>, ApiError> {
    let mut values = req.headers().get_all(header::CONTENT_ENCODING).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(nested());
    }
    let text = value.to_str().map_err(|_| nested())?.trim();
    if text.contains(',') {
        return Err(nested());
    }
    match text.to_ascii_lowercase().as_str() {
        "identity" => Ok(None),
        "gzip" | "x-gzip" => Ok(Some(Encoding::Gzip)),
        "zstd" => Ok(Some(Encoding::Zstd)),
        _ => Err(ApiError::new(
            Code::UnsupportedMediaType,
            "content encodings: gzip, zstd",
            Reason::Schema,
        )),
    }
}

/// The largest zstd window accepted (8 MiB): a frame may not make the
/// decoder allocate more.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Inflates `wire`, at most `cap` bytes out.
fn inflate(encoding: Encoding, wire: &[u8], cap: usize) -> Result<Vec<u8>, ApiError> {
    use std::io::Read;
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    let corrupt = |_| ApiError::bad_request("the compressed body is corrupt");
    match encoding {
        Encoding::Gzip => {
            flate2::read::GzDecoder::new(wire)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(corrupt)?;
        }
        Encoding::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(wire).map_err(corrupt)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(corrupt)?;
            d.single_frame()
                .take(limit)
                .read_to_end(&mut out)
                .map_err(corrupt)?;
        }
    }
    if out.len() > cap {
        return Err(decompress_cap());
    }
    // An archive inside the archive is refused, not inflated again.
    let magic = out.get(..4).unwrap_or(&[]);
    if magic.starts_with(&[0x1f, 0x8b]) || magic == [0x28, 0xb5, 0x2f, 0xfd] {
        return Err(nested());
    }
    Ok(out)
}

/// Layer 2: decompression with caps.
async fn decompress(
    State(s): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(encoding) = encoding_of(&req)? else {
        return Ok(next.run(req).await);
    };
    let (mut parts, body) = req.into_parts();
    let limits = &s.limits;
    let wire = tokio::time::timeout(
        limits.request_timeout,
        read_capped(body, limits.req_body_max),
    )
    .await
    .map_err(|_| request_timeout())??;
    let cap = wire
        .len()
        .saturating_mul(limits.decomp_ratio_max)
        .min(limits.post_inflate_max);
    let inflated = tokio::task::spawn_blocking(move || inflate(encoding, &wire, cap))
        .await
        .map_err(|_| ApiError::internal())??;
    parts.headers.remove(header::CONTENT_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, inflated.len().into());
    parts.extensions.insert(Inflated);
    Ok(next
        .run(Request::from_parts(parts, Body::from(inflated)))
        .await)
}

/// Layer 3: the body cap (`REQ_BODY_MAX` on the wire; `POST_INFLATE_MAX`
/// for a body `decompress` inflated, whose wire size it already capped).
async fn body_limit(
    State(s): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let cap = if req.extensions().get::<Inflated>().is_some() {
        s.limits.post_inflate_max
    } else if req.method() == Method::POST && req.uri().path() == crate::rewarder::BLOBS_PATH {
        // A blob upload has its own cap, `BLOB_MAX` (`crate::blobs`).
        s.rewarder.blob_max()
    } else {
        s.limits.req_body_max
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX)) {
        return Err(too_large());
    }
    req.extensions_mut().insert(BodyCap(cap));
    Ok(next.run(req).await)
}

fn request_timeout() -> ApiError {
    ApiError::new(
        Code::RequestTimeout,
        "the request took too long",
        Reason::Timeout,
    )
}

/// Layer 4: the request timeout.
async fn timeout(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(s.limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            let mut r = request_timeout().into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// Layer 5: the concurrency limit, with load shedding.
async fn concurrency(
    State(s): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Ok(permit) = Arc::clone(&s.inflight).try_acquire_owned() else {
        return Err(ApiError::new(
            Code::Overloaded,
            "too many requests in flight; retry later",
            Reason::Overloaded,
        )
        .retry_after(1));
    };
    let response = next.run(req).await;
    drop(permit);
    Ok(response)
}

fn rate_limited(wait: std::time::Duration) -> ApiError {
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0));
    ApiError::new(
        Code::RateLimited,
        "rate limit reached; retry after the delay given",
        Reason::RateLimited,
    )
    .retry_after(secs.max(1))
}

/// Layer 6: the instance's rate limit.
async fn rate_limit(
    State(s): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    use governor::clock::{Clock, DefaultClock};
    if let Err(not_until) = s.global.check() {
        return Err(rate_limited(
            not_until.wait_time_from(DefaultClock::default().now()),
        ));
    }
    Ok(next.run(req).await)
}

/// Layer 7: authentication, the tenant's rate limit, authorization.
async fn authenticate(
    State(s): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    use governor::clock::{Clock, DefaultClock};
    // Introspection needs no scope: its handler checks the token itself.
    if req.uri().path() == INTROSPECT_PATH {
        return Ok(next.run(req).await);
    }
    let (mut parts, body) = req.into_parts();
    let scope = required_scope(&parts.method, parts.uri.path()).unwrap_or(Scope::Admin);
    let mut outcome = s.auth.authenticate(&parts, scope);
    if outcome == Err(AuthError::Forbidden)
        && let Some(alt) = alternative_scope(&parts.method, parts.uri.path())
    {
        outcome = s.auth.authenticate(&parts, alt);
    }
    let principal: Principal = match outcome {
        Ok(p) => p,
        Err(e) => {
            s.metrics.auth_failure(scope.name());
            let mut r = auth_error(e).into_response();
            if e != AuthError::Forbidden && e != AuthError::Unavailable {
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            return Ok(r);
        }
    };
    let tenant = principal.tenant.as_str().to_owned();
    if let Err(not_until) = s.tenants.check_key(&tenant) {
        let mut r =
            rate_limited(not_until.wait_time_from(DefaultClock::default().now())).into_response();
        r.extensions_mut().insert(LoggedTenant(tenant));
        return Ok(r);
    }
    parts.extensions.insert(principal);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    response.extensions_mut().insert(LoggedTenant(tenant));
    Ok(response)
}

/// The error answer of an authentication or authorization failure.
#[must_use]
pub fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Forbidden => ApiError::new(
            Code::Unauthorized,
            "the credential does not allow this",
            Reason::Forbidden,
        ),
        AuthError::Unavailable => ApiError::dependency(),
        AuthError::Missing | AuthError::Malformed | AuthError::Invalid => ApiError::new(
            Code::Unauthenticated,
            "a valid bearer credential is required",
            Reason::Unauth,
        ),
    }
}

/// The domain tag of a request's fingerprint.
const FINGERPRINT_TAG: &[u8] = b"tally/serve/idempotency/v1";

/// The fingerprint of a request: SHA-256 over the tag, the method, the path
/// and the body, each length-prefixed.
#[must_use]
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for field in [
        FINGERPRINT_TAG,
        method.as_str().as_bytes(),
        path.as_bytes(),
        body,
    ] {
        h.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(field);
    }
    h.finalize().into()
}

/// The domain tag of a request's identity.
const IDENTITY_TAG: &[u8] = b"tally/serve/request-identity/v1";

/// A request's identity, handed to the handler by the idempotency layer:
/// [`request_identity`] of its tenant, key and fingerprint. The decision
/// log keeps it in the decision's owner record, so a retry finds the
/// decision it already appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestIdentity(pub [u8; 32]);

/// SHA-256 over the tag, the tenant, the `Idempotency-Key` and the
/// request's [`fingerprint`], each length-prefixed: the same request
/// retried with the same key by the same tenant has the same identity.
#[must_use]
pub fn request_identity(tenant: &str, key: &str, fingerprint: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    for field in [
        IDENTITY_TAG,
        tenant.as_bytes(),
        key.as_bytes(),
        fingerprint.as_slice(),
    ] {
        h.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(field);
    }
    h.finalize().into()
}

fn idempotency_key(req: &Request) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad_request("an Idempotency-Key header (1 to 255 visible characters) is required")
    };
    let mut values = req.headers().get_all(&IDEMPOTENCY_KEY).iter();
    let value = values.next().ok_or_else(bad)?;
    if values.next().is_some() {
        return Err(bad());
    }
    let key = value.to_str().map_err(|_| bad())?;
    let ok = !key.is_empty()
        && key.len() <= crate::config::IDEMPOTENCY_KEY_MAX_BYTES
        && key.bytes().all(|b| b.is_ascii_graphic());
    if ok { Ok(key.to_owned()) } else { Err(bad()) }
}

/// The longest wait for the idempotency store before answering
/// `DEPENDENCY_UNAVAILABLE`.
const STORAGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The longest response an idempotency record stores.
const STORED_RESPONSE_MAX_BYTES: usize = 16 << 20;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Layer 8: `Idempotency-Key` on every state-changing POST.
async fn idempotency(
    State(s): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // Minting writes nothing (a token is its own record) and its answer is
    // a secret: it is not kept, so it takes no key.
    // A blob upload is idempotent by construction (its id is its content)
    // and may be large: it is streamed, not kept.
    if req.method() != Method::POST
        || req.uri().path() == "/v1/tokens"
        || req.uri().path() == crate::rewarder::BLOBS_PATH
    {
        return Ok(next.run(req).await);
    }
    let key = idempotency_key(&req)?;
    let tenant = req
        .extensions()
        .get::<Principal>()
        .map(|p| p.tenant.as_str().to_owned())
        .ok_or_else(ApiError::internal)?;
    let cap = req.extensions().get::<BodyCap>().map_or(0, |c| c.0);
    let (mut parts, body) = req.into_parts();
    let body = read_capped(body, cap).await?;
    let fp = fingerprint(&parts.method, parts.uri.path(), &body);
    parts
        .extensions
        .insert(RequestIdentity(request_identity(&tenant, &key, &fp)));
    // Twice the request timeout: a claim older than that was cut off.
    let stale =
        i64::try_from(s.limits.request_timeout.as_millis().saturating_mul(2)).unwrap_or(i64::MAX);
    let begin = tokio::time::timeout(
        STORAGE_TIMEOUT,
        s.idem.begin(&tenant, &key, &fp, now_ms(), stale),
    )
    .await
    .map_err(|_| storage_failed(&s))?
    .map_err(|_| storage_failed(&s))?;
    let claim = match begin {
        Begin::Fresh(claim) => claim,
        Begin::Replay(stored) => {
            return Ok(replay(open_stored(&s, &tenant, &key, stored)?));
        }
        Begin::InFlight => {
            return Err(ApiError::new(
                Code::Conflict,
                "a request with this Idempotency-Key is still in flight",
                Reason::Idempotency,
            )
            .retry_after(1));
        }
        Begin::Mismatch => {
            return Err(ApiError::new(
                Code::IdempotencyKeyReused,
                "this Idempotency-Key was used with another request",
                Reason::Idempotency,
            ));
        }
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = response.status();
    let transient = status.is_server_error()
        || status == axum::http::StatusCode::REQUEST_TIMEOUT
        || status == axum::http::StatusCode::TOO_MANY_REQUESTS;
    if transient {
        // Nothing to keep: the same key may retry (the ledger's ids keep
        // the retry idempotent).
        let _ = s.idem.abandon(claim).await;
        return Ok(response);
    }
    store(&s, claim, &tenant, &key, response).await
}

/// The associated data of a stored result sealed at rest: its place
/// (tenant and key, each with its length) and the fields kept beside it in
/// clear (status, content type), so a sealed body moved to another record,
/// or a status or content type changed in the database, does not open.
fn stored_context(tenant: &str, key: &str, status: u16, content_type: &str) -> String {
    format!(
        "idempotency/v1/{}:{tenant}/{}:{key}/{status}/{content_type}",
        tenant.len(),
        key.len()
    )
}

/// A stored result as it is kept: its body sealed under the at-rest key
/// when one is configured (`--at-rest-key-file`), as is.
fn seal_stored(
    s: &AppState,
    tenant: &str,
    key: &str,
    mut stored: Stored,
) -> Result<Stored, crate::vault::AtRestError> {
    if let Some(keys) = &s.at_rest {
        let context = stored_context(tenant, key, stored.status, &stored.content_type);
        stored.body = keys.seal(&context, &stored.body)?;
    }
    Ok(stored)
}

/// A stored result to replay: with an at-rest key, its body must open
/// under its record's associated data (a plain body, one sealed for
/// another record, or one altered is never replayed: 500); without one, a
/// sealed body is never replayed as bytes (500).
fn open_stored(
    s: &AppState,
    tenant: &str,
    key: &str,
    mut stored: Stored,
) -> Result<Stored, ApiError> {
    if s.at_rest.is_none() && crate::vault::is_sealed(&stored.body) {
        s.metrics.storage_errors.inc();
        tracing::error!("an idempotency record is sealed and no at-rest key is configured");
        return Err(ApiError::internal());
    }
    if let Some(keys) = &s.at_rest {
        let context = stored_context(tenant, key, stored.status, &stored.content_type);
        let max = u64::try_from(STORED_RESPONSE_MAX_BYTES).unwrap_or(u64::MAX);
        stored.body = keys.open(&context, &stored.body, max).map_err(|_| {
            s.metrics.storage_errors.inc();
            tracing::error!("an idempotency record does not open under the at-rest keys");
            ApiError::internal()
        })?;
    }
    Ok(stored)
}

fn storage_failed(s: &AppState) -> ApiError {
    s.metrics.storage_errors.inc();
    ApiError::dependency()
}

/// Stores the first result, then answers it.
async fn store(
    s: &AppState,
    claim: Claim,
    tenant: &str,
    key: &str,
    response: Response,
) -> Result<Response, ApiError> {
    let (parts, body) = response.into_parts();
    let error = parts.extensions.get::<ApiError>().copied();
    let stored = if let Some(e) = error {
        // An error is kept as its code and the batch event it names.
        Stored {
            status: parts.status.as_u16(),
            content_type: match e.event {
                Some(event) => format!("error:{}{EVENT_SEP}{event}", e.code.as_str()),
                None => format!("error:{}", e.code.as_str()),
            },
            body: Vec::new(),
        }
    } else {
        let bytes = read_capped(body, STORED_RESPONSE_MAX_BYTES)
            .await
            .map_err(|_| ApiError::internal())?;
        Stored {
            status: parts.status.as_u16(),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned(),
            body: bytes.to_vec(),
        }
    };
    // The answer itself is kept as is; only the stored copy is sealed (and
    // copied only then).
    let kept = if s.at_rest.is_some() {
        match seal_stored(s, tenant, key, stored.clone()) {
            Ok(sealed) => s.idem.finish(claim, &sealed).await.is_ok(),
            Err(_) => false,
        }
    } else {
        s.idem.finish(claim, &stored).await.is_ok()
    };
    if !kept {
        // The result stands (the ledger applied it); a retry gets it
        // again from the ledger's own idempotency (ids).
        s.metrics.storage_errors.inc();
    }
    // The first answer to an error is the error itself (its own message),
    // rendered by the outer layer; a result is answered as stored.
    Ok(match error {
        Some(_) => Response::from_parts(parts, Body::empty()),
        None => replay_fresh(stored),
    })
}

fn replay_fresh(stored: Stored) -> Response {
    build(stored, false)
}

fn replay(stored: Stored) -> Response {
    build(stored, true)
}

/// Between a stored error's code and the batch event it names.
const EVENT_SEP: &str = ";event=";

/// A stored error: its code and the batch event it names, if any.
fn stored_error(content_type: &str) -> Option<(Code, Option<usize>)> {
    let rest = content_type.strip_prefix("error:")?;
    match rest.split_once(EVENT_SEP) {
        Some((code, event)) => Some((Code::parse(code)?, Some(event.parse().ok()?))),
        None => Some((Code::parse(rest)?, None)),
    }
}

fn build(stored: Stored, replayed: bool) -> Response {
    let status =
        axum::http::StatusCode::from_u16(stored.status).unwrap_or(axum::http::StatusCode::OK);
    let mut response = if let Some((code, event)) = stored_error(&stored.content_type) {
        let mut e = ApiError::new(
            code,
            "the first request with this Idempotency-Key failed so",
            Reason::Idempotency,
        );
        if let Some(event) = event {
            e = e.at_event(event);
        }
        e.into_response()
    } else {
        let mut r = (status, stored.body).into_response();
        if let Ok(v) = HeaderValue::from_str(&stored.content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        // The stored body is the answer (a domain refusal such as 409 too).
        r.extensions_mut().insert(KeepBody);
        r
    };
    if replayed {
        response.headers_mut().insert(
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    }
    response
}
