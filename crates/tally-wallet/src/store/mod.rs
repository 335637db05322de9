//! The wallet's storage: the [`WalletStore`] trait and its two backends,
//! [`MemoryStore`] (tests) and [`SqliteStore`] (the embedded default).
//!
//! # Contract (checked by one conformance suite, `tests/it/store.rs`, that
//! runs the same test functions against both backends)
//!
//! * **Proofs** are keyed by `Y = hash_to_curve(secret)` (hex) and carry the
//!   mint, the state and the operation holding them. States move only by
//!   compare-and-set ([`WalletStore::reserve_proofs`],
//!   [`WalletStore::set_proof_states`]): all listed proofs move, or none.
//!   Reservation takes only [`ProofState::Unspent`] proofs, so two
//!   concurrent operations never hold the same proof.
//! * **NUT-13 counters** are handed out in ranges per keyset
//!   ([`WalletStore::reserve_counters`]): ranges never overlap, never go
//!   backwards, and are durable before they are returned, so an output is
//!   never derived twice.
//! * **Operations** (sagas) are written before any network call and move
//!   forward only ([`OperationState`]); finishing one stores its new proofs,
//!   marks its inputs and writes its history entry in one transaction
//!   ([`WalletStore::finish_operation`]).
//! * **Sent tokens** ([`SentToken`]) are written with their proofs in one
//!   step: a token of held proofs moves them `Unspent → Sent`
//!   ([`WalletStore::add_sent_token`]); a token made by a send swap is
//!   written `Preparing` before the swap is sent and completed in the
//!   transaction that finishes the swap ([`WalletStore::finish_send`]).
//! * **Melt quotes** ([`MeltQuote`]) are stored when the mint gives them,
//!   keyed by mint and id; their state moves to `Paid` in the transaction
//!   that finishes the melt, and never leaves it.
//! * Every state change is one transaction (SQLite) or one critical section
//!   (memory): a failed call changes nothing.

mod memory;
mod sqlite;

use std::future::Future;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use tally_cashu::nuts::nut00::{MintUrl, Proof};
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use crate::error::Result;

/// The most counters one call may reserve.
pub const COUNTER_RANGE_MAX: u64 = 10_000;
/// The most proofs one call may move.
pub const PROOFS_PER_CALL_MAX: usize = 1_000;
/// The most history entries one call returns.
pub const HISTORY_PAGE_MAX: usize = 1_000;

/// Where a proof stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofState {
    /// Spendable.
    Unspent,
    /// Held by an operation that has not sent it yet.
    Reserved,
    /// Sent to the mint by an operation whose outcome is not known yet.
    Pending,
    /// Given out in a token ([`SentToken`]) that the receiver has not
    /// redeemed yet, as far as the wallet knows: still the wallet's value
    /// until then, and reclaimable.
    Sent,
    /// Spent at the mint.
    Spent,
}

impl ProofState {
    /// Every state.
    pub const ALL: [Self; 5] = [
        Self::Unspent,
        Self::Reserved,
        Self::Pending,
        Self::Sent,
        Self::Spent,
    ];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspent => "unspent",
            Self::Reserved => "reserved",
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Spent => "spent",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "unspent" => Self::Unspent,
            "reserved" => Self::Reserved,
            "pending" => Self::Pending,
            "sent" => Self::Sent,
            "spent" => Self::Spent,
            _ => return None,
        })
    }
}

/// A proof as stored: the proof (with its DLEQ proof), its mint, its state
/// and the operation that holds it, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredProof {
    /// `Y` in hex: the proof's key.
    pub y: String,
    /// The mint that signed it.
    pub mint: MintUrl,
    /// The proof.
    pub proof: Proof,
    /// Its state.
    pub state: ProofState,
    /// The operation holding it (reserved or pending), if any.
    pub operation: Option<OperationId>,
}

impl StoredProof {
    /// A stored proof for `proof`, keyed by its `Y`.
    ///
    /// # Errors
    /// As [`Proof::y`].
    pub fn new(
        mint: MintUrl,
        proof: Proof,
        state: ProofState,
        operation: Option<OperationId>,
    ) -> Result<Self> {
        let y = proof.y()?.to_hex();
        Ok(Self {
            y,
            mint,
            proof,
            state,
            operation,
        })
    }
}

/// An operation's id: 16 random bytes, in hex.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OperationId(pub String);

