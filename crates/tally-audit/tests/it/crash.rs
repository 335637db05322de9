//! Crash test: a child process (this test binary, re-executed in child
//! mode) appends with `batch` durability from several threads and reports
//! each acknowledgement through a pipe only after `wait` returns; the parent
//! kills it with SIGKILL at a random moment, at least 100 times. After each
//! kill the log opens, every acknowledged record is present with its exact
//! payload and verifies, and only an unterminated tail is ever cut.
//!
//! What this test cannot see: a missing or misplaced `fdatasync`. SIGKILL
//! ends the process, not the machine; every byte the child wrote is in the
//! page cache and survives, synced or not. Power loss is modelled instead by
//! the simulated storage (`storage::SimLog`, whose crash image keeps only
//! synced bytes plus a random prefix of the rest) in `faults.rs`:
//! `power_loss_keeps_every_acknowledged_record`,
//! `injected_faults_poison_the_writer_and_lose_nothing_acknowledged` and
//! `short_writes_alone_are_completed_not_fatal`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tally_audit::*;

const CHILD_ENV: &str = "TALLY_AUDIT_CRASH_CHILD";
const RUNS: u32 = 100;
const TIME_LIMIT: Duration = Duration::from_secs(90);

fn child_opts() -> LogOptions {
    LogOptions::new()
        .durability(Durability::Batch)
        .checkpoint_every(64)
        .checkpoint_on_close(false)
}

/// The child's workload; a no-op unless started by the parent.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let run: u64 = std::env::var("TALLY_AUDIT_CRASH_RUN")
        .unwrap()
        .parse()
        .unwrap();
    let (log, _) = AuditLog::open(&path, child_opts()).unwrap();
    let out = std::sync::Mutex::new(std::io::stdout());
    writeln!(out.lock().unwrap(), "READY").unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (log, out) = (log.clone(), &out);
            s.spawn(move || {
                for i in 0u64.. {
                    let p = format!("{{\"run\":{run},\"t\":{t},\"i\":{i}}}");
                    // Some threads keep a few appends in flight.
                    let r = log.append(p.as_bytes()).unwrap();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "ACK {} {p}", r.seq).unwrap();
                    o.flush().unwrap();
                }
            });
        }
    });
}

fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Kills the appending child 100 times. Catches lost or corrupt records
/// from the process dying mid-write; cannot catch a missing `fdatasync`
/// (the page cache survives SIGKILL): see the module docs for the
/// simulated power-loss tests that do.
#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.jsonl");
    AuditLog::create(&path, child_opts())
        .unwrap()
        .close()
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let (mut runs, mut torn_cuts) = (0u32, 0u32);
    while runs < RUNS {
        assert!(
            started.elapsed() < TIME_LIMIT,
            "crash test exceeded its time budget after {runs} runs"
        );
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &path)
            .env("TALLY_AUDIT_CRASH_RUN", runs.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Wait until the child has opened the log, then let it run a while.
        for line in lines.by_ref() {
            if line.unwrap().ends_with("READY") {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(next_rand(&mut rng) % 25_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for line in lines {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (seq, payload) = rest.split_once(' ').unwrap();
                acked.insert(seq.parse().unwrap(), payload.to_owned());
            }
        }
        let (log, report) = AuditLog::open(&path, child_opts())
            .unwrap_or_else(|e| panic!("run {runs}: the log does not open after SIGKILL: {e}"));
        drop(log);
        torn_cuts += u32::from(report.torn_tail.is_some());
        check_acknowledged(&path, &acked, runs);
        runs += 1;
    }
    assert!(
        acked.len() > RUNS as usize,
        "the children acknowledged appends ({})",
        acked.len()
    );
    eprintln!(
        "crash test: {runs} kills, {} acks, {torn_cuts} torn tails cut",
        acked.len()
    );
}

fn check_acknowledged(path: &std::path::Path, acked: &BTreeMap<u64, String>, run: u32) {
    let mut reader = VerifiedReader::open(path, &VerifyOptions::new()).unwrap();
    let mut it = acked.iter().peekable();
    while let Some(rec) = reader
        .next_record()
        .unwrap_or_else(|e| panic!("run {run}: {e}"))
    {
        if let Some((seq, payload)) = it.peek()
            && **seq == rec.seq
        {
            assert_eq!(
                rec.payload,
                payload.as_bytes(),
                "run {run}: record {seq} differs"
            );
            it.next();
        }
    }
    assert!(
        it.next().is_none(),
        "run {run}: an acknowledged record is missing"
    );
    assert!(reader.summary().unwrap().torn_tail.is_none());
}
