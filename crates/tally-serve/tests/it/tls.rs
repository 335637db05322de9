//! TLS in the process (`--tls-cert`/`--tls-key`): real HTTPS on loopback
//! with a self-signed certificate made in the test, a real rustls client
//! (reqwest) that trusts it, and raw sockets for the clients that
//! misbehave.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use tally_serve::StartError;
use tally_serve::config::Limits;
use tally_serve::tls::TlsFiles;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Server, config, get, runtime};

/// The name the certificate is for; the client resolves it to the server.
const HOST: &str = "tally.test";

/// A self-signed certificate for [`HOST`]: its PEM, and the files (the key
/// 0600 in a 0700 directory).
fn certificate(dir: &Path) -> (String, TlsFiles) {
    let made = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).unwrap();
    let tls = dir.join("tls");
    tally_files::private::create_dir(&tls).unwrap();
    let files = TlsFiles {
        cert: tls.join("cert.pem"),
        key: tls.join("key.pem"),
    };
    let cert_pem = made.cert.pem();
    std::fs::write(&files.cert, &cert_pem).unwrap();
    tally_files::private::create(&files.key, made.signing_key.serialize_pem().as_bytes()).unwrap();
    (cert_pem, files)
}

/// A server with TLS, and the certificate's PEM.
async fn start(limits: Limits) -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, files) = certificate(dir.path());
    let mut c = config(dir.path(), limits);
    c.tls = Some(files);
    let running = tally_serve::start(c).await.unwrap();
    assert!(running.tls);
    let admin = std::fs::read_to_string(&running.admin_token_file)
        .unwrap()
        .trim()
        .to_owned();
    let server = Server {
        addr: running.addr,
        running: Some(running),
        admin,
        dir,
    };
    (server, cert_pem)
}

/// An HTTPS client (rustls) that trusts `cert_pem` only (if given) and
/// resolves [`HOST`] to `addr`.
fn client(cert_pem: Option<&str>, addr: SocketAddr) -> reqwest::ClientBuilder {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .resolve(HOST, addr)
        .timeout(Duration::from_secs(10));
    if let Some(pem) = cert_pem {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
    }
    b
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("https://{HOST}:{}{path}", addr.port())
}

#[test]
fn https_with_the_trusted_certificate_is_served_over_tls_1_3_and_1_2_with_hsts() {
    runtime().block_on(async {
        let (s, cert_pem) = start(Limits::default()).await;
        for version in [
            reqwest::tls::Version::TLS_1_3,
            reqwest::tls::Version::TLS_1_2,
        ] {
            let c = client(Some(&cert_pem), s.addr)
                .min_tls_version(version)
                .max_tls_version(version)
                .build()
                .unwrap();
            let r = c
                .get(url(s.addr, "/v1/ledger/conservation"))
                .bearer_auth(&s.admin)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{version:?}");
            assert_eq!(
                r.headers()
                    .get("strict-transport-security")
                    .map(|v| v.to_str().unwrap()),
                Some("max-age=63072000; includeSubDomains"),
                "{version:?}"
            );
            assert_eq!(
                r.headers().get("x-content-type-options").unwrap(),
                "nosniff"
            );
            // reqwest without its `json` feature: the body parsed here.
            let body: serde_json::Value =
                serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            assert!(body.is_object(), "{body}");
        }
        // A client that does not trust the certificate gets no answer.
        let untrusting = client(None, s.addr).build().unwrap();
        assert!(
            untrusting
                .get(url(s.addr, "/healthz"))
                .send()
                .await
                .is_err()
        );
        s.stop().await;
    });
}

