//! The budget's state: the accounts, and a compact record of every transfer
//! the budget makes.
//!
//! A budget makes transfers of five shapes only, all on one ledger: a
//! funding (operator → tenant, posted), a reservation (tenant → spend,
//! pending), and, derived from a reservation, its post, its void and its
//! overrun. Stored as general [`Transfer`]s (128 bytes each, indexed by id,
//! listed under both accounts), a reserve + commit costs two of them and
//! about 500 bytes; here a reservation and what became of it are one
//! [`Record`] under the reservation's id (the derived transfers are
//! rebuilt from it, field for field), so a reserve + commit is one insert
//! and one lookup. The transfers, their timestamps, pending states, failed
//! ids and the clock are exactly those the general ledger would hold after
//! the same operations: [`Budget::to_ledger`] builds that ledger, and the
//! test suite checks it, and every result, against the first version of
//! this budget, which made every transfer on a [`Ledger`]
//! (`tests/it/budget_reference.rs`).

use std::collections::BTreeSet;

use super::{
    BudgetError, Committed, FUND_CODE, OVERRUN_CODE, RESERVE_CODE, TAG_COMMIT, TAG_OVERRUN,
    TAG_RELEASE, TENANT_CODE, TenantBudget, derived,
};
use crate::result::{CreateAccountResult as AR, CreateTransferResult as TR};
use crate::state::{
    BatchError, Checked, HashMap, Ledger, Totals, check_balances, check_new_account,
    check_new_transfer, check_post_or_void,
};
use crate::types::{
    Account, AccountFlags, NANOS_PER_SECOND, NewAccount, NewTransfer, PendingState, Transfer,
    TransferFlags,
};

/// The low 120 bits: a client's id, or the reservation a derived id names.
const BASE: u128 = u128::MAX >> 8;

/// Where a reservation stands, with what its settlement created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// Held.
    Pending,
    /// Posted (`amount`) at `at`; `linked` when the post was the first of a
    /// linked chain (a commit with an overrun).
    Posted { amount: u128, at: u64, linked: bool },
    /// Voided at `at`.
    Voided { at: u64 },
    /// Expired (no transfer records an expiry).
    Expired,
}

impl Hold {
    fn state(self) -> PendingState {
        match self {
            Self::Pending => PendingState::Pending,
            Self::Posted { amount, .. } => PendingState::Posted(amount),
            Self::Voided { .. } => PendingState::Voided,
            Self::Expired => PendingState::Expired,
        }
    }
}

/// A transfer made under a client's id: a funding or a reservation and
/// what became of it (64 bytes).
#[derive(Clone, Copy, Debug)]
struct Record {
    amount: u128,
    /// The amount posted, once posted.
    posted: u128,
    timestamp: u64,
    /// When it was posted or voided.
    settled_at: u64,
    /// The debit and credit accounts' indexes.
    debit: u32,
    credit: u32,
    timeout: u32,
    state: u8,
}

const FUNDING: u8 = 0;
const PENDING: u8 = 1;
const POSTED: u8 = 2;
const POSTED_LINKED: u8 = 3;
const VOIDED: u8 = 4;
const EXPIRED: u8 = 5;

impl Record {
    fn new(
        amount: u128,
        timestamp: u64,
        debit: u32,
        credit: u32,
        timeout: u32,
        hold: bool,
    ) -> Self {
        Self {
            amount,
            posted: 0,
            timestamp,
            settled_at: 0,
            debit,
            credit,
            timeout,
            state: if hold { PENDING } else { FUNDING },
        }
    }

    /// `None` for a funding.
    fn hold(&self) -> Option<Hold> {
        Some(match self.state {
            PENDING => Hold::Pending,
            POSTED | POSTED_LINKED => Hold::Posted {
                amount: self.posted,
                at: self.settled_at,
                linked: self.state == POSTED_LINKED,
            },
            VOIDED => Hold::Voided {
                at: self.settled_at,
            },
            EXPIRED => Hold::Expired,
            _ => return None,
        })
    }

    fn set_hold(&mut self, hold: Hold) {
        match hold {
            Hold::Pending => self.state = PENDING,
            Hold::Posted { amount, at, linked } => {
                self.posted = amount;
                self.settled_at = at;
                self.state = if linked { POSTED_LINKED } else { POSTED };
            }
            Hold::Voided { at } => {
                self.settled_at = at;
                self.state = VOIDED;
            }
            Hold::Expired => self.state = EXPIRED,
        }
    }
}

