//! `vtune-node`: verifiable fine-tuning, from the command line.
//!
//! `main` parses flags, runs one command, and turns its result into an exit code.

mod alloc;
mod commands;
mod flags;
mod output;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: alloc::HugePages = alloc::HugePages;

fn main() -> ExitCode {
    restore_sigpipe();
    return_large_blocks();
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

/// Makes glibc serve every allocation of 1 MiB or more with its own mapping, so that freeing a
/// large table gives its memory back at once. By default glibc raises that threshold as large
/// blocks are freed and then keeps freed tables in its heap, which holds the peak memory of
/// `prepare` (tables of tens of MB freed and made in turn) well above what is live.
fn return_large_blocks() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
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
