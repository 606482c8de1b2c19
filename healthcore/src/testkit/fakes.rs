//! Test fakes: a scripted checker, a recording notifier, a flaky healer,
//! a store that can be switched off, and a fixed log source.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::checker::Checker;
use crate::heal::{HealAction, HealOutcome};
use crate::healer::{HealError, Healer, LogError, LogSource};
use crate::model::{CheckSpec, Observation, Outcome, Target};
use crate::notify::{Audience, Notification, Notifier, NotifyError};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One scripted step of a [`ScriptedChecker`].
#[derive(Debug, Clone)]
pub enum Step {
    /// Return this outcome.
    Outcome(Outcome),
    /// Sleep this long, then pass (to test timeouts and overlap).
    Sleep(Duration),
    /// Panic.
    Panic,
}

/// A checker of a given kind that plays a script per check (by the
/// spec's `params.script` name, or `"default"`), repeating the last step.
/// It counts calls and the most concurrent runs it saw.
#[derive(Debug)]
pub struct ScriptedChecker {
    kind: String,
    scripts: Mutex<HashMap<String, VecDeque<Step>>>,
    calls: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

impl ScriptedChecker {
    /// A checker of `kind` that passes until scripted otherwise.
    pub fn new(kind: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            kind: kind.into(),
            scripts: Mutex::new(HashMap::new()),
            calls: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
        })
    }

    /// Sets the script named `name` (the spec's `params.script`).
    pub fn script(&self, name: &str, steps: impl IntoIterator<Item = Step>) {
        lock(&self.scripts).insert(name.to_owned(), steps.into_iter().collect());
    }

    /// Sets a script of plain outcomes.
    pub fn outcomes(&self, name: &str, outcomes: impl IntoIterator<Item = Outcome>) {
        self.script(name, outcomes.into_iter().map(Step::Outcome));
    }

    /// Calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Most runs in flight at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_running.load(Ordering::SeqCst)
    }

    fn next_step(&self, spec: &CheckSpec) -> Step {
        let name = spec
            .params
            .get("script")
            .and_then(|v| v.as_str())
            .unwrap_or("default")
            .to_owned();
        let mut scripts = lock(&self.scripts);
        match scripts.get_mut(&name) {
            Some(q) if q.len() > 1 => q.pop_front().unwrap_or(Step::Outcome(Outcome::Pass)),
            Some(q) => q.front().cloned().unwrap_or(Step::Outcome(Outcome::Pass)),
            None => Step::Outcome(Outcome::Pass),
        }
    }
}

struct RunGuard<'a>(&'a AtomicUsize);
impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Checker for ScriptedChecker {
    fn kind(&self) -> &str {
        &self.kind
    }

    async fn check(&self, spec: &CheckSpec) -> Observation {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now_running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = RunGuard(&self.running);
        self.max_running.fetch_max(now_running, Ordering::SeqCst);
        let step = self.next_step(spec);
        let outcome = match step {
            Step::Outcome(o) => o,
            Step::Sleep(d) => {
                tokio::time::sleep(d).await;
                Outcome::Pass
            }
            Step::Panic => panic!("scripted checker panic"),
        };
        Observation::new(chrono::Utc::now(), outcome)
            .with_latency(Duration::from_millis(5))
            .with_message(format!("scripted {outcome}"))
    }
}

/// A notifier that records what it was sent; can be told to fail.
#[derive(Debug)]
pub struct RecordingNotifier {
    name: String,
    audience: Audience,
    sent: Mutex<Vec<Notification>>,
    attempts: Mutex<Vec<(tokio::time::Instant, bool)>>,
    fail_next: AtomicUsize,
}

impl RecordingNotifier {
    /// A recorder for `audience`.
    pub fn new(name: impl Into<String>, audience: Audience) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            audience,
            sent: Mutex::new(Vec::new()),
            attempts: Mutex::new(Vec::new()),
            fail_next: AtomicUsize::new(0),
        })
    }

    /// Fail the next `n` deliveries with a transient error.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// What was delivered.
    pub fn sent(&self) -> Vec<Notification> {
        lock(&self.sent).clone()
    }

    /// Every delivery attempt: when (tokio's clock) and whether it
    /// succeeded, in order.
    pub fn attempts(&self) -> Vec<(tokio::time::Instant, bool)> {
        lock(&self.attempts).clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn audience(&self) -> Audience {
        self.audience
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
        {
            lock(&self.attempts).push((tokio::time::Instant::now(), false));
            return Err(NotifyError::Transient("scripted failure".into()));
        }
        lock(&self.attempts).push((tokio::time::Instant::now(), true));
        lock(&self.sent).push(n.clone());
        Ok(())
    }
}

