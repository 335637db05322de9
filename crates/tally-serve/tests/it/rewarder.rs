//! The rewarder over real HTTP on loopback: blobs, signed policies, sealed
//! epochs, payout proofs and exactly-once settlement on the embedded
//! ledger; abuse (oversized JSON, a large blob within its cap, forged,
//! unsigned and stale policies, CID mismatches, inputs paid twice under two
//! epoch ids, quarantine). The bodies shared with PostgreSQL mode
//! (`pg_rewarder`) take a server: one suite for both stores.

use std::path::Path;

use tally_reward::cid::Cid;
use tally_reward::ident::AccountId;
use tally_reward::keys::{MlDsaSigningKey, MlDsaTrustedKeys, SigningKey, TrustedKeys};
use tally_reward::manifest::{PayoutProof, SealedManifest, verify_proof};
use tally_reward::policy::Policy;
use tally_reward::settle::ledger_account_id;
use tally_serve::config::Limits;
use tally_serve::rewarder::RewarderConfig;
use tally_token::Scope;

use crate::support::{Resp, Server, call, get, mint, post, raw, runtime, send};

/// The policy signer (trusted by the server) and the manifest seal.
const POLICY_SEED: [u8; 32] = [41; 32];
const SEAL_SEED: [u8; 32] = [42; 32];

pub(crate) fn policy_key() -> SigningKey {
    SigningKey::from_seed(&POLICY_SEED)
}

fn seal_key() -> SigningKey {
    SigningKey::from_seed(&SEAL_SEED)
}

/// Tenant `ops`: runs and inspects rewards, reads the ledger.
pub(crate) fn ops() -> String {
    mint(
        "ops",
        &[
            Scope::RewarderRun,
            Scope::RewarderInspect,
            Scope::LedgerRead,
        ],
        vec![],
    )
}

/// Key files in `dir`, and the rewarder's configuration using them.
pub(crate) fn rewarder_config(dir: &Path) -> RewarderConfig {
    let trusted = dir.join("trusted.json");
    if !trusted.exists() {
        std::fs::write(
            &trusted,
            TrustedKeys::file_text(&[policy_key().trusted_entry()]),
        )
        .unwrap();
        let keys = dir.join("seal");
        std::fs::create_dir(&keys).unwrap();
        std::fs::set_permissions(&keys, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        seal_key().create_file(&keys.join("seal.key")).unwrap();
    }
    RewarderConfig {
        trusted_keys: Some(trusted),
        seal_key: Some(dir.join("seal").join("seal.key")),
        ..RewarderConfig::default()
    }
}

pub(crate) async fn start_with(
    dir: tempfile::TempDir,
    f: impl FnOnce(&mut RewarderConfig),
) -> Server {
    let mut c = crate::support::config(dir.path(), Limits::default());
    c.rewarder = rewarder_config(dir.path());
    f(&mut c.rewarder);
    Server::start_config(dir, c).await
}

async fn start() -> Server {
    start_with(tempfile::tempdir().unwrap(), |_| {}).await
}

/// Manifests verify under the seal key (and policies under the signer's).
pub(crate) fn trusted() -> TrustedKeys {
    let mut t = TrustedKeys::new();
    t.insert(&policy_key().public_key()).unwrap();
    t.insert(&seal_key().public_key()).unwrap();
    t
}

pub(crate) fn policy_json(funding: &str, pool: u64, valid_until: u64, reuse: bool) -> String {
    let reuse = if reuse {
        r#","allow_input_reuse":true"#
    } else {
        ""
    };
    format!(
        r#"{{"schema":"tally/reward/policy/v1","id":"storage","version":1,"pool":{pool},
        "funding_account":"{funding}","residual_sink":"treasury",
        "weights":{{"bytes_stored":10000,"uptime_seconds":2500}},"min_payout":1,
        "rounding":"largest_remainder","valid_from":0,"valid_until":{valid_until}{reuse}}}"#
    )
}

pub(crate) fn signed_policy(funding: &str, pool: u64) -> String {
    let p = Policy::from_json(policy_json(funding, pool, 4_102_444_800, false).as_bytes()).unwrap();
    serde_json::to_string(&p.sign(&policy_key()).unwrap()).unwrap()
}

/// Epoch inputs: `payees` accounts `acct-0…`, a window per epoch.
pub(crate) fn inputs_json(epoch: &str, window_start: u64, payees: usize) -> String {
    let accounts: Vec<String> = (0..payees)
        .map(|i| {
            format!(
                r#"{{"account":"acct-{i}","counters":{{"bytes_stored":{},"uptime_seconds":{}}}}}"#,
                (i as u64 + 1) * 37,
                (i as u64 % 7) * 11
            )
        })
        .collect();
    format!(
        r#"{{"schema":"tally/reward/inputs/v1","epoch":"{epoch}","window":{{"start":{window_start},"end":{}}},"producer":"meter","accounts":[{}]}}"#,
        window_start + 1000,
        accounts.join(",")
    )
}

pub(crate) async fn upload(s: &Server, token: &str, bytes: &[u8]) -> Resp {
    call(s.addr, "POST", "/v1/blobs", Some(token), None, bytes).await
}

pub(crate) async fn put_policy(s: &Server, token: &str, key: &str, body: &str) -> Resp {
    post(s.addr, "/v1/rewarder/policies", token, key, body).await
}

