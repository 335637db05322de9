//! base64url (RFC 4648 §5) as tokens use it: encoded with padding, decoded
//! with or without padding. Only the URL-safe alphabet is accepted and
//! non-canonical trailing bits are refused.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_PAD_INDIFFERENT};

use crate::Error;

/// base64url with `=` padding (the form the NUT-00 vectors show).
///
/// ```
/// assert_eq!(tally_cashu::encoding::base64url::encode(b"\xfb\xff"), "-_8=");
/// ```
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// Appends the padded base64url of `bytes` to `out`.
pub fn encode_to(bytes: &[u8], out: &mut String) {
    URL_SAFE.encode_string(bytes, out);
}

/// Decodes base64url, with or without padding.
///
/// ```
/// use tally_cashu::encoding::base64url::decode;
/// assert_eq!(decode("-_8=").unwrap(), b"\xfb\xff");
/// assert_eq!(decode("-_8").unwrap(), b"\xfb\xff");
/// assert!(decode("+/8=").is_err());
/// ```
///
/// # Errors
/// [`Error::InvalidBase64`] on any character outside the URL-safe alphabet,
/// bad padding or non-zero trailing bits.
pub fn decode(text: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_PAD_INDIFFERENT
        .decode(text)
        .map_err(|_| Error::InvalidBase64)
}
