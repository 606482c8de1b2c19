//! `[alerts]`: notification channels (`[[alerts.channels]]`: log, webhook,
//! Slack) and alert routing (`[[alerts.routes]]`, each an
//! [`AlertChannelConfig`]: escalation delay and channel names, per target
//! or the default when `target` is absent).
//!
//! When a tweak of the alert rules themselves is wanted (which alerts fire,
//! suppression, reminders, severities), it goes in `[engine.rules.alerts]`.
//!
//! ```toml
//! [[alerts.channels]]
//! kind = "log"
//!
//! [[alerts.channels]]
//! kind = "webhook"
//! name = "ops-hook"
//! url = "https://hooks.example.com/healthd"
//! secret_env = "HEALTHD_WEBHOOK_SECRET"
//!
//! [[alerts.channels]]
//! kind = "slack"
//! url_env = "HEALTHD_SLACK_URL"
//!
//! [[alerts.routes]]
//! escalation_delay = "5m"
//! channels = ["dashboard", "log", "ops-hook", "slack"]
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;

use healthcore::model::TargetId;
use healthcore::notify::{Audience, LogNotifier, Notifier};
use healthcore::store::AlertChannelConfig;
use healthcore_http::client::{
    EgressPolicy, SlackNotifier, SystemResolver, WebhookNotifier, WebhookSecret,
};
use serde::Deserialize;

use super::Problems;

/// Notifications and routing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Delivery channels.
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    /// Routing: escalation delay and channels per target (one without
    /// `target` is the default).
    #[serde(default)]
    pub routes: Vec<AlertChannelConfig>,
}

/// One delivery channel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ChannelConfig {
    /// The daemon's log (tracing).
    Log {
        /// Channel name (default `log`).
        #[serde(default)]
        name: Option<String>,
        /// `dashboard` (every firing alert, default) or `external` (after
        /// escalation).
        #[serde(default = "dashboard")]
        audience: Audience,
    },
    /// A Standard Webhooks-signed JSON POST.
    Webhook {
        /// Channel name (default `webhook`).
        #[serde(default)]
        name: Option<String>,
        /// The URL (or `url_env`).
        #[serde(default)]
        url: Option<String>,
        /// The environment variable holding the URL.
        #[serde(default)]
        url_env: Option<String>,
        /// The environment variable holding the signing secret
        /// (`whsec_<base64>` or 24+ bytes of text).
        secret_env: String,
        /// Ranges the webhook may reach although private or loopback
        /// (`10.0.0.0/8`, `127.0.0.1/32`).
        #[serde(default)]
        allow: Vec<String>,
        /// Default `external`.
        #[serde(default = "external")]
        audience: Audience,
    },
    /// A Slack incoming webhook.
    Slack {
        /// Channel name (default `slack`).
        #[serde(default)]
        name: Option<String>,
        /// The environment variable holding the Slack URL (it is a secret).
        url_env: String,
        /// Default `external`.
        #[serde(default = "external")]
        audience: Audience,
    },
}

fn dashboard() -> Audience {
    Audience::Dashboard
}
fn external() -> Audience {
    Audience::External
}

impl ChannelConfig {
    /// The channel's name.
    pub fn name(&self) -> &str {
        match self {
            ChannelConfig::Log { name, .. } => name.as_deref().unwrap_or("log"),
            ChannelConfig::Webhook { name, .. } => name.as_deref().unwrap_or("webhook"),
            ChannelConfig::Slack { name, .. } => name.as_deref().unwrap_or("slack"),
        }
    }

    /// Whom it serves.
    pub fn audience(&self) -> Audience {
        match self {
            ChannelConfig::Log { audience, .. }
            | ChannelConfig::Webhook { audience, .. }
            | ChannelConfig::Slack { audience, .. } => *audience,
        }
    }
}

