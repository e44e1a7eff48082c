//! ffmpeg and ffprobe as the engines run them (the slideshow's encoder, speech's
//! transcoding): found on `PATH` once, run over staged files and/or stdin under a
//! deadline, and their failures told in the engines' terms.
//!
//! Why a kit of its own rather than `Command` at each call site: every run must
//! keep the same rules, and each is easy to forget.
//! - User bytes never make ffmpeg open anything but the file we staged: every input
//!   gets `-protocol_whitelist file,pipe` (no `http`, `tcp`, `concat`, `subfile`…),
//!   and an input from a user names the demuxers it may be read with
//!   (`-format_whitelist`), so a "soundtrack" that is really an HLS playlist or a
//!   concat script naming `/etc/passwd` is refused instead of followed.
//! - Staged paths go in as `file:/tmp/…`, so a name is never read as an option or a
//!   protocol.
//! - ffmpeg never reads the terminal (`-nostdin`: stdin is ours, for `pipe:0`), prints
//!   no banner, and logs errors only, so the tail of its stderr is the reason it
//!   failed and fits in an error message.
//! - A run has a deadline: a watchdog kills the child when it passes (which also
//!   unblocks a writer stuck on a full stdin), and dropping a [`Running`] kills and
//!   reaps it, so an abandoned task leaves no ffmpeg behind.
//!
//! Missing tools are told two ways: [`engine_unavailable`] is the `503
//! engine_unavailable` a task's validation answers (so creating the task fails at
//! once, naming the Debian package to install), and [`FfmpegError::Missing`] is the
//! run-time error, which becomes a [`ProviderError`].

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use atelier_core::CoreError;
use atelier_core::ports::{ErrorClass, ProviderError};

/// The Debian package that has both tools (and libx264, AAC, LAME, Vorbis, Opus, FLAC).
pub const PACKAGE: &str = "ffmpeg";
/// How to install it, as the errors say.
pub const INSTALL: &str = "apt-get install ffmpeg";
/// The `Retry-After` of [`engine_unavailable`]: installing a package is an
/// administrator's work, so asking again within seconds would not help.
pub const RETRY_AFTER: Duration = Duration::from_secs(600);
/// The demuxers an audio file from a user may be read with: WAV, MP3, Ogg (Vorbis,
/// Opus), FLAC, ADTS AAC, MP4/M4A/MOV, Matroska/WebM, AIFF, CAF, Wave64.
pub const AUDIO_DEMUXERS: &str = "wav,mp3,ogg,flac,aac,mov,matroska,aiff,caf,w64";
/// How much of stderr an error keeps (its end: the last lines say why).
const STDERR_TAIL_BYTES: usize = 2000;
/// The most stdout a run collects; more is an error (callers that expect large
/// outputs write them to a staged file instead).
const MAX_STDOUT_BYTES: usize = 512 * 1024 * 1024;
/// How often a waiting caller looks whether the child has exited.
const WAIT_POLL: Duration = Duration::from_millis(5);

/// One of the two programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ffmpeg,
    Ffprobe,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ffmpeg => "ffmpeg",
            Self::Ffprobe => "ffprobe",
        }
    }

    /// The program on `PATH`, looked up once per process (a server whose
    /// administrator installs ffmpeg later is restarted to see it).
    pub fn path(self) -> Option<&'static Path> {
        static FFMPEG: OnceLock<Option<PathBuf>> = OnceLock::new();
        static FFPROBE: OnceLock<Option<PathBuf>> = OnceLock::new();
        let cell = match self {
            Self::Ffmpeg => &FFMPEG,
            Self::Ffprobe => &FFPROBE,
        };
        cell.get_or_init(|| {
            let found = find_on_path(self.name(), std::env::var_os("PATH").as_deref());
            if found.is_none() {
                tracing::info!(tool = self.name(), "not installed: the engines that need it answer 503 ({INSTALL})");
            }
            found
        })
        .as_deref()
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `name` in the first directory of `path` (a `PATH` value) that has it as an
/// executable file (other engines' programs are found the same way: espeak-ng).
pub(crate) fn find_on_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?).filter(|dir| !dir.as_os_str().is_empty()).map(|dir| dir.join(name)).find(|candidate| {
        let Ok(metadata) = std::fs::metadata(candidate) else { return false };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
        }
        #[cfg(not(unix))]
        {
            metadata.is_file()
        }
    })
}

