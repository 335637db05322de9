//! Reading the command line's inputs, and how a command ends.
//!
//! Every file and stream the CLI reads goes through this module, bounded
//! twice: per line (a stream of lines) or per file, and in total. A source is
//! refused as soon as it passes a bound, before more of it is read or held,
//! so `/dev/zero` or an endless pipe costs at most the bound, and the error
//! names the source and the bound. Nothing is written before the input that
//! drives the write has been read and checked whole.
//!
//! Exit codes, for every subcommand: `0` success; `1` the operation ran and
//! found a failure (a verification that did not check, a refused charge);
//! `2` bad usage or bad input (a missing or malformed file, a value out of
//! range, a missing key).

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::ExitCode;

/// Why a command stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or bad input: exit 2.
    Usage(String),
    /// The operation ran and found a failure: exit 1.
    Failed(String),
}

impl Failure {
    /// Bad usage or bad input (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// A failed operation (exit 1).
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// An I/O error on `path`, named.
    pub(crate) fn io(path: &Path, error: &std::io::Error) -> Self {
        Self::Usage(format!("{}: {error}", path.display()))
    }

    /// The exit code of this failure.
    pub(crate) fn code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            Self::Failed(_) => ExitCode::from(1),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(m) | Self::Failed(m) => f.write_str(m),
        }
    }
}

/// Ends a command: prints a failure on stderr after `prefix` and returns the
/// exit code.
pub(crate) fn finish(prefix: &str, outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{prefix}: {failure}");
            failure.code()
        }
    }
}

/// Reads the whole file at `path`, refusing it once it passes `max_bytes`
/// (at most `max_bytes + 1` bytes are read, whatever the file is).
pub(crate) fn read_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, Failure> {
    let file = File::open(path).map_err(|e| Failure::io(path, &e))?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::io(path, &e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(Failure::usage(format!(
            "{}: larger than {max_bytes} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Reads the whole file at `path` as UTF-8 text, bounded as [`read_file`].
pub(crate) fn read_text(path: &Path, max_bytes: u64) -> Result<String, Failure> {
    String::from_utf8(read_file(path, max_bytes)?)
        .map_err(|_| Failure::usage(format!("{}: not UTF-8 text", path.display())))
}

/// A stream of lines bounded per line and in total, naming its source and
/// the line number in every error.
pub(crate) struct Lines<R> {
    src: R,
    source: String,
    line_max_bytes: usize,
    total_max_bytes: u64,
    total_bytes: u64,
    number: u64,
    line: Vec<u8>,
}

impl Lines<BufReader<File>> {
    /// The lines of the file at `path`.
    pub(crate) fn open(
        path: &Path,
        line_max_bytes: usize,
        total_max_bytes: u64,
    ) -> Result<Self, Failure> {
        let file = File::open(path).map_err(|e| Failure::io(path, &e))?;
        Ok(Self::new(
            BufReader::new(file),
            path.display().to_string(),
            line_max_bytes,
            total_max_bytes,
        ))
    }
}

impl<R: BufRead> Lines<R> {
    /// The lines of `src`, called `source` in errors.
    pub(crate) fn new(
        src: R,
        source: impl Into<String>,
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
    pub(crate) fn consumed(&self) -> u64 {
        self.total_bytes
    }

    /// The source's name, as errors give it.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The next line (its number from 1, its bytes without `\n` or `\r\n`),
    /// or `None` at the end. A last line without a newline counts.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, Failure> {
        self.line.clear();
        let mut ended = false;
        loop {
            let available = self
                .src
                .fill_buf()
                .map_err(|e| Failure::usage(format!("{}: {e}", self.source)))?;
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
                return Err(Failure::usage(format!(
                    "{} line {number}: longer than {} bytes",
                    self.source, self.line_max_bytes
                )));
            }
            self.total_bytes = self.total_bytes.saturating_add(take as u64);
            if self.total_bytes > self.total_max_bytes {
                return Err(Failure::usage(format!(
                    "{}: larger than {} bytes",
                    self.source, self.total_max_bytes
                )));
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
            return Err(Failure::usage(format!(
                "{} line {}: longer than {} bytes",
                self.source, self.number, self.line_max_bytes
            )));
        }
        Ok(Some((self.number, line)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
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

    #[test]
    fn read_file_bounds_any_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_file(&path, 5).unwrap(), b"12345");
        let e = read_file(&path, 4).unwrap_err().to_string();
        assert!(e.ends_with("/f: larger than 4 bytes"), "{e}");
        let e = read_file(Path::new("/dev/zero"), 1 << 20)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "/dev/zero: larger than 1048576 bytes");
        let missing = dir.path().join("missing");
        let e = read_file(&missing, 4).unwrap_err();
        assert!(matches!(e, Failure::Usage(_)));
        assert!(e.to_string().contains("/missing: "), "{e}");
    }
}
