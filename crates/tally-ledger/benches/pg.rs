//! The ledger on PostgreSQL with 16 concurrent clients, against a naive
//! implementation measured in the same run on the same database: one
//! transaction per transfer (`SELECT … FOR UPDATE` both accounts, check,
//! `UPDATE` both, `INSERT` the transfer, commit). The same work reaches
//! both: each client has [`PER_CLIENT`] transfers per iteration, which
//! `PgLedger` gets in batches (of 64, and of 256) and the naive one a
//! transfer at a time.
//!
//! Two workloads: transfers between random accounts among 1,000, and
//! transfers that all debit one hot account.
//!
//! ```sh
//! ./scripts/services/postgres
//! cargo bench -p tally-ledger --features postgres --bench pg
//! ```
//!
//! `TALLY_TEST_PG` overrides the admin URL (default: the local server,
//! user postgres, trust auth); the bench makes its own database and drops it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool, Row};
use tally_ledger::pg::PgLedger;
use tally_ledger::{CreateTransferResult, NewAccount, NewTransfer};

/// Concurrent clients.
const CLIENTS: u64 = 16;
/// Transfers per client in one measured iteration.
const PER_CLIENT: u64 = 256;
/// The batch sizes `PgLedger` is measured with.
const BATCHES: [usize; 2] = [64, 256];
/// Accounts.
const ACCOUNTS: u64 = 1_000;

