//! Verification: root keys by epoch, revocation, the request a token must
//! authorize, and the grant it yields.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use subtle::ConstantTimeEq;

use crate::caveat::{Caveat, Label, Method, Scope, Scopes};
use crate::error::TokenError;
use crate::token::{HmacSha256, RootKey, Token, TokenId, chain};

/// The most root-key epochs one [`Verifier`] holds (live and revoked).
pub const MAX_EPOCHS: usize = 1_024;
/// The most token ids a [`MemoryRevocations`] holds.
pub const MAX_MEMORY_REVOCATIONS: usize = 1_000_000;

/// The revocation list of single tokens, by id. The service backs it by its
/// database; [`MemoryRevocations`] is the in-memory list.
pub trait Revocations {
    /// Whether `id` is revoked; an error when the list cannot be consulted
    /// (the token is then refused: fail closed).
    ///
    /// # Errors
    /// [`RevocationUnavailable`].
    fn is_revoked(&self, id: &TokenId) -> Result<bool, RevocationUnavailable>;
}

impl<T: Revocations + ?Sized> Revocations for &T {
    fn is_revoked(&self, id: &TokenId) -> Result<bool, RevocationUnavailable> {
        (**self).is_revoked(id)
    }
}

/// Shared lists (one behind many verifiers, or a `dyn` backend).
impl<T: Revocations + ?Sized> Revocations for std::sync::Arc<T> {
    fn is_revoked(&self, id: &TokenId) -> Result<bool, RevocationUnavailable> {
        (**self).is_revoked(id)
    }
}

/// The revocation list could not be consulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationUnavailable;

/// An in-memory revocation list, at most [`MAX_MEMORY_REVOCATIONS`] ids.
#[derive(Clone, Debug, Default)]
pub struct MemoryRevocations {
    ids: HashSet<TokenId>,
}

/// The in-memory revocation list is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the revocation list is full")]
pub struct RevocationsFull;

impl MemoryRevocations {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes `id` (and so every token attenuated from it).
    ///
    /// # Errors
    /// [`RevocationsFull`] past [`MAX_MEMORY_REVOCATIONS`].
    pub fn revoke(&mut self, id: TokenId) -> Result<(), RevocationsFull> {
        if self.ids.len() >= MAX_MEMORY_REVOCATIONS && !self.ids.contains(&id) {
            return Err(RevocationsFull);
        }
        self.ids.insert(id);
        Ok(())
    }
}

impl Revocations for MemoryRevocations {
    fn is_revoked(&self, id: &TokenId) -> Result<bool, RevocationUnavailable> {
        Ok(self.ids.contains(id))
    }
}

/// What a request needs from a token. The service fills it from the route
/// and the request; `None` means the request has no such attribute (a
/// tenant or epoch-id caveat then fails; a maximum-amount caveat holds, as
/// the request moves nothing).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The tenant the request acts for.
    pub tenant: Option<&'a str>,
    /// The scope the route needs.
    pub scope: Scope,
    /// The HTTP method.
    pub method: Method,
    /// The path, decoded and canonical (see [`crate::canonical_path`]).
    pub path: &'a str,
    /// The verifier's clock, seconds since the Unix epoch.
    pub now_s: u64,
    /// The amount the request moves, minor units.
    pub amount: Option<u128>,
    /// The reward epoch id the request names.
    pub epoch_id: Option<&'a str>,
}

/// What a verified token allows, beyond the request it was checked for:
/// the narrowest of each kind of caveat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant<'t> {
    /// The token's id.
    pub token_id: TokenId,
    /// The root-key epoch it was minted under.
    pub root_epoch: u32,
    /// The tenant it is bound to (all its tenant caveats name this one).
    pub tenant: Option<&'t Label>,
    /// The scopes every scope caveat allows (bit field of [`Scope::bit`]s).
    pub scopes: u16,
    /// The earliest expiry, seconds.
    pub expiry_s: Option<u64>,
    /// The smallest maximum amount.
    pub max_amount: Option<u128>,
}

/// Verifies tokens: root keys by epoch, revoked epochs, and a revocation
/// list of token ids.
pub struct Verifier<R = MemoryRevocations> {
    /// Each live epoch's root key, already keyed into an HMAC.
    keys: BTreeMap<u32, HmacSha256>,
    /// Revoked epochs: never live again in this verifier.
    revoked: BTreeSet<u32>,
    revocations: R,
}

impl<R> core::fmt::Debug for Verifier<R> {
    /// The live and the revoked epochs; never a key.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verifier")
            .field("live_epochs", &self.keys.keys().collect::<Vec<_>>())
            .field("revoked_epochs", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// Why an epoch could not be added or revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EpochError {
    /// The verifier holds [`MAX_EPOCHS`] epochs (live and revoked) already.
    #[error("too many root-key epochs")]
    TooMany,
    /// The epoch was revoked: it cannot be made live again.
    #[error("the root-key epoch is revoked")]
    Revoked,
}

impl<R: Revocations> Verifier<R> {
    /// A verifier with no root key, consulting `revocations`.
    pub fn new(revocations: R) -> Self {
        Self {
            keys: BTreeMap::new(),
            revoked: BTreeSet::new(),
            revocations,
        }
    }