/// Records per chunk (256 KiB).
const CHUNK: usize = 4_096;

/// Records in the order made, in chunks that never move (growth allocates
/// a chunk; nothing is copied), found by id through an index of 32-byte
/// entries.
#[derive(Clone, Debug, Default)]
struct Records {
    /// Positions (a `usize` costs nothing over a `u32`: an entry is 32
    /// bytes, aligned for the `u128`).
    index: HashMap<u128, usize>,
    chunks: Vec<Vec<Record>>,
    len: usize,
}

impl Records {
    fn at(&self, at: usize) -> Option<&Record> {
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    fn get(&self, id: &u128) -> Option<&Record> {
        self.at(*self.index.get(id)?)
    }

    fn get_mut(&mut self, id: &u128) -> Option<&mut Record> {
        let at = *self.index.get(id)?;
        self.chunks.get_mut(at / CHUNK)?.get_mut(at % CHUNK)
    }

    /// Replaces the record under `id` (a rollback); nothing for an id
    /// without one.
    fn replace(&mut self, id: u128, r: Record) {
        if let Some(slot) = self.get_mut(&id) {
            *slot = r;
        }
    }

    /// Appends a record to the chunks (its index entry is the caller's);
    /// its position.
    fn append(chunks: &mut Vec<Vec<Record>>, len: &mut usize, r: Record) -> usize {
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(r),
            _ => {
                // The first chunk grows as a vector does (a small budget
                // stays small); the next ones are allocated whole.
                let capacity = if chunks.is_empty() { 0 } else { CHUNK };
                let mut chunk = Vec::with_capacity(capacity);
                chunk.push(r);
                chunks.push(chunk);
            }
        }
        let at = *len;
        *len = len.saturating_add(1);
        at
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> impl Iterator<Item = (u128, &Record)> {
        self.index
            .iter()
            .filter_map(|(&id, &at)| Some((id, self.at(at)?)))
    }
}

/// What a transfer event becomes when it applies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Funding,
    Reservation,
    Overrun,
}

/// A linked chain's two events and their results (a commit with an
/// overrun), as the ledger gives them.
type Pair = [TR; 2];

/// Budgets of tenants on one ledger: Calybris's API, with the general
/// ledger's semantics (see the [module](super) docs).
#[derive(Debug, Clone)]
pub struct Budget {
    ledger_id: u32,
    operator: u128,
    spend: u128,
    cap: Option<u128>,
    /// The last timestamp assigned, as the ledger's clock.
    clock: u64,
    /// Every account; the operator's at 0, the spend account at 1.
    accounts: Vec<Account>,
    index: HashMap<u128, u32>,
    /// Fundings and reservations by id (top byte 0).
    records: Records,
    /// Overruns by their reservation's id: amount, timestamp.
    overruns: HashMap<u128, (u128, u64)>,
    /// Ids that failed for good, with why.
    failed: HashMap<u128, TR>,
    /// (expiry, reservation) of holds with a timeout.
    expiries: BTreeSet<(u64, u128)>,
}

impl Budget {
    /// Budgets on ledger `ledger_id`, funded by the operator account
    /// `operator`, spending into `spend` (both created here), with an
    /// optional cap on each tenant's total reserved.
    ///
    /// # Errors
    /// [`BudgetError::Account`] when an account cannot be created.
    pub fn new(
        ledger_id: u32,
        operator: u128,
        spend: u128,
        cap: Option<u128>,
        now: u64,
    ) -> Result<Self, BudgetError> {
        let mut budget = Self {
            ledger_id,
            operator,
            spend,
            cap,
            clock: 0,
            accounts: Vec::with_capacity(2),
            index: HashMap::default(),
            records: Records::default(),
            overruns: HashMap::default(),
            failed: HashMap::default(),
            expiries: BTreeSet::new(),
        };
        for id in [operator, spend] {
            let account = NewAccount {
                id,
                ledger: ledger_id,
                code: TENANT_CODE,
                ..NewAccount::default()
            };
            budget
                .create_account(&account, now)
                .map_err(BudgetError::Account)?;
        }
        Ok(budget)
    }

    /// The next timestamp, as the ledger assigns it.
    fn tick(&mut self, now: u64) -> Option<u64> {
        let next = self.clock.checked_add(1)?.max(now);
        self.clock = next;
        Some(next)
    }

