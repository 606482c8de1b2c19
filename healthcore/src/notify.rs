//! [`Notifier`]: where alert notifications go (log, webhook, Slack, …).
//!
//! The pure core decides *when* to notify (transitions only, reminders,
//! escalation); a notifier only delivers. The engine calls notifiers off
//! the hot path and retries failures with backoff; a notifier never
//! blocks monitoring.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, NotificationKind};
use crate::model::TenantId;

/// Which audience a notification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The dashboard and local channels (log): every firing alert.
    Dashboard,
    /// External channels (webhook, Slack, pager): after escalation.
    External,
}

/// Where one notification goes, set by the core from the target's
/// [`AlertChannelConfig`](crate::store::AlertChannelConfig) (or the default
/// config when the target has none).
///
/// Channel names select notifiers by their [`Notifier::name`]: with an
/// empty `channels` list every notifier of the notification's audience gets
/// it; otherwise a notifier gets it when its name is listed, and the name
/// `dashboard` stands for every notifier serving [`Audience::Dashboard`].
/// So seed 004's `["dashboard", "email", "slack"]` reaches the dashboard
/// channels and the notifiers named `email` and `slack`. healthcore-http's
/// notifiers are named `webhook` (renamed with `WebhookNotifier::named`)
/// and `slack`, both external.
///
/// ```
/// use healthcore::notify::{Audience, Routing};
/// let all = Routing::default();
/// assert!(all.selects("webhook", Audience::External));
/// let r = Routing { channels: vec!["dashboard".into(), "slack".into()], ..Routing::default() };
/// assert!(r.selects("log", Audience::Dashboard));
/// assert!(r.selects("slack", Audience::External));
/// assert!(!r.selects("webhook", Audience::External));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Routing {
    /// Notifier names (see above); empty selects every notifier.
    pub channels: Vec<String>,
    /// The target's own webhook URL: a webhook notifier delivers there
    /// instead of its configured URL (healthcore-http's `WebhookNotifier`).
    pub webhook_url: Option<String>,
    /// The target's config has `enabled = false`: this external
    /// notification is counted and logged by the engine, never delivered.
    /// The alert itself is recorded and shown as usual.
    pub silenced: bool,
}

impl Routing {
    /// True when a notifier called `name` serving `audience` is selected.
    pub fn selects(&self, name: &str, audience: Audience) -> bool {
        self.channels.is_empty()
            || self
                .channels
                .iter()
                .any(|c| c == name || (audience == Audience::Dashboard && c == DASHBOARD_CHANNEL))
    }

    /// Whether a notification for `audience`, routed by `self`, goes to
    /// the channel called `channel` that serves `channel_audience`: the
    /// channel serves the notification's audience, the routing
    /// [`selects`](Self::selects) it by name, and the notification is not
    /// [`silenced`](Self::silenced) (the target's config has `enabled =
    /// false`). This is the one rule for where a notification goes: the
    /// engine delivers by it and replay reports by it. (A notifier may
    /// still decline one it cannot deliver: [`Notifier::accepts`].)
    ///
    /// ```
    /// use healthcore::notify::{Audience, Routing};
    /// use Audience::{Dashboard, External};
    /// let only_slack = Routing { channels: vec!["dashboard".into(), "slack".into()], ..Routing::default() };
    /// assert!(only_slack.reaches(External, "slack", External));
    /// assert!(!only_slack.reaches(External, "ops-webhook", External));
    /// assert!(only_slack.reaches(Dashboard, "log", Dashboard));
    /// // a channel serves one audience
    /// assert!(!only_slack.reaches(Dashboard, "slack", External));
    /// // `enabled = false`: silenced, nothing external goes out
    /// let off = Routing { silenced: true, ..Routing::default() };
    /// assert!(!off.reaches(External, "slack", External));
    /// ```
    pub fn reaches(&self, audience: Audience, channel: &str, channel_audience: Audience) -> bool {
        !self.silenced && channel_audience == audience && self.selects(channel, channel_audience)
    }
}

/// The channel name that selects every dashboard-audience notifier.
pub const DASHBOARD_CHANNEL: &str = "dashboard";

/// One notification about one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable across retries: receivers deduplicate on it.
    pub id: String,
    /// Firing, resolved, reminder or escalation.
    pub kind: NotificationKind,
    /// Who it is for.
    pub audience: Audience,
    /// The alert as it is now.
    pub alert: Alert,
    /// The target's display name.
    pub target_name: String,
    /// The target's tenant.
    pub tenant: TenantId,
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// Which notifiers get it and where (from the target's channel config).
    #[serde(default)]
    pub routing: Routing,
}

