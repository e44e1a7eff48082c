//! A fixed-answer upstream for the gateway figures: `POST /v1/images/generations`
//! answered at once, whatever was asked, with one image made before the first call
//! (a noisy 64×64 PNG, as `b64_json`). Through it, what a gateway adds is not lost in
//! the OpenAI emulator's own drawing of a 1024² picture (10 to 15 ms a call here). It
//! runs on the bench's own runtime, beside the load generator.

use std::io::Cursor;

use anyhow::{Context, Result};
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

use crate::noise::Noise;

/// The side of the answer's square image.
pub const SIDE: u32 = 64;

pub struct FixedUpstream {
    /// The API root (`http://127.0.0.1:PORT/v1`), as a `base_url` names it.
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl FixedUpstream {
    pub async fn start() -> Result<FixedUpstream> {
        let mut noise = Noise(0x2545_f491_4f6c_dd1d);
        let picture = image::RgbImage::from_fn(SIDE, SIDE, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, (noise.next(127) + 128) as u8])
        });
        let mut png = Cursor::new(Vec::new());
        picture.write_to(&mut png, image::ImageFormat::Png).context("encoding the fixed answer's PNG")?;
        let answer = json!({
            "created": 1_700_000_000,
            "data": [{ "b64_json": base64::engine::general_purpose::STANDARD.encode(png.into_inner()) }],
        });
        let body = axum::body::Bytes::from(serde_json::to_vec(&answer).context("the fixed answer")?);
        let app = axum::Router::new().route(
            "/v1/images/generations",
            post(move || {
                let body = body.clone();
                async move { ([(CONTENT_TYPE, "application/json")], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the fixed upstream")?;
        let base = format!("http://{}/v1", listener.local_addr().context("the fixed upstream's address")?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FixedUpstream { base, task })
    }
}

impl Drop for FixedUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
