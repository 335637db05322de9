//! Every result code from a small, hand-checked ledger, and that a failing
//! event changes nothing: the conformance suite. Each case is a generic
//! async function over [`LedgerStore`], run against the in-process engine
//! (`memory::…`) and against PostgreSQL (`postgres::…`, feature
//! `postgres`) by the entry points at the end of this file.

use tally_ledger::store::LedgerStore;
use tally_ledger::{
    AccountFlags as AF, CreateAccountResult as AR, CreateTransferResult as TR, NewAccount,
    NewTransfer, PendingState, TransferFlags as TF,
};

const SECOND: u64 = 1_000_000_000;

fn account(id: u128, flags: AF) -> NewAccount {
    NewAccount {
        id,
        ledger: 1,
        code: 10,
        flags,
        ..NewAccount::default()
    }
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: 1,
        code: 1,
        ..NewTransfer::default()
    }
}

/// Accounts: 1 and 2 plain, 3 may not spend more than it received, 4 may
/// not receive more than it spent, 9 on another ledger. Account 3 is funded
/// with 100 from 1.
async fn ledger<S: LedgerStore>(l: &S) {
    let mut other = account(9, AF::empty());
    other.ledger = 2;
    let r = l
        .create_accounts(
            &[
                account(1, AF::empty()),
                account(2, AF::HISTORY),
                account(3, AF::DEBITS_MUST_NOT_EXCEED_CREDITS),
                account(4, AF::CREDITS_MUST_NOT_EXCEED_DEBITS),
                other,
            ],
            SECOND,
        )
        .await
        .unwrap();
    assert!(r.iter().all(|r| *r == AR::Ok), "{r:?}");
    assert_eq!(
        l.create_transfers(&[transfer(100, 1, 3, 100)], 2 * SECOND)
            .await
            .unwrap(),
        [TR::Ok]
    );
}

/// Everything a test can observe of the ledger, to check that nothing changed.
async fn observe<S: LedgerStore>(l: &S) -> Vec<String> {
    let mut out = Vec::new();
    for id in 0..=12u128 {
        if let Some(a) = l.account(id).await.unwrap() {
            out.push(format!("{a:?}"));
        }
    }
    out.push(format!("{:?}", l.counts().await.unwrap()));
    out.push(format!("{:?}", l.totals().await.unwrap()));
    out
}

async fn one<S: LedgerStore>(l: &S, t: NewTransfer, now: u64) -> TR {
    let r = l.create_transfers(&[t], now).await.unwrap();
    r[0]
}

async fn account_of<S: LedgerStore>(l: &S, id: u128) -> tally_ledger::Account {
    l.account(id).await.unwrap().unwrap()
}

async fn transfer_of<S: LedgerStore>(l: &S, id: u128) -> Option<tally_ledger::Transfer> {
    l.transfer(id).await.unwrap()
}

/// Asserts the result and that the ledger is unchanged by it.
async fn refused<S: LedgerStore>(l: &S, t: NewTransfer, want: TR) {
    let before = observe(l).await;
    assert_eq!(one(l, t, 10 * SECOND).await, want, "{t:?}");
    assert_eq!(observe(l).await, before, "{want} changed the ledger");
}

pub(crate) async fn account_codes<S: LedgerStore>(l: S) {
    ledger(&l).await;
    let cases = [
        (account(0, AF::empty()), AR::IdMustNotBeZero),
        (account(u128::MAX, AF::empty()), AR::IdMustNotBeIntMax),
        (
            account(
                20,
                AF::DEBITS_MUST_NOT_EXCEED_CREDITS | AF::CREDITS_MUST_NOT_EXCEED_DEBITS,
            ),
            AR::FlagsAreMutuallyExclusive,
        ),
        (
            NewAccount {
                ledger: 0,
                ..account(21, AF::empty())
            },
            AR::LedgerMustNotBeZero,
        ),
        (
            NewAccount {
                code: 0,
                ..account(22, AF::empty())
            },
            AR::CodeMustNotBeZero,
        ),
        (account(1, AF::HISTORY), AR::ExistsWithDifferentFlags),
        (
            NewAccount {
                user_data_128: 5,
                ..account(1, AF::empty())
            },
            AR::ExistsWithDifferentUserData128,
        ),
        (
            NewAccount {
                user_data_64: 5,
                ..account(1, AF::empty())
            },
            AR::ExistsWithDifferentUserData64,
        ),
        (
            NewAccount {
                user_data_32: 5,
                ..account(1, AF::empty())
            },
            AR::ExistsWithDifferentUserData32,
        ),
        (
            NewAccount {
                ledger: 3,
                ..account(1, AF::empty())
            },
            AR::ExistsWithDifferentLedger,
        ),
        (
            NewAccount {
                code: 3,
                ..account(1, AF::empty())
            },
            AR::ExistsWithDifferentCode,
        ),
        (account(1, AF::empty()), AR::Exists),
    ];
    for (event, want) in cases {
        let before = observe(&l).await;
        assert_eq!(
            l.create_accounts(&[event], 5 * SECOND).await.unwrap(),
            [want],
            "{event:?}"
        );
        assert_eq!(observe(&l).await, before, "{want}");
    }
    assert_eq!(want_names(), 15);
}

