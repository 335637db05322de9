//! The in-memory store: one lock around plain maps, for tests and for
//! callers that persist nothing. Each method is one critical section, so it
//! is atomic like a SQLite transaction; the lock is never held across an
//! `await`.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Mutex, MutexGuard};

use tally_cashu::nuts::nut00::MintUrl;
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};

use super::{
    Balance, HistoryEntry, MeltQuote, MeltQuoteState, MintQuote, Operation, OperationId,
    OperationKind, OperationState, ProofState, SentToken, SentTokenState, StoredProof, WalletStore,
    check_batch, check_counter_count, check_start, settled_before,
};
use crate::error::{Error, Result};

#[derive(Default)]
struct Inner {
    keysets: BTreeMap<String, (MintUrl, KeySetInfo, Option<Keyset>)>,
    counters: HashMap<String, u64>,
    proofs: BTreeMap<String, StoredProof>,
    operations: BTreeMap<OperationId, Operation>,
    quotes: BTreeMap<String, MintQuote>,
    /// In the order received.
    melt_quotes: Vec<MeltQuote>,
    history: Vec<HistoryEntry>,
    sent_tokens: BTreeMap<OperationId, SentToken>,
}

/// A [`WalletStore`] in memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-made change:
        // every method validates before it mutates.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn move_states(
    inner: &mut Inner,
    ys: &[String],
    from: ProofState,
    to: ProofState,
    operation: Option<&OperationId>,
) -> Result<()> {
    check_batch(ys.len())?;
    for y in ys {
        match inner.proofs.get(y) {
            Some(p) if p.state == from => {}
            Some(_) => return Err(Error::StateConflict { what: "proof" }),
            None => return Err(Error::NotFound { what: "proof" }),
        }
    }
    for y in ys {
        if let Some(p) = inner.proofs.get_mut(y) {
            p.state = to;
            p.operation = operation.cloned();
        }
    }
    Ok(())
}

fn held_by(inner: &Inner, id: &OperationId, state: ProofState) -> Vec<String> {
    inner
        .proofs
        .values()
        .filter(|p| p.state == state && p.operation.as_ref() == Some(id))
        .map(|p| p.y.clone())
        .collect()
}

/// Finishes a `Sent` operation: validates everything, then changes it all.
fn finish_in(
    inner: &mut Inner,
    id: &OperationId,
    outputs: &[StoredProof],
    history: &HistoryEntry,
) -> Result<()> {
    check_batch(outputs.len())?;
    let (quote, kind, mint, issued) = match inner.operations.get(id) {
        Some(op) if op.state == OperationState::Sent => (
            op.quote_id.clone(),
            op.kind,
            op.mint.clone(),
            op.issued_quotes()?,
        ),
        Some(_) => return Err(Error::StateConflict { what: "operation" }),
        None => return Err(Error::NotFound { what: "operation" }),
    };
    let mut seen = std::collections::HashSet::new();
    for p in outputs {
        if inner.proofs.contains_key(&p.y) || !seen.insert(&p.y) {
            return Err(Error::AlreadyExists { what: "proof" });
        }
    }
    let mut held = held_by(inner, id, ProofState::Reserved);
    held.extend(held_by(inner, id, ProofState::Pending));
    for y in &held {
        if let Some(p) = inner.proofs.get_mut(y) {
            p.state = ProofState::Spent;
        }
    }
    for p in outputs {
        inner.proofs.insert(p.y.clone(), p.clone());
    }
    if kind == OperationKind::Melt {
        if let Some(q) = quote.and_then(|q| melt_quote_mut(inner, &mint, &q)) {
            q.state = MeltQuoteState::Paid;
        }
    } else {
        for q in issued {
            if let Some(q) = inner.quotes.get_mut(&q) {
                q.state = "ISSUED".to_owned();
            }
        }
    }
    inner.history.push(history.clone());
    if let Some(op) = inner.operations.get_mut(id) {
        op.state = OperationState::Done;
    }
    Ok(())
}

fn melt_quote_mut<'a>(inner: &'a mut Inner, mint: &MintUrl, id: &str) -> Option<&'a mut MeltQuote> {
    inner
        .melt_quotes
        .iter_mut()
        .find(|q| &q.mint == mint && q.id == id)
}

