//! The handlers: extract, call the ledger, map the result.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::Principal;
use crate::backend::LedgerFail;
use crate::budget::SERVICE_IDS_FROM;
use crate::config::{BATCH_EVENTS_MAX, HISTORY_PAGE_MAX};
use crate::dto::{
    AccountDto, AccountsRequest, BalanceDto, BatchResponse, BudgetResult, CommitRequest,
    ConservationDto, EventResult, HistoryEntry, HistoryPage, HistoryQuery, MintRequest,
    MintResponse, OpenTenantRequest, ReadyDto, ReserveRequest, RevokedResponse, TenantView,
    TopUpRequest, TotalsDto, TransferDto, TransfersRequest,
};
use crate::error::{ApiError, Code, Reason};
use crate::stack::{BodyCap, read_capped};
use crate::tenancy::{self, Owner, Reach};
use tally_token::{Caveat, Label, Method, Methods, PathPrefix, Scope, Scopes};

/// A JSON body, decoded strictly (unknown fields refused, one spelling per
/// document), within the body cap; errors say where, never what.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let cap = req
            .extensions()
            .get::<BodyCap>()
            .map_or(crate::config::REQ_BODY_MAX, |c| c.0);
        let bytes = read_capped(req.into_body(), cap).await?;
        tally_encoding::json::decode(&bytes)
            .map(JsonBody)
            .map_err(|_| ApiError::bad_request("the body is not a valid request document"))
    }
}

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub(crate) fn ledger_error(s: &AppState, e: LedgerFail) -> ApiError {
    match e {
        LedgerFail::Batch(_) => ApiError::bad_request("the batch was refused whole"),
        LedgerFail::Busy => ApiError::new(
            Code::Overloaded,
            "the ledger's queue is full; retry later",
            Reason::Overloaded,
        )
        .retry_after(1),
        LedgerFail::Unavailable => {
            s.metrics.storage_errors.inc();
            ApiError::dependency()
        }
        LedgerFail::Indexing => ApiError::new(
            Code::DependencyUnavailable,
            "the journal's proof index is being built; retry later",
            Reason::Dependency,
        )
        .retry_after(1),
    }
}

/// One result per event, by id, in the order submitted.
fn batch_response<R>(
    ids: Vec<u128>,
    results: Vec<R>,
    name: impl Fn(R) -> &'static str,
) -> BatchResponse {
    BatchResponse {
        results: ids
            .into_iter()
            .zip(results)
            .map(|(id, r)| EventResult {
                id,
                result: name(r),
            })
            .collect(),
    }
}

fn batch_size(n: usize) -> Result<(), ApiError> {
    if n == 0 || n > BATCH_EVENTS_MAX {
        return Err(ApiError::bad_request("a batch holds 1 to 8189 events"));
    }
    Ok(())
}

fn unknown_flag(_: crate::dto::UnknownFlag) -> ApiError {
    ApiError::bad_request("unknown flag name")
}

/// `POST /v1/ledger/accounts`.
#[utoipa::path(post, path = "/v1/ledger/accounts", request_body = AccountsRequest,
    params(("Idempotency-Key" = String, Header, description = "1 to 255 visible characters")),
    responses((status = 200, body = BatchResponse), (status = "4XX", body = crate::dto::ErrorDto)))]
pub async fn create_accounts(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    JsonBody(req): JsonBody<AccountsRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    batch_size(req.accounts.len())?;
    if req.accounts.iter().any(|a| a.id >= SERVICE_IDS_FROM) {
        return Err(service_ids());
    }
    // Every account is the creating token's tenant's.
    let owner = Owner::of(&principal.tenant);
    let events = req
        .accounts
        .iter()
        .map(|a| a.to_event(owner))
        .collect::<Result<Vec<_>, _>>()
        .map_err(unknown_flag)?;
    let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
    let results = s
        .backend
        .create_accounts(events, now_ns())
        .await
        .map_err(|e| ledger_error(&s, e))?;
    Ok(Json(batch_response(ids, results, |r| r.as_str())))
}

