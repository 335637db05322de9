//! Runs one operation `N` times, for instruction counting under callgrind
//! (stable on a shared, noisy machine; criterion's wall times are not):
//!
//! ```sh
//! cargo build --profile bench -p tally-cashu --example ops
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/ops <op> 1000   # and `<op> 0` for the baseline
//! ```
//!
//! Instructions per operation = (count at N − count at 0) / N.
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
use tally_cashu::crypto::{SecretKey, bdhke, hash_to_curve};
use tally_cashu::nuts::nut01::CurrencyUnit;
use tally_cashu::secret::Secret;
use tally_cashu::token::{IdForm, Token};

#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args[1].as_str();
    let n: usize = args[2].parse().unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mint = TestMint::new(7, 64, true, 100);
    let r = SecretKey::random(&mut rng).unwrap();
    let k = SecretKey::random(&mut rng).unwrap();
    let secret = Secret::random(&mut rng).unwrap();
    let blinded = bdhke::blind(secret.as_bytes(), &r).unwrap();
    let c_ = bdhke::sign(&k, &blinded).unwrap();
    let cdk_pk =
        |p: &tally_cashu::crypto::PublicKey| cashu::PublicKey::from_slice(&p.to_bytes()).unwrap();
    let cdk_sk =
        |s: &SecretKey| cashu::SecretKey::from_slice(s.to_secret_bytes().as_ref()).unwrap();
    let (cr, ck, cc_) = (cdk_sk(&r), cdk_pk(&k.public_key()), cdk_pk(&c_));
    let proof = mint.proof(&mut rng, 8);
    let proofs: Vec<_> = (0..100)
        .map(|i| mint.proof(&mut rng, 1 << (i % 16)))
        .collect();
    let token = |dleq: bool| {
        let ps = proofs.iter().cloned().map(|mut p| {
            if !dleq {
                p.dleq = None;
            }
            p
        });
        Token::from_proofs(
            support::mint_url(),
            Some(CurrencyUnit::sat()),
            None,
            ps.collect(),
            IdForm::Short,
        )
        .unwrap()
    };
    let t = token(op.ends_with("_dleq"));
    let text = t.to_v4_string().unwrap();
    let theirs = match cashu::nuts::Token::from_str(&text).unwrap() {
        cashu::nuts::Token::TokenV4(t) => t,
        cashu::nuts::Token::TokenV3(_) => panic!(),
    };
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
    let infos: Vec<cashu::KeySetInfo> =
        vec![serde_json::from_str(&serde_json::to_string(mint.keyset.info()).unwrap()).unwrap()];
    let cdk_proof = cashu::nuts::Token::from_str(&single)
        .unwrap()
        .proofs(&infos)
        .unwrap()
        .remove(0);
    let cdk_key = cdk_pk(mint.keyset.key(proof.amount).unwrap());
    let index = mint.index();
    let k_pub = k.public_key();
    for i in 0..n {
        let msg = [i as u8; 32];
        match op {
            "h2c_tally" => drop(black_box(hash_to_curve(&msg).unwrap())),
            "h2c_cdk" => drop(black_box(cashu::dhke::hash_to_curve(&msg).unwrap())),
            "blind_tally" => drop(black_box(bdhke::blind(&msg, &r).unwrap())),
            "blind_cdk" => drop(black_box(
                cashu::dhke::blind_message(&msg, Some(cr.clone())).unwrap(),
            )),
            "unblind_tally" => drop(black_box(bdhke::unblind(&c_, &r, &k_pub).unwrap())),
            "unblind_cdk" => drop(black_box(
                cashu::dhke::unblind_message(&cc_, &cr, &ck).unwrap(),
            )),
            "rg_tally" => drop(black_box(r.public_key())),
            "rg_cdk" => drop(black_box(cr.public_key())),
            "dleq_tally" => proof.verify_dleq(&mint.keyset).unwrap(),
            "dleq_cdk" => cdk_proof.verify_dleq(cdk_key).unwrap(),
            "encode_tally" | "encode_tally_dleq" => drop(black_box(t.to_v4_string().unwrap())),
            "encode_cdk" | "encode_cdk_dleq" => drop(black_box(theirs.to_string())),
            "decode_tally" | "decode_tally_dleq" => drop(black_box(Token::decode(&text).unwrap())),
            "resolve_tally" | "resolve_tally_dleq" => drop(black_box(
                Token::decode(&text).unwrap().resolve(&index).unwrap(),
            )),
            "decode_cdk" | "decode_cdk_dleq" => {
                drop(black_box(cashu::nuts::Token::from_str(&text).unwrap()))
            }
            _ => panic!("unknown op {op}"),
        }
    }
}
