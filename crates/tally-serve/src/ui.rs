//! The operator page: `GET /`, server-rendered HTML and one constant
//! stylesheet, no JavaScript, read-only.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page: readiness and its causes (the truth of `/readyz`), the ledger's totals with the conservation check (`OK` / `BROKEN`), the rewarder's most recent epochs (at most [`crate::rewarder::RECENT_EPOCHS_MAX`], each with its status, settlement and manifest CIDs) and stored runs, the decision log's latest signed checkpoint; without a credential, only the login form (401) |
//! | `POST /ui/login` | a form (`token=…`): the token is verified as for the page, then set as a cookie (303 to `/`) |
//! | `POST /ui/logout` | clears the cookie (303 to `/`) |
//!
//! **Who may read it.** A token that allows `admin` or `rewarder.inspect`
//! ([`PAGE_SCOPES`]) for `GET /` (a method or path caveat that does not
//! allow `GET /` refuses it; so does an `epoch-id` caveat). The page shows
//! aggregates only (no account, balance, tenant, decision or payout):
//! readiness (unauthenticated at `/readyz` anyway), the totals every ledger
//! token reads at `/v1/ledger/conservation`, the rewarder's recent epochs
//! and their manifest CIDs (what `rewarder.inspect` reads at
//! `/v1/rewarder/epochs/{epoch}`) and the
//! decision log's checkpoint (public by design: it is what auditors
//! check proofs against). Any other valid token gets a 403 page that shows
//! nothing else: `ledger.read` and `audit.read` each read one part of it
//! through the API, but the page is the operator's whole view, and
//! `*.inspect` is the scope family for that (`rewarder.inspect` is its one
//! member today).
//!
//! **Not in `/openapi.json`**: the document describes the JSON API under
//! `/v1` (as it leaves out `/healthz`, `/readyz`, `/metrics`); these routes
//! answer HTML to browsers, and schemathesis, which tests the document, has
//! nothing to check in them.
//!
//! **The credential.** `Authorization: Bearer <token>`, as on the API; or,
//! for a browser, which cannot send that header, the cookie [`COOKIE`]
//! (`__Host-tally-ui` over TLS) set by `POST /ui/login`: `HttpOnly`,
//! `SameSite=Strict`, `Path=/`, `Secure` when the service answers over TLS
//! (here or in a proxy, `--behind-tls`), no `Max-Age` (it ends with the
//! browser session; the token's own expiry still holds). Every page read
//! verifies the macaroon again (expiry, revocation, caveats): the cookie is
//! the token, not a session. A token is never taken from a URL (URLs reach
//! logs and histories). Both headers are marked sensitive in the stack, and
//! no header is ever logged.
//!
//! **The answers' headers.** `Content-Security-Policy: default-src 'none';
//! style-src 'sha256-…'; form-action 'self'; frame-ancestors 'none';
//! base-uri 'none'` (the stylesheet is a compile-time constant inlined in
//! the page and allowed by its hash, [`STYLE`]: one request, no route of its
//! own to authorize, and no nonce, which would add nothing for constant
//! bytes), `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`,
//! `Cache-Control: no-store`, `Referrer-Policy: no-referrer`.
//!
//! **Escaping.** Every dynamic string reaches the page through
//! [`escape`] ([`Html::text`]); the only unescaped text is `&'static str`
//! written in this file ([`Html::raw`]).
//!
//! The page routes pass the stack's limits (body cap, request timeout,
//! concurrency, the instance's rate limit; [`crate::stack`]); the login
//! body is read to [`LOGIN_BODY_MAX`] bytes.

use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use crate::AppState;
use crate::auth::{AuthError, BEARER_MAX_BYTES, Principal, Scope};
use crate::stack::{KeepBody, read_capped};

