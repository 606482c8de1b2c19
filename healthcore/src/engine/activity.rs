//! The activity feed (seed 000 task 12): lifecycle events, status changes
//! (status windows), alerts and heal events merged newest first.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::model::{TargetId, TenantId};
use crate::store::{AlertQuery, EntryQuery, PageRequest, StoreExt, entry_kind};

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
}

impl ActivityType {
    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "state_change" => Some(Self::StateChange),
            "node_event" => Some(Self::NodeEvent),
            "health_alert" => Some(Self::HealthAlert),
            "heal_event" => Some(Self::HealEvent),
            _ => None,
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
    /// Sub-type: alert kind, event type, new status, heal action.
    pub category: String,
    /// The target.
    pub target: Option<TargetId>,
    /// A human line.
    pub message: String,
    /// Extra fields (severity, alert status, result, …).
    pub details: serde_json::Value,
    /// Who or what caused it.
    pub triggered_by: String,
}

impl Engine {
    /// The merged activity feed, newest first.
    pub async fn activity(
        &self,
        q: &ActivityQuery,
    ) -> Result<crate::store::Page<ActivityEntry>, EngineError> {
        let store = self.store();
        // enough of each source to fill the requested page after merging
        let want = (q.page.offset_usize() + q.page.limit_usize()).min(5_000) as u32;
        let per_source = PageRequest::new(want.min(crate::store::MAX_PAGE), 0);
        let wants = |k: ActivityType| q.kind.is_none_or(|x| x == k);
        let mut entries: Vec<ActivityEntry> = Vec::new();
        let mut total = 0u64;
        let journal = |kind: &str| EntryQuery {
            kind: kind.to_owned(),
            target: q.target.clone(),
            tenant: q.tenant.clone(),
            since: q.since,
            page: per_source,
            ..Default::default()
        };
        if wants(ActivityType::NodeEvent) {
            let page: crate::store::Page<crate::store::LifecycleEventRecord> = store
                .entries_of(journal(entry_kind::LIFECYCLE_EVENT))
                .await?;
            total += page.total;
            entries.extend(page.items.into_iter().map(|e| ActivityEntry {
                id: format!("event_{}", e.id),
                timestamp: e.created_at,
                kind: ActivityType::NodeEvent,
                category: e.event_type.clone(),
                target: Some(e.target.clone()),
                message: e.message.clone().unwrap_or_else(|| format!("{} ({})", e.event_type, e.status)),
                details: serde_json::json!({ "status": e.status, "progress": e.progress, "ip_address": e.ip_address, "metadata": e.metadata }),
                triggered_by: "node".into(),
            }));
        }
        if wants(ActivityType::StateChange) {
            let page = store
                .query_entries(&journal(entry_kind::STATUS_WINDOW))
                .await?;
            total += page.total;
            for e in page.items {
                if let Ok(w) = serde_json::from_value::<crate::uptime::StatusWindow>(e.body) {
                    entries.push(ActivityEntry {
                        id: format!("state_{}", e.id),
                        timestamp: w.started_at,
                        kind: ActivityType::StateChange,
                        category: w.status.as_str().to_owned(),
                        target: e.target,
                        message: format!("status {} ({})", w.status, w.cause),
                        details: serde_json::json!({ "cause": w.cause, "in_maintenance": w.in_maintenance, "attributed_to": w.attributed_to }),
                        triggered_by: "health_monitor".into(),
                    });
                }
            }
        }
        if wants(ActivityType::HealEvent) {
            let page: crate::store::Page<crate::heal::HealEvent> =
                store.entries_of(journal(entry_kind::HEAL_EVENT)).await?;
            total += page.total;
            entries.extend(page.items.into_iter().map(|h| ActivityEntry {
                id: format!("heal_{}", h.id),
                timestamp: h.triggered_at,
                kind: ActivityType::HealEvent,
                category: h.action.to_string(),
                target: Some(h.target.clone()),
                message: format!("{} {}: {}", h.action, h.result.as_str(), h.reason),
                details: serde_json::json!({ "result": h.result.as_str(), "error": h.error_message, "previous_status": h.previous_status, "new_status": h.new_status }),
                triggered_by: "auto_heal".into(),
            }));
        }
        if wants(ActivityType::HealthAlert) {
            let page = store
                .list_alerts(&AlertQuery {
                    target: q.target.clone(),
                    tenant: q.tenant.clone(),
                    since: q.since,
                    page: per_source,
                    ..Default::default()
                })
                .await?;
            total += page.total;
            entries.extend(page.items.into_iter().map(|a| ActivityEntry {
                id: format!("alert_{}", a.id),
                timestamp: a.created_at,
                kind: ActivityType::HealthAlert,
                category: a.kind.to_string(),
                target: Some(a.target.clone()),
                message: a.message.clone(),
                details: serde_json::json!({ "severity": a.severity.as_str(), "alert_status": a.status.as_str(), "suppressed": a.suppressed }),
                triggered_by: "health_monitor".into(),
            }));
        }
        entries.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then_with(|| b.id.cmp(&a.id)));
        let items = entries
            .into_iter()
            .skip(q.page.offset_usize())
            .take(q.page.limit_usize())
            .collect();
        Ok(crate::store::Page { items, total })
    }
}
