//! The backends the conformance suite runs against, and throw-away
//! PostgreSQL databases for the tests that need one.

use std::future::Future;

use tally_ledger::store::MemoryStore;

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs a case on a fresh in-process ledger.
pub(crate) fn memory<F, Fut>(case: F)
where
    F: FnOnce(MemoryStore) -> Fut,
    Fut: Future<Output = ()>,
{
    runtime().block_on(case(MemoryStore::new()));
}

#[cfg(feature = "postgres")]
pub(crate) use pg::{TestDb, postgres};

#[cfg(feature = "postgres")]
mod pg {
    use std::future::Future;
    use std::hash::{BuildHasher, Hasher};

    use sqlx::{Connection, Executor, PgConnection};
    use tally_ledger::pg::PgLedger;

    /// The admin URL: `TALLY_TEST_PG`, or the local server with trust auth.
    pub(crate) fn admin_url() -> String {
        std::env::var("TALLY_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    /// A database of its own (random name), dropped by [`TestDb::drop`].
    pub(crate) struct TestDb {
        admin: String,
        name: String,
        /// The database's URL.
        pub(crate) url: String,
    }

    async fn admin(url: &str) -> PgConnection {
        PgConnection::connect(url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {url}: {e}. These tests never skip: start it \
                 with scripts/services/postgres, or point TALLY_TEST_PG at an admin URL."
            )
        })
    }

    impl TestDb {
        /// Creates a throw-away database.
        pub(crate) async fn create() -> Self {
            let admin_url = admin_url();
            let mut conn = admin(&admin_url).await;
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            let name = format!("tally_test_{:016x}", h.finish());
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            let base = admin_url.split('?').next().unwrap_or(&admin_url);
            let cut = base.rfind('/').unwrap();
            let url = format!("{}/{name}", &base[..cut]);
            Self {
                admin: admin_url,
                name,
                url,
            }
        }

        /// Drops the database (closing its connections).
        pub(crate) async fn drop(self) {
            let mut conn = admin(&self.admin).await;
            conn.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap();
        }
    }

    /// Runs a case on a fresh PostgreSQL ledger in a throw-away database,
    /// dropped afterwards whether the case passed or not.
    pub(crate) fn postgres<F, Fut>(case: F)
    where
        F: FnOnce(PgLedger) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        super::runtime().block_on(async move {
            let db = TestDb::create().await;
            let ledger = PgLedger::connect(&db.url).await.unwrap();
            let outcome = tokio::spawn(case(ledger)).await;
            db.drop().await;
            if let Err(e) = outcome {
                std::panic::resume_unwind(e.into_panic());
            }
        });
    }
}
