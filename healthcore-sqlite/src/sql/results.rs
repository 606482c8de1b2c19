//! Raw results, the capped `recent` pointers and rollups.
//!
//! One [`append`] is one transaction: raw rows (append-ordered, no
//! per-target index), their pointers in `recent` (trimmed to the cap per
//! check), and the rollup deltas merged into their buckets.

use std::collections::{BTreeMap, HashMap, HashSet};

use healthcore::model::{CheckId, CheckKey, Observation, TargetId};
use healthcore::rollup::Bucket;
use healthcore::store::{
    ResultBatch, ResultQuery, RollupQuery, StoreError, StoreResult, StoredResult, TargetBucket,
};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::codec::{
    bits_u64, duration_ns, from_ns, gran_code, ns, ns_duration, outcome_code,
    outcome_from, status_code, status_from, to_json, u64_bits,
};
use crate::error::Ctx;
use crate::threads::WriterCache;

/// A raw result ready to write (encoded off the SQLite threads).
#[derive(Debug)]
pub(crate) struct RawRow {
    key: CheckKey,
    at: i64,
    outcome: i64,
    status: i64,
    latency_ns: Option<i64>,
    message: Option<String>,
    details: Option<String>,
}

/// A batch ready to write.
#[derive(Debug, Default)]
pub(crate) struct EncodedBatch {
    rows: Vec<RawRow>,
    rollups: Vec<TargetBucket>,
}

