//! tally-wallet beside CDK's wallet (`cdk` 0.18) against the same Nutshell
//! mint, in one process, one operation at a time, in interleaved rounds
//! (the order of the two wallets alternates from round to round so that
//! machine noise and mint warm-up hit both). Issue 15's performance clause;
//! figures in docs/BENCHMARKS.md.
//!
//! Every round, for each wallet kind, with fresh wallets (fresh random seed,
//! fresh on-disk store in a private temporary directory; the mint's info
//! and keysets loaded before anything is timed):
//!
//! 1. **mint**: quote 1,000 sat, wait until paid (FakeWallet pays at once;
//!    tally-wallet asks the quote's state and would subscribe over NUT-17
//!    only if unpaid, CDK polls its state, see `cdk_mint`), mint. Into
//!    wallet A.
//! 2. **send** 100 sat from A (A holds the 1,000 just minted: 100 is not a
//!    subset of 512+256+128+64+32+8, so both swap first) and **receive** the
//!    token into a fresh wallet B of the same kind.
//! 3. **swap 64 proofs**: a fresh wallet C holds exactly 64 proofs of 1 sat
//!    (signed by the mint for a feeder wallet, written into C's store before
//!    the clock starts); one NUT-03 swap of all 64 into one proof of 64.
//! 4. **melt** 100 sat from A to a bolt11 invoice another mint made (the
//!    fee mint's FakeWallet invoice; the plain mint's FakeWallet pays any
//!    invoice): melt quote + melt.
//! 5. **restore** a fresh wallet from a seed whose outputs at the mint are
//!    1,000 unspent proofs of 1 sat (made once per run, before the rounds):
//!    NUT-09 over NUT-13, batch 100, 3 empty batches to stop (both wallets'
//!    defaults), then NUT-07 and storing what is unspent.
//!
//! Besides each operation's wall time, the CPU time all threads of this
//! process spent meanwhile (the wallet's own work; the mint is another
//! process) is reported: a figure the machine's load disturbs much less.
//!
//! Environment: `TALLY_TEST_MINT_URL` (default `http://127.0.0.1:43338`, the
//! plain mint), `TALLY_TEST_MINT_FEES_URL` (default `http://127.0.0.1:43339`,
//! only to make melt invoices), `WALLET_PEER_ROUNDS` (default 12),
//! `WALLET_PEER_CDK_TARGET_PROOF_COUNT` (default 0: CDK then splits every
//! amount into the fewest proofs, as tally-wallet does, so both send the
//! same outputs; CDK's own default is 3, which keeps up to 3 proofs of each
//! denomination and so mints 1,000 sat into more outputs and can then send
//! 100 offline; run with 3 to see CDK as it ships).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cdk::amount::SplitTarget;
use cdk::nuts::nut00::ProofsMethods;
use cdk::nuts::{CurrencyUnit, MintQuoteState, PaymentMethod, State};
use cdk::wallet::types::ProofInfo;
use cdk::wallet::{ReceiveOptions as CdkReceive, SendOptions as CdkSend, WalletBuilder};
use tally_cashu::nuts::nut00::{MintUrl, Proof as TallyProof};
use tally_cashu::nuts::nut13::Seed;
use tally_wallet::client::MintClient;
use tally_wallet::receive::ReceiveOptions;
use tally_wallet::restore::{RestoreOptions, RestoreProgress};
use tally_wallet::send::SendOptions;
use tally_wallet::store::{ProofState, SqliteStore, StoredProof, WalletStore};

type Tally = tally_wallet::wallet::Wallet<SqliteStore>;
type Cdk = cdk::Wallet;

const MINT_AMOUNT: u64 = 1_000;
const SEND_AMOUNT: u64 = 100;
const SWAP_PROOFS: u64 = 64;
const MELT_AMOUNT: u64 = 100;
const RESTORE_PROOFS: u64 = 1_000;

