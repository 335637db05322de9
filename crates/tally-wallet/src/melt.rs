//! Melting: paying a bolt11 invoice with proofs (NUT-05, NUT-23), with
//! NUT-08 blank outputs for the fee reserve the payment does not use.
//!
//! A melt is a saga like a swap (kind [`OperationKind::Melt`]): the blank
//! outputs' counters are reserved, the operation and its exact request
//! written, the inputs reserved, the operation marked sent (inputs pending),
//! and only then the request leaves. The mint's answer decides:
//!
//! * `PAID`: the change signatures are checked (count, keyset, DLEQ; the
//!   amount is the one the mint imprinted) and stored with the inputs spent,
//!   in one transaction;
//! * `PENDING`, a timeout, a lost answer, a 5xx: ambiguous
//!   ([`Error::MeltPending`] / [`Error::Ambiguous`]); never rolled back;
//!   `recover` asks the quote's state: `PAID` finishes it (change from the
//!   quote, or NUT-09 restore of the blank outputs); `UNPAID` sends the
//!   stored request again (the request a crashed process sent may still be
//!   queued at the mint, so unspent inputs prove nothing; the mint pays the
//!   quote once, whichever copy comes first) and settles from its answer,
//!   failing it (inputs freed) only if the mint refuses or does not pay and
//!   then still says the quote is unpaid and every input unspent (NUT-07);
//!   anything else stays for the next call;
//! * a 4xx refusal, or `UNPAID` with the inputs unspent: definitive (failed,
//!   inputs released).

use tally_cashu::Amount;
use tally_cashu::nuts::nut00::{BlindSignature, BlindedOutput, MintUrl};
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut13;

use crate::client::{MeltRequest, MintClient};
use crate::error::{Error, Result};
use crate::store::{
    HistoryEntry, Operation, OperationId, OperationKind, OperationState, StoredProof, WalletStore,
};
use crate::wallet::{
    QUOTE_FIELD_LEN_MAX, RESERVE_ATTEMPTS_MAX, RecoveryReport, UNIT, Wallet, bare,
};

pub use crate::store::{MeltQuote, MeltQuoteState};

/// A paid melt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Melted {
    /// The operation.
    pub operation: OperationId,
    /// Value of the inputs given up.
    pub inputs: u64,
    /// Value of the change received (NUT-08).
    pub change: u64,
}

impl Melted {
    /// What the payment cost in all: invoice, lightning fee and input fee.
    #[must_use]
    pub fn cost(&self) -> u64 {
        self.inputs.saturating_sub(self.change)
    }
}

/// NUT-08: `max(ceil(log2(x)), 1)` blank outputs hold any change up to `x`
/// (none for `x = 0`).
#[must_use]
pub fn blank_outputs(overpaid_max: u64) -> u64 {
    match overpaid_max {
        0 => 0,
        1 => 1,
        x => u64::from(u64::BITS - (x - 1).leading_zeros()),
    }
}

impl<S: WalletStore> Wallet<S> {
    /// Deletes the melt quotes settled more than `keep_s` seconds ago by
    /// the wallet's clock (paid ones received, unpaid ones expired, before
    /// then), never a pending one nor one an unfinished melt still needs
    /// ([`WalletStore::prune_melt_quotes`]); returns how many. A pruned
    /// quote cannot be melted again (`melt` finds no stored quote), as a
    /// paid one could not ([`Error::QuotePaid`]).
    ///
    /// # Errors
    /// Store errors.
    pub async fn prune_melt_quotes(&self, keep_s: u64) -> Result<usize> {
        let before = (self.clock)().saturating_sub(keep_s);
        self.store().prune_melt_quotes(before).await
    }

