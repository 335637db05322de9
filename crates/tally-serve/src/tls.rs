//! Optional TLS: `tally serve --tls-cert FILE --tls-key FILE`, and client
//! certificates: `--tls-client-ca FILE [--tls-client-auth required|optional]`.
//!
//! The workspace's one TLS stack: rustls with the `ring` provider (the same
//! as tally-wallet's HTTPS client), TLS 1.3 and 1.2 only, HTTP/1.1 offered
//! by ALPN. The certificate chain and the private key are PEM files; the
//! key file is a private file (mode 0600 or stricter, in a directory others
//! cannot write: [`tally_files::private`]) and is refused otherwise, with
//! an error naming it. Both files are read once, bounded, at start-up.
//!
//! **Client certificates** (mutual TLS): with a client CA file (PEM, one
//! or more CA certificates, at most [`CLIENT_CA_CERTS_MAX`]), rustls's
//! `WebPkiClientVerifier` checks every certificate a client presents: it
//! must chain to one of those CAs, be valid now (not expired, not yet
//! valid) and allow client authentication (an extended key usage, when it
//! has one, must include `clientAuth`); otherwise the handshake fails and
//! no HTTP is read. [`ClientAuth::Required`] (the default) also refuses a
//! client that presents none; [`ClientAuth::Optional`] lets it through (it
//! still needs its bearer token, as every client does) while a certificate
//! that is presented must verify. The certificate authenticates the
//! connection only: authorisation stays with the capability tokens.
//!
//! The handshake itself runs in the server's accept loop
//! ([`crate::server`]) under a bounded timeout
//! ([`crate::config::TLS_HANDSHAKE_TIMEOUT_MS`]), so a client that opens a
//! connection and never completes a handshake is cut off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The largest certificate chain file, bytes (a chain of a few certificates
/// is a few KiB).
pub const CERT_FILE_MAX_BYTES: u64 = 256 * 1024;
/// The largest private key file, bytes (an RSA-4096 key in PEM is ~3.3 KiB).
pub const KEY_FILE_MAX_BYTES: u64 = 16 * 1024;
/// The most certificates in a chain.
pub const CHAIN_CERTS_MAX: usize = 16;
/// The most CA certificates in a client CA file.
pub const CLIENT_CA_CERTS_MAX: usize = 64;

/// Whether a client must present a certificate (with a client CA).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client presents a certificate that chains to the client CA.
    #[default]
    Required,
    /// A client may present none; one that is presented must verify.
    Optional,
}

impl std::str::FromStr for ClientAuth {
    type Err = &'static str;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "required" => Ok(Self::Required),
            "optional" => Ok(Self::Optional),
            _ => Err("expected `required` or `optional`"),
        }
    }
}

/// The TLS files of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1), mode 0600.
    pub key: PathBuf,
    /// The CA certificates (PEM) client certificates must chain to
    /// (`--tls-client-ca`); `None`: no client certificates.
    pub client_ca: Option<PathBuf>,
    /// Whether a client certificate is required (`--tls-client-auth`;
    /// only with `client_ca`).
    pub client_auth: ClientAuth,
}

impl TlsFiles {
    /// A certificate and key, without client certificates.
    #[must_use]
    pub fn new(cert: PathBuf, key: PathBuf) -> Self {
        Self {
            cert,
            key,
            client_ca: None,
            client_auth: ClientAuth::Required,
        }
    }
}

/// Why TLS could not be set up; every variant that is about a file names it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read, is too large, or (the key) is not private.
    #[error("TLS: {0}")]
    File(#[from] tally_files::FileError),
    /// The certificate file holds no certificate, or not PEM.
    #[error("TLS: {}: {what}", path.display())]
    Cert {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// The key file holds no private key in PEM (its content is never
    /// echoed).
    #[error("TLS: {}: no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
    },
    /// The client CA file's certificates cannot anchor client
    /// verification (not a usable CA certificate).
    #[error("TLS: {}: {what}", path.display())]
    ClientCa {
        /// The client CA file.
        path: PathBuf,
        /// rustls's or webpki's reason.
        what: String,
    },
    /// rustls refused the pair (a key that does not match the certificate,
    /// an unsupported key type).
    #[error("TLS: {} with {}: {source}", cert.display(), key.display())]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
}

fn certificates(path: &Path, max: usize) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = tally_files::read_bounded(path, CERT_FILE_MAX_BYTES)?;
    let cert_error = |what| TlsError::Cert {
        path: path.to_path_buf(),
        what,
    };
    let mut chain = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|_| cert_error("not PEM"))?;
        if chain.len() == max {
            return Err(cert_error(if max == CHAIN_CERTS_MAX {
                "more certificates than CHAIN_CERTS_MAX (16)"
            } else {
                "more certificates than CLIENT_CA_CERTS_MAX (64)"
            }));
        }
        chain.push(cert);
    }
    if chain.is_empty() {
        return Err(cert_error("no PEM certificate"));
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = tally_files::private::read(path, KEY_FILE_MAX_BYTES)?;
    PrivateKeyDer::from_pem_slice(pem.as_str().as_bytes()).map_err(|_| TlsError::Key {
        path: path.to_path_buf(),
    })
}

/// The verifier of client certificates: chains to the CAs of `path`.
fn client_verifier(
    path: &Path,
    auth: ClientAuth,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let ca_error = |what: String| TlsError::ClientCa {
        path: path.to_path_buf(),
        what,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(path, CLIENT_CA_CERTS_MAX)? {
        roots
            .add(cert)
            .map_err(|e| ca_error(format!("not a CA certificate rustls can use: {e}")))?;
    }
    let builder =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = match auth {
        ClientAuth::Required => builder,
        ClientAuth::Optional => builder.allow_unauthenticated(),
    };
    builder.build().map_err(|e| ca_error(e.to_string()))
}

/// Reads the files and builds the server's TLS configuration: the ring
/// provider, TLS 1.3 and 1.2 only, client certificates verified against
/// the client CA when one is given (none asked for otherwise), ALPN
/// `http/1.1`.
///
/// # Errors
/// [`TlsError`], naming the file at fault.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    // The key first: a key file others can read is refused whatever else
    // is wrong.
    let key = private_key(&files.key)?;
    let chain = certificates(&files.cert, CHAIN_CERTS_MAX)?;
    let pair = |source| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    };
    // ring, the workspace's one provider (tally-wallet's reqwest uses it):
    // rustls 0.23.48 deprecates this constructor because ring has no
    // post-quantum key exchange; aws-lc-rs would bring a second crypto
    // stack and a C build. The gap is in docs/THREAT_MODEL.md.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(pair)?;
    let builder = match &files.client_ca {
        Some(ca) => {
            builder.with_client_cert_verifier(client_verifier(ca, files.client_auth, provider)?)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(pair)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
