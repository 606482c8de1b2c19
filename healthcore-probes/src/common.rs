//! Helpers every probe shares: params parsing with the field named,
//! host/port rules, the one-deadline clock, connecting, capping output and
//! building the [`Observation`].
//!
//! Owns nothing probe-specific; must not judge outcomes beyond the common
//! connect-error mapping (refused/timeout → `unreachable`, resolve →
//! `unknown`).
#![allow(dead_code)]

use std::fmt::Write as _;
use std::time::Duration;

use chrono::Utc;
use healthcore::ValidationError;
use healthcore::model::{CheckSpec, Observation, Outcome};
use serde::de::DeserializeOwned;

/// Longest host name accepted (RFC 1035 limit for a full name).
pub(crate) const MAX_HOST_LEN: usize = 253;

/// Parses `spec.params` into `P`, naming the offending field as
/// `params.<path>` on error.
pub(crate) fn parse_params<P: DeserializeOwned>(spec: &CheckSpec) -> Result<P, ValidationError> {
    if !spec.params.is_object() {
        return Err(ValidationError::new("params", "must be a JSON object"));
    }
    serde_path_to_error::deserialize::<_, P>(&spec.params).map_err(|e| {
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        let root = path.is_empty() || path == ".";
        // A missing field is reported at its parent; take the name serde
        // put in back-quotes.
        let missing = inner.starts_with("missing field");
        let field = match (root, missing.then(|| backquoted(&inner)).flatten()) {
            (true, Some(name)) => format!("params.{name}"),
            (true, None) => "params".to_owned(),
            (false, Some(name)) => format!("params.{path}.{name}"),
            (false, None) => format!("params.{path}"),
        };
        ValidationError::new(field, inner)
    })
}

fn backquoted(s: &str) -> Option<&str> {
    let start = s.find('`')? + 1;
    let len = s.get(start..)?.find('`')?;
    s.get(start..start + len)
}

/// Host rule: 1..=253 characters, no whitespace or control characters.
/// IP literals (v4 and v6, without brackets) and DNS names pass.
pub(crate) fn check_host(field: &'static str, host: &str) -> Result<(), ValidationError> {
    if host.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if host.len() > MAX_HOST_LEN {
        return Err(ValidationError::new(
            field,
            "must be at most 253 characters",
        ));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '[' || c == ']')
    {
        return Err(ValidationError::new(
            field,
            "must be a host name or an IP address (no brackets, spaces or slashes)",
        ));
    }
    Ok(())
}

/// Port rule: 1..=65535 (`u16` already caps the top).
pub(crate) fn check_port(field: &'static str, port: u16) -> Result<(), ValidationError> {
    if port == 0 {
        return Err(ValidationError::new(field, "must be in 1..=65535"));
    }
    Ok(())
}

/// The probe's one deadline and its latency clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// Latency clock (std, per the brief).
    pub started: std::time::Instant,
    /// The deadline for the whole probe, on tokio's clock.
    pub deadline: tokio::time::Instant,
    /// The timeout the deadline came from.
    pub timeout: Duration,
}

impl Clock {
    /// Starts now with `spec.timeout` as the whole probe's deadline.
    pub(crate) fn start(spec: &CheckSpec) -> Self {
        Self::start_with(spec.timeout)
    }

    /// Starts now with `timeout` as the deadline.
    pub(crate) fn start_with(timeout: Duration) -> Self {
        Self {
            started: std::time::Instant::now(),
            deadline: tokio::time::Instant::now() + timeout,
            timeout,
        }
    }

    /// Time left before the deadline (zero when past).
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// Time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// An observation stamped now, with the latency so far.
    pub(crate) fn observe(
        &self,
        outcome: Outcome,
        message: impl Into<String>,
        details: serde_json::Value,
    ) -> Observation {
        observation(outcome, self.elapsed(), message, details)
    }

    /// `unknown` for params that did not parse.
    pub(crate) fn bad_params(&self, err: &ValidationError) -> Observation {
        self.observe(
            Outcome::Unknown,
            format!("invalid params: {err}"),
            serde_json::json!({ "field": err.field() }),
        )
    }
}

/// Builds an observation stamped now.
pub(crate) fn observation(
    outcome: Outcome,
    latency: Duration,
    message: impl Into<String>,
    details: serde_json::Value,
) -> Observation {
    Observation {
        at: Utc::now(),
        outcome,
        latency: Some(latency),
        message: Some(message.into()),
        details: Some(details),
    }
}

/// Milliseconds as a float, for details.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Lossy UTF-8 of at most `max` bytes; a character cut at the end is
/// dropped rather than replaced.
pub(crate) fn capped_text(bytes: &[u8], max: usize) -> String {
    let slice = bytes.get(..max.min(bytes.len())).unwrap_or(bytes);
    match std::str::from_utf8(slice) {
        Ok(s) => s.to_owned(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(slice.get(..e.valid_up_to()).unwrap_or(&[])).into_owned()
        }
        Err(_) => String::from_utf8_lossy(slice).into_owned(),
    }
}

