//! The journal: append-only history entries under (kind, id), replaced
//! when the same (kind, id) is appended again.

use healthcore::store::{Entry, EntryQuery, Page, StoreResult};
use rusqlite::{Connection, Transaction, params};

use super::{Filter, text};
use crate::codec::{from_json, ns, to_json};
use crate::error::Ctx;

/// One entry ready to write.
#[derive(Debug)]
pub(crate) struct EntryRow {
    kind: String,
    id: String,
    target: Option<String>,
    tenant: Option<String>,
    at: i64,
    subtype: Option<String>,
    record: String,
}

pub(crate) fn encode(entries: &[Entry]) -> StoreResult<Vec<EntryRow>> {
    entries
        .iter()
        .map(|e| {
            Ok(EntryRow {
                kind: e.kind.clone(),
                id: e.id.clone(),
                target: e.target.as_ref().map(|t| t.as_str().to_owned()),
                tenant: e.tenant.as_ref().map(|t| t.as_str().to_owned()),
                at: ns(e.at),
                subtype: e.subtype.clone(),
                record: to_json(e)?,
            })
        })
        .collect()
}

pub(crate) fn append(tx: &Transaction<'_>, rows: &[EntryRow]) -> StoreResult<()> {
    let doing = "append entries";
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO entries (kind, id, target, tenant, at, subtype, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (kind, id) DO UPDATE SET target = excluded.target,
                 tenant = excluded.tenant, at = excluded.at,
                 subtype = excluded.subtype, record = excluded.record",
        )
        .ctx(doing)?;
    for r in rows {
        stmt.execute(params![
            r.kind, r.id, r.target, r.tenant, r.at, r.subtype, r.record
        ])
        .ctx(doing)?;
    }
    Ok(())
}

pub(crate) fn query(conn: &mut Connection, q: &EntryQuery) -> StoreResult<Page<Entry>> {
    let mut f = Filter::default();
    f.push("kind = ?", text(&q.kind));
    if let Some(t) = &q.target {
        f.push("target = ?", text(t));
    }
    if let Some(t) = &q.tenant {
        f.push("tenant = ?", text(t));
    }
    if let Some(s) = &q.subtype {
        f.push("subtype = ?", text(s));
    }
    if let Some(s) = q.since {
        f.push("at >= ?", ns(s));
    }
    if let Some(u) = q.until {
        f.push("at < ?", ns(u));
    }
    let order = if q.ascending {
        "at ASC, id ASC"
    } else {
        "at DESC, id DESC"
    };
    f.page(conn, "entries", order, q.page, "query entries", from_json)
}
