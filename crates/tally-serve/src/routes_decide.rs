//! The decision and audit handlers ([`crate::decide`] holds the log and the
//! policies): store a policy, decide (with an optional budget hold, all or
//! nothing), read a decision with its proof, and the audit log's
//! checkpoint, inclusion and consistency proofs.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tally_decide::{Digest, Policy};

use crate::AppState;
use crate::auth::{Principal, Scope};
use crate::decide::{Decisions, HOLD_DEFAULT_S, HOLD_MAX_S, PolicyStoreError, fail_error};
use crate::dto::{
    BudgetResult, CheckpointDto, ConsistencyQuery, DecideRequest, DecisionResponse, DecisionView,
    HoldResult, PolicyStored,
};
use crate::error::{ApiError, Code, Reason};
use crate::routes::{JsonBody, ledger_error, now_ns, within_amount};
use crate::stack::{BodyCap, RequestIdentity, read_capped};
use crate::tenancy::Owner;

fn decisions(s: &AppState) -> Result<&Arc<Decisions>, ApiError> {
    s.decisions.as_ref().map_err(|e| *e)
}

/// The longest decimal sequence number: 20 digits (`u64::MAX`).
const SEQ_DIGITS_MAX: usize = 20;

fn parse_seq(text: &str) -> Result<u64, ApiError> {
    let bad = || ApiError::bad_request("a sequence number is a decimal integer below 2^64");
    if text.is_empty() || text.len() > SEQ_DIGITS_MAX || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    Digest::from_hex(text)
        .map_err(|_| ApiError::bad_request("a policy digest is 64 lowercase hex digits"))
}

fn json_text(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// `POST /v1/decide/policies` (admin): store a decision policy (tally-decide's
/// JSON form) under its digest; storing it again answers the same digest.
#[utoipa::path(post, path = "/v1/decide/policies",
    request_body(content = Object, description = "a tally-decide policy document"),
    params(("Idempotency-Key" = String, Header, description = "1 to 255 visible characters")),
    responses((status = 200, body = PolicyStored)))]
pub async fn store_policy(
    State(s): State<Arc<AppState>>,
    req: Request,
) -> Result<Json<PolicyStored>, ApiError> {
    let d = decisions(&s)?;
    let cap = req
        .extensions()
        .get::<BodyCap>()
        .map_or(crate::config::REQ_BODY_MAX, |c| c.0);
    let bytes = read_capped(req.into_body(), cap).await?;
    let policy = Policy::from_json(&bytes)
        .map_err(|_| ApiError::bad_request("the body is not a valid decision policy"))?;
    let (digest, created) = d
        .store_policy(policy, bytes.to_vec())
        .await
        .map_err(|e| match e {
            PolicyStoreError::Full => ApiError::new(
                Code::Conflict,
                "the server stores no more decision policies",
                Reason::Other,
            ),
            PolicyStoreError::Unavailable => {
                s.metrics.storage_errors.inc();
                ApiError::dependency()
            }
        })?;
    Ok(Json(PolicyStored {
        digest: digest.to_string(),
        created,
    }))
}

/// `GET /v1/decide/policies/{digest}` (`decide.run`): a stored policy.
#[utoipa::path(get, path = "/v1/decide/policies/{digest}", params(("digest" = String, Path)),
    responses((status = 200, description = "the tally-decide policy document"),
        (status = 404, body = crate::dto::ErrorDto)))]
pub async fn policy(
    State(s): State<Arc<AppState>>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    let d = decisions(&s)?;
    let digest = parse_digest(&digest)?;
    let policy = d
        .policy(&digest)
        .await
        .map_err(fail_error)?
        .ok_or_else(ApiError::not_found)?;
    let text = serde_json::to_string(policy.spec()).map_err(|_| ApiError::internal())?;
    Ok(json_text(text))
}

/// A refused hold: the budget's result, nothing appended.
fn refused(result: &'static str) -> Response {
    let mut r = (StatusCode::CONFLICT, Json(BudgetResult { result })).into_response();
    // A refusal is the domain's answer, not an error to render.
    r.extensions_mut().insert(crate::stack::KeepBody);
    r
}

/// `POST /v1/decisions` (`decide.run`; a hold needs `budget.reserve` too):
/// decide under a stored policy, optionally hold the chosen candidate's cost on the caller tenant's
/// budget, and append the audited record; all or nothing (a refused hold
/// answers 409 with the budget's result and appends nothing; a failed
/// append releases the hold it made).
#[utoipa::path(post, path = "/v1/decisions", request_body = DecideRequest,
    params(("Idempotency-Key" = String, Header, description = "1 to 255 visible characters")),
    responses((status = 200, body = DecisionResponse),
        (status = 409, body = BudgetResult, description = "the hold was refused (`exceeds_credits`, `debit_account_not_found`: no budget, …); nothing appended")))]
