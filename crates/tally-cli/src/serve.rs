//! `tally serve`: the HTTP service (tally-serve). With no flags it keeps
//! its state in `./tally-data` (created 0700): the ledger's journal and
//! snapshots, SQLite for idempotency records, and the first admin
//! credential (`admin.token`, 0600). `--database postgres://…` (or
//! `DATABASE_URL`, which keeps a password off the command line) puts the
//! ledger, the idempotency records and the rewarder's records in
//! PostgreSQL, shared by any number of processes; they share the root keys
//! of `--keys-dir` (`CAPS_KEYS_PATH`) and the seal key of
//! `--reward-seal-key`.
//! Every limit has a flag and an environment variable.
//! `--tls-cert FILE --tls-key FILE` (`TLS_CERT_FILE`, `TLS_KEY_FILE`) serve
//! HTTPS (rustls; PEM files, the key file 0600); `--behind-tls` says that a
//! proxy in front terminates TLS. Either sends HSTS. `--tls-client-ca FILE`
//! (`TLS_CLIENT_CA_FILE`) asks every client for a certificate that chains to
//! those CAs (`--tls-client-auth optional`, `TLS_CLIENT_AUTH`: clients may
//! present none, a bad one is still refused).
//! SIGINT or SIGTERM stops it gracefully (connections drained, a snapshot
//! written).
//!
//! Data protection (tally-serve's `vault` and `unix` modules):
//! `--at-rest-key-file FILE` (`AT_REST_KEY_FILE`, mode 0600) seals the
//! rewarder's files with XChaCha20-Poly1305, old keys in
//! `--at-rest-keyring DIR`; `--at-rest-new-key FILE` writes a new key file
//! and exits; `--at-rest-reencrypt` re-seals `<data>/rewarder/` (with
//! `--database`, the rewarder's rows of user data in PostgreSQL) under the
//! current key and exits. `--amnesia` (`AMNESIA`) keeps everything in
//! memory and writes nothing, the admin token only where
//! `--admin-token-out` says (`-`: stdout); the decision log too is kept in
//! memory, its checkpoint key made at start and its public half printed
//! (`tally serve: decision log key <vkey>`). `--unix-socket PATH` listens on
//! a Unix socket (directory 0700, socket 0600) for the uids of
//! `--unix-allow-uid` (default: the server's own).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tally_serve::config;

