//! The PostgreSQL backend beyond the conformance cases: random batches
//! against the in-process ledger, the journal's tamper evidence, writers
//! racing on one hot account, and expiry of more holds than one
//! transaction takes.

use std::sync::Arc;

use sqlx::{Connection, Executor, PgConnection};
use tally_audit::CheckpointSigner;
use tally_ledger::pg::{MAX_DUE_EXPIRIES, PgError, PgLedger};
use tally_ledger::{
    AccountFlags as AF, CreateTransferResult as TR, Ledger, NewAccount, NewTransfer, PendingState,
    TransferFlags as TF,
};

use crate::backends::{TestDb, runtime};
use crate::reference::ACCOUNTS;
use crate::simulation::{Rng, event};

const SECOND: u64 = 1_000_000_000;

fn accounts() -> Vec<NewAccount> {
    ACCOUNTS
        .iter()
        .map(|&(id, ledger, flags)| NewAccount {
            id,
            ledger,
            code: 1,
            flags,
            ..NewAccount::default()
        })
        .collect()
}

fn funding() -> [NewTransfer; 2] {
    let t = |id, debit_account_id, credit_account_id, amount| NewTransfer {
        id,
        debit_account_id,
        credit_account_id,
        amount,
        ledger: 1,
        code: 1,
        ..NewTransfer::default()
    };
    [t(1000, 1, 3, 100), t(1001, 5, 2, 50)]
}

/// Runs `body` on a fresh ledger in a throw-away database.
fn with_db<F, Fut>(body: F)
where
    F: FnOnce(PgLedger, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    runtime().block_on(async move {
        let db = TestDb::create().await;
        let pg = PgLedger::connect(&db.url).await.unwrap();
        let outcome = tokio::spawn(body(pg, db.url.clone())).await;
        db.drop().await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    });
}

async fn same_state(pg: &PgLedger, l: &Ledger, context: &str) {
    assert_eq!(pg.clock().await.unwrap(), l.clock(), "{context}: clock");
    for &(id, _, _) in &ACCOUNTS {
        assert_eq!(
            pg.account(id).await.unwrap().as_ref(),
            l.account(id),
            "{context}: account {id}"
        );
    }
}

#[test]
fn random_batches_agree_with_the_in_process_ledger() {
    for seed in [0x5eed_0001_u64, 0x5eed_0002, 0x5eed_0003] {
        with_db(move |pg, _| async move {
            let mut l = Ledger::new();
            let mut rng = Rng(seed);
            let mut now = SECOND;
            let want = l.create_accounts(&accounts(), now).unwrap();
            assert_eq!(pg.create_accounts(&accounts(), now).await.unwrap(), want);
            now += SECOND;
            let want = l.create_transfers(&funding(), now).unwrap();
            assert_eq!(pg.create_transfers(&funding(), now).await.unwrap(), want);
            for step in 0..100 {
                now += rng.below(4) * SECOND;
                let n = rng.below(12);
                let events: Vec<NewTransfer> = (0..n).map(|_| event(&mut rng)).collect();
                let want = l.create_transfers(&events, now).unwrap();
                let got = pg.create_transfers(&events, now).await.unwrap();
                assert_eq!(got, want, "seed {seed:#x} step {step}: {events:?}");
                same_state(&pg, &l, &format!("seed {seed:#x} step {step}")).await;
            }
            for &(id, _, _) in &ACCOUNTS {
                assert_eq!(
                    pg.account_transfers(id, 0, 10_000).await.unwrap(),
                    l.account_transfers(id, 0, 10_000),
                    "account {id}'s transfers"
                );
                assert_eq!(
                    pg.account_balances(id, 0, 10_000).await.unwrap(),
                    l.account_balances(id, 0, 10_000),
                    "account {id}'s history"
                );
            }
            for id in 1..=60u128 {
                assert_eq!(pg.transfer(id).await.unwrap(), l.transfer(id));
                assert_eq!(pg.pending_state(id).await.unwrap(), l.pending_state(id));
            }
            assert_eq!(pg.totals().await.unwrap(), l.totals());
            assert_eq!(pg.counts().await.unwrap(), l.len());
            let report = pg.verify(None).await.unwrap();
            assert_eq!(report.batches, 102);
            assert_eq!(report.totals, l.totals());
        });
    }
}

