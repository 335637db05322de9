//! V4 tokens: `cashuB` + base64url(CBOR), and the raw `crawB` + CBOR form.
//!
//! Hand-written against the exact schema (see [`crate::encoding`]'s CBOR
//! module): no generic serializer, no recursion, every length bounded.

use zeroize::Zeroizing;

use super::{PREFIX_RAW_V4, PREFIX_V4, Token, TokenKeysetId, TokenProof};
use crate::Error;
use crate::amount::Amount;
use crate::crypto::dleq::Dleq;
use crate::crypto::{PointBytes, Scalar, SecretKey};
use crate::encoding::base64url;
use crate::encoding::cbor::{Reader, Writer};
use crate::error::{CborReason, Limit, ensure_within};
use crate::limits::{MAX_PROOFS_PER_TOKEN, MAX_TOKEN_GROUPS};
use crate::nuts::nut00::{MintUrl, Witness};
use crate::nuts::nut01::CurrencyUnit;
use crate::nuts::nut12::ProofDleq;
use crate::secret::Secret;

/// Bytes a proof takes in CBOR, roughly (for buffer sizing only).
const PROOF_SIZE_ESTIMATE: usize = 120;

/// Writes the token's CBOR to `w`, calling `after_proof` after each proof
/// (the base64 encoder drains the buffer there).
fn encode_cbor(
    token: &Token,
    w: &mut Writer,
    mut after_proof: impl FnMut(&mut Writer),
) -> Result<(), Error> {
    let unit = token.unit.as_ref().ok_or(Error::MissingUnit)?;
    if token.proofs.iter().any(|p| p.keyset_id.is_legacy()) {
        return Err(Error::InvalidField {
            field: "id",
            reason: "a legacy (base64) keyset id cannot be written in a V4 token",
        });
    }
    w.map(if token.memo.is_some() { 4 } else { 3 });
    w.text("t");
    let groups = groups(&token.proofs);
    w.array(groups.len());
    for group in groups {
        w.map(2);
        w.text("i");
        w.bytes(group.first().map_or(&[][..], |p| p.keyset_id.as_bytes()));
        w.text("p");
        w.array(group.len());
        for proof in group {
            write_proof(w, proof);
            after_proof(w);
        }
    }
    if let Some(memo) = &token.memo {
        w.text("d");
        w.text(memo);
    }
    w.text("m");
    w.text(token.mint.as_str());
    w.text("u");
    w.text(unit.as_str());
    Ok(())
}

/// Consecutive runs of proofs with the same keyset id (the token keeps
/// proofs grouped, so each id has one run).
fn groups(proofs: &[TokenProof]) -> Vec<&[TokenProof]> {
    let mut out = Vec::new();
    let mut rest = proofs;
    while let Some(first) = rest.first() {
        let len = rest
            .iter()
            .take_while(|p| p.keyset_id == first.keyset_id)
            .count();
        let (group, tail) = rest.split_at(len);
        out.push(group);
        rest = tail;
    }
    out
}

fn write_proof(w: &mut Writer, proof: &TokenProof) {
    let entries = 3
        + usize::from(proof.dleq.is_some())
        + usize::from(proof.witness.is_some())
        + usize::from(proof.p2pk_e.is_some());
    w.map(entries);
    w.text("a");
    w.uint(proof.amount.value());
    w.text("s");
    w.text(proof.secret.as_str());
    w.text("c");
    w.bytes(proof.c.as_bytes());
    if let Some(dleq) = &proof.dleq {
        w.text("d");
        w.map(3);
        w.text("e");
        w.bytes(dleq.e().as_bytes());
        w.text("s");
        w.bytes(dleq.s().as_bytes());
        w.text("r");
        w.bytes(dleq.r().as_secret_bytes());
    }
    if let Some(witness) = &proof.witness {
        w.text("w");
        w.text(witness.as_str());
    }
    if let Some(ephemeral) = &proof.p2pk_e {
        w.text("pe");
        w.bytes(ephemeral.as_bytes());
    }
}