    /// Asks `mint` to quote paying `invoice` (bolt11).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty, oversized or non-ASCII
    /// invoice; client errors (safe to retry); [`Error::InvalidResponse`]
    /// for a quote out of bounds.
    pub async fn melt_quote(&self, mint: &MintUrl, invoice: &str) -> Result<MeltQuote> {
        if invoice.is_empty() || invoice.len() > QUOTE_FIELD_LEN_MAX || !invoice.is_ascii() {
            return Err(Error::InvalidArgument("invoice"));
        }
        let r = self.client(mint)?.melt_quote(invoice, UNIT).await?;
        if r.amount == 0 || r.amount.checked_add(r.fee_reserve).is_none() {
            return Err(Error::InvalidResponse(
                "melt quote amount out of bounds".into(),
            ));
        }
        crate::client::check_quote_id(&r.quote)
            .map_err(|_| Error::InvalidResponse("melt quote id".into()))?;
        let state = MeltQuoteState::parse(&r.state)
            .ok_or_else(|| Error::InvalidResponse("melt quote state".into()))?;
        let quote = MeltQuote {
            id: r.quote,
            mint: mint.clone(),
            request: invoice.to_owned(),
            amount: r.amount,
            fee_reserve: r.fee_reserve,
            unit: UNIT.to_owned(),
            state,
            expiry_s: r.expiry,
            created_s: (self.clock)(),
        };
        // Stored before anyone can pay it, so that a crash from here on
        // leaves a quote the wallet can resume by its id.
        self.store().add_melt_quote(&quote).await?;
        Ok(quote)
    }

    /// Pays the stored melt quote `quote_id` of `mint`, or resumes its
    /// unfinished melt (see [`Wallet::melt`]): what `tally wallet melt
    /// --quote ID` runs after a crash.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a quote the wallet never stored; as
    /// [`Wallet::melt`].
    pub async fn melt_by_id(&self, mint: &MintUrl, quote_id: &str) -> Result<Melted> {
        let quote = self
            .store()
            .melt_quote(mint, quote_id)
            .await?
            .ok_or(Error::NotFound { what: "melt quote" })?;
        self.melt(mint, &quote).await
    }

    /// Pays `quote` (see the module documentation). The quote must be one
    /// the wallet stored ([`Wallet::melt_quote`]). A melt of the same quote
    /// left unfinished (a crash, a lost answer, a pending payment) is
    /// resumed, never started twice: one never sent is failed (inputs
    /// released) and the quote paid afresh; one sent is settled from the
    /// mint's state of the quote, as `recover` would.
    ///
    /// # Errors
    /// [`Error::InsufficientFunds`]; [`Error::QuotePaid`] for a quote the
    /// wallet already paid; [`Error::MeltPending`] and [`Error::Ambiguous`]
    /// (the payment may happen: run `recover` or melt the quote again later,
    /// never pay the invoice another way); [`Error::Mint`] for a refusal or
    /// a failed payment (inputs released; safe to retry with a new quote).
    pub async fn melt(&self, mint: &MintUrl, quote: &MeltQuote) -> Result<Melted> {
        if &quote.mint != mint {
            return Err(Error::InvalidArgument("the quote is another mint's"));
        }
        let stored = self
            .store()
            .melt_quote(mint, &quote.id)
            .await?
            .ok_or(Error::NotFound { what: "melt quote" })?;
        if (&stored.request, stored.amount, stored.fee_reserve)
            != (&quote.request, quote.amount, quote.fee_reserve)
        {
            return Err(Error::InvalidArgument(
                "the quote differs from the stored one",
            ));
        }
        if let Some(result) = self.resume_melt(mint, &stored).await? {
            return result;
        }
        if stored.state == MeltQuoteState::Paid {
            return Err(Error::QuotePaid);
        }
        let needed = stored
            .amount
            .checked_add(stored.fee_reserve)
            .ok_or(Error::InvalidArgument("quote amount"))?;
        let keyset = self.active_keyset(mint).await?;
        let client = self.client(mint)?;
        for _ in 0..RESERVE_ATTEMPTS_MAX {
            let op = self.prepare_melt(mint, &stored, needed, &keyset).await?;
            self.store().add_operation(&op).await?;
            if !self.reserve_or_fail(&op, &melt_input_ys(&op)?).await? {
                continue;
            }
            return self.run_melt(&client, &op, &keyset).await;
        }
        Err(Error::StateConflict {
            what: "proofs (too many concurrent reservations)",
        })
    }

