//! The crate's one public error type.
//!
//! Every fallible function returns [`Error`]. Variants are precise, carry no
//! secret material (no secret, preimage, blinding factor or key ever appears in
//! an error or its `Display`), and each has a stable machine-readable
//! [`Error::code`] that callers (the wallet, the CLI) can match on and print.

use crate::nuts::nut02::KeysetId;

/// A bounded quantity; see [`crate::limits`] for the bound of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Length of a serialized token (string or raw bytes).
    TokenLength,
    /// Number of proofs in one token.
    Proofs,
    /// Number of keyset groups (V4) or mint entries (V3) in one token.
    TokenGroups,
    /// Length of a proof secret in bytes.
    SecretLength,
    /// Length of a proof witness in bytes.
    WitnessLength,
    /// Length of a token memo in bytes.
    MemoLength,
    /// Length of a mint URL in bytes.
    MintUrlLength,
    /// Length of a currency unit in bytes.
    UnitLength,
    /// Number of keys (amounts) in one keyset.
    KeysPerKeyset,
    /// Number of keysets in one response or index.
    Keysets,
    /// Number of tags in a NUT-10 secret.
    Nut10Tags,
    /// Number of values in one NUT-10 tag.
    Nut10TagValues,
    /// Number of signatures in one witness.
    WitnessSignatures,
    /// Length of a JSON document handed to a parser (keys, keysets, mint info).
    JsonLength,
    /// Nesting depth of an unknown CBOR value being skipped.
    CborDepth,
    /// Number of outputs an amount split would produce.
    SplitOutputs,
}

/// Why a CBOR document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CborReason {
    /// The input ended inside an item.
    UnexpectedEnd,
    /// Bytes remain after the top-level item.
    TrailingBytes,
    /// An item of another major type was expected here.
    UnexpectedType,
    /// Indefinite-length items are not accepted.
    IndefiniteLength,
    /// A length or integer uses a reserved additional-information value.
    ReservedEncoding,
    /// A declared length exceeds the bytes that remain.
    LengthTooLarge,
    /// A text string is not valid UTF-8.
    InvalidUtf8,
    /// A map repeats a key.
    DuplicateKey,
    /// A required key is missing.
    MissingKey,
}

/// Why a spending condition (NUT-10, NUT-11, NUT-14) is malformed or unmet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConditionError {
    /// The secret is not a well-formed NUT-10 `[kind, {nonce, data, tags}]` array.
    MalformedSecret,
    /// A NUT-10 tag is empty or holds an empty or non-string value.
    MalformedTag,
    /// The secret's kind is not P2PK or HTLC.
    UnsupportedKind,
    /// A NUT-11 tag appears more than once.
    DuplicateTag,
    /// `n_sigs` or `n_sigs_refund` is not a positive integer or exceeds its pathway's keys.
    InvalidSignatureCount,
    /// The `sigflag` tag holds an unknown flag.
    InvalidSigFlag,
    /// A pathway lists the same key twice (compared by x-coordinate).
    DuplicateKey,
    /// A key in `data`, `pubkeys` or `refund` is not a compressed secp256k1 point.
    InvalidKey,
    /// The HTLC hash lock is not 32 bytes of hex.
    InvalidHashLock,
    /// The witness is missing or is not the JSON object the kind requires.
    MalformedWitness,
    /// Fewer distinct keys signed than the pathway requires.
    NotEnoughSignatures,
    /// The HTLC preimage is missing or does not hash to the lock.
    PreimageMismatch,
    /// A `SIG_ALL` transaction mixes inputs whose kind, data or tags differ.
    SigAllMismatch,
    /// The transaction has no inputs.
    NoInputs,
    /// NUT-28: the lock has more keys than the 11 slots (`data`, then
    /// `pubkeys` and `refund`) that P2BK can blind.
    TooManyBlindedKeys,
    /// NUT-28: neither hash gave a valid blinding scalar (pick another ephemeral key).
    BlindingFailed,
    /// NUT-28: a proof locked to blinded keys carries no ephemeral key `p2pk_e`.
    MissingEphemeralKey,
}

impl core::fmt::Display for Limit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TokenLength => "token length in bytes",
            Self::Proofs => "number of proofs",
            Self::TokenGroups => "number of keyset groups (V4) or mint entries (V3)",
            Self::SecretLength => "secret length in bytes",
            Self::WitnessLength => "witness length in bytes",
            Self::MemoLength => "memo length in bytes",
            Self::MintUrlLength => "mint URL length in bytes",
            Self::UnitLength => "unit length in bytes",
            Self::KeysPerKeyset => "number of keys in a keyset",
            Self::Keysets => "number of keysets",
            Self::Nut10Tags => "number of NUT-10 tags",
            Self::Nut10TagValues => "number of values in a NUT-10 tag",
            Self::WitnessSignatures => "number of witness signatures",
            Self::JsonLength => "JSON document length in bytes",
            Self::CborDepth => "nesting depth of skipped CBOR",
            Self::SplitOutputs => "number of split outputs",
        })
    }
}

