//! V3 tokens: `cashuA` + base64url(JSON).

use serde::{Deserialize, Serialize};

use super::{PREFIX_V3, Token, TokenProof};
use crate::Error;
use crate::encoding::base64url;
use crate::error::{Limit, ensure_within};
use crate::json::Bounded;
use crate::limits::{MAX_PROOFS_PER_TOKEN, MAX_TOKEN_GROUPS};
use crate::nuts::nut00::MintUrl;
use crate::nuts::nut01::CurrencyUnit;

#[derive(Deserialize)]
#[serde(expecting = "a V3 token object (token, unit, memo)")]
struct WireIn {
    token: Bounded<EntryIn, MAX_TOKEN_GROUPS>,
    #[serde(default)]
    unit: Option<CurrencyUnit>,
    #[serde(default)]
    memo: Option<String>,
}

#[derive(Deserialize)]
#[serde(expecting = "a V3 token entry object (mint, proofs)")]
struct EntryIn {
    mint: MintUrl,
    proofs: Bounded<TokenProof, MAX_PROOFS_PER_TOKEN>,
}

#[derive(Serialize)]
struct WireOut<'a> {
    token: [EntryOut<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a CurrencyUnit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memo: Option<&'a str>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    mint: &'a MintUrl,
    proofs: &'a [TokenProof],
}

pub(super) fn decode(payload: &str) -> Result<Token, Error> {
    let json = zeroize::Zeroizing::new(base64url::decode(payload)?);
    let wire: WireIn = serde_json::from_slice(&json).map_err(Error::Json)?;
    let entries = wire.token.0;
    ensure_within(Limit::TokenGroups, entries.len(), MAX_TOKEN_GROUPS)?;
    let mut entries = entries.into_iter();
    let first = entries.next().ok_or(Error::EmptyToken)?;
    let mint = first.mint;
    let mut proofs = first.proofs.0;
    for entry in entries {
        if entry.mint != mint {
            return Err(Error::MultipleMints);
        }
        ensure_within(
            Limit::Proofs,
            proofs.len().saturating_add(entry.proofs.0.len()),
            MAX_PROOFS_PER_TOKEN,
        )?;
        proofs.extend(entry.proofs.0);
    }
    Token::new(mint, wire.unit, wire.memo, proofs)
}

pub(super) fn encode(token: &Token) -> Result<String, Error> {
    let wire = WireOut {
        token: [EntryOut {
            mint: &token.mint,
            proofs: &token.proofs,
        }],
        unit: token.unit.as_ref(),
        memo: token.memo.as_deref(),
    };
    let json = zeroize::Zeroizing::new(serde_json::to_vec(&wire).map_err(Error::Json)?);
    Ok(base64url::encode_with_prefix(PREFIX_V3, &json))
}
