//! Authentication and authorization behind one small trait, [`Authorizer`]:
//! a request's parts and the scope its route needs in, a [`Principal`]
//! (tenant, limits) or an [`AuthError`] out.
//!
//! The service's authorizer is [`crate::tokens::Macaroons`] (tally-token
//! capability tokens in `Authorization: Bearer tally1.…`); [`BearerTokens`]
//! (opaque secrets bound to principals) remains for embedding and tests.

use axum::http::{Method, request::Parts};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
pub use tally_token::Scope;

/// The longest tenant name, bytes (tally-token's label).
pub const TENANT_MAX_BYTES: usize = tally_token::caveat::MAX_LABEL_BYTES;

/// A tenant: 1 to 128 bytes of ASCII letters, digits and `._:@/+-` (a
/// tally-token label).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    /// Checks the name.
    #[must_use]
    pub fn new(name: &str) -> Option<Self> {
        tally_token::Label::new(name)
            .ok()
            .map(|l| Self(l.as_str().to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who is asking, and what they may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The tenant (keys the tenant's rate limit and idempotency records).
    pub tenant: Tenant,
    /// The scopes granted.
    pub scopes: Vec<Scope>,
    /// The most one request may move (minor units), if limited.
    pub max_amount: Option<u128>,
}

impl Principal {
    /// Whether `scope` is granted (`admin` grants every scope).
    #[must_use]
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes
            .iter()
            .any(|s| *s == scope || *s == Scope::Admin)
    }
}

/// Why a request is not authenticated (401), not authorized (403), or
/// cannot be checked now (503).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no credential")]
    Missing,
    /// Not `Bearer <token>`, or a token that cannot be one.
    #[error("malformed credential")]
    Malformed,
    /// A token that does not verify (unknown, forged, expired, not yet
    /// valid, revoked, of a revoked root-key epoch).
    #[error("invalid credential")]
    Invalid,
    /// A valid token without the route's scope, tenant, method or path.
    #[error("not allowed")]
    Forbidden,
    /// The revocation list cannot be consulted (fail closed).
    #[error("revocations unavailable")]
    Unavailable,
}

/// Authenticates and authorizes a request from its parts (headers,
/// method, path) for the scope its route needs.
pub trait Authorizer: Send + Sync + 'static {
    /// The principal the request's credential names, if it allows `scope`.
    ///
    /// # Errors
    /// [`AuthError`]: never a panic, whatever the headers hold.
    fn authenticate(&self, parts: &Parts, scope: Scope) -> Result<Principal, AuthError>;
}

/// The longest bearer token, bytes.
pub const BEARER_MAX_BYTES: usize = tally_token::MAX_TOKEN_TEXT_BYTES;

