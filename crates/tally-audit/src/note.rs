//! Checkpoints as C2SP signed notes (Ed25519).
//!
//! A checkpoint body is `<origin>\n<size>\n<base64 root>\n` (C2SP
//! tlog-checkpoint). A signed note is the body, a blank line, and signature
//! lines `— <name> <base64(key id ‖ signature)>\n`, where the key id is the
//! first 4 bytes of `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)` and the
//! signature is Ed25519 over the body (C2SP signed-note). Keys use the Go
//! `sumdb/note` text encodings: `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖
//! seed)>` and `<name>+<id>+<base64(0x01 ‖ public key)>`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{AuditError, Result};
use crate::record::Hash;

/// The largest signed note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// The most signature lines accepted on one note (Go's `sumdb/note` limit).
pub const MAX_NOTE_SIGNATURES: usize = 100;
/// The longest origin / key name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Signature type byte of Ed25519 in C2SP signed notes.
const ALG_ED25519: u8 = 0x01;
const SIG_PREFIX: &str = "\u{2014} ";

fn bad(what: &'static str, why: &str) -> AuditError {
    AuditError::invalid(what, why)
}

/// Whether `name` is a valid note key name: non-empty, at most
/// [`MAX_NAME_BYTES`], no whitespace, no `+`, no control characters.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d: Hash = h.finalize().into();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A checkpoint: the head of the log's Merkle tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
}

impl Checkpoint {
    /// A checkpoint; the origin must be a valid note name.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] for an invalid origin.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self> {
        if !is_valid_name(origin) {
            return Err(bad("checkpoint", "invalid origin"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// The log's origin line.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size (number of records covered).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's root hash.
    #[must_use]
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The note body: `<origin>\n<size>\n<base64 root>\n`.
    #[must_use]
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a body; extension lines after the root are not accepted.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] when the body is not a checkpoint.
    pub fn parse_body(body: &str) -> Result<Self> {
        let inner = body
            .strip_suffix('\n')
            .ok_or_else(|| bad("checkpoint", "body does not end in a newline"))?;
        let mut lines = inner.split('\n');
        let (Some(origin), Some(size), Some(root), None) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(bad("checkpoint", "expected exactly three lines"));
        };
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| bad("checkpoint", "bad tree size"))?;
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("checkpoint", "root is not 32 bytes of base64"))?;
        Self::new(origin, size, root)
    }
}

