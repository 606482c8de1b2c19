//! Claims mode: several engine instances share one store and split the
//! checks between them (DESIGN.md §4 "Scale-out", §7 fencing).
//!
//! Instead of one timer per check, one claim loop asks the store for due
//! checks ([`Store::claim_due`], a batch at a time, never more than the
//! free concurrency), and runs each under the same concurrency bound,
//! timeout and panic isolation as the per-check scheduler. Per run:
//!
//! 1. **Load.** Before running a batch the instance reloads, from the
//!    store, the state of the claimed checks' targets (every check's
//!    counters, breaker and flap state, the target's aggregate, heal and
//!    window state) and their open alerts: the fleet in memory is only as
//!    fresh as its last ownership, and the previous owner may have been
//!    another instance. Targets and checks added through another instance
//!    are loaded when first claimed. Targets with a run of this instance
//!    still in flight keep their in-memory state (it is newer).
//! 2. **Run** the probe, feed the observation through the fleet; the raw
//!    result goes to the batched writer (unfenced: a repeat at a lease
//!    handover is allowed).
//! 3. **Write fenced**, in one transaction under the lease
//!    ([`Store::fenced`]): the check's state (always: its counters move on
//!    every run, and the next owner must continue from them), the target's
//!    state when it changed, alert inserts and updates, heal events and
//!    status windows, and the completion with the next due time
//!    (`claimed at + interval`, on the store's clock). A heal decision is
//!    written (pending heal event and the attempt in the heal state)
//!    *before* its action runs.
//! 4. **Carry out** what was written: events, notifications, heal actions.
//!    An [`InsertAlert::Exists`] adopts the alert another instance holds
//!    open (no second "created" event or notification).
//!    `Fenced` means another instance owns the check now: every effect of
//!    the run is dropped, no heal runs. Other store failures are retried
//!    until the lease is nearly over, then the effects are dropped too:
//!    the lease lapses and the check runs again, from the stored state.
//!
//! Configuration (heal policies, maintenance windows, alert channels) is
//! reloaded from the store on every tick, so a change made through one
//! instance reaches the others within one tick interval.
//!
//! Periodic jobs in claims mode: the tick (staleness, install timeouts,
//! breaker cooldowns, reminders, escalation) and snapshots run only for
//! the targets this instance owns — a check of them claimed within the
//! last two leases, or a passive report received by this instance — so
//! two instances do not raise, remind or snapshot the same target; the
//! database's one-open-alert-per-key index is the backstop. Retention runs
//! everywhere (idempotent). On shutdown the loop waits for its runs (at
//! most one lease) and gives its leases back
//! ([`Store::release_claims`]) so other instances take over at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::metrics::EngineMetrics;
use super::retry::{self, Backoff};
use super::{EngineError, Inner, effects, lock, scheduler};
use crate::alert::{Alert, AlertChange, AlertStatus};
use crate::fleet::{Decision, HEARTBEAT_KIND};
use crate::model::{CheckKey, CheckSpec, Observation, Status, TargetId};
use crate::store::{
    AlertQuery, CheckClaim, ClaimRequest, Entry, FencedOutcome, FencedWrite, InsertAlert, Lease,
    PageRequest, StateRecord, Store, StoreError, StoreResult,
};

/// What the claim loop shares with the rest of the engine.
#[derive(Debug, Default)]
pub(crate) struct ClaimsState {
    /// Targets with a check claimed here, and when last.
    owned: Mutex<HashMap<TargetId, Instant>>,
    /// Passive targets that reported to this instance.
    reported: Mutex<HashSet<TargetId>>,
    /// Runs of checks here now (claimed runs and rechecks), by check.
    in_flight: Mutex<HashMap<CheckKey, usize>>,
}

impl ClaimsState {
    /// A passive report for `target` arrived here: this instance keeps
    /// its staleness.
    pub(crate) fn reported(&self, target: &TargetId) {
        let mut r = lock(&self.reported);
        if !r.contains(target) {
            r.insert(target.clone());
        }
    }

