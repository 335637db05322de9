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
//! * `fingerprint` = BLAKE3 `derive_key("tally/reward/intent/v1", u128le(id)
//!   ‖ u64le(len) ‖ debit ‖ u64le(len) ‖ credit ‖ u64le(amount))`: a
//!   resubmission with another amount or account is detected.
//! * `idempotency_key` = `tally-reward-` + the id's hex: one per intent, for
//!   an external ledger's `Idempotency-Key` header.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::compute::Distribution;
use crate::ident::AccountId;
use crate::manifest::{Hex32, RunKey};

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
    let mut h = blake3::Hasher::new_derive_key("tally/reward/transfer/v1");
    h.update(&run_key.0);
    h.update(&[role as u8]);
    h.update(&(account.as_str().len() as u64).to_le_bytes());
    h.update(account.as_str().as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(h.finalize().as_bytes().get(..16).unwrap_or(&[0; 16]));
    u128::from_le_bytes(id)
}

fn fingerprint(id: u128, debit: &AccountId, credit: &AccountId, amount: u64) -> Hex32 {
    let mut h = blake3::Hasher::new_derive_key("tally/reward/intent/v1");
    h.update(&id.to_le_bytes());
    for a in [debit, credit] {
        h.update(&(a.as_str().len() as u64).to_le_bytes());
        h.update(a.as_str().as_bytes());
    }
    h.update(&amount.to_le_bytes());
    Hex32(*h.finalize().as_bytes())
}

/// The settlement batch of a run.
///
/// # Errors
/// [`Error::InvariantBreach`] when the transfers would not move exactly the
/// pool (never for a checked distribution).
pub fn intents(run_key: &RunKey, distribution: &Distribution) -> Result<Vec<Transfer>, Error> {
    let debit = &distribution.funding_account;
    let mut out: Vec<Transfer> = distribution
        .payouts
        .iter()
        .map(|p| (Role::Payout, &p.account, p.amount))
        .chain((distribution.residual > 0).then_some((
            Role::Residual,
            &distribution.residual_sink,
            distribution.residual,
        )))
        .map(|(role, credit, amount)| {
            let id = transfer_id(run_key, role, credit);
            Transfer {
                id,
                debit_account: debit.clone(),
                credit_account: credit.clone(),
                amount,
                linked: true,
                fingerprint: fingerprint(id, debit, credit, amount),
                idempotency_key: format!("tally-reward-{id:032x}"),
            }
        })
        .collect();
    if let Some(last) = out.last_mut() {
        last.linked = false;
    }
    let moved = out
        .iter()
        .try_fold(0u64, |s, t| s.checked_add(t.amount))
        .ok_or(Error::InvariantBreach {
            reason: "the transfers overflow".to_owned(),
        })?;
    if moved != distribution.pool {
        return Err(Error::InvariantBreach {
            reason: "the transfers do not move exactly the pool".to_owned(),
        });
    }
    Ok(out)
}

/// Checks that a transfer is the one `run_key` derives for its accounts
/// and amount (what a ledger does before it answers `exists`).
#[must_use]
pub fn fingerprint_matches(transfer: &Transfer) -> bool {
    transfer.fingerprint
        == fingerprint(
            transfer.id,
            &transfer.debit_account,
            &transfer.credit_account,
            transfer.amount,
        )
}
