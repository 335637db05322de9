//! The durable ledger: journal before acknowledging, restart by replay into
//! an identical state, and nothing acknowledged lost under injected faults.

use proptest::prelude::*;
use tally_audit::storage::{Faults, SimLog};
use tally_audit::{AuditLog, Durability, LogOptions, VerifyOptions};
use tally_ledger::journal::{
    Batch, DurableLedger, decode, encode_accounts, encode_transfers, replay,
};
use tally_ledger::{
    AccountFlags, CreateTransferResult as TR, Ledger, NewAccount, NewTransfer, TransferFlags,
};

const SECOND: u64 = 1_000_000_000;

pub(crate) fn accounts() -> Vec<NewAccount> {
    (1..=4u128)
        .map(|id| NewAccount {
            id,
            ledger: 1,
            code: 1,
            user_data_128: id << 100,
            flags: if id == 3 {
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
            } else {
                AccountFlags::HISTORY
            },
            ..NewAccount::default()
        })
        .collect()
}

pub(crate) fn transfers(seed: u64, n: usize, base: u128) -> Vec<NewTransfer> {
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let debit = u128::from(x % 4) + 1;
            let credit = u128::from((x >> 8) % 4) + 1;
            let pending = x.is_multiple_of(5);
            NewTransfer {
                id: base + i as u128,
                debit_account_id: debit,
                credit_account_id: credit,
                amount: u128::from(x % 50),
                ledger: 1,
                code: 1,
                timeout: if pending { (x % 3) as u32 } else { 0 },
                flags: if pending {
                    TransferFlags::PENDING
                } else if x.is_multiple_of(7) {
                    TransferFlags::LINKED
                } else {
                    TransferFlags::empty()
                },
                user_data_64: x,
                ..NewTransfer::default()
            }
        })
        .collect()
}

fn log(sim: &SimLog) -> AuditLog {
    AuditLog::create_with(
        Box::new(sim.clone()),
        LogOptions::new()
            .durability(Durability::Batch)
            .checkpoint_on_close(false),
    )
    .unwrap()
}

/// Everything observable: accounts, every transfer, pending states, totals.
fn same(a: &Ledger, b: &Ledger, transfer_ids: impl Iterator<Item = u128>) {
    for id in 1..=4u128 {
        assert_eq!(a.account(id), b.account(id), "account {id}");
        assert_eq!(
            a.account_balances(id, 0, usize::MAX),
            b.account_balances(id, 0, usize::MAX)
        );
    }
    for id in transfer_ids {
        assert_eq!(a.transfer(id), b.transfer(id), "transfer {id}");
        assert_eq!(a.pending_state(id), b.pending_state(id));
    }
    assert_eq!(a.len(), b.len());
    assert_eq!(a.totals(), b.totals());
    assert_eq!(a.clock(), b.clock());
}

#[test]
fn a_restart_replays_the_journal_into_an_identical_state() {
    let sim = SimLog::new(Vec::new(), Faults::default(), 1);
    let mut durable = DurableLedger::new(log(&sim));
    durable.create_accounts(&accounts(), SECOND).unwrap();
    let mut now = 2 * SECOND;
    for round in 0..30u64 {
        now += (round % 3) * SECOND;
        durable
            .create_transfers(&transfers(round + 1, 40, u128::from(round) * 100), now)
            .unwrap();
    }
    // Posts and voids of some of the holds, to replay those too.
    let post = NewTransfer {
        id: 90_000,
        pending_id: (0..3000u128)
            .find(|id| durable.ledger().pending_state(*id).is_some())
            .unwrap_or(1),
        flags: TransferFlags::POST_PENDING_TRANSFER,
        ..NewTransfer::default()
    };
    durable.create_transfers(&[post], now + SECOND).unwrap();
    let restored = replay(&sim.contents()[..], &VerifyOptions::new()).unwrap();
    same(durable.ledger(), &restored, (0..3100u128).chain([90_000]));
    assert!(
        restored
            .totals()
            .values()
            .all(tally_ledger::Totals::balanced)
    );
}

#[test]
fn submitted_batches_share_one_sync_and_replay_into_the_same_state() {
    let sim = SimLog::new(Vec::new(), Faults::default(), 3);
    let mut durable = DurableLedger::new(log(&sim));
    let (_, ticket) = durable.submit_accounts(&accounts(), SECOND).unwrap();
    let mut last = ticket;
    let syncs_before = sim.counts().0;
    for round in 0..20u64 {
        let (results, ticket) = durable
            .submit_transfers(
                &transfers(round + 7, 30, u128::from(round) * 100),
                2 * SECOND,
            )
            .unwrap();
        assert_eq!(results.len(), 30);
        last = ticket;
    }
    // One wait makes the whole group durable.
    last.wait().unwrap();
    let (syncs, _) = sim.counts();
    assert!(
        syncs - syncs_before <= 2,
        "{} syncs for one group",
        syncs - syncs_before
    );
    let restored = replay(&sim.durable()[..], &VerifyOptions::new()).unwrap();
    same(durable.ledger(), &restored, 0..2_000u128);
}

