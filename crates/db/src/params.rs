//! Statements built at run time (list filters): only placeholders enter the SQL
//! text; every value is bound.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

/// A bound parameter of a statement built at run time.
pub(crate) enum Param {
    Text(String),
    Number(i64),
    Real(f64),
}

impl Param {
    /// A text parameter from anything displayed as text (ids, names).
    pub(crate) fn text(value: impl std::fmt::Display) -> Self {
        Param::Text(value.to_string())
    }

    /// Adds the parameter and returns its placeholder.
    pub(crate) fn push(params: &mut Vec<Param>, param: Param) -> String {
        params.push(param);
        format!("${}", params.len())
    }

    /// The statement with every parameter bound, in order.
    pub(crate) fn bind_all(sql: String, params: Vec<Param>) -> Query<'static, Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for param in params {
            query = match param {
                Param::Text(text) => query.bind(text),
                Param::Number(number) => query.bind(number),
                Param::Real(real) => query.bind(real),
            };
        }
        query
    }
}

/// Bound on the native SQLite connection (`native.rs`) as sqlx binds it.
impl rusqlite::types::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Param::Text(text) => text.to_sql(),
            Param::Number(number) => number.to_sql(),
            Param::Real(real) => real.to_sql(),
        }
    }
}

/// A statement and its parameters, built at run time: what the code runs, and what
/// the plan tests explain.
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param>,
}

impl Statement {
    pub(crate) fn new(sql: impl Into<String>, params: Vec<Param>) -> Self {
        Self { sql: sql.into(), params }
    }

    /// The statement with every parameter bound, ready to run.
    pub(crate) fn query(self) -> Query<'static, Any, AnyArguments> {
        Param::bind_all(self.sql, self.params)
    }
}

/// A `SELECT … WHERE <condition>` that filters grow one ` AND …` at a time, and
/// that ends as a newest-first page: the caller asks one row more than the page
/// holds, to know whether a next page exists (see [`next_page`]).
pub(crate) struct Filtered {
    sql: String,
    params: Vec<Param>,
}

impl Filtered {
    /// `select` ends in a `WHERE` condition (`… WHERE 1 = 1` when there is none).
    pub(crate) fn new(select: impl Into<String>) -> Self {
        Self { sql: select.into(), params: Vec::new() }
    }

    /// Appends ` AND <condition> $n`, `$n` bound to `value`: `and("model =", …)`.
    pub(crate) fn and(&mut self, condition: &str, value: Param) {
        let placeholder = Param::push(&mut self.params, value);
        self.sql.push_str(&format!(" AND {condition} {placeholder}"));
    }

    /// [`Filtered::and`] when there is a value (an optional filter); nothing otherwise.
    pub(crate) fn and_some(&mut self, condition: &str, value: Option<Param>) {
        if let Some(value) = value {
            self.and(condition, value);
        }
    }

    /// Appends ` AND <column> IN ($a, $b, …)`; nothing for no values.
    pub(crate) fn and_in(&mut self, column: &str, values: impl IntoIterator<Item = Param>) {
        let placeholders: Vec<String> = values.into_iter().map(|value| Param::push(&mut self.params, value)).collect();
        if !placeholders.is_empty() {
            self.sql.push_str(&format!(" AND {column} IN ({})", placeholders.join(", ")));
        }
    }

    /// Keeps rows created in `[after, before)`. Ids are UUIDv7, made when the row is,
    /// so the range is also an id range (`id_at` writes the smallest id of a time,
    /// a minute early for clocks that differ): the newest-first walk of an id index
    /// starts and stops at the range's ends, and the time columns are compared on
    /// each row (the `+` keeps the planner from choosing a time index and sorting
    /// what it finds by id).
    pub(crate) fn and_created(&mut self, after: Option<i64>, before: Option<i64>, id_at: fn(i64) -> String) {
        const SLACK_MS: i64 = 60_000;
        if let Some(after) = after {
            self.and("+created_at >=", Param::Number(after));
            self.and("id >=", Param::Text(id_at(after.saturating_sub(SLACK_MS))));
        }
        if let Some(before) = before {
            self.and("+created_at <", Param::Number(before));
            self.and("id <", Param::Text(id_at(before.saturating_add(SLACK_MS))));
        }
    }

