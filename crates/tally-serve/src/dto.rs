//! The wire's JSON documents. Requests refuse unknown fields; ids and
//! amounts are JSON integers up to 2^128 − 1 (as `tally ledger` reads
//! them); flags are lists of names; results carry TigerBeetle's names.

use serde::{Deserialize, Serialize};
use tally_ledger::{
    Account, AccountBalance, AccountFlags, NewAccount, NewTransfer, PendingState, Sum, Totals,
    Transfer, TransferFlags,
};
use utoipa::ToSchema;

/// A flag name this version does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownFlag;

/// An account to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountDto {
    /// The client-chosen id: not 0, not 2^128 − 1.
    pub id: u128,
    /// The ledger (currency, asset): not 0.
    pub ledger: u32,
    /// A chart-of-accounts code: not 0.
    pub code: u16,
    /// `linked`, `debits_must_not_exceed_credits`,
    /// `credits_must_not_exceed_debits`, `history`.
    #[serde(default)]
    pub flags: Vec<String>,
    // No `user_data_128`: the service stamps it with the owner's tag
    // (`crate::tenancy`); a request naming it is refused.
    /// Opaque.
    #[serde(default)]
    pub user_data_64: u64,
    /// Opaque.
    #[serde(default)]
    pub user_data_32: u32,
}

/// `POST /v1/ledger/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountsRequest {
    /// 1 to 8,189 accounts, applied as one batch.
    pub accounts: Vec<NewAccountDto>,
}

/// A transfer to create (or a post or void of a pending one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransferDto {
    /// The client-chosen id.
    pub id: u128,
    /// Debited.
    #[serde(default)]
    pub debit_account_id: u128,
    /// Credited.
    #[serde(default)]
    pub credit_account_id: u128,
    /// The amount, minor units.
    #[serde(default)]
    pub amount: u128,
    /// For a post or void: the pending transfer.
    #[serde(default)]
    pub pending_id: u128,
    /// Its ledger.
    #[serde(default)]
    pub ledger: u32,
    /// Its code.
    #[serde(default)]
    pub code: u16,
    /// For a pending transfer: seconds until it expires (0: never).
    #[serde(default)]
    pub timeout: u32,
    /// `linked`, `pending`, `post_pending_transfer`,
    /// `void_pending_transfer`, `balancing_debit`, `balancing_credit`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Opaque.
    #[serde(default)]
    pub user_data_128: u128,
    /// Opaque.
    #[serde(default)]
    pub user_data_64: u64,
    /// Opaque.
    #[serde(default)]
    pub user_data_32: u32,
}

/// `POST /v1/ledger/transfers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransfersRequest {
    /// 1 to 8,189 transfers, applied as one batch.
    pub transfers: Vec<NewTransferDto>,
}

/// One event's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResult {
    /// The event's id.
    pub id: u128,
    /// TigerBeetle's name (`ok`, `exists`, `exceeds_credits`, …).
    pub result: &'static str,
}

/// A batch's results, one per event, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// The results.
    pub results: Vec<EventResult>,
}

fn account_flags(names: &[String]) -> Result<AccountFlags, UnknownFlag> {
    names.iter().try_fold(AccountFlags::empty(), |f, n| {
        Ok(f | match n.as_str() {
            "linked" => AccountFlags::LINKED,
            "debits_must_not_exceed_credits" => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            "credits_must_not_exceed_debits" => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
            "history" => AccountFlags::HISTORY,
            _ => return Err(UnknownFlag),
        })
    })
}

fn transfer_flags(names: &[String]) -> Result<TransferFlags, UnknownFlag> {
    names.iter().try_fold(TransferFlags::empty(), |f, n| {
        Ok(f | match n.as_str() {
            "linked" => TransferFlags::LINKED,
            "pending" => TransferFlags::PENDING,
            "post_pending_transfer" => TransferFlags::POST_PENDING_TRANSFER,
            "void_pending_transfer" => TransferFlags::VOID_PENDING_TRANSFER,
            "balancing_debit" => TransferFlags::BALANCING_DEBIT,
            "balancing_credit" => TransferFlags::BALANCING_CREDIT,
            _ => return Err(UnknownFlag),
        })
    })
}

impl NewAccountDto {
    /// The ledger's event: an account of `owner` (its `user_data_128`).
    ///
    /// # Errors
    /// [`UnknownFlag`].
    pub fn to_event(&self, owner: crate::tenancy::Owner) -> Result<NewAccount, UnknownFlag> {
        Ok(NewAccount {
            id: self.id,
            user_data_128: owner.tag(),
            user_data_64: self.user_data_64,
            user_data_32: self.user_data_32,
            ledger: self.ledger,
            code: self.code,
            flags: account_flags(&self.flags)?,
        })
    }
}