/// A small ledger with history, holds, posts, a failed id and a checkpoint.
async fn populate(pg: &PgLedger, signer: &CheckpointSigner) {
    pg.create_accounts(&accounts(), SECOND).await.unwrap();
    pg.create_transfers(&funding(), 2 * SECOND).await.unwrap();
    let hold = NewTransfer {
        flags: TF::PENDING,
        timeout: 1,
        ..funding()[0]
    };
    let r = pg
        .create_transfers(
            &[
                NewTransfer { id: 10, ..hold },
                NewTransfer {
                    id: 11,
                    amount: 1_000,
                    debit_account_id: 3,
                    credit_account_id: 6,
                    ..funding()[0]
                },
                NewTransfer {
                    id: 12,
                    debit_account_id: 1,
                    credit_account_id: 6,
                    ..funding()[0]
                },
            ],
            3 * SECOND,
        )
        .await
        .unwrap();
    assert_eq!(r, [TR::Ok, TR::ExceedsCredits, TR::Ok]);
    pg.checkpoint(signer).await.unwrap();
    // The hold expires.
    pg.create_transfers(&[], 10 * SECOND).await.unwrap();
    assert_eq!(
        pg.pending_state(10).await.unwrap(),
        Some(PendingState::Expired)
    );
}

async fn sql(url: &str, statements: &str) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(statements.to_owned()))
        .await
        .unwrap();
}

fn tampered(e: PgError) -> String {
    match e {
        PgError::Tampered { what } => what,
        other => panic!("expected a verification failure, got {other}"),
    }
}

#[test]
fn the_journal_verifies_with_its_checkpoints() {
    with_db(|pg, _| async move {
        let signer = CheckpointSigner::generate("tally-test-pg").unwrap();
        populate(&pg, &signer).await;
        pg.checkpoint(&signer).await.unwrap();
        let report = pg.verify(Some(&signer.verifier())).await.unwrap();
        assert_eq!(
            (
                report.batches,
                report.checkpoints,
                report.accounts,
                report.transfers
            ),
            (4, 2, 7, 4)
        );
        assert!(report.totals.values().all(tally_ledger::Totals::balanced));
        let other = CheckpointSigner::generate("tally-test-pg").unwrap();
        tampered(pg.verify(Some(&other.verifier())).await.unwrap_err());
    });
}

