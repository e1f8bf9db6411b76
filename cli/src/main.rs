//! `vtune-node`: verifiable fine-tuning, from the command line.
//!
//! `main` parses flags, runs one command, and turns its result into an exit code.

mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    output::init_logging(cli.verbose);
    match cli.command.run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(output::EXIT_ERROR)
        }
    }
}
