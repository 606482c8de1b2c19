//! What every operation of the OpenAPI document shares, applied once to
//! the generated document instead of written on each route: the paging
//! bounds of `limit` and `offset`, and the error answers with the
//! `{"error": {"code", "message", "field"}}` envelope
//! ([`ErrorEnvelope`](super::error::ErrorEnvelope)).
//!
//! Owns the document's shape only; the bounds themselves are
//! [`page`](super::extract::page)'s and the statuses the handlers'.

use healthcore::store::{DEFAULT_PAGE, MAX_PAGE};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

/// Completes the generated document: paging bounds on every `limit` and
/// `offset` query parameter, and on every operation the error answers it
/// can give, each with the envelope schema (kept descriptions where the
/// route wrote its own).
pub(crate) fn finish(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("delete", item.delete.as_mut()),
            ("patch", item.patch.as_mut()),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                paging_bounds(op);
                error_answers(path, method, op);
            }
        }
    }
}

fn paging_bounds(op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        if !matches!(p.parameter_in, ParameterIn::Query) {
            continue;
        }
        let Some(RefOr::T(Schema::Object(o))) = p.schema.as_mut() else {
            continue;
        };
        match p.name.as_str() {
            "limit" => {
                o.minimum = Some(1.into());
                o.maximum = Some(MAX_PAGE.into());
                o.default = Some(DEFAULT_PAGE.into());
            }
            "offset" => {
                o.minimum = Some(0.into());
                o.default.get_or_insert(0.into());
            }
            _ => {}
        }
    }
}

/// The error answers of one operation: which statuses it can give.
fn error_answers(path: &str, method: &str, op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_path_params = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let body = op.request_body.is_some();
    let writes = matches!(method, "post" | "put" | "patch" | "delete");
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if has_params || body || writes {
        wanted.push(("400", "Malformed input: a query or path parameter, or a body that is not JSON (`field` names it)"));
    }
    if secured {
        wanted.push((
            "401",
            "Missing, unknown or wrong bearer token (one identical answer)",
        ));
    }
    if has_path_params || path == "/report" {
        wanted.push((
            "404",
            "Not found (another tenant's ids are not found either)",
        ));
    }
    if writes {
        wanted.push(("413", "The body is larger than the limit"));
    }
    if body {
        wanted.push(("415", "The body is not application/json"));
        wanted.push(("422", "A field is invalid (`field` names it)"));
    }
    if secured {
        wanted.push((
            "503",
            "The request timed out or the store is unavailable; retry",
        ));
    }
    for (code, description) in wanted {
        op.responses
            .responses
            .entry(code.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
    // every error answer, declared here or by the route, has the envelope
    for (code, resp) in op.responses.responses.iter_mut() {
        let is_error = code.starts_with('4') || code.starts_with('5');
        if let (true, RefOr::T(r)) = (is_error, resp) {
            r.content
                .entry("application/json".to_owned())
                .or_insert_with(|| {
                    Content::new(Some(RefOr::<Schema>::Ref(Ref::from_schema_name(
                        "ErrorEnvelope",
                    ))))
                });
        }
    }
}
