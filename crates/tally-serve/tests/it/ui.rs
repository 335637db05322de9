//! The operator page (`GET /`, `crate::ui`): what a person sees in a real
//! headless Chromium (`--dump-dom`, no WebDriver), logged in through the
//! page's own form and cookie; what it shows without a token (the login
//! form only), with a token of another scope (a 403 page only), in amnesia
//! and on PostgreSQL (the missing parts say "unavailable", never a 500);
//! and over plain HTTP: the security headers, the cookie's attributes, a
//! cookie re-verified on every read, and credentials never logged.
//!
//! Chromium is found as `TALLY_CHROMIUM` or `chromium` on `PATH`;
//! `./scripts/services/chromium` installs it (`scripts/test` runs it before
//! the tests). Without it these tests fail, naming that script.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tally_serve::config::Limits;
use tally_token::{Caveat, PathPrefix, Scope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::rewarder::{ops, run, settle, start_with};
use crate::support::{
    ACME, READER, Resp, Server, accounts_body, mint, parse, post, raw, runtime, send, transfer_body,
};

/// How long one Chromium run may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// The Chromium binary, or a failure naming the script that installs it.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("TALLY_CHROMIUM") {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "headless Chromium is needed by the operator page tests and is not on PATH \
                 (nor named by TALLY_CHROMIUM): run ./scripts/services/chromium \
                 (./scripts/test runs it before the tests)"
            )
        })
}

/// What Chromium showed: the DOM, and its log (console messages, CSP
/// violations among them).
struct Dump {
    dom: String,
    log: String,
}

/// `chromium --headless=new --dump-dom <url>` in a fresh profile: the DOM
/// after the page (and any navigation it starts) has loaded, and the
/// browser's log on stderr.
fn dump_dom(url: &str) -> Dump {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("chromium did not start ({e}): run ./scripts/services/chromium")
        });
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            pipe.read_to_end(&mut out).unwrap();
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Dump {
        dom: stdout.join().unwrap(),
        log: stderr.join().unwrap(),
    }
}

async fn browse(url: String) -> Dump {
    tokio::task::spawn_blocking(move || dump_dom(&url))
        .await
        .unwrap()
}

/// What Chromium says when a page breaks its Content-Security-Policy.
const CSP_VIOLATION: &str = "Content Security Policy";

/// The CSP violations Chromium logged.
fn csp_violations(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(CSP_VIOLATION)).collect()
}

/// Chromium logged in with `token` through the page's form; what it ended
/// on. The service's pages broke nothing of their own CSP.
async fn browse_logged_in(service: SocketAddr, token: &str) -> String {
    let (helper, task) = login_helper(service, token).await;
    let dump = browse(format!("http://{helper}/")).await;
    task.abort();
    assert_eq!(csp_violations(&dump.log), Vec::<&str>::new());
    visible(&dump.dom)
}

