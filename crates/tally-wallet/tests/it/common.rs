//! Helpers shared by the test modules.

use std::os::unix::fs::PermissionsExt;

use tally_cashu::Amount;
use tally_cashu::crypto::SecretKey;
use tally_cashu::nuts::nut00::{MintUrl, Proof};
use tally_cashu::nuts::nut01::{CurrencyUnit, Keys, Keyset};
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};
use tally_cashu::secret::Secret;
use tally_wallet::store::SqliteStore;

/// A private (0700) temporary directory.
pub fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// A fresh SQLite store in its own private directory (kept alive by the
/// returned guard).
pub async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = private_dir();
    let store = SqliteStore::open(&dir.path().join("wallet.db"))
        .await
        .unwrap();
    (store, dir)
}

pub fn mint_url() -> MintUrl {
    MintUrl::new("http://127.0.0.1:1").unwrap()
}

/// A keyset with real keys (amounts 1..=2^k) and a verified V1 id.
pub fn keyset(seed: u8, powers: u32) -> Keyset {
    let keys = Keys::new((0..powers).map(|i| {
        let mut bytes = [seed; 32];
        bytes[31] = u8::try_from(i + 1).unwrap();
        (
            Amount::new(1 << i),
            SecretKey::from_bytes(bytes).unwrap().public_key(),
        )
    }))
    .unwrap();
    let info = KeySetInfo {
        id: KeysetId::v1_from_keys(&keys),
        unit: CurrencyUnit::sat(),
        active: true,
        input_fee_ppk: 0,
        final_expiry: None,
    };
    Keyset::new(info, keys).unwrap()
}

/// A well-formed proof (not signed by anyone) of `amount` with secret `n`.
pub fn proof(keyset: &KeysetId, amount: u64, n: u64) -> Proof {
    Proof {
        amount: Amount::new(amount),
        keyset_id: *keyset,
        secret: Secret::new(format!("{n:064x}")).unwrap(),
        c: SecretKey::from_bytes([7; 32]).unwrap().public_key(),
        witness: None,
        dleq: None,
        p2pk_e: None,
    }
}
