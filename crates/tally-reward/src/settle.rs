//! Settlement intents: the transfers that pay a manifest, exactly once.
//!
//! One transfer per payee from the policy's funding account, then one to
//! the residual sink when the residual is above 0; together they move
//! exactly the pool. They form one linked batch in the ledger's transfer
//! form (TigerBeetle's): every transfer but the last has `linked = true`, so
//! the batch succeeds or fails as a whole.
//!
//! * `id` = the first 16 bytes, as a little-endian `u128`, of BLAKE3
//!   `derive_key("tally/reward/transfer/v1", run_key ‖ role ‖ u64le(len) ‖
//!   credit account)`, `role` one byte: 0 for a payout, 1 for the residual
//!   (so the two roles never share an id, although `compute` already
//!   refuses inputs that list the residual sink as a payee): the
//!   same run pays the same account under the same id, so a
//!   resubmission is answered `exists` by the ledger instead of paying
//!   twice, whatever cache was lost in between. Written as 32 hex digits
//!   (big-endian) in JSON.
//! * `fingerprint` = BLAKE3 `derive_key("tally/reward/intent/v2", u128le(id)
//!   ‖ u64le(len) ‖ debit ‖ u64le(len) ‖ credit ‖ u64le(amount) ‖
//!   u32le(ledger) ‖ u16le(code))`: a resubmission with another amount,
//!   account, ledger or code is detected.
//! * `idempotency_key` = `tally-reward-` + the id's hex: one per intent, for
//!   an external ledger's `Idempotency-Key` header.
//! * The run tag ([`run_tag`]) = the run key's first 16 bytes as a
//!   little-endian `u128`: a settler puts it in each transfer's
//!   `user_data_128` (Tally's service does), so every payment made for a
//!   run can be found on the ledger, even one made under another id
//!   (a second payment of one intent: `tally reward duplicate-intents`).
//! * Ledger fields, so a run settles on Tally's ledger (or TigerBeetle) as
//!   one linked batch: `ledger` (the caller's [`Ledger`], the same for every
//!   transfer), `code` ([`CODE_PAYOUT`] or [`CODE_RESIDUAL`]), and the 128-bit
//!   account ids `debit_account_id` / `credit_account_id` =
//!   [`ledger_account_id`] of the account names: the first 16 bytes, as a
//!   little-endian `u128`, of BLAKE3 `derive_key("tally/reward/ledger-account/v1",
//!   u64le(len) ‖ name)` (32 hex digits in JSON). The mapping is deterministic
//!   and needs no table; [`intents`] checks it on every batch: the ids of
//!   distinct accounts differ, and none is `0` or `u128::MAX` (reserved by
//!   the ledger), else the run is quarantined (a 2^-128 event per pair).

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use tally_encoding::framing::length_prefixed;

use crate::Error;
use crate::compute::{Distribution, Payout};
use crate::ident::AccountId;
use crate::manifest::{Hex32, RunKey};

/// The ledger a run settles on (TigerBeetle's `ledger`: accounts and
/// transfers of one currency or asset). Chosen by the operator; every
/// transfer of a batch carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ledger(pub u32);

/// The transfer code of a payout.
pub const CODE_PAYOUT: u16 = 1;
/// The transfer code of the residual, to the sink.
pub const CODE_RESIDUAL: u16 = 2;

// The three derive-key hashers, keyed once: a clone costs a copy, where
// `new_derive_key` hashes its context string again (a third of the work
// of an intent's three short hashes).
static ACCOUNT_KEY: LazyLock<blake3::Hasher> =
    LazyLock::new(|| blake3::Hasher::new_derive_key("tally/reward/ledger-account/v1"));
static TRANSFER_KEY: LazyLock<blake3::Hasher> =
    LazyLock::new(|| blake3::Hasher::new_derive_key("tally/reward/transfer/v1"));
static INTENT_KEY: LazyLock<blake3::Hasher> =
    LazyLock::new(|| blake3::Hasher::new_derive_key("tally/reward/intent/v2"));

/// The ledger's 128-bit account id of a reward account (see the module
/// docs; not checked here for the reserved values, [`intents`] does).
#[must_use]
pub fn ledger_account_id(account: &AccountId) -> u128 {
    let mut h = ACCOUNT_KEY.clone();
    length_prefixed(account.as_str().as_bytes(), |b| {
        h.update(b);
    });
    let mut id = [0u8; 16];
    id.copy_from_slice(h.finalize().as_bytes().get(..16).unwrap_or(&[0; 16]));
    u128::from_le_bytes(id)
}

