//! Multi-instance claims: leases on database time with an epoch that only
//! increases, and fencing of every side effect of a claimed check.
//!
//! The rule (DESIGN.md §7): an instance runs a check only under a lease it
//! took with [`Store::claim_due`](healthcore::store::Store::claim_due)
//! (`FOR UPDATE SKIP LOCKED`, so racing instances take disjoint sets), and
//! every write that follows from the run — state, alert, heal event, the
//! completion itself — checks owner, epoch and expiry *in the database*
//! and holds the lease row locked until it commits. An instance that lost
//! its lease (paused, partitioned, too slow) therefore changes nothing:
//! its writes come back [`StoreError::Fenced`].
//!
//! Epochs come from one sequence (`hc_lease_epoch`), so they increase
//! across every claim of every check, even one deleted and created again.
//! This module holds no scheduling rule: the engine picks the lease length
//! and the next due time.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use healthcore::model::CheckKey;
use healthcore::store::{
    CheckClaim, ClaimRequest, FencedOutcome, FencedWrite, Lease, StoreError, StoreResult,
};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use crate::PgStore;
use crate::rows::{Db, cid, clamp, tid};
use crate::store::{append_entries_on, insert_alert_on, put_states_on, update_alert_on};

/// A fresh instance id for [`ClaimRequest::instance`]: host, process id,
/// start time and randomness, so two processes (or two starts of one)
/// never share one. Call it once per process start.
///
/// ```
/// let a = healthcore_sqlx::fresh_instance_id();
/// let b = healthcore_sqlx::fresh_instance_id();
/// assert_ne!(a, b);
/// assert!(a.len() <= 128);
/// ```
pub fn fresh_instance_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos);
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!(
        "{host}-{}-{:x}-{:016x}",
        std::process::id(),
        nanos as u64,
        h.finish()
    )
}

fn micros(d: Duration, what: &str) -> StoreResult<i64> {
    i64::try_from(d.as_micros()).map_err(|_| StoreError::Data(format!("{what} too long")))
}

