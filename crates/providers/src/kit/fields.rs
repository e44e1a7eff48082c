//! The checks many models' parameters share: a prompt (trimmed, not empty, at most
//! so many characters) and optional texts with a length limit. Errors name the field.

use atelier_core::CoreError;

/// A required text: trimmed, not empty, at most `max_chars` characters.
pub fn required_text(field: &str, text: &str, max_chars: usize) -> Result<String, CoreError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    check_length(field, text, max_chars)?;
    Ok(text.to_owned())
}

/// An optional text of at most `max_chars` characters.
pub fn optional_text(field: &str, text: Option<&str>, max_chars: usize) -> Result<(), CoreError> {
    match text {
        Some(text) => check_length(field, text, max_chars),
        None => Ok(()),
    }
}

fn check_length(field: &str, text: &str, max_chars: usize) -> Result<(), CoreError> {
    if text.chars().count() > max_chars {
        return Err(CoreError::invalid(field, format!("must be at most {max_chars} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_bounded_in_characters() {
        assert_eq!(required_text("prompt", "  a fox ", 5).ok().as_deref(), Some("a fox"));
        assert!(required_text("prompt", " \n", 5).is_err());
        assert!(required_text("prompt", "狐狐狐狐狐", 5).is_ok(), "characters, not bytes");
        assert!(required_text("prompt", "狐狐狐狐狐狐", 5).is_err());
        assert!(optional_text("negative_prompt", None, 1).is_ok());
        let error = optional_text("negative_prompt", Some("ab"), 1).expect_err("too long");
        assert!(error.to_string().starts_with("negative_prompt:"), "{error}");
    }
}