/// One transfer of a settlement batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The transfer id (32 hex digits).
    #[serde(with = "id_hex")]
    pub id: u128,
    /// Paid from.
    pub debit_account: AccountId,
    /// Paid to.
    pub credit_account: AccountId,
    /// The ledger's id of `debit_account` (32 hex digits).
    #[serde(with = "id_hex")]
    pub debit_account_id: u128,
    /// The ledger's id of `credit_account` (32 hex digits).
    #[serde(with = "id_hex")]
    pub credit_account_id: u128,
    /// The ledger the batch settles on.
    pub ledger: Ledger,
    /// [`CODE_PAYOUT`] or [`CODE_RESIDUAL`].
    pub code: u16,
    /// Minor units, above 0.
    pub amount: u64,
    /// Linked to the next transfer (all but the last).
    pub linked: bool,
    /// Binds id, accounts and amount.
    pub fingerprint: Hex32,
    /// One per intent, for an external ledger.
    pub idempotency_key: String,
}

mod id_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{id:032x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        tally_encoding::hex::decode_array::<16>(&text, tally_encoding::hex::Case::Lower)
            .map(u128::from_be_bytes)
            .map_err(|_| serde::de::Error::custom("expected 32 lower-case hex digits"))
    }
}

/// What a transfer pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A payee's payout.
    Payout = 0,
    /// The residual, to the sink.
    Residual = 1,
}

/// The transfer id of a run's payment to `account`.
#[must_use]
pub fn transfer_id(run_key: &RunKey, role: Role, account: &AccountId) -> u128 {
    let mut h = TRANSFER_KEY.clone();
    h.update(&run_key.0);
    h.update(&[role as u8]);
    length_prefixed(account.as_str().as_bytes(), |b| {
        h.update(b);
    });
    let mut id = [0u8; 16];
    id.copy_from_slice(h.finalize().as_bytes().get(..16).unwrap_or(&[0; 16]));
    u128::from_le_bytes(id)
}

/// The run tag of a run's settlement transfers (their `user_data_128`):
/// the run key's first 16 bytes, little-endian. The run key is already a
/// BLAKE3 output, so the tag needs no hashing of its own.
#[must_use]
pub fn run_tag(run_key: &RunKey) -> u128 {
    let mut tag = [0u8; 16];
    tag.copy_from_slice(run_key.0.get(..16).unwrap_or(&[0; 16]));
    u128::from_le_bytes(tag)
}

fn fingerprint(
    id: u128,
    debit: &AccountId,
    credit: &AccountId,
    amount: u64,
    ledger: Ledger,
    code: u16,
) -> Hex32 {
    let mut h = INTENT_KEY.clone();
    h.update(&id.to_le_bytes());
    for a in [debit, credit] {
        length_prefixed(a.as_str().as_bytes(), |b| {
            h.update(b);
        });
    }
    h.update(&amount.to_le_bytes());
    h.update(&ledger.0.to_le_bytes());
    h.update(&code.to_le_bytes());
    Hex32(*h.finalize().as_bytes())
}

/// What a run pays: the part of a [`Distribution`] (or of a sealed
/// manifest and its payout list) that its settlement batch is made of.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    /// The run key (the transfer ids derive from it).
    pub run_key: &'a RunKey,
    /// The pool the batch moves, exactly.
    pub pool: u64,
    /// Where the pool is paid from.
    pub funding_account: &'a AccountId,
    /// Where the residual goes.
    pub residual_sink: &'a AccountId,
    /// `pool − Σ payouts`.
    pub residual: u64,
    /// The payouts, in account order.
    pub payouts: &'a [Payout],
}

impl<'a> Plan<'a> {
    /// The plan of a computed distribution under `run_key`.
    #[must_use]
    pub fn of(run_key: &'a RunKey, distribution: &'a Distribution) -> Self {
        Self {
            run_key,
            pool: distribution.pool,
            funding_account: &distribution.funding_account,
            residual_sink: &distribution.residual_sink,
            residual: distribution.residual,
            payouts: &distribution.payouts,
        }
    }

