//! Forensics over a server's data directory, read-only (issue 14): the
//! rewarder's stored runs listed ([`Store::manifests`]), a run's inputs
//! and policy found for a recomputation ([`Store::run`],
//! [`Store::policy`], [`Store::inputs`]), the payouts of two runs
//! compared ([`diff_payouts`]), and the ledger searched for intents paid
//! more than once ([`count_payments`]). `tally reward manifests`,
//! `tally reward diff --data-dir` and `tally reward duplicate-intents`
//! are the shell over this module.
//!
//! **Read-only.** Nothing here creates, replaces or removes a file: the
//! store is a [`Vault`] whose files are only read (sealed files opened
//! with the same keyring as the server's, `--at-rest-key-file` and
//! `--at-rest-keyring`; a file that does not open is an error, never
//! skipped), and blobs are read without the start-up clean-up
//! [`Blobs::open`] does. It is safe to read while the server runs: every
//! file of the store is written whole and renamed into place, so a read
//! sees the old file or the new one; a run accepted during a listing may
//! be missing from it (list again). The ledger's journal is read the same
//! way by the CLI (a prefix: a record being appended is a torn tail the
//! reader stops at).
//!
//! **Duplicate payments.** Settlement transfers carry ids derived from the
//! run key, so the ledger refuses a second transfer under one id; a second
//! payment would need a second id. The service tags every settlement
//! transfer with the run's [`run_tag`] in `user_data_128`, so
//! [`count_payments`] finds every transfer of a run on the funding
//! account, under whatever id: a payment is a transfer from the run's
//! funding account, tagged with the run, to an intent's payee under the
//! intent's code (or the intent's own id); an intent with two payments is
//! a duplicate, a tagged payment that matches no intent is foreign, and an
//! intent whose id holds another transfer is a conflict. A transfer made
//! without the tag under another id is not found (nothing binds it to the
//! run); the funding account's conservation (`tally ledger verify`) is the
//! check of last resort.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tally_ledger::{Ledger as LedgerState, Transfer as LedgerTransfer, TransferFlags};
use tally_reward::Limits;
use tally_reward::cid::Cid;
use tally_reward::compute::Payout;
use tally_reward::ident::AccountId;
use tally_reward::inputs::EpochInputs;
use tally_reward::policy::SignedPolicy;
use tally_reward::registry::AcceptedRun;
use tally_reward::settle::{Transfer, run_tag};

use crate::blobs::{BLOB_MAX, BlobError, Blobs};
use crate::rewarder::{
    RUN_FILE_MAX, SMALL_FILE_MAX, SettleRecord, StoredQuarantine, policy_path, read_run_file,
};
use crate::vault::{Keyring, Vault, VaultError};

/// The most stored runs (accepted and quarantined) one listing reads.
pub const RUNS_MAX: usize = 1_000_000;
/// The most blobs searched for a run's inputs.
pub const BLOBS_SEARCHED_MAX: usize = 100_000;

/// Why the store could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ForensicsError {
    /// `<data>/rewarder` is missing: not a server's data directory.
    #[error("{0}: no rewarder store (not a `tally serve` data directory?)")]
    NoStore(PathBuf),
    /// A stored file that does not read, open or decode.
    #[error("{file}: {what}")]
    File {
        /// The file's name in the store.
        file: String,
        /// What failed.
        what: String,
    },
    /// More runs than [`RUNS_MAX`].
    #[error("more than {RUNS_MAX} stored runs")]
    TooMany,
}

fn file_error(file: &str, e: impl std::fmt::Display) -> ForensicsError {
    ForensicsError::File {
        file: file.to_owned(),
        what: e.to_string(),
    }
}

/// Where a stored run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted and sealed, not (yet) recorded as settled.
    Sealed,
    /// Accepted, and the service recorded its settlement as complete.
    Settled,
    /// Broke an invariant: stored unsigned, never settled.
    Quarantined,
}

/// One stored run, as listed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    /// The epoch.
    pub epoch: String,
    /// The run key (64 hex digits).
    pub run_key: String,
    /// The policy's content id (`null` for a quarantined run stored
    /// without a manifest).
    pub policy_hash: Option<String>,
    /// The inputs' canonical content id (likewise).
    pub inputs_cid: Option<String>,
    /// Sealed, settled or quarantined.
    pub status: Status,
    /// The manifest's content id (of the unsigned manifest for a
    /// quarantined run; `null` when it has none).
    pub manifest_cid: Option<String>,
    /// Why a quarantined run was quarantined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A server's rewarder store, read only.
#[derive(Debug)]
pub struct Store {
    vault: Arc<Vault>,
    blobs: Blobs,
}