struct Env {
    mint: String,
    tally_mint: MintUrl,
    invoice_client: MintClient,
    dir: tempfile::TempDir,
    cdk_target: usize,
    next: std::cell::Cell<u64>,
}

impl Env {
    fn path(&self, ext: &str) -> std::path::PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        self.dir.path().join(format!("w{n}.{ext}"))
    }

    async fn tally(&self, seed: [u8; 64]) -> Tally {
        let store = SqliteStore::open(&self.path("db")).await.unwrap();
        tally_wallet::wallet::Wallet::new(store, Seed::from_bytes(seed))
    }

    /// A tally wallet that knows the mint (keysets stored).
    async fn tally_ready(&self) -> Tally {
        let w = self.tally(random_seed()).await;
        w.add_mint(&self.tally_mint).await.unwrap();
        w
    }

    fn cdk(&self, seed: [u8; 64]) -> Cdk {
        let db = cdk_redb::WalletRedbDatabase::new(&self.path("redb")).unwrap();
        WalletBuilder::new()
            .mint_url(self.mint.parse().unwrap())
            .unit(CurrencyUnit::Sat)
            .localstore(Arc::new(db))
            .seed(seed)
            .target_proof_count(self.cdk_target)
            // CDK paces its requests by default (a burst of 20, then 20 a
            // minute): a policy, not work; off, as tally-wallet has none.
            .without_rate_limiting()
            .build()
            .unwrap()
    }

    /// A CDK wallet that knows the mint (info and keysets loaded).
    async fn cdk_ready(&self) -> Cdk {
        let w = self.cdk(random_seed());
        w.fetch_mint_info().await.unwrap();
        w.keysets(Default::default()).await.unwrap();
        w.active_keyset().await.unwrap();
        w
    }

    /// A bolt11 invoice of `amount` sat from the other mint's FakeWallet.
    async fn invoice(&self, amount: u64) -> String {
        self.invoice_client
            .mint_quote(amount, "sat", None)
            .await
            .unwrap()
            .request
    }
}

fn random_seed() -> [u8; 64] {
    let mut seed = [0u8; 64];
    getrandom::fill(&mut seed).unwrap();
    seed
}

