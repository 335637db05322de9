//! Data protection (issue 14, seed 004 §3, §4, §15) over real HTTP: the
//! rewarder's files sealed at rest (tampering never served, rotation
//! through a keyring and a re-encryption), amnesia (a child process in
//! empty directories writes no file at all), and a Unix socket (0700
//! directory, 0600 socket, a peer-uid allow-list enforced before HTTP).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tally_reward::cid::Cid;
use tally_serve::config::Limits;
use tally_serve::unix::UnixSocket;
use tally_serve::vault::{self, AtRestFiles, Keyring};

use tally_audit::{ConsistencyProof, InclusionProof, NoteVerifier};

use crate::decisions::{decide_body, get_indexed, store_policy, text};
use crate::rewarder::{metric, metrics, ops, rewarder_config, run, sealed_of, settle};
use crate::support::{Server, get, parse, post, runtime, transfer_body};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn private_dir(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
            out.push(e.path());
        }
    }
    out
}

/// A new current key in `<dir>/at-rest/current.key` (the directory 0700).
fn fresh_key(dir: &Path) -> AtRestFiles {
    let keys = dir.join("at-rest");
    private_dir(&keys);
    let key_file = keys.join("current.key");
    Keyring::create_key_file(&key_file).unwrap();
    AtRestFiles {
        key_file,
        keyring: None,
    }
}

async fn start_sealed(dir: tempfile::TempDir, at_rest: Option<AtRestFiles>) -> Server {
    let mut c = crate::support::config(dir.path(), Limits::default());
    c.rewarder = rewarder_config(dir.path());
    c.at_rest = at_rest;
    let running = tally_serve::start(c).await.unwrap();
    let admin = std::fs::read_to_string(&running.admin_token_file)
        .unwrap()
        .trim()
        .to_owned();
    Server {
        addr: running.addr,
        running: Some(running),
        admin,
        dir,
    }
}

fn flip_last_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// The idempotency records' bodies of a server with an at-rest key are
/// sealed too (the compute route's answer is the manifest):
/// `serve.sqlite` holds no epoch or funding account in clear; a retry replays the
/// first answer byte for byte; a body altered, or a status changed beside
/// it, in the database is never replayed (500). Without the sealing the
/// manifest's fields are found in the file and the altered record is
/// replayed.
#[test]
fn idempotency_records_are_sealed_at_rest_and_never_replayed_when_altered() {
    use sqlx::{Connection, SqliteConnection};
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let files = fresh_key(dir.path());
        let s = start_sealed(dir, Some(files.clone())).await;
        let token = ops();
        let (inputs_cid, policy_cid, first) = run(&s, &token, "2026-12", 1_000, 5).await;
        assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
        // The answer is the sealed manifest (epoch, pool, funding account).
        assert!(first.body.windows(12).any(|w| w == b"pool:storage"));
        let again = crate::rewarder::compute(&s, &token, "run-2026-12", "2026-12", &inputs_cid, &policy_cid).await;
        assert_eq!((again.status, &again.body), (200, &first.body));
        let dir = s.stop().await;
        let db = dir.path().join("data").join("serve.sqlite");
        let url = format!("sqlite://{}", db.display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT key, body FROM idempotency WHERE done = 1")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"pol-2026-12") && keys.contains(&"run-2026-12"), "{keys:?}");
        for (key, body) in &rows {
            assert!(vault::is_sealed(body), "{key} is not sealed");
            for needle in [&b"2026-12"[..], b"pool:storage", b"payouts_root"] {
                assert!(!body.windows(needle.len()).any(|w| w == needle), "{key} holds a value in clear");
            }
        }
        // A body altered: not replayed.
        sqlx::query("UPDATE idempotency SET body = substr(body, 1, length(body) - 1) || x'00' WHERE key = 'run-2026-12'")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let s = start_sealed(dir, Some(files.clone())).await;
        let r = crate::rewarder::compute(&s, &token, "run-2026-12", "2026-12", &inputs_cid, &policy_cid).await;
        assert_eq!((r.status, r.code().as_str()), (500, "INTERNAL"), "{}", String::from_utf8_lossy(&r.body));
        let dir = s.stop().await;
        // The body intact, its status changed beside it: not replayed.
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        let policy_key = "pol-2026-12";
        sqlx::query("UPDATE idempotency SET status = 201 WHERE key = $1")
            .bind(policy_key)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let s = start_sealed(dir, Some(files)).await;
        let r = crate::rewarder::put_policy(
            &s,
            &token,
            policy_key,
            &crate::rewarder::signed_policy("pool:storage", 1_000_003),
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (500, "INTERNAL"), "{}", String::from_utf8_lossy(&r.body));
        // Without the key, a sealed record is never replayed as bytes.
        let dir = s.stop().await;
        let s = start_sealed(dir, None).await;
        let r = crate::rewarder::put_policy(
            &s,
            &token,
            policy_key,
            &crate::rewarder::signed_policy("pool:storage", 1_000_003),
        )
        .await;
        assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));
        s.stop().await;
    });
}