/// A healer that records calls and plays a list of results (repeating
/// the last; success when empty). It can also fail the next calls with a
/// transport error ([`FlakyHealer::unreachable_next`]), which
/// [`Healer::try_heal`] reports as [`HealError::Unreachable`].
#[derive(Debug, Default)]
pub struct FlakyHealer {
    results: Mutex<VecDeque<bool>>,
    calls: Mutex<Vec<(String, HealAction)>>,
    times: Mutex<Vec<tokio::time::Instant>>,
    unreachable: AtomicUsize,
}

impl FlakyHealer {
    /// A healer that always succeeds until scripted.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Plays these results (true = success).
    pub fn results(&self, r: impl IntoIterator<Item = bool>) {
        *lock(&self.results) = r.into_iter().collect();
    }

    /// The next `n` calls cannot reach the target: the action does not
    /// run (no result is played) and `try_heal` fails with
    /// [`HealError::Unreachable`].
    pub fn unreachable_next(&self, n: usize) {
        self.unreachable.store(n, Ordering::SeqCst);
    }

    /// Calls so far: (target id, action), unreachable ones included.
    pub fn calls(&self) -> Vec<(String, HealAction)> {
        lock(&self.calls).clone()
    }

    /// When each call was made (tokio's clock), in order.
    pub fn call_times(&self) -> Vec<tokio::time::Instant> {
        lock(&self.times).clone()
    }
}

#[async_trait]
impl Healer for FlakyHealer {
    async fn heal(&self, target: &Target, action: &HealAction) -> HealOutcome {
        match self.try_heal(target, action).await {
            Ok(outcome) => outcome,
            Err(e) => HealOutcome::failed(e.to_string()),
        }
    }

    async fn try_heal(
        &self,
        target: &Target,
        action: &HealAction,
    ) -> Result<HealOutcome, HealError> {
        lock(&self.calls).push((target.id.to_string(), action.clone()));
        lock(&self.times).push(tokio::time::Instant::now());
        if self
            .unreachable
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
        {
            return Err(HealError::Unreachable(format!(
                "scripted: {} refused the connection",
                target.id
            )));
        }
        let ok = {
            let mut r = lock(&self.results);
            if r.len() > 1 {
                r.pop_front()
            } else {
                r.front().copied()
            }
        }
        .unwrap_or(true);
        Ok(if ok {
            HealOutcome::Success { message: None }
        } else {
            HealOutcome::Failed {
                error: "scripted heal failure".into(),
            }
        })
    }
}

/// A log source returning numbered lines.
#[derive(Debug, Default)]
pub struct FixedLogs;

#[async_trait]
impl LogSource for FixedLogs {
    async fn last_lines(&self, target: &Target, lines: usize) -> Result<Vec<String>, LogError> {
        Ok((0..lines.max(1) * 2)
            .map(|i| format!("{} line {i}", target.id))
            .skip(lines.max(1))
            .collect())
    }
}

/// A switch for [`OutageStore`]: while off, every call is `Unavailable`.
#[derive(Debug, Default)]
pub struct Switch(AtomicBool);

impl Switch {
    /// Turns the store off (true) or on.
    pub fn set_down(&self, down: bool) {
        self.0.store(down, Ordering::SeqCst);
    }

    /// True when down.
    pub fn is_down(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Decides whether a row is refused ([`OutageStore::reject_results`],
/// [`OutageStore::reject_entries`]).
type Rule<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// A refusal rule, shown in `Debug` only as set or not.
struct Reject<T>(Mutex<Option<Rule<T>>>);

impl<T> Default for Reject<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T> std::fmt::Debug for Reject<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if lock(&self.0).is_some() {
            "Reject(set)"
        } else {
            "Reject(none)"
        })
    }
}

impl<T> Reject<T> {
    fn any(&self, rows: &[T]) -> Option<usize> {
        let rule = lock(&self.0);
        let rule = rule.as_ref()?;
        rows.iter().position(rule)
    }
}

/// Calls of [`Store::purge`](crate::store::Store::purge) seen by an
/// [`OutageStore`].
#[derive(Debug, Default)]
struct Purges {
    calls: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    delay: Mutex<Duration>,
}

