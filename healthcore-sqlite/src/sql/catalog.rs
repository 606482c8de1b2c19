//! Targets, checks, current state and configuration documents: small
//! tables written on change, each row holding its whole record as JSON.

use healthcore::model::{CheckKey, CheckSpec, Target, TargetId};
use healthcore::store::{
    Doc, DocQuery, Page, StateRecord, StateScope, StoreError, StoreResult, TargetQuery,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::{Filter, text};
use crate::codec::{from_json, to_json};
use crate::error::Ctx;

// ---- targets ------------------------------------------------------------

pub(crate) fn put_target(tx: &Transaction<'_>, t: &Target, record: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO targets (id, tenant, mac, record) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, mac = excluded.mac,
                                        record = excluded.record",
    )
    .and_then(|mut s| {
        s.execute(params![
            t.id.as_str(),
            t.tenant.as_str(),
            t.mac_address.as_deref(),
            record
        ])
    })
    .ctx("put target")?;
    Ok(())
}

pub(crate) fn get_target(conn: &Connection, id: &TargetId) -> StoreResult<Option<Target>> {
    let rec: Option<String> = conn
        .prepare_cached("SELECT record FROM targets WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)).optional())
        .ctx("get target")?;
    rec.as_deref().map(from_json).transpose()
}

pub(crate) fn list_targets(conn: &mut Connection, q: &TargetQuery) -> StoreResult<Page<Target>> {
    let mut f = Filter::default();
    if let Some(t) = &q.tenant {
        f.push("tenant = ?", text(t));
    }
    if let Some(m) = &q.mac_address {
        f.push("mac = ?", text(m));
    }
    f.page(conn, "targets", "id", q.page, "list targets", from_json)
}

/// Deletes a target with its checks, state and open alerts.
pub(crate) fn delete_target(tx: &Transaction<'_>, id: &TargetId) -> StoreResult<bool> {
    let doing = "delete target";
    let id = id.as_str();
    let n = tx
        .execute("DELETE FROM targets WHERE id = ?1", [id])
        .ctx(doing)?;
    tx.execute("DELETE FROM checks WHERE target = ?1", [id])
        .ctx(doing)?;
    tx.execute("DELETE FROM states WHERE target = ?1", [id])
        .ctx(doing)?;
    tx.execute(
        "DELETE FROM alerts WHERE target = ?1 AND status <> 'resolved'",
        [id],
    )
    .ctx(doing)?;
    Ok(n > 0)
}

// ---- checks -------------------------------------------------------------

pub(crate) fn put_check(
    tx: &Transaction<'_>,
    target: &TargetId,
    spec: &CheckSpec,
    record: &str,
) -> StoreResult<()> {
    let doing = "put check";
    let exists = tx
        .prepare_cached("SELECT 1 FROM targets WHERE id = ?1")
        .and_then(|mut s| s.exists([target.as_str()]))
        .ctx(doing)?;
    if !exists {
        return Err(StoreError::not_found("target", target));
    }
    tx.prepare_cached(
        "INSERT INTO checks (target, check_id, record) VALUES (?1, ?2, ?3)
         ON CONFLICT (target, check_id) DO UPDATE SET record = excluded.record",
    )
    .and_then(|mut s| s.execute(params![target.as_str(), spec.id().as_str(), record]))
    .ctx(doing)?;
    Ok(())
}

pub(crate) fn list_checks(
    conn: &Connection,
    target: Option<&TargetId>,
) -> StoreResult<Vec<(TargetId, CheckSpec)>> {
    let doing = "list checks";
    let mut f = Filter::default();
    if let Some(t) = target {
        f.push("target = ?", text(t));
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT target, record FROM checks{} ORDER BY target, check_id",
            f.sql()
        ))
        .ctx(doing)?;
    let rows = stmt
        .query_map(params_from_iter(&f.params), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .ctx(doing)?;
    let mut out = Vec::new();
    for row in rows {
        let (t, rec) = row.ctx(doing)?;
        let id = TargetId::new(&t).map_err(|e| StoreError::Data(e.to_string()))?;
        out.push((id, from_json(&rec)?));
    }
    Ok(out)
}

pub(crate) fn delete_check(tx: &Transaction<'_>, key: &CheckKey) -> StoreResult<bool> {
    let doing = "delete check";
    let state_key = StateScope::Check { key: key.clone() }.storage_key();
    tx.execute("DELETE FROM states WHERE key = ?1", [state_key])
        .ctx(doing)?;
    let n = tx
        .execute(
            "DELETE FROM checks WHERE target = ?1 AND check_id = ?2",
            [key.target.as_str(), key.check.as_str()],
        )
        .ctx(doing)?;
    Ok(n > 0)
}

// ---- state --------------------------------------------------------------

/// One state row ready to write: (storage key, target, record JSON).
pub(crate) type StateRow = (String, String, String);

pub(crate) fn encode_states(records: &[StateRecord]) -> StoreResult<Vec<StateRow>> {
    records
        .iter()
        .map(|r| {
            Ok((
                r.scope.storage_key(),
                r.scope.target().as_str().to_owned(),
                to_json(r)?,
            ))
        })
        .collect()
}

pub(crate) fn put_states(tx: &Transaction<'_>, rows: &[StateRow]) -> StoreResult<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO states (key, target, record) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET target = excluded.target, record = excluded.record",
        )
        .ctx("put states")?;
    for (key, target, record) in rows {
        stmt.execute(params![key, target, record])
            .ctx("put states")?;
    }
    Ok(())
}

