//! The SQL behind each [`Store`](healthcore::store::Store) method, as
//! plain synchronous functions over a connection or a transaction.
//!
//! They run only on the store's threads ([`crate::threads`]); they hold
//! no health rule (what to write is the pure core's decision) and no
//! policy beyond what the `Store` contract says.

pub(crate) mod alerts;
pub(crate) mod catalog;
pub(crate) mod journal;
pub(crate) mod results;
pub(crate) mod retention;

use healthcore::store::{Page, PageRequest, StoreResult};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use crate::codec::offset_i64;
use crate::error::Ctx;

/// A `WHERE` clause built from the filters that are set, with its
/// parameters in order.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    clauses: Vec<&'static str>,
    params: Vec<Value>,
}

impl Filter {
    /// Adds a clause with one `?` and its value.
    pub(crate) fn push(&mut self, clause: &'static str, value: impl Into<Value>) {
        self.clauses.push(clause);
        self.params.push(value.into());
    }

    /// Adds a clause without parameters.
    pub(crate) fn push_plain(&mut self, clause: &'static str) {
        self.clauses.push(clause);
    }

    /// ` WHERE a AND b`, or nothing.
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Counts the matches in `table` and returns one page of the `record`
    /// column decoded with `decode`, in one read transaction.
    pub(crate) fn page<T>(
        &self,
        conn: &mut Connection,
        table: &str,
        order: &str,
        page: PageRequest,
        doing: &str,
        decode: impl Fn(&str) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let tx = conn.transaction().ctx(doing)?;
        let where_ = self.sql();
        let total: i64 = tx
            .query_row(
                &format!("SELECT count(*) FROM {table}{where_}"),
                params_from_iter(&self.params),
                |r| r.get(0),
            )
            .ctx(doing)?;
        let mut params = self.params.clone();
        params.push(Value::Integer(i64::from(
            page.limit.clamp(1, healthcore::store::MAX_PAGE),
        )));
        params.push(Value::Integer(offset_i64(page.offset)));
        let items = {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "SELECT record FROM {table}{where_} ORDER BY {order} LIMIT ? OFFSET ?"
                ))
                .ctx(doing)?;
            let rows = stmt
                .query_map(params_from_iter(&params), |r| r.get::<_, String>(0))
                .ctx(doing)?;
            let mut items = Vec::new();
            for row in rows {
                items.push(decode(&row.ctx(doing)?)?);
            }
            items
        };
        tx.finish().ctx(doing)?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}

/// Text value of a string-like id.
pub(crate) fn text(s: impl AsRef<str>) -> Value {
    Value::Text(s.as_ref().to_owned())
}