/// `text` without the elements `<name …>…</name>`.
fn strip_element(text: &str, name: &str) -> String {
    let (open, close) = (format!("<{name}"), format!("</{name}>"));
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        out.push_str(&rest[..start]);
        let end = rest[start..].find(&close).expect("a closed element") + start + close.len();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// What a person reads: the DOM without its style, title and tags,
/// entities of the page's escaping decoded, whitespace collapsed.
fn visible(dom: &str) -> String {
    let text = strip_element(&strip_element(dom, "style"), "title");
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A one-page web server on loopback (same site as the service: another
/// port of 127.0.0.1) whose page posts `token` to the service's login
/// form as soon as it loads. Test-only JavaScript: the operator page has
/// none, and `--dump-dom` cannot click.
async fn login_helper(
    service: SocketAddr,
    token: &str,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let page = format!(
        "<!DOCTYPE html><html><body><form id=\"f\" method=\"post\" action=\"http://{service}/ui/login\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\"></form>\
         <script>document.getElementById('f').submit()</script></body></html>"
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

fn text(r: &Resp) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

/// The words that only the page's content (never the login form or a
/// refusal) shows.
const CONTENT: [&str; 5] = [
    "readiness",
    "conservation",
    "Ledger totals",
    "Rewarder",
    "Decision log",
];

fn assert_no_content(seen: &str) {
    for word in CONTENT {
        assert!(!seen.contains(word), "{word:?} leaked into: {seen}");
    }
}

/// Accounts 1 and 2 (tenant `acme`) and a transfer of `amount` between them.
async fn accounts_and_transfer(s: &Server, amount: u128) {
    let r = post(
        s.addr,
        "/v1/ledger/accounts",
        &ACME,
        "ui-a",
        &accounts_body(1, 2),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = transfer_body(9, 1, 2, amount);
    let r = post(s.addr, "/v1/ledger/transfers", &ACME, "ui-t", &body).await;
    assert_eq!(r.status, 200, "{}", text(&r));
}

/// A server with the rewarder configured and some state: accounts 1 and 2
/// with a transfer of 30, a stored decision policy and one decision, and
/// epochs `2026-w49` and `2026-w50` computed and settled (a pool of
/// 1,000,003 each), `2026-w51` computed, not settled. Returns the server
/// and the epochs' manifest CIDs.
async fn populated() -> (Server, [String; 3]) {
    let s = start_with(tempfile::tempdir().unwrap(), |_| {}).await;
    accounts_and_transfer(&s, 30).await;
    let policy = include_bytes!("../../../tally-decide/examples/policy.json");
    let r = crate::support::call(
        s.addr,
        "POST",
        "/v1/decide/policies",
        Some(&s.admin),
        Some("ui-p"),
        policy,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let digest = r.json()["digest"].as_str().unwrap().to_owned();
    let decider = mint("acme", &[Scope::DecideRun], vec![]);
    let body = format!(
        r#"{{"policy":"{digest}","request":{{"sequence":1,"requested_id":20,"input_tokens":1200,"output_tokens":400,"value_microunits":50000,"budget_microunits":10000,"risk_bps":1000,"confidence_bps":9000,"minimum_quality_bps":7000,"max_p95_latency_ms":500,"required_capabilities":1,"allowed_providers":18446744073709551615,"required_regions":1}}}}"#
    );
    let r = post(s.addr, "/v1/decisions", &decider, "ui-d", &body).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let token = ops();
    let mut cids = Vec::new();
    // Other payees each week: other measurements.
    let epochs = [
        ("2026-w49", 1_000_000, 4),
        ("2026-w50", 2_000_000, 5),
        ("2026-w51", 3_000_000, 6),
    ];
    for (epoch, start, payees) in epochs {
        let (_, _, r) = run(&s, &token, epoch, start, payees).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        cids.push(r.json()["manifest_cid"].as_str().unwrap().to_owned());
        if epoch != "2026-w51" {
            let r = settle(s.addr, &token, &format!("ui-s-{epoch}"), epoch).await;
            assert_eq!(r.status, 200, "{}", text(&r));
        }
    }
    (s, cids.try_into().unwrap())
}

fn decisions_key_id(s: &Server) -> String {
    let vkey = std::fs::read_to_string(s.data().join("decisions.vkey")).unwrap();
    let v = tally_audit::NoteVerifier::parse(vkey.trim()).unwrap();
    v.key().id().to_string()
}

#[test]
fn in_headless_chromium_the_page_shows_readiness_totals_epochs_and_the_checkpoint_and_nothing_without_the_right_token()
 {
    runtime().block_on(async {
        let (s, [first_cid, second_cid, head_cid]) = populated().await;
        let key_id = decisions_key_id(&s);

        // The browser reports a stylesheet its CSP does not allow (so the
        // checks below that it reported none are not vacuous).
        let bad = "data:text/html,<meta http-equiv=\"Content-Security-Policy\" \
                   content=\"style-src 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='\">\
                   <style>p{}</style><p>x</p>";
        assert!(!csp_violations(&browse(bad.to_owned()).await.log).is_empty());

        // No token: the login form, and nothing else.
        let dump = browse(format!("http://{}/", s.addr)).await;
        assert_eq!(csp_violations(&dump.log), Vec::<&str>::new());
        let seen = visible(&dump.dom);
        assert!(seen.contains("Sign in"), "{seen}");
        assert_no_content(&seen);
        assert!(
            !seen.contains("2026-w50") && !seen.contains(&head_cid),
            "{seen}"
        );

        // The admin token through the form: the cookie is set, the
        // redirect follows, and the page shows what the service knows.
        let seen = browse_logged_in(s.addr, &s.admin).await;
        for want in [
            "readiness: ready",
            "conservation: OK",
            "accepted runs: 3; quarantined runs: 0",
        ] {
            assert!(seen.contains(want), "{want:?} not in: {seen}");
        }
        // The three epochs, newest first, each with its status, settlement,
        // manifest CID and the manifest before it (the chain).
        let rows = format!(
            "2026-w51 accepted not settled {head_cid} {second_cid} \
             2026-w50 accepted settled {second_cid} {first_cid} \
             2026-w49 accepted settled {first_cid} -"
        );
        assert!(seen.contains(&rows), "{rows:?} not in: {seen}");
        // Ledger 1's row: the transfer of 30 and the epochs' pools of
        // 1,000,003 posted each way, nothing pending, balanced.
        assert!(seen.contains("1 2000036 2000036 0 0 OK"), "{seen}");
        assert!(!seen.contains("BROKEN"), "{seen}");
        // The checkpoint's size is the one the API signs.
        let cp = crate::support::get(s.addr, "/v1/audit/checkpoint", &s.admin).await;
        let size = cp.json()["size"].as_u64().unwrap();
        let root = cp.json()["root"].as_str().unwrap().to_owned();
        let row =
            format!("{size} {root} tally-serve/decisions key {key_id} (tally-serve/decisions)");
        assert!(seen.contains(&row), "{row:?} not in: {seen}");

        // `rewarder.inspect` alone (a tenant's token) opens it too.
        let inspector = mint("ops", &[Scope::RewarderInspect], vec![]);
        let seen = browse_logged_in(s.addr, &inspector).await;
        assert!(seen.contains("conservation: OK"), "{seen}");

        // A valid token of another scope: a 403 page, no data, no cookie.
        let seen = browse_logged_in(s.addr, &READER).await;
        assert!(seen.contains("does not allow the operator page"), "{seen}");
        assert_no_content(&seen);

        // A forged token: the login form again, saying so.
        let forged = format!("{}x", &s.admin[..s.admin.len() - 1]);
        let seen = browse_logged_in(s.addr, &forged).await;
        assert!(seen.contains("was not accepted"), "{seen}");
        assert_no_content(&seen);
        s.stop().await;
    });
}

/// Log lines of this process (the test binary's global subscriber).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .try_init()
            .expect("no other subscriber in the test binary");
        logs
    }))
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn form_login(addr: SocketAddr, token: &str) -> Resp {
    let body = format!("token={}", token.replace('=', "%3D"));
    send(
        addr,
        &raw(
            "POST",
            "/ui/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        ),
    )
    .await
}

async fn page_with(addr: SocketAddr, headers: &[(&str, &str)]) -> Resp {
    send(addr, &raw("GET", "/", headers, b"")).await
}

fn assert_page_headers(r: &Resp) {
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap();
    assert_eq!(csp, tally_serve::ui::CSP.as_str());
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-")
            && csp.contains("frame-ancestors 'none'")
            && csp.contains("form-action 'self'")
            && !csp.contains("script-src")
            && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let body = text(r);
    assert!(!body.to_ascii_lowercase().contains("<script"), "{body}");
    // The one stylesheet is the one the CSP's hash allows.
    let style = body
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(css, _)| css)
        .unwrap();
    assert!(csp.contains(&tally_serve::ui::csp_hash(style.as_bytes())));
}

#[test]
fn over_http_the_page_takes_a_bearer_header_or_the_login_cookie_verified_on_every_read_and_never_logs_either()
 {
    let logs = captured_logs();
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        // Without a credential: 401, the login form only, every header.
        let r = page_with(s.addr, &[]).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_page_headers(&r);
        assert!(text(&r).contains("action=\"/ui/login\""));
        assert_no_content(&text(&r));
        // A token in the URL is not a credential.
        let r = send(
            s.addr,
            &raw("GET", &format!("/?token={}", s.admin), &[], b""),
        )
        .await;
        assert_eq!(r.status, 401);

        // The bearer header, as on the API.
        let bearer = format!("Bearer {}", s.admin);
        let r = page_with(s.addr, &[("Authorization", &bearer)]).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_page_headers(&r);
        assert!(text(&r).contains("conservation: <span class=\"ok\">OK</span>"));
        // Another scope: 403, nothing shown.
        let reader = format!("Bearer {}", *READER);
        let r = page_with(s.addr, &[("Authorization", &reader)]).await;
        assert_eq!(r.status, 403);
        assert_page_headers(&r);
        assert_no_content(&text(&r));
        // A token held to the API's paths does not open the page.
        let held = mint(
            "ops",
            &[Scope::RewarderInspect],
            vec![Caveat::PathPrefix(PathPrefix::new("/v1").unwrap())],
        );
        let r = page_with(s.addr, &[("Authorization", &format!("Bearer {held}"))]).await;
        assert_eq!(r.status, 403);

        // The form: 303 to the page and the cookie, with its attributes.
        let r = form_login(s.addr, &s.admin).await;
        assert_eq!(r.status, 303, "{}", text(&r));
        assert_eq!(r.header("location"), Some("/"));
        let set = r.header("set-cookie").unwrap().to_owned();
        assert_eq!(
            set,
            format!("tally-ui={}; HttpOnly; SameSite=Strict; Path=/", s.admin)
        );
        let cookie = format!("tally-ui={}", s.admin);
        let r = page_with(s.addr, &[("Cookie", &cookie)]).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        assert!(text(&r).contains("readiness: <span class=\"ok\">ready</span>"));
        // Two cookies of the page's name: neither is trusted.
        let two = format!("{cookie}; tally-ui=x");
        assert_eq!(page_with(s.addr, &[("Cookie", &two)]).await.status, 401);
        // A token of another scope sets no cookie.
        let r = form_login(s.addr, &READER).await;
        assert_eq!(r.status, 403);
        assert!(r.header("set-cookie").is_none());
        assert_no_content(&text(&r));
        // Nor does a forged one, or none.
        let r = form_login(s.addr, "tally1.AAAA").await;
        assert_eq!(r.status, 401);
        assert!(r.header("set-cookie").is_none());
        assert_eq!(form_login(s.addr, "").await.status, 401);
        // The login takes a form, within its cap.
        let r = send(
            s.addr,
            &raw(
                "POST",
                "/ui/login",
                &[("Content-Type", "application/json")],
                b"{\"token\":\"x\"}",
            ),
        )
        .await;
        assert_eq!(r.status, 415);
        let big = format!("token={}", "A".repeat(tally_serve::ui::LOGIN_BODY_MAX));
        let r = send(
            s.addr,
            &raw(
                "POST",
                "/ui/login",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                big.as_bytes(),
            ),
        )
        .await;
        assert_eq!(r.status, 413);

        // The cookie is re-verified on every read: revoke the token, and
        // the same cookie opens nothing.
        let victim = mint("ops", &[Scope::RewarderInspect], vec![]);
        assert_eq!(form_login(s.addr, &victim).await.status, 303);
        let victim_cookie = format!("tally-ui={victim}");
        assert_eq!(
            page_with(s.addr, &[("Cookie", &victim_cookie)])
                .await
                .status,
            200
        );
        let id = tally_token::Token::from_text(&victim)
            .unwrap()
            .id()
            .to_string();
        let r = post(
            s.addr,
            &format!("/v1/tokens/{id}/revoke"),
            &s.admin,
            "ui-revoke",
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let r = page_with(s.addr, &[("Cookie", &victim_cookie)]).await;
        assert_eq!(r.status, 401);
        assert_no_content(&text(&r));

        let admin = s.admin.clone();
        // Logout clears the cookie.
        let r = send(
            s.addr,
            // As a browser posts the form: a form body.
            &raw(
                "POST",
                "/ui/logout",
                &[
                    ("Cookie", &cookie),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                b"x=1",
            ),
        )
        .await;
        assert_eq!(r.status, 303);
        assert_eq!(
            r.header("set-cookie"),
            Some("tally-ui=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
        );
        s.stop().await;

        // Every request above was logged; no credential was.
        let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
        assert!(
            logs.contains(r#""route":"/""#),
            "the page's requests are logged"
        );
        assert!(logs.contains(r#""route":"/ui/login""#));
        for secret in [&admin, &victim, &*READER, &held] {
            let tag = secret.split('.').nth(1).unwrap();
            assert!(!logs.contains(tag), "a token reached the logs");
        }
    });
}

#[test]
fn behind_tls_the_cookie_is_secure_host_prefixed_and_the_only_one_read() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::support::config(dir.path(), Limits::default());
        c.behind_tls = true;
        let running = tally_serve::start(c).await.unwrap();
        let admin = std::fs::read_to_string(&running.admin_token_file).unwrap();
        let admin = admin.trim();
        let r = form_login(running.addr, admin).await;
        assert_eq!(r.status, 303, "{}", text(&r));
        assert_eq!(
            r.header("set-cookie"),
            Some(
                format!("__Host-tally-ui={admin}; HttpOnly; SameSite=Strict; Path=/; Secure")
                    .as_str()
            )
        );
        let secure = format!("__Host-tally-ui={admin}");
        assert_eq!(
            page_with(running.addr, &[("Cookie", &secure)]).await.status,
            200
        );
        // The plain-HTTP name (which any host of the site could set) opens nothing.
        let plain = format!("tally-ui={admin}");
        let r = page_with(running.addr, &[("Cookie", &plain)]).await;
        assert_eq!(r.status, 401);
        assert_no_content(&text(&r));
        let r = send(running.addr, &raw("POST", "/ui/logout", &[], b"")).await;
        assert_eq!(
            r.header("set-cookie"),
            Some("__Host-tally-ui=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure")
        );
        running.stop().await;
    });
}

#[test]
fn in_amnesia_the_page_renders_with_the_decision_log_in_memory() {
    runtime().block_on(async {
        let mut c = tally_serve::Config::new("unused-amnesia-dir");
        c.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        c.amnesia = true;
        let running = tally_serve::start(c).await.unwrap();
        let token = running.admin_token.as_ref().unwrap().as_str().to_owned();
        let r = page_with(
            running.addr,
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let seen = visible(&text(&r));
        for want in [
            "readiness: ready",
            "conservation: OK",
            "rewarder not configured",
            // The decision log is kept in memory in amnesia (SRV-77).
            "origin signed by 1",
            "tally-serve/decisions",
        ] {
            assert!(seen.contains(want), "{want:?} not in: {seen}");
        }
        running.stop().await;
        assert!(!std::path::Path::new("unused-amnesia-dir").exists());
    });
}

#[cfg(feature = "postgres")]
#[test]
fn on_postgres_the_page_shows_the_rewarder_and_the_decision_log_from_the_database() {
    runtime().block_on(async {
        let db = crate::pg::TestDb::create().await;
        let keys = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::support::config(dir.path(), Limits::default());
        c.database = Some(db.url.clone());
        c.rewarder = crate::rewarder::rewarder_config(keys.path());
        let s = Server::start_config(dir, c).await;
        accounts_and_transfer(&s, 5).await;
        // An epoch accepted through this process: the page reads the
        // rewarder's tables (the head, the counts) and its routes (the row).
        let (_, _, r) = run(&s, &ops(), "2026-pg", 1_700_000_000, 3).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let manifest_cid = r.json()["manifest_cid"].as_str().unwrap().to_owned();
        let (_, _, r) = run(&s, &ops(), "2026-pg2", 1_700_001_000, 4).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let head_cid = r.json()["manifest_cid"].as_str().unwrap().to_owned();
        let r = settle(s.addr, &ops(), "pg-s", "2026-pg").await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        // The most recent epochs by one query: newest first, the chain's
        // links, the settlement recorded.
        let rows = format!(
            "2026-pg2 accepted not settled {head_cid} {manifest_cid} \
             2026-pg accepted settled {manifest_cid} -"
        );
        let r = page_with(s.addr, &[("Authorization", &format!("Bearer {}", s.admin))]).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let seen = visible(&text(&r));
        for want in [
            "readiness: ready",
            "conservation: OK",
            "accepted runs: 2; quarantined runs: 0",
            rows.as_str(),
            // The decision log is the database's (SRV-87).
            "tally-serve/decisions-pg/",
        ] {
            assert!(seen.contains(want), "{want:?} not in: {seen}");
        }
        s.stop().await;
        db.drop().await;
    });
}

/// The page of `s` as the admin sees it.
async fn admin_page(s: &Server) -> String {
    let r = page_with(s.addr, &[("Authorization", &format!("Bearer {}", s.admin))]).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    visible(&text(&r))
}

/// The file store's recent-epochs index is not the truth: one that lost
/// its newest entry (a crash after the head moved, before the index was
/// written) or is missing (a store older than it) is rebuilt at start from
/// the chain of accepted runs.
#[test]
fn the_recent_epochs_index_is_rebuilt_from_the_chain_at_start() {
    runtime().block_on(async {
        let mut s = start_with(tempfile::tempdir().unwrap(), |_| {}).await;
        let token = ops();
        let mut cids = Vec::new();
        for (epoch, start, payees) in [
            ("r-1", 1_000_000, 3),
            ("r-2", 2_000_000, 4),
            ("r-3", 3_000_000, 5),
        ] {
            let (_, _, r) = run(&s, &token, epoch, start, payees).await;
            assert_eq!(r.status, 200, "{}", text(&r));
            cids.push(r.json()["manifest_cid"].as_str().unwrap().to_owned());
        }
        let (c1, c2, c3) = (&cids[0], &cids[1], &cids[2]);
        let rows = format!(
            "r-3 accepted not settled {c3} {c2} r-2 accepted not settled {c2} {c1} \
             r-1 accepted not settled {c1} -"
        );
        let seen = admin_page(&s).await;
        assert!(seen.contains(&rows), "{rows:?} not in: {seen}");
        let index = s.data().join("rewarder/recent.json");
        let entries: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
        assert_eq!(entries.len(), 3);
        for damage in ["lost the newest entry", "missing"] {
            if damage == "missing" {
                std::fs::remove_file(&index).unwrap();
            } else {
                std::fs::write(&index, serde_json::to_vec(&entries[1..]).unwrap()).unwrap();
            }
            s = start_with(s.stop().await, |_| {}).await;
            let seen = admin_page(&s).await;
            assert!(seen.contains(&rows), "{damage}: {rows:?} not in: {seen}");
        }
        s.stop().await;
    });
}

#[test]
fn the_page_parses_what_the_service_sends() {
    // `parse` and `visible` on a fixed answer, so a broken helper cannot
    // make the browser tests pass vacuously.
    let r = parse(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<title>t</title><p>a <b>b</b>&amp;</p><style>p{}</style>c",
    );
    assert_eq!(visible(&text(&r)), "a b & c");
}