    /// Keeps rows whose `<prefix>latitude` and `<prefix>longitude` fall in the box
    /// around a circle (the exact distance is checked on the rows read).
    pub(crate) fn and_within(&mut self, prefix: &str, bounds: &atelier_places::BoundingBox) {
        let lat_min = Param::push(&mut self.params, Param::Real(bounds.latitude.min));
        let lat_max = Param::push(&mut self.params, Param::Real(bounds.latitude.max));
        self.sql.push_str(&format!(" AND {prefix}latitude BETWEEN {lat_min} AND {lat_max}"));
        let ranges: Vec<String> = bounds
            .longitude
            .iter()
            .map(|range| {
                let min = Param::push(&mut self.params, Param::Real(range.min));
                let max = Param::push(&mut self.params, Param::Real(range.max));
                format!("{prefix}longitude BETWEEN {min} AND {max}")
            })
            .collect();
        if !ranges.is_empty() {
            self.sql.push_str(&format!(" AND ({})", ranges.join(" OR ")));
        }
    }

    /// Appends raw SQL (no values): a subquery's opening or closing.
    pub(crate) fn push_sql(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    /// The statement as it stands (no order, no limit).
    pub(crate) fn into_statement(self) -> Statement {
        Statement::new(self.sql, self.params)
    }

    /// Newest first by id, one row more than `limit`.
    pub(crate) fn newest_first(mut self, limit: u32) -> Statement {
        let placeholder = Param::push(&mut self.params, Param::Number(i64::from(limit) + 1));
        self.sql.push_str(&format!(" ORDER BY id DESC LIMIT {placeholder}"));
        Statement::new(self.sql, self.params)
    }
}

/// The smallest UUIDv7 (hyphenated) of a millisecond time.
pub(crate) fn uuid_at(millis: i64) -> String {
    let millis = millis.clamp(0, (1 << 48) - 1);
    format!("{:08x}-{:04x}-0000-0000-000000000000", millis >> 16, millis & 0xffff)
}

/// The smallest prefixed id (`img_…`) of a millisecond time.
pub(crate) fn prefixed_at(prefix: &str, millis: i64) -> String {
    let millis = millis.clamp(0, (1 << 48) - 1);
    format!("{prefix}{:08x}{:04x}{}", millis >> 16, millis & 0xffff, "0".repeat(20))
}

/// Cuts a newest-first page fetched with [`Filtered::newest_first`] to `limit`
/// rows; the next page's cursor is the last row's id when there was one more.
pub(crate) fn next_page<T, Id>(rows: &mut Vec<T>, limit: u32, id: impl Fn(&T) -> Id) -> Option<Id> {
    if rows.len() <= limit as usize {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_with_one_row_more_has_a_next_cursor() {
        let mut rows = vec![9, 8, 7, 6];
        assert_eq!(next_page(&mut rows, 3, |row| *row), Some(7));
        assert_eq!(rows, vec![9, 8, 7]);
        let mut last = vec![5, 4];
        assert_eq!(next_page(&mut last, 3, |row| *row), None);
        assert_eq!(last, vec![5, 4]);
    }

    #[test]
    fn time_bounds_are_the_smallest_ids_of_their_time() {
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, 1_800_000_000, 5_000_000));
        let millis = 1_800_000_000_005;
        assert!(uuid_at(millis) <= id.hyphenated().to_string());
        assert!(uuid_at(millis + 1) > id.hyphenated().to_string());
        let asset = format!("img_{}", id.simple());
        assert!(prefixed_at("img_", millis) <= asset && prefixed_at("img_", millis + 1) > asset);
        assert_eq!(prefixed_at("img_", millis).len(), asset.len());
    }

    #[test]
    fn filters_add_placeholders_in_binding_order() {
        let mut query = Filtered::new("SELECT id FROM tasks WHERE 1 = 1");
        query.and_in("status", []);
        query.and_in("status", [Param::Text("pending".into()), Param::Text("failed".into())]);
        query.and("model =", Param::Text("qr".into()));
        assert_eq!(query.sql, "SELECT id FROM tasks WHERE 1 = 1 AND status IN ($1, $2) AND model = $3");
        assert_eq!(query.params.len(), 3);
    }
}
