//! The `http` probe: one HTTP(S) request per run, judged by status, body
//! and TLS certificate expiry, behind the egress guard.
//!
//! Outcomes: a transport error (DNS, TLS, timeout, no route) is
//! `unreachable`; a refused connection (the host answered, nothing listens:
//! the service is down, which healing can fix) is `fail`; an unexpected status or a body condition not met is
//! `fail`; a success slower than `warn_after` or a certificate expiring
//! within `cert_expiry_warn_days` is `warn`; a destination refused by the
//! egress policy or bad params is `unknown` (a checker-side fault, never
//! healed). Redirects are followed up to `max_redirects`, each hop checked
//! by the policy; the body is read up to `max_bytes`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use healthcore::ValidationError;
use healthcore::checker::Checker;
use healthcore::model::{CheckSpec, Observation, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    EgressError, EgressPolicy, NameResolver, RootCertificate, SystemResolver, egress_cause,
    guarded_client,
};

/// An accepted status range, written as `200`, `"200-299"` or `"2xx"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "String")]
pub struct StatusRange {
    /// Lowest accepted.
    pub min: u16,
    /// Highest accepted.
    pub max: u16,
}

impl TryFrom<Value> for StatusRange {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, Self::Error> {
        let bad =
            || format!("{v} is not a status, a range like \"200-299\" or a class like \"2xx\"");
        let (min, max) = match &v {
            Value::Number(n) => {
                let s = n
                    .as_u64()
                    .and_then(|x| u16::try_from(x).ok())
                    .ok_or_else(bad)?;
                (s, s)
            }
            Value::String(s) => {
                let s = s.trim();
                if let Some(c) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
                    let d: u16 = c.parse().map_err(|_| bad())?;
                    (d * 100, d * 100 + 99)
                } else if let Some((a, b)) = s.split_once('-') {
                    (
                        a.trim().parse().map_err(|_| bad())?,
                        b.trim().parse().map_err(|_| bad())?,
                    )
                } else {
                    let x: u16 = s.parse().map_err(|_| bad())?;
                    (x, x)
                }
            }
            _ => return Err(bad()),
        };
        if !(100..=599).contains(&min) || !(100..=599).contains(&max) || min > max {
            return Err(bad());
        }
        Ok(Self { min, max })
    }
}

impl From<StatusRange> for String {
    fn from(r: StatusRange) -> String {
        if r.min == r.max {
            r.min.to_string()
        } else {
            format!("{}-{}", r.min, r.max)
        }
    }
}

impl StatusRange {
    fn contains(&self, s: u16) -> bool {
        (self.min..=self.max).contains(&s)
    }
}

/// A body condition: the value at a JSON pointer equals `equals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPointerEquals {
    /// RFC 6901 pointer, e.g. `/status`.
    pub pointer: String,
    /// The expected value.
    pub equals: Value,
}

/// The probe's `params`.
///
/// ```
/// use healthcore_http::client::HttpProbeParams;
/// let p: HttpProbeParams = serde_json::from_value(serde_json::json!({
///     "url": "https://example.com/health",
///     "expected_status": ["2xx", 304],
///     "body_contains": "ok",
///     "warn_after": "500ms"
/// })).unwrap();
/// assert_eq!(p.method, "GET");
/// assert_eq!(p.max_redirects, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbeParams {
    /// The URL (http or https).
    pub url: String,
    /// GET (default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
    #[serde(default = "get")]
    pub method: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Accepted statuses (default 200-399).
    #[serde(default = "default_status")]
    pub expected_status: Vec<StatusRange>,
    /// The body must contain this text.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// The body must be JSON with this value at this pointer.
    #[serde(default)]
    pub json_pointer: Option<JsonPointerEquals>,
    /// Warn when the server certificate expires within this many days.
    #[serde(default)]
    pub cert_expiry_warn_days: Option<u32>,
    /// Most response bytes read (default 1 MiB, at most 16 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Most redirects followed (default 5, at most 20; 0 = none).
    #[serde(default = "default_redirects")]
    pub max_redirects: u32,
    /// Per-request timeout (default: the check's timeout).
    #[serde(default, with = "humantime_serde")]
    pub request_timeout: Option<Duration>,
    /// A success slower than this is `warn`.
    #[serde(default, with = "humantime_serde")]
    pub warn_after: Option<Duration>,
}