/// Every account result has its TigerBeetle name.
fn want_names() -> usize {
    [
        AR::Ok,
        AR::LinkedEventFailed,
        AR::LinkedEventChainOpen,
        AR::IdMustNotBeZero,
        AR::IdMustNotBeIntMax,
        AR::FlagsAreMutuallyExclusive,
        AR::LedgerMustNotBeZero,
        AR::CodeMustNotBeZero,
        AR::ExistsWithDifferentFlags,
        AR::ExistsWithDifferentUserData128,
        AR::ExistsWithDifferentUserData64,
        AR::ExistsWithDifferentUserData32,
        AR::ExistsWithDifferentLedger,
        AR::ExistsWithDifferentCode,
        AR::Exists,
    ]
    .iter()
    .map(|r| r.as_str())
    .collect::<std::collections::BTreeSet<_>>()
    .len()
}

pub(crate) async fn transfer_validation_codes_change_nothing<S: LedgerStore>(l: S) {
    ledger(&l).await;
    let t = |id| transfer(id, 1, 2, 5);
    let cases = [
        (transfer(0, 1, 2, 5), TR::IdMustNotBeZero),
        (transfer(u128::MAX, 1, 2, 5), TR::IdMustNotBeIntMax),
        (
            NewTransfer {
                flags: TF::PENDING | TF::POST_PENDING_TRANSFER,
                ..t(20)
            },
            TR::FlagsAreMutuallyExclusive,
        ),
        (
            NewTransfer {
                flags: TF::BALANCING_DEBIT | TF::VOID_PENDING_TRANSFER,
                ..t(20)
            },
            TR::FlagsAreMutuallyExclusive,
        ),
        (transfer(20, 0, 2, 5), TR::DebitAccountIdMustNotBeZero),
        (
            transfer(20, u128::MAX, 2, 5),
            TR::DebitAccountIdMustNotBeIntMax,
        ),
        (transfer(20, 1, 0, 5), TR::CreditAccountIdMustNotBeZero),
        (
            transfer(20, 1, u128::MAX, 5),
            TR::CreditAccountIdMustNotBeIntMax,
        ),
        (transfer(20, 1, 1, 5), TR::AccountsMustBeDifferent),
        (
            NewTransfer {
                pending_id: 100,
                ..t(20)
            },
            TR::PendingIdMustBeZero,
        ),
        (
            NewTransfer {
                timeout: 5,
                ..t(20)
            },
            TR::TimeoutReservedForPendingTransfer,
        ),
        (transfer(20, 1, 2, 0), TR::AmountMustNotBeZero),
        (NewTransfer { ledger: 0, ..t(20) }, TR::LedgerMustNotBeZero),
        (NewTransfer { code: 0, ..t(20) }, TR::CodeMustNotBeZero),
        (transfer(20, 1, 9, 5), TR::AccountsMustHaveTheSameLedger),
        (
            NewTransfer { ledger: 2, ..t(20) },
            TR::TransferMustHaveTheSameLedgerAsAccounts,
        ),
        (
            NewTransfer {
                flags: TF::POST_PENDING_TRANSFER,
                ..t(20)
            },
            TR::PendingIdMustNotBeZero,
        ),
        (
            NewTransfer {
                flags: TF::VOID_PENDING_TRANSFER,
                pending_id: u128::MAX,
                ..t(20)
            },
            TR::PendingIdMustNotBeIntMax,
        ),
        (
            NewTransfer {
                flags: TF::VOID_PENDING_TRANSFER,
                pending_id: 20,
                ..t(20)
            },
            TR::PendingIdMustBeDifferent,
        ),
        (
            NewTransfer {
                flags: TF::POST_PENDING_TRANSFER,
                pending_id: 100,
                ..t(20)
            },
            TR::PendingTransferNotPending,
        ),
    ];
    for (event, want) in cases {
        refused(&l, event, want).await;
    }
}

