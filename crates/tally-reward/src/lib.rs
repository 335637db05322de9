//! # tally-reward
//!
//! Deterministic reward epochs: content-addressed inputs and a signed policy
//! go in; a distribution that conserves the pool by equality, a sealed and
//! signed manifest with a Merkle root of the payouts, and exactly-once
//! settlement intents come out. A pure library: no I/O, no clock, no
//! randomness, no floats.
//!
//! ```
//! use tally_reward::*;
//! let key = keys::SigningKey::from_seed(&[7; 32]);
//! let mut trusted = keys::TrustedKeys::new();
//! trusted.insert(&key.public_key())?;
//! let policy = policy::Policy::from_json(include_bytes!("../examples/policy.json"))?;
//! let signed = policy.sign(&key)?;
//! let inputs = inputs::EpochInputs::from_json(include_bytes!("../examples/inputs.json"),
//!                                             &Limits::default())?;
//! let verified = signed.verify(&trusted)?;
//! let outcome = compute::compute(&inputs, &verified, &Limits::default())?;
//! let d = &outcome.distribution;
//! assert_eq!(d.paid()? + d.residual, d.pool);
//! # Ok::<(), Error>(())
//! ```
//!
//! Modules, in the order of a run: [`inputs`] and [`policy`] (decoding,
//! validation, content ids through [`jcs`] and [`cid`], signatures through
//! [`keys`]; inputs are decoded by a streaming decoder that never holds the
//! document and interns counter names, [`inputs::EpochInputs::from_reader`]), [`compute`] (the distribution rule, documented exactly there),
//! [`manifest`] (run key, sealed manifest, Merkle proofs), [`settle`]
//! (settlement intents), [`registry`] (one accepted run per epoch,
//! quarantine).

pub mod cid;
pub mod compute;
mod de;
pub mod ident;
pub mod inputs;
pub mod jcs;
pub mod keys;
pub mod manifest;
pub mod merkle;
pub mod policy;
pub mod registry;
pub mod settle;
mod wide;

use crate::ident::AccountId;
use crate::keys::KeyId;

/// The engine version bound into every run key and manifest.
pub const ENGINE_VERSION: &str = concat!("tally-reward/", env!("CARGO_PKG_VERSION"));

/// What to do when a run's cost estimate exceeds [`Limits::max_cost`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverCost {
    /// Refuse the run.
    Reject,
    /// Compute it as a dry run, which is never accepted or settled.
    DryRun,
}

/// Bounds on what a run reads and does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most accounts in one epoch (default 1,000,000).
    pub max_accounts: usize,
    /// Largest inputs document (default 512 MiB).
    pub max_input_bytes: usize,
    /// Largest cost estimate, in units (default 70,000,000: above the
    /// largest input the other defaults admit, 1,000,000 accounts × (1 + 64
    /// counters) = 65,000,000; lower it to bound the work per run).
    pub max_cost: u64,
    /// What happens over `max_cost`.
    pub on_over_cost: OverCost,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_accounts: 1_000_000,
            max_input_bytes: 512 << 20,
            max_cost: 70_000_000,
            on_over_cost: OverCost::Reject,
        }
    }
}