#[test]
fn a_submitted_batch_whose_sync_fails_poisons_the_journal() {
    let sim = SimLog::new(Vec::new(), Faults::default(), 5);
    let mut durable = DurableLedger::new(log(&sim));
    durable.create_accounts(&accounts(), SECOND).unwrap();
    sim.set_faults(Faults {
        sync_fail_permille: 1_000,
        ..Faults::default()
    });
    let (_, ticket) = durable
        .submit_transfers(&transfers(9, 10, 0), 2 * SECOND)
        .unwrap();
    assert!(ticket.wait().is_err());
    assert!(durable.log().is_poisoned());
    // Nothing more is journaled: the caller must stop serving this state.
    assert!(
        durable
            .submit_transfers(&transfers(10, 1, 500), 3 * SECOND)
            .is_err()
    );
    // What is durable replays without the failed batch.
    let restored = replay(&sim.durable()[..], &VerifyOptions::new()).unwrap();
    assert_eq!(restored.len().1, 0);
}

#[test]
fn nothing_acknowledged_is_lost_when_the_disk_fails() {
    for seed in 0..40u64 {
        let sim = SimLog::new(Vec::new(), Faults::default(), seed);
        let mut durable = DurableLedger::new(log(&sim));
        durable.create_accounts(&accounts(), SECOND).unwrap();
        sim.set_faults(Faults {
            sync_fail_permille: 150,
            write_eio_permille: 50,
            ..Faults::default()
        });
        let mut acknowledged: Vec<(u64, Vec<NewTransfer>)> = Vec::new();
        let mut failed: Option<(u64, Vec<NewTransfer>)> = None;
        for round in 0..20u64 {
            let now = (2 + round) * SECOND;
            let batch = transfers(seed * 100 + round, 10, u128::from(round) * 100);
            match durable.create_transfers(&batch, now) {
                Ok(_) => acknowledged.push((now, batch)),
                Err(_) => {
                    failed = Some((now, batch));
                    break;
                }
            }
        }
        // A failed append applied nothing, and the writer refuses more.
        let mut expected = Ledger::new();
        expected.create_accounts(&accounts(), SECOND).unwrap();
        for (now, batch) in &acknowledged {
            expected.create_transfers(batch, *now).unwrap();
        }
        let ids = || 0..2100u128;
        same(durable.ledger(), &expected, ids());
        if failed.is_some() {
            assert!(
                durable
                    .create_transfers(&transfers(1, 1, 50_000), 99 * SECOND)
                    .is_err()
            );
        }
        // After a crash, the journal holds every acknowledged batch, and at
        // most the one that failed (written, never acknowledged).
        let image = sim.crash_image();
        let restored = replay(&image[..], &VerifyOptions::new()).unwrap();
        let with_failed = failed.as_ref().map(|(now, batch)| {
            let mut l = expected.clone();
            l.create_transfers(batch, *now).unwrap();
            l
        });
        let matches = |l: &Ledger| l.len() == restored.len() && l.totals() == restored.totals();
        assert!(
            matches(&expected) || with_failed.as_ref().is_some_and(matches),
            "seed {seed}: restored {:?}, expected {:?}",
            restored.len(),
            expected.len()
        );
        for (_, batch) in &acknowledged {
            for t in batch {
                assert_eq!(
                    restored.transfer(t.id),
                    expected.transfer(t.id),
                    "seed {seed}"
                );
            }
        }
    }
}

#[test]
fn a_resubmitted_batch_after_restart_is_exists() {
    let sim = SimLog::new(Vec::new(), Faults::default(), 2);
    let mut durable = DurableLedger::new(log(&sim));
    durable.create_accounts(&accounts(), SECOND).unwrap();
    let batch: Vec<NewTransfer> = transfers(9, 20, 1000)
        .into_iter()
        .map(|t| NewTransfer {
            flags: TransferFlags::empty(),
            timeout: 0,
            amount: t.amount.max(1),
            ..t
        })
        .filter(|t| t.debit_account_id != t.credit_account_id && t.debit_account_id != 3)
        .collect();
    let first = durable.create_transfers(&batch, 2 * SECOND).unwrap();
    assert!(first.iter().all(|r| *r == TR::Ok), "{first:?}");
    let mut restored = replay(&sim.contents()[..], &VerifyOptions::new()).unwrap();
    let again = restored.create_transfers(&batch, 3 * SECOND).unwrap();
    assert!(again.iter().all(|r| *r == TR::Exists), "{again:?}");
}

