//! SIGKILL crash runs against real Nutshell mints.
//!
//! The wallet runs in a child process (this test binary again, running the
//! ignored [`child`] entry with its orders in the environment) over a SQLite
//! file. The parent waits until the child starts an operation (mint, swap,
//! send, receive or melt, repeated), sleeps a random time drawn from a
//! seeded generator (uniform over about one operation's duration, measured
//! in-process first) and kills it with SIGKILL. A fresh child process then
//! opens the same file and runs `recover`; the parent checks the invariant:
//! nothing reserved, pending or unfinished; every stored proof's NUT-07
//! state agrees with how the wallet counts it, so spendable + pending +
//! sent-unredeemed is exactly what the mint says the wallet owns, each
//! proof once; and, every [`RESTORE_EVERY`] kills and at the end, a NUT-09
//! restore from the mnemonic into an empty wallet finds exactly that value
//! unspent (so no proof the mint signed for the wallet was lost).
//!
//! The seed is printed; `TALLY_CRASH_SEED=<seed>` replays the same kinds and
//! delays (the timing of a child against them varies a little run to run).
//!
//! The second half: two processes, each running two tasks, send from one
//! SQLite store at once; every token is received by another wallet (a proof
//! in two tokens would be refused the second time) and the sender's
//! accounting agrees with the mint.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tally_cashu::nuts::nut00::MintUrl;
use tally_cashu::nuts::nut13::Seed;
use tally_wallet::Error;
use tally_wallet::receive::ReceiveOptions;
use tally_wallet::restore::RestoreOptions;
use tally_wallet::send::SendOptions;
use tally_wallet::store::{MemoryStore, ProofState, SentTokenState, SqliteStore, WalletStore};
use tally_wallet::wallet::Wallet;

use crate::common::private_dir;
use crate::mint::{fees_mint, funded, plain_mint};
use crate::ops::{assert_conserved, invoice_from};
use tally_wallet::client::MintClient;

const ROLE: &str = "TALLY_CRASH_ROLE";
const DB: &str = "TALLY_CRASH_DB";
const WORDS: &str = "TALLY_CRASH_WORDS";
const MINT: &str = "TALLY_CRASH_MINT";
const OP: &str = "TALLY_CRASH_OP";
const INPUTS: &str = "TALLY_CRASH_INPUTS";
const SEED: &str = "TALLY_CRASH_SEED";
/// The test path of the child entry inside this binary.
const CHILD_TEST: &str = "sigkill::child";
/// Kills of each kind per mint (five kinds, two mints: 120 in all).
const KILLS_PER_KIND: usize = 12;
/// A restore from the mnemonic every this many kills (and at the end).
const RESTORE_EVERY: usize = 20;
/// Tokens or invoices handed to one receiving or melting child.
const INPUTS_PER_CHILD: usize = 4;
/// How many times the recovering child runs `recover` (100 ms apart)
/// before an operation left unresolved fails the run.
const RECOVER_ROUNDS_MAX: u32 = 50;
/// How long a child may take to start an operation or to recover.
const CHILD_WAIT: Duration = Duration::from_secs(60);

/// The five operations the crash runs kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Mint,
    Swap,
    Send,
    Receive,
    Melt,
}

impl Kind {
    const ALL: [Self; 5] = [
        Self::Mint,
        Self::Swap,
        Self::Send,
        Self::Receive,
        Self::Melt,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Mint => "mint",
            Self::Swap => "swap",
            Self::Send => "send",
            Self::Receive => "receive",
            Self::Melt => "melt",
        }
    }

    fn parse(text: &str) -> Self {
        *Self::ALL.iter().find(|k| k.name() == text).unwrap()
    }
}

/// SplitMix64: the test's one source of randomness once seeded.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn run_seed() -> u64 {
    match std::env::var(SEED) {
        Ok(s) => s.parse().expect("TALLY_CRASH_SEED is a u64"),
        Err(_) => {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).unwrap();
            u64::from_le_bytes(b)
        }
    }
}

