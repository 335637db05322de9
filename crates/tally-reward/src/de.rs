//! The one way every document of the crate is read: the workspace's strict
//! JSON decoder (`tally_encoding::json::decode`), which reads a struct only
//! as a JSON object (serde's derived decoders also accept the sequence form
//! of a struct, an array of its fields in order: a second spelling of every
//! document, with the same CID), names the field that failed
//! (`accounts[2].counters.bytes_stored`), and says "integer out of range"
//! for an integer beyond its type, where serde_json says "invalid type:
//! floating point".

use serde::de::DeserializeOwned;

use crate::Error;

/// Decodes `bytes` as `T`, strictly (see the module docs).
///
/// # Errors
/// [`Error::Json`] for `document`, naming the field that failed.
pub(crate) fn from_json<T: DeserializeOwned>(
    document: &'static str,
    bytes: &[u8],
) -> Result<T, Error> {
    tally_encoding::json::decode(bytes).map_err(|e| Error::Json {
        document,
        message: e.to_string(),
    })
}

/// [`from_json`] of a document of at most `max` bytes.
///
/// # Errors
/// [`Error::TooLarge`] before anything is read, or as [`from_json`].
pub(crate) fn from_json_bounded<T: DeserializeOwned>(
    document: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<T, Error> {
    if bytes.len() > max {
        return Err(Error::TooLarge {
            document,
            size: bytes.len(),
            max,
        });
    }
    from_json(document, bytes)
}

/// Untrusted text as shown in a message: at most `max` characters, anything
/// but printable ASCII (space included) as `?`.
pub(crate) fn shown(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}
