//! Starting and stopping a server: storage opened, the first admin
//! credential written (0600), the listener bound, connections served by
//! hyper with a header-read timeout (slow-loris) and a cap on open
//! connections, over TLS when configured (a bounded handshake first,
//! [`crate::tls`]), and a graceful stop that drains connections, then lets
//! the ledger's writer snapshot and close.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use governor::{Quota, RateLimiter};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::AppState;
use crate::auth::Authorizer;
use crate::backend::Backend;
use crate::config::Limits;
use crate::embedded::Embedded;
use crate::idem::IdemStore;
use crate::metrics::Metrics;
use crate::tokens::{Macaroons, RootKeys};

/// The first admin credential's file in the data directory (0600).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// How often expired idempotency records are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// How to run a server.
pub struct Config {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// The data directory (created 0700): the embedded ledger, SQLite,
    /// the admin credential.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL: the ledger and the idempotency records live there.
    pub database: Option<String>,
    /// The limits.
    pub limits: Limits,
    /// The root keys' directory (`CAPS_KEYS_PATH`; default `<data>/keys`):
    /// processes that share a PostgreSQL database share it too.
    pub keys_dir: Option<PathBuf>,
    /// TLS in this process (`--tls-cert`/`--tls-key`): HTTPS only, HSTS on
    /// every answer.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Whether TLS terminates in front, in a proxy (HSTS on every answer).
    pub behind_tls: bool,
    /// The rewarder (trusted keys, seal key, its limits).
    pub rewarder: crate::rewarder::RewarderConfig,
    /// A ledger to serve instead of the data directory's journal, with its
    /// checkpoint key (tests put it on a simulated disk with faults).
    pub journal: Option<(
        tally_ledger::journal::DurableLedger,
        tally_audit::NoteVerifier,
    )>,
    /// At-rest encryption of the rewarder's files and PostgreSQL rows (`--at-rest-key-file`,
    /// `--at-rest-keyring`, [`crate::vault`]).
    pub at_rest: Option<crate::vault::AtRestFiles>,
    /// Amnesia (`--amnesia`): the ledger, SQLite, the rewarder's files and
    /// every key in memory; nothing is written to disk (the data
    /// directory is not even created); the admin token is handed back in
    /// [`Running::admin_token`] only.
    pub amnesia: bool,
    /// Listen on a Unix socket instead of TCP ([`crate::unix`]).
    pub unix_socket: Option<crate::unix::UnixSocket>,
    /// A decision log to serve instead of the data directory's, with its
    /// checkpoint key (tests put it on a simulated disk with faults; it
    /// must keep a proof index).
    pub decision_log: Option<(tally_audit::AuditLog, tally_audit::NoteVerifier)>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_ref().map(|_| "<redacted>"))
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults: `127.0.0.1:8080`, `./tally-data`, embedded storage.
    #[must_use]
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.into(),
            database: None,
            limits: Limits::default(),
            keys_dir: None,
            tls: None,
            behind_tls: false,
            rewarder: crate::rewarder::RewarderConfig::default(),
            journal: None,
            at_rest: None,
            amnesia: false,
            unix_socket: None,
            decision_log: None,
        }
    }
}

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A limit is unusable.
    #[error(transparent)]
    Limits(#[from] crate::config::LimitError),
    /// The TLS certificate or key.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The data directory or its files.
    #[error(transparent)]
    File(#[from] tally_files::FileError),
    /// The embedded ledger.
    #[error(transparent)]
    Ledger(#[from] crate::embedded::OpenError),
    /// The idempotency store.
    #[error(transparent)]
    Idempotency(#[from] crate::idem::IdemError),
    /// PostgreSQL.
    #[error("postgres: {0}")]
    Postgres(String),
    /// The listener.
    #[error("listen: {0}")]
    Listen(std::io::Error),
    /// The budget's operator and spend accounts could not be made.
    #[error("the budget's accounts could not be created")]
    Budget,
    /// The root keys.
    #[error(transparent)]
    Keys(#[from] crate::tokens::KeysError),
    /// The ledger's writer thread.
    #[error("writer thread: {0}")]
    Thread(std::io::Error),
    /// No randomness for the admin credential.
    #[error("no randomness from the operating system")]
    Random,
    /// The rewarder's store or keys.
    #[error(transparent)]
    Rewarder(#[from] crate::rewarder::RewarderError),
    /// This build has no PostgreSQL support.
    #[error("this build has no PostgreSQL support (feature `postgres`)")]
    NoPostgres,
    /// Amnesia with an option that would keep something on disk.
    #[error("amnesia: {0}")]
    Amnesia(&'static str),
    /// The at-rest key or keyring.
    #[error("at-rest key: {0}")]
    AtRest(#[from] crate::vault::AtRestError),
    /// The Unix socket.
    #[error(transparent)]
    Unix(#[from] crate::unix::UnixError),
}

/// The admin token of an amnesiac server: held in memory, erased on drop,
/// never printed by `Debug`.
pub struct AdminToken(zeroize::Zeroizing<String>);

impl AdminToken {
    /// The token's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The admin credential's file.
    pub admin_token_file: PathBuf,
    /// Whether it serves HTTPS (`--tls-cert`/`--tls-key`).
    pub tls: bool,
    /// The Unix socket it listens on (then `addr` is `0.0.0.0:0`).
    pub unix_socket: Option<PathBuf>,
    /// Amnesia: the admin token, which exists nowhere else.
    pub admin_token: Option<AdminToken>,
    /// Amnesia: the decision log's checkpoint verifier key (public; made
    /// in memory, so it exists nowhere else: auditors check the audit
    /// routes' proofs against it).
    pub decisions_vkey: Option<tally_audit::NoteVerifier>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, drains connections (up to the request timeout),
    /// then waits for the ledger's writer to snapshot and close.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops (after [`Running::stop`] elsewhere, or
    /// forever).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// A handle that stops the server.
    #[must_use]
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

/// Writes the first admin token (0600) if there is none.
fn admin_token(dir: &Path, authority: &Macaroons) -> Result<(), StartError> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    if !path.exists() {
        let token = authority.mint_admin().map_err(|_| StartError::Random)?;
        let mut text = token.to_text();
        text.push('\n');
        tally_files::private::create(&path, text.as_bytes())?;
    }
    Ok(())
}

async fn storage(
    config: &mut Config,
    metrics: &Arc<Metrics>,
) -> Result<(Backend, IdemStore, Option<std::thread::JoinHandle<()>>), StartError> {
    if config.amnesia {
        let (embedded, writer) = Embedded::open_in_memory(Arc::clone(metrics))?;
        let idem = IdemStore::open_sqlite_memory().await?;
        return Ok((Backend::Embedded(Box::new(embedded)), idem, Some(writer)));
    }
    match config.database.clone() {
        None => {
            let (embedded, writer) = match config.journal.take() {
                Some((ledger, vkey)) => {
                    Embedded::start(ledger, &config.data_dir, vkey, Arc::clone(metrics))
                        .map_err(StartError::Thread)?
                }
                None => Embedded::open(&config.data_dir, Arc::clone(metrics))?,
            };
            let idem = IdemStore::open_sqlite(&config.data_dir).await?;
            Ok((Backend::Embedded(Box::new(embedded)), idem, Some(writer)))
        }
        #[cfg(feature = "postgres")]
        Some(url) => {
            let pg = tally_ledger::pg::PgLedger::connect(&url)
                .await
                .map_err(|e| StartError::Postgres(e.to_string()))?;
            let idem = IdemStore::open_pg(pg.pool().clone()).await?;
            let keys_dir = config
                .keys_dir
                .clone()
                .unwrap_or_else(|| config.data_dir.join("keys"));
            let signer = pg_checkpoint_signer(&keys_dir)?;
            let backend = crate::backend::PgBackend { ledger: pg, signer };
            Ok((Backend::Postgres(Arc::new(backend)), idem, None))
        }
        #[cfg(not(feature = "postgres"))]
        Some(_) => Err(StartError::NoPostgres),
    }
}

/// The PostgreSQL journal's checkpoint signer: `ledger-checkpoint.skey`
/// (0600) in the keys directory every process shares.
#[cfg(feature = "postgres")]
fn pg_checkpoint_signer(
    dir: &std::path::Path,
) -> Result<tally_audit::CheckpointSigner, StartError> {
    shared_signer(
        dir,
        "ledger-checkpoint.skey",
        "ledger-checkpoint.vkey",
        "tally-serve/ledger-pg",
    )
}

/// A checkpoint signer in the keys directory every process shares, made
/// by the first process that finds none (a process that loses that race
/// reads the winner's).
#[cfg(feature = "postgres")]
fn shared_signer(
    dir: &std::path::Path,
    skey: &str,
    vkey: &str,
    name: &str,
) -> Result<tally_audit::CheckpointSigner, StartError> {
    if !dir.exists() {
        // Another process may make it first.
        let _ = tally_files::private::create_dir(dir);
    }
    match crate::embedded::load_signer(dir, skey, vkey, name) {
        Ok(s) => Ok(s),
        Err(_) if dir.join(skey).exists() => {
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(crate::embedded::load_signer(dir, skey, vkey, name)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The decision log on PostgreSQL: signed with `decisions-checkpoint.skey`
/// of the shared keys directory; a process whose key is not the one the
/// database records serves no decision route.
#[cfg(feature = "postgres")]
async fn pg_decisions(
    pg: &crate::backend::PgBackend,
    keys_dir: &std::path::Path,
) -> Result<Result<Arc<crate::decide::Decisions>, crate::error::ApiError>, StartError> {
    use crate::decide::{Decisions, PG_KEY_NAME, PG_SKEY, PG_VKEY, other_key};
    let signer = shared_signer(keys_dir, PG_SKEY, PG_VKEY, PG_KEY_NAME)?;
    let opened = Decisions::open_pg(pg.ledger.pool().clone(), signer)
        .await
        .map_err(|e| StartError::Postgres(e.to_string()))?;
    Ok(match opened {
        Some(d) => Ok(Arc::new(d)),
        None => {
            tracing::error!(
                "the decision log's checkpoint key in the database is not this process's: no decision route is served"
            );
            Err(other_key())
        }
    })
}

fn nonzero(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

/// Starts a server.
///
/// # Errors
/// [`StartError`].
pub async fn start(mut config: Config) -> Result<Running, StartError> {
    config.limits.validate()?;
    // The TLS files first: a bad key stops the start before storage opens.
    let acceptor = match &config.tls {
        Some(files) => Some(TlsAcceptor::from(crate::tls::server_config(files)?)),
        None => None,
    };
    if config.amnesia {
        if config.database.is_some() {
            return Err(StartError::Amnesia(
                "--database keeps the ledger in PostgreSQL: amnesia serves embedded storage in memory only",
            ));
        }
        if config.keys_dir.is_some() {
            return Err(StartError::Amnesia(
                "--keys-dir would read or create root keys on disk: amnesia makes its root key in memory",
            ));
        }
        if config.at_rest.is_some() {
            return Err(StartError::Amnesia(
                "--at-rest-key-file: nothing is at rest in amnesia",
            ));
        }
        if config.journal.is_some() {
            return Err(StartError::Amnesia(
                "a journal given by the caller: amnesia makes its own in memory",
            ));
        }
    }
    if config.unix_socket.is_some() && acceptor.is_some() {
        return Err(crate::unix::UnixError::Tls.into());
    }
    // The socket before storage: a refused socket directory stops the
    // start before the journal is opened (and locked).
    let unix = match &config.unix_socket {
        Some(u) => Some(crate::unix::bind(u)?),
        None => None,
    };
    let keyring = match &config.at_rest {
        Some(files) => Some(Arc::new(crate::vault::Keyring::load(
            &files.key_file,
            files.keyring.as_deref(),
        )?)),
        None => None,
    };
    if !config.amnesia && !config.data_dir.exists() {
        tally_files::private::create_dir(&config.data_dir)?;
    }
    let metrics = Arc::new(Metrics::new());
    let (backend, idem, writer) = storage(&mut config, &metrics).await?;
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    crate::budget::init(&backend, now_ns)
        .await
        .map_err(|_| StartError::Budget)?;
    let root_keys = if config.amnesia {
        RootKeys::ephemeral()?
    } else {
        let keys_dir = config
            .keys_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("keys"));
        RootKeys::load_or_create(&keys_dir)?
    };
    let authority = Arc::new(Macaroons::new(root_keys)?);
    authority.refresh(&idem).await?;
    let admin = if config.amnesia {
        let token = authority.mint_admin().map_err(|_| StartError::Random)?;
        Some(AdminToken(token.to_text()))
    } else {
        admin_token(&config.data_dir, &authority)?;
        None
    };
    // The decision log and its policies are files of the data directory,
    // or memory in amnesia (a log and a signing key that die with the
    // process).
    let decisions = match &backend {
        Backend::Embedded(_) if config.amnesia => {
            Ok(Arc::new(crate::decide::Decisions::in_memory()?))
        }
        Backend::Embedded(_) => Ok(Arc::new(match config.decision_log.take() {
            Some((log, vkey)) => crate::decide::Decisions::with_log(log, vkey, &config.data_dir)?,
            None => crate::decide::Decisions::open(&config.data_dir)?,
        })),
        #[cfg(feature = "postgres")]
        Backend::Postgres(pg) => {
            let keys_dir = config
                .keys_dir
                .clone()
                .unwrap_or_else(|| config.data_dir.join("keys"));
            pg_decisions(pg, &keys_dir).await?
        }
    };
    let limits = config.limits.clone();
    let at_rest = keyring.clone();
    // The rewarder's store: the vault's files, or the ledger's database.
    let rewarder = if config.amnesia {
        crate::rewarder::Rewarder::open_in(
            Arc::new(crate::vault::Vault::memory()),
            config.rewarder.clone(),
        )?
    } else if config.database.is_none() {
        let dir = config.data_dir.join("rewarder");
        tally_files::private::create_dir(&dir)?;
        crate::rewarder::Rewarder::open_in(
            Arc::new(crate::vault::Vault::disk(dir, keyring)),
            config.rewarder.clone(),
        )?
    } else {
        crate::rewarder::Rewarder::open_db(
            &backend,
            &config.data_dir,
            config.rewarder.clone(),
            keyring,
        )
        .await?
    };
    let mut boot = [0u8; 8];
    getrandom::fill(&mut boot).map_err(|_| StartError::Random)?;
    let state = Arc::new(AppState {
        global: RateLimiter::direct(
            Quota::per_second(nonzero(limits.max_rps)).allow_burst(nonzero(limits.rps_burst)),
        ),
        tenants: RateLimiter::keyed(
            Quota::per_second(nonzero(limits.tenant_rps)).allow_burst(nonzero(limits.tenant_burst)),
        ),
        inflight: Arc::new(Semaphore::new(limits.max_inflight)),
        limits,
        backend,
        decisions,
        idem,
        auth: Arc::clone(&authority) as Arc<dyn Authorizer>,
        tokens: Some(authority),
        metrics,
        tls: config.tls.is_some() || config.behind_tls,
        boot_id: u64::from_be_bytes(boot),
        rewarder,
        at_rest,
    });
    let (listener, addr) = match unix {
        Some((listener, allow)) => (
            Listener::Unix(listener, allow),
            SocketAddr::from(([0, 0, 0, 0], 0)),
        ),
        None => {
            let listener = TcpListener::bind(config.listen)
                .await
                .map_err(StartError::Listen)?;
            let addr = listener.local_addr().map_err(StartError::Listen)?;
            (Listener::Tcp(listener), addr)
        }
    };
    let decisions_vkey = if config.amnesia {
        state.decisions.as_ref().ok().map(|d| d.verifier().clone())
    } else {
        None
    };
    let (stop, stopped) = watch::channel(false);
    let tls = acceptor.is_some();
    let task = tokio::spawn(run(listener, acceptor, state, stopped, writer));
    Ok(Running {
        addr,
        admin_token_file: config.data_dir.join(ADMIN_TOKEN_FILE),
        tls,
        unix_socket: config.unix_socket.as_ref().map(|u| u.path.clone()),
        admin_token: admin,
        decisions_vkey,
        stop,
        task,
    })
}

async fn purge(state: &AppState) {
    let ttl = i64::try_from(state.limits.idempotency_ttl.as_millis()).unwrap_or(i64::MAX);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    if state.idem.purge(now.saturating_sub(ttl)).await.is_err() {
        state.metrics.storage_errors.inc();
    }
    state.tenants.retain_recent();
}

/// Where connections come from.
enum Listener {
    Tcp(TcpListener),
    /// A Unix socket and the peer uids allowed.
    Unix(UnixListener, Vec<u32>),
}

enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    /// The next connection; a Unix peer not on the allow-list is closed
    /// here, before any byte of it is read (`None`).
    async fn accept(&self) -> std::io::Result<Option<Conn>> {
        match self {
            Self::Tcp(l) => Ok(Some(Conn::Tcp(l.accept().await?.0))),
            Self::Unix(l, allow) => {
                let (stream, _) = l.accept().await?;
                match stream.peer_cred() {
                    Ok(cred) if allow.contains(&cred.uid()) => Ok(Some(Conn::Unix(stream))),
                    Ok(cred) => {
                        tracing::warn!(
                            peer_uid = cred.uid(),
                            "unix socket: a peer not on the allow-list was refused"
                        );
                        Ok(None)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "unix socket: no peer credentials; refused");
                        Ok(None)
                    }
                }
            }
        }
    }
}

async fn run(
    listener: Listener,
    acceptor: Option<TlsAcceptor>,
    state: Arc<AppState>,
    mut stopped: watch::Receiver<bool>,
    writer: Option<std::thread::JoinHandle<()>>,
) {
    let app = crate::stack::app(Arc::clone(&state));
    let connections = Arc::new(Semaphore::new(state.limits.max_connections));
    let mut tasks = JoinSet::new();
    let mut purge_timer = tokio::time::interval(PURGE_EVERY);
    let mut refresh_timer = tokio::time::interval(crate::tokens::REFRESH_EVERY);
    loop {
        let permit = tokio::select! {
            _ = stopped.changed() => break,
            _ = purge_timer.tick() => { purge(&state).await; continue; }
            _ = refresh_timer.tick() => {
                if let Some(t) = &state.tokens && t.refresh(&state.idem).await.is_err() {
                    state.metrics.storage_errors.inc();
                }
                continue;
            }
            p = Arc::clone(&connections).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = stopped.changed() => break,
            a = listener.accept() => match a {
                Ok(Some(stream)) => stream,
                Ok(None) => continue,
                Err(_) => {
                    // Out of descriptors or the like: back off, don't spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let limits = &state.limits;
        let (header_timeout, handshake_timeout) =
            (limits.header_read_timeout, limits.tls_handshake_timeout);
        let acceptor = acceptor.clone();
        let mut stop = stopped.clone();
        tasks.spawn(async move {
            let stream = match stream {
                Conn::Unix(u) => {
                    serve(u, service, header_timeout, stop).await;
                    drop(permit);
                    return;
                }
                Conn::Tcp(t) => t,
            };
            let _ = stream.set_nodelay(true);
            match acceptor {
                None => serve(stream, service, header_timeout, stop).await,
                Some(acceptor) => {
                    let tls = tokio::select! {
                        h = handshake(&acceptor, stream, handshake_timeout) => h,
                        _ = stop.changed() => None,
                    };
                    if let Some(tls) = tls {
                        serve(tls, service, header_timeout, stop).await;
                    }
                }
            }
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let drain = state.limits.request_timeout;
    let _ = tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.shutdown().await;
    drop(app);
    drop(state);
    if let Some(w) = writer {
        let _ = tokio::task::spawn_blocking(move || w.join()).await;
    }
}

/// A TLS handshake, cut off after `timeout_max` (a client that connects
/// and never finishes one holds a connection permit no longer than that).
/// `None` when it failed or took too long; the socket is closed.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout_max: Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout_max, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(_)) | Err(_) => None,
    }
}

/// Serves one connection (plain or TLS) with HTTP/1.1 and the header-read
/// timeout until it closes, or until the stop signal (then gracefully: the
/// request in progress is answered).
async fn serve<I, S>(io: I, service: S, header_timeout: Duration, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Installs JSON logs on stderr (once per process; later calls do nothing).
/// Headers are never logged, so `Authorization` never reaches a log.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .try_init();
}