pub async fn decide(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    identity: Option<Extension<RequestIdentity>>,
    JsonBody(req): JsonBody<DecideRequest>,
) -> Result<Response, ApiError> {
    let d = decisions(&s)?;
    let digest = parse_digest(&req.policy)?;
    let policy = d
        .policy(&digest)
        .await
        .map_err(fail_error)?
        .ok_or(ApiError::new(
            Code::NotFound,
            "no stored policy has this digest",
            Reason::Other,
        ))?;
    let (decision, bundle) = policy.decide(&req.request);
    let tenant = principal.tenant.as_str();
    // The hold this request made (released if the append fails).
    let mut made: Option<u128> = None;
    let reservation = match &req.reserve {
        None => None,
        Some(hold) => {
            // Holding budget is `budget.reserve`'s, as on the budget routes.
            if !principal.allows(Scope::BudgetReserve) {
                return Err(ApiError::new(
                    Code::Unauthorized,
                    "the credential does not allow holding budget (budget.reserve)",
                    Reason::Forbidden,
                ));
            }
            let timeout = hold.timeout_s.unwrap_or(HOLD_DEFAULT_S);
            if timeout == 0 || timeout > HOLD_MAX_S {
                return Err(ApiError::bad_request("reserve.timeout_s is 1 to 86400"));
            }
            let amount = u128::from(decision.cost_microunits);
            if decision.selected_id.is_none() || amount == 0 {
                Some(HoldResult {
                    id: hold.id,
                    amount: 0,
                    result: "not_needed",
                })
            } else {
                within_amount(&principal, amount)?;
                let o =
                    crate::budget::reserve(&s.backend, tenant, hold.id, amount, timeout, now_ns())
                        .await
                        .map_err(|e| ledger_error(&s, e))?;
                if !o.done {
                    return Ok(refused(o.result));
                }
                if o.result == "ok" {
                    made = Some(hold.id);
                }
                Some(HoldResult {
                    id: hold.id,
                    amount,
                    result: o.result,
                })
            }
        }
    };
    let owner = Owner::of(&principal.tenant).tag();
    // A retry of a decision appended before (its answer lost) finds it.
    let id = identity.map(|Extension(i)| i.0);
    let seq = match d.append(&policy, &req.request, &decision, owner, id).await {
        Ok((seq, _)) => seq,
        Err(f) => {
            if let Some(id) = made {
                let released = crate::budget::release(&s.backend, tenant, id, now_ns()).await;
                if !matches!(released, Ok(o) if o.done) {
                    // The hold's timeout releases it.
                    tracing::error!(
                        "a decision's hold could not be released after a failed append"
                    );
                }
            }
            s.metrics.storage_errors.inc();
            return Err(fail_error(f));
        }
    };
    Ok(Json(DecisionResponse {
        seq,
        decision,
        bundle,
        reservation,
    })
    .into_response())
}

/// `GET /v1/decisions/{seq}` (`audit.read`, or `decide.run` for the
/// tenant's own): a decision record, replayed against its stored policy,
/// with its inclusion proof under a signed checkpoint.
#[utoipa::path(get, path = "/v1/decisions/{seq}", params(("seq" = String, Path)),
    responses((status = 200, body = DecisionView), (status = 404, body = crate::dto::ErrorDto)))]
pub async fn decision(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(seq): Path<String>,
) -> Result<Json<DecisionView>, ApiError> {
    let d = decisions(&s)?;
    let seq = parse_seq(&seq)?;
    let found = d.decision(seq).await.map_err(fail_error)?;
    // Another tenant's decision answers as a sequence that is not one.
    if !principal.allows(Scope::AuditRead) && found.owner != Owner::of(&principal.tenant).tag() {
        return Err(ApiError::not_found());
    }
    let record = String::from_utf8(found.payload).map_err(|_| ApiError::internal())?;
    Ok(Json(DecisionView {
        seq,
        request: *found.record.request(),
        decision: *found.record.decision(),
        bundle: *found.record.bundle(),
        record,
        proof: found.proof,
    }))
}

/// `GET /v1/audit/checkpoint` (`audit.read`): the decision log's latest
/// signed checkpoint.
#[utoipa::path(get, path = "/v1/audit/checkpoint",
    responses((status = 200, body = CheckpointDto)))]
pub async fn checkpoint(State(s): State<Arc<AppState>>) -> Result<Json<CheckpointDto>, ApiError> {
    let d = decisions(&s)?;
    let cp = d.checkpoint().await.map_err(fail_error)?;
    Ok(Json(CheckpointDto {
        size: cp.checkpoint.size(),
        root: tally_encoding::hex::encode(cp.checkpoint.root()),
        origin: cp.checkpoint.origin().to_owned(),
        note: cp.note,
    }))
}

/// `GET /v1/audit/entries/{seq}` (`audit.read`): record `seq` of the
/// decision log with its inclusion proof (a tally-audit proof file; on
/// PostgreSQL a `tally-serve-decision-pg-proof/v1` document).
#[utoipa::path(get, path = "/v1/audit/entries/{seq}", params(("seq" = String, Path)),
    responses((status = 200, description = "a tally-audit inclusion proof (JSON; on PostgreSQL a tally-serve-decision-pg-proof/v1 document)"),
        (status = 404, body = crate::dto::ErrorDto)))]
pub async fn entry(
    State(s): State<Arc<AppState>>,
    Path(seq): Path<String>,
) -> Result<Response, ApiError> {
    let d = decisions(&s)?;
    let seq = parse_seq(&seq)?;
    let proof = d.prove(seq).await.map_err(fail_error)?;
    Ok(json_text(proof))
}

/// `GET /v1/audit/consistency?old=&new=` (`audit.read`): the consistency
/// proof between the decision log's checkpoints of `old` and `new` records
/// (a tally-audit consistency proof file; on PostgreSQL a
/// `tally-serve-decision-pg-consistency/v1` document).
#[utoipa::path(get, path = "/v1/audit/consistency",
    params(("old" = u64, Query), ("new" = u64, Query)),
    responses((status = 200, description = "a tally-audit consistency proof (JSON; on PostgreSQL a tally-serve-decision-pg-consistency/v1 document)"),
        (status = 404, body = crate::dto::ErrorDto)))]
pub async fn consistency(
    State(s): State<Arc<AppState>>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    let d = decisions(&s)?;
    if q.old == 0 || q.old > q.new {
        return Err(ApiError::bad_request("old is at least 1 and at most new"));
    }
    let proof = d.consistency(q.old, q.new).await.map_err(fail_error)?;
    Ok(json_text(proof))
}
