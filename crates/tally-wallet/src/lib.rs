//! `tally-wallet`: a crash-safe Cashu wallet on the protocol core of
//! [`tally_cashu`].
//!
//! | module | what |
//! |---|---|
//! | [`store`] | the [`store::WalletStore`] trait (keysets, proofs and their states, NUT-13 counters, sagas, quotes, history); SQLite and in-memory backends |
//! | [`secrets`] | the mnemonic at rest: XChaCha20-Poly1305 under an Argon2id key, private files |
//! | [`client`] | the mint's HTTP API (rustls), with timeouts, size caps and strict validation |
//! | [`ws`] | NUT-17: a mint quote's state over the mint's websocket (a hint; polling is the fallback) |
//! | [`resilience`] | retries with backoff and jitter where the error says a retry is safe; a circuit breaker per mint |
//! | [`wallet`] | operations as persisted sagas: `mint_quote`/`mint` (NUT-20 locked quotes, payment seen over NUT-17 or by polling), `mint_batch` (NUT-29), `swap`, `check_state`, balances |
//! | [`send`] | `send` (a token, offline when held proofs match exactly, else after a swap; locked if asked) and `reclaim` |
//! | [`receive`] | `receive`: a token checked (mint, unit, keysets, DLEQ, state) before it is swapped in; `receive_with` unlocks locked ones |
//! | [`lock`] | locked sends (NUT-11 P2PK, NUT-14 HTLC, NUT-28 P2BK; locktime and refund keys) and the witnesses that unlock them |
//! | [`melt`] | `melt_quote` (stored) / `melt` / `melt_by_id` (NUT-05 bolt11, NUT-08 change): pending and crashed melts resumed by quote id |
//! | [`restore`] | `restore` from the mnemonic: NUT-09 over NUT-13 (V1 and V2 keysets), batched, with progress |
//! | [`keysets`] | keyset rotation: `refresh_keysets`, and `rotate` swaps proofs of inactive keysets into the active one |
//!
//! # Crash safety
//!
//! Every operation is written down before anything leaves the wallet: the
//! NUT-13 counters of its outputs are reserved durably, its input proofs are
//! reserved atomically, and the request body is stored, before the request
//! is sent. A failure is definitive (the mint refused, or the request never
//! left: the operation is marked failed and its inputs released) or
//! ambiguous (timeout, connection lost after sending, 5xx: the operation
//! stays `sent`, never rolled back, for `recover` to resolve).
//!
//! A request a crashed process sent may still be queued at the mint and be
//! processed after `recover` runs, so `recover` fails an operation only when
//! the mint shows it cannot still happen: a swap, send or receive none of
//! whose outputs is signed is kept while any input is pending; a mint
//! operation while its quote is paid but not issued; an unpaid melt is sent
//! again (the mint pays a quote once) rather than judged by its inputs.
//!
//! The integration tests kill a wallet process with SIGKILL at seeded random
//! moments of mint, swap, send, receive and melt against real Nutshell mints
//! (120 kills per run, `tests/it/sigkill.rs`), recover in a fresh process
//! and check that spendable + sent-unredeemed is exactly what the mint says
//! the wallet owns (NUT-07 of every stored proof, and a NUT-09 restore of the
//! mnemonic); figures in `docs/BENCHMARKS.md`.

//!
//! # NUT-20 keys
//!
//! A locked quote's NUT-20 key is derived from the seed and a random
//! per-quote nonce (`tally_cashu::nuts::nut13::quote_key`); the store keeps
//! the nonce, never the key. Derivation restores nothing (a lost store loses
//! the quote id with it): it is there so that a copy of the store, without
//! the seed (kept encrypted under the passphrase), cannot sign a paid
//! quote's mint request. Quotes stored with their key by earlier versions
//! still mint with it.

pub mod client;
mod error;
pub mod keysets;
pub mod lock;
pub mod melt;
pub mod receive;
pub mod resilience;
pub mod restore;
pub mod secrets;
pub mod send;
pub mod store;
pub mod wallet;
pub mod ws;

pub use error::{Error, Refusal, Result, Retry};
