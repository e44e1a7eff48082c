//! Figure 3: placeholder render and thumbnail time per 1024×1024 image, in process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use atelier_core::TaskId;
use atelier_core::ports::{Job, Provider, Submitted};
use atelier_providers::local::placeholder;
use atelier_providers::local::text::FontSet;
use atelier_providers::{LocalConfig, LocalProvider};
use serde_json::json;

use crate::plan::Plan;
use crate::report::{Report, ms, stats};

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "in-process";
    let n = plan.render_images;
    eprintln!("[{scope}] placeholder render + thumbnail: {n} images of 1024x1024");
    let provider = LocalProvider::new(LocalConfig::new(false));
    let input_for = |seed: usize| json!({"prompt": "a lighthouse on a cliff at dusk, oil painting", "width": 1024, "height": 1024, "seed": seed});

    // The first render loads the system fonts: measured apart.
    let warm_params = placeholder::parse(&input_for(1_000_000)).map_err(|e| anyhow!("{e}"))?;
    let warm = Instant::now();
    let fonts = FontSet::system();
    let font_load = warm.elapsed();
    let _ = placeholder::render_image(&warm_params, 1_000_000, fonts);
    let first_render = warm.elapsed();

    let (mut paint, mut submit, mut encode_est, mut thumb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut png_bytes, mut thumb_bytes) = (0usize, 0usize);
    for seed in 0..n {
        let input = input_for(seed);
        let params = placeholder::parse(&input).map_err(|e| anyhow!("{e}"))?;

        let t = Instant::now();
        let image = placeholder::render_image(&params, seed as u32, fonts);
        let paint_time = t.elapsed();
        if image.dimensions() != (1024, 1024) {
            bail!("rendered {:?}, expected 1024x1024", image.dimensions());
        }
        drop(image);

        let validated = provider.validate(placeholder::MODEL, &input).map_err(|e| anyhow!("{e}"))?;
        let job = Job {
            running_for: std::time::Duration::ZERO,
            task_id: TaskId::new(),
            model: placeholder::MODEL,
            input: &validated,
            attempt: 1,
            progress: Arc::new(Default::default()),
            files: &atelier_core::ports::NoInputFiles,
        };
        let t = Instant::now();
        let submitted = provider.submit(&job).await.map_err(|e| anyhow!("placeholder submit: {e:?}"))?;
        let submit_time = t.elapsed();
        let outputs = match submitted {
            Submitted::Finished(outputs) => outputs,
            Submitted::Accepted { .. } => bail!("the placeholder engine did not finish in submit"),
        };
        let output = outputs.into_iter().next().context("the placeholder engine gave no output")?;
        let bytes = output.bytes().context("the placeholder engine renders in memory")?;
        png_bytes += bytes.len();

        let t = Instant::now();
        let thumbnail = atelier_assets::thumbnail::make_thumbnail(bytes, &output.mime)
            .map_err(|e| anyhow!("thumbnail: {e}"))?
            .context("no thumbnail for a PNG")?;
        let thumb_time = t.elapsed();
        thumb_bytes += thumbnail.bytes.len();

        paint.push(paint_time);
        submit.push(submit_time);
        encode_est.push(submit_time.saturating_sub(paint_time));
        thumb.push(thumb_time);
    }
    let line = |report: &mut Report, name: &str, samples: &[Duration], notes: String| {
        let s = stats(samples);
        report.add(scope, format!("{name}, mean"), format!("{:.1}", s.mean), "ms/image", notes);
        report.add(scope, format!("{name}, p50"), format!("{:.1}", s.p50), "ms/image", "");
        report.add(scope, format!("{name}, p99"), format!("{:.1}", s.p99), "ms/image", "");
    };
    let samples = format!("{n} images, 1024x1024, distinct seeds, 1 thread");
    line(report, "placeholder paint (render_image, pixels only)", &paint, samples.clone());
    line(
        report,
        "placeholder render via Provider::submit (paint + PNG encode)",
        &submit,
        format!("{samples}; mean PNG {:.0} KiB", png_bytes as f64 / n.max(1) as f64 / 1024.0),
    );
    let e = stats(&encode_est);
    report.add(
        scope,
        "  of which PNG encode etc. (submit minus paint, same seed), mean",
        format!("{:.1}", e.mean),
        "ms/image",
        "difference of two separate runs",
    );
    line(
        report,
        "thumbnail (make_thumbnail: PNG decode, Lanczos3 to 256x256, WebP)",
        &thumb,
        format!("{samples}; mean WebP {:.1} KiB", thumb_bytes as f64 / n.max(1) as f64 / 1024.0),
    );
    let faces = fonts.report().faces;
    report.add(
        scope,
        "first render incl. system font indexing (not in the above)",
        format!("{:.1}", ms(first_render)),
        "ms",
        format!("font indexing {:.1} ms, {faces} faces", ms(font_load)),
    );
    Ok(())
}
