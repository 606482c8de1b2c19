//! [`InMemoryStore`]: the reference [`Store`], complete and fast, for
//! tests and for applications that need no persistence.
//!
//! It follows the same rules as the database stores (alert dedup,
//! compare-and-set updates, retention, claims with leases and fencing)
//! so the conformance suite holds it to the same standard.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::alert::{Alert, AlertStatus};
use crate::fleet::fast_hash::FastMap;
use crate::model::{CheckKey, CheckSpec, Target, TargetId};
use crate::rollup::Granularity;
use crate::store::*;

#[derive(Debug, Default)]
struct Data {
    targets: BTreeMap<TargetId, Target>,
    checks: BTreeMap<CheckKey, CheckSpec>,
    results: VecDeque<StoredResult>,
    /// Our own ids as keys: the fast hasher, not SipHash.
    rollups: FastMap<(TargetId, u8, i64), crate::rollup::Bucket>,
    /// Per-check hourly counts, by (check, hour start).
    check_counts: FastMap<(CheckKey, i64), crate::rollup::Bucket>,
    states: BTreeMap<String, StateRecord>,
    alerts: Vec<Alert>,
    docs: BTreeMap<(String, String), Doc>,
    entries: BTreeMap<(String, String), Entry>,
    leases: HashMap<CheckKey, LeaseRow>,
}

#[derive(Debug, Clone)]
struct LeaseRow {
    owner: Option<String>,
    epoch: i64,
    expires_at: Option<DateTime<Utc>>,
    next_due: DateTime<Utc>,
}

/// A [`Store`] kept in memory. Cheap to create; nothing survives a drop.
///
/// ```
/// # tokio_test_block(async {
/// use healthcore::memory::InMemoryStore;
/// use healthcore::model::{Target, TargetId};
/// use healthcore::store::Store;
/// let store = InMemoryStore::new();
/// let t = Target::new(TargetId::new("a").unwrap(), "A");
/// store.put_target(&t).await.unwrap();
/// assert_eq!(store.get_target(&t.id).await.unwrap(), Some(t));
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct InMemoryStore {
    data: Mutex<Data>,
    clock: Option<std::sync::Arc<dyn crate::clock::Clock>>,
    max_results: usize,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self {
            data: Mutex::default(),
            clock: None,
            max_results: DEFAULT_MAX_RESULTS,
        }
    }
}

/// Raw results kept by default: the newest 200,000 (rollups keep the
/// long history; the raw ring only serves "recent results").
pub const DEFAULT_MAX_RESULTS: usize = 200_000;

