//! Capability tokens (tally-token macaroons) as the service's
//! [`Authorizer`]: `Authorization: Bearer tally1.…`, verified against the
//! root keys of the keys directory (`CAPS_KEYS_PATH`, default
//! `<data>/keys`: `root-<epoch>.key`, 0600; several processes over one
//! PostgreSQL share it), the revoked epochs and the revoked token ids of
//! the store (SQLite or PostgreSQL).
//!
//! Revocations are read from the store into memory: at start, after each
//! local revocation, and every [`REFRESH_EVERY`] (so a revocation made
//! through another process holds here within that time). If the list could
//! not be refreshed for [`STALE_AFTER`], every token is refused (fail
//! closed: 503) until it can.
//!
//! The token's request, for its caveats: the route's scope, the method,
//! the path as received (`/v1/…`; a path caveat refuses any path that is
//! not canonical), the clock, and the tenant the token names (a token
//! acts for its own tenant; a token without a tenant caveat acts as
//! [`ADMIN_TENANT`]). A maximum-amount caveat is carried in the
//! [`Principal`] and enforced by the routes that move value, against the
//! request's total.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::request::Parts;
use tally_token::{
    Caveat, Method, Request, RevocationUnavailable, Revocations, RootKey, Scope, Scopes, Token,
    TokenError, TokenId, Verifier,
};

use crate::auth::{AuthError, Authorizer, Principal, Tenant, bearer};
use crate::idem::IdemStore;

/// The tenant of a token without a tenant caveat.
pub const ADMIN_TENANT: &str = "admin";
/// How often revocations are re-read from the store.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);
/// Revocations older than this refuse every token.
pub const STALE_AFTER: Duration = Duration::from_secs(60);
/// The most root-key epochs read from the keys directory.
pub const KEY_FILES_MAX: usize = 64;

/// Why the keys could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// A key file or the directory.
    #[error("{path}: {what}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        what: String,
    },
}

/// The revoked token ids, in memory, with the time they were last read.
#[derive(Debug, Default)]
pub struct RevocationCache {
    ids: RwLock<HashSet<TokenId>>,
    fresh_until_ms: AtomicU64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Revocations for RevocationCache {
    fn is_revoked(&self, id: &TokenId) -> Result<bool, RevocationUnavailable> {
        if now_ms() > self.fresh_until_ms.load(Ordering::Relaxed) {
            return Err(RevocationUnavailable);
        }
        let ids = self.ids.read().map_err(|_| RevocationUnavailable)?;
        Ok(ids.contains(id))
    }
}

/// The root keys of the keys directory, by epoch.
#[derive(Debug)]
pub struct RootKeys {
    keys: Vec<(u32, RootKey)>,
}

impl RootKeys {
    /// Reads `root-<epoch>.key` files from `dir`, creating `dir` (0700)
    /// and a first key (epoch 1) when there is none.
    ///
    /// # Errors
    /// [`KeysError`].
    pub fn load_or_create(dir: &Path) -> Result<Self, KeysError> {
        let fail = |path: &Path, what: String| KeysError::File {
            path: path.to_path_buf(),
            what,
        };
        if !dir.exists() {
            tally_files::private::create_dir(dir).map_err(|e| fail(dir, e.to_string()))?;
        }
        let mut keys = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| fail(dir, e.to_string()))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Some(epoch) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("root-"))
                .and_then(|n| n.strip_suffix(".key"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if keys.len() >= KEY_FILES_MAX {
                return Err(fail(dir, format!("more than {KEY_FILES_MAX} root keys")));
            }
            let key = RootKey::read_file(&path).map_err(|e| fail(&path, e.to_string()))?;
            keys.push((epoch, key));
        }
        if keys.is_empty() {
            let path = dir.join("root-1.key");
            let key = RootKey::generate().map_err(|e| fail(&path, e.to_string()))?;
            key.create_file(&path)
                .map_err(|e| fail(&path, e.to_string()))?;
            keys.push((1, key));
        }
        keys.sort_by_key(|(e, _)| *e);
        Ok(Self { keys })
    }

    /// One root key (epoch 1) made in memory and never written (amnesia:
    /// every token dies with the process).
    ///
    /// # Errors
    /// [`KeysError`] when the operating system gives no randomness.
    pub fn ephemeral() -> Result<Self, KeysError> {
        let key = RootKey::generate().map_err(|e| KeysError::File {
            path: PathBuf::from("<memory>"),
            what: e.to_string(),
        })?;
        Ok(Self {
            keys: vec![(1, key)],
        })
    }

