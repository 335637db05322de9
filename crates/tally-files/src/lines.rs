//! A stream of lines bounded per line and in total.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::FileError;

/// A stream of lines bounded per line and in total, naming its source and
/// the line number in every error.
pub struct Lines<R> {
    src: R,
    source: PathBuf,
    line_max_bytes: usize,
    total_max_bytes: u64,
    total_bytes: u64,
    number: u64,
    line: Vec<u8>,
}

impl Lines<BufReader<File>> {
    /// The lines of the file at `path`.
    ///
    /// # Errors
    /// [`FileError::Io`] if it cannot be opened.
    pub fn open(
        path: &Path,
        line_max_bytes: usize,
        total_max_bytes: u64,
    ) -> Result<Self, FileError> {
        let file = File::open(path).map_err(|e| FileError::io(path, "open", e))?;
        Ok(Self::new(
            BufReader::new(file),
            path,
            line_max_bytes,
            total_max_bytes,
        ))
    }
}

impl<R: BufRead> Lines<R> {
    /// The lines of `src`, called `source` in errors.
    pub fn new(
        src: R,
        source: impl Into<PathBuf>,
        line_max_bytes: usize,
        total_max_bytes: u64,
    ) -> Self {
        Self {
            src,
            source: source.into(),
            line_max_bytes,
            total_max_bytes,
            total_bytes: 0,
            number: 0,
            line: Vec::new(),
        }
    }

    /// How many bytes have been consumed: the offset of the next line.
    pub fn consumed(&self) -> u64 {
        self.total_bytes
    }

    /// The source's name, as errors give it.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The next line (its number from 1, its bytes without `\n` or `\r\n`),
    /// or `None` at the end. A last line without a newline counts.
    ///
    /// # Errors
    /// [`FileError::LineTooLong`], [`FileError::TooLarge`] (nothing past the
    /// bound is held), [`FileError::Io`].
    pub fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, FileError> {
        self.line.clear();
        let mut ended = false;
        loop {
            let available = self
                .src
                .fill_buf()
                .map_err(|e| FileError::io(&self.source, "read", e))?;
            if available.is_empty() {
                break;
            }
            let (take, newline) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let content = if newline { take - 1 } else { take };
            let number = self.number + 1;
            if self.line.len().saturating_add(content) > self.line_max_bytes.saturating_add(1) {
                return Err(FileError::LineTooLong {
                    path: self.source.clone(),
                    line: number,
                    max_bytes: self.line_max_bytes,
                });
            }
            self.total_bytes = self.total_bytes.saturating_add(take as u64);
            if self.total_bytes > self.total_max_bytes {
                return Err(FileError::TooLarge {
                    path: self.source.clone(),
                    max_bytes: self.total_max_bytes,
                });
            }
            self.line
                .extend_from_slice(available.get(..content).unwrap_or_default());
            self.src.consume(take);
            if newline {
                ended = true;
                break;
            }
        }
        if !ended && self.line.is_empty() {
            return Ok(None);
        }
        self.number += 1;
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        if line.len() > self.line_max_bytes {
            return Err(FileError::LineTooLong {
                path: self.source.clone(),
                line: self.number,
                max_bytes: self.line_max_bytes,
            });
        }
        Ok(Some((self.number, line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], line_max: usize, total_max: u64) -> Result<Vec<(u64, Vec<u8>)>, String> {
        let mut lines = Lines::new(input, "test", line_max, total_max);
        let mut out = Vec::new();
        loop {
            match lines.next_line() {
                Ok(Some((n, l))) => out.push((n, l.to_vec())),
                Ok(None) => return Ok(out),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    #[test]
    fn lines_are_split_numbered_and_stripped() {
        let got = all(b"a\r\nbb\n\nccc", 8, 100).unwrap();
        let want: Vec<(u64, Vec<u8>)> = vec![
            (1, b"a".to_vec()),
            (2, b"bb".to_vec()),
            (3, b"".to_vec()),
            (4, b"ccc".to_vec()),
        ];
        assert_eq!(got, want);
        assert_eq!(all(b"", 8, 100).unwrap(), vec![]);
    }

    #[test]
    fn the_line_bound_holds_at_the_bound_and_one_past() {
        assert_eq!(all(b"1234\n", 4, 100).unwrap().len(), 1);
        assert_eq!(all(b"1234\r\n", 4, 100).unwrap().len(), 1);
        assert_eq!(all(b"1234", 4, 100).unwrap().len(), 1);
        assert_eq!(
            all(b"ok\n12345\n", 4, 100).unwrap_err(),
            "test line 2: longer than 4 bytes"
        );
        assert_eq!(
            all(b"12345", 4, 100).unwrap_err(),
            "test line 1: longer than 4 bytes"
        );
    }

    #[test]
    fn the_total_bound_holds_at_the_bound_and_one_past() {
        assert_eq!(all(b"12\n34\n", 8, 6).unwrap().len(), 2);
        assert_eq!(
            all(b"12\n34\n5", 8, 6).unwrap_err(),
            "test: larger than 6 bytes"
        );
    }

    #[test]
    fn an_endless_stream_stops_at_the_line_bound() {
        let endless = BufReader::new(std::io::repeat(0));
        let mut lines = Lines::new(endless, "zeros", 1 << 16, u64::MAX);
        let e = lines.next_line().unwrap_err().to_string();
        assert_eq!(e, "zeros line 1: longer than 65536 bytes");
        let endless = BufReader::new(std::io::repeat(b'\n'));
        let mut lines = Lines::new(endless, "newlines", 16, 1 << 16);
        let mut n = 0;
        let e = loop {
            match lines.next_line() {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("an endless stream ended"),
                Err(e) => break e.to_string(),
            }
        };
        assert_eq!(n, 1 << 16);
        assert_eq!(e, "newlines: larger than 65536 bytes");
    }
}
