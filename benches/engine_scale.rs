//! Engine overhead at scale (issue 4): 10,000 checks at a 1 s interval
//! on the in-memory store, on a 2-worker runtime.
//!
//! - `MODE=instant` (default): an in-process checker (no probe I/O), for
//!   the engine's own cost;
//! - `MODE=tcp`: real `tcp` probes (`healthcore-probes`) against loopback
//!   listeners on 127.0.0.10 … 127.0.0.137 (spread so ephemeral ports and
//!   TIME_WAIT slots do not run out), served by a child process so the
//!   figures are the monitoring process's own; the listeners' CPU is
//!   printed apart.
//!
//! - `MODE=sleep`: no engine, one task per check that only sleeps until
//!   its next second and counts: the floor a task-and-timer-per-check
//!   schedule costs on this kernel.
//!
//! Prints CPU µs per check (process user+system time over checks run),
//! resident bytes per check, and scheduling lateness of the measured runs.
//!
//! Run: `cargo bench --bench engine_scale` (env `CHECKS`, `SECONDS`,
//! `MODE`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use healthcore::checker::Checker;
use healthcore::engine::{Engine, EngineConfig};
use healthcore::memory::InMemoryStore;
use healthcore::model::{CheckSpec, Observation, Outcome, Target, TargetId};
use healthcore_probes::TcpChecker;

/// Loopback listeners of the tcp mode (127.0.0.10 onwards).
const LISTENERS: u16 = 128;

#[derive(Debug)]
struct Instant200;

#[async_trait]
impl Checker for Instant200 {
    fn kind(&self) -> &str {
        "fake"
    }
    async fn check(&self, _spec: &CheckSpec) -> Observation {
        Observation::new(chrono::Utc::now(), Outcome::Pass).with_latency(Duration::from_micros(50))
    }
}

fn proc_field(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// user + system CPU of this process, in µs (from /proc/self/stat).
fn cpu_us() -> u64 {
    cpu_us_of("self")
}

/// user + system CPU of process `pid` ("self" for this one), in µs.
fn cpu_us_of(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks * 1_000_000 / 100
}

fn rss_bytes() -> u64 {
    proc_field("/proc/self/status", "VmRSS:") * 1024
}

/// `MODE=sleep`: the cost of bare sleeping tasks, one per check.
fn sleep_floor(checks: usize, seconds: u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let runs = Arc::new(AtomicU64::new(0));
        let start = tokio::time::Instant::now();
        for i in 0..checks {
            let runs = runs.clone();
            // spread over the second, as the engine's first-run jitter does
            let mut next = start + Duration::from_micros((i as u64 * 1_000_000) / checks as u64);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep_until(next).await;
                    runs.fetch_add(1, Ordering::Relaxed);
                    next += Duration::from_secs(1);
                }
            });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (r0, c0, t0) = (runs.load(Ordering::Relaxed), cpu_us(), Instant::now());
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let (r1, c1, el) = (
            runs.load(Ordering::Relaxed),
            cpu_us(),
            t0.elapsed().as_secs_f64(),
        );
        let ran = r1 - r0;
        println!("mode:                   sleep (bare tasks, no engine)");
        println!(
            "wake-ups:               {ran} in {el:.1} s ({:.0}/s)",
            ran as f64 / el
        );
        println!(
            "CPU per wake-up:        {:.2} µs",
            (c1 - c0) as f64 / ran.max(1) as f64
        );
        println!(
            "CPU used:               {:.2} cores",
            (c1 - c0) as f64 / 1e6 / el
        );
    });
}

/// The child process of the tcp mode: binds the listeners, prints
/// `ip port` per listener, accepts and drops connections until killed.
fn serve_listeners() {
    use std::io::Write;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut out = std::io::stdout().lock();
        for i in 0..LISTENERS {
            let ip = format!("127.0.0.{}", 10 + i);
            let l = tokio::net::TcpListener::bind((ip.as_str(), 0))
                .await
                .expect("bind a loopback listener");
            let port = l.local_addr().expect("local addr").port();
            writeln!(out, "{ip} {port}").expect("stdout");
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    drop(s);
                }
            });
        }
        out.flush().expect("stdout");
        drop(out);
        std::future::pending::<()>().await;
    });
}