/// A transfer's inclusion proof checks offline under the checkpoint key,
/// against an old checkpoint that covers it or a new one; and fails closed
/// when its record, its hashes, its checkpoint, its key or its transfer are
/// changed. Fails if the locator pointed at another record (the transfer
/// would not be among its events), if the tree or chain were computed
/// differently from `verify`'s, or if any field were not bound.
#[test]
fn a_transfer_proves_its_journal_record_under_a_signed_checkpoint() {
    use tally_ledger::pg_proof::{PgInclusionProof, ProofError};
    with_db(|pg, _| async move {
        let signer = CheckpointSigner::generate("tally-test-pg").unwrap();
        let vkey = signer.verifier();
        populate(&pg, &signer).await;
        // 1000 is in record 2, 12 in record 3; an old checkpoint (size 3)
        // covers both.
        let p = pg.prove(1000, &signer).await.unwrap().unwrap();
        assert_eq!((p.seq, p.tree_size), (2, 3));
        assert_eq!(p.verify(&vkey).unwrap(), (1000, 2));
        let p12 = pg.prove(12, &signer).await.unwrap().unwrap();
        assert_eq!(p12.verify(&vkey).unwrap(), (12, 3));
        // Round trip through JSON.
        let back = PgInclusionProof::from_json(&p.to_json()).unwrap();
        assert_eq!(back, p);
        // A refused transfer (11) is failed, not created; unknown ids none.
        assert_eq!(pg.prove(11, &signer).await.unwrap(), None);
        assert_eq!(pg.prove(999_999, &signer).await.unwrap(), None);
        // A transfer after every checkpoint: a new checkpoint is signed.
        pg.create_transfers(
            &[NewTransfer {
                id: 2000,
                ..funding()[0]
            }],
            20 * SECOND,
        )
        .await
        .unwrap();
        let p2000 = pg.prove(2000, &signer).await.unwrap().unwrap();
        assert_eq!((p2000.seq, p2000.tree_size), (5, 5));
        p2000.verify(&vkey).unwrap();
        // The earlier proof still checks (its checkpoint is unchanged).
        p.verify(&vkey).unwrap();
        // Fail closed on every change.
        let other = CheckpointSigner::generate("tally-test-pg").unwrap();
        let _: ProofError = p.verify(&other.verifier()).unwrap_err();
        let mut bad = p.clone();
        bad.transfer = "12".into();
        let _: ProofError = bad.verify(&vkey).unwrap_err();
        let mut bad = p.clone();
        assert!(bad.payload.len() > 10, "{}", bad.payload);
        bad.payload.insert(1, ' ');
        let _: ProofError = bad.verify(&vkey).unwrap_err();
        let mut bad = p.clone();
        bad.seq = 1;
        let _: ProofError = bad.verify(&vkey).unwrap_err();
        let mut bad = p.clone();
        bad.prev = "00".repeat(32);
        let _: ProofError = bad.verify(&vkey).unwrap_err();
        let mut bad = p.clone();
        bad.proof[0] = "00".repeat(32);
        let _: ProofError = bad.verify(&vkey).unwrap_err();
        let mut bad = p.clone();
        bad.checkpoint = p2000.checkpoint.clone();
        let _: ProofError = bad.verify(&vkey).unwrap_err();
        let mut bad = p.clone();
        bad.journal_id = "00".repeat(16);
        let _: ProofError = bad.verify(&vkey).unwrap_err();
        // A proof of another transfer's record does not prove this one.
        let mut bad = p12.clone();
        bad.transfer = "1000".into();
        let _: ProofError = bad.verify(&vkey).unwrap_err();
        assert!(PgInclusionProof::from_json("{\"format\":\"x\"}").is_err());
        // A fresh handle (another process) proves the same.
        let again = PgLedger::from_pool(pg.pool().clone()).await.unwrap();
        assert_eq!(again.prove(1000, &signer).await.unwrap().unwrap(), p);
    });
}

#[test]
fn the_applied_history_is_append_only() {
    with_db(|pg, url| async move {
        let signer = CheckpointSigner::generate("tally-test-pg").unwrap();
        populate(&pg, &signer).await;
        let mut conn = PgConnection::connect(&url).await.unwrap();
        for statement in [
            "UPDATE tally_journal SET payload = payload WHERE seq = 1",
            "DELETE FROM tally_journal WHERE seq = 4",
            "TRUNCATE tally_journal",
            "UPDATE tally_transfers SET amount = 1 WHERE id = 12",
            "DELETE FROM tally_transfers WHERE id = 12",
            "DELETE FROM tally_failed",
            "DELETE FROM tally_accounts WHERE id = 7",
        ] {
            let e = conn.execute(statement).await.unwrap_err();
            assert!(e.to_string().contains("append-only"), "{statement}: {e}");
        }
        // Balances beyond a flag's limit are refused by the database itself.
        let e = conn
            .execute("UPDATE tally_accounts SET debits_posted = credits_posted + 1 WHERE id = 3")
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("debits_must_not_exceed_credits"),
            "{e}"
        );
        pg.verify(Some(&signer.verifier())).await.unwrap();
    });
}