fn words() -> String {
    let mut entropy = [0u8; 16];
    getrandom::fill(&mut entropy).unwrap();
    bip39::Mnemonic::from_entropy(&entropy).unwrap().to_string()
}

fn seed(words: &str) -> Seed {
    Seed::from_mnemonic(words, "").unwrap()
}

/// This binary again, running only [`child`], with `env`; stdout piped,
/// stderr to `stderr_file`.
fn spawn_child(env: &[(&str, &str)], stderr_file: &Path, stdin: bool) -> Child {
    let stderr = std::fs::File::create(stderr_file).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args([
            CHILD_TEST,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .envs(env.iter().copied())
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap()
}

/// The child's `CRASH …` lines, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if let Some(rest) = line.strip_prefix("CRASH ")
                && tx.send(rest.to_owned()).is_err()
            {
                return;
            }
        }
    });
    rx
}

fn child_failed(what: &str, stderr_file: &Path) -> ! {
    let err = std::fs::read_to_string(stderr_file).unwrap_or_default();
    panic!("{what}; the child's stderr:\n{err}");
}

/// What one kill did.
#[derive(Default)]
struct Kill {
    /// Operations the child finished before the kill.
    finished: usize,
    /// True if the child was inside an operation (it had started one and
    /// not reported it finished).
    mid_operation: bool,
    /// Durations of the finished operations, microseconds.
    durations_us: Vec<u64>,
}

/// Starts an operation child, waits until it begins its first operation,
/// sleeps `delay`, kills it with SIGKILL.
fn kill_once(env: &[(&str, &str)], delay: Duration, stderr_file: &Path) -> Kill {
    let mut child = spawn_child(env, stderr_file, false);
    let rx = lines(&mut child);
    match rx.recv_timeout(CHILD_WAIT) {
        Ok(line) if line == "begin" => {}
        other => {
            let _ = child.kill();
            let _ = child.wait();
            child_failed(&format!("the child never began: {other:?}"), stderr_file);
        }
    }
    std::thread::sleep(delay);
    if let Ok(Some(status)) = child.try_wait() {
        child_failed(
            &format!("the child exited by itself: {status}"),
            stderr_file,
        );
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status}"
    );
    let mut kill = Kill {
        mid_operation: true,
        ..Kill::default()
    };
    for line in rx.iter() {
        if let Some(us) = line.strip_prefix("end ") {
            kill.finished += 1;
            kill.durations_us.push(us.parse().unwrap());
            kill.mid_operation = false;
        } else if line == "begin" {
            kill.mid_operation = true;
        } else if line == "idle" {
            kill.mid_operation = false;
        }
    }
    kill
}

/// A fresh process opens the store and runs `recover`; it must resolve
/// everything.
fn recover_in_child(db: &str, words: &str, mint: &str, stderr_file: &Path, context: &str) -> u32 {
    let mut child = spawn_child(
        &[(ROLE, "recover"), (DB, db), (WORDS, words), (MINT, mint)],
        stderr_file,
        false,
    );
    let rx = lines(&mut child);
    let line = rx.recv_timeout(CHILD_WAIT);
    let status = child.wait().unwrap();
    if !status.success() || !matches!(&line, Ok(l) if l.starts_with("recovered")) {
        child_failed(
            &format!("{context}: recover failed: {status}, {line:?}"),
            stderr_file,
        );
    }
    line.unwrap()
        .rsplit(' ')
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap()
}

