//! The rewarder (issue 14, seed 004): tally-reward's epochs behind the
//! service's stack.
//!
//! | route | scope | what |
//! |---|---|---|
//! | `POST /v1/blobs` | `rewarder.run` | a content-addressed upload ([`crate::blobs`]) |
//! | `GET /v1/blobs/{cid}` | `rewarder.inspect` | its bytes |
//! | `GET /v1/rewarder/keys` | `rewarder.inspect` | the seal keys' public halves: a trusted-keys file (the Ed25519 key, and the ML-DSA-65 key in `ml_dsa_keys` when `REWARD_PQ_KEY_FILE` is given) |
//! | `POST /v1/rewarder/policies` | `rewarder.run` | a signed policy, verified against the trusted keys |
//! | `GET /v1/rewarder/policies/{cid}` | `rewarder.inspect` | the signed policy |
//! | `POST /v1/rewarder/epochs/{epoch}/compute` | `rewarder.run` | run the epoch: `{inputs_cid, policy_cid, dry_run?}` |
//! | `GET /v1/rewarder/epochs/{epoch}` | `rewarder.inspect` | the sealed, signed manifest (or the quarantined run, unsigned) |
//! | `GET /v1/rewarder/epochs/{epoch}/payouts/{account}` | `rewarder.inspect` | the payout and its Merkle inclusion proof |
//! | `POST /v1/rewarder/epochs/{epoch}/settle` | `rewarder.run` | the run's intents on the ledger, exactly once |
//! | `GET /v1/rewarder/epochs/{epoch}/settlement` | `rewarder.inspect` | settlement status, read from the ledger |
//!
//! A token's `epoch-id` caveat holds it to the epoch its routes name.
//!
//! **Runs.** The run key is tally-reward's `(epoch, inputs CID, policy CID,
//! engine)`; [`tally_reward::registry::run_epoch`] is the run (the CLI's
//! too): the same run again answers the first result, another run of an
//! accepted epoch is `409 CONFLICT`, an invariant breach (or a funding
//! account on the ledger that does not hold the pool, checked before the
//! seal) quarantines the run: `423 QUARANTINED`, stored with its unsigned
//! manifest, never settled. The pool always comes from the signed policy,
//! never from the request. The inputs must be the path's epoch's; the same
//! measurements (accounts and counters, whatever their epoch label) paid
//! under one epoch are refused under another (`409`) unless the policy says
//! `allow_input_reuse`. The manifest binds the inputs' canonical (JCS) CID,
//! so two encodings of the same inputs are one run; the blob's own CID is
//! that of the bytes uploaded. The cost estimate (tally-reward's work units,
//! [`COST_UNITS_PER_MS`] per millisecond) is held to `MAX_EPOCH_COST_MS`:
//! rejected, or computed as a dry run, as `REWARD_OVER_COST` says.
//!
//! **Seals.** Every manifest is sealed with the Ed25519 key of
//! `REWARD_SEAL_KEY`; with `REWARD_PQ_KEY_FILE` (an ML-DSA-65 key file,
//! 0600, from `tally keys generate-ml-dsa`) also with ML-DSA-65 over the
//! same bytes (tally-reward's post-quantum seal), so `tally reward verify
//! --pq-public-key P --require-pq` can check it.
//!
//! **Settlement.** The intents' transfer ids derive from the run key
//! (tally-reward's `settle`), so the ledger itself answers a second
//! submission `exists`: a second call, a concurrent one, or a retry after a
//! restart never pays twice, whatever this process forgot. Each batch of
//! at most 8,189 intents is one linked chain (all or nothing); before a
//! chain is submitted its first transfer is looked up on the ledger, and a
//! chain already there is counted `dup` without being sent again.
//! Submissions per run are bounded by `MAX_LEDGER_EMITS_PER_RUN` (counted
//! durably before each one); `QUARANTINE_ONLY` computes and seals but
//! never settles. The payees', the funding and the residual accounts are
//! created on the ledger (`REWARD_LEDGER`) when missing, owned by the
//! settling tenant; a funding account an operator created with
//! `debits_must_not_exceed_credits` must hold the pool (else the run is
//! quarantined before it is sealed).
//!
//! **Storage.** One store behind the routes. In embedded mode blobs,
//! policies, accepted and quarantined runs, the chain's head and
//! settlement records are files in `<data>/rewarder/`, each written with
//! the workspace's atomic writes, through a [`Vault`]: sealed with
//! XChaCha20-Poly1305 when an at-rest key is configured
//! (`AT_REST_KEY_FILE`, a file that does not open is never served), or
//! held in memory only in amnesia (`AMNESIA`); one process, its run writer
//! a mutex. In PostgreSQL mode they are rows of the ledger's database
//! (`rewarder/pg.rs`, migrated at start), shared by any number of
//! processes: one accepted run per epoch, one chain of
//! manifests, measurements paid under one epoch and the emission count
//! are the database's constraints and transactions, so two processes
//! racing get one winner, and settlement is exactly once by the ledger's
//! transfer ids as above. Every process over one database needs the same
//! seal key (`REWARD_SEAL_KEY`); the first one records its public half
//! there, and a process with another answers `503` on every rewarder
//! route. The at-rest key (`AT_REST_KEY_FILE`) seals PostgreSQL's rows of
//! user data too (blobs, policies, runs, quarantined runs), each bound to
//! its table and key (`rewarder/pg.rs`); every process over one database
//! needs the same keyring.
//!
//! Metrics: `reward_runs_total{status="ok|quarantined|dry_run|fail"}`,
//! `reward_compute_latency_seconds`, `ledger_intents_total{result=
//! "accepted|dup|error"}`; log lines carry `run_key`, `policy_hash` and
//! `inputs_cid`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, Path as UrlPath, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tally_ledger::{AccountFlags, CreateAccountResult as AR, CreateTransferResult as TR};
use tally_reward::cid::Cid;
use tally_reward::compute::{Distribution, Payout, compute, estimate};
use tally_reward::ident::{AccountId, EpochId};
use tally_reward::inputs::EpochInputs;
use tally_reward::keys::{MlDsaSigningKey, SigningKey, TrustedKeys};
use tally_reward::manifest::{Manifest, Prover, RunKey, SealedManifest, Sealer};
use tally_reward::policy::{Policy, SignedPolicy};
use tally_reward::registry::{
    Accepted, AcceptedRun, Head, QuarantinedRun, RunOutcome, RunStore, StoreError, run_epoch,
};
use tally_reward::settle::{Ledger, Transfer};
use tally_reward::{Error as RewardError, OverCost};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Principal;
use crate::blobs::{BlobError, BlobReader, Blobs};
use crate::error::{ApiError, Code, Reason};
use crate::stack::{BodyCap, read_capped};
use crate::tenancy::Owner;
use crate::vault::{Vault, VaultError};

#[cfg(feature = "postgres")]
mod pg;
mod recent;

pub use recent::{RECENT_EPOCHS_MAX, RecentEpoch};

/// Cost units (tally-reward's estimate: one per account plus one per
/// weighted counter) the engine computes per millisecond, conservatively:
/// a 1,000,000-account epoch of ~4 units each computes in ~100 ms in a
/// release build (40,000 units/ms); a quarter of that is assumed.
pub const COST_UNITS_PER_MS: u64 = 10_000;
/// The default `MAX_EPOCH_COST_MS` (seed 004 §15).
pub const MAX_EPOCH_COST_MS: u64 = 5_000;
/// The default `MAX_LEDGER_EMITS_PER_RUN`: submissions of one run's
/// intents to the ledger. Seed 004 §15 allows one emission and two ledger
/// retries (`MAX_RETRIES_LEDGER=2`); here they are one count, 3. A
/// submission is counted before it is sent, so a crash between the count
/// and the ledger's commit uses one up; a call that finds the intents on
/// the ledger submits nothing and counts nothing. At the bound a run that is
/// not on the ledger is refused (`409`) until an operator raises it.
pub const MAX_LEDGER_EMITS_PER_RUN: u32 = 3;
/// The default ledger rewards settle on (`REWARD_LEDGER`).
pub const REWARD_LEDGER: u32 = 1;
/// The account code of the accounts settlement creates.
pub const REWARD_ACCOUNT_CODE: u16 = 1;
/// The largest run record read back, bytes.
pub(crate) const RUN_FILE_MAX: u64 = 1 << 30;
/// The largest small record (head, settlement, policy) read back, bytes.
pub(crate) const SMALL_FILE_MAX: u64 = 1 << 20;
/// Accepted runs kept decoded in memory (a cache; the files are the truth).
const RUN_CACHE_MAX: usize = 8;

/// The rewarder's configuration (flags and environment variables of
/// `tally serve`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewarderConfig {
    /// `REWARD_TRUSTED_KEYS`: the trusted-keys file whose keys may sign
    /// policies. Without it no policy is accepted (fail closed).
    pub trusted_keys: Option<PathBuf>,
    /// `REWARD_SEAL_KEY`: the secret key file that seals manifests
    /// (default `<data>/rewarder/seal.key`, made 0600 on first start).
    pub seal_key: Option<PathBuf>,
    /// `REWARD_PQ_KEY_FILE`: an ML-DSA-65 secret key file (0600); when
    /// given, every manifest is sealed with it too (no default: without it
    /// manifests carry the Ed25519 seal alone).
    pub pq_key: Option<PathBuf>,
    /// `REWARD_LEDGER`: the ledger rewards settle on.
    pub ledger: u32,
    /// `BLOB_MAX`: the largest blob, bytes.
    pub blob_max: usize,
    /// `MAX_EPOCH_COST_MS`: the largest estimated compute time of a run.
    pub max_epoch_cost_ms: u64,
    /// `REWARD_OVER_COST`: reject a run over the cost limit, or compute it
    /// as a dry run.
    pub over_cost: OverCost,
    /// `QUARANTINE_ONLY`: compute and seal, never settle.
    pub quarantine_only: bool,
    /// `MAX_LEDGER_EMITS_PER_RUN`: submissions of one run's intents.
    pub max_ledger_emits_per_run: u32,
}

impl Default for RewarderConfig {
    fn default() -> Self {
        Self {
            trusted_keys: None,
            seal_key: None,
            pq_key: None,
            ledger: REWARD_LEDGER,
            blob_max: crate::blobs::BLOB_MAX,
            max_epoch_cost_ms: MAX_EPOCH_COST_MS,
            over_cost: OverCost::Reject,
            quarantine_only: false,
            max_ledger_emits_per_run: MAX_LEDGER_EMITS_PER_RUN,
        }
    }
}

