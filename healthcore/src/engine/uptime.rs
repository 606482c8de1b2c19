//! Uptime queries: they read rollup buckets (never raw results) from the
//! store and add the part still in memory, so figures are exact up to now.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError, lock};
use crate::model::{CheckId, TargetId, TenantId};
use crate::rollup::{self, Bucket, Granularity};
use crate::store::{ResultQuery, RollupQuery, StoredResult};
use crate::uptime::{TimelineSegment, UptimeReport};

/// Uptime of one target over a range, with a timeline for drawing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UptimeView {
    /// Whose.
    pub target: TargetId,
    /// Time-weighted and count-based uptime, latency.
    pub report: UptimeReport,
    /// Merged status segments.
    pub timeline: Vec<TimelineSegment>,
}

/// Seed 002's result history: recent results with count uptime and
/// average latency.
///
/// The counts, uptime and average latency cover every result of the
/// window: of the target, from its rollups; of one check, from the store's
/// per-check hourly counts ([`Store::check_counts`](crate::store::Store::check_counts))
/// plus the results not yet written. The window starts at the beginning of
/// the minute (of the hour, for one check or beyond two days) `hours` ago.
/// The `results` list is capped at [`RESULTS_LIMIT`] (said in
/// `results_limit`), newest first. Over a store that keeps no per-check
/// counts, one check's counts are those of its newest
/// [`COUNT_FALLBACK_LIMIT`] results, and `counts_complete` is `false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultHistory {
    /// Whose.
    pub target: TargetId,
    /// Only this check, if given.
    pub check: Option<CheckId>,
    /// Hours covered.
    pub hours: u32,
    /// Healthy checks / total checks × 100.
    pub uptime_percentage: Option<f64>,
    /// Mean latency, ms.
    pub avg_latency_ms: Option<f64>,
    /// Checks in the range.
    pub total_checks: u64,
    /// Of which healthy (pass or warn).
    pub healthy_checks: u64,
    /// Of which not.
    pub unhealthy_checks: u64,
    /// Whether the counts cover every result of the window (`false` only
    /// for one check over a store without per-check counts).
    #[serde(default = "yes")]
    pub counts_complete: bool,
    /// The most results `results` holds ([`RESULTS_LIMIT`]).
    #[serde(default)]
    pub results_limit: u32,
    /// The most recent results (at most `results_limit`), newest first.
    pub results: Vec<StoredResult>,
}

fn yes() -> bool {
    true
}

/// Most results a [`ResultHistory`] lists (its counts cover them all).
pub const RESULTS_LIMIT: u32 = 100;

/// Results counted for one check over a store without per-check counts.
pub const COUNT_FALLBACK_LIMIT: u32 = 1000;

/// Minute buckets for short ranges, hour buckets up to 90 days, days beyond.
fn granularity_for(from: DateTime<Utc>, to: DateTime<Utc>) -> Granularity {
    let span = to - from;
    if span <= chrono::Duration::days(2) {
        Granularity::Minute
    } else if span <= chrono::Duration::days(90) {
        Granularity::Hour
    } else {
        Granularity::Day
    }
}

