# schemathesis (PyPI, pinned; cached virtualenv) against `tally serve`'s
# /openapi.json with its admin token: zero 5xx, every status, content type
# and body as the document says. See scripts/schemathesis.
step "schemathesis" ./scripts/schemathesis