/// The first non-empty line of `text`, at most `max` characters, for a
/// short message.
pub(crate) fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(max).collect();
    if line.chars().count() > max {
        out.push('…');
    }
    out
}

/// `host:port` for messages, bracketing IPv6 literals.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    let mut s = String::with_capacity(host.len() + 8);
    if host.contains(':') {
        let _ = write!(s, "[{host}]:{port}");
    } else {
        let _ = write!(s, "{host}:{port}");
    }
    s
}

/// Why a TCP connect did not happen.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The name did not resolve (checker-side: `unknown`).
    Resolve(std::io::Error),
    /// The name resolved to nothing.
    NoAddress,
    /// The deadline passed first.
    Timeout,
    /// The last address's connect error.
    Io(std::io::Error),
}

impl ConnectError {
    /// `unknown` for resolution faults, `unreachable` for the network.
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            ConnectError::Resolve(_) | ConnectError::NoAddress => Outcome::Unknown,
            ConnectError::Timeout | ConnectError::Io(_) => Outcome::Unreachable,
        }
    }

    /// A short message naming what was tried.
    pub(crate) fn message(&self, target: &str) -> String {
        match self {
            ConnectError::Resolve(e) => format!("could not resolve {target}: {e}"),
            ConnectError::NoAddress => format!("{target} resolved to no address"),
            ConnectError::Timeout => format!("connect to {target} timed out"),
            ConnectError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                format!("connection to {target} refused")
            }
            ConnectError::Io(e) => format!("connect to {target} failed: {e}"),
        }
    }

    /// A stable snake_case name for details.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ConnectError::Resolve(_) => "resolve_failed",
            ConnectError::NoAddress => "no_address",
            ConnectError::Timeout => "connect_timeout",
            ConnectError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused",
            ConnectError::Io(_) => "connect_failed",
        }
    }

    /// The observation for this error.
    pub(crate) fn observe(&self, clock: &Clock, target: &str) -> Observation {
        clock.observe(
            self.outcome(),
            self.message(target),
            serde_json::json!({ "address": target, "error": self.code() }),
        )
    }
}

/// Resolves `host` and connects to the first address that answers, all
/// before `deadline`. Returns the stream and the peer address.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    deadline: tokio::time::Instant,
) -> Result<(tokio::net::TcpStream, std::net::SocketAddr), ConnectError> {
    let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => {
            match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port))).await {
                Err(_) => return Err(ConnectError::Timeout),
                Ok(Err(e)) => return Err(ConnectError::Resolve(e)),
                Ok(Ok(it)) => it.collect(),
            }
        }
    };
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnectError::Timeout),
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(e)) => last = Some(e),
        }
    }
    Err(last.map_or(ConnectError::NoAddress, ConnectError::Io))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct P {
        port: u16,
        #[serde(default)]
        argv: Vec<String>,
        #[serde(default)]
        inner: Option<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: u8,
    }

    fn field(params: serde_json::Value) -> String {
        let spec = CheckSpec::new("x").with_params(params);
        parse_params::<P>(&spec).unwrap_err().field().to_owned()
    }

    #[test]
    fn parse_errors_name_the_field() {
        assert_eq!(field(serde_json::json!({})), "params.port");
        assert_eq!(field(serde_json::json!({"port": 70000})), "params.port");
        assert_eq!(field(serde_json::json!({"port": "x"})), "params.port");
        assert_eq!(
            field(serde_json::json!({"port": 1, "bogus": 1})),
            "params.bogus"
        );
        assert_eq!(
            field(serde_json::json!({"port": 1, "argv": [1]})),
            "params.argv[0]"
        );
        assert_eq!(
            field(serde_json::json!({"port": 1, "inner": {"b": 1}})),
            "params.inner.b"
        );
        assert_eq!(field(serde_json::json!([1])), "params");
    }

    #[test]
    fn host_and_port_rules() {
        assert!(check_host("params.host", "example.com").is_ok());
        assert!(check_host("params.host", "::1").is_ok());
        assert!(check_host("params.host", "").is_err());
        assert!(check_host("params.host", "a b").is_err());
        assert!(check_host("params.host", "[::1]").is_err());
        assert!(check_host("params.host", &"a".repeat(254)).is_err());
        assert!(check_port("params.port", 0).is_err());
        assert!(check_port("params.port", 65535).is_ok());
    }

    #[test]
    fn text_helpers() {
        assert_eq!(capped_text(b"hello", 3), "hel");
        assert_eq!(capped_text("é".as_bytes(), 1), "");
        assert_eq!(capped_text(b"a\xffb", 3), "a\u{fffd}b");
        assert_eq!(capped_text(b"", 3), "");
        assert_eq!(first_line("\n  \n  active \nx", 10), "active");
        assert_eq!(first_line("abcdef", 3), "abc…");
        assert_eq!(host_port("::1", 22), "[::1]:22");
        assert_eq!(host_port("a", 22), "a:22");
    }
}
