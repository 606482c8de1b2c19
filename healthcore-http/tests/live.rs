//! Against a real listener on 127.0.0.1: SSE delivers a status change
//! within a second (tenant-filtered), the WebSocket streams events, the
//! report endpoint records the client address, and 401s look the same on
//! the wire.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use healthcore::model::Outcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

/// Opens an SSE stream and returns the socket once the headers are read.
async fn open_sse(addr: SocketAddr, token: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
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
    let text = String::from_utf8_lossy(&buf).into_owned();
    (s, text)
}

/// Reads until a line `event: {name}` followed by its data line arrives.
async fn read_event(s: &mut TcpStream, name: &str, limit: Duration) -> Option<String> {
    let mut buf = String::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        if let Some(i) = buf.find(&format!("event: {name}\n")) {
            let rest = &buf[i..];
            if let Some(d) = rest.find("data: ") {
                if let Some(end) = rest[d..].find('\n') {
                    return Some(rest[d + 6..d + end].to_owned());
                }
            }
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        let n = tokio::time::timeout(left, s.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_delivers_a_status_change_within_a_second() {
    let h = harness().await;
    h.target("a1", "acme").await;
    h.target("g1", "globex").await;
    let addr = serve(h.app.clone()).await;
    let (mut acme, head) = open_sse(addr, ACME).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    let (mut globex, _) = open_sse(addr, GLOBEX).await;

    let started = Instant::now();
    h.feed("a1", Outcome::Pass, 1).await;
    let data = read_event(&mut acme, "health:status_changed", Duration::from_secs(1))
        .await
        .expect("no status change within 1 s");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["target"], "a1");
    assert_eq!(v["to"], "healthy");
    // seed 000's payload names ride along
    assert_eq!(v["node_id"], "a1", "{v}");
    assert_eq!(v["old_status"], "unknown", "{v}");
    assert_eq!(v["new_status"], "healthy", "{v}");
    assert!(v.get("health_score").is_some(), "{v}");

    // globex does not see acme's change; its first change is its own
    h.feed("g1", Outcome::Pass, 1).await;
    let data = read_event(&mut globex, "health:status_changed", Duration::from_secs(2))
        .await
        .expect("globex saw nothing");
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["target"], "g1", "tenant filter leaked: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_streams_events() {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let h = harness().await;
    h.target("a1", "acme").await;
    let addr = serve(h.app.clone()).await;

    // without a token the upgrade is refused with the JSON 401
    let req = format!("ws://{addr}/ws").into_client_request().unwrap();
    assert!(tokio_tungstenite::connect_async(req).await.is_err());

    let mut req = format!("ws://{addr}/ws?types=health:status_changed")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {ACME}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    h.feed("a1", Outcome::Fail, 1).await;
    let msg = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .expect("no message")
        .unwrap()
        .unwrap();
    let Message::Text(text) = msg else {
        panic!("not text: {msg:?}")
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["event"], "health:status_changed");
    assert_eq!(v["data"]["target"], "a1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_records_the_client_address_and_401s_match_on_the_wire() {
    let h = harness().await;
    let addr = serve(h.app.clone()).await;
    let raw = |method: &str, path: &str, token: Option<&str>, body: &str| {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    async fn send(addr: SocketAddr, req: String) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }
    let body = r#"{"id":"n1","name":"n1","mac_address":"00:11:22:33:44:55"}"#;
    let res = send(addr, raw("POST", "/targets", Some(ADMIN), body)).await;
    assert!(res.starts_with("HTTP/1.1 201"), "{res}");
    let res = send(
        addr,
        raw(
            "POST",
            "/report",
            Some(ADMIN),
            r#"{"mac_address":"00:11:22:33:44:55","event":"boot_started"}"#,
        ),
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    h.engine.flush().await;
    let (_, v) = h.get("/targets/n1/events", ADMIN).await;
    assert_eq!(v["data"][0]["ip_address"], "127.0.0.1", "{v}");

    let body_of = |r: &str| r.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    let a = send(addr, raw("GET", "/targets", None, "")).await;
    let b = send(addr, raw("GET", "/targets", Some("guess"), "")).await;
    let c = send(addr, raw("DELETE", "/targets/n1", Some("x"), "")).await;
    assert!(a.starts_with("HTTP/1.1 401"));
    assert_eq!(body_of(&a), body_of(&b));
    assert_eq!(body_of(&a), body_of(&c));
    assert!(a.to_lowercase().contains("www-authenticate: bearer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_json() {
    use healthcore_http::server::{ApiConfig, ApiState};
    let h = harness().await;
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let state = ApiState::new(h.engine.clone(), auth())
        .with_config(ApiConfig::default().request_timeout(Duration::from_millis(100)));
    let app = healthcore_http::router_with(state, slow);
    let addr = serve(app).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET /slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 503"), "{out}");
    assert!(out.contains("\"code\":\"unavailable\""), "{out}");
}
