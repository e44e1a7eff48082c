//! Video posters: one representative frame, taken by ffmpeg when it is installed,
//! then made into a thumbnail like any image. Without ffmpeg a video simply has no
//! thumbnail, and the API says so; nothing fails.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long ffmpeg may take over one poster, unless told (the `[media]`
/// section's `decode_timeout_ms`).
const POSTER_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    #[error("could not stage the video for ffmpeg: {0}")]
    Io(#[from] std::io::Error),
    #[error("ffmpeg could not take a frame: {0}")]
    Ffmpeg(String),
    #[error("ffmpeg took longer than {0:?}")]
    TooSlow(Duration),
}

/// The ffmpeg binary on `PATH`, looked up once.
pub fn ffmpeg() -> Option<&'static PathBuf> {
    static FFMPEG: OnceLock<Option<PathBuf>> = OnceLock::new();
    FFMPEG
        .get_or_init(|| {
            let found = on_path("ffmpeg");
            if found.is_none() {
                tracing::info!("ffmpeg is not installed: videos are stored without a poster thumbnail");
            }
            found
        })
        .as_ref()
}

/// A program in a directory of `PATH`.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|candidate| candidate.is_file()))
}

/// Whether the MIME type is a video a poster can be taken from.
pub fn is_video(mime: &str) -> bool {
    crate::thumbnail::mime_essence(mime).starts_with("video/")
}

/// A PNG of a representative frame of the video, or `Ok(None)` without ffmpeg.
/// Synchronous (it waits on ffmpeg): async callers use `spawn_blocking`.
pub fn poster_frame(video: &[u8]) -> Result<Option<Vec<u8>>, PosterError> {
    poster_frame_within(video, POSTER_DEADLINE)
}

/// [`poster_frame`], ffmpeg killed past `deadline`.
pub fn poster_frame_within(video: &[u8], deadline: Duration) -> Result<Option<Vec<u8>>, PosterError> {
    let Some(ffmpeg) = ffmpeg() else { return Ok(None) };
    let mut staged = tempfile::NamedTempFile::new()?;
    staged.write_all(video)?;
    staged.flush()?;
    let mut file = std::ffi::OsString::from("file:");
    file.push(staged.path().as_os_str());
    // `thumbnail` picks the most representative of the first frames (not a black
    // first frame); one frame, as PNG, on stdout.
    let png =
        run_with_deadline(
            // Only the staged file is read: a "video" that is really a playlist or a
            // concat script cannot make ffmpeg open anything else.
            Command::new(ffmpeg)
                .args(["-v", "error", "-nostdin", "-protocol_whitelist", "file", "-i"])
                .arg(file)
                .args(["-vf", "thumbnail", "-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "pipe:1"]),
            deadline,
        )?;
    if png.is_empty() {
        return Err(PosterError::Ffmpeg("no frame came out".into()));
    }
    Ok(Some(png))
}

/// Runs a command with stdin closed and returns its stdout, killing it past the
/// deadline; a failure carries its stderr.
pub(crate) fn run_with_deadline(command: &mut Command, deadline: Duration) -> Result<Vec<u8>, PosterError> {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut stdout = child.stdout.take().ok_or_else(|| PosterError::Ffmpeg("no stdout".into()))?;
    let mut stderr = child.stderr.take().ok_or_else(|| PosterError::Ffmpeg("no stderr".into()))?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PosterError::TooSlow(deadline));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        let mut message = String::new();
        let _ = stderr.read_to_string(&mut message);
        let message = message.trim();
        return Err(PosterError::Ffmpeg(if message.is_empty() { format!("exit {status}") } else { message.into() }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poster_is_a_png_of_the_video_size_or_absent_without_ffmpeg() {
        let video = include_bytes!("../../emulators/fixtures/sample.mp4");
        match poster_frame(video) {
            Ok(Some(png)) => {
                assert_eq!(crate::image_dimensions(&png), Some((320, 180)));
            }
            Ok(None) => assert!(ffmpeg().is_none(), "ffmpeg is installed but made no poster"),
            Err(error) => panic!("poster failed: {error}"),
        }
        assert!(poster_frame(b"not a video").is_err() || ffmpeg().is_none());
    }
}
