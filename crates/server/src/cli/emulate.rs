//! `atelier emulate kie|openai|azure|google|volcengine|a1111|sdcpp|comfyui|stability --listen ADDR`: a provider's protocol, served
//! locally, for trying Atelier (and testing it) without an account; and
//! `atelier emulate trellis-worker --server URL --key atw_…`, a GPU worker that pulls
//! from an Atelier server.
//!
//! Only with the `emulators` feature (on by default): a slim build leaves the
//! emulators out.

use std::process::ExitCode;

use anyhow::Context;
use atelier_emulators::faults::{FaultPlan, FaultRule, RuleEndpoint};
use atelier_emulators::kie::{KieEmulator, KieEmulatorConfig, parse_fault_rule};
use atelier_emulators::openai::{Flavour, OpenAiEmulator, OpenAiEmulatorConfig};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum EmulateCommand {
    /// Kie.ai: the market jobs API (Imagen 4, Sora 2), Veo 3, Midjourney, the
    /// file-upload API, credits and result files, all on one address.
    Kie(KieArgs),
    /// OpenAI: images (generations, edits), speech and videos, under /v1.
    Openai(OpenAiArgs),
    /// Azure OpenAI: the same APIs under /openai/deployments/{deployment}/… and
    /// /openai/videos, with the api-key header and a required api-version.
    Azure(AzureArgs),
    /// VolcEngine's visual API: signed (HMAC-SHA256 V4) CVProcess and the
    /// CVSync2Async jobs, for the Jimeng and General models.
    Volcengine(VolcEngineArgs),
    /// Google's Gemini API under /v1beta: Imagen (:predict), Veo
    /// (:predictLongRunning and its operations, downloads with the key) and
    /// Gemini's generateContent (images, and text with JSON schemas).
    Google(GoogleArgs),
    /// AUTOMATIC1111 / Forge: /sdapi/v1 txt2img and img2img, progress, interrupt,
    /// checkpoints and samplers, optional HTTP Basic auth.
    A1111(A1111Args),
    /// stable-diffusion.cpp's sd-server: its OpenAI-compatible, AUTOMATIC1111-compatible
    /// and native job APIs.
    Sdcpp(SdCppArgs),
    /// ComfyUI: /prompt, /history, /view, /upload/image, /queue, /interrupt,
    /// /object_info and the /ws progress messages.
    Comfyui(ComfyUiArgs),
    /// Stability AI's REST v2beta: /v2beta/stable-image/generate/{core,ultra,sd3}.
    Stability(StabilityArgs),
    /// A TRELLIS GPU worker, emulated: pulls the trellis models' tasks from an
    /// Atelier server with a worker key and completes them with real meshes (a
    /// relief of the picture standing in for TRELLIS), or misbehaves on demand.
    TrellisWorker(TrellisWorkerArgs),
}