impl WalletStore for MemoryStore {
    async fn put_keyset(
        &self,
        mint: &MintUrl,
        info: &KeySetInfo,
        keyset: Option<&Keyset>,
    ) -> Result<()> {
        let mut inner = self.lock();
        let key = info.id.to_hex();
        let keys = match (keyset, inner.keysets.get(&key)) {
            (Some(k), _) => Some(k.clone()),
            (None, Some((_, _, old))) => old.clone(),
            (None, None) => None,
        };
        inner
            .keysets
            .insert(key, (mint.clone(), info.clone(), keys));
        Ok(())
    }

    async fn keysets(&self, mint: &MintUrl) -> Result<Vec<KeySetInfo>> {
        let inner = self.lock();
        Ok(inner
            .keysets
            .values()
            .filter(|(m, _, _)| m == mint)
            .map(|(_, info, _)| info.clone())
            .collect())
    }

    async fn keyset(&self, id: &KeysetId) -> Result<Option<Keyset>> {
        let inner = self.lock();
        Ok(inner
            .keysets
            .get(&id.to_hex())
            .and_then(|(_, _, k)| k.clone()))
    }

    async fn reserve_counters(&self, keyset: &KeysetId, count: u64) -> Result<Range<u64>> {
        check_counter_count(count)?;
        let mut inner = self.lock();
        let next = inner.counters.entry(keyset.to_hex()).or_insert(0);
        let start = *next;
        let end = start
            .checked_add(count)
            .filter(|e| i64::try_from(*e).is_ok())
            .ok_or(Error::CounterExhausted(*keyset))?;
        *next = end;
        Ok(start..end)
    }

    async fn next_counter(&self, keyset: &KeysetId) -> Result<u64> {
        Ok(self
            .lock()
            .counters
            .get(&keyset.to_hex())
            .copied()
            .unwrap_or(0))
    }

    async fn advance_counter(&self, keyset: &KeysetId, next: u64) -> Result<u64> {
        if i64::try_from(next).is_err() {
            return Err(Error::CounterExhausted(*keyset));
        }
        let mut inner = self.lock();
        let now = inner.counters.entry(keyset.to_hex()).or_insert(0);
        *now = (*now).max(next);
        Ok(*now)
    }

    async fn add_missing_proofs(&self, proofs: &[StoredProof]) -> Result<Vec<String>> {
        check_batch(proofs.len())?;
        let mut inner = self.lock();
        let mut added = Vec::new();
        for p in proofs {
            if !inner.proofs.contains_key(&p.y) {
                inner.proofs.insert(p.y.clone(), p.clone());
                added.push(p.y.clone());
            }
        }
        Ok(added)
    }

    async fn add_proofs(&self, proofs: &[StoredProof]) -> Result<()> {
        check_batch(proofs.len())?;
        let mut inner = self.lock();
        let mut seen = std::collections::HashSet::new();
        for p in proofs {
            if inner.proofs.contains_key(&p.y) || !seen.insert(&p.y) {
                return Err(Error::AlreadyExists { what: "proof" });
            }
        }
        for p in proofs {
            inner.proofs.insert(p.y.clone(), p.clone());
        }
        Ok(())
    }

    async fn proofs(&self, mint: &MintUrl, state: ProofState) -> Result<Vec<StoredProof>> {
        let inner = self.lock();
        Ok(inner
            .proofs
            .values()
            .filter(|p| &p.mint == mint && p.state == state)
            .cloned()
            .collect())
    }

    async fn held_ys(&self, ys: &[String]) -> Result<Vec<String>> {
        check_batch(ys.len())?;
        let inner = self.lock();
        Ok(ys
            .iter()
            .filter(|y| inner.proofs.contains_key(*y))
            .cloned()
            .collect())
    }

    async fn reserve_proofs(&self, ys: &[String], operation: &OperationId) -> Result<()> {
        let mut inner = self.lock();
        move_states(
            &mut inner,
            ys,
            ProofState::Unspent,
            ProofState::Reserved,
            Some(operation),
        )
    }

    async fn set_proof_states(
        &self,
        ys: &[String],
        from: ProofState,
        to: ProofState,
        operation: Option<&OperationId>,
    ) -> Result<()> {
        let mut inner = self.lock();
        move_states(&mut inner, ys, from, to, operation)
    }

    async fn balance(&self, mint: &MintUrl) -> Result<Balance> {
        let inner = self.lock();
        let mut b = Balance::default();
        for p in inner.proofs.values().filter(|p| &p.mint == mint) {
            let slot = match p.state {
                ProofState::Unspent => &mut b.unspent,
                ProofState::Reserved => &mut b.reserved,
                ProofState::Pending => &mut b.pending,
                ProofState::Sent => &mut b.sent,
                ProofState::Spent => continue,
            };
            *slot = slot
                .checked_add(p.proof.amount.value())
                .ok_or(Error::Cashu(tally_cashu::Error::AmountOverflow))?;
        }
        Ok(b)
    }