/// CBOR bytes staged before they are base64-encoded. The CBOR of a token is
/// never held whole: it streams through this buffer, which is erased at the end.
const STAGING_BYTES: usize = 3 * 1024;

pub(super) fn encode_base64(token: &Token) -> Result<String, Error> {
    let estimate = 64 + token.proofs.len() * PROOF_SIZE_ESTIMATE;
    let mut out = Vec::with_capacity(PREFIX_V4.len() + base64url::encoded_len(estimate));
    out.extend_from_slice(PREFIX_V4.as_bytes());
    let mut w = Writer::from_vec(Vec::with_capacity(STAGING_BYTES + 2 * PROOF_SIZE_ESTIMATE));
    let written = encode_cbor(token, &mut w, |w| {
        if w.len() >= STAGING_BYTES {
            w.drain_base64(&mut out);
        }
    });
    let staging = Zeroizing::new(w.into_inner());
    written?;
    base64url::encode_append(&staging, &mut out);
    // Only ASCII was written: this conversion cannot fail.
    Ok(String::from_utf8(out).unwrap_or_default())
}

pub(super) fn encode_raw(token: &Token) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64 + token.proofs.len() * PROOF_SIZE_ESTIMATE);
    out.extend_from_slice(PREFIX_RAW_V4);
    let mut w = Writer::from_vec(out);
    encode_cbor(token, &mut w, |_| {})?;
    Ok(w.into_inner())
}

pub(super) fn decode_base64(payload: &str) -> Result<Token, Error> {
    let cbor = Zeroizing::new(base64url::decode(payload)?);
    decode_cbor(&cbor)
}

/// Sets `slot` once; a second value for the same key is an error.
fn set_once<T>(r: &Reader<'_>, slot: &mut Option<T>, value: T) -> Result<(), Error> {
    if slot.replace(value).is_some() {
        return Err(r.error(CborReason::DuplicateKey));
    }
    Ok(())
}

fn required<T>(r: &Reader<'_>, slot: Option<T>) -> Result<T, Error> {
    slot.ok_or_else(|| r.error(CborReason::MissingKey))
}

pub(super) fn decode_cbor(cbor: &[u8]) -> Result<Token, Error> {
    let mut r = Reader::new(cbor);
    let (mut proofs, mut mint, mut unit, mut memo) = (None, None, None, None);
    for _ in 0..r.map()? {
        match r.key()? {
            Some("t") => {
                let value = read_groups(&mut r)?;
                set_once(&r, &mut proofs, value)?;
            }
            Some("m") => {
                let value = MintUrl::new(r.text()?)?;
                set_once(&r, &mut mint, value)?;
            }
            Some("u") => {
                let value = CurrencyUnit::new(r.text()?)?;
                set_once(&r, &mut unit, value)?;
            }
            Some("d") if !r.null() => {
                let value = r.text()?.to_owned();
                set_once(&r, &mut memo, value)?;
            }
            Some("d") => {}
            _ => r.skip()?,
        }
    }
    r.finish()?;
    let proofs = required(&r, proofs)?;
    let mint = required(&r, mint)?;
    let unit = required(&r, unit)?;
    Token::new(mint, Some(unit), memo, proofs)
}

fn read_groups(r: &mut Reader<'_>) -> Result<Vec<TokenProof>, Error> {
    let count = r.array()?;
    ensure_within(Limit::TokenGroups, count, MAX_TOKEN_GROUPS)?;
    let mut proofs = Vec::new();
    for _ in 0..count {
        let (mut id, mut group) = (None, None);
        for _ in 0..r.map()? {
            match r.key()? {
                Some("i") => {
                    let value = TokenKeysetId::from_bytes(r.bytes()?)?;
                    set_once(r, &mut id, value)?;
                }
                Some("p") => {
                    let value = read_proofs(r, proofs.len())?;
                    set_once(r, &mut group, value)?;
                }
                _ => r.skip()?,
            }
        }
        let id = required(r, id)?;
        for fields in required(r, group)? {
            proofs.push(TokenProof {
                amount: fields.amount,
                keyset_id: id,
                secret: fields.secret,
                c: fields.c,
                witness: fields.witness,
                dleq: fields.dleq,
                p2pk_e: fields.p2pk_e,
            });
        }
    }
    Ok(proofs)
}

