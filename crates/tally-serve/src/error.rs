//! The error taxonomy on the wire: a stable code, its status, a fixed
//! message, and the request's correlation id. Messages are constants: an
//! error never echoes the request (no field names, no values, no token).
//!
//! ```text
//! {"error":{"code":"RATE_LIMITED","message":"…","correlation_id":"…"}}
//! ```
//!
//! Handlers and layers return an [`ApiError`]; its response carries the
//! error as an extension and no body, and the outermost layer
//! ([`crate::stack`]) renders the body once, with the correlation id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A stable error code (the wire's `code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// 401: no credential, or one that does not verify.
    Unauthenticated,
    /// 403: a valid credential without the scope (or tenant) the route needs.
    Unauthorized,
    /// 400: the request is malformed (JSON, schema, encoding, headers).
    BadRequest,
    /// 404: no such route or record.
    NotFound,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 408: the request took longer than the request timeout.
    RequestTimeout,
    /// 409: the same idempotency key is still in flight; a reward epoch
    /// already accepted with another run.
    Conflict,
    /// 413: the body (on the wire or inflated) is over its cap.
    PayloadTooLarge,
    /// 415: not `application/json`.
    UnsupportedMediaType,
    /// 422: an idempotency key reused with another request.
    IdempotencyKeyReused,
    /// 429: a rate limit (global or the tenant's).
    RateLimited,
    /// 503: too many requests in flight (load shed).
    Overloaded,
    /// 503: storage (the journal, SQLite, PostgreSQL) is unavailable.
    DependencyUnavailable,
    /// 500: unexpected; the correlation id finds it in the logs.
    Internal,
    /// 423: a reward run broke an invariant and is quarantined (never
    /// settled), or the service is in quarantine-only mode.
    Quarantined,
}

impl Code {
    /// The wire's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::BadRequest => "BAD_REQUEST",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::Conflict => "CONFLICT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::RateLimited => "RATE_LIMITED",
            Self::Overloaded => "OVERLOADED",
            Self::DependencyUnavailable => "DEPENDENCY_UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::Quarantined => "QUARANTINED",
        }
    }

    /// Its status.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Unauthorized => StatusCode::FORBIDDEN,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded | Self::DependencyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Quarantined => StatusCode::LOCKED,
        }
    }

    /// From the wire's name (idempotency records store it).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

const ALL: [Code; 15] = [
    Code::Unauthenticated,
    Code::Unauthorized,
    Code::BadRequest,
    Code::NotFound,
    Code::MethodNotAllowed,
    Code::RequestTimeout,
    Code::Conflict,
    Code::PayloadTooLarge,
    Code::UnsupportedMediaType,
    Code::IdempotencyKeyReused,
    Code::RateLimited,
    Code::Overloaded,
    Code::DependencyUnavailable,
    Code::Internal,
    Code::Quarantined,
];

