//! Restart of a durable ledger from its last snapshot, and the memory the
//! state takes per account and per live pending transfer.
//!
//! ```sh
//! cargo run --release -p tally-ledger --example restart -- 10000000
//! ```
//!
//! Builds a journal (a real file, group commit, fdatasync) of N transfers in
//! batches of 8,189 over 1,000 accounts with a signed checkpoint key, takes a
//! snapshot, journals 10 more batches (81,890 transfers) after it, then times a cold restore:
//! decode and check the snapshot, verify the checkpoint it names, verify and
//! apply the journal after it. The files are in the page cache (as after a
//! process restart; a machine reboot adds the disk's read time).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::BufReader;
use std::time::Instant;

use tally_audit::{AuditLog, CheckpointSigner, Durability, LogOptions, VerifyOptions};
use tally_ledger::journal::{DurableLedger, restore_from_snapshot};
use tally_ledger::{AccountFlags, Ledger, NewAccount, NewTransfer, TransferFlags};

const BATCH: usize = 8_189;
const ACCOUNTS: u128 = 1_000;
const SECOND: u64 = 1_000_000_000;
/// Batches journaled after the snapshot.
const TAIL_BATCHES: usize = 10;

fn accounts() -> Vec<NewAccount> {
    (1..=ACCOUNTS)
        .map(|id| NewAccount {
            id,
            ledger: 1,
            code: 1,
            ..NewAccount::default()
        })
        .collect()
}

fn batch(next: &mut u128, pending: bool) -> Vec<NewTransfer> {
    (0..BATCH)
        .map(|i| {
            *next += 1;
            let i = i as u128;
            NewTransfer {
                id: *next,
                debit_account_id: 1 + (*next % ACCOUNTS),
                credit_account_id: 1 + ((*next + 1 + i % 7) % ACCOUNTS),
                amount: 1 + (*next % 100),
                ledger: 1,
                code: 1,
                flags: if pending {
                    TransferFlags::PENDING
                } else {
                    TransferFlags::empty()
                },
                timeout: if pending { 3_600 } else { 0 },
                ..NewTransfer::default()
            }
        })
        .collect()
}

/// The heap bytes a closure leaves allocated (what it moved out).
fn live<T>(build: impl FnOnce() -> T) -> (T, u64) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(build()));
    (
        out.expect("built"),
        u64::try_from(info.bytes_current).unwrap_or(0),
    )
}

fn memory() {
    let n = 1_000_000u128;
    let (mut l, accounts_bytes) = live(|| {
        let mut l = Ledger::new();
        for chunk in (1..=n).collect::<Vec<_>>().chunks(BATCH) {
            let events: Vec<NewAccount> = chunk
                .iter()
                .map(|id| NewAccount {
                    id: *id,
                    ledger: 1,
                    code: 1,
                    flags: AccountFlags::empty(),
                    ..NewAccount::default()
                })
                .collect();
            l.create_accounts(&events, 1).unwrap();
        }
        l
    });
    let holds = 1_000_000u64 / BATCH as u64 * BATCH as u64;
    let ((), pending_bytes) = live(|| {
        let mut next = 10 * n;
        for _ in 0..holds / BATCH as u64 {
            let b: Vec<NewTransfer> = batch(&mut next, true)
                .into_iter()
                .map(|t| NewTransfer {
                    debit_account_id: 1 + (t.id % n),
                    credit_account_id: 1 + ((t.id + 1) % n),
                    ..t
                })
                .collect();
            l.create_transfers(&b, 2).unwrap();
        }
    });
    println!(
        "memory: {} bytes per account (1,000,000 accounts), {} bytes per live pending transfer ({holds} holds over them: the transfer, its state, its expiry, both accounts' transfer lists)",
        accounts_bytes / 1_000_000,
        pending_bytes / holds,
    );
    drop(l);
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(10_000_000, |a| a.parse().expect("a number of transfers"));
    let signer = CheckpointSigner::from_seed("bench.example/journal", &[3; 32]).unwrap();
    let opts = VerifyOptions::new().checkpoint_key(signer.verifier());
    // `restart N DIR`: build the files in DIR once (a second run with the
    // same DIR only restores, so that restarts can be timed alone, e.g.
    // under `perf stat`).
    if let Some(keep) = std::env::args().nth(2) {
        let keep = std::path::PathBuf::from(keep);
        let (path, snap) = (keep.join("journal.jsonl"), keep.join("snapshot"));
        if !snap.exists() {
            std::fs::create_dir_all(&keep).unwrap();
            build(n, &path, &snap, signer);
        }
        let bytes = std::fs::metadata(&snap).unwrap().len();
        restarts(&path, &snap, bytes, &opts, None);
        return;
    }
    memory();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let snap = dir.path().join("snapshot");
    let (info, want) = build(n, &path, &snap, signer);
    restarts(&path, &snap, info.bytes, &opts, Some(want));
}