fn gran_code(g: Granularity) -> u8 {
    match g {
        Granularity::Minute => 0,
        Granularity::Hour => 1,
        Granularity::Day => 2,
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose leases use `clock` as "database time".
    pub fn with_clock(clock: std::sync::Arc<dyn crate::clock::Clock>) -> Self {
        Self {
            clock: Some(clock),
            ..Self::default()
        }
    }

    /// Keeps at most `n` raw results (the oldest are dropped first), so
    /// memory stays bounded however long the store runs.
    #[must_use]
    pub fn with_max_results(mut self, n: usize) -> Self {
        self.max_results = n.max(1);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> DateTime<Utc> {
        match &self.clock {
            Some(c) => c.now(),
            None => Utc::now(),
        }
    }

    /// Number of raw results held (for tests and benches).
    pub fn result_count(&self) -> usize {
        self.lock().results.len()
    }
}

fn open(a: &Alert) -> bool {
    a.status != AlertStatus::Resolved
}

impl Data {
    fn insert_alert(&mut self, alert: &Alert) -> StoreResult<InsertAlert> {
        if open(alert) {
            if let Some(existing) = self
                .alerts
                .iter()
                .find(|a| open(a) && a.target == alert.target && a.kind == alert.kind)
            {
                return Ok(InsertAlert::Exists(Box::new(existing.clone())));
            }
        }
        if self.alerts.iter().any(|a| a.id == alert.id) {
            return Err(StoreError::Conflict(format!(
                "alert id {} exists",
                alert.id
            )));
        }
        self.alerts.push(alert.clone());
        Ok(InsertAlert::Created)
    }

    fn update_alert(&mut self, alert: &Alert, expected: AlertStatus) -> StoreResult<()> {
        let slot = self
            .alerts
            .iter_mut()
            .find(|a| a.id == alert.id)
            .ok_or_else(|| StoreError::not_found("alert", &alert.id))?;
        if slot.status != expected {
            return Err(StoreError::Conflict(format!(
                "alert {} is {}, expected {}",
                alert.id,
                slot.status.as_str(),
                expected.as_str()
            )));
        }
        if slot.status == AlertStatus::Resolved && alert.status != AlertStatus::Resolved {
            return Err(StoreError::Conflict(
                "a resolved alert never reopens".into(),
            ));
        }
        *slot = alert.clone();
        Ok(())
    }

    /// The lease row, if `lease` still holds it at `now`.
    fn held(&mut self, lease: &Lease, now: DateTime<Utc>) -> StoreResult<&mut LeaseRow> {
        let row = self
            .leases
            .get_mut(&lease.key)
            .ok_or_else(|| StoreError::not_found("check", &lease.key))?;
        if row.owner.as_deref() != Some(lease.owner.as_str())
            || row.epoch != lease.epoch
            || row.expires_at.is_none_or(|e| e <= now)
        {
            return Err(StoreError::Fenced(lease.key.to_string()));
        }
        Ok(row)
    }

    fn apply_fenced(
        &mut self,
        lease: &Lease,
        w: &FencedWrite<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<FencedOutcome> {
        Ok(match *w {
            FencedWrite::States(records) => {
                for r in records {
                    self.states.insert(r.scope.storage_key(), r.clone());
                }
                FencedOutcome::Written
            }
            FencedWrite::InsertAlert(a) => FencedOutcome::Alert(self.insert_alert(a)?),
            FencedWrite::UpdateAlert(a, expected) => {
                self.update_alert(a, expected)?;
                FencedOutcome::Written
            }
            FencedWrite::Entries(entries) => {
                for e in entries {
                    self.entries
                        .insert((e.kind.clone(), e.id.clone()), e.clone());
                }
                FencedOutcome::Written
            }
            FencedWrite::Complete(next_due) => {
                let row = self.held(lease, now)?;
                row.next_due = next_due;
                row.owner = None;
                row.expires_at = None;
                FencedOutcome::Written
            }
            #[allow(unreachable_patterns)]
            _ => return Err(StoreError::Unsupported("fenced write")),
        })
    }
}

#[async_trait]
impl Store for InMemoryStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.claims(true).check_counts(true)
    }

    async fn put_target(&self, target: &Target) -> StoreResult<()> {
        self.lock()
            .targets
            .insert(target.id.clone(), target.clone());
        Ok(())
    }

    async fn get_target(&self, id: &TargetId) -> StoreResult<Option<Target>> {
        Ok(self.lock().targets.get(id).cloned())
    }

    async fn list_targets(&self, q: &TargetQuery) -> StoreResult<Page<Target>> {
        let d = self.lock();
        let items: Vec<Target> = d
            .targets
            .values()
            .filter(|t| q.tenant.as_ref().is_none_or(|x| &t.tenant == x))
            .filter(|t| {
                q.mac_address
                    .as_ref()
                    .is_none_or(|m| t.mac_address.as_ref() == Some(m))
            })
            .cloned()
            .collect();
        Ok(q.page.apply(items))
    }

    async fn delete_target(&self, id: &TargetId) -> StoreResult<bool> {
        let mut d = self.lock();
        let existed = d.targets.remove(id).is_some();
        d.checks.retain(|k, _| &k.target != id);
        d.states.retain(|_, s| s.scope.target() != id);
        d.leases.retain(|k, _| &k.target != id);
        d.alerts.retain(|a| !(open(a) && &a.target == id));
        Ok(existed)
    }

    async fn put_check(&self, target: &TargetId, spec: &CheckSpec) -> StoreResult<()> {
        let mut d = self.lock();
        if !d.targets.contains_key(target) {
            return Err(StoreError::not_found("target", target));
        }
        let key = spec.key(target);
        d.checks.insert(key.clone(), spec.clone());
        d.leases.entry(key).or_insert(LeaseRow {
            owner: None,
            epoch: 0,
            expires_at: None,
            next_due: DateTime::<Utc>::MIN_UTC,
        });
        Ok(())
    }

    async fn list_checks(
        &self,
        target: Option<&TargetId>,
    ) -> StoreResult<Vec<(TargetId, CheckSpec)>> {
        Ok(self
            .lock()
            .checks
            .iter()
            .filter(|(k, _)| target.is_none_or(|t| &k.target == t))
            .map(|(k, s)| (k.target.clone(), s.clone()))
            .collect())
    }

    async fn delete_check(&self, key: &CheckKey) -> StoreResult<bool> {
        let mut d = self.lock();
        d.leases.remove(key);
        d.states
            .remove(&StateScope::Check { key: key.clone() }.storage_key());
        Ok(d.checks.remove(key).is_some())
    }

    async fn append_results(&self, batch: &ResultBatch) -> StoreResult<()> {
        let mut d = self.lock();
        // make room first, so the ring never grows past its bound (no
        // reallocation once full); of a batch larger than the bound only
        // the newest results stay
        let incoming = batch.results.len().min(self.max_results);
        let excess = (d.results.len() + incoming).saturating_sub(self.max_results);
        if excess > 0 {
            d.results.drain(..excess);
        }
        let skip = batch.results.len() - incoming;
        d.results.extend(batch.results[skip..].iter().cloned());
        for tb in &batch.rollups {
            let k = (
                tb.target.clone(),
                gran_code(tb.bucket.granularity),
                tb.bucket.start.timestamp(),
            );
            d.rollups
                .entry(k)
                .and_modify(|b| b.merge(&tb.bucket))
                .or_insert(tb.bucket);
        }
        for (key, delta) in batch.check_hour_deltas() {
            d.check_counts
                .entry((key, delta.start.timestamp()))
                .and_modify(|b| b.merge(&delta))
                .or_insert(delta);
        }
        Ok(())
    }

    async fn check_counts(
        &self,
        q: &CheckCountsQuery,
    ) -> StoreResult<Option<crate::rollup::Bucket>> {
        let d = self.lock();
        let mut sum = crate::rollup::Bucket::new(Granularity::Hour, q.from);
        sum.start = q.from;
        for ((key, start), b) in d.check_counts.iter() {
            if key == &q.key && *start >= q.from.timestamp() && *start < q.to.timestamp() {
                sum.merge_counts(b);
            }
        }
        Ok(Some(sum))
    }

    async fn recent_results(&self, q: &ResultQuery) -> StoreResult<Vec<StoredResult>> {
        let limit = q.limit.clamp(1, 1000) as usize;
        let d = self.lock();
        Ok(d.results
            .iter()
            .rev()
            .filter(|r| r.key.target == q.target)
            .filter(|r| q.check.as_ref().is_none_or(|c| &r.key.check == c))
            .filter(|r| q.since.is_none_or(|s| r.observation.at >= s))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn rollups(&self, q: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
        let d = self.lock();
        let g = gran_code(q.granularity);
        let mut out: Vec<TargetBucket> = d
            .rollups
            .iter()
            .filter(|((t, gc, _), b)| {
                *gc == g
                    && b.start >= q.from
                    && b.start < q.to
                    && (q.targets.is_empty() || q.targets.contains(t))
            })
            .map(|((t, _, _), b)| TargetBucket {
                target: t.clone(),
                bucket: *b,
            })
            .collect();
        out.sort_by(|a, b| {
            a.target
                .cmp(&b.target)
                .then(a.bucket.start.cmp(&b.bucket.start))
        });
        Ok(out)
    }

    async fn put_states(&self, records: &[StateRecord]) -> StoreResult<()> {
        let mut d = self.lock();
        for r in records {
            d.states.insert(r.scope.storage_key(), r.clone());
        }
        Ok(())
    }

    async fn load_states(&self) -> StoreResult<Vec<StateRecord>> {
        Ok(self.lock().states.values().cloned().collect())
    }

    async fn insert_alert(&self, alert: &Alert) -> StoreResult<InsertAlert> {
        self.lock().insert_alert(alert)
    }

    async fn update_alert(&self, alert: &Alert, expected: AlertStatus) -> StoreResult<()> {
        self.lock().update_alert(alert, expected)
    }

    async fn get_alert(&self, id: &str) -> StoreResult<Option<Alert>> {
        Ok(self.lock().alerts.iter().find(|a| a.id == id).cloned())
    }

    async fn list_alerts(&self, q: &AlertQuery) -> StoreResult<Page<Alert>> {
        let d = self.lock();
        let mut items: Vec<Alert> = d
            .alerts
            .iter()
            .filter(|a| q.status.is_none_or(|s| a.status == s))
            .filter(|a| !q.open_only || open(a))
            .filter(|a| q.severity.is_none_or(|s| a.severity == s))
            .filter(|a| q.target.as_ref().is_none_or(|t| &a.target == t))
            .filter(|a| q.kind.as_ref().is_none_or(|k| &a.kind == k))
            .filter(|a| q.since.is_none_or(|s| a.created_at >= s))
            .filter(|a| {
                q.tenant
                    .as_ref()
                    .is_none_or(|t| d.targets.get(&a.target).is_some_and(|x| &x.tenant == t))
            })
            .cloned()
            .collect();
        items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(q.page.apply(items))
    }

    async fn put_doc(&self, doc: &Doc) -> StoreResult<()> {
        self.lock()
            .docs
            .insert((doc.kind.clone(), doc.id.clone()), doc.clone());
        Ok(())
    }

    async fn get_doc(&self, kind: &str, id: &str) -> StoreResult<Option<Doc>> {
        Ok(self
            .lock()
            .docs
            .get(&(kind.to_owned(), id.to_owned()))
            .cloned())
    }

    async fn list_docs(&self, q: &DocQuery) -> StoreResult<Vec<Doc>> {
        Ok(self
            .lock()
            .docs
            .values()
            .filter(|d| d.kind == q.kind)
            .filter(|d| {
                q.tenant
                    .as_ref()
                    .is_none_or(|t| d.tenant.as_ref() == Some(t))
            })
            .filter(|d| {
                q.target
                    .as_ref()
                    .is_none_or(|t| d.target.as_ref() == Some(t))
            })
            .cloned()
            .collect())
    }

    async fn delete_doc(&self, kind: &str, id: &str) -> StoreResult<bool> {
        Ok(self
            .lock()
            .docs
            .remove(&(kind.to_owned(), id.to_owned()))
            .is_some())
    }

    async fn append_entries(&self, entries: &[Entry]) -> StoreResult<()> {
        let mut d = self.lock();
        for e in entries {
            d.entries.insert((e.kind.clone(), e.id.clone()), e.clone());
        }
        Ok(())
    }

    async fn query_entries(&self, q: &EntryQuery) -> StoreResult<Page<Entry>> {
        let d = self.lock();
        let mut items: Vec<Entry> = d
            .entries
            .values()
            .filter(|e| e.kind == q.kind)
            .filter(|e| {
                q.target
                    .as_ref()
                    .is_none_or(|t| e.target.as_ref() == Some(t))
            })
            .filter(|e| {
                q.tenant
                    .as_ref()
                    .is_none_or(|t| e.tenant.as_ref() == Some(t))
            })
            .filter(|e| {
                q.subtype
                    .as_ref()
                    .is_none_or(|s| e.subtype.as_ref() == Some(s))
            })
            .filter(|e| q.since.is_none_or(|s| e.at >= s))
            .filter(|e| q.until.is_none_or(|u| e.at < u))
            .cloned()
            .collect();
        items.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
        if !q.ascending {
            items.reverse();
        }
        Ok(q.page.apply(items))
    }

    async fn purge(&self, r: &Retention, now: DateTime<Utc>) -> StoreResult<PurgeReport> {
        let mut d = self.lock();
        let mut rep = PurgeReport::default();
        let cut = Retention::cutoff(now, r.results);
        let before = d.results.len();
        d.results.retain(|x| x.observation.at >= cut);
        rep.results = (before - d.results.len()) as u64;
        let before = d.entries.len();
        d.entries
            .retain(|(kind, _), e| e.at >= Retention::cutoff(now, r.for_entry_kind(kind)));
        rep.entries = (before - d.entries.len()) as u64;
        let before = d.rollups.len();
        d.rollups
            .retain(|_, b| b.start >= Retention::cutoff(now, r.for_granularity(b.granularity)));
        rep.rollups = (before - d.rollups.len()) as u64;
        let cut = Retention::cutoff(now, r.hour_rollups).timestamp();
        let before = d.check_counts.len();
        d.check_counts.retain(|(_, start), _| *start >= cut);
        rep.check_counts = (before - d.check_counts.len()) as u64;
        let cut = Retention::cutoff(now, r.resolved_alerts);
        let before = d.alerts.len();
        d.alerts
            .retain(|a| open(a) || a.resolved_at.is_none_or(|t| t >= cut));
        rep.alerts = (before - d.alerts.len()) as u64;
        Ok(rep)
    }

    async fn claim_due(&self, req: &ClaimRequest) -> StoreResult<Vec<Lease>> {
        let now = self.now();
        let lease = chrono::Duration::from_std(req.lease)
            .map_err(|_| StoreError::Data("lease too long".into()))?;
        let mut d = self.lock();
        let mut keys: Vec<CheckKey> = d
            .leases
            .iter()
            .filter(|(k, l)| {
                d.checks.get(*k).is_some_and(|s| s.enabled)
                    && l.next_due <= now
                    && l.expires_at.is_none_or(|e| e <= now || l.owner.is_none())
            })
            .map(|(k, _)| k.clone())
            .collect();
        // most overdue first, as the SQL stores do
        keys.sort_by(|a, b| {
            d.leases[a]
                .next_due
                .cmp(&d.leases[b].next_due)
                .then(a.cmp(b))
        });
        keys.truncate(req.limit as usize);
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(l) = d.leases.get_mut(&k) {
                l.epoch += 1;
                l.owner = Some(req.instance.clone());
                l.expires_at = Some(now + lease);
                out.push(Lease {
                    key: k,
                    owner: req.instance.clone(),
                    epoch: l.epoch,
                    expires_at: now + lease,
                });
            }
        }
        Ok(out)
    }

    async fn claim_check(
        &self,
        key: &CheckKey,
        instance: &str,
        lease: std::time::Duration,
    ) -> StoreResult<CheckClaim> {
        let now = self.now();
        let len = chrono::Duration::from_std(lease)
            .map_err(|_| StoreError::Data("lease too long".into()))?;
        let mut d = self.lock();
        let row = d
            .leases
            .get_mut(key)
            .ok_or_else(|| StoreError::not_found("check", key))?;
        let live = row.expires_at.filter(|e| *e > now);
        match (row.owner.as_deref(), live) {
            (Some(owner), Some(_)) if owner == instance => {
                row.expires_at = Some(now + len);
                Ok(CheckClaim::Renewed(Lease {
                    key: key.clone(),
                    owner: instance.to_owned(),
                    epoch: row.epoch,
                    expires_at: now + len,
                }))
            }
            (Some(owner), Some(expires_at)) => Ok(CheckClaim::Held {
                owner: owner.to_owned(),
                expires_at,
            }),
            _ => {
                row.epoch += 1;
                row.owner = Some(instance.to_owned());
                row.expires_at = Some(now + len);
                Ok(CheckClaim::Claimed(Lease {
                    key: key.clone(),
                    owner: instance.to_owned(),
                    epoch: row.epoch,
                    expires_at: now + len,
                }))
            }
        }
    }

    async fn complete_claim(&self, lease: &Lease, next_due: DateTime<Utc>) -> StoreResult<()> {
        let now = self.now();
        let mut d = self.lock();
        let row = d.held(lease, now)?;
        row.next_due = next_due;
        row.owner = None;
        row.expires_at = None;
        Ok(())
    }

    async fn fenced(
        &self,
        lease: &Lease,
        writes: &[FencedWrite<'_>],
    ) -> StoreResult<Vec<FencedOutcome>> {
        let now = self.now();
        let mut d = self.lock();
        d.held(lease, now)?;
        // all or nothing: keep what the writes may touch, put it back on error
        let alerts = d.alerts.clone();
        let lease_row = d.leases.get(&lease.key).cloned();
        let mut old_states = Vec::new();
        let mut old_entries = Vec::new();
        for w in writes {
            match *w {
                FencedWrite::States(records) => {
                    for r in records {
                        let k = r.scope.storage_key();
                        let old = d.states.get(&k).cloned();
                        old_states.push((k, old));
                    }
                }
                FencedWrite::Entries(entries) => {
                    for e in entries {
                        let k = (e.kind.clone(), e.id.clone());
                        let old = d.entries.get(&k).cloned();
                        old_entries.push((k, old));
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            match d.apply_fenced(lease, w, now) {
                Ok(o) => out.push(o),
                Err(e) => {
                    d.alerts = alerts;
                    if let Some(row) = lease_row {
                        d.leases.insert(lease.key.clone(), row);
                    }
                    for (k, old) in old_states.into_iter().rev() {
                        match old {
                            Some(r) => d.states.insert(k, r),
                            None => d.states.remove(&k),
                        };
                    }
                    for (k, old) in old_entries.into_iter().rev() {
                        match old {
                            Some(r) => d.entries.insert(k, r),
                            None => d.entries.remove(&k),
                        };
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    async fn renew_lease(&self, lease: &Lease, length: std::time::Duration) -> StoreResult<Lease> {
        let now = self.now();
        let len = chrono::Duration::from_std(length)
            .map_err(|_| StoreError::Data("lease too long".into()))?;
        let mut d = self.lock();
        let row = d.held(lease, now)?;
        row.expires_at = Some(now + len);
        Ok(Lease {
            expires_at: now + len,
            ..lease.clone()
        })
    }

    async fn release_claims(&self, instance: &str) -> StoreResult<u64> {
        let now = self.now();
        let mut d = self.lock();
        let mut n = 0;
        for row in d.leases.values_mut() {
            if row.owner.as_deref() == Some(instance) {
                row.owner = None;
                row.expires_at = None;
                row.next_due = now;
                n += 1;
            }
        }
        Ok(n)
    }
}