impl Store {
    /// The store of the data directory `data_dir` (`<data>/rewarder`),
    /// sealed files opened with `keys` when given (the server's
    /// `--at-rest-key-file`, with `--at-rest-keyring`).
    ///
    /// # Errors
    /// [`ForensicsError::NoStore`].
    pub fn open(data_dir: &Path, keys: Option<Arc<Keyring>>) -> Result<Self, ForensicsError> {
        let root = data_dir.join("rewarder");
        if !root.is_dir() {
            return Err(ForensicsError::NoStore(data_dir.to_path_buf()));
        }
        let vault = Arc::new(Vault::disk(root, keys));
        let blobs = Blobs::read_only(Arc::clone(&vault), BLOB_MAX);
        Ok(Self { vault, blobs })
    }

    fn read(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>, ForensicsError> {
        self.vault.read(rel, max).map_err(|e| file_error(rel, e))
    }

    /// Every accepted run, in no particular order.
    ///
    /// # Errors
    /// [`ForensicsError`]: a run file that does not open or decode.
    pub fn runs(&self) -> Result<Vec<AcceptedRun>, ForensicsError> {
        let names = self.vault.list("runs");
        if names.len() > RUNS_MAX {
            return Err(ForensicsError::TooMany);
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let rel = format!("runs/{name}");
            if let Some(run) =
                read_run_file(&self.vault, &rel).map_err(|e| file_error(&rel, e.reason))?
            {
                out.push(run);
            }
        }
        Ok(out)
    }

    /// The accepted run of `run_key` (64 hex digits), if stored.
    ///
    /// # Errors
    /// As [`Store::runs`].
    pub fn run(&self, run_key: &str) -> Result<Option<AcceptedRun>, ForensicsError> {
        Ok(self
            .runs()?
            .into_iter()
            .find(|r| r.sealed.manifest.run_key.to_string() == run_key))
    }

    fn quarantined(&self) -> Result<Vec<StoredQuarantine>, ForensicsError> {
        let names = self.vault.list("quarantine");
        if names.len() > RUNS_MAX {
            return Err(ForensicsError::TooMany);
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let rel = format!("quarantine/{name}");
            if let Some(bytes) = self.read(&rel, RUN_FILE_MAX)? {
                out.push(serde_json::from_slice(&bytes).map_err(|e| file_error(&rel, e))?);
            }
        }
        Ok(out)
    }

    fn settled(&self, run_key: &str) -> Result<bool, ForensicsError> {
        let rel = format!("settle/{run_key}");
        match self.read(&rel, SMALL_FILE_MAX)? {
            Some(bytes) => serde_json::from_slice::<SettleRecord>(&bytes)
                .map(|r| r.settled)
                .map_err(|e| file_error(&rel, e)),
            None => Ok(false),
        }
    }

    /// Every stored run, accepted and quarantined, by epoch then run key.
    ///
    /// # Errors
    /// [`ForensicsError`]: a file that does not open or decode.
    pub fn manifests(&self) -> Result<Vec<Listed>, ForensicsError> {
        let mut out = Vec::new();
        for run in self.runs()? {
            let m = &run.sealed.manifest;
            let run_key = m.run_key.to_string();
            let status = if self.settled(&run_key)? {
                Status::Settled
            } else {
                Status::Sealed
            };
            out.push(Listed {
                epoch: m.epoch.to_string(),
                run_key,
                policy_hash: Some(m.policy_cid.to_string()),
                inputs_cid: Some(m.inputs_cid.to_string()),
                status,
                manifest_cid: Some(run.manifest_cid.to_string()),
                reason: None,
            });
        }
        for q in self.quarantined()? {
            let m = q.manifest.as_ref();
            out.push(Listed {
                epoch: q.epoch.to_string(),
                run_key: q.run_key,
                policy_hash: m.map(|m| m.policy_cid.to_string()),
                inputs_cid: m.map(|m| m.inputs_cid.to_string()),
                status: Status::Quarantined,
                manifest_cid: m.and_then(|m| m.cid().ok()).map(|c| c.to_string()),
                reason: Some(q.reason),
            });
        }
        out.sort_by(|a, b| (&a.epoch, &a.run_key).cmp(&(&b.epoch, &b.run_key)));
        Ok(out)
    }

    /// The signed policy of content id `cid`, if stored.
    ///
    /// # Errors
    /// [`ForensicsError`].
    pub fn policy(&self, cid: &Cid) -> Result<Option<SignedPolicy>, ForensicsError> {
        let rel = policy_path(cid);
        match self.read(&rel, SMALL_FILE_MAX)? {
            Some(bytes) => SignedPolicy::from_json(&bytes)
                .map(Some)
                .map_err(|e| file_error(&rel, e)),
            None => Ok(None),
        }
    }

    /// The stored inputs whose canonical content id is `cid`: the blob of
    /// that id when it holds them (inputs uploaded in canonical form),
    /// else the first of the other blobs (at most [`BLOBS_SEARCHED_MAX`])
    /// that decodes to them.
    ///
    /// # Errors
    /// [`ForensicsError`]: a blob that does not open (tampered, unknown
    /// key) or does not match its id.
    pub fn inputs(
        &self,
        cid: &Cid,
        limits: &Limits,
    ) -> Result<Option<EpochInputs>, ForensicsError> {
        let direct = std::iter::once(*cid);
        let others = self.blobs.list().into_iter().filter(|c| c != cid);
        for blob in direct.chain(others).take(BLOBS_SEARCHED_MAX) {
            let rel = format!("blobs/{blob}");
            let bytes = match self.blobs.get(&blob) {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => return Err(blob_error(&rel, e)),
            };
            let Ok(inputs) = EpochInputs::from_json(&bytes, limits) else {
                continue;
            };
            if inputs.cid().ok() == Some(*cid) {
                return Ok(Some(inputs));
            }
        }
        Ok(None)
    }
}

fn blob_error(rel: &str, e: BlobError) -> ForensicsError {
    match e {
        BlobError::File(f) => file_error(rel, VaultError::File(f)),
        other => file_error(rel, other),
    }
}

/// One payee whose payout differs between two runs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PayoutDiff {
    /// The account.
    pub account: String,
    /// Its amount in the first list (`null`: not paid there).
    pub manifest: Option<u64>,
    /// Its amount in the second (`null`: not paid there).
    pub recomputed: Option<u64>,
}

