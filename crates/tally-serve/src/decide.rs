//! Decisions and their audit log: files (embedded mode), memory (amnesia) or
//! PostgreSQL.
//!
//! * Policies (tally-decide) are stored by content: `POST
//!   /v1/decide/policies` (admin) checks a policy document and keeps it under
//!   its policy digest (`<data>/decide-policies/<digest>.json`, written
//!   atomically, 0600; at most [`POLICIES_MAX`]); they are read back at start
//!   and a file whose bytes do not have the digest its name says stops the
//!   start. A policy is never replaced or removed, so every record in the log
//!   keeps the policy that decided it.
//! * `POST /v1/decisions` decides a request under a stored policy, optionally
//!   reserves the chosen candidate's cost on the caller tenant's budget
//!   ([`crate::budget`]), and appends the audited record to the server's
//!   decision log (`<data>/decisions.jsonl`, tally-audit, group commit, a
//!   proof index; checkpoints signed by a key of its own,
//!   `<data>/decisions.skey`, public key `decisions.vkey`, origin
//!   [`LOG_ORIGIN`]). All or nothing: the reservation is made first and a
//!   refused one appends nothing; an append that fails releases a hold this
//!   request made (a hold that existed before, under the same reservation
//!   id, is left alone). A crash between the two leaves a hold that its
//!   timeout releases (a decision's hold always has one), or that a retry
//!   with the same `Idempotency-Key` finds (`exists`) and completes.
//! * Each decision is two contiguous records of one batch: the decision
//!   record (tally-decide's canonical payload, replayable by
//!   `tally_decide::audited::replay_log`) and an owner record
//!   (`{"kind":"tally/serve/decision-owner/v1","owner":…}`, the tenant's
//!   owner tag of [`crate::tenancy`], which replay skips). A token with
//!   `decide.run` reads only its tenant's decisions (others answer 404, as
//!   an unknown sequence); `audit.read` reads every record.
//! * Audit routes (`audit.read`): the latest signed checkpoint (a new one is
//!   signed only when records were added after the last), a record's
//!   inclusion proof, and a consistency proof between two checkpoints, all
//!   in tally-audit's proof-file forms (`tally audit verify-proof`,
//!   `tally audit consistency verify`).
//!
//! In amnesia (`--amnesia`) the log lives in memory only (the same
//! in-memory log file as the ledger's journal, [`Decisions::in_memory`]),
//! its checkpoints signed by a key made in memory whose verifier the
//! server hands out at start (`Running::decisions_vkey`; `tally serve
//! --amnesia` prints it), and the stored policies are held in memory: the
//! routes work the same, nothing is written, and everything dies with the
//! process.
//!
//! * Retries: the owner record also holds the request's identity (a hash
//!   of the tenant, the `Idempotency-Key` and the request's fingerprint,
//!   [`crate::stack::request_identity`]), and an index of identity →
//!   decision is kept (embedded: in memory, rebuilt from the log at open on
//!   a thread of its own; PostgreSQL: a unique column checked in the
//!   append's transaction). A retry of a decision that was appended but
//!   never answered (a crash in between, its idempotency record lost)
//!   answers the first decision's sequence and appends nothing.
//!
//! On PostgreSQL ([`pg`], feature `postgres`) the log is one set of tables
//! shared by every process: rows bound by a hash chain, appends serialised
//! by a head row, each process's proof index extended from the table, and
//! checkpoints signed with one key shared through the keys directory
//! ([`PG_SKEY`]) whose verifier the database records; proofs have their own
//! format ([`pg_proof`]), checked offline with that verifier.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tally_audit::{
    AuditError, AuditLog, Checkpoint, Durability, Keyring, LogOptions, NoteVerifier, RecordKind,
    SignedCheckpoint, VerifiedReader, VerifyOptions,
};
use tally_decide::{Decision, DecisionRecord, Digest, Policy, PolicyResolver, Request};

use crate::embedded::OpenError;
use crate::error::{ApiError, Code, Reason};

#[cfg(feature = "postgres")]
pub mod pg;
pub mod pg_proof;