pub(crate) async fn compute(
    s: &Server,
    token: &str,
    key: &str,
    epoch: &str,
    inputs: &str,
    policy: &str,
) -> Resp {
    post(
        s.addr,
        &format!("/v1/rewarder/epochs/{epoch}/compute"),
        token,
        key,
        &format!(r#"{{"inputs_cid":"{inputs}","policy_cid":"{policy}"}}"#),
    )
    .await
}

pub(crate) async fn settle(
    addr: std::net::SocketAddr,
    token: &str,
    key: &str,
    epoch: &str,
) -> Resp {
    post(
        addr,
        &format!("/v1/rewarder/epochs/{epoch}/settle"),
        token,
        key,
        "",
    )
    .await
}

/// Uploads inputs and the signed policy, computes `epoch`: the CIDs and
/// the accepted answer.
pub(crate) async fn run(
    s: &Server,
    token: &str,
    epoch: &str,
    start: u64,
    payees: usize,
) -> (String, String, Resp) {
    let inputs = inputs_json(epoch, start, payees);
    let up = upload(s, token, inputs.as_bytes()).await;
    assert_eq!(up.status, 200, "{}", String::from_utf8_lossy(&up.body));
    let inputs_cid = up.json()["cid"].as_str().unwrap().to_owned();
    assert_eq!(inputs_cid, Cid::of(inputs.as_bytes()).to_string());
    let p = put_policy(
        s,
        token,
        &format!("pol-{epoch}"),
        &signed_policy("pool:storage", 1_000_003),
    )
    .await;
    assert_eq!(p.status, 200, "{}", String::from_utf8_lossy(&p.body));
    let policy_cid = p.json()["cid"].as_str().unwrap().to_owned();
    let r = compute(
        s,
        token,
        &format!("run-{epoch}"),
        epoch,
        &inputs_cid,
        &policy_cid,
    )
    .await;
    (inputs_cid, policy_cid, r)
}

pub(crate) async fn account(s: &Server, name: &str) -> serde_json::Value {
    let id = ledger_account_id(&AccountId::new(name).unwrap());
    let r = get(s.addr, &format!("/v1/ledger/accounts/{id}"), &s.admin).await;
    assert_eq!(r.status, 200, "account {name}");
    r.json()
}

fn amount(v: &serde_json::Value) -> u128 {
    v.as_u64()
        .map(u128::from)
        .unwrap_or_else(|| v.as_str().unwrap().parse().unwrap())
}

/// Every payee holds exactly its payout, the sink the residual, and the
/// funding account paid exactly the pool, once.
pub(crate) async fn assert_paid_once(
    s: &Server,
    sealed: &SealedManifest,
    payouts: &[(String, u64)],
) {
    let m = &sealed.manifest;
    let mut total: u128 = 0;
    for (name, paid) in payouts {
        let a = account(s, name).await;
        assert_eq!(amount(&a["credits_posted"]), u128::from(*paid), "{name}");
        assert_eq!(amount(&a["debits_posted"]), 0, "{name}");
        total += u128::from(*paid);
    }
    assert_eq!(total, u128::from(m.paid));
    if m.residual > 0 {
        let sink = account(s, m.residual_sink.as_str()).await;
        assert_eq!(amount(&sink["credits_posted"]), u128::from(m.residual));
    }
    let funding = account(s, m.funding_account.as_str()).await;
    assert_eq!(amount(&funding["debits_posted"]), u128::from(m.pool));
    assert_eq!(total + u128::from(m.residual), u128::from(m.pool));
    let c = get(s.addr, "/v1/ledger/conservation", &s.admin).await;
    assert_eq!(c.json()["balanced"], true);
}

/// The payees and amounts of an accepted epoch, from its payout proofs.
pub(crate) async fn payouts_of(
    s: &Server,
    token: &str,
    epoch: &str,
    payees: usize,
    sealed: &SealedManifest,
) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for i in 0..payees {
        let name = format!("acct-{i}");
        let r = get(
            s.addr,
            &format!("/v1/rewarder/epochs/{epoch}/payouts/{name}"),
            token,
        )
        .await;
        if r.status == 404 {
            continue;
        }
        assert_eq!(r.status, 200);
        let proof = PayoutProof::from_json(&r.body).unwrap();
        verify_proof(&proof, &sealed.manifest).unwrap();
        out.push((name, proof.payout.amount));
    }
    out
}

pub(crate) fn sealed_of(r: &Resp) -> SealedManifest {
    serde_json::from_value(r.json()["sealed"].clone()).unwrap()
}

pub(crate) fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub(crate) async fn metrics(s: &Server) -> String {
    String::from_utf8(get(s.addr, "/metrics", "").await.body).unwrap()
}

/// `REWARD_PQ_KEY_FILE`: the service seals every manifest twice, Ed25519
/// and ML-DSA-65 over the same bytes; the manifest it serves (and keeps
/// across a restart) verifies under both, and fails when the ML-DSA seal is
/// tampered with or stripped and required.
#[test]
fn a_pq_key_file_makes_the_service_dual_sign_its_manifests() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let pq = MlDsaSigningKey::from_seed(&[43; 32]);
        let pq_file = dir.path().join("pq.key");
        pq.create_file(&pq_file).unwrap();
        let s = start_with(dir, |c| c.pq_key = Some(pq_file)).await;
        let token = ops();
        let (_, _, r) = run(&s, &token, "2026-w49", 1_000_000, 9).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let sealed = sealed_of(&r);
        sealed.verify_signature(&trusted()).unwrap();
        let mut keys = MlDsaTrustedKeys::new();
        assert!(keys.insert(pq.verifying_key()));
        assert_eq!(
            sealed.verify_pq(&keys, true).unwrap(),
            tally_reward::manifest::PqStatus::Verified(pq.id())
        );
        let g = get(s.addr, "/v1/rewarder/epochs/2026-w49", &token).await;
        assert_eq!(sealed_of(&g), sealed);
        let mut stripped = sealed.clone();
        stripped.pq = None;
        assert!(stripped.verify_pq(&keys, true).is_err());
        let mut forged = sealed.clone();
        forged.manifest.residual_sink = AccountId::new("elsewhere").unwrap();
        assert!(forged.verify_pq(&keys, false).is_err());
        // The keys route publishes the ML-DSA key beside the Ed25519 one
        // (RWD-50): its answer's ML-DSA keys verify the seal, and the
        // document describes the field.
        let published = get(s.addr, "/v1/rewarder/keys", &token).await;
        assert_eq!(published.status, 200);
        let from_route = MlDsaTrustedKeys::from_json(&published.body).unwrap();
        assert_eq!(from_route.len(), 1);
        assert_eq!(
            sealed.verify_pq(&from_route, true).unwrap(),
            tally_reward::manifest::PqStatus::Verified(pq.id())
        );
        assert_eq!(TrustedKeys::from_json(&published.body).unwrap().len(), 1);
        let doc = get(s.addr, "/openapi.json", "").await.json();
        let schemas = &doc["components"]["schemas"];
        let field = &schemas["SealKeysDto"]["properties"]["ml_dsa_keys"];
        assert!(field.to_string().contains("MlDsaKeyDto"), "{field}");
        assert!(schemas["MlDsaKeyDto"]["properties"]["public_key"].is_object());
    });
}

