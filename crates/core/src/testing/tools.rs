//! Tests that need a command-line tool (ffprobe, espeak-ng, exiftool...): a missing
//! tool skips the test with a note, or fails it under `ATELIER_TEST_REQUIRE_TOOLS=1`
//! (as `scripts/test` runs, after `scripts/install-test-deps` installed them all).

/// Says a tool is missing: panics under `ATELIER_TEST_REQUIRE_TOOLS=1`, else prints
/// that the test skipped. Call it, then return from the test.
pub fn tool_missing(tool: &str) {
    let note = format!("{tool} is not installed (scripts/install-test-deps installs it)");
    assert!(std::env::var("ATELIER_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"), "{note}");
    eprintln!("skipped: {note}");
}

/// Whether a program is on `PATH`; when not, [`tool_missing`] is called for it.
pub fn tool_present(tool: &str) -> bool {
    let found =
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()));
    if !found {
        tool_missing(tool);
    }
    found
}

/// What ffprobe says of a media file (`-show_streams -show_format`, as JSON), or
/// `None` when ffprobe is missing (after [`tool_missing`]). Panics when ffprobe
/// cannot read the file: that is the test's failure.
pub fn ffprobe(bytes: &[u8], extension: &str) -> Option<serde_json::Value> {
    if !tool_present("ffprobe") {
        return None;
    }
    let path = std::env::temp_dir().join(format!("atelier-probe-{}.{extension}", uuid::Uuid::new_v4()));
    std::fs::write(&path, bytes).expect("stage the file for ffprobe");
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let output = output.expect("run ffprobe");
    assert!(output.status.success(), "ffprobe cannot read it: {}", String::from_utf8_lossy(&output.stderr));
    Some(serde_json::from_slice(&output.stdout).expect("ffprobe's JSON"))
}

/// What `sox FILE -n stat` says of an audio file, as (name, value) pairs such as
/// ("RMS amplitude", 0.08), or `None` when sox is missing.
pub fn sox_stat(bytes: &[u8], extension: &str) -> Option<Vec<(String, f64)>> {
    if !tool_present("sox") {
        return None;
    }
    let path = std::env::temp_dir().join(format!("atelier-sox-{}.{extension}", uuid::Uuid::new_v4()));
    std::fs::write(&path, bytes).expect("stage the file for sox");
    let output = std::process::Command::new("sox").arg(&path).args(["-n", "stat"]).output();
    let _ = std::fs::remove_file(&path);
    let output = output.expect("run sox");
    assert!(output.status.success(), "sox cannot read it: {}", String::from_utf8_lossy(&output.stderr));
    // sox prints its statistics on stderr, one "Name:   value" per line.
    Some(
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_owned(), value.trim().parse().ok()?))
            })
            .collect(),
    )
}
