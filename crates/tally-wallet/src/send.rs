//! Sending a token, and reclaiming one the receiver has not redeemed.
//!
//! `send` first looks for held proofs worth exactly the amount (plus, if
//! the receiver's fee is included, exactly that fee): then no mint is
//! contacted, and one store transaction moves them `Unspent → Sent` with the
//! token and its history entry. Otherwise it runs a swap saga (kind
//! [`OperationKind::Send`]) like [`Wallet::swap`], with one more record
//! written before the request leaves: the token's `Preparing` record (memo,
//! format, how many outputs are the token's). Finishing the swap (at once or
//! in `recover`) stores the token's outputs as `Sent`, the change as
//! `Unspent`, and the token itself, in one transaction.
//!
//! A locked send ([`SendOptions::lock`], see [`crate::lock`]) always
//! swaps: the token's outputs carry the lock, stored with the operation.
//!
//! Proofs in a token stay the wallet's (`Sent`, counted in
//! [`crate::store::Balance::sent`]) until the mint says the receiver spent
//! them (`check_state` or `reclaim` mark them `Spent`). `reclaim` asks the
//! mint (NUT-07) and swaps back, as a saga, the proofs still unspent.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use tally_cashu::Amount;
use tally_cashu::fees::{Denominations, input_fee, split_with_fee};
use tally_cashu::limits::MAX_MEMO_LEN_BYTES;
use tally_cashu::nuts::nut00::{BlindSignature, BlindedOutput, MintUrl, Proof};
use tally_cashu::nuts::nut01::{CurrencyUnit, Keyset};
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};
use tally_cashu::token::{IdForm, Token};

use crate::client::SwapRequest;
use crate::error::{Error, Result};
use crate::lock::{SendLock, Unlock};
use crate::store::{
    HistoryEntry, Operation, OperationId, OperationKind, OperationState, PROOFS_PER_CALL_MAX,
    ProofState, SentToken, SentTokenState, StoredProof, TokenFormat, WalletStore,
};
use crate::wallet::{
    CHECK_BATCH, Counters, RESERVE_ATTEMPTS_MAX, SwapPlan, Wallet, active_id, bare, select,
    split_amounts, unblind,
};

/// What a send plans from: the mint's keysets and the proofs it may spend
/// (unspent, not locked), largest first.
struct Held {
    infos: Vec<KeySetInfo>,
    candidates: Vec<StoredProof>,
}

impl Held {
    /// Input fee per keyset (NUT-02 ppk).
    fn ppk(&self) -> BTreeMap<KeysetId, u64> {
        self.infos.iter().map(|k| (k.id, k.input_fee_ppk)).collect()
    }
}

/// The most fee values tried when looking for held proofs that pay an
/// amount and their own receiver fee exactly.
pub const EXACT_FEE_STEPS_MAX: u64 = 64;

/// How to send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Add the fee the receiver pays to swap the token (NUT-02, rounded up
    /// as mints do), so that the receiver gets the full amount.
    pub include_fees: bool,
    /// A memo for the receiver (at most [`MAX_MEMO_LEN_BYTES`] bytes).
    pub memo: Option<String>,
    /// V4 (default) or V3.
    pub format: TokenFormat,
    /// Never swap: fail unless held proofs match exactly.
    pub offline_only: bool,
    /// Lock the token (NUT-11 P2PK, NUT-14 HTLC, NUT-28 P2BK): its proofs
    /// are always made by a swap (held proofs have plain secrets).
    pub lock: Option<SendLock>,
}

/// A token made by `send`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Its id (for `reclaim`).
    pub id: OperationId,
    /// The token, encoded.
    pub token: String,
    /// Its value.
    pub amount: u64,
    /// Whether a swap was needed (else no mint was contacted).
    pub swapped: bool,
}

/// Which sent token to reclaim.
#[derive(Clone, Copy, Debug)]
pub enum SentRef<'a> {
    /// By the id `send` returned.
    Id(&'a OperationId),
    /// By the token text.
    Token(&'a str),
}

/// What `reclaim` found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReclaimReport {
    /// Value swapped back into spendable proofs (after the input fee).
    pub reclaimed: u64,
    /// Value the receiver had already spent (marked spent).
    pub redeemed: u64,
    /// Value the mint says is pending (left as it is; reclaim again later).
    pub pending: u64,
}