/// The `503 engine_unavailable` for a task whose engine needs `tool` on a server
/// that lacks it: the message says which Debian package to install.
pub fn engine_unavailable(tool: Tool, engine: &str) -> CoreError {
    CoreError::EngineUnavailable {
        message: format!(
            "{engine} needs {tool}, which is not installed on this server: an administrator can install the \
             Debian package {PACKAGE} ({INSTALL}) and restart Atelier"
        ),
        details: serde_json::json!({ "engine": engine, "missing": tool.name(), "package": PACKAGE, "install": INSTALL }),
        retry_after: RETRY_AFTER,
    }
}

/// `tool`'s path, or the `503` of [`engine_unavailable`]: for a model's `validate`.
pub fn require(tool: Tool, engine: &str) -> Result<&'static Path, CoreError> {
    tool.path().ok_or_else(|| engine_unavailable(tool, engine))
}

/// Whether the installed ffmpeg has an encoder (`libx264`, `aac`, `libmp3lame`…).
/// Asked of ffmpeg once per process (`ffmpeg -encoders`); `false` without ffmpeg.
pub fn has_encoder(encoder: &str) -> bool {
    static ENCODERS: OnceLock<Vec<String>> = OnceLock::new();
    if ENCODERS.get().is_none() {
        // Only an answer is remembered: a failed run (no process could be started
        // just then) is asked again next time.
        if let Ok(listing) = Ffmpeg::new().arg("-encoders").deadline(Duration::from_secs(20)).run() {
            let _ = ENCODERS.set(parse_encoders(&String::from_utf8_lossy(&listing)));
        }
    }
    ENCODERS.get().is_some_and(|encoders| encoders.iter().any(|name| name == encoder))
}

/// The names in `ffmpeg -encoders`' listing (lines such as ` V....D libx264   …`,
/// after a legend that ends with ` ------`).
fn parse_encoders(listing: &str) -> Vec<String> {
    listing
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("---"))
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

/// The `503` for an ffmpeg built without an encoder the engine needs.
pub fn require_encoder(encoder: &str, engine: &str) -> Result<(), CoreError> {
    require(Tool::Ffmpeg, engine)?;
    if has_encoder(encoder) {
        return Ok(());
    }
    Err(CoreError::EngineUnavailable {
        message: format!(
            "{engine} needs ffmpeg's {encoder} encoder, which the installed ffmpeg lacks: an administrator can \
             install the Debian package {PACKAGE} ({INSTALL}), whose build has it, and restart Atelier"
        ),
        details: serde_json::json!({
            "engine": engine, "missing": format!("ffmpeg encoder {encoder}"), "package": PACKAGE, "install": INSTALL,
        }),
        retry_after: RETRY_AFTER,
    })
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum FfmpegError {
    #[error("{0} is not installed on this server: install the Debian package ffmpeg ({INSTALL})")]
    Missing(Tool),
    #[error("could not stage files for ffmpeg: {0}")]
    Staging(#[source] std::io::Error),
    #[error("could not run {tool}: {source}")]
    Spawn {
        tool: Tool,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} did not finish within {} s{}", deadline.as_secs_f64(), with_stderr(stderr))]
    TimedOut { tool: Tool, deadline: Duration, stderr: String },
    #[error("{tool} failed ({status}){}", with_stderr(stderr))]
    Failed { tool: Tool, status: String, stderr: String },
    #[error("{tool} wrote more than {} MiB to stdout", MAX_STDOUT_BYTES / (1024 * 1024))]
    TooMuchOutput { tool: Tool },
}

fn with_stderr(stderr: &str) -> String {
    if stderr.is_empty() { String::new() } else { format!(": {stderr}") }
}

impl FfmpegError {
    /// What the tool printed before it failed (its tail), if anything.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            Self::TimedOut { stderr, .. } | Self::Failed { stderr, .. } if !stderr.is_empty() => Some(stderr),
            _ => None,
        }
    }

    /// The error when the input in `field` is what ffmpeg could not read (a user's
    /// soundtrack that is not audio): a client error naming the field. Other
    /// failures (missing, timed out, could not start) stay the server's.
    pub fn blame_input(self, field: &str) -> ProviderError {
        match self {
            Self::Failed { tool, stderr, .. } => ProviderError::new(
                ErrorClass::ClientError,
                format!("{field}: {tool} cannot read it{}", with_stderr(&stderr)),
            ),
            other => other.into(),
        }
    }
}