    fn clock_fits(&self, events: u64) -> Result<(), BudgetError> {
        self.clock
            .checked_add(events)
            .map(|_| ())
            .ok_or(BudgetError::Batch(BatchError::ClockExhausted))
    }

    /// An account's index: the operator's and the spend account's without
    /// a lookup.
    fn find(&self, id: u128) -> Option<u32> {
        if id == self.spend {
            Some(1)
        } else if id == self.operator {
            Some(0)
        } else {
            self.index.get(&id).copied()
        }
    }

    fn account_at(&self, at: u32) -> Option<&Account> {
        self.accounts.get(usize::try_from(at).ok()?)
    }

    fn account_at_mut(&mut self, at: u32) -> Option<&mut Account> {
        self.accounts.get_mut(usize::try_from(at).ok()?)
    }

    fn id_at(&self, at: u32) -> u128 {
        self.account_at(at).map_or(0, |a| a.id)
    }

    /// The ledger's account creation, for the accounts a budget makes.
    fn create_account(&mut self, e: &NewAccount, now: u64) -> Result<(), AR> {
        check_new_account(e)?;
        if let Some(&at) = self.index.get(&e.id)
            && let Some(a) = self.account_at(at)
        {
            return Err(Ledger::account_exists(a, e));
        }
        let at = u32::try_from(self.accounts.len()).map_err(|_| AR::IdMustNotBeIntMax)?;
        let timestamp = self.tick(now).unwrap_or(u64::MAX);
        self.accounts.push(Account {
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
        });
        self.index.insert(e.id, at);
        Ok(())
    }

    /// A record as the transfer the ledger would hold under `id`.
    fn record_transfer(&self, id: u128, r: &Record) -> Transfer {
        Transfer {
            id,
            debit_account_id: self.id_at(r.debit),
            credit_account_id: self.id_at(r.credit),
            amount: r.amount,
            pending_id: 0,
            user_data_128: 0,
            user_data_64: 0,
            user_data_32: 0,
            timeout: r.timeout,
            ledger: self.ledger_id,
            code: if r.hold().is_some() {
                RESERVE_CODE
            } else {
                FUND_CODE
            },
            flags: if r.hold().is_some() {
                TransferFlags::PENDING
            } else {
                TransferFlags::empty()
            },
            timestamp: r.timestamp,
        }
    }

    /// The transfer with this id, as the ledger would hold it.
    fn get(&self, id: u128) -> Option<Transfer> {
        let base = id & BASE;
        let tag = u8::try_from(id >> 120).ok()?;
        if tag == 0 {
            return Some(self.record_transfer(id, self.records.get(&id)?));
        }
        let r = self.records.get(&base)?;
        let hold = r.hold()?;
        let held = self.record_transfer(base, r);
        let settled = |amount, flags, at| Transfer {
            id,
            amount,
            pending_id: base,
            timeout: 0,
            flags,
            timestamp: at,
            ..held
        };
        match (tag, hold) {
            (TAG_COMMIT, Hold::Posted { amount, at, linked }) => {
                let flags = if linked {
                    TransferFlags::POST_PENDING_TRANSFER | TransferFlags::LINKED
                } else {
                    TransferFlags::POST_PENDING_TRANSFER
                };
                Some(settled(amount, flags, at))
            }
            (TAG_RELEASE, Hold::Voided { at }) => {
                Some(settled(r.amount, TransferFlags::VOID_PENDING_TRANSFER, at))
            }
            (TAG_OVERRUN, _) => {
                let &(amount, at) = self.overruns.get(&base)?;
                Some(Transfer {
                    id,
                    amount,
                    timeout: 0,
                    code: OVERRUN_CODE,
                    flags: TransferFlags::empty(),
                    timestamp: at,
                    ..held
                })
            }
            _ => None,
        }
    }

    /// Where a pending transfer stands.
    fn pending_state(&self, id: u128) -> Option<PendingState> {
        if id >> 120 != 0 {
            return None;
        }
        Some(self.records.get(&id)?.hold()?.state())
    }

    /// Whether a transfer has this id, or it failed for good.
    pub(crate) fn transfer_id_taken(&self, id: u128) -> bool {
        self.get(id).is_some() || self.failed.contains_key(&id)
    }

