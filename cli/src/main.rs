//! `vtune-node`: verifiable fine-tuning, from the command line.
//!
//! `main` parses flags, runs one command, and turns its result into an exit code.

mod commands;
mod flags;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_sigpipe();
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

/// Lets `vtune-node ... | head` end quietly, as Unix tools do, instead of panicking on a
/// closed pipe (Rust ignores SIGPIPE by default).
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to the default, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