/// Why the rewarder did not open.
#[derive(Debug, thiserror::Error)]
pub enum RewarderError {
    /// A file or directory.
    #[error(transparent)]
    File(#[from] tally_files::FileError),
    /// The trusted keys or the seal key.
    #[error("rewarder keys: {0}")]
    Keys(#[from] tally_reward::keys::KeyError),
    /// A limit.
    #[error("limit {0}: must be above 0")]
    Limit(&'static str),
    /// The store (a blob directory, a sealed file).
    #[error("rewarder store: {0}")]
    Store(String),
}

impl From<VaultError> for RewarderError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::File(f) => Self::File(f),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<BlobError> for RewarderError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::File(f) => Self::File(f),
            other => Self::Store(other.to_string()),
        }
    }
}

/// `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// `ok`, `quarantined`, `dry_run`, `fail`.
    pub status: String,
}

/// `result`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `accepted`, `dup`, `error`.
    pub result: String,
}

/// The rewarder's metrics.
#[derive(Debug)]
pub struct RewardMetrics {
    /// `reward_runs_total{status}`.
    pub runs: Family<StatusLabels, Counter>,
    /// `reward_compute_latency_seconds`.
    pub latency: Histogram,
    /// `ledger_intents_total{result}`.
    pub intents: Family<ResultLabels, Counter>,
    /// `reward_inputs_decoded_total{at}`: inputs a compute took as decoded
    /// at upload (`upload`), or decoded from the stored blob (`store`).
    pub decoded: Family<AtLabels, Counter>,
}

/// `at`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AtLabels {
    /// `upload`, `store`.
    pub at: String,
}

impl RewardMetrics {
    /// Registers them.
    #[must_use]
    pub fn register(registry: &mut Registry) -> Self {
        let runs = Family::<StatusLabels, Counter>::default();
        for status in ["ok", "quarantined", "dry_run", "fail"] {
            runs.get_or_create(&StatusLabels {
                status: status.to_owned(),
            })
            .inc_by(0);
        }
        registry.register("reward_runs", "Reward runs, by outcome", runs.clone());
        let latency = Histogram::new(exponential_buckets(0.000_1, 2.0, 17));
        registry.register(
            "reward_compute_latency_seconds",
            "Latency of one reward run (decode, compute, seal, store)",
            latency.clone(),
        );
        let intents = Family::<ResultLabels, Counter>::default();
        for result in ["accepted", "dup", "error"] {
            intents
                .get_or_create(&ResultLabels {
                    result: result.to_owned(),
                })
                .inc_by(0);
        }
        registry.register(
            "ledger_intents",
            "Settlement intents submitted to the ledger, by result",
            intents.clone(),
        );
        let decoded = Family::<AtLabels, Counter>::default();
        for at in ["upload", "store"] {
            decoded
                .get_or_create(&AtLabels { at: at.to_owned() })
                .inc_by(0);
        }
        registry.register(
            "reward_inputs_decoded",
            "Epoch inputs a compute used, by where they were decoded",
            decoded.clone(),
        );
        Self {
            runs,
            latency,
            intents,
            decoded,
        }
    }

    fn decoded_at(&self, at: &str) {
        self.decoded
            .get_or_create(&AtLabels { at: at.to_owned() })
            .inc();
    }

    fn run(&self, status: &str) {
        self.runs
            .get_or_create(&StatusLabels {
                status: status.to_owned(),
            })
            .inc();
    }

    fn intents(&self, result: &str, n: u64) {
        self.intents
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc_by(n);
    }
}

/// Where the rewarder keeps its records. The handlers are the same over
/// both; every rule that must hold between processes (one accepted run per
/// epoch, one chain, measurements paid under one epoch, the emission
/// count) is the store's, in [`RunSession`] and [`Store::count_emit`].
#[derive(Debug)]
enum Store {
    /// `<data>/rewarder/` (plain or sealed at rest), or memory (amnesia):
    /// one process, its run writer serialized by [`Rewarder::runs`].
    Files {
        /// The vault.
        dir: Arc<Vault>,
        /// Its `blobs/`.
        blobs: Blobs,
    },
    /// PostgreSQL ([`pg`]): any number of processes, the rules enforced by
    /// the database's constraints and transactions.
    #[cfg(feature = "postgres")]
    Pg(pg::PgStore),
}

/// The open rewarder's store and keys.
#[derive(Debug)]
struct Ready {
    store: Store,
    seal: SigningKey,
    /// The optional ML-DSA-65 seal key (`REWARD_PQ_KEY_FILE`).
    pq_seal: Option<MlDsaSigningKey>,
    /// Keys that may sign policies.
    policy_keys: TrustedKeys,
    /// The policy keys and the seal key (manifests, chain links).
    all_keys: TrustedKeys,
}

/// The rewarder: its configuration and its store (embedded files or
/// PostgreSQL).
#[derive(Debug)]
pub struct Rewarder {
    config: RewarderConfig,
    ready: Option<Ready>,
    /// Why every route answers 503 when `ready` is `None`.
    unavailable: &'static str,
    /// One run at a time in this process (the file store's writer).
    runs: Mutex<()>,
    /// One settlement at a time in this process.
    settling: tokio::sync::Mutex<()>,
    /// Accepted runs never change once stored: a cache of them is right in
    /// any number of processes.
    cache: Mutex<HashMap<EpochId, Arc<CachedRun>>>,
    /// The last epoch inputs decoded as they were uploaded, by the blob's
    /// CID ([`post_blob`]): a compute of that blob starts from them instead
    /// of decoding the stored blob again (it still checks the stored blob
    /// against its CID). One entry: bounded by [`DECODE_AHEAD_MAX`].
    decoded: Mutex<Option<Decoded>>,
}

/// Inputs decoded at upload ([`Rewarder::decoded`]), with their
/// measurements' key ([`snapshot_key`], which also leaves their canonical
/// CID computed).
#[derive(Clone, Debug)]
struct Decoded {
    blob: Cid,
    inputs: Arc<EpochInputs>,
    snapshot: String,
}

/// The largest upload decoded as it arrives (kept for the compute that names its blob): its
/// frames are queued for the decoding thread, so an upload holds at most
/// this much more memory while it lasts.
pub const DECODE_AHEAD_MAX: u64 = 32 << 20;

/// An accepted run as the routes hold it, its settlement batch derived
/// once, when first needed (by settlement or its status), not when the run
/// is computed or read.
#[derive(Debug)]
struct CachedRun {
    run: AcceptedRun,
    intents: OnceLock<Vec<Transfer>>,
}

impl std::ops::Deref for CachedRun {
    type Target = AcceptedRun;

    fn deref(&self) -> &AcceptedRun {
        &self.run
    }
}

impl CachedRun {
    /// The run's settlement batch (500 on a run whose batch cannot be
    /// built, which an accepted run's check rules out).
    fn intents(&self) -> Result<&[Transfer], ApiError> {
        if let Some(intents) = self.intents.get() {
            return Ok(intents);
        }
        let derived = self.run.intents().map_err(|_| ApiError::internal())?;
        Ok(self.intents.get_or_init(|| derived))
    }
}

fn hashed_name(text: &str) -> String {
    tally_encoding::hex::encode(&blake3::derive_key(
        "tally/serve/rewarder/file-name/v1",
        text.as_bytes(),
    ))
}

fn check_limits(config: &RewarderConfig) -> Result<(), RewarderError> {
    if config.blob_max == 0 {
        return Err(RewarderError::Limit("BLOB_MAX"));
    }
    if config.max_epoch_cost_ms == 0 {
        return Err(RewarderError::Limit("MAX_EPOCH_COST_MS"));
    }
    if config.max_ledger_emits_per_run == 0 {
        return Err(RewarderError::Limit("MAX_LEDGER_EMITS_PER_RUN"));
    }
    if config.ledger == 0 {
        return Err(RewarderError::Limit("REWARD_LEDGER"));
    }
    Ok(())
}

/// The seal key (`REWARD_SEAL_KEY`, else `<seal_dir>/seal.key`, made 0600
/// on first start, else one made in memory), the policy keys, and both.
fn load_keys(
    config: &RewarderConfig,
    seal_dir: Option<&Path>,
) -> Result<
    (
        SigningKey,
        Option<MlDsaSigningKey>,
        TrustedKeys,
        TrustedKeys,
    ),
    RewarderError,
> {
    let seal = match (&config.seal_key, seal_dir) {
        (Some(path), _) => SigningKey::read_file(path)?,
        (None, None) => SigningKey::generate()?,
        (None, Some(root)) => {
            let path = root.join("seal.key");
            if !path.exists() {
                SigningKey::generate()?.create_file(&path)?;
            }
            SigningKey::read_file(&path)?
        }
    };
    let policy_keys = match &config.trusted_keys {
        Some(p) => TrustedKeys::read_file(p)?,
        None => TrustedKeys::new(),
    };
    let mut all_keys = policy_keys.clone();
    all_keys.insert(&seal.public_key())?;
    // `REWARD_PQ_KEY_FILE`: the ML-DSA-65 second seal (a key that does not
    // load stops the start).
    let pq_seal = config
        .pq_key
        .as_deref()
        .map(MlDsaSigningKey::read_file)
        .transpose()?;
    Ok((seal, pq_seal, policy_keys, all_keys))
}

/// The 503 of a build or mode without a run store.
const NO_STORE: &str = "the rewarder has no run store in this mode";
/// The 503 of a process whose seal key is not its database's.
#[cfg(feature = "postgres")]
const SEAL_MISMATCH: &str = "this process's seal key (REWARD_SEAL_KEY) is not the one the database's rewarder seals with: every process over one PostgreSQL database needs the same seal key";

impl Rewarder {
    /// The rewarder of embedded mode: `<data>/rewarder/`.
    ///
    /// # Errors
    /// [`RewarderError`].
    pub fn open(data_dir: &Path, config: RewarderConfig) -> Result<Self, RewarderError> {
        let vault = Vault::disk(data_dir.join("rewarder"), None);
        tally_files::private::create_dir(&data_dir.join("rewarder"))?;
        Self::open_in(Arc::new(vault), config)
    }

    /// The rewarder over `vault`: `<data>/rewarder/`, plain or sealed at
    /// rest ([`crate::vault`]), or memory (amnesia: the seal key too is made
    /// in memory unless `REWARD_SEAL_KEY` names one).
    ///
    /// # Errors
    /// [`RewarderError`].
    pub fn open_in(vault: Arc<Vault>, config: RewarderConfig) -> Result<Self, RewarderError> {
        check_limits(&config)?;
        for sub in ["runs", "quarantine", "settle", "policies", "snapshots"] {
            vault.create_dir(sub)?;
        }
        let blobs = Blobs::open(Arc::clone(&vault), config.blob_max)?;
        let root = vault.disk_parts().map(|(root, _)| root.to_path_buf());
        let (seal, pq_seal, policy_keys, all_keys) = load_keys(&config, root.as_deref())?;
        repair_head(&vault);
        recent::repair(&vault);
        let store = Store::Files { dir: vault, blobs };
        Ok(Self::with(
            config,
            Some(Ready {
                store,
                seal,
                pq_seal,
                policy_keys,
                all_keys,
            }),
            NO_STORE,
        ))
    }