pub(crate) async fn transient_failures_stay_failed<S: LedgerStore>(l: S) {
    ledger(&l).await;
    // Unknown accounts.
    refused(&l, transfer(30, 7, 2, 5), TR::DebitAccountNotFound).await;
    refused(&l, transfer(31, 1, 7, 5), TR::CreditAccountNotFound).await;
    // Account 3 holds 100: 101 exceeds its credits.
    refused(&l, transfer(32, 3, 2, 101), TR::ExceedsCredits).await;
    // Account 4 has spent nothing: it cannot receive.
    refused(&l, transfer(33, 1, 4, 1), TR::ExceedsDebits).await;
    // The same ids stay failed, even once the state would let them pass.
    l.create_accounts(&[account(7, AF::empty())], 11 * SECOND)
        .await
        .unwrap();
    for id in [30, 31, 32, 33] {
        refused(&l, transfer(id, 1, 2, 1), TR::IdAlreadyFailed).await;
    }
    // Overflows: account 7 sends everything a u128 holds to account 2.
    assert_eq!(
        one(&l, transfer(34, 7, 2, u128::MAX), 12 * SECOND).await,
        TR::Ok
    );
    refused(&l, transfer(35, 7, 1, 1), TR::OverflowsDebitsPosted).await;
    refused(&l, transfer(36, 1, 2, 1), TR::OverflowsCreditsPosted).await;
    let pending = NewTransfer {
        flags: TF::PENDING,
        ..transfer(37, 1, 2, 1)
    };
    refused(&l, pending, TR::OverflowsCredits).await;
    refused(
        &l,
        NewTransfer {
            flags: TF::PENDING,
            ..transfer(38, 7, 2, 0)
        },
        TR::AmountMustNotBeZero,
    )
    .await;
}

pub(crate) async fn the_clock_and_timeouts_cannot_overflow<S: LedgerStore>(l: S) {
    let near_end = u64::MAX - 100;
    l.create_accounts(
        &[account(1, AF::empty()), account(2, AF::empty())],
        near_end,
    )
    .await
    .unwrap();
    let hold = NewTransfer {
        flags: TF::PENDING,
        timeout: 1,
        ..transfer(1, 1, 2, 5)
    };
    let before = observe(&l).await;
    assert_eq!(
        l.create_transfers(&[hold], near_end).await.unwrap(),
        [TR::OverflowsTimeout]
    );
    assert_eq!(observe(&l).await, before);
    // A batch whose timestamps would pass u64::MAX is refused whole.
    let events = vec![transfer(2, 1, 2, 1); 200];
    assert_eq!(
        l.create_transfers(&events, near_end)
            .await
            .map_err(|e| e.batch()),
        Err(Some(tally_ledger::BatchError::ClockExhausted))
    );
    assert_eq!(observe(&l).await, before);
}

pub(crate) async fn exists_names_the_first_different_field<S: LedgerStore>(l: S) {
    ledger(&l).await;
    let t = NewTransfer {
        user_data_64: 3,
        ..transfer(40, 1, 2, 5)
    };
    assert_eq!(one(&l, t, 20 * SECOND).await, TR::Ok);
    let cases = [
        (
            NewTransfer {
                flags: TF::PENDING,
                ..t
            },
            TR::ExistsWithDifferentFlags,
        ),
        (
            NewTransfer {
                debit_account_id: 3,
                ..t
            },
            TR::ExistsWithDifferentDebitAccountId,
        ),
        (
            NewTransfer {
                credit_account_id: 3,
                ..t
            },
            TR::ExistsWithDifferentCreditAccountId,
        ),
        (
            NewTransfer { amount: 6, ..t },
            TR::ExistsWithDifferentAmount,
        ),
        (
            NewTransfer {
                user_data_128: 1,
                ..t
            },
            TR::ExistsWithDifferentUserData128,
        ),
        (
            NewTransfer {
                user_data_64: 1,
                ..t
            },
            TR::ExistsWithDifferentUserData64,
        ),
        (
            NewTransfer {
                user_data_32: 1,
                ..t
            },
            TR::ExistsWithDifferentUserData32,
        ),
        (NewTransfer { code: 2, ..t }, TR::ExistsWithDifferentCode),
        (t, TR::Exists),
        (
            NewTransfer {
                flags: TF::LINKED,
                ..t
            },
            TR::LinkedEventChainOpen,
        ),
    ];
    for (event, want) in cases {
        refused(&l, event, want).await;
    }
}