impl<S: WalletStore> Wallet<S> {
    /// Makes a token worth `amount` at `mint` (see the module documentation).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero amount, a memo too long, or
    /// `offline_only` without an exact match; [`Error::InsufficientFunds`];
    /// otherwise as [`Wallet::swap`]: an ambiguous failure leaves the send
    /// `Sent` for `recover` (retry only after it, see [`Error::retry`]).
    pub async fn send(&self, mint: &MintUrl, amount: u64, options: &SendOptions) -> Result<Sent> {
        if amount == 0 {
            return Err(Error::InvalidArgument("amount must be positive"));
        }
        if options
            .memo
            .as_ref()
            .is_some_and(|m| m.len() > MAX_MEMO_LEN_BYTES)
        {
            return Err(Error::InvalidArgument(
                "memo longer than MAX_MEMO_LEN_BYTES",
            ));
        }
        if let Some(lock) = &options.lock {
            // Checked before any proof or counter is touched.
            lock.output_lock(1)?;
            if options.offline_only {
                return Err(Error::InvalidArgument(
                    "a locked send needs a swap (offline_only is set)",
                ));
            }
            return self.send_swapped(mint, amount, options, None).await;
        }
        for _ in 0..RESERVE_ATTEMPTS_MAX {
            let held = self.held(mint).await?;
            match self.send_exact(mint, amount, options, &held).await {
                Ok(Some(sent)) => return Ok(sent),
                Ok(None) if options.offline_only => {
                    return Err(Error::InvalidArgument(
                        "no held proofs match the amount exactly (a swap is needed)",
                    ));
                }
                // The swap plans from what was just read.
                Ok(None) => return self.send_swapped(mint, amount, options, Some(held)).await,
                // Another operation took a proof first: look again.
                Err(Error::StateConflict { .. } | Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::StateConflict {
            what: "proofs (too many concurrent reservations)",
        })
    }

    async fn ppk_by_keyset(&self, mint: &MintUrl) -> Result<BTreeMap<KeysetId, u64>> {
        Ok(self
            .store()
            .keysets(mint)
            .await?
            .into_iter()
            .map(|k| (k.id, k.input_fee_ppk))
            .collect())
    }

    /// The mint's keysets and the proofs a send may spend (unspent, not
    /// locked), largest first, as the store holds them now.
    async fn held(&self, mint: &MintUrl) -> Result<Held> {
        let infos = self.store().keysets(mint).await?;
        let mut candidates = self.store().proofs(mint, ProofState::Unspent).await?;
        candidates.retain(|p| !crate::lock::is_locked(&p.proof));
        candidates.sort_by_key(|p| Reverse(p.proof.amount));
        Ok(Held { infos, candidates })
    }

    /// A token of held proofs that match exactly, in one store transaction;
    /// `None` if no such proofs are held.
    async fn send_exact(
        &self,
        mint: &MintUrl,
        amount: u64,
        options: &SendOptions,
        held: &Held,
    ) -> Result<Option<Sent>> {
        let ppk = held.ppk();
        let Some(picked) = exact_subset(&held.candidates, amount, options.include_fees, &ppk)?
        else {
            return Ok(None);
        };
        let proofs: Vec<Proof> = picked.iter().map(|p| p.proof.clone()).collect();
        let total = Amount::try_sum(proofs.iter().map(|p| p.amount))?.value();
        let id = OperationId::random()?;
        let text = encode(mint, proofs, options.memo.clone(), options.format)?;
        let token = SentToken {
            id: id.clone(),
            mint: mint.clone(),
            state: SentTokenState::Unredeemed,
            amount: total,
            memo: options.memo.clone(),
            format: options.format,
            send_count: picked.len(),
            ys: picked.iter().map(|p| p.y.clone()).collect(),
            token: text.clone(),
            created_s: (self.clock)(),
        };
        let history = HistoryEntry {
            operation: id.clone(),
            mint: mint.clone(),
            kind: OperationKind::Send,
            amount_in: 0,
            amount_out: total,
            at_s: (self.clock)(),
        };
        self.store().add_sent_token(&token, Some(&history)).await?;
        Ok(Some(Sent {
            id,
            token: text,
            amount: total,
            swapped: false,
        }))
    }

    /// The swap saga of a send: operation, token record, inputs, request;
    /// planned from `held` if given (what `send` just read), else from the
    /// store (and from it again after a lost race).
    async fn send_swapped(
        &self,
        mint: &MintUrl,
        amount: u64,
        options: &SendOptions,
        mut held: Option<Held>,
    ) -> Result<Sent> {
        let keyset = match &held {
            Some(h) => self.keyset(mint, &active_id(&h.infos)?).await?,
            None => self.active_keyset(mint).await?,
        };
        let client = self.client(mint)?;
        let receiver_ppk = options.include_fees.then_some(keyset.info().input_fee_ppk);
        for _ in 0..RESERVE_ATTEMPTS_MAX {
            let planned = match &options.lock {
                None => {
                    let held = match held.take() {
                        Some(h) => h,
                        None => self.held(mint).await?,
                    };
                    self.prepare_send_swap(mint, amount, &keyset, receiver_ppk, held)
                        .await?
                }
                Some(_) => None,
            };
            let plan = match planned {
                Some(planned) => planned,
                None => {
                    self.prepare_swap(
                        mint,
                        amount,
                        &keyset,
                        receiver_ppk,
                        OperationKind::Send,
                        options.lock.as_ref(),
                    )
                    .await?
                }
            };
            let op = plan.op;
            let record = SentToken {
                id: op.id.clone(),
                mint: mint.clone(),
                state: SentTokenState::Preparing,
                amount: 0,
                memo: options.memo.clone(),
                format: options.format,
                send_count: plan.send_count,
                ys: plan.direct.clone(),
                token: String::new(),
                created_s: (self.clock)(),
            };
            // The swap's inputs and the held proofs that go into the token
            // as they are, held together for the operation, written with it,
            // its counters and the token's record in one transaction
            // (WAL-57); a lost race writes nothing (plan again).
            let mut ys = plan.inputs;
            ys.extend(plan.direct);
            if !self.start(&op, &ys, Some(&record)).await? {
                continue;
            }
            if let Err(e) = self
                .exchange(&client, &op, &keyset, plan.outputs, plan.inputs_total)
                .await
            {
                self.abandon_if_failed(&op.id).await?;
                return Err(e);
            }
            let token = self
                .store()
                .sent_token(&op.id)
                .await?
                .ok_or(Error::NotFound { what: "sent token" })?;
            return Ok(Sent {
                id: op.id,
                token: token.token,
                amount: token.amount,
                swapped: true,
            });
        }
        Err(Error::StateConflict {
            what: "proofs (too many concurrent reservations)",
        })
    }

    /// Plans a send swap that gives held proofs as they are where their
    /// amounts are among the token's (the active keyset's, so the
    /// receiver's fee is the same) and swaps only for the rest: the
    /// smallest held proof that covers the rest and its own input fee, else
    /// the fewest (largest first). The swap then has the fewest outputs:
    /// the token's missing amounts and the change. `None` when no held
    /// proof fits (or the others cannot pay the rest): a plain send swap.
    /// Returns the operation (not yet written), its outputs, how many of
    /// them are the token's, and the `Y`s of the held proofs given as they
    /// are.
    async fn prepare_send_swap(
        &self,
        mint: &MintUrl,
        amount: u64,
        keyset: &Keyset,
        receiver_ppk: Option<u64>,
        held: Held,
    ) -> Result<Option<SwapPlan>> {
        let denominations = Denominations::from_keys(keyset.keys());
        let mut wanted = match receiver_ppk {
            Some(ppk) => split_with_fee(Amount::new(amount), ppk, &denominations)?.outputs,
            None => denominations.split(Amount::new(amount))?,
        };
        let ppk = held.ppk();
        let mut candidates = held.candidates;
        // Largest token amounts first, each matched by one held proof.
        wanted.sort_by_key(|a| Reverse(*a));
        let mut direct = Vec::new();
        let mut missing = Vec::new();
        for a in wanted {
            match candidates
                .iter()
                .position(|p| p.proof.amount == a && p.proof.keyset_id == keyset.id())
            {
                Some(i) => direct.push(candidates.remove(i)),
                None => missing.push(a),
            }
        }
        if direct.is_empty() || missing.is_empty() {
            return Ok(None);
        }
        let need = Amount::try_sum(missing.iter().copied())?;
        let Some((inputs, fee)) = cover(candidates, need.value(), &ppk)? else {
            return Ok(None);
        };
        let total = Amount::try_sum(inputs.iter().map(|p| p.proof.amount))?;
        let change = total
            .checked_sub(fee)
            .and_then(|t| t.checked_sub(need))
            .ok_or(Error::InsufficientFunds {
                available: total.value(),
                required: need.value().saturating_add(fee.value()),
            })?;
        missing.sort();
        let send_count = missing.len();
        let amounts: Vec<u64> = missing
            .iter()
            .chain(denominations.split(change)?.iter())
            .map(|a| a.value())
            .collect();
        let (op, outputs) = self
            .plan_locked_operation(
                mint,
                OperationKind::Send,
                &keyset.id(),
                amounts,
                None,
                None,
                Counters::Next,
                |outputs| SwapRequest {
                    inputs: inputs.iter().map(|p| bare(&p.proof)).collect(),
                    outputs,
                },
            )
            .await?;
        Ok(Some(SwapPlan {
            op,
            outputs,
            send_count,
            inputs: inputs.iter().map(|p| p.y.clone()).collect(),
            inputs_total: total.value(),
            direct: direct.into_iter().map(|p| p.y).collect(),
        }))
    }

    /// Finishes a send swap from the mint's signatures (checked like any
    /// others): the first `send_count` outputs become the token (`Sent`),
    /// with the held proofs its record names (given as they are), the rest
    /// change, all in one transaction with the token. Returns the change.
    pub(crate) async fn finish_send(
        &self,
        op: &Operation,
        keyset: &Keyset,
        outputs: Vec<BlindedOutput>,
        signatures: &[BlindSignature],
        amount_out: u64,
    ) -> Result<u64> {
        let record = self
            .store()
            .sent_token(&op.id)
            .await?
            .ok_or(Error::NotFound { what: "sent token" })?;
        let mut proofs = unblind(outputs, signatures, keyset)?;
        if record.send_count == 0 || record.send_count > proofs.len() {
            return Err(Error::CorruptRecord {
                what: "sent token output count",
            });
        }
        let change = proofs.split_off(record.send_count);
        if let Some(lock) = &op.lock {
            for (index, p) in proofs.iter_mut().enumerate() {
                p.p2pk_e = crate::lock::ephemeral_public(lock, index)?;
            }
        }
        let direct = self.held_for_token(op, &record.ys).await?;
        let direct_total = Amount::try_sum(direct.iter().map(|p| p.proof.amount))?.value();
        let amount_out = amount_out
            .checked_add(direct_total)
            .ok_or(Error::Cashu(tally_cashu::Error::AmountOverflow))?;
        let mut given: Vec<Proof> = proofs.clone();
        given.extend(direct.iter().map(|p| p.proof.clone()));
        let sent_total = Amount::try_sum(given.iter().map(|p| p.amount))?.value();
        let change_total = Amount::try_sum(change.iter().map(|p| p.amount))?.value();
        let text = encode(&op.mint, given, record.memo.clone(), record.format)?;
        let mut stored = Vec::with_capacity(proofs.len().saturating_add(change.len()));
        for p in proofs {
            stored.push(StoredProof::new(
                op.mint.clone(),
                p,
                ProofState::Sent,
                Some(op.id.clone()),
            )?);
        }
        let mut send_ys: Vec<String> = stored.iter().map(|p| p.y.clone()).collect();
        send_ys.extend(direct.into_iter().map(|p| p.y));
        for p in change {
            stored.push(StoredProof::new(
                op.mint.clone(),
                p,
                ProofState::Unspent,
                None,
            )?);
        }
        let token = SentToken {
            state: SentTokenState::Unredeemed,
            amount: sent_total,
            ys: send_ys,
            token: text,
            ..record
        };
        let history = HistoryEntry {
            operation: op.id.clone(),
            mint: op.mint.clone(),
            kind: OperationKind::Send,
            amount_in: change_total,
            amount_out,
            at_s: (self.clock)(),
        };
        self.store()
            .finish_send(&op.id, &stored, &history, &token)
            .await?;
        Ok(change_total)
    }

    /// The held proofs `ys` of a send swap's token record, which the
    /// operation holds to give as they are: pending, as every input of an
    /// operation that was sent (a swap is finished only once `Sent`).
    async fn held_for_token(&self, op: &Operation, ys: &[String]) -> Result<Vec<StoredProof>> {
        if ys.is_empty() {
            return Ok(Vec::new());
        }
        let held: Vec<StoredProof> = self
            .store()
            .proofs(&op.mint, ProofState::Pending)
            .await?
            .into_iter()
            .filter(|p| p.operation.as_ref() == Some(&op.id) && ys.contains(&p.y))
            .collect();
        if held.len() != ys.len() {
            return Err(Error::CorruptRecord {
                what: "sent token held proofs",
            });
        }
        Ok(held)
    }

    /// The sent tokens of `mint` not known to be redeemed.
    ///
    /// # Errors
    /// Store errors.
    pub async fn unredeemed(&self, mint: &MintUrl) -> Result<Vec<SentToken>> {
        self.store()
            .sent_tokens(mint, SentTokenState::Unredeemed)
            .await
    }

    /// Reclaims a sent token: asks the mint (NUT-07) for the state of its
    /// proofs, marks those spent as redeemed, and swaps back (a saga) those
    /// still unspent; pending ones are left for a later call.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a token this wallet did not send (or has
    /// already settled); client errors (nothing changed for the proofs not
    /// yet checked; safe to retry); the swap's errors as [`Wallet::swap`].
    pub async fn reclaim(&self, which: SentRef<'_>) -> Result<ReclaimReport> {
        self.reclaim_with(which, &Unlock::default()).await
    }

    /// [`Wallet::reclaim`] of a locked token: its unspent proofs are signed
    /// with `unlock`'s keys (the refund keys, once the locktime has passed;
    /// see [`crate::lock`]). If the lock is not satisfied the proofs stay
    /// `Sent`, nothing is sent ([`crate::Refusal::LockNotSatisfied`]) or the mint
    /// refuses ([`Error::Mint`]).
    ///
    /// # Errors
    /// As [`Wallet::reclaim`]; [`Error::TokenRefused`] for a lock `unlock`
    /// does not satisfy.
    pub async fn reclaim_with(&self, which: SentRef<'_>, unlock: &Unlock) -> Result<ReclaimReport> {
        let token = self.find_sent(which).await?;
        let held: Vec<StoredProof> = self
            .store()
            .proofs(&token.mint, ProofState::Sent)
            .await?
            .into_iter()
            .filter(|p| p.operation.as_ref() == Some(&token.id))
            .collect();
        let client = self.client(&token.mint)?;
        let mut report = ReclaimReport::default();
        let mut unspent = Vec::new();
        for chunk in held.chunks(CHECK_BATCH) {
            let ys: Vec<String> = chunk.iter().map(|p| p.y.clone()).collect();
            let states = client.check_state(&ys).await?;
            let mut spent = Vec::new();
            for (p, s) in chunk.iter().zip(states) {
                let amount = p.proof.amount.value();
                match s.state.as_str() {
                    "SPENT" => {
                        spent.push(p.y.clone());
                        report.redeemed = report.redeemed.saturating_add(amount);
                    }
                    "PENDING" => report.pending = report.pending.saturating_add(amount),
                    _ => unspent.push(p.clone()),
                }
            }
            self.mark_redeemed(&spent).await?;
        }
        let any_back = !unspent.is_empty();
        for chunk in unspent.chunks(PROOFS_PER_CALL_MAX) {
            let back = self.swap_back(&token, chunk, unlock).await?;
            report.reclaimed = report.reclaimed.saturating_add(back);
        }
        if report.pending == 0 {
            let to = if any_back {
                SentTokenState::Reclaimed
            } else {
                SentTokenState::Redeemed
            };
            self.store()
                .set_sent_token_state(&token.id, SentTokenState::Unredeemed, to)
                .await?;
        }
        Ok(report)
    }

    async fn find_sent(&self, which: SentRef<'_>) -> Result<SentToken> {
        let found = match which {
            SentRef::Id(id) => self.store().sent_token(id).await?,
            SentRef::Token(text) => {
                let token = Token::decode(text)?;
                let first = token
                    .proofs()
                    .first()
                    .ok_or(Error::Cashu(tally_cashu::Error::EmptyToken))?;
                let y = tally_cashu::crypto::hash_to_curve(first.secret.as_bytes())?.to_hex();
                self.unredeemed(token.mint())
                    .await?
                    .into_iter()
                    .find(|t| t.ys.contains(&y))
            }
        };
        found
            .filter(|t| t.state == SentTokenState::Unredeemed)
            .ok_or(Error::NotFound {
                what: "unredeemed sent token",
            })
    }

    /// Marks the token record of a send whose swap failed (definitively)
    /// abandoned: no token was made.
    pub(crate) async fn abandon_if_failed(&self, id: &OperationId) -> Result<()> {
        let failed = self
            .store()
            .operation(id)
            .await?
            .is_some_and(|op| op.state == OperationState::Failed);
        let preparing = self
            .store()
            .sent_token(id)
            .await?
            .is_some_and(|t| t.state == SentTokenState::Preparing);
        if failed && preparing {
            self.store()
                .set_sent_token_state(id, SentTokenState::Preparing, SentTokenState::Abandoned)
                .await?;
        }
        Ok(())
    }

    /// Gives locked proofs that a failed reclaim released (`Unspent`) back
    /// to the unredeemed token that holds them (`Sent`): without the keys
    /// they are not this wallet's to spend. `recover` calls it too, so a
    /// crash between the release and this step strands nothing.
    pub(crate) async fn return_locked(&self, mint: &MintUrl) -> Result<()> {
        let locked: Vec<StoredProof> = self
            .store()
            .proofs(mint, ProofState::Unspent)
            .await?
            .into_iter()
            .filter(|p| crate::lock::is_locked(&p.proof))
            .collect();
        if locked.is_empty() {
            return Ok(());
        }
        for token in self.unredeemed(mint).await? {
            let ys: Vec<String> = locked
                .iter()
                .filter(|p| token.ys.contains(&p.y))
                .map(|p| p.y.clone())
                .collect();
            for chunk in ys.chunks(PROOFS_PER_CALL_MAX) {
                self.store()
                    .set_proof_states(
                        chunk,
                        ProofState::Unspent,
                        ProofState::Sent,
                        Some(&token.id),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Marks proofs of sent tokens that the mint says are spent.
    pub(crate) async fn mark_redeemed(&self, ys: &[String]) -> Result<()> {
        for chunk in ys.chunks(PROOFS_PER_CALL_MAX) {
            self.store()
                .set_proof_states(chunk, ProofState::Sent, ProofState::Spent, None)
                .await?;
        }
        Ok(())
    }

    /// Swaps `Sent` proofs of `token` the mint says are unspent back into
    /// fresh outputs (a swap saga), signing locked ones with `unlock`;
    /// returns the value received. Locked proofs stay `Sent` whenever they
    /// are not swapped (a lock not satisfied, a refusal, worth no more than
    /// the fee): they are not spendable by this wallet.
    async fn swap_back(
        &self,
        token: &SentToken,
        proofs: &[StoredProof],
        unlock: &Unlock,
    ) -> Result<u64> {
        let mint = &token.mint;
        let ys: Vec<String> = proofs.iter().map(|p| p.y.clone()).collect();
        let locked = proofs.iter().any(|p| crate::lock::is_locked(&p.proof));
        let ppk = self.ppk_by_keyset(mint).await?;
        let fee = input_fee(
            proofs
                .iter()
                .map(|p| ppk.get(&p.proof.keyset_id).copied().unwrap_or(0)),
        )?;
        let total = Amount::try_sum(proofs.iter().map(|p| p.proof.amount))?;
        let net = total.checked_sub(fee).unwrap_or(Amount::ZERO);
        if net == Amount::ZERO {
            // Worth no more than the fee to swap: keep them as they are,
            // spendable again (the receiver may still redeem them) unless
            // locked.
            if !locked {
                self.store()
                    .set_proof_states(&ys, ProofState::Sent, ProofState::Unspent, None)
                    .await?;
            }
            return Ok(0);
        }
        // Witnesses first: a lock not satisfied changes nothing.
        let mut inputs: Vec<Proof> = proofs.iter().map(|p| p.proof.clone()).collect();
        let now = (self.clock)();
        let sig_all = crate::lock::sign_inputs(&mut inputs, unlock, now)?;
        let keyset = self.active_keyset(mint).await?;
        let amounts = split_amounts(&keyset, net)?;
        let (mut op, outputs) = self
            .plan_operation(
                mint,
                OperationKind::Swap,
                &keyset.id(),
                amounts,
                None,
                |outputs| SwapRequest {
                    inputs: inputs.iter().map(bare).collect(),
                    outputs,
                },
            )
            .await?;
        if sig_all {
            op.request = crate::lock::signed_all_request(&op, &mut inputs, unlock, now)?;
        }
        self.store().add_operation(&op).await?;
        self.store()
            .set_proof_states(&ys, ProofState::Sent, ProofState::Reserved, Some(&op.id))
            .await?;
        let client = self.client(mint)?;
        match self
            .run(&client, &op, &keyset, outputs, total.value())
            .await
        {
            Err(e @ Error::Mint { .. }) => {
                // Refused (the receiver may have redeemed them meanwhile):
                // the operation failed and released them; mark the spent,
                // and give locked ones back to the token.
                if let Ok(states) = client.check_state(&ys).await {
                    let spent: Vec<String> = states
                        .into_iter()
                        .filter(|s| s.state == "SPENT")
                        .map(|s| s.y)
                        .collect();
                    if !spent.is_empty() {
                        self.store()
                            .set_proof_states(&spent, ProofState::Unspent, ProofState::Spent, None)
                            .await?;
                    }
                }
                if locked {
                    self.return_locked(mint).await?;
                }
                Err(e)
            }
            other => other,
        }
    }
}

/// Inputs worth at least `need` plus their own input fee: the smallest
/// single proof that does, else the fewest, largest first (`candidates`
/// come largest first); `None` if they are not worth enough.
fn cover(
    candidates: Vec<StoredProof>,
    need: u64,
    ppk: &BTreeMap<KeysetId, u64>,
) -> Result<Option<(Vec<StoredProof>, Amount)>> {
    let mut single: Option<(usize, Amount)> = None;
    for (i, p) in candidates.iter().enumerate() {
        let fee = input_fee([ppk.get(&p.proof.keyset_id).copied().unwrap_or(0)])?;
        if p.proof.amount.value() >= need.saturating_add(fee.value()) {
            // Later candidates are no larger: the last that covers is the
            // smallest.
            single = Some((i, fee));
        }
    }
    if let Some((i, fee)) = single {
        let mut candidates = candidates;
        return Ok(Some((vec![candidates.swap_remove(i)], fee)));
    }
    match select(candidates, need, ppk) {
        Ok(picked) => Ok(Some(picked)),
        Err(Error::InsufficientFunds { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The token text for `proofs` (with their DLEQ proofs, so the receiver can
/// verify them offline).
fn encode(
    mint: &MintUrl,
    proofs: Vec<Proof>,
    memo: Option<String>,
    format: TokenFormat,
) -> Result<String> {
    let form = match format {
        TokenFormat::V4 => IdForm::Short,
        TokenFormat::V3 => IdForm::Full,
    };
    let token = Token::from_proofs(mint.clone(), Some(CurrencyUnit::sat()), memo, proofs, form)?;
    Ok(match format {
        TokenFormat::V4 => token.to_v4_string()?,
        TokenFormat::V3 => token.to_v3_string()?,
    })
}

/// Held proofs (largest first) worth exactly `amount`, or, with
/// `include_fees`, exactly `amount` plus their own input fee; greedy for
/// each candidate fee up to [`EXACT_FEE_STEPS_MAX`].
fn exact_subset<'a>(
    candidates: &'a [StoredProof],
    amount: u64,
    include_fees: bool,
    ppk: &BTreeMap<KeysetId, u64>,
) -> Result<Option<Vec<&'a StoredProof>>> {
    let steps = if include_fees { EXACT_FEE_STEPS_MAX } else { 0 };
    for fee in 0..=steps {
        let Some(target) = amount.checked_add(fee) else {
            return Ok(None);
        };
        let mut rest = target;
        let mut picked = Vec::new();
        for p in candidates {
            if rest == 0 {
                break;
            }
            let value = p.proof.amount.value();
            if value <= rest {
                rest -= value;
                picked.push(p);
            }
        }
        if rest != 0 || picked.is_empty() {
            continue;
        }
        let paid = input_fee(
            picked
                .iter()
                .map(|p| ppk.get(&p.proof.keyset_id).copied().unwrap_or(0)),
        )?;
        if !include_fees || paid.value() == fee {
            return Ok(Some(picked));
        }
    }
    Ok(None)
}