    /// The rewarder over the ledger's database: PostgreSQL's tables
    /// (migrated at start) when `backend` is PostgreSQL; otherwise every
    /// route answers 503. The seal key is `REWARD_SEAL_KEY`, else
    /// `<data>/rewarder/seal.key`; the first process records its public
    /// half in the database, and a process with another seal key answers
    /// 503 on every rewarder route (its manifests would not link).
    ///
    /// # Errors
    /// [`RewarderError`].
    pub async fn open_db(
        backend: &crate::backend::Backend,
        data_dir: &Path,
        config: RewarderConfig,
        at_rest: Option<Arc<crate::vault::Keyring>>,
    ) -> Result<Self, RewarderError> {
        #[cfg(feature = "postgres")]
        if let crate::backend::Backend::Postgres(p) = backend {
            return Self::open_pg(p.pool().clone(), data_dir, config, at_rest).await;
        }
        let _ = (backend, data_dir, at_rest);
        Ok(Self::unavailable(config))
    }

    /// `tally serve --database URL --at-rest-key-file K --at-rest-reencrypt`
    /// (the servers stopped): every rewarder row of user data in the
    /// database sealed under the keyring's current key (plain rows of a
    /// store that had no key, and rows under an old key of the keyring).
    ///
    /// # Errors
    /// [`RewarderError::Store`]: the database, or the first row that does
    /// not open.
    #[cfg(feature = "postgres")]
    pub async fn reencrypt_database(
        url: &str,
        keys: &crate::vault::Keyring,
        blob_max: usize,
    ) -> Result<crate::vault::Reencrypted, RewarderError> {
        let pool = sqlx::PgPool::connect(url)
            .await
            .map_err(|e| RewarderError::Store(e.to_string()))?;
        // Migrated first (a database of an older version).
        pg::PgStore::open(pool.clone(), blob_max, None)
            .await
            .map_err(|e| RewarderError::Store(e.reason))?;
        let done = pg::reencrypt(&pool, keys, blob_max)
            .await
            .map_err(|e| RewarderError::Store(e.reason));
        pool.close().await;
        done
    }

    #[cfg(feature = "postgres")]
    async fn open_pg(
        pool: sqlx::PgPool,
        data_dir: &Path,
        config: RewarderConfig,
        at_rest: Option<Arc<crate::vault::Keyring>>,
    ) -> Result<Self, RewarderError> {
        check_limits(&config)?;
        let dir = data_dir.join("rewarder");
        if config.seal_key.is_none() {
            tally_files::private::create_dir(&dir)?;
        }
        let (seal, pq_seal, policy_keys, all_keys) = load_keys(&config, Some(&dir))?;
        let store = pg::PgStore::open(pool, config.blob_max, at_rest)
            .await
            .map_err(|e| RewarderError::Store(e.reason))?;
        let same = store
            .register_seal(&seal.public_key())
            .await
            .map_err(|e| RewarderError::Store(e.reason))?;
        if !same {
            tracing::error!("{SEAL_MISMATCH}");
            return Ok(Self::with(config, None, SEAL_MISMATCH));
        }
        let ready = Ready {
            store: Store::Pg(store),
            seal,
            pq_seal,
            policy_keys,
            all_keys,
        };
        Ok(Self::with(config, Some(ready), NO_STORE))
    }

    /// A rewarder without a store: every route answers 503.
    #[must_use]
    pub fn unavailable(config: RewarderConfig) -> Self {
        Self::with(config, None, NO_STORE)
    }

    fn with(config: RewarderConfig, ready: Option<Ready>, unavailable: &'static str) -> Self {
        Self {
            config,
            ready,
            unavailable,
            runs: Mutex::new(()),
            settling: tokio::sync::Mutex::new(()),
            cache: Mutex::new(HashMap::new()),
            decoded: Mutex::new(None),
        }
    }

    /// What decoding an inputs blob allows (the same at upload and at
    /// compute).
    fn decode_limits(&self) -> tally_reward::Limits {
        tally_reward::Limits {
            max_input_bytes: self.config.blob_max,
            ..tally_reward::Limits::default()
        }
    }

    /// The inputs decoded when blob `cid` was uploaded, if they are the
    /// last ones.
    fn decoded(&self, cid: &Cid) -> Option<Decoded> {
        let held = self.decoded.lock().ok()?;
        held.as_ref().filter(|d| d.blob == *cid).cloned()
    }

    /// The blob cap (`BLOB_MAX`).
    #[must_use]
    pub fn blob_max(&self) -> usize {
        self.config.blob_max
    }

    fn store(&self) -> Result<&Ready, ApiError> {
        self.ready.as_ref().ok_or(ApiError::new(
            Code::DependencyUnavailable,
            self.unavailable,
            Reason::Dependency,
        ))
    }

    async fn cached(&self, epoch: &EpochId) -> Result<Option<Arc<CachedRun>>, ApiError> {
        if let Ok(cache) = self.cache.lock()
            && let Some(run) = cache.get(epoch)
        {
            return Ok(Some(Arc::clone(run)));
        }
        let e = self.store()?;
        let run = e
            .store
            .accepted(epoch)
            .await
            .map_err(|_| ApiError::dependency())?;
        let run = run.map(|run| {
            Arc::new(CachedRun {
                run,
                intents: OnceLock::new(),
            })
        });
        if let (Some(run), Ok(mut cache)) = (&run, self.cache.lock()) {
            if cache.len() >= RUN_CACHE_MAX {
                cache.clear();
            }
            cache.insert(epoch.clone(), Arc::clone(run));
        }
        Ok(run)
    }
}

// ---------------------------------------------------------------- store --

/// A stored accepted run (format 2): the sealed manifest and its payouts.
/// The settlement batch is derived from them when it is needed, and the
/// payouts are checked against the manifest's `payouts_cid` when read.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredRun {
    format: u8,
    sealed: SealedManifest,
    manifest_cid: Cid,
    ledger: Ledger,
    payouts: Vec<Payout>,
}

/// [`StoredRun::format`].
const RUN_FORMAT: u8 = 2;

/// A run stored by an earlier version (format 1): the sealed manifest and
/// its whole settlement batch (18 MB of JSON for 50,000 payees). Read by
/// taking the payouts from the batch and checking that the batch is the
/// one they derive.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRunV1 {
    sealed: SealedManifest,
    manifest_cid: Cid,
    intents: Vec<Transfer>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredHead {
    cid: Cid,
    epoch: EpochId,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredQuarantine {
    pub(crate) epoch: EpochId,
    pub(crate) run_key: String,
    pub(crate) reason: String,
    pub(crate) manifest: Option<Manifest>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettleRecord {
    emits: u32,
    pub(crate) settled: bool,
}

fn run_path(epoch: &EpochId) -> String {
    format!("runs/{}", hashed_name(epoch.as_str()))
}

fn read_run(dir: &Vault, epoch: &EpochId) -> Result<Option<AcceptedRun>, StoreError> {
    read_run_file(dir, &run_path(epoch))
}

fn store_error(e: impl std::fmt::Display) -> StoreError {
    StoreError {
        reason: e.to_string(),
    }
}

pub(crate) fn read_run_file(dir: &Vault, rel: &str) -> Result<Option<AcceptedRun>, StoreError> {
    let Some(bytes) = dir.read(rel, RUN_FILE_MAX).map_err(store_error)? else {
        return Ok(None);
    };
    decode_run(&bytes).map(Some)
}

/// A run record's bytes (a file's, or a row's): [`StoredRun`]'s JSON.
fn encode_run(run: &AcceptedRun) -> Result<Vec<u8>, StoreError> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        format: u8,
        sealed: &'a SealedManifest,
        manifest_cid: &'a Cid,
        ledger: Ledger,
        payouts: &'a [Payout],
    }
    serde_json::to_vec(&Borrowed {
        format: RUN_FORMAT,
        sealed: &run.sealed,
        manifest_cid: &run.manifest_cid,
        ledger: run.ledger,
        payouts: &run.payouts,
    })
    .map_err(store_error)
}

/// A run record read back: format 2, or format 1 (converted). Either way
/// its payouts must be the ones its manifest seals (CID and count), so a
/// record changed at rest (a payout moved to another account, an amount
/// raised) is refused, never paid.
fn decode_run(bytes: &[u8]) -> Result<AcceptedRun, StoreError> {
    let run = match serde_json::from_slice::<StoredRun>(bytes) {
        Ok(run) if run.format == RUN_FORMAT => AcceptedRun {
            sealed: run.sealed,
            manifest_cid: run.manifest_cid,
            payouts: run.payouts,
            ledger: run.ledger,
        },
        Ok(_) => return Err(store_error("a run record of an unknown format")),
        Err(v2) => {
            let Ok(old) = serde_json::from_slice::<StoredRunV1>(bytes) else {
                return Err(store_error(v2));
            };
            from_v1(old)?
        }
    };
    run.check_payouts().map_err(store_error)?;
    Ok(run)
}

fn from_v1(old: StoredRunV1) -> Result<AcceptedRun, StoreError> {
    let residual = usize::from(old.sealed.manifest.residual > 0);
    let n = old.intents.len().saturating_sub(residual);
    let ledger = old
        .intents
        .first()
        .map(|t| t.ledger)
        .ok_or_else(|| store_error("a run record without intents"))?;
    let run = AcceptedRun {
        payouts: old
            .intents
            .iter()
            .take(n)
            .map(|t| Payout {
                account: t.credit_account.clone(),
                amount: t.amount,
            })
            .collect(),
        sealed: old.sealed,
        manifest_cid: old.manifest_cid,
        ledger,
    };
    if run.intents().map_err(store_error)? != old.intents {
        return Err(store_error(
            "a run record's intents are not the ones its payouts derive",
        ));
    }
    Ok(run)
}

fn read_head(dir: &Vault) -> Result<Option<StoredHead>, StoreError> {
    match dir.read("head.json", SMALL_FILE_MAX).map_err(store_error)? {
        Some(b) => serde_json::from_slice(&b).map(Some).map_err(store_error),
        None => Ok(None),
    }
}

fn write_head(dir: &Vault, head: &StoredHead) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(head).map_err(store_error)?;
    dir.write("head.json", &bytes).map_err(store_error)
}

