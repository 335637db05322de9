//! Keyset rotation.
//!
//! A mint rotates by adding a new active keyset and marking the old one
//! inactive: it still accepts the old keyset's proofs as inputs, but signs
//! no new outputs with it, and `/v1/keys` no longer lists it (its keys are
//! fetched by id, `/v1/keys/{id}`). [`Wallet::refresh_keysets`] stores the
//! mint's keysets as they are now (with their active flags);
//! [`Wallet::rotate`] then swaps every unspent proof of an inactive keyset
//! into the active keyset, [`ROTATE_INPUTS_MAX`] inputs per swap, each swap a
//! persisted saga like any other (an ambiguous failure is left for
//! `recover`). A group of proofs worth no more than its own input fee is
//! left as it is (reported as dust).

use std::collections::{BTreeMap, BTreeSet};

use tally_cashu::Amount;
use tally_cashu::fees::{Denominations, input_fee};
use tally_cashu::nuts::nut00::MintUrl;
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};

use crate::client::MintClient;
use crate::error::{Error, Result};
use crate::store::{OperationState, ProofState, StoredProof, WalletStore};
use crate::wallet::Wallet;

/// The most inputs in one rotation swap.
pub const ROTATE_INPUTS_MAX: usize = 100;

/// What `rotate` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Inactive keysets of the mint (in the wallet's unit).
    pub inactive_keysets: usize,
    /// Swaps made.
    pub swaps: usize,
    /// Proofs of inactive keysets swapped.
    pub proofs_moved: usize,
    /// Their value.
    pub amount_in: u64,
    /// Value of the new proofs of the active keyset (`amount_in` less fees).
    pub amount_out: u64,
    /// Value of proofs left because they do not cover their own input fee.
    pub dust: u64,
    /// Proofs another operation took first (left for the next call).
    pub busy: usize,
}

impl<S: WalletStore> Wallet<S> {
    /// Stores the mint's keysets as they are now (active and inactive, keys
    /// fetched by id and checked against their ids) and returns them.
    ///
    /// # Errors
    /// As [`Wallet::add_mint`].
    pub async fn refresh_keysets(&self, mint: &MintUrl) -> Result<Vec<KeySetInfo>> {
        self.add_mint(mint).await?;
        self.store().keysets(mint).await
    }

    /// Refreshes the keysets, then swaps every unspent proof of an inactive
    /// keyset into the active keyset (see the module documentation).
    ///
    /// # Errors
    /// Client and store errors; an ambiguous failure leaves its swap `Sent`
    /// for `recover` (the proofs stay pending, never rolled back).
    pub async fn rotate(&self, mint: &MintUrl) -> Result<RotationReport> {
        let infos = self.refresh_keysets(mint).await?;
        let inactive: BTreeSet<KeysetId> = infos
            .iter()
            .filter(|k| !k.active && k.unit.as_str() == crate::wallet::UNIT)
            .map(|k| k.id)
            .collect();
        let ppk: BTreeMap<KeysetId, u64> = infos.iter().map(|k| (k.id, k.input_fee_ppk)).collect();
        let mut report = RotationReport {
            inactive_keysets: inactive.len(),
            ..RotationReport::default()
        };
        let held: Vec<StoredProof> = self
            .store()
            .proofs(mint, ProofState::Unspent)
            .await?
            .into_iter()
            .filter(|p| inactive.contains(&p.proof.keyset_id))
            .collect();
        if held.is_empty() {
            return Ok(report);
        }
        let active = self.active_keyset(mint).await?;
        let client = self.client(mint)?;
        for group in held.chunks(ROTATE_INPUTS_MAX) {
            self.rotate_group(&client, &active, group, &ppk, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// One rotation swap: `group` in, the same value less the input fee out,
    /// in the active keyset.
    async fn rotate_group(
        &self,
        client: &MintClient,
        active: &Keyset,
        group: &[StoredProof],
        ppk: &BTreeMap<KeysetId, u64>,
        report: &mut RotationReport,
    ) -> Result<()> {
        let total = Amount::try_sum(group.iter().map(|p| p.proof.amount))?;
        let fee = input_fee(
            group
                .iter()
                .map(|p| ppk.get(&p.proof.keyset_id).copied().unwrap_or(0)),
        )?;
        let Some(out) = total.checked_sub(fee).filter(|a| a.value() > 0) else {
            report.dust = report.dust.saturating_add(total.value());
            return Ok(());
        };
        let amounts: Vec<u64> = Denominations::from_keys(active.keys())
            .split(out)?
            .iter()
            .map(|a| a.value())
            .collect();
        let mint = group
            .first()
            .map(|p| p.mint.clone())
            .ok_or(Error::InvalidArgument("empty rotation group"))?;
        let (op, outputs) = self.swap_operation(&mint, active, group, amounts).await?;
        self.store().add_operation(&op).await?;
        let ys: Vec<String> = group.iter().map(|p| p.y.clone()).collect();
        match self.store().reserve_proofs(&ys, &op.id).await {
            Ok(()) => {}
            Err(Error::StateConflict { .. } | Error::NotFound { .. }) => {
                self.store()
                    .set_operation_state(&op.id, OperationState::Prepared, OperationState::Failed)
                    .await?;
                report.busy = report.busy.saturating_add(group.len());
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let received = self
            .run(client, &op, active, outputs, total.value())
            .await?;
        report.swaps = report.swaps.saturating_add(1);
        report.proofs_moved = report.proofs_moved.saturating_add(group.len());
        report.amount_in = report.amount_in.saturating_add(total.value());
        report.amount_out = report.amount_out.saturating_add(received);
        Ok(())
    }
}