    async fn add_operation(&self, op: &Operation) -> Result<()> {
        let mut inner = self.lock();
        if inner.operations.contains_key(&op.id) {
            return Err(Error::AlreadyExists { what: "operation" });
        }
        if op.state != OperationState::Prepared {
            return Err(Error::InvalidArgument("a new operation must be prepared"));
        }
        inner.operations.insert(op.id.clone(), op.clone());
        Ok(())
    }

    async fn start_operation(
        &self,
        op: &Operation,
        inputs: &[String],
        token: Option<&SentToken>,
    ) -> Result<()> {
        check_start(op, inputs, token)?;
        let mut inner = self.lock();
        // Everything checked before anything changes.
        let keyset = op.keyset_id.to_hex();
        let counting = op.counters.end > op.counters.start;
        if counting && inner.counters.get(&keyset).copied().unwrap_or(0) != op.counters.start {
            return Err(Error::StateConflict { what: "counters" });
        }
        if inner.operations.contains_key(&op.id) {
            return Err(Error::AlreadyExists { what: "operation" });
        }
        if token.is_some_and(|t| inner.sent_tokens.contains_key(&t.id)) {
            return Err(Error::AlreadyExists { what: "sent token" });
        }
        move_states(
            &mut inner,
            inputs,
            ProofState::Unspent,
            ProofState::Pending,
            Some(&op.id),
        )?;
        if counting {
            inner.counters.insert(keyset, op.counters.end);
        }
        inner.operations.insert(op.id.clone(), op.clone());
        if let Some(token) = token {
            inner.sent_tokens.insert(token.id.clone(), token.clone());
        }
        Ok(())
    }

    async fn operation(&self, id: &OperationId) -> Result<Option<Operation>> {
        Ok(self.lock().operations.get(id).cloned())
    }

    async fn incomplete_operations(&self) -> Result<Vec<Operation>> {
        Ok(self
            .lock()
            .operations
            .values()
            .filter(|o| matches!(o.state, OperationState::Prepared | OperationState::Sent))
            .cloned()
            .collect())
    }

    async fn set_operation_state(
        &self,
        id: &OperationId,
        from: OperationState,
        to: OperationState,
    ) -> Result<()> {
        let mut inner = self.lock();
        match inner.operations.get(id) {
            Some(op) if op.state == from && from.may_become(to) => {}
            Some(_) => return Err(Error::StateConflict { what: "operation" }),
            None => return Err(Error::NotFound { what: "operation" }),
        }
        if to == OperationState::Sent {
            let held = held_by(&inner, id, ProofState::Reserved);
            move_states(
                &mut inner,
                &held,
                ProofState::Reserved,
                ProofState::Pending,
                Some(id),
            )?;
        }
        if to == OperationState::Failed {
            for state in [ProofState::Reserved, ProofState::Pending] {
                let held = held_by(&inner, id, state);
                move_states(&mut inner, &held, state, ProofState::Unspent, None)?;
            }
        }
        if let Some(op) = inner.operations.get_mut(id) {
            op.state = to;
        }
        Ok(())
    }

    async fn finish_operation(
        &self,
        id: &OperationId,
        outputs: &[StoredProof],
        history: &HistoryEntry,
    ) -> Result<()> {
        finish_in(&mut self.lock(), id, outputs, history)
    }

    async fn put_quote(&self, quote: &MintQuote) -> Result<()> {
        self.lock().quotes.insert(quote.id.clone(), quote.clone());
        Ok(())
    }

    async fn quote(&self, id: &str) -> Result<Option<MintQuote>> {
        Ok(self.lock().quotes.get(id).cloned())
    }

    async fn add_melt_quote(&self, quote: &MeltQuote) -> Result<()> {
        let mut inner = self.lock();
        if melt_quote_mut(&mut inner, &quote.mint, &quote.id).is_some() {
            return Err(Error::AlreadyExists { what: "melt quote" });
        }
        inner.melt_quotes.push(quote.clone());
        Ok(())
    }

    async fn melt_quote(&self, mint: &MintUrl, id: &str) -> Result<Option<MeltQuote>> {
        Ok(melt_quote_mut(&mut self.lock(), mint, id).map(|q| q.clone()))
    }

