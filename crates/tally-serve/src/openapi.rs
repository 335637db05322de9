//! The OpenAPI 3.1 document (utoipa), generated from the handlers' and the
//! DTOs' annotations.

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

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
    ),
    components(schemas(crate::dto::ErrorDto, crate::dto::ReadyDto)),
    modifiers(&Bearer),
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
