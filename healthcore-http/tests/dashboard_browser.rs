//! The dashboard in a real browser: Debian's headless Chromium driven
//! through its chromedriver with `fantoccini`, against the real router on
//! a loopback port, mounted under a prefix.
//!
//! It loads the page with `#token=…` (which must leave the address bar),
//! sees the grid cells with their status labels, opens a target's detail,
//! acknowledges an alert through the UI and sees its state change (in the
//! page and in the store), sees a status change arrive over the live event
//! stream, and saves a screenshot to `<target dir>/artifacts/dashboard.png`.
//! Then it measures page load → grid painted with 1,000 targets (median of
//! several loads, printed; a figure for BENCHMARKS.md, not an assertion).
//!
//! Without `/usr/bin/chromium` or `/usr/bin/chromedriver` the test prints a
//! SKIPPED line and passes, unless `HEALTHCORE_REQUIRE_BROWSER=1`, when it
//! fails (CI sets it and installs both with `.ci/browser-deps.sh`).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use healthcore::alert::AlertStatus;
use healthcore::model::{CheckId, CheckKey, Observation, Outcome, TargetId};
use healthcore::store::AlertQuery;
use healthcore_http::server::ApiState;
use serde_json::{Value, json};
use std::process::{Child, Command};
use tokio::net::TcpListener;

const PREFIX: &str = "/api/v1";

/// A line on the real stderr, past the test harness's capture, so that CI
/// logs show the screenshot paths, the load figure and a skip.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

fn browser_paths() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("HEALTHCORE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let driver = std::env::var_os("HEALTHCORE_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    if chromium.exists() && driver.exists() {
        return Some((chromium, driver));
    }
    let msg = format!(
        "{} or {} is missing (apt-get install chromium chromium-driver, or bash .ci/browser-deps.sh)",
        chromium.display(),
        driver.display()
    );
    if std::env::var("HEALTHCORE_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("HEALTHCORE_REQUIRE_BROWSER=1 but {msg}");
    }
    say!("\n*** SKIPPED dashboard browser test: {msg} ***\n");
    None
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

/// A chromedriver process and the profile directory of the Chromium it
/// starts. Dropping it (also when a step panics and the session was never
/// closed) kills the driver, then the browser processes started with that
/// profile directory (they would outlive the driver), then removes it.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let needle = self.profile.to_string_lossy().into_owned();
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&needle) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A session on a chromedriver of our own.
struct Browser {
    client: Client,
    _driver: Driver,
}

async fn browser(chromium: &PathBuf, driver: &PathBuf) -> Browser {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let driver = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = std::env::temp_dir().join(format!(
        "healthcore-dashboard-test-{}-{port}",
        std::process::id()
    ));
    let driver = Driver {
        child: driver,
        profile: profile.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1440,1000", "--no-first-run", "--disable-extensions",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session");
    Browser {
        client,
        _driver: driver,
    }
}

async fn wait_css(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let state = c
                .execute(
                    "return [location.href, JSON.stringify(window.healthcoreDashboard || null), \
                     document.body ? document.body.innerText.slice(0, 1500) : ''];",
                    vec![],
                )
                .await;
            panic!("{css} did not appear: {e}\npage: {state:?}");
        }
    }
}

