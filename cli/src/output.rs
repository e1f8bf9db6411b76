//! Shared output helpers: exit codes, logging, JSON printing and number formatting.

use std::process::ExitCode;

/// A command that ran to completion (or a verification that passed).
pub(crate) const EXIT_OK: u8 = 0;
/// A verification whose verdict is `fail`.
pub(crate) const EXIT_FAIL: u8 = 1;
/// A usage, input or I/O error.
pub(crate) const EXIT_ERROR: u8 = 2;
/// A verification whose verdict is `inconclusive`.
pub(crate) const EXIT_INCONCLUSIVE: u8 = 3;

/// The exit code of a command that succeeded.
pub(crate) fn ok() -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(EXIT_OK))
}

/// The async runtime a command blocks on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    anyhow::Context::context(tokio::runtime::Runtime::new(), "starting the async runtime")
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warn, or info with `-v`).
pub(crate) fn init_logging(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A log10 value as JSON: a number, or null for -infinity.
pub(crate) fn log10_json(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(x)
    } else {
        serde_json::Value::Null
    }
}

/// A probability given in log10, for humans: `1.0e-40`, `0.25`, or `0` for -infinity.
pub(crate) fn format_log10_prob(x: f64) -> String {
    if x == f64::NEG_INFINITY {
        return "0".to_string();
    }
    if x >= -3.0 {
        return format!("{:.3}", 10f64.powf(x));
    }
    let exponent = x.floor();
    let mantissa = 10f64.powf(x - exponent);
    format!("{mantissa:.1}e{exponent}")
}
