//! The configuration file: any bytes as `atelier.toml`, through `Config::load` (TOML,
//! the layers, then validation). Errors are fine; a panic is not.
#![no_main]

use std::io::Write;

use atelier::config::{Config, FlagOverrides};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::Builder::new().suffix(".toml").tempfile() else { return };
    if file.write_all(data).is_err() {
        return;
    }
    if let Ok(config) = Config::load(Some(file.path()), &FlagOverrides::default()) {
        // What a loaded configuration is used for at start.
        let _ = config.listen_addr();
        let _ = config.storage_url();
        let _ = config.redacted();
    }
});
