//! Golden distributions, worked by hand.

use tally_reward::Error;
use tally_reward::policy::Rounding::{Floor, LargestRemainder};

use crate::common::{amounts, distribute, policy};

fn tiebreak(epoch: &str, account: &str) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("tally/reward/tiebreak/v1");
    h.update(&(epoch.len() as u64).to_le_bytes());
    h.update(epoch.as_bytes());
    h.update(&(account.len() as u64).to_le_bytes());
    h.update(account.as_bytes());
    *h.finalize().as_bytes()
}

#[test]
fn off_by_one_rounding_goes_to_the_first_in_tiebreak_order() {
    // 10 among three equal scores: 3 each and one unit left.
    let d = distribute(&policy(10, None, 0, LargestRemainder), &[5, 5, 5]).unwrap();
    let got = amounts(&d, 3);
    assert_eq!(got.iter().sum::<u64>(), 10);
    assert_eq!(d.residual, 0);
    let winner = (0..3)
        .min_by_key(|i| tiebreak("e1", &format!("a{i:04}")))
        .unwrap();
    for (i, &a) in got.iter().enumerate() {
        assert_eq!(a, if i == winner { 4 } else { 3 });
    }
}

#[test]
fn largest_remainders_win_before_ties() {
    // 100 × (1,2,4)/7 = 14.28, 28.57, 57.14: floors 14+28+57 = 99, the one
    // unit left goes to the largest remainder (28.57).
    let d = distribute(&policy(100, None, 0, LargestRemainder), &[1, 2, 4]).unwrap();
    assert_eq!(amounts(&d, 3), vec![14, 29, 57]);
    assert_eq!(d.residual, 0);
}

#[test]
fn floor_rounding_sends_the_leftover_to_the_residual() {
    let d = distribute(&policy(10, None, 0, Floor), &[5, 5, 5]).unwrap();
    assert_eq!(amounts(&d, 3), vec![3, 3, 3]);
    assert_eq!(d.residual, 1);
}

#[test]
fn caps_cascade() {
    // Shares 60, 30, 5, 5 of 100 with a cap of 35: a0 is capped (P = 65,
    // T = 40), which lifts a1 to 48.75: capped too (P = 30, T = 10); a2
    // and a3 get 15 each.
    let d = distribute(&policy(100, Some(35), 0, LargestRemainder), &[60, 30, 5, 5]).unwrap();
    assert_eq!(amounts(&d, 4), vec![35, 35, 15, 15]);
    assert_eq!(d.capped, 2);
    assert_eq!(d.residual, 0);
}

#[test]
fn a_single_cap_redistributes_to_the_others() {
    let d = distribute(
        &policy(100, Some(40), 0, LargestRemainder),
        &[50, 30, 10, 10],
    )
    .unwrap();
    assert_eq!(amounts(&d, 4), vec![40, 36, 12, 12]);
    assert_eq!(d.capped, 1);
}

#[test]
fn when_everyone_is_capped_the_rest_is_residual() {
    let d = distribute(&policy(100, Some(10), 0, LargestRemainder), &[1, 2, 3]).unwrap();
    assert_eq!(amounts(&d, 3), vec![10, 10, 10]);
    assert_eq!(d.residual, 70);
    assert_eq!(d.capped, 3);
}

/// `capped` is the number of payees paid exactly the cap: an exact share
/// equal to the cap counts, a share cut to the cap and then left unpaid
/// under the minimum does not.
#[test]
fn capped_counts_the_payees_paid_exactly_the_cap() {
    let d = distribute(&policy(100, Some(50), 0, LargestRemainder), &[1, 1]).unwrap();
    assert_eq!(amounts(&d, 2), vec![50, 50]);
    assert_eq!(d.capped, 2);
    let d = distribute(&policy(100, Some(5), 10, LargestRemainder), &[100, 1, 1]).unwrap();
    assert!(d.payouts.is_empty());
    assert_eq!((d.capped, d.below_minimum, d.residual), (0, 3, 100));
    // Rounded up to the cap: 3 × 10/3 with a cap of 4 pays 4, 3, 3.
    let d = distribute(&policy(10, Some(4), 0, LargestRemainder), &[1, 1, 1]).unwrap();
    assert_eq!(amounts(&d, 3).iter().filter(|&&a| a == 4).count(), 1);
    assert_eq!(d.capped, 1);
    // The count is part of what `check` re-checks.
    let p = policy(100, Some(50), 0, LargestRemainder);
    let mut wrong = distribute(&p, &[1, 1]).unwrap();
    assert!(wrong.check(&p).is_ok());
    wrong.capped = 0;
    assert!(matches!(
        wrong.check(&p),
        Err(Error::InvariantBreach { .. })
    ));
}