/// `POST /v1/ledger/transfers`.
#[utoipa::path(post, path = "/v1/ledger/transfers", request_body = TransfersRequest,
    params(("Idempotency-Key" = String, Header, description = "1 to 255 visible characters")),
    responses((status = 200, body = BatchResponse), (status = "4XX", body = crate::dto::ErrorDto)))]
pub async fn create_transfers(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    JsonBody(req): JsonBody<TransfersRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    batch_size(req.transfers.len())?;
    let service = |t: &crate::dto::NewTransferDto| {
        [t.id, t.debit_account_id, t.credit_account_id, t.pending_id]
            .iter()
            .any(|id| *id >= SERVICE_IDS_FROM)
    };
    if req.transfers.iter().any(service) {
        return Err(service_ids());
    }
    let events = req
        .transfers
        .iter()
        .map(crate::dto::NewTransferDto::to_event)
        .collect::<Result<Vec<_>, _>>()
        .map_err(unknown_flag)?;
    if let Some(max) = principal.max_amount {
        within_max_amount(&events, max)?;
    }
    let foreign = tenancy::first_foreign_debit(&s.backend, Reach::of(&principal), &events)
        .await
        .map_err(|e| ledger_error(&s, e))?;
    if let Some(index) = foreign {
        return Err(ApiError::new(
            Code::Unauthorized,
            "an event debits an account (or posts or voids a pending transfer) that is not the credential's tenant's",
            Reason::Forbidden,
        )
        .at_event(index));
    }
    let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
    let results = s
        .backend
        .create_transfers(events, now_ns())
        .await
        .map_err(|e| ledger_error(&s, e))?;
    Ok(Json(batch_response(ids, results, |r| r.as_str())))
}

/// A token's maximum amount bounds the request's total (checked); a post
/// of "all of the pending amount" (amount 0) moves an amount the request
/// does not state, so a capped token may not send one.
fn within_max_amount(events: &[tally_ledger::NewTransfer], max: u128) -> Result<(), ApiError> {
    let over = || {
        ApiError::new(
            Code::Unauthorized,
            "the credential does not allow this amount",
            Reason::Forbidden,
        )
    };
    let mut total: u128 = 0;
    for e in events {
        let post_all = e.amount == 0
            && e.flags
                .contains(tally_ledger::TransferFlags::POST_PENDING_TRANSFER);
        if post_all {
            return Err(over());
        }
        total = total.checked_add(e.amount).ok_or_else(over)?;
    }
    if total > max {
        return Err(over());
    }
    Ok(())
}

/// Ids with the top bit set are the service's (budgets): the ledger
/// routes neither make nor touch them.
fn service_ids() -> ApiError {
    ApiError::bad_request("ids from 2^127 up are reserved for the service")
}

fn parse_id(text: &str) -> Result<u128, ApiError> {
    if text.is_empty() || text.len() > 39 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request("an id is a decimal integer"));
    }
    text.parse()
        .map_err(|_| ApiError::bad_request("an id is a decimal integer"))
}

/// `GET /v1/ledger/accounts/{id}`.
#[utoipa::path(get, path = "/v1/ledger/accounts/{id}", params(("id" = String, Path)),
    responses((status = 200, body = AccountDto), (status = 404, body = crate::dto::ErrorDto)))]
pub async fn account(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AccountDto>, ApiError> {
    let id = parse_id(&id)?;
    let a = tenancy::account(&s.backend, Reach::of(&principal), id)
        .await
        .map_err(|e| ledger_error(&s, e))?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(AccountDto::from(&a)))
}

/// `GET /v1/ledger/transfers/{id}`.
#[utoipa::path(get, path = "/v1/ledger/transfers/{id}", params(("id" = String, Path)),
    responses((status = 200, body = TransferDto), (status = 404, body = crate::dto::ErrorDto)))]