    /// The ledger's creation of a posted or pending transfer (the budget
    /// makes no balancing ones), storing it as `kind`.
    fn create(&mut self, e: &NewTransfer, kind: Kind, now: u64) -> Result<(), TR> {
        use std::collections::hash_map::Entry;
        check_new_transfer(e)?;
        if kind == Kind::Overrun {
            return self.create_overrun(e, now);
        }
        // The callers refuse client ids with the top byte set (the derived
        // ids' tags) before they come here.
        if e.id >> 120 != 0 {
            return Err(TR::IdMustNotBeIntMax);
        }
        // A client's id names a record or nothing: one probe of the index
        // finds it or the slot for the new one. The accounts are looked up
        // first (no effect), their absence reported in the ledger's order.
        let debit = self.find(e.debit_account_id);
        let credit = self.find(e.credit_account_id);
        let slot = match self.records.index.entry(e.id) {
            Entry::Occupied(o) => {
                let at = *o.get();
                let Some(r) = self.records.at(at).copied() else {
                    return Err(TR::IdMustNotBeIntMax);
                };
                return Err(Ledger::exists(&self.record_transfer(e.id, &r), e));
            }
            Entry::Vacant(v) => v,
        };
        if !self.failed.is_empty() && self.failed.contains_key(&e.id) {
            return Err(TR::IdAlreadyFailed);
        }
        let Some(debit) = debit else {
            return Err(TR::DebitAccountNotFound);
        };
        let Some(credit) = credit else {
            return Err(TR::CreditAccountNotFound);
        };
        let account = |at: u32| usize::try_from(at).ok();
        let (Some(d), Some(c)) = (account(debit), account(credit)) else {
            return Err(TR::DebitAccountNotFound);
        };
        let (Some(dr), Some(cr)) = (self.accounts.get(d), self.accounts.get(c)) else {
            return Err(TR::DebitAccountNotFound);
        };
        let Checked {
            pending,
            amount,
            debit: dr_next,
            credit: cr_next,
            expires_at,
        } = check_balances(e, dr, cr, self.clock, now)?;
        // Every check passed: apply (the clock as `tick`).
        let timestamp = match self.clock.checked_add(1) {
            Some(next) => {
                self.clock = next.max(now);
                self.clock
            }
            None => u64::MAX,
        };
        if let Some(a) = self.accounts.get_mut(d) {
            if pending {
                a.debits_pending = dr_next;
            } else {
                a.debits_posted = dr_next;
            }
        }
        if let Some(a) = self.accounts.get_mut(c) {
            if pending {
                a.credits_pending = cr_next;
            } else {
                a.credits_posted = cr_next;
            }
        }
        let record = Record::new(
            amount,
            timestamp,
            debit,
            credit,
            e.timeout,
            kind == Kind::Reservation,
        );
        slot.insert(Records::append(
            &mut self.records.chunks,
            &mut self.records.len,
            record,
        ));
        if let Some(at) = expires_at {
            self.expiries.insert((at, e.id));
        }
        Ok(())
    }

    /// `create` for an overrun (a derived id).
    fn create_overrun(&mut self, e: &NewTransfer, now: u64) -> Result<(), TR> {
        if let Some(t) = self.get(e.id) {
            return Err(Ledger::exists(&t, e));
        }
        if !self.failed.is_empty() && self.failed.contains_key(&e.id) {
            return Err(TR::IdAlreadyFailed);
        }
        let Some(debit) = self.find(e.debit_account_id) else {
            return Err(TR::DebitAccountNotFound);
        };
        let Some(credit) = self.find(e.credit_account_id) else {
            return Err(TR::CreditAccountNotFound);
        };
        let (Some(dr), Some(cr)) = (self.account_at(debit), self.account_at(credit)) else {
            return Err(TR::DebitAccountNotFound);
        };
        let Checked {
            pending,
            amount,
            debit: dr_next,
            credit: cr_next,
            expires_at,
        } = check_balances(e, dr, cr, self.clock, now)?;
        // Every check passed: apply.
        let timestamp = self.tick(now).unwrap_or(u64::MAX);
        if let Some(d) = self.account_at_mut(debit) {
            if pending {
                d.debits_pending = dr_next;
            } else {
                d.debits_posted = dr_next;
            }
        }
        if let Some(c) = self.account_at_mut(credit) {
            if pending {
                c.credits_pending = cr_next;
            } else {
                c.credits_posted = cr_next;
            }
        }
        // Posted, so no expiry.
        let _ = expires_at;
        self.overruns.insert(e.id & BASE, (amount, timestamp));
        Ok(())
    }