#[test]
fn any_edit_fails_verification() {
    // Each edit on a fresh database; the triggers are dropped first, as an
    // owner (or an attacker holding the owner's role) could.
    let edits = [
        "UPDATE tally_accounts SET credits_posted = credits_posted + 1, \
         debits_posted = debits_posted + 1 WHERE id = 1",
        "UPDATE tally_journal SET payload = replace(payload, '\"now\":3000000000', \
         '\"now\":3000000001') WHERE seq = 3",
        "INSERT INTO tally_transfers SELECT 99, debit_account_id, credit_account_id, amount, \
         pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, \
         timestamp + 1000 FROM tally_transfers WHERE id = 12",
        "DELETE FROM tally_failed",
        "DELETE FROM tally_history WHERE timestamp = (SELECT max(timestamp) FROM tally_history)",
        "UPDATE tally_pending SET state = 'pending' WHERE id = 10",
        "UPDATE tally_clock SET last = last + 1",
        // A consistent truncation of the journal: the chain still verifies,
        // the tables and the checkpoint do not.
        "DELETE FROM tally_journal WHERE seq = 4; \
         UPDATE tally_clock SET batches = 3, head = (SELECT hash FROM tally_journal WHERE seq = 3)",
        "DELETE FROM tally_journal WHERE seq = 2",
        "UPDATE tally_checkpoints SET note = replace(note, 'tally-ledger-pg', 'tally-ledger-pX')",
    ];
    for edit in edits {
        with_db(move |pg, url| async move {
            let signer = CheckpointSigner::generate("tally-test-pg").unwrap();
            populate(&pg, &signer).await;
            pg.verify(Some(&signer.verifier())).await.unwrap();
            sql(
                &url,
                &format!(
                    "ALTER TABLE tally_journal DISABLE TRIGGER USER; \
                     ALTER TABLE tally_transfers DISABLE TRIGGER USER; \
                     ALTER TABLE tally_failed DISABLE TRIGGER USER; \
                     ALTER TABLE tally_history DISABLE TRIGGER USER; \
                     ALTER TABLE tally_checkpoints DISABLE TRIGGER USER; {edit}"
                ),
            )
            .await;
            let what = tampered(pg.verify(Some(&signer.verifier())).await.unwrap_err());
            assert!(!what.is_empty(), "{edit}");
        });
    }
}