/// A run-time failure: the engine's (`generation_failed`, tried once). Never a
/// `ServerError` or `Timeout`, which would count against the whole `local`
/// service's circuit and be retried though the same run would fail the same way.
impl From<FfmpegError> for ProviderError {
    fn from(error: FfmpegError) -> Self {
        ProviderError::new(ErrorClass::GenerationFailed, error.to_string())
    }
}

/// A scratch directory for a run's files, removed when dropped.
#[derive(Debug)]
pub struct Staging {
    dir: tempfile::TempDir,
}

impl Staging {
    pub fn new() -> Result<Self, FfmpegError> {
        let dir = tempfile::Builder::new().prefix("atelier-ffmpeg-").tempdir().map_err(FfmpegError::Staging)?;
        Ok(Self { dir })
    }

    /// The path of `name` in the directory (a plain file name, chosen by the code).
    pub fn path(&self, name: &str) -> PathBuf {
        debug_assert!(!name.contains('/') && !name.starts_with('.'), "a plain file name: {name}");
        self.dir.path().join(name)
    }

    /// Writes `bytes` as `name` and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, FfmpegError> {
        let path = self.path(name);
        std::fs::write(&path, bytes).map_err(FfmpegError::Staging)?;
        Ok(path)
    }

    /// Reads `name` back (an output ffmpeg wrote).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, FfmpegError> {
        std::fs::read(self.path(name)).map_err(FfmpegError::Staging)
    }
}

/// One command line for ffmpeg or ffprobe, built up, then run.
///
/// ```ignore
/// let staging = Staging::new()?;
/// let wav = staging.write("speech.wav", &wav_bytes)?;
/// Ffmpeg::new()
///     .input(&wav, "wav", &[])
///     .args(["-c:a", "libmp3lame", "-q:a", "2"])
///     .output(&staging.path("speech.mp3"))
///     .deadline(Duration::from_secs(60))
///     .run()?;
/// let mp3 = staging.read("speech.mp3")?;
/// ```
#[derive(Debug, Clone)]
pub struct Ffmpeg {
    tool: Tool,
    args: Vec<OsString>,
    deadline: Duration,
}

impl Default for Ffmpeg {
    fn default() -> Self {
        Self::new()
    }
}

impl Ffmpeg {
    /// The default deadline; set one that fits the work with [`Ffmpeg::deadline`].
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

    /// ffmpeg, quiet but for errors, never reading the terminal.
    pub fn new() -> Self {
        Self::with_args(Tool::Ffmpeg, &["-nostdin", "-hide_banner", "-loglevel", "error"])
    }

    /// ffprobe, quiet but for errors.
    pub fn probe() -> Self {
        Self::with_args(Tool::Ffprobe, &["-hide_banner", "-loglevel", "error"])
    }

    fn with_args(tool: Tool, args: &[&str]) -> Self {
        Self { tool, args: args.iter().map(OsString::from).collect(), deadline: Self::DEFAULT_DEADLINE }
    }

    pub fn tool(&self) -> Tool {
        self.tool
    }

    /// How long the run may take, from its start; past it the child is killed.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// A staged file as an input, readable only by the listed demuxers
    /// (`"wav"`, [`AUDIO_DEMUXERS`]; ffmpeg's names, comma-separated), after the
    /// input `options` (`["-f", "wav"]`, `["-t", "10"]`).
    pub fn input(self, path: &Path, demuxers: &str, options: &[&str]) -> Self {
        let mut file = OsString::from("file:");
        file.push(path.as_os_str());
        self.args(options).args(["-protocol_whitelist", "file,pipe", "-format_whitelist", demuxers]).arg("-i").arg(file)
    }