/// A crash between writing an accepted run and moving the head leaves a
/// run that links to the head without being it: move the head on.
fn repair_head(dir: &Vault) {
    let runs: Vec<AcceptedRun> = dir
        .list("runs")
        .iter()
        .filter_map(|name| read_run_file(dir, &format!("runs/{name}")).ok().flatten())
        .collect();
    for _ in 0..runs.len() {
        let head = read_head(dir).ok().flatten().map(|h| h.cid);
        let next = runs
            .iter()
            .find(|r| r.sealed.manifest.previous == head && Some(r.manifest_cid) != head);
        let Some(next) = next else { return };
        let moved = StoredHead {
            cid: next.manifest_cid,
            epoch: next.sealed.manifest.epoch.clone(),
        };
        if write_head(dir, &moved).is_err() {
            return;
        }
    }
}

fn files_head(dir: &Vault) -> Result<Option<Head>, StoreError> {
    let Some(head) = read_head(dir)? else {
        return Ok(None);
    };
    // The head's sealed manifest only (the next run links to it and checks
    // its seal): its payouts are skipped, not decoded and checked.
    #[derive(Deserialize)]
    struct SealedOnly {
        sealed: SealedManifest,
    }
    let bytes = dir
        .read(&run_path(&head.epoch), RUN_FILE_MAX)
        .map_err(store_error)?
        .ok_or_else(|| store_error("the head names a run that is not stored"))?;
    let run: SealedOnly = serde_json::from_slice(&bytes).map_err(store_error)?;
    Ok(Some(Head {
        cid: head.cid,
        sealed: run.sealed,
    }))
}

/// The file store's accept, under [`Rewarder::runs`]: the run written
/// create-only (one per epoch), then the head moved. `None`: the
/// measurements `snapshot` were paid under another epoch and the policy
/// does not allow reuse (nothing written).
fn files_accept(
    dir: &Vault,
    run: &AcceptedRun,
    expected_head: Option<Cid>,
    snapshot: &str,
    allow_reuse: bool,
) -> Result<Option<Accepted>, StoreError> {
    let epoch = run.sealed.manifest.epoch.clone();
    if let Some(existing) = read_run(dir, &epoch)? {
        return Ok(Some(Accepted::Existing(Box::new(existing))));
    }
    if read_head(dir)?.map(|h| h.cid) != expected_head {
        return Ok(Some(Accepted::HeadMoved));
    }
    let paid_under = dir
        .read(&snapshot_path(snapshot), SMALL_FILE_MAX)
        .map_err(store_error)?;
    if !allow_reuse && paid_under.is_some_and(|other| other != epoch.as_str().as_bytes()) {
        return Ok(None);
    }
    let manifest_cid = run.manifest_cid;
    let noted = recent::Entry::accepted(
        epoch.to_string(),
        run.sealed.manifest.run_key.to_string(),
        manifest_cid.to_string(),
        run.sealed.manifest.previous.map(|c| c.to_string()),
    );
    let bytes = encode_run(run)?;
    // Never replaces: one accepted run per epoch, on disk too.
    if !dir.create(&run_path(&epoch), &bytes).map_err(store_error)? {
        return Err(store_error(
            "an accepted run of this epoch is already stored",
        ));
    }
    write_head(
        dir,
        &StoredHead {
            cid: manifest_cid,
            epoch,
        },
    )?;
    recent::note(dir, noted);
    Ok(Some(Accepted::Inserted))
}

/// tally-reward's [`RunStore`] over the rewarder's store, for one run, on
/// a blocking thread (the file store's under [`Rewarder::runs`]).
struct RunSession<'a> {
    store: &'a Store,
    /// What the funding account holds, when the ledger bounds its debits
    /// by its credits.
    funding_available: Option<u128>,
    /// The measurements' key ([`snapshot_key`]): `accept` refuses the run
    /// when another epoch paid them (PostgreSQL claims them for the epoch
    /// in the transaction that inserts the run).
    snapshot: &'a str,
    /// Whether the policy lets measurements be paid under two epochs.
    allow_reuse: bool,
    /// Set when `accept` found the measurements paid under another epoch
    /// (the run was not recorded).
    reused: bool,
}

impl RunStore for RunSession<'_> {
    fn accepted(&self, epoch: &EpochId) -> Result<Option<AcceptedRun>, StoreError> {
        match self.store {
            Store::Files { dir, .. } => read_run(dir, epoch),
            #[cfg(feature = "postgres")]
            Store::Pg(p) => p.blocking(p.accepted(epoch)),
        }
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        match self.store {
            Store::Files { dir, .. } => files_head(dir),
            #[cfg(feature = "postgres")]
            Store::Pg(p) => p.blocking(p.head()),
        }
    }

    fn accept(
        &mut self,
        run: &AcceptedRun,
        expected_head: Option<Cid>,
    ) -> Result<Accepted, StoreError> {
        let (snapshot, allow_reuse) = (self.snapshot, self.allow_reuse);
        let accepted = match self.store {
            Store::Files { dir, .. } => {
                files_accept(dir, run, expected_head, snapshot, allow_reuse)?
            }
            #[cfg(feature = "postgres")]
            Store::Pg(p) => p.blocking(p.accept(run, expected_head, snapshot, allow_reuse))?,
        };
        accepted.ok_or_else(|| {
            self.reused = true;
            store_error("the measurements were paid under another epoch")
        })
    }

    fn quarantine(&mut self, run: QuarantinedRun) -> Result<(), StoreError> {
        let stored = StoredQuarantine {
            epoch: run.epoch.clone(),
            run_key: run.run_key.to_string(),
            reason: run.reason.to_string(),
            manifest: run.manifest,
        };
        match self.store {
            Store::Files { dir, .. } => {
                let bytes = serde_json::to_vec(&stored).map_err(store_error)?;
                let rel = format!("quarantine/{}", hashed_name(run.epoch.as_str()));
                dir.write(&rel, &bytes).map_err(store_error)?;
                let noted = recent::Entry::quarantined(stored.epoch.to_string(), stored.run_key);
                recent::note(dir, noted);
                Ok(())
            }
            #[cfg(feature = "postgres")]
            Store::Pg(p) => p.blocking(p.quarantine(&stored)),
        }
    }

    fn admit(&self, distribution: &Distribution) -> Result<(), RewardError> {
        match self.funding_available {
            Some(held) if held < u128::from(distribution.pool) => {
                Err(RewardError::InvariantBreach {
                    reason: "the funding account does not hold the pool".to_owned(),
                })
            }
            _ => Ok(()),
        }
    }
}

fn read_quarantine(dir: &Vault, epoch: &EpochId) -> Option<StoredQuarantine> {
    let rel = format!("quarantine/{}", hashed_name(epoch.as_str()));
    let bytes = dir.read(&rel, RUN_FILE_MAX).ok()??;
    serde_json::from_slice(&bytes).ok()
}

fn settle_path(run_key: &str) -> String {
    format!("settle/{run_key}")
}

fn read_settle(dir: &Vault, run_key: &str) -> Result<SettleRecord, StoreError> {
    match dir
        .read(&settle_path(run_key), SMALL_FILE_MAX)
        .map_err(store_error)?
    {
        Some(b) => serde_json::from_slice(&b).map_err(store_error),
        None => Ok(SettleRecord::default()),
    }
}

fn write_settle(dir: &Vault, run_key: &str, r: SettleRecord) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(&r).map_err(store_error)?;
    dir.write(&settle_path(run_key), &bytes)
        .map_err(store_error)
}

pub(crate) fn policy_path(cid: &Cid) -> String {
    format!("policies/{cid}")
}

fn snapshot_path(snapshot: &str) -> String {
    format!("snapshots/{snapshot}")
}

impl Store {
    async fn put_blob(
        &self,
        body: axum::body::Body,
        expected: Option<Cid>,
    ) -> Result<(Cid, u64, bool), BlobError> {
        match self {
            Self::Files { blobs, .. } => blobs.put(body, expected).await,
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.put_blob(body, expected).await,
        }
    }

    async fn get_blob(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlobError> {
        match self {
            Self::Files { blobs, .. } => blobs.get(cid),
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.get_blob(cid).await,
        }
    }

    /// The blob to decode as it is read (on a blocking thread).
    fn blob_reader(&self, cid: &Cid) -> Result<Option<BlobReader>, BlobError> {
        match self {
            Self::Files { blobs, .. } => blobs.reader(cid),
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.blob_reader(cid),
        }
    }

    /// Stores a signed policy's bytes once: whether this call stored them.
    async fn create_policy(&self, cid: &Cid, bytes: &[u8]) -> Result<bool, StoreError> {
        match self {
            Self::Files { dir, .. } => dir.create(&policy_path(cid), bytes).map_err(store_error),
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.create_policy(cid, bytes).await,
        }
    }

    async fn policy(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Files { dir, .. } => dir
                .read(&policy_path(cid), SMALL_FILE_MAX)
                .map_err(store_error),
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.policy(cid).await,
        }
    }

    async fn accepted(&self, epoch: &EpochId) -> Result<Option<AcceptedRun>, StoreError> {
        match self {
            Self::Files { dir, .. } => read_run(dir, epoch),
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.accepted(epoch).await,
        }
    }

    async fn quarantined(&self, epoch: &EpochId) -> Result<Option<StoredQuarantine>, StoreError> {
        match self {
            Self::Files { dir, .. } => Ok(read_quarantine(dir, epoch)),
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.quarantined(epoch).await,
        }
    }

    /// Records the measurements `snapshot` as paid under `epoch` unless
    /// they already are (on a blocking thread).
    fn claim_snapshot(&self, snapshot: &str, epoch: &EpochId) -> Result<(), StoreError> {
        match self {
            Self::Files { dir, .. } => dir
                .create(&snapshot_path(snapshot), epoch.as_str().as_bytes())
                .map(|_| ())
                .map_err(store_error),
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.blocking(p.claim_snapshot(snapshot, epoch)),
        }
    }

    async fn settle_record(&self, run_key: &str) -> Result<SettleRecord, StoreError> {
        match self {
            Self::Files { dir, .. } => read_settle(dir, run_key),
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.settle_record(run_key).await,
        }
    }

    /// Counts one submission of the run's intents, durably, before it is
    /// sent: the new count, or `None` when `max` were counted already.
    async fn count_emit(&self, run_key: &str, max: u32) -> Result<Option<u32>, StoreError> {
        match self {
            Self::Files { dir, .. } => {
                let mut record = read_settle(dir, run_key)?;
                if record.emits >= max {
                    return Ok(None);
                }
                record.emits = record.emits.saturating_add(1);
                write_settle(dir, run_key, record)?;
                Ok(Some(record.emits))
            }
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.count_emit(run_key, max).await,
        }
    }

