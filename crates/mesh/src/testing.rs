//! Independent checkers of meshes, for tests in this crate and others (feature
//! `testing`): the Khronos glTF validator (npm `gltf-validator`, run by
//! `e2e/gltf-validate.mjs` from `e2e/node_modules`), assimp (`assimp info`, Debian's
//! assimp-utils) and trimesh (in the tests' venv, `scripts/python-venv`), all
//! installed by `scripts/install-test-deps`. Each answers `None`, after a note, when
//! its tool is missing, and fails the test instead under `ATELIER_TEST_REQUIRE_TOOLS=1`
//! (as `scripts/test` runs).

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

/// A file holding `bytes`, named `name`, in a scratch directory of its own (removed
/// when the directory is dropped).
fn staged(bytes: &[u8], name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("writing the mesh to check");
    (dir, path)
}

fn missing(tool: &str, detail: &str) -> Option<serde_json::Value> {
    let note = format!("{tool} is missing (scripts/install-test-deps installs it): {detail}");
    assert!(std::env::var("ATELIER_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"), "{note}");
    eprintln!("skipped: {note}");
    None
}

/// What assimp's importer makes of a mesh file (`name` gives its format by its
/// extension: `model.glb`, `model.obj`, `model.stl`): `{"faces", "vertices",
/// "meshes"}` as `assimp info` counts them. A file it cannot import fails the test.
/// An OBJ zip is unpacked first (assimp then reads the OBJ with its material).
pub fn assimp_report(bytes: &[u8], name: &str) -> Option<serde_json::Value> {
    let (dir, mut path) = staged(bytes, name);
    if name.ends_with(".zip") {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("the OBJ zip");
        archive.extract(dir.path()).expect("unpacking the OBJ zip");
        path = dir.path().join("model.obj");
    }
    let output = match Command::new("assimp").arg("info").arg(&path).output() {
        Ok(output) => output,
        Err(error) => return missing("assimp", &error.to_string()),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "assimp could not import {name}: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let count = |label: &str| {
        text.lines().find_map(|line| line.trim().strip_prefix(label).and_then(|rest| rest.trim().parse::<u64>().ok()))
    };
    Some(serde_json::json!({ "faces": count("Faces:"), "vertices": count("Vertices:"), "meshes": count("Meshes:") }))
}

/// What trimesh makes of a mesh file (`name` as for [`assimp_report`]; an OBJ zip
/// is read whole): `{"faces", "vertices", "watertight", "winding_consistent",
/// "textured"}`, by `crates/mesh/tests/mesh_check.py`.
pub fn trimesh_report(bytes: &[u8], name: &str) -> Option<serde_json::Value> {
    let python = std::env::var("ATELIER_WORKER_VENV")
        .map(std::path::PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|home| Path::new(&home).join(".cache/atelier/worker-venv")))
        .map(|venv| venv.join("bin/python"))
        .unwrap_or_default();
    if !python.exists() {
        return missing("the tests' Python venv with trimesh", &python.display().to_string());
    }
    let (_dir, path) = staged(bytes, name);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mesh_check.py");
    let output = Command::new(&python).arg(&script).arg(&path).output().expect("running the tests' Python");
    assert!(output.status.success(), "trimesh could not load {name}: {}", String::from_utf8_lossy(&output.stderr));
    Some(serde_json::from_slice(&output.stdout).expect("mesh_check.py's report"))
}

/// A name for the file that concurrent tests do not share.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3))
}
