//! The Khronos glTF validator, for tests in this crate and others (feature
//! `testing`): npm `gltf-validator`, run by `e2e/gltf-validate.mjs` from
//! `e2e/node_modules`, which `scripts/install-test-deps` installs.

use std::path::Path;
use std::process::Command;

/// The validator's report on a GLB (`errors`, `warnings`, `infos`, `triangles`,
/// `vertices`, `messages`). `None`, after a note, when node or the validator is
/// missing; under `ATELIER_TEST_REQUIRE_TOOLS=1` (as `scripts/test` runs) a missing
/// validator fails the test instead.
pub fn khronos_report(glb: &[u8]) -> Option<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e/gltf-validate.mjs");
    let file = std::env::temp_dir().join(format!("atelier-mesh-{}-{:x}.glb", std::process::id(), fingerprint(glb)));
    std::fs::write(&file, glb).expect("writing the GLB to validate");
    let output = Command::new("node").arg(&script).arg(&file).output();
    let _ = std::fs::remove_file(&file);
    match output {
        Ok(output) if !String::from_utf8_lossy(&output.stderr).contains("ERR_MODULE_NOT_FOUND") => {
            Some(serde_json::from_slice(&output.stdout).expect("the validator's report"))
        }
        other => {
            let note =
                format!("node with gltf-validator is missing (scripts/install-test-deps installs it): {other:?}");
            assert!(std::env::var("ATELIER_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"), "{note}");
            eprintln!("skipped: {note}");
            None
        }
    }
}

/// A name for the file that concurrent tests do not share.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3))
}
