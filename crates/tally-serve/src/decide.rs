//! Decisions and their audit log (embedded mode).
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
//! On PostgreSQL the decision log has no shared home yet: every route here
//! answers `DEPENDENCY_UNAVAILABLE` naming the missing feature.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tally_audit::{
    AuditError, AuditLog, ConsistencyProof, Durability, InclusionProof, Keyring, LogOptions,
    NoteVerifier, SignedCheckpoint,
};
use tally_decide::{Decision, DecisionRecord, Digest, Policy, PolicyResolver, Request};

use crate::embedded::OpenError;
use crate::error::{ApiError, Code, Reason};

/// The decision log's file in the data directory.
pub const LOG_FILE: &str = "decisions.jsonl";
/// Its checkpoint signing key (0600).
pub const SKEY: &str = "decisions.skey";
/// Its checkpoint verifier key (0644): give it to auditors.
pub const VKEY: &str = "decisions.vkey";
/// The log's origin (the checkpoint key's name).
pub const LOG_ORIGIN: &str = "tally-serve/decisions";
/// The stored policies' directory.
pub const POLICIES_DIR: &str = "decide-policies";
/// The most policies a server stores.
pub const POLICIES_MAX: usize = 1_024;
/// The owner record's kind.
pub const OWNER_KIND: &str = "tally/serve/decision-owner/v1";
/// A decision's hold: the default timeout, seconds.
pub const HOLD_DEFAULT_S: u32 = 300;
/// A decision's hold: the longest timeout, seconds (one day).
pub const HOLD_MAX_S: u32 = 86_400;

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
    log: AuditLog,
    vkey: NoteVerifier,
    policies: RwLock<Policies>,
    /// Where policies are stored; `None` in memory (amnesia).
    dir: Option<PathBuf>,
    /// The last checkpoint this process signed (serializes signing).
    latest: tokio::sync::Mutex<Option<SignedCheckpoint>>,
    /// Serializes stores (so that the count bound holds exactly).
    storing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decisions")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Why a decision route cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// The log failed (I/O, poisoned).
    Unavailable,
    /// The proof index is being built.
    Indexing,
    /// No such record (or checkpoint).
    NotFound,
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
    }
}

