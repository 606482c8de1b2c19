//! The activity feed (seed 000 task 12): lifecycle events, status changes
//! (status windows), alerts, heal events and audited actions merged newest
//! first.
//!
//! Each source is read newest first, page by page, only as deep as the
//! requested page needs (`offset + limit` items of each), so any offset
//! works; the cost grows with it, which is why callers bound it
//! ([`MAX_ACTIVITY_OFFSET`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::model::{TargetId, TenantId};
use crate::store::{AlertQuery, Entry, EntryQuery, MAX_PAGE, Page, PageRequest, entry_kind};

/// The deepest `offset` the feed is meant to be read at (the HTTP API
/// refuses more): each source is read that far.
pub const MAX_ACTIVITY_OFFSET: u64 = 10_000;

/// Which kinds of entry to include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActivityType {
    /// A status window opened (the target changed status).
    StateChange,
    /// A lifecycle event reported by a node.
    NodeEvent,
    /// A health alert.
    HealthAlert,
    /// A heal decision.
    HealEvent,
    /// An audited action (quick action, heal reset, checklist override).
    Audit,
}

impl ActivityType {
    /// Every type, in the order the feed lists them when merged.
    pub const ALL: [ActivityType; 5] = [
        ActivityType::StateChange,
        ActivityType::NodeEvent,
        ActivityType::HealthAlert,
        ActivityType::HealEvent,
        ActivityType::Audit,
    ];

    /// Parses seed 000's names (`state_change`, `node_event`,
    /// `health_alert`), `heal_event` and `audit`, and the shorter names the
    /// HTTP API used first as aliases: `lifecycle` (node events), `alert`
    /// (health alerts) and `heal` (heal events).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "state_change" => Some(Self::StateChange),
            "node_event" | "lifecycle" => Some(Self::NodeEvent),
            "health_alert" | "alert" => Some(Self::HealthAlert),
            "heal_event" | "heal" => Some(Self::HealEvent),
            "audit" => Some(Self::Audit),
            _ => None,
        }
    }

    /// The snake_case name (seed 000's for the first three).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StateChange => "state_change",
            Self::NodeEvent => "node_event",
            Self::HealthAlert => "health_alert",
            Self::HealEvent => "heal_event",
            Self::Audit => "audit",
        }
    }
}

/// Filter for [`Engine::activity`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityQuery {
    /// Only this type.
    pub kind: Option<ActivityType>,
    /// Only this target.
    pub target: Option<TargetId>,
    /// Only this tenant's targets.
    pub tenant: Option<TenantId>,
    /// Only at or after.
    pub since: Option<DateTime<Utc>>,
    /// The page.
    pub page: PageRequest,
}

/// One feed entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    /// Unique across types (`alert_…`, `event_…`, …).
    pub id: String,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// Which type.
    #[serde(rename = "type")]
    pub kind: ActivityType,
    /// Sub-type: alert kind, event type, new status, heal or audited action.
    pub category: String,
    /// The target.
    pub target: Option<TargetId>,
    /// A human line.
    pub message: String,
    /// Extra fields (severity, alert status, result, …).
    pub details: serde_json::Value,
    /// Who or what caused it.
    pub triggered_by: String,
    /// The source record as stored (the alert, lifecycle event, heal
    /// event, status window or audit entry).
    #[serde(default)]
    pub record: serde_json::Value,
}