/// The payees whose payouts differ between `manifest` and `recomputed`
/// (each in account order, as runs keep them): the first `max` of them,
/// and how many there are in all.
#[must_use]
pub fn diff_payouts(
    manifest: &[Payout],
    recomputed: &[Payout],
    max: usize,
) -> (Vec<PayoutDiff>, u64) {
    let a: BTreeMap<&AccountId, u64> = manifest.iter().map(|p| (&p.account, p.amount)).collect();
    let b: BTreeMap<&AccountId, u64> = recomputed.iter().map(|p| (&p.account, p.amount)).collect();
    let mut shown = Vec::new();
    let mut total = 0u64;
    let accounts: std::collections::BTreeSet<&&AccountId> = a.keys().chain(b.keys()).collect();
    for account in accounts {
        let (x, y) = (a.get(*account).copied(), b.get(*account).copied());
        if x == y {
            continue;
        }
        total = total.saturating_add(1);
        if shown.len() < max {
            shown.push(PayoutDiff {
                account: account.to_string(),
                manifest: x,
                recomputed: y,
            });
        }
    }
    (shown, total)
}

/// How a run's intents stand on the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IntentCount {
    /// The epoch.
    pub epoch: String,
    /// The run key.
    pub run_key: String,
    /// Intents in the run (payouts and the residual).
    pub intents: u64,
    /// Intents on the ledger under their own id, as derived.
    pub accepted: u64,
    /// Payments beyond the first of one intent (expected 0).
    pub duplicates: u64,
    /// Payments tagged with the run that match none of its intents
    /// (expected 0).
    pub foreign: u64,
    /// Intents whose id holds another transfer (expected 0).
    pub conflicts: u64,
    /// The ids of the extra payments (the first few).
    pub extra_ids: Vec<String>,
}

impl IntentCount {
    /// Whether anything was paid that should not have been.
    #[must_use]
    pub fn suspicious(&self) -> bool {
        self.duplicates > 0 || self.foreign > 0 || self.conflicts > 0
    }
}

/// Extra payment ids kept per run.
const EXTRA_IDS_MAX: usize = 16;

fn is_payment(t: &LedgerTransfer) -> bool {
    // A pending transfer pays only when posted (the post is the payment);
    // a void pays nothing.
    !t.flags.contains(TransferFlags::PENDING)
        && !t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
}

/// Every transfer debiting `account`, oldest first.
fn debits_of(ledger: &LedgerState, account: u128) -> Vec<LedgerTransfer> {
    let page = tally_ledger::MAX_BATCH_EVENTS;
    let mut out = Vec::new();
    let mut after = 0u64;
    loop {
        let got = ledger.account_transfers(account, after, page);
        let Some(last) = got.last() else { break };
        after = last.timestamp;
        let full = got.len() >= page;
        out.extend(got.into_iter().filter(|t| t.debit_account_id == account));
        if !full {
            break;
        }
    }
    out
}

