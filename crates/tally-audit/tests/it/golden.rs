//! Golden vectors. Record lines were derived independently from FORMAT.md
//! (Python `hashlib`/`hmac`); the Merkle vectors (the RFC 6962 reference set
//! used by Certificate Transparency) are tally-merkle's, run through this
//! crate's hasher; the signed-note vector is Go
//! `sumdb/note`'s PeterNeumann key and note; the checkpoint note was signed
//! independently (Python `cryptography`, Ed25519).

use tally_audit::storage::{Faults, SimLog};
use tally_audit::*;

use crate::common::*;

const PLAIN_HEADER: &str = r#"{"v":1,"seq":0,"kind":"header","kid":null,"epoch":0,"prev":"33a3380d29ccf93b17599a78377abfd4d0cf436a0fd9aef0f229dcc11449c10d","hash":"17b9a03ba60811e253cd5b0e58378559ff48a2c5bf1c1cd7aa12efde252b2685","payload":{"format":"tally-audit","version":1,"log_id":"0102030405060708090a0b0c0d0e0f10","hash":"sha256","mac":"none","mode":"plain","origin":"tally-audit/0102030405060708090a0b0c0d0e0f10","checkpoint_key":null}}"#;
const PLAIN_DATA: &str = r#"{"v":1,"seq":1,"kind":"data","kid":null,"epoch":0,"prev":"17b9a03ba60811e253cd5b0e58378559ff48a2c5bf1c1cd7aa12efde252b2685","hash":"a00a7cc9df174ef286a0bdea4d5bdaf6ce4527bf11a0e8542edad7aa2d4cb495","payload":{"n":1}}"#;
const PLAIN_ROOT2: &str = "76d53556eeed294755c4bf64aa38697ce57a2f428236f95ce1ea2f03a364e86a";
const KEYED_HEADER: &str = r#"{"v":1,"seq":0,"kind":"header","kid":"34a50d9cf0b449c0","epoch":0,"prev":"33a3380d29ccf93b17599a78377abfd4d0cf436a0fd9aef0f229dcc11449c10d","hash":"debf0646b470b75663ab333edf9faa55e4f08a94fac060dfedc43093e69d682b","payload":{"format":"tally-audit","version":1,"log_id":"0102030405060708090a0b0c0d0e0f10","hash":"sha256","mac":"hmac-sha256","mode":"keyed","origin":"tally-audit/0102030405060708090a0b0c0d0e0f10","checkpoint_key":null}}"#;
const KEYED_DATA: &str = r#"{"v":1,"seq":1,"kind":"data","kid":"34a50d9cf0b449c0","epoch":0,"prev":"debf0646b470b75663ab333edf9faa55e4f08a94fac060dfedc43093e69d682b","hash":"bc0f7f4b6024b5b374c995b318594cae307d40806954291a6517046875f187cf","payload":{"n":1}}"#;
const KEYED_ROOT2: &str = "e6f6249b4da8eea411ced0d0a4b484320843ee09cd024c566f5f012319d8f921";

fn h(s: &str) -> Hash {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

fn two_record_log(key: Option<AuditKey>) -> Vec<u8> {
    let sim = SimLog::new(Vec::new(), Faults::default(), 0);
    let mut opts = LogOptions::new()
        .log_id(LogId::from_bytes(LOG_ID))
        .checkpoint_on_close(false)
        .durability(Durability::None);
    if let Some(k) = key {
        opts = opts.key(k);
    }
    let log = AuditLog::create_with(Box::new(sim.clone()), opts).unwrap();
    log.append(br#"{"n":1}"#).unwrap();
    drop(log);
    sim.contents()
}

#[test]
fn plain_record_lines_match_independent_derivation() {
    let bytes = two_record_log(None);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(text, format!("{PLAIN_HEADER}\n{PLAIN_DATA}\n"));
    let s = verify_bytes(&bytes, &VerifyOptions::new()).unwrap();
    assert_eq!(s.root, h(PLAIN_ROOT2));
    assert_eq!(
        s.head,
        h("a00a7cc9df174ef286a0bdea4d5bdaf6ce4527bf11a0e8542edad7aa2d4cb495")
    );
}

#[test]
fn keyed_record_lines_match_independent_derivation() {
    let bytes = two_record_log(Some(fixed_key()));
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(text, format!("{KEYED_HEADER}\n{KEYED_DATA}\n"));
    assert_eq!(fixed_key().kid().to_string(), "34a50d9cf0b449c0");
    let opts = VerifyOptions::new().keys(Keyring::new().with(fixed_key()));
    assert_eq!(verify_bytes(&bytes, &opts).unwrap().root, h(KEYED_ROOT2));
}

#[test]
fn every_line_is_json_readable_by_a_general_parser() {
    let bytes = sim_log(10, Some(fixed_key()), 4);
    for line in lines(&bytes) {
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert!(v.get("payload").is_some() && v.get("seq").is_some());
    }
}

#[test]
fn forward_secure_evolution_matches_independent_derivation() {
    // K1 = HMAC(K0, "tally/audit/evolve/v1" || u64be(1)); MAC_K1(0^32):
    let k1 = fixed_key().at_epoch(1).unwrap();
    let text = k1.to_file_text();
    assert!(
        text.contains("ba961dd2a90237aa6ce8de3a0e41085f910dc630ef140b5131233c053d0a0867"),
        "{}",
        text.as_str()
    );
}

#[test]
fn signed_note_matches_go_sumdb_vector() {
    let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    let want = format!(
        "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    );
    let signer = CheckpointSigner::parse(skey).unwrap();
    assert_eq!(signer.verifier().to_vkey(), vkey);
    assert_eq!(signer.to_skey().as_str(), skey);
    assert_eq!(signer.sign(text).unwrap(), want);
    let verifier = NoteVerifier::parse(vkey).unwrap();
    assert_eq!(verifier.open(&want).unwrap(), text);
    assert!(
        verifier
            .open(&want.replace("cryptography", "cryptographY"))
            .is_err()
    );
}

#[test]
fn checkpoint_note_matches_independent_signature() {
    let cp = Checkpoint::new("example.org/audit", 2, h(PLAIN_ROOT2)).unwrap();
    let note = signer().sign(&cp.body()).unwrap();
    let want = "example.org/audit\n2\ndtU1Vu7tKUdVxL9kqjhpfOV6L0KCNvlc4eovA6Nk6Go=\n\n\u{2014} example.org/audit G0Wc9pg+xrLlwoTAeddeLKmrJIhhNOujCHdi03Yg+m9yRLizVIedCrloOAO0SbwjNj8NLRGO7HOt2iMzxHcOA5TTAQI=\n";
    assert_eq!(note, want);
    assert_eq!(
        signer().verifier().to_vkey(),
        "example.org/audit+1b459cf6+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
    );
    assert_eq!(signer().verifier().open_checkpoint(want).unwrap(), cp);
}