/// Why a request was rejected (`rejected_total{reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No or a bad credential.
    Unauth,
    /// A credential without the scope.
    Forbidden,
    /// A body over its wire cap.
    Oversize,
    /// A compressed body over its ratio or inflated cap, or nested encodings.
    DecompressCap,
    /// A malformed request.
    Schema,
    /// A rate limit.
    RateLimited,
    /// Load shed.
    Overloaded,
    /// The request timeout.
    Timeout,
    /// An idempotency conflict (in flight or reused).
    Idempotency,
    /// Storage unavailable.
    Dependency,
    /// Anything else.
    Other,
    /// A policy outside its validity period (rewarder).
    Stale,
    /// A run that broke an invariant, quarantined (rewarder).
    Invariant,
    /// A policy unsigned, or signed by a key that is not trusted or
    /// forged (rewarder).
    Signature,
    /// Bytes that do not match the content id given for them (blobs).
    CidMismatch,
    /// A run over its cost limit (`MAX_EPOCH_COST_MS`).
    Cost,
    /// A run refused for another of the epoch, or inputs already paid
    /// under another epoch (rewarder).
    Conflict,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Self; 17] = [
        Self::Unauth,
        Self::Forbidden,
        Self::Oversize,
        Self::DecompressCap,
        Self::Schema,
        Self::RateLimited,
        Self::Overloaded,
        Self::Timeout,
        Self::Idempotency,
        Self::Dependency,
        Self::Other,
        Self::Stale,
        Self::Invariant,
        Self::Signature,
        Self::CidMismatch,
        Self::Cost,
        Self::Conflict,
    ];

    /// The label value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauth => "unauth",
            Self::Forbidden => "forbidden",
            Self::Oversize => "oversize",
            Self::DecompressCap => "decompress_cap",
            Self::Schema => "schema",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::Idempotency => "idempotency",
            Self::Dependency => "dep_outage",
            Self::Other => "other",
            Self::Stale => "stale",
            Self::Invariant => "invariant",
            Self::Signature => "bad_signature",
            Self::CidMismatch => "cid_mismatch",
            Self::Cost => "over_cost",
            Self::Conflict => "conflict",
        }
    }
}

/// An error answer: code, fixed message, why (for the metric), and an
/// optional `Retry-After` in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The code.
    pub code: Code,
    /// A fixed message (never built from the request).
    pub message: &'static str,
    /// The metric's reason.
    pub reason: Reason,
    /// `Retry-After`, seconds.
    pub retry_after_secs: Option<u64>,
    /// The index of the batch event the error is about (a position in the
    /// request, never its content).
    pub event: Option<u32>,
}

impl ApiError {
    /// An error with `code` and `message`.
    #[must_use]
    pub const fn new(code: Code, message: &'static str, reason: Reason) -> Self {
        Self {
            code,
            message,
            reason,
            retry_after_secs: None,
            event: None,
        }
    }

    /// About the batch event at `index` (0-based), named in the body.
    #[must_use]
    pub fn at_event(mut self, index: usize) -> Self {
        self.event = Some(u32::try_from(index).unwrap_or(u32::MAX));
        self
    }

    /// With `Retry-After`.
    #[must_use]
    pub const fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// 400 with `message`.
    #[must_use]
    pub const fn bad_request(message: &'static str) -> Self {
        Self::new(Code::BadRequest, message, Reason::Schema)
    }

    /// 503: storage is unavailable.
    #[must_use]
    pub const fn dependency() -> Self {
        Self::new(
            Code::DependencyUnavailable,
            "storage is unavailable; retry later",
            Reason::Dependency,
        )
        .retry_after(1)
    }

    /// 500.
    #[must_use]
    pub const fn internal() -> Self {
        Self::new(
            Code::Internal,
            "internal error; quote the correlation id",
            Reason::Other,
        )
    }

    /// 404.
    #[must_use]
    pub const fn not_found() -> Self {
        Self::new(Code::NotFound, "not found", Reason::Other)
    }

    /// The JSON body with the correlation id.
    #[must_use]
    pub fn body(&self, correlation_id: &str) -> String {
        let mut error = serde_json::json!({
            "code": self.code.as_str(),
            "message": self.message,
            "correlation_id": correlation_id,
        });
        if let (Some(event), Some(fields)) = (self.event, error.as_object_mut()) {
            fields.insert("event".to_owned(), event.into());
        }
        serde_json::json!({ "error": error }).to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.code.status().into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// The error of an answer that left the handler without one (axum's own
/// 404/405, a caught panic).
#[must_use]
pub fn for_status(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::not_found(),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(Code::MethodNotAllowed, "method not allowed", Reason::Other)
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            Code::PayloadTooLarge,
            "the body is over its cap",
            Reason::Oversize,
        ),
        s if s.is_client_error() => ApiError::bad_request("malformed request"),
        _ => ApiError::internal(),
    }
}
