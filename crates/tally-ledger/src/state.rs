//! The state machine: accounts, transfers, pending holds and their expiry.

use std::collections::{BTreeMap, BTreeSet};

/// The ledger's maps: keyed by client-chosen ids, hashed with a per-map
/// random seed (foldhash), so ids cannot be chosen to collide.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use crate::result::{CreateAccountResult as AR, CreateTransferResult as TR};
use crate::types::{
    Account, AccountBalance, AccountFlags, MAX_BATCH_EVENTS, NANOS_PER_SECOND, NewAccount,
    NewTransfer, PendingState, Transfer, TransferFlags,
};

/// A batch the ledger refuses whole (nothing applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError {
    /// More than [`MAX_BATCH_EVENTS`] events.
    TooLarge {
        /// Events in the batch.
        events: usize,
    },
    /// The clock would pass `u64::MAX`.
    ClockExhausted,
}

impl core::fmt::Display for BatchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooLarge { events } => write!(
                f,
                "a batch holds at most {MAX_BATCH_EVENTS} events, this one {events}"
            ),
            Self::ClockExhausted => f.write_str("the ledger's clock is exhausted"),
        }
    }
}

impl std::error::Error for BatchError {}

/// A 256-bit unsigned sum, so that totals over any number of accounts are
/// exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sum {
    /// The high 128 bits.
    pub hi: u128,
    /// The low 128 bits.
    pub lo: u128,
}

impl Sum {
    /// Adds `v`, exactly.
    pub fn add(&mut self, v: u128) {
        let (lo, carry) = self.lo.overflowing_add(v);
        self.lo = lo;
        // The high half cannot overflow: it would take 2^128 accounts.
        self.hi = self.hi.wrapping_add(u128::from(carry));
    }
}

/// The four balance totals of one ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Totals {
    /// Σ held debits.
    pub debits_pending: Sum,
    /// Σ posted debits.
    pub debits_posted: Sum,
    /// Σ held credits.
    pub credits_pending: Sum,
    /// Σ posted credits.
    pub credits_posted: Sum,
}

impl Totals {
    /// Whether double entry holds: held debits equal held credits, posted
    /// debits equal posted credits.
    #[must_use]
    pub fn balanced(&self) -> bool {
        self.debits_pending == self.credits_pending && self.debits_posted == self.credits_posted
    }
}

/// What a linked chain changed, to undo it when a later event of the chain
/// fails.
#[derive(Debug, Clone)]
enum Undo {
    Account(Account),
    NewAccount(u128),
    NewTransfer(u128),
    Pending(u128, Option<PendingState>),
    ExpiryAdded(u64, u128),
    AccountTransfer(u128),
    History(u128),
}

/// The ledger: a pure, deterministic state machine. The caller passes the
/// clock; nothing here reads one, or does I/O.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    pub(crate) accounts: HashMap<u128, Account>,
    pub(crate) transfers: crate::arena::TransferStore,
    pub(crate) pending: HashMap<u128, PendingState>,
    pub(crate) expiries: BTreeSet<(u64, u128)>,
    pub(crate) failed: HashMap<u128, TR>,
    pub(crate) account_transfers: HashMap<u128, Vec<u128>>,
    pub(crate) history: HashMap<u128, Vec<AccountBalance>>,
    pub(crate) clock: u64,
    /// Transfers restored from a snapshot (immutable, shared by clones).
    pub(crate) frozen: std::sync::Arc<crate::frozen::Frozen>,
    /// The undo log's buffer, kept between chains (no allocation per event).
    undo: Vec<Undo>,
}

/// The results a chain gives its events: success, failed by another event
/// of the chain, left open at the end of the batch.
#[derive(Clone, Copy)]
struct ChainCodes<R> {
    ok: R,
    failed_link: R,
    open: R,
    exists: R,
}

/// What applying one event did (or why not), before the chain decides.
type Step<R> = Result<(), R>;

fn is_linked_account(e: &NewAccount) -> bool {
    e.flags.contains(AccountFlags::LINKED)
}

fn is_linked_transfer(e: &NewTransfer) -> bool {
    e.flags.contains(TransferFlags::LINKED)
}

fn has_history(a: &Account) -> bool {
    a.flags.contains(AccountFlags::HISTORY)
}

impl Ledger {
    /// An empty ledger.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A transfer: created since the last restore, or restored.
    #[inline]
    pub(crate) fn get_transfer(&self, id: u128) -> Option<Transfer> {
        self.transfers
            .get(&id)
            .copied()
            .or_else(|| self.frozen.get(id))
    }

    /// Whether transfer `id` exists (without reading a restored one).
    #[inline]
    pub(crate) fn has_transfer(&self, id: u128) -> bool {
        self.transfers.contains_key(&id) || self.frozen.contains(id)
    }