impl OperationId {
    /// A fresh random id.
    ///
    /// # Errors
    /// [`crate::Error::Randomness`].
    pub fn random() -> Result<Self> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|_| crate::Error::Randomness)?;
        Ok(Self(tally_encoding::hex::encode(&bytes)))
    }
}

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// NUT-04: proofs for a paid quote.
    Mint,
    /// NUT-29: proofs for several paid quotes in one request (all or
    /// nothing at the mint; the operation's quote is the batch's first).
    MintBatch,
    /// NUT-03: proofs for proofs.
    Swap,
    /// A swap whose first outputs go into a token ([`SentToken`]).
    Send,
    /// A swap of a received token's proofs into the wallet's own outputs
    /// (the inputs are not the wallet's: nothing is held or released).
    Receive,
    /// NUT-05: proofs for a paid invoice, with NUT-08 blank outputs for the
    /// change.
    Melt,
}

/// Where an operation stands. It only moves forward:
/// `Prepared → Sent → (Done | Failed)`, or `Prepared → Failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Inputs reserved, counters reserved, request stored; nothing sent.
    Prepared,
    /// The request may have left: the outcome is unknown until the mint's
    /// answer is stored or `recover` resolves it. Never rolled back.
    Sent,
    /// Finished: outputs stored, inputs spent.
    Done,
    /// Refused definitively: inputs released, nothing happened at the mint.
    Failed,
}

impl OperationState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepared => "prepared",
            Self::Sent => "sent",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "prepared" => Self::Prepared,
            "sent" => Self::Sent,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Whether `self → next` is allowed.
    #[must_use]
    pub fn may_become(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Prepared, Self::Sent | Self::Failed) | (Self::Sent, Self::Done | Self::Failed)
        )
    }
}

/// A persisted operation (saga): enough to redo or resolve it after a crash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Its id.
    pub id: OperationId,
    /// The mint.
    pub mint: MintUrl,
    /// What it does.
    pub kind: OperationKind,
    /// Where it stands.
    pub state: OperationState,
    /// The keyset whose counters derive the outputs.
    pub keyset_id: KeysetId,
    /// The reserved NUT-13 counters (one per output, in order).
    pub counters: Range<u64>,
    /// The output amounts, in order (the outputs are re-derived from the
    /// counters, so they are not stored).
    pub amounts: Vec<u64>,
    /// The request body exactly as sent (JSON), stored before it is sent.
    pub request: String,
    /// The quote, for a mint operation.
    pub quote_id: Option<String>,
    /// Unix seconds of creation.
    pub created_s: u64,
    /// The spending conditions of a locked send's token outputs (absent:
    /// every output has a plain secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<OutputLock>,
}

impl Operation {
    /// The mint quotes this operation issues when it is done: its quote (if
    /// any) for a mint, every quote of its stored request for a NUT-29 batch (the
    /// mint issues them all in the one request, so the store marks them all
    /// in the transaction that finishes it), none for a melt.
    ///
    /// # Errors
    /// [`crate::Error::CorruptRecord`] for a batch whose stored request does
    /// not name 1 to [`crate::wallet::BATCH_QUOTES_MAX`] quotes.
    pub(crate) fn issued_quotes(&self) -> Result<Vec<String>> {
        match self.kind {
            OperationKind::Mint
            | OperationKind::Swap
            | OperationKind::Send
            | OperationKind::Receive => Ok(self.quote_id.iter().cloned().collect()),
            OperationKind::MintBatch => {
                #[derive(Deserialize)]
                struct Batch {
                    quotes: Vec<String>,
                }
                let corrupt = || crate::Error::CorruptRecord {
                    what: "batch operation's request",
                };
                // The request was written by this wallet, at most
                // BATCH_QUOTES_MAX quotes; anything else is refused.
                let batch: Batch = serde_json::from_str(&self.request).map_err(|_| corrupt())?;
                if batch.quotes.is_empty() || batch.quotes.len() > crate::wallet::BATCH_QUOTES_MAX {
                    return Err(corrupt());
                }
                Ok(batch.quotes)
            }
            // A melt's quote is a melt quote, paid rather than issued.
            OperationKind::Melt => Ok(Vec::new()),
        }
    }
}