pub(crate) async fn two_phase_transfers_post_void_and_expire_exactly_once<S: LedgerStore>(l: S) {
    ledger(&l).await;
    let hold = |id, amount, timeout| NewTransfer {
        flags: TF::PENDING,
        timeout,
        ..transfer(id, 3, 2, amount)
    };
    let post = |id, pending_id, amount| NewTransfer {
        id,
        pending_id,
        amount,
        flags: TF::POST_PENDING_TRANSFER,
        ..NewTransfer::default()
    };
    let void = |id, pending_id| NewTransfer {
        id,
        pending_id,
        flags: TF::VOID_PENDING_TRANSFER,
        ..NewTransfer::default()
    };
    // Hold 60 of account 3's 100; 41 more exceeds its credits.
    assert_eq!(one(&l, hold(50, 60, 0), 30 * SECOND).await, TR::Ok);
    assert_eq!(account_of(&l, 3).await.debits_pending, 60);
    refused(&l, hold(51, 41, 0), TR::ExceedsCredits).await;
    // Post 25 of the 60: 25 posted, 35 released.
    refused(&l, post(52, 50, 61), TR::ExceedsPendingTransferAmount).await;
    refused(
        &l,
        NewTransfer {
            debit_account_id: 1,
            ..post(52, 50, 25)
        },
        TR::PendingTransferHasDifferentDebitAccountId,
    )
    .await;
    assert_eq!(one(&l, post(52, 50, 25), 31 * SECOND).await, TR::Ok);
    let a3 = account_of(&l, 3).await;
    assert_eq!((a3.debits_pending, a3.debits_posted), (0, 25));
    assert_eq!(
        l.pending_state(50).await.unwrap(),
        Some(PendingState::Posted(25))
    );
    refused(&l, post(53, 50, 0), TR::PendingTransferAlreadyPosted).await;
    refused(&l, void(53, 50), TR::PendingTransferAlreadyPosted).await;
    refused(&l, post(52, 50, 25), TR::Exists).await;
    // A void releases everything, once.
    assert_eq!(one(&l, hold(54, 10, 0), 32 * SECOND).await, TR::Ok);
    refused(
        &l,
        NewTransfer {
            amount: 3,
            ..void(55, 54)
        },
        TR::PendingTransferHasDifferentAmount,
    )
    .await;
    assert_eq!(one(&l, void(55, 54), 33 * SECOND).await, TR::Ok);
    assert_eq!(account_of(&l, 3).await.debits_pending, 0);
    refused(&l, void(56, 54), TR::PendingTransferAlreadyVoided).await;
    refused(&l, post(56, 999, 0), TR::PendingTransferNotFound).await;
    // A hold with a 2 s timeout expires at its timestamp + 2 s, not before.
    assert_eq!(one(&l, hold(57, 10, 2), 40 * SECOND).await, TR::Ok);
    let t = transfer_of(&l, 57).await.unwrap().timestamp;
    l.create_transfers(&[], t + 2 * SECOND - 1).await.unwrap();
    assert_eq!(
        l.pending_state(57).await.unwrap(),
        Some(PendingState::Pending)
    );
    l.create_transfers(&[], t + 2 * SECOND).await.unwrap();
    assert_eq!(
        l.pending_state(57).await.unwrap(),
        Some(PendingState::Expired)
    );
    assert_eq!(account_of(&l, 3).await.debits_pending, 0);
    let before = observe(&l).await;
    assert_eq!(
        one(&l, post(58, 57, 0), 50 * SECOND).await,
        TR::PendingTransferExpired
    );
    assert_eq!(observe(&l).await, before);
    // ... and stays failed (the failure depends on the state).
    refused(&l, post(58, 57, 0), TR::IdAlreadyFailed).await;
    assert!(
        l.totals()
            .await
            .unwrap()
            .values()
            .all(tally_ledger::Totals::balanced)
    );
}