/// `tally serve` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to listen (port 0: any free port; the address is printed).
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The data directory (created 0700).
    #[arg(long, env = "TALLY_DATA_DIR", default_value = "./tally-data")]
    data_dir: PathBuf,
    /// The root keys' directory (`root-<epoch>.key`, 0600; created with a
    /// first key when empty); processes sharing a database share it.
    #[arg(long, env = "CAPS_KEYS_PATH")]
    keys_dir: Option<PathBuf>,
    /// A PostgreSQL URL; prefer the environment variable when it holds a password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// Requests in flight at once; more are shed with 503.
    #[arg(long, env = "MAX_INFLIGHT", default_value_t = config::MAX_INFLIGHT)]
    max_inflight: usize,
    /// Requests per second for the instance (token bucket).
    #[arg(long, env = "MAX_RPS", default_value_t = config::MAX_RPS)]
    max_rps: u32,
    /// The instance bucket's burst.
    #[arg(long, env = "RPS_BURST", default_value_t = config::RPS_BURST)]
    rps_burst: u32,
    /// Requests per second for one tenant.
    #[arg(long, env = "TENANT_RPS", default_value_t = config::TENANT_RPS)]
    tenant_rps: u32,
    /// A tenant bucket's burst.
    #[arg(long, env = "TENANT_BURST", default_value_t = config::TENANT_BURST)]
    tenant_burst: u32,
    /// The largest request body on the wire, bytes.
    #[arg(long, env = "REQ_BODY_MAX", default_value_t = config::REQ_BODY_MAX)]
    req_body_max: usize,
    /// The largest inflation ratio of a compressed body.
    #[arg(long, env = "DECOMP_RATIO_MAX", default_value_t = config::DECOMP_RATIO_MAX)]
    decomp_ratio_max: usize,
    /// The largest body after inflation, bytes.
    #[arg(long, env = "POST_INFLATE_MAX", default_value_t = config::POST_INFLATE_MAX)]
    post_inflate_max: usize,
    /// The request timeout, milliseconds (body, handler, answer).
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = config::REQUEST_TIMEOUT_MS)]
    request_timeout_ms: u64,
    /// The time a client may take to send its headers, milliseconds.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = config::HEADER_READ_TIMEOUT_MS)]
    header_read_timeout_ms: u64,
    /// The time a client may take to complete a TLS handshake, milliseconds.
    #[arg(long, env = "TLS_HANDSHAKE_TIMEOUT_MS", default_value_t = config::TLS_HANDSHAKE_TIMEOUT_MS)]
    tls_handshake_timeout_ms: u64,
    /// Open connections at once.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = config::MAX_CONNECTIONS)]
    max_connections: usize,
    /// How long idempotency records are kept, seconds (at least 86400).
    #[arg(long, env = "IDEMPOTENCY_TTL_SECS", default_value_t = config::IDEMPOTENCY_TTL_SECS)]
    idempotency_ttl_secs: u64,
    /// Serve HTTPS with this certificate chain (PEM, leaf first; with --tls-key).
    #[arg(long, env = "TLS_CERT_FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM; mode 0600, refused otherwise; with --tls-cert).
    #[arg(long, env = "TLS_KEY_FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require TLS clients to present a certificate chaining to these CA
    /// certificates (PEM; with --tls-cert).
    #[arg(long, env = "TLS_CLIENT_CA_FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// With --tls-client-ca: `required` (a client without a certificate is
    /// refused) or `optional` (one that presents a certificate must pass).
    #[arg(long, env = "TLS_CLIENT_AUTH", requires = "tls_client_ca", default_value = "required",
        value_parser = ["required", "optional"])]
    tls_client_auth: String,
    /// TLS terminates in front of this process (a proxy): send HSTS.
    #[arg(long, env = "BEHIND_TLS")]
    behind_tls: bool,
    /// The largest blob (`POST /v1/blobs`, the rewarder's inputs), bytes.
    #[arg(long, env = "BLOB_MAX", default_value_t = tally_serve::blobs::BLOB_MAX)]
    blob_max: usize,
    /// The largest estimated compute time of a reward run, milliseconds.
    #[arg(long, env = "MAX_EPOCH_COST_MS", default_value_t = tally_serve::rewarder::MAX_EPOCH_COST_MS)]
    max_epoch_cost_ms: u64,
    /// A reward run over MAX_EPOCH_COST_MS: `reject`, or `dry-run` (computed, never sealed).
    #[arg(long, env = "REWARD_OVER_COST", default_value = "reject", value_parser = ["reject", "dry-run"])]
    reward_over_cost: String,
    /// Submissions of one reward run's intents to the ledger.
    #[arg(long, env = "MAX_LEDGER_EMITS_PER_RUN", default_value_t = tally_serve::rewarder::MAX_LEDGER_EMITS_PER_RUN)]
    max_ledger_emits_per_run: u32,
    /// Incident response: compute and seal reward runs, never settle them.
    #[arg(long, env = "QUARANTINE_ONLY")]
    quarantine_only: bool,
    /// The ledger reward runs settle on.
    #[arg(long, env = "REWARD_LEDGER", default_value_t = tally_serve::rewarder::REWARD_LEDGER)]
    reward_ledger: u32,
    /// The trusted keys (JSON) whose signatures make a reward policy valid.
    #[arg(long, env = "REWARD_TRUSTED_KEYS")]
    reward_trusted_keys: Option<PathBuf>,
    /// The secret key file that seals manifests (0600; default
    /// `<data>/rewarder/seal.key`, made on first start); processes sharing
    /// a database need the same one.
    #[arg(long, env = "REWARD_SEAL_KEY")]
    reward_seal_key: Option<PathBuf>,
    /// Also seal manifests with this ML-DSA-65 key file (0600; `tally keys
    /// generate-ml-dsa`): a second, post-quantum signature.
    #[arg(long, env = "REWARD_PQ_KEY_FILE")]
    reward_pq_key_file: Option<PathBuf>,
    /// Seal the rewarder's files (or, with --database, its rows of user data) at rest with this key file (0600; made by --at-rest-new-key).
    #[arg(long, env = "AT_REST_KEY_FILE")]
    at_rest_key_file: Option<PathBuf>,
    /// A directory (0700) of old at-rest key files (`*.key`): files sealed under them still open.
    #[arg(long, env = "AT_REST_KEYRING", requires = "at_rest_key_file")]
    at_rest_keyring: Option<PathBuf>,
    /// Write a new at-rest key file here (0600, never replacing one), print its key id, and exit.
    #[arg(long, conflicts_with = "at_rest_reencrypt")]
    at_rest_new_key: Option<PathBuf>,
    /// Re-seal every file of `<data>/rewarder/` (with --database: every rewarder row of user data) under --at-rest-key-file (servers stopped), and exit.
    #[arg(long, requires = "at_rest_key_file")]
    at_rest_reencrypt: bool,
    /// Amnesia: the ledger, SQLite, blobs and keys in memory; nothing written to disk.
    #[arg(long, env = "AMNESIA")]
    amnesia: bool,
    /// With --amnesia: write the admin token to this new file (0600), or `-` for stdout.
    #[arg(long, env = "ADMIN_TOKEN_OUT", requires = "amnesia")]
    admin_token_out: Option<PathBuf>,
    /// Listen on this Unix socket instead of TCP (directory made 0700, socket 0600).
    #[arg(long, env = "UNIX_SOCKET")]
    unix_socket: Option<PathBuf>,
    /// A uid allowed to connect to the Unix socket (repeat; default: the server's own uid).
    #[arg(
        long,
        env = "UNIX_ALLOW_UIDS",
        value_delimiter = ',',
        requires = "unix_socket"
    )]
    unix_allow_uid: Vec<u32>,
}