    fn is_full_without(&self, epoch: u32) -> bool {
        let known = self.keys.contains_key(&epoch) || self.revoked.contains(&epoch);
        !known && self.keys.len().saturating_add(self.revoked.len()) >= MAX_EPOCHS
    }

    /// Adds (or replaces) the root key of `epoch`, live.
    ///
    /// # Errors
    /// [`EpochError::Revoked`] for a revoked epoch (revocation is final),
    /// [`EpochError::TooMany`] past [`MAX_EPOCHS`].
    pub fn add_epoch(&mut self, epoch: u32, key: &RootKey) -> Result<(), EpochError> {
        if self.revoked.contains(&epoch) {
            return Err(EpochError::Revoked);
        }
        if self.is_full_without(epoch) {
            return Err(EpochError::TooMany);
        }
        self.keys.insert(epoch, key.mac());
        Ok(())
    }

    /// Revokes `epoch`, known or not (a revocation list may name epochs
    /// before their keys are loaded): its key is dropped (and erased), every
    /// token minted under it is refused from now on
    /// ([`TokenError::RevokedEpoch`]), and it can never be added again.
    ///
    /// # Errors
    /// [`EpochError::TooMany`] past [`MAX_EPOCHS`].
    pub fn revoke_epoch(&mut self, epoch: u32) -> Result<(), EpochError> {
        if self.is_full_without(epoch) {
            return Err(EpochError::TooMany);
        }
        self.keys.remove(&epoch);
        self.revoked.insert(epoch);
        Ok(())
    }

    /// The revocation list.
    pub fn revocations(&self) -> &R {
        &self.revocations
    }

    /// The revocation list, to revoke more tokens.
    pub fn revocations_mut(&mut self) -> &mut R {
        &mut self.revocations
    }

    /// Checks that `token` is genuine and live, whatever the request: its
    /// epoch is known and not revoked, its tag verifies (compared in
    /// constant time), and its id is not revoked, in that order.
    ///
    /// # Errors
    /// [`TokenError::UnknownEpoch`], [`TokenError::RevokedEpoch`],
    /// [`TokenError::BadSignature`], [`TokenError::RevokedToken`],
    /// [`TokenError::RevocationUnavailable`].
    pub fn authenticate(&self, token: &Token) -> Result<(), TokenError> {
        if self.revoked.contains(&token.epoch()) {
            return Err(TokenError::RevokedEpoch);
        }
        let key = self
            .keys
            .get(&token.epoch())
            .ok_or(TokenError::UnknownEpoch)?;
        let expected = chain(key, token.epoch(), &token.id(), token.caveats());
        if !bool::from(expected.ct_eq(token.tag())) {
            return Err(TokenError::BadSignature);
        }
        match self.revocations.is_revoked(&token.id()) {
            Ok(false) => Ok(()),
            Ok(true) => Err(TokenError::RevokedToken),
            Err(RevocationUnavailable) => Err(TokenError::RevocationUnavailable),
        }
    }

    /// Verifies `token` for `request`: [`Verifier::authenticate`], then its
    /// validity window (a token expired or not yet valid is refused as
    /// such, whatever else it would not allow: so a service answers 401,
    /// not 403, for it on every route), then every caveat, in order (the
    /// first that fails is named).
    ///
    /// # Errors
    /// As [`Verifier::authenticate`], and [`TokenError::Caveat`].
    pub fn verify<'t>(
        &self,
        token: &'t Token,
        request: &Request<'_>,
    ) -> Result<Grant<'t>, TokenError> {
        self.authenticate(token)?;
        let mut grant = Grant {
            token_id: token.id(),
            root_epoch: token.epoch(),
            tenant: None,
            scopes: Scopes::all().bits(),
            expiry_s: None,
            max_amount: None,
        };
        for caveat in token.caveats() {
            if matches!(caveat, Caveat::NotBefore(_) | Caveat::Expiry(_)) {
                caveat.check(request).map_err(TokenError::Caveat)?;
            }
        }
        for caveat in token.caveats() {
            caveat.check(request).map_err(TokenError::Caveat)?;
            narrow(&mut grant, caveat);
        }
        Ok(grant)
    }

    /// Decodes the text form ([`Token::from_text`]) and verifies it for
    /// `request`; returns the decoded token (its id and caveats), verified.
    ///
    /// # Errors
    /// As [`Token::from_text`] and [`Verifier::verify`].
    pub fn verify_text(&self, text: &str, request: &Request<'_>) -> Result<Token, TokenError> {
        let token = Token::from_text(text)?;
        self.verify(&token, request)?;
        Ok(token)
    }
}

/// Narrows the grant by one caveat that held.
fn narrow<'t>(grant: &mut Grant<'t>, caveat: &'t Caveat) {
    match caveat {
        Caveat::Tenant(t) => grant.tenant = Some(t),
        Caveat::Scopes(s) => grant.scopes &= s.bits(),
        Caveat::Expiry(t) => grant.expiry_s = Some(grant.expiry_s.map_or(*t, |e| e.min(*t))),
        Caveat::MaxAmount(a) => {
            grant.max_amount = Some(grant.max_amount.map_or(*a, |m| m.min(*a)));
        }
        Caveat::Methods(_) | Caveat::PathPrefix(_) | Caveat::NotBefore(_) | Caveat::EpochId(_) => {}
    }
}