    /// Stdin as an input (`pipe:0`), after its `options` (`["-f", "rawvideo", …]`:
    /// a raw stream must say its format).
    pub fn stdin_input(self, options: &[&str]) -> Self {
        self.args(options).args(["-protocol_whitelist", "file,pipe", "-i", "pipe:0"])
    }

    /// A staged file as the output (overwritten), after the output options given
    /// before it.
    pub fn output(self, path: &Path) -> Self {
        let mut file = OsString::from("file:");
        file.push(path.as_os_str());
        self.arg("-y").arg(file)
    }

    /// The arguments so far (after the program), for logs and tests.
    pub fn arguments(&self) -> &[OsString] {
        &self.args
    }

    /// Runs it with stdin closed and returns what it wrote to stdout.
    pub fn run(self) -> Result<Vec<u8>, FfmpegError> {
        self.spawn_with(Stdio::null())?.finish()
    }

    /// Runs it with `input` on stdin and returns what it wrote to stdout.
    pub fn run_with_stdin(self, input: &[u8]) -> Result<Vec<u8>, FfmpegError> {
        let mut running = self.spawn()?;
        running.write(input)?;
        running.finish()
    }

    /// Starts it with stdin open for [`Running::write`] (frames, samples).
    pub fn spawn(self) -> Result<Running, FfmpegError> {
        self.spawn_with(Stdio::piped())
    }

    fn spawn_with(self, stdin: Stdio) -> Result<Running, FfmpegError> {
        let tool = self.tool;
        let program = tool.path().ok_or(FfmpegError::Missing(tool))?;
        let mut child = Command::new(program)
            .args(&self.args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| FfmpegError::Spawn { tool, source })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(|mut stdout| {
            std::thread::spawn(move || {
                let mut collected = Vec::new();
                let mut buffer = [0u8; 64 * 1024];
                let mut overflow = false;
                loop {
                    match stdout.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) if collected.len() + n <= MAX_STDOUT_BYTES => collected.extend_from_slice(&buffer[..n]),
                        // Keep reading (so the child is not blocked) but keep nothing more.
                        Ok(_) => overflow = true,
                    }
                }
                (collected, overflow)
            })
        });
        let stderr = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut tail: Vec<u8> = Vec::new();
                let mut buffer = [0u8; 8 * 1024];
                while let Ok(n) = stderr.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    tail.extend_from_slice(&buffer[..n]);
                    if tail.len() > 2 * STDERR_TAIL_BYTES {
                        tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                    }
                }
                tail_text(&tail)
            })
        });
        let child = Arc::new(Mutex::new(child));
        let watchdog = Watchdog::start(Arc::clone(&child), self.deadline);
        Ok(Running {
            tool,
            child,
            stdin,
            stdout,
            stderr,
            watchdog: Some(watchdog),
            deadline: self.deadline,
            done: false,
        })
    }
}

/// The last [`STDERR_TAIL_BYTES`] of `bytes` as text, from a line start when one is
/// near, trimmed.
fn tail_text(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_TAIL_BYTES);
    let mut tail = &bytes[start..];
    if start > 0
        && let Some(newline) = tail.iter().position(|byte| *byte == b'\n')
    {
        tail = &tail[newline + 1..];
    }
    String::from_utf8_lossy(tail).trim().to_owned()
}

/// Kills the child when the deadline passes, unless stopped first.
struct Watchdog {
    stop: mpsc::Sender<()>,
    fired: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Watchdog {
    fn start(child: Arc<Mutex<Child>>, deadline: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&fired);
        let thread = std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(deadline) {
                flag.store(true, Ordering::SeqCst);
                let _ = child.lock().unwrap_or_else(PoisonError::into_inner).kill();
            }
        });
        Self { stop, fired, thread }
    }

    /// Stops it; whether it had already fired.
    fn stop(self) -> bool {
        let _ = self.stop.send(());
        let _ = self.thread.join();
        self.fired.load(Ordering::SeqCst)
    }
}