impl Notification {
    /// A one-line summary: `[critical] web-1 down: …`.
    pub fn summary(&self) -> String {
        let verb = match self.kind {
            NotificationKind::Firing => "FIRING",
            NotificationKind::Resolved => "RESOLVED",
            NotificationKind::Reminder => "REMINDER",
            NotificationKind::Escalation => "ESCALATED",
            #[allow(unreachable_patterns)]
            _ => "NOTICE",
        };
        format!(
            "[{verb}] [{}] {} {}: {}",
            self.alert.severity.as_str(),
            self.target_name,
            self.alert.kind,
            self.alert.message
        )
    }
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// Worth retrying (timeout, 5xx, connection refused).
    #[error("transient delivery failure: {0}")]
    Transient(String),
    /// Retrying will not help (refused by egress policy, 4xx, bad config).
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// A delivery channel, shared as `Arc<dyn Notifier>`.
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// The channel's name (`log`, `webhook`, `slack`, …).
    fn name(&self) -> &str;
    /// Which audience it serves. External channels get alerts after
    /// escalation; dashboard channels get every firing alert.
    fn audience(&self) -> Audience {
        Audience::External
    }
    /// Whether this notifier can deliver `n` at all (for example a
    /// webhook without a URL of its own only delivers notifications that
    /// carry a target's [`Routing::webhook_url`]). The engine asks before
    /// [`Notifier::notify`]; the default accepts everything.
    fn accepts(&self, n: &Notification) -> bool {
        let _ = n;
        true
    }
    /// Delivers one notification.
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError>;
}

/// A [`Notifier`] that writes each notification to the log with `tracing`
/// (channel `log`): warnings for firing, escalated and reminder
/// notifications, info for resolutions. It serves the dashboard audience
/// by default, so every firing alert is logged at once; use
/// [`LogNotifier::external`] for one that logs what external channels get.
///
/// ```
/// use healthcore::notify::{Audience, LogNotifier, Notifier};
/// assert_eq!(LogNotifier::new().name(), "log");
/// assert_eq!(LogNotifier::external().audience(), Audience::External);
/// ```
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
#[derive(Debug, Clone)]
pub struct LogNotifier {
    audience: Audience,
}

#[cfg(feature = "runtime")]
impl Default for LogNotifier {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "runtime")]
impl LogNotifier {
    /// A log channel for the dashboard audience (every firing alert).
    pub fn new() -> Self {
        Self {
            audience: Audience::Dashboard,
        }
    }

    /// A log channel for the external audience (after escalation).
    pub fn external() -> Self {
        Self {
            audience: Audience::External,
        }
    }
}

#[cfg(feature = "runtime")]
#[async_trait]
impl Notifier for LogNotifier {
    fn name(&self) -> &str {
        "log"
    }

    fn audience(&self) -> Audience {
        self.audience
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let summary = n.summary();
        match n.kind {
            NotificationKind::Resolved => tracing::info!(
                target: "healthcore::alerts",
                notification = %n.id,
                alert = %n.alert.id,
                target_id = %n.alert.target,
                tenant = %n.tenant,
                audience = ?n.audience,
                "{summary}"
            ),
            _ => tracing::warn!(
                target: "healthcore::alerts",
                notification = %n.id,
                alert = %n.alert.id,
                target_id = %n.alert.target,
                tenant = %n.tenant,
                audience = ?n.audience,
                "{summary}"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Audience::{Dashboard, External};

    fn routing(channels: &[&str], silenced: bool) -> Routing {
        Routing {
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            webhook_url: None,
            silenced,
        }
    }

    /// The one rule for where a notification goes, over every case: which
    /// (notification audience, channel, channel audience) it reaches.
    #[test]
    fn reaches_is_audience_then_name_then_enabled() {
        let channels = [
            ("log", Dashboard),
            ("ops", External),
            ("slack", External),
            ("log-external", External),
        ];
        let reached = |r: &Routing, audience: Audience| -> Vec<&str> {
            channels
                .iter()
                .filter(|(name, serves)| r.reaches(audience, name, *serves))
                .map(|(name, _)| *name)
                .collect()
        };
        // no list: every channel of the audience
        let all = routing(&[], false);
        assert_eq!(reached(&all, Dashboard), ["log"]);
        assert_eq!(reached(&all, External), ["ops", "slack", "log-external"]);
        // a list: by name; `dashboard` stands for the dashboard channels
        let db = routing(&["dashboard", "slack"], false);
        assert_eq!(reached(&db, Dashboard), ["log"]);
        assert_eq!(reached(&db, External), ["slack"]);
        // `dashboard` never selects an external channel
        let dash_only = routing(&["dashboard"], false);
        assert!(reached(&dash_only, External).is_empty());
        // a dashboard channel may be listed by its own name
        let by_name = routing(&["log", "ops"], false);
        assert_eq!(reached(&by_name, Dashboard), ["log"]);
        assert_eq!(reached(&by_name, External), ["ops"]);
        let external_only = routing(&["ops"], false);
        assert!(reached(&external_only, Dashboard).is_empty());
        // silenced (`enabled = false`): nothing
        let off = routing(&["dashboard", "ops"], true);
        assert!(reached(&off, External).is_empty());
    }
}
