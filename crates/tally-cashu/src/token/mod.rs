//! Serialized tokens (NUT-00): V3 `cashuA…` (JSON), V4 `cashuB…` (CBOR) and
//! the raw binary `crawB…` form.
//!
//! Decoding is **parsing**: structure, encodings, bounds and the token's own
//! invariants (at least one proof, positive amounts that sum without
//! overflow, no repeated secret, one mint) are checked, and a [`Token`] is
//! returned whose proofs still carry the keyset id as written (full or short)
//! and the signature `C` as [`PointBytes`]. **Resolving** a token
//! ([`Token::resolve`]) against the wallet's known keysets turns it into
//! [`Proof`]s: short ids are resolved (unknown or ambiguous ids fail, as
//! NUT-00 requires) and every `C` is checked to be on the curve. DLEQ proofs
//! are then verified per proof ([`Proof::verify_dleq`]).
//!
//! Formats:
//!
//! * V3: `cashuA` + base64url(JSON `{"token":[{"mint","proofs"}],"unit"?,"memo"?}`).
//!   Only single-mint V3 tokens are accepted (entries naming the same mint
//!   are merged); multi-mint V3 tokens are deprecated and refused.
//! * V4: `cashuB` + base64url(CBOR `{"t":[{"i","p":[{"a","s","c","d"?,"w"?,"pe"?}]}],"d"?,"m","u"}`),
//!   written with keys in that order (Nutshell's order), shortest-form heads, definite lengths
//!   (byte-identical to the official vectors). Unknown keys are skipped.
//! * Raw: `crawB` + the V4 CBOR bytes.
//!
//! Encoders emit base64url with padding; decoders accept it with or without.
//! An optional `cashu:` URI prefix is accepted on decode.

mod v3;
mod v4;

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::amount::Amount;
use crate::crypto::PointBytes;
use crate::encoding::{hex, serde_as_str};
use crate::error::{Limit, ensure_within};
use crate::limits::{
    MAX_MEMO_LEN_BYTES, MAX_PROOFS_PER_TOKEN, MAX_TOKEN_GROUPS, MAX_TOKEN_LEN_BYTES,
};
use crate::nuts::nut00::{MintUrl, Proof, Witness};
use crate::nuts::nut01::CurrencyUnit;
use crate::nuts::nut02::{KeysetId, KeysetIndex, SHORT_ID_LEN, ShortKeysetId, VERSION_V1};
use crate::nuts::nut12::ProofDleq;
use crate::secret::Secret;

/// Prefix of V3 tokens.
pub const PREFIX_V3: &str = "cashuA";
/// Prefix of V4 tokens.
pub const PREFIX_V4: &str = "cashuB";
/// Prefix of raw (binary) V4 tokens.
pub const PREFIX_RAW_V4: &[u8; 5] = b"crawB";
/// The optional URI scheme in front of a token.
pub const URI_SCHEME: &str = "cashu:";

/// A keyset id as a token writes it: a full id, or a V2 short id that must be
/// resolved against known keysets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKeysetId {
    /// A full V1 (8-byte) or V2 (33-byte) id.
    Full(KeysetId),
    /// The first 8 bytes of a V2 id.
    Short(ShortKeysetId),
}

