//! Differential test: one recorded input fed both to [`Replay`] and to an
//! [`Engine`] built `without_scheduler()` on a [`ManualClock`] with the
//! in-memory store, the testkit's recording notifiers and a healer that
//! plays the input's `heal_result`s. Issue 4 (and `docs/replay.md`) say
//! the engine driven this way makes the decisions it would make live, and
//! that replay shows exactly those: this compares them, input line by
//! input line.
//!
//! Compared per line, as sets (the engine completes a heal in its own task,
//! so the order of one line's decisions may differ; replay completes it at
//! once): status changes (checks and targets), alerts created,
//! acknowledged, resolved and escalated (from the event bus), notifications
//! per channel (what the recording notifiers received; the dashboard
//! notifier `log` is replay's `dashboard`), heal events (action, result,
//! reason), breaker and lifecycle changes. At the end, the summaries.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeZone;
use serde_json::Value;

use super::*;
use crate::alert::{Alert, AlertKind, NotificationKind};
use crate::clock::ManualClock;
use crate::engine::{Engine, EngineConfig};
use crate::event::Event;
use crate::heal::HealAction;
use crate::healer::Healer;
use crate::maintenance::{Schedule, Selector};
use crate::memory::InMemoryStore;
use crate::model::{DEFAULT_TENANT, Outcome, TenantId};
use crate::notify::Notification;
use crate::report::ReportBody;
use crate::store::{AlertQuery, PageRequest};
use crate::testkit::fakes::{RecordingNotifier, ScriptedChecker};

fn tid(s: &str) -> TargetId {
    TargetId::new(s).expect("id")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
}

/// The setup both sides run: `web` (a tcp check, failure threshold 3, the
/// default heal policy), `db` (failure threshold 2, success threshold 2,
/// a maintenance window 09:01–09:15, a route escalating after 1 min to the
/// dashboard and `slack` only), `app` (a child of `db`), `node-1` and
/// `node-2` (passive, by MAC address; `node-2` installs); two external
/// channels `ops` and `slack`.
fn setup() -> ReplaySetup {
    let node = |id: &str, mac: &str| {
        let mut n = Target::new(tid(id), id);
        n.kind = "node".into();
        n.mac_address = Some(mac.into());
        n
    };
    let mut app = Target::new(tid("app"), "app");
    app.parents = vec![tid("db")];
    // restarts `cache` at every failure: its third failed restart trips
    // the breaker on the observation that takes it down
    let mut cache_policy = HealPolicy::new(
        "p2",
        TenantId::new(DEFAULT_TENANT).unwrap(),
        "restart cache at once",
    );
    cache_policy.trigger_after_failures = 1;
    cache_policy.cooldown = Duration::ZERO;
    cache_policy.selector.targets = vec![tid("cache")];
    let mut db_check = CheckSpec::new("tcp");
    db_check.failure_threshold = 2;
    db_check.success_threshold = 2;
    ReplaySetup {
        targets: vec![
            Target::new(tid("web"), "web"),
            Target::new(tid("db"), "db"),
            app,
            Target::new(tid("cache"), "cache"),
            node("node-1", "aa:bb:cc:00:11:22"),
            node("node-2", "aa:bb:cc:00:11:33"),
        ],
        checks: vec![
            (tid("web"), CheckSpec::new("tcp")),
            (tid("db"), db_check),
            (tid("app"), CheckSpec::new("tcp")),
            (tid("cache"), CheckSpec::new("tcp")),
        ],
        heal_policies: vec![
            HealPolicy::new(
                "p1",
                TenantId::new(DEFAULT_TENANT).unwrap(),
                "restart on failure",
            ),
            cache_policy,
        ],
        maintenance: vec![MaintenanceWindow {
            id: "db-upgrade".into(),
            name: "db upgrade".into(),
            schedule: Schedule::OneOff {
                start: t0() + chrono::TimeDelta::minutes(61),
                end: t0() + chrono::TimeDelta::minutes(75),
            },
            selector: Selector {
                targets: vec![tid("db")],
                ..Selector::default()
            },
            created_by: None,
        }],
        channels: vec![AlertChannelConfig {
            target: Some(tid("db")),
            escalation_delay: Duration::from_secs(60),
            channels: vec!["dashboard".into(), "slack".into()],
            webhook_url: None,
            enabled: true,
        }],
        external_channels: vec!["ops".into(), "slack".into()],
        ..ReplaySetup::default()
    }
}

