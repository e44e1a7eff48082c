//! Statements built at run time (list filters): only placeholders enter the SQL
//! text; every value is bound.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

/// A bound parameter of a statement built at run time.
pub(crate) enum Param {
    Text(String),
    Number(i64),
}

impl Param {
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
            };
        }
        query
    }
}