/// Counts the payments of each run's intents on `ledger` (see the module
/// docs): one count per run, in the order given.
///
/// # Errors
/// A run whose settlement batch cannot be built (never for a run the
/// rewarder accepted).
pub fn count_payments(
    ledger: &LedgerState,
    runs: &[AcceptedRun],
) -> Result<Vec<IntentCount>, tally_reward::Error> {
    let batches = runs
        .iter()
        .map(AcceptedRun::intents)
        .collect::<Result<Vec<_>, _>>()?;
    // Each funding account's debits, read once, grouped by run tag.
    let mut by_funding: HashMap<u128, HashMap<u128, Vec<LedgerTransfer>>> = HashMap::new();
    for intents in &batches {
        let Some(first) = intents.first() else {
            continue;
        };
        by_funding.entry(first.debit_account_id).or_insert_with(|| {
            let mut tags: HashMap<u128, Vec<LedgerTransfer>> = HashMap::new();
            for t in debits_of(ledger, first.debit_account_id) {
                tags.entry(t.user_data_128).or_default().push(t);
            }
            tags
        });
    }
    Ok(runs
        .iter()
        .zip(&batches)
        .map(|(run, intents)| {
            let tagged = intents.first().and_then(|f| {
                by_funding
                    .get(&f.debit_account_id)
                    .and_then(|tags| tags.get(&run_tag(&run.sealed.manifest.run_key)))
            });
            count_run(ledger, run, intents, tagged.map_or(&[][..], Vec::as_slice))
        })
        .collect())
}

fn count_run(
    ledger: &LedgerState,
    run: &AcceptedRun,
    intents: &[Transfer],
    tagged: &[LedgerTransfer],
) -> IntentCount {
    let m = &run.sealed.manifest;
    let mut count = IntentCount {
        epoch: m.epoch.to_string(),
        run_key: m.run_key.to_string(),
        intents: intents.len() as u64,
        ..IntentCount::default()
    };
    // The payments of each intent, by (payee, code): their ids.
    let mut paid: HashMap<(u128, u16), Vec<u128>> = HashMap::new();
    for i in intents {
        let ids = paid.entry((i.credit_account_id, i.code)).or_default();
        match ledger.transfer(i.id) {
            Some(t)
                if t.debit_account_id == i.debit_account_id
                    && t.credit_account_id == i.credit_account_id
                    && t.amount == u128::from(i.amount)
                    && t.ledger == i.ledger.0
                    && t.code == i.code =>
            {
                count.accepted = count.accepted.saturating_add(1);
                ids.push(i.id);
            }
            Some(_) => count.conflicts = count.conflicts.saturating_add(1),
            None => {}
        }
    }
    for t in tagged.iter().filter(|t| is_payment(t)) {
        match paid.get_mut(&(t.credit_account_id, t.code)) {
            Some(ids) if ids.contains(&t.id) => {}
            Some(ids) => {
                ids.push(t.id);
                if ids.len() > 1 {
                    count.duplicates = count.duplicates.saturating_add(1);
                    if count.extra_ids.len() < EXTRA_IDS_MAX {
                        count.extra_ids.push(format!("{:032x}", t.id));
                    }
                }
            }
            None => {
                count.foreign = count.foreign.saturating_add(1);
                if count.extra_ids.len() < EXTRA_IDS_MAX {
                    count.extra_ids.push(format!("{:032x}", t.id));
                }
            }
        }
    }
    count
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn payouts(list: &[(&str, u64)]) -> Vec<Payout> {
        list.iter()
            .map(|(a, n)| Payout {
                account: AccountId::new(*a).unwrap(),
                amount: *n,
            })
            .collect()
    }

    #[test]
    fn payout_differences_name_each_side_and_are_bounded_but_counted() {
        let a = payouts(&[("alice", 5), ("bob", 7), ("carol", 1), ("erin", 2)]);
        let b = payouts(&[("alice", 5), ("bob", 8), ("dave", 3), ("erin", 2)]);
        let (shown, total) = diff_payouts(&a, &b, 10);
        assert_eq!(total, 3);
        let rows: Vec<(&str, Option<u64>, Option<u64>)> = shown
            .iter()
            .map(|d| (d.account.as_str(), d.manifest, d.recomputed))
            .collect();
        assert_eq!(
            rows,
            [
                ("bob", Some(7), Some(8)),
                ("carol", Some(1), None),
                ("dave", None, Some(3))
            ]
        );
        let (shown, total) = diff_payouts(&a, &b, 1);
        assert_eq!((shown.len(), total), (1, 3));
        assert_eq!(diff_payouts(&a, &a, 10), (Vec::new(), 0));
    }
}
