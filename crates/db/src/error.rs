use atelier_core::CoreError;
use atelier_core::storage::StoragePart;

/// Converts a database error at the edge; the message keeps the statement's purpose.
/// A full disk (SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full`) says so.
pub(crate) fn storage(context: &'static str) -> impl FnOnce(sqlx::Error) -> CoreError {
    move |error| match error {
        // A row a write read that did not decode ([`undecodable`]).
        sqlx::Error::Decode(inner) if inner.is::<CoreError>() => match inner.downcast::<CoreError>() {
            Ok(error) => *error,
            Err(inner) => CoreError::Storage(format!("{context}: {inner}")),
        },
        error if is_disk_full(&error) => {
            CoreError::StorageFull { part: StoragePart::Database, detail: format!("{context}: {error}") }
        }
        error => CoreError::Storage(format!("{context}: {error}")),
    }
}

/// SQLite's `SQLITE_FULL` (13, primary code of every extended one) or PostgreSQL's
/// `disk_full` (53100), and a file write that found no space.
pub(crate) fn is_disk_full(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(database) => {
            let code = database.code();
            let code = code.as_deref().unwrap_or_default();
            code == "53100" || code.parse::<i64>().is_ok_and(|code| code & 0xff == 13)
        }
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

/// A value decoded inside a write that did not decode: carried through sqlx's
/// error to the caller, who gets the [`CoreError`] back from [`storage`].
pub(crate) fn undecodable(error: CoreError) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(error))
}