impl Engine {
    /// Uptime of `target` over `[from, to)`.
    pub async fn uptime(
        &self,
        target: &TargetId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<UptimeView, EngineError> {
        if lock(&self.inner.fleet).target(target).is_none() {
            return Err(EngineError::not_found("target", target));
        }
        let mut all = self
            .uptime_many(Some(vec![target.clone()]), None, from, to)
            .await?;
        all.pop()
            .ok_or_else(|| EngineError::not_found("target", target))
    }

    /// Uptime of every target (optionally of one tenant) over `[from, to)`,
    /// from one rollup query.
    pub async fn uptime_all(
        &self,
        tenant: Option<&TenantId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UptimeView>, EngineError> {
        self.uptime_many(None, tenant, from, to).await
    }

    async fn uptime_many(
        &self,
        targets: Option<Vec<TargetId>>,
        tenant: Option<&TenantId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UptimeView>, EngineError> {
        if to <= from {
            return Err(crate::error::ValidationError::new("to", "must be after from").into());
        }
        let g = granularity_for(from, to);
        let ids: Vec<TargetId> = match targets {
            Some(t) => t,
            None => {
                let fleet = lock(&self.inner.fleet);
                fleet
                    .target_views(tenant, self.inner.clock.now())
                    .into_iter()
                    .map(|v| v.target.id)
                    .collect()
            }
        };
        let query_from = g.bucket_start(from);
        let stored = self
            .inner
            .store
            .rollups(&RollupQuery {
                targets: if ids.len() == 1 {
                    ids.clone()
                } else {
                    Vec::new()
                },
                granularity: g,
                from: query_from,
                to,
            })
            .await?;
        let mut by_target: std::collections::HashMap<TargetId, Vec<Bucket>> =
            std::collections::HashMap::new();
        for tb in stored {
            by_target.entry(tb.target).or_default().push(tb.bucket);
        }
        let now = self.inner.clock.now();
        let cfg = self.inner.config.rules.uptime;
        let fleet = lock(&self.inner.fleet);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut buckets = by_target.remove(&id).unwrap_or_default();
            for p in fleet.pending_buckets(&id, g, now) {
                match buckets.iter_mut().find(|b| b.start == p.start) {
                    Some(b) => b.merge(&p),
                    None => buckets.push(p),
                }
            }
            buckets.sort_by_key(|b| b.start);
            let report = rollup::uptime_from_buckets(&buckets, query_from, to, &cfg);
            let timeline = rollup::timeline_from_buckets(&buckets, query_from, to);
            out.push(UptimeView {
                target: id,
                report,
                timeline,
            });
        }
        Ok(out)
    }

    /// Uptime figures (no timeline) of every target, optionally of one
    /// tenant, over `[from, to)`: the same reports as
    /// [`uptime_all`](Self::uptime_all), but the store sums the rollups per
    /// target ([`Store::rollup_totals`](crate::store::Store::rollup_totals)):
    /// whole days from day buckets, the edges from hour buckets, so 30
    /// days of 1,000 targets read about 3,000 summed rows instead of
    /// 720,000 hour buckets.
    pub async fn uptime_reports(
        &self,
        tenant: Option<&TenantId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(TargetId, crate::uptime::UptimeReport)>, EngineError> {
        if to <= from {
            return Err(crate::error::ValidationError::new("to", "must be after from").into());
        }
        let g = granularity_for(from, to);
        let query_from = g.bucket_start(from);
        let ids: Vec<TargetId> = {
            let fleet = lock(&self.inner.fleet);
            fleet
                .target_views(tenant, self.inner.clock.now())
                .into_iter()
                .map(|v| v.target.id)
                .collect()
        };
        // (granularity, from, to) parts: hours at the edges, days between
        let parts: Vec<(Granularity, DateTime<Utc>, DateTime<Utc>)> = if g == Granularity::Hour {
            let day = Granularity::Day;
            let first_day = {
                let s = day.bucket_start(query_from);
                if s == query_from {
                    s
                } else {
                    s + chrono::Duration::days(1)
                }
            };
            let last_day = day.bucket_start(to);
            if first_day < last_day {
                vec![
                    (Granularity::Hour, query_from, first_day),
                    (day, first_day, last_day),
                    (Granularity::Hour, last_day, to),
                ]
            } else {
                vec![(g, query_from, to)]
            }
        } else {
            vec![(g, query_from, to)]
        };
        let mut totals: std::collections::HashMap<TargetId, Bucket> =
            std::collections::HashMap::new();
        // the parts are independent: ask for them at once
        let store = &self.inner.store;
        let queries: Vec<RollupQuery> = parts
            .into_iter()
            .filter(|(_, pf, pt)| pf < pt)
            .map(|(pg, pf, pt)| RollupQuery {
                targets: Vec::new(),
                granularity: pg,
                from: pf,
                to: pt,
            })
            .collect();
        let results =
            futures_util::future::try_join_all(queries.iter().map(|q| store.rollup_totals(q)))
                .await?;
        for tb in results.into_iter().flatten() {
            totals
                .entry(tb.target)
                .or_insert_with(Bucket::sum)
                .merge_counts(&tb.bucket);
        }
        let now = self.inner.clock.now();
        let cfg = self.inner.config.rules.uptime;
        let fleet = lock(&self.inner.fleet);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut total = totals.remove(&id).unwrap_or_else(Bucket::sum);
            let pending = fleet.pending_buckets(&id, g, now);
            total.merge_counts(&rollup::sum_range(&pending, query_from, to));
            total.start = query_from;
            let report = rollup::uptime_from_buckets(&[total], query_from, to, &cfg);
            out.push((id, report));
        }
        Ok(out)
    }

    /// Seed 002's history: the last `hours` of results of a target (or one
    /// of its checks) with count-based uptime and average latency.
    pub async fn result_history(
        &self,
        target: &TargetId,
        hours: u32,
        check: Option<CheckId>,
    ) -> Result<ResultHistory, EngineError> {
        if !(1..=720).contains(&hours) {
            return Err(crate::error::ValidationError::new("hours", "must be 1..=720").into());
        }
        if lock(&self.inner.fleet).target(target).is_none() {
            return Err(EngineError::not_found("target", target));
        }
        let now = self.inner.clock.now();
        let since = now - chrono::Duration::hours(i64::from(hours));
        let results = self
            .inner
            .store
            .recent_results(&ResultQuery {
                target: target.clone(),
                check: check.clone(),
                since: Some(since),
                limit: RESULTS_LIMIT,
            })
            .await?;
        let mut complete = true;
        let (total, healthy, avg) = match &check {
            Some(c) => {
                let key = crate::model::CheckKey::new(target.clone(), c.clone());
                let (counts, kept) = self.check_window_counts(&key, since, now).await?;
                complete = kept;
                let avg = (counts.latency_count > 0)
                    .then(|| counts.latency_sum_us as f64 / counts.latency_count as f64 / 1000.0);
                (counts.checks_total, counts.checks_healthy, avg)
            }
            None => {
                let view = self.uptime(target, since, now).await?;
                (
                    view.report.checks_total,
                    view.report.checks_healthy,
                    view.report.latency.avg_ms,
                )
            }
        };
        Ok(ResultHistory {
            target: target.clone(),
            check,
            hours,
            uptime_percentage: (total > 0).then(|| healthy as f64 * 100.0 / total as f64),
            avg_latency_ms: avg,
            total_checks: total,
            healthy_checks: healthy,
            unhealthy_checks: total.saturating_sub(healthy),
            counts_complete: complete,
            results_limit: RESULTS_LIMIT,
            results,
        })
    }

    /// One check's counts over the hours from `since`'s to `now`'s: the
    /// store's per-check counts plus the results still buffered for it,
    /// and `true`; or, when the store keeps none, the counts of its newest
    /// [`COUNT_FALLBACK_LIMIT`] results and `false`.
    async fn check_window_counts(
        &self,
        key: &crate::model::CheckKey,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Bucket, bool), EngineError> {
        let from = Granularity::Hour.bucket_start(since);
        let stored = self
            .inner
            .store
            .check_counts(&crate::store::CheckCountsQuery {
                key: key.clone(),
                from,
                // the current hour included
                to: Granularity::Hour.bucket_start(now) + chrono::Duration::hours(1),
            })
            .await?;
        let mut counts = Bucket::new(Granularity::Hour, from);
        match stored {
            Some(b) => {
                counts.merge_counts(&b);
                // not written yet: counted here, and by the store once written
                let buffered = lock(&self.inner.buffer);
                for r in buffered
                    .iter()
                    .filter(|r| &r.key == key && r.observation.at >= from)
                {
                    counts.add_observation(r.observation.outcome, r.observation.latency);
                }
                Ok((counts, true))
            }
            None => {
                let recent = self
                    .inner
                    .store
                    .recent_results(&ResultQuery {
                        target: key.target.clone(),
                        check: Some(key.check.clone()),
                        since: Some(since),
                        limit: COUNT_FALLBACK_LIMIT,
                    })
                    .await?;
                for r in &recent {
                    counts.add_observation(r.observation.outcome, r.observation.latency);
                }
                Ok((counts, false))
            }
        }
    }
}
