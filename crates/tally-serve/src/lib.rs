//! `tally-serve`: the Tally HTTP service behind `tally serve`.
//!
//! * Routes under `/v1`, JSON only, strict documents (unknown fields
//!   refused): the ledger's accounts and transfer batches (per-event
//!   results in TigerBeetle's names), lookups, an account's history
//!   (paged), the conservation totals and a transfer's inclusion proof.
//! * Ledger records belong to tenants ([`tenancy`]): an account is its
//!   creator's tenant's; a tenant's token debits and reads its own.
//! * One visible tower stack ([`stack`]): correlation id and logs →
//!   decompression with caps → body cap → timeout → concurrency limit with
//!   load shedding → rate limits → authentication and authorization →
//!   idempotency → handler. Every limit has a named default
//!   ([`config`]), a flag and an environment variable.
//! * Errors with stable codes ([`error`]); `/healthz`, a truthful `/readyz`
//!   ([`health`]), `/metrics` ([`metrics`]), `/openapi.json` ([`openapi`]).
//! * Storage: embedded by default (the journaled ledger in the data
//!   directory behind one writer with group commit, [`embedded`]; SQLite
//!   beside it for idempotency records, [`idem`]), or PostgreSQL for any
//!   number of processes (feature `postgres`).
//! * The rewarder ([`rewarder`], [`blobs`]): content-addressed inputs,
//!   signed policies, sealed epochs settled exactly once on the ledger.
//! * Decisions under stored policies, with an optional budget hold, appended
//!   once per request to a signed audit log (a file, or one log in
//!   PostgreSQL for every process), and the audit routes over it
//!   ([`decide`], [`routes_decide`]).
//! * Optional TLS in the process ([`tls`]): rustls with ring, TLS 1.2 and
//!   1.3, PEM files, the key file private (0600), a bounded handshake.
//! * Data protection ([`vault`]): the rewarder's files sealed at rest with
//!   XChaCha20-Poly1305 (`--at-rest-key-file`), amnesia (`--amnesia`: the
//!   ledger, SQLite, blobs and keys in memory, nothing written to disk),
//!   and a Unix socket with a peer-uid allow-list (`--unix-socket`).
//! * The operator page at `/` ([`ui`]): server-rendered HTML, no
//!   JavaScript, behind an `admin` or `rewarder.inspect` token (a bearer
//!   header, or a cookie set by its login form).
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

pub mod auth;
pub mod backend;
pub mod blobs;
pub mod budget;
pub mod config;
pub mod decide;
pub mod dto;
pub mod embedded;
pub mod error;
pub mod forensics;
pub mod health;
pub mod idem;
pub mod metrics;
pub mod openapi;
pub mod rewarder;
pub mod routes;
pub mod routes_decide;
pub mod server;
pub mod stack;
pub mod tenancy;
pub mod tls;
pub mod tokens;
pub mod ui;
pub mod unix;
pub mod vault;

use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter};
use tokio::sync::Semaphore;

pub use server::{Config, Running, StartError, start};

/// What every layer and handler shares.
pub struct AppState {
    /// The limits.
    pub limits: config::Limits,
    /// The ledger.
    pub backend: backend::Backend,
    /// The decision log and stored policies (files, memory in amnesia, or
    /// PostgreSQL), or the answer of every decision route when this
    /// process serves none (a PostgreSQL database recording another
    /// checkpoint key: `DEPENDENCY_UNAVAILABLE`).
    pub decisions: Result<Arc<decide::Decisions>, error::ApiError>,
    /// Idempotency records.
    pub idem: idem::IdemStore,
    /// Authentication and authorization.
    pub auth: Arc<dyn auth::Authorizer>,
    /// The token authority (minting, revocation), when tokens are macaroons.
    pub tokens: Option<Arc<tokens::Macaroons>>,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// In-flight permits (`max_inflight`).
    pub inflight: Arc<Semaphore>,
    /// The instance's token bucket.
    pub global: DefaultDirectRateLimiter,
    /// The tenants' token buckets.
    pub tenants: DefaultKeyedRateLimiter<String>,
    /// Whether answers go over TLS, here or in a proxy in front (HSTS).
    pub tls: bool,
    /// A random prefix of this process's correlation ids.
    pub boot_id: u64,
    /// The rewarder (blobs, policies, epochs, settlement).
    pub rewarder: rewarder::Rewarder,
    /// The at-rest keys (`--at-rest-key-file`): idempotency records' bodies
    /// are sealed with them, as the rewarder's files and rows are.
    pub at_rest: Option<Arc<vault::Keyring>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
