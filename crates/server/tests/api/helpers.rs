//! The test harness lives in the test kit, shared with the bench.

pub use atelier_testkit::app::*;

/// Whether the command-line tools the test needs are here. Missing: a failure when
/// `ATELIER_TEST_REQUIRE_TOOLS=1` (as `scripts/test` sets), a skip otherwise.
pub fn tools_present(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| std::process::Command::new(tool).arg("--version").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let note = format!("missing {missing:?} (scripts/install-test-deps installs them)");
    assert!(std::env::var("ATELIER_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"), "{note}");
    eprintln!("skipped: {note}");
    false
}
