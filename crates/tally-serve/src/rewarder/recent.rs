//! The most recent epochs, for the operator page: at most
//! [`RECENT_EPOCHS_MAX`], newest first, each with its status (accepted
//! and sealed, or quarantined), whether its settlement is recorded done,
//! and its manifest's CID and the one before it. Bounded work per page
//! view in both stores:
//!
//! * **files**: a small index, `recent.json` (through the vault, so sealed
//!   at rest like every other file), written by the run writer after each
//!   accepted run (once the head moved) and each quarantine: at most
//!   [`RECENT_EPOCHS_MAX`] entries, one per epoch. A page view reads it and
//!   one settlement record per accepted entry. It is not the truth (the
//!   runs and the head are): a crash between the head's move and the
//!   index's write leaves the index without the head, and [`repair`], at
//!   start, rebuilds its accepted entries by walking the chain back from
//!   the head (reading the runs once, as the head's repair does);
//! * **PostgreSQL**: one query, the runs and the quarantined runs `ORDER
//!   BY created_ms DESC, epoch DESC LIMIT n` each (indexed,
//!   `0003_recent.sql`), merged.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tally_reward::registry::StoreError;

use super::{SMALL_FILE_MAX, read_head, read_run_file, read_settle, store_error};
use crate::vault::Vault;

/// The most epochs the operator page lists.
pub const RECENT_EPOCHS_MAX: usize = 20;
/// The index file of the file store.
const RECENT_FILE: &str = "recent.json";

/// One of the most recent epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentEpoch {
    /// The epoch.
    pub epoch: String,
    /// `accepted` (sealed and signed) or `quarantined` (never settled).
    pub status: &'static str,
    /// Whether the run's settlement is recorded done (every chain found on
    /// the ledger; the ledger's own answer is
    /// `GET /v1/rewarder/epochs/{epoch}/settlement`).
    pub settled: bool,
    /// The sealed manifest's CID (accepted runs).
    pub manifest_cid: Option<String>,
    /// The CID of the manifest it links to (none for the chain's first).
    pub previous_cid: Option<String>,
}

impl RecentEpoch {
    /// An accepted run's entry.
    pub(crate) fn accepted(
        epoch: String,
        settled: bool,
        manifest_cid: String,
        previous_cid: Option<String>,
    ) -> Self {
        Self {
            epoch,
            status: "accepted",
            settled,
            manifest_cid: Some(manifest_cid),
            previous_cid,
        }
    }

    /// A quarantined run's entry.
    pub(crate) fn quarantined(epoch: String) -> Self {
        Self {
            epoch,
            status: "quarantined",
            settled: false,
            manifest_cid: None,
            previous_cid: None,
        }
    }
}

/// An entry of `recent.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Entry {
    epoch: String,
    run_key: String,
    /// `None`: quarantined.
    manifest_cid: Option<String>,
    previous_cid: Option<String>,
}

impl Entry {
    /// An accepted run.
    pub(super) fn accepted(
        epoch: String,
        run_key: String,
        manifest_cid: String,
        previous_cid: Option<String>,
    ) -> Self {
        Self {
            epoch,
            run_key,
            manifest_cid: Some(manifest_cid),
            previous_cid,
        }
    }

    /// A quarantined run.
    pub(super) fn quarantined(epoch: String, run_key: String) -> Self {
        Self {
            epoch,
            run_key,
            manifest_cid: None,
            previous_cid: None,
        }
    }
}

fn read_index(dir: &Vault) -> Result<Vec<Entry>, StoreError> {
    match dir.read(RECENT_FILE, SMALL_FILE_MAX).map_err(store_error)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(store_error),
        None => Ok(Vec::new()),
    }
}

fn write_index(dir: &Vault, entries: &[Entry]) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(entries).map_err(store_error)?;
    dir.write(RECENT_FILE, &bytes).map_err(store_error)
}

/// Puts `entry` first (its epoch's older entry gone), keeping at most
/// [`RECENT_EPOCHS_MAX`]. Called by the run writer; a failure is logged,
/// not returned (the run is stored and the head moved already; the index
/// is repaired at the next start).
pub(super) fn note(dir: &Vault, entry: Entry) {
    let noted = read_index(dir).and_then(|mut entries| {
        entries.retain(|e| e.epoch != entry.epoch);
        entries.insert(0, entry);
        entries.truncate(RECENT_EPOCHS_MAX);
        write_index(dir, &entries)
    });
    if let Err(e) = noted {
        tracing::warn!(error = %e.reason, "the recent-epochs index was not updated");
    }
}

