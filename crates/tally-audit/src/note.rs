//! Checkpoints as C2SP signed notes (Ed25519).
//!
//! A checkpoint body is `<origin>\n<size>\n<base64 root>\n` (C2SP
//! tlog-checkpoint). A signed note is the body, a blank line, and signature
//! lines `— <name> <base64(key id ‖ signature)>\n`, where the key id is the
//! first 4 bytes of `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)` and the
//! signature is Ed25519 over the body (C2SP signed-note). Keys use the Go
//! `sumdb/note` text encodings: `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖
//! seed)>` and `<name>+<id>+<base64(0x01 ‖ public key)>`.
//!
//! The keys are the workspace's ([`tally_keys`]): a signer is a
//! [`tally_keys::SigningKey`] with a note name
//! ([`CheckpointSigner::from_key`]), so one secret key file
//! (`tally-ed25519-secret-v1:…`) signs both reward manifests and
//! checkpoints, and one trusted-keys file verifies both
//! ([`NoteVerifier::for_note`]). The note key id above stays inside notes
//! (the signed-note format requires it); the [`tally_keys::KeyId`] names
//! the key in trusted-keys files. Note text never holds a control
//! character, so never a 0x00 byte: a note signature is never valid as a
//! domain-separated `tally-keys` signature, nor the reverse.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tally_keys::{Signature, SigningKey, TrustedKeys, VerifyingKey};
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