/// The page.
pub const PAGE_PATH: &str = "/";
/// The login form's target.
pub const LOGIN_PATH: &str = "/ui/login";
/// Where the page's forms post (login, logout).
pub const FORMS_PREFIX: &str = "/ui/";
/// The logout form's target.
pub const LOGOUT_PATH: &str = "/ui/logout";
/// The cookie's name over plain HTTP.
pub const COOKIE: &str = "tally-ui";
/// The cookie's name over TLS (the `__Host-` prefix: the browser keeps it
/// only with `Secure`, `Path=/` and no `Domain`, so a sibling host cannot
/// plant one).
pub const COOKIE_TLS: &str = "__Host-tally-ui";
/// The scopes that open the page (either).
pub const PAGE_SCOPES: [Scope; 2] = [Scope::Admin, Scope::RewarderInspect];
/// The largest login body, bytes (a token is at most
/// [`BEARER_MAX_BYTES`], about 2.7 KB; percent-encoding may triple a few).
pub const LOGIN_BODY_MAX: usize = 8 << 10;
/// The most quarantined runs the page names.
pub const QUARANTINED_SHOWN_MAX: usize = 5;

/// The page's stylesheet (allowed by its hash in the CSP).
pub const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:62rem;padding:0 1rem;color:#1b1b1b}\
h1{font-size:1.4rem}h2{font-size:1.1rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:1.6rem}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}\
.ok{color:#0a6b2d;font-weight:600}.bad{color:#a4000f;font-weight:600}.na{color:#6b6b6b}\
code{word-break:break-all}input[type=password]{width:100%;max-width:40rem}form{margin:1rem 0}";

/// `'sha256-<base64 of SHA-256(bytes)>'`, a CSP hash source.
#[must_use]
pub fn csp_hash(bytes: &[u8]) -> String {
    // Standard base64: the workspace's base64url with its two symbols swapped.
    let b64: String = tally_encoding::base64url::encode(&Sha256::digest(bytes))
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    format!("'sha256-{b64}'")
}

/// The page's Content-Security-Policy.
pub static CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src {}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        csp_hash(STYLE.as_bytes())
    )
});

/// Escapes text for an HTML element's content or a double- or
/// single-quoted attribute value: `&`, `<`, `>`, `"`, `'` become entities;
/// everything else is kept.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML document being written: static markup raw, everything else
/// escaped.
#[derive(Debug, Default)]
pub struct Html(String);

impl Html {
    /// Markup written in this file.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Text, escaped.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.0.push_str(&escape(text));
        self
    }

    /// `<tag class="class">text</tag>`, the text escaped.
    pub fn el(&mut self, tag: &'static str, class: &'static str, text: &str) -> &mut Self {
        let _ = write!(self.0, "<{tag}");
        if !class.is_empty() {
            let _ = write!(self.0, " class=\"{class}\"");
        }
        let _ = write!(self.0, ">{}</{tag}>", escape(text));
        self
    }

    /// The finished document.
    #[must_use]
    pub fn finish(mut self) -> String {
        self.0.push_str("</main></body></html>\n");
        self.0
    }

    /// A document's head and the page's heading.
    fn start(title: &'static str) -> Self {
        let mut h = Self(String::with_capacity(8 << 10));
        h.raw("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">")
            .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .raw("<meta name=\"referrer\" content=\"no-referrer\"><title>")
            .raw(title)
            .raw("</title><style>")
            .raw(STYLE)
            .raw("</style></head><body><main><h1>")
            .raw(title)
            .raw("</h1>");
        h
    }
}

/// An HTML answer with the page's headers.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The page is the answer, whatever its status (the stack renders
    // other error answers as JSON).
    r.extensions_mut().insert(KeepBody);
    r
}

fn login_page(status: StatusCode, note: Option<&'static str>) -> Response {
    let mut h = Html::start("Tally operator page");
    if let Some(note) = note {
        h.el("p", "bad", note);
    }
    h.raw("<p>Sign in with a token that allows <code>admin</code> or <code>rewarder.inspect</code>.</p>")
        .raw("<form method=\"post\" action=\"/ui/login\">")
        .raw("<label for=\"token\">Token</label><br>")
        .raw("<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required>")
        .raw("<p><button type=\"submit\">Sign in</button></p></form>");
    let mut r = html(status, h.finish());
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

fn message_page(status: StatusCode, title: &'static str, text: &'static str) -> Response {
    let mut h = Html::start(title);
    h.el("p", "bad", text)
        .raw("<form method=\"post\" action=\"/ui/logout\"><button type=\"submit\">Sign out</button></form>");
    html(status, h.finish())
}

/// The answer to a credential that does not open the page.
fn refused(s: &AppState, e: AuthError) -> Response {
    s.metrics.auth_failure("ui");
    match e {
        AuthError::Missing => login_page(StatusCode::UNAUTHORIZED, None),
        AuthError::Malformed | AuthError::Invalid => login_page(
            StatusCode::UNAUTHORIZED,
            Some("The token was not accepted (unknown, expired or revoked)."),
        ),
        AuthError::Forbidden => message_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "This token does not allow the operator page (it needs admin or rewarder.inspect).",
        ),
        AuthError::Unavailable => message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "Tokens cannot be checked now (the revocation list is stale); retry later.",
        ),
    }
}

