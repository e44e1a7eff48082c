//! `atelier backup` and `atelier restore`: a SQLite data dir copied whole and
//! consistent while the server runs, and brought back into an empty data dir.
//!
//! A backup is a directory (plain files: `sha256sum -c`, rsync, restic and tar all
//! read it as it is):
//!
//! ```text
//! manifest.json   what it is: versions, time, counts, sizes, the database's SHA-256
//! atelier.db      the database, a consistent snapshot (`VACUUM INTO`)
//! files/…         the file store: blobs/<2 hex>/<sha256>.<ext>, thumbs/…
//! secret.key      the server key (sealed TOTP secrets, signed links), and cli-key,
//! cli-key         when the data dir holds them: keep the backup private
//! files.sha256    every file above but the database and the manifest, as
//!                 `sha256sum` writes it (`cd BACKUP && sha256sum -c files.sha256`)
//! ```
//!
//! It is written under a temporary name beside `OUT` and renamed into place last,
//! so a backup that stopped half-way never looks like one.
//!
//! **What is consistent.** The database is one read transaction, so its rows are
//! as committed at one instant, while the server goes on writing (WAL mode). Files
//! are named by their content and never change, and a file is written before the
//! row naming it commits: so every file the snapshot names existed when it was
//! taken. The files are copied after it. One race is left, a file deleted (its task
//! or upload deleted) between the snapshot and its copy: every key the snapshot
//! names is checked in the copy, and when one is missing the snapshot is taken again
//! (the copied files are kept; at most three times). Files written after the
//! snapshot are copied too and name nothing in the restored database.
//!
//! PostgreSQL and S3 are refused with a pointer to their own tools: `pg_dump` and
//! the bucket's versioning (the README's Backups section).

use std::fs::{self, File};
use std::io::{BufRead as _, BufReader, BufWriter, Read as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use atelier_db::backup::{Snapshot, SnapshotFacts, latest_schema_version};
use atelier_db::{Backend, Database, DatabaseOptions};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::output::Output;
use crate::config::{Config, FlagOverrides};

/// What `manifest.json` says it is.
const FORMAT: &str = "atelier-backup";
const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const DATABASE: &str = "atelier.db";
const FILES: &str = "files";
const LIST: &str = "files.sha256";
/// The data dir's own files a server needs beside its database (`config/auth.rs`).
const SECRETS: [&str; 2] = ["secret.key", "cli-key"];
/// Snapshots taken at most, when files the snapshot names were deleted meanwhile.
const SNAPSHOT_TRIES: u32 = 3;
/// The file store's folders that hold nothing to keep: streams being staged and
/// the health probe's writes.
const SKIPPED: [&str; 2] = ["staging", "health"];

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where the backup goes: a directory that does not exist yet (or is empty).
    pub out: PathBuf,
    /// The server's data dir (its database, files and keys).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The server's config file, when it uses one.
    #[arg(long, env = "ATELIER_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory `atelier backup` wrote.
    pub backup: PathBuf,
    /// The data dir to restore into: it must be empty or not exist yet.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A config file, when the restored server will use one.
    #[arg(long, env = "ATELIER_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The Atelier that wrote it.
    pub atelier_version: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub database: DatabaseEntry,
    pub files: FilesEntry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseEntry {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    /// Its last migration: a newer Atelier restores it and migrates it on.
    pub schema_version: i64,
    pub tasks: u64,
    pub assets: u64,
    pub uploads: u64,
    /// How many snapshots were taken (more than one when files it named were
    /// deleted while they were being copied).
    pub snapshots: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FilesEntry {
    /// `files.sha256`: every file but the database and the manifest.
    pub list: String,
    pub list_sha256: String,
    pub count: u64,
    pub bytes: u64,
    /// Keys the database names that the file store did not have (lost before the
    /// backup): their outputs will not open after a restore either.
    #[serde(default)]
    pub missing: Vec<String>,
}

/// Where a SQLite data dir keeps things, from its configuration.
struct Layout {
    data_dir: PathBuf,
    database: PathBuf,
    files: PathBuf,
}

impl Layout {
    /// SQLite and a local directory only; PostgreSQL and S3 have their own tools.
    fn of(config: &Config) -> anyhow::Result<Self> {
        let url = config.database_url();
        if Backend::from_url(&url) != Some(Backend::Sqlite) {
            bail!(
                "this server's database is PostgreSQL: back it up with pg_dump and restore it with pg_restore \
                 (the README's Backups section has the recipe); atelier backup copies SQLite data dirs"
            );
        }
        let storage = config.storage_url()?;
        let files = match url::Url::parse(&storage) {
            Ok(parsed) if parsed.scheme() == "file" => {
                parsed.to_file_path().map_err(|()| anyhow::anyhow!("storage.url {storage} is not a local path"))?
            }
            _ => bail!(
                "this server's files are in {} (not a local directory): keep them with the bucket's own versioning \
                 (the README's Backups section); atelier backup copies local data dirs",
                atelier_db::redact_url(&storage)
            ),
        };
        Ok(Self {
            data_dir: std::path::absolute(&config.data.dir).context("resolving the data dir")?,
            database: std::path::absolute(sqlite_path(&url)?).context("resolving the database path")?,
            files: std::path::absolute(files).context("resolving the files directory")?,
        })
    }
}

/// The file of a `sqlite://PATH?…` (or `sqlite:PATH`) URL.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        bail!("database.url {url} names no file");
    }
    Ok(PathBuf::from(path))
}

