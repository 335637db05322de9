//! Hot paths of `tally-audit`, with calybris-core 1.3.0's `WalWriter` (the
//! peer) in the same run where it applies: append without fsync, verify,
//! open; plus open of a 1,000,000-record log from its checkpoint and an
//! inclusion proof in a 1,000,000-record tree.
//!
//! Durable (`fdatasync`) throughput under concurrency is measured by the
//! `durable` example instead (it needs many threads and latency percentiles).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use calybris_core::wal::{WalWriter, verify_wal};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::value::RawValue;
use tally_audit::merkle::leaf_hash;
use tally_audit::*;

/// A small record, as a decision or ledger event would be.
const PAYLOAD: &str = r#"{"decision":"allow","tenant":42,"route":"m-7","cost_minor":1250}"#;
const VERIFY_RECORDS: u64 = 20_000;
const BIG_RECORDS: u64 = 1_000_000;

fn raw() -> Box<RawValue> {
    RawValue::from_string(PAYLOAD.to_owned()).unwrap()
}

fn tally_opts(key: Option<&AuditKey>) -> LogOptions {
    let opts = LogOptions::new()
        .durability(Durability::None)
        .checkpoint_on_close(true);
    match key {
        Some(k) => opts.key(k.clone()),
        None => opts,
    }
}

fn key() -> AuditKey {
    AuditKey::from_bytes(vec![0x42; 32]).unwrap()
}

fn hmac_key() -> Vec<u8> {
    vec![0x42; 32]
}

fn tally_log(dir: &Path, name: &str, n: u64, key: Option<&AuditKey>) -> PathBuf {
    let path = dir.join(name);
    let log = AuditLog::create(&path, tally_opts(key)).unwrap();
    let chunk: Vec<&[u8]> = vec![PAYLOAD.as_bytes(); 4096];
    let mut left = n;
    while left > 0 {
        let k = left.min(4096) as usize;
        log.append_batch(&chunk[..k]).unwrap();
        left -= k as u64;
    }
    log.close().unwrap();
    path
}