impl core::fmt::Display for CborReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnexpectedEnd => "the input ends inside an item",
            Self::TrailingBytes => "bytes follow the token",
            Self::UnexpectedType => "an item of another type was expected",
            Self::IndefiniteLength => "indefinite lengths are not accepted",
            Self::ReservedEncoding => "reserved length encoding",
            Self::LengthTooLarge => "a length exceeds the bytes that remain",
            Self::InvalidUtf8 => "text is not UTF-8",
            Self::DuplicateKey => "a map repeats a key",
            Self::MissingKey => "a required key is missing",
        })
    }
}

impl core::fmt::Display for ConditionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::MalformedSecret => "the secret is not a well-formed NUT-10 secret",
            Self::MalformedTag => "a NUT-10 tag is empty or holds a non-string value",
            Self::UnsupportedKind => "the secret's kind is not P2PK or HTLC",
            Self::DuplicateTag => "a tag appears more than once",
            Self::InvalidSignatureCount => {
                "n_sigs or n_sigs_refund is not a positive integer within its keys"
            }
            Self::InvalidSigFlag => "unknown sigflag",
            Self::DuplicateKey => "a pathway lists the same key twice",
            Self::InvalidKey => "a key is not a compressed secp256k1 point",
            Self::InvalidHashLock => "the hash lock is not 32 bytes of hex",
            Self::MalformedWitness => "the witness is missing or malformed",
            Self::NotEnoughSignatures => "not enough valid signatures",
            Self::PreimageMismatch => "the preimage is missing or does not match the hash lock",
            Self::SigAllMismatch => "SIG_ALL inputs differ in kind, data or tags",
            Self::NoInputs => "the transaction has no inputs",
            Self::TooManyBlindedKeys => "more keys than the 11 slots NUT-28 can blind",
            Self::BlindingFailed => "no valid NUT-28 blinding scalar for this ephemeral key",
            Self::MissingEphemeralKey => "the proof carries no NUT-28 ephemeral key (p2pk_e)",
        })
    }
}

/// Every error this crate returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bounded quantity is above its limit.
    #[error("{what} is {len}, above the limit of {max}")]
    LimitExceeded {
        /// What was measured.
        what: Limit,
        /// The measured value.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field that must be hex is not (or has the wrong length).
    #[error("invalid hex in {field}")]
    InvalidHex {
        /// The field's wire name.
        field: &'static str,
    },
    /// The base64url payload of a token is malformed.
    #[error("invalid base64url payload")]
    InvalidBase64,
    /// The token does not start with `cashuA`, `cashuB` or `crawB`.
    #[error("unknown token prefix or version")]
    UnknownTokenPrefix,
    /// A CBOR document is malformed.
    #[error("malformed CBOR at byte {offset}: {reason}")]
    Cbor {
        /// Byte offset in the CBOR document.
        offset: usize,
        /// What is wrong.
        reason: CborReason,
    },
    /// A JSON document is malformed or does not have the expected shape.
    #[error("malformed JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A field has a value outside its domain.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field's wire name.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Bytes are not a valid compressed secp256k1 point.
    #[error("not a valid compressed secp256k1 point")]
    InvalidPoint,
    /// Bytes are not a valid scalar (zero, or not below the curve order).
    #[error("not a valid secp256k1 scalar")]
    InvalidScalar,
    /// A keyset id has an unknown version or the wrong length.
    #[error("invalid keyset id")]
    InvalidKeysetId,
    /// The keyset id version is not one this operation supports.
    #[error("unsupported keyset id version {0:#04x}")]
    UnsupportedKeysetVersion(u8),
    /// A mint's claimed keyset id does not match the id computed from its keys.
    #[error("keyset id {claimed} does not match its keys ({computed})")]
    KeysetIdMismatch {
        /// The id the mint claimed.
        claimed: KeysetId,
        /// The id computed from the keys and metadata.
        computed: KeysetId,
    },
    /// No known keyset matches this id.
    #[error("unknown keyset")]
    UnknownKeyset,
    /// A short keyset id matches more than one known keyset.
    #[error("short keyset id matches more than one keyset")]
    AmbiguousShortKeysetId,
    /// A keyset's id (or short id) collides with a different keyset already known.
    #[error("keyset id collides with a known keyset")]
    KeysetIdCollision,
    /// The keyset has no key for this amount.
    #[error("keyset has no key for this amount")]
    NoKeyForAmount,
    /// A token holds no proofs.
    #[error("token holds no proofs")]
    EmptyToken,
    /// Two proofs in one token (or input set) share a secret.
    #[error("duplicate proof secret")]
    DuplicateProof,
    /// A V4 token (or raw token) must hold proofs of exactly one mint.
    #[error("V4 tokens hold proofs of exactly one mint")]
    MultipleMints,
    /// A V4 token needs a unit.
    #[error("V4 tokens need a unit")]
    MissingUnit,
    /// An amount sum or product overflows `u64`.
    #[error("amount overflow")]
    AmountOverflow,
    /// An amount is zero where a positive amount is required.
    #[error("amount must be positive")]
    ZeroAmount,
    /// Inputs minus fees cannot cover the requested outputs.
    #[error("insufficient amount: {available} available, {required} required")]
    InsufficientAmount {
        /// What the inputs provide after fees.
        available: u64,
        /// What the outputs require.
        required: u64,
    },
    /// The amount cannot be expressed in the keyset's denominations.
    #[error("amount cannot be split into the available denominations")]
    UnsplittableAmount,
    /// `hash_to_curve` found no point within its attempt bound.
    #[error("hash_to_curve found no point")]
    NoPointFound,
    /// A point operation produced the point at infinity.
    #[error("point at infinity")]
    PointAtInfinity,
    /// A DLEQ proof was required but is absent.
    #[error("DLEQ proof missing")]
    DleqMissing,
    /// A DLEQ proof does not verify.
    #[error("DLEQ proof invalid")]
    DleqInvalid,
    /// A NUT-10/11/14 spending condition is malformed or not met.
    #[error("spending condition: {0}")]
    Condition(ConditionError),
    /// The random number generator failed.
    #[error("randomness unavailable")]
    RandomnessUnavailable,
    /// The libsecp256k1 context already exists and cannot be randomized any more.
    #[error("the secp256k1 context is already in use: randomize it before any other call")]
    ContextInUse,
    /// A BIP-39 mnemonic is invalid (words, checksum or length).
    #[error("invalid mnemonic")]
    InvalidMnemonic,
    /// BIP-32 derivation produced an invalid key at this index (probability < 2^-127).
    #[error("BIP-32 derivation produced an invalid key")]
    InvalidDerivation,
    /// A NUT-13 counter is outside the range of the derivation in use.
    #[error("deterministic counter out of range")]
    CounterOutOfRange,
}