pub(crate) async fn linked_chains_succeed_or_fail_together<S: LedgerStore>(l: S) {
    ledger(&l).await;
    let linked = |t: NewTransfer| NewTransfer {
        flags: t.flags | TF::LINKED,
        ..t
    };
    let before = observe(&l).await;
    // The third event fails: the first two are undone, the rest of the
    // batch (a separate chain) applies.
    let r = l
        .create_transfers(
            &[
                linked(transfer(60, 1, 2, 5)),
                linked(transfer(61, 2, 1, 3)),
                transfer(62, 3, 2, 1_000),
                transfer(63, 1, 2, 7),
            ],
            60 * SECOND,
        )
        .await
        .unwrap();
    assert_eq!(
        r,
        [
            TR::LinkedEventFailed,
            TR::LinkedEventFailed,
            TR::ExceedsCredits,
            TR::Ok
        ]
    );
    assert!(transfer_of(&l, 60).await.is_none() && transfer_of(&l, 61).await.is_none());
    assert_eq!(account_of(&l, 2).await.credits_posted, 7);
    assert_eq!(
        l.account_transfers(2, 0, 10)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        [63]
    );
    // History records only what stayed.
    assert_eq!(l.account_balances(2, 0, 10).await.unwrap().len(), 1);
    // A chain left open at the end of the batch fails whole.
    let r = l
        .create_transfers(
            &[linked(transfer(64, 1, 2, 1)), linked(transfer(65, 1, 2, 1))],
            61 * SECOND,
        )
        .await
        .unwrap();
    assert_eq!(r, [TR::LinkedEventChainOpen, TR::LinkedEventChainOpen]);
    let _ = before;
    // A chain that succeeds applies whole, in order.
    let r = l
        .create_transfers(
            &[linked(transfer(66, 1, 2, 1)), transfer(67, 2, 1, 1)],
            62 * SECOND,
        )
        .await
        .unwrap();
    assert_eq!(r, [TR::Ok, TR::Ok]);
    assert!(
        transfer_of(&l, 67).await.unwrap().timestamp > transfer_of(&l, 66).await.unwrap().timestamp
    );
    // Resubmitted whole, the chain is `exists` for every event (an
    // idempotent retry) and changes nothing.
    let before = observe(&l).await;
    let r = l
        .create_transfers(
            &[linked(transfer(66, 1, 2, 1)), transfer(67, 2, 1, 1)],
            63 * SECOND,
        )
        .await
        .unwrap();
    assert_eq!(r, [TR::Exists, TR::Exists]);
    assert_eq!(observe(&l).await, before);
    // An old event chained with a new one is not a retry: the chain fails
    // and the new event is not applied.
    let r = l
        .create_transfers(
            &[linked(transfer(66, 1, 2, 1)), transfer(68, 2, 1, 1)],
            64 * SECOND,
        )
        .await
        .unwrap();
    assert_eq!(r, [TR::Exists, TR::LinkedEventFailed]);
    assert!(transfer_of(&l, 68).await.is_none());
    assert_eq!(observe(&l).await, before);
}

pub(crate) async fn balancing_transfers_move_at_most_what_is_available<S: LedgerStore>(l: S) {
    ledger(&l).await;
    // Account 3 holds 100: a balancing debit of up to 1,000 moves 100.
    let t = NewTransfer {
        flags: TF::BALANCING_DEBIT,
        ..transfer(70, 3, 2, 1_000)
    };
    assert_eq!(one(&l, t, 70 * SECOND).await, TR::Ok);
    assert_eq!(transfer_of(&l, 70).await.unwrap().amount, 100);
    assert_eq!(account_of(&l, 3).await.debits_posted, 100);
}

