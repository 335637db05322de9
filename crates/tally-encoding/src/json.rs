//! Strict JSON decoding with errors that name the field.
//!
//! serde_json reports a number too large for its integer type as "invalid
//! type: floating point `1.8446744073709552e19`, expected u64", a negative
//! number as "invalid value: integer `-1`", a struct's expected form as
//! "expected struct Raw", and no field at all. [`decode`] tracks the path to
//! the value that failed (with `serde_path_to_error`) and rewrites those
//! messages: "`limit`: integer out of range (0 to 18446744073709551615)".
//! Everything else keeps the parser's message, which names line and column.
//!
//! Underneath, a strict layer (`json/strict.rs`) reads every struct only as
//! a JSON object (serde's derived decoders also take the sequence form of a
//! struct, an array of its fields in order: a second spelling of every
//! document) and reads unsigned integers itself.

mod strict;

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;

use serde::de::DeserializeOwned;

/// Why a JSON document did not decode: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// The path to the value that failed (`dims[0].limit`), empty for the
    /// document itself or a syntax error.
    pub path: String,
    /// What was wrong, in a user's words.
    pub message: String,
    /// The line (from 1) where the parser stopped.
    pub line: usize,
    /// The column (from 1) where the parser stopped.
    pub column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(
                f,
                "{} (line {}, column {})",
                self.message, self.line, self.column
            )
        } else {
            write!(
                f,
                "field `{}`: {} (line {}, column {})",
                self.path, self.message, self.line, self.column
            )
        }
    }
}

impl core::error::Error for JsonError {}

/// Decodes `bytes` as one JSON document of type `T` (trailing whitespace
/// only), with an error that names the field.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(strict::Strict(&mut de)).map_err(from_path_error)?;
    de.end().map_err(|e| plain(&e))?;
    Ok(value)
}

fn from_path_error(error: serde_path_to_error::Error<serde_json::Error>) -> JsonError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    let mut out = plain(&inner);
    // A syntax or I/O error has no meaningful path ("." or the enclosing one).
    if inner.is_data() && path != "." {
        out.path = path;
    }
    out
}

fn plain(error: &serde_json::Error) -> JsonError {
    JsonError {
        path: String::new(),
        message: friendly(&error.to_string()),
        line: error.line(),
        column: error.column(),
    }
}

/// The parser's message without its position, in a user's words.
fn friendly(message: &str) -> String {
    let bare = match message.rfind(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message),
        None => message,
    };
    let expected = bare.rsplit_once(", expected ").map(|(_, e)| e);
    if let Some(range) = expected.and_then(integer_range) {
        // A number where an integer of a given range was expected: serde_json
        // hands integers beyond 64 bits over as floating point.
        if let Some(found) = between(bare, "invalid type: floating point `", "`") {
            let integral = !found.contains('.')
                || found.contains("e+")
                || found.contains('e') && !found.contains("e-");
            return if integral || found.len() > 20 {
                format!("integer out of range ({range})")
            } else {
                format!("not an integer: {found} ({range})")
            };
        }
        if bare.starts_with("invalid value: integer `") {
            return format!("integer out of range ({range})");
        }
    }
    if let Some((found, _)) = bare.strip_prefix("invalid type: ").and_then(|found| {
        found
            .split_once(", expected struct ")
            .or_else(|| found.split_once(", expected an object"))
    }) {
        return format!("expected an object, found {found}");
    }
    if bare.contains("expected struct ") {
        // The sequence form of a struct ("invalid length 0, expected struct
        // Request with 13 elements"): the documented form is an object.
        return "expected an object".into();
    }
    bare.to_string()
}

/// The text between `start` and the next `end` in `text`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let rest = text.get(from..)?;
    rest.get(..rest.find(end)?)
}

/// The range of serde's integer type named by an "expected" clause.
fn integer_range(expected: &str) -> Option<&'static str> {
    Some(match expected {
        "u8" => "0 to 255",
        "u16" => "0 to 65535",
        "u32" => "0 to 4294967295",
        "u64" => "0 to 18446744073709551615",
        "u128" => "0 to 340282366920938463463374607431768211455",
        "i8" => "-128 to 127",
        "i16" => "-32768 to 32767",
        "i32" => "-2147483648 to 2147483647",
        "i64" => "-9223372036854775808 to 9223372036854775807",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Dim {
        name: String,
        limit: u64,
        #[serde(default)]
        small: u8,
        #[serde(default)]
        signed: i32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Policy {
        dims: Vec<Dim>,
    }

    fn err(text: &str) -> String {
        decode::<Policy>(text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn integers_beyond_their_range_are_named_and_called_out_of_range() {
        let cases = vec![
            (
                r#"{"dims":[{"name":"a","limit":18446744073709551616}]}"#,
                "field `dims[0].limit`: integer out of range (0 to 18446744073709551615) (line 1, column 49)",
            ),
            (
                r#"{"dims":[{"name":"a","limit":-1}]}"#,
                "field `dims[0].limit`: integer out of range (0 to 18446744073709551615) (line 1, column 31)",
            ),
            (
                r#"{"dims":[{"name":"a","limit":1,"small":256}]}"#,
                "field `dims[0].small`: integer out of range (0 to 255) (line 1, column 42)",
            ),
            (
                r#"{"dims":[{"name":"a","limit":1,"signed":1e40}]}"#,
                "field `dims[0].signed`: integer out of range (-2147483648 to 2147483647) (line 1, column 44)",
            ),
            (
                r#"{"dims":[{"name":"a","limit":1.5}]}"#,
                "field `dims[0].limit`: not an integer: 1.5 (0 to 18446744073709551615) (line 1, column 32)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(text), want, "{text}");
        }
    }

    #[test]
    fn no_internal_type_names_or_debug_forms_reach_the_message() {
        assert_eq!(
            err(r#""x""#),
            r#"expected an object, found string "x" (line 1, column 3)"#
        );
        assert_eq!(
            err(r#"{"dims":[7]}"#),
            "field `dims[0]`: expected an object, found integer `7` (line 1, column 10)"
        );
        assert_eq!(
            err("[]"),
            "expected an object, found sequence (line 1, column 0)"
        );
        let e = err(r#"{"dims":[],"x":1}"#);
        assert!(e.starts_with("field `x`: unknown field `x`"), "{e}");
        let e = err(r#"{"dims":[{"name":"a"}]}"#);
        assert!(
            e.starts_with("field `dims[0]`: missing field `limit`"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_keep_their_position_and_no_path() {
        assert_eq!(
            err("{\"dims\":"),
            "EOF while parsing a value (line 1, column 8)"
        );
        assert_eq!(
            err(r#"{"dims":[]} x"#),
            "trailing characters (line 1, column 13)"
        );
    }

    /// The sequence form of a struct (serde's array of its fields) is
    /// refused at every depth: only the object form is a document.
    #[test]
    fn structs_are_read_only_as_objects() {
        assert!(decode::<Policy>(br#"{"dims":[{"name":"a","limit":1}]}"#).is_ok());
        for text in [r#"{"dims":[["a",1,0,0]]}"#, r#"[[{"name":"a","limit":1}]]"#] {
            let e = err(text);
            assert!(
                e.contains("expected an object, found sequence"),
                "{text}: {e}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_or_fail_without_panicking(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = decode::<Policy>(&bytes);
        }
    }
}
