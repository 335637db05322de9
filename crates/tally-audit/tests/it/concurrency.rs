//! Many threads appending produce one contiguous, verifying chain with
//! every acknowledged record exactly once.

use std::collections::BTreeMap;

use tally_audit::*;

#[test]
fn many_threads_make_one_contiguous_verifying_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::create(
        &path,
        LogOptions::new()
            .durability(Durability::Batch)
            .checkpoint_every(97),
    )
    .unwrap();
    const THREADS: u64 = 8;
    const EACH: u64 = 150;
    let acks: Vec<Vec<(u64, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = log.clone();
                s.spawn(move || {
                    let mut acks = Vec::new();
                    // Half the threads keep several appends in flight.
                    let mut tickets = Vec::new();
                    for i in 0..EACH {
                        let p = format!("{{\"t\":{t},\"i\":{i}}}");
                        if t % 2 == 0 {
                            acks.push((log.append(p.as_bytes()).unwrap().seq, p));
                        } else {
                            tickets.push((log.submit(p.as_bytes()).unwrap(), p));
                            if tickets.len() == 16 {
                                for (tk, p) in tickets.drain(..) {
                                    acks.push((tk.wait().unwrap().seq, p));
                                }
                            }
                        }
                    }
                    for (tk, p) in tickets {
                        acks.push((tk.wait().unwrap().seq, p));
                    }
                    acks
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    log.close().unwrap();
    let acked: BTreeMap<u64, String> = acks.into_iter().flatten().collect();
    assert_eq!(
        acked.len() as u64,
        THREADS * EACH,
        "every sequence assigned once"
    );
    let mut reader = VerifiedReader::open(&path, &VerifyOptions::new()).unwrap();
    let mut data = 0;
    while let Some(rec) = reader.next_record().unwrap() {
        if rec.kind == RecordKind::Data {
            data += 1;
            assert_eq!(acked.get(&rec.seq).map(String::as_bytes), Some(rec.payload));
        }
    }
    assert_eq!(data, THREADS * EACH);
}