impl Args {
    fn limits(&self) -> config::Limits {
        config::Limits {
            max_inflight: self.max_inflight,
            max_rps: self.max_rps,
            rps_burst: self.rps_burst,
            tenant_rps: self.tenant_rps,
            tenant_burst: self.tenant_burst,
            req_body_max: self.req_body_max,
            decomp_ratio_max: self.decomp_ratio_max,
            post_inflate_max: self.post_inflate_max,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            tls_handshake_timeout: Duration::from_millis(self.tls_handshake_timeout_ms),
            max_connections: self.max_connections,
            idempotency_ttl: Duration::from_secs(self.idempotency_ttl_secs),
        }
    }

    fn rewarder(&self) -> tally_serve::rewarder::RewarderConfig {
        tally_serve::rewarder::RewarderConfig {
            trusted_keys: self.reward_trusted_keys.clone(),
            seal_key: self.reward_seal_key.clone(),
            pq_key: self.reward_pq_key_file.clone(),
            ledger: self.reward_ledger,
            blob_max: self.blob_max,
            max_epoch_cost_ms: self.max_epoch_cost_ms,
            over_cost: if self.reward_over_cost == "dry-run" {
                tally_reward::OverCost::DryRun
            } else {
                tally_reward::OverCost::Reject
            },
            quarantine_only: self.quarantine_only,
            max_ledger_emits_per_run: self.max_ledger_emits_per_run,
        }
    }
}

/// Runs `tally serve` until SIGINT or SIGTERM.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tally serve: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve(args))
}

/// `--at-rest-new-key` and `--at-rest-reencrypt`: one-shot actions.
async fn at_rest_action(args: &Args) -> Option<ExitCode> {
    use tally_serve::vault;
    if let Some(path) = &args.at_rest_new_key {
        return Some(match vault::Keyring::create_key_file(path) {
            Ok(id) => {
                println!(
                    "tally serve: at-rest key {id} written to {}",
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tally serve: {e}");
                ExitCode::from(2)
            }
        });
    }
    if !args.at_rest_reencrypt {
        return None;
    }
    let Some(key_file) = &args.at_rest_key_file else {
        eprintln!("tally serve: --at-rest-reencrypt needs --at-rest-key-file");
        return Some(ExitCode::from(2));
    };
    let keys = match vault::Keyring::load(key_file, args.at_rest_keyring.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("tally serve: {e}");
            return Some(ExitCode::from(2));
        }
    };
    let done = match &args.database {
        Some(url) => reencrypt_database(url, &keys, args.blob_max).await,
        None => {
            let root = args.data_dir.join("rewarder");
            // The largest file: a run record (1 GiB) or a blob, whichever is larger.
            let max = (args.blob_max as u64).max(1 << 30);
            vault::reencrypt(&root, &keys, max, &["seal.key"]).map_err(|e| e.to_string())
        }
    };
    Some(match done {
        Ok(done) => {
            println!(
                "tally serve: {} resealed, {} plain files sealed, {} already under key {}",
                done.resealed,
                done.sealed_plain,
                done.current,
                keys.current_id()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tally serve: {e}");
            ExitCode::from(2)
        }
    })
}

/// The rewarder's rows in PostgreSQL re-sealed under the current key.
#[cfg(feature = "postgres")]
async fn reencrypt_database(
    url: &str,
    keys: &tally_serve::vault::Keyring,
    blob_max: usize,
) -> Result<tally_serve::vault::Reencrypted, String> {
    tally_serve::rewarder::Rewarder::reencrypt_database(url, keys, blob_max)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "postgres"))]