/// The NUT-10 lock on an operation's first outputs (a locked send). The
/// outputs stay deterministic, so `recover` re-derives exactly what was
/// sent: output `i < count` has the secret `template` with the nonce set to
/// its NUT-13 secret (64 hex digits, unique per counter), with the keys
/// blinded by `ephemeral[i]` for a P2BK lock (NUT-28); its blinding factor
/// is its NUT-13 one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputLock {
    /// The lock's NUT-10 secret text with an empty nonce (kind, data,
    /// tags); for P2BK, with the receivers' unblinded keys.
    pub template: String,
    /// How many of the operation's outputs (the first ones) are locked.
    pub count: usize,
    /// P2BK only: one ephemeral private key (hex) per locked output, or one
    /// for all of them under `SIG_ALL`; empty for a plain P2PK or HTLC
    /// lock. Kept in the store like the proofs themselves: whoever reads
    /// them can link the blinded keys to the receiver's (and the sender
    /// needs them to rebuild the outputs in `recover`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ephemeral: Vec<String>,
}

impl std::fmt::Debug for OutputLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputLock")
            .field("template", &self.template)
            .field("count", &self.count)
            .field("ephemeral", &self.ephemeral.len())
            .finish()
    }
}

/// A NUT-04 mint quote. Its `Debug` form redacts the NUT-20 key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintQuote {
    /// The mint's quote id.
    pub id: String,
    /// The mint.
    pub mint: MintUrl,
    /// Amount, in the unit.
    pub amount: u64,
    /// The unit.
    pub unit: String,
    /// The payment request (bolt11).
    pub request: String,
    /// The last state the mint reported (`UNPAID`, `PAID`, `ISSUED`).
    pub state: String,
    /// Unix seconds after which the quote expires, if any.
    pub expiry_s: Option<u64>,
    /// The NUT-20 private key (hex) of a quote stored before keys were
    /// derived from the seed (read, never written now). It only authorises
    /// minting this quote.
    pub signing_key: Option<String>,
    /// The nonce (64 hex digits) the quote's NUT-20 key is derived from
    /// with the seed (`tally_cashu::nuts::nut13::quote_key`), if the mint
    /// supports NUT-20: the store holds no key that signs the quote's mint
    /// request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_nonce: Option<String>,
}

impl std::fmt::Debug for MintQuote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintQuote")
            .field("id", &self.id)
            .field("mint", &self.mint)
            .field("amount", &self.amount)
            .field("unit", &self.unit)
            .field("state", &self.state)
            .field("expiry_s", &self.expiry_s)
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "<redacted>"),
            )
            .field("key_nonce", &self.key_nonce)
            .finish_non_exhaustive()
    }
}

/// Where a NUT-05 melt quote stands, as the mint last reported it (or as
/// the wallet's own paid melt settled it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MeltQuoteState {
    /// Not paid: a melt may pay it.
    Unpaid,
    /// The mint is paying it: the melt's inputs are pending there.
    Pending,
    /// Paid: final.
    Paid,
}

impl MeltQuoteState {
    /// The name NUT-05 uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unpaid => "UNPAID",
            Self::Pending => "PENDING",
            Self::Paid => "PAID",
        }
    }

    /// Parses the name NUT-05 uses.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "UNPAID" => Self::Unpaid,
            "PENDING" => Self::Pending,
            "PAID" => Self::Paid,
            _ => return None,
        })
    }
}

/// A NUT-05 melt quote, stored when the mint gives it (before any melt
/// can start), so that a melt can be resumed by its quote id after a
/// crash. Keyed by mint and id: a mint cannot overwrite another mint's
/// quote by choosing the same id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeltQuote {
    /// The mint's quote id.
    pub id: String,
    /// The mint.
    pub mint: MintUrl,
    /// The invoice to pay (bolt11).
    pub request: String,
    /// Amount to pay, in the unit.
    pub amount: u64,
    /// Lightning fee reserve, in the unit (what is not used comes back as
    /// NUT-08 change).
    pub fee_reserve: u64,
    /// The unit.
    pub unit: String,
    /// The last state known.
    pub state: MeltQuoteState,
    /// Unix seconds after which the quote expires, if any.
    pub expiry_s: Option<u64>,
    /// Unix seconds when the wallet received it.
    pub created_s: u64,
}

/// One finished operation, for the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The operation.
    pub operation: OperationId,
    /// The mint.
    pub mint: MintUrl,
    /// What it was.
    pub kind: OperationKind,
    /// Value of the proofs received.
    pub amount_in: u64,
    /// Value of the proofs given up (fees included).
    pub amount_out: u64,
    /// Unix seconds.
    pub at_s: u64,
}

