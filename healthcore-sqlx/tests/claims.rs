//! Multi-instance claims at the store level, against the real server:
//! three stores (three pools: three "instances") on one schema racing
//! `claim_due`, concurrent alert inserts, and fencing of a lost lease.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use healthcore::alert::{Alert, AlertKind, AlertStatus, Severity};
use healthcore::model::{CheckId, CheckKey, CheckSpec, Target, TargetId};
use healthcore::store::*;
use healthcore_sqlx::testing::TestDb;
use healthcore_sqlx::{FencedOutcome, FencedWrite, PgStore, fresh_instance_id};

fn tid(s: &str) -> TargetId {
    TargetId::new(s).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

async fn seed(store: &PgStore, targets: usize, checks_per_target: usize) -> Vec<CheckKey> {
    let mut keys = Vec::new();
    for t in 0..targets {
        let id = tid(&format!("t{t:03}"));
        store
            .put_target(&Target::new(id.clone(), "x"))
            .await
            .unwrap();
        for c in 0..checks_per_target {
            let spec = CheckSpec::new("tcp").named(CheckId::new(format!("c{c:02}")).unwrap());
            store.put_check(&id, &spec).await.unwrap();
            keys.push(spec.key(&id));
        }
    }
    keys
}

fn req(instance: &str, limit: u32, lease: Duration) -> ClaimRequest {
    ClaimRequest {
        instance: instance.to_owned(),
        limit,
        lease,
    }
}

fn alert(id: &str, target: &str, kind: AlertKind) -> Alert {
    Alert {
        id: id.to_owned(),
        target: tid(target),
        severity: Severity::default_for(&kind),
        kind,
        status: AlertStatus::Active,
        message: "m".into(),
        details: None,
        check: None,
        created_at: t0(),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        suppressed: false,
        suppressed_reason: None,
        escalated_at: None,
        first_notified_at: None,
        last_notified_at: None,
        reminders_sent: 0,
    }
}

fn state(key: &CheckKey, n: i64) -> StateRecord {
    StateRecord {
        scope: StateScope::Check { key: key.clone() },
        body: serde_json::json!({ "n": n }),
        updated_at: t0(),
    }
}

async fn expire(db_store: &PgStore, key: &CheckKey) {
    sqlx::query(
        "UPDATE hc_leases SET expires_at = now() - interval '1 second', \
         next_due = now() - interval '1 second' \
         WHERE target_id = $1 AND check_id = $2",
    )
    .bind(key.target.as_str())
    .bind(key.check.as_str())
    .execute(db_store.pool())
    .await
    .unwrap();
}

/// Three instances race for 300 checks due every 500 ms for ~4 s: each
/// check is claimed at most once per period (claims of one check are at
/// least a period apart on database time, epochs strictly increase), no
/// completion is refused, and every check keeps being run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_claim_each_due_check_once_per_period() {
    let Some(db) = TestDb::create("three_instances_claim_each_due_check_once_per_period").await
    else {
        return;
    };
    let stores = [db.store().await, db.store().await, db.store().await];
    let keys = seed(&stores[0], 30, 10).await;
    let period = chrono::Duration::milliseconds(500);
    let lease = Duration::from_secs(5);
    let run_for = Duration::from_secs(4);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for store in stores.clone() {
        tasks.push(tokio::spawn(async move {
            let me = fresh_instance_id();
            let mut seen: Vec<(CheckKey, DateTime<Utc>, i64)> = Vec::new();
            let mut refused = 0u32;
            while started.elapsed() < run_for {
                let got = store.claim_due(&req(&me, 64, lease)).await.unwrap();
                if got.is_empty() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                for l in got {
                    let claimed_at = l.expires_at - chrono::Duration::from_std(lease).unwrap();
                    seen.push((l.key.clone(), claimed_at, l.epoch));
                    if store.complete_claim(&l, claimed_at + period).await.is_err() {
                        refused += 1;
                    }
                }
            }
            (seen, refused)
        }));
    }
    let mut by_key: BTreeMap<CheckKey, Vec<(DateTime<Utc>, i64)>> = BTreeMap::new();
    let mut per_instance = Vec::new();
    for t in tasks {
        let (seen, refused) = t.await.unwrap();
        assert_eq!(refused, 0, "no completion of a held lease is refused");
        per_instance.push(seen.len());
        for (k, at, epoch) in seen {
            by_key.entry(k).or_default().push((at, epoch));
        }
    }
    assert_eq!(by_key.len(), keys.len(), "every check was claimed");
    let total: usize = per_instance.iter().sum();
    let periods = (run_for.as_millis() / 500) as usize;
    for (key, mut claims) in by_key {
        claims.sort();
        for w in claims.windows(2) {
            assert!(
                w[1].0 - w[0].0 >= period,
                "{key} claimed twice within one period: {:?} then {:?}",
                w[0],
                w[1]
            );
            assert!(w[1].1 > w[0].1, "{key}: epochs only increase");
        }
        // liveness, with slack for a loaded machine
        assert!(
            claims.len() * 2 >= periods,
            "{key} ran {} times in {periods} periods",
            claims.len()
        );
    }
    eprintln!("claims per instance: {per_instance:?} (total {total})");
    db.drop_schema().await;
}

