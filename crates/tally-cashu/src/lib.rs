//! `tally-cashu`: the Cashu protocol core for Tally.
//!
//! Types, tokens, keysets, cryptography and spending conditions of the
//! [Cashu](https://github.com/cashubtc/nuts) e-cash protocol, with no network
//! and no storage: a pure library that the wallet (client, store, sagas)
//! builds on. Every official test vector of NUT-00, 01, 02, 11 (with the
//! NUT-14 HTLC and `SIG_ALL` cases), 12, 13 (V1 and V2) and 28 (P2BK) runs
//! as a test;
//! `tests/it/vectors.rs` lists each vector and the test that runs it.
//!
//! # Modules
//!
//! | module | what |
//! |---|---|
//! | [`amount`] | `u64` amounts (including the 2^63 denomination), checked arithmetic |
//! | [`crypto`] | `hash_to_curve`, BDHKE, DLEQ (NUT-12), BIP-340, BIP-32 |
//! | [`secret`] | proof secrets and HTLC preimages (erased on drop, never printed) |
//! | [`nuts`] | one module per NUT: models, keysets, ids (V1, V2, legacy), P2PK, HTLC, P2BK, deterministic secrets, mint info |
//! | [`token`] | V3 `cashuA`, V4 `cashuB` and raw `crawB` tokens |
//! | [`fees`] | NUT-02 fees, denominations, fee-aware splitting, swap planning |
//! | [`encoding`] | hex, base64url (and the V4 CBOR codec, internal) |
//! | [`limits`] | every bound, as a named constant |
//!
//! # Security
//!
//! * **Hostile input** (tokens, keysets, mint info, secrets, witnesses) is
//!   bounded before it is processed ([`limits`]), parsed strictly, and refused
//!   with a typed [`Error`]; no input panics (fuzzed and property-tested).
//! * **Mint responses are verified**: keyset ids are recomputed from the keys
//!   ([`nuts::nut01::Keyset`] cannot be built otherwise), DLEQ proofs are
//!   checked on blind signatures and on received proofs, short ids resolve
//!   only to known, non-colliding keysets.
//! * **Secret material** (secrets, blinding factors, private keys, seeds,
//!   preimages, witnesses) is erased on drop and redacted in `Debug`;
//!   comparisons of secrets are constant time; scalar multiplications by
//!   secrets are constant time (libsecp256k1).
//! * **Randomness and time are passed in** (`rand_core::TryCryptoRng`, unix
//!   seconds): the library reads no clock and no OS RNG (it does not depend
//!   on `getrandom`); an RNG failure is [`Error::RandomnessUnavailable`],
//!   never a panic. The libsecp256k1 context is randomized only with a seed
//!   the caller passes to [`crypto::randomize_context`] before any other
//!   call (side-channel blinding; operations are constant time without it).
//!
//! # What the wallet (client, store, sagas) builds on
//!
//! * **Keysets**: parse `GET /v1/keys` with
//!   [`nuts::nut01::Keyset::from_keys_response`] (ids verified) and
//!   `GET /v1/keysets` with [`nuts::nut01::parse_keysets_response`]; keep
//!   them in a [`nuts::nut02::KeysetIndex`] per mint (refuses colliding ids,
//!   resolves short ids, records `active` and `input_fee_ppk`).
//! * **Outputs**: derive `(secret, r)` with [`nuts::nut13::derive`] (V1/V2 by
//!   id version; persist the per-keyset counter before the request), wrap
//!   them in [`nuts::nut00::BlindedOutput`], send its
//!   [`nuts::nut00::BlindedMessage`], and turn each
//!   [`nuts::nut00::BlindSignature`] into a [`nuts::nut00::Proof`] with
//!   [`nuts::nut00::BlindedOutput::into_proof`] (checks amount, keyset and
//!   DLEQ). Random secrets: [`secret::Secret::random`].
//! * **Amounts**: [`fees::plan_swap`] gives send and change outputs with
//!   `inputs − fee == send + change`; [`fees::input_fee`] and
//!   [`fees::split_with_fee`] cover NUT-02 fees.
//! * **Receiving**: [`token::Token::decode`], then
//!   [`token::Token::resolve`] against the mint's index, then
//!   [`nuts::nut00::Proof::verify_dleq`] per proof, then
//!   [`nuts::nut11::SpendingConditions::from_secret`] to see what a proof is
//!   locked to (and [`nuts::nut06::MintInfo::supports`] that the mint
//!   enforces it); for a NUT-28 (P2BK) lock, [`nuts::nut28::signing_keys`]
//!   with the proof's `p2pk_e` gives the keys to sign with.
//! * **Locking to blinded keys** (NUT-28): [`nuts::nut28::lock`], and the
//!   returned `E` in each output proof's `p2pk_e`.
//! * **Spending locked proofs**: [`nuts::nut11::sign_input`],
//!   [`nuts::nut11::sign_sig_all`], [`nuts::nut11::set_preimage`];
//!   [`nuts::nut11::verify_transaction`] checks a swap or melt as the mint will.
//! * **Sending**: [`token::Token::from_proofs`] and
//!   [`token::Token::to_v4_string`] (or V3/raw).
//! * **Errors**: one [`Error`] with stable [`Error::code`]s; nothing here
//!   touches the network, so every error is definitive at this layer — the
//!   wallet adds the ambiguous (timed-out) class.
//!
//! # Example: receive a token
//!
//! ```
//! use tally_cashu::token::Token;
//!
//! let text = "cashuBpGF0gaJhaUgArSaMTR9YJmFwgaNhYQFhc3hAOWE2ZGJiODQ3YmQyMzJiYTc2ZGIwZGYxOTcyMTZiMjlkM2I4Y2MxNDU1M2NkMjc4MjdmYzFjYzk0MmZlZGI0ZWFjWCEDhhhUP_trhpXfStS6vN6So0qWvc2X3O4NfM-Y1HISZ5JhZGlUaGFuayB5b3VhbXVodHRwOi8vbG9jYWxob3N0OjMzMzhhdWNzYXQ=";
//! let token = Token::decode(text)?;
//! assert_eq!(token.memo(), Some("Thank you"));
//! assert_eq!(token.value().value(), 1);
//! // Next (the wallet's job): fetch the mint's keysets, `token.resolve(&index)?`,
//! // verify each proof's DLEQ, then swap the proofs at the mint.
//! # Ok::<(), tally_cashu::Error>(())
//! ```

pub mod amount;
pub mod crypto;
pub mod encoding;
mod error;
pub mod fees;
mod json;
pub mod limits;
pub mod nuts;
pub mod secret;
pub mod token;

pub use amount::Amount;
pub use error::{CborReason, ConditionError, Error, Limit};