    /// The ledger's post or void of a pending transfer.
    fn post_or_void(&mut self, e: &NewTransfer, post: bool, now: u64) -> Result<(), TR> {
        check_post_or_void(e)?;
        if let Some(t) = self.get(e.id) {
            return Err(Ledger::exists(&t, e));
        }
        if !self.failed.is_empty() && self.failed.contains_key(&e.id) {
            return Err(TR::IdAlreadyFailed);
        }
        let Some(p) = self.get(e.pending_id) else {
            return Err(TR::PendingTransferNotFound);
        };
        if !p.flags.contains(TransferFlags::PENDING) {
            return Err(TR::PendingTransferNotPending);
        }
        // Only a reservation is pending: its record is there.
        let Some(&r) = self.records.get(&e.pending_id) else {
            return Err(TR::PendingTransferNotFound);
        };
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
        match r.hold() {
            Some(Hold::Posted { .. }) => return Err(TR::PendingTransferAlreadyPosted),
            Some(Hold::Voided { .. }) => return Err(TR::PendingTransferAlreadyVoided),
            Some(Hold::Expired) => return Err(TR::PendingTransferExpired),
            Some(Hold::Pending) | None => {}
        }
        let (Some(dr), Some(cr)) = (self.account_at(r.debit), self.account_at(r.credit)) else {
            return Err(TR::PendingTransferNotFound);
        };
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
        let at = self.tick(now).unwrap_or(u64::MAX);
        if let Some(d) = self.account_at_mut(r.debit) {
            d.debits_pending = d.debits_pending.saturating_sub(p.amount);
            d.debits_posted = dr_posted;
        }
        if let Some(c) = self.account_at_mut(r.credit) {
            c.credits_pending = c.credits_pending.saturating_sub(p.amount);
            c.credits_posted = cr_posted;
        }
        let hold = if post {
            Hold::Posted {
                amount,
                at,
                linked: e.flags.contains(TransferFlags::LINKED),
            }
        } else {
            Hold::Voided { at }
        };
        // A settled hold's expiry stays queued, as in the ledger: expiring
        // it does nothing.
        if let Some(record) = self.records.get_mut(&e.pending_id) {
            record.set_hold(hold);
        }
        Ok(())
    }

    /// One event, as the ledger's `create_transfer_one`: expiry first, an
    /// id that fails for a reason of the state stays failed.
    fn one(&mut self, e: &NewTransfer, kind: Kind, now: u64) -> Result<TR, BudgetError> {
        self.clock_fits(1)?;
        self.expire(now);
        let result = if e.flags.contains(TransferFlags::POST_PENDING_TRANSFER) {
            self.post_or_void(e, true, now)
        } else if e.flags.contains(TransferFlags::VOID_PENDING_TRANSFER) {
            self.post_or_void(e, false, now)
        } else {
            self.create(e, kind, now)
        };
        Ok(match result {
            Ok(()) => TR::Ok,
            Err(r) => {
                self.record_failure(e.id, r);
                r
            }
        })
    }

    fn record_failure(&mut self, id: u128, r: TR) {
        if r.is_transient() && self.get(id).is_none() {
            self.failed.entry(id).or_insert(r);
        }
    }

    /// A post linked to an overrun, as the ledger runs a linked chain of
    /// two: both apply or neither (a failed chain keeps the clock's ticks,
    /// as the ledger's does).
    fn post_with_overrun(
        &mut self,
        post: &NewTransfer,
        overrun: &NewTransfer,
        now: u64,
    ) -> Result<Pair, BudgetError> {
        self.clock_fits(2)?;
        self.expire(now);
        let reservation = post.pending_id;
        let saved = self.records.get(&reservation).copied();
        let accounts = saved.map(|r| {
            (
                self.account_at(r.debit).copied(),
                self.account_at(r.credit).copied(),
            )
        });
        let rollback = |b: &mut Self| {
            if let Some(r) = saved {
                b.records.replace(reservation, r);
                if let Some((d, c)) = accounts {
                    if let (Some(d), Some(slot)) = (d, b.account_at_mut(r.debit)) {
                        *slot = d;
                    }
                    if let (Some(c), Some(slot)) = (c, b.account_at_mut(r.credit)) {
                        *slot = c;
                    }
                }
            }
            b.overruns.remove(&(overrun.id & BASE));
        };
        match self.post_or_void(post, true, now) {
            Ok(()) => match self.create(overrun, Kind::Overrun, now) {
                Ok(()) => Ok([TR::Ok, TR::Ok]),
                Err(r) => {
                    rollback(self);
                    self.record_failure(overrun.id, r);
                    Ok([TR::LinkedEventFailed, r])
                }
            },
            Err(TR::Exists) => match self.create(overrun, Kind::Overrun, now) {
                Err(TR::Exists) => Ok([TR::Exists, TR::Exists]),
                Ok(()) => {
                    rollback(self);
                    Ok([TR::Exists, TR::LinkedEventFailed])
                }
                Err(_) => Ok([TR::Exists, TR::LinkedEventFailed]),
            },
            Err(r) => {
                self.record_failure(post.id, r);
                Ok([r, TR::LinkedEventFailed])
            }
        }
    }