#[test]
fn sealed_at_rest_blobs_and_manifests_never_hold_plaintext_and_tampering_is_never_served() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let files = fresh_key(dir.path());
        let key_file = files.key_file.clone();
        assert_eq!(mode(&key_file), 0o600);
        let s = start_sealed(dir, Some(files.clone())).await;
        let token = ops();
        let (inputs_cid, _, r) = run(&s, &token, "2026-12", 1_000, 5).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let sealed = sealed_of(&r);
        let inputs = get(s.addr, &format!("/v1/blobs/{inputs_cid}"), &token).await;
        assert_eq!(inputs.status, 200);
        // The content id is still that of the plaintext.
        assert_eq!(Cid::of(&inputs.body).to_string(), inputs_cid);
        let root = s.data().join("rewarder");
        let on_disk: Vec<PathBuf> = files_under(&root)
            .into_iter()
            .filter(|p| p.is_file())
            .collect();
        // Inputs, policy, run (with its manifest), head, snapshot record.
        assert!(on_disk.len() >= 5, "{on_disk:?}");
        for path in &on_disk {
            let bytes = std::fs::read(path).unwrap();
            assert!(vault::is_sealed(&bytes), "{} is not sealed", path.display());
            assert_eq!(mode(path), 0o600, "{}", path.display());
            for needle in [&b"acct-1"[..], b"2026-12", b"pool:storage", b"schema"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} holds {:?} in clear",
                    path.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
        let dir = s.stop().await;
        // Altered on disk, after a restart (nothing cached): never served.
        let root = dir.path().join("data").join("rewarder");
        flip_last_byte(&root.join("blobs").join(&inputs_cid));
        let runs = files_under(&root.join("runs"));
        assert_eq!(runs.len(), 1);
        flip_last_byte(&runs[0]);
        let s = start_sealed(dir, Some(files.clone())).await;
        let before = metric(&metrics(&s).await, "storage_errors_total");
        let blob = get(s.addr, &format!("/v1/blobs/{inputs_cid}"), &token).await;
        assert_eq!((blob.status, blob.code().as_str()), (500, "INTERNAL"));
        assert!(!blob.body.windows(6).any(|w| w == b"acct-1"));
        let epoch = get(s.addr, "/v1/rewarder/epochs/2026-12", &token).await;
        assert_ne!(epoch.status, 200);
        assert!(metric(&metrics(&s).await, "storage_errors_total") > before);
        let dir = s.stop().await;
        // A key file group or others can read stops the start.
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut c = crate::support::config(dir.path(), Limits::default());
        c.rewarder = rewarder_config(dir.path());
        c.at_rest = Some(files);
        let err = tally_serve::start(c).await.unwrap_err();
        assert!(err.to_string().contains("0640"), "{err}");
        drop(sealed);
    });
}

