//! The handlers: extract, call the ledger, map the result.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::backend::LedgerFail;
use crate::config::{BATCH_EVENTS_MAX, HISTORY_PAGE_MAX};
use crate::dto::{
    AccountDto, AccountsRequest, BalanceDto, BatchResponse, ConservationDto, EventResult,
    HistoryEntry, HistoryPage, HistoryQuery, ReadyDto, TotalsDto, TransferDto, TransfersRequest,
};
use crate::error::{ApiError, Code, Reason};
use crate::stack::{BodyCap, read_capped};

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

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn ledger_error(s: &AppState, e: LedgerFail) -> ApiError {
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
    JsonBody(req): JsonBody<AccountsRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    batch_size(req.accounts.len())?;
    let events = req
        .accounts
        .iter()
        .map(crate::dto::NewAccountDto::to_event)
        .collect::<Result<Vec<_>, _>>()
        .map_err(unknown_flag)?;
    let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
    let results = s
        .backend
        .create_accounts(events, now_ns())
        .await
        .map_err(|e| ledger_error(&s, e))?;
    Ok(Json(BatchResponse {
        results: ids
            .into_iter()
            .zip(results)
            .map(|(id, r)| EventResult {
                id,
                result: r.as_str(),
            })
            .collect(),
    }))
}

/// `POST /v1/ledger/transfers`.
#[utoipa::path(post, path = "/v1/ledger/transfers", request_body = TransfersRequest,
    params(("Idempotency-Key" = String, Header, description = "1 to 255 visible characters")),
    responses((status = 200, body = BatchResponse), (status = "4XX", body = crate::dto::ErrorDto)))]
pub async fn create_transfers(
    State(s): State<Arc<AppState>>,
    JsonBody(req): JsonBody<TransfersRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    batch_size(req.transfers.len())?;
    let events = req
        .transfers
        .iter()
        .map(crate::dto::NewTransferDto::to_event)
        .collect::<Result<Vec<_>, _>>()
        .map_err(unknown_flag)?;
    let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
    let results = s
        .backend
        .create_transfers(events, now_ns())
        .await
        .map_err(|e| ledger_error(&s, e))?;
    Ok(Json(BatchResponse {
        results: ids
            .into_iter()
            .zip(results)
            .map(|(id, r)| EventResult {
                id,
                result: r.as_str(),
            })
            .collect(),
    }))
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
    Path(id): Path<String>,
) -> Result<Json<AccountDto>, ApiError> {
    let id = parse_id(&id)?;
    let a = s
        .backend
        .account(id)
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
    Path(id): Path<String>,
) -> Result<Json<TransferDto>, ApiError> {
    let id = parse_id(&id)?;
    let (t, state) = s
        .backend
        .transfer(id)
        .await
        .map_err(|e| ledger_error(&s, e))?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(TransferDto::new(&t, state)))
}

/// `GET /v1/ledger/accounts/{id}/history?after=&limit=`: oldest first.
#[utoipa::path(get, path = "/v1/ledger/accounts/{id}/history",
    params(("id" = String, Path), ("after" = Option<u64>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = HistoryPage)))]
pub async fn history(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let id = parse_id(&id)?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > HISTORY_PAGE_MAX {
        return Err(ApiError::bad_request("limit is 1 to 1000"));
    }
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
/// (embedded mode; verify it with `tally ledger verify-proof`).
#[utoipa::path(get, path = "/v1/ledger/transfers/{id}/proof", params(("id" = String, Path)),
    responses((status = 200, description = "a tally-audit inclusion proof (JSON)")))]
pub async fn proof(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let proof = s
        .backend
        .prove(id)
        .await
        .map_err(|e| ledger_error(&s, e))?
        .ok_or_else(ApiError::not_found)?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        proof.to_json(),
    )
        .into_response())
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

/// `GET /openapi.json`: the OpenAPI 3.1 document, generated from the code.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}