    async fn mark_settled(&self, run_key: &str) -> Result<(), StoreError> {
        match self {
            Self::Files { dir, .. } => {
                let mut record = read_settle(dir, run_key)?;
                record.settled = true;
                write_settle(dir, run_key, record)
            }
            #[cfg(feature = "postgres")]
            Self::Pg(p) => p.mark_settled(run_key).await,
        }
    }
}

/// The measurements of inputs, whatever their epoch label, window and
/// producer: what may not be paid twice under two epoch ids.
fn snapshot_key(inputs: &EpochInputs) -> Result<String, RewardError> {
    // The JCS bytes of `inputs.to_accounts()`, written directly (tested
    // equal in tally-reward), as part of the canonical inputs, whose CID
    // (the run key's) is then remembered by the inputs.
    let mut key = [0u8; 32];
    inputs.cid_with_accounts(|bytes| {
        key = blake3::derive_key("tally/serve/rewarder/snapshot/v1", bytes);
    })?;
    Ok(tally_encoding::hex::encode(&key))
}

// ----------------------------------------------------------------- DTOs --

/// A blob's bytes: any content (`application/octet-stream`, or
/// `application/json` for epoch inputs).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct BlobBytes(pub Vec<u8>);

/// A stored blob.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlobDto {
    /// Its content id (CIDv1, raw, BLAKE3).
    pub cid: String,
    /// Its size, bytes.
    pub size: u64,
    /// Whether this upload stored it (`false`: it was already there).
    pub created: bool,
}

/// `POST /v1/blobs?cid=`: the content id the client expects.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlobQuery {
    /// The expected content id; bytes that do not match it are refused.
    pub cid: Option<String>,
}

/// A signed policy (`tally reward sign-policy`), as uploaded and as read
/// back: tally-reward's `SignedPolicy`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedPolicyDto {
    /// The policy (`tally/reward/policy/v1`; unknown fields refused).
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
    /// The signer's key id (16 hex digits).
    pub key_id: String,
    /// Ed25519 over `tally/reward/policy/v1 || 0x00 || JCS(policy)` (128 hex digits).
    pub signature: String,
}

/// A stored policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyDto {
    /// The policy's content id (of its canonical bytes).
    pub cid: String,
    /// The policy's name.
    pub policy_id: String,
    /// Its version.
    pub version: u64,
    /// The key that signed it.
    pub key_id: String,
    /// Whether this request stored it.
    pub created: bool,
}

/// `POST /v1/rewarder/epochs/{epoch}/compute`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputeRequest {
    /// The inputs blob (for this epoch).
    pub inputs_cid: String,
    /// The policy (stored with `POST /v1/rewarder/policies`).
    pub policy_cid: String,
    /// Compute and answer the totals without sealing or storing anything.
    #[serde(default)]
    pub dry_run: bool,
}

/// An epoch's run.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpochView {
    /// The epoch.
    pub epoch: String,
    /// `accepted`, `quarantined` or `dry_run`.
    pub status: &'static str,
    /// The run key (64 hex digits).
    pub run_key: String,
    /// The sealed manifest's content id (accepted runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_cid: Option<String>,
    /// The sealed, signed manifest (accepted runs; `tally reward verify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub sealed: Option<SealedManifest>,
    /// The unsigned manifest of a quarantined run, when one was computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub manifest: Option<Manifest>,
    /// Why a run is quarantined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The distribution of a dry run (never sealed or stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub distribution: Option<Distribution>,
    /// The cost estimate, work units (dry runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_units: Option<u64>,
}

/// A settlement.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementView {
    /// The epoch.
    pub epoch: String,
    /// The run key.
    pub run_key: String,
    /// `settled` (every intent on the ledger), `unsettled`, or `partial`.
    pub status: &'static str,
    /// Intents of the run.
    pub transfers: u64,
    /// Intents this call applied.
    pub accepted: u64,
    /// Intents this call found already applied.
    pub dup: u64,
    /// Submissions of the run's intents so far.
    pub emits: u32,
    /// Whether the service is in quarantine-only mode.
    pub quarantine_only: bool,
}

// ------------------------------------------------------------- handlers --

fn parse_cid(text: &str) -> Result<Cid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request("a content id is a CIDv1 (raw, BLAKE3) in base32"))
}

fn parse_epoch(text: &str) -> Result<EpochId, ApiError> {
    EpochId::new(text)
        .map_err(|_| ApiError::bad_request("an epoch id is 1 to 128 of [A-Za-z0-9._:-]"))
}

fn blob_error(s: &AppState, e: BlobError) -> ApiError {
    match e {
        BlobError::TooLarge => ApiError::new(
            Code::PayloadTooLarge,
            "the blob is over BLOB_MAX",
            Reason::Oversize,
        ),
        BlobError::Mismatch => ApiError::new(
            Code::BadRequest,
            "the bytes do not match the content id given",
            Reason::CidMismatch,
        ),
        BlobError::Body => ApiError::bad_request("the body could not be read"),
        BlobError::File(_) | BlobError::Link(_) | BlobError::Database(_) => {
            s.metrics.storage_errors.inc();
            ApiError::dependency()
        }
        BlobError::Corrupt | BlobError::AtRest(_) => {
            s.metrics.storage_errors.inc();
            ApiError::internal()
        }
    }
}

/// `POST /v1/blobs`: a content-addressed upload (any bytes,
/// `application/json` or `application/octet-stream`), streamed under
/// `BLOB_MAX`. Idempotent by construction (the same bytes, the same id):
/// no `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/blobs", params(("cid" = Option<String>, Query, description = "the content id the bytes must have")),
    request_body(content = BlobBytes, content_type = "application/octet-stream", description = "the blob, at most BLOB_MAX bytes"),
    responses((status = 200, body = BlobDto), (status = "4XX", body = crate::dto::ErrorDto)))]
pub async fn post_blob(
    State(s): State<Arc<AppState>>,
    Query(q): Query<BlobQuery>,
    req: Request,
) -> Result<Json<BlobDto>, ApiError> {
    let e = s.rewarder.store()?;
    let expected = q.cid.as_deref().map(parse_cid).transpose()?;
    let (body, decoding) = decode_ahead(&s.rewarder, req);
    let (cid, size, created) = e
        .store
        .put_blob(body, expected)
        .await
        .map_err(|err| blob_error(&s, err))?;
    // The body was read to its end (its tap dropped): the decoder has every
    // byte the CID was computed over, and refuses anything after the
    // document, so its inputs are exactly the blob's.
    if let Some(decoding) = decoding
        && let Ok(Ok((inputs, snapshot))) = decoding.await
        && let Ok(mut held) = s.rewarder.decoded.lock()
    {
        *held = Some(Decoded {
            blob: cid,
            inputs: Arc::new(inputs),
            snapshot,
        });
    }
    Ok(Json(BlobDto {
        cid: cid.to_string(),
        size,
        created,
    }))
}

/// A JSON upload of at most [`DECODE_AHEAD_MAX`] bytes (by its
/// `Content-Length`) is decoded as epoch inputs while it is stored: its
/// frames are passed, in order, to a decoding thread as they arrive, so
/// decoding overlaps hashing, writing and syncing the blob. Anything that
/// is not valid inputs is simply not kept; the upload is unaffected.
fn decode_ahead(rewarder: &Rewarder, req: Request) -> (axum::body::Body, Option<Decoding>) {
    use http_body_util::BodyExt;
    let headers = req.headers();
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n <= DECODE_AHEAD_MAX);
    let body = req.into_body();
    if !(json && small) {
        return (body, None);
    }
    let (tx, rx) = std::sync::mpsc::channel::<axum::body::Bytes>();
    let limits = rewarder.decode_limits();
    let decoding = tokio::task::spawn_blocking(move || {
        let inputs = EpochInputs::from_reader(
            FrameReader {
                rx,
                current: axum::body::Bytes::new(),
            },
            &limits,
        )?;
        let snapshot = snapshot_key(&inputs)?;
        Ok((inputs, snapshot))
    });
    // The sender lives in the body: dropped with it when the store has read
    // it, which ends the decoder's input.
    let mut tx = Some(tx);
    let tapped = body.map_frame(move |frame| {
        if let (Some(data), Some(sender)) = (frame.data_ref(), &tx)
            && sender.send(data.clone()).is_err()
        {
            // The decoder stopped (not inputs): stop passing frames.
            tx = None;
        }
        frame
    });
    (axum::body::Body::new(tapped), Some(decoding))
}

/// The decoding thread of an upload: the inputs and their measurements' key.
type Decoding = tokio::task::JoinHandle<Result<(EpochInputs, String), RewardError>>;

/// The frames of an upload as a `Read`, for the decoding thread.
struct FrameReader {
    rx: std::sync::mpsc::Receiver<axum::body::Bytes>,
    current: axum::body::Bytes,
}

impl std::io::Read for FrameReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(next) => self.current = next,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let (head, _) = buf.split_at_mut(n);
        head.copy_from_slice(self.current.split_to(n).as_ref());
        Ok(n)
    }
}

/// `GET /v1/blobs/{cid}`: the bytes, checked against their id.
#[utoipa::path(get, path = "/v1/blobs/{cid}", params(("cid" = String, Path)),
    responses((status = 200, description = "the blob's bytes", body = BlobBytes, content_type = "application/octet-stream"),
        (status = 404, body = crate::dto::ErrorDto)))]
