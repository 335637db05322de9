//! base64url as tokens use it, with tally-cashu's error: the codec is the
//! workspace's one (`tally_encoding::base64url`); this module maps its
//! errors to [`Error::InvalidBase64`].

pub use tally_encoding::base64url::{encode, encode_append, encode_with_prefix, encoded_len};

use crate::Error;

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
/// bad padding or non-zero trailing bits. (Token length is bounded by the
/// callers before decoding.)
pub fn decode(text: &str) -> Result<Vec<u8>, Error> {
    tally_encoding::base64url::decode(text, usize::MAX).map_err(|_| Error::InvalidBase64)
}
