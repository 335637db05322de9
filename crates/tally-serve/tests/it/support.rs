//! A server on 127.0.0.1:0 in a temporary directory, and a raw HTTP/1.1
//! client over a TCP socket (so tests control every byte and every pause).

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::LazyLock;

use tally_serve::config::Limits;
use tally_serve::{Config, Running};
use tally_token::{Caveat, Label, RootKey, Scope, Scopes, Token, TokenId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The test root key (epoch 1), written into every test server's keys
/// directory, so tokens minted here verify at every test server.
pub const ROOT_BYTES: [u8; 32] = [7; 32];

/// A token under the test root key: `tenant`, `scopes`, more caveats.
pub fn mint(tenant: &str, scopes: &[Scope], more: Vec<Caveat>) -> String {
    let root = RootKey::from_bytes(&ROOT_BYTES);
    let mut caveats = vec![
        Caveat::Tenant(Label::new(tenant).unwrap()),
        Caveat::Scopes(Scopes::new(scopes.iter().copied()).unwrap()),
    ];
    caveats.extend(more);
    Token::mint(&root, 1, TokenId::random().unwrap(), caveats)
        .unwrap()
        .to_text()
        .as_str()
        .to_owned()
}

/// Tenant `reader`'s read-only token.
pub static READER: LazyLock<String> =
    LazyLock::new(|| mint("reader", &[Scope::LedgerRead], vec![]));
/// Tenant `acme`'s read-write token.
pub static ACME: LazyLock<String> =
    LazyLock::new(|| mint("acme", &[Scope::LedgerRead, Scope::LedgerWrite], vec![]));
/// Tenant `beta`'s read-write token.
pub static BETA: LazyLock<String> =
    LazyLock::new(|| mint("beta", &[Scope::LedgerRead, Scope::LedgerWrite], vec![]));

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A server and its directory.
pub struct Server {
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub admin: String,
    pub dir: tempfile::TempDir,
}

pub fn config(dir: &std::path::Path, limits: Limits) -> Config {
    let keys = dir.join("keys");
    if !keys.exists() {
        std::fs::create_dir(&keys).unwrap();
        std::fs::set_permissions(&keys, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        RootKey::from_bytes(&ROOT_BYTES)
            .create_file(&keys.join("root-1.key"))
            .unwrap();
    }
    let mut c = Config::new(dir.join("data"));
    c.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.limits = limits;
    c.keys_dir = Some(keys);
    c
}

impl Server {
    pub async fn start(limits: Limits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, limits, None).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        limits: Limits,
        database: Option<String>,
    ) -> Self {
        let mut c = config(dir.path(), limits);
        c.database = database;
        Self::start_config(dir, c).await
    }

    /// A server of `c` (made with [`config`] over `dir`).
    pub async fn start_config(dir: tempfile::TempDir, c: Config) -> Self {
        let running = tally_serve::start(c).await.unwrap();
        let admin = std::fs::read_to_string(&running.admin_token_file)
            .unwrap()
            .trim()
            .to_owned();
        Self {
            addr: running.addr,
            running: Some(running),
            admin,
            dir,
        }
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.dir
    }

    pub fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }
}

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// The bytes of a request (`Connection: close`).
pub fn raw(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends `bytes`, reads the answer to the end.
pub async fn send(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    read_response(&mut s).await
}

pub async fn read_response(s: &mut TcpStream) -> Resp {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("the server answered in time")
        .unwrap_or(0);
    parse(&buf)
}

pub fn parse(buf: &[u8]) -> Resp {
    let text_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(buf)));
    let head = std::str::from_utf8(&buf[..text_end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let raw_body = &buf[text_end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// A request with a bearer token (and, for a POST, a JSON body and an
/// idempotency key).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: &[u8],
) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    if let Some(k) = key {
        headers.push(("Idempotency-Key", k));
    }
    if method == "POST" {
        headers.push(("Content-Type", "application/json"));
    }
    send(addr, &raw(method, path, &headers, body)).await
}

pub async fn get(addr: SocketAddr, path: &str, token: &str) -> Resp {
    call(addr, "GET", path, Some(token), None, b"").await
}

pub async fn post(addr: SocketAddr, path: &str, token: &str, key: &str, body: &str) -> Resp {
    call(addr, "POST", path, Some(token), Some(key), body.as_bytes()).await
}

/// Two accounts on ledger 1 (ids `a`, `b`).
pub fn accounts_body(a: u128, b: u128) -> String {
    format!(
        r#"{{"accounts":[{{"id":{a},"ledger":1,"code":1,"flags":["history"]}},{{"id":{b},"ledger":1,"code":1,"flags":["history"]}}]}}"#
    )
}

/// One transfer.
pub fn transfer_body(id: u128, from: u128, to: u128, amount: u128) -> String {
    format!(
        r#"{{"transfers":[{{"id":{id},"debit_account_id":{from},"credit_account_id":{to},"amount":{amount},"ledger":1,"code":1}}]}}"#
    )
}