/// The invariant after `recover`, checked against the mint; returns what
/// the wallet owns (spendable + pending + sent-unredeemed).
async fn invariant(w: &Wallet<SqliteStore>, mint: &MintUrl, context: &str) -> u64 {
    assert!(
        w.store().incomplete_operations().await.unwrap().is_empty(),
        "{context}: an operation is left unfinished after recover"
    );
    assert!(
        w.store()
            .sent_tokens(mint, SentTokenState::Preparing)
            .await
            .unwrap()
            .is_empty(),
        "{context}: a token is left half made"
    );
    let b = w.balance(mint).await.unwrap();
    assert_eq!(
        (b.reserved, b.pending),
        (0, 0),
        "{context}: proofs held by nothing: {b:?}"
    );
    // Each proof once (by Y and by secret, over every state), and its
    // NUT-07 state agrees with how the wallet counts it: held (unspent or
    // sent) and unspent at the mint, or marked spent and spent there.
    let client = MintClient::new(mint.clone()).unwrap();
    let (mut ys, mut secrets) = (BTreeSet::new(), BTreeSet::new());
    let (mut counted, mut owned) = (0u64, 0u64);
    for state in ProofState::ALL {
        let proofs = w.store().proofs(mint, state).await.unwrap();
        for chunk in proofs.chunks(100) {
            let asked: Vec<String> = chunk.iter().map(|p| p.y.clone()).collect();
            let states = client.check_state(&asked).await.unwrap();
            for (p, s) in chunk.iter().zip(states) {
                assert!(ys.insert(p.y.clone()), "{context}: Y {} twice", p.y);
                assert!(
                    secrets.insert(p.proof.secret.as_str().to_owned()),
                    "{context}: a secret twice"
                );
                let amount = p.proof.amount.value();
                if state == ProofState::Spent {
                    assert_eq!(s.state, "SPENT", "{context}: a proof marked spent is not");
                    continue;
                }
                counted += amount;
                assert_eq!(
                    s.state,
                    "UNSPENT",
                    "{context}: a {} proof of {amount} is {} at the mint",
                    state.as_str(),
                    s.state
                );
                owned += amount;
            }
        }
    }
    assert_eq!(counted, b.unspent + b.sent, "{context}: {b:?}");
    assert_eq!(counted, owned, "{context}");
    owned
}

