//! [`StoreExt`]: typed helpers over [`Store`]'s documents and journal.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::records::*;
use super::{Store, StoreResult};
use crate::heal::{HealEvent, HealPolicy};
use crate::maintenance::MaintenanceWindow;
use crate::model::{TargetId, TenantId};
use crate::uptime::StatusWindow;

/// Kinds of configuration documents.
pub mod doc_kind {
    /// [`HealPolicy`](crate::heal::HealPolicy).
    pub const HEAL_POLICY: &str = "heal_policy";
    /// [`MaintenanceWindow`](crate::maintenance::MaintenanceWindow).
    pub const MAINTENANCE: &str = "maintenance_window";
    /// [`AlertChannelConfig`](super::AlertChannelConfig).
    pub const ALERT_CHANNEL: &str = "alert_channel";
    /// [`Slo`](crate::slo::Slo) per target.
    pub const SLO: &str = "slo";
}

/// Kinds of journal entries.
pub mod entry_kind {
    /// [`LifecycleEventRecord`](super::LifecycleEventRecord).
    pub const LIFECYCLE_EVENT: &str = "lifecycle_event";
    /// [`HealEvent`](crate::heal::HealEvent).
    pub const HEAL_EVENT: &str = "heal_event";
    /// [`AuditEntry`](super::AuditEntry).
    pub const AUDIT: &str = "audit";
    /// [`Snapshot`](super::Snapshot).
    pub const SNAPSHOT: &str = "snapshot";
    /// [`StatusWindow`](crate::uptime::StatusWindow).
    pub const STATUS_WINDOW: &str = "status_window";
}

fn decode<T: DeserializeOwned>(v: &serde_json::Value) -> StoreResult<T> {
    Ok(serde_json::from_value(v.clone())?)
}

fn encode<T: Serialize>(v: &T) -> StoreResult<serde_json::Value> {
    Ok(serde_json::to_value(v)?)
}

/// One journal entry of `kind` with `body` encoded.
fn entry<T: Serialize>(
    kind: &str,
    id: String,
    target: Option<TargetId>,
    tenant: Option<TenantId>,
    at: DateTime<Utc>,
    subtype: Option<String>,
    body: &T,
) -> StoreResult<Entry> {
    Ok(Entry {
        kind: kind.to_owned(),
        id,
        target,
        tenant,
        at,
        subtype,
        body: encode(body)?,
    })
}

/// The journal entry [`StoreExt::put_heal_events`] writes for `event`
/// (for [`FencedWrite::Entries`](super::FencedWrite::Entries)).
pub fn heal_event_entry(event: &HealEvent, tenant: Option<&TenantId>) -> StoreResult<Entry> {
    entry(
        entry_kind::HEAL_EVENT,
        event.id.clone(),
        Some(event.target.clone()),
        tenant.cloned(),
        event.triggered_at,
        Some(event.action.to_string()),
        event,
    )
}

/// The journal entry [`StoreExt::put_status_window`] writes for `window`
/// (for [`FencedWrite::Entries`](super::FencedWrite::Entries)).
pub fn status_window_entry(
    target: &TargetId,
    tenant: Option<&TenantId>,
    window: &StatusWindow,
) -> StoreResult<Entry> {
    Ok(Entry {
        kind: entry_kind::STATUS_WINDOW.into(),
        id: format!("{}@{}", target, window.started_at.timestamp_micros()),
        target: Some(target.clone()),
        tenant: tenant.cloned(),
        at: window.started_at,
        subtype: Some(window.status.as_str().to_owned()),
        body: encode(window)?,
    })
}

/// Typed helpers; implemented for every [`Store`].
#[async_trait]
pub trait StoreExt: Store {
    /// Saves a heal policy.
    async fn put_heal_policy(&self, p: &HealPolicy, now: DateTime<Utc>) -> StoreResult<()> {
        self.put_doc(&Doc {
            kind: doc_kind::HEAL_POLICY.into(),
            id: p.id.clone(),
            tenant: Some(p.tenant.clone()),
            target: None,
            body: encode(p)?,
            updated_at: now,
        })
        .await
    }

    /// Heal policies, of one tenant or all.
    async fn heal_policies(&self, tenant: Option<&TenantId>) -> StoreResult<Vec<HealPolicy>> {
        self.docs_of(doc_kind::HEAL_POLICY, tenant, None).await
    }

    /// Saves a maintenance window.
    async fn put_maintenance(
        &self,
        w: &MaintenanceWindow,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.put_doc(&Doc {
            kind: doc_kind::MAINTENANCE.into(),
            id: w.id.clone(),
            tenant: tenant.cloned(),
            target: None,
            body: encode(w)?,
            updated_at: now,
        })
        .await
    }

    /// Maintenance windows, of one tenant or all.
    async fn maintenance_windows(
        &self,
        tenant: Option<&TenantId>,
    ) -> StoreResult<Vec<MaintenanceWindow>> {
        self.docs_of(doc_kind::MAINTENANCE, tenant, None).await
    }

    /// Decodes every document of `kind`.
    async fn docs_of<T: DeserializeOwned + Send>(
        &self,
        kind: &str,
        tenant: Option<&TenantId>,
        target: Option<&TargetId>,
    ) -> StoreResult<Vec<T>> {
        let docs = self
            .list_docs(&DocQuery {
                kind: kind.to_owned(),
                tenant: tenant.cloned(),
                target: target.cloned(),
            })
            .await?;
        docs.iter().map(|d| decode(&d.body)).collect()
    }

