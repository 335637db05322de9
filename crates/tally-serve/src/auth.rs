//! Authentication and authorization behind one small trait, [`Authorizer`]:
//! a request's parts in, a [`Principal`] (tenant and scopes) or an
//! [`AuthError`] out. The service asks it once per request, then checks the
//! route's scope ([`required_scope`]).
//!
//! [`BearerTokens`] is the implementation until capability tokens land:
//! `Authorization: Bearer <secret>`, each secret (its SHA-256, compared in
//! constant time) bound to a principal. `tally serve` writes the first admin
//! secret to a 0600 file in the data directory.

use std::collections::BTreeMap;

use axum::http::{Method, request::Parts};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A scope (a capability a route needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read the ledger.
    LedgerRead,
    /// Write the ledger (accounts, transfers).
    LedgerWrite,
    /// Reserve, commit, release budgets.
    BudgetReserve,
    /// Everything.
    Admin,
}

impl Scope {
    /// The wire's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LedgerRead => "ledger.read",
            Self::LedgerWrite => "ledger.write",
            Self::BudgetReserve => "budget.reserve",
            Self::Admin => "admin",
        }
    }
}

/// The longest tenant name, bytes.
pub const TENANT_MAX_BYTES: usize = 64;

/// A tenant: 1 to 64 bytes of `[a-z0-9_-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    /// Checks the name.
    #[must_use]
    pub fn new(name: &str) -> Option<Self> {
        let ok = !name.is_empty()
            && name.len() <= TENANT_MAX_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        ok.then(|| Self(name.to_owned()))
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
    /// The tenant.
    pub tenant: Tenant,
    /// The scopes granted.
    pub scopes: Vec<Scope>,
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

/// Why a request is not authenticated (401) or not authorized (403).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no credential")]
    Missing,
    /// Not `Bearer <token>`, or a token that cannot be one.
    #[error("malformed credential")]
    Malformed,
    /// A token that does not verify (unknown, forged, expired, revoked).
    #[error("invalid credential")]
    Invalid,
    /// A valid token without the route's scope or tenant.
    #[error("not allowed")]
    Forbidden,
}

/// Authenticates a request from its parts (headers, method, path).
pub trait Authorizer: Send + Sync + 'static {
    /// The principal the request's credential names.
    ///
    /// # Errors
    /// [`AuthError`]: never a panic, whatever the headers hold.
    fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError>;
}

/// The longest bearer token, bytes.
pub const BEARER_MAX_BYTES: usize = 4_096;

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

/// Bearer secrets bound to principals (by their SHA-256).
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
    fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError> {
        let token = bearer(parts)?;
        let digest: [u8; 32] = Sha256::digest(token).into();
        // Every entry is compared, in constant time: no early exit.
        let mut found = None;
        for (d, p) in &self.tokens {
            if bool::from(d.ct_eq(&digest)) {
                found = Some(p);
            }
        }
        found.cloned().ok_or(AuthError::Invalid)
    }
}

/// The scope a route needs: reads need `ledger.read`, writes
/// `ledger.write`, budget routes `budget.reserve`; anything else `admin`.
/// `None` for the routes outside `/v1` (operations, documents).
#[must_use]
pub fn required_scope(method: &Method, path: &str) -> Option<Scope> {
    let rest = path.strip_prefix("/v1/")?;
    let read = method == Method::GET || method == Method::HEAD;
    Some(if rest.starts_with("ledger/") {
        if read {
            Scope::LedgerRead
        } else {
            Scope::LedgerWrite
        }
    } else if rest.starts_with("budget/") {
        Scope::BudgetReserve
    } else {
        Scope::Admin
    })
}

/// A principal from a scope list such as `ledger.read,ledger.write`.
#[must_use]
pub fn scopes_from_names(names: &str) -> Vec<Scope> {
    let all = [
        Scope::LedgerRead,
        Scope::LedgerWrite,
        Scope::BudgetReserve,
        Scope::Admin,
    ];
    let by_name: BTreeMap<&str, Scope> = all.iter().map(|s| (s.as_str(), *s)).collect();
    names
        .split(',')
        .filter_map(|n| by_name.get(n.trim()).copied())
        .collect()
}
