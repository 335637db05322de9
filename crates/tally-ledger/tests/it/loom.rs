//! loom models of `SharedBudget`'s locking protocol: every interleaving of
//! threads reserving, committing and topping up on tenants of two shards
//! while the main thread takes a snapshot. Each snapshot balances and is a
//! state that existed; no interleaving deadlocks (loom fails on one); and a
//! snapshot taken one shard at a time is caught. Built and run only under
//! `RUSTFLAGS="--cfg loom"` (see `scripts/test.d/15-ledger-loom.sh`).

use loom::sync::Arc;
use loom::thread;
use tally_ledger::budget::{BudgetSnapshot, Committed};
use tally_ledger::shared::SharedBudget;

/// A shared budget of two shards with tenant `a` in shard 0 and `b` in
/// shard 1 (the order a snapshot locks them), each funded with 100.
fn two_shards() -> (Arc<SharedBudget>, u128, u128) {
    let budget = SharedBudget::with_shards(1, 1, 2, None, 1, 2).unwrap();
    let a = (10u128..).find(|t| budget.shard_of(*t) == 0).unwrap();
    let b = (10u128..).find(|t| budget.shard_of(*t) == 1).unwrap();
    budget.open_tenant(a, 100, 1_000, 1).unwrap();
    budget.open_tenant(b, 100, 1_001, 1).unwrap();
    (Arc::new(budget), a, b)
}

fn funded(snap: &BudgetSnapshot, t: u128) -> u128 {
    snap.tenants
        .iter()
        .find(|(id, _)| *id == t)
        .map_or(0, |(_, b)| b.funded)
}

fn balanced(snap: &BudgetSnapshot) {
    assert!(snap.proof.holds, "a false violation: {:?}", snap.proof);
    for (_, t) in &snap.tenants {
        assert_eq!(t.remaining + t.reserved + t.committed, t.funded);
    }
}

/// Two threads reserve and commit on tenants of different shards (one
/// within its hold, one overrunning it) while the main thread snapshots:
/// every snapshot balances, both commits land, nothing deadlocks.
#[test]
fn loom_reserve_commit_on_two_shards_with_a_snapshot() {
    loom::model(|| {
        let (budget, a, b) = two_shards();
        let spawn = |tenant: u128, id: u128, actual: u128| {
            let budget = budget.clone();
            thread::spawn(move || {
                budget.try_reserve(tenant, 10, id, 0, 2).unwrap();
                budget.commit(id, actual, 3).unwrap()
            })
        };
        let t1 = spawn(a, 7, 6);
        let t2 = spawn(b, 8, 12);
        let snap = budget.snapshot();
        balanced(&snap);
        assert_eq!(t1.join().unwrap(), Committed::Now(6));
        assert_eq!(t2.join().unwrap(), Committed::Now(12));
        let end = budget.snapshot();
        balanced(&end);
        assert_eq!(end.proof.committed.lo, 18);
        assert_eq!(end.proof.reserved.lo, 0);
    });
}

/// A writer tops up `a` (shard 0) then `b` (shard 1), each by 1: a
/// linearizable snapshot never sees `b`'s top-up without `a`'s.
fn ordered_top_ups(snapshot: fn(&SharedBudget) -> BudgetSnapshot) {
    loom::model(move || {
        let (budget, a, b) = two_shards();
        let writer = {
            let budget = budget.clone();
            thread::spawn(move || {
                budget.top_up(a, 1, 2_000, 2).unwrap();
                budget.top_up(b, 1, 2_001, 2).unwrap();
            })
        };
        let snap = snapshot(&budget);
        balanced(&snap);
        let (fa, fb) = (funded(&snap, a), funded(&snap, b));
        assert!(
            fa == fb || fa == fb + 1,
            "a torn snapshot: a funded {fa}, b funded {fb}"
        );
        writer.join().unwrap();
    });
}

#[test]
fn loom_snapshots_are_linearizable() {
    ordered_top_ups(SharedBudget::snapshot);
}

/// The same model catches a snapshot that locks one shard at a time.
#[test]
#[should_panic(expected = "a torn snapshot")]
fn loom_a_snapshot_one_shard_at_a_time_is_caught() {
    ordered_top_ups(SharedBudget::snapshot_one_shard_at_a_time);
}

/// Two threads race one reservation id on tenants of different shards,
/// then commit it: the directory gives the id to one of them (the other is
/// `exists_with_different_debit_account_id`, as one ledger answers), one
/// commit lands, and the snapshot taken meanwhile balances.
#[test]
fn loom_one_reservation_id_raced_from_two_shards() {
    use tally_ledger::CreateTransferResult as TR;
    use tally_ledger::budget::BudgetError;
    loom::model(|| {
        let (budget, a, b) = two_shards();
        let spawn = |tenant: u128| {
            let budget = budget.clone();
            thread::spawn(move || {
                let reserved = budget.try_reserve(tenant, 10, 7, 0, 2);
                let committed = budget.commit(7, 5, 3);
                (reserved, committed)
            })
        };
        let (ta, tb) = (spawn(a), spawn(b));
        balanced(&budget.snapshot());
        let (ra, ca) = ta.join().unwrap();
        let (rb, cb) = tb.join().unwrap();
        let refused = Err(BudgetError::Transfer(TR::ExistsWithDifferentDebitAccountId));
        assert!(
            (ra.is_ok() && rb == refused) || (rb.is_ok() && ra == refused),
            "{ra:?} {rb:?}"
        );
        // One commit posts, the other finds it done (or both find it
        // posted by the first).
        let posts = [ca, cb]
            .iter()
            .filter(|c| **c == Ok(Committed::Now(5)))
            .count();
        assert_eq!(posts, 1, "{ca:?} {cb:?}");
        let end = budget.snapshot();
        balanced(&end);
        assert_eq!(end.proof.committed.lo, 5);
    });
}