/// 3 instances × 5 tasks insert an alert of one key at once, 20 rounds:
/// exactly one is created each round, and the others see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_alert_inserts_across_instances_create_one() {
    let Some(db) = TestDb::create("concurrent_alert_inserts_across_instances_create_one").await
    else {
        return;
    };
    let stores = [db.store().await, db.store().await, db.store().await];
    stores[0]
        .put_target(&Target::new(tid("a"), "a"))
        .await
        .unwrap();
    for round in 0..20 {
        let mut tasks = Vec::new();
        for (i, store) in stores.iter().enumerate() {
            for j in 0..5 {
                let store = store.clone();
                let a = alert(&format!("r{round}-{i}-{j}"), "a", AlertKind::Down);
                tasks.push(tokio::spawn(async move { store.insert_alert(&a).await }));
            }
        }
        let mut created = Vec::new();
        let mut existing = HashSet::new();
        for t in tasks {
            match t.await.unwrap().unwrap() {
                InsertAlert::Created => created.push(()),
                InsertAlert::Exists(a) => {
                    existing.insert(a.id);
                }
            }
        }
        assert_eq!(created.len(), 1, "round {round}: one alert created");
        assert!(existing.len() <= 1, "round {round}: all see the same alert");
        let open = stores[1]
            .list_alerts(&AlertQuery {
                open_only: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(open.total, 1, "round {round}: one open alert");
        let mut a = open.items[0].clone();
        a.status = AlertStatus::Resolved;
        a.resolved_at = Some(t0());
        stores[2]
            .update_alert(&a, AlertStatus::Active)
            .await
            .unwrap();
    }
    db.drop_schema().await;
}

/// A lease that expired and was taken over cannot complete, and none of
/// its fenced side effects land; the new owner's do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_lease_is_fenced_and_changes_nothing() {
    let Some(db) = TestDb::create("lost_lease_is_fenced_and_changes_nothing").await else {
        return;
    };
    let a = db.store().await;
    let b = db.store().await;
    let key = seed(&a, 1, 1).await.remove(0);
    let lease = Duration::from_secs(30);
    let la = a.claim_due(&req("A", 10, lease)).await.unwrap().remove(0);
    assert_eq!(la.key, key);
    // while held, fenced writes land
    let out = a
        .fenced(&la, &[FencedWrite::States(&[state(&key, 1)])])
        .await
        .unwrap();
    assert_eq!(out, vec![FencedOutcome::Written]);
    assert!(b.claim_due(&req("B", 10, lease)).await.unwrap().is_empty());

    // A pauses past its lease (simulated on database time)
    expire(&a, &key).await;
    assert!(matches!(
        a.complete_claim(&la, Utc::now()).await,
        Err(StoreError::Fenced(_))
    ));
    let lb = b.claim_due(&req("B", 10, lease)).await.unwrap().remove(0);
    assert!(lb.epoch > la.epoch, "takeover raises the epoch");

    // A resumes: everything it tries is fenced, nothing changes
    let heal = Entry {
        kind: entry_kind::HEAL_EVENT.into(),
        id: "h-late".into(),
        target: Some(key.target.clone()),
        tenant: None,
        at: t0(),
        subtype: Some("restart".into()),
        body: serde_json::json!({}),
    };
    let late_alert = alert("late", key.target.as_str(), AlertKind::Down);
    let r = a
        .fenced(
            &la,
            &[
                FencedWrite::States(&[state(&key, 2)]),
                FencedWrite::InsertAlert(&late_alert),
                FencedWrite::Entries(std::slice::from_ref(&heal)),
                FencedWrite::Complete(Utc::now() + chrono::Duration::days(1)),
            ],
        )
        .await;
    assert!(matches!(r, Err(StoreError::Fenced(_))), "{r:?}");
    assert!(matches!(
        a.complete_claim(&la, Utc::now()).await,
        Err(StoreError::Fenced(_))
    ));
    assert!(matches!(
        a.renew_lease(&la, lease).await,
        Err(StoreError::Fenced(_))
    ));
    let mut forged = lb.clone();
    forged.owner = "A".into();
    assert!(matches!(
        a.complete_claim(&forged, Utc::now()).await,
        Err(StoreError::Fenced(_))
    ));
    let states = b.load_states().await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(
        states[0].body,
        serde_json::json!({"n": 1}),
        "late state lost"
    );
    assert_eq!(b.get_alert("late").await.unwrap(), None, "late alert lost");
    assert_eq!(
        b.query_entries(&EntryQuery {
            kind: entry_kind::HEAL_EVENT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .total,
        0,
        "late heal event lost"
    );

    // the new owner writes and completes
    let out = b
        .fenced(
            &lb,
            &[
                FencedWrite::States(&[state(&key, 3)]),
                FencedWrite::InsertAlert(&alert("b1", key.target.as_str(), AlertKind::Down)),
                FencedWrite::Complete(Utc::now() + chrono::Duration::days(1)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            FencedOutcome::Written,
            FencedOutcome::Alert(InsertAlert::Created),
            FencedOutcome::Written
        ]
    );
    assert_eq!(
        b.load_states().await.unwrap()[0].body,
        serde_json::json!({"n": 3})
    );
    // completed: not due for a day, and the completed lease is spent
    assert!(a.claim_due(&req("A", 10, lease)).await.unwrap().is_empty());
    assert!(matches!(
        b.complete_claim(&lb, Utc::now()).await,
        Err(StoreError::Fenced(_))
    ));
    db.drop_schema().await;
}

/// Leases lapse on database time: after the lease, another instance takes
/// the check over and the first one's completion is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lease_is_taken_over_on_database_time() {
    let Some(db) = TestDb::create("expired_lease_is_taken_over_on_database_time").await else {
        return;
    };
    let a = db.store().await;
    let b = db.store().await;
    seed(&a, 1, 1).await;
    let short = Duration::from_millis(300);
    let la = a.claim_due(&req("A", 1, short)).await.unwrap().remove(0);
    let before = b.database_now().await.unwrap();
    assert!(la.expires_at > before);
    assert!(b.claim_due(&req("B", 1, short)).await.unwrap().is_empty());
    // wait for the database clock to pass the lease
    while b.database_now().await.unwrap() <= la.expires_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lb = b.claim_due(&req("B", 1, short)).await.unwrap().remove(0);
    assert_eq!(lb.key, la.key);
    assert!(lb.epoch > la.epoch);
    assert!(matches!(
        a.complete_claim(&la, Utc::now()).await,
        Err(StoreError::Fenced(_))
    ));
    db.drop_schema().await;
}

/// A fenced transaction in flight holds the lease row: even after the
/// lease lapses, no other instance can claim the check until it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_fenced_write_blocks_takeover() {
    let Some(db) = TestDb::create("in_flight_fenced_write_blocks_takeover").await else {
        return;
    };
    let a = db.store().await;
    let b = db.store().await;
    let key = seed(&a, 1, 1).await.remove(0);
    let la = a
        .claim_due(&req("A", 1, Duration::from_millis(300)))
        .await
        .unwrap()
        .remove(0);
    // what `fenced` does first, held open
    let mut tx = a.pool().begin().await.unwrap();
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT epoch FROM hc_leases WHERE target_id = $1 AND check_id = $2 AND owner = $3 \
         AND epoch = $4 AND expires_at > now() FOR SHARE",
    )
    .bind(key.target.as_str())
    .bind(key.check.as_str())
    .bind(&la.owner)
    .bind(la.epoch)
    .fetch_optional(&mut *tx)
    .await
    .unwrap();
    assert_eq!(held, Some(la.epoch));
    while b.database_now().await.unwrap() <= la.expires_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        b.claim_due(&req("B", 1, Duration::from_secs(30)))
            .await
            .unwrap()
            .is_empty(),
        "the row is locked by the in-flight fenced write"
    );
    tx.commit().await.unwrap();
    let lb = b
        .claim_due(&req("B", 1, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(lb.len(), 1, "taken over once the write committed");
    db.drop_schema().await;
}

/// Releasing an instance's leases hands its checks over at once and
/// fences its leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_claims_hands_over_at_once() {
    let Some(db) = TestDb::create("release_claims_hands_over_at_once").await else {
        return;
    };
    let a = db.store().await;
    let b = db.store().await;
    seed(&a, 2, 5).await;
    let lease = Duration::from_secs(60);
    let held = a.claim_due(&req("A", 100, lease)).await.unwrap();
    assert_eq!(held.len(), 10);
    assert!(b.claim_due(&req("B", 100, lease)).await.unwrap().is_empty());
    // a pause past the lease hands them over too (test helper)
    assert_eq!(healthcore_sqlx::testing::expire_leases(&a, "A").await, 10);
    let taken = b.claim_due(&req("B", 3, lease)).await.unwrap();
    assert_eq!(taken.len(), 3);
    let held: Vec<Lease> = held
        .into_iter()
        .filter(|l| !taken.iter().any(|t| t.key == l.key))
        .collect();
    let renewed = futures_renew(&a, &held, lease).await;
    assert!(renewed.is_empty(), "lapsed leases cannot be renewed");
    let held = a.claim_due(&req("A", 100, lease)).await.unwrap();
    assert_eq!(held.len(), 7, "lapsed, not taken: claimable again");
    assert_eq!(a.release_claims("A").await.unwrap(), 7);
    assert_eq!(b.claim_due(&req("B", 100, lease)).await.unwrap().len(), 7);
    assert!(matches!(
        a.complete_claim(&held[0], Utc::now()).await,
        Err(StoreError::Fenced(_))
    ));
    db.drop_schema().await;
}