    /// The journal record that created a transfer restored from a snapshot.
    #[must_use]
    pub(crate) fn frozen_seq(&self, id: u128) -> Option<u64> {
        self.frozen.seq(id)
    }

    /// The last timestamp the ledger assigned (nanoseconds).
    #[must_use]
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// The next timestamp: `now`, or one past the last when `now` is not
    /// after it (the ledger's timestamps strictly increase).
    fn tick(&mut self, now: u64) -> Result<u64, BatchError> {
        let next = self
            .clock
            .checked_add(1)
            .ok_or(BatchError::ClockExhausted)?
            .max(now);
        self.clock = next;
        Ok(next)
    }

    fn check_size(n: usize) -> Result<(), BatchError> {
        if n > MAX_BATCH_EVENTS {
            return Err(BatchError::TooLarge { events: n });
        }
        Ok(())
    }

    /// Runs `events` as linked chains: each chain's events succeed together
    /// or none does (the failing one gets its result, the others
    /// `linked_event_failed`); a chain still open at the end of the batch
    /// fails with `linked_event_chain_open`.
    fn chains<E, R: Copy + PartialEq>(
        &mut self,
        events: &[E],
        linked: fn(&E) -> bool,
        codes: ChainCodes<R>,
        mut apply: impl FnMut(&mut Self, &E, &mut Vec<Undo>) -> Step<R>,
        mut record_failure: impl FnMut(&mut Self, &E, R),
    ) -> Vec<R> {
        let ChainCodes {
            ok,
            failed_link,
            open,
            exists,
        } = codes;
        let mut results = vec![ok; events.len()];
        let mut start = 0;
        while start < events.len() {
            let rest = events.get(start..).unwrap_or_default();
            let Some(len) = rest.iter().position(|e| !linked(e)).map(|p| p + 1) else {
                for r in results.iter_mut().skip(start) {
                    *r = open;
                }
                break;
            };
            let chain = rest.get(..len).unwrap_or_default();
            let mut undo = std::mem::take(&mut self.undo);
            undo.clear();
            let mut failure = None;
            for (k, event) in chain.iter().enumerate() {
                if let Err(r) = apply(self, event, &mut undo) {
                    failure = Some((k, r));
                    break;
                }
            }
            // A chain applied before, resubmitted whole: every event exists,
            // and each says so (an idempotent retry of a linked batch).
            if let Some((0, r)) = failure
                && r == exists
                && chain
                    .iter()
                    .skip(1)
                    .all(|event| apply(self, event, &mut undo) == Err(exists))
            {
                for slot in results.iter_mut().skip(start).take(len) {
                    *slot = exists;
                }
                failure = None;
            }
            if let Some((k, r)) = failure {
                self.rollback(&mut undo);
                for (m, slot) in results.iter_mut().skip(start).take(len).enumerate() {
                    *slot = if m == k { r } else { failed_link };
                }
                if let Some(event) = chain.get(k) {
                    record_failure(self, event, r);
                }
            }
            undo.clear();
            self.undo = undo;
            start += len;
        }
        results
    }

    fn rollback(&mut self, undo: &mut Vec<Undo>) {
        while let Some(step) = undo.pop() {
            match step {
                Undo::Account(a) => {
                    self.accounts.insert(a.id, a);
                }
                Undo::NewAccount(id) => {
                    self.accounts.remove(&id);
                }
                Undo::NewTransfer(id) => {
                    self.transfers.remove(&id);
                }
                Undo::Pending(id, before) => match before {
                    Some(state) => {
                        self.pending.insert(id, state);
                    }
                    None => {
                        self.pending.remove(&id);
                    }
                },
                Undo::ExpiryAdded(at, id) => {
                    self.expiries.remove(&(at, id));
                }
                Undo::AccountTransfer(account) => {
                    if let Some(list) = self.account_transfers.get_mut(&account) {
                        list.pop();
                    }
                }
                Undo::History(account) => {
                    if let Some(list) = self.history.get_mut(&account) {
                        list.pop();
                    }
                }
            }
        }
    }

    /// Creates accounts; one result per event.
    ///
    /// # Errors
    /// [`BatchError`]: the whole batch is refused, nothing changes.
    pub fn create_accounts(
        &mut self,
        events: &[NewAccount],
        now: u64,
    ) -> Result<Vec<AR>, BatchError> {
        Self::check_size(events.len())?;
        // Reserve the batch's timestamps up front, so a refused clock
        // refuses the whole batch.
        let needed = u64::try_from(events.len()).unwrap_or(u64::MAX);
        if self.clock.checked_add(needed).is_none() {
            return Err(BatchError::ClockExhausted);
        }
        Ok(self.chains(
            events,
            is_linked_account,
            ChainCodes {
                ok: AR::Ok,
                failed_link: AR::LinkedEventFailed,
                open: AR::LinkedEventChainOpen,
                exists: AR::Exists,
            },
            |ledger, e, undo| ledger.create_account(e, now, undo),
            |_, _, _| {},
        ))
    }