/// Mints `amount` sat into a CDK wallet split as `split`: quote, the
/// quote's state polled until paid (`check_mint_quote_status`, which asks
/// the mint; the first answer is already PAID with FakeWallet), mint. CDK's
/// `wait_and_mint_quote` (its NUT-17 proof stream) did not return within
/// 60 s against Nutshell 0.21.0 here, so it is not used.
async fn cdk_mint(w: &Cdk, amount: u64, split: SplitTarget) -> cdk::nuts::Proofs {
    let quote = w
        .mint_quote(PaymentMethod::BOLT11, Some(amount.into()), None, None)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.check_mint_quote_status(&quote.id).await.unwrap().state != MintQuoteState::Paid {
        assert!(Instant::now() < deadline, "quote not paid in 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.mint(&quote.id, split, None).await.unwrap()
}

/// `amount` sat minted by a CDK wallet as proofs of 1 sat (one mint
/// request), for fixtures.
async fn ones(w: &Cdk, amount: u64) -> cdk::nuts::Proofs {
    let proofs = cdk_mint(w, amount, SplitTarget::Value(1.into())).await;
    assert_eq!(proofs.len() as u64, amount);
    proofs
}

fn to_tally(p: &cdk::nuts::Proof) -> TallyProof {
    serde_json::from_value(serde_json::to_value(p).unwrap()).unwrap()
}

#[derive(Default)]
struct Samples {
    tally: Vec<Duration>,
    cdk: Vec<Duration>,
    tally_cpu: Vec<Duration>,
    cdk_cpu: Vec<Duration>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn min_median(v: &[Duration]) -> (f64, f64) {
    let mut s: Vec<f64> = v.iter().copied().map(ms).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (s[0], median)
}

struct Round {
    mint: Measured,
    send: Measured,
    receive: Measured,
    swap: Measured,
    melt: Measured,
    restore: Measured,
}

/// An operation's wall time, and the CPU time every thread of this process
/// spent meanwhile (the wallet's local work: the mint is another process;
/// one operation runs at a time).
#[derive(Clone, Copy)]
struct Measured {
    wall: Duration,
    cpu: Duration,
}

impl std::ops::Add for Measured {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self {
            wall: self.wall + other.wall,
            cpu: self.cpu + other.cpu,
        }
    }
}

struct Timer {
    wall: Instant,
    cpu: Duration,
}

impl Timer {
    fn start() -> Self {
        let cpu = process_cpu();
        Self {
            wall: Instant::now(),
            cpu,
        }
    }

    fn stop(self) -> Measured {
        let wall = self.wall.elapsed();
        Measured {
            wall,
            cpu: process_cpu().saturating_sub(self.cpu),
        }
    }
}

/// CPU time of every live thread of this process (`/proc/self/task/*/schedstat`,
/// nanoseconds on CPU; Linux only). Threads that ended are not counted: the
/// runtime's workers and SQLite's and redb's threads live through a round.
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                ns += text.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(ns)
}

async fn tally_round(env: &Env, swap_fixture: &[cdk::nuts::Proof], restore_seed: [u8; 64]) -> Round {
    let url = &env.tally_mint;
    let a = env.tally_ready().await;
    let b = env.tally_ready().await;
    let c = env.tally_ready().await;
    let stored: Vec<StoredProof> = swap_fixture
        .iter()
        .map(|p| StoredProof::new(url.clone(), to_tally(p), ProofState::Unspent, None).unwrap())
        .collect();
    c.store().add_proofs(&stored).await.unwrap();
    let invoice = env.invoice(MELT_AMOUNT).await;

    // 1. mint
    let t = Timer::start();
    let quote = a.mint_quote(url, MINT_AMOUNT).await.unwrap();
    assert_eq!(a.mint(url, &quote.id).await.unwrap(), MINT_AMOUNT);
    let mint = t.stop();

    // 2. send, receive
    mark("tally send");
    let t = Timer::start();
    let sent = a.send(url, SEND_AMOUNT, &SendOptions::default()).await.unwrap();
    let send = t.stop();
    assert!(sent.swapped);
    mark("tally receive");
    let t = Timer::start();
    let got = b.receive(&sent.token, &ReceiveOptions::default()).await.unwrap();
    let receive = t.stop();
    assert_eq!(got, SEND_AMOUNT);

    mark("end");
    // 3. swap 64 proofs of 1 sat into one of 64
    let t = Timer::start();
    let out = c.swap(url, SWAP_PROOFS).await.unwrap();
    let swap = t.stop();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].amount.value(), SWAP_PROOFS);
    assert_eq!(c.balance(url).await.unwrap().unspent, SWAP_PROOFS);

    // 4. melt
    let t = Timer::start();
    let q = a.melt_quote(url, &invoice).await.unwrap();
    let melted = a.melt(url, &q).await.unwrap();
    let melt = t.stop();
    assert!(melted.inputs >= MELT_AMOUNT);

    // 5. restore
    let r = env.tally(restore_seed).await;
    let t = Timer::start();
    let report = r
        .restore(url, RestoreOptions::default(), &mut |_: &RestoreProgress| {})
        .await
        .unwrap();
    let restore = t.stop();
    assert_eq!(report.amount_unspent(), RESTORE_PROOFS);
    assert_eq!(
        report.keysets.iter().map(|k| k.unspent as u64).sum::<u64>(),
        RESTORE_PROOFS
    );

    Round {
        mint,
        send,
        receive,
        swap,
        melt,
        restore,
    }
}

