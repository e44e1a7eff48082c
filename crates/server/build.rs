//! Rebuilds the binary when anything under `studio/` changes, added files
//! included: `rust-embed` embeds that folder at compile time, and cargo alone
//! tracks only the files that were there at the last build.

fn main() {
    println!("cargo:rerun-if-changed=studio");
}
