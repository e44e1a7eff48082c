//! Rebuilds the binary when anything under `studio/` changes, added files
//! included: `rust-embed` embeds that folder at compile time, and cargo alone
//! tracks only the files that were there at the last build.
//!
//! Also sets `ATELIER_GIT_REVISION` for `atelier --version`: the variable of that
//! name when the build is given one (a Docker build, whose context has no `.git`,
//! passes it as a build argument), else `git rev-parse --short=12 HEAD` of this
//! workspace, else `unknown`. The script runs again only when HEAD moves (the files
//! `.git/HEAD` and the branch's ref), not on every build.

use std::path::{Path, PathBuf};
use std::process::Command;

const VARIABLE: &str = "ATELIER_GIT_REVISION";

fn main() {
    println!("cargo:rerun-if-changed=studio");
    println!("cargo:rerun-if-env-changed={VARIABLE}");
    let given = std::env::var(VARIABLE).ok().map(|value| value.trim().to_owned()).filter(|value| !value.is_empty());
    let revision = match given {
        Some(revision) => revision,
        None => from_git().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env={VARIABLE}={revision}");
}

/// HEAD's short hash, when this crate sits in a git work tree of its own workspace
/// (not in some other repository that happens to hold a copy of it), with the
/// files to watch for HEAD moving.
fn from_git() -> Option<String> {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let workspace = manifest.parent()?.parent()?.canonicalize().ok()?;
    let top = git(&manifest, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != workspace {
        return None;
    }
    // HEAD names the branch; the branch's ref is a loose file or a line of
    // packed-refs (watched through its folder, where a new loose ref appears).
    watch(&manifest, "HEAD");
    if let Some(branch) = git(&manifest, &["symbolic-ref", "-q", "HEAD"]) {
        if !watch(&manifest, &branch)
            && let Some((folder, _)) = branch.rsplit_once('/')
        {
            watch(&manifest, folder);
        }
        watch(&manifest, "packed-refs");
    }
    git(&manifest, &["rev-parse", "--short=12", "HEAD"])
}

/// Emits `rerun-if-changed` for a path inside the git directory when it exists (a
/// missing path would make cargo run the script on every build).
fn watch(dir: &Path, name: &str) -> bool {
    let Some(path) = git(dir, &["rev-parse", "--path-format=absolute", "--git-path", name]) else { return false };
    if !Path::new(&path).exists() {
        return false;
    }
    println!("cargo:rerun-if-changed={path}");
    true
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).current_dir(dir).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}
