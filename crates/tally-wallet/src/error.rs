//! The wallet's one error type, with the classes that decide what a caller
//! (and `recover`) may do: definitive failures changed nothing at the mint,
//! ambiguous ones may have.

use tally_cashu::nuts::nut02::KeysetId;

/// Everything that can go wrong in the wallet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A protocol error from the Cashu core (bad token, bad keyset, failed
    /// DLEQ, amount overflow, ...).
    #[error("cashu: {0}")]
    Cashu(#[from] tally_cashu::Error),
    /// The SQLite store failed.
    #[error("store: {0}")]
    Sqlite(#[from] sqlx::Error),
    /// A stored record does not decode: the store is corrupt or from a
    /// newer version.
    #[error("store: corrupt record ({what})")]
    CorruptRecord {
        /// Which record.
        what: &'static str,
    },
    /// A record that must exist does not.
    #[error("not found: {what}")]
    NotFound {
        /// Which record.
        what: &'static str,
    },
    /// A record with this key already exists.
    #[error("already exists: {what}")]
    AlreadyExists {
        /// Which record.
        what: &'static str,
    },
    /// A compare-and-set on proof or operation state lost: another operation
    /// changed the record first (nothing was changed by this call).
    #[error("state conflict: {what}")]
    StateConflict {
        /// Which record.
        what: &'static str,
    },
    /// The NUT-13 counter of a keyset would pass its maximum.
    #[error("counter exhausted for keyset {0}")]
    CounterExhausted(KeysetId),
    /// Not enough unspent proofs.
    #[error("insufficient funds: {available} available, {required} required")]
    InsufficientFunds {
        /// Spendable amount.
        available: u64,
        /// Amount needed, fees included.
        required: u64,
    },
    /// The mint refused the request (HTTP 4xx with a NUT error body):
    /// definitive, nothing changed at the mint.
    #[error("mint refused ({code}): {detail}")]
    Mint {
        /// The NUT error code (0 when the mint sent none).
        code: u32,
        /// The mint's detail text, truncated to [`crate::client::DETAIL_LEN_MAX`].
        detail: String,
    },
    /// The request may have reached the mint and been processed (timeout,
    /// connection lost after sending, 5xx): never rolled back; `recover`
    /// resolves it.
    #[error("ambiguous: {0}")]
    Ambiguous(String),
    /// The request never left (connection refused, DNS, TLS set-up):
    /// definitive.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The mint's response is malformed, oversized or lies (wrong count,
    /// amount or keyset of signatures, a failed DLEQ).
    #[error("invalid mint response: {0}")]
    InvalidResponse(String),
    /// A secrets file or directory has unsafe permissions.
    #[error("unsafe permissions on {path}: mode {mode:o}, want {want:o}")]
    UnsafePermissions {
        /// The path.
        path: String,
        /// Its mode.
        mode: u32,
        /// The required mode.
        want: u32,
    },
    /// The passphrase does not open the secrets file (or the file was
    /// altered): nothing is decrypted.
    #[error("wrong passphrase, or the secrets file was altered")]
    WrongPassphrase,
    /// The secrets file is malformed or its parameters are out of bounds.
    #[error("secrets file: {0}")]
    SecretsFormat(&'static str),
    /// A caller passed an argument outside its documented bounds.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A file operation failed.
    #[error("file: {0}")]
    File(#[from] tally_files::FileError),
    /// The operating system's RNG failed.
    #[error("randomness unavailable")]
    Randomness,
    /// A received token was refused before anything was sent to the mint:
    /// nothing changed.
    #[error("token refused: {0}")]
    TokenRefused(Refusal),
    /// The mint says a melt is still being paid: ambiguous, never rolled
    /// back; `recover` resolves it once the payment settles.
    #[error("melt pending at the mint")]
    MeltPending,
    /// The melt quote is already paid (by this wallet's melt, as its store
    /// says): nothing was sent; a new payment needs a new quote.
    #[error("the melt quote is already paid")]
    QuotePaid,
}

/// Why a received token was refused (nothing was sent to the mint, nothing
/// stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The token names a mint the wallet has not added.
    #[error("the token's mint is not one this wallet uses (add it first)")]
    UnknownMint,
    /// The token's unit is not the wallet's.
    #[error("the token's unit is not the wallet's")]
    WrongUnit,
    /// A proof names a keyset the mint does not have (or a short id that
    /// matches none, or more than one).
    #[error("a proof's keyset is not one of the mint's")]
    UnknownKeyset,
    /// A proof carries no DLEQ proof and the caller did not allow that.
    #[error("a proof carries no DLEQ proof")]
    DleqMissing,
    /// A proof's DLEQ proof does not verify: the mint did not sign it with
    /// the key the keyset names.
    #[error("a proof's DLEQ proof does not verify")]
    DleqInvalid,
    /// A proof is locked by spending conditions (NUT-10) and no keys or
    /// preimage were given to unlock it, or its lock is not one this wallet
    /// can read (another kind, malformed tags).
    #[error("a proof is locked (NUT-10): give its keys or preimage")]
    Locked,
    /// The keys or preimage given do not satisfy a proof's lock (checked by
    /// the wallet as a mint would, before anything was sent).
    #[error("the keys or preimage given do not satisfy a proof's lock")]
    LockNotSatisfied,
    /// The wallet already holds one of the proofs (a token it sent: use
    /// `reclaim`).
    #[error("the wallet already holds a proof of this token")]
    AlreadyHeld,
    /// The mint says a proof is spent.
    #[error("a proof is already spent")]
    Spent,
    /// The mint says a proof is pending in another operation.
    #[error("a proof is pending at the mint")]
    Pending,
}

/// Whether an operation that failed may be tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Yes, as it is: nothing happened at the mint (or the mint was not
    /// reached, or a local race was lost).
    Safe,
    /// Not before `recover` has resolved the operation: the mint may have
    /// processed it; retrying blindly could pay twice.
    AfterRecover,
    /// No: the input or the state must change first (refused, invalid,
    /// insufficient funds, corrupt store).
    No,
}

impl Error {
    /// True if the mint may have processed the request: the operation must
    /// stay pending (never rolled back) until `recover` resolves it.
    #[must_use]
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Self::Ambiguous(_) | Self::MeltPending)
    }

    /// True if the mint refused the inputs' witnesses: a NUT-11/NUT-14
    /// spending condition (signature, preimage, locktime) not met. Matched
    /// by class, not by code alone: 10001 ("proofs could not be verified"),
    /// or the 11000 catch-all (Nutshell's) whose detail names a witness, a
    /// signature, a preimage or a spending condition. Definitive: nothing
    /// was spent.
    #[must_use]
    pub fn is_witness_refused(&self) -> bool {
        const WORDS: [&str; 7] = [
            "witness",
            "signature",
            "preimage",
            "spending condition",
            "locktime",
            "p2pk",
            "htlc",
        ];
        match self {
            Self::Mint { code: 10001, .. } => true,
            Self::Mint {
                code: 11000,
                detail,
            } => {
                let detail = detail.to_ascii_lowercase();
                WORDS.iter().any(|w| detail.contains(w))
            }
            _ => false,
        }
    }

    /// Whether the failed operation may be retried (see [`Retry`]).
    #[must_use]
    pub fn retry(&self) -> Retry {
        match self {
            Self::Ambiguous(_) | Self::MeltPending | Self::InvalidResponse(_) => {
                Retry::AfterRecover
            }
            Self::Unreachable(_)
            | Self::StateConflict { .. }
            | Self::TokenRefused(Refusal::Pending) => Retry::Safe,
            _ => Retry::No,
        }
    }
}

/// The wallet's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