/// Renewing keeps the epoch and pushes the expiry; disabled checks are
/// never claimed; a deleted check's lease completes as NotFound; epochs
/// keep increasing across a check deleted and created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renew_disabled_deleted_and_recreated_checks() {
    let Some(db) = TestDb::create("renew_disabled_deleted_and_recreated_checks").await else {
        return;
    };
    let s = db.store().await;
    let key = seed(&s, 1, 1).await.remove(0);
    let mut off = CheckSpec::new("http");
    off.enabled = false;
    s.put_check(&key.target, &off).await.unwrap();
    let got = s
        .claim_due(&req("A", 10, Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "the disabled check is not claimed");
    let l = got.into_iter().next().unwrap();
    let renewed = s.renew_lease(&l, Duration::from_secs(60)).await.unwrap();
    assert_eq!(renewed.epoch, l.epoch);
    assert!(renewed.expires_at > l.expires_at);
    assert!(s.delete_check(&key).await.unwrap());
    assert!(matches!(
        s.complete_claim(&renewed, Utc::now()).await,
        Err(StoreError::NotFound { .. })
    ));
    s.put_check(&key.target, &CheckSpec::new("tcp").named(key.check.clone()))
        .await
        .unwrap();
    let again = s
        .claim_due(&req("A", 10, Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].epoch > l.epoch, "epochs never go back");
    assert!(
        s.claim_due(&req("A", 0, Duration::from_secs(1)))
            .await
            .unwrap()
            .is_empty()
    );
    let too_long = s
        .claim_due(&req("A", 1, Duration::from_secs(u64::MAX)))
        .await;
    assert!(matches!(too_long, Err(StoreError::Data(_))), "{too_long:?}");
    db.drop_schema().await;
}