/// The name of the page's cookie on this server.
#[must_use]
pub const fn cookie_name(tls: bool) -> &'static str {
    if tls { COOKIE_TLS } else { COOKIE }
}

/// The value of cookie `name` in `headers`: `Missing` when absent,
/// `Malformed` when it is there more than once or is not a token's text.
///
/// # Errors
/// [`AuthError::Missing`], [`AuthError::Malformed`].
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, AuthError> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((n, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if n == name {
                if found.is_some() {
                    // Two cookies of one name: one was planted; trust neither.
                    return Err(AuthError::Malformed);
                }
                found = Some(v);
            }
        }
    }
    let v = found.ok_or(AuthError::Missing)?;
    if cookie_value_ok(v) {
        Ok(v)
    } else {
        Err(AuthError::Malformed)
    }
}

/// Whether `token` can be a cookie's value (RFC 6265 cookie-octets, and
/// not longer than a bearer token).
fn cookie_value_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= BEARER_MAX_BYTES
        && token
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

/// Verifies `parts` (a `GET /` with its credential) for one of
/// [`PAGE_SCOPES`].
fn authorize_parts(s: &AppState, parts: &Parts) -> Result<Principal, AuthError> {
    for scope in PAGE_SCOPES {
        match s.auth.authenticate(parts, scope) {
            Err(AuthError::Forbidden) => {}
            other => return other,
        }
    }
    Err(AuthError::Forbidden)
}

/// Verifies `token` as the credential of `GET /`.
fn authorize_token(s: &AppState, token: &str) -> Result<Principal, AuthError> {
    if !cookie_value_ok(token) {
        return Err(AuthError::Malformed);
    }
    let mut value =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| AuthError::Malformed)?;
    value.set_sensitive(true);
    let (mut parts, ()) = axum::http::Request::builder()
        .method(Method::GET)
        .uri(PAGE_PATH)
        .body(())
        .map_err(|_| AuthError::Malformed)?
        .into_parts();
    parts.headers.insert(header::AUTHORIZATION, value);
    authorize_parts(s, &parts)
}

/// `GET /`: the page, or the login form (401), or a refusal (403).
pub async fn page(State(s): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let outcome = if parts.headers.contains_key(header::AUTHORIZATION) {
        // As on the API: the request's own `Authorization`.
        authorize_parts(&s, &parts)
    } else {
        cookie(&parts.headers, cookie_name(s.tls)).and_then(|t| authorize_token(&s, t))
    };
    match outcome {
        Ok(_) => html(StatusCode::OK, render(&s).await),
        Err(e) => refused(&s, e),
    }
}

/// The value of field `name` of an `application/x-www-form-urlencoded`
/// body: `None` when absent, given twice, or not valid UTF-8 after
/// percent-decoding.
#[must_use]
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let mut found = None;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k)? == name {
            if found.is_some() {
                return None;
            }
            found = Some(percent_decode(v)?);
        }
    }
    found
}

/// `+` is a space, `%XX` a byte; `None` on a broken escape or bytes that
/// are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i.checked_add(1)?).and_then(|c| hex_digit(*c))?;
                let lo = bytes.get(i.checked_add(2)?).and_then(|c| hex_digit(*c))?;
                out.push((hi << 4) | lo);
                i = i.checked_add(2)?;
            }
            b => out.push(b),
        }
        i = i.checked_add(1)?;
    }
    String::from_utf8(out).ok()
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn see_other(cookie: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static(PAGE_PATH));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(mut v) = HeaderValue::from_str(cookie) {
        v.set_sensitive(true);
        h.insert(header::SET_COOKIE, v);
    }
    r
}