/// The decision log's file in the data directory.
pub const LOG_FILE: &str = "decisions.jsonl";
/// Its checkpoint signing key (0600).
pub const SKEY: &str = "decisions.skey";
/// Its checkpoint verifier key (0644): give it to auditors.
pub const VKEY: &str = "decisions.vkey";
/// The log's origin (the checkpoint key's name).
pub const LOG_ORIGIN: &str = "tally-serve/decisions";
/// On PostgreSQL: the checkpoint signing key in the keys directory every
/// process shares (0600).
pub const PG_SKEY: &str = "decisions-checkpoint.skey";
/// On PostgreSQL: its verifier key (0644), beside it.
pub const PG_VKEY: &str = "decisions-checkpoint.vkey";
/// On PostgreSQL: the checkpoint key's name.
pub const PG_KEY_NAME: &str = "tally-serve/decisions-pg";
/// The stored policies' directory.
pub const POLICIES_DIR: &str = "decide-policies";
/// The most policies a server stores.
pub const POLICIES_MAX: usize = 1_024;
/// The owner record's kind (no request identity).
pub const OWNER_KIND: &str = "tally/serve/decision-owner/v1";
/// The owner record's kind with the request's identity.
pub const OWNER_KIND_V2: &str = "tally/serve/decision-owner/v2";
/// A decision's hold: the default timeout, seconds.
pub const HOLD_DEFAULT_S: u32 = 300;
/// A decision's hold: the longest timeout, seconds (one day).
pub const HOLD_MAX_S: u32 = 86_400;
/// The longest a decision waits for the request index to be rebuilt after
/// a start (then `DEPENDENCY_UNAVAILABLE`, retry later).
const REQUESTS_WAIT: Duration = Duration::from_secs(5);

/// A request's identity (32 bytes).
pub type RequestId = [u8; 32];

/// The stored policies, by digest.
#[derive(Debug, Default)]
struct Policies(BTreeMap<Digest, Arc<Policy>>);

impl PolicyResolver for Policies {
    fn resolve(&self, digest: &Digest) -> Option<&Policy> {
        self.0.get(digest).map(AsRef::as_ref)
    }
}

/// The decision log and the stored policies.
pub struct Decisions {
    store: Store,
    /// The policies known to this process (all of them embedded; a cache
    /// of the database's on PostgreSQL).
    policies: RwLock<Policies>,
    /// Serializes stores (so that the count bound holds exactly).
    storing: tokio::sync::Mutex<()>,
}

enum Store {
    File(Box<FileLog>),
    #[cfg(feature = "postgres")]
    Pg(Box<pg::PgLog>),
}

/// The embedded log: a tally-audit file (or memory).
struct FileLog {
    log: AuditLog,
    vkey: NoteVerifier,
    /// Where policies are stored; `None` in memory (amnesia).
    dir: Option<PathBuf>,
    /// The last checkpoint this process signed (serializes signing).
    latest: tokio::sync::Mutex<Option<SignedCheckpoint>>,
    requests: Arc<Requests>,
}

/// Request identity → decision sequence (embedded mode).
#[derive(Default)]
struct RequestMap {
    done: HashMap<RequestId, u64>,
    pending: HashSet<RequestId>,
}

struct Requests {
    map: Mutex<RequestMap>,
    /// Whether the identities of the records present at open are indexed.
    ready: tokio::sync::watch::Sender<bool>,
}

impl Requests {
    fn new(ready: bool) -> Arc<Self> {
        Arc::new(Self {
            map: Mutex::new(RequestMap::default()),
            ready: tokio::sync::watch::Sender::new(ready),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RequestMap> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An identity being appended; released when dropped.
struct Pending<'a>(&'a Requests, RequestId);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.lock().pending.remove(&self.1);
    }
}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.store {
            Store::File(_) => "file",
            #[cfg(feature = "postgres")]
            Store::Pg(_) => "postgres",
        };
        f.debug_struct("Decisions")
            .field("store", &kind)
            .finish_non_exhaustive()
    }
}

/// Why a decision route cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// The log failed (I/O, poisoned, the database).
    Unavailable,
    /// The proof index (or the request index) is being built.
    Indexing,
    /// No such record (or checkpoint).
    NotFound,
    /// A request with the same identity is being appended.
    InFlight,
    /// The stored log does not verify (a row or checkpoint changed).
    Tampered,
}