/// Starts the listener process; its pid and one `(ip, port)` per listener.
fn spawn_listeners() -> (std::process::Child, Vec<(String, u16)>) {
    use std::io::BufRead;
    let exe = std::env::current_exe().expect("current exe");
    let mut child = std::process::Command::new(exe)
        .env("ENGINE_SCALE_LISTENERS", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the listener process");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut addrs = Vec::new();
    for line in std::io::BufReader::new(stdout)
        .lines()
        .take(LISTENERS as usize)
    {
        let line = line.expect("listener line");
        let mut it = line.split_whitespace();
        let ip = it.next().expect("ip").to_owned();
        let port = it.next().and_then(|p| p.parse().ok()).expect("port");
        addrs.push((ip, port));
    }
    (child, addrs)
}

fn main() {
    if std::env::var("ENGINE_SCALE_LISTENERS").is_ok() {
        serve_listeners();
        return;
    }
    let checks: usize = std::env::var("CHECKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seconds: u64 = std::env::var("SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` smoke mode
    }
    let tcp = std::env::var("MODE").is_ok_and(|m| m == "tcp");
    if std::env::var("MODE").is_ok_and(|m| m == "sleep") {
        sleep_floor(checks, seconds);
        return;
    }
    let listeners = tcp.then(spawn_listeners);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Arc::new(InMemoryStore::new());
        let mut cfg = EngineConfig::default();
        cfg.limits.max_concurrency = 1024;
        cfg.limits.buffer_capacity = 1_000_000;
        cfg.limits.batch_size = 20_000;
        let engine = Engine::builder(store.clone())
            .checker(Arc::new(Instant200))
            .checker(Arc::new(TcpChecker::new()))
            .config(cfg)
            .build()
            .expect("engine");
        engine.start().await.expect("start");
        let rss0 = rss_bytes();
        let reg = Instant::now();
        for i in 0..checks {
            let id = TargetId::new(format!("t{i:05}")).unwrap();
            engine.add_target(Target::new(id.clone(), format!("t{i}"))).await.expect("target");
            let spec = match &listeners {
                Some((_, addrs)) => {
                    let (ip, port) = &addrs[i % addrs.len()];
                    CheckSpec::new("tcp")
                        .with_params(serde_json::json!({"host": ip, "port": port}))
                        .every(Duration::from_secs(1), Duration::from_millis(500))
                }
                None => CheckSpec::new("fake").every(Duration::from_secs(1), Duration::from_millis(500)),
            };
            engine.add_check(&id, spec).await.expect("check");
        }
        let reg = reg.elapsed();
        // warm up one full interval, then measure
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss1 = rss_bytes();
        let m0 = engine.metrics();
        let c0 = cpu_us();
        let pid = listeners.as_ref().map(|(c, _)| c.id().to_string());
        let l0 = pid.as_deref().map(cpu_us_of).unwrap_or(0);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let elapsed = t0.elapsed().as_secs_f64();
        let c1 = cpu_us();
        let l1 = pid.as_deref().map(cpu_us_of).unwrap_or(0);
        let m1 = engine.metrics();
        let ran = m1.checks - m0.checks;
        println!("checks registered:      {checks} in {:.2} s", reg.as_secs_f64());
        println!("checks run:             {ran} in {elapsed:.1} s ({:.0}/s)", ran as f64 / elapsed);
        let what = if tcp { "engine + tcp probe + in-memory store" } else { "engine + fake checker + in-memory store" };
        println!("mode:                   {}", if tcp { "tcp (loopback listeners in a child process)" } else { "instant (in-process checker)" });
        println!("CPU per check:          {:.2} µs ({what})", (c1 - c0) as f64 / ran.max(1) as f64);
        if tcp {
            println!("listener CPU per check: {:.2} µs (the child process, not counted above)", (l1 - l0) as f64 / ran.max(1) as f64);
            println!("failures:               {} of {} runs since start", m1.failures, m1.checks);
            println!("probe wall time, mean:  {:.2} ms", (m1.latency_sum_us - m0.latency_sum_us) as f64 / ran.max(1) as f64 / 1000.0);
        }
        println!("CPU used:               {:.2} cores", (c1 - c0) as f64 / 1e6 / elapsed);
        println!("resident per check:     {} B (RSS {} → {} after registration and warm-up; the in-memory store keeps raw results too)", (rss1.saturating_sub(rss0)) / checks as u64, rss0, rss1);
        println!("lateness mean / p99:    {:.2} ms / < {:.2} ms (measured runs; p99 is a power-of-two bound)", (m1.lateness_sum_us - m0.lateness_sum_us) as f64 / ran.max(1) as f64 / 1000.0, m1.lateness_quantile_since(&m0, 0.99) as f64 / 1000.0);
        println!("lateness p99 / max since start: < {:.2} ms / {:.2} ms (start-up burst included)", m1.lateness_p99_us as f64 / 1000.0, m1.lateness_max_us as f64 / 1000.0);
        println!("results written:        {}  dropped: {}", m1.results_written, m1.results_dropped);
        engine.shutdown().await;
    });
    if let Some((mut child, _)) = listeners {
        let _ = child.kill();
        let _ = child.wait();
    }
}
