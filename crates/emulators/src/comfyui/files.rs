//! ComfyUI's three folders, in memory: `input` (uploads, what `LoadImage`
//! reads), `output` (`SaveImage`) and `temp` (`PreviewImage`, emptied at each
//! start); `GET /view` serves them and `POST /upload/image` fills them.
//!
//! As the server does (`server.py`, `folder_paths.py`, confirmed):
//! - `GET /view?filename=&subfolder=&type=` (`type` defaults to `output`): the
//!   file's bytes with its content type and `Content-Disposition:
//!   filename="…"`; 400 (empty) without a filename, with one starting with `/`
//!   or holding `..`, or an unknown type; 403 when the subfolder leaves the
//!   folder; 404 (empty) when there is no such file. Only the file name's last
//!   component counts (`os.path.basename`).
//! - `POST /upload/image` (multipart: `image` file, `overwrite`, `type`
//!   input|temp|output, default input, `subfolder`): `{"name","subfolder","type"}`.
//!   Without `overwrite` (`"true"`/`"1"`), a name taken by other bytes becomes
//!   `name (1).ext`, `name (2).ext`…, and the same bytes again keep the name.
//!   400 (empty) without an image part or a file name, or when the path leaves
//!   the folder; an unknown `type` raises (500). The bytes are not checked:
//!   `LoadImage` fails on them at execution.
//! - Saved names: `<prefix>_<counter:05>_.png`, the counter one past the
//!   highest of that prefix in that subfolder; a prefix `dir/name` saves under
//!   subfolder `dir`; `%width%`, `%height%`, `%year%`… `%second%` and
//!   `%batch_num%` are replaced; a prefix leaving the folder raises.
//!
//! Unconfirmed, the emulator's choices: an uploaded file name holding a path
//! separator is refused (400); content types are guessed from the extension.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Timelike};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::errors;
use super::python::Exception;
use super::{ComfyUiState, Inner};

/// One of ComfyUI's folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Folder {
    Input,
    Output,
    Temp,
}

impl Folder {
    pub(super) fn parse(name: &str) -> Option<Folder> {
        match name {
            "input" => Some(Folder::Input),
            "output" => Some(Folder::Output),
            "temp" => Some(Folder::Temp),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Folder::Input => "input",
            Folder::Output => "output",
            Folder::Temp => "temp",
        }
    }
}

/// One stored file.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) bytes: Bytes,
    pub(super) digest: [u8; 32],
}

/// The folders' files, by folder, subfolder (`a/b`, `""` at the top) and name.
#[derive(Debug, Default)]
pub(super) struct Files {
    files: BTreeMap<(Folder, String, String), Stored>,
}

impl Files {
    pub(super) fn get(&self, folder: Folder, subfolder: &str, name: &str) -> Option<&Stored> {
        self.files.get(&(folder, subfolder.to_owned(), name.to_owned()))
    }

    pub(super) fn put(&mut self, folder: Folder, subfolder: &str, name: &str, bytes: Bytes) {
        let digest = Sha256::digest(&bytes).into();
        self.files.insert((folder, subfolder.to_owned(), name.to_owned()), Stored { bytes, digest });
    }

    /// The files at the top of the input folder, sorted (`LoadImage`'s list).
    pub(super) fn input_images(&self) -> Vec<String> {
        self.files
            .keys()
            .filter(|(folder, subfolder, _)| *folder == Folder::Input && subfolder.is_empty())
            .map(|(_, _, name)| name.clone())
            .collect()
    }

    /// Empties the temp folder (the server does at each start).
    pub(super) fn clear_temp(&mut self) {
        self.files.retain(|(folder, _, _), _| *folder != Folder::Temp);
    }

    /// The next counter for `prefix` in `folder`/`subfolder` (`map_filename`:
    /// the digits after `<prefix>_`, up to the next `_`).
    pub(super) fn next_counter(&self, folder: Folder, subfolder: &str, prefix: &str) -> u64 {
        self.files
            .keys()
            .filter(|(f, s, _)| *f == folder && s == subfolder)
            .filter_map(|(_, _, name)| {
                let rest = name.strip_prefix(prefix)?.strip_prefix('_')?;
                rest.split('_').next()?.parse::<u64>().ok()
            })
            .max()
            .map_or(1, |highest| highest + 1)
    }
}