    fn create_account(&mut self, e: &NewAccount, now: u64, undo: &mut Vec<Undo>) -> Step<AR> {
        check_new_account(e)?;
        if let Some(a) = self.accounts.get(&e.id) {
            return Err(Self::account_exists(a, e));
        }
        // Checked in create_accounts: the batch's ticks fit.
        let timestamp = self.tick(now).unwrap_or(u64::MAX);
        self.accounts.insert(
            e.id,
            Account {
                id: e.id,
                debits_pending: 0,
                debits_posted: 0,
                credits_pending: 0,
                credits_posted: 0,
                user_data_128: e.user_data_128,
                user_data_64: e.user_data_64,
                user_data_32: e.user_data_32,
                ledger: e.ledger,
                code: e.code,
                flags: e.flags,
                timestamp,
            },
        );
        undo.push(Undo::NewAccount(e.id));
        Ok(())
    }

    /// Creates transfers (and posts or voids pending ones) after expiring
    /// every pending transfer whose timeout has passed at `now`; one result
    /// per event.
    ///
    /// # Errors
    /// [`BatchError`]: the whole batch is refused, nothing changes.
    pub fn create_transfers(
        &mut self,
        events: &[NewTransfer],
        now: u64,
    ) -> Result<Vec<TR>, BatchError> {
        Self::check_size(events.len())?;
        let needed = u64::try_from(events.len()).unwrap_or(u64::MAX);
        if self.clock.checked_add(needed).is_none() {
            return Err(BatchError::ClockExhausted);
        }
        self.expire(now);
        Ok(self.chains(
            events,
            is_linked_transfer,
            ChainCodes {
                ok: TR::Ok,
                failed_link: TR::LinkedEventFailed,
                open: TR::LinkedEventChainOpen,
                exists: TR::Exists,
            },
            |ledger, e, undo| ledger.create_transfer(e, now, undo),
            |ledger, e, r| {
                if r.is_transient() && !ledger.has_transfer(e.id) {
                    ledger.failed.entry(e.id).or_insert(r);
                }
            },
        ))
    }

    /// Applies one transfer event: the same as `create_transfers(&[*e], now)`
    /// and its one result, without a batch's allocations.
    ///
    /// # Errors
    /// [`BatchError::ClockExhausted`]: nothing changes.
    pub fn create_transfer_one(&mut self, e: &NewTransfer, now: u64) -> Result<TR, BatchError> {
        if self.clock.checked_add(1).is_none() {
            return Err(BatchError::ClockExhausted);
        }
        self.expire(now);
        // A chain of one linked event is still open at the end of its batch.
        if is_linked_transfer(e) {
            return Ok(TR::LinkedEventChainOpen);
        }
        let mut undo = std::mem::take(&mut self.undo);
        undo.clear();
        let result = match self.create_transfer(e, now, &mut undo) {
            Ok(()) => TR::Ok,
            Err(r) => {
                // Every check precedes the first change: nothing to undo,
                // but roll back whatever was logged all the same.
                self.rollback(&mut undo);
                if r.is_transient() && !self.has_transfer(e.id) {
                    self.failed.entry(e.id).or_insert(r);
                }
                r
            }
        };
        undo.clear();
        self.undo = undo;
        Ok(result)
    }

    /// Releases every pending transfer whose expiry is at or before `now`.
    pub fn expire(&mut self, now: u64) {
        while let Some(&(at, id)) = self.expiries.first() {
            if at > now {
                break;
            }
            self.expiries.remove(&(at, id));
            let Some(t) = self.get_transfer(id) else {
                continue;
            };
            if self.pending.get(&id) != Some(&PendingState::Pending) {
                continue;
            }
            self.pending.insert(id, PendingState::Expired);
            let timestamp = self.tick(now).unwrap_or(u64::MAX);
            if let Some(d) = self.accounts.get_mut(&t.debit_account_id) {
                d.debits_pending = d.debits_pending.saturating_sub(t.amount);
            }
            if let Some(c) = self.accounts.get_mut(&t.credit_account_id) {
                c.credits_pending = c.credits_pending.saturating_sub(t.amount);
            }
            let mut scratch = Vec::new();
            self.record_history(t.debit_account_id, timestamp, &mut scratch);
            self.record_history(t.credit_account_id, timestamp, &mut scratch);
        }
    }

    fn record_history(&mut self, account: u128, timestamp: u64, undo: &mut Vec<Undo>) {
        let Some(a) = self.accounts.get(&account) else {
            return;
        };
        if !a.flags.contains(AccountFlags::HISTORY) {
            return;
        }
        let entry = AccountBalance {
            timestamp,
            debits_pending: a.debits_pending,
            debits_posted: a.debits_posted,
            credits_pending: a.credits_pending,
            credits_posted: a.credits_posted,
        };
        self.history.entry(account).or_default().push(entry);
        undo.push(Undo::History(account));
    }