/// A started ffmpeg (or ffprobe). Dropping it before [`Running::finish`] kills the
/// child and reaps it.
pub struct Running {
    tool: Tool,
    child: Arc<Mutex<Child>>,
    stdin: Option<ChildStdin>,
    stdout: Option<JoinHandle<(Vec<u8>, bool)>>,
    stderr: Option<JoinHandle<String>>,
    watchdog: Option<Watchdog>,
    deadline: Duration,
    done: bool,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("tool", &self.tool).field("deadline", &self.deadline).finish_non_exhaustive()
    }
}

impl Running {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.lock().unwrap_or_else(PoisonError::into_inner).id()
    }

    /// Writes to the child's stdin. When the child stopped reading (it failed, or
    /// ran out of time and was killed), the error says why, from its exit and
    /// stderr, and the run is over.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), FfmpegError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(FfmpegError::Failed {
                tool: self.tool,
                status: "stdin is closed".into(),
                stderr: String::new(),
            });
        };
        match stdin.write_all(bytes) {
            Ok(()) => Ok(()),
            Err(error) => Err(match self.conclude() {
                // It exited cleanly without reading everything: say so.
                Ok(_) => FfmpegError::Failed {
                    tool: self.tool,
                    status: format!("it stopped reading its input: {error}"),
                    stderr: String::new(),
                },
                Err(failure) => failure,
            }),
        }
    }

    /// Closes stdin, waits for the child (within the deadline) and returns its
    /// stdout; a non-zero exit is [`FfmpegError::Failed`] with stderr's tail.
    pub fn finish(mut self) -> Result<Vec<u8>, FfmpegError> {
        self.conclude()
    }

    fn conclude(&mut self) -> Result<Vec<u8>, FfmpegError> {
        drop(self.stdin.take());
        let status = self.wait();
        self.done = true;
        let fired = self.watchdog.take().is_some_and(Watchdog::stop);
        let stderr = self.stderr.take().and_then(|thread| thread.join().ok()).unwrap_or_default();
        let (stdout, overflow) = self.stdout.take().and_then(|thread| thread.join().ok()).unwrap_or_default();
        let tool = self.tool;
        // (A child that finished just as the deadline passed keeps its success.)
        if fired && !status.as_ref().is_ok_and(ExitStatus::success) {
            return Err(FfmpegError::TimedOut { tool, deadline: self.deadline, stderr });
        }
        match status {
            Ok(status) if status.success() && overflow => Err(FfmpegError::TooMuchOutput { tool }),
            Ok(status) if status.success() => Ok(stdout),
            Ok(status) => Err(FfmpegError::Failed { tool, status: status.to_string(), stderr }),
            Err(error) => Err(FfmpegError::Failed { tool, status: format!("waiting for it failed: {error}"), stderr }),
        }
    }

    /// Waits for the child to exit; the watchdog kills it at the deadline, so this
    /// ends. (Polled: holding the lock through a blocking `wait` would keep the
    /// watchdog from killing it.)
    fn wait(&self) -> std::io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.child.lock().unwrap_or_else(PoisonError::into_inner).try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(WAIT_POLL);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        drop(self.stdin.take());
        {
            let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.stop();
        }
        if let Some(thread) = self.stderr.take() {
            let _ = thread.join();
        }
        if let Some(thread) = self.stdout.take() {
            let _ = thread.join();
        }
    }
}

/// Converts one file: `input` staged (read only by `demuxers`), `output_args`
/// applied (codec, quality, `-f` when the name's extension does not say the
/// format), written as `output_name` (its extension names the format: `speech.mp3`)
/// and read back.
pub fn convert(
    input: &[u8],
    demuxers: &str,
    output_args: &[&str],
    output_name: &str,
    deadline: Duration,
) -> Result<Vec<u8>, FfmpegError> {
    let staging = Staging::new()?;
    let source = staging.write("input", input)?;
    Ffmpeg::new()
        .input(&source, demuxers, &[])
        .args(output_args)
        .output(&staging.path(output_name))
        .deadline(deadline)
        .run()?;
    staging.read(output_name)
}

