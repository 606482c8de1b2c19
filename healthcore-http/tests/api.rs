//! The REST API through `oneshot`: the auth walk over the route table, the
//! OpenAPI document, tenant isolation and every area with good and bad
//! input.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use healthcore::model::Outcome;
use serde_json::{Value, json};

fn method(m: &str) -> Method {
    m.parse().unwrap()
}

fn fill(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn auth_walk_every_route_needs_a_token() {
    let h = harness().await;
    let doc = healthcore_http::server::openapi();
    let mut reference: Option<Vec<u8>> = None;
    let mut walked = 0;
    for (path, item) in &doc.paths.paths {
        let item = serde_json::to_value(item).unwrap();
        for m in ["get", "post", "put", "delete", "patch"] {
            if item.get(m).is_none() {
                continue;
            }
            let concrete = fill(path);
            let public = m == "get" && path == "/health";
            for token in [None, Some("wrong-token"), Some("")] {
                let (s, body) = h
                    .raw(
                        method(&m.to_uppercase()),
                        &concrete,
                        token,
                        Some("{}".into()),
                        None,
                    )
                    .await;
                if public {
                    assert_eq!(s, StatusCode::OK, "{m} {path}");
                    continue;
                }
                assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {path} {token:?}");
                match &reference {
                    None => reference = Some(body),
                    Some(r) => assert_eq!(r, &body, "{m} {path}: 401 bodies differ"),
                }
            }
            walked += 1;
        }
    }
    assert!(walked >= ROUTES.len(), "walked {walked}");
    // unknown routes are 401 too (no route discovery without a token)
    let (s, body) = h.raw(Method::GET, "/no/such/route", None, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(Some(body), reference);
    let v: Value = serde_json::from_slice(reference.as_deref().unwrap()).unwrap();
    assert_eq!(v["error"]["code"], "unauthorized");
    // with a token, an unknown route is a JSON 404, a wrong method a JSON 405
    let (s, v) = h.get("/no/such/route", ADMIN).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_found");
    let (s, v) = h.delete("/health/summary", ADMIN).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["error"]["code"], "method_not_allowed");
    // a path that does not decode is a JSON 400, never a 500
    let (s, v) = h.get("/targets/%FF%FE", ADMIN).await;
    assert!(s.is_client_error(), "{s}");
    assert!(v["error"]["code"].is_string(), "{v}");
    // a plain GET to /ws is a JSON 400
    let (s, v) = h.get("/ws", ADMIN).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WebSocket")
    );
}

#[tokio::test]
async fn openapi_lists_every_route_and_validates() {
    let h = harness().await;
    let (s, doc) = h.get("/openapi.json", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (m, p) in ROUTES {
        let op = &paths
            .get(*p)
            .unwrap_or_else(|| panic!("{p} missing from the OpenAPI document"))[m.to_lowercase()];
        assert!(op.is_object(), "{m} {p} missing");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{m} {p}"
        );
        // every path parameter is declared
        for seg in p.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(|c| c == '{' || c == '}');
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|x| x["name"] == name && x["in"] == "path"));
            assert!(declared, "{m} {p}: path parameter {name} undeclared");
        }
        if *p != "/health" {
            assert!(
                op["security"].is_array(),
                "{m} {p} has no security requirement"
            );
        }
    }
    // and nothing undocumented is routed: the document's count matches
    let ops: usize = paths
        .values()
        .map(|i| {
            ["get", "post", "put", "delete", "patch"]
                .iter()
                .filter(|m| i.get(**m).is_some())
                .count()
        })
        .sum();
    assert_eq!(ops, ROUTES.len());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // paging bounds and error answers, on every operation
    let envelope = "#/components/schemas/ErrorEnvelope";
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());
    let mut pagers = 0;
    for (p, item) in paths {
        for (m, op) in item.as_object().unwrap() {
            for param in op["parameters"].as_array().into_iter().flatten() {
                let schema = &param["schema"];
                if param["name"] == "limit" {
                    pagers += 1;
                    assert_eq!(schema["minimum"], 1, "{m} {p}: {schema}");
                    assert_eq!(schema["maximum"], 500, "{m} {p}: {schema}");
                    assert_eq!(schema["default"], 50, "{m} {p}: {schema}");
                }
                if param["name"] == "offset" {
                    assert_eq!(schema["minimum"], 0, "{m} {p}: {schema}");
                }
            }
            let responses = op["responses"].as_object().unwrap();
            let has = |code: &str| {
                responses
                    .get(code)
                    .is_some_and(|r| r["content"]["application/json"]["schema"]["$ref"] == envelope)
            };
            if p != "/health" {
                assert!(has("401"), "{m} {p}: no 401 with the envelope");
            }
            if p.contains('{') {
                assert!(has("404"), "{m} {p}: no 404 with the envelope");
                assert!(has("400"), "{m} {p}: no 400 with the envelope");
            }
            if m == "post" || m == "put" {
                assert!(has("413"), "{m} {p}: no 413");
            }
            if op.get("requestBody").is_some() {
                assert!(has("422"), "{m} {p}: no 422");
            }
            for (code, r) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    assert!(has(code), "{m} {p} {code}: no envelope: {r}");
                }
            }
        }
    }
    assert!(pagers >= 10, "{pagers} operations page");
    // the document round-trips through utoipa's model (it is well-formed)
    let _: utoipa::openapi::OpenApi = serde_json::from_value(doc).unwrap();
}