    /// The result of creating `e` when `a` exists with its id.
    pub(crate) fn account_exists(a: &Account, e: &NewAccount) -> AR {
        let ignore_link = |f: AccountFlags| f.bits() & !AccountFlags::LINKED.bits();
        if ignore_link(a.flags) != ignore_link(e.flags) {
            AR::ExistsWithDifferentFlags
        } else if a.user_data_128 != e.user_data_128 {
            AR::ExistsWithDifferentUserData128
        } else if a.user_data_64 != e.user_data_64 {
            AR::ExistsWithDifferentUserData64
        } else if a.user_data_32 != e.user_data_32 {
            AR::ExistsWithDifferentUserData32
        } else if a.ledger != e.ledger {
            AR::ExistsWithDifferentLedger
        } else if a.code != e.code {
            AR::ExistsWithDifferentCode
        } else {
            AR::Exists
        }
    }

    /// The result of resubmitting `e` when `t` exists with its id.
    pub(crate) fn exists(t: &Transfer, e: &NewTransfer) -> TR {
        let ignore_link = |f: TransferFlags| f.bits() & !TransferFlags::LINKED.bits();
        let post_or_void = e.flags.contains(TransferFlags::POST_PENDING_TRANSFER)
            || e.flags.contains(TransferFlags::VOID_PENDING_TRANSFER);
        let balancing = e.flags.contains(TransferFlags::BALANCING_DEBIT)
            || e.flags.contains(TransferFlags::BALANCING_CREDIT);
        if ignore_link(t.flags) != ignore_link(e.flags) {
            TR::ExistsWithDifferentFlags
        } else if (!post_or_void || e.debit_account_id != 0)
            && t.debit_account_id != e.debit_account_id
        {
            TR::ExistsWithDifferentDebitAccountId
        } else if (!post_or_void || e.credit_account_id != 0)
            && t.credit_account_id != e.credit_account_id
        {
            TR::ExistsWithDifferentCreditAccountId
        } else if !balancing && !post_or_void && t.amount != e.amount {
            TR::ExistsWithDifferentAmount
        } else if t.pending_id != e.pending_id {
            TR::ExistsWithDifferentPendingId
        } else if t.user_data_128 != e.user_data_128 {
            TR::ExistsWithDifferentUserData128
        } else if t.user_data_64 != e.user_data_64 {
            TR::ExistsWithDifferentUserData64
        } else if t.user_data_32 != e.user_data_32 {
            TR::ExistsWithDifferentUserData32
        } else if t.timeout != e.timeout {
            TR::ExistsWithDifferentTimeout
        } else if (!post_or_void || e.ledger != 0) && t.ledger != e.ledger {
            TR::ExistsWithDifferentLedger
        } else if (!post_or_void || e.code != 0) && t.code != e.code {
            TR::ExistsWithDifferentCode
        } else {
            TR::Exists
        }
    }

    fn create_transfer(&mut self, e: &NewTransfer, now: u64, undo: &mut Vec<Undo>) -> Step<TR> {
        use TransferFlags as F;
        let f = e.flags;
        let post = f.contains(F::POST_PENDING_TRANSFER);
        let void = f.contains(F::VOID_PENDING_TRANSFER);
        if post || void {
            check_flags(e)?;
            return self.post_or_void(e, post, now, undo);
        }
        check_new_transfer(e)?;
        if let Some(t) = self.get_transfer(e.id) {
            return Err(Self::exists(&t, e));
        }
        if self.failed.contains_key(&e.id) {
            return Err(TR::IdAlreadyFailed);
        }
        let Some(dr) = self.accounts.get(&e.debit_account_id).copied() else {
            return Err(TR::DebitAccountNotFound);
        };
        let Some(cr) = self.accounts.get(&e.credit_account_id).copied() else {
            return Err(TR::CreditAccountNotFound);
        };
        let Checked {
            pending,
            amount,
            debit: dr_next,
            credit: cr_next,
            expires_at,
        } = check_balances(e, &dr, &cr, self.clock, now)?;
        // Every check passed: apply.
        let timestamp = self.tick(now).unwrap_or(u64::MAX);
        undo.push(Undo::Account(dr));
        undo.push(Undo::Account(cr));
        if let Some(d) = self.accounts.get_mut(&dr.id) {
            if pending {
                d.debits_pending = dr_next;
            } else {
                d.debits_posted = dr_next;
            }
        }
        if let Some(c) = self.accounts.get_mut(&cr.id) {
            if pending {
                c.credits_pending = cr_next;
            } else {
                c.credits_posted = cr_next;
            }
        }
        self.insert_transfer(
            Transfer {
                id: e.id,
                debit_account_id: e.debit_account_id,
                credit_account_id: e.credit_account_id,
                amount,
                pending_id: 0,
                user_data_128: e.user_data_128,
                user_data_64: e.user_data_64,
                user_data_32: e.user_data_32,
                timeout: e.timeout,
                ledger: e.ledger,
                code: e.code,
                flags: e.flags,
                timestamp,
            },
            [has_history(&dr), has_history(&cr)],
            undo,
        );
        if pending {
            undo.push(Undo::Pending(
                e.id,
                self.pending.insert(e.id, PendingState::Pending),
            ));
            if let Some(at) = expires_at {
                self.expiries.insert((at, e.id));
                undo.push(Undo::ExpiryAdded(at, e.id));
            }
        }
        Ok(())
    }