/// Journals `n` transfers, snapshots, journals 10 batches more.
fn build(
    n: u64,
    path: &std::path::Path,
    snap: &std::path::Path,
    signer: CheckpointSigner,
) -> (
    tally_ledger::snapshot::SnapshotInfo,
    std::collections::BTreeMap<u32, tally_ledger::Totals>,
) {
    let log = AuditLog::create(
        path,
        LogOptions::new()
            .durability(Durability::Batch)
            .signer(signer)
            .checkpoint_on_close(false),
    )
    .unwrap();
    let mut durable = DurableLedger::new(log);
    durable.create_accounts(&accounts(), SECOND).unwrap();
    let t0 = Instant::now();
    let mut next = 0u128;
    let mut now = 2 * SECOND;
    while (next as u64) < n {
        now += 1_000;
        durable
            .create_transfers(&batch(&mut next, false), now)
            .unwrap();
    }
    let built = t0.elapsed();
    let t0 = Instant::now();
    let info = durable.snapshot(snap).unwrap();
    let snapped = t0.elapsed();
    for _ in 0..TAIL_BATCHES {
        now += 1_000;
        durable
            .create_transfers(&batch(&mut next, false), now)
            .unwrap();
    }
    let want = durable.ledger().totals();
    let (_, transfers) = durable.ledger().len();
    drop(durable);
    println!(
        "journaled {transfers} transfers in {:.1} s; snapshot of {} MB written in {:.2} s; {} batches after it",
        built.as_secs_f64(),
        info.bytes >> 20,
        snapped.as_secs_f64(),
        TAIL_BATCHES
    );
    (info, want)
}

/// Times a decode alone and three restores.
fn restarts(
    path: &std::path::Path,
    snap: &std::path::Path,
    bytes: u64,
    opts: &VerifyOptions,
    want: Option<std::collections::BTreeMap<u32, tally_ledger::Totals>>,
) {
    let t0 = Instant::now();
    let file = std::fs::File::open(snap).unwrap();
    let (alone, heap) = live(|| {
        tally_ledger::snapshot::decode(BufReader::with_capacity(1 << 16, file), bytes).unwrap()
    });
    let (accounts, transfers) = alone.ledger.len();
    println!(
        "decoding and checking the snapshot alone: {:.3} s; the restored state takes {} MB of heap, {} bytes per transfer ({accounts} accounts, {transfers} transfers)",
        t0.elapsed().as_secs_f64(),
        heap >> 20,
        heap / u64::try_from(transfers.max(1)).unwrap()
    );
    drop(alone);
    for run in 0..3 {
        let t0 = Instant::now();
        let file = std::fs::File::open(snap).unwrap();
        let journal = std::fs::File::open(path).unwrap();
        let restored = restore_from_snapshot(
            BufReader::with_capacity(1 << 16, file),
            bytes,
            BufReader::with_capacity(1 << 20, journal),
            opts,
        )
        .unwrap();
        let took = t0.elapsed();
        if let Some(want) = &want {
            assert_eq!(&restored.ledger.totals(), want);
        }
        let transfers = restored.ledger.len().1;
        println!(
            "restart {run}: {:.3} s ({} transfers from the snapshot, {} journal records after it)",
            took.as_secs_f64(),
            transfers,
            restored.replayed
        );
        let t0 = Instant::now();
        drop(restored);
        println!(
            "  (dropping the state: {:.3} s)",
            t0.elapsed().as_secs_f64()
        );
    }
}
