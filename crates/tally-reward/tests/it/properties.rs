//! Properties of the distribution against an independent reference.

use proptest::prelude::*;
use tally_reward::compute::compute;
use tally_reward::ident::EpochId;
use tally_reward::inputs::{AccountCounters, EpochInputs};
use tally_reward::manifest::run_key;
use tally_reward::policy::{Policy, Rounding};
use tally_reward::settle::{Role, transfer_id};
use tally_reward::{Limits, cid::Cid};

use crate::common::{WINDOW, account, amounts, distribute, inputs, policy, verified};

/// The rule of `compute`'s docs, written plainly: simultaneous capping
/// until nothing exceeds the cap, then floors and a full sort of the
/// remainders. Small values only (u128 never overflows here).
#[allow(clippy::manual_checked_ops)] // written plainly on purpose
pub(crate) fn reference(
    pool: u64,
    cap: Option<u64>,
    min: u64,
    rounding: Rounding,
    epoch: &str,
    scores: &[u64],
) -> (Vec<u64>, u64) {
    let n = scores.len();
    let s: Vec<u128> = scores.iter().map(|&x| u128::from(x) * 10_000).collect();
    let mut out = vec![0u64; n];
    let mut capped = vec![false; n];
    let mut residual = 0u64;
    let total: u128 = s.iter().sum();
    if total == 0 || pool == 0 {
        return (out, pool);
    }
    let mut p = u128::from(pool);
    if let Some(c) = cap.map(u128::from) {
        loop {
            let t: u128 = (0..n).filter(|&i| !capped[i]).map(|i| s[i]).sum();
            if t == 0 {
                break;
            }
            let over: Vec<usize> = (0..n)
                .filter(|&i| !capped[i] && s[i] > 0 && p * s[i] > c * t)
                .collect();
            if over.is_empty() {
                break;
            }
            for i in over {
                capped[i] = true;
                out[i] = c as u64;
                p -= c;
            }
        }
    }
    let t: u128 = (0..n).filter(|&i| !capped[i]).map(|i| s[i]).sum();
    if t == 0 {
        residual += p as u64;
    } else {
        let mut rem = Vec::new();
        let mut given = 0u128;
        for i in (0..n).filter(|&i| !capped[i] && s[i] > 0) {
            out[i] = (p * s[i] / t) as u64;
            given += p * s[i] / t;
            rem.push((p * s[i] % t, i));
        }
        let left = (p - given) as u64;
        match rounding {
            Rounding::Floor => residual += left,
            Rounding::LargestRemainder => {
                let hash = |i: usize| {
                    let a = format!("a{i:04}");
                    let mut h = blake3::Hasher::new_derive_key("tally/reward/tiebreak/v1");
                    h.update(&(epoch.len() as u64).to_le_bytes());
                    h.update(epoch.as_bytes());
                    h.update(&(a.len() as u64).to_le_bytes());
                    h.update(a.as_bytes());
                    (*h.finalize().as_bytes(), a)
                };
                rem.sort_by_cached_key(|&(r, i)| (core::cmp::Reverse(r), hash(i)));
                for &(_, i) in rem.iter().take(left as usize) {
                    out[i] += 1;
                }
            }
        }
    }
    for a in &mut out {
        if *a > 0 && *a < min {
            residual += *a;
            *a = 0;
        }
    }
    (out, residual)
}

