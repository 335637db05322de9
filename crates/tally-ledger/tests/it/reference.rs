//! The state machine against an obviously correct reference model, over
//! random batches with linked chains, duplicates, posts, partial posts,
//! voids, expiries, balancing transfers and failures of every kind.
//!
//! The model keeps only what was applied (accounts and the list of applied
//! transfers with each pending transfer's state) and derives every balance
//! by folding over that list; a linked chain is undone by restoring a copy
//! of the whole model. The ledger keeps incremental balances, indexes and an
//! undo log: if any of them drifted, a result, a balance or a total would
//! differ after some batch, and proptest prints the shrunk batch.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tally_ledger::{
    AccountFlags as AF, CreateTransferResult as TR, Ledger, NewAccount, NewTransfer, PendingState,
    TransferFlags as TF,
};

const SECOND: u64 = 1_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Applied {
    id: u128,
    debit: u128,
    credit: u128,
    amount: u128,
    pending_id: u128,
    flags: TF,
    timeout: u32,
    timestamp: u64,
    user_data_64: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Model {
    /// id → (ledger, flags)
    pub(crate) accounts: BTreeMap<u128, (u32, AF)>,
    applied: Vec<Applied>,
    states: BTreeMap<u128, PendingState>,
    failed: BTreeSet<u128>,
    clock: u64,
}

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Balances {
    debits_pending: u128,
    debits_posted: u128,
    credits_pending: u128,
    credits_posted: u128,
}

impl Model {
    pub(crate) fn tick(&mut self, now: u64) -> u64 {
        self.clock = (self.clock + 1).max(now);
        self.clock
    }

    /// An account's balances, folded from the applied transfers (`None` on
    /// overflow, which the ledger refuses before it can happen).
    pub(crate) fn balances(&self, id: u128) -> Balances {
        let mut b = Balances::default();
        for t in &self.applied {
            let void = t.flags.contains(TF::VOID_PENDING_TRANSFER);
            let held = t.flags.contains(TF::PENDING)
                && self.states.get(&t.id) == Some(&PendingState::Pending);
            let posted = !void && !t.flags.contains(TF::PENDING);
            if t.debit == id {
                if held {
                    b.debits_pending += t.amount;
                }
                if posted {
                    b.debits_posted += t.amount;
                }
            }
            if t.credit == id {
                if held {
                    b.credits_pending += t.amount;
                }
                if posted {
                    b.credits_posted += t.amount;
                }
            }
        }
        b
    }

    fn find(&self, id: u128) -> Option<&Applied> {
        self.applied.iter().find(|t| t.id == id)
    }

    fn expire(&mut self, now: u64) {
        let mut due: Vec<(u64, u128)> = self
            .applied
            .iter()
            .filter(|t| {
                t.flags.contains(TF::PENDING)
                    && t.timeout > 0
                    && self.states.get(&t.id) == Some(&PendingState::Pending)
            })
            .map(|t| (t.timestamp + u64::from(t.timeout) * SECOND, t.id))
            .filter(|(at, _)| *at <= now)
            .collect();
        due.sort_unstable();
        for (_, id) in due {
            self.states.insert(id, PendingState::Expired);
            self.tick(now);
        }
    }

    /// One event, by the rules, in the ledger's order of checks (only the
    /// checks the generator can reach; the others have their own tests).
    fn apply(&mut self, e: &NewTransfer, now: u64) -> Result<(), TR> {
        let post = e.flags.contains(TF::POST_PENDING_TRANSFER);
        let void = e.flags.contains(TF::VOID_PENDING_TRANSFER);
        let pending = e.flags.contains(TF::PENDING);
        let balancing_debit = e.flags.contains(TF::BALANCING_DEBIT);
        let balancing_credit = e.flags.contains(TF::BALANCING_CREDIT);
        if u8::from(pending) + u8::from(post) + u8::from(void) > 1
            || ((balancing_debit || balancing_credit) && (post || void))
        {
            return Err(TR::FlagsAreMutuallyExclusive);
        }
        if post || void {
            if e.pending_id == 0 {
                return Err(TR::PendingIdMustNotBeZero);
            }
            if e.pending_id == e.id {
                return Err(TR::PendingIdMustBeDifferent);
            }
            if e.timeout != 0 {
                return Err(TR::TimeoutReservedForPendingTransfer);
            }
            if let Some(t) = self.find(e.id) {
                return Err(exists(t, e));
            }
            if self.failed.contains(&e.id) {
                return Err(TR::IdAlreadyFailed);
            }
            let Some(p) = self.find(e.pending_id).copied() else {
                return Err(TR::PendingTransferNotFound);
            };
            if !p.flags.contains(TF::PENDING) {
                return Err(TR::PendingTransferNotPending);
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
            match self.states.get(&p.id) {
                Some(PendingState::Posted(_)) => return Err(TR::PendingTransferAlreadyPosted),
                Some(PendingState::Voided) => return Err(TR::PendingTransferAlreadyVoided),
                Some(PendingState::Expired) => return Err(TR::PendingTransferExpired),
                _ => {}
            }
            let (d, c) = (self.balances(p.debit), self.balances(p.credit));
            if post && d.debits_posted.checked_add(amount).is_none() {
                return Err(TR::OverflowsDebitsPosted);
            }
            if post && c.credits_posted.checked_add(amount).is_none() {
                return Err(TR::OverflowsCreditsPosted);
            }
            let timestamp = self.tick(now);
            self.states.insert(
                p.id,
                if post {
                    PendingState::Posted(amount)
                } else {
                    PendingState::Voided
                },
            );
            self.applied.push(Applied {
                id: e.id,
                debit: p.debit,
                credit: p.credit,
                amount,
                pending_id: p.id,
                flags: e.flags,
                timeout: 0,
                timestamp,
                user_data_64: e.user_data_64,
            });
            return Ok(());
        }
        if e.debit_account_id == e.credit_account_id {
            return Err(TR::AccountsMustBeDifferent);
        }
        if e.pending_id != 0 {
            return Err(TR::PendingIdMustBeZero);
        }
        if !pending && e.timeout != 0 {
            return Err(TR::TimeoutReservedForPendingTransfer);
        }
        if e.amount == 0 {
            return Err(TR::AmountMustNotBeZero);
        }
        if let Some(t) = self.find(e.id) {
            return Err(exists(t, e));
        }
        if self.failed.contains(&e.id) {
            return Err(TR::IdAlreadyFailed);
        }
        let Some(&(dl, dflags)) = self.accounts.get(&e.debit_account_id) else {
            return Err(TR::DebitAccountNotFound);
        };
        let Some(&(cl, cflags)) = self.accounts.get(&e.credit_account_id) else {
            return Err(TR::CreditAccountNotFound);
        };
        if dl != cl {
            return Err(TR::AccountsMustHaveTheSameLedger);
        }
        let (d, c) = (
            self.balances(e.debit_account_id),
            self.balances(e.credit_account_id),
        );
        let mut amount = e.amount;
        if balancing_debit {
            amount = amount.min(
                d.credits_posted
                    .saturating_sub(d.debits_pending.saturating_add(d.debits_posted)),
            );
        }
        if balancing_credit {
            amount = amount.min(
                c.debits_posted
                    .saturating_sub(c.credits_pending.saturating_add(c.credits_posted)),
            );
        }
        let (df, cf) = if pending {
            (d.debits_pending, c.credits_pending)
        } else {
            (d.debits_posted, c.credits_posted)
        };
        if df.checked_add(amount).is_none() {
            return Err(if pending {
                TR::OverflowsDebitsPending
            } else {
                TR::OverflowsDebitsPosted
            });
        }
        if cf.checked_add(amount).is_none() {
            return Err(if pending {
                TR::OverflowsCreditsPending
            } else {
                TR::OverflowsCreditsPosted
            });
        }
        let debits = d
            .debits_pending
            .checked_add(d.debits_posted)
            .and_then(|x| x.checked_add(amount))
            .ok_or(TR::OverflowsDebits)?;
        let credits = c
            .credits_pending
            .checked_add(c.credits_posted)
            .and_then(|x| x.checked_add(amount))
            .ok_or(TR::OverflowsCredits)?;
        if dflags.contains(AF::DEBITS_MUST_NOT_EXCEED_CREDITS) && debits > d.credits_posted {
            return Err(TR::ExceedsCredits);
        }
        if cflags.contains(AF::CREDITS_MUST_NOT_EXCEED_DEBITS) && credits > c.debits_posted {
            return Err(TR::ExceedsDebits);
        }
        let timestamp = self.tick(now);
        if pending {
            self.states.insert(e.id, PendingState::Pending);
        }
        self.applied.push(Applied {
            id: e.id,
            debit: e.debit_account_id,
            credit: e.credit_account_id,
            amount,
            pending_id: 0,
            flags: e.flags,
            timeout: e.timeout,
            timestamp,
            user_data_64: e.user_data_64,
        });
        Ok(())
    }

    pub(crate) fn batch(&mut self, events: &[NewTransfer], now: u64) -> Vec<TR> {
        self.expire(now);
        let mut results = vec![TR::Ok; events.len()];
        let mut i = 0;
        while i < events.len() {
            let Some(len) = events[i..]
                .iter()
                .position(|e| !e.flags.contains(TF::LINKED))
                .map(|p| p + 1)
            else {
                for r in &mut results[i..] {
                    *r = TR::LinkedEventChainOpen;
                }
                break;
            };
            let saved = self.clone();
            for (k, event) in events.iter().enumerate().skip(i).take(len) {
                if let Err(r) = self.apply(event, now) {
                    // A chain resubmitted whole: every event exists.
                    if k == i
                        && r == TR::Exists
                        && events[i + 1..i + len]
                            .iter()
                            .all(|e| self.apply(e, now) == Err(TR::Exists))
                    {
                        for slot in &mut results[i..i + len] {
                            *slot = TR::Exists;
                        }
                        break;
                    }
                    let clock = self.clock;
                    *self = saved;
                    // The clock never goes back, even for an undone chain.
                    self.clock = clock;
                    for (m, slot) in results[i..i + len].iter_mut().enumerate() {
                        *slot = if i + m == k { r } else { TR::LinkedEventFailed };
                    }
                    if r.is_transient() && self.find(event.id).is_none() {
                        self.failed.insert(event.id);
                    }
                    break;
                }
            }
            i += len;
        }
        results
    }
}

fn exists(t: &Applied, e: &NewTransfer) -> TR {
    let strip = |f: TF| f.bits() & !TF::LINKED.bits();
    let post_or_void =
        e.flags.contains(TF::POST_PENDING_TRANSFER) || e.flags.contains(TF::VOID_PENDING_TRANSFER);
    let balancing = e.flags.contains(TF::BALANCING_DEBIT) || e.flags.contains(TF::BALANCING_CREDIT);
    if strip(t.flags) != strip(e.flags) {
        TR::ExistsWithDifferentFlags
    } else if (!post_or_void || e.debit_account_id != 0) && t.debit != e.debit_account_id {
        TR::ExistsWithDifferentDebitAccountId
    } else if (!post_or_void || e.credit_account_id != 0) && t.credit != e.credit_account_id {
        TR::ExistsWithDifferentCreditAccountId
    } else if !balancing && !post_or_void && t.amount != e.amount {
        TR::ExistsWithDifferentAmount
    } else if t.pending_id != e.pending_id {
        TR::ExistsWithDifferentPendingId
    } else if t.user_data_64 != e.user_data_64 {
        TR::ExistsWithDifferentUserData64
    } else if t.timeout != e.timeout {
        TR::ExistsWithDifferentTimeout
    } else {
        TR::Exists
    }
}

/// Accounts 1–6 on ledger 1 (1, 2 plain; 3, 4 may not overdraw; 5 may not
/// take more than it gave; 6 keeps history) and 7 on ledger 2.
pub(crate) const ACCOUNTS: [(u128, u32, AF); 7] = [
    (1, 1, AF::empty()),
    (2, 1, AF::empty()),
    (3, 1, AF::DEBITS_MUST_NOT_EXCEED_CREDITS),
    (4, 1, AF::DEBITS_MUST_NOT_EXCEED_CREDITS),
    (5, 1, AF::CREDITS_MUST_NOT_EXCEED_DEBITS),
    (6, 1, AF::HISTORY),
    (7, 2, AF::empty()),
];

fn event() -> impl Strategy<Value = NewTransfer> {
    let flags = prop_oneof![
        6 => Just(TF::empty()),
        3 => Just(TF::PENDING),
        2 => Just(TF::POST_PENDING_TRANSFER),
        2 => Just(TF::VOID_PENDING_TRANSFER),
        1 => Just(TF::BALANCING_DEBIT),
        1 => Just(TF::BALANCING_CREDIT),
        1 => Just(TF::PENDING | TF::BALANCING_DEBIT),
        1 => Just(TF::PENDING | TF::VOID_PENDING_TRANSFER),
    ];
    let amount = prop_oneof![
        8 => 0u128..120,
        1 => Just(u128::MAX),
        1 => Just(u128::MAX / 2 + 1),
    ];
    (
        1u128..40,
        1u128..9,
        1u128..9,
        amount,
        flags,
        any::<bool>(),
        0u128..40,
        prop_oneof![3 => Just(0u32), 1 => 1u32..4],
        0u64..3,
    )
        .prop_map(
            |(id, debit, credit, amount, flags, linked, pending_id, timeout, user_data_64)| {
                let post_or_void = flags.contains(TF::POST_PENDING_TRANSFER)
                    || flags.contains(TF::VOID_PENDING_TRANSFER);
                NewTransfer {
                    id,
                    debit_account_id: if post_or_void { 0 } else { debit },
                    credit_account_id: if post_or_void { 0 } else { credit },
                    amount,
                    pending_id: if post_or_void { pending_id } else { 0 },
                    user_data_64,
                    timeout: if flags.contains(TF::PENDING) {
                        timeout
                    } else {
                        0
                    },
                    ledger: if post_or_void {
                        0
                    } else if debit == 7 {
                        2
                    } else {
                        1
                    },
                    code: if post_or_void { 0 } else { 1 },
                    flags: if linked { flags | TF::LINKED } else { flags },
                    ..NewTransfer::default()
                }
            },
        )
}

/// Batches with clock jumps between them (seconds), so holds expire.
fn batches() -> impl Strategy<Value = Vec<(u64, Vec<NewTransfer>)>> {
    proptest::collection::vec((0u64..4, proptest::collection::vec(event(), 0..12)), 1..16)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_agrees_with_the_reference_model(batches in batches()) {
        let mut ledger = Ledger::new();
        let mut model = Model::default();
        let accounts: Vec<NewAccount> = ACCOUNTS
            .iter()
            .map(|&(id, l, flags)| NewAccount { id, ledger: l, code: 1, flags, ..NewAccount::default() })
            .collect();
        let now = SECOND;
        ledger.create_accounts(&accounts, now).unwrap();
        for &(id, l, flags) in &ACCOUNTS {
            model.accounts.insert(id, (l, flags));
            model.tick(now);
        }
        // Fund account 3 and 5's debit side so the "must not exceed" flags
        // have room both ways.
        let fund = [
            NewTransfer { id: 1000, debit_account_id: 1, credit_account_id: 3, amount: 100, ledger: 1, code: 1, ..NewTransfer::default() },
            NewTransfer { id: 1001, debit_account_id: 5, credit_account_id: 2, amount: 50, ledger: 1, code: 1, ..NewTransfer::default() },
        ];
        let mut now = 2 * SECOND;
        prop_assert_eq!(ledger.create_transfers(&fund, now).unwrap(), model.batch(&fund, now));
        for (jump, events) in batches {
            now += jump * SECOND;
            let got = ledger.create_transfers(&events, now).unwrap();
            let want = model.batch(&events, now);
            prop_assert_eq!(&got, &want, "batch {:?}", events);
            prop_assert_eq!(ledger.clock(), model.clock);
            for &(id, _, _) in &ACCOUNTS {
                let a = ledger.account(id).unwrap();
                let b = model.balances(id);
                prop_assert_eq!(
                    (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted),
                    (b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted),
                    "account {}", id
                );
                // The history keeps one entry per transfer or expiry that
                // touched the account; its last entry is today's balance.
                if id == 6
                    && let Some(last) = ledger.account_balances(6, 0, usize::MAX).last()
                {
                    prop_assert_eq!(last.credits_posted, a.credits_posted);
                    prop_assert_eq!(last.debits_pending, a.debits_pending);
                }
            }
            for t in &model.applied {
                let s = ledger.transfer(t.id).unwrap();
                prop_assert_eq!((s.amount, s.timestamp, s.debit_account_id), (t.amount, t.timestamp, t.debit));
            }
            prop_assert_eq!(ledger.len().1, model.applied.len());
            for (id, state) in &model.states {
                prop_assert_eq!(ledger.pending_state(*id), Some(*state));
            }
            prop_assert!(ledger.totals().values().all(tally_ledger::Totals::balanced));
            // Every account's transfer list is its transfers, in time order.
            for &(id, _, _) in &ACCOUNTS {
                let listed: Vec<u128> = ledger.account_transfers(id, 0, usize::MAX).iter().map(|t| t.id).collect();
                let want: Vec<u128> = model.applied.iter().filter(|t| t.debit == id || t.credit == id).map(|t| t.id).collect();
                prop_assert_eq!(listed, want, "account {}", id);
            }
        }
    }
}
