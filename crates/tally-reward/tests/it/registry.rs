//! One accepted run per epoch, the manifest chain, quarantine.

use tally_reward::compute::Distribution;
use tally_reward::policy::Rounding;
use tally_reward::registry::{
    Accepted, AcceptedRun, Head, MemoryStore, QuarantinedRun, RunOutcome, RunStore, StoreError,
    run_epoch,
};
use tally_reward::settle::Ledger;
use tally_reward::{Error, Limits, OverCost, cid::Cid, ident::EpochId};

use crate::common::{inputs, inputs_in_week, key, policy, signed, trusted};

fn run(
    store: &mut impl RunStore,
    epoch: &str,
    scores: &[u64],
    pool: u64,
) -> Result<RunOutcome, Error> {
    run_in_week(store, epoch, 0, scores, pool)
}

fn run_in_week(
    store: &mut impl RunStore,
    epoch: &str,
    week: u64,
    scores: &[u64],
    pool: u64,
) -> Result<RunOutcome, Error> {
    let p = signed(&policy(pool, None, 0, Rounding::LargestRemainder));
    run_epoch(
        store,
        &inputs_in_week(epoch, week, scores),
        &p,
        &trusted(),
        &Limits::default(),
        &key(),
        Ledger(1),
    )
}

fn accepted(outcome: RunOutcome) -> AcceptedRun {
    match outcome {
        RunOutcome::Accepted(run) => run,
        other => panic!("expected accepted, got {other:?}"),
    }
}

#[test]
fn the_same_run_returns_the_same_manifest_and_intents() {
    let mut store = MemoryStore::new();
    let first = accepted(run(&mut store, "e1", &[1, 2, 3], 600).unwrap());
    match run(&mut store, "e1", &[1, 2, 3], 600).unwrap() {
        RunOutcome::Existing(again) => assert_eq!(again, first),
        other => panic!("expected existing, got {other:?}"),
    }
}

#[test]
fn another_run_of_an_accepted_epoch_is_a_conflict() {
    let mut store = MemoryStore::new();
    accepted(run(&mut store, "e1", &[1, 2, 3], 600).unwrap());
    // Other inputs, or another policy (another pool), for the same epoch.
    for (scores, pool) in [(&[1, 2, 4][..], 600), (&[1, 2, 3][..], 601)] {
        assert_eq!(
            run(&mut store, "e1", scores, pool),
            Err(Error::Conflict {
                epoch: "e1".to_owned()
            })
        );
    }
    assert!(
        store
            .accepted(&EpochId::new("e1").unwrap())
            .unwrap()
            .is_some()
    );
}

#[test]
fn manifests_chain_epoch_to_epoch() {
    let mut store = MemoryStore::new();
    let a = accepted(run_in_week(&mut store, "e1", 0, &[1, 2, 3], 600).unwrap());
    let b = accepted(run_in_week(&mut store, "e2", 1, &[3, 2, 1], 600).unwrap());
    assert_eq!(a.sealed.manifest.previous, None);
    assert_eq!(b.sealed.manifest.previous, Some(a.manifest_cid));
    assert_eq!(head_cid(&store), Some(b.manifest_cid));
    // An epoch whose window does not follow the head's is refused, and
    // nothing is stored.
    assert!(matches!(
        run_in_week(&mut store, "e0", 0, &[1], 600),
        Err(Error::ChainOrder { .. })
    ));
    assert_eq!(head_cid(&store), Some(b.manifest_cid));
    // Same inputs and policy in another epoch: another run key, other ids.
    let c = accepted(run_in_week(&mut store, "e3", 2, &[3, 2, 1], 600).unwrap());
    assert_ne!(c.sealed.manifest.run_key, b.sealed.manifest.run_key);
    assert!(
        c.intents()
            .unwrap()
            .iter()
            .zip(&b.intents().unwrap())
            .all(|(x, y)| x.id != y.id)
    );
}