    fn transfer(
        &self,
        id: u128,
        debit: u128,
        credit: u128,
        amount: u128,
        code: u16,
    ) -> NewTransfer {
        NewTransfer {
            id,
            debit_account_id: debit,
            credit_account_id: credit,
            amount,
            ledger: self.ledger_id,
            code,
            ..NewTransfer::default()
        }
    }

    /// Opens a tenant with `initial` units (funding transfer `funding_id`).
    ///
    /// # Errors
    /// [`BudgetError::Account`], [`BudgetError::Transfer`].
    pub fn open_tenant(
        &mut self,
        tenant: u128,
        initial: u128,
        funding_id: u128,
        now: u64,
    ) -> Result<(), BudgetError> {
        // The account first, then its funding: a failed funding leaves an
        // empty tenant, never a funded one without its account.
        self.clock_fits(1)?;
        let account = NewAccount {
            id: tenant,
            ledger: self.ledger_id,
            code: TENANT_CODE,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..NewAccount::default()
        };
        self.create_account(&account, now)
            .map_err(BudgetError::Account)?;
        if initial > 0 {
            self.top_up(tenant, initial, funding_id, now)?;
        }
        Ok(())
    }

    /// Adds `amount` to a tenant's budget (transfer `funding_id`, the
    /// client's id: top byte 0).
    ///
    /// # Errors
    /// [`BudgetError::Transfer`] (`id_must_not_be_int_max` for an id with
    /// its top byte set).
    pub fn top_up(
        &mut self,
        tenant: u128,
        amount: u128,
        funding_id: u128,
        now: u64,
    ) -> Result<(), BudgetError> {
        if funding_id >> 120 != 0 {
            return Err(BudgetError::Transfer(TR::IdMustNotBeIntMax));
        }
        let t = self.transfer(funding_id, self.operator, tenant, amount, FUND_CODE);
        match self.one(&t, Kind::Funding, now)? {
            TR::Ok => Ok(()),
            r => Err(BudgetError::Transfer(r)),
        }
    }

    /// Reserves `amount` of a tenant's budget under `reservation` (the
    /// client's id: top byte 0), released at `timeout_seconds` (0: never)
    /// unless committed or released first.
    ///
    /// # Errors
    /// [`BudgetError::OverCap`], [`BudgetError::Transfer`] (`exceeds_credits`
    /// when the tenant lacks it, `exists` for a reservation made before).
    pub fn try_reserve(
        &mut self,
        tenant: u128,
        amount: u128,
        reservation: u128,
        timeout_seconds: u32,
        now: u64,
    ) -> Result<(), BudgetError> {
        if reservation >> 120 != 0 {
            return Err(BudgetError::Transfer(TR::IdMustNotBeIntMax));
        }
        // The cap is checked against the holds live at `now`.
        self.expire(now);
        if let Some(cap) = self.cap
            && let Some(b) = self.tenant(tenant)
            && b.reserved.checked_add(amount).is_none_or(|r| r > cap)
        {
            return Err(BudgetError::OverCap {
                cap,
                reserved: b.reserved,
            });
        }
        let t = NewTransfer {
            flags: TransferFlags::PENDING,
            timeout: timeout_seconds,
            ..self.transfer(reservation, tenant, self.spend, amount, RESERVE_CODE)
        };
        match self.one(&t, Kind::Reservation, now)? {
            TR::Ok => Ok(()),
            r => Err(BudgetError::Transfer(r)),
        }
    }

