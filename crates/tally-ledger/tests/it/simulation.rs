//! A deterministic simulation in TigerBeetle's manner: a seeded generator
//! of batches, clock jumps (expiries), crashes and storage faults, the
//! durable ledger checked against the reference model after every step. A
//! failing seed is printed; `TALLY_SIM_SEED=<n>` replays just that seed.

use tally_audit::storage::{Faults, SimLog};
use tally_audit::{AuditLog, CheckpointSigner, Durability, LogOptions, VerifyOptions};
use tally_ledger::journal::{DurableLedger, JournalError, replay, restore_from_snapshot};
use tally_ledger::{NewAccount, NewTransfer, TransferFlags as TF};

use crate::reference::{ACCOUNTS, Model};

const SECOND: u64 = 1_000_000_000;

pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

pub(crate) fn event(rng: &mut Rng) -> NewTransfer {
    let flags = match rng.below(10) {
        0..=4 => TF::empty(),
        5 | 6 => TF::PENDING,
        7 => TF::POST_PENDING_TRANSFER,
        8 => TF::VOID_PENDING_TRANSFER,
        _ => TF::BALANCING_DEBIT,
    };
    let post_or_void =
        flags.contains(TF::POST_PENDING_TRANSFER) || flags.contains(TF::VOID_PENDING_TRANSFER);
    let debit = u128::from(rng.below(7)) + 1;
    let flags = if rng.below(5) == 0 {
        flags | TF::LINKED
    } else {
        flags
    };
    NewTransfer {
        id: u128::from(rng.below(60)) + 1,
        debit_account_id: if post_or_void { 0 } else { debit },
        credit_account_id: if post_or_void {
            0
        } else {
            u128::from(rng.below(7)) + 1
        },
        amount: u128::from(rng.below(90)),
        pending_id: if post_or_void {
            u128::from(rng.below(60)) + 1
        } else {
            0
        },
        timeout: if flags.contains(TF::PENDING) {
            rng.below(3) as u32
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
        flags,
        ..NewTransfer::default()
    }
}

fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed("sim.example/journal", &[5; 32]).unwrap()
}

fn open(sim: &SimLog, fresh: bool) -> AuditLog {
    let opts = LogOptions::new()
        .durability(Durability::Batch)
        .signer(signer())
        .checkpoint_on_close(false);
    if fresh {
        AuditLog::create_with(Box::new(sim.clone()), opts).unwrap()
    } else {
        AuditLog::open_with(Box::new(sim.clone()), opts).unwrap().0
    }
}

fn check(seed: u64, step: u64, ledger: &tally_ledger::Ledger, model: &Model) {
    for &(id, _, _) in &ACCOUNTS {
        let a = ledger.account(id).unwrap();
        assert_eq!(
            format!("{:?}", model.balances(id)),
            format!(
                "Balances {{ debits_pending: {}, debits_posted: {}, credits_pending: {}, credits_posted: {} }}",
                a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted
            ),
            "seed {seed} step {step}: account {id} (replay with TALLY_SIM_SEED={seed})"
        );
    }
    assert!(ledger.totals().values().all(tally_ledger::Totals::balanced));
}

