//! A strict, allocation-free JSON validator for payloads (RFC 8259 grammar).
//!
//! The log embeds payload bytes verbatim, so it only needs to know that they
//! are one JSON value that stays on one line; it never builds a value. The
//! only whitespace accepted is space and horizontal tab (no CR or LF, so the
//! payload cannot break the one-record-per-line framing). Nesting is bounded
//! by [`MAX_JSON_DEPTH`].

/// The deepest nesting of arrays and objects a payload may have.
pub const MAX_JSON_DEPTH: usize = 128;

/// Why a payload is not acceptable JSON, and where.
pub(crate) type JsonError = (&'static str, usize);

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, JsonError> {
        Err((what, self.at))
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            self.fail(what)
        }
    }

    fn string(&mut self) -> Result<(), JsonError> {
        self.expect(b'"', "expected a string")?;
        loop {
            let Some(c) = self.peek() else {
                return self.fail("unterminated string");
            };
            self.at += 1;
            match c {
                b'"' => return Ok(()),
                b'\\' => self.escape()?,
                0x00..=0x1f => {
                    self.at -= 1;
                    return self.fail("control character in string");
                }
                _ => {}
            }
        }
    }

    fn escape(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.at += 1;
                Ok(())
            }
            Some(b'u') => {
                self.at += 1;
                for _ in 0..4 {
                    if !self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                        return self.fail("bad \\u escape");
                    }
                    self.at += 1;
                }
                Ok(())
            }
            _ => self.fail("bad escape"),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail("bad number"),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return self.fail("bad fraction");
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return self.fail("bad exponent");
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), JsonError> {
        let end = self.at.saturating_add(word.len());
        if self.bytes.get(self.at..end) == Some(word) {
            self.at = end;
            Ok(())
        } else {
            self.fail("bad literal")
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> Result<(), JsonError> {
        self.string()?;
        self.skip_ws();
        self.expect(b':', "expected ':'")?;
        self.skip_ws();
        Ok(())
    }
}

/// Checks that `bytes` is exactly one JSON value (optionally surrounded by
/// spaces or tabs) in valid UTF-8, with no CR or LF anywhere.
pub(crate) fn validate(bytes: &[u8]) -> Result<(), JsonError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(("invalid UTF-8", e.valid_up_to()));
    }
    let mut cur = Cursor { bytes, at: 0 };
    // Bit i of `objects` is set when nesting level i is an object.
    let mut objects: u128 = 0;
    let mut depth: usize = 0;
    cur.skip_ws();
    'value: loop {
        match cur.peek() {
            Some(open @ (b'{' | b'[')) => {
                cur.at += 1;
                cur.skip_ws();
                let close = if open == b'{' { b'}' } else { b']' };
                if cur.peek() == Some(close) {
                    cur.at += 1;
                } else {
                    if depth >= MAX_JSON_DEPTH {
                        return cur.fail("nesting too deep");
                    }
                    let bit = 1u128 << depth;
                    if open == b'{' {
                        objects |= bit;
                        cur.key()?;
                    } else {
                        objects &= !bit;
                    }
                    depth += 1;
                    continue 'value;
                }
            }
            Some(b'"') => cur.string()?,
            Some(b't') => cur.literal(b"true")?,
            Some(b'f') => cur.literal(b"false")?,
            Some(b'n') => cur.literal(b"null")?,
            Some(b'-' | b'0'..=b'9') => cur.number()?,
            _ => return cur.fail("expected a value"),
        }
        // After a complete value: close containers or move to the next item.
        loop {
            cur.skip_ws();
            let Some(level) = depth.checked_sub(1) else {
                break 'value;
            };
            let in_object = objects & (1u128 << level) != 0;
            match cur.peek() {
                Some(b',') => {
                    cur.at += 1;
                    cur.skip_ws();
                    if in_object {
                        cur.key()?;
                    }
                    continue 'value;
                }
                Some(b'}') if in_object => {
                    cur.at += 1;
                    depth = level;
                }
                Some(b']') if !in_object => {
                    cur.at += 1;
                    depth = level;
                }
                _ => return cur.fail("expected ',' or a closing bracket"),
            }
        }
    }
    if cur.at != bytes.len() {
        return cur.fail("trailing bytes after the value");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_json_values() {
        for ok in [
            "0",
            "-0",
            "1.5e-3",
            "true",
            "null",
            "\"a\\u00e9\\n\"",
            "[]",
            "{}",
            " [1, {\"a\": [true, null]}]\t",
            "{\"k\":\"é\",\"n\":-12.0E+2}",
            "[[[[]]]]",
        ] {
            assert_eq!(validate(ok.as_bytes()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_non_json_and_line_breaks() {
        for bad in [
            "",
            " ",
            "01",
            "1.",
            "-",
            "+1",
            "tru",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1 2]",
            "\"a",
            "\"\t\"",
            "{1:2}",
            "[1]]",
            "1 2",
            "[\n1]",
            "[1]\r",
            "'a'",
            "\"\\x\"",
            "NaN",
            "[1}",
            "{]",
        ] {
            assert!(validate(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(validate(b"\"\xff\"").is_err());
    }

    #[test]
    fn depth_is_bounded_at_the_limit() {
        let ok = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert_eq!(validate(ok.as_bytes()), Ok(()));
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        assert_eq!(
            validate(deep.as_bytes()).map_err(|e| e.0),
            Err("nesting too deep")
        );
        let ok_obj = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_JSON_DEPTH),
            "}".repeat(MAX_JSON_DEPTH)
        );
        assert_eq!(validate(ok_obj.as_bytes()), Ok(()));
    }
}
