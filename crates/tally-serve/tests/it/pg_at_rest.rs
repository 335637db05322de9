//! The rewarder's PostgreSQL rows sealed at rest (`--at-rest-key-file`
//! with `--database`): over a real throw-away database, the bytes in the
//! tables are not the plaintext, a row opens only in its own place and
//! under a key of the keyring, a flipped byte is refused, a sealed row is
//! refused by a process without the key (and a plain row by one with a
//! key), and `reencrypt_database` seals plain rows and moves old keys'
//! rows to the current one.

use std::path::{Path, PathBuf};

use sqlx::{Connection, PgConnection};
use tally_reward::cid::Cid;
use tally_serve::config::Limits;
use tally_serve::rewarder::Rewarder;
use tally_serve::vault::{AtRestFiles, Keyring, Reencrypted, is_sealed};

use crate::pg::TestDb;
use crate::rewarder::{
    inputs_json, ops, put_policy, rewarder_config, run, sealed_of, signed_policy, upload,
};
use crate::support::{Resp, Server, get, runtime};

/// A process over `db` (the rewarder keys of `keys`), its rows sealed under
/// `at_rest` when given.
async fn start(db: &TestDb, keys: &Path, at_rest: Option<AtRestFiles>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::support::config(dir.path(), Limits::default());
    c.database = Some(db.url.clone());
    c.rewarder = rewarder_config(keys);
    c.at_rest = at_rest;
    Server::start_config(dir, c).await
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn files(key_file: &Path, keyring: Option<&Path>) -> Option<AtRestFiles> {
    Some(AtRestFiles {
        key_file: key_file.to_path_buf(),
        keyring: keyring.map(Path::to_path_buf),
    })
}

async fn row(conn: &mut PgConnection, sql: &str, key: &str) -> Vec<u8> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(key)
        .fetch_one(conn)
        .await
        .unwrap()
}

async fn blob_row(conn: &mut PgConnection, cid: &str) -> Vec<u8> {
    row(conn, "SELECT bytes FROM reward_blobs WHERE cid = $1", cid).await
}

async fn run_row(conn: &mut PgConnection, epoch: &str) -> Vec<u8> {
    row(conn, "SELECT run FROM reward_runs WHERE epoch = $1", epoch).await
}

async fn set_run_row(conn: &mut PgConnection, epoch: &str, bytes: &[u8]) {
    sqlx::query("UPDATE reward_runs SET run = $2 WHERE epoch = $1")
        .bind(epoch)
        .bind(bytes)
        .execute(conn)
        .await
        .unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Key files `a.key` (then moved into `ring/`) and `b.key` in a private
/// directory.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Keyring::create_key_file(&dir.path().join("a.key")).unwrap();
        Keyring::create_key_file(&dir.path().join("b.key")).unwrap();
        tally_files::private::create_dir(&dir.path().join("ring")).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A's file moved into the keyring directory (a rotation to B).
    fn retire_a(&self) {
        std::fs::rename(self.path("a.key"), self.path("ring/a.key")).unwrap();
    }
}