fn rounding() -> impl Strategy<Value = Rounding> {
    prop_oneof![Just(Rounding::LargestRemainder), Just(Rounding::Floor)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matches_the_reference_and_conserves_by_equality(
        pool in 0u64..1_000_000,
        cap in proptest::option::of(1u64..400_000),
        min in 0u64..50,
        rounding in rounding(),
        scores in proptest::collection::vec(0u64..1_000, 0..40),
    ) {
        let d = distribute(&policy(pool, cap, min, rounding), &scores).unwrap();
        let (want, residual) = reference(pool, cap, min, rounding, "e1", &scores);
        prop_assert_eq!(amounts(&d, scores.len()), want.clone());
        prop_assert_eq!(d.residual, residual);
        prop_assert_eq!(d.capped, cap.map_or(0, |c| want.iter().filter(|&&a| a == c).count() as u64));
        prop_assert_eq!(d.paid().unwrap() + d.residual, pool);
        prop_assert!(d.payouts.iter().all(|p| p.amount > 0 && cap.is_none_or(|c| p.amount <= c) && p.amount >= min));
    }

    #[test]
    fn large_values_conserve_and_respect_caps(
        pool in any::<u64>(),
        cap in proptest::option::of(1u64..u64::MAX),
        scores in proptest::collection::vec(any::<u64>(), 1..20),
    ) {
        let d = distribute(&policy(pool, cap, 0, Rounding::LargestRemainder), &scores).unwrap();
        prop_assert_eq!(u128::from(d.paid().unwrap()) + u128::from(d.residual), u128::from(pool));
        prop_assert!(d.payouts.iter().all(|p| cap.is_none_or(|c| p.amount <= c)));
    }

    #[test]
    fn the_order_of_the_inputs_changes_nothing(
        scores in proptest::collection::vec(0u64..10_000, 1..30),
        seed in any::<u64>(),
    ) {
        let base = inputs("e1", &scores);
        let mut shuffled: Vec<AccountCounters> = base.to_accounts();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let other = EpochInputs::new(EpochId::new("e1").unwrap(), WINDOW, account("meter-1"), shuffled, &Limits::default()).unwrap();
        prop_assert_eq!(other.cid().unwrap(), base.cid().unwrap());
        let p = verified(&policy(77_777, Some(9_000), 3, Rounding::LargestRemainder));
        let a = compute(&base, &p, &Limits::default()).unwrap();
        let b = compute(&other, &p, &Limits::default()).unwrap();
        prop_assert_eq!(&a, &b);
        // and again: deterministic
        prop_assert_eq!(a, compute(&base, &p, &Limits::default()).unwrap());
    }

    #[test]
    fn without_caps_a_higher_score_never_gets_less(
        pool in 0u64..10_000_000,
        min in 0u64..100,
        rounding in rounding(),
        scores in proptest::collection::vec(0u64..100_000, 2..40),
    ) {
        let d = distribute(&policy(pool, None, min, rounding), &scores).unwrap();
        let got = amounts(&d, scores.len());
        for i in 0..scores.len() {
            for j in 0..scores.len() {
                if scores[i] > scores[j] {
                    prop_assert!(got[i] >= got[j], "{} > {} but {} < {}", scores[i], scores[j], got[i], got[j]);
                }
            }
        }
    }

    #[test]
    fn run_keys_and_transfer_ids_are_stable_and_distinct(
        epochs in proptest::collection::btree_set("[a-z0-9]{1,12}", 2..12),
        accounts in proptest::collection::btree_set("[a-z0-9]{1,12}", 2..40),
    ) {
        let (i, p) = (Cid::of(b"inputs"), Cid::of(b"policy"));
        let keys: std::collections::BTreeSet<_> = epochs.iter()
            .map(|e| run_key(&EpochId::new(e.as_str()).unwrap(), &i, &p, "v"))
            .collect();
        prop_assert_eq!(keys.len(), epochs.len());
        let e = EpochId::new("e").unwrap();
        prop_assert_eq!(run_key(&e, &i, &p, "v"), run_key(&e, &i, &p, "v"));
        prop_assert_ne!(run_key(&e, &i, &p, "v"), run_key(&e, &p, &i, "v"));
        prop_assert_ne!(run_key(&e, &i, &p, "v"), run_key(&e, &i, &p, "w"));
        let rk = run_key(&e, &i, &p, "v");
        let mut ids = std::collections::BTreeSet::new();
        for a in &accounts {
            let a = account(a);
            prop_assert!(ids.insert(transfer_id(&rk, Role::Payout, &a)));
            prop_assert!(ids.insert(transfer_id(&rk, Role::Residual, &a)));
            prop_assert_eq!(transfer_id(&rk, Role::Payout, &a), transfer_id(&rk, Role::Payout, &a));
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = EpochInputs::from_json(&bytes, &Limits::default());
        let _ = Policy::from_json(&bytes);
        let _ = tally_reward::policy::SignedPolicy::from_json(&bytes);
        let _ = tally_reward::manifest::SealedManifest::from_json(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The direct canonical writer of inputs gives exactly the bytes of the
    /// generic RFC 8785 writer, for any valid inputs.
    #[test]
    fn direct_inputs_bytes_equal_the_generic_jcs(
        accounts in proptest::collection::btree_map(
            "[A-Za-z0-9._:@/+-]{1,20}",
            proptest::collection::btree_map("[a-z0-9_]{1,12}", any::<u64>(), 0..6),
            0..20,
        ),
        epoch in "[A-Za-z0-9._:@/+-]{1,20}",
        start in 0u64..u64::MAX,
    ) {
        let accounts = accounts
            .into_iter()
            .map(|(a, c)| AccountCounters { account: account(&a), counters: tally_reward::inputs::NamedValues(c) })
            .collect();
        let window = tally_reward::inputs::Window { start, end: start + 1 };
        let inputs = EpochInputs::new(EpochId::new(epoch).unwrap(), window, account("p"), accounts, &Limits::default()).unwrap();
        prop_assert_eq!(inputs.canonical_bytes().unwrap(), inputs.canonical_bytes_generic().unwrap());
        prop_assert_eq!(
            inputs.accounts_canonical_bytes(),
            tally_reward::jcs::canonical(&inputs.to_accounts()).unwrap()
        );
        // One encoding for both: the accounts' part and the whole's CID.
        let mut seen = Vec::new();
        let cid = inputs.cid_with_accounts(|b| seen = b.to_vec()).unwrap();
        prop_assert_eq!(seen, inputs.accounts_canonical_bytes());
        prop_assert_eq!(cid, Cid::of(&inputs.canonical_bytes().unwrap()));
        prop_assert_eq!(inputs.cid().unwrap(), cid);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The direct writer of the payout list gives the generic JCS bytes.
    #[test]
    fn direct_payout_bytes_equal_the_generic_jcs(
        payouts in proptest::collection::btree_map("[A-Za-z0-9._:@/+-]{1,20}", 1u64.., 0..30),
    ) {
        let payouts: Vec<tally_reward::compute::Payout> = payouts
            .into_iter()
            .map(|(a, amount)| tally_reward::compute::Payout { account: account(&a), amount })
            .collect();
        prop_assert_eq!(
            tally_reward::manifest::payouts_bytes(&payouts).unwrap(),
            tally_reward::jcs::canonical(&payouts).unwrap()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A run stores its payouts, not its batch; the batch is derived at
    /// settlement. `settle::check` (made when a run is accepted) accepts
    /// exactly the plans whose batch `intents_of` builds, so an accepted
    /// run can always be settled; the batch moves exactly the pool, pays
    /// each payout to its payee in order (then the residual to the sink),
    /// links all but the last transfer, and is the same for the same plan.
    /// Fails if `check` and `intents_of` drift apart (a run accepted that
    /// cannot settle, or one refused that could), or if the derivation
    /// loses, reorders or changes a payment.
    #[test]
    fn check_accepts_exactly_the_plans_whose_batch_builds(
        payouts in proptest::collection::btree_map("[a-z0-9]{1,8}", 1u64..1_000_000, 0..20),
        residual in 0u64..1_000,
        skew in -2i64..3,
        sink_is_payee in any::<bool>(),
        ledger in any::<u32>(),
    ) {
        use tally_reward::settle::{Ledger, Plan, check, intents_of};
        let mut payouts: Vec<tally_reward::compute::Payout> = payouts
            .into_iter()
            .map(|(a, amount)| tally_reward::compute::Payout { account: account(&a), amount })
            .collect();
        if sink_is_payee && let Some(first) = payouts.first_mut() {
            first.account = account("treasury");
        }
        payouts.sort();
        let paid: u64 = payouts.iter().map(|p| p.amount).sum();
        let pool = (paid + residual).saturating_add_signed(skew);
        let key = run_key(&EpochId::new("e1").unwrap(), &Cid::of(b"i"), &Cid::of(b"p"), "t");
        let funding = account("pool:x");
        let sink = account("treasury");
        let plan = Plan { run_key: &key, pool, funding_account: &funding, residual_sink: &sink, residual, payouts: &payouts };
        let built = intents_of(&plan, Ledger(ledger));
        prop_assert_eq!(check(&plan).is_ok(), built.is_ok());
        let sink_collides = sink_is_payee && !payouts.is_empty() && residual > 0;
        prop_assert_eq!(built.is_ok(), skew == 0 && !sink_collides);
        if let Ok(batch) = built {
            prop_assert_eq!(batch.iter().map(|t| t.amount).sum::<u64>(), pool);
            let paid_to: Vec<(&str, u64)> = batch.iter().map(|t| (t.credit_account.as_str(), t.amount)).collect();
            let mut want: Vec<(&str, u64)> = payouts.iter().map(|p| (p.account.as_str(), p.amount)).collect();
            if residual > 0 {
                want.push(("treasury", residual));
            }
            prop_assert_eq!(paid_to, want);
            prop_assert!(batch.iter().rev().skip(1).all(|t| t.linked));
            prop_assert!(batch.last().is_none_or(|t| !t.linked));
            prop_assert!(batch.iter().all(|t| t.ledger == Ledger(ledger) && tally_reward::settle::fingerprint_matches(t)));
            prop_assert_eq!(intents_of(&plan, Ledger(ledger)).unwrap(), batch);
        }
    }
}
