//! The crate's errors. None of them carries a byte of a token, a tag or a
//! key: they name what failed, never echo it.

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token does not decode (or a caveat could not be added).
    #[error("malformed token: {0}")]
    Malformed(#[from] Malformed),
    /// No root key is known for the token's epoch.
    #[error("unknown root-key epoch")]
    UnknownEpoch,
    /// The token's root-key epoch is revoked.
    #[error("revoked root-key epoch")]
    RevokedEpoch,
    /// The token's id is revoked.
    #[error("revoked token")]
    RevokedToken,
    /// The revocation list could not be consulted: refused (fail closed).
    #[error("the revocation list is unavailable")]
    RevocationUnavailable,
    /// The tag does not verify under the epoch's root key: forged, tampered
    /// with, or minted under another key.
    #[error("bad signature")]
    BadSignature,
    /// The token is genuine, but a caveat does not hold for the request.
    #[error("caveat not satisfied: {0}")]
    Caveat(CaveatFailure),
}

/// Why a token (or a caveat, or a root key) does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The text is longer than [`crate::MAX_TOKEN_TEXT_BYTES`].
    #[error("text longer than the bound")]
    TextTooLong,
    /// The text does not start with [`crate::TEXT_PREFIX`].
    #[error("not a tally token (prefix)")]
    Prefix,
    /// The text after the prefix is not canonical padded base64url.
    #[error("not canonical base64url")]
    Base64,
    /// The binary form is longer than [`crate::MAX_TOKEN_BYTES`] (or adding
    /// a caveat would make it so).
    #[error("token longer than the bound")]
    TooLarge,
    /// The bytes end inside a field.
    #[error("truncated")]
    Truncated,
    /// The version byte is not one this crate reads.
    #[error("unknown version")]
    Version,
    /// More caveats than [`crate::MAX_CAVEATS`].
    #[error("too many caveats")]
    TooManyCaveats,
    /// A caveat body longer than [`crate::MAX_CAVEAT_BODY_BYTES`].
    #[error("caveat too long")]
    CaveatTooLong,
    /// A caveat kind outside the closed set (fail closed).
    #[error("unknown caveat kind")]
    UnknownCaveat,
    /// A fixed-width caveat body of the wrong length.
    #[error("caveat body of the wrong length")]
    BadLength,
    /// A tenant or epoch id outside the label alphabet or bounds.
    #[error("invalid tenant or epoch id")]
    BadLabel,
    /// An invalid path prefix.
    #[error("invalid path prefix")]
    BadPathPrefix,
    /// An empty scope set or an unknown scope bit.
    #[error("invalid scope set")]
    BadScopes,
    /// An empty method set or an unknown method bit.
    #[error("invalid method set")]
    BadMethods,
    /// A scope name outside the closed set.
    #[error("unknown scope")]
    UnknownScope,
    /// A method name outside the closed set.
    #[error("unknown method")]
    UnknownMethod,
    /// Bytes after the tag.
    #[error("trailing bytes")]
    Trailing,
    /// A root key (or its file) that is not `tally-token-root-v1:` and 64
    /// lower-case hex digits.
    #[error("invalid root key")]
    RootKey,
}

/// The caveat that did not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaveatFailure {
    /// A tenant caveat: the request names another tenant or none.
    #[error("tenant")]
    Tenant,
    /// A scope caveat: the request's scope is not in its set.
    #[error("scope")]
    Scope,
    /// A method caveat.
    #[error("method")]
    Method,
    /// A path-prefix caveat (or a request path that is not canonical).
    #[error("path prefix")]
    PathPrefix,
    /// A not-before caveat: too early.
    #[error("not yet valid")]
    NotYetValid,
    /// An expiry caveat: too late.
    #[error("expired")]
    Expired,
    /// A maximum-amount caveat: the request moves more.
    #[error("amount")]
    Amount,
    /// An epoch-id caveat: the request names another epoch or none.
    #[error("epoch id")]
    EpochId,
}
