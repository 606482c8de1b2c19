//! Retention, one bounded chunk at a time. Each function deletes at most
//! `chunk` rows in the caller's transaction; the store runs every chunk as
//! its own writer job, so result batches queued meanwhile are written
//! between two chunks instead of waiting for the whole purge.

use healthcore::store::StoreResult;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::error::Ctx;

fn changed(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Where a purge of raw results stands between two chunks: inside a
/// batch that straddles the cutoff, `next` is the first `seq` not yet
/// looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    first: i64,
    next: i64,
}

/// One step of the raw-results purge: at most `chunk` consecutive `seq`s
/// of one batch that holds results older than `cut`. A batch wholly older
/// than `cut` is deleted by range (and its `batches` row shrunk or
/// dropped); a batch that straddles `cut` is filtered by time, range by
/// range, and then marked as holding nothing older than `cut`.
///
/// Returns the rows deleted and where to go on; `None` as the second
/// value with nothing deleted means the purge is done.
pub(crate) fn results_step(
    tx: &Transaction<'_>,
    cut: i64,
    chunk: i64,
    cursor: Option<Cursor>,
) -> StoreResult<(u64, Option<Cursor>, bool)> {
    let doing = "purge results";
    let resumed: Option<(i64, i64, i64, i64)> = match cursor {
        Some(c) => tx
            .prepare_cached("SELECT first_seq, last_seq, max_at FROM batches WHERE first_seq = ?1")
            .and_then(|mut s| {
                s.query_row([c.first], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, c.next)))
                    .optional()
            })
            .ctx(doing)?,
        None => None,
    };
    // A batch to resume (unless another purge finished it meanwhile), or
    // the next one holding rows older than `cut`.
    let picked = match resumed {
        Some(p) => Some(p),
        None => tx
            .prepare_cached(
                "SELECT first_seq, last_seq, max_at FROM batches
                 WHERE min_at < ?1 ORDER BY min_at LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row([cut], |r| {
                    let first: i64 = r.get(0)?;
                    Ok((first, r.get(1)?, r.get(2)?, first))
                })
                .optional()
            })
            .ctx(doing)?,
    };
    let Some((first, last, max_at, lo)) = picked else {
        return Ok((0, None, true));
    };
    let hi = lo.saturating_add(chunk.max(1) - 1).min(last);
    if max_at < cut {
        let n = tx
            .execute("DELETE FROM results WHERE seq BETWEEN ?1 AND ?2", [lo, hi])
            .ctx(doing)?;
        if hi >= last {
            tx.execute("DELETE FROM batches WHERE first_seq = ?1", [first])
                .ctx(doing)?;
        } else {
            tx.execute(
                "UPDATE batches SET first_seq = ?2 WHERE first_seq = ?1",
                [first, hi + 1],
            )
            .ctx(doing)?;
        }
        return Ok((changed(n), None, false));
    }
    let n = tx
        .execute(
            "DELETE FROM results WHERE seq BETWEEN ?1 AND ?2 AND at < ?3",
            [lo, hi, cut],
        )
        .ctx(doing)?;
    if hi >= last {
        tx.execute(
            "UPDATE batches SET min_at = ?2 WHERE first_seq = ?1",
            [first, cut],
        )
        .ctx(doing)?;
        return Ok((changed(n), None, false));
    }
    Ok((
        changed(n),
        Some(Cursor {
            first,
            next: hi + 1,
        }),
        false,
    ))
}

/// Deletes up to `chunk` pointer lists whose every row is gone (their
/// newest `seq` is below the oldest raw row).
pub(crate) fn recent_chunk(tx: &Transaction<'_>, chunk: i64) -> StoreResult<u64> {
    tx.prepare_cached(
        "DELETE FROM recent WHERE series IN
           (SELECT series FROM recent
            WHERE last_seq < (SELECT coalesce(min(seq), 9223372036854775807) FROM results)
            LIMIT ?1)",
    )
    .and_then(|mut s| s.execute([chunk]))
    .map(changed)
    .ctx("purge recent pointers")
}

/// Journal kinds present.
pub(crate) fn entry_kinds(conn: &Connection) -> StoreResult<Vec<String>> {
    let doing = "list entry kinds";
    let mut stmt = conn
        .prepare_cached("SELECT DISTINCT kind FROM entries ORDER BY kind")
        .ctx(doing)?;
    stmt.query_map([], |r| r.get(0))
        .ctx(doing)?
        .collect::<rusqlite::Result<_>>()
        .ctx(doing)
}

/// Deletes up to `chunk` entries of `kind` older than `cut`.
pub(crate) fn entries_chunk(
    tx: &Transaction<'_>,
    kind: &str,
    cut: i64,
    chunk: i64,
) -> StoreResult<u64> {
    tx.prepare_cached(
        "DELETE FROM entries WHERE rowid IN
           (SELECT rowid FROM entries WHERE kind = ?1 AND at < ?2 LIMIT ?3)",
    )
    .and_then(|mut s| s.execute(params![kind, cut, chunk]))
    .map(changed)
    .ctx("purge entries")
}

/// Deletes up to `chunk` buckets of granularity code `gran` starting
/// before `cut`.
pub(crate) fn rollups_chunk(
    tx: &Transaction<'_>,
    gran: i64,
    cut: i64,
    chunk: i64,
) -> StoreResult<u64> {
    tx.prepare_cached(
        "DELETE FROM rollups WHERE (gran, start, target) IN
           (SELECT gran, start, target FROM rollups WHERE gran = ?1 AND start < ?2 LIMIT ?3)",
    )
    .and_then(|mut s| s.execute(params![gran, cut, chunk]))
    .map(changed)
    .ctx("purge rollups")
}

/// Deletes up to `chunk` per-check hourly counts of hours starting before
/// `cut`.
pub(crate) fn check_counts_chunk(tx: &Transaction<'_>, cut: i64, chunk: i64) -> StoreResult<u64> {
    tx.prepare_cached(
        "DELETE FROM check_counts WHERE (series, start) IN
           (SELECT series, start FROM check_counts WHERE start < ?1 LIMIT ?2)",
    )
    .and_then(|mut s| s.execute(params![cut, chunk]))
    .map(changed)
    .ctx("purge check counts")
}

/// Deletes up to `chunk` alerts resolved before `cut` (open alerts and
/// resolved ones without a resolution time are kept).
pub(crate) fn alerts_chunk(tx: &Transaction<'_>, cut: i64, chunk: i64) -> StoreResult<u64> {
    tx.prepare_cached(
        "DELETE FROM alerts WHERE rowid IN
           (SELECT rowid FROM alerts WHERE status = 'resolved' AND resolved_at < ?1 LIMIT ?2)",
    )
    .and_then(|mut s| s.execute(params![cut, chunk]))
    .map(changed)
    .ctx("purge alerts")
}