pub async fn get_blob(
    State(s): State<Arc<AppState>>,
    UrlPath(cid): UrlPath<String>,
) -> Result<Response, ApiError> {
    let e = s.rewarder.store()?;
    let cid = parse_cid(&cid)?;
    let bytes = e
        .store
        .get_blob(&cid)
        .await
        .map_err(|err| blob_error(&s, err))?
        .ok_or_else(ApiError::not_found)?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

fn signature_error() -> ApiError {
    ApiError::new(
        Code::BadRequest,
        "the policy is unsigned, or its signature is not a trusted key's",
        Reason::Signature,
    )
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `POST /v1/rewarder/policies`: a signed policy (`tally reward
/// sign-policy`), verified against the trusted keys (`REWARD_TRUSTED_KEYS`;
/// none configured: every policy is untrusted); an expired one (now at or past `valid_until`) is refused as stale.
#[utoipa::path(post, path = "/v1/rewarder/policies",
    request_body = SignedPolicyDto,
    params(("Idempotency-Key" = String, Header, description = "1 to 255 visible characters")),
    responses((status = 200, body = PolicyDto), (status = "4XX", body = crate::dto::ErrorDto)))]
pub async fn post_policy(
    State(s): State<Arc<AppState>>,
    req: Request,
) -> Result<Json<PolicyDto>, ApiError> {
    let e = s.rewarder.store()?;
    let cap = req
        .extensions()
        .get::<BodyCap>()
        .map_or(crate::config::REQ_BODY_MAX, |c| c.0);
    let bytes = read_capped(req.into_body(), cap).await?;
    let signed = match SignedPolicy::from_json(&bytes) {
        Ok(p) => p,
        // A valid policy without its signature: unsigned.
        Err(_) if Policy::from_json(&bytes).is_ok() => return Err(signature_error()),
        Err(_) => {
            return Err(ApiError::bad_request(
                "the body is not a valid signed policy",
            ));
        }
    };
    let verified = signed
        .verify(&e.policy_keys)
        .map_err(|_| signature_error())?;
    if now_s() >= verified.policy().valid_until {
        return Err(ApiError::new(
            Code::BadRequest,
            "the policy's validity period has ended",
            Reason::Stale,
        ));
    }
    let cid = verified.cid();
    let text = serde_json::to_vec(&signed).map_err(|_| ApiError::internal())?;
    let created = match e.store.create_policy(&cid, &text).await {
        Ok(created) => created,
        Err(_) => {
            s.metrics.storage_errors.inc();
            return Err(ApiError::dependency());
        }
    };
    tracing::info!(policy_hash = %cid, key_id = %signed.key_id, "reward policy stored");
    Ok(Json(PolicyDto {
        cid: cid.to_string(),
        policy_id: signed.policy.id.to_string(),
        version: signed.policy.version,
        key_id: signed.key_id.to_string(),
        created,
    }))
}

async fn load_policy(store: &Store, cid: &Cid) -> Result<Option<SignedPolicy>, ApiError> {
    match store.policy(cid).await {
        Ok(Some(b)) => SignedPolicy::from_json(&b)
            .map(Some)
            .map_err(|_| ApiError::internal()),
        Ok(None) => Ok(None),
        Err(_) => Err(ApiError::dependency()),
    }
}

/// `GET /v1/rewarder/policies/{cid}`: the signed policy.
#[utoipa::path(get, path = "/v1/rewarder/policies/{cid}", params(("cid" = String, Path)),
    responses((status = 200, body = SignedPolicyDto),
        (status = 404, body = crate::dto::ErrorDto)))]
pub async fn get_policy(
    State(s): State<Arc<AppState>>,
    UrlPath(cid): UrlPath<String>,
) -> Result<Json<SignedPolicy>, ApiError> {
    let e = s.rewarder.store()?;
    let cid = parse_cid(&cid)?;
    load_policy(&e.store, &cid)
        .await?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

fn run_error(s: &AppState, e: &RewardError) -> ApiError {
    match e {
        RewardError::Conflict { .. } => ApiError::new(
            Code::Conflict,
            "the epoch already has an accepted run with another run key",
            Reason::Conflict,
        ),
        RewardError::OutsideValidity => ApiError::new(
            Code::BadRequest,
            "the epoch's window is outside the policy's validity period",
            Reason::Stale,
        ),
        RewardError::OverCost { .. } => ApiError::new(
            Code::BadRequest,
            "the run's cost estimate is over MAX_EPOCH_COST_MS",
            Reason::Cost,
        ),
        RewardError::UntrustedKey { .. } | RewardError::BadSignature { .. } => signature_error(),
        RewardError::Store { .. } => {
            s.metrics.storage_errors.inc();
            ApiError::dependency()
        }
        RewardError::PoolAccountAsPayee { .. } => ApiError::bad_request(
            "an account of the inputs is the policy's funding account or residual sink",
        ),
        RewardError::ChainOrder { .. } | RewardError::BrokenChain { .. } => ApiError::new(
            Code::Conflict,
            "the epoch does not follow the last accepted epoch (its window must start at or after the previous one's end)",
            Reason::Conflict,
        ),
        _ => ApiError::bad_request("the run was refused"),
    }
}

fn reused_inputs() -> ApiError {
    ApiError::new(
        Code::Conflict,
        "these measurements were already paid under another epoch id (the policy does not allow_input_reuse)",
        Reason::Conflict,
    )
}

fn quarantined() -> ApiError {
    ApiError::new(
        Code::Quarantined,
        "the run broke an invariant: quarantined, never settled",
        Reason::Invariant,
    )
}

fn accepted_view(run: &AcceptedRun) -> EpochView {
    EpochView {
        epoch: run.sealed.manifest.epoch.to_string(),
        status: "accepted",
        run_key: run.sealed.manifest.run_key.to_string(),
        manifest_cid: Some(run.manifest_cid.to_string()),
        sealed: Some(run.sealed.clone()),
        manifest: None,
        reason: None,
        distribution: None,
        cost_units: None,
    }
}

/// What the funding account holds, when the ledger bounds its debits by
/// its credits (`None`: unbounded, or not created yet).
async fn funding_available(s: &AppState, policy: &Policy) -> Result<Option<u128>, ApiError> {
    let id = tally_reward::settle::ledger_account_id(&policy.funding_account);
    let account = s
        .backend
        .account(id)
        .await
        .map_err(|_| ApiError::dependency())?;
    Ok(account.and_then(|a| {
        a.flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            .then(|| {
                a.credits_posted
                    .saturating_sub(a.debits_posted)
                    .saturating_sub(a.debits_pending)
            })
    }))
}

/// `POST /v1/rewarder/epochs/{epoch}/compute`.
#[utoipa::path(post, path = "/v1/rewarder/epochs/{epoch}/compute", request_body = ComputeRequest,
    params(("epoch" = String, Path), ("Idempotency-Key" = String, Header, description = "1 to 255 visible characters")),
    responses((status = 200, body = EpochView),
        (status = 409, description = "CONFLICT: another run of the epoch was accepted, or its inputs were paid under another epoch", body = crate::dto::ErrorDto),
        (status = 423, description = "QUARANTINED: the run broke an invariant", body = crate::dto::ErrorDto),
        (status = "4XX", body = crate::dto::ErrorDto)))]
pub async fn compute_epoch(
    State(s): State<Arc<AppState>>,
    UrlPath(epoch): UrlPath<String>,
    crate::routes::JsonBody(req): crate::routes::JsonBody<ComputeRequest>,
) -> Result<Json<EpochView>, ApiError> {
    let e = s.rewarder.store()?;
    let epoch = parse_epoch(&epoch)?;
    let inputs_cid = parse_cid(&req.inputs_cid)?;
    let policy_cid = parse_cid(&req.policy_cid)?;
    let signed = load_policy(&e.store, &policy_cid)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let funding = funding_available(&s, &signed.policy).await?;
    let started = Instant::now();
    let state = Arc::clone(&s);
    let dry_run = req.dry_run;
    let result = tokio::task::spawn_blocking(move || {
        run_blocking(&state, &epoch, inputs_cid, &signed, funding, dry_run)
    })
    .await
    .map_err(|_| ApiError::internal())?;
    s.metrics
        .reward
        .latency
        .observe(started.elapsed().as_secs_f64());
    match &result {
        Ok(v) if v.status == "dry_run" => s.metrics.reward.run("dry_run"),
        Ok(_) => s.metrics.reward.run("ok"),
        Err(err) if err.code == Code::Quarantined => s.metrics.reward.run("quarantined"),
        Err(_) => s.metrics.reward.run("fail"),
    }
    result.map(Json)
}

fn run_blocking(
    s: &AppState,
    epoch: &EpochId,
    inputs_cid: Cid,
    signed: &SignedPolicy,
    funding: Option<u128>,
    dry_run: bool,
) -> Result<EpochView, ApiError> {
    let rewarder = &s.rewarder;
    let e = rewarder.store()?;
    let mut blob = e
        .store
        .blob_reader(&inputs_cid)
        .map_err(|err| blob_error(s, err))?
        .ok_or_else(ApiError::not_found)?;
    let limits = tally_reward::Limits {
        max_cost: rewarder
            .config
            .max_epoch_cost_ms
            .saturating_mul(COST_UNITS_PER_MS),
        on_over_cost: if dry_run {
            OverCost::DryRun
        } else {
            rewarder.config.over_cost
        },
        ..rewarder.decode_limits()
    };
    let (inputs, snapshot) = if let Some(d) = rewarder.decoded(&inputs_cid) {
        // Decoded from the uploaded bytes of this CID; the stored blob is
        // still checked against it, so a manifest never names a blob that
        // is not stored intact.
        blob.finish().map_err(|err| blob_error(s, err))?;
        s.metrics.reward.decoded_at("upload");
        (d.inputs, Some(d.snapshot))
    } else {
        // Decoded as the blob streams from disk (never held whole); the
        // bytes decoded are checked to be exactly the blob's before the
        // result is used.
        let decoded = EpochInputs::from_reader(&mut blob, &limits);
        blob.finish().map_err(|err| blob_error(s, err))?;
        s.metrics.reward.decoded_at("store");
        let inputs = decoded
            .map_err(|_| ApiError::bad_request("the inputs blob is not valid epoch inputs"))?;
        (Arc::new(inputs), None)
    };
    if inputs.epoch() != epoch {
        return Err(ApiError::bad_request("the inputs are another epoch's"));
    }
    let verified = signed
        .verify(&e.policy_keys)
        .map_err(|_| signature_error())?;
    let policy_hash = verified.cid();
    if dry_run {
        let limits = tally_reward::Limits {
            max_cost: 0,
            ..limits
        };
        let outcome = compute(&inputs, &verified, &limits).map_err(|err| run_error(s, &err))?;
        let key = tally_reward::manifest::run_key(
            epoch,
            &inputs_cid,
            &policy_hash,
            tally_reward::ENGINE_VERSION,
        );
        return Ok(EpochView {
            epoch: epoch.to_string(),
            status: "dry_run",
            run_key: key.to_string(),
            manifest_cid: None,
            sealed: None,
            manifest: None,
            reason: None,
            distribution: Some(outcome.distribution),
            cost_units: Some(estimate(&inputs, verified.policy()).units),
        });
    }
    let snapshot = match snapshot {
        Some(snapshot) => snapshot,
        None => snapshot_key(&inputs).map_err(|_| ApiError::internal())?,
    };
    // The file store's one writer; PostgreSQL needs none (its constraints
    // and transactions decide between processes, and so within one).
    let _writer = match &e.store {
        Store::Files { .. } => Some(rewarder.runs.lock().map_err(|_| ApiError::internal())?),
        #[cfg(feature = "postgres")]
        Store::Pg(_) => None,
    };
    // The measurements paid under another epoch are refused by the
    // store's accept (in PostgreSQL, in the transaction that inserts the
    // run), the one place that sees every process's runs.
    let allow_reuse = verified.policy().allow_input_reuse;
    let mut session = RunSession {
        store: &e.store,
        funding_available: funding,
        snapshot: &snapshot,
        allow_reuse,
        reused: false,
    };
    let outcome = run_epoch(
        &mut session,
        &inputs,
        signed,
        &e.all_keys,
        &limits,
        Sealer {
            ed25519: &e.seal,
            ml_dsa: e.pq_seal.as_ref(),
        },
        Ledger(rewarder.config.ledger),
    );
    if session.reused {
        return Err(reused_inputs());
    }
    let view = match outcome {
        Ok(RunOutcome::Accepted(run) | RunOutcome::Existing(run)) => {
            e.store
                .claim_snapshot(&snapshot, epoch)
                .map_err(|_| ApiError::dependency())?;
            accepted_view(&run)
        }
        Ok(RunOutcome::DryRun(distribution)) => EpochView {
            epoch: epoch.to_string(),
            status: "dry_run",
            run_key: tally_reward::manifest::run_key(
                epoch,
                &inputs_cid,
                &policy_hash,
                tally_reward::ENGINE_VERSION,
            )
            .to_string(),
            manifest_cid: None,
            sealed: None,
            manifest: None,
            reason: None,
            distribution: Some(distribution),
            cost_units: Some(estimate(&inputs, verified.policy()).units),
        },
        Ok(RunOutcome::Quarantined(q)) => {
            tracing::warn!(run_key = %q.run_key, policy_hash = %policy_hash, inputs_cid = %inputs_cid,
                reason = %q.reason, "reward run quarantined");
            return Err(quarantined());
        }
        Err(err) => {
            tracing::info!(policy_hash = %policy_hash, inputs_cid = %inputs_cid, error = %err, "reward run refused");
            return Err(run_error(s, &err));
        }
    };
    tracing::info!(run_key = %view.run_key, policy_hash = %policy_hash, inputs_cid = %inputs_cid,
        status = view.status, "reward run");
    Ok(view)
}

