//! What every CLI test module uses: the binary, and running it with stdin.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// The `tally` binary, with no key taken from the test's environment.
pub fn tally() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
    c.env_remove("TALLY_AUDIT_KEY")
        .env_remove("TALLY_AUDIT_SIGNER_KEY")
        .env_remove("TALLY_REWARD_KEY");
    c
}

/// Runs `cmd` with `stdin` as its standard input and returns its output.
/// The binary may exit before reading all of it (bad input): a broken pipe
/// is not an error here.
pub fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    child.wait_with_output().unwrap()
}

/// A POST with its own `Idempotency-Key`; `None` when the process is gone.
pub fn post_key(
    addr: &str,
    token: &str,
    key: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    Some((
        status,
        out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
    ))
}
