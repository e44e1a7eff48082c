//! The checks many models' parameters share: a required text (trimmed, not empty)
//! and texts with a length limit in characters. Errors name the field.

use atelier_core::CoreError;

/// A required text, trimmed: it must not be empty.
pub fn required_text(field: &str, text: &str) -> Result<String, CoreError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    Ok(text.to_owned())
}

/// At most `max` characters (not bytes).
pub fn max_chars(field: &str, text: &str, max: usize) -> Result<(), CoreError> {
    if text.chars().count() > max {
        return Err(CoreError::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// [`max_chars`] for an optional text.
pub fn optional_max_chars(field: &str, text: Option<&str>, max: usize) -> Result<(), CoreError> {
    text.map_or(Ok(()), |text| max_chars(field, text, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_bounded_in_characters() {
        assert_eq!(required_text("prompt", "  a fox ").ok().as_deref(), Some("a fox"));
        let empty = required_text("prompt", " \n").expect_err("empty");
        assert_eq!(empty.to_string(), "prompt: must not be empty");
        assert!(max_chars("prompt", "狐狐狐狐狐", 5).is_ok(), "characters, not bytes");
        assert!(max_chars("prompt", "狐狐狐狐狐狐", 5).is_err());
        assert!(optional_max_chars("negative_prompt", None, 1).is_ok());
        let error = optional_max_chars("negative_prompt", Some("ab"), 1).expect_err("too long");
        assert!(error.to_string().starts_with("negative_prompt:"), "{error}");
    }
}