/// One V4 proof's fields (the keyset id is its group's).
struct ProofFields {
    amount: Amount,
    secret: Secret,
    c: PointBytes,
    dleq: Option<ProofDleq>,
    witness: Option<Witness>,
    p2pk_e: Option<PointBytes>,
}

/// 33 bytes of a compressed point (prefix checked, curve membership on resolve).
fn read_point(r: &mut Reader<'_>) -> Result<PointBytes, Error> {
    let bytes: [u8; 33] = r.bytes()?.try_into().map_err(|_| Error::InvalidPoint)?;
    PointBytes::new(bytes)
}

fn read_proofs(r: &mut Reader<'_>, already: usize) -> Result<Vec<ProofFields>, Error> {
    let count = r.array()?;
    ensure_within(
        Limit::Proofs,
        already.saturating_add(count),
        MAX_PROOFS_PER_TOKEN,
    )?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(read_proof(r)?);
    }
    Ok(out)
}

fn read_proof(r: &mut Reader<'_>) -> Result<ProofFields, Error> {
    let (mut amount, mut secret, mut c, mut dleq, mut witness) = (None, None, None, None, None);
    let mut p2pk_e = None;
    for _ in 0..r.map()? {
        match r.key()? {
            Some("a") => {
                let value = Amount::new(r.uint()?);
                set_once(r, &mut amount, value)?;
            }
            Some("s") => {
                let value = Secret::new(r.text()?)?;
                set_once(r, &mut secret, value)?;
            }
            Some("c") => {
                let value = read_point(r)?;
                set_once(r, &mut c, value)?;
            }
            Some("d") if !r.null() => {
                let value = read_dleq(r)?;
                set_once(r, &mut dleq, value)?;
            }
            Some("w") if !r.null() => {
                let value = Witness::new(r.text()?)?;
                set_once(r, &mut witness, value)?;
            }
            // NUT-28 writes `E` as 33 bytes; CDK 0.18 writes its hex as
            // text. Both are read; the encoder writes bytes.
            Some("pe") if r.at_text() => {
                let value = PointBytes::from_hex(r.text()?)?;
                set_once(r, &mut p2pk_e, value)?;
            }
            Some("pe") if !r.null() => {
                let value = read_point(r)?;
                set_once(r, &mut p2pk_e, value)?;
            }
            Some("d" | "w" | "pe") => {}
            _ => r.skip()?,
        }
    }
    Ok(ProofFields {
        amount: required(r, amount)?,
        secret: required(r, secret)?,
        c: required(r, c)?,
        dleq,
        witness,
        p2pk_e,
    })
}

fn read_32(r: &mut Reader<'_>) -> Result<[u8; 32], Error> {
    r.bytes()?.try_into().map_err(|_| Error::InvalidScalar)
}

fn read_dleq(r: &mut Reader<'_>) -> Result<ProofDleq, Error> {
    let (mut e, mut s, mut blinding) = (None, None, None);
    for _ in 0..r.map()? {
        match r.key()? {
            Some("e") => {
                let value = Scalar::from_bytes(read_32(r)?)?;
                set_once(r, &mut e, value)?;
            }
            Some("s") => {
                let value = Scalar::from_bytes(read_32(r)?)?;
                set_once(r, &mut s, value)?;
            }
            Some("r") => {
                let bytes = Zeroizing::new(read_32(r)?);
                let value = SecretKey::from_bytes(*bytes)?;
                set_once(r, &mut blinding, value)?;
            }
            _ => r.skip()?,
        }
    }
    let dleq = Dleq {
        e: required(r, e)?,
        s: required(r, s)?,
    };
    Ok(ProofDleq::new(dleq, required(r, blinding)?))
}