pub async fn transfer(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<TransferDto>, ApiError> {
    let id = parse_id(&id)?;
    let (t, state) = tenancy::transfer(&s.backend, Reach::of(&principal), id)
        .await
        .map_err(|e| ledger_error(&s, e))?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(TransferDto::new(&t, state)))
}

/// `GET /v1/ledger/accounts/{id}/history?after=&limit=`: oldest first
/// (404 for an account that does not exist or is out of reach).
#[utoipa::path(get, path = "/v1/ledger/accounts/{id}/history",
    params(("id" = String, Path), ("after" = Option<u64>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = HistoryPage), (status = 404, body = crate::dto::ErrorDto)))]
pub async fn history(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let id = parse_id(&id)?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > HISTORY_PAGE_MAX {
        return Err(ApiError::bad_request("limit is 1 to 1000"));
    }
    tenancy::account(&s.backend, Reach::of(&principal), id)
        .await
        .map_err(|e| ledger_error(&s, e))?
        .ok_or_else(ApiError::not_found)?;
    let (transfers, balances) = s
        .backend
        .history(id, q.after, limit)
        .await
        .map_err(|e| ledger_error(&s, e))?;
    let next_after = if transfers.len() == limit {
        transfers.last().map(|t| t.timestamp)
    } else {
        None
    };
    let entries = transfers
        .iter()
        .map(|t| HistoryEntry {
            transfer: TransferDto::new(t, None),
            balance: balances
                .iter()
                .find(|b| b.timestamp == t.timestamp)
                .map(BalanceDto::from),
        })
        .collect();
    Ok(Json(HistoryPage {
        entries,
        next_after,
    }))
}

/// `GET /v1/ledger/conservation`: the double-entry totals of every ledger.
#[utoipa::path(get, path = "/v1/ledger/conservation",
    responses((status = 200, body = ConservationDto)))]
pub async fn conservation(
    State(s): State<Arc<AppState>>,
) -> Result<Json<ConservationDto>, ApiError> {
    let totals = s.backend.totals().await.map_err(|e| ledger_error(&s, e))?;
    let ledgers: Vec<TotalsDto> = totals.iter().map(|(l, t)| TotalsDto::new(*l, t)).collect();
    let balanced = ledgers.iter().all(|l| l.balanced);
    Ok(Json(ConservationDto { ledgers, balanced }))
}

/// `GET /v1/ledger/transfers/{id}/proof`: the inclusion proof of the
/// journal record that created the transfer, under a signed checkpoint
/// (verify it offline with `tally ledger verify-proof`: a tally-audit proof
/// of the journal's line in embedded mode, a `tally-ledger-pg-proof/v1`
/// document on PostgreSQL). Visible to whoever may read the transfer.
#[utoipa::path(get, path = "/v1/ledger/transfers/{id}/proof", params(("id" = String, Path)),
    responses((status = 200, description = "a tally-audit inclusion proof (JSON)"),
        (status = 404, body = crate::dto::ErrorDto)))]
pub async fn proof(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    tenancy::transfer(&s.backend, Reach::of(&principal), id)
        .await
        .map_err(|e| ledger_error(&s, e))?
        .ok_or_else(ApiError::not_found)?;
    let proof = s
        .backend
        .prove(id)
        .await
        .map_err(|e| ledger_error(&s, e))?
        .ok_or_else(ApiError::not_found)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], proof).into_response())
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: ready, or 503 with the causes.
pub async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    let causes = crate::health::causes(&s).await;
    let status = if causes.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = ReadyDto {
        ready: causes.is_empty(),
        causes,
    };
    // Not an error answer: the body is the report, kept as it is.
    let mut r = (status, Json(body)).into_response();
    r.extensions_mut().insert(crate::stack::KeepBody);
    r
}

/// `GET /metrics`: the Prometheus text exposition.
pub async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    crate::health::causes(&s).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