    /// The newest epoch and its key (tokens are minted under it).
    #[must_use]
    pub fn newest(&self) -> Option<&(u32, RootKey)> {
        self.keys.last()
    }
}

/// The service's authorizer: tally-token macaroons.
pub struct Macaroons {
    verifier: RwLock<Verifier<Arc<RevocationCache>>>,
    cache: Arc<RevocationCache>,
    keys: RootKeys,
}

impl std::fmt::Debug for Macaroons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Macaroons").finish_non_exhaustive()
    }
}

fn method_of(m: &axum::http::Method) -> Option<Method> {
    Some(match *m {
        axum::http::Method::GET => Method::Get,
        axum::http::Method::HEAD => Method::Head,
        axum::http::Method::POST => Method::Post,
        axum::http::Method::PUT => Method::Put,
        axum::http::Method::PATCH => Method::Patch,
        axum::http::Method::DELETE => Method::Delete,
        _ => return None,
    })
}

fn auth_error(e: &TokenError) -> AuthError {
    use tally_token::CaveatFailure as F;
    match e {
        TokenError::Malformed(_) => AuthError::Malformed,
        TokenError::RevocationUnavailable => AuthError::Unavailable,
        TokenError::Caveat(F::Scope | F::Method | F::PathPrefix | F::Tenant | F::EpochId) => {
            AuthError::Forbidden
        }
        _ => AuthError::Invalid,
    }
}

impl Macaroons {
    /// An authorizer over `keys` (every epoch live until revoked).
    ///
    /// # Errors
    /// [`KeysError`] when the keys are too many for the verifier.
    pub fn new(keys: RootKeys) -> Result<Self, KeysError> {
        let cache = Arc::new(RevocationCache::default());
        let mut verifier = Verifier::new(Arc::clone(&cache));
        for (epoch, key) in &keys.keys {
            verifier
                .add_epoch(*epoch, key)
                .map_err(|e| KeysError::File {
                    path: PathBuf::from(format!("root-{epoch}.key")),
                    what: format!("{e:?}"),
                })?;
        }
        Ok(Self {
            verifier: RwLock::new(verifier),
            cache,
            keys,
        })
    }

    /// Mints a token under the newest epoch with `caveats`.
    ///
    /// # Errors
    /// When no key or no randomness is available, or the caveats are too many.
    pub fn mint(&self, caveats: Vec<Caveat>) -> Result<Token, TokenError> {
        let (epoch, key) = self.keys.newest().ok_or(TokenError::UnknownEpoch)?;
        let id = TokenId::random().map_err(|_| TokenError::UnknownEpoch)?;
        Token::mint(key, *epoch, id, caveats)
    }

    /// Mints an admin token: every scope (a scope caveat names the scope a
    /// route needs, so `admin` alone would open only the admin routes), no
    /// tenant, no expiry.
    ///
    /// # Errors
    /// As [`Macaroons::mint`].
    pub fn mint_admin(&self) -> Result<Token, TokenError> {
        self.mint(vec![Caveat::Scopes(Scopes::all())])
    }

    /// Re-reads the revocations from `store`: revoked ids replace the
    /// cache, revoked epochs are revoked in the verifier (for good).
    ///
    /// # Errors
    /// The store's error (the cache keeps its age and goes stale).
    pub async fn refresh(&self, store: &IdemStore) -> Result<(), crate::idem::IdemError> {
        let (ids, epochs) = store.revocations().await?;
        if let Ok(mut v) = self.verifier.write() {
            for epoch in epochs {
                // An epoch this verifier never had is still refused.
                let _ = v.revoke_epoch(epoch);
            }
        }
        if let Ok(mut cache) = self.cache.ids.write() {
            *cache = ids.into_iter().map(TokenId).collect();
        }
        let fresh = u64::try_from(STALE_AFTER.as_millis()).unwrap_or(u64::MAX);
        self.cache
            .fresh_until_ms
            .store(now_ms().saturating_add(fresh), Ordering::Relaxed);
        Ok(())
    }
}

/// What a genuine, live token allows (its caveats, narrowest of each kind).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Introspection {
    /// Its id (32 hex digits).
    pub id: String,
    /// Its root-key epoch.
    pub epoch: u32,
    /// The tenant it acts for (none: any).
    pub tenant: Option<String>,
    /// The scopes every scope caveat allows.
    pub scopes: Vec<String>,
    /// The methods every method caveat allows (none: any).
    pub methods: Option<Vec<String>>,
    /// Its path prefixes (each must hold).
    pub path_prefixes: Vec<String>,
    /// Not valid before (seconds since the Unix epoch).
    pub not_before_s: Option<u64>,
    /// Expires at (seconds since the Unix epoch).
    pub expiry_s: Option<u64>,
    /// The most one request may move.
    pub max_amount: Option<u128>,
}

