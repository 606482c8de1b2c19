//! Extractors that answer bad input with [`ApiError`]s naming the field:
//! [`JsonBody`] (JSON bodies, 400 for syntax, 422 for a wrong or unknown
//! field, 413 past the body limit, 415 for another content type),
//! [`OptionalJson`] (the same, an empty body meaning the default),
//! [`NoBody`] (routes that take none: empty or `{}` only, under the same
//! limit) and [`Params`] (query strings, 400 naming the parameter).
//!
//! They hold no API rules besides paging bounds ([`page`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use healthcore::model::TargetId;
use healthcore::store::{DEFAULT_PAGE, MAX_PAGE, PageRequest};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body, deserialised with the failing field's path reported.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

/// A JSON body that may be empty (then `T::default()`).
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub T);

/// Query parameters, deserialised with the failing parameter reported.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

/// The body of a route that takes none: read (so the body limit applies,
/// 413 beyond it) and accepted only when empty, `{}` or `null`; anything
/// else is a 400 naming `body` (415 for a non-JSON content type).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBody;

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ok = ct
            .to_str()
            .ok()
            .map(|s| {
                let mime = s
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !ok {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            ));
        }
    }
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large()
        } else {
            ApiError::bad_request("the request body could not be read")
        }
    })
}

/// Deserialises JSON bytes, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        json_error(&path, &inner)
    })?;
    de.end().map_err(|e| json_error(".", &e))?;
    Ok(value)
}

fn json_error(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        ),
        Category::Data => {
            let msg = e.to_string();
            let field = field_of(path, &msg);
            let msg = strip_position(&msg);
            let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", msg);
            if let Some(f) = field {
                err = err.with_field(f);
            }
            err
        }
    }
}

/// The field a serde error blames, as a dotted path: serde_path_to_error's
/// path (which already ends with an unknown field's name), extended with
/// the name of a missing field (serde reports it at its parent, the root
/// being `.`); `None` when nothing narrower than the whole body is to
/// blame.
pub(crate) fn field_of(path: &str, msg: &str) -> Option<String> {
    let root = path.is_empty() || path == ".";
    if let Some(missing) = backquoted_after(msg, "missing field `") {
        return Some(if root {
            missing
        } else {
            format!("{path}.{missing}")
        });
    }
    if !root {
        return Some(path.to_owned());
    }
    backquoted_after(msg, "unknown field `")
}

/// `<prefix>x` … → `x`, the back-quoted name after `prefix` at the start of
/// `msg`.
fn backquoted_after(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?;
    let name = rest.split('`').next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// Drops serde_json's " at line 1 column 9" suffix.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("a JSON body is required"));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(NoBody);
        }
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Null) => Ok(NoBody),
            Ok(serde_json::Value::Object(m)) if m.is_empty() => Ok(NoBody),
            _ => Err(
                ApiError::bad_request("this route takes no body: send none (or {})")
                    .with_field("body"),
            ),
        }
    }
}

/// Deserialises a query string, naming the failing parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let field = field_of(&path, &msg).unwrap_or_else(|| "query".to_owned());
        ApiError::invalid_query(field, msg)
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(Params)
    }
}

/// Checks `limit` (1..=500, default 50) and `offset`.
pub fn page(limit: Option<u32>, offset: Option<u64>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_query(
            "limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(PageRequest::new(limit, offset.unwrap_or(0)))
}

/// Parses a target id from the path (400 naming `id`).
pub fn target_id(raw: &str) -> Result<TargetId, ApiError> {
    TargetId::new(raw).map_err(|e| ApiError::invalid_path("id", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[test]
    fn json_errors_name_fields() {
        let e = parse_json::<Outer>(b"{").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.code(), "invalid_json");
        let e = parse_json::<Outer>(br#"{"name": 3}"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field(), Some("name"));
        let e = parse_json::<Outer>(br#"{"name": "a", "bogus": 1}"#).unwrap_err();
        assert_eq!(e.field(), Some("bogus"));
        let e = parse_json::<Outer>(br#"{"name": "a", "inner": {"n": -1}}"#).unwrap_err();
        assert_eq!(e.field(), Some("inner.n"));
        assert!(!e.message().contains("line"), "{}", e.message());
        let e = parse_json::<Outer>(br#"{"name": "a", "inner": {"m": 1}}"#).unwrap_err();
        assert_eq!(e.field(), Some("inner.m"));
        // a missing field is named, at the root and nested
        let e = parse_json::<Outer>(br#"{}"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field(), Some("name"), "{}", e.message());
        let e = parse_json::<Outer>(br#"{"name": "a", "inner": {}}"#).unwrap_err();
        assert_eq!(e.field(), Some("inner.n"), "{}", e.message());
        let e = parse_json::<Outer>(br#"{"name": "a"} x"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(parse_json::<Outer>(br#"{"name": "a"}"#).is_ok());
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<u32>,
        hours: Option<u32>,
    }

    #[test]
    fn query_errors_name_params() {
        let e = parse_query::<Q>("limit=abc").unwrap_err();
        assert_eq!(e.field(), Some("limit"));
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = parse_query::<Q>("limt=3").unwrap_err();
        assert_eq!(e.field(), Some("limt"));
        let q = parse_query::<Q>("limit=3&hours=2").unwrap();
        assert_eq!((q.limit, q.hours), (Some(3), Some(2)));
        assert!(parse_query::<Q>("").is_ok());
    }

    proptest::proptest! {
        /// Any bytes give a value or a 400/422, never a panic or a 500.
        #[test]
        fn json_parsing_is_total(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            if let Err(e) = parse_json::<Outer>(&bytes) {
                proptest::prop_assert!(e.status() == StatusCode::BAD_REQUEST || e.status() == StatusCode::UNPROCESSABLE_ENTITY);
            }
        }

        /// Any query string gives a value or a 400 naming a parameter.
        #[test]
        fn query_parsing_is_total(q in "[a-z=&%0-9x]{0,40}") {
            if let Err(e) = parse_query::<Q>(&q) {
                proptest::prop_assert_eq!(e.status(), StatusCode::BAD_REQUEST);
                proptest::prop_assert!(e.field().is_some());
            }
        }
    }

    #[test]
    fn paging_bounds() {
        assert_eq!(page(None, None).unwrap().limit, 50);
        assert!(page(Some(0), None).is_err());
        assert!(page(Some(501), None).is_err());
        assert_eq!(page(Some(500), Some(7)).unwrap().offset, 7);
    }
}
