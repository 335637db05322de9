//! TLS in the process (`--tls-cert`/`--tls-key`): real HTTPS on loopback
//! with a self-signed certificate made in the test, a real rustls client
//! (reqwest) that trusts it, and raw sockets for the clients that
//! misbehave. Client certificates (`--tls-client-ca`): CAs and client
//! certificates made in the test with rcgen, presented by reqwest.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use tally_serve::StartError;
use tally_serve::config::Limits;
use tally_serve::tls::{ClientAuth, TlsFiles};
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
    let files = TlsFiles::new(tls.join("cert.pem"), tls.join("key.pem"));
    let cert_pem = made.cert.pem();
    std::fs::write(&files.cert, &cert_pem).unwrap();
    tally_files::private::create(&files.key, made.signing_key.serialize_pem().as_bytes()).unwrap();
    (cert_pem, files)
}

/// A server with TLS, and the certificate's PEM.
async fn start(limits: Limits) -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, files) = certificate(dir.path());
    (serve(dir, files, limits).await, cert_pem)
}

/// A server in `dir` serving TLS with `files`.
async fn serve(dir: tempfile::TempDir, files: TlsFiles, limits: Limits) -> Server {
    let mut c = config(dir.path(), limits);
    c.tls = Some(files);
    let running = tally_serve::start(c).await.unwrap();
    assert!(running.tls);
    let admin = std::fs::read_to_string(&running.admin_token_file)
        .unwrap()
        .trim()
        .to_owned();
    Server {
        addr: running.addr,
        running: Some(running),
        admin,
        dir,
    }
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
        TlsFiles::new(not_cert.clone(), files.key.clone()),
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
        TlsFiles::new(files.cert.clone(), not_key.clone()),
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
        TlsFiles::new(files.cert.clone(), other.key.clone()),
    );
    assert!(
        message.contains(&other.key.display().to_string()),
        "{message}"
    );
    // A certificate file past its bound.
    let huge = dir.path().join("tls/huge.pem");
    let size = usize::try_from(tally_serve::tls::CERT_FILE_MAX_BYTES).unwrap() + 1;
    std::fs::write(&huge, vec![b'A'; size]).unwrap();
    let message = refused(dir.path(), TlsFiles::new(huge.clone(), files.key.clone()));
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

// ------------------------------------------------------ client certificates --

/// A certificate authority made in the test.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        issuer: rcgen::Issuer::new(params, key),
        pem,
    }
}

/// The validity of a client certificate: (not before, not after) as
/// (year, month, day).
type Validity = ((i32, u8, u8), (i32, u8, u8));
const VALID_NOW: Validity = ((2020, 1, 1), (4000, 1, 1));