/// The recorded input: thresholds, a failed heal, cooldown, escalation by
/// ticks, staleness and recovery of a passive node, a breaker trip,
/// exhausted attempts, an acknowledgement, the breaker's cooldown and
/// recovery; then `db`'s own thresholds, a heal, a route-limited
/// escalation, and a failure inside a maintenance window released when it
/// ends.
fn input() -> Vec<String> {
    let at = |m: i64| (t0() + chrono::TimeDelta::seconds(m)).to_rfc3339();
    let obs = |s: i64, t: &str, o: &str| {
        format!(
            r#"{{"at":"{}","target":"{t}","check":"tcp","outcome":"{o}","latency_ms":12}}"#,
            at(s)
        )
    };
    let tick = |s: i64| format!(r#"{{"at":"{}"}}"#, at(s));
    let hb = |s: i64, mac: &str| {
        format!(
            r#"{{"at":"{}","report":{{"mac_address":"{mac}","event":"heartbeat"}}}}"#,
            at(s)
        )
    };
    let failed = |s: i64, t: &str| {
        format!(
            r#"{{"at":"{}","heal_result":{{"target":"{t}","result":"failed"}}}}"#,
            at(s)
        )
    };
    let event = |s: i64, mac: &str, body: &str| {
        format!(
            r#"{{"at":"{}","report":{{"mac_address":"{mac}",{body}}}}}"#,
            at(s)
        )
    };
    let n2 = "aa:bb:cc:00:11:33";
    let m = 60;
    vec![
        hb(0, "AA-BB-CC-00-11-22"),
        event(0, n2, r#""event":"boot_started","ip_address":"10.0.0.7""#),
        obs(0, "web", "pass"),
        obs(0, "db", "pass"),
        obs(m, "web", "fail"),
        obs(2 * m, "web", "fail"),
        failed(3 * m, "web"),
        failed(3 * m, "web"),
        failed(3 * m, "web"),
        obs(3 * m, "web", "fail"),
        obs(4 * m, "web", "fail"),
        event(5 * m, n2, r#""event":"install_started""#),
        tick(9 * m),
        event(
            10 * m,
            n2,
            r#""event":"install_progress","status":"in_progress","progress":40"#,
        ),
        obs(13 * m, "web", "fail"),
        tick(16 * m),
        obs(23 * m, "web", "fail"),
        obs(24 * m, "web", "fail"),
        format!(
            r#"{{"at":"{}","ack":{{"target":"web","type":"down","by":"alice"}}}}"#,
            at(25 * m)
        ),
        tick(34 * m),
        tick(54 * m),
        obs(55 * m, "web", "pass"),
        hb(56 * m, "aabb.cc00.1122"),
        obs(57 * m, "db", "fail"),
        obs(57 * m, "app", "fail"),
        obs(58 * m, "db", "fail"),
        obs(58 * m, "app", "fail"),
        obs(59 * m, "db", "fail"),
        obs(59 * m, "app", "fail"),
        tick(59 * m + 30),
        obs(60 * m, "db", "pass"),
        obs(60 * m, "app", "pass"),
        obs(60 * m + 30, "db", "pass"),
        obs(60 * m + 30, "app", "pass"),
        tick(61 * m),
        obs(62 * m, "db", "fail"),
        obs(63 * m, "db", "fail"),
        obs(64 * m, "db", "fail"),
        tick(70 * m),
        tick(76 * m),
        obs(77 * m, "db", "pass"),
        obs(78 * m, "db", "pass"),
        tick(80 * m),
        // the network, not the service: never healed
        obs(81 * m, "web", "unreachable"),
        obs(82 * m, "web", "unreachable"),
        obs(83 * m, "web", "unreachable"),
        obs(84 * m, "web", "unknown"),
        obs(85 * m, "web", "pass"),
        // node-2 tries again and makes it
        event(86 * m, n2, r#""installation_status":"started""#),
        event(87 * m, n2, r#""event":"install_complete""#),
        event(88 * m, n2, r#""event":"first_boot""#),
        tick(90 * m),
        failed(91 * m, "cache"),
        failed(91 * m, "cache"),
        failed(91 * m, "cache"),
        obs(91 * m, "cache", "fail"),
        obs(92 * m, "cache", "fail"),
        obs(93 * m, "cache", "fail"),
        obs(94 * m, "cache", "pass"),
    ]
}

/// A healer that plays each target's queued results (`true` = success),
/// succeeding when nothing is queued: replay's `heal_result` rule.
#[derive(Debug, Default)]
struct QueuedHealer {
    queue: Mutex<HashMap<TargetId, VecDeque<bool>>>,
}

impl QueuedHealer {
    fn push(&self, target: TargetId, ok: bool) {
        self.queue
            .lock()
            .unwrap()
            .entry(target)
            .or_default()
            .push_back(ok);
    }
}

#[async_trait]
impl Healer for QueuedHealer {
    async fn heal(&self, target: &Target, _action: &HealAction) -> HealOutcome {
        let ok = self
            .queue
            .lock()
            .unwrap()
            .get_mut(&target.id)
            .and_then(VecDeque::pop_front)
            .unwrap_or(true);
        if ok {
            HealOutcome::Success {
                message: Some("replayed".into()),
            }
        } else {
            HealOutcome::failed("replayed heal_result: failed")
        }
    }
}

// ---- one comparable text per decision -----------------------------------

fn status_fact(
    target: &TargetId,
    check: Option<&str>,
    from: impl std::fmt::Debug,
    to: impl std::fmt::Debug,
    cause: impl std::fmt::Debug,
    at: DateTime<Utc>,
) -> String {
    format!(
        "status {target}/{} {from:?}->{to:?} ({cause:?}) @{}",
        check.unwrap_or("-"),
        at.format("%H:%M:%S")
    )
}

fn alert_fact(what: &str, a: &AlertLine) -> String {
    format!(
        "{what} {} {} {} {:?} suppressed={}{} by={:?} @{}",
        a.target,
        a.alert,
        a.alert_id,
        a.severity,
        a.suppressed,
        a.suppressed_reason
            .as_deref()
            .map(|r| format!("({r})"))
            .unwrap_or_default(),
        a.by,
        a.at.format("%H:%M:%S")
    )
}

fn engine_alert_fact(what: &str, a: &Alert, at: Option<DateTime<Utc>>) -> String {
    alert_fact(
        what,
        &AlertLine {
            at: at.unwrap_or(a.created_at),
            target: a.target.clone(),
            alert: a.kind.clone(),
            alert_id: a.id.clone(),
            severity: a.severity,
            suppressed: a.suppressed,
            suppressed_reason: a.suppressed_reason.as_ref().map(|r| {
                match r {
                    SuppressReason::Maintenance => "maintenance",
                    SuppressReason::ParentDown { .. } => "parent_down",
                    SuppressReason::SuppressionWindow => "suppression_window",
                    #[allow(unreachable_patterns)]
                    _ => "suppressed",
                }
                .to_owned()
            }),
            by: if what == "alert_acknowledged" {
                a.acknowledged_by.clone()
            } else {
                None
            },
            message: a.message.clone(),
        },
    )
}

fn heal_fact(h: &HealLine) -> String {
    format!(
        "heal {} {} {:?} {} {:?} @{}",
        h.target,
        h.action,
        h.result,
        h.reason,
        h.detail,
        h.at.format("%H:%M:%S")
    )
}

fn notification_fact(
    channel: &str,
    target: &TargetId,
    alert: &AlertKind,
    id: &str,
    kind: NotificationKind,
    at: DateTime<Utc>,
) -> String {
    format!(
        "notify {channel} {target} {alert} {id} {kind:?} @{}",
        at.format("%H:%M:%S")
    )
}

fn replay_fact(line: &ReplayLine) -> Option<String> {
    Some(match line {
        ReplayLine::StatusChanged(s) => {
            status_fact(&s.target, s.check.as_deref(), s.from, s.to, s.cause, s.at)
        }
        ReplayLine::AlertCreated(a) => alert_fact("alert_created", a),
        ReplayLine::AlertAcknowledged(a) => alert_fact("alert_acknowledged", a),
        ReplayLine::AlertResolved(a) => alert_fact("alert_resolved", a),
        ReplayLine::AlertEscalated(a) => alert_fact("alert_escalated", a),
        ReplayLine::Notification(n) => {
            notification_fact(&n.channel, &n.target, &n.alert, &n.alert_id, n.kind, n.at)
        }
        ReplayLine::Breaker(b) => format!(
            "breaker {}/{} {:?}->{:?} @{}",
            b.target,
            b.check,
            b.from,
            b.to,
            b.at.format("%H:%M:%S")
        ),
        ReplayLine::Heal(h) => heal_fact(h),
        ReplayLine::Lifecycle(l) => format!(
            "lifecycle {} {:?}->{:?} @{}",
            l.target,
            l.from,
            l.to,
            l.at.format("%H:%M:%S")
        ),
        _ => return None,
    })
}

fn event_fact(e: &Event) -> Option<String> {
    Some(match e {
        Event::StatusChanged {
            target,
            check,
            from,
            to,
            cause,
            at,
            ..
        } => status_fact(
            target,
            check.as_ref().map(|c| c.as_str()),
            from,
            to,
            cause,
            *at,
        ),
        Event::AlertCreated { alert, .. } => engine_alert_fact("alert_created", alert, None),
        Event::AlertAcknowledged { alert, .. } => {
            engine_alert_fact("alert_acknowledged", alert, alert.acknowledged_at)
        }
        Event::AlertResolved { alert, .. } => {
            engine_alert_fact("alert_resolved", alert, alert.resolved_at)
        }
        Event::AlertEscalated { alert, .. } => {
            engine_alert_fact("alert_escalated", alert, alert.escalated_at)
        }
        // the decision to heal: it stands where the decision was made,
        // and takes its result when the heal completes (see `decisions`)
        Event::HealAttempted { event, .. } if event.result == HealResult::Pending => {
            format!("{PENDING}{}", event.id)
        }
        Event::HealAttempted { event, .. } => match heal_line(
            event,
            (event.result == HealResult::Skipped)
                .then(|| SkipReason::code_of_sentence(&event.reason))
                .flatten(),
        ) {
            ReplayLine::Heal(h) => heal_fact(&h),
            _ => unreachable!("heal_line makes heal lines"),
        },
        Event::BreakerChanged {
            target,
            check,
            from,
            to,
            at,
            ..
        } => format!(
            "breaker {target}/{check} {from:?}->{to:?} @{}",
            at.format("%H:%M:%S")
        ),
        Event::LifecycleChanged {
            target,
            from,
            to,
            at,
            ..
        } => format!(
            "lifecycle {target} {from:?}->{to:?} @{}",
            at.format("%H:%M:%S")
        ),
        _ => return None,
    })
}

/// The placeholder of a heal decided but not completed yet.
const PENDING: &str = "heal pending ";

fn sent_fact(channel: &str, n: &Notification) -> String {
    notification_fact(
        channel,
        &n.alert.target,
        &n.alert.kind,
        &n.alert.id,
        n.kind,
        n.at,
    )
}

// ---- the engine side ----------------------------------------------------

struct EngineRig {
    engine: Engine,
    clock: Arc<ManualClock>,
    healer: Arc<QueuedHealer>,
    events: tokio::sync::broadcast::Receiver<Event>,
    notifiers: Vec<(&'static str, Arc<RecordingNotifier>)>,
    /// notifications already collected, per notifier
    seen: Vec<usize>,
}

impl EngineRig {
    async fn new(setup: &ReplaySetup, start: DateTime<Utc>) -> Self {
        let clock = Arc::new(ManualClock::new(start));
        let healer = Arc::new(QueuedHealer::default());
        // the dashboard notifier's name does not matter: replay calls
        // every dashboard channel `dashboard`
        let notifiers = vec![
            (
                "dashboard",
                RecordingNotifier::new("log", Audience::Dashboard),
            ),
            ("ops", RecordingNotifier::new("ops", Audience::External)),
            ("slack", RecordingNotifier::new("slack", Audience::External)),
        ];
        let mut b = Engine::builder(Arc::new(InMemoryStore::new()))
            .clock(clock.clone())
            .checker(ScriptedChecker::new("tcp"))
            .healer(healer.clone())
            .config(EngineConfig {
                rules: setup.rules.clone(),
                ..EngineConfig::default()
            })
            .without_scheduler()
            .instance_id(REPLAY_ID_PREFIX);
        for (_, n) in &notifiers {
            b = b.notifier(n.clone());
        }
        let engine = b.build().expect("engine");
        let events = engine.subscribe();
        engine.start().await.expect("start");
        for t in &setup.targets {
            engine.add_target(t.clone()).await.expect("target");
        }
        for (t, spec) in &setup.checks {
            engine.add_check(t, spec.clone()).await.expect("check");
        }
        for p in &setup.heal_policies {
            engine.put_heal_policy(p.clone()).await.expect("policy");
        }
        for w in &setup.maintenance {
            engine
                .put_maintenance(w.clone(), None)
                .await
                .expect("window");
        }
        for c in &setup.channels {
            engine.put_alert_channel(c.clone()).await.expect("route");
        }
        let seen = vec![0; notifiers.len()];
        Self {
            engine,
            clock,
            healer,
            events,
            notifiers,
            seen,
        }
    }

    /// Feeds one input line as the daemon would get it.
    async fn feed(&mut self, line: &str) {
        let v: Value = serde_json::from_str(line).expect("json");
        let at = DateTime::parse_from_rfc3339(v["at"].as_str().expect("at"))
            .expect("at")
            .with_timezone(&Utc);
        self.clock.set(at);
        let e = &self.engine;
        if let Some(r) = v.get("report") {
            let body: ReportBody = serde_json::from_value(r.clone()).expect("report");
            let target = e.target_by_mac(&body.mac_address).await.expect("by MAC");
            let report = body.into_report(None).expect("report");
            e.report(&target.id, &report).expect("report");
        } else if let Some(a) = v.get("ack") {
            let (target, kind) = (tid(a["target"].as_str().unwrap()), a["type"].as_str());
            e.flush().await;
            let open = e
                .store()
                .list_alerts(&AlertQuery {
                    open_only: true,
                    page: PageRequest::max(),
                    ..AlertQuery::default()
                })
                .await
                .expect("alerts");
            if let Some(alert) = open.items.iter().find(|x| {
                x.target == target
                    && Some(x.kind.to_string().as_str()) == kind
                    && x.status == AlertStatus::Active
            }) {
                e.acknowledge(&alert.id, a["by"].as_str().unwrap())
                    .await
                    .expect("ack");
            }
        } else if let Some(h) = v.get("heal_result") {
            self.healer.push(
                tid(h["target"].as_str().unwrap()),
                h["result"].as_str() != Some("failed"),
            );
        } else if let Some(t) = v.get("target") {
            let check = CheckId::new(v["check"].as_str().unwrap()).unwrap();
            let mut obs =
                Observation::new(at, Outcome::parse(v["outcome"].as_str().unwrap()).unwrap());
            if let Some(ms) = v["latency_ms"].as_f64() {
                obs = obs.with_latency(Duration::from_secs_f64(ms / 1000.0));
            }
            e.ingest(&CheckKey::new(tid(t.as_str().unwrap()), check), obs)
                .expect("ingest");
        } else {
            e.tick();
        }
    }

    /// Lets the heal and notification tasks run, and collects what the
    /// engine decided since the last call: the event bus's decisions in
    /// order (a completed heal in the place where it was decided), and the
    /// notifications the channels received (delivered by tasks of their
    /// own, so in no particular order: sorted).
    async fn decisions(&mut self) -> Step {
        for _ in 0..4 {
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
            self.engine.flush().await;
        }
        let mut decisions: Vec<String> = Vec::new();
        let mut pending: HashMap<String, usize> = HashMap::new();
        while let Ok(e) = self.events.try_recv() {
            let Some(fact) = event_fact(&e) else {
                continue;
            };
            if let Some(id) = fact.strip_prefix(PENDING) {
                pending.insert(id.to_owned(), decisions.len());
            } else if let Event::HealAttempted { event, .. } = &e {
                if let Some(at) = pending.remove(&event.id) {
                    decisions[at] = fact;
                    continue;
                }
            }
            decisions.push(fact);
        }
        let mut notifications = Vec::new();
        for (i, (channel, n)) in self.notifiers.iter().enumerate() {
            let sent = n.sent();
            notifications.extend(sent[self.seen[i]..].iter().map(|s| sent_fact(channel, s)));
            self.seen[i] = sent.len();
        }
        notifications.sort();
        Step {
            decisions,
            notifications,
        }
    }
}

/// What one input line led to: decisions in order, notifications sorted.
#[derive(Debug, PartialEq)]
struct Step {
    decisions: Vec<String>,
    notifications: Vec<String>,
}

impl Step {
    /// The step with `instance` in its ids written as `prefix`.
    fn with_ids_of(self, instance: &str, prefix: &str) -> Self {
        let fix = |v: Vec<String>| -> Vec<String> {
            v.into_iter().map(|f| f.replace(instance, prefix)).collect()
        };
        let mut notifications = fix(self.notifications);
        notifications.sort();
        Step {
            decisions: fix(self.decisions),
            notifications,
        }
    }

    fn of_replay(out: &[u8]) -> Self {
        let facts = String::from_utf8(out.to_vec())
            .unwrap()
            .lines()
            .filter_map(|l| replay_fact(&serde_json::from_str(l).expect("line")))
            .collect::<Vec<_>>();
        let (mut notifications, decisions): (Vec<String>, Vec<String>) =
            facts.into_iter().partition(|f| f.starts_with("notify "));
        notifications.sort();
        Step {
            decisions,
            notifications,
        }
    }
}

#[tokio::test]
async fn replay_and_the_engine_make_the_same_decisions() {
    let setup = setup();
    let input = input();
    let mut replay = Replay::new(setup.clone()).expect("setup");
    let mut rig = EngineRig::new(&setup, t0()).await;
    let mut steps: Vec<(String, Step, Step)> = Vec::new();
    for line in &input {
        let mut out = Vec::new();
        replay.feed(line, &mut out).expect("replay");
        rig.feed(line).await;
        // the engine's ids carry its instance id (the prefix plus fresh
        // random bits); replay's carry the prefix alone
        let instance = rig.engine.instance_id().to_owned();
        let live = rig
            .decisions()
            .await
            .with_ids_of(&instance, REPLAY_ID_PREFIX);
        steps.push((line.clone(), Step::of_replay(&out), live));
    }

    let mut report = String::new();
    for (i, (line, r, e)) in steps.iter().enumerate() {
        if r != e {
            report.push_str(&format!(
                "input line {}: {line}\n  replay: {r:#?}\n  engine: {e:#?}\n",
                i + 1
            ));
        }
    }
    assert!(report.is_empty(), "replay and engine diverge:\n{report}");

    // the input exercises what it claims to
    let all: Vec<&String> = steps
        .iter()
        .flat_map(|(_, r, _)| r.decisions.iter().chain(&r.notifications))
        .collect();
    for needle in [
        "heal web restart Failed 3 consecutive failures",
        "heal web restart Skipped cooldown",
        "breaker web/tcp Closed->Open",
        "breaker web/tcp HalfOpen->Closed",
        "alert_created web heal_exhausted",
        "alert_acknowledged web down",
        "alert_escalated node-1 stale",
        "notify ops web down",
        "notify slack db down",
        "status node-1/- Healthy->Degraded (Stale)",
        "status node-1/- Degraded->Healthy",
        "suppressed=true(maintenance)",
        "heal db restart Skipped maintenance",
        "suppressed=true(parent_down)",
        "heal web restart Skipped unreachable",
        "alert_created node-2 install_timeout",
        "lifecycle node-2 Installing->Installed",
        "breaker cache/tcp Closed->Open",
    ] {
        assert!(
            all.iter().any(|f| f.contains(needle)),
            "no decision {needle:?} in:\n{all:#?}"
        );
    }
    // db's route sends nothing to ops
    assert!(
        !all.iter().any(|f| f.starts_with("notify ops db")),
        "{all:#?}"
    );

    // and they end in the same place
    let mut out = Vec::new();
    let finished = replay.finish(&mut out).expect("finish");
    let live = rig.engine.summary(None);
    assert_eq!(finished.summary.total_targets, live.total_targets);
    assert_eq!(finished.summary.by_status, live.by_status);
    assert_eq!(finished.summary.active_alerts, live.active_alerts);
    assert_eq!(finished.summary.critical_alerts, live.critical_alerts);
    rig.engine.shutdown().await;
}