/// The note key name of a workspace key used without a name of its own:
/// `tally-key-<16 hex digits of its id>` (a valid note name).
#[must_use]
pub fn key_note_name(id: tally_keys::KeyId) -> String {
    format!("tally-key-{id}")
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
        Self::from_key(name, SigningKey::from_seed(seed))
    }

    /// A signer from a workspace signing key (a `tally-ed25519-secret-v1`
    /// key file) and the note key name.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] for an invalid name.
    pub fn from_key(name: &str, key: SigningKey) -> Result<Self> {
        if !is_valid_name(name) {
            return Err(bad("signer key", "invalid key name"));
        }
        let id = key_id(name, &key.public_key());
        Ok(Self {
            name: name.to_owned(),
            key,
            id,
        })
    }

    /// A signer from a workspace signing key under the note key name
    /// [`key_note_name`] of its id (for a key file that names no note key,
    /// as a `tally-ed25519-secret-v1` file).
    #[must_use]
    pub fn from_key_named_by_id(key: SigningKey) -> Self {
        let name = key_note_name(key.id());
        let id = key_id(&name, &key.public_key());
        Self { name, key, id }
    }

    /// A fresh signer from the operating system's random generator.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] for an invalid name or a failed generator.
    pub fn generate(name: &str) -> Result<Self> {
        let key =
            SigningKey::generate().map_err(|_| bad("signer key", "random generator failed"))?;
        Self::from_key(name, key)
    }

    /// The workspace signing key (its [`tally_keys::KeyId`] names it in a
    /// trusted-keys file).
    #[must_use]
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The workspace signing key, taken out of the signer (a signed-note
    /// key file can then sign reward documents too).
    #[must_use]
    pub fn into_signing_key(self) -> SigningKey {
        self.key
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
        material.extend_from_slice(self.key.seed().as_slice());
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
        // `check_text` refused every control character, 0x00 included.
        let sig = self
            .key
            .sign_nul_free(text.as_bytes())
            .map_err(|_| bad("note", "control character in text"))?;
        let mut blob = self.id.to_be_bytes().to_vec();
        blob.extend_from_slice(&sig.0);
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

/// Splits a signed note into its text (ending in `\n`) and its signature
/// lines (without the final `\n`).
fn split_note(note: &str) -> Result<(&str, &str)> {
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| bad("note", "no blank line before the signatures"))?;
    let (text, sigs) = note.split_at(split + 1);
    let sigs = sigs
        .strip_prefix('\n')
        .and_then(|s| s.strip_suffix('\n'))
        .ok_or_else(|| bad("note", "malformed signature block"))?;
    Ok((text, sigs))
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
            .map_err(|_| bad("verifier key", "not an Ed25519 key of full order"))?;
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

    /// The verifier of a workspace public key (an entry of a trusted-keys
    /// file) under the note key name `name`.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] for an invalid name.
    pub fn from_key(name: &str, key: &VerifyingKey) -> Result<Self> {
        if !is_valid_name(name) {
            return Err(bad("verifier key", "invalid key name"));
        }
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &key.to_bytes()),
            key: *key,
        })
    }

    /// The verifier, among the keys of a trusted-keys file, for `note`: the
    /// key of the first signature line whose name and note key id are those
    /// of a trusted key under that name. The note is not verified here:
    /// [`NoteVerifier::open`] does that. A trusted-keys file trusts keys,
    /// whatever their note name; the signed text (a checkpoint's origin)
    /// is for the caller to check.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] when the note is malformed or no line names
    /// a trusted key.
    pub fn for_note(note: &str, trusted: &TrustedKeys) -> Result<Self> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(bad("note", "too large"));
        }
        let (_, sigs) = split_note(note)?;
        for line in sigs.split('\n').take(MAX_NOTE_SIGNATURES) {
            let Some((name, blob)) = line
                .strip_prefix(SIG_PREFIX)
                .and_then(|l| l.split_once(' '))
            else {
                continue;
            };
            let Some(id) = STANDARD
                .decode(blob)
                .ok()
                .and_then(|b| b.first_chunk::<4>().map(|id| u32::from_be_bytes(*id)))
            else {
                continue;
            };
            if !is_valid_name(name) {
                continue;
            }
            if let Some(key) = trusted.iter().find(|k| key_id(name, &k.to_bytes()) == id) {
                return Self::from_key(name, key);
            }
        }
        Err(bad("note", "no signature by a trusted key"))
    }

    /// The workspace public key.
    #[must_use]
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The verifier key text.
    #[must_use]
    pub fn to_vkey(&self) -> String {
        let mut material = vec![ALG_ED25519];
        material.extend_from_slice(&self.key.to_bytes());
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
        let (text, sigs) = split_note(note)?;
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
            let sig =
                <[u8; 64]>::try_from(sig).map_err(|_| bad("note", "signature is not 64 bytes"))?;
            return self
                .key
                .verify_nul_free(text.as_bytes(), &Signature(sig))
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

    /// The checkpoint note of seed `[7; 32]` under `example.org/audit`
    /// (tests/it/golden.rs, signed independently).
    const GOLDEN_NOTE: &str = "example.org/audit\n2\ndtU1Vu7tKUdVxL9kqjhpfOV6L0KCNvlc4eovA6Nk6Go=\n\n\u{2014} example.org/audit G0Wc9pg+xrLlwoTAeddeLKmrJIhhNOujCHdi03Yg+m9yRLizVIedCrloOAO0SbwjNj8NLRGO7HOt2iMzxHcOA5TTAQI=\n";
    const GOLDEN_VKEY: &str =
        "example.org/audit+1b459cf6+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";

    fn golden_body() -> &'static str {
        &GOLDEN_NOTE[..GOLDEN_NOTE.find("\n\n").unwrap() + 1]
    }

    fn trusted_of(seed: u8) -> TrustedKeys {
        let key = SigningKey::from_seed(&[seed; 32]);
        TrustedKeys::from_json(TrustedKeys::file_text(&[key.trusted_entry()]).as_bytes()).unwrap()
    }

    #[test]
    fn a_workspace_key_signs_the_same_notes() {
        let signer =
            CheckpointSigner::from_key("example.org/audit", SigningKey::from_seed(&[7; 32]))
                .unwrap();
        assert_eq!(signer.sign(golden_body()).unwrap(), GOLDEN_NOTE);
        assert_eq!(signer.verifier().to_vkey(), GOLDEN_VKEY);
        assert_eq!(signer.signing_key().id().to_string(), "2b2e70e97475b613");
        // The signed-note key text of the same seed is the same key.
        let again = CheckpointSigner::parse(&signer.to_skey()).unwrap();
        assert_eq!(again.signing_key().id(), signer.signing_key().id());
        assert_eq!(again.verifier(), signer.verifier());
        assert_eq!(
            again.into_signing_key().public_key(),
            SigningKey::from_seed(&[7; 32]).public_key()
        );
        assert!(CheckpointSigner::from_key("a b", SigningKey::from_seed(&[7; 32])).is_err());
        // A key file that names no note key signs under the name of its id.
        let by_id = CheckpointSigner::from_key_named_by_id(SigningKey::from_seed(&[7; 32]));
        assert_eq!(by_id.name(), "tally-key-2b2e70e97475b613");
        assert!(is_valid_name(by_id.name()));
    }

    #[test]
    fn a_trusted_keys_file_verifies_checkpoints() {
        let trusted = trusted_of(7);
        let v = NoteVerifier::for_note(GOLDEN_NOTE, &trusted).unwrap();
        assert_eq!(v.to_vkey(), GOLDEN_VKEY);
        assert_eq!(v.open_checkpoint(GOLDEN_NOTE).unwrap().size(), 2);
        let key = SigningKey::from_seed(&[7; 32]).verifying_key();
        assert_eq!(
            NoteVerifier::from_key("example.org/audit", &key).unwrap(),
            v
        );
        assert_eq!(v.key(), &key);
        // Another key's file has no verifier for the note.
        assert_eq!(
            NoteVerifier::for_note(GOLDEN_NOTE, &trusted_of(8))
                .unwrap_err()
                .to_string(),
            "invalid note: no signature by a trusted key"
        );
        // A cosigned note: the trusted key's line is found after another's.
        let stranger = CheckpointSigner::from_seed("example.org/audit", &[8; 32]).unwrap();
        let golden_line = GOLDEN_NOTE.split_once("\n\n").unwrap().1;
        let cosigned = format!("{}{golden_line}", stranger.sign(golden_body()).unwrap());
        let found = NoteVerifier::for_note(&cosigned, &trusted).unwrap();
        assert_eq!(found, v);
        assert_eq!(found.open(&cosigned).unwrap(), golden_body());
        // A key named by its id is found too.
        let by_id = CheckpointSigner::from_key_named_by_id(SigningKey::from_seed(&[7; 32]));
        let note = by_id.sign(golden_body()).unwrap();
        let found = NoteVerifier::for_note(&note, &trusted).unwrap();
        assert_eq!(found.name(), "tally-key-2b2e70e97475b613");
        assert_eq!(found.open(&note).unwrap(), golden_body());
    }

    #[test]
    fn note_and_domain_signatures_never_cross() {
        let key = SigningKey::from_seed(&[7; 32]);
        let signer =
            CheckpointSigner::from_key("example.org/audit", SigningKey::from_seed(&[7; 32]))
                .unwrap();
        let body = golden_body();
        // The note's signature is valid over the note text only, in no domain.
        let line = GOLDEN_NOTE.split_once("\n\n").unwrap().1;
        let blob = STANDARD
            .decode(line.trim_end().rsplit_once(' ').unwrap().1)
            .unwrap();
        let sig = Signature(blob[4..].try_into().unwrap());
        let vk = key.verifying_key();
        vk.verify_nul_free(body.as_bytes(), &sig).unwrap();
        for domain in ["tally/reward/manifest/v1", "tally/reward/policy/v1", ""] {
            assert!(
                vk.verify(domain, body.as_bytes(), &sig).is_err(),
                "{domain}"
            );
        }
        // A manifest signature over the note text is no note signature.
        let manifest_sig = key.sign("tally/reward/manifest/v1", body.as_bytes());
        let mut forged = signer.id.to_be_bytes().to_vec();
        forged.extend_from_slice(&manifest_sig.0);
        let note = format!(
            "{body}\n{SIG_PREFIX}example.org/audit {}\n",
            STANDARD.encode(forged)
        );
        assert_eq!(
            signer.verifier().open(&note).unwrap_err().to_string(),
            "invalid note: signature does not verify"
        );
        // The bytes a domain-separated signature covers are no note text.
        assert!(signer.sign("tally/reward/manifest/v1\0x\n").is_err());
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