/// `GET /v1/rewarder/epochs/{epoch}`: the accepted run's sealed, signed
/// manifest; a quarantined run's reason and unsigned manifest.
#[utoipa::path(get, path = "/v1/rewarder/epochs/{epoch}", params(("epoch" = String, Path)),
    responses((status = 200, body = EpochView), (status = 404, body = crate::dto::ErrorDto)))]
pub async fn get_epoch(
    State(s): State<Arc<AppState>>,
    UrlPath(epoch): UrlPath<String>,
) -> Result<Json<EpochView>, ApiError> {
    let e = s.rewarder.store()?;
    let epoch = parse_epoch(&epoch)?;
    if let Some(run) = s.rewarder.cached(&epoch).await? {
        return Ok(Json(accepted_view(&run)));
    }
    let q = e
        .store
        .quarantined(&epoch)
        .await
        .map_err(|_| ApiError::dependency())?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(EpochView {
        epoch: q.epoch.to_string(),
        status: "quarantined",
        run_key: q.run_key,
        manifest_cid: None,
        sealed: None,
        manifest: q.manifest,
        reason: Some(q.reason),
        distribution: None,
        cost_units: None,
    }))
}

/// `GET /v1/rewarder/epochs/{epoch}/payouts/{account}`: the payout and its
/// Merkle inclusion proof under the sealed manifest (`tally reward
/// verify-proof`).
#[utoipa::path(get, path = "/v1/rewarder/epochs/{epoch}/payouts/{account}",
    params(("epoch" = String, Path), ("account" = String, Path)),
    responses((status = 200, description = "a payout proof: {manifest_cid, payout, index, size, path}", content_type = "application/json"),
        (status = 404, body = crate::dto::ErrorDto)))]
pub async fn get_payout(
    State(s): State<Arc<AppState>>,
    UrlPath((epoch, account)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    s.rewarder.store()?;
    let epoch = parse_epoch(&epoch)?;
    let account = AccountId::new(account)
        .map_err(|_| ApiError::bad_request("an account id is 1 to 128 of [A-Za-z0-9._:@/+-]"))?;
    let run = s
        .rewarder
        .cached(&epoch)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let proof = Prover::new(&run.sealed.manifest, &run.payouts)
        .map_err(|_| ApiError::internal())?
        .prove(&account)
        .map_err(|_| ApiError::not_found())?;
    Ok(Json(proof).into_response())
}

fn quarantine_only() -> ApiError {
    ApiError::new(
        Code::Quarantined,
        "quarantine-only mode (QUARANTINE_ONLY): runs are sealed, never settled",
        Reason::Invariant,
    )
}

/// The linked chains a run settles in: at most 8,189 intents each.
fn chains(intents: &[Transfer]) -> impl Iterator<Item = &[Transfer]> {
    intents.chunks(crate::config::BATCH_EVENTS_MAX)
}

/// The ledger's event of intent `t` of the run `run_key`: tagged with the
/// run's [`tally_reward::settle::run_tag`] in `user_data_128`, so every
/// payment of the run can be found on the ledger (forensics).
fn new_transfer(t: &Transfer, run_key: &RunKey, linked: bool) -> tally_ledger::NewTransfer {
    tally_ledger::NewTransfer {
        id: t.id,
        user_data_128: tally_reward::settle::run_tag(run_key),
        debit_account_id: t.debit_account_id,
        credit_account_id: t.credit_account_id,
        amount: u128::from(t.amount),
        ledger: t.ledger.0,
        code: t.code,
        flags: if linked {
            tally_ledger::TransferFlags::LINKED
        } else {
            tally_ledger::TransferFlags::empty()
        },
        ..tally_ledger::NewTransfer::default()
    }
}

/// Whether the chain starting with `first` is on the ledger: `Some(true)`
/// when its first transfer is there as derived, `Some(false)` when absent.
async fn chain_applied(s: &AppState, first: &Transfer) -> Result<bool, ApiError> {
    let found = s
        .backend
        .transfer(first.id)
        .await
        .map_err(|_| ApiError::dependency())?;
    match found {
        None => Ok(false),
        Some((t, _)) => {
            let same = t.debit_account_id == first.debit_account_id
                && t.credit_account_id == first.credit_account_id
                && t.amount == u128::from(first.amount)
                && t.ledger == first.ledger.0
                && t.code == first.code;
            if same {
                Ok(true)
            } else {
                s.metrics.reward.intents("error", 1);
                Err(ApiError::new(
                    Code::Conflict,
                    "a settlement transfer id is held by another transfer on the ledger",
                    Reason::Conflict,
                ))
            }
        }
    }
}

/// Creates the run's accounts on the ledger (owned by `owner`) when
/// missing.
async fn ensure_accounts(s: &AppState, intents: &[Transfer], owner: Owner) -> Result<(), ApiError> {
    let mut ids: Vec<u128> = intents
        .iter()
        .flat_map(|t| [t.debit_account_id, t.credit_account_id])
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let ledger = s.rewarder.config.ledger;
    for chunk in ids.chunks(crate::config::BATCH_EVENTS_MAX) {
        let events = chunk
            .iter()
            .map(|&id| tally_ledger::NewAccount {
                id,
                user_data_128: owner.tag(),
                ledger,
                code: REWARD_ACCOUNT_CODE,
                flags: AccountFlags::HISTORY,
                ..tally_ledger::NewAccount::default()
            })
            .collect();
        let results = s
            .backend
            .create_accounts(events, now_ns())
            .await
            .map_err(|_| ApiError::dependency())?;
        let bad = results.iter().any(|r| {
            !matches!(
                r,
                AR::Ok
                    | AR::Exists
                    | AR::ExistsWithDifferentFlags
                    | AR::ExistsWithDifferentUserData128
                    | AR::ExistsWithDifferentUserData64
                    | AR::ExistsWithDifferentUserData32
                    | AR::ExistsWithDifferentCode
            )
        });
        if bad {
            return Err(ApiError::new(
                Code::Conflict,
                "a payee's ledger account exists on another ledger",
                Reason::Conflict,
            ));
        }
    }
    Ok(())
}

/// `POST /v1/rewarder/epochs/{epoch}/settle`: the accepted run's intents
/// on the ledger, exactly once.
#[utoipa::path(post, path = "/v1/rewarder/epochs/{epoch}/settle",
    params(("epoch" = String, Path), ("Idempotency-Key" = String, Header, description = "1 to 255 visible characters")),
    responses((status = 200, body = SettlementView),
        (status = 409, description = "CONFLICT: MAX_LEDGER_EMITS_PER_RUN reached, or a transfer id is taken", body = crate::dto::ErrorDto),
        (status = 423, description = "QUARANTINED: the run is quarantined, or quarantine-only mode", body = crate::dto::ErrorDto),
        (status = "4XX", body = crate::dto::ErrorDto)))]
pub async fn settle(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    UrlPath(epoch): UrlPath<String>,
) -> Result<Json<SettlementView>, ApiError> {
    // Its own task: a request that times out (or a client that leaves)
    // does not cut a submission off after it was counted against
    // MAX_LEDGER_EMITS_PER_RUN; the settlement runs to its end and a retry
    // finds it on the ledger.
    let task = tokio::spawn(settle_to_end(s, principal, epoch));
    task.await.map_err(|_| ApiError::internal())?.map(Json)
}

