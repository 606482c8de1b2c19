//! Notifiers over HTTP: a generic webhook signed per Standard Webhooks
//! and a Slack incoming webhook.
//!
//! Standard Webhooks (<https://www.standardwebhooks.com/>): each delivery
//! carries `webhook-id` (the notification id, the same on every retry so
//! receivers deduplicate), `webhook-timestamp` (Unix seconds of this
//! attempt) and `webhook-signature: v1,<base64(HMAC-SHA256(secret,
//! "{id}.{timestamp}.{body}"))>`. Secrets are `whsec_<base64>` (or raw
//! bytes) of at least 24 bytes. A 2xx is delivered; a 3xx is a failure
//! (redirects are not followed); 408, 429, 5xx and transport errors are
//! retried with doubling backoff; other 4xx and egress refusals are
//! permanent. Payloads are built with serde_json only.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use healthcore::ValidationError;
use healthcore::alert::NotificationKind;
use healthcore::notify::{Audience, Notification, Notifier, NotifyError};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{
    EgressError, EgressPolicy, NameResolver, SystemResolver, egress_cause, guarded_client,
};

/// A webhook signing secret (at least 24 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// `whsec_<base64>` or raw text; the error names `secret`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let bytes = match s.strip_prefix("whsec_") {
            Some(b) => B64
                .decode(b)
                .map_err(|_| ValidationError::new("secret", "whsec_ secret is not valid base64"))?,
            None => s.as_bytes().to_vec(),
        };
        Self::from_bytes(bytes)
    }

    /// Raw key bytes; the error names `secret`.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ValidationError> {
        if bytes.len() < 24 {
            return Err(ValidationError::new("secret", "must be at least 24 bytes"));
        }
        Ok(Self(bytes))
    }
}

/// The Standard Webhooks signature header value for one delivery:
/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(&secret.0) {
        Ok(m) => m,
        Err(_) => return String::new(), // HMAC takes keys of any length
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Retry settings shared by both notifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    attempts: u32,
    backoff: Duration,
    timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
enum Attempt {
    Done,
    Retry(String),
    Stop(String),
}

async fn post(
    client: &reqwest::Client,
    url: &url::Url,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> Attempt {
    let mut req = client
        .post(url.clone())
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    match req.send().await {
        Ok(res) => {
            let s = res.status();
            if s.is_success() {
                Attempt::Done
            } else if s.is_redirection() {
                Attempt::Stop(format!("answered {s}: redirects are not followed"))
            } else if s.is_server_error()
                || s == reqwest::StatusCode::TOO_MANY_REQUESTS
                || s == reqwest::StatusCode::REQUEST_TIMEOUT
            {
                Attempt::Retry(format!("answered {s}"))
            } else {
                Attempt::Stop(format!("answered {s}"))
            }
        }
        Err(e) => match egress_cause(&e) {
            Some(EgressError::Resolve(h)) => Attempt::Retry(format!("could not resolve {h}")),
            Some(other) => Attempt::Stop(format!("refused by egress policy: {other}")),
            None if e.is_timeout() => Attempt::Retry("timed out".into()),
            None => Attempt::Retry("connection failed".into()),
        },
    }
}

fn kind_name(k: NotificationKind) -> &'static str {
    match k {
        NotificationKind::Firing => "firing",
        NotificationKind::Resolved => "resolved",
        NotificationKind::Reminder => "reminder",
        NotificationKind::Escalation => "escalation",
        #[allow(unreachable_patterns)]
        _ => "notice",
    }
}

/// A Standard Webhooks-signed JSON webhook.
///
/// Per-target URLs: a notification whose
/// [`Routing::webhook_url`](healthcore::notify::Routing) is set (the
/// target's alert channel config has a `webhook_url`) is delivered to
/// *that* URL **instead of** the notifier's own, signed with the same
/// secret; the URL is checked by the notifier's egress policy before each
/// delivery and again after DNS resolution (a refused URL is a permanent
/// failure). A notifier made with [`WebhookNotifier::routed`] has no URL
/// of its own and only accepts notifications that carry one. Its channel
/// name is `webhook` unless [renamed](WebhookNotifier::named).
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    name: String,
    url: Option<url::Url>,
    policy: Arc<EgressPolicy>,
    secret: WebhookSecret,
    client: reqwest::Client,
    retry: Retry,
    audience: Audience,
}

