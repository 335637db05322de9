//! One accepted run per epoch, the manifest chain, quarantine.

use tally_reward::compute::Distribution;
use tally_reward::policy::Rounding;
use tally_reward::registry::{
    AcceptedRun, MemoryStore, QuarantinedRun, RunOutcome, RunStore, run_epoch,
};
use tally_reward::{Error, Limits, OverCost, cid::Cid, ident::EpochId};

use crate::common::{inputs, key, policy, signed, trusted};

fn run(
    store: &mut impl RunStore,
    epoch: &str,
    scores: &[u64],
    pool: u64,
) -> Result<RunOutcome, Error> {
    let p = signed(&policy(pool, None, 0, Rounding::LargestRemainder));
    run_epoch(
        store,
        &inputs(epoch, scores),
        &p,
        &trusted(),
        &Limits::default(),
        &key(),
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
    assert!(store.accepted(&EpochId::new("e1").unwrap()).is_some());
}

#[test]
fn manifests_chain_epoch_to_epoch() {
    let mut store = MemoryStore::new();
    let a = accepted(run(&mut store, "e1", &[1, 2, 3], 600).unwrap());
    let b = accepted(run(&mut store, "e2", &[3, 2, 1], 600).unwrap());
    assert_eq!(a.sealed.manifest.previous, None);
    assert_eq!(b.sealed.manifest.previous, Some(a.manifest_cid));
    assert_eq!(store.head(), Some(b.manifest_cid));
    // Same inputs and policy in another epoch: another run key, other ids.
    let c = accepted(run(&mut store, "e3", &[3, 2, 1], 600).unwrap());
    assert_ne!(c.sealed.manifest.run_key, b.sealed.manifest.run_key);
    assert!(c.intents.iter().zip(&b.intents).all(|(x, y)| x.id != y.id));
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
    )
    .unwrap();
    assert!(matches!(out, RunOutcome::DryRun(_)));
    assert!(store.accepted(&EpochId::new("e1").unwrap()).is_none());
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
            &key()
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
            &key()
        ),
        Err(Error::UntrustedKey { .. })
    ));
    assert_eq!(store.head(), None);
}

/// A store whose admission check fails (the fault-injection seam the
/// ledger will use to refuse, e.g., an underfunded pool).
#[derive(Default)]
struct Refusing(MemoryStore);

impl RunStore for Refusing {
    fn accepted(&self, epoch: &EpochId) -> Option<&AcceptedRun> {
        self.0.accepted(epoch)
    }
    fn head(&self) -> Option<Cid> {
        self.0.head()
    }
    fn accept(&mut self, run: AcceptedRun) {
        self.0.accept(run);
    }
    fn quarantine(&mut self, run: QuarantinedRun) {
        self.0.quarantine(run);
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
    assert!(store.accepted(&EpochId::new("e1").unwrap()).is_none());
    assert_eq!(store.head(), None);
}