#[test]
fn a_dry_run_is_never_accepted() {
    let mut store = MemoryStore::new();
    let p = signed(&policy(600, None, 0, Rounding::LargestRemainder));
    let limits = Limits {
        max_cost: 1,
        on_over_cost: OverCost::DryRun,
        ..Limits::default()
    };
    let out = run_epoch(
        &mut store,
        &inputs("e1", &[1, 2]),
        &p,
        &trusted(),
        &limits,
        &key(),
        Ledger(1),
    )
    .unwrap();
    assert!(matches!(out, RunOutcome::DryRun(_)));
    assert!(
        store
            .accepted(&EpochId::new("e1").unwrap())
            .unwrap()
            .is_none()
    );
    let limits = Limits {
        on_over_cost: OverCost::Reject,
        ..limits
    };
    assert!(matches!(
        run_epoch(
            &mut store,
            &inputs("e1", &[1, 2]),
            &p,
            &trusted(),
            &limits,
            &key(),
            Ledger(1),
        ),
        Err(Error::OverCost { .. })
    ));
}

#[test]
fn an_untrusted_policy_stores_nothing() {
    let mut store = MemoryStore::new();
    let p = policy(600, None, 0, Rounding::LargestRemainder)
        .sign(&tally_reward::keys::SigningKey::from_seed(&[1; 32]))
        .unwrap();
    assert!(matches!(
        run_epoch(
            &mut store,
            &inputs("e1", &[1]),
            &p,
            &trusted(),
            &Limits::default(),
            &key(),
            Ledger(1),
        ),
        Err(Error::UntrustedKey { .. })
    ));
    assert_eq!(head_cid(&store), None);
}

/// A store whose admission check fails (the fault-injection seam the
/// ledger will use to refuse, e.g., an underfunded pool).
#[derive(Default)]
struct Refusing(MemoryStore);

impl RunStore for Refusing {
    fn accepted(&self, epoch: &EpochId) -> Result<Option<AcceptedRun>, StoreError> {
        self.0.accepted(epoch)
    }
    fn head(&self) -> Result<Option<Head>, StoreError> {
        self.0.head()
    }
    fn accept(&mut self, run: &AcceptedRun, head: Option<Cid>) -> Result<Accepted, StoreError> {
        self.0.accept(run, head)
    }
    fn quarantine(&mut self, run: QuarantinedRun) -> Result<(), StoreError> {
        self.0.quarantine(run)
    }
    fn admit(&self, _: &Distribution) -> Result<(), Error> {
        Err(Error::InvariantBreach {
            reason: "injected".to_owned(),
        })
    }
}

#[test]
fn an_invariant_breach_is_quarantined_without_intents() {
    let mut store = Refusing::default();
    match run(&mut store, "e1", &[1, 2, 3], 600).unwrap() {
        RunOutcome::Quarantined(q) => {
            assert_eq!(
                q.reason,
                Error::InvariantBreach {
                    reason: "injected".to_owned()
                }
            );
        }
        other => panic!("expected quarantine, got {other:?}"),
    }
    assert_eq!(store.0.quarantined().len(), 1);
    assert!(
        store
            .accepted(&EpochId::new("e1").unwrap())
            .unwrap()
            .is_none()
    );
    assert_eq!(head_cid(&store), None);
}

fn head_cid(store: &impl RunStore) -> Option<Cid> {
    store.head().unwrap().map(|h| h.cid)
}

/// Another worker's move, made inside this worker's run: between its reads
/// and its `accept`.
enum Rival {
    /// Accepts a run of the same epoch (same inputs when `same` is true).
    SameEpoch { same: bool },
    /// Accepts another epoch, moving the head (once).
    OtherEpoch,
    /// The store fails at `accept`.
    Down,
}

struct Racing {
    inner: MemoryStore,
    rival: Option<Rival>,
}

