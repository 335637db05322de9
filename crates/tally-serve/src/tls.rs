//! Optional TLS: `tally serve --tls-cert FILE --tls-key FILE`.
//!
//! The workspace's one TLS stack: rustls with the `ring` provider (the same
//! as tally-wallet's HTTPS client), TLS 1.3 and 1.2 only, HTTP/1.1 offered
//! by ALPN. The certificate chain and the private key are PEM files; the
//! key file is a private file (mode 0600 or stricter, in a directory others
//! cannot write: [`tally_files::private`]) and is refused otherwise, with
//! an error naming it. Both files are read once, bounded, at start-up.
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

/// The TLS files of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1), mode 0600.
    pub key: PathBuf,
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

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = tally_files::read_bounded(path, CERT_FILE_MAX_BYTES)?;
    let cert_error = |what| TlsError::Cert {
        path: path.to_path_buf(),
        what,
    };
    let mut chain = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|_| cert_error("not PEM"))?;
        if chain.len() == CHAIN_CERTS_MAX {
            return Err(cert_error("more certificates than CHAIN_CERTS_MAX (16)"));
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

/// Reads the files and builds the server's TLS configuration: the ring
/// provider, TLS 1.3 and 1.2 only, no client authentication, ALPN
/// `http/1.1`.
///
/// # Errors
/// [`TlsError`], naming the file at fault.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    // The key first: a key file others can read is refused whatever else
    // is wrong.
    let key = private_key(&files.key)?;
    let chain = certificates(&files.cert)?;
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
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(pair)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(pair)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
