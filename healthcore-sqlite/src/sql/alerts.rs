//! Alerts: dedup by a partial unique index over unresolved alerts,
//! compare-and-set updates, and a trigger that keeps resolved alerts
//! resolved.

use healthcore::alert::{Alert, AlertStatus};
use healthcore::store::{AlertQuery, InsertAlert, Page, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Filter, text};
use crate::codec::{from_json, ns, to_json};
use crate::error::Ctx;

fn open_with_key(tx: &Connection, a: &Alert) -> StoreResult<Option<Alert>> {
    let rec: Option<String> = tx
        .prepare_cached(
            "SELECT record FROM alerts WHERE target = ?1 AND kind = ?2 AND status <> 'resolved'",
        )
        .and_then(|mut s| {
            s.query_row(params![a.target.as_str(), a.kind.as_str()], |r| r.get(0))
                .optional()
        })
        .ctx("find open alert")?;
    rec.as_deref().map(from_json).transpose()
}

/// Inserts unless an unresolved alert of the same (target, kind) exists.
pub(crate) fn insert(tx: &Transaction<'_>, a: &Alert, record: &str) -> StoreResult<InsertAlert> {
    let doing = "insert alert";
    let open = a.status != AlertStatus::Resolved;
    if open {
        if let Some(existing) = open_with_key(tx, a)? {
            return Ok(InsertAlert::Exists(Box::new(existing)));
        }
    }
    let taken = tx
        .prepare_cached("SELECT 1 FROM alerts WHERE id = ?1")
        .and_then(|mut s| s.exists([a.id.as_str()]))
        .ctx(doing)?;
    if taken {
        return Err(StoreError::Conflict(format!("alert id {} exists", a.id)));
    }
    let inserted = tx
        .prepare_cached(
            "INSERT INTO alerts (id, target, kind, status, severity, created_at, resolved_at, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .and_then(|mut s| {
            s.execute(params![
                a.id,
                a.target.as_str(),
                a.kind.as_str(),
                a.status.as_str(),
                a.severity.as_str(),
                ns(a.created_at),
                a.resolved_at.map(ns),
                record
            ])
        })
        .ctx(doing);
    match inserted {
        Ok(_) => Ok(InsertAlert::Created),
        // The unique index over open alerts is the last word.
        Err(StoreError::Conflict(_)) if open => match open_with_key(tx, a)? {
            Some(existing) => Ok(InsertAlert::Exists(Box::new(existing))),
            None => Err(StoreError::Conflict(format!("alert {} conflicts", a.id))),
        },
        Err(e) => Err(e),
    }
}

/// Replaces an alert if its stored status is still `expected`.
pub(crate) fn update(
    tx: &Transaction<'_>,
    a: &Alert,
    expected: AlertStatus,
    record: &str,
) -> StoreResult<()> {
    let doing = "update alert";
    let stored: Option<String> = tx
        .prepare_cached("SELECT status FROM alerts WHERE id = ?1")
        .and_then(|mut s| s.query_row([a.id.as_str()], |r| r.get(0)).optional())
        .ctx(doing)?;
    let Some(stored) = stored else {
        return Err(StoreError::not_found("alert", &a.id));
    };
    if stored != expected.as_str() {
        return Err(StoreError::Conflict(format!(
            "alert {} is {stored}, expected {}",
            a.id,
            expected.as_str()
        )));
    }
    if stored == AlertStatus::Resolved.as_str() && a.status != AlertStatus::Resolved {
        return Err(StoreError::Conflict(
            "a resolved alert never reopens".into(),
        ));
    }
    tx.prepare_cached(
        "UPDATE alerts SET target = ?2, kind = ?3, status = ?4, severity = ?5, created_at = ?6,
                           resolved_at = ?7, record = ?8
         WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            a.id,
            a.target.as_str(),
            a.kind.as_str(),
            a.status.as_str(),
            a.severity.as_str(),
            ns(a.created_at),
            a.resolved_at.map(ns),
            record
        ])
    })
    .ctx(doing)?;
    Ok(())
}

pub(crate) fn get(conn: &Connection, id: &str) -> StoreResult<Option<Alert>> {
    let rec: Option<String> = conn
        .prepare_cached("SELECT record FROM alerts WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .ctx("get alert")?;
    rec.as_deref().map(from_json).transpose()
}

pub(crate) fn list(conn: &mut Connection, q: &AlertQuery) -> StoreResult<Page<Alert>> {
    let mut f = Filter::default();
    if let Some(s) = q.status {
        f.push("status = ?", text(s.as_str()));
    }
    if q.open_only {
        f.push_plain("status <> 'resolved'");
    }
    if let Some(s) = q.severity {
        f.push("severity = ?", text(s.as_str()));
    }
    if let Some(t) = &q.target {
        f.push("target = ?", text(t));
    }
    if let Some(k) = &q.kind {
        f.push("kind = ?", text(k.as_str()));
    }
    if let Some(s) = q.since {
        f.push("created_at >= ?", ns(s));
    }
    if let Some(t) = &q.tenant {
        f.push(
            "target IN (SELECT id FROM targets WHERE tenant = ?)",
            text(t),
        );
    }
    f.page(
        conn,
        "alerts",
        "created_at DESC, id DESC",
        q.page,
        "list alerts",
        from_json,
    )
}

/// The JSON record of an alert.
pub(crate) fn record(a: &Alert) -> StoreResult<String> {
    to_json(a)
}
