//! The dashboard's server side without a browser: the page and assets as
//! public routes with their security and cache headers, the switch that
//! turns them off, prefix mounting, the `/health/grid` endpoint, and
//! event-stream tickets against a real loopback listener.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use healthcore::model::Outcome;
use healthcore_http::server::{ApiConfig, ApiState};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

async fn send(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn get(path: &str) -> Request<Body> {
    Request::builder().uri(path).body(Body::empty()).unwrap()
}

/// The hashed asset link of `ext` in the page.
fn asset_link(page: &str, ext: &str) -> String {
    let end = page
        .find(&format!(".{ext}\""))
        .unwrap_or_else(|| panic!("no .{ext} link in {page}"));
    let start = page[..end].rfind('"').unwrap() + 1;
    page[start..end + ext.len() + 1].to_owned()
}

#[tokio::test]
async fn page_and_assets_are_public_with_strict_headers() {
    let h = harness().await;
    let (s, hd, page) = send(&h.app, get("/")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(hd[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = hd[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for d in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(d), "{d} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(hd[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(hd[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(hd[header::CACHE_CONTROL], "no-cache");
    let etag = hd[header::ETAG].clone();
    assert!(page.contains("<ul id=\"grid\""));
    // the page holds no data
    assert!(!page.contains("healthy\""));

    // revalidation
    let req = Request::builder()
        .uri("/")
        .header(header::IF_NONE_MATCH, etag)
        .body(Body::empty())
        .unwrap();
    let (s, _, body) = send(&h.app, req).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    // hashed assets: public, immutable, right types; relative links
    for (ext, ty) in [
        ("js", "text/javascript; charset=utf-8"),
        ("css", "text/css; charset=utf-8"),
    ] {
        let link = asset_link(&page, ext);
        assert!(link.starts_with("assets/app."), "{link}");
        let (s, hd, body) = send(&h.app, get(&format!("/{link}"))).await;
        assert_eq!(s, StatusCode::OK, "{link}");
        assert_eq!(hd[header::CONTENT_TYPE], ty);
        assert_eq!(
            hd[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(body.len() > 1000);
    }
    let (_, _, js) = send(&h.app, get(&format!("/{}", asset_link(&page, "js")))).await;
    assert!(
        !js.contains("innerHTML"),
        "data must never go through innerHTML"
    );

    // only GET is public; unknown assets are 404, API routes still 401
    let post = Request::builder()
        .method(Method::POST)
        .uri("/")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h.app, post).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&h.app, get("/assets/app.0000000000000000.js")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&h.app, get("/health/grid")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&h.app, get("/no/such/page")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_dashboard_switch_turns_page_and_public_routes_off() {
    let h = harness_with(ApiConfig::default().dashboard(false)).await;
    assert_eq!(send(&h.app, get("/")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&h.app, get("/assets/app.js")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = h.get("/", ADMIN).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_found");
    // /health stays public
    assert_eq!(send(&h.app, get("/health")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_extra_route_at_root_wins_over_the_page() {
    let h = harness().await;
    let extra = axum::Router::new().route("/", axum::routing::get(|| async { "my own page" }));
    let app = healthcore_http::router_with(ApiState::new(h.engine.clone(), auth()), extra);
    let (s, _, body) = send(&app, get("/")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, "my own page");
}

#[tokio::test]
async fn under_a_prefix_the_page_links_relative_to_its_segment() {
    let h = harness().await;
    let app = axum::Router::new().nest("/ops/health", h.app.clone());
    let (s, _, page) = send(&app, get("/ops/health")).await;
    assert_eq!(s, StatusCode::OK);
    let js = asset_link(&page, "js");
    assert!(js.starts_with("health/assets/app."), "{js}");
    // which the browser resolves against /ops/health to /ops/health/assets/…
    let (s, hd, _) = send(&app, get(&format!("/ops/{js}"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        hd[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // and the API answers under the prefix as before
    let req = Request::builder()
        .uri("/ops/health/health/grid")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn grid_is_one_compact_scoped_call() {
    let h = harness().await;
    h.target("a-ok", "acme").await;
    h.target("a-bad", "acme").await;
    h.target("a-new", "acme").await;
    h.target("g-1", "globex").await;
    h.feed("a-ok", Outcome::Pass, 2).await;
    h.feed("a-bad", Outcome::Fail, 3).await;
    h.feed("g-1", Outcome::Fail, 1).await;
    // uptime counts whole milliseconds: let the statuses last a few, or a
    // loaded machine can ask within the millisecond they began (no time
    // counted yet, so no percentage)
    tokio::time::sleep(Duration::from_millis(5)).await;

    let (s, v) = h.get("/health/grid", ADMIN).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["counts"],
        json!({"total": 4, "healthy": 1, "degraded": 1, "down": 1, "unknown": 1})
    );
    assert_eq!(v["uptime_window"], "7d");
    let ids: Vec<&str> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-bad", "g-1", "a-ok", "a-new"], "worst first");
    let bad = &v["targets"][0];
    assert_eq!(bad["status"], "down");
    assert_eq!(bad["label"], "down");
    assert_eq!(bad["tenant"], "acme");
    assert_eq!(bad["latency_ms"], 12.0);
    assert!(bad["last_check_at"].is_string());
    assert_eq!(bad["alerts"], 1);
    assert_eq!(bad["uptime_percent"], 0.0);
    let ok = &v["targets"][2];
    assert_eq!(ok["uptime_percent"], 100.0);
    assert_eq!(ok["alerts"], 0);
    let new = &v["targets"][3];
    assert_eq!(new["status"], "unknown");
    assert!(new["latency_ms"].is_null() && new["uptime_percent"].is_null());

    // a tenant token sees its tenant only
    let (_, v) = h.get("/health/grid", ACME).await;
    assert_eq!(v["counts"]["total"], 3);
    assert!(
        v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["tenant"] == "acme")
    );
    let (_, v) = h.get("/health/grid", GLOBEX).await;
    assert_eq!(v["counts"]["total"], 1);

    // the uptime column can be left out or resized; bad windows name the field
    let (_, v) = h.get("/health/grid?uptime=off", ADMIN).await;
    assert!(v["uptime_window"].is_null());
    assert!(v["targets"][2]["uptime_percent"].is_null());
    let (s, _) = h.get("/health/grid?uptime=24h", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    for bad in ["soon", "5m", "90d"] {
        let (s, v) = h.get(&format!("/health/grid?uptime={bad}"), ADMIN).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(v["error"]["field"], "uptime");
    }
    let (s, v) = h.get("/health/grid?nope=1", ADMIN).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

async fn serve(app: axum::Router) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    addr
}

/// A raw GET; returns the socket and what arrived up to the end of headers.
async fn raw_get(addr: SocketAddr, path: &str, auth: Option<&str>) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Accept: text/event-stream\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before headers");
        buf.extend_from_slice(&chunk[..n]);
    }
    (s, String::from_utf8_lossy(&buf).into_owned())
}

async fn read_until(s: &mut TcpStream, needle: &str, limit: Duration) -> Option<String> {
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut chunk = [0u8; 4096];
    while !buf.contains(needle) {
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    Some(buf)
}

async fn ticket(h: &Harness, token: &str) -> String {
    let (s, v) = h
        .call(Method::POST, "/events/ticket", Some(token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["expires_in"], 60);
    v["ticket"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_tickets_are_single_use_scoped_and_only_for_streams() {
    let h = harness().await;
    h.target("a1", "acme").await;
    h.target("g1", "globex").await;
    let addr = serve(h.app.clone()).await;

    // issuing needs a token
    let (s, _) = h.call(Method::POST, "/events/ticket", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // a tenant's ticket opens the stream with the tenant's scope
    let t = ticket(&h, ACME).await;
    let (mut sse, head) = raw_get(addr, &format!("/events?ticket={t}"), None).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"));
    h.feed("g1", Outcome::Fail, 3).await;
    h.feed("a1", Outcome::Fail, 3).await;
    let got = read_until(&mut sse, "\"target\":\"a1\"", Duration::from_secs(5))
        .await
        .expect("acme's event over the ticketed stream");
    assert!(
        !got.contains("\"g1\""),
        "another tenant's event leaked: {got}"
    );

    // spent: the same ticket is refused, with the usual 401
    let (_, head) = raw_get(addr, &format!("/events?ticket={t}"), None).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    // a ticket is no token anywhere else
    let t = ticket(&h, ADMIN).await;
    let (_, head) = raw_get(addr, &format!("/health/summary?ticket={t}"), None).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    // … and a request with an Authorization header is judged by it alone
    let (_, head) = raw_get(addr, &format!("/events?ticket={t}"), Some("wrong-token")).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    // unknown tickets
    let (_, head) = raw_get(addr, &format!("/events?ticket={}", "ab".repeat(32)), None).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    // the WebSocket takes a ticket too
    let t = ticket(&h, ADMIN).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?ticket={t}"))
        .await
        .expect("websocket with a ticket");
    h.feed("a1", Outcome::Pass, 1).await;
    use futures_util::StreamExt;
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("an event")
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert!(v["event"].as_str().unwrap().starts_with("health:"));
}