    /// The unfinished melt of `quote`, if any, resumed: `None` if there is
    /// none (or there was one never sent, now failed with its inputs
    /// released), else its outcome.
    async fn resume_melt(
        &self,
        mint: &MintUrl,
        quote: &MeltQuote,
    ) -> Result<Option<Result<Melted>>> {
        let unfinished = self
            .store()
            .incomplete_operations()
            .await?
            .into_iter()
            .find(|o| {
                o.kind == OperationKind::Melt
                    && &o.mint == mint
                    && o.quote_id.as_deref() == Some(quote.id.as_str())
            });
        let Some(op) = unfinished else {
            return Ok(None);
        };
        if op.state == OperationState::Prepared {
            self.store()
                .set_operation_state(&op.id, OperationState::Prepared, OperationState::Failed)
                .await?;
            return Ok(None);
        }
        Ok(Some(match self.settle_melt(&op).await? {
            Settled::Finished(melted) => Ok(melted),
            Settled::Failed => Err(Error::Mint {
                code: 0,
                detail: "the mint did not pay the invoice".into(),
            }),
            Settled::Unresolved => Err(Error::MeltPending),
        }))
    }

    /// Records the state the mint reported for a melt quote, unless it is
    /// `PAID`: a stored quote becomes paid only in the transaction that
    /// stores the melt's checked change (a mint saying "paid" with change
    /// that does not verify changes nothing). A quote the wallet does not
    /// hold (a melt made before quotes were stored) or one already paid is
    /// left as it is.
    async fn note_quote_state(&self, mint: &MintUrl, quote: &str, state: &str) -> Result<()> {
        let Some(state) = MeltQuoteState::parse(state).filter(|s| *s != MeltQuoteState::Paid)
        else {
            return Ok(());
        };
        match self.store().set_melt_quote_state(mint, quote, state).await {
            Ok(()) | Err(Error::NotFound { .. } | Error::StateConflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Selects inputs for `needed` plus their fee, reserves the blank
    /// outputs' counters and builds the operation (not yet written).
    async fn prepare_melt(
        &self,
        mint: &MintUrl,
        quote: &MeltQuote,
        needed: u64,
        keyset: &Keyset,
    ) -> Result<Operation> {
        let (inputs, fee) = self.select_inputs(mint, needed).await?;
        let total = Amount::try_sum(inputs.iter().map(|p| p.proof.amount))?.value();
        let overpaid_max = total
            .checked_sub(fee.value())
            .and_then(|n| n.checked_sub(quote.amount))
            .ok_or(Error::InsufficientFunds {
                available: total,
                required: needed,
            })?;
        let blanks = usize::try_from(blank_outputs(overpaid_max))
            .map_err(|_| Error::InvalidArgument("blank outputs"))?;
        let (op, _) = self
            .plan_operation(
                mint,
                OperationKind::Melt,
                &keyset.id(),
                vec![1; blanks],
                Some(quote.id.clone()),
                |outputs| MeltRequest {
                    quote: quote.id.clone(),
                    inputs: inputs.iter().map(|p| bare(&p.proof)).collect(),
                    outputs,
                },
            )
            .await?;
        Ok(op)
    }

    async fn run_melt(
        &self,
        client: &MintClient,
        op: &Operation,
        keyset: &Keyset,
    ) -> Result<Melted> {
        self.store()
            .set_operation_state(&op.id, OperationState::Prepared, OperationState::Sent)
            .await?;
        let answer = match client.melt(op.request.clone()).await {
            Ok(a) => a,
            Err(e) => {
                if matches!(e, Error::Mint { .. } | Error::Unreachable(_)) {
                    self.store()
                        .set_operation_state(&op.id, OperationState::Sent, OperationState::Failed)
                        .await?;
                }
                return Err(e);
            }
        };
        if let Some(quote) = op.quote_id.as_deref() {
            self.note_quote_state(&op.mint, quote, &answer.state)
                .await?;
        }
        match answer.state.as_str() {
            "PAID" => {
                let change = answer.change.unwrap_or_default();
                self.finish_melt(op, keyset, &change).await
            }
            "PENDING" => Err(Error::MeltPending),
            _ => {
                if self.fail_if_inputs_unspent(client, op).await? {
                    Err(Error::Mint {
                        code: 0,
                        detail: format!("the mint did not pay the invoice ({})", answer.state),
                    })
                } else {
                    Err(Error::Ambiguous(
                        "the melt is unpaid but its inputs are not free".into(),
                    ))
                }
            }
        }
    }

    /// Fails a sent melt whose inputs the mint says are all unspent (it did
    /// not happen); returns whether it did.
    async fn fail_if_inputs_unspent(&self, client: &MintClient, op: &Operation) -> Result<bool> {
        let ys = melt_input_ys(op)?;
        let Ok(states) = client.check_state(&ys).await else {
            return Ok(false);
        };
        if states.iter().any(|s| s.state != "UNSPENT") {
            return Ok(false);
        }
        self.store()
            .set_operation_state(&op.id, OperationState::Sent, OperationState::Failed)
            .await?;
        Ok(true)
    }

    /// Stores the change of a paid melt (signatures on the first blank
    /// outputs, in order, at the amounts the mint imprinted; each checked)
    /// and marks the inputs spent, in one transaction.
    async fn finish_melt(
        &self,
        op: &Operation,
        keyset: &Keyset,
        change: &[BlindSignature],
    ) -> Result<Melted> {
        if change.len() > op.amounts.len() {
            return Err(Error::InvalidResponse(format!(
                "{} change signatures for {} blank outputs",
                change.len(),
                op.amounts.len()
            )));
        }
        let inputs = melt_inputs_total(op)?;
        let mut stored = Vec::with_capacity(change.len());
        for (counter, signature) in op.counters.clone().zip(change) {
            let (secret, r) = nut13::derive(&self.seed, &op.keyset_id, counter)?;
            let output = BlindedOutput::new(signature.amount, op.keyset_id, secret, r)?;
            let proof = output.into_proof(signature, keyset, true)?;
            stored.push(StoredProof::new(
                op.mint.clone(),
                proof,
                crate::store::ProofState::Unspent,
                None,
            )?);
        }
        let change_total = Amount::try_sum(stored.iter().map(|p| p.proof.amount))?.value();
        if change_total > inputs {
            return Err(Error::InvalidResponse(
                "change worth more than the inputs".into(),
            ));
        }
        let history = HistoryEntry {
            operation: op.id.clone(),
            mint: op.mint.clone(),
            kind: OperationKind::Melt,
            amount_in: change_total,
            amount_out: inputs,
            at_s: (self.clock)(),
        };
        self.store()
            .finish_operation(&op.id, &stored, &history)
            .await?;
        Ok(Melted {
            operation: op.id.clone(),
            inputs,
            change: change_total,
        })
    }

    /// `recover` for a sent melt: [`Wallet::settle_melt`], counted.
    pub(crate) async fn recover_melt(
        &self,
        op: &Operation,
        report: &mut RecoveryReport,
    ) -> Result<()> {
        match self.settle_melt(op).await? {
            Settled::Finished(_) => report.finished += 1,
            Settled::Failed => report.failed += 1,
            Settled::Unresolved => report.unresolved += 1,
        }
        Ok(())
    }

    /// Settles a sent melt from the quote's state at the mint (see the
    /// module documentation).
    async fn settle_melt(&self, op: &Operation) -> Result<Settled> {
        let client = self.client(&op.mint)?;
        let quote = op.quote_id.as_deref().ok_or(Error::CorruptRecord {
            what: "melt without a quote",
        })?;
        let (Ok(state), Ok(keyset)) = (
            client.melt_quote_state(quote).await,
            self.keyset(&op.mint, &op.keyset_id).await,
        ) else {
            return Ok(Settled::Unresolved);
        };
        if state.quote != quote {
            return Ok(Settled::Unresolved);
        }
        self.note_quote_state(&op.mint, quote, &state.state).await?;
        match state.state.as_str() {
            "PAID" => {
                let change = match state.change {
                    Some(c) => c,
                    None => match self.restore_change(&client, op).await {
                        Ok(c) => c,
                        Err(_) => return Ok(Settled::Unresolved),
                    },
                };
                self.settle_paid(op, &keyset, &change).await
            }
            // Unpaid: the request may never have arrived, or may still be
            // queued at the mint (a crashed process's request can be
            // processed late), so "inputs unspent" proves nothing yet. The
            // stored request is sent again: the mint pays the quote once,
            // whichever copy comes first, and refuses the other.
            "UNPAID" => self.resend_melt(&client, op, &keyset).await,
            _ => Ok(Settled::Unresolved),
        }
    }

    /// Finishes a paid melt with `change`; a change answer that does not
    /// check out stores nothing, and the melt stays for the next call.
    async fn settle_paid(
        &self,
        op: &Operation,
        keyset: &Keyset,
        change: &[BlindSignature],
    ) -> Result<Settled> {
        match self.finish_melt(op, keyset, change).await {
            Ok(melted) => Ok(Settled::Finished(melted)),
            Err(Error::InvalidResponse(_) | Error::Cashu(_)) => Ok(Settled::Unresolved),
            Err(e) => Err(e),
        }
    }

    /// `recover` for an unpaid melt: sends its stored request again and
    /// settles it from the answer; fails it only if the mint refuses or
    /// does not pay, and then still says the quote is unpaid and every
    /// input unspent.
    async fn resend_melt(
        &self,
        client: &MintClient,
        op: &Operation,
        keyset: &Keyset,
    ) -> Result<Settled> {
        let quote = op.quote_id.as_deref().ok_or(Error::CorruptRecord {
            what: "melt without a quote",
        })?;
        match client.melt(op.request.clone()).await {
            Ok(answer) if answer.state == "PAID" && answer.quote == quote => {
                self.note_quote_state(&op.mint, quote, &answer.state)
                    .await?;
                let change = answer.change.unwrap_or_default();
                self.settle_paid(op, keyset, &change).await
            }
            Ok(answer) if answer.state != "PENDING" => self.fail_unpaid(client, op, quote).await,
            Err(Error::Mint { .. }) => self.fail_unpaid(client, op, quote).await,
            _ => Ok(Settled::Unresolved),
        }
    }

    async fn fail_unpaid(
        &self,
        client: &MintClient,
        op: &Operation,
        quote: &str,
    ) -> Result<Settled> {
        let unpaid = matches!(
            client.melt_quote_state(quote).await,
            Ok(s) if s.state == "UNPAID"
        );
        if unpaid && self.fail_if_inputs_unspent(client, op).await? {
            self.note_quote_state(&op.mint, quote, "UNPAID").await?;
            Ok(Settled::Failed)
        } else {
            Ok(Settled::Unresolved)
        }
    }

    /// NUT-09 restore of the blank outputs: the signed ones, in order.
    async fn restore_change(
        &self,
        client: &MintClient,
        op: &Operation,
    ) -> Result<Vec<BlindSignature>> {
        if op.amounts.is_empty() {
            return Ok(Vec::new());
        }
        let outputs = self.operation_blinded_outputs(op)?;
        let messages: Vec<_> = outputs.iter().map(|o| o.message().clone()).collect();
        let found = client.restore(&messages).await?;
        Ok(found.into_iter().map_while(|s| s).collect())
    }
}

/// How settling a sent melt ended.
enum Settled {
    /// Paid, change stored.
    Finished(Melted),
    /// Not paid and cannot be any more: failed, inputs released.
    Failed,
    /// Not known yet: the melt stays sent.
    Unresolved,
}

fn melt_request(op: &Operation) -> Result<MeltRequest> {
    serde_json::from_str(&op.request).map_err(|_| Error::CorruptRecord { what: "request" })
}

fn melt_input_ys(op: &Operation) -> Result<Vec<String>> {
    melt_request(op)?
        .inputs
        .iter()
        .map(|p| Ok(p.y()?.to_hex()))
        .collect()
}

fn melt_inputs_total(op: &Operation) -> Result<u64> {
    Ok(Amount::try_sum(melt_request(op)?.inputs.iter().map(|p| p.amount))?.value())
}
