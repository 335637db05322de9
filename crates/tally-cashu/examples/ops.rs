//! Runs one operation `N` times, for instruction counting under callgrind
//! (stable on a shared, noisy machine; wall times are not):
//!
//! ```sh
//! cargo build --profile bench -p tally-cashu --example ops
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/ops <op> 200   # and `<op> 0` for the baseline
//! ```
//!
//! Instructions per operation = (count at N − count at 0) / N. Operations:
//! `h2c_*`, `blind_*`, `unblind_*`, `dleq_*`, `encode_*`, `decode_*`
//! (`tally` or `cdk`; `_dleq` suffix for the token with DLEQ proofs),
//! `resolve_tally[_dleq]` (decode + resolve).
//!
//! `ops time <a> <b> <rounds>` prints the median over `rounds` of the
//! wall-time ratio of 200 calls of `a` to 200 calls of `b`, interleaved.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::str::FromStr;

use rand::SeedableRng;
use rand::rngs::StdRng;
use support::TestMint;
use tally_cashu::crypto::{PublicKey, SecretKey, bdhke, hash_to_curve};
use tally_cashu::nuts::nut00::Proof;
use tally_cashu::nuts::nut01::CurrencyUnit;
use tally_cashu::nuts::nut02::KeysetIndex;
use tally_cashu::token::{IdForm, Token};

#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

struct Side<T> {
    ours: T,
    theirs: cashu::nuts::TokenV4,
    text: String,
}

struct Fixture {
    mint: TestMint,
    index: KeysetIndex,
    r: SecretKey,
    k_pub: PublicKey,
    c_: PublicKey,
    cdk: (cashu::SecretKey, cashu::PublicKey, cashu::PublicKey),
    proof: Proof,
    cdk_proof: cashu::Proof,
    cdk_key: cashu::PublicKey,
    plain: Side<Token>,
    dleq: Side<Token>,
}

fn cdk_pk(p: &PublicKey) -> cashu::PublicKey {
    cashu::PublicKey::from_slice(&p.to_bytes()).unwrap()
}

fn side(mint: &TestMint, proofs: &[Proof], with_dleq: bool) -> Side<Token> {
    let proofs = proofs.iter().cloned().map(|mut p| {
        if !with_dleq {
            p.dleq = None;
        }
        p
    });
    let ours = Token::from_proofs(
        support::mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        proofs.collect(),
        IdForm::Short,
    )
    .unwrap();
    let text = ours.to_v4_string().unwrap();
    let theirs = match cashu::nuts::Token::from_str(&text).unwrap() {
        cashu::nuts::Token::TokenV4(t) => t,
        cashu::nuts::Token::TokenV3(_) => panic!(),
    };
    let _ = mint;
    Side { ours, theirs, text }
}

fn fixture() -> Fixture {
    let mut rng = StdRng::seed_from_u64(7);
    let mint = TestMint::new(7, 64, true, 100);
    let r = SecretKey::random(&mut rng).unwrap();
    let k = SecretKey::random(&mut rng).unwrap();
    let blinded = bdhke::blind(b"x", &r).unwrap();
    let c_ = bdhke::sign(&k, &blinded).unwrap();
    let cdk_r = cashu::SecretKey::from_slice(r.to_secret_bytes().as_ref()).unwrap();
    let proof = mint.proof(&mut rng, 8);
    let proofs: Vec<Proof> = (0..100)
        .map(|i| mint.proof(&mut rng, 1 << (i % 16)))
        .collect();
    let single = Token::from_proofs(
        support::mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        vec![proof.clone()],
        IdForm::Short,
    )
    .unwrap()
    .to_v3_string()
    .unwrap();
    let info: cashu::KeySetInfo =
        serde_json::from_str(&serde_json::to_string(mint.keyset.info()).unwrap()).unwrap();
    let cdk_proof = cashu::nuts::Token::from_str(&single)
        .unwrap()
        .proofs(&[info])
        .unwrap()
        .remove(0);
    Fixture {
        index: mint.index(),
        cdk_key: cdk_pk(mint.keyset.key(proof.amount).unwrap()),
        plain: side(&mint, &proofs, false),
        dleq: side(&mint, &proofs, true),
        cdk: (cdk_r, cdk_pk(&k.public_key()), cdk_pk(&c_)),
        k_pub: k.public_key(),
        mint,
        r,
        c_,
        proof,
        cdk_proof,
    }
}

fn run(f: &Fixture, op: &str, n: usize) {
    let t = if op.ends_with("_dleq") {
        &f.dleq
    } else {
        &f.plain
    };
    let (cr, ck, cc_) = &f.cdk;
    for i in 0..n {
        let msg = [i as u8; 32];
        match op.trim_end_matches("_dleq") {
            "h2c_tally" => drop(black_box(hash_to_curve(&msg).unwrap())),
            "h2c_cdk" => drop(black_box(cashu::dhke::hash_to_curve(&msg).unwrap())),
            "blind_tally" => drop(black_box(bdhke::blind(&msg, &f.r).unwrap())),
            "blind_cdk" => drop(black_box(
                cashu::dhke::blind_message(&msg, Some(cr.clone())).unwrap(),
            )),
            "unblind_tally" => drop(black_box(bdhke::unblind(&f.c_, &f.r, &f.k_pub).unwrap())),
            "unblind_cdk" => drop(black_box(
                cashu::dhke::unblind_message(cc_, cr, ck).unwrap(),
            )),
            "mul_tally" => drop(black_box(f.k_pub.mul_secret(&f.r).unwrap())),
            "mul_cdk" => drop(black_box(
                ck.mul_tweak(&cashu::SECP256K1, &cr.as_scalar()).unwrap(),
            )),
            "dleq_tally" => f.proof.verify_dleq(&f.mint.keyset).unwrap(),
            "dleq_cdk" => f.cdk_proof.verify_dleq(f.cdk_key).unwrap(),
            "encode_tally" => drop(black_box(t.ours.to_v4_string().unwrap())),
            "encode_cdk" => drop(black_box(t.theirs.to_string())),
            "decode_tally" => drop(black_box(Token::decode(&t.text).unwrap())),
            "resolve_tally" => drop(black_box(
                Token::decode(&t.text).unwrap().resolve(&f.index).unwrap(),
            )),
            "decode_cdk" => drop(black_box(cashu::nuts::Token::from_str(&t.text).unwrap())),
            _ => panic!("unknown op {op}"),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let f = fixture();
    if args[1] == "time" {
        let rounds: usize = args[4].parse().unwrap();
        let mut ratios: Vec<f64> = (0..rounds)
            .map(|_| {
                let t0 = std::time::Instant::now();
                run(&f, &args[2], 200);
                let t1 = std::time::Instant::now();
                run(&f, &args[3], 200);
                let t2 = std::time::Instant::now();
                (t1 - t0).as_secs_f64() / (t2 - t1).as_secs_f64()
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "{} / {}: median {:.3}",
            args[2],
            args[3],
            ratios[rounds / 2]
        );
        return;
    }
    run(&f, &args[1], args[2].parse().unwrap());
}
