//! Helpers shared by the healthd tests: a minimal HTTP/1.1 client over a
//! std TcpStream (no extra dependency) and the path of the built
//! `healthd` example binary.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// A response: status code and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// `GET path` with an optional bearer token (blocking, 10 s deadline).
pub fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Response {
    request(addr, "GET", path, token, None)
}

/// `METHOD path` with an optional bearer token and JSON value as the body
/// (blocking, 10 s deadline).
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&serde_json::Value>,
) -> Response {
    let body = json.map(|j| j.to_string());
    request(addr, method, path, token, body.as_deref())
}

/// `POST path` with a JSON body and an optional bearer token (blocking,
/// 10 s deadline).
pub fn post(addr: SocketAddr, path: &str, token: Option<&str>, json: &str) -> Response {
    request(addr, "POST", path, token, Some(json))
}

/// One request with an optional bearer token and JSON body (blocking,
/// 10 s deadline).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&str>,
) -> Response {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = json
        .map(|b| {
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )
        })
        .unwrap_or_else(|| "\r\n".to_owned());
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n{body}"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a full response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Response {
        status,
        body: if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    }
}

/// The `healthd` example binary. `cargo test` builds examples with the
/// tests; when it did not (`cargo test --test NAME`) or the binary is older
/// than this test, it is built here (once per test process) with the same
/// profile.
pub fn healthd_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        let mut dir = exe.parent().expect("deps dir").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let release = dir.ends_with("release");
        let bin = dir.join("examples").join("healthd");
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if let (Some(b), Some(t)) = (modified(&bin), modified(&exe)) {
            if b >= t {
                return bin;
            }
        }
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "--example",
            "healthd",
            "--manifest-path",
            manifest,
        ]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build --example healthd");
        assert!(status.success(), "building the healthd example failed");
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
    .clone()
}