impl Macaroons {
    /// Introspects the request's own token: genuine and live (epoch, tag,
    /// revocation), valid now (not-before, expiry); every other caveat is
    /// reported, not checked (the token may be narrowed away from this route).
    ///
    /// # Errors
    /// [`AuthError`] as for any route (no scope is needed).
    pub fn introspect(&self, parts: &Parts) -> Result<Introspection, AuthError> {
        let token = Token::from_text(bearer(parts)?).map_err(|e| auth_error(&e))?;
        self.verifier
            .read()
            .map_err(|_| AuthError::Unavailable)?
            .authenticate(&token)
            .map_err(|e| auth_error(&e))?;
        let now_s = now_ms() / 1_000;
        let mut out = Introspection {
            id: token.id().to_string(),
            epoch: token.epoch(),
            tenant: None,
            scopes: Vec::new(),
            methods: None,
            path_prefixes: Vec::new(),
            not_before_s: None,
            expiry_s: None,
            max_amount: None,
        };
        let mut scopes = Scopes::all().bits();
        let mut methods: Option<u8> = None;
        for c in token.caveats() {
            match c {
                Caveat::Tenant(t) => out.tenant = Some(t.as_str().to_owned()),
                Caveat::Scopes(s) => scopes &= s.bits(),
                Caveat::Methods(m) => methods = Some(methods.map_or(m.bits(), |b| b & m.bits())),
                Caveat::PathPrefix(p) => out.path_prefixes.push(p.as_str().to_owned()),
                Caveat::NotBefore(t) => {
                    if now_s < *t {
                        return Err(AuthError::Invalid);
                    }
                    out.not_before_s = Some(out.not_before_s.map_or(*t, |x| x.max(*t)));
                }
                Caveat::Expiry(t) => {
                    if now_s >= *t {
                        return Err(AuthError::Invalid);
                    }
                    out.expiry_s = Some(out.expiry_s.map_or(*t, |x| x.min(*t)));
                }
                Caveat::MaxAmount(a) => {
                    out.max_amount = Some(out.max_amount.map_or(*a, |x| x.min(*a)));
                }
                Caveat::EpochId(_) => {}
            }
        }
        out.scopes = Scopes::from_bits(scopes)
            .map(|s| s.iter().map(|x| x.name().to_owned()).collect())
            .unwrap_or_default();
        out.methods = methods.map(|bits| {
            Method::ALL
                .iter()
                .filter(|m| bits & m.bit() != 0)
                .map(|m| m.name().to_owned())
                .collect()
        });
        Ok(out)
    }
}

impl Authorizer for Macaroons {
    fn authenticate(&self, parts: &Parts, scope: Scope) -> Result<Principal, AuthError> {
        let text = bearer(parts)?;
        let token = Token::from_text(text).map_err(|e| auth_error(&e))?;
        let method = method_of(&parts.method).ok_or(AuthError::Forbidden)?;
        // A budget route acts for the tenant in its path (the token's tenant
        // caveat must name it); any other route for the tenant the token names.
        let named = token.caveats().iter().find_map(|c| match c {
            Caveat::Tenant(t) => Some(t.as_str()),
            _ => None,
        });
        let acting = crate::auth::path_tenant(parts.uri.path()).or(named);
        let request = Request {
            tenant: acting,
            scope,
            method,
            path: parts.uri.path(),
            now_s: now_ms() / 1_000,
            amount: None,
            // A reward epoch route names its epoch: a token's `epoch-id`
            // caveat holds it to that epoch (elsewhere it fails closed).
            epoch_id: crate::auth::path_epoch(parts.uri.path()),
        };
        let verifier = self.verifier.read().map_err(|_| AuthError::Unavailable)?;
        let grant = verifier
            .verify(&token, &request)
            .map_err(|e| auth_error(&e))?;
        let tenant = Tenant::new(named.unwrap_or(ADMIN_TENANT)).ok_or(AuthError::Malformed)?;
        // A tenant-bound token may act only for its own tenant.
        if named.is_some() && acting != named {
            return Err(AuthError::Forbidden);
        }
        let scopes = Scopes::from_bits(grant.scopes)
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        Ok(Principal {
            tenant,
            scopes,
            max_amount: grant.max_amount,
        })
    }
}