    /// The payments in batch order: the payouts, then the residual when
    /// above 0.
    fn payments(&self) -> impl Iterator<Item = (Role, &'a AccountId, u64)> + use<'a> {
        let residual =
            (self.residual > 0).then_some((Role::Residual, self.residual_sink, self.residual));
        self.payouts
            .iter()
            .map(|p| (Role::Payout, &p.account, p.amount))
            .chain(residual)
    }
}

/// Checks what [`intents`] checks without building the batch (what a run
/// checks before it is accepted, so that its batch can always be built at
/// settlement): the payments move exactly the pool, and the ledger account
/// ids of the accounts (the payees, the sink when paid, the funding
/// account) are distinct and none is reserved.
///
/// # Errors
/// [`Error::InvariantBreach`] as [`intents`].
pub fn check(plan: &Plan<'_>) -> Result<(), Error> {
    check_sum(plan)?;
    let mut ids: Vec<u128> = plan
        .payments()
        .map(|(_, credit, _)| ledger_account_id(credit))
        .collect();
    ids.push(ledger_account_id(plan.funding_account));
    check_ids(ids)
}

fn check_sum(plan: &Plan<'_>) -> Result<(), Error> {
    let moved = plan
        .payments()
        .try_fold(0u64, |s, (_, _, amount)| s.checked_add(amount))
        .ok_or(Error::InvariantBreach {
            reason: "the transfers overflow".to_owned(),
        })?;
    if moved != plan.pool {
        return Err(Error::InvariantBreach {
            reason: "the transfers do not move exactly the pool".to_owned(),
        });
    }
    Ok(())
}

/// Distinct accounts (the payees, the sink, the funding account; `compute`
/// refuses a pool account as a payee) must have distinct, usable ids.
fn check_ids(mut ids: Vec<u128>) -> Result<(), Error> {
    ids.sort_unstable();
    let collides = ids.windows(2).any(|w| matches!(w, [a, b] if a == b));
    if collides || ids.iter().any(|&id| id == 0 || id == u128::MAX) {
        return Err(Error::InvariantBreach {
            reason: "two accounts share a ledger account id, or one is reserved".to_owned(),
        });
    }
    Ok(())
}

/// The settlement batch of a plan on `ledger`.
///
/// # Errors
/// [`Error::InvariantBreach`] when the transfers would not move exactly the
/// pool (never for a checked distribution), or when two accounts share a
/// ledger account id or one has a reserved id (a 2^-128 event).
pub fn intents_of(plan: &Plan<'_>, ledger: Ledger) -> Result<Vec<Transfer>, Error> {
    check_sum(plan)?;
    let debit = plan.funding_account;
    let debit_id = ledger_account_id(debit);
    let mut out: Vec<Transfer> = plan
        .payments()
        .map(|(role, credit, amount)| {
            let id = transfer_id(plan.run_key, role, credit);
            let code = match role {
                Role::Payout => CODE_PAYOUT,
                Role::Residual => CODE_RESIDUAL,
            };
            Transfer {
                id,
                debit_account: debit.clone(),
                credit_account: credit.clone(),
                debit_account_id: debit_id,
                credit_account_id: ledger_account_id(credit),
                ledger,
                code,
                amount,
                linked: true,
                fingerprint: fingerprint(id, debit, credit, amount, ledger, code),
                idempotency_key: format!("tally-reward-{id:032x}"),
            }
        })
        .collect();
    if let Some(last) = out.last_mut() {
        last.linked = false;
    }
    let mut ids: Vec<u128> = out.iter().map(|t| t.credit_account_id).collect();
    ids.push(debit_id);
    check_ids(ids)?;
    Ok(out)
}

/// The settlement batch of a run on `ledger` ([`intents_of`] the
/// distribution's [`Plan`]).
///
/// # Errors
/// As [`intents_of`].
pub fn intents(
    run_key: &RunKey,
    distribution: &Distribution,
    ledger: Ledger,
) -> Result<Vec<Transfer>, Error> {
    intents_of(&Plan::of(run_key, distribution), ledger)
}

/// Checks that a transfer is the one `run_key` derives for its accounts,
/// amount, ledger and code, with the ledger account ids of its accounts
/// (what a ledger does before it answers `exists`).
#[must_use]
pub fn fingerprint_matches(transfer: &Transfer) -> bool {
    transfer.debit_account_id == ledger_account_id(&transfer.debit_account)
        && transfer.credit_account_id == ledger_account_id(&transfer.credit_account)
        && transfer.fingerprint
            == fingerprint(
                transfer.id,
                &transfer.debit_account,
                &transfer.credit_account,
                transfer.amount,
                transfer.ledger,
                transfer.code,
            )
}