impl WebhookNotifier {
    /// A webhook to `url` (checked by [`EgressPolicy::webhooks`]) signed
    /// with `secret`, resolving with the system resolver.
    pub fn new(url: &str, secret: WebhookSecret) -> Result<Self, ValidationError> {
        Self::with_policy(
            url,
            secret,
            EgressPolicy::webhooks(),
            Arc::new(SystemResolver),
        )
    }

    /// A webhook under another policy and resolver; the error names `url`.
    pub fn with_policy(
        url: &str,
        secret: WebhookSecret,
        policy: EgressPolicy,
        resolver: Arc<dyn NameResolver>,
    ) -> Result<Self, ValidationError> {
        let parsed = policy
            .check_url(url)
            .map_err(|e| ValidationError::new("url", e.to_string()))?;
        Self::build(Some(parsed), secret, policy, resolver)
    }

    /// A webhook without a URL of its own: it delivers only the
    /// notifications of targets whose alert channel config names a
    /// `webhook_url`, checked by `policy`.
    pub fn routed(
        secret: WebhookSecret,
        policy: EgressPolicy,
        resolver: Arc<dyn NameResolver>,
    ) -> Result<Self, ValidationError> {
        Self::build(None, secret, policy, resolver)
    }

    fn build(
        url: Option<url::Url>,
        secret: WebhookSecret,
        policy: EgressPolicy,
        resolver: Arc<dyn NameResolver>,
    ) -> Result<Self, ValidationError> {
        let policy = Arc::new(policy);
        let client = guarded_client(policy.clone(), resolver, &[], Duration::from_secs(10))
            .map_err(|e| ValidationError::new("tls", e))?;
        Ok(Self {
            name: "webhook".into(),
            url,
            policy,
            secret,
            client,
            retry: Retry::default(),
            audience: Audience::External,
        })
    }

    /// Where `n` goes: the target's own URL when its routing has one
    /// (checked by the egress policy), else this notifier's URL.
    fn destination(&self, n: &Notification) -> Result<url::Url, NotifyError> {
        match &n.routing.webhook_url {
            Some(u) => self.policy.check_url(u).map_err(|e| {
                NotifyError::Permanent(format!("target webhook_url refused by egress policy: {e}"))
            }),
            None => self
                .url
                .clone()
                .ok_or_else(|| NotifyError::Permanent("no webhook URL for this target".into())),
        }
    }

    /// Renames the channel (default `webhook`).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets attempts (1..=10), first backoff and per-attempt timeout.
    #[must_use]
    pub fn retries(mut self, attempts: u32, backoff: Duration, timeout: Duration) -> Self {
        self.retry = Retry {
            attempts: attempts.clamp(1, 10),
            backoff,
            timeout,
        };
        self
    }

    /// Serves the dashboard audience instead of external channels.
    #[must_use]
    pub fn audience(mut self, audience: Audience) -> Self {
        self.audience = audience;
        self
    }

