//! The libsecp256k1 context is randomized only with the caller's seed, and
//! only before first use (a test binary of its own: the context is global to
//! the process, and this must run before any other operation).
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use tally_cashu::Error;
use tally_cashu::crypto::{SecretKey, randomize_context};

#[test]
fn randomized_once_before_first_use_then_refused() {
    randomize_context(&[0x5a; 32]).unwrap();
    assert!(matches!(
        randomize_context(&[0x5b; 32]),
        Err(Error::ContextInUse)
    ));
    // The randomized context computes the same results: k·G for k = 1 is G.
    let mut one = [0u8; 32];
    one[31] = 1;
    assert_eq!(
        SecretKey::from_bytes(one).unwrap().public_key().to_hex(),
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    );
}