impl TokenKeysetId {
    /// Classifies id bytes: 8 bytes of version `00` is a full V1 id, 8 bytes
    /// of version `01` a V2 short id, 33 bytes of version `01` a full V2 id.
    ///
    /// # Errors
    /// [`Error::InvalidKeysetId`] for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() == SHORT_ID_LEN && bytes.first() != Some(&VERSION_V1) {
            let array: [u8; SHORT_ID_LEN] = bytes.try_into().map_err(|_| Error::InvalidKeysetId)?;
            return ShortKeysetId::new(array).map(Self::Short);
        }
        KeysetId::from_bytes(bytes).map(Self::Full)
    }

    /// Parses hex (16 or 66 digits).
    ///
    /// # Errors
    /// [`Error::InvalidKeysetId`].
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes = hex::decode_vec(text, 33, "keyset id").map_err(|_| Error::InvalidKeysetId)?;
        Self::from_bytes(&bytes)
    }

    /// Parses an id as a V3 token writes it: hex (16 or 66 digits) or a
    /// legacy (base64) id.
    ///
    /// # Errors
    /// [`Error::InvalidKeysetId`].
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() == crate::nuts::nut02::LEGACY_ID_LEN {
            return KeysetId::parse(text).map(Self::Full);
        }
        Self::from_hex(text)
    }

    /// The id as a V3 token writes it (hex, or a legacy id's text).
    #[must_use]
    pub fn to_text(&self) -> String {
        match self {
            Self::Full(id) => id.to_text(),
            Self::Short(_) => self.to_hex(),
        }
    }

    /// Whether this is a legacy (base64) id, which V4 tokens cannot carry.
    #[must_use]
    pub fn is_legacy(&self) -> bool {
        matches!(self, Self::Full(KeysetId::Legacy(_)))
    }

    /// The id bytes as written.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Full(id) => id.as_bytes(),
            Self::Short(short) => short.as_bytes(),
        }
    }

    /// Lowercase hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// The full id, looked up in `index` (which must know the keyset).
    ///
    /// # Errors
    /// [`Error::UnknownKeyset`], [`Error::AmbiguousShortKeysetId`].
    pub fn resolve(&self, index: &KeysetIndex) -> Result<KeysetId, Error> {
        match self {
            Self::Full(id) => index.get(id).map(|k| k.id).ok_or(Error::UnknownKeyset),
            Self::Short(short) => index.resolve(short),
        }
    }
}

serde_as_str!(TokenKeysetId, to_text, parse);

impl fmt::Debug for TokenKeysetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKeysetId({})", self.to_text())
    }
}

/// How a token built from proofs writes keyset ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdForm {
    /// The full id.
    Full,
    /// The 8-byte short id for V2 keysets (V1 ids are already 8 bytes).
    Short,
}

/// A proof as a token carries it (see the module docs for what is checked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "a proof object (amount, id, secret, C, witness, dleq, p2pk_e)")]
pub struct TokenProof {
    /// The amount (positive).
    pub amount: Amount,
    /// The keyset id as written.
    #[serde(rename = "id")]
    pub keyset_id: TokenKeysetId,
    /// The secret.
    pub secret: Secret,
    /// The signature's compressed encoding (curve membership checked on resolve).
    #[serde(rename = "C")]
    pub c: PointBytes,
    /// The witness, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
    /// The DLEQ proof with blinding factor, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dleq: Option<ProofDleq>,
    /// NUT-28: the sender's ephemeral public key `E` of a pay-to-blinded-key
    /// lock (`p2pk_e` in V3, `pe` in V4), which the receiver needs to derive
    /// the signing key (curve membership checked on resolve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2pk_e: Option<PointBytes>,
}

impl TokenProof {
    /// The wallet proof: the keyset id resolved against `index`, `C`
    /// validated as a curve point.
    ///
    /// # Errors
    /// [`Error::UnknownKeyset`], [`Error::AmbiguousShortKeysetId`],
    /// [`Error::InvalidPoint`] (for `C` or the NUT-28 key `E`).
    pub fn resolve(&self, index: &KeysetIndex) -> Result<Proof, Error> {
        Ok(Proof {
            amount: self.amount,
            keyset_id: self.keyset_id.resolve(index)?,
            secret: self.secret.clone(),
            c: self.c.to_point()?,
            witness: self.witness.clone(),
            dleq: self.dleq.clone(),
            p2pk_e: self.p2pk_e.map(|e| e.to_point()).transpose()?,
        })
    }

    /// The token form of a wallet proof.
    #[must_use]
    pub fn from_proof(proof: Proof, form: IdForm) -> Self {
        let keyset_id = match (form, proof.keyset_id) {
            (IdForm::Short, KeysetId::V2(_)) => TokenKeysetId::Short(proof.keyset_id.short()),
            _ => TokenKeysetId::Full(proof.keyset_id),
        };
        Self {
            amount: proof.amount,
            keyset_id,
            secret: proof.secret,
            c: proof.c.into(),
            witness: proof.witness,
            dleq: proof.dleq,
            p2pk_e: proof.p2pk_e.map(PointBytes::from),
        }
    }
}

/// A decoded token: the proofs of one mint, with optional unit and memo.
///
/// Invariants (checked by every constructor and decoder): 1 to
/// [`MAX_PROOFS_PER_TOKEN`] proofs in at most [`MAX_TOKEN_GROUPS`] keyset
/// groups, every amount positive, the total fits a `u64`, no two proofs share
/// a secret, the memo is at most [`MAX_MEMO_LEN_BYTES`] bytes. Proofs are
/// kept grouped by keyset id in order of first appearance (the V4 layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    mint: MintUrl,
    unit: Option<CurrencyUnit>,
    memo: Option<String>,
    proofs: Vec<TokenProof>,
    value: Amount,
}