/// The policy's funding account or residual sink listed in the inputs is
/// refused, naming the account: settling would pay an account from itself.
#[test]
fn the_pool_accounts_cannot_be_payees() {
    use tally_reward::compute::compute;
    use tally_reward::ident::EpochId;
    use tally_reward::inputs::{AccountCounters, EpochInputs, NamedValues};
    use tally_reward::{Limits, compute::PoolRole};
    let p = crate::common::verified(&policy(100, None, 0, LargestRemainder));
    for (name, role) in [
        ("pool:test", PoolRole::Funding),
        ("treasury", PoolRole::ResidualSink),
    ] {
        let accounts = ["a0000", name]
            .iter()
            .map(|a| AccountCounters {
                account: crate::common::account(a),
                counters: NamedValues([("units".to_owned(), 1)].into_iter().collect()),
            })
            .collect();
        let inputs = EpochInputs::new(
            EpochId::new("e1").unwrap(),
            crate::common::WINDOW,
            crate::common::account("meter-1"),
            accounts,
            &Limits::default(),
        )
        .unwrap();
        let err = compute(&inputs, &p, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            Error::PoolAccountAsPayee {
                account: crate::common::account(name),
                role
            }
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn all_accounts_below_the_minimum_pay_nothing() {
    // 2.5 each: 3, 3, 2, 2 after rounding, all below 5.
    let d = distribute(&policy(10, None, 5, LargestRemainder), &[1, 1, 1, 1]).unwrap();
    assert!(d.payouts.is_empty());
    assert_eq!(d.residual, 10);
    assert_eq!(d.below_minimum, 4);
}

#[test]
fn a_single_account_gets_the_pool_or_the_cap() {
    let d = distribute(&policy(1_000, None, 0, LargestRemainder), &[3]).unwrap();
    assert_eq!(amounts(&d, 1), vec![1_000]);
    let d = distribute(&policy(1_000, Some(600), 0, LargestRemainder), &[3]).unwrap();
    assert_eq!(amounts(&d, 1), vec![600]);
    assert_eq!(d.residual, 400);
}

#[test]
fn no_score_pays_nobody() {
    let d = distribute(&policy(1_000, None, 0, LargestRemainder), &[0, 0]).unwrap();
    assert!(d.payouts.is_empty());
    assert_eq!(d.residual, 1_000);
    let d = distribute(&policy(1_000, None, 0, LargestRemainder), &[]).unwrap();
    assert_eq!(d.residual, 1_000);
    assert_eq!(d.accounts, 0);
}

#[test]
fn extreme_values_stay_exact() {
    // Scores near 2^64 × 10,000 and a pool of u64::MAX: the 192-bit path.
    let d = distribute(
        &policy(u64::MAX, None, 0, LargestRemainder),
        &[u64::MAX, u64::MAX - 1, 1, 0],
    )
    .unwrap();
    let got = amounts(&d, 4);
    assert_eq!(
        got.iter().map(|&a| u128::from(a)).sum::<u128>(),
        u128::from(u64::MAX)
    );
    assert!(got[0] >= got[1] && got[1] > got[2]);
    assert_eq!(got[3], 0);
}

#[test]
fn a_window_outside_the_policy_is_refused() {
    let mut p = policy(10, None, 0, LargestRemainder);
    p.valid_until = crate::common::WINDOW.end - 1;
    let err = distribute(&p, &[1]).unwrap_err();
    assert_eq!(err, Error::OutsideValidity);
}

#[test]
fn over_cost_rejects_or_runs_dry() {
    use tally_reward::compute::compute;
    use tally_reward::{Limits, OverCost};
    let p = policy(10, None, 0, LargestRemainder);
    let inputs = crate::common::inputs("e1", &[1, 2, 3]);
    // Cost: 3 accounts + 3 weighted counters = 6 units.
    let limits = Limits {
        max_cost: 5,
        ..Limits::default()
    };
    let err = compute(&inputs, &crate::common::verified(&p), &limits).unwrap_err();
    assert_eq!(err, Error::OverCost { units: 6, max: 5 });
    let dry = Limits {
        on_over_cost: OverCost::DryRun,
        ..limits
    };
    let outcome = compute(&inputs, &crate::common::verified(&p), &dry).unwrap();
    assert!(outcome.dry_run);
    let at_bound = Limits {
        max_cost: 6,
        ..limits
    };
    assert!(
        !compute(&inputs, &crate::common::verified(&p), &at_bound)
            .unwrap()
            .dry_run
    );
}

/// Deterministic scores for `n` accounts (xorshift), some zero.
fn generated(n: usize, seed: u64) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(17) {
                0
            } else {
                x % 1_000_000
            }
        })
        .collect()
}

/// The vectors of an epoch's distribution, as `scripts/vectors/reward_golden.py`
/// names them: the CID and Merkle root of the payout list, the residual,
/// the payees paid the cap, the number of payees.
fn epoch_vectors(d: &tally_reward::compute::Distribution) -> [String; 5] {
    let cid =
        tally_reward::cid::Cid::of(&tally_reward::manifest::payouts_bytes(&d.payouts).unwrap());
    [
        cid.to_string(),
        tally_reward::manifest::Hex32(tally_reward::merkle::root(&d.payouts)).to_string(),
        d.residual.to_string(),
        d.capped.to_string(),
        d.payouts.len().to_string(),
    ]
}