/// At start: when the index does not hold the head (a crash after the
/// head moved, or a store older than the index), its accepted entries are
/// rebuilt from the chain, walked back from the head at most
/// [`RECENT_EPOCHS_MAX`] steps; quarantined entries are kept after them.
pub(super) fn repair(dir: &Vault) {
    let Ok(Some(head)) = read_head(dir) else {
        return;
    };
    let index = read_index(dir).unwrap_or_default();
    let head_cid = head.cid.to_string();
    if index
        .iter()
        .any(|e| e.manifest_cid.as_deref() == Some(head_cid.as_str()))
    {
        return;
    }
    // Every run's link, by its manifest's CID (the runs read one at a time).
    let mut by_cid: HashMap<String, Entry> = HashMap::new();
    for name in dir.list("runs") {
        if let Ok(Some(run)) = read_run_file(dir, &format!("runs/{name}")) {
            let m = &run.sealed.manifest;
            let cid = run.manifest_cid.to_string();
            let entry = Entry::accepted(
                m.epoch.to_string(),
                m.run_key.to_string(),
                cid.clone(),
                m.previous.map(|c| c.to_string()),
            );
            by_cid.insert(cid, entry);
        }
    }
    let mut rebuilt = Vec::new();
    let mut next = Some(head_cid);
    while let Some(cid) = next.take() {
        if rebuilt.len() >= RECENT_EPOCHS_MAX {
            break;
        }
        let Some(entry) = by_cid.remove(&cid) else {
            break;
        };
        next.clone_from(&entry.previous_cid);
        rebuilt.push(entry);
    }
    let accepted: Vec<String> = rebuilt.iter().map(|e| e.epoch.clone()).collect();
    rebuilt.extend(
        index
            .into_iter()
            .filter(|e| e.manifest_cid.is_none() && !accepted.contains(&e.epoch)),
    );
    rebuilt.truncate(RECENT_EPOCHS_MAX);
    if let Err(e) = write_index(dir, &rebuilt) {
        tracing::warn!(error = %e.reason, "the recent-epochs index could not be rebuilt");
    }
}

/// The file store's most recent epochs: the index, and each accepted
/// run's settlement record.
///
/// # Errors
/// [`StoreError`] when the index or a settlement record cannot be read.
pub(super) fn files_recent(dir: &Vault) -> Result<Vec<RecentEpoch>, StoreError> {
    read_index(dir)?
        .into_iter()
        .take(RECENT_EPOCHS_MAX)
        .map(|e| match e.manifest_cid {
            Some(cid) => {
                // A run key names a file: 64 hex digits, nothing else.
                let key_ok =
                    e.run_key.len() == 64 && e.run_key.bytes().all(|b| b.is_ascii_hexdigit());
                if !key_ok {
                    return Err(store_error("the recent-epochs index holds a bad run key"));
                }
                let settled = read_settle(dir, &e.run_key)?.settled;
                Ok(RecentEpoch::accepted(e.epoch, settled, cid, e.previous_cid))
            }
            None => Ok(RecentEpoch::quarantined(e.epoch)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> String {
        format!("{i:064x}")
    }

    #[test]
    fn the_index_keeps_the_newest_entry_per_epoch_up_to_its_bound() {
        let dir = Vault::memory();
        assert_eq!(files_recent(&dir).unwrap(), Vec::new());
        let total = RECENT_EPOCHS_MAX + 5;
        for i in 0..total {
            let entry = if i % 4 == 3 {
                Entry::quarantined(format!("e-{i}"), key(i))
            } else {
                Entry::accepted(format!("e-{i}"), key(i), format!("cid-{i}"), None)
            };
            note(&dir, entry);
        }
        let listed = files_recent(&dir).unwrap();
        assert_eq!(listed.len(), RECENT_EPOCHS_MAX);
        let epochs: Vec<String> = (total - RECENT_EPOCHS_MAX..total)
            .rev()
            .map(|i| format!("e-{i}"))
            .collect();
        let got: Vec<String> = listed.iter().map(|e| e.epoch.clone()).collect();
        assert_eq!(got, epochs);
        assert_eq!(listed[0].status, "accepted");
        assert_eq!(listed[1].status, "quarantined");
        assert_eq!(listed[1].manifest_cid, None);
        // A quarantined epoch accepted later: one entry, the newest.
        let again = format!("e-{}", total - 2);
        note(
            &dir,
            Entry::accepted(again.clone(), key(99), "cid-late".to_owned(), None),
        );
        let listed = files_recent(&dir).unwrap();
        assert_eq!(listed.len(), RECENT_EPOCHS_MAX);
        assert_eq!(listed[0].epoch, again);
        assert_eq!(listed[0].manifest_cid.as_deref(), Some("cid-late"));
        assert_eq!(listed.iter().filter(|e| e.epoch == again).count(), 1);
        // A run key that is not 64 hex digits never names a file.
        note(
            &dir,
            Entry::accepted("bad".to_owned(), "../x".to_owned(), "c".to_owned(), None),
        );
        assert!(files_recent(&dir).is_err());
    }
}