/// The error answer of a [`Fail`].
#[must_use]
pub fn fail_error(f: Fail) -> ApiError {
    match f {
        Fail::Unavailable => ApiError::dependency(),
        Fail::Indexing => ApiError::new(
            Code::DependencyUnavailable,
            "the decision log's proof index is being built; retry later",
            Reason::Dependency,
        )
        .retry_after(1),
        Fail::NotFound => ApiError::not_found(),
        Fail::InFlight => ApiError::new(
            Code::Conflict,
            "a request with this Idempotency-Key is still in flight",
            Reason::Idempotency,
        )
        .retry_after(1),
        Fail::Tampered => ApiError::internal(),
    }
}

/// The answer of every decision route of a process whose checkpoint key
/// is not the one the PostgreSQL database records.
#[must_use]
pub const fn other_key() -> ApiError {
    ApiError::new(
        Code::DependencyUnavailable,
        "the decision log's checkpoint key in the database is not this process's (decisions-checkpoint.skey): this process serves no decision route",
        Reason::Dependency,
    )
}

fn open_fail(path: &Path, e: &dyn std::fmt::Display) -> OpenError {
    OpenError::Journal {
        path: path.to_path_buf(),
        what: e.to_string(),
    }
}

fn policy_file(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join(format!("{digest}.json"))
}

