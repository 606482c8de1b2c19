//! The client side against real listeners: the SSRF table, the `http`
//! probe's outcomes, TLS certificate expiry, and webhook deliveries checked
//! by an independent Standard Webhooks verifier written from the spec.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use healthcore::alert::{Alert, AlertKey, AlertKind, NotificationKind, Severity};
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Outcome, TargetId, TenantId};
use healthcore::notify::{Audience, Notification, Notifier, NotifyError, Routing};
use healthcore_http::client::{
    EgressPolicy, HttpProbe, SlackNotifier, StaticResolver, WebhookNotifier, WebhookSecret,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;

async fn serve_on(ip: &str, app: Router) -> SocketAddr {
    let l = TcpListener::bind((ip, 0)).await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    a
}

/// A server on 127.0.0.1 that must never be reached; counts hits.
async fn secret_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().fallback(move || {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            "secret"
        }
    });
    (serve_on("127.0.0.1", app).await, hits)
}

/// The allowed test service on 127.0.0.2.
async fn service(secret: SocketAddr) -> SocketAddr {
    let loopback = format!("http://127.0.0.1:{}/secret", secret.port());
    let app = Router::new()
        .route("/ok", axum::routing::any(|| async { "all ok" }))
        .route(
            "/json",
            get(|| async { axum::Json(json!({"status": "up", "n": 3})) }),
        )
        .route(
            "/500",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/redirect-loopback",
            get(move || {
                let l = loopback.clone();
                async move { (StatusCode::FOUND, [("location", l)], "") }
            }),
        )
        .route(
            "/redirect-ok",
            get(|| async { (StatusCode::FOUND, [("location", "/ok")], "") }),
        )
        .route(
            "/redirect-loop",
            get(|| async { (StatusCode::FOUND, [("location", "/redirect-loop")], "") }),
        )
        .route(
            "/big",
            get(|| async { format!("{}needle", "x".repeat(2 << 20)) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow ok"
            }),
        );
    serve_on("127.0.0.2", app).await
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn resolver() -> Arc<StaticResolver> {
    Arc::new(
        StaticResolver::new()
            .with("svc.test", &[ip("127.0.0.2")])
            .with("internal.test", &[ip("10.0.0.1")])
            .with("loop.test", &[ip("127.0.0.1")])
            .with("mixed.test", &[ip("127.0.0.2"), ip("127.0.0.1")])
            .with("meta.test", &[ip("169.254.169.254")])
            .with("mapped.test", &[ip("::ffff:127.0.0.1")]),
    )
}

fn policy() -> EgressPolicy {
    EgressPolicy::probes().allow_cidr("127.0.0.2/32").unwrap()
}

fn probe() -> HttpProbe {
    HttpProbe::with_resolver(policy(), resolver(), &[]).unwrap()
}

fn spec(params: Value) -> CheckSpec {
    CheckSpec::new("http")
        .with_params(params)
        .every(Duration::from_secs(30), Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_table_is_blocked() {
    let (secret, hits) = secret_server().await;
    let svc = service(secret).await;
    let sp = secret.port();
    let p = probe();
    let table = [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        format!("http://[::ffff:127.0.0.1]:{sp}/secret"),
        format!("http://[::ffff:7f00:1]:{sp}/secret"),
        format!("http://[64:ff9b::7f00:1]:{sp}/secret"),
        format!("http://2130706433:{sp}/secret"),
        format!("http://0177.0.0.1:{sp}/secret"),
        format!("http://0x7f.0.0.1:{sp}/secret"),
        format!("http://127.1:{sp}/secret"),
        format!("http://localhost.:{sp}/secret"),
        format!("http://localhost:{sp}/secret"),
        format!("http://svc.test:{}/redirect-loopback", svc.port()),
        "file:///etc/passwd".to_owned(),
        format!("http://internal.test:{sp}/secret"),
        format!("http://loop.test:{sp}/secret"),
        format!("http://mixed.test:{sp}/secret"),
        format!("http://mapped.test:{sp}/secret"),
        "http://meta.test/latest/meta-data/".to_owned(),
    ];
    for url in &table {
        let obs = p.check(&spec(json!({"url": url}))).await;
        assert_eq!(obs.outcome, Outcome::Unknown, "{url}: {obs:?}");
        assert!(
            obs.message.as_deref().unwrap_or("").contains("egress")
                || obs.message.as_deref().unwrap_or("").contains("not allowed"),
            "{url}: {obs:?}"
        );
        // and registration refuses the literal forms up front
        if !url.contains(".test") {
            assert!(p.validate(&spec(json!({"url": url}))).is_err(), "{url}");
        }
    }
    // a name that does not resolve fails closed (unreachable, nothing sent)
    let obs = p
        .check(&spec(json!({"url": "http://nxdomain.test/"})))
        .await;
    assert_eq!(obs.outcome, Outcome::Unreachable, "{obs:?}");
    // webhooks: the same table, refused at construction or at delivery
    let secret_key = WebhookSecret::from_bytes(vec![9; 32]).unwrap();
    for url in &table {
        match WebhookNotifier::with_policy(
            url,
            secret_key.clone(),
            EgressPolicy::webhooks(),
            resolver(),
        ) {
            Err(e) => assert_eq!(e.field(), "url"),
            Ok(w) => {
                let w = w.retries(1, Duration::from_millis(1), Duration::from_secs(2));
                let r = w.notify(&notification("n-ssrf")).await;
                assert!(matches!(r, Err(NotifyError::Permanent(_))), "{url}: {r:?}");
            }
        }
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the loopback server was reached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_outcomes() {
    let (secret, _) = secret_server().await;
    let svc = service(secret).await;
    let base = format!("http://svc.test:{}", svc.port());
    let p = probe();
    let run = |params: Value| {
        let p = p.clone();
        async move { p.check(&spec(params)).await }
    };
    let o = run(json!({"url": format!("{base}/ok")})).await;
    assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
    assert!(o.latency.is_some());
    assert_eq!(o.details.as_ref().unwrap()["status_code"], 200);
    // the allow-listed address works literally too
    let o = run(json!({"url": format!("http://127.0.0.2:{}/ok", svc.port())})).await;
    assert_eq!(o.outcome, Outcome::Pass, "{o:?}");

    let cases = [
        (json!({"url": format!("{base}/500")}), Outcome::Fail),
        (
            json!({"url": format!("{base}/500"), "expected_status": ["5xx"]}),
            Outcome::Pass,
        ),
        (
            json!({"url": format!("{base}/ok"), "body_contains": "all ok"}),
            Outcome::Pass,
        ),
        (
            json!({"url": format!("{base}/ok"), "body_contains": "nope"}),
            Outcome::Fail,
        ),
        (
            json!({"url": format!("{base}/json"), "json_pointer": {"pointer": "/status", "equals": "up"}}),
            Outcome::Pass,
        ),
        (
            json!({"url": format!("{base}/json"), "json_pointer": {"pointer": "/n", "equals": 4}}),
            Outcome::Fail,
        ),
        (
            json!({"url": format!("{base}/json"), "json_pointer": {"pointer": "/gone", "equals": 1}}),
            Outcome::Fail,
        ),
        (
            json!({"url": format!("{base}/ok"), "json_pointer": {"pointer": "/x", "equals": 1}}),
            Outcome::Fail,
        ),
        (
            json!({"url": format!("{base}/big"), "max_bytes": 1024, "body_contains": "needle"}),
            Outcome::Fail,
        ),
        (
            json!({"url": format!("{base}/big"), "body_contains": "needle", "max_bytes": 4194304}),
            Outcome::Pass,
        ),
        (
            json!({"url": format!("{base}/redirect-ok"), "expected_status": [200]}),
            Outcome::Pass,
        ),
        (
            json!({"url": format!("{base}/redirect-ok"), "max_redirects": 0, "expected_status": [200]}),
            Outcome::Fail,
        ),
        (
            json!({"url": format!("{base}/redirect-loop"), "expected_status": [200]}),
            Outcome::Fail,
        ),
        (
            json!({"url": format!("{base}/slow"), "warn_after": "100ms"}),
            Outcome::Warn,
        ),
        (
            json!({"url": format!("{base}/slow"), "request_timeout": "50ms"}),
            Outcome::Unreachable,
        ),
        // refused: the host answered and nothing listens — the service is
        // down (fail, healable), not unreachable
        (json!({"url": "http://127.0.0.2:1/"}), Outcome::Fail),
        (
            json!({"url": format!("{base}/ok"), "method": "POST", "body": "{}", "headers": {"x-probe": "1"}}),
            Outcome::Pass,
        ),
        (
            json!({"url": format!("{base}/ok"), "method": "BREW"}),
            Outcome::Unknown,
        ),
    ];
    for (params, want) in cases {
        let o = run(params.clone()).await;
        assert_eq!(o.outcome, want, "{params}: {o:?}");
    }
    let o = run(json!({"url": format!("{base}/redirect-loop")})).await;
    assert_eq!(o.details.unwrap()["redirects"], 5);
    // diagnose adds the final URL and a preview
    let d = p
        .diagnose(&spec(json!({"url": format!("{base}/redirect-ok")})))
        .await;
    let det = d.details.unwrap();
    assert!(det["final_url"].as_str().unwrap().ends_with("/ok"), "{det}");
    assert_eq!(det["body_preview"], "all ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_certificate_expiry_warns() {
    use chrono::Datelike;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};
    use rustls::pki_types::PrivateKeyDer;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut lp = CertificateParams::new(vec!["svc.test".to_owned()]).unwrap();
    let ymd =
        |d: chrono::DateTime<chrono::Utc>| date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    lp.not_before = ymd(chrono::Utc::now() - chrono::Duration::days(2));
    lp.not_after = ymd(chrono::Utc::now() + chrono::Duration::days(10));
    let leaf = lp.signed_by(&key, &issuer).unwrap();

    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let mut buf = [0u8; 2048];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    let url = format!("https://svc.test:{port}/");
    let trusting =
        HttpProbe::with_resolver(policy(), resolver(), &[ca_cert.der().to_vec()]).unwrap();
    let o = trusting
        .check(&spec(json!({"url": url, "cert_expiry_warn_days": 30})))
        .await;
    assert_eq!(o.outcome, Outcome::Warn, "{o:?}");
    let days = o.details.as_ref().unwrap()["cert_days_left"]
        .as_i64()
        .unwrap();
    assert!((8..=10).contains(&days), "{days}");
    let o = trusting
        .check(&spec(json!({"url": url, "cert_expiry_warn_days": 5})))
        .await;
    assert_eq!(o.outcome, Outcome::Pass, "{o:?}");
    // without the CA the handshake fails: unreachable, not pass
    let o = probe().check(&spec(json!({"url": url}))).await;
    assert_eq!(o.outcome, Outcome::Unreachable, "{o:?}");
}

fn notification(id: &str) -> Notification {
    let now = chrono::Utc::now();
    let alert = Alert::new(
        "alert-1",
        AlertKey::new(TargetId::new("web-1").unwrap(), AlertKind::Down),
        Severity::Critical,
        "web-1 is down",
        now,
    );
    Notification {
        id: id.to_owned(),
        kind: NotificationKind::Firing,
        audience: Audience::External,
        alert,
        target_name: "web-1".into(),
        tenant: TenantId::new("acme").unwrap(),
        at: now,
        routing: Routing::default(),
    }
}

/// An independent Standard Webhooks verifier, written from the spec
/// (standard-webhooks/spec/standard-webhooks.md, "Verifying webhook
/// authenticity"): the signed content is `{id}.{timestamp}.{body}`, the
/// key is the base64-decoded part of a `whsec_` secret, the header holds
/// space-separated `v1,<base64>` signatures of which one must match, and
/// the timestamp must be within a tolerance (5 minutes) of now.
mod verifier {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    pub fn verify(
        secret: &str,
        id: &str,
        timestamp: &str,
        signature_header: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), &'static str> {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").ok_or("secret lacks whsec_")?)
            .map_err(|_| "secret is not base64")?;
        let ts: i64 = timestamp.parse().map_err(|_| "bad timestamp")?;
        if (now - ts).abs() > 5 * 60 {
            return Err("timestamp outside tolerance");
        }
        let mut content = Vec::new();
        content.extend_from_slice(id.as_bytes());
        content.push(b'.');
        content.extend_from_slice(timestamp.as_bytes());
        content.push(b'.');
        content.extend_from_slice(body);
        for sig in signature_header.split(' ') {
            let Some((version, b64)) = sig.split_once(',') else {
                continue;
            };
            if version != "v1" {
                continue;
            }
            let Ok(expected) = STANDARD.decode(b64) else {
                continue;
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            mac.update(&content);
            if mac.verify_slice(&expected).is_ok() {
                return Ok(());
            }
        }
        Err("no matching signature")
    }
}

/// One delivery as the receiver saw it.
type Delivery = (HeaderMap, Vec<u8>);

#[derive(Clone, Default)]
struct Hook {
    seen: Arc<Mutex<Vec<Delivery>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

async fn hook_server(hook: Hook) -> SocketAddr {
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let hook = hook.clone();
            async move {
                hook.seen.lock().unwrap().push((headers, body.to_vec()));
                let code = {
                    let mut s = hook.script.lock().unwrap();
                    if s.len() > 1 {
                        s.remove(0)
                    } else {
                        s.first().copied().unwrap_or(200)
                    }
                };
                let mut res = axum::response::Response::new(axum::body::Body::empty());
                *res.status_mut() = StatusCode::from_u16(code).unwrap();
                if (300..400).contains(&code) {
                    res.headers_mut()
                        .insert("location", "http://127.0.0.1:1/".parse().unwrap());
                }
                res
            }
        }),
    );
    serve_on("127.0.0.2", app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signatures_verify_and_retries_keep_the_id() {
    use base64::Engine as _;
    let secret_text = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([42u8; 32])
    );
    let hook = Hook::default();
    *hook.script.lock().unwrap() = vec![503, 200];
    let addr = hook_server(hook.clone()).await;
    let w = WebhookNotifier::with_policy(
        &format!("http://svc.test:{}/hook", addr.port()),
        WebhookSecret::parse(&secret_text).unwrap(),
        EgressPolicy::webhooks().allow_cidr("127.0.0.2/32").unwrap(),
        resolver(),
    )
    .unwrap()
    .retries(3, Duration::from_millis(10), Duration::from_secs(2));
    w.notify(&notification("notif-1")).await.unwrap();
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one failure, one retry");
    let now = chrono::Utc::now().timestamp();
    for (headers, body) in &seen {
        let h = |k: &str| headers.get(k).unwrap().to_str().unwrap().to_owned();
        assert_eq!(h("webhook-id"), "notif-1", "stable id across retries");
        assert!(h("webhook-signature").starts_with("v1,"));
        verifier::verify(
            &secret_text,
            &h("webhook-id"),
            &h("webhook-timestamp"),
            &h("webhook-signature"),
            body,
            now,
        )
        .unwrap();
        // a tampered body or another secret fails
        let mut tampered = body.clone();
        tampered.push(b' ');
        assert!(
            verifier::verify(
                &secret_text,
                "notif-1",
                &h("webhook-timestamp"),
                &h("webhook-signature"),
                &tampered,
                now
            )
            .is_err()
        );
        let other = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode([1u8; 32])
        );
        assert!(
            verifier::verify(
                &other,
                "notif-1",
                &h("webhook-timestamp"),
                &h("webhook-signature"),
                body,
                now
            )
            .is_err()
        );
        assert!(
            headers
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["type"], "alert.firing");
        assert_eq!(v["data"]["alert"]["kind"], "down");
    }

    // 3xx is a failure and is not followed; 4xx is not retried
    for (code, calls) in [(302u16, 1usize), (400, 1), (500, 3)] {
        hook.seen.lock().unwrap().clear();
        *hook.script.lock().unwrap() = vec![code];
        let r = w.notify(&notification("notif-2")).await;
        assert!(r.is_err(), "{code}");
        if code == 500 {
            assert!(matches!(r, Err(NotifyError::Transient(_))));
        } else {
            assert!(matches!(r, Err(NotifyError::Permanent(_))), "{code}: {r:?}");
        }
        assert_eq!(hook.seen.lock().unwrap().len(), calls, "{code}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_posts_a_message() {
    let hook = Hook::default();
    let addr = hook_server(hook.clone()).await;
    let s = SlackNotifier::with_policy(
        &format!("http://127.0.0.2:{}/hook", addr.port()),
        EgressPolicy::webhooks().allow_cidr("127.0.0.2/32").unwrap(),
        resolver(),
    )
    .unwrap();
    s.notify(&notification("n-3")).await.unwrap();
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let v: Value = serde_json::from_slice(&seen[0].1).unwrap();
    assert!(v["text"].as_str().unwrap().contains("web-1"), "{v}");
    assert_eq!(v["attachments"][0]["color"], "#d00000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targets_webhook_url_replaces_the_default_and_is_guarded() {
    use base64::Engine as _;
    let secret_text = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([9u8; 32])
    );
    let secret = WebhookSecret::parse(&secret_text).unwrap();
    let (default_hook, target_hook) = (Hook::default(), Hook::default());
    let default_addr = hook_server(default_hook.clone()).await;
    let target_addr = hook_server(target_hook.clone()).await;
    let policy = || EgressPolicy::webhooks().allow_cidr("127.0.0.2/32").unwrap();
    let w = WebhookNotifier::with_policy(
        &format!("http://svc.test:{}/hook", default_addr.port()),
        secret.clone(),
        policy(),
        resolver(),
    )
    .unwrap()
    .retries(1, Duration::from_millis(10), Duration::from_secs(2));
    let mut n = notification("routed-1");
    assert!(w.accepts(&n));
    n.routing.webhook_url = Some(format!("http://127.0.0.2:{}/hook", target_addr.port()));
    w.notify(&n).await.unwrap();
    assert!(default_hook.seen.lock().unwrap().is_empty(), "instead of");
    let seen = target_hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    let h = |k: &str| headers.get(k).unwrap().to_str().unwrap().to_owned();
    verifier::verify(
        &secret_text,
        "routed-1",
        &h("webhook-timestamp"),
        &h("webhook-signature"),
        body,
        chrono::Utc::now().timestamp(),
    )
    .unwrap();
    // a target URL outside the policy (loopback 127.0.0.1, a name that
    // resolves there, metadata) is refused, permanently, and never reached
    let (secret_addr, hits) = secret_server().await;
    for bad in [
        format!("http://127.0.0.1:{}/x", secret_addr.port()),
        format!("http://loop.test:{}/x", secret_addr.port()),
        "http://169.254.169.254/latest".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        n.routing.webhook_url = Some(bad.clone());
        let r = w.notify(&n).await;
        assert!(matches!(r, Err(NotifyError::Permanent(_))), "{bad}: {r:?}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // a routed-only webhook accepts only notifications that carry a URL
    let routed = WebhookNotifier::routed(secret, policy(), resolver()).unwrap();
    assert!(!routed.accepts(&notification("plain")));
    assert!(matches!(
        routed.notify(&notification("plain")).await,
        Err(NotifyError::Permanent(_))
    ));
    n.routing.webhook_url = Some(format!("http://svc.test:{}/hook", target_addr.port()));
    assert!(routed.accepts(&n));
    routed.notify(&n).await.unwrap();
    assert_eq!(target_hook.seen.lock().unwrap().len(), 2);
    assert_eq!(routed.name(), "webhook");
}