fn get() -> String {
    "GET".into()
}
fn default_status() -> Vec<StatusRange> {
    vec![StatusRange { min: 200, max: 399 }]
}
fn default_max_bytes() -> usize {
    1024 * 1024
}
fn default_redirects() -> u32 {
    5
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl HttpProbeParams {
    /// Checks every rule; the error names the field (`params.url`, …).
    pub fn validate(&self, policy: &EgressPolicy) -> Result<(), ValidationError> {
        policy
            .check_url(&self.url)
            .map_err(|e| ValidationError::new("params.url", e.to_string()))?;
        if !METHODS.contains(&self.method.to_ascii_uppercase().as_str()) {
            return Err(ValidationError::new(
                "params.method",
                "must be GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
            ));
        }
        for (k, v) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(v).is_err()
            {
                return Err(ValidationError::new(
                    "params.headers",
                    format!("header {k:?} is not a valid header"),
                ));
            }
        }
        if self.expected_status.is_empty() {
            return Err(ValidationError::new(
                "params.expected_status",
                "must list at least one status",
            ));
        }
        if self.max_bytes == 0 || self.max_bytes > 16 * 1024 * 1024 {
            return Err(ValidationError::new(
                "params.max_bytes",
                "must be 1..=16 MiB",
            ));
        }
        if self.max_redirects > 20 {
            return Err(ValidationError::new(
                "params.max_redirects",
                "must be 0..=20",
            ));
        }
        if let Some(p) = &self.json_pointer {
            if !(p.pointer.is_empty() || p.pointer.starts_with('/')) {
                return Err(ValidationError::new(
                    "params.json_pointer.pointer",
                    "must be empty or start with '/'",
                ));
            }
        }
        if self.request_timeout.is_some_and(|t| t.is_zero()) {
            return Err(ValidationError::new(
                "params.request_timeout",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// The `http` checker.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    policy: Arc<EgressPolicy>,
    client: reqwest::Client,
}

impl HttpProbe {
    /// A probe under `policy` with the system resolver.
    pub fn new(policy: EgressPolicy) -> Result<Self, ValidationError> {
        Self::with_resolver(policy, Arc::new(SystemResolver), &[])
    }

    /// A probe under `policy` resolving through `resolver` and trusting
    /// `extra_roots` (DER) beside the webpki roots.
    pub fn with_resolver(
        policy: EgressPolicy,
        resolver: Arc<dyn NameResolver>,
        extra_roots: &[RootCertificate],
    ) -> Result<Self, ValidationError> {
        let policy = Arc::new(policy);
        let client = guarded_client(
            policy.clone(),
            resolver,
            extra_roots,
            Duration::from_secs(10),
        )
        .map_err(|e| ValidationError::new("tls", e))?;
        Ok(Self { policy, client })
    }

    fn params(&self, spec: &CheckSpec) -> Result<HttpProbeParams, ValidationError> {
        let p: HttpProbeParams = serde_path_to_error::deserialize(&spec.params).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "params".to_owned()
            } else {
                format!("params.{path}")
            };
            ValidationError::new(field, e.inner().to_string())
        })?;
        p.validate(&self.policy)?;
        Ok(p)
    }

    async fn run(&self, spec: &CheckSpec, extended: bool) -> Observation {
        let start = Instant::now();
        let p = match self.params(spec) {
            Ok(p) => p,
            Err(e) => {
                return Observation::new(Utc::now(), Outcome::Unknown).with_message(e.to_string());
            }
        };
        let timeout = p.request_timeout.unwrap_or(spec.timeout);
        let mut url = match self.policy.check_url(&p.url) {
            Ok(u) => u,
            Err(e) => return refused(&e),
        };
        let mut method = reqwest::Method::from_bytes(p.method.to_ascii_uppercase().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut body = p.body.clone();
        let mut redirects = 0u32;
        let res = loop {
            let mut req = self
                .client
                .request(method.clone(), url.clone())
                .timeout(timeout);
            for (k, v) in &p.headers {
                req = req.header(k, v);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let res = match req.send().await {
                Ok(r) => r,
                Err(e) => return transport_error(&e, start.elapsed()),
            };
            let status = res.status();
            if status.is_redirection() && redirects < p.max_redirects {
                let Some(loc) = res
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                else {
                    break res;
                };
                let next = match url.join(loc) {
                    Ok(u) => u,
                    Err(_) => {
                        return Observation::new(Utc::now(), Outcome::Fail)
                            .with_latency(start.elapsed())
                            .with_message("redirect with an invalid Location");
                    }
                };
                if let Err(e) = self.policy.check_parsed(&next) {
                    return refused(&e).with_latency(start.elapsed());
                }
                if status == reqwest::StatusCode::SEE_OTHER
                    || ((status == reqwest::StatusCode::MOVED_PERMANENTLY
                        || status == reqwest::StatusCode::FOUND)
                        && method == reqwest::Method::POST)
                {
                    method = reqwest::Method::GET;
                    body = None;
                }
                url = next;
                redirects += 1;
                continue;
            }
            break res;
        };
        let status = res.status().as_u16();
        let cert_days = res
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|t| t.peer_certificate())
            .and_then(cert_days_left);
        let (bytes, truncated) = match read_capped(res, p.max_bytes).await {
            Ok(b) => b,
            Err(e) => return transport_error(&e, start.elapsed()),
        };
        let latency = start.elapsed();
        let mut details = json!({
            "status_code": status,
            "redirects": redirects,
            "bytes": bytes.len(),
            "truncated": truncated,
            "cert_days_left": cert_days,
        });
        if extended {
            if let Value::Object(m) = &mut details {
                let mut shown = url.clone();
                let _ = shown.set_password(None);
                let _ = shown.set_username("");
                m.insert("final_url".into(), json!(shown.as_str()));
                m.insert(
                    "body_preview".into(),
                    json!(String::from_utf8_lossy(&bytes[..bytes.len().min(512)])),
                );
            }
        }
        let obs = |o: Outcome, msg: String| {
            Observation::new(Utc::now(), o)
                .with_latency(latency)
                .with_message(msg)
                .with_details(details.clone())
        };
        if !p.expected_status.iter().any(|r| r.contains(status)) {
            return obs(Outcome::Fail, format!("unexpected status {status}"));
        }
        if let Some(want) = &p.body_contains {
            if !contains(&bytes, want.as_bytes()) {
                return obs(Outcome::Fail, format!("body does not contain {want:?}"));
            }
        }
        if let Some(jp) = &p.json_pointer {
            if truncated {
                return obs(
                    Outcome::Fail,
                    "body exceeds max_bytes; JSON not checked".into(),
                );
            }
            let v: Value = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) => return obs(Outcome::Fail, "body is not JSON".into()),
            };
            match v.pointer(&jp.pointer) {
                Some(found) if *found == jp.equals => {}
                Some(found) => {
                    return obs(
                        Outcome::Fail,
                        format!("{} is {found}, expected {}", jp.pointer, jp.equals),
                    );
                }
                None => return obs(Outcome::Fail, format!("{} is missing", jp.pointer)),
            }
        }
        if let (Some(days), Some(warn)) = (cert_days, p.cert_expiry_warn_days) {
            if days < i64::from(warn) {
                return obs(Outcome::Warn, format!("certificate expires in {days} days"));
            }
        }
        if p.warn_after.is_some_and(|w| latency > w) {
            return obs(Outcome::Warn, format!("slow: {} ms", latency.as_millis()));
        }
        obs(Outcome::Pass, format!("status {status}"))
    }
}

