//! Ed25519 signing keys, key ids and the set of trusted keys: the
//! workspace's one key story, [`tally_keys`], re-exported under the names
//! this crate has always used.
//!
//! * A key id is the first 8 bytes of BLAKE3
//!   `derive_key("tally/reward/key-id/v1", public key)`, written as 16
//!   lower-case hex digits (the context keeps its historical name).
//! * Every signature covers `domain || 0x00 || message`, where the domain is
//!   the kind of object signed (`tally/reward/policy/v1`,
//!   `tally/reward/manifest/v1`), so a signature over one kind is never
//!   valid for another.
//! * A secret key file holds one line `tally-ed25519-secret-v1:` + 64 hex
//!   digits (the 32-byte seed); files written by earlier versions
//!   (`tally-reward-ed25519-secret-v1:`) still load. It is read from a file
//!   or an environment variable by the caller, never from a command line,
//!   and zeroized on drop.
//! * A trusted-keys file is JSON: `{"keys":[{"key_id":"…","public_key":"…"}]}`
//!   (64 hex digits); the key id must be the id of the public key.
//!
//! The functions of these types return [`KeyError`], which converts into
//! [`crate::Error`] (`?` works in this crate's functions).

pub use tally_keys::ml_dsa::{
    MlDsaSignature, MlDsaSigningKey, MlDsaTrustedKeys, MlDsaVerifyingKey,
};
pub use tally_keys::{
    KeyError, KeyId, LEGACY_REWARD_SECRET_PREFIX, SECRET_PREFIX, Signature, SigningKey, TrustedKey,
    TrustedKeys, VerifyingKey,
};

impl From<KeyError> for crate::Error {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::InvalidKey { reason } | KeyError::InvalidKeyFile { reason, .. } => {
                Self::InvalidKey { reason }
            }
            KeyError::Json { message, .. } => Self::Json {
                document: "trusted keys",
                message,
            },
            KeyError::UntrustedKey { key_id } => Self::UntrustedKey { key_id },
            KeyError::BadSignature { key_id } => Self::BadSignature { key_id },
            KeyError::File(_) => Self::InvalidKey {
                reason: "a key file could not be read",
            },
            KeyError::Random => Self::InvalidKey {
                reason: "the random generator failed",
            },
        }
    }
}