impl Error {
    /// A stable, machine-readable code for this error (never changes meaning).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::LimitExceeded { .. } => "limit_exceeded",
            Self::InvalidHex { .. } => "invalid_hex",
            Self::InvalidBase64 => "invalid_base64",
            Self::UnknownTokenPrefix => "unknown_token_prefix",
            Self::Cbor { .. } => "invalid_cbor",
            Self::Json(_) => "invalid_json",
            Self::InvalidField { .. } => "invalid_field",
            Self::InvalidPoint => "invalid_point",
            Self::InvalidScalar => "invalid_scalar",
            Self::InvalidKeysetId => "invalid_keyset_id",
            Self::UnsupportedKeysetVersion(_) => "unsupported_keyset_version",
            Self::KeysetIdMismatch { .. } => "keyset_id_mismatch",
            Self::UnknownKeyset => "unknown_keyset",
            Self::AmbiguousShortKeysetId => "ambiguous_short_keyset_id",
            Self::KeysetIdCollision => "keyset_id_collision",
            Self::NoKeyForAmount => "no_key_for_amount",
            Self::EmptyToken => "empty_token",
            Self::DuplicateProof => "duplicate_proof",
            Self::MultipleMints => "multiple_mints",
            Self::MissingUnit => "missing_unit",
            Self::AmountOverflow => "amount_overflow",
            Self::ZeroAmount => "zero_amount",
            Self::InsufficientAmount { .. } => "insufficient_amount",
            Self::UnsplittableAmount => "unsplittable_amount",
            Self::NoPointFound => "no_point_found",
            Self::PointAtInfinity => "point_at_infinity",
            Self::DleqMissing => "dleq_missing",
            Self::DleqInvalid => "dleq_invalid",
            Self::Condition(_) => "spending_condition",
            Self::RandomnessUnavailable => "randomness_unavailable",
            Self::ContextInUse => "context_in_use",
            Self::InvalidMnemonic => "invalid_mnemonic",
            Self::InvalidDerivation => "invalid_derivation",
            Self::CounterOutOfRange => "counter_out_of_range",
        }
    }
}

impl From<ConditionError> for Error {
    fn from(e: ConditionError) -> Self {
        Self::Condition(e)
    }
}

/// Checks `len <= max`, naming the bound in the error.
pub(crate) fn ensure_within(what: Limit, len: usize, max: usize) -> Result<(), Error> {
    if len > max {
        return Err(Error::LimitExceeded { what, len, max });
    }
    Ok(())
}
