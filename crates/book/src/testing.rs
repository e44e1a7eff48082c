//! Helpers for the crate's tests: the system fonts, loaded once, and the external
//! PDF tools.

use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::fonts::FontBook;

/// The system's fonts. The tests need Noto Sans CJK and Comic Neue
/// (`scripts/install-test-deps` installs fonts-noto-cjk and fonts-comic-neue).
pub(crate) fn fonts() -> &'static FontBook {
    static BOOK: OnceLock<FontBook> = OnceLock::new();
    BOOK.get_or_init(|| {
        let book = FontBook::system().expect("system fonts");
        let families = book.families();
        for wanted in ["Noto Sans CJK JP", "Comic Neue", "DejaVu Sans"] {
            assert!(
                families.iter().any(|f| f == wanted),
                "the tests need the font {wanted:?}: install fonts-noto-cjk, fonts-comic-neue and fonts-dejavu-core"
            );
        }
        book
    })
}

/// Runs an external tool. `None` (after a note) when it is not installed, unless
/// `ATELIER_TEST_REQUIRE_TOOLS=1`, which makes a missing tool fail the test.
pub(crate) fn run_tool(tool: &str, args: &[&str]) -> Option<Output> {
    match Command::new(tool).args(args).output() {
        Ok(output) => Some(output),
        Err(e) => {
            let required = std::env::var("ATELIER_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
            assert!(!required, "{tool} is required (ATELIER_TEST_REQUIRE_TOOLS=1) but cannot run: {e}");
            eprintln!("note: {tool} is not installed ({e}); skipping that check");
            None
        }
    }
}