fn simulate(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let sim = SimLog::new(Vec::new(), Faults::default(), seed);
    let mut durable = DurableLedger::new(open(&sim, true));
    let mut model = Model::default();
    let accounts: Vec<NewAccount> = ACCOUNTS
        .iter()
        .map(|&(id, ledger, flags)| NewAccount {
            id,
            ledger,
            code: 1,
            flags,
            ..NewAccount::default()
        })
        .collect();
    durable.create_accounts(&accounts, SECOND).unwrap();
    for &(id, ledger, flags) in &ACCOUNTS {
        model.accounts.insert(id, (ledger, flags));
        model.tick(SECOND);
    }
    let fund = [NewTransfer {
        id: 1_000,
        debit_account_id: 1,
        credit_account_id: 3,
        amount: 500,
        ledger: 1,
        code: 1,
        ..NewTransfer::default()
    }];
    let mut now = 2 * SECOND;
    assert_eq!(
        durable.create_transfers(&fund, now).unwrap(),
        model.batch(&fund, now)
    );
    let mut sim = sim;
    let dir = tempfile::tempdir().unwrap();
    for step in 0..200 {
        match rng.below(20) {
            // A clock jump: holds expire on the next batch.
            0 | 1 => now += rng.below(3) * SECOND,
            // Storage faults on or off.
            2 => sim.set_faults(if rng.below(2) == 0 {
                Faults {
                    sync_fail_permille: 200,
                    write_eio_permille: 100,
                    ..Faults::default()
                }
            } else {
                Faults::default()
            }),
            // A crash: the disk keeps what was synced and maybe some of the
            // rest; the ledger restarts from the journal.
            3 => {
                let image = sim.crash_image();
                let before = durable.ledger().len();
                let restored = replay(&image[..], &VerifyOptions::new()).unwrap();
                assert!(
                    restored.len().1 >= before.1,
                    "seed {seed} step {step}: lost transfers"
                );
                sim = SimLog::new(image, Faults::default(), seed.wrapping_add(step));
                let image = sim.contents();
                durable =
                    DurableLedger::restore(&image[..], &VerifyOptions::new(), open(&sim, false))
                        .unwrap();
                assert_eq!(durable.ledger().len(), restored.len());
            }
            // A snapshot, then a crash and a restart from it (or, when the
            // crash lost its binding record, from the whole journal).
            4 => {
                let path = dir.path().join("snapshot");
                let taken = durable.snapshot(&path);
                let image = sim.crash_image();
                let before = durable.ledger().len();
                sim = SimLog::new(image, Faults::default(), seed.wrapping_add(step));
                let image = sim.contents();
                let opts = VerifyOptions::new().checkpoint_key(signer().verifier());
                let from = taken.ok().and_then(|info| {
                    let file = std::fs::read(&path).unwrap();
                    match restore_from_snapshot(
                        &file[..],
                        info.bytes,
                        std::io::Cursor::new(&image[..]),
                        &opts,
                    ) {
                        Ok(from) => Some(from),
                        Err(JournalError::SnapshotNotBound {
                            mismatch: false, ..
                        }) => None,
                        Err(e) => panic!("seed {seed} step {step}: {e}"),
                    }
                });
                durable = match from {
                    Some(from) => DurableLedger::from_snapshot(from, open(&sim, false)),
                    None => {
                        DurableLedger::restore(&image[..], &VerifyOptions::new(), open(&sim, false))
                            .unwrap()
                    }
                };
                assert!(
                    durable.ledger().len().1 >= before.1,
                    "seed {seed} step {step}: lost transfers"
                );
            }
            _ => {
                now += 1;
                let events: Vec<NewTransfer> =
                    (0..rng.below(8) + 1).map(|_| event(&mut rng)).collect();
                match durable.create_transfers(&events, now) {
                    Ok(results) => {
                        let want = model.batch(&events, now);
                        assert_eq!(results, want, "seed {seed} step {step}: {events:?}");
                    }
                    Err(_) => {
                        // Not acknowledged, not applied. After the crash
                        // that follows, the batch is in the journal or not:
                        // replay decides, and the model follows it.
                        let image = sim.crash_image();
                        let restored = replay(&image[..], &VerifyOptions::new()).unwrap();
                        if restored.len().1 != durable.ledger().len().1
                            || restored.clock() != durable.ledger().clock()
                        {
                            model.batch(&events, now);
                        }
                        sim = SimLog::new(image, Faults::default(), seed.wrapping_add(step));
                        let image = sim.contents();
                        durable = DurableLedger::restore(
                            &image[..],
                            &VerifyOptions::new(),
                            open(&sim, false),
                        )
                        .unwrap();
                    }
                }
            }
        }
        check(seed, step, durable.ledger(), &model);
    }
}

#[test]
fn the_durable_ledger_survives_a_seeded_simulation() {
    if let Some(seed) = std::env::var("TALLY_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        simulate(seed);
        return;
    }
    for seed in 1..=30 {
        simulate(seed);
    }
}