/// The token of `Authorization: Bearer <token>`.
///
/// # Errors
/// [`AuthError::Missing`], [`AuthError::Malformed`].
pub fn bearer(parts: &Parts) -> Result<&str, AuthError> {
    let mut values = parts
        .headers
        .get_all(axum::http::header::AUTHORIZATION)
        .iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() || value.len() > BEARER_MAX_BYTES + 7 {
        return Err(AuthError::Malformed);
    }
    let text = value.to_str().map_err(|_| AuthError::Malformed)?;
    let token = text.strip_prefix("Bearer ").ok_or(AuthError::Malformed)?;
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// Opaque bearer secrets bound to principals (by their SHA-256, compared
/// in constant time).
#[derive(Debug, Default)]
pub struct BearerTokens {
    tokens: Vec<([u8; 32], Principal)>,
}

impl BearerTokens {
    /// No token.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `secret` for `principal`.
    #[must_use]
    pub fn with(mut self, secret: &str, principal: Principal) -> Self {
        self.tokens.push((Sha256::digest(secret).into(), principal));
        self
    }
}

impl Authorizer for BearerTokens {
    fn authenticate(&self, parts: &Parts, scope: Scope) -> Result<Principal, AuthError> {
        let token = bearer(parts)?;
        let digest: [u8; 32] = Sha256::digest(token).into();
        // Every entry is compared, in constant time: no early exit.
        let mut found = None;
        for (d, p) in &self.tokens {
            if bool::from(d.ct_eq(&digest)) {
                found = Some(p);
            }
        }
        let principal = found.cloned().ok_or(AuthError::Invalid)?;
        if principal.allows(scope) {
            Ok(principal)
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

/// The scope a `/v1` route needs: ledger reads `ledger.read` (but the
/// instance-wide conservation totals `audit.read`), ledger writes
/// `ledger.write`; a tenant's budget (view, reserve, commit,
/// release) `budget.reserve`, opening and funding tenants `admin`;
/// deciding `decide.run`, reading decisions and the audit log `audit.read`,
/// storing decision policies `admin`, reading them `decide.run`;
/// anything else (tokens) `admin`. `None` for the routes outside `/v1`.
#[must_use]
pub fn required_scope(method: &Method, path: &str) -> Option<Scope> {
    let rest = path.strip_prefix("/v1/")?;
    let read = method == Method::GET || method == Method::HEAD;
    Some(if rest == "ledger/conservation" {
        // The totals of every tenant's accounts: the operator's and
        // auditors', not a tenant's (they would show other tenants' volume).
        Scope::AuditRead
    } else if rest.starts_with("ledger/") {
        if read {
            Scope::LedgerRead
        } else {
            Scope::LedgerWrite
        }
    } else if let Some(tail) = rest.strip_prefix("budget/tenants/") {
        // `{tenant}` alone (POST: open) and `{tenant}/top-up` fund tenants.
        let funding = !read && (!tail.contains('/') || tail.ends_with("/top-up"));
        if funding {
            Scope::Admin
        } else {
            Scope::BudgetReserve
        }
    } else if rest.starts_with("rewarder/") || rest == "blobs" || rest.starts_with("blobs/") {
        // The rewarder (`crate::rewarder`): runs, uploads, settlement need
        // `rewarder.run`; reading manifests, proofs, blobs `rewarder.inspect`.
        if read {
            Scope::RewarderInspect
        } else {
            Scope::RewarderRun
        }
    } else if rest == "decisions" || rest.starts_with("decisions/") {
        // Reading a decision: `audit.read`, or `decide.run` for the
        // tenant's own ([`alternative_scope`]).
        if read {
            Scope::AuditRead
        } else {
            Scope::DecideRun
        }
    } else if rest.starts_with("decide/") {
        // Storing a policy is the operator's; reading one is a decider's.
        if read { Scope::DecideRun } else { Scope::Admin }
    } else if rest.starts_with("audit/") && read {
        Scope::AuditRead
    } else {
        Scope::Admin
    })
}

/// The second scope a route accepts when the credential lacks the one of
/// [`required_scope`]: reading a decision (`GET /v1/decisions/{seq}`) with
/// `decide.run` (the handler then shows only the tenant's own decisions).
#[must_use]
pub fn alternative_scope(method: &Method, path: &str) -> Option<Scope> {
    let read = method == Method::GET || method == Method::HEAD;
    (read && path.starts_with("/v1/decisions/")).then_some(Scope::DecideRun)
}

/// The tenant a budget route names (`/v1/budget/tenants/{tenant}/…`).
#[must_use]
pub fn path_tenant(path: &str) -> Option<&str> {
    let tail = path.strip_prefix("/v1/budget/tenants/")?;
    tail.split('/').next().filter(|t| !t.is_empty())
}

/// The epoch a reward epoch route names (`/v1/rewarder/epochs/{epoch}/…`).
#[must_use]
pub fn path_epoch(path: &str) -> Option<&str> {
    let tail = path.strip_prefix("/v1/rewarder/epochs/")?;
    tail.split('/').next().filter(|t| !t.is_empty())
}
