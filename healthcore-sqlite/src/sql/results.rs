//! Raw results, the capped `recent` pointers and rollups.
//!
//! One [`append`] is one transaction: raw rows (append-ordered, no
//! per-target index), their pointers in `recent` (trimmed to the cap per
//! check), and the rollup deltas merged into their buckets.

use std::collections::{HashMap, HashSet};

use healthcore::model::{CheckId, CheckKey, Observation, TargetId};
use healthcore::rollup::Bucket;
use healthcore::store::{
    CheckCountsQuery, ResultBatch, ResultQuery, RollupQuery, StoreError, StoreResult, StoredResult,
    TargetBucket,
};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::codec::{
    decode_counts, decode_seqs, duration_ns, encode_counts, encode_seqs, from_ns, gran_code, ns,
    ns_duration, outcome_code, outcome_from, status_code, status_from, to_json,
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
    /// Per-check hourly count deltas of `rows`.
    check_counts: Vec<(CheckKey, Bucket)>,
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
        check_counts: batch.check_hour_deltas(),
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

/// The next `seq`: above every raw row, batch and pointer ever written,
/// so a `seq` is never reused while anything still names it.
fn next_seq(tx: &Transaction<'_>, cache: &mut WriterCache) -> StoreResult<i64> {
    if let Some(n) = cache.next_seq {
        return Ok(n);
    }
    let top: i64 = tx
        .query_row(
            "SELECT max(coalesce((SELECT max(seq) FROM results), 0),
                        coalesce((SELECT max(last_seq) FROM batches), 0),
                        coalesce((SELECT max(last_seq) FROM recent), 0))",
            [],
            |r| r.get(0),
        )
        .ctx("find next seq")?;
    Ok(top.saturating_add(1))
}

/// Appends a batch: raw rows, its `batches` row, the pointer lists of the
/// series it touched, and its rollup deltas.
pub(crate) fn append(
    tx: &Transaction<'_>,
    cache: &mut WriterCache,
    cap: u32,
    batch: &EncodedBatch,
) -> StoreResult<()> {
    let doing = "append results";
    if !batch.rows.is_empty() {
        let first = next_seq(tx, cache)?;
        let mut seq = first;
        // New pointers per series, in order.
        let mut fresh: HashMap<i64, Vec<i64>> = HashMap::new();
        let (mut min_at, mut max_at) = (i64::MAX, i64::MIN);
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO results (seq, series, at, outcome, status, latency_ns, message, details)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .ctx(doing)?;
            for r in &batch.rows {
                let id = series_id(tx, cache, &r.key)?;
                insert
                    .execute(params![
                        seq,
                        id,
                        r.at,
                        r.outcome,
                        r.status,
                        r.latency_ns,
                        r.message,
                        r.details
                    ])
                    .ctx(doing)?;
                fresh.entry(id).or_default().push(seq);
                min_at = min_at.min(r.at);
                max_at = max_at.max(r.at);
                seq = seq.saturating_add(1);
            }
        }
        let last = seq.saturating_sub(1);
        tx.prepare_cached(
            "INSERT INTO batches (first_seq, last_seq, min_at, max_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| s.execute([first, last, min_at, max_at]))
        .ctx(doing)?;
        write_pointers(tx, cache, cap, fresh)?;
        cache.next_seq = Some(seq);
    }
    merge_check_counts(tx, cache, &batch.check_counts)?;
    merge_rollups(tx, cache, &batch.rollups)
}

/// Merges per-check hourly count deltas into `check_counts` (one read and
/// one write per check and hour of the batch).
fn merge_check_counts(
    tx: &Transaction<'_>,
    cache: &mut WriterCache,
    deltas: &[(CheckKey, Bucket)],
) -> StoreResult<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let doing = "merge check counts";
    let mut keyed: Vec<(i64, i64, &Bucket)> = Vec::with_capacity(deltas.len());
    for (key, b) in deltas {
        keyed.push((series_id(tx, cache, key)?, ns(b.start), b));
    }
    // In key order: consecutive writes land on neighbouring b-tree pages.
    keyed.sort_unstable_by_key(|(series, start, _)| (*series, *start));
    let mut get = tx
        .prepare_cached("SELECT counts FROM check_counts WHERE series = ?1 AND start = ?2")
        .ctx(doing)?;
    let mut put = tx
        .prepare_cached(
            "INSERT INTO check_counts (series, start, counts) VALUES (?1, ?2, ?3)
             ON CONFLICT (series, start) DO UPDATE SET counts = excluded.counts",
        )
        .ctx(doing)?;
    let mut blob = Vec::with_capacity(48);
    for (series, start, delta) in keyed {
        let stored: Option<Vec<u8>> = get
            .query_row(params![series, start], |r| r.get(0))
            .optional()
            .ctx(doing)?;
        let mut b = *delta;
        if let Some(counts) = stored {
            let mut s = *delta;
            decode_counts(&counts, &mut s)?;
            b = s;
            b.merge_counts(delta);
        }
        blob.clear();
        encode_counts(&b, &mut blob);
        put.execute(params![series, start, blob]).ctx(doing)?;
    }
    Ok(())
}