impl NewTransferDto {
    /// The ledger's event.
    ///
    /// # Errors
    /// [`UnknownFlag`].
    pub fn to_event(&self) -> Result<NewTransfer, UnknownFlag> {
        Ok(NewTransfer {
            id: self.id,
            debit_account_id: self.debit_account_id,
            credit_account_id: self.credit_account_id,
            amount: self.amount,
            pending_id: self.pending_id,
            user_data_128: self.user_data_128,
            user_data_64: self.user_data_64,
            user_data_32: self.user_data_32,
            timeout: self.timeout,
            ledger: self.ledger,
            code: self.code,
            flags: transfer_flags(&self.flags)?,
        })
    }
}

/// An account and its balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDto {
    /// The id.
    pub id: u128,
    /// Held debits.
    pub debits_pending: u128,
    /// Posted debits.
    pub debits_posted: u128,
    /// Held credits.
    pub credits_pending: u128,
    /// Posted credits.
    pub credits_posted: u128,
    /// Its ledger.
    pub ledger: u32,
    /// Its code.
    pub code: u16,
    /// Its flags (bits).
    pub flags: u16,
    /// Its owner's tag, stamped by the service when it was created (see
    /// `tally_serve::tenancy`).
    pub user_data_128: u128,
    /// Opaque.
    pub user_data_64: u64,
    /// Opaque.
    pub user_data_32: u32,
    /// When it was created (the ledger's clock, ns).
    pub timestamp: u64,
}

impl From<&Account> for AccountDto {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id,
            debits_pending: a.debits_pending,
            debits_posted: a.debits_posted,
            credits_pending: a.credits_pending,
            credits_posted: a.credits_posted,
            ledger: a.ledger,
            code: a.code,
            flags: a.flags.bits(),
            user_data_128: a.user_data_128,
            user_data_64: a.user_data_64,
            user_data_32: a.user_data_32,
            timestamp: a.timestamp,
        }
    }
}

/// A transfer, with where a pending one stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferDto {
    /// The id.
    pub id: u128,
    /// Debited.
    pub debit_account_id: u128,
    /// Credited.
    pub credit_account_id: u128,
    /// The amount moved (held, for a pending transfer).
    pub amount: u128,
    /// For a post or void: the pending transfer.
    pub pending_id: u128,
    /// Its ledger.
    pub ledger: u32,
    /// Its code.
    pub code: u16,
    /// Its flags (bits).
    pub flags: u16,
    /// Seconds until a pending transfer expires (0: never).
    pub timeout: u32,
    /// Opaque.
    pub user_data_128: u128,
    /// Opaque.
    pub user_data_64: u64,
    /// Opaque.
    pub user_data_32: u32,
    /// When it was applied (ns).
    pub timestamp: u64,
    /// For a pending transfer: `pending`, `posted`, `voided`, `expired`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<&'static str>,
    /// For a posted pending transfer: the amount posted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posted_amount: Option<u128>,
}

impl TransferDto {
    /// From the ledger's transfer.
    #[must_use]
    pub fn new(t: &Transfer, state: Option<PendingState>) -> Self {
        let (pending, posted_amount) = match state {
            None => (None, None),
            Some(PendingState::Pending) => (Some("pending"), None),
            Some(PendingState::Posted(a)) => (Some("posted"), Some(a)),
            Some(PendingState::Voided) => (Some("voided"), None),
            Some(PendingState::Expired) => (Some("expired"), None),
        };
        Self {
            id: t.id,
            debit_account_id: t.debit_account_id,
            credit_account_id: t.credit_account_id,
            amount: t.amount,
            pending_id: t.pending_id,
            ledger: t.ledger,
            code: t.code,
            flags: t.flags.bits(),
            timeout: t.timeout,
            user_data_128: t.user_data_128,
            user_data_64: t.user_data_64,
            user_data_32: t.user_data_32,
            timestamp: t.timestamp,
            pending,
            posted_amount,
        }
    }
}

/// An account's balances after one of its transfers.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// The transfer.
    pub transfer: TransferDto,
    /// The account's balances after it (when the account keeps history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<BalanceDto>,
}

/// Balances at a timestamp.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceDto {
    /// Held debits.
    pub debits_pending: u128,
    /// Posted debits.
    pub debits_posted: u128,
    /// Held credits.
    pub credits_pending: u128,
    /// Posted credits.
    pub credits_posted: u128,
}