pub(crate) fn load_states(conn: &Connection) -> StoreResult<Vec<StateRecord>> {
    let doing = "load states";
    let mut stmt = conn
        .prepare_cached("SELECT record FROM states ORDER BY key")
        .ctx(doing)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).ctx(doing)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(from_json(&row.ctx(doing)?)?);
    }
    Ok(out)
}

// ---- documents ----------------------------------------------------------

pub(crate) fn put_doc(tx: &Transaction<'_>, d: &Doc, record: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO docs (kind, id, tenant, target, record) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, id) DO UPDATE SET tenant = excluded.tenant,
                                              target = excluded.target,
                                              record = excluded.record",
    )
    .and_then(|mut s| {
        s.execute(params![
            d.kind,
            d.id,
            d.tenant.as_ref().map(|t| t.as_str()),
            d.target.as_ref().map(|t| t.as_str()),
            record
        ])
    })
    .ctx("put doc")?;
    Ok(())
}

pub(crate) fn get_doc(conn: &Connection, kind: &str, id: &str) -> StoreResult<Option<Doc>> {
    let rec: Option<String> = conn
        .prepare_cached("SELECT record FROM docs WHERE kind = ?1 AND id = ?2")
        .and_then(|mut s| s.query_row([kind, id], |r| r.get(0)).optional())
        .ctx("get doc")?;
    rec.as_deref().map(from_json).transpose()
}

pub(crate) fn list_docs(conn: &Connection, q: &DocQuery) -> StoreResult<Vec<Doc>> {
    let doing = "list docs";
    let mut f = Filter::default();
    f.push("kind = ?", text(&q.kind));
    if let Some(t) = &q.tenant {
        f.push("tenant = ?", text(t));
    }
    if let Some(t) = &q.target {
        f.push("target = ?", text(t));
    }
    let mut stmt = conn
        .prepare_cached(&format!("SELECT record FROM docs{} ORDER BY id", f.sql()))
        .ctx(doing)?;
    let rows = stmt
        .query_map(params_from_iter(&f.params), |r| r.get::<_, String>(0))
        .ctx(doing)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(from_json(&row.ctx(doing)?)?);
    }
    Ok(out)
}

pub(crate) fn delete_doc(tx: &Transaction<'_>, kind: &str, id: &str) -> StoreResult<bool> {
    let n = tx
        .execute("DELETE FROM docs WHERE kind = ?1 AND id = ?2", [kind, id])
        .ctx("delete doc")?;
    Ok(n > 0)
}
