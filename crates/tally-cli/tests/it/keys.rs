//! `tally keys generate / trusted`: one key file and one trusted-keys file
//! for reward manifests and audit checkpoints.

use std::os::unix::fs::PermissionsExt;

use crate::support::tally;

#[test]
fn generate_writes_a_private_key_and_trusted_prints_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let out = tally()
        .args(["keys", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = generated["keys"][0]["key_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("key id {id}")
    );
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("tally-ed25519-secret-v1:")
    );
    // The trusted-keys entry is derived again from the key file alone.
    let out = tally()
        .args(["keys", "trusted"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again, generated);
    // Never replaces a key; refuses a key file others can read.
    let out = tally()
        .args(["keys", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = tally()
        .args(["keys", "trusted"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lets group or others in"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty());
}