    /// Stores a transfer and lists it under both accounts; `history` says
    /// which of them (debit, credit) keep their balance history (their
    /// flags, known to the caller: no lookup here).
    fn insert_transfer(&mut self, t: Transfer, history: [bool; 2], undo: &mut Vec<Undo>) {
        let [debit_history, credit_history] = history;
        self.transfers.insert(t.id, t);
        undo.push(Undo::NewTransfer(t.id));
        // Two plain calls, not a loop over an array iterator (whose copies
        // on the stack stalled on the transfer's store; about 2 %).
        self.list_transfer(t.debit_account_id, &t, debit_history, undo);
        self.list_transfer(t.credit_account_id, &t, credit_history, undo);
    }

    /// Lists `t` under `account` (and its balance, with `history`).
    fn list_transfer(&mut self, account: u128, t: &Transfer, history: bool, undo: &mut Vec<Undo>) {
        self.account_transfers
            .entry(account)
            .or_default()
            .push(t.id);
        undo.push(Undo::AccountTransfer(account));
        if history {
            self.record_history(account, t.timestamp, undo);
        }
    }

    fn post_or_void(
        &mut self,
        e: &NewTransfer,
        post: bool,
        now: u64,
        undo: &mut Vec<Undo>,
    ) -> Step<TR> {
        check_post_or_void(e)?;
        if let Some(t) = self.get_transfer(e.id) {
            return Err(Self::exists(&t, e));
        }
        if self.failed.contains_key(&e.id) {
            return Err(TR::IdAlreadyFailed);
        }
        let Some(p) = self.get_transfer(e.pending_id) else {
            return Err(TR::PendingTransferNotFound);
        };
        if !p.flags.contains(TransferFlags::PENDING) {
            return Err(TR::PendingTransferNotPending);
        }
        if e.debit_account_id != 0 && e.debit_account_id != p.debit_account_id {
            return Err(TR::PendingTransferHasDifferentDebitAccountId);
        }
        if e.credit_account_id != 0 && e.credit_account_id != p.credit_account_id {
            return Err(TR::PendingTransferHasDifferentCreditAccountId);
        }
        if e.ledger != 0 && e.ledger != p.ledger {
            return Err(TR::PendingTransferHasDifferentLedger);
        }
        if e.code != 0 && e.code != p.code {
            return Err(TR::PendingTransferHasDifferentCode);
        }
        let amount = if post {
            if e.amount > p.amount {
                return Err(TR::ExceedsPendingTransferAmount);
            }
            if e.amount == 0 { p.amount } else { e.amount }
        } else {
            if e.amount != 0 && e.amount != p.amount {
                return Err(TR::PendingTransferHasDifferentAmount);
            }
            p.amount
        };
        match self.pending.get(&p.id) {
            Some(PendingState::Posted(_)) => return Err(TR::PendingTransferAlreadyPosted),
            Some(PendingState::Voided) => return Err(TR::PendingTransferAlreadyVoided),
            Some(PendingState::Expired) => return Err(TR::PendingTransferExpired),
            Some(PendingState::Pending) | None => {}
        }
        let (Some(dr), Some(cr)) = (
            self.accounts.get(&p.debit_account_id).copied(),
            self.accounts.get(&p.credit_account_id).copied(),
        ) else {
            return Err(TR::PendingTransferNotFound);
        };
        // Releasing the hold cannot underflow (it holds at least `p.amount`);
        // posting can overflow the posted balances.
        let dr_posted = if post {
            dr.debits_posted
                .checked_add(amount)
                .ok_or(TR::OverflowsDebitsPosted)?
        } else {
            dr.debits_posted
        };
        let cr_posted = if post {
            cr.credits_posted
                .checked_add(amount)
                .ok_or(TR::OverflowsCreditsPosted)?
        } else {
            cr.credits_posted
        };
        let timestamp = self.tick(now).unwrap_or(u64::MAX);
        undo.push(Undo::Account(dr));
        undo.push(Undo::Account(cr));
        if let Some(d) = self.accounts.get_mut(&dr.id) {
            d.debits_pending = d.debits_pending.saturating_sub(p.amount);
            d.debits_posted = dr_posted;
        }
        if let Some(c) = self.accounts.get_mut(&cr.id) {
            c.credits_pending = c.credits_pending.saturating_sub(p.amount);
            c.credits_posted = cr_posted;
        }
        let state = if post {
            PendingState::Posted(amount)
        } else {
            PendingState::Voided
        };
        undo.push(Undo::Pending(p.id, self.pending.insert(p.id, state)));
        self.insert_transfer(
            Transfer {
                id: e.id,
                debit_account_id: p.debit_account_id,
                credit_account_id: p.credit_account_id,
                amount,
                pending_id: p.id,
                user_data_128: e.user_data_128,
                user_data_64: e.user_data_64,
                user_data_32: e.user_data_32,
                timeout: 0,
                ledger: p.ledger,
                code: p.code,
                flags: e.flags,
                timestamp,
            },
            [has_history(&dr), has_history(&cr)],
            undo,
        );
        Ok(())
    }

