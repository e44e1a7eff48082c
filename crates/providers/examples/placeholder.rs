//! Renders placeholder images and reports how long each took.
//!
//! `cargo run --release -p atelier-providers --example placeholder -- "a red fox" 1024 1024 [out.png]`

use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::Instant;

use atelier_core::TaskId;
use atelier_core::ports::{Job, Provider, Submitted};
use atelier_providers::{LocalConfig, LocalProvider, font_report};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prompt = args.first().cloned().unwrap_or_else(|| "a red fox in the snow".to_owned());
    let width: u32 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let height: u32 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let out = args.get(3).cloned();

    let started = Instant::now();
    let report = tokio::task::spawn_blocking(font_report).await?;
    println!("fonts: {report:?} (indexed in {:?})", started.elapsed());

    let provider = LocalProvider::new(LocalConfig::default());
    for seed in 0..6u32 {
        let input = provider.validate(
            "placeholder",
            &serde_json::json!({ "prompt": prompt, "width": width, "height": height, "seed": seed }),
        )?;
        let job = Job {
            running_for: std::time::Duration::ZERO,
            task_id: TaskId::new(),
            model: "placeholder",
            input: &input,
            attempt: 1,
            progress: Arc::new(AtomicU8::new(0)),
            files: &atelier_core::ports::NoInputFiles,
        };
        let started = Instant::now();
        let Submitted::Finished(outputs) = provider.submit(&job).await? else {
            return Err("expected a finished submit".into());
        };
        let elapsed = started.elapsed();
        let bytes = outputs.first().and_then(|o| o.bytes()).map_or(0, |b| b.len());
        println!("seed {seed}: {width}x{height} in {elapsed:?}, {bytes} bytes");
        if let (Some(path), Some(output)) = (&out, outputs.first()) {
            let path = if seed == 0 { path.clone() } else { format!("{path}.{seed}.png") };
            std::fs::write(path, output.bytes().map(|b| &b[..]).unwrap_or_default())?;
        }
    }
    Ok(())
}