/// A store wrapper for fault tests. It delegates every call, except:
///
/// - while its [`Switch`] is down, every call fails with `Unavailable`
///   (an outage);
/// - while its [hold switch](OutageStore::hold_switch) is down, fenced
///   writes wait (an instance paused mid-write);
/// - a batch of results containing one that
///   [`reject_results`](OutageStore::reject_results) selects fails whole
///   with `Data` and writes nothing (as PostgreSQL refuses a time out of
///   its range), and likewise journal entries
///   ([`reject_entries`](OutageStore::reject_entries));
/// - purges are counted, with the most running at once, and can be made
///   slow ([`purge_delay`](OutageStore::purge_delay)).
#[derive(Debug)]
pub struct OutageStore {
    inner: Arc<dyn crate::store::Store>,
    switch: Arc<Switch>,
    hold: Arc<Switch>,
    results: Reject<crate::store::StoredResult>,
    entries: Reject<crate::store::Entry>,
    purges: Purges,
}

impl OutageStore {
    /// Wraps `inner`; returns the store and its switch.
    pub fn new(inner: Arc<dyn crate::store::Store>) -> (Self, Arc<Switch>) {
        let switch = Arc::new(Switch::default());
        (
            Self {
                inner,
                switch: switch.clone(),
                hold: Arc::new(Switch::default()),
                results: Reject::default(),
                entries: Reject::default(),
                purges: Purges::default(),
            },
            switch,
        )
    }

    /// From now on, `append_results` of a batch holding a result that
    /// `rule` selects fails with `StoreError::Data` and writes nothing.
    pub fn reject_results(
        &self,
        rule: impl Fn(&crate::store::StoredResult) -> bool + Send + Sync + 'static,
    ) {
        *lock(&self.results.0) = Some(Box::new(rule));
    }

    /// From now on, `append_entries` of entries holding one that `rule`
    /// selects fails with `StoreError::Data` and writes nothing.
    pub fn reject_entries(
        &self,
        rule: impl Fn(&crate::store::Entry) -> bool + Send + Sync + 'static,
    ) {
        *lock(&self.entries.0) = Some(Box::new(rule));
    }

    /// Each purge takes this long (on tokio's clock) before it runs.
    pub fn purge_delay(&self, d: Duration) {
        *lock(&self.purges.delay) = d;
    }

    /// Purges called so far.
    pub fn purges(&self) -> usize {
        self.purges.calls.load(Ordering::SeqCst)
    }

    /// Most purges running at once.
    pub fn max_concurrent_purges(&self) -> usize {
        self.purges.max_running.load(Ordering::SeqCst)
    }

    /// A second switch: while it is down, [`Store::fenced`](crate::store::Store::fenced)
    /// calls wait (they are "in flight", as from an instance paused
    /// mid-write) and go through once it is up again.
    pub fn hold_switch(&self) -> Arc<Switch> {
        self.hold.clone()
    }

    fn up(&self) -> crate::store::StoreResult<()> {
        if self.switch.is_down() {
            Err(crate::store::StoreError::Unavailable(
                "switched off by the test".into(),
            ))
        } else {
            Ok(())
        }
    }
}

mod outage_impl {
    use super::OutageStore;
    use crate::alert::{Alert, AlertStatus};
    use crate::model::{CheckKey, CheckSpec, Target, TargetId};
    use crate::store::*;
    use async_trait::async_trait;
    use chrono::{DateTime, Utc};

