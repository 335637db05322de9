//! `tally-ledger`: a double-entry ledger with two-phase transfers, in
//! TigerBeetle's model.
//!
//! This crate's core is a pure, deterministic state machine: [`Ledger`]
//! applies batches of events ([`NewAccount`], [`NewTransfer`], at most
//! [`MAX_BATCH_EVENTS`]) at a timestamp the caller passes, and returns one
//! result per event in TigerBeetle's vocabulary ([`CreateAccountResult`],
//! [`CreateTransferResult`]). No I/O, no clock, no randomness: the same
//! batches at the same timestamps give the same state.
//!
//! * Accounts hold four balances (`debits_pending`, `debits_posted`,
//!   `credits_pending`, `credits_posted`, `u128`, checked); the flags
//!   `debits_must_not_exceed_credits` / `credits_must_not_exceed_debits`
//!   bound them, `history` keeps their balance after every transfer.
//! * A transfer moves `amount` from its debit to its credit account, posted
//!   at once or held (`pending`); a pending transfer is posted (fully, or
//!   partially and the rest released), voided, or expires at its timeout,
//!   exactly once. Balancing flags move at most what an account allows.
//! * Linked events (`linked` flag) succeed or fail together (a chain
//!   resubmitted whole is `exists` for every event); a resubmitted id
//!   returns `exists` (or `exists_with_different_<field>`) and changes
//!   nothing; an id that failed for a reason that depends on the state
//!   stays failed (`id_already_failed`).
//! * Double entry holds at every instant, per ledger: Σ held debits = Σ held
//!   credits and Σ posted debits = Σ posted credits ([`Ledger::totals`]).
//! * [`journal`]: the durable ledger: every batch journaled in a tally-audit
//!   log before it is applied and acknowledged; a restart replays it.
//! * [`budget`]: Calybris Core's budget API (tenants, reservations with
//!   timeouts, idempotent commits with typed overruns, a conservation proof
//!   with a canonical digest) on top of the ledger.
//! * [`shared`]: the same budget API for many threads ([`shared::SharedBudget`]:
//!   tenants in locked shards, linearizable conservation snapshots; the
//!   locking protocol in [`locks`]).
//!
//! ```
//! use tally_ledger::*;
//! let mut ledger = Ledger::new();
//! let account = |id| NewAccount { id, ledger: 1, code: 10, ..Default::default() };
//! let results = ledger.create_accounts(&[account(1), account(2)], 1_000)?;
//! assert!(results.iter().all(|r| *r == CreateAccountResult::Ok));
//! let transfer = NewTransfer {
//!     id: 7, debit_account_id: 1, credit_account_id: 2, amount: 50, ledger: 1, code: 1,
//!     ..Default::default()
//! };
//! assert_eq!(ledger.create_transfers(&[transfer], 2_000)?, [CreateTransferResult::Ok]);
//! assert_eq!(ledger.create_transfers(&[transfer], 3_000)?, [CreateTransferResult::Exists]);
//! assert_eq!(ledger.account(2).map(|a| a.credits_posted), Some(50));
//! assert!(ledger.totals().values().all(Totals::balanced));
//! # Ok::<(), BatchError>(())
//! ```
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

mod arena;
pub mod budget;
mod frozen;
pub mod journal;
pub mod locks;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod pg_proof;
mod result;
pub mod shared;
pub mod snapshot;
mod state;
pub mod store;
mod sync;
mod types;

pub use result::{CreateAccountResult, CreateTransferResult};
pub use state::{BatchError, Ledger, Sum, Totals};
pub use types::{
    Account, AccountBalance, AccountFlags, MAX_BATCH_EVENTS, NANOS_PER_SECOND, NewAccount,
    NewTransfer, PendingState, Transfer, TransferFlags,
};