#[test]
fn rotation_old_keys_open_from_the_keyring_and_reencrypt_moves_every_file_to_the_new_key() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("at-rest");
        let ring = dir.path().join("at-rest-old");
        private_dir(&keys);
        private_dir(&ring);
        let old_id = Keyring::create_key_file(&keys.join("current.key")).unwrap();
        let only_current = AtRestFiles {
            key_file: keys.join("current.key"),
            keyring: None,
        };
        let s = start_sealed(dir, Some(only_current.clone())).await;
        let token = ops();
        let (inputs_cid, _, r) = run(&s, &token, "2026-11", 1_000, 4).await;
        assert_eq!(r.status, 200);
        let manifest = sealed_of(&r);
        let dir = s.stop().await;
        // Rotate: the old key moves to the keyring, a new one is current.
        std::fs::rename(keys.join("current.key"), ring.join(format!("{old_id}.key"))).unwrap();
        let new_id = Keyring::create_key_file(&keys.join("current.key")).unwrap();
        assert_ne!(old_id, new_id);
        // Without the old key, the old files are refused, never served.
        let s = start_sealed(dir, Some(only_current.clone())).await;
        let blob = get(s.addr, &format!("/v1/blobs/{inputs_cid}"), &token).await;
        assert_eq!(blob.status, 500);
        let dir = s.stop().await;
        let with_ring = AtRestFiles {
            key_file: keys.join("current.key"),
            keyring: Some(ring.clone()),
        };
        let s = start_sealed(dir, Some(with_ring.clone())).await;
        assert_eq!(
            get(s.addr, &format!("/v1/blobs/{inputs_cid}"), &token)
                .await
                .status,
            200
        );
        let epoch = get(s.addr, "/v1/rewarder/epochs/2026-11", &token).await;
        assert_eq!(epoch.status, 200);
        assert_eq!(sealed_of(&epoch), manifest);
        // New files go under the new key.
        let (_, _, r) = run(&s, &token, "2026-12", 5_000, 3).await;
        assert_eq!(r.status, 200);
        let dir = s.stop().await;
        let root = dir.path().join("data").join("rewarder");
        let ring_keys = Keyring::load(&keys.join("current.key"), Some(&ring)).unwrap();
        let done = vault::reencrypt(&root, &ring_keys, 1 << 30, &["seal.key"]).unwrap();
        // Epoch 2026-11: inputs, policy, run, snapshot record under the old key;
        // epoch 2026-12: inputs, run, snapshot record, the head and the
        // recent-epochs index under the new.
        assert_eq!((done.resealed, done.current), (4, 5), "{done:?}");
        assert_eq!(done.sealed_plain, 0);
        let again = vault::reencrypt(&root, &ring_keys, 1 << 30, &["seal.key"]).unwrap();
        assert_eq!(again.resealed, 0);
        // The old key can go: everything opens under the new one alone.
        std::fs::remove_file(ring.join(format!("{old_id}.key"))).unwrap();
        let s = start_sealed(dir, Some(only_current)).await;
        assert_eq!(
            get(s.addr, &format!("/v1/blobs/{inputs_cid}"), &token)
                .await
                .status,
            200
        );
        let epoch = get(s.addr, "/v1/rewarder/epochs/2026-11", &token).await;
        assert_eq!(sealed_of(&epoch), manifest);
        let r = settle(s.addr, &token, "settle-1", "2026-11").await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        s.stop().await;
    });
}

