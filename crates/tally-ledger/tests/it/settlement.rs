//! A tally-reward run settles on the ledger as one linked batch, exactly
//! once: its intents carry the ledger fields (ledger, code, 128-bit account
//! ids, linked on all but the last), a second submission is `exists` for
//! every event, and the pool's debit is the payouts plus the residual.

use tally_ledger::{
    AccountFlags, CreateTransferResult as TR, Ledger, NewAccount, NewTransfer, TransferFlags,
};
use tally_reward::Limits;
use tally_reward::ident::{AccountId, EpochId};
use tally_reward::inputs::{AccountCounters, EpochInputs, NamedValues, Window};
use tally_reward::keys::{SigningKey, TrustedKeys};
use tally_reward::policy::Policy;
use tally_reward::registry::{MemoryStore, RunOutcome, run_epoch};
use tally_reward::settle::{Ledger as RewardLedger, Transfer, ledger_account_id};

const SECOND: u64 = 1_000_000_000;

fn account(name: &str) -> AccountId {
    AccountId::new(name).unwrap()
}

/// A sealed run paying a pool of 1,000 over four payees (cap 200, so part
/// of the pool is residual).
fn intents() -> (Vec<Transfer>, u64, u64) {
    let key = SigningKey::from_seed(&[7; 32]);
    let mut trusted = TrustedKeys::new();
    trusted.insert(&key.public_key()).unwrap();
    let policy = Policy::from_json(
        serde_json::json!({
            "schema": "tally/reward/policy/v1", "id": "settle", "version": 1,
            "pool": 1000, "funding_account": "pool:test", "residual_sink": "treasury",
            "weights": {"units": 10000}, "cap": 200, "min_payout": 0,
            "rounding": "largest_remainder", "valid_from": 1_700_000_000u64,
            "valid_until": 1_900_000_000u64,
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap()
    .sign(&key)
    .unwrap();
    let accounts = [("alice", 5u64), ("bob", 3), ("carol", 1), ("dave", 1)]
        .iter()
        .map(|(name, units)| AccountCounters {
            account: account(name),
            counters: NamedValues([("units".to_owned(), *units)].into_iter().collect()),
        })
        .collect();
    let inputs = EpochInputs::new(
        EpochId::new("e1").unwrap(),
        Window {
            start: 1_763_337_600,
            end: 1_763_942_400,
        },
        account("meter-1"),
        accounts,
        &Limits::default(),
    )
    .unwrap();
    let RunOutcome::Accepted(run) = run_epoch(
        &mut MemoryStore::new(),
        &inputs,
        &policy,
        &trusted,
        &Limits::default(),
        &key,
        RewardLedger(5),
    )
    .unwrap() else {
        panic!("expected an accepted run");
    };
    let m = &run.sealed.manifest;
    (run.intents().unwrap(), m.pool, m.residual)
}

fn to_ledger(t: &Transfer) -> NewTransfer {
    NewTransfer {
        id: t.id,
        debit_account_id: t.debit_account_id,
        credit_account_id: t.credit_account_id,
        amount: u128::from(t.amount),
        ledger: t.ledger.0,
        code: t.code,
        flags: if t.linked {
            TransferFlags::LINKED
        } else {
            TransferFlags::empty()
        },
        ..NewTransfer::default()
    }
}

#[test]
fn a_reward_run_settles_as_one_linked_batch_exactly_once() {
    let (intents, pool, residual) = intents();
    assert!(residual > 0, "the cap leaves a residual");
    let mut ledger = Ledger::new();
    // The funding account may not overdraw; the operator funds it with the
    // pool first. Payees and the sink are the intents' ledger account ids.
    let pool_account = ledger_account_id(&account("pool:test"));
    let operator = 1u128;
    let mut ids: Vec<u128> = intents.iter().map(|t| t.credit_account_id).collect();
    ids.push(operator);
    let mut accounts: Vec<NewAccount> = ids
        .iter()
        .map(|&id| NewAccount {
            id,
            ledger: 5,
            code: 1,
            ..NewAccount::default()
        })
        .collect();
    accounts.push(NewAccount {
        id: pool_account,
        ledger: 5,
        code: 1,
        flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        ..NewAccount::default()
    });
    ledger.create_accounts(&accounts, SECOND).unwrap();
    let fund = NewTransfer {
        id: 1,
        debit_account_id: operator,
        credit_account_id: pool_account,
        amount: u128::from(pool),
        ledger: 5,
        code: 1,
        ..NewTransfer::default()
    };
    assert_eq!(
        ledger.create_transfers(&[fund], 2 * SECOND).unwrap(),
        [TR::Ok]
    );

    let batch: Vec<NewTransfer> = intents.iter().map(to_ledger).collect();
    assert!(
        batch[..batch.len() - 1]
            .iter()
            .all(|t| t.flags.contains(TransferFlags::LINKED))
    );
    let results = ledger.create_transfers(&batch, 3 * SECOND).unwrap();
    assert!(results.iter().all(|r| *r == TR::Ok), "{results:?}");
    let funding = *ledger.account(pool_account).unwrap();
    assert_eq!(funding.debits_posted, u128::from(pool));
    let paid: u128 = intents
        .iter()
        .map(|t| ledger.account(t.credit_account_id).unwrap().credits_posted)
        .sum();
    assert_eq!(paid, u128::from(pool));
    assert_eq!(
        ledger
            .account(ledger_account_id(&account("treasury")))
            .unwrap()
            .credits_posted,
        u128::from(residual)
    );
    // Exactly once: the same batch again is `exists` for every event and
    // changes nothing.
    let again = ledger.create_transfers(&batch, 4 * SECOND).unwrap();
    assert!(again.iter().all(|r| *r == TR::Exists), "{again:?}");
    assert_eq!(
        ledger.account(pool_account).unwrap().debits_posted,
        u128::from(pool)
    );
    // A run the pool cannot fund fails whole: one unfunded payout fails the
    // linked chain, and nothing is paid.
    let mut bigger = batch.clone();
    for t in &mut bigger {
        t.id ^= 1 << 100;
    }
    let results = ledger.create_transfers(&bigger, 5 * SECOND).unwrap();
    assert!(results.contains(&TR::ExceedsCredits), "{results:?}");
    assert!(results.iter().all(|r| *r != TR::Ok));
    assert_eq!(
        ledger.account(pool_account).unwrap().debits_posted,
        u128::from(pool)
    );
}