/// One check's counts over the hours starting in `[from, to)`, summed
/// (zero when the check never wrote a result).
pub(crate) fn check_counts(conn: &Connection, q: &CheckCountsQuery) -> StoreResult<Bucket> {
    let doing = "read check counts";
    let mut sum = Bucket::new(healthcore::rollup::Granularity::Hour, q.from);
    sum.start = q.from;
    let series: Option<i64> = conn
        .prepare_cached("SELECT id FROM series WHERE target = ?1 AND check_id = ?2")
        .and_then(|mut s| {
            s.query_row([q.key.target.as_str(), q.key.check.as_str()], |r| r.get(0))
                .optional()
        })
        .ctx(doing)?;
    let Some(series) = series else {
        return Ok(sum);
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT counts FROM check_counts WHERE series = ?1 AND start >= ?2 AND start < ?3",
        )
        .ctx(doing)?;
    let mut rows = stmt
        .query(params![series, ns(q.from), ns(q.to)])
        .ctx(doing)?;
    while let Some(r) = rows.next().ctx(doing)? {
        let blob: Vec<u8> = r.get(0).ctx(doing)?;
        let mut b = Bucket::new(healthcore::rollup::Granularity::Hour, q.from);
        decode_counts(&blob, &mut b)?;
        sum.merge_counts(&b);
    }
    Ok(sum)
}

/// Adds `fresh` pointers to each series' list, keeping the newest `cap`.
fn write_pointers(
    tx: &Transaction<'_>,
    cache: &mut WriterCache,
    cap: u32,
    fresh: HashMap<i64, Vec<i64>>,
) -> StoreResult<()> {
    let doing = "write recent pointers";
    let cap = usize::try_from(cap).unwrap_or(usize::MAX).max(1);
    let mut get = tx
        .prepare_cached("SELECT seqs FROM recent WHERE series = ?1")
        .ctx(doing)?;
    let mut put = tx
        .prepare_cached(
            "INSERT INTO recent (series, last_seq, seqs) VALUES (?1, ?2, ?3)
             ON CONFLICT (series) DO UPDATE SET last_seq = excluded.last_seq, seqs = excluded.seqs",
        )
        .ctx(doing)?;
    let mut update = tx
        .prepare_cached("UPDATE recent SET last_seq = ?2, seqs = ?3 WHERE series = ?1")
        .ctx(doing)?;
    let mut previous = std::mem::take(&mut cache.recent);
    let mut blob = Vec::new();
    // In key order: consecutive writes land on neighbouring b-tree pages.
    let mut fresh: Vec<(i64, Vec<i64>)> = fresh.into_iter().collect();
    fresh.sort_unstable_by_key(|(series, _)| *series);
    for (series, new) in fresh {
        let cached = previous.remove(&series);
        let known = cached.is_some();
        let mut list = match cached {
            Some(list) => list,
            None => {
                let mut list = Vec::new();
                let stored: Option<Vec<u8>> = get
                    .query_row([series], |r| r.get(0))
                    .optional()
                    .ctx(doing)?;
                if let Some(b) = stored {
                    decode_seqs(&b, &mut list)?;
                }
                list
            }
        };
        list.extend_from_slice(&new);
        if list.len() > cap {
            list.drain(..list.len() - cap);
        }
        blob.clear();
        encode_seqs(&list, &mut blob);
        let last = list.last().copied().unwrap_or(0);
        if known {
            update.execute(params![series, last, blob]).ctx(doing)?;
        } else {
            put.execute(params![series, last, blob]).ctx(doing)?;
        }
        cache.recent.insert(series, list);
    }
    Ok(())
}

