//! `atelier completions bash|zsh|fish|elvish|powershell`: the shell's completion
//! script, made from the same clap definition as the parser, so it never drifts.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

pub fn run(shell: Shell) -> anyhow::Result<ExitCode> {
    // Made in memory first: clap_complete panics when its writer fails (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "atelier", &mut script);
    std::io::stdout().lock().write_all(&script).context("writing the completion script")?;
    Ok(ExitCode::SUCCESS)
}