/// What ffprobe says of a staged file (`-show_streams -show_format`, as JSON).
pub fn probe(path: &Path, demuxers: &str, deadline: Duration) -> Result<serde_json::Value, FfmpegError> {
    let json = Ffmpeg::probe()
        .args(["-show_streams", "-show_format", "-of", "json"])
        .input(path, demuxers, &[])
        .deadline(deadline)
        .run()?;
    serde_json::from_slice(&json).map_err(|error| FfmpegError::Failed {
        tool: Tool::Ffprobe,
        status: "its answer is not JSON".into(),
        stderr: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Both tools, or a skip (a failure under `ATELIER_TEST_REQUIRE_TOOLS=1`).
    fn installed() -> bool {
        atelier_core::testing::tool_present("ffmpeg") && atelier_core::testing::tool_present("ffprobe")
    }

    fn sine_wav(seconds: f64) -> Vec<u8> {
        Ffmpeg::new()
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:sample_rate=22050:duration={seconds}"))
            .args(["-f", "wav", "pipe:1"])
            .run()
            .expect("ffmpeg makes a sine")
    }

    #[test]
    fn programs_are_found_only_where_they_can_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (empty, tools) = (dir.path().join("empty"), dir.path().join("tools"));
        std::fs::create_dir_all(&empty).expect("dir");
        std::fs::create_dir_all(&tools).expect("dir");
        let program = tools.join("ffmpeg");
        std::fs::write(&program, "#!/bin/sh\n").expect("write");
        let path = std::env::join_paths([&empty, &tools]).expect("PATH");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(find_on_path("ffmpeg", Some(&path)), None, "not executable");
            std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        assert_eq!(find_on_path("ffmpeg", Some(&path)), Some(program));
        assert_eq!(find_on_path("ffprobe", Some(&path)), None);
        assert_eq!(find_on_path("ffmpeg", None), None);
    }

    #[test]
    fn a_missing_tool_is_a_503_naming_the_package() {
        let CoreError::EngineUnavailable { message, details, retry_after } =
            engine_unavailable(Tool::Ffmpeg, "local/slideshow")
        else {
            panic!("a 503")
        };
        assert!(message.contains("local/slideshow") && message.contains("apt-get install ffmpeg"), "{message}");
        assert_eq!(details["missing"], "ffmpeg");
        assert_eq!(details["install"], "apt-get install ffmpeg");
        assert_eq!(retry_after, RETRY_AFTER);
        let error: ProviderError = FfmpegError::Missing(Tool::Ffprobe).into();
        assert_eq!(error.class, ErrorClass::GenerationFailed);
        assert!(error.message.contains("ffprobe is not installed") && error.message.contains(INSTALL));
    }

    #[test]
    fn inputs_are_fenced_in() {
        let command = Ffmpeg::new().input(Path::new("/tmp/x/-y"), "wav", &["-t", "3"]).stdin_input(&["-f", "rawvideo"]);
        let args: Vec<&str> = command.arguments().iter().filter_map(|arg| arg.to_str()).collect();
        assert_eq!(
            args,
            [
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-t",
                "3",
                "-protocol_whitelist",
                "file,pipe",
                "-format_whitelist",
                "wav",
                "-i",
                "file:/tmp/x/-y",
                "-f",
                "rawvideo",
                "-protocol_whitelist",
                "file,pipe",
                "-i",
                "pipe:0",
            ]
        );
    }

    #[test]
    fn the_encoder_listing_is_read() {
        let listing = "Encoders:\n V..... = Video\n ------\n V....D libx264              libx264 H.264\n A..... aac                  AAC (Advanced Audio Coding)\n";
        assert_eq!(parse_encoders(listing), ["libx264", "aac"]);
        assert_eq!(tail_text(b"  one\ntwo  \n"), "one\ntwo");
        let long: Vec<u8> = (0..5000).map(|i| if i % 100 == 99 { b'\n' } else { b'x' }).collect();
        let tail = tail_text(&long);
        assert!(tail.len() <= STDERR_TAIL_BYTES && !tail.starts_with('\n'), "{}", tail.len());
    }

    #[test]
    fn a_wav_converts_to_mp3_ogg_and_flac() {
        if !installed() {
            return;
        }
        assert!(has_encoder("libx264") && has_encoder("aac") && !has_encoder("no-such-encoder"));
        let wav = sine_wav(0.5);
        for (name, args, codec) in [
            ("a.mp3", &["-c:a", "libmp3lame", "-q:a", "4"][..], "mp3"),
            ("a.ogg", &["-c:a", "libvorbis", "-q:a", "4"][..], "vorbis"),
            ("a.flac", &["-c:a", "flac"][..], "flac"),
        ] {
            let converted = convert(&wav, "wav", args, name, Duration::from_secs(30)).expect(name);
            let staging = Staging::new().expect("staging");
            let path = staging.write(name, &converted).expect("stage");
            let report = probe(&path, AUDIO_DEMUXERS, Duration::from_secs(30)).expect("probe");
            assert_eq!(report["streams"][0]["codec_name"], codec, "{name}: {report}");
            let seconds: f64 = report["format"]["duration"].as_str().and_then(|d| d.parse().ok()).expect("duration");
            assert!((seconds - 0.5).abs() < 0.1, "{name}: {seconds}");
        }
    }

    #[test]
    fn stdin_in_stdout_out() {
        if !installed() {
            return;
        }
        let wav = sine_wav(1.0);
        let raw = Ffmpeg::new()
            .stdin_input(&["-f", "wav"])
            .args(["-ac", "1", "-ar", "8000", "-f", "s16le", "pipe:1"])
            .run_with_stdin(&wav)
            .expect("decoded");
        assert!((raw.len() as i64 - 16_000).abs() < 100, "{}", raw.len());
    }

    #[test]
    fn failures_carry_stderr_and_can_blame_the_input() {
        if !installed() {
            return;
        }
        let error =
            convert(b"not audio at all", AUDIO_DEMUXERS, &[], "a.mp3", Duration::from_secs(30)).expect_err("not audio");
        assert!(matches!(error, FfmpegError::Failed { .. }), "{error:?}");
        assert!(error.stderr().is_some_and(|text| !text.is_empty()), "{error:?}");
        let blamed = error.blame_input("soundtrack");
        assert_eq!(blamed.class, ErrorClass::ClientError);
        assert!(blamed.message.starts_with("soundtrack: ffmpeg cannot read it"), "{}", blamed.message);
    }

    #[test]
    fn a_playlist_cannot_reach_other_files() {
        if !installed() {
            return;
        }
        let playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/hostname\n#EXT-X-ENDLIST\n";
        let error = convert(playlist, AUDIO_DEMUXERS, &[], "a.wav", Duration::from_secs(30)).expect_err("refused");
        assert!(matches!(error, FfmpegError::Failed { .. }), "{error:?}");
    }

    #[test]
    fn the_deadline_kills_a_slow_run() {
        if !installed() {
            return;
        }
        let started = Instant::now();
        // `-re` reads the 30 s sine in real time.
        let error = Ffmpeg::new()
            .args(["-re", "-f", "lavfi", "-i", "sine=duration=30", "-f", "null", "-"])
            .deadline(Duration::from_millis(300))
            .run()
            .expect_err("too slow");
        assert!(matches!(error, FfmpegError::TimedOut { .. }), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert!(error.to_string().contains("did not finish within 0.3 s"), "{error}");
    }

    #[test]
    fn a_writer_blocked_on_a_stuck_child_is_freed_by_the_deadline() {
        if !installed() {
            return;
        }
        // A reader that takes its input at 8 kB/s (real time) while we write far more.
        let mut running = Ffmpeg::new()
            .args(["-re"])
            .stdin_input(&["-f", "s16le", "-ar", "4000", "-ac", "1"])
            .args(["-f", "null", "-"])
            .deadline(Duration::from_millis(500))
            .spawn()
            .expect("spawned");
        let started = Instant::now();
        let error = running.write(&vec![0u8; 8 * 1024 * 1024]).expect_err("killed");
        assert!(matches!(error, FfmpegError::TimedOut { .. }), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    }

    #[test]
    fn dropping_a_run_kills_and_reaps_the_child() {
        if !installed() {
            return;
        }
        let running = Ffmpeg::new()
            .args(["-re", "-f", "lavfi", "-i", "sine=duration=30", "-f", "null", "-"])
            .deadline(Duration::from_secs(60))
            .spawn()
            .expect("spawned");
        let pid = running.id();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(running);
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the child is gone");
    }
}
