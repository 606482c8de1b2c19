//! The `healthd` example binary end to end: no arguments serving the demo
//! (the README's first command), `check-config` exit codes and
//! messages, `serve` printing the dashboard URL and stopping cleanly on
//! SIGTERM (exit 0, SQLite closed), and `replay` printing the expected
//! decision lines for a recorded input.

#[path = "healthd_support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn healthd() -> Command {
    let mut c = Command::new(support::healthd_bin());
    c.env_remove("RUST_LOG");
    c
}

#[test]
fn check_config_accepts_the_example_and_refuses_a_bad_file() {
    let ok = healthd()
        .args(["check-config", "examples/healthd.example.toml"])
        .current_dir(ROOT)
        .env("HEALTHD_ADMIN_TOKEN", "an-admin-token-of-some-length")
        .env(
            "HEALTHD_WEBHOOK_SECRET",
            "a-webhook-secret-of-24-bytes-or-more",
        )
        .env(
            "HEALTHD_SLACK_URL",
            "https://hooks.slack.com/services/T0/B0/X",
        )
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        out.starts_with("examples/healthd.example.toml: ok (4 targets, 5 checks"),
        "{out}"
    );

    // the same file without its environment: each missing variable named
    let missing = healthd()
        .args(["check-config", "examples/healthd.example.toml"])
        .current_dir(ROOT)
        .env_remove("HEALTHD_ADMIN_TOKEN")
        .env_remove("HEALTHD_WEBHOOK_SECRET")
        .env_remove("HEALTHD_SLACK_URL")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    for field in [
        "tokens[0].env",
        "alerts.channels[1].secret_env",
        "alerts.channels[2].url_env",
    ] {
        assert!(err.contains(field), "{field} not named in:\n{err}");
    }

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[targets]]\nid = \"web\"\n\n[[targets.checks]]\nkind = \"tcp\"\nparams = { host = \"10.0.0.1\", port = 80 }\ninterval = \"10s\"\ntimeout = \"30s\"\n",
    )
    .unwrap();
    let out = healthd().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:8:11: targets[0].checks[0].timeout: must be less than interval",
            bad.display()
        )),
        "{err}"
    );

    let none = healthd()
        .args(["check-config", "/nonexistent/healthd.toml"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("could not read /nonexistent/healthd.toml")
    );
}

/// The README's first command, `cargo run --release --example healthd`,
/// passes no arguments: that is `serve` on the built-in demo.
#[test]
fn no_command_is_serve_on_the_demo() {
    use clap::Parser;
    use healthcore_suite::healthd::cli::{Cli, Command as Sub};
    let cli = Cli::try_parse_from(["healthd"]).expect("no arguments parse");
    assert!(matches!(
        cli.command(),
        Sub::Serve {
            config: None,
            listen: None,
            db: None
        }
    ));
    let cli =
        Cli::try_parse_from(["healthd", "--log-format", "json"]).expect("a global flag alone");
    assert!(matches!(cli.command(), Sub::Serve { config: None, .. }));
}

/// The binary with no arguments serves the demo on 127.0.0.1:8080 (or,
/// when something else holds that port, fails naming it).
#[cfg(unix)]
#[test]
fn the_binary_without_arguments_serves_the_demo() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let dir = tempfile::tempdir().unwrap();
    let port_free = std::net::TcpListener::bind("127.0.0.1:8080").is_ok();
    let mut child = healthd()
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if !port_free {
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("8080"), "{err}");
        eprintln!("SKIPPED serving check: 127.0.0.1:8080 is in use here ({err})");
        return;
    }
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("healthd prints the dashboard URL");
    assert!(line.contains("http://127.0.0.1:8080/#token="), "{line}");
    let addr: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    assert_eq!(support::get(addr, "/health", None).status, 200);
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(dir.path().join("healthd.db").exists());
}