/// The `Set-Cookie` value that holds `token`.
#[must_use]
pub fn set_cookie(token: &str, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/{secure}",
        cookie_name(tls)
    )
}

/// `POST /ui/login`: a form with the token; verified for the page, then
/// set as the cookie (303 to `/`). A token that does not open the page
/// sets nothing.
pub async fn login(State(s): State<Arc<AppState>>, req: Request) -> Response {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(FORM_TYPE));
    if !form {
        return message_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Not a form",
            "The login takes an application/x-www-form-urlencoded form.",
        );
    }
    let Ok(body) = read_capped(req.into_body(), LOGIN_BODY_MAX).await else {
        return message_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "The login form is over its size limit.",
        );
    };
    let token = zeroize::Zeroizing::new(form_field(&body, "token").unwrap_or_default());
    let token = token.trim();
    if token.is_empty() {
        return refused(&s, AuthError::Missing);
    }
    match authorize_token(&s, token) {
        Ok(_) => see_other(&set_cookie(token, s.tls)),
        Err(e) => refused(&s, e),
    }
}

/// The form content type `POST /ui/login` takes.
pub const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// `POST /ui/logout`: clears the cookie (303 to `/`).
pub async fn logout(State(s): State<Arc<AppState>>) -> Response {
    let secure = if s.tls { "; Secure" } else { "" };
    see_other(&format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}",
        cookie_name(s.tls)
    ))
}

/// The page's routes (mounted by [`crate::stack::app`] behind the limits).
pub fn routes() -> axum::Router<Arc<AppState>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(PAGE_PATH, get(page))
        .route(LOGIN_PATH, post(login))
        .route(LOGOUT_PATH, post(logout))
}

// ------------------------------------------------------------- content --

/// The page's content, each part on its own: a part that cannot be read
/// says so, and the rest still renders.
async fn render(s: &Arc<AppState>) -> String {
    let mut h = Html::start("Tally operator page");
    readiness(s, &mut h).await;
    totals(s, &mut h).await;
    rewarder(s, &mut h).await;
    audit(s, &mut h).await;
    h.raw("<form method=\"post\" action=\"/ui/logout\"><button type=\"submit\">Sign out</button></form>");
    h.finish()
}

async fn readiness(s: &AppState, h: &mut Html) {
    h.raw("<h2>Readiness</h2>");
    let causes = crate::health::causes(s).await;
    if causes.is_empty() {
        h.raw("<p>readiness: <span class=\"ok\">ready</span></p>");
    } else {
        h.raw("<p>readiness: <span class=\"bad\">not ready</span> (")
            .text(&causes.join(", "))
            .raw(")</p>");
    }
}

/// A 256-bit sum: decimal when it fits in 128 bits (always, in practice),
/// else hex.
fn sum_text(sum: tally_ledger::Sum) -> String {
    if sum.hi == 0 {
        sum.lo.to_string()
    } else {
        let mut out = String::from("0x");
        out.push_str(&tally_encoding::hex::encode(&sum.hi.to_be_bytes()));
        tally_encoding::hex::encode_into(&sum.lo.to_be_bytes(), &mut out);
        out
    }
}

fn num_cell(h: &mut Html, text: &str) {
    h.raw("<td class=\"n\">").text(text).raw("</td>");
}

async fn totals(s: &AppState, h: &mut Html) {
    h.raw("<h2>Ledger totals</h2>");
    let totals = match s.backend.totals().await {
        Ok(t) => t,
        Err(_) => {
            h.raw("<p class=\"na\">ledger totals: unavailable (the ledger did not answer)</p>");
            return;
        }
    };
    let balanced = totals.values().all(tally_ledger::Totals::balanced);
    if balanced {
        h.raw(
            "<p>conservation: <span class=\"ok\">OK</span> (debits = credits on every ledger)</p>",
        );
    } else {
        h.raw("<p>conservation: <span class=\"bad\">BROKEN</span> (debits ≠ credits)</p>");
    }
    if totals.is_empty() {
        h.raw("<p class=\"na\">no ledger has an account yet</p>");
        return;
    }
    h.raw("<table><tr><th>ledger</th><th>debits posted</th><th>credits posted</th>")
        .raw("<th>debits pending</th><th>credits pending</th><th>check</th></tr>");
    for (ledger, t) in &totals {
        h.raw("<tr>");
        num_cell(h, &ledger.to_string());
        for sum in [
            t.debits_posted,
            t.credits_posted,
            t.debits_pending,
            t.credits_pending,
        ] {
            num_cell(h, &sum_text(sum));
        }
        if t.balanced() {
            h.raw("<td class=\"ok\">OK</td></tr>");
        } else {
            h.raw("<td class=\"bad\">BROKEN</td></tr>");
        }
    }
    h.raw("</table>");
}