#[test]
fn a_plain_store_is_sealed_by_reencrypt_and_then_refuses_plain_files() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let s = start_sealed(dir, None).await;
        let token = ops();
        let (inputs_cid, _, r) = run(&s, &token, "2026-10", 1_000, 3).await;
        assert_eq!(r.status, 200);
        let dir = s.stop().await;
        let keys = dir.path().join("at-rest");
        private_dir(&keys);
        Keyring::create_key_file(&keys.join("k.key")).unwrap();
        let files = AtRestFiles {
            key_file: keys.join("k.key"),
            keyring: None,
        };
        let root = dir.path().join("data").join("rewarder");
        let blob_path = root.join("blobs").join(&inputs_cid);
        let plain = std::fs::read(&blob_path).unwrap();
        let ring = Keyring::load(&files.key_file, None).unwrap();
        let done = vault::reencrypt(&root, &ring, 1 << 30, &["seal.key"]).unwrap();
        assert!(done.sealed_plain >= 5, "{done:?}");
        assert!(vault::is_sealed(&std::fs::read(&blob_path).unwrap()));
        let s = start_sealed(dir, Some(files.clone())).await;
        assert_eq!(
            get(s.addr, &format!("/v1/blobs/{inputs_cid}"), &token)
                .await
                .body,
            plain
        );
        let dir = s.stop().await;
        // A plain file put back in place of a sealed one is refused.
        std::fs::write(&blob_path, &plain).unwrap();
        let s = start_sealed(dir, Some(files)).await;
        let r = get(s.addr, &format!("/v1/blobs/{inputs_cid}"), &token).await;
        assert_eq!(r.status, 500);
        s.stop().await;
    });
}

// ------------------------------------------------------------- amnesia --

const CHILD: &str = "TALLY_SERVE_AMNESIA_CHILD";

/// The child: an amnesiac server in the working directory it was given,
/// its address and admin token on stdout, stopped by a line on stdin.
fn amnesia_child(trusted: &str) {
    runtime().block_on(async {
        let mut c = tally_serve::Config::new("tally-data");
        c.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        c.amnesia = true;
        c.rewarder.trusted_keys = Some(PathBuf::from(trusted));
        let running = tally_serve::start(c).await.unwrap();
        let token = running.admin_token.as_ref().unwrap().as_str().to_owned();
        println!("amnesia-addr {}", running.addr);
        println!("amnesia-token {token}");
        let vkey = running.decisions_vkey.as_ref().unwrap().to_vkey();
        println!("amnesia-vkey {vkey}");
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        running.stop().await;
        println!("amnesia-stopped");
    });
}

