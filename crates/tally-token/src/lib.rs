//! # tally-token
//!
//! Capability tokens for Tally: macaroon-style HMAC-SHA256 caveat chains.
//! A root key mints a token; any holder can add caveats (attenuate) without
//! the root key, and can never remove one; the verifier, holding the root
//! keys, recomputes the chain and compares tags in constant time.
//!
//! ## The rule
//!
//! ```text
//! header = version (0x01) || epoch (u32 big-endian) || id (16 bytes)
//! tag_0  = HMAC-SHA256(root_key(epoch), header)
//! tag_i  = HMAC-SHA256(tag_{i-1}, caveat_i)        (the caveat's canonical bytes)
//! token  = header || n (u8) || caveat_1 || … || caveat_n || tag_n
//! text   = "tally1." || base64url(token)            (RFC 4648 §5, with `=` padding)
//! ```
//!
//! A token authorizes a request when its epoch's root key is known and not
//! revoked, its tag is `tag_n`, its id is not revoked, and **every** caveat
//! holds for the request. Adding a caveat therefore only narrows: a request
//! the attenuated token authorizes is one the original authorizes. HMAC is
//! one-way, so `tag_{n-1}` cannot be recovered from `tag_n`: caveats cannot
//! be removed. A token with no caveat of a kind is not limited in that kind
//! (a token with no scope caveat has every scope): mint with the caveats you
//! mean.
//!
//! ## The binary form (version 1), canonical and bounded
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, `0x01` (any other is refused) |
//! | 4 | root-key epoch, `u32` big-endian |
//! | 16 | token id (random at minting, kept by attenuation) |
//! | 1 | caveat count `n`, at most [`MAX_CAVEATS`] |
//! | … | `n` caveats: kind (1), body length (1, at most [`MAX_CAVEAT_BODY_BYTES`]), body |
//! | 32 | tag |
//!
//! At most [`MAX_TOKEN_BYTES`] in all, no trailing byte; the text form is at
//! most [`MAX_TOKEN_TEXT_BYTES`] and must be the padded base64url the
//! encoder writes, so each token has exactly one binary and one text form.
//! Decoding checks each bound before it allocates. The caveat kinds and
//! their bodies are in [`caveat`]; an unknown kind refuses the token.
//! Golden vectors computed by an independent script
//! (`scripts/vectors/token_golden.py`) are in `tests/vectors/`.
//!
//! ## Keys and revocation
//!
//! Root keys are 32 random bytes, one per epoch (`u32`), in private files
//! (`tally-token-root-v1:` and 64 hex digits, mode 0600). Rotation: mint
//! under a new epoch, keep the old epoch live while its tokens drain, then
//! revoke it ([`Verifier::revoke_epoch`]). Single tokens are revoked by id
//! through the [`Revocations`] trait (the service's database;
//! [`MemoryRevocations`] in memory); a revoked id refuses every token
//! attenuated from it.
//!
//! ```
//! use tally_token::{Caveat, Method, MemoryRevocations, Request, RootKey, Scope, Scopes, Token, TokenId, Verifier};
//! let root = RootKey::from_bytes(&[7; 32]);
//! let token = Token::mint(&root, 1, TokenId([1; 16]), vec![
//!     Caveat::Scopes(Scopes::new([Scope::LedgerRead]).unwrap()),
//! ])?;
//! // Any holder narrows it, without the root key.
//! let narrow = token.attenuate(Caveat::Expiry(2_000_000_000))?;
//! let mut verifier = Verifier::new(MemoryRevocations::new());
//! verifier.add_epoch(1, &root).unwrap();
//! let request = Request {
//!     tenant: None, scope: Scope::LedgerRead, method: Method::Get,
//!     path: "/ledger/accounts", now_s: 1_900_000_000, amount: None, epoch_id: None,
//! };
//! let text = narrow.to_text();
//! let decoded = Token::from_text(&text)?;
//! assert_eq!(verifier.verify(&decoded, &request)?.expiry_s, Some(2_000_000_000));
//! assert!(verifier.verify(&decoded, &Request { now_s: 2_000_000_000, ..request }).is_err());
//! # Ok::<(), tally_token::TokenError>(())
//! ```
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

pub mod caveat;
mod error;
mod token;
mod verify;

pub use caveat::{
    Caveat, Label, MAX_CAVEAT_BODY_BYTES, MAX_CAVEAT_BYTES, Method, Methods, PathPrefix, Scope,
    Scopes, canonical_path,
};
pub use error::{CaveatFailure, Malformed, TokenError};
pub use token::{KeyFileError, MAX_ROOT_KEY_FILE_BYTES, ROOT_KEY_PREFIX, RootKey, Token, TokenId};
pub use verify::{
    EpochError, Grant, MAX_EPOCHS, MAX_MEMORY_REVOCATIONS, MemoryRevocations, Request,
    RevocationUnavailable, Revocations, RevocationsFull, Verifier,
};

/// The version byte of the binary form.
pub const VERSION: u8 = 0x01;
/// The prefix of the text form.
pub const TEXT_PREFIX: &str = "tally1.";
/// The header: version, epoch, id.
pub const HEADER_BYTES: usize = 1 + 4 + 16;
/// The tag: one HMAC-SHA256 output.
pub const TAG_BYTES: usize = 32;
/// The most caveats in one token.
pub const MAX_CAVEATS: usize = 32;
/// The largest binary form, in bytes.
pub const MAX_TOKEN_BYTES: usize = 2_048;
/// The longest text form, in bytes: the prefix and the padded base64url of
/// [`MAX_TOKEN_BYTES`].
pub const MAX_TOKEN_TEXT_BYTES: usize = TEXT_PREFIX.len() + MAX_TOKEN_BYTES.div_ceil(3) * 4;