/// The answer of every decision route on PostgreSQL.
#[must_use]
pub const fn unsupported() -> ApiError {
    ApiError::new(
        Code::DependencyUnavailable,
        "decisions and the audit log need embedded storage: this server runs on PostgreSQL, where the decision log is not available yet",
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

impl Decisions {
    /// Opens (or creates) the decision log and the policy store in `dir`,
    /// and indexes the log's records for proofs on a thread of its own.
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
        let log = if path.exists() {
            AuditLog::open(&path, opts.trust_checkpoint_prefix(true))
                .map_err(|e| open_fail(&path, &e))?
                .0
        } else {
            AuditLog::create(&path, opts).map_err(|e| open_fail(&path, &e))?
        };
        Self::with_log(log, vkey, dir)
    }

    /// As [`Decisions::open`] over a log opened elsewhere (tests put it on
    /// a simulated disk with faults; it must keep a proof index) whose
    /// checkpoints `vkey` checks; the policies are `dir`'s.
    ///
    /// # Errors
    /// As [`Decisions::open`].
    pub fn with_log(log: AuditLog, vkey: NoteVerifier, dir: &Path) -> Result<Self, OpenError> {
        let pdir = dir.join(POLICIES_DIR);
        if !pdir.exists() {
            tally_files::private::create_dir(&pdir)?;
        }
        let policies = load_policies(&pdir)?;
        Self::assemble(log, vkey, policies, Some(pdir), &dir.join(LOG_FILE))
    }

    /// Amnesia: the decision log in memory only, signed by a key made in
    /// memory (its verifier is [`Decisions::verifier`]), the policies held
    /// in memory; nothing is read or written on disk.
    ///
    /// # Errors
    /// [`OpenError`] when the key or the log cannot be made.
    pub fn in_memory() -> Result<Self, OpenError> {
        let (log, vkey) = crate::embedded::memory_log(LOG_ORIGIN)?;
        Self::assemble(log, vkey, Policies::default(), None, Path::new("<memory>"))
    }

    fn assemble(
        log: AuditLog,
        vkey: NoteVerifier,
        policies: Policies,
        dir: Option<PathBuf>,
        path: &Path,
    ) -> Result<Self, OpenError> {
        log.spawn_index_prefix(|outcome| {
            if let Err(e) = outcome {
                tracing::error!(error = %e, "the decision log's proof index was not built");
            }
        })
        .map_err(|e| open_fail(path, &e))?;
        Ok(Self {
            log,
            vkey,
            policies: RwLock::new(policies),
            dir,
            latest: tokio::sync::Mutex::new(None),
            storing: tokio::sync::Mutex::new(()),
        })
    }

    /// The checkpoint verifier key.
    #[must_use]
    pub fn verifier(&self) -> &NoteVerifier {
        &self.vkey
    }

    /// Whether the log is poisoned (a failed write or sync).
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        self.log.is_poisoned()
    }

    /// The policy of `digest`, if stored.
    #[must_use]
    pub fn policy(&self, digest: &Digest) -> Option<Arc<Policy>> {
        self.policies.read().ok()?.0.get(digest).cloned()
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
        if let Some(dir) = &self.dir {
            let path = policy_file(dir, &digest);
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

    /// Appends a decision and its owner record as one batch (contiguous, in
    /// one group commit); returns the decision record's sequence once both
    /// are durable.
    ///
    /// # Errors
    /// [`Fail::Unavailable`] when the decision does not replay (it always
    /// does: the kernel made it) or the append fails.
    pub async fn append(
        &self,
        policy: &Policy,
        request: &Request,
        decision: &Decision,
        owner: u128,
    ) -> Result<u64, Fail> {
        let record =
            DecisionRecord::new(policy, request, decision).map_err(|_| Fail::Unavailable)?;
        let owner_record = owner_payload(owner);
        let ticket = self
            .log
            .submit_batch(&[record.to_payload(), owner_record])
            .map_err(|e| {
                tracing::error!(error = %e, "a decision append failed");
                Fail::Unavailable
            })?;
        let receipts = ticket.await.map_err(|e| {
            tracing::error!(error = %e, "a decision append was not made durable");
            Fail::Unavailable
        })?;
        receipts.first().map(|r| r.seq).ok_or(Fail::Unavailable)
    }

    /// The latest signed checkpoint: a new one is signed (and made durable)
    /// when records were added after the last one this process knows.
    ///
    /// # Errors
    /// [`Fail::Unavailable`].
    pub async fn checkpoint(&self) -> Result<SignedCheckpoint, Fail> {
        self.checkpoint_covering(0).await
    }

    /// As [`Decisions::checkpoint`], of at least `size` records.
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

    /// The inclusion proof of record `seq` under a signed checkpoint (one is
    /// signed when the last does not cover the record).
    ///
    /// # Errors
    /// [`Fail::NotFound`] past the end of the log, [`Fail::Indexing`],
    /// [`Fail::Unavailable`].
    pub async fn prove(&self, seq: u64) -> Result<InclusionProof, Fail> {
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

    /// Record `seq` proven and checked against the verifier key: its
    /// payload and its proof.
    ///
    /// # Errors
    /// As [`Decisions::prove`].
    pub async fn proven(&self, seq: u64) -> Result<(Vec<u8>, InclusionProof), Fail> {
        let proof = self.prove(seq).await?;
        let proven = proof.verify(&self.vkey, &Keyring::new()).map_err(|e| {
            tracing::error!(error = %e, "a decision log proof does not verify");
            Fail::Unavailable
        })?;
        Ok((proven.record.payload, proof))
    }

    /// The decision record at `seq` (replayed against its stored policy),
    /// with its payload, its owner tag and its proof.
    ///
    /// # Errors
    /// [`Fail::NotFound`] when record `seq` is not a decision.
    pub async fn decision(&self, seq: u64) -> Result<ProvenDecision, Fail> {
        let (payload, proof) = self.proven(seq).await?;
        let record = {
            let policies = self.policies.read().map_err(|_| Fail::Unavailable)?;
            tally_decide::replay_record(&payload, &*policies).map_err(|_| Fail::NotFound)?
        };
        let next = seq.checked_add(1).ok_or(Fail::NotFound)?;
        let (owner, _) = self.proven(next).await?;
        let owner = parse_owner(&owner).ok_or(Fail::NotFound)?;
        Ok(ProvenDecision {
            record,
            payload,
            owner,
            proof,
        })
    }

    /// The consistency proof between the checkpoints of `old` and `new`
    /// records.
    ///
    /// # Errors
    /// [`Fail::NotFound`] when a size is not a durable checkpoint's,
    /// [`Fail::Indexing`], [`Fail::Unavailable`].
    pub async fn consistency(&self, old: u64, new: u64) -> Result<ConsistencyProof, Fail> {
        if new >= self.log.durable_len() {
            return Err(Fail::NotFound);
        }
        if !self.log.proofs_ready() {
            return Err(Fail::Indexing);
        }
        let log = self.log.clone();
        match tokio::task::spawn_blocking(move || log.prove_consistency(old, new)).await {
            Ok(Ok(p)) => Ok(p),
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
    /// Its inclusion proof.
    pub proof: InclusionProof,
}

/// Why a policy was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyStoreError {
    /// [`POLICIES_MAX`] are stored.
    Full,
    /// The store failed.
    Unavailable,
}

fn owner_payload(owner: u128) -> Vec<u8> {
    format!(
        "{{\"kind\":\"{OWNER_KIND}\",\"owner\":\"{}\"}}",
        tally_encoding::hex::encode(&owner.to_be_bytes())
    )
    .into_bytes()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerRecord {
    kind: String,
    owner: String,
}

fn parse_owner(payload: &[u8]) -> Option<u128> {
    let r: OwnerRecord = serde_json::from_slice(payload).ok()?;
    if r.kind != OWNER_KIND || r.owner.len() != 32 {
        return None;
    }
    let bytes: [u8; 16] =
        tally_encoding::hex::decode_array(&r.owner, tally_encoding::hex::Case::Lower).ok()?;
    Some(u128::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Amnesia's decision log: each one signs under a key of its own made
    /// in memory, so a proof of one log verifies under its key and never
    /// under another process's (no key is reused or read from anywhere).
    #[test]
    fn in_memory_logs_sign_under_keys_of_their_own() {
        let a = Decisions::in_memory().unwrap();
        let b = Decisions::in_memory().unwrap();
        assert_ne!(a.verifier().to_vkey(), b.verifier().to_vkey());
        assert!(a.dir.is_none() && b.dir.is_none());
        let seq = a.log.append(br#"{"a":"decision"}"#).unwrap().seq;
        a.log.checkpoint().unwrap();
        for _ in 0..1_000 {
            if a.log.proofs_ready() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let proof = a.log.prove(seq).unwrap();
        let proven = proof.verify(a.verifier(), &Keyring::new()).unwrap();
        assert_eq!(proven.record.payload, br#"{"a":"decision"}"#);
        assert!(proof.verify(b.verifier(), &Keyring::new()).is_err());
    }

    #[test]
    fn owner_records_round_trip_and_refuse_other_kinds() {
        let tag = 0x84ab_cdef_u128 << 100 | 7;
        assert_eq!(parse_owner(&owner_payload(tag)), Some(tag));
        assert_eq!(parse_owner(br#"{"kind":"x","owner":"00"}"#), None);
        assert_eq!(parse_owner(b"{}"), None);
    }
}