    /// The JSON body of a notification (Standard Webhooks' recommended
    /// `{"type", "timestamp", "data"}` shape).
    pub fn payload(n: &Notification) -> Vec<u8> {
        let body = json!({
            "type": format!("alert.{}", kind_name(n.kind)),
            "timestamp": n.at,
            "data": {
                "id": n.id,
                "kind": kind_name(n.kind),
                "audience": n.audience,
                "summary": n.summary(),
                "target_name": n.target_name,
                "tenant": n.tenant,
                "alert": n.alert,
            },
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn audience(&self) -> Audience {
        self.audience
    }

    fn accepts(&self, n: &Notification) -> bool {
        self.url.is_some() || n.routing.webhook_url.is_some()
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = self.destination(n)?;
        let body = Self::payload(n);
        let mut delay = self.retry.backoff;
        let mut last = String::new();
        for attempt in 0..self.retry.attempts {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            let ts = chrono::Utc::now().timestamp();
            let headers = [
                ("webhook-id", n.id.clone()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sign(&self.secret, &n.id, ts, &body)),
            ];
            match post(&self.client, &url, &headers, &body, self.retry.timeout).await {
                Attempt::Done => return Ok(()),
                Attempt::Stop(m) => return Err(NotifyError::Permanent(m)),
                Attempt::Retry(m) => last = m,
            }
        }
        Err(NotifyError::Transient(last))
    }
}

/// A Slack incoming-webhook notifier (`https` only).
#[derive(Debug, Clone)]
pub struct SlackNotifier {
    url: url::Url,
    client: reqwest::Client,
    retry: Retry,
}

impl SlackNotifier {
    /// A notifier posting to a Slack incoming-webhook URL.
    pub fn new(url: &str) -> Result<Self, ValidationError> {
        Self::with_policy(
            url,
            EgressPolicy::webhooks().schemes(&["https"]),
            Arc::new(SystemResolver),
        )
    }

    /// The same under another policy and resolver; the error names `url`.
    pub fn with_policy(
        url: &str,
        policy: EgressPolicy,
        resolver: Arc<dyn NameResolver>,
    ) -> Result<Self, ValidationError> {
        let parsed = policy
            .check_url(url)
            .map_err(|e| ValidationError::new("url", e.to_string()))?;
        let client = guarded_client(Arc::new(policy), resolver, &[], Duration::from_secs(10))
            .map_err(|e| ValidationError::new("tls", e))?;
        Ok(Self {
            url: parsed,
            client,
            retry: Retry::default(),
        })
    }

    /// Sets attempts (1..=10), first backoff and per-attempt timeout.
    #[must_use]
    pub fn retries(mut self, attempts: u32, backoff: Duration, timeout: Duration) -> Self {
        self.retry = Retry {
            attempts: attempts.clamp(1, 10),
            backoff,
            timeout,
        };
        self
    }

    /// The Slack message of a notification.
    pub fn payload(n: &Notification) -> Vec<u8> {
        let color = match (n.kind, n.alert.severity) {
            (NotificationKind::Resolved, _) => "#2eb886",
            (_, healthcore::alert::Severity::Critical) => "#d00000",
            _ => "#daa038",
        };
        let body = json!({
            "text": n.summary(),
            "attachments": [{
                "color": color,
                "fields": [
                    {"title": "Target", "value": n.target_name, "short": true},
                    {"title": "Severity", "value": n.alert.severity.as_str(), "short": true},
                    {"title": "Status", "value": n.alert.status.as_str(), "short": true},
                    {"title": "Tenant", "value": n.tenant, "short": true},
                ],
                "ts": n.at.timestamp(),
            }],
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn name(&self) -> &str {
        "slack"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = Self::payload(n);
        let mut delay = self.retry.backoff;
        let mut last = String::new();
        for attempt in 0..self.retry.attempts {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            match post(&self.client, &self.url, &[], &body, self.retry.timeout).await {
                Attempt::Done => return Ok(()),
                Attempt::Stop(m) => return Err(NotifyError::Permanent(m)),
                Attempt::Retry(m) => last = m,
            }
        }
        Err(NotifyError::Transient(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets() {
        assert_eq!(WebhookSecret::parse("short").unwrap_err().field(), "secret");
        assert!(WebhookSecret::parse("whsec_!!!").is_err());
        let s = WebhookSecret::parse(&format!("whsec_{}", B64.encode([7u8; 32]))).unwrap();
        assert_eq!(s.0.len(), 32);
        assert!(WebhookSecret::parse("a-raw-secret-of-24-bytes!").is_ok());
        assert_eq!(format!("{s:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn signature_known_answer() {
        // the example from the Standard Webhooks reference libraries
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn webhook_urls_are_checked() {
        let s = WebhookSecret::from_bytes(vec![1; 32]).unwrap();
        for bad in [
            "http://127.0.0.1/hook",
            "http://169.254.169.254/",
            "file:///etc/passwd",
            "http://localhost./x",
        ] {
            let e = WebhookNotifier::new(bad, s.clone()).unwrap_err();
            assert_eq!(e.field(), "url", "{bad}");
        }
        assert!(SlackNotifier::new("http://hooks.slack.com/services/x").is_err());
        assert!(SlackNotifier::new("https://hooks.slack.com/services/x").is_ok());
    }
}