fn calybris_log(dir: &Path, name: &str, n: u64, keyed: bool) -> PathBuf {
    let path = dir.join(name);
    let mut w: WalWriter<Box<RawValue>> = if keyed {
        WalWriter::open_keyed(&path, &hmac_key()).unwrap()
    } else {
        WalWriter::open(&path).unwrap()
    };
    for _ in 0..n {
        let _ = w.append(raw()).unwrap();
    }
    w.flush_and_sync().unwrap();
    path
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("append_no_fsync");
    g.throughput(Throughput::Elements(1));
    let log = AuditLog::create(dir.path().join("t.jsonl"), tally_opts(None)).unwrap();
    g.bench_function("tally_append_plain", |b| {
        b.iter(|| log.append(black_box(PAYLOAD.as_bytes())).unwrap())
    });
    let k = key();
    let keyed = AuditLog::create(dir.path().join("tk.jsonl"), tally_opts(Some(&k))).unwrap();
    g.bench_function("tally_append_keyed", |b| {
        b.iter(|| keyed.append(black_box(PAYLOAD.as_bytes())).unwrap())
    });
    let mut w: WalWriter<Box<RawValue>> = WalWriter::open(&dir.path().join("c.jsonl")).unwrap();
    g.bench_function("calybris_append_plain", |b| {
        b.iter(|| w.append(black_box(raw())).unwrap())
    });
    let mut wk: WalWriter<Box<RawValue>> =
        WalWriter::open_keyed(&dir.path().join("ck.jsonl"), &hmac_key()).unwrap();
    g.bench_function("calybris_append_keyed", |b| {
        b.iter(|| wk.append(black_box(raw())).unwrap())
    });
    // Many appends in flight: 1024 submissions acknowledged by one write.
    g.throughput(Throughput::Elements(1024));
    let batch: Vec<&[u8]> = vec![PAYLOAD.as_bytes(); 1024];
    g.bench_function("tally_submit_x1024_plain", |b| {
        b.iter(|| {
            let tickets: Vec<Ticket> = (0..1024)
                .map(|_| log.submit(PAYLOAD.as_bytes()).unwrap())
                .collect();
            for t in tickets {
                t.wait().unwrap();
            }
        })
    });
    g.bench_function("tally_submit_batch_1024_keyed", |b| {
        b.iter(|| {
            keyed
                .submit_batch(black_box(&batch))
                .unwrap()
                .wait()
                .unwrap()
        })
    });
    g.finish();
}

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let tp = tally_log(dir.path(), "t.jsonl", VERIFY_RECORDS, None);
    let tk = tally_log(dir.path(), "tk.jsonl", VERIFY_RECORDS, Some(&k));
    let cp = calybris_log(dir.path(), "c.jsonl", VERIFY_RECORDS, false);
    let ck = calybris_log(dir.path(), "ck.jsonl", VERIFY_RECORDS, true);
    let mut g = c.benchmark_group("verify_20k");
    g.throughput(Throughput::Elements(VERIFY_RECORDS));
    g.sample_size(20);
    let plain = VerifyOptions::new();
    let keyed = VerifyOptions::new().keys(Keyring::new().with(k));
    g.bench_function("tally_plain", |b| {
        b.iter(|| verify_file(&tp, &plain).unwrap())
    });
    g.bench_function("tally_keyed", |b| {
        b.iter(|| verify_file(&tk, &keyed).unwrap())
    });
    // Like for like with calybris's single-threaded `verify_wal`: the same
    // checks on one thread (`VerifiedReader`), no read-ahead thread.
    g.bench_function("tally_plain_one_thread", |b| {
        b.iter(|| {
            VerifiedReader::open(&tp, &plain)
                .unwrap()
                .verify_all()
                .unwrap()
        })
    });
    g.bench_function("tally_keyed_one_thread", |b| {
        b.iter(|| {
            VerifiedReader::open(&tk, &keyed)
                .unwrap()
                .verify_all()
                .unwrap()
        })
    });
    g.bench_function("calybris_plain", |b| b.iter(|| verify_wal(&cp).unwrap()));
    let hk = hmac_key();
    g.bench_function("calybris_keyed", |b| {
        b.iter(|| calybris_core::wal::verify_wal_keyed(&ck, &hk).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("open_20k");
    g.sample_size(20);
    g.bench_function("tally_from_checkpoint", |b| {
        b.iter(|| AuditLog::open(&tp, tally_opts(None).trust_checkpoint_prefix(true)).unwrap())
    });
    g.bench_function("tally_full_verify", |b| {
        b.iter(|| AuditLog::open(&tp, tally_opts(None)).unwrap())
    });
    g.bench_function("calybris", |b| {
        b.iter(|| WalWriter::<Box<RawValue>>::open(&cp).unwrap())
    });
    g.finish();
}

fn big(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = tally_log(dir.path(), "big.jsonl", BIG_RECORDS, None);
    let mut g = c.benchmark_group("log_1m");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("open_from_checkpoint", |b| {
        b.iter(|| AuditLog::open(&path, tally_opts(None)).unwrap())
    });
    g.finish();
    drop(dir);

    let mut index = ProofIndex::new();
    for i in 0..BIG_RECORDS {
        index.push(leaf_hash(&i.to_be_bytes()));
    }
    let mut g = c.benchmark_group("proof_1m");
    let mut i = 0u64;
    g.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            i = (i + 7_919) % (BIG_RECORDS - 1);
            index
                .inclusion_proof(black_box(i), BIG_RECORDS - 1)
                .unwrap()
        })
    });
    g.bench_function("consistency_proof", |b| {
        b.iter(|| {
            i = (i + 7_919) % (BIG_RECORDS - 1);
            index
                .consistency_proof(black_box(i), BIG_RECORDS - 1)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, append, verify, big);
criterion_main!(benches);