#[test]
fn plain_http_to_the_tls_port_fails() {
    runtime().block_on(async {
        let (s, cert_pem) = start(Limits::default()).await;
        let plain = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let http = format!("http://{}/healthz", s.addr);
        assert!(plain.get(&http).send().await.is_err());
        // On a raw socket: no HTTP answer comes back, and the server closes.
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
            .await
            .expect("the server closes the connection")
            .ok();
        assert!(
            !buf.starts_with(b"HTTP/"),
            "{:?}",
            String::from_utf8_lossy(&buf)
        );
        // HTTPS still works after that.
        let c = client(Some(&cert_pem), s.addr).build().unwrap();
        let r = c.get(url(s.addr, "/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        s.stop().await;
    });
}

/// Connects, sends `bytes`, and waits (up to 5 s) for the server to close:
/// the time it took.
async fn cut_off_after(addr: SocketAddr, bytes: &[u8]) -> Duration {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
        .await
        .expect("the server cuts off a client that never completes the handshake")
        .ok();
    started.elapsed()
}

#[test]
fn a_client_that_never_completes_the_handshake_is_cut_off_at_the_handshake_timeout() {
    runtime().block_on(async {
        let limits = Limits {
            tls_handshake_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let (s, cert_pem) = start(limits).await;
        // Nothing at all after connecting.
        let silent = cut_off_after(s.addr, b"").await;
        // The start of a ClientHello record (a handshake of 512 bytes
        // announced), then nothing.
        let partial = cut_off_after(s.addr, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await;
        for took in [silent, partial] {
            assert!(took >= Duration::from_millis(250), "{took:?}");
            assert!(took < Duration::from_secs(3), "{took:?}");
        }
        // A handshake within the bound is served.
        let c = client(Some(&cert_pem), s.addr).build().unwrap();
        let r = c.get(url(s.addr, "/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        s.stop().await;
    });
}

#[test]
fn a_stop_does_not_wait_for_a_stalled_handshake() {
    runtime().block_on(async {
        let limits = Limits {
            tls_handshake_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        let (s, _) = start(limits).await;
        let stalled = TcpStream::connect(s.addr).await.unwrap();
        // Let the server accept it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), s.stop())
            .await
            .expect("the server stops");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(stalled);
    });
}

fn refused(dir: &Path, files: TlsFiles) -> String {
    let mut c = config(dir, Limits::default());
    c.tls = Some(files);
    let data = c.data_dir.clone();
    let err = runtime()
        .block_on(tally_serve::start(c))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, StartError::Tls(_)), "{err:?}");
    // Refused before storage opens.
    assert!(!data.exists());
    err.to_string()
}

#[test]
fn a_key_file_group_or_others_can_read_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = certificate(dir.path());
    std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let message = refused(dir.path(), files.clone());
    assert!(
        message.contains(&files.key.display().to_string()),
        "{message}"
    );
    assert!(message.contains("mode 0644"), "{message}");
    // At 0600 the same files are accepted.
    std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(tally_serve::tls::server_config(&files).is_ok());
}

#[test]
fn a_certificate_or_key_that_is_not_pem_or_does_not_match_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = certificate(dir.path());
    // A certificate file without a certificate (here: the key's PEM).
    let not_cert = dir.path().join("tls/not-cert.pem");
    std::fs::copy(&files.key, &not_cert).unwrap();
    let message = refused(
        dir.path(),
        TlsFiles {
            cert: not_cert.clone(),
            key: files.key.clone(),
        },
    );
    assert!(
        message.contains(&not_cert.display().to_string()),
        "{message}"
    );
    assert!(message.contains("no PEM certificate"), "{message}");
    // A key file without a key: named, and its content not echoed.
    let not_key = dir.path().join("tls/not-key.pem");
    tally_files::private::create(&not_key, b"secret-looking text\n").unwrap();
    let message = refused(
        dir.path(),
        TlsFiles {
            cert: files.cert.clone(),
            key: not_key.clone(),
        },
    );
    assert!(
        message.contains(&not_key.display().to_string()),
        "{message}"
    );
    assert!(!message.contains("secret-looking"), "{message}");
    // Another certificate's key.
    let (_, other) = certificate(&dir.path().join("other"));
    let message = refused(
        dir.path(),
        TlsFiles {
            cert: files.cert.clone(),
            key: other.key.clone(),
        },
    );
    assert!(
        message.contains(&other.key.display().to_string()),
        "{message}"
    );
    // A certificate file past its bound.
    let huge = dir.path().join("tls/huge.pem");
    let size = usize::try_from(tally_serve::tls::CERT_FILE_MAX_BYTES).unwrap() + 1;
    std::fs::write(&huge, vec![b'A'; size]).unwrap();
    let message = refused(
        dir.path(),
        TlsFiles {
            cert: huge.clone(),
            key: files.key.clone(),
        },
    );
    assert!(message.contains(&huge.display().to_string()), "{message}");
}

#[test]
fn hsts_is_sent_behind_a_tls_proxy_and_never_on_plain_http_otherwise() {
    runtime().block_on(async {
        for behind_tls in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut c = config(dir.path(), Limits::default());
            c.behind_tls = behind_tls;
            let running = tally_serve::start(c).await.unwrap();
            assert!(!running.tls);
            let r = get(running.addr, "/healthz", "").await;
            assert_eq!(r.status, 200);
            assert_eq!(
                r.header("strict-transport-security").is_some(),
                behind_tls,
                "behind_tls {behind_tls}"
            );
            running.stop().await;
        }
    });
}