async fn reencrypt_database(
    _url: &str,
    _keys: &tally_serve::vault::Keyring,
    _blob_max: usize,
) -> Result<tally_serve::vault::Reencrypted, String> {
    Err("this build has no PostgreSQL support (feature `postgres`)".to_owned())
}

async fn serve(args: Args) -> ExitCode {
    if let Some(code) = at_rest_action(&args).await {
        return code;
    }
    if args.amnesia && args.admin_token_out.is_none() {
        eprintln!(
            "tally serve: --amnesia needs --admin-token-out FILE (or `-` for stdout): the admin token is written nowhere else"
        );
        return ExitCode::from(2);
    }
    tally_serve::server::init_logging();
    // The handlers first: a SIGTERM that comes as soon as the address is
    // printed must stop the service gracefully, not kill it.
    let stop = match Stop::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tally serve: signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let mut c = tally_serve::Config::new(&args.data_dir);
    c.listen = args.listen;
    c.limits = args.limits();
    c.rewarder = args.rewarder();
    c.database = args.database.clone();
    c.keys_dir = args.keys_dir.clone();
    c.behind_tls = args.behind_tls;
    c.amnesia = args.amnesia;
    c.at_rest = args
        .at_rest_key_file
        .clone()
        .map(|key_file| tally_serve::vault::AtRestFiles {
            key_file,
            keyring: args.at_rest_keyring.clone(),
        });
    c.unix_socket = args
        .unix_socket
        .clone()
        .map(|path| tally_serve::unix::UnixSocket {
            path,
            allow_uids: args.unix_allow_uid.clone(),
        });
    c.tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tally_serve::tls::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.tls_client_ca.clone(),
            client_auth: if args.tls_client_auth == "optional" {
                tally_serve::tls::ClientAuth::Optional
            } else {
                tally_serve::tls::ClientAuth::Required
            },
        }),
        _ => None,
    };
    let running = match tally_serve::start(c).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tally serve: {e}");
            return ExitCode::from(2);
        }
    };
    // A closed stdout (the reader went away) must not stop the service.
    let mut out = std::io::stdout().lock();
    let scheme = if running.tls { "https" } else { "http" };
    match &running.unix_socket {
        Some(path) => {
            let _ = writeln!(out, "tally serve: listening on unix:{}", path.display());
        }
        None => {
            let _ = writeln!(out, "tally serve: listening on {scheme}://{}", running.addr);
        }
    }
    match (&running.admin_token, &args.admin_token_out) {
        (Some(token), Some(path)) if path.as_os_str() == "-" => {
            let _ = writeln!(out, "tally serve: admin token {}", token.as_str());
        }
        (Some(token), Some(path)) => {
            let text = format!("{}\n", token.as_str());
            if let Err(e) = tally_files::private::create(path, text.as_bytes()) {
                eprintln!("tally serve: {e}");
                drop(out);
                running.stop().await;
                return ExitCode::from(2);
            }
            let _ = writeln!(out, "tally serve: admin token in {}", path.display());
        }
        _ => {
            let _ = writeln!(
                out,
                "tally serve: admin token in {} (Authorization: Bearer <its contents>)",
                running.admin_token_file.display()
            );
        }
    }
    if let Some(vkey) = &running.decisions_vkey {
        // Public: the key that checks the amnesiac decision log's proofs
        // (`tally audit verify-proof --vkey`), made in memory at start.
        let _ = writeln!(out, "tally serve: decision log key {}", vkey.to_vkey());
    }
    let _ = out.flush();
    drop(out);
    stop.stopped().await;
    running.stop().await;
    ExitCode::SUCCESS
}

/// SIGINT and SIGTERM, caught from the start.
struct Stop {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Stop {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on SIGINT or SIGTERM.
    async fn stopped(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