async fn cdk_round(env: &Env, swap_fixture: &[cdk::nuts::Proof], restore_seed: [u8; 64]) -> Round {
    let mint_url: cdk::mint_url::MintUrl = env.mint.parse().unwrap();
    let a = env.cdk_ready().await;
    let b = env.cdk_ready().await;
    let c = env.cdk_ready().await;
    let infos: Vec<ProofInfo> = swap_fixture
        .iter()
        .map(|p| ProofInfo::new(p.clone(), mint_url.clone(), State::Unspent, CurrencyUnit::Sat).unwrap())
        .collect();
    c.localstore.update_proofs(infos, vec![]).await.unwrap();
    let invoice = env.invoice(MELT_AMOUNT).await;

    // 1. mint
    let t = Timer::start();
    let proofs = cdk_mint(&a, MINT_AMOUNT, SplitTarget::default()).await;
    let mint = t.stop();
    assert_eq!(u64::from(proofs.total_amount().unwrap()), MINT_AMOUNT);

    // 2. send, receive
    mark("cdk send");
    let t = Timer::start();
    let token = a
        .prepare_send(SEND_AMOUNT.into(), CdkSend::default())
        .await
        .unwrap()
        .confirm(None)
        .await
        .unwrap()
        .to_string();
    let send = t.stop();
    mark("cdk receive");
    let t = Timer::start();
    let got = b.receive(&token, CdkReceive::default()).await.unwrap();
    let receive = t.stop();
    assert_eq!(u64::from(got), SEND_AMOUNT);

    mark("end");
    // 3. swap 64 proofs of 1 sat into one of 64
    let inputs = c.get_unspent_proofs().await.unwrap();
    let t = Timer::start();
    let out = c
        .swap(
            Some(SWAP_PROOFS.into()),
            SplitTarget::default(),
            inputs,
            None,
            false,
            false,
        )
        .await
        .unwrap()
        .unwrap();
    let swap = t.stop();
    assert_eq!(out.len(), 1);
    assert_eq!(u64::from(out.total_amount().unwrap()), SWAP_PROOFS);
    // CDK stores the swapped-for proof as Reserved (a swap with an amount
    // prepares a send); tally-wallet stores it as spendable.
    let reserved = c.get_reserved_proofs().await.unwrap();
    assert_eq!(u64::from(reserved.total_amount().unwrap()), SWAP_PROOFS);

    // 4. melt
    let t = Timer::start();
    let q = a
        .melt_quote(PaymentMethod::BOLT11, invoice, None, None)
        .await
        .unwrap();
    let melted = a
        .prepare_melt(&q.id, HashMap::new())
        .await
        .unwrap()
        .confirm()
        .await
        .unwrap();
    let melt = t.stop();
    assert_eq!(melted.state(), cdk::nuts::MeltQuoteState::Paid);

    // 5. restore
    let r = env.cdk(restore_seed);
    let t = Timer::start();
    let restored = r.restore().await.unwrap();
    let restore = t.stop();
    assert_eq!(u64::from(restored.unspent), RESTORE_PROOFS);
    assert_eq!(r.get_unspent_proofs().await.unwrap().len() as u64, RESTORE_PROOFS);

    Round {
        mint,
        send,
        receive,
        swap,
        melt,
        restore,
    }
}

