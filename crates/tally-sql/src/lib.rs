//! Embedded schema migrations, once for the whole project.
//!
//! Every crate that keeps tables (the ledger on PostgreSQL, the service's
//! idempotency records, the wallet's store) embeds its migrations as
//! `(version, name, sql)` and records each applied one in a shared
//! `schema_migrations (component, version, name)` table. The caller owns the
//! transaction (and, on PostgreSQL, the advisory lock that makes processes
//! starting together migrate once): everything applies in it or nothing
//! does.

/// One migration: its version (increasing), its name, its SQL.
pub type Migration = (i32, &'static str, &'static str);

/// The same steps for each database: create the record table if it is
/// missing, read what `component` has applied, apply the rest in order and
/// record each.
macro_rules! migrate_fn {
    ($(#[$doc:meta])* $name:ident, $conn:ty, $table:literal) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// The first statement that fails (the caller's transaction then
        /// applies nothing).
        pub async fn $name(
            conn: &mut $conn,
            component: &str,
            migrations: &[Migration],
        ) -> Result<(), sqlx::Error> {
            sqlx::raw_sql($table).execute(&mut *conn).await?;
            let applied: Vec<i32> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE component = $1")
                    .bind(component)
                    .fetch_all(&mut *conn)
                    .await?;
            for &(version, name, sql) in migrations {
                if applied.contains(&version) {
                    continue;
                }
                sqlx::raw_sql(sql).execute(&mut *conn).await?;
                sqlx::query(
                    "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                )
                .bind(component)
                .bind(version)
                .bind(name)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        }
    };
}

#[cfg(feature = "sqlite")]
migrate_fn!(
    /// Applies `component`'s migrations that a SQLite database lacks, on
    /// `conn` (inside the caller's transaction).
    apply_sqlite,
    sqlx::SqliteConnection,
    "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, \
     version INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (component, version))"
);

#[cfg(feature = "postgres")]
migrate_fn!(
    /// Applies `component`'s migrations that a PostgreSQL database lacks,
    /// on `conn` (inside the caller's transaction, under its advisory lock).
    apply_postgres,
    sqlx::PgConnection,
    "CREATE TABLE IF NOT EXISTS schema_migrations (\
     component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, \
     applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
);