/// The store works as `Arc<dyn Store>` for claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_through_dyn_store() {
    let Some(db) = TestDb::create("claims_through_dyn_store").await else {
        return;
    };
    let s = db.store().await;
    seed(&s, 1, 3).await;
    let dynamic: Arc<dyn Store> = Arc::new(s);
    assert!(dynamic.capabilities().claims && dynamic.capabilities().persistent);
    let got = dynamic
        .claim_due(&req("A", 10, Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(got.len(), 3);
    for l in &got {
        dynamic
            .complete_claim(l, Utc::now() + chrono::Duration::hours(1))
            .await
            .unwrap();
    }
    db.drop_schema().await;
}

/// Batched completion applies held leases and reports the lost ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_completion_refuses_only_lost_leases() {
    let Some(db) = TestDb::create("batched_completion_refuses_only_lost_leases").await else {
        return;
    };
    let a = db.store().await;
    let b = db.store().await;
    seed(&a, 1, 5).await;
    let lease = Duration::from_secs(30);
    let held = a.claim_due(&req("A", 10, lease)).await.unwrap();
    assert_eq!(held.len(), 5);
    // one lease is lost to B
    expire(&a, &held[2].key).await;
    let taken = b.claim_due(&req("B", 10, lease)).await.unwrap();
    assert_eq!(taken.len(), 1);
    let later = Utc::now() + chrono::Duration::hours(1);
    let done: Vec<(Lease, DateTime<Utc>)> = held.iter().map(|l| (l.clone(), later)).collect();
    let refused = a.complete_claims(&done).await.unwrap();
    assert_eq!(refused, vec![held[2].key.clone()]);
    assert!(a.complete_claims(&[]).await.unwrap().is_empty());
    // completed ones are not due; B still holds its one
    assert!(a.claim_due(&req("A", 10, lease)).await.unwrap().is_empty());
    assert!(
        b.complete_claims(&[(taken[0].clone(), later)])
            .await
            .unwrap()
            .is_empty()
    );
    db.drop_schema().await;
}

async fn futures_renew(s: &PgStore, leases: &[Lease], length: Duration) -> Vec<Lease> {
    let mut out = Vec::new();
    for l in leases {
        if let Ok(r) = s.renew_lease(l, length).await {
            out.push(r);
        }
    }
    out
}