pub(crate) async fn claim_due(pool: &PgPool, req: &ClaimRequest) -> StoreResult<Vec<Lease>> {
    if req.limit == 0 {
        return Ok(Vec::new());
    }
    let lease_us = micros(req.lease, "lease")?;
    // Most overdue first; rows another claimer holds locked are skipped.
    // A claim moves `next_due` to the lease's expiry, so held checks drop
    // out of the due index until their lease lapses (then they are due
    // again and another instance takes them over): a claim reads only
    // what it takes, however many leases are held.
    let rows = sqlx::query(
        "UPDATE hc_leases c SET owner = $1, epoch = nextval('hc_lease_epoch'), \
           expires_at = now() + $3 * interval '1 microsecond', \
           next_due = now() + $3 * interval '1 microsecond' \
         WHERE c.ctid = ANY(ARRAY( \
           SELECT ctid FROM hc_leases \
           WHERE enabled AND next_due <= now() \
             AND (owner IS NULL OR expires_at IS NULL OR expires_at <= now()) \
           ORDER BY next_due \
           LIMIT $2 \
           FOR UPDATE SKIP LOCKED)) \
         RETURNING c.target_id, c.check_id, c.epoch, c.expires_at",
    )
    .bind(&req.instance)
    .bind(i64::from(req.limit))
    .bind(lease_us as f64)
    .fetch_all(pool)
    .await
    .db()?;
    let mut out = rows
        .into_iter()
        .map(|r| {
            let t: &str = r.try_get(0).db()?;
            let c: &str = r.try_get(1).db()?;
            Ok(Lease {
                key: CheckKey::new(tid(t)?, cid(c)?),
                owner: req.instance.clone(),
                epoch: r.try_get(2).db()?,
                expires_at: r.try_get(3).db()?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Why a lease check failed: the check is gone, or the lease is lost.
async fn lost(conn: &mut PgConnection, lease: &Lease) -> StoreError {
    let exists: Result<bool, _> = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM hc_leases WHERE target_id = $1 AND check_id = $2)",
    )
    .bind(lease.key.target.as_str())
    .bind(lease.key.check.as_str())
    .fetch_one(&mut *conn)
    .await;
    match exists {
        Ok(false) => StoreError::not_found("check", &lease.key),
        Ok(true) => StoreError::Fenced(lease.key.to_string()),
        Err(e) => crate::map_sqlx_error(e),
    }
}

/// The lease is held: owner and epoch match and it has not expired on
/// database time (`$1..$4` = target, check, owner, epoch).
macro_rules! held {
    () => {
        "target_id = $1 AND check_id = $2 AND owner = $3 AND epoch = $4 AND expires_at > now()"
    };
}

async fn complete_on(
    conn: &mut PgConnection,
    lease: &Lease,
    next_due: DateTime<Utc>,
) -> StoreResult<()> {
    let n = sqlx::query(concat!(
        "UPDATE hc_leases SET next_due = $5, owner = NULL, expires_at = NULL WHERE ",
        held!()
    ))
    .bind(lease.key.target.as_str())
    .bind(lease.key.check.as_str())
    .bind(&lease.owner)
    .bind(lease.epoch)
    .bind(clamp(next_due))
    .execute(&mut *conn)
    .await
    .db()?
    .rows_affected();
    if n == 1 {
        Ok(())
    } else {
        Err(lost(conn, lease).await)
    }
}

pub(crate) async fn complete_claim(
    pool: &PgPool,
    lease: &Lease,
    next_due: DateTime<Utc>,
) -> StoreResult<()> {
    let mut conn = pool.acquire().await.db()?;
    complete_on(&mut conn, lease, next_due).await
}

impl PgStore {
    /// Applies `writes` in one transaction, only while `lease` is held:
    /// the lease row is checked (owner, epoch, not expired on database
    /// time) and locked `FOR SHARE` first, so no other instance can claim
    /// the check until the writes commit. A lost lease is
    /// [`StoreError::Fenced`] and nothing is written; any other error also
    /// rolls everything back.
    ///
    /// ```no_run
    /// # async fn demo(store: healthcore_sqlx::PgStore, lease: healthcore::store::Lease,
    /// #   state: healthcore::store::StateRecord, next: chrono::DateTime<chrono::Utc>) {
    /// use healthcore_sqlx::FencedWrite;
    /// match store.fenced(&lease, &[FencedWrite::States(&[state]), FencedWrite::Complete(next)]).await {
    ///     Ok(_) => {}
    ///     Err(healthcore::store::StoreError::Fenced(_)) => { /* another instance owns it now */ }
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// # }
    /// ```
    pub async fn fenced(
        &self,
        lease: &Lease,
        writes: &[FencedWrite<'_>],
    ) -> StoreResult<Vec<FencedOutcome>> {
        let mut tx = self.pool.begin().await.db()?;
        let held: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT epoch FROM hc_leases WHERE ",
            held!(),
            " FOR SHARE"
        ))
        .bind(lease.key.target.as_str())
        .bind(lease.key.check.as_str())
        .bind(&lease.owner)
        .bind(lease.epoch)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if held.is_none() {
            let e = lost(&mut tx, lease).await;
            let _ = tx.rollback().await;
            return Err(e);
        }
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            let done = match *w {
                FencedWrite::States(records) => {
                    put_states_on(&mut tx, records).await?;
                    FencedOutcome::Written
                }
                FencedWrite::InsertAlert(alert) => {
                    FencedOutcome::Alert(insert_alert_on(&mut tx, alert).await?)
                }
                FencedWrite::UpdateAlert(alert, expected) => {
                    update_alert_on(&mut tx, alert, expected).await?;
                    FencedOutcome::Written
                }
                FencedWrite::Entries(entries) => {
                    append_entries_on(&mut tx, entries).await?;
                    FencedOutcome::Written
                }
                FencedWrite::Complete(next_due) => {
                    complete_on(&mut tx, lease, next_due).await?;
                    FencedOutcome::Written
                }
                #[allow(unreachable_patterns)]
                other => {
                    let _ = tx.rollback().await;
                    tracing::error!(write = other.name(), "fenced write kind not supported");
                    return Err(StoreError::Unsupported("fenced write"));
                }
            };
            out.push(done);
        }
        tx.commit().await.db()?;
        Ok(out)
    }

    /// Completes many claims in one statement: each `(lease, next_due)`
    /// is applied only where that lease is still held, as
    /// [`complete_claim`](healthcore::store::Store::complete_claim) would.
    /// Returns the keys that were refused (lease lost, or check gone), in
    /// key order; an empty vector means all completed.
    pub async fn complete_claims(
        &self,
        done: &[(Lease, DateTime<Utc>)],
    ) -> StoreResult<Vec<CheckKey>> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        // key order: rows are locked in the same order by every instance
        let mut sorted: Vec<&(Lease, DateTime<Utc>)> = done.iter().collect();
        sorted.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        let n = sorted.len();
        let mut targets = Vec::with_capacity(n);
        let mut checks = Vec::with_capacity(n);
        let mut owners = Vec::with_capacity(n);
        let mut epochs = Vec::with_capacity(n);
        let mut dues = Vec::with_capacity(n);
        for (l, due) in &sorted {
            targets.push(l.key.target.as_str());
            checks.push(l.key.check.as_str());
            owners.push(l.owner.as_str());
            epochs.push(l.epoch);
            dues.push(clamp(*due));
        }
        // COALESCE keeps the planner from trusting column statistics that
        // say "no lease is held" (a one-row estimate there picks a nested
        // loop over the whole batch per row).
        let completed: Vec<(String, String)> = sqlx::query_as(
            "UPDATE hc_leases c SET next_due = u.next_due, owner = NULL, expires_at = NULL \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::timestamptz[]) \
               AS u(target_id, check_id, owner, epoch, next_due) \
             WHERE c.target_id = u.target_id AND c.check_id = u.check_id \
               AND c.owner = u.owner AND c.epoch = u.epoch \
               AND COALESCE(c.expires_at, '-infinity') > now() \
             RETURNING c.target_id, c.check_id",
        )
        .bind(targets)
        .bind(checks)
        .bind(owners)
        .bind(epochs)
        .bind(dues)
        .fetch_all(&self.pool)
        .await
        .db()?;
        let completed: std::collections::HashSet<(String, String)> =
            completed.into_iter().collect();
        let mut refused: Vec<CheckKey> = sorted
            .into_iter()
            .filter(|(l, _)| {
                !completed.contains(&(
                    l.key.target.as_str().to_owned(),
                    l.key.check.as_str().to_owned(),
                ))
            })
            .map(|(l, _)| l.key.clone())
            .collect();
        refused.dedup();
        Ok(refused)
    }

    /// Claims one check now, whatever its due time (a recheck in claims
    /// mode), on database time and under the row's lock: a new lease
    /// (next epoch of the sequence; the check leaves the due set until it
    /// lapses) when nobody holds an unexpired one, the held lease extended
    /// to `length` from now (same epoch) when `instance` holds it, and
    /// [`CheckClaim::Held`] (nothing changed) when another instance does.
    /// `NotFound` when the check does not exist.
    pub async fn claim_check(
        &self,
        key: &CheckKey,
        instance: &str,
        length: Duration,
    ) -> StoreResult<CheckClaim> {
        let us = micros(length, "lease")?;
        let mut tx = self.pool.begin().await.db()?;
        // holder, lease end, and whether it is still running on database time
        type Holder = (Option<String>, Option<DateTime<Utc>>, bool);
        let row: Option<Holder> = sqlx::query_as(
            "SELECT owner, expires_at, COALESCE(expires_at > now(), false) \
             FROM hc_leases WHERE target_id = $1 AND check_id = $2 FOR UPDATE",
        )
        .bind(key.target.as_str())
        .bind(key.check.as_str())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some((owner, expires_at, live)) = row else {
            let _ = tx.rollback().await;
            return Err(StoreError::not_found("check", key));
        };
        let claim = match (owner, expires_at) {
            (Some(owner), Some(expires_at)) if live && owner != instance => {
                let _ = tx.rollback().await;
                return Ok(CheckClaim::Held { owner, expires_at });
            }
            (Some(_), Some(_)) if live => {
                let (epoch, expires_at): (i64, DateTime<Utc>) = sqlx::query_as(
                    "UPDATE hc_leases SET expires_at = now() + $3 * interval '1 microsecond', \
                       next_due = GREATEST(next_due, now() + $3 * interval '1 microsecond') \
                     WHERE target_id = $1 AND check_id = $2 RETURNING epoch, expires_at",
                )
                .bind(key.target.as_str())
                .bind(key.check.as_str())
                .bind(us as f64)
                .fetch_one(&mut *tx)
                .await
                .db()?;
                CheckClaim::Renewed(Lease {
                    key: key.clone(),
                    owner: instance.to_owned(),
                    epoch,
                    expires_at,
                })
            }
            _ => {
                let (epoch, expires_at): (i64, DateTime<Utc>) = sqlx::query_as(
                    "UPDATE hc_leases SET owner = $3, epoch = nextval('hc_lease_epoch'), \
                       expires_at = now() + $4 * interval '1 microsecond', \
                       next_due = now() + $4 * interval '1 microsecond' \
                     WHERE target_id = $1 AND check_id = $2 RETURNING epoch, expires_at",
                )
                .bind(key.target.as_str())
                .bind(key.check.as_str())
                .bind(instance)
                .bind(us as f64)
                .fetch_one(&mut *tx)
                .await
                .db()?;
                CheckClaim::Claimed(Lease {
                    key: key.clone(),
                    owner: instance.to_owned(),
                    epoch,
                    expires_at,
                })
            }
        };
        tx.commit().await.db()?;
        Ok(claim)
    }

    /// Extends a held lease to `length` from now (database time), keeping
    /// its epoch; [`StoreError::Fenced`] when it was lost. For checks that
    /// may run longer than the lease.
    pub async fn renew_lease(&self, lease: &Lease, length: Duration) -> StoreResult<Lease> {
        let us = micros(length, "lease")?;
        let mut conn = self.pool.acquire().await.db()?;
        let expires: Option<DateTime<Utc>> = sqlx::query_scalar(concat!(
            "UPDATE hc_leases SET expires_at = now() + $5 * interval '1 microsecond', \
             next_due = now() + $5 * interval '1 microsecond' WHERE ",
            held!(),
            " RETURNING expires_at"
        ))
        .bind(lease.key.target.as_str())
        .bind(lease.key.check.as_str())
        .bind(&lease.owner)
        .bind(lease.epoch)
        .bind(us as f64)
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        match expires {
            Some(expires_at) => Ok(Lease {
                expires_at,
                ..lease.clone()
            }),
            None => Err(lost(&mut conn, lease).await),
        }
    }

    /// Gives back every lease `instance` holds and makes those checks due
    /// now, so other instances take them over at once (graceful
    /// shutdown). Returns how many were released. Writes fenced on those
    /// leases fail from now on.
    pub async fn release_claims(&self, instance: &str) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE hc_leases SET owner = NULL, expires_at = NULL, next_due = now() \
                 WHERE owner = $1",
        )
        .bind(instance)
        .execute(&self.pool)
        .await
        .db()?
        .rows_affected())
    }

    /// The database's clock (`now()`), which leases are measured on.
    pub async fn database_now(&self) -> StoreResult<DateTime<Utc>> {
        sqlx::query_scalar("SELECT now()")
            .fetch_one(&self.pool)
            .await
            .db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_fresh() {
        let ids: std::collections::HashSet<String> =
            (0..100).map(|_| fresh_instance_id()).collect();
        assert_eq!(ids.len(), 100);
    }

    #[test]
    fn absurd_leases_are_data_errors() {
        assert!(matches!(
            micros(Duration::MAX, "lease"),
            Err(StoreError::Data(_))
        ));
        assert_eq!(micros(Duration::from_secs(2), "lease").unwrap(), 2_000_000);
    }
}