/// `GET /schema/{name}`: the JSON Schema of one DTO (`/schema/TransfersRequest.json`).
pub async fn schema(Path(name): Path<String>) -> Result<Response, ApiError> {
    let name = name.strip_suffix(".json").ok_or_else(ApiError::not_found)?;
    let text = crate::openapi::schema(name).ok_or_else(ApiError::not_found)?;
    Ok(([(header::CONTENT_TYPE, "application/schema+json")], text).into_response())
}

/// `GET /openapi.json`: the OpenAPI 3.1 document, generated from the code.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}

/// The longest token lifetime a mint gives, seconds (90 days).
pub const TOKEN_TTL_MAX_SECS: u64 = 90 * 24 * 60 * 60;
/// The default token lifetime, seconds (30 days).
pub const TOKEN_TTL_DEFAULT_SECS: u64 = 30 * 24 * 60 * 60;

fn mint_caveats(req: &MintRequest, now_s: u64) -> Result<(Vec<Caveat>, u64), ApiError> {
    let bad = ApiError::bad_request;
    let scopes: Vec<Scope> = req
        .scopes
        .iter()
        .map(|n| n.parse::<Scope>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("unknown scope name"))?;
    let scopes = Scopes::new(scopes).ok_or_else(|| bad("at least one scope"))?;
    let only_admin = scopes.iter().all(|s| s == Scope::Admin);
    let mut caveats = Vec::new();
    match &req.tenant {
        Some(t) => caveats.push(Caveat::Tenant(
            Label::new(t).map_err(|_| bad("a tenant is 1 to 128 of [A-Za-z0-9._:@/+-]"))?,
        )),
        None if !only_admin => return Err(bad("a token with a scope below admin names a tenant")),
        None => {}
    }
    caveats.push(Caveat::Scopes(scopes));
    let ttl = req.expires_in_s.unwrap_or(TOKEN_TTL_DEFAULT_SECS);
    if ttl == 0 || ttl > TOKEN_TTL_MAX_SECS {
        return Err(bad("expires_in_s is 1 to 7776000"));
    }
    let expiry = now_s
        .checked_add(ttl)
        .ok_or_else(|| bad("expiry out of range"))?;
    caveats.push(Caveat::Expiry(expiry));
    if let Some(nb) = req.not_before_s {
        caveats.push(Caveat::NotBefore(nb));
    }
    if let Some(methods) = &req.methods {
        let m: Vec<Method> = methods
            .iter()
            .map(|n| n.parse::<Method>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("unknown method name"))?;
        caveats.push(Caveat::Methods(
            Methods::new(m).ok_or_else(|| bad("at least one method"))?,
        ));
    }
    if let Some(prefix) = &req.path_prefix {
        caveats
            .push(Caveat::PathPrefix(PathPrefix::new(prefix).map_err(
                |_| bad("a path prefix is a canonical absolute path"),
            )?));
    }
    if let Some(max) = req.max_amount {
        caveats.push(Caveat::MaxAmount(max));
    }
    Ok((caveats, expiry))
}

/// `POST /v1/tokens` (admin): mint a token. Not kept (a token is its own
/// record; its id is what revocation needs), so no `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/tokens", request_body = MintRequest,
    responses((status = 200, body = MintResponse), (status = "4XX", body = crate::dto::ErrorDto)))]
pub async fn mint_token(
    State(s): State<Arc<AppState>>,
    JsonBody(req): JsonBody<MintRequest>,
) -> Result<Json<MintResponse>, ApiError> {
    let authority = s.tokens.as_ref().ok_or_else(ApiError::not_found)?;
    let (caveats, expiry_s) = mint_caveats(&req, now_ns() / 1_000_000_000)?;
    let token = authority
        .mint(caveats)
        .map_err(|_| ApiError::bad_request("the caveats do not fit in a token"))?;
    Ok(Json(MintResponse {
        token: token.to_text().as_str().to_owned(),
        id: token.id().to_string(),
        epoch: token.epoch(),
        expiry_s,
    }))
}