    /// An account.
    #[must_use]
    pub fn account(&self, id: u128) -> Option<&Account> {
        self.accounts.get(&id)
    }

    /// Every account, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// A transfer.
    #[must_use]
    pub fn transfer(&self, id: u128) -> Option<Transfer> {
        self.get_transfer(id)
    }

    /// Whether a transfer id is taken: stored, or failed for good (a
    /// resubmission is `exists…` or `id_already_failed`).
    #[must_use]
    pub fn transfer_id_taken(&self, id: u128) -> bool {
        self.has_transfer(id) || self.failed.contains_key(&id)
    }

    /// Where a pending transfer stands (`None` for an id that is not a
    /// pending transfer).
    #[must_use]
    pub fn pending_state(&self, id: u128) -> Option<PendingState> {
        self.pending.get(&id).copied()
    }

    /// The number of accounts and transfers.
    #[must_use]
    pub fn len(&self) -> (usize, usize) {
        (
            self.accounts.len(),
            self.transfers.len().saturating_add(self.frozen.len()),
        )
    }

    /// Whether the ledger holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.transfers.is_empty() && self.frozen.len() == 0
    }

    /// An account's transfers in timestamp order, after `after` (0: from the
    /// start), at most `limit` (itself at most [`MAX_BATCH_EVENTS`]).
    #[must_use]
    pub fn account_transfers(&self, account: u128, after: u64, limit: usize) -> Vec<Transfer> {
        let limit = limit.min(MAX_BATCH_EVENTS);
        // Those restored from a snapshot come first (they are older), then
        // those created since; timestamps increase along each list, so skip
        // by binary search. Entries that do not involve the account (a
        // snapshot's lists are not cross-checked when it is read) are
        // skipped.
        let involves =
            |t: &Transfer| t.debit_account_id == account || t.credit_account_id == account;
        let frozen = self.frozen.positions(account);
        let start =
            frozen.partition_point(|p| self.frozen.at(*p).is_some_and(|t| t.timestamp <= after));
        let mut out: Vec<Transfer> = frozen
            .iter()
            .skip(start)
            .filter_map(|p| self.frozen.at(*p))
            .filter(|t| involves(t))
            .take(limit)
            .collect();
        let Some(ids) = self.account_transfers.get(&account) else {
            return out;
        };
        let start =
            ids.partition_point(|id| self.transfers.get(id).is_some_and(|t| t.timestamp <= after));
        let room = limit.saturating_sub(out.len());
        out.extend(
            ids.iter()
                .skip(start)
                .filter_map(|id| self.transfers.get(id).copied())
                .take(room),
        );
        out
    }

    /// An account's balances after each of its transfers (accounts with the
    /// `history` flag), after `after`, at most `limit` (itself at most
    /// [`MAX_BATCH_EVENTS`]).
    #[must_use]
    pub fn account_balances(&self, account: u128, after: u64, limit: usize) -> Vec<AccountBalance> {
        let limit = limit.min(MAX_BATCH_EVENTS);
        let Some(list) = self.history.get(&account) else {
            return Vec::new();
        };
        let start = list.partition_point(|b| b.timestamp <= after);
        list.iter().skip(start).take(limit).copied().collect()
    }

    /// The balance totals of every ledger.
    #[must_use]
    pub fn totals(&self) -> BTreeMap<u32, Totals> {
        let mut out: BTreeMap<u32, Totals> = BTreeMap::new();
        for a in self.accounts.values() {
            let t = out.entry(a.ledger).or_default();
            t.debits_pending.add(a.debits_pending);
            t.debits_posted.add(a.debits_posted);
            t.credits_pending.add(a.credits_pending);
            t.credits_posted.add(a.credits_posted);
        }
        out
    }
}

