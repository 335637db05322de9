//! Every bound the protocol layer enforces, as named constants.
//!
//! Input from mints, other wallets and users is hostile until parsed. Each
//! bound below is checked before the work it protects (allocation, hashing,
//! point arithmetic) and is tested at the bound and one past it
//! (`tests/it/limits.rs`). Exceeding a bound is [`crate::Error::LimitExceeded`].
//!
//! The values are generous for honest use (a token of 1000 proofs, each with a
//! DLEQ proof and a 1 KiB secret, is far beyond what wallets send) and small
//! enough that the worst accepted input costs milliseconds, not seconds.
//! Secrets and witnesses are bounded exactly as real mints bound them, so
//! that the wallet never accepts a proof that no mint would redeem.

/// Largest serialized token accepted, in bytes (the `cashuA…`/`cashuB…` string,
/// or the raw `crawB…` bytes). A V3 token of 1000 proofs with DLEQ proofs is
/// about 700 KiB.
pub const MAX_TOKEN_LEN_BYTES: usize = 1 << 20;

/// Most proofs in one token.
pub const MAX_PROOFS_PER_TOKEN: usize = 1_000;

/// Most keyset groups in a V4 token, or mint entries in a V3 token.
pub const MAX_TOKEN_GROUPS: usize = 64;

/// Longest proof secret, in bytes: 1,024, the limit real mints enforce
/// (Nutshell's `mint_max_secret_length`, which counts characters: the same
/// for the ASCII secrets wallets write). NUT-00/10/11 set no limit; a longer
/// secret would be refused by the mint, so a wallet refuses it first. A
/// random secret is 64 bytes; a NUT-10 secret with 11 keys (NUT-28's
/// maximum) and the usual tags is under 900.
pub const MAX_SECRET_LEN_BYTES: usize = 1_024;

/// Longest proof witness, in bytes: 1,024, the limit real mints enforce
/// (Nutshell's `mint_max_witness_length`). A preimage and
/// [`MAX_WITNESS_SIGNATURES`] signatures fit (1,011 bytes as
/// [`crate::nuts::nut11::WitnessData::to_witness`] writes them).
pub const MAX_WITNESS_LEN_BYTES: usize = 1_024;

/// Longest token memo, in bytes.
pub const MAX_MEMO_LEN_BYTES: usize = 2_048;

/// Longest mint URL, in bytes.
pub const MAX_MINT_URL_LEN_BYTES: usize = 2_048;

/// Longest currency unit, in bytes.
pub const MAX_UNIT_LEN_BYTES: usize = 32;

/// Most keys (amounts) in one keyset: one per power of two of a `u64`.
pub const MAX_KEYS_PER_KEYSET: usize = 64;

/// Most keysets in one keys/keysets response or one [`crate::nuts::nut02::KeysetIndex`].
pub const MAX_KEYSETS: usize = 256;

/// Most tags in one NUT-10 secret.
pub const MAX_NUT10_TAGS: usize = 16;

/// Most values in one NUT-10 tag (keys in `pubkeys` or `refund`).
pub const MAX_NUT10_TAG_VALUES: usize = 32;

/// Most signatures in one witness: 7, the most that fit in
/// [`MAX_WITNESS_LEN_BYTES`] (each is 130 bytes of quoted hex and a comma;
/// eight need 1,064 bytes even without a preimage). A lock that needs more
/// signatures cannot be spent at a mint that enforces 1,024 bytes.
pub const MAX_WITNESS_SIGNATURES: usize = 7;

/// Largest JSON document (keys, keysets, mint info) handed to a parser, in bytes.
pub const MAX_JSON_LEN_BYTES: usize = 2 << 20;

/// Deepest nesting of an unknown CBOR value that a V4 decoder skips
/// (unknown fields must be ignored for forward compatibility).
pub const MAX_CBOR_SKIP_DEPTH: usize = 16;

/// Most counter values `hash_to_curve` tries. Each try succeeds with
/// probability about 1/2, so the bound is never reached by honest input.
pub const HASH_TO_CURVE_MAX_ATTEMPTS: u32 = 1 << 16;

/// Most outputs one amount split may produce (a `u64` needs at most 64
/// powers of two; fee-aware splitting adds at most a handful more).
pub const MAX_SPLIT_OUTPUTS: usize = 128;