pub(crate) async fn oversized_batches_are_refused_whole<S: LedgerStore>(l: S) {
    ledger(&l).await;
    let before = observe(&l).await;
    let events = vec![transfer(80, 1, 2, 1); tally_ledger::MAX_BATCH_EVENTS + 1];
    assert_eq!(
        l.create_transfers(&events, 80 * SECOND)
            .await
            .map_err(|e| e.batch()),
        Err(Some(tally_ledger::BatchError::TooLarge {
            events: tally_ledger::MAX_BATCH_EVENTS + 1
        }))
    );
    assert_eq!(observe(&l).await, before);
    let events = vec![transfer(80, 1, 2, 1); tally_ledger::MAX_BATCH_EVENTS];
    let r = l.create_transfers(&events, 81 * SECOND).await.unwrap();
    assert_eq!(r[0], TR::Ok);
    assert!(r[1..].iter().all(|r| *r == TR::Exists));
}

pub(crate) async fn timestamps_strictly_increase_even_when_the_clock_does_not<S: LedgerStore>(
    l: S,
) {
    ledger(&l).await;
    let r = l
        .create_transfers(&[transfer(90, 1, 2, 1), transfer(91, 1, 2, 1)], 0)
        .await
        .unwrap();
    assert_eq!(r, [TR::Ok, TR::Ok]);
    let (a, b) = (
        transfer_of(&l, 90).await.unwrap().timestamp,
        transfer_of(&l, 91).await.unwrap().timestamp,
    );
    assert!(a > 2 * SECOND && b == a + 1, "{a} {b}");
}

/// The in-process engine: each case on a fresh `MemoryStore`.
mod memory {
    use crate::backends::memory as run;

    #[test]
    fn account_codes() {
        run(super::account_codes);
    }

    #[test]
    fn transfer_validation_codes_change_nothing() {
        run(super::transfer_validation_codes_change_nothing);
    }

    #[test]
    fn transient_failures_stay_failed() {
        run(super::transient_failures_stay_failed);
    }

    #[test]
    fn the_clock_and_timeouts_cannot_overflow() {
        run(super::the_clock_and_timeouts_cannot_overflow);
    }

    #[test]
    fn exists_names_the_first_different_field() {
        run(super::exists_names_the_first_different_field);
    }

    #[test]
    fn two_phase_transfers_post_void_and_expire_exactly_once() {
        run(super::two_phase_transfers_post_void_and_expire_exactly_once);
    }

    #[test]
    fn linked_chains_succeed_or_fail_together() {
        run(super::linked_chains_succeed_or_fail_together);
    }

    #[test]
    fn balancing_transfers_move_at_most_what_is_available() {
        run(super::balancing_transfers_move_at_most_what_is_available);
    }

    #[test]
    fn oversized_batches_are_refused_whole() {
        run(super::oversized_batches_are_refused_whole);
    }

    #[test]
    fn timestamps_strictly_increase_even_when_the_clock_does_not() {
        run(super::timestamps_strictly_increase_even_when_the_clock_does_not);
    }
}

/// PostgreSQL: each case on a fresh `PgLedger` in a throw-away database
/// (feature `postgres`; never skipped: an unreachable server fails).
#[cfg(feature = "postgres")]
mod postgres {
    use crate::backends::postgres as run;

    #[test]
    fn account_codes() {
        run(super::account_codes);
    }

    #[test]
    fn transfer_validation_codes_change_nothing() {
        run(super::transfer_validation_codes_change_nothing);
    }

    #[test]
    fn transient_failures_stay_failed() {
        run(super::transient_failures_stay_failed);
    }

    #[test]
    fn the_clock_and_timeouts_cannot_overflow() {
        run(super::the_clock_and_timeouts_cannot_overflow);
    }

    #[test]
    fn exists_names_the_first_different_field() {
        run(super::exists_names_the_first_different_field);
    }

    #[test]
    fn two_phase_transfers_post_void_and_expire_exactly_once() {
        run(super::two_phase_transfers_post_void_and_expire_exactly_once);
    }

    #[test]
    fn linked_chains_succeed_or_fail_together() {
        run(super::linked_chains_succeed_or_fail_together);
    }

    #[test]
    fn balancing_transfers_move_at_most_what_is_available() {
        run(super::balancing_transfers_move_at_most_what_is_available);
    }

    #[test]
    fn oversized_batches_are_refused_whole() {
        run(super::oversized_batches_are_refused_whole);
    }

    #[test]
    fn timestamps_strictly_increase_even_when_the_clock_does_not() {
        run(super::timestamps_strictly_increase_even_when_the_clock_does_not);
    }
}