async fn settle_to_end(
    s: Arc<AppState>,
    principal: Principal,
    epoch: String,
) -> Result<SettlementView, ApiError> {
    let e = s.rewarder.store()?;
    let epoch = parse_epoch(&epoch)?;
    if s.rewarder.config.quarantine_only {
        return Err(quarantine_only());
    }
    let Some(run) = s.rewarder.cached(&epoch).await? else {
        let q = e.store.quarantined(&epoch).await;
        if q.map_err(|_| ApiError::dependency())?.is_some() {
            return Err(quarantined());
        }
        return Err(ApiError::not_found());
    };
    let _one = s.rewarder.settling.lock().await;
    let key = run.sealed.manifest.run_key.to_string();
    let mut emits = e
        .store
        .settle_record(&key)
        .await
        .map_err(|_| ApiError::dependency())?
        .emits;
    let mut accepted: u64 = 0;
    let mut dup: u64 = 0;
    let mut emitted = false;
    let mut accounts_ready = false;
    let intents = run.intents()?;
    for chain in chains(intents) {
        let Some(first) = chain.first() else { continue };
        let n = chain.len() as u64;
        if chain_applied(&s, first).await? {
            dup = dup.saturating_add(n);
            s.metrics.reward.intents("dup", n);
            continue;
        }
        if !accounts_ready {
            ensure_accounts(&s, intents, Owner::of(&principal.tenant)).await?;
            accounts_ready = true;
        }
        if !emitted {
            // Counted durably before the submission (a crash after it
            // still counts), and atomically against other processes.
            let max = s.rewarder.config.max_ledger_emits_per_run;
            let counted = e.store.count_emit(&key, max).await;
            let Some(n) = counted.map_err(|_| ApiError::dependency())? else {
                return Err(ApiError::new(
                    Code::Conflict,
                    "MAX_LEDGER_EMITS_PER_RUN reached: the run's intents were submitted before and are not on the ledger; see the settlement status",
                    Reason::Conflict,
                ));
            };
            emits = n;
            emitted = true;
        }
        let last = chain.len().saturating_sub(1);
        let events = chain
            .iter()
            .enumerate()
            .map(|(i, t)| new_transfer(t, &run.sealed.manifest.run_key, i < last))
            .collect();
        let results = s
            .backend
            .create_transfers(events, now_ns())
            .await
            .map_err(|_| {
                s.metrics.reward.intents("error", n);
                ApiError::dependency()
            })?;
        let all_ok = results.iter().all(|r| *r == TR::Ok);
        // A concurrent submission (another process's, or this one's before
        // a crash) got there first: the chain is on the ledger as derived
        // (each transfer `exists`, or the first one with the rest failed
        // with it).
        let raced = results.first() == Some(&TR::Exists)
            && results
                .iter()
                .all(|r| matches!(r, TR::Exists | TR::LinkedEventFailed));
        if all_ok {
            accepted = accepted.saturating_add(n);
            s.metrics.reward.intents("accepted", n);
        } else if raced {
            dup = dup.saturating_add(n);
            s.metrics.reward.intents("dup", n);
        } else {
            s.metrics.reward.intents("error", n);
            tracing::warn!(run_key = %run.sealed.manifest.run_key, "reward settlement refused by the ledger");
            return Err(ApiError::new(
                Code::Conflict,
                "the ledger refused the settlement batch (an account is missing funds or on another ledger)",
                Reason::Conflict,
            ));
        }
    }
    e.store
        .mark_settled(&key)
        .await
        .map_err(|_| ApiError::dependency())?;
    tracing::info!(run_key = %run.sealed.manifest.run_key, policy_hash = %run.sealed.manifest.policy_cid,
        inputs_cid = %run.sealed.manifest.inputs_cid, accepted, dup, "reward run settled");
    Ok(SettlementView {
        epoch: epoch.to_string(),
        run_key: run.sealed.manifest.run_key.to_string(),
        status: "settled",
        transfers: intents.len() as u64,
        accepted,
        dup,
        emits,
        quarantine_only: s.rewarder.config.quarantine_only,
    })
}

/// `GET /v1/rewarder/epochs/{epoch}/settlement`: whether the run's intents
/// are on the ledger (read from the ledger, not from a cache).
#[utoipa::path(get, path = "/v1/rewarder/epochs/{epoch}/settlement", params(("epoch" = String, Path)),
    responses((status = 200, body = SettlementView), (status = 404, body = crate::dto::ErrorDto)))]
pub async fn settlement(
    State(s): State<Arc<AppState>>,
    UrlPath(epoch): UrlPath<String>,
) -> Result<Json<SettlementView>, ApiError> {
    let e = s.rewarder.store()?;
    let epoch = parse_epoch(&epoch)?;
    let run = s
        .rewarder
        .cached(&epoch)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let record = e
        .store
        .settle_record(&run.sealed.manifest.run_key.to_string())
        .await
        .map_err(|_| ApiError::dependency())?;
    let (mut on, mut total) = (0u64, 0u64);
    let intents = run.intents()?;
    for chain in chains(intents) {
        let Some(first) = chain.first() else { continue };
        total = total.saturating_add(1);
        if chain_applied(&s, first).await? {
            on = on.saturating_add(1);
        }
    }
    let status = if on == total {
        "settled"
    } else if on == 0 {
        "unsettled"
    } else {
        "partial"
    };
    Ok(Json(SettlementView {
        epoch: epoch.to_string(),
        run_key: run.sealed.manifest.run_key.to_string(),
        status,
        transfers: intents.len() as u64,
        accepted: 0,
        dup: 0,
        emits: record.emits,
        quarantine_only: s.rewarder.config.quarantine_only,
    }))
}

/// The keys that verify this service's manifests offline: a trusted-keys
/// file (tally-keys) of its seal keys, as is: `tally reward verify
/// --trusted-keys F` (together with the policy signers' keys) and, when the
/// service seals with ML-DSA-65 too, `--pq-public-key F --require-pq`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SealKeysDto {
    /// `{key_id, public_key}` entries (16 and 64 hex digits): the Ed25519
    /// seal key.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<tally_reward::keys::TrustedKey>,
    /// The ML-DSA-65 seal key (`REWARD_PQ_KEY_FILE`), when there is one
    /// (absent otherwise): `{key_id, public_key}`, the public key being a
    /// public key file's line (`tally-ml-dsa-65-public-v1:` and 3,904 hex
    /// digits).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Option<Vec<MlDsaKeyDto>>)]
    pub ml_dsa_keys: Vec<tally_keys::ml_dsa::MlDsaTrustedEntry>,
}

/// An ML-DSA-65 public key of [`SealKeysDto`] (the schema of tally-keys'
/// `MlDsaTrustedEntry`).
#[derive(Debug, ToSchema)]
pub struct MlDsaKeyDto {
    /// The key id (16 hex digits).
    pub key_id: String,
    /// `tally-ml-dsa-65-public-v1:` and 3,904 lower-case hex digits (the
    /// text of a public key file).
    pub public_key: String,
}

/// `GET /v1/rewarder/keys`: the seal keys' public halves.
#[utoipa::path(get, path = "/v1/rewarder/keys",
    responses((status = 200, body = SealKeysDto)))]
pub async fn seal_keys(State(s): State<Arc<AppState>>) -> Result<Json<SealKeysDto>, ApiError> {
    let e = s.rewarder.store()?;
    Ok(Json(SealKeysDto {
        keys: vec![e.seal.trusted_entry()],
        ml_dsa_keys: e
            .pq_seal
            .iter()
            .map(|k| k.verifying_key().trusted_entry())
            .collect(),
    }))
}

/// The rewarder's routes (mounted inside the one stack by
/// [`crate::stack::app`]).
pub fn routes() -> axum::Router<Arc<AppState>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/v1/blobs", post(post_blob))
        .route("/v1/blobs/{cid}", get(get_blob))
        .route("/v1/rewarder/keys", get(seal_keys))
        .route("/v1/rewarder/policies", post(post_policy))
        .route("/v1/rewarder/policies/{cid}", get(get_policy))
        .route("/v1/rewarder/epochs/{epoch}", get(get_epoch))
        .route("/v1/rewarder/epochs/{epoch}/compute", post(compute_epoch))
        .route(
            "/v1/rewarder/epochs/{epoch}/payouts/{account}",
            get(get_payout),
        )
        .route("/v1/rewarder/epochs/{epoch}/settle", post(settle))
        .route("/v1/rewarder/epochs/{epoch}/settlement", get(settlement))
}

/// The path the blob route takes its own cap on.
pub const BLOBS_PATH: &str = "/v1/blobs";

// -------------------------------------------------------- operator page --

/// The largest quarantine record the operator page reads, bytes (an
/// unsigned manifest and a reason: small).
const QUARANTINE_SUMMARY_MAX: u64 = 1 << 20;

/// What the operator page ([`crate::ui`]) shows of the rewarder's store:
/// the chain's head and the stored runs, read from the files (the truth),
/// without decoding any accepted run but the head's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSummary {
    /// Whether `REWARD_TRUSTED_KEYS` names policy signers (without, no
    /// policy is accepted, so no epoch can run).
    pub trusted_keys: bool,
    /// The epoch of the latest accepted run (the chain's head).
    pub head_epoch: Option<String>,
    /// Accepted runs stored.
    pub accepted_runs: usize,
    /// Quarantined runs stored.
    pub quarantined_runs: usize,
    /// The epochs of at most the `max` quarantined runs read (in file
    /// order, not by time: the store keeps no time).
    pub quarantined_epochs: Vec<String>,
    /// The most recent epochs, newest first (at most
    /// [`RECENT_EPOCHS_MAX`]; `rewarder/recent.rs`).
    pub recent: Vec<RecentEpoch>,
}

impl Rewarder {
    /// The store's summary for the operator page; `None` in PostgreSQL
    /// mode (no run store). Blocking (file reads).
    ///
    /// # Errors
    /// [`StoreError`] when the head cannot be read.
    pub fn summary(&self, max: usize) -> Option<Result<StoreSummary, StoreError>> {
        match &self.ready.as_ref()?.store {
            Store::Files { dir, .. } => {
                Some(summary_of(dir, self.config.trusted_keys.is_some(), max))
            }
            #[cfg(feature = "postgres")]
            Store::Pg(_) => None,
        }
    }
}

impl Rewarder {
    /// The store's summary for the operator page in PostgreSQL mode (by
    /// query); `None` in the other modes ([`Rewarder::summary`] reads the
    /// files there) or without a store.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot be read.
    pub async fn pg_summary(&self, max: usize) -> Option<Result<StoreSummary, StoreError>> {
        #[cfg(not(feature = "postgres"))]
        let _ = max;
        match &self.ready.as_ref()?.store {
            Store::Files { .. } => None,
            #[cfg(feature = "postgres")]
            Store::Pg(pg) => Some(
                async {
                    let (head_epoch, accepted_runs, quarantined_runs, quarantined_epochs) =
                        pg.summary(max).await?;
                    Ok::<_, StoreError>(StoreSummary {
                        trusted_keys: self.config.trusted_keys.is_some(),
                        head_epoch,
                        accepted_runs,
                        quarantined_runs,
                        quarantined_epochs,
                        recent: pg.recent(RECENT_EPOCHS_MAX).await?,
                    })
                }
                .await,
            ),
        }
    }
}

fn summary_of(dir: &Vault, trusted_keys: bool, max: usize) -> Result<StoreSummary, StoreError> {
    let head_epoch = read_head(dir)?.map(|h| h.epoch.to_string());
    let quarantined = dir.list("quarantine");
    let quarantined_epochs = quarantined
        .iter()
        .take(max)
        .filter_map(|name| {
            let bytes = dir
                .read(&format!("quarantine/{name}"), QUARANTINE_SUMMARY_MAX)
                .ok()??;
            let q: StoredQuarantine = serde_json::from_slice(&bytes).ok()?;
            Some(q.epoch.to_string())
        })
        .collect();
    Ok(StoreSummary {
        trusted_keys,
        head_epoch,
        accepted_runs: dir.list("runs").len(),
        quarantined_runs: quarantined.len(),
        quarantined_epochs,
        recent: recent::files_recent(dir)?,
    })
}