/// Everything that can go wrong, one enum for the crate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An identifier is not valid.
    #[error("invalid {what} \"{text}\"")]
    InvalidId {
        /// Which kind of identifier.
        what: &'static str,
        /// The text (at most 40 characters of it, anything but printable
        /// ASCII shown as `?`).
        text: String,
    },
    /// A content id is not the canonical text of a CIDv1 raw BLAKE3.
    #[error("invalid content id \"{text}\"")]
    InvalidCid {
        /// The text (at most 80 characters, anything but printable ASCII
        /// shown as `?`).
        text: String,
    },
    /// A document is not valid JSON of the expected shape: the message
    /// starts with the path of the value that failed
    /// (`accounts[2].counters.bytes_stored: integer out of range: …`).
    #[error("invalid {document}: {message}")]
    Json {
        /// Which document.
        document: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// A document is larger than allowed.
    #[error("the {document} is {size} bytes; at most {max} are allowed")]
    TooLarge {
        /// Which document.
        document: &'static str,
        /// Its size.
        size: usize,
        /// The bound.
        max: usize,
    },
    /// A value cannot be written canonically (a non-integer number).
    #[error("not canonical: {reason}")]
    NotCanonical {
        /// Why.
        reason: String,
    },
    /// The inputs are not valid.
    #[error("invalid inputs: {reason}")]
    Inputs {
        /// Why.
        reason: String,
    },
    /// Two entries for one account.
    #[error("account {account} appears more than once")]
    DuplicateAccount {
        /// The account.
        account: AccountId,
    },
    /// More accounts than the limit.
    #[error("{count} accounts; at most {max} are allowed")]
    TooManyAccounts {
        /// How many.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// The policy is not valid.
    #[error("invalid policy: {reason}")]
    Policy {
        /// Why.
        reason: String,
    },
    /// A key or key file is not valid.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// Why.
        reason: &'static str,
    },
    /// A signature names a key that is not trusted.
    #[error("key {key_id} is not trusted")]
    UntrustedKey {
        /// The key id.
        key_id: KeyId,
    },
    /// A signature does not verify.
    #[error("the signature by key {key_id} does not verify")]
    BadSignature {
        /// The key id.
        key_id: KeyId,
    },
    /// A manifest's ML-DSA seal names a key that is not among the given
    /// ML-DSA public keys.
    #[error("ML-DSA key {key_id} is not trusted")]
    UntrustedPqKey {
        /// The ML-DSA key id.
        key_id: KeyId,
    },
    /// A manifest's ML-DSA seal does not verify.
    #[error("the ML-DSA signature by key {key_id} does not verify")]
    BadPqSignature {
        /// The ML-DSA key id.
        key_id: KeyId,
    },
    /// A manifest carries no ML-DSA seal where one is required
    /// (`REQUIRE_PQ_ON`).
    #[error("the manifest carries no ML-DSA signature, and one is required")]
    PqSignatureRequired,
    /// The epoch's window is not inside the policy's validity period.
    #[error("the epoch's window is outside the policy's validity period")]
    OutsideValidity,
    /// An account of the inputs is the policy's funding account or residual
    /// sink: settling would move value from an account to itself.
    #[error("account {account} is the policy's {role}; it cannot be a payee")]
    PoolAccountAsPayee {
        /// The account.
        account: AccountId,
        /// Which of the pool's accounts it is.
        role: compute::PoolRole,
    },
    /// The cost estimate is over the limit.
    #[error("the run would cost {units} units; at most {max} are allowed")]
    OverCost {
        /// The estimate.
        units: u64,
        /// The bound.
        max: u64,
    },
    /// Arithmetic left its bounds (not reachable within the documented
    /// limits): the run is quarantined, never paid.
    #[error("arithmetic overflow")]
    Overflow,
    /// A computed result breaks an invariant: quarantined, never paid.
    #[error("invariant breach: {reason}")]
    InvariantBreach {
        /// Which invariant.
        reason: String,
    },
    /// A manifest does not match its recomputation or its proofs.
    #[error("manifest mismatch: {field} differs")]
    ManifestMismatch {
        /// The first field that differs.
        field: &'static str,
    },
    /// An account has no payout in the manifest.
    #[error("account {account} has no payout")]
    NoPayout {
        /// The account.
        account: AccountId,
    },
    /// A Merkle proof does not verify.
    #[error("the proof does not verify")]
    BadProof,
    /// The run store could not do what was asked; nothing was recorded.
    #[error("run store: {reason}")]
    Store {
        /// What went wrong, in the store's words.
        reason: String,
    },
    /// A run for this epoch was already accepted with another run key.
    #[error("epoch {epoch} already has an accepted run with another run key")]
    Conflict {
        /// The epoch.
        epoch: String,
    },
    /// A manifest's `previous` link is not the CID of the manifest it is
    /// said to follow.
    #[error("the manifest's previous link is not {previous}, the previous manifest's CID")]
    BrokenChain {
        /// The CID of the previous manifest.
        previous: cid::Cid,
    },
    /// A manifest follows one whose epoch is the same or whose window does
    /// not end at or before its own window starts.
    #[error(
        "epoch {next} does not follow epoch {previous}: an epoch's window starts at or after the end of the previous one's"
    )]
    ChainOrder {
        /// The previous manifest's epoch.
        previous: ident::EpochId,
        /// The following manifest's epoch.
        next: ident::EpochId,
    },
    /// A dry run cannot be accepted.
    #[error("a dry run cannot be accepted")]
    DryRun,
}