impl From<&AccountBalance> for BalanceDto {
    fn from(b: &AccountBalance) -> Self {
        Self {
            debits_pending: b.debits_pending,
            debits_posted: b.debits_posted,
            credits_pending: b.credits_pending,
            credits_posted: b.credits_posted,
        }
    }
}

/// A page of an account's history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// The entries.
    pub entries: Vec<HistoryEntry>,
    /// Pass as `after` for the next page (absent on the last page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// The query of a history page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Entries after this timestamp (exclusive; 0: from the start).
    #[serde(default)]
    pub after: u64,
    /// At most this many (1 to 1,000; default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One ledger's double-entry totals (each `Σ` exact, 256 bits, as 64
/// lowercase hex digits: they may exceed 2^128 − 1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsDto {
    /// The ledger.
    pub ledger: u32,
    /// Σ held debits.
    pub debits_pending: String,
    /// Σ held credits.
    pub credits_pending: String,
    /// Σ posted debits.
    pub debits_posted: String,
    /// Σ posted credits.
    pub credits_posted: String,
    /// Whether Σ debits = Σ credits, held and posted.
    pub balanced: bool,
}

impl TotalsDto {
    /// From the ledger's totals.
    #[must_use]
    pub fn new(ledger: u32, t: &Totals) -> Self {
        Self {
            ledger,
            debits_pending: sum_hex(t.debits_pending),
            credits_pending: sum_hex(t.credits_pending),
            debits_posted: sum_hex(t.debits_posted),
            credits_posted: sum_hex(t.credits_posted),
            balanced: t.balanced(),
        }
    }
}

fn sum_hex(s: Sum) -> String {
    let mut out = tally_encoding::hex::encode(&s.hi.to_be_bytes());
    tally_encoding::hex::encode_into(&s.lo.to_be_bytes(), &mut out);
    out
}

/// The conservation proof: every ledger's totals, and whether all balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConservationDto {
    /// Per ledger.
    pub ledgers: Vec<TotalsDto>,
    /// Whether every ledger balances.
    pub balanced: bool,
}

/// `/readyz`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyDto {
    /// Ready to take requests.
    pub ready: bool,
    /// Why not (`backpressure`, `dep_outage`, `journal_poisoned`).
    pub causes: Vec<&'static str>,
}

/// An error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDto {
    /// The error.
    pub error: ErrorBody,
}

/// An error's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The stable code (`RATE_LIMITED`, …).
    pub code: String,
    /// A fixed message.
    pub message: String,
    /// The request id, also in `x-request-id`.
    pub correlation_id: String,
    /// For an error about one event of a batch: its index (0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<u32>,
}

/// `POST /v1/tokens` (admin): mint a capability token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// The tenant it acts for (required unless the only scope is `admin`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Its scopes (`ledger.read`, `ledger.write`, `budget.reserve`, …): at least one.
    pub scopes: Vec<String>,
    /// Seconds until it expires (1 to 7,776,000 = 90 days; default 30 days).
    #[serde(default)]
    pub expires_in_s: Option<u64>,
    /// Not valid before this instant (seconds since the Unix epoch).
    #[serde(default)]
    pub not_before_s: Option<u64>,
    /// The methods it allows (`GET`, `POST`, …).
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// The path prefix it allows (`/v1/ledger/`).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// The most one request may move, minor units.
    #[serde(default)]
    pub max_amount: Option<u128>,
}

/// A minted token.
#[derive(Debug, Serialize, ToSchema)]
pub struct MintResponse {
    /// The token (`tally1.…`): a bearer secret.
    pub token: String,
    /// Its id (32 hex digits), for revocation.
    pub id: String,
    /// The root-key epoch it was minted under.
    pub epoch: u32,
    /// When it expires (seconds since the Unix epoch).
    pub expiry_s: u64,
}

/// A revocation's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedResponse {
    /// What was revoked (a token id, or `epoch:<n>`).
    pub revoked: String,
}

/// `POST /v1/budget/tenants/{tenant}` (admin): open a tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenTenantRequest {
    /// The initial budget, minor units (0: none yet).
    #[serde(default)]
    pub initial: u128,
    /// The client's id of the funding transfer (idempotent per tenant).
    #[serde(default)]
    pub funding_id: u128,
}

/// `POST /v1/budget/tenants/{tenant}/top-up` (admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpRequest {
    /// The amount, minor units.
    pub amount: u128,
    /// The client's id of the funding transfer (idempotent per tenant).
    pub funding_id: u128,
}