    /// The targets this instance runs periodic rules for: claimed within
    /// `horizon`, or reported here.
    pub(crate) fn owned_targets(&self, horizon: Duration) -> Vec<TargetId> {
        let now = Instant::now();
        let mut out: Vec<TargetId> = {
            let mut owned = lock(&self.owned);
            owned.retain(|_, at| now.saturating_duration_since(*at) <= horizon);
            owned.keys().cloned().collect()
        };
        out.extend(lock(&self.reported).iter().cloned());
        out.sort();
        out.dedup();
        out
    }
}

/// Counts a run of a check as in flight until it ends (or is aborted).
struct InFlight {
    inner: Arc<Inner>,
    key: CheckKey,
}

impl InFlight {
    fn new(inner: &Arc<Inner>, key: &CheckKey) -> Self {
        if let Some(c) = &inner.claims {
            *lock(&c.in_flight).entry(key.clone()).or_default() += 1;
        }
        Self {
            inner: inner.clone(),
            key: key.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(c) = &self.inner.claims {
            let mut runs = lock(&c.in_flight);
            if let Some(n) = runs.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    runs.remove(&self.key);
                }
            }
        }
    }
}

/// Reloads the configuration another instance may have changed (heal
/// policies, maintenance windows, alert channels); on every tick in
/// claims mode. A failed read keeps what is in memory.
pub(crate) async fn reload_config(inner: &Inner) {
    use crate::store::StoreExt;
    let store = inner.store.as_ref();
    let loaded = async {
        let policies = store.heal_policies(None).await?;
        let windows = store.maintenance_windows(None).await?;
        let channels = store
            .docs_of(crate::store::doc_kind::ALERT_CHANNEL, None, None)
            .await?;
        Ok::<_, StoreError>((policies, windows, channels))
    }
    .await;
    match loaded {
        Ok((policies, windows, channels)) => {
            let mut fleet = lock(&inner.fleet);
            fleet.set_policies(policies);
            fleet.set_maintenance(windows);
            fleet.set_channels(channels);
        }
        Err(e) => tracing::warn!(error = %e, "reloading configuration failed; keeping it"),
    }
}

/// How long a target stays "owned" after its last claim.
pub(crate) fn ownership_horizon(inner: &Inner) -> Duration {
    inner.config.claims.lease * 2
}

