use atelier_core::CoreError;

/// Converts a database error at the edge; the message keeps the statement's purpose.
pub(crate) fn storage(context: &'static str) -> impl FnOnce(sqlx::Error) -> CoreError {
    move |error| CoreError::Storage(format!("{context}: {error}"))
}