async fn rewarder(s: &Arc<AppState>, h: &mut Html) {
    h.raw("<h2>Rewarder</h2>");
    let summary = match s.rewarder.pg_summary(QUARANTINED_SHOWN_MAX).await {
        Some(from_db) => Ok(Some(from_db)),
        None => {
            let state = Arc::clone(s);
            tokio::task::spawn_blocking(move || state.rewarder.summary(QUARANTINED_SHOWN_MAX)).await
        }
    };
    let summary = match summary {
        Ok(None) => {
            h.raw("<p class=\"na\">rewarder: unavailable (no run store)</p>");
            return;
        }
        Ok(Some(Ok(summary))) => summary,
        Ok(Some(Err(_))) | Err(_) => {
            h.raw("<p class=\"na\">rewarder: unavailable (its store could not be read)</p>");
            return;
        }
    };
    let empty = summary.head_epoch.is_none() && summary.quarantined_runs == 0;
    if !summary.trusted_keys && empty {
        h.raw("<p class=\"na\">rewarder not configured (no REWARD_TRUSTED_KEYS: no policy is accepted)</p>");
        return;
    }
    h.raw("<p>accepted runs: ")
        .text(&summary.accepted_runs.to_string())
        .raw("; quarantined runs: ")
        .text(&summary.quarantined_runs.to_string())
        .raw("</p>");
    if empty {
        h.raw("<p class=\"na\">no epoch has run yet</p>");
        return;
    }
    h.raw("<table><tr><th>epoch</th><th>status</th><th>settlement</th><th>manifest CID</th>")
        .raw("<th>previous manifest CID</th></tr>");
    for epoch in &summary.recent {
        recent_row(h, epoch);
    }
    h.raw("</table>");
    let older: Vec<&str> = summary
        .quarantined_epochs
        .iter()
        .map(String::as_str)
        .filter(|q| !summary.recent.iter().any(|r| r.epoch == *q))
        .collect();
    if !older.is_empty() {
        h.raw("<p>other quarantined runs: ")
            .text(&older.join(", "))
            .raw("</p>");
    }
    h.raw("<p class=\"na\">the most recent epochs (at most 20), newest first, with the settlement the store records (the ledger's own answer: <code>GET /v1/rewarder/epochs/{epoch}/settlement</code>); any epoch: <code>GET /v1/rewarder/epochs/{epoch}</code></p>");
}

/// One recent epoch's row (from the store's summary: no run is read).
fn recent_row(h: &mut Html, e: &crate::rewarder::RecentEpoch) {
    h.raw("<tr><td><code>").text(&e.epoch).raw("</code></td>");
    if e.status == "accepted" {
        h.el("td", "ok", e.status);
        if e.settled {
            h.el("td", "", "settled");
        } else {
            h.el("td", "na", "not settled");
        }
    } else {
        h.el("td", "bad", e.status);
        h.el("td", "na", "never settled");
    }
    h.raw("<td><code>")
        .text(e.manifest_cid.as_deref().unwrap_or("-"))
        .raw("</code></td><td><code>")
        .text(e.previous_cid.as_deref().unwrap_or("-"))
        .raw("</code></td></tr>");
}