fn load_policies(dir: &Path) -> Result<Policies, OpenError> {
    let mut out = Policies::default();
    let entries = std::fs::read_dir(dir).map_err(|e| open_fail(dir, &e))?;
    for entry in entries {
        let path = entry.map_err(|e| open_fail(dir, &e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(hex) = name.strip_suffix(".json") else {
            // A temporary file of an interrupted atomic write.
            continue;
        };
        if out.0.len() >= POLICIES_MAX {
            return Err(open_fail(&path, &"more stored policies than POLICIES_MAX"));
        }
        let named = Digest::from_hex(hex).map_err(|e| open_fail(&path, &e))?;
        let bytes = tally_files::read_bounded(&path, tally_decide::MAX_POLICY_JSON_BYTES as u64)?;
        let policy = Policy::from_json(&bytes).map_err(|e| open_fail(&path, &e))?;
        if policy.digest() != named {
            return Err(open_fail(
                &path,
                &"the policy's digest is not its file name",
            ));
        }
        out.0.insert(named, Arc::new(policy));
    }
    Ok(out)
}

/// A signed checkpoint as served: the checkpoint and its note.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The signed note.
    pub note: String,
}

/// Reads the request identities of the owner records among the first
/// `len` records of the log file (the records there at open).
fn index_requests(path: &Path, vkey: &NoteVerifier, len: u64, requests: &Requests) -> bool {
    if len == 0 {
        return true;
    }
    let opts = VerifyOptions::new().checkpoint_key(vkey.clone());
    let Ok(mut reader) = VerifiedReader::open(path, &opts) else {
        return false;
    };
    loop {
        match reader.next_record() {
            Ok(Some(r)) => {
                if r.kind == RecordKind::Data
                    && let Some((_, Some(id))) = parse_owner(r.payload)
                    && let Some(decision) = r.seq.checked_sub(1)
                {
                    requests.lock().done.insert(id, decision);
                }
                if r.seq.saturating_add(1) >= len {
                    return true;
                }
            }
            Ok(None) => return true,
            Err(e) => {
                tracing::error!(error = %e, "the decision log's requests were not indexed");
                return false;
            }
        }
    }
}

impl Decisions {
    /// Opens (or creates) the decision log and the policy store in `dir`,
    /// and indexes the log's records for proofs (and their request
    /// identities) on threads of their own.
    ///
    /// # Errors
    /// [`OpenError`] when a file cannot be read or does not verify.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let signer = crate::embedded::load_signer(dir, SKEY, VKEY, LOG_ORIGIN)?;
        let vkey = signer.verifier();
        let path = dir.join(LOG_FILE);
        let opts = LogOptions::new()
            .durability(Durability::Batch)
            .checkpoint_on_close(true)
            .proof_index(true)
            .signer(signer);
        if !path.exists() {
            let log = AuditLog::create(&path, opts).map_err(|e| open_fail(&path, &e))?;
            return Self::with_log(log, vkey, dir);
        }
        let log = AuditLog::open(&path, opts.trust_checkpoint_prefix(true))
            .map_err(|e| open_fail(&path, &e))?
            .0;
        let requests = Requests::new(false);
        let len = log.len();
        let (r, v, p) = (Arc::clone(&requests), vkey.clone(), path.clone());
        std::thread::Builder::new()
            .name("tally-serve-decision-requests".to_owned())
            .spawn(move || {
                if index_requests(&p, &v, len, &r) {
                    r.ready.send_replace(true);
                }
            })
            .map_err(|e| open_fail(&path, &e))?;
        Self::with_requests(log, vkey, dir, requests)
    }

    /// As [`Decisions::open`] over a new log opened elsewhere (tests put it
    /// on a simulated disk with faults; it must keep a proof index) whose
    /// checkpoints `vkey` checks; the policies are `dir`'s.
    ///
    /// # Errors
    /// As [`Decisions::open`].
    pub fn with_log(log: AuditLog, vkey: NoteVerifier, dir: &Path) -> Result<Self, OpenError> {
        Self::with_requests(log, vkey, dir, Requests::new(true))
    }

    fn with_requests(
        log: AuditLog,
        vkey: NoteVerifier,
        dir: &Path,
        requests: Arc<Requests>,
    ) -> Result<Self, OpenError> {
        let pdir = dir.join(POLICIES_DIR);
        if !pdir.exists() {
            tally_files::private::create_dir(&pdir)?;
        }
        let policies = load_policies(&pdir)?;
        let path = dir.join(LOG_FILE);
        Self::assemble(log, vkey, policies, Some(pdir), &path, requests)
    }

    /// Amnesia: the decision log in memory only, signed by a key made in
    /// memory (its verifier is [`Decisions::verifier`]), the policies held
    /// in memory; nothing is read or written on disk.
    ///
    /// # Errors
    /// [`OpenError`] when the key or the log cannot be made.
    pub fn in_memory() -> Result<Self, OpenError> {
        let (log, vkey) = crate::embedded::memory_log(LOG_ORIGIN)?;
        let path = Path::new("<memory>");
        Self::assemble(
            log,
            vkey,
            Policies::default(),
            None,
            path,
            Requests::new(true),
        )
    }

    fn assemble(
        log: AuditLog,
        vkey: NoteVerifier,
        policies: Policies,
        dir: Option<PathBuf>,
        path: &Path,
        requests: Arc<Requests>,
    ) -> Result<Self, OpenError> {
        log.spawn_index_prefix(|outcome| {
            if let Err(e) = outcome {
                tracing::error!(error = %e, "the decision log's proof index was not built");
            }
        })
        .map_err(|e| open_fail(path, &e))?;
        Ok(Self {
            store: Store::File(Box::new(FileLog {
                log,
                vkey,
                dir,
                latest: tokio::sync::Mutex::new(None),
                requests,
            })),
            policies: RwLock::new(policies),
            storing: tokio::sync::Mutex::new(()),
        })
    }

    /// The decision log on PostgreSQL, shared by every process over the
    /// database (`pool`), signed by `signer` (the keys directory's
    /// [`PG_SKEY`]); `Ok(None)` when the database records another
    /// checkpoint key (this process then serves no decision route).
    ///
    /// # Errors
    /// [`pg::PgOpenError`].
    #[cfg(feature = "postgres")]
    pub async fn open_pg(
        pool: sqlx::PgPool,
        signer: tally_audit::CheckpointSigner,
    ) -> Result<Option<Self>, pg::PgOpenError> {
        Ok(match pg::PgLog::open(pool, signer).await? {
            pg::Opened::Log(log) => Some(Self {
                store: Store::Pg(log),
                policies: RwLock::new(Policies::default()),
                storing: tokio::sync::Mutex::new(()),
            }),
            pg::Opened::OtherKey => None,
        })
    }

    /// The checkpoint verifier key.
    #[must_use]
    pub fn verifier(&self) -> &NoteVerifier {
        match &self.store {
            Store::File(f) => &f.vkey,
            #[cfg(feature = "postgres")]
            Store::Pg(p) => p.verifier(),
        }
    }

    /// Whether the log is poisoned (a failed write or sync; never on
    /// PostgreSQL, whose outages `/readyz` reports on its own).
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        match &self.store {
            Store::File(f) => f.log.is_poisoned(),
            #[cfg(feature = "postgres")]
            Store::Pg(_) => false,
        }
    }

    fn cached(&self, digest: &Digest) -> Result<Option<Arc<Policy>>, Fail> {
        Ok(self
            .policies
            .read()
            .map_err(|_| Fail::Unavailable)?
            .0
            .get(digest)
            .cloned())
    }

    /// The policy of `digest`, if stored (on PostgreSQL read once from the
    /// database, checked against its digest, then cached).
    ///
    /// # Errors
    /// [`Fail::Unavailable`]; [`Fail::Tampered`] when a stored policy is
    /// not the document of its digest.
    pub async fn policy(&self, digest: &Digest) -> Result<Option<Arc<Policy>>, Fail> {
        if let Some(p) = self.cached(digest)? {
            return Ok(Some(p));
        }
        match &self.store {
            Store::File(_) => Ok(None),
            #[cfg(feature = "postgres")]
            Store::Pg(pg) => {
                let Some(bytes) = pg.policy(&digest.to_string()).await? else {
                    return Ok(None);
                };
                let policy = Policy::from_json(&bytes).map_err(|_| Fail::Tampered)?;
                if policy.digest() != *digest {
                    tracing::error!("a stored decision policy is not the document of its digest");
                    return Err(Fail::Tampered);
                }
                let policy = Arc::new(policy);
                let mut held = self.policies.write().map_err(|_| Fail::Unavailable)?;
                held.0.insert(*digest, Arc::clone(&policy));
                Ok(Some(policy))
            }
        }
    }

    /// Stores a policy document (already checked: `policy` is `bytes`
    /// read); `Ok(false)` when it was stored before.
    ///
    /// # Errors
    /// [`PolicyStoreError`].
    pub async fn store_policy(
        &self,
        policy: Policy,
        bytes: Vec<u8>,
    ) -> Result<(Digest, bool), PolicyStoreError> {
        let digest = policy.digest();
        let _one_at_a_time = self.storing.lock().await;
        let dir = match &self.store {
            Store::File(f) => f.dir.clone(),
            #[cfg(feature = "postgres")]
            Store::Pg(pg) => {
                let fresh = pg.store_policy(&digest.to_string(), &bytes).await?;
                return Ok((digest, fresh));
            }
        };
        {
            let held = self
                .policies
                .read()
                .map_err(|_| PolicyStoreError::Unavailable)?;
            if held.0.contains_key(&digest) {
                return Ok((digest, false));
            }
            if held.0.len() >= POLICIES_MAX {
                return Err(PolicyStoreError::Full);
            }
        }
        // In memory (amnesia) the map below is the store.
        if let Some(dir) = dir {
            let path = policy_file(&dir, &digest);
            let written = tokio::task::spawn_blocking(move || {
                // Two requests storing one policy at once: the second finds it.
                match tally_files::create_atomic(&path, &bytes, 0o600) {
                    Ok(()) => Ok(()),
                    Err(tally_files::FileError::Exists { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await;
            if !matches!(written, Ok(Ok(()))) {
                return Err(PolicyStoreError::Unavailable);
            }
        }
        let mut held = self
            .policies
            .write()
            .map_err(|_| PolicyStoreError::Unavailable)?;
        let fresh = !held.0.contains_key(&digest);
        held.0.insert(digest, Arc::new(policy));
        Ok((digest, fresh))
    }

    /// Appends a decision and its owner record (with the request's
    /// identity `request`) as one batch, contiguous; returns the decision
    /// record's sequence once both are durable, and whether they were
    /// appended now: when the log already holds an owner record of
    /// `request` (a retry of a decision whose answer was lost), nothing is
    /// appended and that decision's sequence is answered (`false`).
    ///
    /// # Errors
    /// [`Fail::Unavailable`] when the decision does not replay (it always
    /// does: the kernel made it) or the append fails; [`Fail::Indexing`]
    /// while the request index is rebuilt after a start; [`Fail::InFlight`]
    /// when the same request is being appended.
    pub async fn append(
        &self,
        policy: &Policy,
        request: &Request,
        decision: &Decision,
        owner: u128,
        id: Option<RequestId>,
    ) -> Result<(u64, bool), Fail> {
        let record =
            DecisionRecord::new(policy, request, decision).map_err(|_| Fail::Unavailable)?;
        let owner_record = owner_payload(owner, id.as_ref());
        match &self.store {
            Store::File(f) => f.append(&[record.to_payload(), owner_record], id).await,
            #[cfg(feature = "postgres")]
            Store::Pg(pg) => {
                let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| Fail::Unavailable);
                let (d, o) = (text(record.to_payload())?, text(owner_record)?);
                pg.append(&d, &o, id.as_ref()).await
            }
        }
    }

    /// The latest signed checkpoint: a new one is signed (and made durable)
    /// when records were added after the last one known.
    ///
    /// # Errors
    /// [`Fail`].
    pub async fn checkpoint(&self) -> Result<Signed, Fail> {
        match &self.store {
            Store::File(f) => {
                let cp = f.checkpoint_covering(0).await?;
                Ok(Signed {
                    checkpoint: cp.checkpoint,
                    note: cp.note,
                })
            }
            #[cfg(feature = "postgres")]
            Store::Pg(pg) => {
                let (checkpoint, note) = pg.checkpoint().await?;
                Ok(Signed { checkpoint, note })
            }
        }
    }

    /// The inclusion proof (JSON) of record `seq` under a signed checkpoint
    /// (one is signed when the last does not cover the record): a
    /// tally-audit proof file, or on PostgreSQL a
    /// [`pg_proof::PgDecisionProof`].
    ///
    /// # Errors
    /// [`Fail::NotFound`] past the end of the log, [`Fail::Indexing`],
    /// [`Fail::Unavailable`], [`Fail::Tampered`].
    pub async fn prove(&self, seq: u64) -> Result<String, Fail> {
        match &self.store {
            Store::File(f) => Ok(f.prove(seq).await?.to_json()),
            #[cfg(feature = "postgres")]
            Store::Pg(pg) => Ok(pg.prove(seq).await?.to_json()),
        }
    }

    /// Record `seq`'s payload and its proof (JSON), the proof checked
    /// against the verifier key.
    async fn proven(&self, seq: u64) -> Result<(Vec<u8>, String), Fail> {
        match &self.store {
            Store::File(f) => {
                let proof = f.prove(seq).await?;
                let proven = proof.verify(&f.vkey, &Keyring::new()).map_err(|e| {
                    tracing::error!(error = %e, "a decision log proof does not verify");
                    Fail::Tampered
                })?;
                Ok((proven.record.payload, proof.to_json()))
            }
            #[cfg(feature = "postgres")]
            Store::Pg(pg) => {
                // Checked with the verifier key before it is answered.
                let proof = pg.prove(seq).await?;
                let json = proof.to_json();
                Ok((proof.payload.into_bytes(), json))
            }
        }
    }

    /// Replays a decision record against the stored policies (on
    /// PostgreSQL a policy this process has not seen is read first).
    async fn replay(&self, payload: &[u8]) -> Result<DecisionRecord, Fail> {
        for fresh in [false, true] {
            let outcome = {
                let policies = self.policies.read().map_err(|_| Fail::Unavailable)?;
                tally_decide::replay_record(payload, &*policies)
            };
            match outcome {
                Ok(record) => return Ok(record),
                Err(tally_decide::Error::UnknownPolicy { digest }) if !fresh => {
                    if self.policy(&digest).await?.is_none() {
                        return Err(Fail::NotFound);
                    }
                }
                Err(_) => return Err(Fail::NotFound),
            }
        }
        Err(Fail::NotFound)
    }

    /// The decision record at `seq` (replayed against its stored policy),
    /// with its payload, its owner tag and its proof.
    ///
    /// # Errors
    /// [`Fail::NotFound`] when record `seq` is not a decision.
    pub async fn decision(&self, seq: u64) -> Result<ProvenDecision, Fail> {
        let (payload, proof) = self.proven(seq).await?;
        let record = self.replay(&payload).await?;
        let next = seq.checked_add(1).ok_or(Fail::NotFound)?;
        let (owner, _) = self.proven(next).await?;
        let (owner, _) = parse_owner(&owner).ok_or(Fail::NotFound)?;
        Ok(ProvenDecision {
            record,
            payload,
            owner,
            proof,
        })
    }

    /// The consistency proof (JSON) between the checkpoints of `old` and
    /// `new` records: a tally-audit consistency proof file, or on
    /// PostgreSQL a [`pg_proof::PgConsistencyProof`].
    ///
    /// # Errors
    /// [`Fail::NotFound`] when a size is not a durable checkpoint's,
    /// [`Fail::Indexing`], [`Fail::Unavailable`], [`Fail::Tampered`].
    pub async fn consistency(&self, old: u64, new: u64) -> Result<String, Fail> {
        match &self.store {
            Store::File(f) => f.consistency(old, new).await,
            #[cfg(feature = "postgres")]
            Store::Pg(pg) => Ok(pg.consistency(old, new).await?.to_json()),
        }
    }
}

impl FileLog {
    /// Claims `id` for an append: `Ok(Err(seq))` when a decision of it is
    /// in the log already.
    async fn claim(&self, id: RequestId) -> Result<Result<Pending<'_>, u64>, Fail> {
        let mut ready = self.requests.ready.subscribe();
        match tokio::time::timeout(REQUESTS_WAIT, ready.wait_for(|r| *r)).await {
            Ok(Ok(_)) => {}
            _ => return Err(Fail::Indexing),
        }
        let mut map = self.requests.lock();
        if let Some(seq) = map.done.get(&id) {
            return Ok(Err(*seq));
        }
        if !map.pending.insert(id) {
            return Err(Fail::InFlight);
        }
        Ok(Ok(Pending(&self.requests, id)))
    }

    async fn append(
        &self,
        payloads: &[Vec<u8>; 2],
        id: Option<RequestId>,
    ) -> Result<(u64, bool), Fail> {
        let _pending = match id {
            None => None,
            Some(id) => match self.claim(id).await? {
                Ok(p) => Some(p),
                Err(seq) => return Ok((seq, false)),
            },
        };
        let ticket = self.log.submit_batch(payloads).map_err(|e| {
            tracing::error!(error = %e, "a decision append failed");
            Fail::Unavailable
        })?;
        let receipts = ticket.await.map_err(|e| {
            tracing::error!(error = %e, "a decision append was not made durable");
            Fail::Unavailable
        })?;
        let seq = receipts.first().map(|r| r.seq).ok_or(Fail::Unavailable)?;
        if let Some(id) = id {
            self.requests.lock().done.insert(id, seq);
        }
        Ok((seq, true))
    }

    /// The latest checkpoint of at least `size` records.
    async fn checkpoint_covering(&self, size: u64) -> Result<SignedCheckpoint, Fail> {
        let mut latest = self.latest.lock().await;
        let len = self.log.len();
        if let Some(cp) = latest.as_ref() {
            // Record `cp.seq` is the checkpoint itself (of `cp.seq`
            // records): it is the latest when nothing follows it.
            if cp.seq.checked_add(1) == Some(len) && cp.seq >= size {
                return Ok(cp.clone());
            }
        }
        let log = self.log.clone();
        let cp = tokio::task::spawn_blocking(move || log.checkpoint())
            .await
            .map_err(|_| Fail::Unavailable)?
            .map_err(|e| {
                tracing::error!(error = %e, "the decision log could not sign a checkpoint");
                Fail::Unavailable
            })?;
        *latest = Some(cp.clone());
        Ok(cp)
    }

    async fn prove(&self, seq: u64) -> Result<tally_audit::InclusionProof, Fail> {
        if seq >= self.log.durable_len() {
            return Err(Fail::NotFound);
        }
        if !self.log.proofs_ready() {
            return Err(Fail::Indexing);
        }
        for fresh in [false, true] {
            if fresh {
                self.checkpoint_covering(seq.saturating_add(1)).await?;
            }
            let log = self.log.clone();
            let proof = tokio::task::spawn_blocking(move || log.prove(seq))
                .await
                .map_err(|_| Fail::Unavailable)?;
            match proof {
                Ok(p) => return Ok(p),
                Err(AuditError::OutOfRange { .. }) if !fresh => {}
                Err(e) => {
                    tracing::error!(error = %e, "a decision log proof failed");
                    return Err(Fail::Unavailable);
                }
            }
        }
        Err(Fail::Unavailable)
    }

    async fn consistency(&self, old: u64, new: u64) -> Result<String, Fail> {
        if new >= self.log.durable_len() {
            return Err(Fail::NotFound);
        }
        if !self.log.proofs_ready() {
            return Err(Fail::Indexing);
        }
        let log = self.log.clone();
        match tokio::task::spawn_blocking(move || log.prove_consistency(old, new)).await {
            Ok(Ok(p)) => Ok(p.to_json()),
            Ok(Err(AuditError::OutOfRange { .. })) => Err(Fail::NotFound),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a decision log consistency proof failed");
                Err(Fail::Unavailable)
            }
            Err(_) => Err(Fail::Unavailable),
        }
    }
}

/// A decision read back from the log.
#[derive(Debug)]
pub struct ProvenDecision {
    /// The record, replayed.
    pub record: DecisionRecord,
    /// Its payload as stored.
    pub payload: Vec<u8>,
    /// The owner tag of the tenant that made it.
    pub owner: u128,
    /// Its inclusion proof (JSON: a tally-audit proof file, or a
    /// [`pg_proof::PgDecisionProof`]).
    pub proof: String,
}

/// Why a policy was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyStoreError {
    /// [`POLICIES_MAX`] are stored.
    Full,
    /// The store failed.
    Unavailable,
}

