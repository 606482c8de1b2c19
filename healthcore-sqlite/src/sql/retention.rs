//! Retention, one bounded chunk at a time. Each function deletes at most
//! `chunk` rows in the caller's transaction; the store runs every chunk as
//! its own writer job, so result batches queued meanwhile are written
//! between two chunks instead of waiting for the whole purge.

use healthcore::store::StoreResult;
use rusqlite::{Connection, Transaction, params};

use crate::error::Ctx;

fn changed(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Deletes up to `chunk` raw results older than `cut` (and their `recent`
/// pointers), oldest first. Returns how many raw rows went.
pub(crate) fn results_chunk(tx: &Transaction<'_>, cut: i64, chunk: i64) -> StoreResult<u64> {
    let doing = "purge results";
    let victims: Vec<(i64, i64)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT seq, series FROM results INDEXED BY results_by_at
                 WHERE at < ?1 ORDER BY at LIMIT ?2",
            )
            .ctx(doing)?;
        stmt.query_map(params![cut, chunk], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx(doing)?
            .collect::<rusqlite::Result<_>>()
            .ctx(doing)?
    };
    let mut unpoint = tx
        .prepare_cached("DELETE FROM recent WHERE series = ?1 AND seq = ?2")
        .ctx(doing)?;
    let mut delete = tx
        .prepare_cached("DELETE FROM results WHERE seq = ?1")
        .ctx(doing)?;
    let mut n = 0u64;
    for (seq, series) in victims {
        unpoint.execute([series, seq]).ctx(doing)?;
        n = n.saturating_add(changed(delete.execute([seq]).ctx(doing)?));
    }
    Ok(n)
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