impl Token {
    /// Builds a token, checking its invariants.
    ///
    /// # Errors
    /// [`Error::EmptyToken`], [`Error::ZeroAmount`], [`Error::AmountOverflow`],
    /// [`Error::DuplicateProof`], [`Error::LimitExceeded`].
    pub fn new(
        mint: MintUrl,
        unit: Option<CurrencyUnit>,
        memo: Option<String>,
        proofs: Vec<TokenProof>,
    ) -> Result<Self, Error> {
        if proofs.is_empty() {
            return Err(Error::EmptyToken);
        }
        ensure_within(Limit::Proofs, proofs.len(), MAX_PROOFS_PER_TOKEN)?;
        if let Some(memo) = &memo {
            ensure_within(Limit::MemoLength, memo.len(), MAX_MEMO_LEN_BYTES)?;
        }
        if proofs.iter().any(|p| p.amount == Amount::ZERO) {
            return Err(Error::ZeroAmount);
        }
        let value = Amount::try_sum(proofs.iter().map(|p| p.amount))?;
        check_unique_secrets(&proofs)?;
        let proofs = group_by_keyset(proofs)?;
        Ok(Self {
            mint,
            unit,
            memo,
            proofs,
            value,
        })
    }

    /// A token of wallet proofs, writing ids in `form`.
    ///
    /// # Errors
    /// As [`Token::new`].
    pub fn from_proofs(
        mint: MintUrl,
        unit: Option<CurrencyUnit>,
        memo: Option<String>,
        proofs: Vec<Proof>,
        form: IdForm,
    ) -> Result<Self, Error> {
        let proofs = proofs
            .into_iter()
            .map(|p| TokenProof::from_proof(p, form))
            .collect();
        Self::new(mint, unit, memo, proofs)
    }

    /// The mint.
    #[must_use]
    pub fn mint(&self) -> &MintUrl {
        &self.mint
    }

    /// The unit, if the token names one (V4 tokens always do).
    #[must_use]
    pub fn unit(&self) -> Option<&CurrencyUnit> {
        self.unit.as_ref()
    }

    /// The memo.
    #[must_use]
    pub fn memo(&self) -> Option<&str> {
        self.memo.as_deref()
    }

    /// The proofs, grouped by keyset id.
    #[must_use]
    pub fn proofs(&self) -> &[TokenProof] {
        &self.proofs
    }

    /// The total amount (computed without overflow at construction).
    #[must_use]
    pub fn value(&self) -> Amount {
        self.value
    }

    /// Resolves keyset ids against `index` and validates every `C` point,
    /// giving the wallet's proofs.
    ///
    /// # Errors
    /// [`Error::UnknownKeyset`], [`Error::AmbiguousShortKeysetId`], [`Error::InvalidPoint`].
    pub fn resolve(&self, index: &KeysetIndex) -> Result<Vec<Proof>, Error> {
        self.proofs.iter().map(|p| p.resolve(index)).collect()
    }