/// Merges rollup deltas into stored buckets with the core's
/// [`Bucket::merge`] (exact, saturating): one write per distinct bucket
/// of the batch, and a read only for buckets the previous batch did not
/// write.
fn merge_rollups(
    tx: &Transaction<'_>,
    cache: &mut WriterCache,
    deltas: &[TargetBucket],
) -> StoreResult<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    let doing = "merge rollups";
    let mut merged: HashMap<(i64, i64, TargetId), Bucket> = HashMap::with_capacity(deltas.len());
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
        .prepare_cached("SELECT counts FROM rollups WHERE gran = ?1 AND start = ?2 AND target = ?3")
        .ctx(doing)?;
    let mut put = tx
        .prepare_cached(
            "INSERT INTO rollups (gran, start, target, counts) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (gran, start, target) DO UPDATE SET counts = excluded.counts",
        )
        .ctx(doing)?;
    let mut update = tx
        .prepare_cached(
            "UPDATE rollups SET counts = ?4 WHERE gran = ?1 AND start = ?2 AND target = ?3",
        )
        .ctx(doing)?;
    let mut blob = Vec::with_capacity(48);
    let mut previous = std::mem::take(&mut cache.rollups);
    // In key order: consecutive writes land on neighbouring b-tree pages.
    let mut order: Vec<(&(i64, i64, TargetId), &mut Bucket)> = merged.iter_mut().collect();
    order.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (key, slot) in order {
        let delta = *slot;
        let cached = previous.remove(key);
        let known = cached.is_some();
        let stored = match cached {
            Some(b) => Some(b),
            None => {
                let stored: Option<Vec<u8>> = get
                    .query_row(params![key.0, key.1, key.2.as_str()], |r| r.get(0))
                    .optional()
                    .ctx(doing)?;
                match stored {
                    Some(counts) => {
                        let mut b = delta;
                        decode_counts(&counts, &mut b)?;
                        Some(b)
                    }
                    None => None,
                }
            }
        };
        let b = match stored {
            Some(mut s) => {
                s.merge(&delta);
                s
            }
            None => delta,
        };
        let stmt = if known { &mut update } else { &mut put };
        blob.clear();
        encode_counts(&b, &mut blob);
        stmt.execute(params![key.0, key.1, key.2.as_str(), blob])
            .ctx(doing)?;
        *slot = b;
    }
    // What this batch wrote is what the next one will most likely touch.
    cache.rollups = merged;
    Ok(())
}

/// at, outcome, status, latency_ns, message, details, series.
type RawColumns = (
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
);

/// Recent results of one target (optionally one check), newest first:
/// the pointer lists of its series, then each pointed row by `seq`.
pub(crate) fn recent(conn: &Connection, q: &ResultQuery) -> StoreResult<Vec<StoredResult>> {
    let doing = "recent results";
    let limit = usize::try_from(q.limit.clamp(1, 1000)).unwrap_or(1000);
    let since = q.since.map_or(i64::MIN, ns);
    let mut series: Vec<(i64, CheckId)> = Vec::new();
    let mut candidates: Vec<(i64, usize)> = Vec::new();
    {
        let sql = if q.check.is_some() {
            "SELECT s.id, s.check_id, p.seqs FROM series s JOIN recent p ON p.series = s.id
             WHERE s.target = ?1 AND s.check_id = ?2"
        } else {
            "SELECT s.id, s.check_id, p.seqs FROM series s JOIN recent p ON p.series = s.id
             WHERE s.target = ?1"
        };
        let mut stmt = conn.prepare_cached(sql).ctx(doing)?;
        let map = |r: &Row<'_>| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        };
        let rows = match &q.check {
            Some(c) => stmt.query_map(params![q.target.as_str(), c.as_str()], map),
            None => stmt.query_map(params![q.target.as_str()], map),
        }
        .ctx(doing)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx(doing)?;
        let mut seqs = Vec::new();
        for (id, check, blob) in rows {
            let check = CheckId::new(&check).map_err(|e| StoreError::Data(e.to_string()))?;
            seqs.clear();
            decode_seqs(&blob, &mut seqs)?;
            candidates.extend(seqs.iter().map(|s| (*s, series.len())));
            series.push((id, check));
        }
    }
    candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
    candidates.dedup_by_key(|c| c.0);
    let mut get = conn
        .prepare_cached(
            "SELECT at, outcome, status, latency_ns, message, details, series
             FROM results WHERE seq = ?1",
        )
        .ctx(doing)?;
    let mut out = Vec::new();
    for (seq, idx) in candidates {
        if out.len() >= limit {
            break;
        }
        let Some((series_id, check)) = series.get(idx) else {
            continue;
        };
        let row: Option<RawColumns> = get
            .query_row([seq], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .optional()
            .ctx(doing)?;
        // Gone to retention, or (never, as seqs are not reused) another series.
        let Some((at, outcome, status, latency, message, details, owner)) = row else {
            continue;
        };
        if owner != *series_id || at < since {
            continue;
        }
        out.push(StoredResult {
            key: CheckKey::new(q.target.clone(), check.clone()),
            observation: Observation {
                at: from_ns(at),
                outcome: outcome_from(outcome)?,
                latency: latency.map(ns_duration),
                message,
                details: details.as_deref().map(serde_json::from_str).transpose()?,
            },
            status: status_from(status)?,
        });
    }
    Ok(out)
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
    let mut rows = RollupRows::default();
    if wanted.is_empty() || wanted.len() > SEEK_TARGETS {
        let set: HashSet<&str> = wanted.iter().copied().collect();
        let mut stmt = conn
            .prepare_cached(
                "SELECT target, start, counts FROM rollups
                 WHERE gran = ?1 AND start >= ?2 AND start < ?3",
            )
            .ctx(doing)?;
        let mut it = stmt.query(params![g, from, to]).ctx(doing)?;
        while let Some(r) = it.next().ctx(doing)? {
            rows.push(r, q.granularity, |t| set.is_empty() || set.contains(t))?;
        }
    } else {
        // Walk the distinct bucket starts in the range (one seek each),
        // then seek each wanted target's bucket at that start.
        let list = serde_json::to_string(&wanted)?;
        let mut stmt = conn
            .prepare_cached(
                "WITH RECURSIVE s(start) AS (
                   SELECT (SELECT min(start) FROM rollups
                           WHERE gran = ?1 AND start >= ?2 AND start < ?3)
                   UNION ALL
                   SELECT (SELECT min(start) FROM rollups
                           WHERE gran = ?1 AND start > s.start AND start < ?3)
                   FROM s WHERE s.start IS NOT NULL
                 )
                 SELECT r.target, r.start, r.counts
                 FROM s JOIN rollups r
                   ON r.gran = ?1 AND r.start = s.start
                  AND r.target IN (SELECT value FROM json_each(?4))",
            )
            .ctx(doing)?;
        let mut it = stmt.query(params![g, from, to, list]).ctx(doing)?;
        while let Some(r) = it.next().ctx(doing)? {
            rows.push(r, q.granularity, |_| true)?;
        }
    }
    Ok(rows.into_sorted())
}