#[cfg(unix)]
#[test]
fn serve_prints_the_url_and_stops_cleanly_on_sigterm() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let dir = tempfile::tempdir().unwrap();
    let mut child = healthd()
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (etx, erx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push(line);
        }
        let _ = etx.send(all);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("healthd prints the dashboard URL");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let rest = url.strip_prefix("http://127.0.0.1:").unwrap();
    let (port, token) = rest.split_once("/#token=").unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(token.len(), 64);

    let health = support::get(addr, "/health", None);
    assert_eq!(health.status, 200);
    let targets = support::get(addr, "/targets", Some(token));
    assert_eq!(targets.status, 200);
    assert_eq!(targets.json()["total"], 5, "{}", targets.body);

    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let (wtx, wrx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = wtx.send(child.wait());
    });
    let status = wrx
        .recv_timeout(Duration::from_secs(30))
        .expect("healthd exits after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let logs = erx.recv_timeout(Duration::from_secs(10)).unwrap();
    // JSON logs, one object a line, ending with the orderly shutdown
    for l in &logs {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v.get("level").is_some(), "{l}");
    }
    let text = logs.join("\n");
    for step in [
        "SIGTERM received",
        "engine stopped",
        "store closed",
        "healthd stopped",
    ] {
        assert!(text.contains(step), "{step} missing from:\n{text}");
    }
    // the database was closed: WAL checkpointed and removed
    assert!(dir.path().join("healthd.db").exists());
    assert!(!dir.path().join("healthd.db-wal").exists());
}

#[test]
fn replay_prints_the_expected_decision_lines() {
    let root = Path::new(ROOT);
    let out = healthd()
        .args(["replay", "--config"])
        .arg(root.join("tests/healthd_support/replay.toml"))
        .arg("--input")
        .arg(root.join("docs/replay-example.jsonl"))
        // the webhook's secret is not needed: replay sends nothing
        .env_remove("HEALTHD_TEST_WEBHOOK_SECRET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(root.join("docs/replay-example.out.jsonl")).unwrap();
    let got = String::from_utf8(out.stdout).unwrap();
    assert_eq!(got, expected);

    // a bad input line is named with its line number and field
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"at\":\"2026-03-01T08:00:00Z\",\"target\":\"web\",\"check\":\"http\",\"outcome\":\"pass\"}\n{\"at\":\"2026-03-01T08:01:00Z\",\"target\":\"web\",\"check\":\"http\",\"outcome\":\"sideways\"}\n",
    )
    .unwrap();
    let bad = healthd()
        .args(["replay", "--config"])
        .arg(root.join("tests/healthd_support/replay.toml"))
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("in.jsonl:2: outcome"), "{err}");
}

/// Replay reads no secret: the example configuration replays with its
/// token, webhook secret and Slack URL variables unset, while
/// `check-config` of the same file still refuses it for them.
#[test]
fn replay_needs_no_secret_but_check_config_does() {
    let root = Path::new(ROOT);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"at":"2026-03-01T08:00:00Z","target":"db-1","outcome":"pass"}"#,
            "\n",
            r#"{"at":"2026-03-01T08:00:00Z","report":{"mac_address":"aa:bb:cc:00:11:22","event":"heartbeat"}}"#,
            "\n",
            r#"{"at":"2026-03-01T08:20:00Z"}"#,
            "\n",
        ),
    )
    .unwrap();
    let unset = |c: &mut Command| {
        for var in [
            "HEALTHD_ADMIN_TOKEN",
            "HEALTHD_WEBHOOK_SECRET",
            "HEALTHD_SLACK_URL",
            "HEALTHD_TEST_WEBHOOK_SECRET",
        ] {
            c.env_remove(var);
        }
    };
    let mut replay = healthd();
    replay
        .args([
            "replay",
            "--config",
            "examples/healthd.example.toml",
            "--input",
        ])
        .arg(&input)
        .current_dir(root);
    unset(&mut replay);
    let out = replay.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"type\":\"summary\""), "{stdout}");
    // node-7 reported at 08:00: stale by 08:20 (its heartbeat check says 10m)
    assert!(
        stdout.contains(
            r#""target":"node-7","check":"heartbeat","from":"healthy","to":"degraded","cause":"stale""#
        ),
        "{stdout}"
    );

    for config in [
        "examples/healthd.example.toml",
        "tests/healthd_support/replay.toml",
    ] {
        let mut check = healthd();
        check.args(["check-config", config]).current_dir(root);
        unset(&mut check);
        let out = check.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{config}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not set"), "{err}");
    }
}

