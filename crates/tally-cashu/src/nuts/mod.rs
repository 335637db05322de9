//! The Cashu specifications (NUTs) this crate implements, one module each.
//!
//! | module | NUT | what |
//! |---|---|---|
//! | [`nut00`] | 00 | mint URLs, proofs, blinded messages, blind signatures, outputs |
//! | [`nut01`] | 01 | units, keys, keysets with verified ids |
//! | [`nut02`] | 02 | keyset ids V1/V2, short ids, keyset info, the keyset index |
//! | [`nut06`] | 06 | mint info |
//! | [`nut10`] | 10 | well-known secrets |
//! | [`nut11`] | 11 | P2PK: conditions, witnesses, `SIG_INPUTS`/`SIG_ALL`, signing |
//! | [`nut12`] | 12 | DLEQ proofs on blind signatures and proofs |
//! | [`nut13`] | 13 | deterministic secrets V1 (BIP-32) and V2 (HMAC-SHA256) |
//! | [`nut14`] | 14 | HTLCs |
//! | [`nut20`] | 20 | signed mint quotes: the message and its BIP-340 signature |
//! | [`nut28`] | 28 | pay-to-blinded-key: blinding keys, deriving signing keys |
//!
//! Tokens (NUT-00 serialization) are in [`crate::token`]; fees and splitting
//! (NUT-02) in [`crate::fees`].

pub mod nut00;
pub mod nut01;
pub mod nut02;
pub mod nut06;
pub mod nut10;
pub mod nut11;
pub mod nut12;
pub mod nut13;
pub mod nut14;
pub mod nut20;
pub mod nut28;