/// `POST /v1/budget/tenants/{tenant}/reservations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    /// The client's reservation id (idempotent per tenant).
    pub id: u128,
    /// The amount to hold, minor units.
    pub amount: u128,
    /// Seconds until the hold is released by itself (0: never).
    #[serde(default)]
    pub timeout_s: u32,
}

/// `POST /v1/budget/tenants/{tenant}/reservations/{id}/commit`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The actual cost, minor units (0 releases the reservation).
    pub actual: u128,
}

/// A budget operation's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetResult {
    /// `ok`, `exists`, `already_committed`, or why not (`exceeds_credits`,
    /// `unknown_reservation`, `overrun_exceeds_credits`, `pending_transfer_expired`, …).
    pub result: &'static str,
}

/// A tenant's budget: `remaining + reserved + committed == funded`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// The tenant.
    pub tenant: String,
    /// Initial plus top-ups.
    pub funded: u128,
    /// Held by live reservations.
    pub reserved: u128,
    /// Committed.
    pub committed: u128,
    /// What can still be reserved.
    pub remaining: u128,
}

/// `POST /v1/decisions`: decide `request` under the stored policy `policy`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    /// The stored policy's digest (64 lowercase hex digits, as `POST
    /// /v1/decide/policies` answers).
    pub policy: String,
    /// The request, in tally-decide's JSON form (`sequence`,
    /// `requested_id`, `input_tokens`, …; unknown fields refused).
    #[schema(value_type = Object)]
    pub request: tally_decide::Request,
    /// Hold the chosen candidate's cost on the caller tenant's budget in
    /// the same step (all or nothing).
    #[serde(default)]
    pub reserve: Option<DecisionHold>,
}

/// The budget hold of a decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionHold {
    /// The client's reservation id (as `POST …/reservations`; commit or
    /// release it there).
    pub id: u128,
    /// Seconds until the hold is released by itself (1 to 86,400; default
    /// 300): a decision's hold always expires.
    #[serde(default)]
    pub timeout_s: Option<u32>,
}

/// What became of a decision's hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldResult {
    /// The client's reservation id.
    pub id: u128,
    /// The amount held (the chosen candidate's cost), minor units.
    pub amount: u128,
    /// `ok` (held now), `exists` (the same hold was made before), or
    /// `not_needed` (no candidate chosen, or a cost of 0: nothing held).
    pub result: &'static str,
}

/// A decision, appended to the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionResponse {
    /// The decision record's sequence number in the audit log.
    pub seq: u64,
    /// The decision (tally-decide's JSON form).
    #[schema(value_type = Object)]
    pub decision: tally_decide::Decision,
    /// Its audit bundle (policy, request and decision digests).
    #[schema(value_type = Object)]
    pub bundle: tally_decide::AuditBundle,
    /// The hold, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<HoldResult>,
}

/// A decision read back from the audit log, with its proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    /// The record's sequence number.
    pub seq: u64,
    /// The request.
    #[schema(value_type = Object)]
    pub request: tally_decide::Request,
    /// The decision.
    #[schema(value_type = Object)]
    pub decision: tally_decide::Decision,
    /// Its audit bundle.
    #[schema(value_type = Object)]
    pub bundle: tally_decide::AuditBundle,
    /// The record's payload as stored (tally-decide's canonical bytes).
    pub record: String,
    /// The record's inclusion proof under a signed checkpoint: the text of
    /// a tally-audit proof file, checked with the server's `decisions.vkey`;
    /// on PostgreSQL a `tally-serve-decision-pg-proof/v1` document, checked
    /// with the keys directory's `decisions-checkpoint.vkey` (both with
    /// `tally audit verify-proof`).
    pub proof: String,
}

/// A stored decision policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyStored {
    /// Its digest (64 lowercase hex digits): its name in `POST /v1/decisions`.
    pub digest: String,
    /// Whether this request stored it (false: it was stored before).
    pub created: bool,
}

/// The decision log's latest signed checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointDto {
    /// The tree size it signs (records `0..size`; on PostgreSQL rows
    /// `1..=size`).
    pub size: u64,
    /// The tree's root (64 lowercase hex digits).
    pub root: String,
    /// The log's origin.
    pub origin: String,
    /// The signed note (C2SP checkpoint), checked with `decisions.vkey`
    /// (on PostgreSQL `decisions-checkpoint.vkey`).
    pub note: String,
}

/// The query of a consistency proof.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older checkpoint's size (at least 1).
    pub old: u64,
    /// The newer checkpoint's size (at least `old`).
    pub new: u64,
}