/// Checks the channels and builds the notifiers. Without secrets
/// (replay) the webhook and Slack channels are checked but not built: their
/// secrets and environment URLs are not read.
pub(crate) fn notifiers(channels: &[ChannelConfig], p: &mut Problems) -> Vec<Arc<dyn Notifier>> {
    let mut out: Vec<Arc<dyn Notifier>> = Vec::new();
    let mut names = BTreeSet::new();
    for (i, c) in channels.iter().enumerate() {
        let at = |f: &str| format!("alerts.channels[{i}].{f}");
        if c.name().is_empty() || c.name() == "dashboard" || !names.insert(c.name().to_owned()) {
            p.push(
                at("name"),
                format!(
                    "channel name {:?} is empty, reserved or used twice (name each channel of one kind)",
                    c.name()
                ),
            );
        }
        match c {
            ChannelConfig::Log { audience, .. } => out.push(Arc::new(match audience {
                Audience::External => LogNotifier::external(),
                _ => LogNotifier::new(),
            })),
            ChannelConfig::Webhook {
                url,
                url_env,
                secret_env,
                allow,
                audience,
                ..
            } => {
                let url = match (url, url_env) {
                    (Some(u), None) => Some(u.clone()),
                    (None, Some(var)) => p.secret(var, at("url_env")),
                    _ => {
                        p.push(at("url"), "give exactly one of url and url_env");
                        None
                    }
                };
                let secret = p.secret(secret_env, at("secret_env")).and_then(|s| {
                    WebhookSecret::parse(&s)
                        .map_err(|e| {
                            p.push(
                                at("secret_env"),
                                format!("the secret in {secret_env} {}", e.rule()),
                            )
                        })
                        .ok()
                });
                let mut policy = EgressPolicy::webhooks();
                for (j, cidr) in allow.iter().enumerate() {
                    match policy.clone().allow_cidr(cidr) {
                        Ok(next) => policy = next,
                        Err(e) => p.push(at(&format!("allow[{j}]")), e.rule().to_owned()),
                    }
                }
                if !p.reads_secrets() {
                    // the URL written in the file is checked all the same
                    if let (Some(u), None) = (&url, url_env) {
                        if let Err(e) = policy.check_url(u) {
                            p.push(at("url"), e.to_string());
                        }
                    }
                } else if let (Some(url), Some(secret)) = (url, secret) {
                    match WebhookNotifier::with_policy(
                        &url,
                        secret,
                        policy,
                        Arc::new(SystemResolver),
                    ) {
                        Ok(n) => out.push(Arc::new(n.named(c.name()).audience(*audience))),
                        Err(e) => p.push(
                            at(if url_env.is_some() { "url_env" } else { "url" }),
                            e.rule().to_owned(),
                        ),
                    }
                }
            }
            ChannelConfig::Slack {
                url_env, audience, ..
            } => {
                if *audience != Audience::External {
                    p.push(at("audience"), "Slack serves the external audience only");
                }
                if let Some(url) = p.secret(url_env, at("url_env")) {
                    match SlackNotifier::new(&url) {
                        Ok(n) => out.push(Arc::new(n)),
                        Err(e) => {
                            p.push(at("url_env"), format!("the URL in {url_env}: {}", e.rule()))
                        }
                    }
                }
            }
        }
    }
    out
}

/// Checks the routes against targets and channel names.
pub(crate) fn check_routes(alerts: &AlertsConfig, targets: &BTreeSet<TargetId>, p: &mut Problems) {
    let mut channel_names: BTreeSet<&str> = alerts.channels.iter().map(|c| c.name()).collect();
    channel_names.insert("dashboard");
    let mut seen: BTreeSet<Option<&TargetId>> = BTreeSet::new();
    for (i, r) in alerts.routes.iter().enumerate() {
        let at = |f: &str| format!("alerts.routes[{i}].{f}");
        if !seen.insert(r.target.as_ref()) {
            p.push(
                at("target"),
                match &r.target {
                    Some(t) => format!("a second route for target {t}"),
                    None => "a second default route (one route may omit target)".to_owned(),
                },
            );
        }
        if let Some(t) = &r.target {
            if !targets.contains(t) {
                p.push(at("target"), format!("unknown target {t}"));
            }
        }
        if r.escalation_delay > std::time::Duration::from_secs(7 * 86_400) {
            p.push(at("escalation_delay"), "must be at most 7d");
        }
        for (j, name) in r.channels.iter().enumerate() {
            if !channel_names.contains(name.as_str()) {
                p.push(
                    at(&format!("channels[{j}]")),
                    format!(
                        "unknown channel {name}; known: {}",
                        channel_names.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        if let Some(url) = &r.webhook_url {
            if let Err(e) = EgressPolicy::webhooks().check_url(url) {
                p.push(at("webhook_url"), e.to_string());
            }
        }
    }
}
