//! `atelier`: the server, the workers and the command-line client in one binary.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = atelier::cli::Cli::parse();
    if matches!(args.command, atelier::cli::Command::Serve(_) | atelier::cli::Command::Worker(_)) {
        limit_malloc_arenas();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(atelier::cli::run(args)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    };
    // The last spans and log lines out, while the runtime (which sends the spans)
    // still runs.
    atelier::telemetry::finish();
    // Whatever is still running (a drain that ran out of time left a blocking
    // call on a dead database, say) does not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// glibc's allocator keeps an arena per thread (up to eight a core), and the buffers
/// the blocking threads free (a manga's page images, its panels' pixels) stay in
/// them: a 50,000-character manga peaked at 971 MB of RSS, and with two arenas at
/// 550 MB, at the same speed. glibc reads the limit
/// from the environment when a process starts, so the server and the workers start
/// again in place (`exec`: the same process id) with `MALLOC_ARENA_MAX=2`, unless
/// the variable is set already (set it to choose another limit).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MALLOC_ARENA_MAX";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    // `exec` returns only when it failed; the server then runs on as it is.
    let error = std::process::Command::new(exe).args(std::env::args_os().skip(1)).env(VAR, "2").exec();
    eprintln!("warning: could not start again with {VAR}=2 ({error}); running with glibc's default arenas");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
