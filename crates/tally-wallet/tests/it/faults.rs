//! Fault injection between the wallet and a real mint: a loopback proxy that
//! can let the mint process a request and then drop the answer (the wallet
//! sees the connection close: an ambiguous failure).

use std::sync::{Arc, Mutex};

use tally_cashu::nuts::nut00::MintUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub url: MintUrl,
    /// Answers to requests whose request line starts with this are dropped.
    drop_answers: Arc<Mutex<Option<String>>>,
}

impl Proxy {
    pub async fn start(target: &MintUrl) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = MintUrl::new(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let target = target.as_str().trim_start_matches("http://").to_owned();
        let drop_answers = Arc::new(Mutex::new(None));
        let flag = Arc::clone(&drop_answers);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, target.clone(), Arc::clone(&flag)));
            }
        });
        Self { url, drop_answers }
    }

    /// From now on, answers the mint gives are dropped and the wallet's
    /// connection closed (decided per answer, so pooled connections obey).
    pub fn drop_answers(&self, on: bool) {
        self.drop_answers_to(on.then_some(""));
    }

    /// Drops only answers to requests whose request line starts with
    /// `prefix` (e.g. `POST /v1/mint/bolt11`); `None` drops nothing.
    pub fn drop_answers_to(&self, prefix: Option<&str>) {
        *self.drop_answers.lock().unwrap() = prefix.map(str::to_owned);
    }
}

async fn relay(client: TcpStream, target: String, drop_answers: Arc<Mutex<Option<String>>>) {
    let Ok(upstream) = TcpStream::connect(&target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let last_request = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&last_request);
    let requests = tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if [&b"GET "[..], b"POST "]
                .iter()
                .any(|m| buf[..n].starts_with(m))
            {
                *seen.lock().unwrap() = buf[..n.min(128)].to_vec();
            }
            if upstream_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match upstream_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let prefix = drop_answers.lock().unwrap().clone();
        if prefix.is_some_and(|p| last_request.lock().unwrap().starts_with(p.as_bytes())) {
            // The mint has answered, so it processed the request; the
            // wallet never hears of it.
            break;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    requests.abort();
}

/// What the [`FaultServer`] does to a request that matches a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Read the request, close the connection: the mint never sees it; the
    /// wallet sees the connection lost after sending (ambiguous).
    Reset,
    /// Answer this status without forwarding: the mint never sees it.
    Status(u16),
    /// Forward the request, let the mint answer, drop the answer: the mint
    /// processed it; the wallet never hears of it.
    DropAnswer,
}

type Rules = Arc<Mutex<Vec<(String, Fault, u32)>>>;

/// A loopback server in front of a real mint, one request per connection:
/// requests are forwarded as they are unless a rule injects a fault. Every
/// request line that arrives is logged.
pub struct FaultServer {
    pub url: MintUrl,
    rules: Rules,
    log: Arc<Mutex<Vec<String>>>,
    target: String,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl FaultServer {
    pub async fn start(target: &MintUrl) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = MintUrl::new(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let server = Self {
            url,
            rules: Arc::default(),
            log: Arc::default(),
            target: target.as_str().trim_start_matches("http://").to_owned(),
            task: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    fn serve(&self, listener: TcpListener) {
        let (rules, log, target) = (
            Arc::clone(&self.rules),
            Arc::clone(&self.log),
            self.target.clone(),
        );
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(one_request(
                    client,
                    target.clone(),
                    Arc::clone(&rules),
                    Arc::clone(&log),
                ));
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Stops listening: connections are refused (nothing reaches it).
    pub fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Listens again on the same port after `delay`.
    pub fn restart_after(self: &Arc<Self>, delay: std::time::Duration) {
        let this = Arc::clone(self);
        let addr = self.url.as_str().trim_start_matches("http://").to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let listener = TcpListener::bind(&addr).await.unwrap();
            this.serve(listener);
        });
    }

    /// The next `count` requests whose request line starts with `prefix`
    /// meet `fault`.
    pub fn inject(&self, prefix: &str, fault: Fault, count: u32) {
        self.rules
            .lock()
            .unwrap()
            .push((prefix.to_owned(), fault, count));
    }

    /// How many requests whose line starts with `prefix` arrived.
    pub fn seen(&self, prefix: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

/// Reads one HTTP/1.1 request (head and `content-length` body).
async fn read_request(socket: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            })
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return Some((head, buf[end + 4..end + 4 + length].to_vec()));
        }
    }
}

async fn one_request(
    mut client: TcpStream,
    target: String,
    rules: Rules,
    log: Arc<Mutex<Vec<String>>>,
) {
    let Some((head, body)) = read_request(&mut client).await else {
        return;
    };
    let line = head.lines().next().unwrap_or("").to_owned();
    log.lock().unwrap().push(line.clone());
    let fault = {
        let mut rules = rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|(prefix, _, left)| *left > 0 && line.starts_with(prefix.as_str()))
            .map(|(_, fault, left)| {
                *left -= 1;
                *fault
            })
    };
    match fault {
        Some(Fault::Reset) => return,
        Some(Fault::Status(status)) => {
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = client.write_all(answer.as_bytes()).await;
            return;
        }
        Some(Fault::DropAnswer) | None => {}
    }
    let Ok(mut upstream) = TcpStream::connect(&target).await else {
        return;
    };
    // One request per upstream connection: ask it to close after answering.
    let mut forwarded: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    forwarded.push_str("connection: close\r\n\r\n");
    if upstream.write_all(forwarded.as_bytes()).await.is_err()
        || upstream.write_all(&body).await.is_err()
    {
        return;
    }
    let mut answer = Vec::new();
    let _ = upstream.read_to_end(&mut answer).await;
    if fault == Some(Fault::DropAnswer) {
        return;
    }
    let _ = client.write_all(&answer).await;
}