    /// Decodes a `cashuA…` or `cashuB…` token (optionally behind `cashu:`;
    /// surrounding whitespace is ignored).
    ///
    /// ```
    /// use tally_cashu::token::Token;
    /// let text = "cashuBo2F0gqJhaUgA_9SLj17PgGFwgaNhYQFhc3hAYWNjMTI0MzVlN2I4NDg0YzNjZjE4NTAxNDkyMThhZjkwZjcxNmE1MmJmNGE1ZWQzNDdlNDhlY2MxM2Y3NzM4OGFjWCECRFODGd5IXVW-07KaZCvuWHk3WrnnpiDhHki6SCQh88-iYWlIAK0mjE0fWCZhcIKjYWECYXN4QDEzMjNkM2Q0NzA3YTU4YWQyZTIzYWRhNGU5ZjFmNDlmNWE1YjRhYzdiNzA4ZWIwZDYxZjczOGY0ODMwN2U4ZWVhY1ghAjRWqhENhLSsdHrr2Cw7AFrKUL9Ffr1XN6RBT6w659lNo2FhAWFzeEA1NmJjYmNiYjdjYzY0MDZiM2ZhNWQ1N2QyMTc0ZjRlZmY4YjQ0MDJiMTc2OTI2ZDNhNTdkM2MzZGNiYjU5ZDU3YWNYIQJzEpxXGeWZN5qXSmJjY8MzxWyvwObQGr5G1YCCgHicY2FtdWh0dHA6Ly9sb2NhbGhvc3Q6MzMzOGF1Y3NhdA";
    /// let token = Token::decode(text).unwrap();
    /// assert_eq!(token.value().value(), 4);
    /// assert_eq!(token.mint().as_str(), "http://localhost:3338");
    /// // Encoders here always pad; this vector was written without padding.
    /// assert_eq!(token.to_v4_string().unwrap(), text.to_owned() + "==");
    /// ```
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] past [`MAX_TOKEN_LEN_BYTES`];
    /// [`Error::UnknownTokenPrefix`]; [`Error::InvalidBase64`]; the format's
    /// parsing errors; [`Token::new`]'s errors.
    pub fn decode(text: &str) -> Result<Self, Error> {
        ensure_within(Limit::TokenLength, text.len(), MAX_TOKEN_LEN_BYTES)?;
        let text = text.trim();
        let text = text.strip_prefix(URI_SCHEME).unwrap_or(text);
        if let Some(payload) = text.strip_prefix(PREFIX_V3) {
            v3::decode(payload)
        } else if let Some(payload) = text.strip_prefix(PREFIX_V4) {
            v4::decode_base64(payload)
        } else {
            Err(Error::UnknownTokenPrefix)
        }
    }

    /// Decodes a raw `crawB…` token.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] past [`MAX_TOKEN_LEN_BYTES`];
    /// [`Error::UnknownTokenPrefix`]; CBOR errors; [`Token::new`]'s errors.
    pub fn from_raw_bytes(bytes: &[u8]) -> Result<Self, Error> {
        ensure_within(Limit::TokenLength, bytes.len(), MAX_TOKEN_LEN_BYTES)?;
        let cbor = bytes
            .strip_prefix(PREFIX_RAW_V4.as_slice())
            .ok_or(Error::UnknownTokenPrefix)?;
        v4::decode_cbor(cbor)
    }

    /// Encodes as a V3 `cashuA…` token.
    ///
    /// # Errors
    /// [`Error::Json`] (never for a valid token).
    pub fn to_v3_string(&self) -> Result<String, Error> {
        v3::encode(self)
    }

    /// Encodes as a V4 `cashuB…` token.
    ///
    /// # Errors
    /// [`Error::MissingUnit`] if the token has no unit (V4 requires one);
    /// [`Error::InvalidField`] if a proof has a legacy keyset id (V4 ids are
    /// bytes; legacy ids exist only in V3 tokens).
    pub fn to_v4_string(&self) -> Result<String, Error> {
        v4::encode_base64(self)
    }

    /// Encodes as a raw `crawB…` token.
    ///
    /// # Errors
    /// As [`Token::to_v4_string`].
    pub fn to_raw_bytes(&self) -> Result<Vec<u8>, Error> {
        v4::encode_raw(self)
    }
}

/// Refuses two proofs with the same secret. The secrets compared are all the
/// token's own (none is a secret of this wallet), so ordinary comparison
/// leaks nothing an attacker does not already know.
fn check_unique_secrets(proofs: &[TokenProof]) -> Result<(), Error> {
    let mut secrets: Vec<&[u8]> = proofs.iter().map(|p| p.secret.as_bytes()).collect();
    secrets.sort_unstable();
    if secrets.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
        return Err(Error::DuplicateProof);
    }
    Ok(())
}

/// Groups proofs by keyset id, stably, groups in order of first appearance.
fn group_by_keyset(proofs: Vec<TokenProof>) -> Result<Vec<TokenProof>, Error> {
    let mut ids: Vec<TokenKeysetId> = Vec::new();
    for p in &proofs {
        if !ids.contains(&p.keyset_id) {
            ensure_within(Limit::TokenGroups, ids.len() + 1, MAX_TOKEN_GROUPS)?;
            ids.push(p.keyset_id);
        }
    }
    if ids.len() == 1 {
        return Ok(proofs);
    }
    let mut grouped = Vec::with_capacity(proofs.len());
    let mut rest = proofs;
    for id in ids {
        let (group, others): (Vec<_>, Vec<_>) = rest.into_iter().partition(|p| p.keyset_id == id);
        grouped.extend(group);
        rest = others;
    }
    Ok(grouped)
}
