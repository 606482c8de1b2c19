//! Bad input never makes a 5xx: random path parameters, query strings and
//! bodies (JSON of every shape, broken JSON, bytes) against every routed
//! (method, path) of the OpenAPI document, with an admin and a tenant
//! token. Every error answer has the envelope
//! `{"error": {"code", "message", "field"?}}` with a 4xx status.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use healthcore::model::Outcome;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Query keys the API knows, plus a stranger.
const KEYS: &[&str] = &[
    "limit", "offset", "hours", "window", "status", "severity", "node_id", "target", "check",
    "lines", "type", "since", "kind", "from", "to", "bogus",
];

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        Just(json!("5m")),
        Just(json!("a1")),
        Just(json!("2030-01-01T00:00:00Z")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,10}",
                    Just("id".to_owned()),
                    Just("name".to_owned()),
                    Just("tenant".to_owned()),
                    Just("schedule".to_owned()),
                    Just("selector".to_owned()),
                    Just("confirm".to_owned()),
                    Just("interval".to_owned()),
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        value().prop_map(|v| Some(v.to_string())),
        "[ -~]{0,40}".prop_map(Some),
        value().prop_map(|v| {
            let s = v.to_string();
            Some(s[..s.len() / 2].to_owned())
        }),
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a1".to_owned()),
        Just("tcp".to_owned()),
        Just("restart".to_owned()),
        "[a-zA-Z0-9_.:-]{1,20}",
        "%[0-9A-F]{2}[a-z]{0,3}",
        Just("..".to_owned()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            proptest::sample::select(KEYS),
            prop_oneof![
                "[ -~]{0,8}",
                "-?[0-9]{1,12}",
                Just("24h".to_owned()),
                Just("active".to_owned()),
            ],
        ),
        0..3,
    )
    .prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| format!("{k}={}", encode(&v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every (method, path template) the API documents, without the two
/// streaming routes (they never end, by design).
fn routes() -> Vec<(Method, String)> {
    let doc = healthcore_http::server::openapi();
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let item = serde_json::to_value(item).unwrap();
        for m in ["get", "post", "put", "delete"] {
            if item.get(m).is_some() && !(m == "get" && (path == "/events" || path == "/ws")) {
                out.push((m.to_uppercase().parse().unwrap(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn bad_input_is_a_4xx_in_the_envelope_never_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(async {
        let h = harness().await;
        h.target("a1", "acme").await;
        h.feed("a1", Outcome::Fail, 3).await;
        h
    });
    let routes = routes();
    assert!(routes.len() >= ROUTES.len() - 2, "{}", routes.len());
    let n = routes.len();
    // which statuses the walk produced: it must reach the handlers, not
    // only the extractors
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let config = ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        route in 0..n,
        segs in proptest::collection::vec(segment(), 3),
        q in query(),
        b in body(),
        admin in any::<bool>(),
    )| {
        let (method, template) = &routes[route];
        let mut i = 0;
        let path: String = template
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    i += 1;
                    segs[i - 1].clone()
                } else {
                    s.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let uri = if q.is_empty() { path } else { format!("{path}?{q}") };
        let token = if admin { ADMIN } else { ACME };
        let (status, bytes) = rt.block_on(h.raw(method.clone(), &uri, Some(token), b.clone(), None));
        *seen.lock().unwrap().entry(status.as_u16()).or_default() += 1;
        prop_assert!(
            !status.is_server_error(),
            "{method} {uri} body {b:?} → {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        if status.is_client_error() {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let e = &v["error"];
            prop_assert!(
                e["code"].is_string() && e["message"].is_string(),
                "{method} {uri} → {status} without the envelope: {}",
                String::from_utf8_lossy(&bytes)
            );
            prop_assert!(e["field"].is_null() || e["field"].is_string(), "{v}");
            prop_assert!(
                matches!(
                    status,
                    StatusCode::BAD_REQUEST
                        | StatusCode::UNAUTHORIZED
                        | StatusCode::FORBIDDEN
                        | StatusCode::NOT_FOUND
                        | StatusCode::METHOD_NOT_ALLOWED
                        | StatusCode::CONFLICT
                        | StatusCode::PAYLOAD_TOO_LARGE
                        | StatusCode::UNSUPPORTED_MEDIA_TYPE
                        | StatusCode::UNPROCESSABLE_ENTITY
                ),
                "{method} {uri} → unexpected {status}"
            );
        }
    });
    let seen = seen.into_inner().unwrap();
    for code in [200, 400, 404, 422] {
        assert!(seen.contains_key(&code), "no {code} in {seen:?}");
    }
    rt.block_on(h.engine.shutdown());
}

#[tokio::test]
async fn routes_without_a_body_keep_the_limit_and_refuse_content() {
    let h = harness().await; // body limit 16 KiB
    h.target("a1", "acme").await;
    h.feed("a1", Outcome::Fail, 3).await;
    let (_, v) = h.get("/health/alerts?target=a1", ADMIN).await;
    let alert = v["data"][0]["id"].as_str().unwrap().to_owned();
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(64 * 1024));
    let routes = [
        "/targets/a1/heal/reset".to_owned(),
        "/events/ticket".to_owned(),
        "/checklist/db/override".to_owned(),
        format!("/health/alerts/{alert}/resolve"),
    ];
    for p in &routes {
        // past the limit: 413 in the envelope, the handler never runs
        let (s, bytes) = h
            .raw(Method::POST, p, Some(ADMIN), Some(big.clone()), None)
            .await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large", "{p}");
        // content where none is taken: a 400 naming the body
        let (s, v) = h
            .call(Method::POST, p, Some(ADMIN), Some(json!({"force": true})))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{p}: {v}");
        assert_eq!(v["error"]["field"], "body", "{p}");
        let (s, _) = h
            .raw(
                Method::POST,
                p,
                Some(ADMIN),
                Some("reset!".into()),
                Some("text/plain"),
            )
            .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{p}");
    }
    // none, or {}, is fine
    let (s, v) = h
        .call(Method::POST, "/targets/a1/heal/reset", Some(ADMIN), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h.post("/events/ticket", ADMIN, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .post(&format!("/health/alerts/{alert}/resolve"), ADMIN, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // a declared length past the limit is refused on any route, even one
    // whose handler reads no body
    let req = axum::http::Request::builder()
        .method(Method::DELETE)
        .uri("/maintenance/none")
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-length", (2 * 1024 * 1024).to_string())
        .body(axum::body::Body::from(vec![b' '; 2 * 1024 * 1024]))
        .unwrap();
    let res = tower::ServiceExt::oneshot(h.app.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