/// Totals per state for one mint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// Spendable.
    pub unspent: u64,
    /// Held by operations not yet sent.
    pub reserved: u64,
    /// Sent, outcome unknown.
    pub pending: u64,
    /// Given out in tokens not yet redeemed (reclaimable).
    pub sent: u64,
}

/// Where a token the wallet gave out stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentTokenState {
    /// Its send operation (a swap) is not finished: no token exists yet.
    Preparing,
    /// Given out; its proofs are [`ProofState::Sent`].
    Unredeemed,
    /// The receiver spent every proof.
    Redeemed,
    /// The wallet swapped back the proofs the receiver had not spent.
    Reclaimed,
    /// Its send swap failed: no token was made, nothing was given out.
    Abandoned,
}

impl SentTokenState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preparing => "preparing",
            Self::Unredeemed => "unredeemed",
            Self::Redeemed => "redeemed",
            Self::Reclaimed => "reclaimed",
            Self::Abandoned => "abandoned",
        }
    }
}

/// How a token is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// `cashuB…` (CBOR), with 8-byte short ids for V2 keysets.
    #[default]
    V4,
    /// `cashuA…` (JSON), with full ids.
    V3,
}

/// A token the wallet gave out (or is making, while its swap runs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentToken {
    /// The operation that made it (the send swap), or a fresh id for a
    /// token made from proofs the wallet already held.
    pub id: OperationId,
    /// The mint.
    pub mint: MintUrl,
    /// Its state.
    pub state: SentTokenState,
    /// Its value (the proofs' total).
    pub amount: u64,
    /// The memo.
    pub memo: Option<String>,
    /// How it is written.
    pub format: TokenFormat,
    /// How many of the operation's outputs (the first ones) go into it.
    pub send_count: usize,
    /// The `Y`s of its proofs; while preparing, those of the held proofs
    /// that go into it as they are (reserved by its send swap, beside the
    /// swap's inputs; usually none).
    pub ys: Vec<String>,
    /// The token as given out (empty while preparing).
    pub token: String,
    /// Unix seconds of creation.
    pub created_s: u64,
}

