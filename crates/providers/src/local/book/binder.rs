//! `local/binder`: a manga's lettered pages bound as a PDF (one page per page,
//! fonts embedded, right-to-left order declared for Japanese) and a CBZ with
//! `ComicInfo.xml`, plus each page as a PNG (carrying the run and version in text
//! chunks). The first output is a JSON manifest saying how every balloon's text fit.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use atelier_book::BookMeta;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, ProviderError};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{PageSpec, book_error, build_page, chunks, fonts, invalid, open_images};
use crate::kit::Named;
use crate::local::{LocalEngine, SERVICE, parse_params, rejected, set_progress, to_json};

pub const MODEL: &str = "binder";
/// The MIME type of a comic book archive.
pub const CBZ_MIME: &str = "application/vnd.comicbook+zip";
const MAX_PAGES: usize = 400;

pub struct Binder;

impl Named for Binder {
    fn name(&self) -> &str {
        MODEL
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub title: String,
    #[serde(default)]
    pub writer: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    pub language: String,
    #[serde(default)]
    pub right_to_left: bool,
    #[serde(default)]
    pub characters: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindParams {
    pub meta: Meta,
    pub pages: Vec<PageSpec>,
}

pub fn spec() -> ModelSpec {
    ModelSpec {
        service: SERVICE.to_owned(),
        model: MODEL.to_owned(),
        aliases: Vec::new(),
        modality: Modality::Image,
        title: "Manga binder".to_owned(),
        description: "Binds lettered manga pages as a PDF (fonts embedded, right-to-left page order declared for \
                      right-to-left books) and a CBZ with ComicInfo.xml, and draws each page as a PNG. Runs offline; \
                      the manga pipeline's phase 7 uses it."
            .to_owned(),
        input_schema: json!({
            "type": "object",
            "title": "local/binder input",
            "additionalProperties": false,
            "required": ["meta", "pages"],
            "properties": {
                "meta": {
                    "type": "object",
                    "required": ["title", "language"],
                    "properties": {
                        "title": { "type": "string" }, "writer": { "type": ["string", "null"] },
                        "summary": { "type": ["string", "null"] }, "language": { "type": "string" },
                        "right_to_left": { "type": "boolean" },
                        "characters": { "type": "array", "items": { "type": "string" } }
                    }
                },
                "pages": { "type": "array", "minItems": 1, "maxItems": MAX_PAGES, "items": super::letterer::page_schema() }
            }
        }),
        estimated_seconds: 10,
        poll_timeout_secs: None,
        requires_config: None,
    }
}

impl BindParams {
    fn book_meta(&self) -> BookMeta {
        BookMeta {
            title: self.meta.title.clone(),
            writer: self.meta.writer.clone(),
            language: self.meta.language.clone(),
            right_to_left: self.meta.right_to_left,
            summary: self.meta.summary.clone(),
            characters: self.meta.characters.clone(),
        }
    }
}

#[async_trait]
impl LocalEngine for Binder {
    fn spec(&self) -> ModelSpec {
        spec()
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        let params: BindParams = parse_params(input)?;
        if params.pages.is_empty() || params.pages.len() > MAX_PAGES {
            return Err(invalid("pages", format!("1 to {MAX_PAGES} pages")));
        }
        for (index, page) in params.pages.iter().enumerate() {
            page.check(&format!("pages[{index}]"))?;
        }
        to_json(&params)
    }

    fn input_files(&self, input: &Value) -> Vec<String> {
        serde_json::from_value::<BindParams>(input.clone())
            .map(|params| params.pages.iter().flat_map(PageSpec::images).collect())
            .unwrap_or_default()
    }

    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError> {
        let params: BindParams = parse_params(job.input).map_err(rejected)?;
        let fonts = fonts()?;
        let meta = params.book_meta();
        let total = params.pages.len() * 2 + 1;
        // The PDF is bound on a thread of its own as the pages come (krilla's
        // document stays on one thread), so only a page or two is held at a time.
        let (pages_tx, mut pages_rx) = tokio::sync::mpsc::channel::<atelier_book::Page>(1);
        let pdf = {
            let (fonts, meta) = (fonts.clone(), meta.clone());
            tokio::task::spawn_blocking(move || {
                let mut book = atelier_book::PdfBook::new();
                while let Some(page) = pages_rx.blocking_recv() {
                    book.add_page(&fonts, &page).map_err(book_error)?;
                }
                book.finish(&meta).map_err(book_error)
            })
        };
        let mut pngs: Vec<Bytes> = Vec::with_capacity(params.pages.len());
        let mut sizes = Vec::with_capacity(params.pages.len());
        let mut fits = Vec::with_capacity(params.pages.len());
        for (index, spec) in params.pages.iter().enumerate() {
            let images = open_images(spec, job.files).await?;
            let (spec, fonts) = (spec.clone(), fonts.clone());
            let (page, fit, png) = tokio::task::spawn_blocking(move || {
                let (page, fit) = build_page(&spec, images, &fonts)?;
                let png = atelier_book::render_png(&fonts, &page, &chunks(&spec)).map_err(book_error)?;
                Ok::<_, ProviderError>((page, fit, png))
            })
            .await
            .map_err(failed)??;
            sizes.push((page.width, page.height));
            pngs.push(Bytes::from(png));
            fits.push(json!({ "number": index + 1, "balloons": fit }));
            set_progress(&job.progress, index + 1, total);
            if pages_tx.send(page).await.is_err() {
                break; // The PDF failed; its error is below.
            }
        }
        drop(pages_tx);
        let pdf = pdf.await.map_err(failed)??;
        job.progress.store(((pngs.len() * 2) * 100 / total.max(1)) as u8, Ordering::Relaxed);
        let page_count = pngs.len();
        let cbz = {
            let (pngs, sizes, meta) = (pngs.clone(), sizes.clone(), meta.clone());
            tokio::task::spawn_blocking(move || atelier_book::build_cbz(&pngs, &sizes, &meta).map_err(book_error))
                .await
                .map_err(failed)??
        };
        let manifest = json!({
            "title": meta.title,
            "page_count": page_count,
            "right_to_left": meta.right_to_left,
            "pdf_bytes": pdf.len(),
            "cbz_bytes": cbz.len(),
            "pages": fits,
        });
        let manifest = serde_json::to_vec_pretty(&manifest).map_err(|error| {
            ProviderError::new(ErrorClass::GenerationFailed, format!("encoding the manifest: {error}"))
        })?;
        let mut outputs = vec![
            Output::new(manifest, atelier_core::text::JSON_MIME),
            Output::new(pdf, "application/pdf"),
            Output::new(cbz, CBZ_MIME),
        ];
        outputs.extend(
            pngs.into_iter()
                .zip(sizes)
                .map(|(png, (width, height))| Output::new(png, "image/png").with_size(width, height)),
        );
        Ok(outputs)
    }
}

fn failed(error: tokio::task::JoinError) -> ProviderError {
    ProviderError::new(ErrorClass::GenerationFailed, format!("the binder failed: {error}"))
}
