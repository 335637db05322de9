//! Keyset rotation against a real Nutshell mint: the third mint of
//! `./scripts/services/nutshell` (TALLY_TEST_MINT_ROTATE_URL) rotates its sat
//! keyset through Nutshell's own management RPC (`nutshell rotate`, which
//! runs `mint-cli next-keyset sat`): the old keyset becomes inactive, still
//! accepted as input, no longer in `/v1/keys`.

use std::collections::BTreeSet;

use tally_wallet::client::MintClient;
use tally_wallet::store::{ProofState, WalletStore};
use tally_wallet::wallet::Wallet;

use crate::common::sqlite;
use crate::restore::{mnemonic, restored, seed};

async fn rotation_mint() -> tally_cashu::nuts::nut00::MintUrl {
    let url = std::env::var("TALLY_TEST_MINT_ROTATE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:43340".to_owned());
    let url = tally_cashu::nuts::nut00::MintUrl::new(&url).unwrap();
    if let Err(e) = MintClient::new(url.clone()).unwrap().info().await {
        panic!(
            "the rotation mint at {} does not answer: {e}. Start the mints with \
             `./scripts/services/nutshell start`.",
            url.as_str()
        );
    }
    url
}

/// Rotates the mint's sat keyset (a new active keyset; the old one inactive).
fn rotate_keyset() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/services/nutshell"
    );
    let out = std::process::Command::new(script)
        .arg("rotate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nutshell rotate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn active_ids<S: WalletStore>(
    w: &Wallet<S>,
    mint: &tally_cashu::nuts::nut00::MintUrl,
) -> BTreeSet<String> {
    w.refresh_keysets(mint)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.active)
        .map(|k| k.id.to_hex())
        .collect()
}

#[tokio::test]
async fn proofs_of_a_rotated_out_keyset_are_held_swapped_into_the_new_one_and_restored() {
    let mint = rotation_mint().await;
    let words = mnemonic();
    let (store, _dir) = sqlite().await;
    let w = Wallet::new(store, seed(&words));
    w.add_mint(&mint).await.unwrap();
    let quote = w.mint_quote(&mint, 100).await.unwrap();
    w.mint(&mint, &quote.id).await.unwrap();
    let before = active_ids(&w, &mint).await;
    assert_eq!(before.len(), 1);
    let old = before.first().unwrap().clone();

    rotate_keyset();

    // The old keyset's proofs are still held and counted.
    assert_eq!(w.balance(&mint).await.unwrap().unspent, 100);
    let report = w.rotate(&mint).await.unwrap();
    let after = active_ids(&w, &mint).await;
    assert_eq!(after.len(), 1);
    let new = after.first().unwrap().clone();
    assert_ne!(old, new, "the mint rotated");
    assert!(report.inactive_keysets >= 1);
    assert_eq!(
        (
            report.swaps,
            report.proofs_moved,
            report.amount_in,
            report.amount_out
        ),
        (1, 3, 100, 100),
        "{report:?}"
    );
    let unspent = w.store().proofs(&mint, ProofState::Unspent).await.unwrap();
    assert!(unspent.iter().all(|p| p.proof.keyset_id.to_hex() == new));
    assert_eq!(w.balance(&mint).await.unwrap().unspent, 100);
    // The mint agrees: the new proofs are unspent, the old ones spent.
    assert_eq!(w.check_state(&mint).await.unwrap().newly_spent, 0);
    let spent = w.store().proofs(&mint, ProofState::Spent).await.unwrap();
    assert!(spent.iter().all(|p| p.proof.keyset_id.to_hex() == old));
    assert_eq!(spent.len(), 3);
    // `/v1/keys` lists only the active keyset; the old one is fetched by id.
    let keys = reqwest::get(format!("{}/v1/keys", mint.as_str()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!keys.contains(&old) && keys.contains(&new));
    // Nothing left to rotate.
    assert_eq!(w.rotate(&mint).await.unwrap().proofs_moved, 0);

    // A fresh wallet with the same mnemonic scans the inactive keyset too:
    // it finds the old proofs spent and the new ones unspent.
    let (b, report, _dir_b) = restored(&mint, &words).await;
    assert_eq!(report.amount_unspent(), 100);
    assert_eq!(b.balance(&mint).await.unwrap().unspent, 100);
    let old_scan = report
        .keysets
        .iter()
        .find(|k| k.id.to_hex() == old)
        .unwrap();
    assert!(!old_scan.active);
    assert_eq!((old_scan.signed, old_scan.spent), (3, 3));
    // And mints with the new keyset without reusing a counter.
    let quote = b.mint_quote(&mint, 5).await.unwrap();
    assert_eq!(b.mint(&mint, &quote.id).await.unwrap(), 5);
}
