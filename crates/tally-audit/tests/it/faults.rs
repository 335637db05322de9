//! Fault injection through the storage trait: short writes, EIO, ENOSPC,
//! failed syncs. The writer is poisoned on the first error, never retries a
//! sync, and no acknowledged record is ever lost or corrupt.

use tally_audit::storage::{Faults, LogFile, SimLog};
use tally_audit::*;

fn run(seed: u64, faults: Faults, durability: Durability) -> (SimLog, Vec<(u64, Vec<u8>)>, bool) {
    let sim = SimLog::new(Vec::new(), Faults::default(), seed);
    let log = AuditLog::create_with(
        Box::new(sim.clone()),
        LogOptions::new().durability(durability).checkpoint_every(7),
    )
    .unwrap();
    sim.set_faults(faults);
    let mut acked = Vec::new();
    let mut poisoned = false;
    for i in 0..120u64 {
        let p = format!("{{\"seed\":{seed},\"i\":{i}}}").into_bytes();
        // Alternate single appends and small batches.
        let result = if i % 3 == 0 {
            log.append_batch(&[p.clone(), p.clone()])
                .map(|r| r.iter().map(|r| (r.seq, p.clone())).collect())
        } else {
            log.append(&p).map(|r| vec![(r.seq, p)])
        };
        match result {
            Ok(r) => {
                assert!(!poisoned, "an append succeeded after poisoning");
                acked.extend(r);
            }
            Err(AuditError::Poisoned { .. }) => poisoned = true,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(poisoned, log.is_poisoned());
    (sim, acked, poisoned)
}

fn check_crash_image(sim: &SimLog, acked: &[(u64, Vec<u8>)]) {
    let image = sim.crash_image();
    let reopened = SimLog::new(image, Faults::default(), 0);
    let (log, _report) =
        AuditLog::open_with(Box::new(reopened.clone()), LogOptions::new()).unwrap();
    drop(log);
    let bytes = reopened.contents();
    let mut reader = VerifiedReader::new(&bytes[..], &VerifyOptions::new());
    let mut found = std::collections::BTreeMap::new();
    while let Some(rec) = reader.next_record().unwrap() {
        found.insert(rec.seq, rec.payload.to_vec());
    }
    for (seq, payload) in acked {
        assert_eq!(
            found.get(seq),
            Some(payload),
            "acknowledged record {seq} lost"
        );
    }
}

#[test]
fn injected_faults_poison_the_writer_and_lose_nothing_acknowledged() {
    let mut poisoned_runs = 0;
    for seed in 0..150u64 {
        let faults = Faults {
            short_write_permille: 200,
            write_eio_permille: 8,
            enospc_permille: 8,
            sync_fail_permille: 8,
        };
        let durability = if seed % 4 == 0 {
            Durability::Always
        } else {
            Durability::Batch
        };
        let (sim, acked, poisoned) = run(seed, faults, durability);
        poisoned_runs += u32::from(poisoned);
        check_crash_image(&sim, &acked);
    }
    assert!(
        poisoned_runs > 50,
        "faults were injected ({poisoned_runs} poisoned runs)"
    );
}

#[test]
fn a_failed_sync_is_never_retried() {
    let sim = SimLog::new(Vec::new(), Faults::default(), 5);
    let log = AuditLog::create_with(Box::new(sim.clone()), LogOptions::new()).unwrap();
    log.append(b"1").unwrap();
    let (syncs_before, _) = sim.counts();
    sim.set_faults(Faults {
        sync_fail_permille: 1000,
        ..Faults::default()
    });
    let err = log.append(b"2").unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Poisoned {
                op: "fdatasync",
                ..
            }
        ),
        "{err}"
    );
    sim.set_faults(Faults::default());
    let (_, writes) = sim.counts();
    assert!(matches!(
        log.append(b"3").unwrap_err(),
        AuditError::Poisoned { .. }
    ));
    assert!(matches!(
        log.flush().unwrap_err(),
        AuditError::Poisoned { .. }
    ));
    assert_eq!(
        sim.counts(),
        (syncs_before, writes),
        "no write or sync after poisoning"
    );
}

#[test]
fn short_writes_alone_are_completed_not_fatal() {
    let faults = Faults {
        short_write_permille: 1000,
        ..Faults::default()
    };
    let (sim, acked, poisoned) = run(77, faults, Durability::Batch);
    assert!(!poisoned);
    assert_eq!(acked.len(), 160);
    let mut file = sim.clone();
    assert_eq!(file.len().unwrap() as usize, sim.durable().len());
    check_crash_image(&sim, &acked);
}

/// Power loss: only synced bytes survive (`SimLog::durable`). Every record
/// acknowledged under `Batch` or `Always` durability must be in them, so a
/// missing, misplaced or skipped `fdatasync` before an acknowledgement
/// loses a record here (SIGKILL cannot show this: the page cache survives
/// it). `Durability::None` promises no such thing, and indeed loses them.
#[test]
fn power_loss_keeps_every_acknowledged_record() {
    for durability in [Durability::Batch, Durability::Always, Durability::None] {
        let sim = SimLog::new(Vec::new(), Faults::default(), 3);
        let log = AuditLog::create_with(
            Box::new(sim.clone()),
            LogOptions::new()
                .durability(durability)
                .checkpoint_every(5)
                .checkpoint_on_close(false),
        )
        .unwrap();
        let mut acked = Vec::new();
        for i in 0..20u64 {
            let p = format!("{{\"i\":{i}}}").into_bytes();
            if i % 4 == 0 {
                let r = log.append_batch(&[p.clone(), p.clone()]).unwrap();
                acked.extend(r.iter().map(|r| (r.seq, p.clone())));
            } else {
                acked.push((log.append(&p).unwrap().seq, p));
            }
        }
        // The power fails now: the process never gets to flush or close.
        let durable = sim.durable();
        drop(log);
        let reopened = SimLog::new(durable, Faults::default(), 0);
        drop(AuditLog::open_with(Box::new(reopened.clone()), LogOptions::new()).unwrap());
        let bytes = reopened.contents();
        let mut found = std::collections::BTreeMap::new();
        let mut reader = VerifiedReader::new(&bytes[..], &VerifyOptions::new());
        while let Some(rec) = reader.next_record().unwrap() {
            found.insert(rec.seq, rec.payload.to_vec());
        }
        let kept = acked
            .iter()
            .filter(|(seq, p)| found.get(seq) == Some(p))
            .count();
        if durability == Durability::None {
            assert_eq!(kept, 0, "nothing was synced after the header");
        } else {
            assert_eq!(
                kept,
                acked.len(),
                "{durability:?}: acknowledged records lost"
            );
        }
    }
}
