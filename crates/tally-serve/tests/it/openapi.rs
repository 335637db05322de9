//! The OpenAPI document tells the truth about the answers (the regressions
//! schemathesis found, `scripts/schemathesis`): every status an operation
//! answers is documented with its body, and error bodies say
//! `application/json`.

use tally_serve::config::Limits;

use crate::support::{Server, call, get, raw, runtime, send};

/// The documented statuses of `method path` in `doc`.
fn documented(doc: &serde_json::Value, method: &str, path: &str) -> Vec<String> {
    doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not in the document"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn error_answers_are_json_and_their_statuses_are_documented() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let doc = get(s.addr, "/openapi.json", "").await.json();
        let cases = [
            // No credential.
            (
                "get",
                "/v1/ledger/conservation",
                "/v1/ledger/conservation",
                None,
                401,
            ),
            // An id that is not a decimal integer.
            (
                "get",
                "/v1/ledger/transfers/{id}",
                "/v1/ledger/transfers/x1",
                Some(&s.admin),
                400,
            ),
            (
                "get",
                "/v1/ledger/transfers/{id}/proof",
                "/v1/ledger/transfers/x1/proof",
                Some(&s.admin),
                400,
            ),
            (
                "get",
                "/v1/ledger/accounts/{id}/history",
                "/v1/ledger/accounts/1/history?limit=0",
                Some(&s.admin),
                400,
            ),
            // No such record.
            (
                "get",
                "/v1/ledger/accounts/{id}",
                "/v1/ledger/accounts/77",
                Some(&s.admin),
                404,
            ),
            (
                "get",
                "/v1/budget/tenants/{tenant}",
                "/v1/budget/tenants/nobody",
                Some(&s.admin),
                404,
            ),
        ];
        for (method, template, path, token, status) in cases {
            let r = call(
                s.addr,
                &method.to_uppercase(),
                path,
                token.map(String::as_str),
                None,
                b"",
            )
            .await;
            assert_eq!(r.status, status, "{path}");
            assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
            assert!(r.json()["error"]["code"].is_string(), "{path}");
            assert!(
                documented(&doc, method, template).contains(&status.to_string()),
                "{method} {template} answers {status} undocumented"
            );
        }
        // A body that is not JSON (415) and a missing Idempotency-Key (400)
        // on a budget route, whose 200 and 409 are budget results.
        let path = "/v1/budget/tenants/{tenant}/top-up";
        let r = send(
            s.addr,
            &raw(
                "POST",
                "/v1/budget/tenants/t1/top-up",
                &[
                    ("Authorization", &format!("Bearer {}", s.admin)),
                    ("Idempotency-Key", "k1"),
                ],
                b"{}",
            ),
        )
        .await;
        assert_eq!(r.status, 415);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let r = call(
            s.addr,
            "POST",
            "/v1/budget/tenants/t1/top-up",
            Some(&s.admin),
            None,
            b"{}",
        )
        .await;
        assert_eq!(r.status, 400);
        for status in ["400", "415", "409", "422", "413", "429", "503"] {
            assert!(
                documented(&doc, "post", path).contains(&status.to_owned()),
                "{status}"
            );
        }
        s.stop().await;
    });
}

#[test]
fn every_v1_operation_documents_the_stacks_errors_with_their_body() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let doc = get(s.addr, "/openapi.json", "").await.json();
        let error_ref = serde_json::json!({"$ref": "#/components/schemas/ErrorDto"});
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let mut errors: Vec<&str> = tally_serve::openapi::ERRORS.iter().map(|e| e.0).collect();
                if method == "post" {
                    errors.extend(tally_serve::openapi::POST_ERRORS.iter().map(|e| e.0));
                }
                for status in errors {
                    let schema = &op["responses"][status]["content"]["application/json"]["schema"];
                    let any_of = schema["anyOf"].as_array();
                    assert!(
                        *schema == error_ref || any_of.is_some_and(|a| a.contains(&error_ref)),
                        "{method} {path} {status}: {schema}"
                    );
                }
                operations += 1;
            }
        }
        assert!(operations >= 17, "{operations}");
        // A budget route's 409 is its result or an idempotency conflict.
        let conflict = &doc["paths"]["/v1/budget/tenants/{tenant}/reservations"]["post"]["responses"]
            ["409"]["content"]["application/json"]["schema"]["anyOf"];
        assert_eq!(
            conflict,
            &serde_json::json!([{"$ref": "#/components/schemas/BudgetResult"}, error_ref])
        );
        s.stop().await;
    });
}

#[test]
fn a_post_without_a_body_needs_no_content_type() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let auth = format!("Bearer {}", s.admin);
        // A revocation takes no body: Content-Length 0 and no Content-Type.
        let r = send(
            s.addr,
            &raw(
                "POST",
                "/v1/tokens/00000000000000000000000000000001/revoke",
                &[("Authorization", &auth), ("Idempotency-Key", "r1")],
                b"",
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        // A body still has to say application/json.
        let r = send(
            s.addr,
            &raw(
                "POST",
                "/v1/tokens/00000000000000000000000000000002/revoke",
                &[("Authorization", &auth), ("Idempotency-Key", "r2")],
                b"{}",
            ),
        )
        .await;
        assert_eq!(r.status, 415);
        s.stop().await;
    });
}
