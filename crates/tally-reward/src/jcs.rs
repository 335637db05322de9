//! Canonical JSON: RFC 8785 (JCS) for the values Tally writes.
//!
//! Objects have their members sorted by the UTF-16 code units of their
//! names, with no whitespace; strings escape only `"`, `\` and the control
//! characters below U+0020 (`\b \t \n \f \r` by name, the others as
//! `\u00xx` in lower-case hex); integers are written in decimal. Numbers that
//! are not integers are refused ([`crate::Error::NotCanonical`]): every
//! value in Tally is an integer in minor units, and refusing floats avoids
//! RFC 8785's ECMAScript number formatting entirely.
//!
//! Integers are exact at any `u64` or `i64` value. RFC 8785 itself formats
//! numbers as IEEE-754 doubles (I-JSON), which would round every amount above
//! 2^53: this is RFC 8785 for the values Tally writes, exact beyond it.
//!
//! **Why hand-written** (evaluated 2026-12-07 against `serde_jcs` 0.2.0):
//!
//! * `serde_jcs` formats every number as a double: it wrote
//!   `18446744073709551615` as `18446744073709552000` and 2^53 + 1 as 2^53,
//!   so two different amounts would share one canonical form (and one content
//!   id). It also writes `1.5` where this refuses it.
//! * It was slower, through serde from a manifest-shaped struct with 10,
//!   1 000 and 100 000 payout entries: 13.3 against 5.9 µs, 1 090 against
//!   470 µs (2.3x), 106 against 75 ms (1.4x); best of 5 runs, release build,
//!   both in one scratch binary on the shared 2-core machine. Where both are
//!   defined (integers below 2^53) the bytes were identical.
//! * It adds 2 crates (`serde_jcs`, `ryu-js`; 2.2 s to build) and turns on
//!   `serde_json`'s `float_roundtrip` feature for the whole workspace.
//!
//! `tests/it/golden.rs` (`jcs_matches_rfc_8785_for_our_subset`) pins the
//! output; the direct writers of inputs and payouts are tested against this
//! one (`tests/it/properties.rs`).

use serde_json::Value;

use crate::Error;

/// The canonical bytes of `value`.
///
/// ```
/// let v = serde_json::json!({"b": [1, "x\n"], "a": {"d": null, "c": true}});
/// assert_eq!(tally_reward::jcs::to_canonical(&v).unwrap(),
///            br#"{"a":{"c":true,"d":null},"b":[1,"x\n"]}"#);
/// ```
///
/// # Errors
/// [`Error::NotCanonical`] for a number that is not an integer.
pub fn to_canonical(value: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(256);
    write(value, &mut out)?;
    Ok(out)
}

/// Serializes `value` with serde and returns its canonical bytes.
///
/// # Errors
/// [`Error::NotCanonical`] when it does not serialize to JSON or holds a
/// number that is not an integer.
pub fn canonical<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    let value = serde_json::to_value(value).map_err(|e| Error::NotCanonical {
        reason: e.to_string(),
    })?;
    to_canonical(&value)
}

fn write(value: &Value, out: &mut Vec<u8>) -> Result<(), Error> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else {
                return Err(Error::NotCanonical {
                    reason: format!("{n} is not an integer"),
                });
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                write(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..0x20 => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0'));
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}
