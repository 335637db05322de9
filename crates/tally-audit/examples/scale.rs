//! One-shot figures on a 1,000,000-record log (complements the criterion
//! benches, whose runs would take minutes at this size).
//!
//! ```sh
//! cargo run --release -p tally-audit --example scale -- [records]
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use tally_audit::*;

const PAYLOAD: &str = r#"{"decision":"allow","tenant":42,"route":"m-7","cost_minor":1250}"#;

/// CPU time this thread has run, in nanoseconds (Linux schedstat): unlike
/// wall time it does not count time spent waiting for a shared core.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// CPU time of the whole process (all threads), in nanoseconds.
fn process_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |x| x.1)
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks * 10_000_000 // USER_HZ = 100
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let dir = tempfile::tempdir_in(".").unwrap();
    let path = dir.path().join("scale.jsonl");
    let log = AuditLog::create(&path, LogOptions::new().durability(Durability::None)).unwrap();
    let chunk: Vec<&[u8]> = vec![PAYLOAD.as_bytes(); 4096];
    let t = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(4096) as usize;
        log.submit_batch(&chunk[..k]).unwrap().wait().unwrap();
        left -= k as u64;
    }
    log.close().unwrap();
    let dt = t.elapsed();
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "append (none, batches of 4096): {n} records, {bytes} bytes, {:.3} s, {:.0} ns/record",
        dt.as_secs_f64(),
        dt.as_nanos() as f64 / n as f64
    );

    let (t, c, pc) = (Instant::now(), cpu_ns(), process_cpu_ns());
    let s = verify_file(&path, &VerifyOptions::new()).unwrap();
    let (dt, dc, dpc) = (t.elapsed(), cpu_ns() - c, process_cpu_ns() - pc);
    println!("  process CPU (both threads) {:.3} s", dpc as f64 / 1e9);
    let (t2, c2) = (Instant::now(), cpu_ns());
    let s2 = VerifiedReader::open(&path, &VerifyOptions::new())
        .unwrap()
        .verify_all()
        .unwrap();
    let (dt2, dc2) = (t2.elapsed(), cpu_ns() - c2);
    println!(
        "verify, one thread (VerifiedReader): {:.3} s wall = {:.0} records/s; CPU {:.3} s",
        dt2.as_secs_f64(),
        s2.records as f64 / dt2.as_secs_f64(),
        dc2 as f64 / 1e9
    );
    println!(
        "verify: {} records in {:.3} s wall = {:.0} records/s; CPU {:.3} s = {:.0} records/s",
        s.records,
        dt.as_secs_f64(),
        s.records as f64 / dt.as_secs_f64(),
        dc as f64 / 1e9,
        s.records as f64 / (dc as f64 / 1e9)
    );

    let t = Instant::now();
    let (log, report) = AuditLog::open(&path, LogOptions::new()).unwrap();
    println!(
        "open from checkpoint: {:.3} ms ({:?})",
        t.elapsed().as_secs_f64() * 1e3,
        report
    );
    drop(log);

    let t = Instant::now();
    let (index, _) =
        ProofIndex::from_log(std::fs::File::open(&path).unwrap(), &VerifyOptions::new()).unwrap();
    println!(
        "proof index build (verified pass): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let size = index.size();
    let t = Instant::now();
    let rounds = 100_000u64;
    let mut total = 0usize;
    for i in 0..rounds {
        total += index
            .inclusion_proof((i * 7919) % size, size)
            .unwrap()
            .len();
    }
    println!(
        "inclusion proof in a tree of {size}: {:.2} us each ({total} hashes)",
        t.elapsed().as_secs_f64() * 1e6 / rounds as f64
    );
}