// ---- loaders used by the PostgreSQL backend ----
//
// The PostgreSQL backend runs a batch on a scratch `Ledger` holding only
// what the batch touches (loaded from the database), then writes back what
// changed. These load that state and read the changes; nothing else uses
// them.
impl Ledger {
    /// Loads an account as stored.
    pub(crate) fn load_account(&mut self, a: Account) {
        self.accounts.insert(a.id, a);
    }

    /// Loads a transfer as stored, with its pending state and expiry (for
    /// a pending transfer still held with a timeout).
    pub(crate) fn load_transfer(
        &mut self,
        t: Transfer,
        state: Option<PendingState>,
        expires_at: Option<u64>,
    ) {
        self.transfers.insert(t.id, t);
        if let Some(state) = state {
            self.pending.insert(t.id, state);
            if let (PendingState::Pending, Some(at)) = (state, expires_at) {
                self.expiries.insert((at, t.id));
            }
        }
    }

    /// Loads a transfer as created (the next in timestamp order), listed
    /// under its accounts, with its pending state and expiry.
    pub(crate) fn load_listed_transfer(
        &mut self,
        t: Transfer,
        state: Option<PendingState>,
        expires_at: Option<u64>,
    ) {
        self.load_transfer(t, state, expires_at);
        for account in [t.debit_account_id, t.credit_account_id] {
            self.account_transfers
                .entry(account)
                .or_default()
                .push(t.id);
        }
    }

    /// Loads an id that failed (and stays failed).
    pub(crate) fn load_failed(&mut self, id: u128, result: TR) {
        self.failed.insert(id, result);
    }

    /// Sets the clock: the last timestamp assigned.
    pub(crate) fn load_clock(&mut self, clock: u64) {
        self.clock = clock;
    }
}

#[cfg(feature = "postgres")]
impl Ledger {
    /// Every transfer held (new and loaded).
    pub(crate) fn transfers_held(&self) -> impl Iterator<Item = &Transfer> {
        self.transfers.values()
    }

    /// Every pending state held.
    pub(crate) fn pending_held(&self) -> impl Iterator<Item = (&u128, &PendingState)> {
        self.pending.iter()
    }

    /// Every held expiry: (when, pending transfer id).
    pub(crate) fn expiries_held(&self) -> impl Iterator<Item = &(u64, u128)> {
        self.expiries.iter()
    }

    /// Every failed id held.
    pub(crate) fn failed_held(&self) -> impl Iterator<Item = (&u128, &TR)> {
        self.failed.iter()
    }

    /// Every balance history entry held, per account.
    pub(crate) fn history_held(&self) -> impl Iterator<Item = (&u128, &Vec<AccountBalance>)> {
        self.history.iter()
    }
}

/// The checks of a new posted or pending transfer that need no state, in
/// the ledger's order (the first failing one is the result).
pub(crate) fn check_new_transfer(e: &NewTransfer) -> Result<(), TR> {
    check_flags(e)?;
    if e.debit_account_id == 0 {
        return Err(TR::DebitAccountIdMustNotBeZero);
    }
    if e.debit_account_id == u128::MAX {
        return Err(TR::DebitAccountIdMustNotBeIntMax);
    }
    if e.credit_account_id == 0 {
        return Err(TR::CreditAccountIdMustNotBeZero);
    }
    if e.credit_account_id == u128::MAX {
        return Err(TR::CreditAccountIdMustNotBeIntMax);
    }
    if e.debit_account_id == e.credit_account_id {
        return Err(TR::AccountsMustBeDifferent);
    }
    if e.pending_id != 0 {
        return Err(TR::PendingIdMustBeZero);
    }
    if !e.flags.contains(TransferFlags::PENDING) && e.timeout != 0 {
        return Err(TR::TimeoutReservedForPendingTransfer);
    }
    if e.amount == 0 {
        return Err(TR::AmountMustNotBeZero);
    }
    if e.ledger == 0 {
        return Err(TR::LedgerMustNotBeZero);
    }
    if e.code == 0 {
        return Err(TR::CodeMustNotBeZero);
    }
    Ok(())
}

/// The id and flag checks every transfer event starts with.
fn check_flags(e: &NewTransfer) -> Result<(), TR> {
    use TransferFlags as F;
    if e.id == 0 {
        return Err(TR::IdMustNotBeZero);
    }
    if e.id == u128::MAX {
        return Err(TR::IdMustNotBeIntMax);
    }
    let f = e.flags;
    let pending = f.contains(F::PENDING);
    let post = f.contains(F::POST_PENDING_TRANSFER);
    let void = f.contains(F::VOID_PENDING_TRANSFER);
    let balancing = f.contains(F::BALANCING_DEBIT) || f.contains(F::BALANCING_CREDIT);
    if u8::from(pending) + u8::from(post) + u8::from(void) > 1 || (balancing && (post || void)) {
        return Err(TR::FlagsAreMutuallyExclusive);
    }
    Ok(())
}