/// Rollup rows as read, with each target's id made once.
#[derive(Default)]
struct RollupRows {
    ids: HashMap<String, u32>,
    targets: Vec<TargetId>,
    rows: Vec<(u32, i64, Bucket)>,
}

impl RollupRows {
    /// Adds row `r` (target, start, counters) when `keep(target)`.
    fn push(
        &mut self,
        r: &Row<'_>,
        granularity: healthcore::rollup::Granularity,
        keep: impl Fn(&str) -> bool,
    ) -> StoreResult<()> {
        let doing = "read rollups";
        let name = r
            .get_ref(0)
            .ctx(doing)?
            .as_str()
            .map_err(|e| StoreError::Data(e.to_string()))?;
        if !keep(name) {
            return Ok(());
        }
        let idx = match self.ids.get(name) {
            Some(i) => *i,
            None => {
                let id = TargetId::new(name).map_err(|e| StoreError::Data(e.to_string()))?;
                let i = u32::try_from(self.targets.len()).unwrap_or(u32::MAX);
                self.ids.insert(name.to_owned(), i);
                self.targets.push(id);
                i
            }
        };
        let start: i64 = r.get(1).ctx(doing)?;
        let mut b = Bucket::sum();
        b.granularity = granularity;
        b.start = from_ns(start);
        let counts = r
            .get_ref(2)
            .ctx(doing)?
            .as_blob()
            .map_err(|e| StoreError::Data(e.to_string()))?;
        decode_counts(counts, &mut b)?;
        self.rows.push((idx, start, b));
        Ok(())
    }

    /// The buckets ordered by target, then start.
    fn into_sorted(self) -> Vec<TargetBucket> {
        let mut order: Vec<u32> =
            (0..u32::try_from(self.targets.len()).unwrap_or(u32::MAX)).collect();
        order.sort_unstable_by(|a, b| {
            self.targets
                .get(*a as usize)
                .cmp(&self.targets.get(*b as usize))
        });
        let mut rank = vec![0u32; order.len()];
        for (r, idx) in order.iter().enumerate() {
            if let Some(slot) = rank.get_mut(*idx as usize) {
                *slot = u32::try_from(r).unwrap_or(u32::MAX);
            }
        }
        let mut rows = self.rows;
        rows.sort_unstable_by_key(|(idx, start, _)| {
            (rank.get(*idx as usize).copied().unwrap_or(u32::MAX), *start)
        });
        rows.into_iter()
            .filter_map(|(idx, _, bucket)| {
                self.targets.get(idx as usize).map(|t| TargetBucket {
                    target: t.clone(),
                    bucket,
                })
            })
            .collect()
    }
}

/// Raw rows held (for tests, benches and the crash test).
pub(crate) fn count(conn: &Connection) -> StoreResult<u64> {
    let n: i64 = conn
        .query_row("SELECT count(*) FROM results", [], |r| r.get(0))
        .ctx("count results")?;
    Ok(u64::try_from(n).unwrap_or(0))
}