/// The wallet's storage. Every method is one atomic state change (or one
/// consistent read); see the module documentation for the contract.
pub trait WalletStore: Send + Sync + 'static {
    /// Stores (or replaces) a keyset's metadata, and its keys if given.
    fn put_keyset(
        &self,
        mint: &MintUrl,
        info: &KeySetInfo,
        keyset: Option<&Keyset>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The keysets known for `mint` (metadata).
    fn keysets(&self, mint: &MintUrl) -> impl Future<Output = Result<Vec<KeySetInfo>>> + Send;
    /// A keyset with its keys, if stored.
    fn keyset(&self, id: &KeysetId) -> impl Future<Output = Result<Option<Keyset>>> + Send;

    /// Reserves `count` (1..=[`COUNTER_RANGE_MAX`]) consecutive NUT-13
    /// counters of `keyset`, durably, and returns them.
    fn reserve_counters(
        &self,
        keyset: &KeysetId,
        count: u64,
    ) -> impl Future<Output = Result<Range<u64>>> + Send;
    /// The next counter `reserve_counters` would hand out.
    fn next_counter(&self, keyset: &KeysetId) -> impl Future<Output = Result<u64>> + Send;
    /// Moves the next counter of `keyset` up to `next` if it is lower (never
    /// down), durably, and returns the next counter after the call. Restore
    /// uses it so that no output it found is ever derived again.
    fn advance_counter(
        &self,
        keyset: &KeysetId,
        next: u64,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Adds new proofs (keys must be new: [`crate::Error::AlreadyExists`]).
    fn add_proofs(&self, proofs: &[StoredProof]) -> impl Future<Output = Result<()>> + Send;
    /// Adds those of `proofs` whose `Y` is not stored yet (in any state),
    /// leaves the others untouched, and returns the `Y`s it added, in order
    /// (one transaction). Restore uses it, so restoring twice adds nothing.
    fn add_missing_proofs(
        &self,
        proofs: &[StoredProof],
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Proofs of `mint` in `state`.
    fn proofs(
        &self,
        mint: &MintUrl,
        state: ProofState,
    ) -> impl Future<Output = Result<Vec<StoredProof>>> + Send;
    /// The `Y`s among `ys` (at most [`PROOFS_PER_CALL_MAX`]) that the store
    /// holds, in any state and for any mint (`Y` is the proofs' key), in
    /// the order of `ys`: one indexed lookup, for `receive` to refuse a
    /// token whose proofs the wallet already holds.
    fn held_ys(&self, ys: &[String]) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Moves every proof in `ys` from `Unspent` to `Reserved` for
    /// `operation`, or none ([`crate::Error::StateConflict`]).
    fn reserve_proofs(
        &self,
        ys: &[String],
        operation: &OperationId,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Moves every proof in `ys` from `from` to `to`, or none. `operation`
    /// is recorded on the proofs (None clears it).
    fn set_proof_states(
        &self,
        ys: &[String],
        from: ProofState,
        to: ProofState,
        operation: Option<&OperationId>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Totals per state for `mint`.
    fn balance(&self, mint: &MintUrl) -> impl Future<Output = Result<Balance>> + Send;

    /// Records a new operation (state `Prepared`).
    fn add_operation(&self, op: &Operation) -> impl Future<Output = Result<()>> + Send;
    /// Starts an operation whose request is about to leave, in one
    /// transaction: reserves its NUT-13 counters `op.counters`, which must
    /// begin at the keyset's next counter (else
    /// [`crate::Error::StateConflict`]: another operation took them first,
    /// derive the outputs again), durably like
    /// [`WalletStore::reserve_counters`]; records `op`, whose state must be
    /// [`OperationState::Sent`] (the request may leave once this returns);
    /// moves every proof in `inputs` from `Unspent` to `Pending` for it
    /// (compare-and-set, all or none); and records `token`, the
    /// [`SentTokenState::Preparing`] record of a send swap of this
    /// operation, if given. All or nothing: a failed call changes nothing.
    fn start_operation(
        &self,
        op: &Operation,
        inputs: &[String],
        token: Option<&SentToken>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// An operation by id.
    fn operation(&self, id: &OperationId)
    -> impl Future<Output = Result<Option<Operation>>> + Send;
    /// Operations that are neither done nor failed.
    fn incomplete_operations(&self) -> impl Future<Output = Result<Vec<Operation>>> + Send;
    /// Moves an operation from `from` to `to` (forward only), in one
    /// transaction with its proofs: moving to `Sent` moves its `Reserved`
    /// proofs to `Pending`; moving to `Failed` releases its `Reserved` and
    /// `Pending` proofs to `Unspent` (only a definitive failure may do that).
    fn set_operation_state(
        &self,
        id: &OperationId,
        from: OperationState,
        to: OperationState,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Finishes a `Sent` operation in one transaction: stores `outputs` as
    /// unspent, marks its held proofs spent, marks its quote issued (a mint
    /// quote) or paid (a melt quote, [`MeltQuoteState::Paid`]), writes
    /// `history`, and moves it to `Done`.
    fn finish_operation(
        &self,
        id: &OperationId,
        outputs: &[StoredProof],
        history: &HistoryEntry,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Stores (or replaces) a mint quote.
    fn put_quote(&self, quote: &MintQuote) -> impl Future<Output = Result<()>> + Send;
    /// A mint quote by id.
    fn quote(&self, id: &str) -> impl Future<Output = Result<Option<MintQuote>>> + Send;

    /// Records a new melt quote ([`crate::Error::AlreadyExists`] if one of
    /// the same mint and id is held).
    fn add_melt_quote(&self, quote: &MeltQuote) -> impl Future<Output = Result<()>> + Send;
    /// A melt quote of `mint` by id.
    fn melt_quote(
        &self,
        mint: &MintUrl,
        id: &str,
    ) -> impl Future<Output = Result<Option<MeltQuote>>> + Send;
    /// Records the state the mint reported for a melt quote. `Paid` is
    /// final: moving a paid quote to another state is a
    /// [`crate::Error::StateConflict`] and changes nothing.
    fn set_melt_quote_state(
        &self,
        mint: &MintUrl,
        id: &str,
        state: MeltQuoteState,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The newest melt quotes, at most `limit` (≤ [`HISTORY_PAGE_MAX`]).
    fn melt_quotes(&self, limit: usize) -> impl Future<Output = Result<Vec<MeltQuote>>> + Send;
    /// Deletes the melt quotes settled before `before_s` (unix seconds):
    /// `Paid` ones received before it, `Unpaid` ones that expired before it;
    /// never a `Pending` one, nor one an unfinished melt operation names.
    /// Returns how many were deleted (one transaction).
    fn prune_melt_quotes(&self, before_s: u64) -> impl Future<Output = Result<usize>> + Send;

    /// The newest history entries, at most `limit` (≤ [`HISTORY_PAGE_MAX`]).
    fn history(&self, limit: usize) -> impl Future<Output = Result<Vec<HistoryEntry>>> + Send;

    /// Records a token in one transaction: a [`SentTokenState::Preparing`]
    /// one alone (its send swap fills it in [`WalletStore::finish_send`]);
    /// an [`SentTokenState::Unredeemed`] one (made from held proofs) moves
    /// its `ys` from `Unspent` to `Sent` and writes `history` with it, or
    /// changes nothing ([`crate::Error::StateConflict`]).
    fn add_sent_token(
        &self,
        token: &SentToken,
        history: Option<&HistoryEntry>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// [`WalletStore::finish_operation`] for a send swap, and in the same
    /// transaction the token (now `Unredeemed`) replaces its preparing
    /// record (`outputs` carry their states: `Sent` for the token's). The
    /// operation's held proofs whose `Y` is in `token.ys` (held proofs given
    /// in the token as they are) become `Sent`, not spent.
    fn finish_send(
        &self,
        id: &OperationId,
        outputs: &[StoredProof],
        history: &HistoryEntry,
        token: &SentToken,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A token by id.
    fn sent_token(
        &self,
        id: &OperationId,
    ) -> impl Future<Output = Result<Option<SentToken>>> + Send;
    /// The tokens of `mint` in `state`.
    fn sent_tokens(
        &self,
        mint: &MintUrl,
        state: SentTokenState,
    ) -> impl Future<Output = Result<Vec<SentToken>>> + Send;
    /// Moves a token from `from` to `to` (compare-and-set).
    fn set_sent_token_state(
        &self,
        id: &OperationId,
        from: SentTokenState,
        to: SentTokenState,
    ) -> impl Future<Output = Result<()>> + Send;
}

pub(crate) fn check_batch(len: usize) -> Result<()> {
    if len > PROOFS_PER_CALL_MAX {
        return Err(crate::Error::InvalidArgument(
            "more than PROOFS_PER_CALL_MAX proofs in one call",
        ));
    }
    Ok(())
}

/// Checks what [`WalletStore::start_operation`] is given before anything
/// changes: the operation `Sent`, its counters a valid range (or none),
/// its inputs within the batch bound, its token a preparing record of it.
pub(crate) fn check_start(
    op: &Operation,
    inputs: &[String],
    token: Option<&SentToken>,
) -> Result<()> {
    if op.state != OperationState::Sent {
        return Err(crate::Error::InvalidArgument(
            "a started operation must be sent",
        ));
    }
    let count =
        op.counters
            .end
            .checked_sub(op.counters.start)
            .ok_or(crate::Error::InvalidArgument(
                "operation counters run backwards",
            ))?;
    if count > 0 {
        check_counter_count(count)?;
        if i64::try_from(op.counters.end).is_err() {
            return Err(crate::Error::CounterExhausted(op.keyset_id));
        }
    }
    check_batch(inputs.len())?;
    if token.is_some_and(|t| t.state != SentTokenState::Preparing || t.id != op.id) {
        return Err(crate::Error::InvalidArgument(
            "a started operation's token is its preparing record",
        ));
    }
    Ok(())
}

/// Whether [`WalletStore::prune_melt_quotes`] deletes `quote` (settled
/// before `before_s`), unless an unfinished melt names it.
pub(crate) fn settled_before(quote: &MeltQuote, before_s: u64) -> bool {
    match quote.state {
        MeltQuoteState::Paid => quote.created_s < before_s,
        MeltQuoteState::Unpaid => quote.expiry_s.is_some_and(|e| e < before_s),
        MeltQuoteState::Pending => false,
    }
}

pub(crate) fn check_counter_count(count: u64) -> Result<()> {
    if count == 0 || count > COUNTER_RANGE_MAX {
        return Err(crate::Error::InvalidArgument(
            "counter range must hold 1..=COUNTER_RANGE_MAX counters",
        ));
    }
    Ok(())
}
