//! Durable append throughput and latency under concurrency (`fdatasync`),
//! tally-audit's group commit beside calybris-core's `WalWriter` (which has
//! no group commit: each durable append is its own `flush_and_sync`).
//!
//! ```sh
//! cargo run --release -p tally-audit --example durable -- [seconds-per-case]
//! ```
//!
//! Prints one row per case: appenders, records per second, p50 and p99
//! latency of one append (submit to durable acknowledgement).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use calybris_core::wal::WalWriter;
use serde_json::value::RawValue;
use tally_audit::{AuditLog, Durability, LogOptions};

const PAYLOAD: &str = r#"{"decision":"allow","tenant":42,"route":"m-7","cost_minor":1250}"#;

/// Records per batch in the like-for-like batched cases.
const BATCH: usize = 256;

struct Outcome {
    records: u64,
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

fn report(name: &str, appenders: usize, o: &mut Outcome) {
    o.latencies_us.sort_unstable();
    let pct = |p: usize| {
        let n = o.latencies_us.len();
        if n == 0 {
            0
        } else {
            o.latencies_us[(n * p / 100).min(n - 1)]
        }
    };
    println!(
        "{name:<28} appenders {appenders:>5}  {:>10.0} records/s  p50 {:>7} us  p99 {:>7} us",
        o.records as f64 / o.elapsed.as_secs_f64(),
        pct(50),
        pct(99)
    );
}

/// `threads` appenders, each keeping `in_flight` appends outstanding.
fn run<F>(threads: usize, secs: u64, append: F) -> Outcome
where
    F: Fn(&mut Vec<u32>) -> u64 + Sync,
{
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let results: Vec<(u64, Vec<u32>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(s, || {
                        let mut lat = Vec::new();
                        let mut n = 0;
                        while !stop.load(Ordering::Relaxed) {
                            n += append(&mut lat);
                        }
                        (n, lat)
                    })
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed();
    let mut o = Outcome {
        records: 0,
        latencies_us: Vec::new(),
        elapsed,
    };
    for (n, lat) in results {
        o.records += n;
        o.latencies_us.extend(lat);
    }
    o
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn main() {
    let secs: u64 = std::env::args().nth(1).map_or(3, |s| s.parse().unwrap());
    let dir = tempfile::tempdir_in(".").unwrap();
    println!(
        "durable appends (fdatasync), {secs} s per case, log in {}",
        dir.path().display()
    );
    for (i, threads) in [1usize, 64, 1024].into_iter().enumerate() {
        let log = AuditLog::create(
            dir.path().join(format!("t{i}.jsonl")),
            LogOptions::new().durability(Durability::Batch),
        )
        .unwrap();
        let mut o = run(threads, secs, |lat| {
            let t = Instant::now();
            log.append(PAYLOAD.as_bytes()).unwrap();
            lat.push(micros(t.elapsed()));
            1
        });
        report("tally append (batch)", threads, &mut o);
    }
    // Like for like with calybris's batches below: each appender hands over
    // 256 records at once and waits for them to be durable (one `fdatasync`
    // per group at most; concurrent batches may share one).
    let batch: Vec<&[u8]> = vec![PAYLOAD.as_bytes(); BATCH];
    for (i, threads) in [1usize, 4].into_iter().enumerate() {
        let log = AuditLog::create(
            dir.path().join(format!("b{i}.jsonl")),
            LogOptions::new().durability(Durability::Batch),
        )
        .unwrap();
        let mut o = run(threads, secs, |lat| {
            let t = Instant::now();
            log.submit_batch(&batch).unwrap().wait().unwrap();
            lat.push(micros(t.elapsed()));
            BATCH as u64
        });
        report("tally submit_batch 256 *", threads, &mut o);
    }
    // Few threads, many appends in flight each: submit 256, then wait all.
    let log = AuditLog::create(dir.path().join("p.jsonl"), LogOptions::new()).unwrap();
    let mut o = run(4, secs, |lat| {
        let t = Instant::now();
        let tickets: Vec<_> = (0..256)
            .map(|_| log.submit(PAYLOAD.as_bytes()).unwrap())
            .collect();
        for tk in tickets {
            tk.wait().unwrap();
        }
        lat.push(micros(t.elapsed()));
        256
    });
    report("tally submit x256 (batch)*", 4, &mut o);
    println!("  * latency of a window of 256 submissions, not of one append");
    for (i, threads) in [1usize, 64].into_iter().enumerate() {
        let w: WalWriter<Box<RawValue>> =
            WalWriter::open(&dir.path().join(format!("c{i}.jsonl"))).unwrap();
        let w = Mutex::new(w);
        let mut o = run(threads, secs, |lat| {
            let t = Instant::now();
            {
                let mut w = w.lock().unwrap();
                let _ = w
                    .append(RawValue::from_string(PAYLOAD.to_owned()).unwrap())
                    .unwrap();
                w.flush_and_sync().unwrap();
            }
            lat.push(micros(t.elapsed()));
            1
        });
        report("calybris append+sync", threads, &mut o);
    }
    // calybris with the same batching: 256 `append`s, then one
    // `flush_and_sync`, under its one lock (it has no group commit).
    for (i, threads) in [1usize, 4].into_iter().enumerate() {
        let w: WalWriter<Box<RawValue>> =
            WalWriter::open(&dir.path().join(format!("cb{i}.jsonl"))).unwrap();
        let w = Mutex::new(w);
        let mut o = run(threads, secs, |lat| {
            let t = Instant::now();
            {
                let mut w = w.lock().unwrap();
                for _ in 0..BATCH {
                    let _ = w
                        .append(RawValue::from_string(PAYLOAD.to_owned()).unwrap())
                        .unwrap();
                }
                w.flush_and_sync().unwrap();
            }
            lat.push(micros(t.elapsed()));
            BATCH as u64
        });
        report("calybris 256 appends+sync *", threads, &mut o);
    }
    println!("  * latency of a batch of 256, not of one append");
}
