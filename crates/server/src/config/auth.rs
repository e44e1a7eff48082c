//! `[auth]`: the server key that seals secrets at rest, sessions, and the files of
//! the first run.

use std::path::{Path, PathBuf};

use anyhow::Context;
use atelier_core::account::secrets::SecretBox;
use serde::{Deserialize, Serialize};

use atelier_core::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// 32 bytes, base64: seals TOTP secrets at rest. Empty: `<data dir>/secret.key`,
    /// made on first start (owner-only permissions).
    pub secret_key: Secret,
    pub secret_key_file: Option<PathBuf>,
    /// How long a browser session lasts.
    pub session_ttl_secs: u64,
    /// Mark the session cookie `Secure` (set it when Atelier is served over HTTPS).
    pub cookie_secure: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { secret_key: Secret::default(), secret_key_file: None, session_ttl_secs: 12 * 3600, cookie_secure: false }
    }
}

/// The file holding the local CLI's key, in the data dir.
pub fn cli_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("cli-key")
}

/// Writes a file only its owner may read.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

impl AuthConfig {
    /// The server key: configured, from its file, or the data dir's (made once).
    pub fn secret_box(&self, data_dir: &Path) -> anyhow::Result<SecretBox> {
        let text = self.secret_key_text(data_dir)?;
        SecretBox::from_base64(&text).map_err(|error| anyhow::anyhow!("auth.secret_key: {error}"))
    }

    /// The server's secret as configured (the file, the value, or a key made once
    /// in the data directory).
    pub fn secret_key_text(&self, data_dir: &Path) -> anyhow::Result<String> {
        let text = if let Some(path) = &self.secret_key_file {
            std::fs::read_to_string(path).with_context(|| format!("reading auth.secret_key_file {}", path.display()))?
        } else if !self.secret_key.is_empty() {
            self.secret_key.expose().to_owned()
        } else {
            let path = data_dir.join("secret.key");
            if !path.exists() {
                write_private(&path, &SecretBox::generate_key())?;
            }
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
        };
        Ok(text.trim().to_owned())
    }
}
