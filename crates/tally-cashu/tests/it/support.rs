//! Shared test helpers: a deterministic RNG, a test mint, honest proofs.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tally_cashu::Amount;
use tally_cashu::crypto::{SecretKey, bdhke, dleq};
use tally_cashu::nuts::nut00::{BlindSignature, BlindedOutput, MintUrl, Proof};
use tally_cashu::nuts::nut01::{CurrencyUnit, Keys, Keyset};
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId, KeysetIndex};
use tally_cashu::nuts::nut12::BlindSignatureDleq;
use tally_cashu::secret::Secret;

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A test mint: one keyset with private keys for amounts 2^0..2^(n-1).
pub struct TestMint {
    pub keys: Vec<SecretKey>,
    pub keyset: Keyset,
}

impl TestMint {
    pub fn new(seed: u64, denominations: usize, v2: bool, fee_ppk: u64) -> Self {
        let mut rng = rng(seed);
        let keys: Vec<SecretKey> = (0..denominations)
            .map(|_| SecretKey::random(&mut rng).unwrap())
            .collect();
        let public = Keys::new(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (Amount::new(1 << i), k.public_key())),
        )
        .unwrap();
        let unit = CurrencyUnit::sat();
        let id = if v2 {
            KeysetId::v2_from_keys(&public, &unit, fee_ppk, None)
        } else {
            KeysetId::v1_from_keys(&public)
        };
        let info = KeySetInfo {
            id,
            unit,
            active: true,
            input_fee_ppk: fee_ppk,
            final_expiry: None,
        };
        Self {
            keyset: Keyset::new(info, public).unwrap(),
            keys,
        }
    }

    pub fn index(&self) -> KeysetIndex {
        let mut index = KeysetIndex::new();
        index.insert(self.keyset.info().clone()).unwrap();
        index
    }

    pub fn key_for(&self, amount: Amount) -> &SecretKey {
        &self.keys[amount.value().trailing_zeros() as usize]
    }

    /// Signs an output like a mint (with a DLEQ proof).
    pub fn sign(&self, output: &BlindedOutput) -> BlindSignature {
        let m = output.message();
        let k = self.key_for(m.amount);
        let c_ = bdhke::sign(k, &m.blinded).unwrap();
        BlindSignature {
            amount: m.amount,
            keyset_id: m.keyset_id,
            signature: c_,
            dleq: Some(BlindSignatureDleq::from(
                dleq::create(k, &m.blinded, &c_).unwrap(),
            )),
        }
    }

    /// An honest proof of `amount` (a power of two) with its DLEQ proof.
    pub fn proof(&self, rng: &mut StdRng, amount: u64) -> Proof {
        let output = BlindedOutput::new(
            Amount::new(amount),
            self.keyset.id(),
            Secret::random(rng).unwrap(),
            SecretKey::random(rng).unwrap(),
        )
        .unwrap();
        let signature = self.sign(&output);
        output.into_proof(&signature, &self.keyset, true).unwrap()
    }
}

pub fn mint_url() -> MintUrl {
    MintUrl::new("https://mint.example.com").unwrap()
}

pub fn vector_json(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn hex32(text: &str) -> [u8; 32] {
    tally_cashu::encoding::hex::decode_array(text, "test").unwrap()
}