/// A client identity (certificate and key, PEM) issued by `ca`.
fn identity(ca: &Ca, validity: Validity) -> reqwest::Identity {
    let mut params = rcgen::CertificateParams::new(vec!["client.test".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "a client");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let ((y0, m0, d0), (y1, m1, d1)) = validity;
    params.not_before = rcgen::date_time_ymd(y0, m0, d0);
    params.not_after = rcgen::date_time_ymd(y1, m1, d1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    reqwest::Identity::from_pem(format!("{}{}", cert.pem(), key.serialize_pem()).as_bytes())
        .unwrap()
}

/// A TLS server that verifies client certificates against `ca`'s.
async fn start_mtls(ca: &Ca, auth: ClientAuth) -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, mut files) = certificate(dir.path());
    let ca_file = dir.path().join("tls/client-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    files.client_ca = Some(ca_file);
    files.client_auth = auth;
    (serve(dir, files, Limits::default()).await, cert_pem)
}

/// `GET /healthz` over TLS `version`, presenting `id`: the status, or
/// `None` when the connection failed (a refused handshake).
async fn healthz(
    s: &Server,
    cert_pem: &str,
    id: Option<reqwest::Identity>,
    version: reqwest::tls::Version,
) -> Option<u16> {
    let mut b = client(Some(cert_pem), s.addr)
        .min_tls_version(version)
        .max_tls_version(version);
    if let Some(id) = id {
        b = b.identity(id);
    }
    let c = b.build().unwrap();
    let r = c.get(url(s.addr, "/healthz")).send().await.ok()?;
    let status = r.status().as_u16();
    r.bytes().await.ok()?;
    Some(status)
}

const VERSIONS: [reqwest::tls::Version; 2] = [
    reqwest::tls::Version::TLS_1_3,
    reqwest::tls::Version::TLS_1_2,
];

#[test]
fn a_client_ca_admits_its_clients_and_refuses_no_certificate_or_another_ca_s() {
    runtime().block_on(async {
        let ours = ca("tally clients");
        let theirs = ca("another CA");
        let (s, cert_pem) = start_mtls(&ours, ClientAuth::Required).await;
        for version in VERSIONS {
            assert_eq!(
                healthz(&s, &cert_pem, Some(identity(&ours, VALID_NOW)), version).await,
                Some(200),
                "{version:?}"
            );
            assert_eq!(
                healthz(&s, &cert_pem, None, version).await,
                None,
                "no certificate, {version:?}"
            );
            assert_eq!(
                healthz(&s, &cert_pem, Some(identity(&theirs, VALID_NOW)), version).await,
                None,
                "another CA, {version:?}"
            );
        }
        // The refusals did not hurt the server: an admitted client still is.
        let c = client(Some(&cert_pem), s.addr)
            .identity(identity(&ours, VALID_NOW))
            .build()
            .unwrap();
        let r = c
            .get(url(s.addr, "/v1/ledger/conservation"))
            .bearer_auth(&s.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        s.stop().await;
    });
}

#[test]
fn expired_and_not_yet_valid_client_certificates_are_refused() {
    runtime().block_on(async {
        let ours = ca("tally clients");
        let (s, cert_pem) = start_mtls(&ours, ClientAuth::Required).await;
        let expired = ((2000, 1, 1), (2001, 1, 1));
        let not_yet = ((3990, 1, 1), (4000, 1, 1));
        for version in VERSIONS {
            for (what, validity) in [("expired", expired), ("not yet valid", not_yet)] {
                assert_eq!(
                    healthz(&s, &cert_pem, Some(identity(&ours, validity)), version).await,
                    None,
                    "{what}, {version:?}"
                );
            }
        }
        assert_eq!(
            healthz(&s, &cert_pem, Some(identity(&ours, VALID_NOW)), VERSIONS[0]).await,
            Some(200)
        );
        s.stop().await;
    });
}

#[test]
fn optional_client_auth_admits_a_client_without_a_certificate_but_never_a_bad_one() {
    runtime().block_on(async {
        let ours = ca("tally clients");
        let theirs = ca("another CA");
        let (s, cert_pem) = start_mtls(&ours, ClientAuth::Optional).await;
        for version in VERSIONS {
            assert_eq!(healthz(&s, &cert_pem, None, version).await, Some(200));
            assert_eq!(
                healthz(&s, &cert_pem, Some(identity(&ours, VALID_NOW)), version).await,
                Some(200)
            );
            assert_eq!(
                healthz(&s, &cert_pem, Some(identity(&theirs, VALID_NOW)), version).await,
                None,
                "another CA, {version:?}"
            );
            assert_eq!(
                healthz(
                    &s,
                    &cert_pem,
                    Some(identity(&ours, ((2000, 1, 1), (2001, 1, 1)))),
                    version
                )
                .await,
                None,
                "expired, {version:?}"
            );
        }
        s.stop().await;
    });
}

#[test]
fn a_client_ca_file_that_cannot_anchor_verification_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = certificate(dir.path());
    let with_ca = |path: &Path| {
        let mut f = files.clone();
        f.client_ca = Some(path.to_path_buf());
        f
    };
    // No certificate in it (the server key's PEM).
    let no_cert = dir.path().join("tls/no-cert.pem");
    std::fs::copy(&files.key, &no_cert).unwrap();
    let message = refused(dir.path(), with_ca(&no_cert));
    assert!(
        message.contains(&no_cert.display().to_string()),
        "{message}"
    );
    assert!(message.contains("no PEM certificate"), "{message}");
    // A CERTIFICATE block that is not a certificate.
    let junk = dir.path().join("tls/junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let message = refused(dir.path(), with_ca(&junk));
    assert!(message.contains(&junk.display().to_string()), "{message}");
    // More CA certificates than CLIENT_CA_CERTS_MAX, and a file past its
    // bound.
    let many = dir.path().join("tls/many.pem");
    let one = ca("one").pem;
    std::fs::write(&many, one.repeat(tally_serve::tls::CLIENT_CA_CERTS_MAX + 1)).unwrap();
    let message = refused(dir.path(), with_ca(&many));
    assert!(message.contains("CLIENT_CA_CERTS_MAX"), "{message}");
    let missing = dir.path().join("tls/missing.pem");
    let message = refused(dir.path(), with_ca(&missing));
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    // The same files with a usable CA start.
    let good = dir.path().join("tls/good.pem");
    std::fs::write(&good, &one).unwrap();
    assert!(tally_serve::tls::server_config(&with_ca(&good)).is_ok());
}