    #[async_trait]
    impl Store for OutageStore {
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        async fn put_target(&self, t: &Target) -> StoreResult<()> {
            self.up()?;
            self.inner.put_target(t).await
        }
        async fn get_target(&self, id: &TargetId) -> StoreResult<Option<Target>> {
            self.up()?;
            self.inner.get_target(id).await
        }
        async fn list_targets(&self, q: &TargetQuery) -> StoreResult<Page<Target>> {
            self.up()?;
            self.inner.list_targets(q).await
        }
        async fn delete_target(&self, id: &TargetId) -> StoreResult<bool> {
            self.up()?;
            self.inner.delete_target(id).await
        }
        async fn put_check(&self, t: &TargetId, s: &CheckSpec) -> StoreResult<()> {
            self.up()?;
            self.inner.put_check(t, s).await
        }
        async fn list_checks(
            &self,
            t: Option<&TargetId>,
        ) -> StoreResult<Vec<(TargetId, CheckSpec)>> {
            self.up()?;
            self.inner.list_checks(t).await
        }
        async fn delete_check(&self, k: &CheckKey) -> StoreResult<bool> {
            self.up()?;
            self.inner.delete_check(k).await
        }
        async fn append_results(&self, b: &ResultBatch) -> StoreResult<()> {
            self.up()?;
            if let Some(i) = self.results.any(&b.results) {
                return Err(StoreError::Data(format!(
                    "result {i} of the batch refused by the test (at {})",
                    b.results[i].observation.at
                )));
            }
            self.inner.append_results(b).await
        }
        async fn recent_results(&self, q: &ResultQuery) -> StoreResult<Vec<StoredResult>> {
            self.up()?;
            self.inner.recent_results(q).await
        }
        async fn rollups(&self, q: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
            self.up()?;
            self.inner.rollups(q).await
        }
        async fn check_counts(
            &self,
            q: &CheckCountsQuery,
        ) -> StoreResult<Option<crate::rollup::Bucket>> {
            self.up()?;
            self.inner.check_counts(q).await
        }
        async fn put_states(&self, r: &[StateRecord]) -> StoreResult<()> {
            self.up()?;
            self.inner.put_states(r).await
        }
        async fn load_states(&self) -> StoreResult<Vec<StateRecord>> {
            self.up()?;
            self.inner.load_states().await
        }
        async fn insert_alert(&self, a: &Alert) -> StoreResult<InsertAlert> {
            self.up()?;
            self.inner.insert_alert(a).await
        }
        async fn update_alert(&self, a: &Alert, e: AlertStatus) -> StoreResult<()> {
            self.up()?;
            self.inner.update_alert(a, e).await
        }
        async fn get_alert(&self, id: &str) -> StoreResult<Option<Alert>> {
            self.up()?;
            self.inner.get_alert(id).await
        }
        async fn list_alerts(&self, q: &AlertQuery) -> StoreResult<Page<Alert>> {
            self.up()?;
            self.inner.list_alerts(q).await
        }
        async fn put_doc(&self, d: &Doc) -> StoreResult<()> {
            self.up()?;
            self.inner.put_doc(d).await
        }
        async fn get_doc(&self, k: &str, id: &str) -> StoreResult<Option<Doc>> {
            self.up()?;
            self.inner.get_doc(k, id).await
        }
        async fn list_docs(&self, q: &DocQuery) -> StoreResult<Vec<Doc>> {
            self.up()?;
            self.inner.list_docs(q).await
        }
        async fn delete_doc(&self, k: &str, id: &str) -> StoreResult<bool> {
            self.up()?;
            self.inner.delete_doc(k, id).await
        }
        async fn append_entries(&self, e: &[Entry]) -> StoreResult<()> {
            self.up()?;
            if let Some(i) = self.entries.any(e) {
                return Err(StoreError::Data(format!(
                    "entry {} ({}) refused by the test",
                    e[i].id, e[i].kind
                )));
            }
            self.inner.append_entries(e).await
        }
        async fn query_entries(&self, q: &EntryQuery) -> StoreResult<Page<Entry>> {
            self.up()?;
            self.inner.query_entries(q).await
        }
        async fn purge(&self, r: &Retention, now: DateTime<Utc>) -> StoreResult<PurgeReport> {
            use std::sync::atomic::Ordering;
            self.up()?;
            let p = &self.purges;
            p.calls.fetch_add(1, Ordering::SeqCst);
            let running = p.running.fetch_add(1, Ordering::SeqCst) + 1;
            p.max_running.fetch_max(running, Ordering::SeqCst);
            let delay = *super::lock(&p.delay);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let out = self.inner.purge(r, now).await;
            p.running.fetch_sub(1, Ordering::SeqCst);
            out
        }
        async fn claim_due(&self, r: &ClaimRequest) -> StoreResult<Vec<Lease>> {
            self.up()?;
            self.inner.claim_due(r).await
        }
        async fn claim_check(
            &self,
            k: &CheckKey,
            instance: &str,
            lease: std::time::Duration,
        ) -> StoreResult<CheckClaim> {
            self.up()?;
            self.inner.claim_check(k, instance, lease).await
        }
        async fn complete_claim(&self, l: &Lease, next: DateTime<Utc>) -> StoreResult<()> {
            self.up()?;
            self.inner.complete_claim(l, next).await
        }
        async fn complete_claims(
            &self,
            done: &[(Lease, DateTime<Utc>)],
        ) -> StoreResult<Vec<CheckKey>> {
            self.up()?;
            self.inner.complete_claims(done).await
        }
        async fn fenced(
            &self,
            l: &Lease,
            w: &[FencedWrite<'_>],
        ) -> StoreResult<Vec<FencedOutcome>> {
            self.up()?;
            while self.hold.is_down() {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            self.inner.fenced(l, w).await
        }
        async fn renew_lease(&self, l: &Lease, d: std::time::Duration) -> StoreResult<Lease> {
            self.up()?;
            self.inner.renew_lease(l, d).await
        }
        async fn release_claims(&self, instance: &str) -> StoreResult<u64> {
            self.up()?;
            self.inner.release_claims(instance).await
        }
        async fn load_states_of(&self, t: &[TargetId]) -> StoreResult<Vec<StateRecord>> {
            self.up()?;
            self.inner.load_states_of(t).await
        }
    }
}