#[tokio::test]
async fn health_is_public_and_minimal() {
    let h = harness().await;
    let (s, v) = h.call(Method::GET, "/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"status": "ok", "ready": true}));
    // HEAD on the public GET routes is public too (monitors probe with it)
    for p in ["/health", "/"] {
        let (s, body) = h.raw(Method::HEAD, p, None, None, None).await;
        assert_eq!(s, StatusCode::OK, "HEAD {p}");
        assert!(body.is_empty(), "HEAD {p} has no body");
    }
    // and only those
    let (s, _) = h
        .raw(Method::HEAD, "/health/summary", None, None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = h
        .raw(Method::HEAD, "/health/summary", Some(ADMIN), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn targets_crud_with_good_and_bad_input() {
    let h = harness().await;
    let (s, v) = h
        .post(
            "/targets",
            ADMIN,
            json!({"id": "n1", "name": "node 1", "kind": "node", "tenant": "acme",
                   "mac_address": "AA-BB-CC-00-11-22", "labels": {"rack": "r1"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["mac_address"], "aa:bb:cc:00:11:22");
    assert_eq!(v["tenant"], "acme");
    assert_eq!(v["status"], "unknown");
    // duplicate
    let (s, v) = h
        .post("/targets", ADMIN, json!({"id": "n1", "name": "x"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    // bad MAC, unknown field, missing id, wrong types, bad parent
    for (body, field) in [
        (
            json!({"id": "n2", "name": "x", "mac_address": "zz"}),
            "mac_address",
        ),
        (json!({"id": "n2", "name": "x", "colour": "red"}), "colour"),
        (json!({"name": "x"}), "id"),
        (json!({"id": "n2", "name": 5}), "name"),
        (json!({"id": "n2", "name": " "}), "name"),
        (
            json!({"id": "n2", "name": "x", "parents": ["ghost"]}),
            "parents[0]",
        ),
        (json!({"id": "", "name": "x"}), "id"),
    ] {
        let (s, v) = h.post("/targets", ADMIN, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {v}");
        assert_eq!(v["error"]["field"], field, "{body} → {v}");
    }
    // syntax error, wrong content type, empty body
    let (s, b) = h
        .raw(
            Method::POST,
            "/targets",
            Some(ADMIN),
            Some("{\"id\":".into()),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let (s, _) = h
        .raw(
            Method::POST,
            "/targets",
            Some(ADMIN),
            Some("id=n2".into()),
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = h
        .raw(
            Method::POST,
            "/targets",
            Some(ADMIN),
            Some(String::new()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // too large
    let big = json!({"id": "n3", "name": "x".repeat(40_000)}).to_string();
    let (s, b) = h
        .raw(Method::POST, "/targets", Some(ADMIN), Some(big), None)
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["error"]["code"], "payload_too_large");
    // PUT creates and replaces; id must match
    let (s, v) = h
        .put(
            "/targets/n2",
            ADMIN,
            json!({"name": "two", "parents": ["n1"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["parents"], json!(["n1"]));
    let (s, v) = h
        .put("/targets/n2", ADMIN, json!({"id": "n9", "name": "two"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["field"], "id");
    // list with paging
    for i in 0..5 {
        h.post(
            "/targets",
            ADMIN,
            json!({"id": format!("m{i}"), "name": "m"}),
        )
        .await;
    }
    let (s, v) = h.get("/targets?limit=2&offset=1", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 7);
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][0]["id"], "m1", "ordered by id");
    for bad in [
        "limit=0",
        "limit=501",
        "limit=x",
        "offset=-1",
        "bogus=1",
        "status=sick",
    ] {
        let (s, v) = h.get(&format!("/targets?{bad}"), ADMIN).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad} → {v}");
        assert_eq!(v["error"]["code"], "invalid_query");
    }
    let (s, v) = h.get("/targets?kind=node", ADMIN).await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(1)));
    // get, delete
    let (s, v) = h.get("/targets/n1", ADMIN).await;
    assert_eq!((s, v["name"].clone()), (StatusCode::OK, json!("node 1")));
    let (s, _) = h.delete("/targets/m4", ADMIN).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h.delete("/targets/m4", ADMIN).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h.get(&format!("/targets/{}", "x".repeat(200)), ADMIN).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn tenant_tokens_write_only_their_tenant() {
    let h = harness().await;
    let (s, v) = h
        .post("/targets", ACME, json!({"id": "a1", "name": "a"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["tenant"], "acme");
    let (s, v) = h
        .post(
            "/targets",
            ACME,
            json!({"id": "a2", "name": "a", "tenant": "globex"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["field"], "tenant");
    // another tenant's target cannot be overwritten or named as a parent
    let (s, _) = h
        .put("/targets/a1", GLOBEX, json!({"name": "mine now"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .post(
            "/targets",
            GLOBEX,
            json!({"id": "g1", "name": "g", "parents": ["a1"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // lists are scoped
    h.post("/targets", GLOBEX, json!({"id": "g1", "name": "g"}))
        .await;
    let (_, v) = h.get("/targets", ACME).await;
    assert_eq!(v["total"], 1);
    let (_, v) = h.get("/targets", ADMIN).await;
    assert_eq!(v["total"], 2);
    let (_, v) = h.get("/health/summary", GLOBEX).await;
    assert_eq!(v["total_targets"], 1);
    let (_, v) = h.get("/health/overview", ACME).await;
    assert_eq!(v["targets"][0]["target"], "a1");
    // admin-only routes
    for p in ["/metrics", "/checklist"] {
        let (s, v) = h.get(p, ACME).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p} {v}");
    }
    let (s, _) = h.put("/health/alert-channels", ACME, json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn tenant_isolation_across_id_taking_routes() {
    let h = harness().await;
    h.target("a1", "acme").await;
    h.feed("a1", Outcome::Fail, 3).await;
    let (_, alerts) = h.get("/health/alerts?target=a1", ADMIN).await;
    let alert_id = alerts["data"][0]["id"].as_str().unwrap().to_owned();
    h.post(
        "/heal/policies",
        ACME,
        json!({"id": "p-acme", "name": "restart acme"}),
    )
    .await;
    let (s, v) = h
        .post(
            "/maintenance",
            ACME,
            json!({"id": "mw-acme", "name": "patching",
                   "schedule": {"type": "one_off", "start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z"},
                   "selector": {"targets": ["a1"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["selector"]["tenant"], "acme");
    let (s, _) = h
        .put("/targets/a1/slo", ACME, json!({"objective": 0.99}))
        .await;
    assert_eq!(s, StatusCode::OK);

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/targets/a1".into(), None),
        (
            Method::PUT,
            "/targets/a1".into(),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, "/targets/a1".into(), None),
        (Method::GET, "/targets/a1/health".into(), None),
        (Method::GET, "/targets/a1/health/history".into(), None),
        (Method::GET, "/targets/a1/results".into(), None),
        (Method::GET, "/targets/a1/uptime".into(), None),
        (Method::GET, "/targets/a1/checks".into(), None),
        (
            Method::PUT,
            "/targets/a1/checks/tcp".into(),
            Some(json!({})),
        ),
        (Method::DELETE, "/targets/a1/checks/tcp".into(), None),
        (Method::GET, "/targets/a1/events".into(), None),
        (Method::GET, "/targets/a1/heal/history".into(), None),
        (Method::POST, "/targets/a1/heal/reset".into(), None),
        (Method::GET, "/targets/a1/slo".into(), None),
        (
            Method::PUT,
            "/targets/a1/slo".into(),
            Some(json!({"objective": 0.9})),
        ),
        (Method::DELETE, "/targets/a1/slo".into(), None),
        (Method::POST, "/targets/a1/actions/recheck".into(), None),
        (Method::POST, "/targets/a1/actions/diagnose".into(), None),
        (
            Method::POST,
            "/targets/a1/actions/restart".into(),
            Some(json!({"confirm": "a1"})),
        ),
        (Method::GET, "/targets/a1/logs".into(), None),
        (
            Method::PUT,
            "/health/alert-channels/a1".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/health/alerts/{alert_id}/acknowledge"),
            None,
        ),
        (
            Method::POST,
            format!("/health/alerts/{alert_id}/resolve"),
            None,
        ),
        (Method::GET, "/heal/policies/p-acme".into(), None),
        (
            Method::PUT,
            "/heal/policies/p-acme".into(),
            Some(json!({"name": "steal"})),
        ),
        (Method::DELETE, "/heal/policies/p-acme".into(), None),
        (Method::GET, "/maintenance/mw-acme".into(), None),
        (
            Method::PUT,
            "/maintenance/mw-acme".into(),
            Some(json!({"name": "x",
            "schedule": {"type": "one_off", "start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z"},
            "selector": {"targets": ["a1"]}})),
        ),
        (Method::DELETE, "/maintenance/mw-acme".into(), None),
    ];
    for (m, p, body) in &routes {
        let (s, v) = h.call(m.clone(), p, Some(GLOBEX), body.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {p} as globex → {v}");
        assert_eq!(v["error"]["code"], "not_found");
    }
    // POSTing a policy or window with acme's id from globex does not reach it
    let (s, _) = h
        .post(
            "/heal/policies",
            GLOBEX,
            json!({"id": "p-acme", "name": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // globex's lists show none of it
    for p in [
        "/health/alerts",
        "/heal/policies",
        "/maintenance",
        "/activity",
        "/uptime",
        "/targets/stalled",
    ] {
        let (s, v) = h.get(p, GLOBEX).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(v["total"], 0, "{p} leaks: {v}");
    }
    // and the owner still reaches everything but the admin-only quick
    // actions (403 there)
    for (m, p, body) in &routes {
        if *m == Method::DELETE || p.ends_with("/resolve") {
            continue;
        }
        let (s, v) = h.call(m.clone(), p, Some(ACME), body.clone()).await;
        if p.contains("/actions/") || p.ends_with("/logs") {
            assert_eq!(s, StatusCode::FORBIDDEN, "{m} {p} as acme → {v}");
            continue;
        }
        // the recheck above passed and resolved the alert: 409, not 404
        let ok = s.is_success() || (p.ends_with("/acknowledge") && s == StatusCode::CONFLICT);
        assert!(ok, "{m} {p} as acme → {s} {v}");
    }
}

#[tokio::test]
async fn checks_upsert_and_disable() {
    let h = harness().await;
    h.post("/targets", ADMIN, json!({"id": "w1", "name": "web"}))
        .await;
    let (s, v) = h
        .put(
            "/targets/w1/checks/tcp",
            ADMIN,
            json!({"params": {"host": "public.test", "port": 80}, "interval": "30s", "timeout": "5s"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["spec"]["interval"], "30s");
    let (s, v) = h
        .put(
            "/targets/w1/checks/port",
            ADMIN,
            json!({"kind": "tcp", "failure_threshold": 5}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["check"], "port");
    for (body, field) in [
        (json!({"interval": "5s", "timeout": "10s"}), "timeout"),
        (json!({"interval": "soon"}), "interval"),
        (json!({"failure_threshold": 0}), "failure_threshold"),
        (json!({"kind": "nosuch"}), "kind"),
        (json!({"retries": 3}), "retries"),
    ] {
        let (s, v) = h.put("/targets/w1/checks/tcp", ADMIN, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {v}");
        assert_eq!(v["error"]["field"], field, "{body} → {v}");
    }
    let (s, v) = h.get("/targets/w1/checks", ADMIN).await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(2)));
    let (s, v) = h.delete("/targets/w1/checks/port", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["spec"]["enabled"], false);
    assert_eq!(v["disabled"], true, "seed 002's answer: {v}");
    let (s, _) = h.delete("/targets/w1/checks/none", ADMIN).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h.put("/targets/ghost/checks/tcp", ADMIN, json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reports_events_and_stalled() {
    let h = harness().await;
    h.post(
        "/targets",
        ADMIN,
        json!({"id": "node-1", "name": "node-1", "kind": "node", "mac_address": "00:11:22:33:44:55"}),
    )
    .await;
    // event form, MAC in another notation
    let (s, v) = h
        .post(
            "/report",
            ADMIN,
            json!({"mac_address": "00-11-22-33-44-55", "event": "install_started",
                   "hostname": "n1", "event_metadata": {"os": "debian"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["lifecycle_state"], "installing");
    // legacy form
    let (s, v) = h
        .post(
            "/report",
            ADMIN,
            json!({"mac_address": "001122334455", "installation_status": "progress", "installation_progress": 40}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // neither: a heartbeat
    let (s, _) = h
        .post(
            "/report",
            ADMIN,
            json!({"mac_address": "00:11:22:33:44:55"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for (body, status, field) in [
        (
            json!({"mac_address": "nope", "event": "heartbeat"}),
            422,
            Some("mac_address"),
        ),
        (
            json!({"mac_address": "00:11:22:33:44:55", "event": "reboot"}),
            422,
            Some("event"),
        ),
        (
            json!({"mac_address": "00:11:22:33:44:55", "event": "install_progress", "progress": 101}),
            422,
            Some("progress"),
        ),
        (
            json!({"mac_address": "00:11:22:33:44:55", "installation_status": "maybe"}),
            422,
            Some("installation_status"),
        ),
        (
            json!({"mac_address": "00:11:22:33:44:55", "event": "heartbeat", "status": "meh"}),
            422,
            Some("status"),
        ),
        (
            json!({"mac_address": "00:11:22:33:44:55", "status": "weird"}),
            422,
            Some("status"),
        ),
        (
            json!({"mac_address": "00:11:22:33:44:55", "ip_address": "300.1.1.1"}),
            422,
            Some("ip_address"),
        ),
        (
            json!({"mac_address": "00:11:22:33:44:55", "extra": 1}),
            422,
            Some("extra"),
        ),
        (
            json!({"mac_address": "de:ad:be:ef:00:01", "event": "heartbeat"}),
            404,
            None,
        ),
    ] {
        let (s, v) = h.post("/report", ADMIN, body.clone()).await;
        assert_eq!(s.as_u16(), status, "{body} → {v}");
        if let Some(f) = field {
            assert_eq!(v["error"]["field"], f, "{body} → {v}");
        }
    }
    // a tenant token cannot report for another tenant's node
    let (s, _) = h
        .post("/report", ACME, json!({"mac_address": "00:11:22:33:44:55"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // made public (healthd's public_reports), a report needs no token; a
    // tenant token is still held to its tenant
    let public = healthcore_http::router(healthcore_http::ApiState::new(
        h.engine.clone(),
        auth().public(Method::POST, "/report"),
    ));
    let send = |token: Option<&str>| {
        let mut req = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/report")
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(axum::body::Body::from(
                json!({"mac_address": "00:11:22:33:44:55", "event": "heartbeat"}).to_string(),
            ))
            .unwrap();
        tower::ServiceExt::oneshot(public.clone(), req)
    };
    assert_eq!(send(None).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        send(Some(ACME)).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    h.engine.flush().await;
    let (s, v) = h.get("/targets/node-1/events", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    // the event form, the legacy form, two heartbeats (one public)
    assert_eq!(v["total"], 4, "{v}");
    assert_eq!(v["data"][0]["event_type"], "heartbeat");
    let (_, v) = h
        .get("/targets/node-1/events?event_type=install_started", ADMIN)
        .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["data"][0]["metadata"]["hostname"], "n1");
    let (s, _) = h.get("/targets/node-1/events?event_type=nap", ADMIN).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, v) = h
        .get("/targets/node-1/events?limit=1&offset=1", ADMIN)
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (s, v) = h.get("/targets/stalled", ADMIN).await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(0)));
    let (s, v) = h.get("/targets/node-1/health", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["lifecycle"]["state"], "installing");
    assert!(v["score_breakdown"]["staleness"].is_number());
}

#[tokio::test]
async fn alerts_acknowledge_resolve_and_channels() {
    let h = harness().await;
    h.target("a1", "acme").await;
    h.feed("a1", Outcome::Fail, 3).await;
    let (s, v) = h.get("/health/alerts?status=active", ACME).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["total"].as_u64().unwrap() >= 1, "{v}");
    let id = v["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["data"][0]["target_name"], "a1");
    // seed 000's HealthAlertResponse names beside ours
    assert_eq!(v["data"][0]["node_id"], "a1");
    assert_eq!(v["data"][0]["node_name"], "a1");
    assert_eq!(v["data"][0]["alert_type"], v["data"][0]["kind"]);
    let (_, detail) = h.get("/targets/a1/health", ACME).await;
    assert_eq!(detail["active_alerts"][0]["node_id"], "a1", "{detail}");
    assert!(
        detail["active_alerts"][0]["alert_type"].is_string(),
        "{detail}"
    );
    // seed 000's HealthSummaryResponse: total_nodes beside total_targets
    let (_, sum) = h.get("/health/summary", ACME).await;
    assert_eq!(sum["total_nodes"], sum["total_targets"], "{sum}");
    assert_eq!(sum["total_nodes"], 1, "{sum}");
    for f in [
        "by_status",
        "average_score",
        "active_alerts",
        "critical_alerts",
    ] {
        assert!(sum.get(f).is_some(), "{f}: {sum}");
    }
    let (_, v) = h
        .get("/health/alerts?severity=critical&node_id=a1", ADMIN)
        .await;
    assert!(v["total"].as_u64().unwrap() >= 1);
    for bad in ["status=open", "severity=meh", "target="] {
        let (s, _) = h.get(&format!("/health/alerts?{bad}"), ADMIN).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (s, _) = h
        .post("/health/alerts/nope/acknowledge", ADMIN, json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .call(
            Method::POST,
            &format!("/health/alerts/{id}/acknowledge"),
            Some(ACME),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "acknowledged");
    assert_eq!(v["acknowledged_by"], "acme-bot");
    // read-your-writes: every read right after the 200 shows it
    let (_, v) = h.get("/health/alerts?target=a1", ACME).await;
    let listed = v["data"].as_array().unwrap();
    let row = listed.iter().find(|a| a["id"] == id.as_str()).unwrap();
    assert_eq!(row["status"], "acknowledged", "{v}");
    let (_, v) = h.get("/health/alerts?status=active&target=a1", ACME).await;
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != id.as_str()),
        "{v}"
    );
    let (s, v) = h
        .post(
            &format!("/health/alerts/{id}/acknowledge"),
            ACME,
            json!({"by": "alice"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        v["error"]["message"],
        format!("cannot acknowledge alert {id}: it is already acknowledged")
    );
    let (s, _) = h
        .post(
            &format!("/health/alerts/{id}/acknowledge"),
            ACME,
            json!({"who": "alice"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = h
        .call(
            Method::POST,
            &format!("/health/alerts/{id}/resolve"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "resolved");
    let (_, v) = h
        .get("/health/alerts?target=a1&status=resolved", ADMIN)
        .await;
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str()),
        "resolved at once: {v}"
    );
    let (s, v) = h
        .call(
            Method::POST,
            &format!("/health/alerts/{id}/resolve"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["error"]["message"],
        format!("cannot resolve alert {id}: it is already resolved")
    );
    let (s, v) = h
        .call(
            Method::POST,
            &format!("/health/alerts/{id}/acknowledge"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["error"]["message"],
        format!(
            "cannot acknowledge alert {id}: it is resolved; only an active alert can be acknowledged"
        )
    );
    // channels
    let (s, v) = h
        .put(
            "/health/alert-channels",
            ADMIN,
            json!({"escalation_delay": "10m", "channels": ["dashboard", "webhook"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .put(
            "/health/alert-channels/a1",
            ACME,
            json!({"webhook_url": "http://169.254.169.254/latest"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "webhook_url");
    let (s, _) = h
        .put(
            "/health/alert-channels/a1",
            ACME,
            json!({"escalation_delay": "later"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = h
        .put(
            "/health/alert-channels/a1",
            ACME,
            json!({"webhook_url": "https://hooks.example.com/a1", "channels": ["webhook"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = h.get("/health/alert-channels", ACME).await;
    assert_eq!(v["total"], 1, "tenant sees only its target's config: {v}");
    let (_, v) = h.get("/health/alert-channels", ADMIN).await;
    assert_eq!(v["total"], 2);
}

#[tokio::test]
async fn heal_policies_history_and_reset() {
    let h = harness().await;
    h.target("a1", "acme").await;
    let (s, v) = h
        .post(
            "/heal/policies",
            ACME,
            json!({"id": "p1", "name": "restart", "cooldown": "5m", "max_attempts": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["tenant"], "acme");
    for (body, field) in [
        (
            json!({"id": "p2", "name": "x", "cooldown": "never"}),
            "cooldown",
        ),
        (
            json!({"id": "p2", "name": "x", "action": "format_disk!"}),
            "action",
        ),
        (
            json!({"id": "p2", "name": "x", "tenant": "globex"}),
            "tenant",
        ),
        (json!({"id": "p2", "name": "x", "unknown": 1}), "unknown"),
        (json!([1, 2]), "body"),
    ] {
        let (s, v) = h.post("/heal/policies", ACME, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {v}");
        assert_eq!(v["error"]["field"], field, "{body} → {v}");
    }
    let (s, v) = h
        .put("/heal/policies/p1", ACME, json!({"name": "renamed"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "renamed");
    let (s, _) = h
        .put("/heal/policies/p1", ACME, json!({"id": "p9", "name": "x"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, v) = h.get("/heal/policies", ACME).await;
    assert_eq!(v["total"], 1);
    let (s, v) = h.get("/heal/policies/p1", ACME).await;
    // PUT replaced the whole policy: max_attempts is back to its default
    assert_eq!((s, v["max_attempts"].clone()), (StatusCode::OK, json!(3)));
    // failures trigger a heal event
    h.feed("a1", Outcome::Fail, 3).await;
    let (s, v) = h.get("/targets/a1/heal/history", ACME).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["total"].as_u64().unwrap() >= 1, "{v}");
    let (s, _) = h.get("/targets/a1/heal/history?limit=900", ACME).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = h
        .call(Method::POST, "/targets/a1/heal/reset", Some(ACME), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = h.delete("/heal/policies/p1", ACME).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h.delete("/heal/policies/p1", ACME).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn maintenance_windows_crud() {
    let h = harness().await;
    let win = json!({"id": "mw1", "name": "patching",
        "schedule": {"type": "recurring", "days": ["sat"], "start_time": "22:00", "duration": "4h", "timezone": "Europe/Berlin"},
        "selector": {"labels": {"rack": "r1"}}});
    let (s, v) = h.post("/maintenance", ADMIN, win.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = h.get("/maintenance/mw1", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["active"].is_boolean());
    for (body, field) in [
        (
            json!({"id": "mw2", "name": "x", "schedule": {"type": "one_off", "start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, "selector": {"tenant": "acme"}}),
            "end",
        ),
        (
            json!({"id": "mw2", "name": "x", "schedule": {"type": "weekly"}, "selector": {"tenant": "acme"}}),
            "schedule",
        ),
        (
            json!({"id": "mw2", "name": "x", "schedule": {"type": "one_off", "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}, "selector": {}}),
            "selector",
        ),
    ] {
        let (s, v) = h.post("/maintenance", ADMIN, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {v}");
        assert!(
            v["error"]["field"].as_str().unwrap().starts_with(field),
            "{body} → {v}"
        );
    }
    // a tenant window is pinned to the tenant
    let (s, v) = h
        .post(
            "/maintenance",
            ACME,
            json!({"id": "mw3", "name": "x",
                   "schedule": {"type": "one_off", "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"},
                   "selector": {"tenant": "globex"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "selector.tenant");
    let mut w2 = win.clone();
    w2["name"] = json!("renamed");
    let (s, v) = h.put("/maintenance/mw1", ADMIN, w2).await;
    assert_eq!((s, v["name"].clone()), (StatusCode::OK, json!("renamed")));
    let (_, v) = h.get("/maintenance", ADMIN).await;
    assert_eq!(v["total"], 1);
    let (s, _) = h.delete("/maintenance/mw1", ADMIN).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h.get("/maintenance/mw1", ADMIN).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn slo_budget_and_burn_rates() {
    let h = harness().await;
    h.target("a1", "acme").await;
    h.feed("a1", Outcome::Pass, 5).await;
    let (s, _) = h.get("/targets/a1/slo", ACME).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for (body, field) in [
        (json!({"objective": 1.5}), "objective"),
        (json!({"objective": 0.99, "period": "0s"}), "period"),
        (json!({"objective": 0.99, "window": "1d"}), "window"),
    ] {
        let (s, v) = h.put("/targets/a1/slo", ACME, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {v}");
        assert_eq!(v["error"]["field"], field);
    }
    let (s, _) = h
        .put(
            "/targets/a1/slo",
            ACME,
            json!({"objective": 0.999, "period": "30d"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = h.get("/targets/a1/slo", ACME).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["slo"]["objective"], 0.999);
    assert!(v["budget"]["remaining_percent"].is_number(), "{v}");
    assert!(v["burn_rates"].get("1h").is_some());
    let (s, _) = h.delete("/targets/a1/slo", ACME).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h.delete("/targets/a1/slo", ACME).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn quick_actions_logs_and_checklist() {
    let h = harness().await;
    h.target("a1", "acme").await;
    // seed 004: every action is admin-only; a tenant token gets 403 on its
    // own target (404 on another's, see tenant_isolation_across_id_taking_routes)
    for (m, p, body) in [
        (
            Method::POST,
            "/targets/a1/actions/restart",
            Some(json!({"confirm": "a1"})),
        ),
        (Method::POST, "/targets/a1/actions/recheck", None),
        (Method::POST, "/targets/a1/actions/diagnose", None),
        (Method::GET, "/targets/a1/logs", None),
        (Method::GET, "/targets/a1/logs?lines=5", None),
    ] {
        let (s, v) = h.call(m.clone(), p, Some(ACME), body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{m} {p} as a tenant → {v}");
        assert_eq!(v["error"]["code"], "forbidden");
    }
    let (s, v) = h
        .call(
            Method::POST,
            "/targets/a1/actions/restart",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "confirm");
    let (s, v) = h
        .post(
            "/targets/a1/actions/restart",
            ADMIN,
            json!({"confirm": "a1"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .call(
            Method::POST,
            "/targets/a1/actions/recheck",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["checks"][0]["observation"]["outcome"], "pass");
    let (s, _) = h
        .post(
            "/targets/a1/actions/recheck",
            ADMIN,
            json!({"check": "nope"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h
        .call(
            Method::POST,
            "/targets/a1/actions/diagnose",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = h
        .call(
            Method::POST,
            "/targets/a1/actions/reformat",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = h.get("/targets/a1/logs?lines=5", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["lines"].as_array().unwrap().len(), 5);
    // seed 004: the last 100 lines by default; more than the cap is the cap
    let (s, v) = h.get("/targets/a1/logs", ADMIN).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["limit"], 100);
    for many in ["lines=1001", "lines=5000"] {
        let (s, v) = h.get(&format!("/targets/a1/logs?{many}"), ADMIN).await;
        assert_eq!(s, StatusCode::OK, "{many}: {v}");
        assert_eq!(v["limit"], 1000, "{many}");
    }
    for bad in ["lines=0", "lines=many", "lines=-3"] {
        let (s, v) = h.get(&format!("/targets/a1/logs?{bad}"), ADMIN).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(v["error"]["field"], "lines");
    }
    // a passive (heartbeat) check cannot be rechecked: 409, and nothing is fed
    h.post(
        "/targets",
        ADMIN,
        json!({"id": "node-1", "name": "node 1", "mac_address": "00:11:22:33:44:66"}),
    )
    .await;
    let (s, v) = h
        .put("/targets/node-1/checks/heartbeat", ADMIN, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let before = h.engine.target_view(&"node-1".parse().unwrap()).unwrap();
    let (s, v) = h
        .post(
            "/targets/node-1/actions/recheck",
            ADMIN,
            json!({"check": "heartbeat"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "passive_check");
    assert_eq!(v["error"]["field"], "check");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("passive"),
        "{v}"
    );
    let after = h.engine.target_view(&"node-1".parse().unwrap()).unwrap();
    assert_eq!(
        before.checks[0].state.total_checks, after.checks[0].state.total_checks,
        "no observation was fed"
    );
    let (s, v) = h.get("/checklist", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ready"], true);
    let (s, _) = h
        .call(Method::POST, "/checklist/db/override", Some(ADMIN), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // every action is in the activity feed's audit part
    let (s, v) = h.get("/activity?type=audit", ACME).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["total"].as_u64().unwrap() >= 4, "{v}");
    for bad in [
        "type=gossip",
        "since=yesterday",
        "offset=10001",
        "node_id=",
        "target=",
    ] {
        let (s, v) = h.get(&format!("/activity?{bad}"), ACME).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(v["error"]["field"].is_string(), "{bad}: {v}");
    }
    // a deep page is an (empty) page, not a 400
    let (s, v) = h.get("/activity?limit=400&offset=200", ACME).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h.get("/activity?limit=500&offset=5000", ACME).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 0);
    assert_eq!(v["offset"], 5000);
}

#[tokio::test]
async fn views_uptime_results_history_and_metrics() {
    let h = harness().await;
    h.target("a1", "acme").await;
    h.feed("a1", Outcome::Pass, 3).await;
    h.feed("a1", Outcome::Fail, 1).await;
    h.engine.snapshot_now();
    h.engine.flush().await;
    let (s, v) = h.get("/targets/a1/results?hours=1", ACME).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total_checks"], 4);
    assert_eq!(v["healthy_checks"], 3);
    let (s, v) = h.get("/targets/a1/results?check=tcp", ACME).await;
    assert_eq!((s, v["total_checks"].clone()), (StatusCode::OK, json!(4)));
    for bad in ["hours=0", "hours=721", "check="] {
        let (s, _) = h.get(&format!("/targets/a1/results?{bad}"), ACME).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (s, v) = h.get("/targets/a1/health/history?hours=1", ACME).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 1, "{v}");
    for bad in ["hours=0", "hours=169"] {
        let (s, _) = h
            .get(&format!("/targets/a1/health/history?{bad}"), ACME)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    for w in ["24h", "7d", "30d"] {
        let (s, v) = h.get(&format!("/targets/a1/uptime?window={w}"), ACME).await;
        assert_eq!(s, StatusCode::OK, "{w} {v}");
        assert!(v["timeline"].is_array());
        let (s, v) = h.get(&format!("/uptime?window={w}"), ACME).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["total"], 1);
    }
    let (s, _) = h.get("/uptime?window=forever", ACME).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = h
        .raw(Method::GET, "/metrics", Some(ADMIN), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    for name in [
        "healthcore_target_status{",
        "healthcore_check_status{",
        "healthcore_checks_total 4",
        "healthcore_check_failures_total 1",
        "healthcore_check_latency_seconds_bucket{le=\"0.025\"} 4",
        "healthcore_check_latency_seconds_count 4",
        "healthcore_open_alerts{",
        "healthcore_heal_attempts_total",
        "healthcore_engine_lag_max_seconds",
        "healthcore_store_buffer_depth",
        "healthcore_results_dropped_total",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    assert!(text.contains("target=\"a1\""));
}

#[tokio::test]
async fn prefix_mounting_keeps_auth_and_public_list() {
    let h = harness().await;
    let app = axum::Router::new().nest("/api/v1", h.app.clone());
    use tower::ServiceExt;
    let req = |p: &str, t: Option<&str>| {
        let mut r = axum::http::Request::builder().uri(p);
        if let Some(t) = t {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(axum::body::Body::empty()).unwrap()
    };
    let res = app
        .clone()
        .oneshot(req("/api/v1/health", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .clone()
        .oneshot(req("/api/v1/health/summary", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .oneshot(req("/api/v1/health/summary", Some(ADMIN)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn extra_routes_are_merged_behind_auth() {
    use healthcore_http::server::ApiState;
    let h = harness().await;
    let extra = axum::Router::new()
        .route("/", axum::routing::get(|| async { "dashboard" }))
        .route("/private", axum::routing::get(|| async { "secret" }));
    let auth = auth().public(Method::GET, "/");
    let app = healthcore_http::router_with(ApiState::new(h.engine.clone(), auth), extra);
    use tower::ServiceExt;
    let get = |p: &str| {
        axum::http::Request::builder()
            .uri(p)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    assert_eq!(
        app.clone().oneshot(get("/")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        app.oneshot(get("/private")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn checklist_override_gates_readiness() {
    use healthcore::engine::{ChecklistItem, Engine};
    use healthcore::memory::InMemoryStore;
    use healthcore::model::CheckSpec;
    use healthcore::testkit::fakes::ScriptedChecker;
    use healthcore_http::server::ApiState;
    use std::sync::Arc;
    use tower::ServiceExt;

    let checker = ScriptedChecker::new("tcp");
    checker.outcomes("db", [Outcome::Fail]);
    let engine = Engine::builder(Arc::new(InMemoryStore::new()))
        .checker(checker)
        .without_scheduler()
        .checklist(vec![ChecklistItem {
            name: "db".into(),
            check: CheckSpec::new("tcp").with_params(json!({"script": "db"})),
            required: true,
        }])
        .build()
        .unwrap();
    engine.run_checklist().await;
    let app = healthcore_http::router(ApiState::new(engine.clone(), auth()));
    let call = |m: Method, p: &str, t: Option<&str>| {
        let mut r = axum::http::Request::builder().method(m).uri(p);
        if let Some(t) = t {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        let app = app.clone();
        let req = r.body(axum::body::Body::empty()).unwrap();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let s = res.status();
            let b = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (s, serde_json::from_slice::<Value>(&b).unwrap())
        }
    };
    let (_, v) = call(Method::GET, "/health", None).await;
    assert_eq!(v["ready"], false);
    let (s, v) = call(Method::GET, "/checklist", Some(ADMIN)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"][0]["status"], "failed");
    let (s, _) = call(Method::POST, "/checklist/db/override", Some(ACME)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(Method::POST, "/checklist/db/override", Some(ADMIN)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ready"], true);
    assert_eq!(v["item"]["overridden_by"], "root");
    let (s, _) = call(Method::POST, "/checklist/db/override", Some(ADMIN)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, v) = call(Method::GET, "/health", None).await;
    assert_eq!(v["ready"], true);
}

#[tokio::test]
async fn every_list_endpoint_pages_with_limit_offset_and_total() {
    let h = harness().await;
    h.target("a1", "acme").await;
    h.target("a2", "acme").await;
    let (s, _) = h
        .put("/targets/a1/checks/port", ADMIN, json!({"kind": "tcp"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    for id in ["p1", "p2"] {
        let (s, v) = h
            .post("/heal/policies", ACME, json!({"id": id, "name": id}))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for id in ["mw1", "mw2"] {
        let (s, v) = h
            .post(
                "/maintenance",
                ADMIN,
                json!({"id": id, "name": id,
                    "schedule": {"type": "one_off", "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"},
                    "selector": {"tenant": "acme"}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    for t in ["a1", "a2"] {
        let (s, _) = h
            .put(
                &format!("/health/alert-channels/{t}"),
                ACME,
                json!({"escalation_delay": "1m"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    h.feed("a1", Outcome::Fail, 3).await;
    h.feed("a2", Outcome::Fail, 3).await;
    h.engine.snapshot_now();
    h.engine.snapshot_now();
    h.engine.flush().await;
    // (path, how many items exist at least)
    let lists = [
        ("/targets", 2),
        ("/targets/stalled", 0),
        ("/targets/a1/checks", 2),
        ("/targets/a1/events", 0),
        ("/targets/a1/health/history", 1),
        ("/targets/a1/heal/history", 0),
        ("/health/alerts", 2),
        ("/health/alert-channels", 2),
        ("/heal/policies", 2),
        ("/maintenance", 2),
        ("/uptime", 2),
        ("/activity", 2),
    ];
    for (path, at_least) in lists {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (s, v) = h.get(path, ACME).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        assert_eq!(v["limit"], 50, "{path} default limit: {v}");
        assert_eq!(v["offset"], 0, "{path}: {v}");
        let total = v["total"].as_u64().unwrap_or_else(|| panic!("{path}: {v}"));
        assert!(total >= at_least, "{path}: {v}");
        let (s, v) = h.get(&format!("{path}{sep}limit=1"), ACME).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(
            v["total"].as_u64(),
            Some(total),
            "{path}: total is not the page size"
        );
        assert_eq!(
            v["data"].as_array().unwrap().len() as u64,
            total.min(1),
            "{path}"
        );
        if total >= 2 {
            let (_, first) = h.get(&format!("{path}{sep}limit=1&offset=0"), ACME).await;
            let (_, second) = h.get(&format!("{path}{sep}limit=1&offset=1"), ACME).await;
            assert_eq!(second["offset"], 1);
            assert_ne!(first["data"][0], second["data"][0], "{path}: offset moves");
        }
        // past the end is an empty page (the merged activity feed reads
        // offsets up to 10000)
        let far = if path == "/activity" {
            "limit=500&offset=10000"
        } else {
            "limit=500&offset=100000"
        };
        let (_, v) = h.get(&format!("{path}{sep}{far}"), ACME).await;
        assert_eq!(v["data"].as_array().map(Vec::len), Some(0), "{path}: {v}");
        for bad in ["limit=0", "limit=501", "limit=x", "offset=-1"] {
            let (s, v) = h.get(&format!("{path}{sep}{bad}"), ACME).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{path}?{bad}: {v}");
            assert!(v["error"]["field"].is_string(), "{path}?{bad}: {v}");
        }
    }
}

#[tokio::test]
async fn activity_feed_speaks_seed_000() {
    let h = harness().await;
    h.target("a1", "acme").await;
    h.target("a2", "acme").await;
    h.feed("a1", Outcome::Fail, 3).await;
    h.feed("a2", Outcome::Pass, 1).await;
    h.post(
        "/targets",
        ADMIN,
        json!({"id": "n1", "name": "n1", "tenant": "acme", "mac_address": "00:11:22:33:44:77"}),
    )
    .await;
    let (s, v) = h
        .post(
            "/report",
            ADMIN,
            json!({"mac_address": "00:11:22:33:44:77", "event": "boot_started"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    h.engine.flush().await;
    // seed 000's type names, and this API's first names, filter alike
    for (seed, legacy) in [
        ("health_alert", "alert"),
        ("node_event", "lifecycle"),
        ("heal_event", "heal"),
    ] {
        let (s, a) = h.get(&format!("/activity?type={seed}"), ACME).await;
        assert_eq!(s, StatusCode::OK, "{seed}: {a}");
        let (_, b) = h.get(&format!("/activity?type={legacy}"), ACME).await;
        assert_eq!(a["total"], b["total"], "{seed} = {legacy}");
        for item in a["data"].as_array().unwrap() {
            assert_eq!(item["activity_type"], seed, "{item}");
            assert_eq!(item["type"], legacy, "{item}");
        }
    }
    let (_, v) = h.get("/activity?type=health_alert", ACME).await;
    assert!(v["total"].as_u64().unwrap() >= 1, "{v}");
    let item = &v["data"][0];
    assert_eq!(item["node_id"], "a1");
    assert_eq!(item["triggered_by"], "health_monitor");
    assert!(item["details"]["severity"].is_string(), "{item}");
    assert_eq!(item["data"]["target"], "a1", "the alert itself: {item}");
    let (_, v) = h.get("/activity?type=node_event", ACME).await;
    assert_eq!(v["data"][0]["category"], "boot_started", "{v}");
    // status changes (status windows) are state_change items
    let (_, v) = h.get("/activity?type=state_change", ACME).await;
    assert!(v["total"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["activity_type"] == "state_change")
    );
    // node_id and target filter to one target
    for q in ["node_id=a1", "target=a1"] {
        let (s, v) = h.get(&format!("/activity?{q}"), ACME).await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        assert!(v["total"].as_u64().unwrap() >= 2, "{q}: {v}");
        for item in v["data"].as_array().unwrap() {
            assert_eq!(item["node_id"], "a1", "{q}: {item}");
        }
    }
    let (_, all) = h.get("/activity", ACME).await;
    let (_, one) = h.get("/activity?node_id=a1", ACME).await;
    assert!(
        all["total"].as_u64() > one["total"].as_u64(),
        "{all} vs {one}"
    );
    // another tenant's target: an empty feed, as an unknown one's
    let (s, v) = h.get("/activity?node_id=a1", GLOBEX).await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(0)));
    // deep pages: every item is reachable past the old 500-item window
    let (_, v) = h.get("/activity?limit=1&offset=2", ACME).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
}

#[tokio::test]
async fn missing_fields_are_named_and_ids_are_generated() {
    let h = harness().await;
    h.target("a1", "acme").await;
    for (m, p, body, field) in [
        (Method::POST, "/targets", json!({"id": "t2"}), "name"),
        (Method::PUT, "/targets/t2", json!({}), "name"),
        (
            Method::POST,
            "/report",
            json!({"event": "heartbeat"}),
            "mac_address",
        ),
        (Method::POST, "/heal/policies", json!({}), "name"),
        (Method::PUT, "/heal/policies/p1", json!({}), "name"),
        (
            Method::POST,
            "/maintenance",
            json!({"name": "w"}),
            "schedule",
        ),
        (Method::PUT, "/targets/a1/slo", json!({}), "objective"),
        (
            Method::POST,
            "/maintenance",
            json!({"name": "w", "schedule": {"type": "one_off", "start": "2030-01-01T00:00:00Z"}}),
            "schedule.end",
        ),
    ] {
        let (s, v) = h.call(m.clone(), p, Some(ADMIN), Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{m} {p} {body} → {v}");
        assert_eq!(v["error"]["field"], field, "{m} {p} {body} → {v}");
    }
    // seed 002 creates a policy without an id: one is generated and returned
    let (s, v) = h
        .post("/heal/policies", ACME, json!({"name": "restart acme"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("policy-") && id.len() == "policy-".len() + 16,
        "{id}"
    );
    let (s, v) = h.get(&format!("/heal/policies/{id}"), ACME).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "restart acme");
    let (_, again) = h
        .post("/heal/policies", ACME, json!({"name": "restart acme"}))
        .await;
    assert_ne!(again["id"], id.as_str(), "a new id each time");
    let (s, v) = h
        .post(
            "/maintenance",
            ACME,
            json!({"name": "patching",
                   "schedule": {"type": "one_off", "start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z"},
                   "selector": {"targets": ["a1"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let wid = v["id"].as_str().unwrap().to_owned();
    assert!(wid.starts_with("maintenance-"), "{wid}");
    let (s, _) = h.get(&format!("/maintenance/{wid}"), ACME).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn result_counts_cover_the_window_past_the_listed_results() {
    let h = harness().await;
    // past the listed 100, the counts still cover every result, filtered or not
    h.target("a2", "acme").await;
    h.feed("a2", Outcome::Fail, 4).await;
    h.feed("a2", Outcome::Pass, 320).await;
    for q in ["hours=1", "hours=1&check=tcp"] {
        let (s, v) = h.get(&format!("/targets/a2/results?{q}"), ACME).await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        assert_eq!(v["total_checks"], 324, "{q}");
        assert_eq!(v["healthy_checks"], 320, "{q}");
        assert_eq!(v["results_limit"], 100, "{q}");
        assert_eq!(v["results"].as_array().unwrap().len(), 100, "{q}");
        assert_eq!(v["counts_complete"], true, "{q}");
    }
}