/// An epoch of `n` generated accounts checked three ways: against the
/// reference rule of `properties.rs`, and against the vectors
/// `scripts/vectors/reward_golden.py` computes with its own implementation
/// of the rule.
fn check_epoch(name: &str, n: usize, seed: u64, pool: u64, cap: u64, min: u64) {
    let scores = generated(n, seed);
    let d = distribute(&policy(pool, Some(cap), min, LargestRemainder), &scores).unwrap();
    let (want, residual) =
        crate::properties::reference(pool, Some(cap), min, LargestRemainder, "e1", &scores);
    assert_eq!(amounts(&d, scores.len()), want);
    assert_eq!(d.residual, residual);
    assert_eq!(d.paid().unwrap() + d.residual, pool);
    assert!(d.capped > 0, "{name}: the cap is active");
    let fields = [
        "payouts_cid",
        "payouts_root",
        "residual",
        "capped",
        "payees",
    ];
    for (field, got) in fields.iter().zip(epoch_vectors(&d)) {
        assert_eq!(
            got,
            crate::common::vector(&format!("{name}.{field}")),
            "{name}.{field}"
        );
    }
}

/// A medium epoch (1,000 accounts, the cap active).
#[test]
fn medium_epoch_golden() {
    check_epoch(
        "medium",
        1_000,
        0x9e37_79b9_7f4a_7c15,
        123_456_789,
        200_000,
        25,
    );
}

/// A large epoch (50,000 accounts, the cap active).
#[test]
fn large_epoch_golden() {
    check_epoch(
        "large",
        50_000,
        0x2545_f491_4f6c_dd1d,
        10_000_000_000,
        300_000,
        3,
    );
}

/// The largest scores the limits allow: 64 counters at `u64::MAX`, each at
/// the largest weight, a pool of `u64::MAX`. A score is then
/// 64 × 10^7 × (2^64 − 1) ≈ 2^93 (a million accounts stay below 2^113, so
/// the checked `u128` sums cannot overflow within the limits and
/// `Error::Overflow` is a defensive branch no input reaches). The exact
/// answer, worked with Python's integers: each of the three equal accounts
/// gets ⌊64M²/(192M + 1)⌋ = 6,148,914,691,236,517,204 (M = 2^64 − 1), the
/// account with a single unit ⌊M/(192M + 1)⌋ = 0, and the 3 units left go
/// one to each large account (remainder ≈ 0.998 against ≈ 0.005).
#[test]
fn the_largest_scores_the_limits_allow_stay_exact() {
    use tally_reward::Limits;
    use tally_reward::compute::compute;
    use tally_reward::ident::EpochId;
    use tally_reward::inputs::{AccountCounters, EpochInputs, MAX_COUNTERS, NamedValues};
    use tally_reward::policy::{MAX_WEIGHT_BPS, Policy};
    let names: Vec<String> = (0..MAX_COUNTERS).map(|i| format!("c{i:02}")).collect();
    let weights: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .map(|n| (n.clone(), MAX_WEIGHT_BPS.into()))
        .collect();
    let json = serde_json::json!({
        "schema": "tally/reward/policy/v1", "id": "test", "version": 1,
        "pool": u64::MAX, "funding_account": "pool:test", "residual_sink": "treasury",
        "weights": weights, "cap": null, "min_payout": 0,
        "rounding": "largest_remainder", "valid_from": 1_700_000_000u64, "valid_until": 1_900_000_000u64,
    });
    let p = Policy::from_json(json.to_string().as_bytes()).unwrap();
    let mut accounts: Vec<AccountCounters> = (0..3)
        .map(|i| AccountCounters {
            account: crate::common::account(&format!("a{i:04}")),
            counters: NamedValues(names.iter().map(|n| (n.clone(), u64::MAX)).collect()),
        })
        .collect();
    accounts.push(AccountCounters {
        account: crate::common::account("a0003"),
        counters: NamedValues([("c00".to_owned(), 1)].into_iter().collect()),
    });
    let inputs = EpochInputs::new(
        EpochId::new("e1").unwrap(),
        crate::common::WINDOW,
        crate::common::account("meter-1"),
        accounts,
        &Limits::default(),
    )
    .unwrap();
    let d = compute(&inputs, &crate::common::verified(&p), &Limits::default())
        .unwrap()
        .distribution;
    let large = 6_148_914_691_236_517_205;
    assert_eq!(amounts(&d, 4), vec![large, large, large, 0]);
    assert_eq!(d.residual, 0);
    assert_eq!(3 * u128::from(large), u128::from(u64::MAX));
}