    /// Commits a reservation for `actual`: less than reserved posts `actual`
    /// and releases the rest; more posts the reservation and the overrun
    /// together, only if the tenant has the overrun (else nothing changes).
    /// Idempotent.
    ///
    /// # Errors
    /// [`BudgetError::Overrun`], [`BudgetError::UnknownReservation`],
    /// [`BudgetError::Transfer`] (`pending_transfer_expired`, `…_voided`).
    pub fn commit(
        &mut self,
        reservation: u128,
        actual: u128,
        now: u64,
    ) -> Result<Committed, BudgetError> {
        // An overrun is checked against the holds live at `now`.
        self.expire(now);
        if let Some(done) = self.commit_within(reservation, actual, now) {
            return Ok(done);
        }
        let Some(held) = self.get(reservation) else {
            return Err(BudgetError::UnknownReservation);
        };
        let post_id = derived(reservation, TAG_COMMIT);
        if let Some(PendingState::Posted(_)) = self.pending_state(reservation)
            && self.get(post_id).is_some()
        {
            return Ok(Committed::Already);
        }
        let post = |amount| NewTransfer {
            id: post_id,
            pending_id: reservation,
            amount,
            flags: TransferFlags::POST_PENDING_TRANSFER,
            ..NewTransfer::default()
        };
        if actual <= held.amount {
            // 0 would mean "all of it" to the ledger: commit 0 is a release.
            if actual == 0 {
                self.release(reservation, now)?;
                return Ok(Committed::Now(0));
            }
            return match self.one(&post(actual), Kind::Reservation, now)? {
                TR::Ok => Ok(Committed::Now(actual)),
                r => Err(BudgetError::Transfer(r)),
            };
        }
        let overrun = actual - held.amount;
        // Checked before submitting, so that a refused overrun leaves no
        // failed id behind (a later commit within means must not meet
        // `id_already_failed`); the linked chain still applies both
        // transfers or neither.
        let remaining = self
            .tenant(held.debit_account_id)
            .map_or(0, |t| t.remaining);
        if overrun > remaining {
            return Err(BudgetError::Overrun { overrun });
        }
        let first = NewTransfer {
            flags: TransferFlags::POST_PENDING_TRANSFER | TransferFlags::LINKED,
            ..post(held.amount)
        };
        let second = self.transfer(
            derived(reservation, TAG_OVERRUN),
            held.debit_account_id,
            self.spend,
            overrun,
            OVERRUN_CODE,
        );
        match self.post_with_overrun(&first, &second, now)? {
            [TR::Ok, TR::Ok] => Ok(Committed::Now(actual)),
            [_, TR::ExceedsCredits] => Err(BudgetError::Overrun { overrun }),
            [TR::LinkedEventFailed, r] | [r, _] => Err(BudgetError::Transfer(r)),
        }
    }

    /// The common commit, in one lookup: a held reservation (a client's
    /// id) posted for `actual` within it, when every check passes. `None`
    /// (nothing changed) for anything else, which the general path then
    /// answers: this path only ever takes the decision the general one
    /// would take (`one` → `post_or_void` on an unchanged state).
    fn commit_within(&mut self, reservation: u128, actual: u128, now: u64) -> Option<Committed> {
        if reservation >> 120 != 0 || actual == 0 || self.clock.checked_add(1).is_none() {
            return None;
        }
        // A failed post id answers `id_already_failed`: the general path.
        if !self.failed.is_empty() {
            return None;
        }
        let r = self.records.get_mut(&reservation)?;
        if r.state != PENDING || actual > r.amount {
            return None;
        }
        let (debit, credit) = (
            usize::try_from(r.debit).ok()?,
            usize::try_from(r.credit).ok()?,
        );
        let dr = self.accounts.get(debit)?;
        let cr = self.accounts.get(credit)?;
        let dr_posted = dr.debits_posted.checked_add(actual)?;
        let cr_posted = cr.credits_posted.checked_add(actual)?;
        let dr_pending = dr.debits_pending.saturating_sub(r.amount);
        let cr_pending = cr.credits_pending.saturating_sub(r.amount);
        // Every check of the general path passed: apply as it would.
        let at = self.clock.checked_add(1)?.max(now);
        self.clock = at;
        r.set_hold(Hold::Posted {
            amount: actual,
            at,
            linked: false,
        });
        if let Some(d) = self.accounts.get_mut(debit) {
            d.debits_pending = dr_pending;
            d.debits_posted = dr_posted;
        }
        if let Some(c) = self.accounts.get_mut(credit) {
            c.credits_pending = cr_pending;
            c.credits_posted = cr_posted;
        }
        Some(Committed::Now(actual))
    }