/// An Ed25519 checkpoint signer with its note key name.
pub struct CheckpointSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl CheckpointSigner {
    /// A signer from a 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] for an invalid name.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self> {
        if !is_valid_name(name) {
            return Err(bad("signer key", "invalid key name"));
        }
        let key = SigningKey::from_bytes(seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key,
            id,
        })
    }

    /// A fresh signer from the operating system's random generator.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] for an invalid name or a failed generator.
    pub fn generate(name: &str) -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|_| bad("signer key", "random generator failed"))?;
        Self::from_seed(name, &seed)
    }

    /// Parses `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] when malformed or the id does not match.
    pub fn parse(skey: &str) -> Result<Self> {
        let rest = skey
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("signer key", "missing PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("signer key", "expected name+id+key"));
        };
        let decoded = Zeroizing::new(
            STANDARD
                .decode(material)
                .map_err(|_| bad("signer key", "key is not base64"))?,
        );
        let seed: Zeroizing<[u8; 32]> = match decoded.split_first() {
            Some((&ALG_ED25519, seed)) => Zeroizing::new(
                seed.try_into()
                    .map_err(|_| bad("signer key", "seed is not 32 bytes"))?,
            ),
            _ => return Err(bad("signer key", "unknown algorithm")),
        };
        let signer = Self::from_seed(name, &seed)?;
        if format!("{:08x}", signer.id) != id {
            return Err(bad("signer key", "key id does not match"));
        }
        Ok(signer)
    }

    /// The private key text (`PRIVATE+KEY+…`); keep it secret.
    #[must_use]
    pub fn to_skey(&self) -> Zeroizing<String> {
        let mut material = Zeroizing::new(vec![ALG_ED25519]);
        material.extend_from_slice(self.key.as_bytes());
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            STANDARD.encode(material.as_slice())
        ))
    }

    /// The matching verifier.
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The note key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signs `text` (which must end in `\n` and contain no blank line),
    /// returning the whole signed note.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] when the text is not a valid note text.
    pub fn sign(&self, text: &str) -> Result<String> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut blob = self.id.to_be_bytes().to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        let note = format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        );
        if note.len() > MAX_NOTE_BYTES {
            return Err(bad("note", "the signed note would exceed the maximum size"));
        }
        Ok(note)
    }
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("name", &self.name)
            .field("id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

fn check_text(text: &str) -> Result<()> {
    if !text.ends_with('\n') || text.contains("\n\n") || text.len() > MAX_NOTE_BYTES {
        return Err(bad(
            "note",
            "text must end in one newline, have no blank line, and be small",
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad("note", "control character in text"));
    }
    Ok(())
}

/// An Ed25519 note verifier (`<name>+<id>+<base64(0x01 ‖ public key)>`).
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a verifier key.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] when malformed or the id does not match.
    pub fn parse(vkey: &str) -> Result<Self> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("verifier key", "expected name+id+key"));
        };
        if !is_valid_name(name) {
            return Err(bad("verifier key", "invalid key name"));
        }
        let decoded = STANDARD
            .decode(material)
            .map_err(|_| bad("verifier key", "key is not base64"))?;
        let public: [u8; 32] = match decoded.split_first() {
            Some((&ALG_ED25519, pk)) => pk
                .try_into()
                .map_err(|_| bad("verifier key", "public key is not 32 bytes"))?,
            _ => return Err(bad("verifier key", "unknown algorithm")),
        };
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| bad("verifier key", "not an Ed25519 point"))?;
        let expected = key_id(name, &public);
        if format!("{expected:08x}") != id {
            return Err(bad("verifier key", "key id does not match"));
        }
        Ok(Self {
            name: name.to_owned(),
            id: expected,
            key,
        })
    }

    /// The verifier key text.
    #[must_use]
    pub fn to_vkey(&self) -> String {
        let mut material = vec![ALG_ED25519];
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            STANDARD.encode(material)
        )
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Verifies a signed note and returns its text. The first signature line
    /// with this verifier's name and id decides; lines of other keys are
    /// ignored.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] when malformed, unsigned by this key, or the
    /// signature is wrong.
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(bad("note", "too large"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| bad("note", "no blank line before the signatures"))?;
        let (text, sigs) = note.split_at(split + 1);
        let sigs = sigs
            .strip_prefix('\n')
            .and_then(|s| s.strip_suffix('\n'))
            .ok_or_else(|| bad("note", "malformed signature block"))?;
        check_text(text)?;
        let mut count = 0usize;
        for line in sigs.split('\n') {
            count += 1;
            if count > MAX_NOTE_SIGNATURES {
                return Err(bad("note", "too many signatures"));
            }
            let (name, blob) = line
                .strip_prefix(SIG_PREFIX)
                .and_then(|l| l.split_once(' '))
                .ok_or_else(|| bad("note", "malformed signature line"))?;
            let blob = STANDARD
                .decode(blob)
                .map_err(|_| bad("note", "signature is not base64"))?;
            let (id, sig) = blob
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("note", "signature too short"))?;
            if name != self.name || u32::from_be_bytes(*id) != self.id {
                continue;
            }
            let sig = ed25519_dalek::Signature::from_slice(sig)
                .map_err(|_| bad("note", "signature is not 64 bytes"))?;
            return self
                .key
                .verify_strict(text.as_bytes(), &sig)
                .map(|()| text)
                .map_err(|_| bad("note", "signature does not verify"));
        }
        Err(bad("note", "no signature by the trusted key"))
    }

    /// Verifies a signed checkpoint note and parses its body.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] as for [`NoteVerifier::open`] and
    /// [`Checkpoint::parse_body`].
    pub fn open_checkpoint(&self, note: &str) -> Result<Checkpoint> {
        Checkpoint::parse_body(self.open(note)?)
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> CheckpointSigner {
        CheckpointSigner::from_seed("log", &[1; 32]).unwrap()
    }

    #[test]
    fn name_length_is_bounded_at_the_limit() {
        assert!(is_valid_name(&"a".repeat(MAX_NAME_BYTES)));
        assert!(!is_valid_name(&"a".repeat(MAX_NAME_BYTES + 1)));
        assert!(!is_valid_name("a b") && !is_valid_name("a+b") && !is_valid_name(""));
    }

    #[test]
    fn signature_count_is_bounded_at_the_limit() {
        let s = signer();
        let note = s.sign("text\n").unwrap();
        let sig_line = note.split_once("\n\n").unwrap().1;
        let other = format!(
            "{SIG_PREFIX}other AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
        );
        // The trusted signature last, after other keys' lines.
        let at_limit = format!(
            "text\n\n{}{sig_line}",
            other.repeat(MAX_NOTE_SIGNATURES - 1)
        );
        assert_eq!(s.verifier().open(&at_limit).unwrap(), "text\n");
        let past = format!("text\n\n{}{sig_line}", other.repeat(MAX_NOTE_SIGNATURES));
        assert!(s.verifier().open(&past).is_err());
    }

    #[test]
    fn note_size_is_bounded_at_the_limit() {
        let s = signer();
        let sig_len = s.sign("x\n").unwrap().len() - 2;
        let body_at_limit = format!("{}\n", "x".repeat(MAX_NOTE_BYTES - sig_len - 1));
        let note = s.sign(&body_at_limit).unwrap();
        assert_eq!(note.len(), MAX_NOTE_BYTES);
        assert!(s.verifier().open(&note).is_ok());
        let past = format!("{}\n", "x".repeat(MAX_NOTE_BYTES - sig_len));
        assert!(
            s.sign(&past).is_err(),
            "signing refuses a note it could not open"
        );
        let forged = format!("{past}\n{}", note.split_once("\n\n").unwrap().1);
        assert_eq!(forged.len(), MAX_NOTE_BYTES + 1);
        assert!(s.verifier().open(&forged).is_err());
    }

    #[test]
    fn checkpoint_bodies_are_strict() {
        let root = [9u8; 32];
        let cp = Checkpoint::new("log", 5, root).unwrap();
        assert_eq!(Checkpoint::parse_body(&cp.body()).unwrap(), cp);
        for bad in [
            cp.body().replace("\n5\n", "\n05\n"),
            cp.body().replace("\n5\n", "\n-5\n"),
            format!("{}ext\n", cp.body()),
            cp.body().trim_end().to_owned(),
        ] {
            assert!(Checkpoint::parse_body(&bad).is_err(), "{bad:?}");
        }
    }
}