/// A NUT-09 restore from the mnemonic into an empty wallet finds exactly
/// what the wallet counts: nothing the mint signed for it was lost.
async fn restore_agrees(words: &str, mint: &MintUrl, owned: u64, context: &str) {
    let fresh = Wallet::new(MemoryStore::new(), seed(words));
    let report = fresh
        .restore(mint, RestoreOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert!(report.keysets.iter().all(|k| !k.truncated));
    assert_eq!(
        report.amount_unspent(),
        owned,
        "{context}: the mint holds {} unspent for the wallet's seed, the wallet counts {owned}",
        report.amount_unspent()
    );
}

/// One operation of `kind`, as the child runs it.
async fn operate(w: &Wallet<SqliteStore>, mint: &MintUrl, kind: Kind, input: Option<&str>) {
    match kind {
        Kind::Mint => {
            let q = w.mint_quote(mint, 16).await.unwrap();
            assert_eq!(w.mint(mint, &q.id).await.unwrap(), 16);
        }
        Kind::Swap => {
            w.swap(mint, 5).await.unwrap();
        }
        Kind::Send => {
            w.send(mint, 3, &SendOptions::default()).await.unwrap();
        }
        Kind::Receive => {
            let token = input.unwrap();
            w.receive(token, &ReceiveOptions::default()).await.unwrap();
        }
        Kind::Melt => {
            let q = w.melt_quote(mint, input.unwrap()).await.unwrap();
            w.melt(mint, &q).await.unwrap();
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "CRASH {line}").unwrap();
    out.flush().unwrap();
}

/// The child process's entry: does nothing unless a crash test started it
/// (its orders are in the environment).
#[tokio::test]
#[ignore = "the child process of the SIGKILL crash tests, which start it"]
async fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} unset"));
    let store = SqliteStore::open(Path::new(&var(DB))).await.unwrap();
    let w = Wallet::new(store, seed(&var(WORDS)));
    let mint = MintUrl::new(&var(MINT)).unwrap();
    match role.as_str() {
        "recover" => {
            // The mint may still be working on what the killed process
            // sent (a melt being paid): recover leaves that unresolved, so
            // it runs again, as a wallet would at its next start.
            let mut rounds = 0;
            loop {
                rounds += 1;
                let r = w.recover().await.unwrap();
                if r.unresolved == 0 {
                    say(&format!(
                        "recovered {} {} in {rounds}",
                        r.finished, r.failed
                    ));
                    break;
                }
                assert!(rounds < RECOVER_ROUNDS_MAX, "{r:?} after {rounds} rounds");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        "op" => {
            let kind = Kind::parse(&var(OP));
            let inputs: Vec<String> = std::env::var(INPUTS)
                .map(|p| {
                    std::fs::read_to_string(p)
                        .unwrap()
                        .lines()
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let rounds = if inputs.is_empty() { 64 } else { inputs.len() };
            for i in 0..rounds {
                say("begin");
                let t = Instant::now();
                operate(&w, &mint, kind, inputs.get(i).map(String::as_str)).await;
                say(&format!("end {}", t.elapsed().as_micros()));
            }
            say("idle");
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        "send" => {
            // Two tasks sending at once, after the parent says go (so that
            // the other process sends at the same time).
            say("ready");
            let mut go = String::new();
            std::io::stdin().read_line(&mut go).unwrap();
            let w = std::sync::Arc::new(w);
            let mut tasks = Vec::new();
            for _ in 0..2 {
                let (w, mint) = (std::sync::Arc::clone(&w), mint.clone());
                tasks.push(tokio::spawn(async move {
                    let mut out = Vec::new();
                    for amount in [1u64, 2, 3, 4, 5] {
                        match w.send(&mint, amount, &SendOptions::default()).await {
                            Ok(sent) => out.push(format!("token {amount} {}", sent.token)),
                            // Others hold the proofs it could use: refused,
                            // nothing changed.
                            Err(Error::InsufficientFunds { .. }) => {
                                out.push(format!("refused {amount}"));
                            }
                            Err(e) => panic!("send {amount}: {e}"),
                        }
                    }
                    out
                }));
            }
            for t in tasks {
                for line in t.await.unwrap() {
                    say(&line);
                }
            }
            say("done");
        }
        other => panic!("unknown role {other}"),
    }
}

/// Lines written to a file in `dir` for one child.
fn inputs_file(dir: &Path, n: usize, items: &[String]) -> PathBuf {
    let path = dir.join(format!("inputs-{n}"));
    std::fs::write(&path, items.join("\n")).unwrap();
    path
}

/// Per-kind statistics of a run.
#[derive(Default)]
struct Stats {
    kills: usize,
    mid_operation: usize,
    finished_before_kill: usize,
    /// Kills after which one `recover` left something unresolved (the
    /// mint was still at work) and it ran again.
    recover_again: usize,
}

async fn sigkill_run(mint: MintUrl, other: MintUrl, label: &str) {
    let started = Instant::now();
    let run_seed = run_seed();
    eprintln!("SIGKILL crash run ({label}): seed {run_seed} (replay: {SEED}={run_seed})");
    let mut rng = Rng(run_seed);
    let dir = private_dir();
    let db = dir.path().join("wallet.db");
    let db_text = db.to_str().unwrap().to_owned();
    let words = words();
    let w = Wallet::new(SqliteStore::open(&db).await.unwrap(), seed(&words));
    w.add_mint(&mint).await.unwrap();
    let (peer, _peer_dir) = funded(&mint, 400).await;

    // Funds, and one of each operation in-process: how long each takes
    // bounds the kill delays.
    let q = w.mint_quote(&mint, 500).await.unwrap();
    w.mint(&mint, &q.id).await.unwrap();
    let mut estimate_us = std::collections::BTreeMap::new();
    for kind in Kind::ALL {
        let input = match kind {
            Kind::Receive => Some(
                peer.send(&mint, 2, &SendOptions::default())
                    .await
                    .unwrap()
                    .token,
            ),
            Kind::Melt => Some(invoice_from(&other, 2).await),
            _ => None,
        };
        let t = Instant::now();
        operate(&w, &mint, kind, input.as_deref()).await;
        let us = u64::try_from(t.elapsed().as_micros()).unwrap();
        estimate_us.insert(kind, us.max(1_000));
    }
    let mut owned = invariant(&w, &mint, "before the run").await;
    restore_agrees(&words, &mint, owned, "before the run").await;

    // The kinds, each KILLS_PER_KIND times, in a seeded order.
    let mut plan: Vec<Kind> = Kind::ALL
        .iter()
        .flat_map(|k| std::iter::repeat_n(*k, KILLS_PER_KIND))
        .collect();
    for i in (1..plan.len()).rev() {
        let j = usize::try_from(rng.below(u64::try_from(i + 1).unwrap())).unwrap();
        plan.swap(i, j);
    }
    let mut stats: std::collections::BTreeMap<Kind, Stats> = Default::default();
    let stderr_file = dir.path().join("child.stderr");
    for (n, kind) in plan.iter().copied().enumerate() {
        let inputs = match kind {
            Kind::Receive => {
                let mut tokens = Vec::new();
                for _ in 0..INPUTS_PER_CHILD {
                    let sent = peer.send(&mint, 2, &SendOptions::default()).await.unwrap();
                    tokens.push(sent.token);
                }
                Some(inputs_file(dir.path(), n, &tokens))
            }
            Kind::Melt => {
                let mut invoices = Vec::new();
                for _ in 0..INPUTS_PER_CHILD {
                    invoices.push(invoice_from(&other, 2).await);
                }
                Some(inputs_file(dir.path(), n, &invoices))
            }
            _ => None,
        };
        // A send is an exact offline send or a swap: its kills reach as far
        // as a swap takes.
        let estimate = match kind {
            Kind::Send => estimate_us[&Kind::Send].max(estimate_us[&Kind::Swap]),
            _ => estimate_us[&kind],
        };
        let delay = Duration::from_micros(rng.below(estimate + 1));
        let inputs_text = inputs
            .as_ref()
            .map(|p| p.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let mut env = vec![
            (ROLE, "op"),
            (DB, db_text.as_str()),
            (WORDS, words.as_str()),
            (MINT, mint.as_str()),
            (OP, kind.name()),
        ];
        if inputs.is_some() {
            env.push((INPUTS, inputs_text.as_str()));
        }
        let kill = tokio::task::block_in_place(|| kill_once(&env, delay, &stderr_file));
        let s = stats.entry(kind).or_default();
        s.kills += 1;
        s.mid_operation += usize::from(kill.mid_operation);
        s.finished_before_kill += kill.finished;
        if let Some(max) = kill.durations_us.iter().max() {
            // Follow the child's own pace.
            let e = estimate_us.get_mut(&kind).unwrap();
            *e = (*e * 3 + max) / 4;
        }
        let context = format!(
            "{label} kill {n} during {} after {delay:?} (seed {run_seed})",
            kind.name()
        );
        let rounds = tokio::task::block_in_place(|| {
            recover_in_child(&db_text, &words, mint.as_str(), &stderr_file, &context)
        });
        stats.get_mut(&kind).unwrap().recover_again += usize::from(rounds > 1);
        owned = invariant(&w, &mint, &context).await;
        if (n + 1) % RESTORE_EVERY == 0 || n + 1 == plan.len() {
            restore_agrees(&words, &mint, owned, &context).await;
        }
    }
    let kills: usize = stats.values().map(|s| s.kills).sum();
    let mid: usize = stats.values().map(|s| s.mid_operation).sum();
    eprintln!(
        "SIGKILL crash run ({label}): {kills} kills ({mid} inside an operation) in {:.1} s, seed {run_seed}",
        started.elapsed().as_secs_f64()
    );
    for (kind, s) in &stats {
        eprintln!(
            "  {:8} kills {:3}  inside an operation {:3}  finished before the kill {:3}  recover run again {:3}  delay bound {} us",
            kind.name(),
            s.kills,
            s.mid_operation,
            s.finished_before_kill,
            s.recover_again,
            estimate_us[kind]
        );
    }
    assert_eq!(kills, Kind::ALL.len() * KILLS_PER_KIND);
    // Most kills must land inside an operation, or the run tests little.
    for (kind, s) in &stats {
        assert!(
            s.mid_operation * 2 >= s.kills,
            "{label}: only {} of {} {} kills landed inside an operation",
            s.mid_operation,
            s.kills,
            kind.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_on_the_plain_mint() {
    sigkill_run(plain_mint().await, fees_mint().await, "plain").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_on_the_fee_mint() {
    sigkill_run(fees_mint().await, plain_mint().await, "fees").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_of_two_tasks_sending_from_one_store_never_share_a_proof() {
    let mint = plain_mint().await;
    let dir = private_dir();
    let db = dir.path().join("wallet.db");
    let db_text = db.to_str().unwrap().to_owned();
    let words = words();
    let w = Wallet::new(SqliteStore::open(&db).await.unwrap(), seed(&words));
    w.add_mint(&mint).await.unwrap();
    let q = w.mint_quote(&mint, 100).await.unwrap();
    w.mint(&mint, &q.id).await.unwrap();
    // Many small proofs, so that exact sends and swaps both race.
    w.swap(&mint, 15).await.unwrap();
    w.swap(&mint, 7).await.unwrap();
    let mut children = Vec::new();
    for i in 0..2 {
        let stderr_file = dir.path().join(format!("sender-{i}.stderr"));
        let mut child = spawn_child(
            &[
                (ROLE, "send"),
                (DB, &db_text),
                (WORDS, &words),
                (MINT, mint.as_str()),
            ],
            &stderr_file,
            true,
        );
        let rx = lines(&mut child);
        assert_eq!(
            rx.recv_timeout(CHILD_WAIT).ok().as_deref(),
            Some("ready"),
            "sender {i}"
        );
        children.push((child, rx, stderr_file));
    }
    // Both go at once.
    for (child, _, _) in &mut children {
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }
    let (mut tokens, mut refused) = (Vec::new(), 0);
    for (mut child, rx, stderr_file) in children {
        let status = tokio::task::block_in_place(|| child.wait().unwrap());
        if !status.success() {
            child_failed(&format!("a sender failed: {status}"), &stderr_file);
        }
        let said: Vec<String> = rx.iter().collect();
        assert_eq!(said.last().map(String::as_str), Some("done"));
        for line in said {
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("token"), Some(amount), Some(token)) => {
                    tokens.push((amount.parse::<u64>().unwrap(), token.to_owned()));
                }
                (Some("refused"), _, _) => refused += 1,
                _ => {}
            }
        }
    }
    assert!(refused < 10, "{refused} of 20 sends refused");
    // A proof in two tokens: the second receive of it is refused.
    let (bob, _b) = crate::mint::fresh_wallet(&mint).await;
    let mut sent_total = 0;
    for (amount, token) in &tokens {
        let got = bob
            .receive(token, &ReceiveOptions::default())
            .await
            .unwrap_or_else(|e| panic!("a token of {amount} was refused: {e}"));
        assert_eq!(got, *amount);
        sent_total += amount;
    }
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    // The sender sees every token redeemed (each holds at least one proof).
    let report = w.check_state(&mint).await.unwrap();
    assert!(report.redeemed >= tokens.len(), "{report:?}");
    assert_eq!(report.newly_spent, 0, "{report:?}");
    assert_eq!(w.balance(&mint).await.unwrap().sent, 0);
    assert_eq!(assert_conserved(&w, &mint).await, 100 - sent_total);
}