fn now_ms_i64() -> i64 {
    i64::try_from(now_ns() / 1_000_000).unwrap_or(i64::MAX)
}

/// `POST /v1/tokens/{id}/revoke` (admin): revoke a token (and every token
/// attenuated from it) by its id, for good.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", params(("id" = String, Path)),
    responses((status = 200, body = RevokedResponse)))]
pub async fn revoke_token(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<RevokedResponse>, ApiError> {
    let authority = s.tokens.as_ref().ok_or_else(ApiError::not_found)?;
    let bytes: [u8; 16] = tally_encoding::hex::decode_array(&id, tally_encoding::hex::Case::Lower)
        .map_err(|_| ApiError::bad_request("a token id is 32 lowercase hex digits"))?;
    s.idem
        .revoke_token(bytes, now_ms_i64())
        .await
        .map_err(|_| ApiError::dependency())?;
    authority
        .refresh(&s.idem)
        .await
        .map_err(|_| ApiError::dependency())?;
    Ok(Json(RevokedResponse { revoked: id }))
}

/// `POST /v1/tokens/epochs/{epoch}/revoke` (admin): revoke a root-key
/// epoch: every token minted under it is refused, for good.
#[utoipa::path(post, path = "/v1/tokens/epochs/{epoch}/revoke", params(("epoch" = u32, Path)),
    responses((status = 200, body = RevokedResponse)))]
pub async fn revoke_epoch(
    State(s): State<Arc<AppState>>,
    Path(epoch): Path<String>,
) -> Result<Json<RevokedResponse>, ApiError> {
    let authority = s.tokens.as_ref().ok_or_else(ApiError::not_found)?;
    let epoch: u32 = epoch
        .parse()
        .map_err(|_| ApiError::bad_request("an epoch is a u32"))?;
    s.idem
        .revoke_epoch(epoch, now_ms_i64())
        .await
        .map_err(|_| ApiError::dependency())?;
    authority
        .refresh(&s.idem)
        .await
        .map_err(|_| ApiError::dependency())?;
    Ok(Json(RevokedResponse {
        revoked: format!("epoch:{epoch}"),
    }))
}

fn tenant_of(name: &str) -> Result<crate::auth::Tenant, ApiError> {
    crate::auth::Tenant::new(name)
        .ok_or_else(|| ApiError::bad_request("a tenant is 1 to 128 of [A-Za-z0-9._:@/+-]"))
}

fn budget_answer(o: crate::budget::Outcome) -> Response {
    let status = if o.done {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    let mut r = (status, Json(BudgetResult { result: o.result })).into_response();
    // A refusal is the domain's answer, not an error to render.
    r.extensions_mut().insert(crate::stack::KeepBody);
    r
}

pub(crate) fn within_amount(principal: &Principal, amount: u128) -> Result<(), ApiError> {
    match principal.max_amount {
        Some(max) if amount > max => Err(ApiError::new(
            Code::Unauthorized,
            "the credential does not allow this amount",
            Reason::Forbidden,
        )),
        _ => Ok(()),
    }
}

/// `POST /v1/budget/tenants/{tenant}` (admin): open a tenant (idempotent).
#[utoipa::path(post, path = "/v1/budget/tenants/{tenant}", request_body = OpenTenantRequest,
    params(("tenant" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = BudgetResult), (status = 409, body = BudgetResult)))]
pub async fn open_tenant(
    State(s): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    JsonBody(req): JsonBody<OpenTenantRequest>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&tenant)?;
    let o = crate::budget::open(
        &s.backend,
        t.as_str(),
        req.initial,
        req.funding_id,
        now_ns(),
    )
    .await
    .map_err(|e| ledger_error(&s, e))?;
    Ok(budget_answer(o))
}

/// `POST /v1/budget/tenants/{tenant}/top-up` (admin).
#[utoipa::path(post, path = "/v1/budget/tenants/{tenant}/top-up", request_body = TopUpRequest,
    params(("tenant" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = BudgetResult), (status = 409, body = BudgetResult)))]