#[test]
fn amnesia_a_server_in_empty_directories_writes_no_file_anywhere() {
    if let Ok(trusted) = std::env::var(CHILD) {
        amnesia_child(&trusted);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (work, home, tmpdir, keys) = (
        tmp.path().join("work"),
        tmp.path().join("home"),
        tmp.path().join("tmp"),
        tmp.path().join("keys"),
    );
    for d in [&work, &home, &tmpdir, &keys] {
        std::fs::create_dir(d).unwrap();
    }
    // The trusted keys (read only) live apart from the watched directories.
    let _ = rewarder_config(&keys);
    let keys_before = files_under(&keys);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "protect::amnesia_a_server_in_empty_directories_writes_no_file_anywhere",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .current_dir(&work)
        .env(CHILD, keys.join("trusted.json"))
        .env("HOME", &home)
        .env("TMPDIR", &tmpdir)
        .env("XDG_RUNTIME_DIR", &tmpdir)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    let mut token = None;
    let mut vkey = None;
    while addr.is_none() || token.is_none() || vkey.is_none() {
        let line = lines
            .next()
            .expect("the child printed its address")
            .unwrap();
        // libtest's "test <name> ... " has no newline: the line may start with it.
        if let Some((_, a)) = line.split_once("amnesia-addr ") {
            addr = Some(a.parse::<std::net::SocketAddr>().unwrap());
        }
        if let Some((_, t)) = line.split_once("amnesia-token ") {
            token = Some(t.to_owned());
        }
        if let Some((_, k)) = line.split_once("amnesia-vkey ") {
            vkey = Some(NoteVerifier::parse(k).unwrap());
        }
    }
    let (addr, admin, vkey) = (addr.unwrap(), token.unwrap(), vkey.unwrap());
    runtime().block_on(async {
        let s = Server {
            running: None,
            addr,
            admin: admin.clone(),
            dir: tempfile::tempdir_in(tmp.path()).unwrap(),
        };
        // The ledger (journal), idempotency (SQLite), the rewarder (blobs,
        // policies, runs, settlement) and tokens, all exercised.
        let r = post(
            addr,
            "/v1/ledger/accounts",
            &admin,
            "a1",
            &crate::support::accounts_body(1, 2),
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let t = transfer_body(9, 1, 2, 5);
        assert_eq!(
            post(addr, "/v1/ledger/transfers", &admin, "t1", &t)
                .await
                .status,
            200
        );
        let replay = post(addr, "/v1/ledger/transfers", &admin, "t1", &t).await;
        assert_eq!(replay.status, 200);
        assert_eq!(
            get(addr, "/v1/ledger/transfers/9/proof", &admin)
                .await
                .status,
            200
        );
        let (_, _, r) = run(&s, &admin, "2026-12", 1_000, 4).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let r = settle(addr, &admin, "s1", "2026-12").await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let minted = post(
            addr,
            "/v1/tokens",
            &admin,
            "m1",
            r#"{"tenant":"acme","scopes":["ledger.read"]}"#,
        )
        .await;
        assert_eq!(
            minted.status,
            200,
            "{}",
            String::from_utf8_lossy(&minted.body)
        );
        // The decision log in memory: a stored policy, a decision, its
        // record and its inclusion proof verified under the key the server
        // made in memory and handed out at start, a checkpoint, and a
        // consistency proof between two checkpoints.
        let digest = store_policy(&s, "dp1").await;
        let (mut seqs, mut sizes) = (Vec::new(), Vec::new());
        for n in 1..=2u64 {
            let r = post(
                addr,
                "/v1/decisions",
                &admin,
                &format!("d{n}"),
                &decide_body(&digest, n, None),
            )
            .await;
            assert_eq!(r.status, 200, "{}", text(&r));
            seqs.push(r.json()["seq"].as_u64().unwrap());
            let cp = get(addr, "/v1/audit/checkpoint", &admin).await;
            assert_eq!(cp.status, 200, "{}", text(&cp));
            sizes.push(cp.json()["size"].as_u64().unwrap());
        }
        let r = get_indexed(&s, &format!("/v1/decisions/{}", seqs[0]), &admin).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let proof = InclusionProof::parse(r.json()["proof"].as_str().unwrap()).unwrap();
        let proven = proof.verify(&vkey, &tally_audit::Keyring::new()).unwrap();
        assert_eq!(proven.record.seq, seqs[0]);
        let r = get_indexed(&s, &format!("/v1/audit/entries/{}", seqs[1]), &admin).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let proof = InclusionProof::parse(&text(&r)).unwrap();
        assert_eq!(
            proof
                .verify(&vkey, &tally_audit::Keyring::new())
                .unwrap()
                .record
                .seq,
            seqs[1]
        );
        let (old, new) = (sizes[0], sizes[1]);
        assert!(old < new, "{sizes:?}");
        let r = get_indexed(
            &s,
            &format!("/v1/audit/consistency?old={old}&new={new}"),
            &admin,
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        ConsistencyProof::parse(&text(&r))
            .unwrap()
            .verify(&vkey)
            .unwrap();
        drop(s);
    });
    child.stdin.take().unwrap().write_all(b"stop\n").unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(rest.iter().any(|l| l == "amnesia-stopped"), "{rest:?}");
    assert!(child.wait().unwrap().success());
    for (name, d) in [
        ("working directory", &work),
        ("HOME", &home),
        ("TMPDIR", &tmpdir),
    ] {
        let found = files_under(d);
        assert!(found.is_empty(), "amnesia wrote into the {name}: {found:?}");
    }
    assert_eq!(files_under(&keys), keys_before);
}

#[test]
fn amnesia_refuses_options_that_would_keep_something_on_disk() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::support::config(dir.path(), Limits::default());
        c.amnesia = true;
        let err = tally_serve::start(c).await.unwrap_err();
        assert!(err.to_string().contains("--keys-dir"), "{err}");
        let mut c = tally_serve::Config::new(dir.path().join("d"));
        c.amnesia = true;
        c.database = Some("postgres://127.0.0.1/none".to_owned());
        let err = tally_serve::start(c).await.unwrap_err();
        assert!(err.to_string().contains("--database"), "{err}");
        let mut c = tally_serve::Config::new(dir.path().join("d"));
        c.amnesia = true;
        c.at_rest = Some(AtRestFiles {
            key_file: dir.path().join("k"),
            keyring: None,
        });
        let err = tally_serve::start(c).await.unwrap_err();
        assert!(err.to_string().contains("at-rest"), "{err}");
        assert!(!dir.path().join("d").exists());
    });
}