/// Finds and clicks `css`, again if a live refresh replaced the element
/// between the two steps.
async fn click_css(c: &Client, css: &str) {
    let mut last = None;
    for _ in 0..5 {
        let e = wait_css(c, css).await;
        match e.click().await {
            Ok(()) => return,
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not click {css}: {last:?}");
}

/// Polls a script until it returns `true`.
async fn wait_js(c: &Client, script: &str, what: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if c.execute(script, vec![]).await.unwrap() == Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn key(id: &str) -> CheckKey {
    CheckKey::new(TargetId::new(id).unwrap(), CheckId::new("tcp").unwrap())
}

fn artifact_path() -> PathBuf {
    let dir = std::env::var_os("HEALTHCORE_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("..")
                        .join("target")
                })
                .join("artifacts")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("dashboard.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };

    // a small fleet: healthy, degraded, down (with an open alert), unknown
    let h = harness().await;
    for (id, tenant) in [
        ("web-1", "acme"),
        ("cache-1", "acme"),
        ("db-1", "globex"),
        ("queue-1", "globex"),
    ] {
        h.target(id, tenant).await;
    }
    h.feed("web-1", Outcome::Pass, 2).await;
    h.feed("cache-1", Outcome::Fail, 1).await;
    h.feed("db-1", Outcome::Fail, 3).await;
    let open = h
        .engine
        .store()
        .list_alerts(&AlertQuery {
            status: Some(AlertStatus::Active),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1, "one open alert to acknowledge");
    let alert_id = open.items[0].id.clone();

    let app = axum::Router::new().nest(
        PREFIX,
        healthcore_http::router(ApiState::new(h.engine.clone(), auth())),
    );
    let addr = serve(app).await;
    let b = browser(&chromium, &driver).await;
    let c = &b.client;

    // the token arrives in the fragment and leaves the address bar
    // (axum's nest routes the prefix itself, without a trailing slash)
    c.goto(&format!("http://{addr}{PREFIX}#token={ADMIN}"))
        .await
        .unwrap();
    wait_css(c, "html[data-grid-painted]").await;
    let url = c.current_url().await.unwrap();
    assert!(!url.as_str().contains(ADMIN), "token left in {url}");
    assert_eq!(url.path(), PREFIX);

    // the grid: one cell per target, worst first, with text labels
    let cells = c.find_all(Locator::Css("#grid button.cell")).await.unwrap();
    assert_eq!(cells.len(), 4);
    let first = cells[0].text().await.unwrap();
    assert!(
        first.contains("db-1") && first.to_lowercase().contains("down"),
        "{first}"
    );
    let classes = cells[0].attr("class").await.unwrap().unwrap_or_default();
    assert!(classes.contains("st-down"), "{classes}");
    let all: Vec<String> = {
        let mut v = Vec::new();
        for e in &cells {
            v.push(e.text().await.unwrap().to_lowercase());
        }
        v
    };
    assert!(
        all.iter()
            .any(|t| t.contains("cache-1") && t.contains("degraded"))
    );
    assert!(
        all.iter()
            .any(|t| t.contains("web-1") && t.contains("healthy"))
    );
    assert!(
        all.iter()
            .any(|t| t.contains("queue-1") && t.contains("unknown"))
    );
    let counts = c.find(Locator::Id("counts")).await.unwrap();
    assert!(counts.text().await.unwrap().contains("1 down"));

    // live updates connect through a ticket
    wait_js(
        c,
        "return document.getElementById('live').textContent === 'live';",
        "the event stream",
        Duration::from_secs(10),
    )
    .await;

    // the detail panel of the down target
    click_css(c, "#grid button.cell[data-id='db-1']").await;
    wait_css(c, "#detail:not([hidden]) #detail-checks tr").await;
    wait_css(c, "#uptime .timeline .seg").await;
    let title = c
        .find(Locator::Id("detail-title"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(title, "db-1");

    // quick actions: logs, then a restart that needs the id typed to confirm
    click_css(c, ".actions button[data-action='logs']").await;
    wait_js(
        c,
        "const o = document.getElementById('action-out'); \
         return !o.hidden && o.textContent.length > 0 && !o.textContent.endsWith('…');",
        "the log lines",
        Duration::from_secs(10),
    )
    .await;
    click_css(c, ".actions button[data-action='restart']").await;
    wait_css(c, "dialog#confirm[open]").await;
    let go = wait_css(c, "#confirm-go").await;
    assert!(
        go.attr("disabled").await.unwrap().is_some(),
        "restart is disabled until the id is typed"
    );
    wait_css(c, "#confirm-input")
        .await
        .send_keys("db-1")
        .await
        .unwrap();
    click_css(c, "#confirm-go:not([disabled])").await;
    wait_js(
        c,
        "const o = document.getElementById('action-out'); \
         return !document.getElementById('confirm').open && o.textContent.includes('\"outcome\"');",
        "the restart's outcome",
        Duration::from_secs(10),
    )
    .await;
    let out = c
        .find(Locator::Id("action-out"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(out.contains("db-1") && !out.contains("failed"), "{out}");

    // acknowledge the alert in the alerts list and see it change
    let row = format!("#alerts tr[data-alert='{alert_id}']");
    click_css(c, &format!("{row}.active button.ack")).await;
    let acked = wait_css(c, &format!("{row}.acknowledged")).await;
    let state_text = acked.text().await.unwrap();
    assert!(state_text.contains("acknowledged by root"), "{state_text}");
    let stored = h
        .engine
        .store()
        .get_alert(&alert_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, AlertStatus::Acknowledged);
    assert_eq!(stored.acknowledged_by.as_deref(), Some("root"));

    // a status change reaches the page over SSE (well before the 30 s poll)
    for _ in 0..3 {
        h.engine
            .ingest(
                &key("web-1"),
                Observation::new(h.engine.now(), Outcome::Fail)
                    .with_latency(Duration::from_millis(40)),
            )
            .unwrap();
    }
    h.engine.flush().await;
    wait_js(
        c,
        "const b = document.querySelector('#grid button.cell[data-id=\"web-1\"]');\
         return !!b && b.classList.contains('st-down');",
        "web-1 to turn red over the event stream",
        Duration::from_secs(10),
    )
    .await;

    // no CSP violations, no inline anything
    let violations = c
        .execute("return window.healthcoreDashboard.cspViolations;", vec![])
        .await
        .unwrap();
    assert_eq!(violations, json!([]), "CSP violations: {violations}");

    c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let path = artifact_path();
    std::fs::write(&path, &png).unwrap();
    say!("dashboard screenshot: {}", path.display());

    // without a token the page asks for one; a wrong one is refused
    click_css(c, "#forget").await;
    wait_css(c, "#token-panel:not([hidden])").await;
    c.goto(&format!("http://{addr}{PREFIX}")).await.unwrap();
    let input = wait_css(c, "#token-panel:not([hidden]) #token-input").await;
    input.send_keys("not-the-token").await.unwrap();
    click_css(c, "#token-form button[type=submit]").await;
    wait_js(
        c,
        "return document.getElementById('token-error').textContent.includes('refused') \
         && !document.getElementById('token-panel').hidden;",
        "the refusal",
        Duration::from_secs(10),
    )
    .await;
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifact_path().with_file_name("dashboard-token.png"), &png).unwrap();
    let input = wait_css(c, "#token-input").await;
    input.send_keys(ADMIN).await.unwrap();
    click_css(c, "#token-form button[type=submit]").await;
    wait_css(c, "#token-panel[hidden]").await;
    wait_css(c, "#grid button.cell[data-id='db-1']").await;
    let stored = c
        .execute("return sessionStorage.getItem('healthcore.token');", vec![])
        .await
        .unwrap();
    assert_eq!(stored, json!(ADMIN));

    // ---- load budget: 1,000 targets, page load → grid painted ----------
    let big = harness().await;
    for i in 0..1000 {
        let id = format!("node-{i:04}");
        big.target(&id, if i % 2 == 0 { "acme" } else { "globex" })
            .await;
        let outcomes: &[Outcome] = if i % 50 == 0 {
            &[Outcome::Fail, Outcome::Fail, Outcome::Fail]
        } else if i % 17 == 0 {
            &[Outcome::Fail]
        } else {
            &[Outcome::Pass]
        };
        for o in outcomes {
            big.engine
                .ingest(
                    &key(&id),
                    Observation::new(big.engine.now(), *o)
                        .with_latency(Duration::from_millis(5 + (i % 40) as u64)),
                )
                .unwrap();
        }
    }
    big.engine.flush().await;
    let app = axum::Router::new().nest(
        PREFIX,
        healthcore_http::router(ApiState::new(big.engine.clone(), auth())),
    );
    let big_addr = serve(app).await;
    let mut samples = Vec::new();
    let mut split = Vec::new();
    for _ in 0..7 {
        // a blank page first, so that each load is a full navigation
        c.goto("about:blank").await.unwrap();
        c.goto(&format!("http://{big_addr}{PREFIX}#token={ADMIN}"))
            .await
            .unwrap();
        wait_css(c, "html[data-grid-painted]").await;
        let v = c
            .execute(
                "const d = window.healthcoreDashboard; \
                 return [d.gridPaintedAt, document.querySelectorAll('#grid button.cell').length, \
                 d.scriptAt, d.gridFetchMs, d.gridRenderMs, d.gridRenderedAt];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(v[1], json!(1000));
        samples.push(v[0].as_f64().unwrap());
        let f = |i: usize| v[i].as_f64().unwrap_or(f64::NAN);
        split.push([f(2), f(3), f(4), f(5), f(0)]);
    }
    say!(
        "per load, ms since navigation: [script ran, grid fetch took, render took, rendered at, painted at]"
    );
    for s in &split {
        say!("  {s:.0?}");
    }
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    say!(
        "dashboard load → grid painted, 1,000 targets: median {median:.0} ms over {} loads (min {:.0}, max {:.0})",
        samples.len(),
        samples[0],
        samples[samples.len() - 1]
    );
    let png = c.screenshot().await.unwrap();
    let big_path = artifact_path().with_file_name("dashboard-1000.png");
    std::fs::write(&big_path, &png).unwrap();
    say!(
        "dashboard screenshot (1,000 targets): {}",
        big_path.display()
    );

    b.client.close().await.unwrap();
}