fn owner_payload(owner: u128, id: Option<&RequestId>) -> Vec<u8> {
    let owner = tally_encoding::hex::encode(&owner.to_be_bytes());
    match id {
        None => format!("{{\"kind\":\"{OWNER_KIND}\",\"owner\":\"{owner}\"}}"),
        Some(id) => format!(
            "{{\"kind\":\"{OWNER_KIND_V2}\",\"owner\":\"{owner}\",\"request\":\"{}\"}}",
            tally_encoding::hex::encode(id)
        ),
    }
    .into_bytes()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerRecord {
    kind: String,
    owner: String,
    request: Option<String>,
}

/// An owner record's tag and request identity (v2 only).
fn parse_owner(payload: &[u8]) -> Option<(u128, Option<RequestId>)> {
    use tally_encoding::hex::{Case, decode_array};
    let r: OwnerRecord = serde_json::from_slice(payload).ok()?;
    let id = match (r.kind.as_str(), &r.request) {
        (OWNER_KIND, None) => None,
        (OWNER_KIND_V2, Some(id)) => Some(decode_array::<32>(id, Case::Lower).ok()?),
        _ => return None,
    };
    if r.owner.len() != 32 {
        return None;
    }
    let bytes: [u8; 16] = decode_array(&r.owner, Case::Lower).ok()?;
    Some((u128::from_be_bytes(bytes), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Amnesia's decision log: each one signs under a key of its own made
    /// in memory, so a proof of one log verifies under its key and never
    /// under another process's (no key is reused or read from anywhere).
    fn file(d: &Decisions) -> &FileLog {
        match &d.store {
            Store::File(f) => f,
            #[cfg(feature = "postgres")]
            Store::Pg(_) => panic!("not a file log"),
        }
    }

    #[test]
    fn in_memory_logs_sign_under_keys_of_their_own() {
        let a = Decisions::in_memory().unwrap();
        let b = Decisions::in_memory().unwrap();
        assert_ne!(a.verifier().to_vkey(), b.verifier().to_vkey());
        let (fa, fb) = (file(&a), file(&b));
        assert!(fa.dir.is_none() && fb.dir.is_none());
        let seq = fa.log.append(br#"{"a":"decision"}"#).unwrap().seq;
        fa.log.checkpoint().unwrap();
        for _ in 0..1_000 {
            if fa.log.proofs_ready() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let proof = fa.log.prove(seq).unwrap();
        let proven = proof.verify(a.verifier(), &Keyring::new()).unwrap();
        assert_eq!(proven.record.payload, br#"{"a":"decision"}"#);
        assert!(proof.verify(b.verifier(), &Keyring::new()).is_err());
    }

    #[test]
    fn owner_records_round_trip_and_refuse_other_kinds() {
        let tag = 0x84ab_cdef_u128 << 100 | 7;
        assert_eq!(parse_owner(&owner_payload(tag, None)), Some((tag, None)));
        let id = [9u8; 32];
        assert_eq!(
            parse_owner(&owner_payload(tag, Some(&id))),
            Some((tag, Some(id)))
        );
        assert_eq!(parse_owner(br#"{"kind":"x","owner":"00"}"#), None);
        assert_eq!(parse_owner(b"{}"), None);
        // A v1 record with a request, or a v2 one without, is no owner record.
        let v1 = String::from_utf8(owner_payload(tag, Some(&id)))
            .unwrap()
            .replace(OWNER_KIND_V2, OWNER_KIND);
        assert_eq!(parse_owner(v1.as_bytes()), None);
        let v2 = String::from_utf8(owner_payload(tag, None))
            .unwrap()
            .replace(OWNER_KIND, OWNER_KIND_V2);
        assert_eq!(parse_owner(v2.as_bytes()), None);
    }
}