/// With `WALLET_PEER_MARK` set, a line on stderr (one `write`) that marks
/// where an operation starts, for `strace` (counting syscalls per operation).
fn mark(what: &str) {
    if std::env::var_os("WALLET_PEER_MARK").is_some() {
        eprint!("{}", format!("MARK {what}\n"));
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let rounds = env_u64("WALLET_PEER_ROUNDS", 12) as usize;
    let cdk_target = env_u64("WALLET_PEER_CDK_TARGET_PROOF_COUNT", 0) as usize;
    let mint = std::env::var("TALLY_TEST_MINT_URL").unwrap_or_else(|_| "http://127.0.0.1:43338".into());
    let fees = std::env::var("TALLY_TEST_MINT_FEES_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:43339".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let env = Env {
            tally_mint: MintUrl::new(&mint).unwrap(),
            invoice_client: MintClient::new(MintUrl::new(&fees).unwrap()).unwrap(),
            mint,
            dir,
            cdk_target,
            next: std::cell::Cell::new(0),
        };
        println!(
            "wallet_peer: mint {}, {rounds} rounds, CDK target_proof_count {cdk_target}",
            env.mint
        );

        // The restore fixture: 1,000 unspent proofs of 1 sat under one seed
        // (counters 0..1000 of the active keyset), made by a CDK wallet in
        // two mint requests of 500 outputs (Nutshell takes at most 1,000
        // outputs a request); both wallets restore the same seed.
        let restore_seed = random_seed();
        {
            let w = env.cdk(restore_seed);
            ones(&w, RESTORE_PROOFS / 2).await;
            ones(&w, RESTORE_PROOFS / 2).await;
        }
        let feeder = env.cdk_ready().await;

        let names = ["mint 1000", "send 100", "receive 100", "send+receive", "swap 64", "melt 100", "restore 1000"];
        let mut samples: Vec<Samples> = names.iter().map(|_| Samples::default()).collect();
        for round in 0..rounds {
            let fixture = ones(&feeder, 2 * SWAP_PROOFS).await;
            let (for_tally, for_cdk) = fixture.split_at(SWAP_PROOFS as usize);
            let (t, c) = if round % 2 == 0 {
                let t = tally_round(&env, for_tally, restore_seed).await;
                let c = cdk_round(&env, for_cdk, restore_seed).await;
                (t, c)
            } else {
                let c = cdk_round(&env, for_cdk, restore_seed).await;
                let t = tally_round(&env, for_tally, restore_seed).await;
                (t, c)
            };
            for (r, kind) in [(&t, 0), (&c, 1)] {
                let values = [r.mint, r.send, r.receive, r.send + r.receive, r.swap, r.melt, r.restore];
                for (s, v) in samples.iter_mut().zip(values) {
                    if kind == 0 {
                        s.tally.push(v.wall);
                        s.tally_cpu.push(v.cpu);
                    } else {
                        s.cdk.push(v.wall);
                        s.cdk_cpu.push(v.cpu);
                    }
                }
            }
            println!(
                "round {round:2}: tally mint {:.0} send {:.0} recv {:.0} swap {:.0} melt {:.0} restore {:.0} | cdk mint {:.0} send {:.0} recv {:.0} swap {:.0} melt {:.0} restore {:.0} (ms)",
                ms(t.mint.wall), ms(t.send.wall), ms(t.receive.wall), ms(t.swap.wall), ms(t.melt.wall), ms(t.restore.wall),
                ms(c.mint.wall), ms(c.send.wall), ms(c.receive.wall), ms(c.swap.wall), ms(c.melt.wall), ms(c.restore.wall),
            );
        }

        println!();
        println!("| operation | tally min | tally median | CDK min | CDK median | tally/CDK (median) | tally/CDK (min) |");
        println!("|---|---|---|---|---|---|---|");
        for (name, s) in names.iter().zip(&samples) {
            let (tmin, tmed) = min_median(&s.tally);
            let (cmin, cmed) = min_median(&s.cdk);
            println!(
                "| {name} | {tmin:.1} ms | {tmed:.1} ms | {cmin:.1} ms | {cmed:.1} ms | {:.2}× | {:.2}× |",
                tmed / cmed,
                tmin / cmin
            );
        }
        // The local work behind those times, load-independent but for
        // cache effects: CPU time of this process's threads per operation.
        println!();
        println!("| operation | tally CPU median | CDK CPU median | tally/CDK |");
        println!("|---|---|---|---|");
        for (name, s) in names.iter().zip(&samples) {
            let (_, tmed) = min_median(&s.tally_cpu);
            let (_, cmed) = min_median(&s.cdk_cpu);
            println!("| {name} | {tmed:.2} ms | {cmed:.2} ms | {:.2}× |", tmed / cmed);
        }
    });
}