    /// Releases a reservation (all of it). Idempotent.
    ///
    /// # Errors
    /// [`BudgetError::UnknownReservation`], [`BudgetError::Transfer`]
    /// (`pending_transfer_already_posted`, `…_expired`).
    pub fn release(&mut self, reservation: u128, now: u64) -> Result<(), BudgetError> {
        if self.get(reservation).is_none() {
            return Err(BudgetError::UnknownReservation);
        }
        let t = NewTransfer {
            id: derived(reservation, TAG_RELEASE),
            pending_id: reservation,
            flags: TransferFlags::VOID_PENDING_TRANSFER,
            ..NewTransfer::default()
        };
        match self.one(&t, Kind::Reservation, now)? {
            TR::Ok | TR::Exists => Ok(()),
            r => Err(BudgetError::Transfer(r)),
        }
    }

    /// Releases every reservation whose timeout has passed at `now`.
    #[inline]
    pub fn expire(&mut self, now: u64) {
        if !self.expiries.is_empty() {
            self.expire_due(now);
        }
    }

    fn expire_due(&mut self, now: u64) {
        while let Some(&(at, id)) = self.expiries.first() {
            if at > now {
                break;
            }
            self.expiries.remove(&(at, id));
            let Some(r) = self.records.get_mut(&id) else {
                continue;
            };
            if r.state != PENDING {
                continue;
            }
            r.set_hold(Hold::Expired);
            let r = *r;
            let _ = self.tick(now);
            if let Some(d) = self.account_at_mut(r.debit) {
                d.debits_pending = d.debits_pending.saturating_sub(r.amount);
            }
            if let Some(c) = self.account_at_mut(r.credit) {
                c.credits_pending = c.credits_pending.saturating_sub(r.amount);
            }
        }
    }

    /// A tenant's budget (any account's, read as a tenant's).
    #[must_use]
    pub fn tenant(&self, tenant: u128) -> Option<TenantBudget> {
        let a = self.account_at(self.find(tenant)?)?;
        Some(super::tenant_of(&super::row(a)))
    }

    /// Every account (the operator's and the spend account first).
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter()
    }

    /// Whether double entry holds: Σ held debits = Σ held credits and
    /// Σ posted debits = Σ posted credits.
    #[must_use]
    pub fn balanced(&self) -> bool {
        let mut t = Totals::default();
        for a in &self.accounts {
            t.debits_pending.add(a.debits_pending);
            t.debits_posted.add(a.debits_posted);
            t.credits_pending.add(a.credits_pending);
            t.credits_posted.add(a.credits_posted);
        }
        t.balanced()
    }

    /// The operator's and the spend account's ids.
    pub(crate) fn system_accounts(&self) -> (u128, u128) {
        (self.operator, self.spend)
    }

    /// The number of accounts and of transfers.
    #[must_use]
    pub fn len(&self) -> (usize, usize) {
        let settled = self
            .records
            .iter()
            .filter(|(_, r)| matches!(r.state, POSTED | POSTED_LINKED | VOIDED))
            .count();
        let transfers = self
            .records
            .len()
            .saturating_add(settled)
            .saturating_add(self.overruns.len());
        (self.accounts.len(), transfers)
    }

    /// The general ledger holding exactly this budget's accounts,
    /// transfers (in timestamp order), pending states, failed ids and
    /// clock: what the same operations would have made on a [`Ledger`].
    /// Linear in the number of transfers.
    #[must_use]
    pub fn to_ledger(&self) -> Ledger {
        let mut ledger = Ledger::new();
        for a in &self.accounts {
            ledger.load_account(*a);
        }
        let mut transfers: Vec<(Transfer, Option<PendingState>, Option<u64>)> = Vec::new();
        for (id, r) in self.records.iter() {
            let t = self.record_transfer(id, r);
            let expires_at = (r.state == PENDING && r.timeout > 0)
                .then(|| {
                    r.timestamp
                        .checked_add(u64::from(r.timeout).saturating_mul(NANOS_PER_SECOND))
                })
                .flatten();
            transfers.push((t, r.hold().map(Hold::state), expires_at));
            for tag in [TAG_COMMIT, TAG_RELEASE, TAG_OVERRUN] {
                if let Some(t) = self.get(derived(id, tag)) {
                    transfers.push((t, None, None));
                }
            }
        }
        transfers.sort_unstable_by_key(|(t, _, _)| t.timestamp);
        for (t, state, expires_at) in transfers {
            ledger.load_listed_transfer(t, state, expires_at);
        }
        for (&id, &r) in &self.failed {
            ledger.load_failed(id, r);
        }
        ledger.load_clock(self.clock);
        ledger
    }
}
