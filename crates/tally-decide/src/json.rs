//! Bounded, strict JSON decoding of the crate's documents.

use alloc::string::ToString;

use serde::de::DeserializeOwned;

use crate::error::Document;
use crate::policy::PolicySpec;
use crate::{AuditBundle, Decision, Error, Policy, Request};

/// The largest policy document read: 32 MiB (a full catalog of
/// [`crate::MAX_CANDIDATES`] candidates, pretty-printed, is about 26 MiB).
pub const MAX_POLICY_JSON_BYTES: usize = 32 << 20;

/// The largest request, decision or bundle document read: 64 KiB (each is
/// well under 2 KiB, even pretty-printed).
pub const MAX_DOCUMENT_JSON_BYTES: usize = 64 << 10;

/// Decodes `bytes` as a `T`, refusing documents above `max_bytes`.
pub(crate) fn decode<T: DeserializeOwned>(
    document: Document,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<T, Error> {
    if bytes.len() > max_bytes {
        return Err(Error::TooLarge {
            document,
            size_bytes: bytes.len(),
            max_bytes,
        });
    }
    tally_encoding::json::decode(bytes).map_err(|error| Error::Json {
        document,
        message: error.to_string(),
    })
}

impl Policy {
    /// Reads a policy from JSON (at most [`MAX_POLICY_JSON_BYTES`]); unknown
    /// fields are refused and the result is validated by [`Policy::new`],
    /// whose typed errors are returned as they are.
    ///
    /// ```
    /// # use tally_decide::*;
    /// let policy = Policy::from_json(include_bytes!("../examples/policy.json")).unwrap();
    /// assert_eq!(policy.candidates().len(), 4);
    /// assert!(matches!(Policy::from_json(b"{}"), Err(Error::Json { .. })));
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let spec: PolicySpec = decode(Document::Policy, bytes, MAX_POLICY_JSON_BYTES)?;
        Policy::new(spec)
    }
}

impl Request {
    /// Reads a request from JSON (at most [`MAX_DOCUMENT_JSON_BYTES`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        decode(Document::Request, bytes, MAX_DOCUMENT_JSON_BYTES)
    }
}

impl Decision {
    /// Reads a decision from JSON (at most [`MAX_DOCUMENT_JSON_BYTES`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        decode(Document::Decision, bytes, MAX_DOCUMENT_JSON_BYTES)
    }
}

impl AuditBundle {
    /// Reads a bundle from JSON (at most [`MAX_DOCUMENT_JSON_BYTES`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        decode(Document::Bundle, bytes, MAX_DOCUMENT_JSON_BYTES)
    }
}