#[test]
fn over_postgres_the_rewarder_s_rows_are_sealed_at_rest_bound_to_their_place_and_rotate() {
    runtime().block_on(async {
        let db = TestDb::create().await;
        let seal_keys = tempfile::tempdir().unwrap();
        let k = Keys::new();
        let token = ops();
        let mut conn = PgConnection::connect(&db.url).await.unwrap();

        // Under key A: an epoch computed, a second blob stored.
        let p1 = start(&db, seal_keys.path(), files(&k.path("a.key"), None)).await;
        let (x_cid, policy_cid, r) = run(&p1, &token, "2026-w49", 1_000_000, 6).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let sealed = sealed_of(&r);
        let y = inputs_json("2026-w50", 2_000_000, 3);
        let y_up = upload(&p1, &token, y.as_bytes()).await;
        let y_cid = y_up.json()["cid"].as_str().unwrap().to_owned();
        // The CID is the plaintext's; the table holds sealed bytes only.
        let x = inputs_json("2026-w49", 1_000_000, 6);
        assert_eq!(x_cid, Cid::of(x.as_bytes()).to_string());
        let stored = blob_row(&mut conn, &x_cid).await;
        assert!(is_sealed(&stored), "a blob row is not sealed");
        assert!(!contains(&stored, b"acct-1"), "plaintext in the blob row");
        let run_bytes = run_row(&mut conn, "2026-w49").await;
        assert!(is_sealed(&run_bytes), "a run row is not sealed");
        assert!(
            !contains(&run_bytes, b"run_key"),
            "plaintext in the run row"
        );
        let policy: Vec<u8> = row(
            &mut conn,
            "SELECT signed FROM reward_policies WHERE cid = $1",
            &policy_cid,
        )
        .await;
        assert!(is_sealed(&policy) && !contains(&policy, b"pool:storage"));
        // The idempotency records' bodies (the compute answer is the
        // manifest) are sealed as well.
        let bodies: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT key, body FROM serve_idempotency WHERE done = 1")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert!(
            bodies.iter().any(|(k, _)| k == "run-2026-w49"),
            "no compute record"
        );
        for (key, body) in &bodies {
            assert!(
                is_sealed(body) && !contains(body, b"pool:storage"),
                "{key} in clear"
            );
        }
        let got = get(p1.addr, &format!("/v1/blobs/{x_cid}"), &token).await;
        assert_eq!((got.status, got.body.as_slice()), (200, x.as_bytes()));
        p1.stop().await;

        // Without a key: sealed rows are refused, never served as bytes.
        let p2 = start(&db, seal_keys.path(), None).await;
        let got = get(p2.addr, &format!("/v1/blobs/{x_cid}"), &token).await;
        assert_eq!(got.status, 500, "{}", text(&got));
        let got = get(p2.addr, "/v1/rewarder/epochs/2026-w49", &token).await;
        assert_eq!(got.status, 503, "{}", text(&got));
        // A plain row written by it (a store without a key).
        let z = inputs_json("2026-w51", 3_000_000, 2);
        let z_up = upload(&p2, &token, z.as_bytes()).await;
        let z_cid = z_up.json()["cid"].as_str().unwrap().to_owned();
        assert_eq!(blob_row(&mut conn, &z_cid).await, z.as_bytes());
        p2.stop().await;

        // Rotated: B current, A in the keyring. A's rows open; the plain
        // row is refused.
        k.retire_a();
        let p3 = start(
            &db,
            seal_keys.path(),
            files(&k.path("b.key"), Some(&k.path("ring"))),
        )
        .await;
        let got = get(p3.addr, &format!("/v1/blobs/{x_cid}"), &token).await;
        assert_eq!((got.status, got.body.as_slice()), (200, x.as_bytes()));
        let got = get(p3.addr, "/v1/rewarder/epochs/2026-w49", &token).await;
        assert_eq!(got.status, 200, "{}", text(&got));
        assert_eq!(sealed_of(&got), sealed);
        let got = get(
            p3.addr,
            &format!("/v1/rewarder/policies/{policy_cid}"),
            &token,
        )
        .await;
        assert_eq!(got.status, 200, "{}", text(&got));
        let got = get(p3.addr, &format!("/v1/blobs/{z_cid}"), &token).await;
        assert_eq!(got.status, 500, "{}", text(&got));
        // A new row is sealed under B (another key id than A's rows).
        let w = signed_policy("pool:storage", 1_000_004);
        let w_up = upload(&p3, &token, w.as_bytes()).await;
        let w_cid = w_up.json()["cid"].as_str().unwrap().to_owned();
        let under_b = blob_row(&mut conn, &w_cid).await;
        assert_ne!(under_b[8..16], stored[8..16]);
        // A second policy, under B.
        let p2 = put_policy(&p3, &token, "pol-2", &w).await;
        assert_eq!(p2.status, 200, "{}", text(&p2));
        let p2_cid = p2.json()["cid"].as_str().unwrap().to_owned();
        p3.stop().await;

        // B alone: A's rows no longer open.
        let p4 = start(&db, seal_keys.path(), files(&k.path("b.key"), None)).await;
        let got = get(p4.addr, &format!("/v1/blobs/{x_cid}"), &token).await;
        assert_eq!(got.status, 500, "{}", text(&got));
        p4.stop().await;

        // Re-sealed under B (A's rows: blobs x and y, the policy, the
        // run; z's plain row; w and the second policy already under B),
        // then again: nothing left to do.
        let ring = Keyring::load(&k.path("b.key"), Some(&k.path("ring"))).unwrap();
        let done = Rewarder::reencrypt_database(&db.url, &ring, 1 << 20)
            .await
            .unwrap();
        assert_eq!(
            done,
            Reencrypted {
                resealed: 4,
                sealed_plain: 1,
                current: 2
            }
        );
        let again = Rewarder::reencrypt_database(&db.url, &ring, 1 << 20)
            .await
            .unwrap();
        assert_eq!(
            (again.resealed, again.sealed_plain, again.current),
            (0, 0, 7)
        );
        assert!(is_sealed(&blob_row(&mut conn, &z_cid).await));

        // B alone now opens every row; a row moved to another CID's place
        // and a flipped byte are refused.
        let x_row = blob_row(&mut conn, &x_cid).await;
        sqlx::query("UPDATE reward_blobs SET bytes = $2 WHERE cid = $1")
            .bind(&y_cid)
            .bind(&x_row)
            .execute(&mut conn)
            .await
            .unwrap();
        // A policy row in another policy's place: only the binding of the
        // row's key refuses it (a policy's bytes are not checked against
        // its CID as a blob's are).
        let p1_row = row(
            &mut conn,
            "SELECT signed FROM reward_policies WHERE cid = $1",
            &policy_cid,
        )
        .await;
        sqlx::query("UPDATE reward_policies SET signed = $2 WHERE cid = $1")
            .bind(&p2_cid)
            .bind(&p1_row)
            .execute(&mut conn)
            .await
            .unwrap();
        let good_run = run_row(&mut conn, "2026-w49").await;
        let mut flipped = good_run.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 1;
        set_run_row(&mut conn, "2026-w49", &flipped).await;
        let p5 = start(&db, seal_keys.path(), files(&k.path("b.key"), None)).await;
        for (cid, want) in [(&x_cid, x.as_bytes()), (&z_cid, z.as_bytes())] {
            let got = get(p5.addr, &format!("/v1/blobs/{cid}"), &token).await;
            assert_eq!((got.status, got.body.as_slice()), (200, want));
        }
        let got = get(p5.addr, &format!("/v1/blobs/{y_cid}"), &token).await;
        assert_eq!(got.status, 500, "a moved row was served: {}", text(&got));
        let got = get(p5.addr, &format!("/v1/rewarder/policies/{p2_cid}"), &token).await;
        assert_eq!(got.status, 503, "a moved policy was served: {}", text(&got));
        let got = get(
            p5.addr,
            &format!("/v1/rewarder/policies/{policy_cid}"),
            &token,
        )
        .await;
        assert_eq!(got.status, 200, "{}", text(&got));
        let got = get(p5.addr, "/v1/rewarder/epochs/2026-w49", &token).await;
        assert_eq!(got.status, 503, "a flipped byte was served: {}", text(&got));
        set_run_row(&mut conn, "2026-w49", &good_run).await;
        let got = get(p5.addr, "/v1/rewarder/epochs/2026-w49", &token).await;
        assert_eq!(got.status, 200, "{}", text(&got));
        assert_eq!(sealed_of(&got), sealed);
        p5.stop().await;
        drop(conn);
        db.drop().await;
    });
}