fn admin_url() -> String {
    std::env::var("TALLY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Which accounts a transfer moves between.
#[derive(Clone, Copy)]
enum Workload {
    /// Random distinct accounts among 1,000.
    Spread,
    /// Always debits account 1.
    Hot,
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Client `client`'s transfers for one iteration: ids from `next_id`.
fn transfers(workload: Workload, rng: &mut Rng, next_id: &AtomicU64) -> Vec<NewTransfer> {
    (0..PER_CLIENT)
        .map(|_| {
            let debit = match workload {
                Workload::Spread => 1 + rng.below(ACCOUNTS),
                Workload::Hot => 1,
            };
            let mut credit = 1 + rng.below(ACCOUNTS);
            if credit == debit {
                credit = 1 + credit % ACCOUNTS;
            }
            NewTransfer {
                id: u128::from(next_id.fetch_add(1, Ordering::Relaxed)),
                debit_account_id: u128::from(debit),
                credit_account_id: u128::from(credit),
                amount: 1,
                ledger: 1,
                code: 1,
                ..NewTransfer::default()
            }
        })
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The naive peer: its own two tables, a transaction per transfer.
const NAIVE_SCHEMA: &str = "
CREATE TABLE naive_accounts (
    id NUMERIC(39, 0) PRIMARY KEY, ledger BIGINT NOT NULL, flags INTEGER NOT NULL,
    debits_posted NUMERIC(39, 0) NOT NULL, credits_posted NUMERIC(39, 0) NOT NULL);
CREATE TABLE naive_transfers (
    id NUMERIC(39, 0) PRIMARY KEY, debit_account_id NUMERIC(39, 0) NOT NULL,
    credit_account_id NUMERIC(39, 0) NOT NULL, amount NUMERIC(39, 0) NOT NULL,
    ledger BIGINT NOT NULL, code INTEGER NOT NULL, timestamp BIGINT NOT NULL);
";

/// One transfer, the naive way. Returns whether it applied.
async fn naive_transfer(pool: &PgPool, t: &NewTransfer) -> bool {
    let mut tx = pool.begin().await.unwrap();
    let rows = sqlx::query(
        "SELECT id::text, ledger, flags, debits_posted::text, credits_posted::text \
         FROM naive_accounts WHERE id = ANY($1::text[]::numeric[]) ORDER BY id FOR UPDATE",
    )
    .bind(vec![
        t.debit_account_id.to_string(),
        t.credit_account_id.to_string(),
    ])
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let account = |id: u128| {
        rows.iter()
            .find(|r| r.get::<String, _>(0) == id.to_string())
            .map(|r| {
                (
                    r.get::<i64, _>(1),
                    r.get::<i32, _>(2),
                    r.get::<String, _>(3).parse::<u128>().unwrap(),
                    r.get::<String, _>(4).parse::<u128>().unwrap(),
                )
            })
    };
    let (Some(dr), Some(cr)) = (account(t.debit_account_id), account(t.credit_account_id)) else {
        return false;
    };
    let limited = dr.1 & 2 != 0 && dr.2 + t.amount > dr.3;
    if dr.0 != cr.0 || limited {
        return false;
    }
    for (sql, id) in [
        (
            "UPDATE naive_accounts SET debits_posted = debits_posted + $2::text::numeric \
             WHERE id = $1::text::numeric",
            t.debit_account_id,
        ),
        (
            "UPDATE naive_accounts SET credits_posted = credits_posted + $2::text::numeric \
             WHERE id = $1::text::numeric",
            t.credit_account_id,
        ),
    ] {
        sqlx::query(sql)
            .bind(id.to_string())
            .bind(t.amount.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let inserted = sqlx::query(
        "INSERT INTO naive_transfers VALUES ($1::text::numeric, $2::text::numeric, \
         $3::text::numeric, $4::text::numeric, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(t.id.to_string())
    .bind(t.debit_account_id.to_string())
    .bind(t.credit_account_id.to_string())
    .bind(t.amount.to_string())
    .bind(i64::from(t.ledger))
    .bind(i32::from(t.code))
    .bind(i64::try_from(now()).unwrap())
    .execute(&mut *tx)
    .await
    .unwrap();
    if inserted.rows_affected() == 0 {
        return false;
    }
    tx.commit().await.unwrap();
    true
}

struct Setup {
    runtime: tokio::runtime::Runtime,
    admin: String,
    name: String,
    ledger: PgLedger,
    naive: PgPool,
}

fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let admin = admin_url();
    let name = format!("tally_bench_{}", std::process::id());
    let (ledger, naive) = runtime.block_on(async {
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let base = admin.split('?').next().unwrap();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        let ledger = PgLedger::connect(&url).await.unwrap();
        let naive = PgPoolOptions::new()
            .max_connections(16)
            .connect(&url)
            .await
            .unwrap();
        sqlx::raw_sql(NAIVE_SCHEMA).execute(&naive).await.unwrap();
        let accounts: Vec<NewAccount> = (1..=ACCOUNTS)
            .map(|id| NewAccount {
                id: u128::from(id),
                ledger: 1,
                code: 1,
                ..NewAccount::default()
            })
            .collect();
        ledger.create_accounts(&accounts, now()).await.unwrap();
        sqlx::query(
            "INSERT INTO naive_accounts SELECT g, 1, 0, 0, 0 FROM generate_series(1, $1) AS g",
        )
        .bind(i64::try_from(ACCOUNTS).unwrap())
        .execute(&naive)
        .await
        .unwrap();
        (ledger, naive)
    });
    Setup {
        runtime,
        admin,
        name,
        ledger,
        naive,
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        self.runtime.block_on(async {
            self.naive.close().await;
            self.ledger.pool().close().await;
            let mut conn = PgConnection::connect(&admin).await.unwrap();
            conn.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await
            .unwrap();
        });
    }
}

/// Runs `iters` iterations of 16 clients × PER_CLIENT transfers with
/// `apply` and returns the time taken (generating the transfers excluded).
fn measure<F, Fut>(
    s: &Setup,
    workload: Workload,
    next_id: &Arc<AtomicU64>,
    iters: u64,
    apply: F,
) -> Duration
where
    F: Fn(Vec<NewTransfer>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let work: Vec<Vec<NewTransfer>> = (0..CLIENTS)
            .map(|c| {
                transfers(
                    workload,
                    &mut Rng((0x9e37_79b9 ^ ((c + 1) * 7919 + i)) | 1),
                    next_id,
                )
            })
            .collect();
        let start = Instant::now();
        s.runtime.block_on(async {
            let tasks: Vec<_> = work
                .into_iter()
                .map(|w| tokio::spawn(apply.clone()(w)))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        total += start.elapsed();
    }
    total
}

fn postgres_16_clients(c: &mut Criterion) {
    let s = setup();
    let ids_tally = Arc::new(AtomicU64::new(1));
    let ids_naive = Arc::new(AtomicU64::new(1));
    let mut g = c.benchmark_group("pg_16_clients");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(CLIENTS * PER_CLIENT));
    for (name, workload) in [
        ("1000_accounts", Workload::Spread),
        ("hot_account", Workload::Hot),
    ] {
        for batch in BATCHES {
            g.bench_function(format!("{name}/tally_pg_batches_of_{batch}"), |b| {
                b.iter_custom(|iters| {
                    let ledger = s.ledger.clone();
                    measure(
                        &s,
                        workload,
                        &ids_tally,
                        iters,
                        move |work: Vec<NewTransfer>| {
                            let ledger = ledger.clone();
                            async move {
                                for events in work.chunks(batch) {
                                    let r = ledger.create_transfers(events, now()).await.unwrap();
                                    assert!(r.iter().all(|r| *r == CreateTransferResult::Ok));
                                }
                            }
                        },
                    )
                });
            });
        }
        g.bench_function(format!("{name}/naive_select_for_update"), |b| {
            b.iter_custom(|iters| {
                let pool = s.naive.clone();
                measure(
                    &s,
                    workload,
                    &ids_naive,
                    iters,
                    move |work: Vec<NewTransfer>| {
                        let pool = pool.clone();
                        async move {
                            for t in &work {
                                assert!(naive_transfer(&pool, t).await);
                            }
                        }
                    },
                )
            });
        });
    }
    g.finish();
    drop(s);
}

criterion_group!(benches, postgres_16_clients);
criterion_main!(benches);