#[derive(Debug, Args)]
pub struct TrellisWorkerArgs {
    /// The Atelier server to pull from.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The worker key an admin made (POST /api/v1/admin/worker-keys).
    #[arg(long, env = "ATELIER_WORKER_KEY", hide_env_values = true)]
    pub key: String,
    /// A model to claim (repeatable; default: every model the key serves).
    #[arg(long = "model")]
    pub models: Vec<String>,
    /// A fault `KIND[:TRIGGER]` (repeatable), counted over the tasks it claims:
    /// crash (dies mid-job, exit 137), silent (goes quiet on the task), hang (never
    /// finishes), fail (generation_failed), oom (provider_error, retried). Triggers:
    /// always, first=K, every=N, p=P.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Steps per job, each reported as progress.
    #[arg(long, default_value_t = 4)]
    pub steps: u32,
    /// Milliseconds per step (a slow GPU).
    #[arg(long, default_value_t = 0)]
    pub step_ms: u64,
    /// This worker's name among several on one key.
    #[arg(long, default_value = "emulated")]
    pub instance: String,
    /// Seeds probabilistic faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Work on one claim's tasks and exit (0 when it got none too).
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct StabilityArgs {
    #[arg(long, default_value = "127.0.0.1:9141")]
    pub listen: String,
    /// The API key it accepts (Authorization: Bearer).
    #[arg(long, default_value = "test-key")]
    pub api_key: String,
    /// A fault rule `ENDPOINT:TRIGGER:FAULT` (repeatable). Endpoints: core, ultra, sd3, any.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct ComfyUiArgs {
    #[arg(long, default_value = "127.0.0.1:8188")]
    pub listen: String,
    /// A fault rule `ENDPOINT:TRIGGER:FAULT` (repeatable). Endpoints: prompt, history,
    /// view, upload, queue, interrupt, object_info, ws, any.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Milliseconds per sampling step (0: at once).
    #[arg(long, default_value_t = 0)]
    pub step_ms: u64,
}

#[derive(Debug, Args)]
pub struct A1111Args {
    #[arg(long, default_value = "127.0.0.1:7860")]
    pub listen: String,
    /// HTTP Basic credentials it requires, `user:password` (as --api-auth).
    #[arg(long)]
    pub api_auth: Option<String>,
    /// A fault rule `ENDPOINT:TRIGGER:FAULT`, such as `txt2img:first=1:oom` or
    /// `txt2img:always:restart` (repeatable). Endpoints: txt2img, img2img, progress,
    /// interrupt, models, any.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Milliseconds per sampling step (0: at once).
    #[arg(long, default_value_t = 0)]
    pub step_ms: u64,
}

#[derive(Debug, Args)]
pub struct SdCppArgs {
    #[arg(long, default_value = "127.0.0.1:1234")]
    pub listen: String,
    /// A fault rule `ENDPOINT:TRIGGER:FAULT` (repeatable). Endpoints: generations,
    /// edits, txt2img, img2img, img_gen, jobs, cancel, any.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Milliseconds per sampling step (0: at once).
    #[arg(long, default_value_t = 0)]
    pub step_ms: u64,
}

#[derive(Debug, Args)]
pub struct GoogleArgs {
    #[arg(long, default_value = "127.0.0.1:9131")]
    pub listen: String,
    /// The API key it accepts (x-goog-api-key, or ?key=).
    #[arg(long, default_value = "test-key")]
    pub api_key: String,
    /// A fault rule `ENDPOINT:TRIGGER:FAULT`, such as `predict:always:safety` or
    /// `operations:every=2:status=429,retry_after_seconds=3` (repeatable). Endpoints:
    /// predict, predict_long_running, operations, generate_content, files, any.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Seeds probabilistic faults, the images and the operation ids.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Operation polls before a video is done.
    #[arg(long, default_value_t = 2)]
    pub steps: u32,
    /// Answer video downloads with a redirect to a keyless storage URL.
    #[arg(long)]
    pub redirect_downloads: bool,
}

#[derive(Debug, Args)]
pub struct VolcEngineArgs {
    #[arg(long, default_value = "127.0.0.1:9121")]
    pub listen: String,
    /// The access key id it accepts.
    #[arg(long, default_value = "test-ak")]
    pub access_key_id: String,
    /// The secret key signatures are checked with.
    #[arg(long, default_value = "test-sk")]
    pub secret_access_key: String,
    /// A fault rule `ENDPOINT:TRIGGER:FAULT`, such as `submit_task:every=3:status=50429`
    /// or `get_result:always:expired` (repeatable). Endpoints: cv_process,
    /// submit_task, get_result, files, any. A request header `X-Emulator-Fault` also injects one.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Seeds probabilistic faults, the images and the task ids.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Result polls before a job is done.
    #[arg(long, default_value_t = 2)]
    pub steps: u32,
    /// Answers 50429 past this many calls per second (off when absent).
    #[arg(long)]
    pub qps_limit: Option<u32>,
}

#[derive(Debug, Args)]
pub struct OpenAiArgs {
    #[arg(long, default_value = "127.0.0.1:9111")]
    pub listen: String,
    /// The API key it accepts (Authorization: Bearer for OpenAI, api-key for Azure).
    #[arg(long, default_value = "test-key")]
    pub api_key: String,
    /// A fault rule `ENDPOINT:TRIGGER:FAULT`, such as
    /// `images.generations:every=3:status=500` or `videos.retrieve:always:generation_failed`
    /// (repeatable). A request header `X-Emulator-Fault: FAULT` also injects one.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Seeds probabilistic faults and the images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Polls before a video completes.
    #[arg(long, default_value_t = 2)]
    pub steps: u32,
    /// The `openai-poll-after-ms` header on video answers.
    #[arg(long, default_value_t = 1000)]
    pub poll_after_ms: u64,
    /// A chat model it answers (repeatable; default gpt-4o-mini and gpt-4.1-mini):
    /// as a stand-in for a chat server of your own, name its models.
    #[arg(long = "chat-model")]
    pub chat_models: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AzureArgs {
    #[command(flatten)]
    pub common: OpenAiArgs,
    /// A deployment and the model it serves, `NAME=MODEL` (repeatable); a deployment
    /// named as a model needs none.
    #[arg(long = "deployment")]
    pub deployments: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KieArgs {
    #[arg(long, default_value = "127.0.0.1:9101")]
    pub listen: String,
    /// The API key it accepts.
    #[arg(long, default_value = "test-key")]
    pub api_key: String,
    /// A fault rule `ENDPOINT:TRIGGER:FAULT`, such as `createTask:every=3:status=500`
    /// (repeatable). A request header `X-Emulator-Fault: FAULT` also injects one.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Seeds probabilistic faults and the result images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Polls before a task succeeds.
    #[arg(long, default_value_t = 2)]
    pub steps: u32,
    #[arg(long, default_value_t = 1000.0)]
    pub credits: f64,
    /// Signs callbacks with this key, as Kie does when webhook signing is on.
    #[arg(long)]
    pub webhook_hmac_key: Option<String>,
    /// Veo 1080p requests per task answered "processing" before the file.
    #[arg(long, default_value_t = 1)]
    pub hd_pending_requests: u32,
    /// How old uploads claim to be, in seconds (Kie deletes them after 3 days).
    #[arg(long, default_value_t = 0)]
    pub upload_age_secs: u64,
    /// Turns off the emulated rate limits (createTask and recordInfo), for benchmarks.
    #[arg(long)]
    pub no_rate_limits: bool,
    /// How long after its creation a task with a callback URL finishes on its own
    /// and sends its callback, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub callback_delay_ms: u64,
}

pub async fn run(command: EmulateCommand) -> anyhow::Result<ExitCode> {
    match command {
        EmulateCommand::Kie(args) => {
            let faults = fault_plan(&args.faults, parse_fault_rule)?;
            let mut config = KieEmulatorConfig {
                api_key: args.api_key,
                seed: args.seed,
                faults,
                steps_to_finish: args.steps,
                credits: args.credits,
                webhook_hmac_key: args.webhook_hmac_key,
                hd_pending_requests: args.hd_pending_requests,
                upload_age: std::time::Duration::from_secs(args.upload_age_secs),
                callback_delay: std::time::Duration::from_millis(args.callback_delay_ms),
                ..KieEmulatorConfig::default()
            };
            if args.no_rate_limits {
                config.create_rate_limit = None;
                config.record_info_rate_limit = None;
            }
            serve(
                &args.listen,
                |address| format!("Kie.ai emulator listening on http://{address}"),
                |listener| KieEmulator::new(config).serve(listener),
            )
            .await
        }
        EmulateCommand::Openai(args) => serve_openai(args, Flavour::OpenAi, Vec::new()).await,
        EmulateCommand::Azure(args) => serve_openai(args.common, Flavour::Azure, args.deployments).await,
        EmulateCommand::Volcengine(args) => serve_volcengine(args).await,
        EmulateCommand::Google(args) => serve_google(args).await,
        EmulateCommand::A1111(args) => serve_a1111(args).await,
        EmulateCommand::Sdcpp(args) => serve_sdcpp(args).await,
        EmulateCommand::Comfyui(args) => serve_comfyui(args).await,
        EmulateCommand::Stability(args) => serve_stability(args).await,
        EmulateCommand::TrellisWorker(args) => run_trellis_worker(args).await,
    }
}

async fn run_trellis_worker(args: TrellisWorkerArgs) -> anyhow::Result<ExitCode> {
    use atelier_emulators::trellis_worker::{Exit, TrellisWorkerConfig, TrellisWorkerEmulator, WorkerFault};
    let faults = args
        .faults
        .iter()
        .map(|fault| fault.parse::<WorkerFault>().map_err(|error| anyhow::anyhow!("--fault {fault}: {error}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = TrellisWorkerConfig {
        models: args.models,
        instance: args.instance,
        steps: args.steps,
        step_ms: args.step_ms,
        faults,
        seed: args.seed,
        ..TrellisWorkerConfig::new(args.server.clone(), args.key)
    };
    let mut worker = TrellisWorkerEmulator::new(config);
    if args.once {
        for handled in worker.run_once().await.context("the emulated TRELLIS worker")? {
            println!("{} {} {:?}", handled.task_id, handled.model, handled.outcome);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("emulated TRELLIS worker pulling from {}", args.server.trim_end_matches('/'));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::app::shutdown_signal().await;
        let _ = stop.send(true);
    });
    match worker.run(stopped).await.context("the emulated TRELLIS worker")? {
        Exit::Stopped => Ok(ExitCode::SUCCESS),
        Exit::Crashed { task_id } => {
            eprintln!("emulated crash while working on task {task_id} (the fault asked for it)");
            Ok(ExitCode::from(137))
        }
    }
}

async fn serve_stability(args: StabilityArgs) -> anyhow::Result<ExitCode> {
    use atelier_emulators::stability::{StabilityEmulator, StabilityEmulatorConfig, parse_fault_rule};
    let faults = fault_plan(&args.faults, parse_fault_rule)?;
    let config = StabilityEmulatorConfig {
        api_key: args.api_key,
        seed: args.seed,
        faults,
        ..StabilityEmulatorConfig::default()
    };
    serve(
        &args.listen,
        |address| format!("Stability AI emulator listening on http://{address}"),
        |listener| StabilityEmulator::new(config).serve(listener),
    )
    .await
}

async fn serve_comfyui(args: ComfyUiArgs) -> anyhow::Result<ExitCode> {
    use atelier_emulators::comfyui::{ComfyUiEmulator, ComfyUiEmulatorConfig, parse_fault_rule};
    let faults = fault_plan(&args.faults, parse_fault_rule)?;
    let config =
        ComfyUiEmulatorConfig { seed: args.seed, faults, step_ms: args.step_ms, ..ComfyUiEmulatorConfig::default() };
    serve(
        &args.listen,
        |address| format!("ComfyUI emulator listening on http://{address}"),
        |listener| ComfyUiEmulator::new(config).serve(listener),
    )
    .await
}

async fn serve_a1111(args: A1111Args) -> anyhow::Result<ExitCode> {
    use atelier_emulators::a1111::{A1111Emulator, A1111EmulatorConfig, parse_fault_rule};
    let faults = fault_plan(&args.faults, parse_fault_rule)?;
    let auth = match &args.api_auth {
        Some(pair) => {
            let (user, password) =
                pair.split_once(':').ok_or_else(|| anyhow::anyhow!("--api-auth {pair}: expected user:password"))?;
            Some((user.to_owned(), password.to_owned()))
        }
        None => None,
    };
    let config =
        A1111EmulatorConfig { auth, seed: args.seed, faults, step_ms: args.step_ms, ..A1111EmulatorConfig::default() };
    serve(
        &args.listen,
        |address| format!("AUTOMATIC1111 emulator listening on http://{address}"),
        |listener| A1111Emulator::new(config).serve(listener),
    )
    .await
}

async fn serve_sdcpp(args: SdCppArgs) -> anyhow::Result<ExitCode> {
    use atelier_emulators::sdcpp::{SdCppEmulator, SdCppEmulatorConfig, parse_fault_rule};
    let faults = fault_plan(&args.faults, parse_fault_rule)?;
    let config =
        SdCppEmulatorConfig { seed: args.seed, faults, step_ms: args.step_ms, ..SdCppEmulatorConfig::default() };
    serve(
        &args.listen,
        |address| format!("stable-diffusion.cpp emulator listening on http://{address}"),
        |listener| SdCppEmulator::new(config).serve(listener),
    )
    .await
}

async fn serve_google(args: GoogleArgs) -> anyhow::Result<ExitCode> {
    use atelier_emulators::google::{GoogleEmulator, GoogleEmulatorConfig, parse_fault_rule};
    let faults = fault_plan(&args.faults, parse_fault_rule)?;
    let config = GoogleEmulatorConfig {
        api_key: args.api_key,
        seed: args.seed,
        faults,
        steps_to_finish: args.steps,
        redirect_downloads: args.redirect_downloads,
        ..GoogleEmulatorConfig::default()
    };
    serve(
        &args.listen,
        |address| format!("Google emulator listening on http://{address} (API root http://{address}/v1beta)"),
        |listener| GoogleEmulator::new(config).serve(listener),
    )
    .await
}

async fn serve_volcengine(args: VolcEngineArgs) -> anyhow::Result<ExitCode> {
    use atelier_emulators::volcengine::{VolcEngineEmulator, VolcEngineEmulatorConfig, parse_fault_rule};
    let faults = fault_plan(&args.faults, parse_fault_rule)?;
    let config = VolcEngineEmulatorConfig {
        access_key_id: args.access_key_id,
        secret_access_key: args.secret_access_key,
        seed: args.seed,
        faults,
        steps_to_finish: args.steps,
        qps_limit: args.qps_limit,
        ..VolcEngineEmulatorConfig::default()
    };
    serve(
        &args.listen,
        |address| format!("VolcEngine emulator listening on http://{address}"),
        |listener| VolcEngineEmulator::new(config).serve(listener),
    )
    .await
}

async fn serve_openai(args: OpenAiArgs, flavour: Flavour, deployments: Vec<String>) -> anyhow::Result<ExitCode> {
    let faults = fault_plan(&args.faults, atelier_emulators::openai::parse_fault_rule)?;
    let deployments = deployments
        .iter()
        .map(|pair| {
            let (name, model) =
                pair.split_once('=').ok_or_else(|| anyhow::anyhow!("--deployment {pair}: expected NAME=MODEL"))?;
            Ok((name.trim().to_owned(), model.trim().to_owned()))
        })
        .collect::<anyhow::Result<_>>()?;
    let config = OpenAiEmulatorConfig {
        flavour,
        api_key: args.api_key,
        deployments,
        seed: args.seed,
        faults,
        steps_to_finish: args.steps,
        poll_after_ms: args.poll_after_ms,
        chat_models: if args.chat_models.is_empty() {
            OpenAiEmulatorConfig::default().chat_models
        } else {
            args.chat_models
        },
        ..OpenAiEmulatorConfig::default()
    };
    let banner = |address| match flavour {
        Flavour::OpenAi => format!("OpenAI emulator listening on http://{address} (API root http://{address}/v1)"),
        Flavour::Azure => format!("Azure OpenAI emulator listening on http://{address} (endpoint http://{address})"),
    };
    serve(&args.listen, banner, |listener| OpenAiEmulator::new(config).serve(listener)).await
}

/// The `--fault` rules as an emulator's plan.
fn fault_plan<E: RuleEndpoint>(
    rules: &[String],
    parse: fn(&str) -> Result<FaultRule<E>, String>,
) -> anyhow::Result<FaultPlan<E>> {
    rules.iter().try_fold(FaultPlan::none(), |plan, rule| {
        Ok(plan.with(parse(rule).map_err(|error| anyhow::anyhow!("--fault {rule}: {error}"))?))
    })
}

async fn bind(address: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address}"))
}

/// Binds `listen`, prints the banner tests and benchmarks read the address from,
/// and serves until the emulator stops.
async fn serve<F>(
    listen: &str,
    banner: impl FnOnce(std::net::SocketAddr) -> String,
    run: impl FnOnce(tokio::net::TcpListener) -> F,
) -> anyhow::Result<ExitCode>
where
    F: std::future::Future<Output = std::io::Result<()>>,
{
    let listener = bind(listen).await?;
    eprintln!("{}", banner(listener.local_addr()?));
    run(listener).await.context("serving the emulator")?;
    Ok(ExitCode::SUCCESS)
}
