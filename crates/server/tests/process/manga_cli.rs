//! `atelier manga`: a story through the seven phases on a running server, straight
//! through to the book (the PDF, the CBZ and the pages written out), and steered
//! from the terminal (`--feedback`: an edit, then Enter at each wait); the document
//! and each phase's preview written out.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{atelier, run_cli_with_input, serve, temp_dir};

fn story() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rashomon.txt")
}

#[tokio::test]
async fn the_cli_turns_a_story_into_a_book_with_and_without_feedback() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let server = serve("serve (manga)", &data, None, &[("ATELIER__PIPELINES__SWEEP_MS", "100")]);

    let out = dir.path().join("straight");
    let mut command = atelier(["manga"]);
    command.arg(story()).arg("-o").arg(&out).args(["--server", &server.base]).arg("--key-dir").arg(&data);
    let done = run_cli_with_input(command, None, Duration::from_secs(60)).await;
    assert!(done.status.success(), "manga exited {}: {}", done.status, String::from_utf8_lossy(&done.stderr));
    let document: Value =
        serde_json::from_slice(&std::fs::read(out.join("manga.json")).expect("manga.json")).expect("JSON");
    assert_eq!(document["concept"]["title"], "羅生門");
    assert!(document["pages"].as_array().is_some_and(|pages| !pages.is_empty()));
    for phase in 1..=7 {
        let svg = std::fs::read_to_string(out.join(format!("phase-{phase}.svg"))).expect("a preview per phase");
        assert!(svg.starts_with("<svg"), "phase {phase}");
    }
    let pdf = std::fs::read(out.join("manga.pdf")).expect("the book");
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(std::fs::read(out.join("manga.cbz")).expect("the comic archive").starts_with(b"PK"));
    let pages = document["lettering"]["pages"].as_array().map_or(0, Vec::len);
    assert!(pages > 0 && out.join(format!("page-{pages:03}.png")).exists(), "every page as a PNG");

    let steered = dir.path().join("steered");
    let mut command = atelier(["manga", "--feedback", "--last-phase", "2"]);
    command.arg(story()).arg("-o").arg(&steered).args(["--server", &server.base]).arg("--key-dir").arg(&data);
    let input = "e concept.title 雨の門\n\nsay make it a mystery\n\n";
    let done = run_cli_with_input(command, Some(input), Duration::from_secs(60)).await;
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "manga --feedback exited {}: {stderr}", done.status);
    assert!(stderr.contains("phase 1 (Concept and world) is ready"), "{stderr}");
    let document: Value =
        serde_json::from_slice(&std::fs::read(steered.join("manga.json")).expect("manga.json")).expect("JSON");
    assert_eq!(document["concept"]["title"], "雨の門", "the edit at the first wait");
    assert!(document["characters"].is_array() && document.get("plot").is_none(), "stopped after phase 2");
}