prop_compose! {
    fn any_transfer()(
        ids in proptest::array::uniform6(any::<u128>()),
        small in proptest::array::uniform5(any::<u32>()),
        user_data_64 in any::<u64>(),
        flags in 0u16..64,
    ) -> NewTransfer {
        NewTransfer {
            id: ids[0], debit_account_id: ids[1], credit_account_id: ids[2], amount: ids[3],
            pending_id: ids[4], user_data_128: ids[5], user_data_64,
            user_data_32: small[0], timeout: small[1], ledger: small[2], code: small[3] as u16,
            flags: TransferFlags::from_bits(flags).unwrap(),
        }
    }
}

proptest! {
    /// Every batch decodes to itself; any edit of a record either decodes to
    /// the edit's meaning or is refused, never a panic.
    #[test]
    fn records_round_trip(events in proptest::collection::vec(any_transfer(), 0..20), now in any::<u64>()) {
        let text = encode_transfers(&events, now);
        prop_assert_eq!(decode(text.as_bytes()), Ok(Batch::Transfers { now, events }));
        let accounts = accounts();
        let text = encode_accounts(&accounts, now);
        prop_assert_eq!(decode(text.as_bytes()), Ok(Batch::Accounts { now, events: accounts }));
    }

    #[test]
    fn hostile_records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&bytes);
    }
}

/// Beyond TigerBeetle: every transfer can be proved offline against a
/// signed checkpoint of the journal, by anyone holding the checkpoint key.
#[test]
fn every_transfer_can_be_proved_against_a_signed_checkpoint() {
    use tally_audit::{CheckpointSigner, Keyring};
    use tally_ledger::journal::{prove_transfer, verify_transfer_proof};
    let signer = CheckpointSigner::from_seed("ledger.example/journal", &[9; 32]).unwrap();
    let vkey = signer.verifier();
    let sim = SimLog::new(Vec::new(), Faults::default(), 3);
    let log = AuditLog::create_with(
        Box::new(sim.clone()),
        LogOptions::new()
            .durability(Durability::Batch)
            .signer(signer)
            .checkpoint_on_close(false),
    )
    .unwrap();
    let mut durable = DurableLedger::new(log);
    durable.create_accounts(&accounts(), SECOND).unwrap();
    let first = transfers(5, 10, 1000);
    let second = transfers(6, 10, 2000);
    durable.create_transfers(&first, 2 * SECOND).unwrap();
    durable.create_transfers(&second, 3 * SECOND).unwrap();
    durable.log().checkpoint().unwrap();
    let applied: Vec<&NewTransfer> = first
        .iter()
        .chain(&second)
        .filter(|t| durable.ledger().transfer(t.id).is_some())
        .collect();
    assert!(applied.len() > 5);
    let opts = VerifyOptions::new().checkpoint_key(vkey.clone());
    for t in applied {
        let proof = prove_transfer(&durable, &sim.contents()[..], t.id, &opts).unwrap();
        // Offline: the proof file alone, and the checkpoint key.
        let text = proof.to_json();
        let parsed = tally_audit::InclusionProof::parse(&text).unwrap();
        assert_eq!(
            verify_transfer_proof(&parsed, &vkey, &Keyring::new(), t.id).unwrap(),
            *t
        );
        // The proof of one record does not prove a transfer of another.
        let other = if t.id < 2000 { 2001 } else { 1001 };
        assert!(verify_transfer_proof(&parsed, &vkey, &Keyring::new(), other).is_err());
        // An edited proof does not verify.
        let forged = text.replacen("\"seq\":", "\"seq\":1", 1);
        if let Ok(p) = tally_audit::InclusionProof::parse(&forged) {
            assert!(verify_transfer_proof(&p, &vkey, &Keyring::new(), t.id).is_err());
        }
    }
    // A failed or unknown transfer has no proof.
    assert!(prove_transfer(&durable, &sim.contents()[..], 99_999, &opts).is_err());
    // The index survives a restart.
    let restored = DurableLedger::restore(
        &sim.contents()[..],
        &VerifyOptions::new(),
        log_for_restore(),
    )
    .unwrap();
    for t in first.iter().chain(&second) {
        let seq = durable.journal_seq(t.id);
        assert_eq!(seq.is_some(), durable.ledger().transfer(t.id).is_some());
        assert_eq!(restored.journal_seq(t.id), seq);
    }
}

fn log_for_restore() -> AuditLog {
    log(&SimLog::new(Vec::new(), Faults::default(), 4))
}