    async fn set_melt_quote_state(
        &self,
        mint: &MintUrl,
        id: &str,
        state: MeltQuoteState,
    ) -> Result<()> {
        let mut inner = self.lock();
        let quote =
            melt_quote_mut(&mut inner, mint, id).ok_or(Error::NotFound { what: "melt quote" })?;
        if quote.state == MeltQuoteState::Paid && state != MeltQuoteState::Paid {
            return Err(Error::StateConflict { what: "melt quote" });
        }
        quote.state = state;
        Ok(())
    }

    async fn melt_quotes(&self, limit: usize) -> Result<Vec<MeltQuote>> {
        let inner = self.lock();
        Ok(inner
            .melt_quotes
            .iter()
            .rev()
            .take(limit.min(super::HISTORY_PAGE_MAX))
            .cloned()
            .collect())
    }

    async fn prune_melt_quotes(&self, before_s: u64) -> Result<usize> {
        let mut inner = self.lock();
        let needed: Vec<(MintUrl, String)> = inner
            .operations
            .values()
            .filter(|o| {
                o.kind == OperationKind::Melt
                    && matches!(o.state, OperationState::Prepared | OperationState::Sent)
            })
            .filter_map(|o| Some((o.mint.clone(), o.quote_id.clone()?)))
            .collect();
        let before = inner.melt_quotes.len();
        inner.melt_quotes.retain(|q| {
            !settled_before(q, before_s) || needed.iter().any(|(m, id)| *m == q.mint && *id == q.id)
        });
        Ok(before.saturating_sub(inner.melt_quotes.len()))
    }

    async fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>> {
        let inner = self.lock();
        Ok(inner
            .history
            .iter()
            .rev()
            .take(limit.min(super::HISTORY_PAGE_MAX))
            .cloned()
            .collect())
    }

    async fn add_sent_token(
        &self,
        token: &SentToken,
        history: Option<&HistoryEntry>,
    ) -> Result<()> {
        let mut inner = self.lock();
        if inner.sent_tokens.contains_key(&token.id) {
            return Err(Error::AlreadyExists { what: "sent token" });
        }
        match token.state {
            SentTokenState::Preparing => {}
            SentTokenState::Unredeemed => {
                move_states(
                    &mut inner,
                    &token.ys,
                    ProofState::Unspent,
                    ProofState::Sent,
                    Some(&token.id),
                )?;
                if let Some(h) = history {
                    inner.history.push(h.clone());
                }
            }
            _ => {
                return Err(Error::InvalidArgument(
                    "a new token is preparing or unredeemed",
                ));
            }
        }
        inner.sent_tokens.insert(token.id.clone(), token.clone());
        Ok(())
    }

    async fn finish_send(
        &self,
        id: &OperationId,
        outputs: &[StoredProof],
        history: &HistoryEntry,
        token: &SentToken,
    ) -> Result<()> {
        let mut inner = self.lock();
        match inner.sent_tokens.get(id) {
            Some(t) if t.state == SentTokenState::Preparing && token.id == *id => {}
            Some(_) => return Err(Error::StateConflict { what: "sent token" }),
            None => return Err(Error::NotFound { what: "sent token" }),
        }
        // Held proofs that go into the token as they are: sent, not spent
        // (found before, changed after finish_in has validated everything).
        let mut held = held_by(&inner, id, ProofState::Reserved);
        held.extend(held_by(&inner, id, ProofState::Pending));
        held.retain(|y| token.ys.contains(y));
        finish_in(&mut inner, id, outputs, history)?;
        for y in &held {
            if let Some(p) = inner.proofs.get_mut(y) {
                p.state = ProofState::Sent;
            }
        }
        inner.sent_tokens.insert(id.clone(), token.clone());
        Ok(())
    }

    async fn sent_token(&self, id: &OperationId) -> Result<Option<SentToken>> {
        Ok(self.lock().sent_tokens.get(id).cloned())
    }

    async fn sent_tokens(&self, mint: &MintUrl, state: SentTokenState) -> Result<Vec<SentToken>> {
        Ok(self
            .lock()
            .sent_tokens
            .values()
            .filter(|t| &t.mint == mint && t.state == state)
            .cloned()
            .collect())
    }

    async fn set_sent_token_state(
        &self,
        id: &OperationId,
        from: SentTokenState,
        to: SentTokenState,
    ) -> Result<()> {
        let mut inner = self.lock();
        match inner.sent_tokens.get_mut(id) {
            Some(t) if t.state == from => {
                t.state = to;
                Ok(())
            }
            Some(_) => Err(Error::StateConflict { what: "sent token" }),
            None => Err(Error::NotFound { what: "sent token" }),
        }
    }
}