async fn audit(s: &AppState, h: &mut Html) {
    h.raw("<h2>Decision log</h2>");
    let Ok(d) = &s.decisions else {
        h.raw(
            "<p class=\"na\">audit checkpoint: unavailable: this process serves no decision log (another checkpoint key in the database)</p>",
        );
        return;
    };
    let Ok(cp) = d.checkpoint().await else {
        h.raw("<p class=\"na\">audit checkpoint: unavailable (the decision log could not sign one)</p>");
        return;
    };
    let v = d.verifier();
    h.raw("<table><tr><th>size</th><th>root</th><th>origin</th><th>signed by</th></tr><tr>");
    num_cell(h, &cp.checkpoint.size().to_string());
    h.raw("<td><code>")
        .text(&tally_encoding::hex::encode(cp.checkpoint.root()))
        .raw("</code></td><td>")
        .text(cp.checkpoint.origin())
        .raw("</td><td>key <code>")
        .text(&v.key().id().to_string())
        .raw("</code> (")
        .text(v.name())
        .raw(")</td></tr></table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_hostile_strings() {
        let hostile = [
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            (
                "\"><img src=x onerror=alert(1)>",
                "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
            ),
            ("' onmouseover='x", "&#39; onmouseover=&#39;x"),
            ("&lt;already&gt;", "&amp;lt;already&amp;gt;"),
            ("</style><style>*{}", "&lt;/style&gt;&lt;style&gt;*{}"),
            ("<!-- -->", "&lt;!-- --&gt;"),
            ("épsilon ∑ 💸", "épsilon ∑ 💸"),
            ("", ""),
        ];
        for (input, want) in hostile {
            let got = escape(input);
            assert_eq!(got, want, "{input}");
            assert!(!got.contains(['<', '>', '"', '\'']), "{got}");
        }
    }

    #[test]
    fn html_escapes_text_and_elements() {
        let mut h = Html::default();
        h.text("<b>").el("td", "ok", "a&b\"");
        assert_eq!(h.0, "&lt;b&gt;<td class=\"ok\">a&amp;b&quot;</td>");
    }

    #[test]
    fn csp_hashes_are_standard_base64_sha256() {
        // `printf abc | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            csp_hash(b"abc"),
            "'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0='"
        );
        assert!(CSP.contains(&csp_hash(STYLE.as_bytes())));
        assert!(CSP.starts_with("default-src 'none'; "));
        assert!(CSP.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn forms_decode_one_field_strictly() {
        assert_eq!(
            form_field(b"token=a%3Db+c", "token").as_deref(),
            Some("a=b c")
        );
        assert_eq!(form_field(b"x=1&token=t", "token").as_deref(), Some("t"));
        assert_eq!(form_field(b"token=", "token").as_deref(), Some(""));
        assert_eq!(form_field(b"x=1", "token"), None);
        assert_eq!(form_field(b"token=a&token=b", "token"), None);
        assert_eq!(form_field(b"token=%zz", "token"), None);
        assert_eq!(form_field(b"token=%4", "token"), None);
        assert_eq!(form_field(b"token=%ff", "token"), None);
        assert_eq!(form_field(b"\xff=1", "token"), None);
    }

    #[test]
    fn cookies_are_found_once_or_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(cookie(&h, COOKIE), Err(AuthError::Missing));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tally-ui=tally1.abc_-=; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Ok("tally1.abc_-="));
        assert_eq!(cookie(&h, COOKIE_TLS), Err(AuthError::Missing));
        h.append(header::COOKIE, HeaderValue::from_static("tally-ui=other"));
        assert_eq!(cookie(&h, COOKIE), Err(AuthError::Malformed));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("tally-ui=\"x\""));
        assert_eq!(cookie(&h, COOKIE), Err(AuthError::Malformed));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        assert_eq!(
            set_cookie("t", false),
            "tally-ui=t; HttpOnly; SameSite=Strict; Path=/"
        );
        assert_eq!(
            set_cookie("t", true),
            "__Host-tally-ui=t; HttpOnly; SameSite=Strict; Path=/; Secure"
        );
    }

    #[test]
    fn sums_print_in_decimal_or_hex() {
        let small = tally_ledger::Sum { hi: 0, lo: 42 };
        assert_eq!(sum_text(small), "42");
        let big = tally_ledger::Sum { hi: 1, lo: 0 };
        assert_eq!(
            sum_text(big),
            "0x0000000000000000000000000000000100000000000000000000000000000000"
        );
    }
}
