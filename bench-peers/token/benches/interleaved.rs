//! The same cases as `token_peer`, interleaved: every round times each case
//! once (a batch of about 2 ms), and the minimum per call over the rounds is
//! reported with the median. Load on a shared machine only ever adds time,
//! so the minima are the figures least skewed by it, and a burst of load
//! hits every case of a round alike.
//!
//!   CARGO_TARGET_DIR=../../target cargo bench --bench interleaved [-- ROUNDS]
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use biscuit_auth::KeyPair;
use tally_token::{RootKey, Token};

mod common;

use common::{biscuit_mint, biscuit_verify, request, tally_token, tally_verifier};

/// Nanoseconds per call of `f` over `n` calls.
fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(101);
    let root = RootKey::from_bytes(&[7; 32]);
    let verifier = tally_verifier(&root);
    let text = tally_token(&root).to_text();
    let decoded = Token::from_text(&text).unwrap();
    let req = request();
    let keys = KeyPair::new();
    let data = biscuit_mint(&keys).to_vec().unwrap();
    assert!(verifier.verify_text(&text, &req).is_ok() && biscuit_verify(&data, &keys));

    let names = [
        "tally_verify_decoded_8_caveats",
        "tally_decode_verify_8_caveats",
        "tally_mint_attenuate_8_caveats",
        "biscuit_parse_verify_authorize_8_checks",
        "biscuit_mint_append_8_checks",
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        samples[0].push(per_call(500, || {
            black_box(
                verifier
                    .verify(black_box(&decoded), black_box(&req))
                    .is_ok(),
            );
        }));
        samples[1].push(per_call(500, || {
            black_box(
                verifier
                    .verify_text(black_box(&text), black_box(&req))
                    .is_ok(),
            );
        }));
        samples[2].push(per_call(400, || {
            black_box(tally_token(black_box(&root)));
        }));
        samples[3].push(per_call(10, || {
            black_box(biscuit_verify(black_box(&data), &keys));
        }));
        samples[4].push(per_call(10, || {
            black_box(biscuit_mint(black_box(&keys)).to_vec().unwrap());
        }));
    }
    println!("{rounds} rounds; ns per call: minimum, median");
    for (name, mut s) in names.iter().zip(samples) {
        s.sort_by(f64::total_cmp);
        println!("{name:42} {:>10.0} {:>10.0}", s[0], s[s.len() / 2]);
    }
}