/// Normalizes a relative path as `os.path.normpath` does; `None` when it
/// leaves its folder (an absolute path, or `..` past the top).
pub(super) fn normalize(path: &str) -> Option<String> {
    if path.starts_with('/') || path.starts_with('\\') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// A file name as `LoadImage` takes it: `name.png`, `sub/name.png`, or
/// annotated `name.png [output]`; its folder, subfolder and name.
pub(super) fn annotated(value: &str) -> Option<(Folder, String, String)> {
    let (path, folder) = [(" [output]", Folder::Output), (" [input]", Folder::Input), (" [temp]", Folder::Temp)]
        .iter()
        .find_map(|(suffix, folder)| value.strip_suffix(suffix).map(|path| (path, *folder)))
        .unwrap_or((value, Folder::Input));
    let normalized = normalize(path)?;
    let (subfolder, name) = normalized.rsplit_once('/').unwrap_or(("", normalized.as_str()));
    (!name.is_empty()).then(|| (folder, subfolder.to_owned(), name.to_owned()))
}

/// Where `SaveImage`/`PreviewImage` save (`get_save_image_path`): the
/// subfolder and the name's stem, or the exception when it leaves the folder.
pub(super) fn save_path(prefix: &str, width: u32, height: u32) -> Result<(String, String), Exception> {
    let mut prefix = prefix.to_owned();
    if prefix.contains('%') {
        let now = chrono::Local::now();
        prefix = prefix
            .replace("%width%", &width.to_string())
            .replace("%height%", &height.to_string())
            .replace("%year%", &now.year().to_string())
            .replace("%month%", &format!("{:02}", now.month()))
            .replace("%day%", &format!("{:02}", now.day()))
            .replace("%hour%", &format!("{:02}", now.hour()))
            .replace("%minute%", &format!("{:02}", now.minute()))
            .replace("%second%", &format!("{:02}", now.second()));
    }
    let outside = || {
        Exception::new(
            "Exception",
            format!(
                "**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: \
                 /ComfyUI/output/{prefix}\n         output_dir: /ComfyUI/output\n         commonpath: /ComfyUI"
            ),
        )
    };
    let normalized = normalize(&prefix).ok_or_else(outside)?;
    let (subfolder, stem) = normalized.rsplit_once('/').unwrap_or(("", normalized.as_str()));
    Ok((subfolder.to_owned(), stem.to_owned()))
}

/// A file's content type, from its extension.
fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// `GET /view`.
pub(super) async fn view(
    State(state): State<Arc<ComfyUiState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(filename) = query.get("filename") else { return errors::empty(404) };
    if filename.is_empty() || filename.starts_with('/') || filename.contains("..") {
        return errors::empty(400);
    }
    let (path, folder) = match [(" [output]", Folder::Output), (" [input]", Folder::Input), (" [temp]", Folder::Temp)]
        .iter()
        .find_map(|(suffix, folder)| filename.strip_suffix(suffix).map(|path| (path, Some(*folder))))
    {
        Some(annotated) => annotated,
        None => (filename.as_str(), None),
    };
    let folder = match folder {
        Some(folder) => folder,
        None => match Folder::parse(query.get("type").map_or("output", String::as_str)) {
            Some(folder) => folder,
            None => return errors::empty(400),
        },
    };
    let Some(subfolder) = normalize(query.get("subfolder").map_or("", String::as_str)) else {
        return errors::empty(403);
    };
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stored = state.inner().files.get(folder, &subfolder, name).cloned();
    let Some(stored) = stored else { return errors::empty(404) };
    let mut response = (StatusCode::OK, Body::from(stored.bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    if let Ok(disposition) = HeaderValue::from_str(&format!("filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

/// `POST /upload/image`.
pub(super) async fn upload_image(State(state): State<Arc<ComfyUiState>>, request: Request) -> Response {
    let Ok(mut form) = Multipart::from_request(request, &state).await else { return errors::empty(400) };
    let mut image: Option<(String, Bytes)> = None;
    let mut overwrite = None;
    let mut kind = None;
    let mut subfolder = String::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return errors::empty(400),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let Ok(data) = field.bytes().await else { return errors::empty(400) };
        match name.as_str() {
            "image" => image = file_name.map(|file_name| (file_name, data)),
            "overwrite" => overwrite = Some(String::from_utf8_lossy(&data).into_owned()),
            "type" => kind = Some(String::from_utf8_lossy(&data).into_owned()),
            "subfolder" => subfolder = String::from_utf8_lossy(&data).into_owned(),
            _ => {}
        }
    }
    let kind = kind.unwrap_or_else(|| "input".into());
    // An unknown type leaves `type_dir` unbound in the server: an exception, 500.
    let Some(folder) = Folder::parse(&kind) else { return errors::internal() };
    let Some((file_name, bytes)) = image else { return errors::empty(400) };
    if file_name.is_empty() {
        return errors::empty(400);
    }
    if file_name.contains(['/', '\\']) || file_name == ".." || file_name == "." {
        return errors::empty(400);
    }
    let Some(stored_under) = normalize(&subfolder) else { return errors::empty(400) };
    let overwrite = matches!(overwrite.as_deref(), Some("true" | "1"));

    let name = {
        let mut inner = state.inner();
        let name = free_name(&inner, folder, &stored_under, &file_name, &bytes, overwrite);
        inner.files.put(folder, &stored_under, &name, bytes);
        inner.stats.uploads += 1;
        name
    };
    Json(json!({ "name": name, "subfolder": subfolder, "type": folder.name() })).into_response()
}

/// The name an upload is stored under: its own, unless other bytes hold it
/// (then `stem (1).ext`, `stem (2).ext`…).
fn free_name(
    inner: &Inner,
    folder: Folder,
    subfolder: &str,
    file_name: &str,
    bytes: &Bytes,
    overwrite: bool,
) -> String {
    if overwrite {
        return file_name.to_owned();
    }
    let (stem, extension) = match file_name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
        _ => (file_name, String::new()),
    };
    let digest: [u8; 32] = Sha256::digest(bytes).into();
    let mut candidate = file_name.to_owned();
    let mut i = 1;
    while let Some(existing) = inner.files.get(folder, subfolder, &candidate) {
        if existing.digest == digest {
            break;
        }
        candidate = format!("{stem} ({i}){extension}");
        i += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_and_stay_inside() {
        assert_eq!(normalize("a/./b/../c"), Some("a/c".into()));
        assert_eq!(normalize(""), Some(String::new()));
        assert_eq!(normalize("../x"), None);
        assert_eq!(normalize("/etc"), None);
        assert_eq!(annotated("x.png"), Some((Folder::Input, String::new(), "x.png".into())));
        assert_eq!(annotated("sub/x.png [output]"), Some((Folder::Output, "sub".into(), "x.png".into())));
        assert_eq!(annotated("../x.png"), None);
        assert_eq!(save_path("ComfyUI", 1, 1), Ok((String::new(), "ComfyUI".into())));
        assert_eq!(save_path("run/%width%x%height%", 64, 48), Ok(("run".into(), "64x48".into())));
        assert!(save_path("../../etc/x", 1, 1).is_err());
    }

    #[test]
    fn counters_follow_the_highest_saved_name() {
        let mut files = Files::default();
        assert_eq!(files.next_counter(Folder::Output, "", "ComfyUI"), 1);
        files.put(Folder::Output, "", "ComfyUI_00001_.png", Bytes::from_static(b"a"));
        files.put(Folder::Output, "", "ComfyUI_00007_.png", Bytes::from_static(b"b"));
        files.put(Folder::Output, "", "Other_00042_.png", Bytes::from_static(b"c"));
        files.put(Folder::Output, "sub", "ComfyUI_00099_.png", Bytes::from_static(b"d"));
        assert_eq!(files.next_counter(Folder::Output, "", "ComfyUI"), 8);
        assert_eq!(files.next_counter(Folder::Output, "sub", "ComfyUI"), 100);
        files.put(Folder::Temp, "", "ComfyUI_temp_abcde_00001_.png", Bytes::from_static(b"e"));
        files.clear_temp();
        assert!(files.get(Folder::Temp, "", "ComfyUI_temp_abcde_00001_.png").is_none());
    }
}
