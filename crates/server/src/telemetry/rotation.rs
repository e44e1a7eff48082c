//! Log files rotated by size (`[log] rotation = "size"`): tracing-appender rotates
//! by time only.
//!
//! Files are numbered, `<prefix>.000001.log`, `<prefix>.000002.log`, …; the
//! highest is the one written, so nothing is ever renamed. A write that would take
//! the file past the size starts the next one (a line is never split across
//! files; a single line larger than the size gets a file of its own), and files
//! beyond `keep` are deleted, oldest first. A restart appends to the highest.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A log file that starts a new one at `max_bytes` and keeps the last `keep`.
#[derive(Debug)]
pub struct RollingBySize {
    dir: PathBuf,
    prefix: String,
    max_bytes: u64,
    keep: usize,
    /// The number of the file being written.
    index: u64,
    file: File,
    /// Its size.
    written: u64,
}

const SUFFIX: &str = ".log";

impl RollingBySize {
    /// Opens the highest-numbered file under `dir` with `prefix` (the first when
    /// there is none) to append to it.
    pub fn open(dir: &Path, prefix: &str, max_bytes: u64, keep: usize) -> io::Result<Self> {
        let index = numbered(dir, prefix)?.last().map_or(1, |(index, _)| *index);
        let file = append(&path(dir, prefix, index))?;
        let written = file.metadata()?.len();
        let mut writer = Self {
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            index,
            file,
            written,
        };
        writer.delete_old()?;
        Ok(writer)
    }

    /// The file being written.
    pub fn current_path(&self) -> PathBuf {
        path(&self.dir, &self.prefix, self.index)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.index += 1;
        self.file = append(&self.current_path())?;
        self.written = 0;
        self.delete_old()
    }

    /// Deletes all but the last `keep` files.
    fn delete_old(&mut self) -> io::Result<()> {
        let files = numbered(&self.dir, &self.prefix)?;
        let excess = files.len().saturating_sub(self.keep);
        for (_, path) in files.into_iter().take(excess) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                // Deleted by someone else meanwhile: what was wanted.
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

impl Write for RollingBySize {
    /// The non-blocking writer hands over one formatted event (a whole line) a call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written.saturating_add(buf.len() as u64) > self.max_bytes {
            self.rotate()?;
        }
        let written = self.file.write(buf)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn path(dir: &Path, prefix: &str, index: u64) -> PathBuf {
    dir.join(format!("{prefix}.{index:06}{SUFFIX}"))
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The numbered files of `prefix` in `dir`, lowest number first.
fn numbered(dir: &Path, prefix: &str) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let number = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.strip_suffix(SUFFIX))
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok());
        if let Some(number) = number {
            files.push((number, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (entry.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(entry.path()).unwrap())
            })
            .collect();
        found.sort();
        found
    }

    /// Ten-byte lines, `line 000\n`, …
    fn line(number: u32) -> String {
        format!("line {number:03}\n")
    }

    #[test]
    fn rotates_at_the_size_and_keeps_the_last_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RollingBySize::open(dir.path(), "atelier-serve", 35, 3).unwrap();
        for number in 0..20 {
            writer.write_all(line(number).as_bytes()).unwrap();
        }
        writer.flush().unwrap();
        // Three lines (30 bytes) a file: a fourth would pass 35. Twenty lines fill
        // files 1 to 7; the last three are kept.
        let found = files(dir.path());
        let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["atelier-serve.000005.log", "atelier-serve.000006.log", "atelier-serve.000007.log"]);
        assert_eq!(found[0].1, format!("{}{}{}", line(12), line(13), line(14)));
        assert_eq!(found[2].1, format!("{}{}", line(18), line(19)));
        assert!(found.iter().all(|(_, text)| text.len() <= 35));
        assert_eq!(writer.current_path(), dir.path().join("atelier-serve.000007.log"));
    }

    #[test]
    fn a_restart_appends_to_the_last_file_and_applies_keep() {
        let dir = tempfile::tempdir().unwrap();
        for number in 1..=4 {
            std::fs::write(dir.path().join(format!("atelier-worker.{number:06}.log")), line(number)).unwrap();
        }
        // Not the writer's: another prefix, another suffix, no number.
        for other in ["atelier-serve.000009.log", "atelier-worker.000002.log.gz", "atelier-worker.log", "notes.txt"] {
            std::fs::write(dir.path().join(other), "x").unwrap();
        }
        let mut writer = RollingBySize::open(dir.path(), "atelier-worker", 1000, 2).unwrap();
        writer.write_all(line(5).as_bytes()).unwrap();
        let found = files(dir.path());
        let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "atelier-serve.000009.log",
                "atelier-worker.000002.log.gz",
                "atelier-worker.000003.log",
                "atelier-worker.000004.log",
                "atelier-worker.log",
                "notes.txt",
            ]
        );
        assert_eq!(found[3].1, format!("{}{}", line(4), line(5)));
    }

    #[test]
    fn a_line_larger_than_the_size_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RollingBySize::open(dir.path(), "atelier", 8, 5).unwrap();
        writer.write_all(b"short\n").unwrap();
        writer.write_all(b"a much longer line\n").unwrap();
        writer.write_all(b"tail\n").unwrap();
        let found = files(dir.path());
        let texts: Vec<&str> = found.iter().map(|(_, text)| text.as_str()).collect();
        assert_eq!(texts, ["short\n", "a much longer line\n", "tail\n"]);
    }
}