pub async fn top_up(
    State(s): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    JsonBody(req): JsonBody<TopUpRequest>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&tenant)?;
    let o = crate::budget::top_up(&s.backend, t.as_str(), req.amount, req.funding_id, now_ns())
        .await
        .map_err(|e| ledger_error(&s, e))?;
    Ok(budget_answer(o))
}

/// `POST /v1/budget/tenants/{tenant}/reservations`: hold an amount.
#[utoipa::path(post, path = "/v1/budget/tenants/{tenant}/reservations", request_body = ReserveRequest,
    params(("tenant" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = BudgetResult), (status = 409, body = BudgetResult)))]
pub async fn reserve(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(tenant): Path<String>,
    JsonBody(req): JsonBody<ReserveRequest>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&tenant)?;
    within_amount(&principal, req.amount)?;
    let o = crate::budget::reserve(
        &s.backend,
        t.as_str(),
        req.id,
        req.amount,
        req.timeout_s,
        now_ns(),
    )
    .await
    .map_err(|e| ledger_error(&s, e))?;
    Ok(budget_answer(o))
}

/// `POST /v1/budget/tenants/{tenant}/reservations/{id}/commit`.
#[utoipa::path(post, path = "/v1/budget/tenants/{tenant}/reservations/{id}/commit", request_body = CommitRequest,
    params(("tenant" = String, Path), ("id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = BudgetResult), (status = 409, body = BudgetResult)))]
pub async fn commit(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((tenant, id)): Path<(String, String)>,
    JsonBody(req): JsonBody<CommitRequest>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&tenant)?;
    let id = parse_id(&id)?;
    within_amount(&principal, req.actual)?;
    let o = crate::budget::commit(&s.backend, t.as_str(), id, req.actual, now_ns())
        .await
        .map_err(|e| ledger_error(&s, e))?;
    Ok(budget_answer(o))
}

/// `POST /v1/budget/tenants/{tenant}/reservations/{id}/release`.
#[utoipa::path(post, path = "/v1/budget/tenants/{tenant}/reservations/{id}/release",
    params(("tenant" = String, Path), ("id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = BudgetResult), (status = 409, body = BudgetResult)))]
pub async fn release(
    State(s): State<Arc<AppState>>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant_of(&tenant)?;
    let id = parse_id(&id)?;
    let o = crate::budget::release(&s.backend, t.as_str(), id, now_ns())
        .await
        .map_err(|e| ledger_error(&s, e))?;
    Ok(budget_answer(o))
}

/// `GET /v1/budget/tenants/{tenant}`: the tenant's budget.
#[utoipa::path(get, path = "/v1/budget/tenants/{tenant}", params(("tenant" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = crate::dto::ErrorDto)))]
pub async fn tenant_view(
    State(s): State<Arc<AppState>>,
    Path(tenant): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let t = tenant_of(&tenant)?;
    let v = crate::budget::view(&s.backend, t.as_str())
        .await
        .map_err(|e| ledger_error(&s, e))?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(TenantView {
        tenant: t.as_str().to_owned(),
        funded: v.funded,
        reserved: v.reserved,
        committed: v.committed,
        remaining: v.remaining,
    }))
}

/// `GET /v1/tokens/self`: what the request's own token allows (any genuine,
/// live, currently valid token; no scope needed).
#[utoipa::path(get, path = "/v1/tokens/self",
    responses((status = 200, body = crate::tokens::Introspection), (status = 401, body = crate::dto::ErrorDto)))]
pub async fn introspect(
    State(s): State<Arc<AppState>>,
    req: Request,
) -> Result<Json<crate::tokens::Introspection>, ApiError> {
    let authority = s.tokens.as_ref().ok_or_else(ApiError::not_found)?;
    let (parts, _) = req.into_parts();
    authority.introspect(&parts).map(Json).map_err(|e| {
        s.metrics.auth_failure("none");
        crate::stack::auth_error(e)
    })
}