/// Whether an I/O "connection refused" is somewhere in the error's chain.
fn is_refused(e: &reqwest::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

fn refused(e: &EgressError) -> Observation {
    Observation::new(Utc::now(), Outcome::Unknown)
        .with_message(format!("refused by egress policy: {e}"))
}

fn transport_error(e: &reqwest::Error, latency: Duration) -> Observation {
    if let Some(eg) = egress_cause(e) {
        return match eg {
            EgressError::Resolve(_) => Observation::new(Utc::now(), Outcome::Unreachable)
                .with_latency(latency)
                .with_message(eg.to_string()),
            other => refused(&other).with_latency(latency),
        };
    }
    if e.is_connect() && is_refused(e) {
        return Observation::new(Utc::now(), Outcome::Fail)
            .with_latency(latency)
            .with_message("connection refused");
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    Observation::new(Utc::now(), Outcome::Unreachable)
        .with_latency(latency)
        .with_message(what)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads at most `cap` bytes; the flag says whether more was left.
async fn read_capped(
    mut res: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        let room = cap.saturating_sub(out.len());
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, false))
}

/// Whole days until the certificate's notAfter (negative when expired).
fn cert_days_left(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    Some((not_after - Utc::now().timestamp()).div_euclid(86_400))
}

#[async_trait]
impl Checker for HttpProbe {
    fn kind(&self) -> &str {
        "http"
    }

    fn validate(&self, spec: &CheckSpec) -> Result<(), ValidationError> {
        self.params(spec).map(|_| ())
    }

    async fn check(&self, spec: &CheckSpec) -> Observation {
        self.run(spec, false).await
    }

    async fn diagnose(&self, spec: &CheckSpec) -> Observation {
        self.run(spec, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges() {
        let r: Vec<StatusRange> =
            serde_json::from_value(json!([200, "2xx", "300-302", " 404 "])).unwrap();
        assert_eq!(r[0], StatusRange { min: 200, max: 200 });
        assert_eq!(r[1], StatusRange { min: 200, max: 299 });
        assert_eq!(r[2], StatusRange { min: 300, max: 302 });
        assert_eq!(r[3], StatusRange { min: 404, max: 404 });
        for bad in [
            json!(99),
            json!("600"),
            json!("3xx-"),
            json!("302-300"),
            json!(true),
            json!(70000),
        ] {
            assert!(
                serde_json::from_value::<StatusRange>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(String::from(StatusRange { min: 200, max: 299 }), "200-299");
    }

    fn spec(params: Value) -> CheckSpec {
        CheckSpec::new("http").with_params(params)
    }

    #[test]
    fn validation_names_fields() {
        let probe = HttpProbe::new(EgressPolicy::probes()).unwrap();
        let cases = [
            (json!({}), "params"),
            (json!({"url": "ftp://example.com"}), "params.url"),
            (json!({"url": "http://127.0.0.1/"}), "params.url"),
            (
                json!({"url": "https://example.com", "method": "BREW"}),
                "params.method",
            ),
            (
                json!({"url": "https://example.com", "max_bytes": 0}),
                "params.max_bytes",
            ),
            (
                json!({"url": "https://example.com", "max_redirects": 50}),
                "params.max_redirects",
            ),
            (
                json!({"url": "https://example.com", "expected_status": []}),
                "params.expected_status",
            ),
            (
                json!({"url": "https://example.com", "expected_status": ["9xx"]}),
                "params.expected_status[0]",
            ),
            (
                json!({"url": "https://example.com", "headers": {"bad header": "x"}}),
                "params.headers",
            ),
            (
                json!({"url": "https://example.com", "json_pointer": {"pointer": "status", "equals": 1}}),
                "params.json_pointer.pointer",
            ),
            (
                json!({"url": "https://example.com", "warn_after": "soon"}),
                "params.warn_after",
            ),
            (
                json!({"url": "https://example.com", "retries": 1}),
                "params.retries",
            ),
        ];
        for (p, field) in cases {
            let e = probe.validate(&spec(p.clone())).unwrap_err();
            assert_eq!(e.field(), field, "{p}: {e}");
        }
        assert!(
            probe
                .validate(&spec(json!({"url": "https://example.com/health"})))
                .is_ok()
        );
    }

    #[test]
    fn helpers() {
        assert!(contains(b"hello world", b"o w"));
        assert!(!contains(b"hello", b"hello!"));
        assert!(contains(b"", b""));
        assert_eq!(cert_days_left(b"not a cert"), None);
    }
}
