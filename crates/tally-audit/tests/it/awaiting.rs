//! Awaiting durability from async code: `ticket.await` never blocks the
//! polling thread and never performs the write or the sync on it; the log's
//! writer thread does, with the same group commit as the sync API.

use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tally_audit::storage::{Faults, LogFile, SimLog};
use tally_audit::{AuditError, AuditLog, Durability, LogOptions};

/// Wakes a parked thread: the smallest executor there is.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls every future on this thread until all are ready; counts the polls
/// that returned `Pending`.
fn join_all<F: Future + Unpin>(mut futures: Vec<F>) -> (Vec<F::Output>, usize) {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut pending = 0;
    loop {
        for (future, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match Pin::new(future).poll(&mut cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending += 1,
                }
            }
        }
        if out.iter().all(Option::is_some) {
            return (out.into_iter().flatten().collect(), pending);
        }
        std::thread::park_timeout(std::time::Duration::from_millis(100));
    }
}

/// A log file that records which thread wrote and synced.
struct Recording {
    sim: SimLog,
    threads: Arc<Mutex<Vec<String>>>,
}

impl Recording {
    fn note(&self) {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        self.threads.lock().unwrap().push(name);
    }
}

impl LogFile for Recording {
    fn append(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.note();
        self.sim.append(bytes)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.note();
        self.sim.sync_data()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.sim.read_at(offset, buf)
    }
    fn len(&mut self) -> io::Result<u64> {
        self.sim.len()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.sim.truncate(len)
    }
}

fn recorded_log(faults: Faults) -> (AuditLog, SimLog, Arc<Mutex<Vec<String>>>) {
    let sim = SimLog::new(Vec::new(), Faults::default(), 7);
    let threads = Arc::new(Mutex::new(Vec::new()));
    let file = Recording {
        sim: sim.clone(),
        threads: Arc::clone(&threads),
    };
    let log = AuditLog::create_with(
        Box::new(file),
        LogOptions::new()
            .durability(Durability::Batch)
            .checkpoint_on_close(false),
    )
    .unwrap();
    sim.set_faults(faults);
    threads.lock().unwrap().clear();
    (log, sim, threads)
}

#[test]
fn awaiting_never_writes_on_the_polling_thread_and_shares_one_commit() {
    let (log, sim, threads) = recorded_log(Faults::default());
    let (syncs_before, _) = sim.counts();
    let tickets: Vec<_> = (0..64)
        .map(|i| {
            log.submit(format!("{{\"n\":{i}}}").as_bytes())
                .unwrap()
                .into_future()
        })
        .collect();
    let (receipts, pending) = join_all(tickets);
    let seqs: Vec<u64> = receipts.into_iter().map(|r| r.unwrap().seq).collect();
    assert_eq!(seqs, (1..=64).collect::<Vec<u64>>());
    assert!(pending > 0, "the futures must have waited");
    // Every write and sync ran on the writer thread, none on this one.
    let threads = threads.lock().unwrap().clone();
    assert!(!threads.is_empty());
    assert!(
        threads.iter().all(|t| t == "tally-audit-writer"),
        "{threads:?}"
    );
    // 64 records submitted before the first poll: one group commit.
    let (syncs_after, _) = sim.counts();
    assert_eq!(syncs_after - syncs_before, 1);
    assert_eq!(log.durable_len(), 65);
    // A sync waiter and an async one share the same writer state.
    let a = log.submit(b"{\"a\":1}").unwrap();
    let b = log.submit(b"{\"b\":2}").unwrap().into_future();
    assert_eq!(a.wait().unwrap().seq, 65);
    let (b, _) = join_all(vec![b]);
    assert_eq!(b[0].as_ref().unwrap().seq, 66);
    let batch = log
        .submit_batch(&[b"{\"c\":3}".as_slice(), b"{\"d\":4}".as_slice()])
        .unwrap()
        .into_future();
    let (batch, _) = join_all(vec![batch]);
    let seqs: Vec<u64> = batch[0].as_ref().unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [67, 68]);
}

#[test]
fn a_failed_sync_reaches_every_awaiting_task() {
    let (log, _sim, _) = recorded_log(Faults {
        sync_fail_permille: 1000,
        ..Faults::default()
    });
    let tickets: Vec<_> = (0..3)
        .map(|_| log.submit(b"{}").unwrap().into_future())
        .collect();
    let (results, _) = join_all(tickets);
    for r in results {
        assert!(matches!(r, Err(AuditError::Poisoned { .. })), "{r:?}");
    }
    assert!(log.is_poisoned());
}

/// Dropping the last handle stops the writer thread and writes what was
/// staged; a future dropped before completion leaves nothing registered.
#[test]
fn dropping_the_log_stops_the_writer_and_keeps_what_was_staged() {
    let (log, sim, _) = recorded_log(Faults::default());
    let first = log.submit(b"{\"x\":1}").unwrap().into_future();
    let (r, _) = join_all(vec![first]);
    r[0].as_ref().unwrap();
    let abandoned = log.submit(b"{\"x\":2}").unwrap().into_future();
    drop(abandoned);
    drop(log);
    let text = String::from_utf8(sim.durable()).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
}