fn load(config: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<Config> {
    let flags = FlagOverrides { data_dir: data_dir.map(Path::to_path_buf), ..FlagOverrides::default() };
    Config::load(config, &flags)
}

/// Counts and sizes of what was copied.
#[derive(Debug, Default, Clone, Copy)]
struct Copied {
    count: u64,
    bytes: u64,
}

pub async fn backup(args: BackupArgs, output: Output) -> anyhow::Result<ExitCode> {
    let config = load(args.config.as_deref(), args.data_dir.as_deref())?;
    let layout = Layout::of(&config)?;
    if !layout.database.is_file() {
        bail!(
            "no SQLite database at {}: is {} the server's data dir?",
            layout.database.display(),
            layout.data_dir.display()
        );
    }
    let out = std::path::absolute(&args.out).context("resolving the backup's path")?;
    if out.starts_with(&layout.data_dir) || out.starts_with(&layout.files) {
        bail!("the backup {} must not be inside the data dir {}", out.display(), layout.data_dir.display());
    }
    refuse_non_empty(&out, "write the backup into")?;
    let staging = beside(&out, "partial")?;
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    // It holds the server key and the CLI's key: its owner's only.
    #[cfg(unix)]
    fs::set_permissions(&staging, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .with_context(|| format!("restricting {}", staging.display()))?;
    let written = write_backup(&config, &layout, &staging).await;
    let manifest = match written {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    place(&staging, &out)?;
    for key in &manifest.files.missing {
        eprintln!("warning: the database names {key}, which the file store did not have");
    }
    let summary = json!({ "backup": out.display().to_string(), "manifest": manifest });
    output.print(&summary, |_| {
        format!(
            "backed up {} tasks and {} files ({} bytes, database {} bytes) to {}",
            manifest.database.tasks,
            manifest.files.count,
            manifest.files.bytes,
            manifest.database.bytes,
            out.display()
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// The snapshot, then the files, then the check that every file it names was
/// copied (a new snapshot when one was deleted meanwhile), then the manifest.
async fn write_backup(config: &Config, layout: &Layout, staging: &Path) -> anyhow::Result<Manifest> {
    let url = config.database_url();
    let options = DatabaseOptions { max_connections: 2, ..DatabaseOptions::default() };
    let database = Database::connect(&url, &options)
        .await
        .with_context(|| format!("opening the database {}", atelier_db::redact_url(&url)))?;
    let snapshot_path = staging.join(DATABASE);
    let list_path = staging.join(LIST);
    let mut list = BufWriter::new(File::create(&list_path).with_context(|| format!("creating {LIST}"))?);
    let mut copied = Copied::default();
    for name in SECRETS {
        let source = layout.data_dir.join(name);
        if source.is_file() {
            let (bytes, sha256) = copy_hashed(&source, &staging.join(name), true)?;
            writeln!(list, "{sha256}  {name}")?;
            copied.count += 1;
            copied.bytes += bytes;
        }
    }
    let mut snapshots = 0;
    let (facts, missing) = loop {
        snapshots += 1;
        if snapshot_path.exists() {
            fs::remove_file(&snapshot_path).context("removing the previous snapshot")?;
        }
        database.snapshot_to(&snapshot_path).await.context("writing the database snapshot")?;
        let (files, target) = (layout.files.clone(), staging.join(FILES));
        let (more, back) = tokio::task::spawn_blocking(move || {
            let mut list = list;
            let copied = copy_tree(&files, &target, &mut list, Path::new(""));
            (copied, list)
        })
        .await
        .context("the copying thread failed")?;
        list = back;
        let more = more?;
        copied.count += more.count;
        copied.bytes += more.bytes;
        let snapshot = Snapshot::open(&snapshot_path).await?;
        let mut missing = Vec::new();
        let target = staging.join(FILES);
        snapshot
            .each_file_key(|key| {
                if !safe_relative(key).is_some_and(|relative| target.join(relative).is_file()) {
                    missing.push(key.to_owned());
                }
            })
            .await?;
        let facts = snapshot.facts().await?;
        snapshot.close().await;
        if missing.is_empty() || snapshots >= SNAPSHOT_TRIES {
            break (facts, missing);
        }
        tracing::info!(missing = missing.len(), "files the snapshot names were deleted meanwhile; snapshotting again");
    };
    database.close().await;
    let list = list.into_inner().map_err(|error| error.into_error()).context("writing the file list")?;
    list.sync_all().context("writing the file list")?;
    drop(list);
    let (database_bytes, database_sha256) = hash_file(&snapshot_path)?;
    File::open(&snapshot_path).and_then(|file| file.sync_all()).context("syncing the snapshot")?;
    let (_, list_sha256) = hash_file(&list_path)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        atelier_version: env!("CARGO_PKG_VERSION").into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        database: database_entry(facts, database_bytes, database_sha256, snapshots),
        files: FilesEntry { list: LIST.into(), list_sha256, count: copied.count, bytes: copied.bytes, missing },
    };
    let text = serde_json::to_string_pretty(&manifest)?;
    let mut file = File::create(staging.join(MANIFEST)).context("writing the manifest")?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).context("writing the manifest")?;
    Ok(manifest)
}

fn database_entry(facts: SnapshotFacts, bytes: u64, sha256: String, snapshots: u32) -> DatabaseEntry {
    DatabaseEntry {
        file: DATABASE.into(),
        bytes,
        sha256,
        schema_version: facts.schema_version,
        tasks: facts.tasks,
        assets: facts.assets,
        uploads: facts.uploads,
        snapshots,
    }
}

/// Copies every file under `source` into `target` that is not there yet (so a
/// second pass after a new snapshot copies only what is new), listing each in
/// `list` as `files/<path>`. Files that vanish while being walked (deleted) are
/// skipped: the check against the snapshot finds whether they were needed.
fn copy_tree(source: &Path, target: &Path, list: &mut impl std::io::Write, relative: &Path) -> anyhow::Result<Copied> {
    let mut copied = Copied::default();
    let entries = match fs::read_dir(source) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(copied),
        Err(error) => return Err(error).with_context(|| format!("reading {}", source.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", source.display()))?;
        let name = entry.file_name();
        let Some(text) = name.to_str() else {
            tracing::warn!(path = %entry.path().display(), "skipping a file whose name is not UTF-8");
            continue;
        };
        // object_store's local files are written as `<name>#<n>` and renamed.
        if text.contains('#') || (relative.as_os_str().is_empty() && SKIPPED.contains(&text)) {
            continue;
        }
        let kind = match entry.file_type() {
            Ok(kind) => kind,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error).with_context(|| format!("reading {}", entry.path().display())),
        };
        let (from, to, path) = (entry.path(), target.join(&name), relative.join(&name));
        if kind.is_dir() {
            let more = copy_tree(&from, &to, list, &path)?;
            copied.count += more.count;
            copied.bytes += more.bytes;
        } else if kind.is_file() && !to.exists() {
            fs::create_dir_all(target).with_context(|| format!("creating {}", target.display()))?;
            match copy_hashed(&from, &to, false) {
                Ok((bytes, sha256)) => {
                    writeln!(list, "{sha256}  {FILES}/{}", path.display())?;
                    copied.count += 1;
                    copied.bytes += bytes;
                }
                Err(error) if is_not_found(&error) => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(copied)
}

fn is_not_found(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound))
}

/// Copies a file while hashing it, and syncs the copy: its size and SHA-256.
fn copy_hashed(from: &Path, to: &Path, private: bool) -> anyhow::Result<(u64, String)> {
    let mut source = File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut target = options.open(to).with_context(|| format!("writing {}", to.display()))?;
    let (mut hasher, mut bytes, mut buffer) = (Sha256::new(), 0u64, vec![0u8; 256 * 1024]);
    loop {
        let read = source.read(&mut buffer).with_context(|| format!("reading {}", from.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        target.write_all(&buffer[..read]).with_context(|| format!("writing {}", to.display()))?;
        bytes += read as u64;
    }
    target.sync_all().with_context(|| format!("writing {}", to.display()))?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut hasher, mut bytes, mut buffer) = (Sha256::new(), 0u64, vec![0u8; 256 * 1024]);
    loop {
        let read = file.read(&mut buffer).with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            return Ok((bytes, hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
}

/// A relative path of plain names only (no `..`, no root): what a backup's list
/// and a database's keys may name.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let path = Path::new(path);
    (!path.as_os_str().is_empty() && path.components().all(|part| matches!(part, Component::Normal(_))))
        .then(|| path.to_path_buf())
}

/// Fails unless `path` is missing or an empty directory.
fn refuse_non_empty(path: &Path, what: &str) -> anyhow::Result<()> {
    match fs::read_dir(path) {
        Ok(mut entries) => {
            if let Some(entry) = entries.next() {
                let name = entry.map(|entry| entry.file_name().to_string_lossy().into_owned()).unwrap_or_default();
                bail!(
                    "refusing to {what} {}: it is not empty (it holds {name}, and maybe more); \
                     name a new or empty directory",
                    path.display()
                );
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            bail!("refusing to {what} {}: it is a file", path.display())
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// A temporary name beside `path`, in the same directory (so the last rename does
/// not cross file systems), whose parent exists.
fn beside(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let name = path.file_name().with_context(|| format!("{} names no directory", path.display()))?;
    let parent = path.parent().with_context(|| format!("{} has no parent directory", path.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    Ok(parent.join(format!(".{}.{what}-{}", name.to_string_lossy(), std::process::id())))
}

/// Renames the finished `staging` directory to `target` (missing, or empty: a
/// rename replaces an empty directory).
fn place(staging: &Path, target: &Path) -> anyhow::Result<()> {
    if let Err(error) = fs::rename(staging, target) {
        let _ = fs::remove_dir_all(staging);
        return Err(error).with_context(|| format!("moving the finished copy to {}", target.display()));
    }
    if let Some(parent) = target.parent() {
        // The rename is durable once the parent directory is.
        let _ = File::open(parent).and_then(|dir| dir.sync_all());
    }
    Ok(())
}

pub async fn restore(args: RestoreArgs, output: Output) -> anyhow::Result<ExitCode> {
    let manifest = read_manifest(&args.backup)?;
    let known = latest_schema_version();
    if manifest.database.schema_version > known {
        bail!(
            "the backup was made by a newer Atelier ({}, database schema {}); this one knows schema {known}: \
             restore it with that version or a newer one",
            manifest.atelier_version,
            manifest.database.schema_version
        );
    }
    let config = load(args.config.as_deref(), args.data_dir.as_deref())?;
    let layout = Layout::of(&config)?;
    let (Ok(database), Ok(files)) =
        (layout.database.strip_prefix(&layout.data_dir), layout.files.strip_prefix(&layout.data_dir))
    else {
        bail!(
            "restore writes the database and the files inside the data dir {}; this configuration keeps them \
             elsewhere ({} and {}): restore with the default database.url and storage.url, then move them",
            layout.data_dir.display(),
            layout.database.display(),
            layout.files.display()
        );
    };
    refuse_non_empty(&layout.data_dir, "restore into")?;
    let staging = beside(&layout.data_dir, "restoring")?;
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let restored = restore_into(&args.backup, &manifest, &staging, database, files).await;
    let (copied, facts) = match restored {
        Ok(restored) => restored,
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    place(&staging, &layout.data_dir)?;
    let summary = json!({
        "data_dir": layout.data_dir.display().to_string(),
        "tasks": facts.tasks,
        "assets": facts.assets,
        "uploads": facts.uploads,
        "files": copied.count,
        "bytes": copied.bytes,
        "schema_version": { "backup": manifest.database.schema_version, "restored": facts.schema_version },
        "backup_created_at": manifest.created_at,
    });
    output.print(&summary, |_| {
        let migrated = if facts.schema_version > manifest.database.schema_version {
            format!(" (database schema {} migrated to {})", manifest.database.schema_version, facts.schema_version)
        } else {
            String::new()
        };
        format!(
            "restored {} tasks and {} files ({} bytes) from the backup of {} into {}{migrated}",
            facts.tasks,
            copied.count,
            copied.bytes,
            manifest.created_at,
            layout.data_dir.display()
        )
    });
    Ok(ExitCode::SUCCESS)
}

fn read_manifest(backup: &Path) -> anyhow::Result<Manifest> {
    let path = backup.join(MANIFEST);
    let text = fs::read_to_string(&path).with_context(|| {
        format!("{} is not a backup: it has no readable {MANIFEST} (atelier backup writes one last)", backup.display())
    })?;
    let manifest: Manifest =
        serde_json::from_str(&text).with_context(|| format!("{} is not an Atelier backup manifest", path.display()))?;
    if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
        bail!(
            "{} is a {} version {} manifest; this Atelier reads {FORMAT} version {FORMAT_VERSION}",
            path.display(),
            manifest.format,
            manifest.format_version
        );
    }
    Ok(manifest)
}

/// Copies and checks everything into `staging` (laid out as a data dir), then
/// migrates the database and reads it back: the restored facts.
async fn restore_into(
    backup: &Path,
    manifest: &Manifest,
    staging: &Path,
    database: &Path,
    files: &Path,
) -> anyhow::Result<(Copied, SnapshotFacts)> {
    let damaged = |what: &str| {
        anyhow::anyhow!(
            "the backup {} is damaged or was changed: {what} does not match its checksum in {MANIFEST}; \
             nothing was restored",
            backup.display()
        )
    };
    let database_path = staging.join(database);
    if let Some(parent) = database_path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let (_, sha256) = copy_hashed(&backup.join(&manifest.database.file), &database_path, false)?;
    if sha256 != manifest.database.sha256 {
        return Err(damaged(&manifest.database.file));
    }
    let list_path = backup.join(&manifest.files.list);
    let (_, list_sha256) = hash_file(&list_path)?;
    if list_sha256 != manifest.files.list_sha256 {
        return Err(damaged(&manifest.files.list));
    }
    let (backup_dir, staging_dir, files_dir) = (backup.to_path_buf(), staging.to_path_buf(), files.to_path_buf());
    let copied = tokio::task::spawn_blocking(move || copy_listed(&backup_dir, &list_path, &staging_dir, &files_dir))
        .await
        .context("the copying thread failed")??;
    if let Some(mismatch) = copied.1 {
        return Err(damaged(&mismatch));
    }
    let copied = copied.0;
    if copied.count != manifest.files.count || copied.bytes != manifest.files.bytes {
        bail!(
            "the backup {} lists {} files ({} bytes) but its manifest says {} ({} bytes); nothing was restored",
            backup.display(),
            copied.count,
            copied.bytes,
            manifest.files.count,
            manifest.files.bytes
        );
    }
    // Migrated on: a backup of an older Atelier opens in this one.
    let url = format!("sqlite://{}?mode=rw", database_path.display());
    let restored = Database::connect(&url, &DatabaseOptions { max_connections: 1, ..DatabaseOptions::default() })
        .await
        .context("opening the restored database")?;
    let migrated = restored.migrate().await.context("migrating the restored database");
    restored.close().await;
    migrated?;
    let snapshot = Snapshot::open(&database_path).await?;
    let facts = snapshot.facts().await;
    snapshot.close().await;
    let facts = facts?;
    if facts.tasks != manifest.database.tasks {
        bail!(
            "the restored database holds {} tasks, the manifest says {}; nothing was restored",
            facts.tasks,
            manifest.database.tasks
        );
    }
    Ok((copied, facts))
}

/// Copies every file the list names, checking each against its SHA-256: the counts,
/// and the first file that did not match (`None`: all did).
fn copy_listed(backup: &Path, list: &Path, staging: &Path, files: &Path) -> anyhow::Result<(Copied, Option<String>)> {
    let reader = BufReader::new(File::open(list).with_context(|| format!("reading {}", list.display()))?);
    let mut copied = Copied::default();
    for line in reader.lines() {
        let line = line.with_context(|| format!("reading {}", list.display()))?;
        if line.is_empty() {
            continue;
        }
        let Some((sha256, name)) = line.split_once("  ") else {
            bail!("{} has a line that is not `<sha256>  <path>`: {line:?}", list.display());
        };
        let Some(relative) = safe_relative(name) else {
            bail!("{} names a path outside the backup: {name:?}", list.display());
        };
        let target = match relative.strip_prefix(FILES) {
            Ok(rest) if !rest.as_os_str().is_empty() => staging.join(files).join(rest),
            _ if SECRETS.contains(&name) => staging.join(name),
            _ => bail!("{} names {name:?}, which is neither a secret nor under {FILES}/", list.display()),
        };
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let (bytes, actual) = copy_hashed(&backup.join(&relative), &target, SECRETS.contains(&name))?;
        if actual != sha256 {
            return Ok((copied, Some(name.to_owned())));
        }
        copied.count += 1;
        copied.bytes += bytes;
    }
    Ok((copied, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_safe() {
        assert_eq!(safe_relative("files/blobs/ab/x.png"), Some(PathBuf::from("files/blobs/ab/x.png")));
        for bad in ["", "/etc/passwd", "../x", "files/../../x", "./x"] {
            assert_eq!(safe_relative(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_sqlite_path_is_read_from_its_url() {
        assert_eq!(sqlite_path("sqlite://./d/atelier.db?mode=rwc").expect("a path"), PathBuf::from("./d/atelier.db"));
        assert_eq!(sqlite_path("sqlite:///abs/a.db").expect("a path"), PathBuf::from("/abs/a.db"));
        assert!(sqlite_path("sqlite://:memory:").is_err());
    }

    #[test]
    fn postgres_and_s3_are_pointed_to_their_own_tools() {
        let mut config = Config::default();
        config.database.url = "postgres://u@localhost/atelier".into();
        let refused = Layout::of(&config).err().expect("refused").to_string();
        assert!(refused.contains("pg_dump") && refused.contains("README"), "{refused}");
        let mut config = Config::default();
        config.storage.url = "s3://bucket/prefix".into();
        let refused = Layout::of(&config).err().expect("refused").to_string();
        assert!(refused.contains("versioning") && refused.contains("README"), "{refused}");
    }

    #[test]
    fn a_non_empty_directory_is_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        refuse_non_empty(&dir.path().join("new"), "restore into").expect("a missing directory is fine");
        refuse_non_empty(dir.path(), "restore into").expect("an empty directory is fine");
        fs::write(dir.path().join("atelier.db"), b"x").expect("write");
        let refused = refuse_non_empty(dir.path(), "restore into").expect_err("refused").to_string();
        assert!(refused.contains("not empty") && refused.contains("atelier.db"), "{refused}");
    }
}