/// A PQ key file that does not load stops the start (no silent fallback to
/// Ed25519 alone).
#[test]
fn a_bad_pq_key_file_refuses_the_start() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let pq_file = dir.path().join("pq.key");
        std::fs::write(&pq_file, "tally-ml-dsa-65-secret-v1:00\n").unwrap();
        std::fs::set_permissions(
            &pq_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let mut c = crate::support::config(dir.path(), Limits::default());
        c.rewarder = rewarder_config(dir.path());
        c.rewarder.pq_key = Some(pq_file);
        assert!(tally_serve::start(c).await.is_err());
    });
}

#[test]
fn upload_compute_verify_prove_settle_end_to_end_pays_every_payee_once() {
    runtime().block_on(async {
        let s = start().await;
        end_to_end(&s).await;
        s.stop().await;
    });
}

/// Shared by both stores: upload, compute, verify, prove, settle, settle
/// again; every payee paid once.
pub(crate) async fn end_to_end(s: &Server) {
    let token = ops();
    let (inputs_cid, policy_cid, r) = run(s, &token, "2026-w49", 1_000_000, 9).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["status"], "accepted");
    let sealed = sealed_of(&r);
    // The seal verifies offline (what `tally reward verify-proof`
    // checks) under the key the service publishes.
    let keys = get(s.addr, "/v1/rewarder/keys", &token).await;
    assert_eq!(keys.status, 200);
    let published = TrustedKeys::from_json(&keys.body).unwrap();
    assert_eq!(published.len(), 1);
    // Without REWARD_PQ_KEY_FILE the answer is as it always was.
    assert_eq!(keys.json().as_object().unwrap().len(), 1, "{}", keys.json());
    sealed.verify_signature(&published).unwrap();
    sealed.verify_signature(&trusted()).unwrap();
    let mut forged = sealed.clone();
    forged.manifest.pool += 1;
    assert!(forged.verify_signature(&trusted()).is_err());
    // The manifest binds the inputs' canonical (JCS) CID; the blob's id
    // is that of the bytes uploaded.
    let inputs = tally_reward::inputs::EpochInputs::from_json(
        inputs_json("2026-w49", 1_000_000, 9).as_bytes(),
        &tally_reward::Limits::default(),
    )
    .unwrap();
    assert_eq!(sealed.manifest.inputs_cid, inputs.cid().unwrap());
    assert_ne!(sealed.manifest.inputs_cid.to_string(), inputs_cid);
    assert_eq!(sealed.manifest.policy_cid.to_string(), policy_cid);
    assert_eq!(sealed.manifest.pool, 1_000_003);
    assert_eq!(
        v["manifest_cid"],
        sealed.manifest.cid().unwrap().to_string()
    );

    // GET: the same sealed manifest; the same run again: the first result.
    let g = get(s.addr, "/v1/rewarder/epochs/2026-w49", &token).await;
    assert_eq!(sealed_of(&g), sealed);
    let again = compute(
        s,
        &token,
        "another-key",
        "2026-w49",
        &inputs_cid,
        &policy_cid,
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(sealed_of(&again), sealed);

    // Proofs of every payee verify against the sealed manifest.
    let payouts = payouts_of(s, &token, "2026-w49", 9, &sealed).await;
    assert_eq!(payouts.len() as u64, sealed.manifest.payees);
    assert!(payouts.len() >= 8);
    let status = get(s.addr, "/v1/rewarder/epochs/2026-w49/settlement", &token).await;
    assert_eq!(status.json()["status"], "unsettled");

    let st = settle(s.addr, &token, "settle-1", "2026-w49").await;
    assert_eq!(st.status, 200, "{}", String::from_utf8_lossy(&st.body));
    let transfers = st.json()["transfers"].as_u64().unwrap();
    assert_eq!(st.json()["accepted"].as_u64().unwrap(), transfers);
    assert_eq!(st.json()["dup"].as_u64().unwrap(), 0);
    assert_paid_once(s, &sealed, &payouts).await;
    let status = get(s.addr, "/v1/rewarder/epochs/2026-w49/settlement", &token).await;
    assert_eq!(status.json()["status"], "settled");

    // Settle twice: `exists` on the ledger, nothing paid again.
    let st2 = settle(s.addr, &token, "settle-2", "2026-w49").await;
    assert_eq!(st2.status, 200);
    assert_eq!(st2.json()["accepted"].as_u64().unwrap(), 0);
    assert_eq!(st2.json()["dup"].as_u64().unwrap(), transfers);
    assert_paid_once(s, &sealed, &payouts).await;

    let m = metrics(s).await;
    assert_eq!(
        metric(&m, r#"ledger_intents_total{result="accepted"}"#),
        transfers
    );
    assert_eq!(
        metric(&m, r#"ledger_intents_total{result="dup"}"#),
        transfers
    );
    assert!(metric(&m, r#"reward_runs_total{status="ok"}"#) >= 2);
    assert!(m.contains("reward_compute_latency_seconds_count"));
}

#[test]
fn two_concurrent_settlements_pay_once() {
    runtime().block_on(async {
        let s = start().await;
        let token = ops();
        let (_, _, r) = run(&s, &token, "conc-1", 1_000_000, 12).await;
        assert_eq!(r.status, 200);
        let sealed = sealed_of(&r);
        let addr = s.addr;
        let (t1, t2) = (token.clone(), token.clone());
        let a = tokio::spawn(async move { settle(addr, &t1, "conc-a", "conc-1").await });
        let b = tokio::spawn(async move { settle(addr, &t2, "conc-b", "conc-1").await });
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!((a.status, b.status), (200, 200));
        let accepted =
            a.json()["accepted"].as_u64().unwrap() + b.json()["accepted"].as_u64().unwrap();
        let dup = a.json()["dup"].as_u64().unwrap() + b.json()["dup"].as_u64().unwrap();
        let transfers = a.json()["transfers"].as_u64().unwrap();
        assert_eq!(accepted, transfers);
        assert_eq!(dup, transfers);
        let payouts = payouts_of(&s, &token, "conc-1", 12, &sealed).await;
        assert_paid_once(&s, &sealed, &payouts).await;
        s.stop().await;
    });
}

#[test]
fn after_a_restart_the_same_epoch_settles_as_exists_and_another_run_is_a_conflict() {
    runtime().block_on(async {
        let s = start().await;
        let token = ops();
        let (inputs_cid, _, r) = run(&s, &token, "rs-1", 1_000_000, 6).await;
        assert_eq!(r.status, 200);
        let sealed = sealed_of(&r);
        let st = settle(s.addr, &token, "rs-settle", "rs-1").await;
        assert_eq!(st.status, 200);
        let transfers = st.json()["transfers"].as_u64().unwrap();
        let dir = s.stop().await;

        let s = start_with(dir, |_| {}).await;
        // The manifest survived, sealed as before.
        let g = get(s.addr, "/v1/rewarder/epochs/rs-1", &token).await;
        assert_eq!(sealed_of(&g), sealed);
        let again = settle(s.addr, &token, "rs-settle-after-restart", "rs-1").await;
        assert_eq!(
            again.status,
            200,
            "{}",
            String::from_utf8_lossy(&again.body)
        );
        assert_eq!(again.json()["accepted"].as_u64().unwrap(), 0);
        assert_eq!(again.json()["dup"].as_u64().unwrap(), transfers);
        let payouts = payouts_of(&s, &token, "rs-1", 6, &sealed).await;
        assert_paid_once(&s, &sealed, &payouts).await;

        // Another run of the accepted epoch (another pool): CONFLICT.
        let other =
            Policy::from_json(policy_json("pool:storage", 5, 4_102_444_800, false).as_bytes())
                .unwrap();
        let other = serde_json::to_string(&other.sign(&policy_key()).unwrap()).unwrap();
        let p = put_policy(&s, &token, "other-pol", &other).await;
        let other_cid = p.json()["cid"].as_str().unwrap().to_owned();
        let c = compute(&s, &token, "conflict", "rs-1", &inputs_cid, &other_cid).await;
        assert_eq!(c.status, 409);
        assert_eq!(c.code(), "CONFLICT");
        s.stop().await;
    });
}

/// The settlement record a crash leaves between counting a submission and
/// the ledger's commit (fault injection: the file `settle` writes).
fn crash_record(s: &Server, sealed: &SealedManifest, emits: u32) {
    let path = s
        .data()
        .join("rewarder/settle")
        .join(sealed.manifest.run_key.to_string());
    std::fs::write(path, format!(r#"{{"emits":{emits},"settled":false}}"#)).unwrap();
}

#[test]
fn a_crash_between_the_emit_count_and_the_ledger_retries_and_max_ledger_emits_per_run_bounds_it() {
    runtime().block_on(async {
        let s = start().await;
        let token = ops();
        let (_, _, r) = run(&s, &token, "crash-1", 1_000_000, 5).await;
        let sealed = sealed_of(&r);
        let (_, _, r2) = run(&s, &token, "crash-2", 1_001_000, 7).await;
        let sealed2 = sealed_of(&r2);
        // Killed after counting its submission, before the ledger had it.
        crash_record(&s, &sealed, 1);
        // Killed as often as the bound allows.
        crash_record(&s, &sealed2, 3);
        let dir = s.stop().await;
        let s = start_with(dir, |_| {}).await;
        let st = settle(s.addr, &token, "after-crash", "crash-1").await;
        assert_eq!(st.status, 200, "{}", String::from_utf8_lossy(&st.body));
        assert_eq!(st.json()["accepted"], st.json()["transfers"]);
        assert_eq!(st.json()["emits"], 2);
        let payouts = payouts_of(&s, &token, "crash-1", 5, &sealed).await;
        assert_paid_once(&s, &sealed, &payouts).await;
        // At MAX_LEDGER_EMITS_PER_RUN: refused, nothing paid.
        let stuck = settle(s.addr, &token, "stuck", "crash-2").await;
        assert_eq!(stuck.status, 409);
        let status = get(s.addr, "/v1/rewarder/epochs/crash-2/settlement", &token).await;
        assert_eq!(status.json()["status"], "unsettled");
        assert_eq!(status.json()["emits"], 3);
        let dir = s.stop().await;
        // The operator raises the bound: it settles, once.
        let s = start_with(dir, |c| c.max_ledger_emits_per_run = 4).await;
        let st = settle(s.addr, &token, "unstuck", "crash-2").await;
        assert_eq!(st.status, 200);
        let first: std::collections::HashMap<String, u64> =
            payouts_of(&s, &token, "crash-1", 5, &sealed)
                .await
                .into_iter()
                .collect();
        for (name, paid) in payouts_of(&s, &token, "crash-2", 7, &sealed2).await {
            // An account in both epochs holds both payouts, each once.
            let a = account(&s, &name).await;
            let both = u128::from(paid) + u128::from(first.get(&name).copied().unwrap_or(0));
            assert_eq!(amount(&a["credits_posted"]), both, "{name}");
        }
        s.stop().await;
    });
}

#[test]
fn the_same_measurements_under_a_second_epoch_id_are_refused_unless_the_policy_allows() {
    runtime().block_on(async {
        let s = start().await;
        measurements_paid_once(&s).await;
        s.stop().await;
    });
}

/// Shared by both stores: measurements paid under one epoch are refused
/// under a second unless the policy allows reuse.
pub(crate) async fn measurements_paid_once(s: &Server) {
    let token = ops();
    let (inputs_cid, policy_cid, r) = run(s, &token, "snap-1", 1_000_000, 4).await;
    assert_eq!(r.status, 200);
    // The first epoch's inputs under another epoch id: refused.
    let wrong = compute(s, &token, "wrong-epoch", "snap-2", &inputs_cid, &policy_cid).await;
    assert_eq!(wrong.status, 400);
    // The same measurements relabelled as the next epoch: refused.
    let relabelled = inputs_json("snap-2", 1_001_000, 4);
    let up = upload(s, &token, relabelled.as_bytes()).await;
    let relabelled_cid = up.json()["cid"].as_str().unwrap().to_owned();
    let c = compute(s, &token, "replay", "snap-2", &relabelled_cid, &policy_cid).await;
    assert_eq!(c.status, 409, "{}", String::from_utf8_lossy(&c.body));
    assert_eq!(c.code(), "CONFLICT");
    assert_eq!(
        get(s.addr, "/v1/rewarder/epochs/snap-2", &token)
            .await
            .status,
        404
    );
    // A policy that allows reuse: accepted.
    let reuse =
        Policy::from_json(policy_json("pool:storage", 1_000_003, 4_102_444_800, true).as_bytes())
            .unwrap();
    let reuse = serde_json::to_string(&reuse.sign(&policy_key()).unwrap()).unwrap();
    let p = put_policy(s, &token, "reuse-pol", &reuse).await;
    let reuse_cid = p.json()["cid"].as_str().unwrap().to_owned();
    let ok = compute(s, &token, "reuse", "snap-2", &relabelled_cid, &reuse_cid).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let m = metrics(s).await;
    assert!(metric(&m, r#"rejected_total{reason="conflict"}"#) >= 1);
}

/// A funding account name whose ledger id the ledger routes may create
/// (below 2^127).
fn creatable_funding() -> String {
    (0..)
        .map(|i| format!("pool:q{i}"))
        .find(|n| ledger_account_id(&AccountId::new(n.as_str()).unwrap()) < 1 << 127)
        .unwrap()
}

#[test]
fn a_run_whose_funding_account_does_not_hold_the_pool_is_quarantined_unsigned_and_never_settled() {
    runtime().block_on(async {
        let s = start().await;
        quarantine_never_settles(&s).await;
        s.stop().await;
    });
}

/// Shared by both stores: a run whose funding account does not hold the
/// pool is quarantined, unsigned, and never settled.
pub(crate) async fn quarantine_never_settles(s: &Server) {
    let token = ops();
    let funding = creatable_funding();
    let id = ledger_account_id(&AccountId::new(funding.as_str()).unwrap());
    let body = format!(
        r#"{{"accounts":[{{"id":{id},"ledger":1,"code":1,"flags":["debits_must_not_exceed_credits"]}}]}}"#
    );
    let a = post(s.addr, "/v1/ledger/accounts", &s.admin, "fund-acct", &body).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["results"][0]["result"], "ok");
    let inputs = inputs_json("q-1", 1_000_000, 3);
    let inputs_cid = upload(s, &token, inputs.as_bytes()).await.json()["cid"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = put_policy(s, &token, "q-pol", &signed_policy(&funding, 500)).await;
    let policy_cid = p.json()["cid"].as_str().unwrap().to_owned();
    let r = compute(s, &token, "q-run", "q-1", &inputs_cid, &policy_cid).await;
    assert_eq!(r.status, 423, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "QUARANTINED");
    let g = get(s.addr, "/v1/rewarder/epochs/q-1", &token).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.json()["status"], "quarantined");
    assert!(g.json().get("sealed").is_none());
    assert_eq!(g.json()["manifest"]["pool"], 500);
    let st = settle(s.addr, &token, "q-settle", "q-1").await;
    assert_eq!(st.status, 423);
    let m = metrics(s).await;
    assert_eq!(metric(&m, r#"reward_runs_total{status="quarantined"}"#), 1);
    assert!(metric(&m, r#"rejected_total{reason="invariant"}"#) >= 2);
}

#[test]
fn quarantine_only_mode_seals_but_never_settles() {
    runtime().block_on(async {
        let s = start_with(tempfile::tempdir().unwrap(), |c| c.quarantine_only = true).await;
        let token = ops();
        let (_, _, r) = run(&s, &token, "qo-1", 1_000_000, 3).await;
        assert_eq!(r.status, 200);
        sealed_of(&r).verify_signature(&trusted()).unwrap();
        let st = settle(s.addr, &token, "qo-settle", "qo-1").await;
        assert_eq!(st.status, 423);
        assert_eq!(st.code(), "QUARANTINED");
        let status = get(s.addr, "/v1/rewarder/epochs/qo-1/settlement", &token).await;
        assert_eq!(status.json()["status"], "unsettled");
        s.stop().await;
    });
}

#[test]
fn over_max_epoch_cost_a_run_is_rejected_or_forced_to_a_dry_run() {
    runtime().block_on(async {
        // 1 ms is 10,000 units; 4,000 accounts of two weighted counters
        // (some 0-valued uptime counters still count) cost ~12,000.
        let s = start_with(tempfile::tempdir().unwrap(), |c| c.max_epoch_cost_ms = 1).await;
        let token = ops();
        let (inputs_cid, policy_cid, r) = run(&s, &token, "cost-1", 1_000_000, 4_000).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        let m = metrics(&s).await;
        assert_eq!(metric(&m, r#"rejected_total{reason="over_cost"}"#), 1);
        let dir = s.stop().await;
        let s = start_with(dir, |c| {
            c.max_epoch_cost_ms = 1;
            c.over_cost = tally_reward::OverCost::DryRun;
        })
        .await;
        let d = compute(&s, &token, "cost-dry", "cost-1", &inputs_cid, &policy_cid).await;
        assert_eq!(d.status, 200);
        assert_eq!(d.json()["status"], "dry_run");
        assert!(d.json()["cost_units"].as_u64().unwrap() > 10_000);
        // Nothing sealed, nothing to settle.
        assert_eq!(
            get(s.addr, "/v1/rewarder/epochs/cost-1", &token)
                .await
                .status,
            404
        );
        s.stop().await;
    });
}

#[test]
fn abuse_oversized_json_large_blob_bomb_forged_unsigned_stale_policies_and_cid_mismatch() {
    runtime().block_on(async {
        let s = start().await;
        abuse(&s).await;
        s.stop().await;
    });
}

/// Shared by both stores: oversized JSON, a large blob within its cap, a
/// blob past it, a bomb, a CID mismatch, forged, unsigned and stale policies.
pub(crate) async fn abuse(s: &Server) {
    let token = ops();
    let auth = format!("Bearer {token}");

    // 50 MB through the blob route (within BLOB_MAX): stored, once.
    let big: Vec<u8> = (0..50_000_000u32).map(|i| (i % 251) as u8).collect();
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/octet-stream"),
    ];
    let r = send(s.addr, &raw("POST", "/v1/blobs", &headers, &big)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cid = Cid::of(&big).to_string();
    assert_eq!(r.json()["cid"], cid.as_str());
    assert_eq!(r.json()["created"], true);
    let again = send(s.addr, &raw("POST", "/v1/blobs", &headers, &big)).await;
    assert_eq!(again.json()["created"], false);
    let back = get(s.addr, &format!("/v1/blobs/{cid}"), &token).await;
    assert_eq!(back.status, 200);
    assert!(back.body == big);
    // The same 50 MB to a JSON route: 413 (REQ_BODY_MAX), from its
    // declared length, before a byte of it is read.
    let json_route = format!(
        "POST /v1/rewarder/epochs/e1/compute HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: {auth}\r\nIdempotency-Key: big\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    let r = send(s.addr, json_route.as_bytes()).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.code(), "PAYLOAD_TOO_LARGE");
    // Chunked (no declared length): cut off at REQ_BODY_MAX while read.
    let mut chunked = format!(
        "POST /v1/rewarder/policies HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: {auth}\r\nIdempotency-Key: big2\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        (1 << 20) + 1
    )
    .into_bytes();
    chunked.extend_from_slice(&big[..(1 << 20) + 1]);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let r = send(s.addr, &chunked).await;
    assert_eq!(r.status, 413);
    // Over BLOB_MAX: 413 before the body is read.
    let over = format!(
        "POST /v1/blobs HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: {auth}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        (64u64 << 20) + 1
    );
    assert_eq!(send(s.addr, over.as_bytes()).await.status, 413);

    // A decompression bomb to the blob route: the stack's inflation caps
    // hold there too (20 MB of zeros in ~20 KB of gzip).
    let bomb = {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![0u8; 20_000_000]).unwrap();
        e.finish().unwrap()
    };
    let gz = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/octet-stream"),
        ("Content-Encoding", "gzip"),
    ];
    let r = send(s.addr, &raw("POST", "/v1/blobs", &gz, &bomb)).await;
    assert_eq!(r.status, 413);
    assert_eq!(
        get(
            s.addr,
            &format!("/v1/blobs/{}", Cid::of(&vec![0u8; 20_000_000])),
            &token
        )
        .await
        .status,
        404
    );

    // A CID that does not match its bytes: refused, nothing stored.
    let other = Cid::of(b"other bytes").to_string();
    let r = call(
        s.addr,
        "POST",
        &format!("/v1/blobs?cid={other}"),
        Some(&token),
        None,
        b"{\"x\":1}",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        get(s.addr, &format!("/v1/blobs/{other}"), &token)
            .await
            .status,
        404
    );
    assert_eq!(
        get(
            s.addr,
            &format!("/v1/blobs/{}", Cid::of(b"{\"x\":1}")),
            &token
        )
        .await
        .status,
        404
    );
    let ok = call(
        s.addr,
        "POST",
        &format!("/v1/blobs?cid={}", Cid::of(b"{\"x\":1}")),
        Some(&token),
        None,
        b"{\"x\":1}",
    )
    .await;
    assert_eq!(ok.status, 200);

    // Forged: signed by a key the server does not trust.
    let p = Policy::from_json(policy_json("pool:storage", 10, 4_102_444_800, false).as_bytes())
        .unwrap();
    let untrusted =
        serde_json::to_string(&p.sign(&SigningKey::from_seed(&[9; 32])).unwrap()).unwrap();
    let r = put_policy(s, &token, "forged-1", &untrusted).await;
    assert_eq!((r.status, r.code().as_str()), (400, "BAD_REQUEST"));
    // Forged: a trusted signature over another pool.
    let mut tampered: serde_json::Value =
        serde_json::from_str(&signed_policy("pool:storage", 10)).unwrap();
    tampered["policy"]["pool"] = 10_000_000.into();
    let r = put_policy(s, &token, "forged-2", &tampered.to_string()).await;
    assert_eq!(r.status, 400);
    // Unsigned.
    let r = put_policy(
        s,
        &token,
        "unsigned",
        &policy_json("pool:storage", 10, 4_102_444_800, false),
    )
    .await;
    assert_eq!(r.status, 400);
    // Stale: its validity period has ended.
    let stale =
        Policy::from_json(policy_json("pool:storage", 10, 1_000_000, false).as_bytes()).unwrap();
    let stale = serde_json::to_string(&stale.sign(&policy_key()).unwrap()).unwrap();
    let r = put_policy(s, &token, "stale", &stale).await;
    assert_eq!(r.status, 400);

    // Scopes: a ledger token may not run the rewarder.
    let r = upload(s, crate::support::ACME.as_str(), b"{}").await;
    assert_eq!(r.status, 403);

    let m = metrics(s).await;
    assert_eq!(metric(&m, r#"rejected_total{reason="bad_signature"}"#), 3);
    assert_eq!(metric(&m, r#"rejected_total{reason="stale"}"#), 1);
    assert_eq!(metric(&m, r#"rejected_total{reason="cid_mismatch"}"#), 1);
    assert!(metric(&m, r#"rejected_total{reason="oversize"}"#) >= 2);
    assert_eq!(metric(&m, r#"rejected_total{reason="decompress_cap"}"#), 1);
}

#[test]
fn a_token_held_to_an_epoch_reaches_that_epoch_only() {
    runtime().block_on(async {
        let s = start().await;
        let token = ops();
        let (_, _, r) = run(&s, &token, "ep-a", 1_000_000, 3).await;
        assert_eq!(r.status, 200);
        let held = mint(
            "ops",
            &[Scope::RewarderRun, Scope::RewarderInspect],
            vec![tally_token::Caveat::EpochId(
                tally_token::Label::new("ep-a").unwrap(),
            )],
        );
        assert_eq!(
            get(s.addr, "/v1/rewarder/epochs/ep-a", &held).await.status,
            200
        );
        assert_eq!(
            get(s.addr, "/v1/rewarder/epochs/ep-b", &held).await.status,
            403
        );
        assert_eq!(settle(s.addr, &held, "held-b", "ep-b").await.status, 403);
        // Routes that name no epoch are outside its reach (fail closed).
        assert_eq!(upload(&s, &held, b"{}").await.status, 403);
        assert_eq!(settle(s.addr, &held, "held-a", "ep-a").await.status, 200);
        s.stop().await;
    });
}

#[test]
fn every_rewarder_route_is_in_the_openapi_document_with_its_schemas() {
    runtime().block_on(async {
        let s = start().await;
        let doc = get(s.addr, "/openapi.json", "").await.json();
        for (method, path) in [
            ("post", "/v1/blobs"),
            ("get", "/v1/blobs/{cid}"),
            ("get", "/v1/rewarder/keys"),
            ("post", "/v1/rewarder/policies"),
            ("get", "/v1/rewarder/policies/{cid}"),
            ("post", "/v1/rewarder/epochs/{epoch}/compute"),
            ("get", "/v1/rewarder/epochs/{epoch}"),
            ("get", "/v1/rewarder/epochs/{epoch}/payouts/{account}"),
            ("post", "/v1/rewarder/epochs/{epoch}/settle"),
            ("get", "/v1/rewarder/epochs/{epoch}/settlement"),
        ] {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert!(op["responses"]["200"].is_object(), "{method} {path} 200");
            assert!(op["responses"]["401"].is_object(), "{method} {path} 401");
        }
        let quarantined =
            &doc["paths"]["/v1/rewarder/epochs/{epoch}/compute"]["post"]["responses"]["423"];
        assert!(quarantined.is_object());
        let blob = &doc["components"]["schemas"]["BlobBytes"];
        assert_eq!(blob["type"], "string");
        assert_eq!(blob["format"], "binary");
        for name in [
            "ComputeRequest",
            "EpochView",
            "SettlementView",
            "BlobDto",
            "PolicyDto",
            "SignedPolicyDto",
        ] {
            let schema = get(s.addr, &format!("/schema/{name}.json"), "").await;
            assert_eq!(schema.status, 200, "{name}");
        }
        s.stop().await;
    });
}

/// The file named `name` under `dir`, at any depth.
fn find_file(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// The compute route decodes the inputs blob as it streams from disk and
/// checks the bytes it read against the blob's CID before using them: a blob
/// changed on disk into other valid inputs of the same epoch (or cut short)
/// is never run, and nothing is stored for the epoch.
#[test]
fn an_inputs_blob_changed_on_disk_is_never_computed() {
    runtime().block_on(async {
        let s = start().await;
        let token = ops();
        let inputs = inputs_json("disk-1", 1_000_000, 4);
        let up = upload(&s, &token, inputs.as_bytes()).await;
        assert_eq!(up.status, 200, "{}", String::from_utf8_lossy(&up.body));
        let inputs_cid = up.json()["cid"].as_str().unwrap().to_owned();
        let p = put_policy(
            &s,
            &token,
            "pol-disk",
            &signed_policy("pool:storage", 1_000_003),
        )
        .await;
        let policy_cid = p.json()["cid"].as_str().unwrap().to_owned();
        let blob = find_file(s.dir.path(), &inputs_cid).expect("the stored blob");
        let other = inputs_json("disk-1", 1_000_000, 5);
        for (i, changed) in [other.as_bytes(), &inputs.as_bytes()[..inputs.len() / 2]]
            .into_iter()
            .enumerate()
        {
            std::fs::write(&blob, changed).unwrap();
            let c = compute(
                &s,
                &token,
                &format!("disk-{i}"),
                "disk-1",
                &inputs_cid,
                &policy_cid,
            )
            .await;
            assert_eq!(c.status, 500, "{}", String::from_utf8_lossy(&c.body));
            assert_eq!(
                get(s.addr, "/v1/rewarder/epochs/disk-1", &token)
                    .await
                    .status,
                404
            );
        }
        // The blob restored: the same request runs.
        std::fs::write(&blob, inputs.as_bytes()).unwrap();
        let c = compute(&s, &token, "disk-ok", "disk-1", &inputs_cid, &policy_cid).await;
        assert_eq!(c.status, 200, "{}", String::from_utf8_lossy(&c.body));
        s.stop().await;
    });
}

/// The one run file under the data directory's `rewarder/runs`.
fn the_run_file(s: &Server) -> std::path::PathBuf {
    let runs = find_dir(s.dir.path(), "runs").expect("the runs directory");
    let mut files: Vec<_> = std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

fn find_dir(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == name) {
                return Some(path);
            }
            if let Some(found) = find_dir(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

/// A run is stored as its sealed manifest and its payouts (the settlement
/// batch is derived from them), and read back only if the payouts are the
/// ones the manifest seals: a run file whose payouts were changed at rest
/// (an amount moved from one payee to another, the pool unchanged) is
/// never served nor settled, after a restart; the file put back, the epoch
/// settles and pays every payee once. A run stored by the previous format
/// (the whole batch, `intents`) is read as the same run and settles the
/// same, and one whose batch is not the one its payouts derive is refused.
#[test]
fn a_run_file_changed_at_rest_is_never_settled_and_the_previous_format_still_reads() {
    use tally_reward::compute::Payout;
    use tally_reward::registry::AcceptedRun;
    use tally_reward::settle::Ledger;
    runtime().block_on(async {
        let s = start().await;
        let token = ops();
        let (_, _, r) = run(&s, &token, "at-rest-1", 1_000_000, 5).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let sealed = sealed_of(&r);
        let file = the_run_file(&s);
        let original = std::fs::read(&file).unwrap();
        let dir = s.stop().await;

        // An amount moved between two payees: same sum, same manifest.
        let mut v: serde_json::Value = serde_json::from_slice(&original).unwrap();
        assert_eq!(v["format"], 2, "{v}");
        assert!(v.get("intents").is_none(), "the batch is not stored");
        let payouts = v["payouts"].as_array_mut().unwrap();
        let a = payouts[0]["amount"].as_u64().unwrap();
        let b = payouts[1]["amount"].as_u64().unwrap();
        payouts[0]["amount"] = (a - 1).into();
        payouts[1]["amount"] = (b + 1).into();
        std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
        let s = start_with(dir, |_| {}).await;
        for path in [
            "/v1/rewarder/epochs/at-rest-1".to_owned(),
            "/v1/rewarder/epochs/at-rest-1/payouts/acct-0".to_owned(),
        ] {
            let g = get(s.addr, &path, &token).await;
            assert_eq!(
                g.status,
                503,
                "{path}: {}",
                String::from_utf8_lossy(&g.body)
            );
        }
        let st = settle(s.addr, &token, "at-rest-settle", "at-rest-1").await;
        assert_eq!(st.status, 503, "{}", String::from_utf8_lossy(&st.body));
        let dir = s.stop().await;

        // The previous format: the batch stored whole. Read as the same run.
        let stored: serde_json::Value = serde_json::from_slice(&original).unwrap();
        let run = AcceptedRun {
            sealed: serde_json::from_value(stored["sealed"].clone()).unwrap(),
            manifest_cid: serde_json::from_value(stored["manifest_cid"].clone()).unwrap(),
            payouts: serde_json::from_value::<Vec<Payout>>(stored["payouts"].clone()).unwrap(),
            ledger: serde_json::from_value::<Ledger>(stored["ledger"].clone()).unwrap(),
        };
        let intents = run.intents().unwrap();
        let mut v1 = serde_json::json!({
            "sealed": stored["sealed"],
            "manifest_cid": stored["manifest_cid"],
            "intents": intents,
        });
        // A batch that is not the one its payouts derive: refused.
        v1["intents"][0]["idempotency_key"] = "tally-reward-forged".into();
        std::fs::write(&file, serde_json::to_vec(&v1).unwrap()).unwrap();
        let s = start_with(dir, |_| {}).await;
        let g = get(s.addr, "/v1/rewarder/epochs/at-rest-1", &token).await;
        assert_eq!(g.status, 503, "{}", String::from_utf8_lossy(&g.body));
        let dir = s.stop().await;
        v1["intents"] = serde_json::to_value(&intents).unwrap();
        std::fs::write(&file, serde_json::to_vec(&v1).unwrap()).unwrap();
        let s = start_with(dir, |_| {}).await;
        let g = get(s.addr, "/v1/rewarder/epochs/at-rest-1", &token).await;
        assert_eq!(g.status, 200, "{}", String::from_utf8_lossy(&g.body));
        assert_eq!(sealed_of(&g), sealed);
        let st = settle(s.addr, &token, "at-rest-settle-v1", "at-rest-1").await;
        assert_eq!(st.status, 200, "{}", String::from_utf8_lossy(&st.body));
        assert_eq!(st.json()["transfers"].as_u64(), Some(intents.len() as u64));
        let payouts = payouts_of(&s, &token, "at-rest-1", 5, &sealed).await;
        assert_paid_once(&s, &sealed, &payouts).await;
        s.stop().await;
    });
}

/// A JSON upload is decoded as epoch inputs while it is stored, and a
/// compute of that blob starts from what was decoded: the sealed manifest
/// is the one a compute from the stored blob gives (a second server, the
/// same keys, the blob uploaded as `application/octet-stream`, which is
/// not decoded ahead), byte for byte. A JSON upload that is not inputs is
/// stored as before. Fails if the decoding ahead lost, reordered or
/// duplicated a frame (another inputs CID or payouts in the manifest, or a
/// 400), or if it made a non-inputs upload fail.
#[test]
fn inputs_decoded_while_uploading_seal_the_same_manifest_as_inputs_read_from_disk() {
    runtime().block_on(async {
        let token = ops();
        // Enough accounts for the body to arrive in several frames.
        let inputs = inputs_json("ahead-1", 1_000_000, 3_000);
        let policy = signed_policy("pool:storage", 1_000_003);
        let mut manifests = Vec::new();
        for content_type in ["application/json", "application/octet-stream"] {
            let s = start().await;
            let auth = format!("Bearer {token}");
            let up = send(
                s.addr,
                &raw(
                    "POST",
                    "/v1/blobs",
                    &[("Authorization", &auth), ("Content-Type", content_type)],
                    inputs.as_bytes(),
                ),
            )
            .await;
            assert_eq!(up.status, 200, "{}", String::from_utf8_lossy(&up.body));
            let inputs_cid = up.json()["cid"].as_str().unwrap().to_owned();
            let p = put_policy(&s, &token, "pol-ahead", &policy).await;
            let policy_cid = p.json()["cid"].as_str().unwrap().to_owned();
            let c = compute(&s, &token, "c-ahead", "ahead-1", &inputs_cid, &policy_cid).await;
            assert_eq!(
                c.status,
                200,
                "{content_type}: {}",
                String::from_utf8_lossy(&c.body)
            );
            manifests.push(c.json()["sealed"].clone());
            let at = if content_type == "application/json" {
                "upload"
            } else {
                "store"
            };
            let m = metrics(&s).await;
            assert!(
                m.contains(&format!("reward_inputs_decoded_total{{at=\"{at}\"}} 1")),
                "{m}"
            );
            if content_type == "application/json" {
                let other = upload(&s, &token, br#"{"not":"inputs"}"#).await;
                assert_eq!(
                    other.status,
                    200,
                    "{}",
                    String::from_utf8_lossy(&other.body)
                );
            }
            s.stop().await;
        }
        assert_eq!(manifests[0], manifests[1]);
        assert_eq!(manifests[0]["manifest"]["accounts"].as_u64(), Some(3_000));
    });
}