impl RunStore for Racing {
    fn accepted(&self, epoch: &EpochId) -> Result<Option<AcceptedRun>, StoreError> {
        self.inner.accepted(epoch)
    }
    fn head(&self) -> Result<Option<Head>, StoreError> {
        self.inner.head()
    }
    fn accept(&mut self, run: &AcceptedRun, head: Option<Cid>) -> Result<Accepted, StoreError> {
        match self.rival.take() {
            Some(Rival::SameEpoch { same }) => {
                let scores: &[u64] = if same { &[1, 2, 3] } else { &[9, 9] };
                accepted(run_in_week(&mut self.inner, "e2", 1, scores, 600).unwrap());
            }
            Some(Rival::OtherEpoch) => {
                accepted(run_in_week(&mut self.inner, "e1b", 1, &[5], 600).unwrap());
            }
            Some(Rival::Down) => {
                return Err(StoreError {
                    reason: "connection refused".to_owned(),
                });
            }
            None => {}
        }
        self.inner.accept(run, head)
    }
    fn quarantine(&mut self, run: QuarantinedRun) -> Result<(), StoreError> {
        self.inner.quarantine(run)
    }
}

fn racing(rival: Rival) -> Racing {
    let mut inner = MemoryStore::new();
    accepted(run_in_week(&mut inner, "e1", 0, &[1, 1], 600).unwrap());
    Racing {
        inner,
        rival: Some(rival),
    }
}

/// Two workers run one epoch: the insert-if-absent lets one win; the other
/// gets the winner's run (same run key) or a conflict, and never a second
/// accepted run.
#[test]
fn two_workers_cannot_both_accept_an_epoch() {
    let e2 = EpochId::new("e2").unwrap();
    let mut store = racing(Rival::SameEpoch { same: true });
    let winner = store.inner.accepted(&e2).unwrap();
    assert!(winner.is_none());
    let RunOutcome::Existing(got) = run_in_week(&mut store, "e2", 1, &[1, 2, 3], 600).unwrap()
    else {
        panic!("the loser must get the winner's run");
    };
    assert_eq!(Some(got), store.inner.accepted(&e2).unwrap());

    let mut store = racing(Rival::SameEpoch { same: false });
    assert_eq!(
        run_in_week(&mut store, "e2", 1, &[1, 2, 3], 600),
        Err(Error::Conflict {
            epoch: "e2".to_owned()
        })
    );
    let kept = store.inner.accepted(&e2).unwrap().unwrap();
    assert_eq!(kept.payouts.len(), 2, "the rival's run (two payees) stays");
}

/// Another epoch accepted meanwhile moves the head: the run is linked again
/// to the new head and accepted, so the chain never forks.
#[test]
fn a_moved_head_is_linked_again() {
    let mut store = racing(Rival::OtherEpoch);
    let run = accepted(run_in_week(&mut store, "e2", 2, &[1, 2, 3], 600).unwrap());
    let rival = store
        .inner
        .accepted(&EpochId::new("e1b").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(run.sealed.manifest.previous, Some(rival.manifest_cid));
    assert_eq!(head_cid(&store), Some(run.manifest_cid));
}

/// A store that fails is an error naming it, and nothing is recorded.
#[test]
fn a_failing_store_records_nothing() {
    let mut store = racing(Rival::Down);
    let head = head_cid(&store);
    assert_eq!(
        run_in_week(&mut store, "e2", 1, &[1, 2, 3], 600),
        Err(Error::Store {
            reason: "connection refused".to_owned()
        })
    );
    assert!(
        store
            .inner
            .accepted(&EpochId::new("e2").unwrap())
            .unwrap()
            .is_none()
    );
    assert_eq!(head_cid(&store), head);
}

/// An accepted run's payouts are its intents but the residual's.
#[test]
fn an_accepted_run_lists_its_payouts() {
    let mut store = MemoryStore::new();
    let p = signed(&policy(100, Some(10), 0, Rounding::LargestRemainder));
    let RunOutcome::Accepted(run) = run_epoch(
        &mut store,
        &inputs("e1", &[1, 2]),
        &p,
        &trusted(),
        &Limits::default(),
        &key(),
        Ledger(1),
    )
    .unwrap() else {
        panic!("expected accepted");
    };
    assert_eq!(run.sealed.manifest.residual, 80);
    let payouts: Vec<(String, u64)> = run
        .payouts
        .iter()
        .map(|p| (p.account.as_str().to_owned(), p.amount))
        .collect();
    assert_eq!(
        payouts,
        [("a0000".to_owned(), 10), ("a0001".to_owned(), 10)]
    );
    assert_eq!(run.intents().unwrap().len(), 3);
}