/// The claim loop (one per engine in claims mode).
pub(crate) async fn run(inner: Arc<Inner>) {
    let cfg = inner.config.claims.clone();
    let mut stop = inner.stop.subscribe();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut backoff = Backoff::new(
        Duration::from_millis(100),
        inner.config.limits.max_retry_backoff,
    );
    let max = inner.config.limits.max_concurrency;
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let room = max.saturating_sub(tasks.len()).min(cfg.batch as usize);
        if room == 0 {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let request = ClaimRequest {
            instance: inner.instance.clone(),
            limit: room as u32,
            lease: cfg.lease,
        };
        let claimed_at = Instant::now();
        let pause = match inner.store.claim_due(&request).await {
            Ok(leases) => {
                backoff.reset();
                let full = leases.len() >= room;
                if leases.is_empty() {
                    cfg.poll
                } else {
                    EngineMetrics::add(&inner.metrics.claimed, leases.len() as u64);
                    match prepare(&inner, &leases, true).await {
                        Ok(()) => {
                            for lease in leases {
                                let guard = InFlight::new(&inner, &lease.key);
                                tasks.spawn(run_claimed(inner.clone(), lease, claimed_at, guard));
                            }
                            if full { Duration::ZERO } else { cfg.poll }
                        }
                        Err(e) => {
                            // not run: the leases lapse and the checks are due again
                            EngineMetrics::add(&inner.metrics.store_errors, 1);
                            tracing::warn!(error = %e, claimed = leases.len(), "could not load state of claimed checks; they run again after their lease");
                            backoff.next_delay()
                        }
                    }
                }
            }
            Err(e) => {
                EngineMetrics::add(&inner.metrics.store_errors, 1);
                tracing::warn!(error = %e, "claiming due checks failed; retrying");
                backoff.next_delay()
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }
    // let running checks finish (bounded by one lease), then give back
    // every lease so other instances take over at once
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(cfg.lease, drain).await.is_err() {
        tasks.abort_all();
    }
    match inner.store.release_claims(&inner.instance).await {
        Ok(n) => tracing::info!(released = n, "claims released"),
        Err(e) => {
            tracing::warn!(error = %e, "releasing claims failed; they lapse with their leases")
        }
    }
}

/// Loads what the claimed checks' previous owner left in the store; with
/// `own`, this instance runs the periodic rules of their targets from now
/// on (a claim of the loop, not a one-off recheck).
async fn prepare(inner: &Arc<Inner>, leases: &[Lease], own: bool) -> StoreResult<()> {
    let store: &dyn Store = inner.store.as_ref();
    let mut targets: Vec<TargetId> = leases.iter().map(|l| l.key.target.clone()).collect();
    targets.sort();
    targets.dedup();
    let now = inner.clock.now();
    // targets and checks added through another instance
    let mut added: Vec<CheckKey> = Vec::new();
    for t in &targets {
        let (known, missing) = {
            let fleet = lock(&inner.fleet);
            let known = fleet.target(t).is_some();
            let missing = leases
                .iter()
                .any(|l| &l.key.target == t && fleet.check_spec(&l.key).is_none());
            (known, missing)
        };
        if !known {
            match store.get_target(t).await? {
                Some(target) => lock(&inner.fleet).upsert_target(target, now),
                None => continue,
            }
        }
        if missing || !known {
            let checks = store.list_checks(Some(t)).await?;
            let mut fleet = lock(&inner.fleet);
            for (tid, spec) in checks {
                let key = CheckKey::new(tid.clone(), spec.id());
                if fleet.check_spec(&key).is_none() {
                    match fleet.upsert_check(&tid, spec) {
                        Ok(k) => added.push(k),
                        Err(e) => {
                            tracing::warn!(check = %key, error = %e, "stored check skipped")
                        }
                    }
                }
            }
        }
    }
    // targets with a run of ours in flight keep their (newer) memory
    let busy: HashSet<TargetId> = match &inner.claims {
        Some(c) => lock(&c.in_flight)
            .keys()
            .map(|k| k.target.clone())
            .collect(),
        None => HashSet::new(),
    };
    let fresh: Vec<TargetId> = targets.into_iter().filter(|t| !busy.contains(t)).collect();
    if !fresh.is_empty() {
        let states = store.load_states_of(&fresh).await?;
        let open = open_alerts_of(store, &fresh).await?;
        let mut fleet = lock(&inner.fleet);
        for s in &states {
            if let Err(e) = fleet.restore_state(s) {
                tracing::warn!(scope = ?s.scope, error = %e, "stored state could not be decoded; keeping memory");
            }
        }
        let mut by_target: HashMap<&TargetId, Vec<Alert>> = HashMap::new();
        for a in open {
            if let Some(t) = fresh.iter().find(|t| **t == a.target) {
                by_target.entry(t).or_default().push(a);
            }
        }
        for t in &fresh {
            fleet.replace_open_alerts(t, by_target.remove(t).unwrap_or_default());
        }
    }
    // loaded, not changed: nothing for the (unfenced) writer to write back
    {
        let mut fleet = lock(&inner.fleet);
        for k in leases.iter().map(|l| &l.key).chain(added.iter()) {
            if !busy.contains(&k.target) {
                let _ = fleet.take_check_states(k, now);
            }
        }
    }
    if let Some(c) = inner.claims.as_ref().filter(|_| own) {
        let at = Instant::now();
        let mut owned = lock(&c.owned);
        for l in leases {
            owned.insert(l.key.target.clone(), at);
        }
    }
    Ok(())
}

async fn open_alerts_of(store: &dyn Store, targets: &[TargetId]) -> StoreResult<Vec<Alert>> {
    if targets.len() <= 4 {
        let mut out = Vec::new();
        for t in targets {
            let page = store
                .list_alerts(&AlertQuery {
                    open_only: true,
                    target: Some(t.clone()),
                    page: PageRequest::max(),
                    ..Default::default()
                })
                .await?;
            out.extend(page.items);
        }
        return Ok(out);
    }
    let wanted: HashSet<&TargetId> = targets.iter().collect();
    let mut out = Vec::new();
    let mut offset = 0u64;
    loop {
        let page = store
            .list_alerts(&AlertQuery {
                open_only: true,
                page: PageRequest::new(crate::store::MAX_PAGE, offset),
                ..Default::default()
            })
            .await?;
        let n = page.items.len() as u64;
        out.extend(
            page.items
                .into_iter()
                .filter(|a| wanted.contains(&a.target)),
        );
        offset += n;
        if n == 0 || offset >= page.total {
            break;
        }
    }
    Ok(out)
}

/// Runs one claimed check and writes its effects under the lease.
async fn run_claimed(inner: Arc<Inner>, lease: Lease, claimed: Instant, _guard: InFlight) {
    let cfg = &inner.config.claims;
    let key = lease.key.clone();
    let lease_len = cfg.lease;
    let claimed_at = lease.expires_at
        - chrono::Duration::from_std(lease_len).unwrap_or_else(|_| chrono::Duration::zero());
    let spec = lock(&inner.fleet).check_spec(&key).cloned();
    let spec = match spec {
        Some(s) if s.enabled && s.kind != HEARTBEAT_KIND => s,
        other => {
            // passive (heartbeat) or unknown here: nothing to run; come
            // back after an interval
            let every = other.map_or(Duration::from_secs(60), |s| s.interval);
            let next = claimed_at + chrono::Duration::from_std(every).unwrap_or_default();
            if let Err(e) = inner.store.complete_claim(&lease, next).await {
                tracing::debug!(check = %key, error = %e, "completing a passive claim failed");
            }
            return;
        }
    };
    let run_lock = scheduler::run_lock(&inner, &key);
    let _running = run_lock.lock().await;
    let mut lease = lease;
    let mut deadline = claimed + lease_len;
    // a run that may outlast its lease renews it first
    let margin = (lease_len / 4).max(Duration::from_millis(50));
    if spec.timeout + margin >= lease_len {
        let length = spec.timeout + lease_len;
        match inner.store.renew_lease(&lease, length).await {
            Ok(l) => {
                lease = l;
                deadline = Instant::now() + length;
            }
            Err(e) => {
                tracing::debug!(check = %key, error = %e, "lease not renewed; skipping the run");
                return;
            }
        }
    }
    let Ok(permit) = inner.semaphore.clone().acquire_owned().await else {
        return;
    };
    let spec = Arc::new(spec);
    let obs = scheduler::run_probe(&inner, &spec).await;
    drop(permit);
    let next_due = claimed_at + chrono::Duration::from_std(spec.interval).unwrap_or_default();
    // failures are logged and counted inside
    let _ = finish(&inner, &lease, obs, Some(next_due), deadline).await;
}

/// Feeds a claimed run's observation through the fleet, writes its
/// effects under `lease` (completing the claim at `next_due` when given)
/// and carries out what was written. A lost lease (`Fenced`) or a write
/// that could not be made drops every effect of the run (logged,
/// counted); the raw result goes to the batched writer either way.
async fn finish(
    inner: &Arc<Inner>,
    lease: &Lease,
    obs: Observation,
    next_due: Option<chrono::DateTime<chrono::Utc>>,
    deadline: Instant,
) -> Result<Status, EngineError> {
    let key = &lease.key;
    let now = obs.at;
    let mut decisions = Vec::new();
    let (status, states) = {
        let mut fleet = lock(&inner.fleet);
        match fleet.observe(key, &obs, &mut decisions) {
            Ok(status) => (status, fleet.take_check_states(key, now)),
            Err(e) => {
                tracing::debug!(check = %key, error = %e, "check removed while running");
                return Err(e.into());
            }
        }
    };
    scheduler::record(inner, key, obs, status);
    match write_fenced(inner, lease, &states, &decisions, next_due, deadline).await {
        Ok(adopted) => {
            let decisions = adopt(inner, decisions, adopted);
            effects::dispatch_persisted(inner, decisions);
            Ok(status)
        }
        Err(e @ StoreError::Fenced(_)) => {
            EngineMetrics::add(&inner.metrics.fenced, 1);
            tracing::info!(check = %key, epoch = lease.epoch, "lease lost while running: effects dropped, another instance owns the check");
            Err(e.into())
        }
        Err(e) => {
            EngineMetrics::add(&inner.metrics.store_errors, 1);
            tracing::warn!(check = %key, error = %e, "effects of a claimed run could not be written; dropped, the check runs again after its lease");
            Err(e.into())
        }
    }
}

/// A recheck in claims mode ([`Engine::recheck`](super::Engine::recheck)).
///
/// Under the check's run lock it claims the check
/// ([`Store::claim_check`]): a new lease when nobody holds it (what the
/// previous owner stored is loaded first, and the claim is completed with
/// the next due time), or this instance's own lease renewed when a claimed
/// run of its own is about to run (that run completes it). It then runs
/// under the concurrency bound and writes its effects fenced, exactly as a
/// claimed run: an instance that does not hold the check never writes its
/// state, alerts or heal events, and never heals. Another instance holding
/// the check is a [`EngineError::Conflict`]: nothing ran, nothing changed.
pub(crate) async fn recheck(
    inner: &Arc<Inner>,
    key: &CheckKey,
    spec: CheckSpec,
) -> Result<(Status, Observation), EngineError> {
    let run_lock = scheduler::run_lock(inner, key);
    let _running = run_lock.lock().await;
    let cfg = &inner.config.claims;
    let margin = (cfg.lease / 4).max(Duration::from_millis(50));
    let length = if spec.timeout + margin >= cfg.lease {
        spec.timeout + cfg.lease
    } else {
        cfg.lease
    };
    let asked = Instant::now();
    let (lease, ours_to_complete) = match inner
        .store
        .claim_check(key, &inner.instance, length)
        .await?
    {
        CheckClaim::Claimed(l) => (l, true),
        CheckClaim::Renewed(l) => (l, false),
        CheckClaim::Held { owner, expires_at } => {
            return Err(EngineError::Conflict(format!(
                "check {key} is held by another instance ({owner}) until {expires_at}; \
                 try again once that run is done"
            )));
        }
        #[allow(unreachable_patterns)]
        other => {
            return Err(EngineError::Conflict(format!(
                "check {key} could not be claimed: {other:?}"
            )));
        }
    };
    EngineMetrics::add(&inner.metrics.claimed, u64::from(ours_to_complete));
    let deadline = asked + length;
    let claimed_at = lease.expires_at
        - chrono::Duration::from_std(length).unwrap_or_else(|_| chrono::Duration::zero());
    if ours_to_complete && let Err(e) = prepare(inner, std::slice::from_ref(&lease), false).await {
        give_back(inner, &lease, claimed_at).await;
        return Err(e.into());
    }
    let _in_flight = InFlight::new(inner, key);
    let permit = inner.semaphore.acquire().await;
    let interval = spec.interval;
    let obs = scheduler::run_probe(inner, &Arc::new(spec)).await;
    drop(permit);
    let next_due = ours_to_complete
        .then(|| claimed_at + chrono::Duration::from_std(interval).unwrap_or_default());
    match finish(inner, &lease, obs.clone(), next_due, deadline).await {
        Ok(status) => Ok((status, obs)),
        Err(EngineError::Store(StoreError::Fenced(_))) => Err(EngineError::Conflict(format!(
            "check {key} was taken over by another instance while it ran; \
             its result was not applied, try again"
        ))),
        Err(e) => {
            if ours_to_complete {
                give_back(inner, &lease, claimed_at).await;
            }
            Err(e)
        }
    }
}

/// Hands a claim back, due at once (a recheck that could not finish),
/// so the check does not wait for the lease to lapse. Best effort.
async fn give_back(inner: &Inner, lease: &Lease, due: chrono::DateTime<chrono::Utc>) {
    if let Err(e) = inner.store.complete_claim(lease, due).await {
        tracing::debug!(check = %lease.key, error = %e, "handing a recheck's claim back failed; it lapses with its lease");
    }
}

/// Writes a run's effects under its lease, retrying transient failures
/// until `deadline`. Returns the alerts another instance already held
/// open (our inserts that found them).
async fn write_fenced(
    inner: &Inner,
    lease: &Lease,
    states: &[StateRecord],
    decisions: &[Decision],
    next_due: Option<chrono::DateTime<chrono::Utc>>,
    deadline: Instant,
) -> StoreResult<Vec<(String, Alert)>> {
    let (alerts, entries): (Vec<(Alert, Option<AlertStatus>)>, Vec<Entry>) =
        effects::fenced_writes(decisions)?;
    let has_updates = alerts.iter().any(|(_, e)| e.is_some());
    // 0: updates as decided; 1: the other open status (acknowledged
    // meanwhile); 2: without updates (the alert moved on elsewhere)
    let mut update_mode = 0u8;
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    let mut tries = 0u32;
    loop {
        let mut writes: Vec<FencedWrite<'_>> = Vec::with_capacity(alerts.len() + 3);
        if !states.is_empty() {
            writes.push(FencedWrite::States(states));
        }
        let mut inserted = Vec::new();
        for (a, expected) in &alerts {
            match (expected, update_mode) {
                (None, _) => {
                    inserted.push(a.id.clone());
                    writes.push(FencedWrite::InsertAlert(a));
                }
                (Some(e), 0) => writes.push(FencedWrite::UpdateAlert(a, *e)),
                (Some(e), 1) => writes.push(FencedWrite::UpdateAlert(a, other_open(*e))),
                _ => {}
            }
        }
        if !entries.is_empty() {
            writes.push(FencedWrite::Entries(&entries));
        }
        if let Some(next_due) = next_due {
            writes.push(FencedWrite::Complete(next_due));
        }
        match inner.store.fenced(lease, &writes).await {
            Ok(outcomes) => {
                let mut ids = inserted.into_iter();
                let mut adopted = Vec::new();
                for o in outcomes {
                    if let FencedOutcome::Alert(r) = o {
                        let id = ids.next().unwrap_or_default();
                        if let InsertAlert::Exists(existing) = r {
                            adopted.push((id, *existing));
                        }
                    }
                }
                return Ok(adopted);
            }
            Err(StoreError::Conflict(_) | StoreError::NotFound { .. })
                if has_updates && update_mode < 2 =>
            {
                update_mode += 1;
            }
            Err(e) => {
                tries += 1;
                let delay = backoff.next_delay();
                if !retry::should_retry(&e, tries) || Instant::now() + delay >= deadline {
                    return Err(e);
                }
                EngineMetrics::add(&inner.metrics.store_errors, 1);
                tracing::warn!(check = %lease.key, error = %e, "fenced write failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn other_open(s: AlertStatus) -> AlertStatus {
    if s == AlertStatus::Active {
        AlertStatus::Acknowledged
    } else {
        AlertStatus::Active
    }
}

/// Adopts alerts another instance already holds open: the fleet takes the
/// stored alert, and our "created" event and notification are dropped.
fn adopt(inner: &Inner, decisions: Vec<Decision>, adopted: Vec<(String, Alert)>) -> Vec<Decision> {
    if adopted.is_empty() {
        return decisions;
    }
    {
        let mut fleet = lock(&inner.fleet);
        for (ours, existing) in &adopted {
            tracing::debug!(ours = %ours, existing = %existing.id, "alert already open in store: adopted");
            let mut open: Vec<Alert> = fleet
                .open_alerts()
                .into_iter()
                .filter(|a| a.target == existing.target && a.id != *ours && a.kind != existing.kind)
                .cloned()
                .collect();
            open.push(existing.clone());
            let target = existing.target.clone();
            fleet.replace_open_alerts(&target, open);
        }
    }
    let ours: HashSet<&str> = adopted.iter().map(|(id, _)| id.as_str()).collect();
    decisions
        .into_iter()
        .filter(|d| match d {
            Decision::Alert {
                change: AlertChange::Created(a),
                ..
            } => !ours.contains(a.id.as_str()),
            Decision::Notify { alert, .. } => !ours.contains(alert.id.as_str()),
            _ => true,
        })
        .collect()
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;