pub(crate) fn encode(batch: &ResultBatch) -> StoreResult<EncodedBatch> {
    let rows = batch
        .results
        .iter()
        .map(|r| {
            Ok(RawRow {
                key: r.key.clone(),
                at: ns(r.observation.at),
                outcome: outcome_code(r.observation.outcome),
                status: status_code(r.status),
                latency_ns: r.observation.latency.map(duration_ns),
                message: r.observation.message.clone(),
                details: r.observation.details.as_ref().map(to_json).transpose()?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(EncodedBatch {
        rows,
        rollups: batch.rollups.clone(),
    })
}

fn series_id(tx: &Transaction<'_>, cache: &mut WriterCache, key: &CheckKey) -> StoreResult<i64> {
    if let Some(id) = cache.series.get(key) {
        return Ok(*id);
    }
    let doing = "register series";
    let (t, c) = (key.target.as_str(), key.check.as_str());
    tx.prepare_cached(
        "INSERT INTO series (target, check_id) VALUES (?1, ?2)
         ON CONFLICT (target, check_id) DO NOTHING",
    )
    .and_then(|mut s| s.execute([t, c]))
    .ctx(doing)?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM series WHERE target = ?1 AND check_id = ?2")
        .and_then(|mut s| s.query_row([t, c], |r| r.get(0)))
        .ctx(doing)?;
    cache.series.insert(key.clone(), id);
    Ok(id)
}

/// Appends a batch: raw rows, recent pointers (trimmed), rollup merges.
pub(crate) fn append(
    tx: &Transaction<'_>,
    cache: &mut WriterCache,
    cap: u32,
    batch: &EncodedBatch,
) -> StoreResult<()> {
    let doing = "append results";
    let mut ids = Vec::with_capacity(batch.rows.len());
    // How many rows of each series are still to come in this batch: a row
    // with `cap` or more newer rows behind it would be trimmed at once, so
    // it gets no pointer.
    let mut after: HashMap<i64, u32> = HashMap::new();
    for r in &batch.rows {
        let id = series_id(tx, cache, &r.key)?;
        ids.push(id);
        let n = after.entry(id).or_insert(0);
        *n = n.saturating_add(1);
    }
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO results (series, at, outcome, status, latency_ns, message, details)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .ctx(doing)?;
        let mut point = tx
            .prepare_cached("INSERT OR IGNORE INTO recent (series, seq) VALUES (?1, ?2)")
            .ctx(doing)?;
        for (r, id) in batch.rows.iter().zip(&ids) {
            insert
                .execute(params![
                    id,
                    r.at,
                    r.outcome,
                    r.status,
                    r.latency_ns,
                    r.message,
                    r.details
                ])
                .ctx(doing)?;
            let seq = tx.last_insert_rowid();
            let left = after.get_mut(id).map_or(0, |n| {
                *n = n.saturating_sub(1);
                *n
            });
            if left < cap {
                point.execute([*id, seq]).ctx(doing)?;
            }
        }
    }
    let mut trim = tx
        .prepare_cached(
            "DELETE FROM recent WHERE series = ?1 AND seq <
               (SELECT seq FROM recent WHERE series = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        )
        .ctx(doing)?;
    for id in after.keys() {
        trim.execute([*id, i64::from(cap.saturating_sub(1))])
            .ctx(doing)?;
    }
    merge_rollups(tx, &batch.rollups)
}

const BUCKET_COLUMNS: &str = "healthy_ms, degraded_ms, down_ms, unknown_ms, maintenance_ms, \
     checks_total, checks_healthy, checks_failed, latency_count, latency_sum_us, \
     latency_min_us, latency_max_us";

/// Reads the 12 counters starting at column `i` into `b`.
fn read_counts(r: &Row<'_>, i: usize, b: &mut Bucket) -> rusqlite::Result<()> {
    let u = |k: usize| r.get::<_, i64>(i + k).map(bits_u64);
    b.healthy_ms = u(0)?;
    b.degraded_ms = u(1)?;
    b.down_ms = u(2)?;
    b.unknown_ms = u(3)?;
    b.maintenance_ms = u(4)?;
    b.checks_total = u(5)?;
    b.checks_healthy = u(6)?;
    b.checks_failed = u(7)?;
    b.latency_count = u(8)?;
    b.latency_sum_us = u(9)?;
    b.latency_min_us = r.get::<_, Option<i64>>(i + 10)?.map(bits_u64);
    b.latency_max_us = r.get::<_, Option<i64>>(i + 11)?.map(bits_u64);
    Ok(())
}

/// Merges rollup deltas into stored buckets with the core's
/// [`Bucket::merge`] (exact, saturating), one read and one write per
/// distinct bucket of the batch.
fn merge_rollups(tx: &Transaction<'_>, deltas: &[TargetBucket]) -> StoreResult<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let doing = "merge rollups";
    let mut merged: BTreeMap<(i64, i64, TargetId), Bucket> = BTreeMap::new();
    for d in deltas {
        let key = (
            gran_code(d.bucket.granularity)?,
            ns(d.bucket.start),
            d.target.clone(),
        );
        merged
            .entry(key)
            .and_modify(|b| b.merge(&d.bucket))
            .or_insert(d.bucket);
    }
    let mut get = tx
        .prepare_cached(&format!(
            "SELECT {BUCKET_COLUMNS} FROM rollups WHERE gran = ?1 AND start = ?2 AND target = ?3"
        ))
        .ctx(doing)?;
    let mut put = tx
        .prepare_cached(&format!(
            "INSERT OR REPLACE INTO rollups (gran, start, target, {BUCKET_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ))
        .ctx(doing)?;
    for ((g, start, target), delta) in merged {
        let stored = get
            .query_row(params![g, start, target.as_str()], |r| {
                let mut b = delta;
                read_counts(r, 0, &mut b)?;
                Ok(b)
            })
            .optional()
            .ctx(doing)?;
        let b = match stored {
            Some(mut s) => {
                s.merge(&delta);
                s
            }
            None => delta,
        };
        put.execute(params![
            g,
            start,
            target.as_str(),
            u64_bits(b.healthy_ms),
            u64_bits(b.degraded_ms),
            u64_bits(b.down_ms),
            u64_bits(b.unknown_ms),
            u64_bits(b.maintenance_ms),
            u64_bits(b.checks_total),
            u64_bits(b.checks_healthy),
            u64_bits(b.checks_failed),
            u64_bits(b.latency_count),
            u64_bits(b.latency_sum_us),
            b.latency_min_us.map(u64_bits),
            b.latency_max_us.map(u64_bits),
        ])
        .ctx(doing)?;
    }
    Ok(())
}

/// Recent results of one target (optionally one check), newest first, from
/// the capped `recent` pointers.
pub(crate) fn recent(conn: &Connection, q: &ResultQuery) -> StoreResult<Vec<StoredResult>> {
    let doing = "recent results";
    let limit = i64::from(q.limit.clamp(1, 1000));
    let since = q.since.map_or(i64::MIN, ns);
    let sql = format!(
        "SELECT s.check_id, r.at, r.outcome, r.status, r.latency_ns, r.message, r.details
         FROM series s
         JOIN recent p ON p.series = s.id
         JOIN results r ON r.seq = p.seq AND r.series = p.series
         WHERE s.target = ?1 {} AND r.at >= ?2
         ORDER BY p.seq DESC
         LIMIT ?3",
        if q.check.is_some() {
            "AND s.check_id = ?4"
        } else {
            ""
        }
    );
    let mut stmt = conn.prepare_cached(&sql).ctx(doing)?;
    let map = |r: &Row<'_>| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    };
    let rows = match &q.check {
        Some(c) => stmt
            .query_map(params![q.target.as_str(), since, limit, c.as_str()], map)
            .ctx(doing)?
            .collect::<rusqlite::Result<Vec<_>>>(),
        None => stmt
            .query_map(params![q.target.as_str(), since, limit], map)
            .ctx(doing)?
            .collect::<rusqlite::Result<Vec<_>>>(),
    }
    .ctx(doing)?;
    rows.into_iter()
        .map(|(check, at, outcome, status, latency, message, details)| {
            let check = CheckId::new(&check).map_err(|e| StoreError::Data(e.to_string()))?;
            Ok(StoredResult {
                key: CheckKey::new(q.target.clone(), check),
                observation: Observation {
                    at: from_ns(at),
                    outcome: outcome_from(outcome)?,
                    latency: latency.map(ns_duration),
                    message,
                    details: details
                        .as_deref()
                        .map(serde_json::from_str)
                        .transpose()?,
                },
                status: status_from(status)?,
            })
        })
        .collect()
}

/// Lists of at most this many targets are read by seeking each target's
/// buckets; longer lists (and "all targets") scan the time range once.
const SEEK_TARGETS: usize = 64;

/// Rollup buckets of one granularity in `[from, to)`, ordered by target
/// then start.
pub(crate) fn rollups(conn: &Connection, q: &RollupQuery) -> StoreResult<Vec<TargetBucket>> {
    let doing = "read rollups";
    let g = gran_code(q.granularity)?;
    let (from, to) = (ns(q.from), ns(q.to));
    if from >= to {
        return Ok(Vec::new());
    }
    let mut wanted: Vec<&str> = q.targets.iter().map(TargetId::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let map = |r: &Row<'_>| -> rusqlite::Result<(String, i64, Bucket)> {
        let start = r.get::<_, i64>(1)?;
        let mut b = Bucket::sum();
        b.granularity = q.granularity;
        b.start = from_ns(start);
        read_counts(r, 2, &mut b)?;
        Ok((r.get(0)?, start, b))
    };
    let rows: Vec<(String, i64, Bucket)> = if wanted.is_empty() || wanted.len() > SEEK_TARGETS {
        let set: HashSet<&str> = wanted.iter().copied().collect();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT target, start, {BUCKET_COLUMNS} FROM rollups
                 WHERE gran = ?1 AND start >= ?2 AND start < ?3"
            ))
            .ctx(doing)?;
        let mut rows = Vec::new();
        for row in stmt.query_map(params![g, from, to], map).ctx(doing)? {
            let row = row.ctx(doing)?;
            if set.is_empty() || set.contains(row.0.as_str()) {
                rows.push(row);
            }
        }
        rows
    } else {
        // Walk the distinct bucket starts in the range (one seek each),
        // then seek each wanted target's bucket at that start.
        let list = serde_json::to_string(&wanted)?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "WITH RECURSIVE s(start) AS (
                   SELECT (SELECT min(start) FROM rollups
                           WHERE gran = ?1 AND start >= ?2 AND start < ?3)
                   UNION ALL
                   SELECT (SELECT min(start) FROM rollups
                           WHERE gran = ?1 AND start > s.start AND start < ?3)
                   FROM s WHERE s.start IS NOT NULL
                 )
                 SELECT r.target, r.start, {BUCKET_COLUMNS}
                 FROM s JOIN rollups r
                   ON r.gran = ?1 AND r.start = s.start
                  AND r.target IN (SELECT value FROM json_each(?4))"
            ))
            .ctx(doing)?;
        stmt.query_map(params![g, from, to, list], map)
            .ctx(doing)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx(doing)?
    };
    let mut out = rows
        .into_iter()
        .map(|(t, start, bucket)| {
            let target = TargetId::new(&t).map_err(|e| StoreError::Data(e.to_string()))?;
            Ok((target, start, bucket))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(out
        .into_iter()
        .map(|(target, _, bucket)| TargetBucket { target, bucket })
        .collect())
}

/// Raw rows held (for tests, benches and the crash test).
pub(crate) fn count(conn: &Connection) -> StoreResult<u64> {
    let n: i64 = conn
        .query_row("SELECT count(*) FROM results", [], |r| r.get(0))
        .ctx("count results")?;
    Ok(u64::try_from(n).unwrap_or(0))
}
