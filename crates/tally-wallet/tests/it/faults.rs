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