    /// Appends (or completes) heal events.
    async fn put_heal_events(
        &self,
        events: &[HealEvent],
        tenant: Option<&TenantId>,
    ) -> StoreResult<()> {
        let entries = events
            .iter()
            .map(|e| heal_event_entry(e, tenant))
            .collect::<StoreResult<Vec<_>>>()?;
        self.append_entries(&entries).await
    }

    /// Heal events of a target, newest first.
    async fn heal_events(
        &self,
        target: &TargetId,
        page: PageRequest,
    ) -> StoreResult<Page<HealEvent>> {
        self.entries_of(EntryQuery {
            kind: entry_kind::HEAL_EVENT.into(),
            target: Some(target.clone()),
            page,
            ..Default::default()
        })
        .await
    }

    /// Appends lifecycle events.
    async fn put_lifecycle_events(
        &self,
        events: &[LifecycleEventRecord],
        tenant: Option<&TenantId>,
    ) -> StoreResult<()> {
        let entries = events
            .iter()
            .map(|e| {
                entry(
                    entry_kind::LIFECYCLE_EVENT,
                    e.id.clone(),
                    Some(e.target.clone()),
                    tenant.cloned(),
                    e.created_at,
                    Some(e.event_type.clone()),
                    e,
                )
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.append_entries(&entries).await
    }

    /// Lifecycle events of a target, newest first, optionally of one type.
    async fn lifecycle_events(
        &self,
        target: &TargetId,
        event_type: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<LifecycleEventRecord>> {
        self.entries_of(EntryQuery {
            kind: entry_kind::LIFECYCLE_EVENT.into(),
            target: Some(target.clone()),
            subtype: event_type.map(str::to_owned),
            page,
            ..Default::default()
        })
        .await
    }

    /// Appends audit rows.
    async fn put_audit(&self, rows: &[AuditEntry]) -> StoreResult<()> {
        let entries = rows
            .iter()
            .map(|a| {
                entry(
                    entry_kind::AUDIT,
                    a.id.clone(),
                    a.target.clone(),
                    a.tenant.clone(),
                    a.at,
                    Some(a.action.clone()),
                    a,
                )
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.append_entries(&entries).await
    }

    /// Audit rows, newest first.
    async fn audit_log(
        &self,
        target: Option<&TargetId>,
        action: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        self.entries_of(EntryQuery {
            kind: entry_kind::AUDIT.into(),
            target: target.cloned(),
            subtype: action.map(str::to_owned),
            page,
            ..Default::default()
        })
        .await
    }

    /// Appends snapshots.
    async fn put_snapshots(
        &self,
        snaps: &[Snapshot],
        tenant: Option<&TenantId>,
    ) -> StoreResult<()> {
        let entries = snaps
            .iter()
            .map(|s| {
                Ok(Entry {
                    kind: entry_kind::SNAPSHOT.into(),
                    id: format!("{}@{}", s.target, s.timestamp.timestamp_micros()),
                    target: Some(s.target.clone()),
                    tenant: tenant.cloned(),
                    at: s.timestamp,
                    subtype: None,
                    body: encode(s)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.append_entries(&entries).await
    }

    /// Snapshots of a target since `since`, oldest first.
    async fn snapshots(
        &self,
        target: &TargetId,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<Snapshot>> {
        let page: Page<Snapshot> = self
            .entries_of(EntryQuery {
                kind: entry_kind::SNAPSHOT.into(),
                target: Some(target.clone()),
                since: Some(since),
                ascending: true,
                page: PageRequest::max(),
                ..Default::default()
            })
            .await?;
        Ok(page.items)
    }

    /// Saves (opens or closes) a status window of a target.
    async fn put_status_window(
        &self,
        target: &TargetId,
        tenant: Option<&TenantId>,
        w: &StatusWindow,
    ) -> StoreResult<()> {
        self.append_entries(&[status_window_entry(target, tenant, w)?])
            .await
    }

    /// Status windows of a target that started before `to`, oldest first
    /// (at most 500; the caller reads rollups for long ranges).
    async fn status_windows(
        &self,
        target: &TargetId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<StatusWindow>> {
        let page: Page<StatusWindow> = self
            .entries_of(EntryQuery {
                kind: entry_kind::STATUS_WINDOW.into(),
                target: Some(target.clone()),
                until: Some(to),
                page: PageRequest::max(),
                ..Default::default()
            })
            .await?;
        let mut items: Vec<StatusWindow> = page
            .items
            .into_iter()
            .filter(|w| w.ended_at.is_none_or(|e| e > from))
            .collect();
        items.sort_by_key(|w| w.started_at);
        Ok(items)
    }

    /// Decodes a page of journal entries.
    async fn entries_of<T: DeserializeOwned + Send>(
        &self,
        query: EntryQuery,
    ) -> StoreResult<Page<T>> {
        let page = self.query_entries(&query).await?;
        let items = page
            .items
            .iter()
            .map(|e| decode(&e.body))
            .collect::<StoreResult<Vec<T>>>()?;
        Ok(Page {
            items,
            total: page.total,
        })
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
