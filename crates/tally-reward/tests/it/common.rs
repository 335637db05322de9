//! Builders shared by the tests.

use tally_reward::compute::{Distribution, compute};
use tally_reward::ident::{AccountId, EpochId};
use tally_reward::inputs::{AccountCounters, EpochInputs, NamedValues, Window};
use tally_reward::keys::{SigningKey, TrustedKeys};
use tally_reward::policy::{Policy, Rounding, SignedPolicy, VerifiedPolicy};
use tally_reward::{Error, Limits};

pub const WINDOW: Window = Window {
    start: 1_763_337_600,
    end: 1_763_942_400,
};

pub fn key() -> SigningKey {
    SigningKey::from_seed(&[7; 32])
}

pub fn trusted() -> TrustedKeys {
    let mut t = TrustedKeys::new();
    t.insert(&key().public_key()).unwrap();
    t
}

pub fn account(name: &str) -> AccountId {
    AccountId::new(name).unwrap()
}

/// A policy paying `pool` with one counter `units` weighted 1.0.
pub fn policy(pool: u64, cap: Option<u64>, min_payout: u64, rounding: Rounding) -> Policy {
    let json = serde_json::json!({
        "schema": "tally/reward/policy/v1", "id": "test", "version": 1,
        "pool": pool, "funding_account": "pool:test", "residual_sink": "treasury",
        "weights": {"units": 10000}, "cap": cap, "min_payout": min_payout,
        "rounding": rounding, "valid_from": 1_700_000_000u64, "valid_until": 1_900_000_000u64,
    });
    Policy::from_json(json.to_string().as_bytes()).unwrap()
}

pub fn signed(policy: &Policy) -> SignedPolicy {
    policy.sign(&key()).unwrap()
}

pub fn verified(policy: &Policy) -> VerifiedPolicy {
    signed(policy).verify(&trusted()).unwrap()
}

/// Inputs with accounts `a0, a1, …` holding `units = scores[i]`.
pub fn inputs(epoch: &str, scores: &[u64]) -> EpochInputs {
    inputs_in_week(epoch, 0, scores)
}

/// As [`inputs`], over the window `week` weeks after [`WINDOW`] (epochs of
/// a chain come in order).
pub fn inputs_in_week(epoch: &str, week: u64, scores: &[u64]) -> EpochInputs {
    let shift = week * 7 * 24 * 3600;
    let accounts = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| AccountCounters {
            account: account(&format!("a{i:04}")),
            counters: NamedValues([("units".to_owned(), s)].into_iter().collect()),
        })
        .collect();
    EpochInputs::new(
        EpochId::new(epoch).unwrap(),
        Window {
            start: WINDOW.start + shift,
            end: WINDOW.end + shift,
        },
        account("meter-1"),
        accounts,
        &Limits::default(),
    )
    .unwrap()
}

pub fn distribute(policy: &Policy, scores: &[u64]) -> Result<Distribution, Error> {
    compute(&inputs("e1", scores), &verified(policy), &Limits::default()).map(|o| o.distribution)
}

/// The amount paid to `a{i}` (0 when not paid).
pub fn amount(d: &Distribution, i: usize) -> u64 {
    let id = account(&format!("a{i:04}"));
    // Payouts are in account order.
    d.payouts
        .binary_search_by(|p| p.account.cmp(&id))
        .map_or(0, |i| d.payouts[i].amount)
}

/// The golden vector `name` of `tests/vectors/reward_golden.txt`, which
/// `scripts/vectors/reward_golden.py` writes independently of the crate.
pub fn vector(name: &str) -> &'static str {
    include_str!("../vectors/reward_golden.txt")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no golden vector {name}"))
}

pub fn amounts(d: &Distribution, n: usize) -> Vec<u64> {
    (0..n).map(|i| amount(d, i)).collect()
}