// --------------------------------------------------------- unix socket --

/// One raw HTTP/1.1 request over the Unix socket; the bytes answered.
fn over_unix(path: &Path, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    // A refused peer may be closed before the request is written.
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => Ok(buf),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(buf),
        Err(e) => Err(e),
    }
}

async fn start_unix(
    dir: &Path,
    socket: &Path,
    allow: Vec<u32>,
) -> Result<tally_serve::Running, tally_serve::StartError> {
    let mut c = crate::support::config(dir, Limits::default());
    c.unix_socket = Some(UnixSocket {
        path: socket.to_path_buf(),
        allow_uids: allow,
    });
    tally_serve::start(c).await
}

#[test]
fn a_unix_socket_is_0600_in_a_0700_directory_and_peers_off_the_allow_list_get_no_http() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run").join("serve.sock");
        let running = start_unix(dir.path(), &socket, vec![]).await.unwrap();
        assert_eq!(running.unix_socket.as_deref(), Some(socket.as_path()));
        assert_eq!(mode(socket.parent().unwrap()), 0o700);
        assert_eq!(mode(&socket), 0o600);
        let own = std::fs::metadata(&socket).unwrap().uid();
        let admin = std::fs::read_to_string(&running.admin_token_file).unwrap();
        let req = crate::support::raw(
            "GET",
            "/v1/ledger/conservation",
            &[("Authorization", &format!("Bearer {}", admin.trim()))],
            b"",
        );
        let s2 = socket.clone();
        let answer = tokio::task::spawn_blocking(move || over_unix(&s2, &req))
            .await
            .unwrap()
            .unwrap();
        let r = parse(&answer);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        running.stop().await;
        // The same socket path again (the old socket replaced), for another
        // uid only: this process's connection is closed unanswered.
        let other = own.wrapping_add(1);
        let running = start_unix(dir.path(), &socket, vec![other]).await.unwrap();
        let s2 = socket.clone();
        let req = crate::support::raw("GET", "/healthz", &[], b"");
        let answer = tokio::task::spawn_blocking(move || over_unix(&s2, &req))
            .await
            .unwrap()
            .unwrap();
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        running.stop().await;
        // Allowed explicitly, it is served again.
        let running = start_unix(dir.path(), &socket, vec![other, own])
            .await
            .unwrap();
        let s2 = socket.clone();
        let req = crate::support::raw("GET", "/healthz", &[], b"");
        let answer = tokio::task::spawn_blocking(move || over_unix(&s2, &req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(parse(&answer).status, 200);
        running.stop().await;
        // A directory others can enter, or a regular file at the path: refused.
        std::fs::set_permissions(
            socket.parent().unwrap(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let err = start_unix(dir.path(), &socket, vec![]).await.unwrap_err();
        assert!(err.to_string().contains("0755"), "{err}");
        std::fs::set_permissions(
            socket.parent().unwrap(),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::remove_file(&socket).unwrap();
        std::fs::write(&socket, b"not a socket").unwrap();
        let err = start_unix(dir.path(), &socket, vec![]).await.unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
    });
}
