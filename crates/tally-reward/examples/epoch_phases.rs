//! Where an epoch's time goes: each phase of what `tally serve`'s compute
//! route does with an inputs file, timed on its own (median of N runs).
//!
//! ```text
//! python3 scripts/bench/reward-inputs.py 50000 > /tmp/in50k.json
//! cargo run --release -p tally-reward --example epoch_phases -- /tmp/in50k.json 9
//! ```
//!
//! A third argument `decode` times only the decoder (for a profiler:
//! `perf record … -- INPUTS.json 50 decode`).
//!
//! The policy is the crate's example policy (`examples/policy.json`), signed
//! with a fixed key. Figures are recorded in docs/BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use tally_reward::Limits;
use tally_reward::compute::compute;
use tally_reward::inputs::EpochInputs;
use tally_reward::keys::{SigningKey, TrustedKeys};
use tally_reward::manifest::{build, seal};
use tally_reward::policy::Policy;
use tally_reward::settle::{Ledger, intents};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.expect("at least one run"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: epoch_phases INPUTS.json [RUNS]");
    let runs: usize = args.next().map_or(9, |n| n.parse().expect("RUNS"));
    let only_decode = args.next().is_some_and(|a| a == "decode");
    let bytes = std::fs::read(&path).expect("read inputs");
    let limits = Limits {
        max_input_bytes: 1 << 30,
        ..Limits::default()
    };
    if only_decode {
        let (d, inputs) = time(runs, || {
            EpochInputs::from_reader(bytes.as_slice(), &limits).unwrap()
        });
        let mb_s = bytes.len() as f64 / d.as_secs_f64() / 1e6;
        println!(
            "{path}: {} accounts, decode (streaming) {:.3} ms median of {runs}, {mb_s:.0} MB/s",
            inputs.len(),
            d.as_secs_f64() * 1e3
        );
        return;
    }
    let key = SigningKey::from_seed(&[7; 32]);
    let mut trusted = TrustedKeys::new();
    trusted.insert(&key.public_key()).unwrap();
    let policy_text = include_bytes!("policy.json");
    let policy = Policy::from_json(policy_text)
        .unwrap()
        .sign(&key)
        .unwrap()
        .verify(&trusted)
        .unwrap();

    let mut rows: Vec<(&str, Duration)> = Vec::new();
    let (d, _) = time(runs, || tally_reward::cid::Cid::of(&bytes));
    rows.push(("blob CID (BLAKE3 of the file)", d));
    let (d, inputs) = time(runs, || {
        EpochInputs::from_reader(bytes.as_slice(), &limits).unwrap()
    });
    rows.push(("decode (streaming)", d));
    let (d, canonical) = time(runs, || inputs.canonical_bytes().unwrap());
    rows.push(("canonical bytes", d));
    let (d, _) = time(runs, || tally_reward::cid::Cid::of(&canonical));
    rows.push(("canonical CID", d));
    let (d, _) = time(runs, || inputs.accounts_canonical_bytes());
    rows.push(("accounts canonical bytes", d));
    let (d, outcome) = time(runs, || compute(&inputs, &policy, &limits).unwrap());
    rows.push(("compute", d));
    let cid = inputs.cid().unwrap();
    let (d, manifest) = time(runs, || {
        build(&inputs, cid, &policy, &outcome.distribution, None).unwrap()
    });
    rows.push(("build manifest (payout list, root)", d));
    let (d, sealed) = time(runs, || seal(manifest.clone(), &key).unwrap());
    rows.push(("seal (Ed25519)", d));
    let (d, ts) = time(runs, || {
        intents(&manifest.run_key, &outcome.distribution, Ledger(1)).unwrap()
    });
    rows.push(("settlement intents", d));
    let (d, json) = time(runs, || serde_json::to_vec(&ts).unwrap());
    rows.push(("intents as JSON", d));
    let (d, _) = time(runs, || serde_json::to_vec(&sealed).unwrap());
    rows.push(("sealed manifest as JSON", d));
    println!(
        "{path}: {} bytes, {} accounts, {} payouts, intents JSON {} bytes, {runs} runs (median)",
        bytes.len(),
        inputs.len(),
        outcome.distribution.payouts.len(),
        json.len()
    );
    for (name, d) in rows {
        println!("{name:40} {:>9.3} ms", d.as_secs_f64() * 1e3);
    }
}