impl Engine {
    /// The merged activity feed, newest first; `total` counts every
    /// matching entry of every included source.
    pub async fn activity(&self, q: &ActivityQuery) -> Result<Page<ActivityEntry>, EngineError> {
        // enough of each source to fill the requested page after merging
        let want = q.page.offset_usize().saturating_add(q.page.limit_usize());
        let wants = |k: ActivityType| q.kind.is_none_or(|x| x == k);
        let mut entries: Vec<ActivityEntry> = Vec::new();
        let mut total = 0u64;
        for kind in ActivityType::ALL {
            if !wants(kind) {
                continue;
            }
            let t = match kind {
                ActivityType::HealthAlert => self.alert_activity(q, want, &mut entries).await?,
                _ => self.journal_activity(kind, q, want, &mut entries).await?,
            };
            total += t;
        }
        entries.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then_with(|| b.id.cmp(&a.id)));
        let items = entries
            .into_iter()
            .skip(q.page.offset_usize())
            .take(q.page.limit_usize())
            .collect();
        Ok(Page { items, total })
    }

    /// The newest `want` alerts matching `q` into `out`; their total.
    async fn alert_activity(
        &self,
        q: &ActivityQuery,
        want: usize,
        out: &mut Vec<ActivityEntry>,
    ) -> Result<u64, EngineError> {
        let mut offset = 0u64;
        let mut total = 0u64;
        while (offset as usize) < want {
            let page = self
                .store()
                .list_alerts(&AlertQuery {
                    target: q.target.clone(),
                    tenant: q.tenant.clone(),
                    since: q.since,
                    page: PageRequest::new(MAX_PAGE, offset),
                    ..Default::default()
                })
                .await?;
            total = page.total;
            let n = page.items.len() as u64;
            out.extend(page.items.into_iter().map(|a| ActivityEntry {
                id: format!("alert_{}", a.id),
                timestamp: a.created_at,
                kind: ActivityType::HealthAlert,
                category: a.kind.to_string(),
                target: Some(a.target.clone()),
                message: a.message.clone(),
                details: serde_json::json!({ "severity": a.severity.as_str(), "alert_status": a.status.as_str(), "suppressed": a.suppressed }),
                triggered_by: "health_monitor".into(),
                record: serde_json::to_value(&a).unwrap_or_default(),
            }));
            offset += n;
            if n == 0 || offset >= total {
                break;
            }
        }
        Ok(total)
    }

    /// The newest `want` journal entries of `kind` matching `q` into `out`;
    /// their total.
    async fn journal_activity(
        &self,
        kind: ActivityType,
        q: &ActivityQuery,
        want: usize,
        out: &mut Vec<ActivityEntry>,
    ) -> Result<u64, EngineError> {
        let journal = match kind {
            ActivityType::NodeEvent => entry_kind::LIFECYCLE_EVENT,
            ActivityType::StateChange => entry_kind::STATUS_WINDOW,
            ActivityType::HealEvent => entry_kind::HEAL_EVENT,
            _ => entry_kind::AUDIT,
        };
        let mut offset = 0u64;
        let mut total = 0u64;
        while (offset as usize) < want {
            let page = self
                .store()
                .query_entries(&EntryQuery {
                    kind: journal.to_owned(),
                    target: q.target.clone(),
                    tenant: q.tenant.clone(),
                    since: q.since,
                    page: PageRequest::new(MAX_PAGE, offset),
                    ..Default::default()
                })
                .await?;
            total = page.total;
            let n = page.items.len() as u64;
            out.extend(
                page.items
                    .into_iter()
                    .filter_map(|e| journal_entry(kind, e)),
            );
            offset += n;
            if n == 0 || offset >= total {
                break;
            }
        }
        Ok(total)
    }
}

/// One journal entry as a feed entry (`None` when its body does not decode:
/// logged, skipped).
fn journal_entry(kind: ActivityType, e: Entry) -> Option<ActivityEntry> {
    fn decode<T: serde::de::DeserializeOwned>(e: &Entry) -> Option<T> {
        match serde_json::from_value(e.body.clone()) {
            Ok(v) => Some(v),
            Err(err) => {
                tracing::warn!(kind = %e.kind, id = %e.id, error = %err, "journal entry does not decode; left out of the feed");
                None
            }
        }
    }
    Some(match kind {
        ActivityType::NodeEvent => {
            let ev: crate::store::LifecycleEventRecord = decode(&e)?;
            ActivityEntry {
                id: format!("event_{}", ev.id),
                timestamp: ev.created_at,
                kind,
                category: ev.event_type.clone(),
                target: Some(ev.target.clone()),
                message: ev
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("{} ({})", ev.event_type, ev.status)),
                details: serde_json::json!({ "status": ev.status, "progress": ev.progress, "ip_address": ev.ip_address, "metadata": ev.metadata }),
                triggered_by: "node".into(),
                record: e.body,
            }
        }
        ActivityType::StateChange => {
            let w: crate::uptime::StatusWindow = decode(&e)?;
            ActivityEntry {
                id: format!("state_{}", e.id),
                timestamp: w.started_at,
                kind,
                category: w.status.as_str().to_owned(),
                target: e.target,
                message: format!("status {} ({})", w.status, w.cause),
                details: serde_json::json!({ "cause": w.cause, "in_maintenance": w.in_maintenance, "attributed_to": w.attributed_to }),
                triggered_by: "health_monitor".into(),
                record: e.body,
            }
        }
        ActivityType::HealEvent => {
            let h: crate::heal::HealEvent = decode(&e)?;
            ActivityEntry {
                id: format!("heal_{}", h.id),
                timestamp: h.triggered_at,
                kind,
                category: h.action.to_string(),
                target: Some(h.target.clone()),
                message: format!("{} {}: {}", h.action, h.result.as_str(), h.reason),
                details: serde_json::json!({ "result": h.result.as_str(), "error": h.error_message, "previous_status": h.previous_status, "new_status": h.new_status }),
                triggered_by: "auto_heal".into(),
                record: e.body,
            }
        }
        _ => {
            let a: crate::store::AuditEntry = decode(&e)?;
            ActivityEntry {
                id: format!("audit_{}", a.id),
                timestamp: a.at,
                kind: ActivityType::Audit,
                category: a.action.clone(),
                target: a.target.clone(),
                message: format!("{} by {}: {}", a.action, a.actor, a.result),
                details: serde_json::json!({ "actor": a.actor, "result": a.result, "details": a.details }),
                triggered_by: a.actor.clone(),
                record: e.body,
            }
        }
    })
}