/// What a new transfer does to its accounts, once checked.
pub(crate) struct Checked {
    /// Whether it holds (pending) rather than posts.
    pub(crate) pending: bool,
    /// The amount moved (a balancing transfer's, clamped).
    pub(crate) amount: u128,
    /// The debit account's pending or posted debits after it.
    pub(crate) debit: u128,
    /// The credit account's pending or posted credits after it.
    pub(crate) credit: u128,
    /// When a pending transfer with a timeout expires.
    pub(crate) expires_at: Option<u64>,
}

/// The checks of a new transfer against its accounts (found, `dr` and
/// `cr`), in the ledger's order: ledgers, overflows, timeout, limits.
pub(crate) fn check_balances(
    e: &NewTransfer,
    dr: &Account,
    cr: &Account,
    clock: u64,
    now: u64,
) -> Result<Checked, TR> {
    use TransferFlags as F;
    let f = e.flags;
    let pending = f.contains(F::PENDING);
    if dr.ledger != cr.ledger {
        return Err(TR::AccountsMustHaveTheSameLedger);
    }
    if e.ledger != dr.ledger {
        return Err(TR::TransferMustHaveTheSameLedgerAsAccounts);
    }
    let mut amount = e.amount;
    if f.contains(F::BALANCING_DEBIT) {
        let used = dr.debits_pending.saturating_add(dr.debits_posted);
        amount = amount.min(dr.credits_posted.saturating_sub(used));
    }
    if f.contains(F::BALANCING_CREDIT) {
        let used = cr.credits_pending.saturating_add(cr.credits_posted);
        amount = amount.min(cr.debits_posted.saturating_sub(used));
    }
    let (dr_field, cr_field) = if pending {
        (dr.debits_pending, cr.credits_pending)
    } else {
        (dr.debits_posted, cr.credits_posted)
    };
    let debit = dr_field.checked_add(amount).ok_or(if pending {
        TR::OverflowsDebitsPending
    } else {
        TR::OverflowsDebitsPosted
    })?;
    let credit = cr_field.checked_add(amount).ok_or(if pending {
        TR::OverflowsCreditsPending
    } else {
        TR::OverflowsCreditsPosted
    })?;
    let dr_debits = dr
        .debits_pending
        .checked_add(dr.debits_posted)
        .and_then(|d| d.checked_add(amount))
        .ok_or(TR::OverflowsDebits)?;
    let cr_credits = cr
        .credits_pending
        .checked_add(cr.credits_posted)
        .and_then(|c| c.checked_add(amount))
        .ok_or(TR::OverflowsCredits)?;
    let timestamp = clock.saturating_add(1).max(now);
    let expires_at = if pending && e.timeout > 0 {
        let span = u64::from(e.timeout)
            .checked_mul(NANOS_PER_SECOND)
            .ok_or(TR::OverflowsTimeout)?;
        Some(timestamp.checked_add(span).ok_or(TR::OverflowsTimeout)?)
    } else {
        None
    };
    if dr
        .flags
        .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        && dr_debits > dr.credits_posted
    {
        return Err(TR::ExceedsCredits);
    }
    if cr
        .flags
        .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        && cr_credits > cr.debits_posted
    {
        return Err(TR::ExceedsDebits);
    }
    Ok(Checked {
        pending,
        amount,
        debit,
        credit,
        expires_at,
    })
}

/// The checks of a new account that need no state, in the ledger's order.
pub(crate) fn check_new_account(e: &NewAccount) -> Result<(), AR> {
    if e.id == 0 {
        return Err(AR::IdMustNotBeZero);
    }
    if e.id == u128::MAX {
        return Err(AR::IdMustNotBeIntMax);
    }
    if e.flags.contains(
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
    ) {
        return Err(AR::FlagsAreMutuallyExclusive);
    }
    if e.ledger == 0 {
        return Err(AR::LedgerMustNotBeZero);
    }
    if e.code == 0 {
        return Err(AR::CodeMustNotBeZero);
    }
    Ok(())
}

/// The checks of a post or void that need no state, in the ledger's order.
pub(crate) fn check_post_or_void(e: &NewTransfer) -> Result<(), TR> {
    if e.pending_id == 0 {
        return Err(TR::PendingIdMustNotBeZero);
    }
    if e.pending_id == u128::MAX {
        return Err(TR::PendingIdMustNotBeIntMax);
    }
    if e.pending_id == e.id {
        return Err(TR::PendingIdMustBeDifferent);
    }
    if e.timeout != 0 {
        return Err(TR::TimeoutReservedForPendingTransfer);
    }
    Ok(())
}