#[test]
fn racing_writers_never_overspend_a_hot_account() {
    with_db(|pg, url| async move {
        pg.create_accounts(
            &[
                NewAccount {
                    id: 1,
                    ledger: 1,
                    code: 1,
                    ..NewAccount::default()
                },
                NewAccount {
                    id: 2,
                    ledger: 1,
                    code: 1,
                    flags: AF::DEBITS_MUST_NOT_EXCEED_CREDITS,
                    ..NewAccount::default()
                },
                NewAccount {
                    id: 3,
                    ledger: 1,
                    code: 1,
                    ..NewAccount::default()
                },
            ],
            SECOND,
        )
        .await
        .unwrap();
        let fund = NewTransfer {
            id: 1,
            debit_account_id: 1,
            credit_account_id: 2,
            amount: 1_000,
            ledger: 1,
            code: 1,
            ..NewTransfer::default()
        };
        pg.create_transfers(&[fund], 2 * SECOND).await.unwrap();
        // Eight writers, each its own pool, spend 3 at a time from the hot
        // account holding 1,000: exactly 333 transfers can pass.
        let url = Arc::new(url);
        let mut tasks = Vec::new();
        for w in 0..8u128 {
            let url = Arc::clone(&url);
            tasks.push(tokio::spawn(async move {
                let pg = PgLedger::connect(&url).await.unwrap();
                let mut ok = 0u32;
                for b in 0..10u128 {
                    let events: Vec<NewTransfer> = (0..10u128)
                        .map(|i| NewTransfer {
                            id: 1_000 + w * 1_000 + b * 10 + i,
                            debit_account_id: 2,
                            credit_account_id: 3,
                            amount: 3,
                            ..fund
                        })
                        .collect();
                    let r = pg.create_transfers(&events, 3 * SECOND).await.unwrap();
                    ok += u32::try_from(r.iter().filter(|r| **r == TR::Ok).count()).unwrap();
                }
                ok
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap();
        }
        assert_eq!(ok, 333);
        let hot = pg.account(2).await.unwrap().unwrap();
        assert_eq!((hot.debits_posted, hot.credits_posted), (999, 1_000));
        assert!(
            pg.totals()
                .await
                .unwrap()
                .values()
                .all(tally_ledger::Totals::balanced)
        );
        pg.verify(None).await.unwrap();
    });
}

#[test]
fn more_holds_due_than_one_transaction_takes_expire_in_order() {
    with_db(|pg, _| async move {
        let mut l = Ledger::new();
        let a = |id| NewAccount {
            id,
            ledger: 1,
            code: 1,
            ..NewAccount::default()
        };
        l.create_accounts(&[a(1), a(2)], SECOND).unwrap();
        pg.create_accounts(&[a(1), a(2)], SECOND).await.unwrap();
        let holds = MAX_DUE_EXPIRIES + 10;
        let mut id = 1u128;
        let mut now = 2 * SECOND;
        while usize::try_from(id).unwrap() <= holds {
            let events: Vec<NewTransfer> = (0..4_000)
                .map(|i| NewTransfer {
                    id: id + i,
                    debit_account_id: 1,
                    credit_account_id: 2,
                    amount: 1,
                    ledger: 1,
                    code: 1,
                    timeout: 1,
                    flags: TF::PENDING,
                    ..NewTransfer::default()
                })
                .collect();
            assert_eq!(
                pg.create_transfers(&events, now).await.unwrap(),
                l.create_transfers(&events, now).unwrap()
            );
            id += 4_000;
            now += 1;
        }
        let post = NewTransfer {
            id: 100_000,
            pending_id: 5,
            flags: TF::POST_PENDING_TRANSFER,
            ..NewTransfer::default()
        };
        let later = 100 * SECOND;
        assert_eq!(
            pg.create_transfers(&[post], later).await.unwrap(),
            l.create_transfers(&[post], later).unwrap()
        );
        assert_eq!(pg.account(1).await.unwrap().as_ref(), l.account(1));
        assert_eq!(pg.clock().await.unwrap(), l.clock());
        assert_eq!(l.account(1).unwrap().debits_pending, 0);
        let last = u128::try_from(holds).unwrap();
        assert_eq!(
            pg.pending_state(last).await.unwrap(),
            Some(PendingState::Expired)
        );
        // One batch (in one transaction, one journal record) expired them all.
        let report = pg.verify(None).await.unwrap();
        assert_eq!(report.batches, 5);
    });
}

#[test]
fn migrations_apply_once_when_processes_start_together() {
    runtime().block_on(async {
        // Eight processes' worth of connections migrate a fresh database at
        // once: the advisory lock lets one apply the schema, the others
        // find nothing to do, and the clock row is made once.
        let db = TestDb::create().await;
        let url = Arc::new(db.url.clone());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let url = Arc::clone(&url);
                tokio::spawn(async move { PgLedger::connect(&url).await.map(|_| ()) })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap().map_err(|e| e.to_string()));
        }
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let counts: Result<(i64, i64), _> = sqlx::query_as(
            "SELECT (SELECT count(*) FROM schema_migrations WHERE component = 'tally-ledger'), \
             (SELECT count(*) FROM tally_clock)",
        )
        .fetch_one(&mut conn)
        .await;
        conn.close().await.unwrap();
        db.drop().await;
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        // Every migration once (two: the schema and the transfers' journal
        // record), one clock row.
        assert_eq!(counts.unwrap(), (2, 1));
    });
}

#[test]
fn every_batch_passes_the_durability_barrier_before_it_is_acknowledged() {
    with_db(|pg, url| async move {
        // A batch commits asynchronously; its results come back only after
        // a synchronous commit of the writer's `tally_flush` row flushed the
        // log past it: one barrier per acknowledged batch.
        pg.create_accounts(&accounts(), SECOND).await.unwrap();
        pg.create_transfers(&funding(), 2 * SECOND).await.unwrap();
        pg.create_transfers(&[], 3 * SECOND).await.unwrap();
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let (barriers, async_commit): (i64, String) = sqlx::query_as(
            "SELECT (SELECT coalesce(sum(commits), 0)::bigint FROM tally_flush), \
             current_setting('synchronous_commit')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        // The barrier itself commits synchronously (the server's default).
        assert_eq!((barriers, async_commit.as_str()), (3, "on"));
    });
}