/// MAC addresses: any spelling in the file (normalised, so a report in
/// another spelling finds its node), and a duplicate once normalised is the
/// same configuration error, with field and line, in `check-config` and
/// `replay` (exit 2).
#[test]
fn replay_and_check_config_agree_on_mac_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"at\":\"2026-03-01T08:00:00Z\",\"report\":{\"mac_address\":\"aabb.cc00.1122\",\"event\":\"heartbeat\"}}\n",
    )
    .unwrap();
    let upper = dir.path().join("upper.toml");
    std::fs::write(
        &upper,
        "[[targets]]\nid = \"node-1\"\nmac_address = \"AA:BB:CC:00:11:22\"\n",
    )
    .unwrap();
    let out = healthd().arg("check-config").arg(&upper).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = healthd()
        .args(["replay", "--config"])
        .arg(&upper)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#""target":"node-1","check":null,"from":"unknown","to":"healthy""#),
        "{stdout}"
    );

    let dup = dir.path().join("dup.toml");
    std::fs::write(
        &dup,
        "[[targets]]\nid = \"a\"\nmac_address = \"aa:bb:cc:00:11:22\"\n\n[[targets]]\nid = \"b\"\nmac_address = \"aa:bb:cc:00:11:22\"\n",
    )
    .unwrap();
    let expected = format!(
        "{}:7:15: targets[1].mac_address: duplicate MAC address aa:bb:cc:00:11:22",
        dup.display()
    );
    let check = healthd().arg("check-config").arg(&dup).output().unwrap();
    let replay = healthd()
        .args(["replay", "--config"])
        .arg(&dup)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    for out in [check, replay] {
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&expected), "{err}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

/// Input errors read `replay: FILE:LINE: FIELD: MESSAGE` (or `replay:
/// FILE: input is empty: nothing to replay`), exactly as docs/replay.md
/// shows them: every line below is in the doc, and is what `healthd
/// replay` prints for its input.
#[test]
fn replay_input_errors_read_as_documented() {
    let root = Path::new(ROOT);
    let config = root.join("tests/healthd_support/replay.toml");
    let doc = std::fs::read_to_string(root.join("docs/replay.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let ok = r#"{"at":"2026-03-01T08:00:00Z","target":"web","check":"http","outcome":"pass"}"#;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            format!("{ok}\n\n{}\n", r#"{"at":"2026-03-01T08:01:00Z","ack":{"target":"web","type":"down"}}"#).into_bytes(),
            "replay: in.jsonl:3: ack.by: is required",
        ),
        (
            format!("{ok}\n{}\n", r#"{"at":"2026-03-01T07:59:00Z"}"#).into_bytes(),
            "replay: in.jsonl:2: at: goes backwards: 2026-03-01T07:59:00+00:00 is before the previous line's 2026-03-01T08:00:00+00:00",
        ),
        (
            br#"{"at":"2026-03-01T08:00:00Z","target":"web","check":"dns","outcome":"pass"}"#.to_vec(),
            "replay: in.jsonl:1: check: unknown check dns on web",
        ),
        (
            br#"{"at":"2026-03-01T08:00:00Z","report":{"mac_address":"aa:bb:cc:00:11:22","event":"install_progress","progress":250}}"#.to_vec(),
            "replay: in.jsonl:1: report.progress: must be between 0 and 100",
        ),
        (
            br#"{"at":"2026-03-01T08:00:00Z","target":"web","outcome":"pass","colour":"red"}"#.to_vec(),
            "replay: in.jsonl:1: colour: unknown field; expected one of at, target, check, outcome, latency_ms, message",
        ),
        (
            b"{\"at\": yesterday}\n".to_vec(),
            "replay: in.jsonl:1: line: malformed JSON: expected value at line 1 column 8",
        ),
        (
            [ok.as_bytes(), b"\n{\"at\":\"2026-03-01T08:01:00Z\",\"target\":\"w\xe9b\"}\n"].concat(),
            "replay: in.jsonl:2: line: invalid UTF-8 at byte 41",
        ),
        (Vec::new(), "replay: in.jsonl: input is empty: nothing to replay"),
    ];
    for (text, expected) in &cases {
        std::fs::write(&input, text).unwrap();
        let mut out = Vec::new();
        let err = healthcore_suite::healthd::replay::run(&config, Path::new(&input), &mut out)
            .expect_err(expected)
            .to_string()
            .replace(&format!("{}/", dir.path().display()), "");
        assert_eq!(&err, expected);
        assert!(
            doc.contains(&format!("\n{expected}\n")),
            "docs/replay.md does not show:\n{expected}"
        );
    }

    // the binary prints it on stderr and exits 1; a byte order mark
    // opening the input is skipped
    std::fs::write(&input, "").unwrap();
    let out = healthd()
        .args(["replay", "--config"])
        .arg(&config)
        .args(["--input", "in.jsonl"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "replay: in.jsonl: input is empty: nothing to replay\n"
    );
    assert!(out.stdout.is_empty());
    std::fs::write(&input, format!("\u{feff}{ok}\r\n")).unwrap();
    let out = healthd()
        .args(["replay", "--config"])
        .arg(&config)
        .args(["--input", "in.jsonl"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(
        r#"{"type":"status_changed","at":"2026-03-01T08:00:00Z","target":"web","check":"http""#
    ));
}
