//! The OpenAPI 3.1 document (utoipa), generated from the handlers' and the
//! DTOs' annotations, with the error answers of the stack ([`ERRORS`])
//! added to every `/v1` operation: the document lists every status the
//! service may answer, with its body (schemathesis checks it,
//! `scripts/schemathesis`).

use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};

#[derive(OpenApi)]
#[openapi(
    info(title = "tally serve", description = "Tally's HTTP service: the ledger behind one stack of limits, capability checks and idempotency."),
    paths(
        crate::routes::create_accounts,
        crate::routes::create_transfers,
        crate::routes::account,
        crate::routes::transfer,
        crate::routes::history,
        crate::routes::conservation,
        crate::routes::proof,
        crate::routes::open_tenant,
        crate::routes::top_up,
        crate::routes::reserve,
        crate::routes::commit,
        crate::routes::release,
        crate::routes::tenant_view,
        crate::routes::mint_token,
        crate::routes::introspect,
        crate::routes::revoke_token,
        crate::routes::revoke_epoch,
        crate::rewarder::post_blob,
        crate::rewarder::get_blob,
        crate::rewarder::seal_keys,
        crate::rewarder::post_policy,
        crate::rewarder::get_policy,
        crate::rewarder::compute_epoch,
        crate::rewarder::get_epoch,
        crate::rewarder::get_payout,
        crate::rewarder::settle,
        crate::rewarder::settlement,
        crate::routes_decide::store_policy,
        crate::routes_decide::policy,
        crate::routes_decide::decide,
        crate::routes_decide::decision,
        crate::routes_decide::checkpoint,
        crate::routes_decide::entry,
        crate::routes_decide::consistency,
    ),
    components(schemas(crate::dto::ErrorDto, crate::dto::ReadyDto)),
    modifiers(&Bearer, &Errors),
    security(("bearer" = []))
)]
struct Doc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The error answers the stack and the handlers may give on any `/v1`
/// operation (status, when), each with an [`crate::dto::ErrorDto`] body.
pub const ERRORS: [(&str, &str); 8] = [
    (
        "400",
        "BAD_REQUEST: a malformed request (path, query, headers, body)",
    ),
    (
        "401",
        "UNAUTHENTICATED: no credential, or one that does not verify",
    ),
    (
        "403",
        "UNAUTHORIZED: the credential does not allow this request",
    ),
    ("404", "NOT_FOUND: no such record"),
    (
        "408",
        "REQUEST_TIMEOUT: the request took longer than the request timeout",
    ),
    ("429", "RATE_LIMITED: a rate limit (see Retry-After)"),
    (
        "500",
        "INTERNAL: unexpected; the correlation id finds it in the logs",
    ),
    (
        "503",
        "OVERLOADED or DEPENDENCY_UNAVAILABLE (see Retry-After)",
    ),
];

/// The error answers a POST may give besides [`ERRORS`].
pub const POST_ERRORS: [(&str, &str); 4] = [
    (
        "409",
        "CONFLICT: the same Idempotency-Key is still in flight",
    ),
    (
        "413",
        "PAYLOAD_TOO_LARGE: the body (on the wire or inflated) is over its cap",
    ),
    (
        "415",
        "UNSUPPORTED_MEDIA_TYPE: a body that is not application/json",
    ),
    (
        "422",
        "IDEMPOTENCY_KEY_REUSED: an Idempotency-Key reused with another request",
    ),
];

struct Errors;

impl utoipa::Modify for Errors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            if !path.starts_with("/v1/") {
                continue;
            }
            if let Some(op) = item.get.as_mut() {
                add_errors(op, &ERRORS);
            }
            if let Some(op) = item.post.as_mut() {
                add_errors(op, &ERRORS);
                add_errors(op, &POST_ERRORS);
            }
        }
    }
}

fn error_schema() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name("ErrorDto"))
}

/// Adds each error answer to `op`: a status it does not document gets an
/// `ErrorDto` body; one it documents with another body (a budget's 409
/// `BudgetResult`) gets "that body or an `ErrorDto`".
fn add_errors(op: &mut Operation, errors: &[(&str, &str)]) {
    for (status, description) in errors {
        match op.responses.responses.get_mut(*status) {
            None => {
                let response = ResponseBuilder::new()
                    .description(*description)
                    .content("application/json", Content::new(Some(error_schema())))
                    .build();
                op.responses
                    .responses
                    .insert((*status).to_owned(), RefOr::T(response));
            }
            Some(RefOr::T(response)) => {
                for content in response.content.values_mut() {
                    let Some(schema) = content.schema.take() else {
                        continue;
                    };
                    let either = AnyOfBuilder::new().item(schema).item(error_schema());
                    content.schema = Some(RefOr::T(Schema::AnyOf(either.build())));
                }
            }
            Some(RefOr::Ref(_)) => {}
        }
    }
}

/// The JSON Schema (2020-12) of DTO `name` (a component of the document),
/// standalone: every component is under `$defs`, references rewritten.
#[must_use]
pub fn schema(name: &str) -> Option<String> {
    static DEFS: std::sync::LazyLock<Option<serde_json::Value>> = std::sync::LazyLock::new(|| {
        let text = document().replace("#/components/schemas/", "#/$defs/");
        let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
        doc.get("components")?.get("schemas").cloned()
    });
    let defs = DEFS.as_ref()?;
    let mut one = defs.get(name)?.clone();
    let object = one.as_object_mut()?;
    object.insert(
        "$schema".to_owned(),
        serde_json::Value::from("https://json-schema.org/draft/2020-12/schema"),
    );
    object.insert("$defs".to_owned(), defs.clone());
    Some(one.to_string())
}

/// The document, as JSON.
#[must_use]
pub fn document() -> String {
    Doc::openapi().to_json().unwrap_or_else(|_| "{}".to_owned())
}
