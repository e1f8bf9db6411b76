//! `vtune-node inspect`: a dataset's layout, row count, size and length statistics.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vtune_protocol::dataset::{self, Format, LengthStats, Limits, Reader, Summary};

use crate::output;

/// Files at least this large get a progress bar.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// Show a dataset's format, row count, size, and prompt and completion lengths.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
The format is detected from the first non-whitespace byte ('[': a JSON array, '{': JSONL) and \
the first record's keys (messages: openai-chat, prompt/completion: prompt-completion, \
instruction/output: alpaca, conversations: sharegpt); every record is then checked against it, \
and the first malformed record is reported with its file, line and field (exit code 2).

Lengths are counted in characters and in whitespace-separated tokens. A chat prompt is every \
turn before the last assistant turn, joined by newlines; the completion is that turn. p50 and \
p90 are exact below 1024 and within 1.6% above.")]
pub(crate) struct Args {
    /// The dataset: JSONL (one record per line) or a JSON array of records.
    file: PathBuf,
    /// Read the records as this format instead of detecting it.
    #[arg(
        long,
        value_name = "FORMAT",
        value_parser = PossibleValuesParser::new(Format::ALL.map(Format::name))
            .map(|name| name.parse::<Format>().expect("a listed format name")),
    )]
    format: Option<Format>,
    /// Reject records (lines or array elements) longer than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_record_bytes)]
    max_record_bytes: usize,
    /// Print one JSON object: file, format (openai-chat, prompt-completion, alpaca or
    /// sharegpt), container (jsonl or json-array), rows, bytes, and for prompt and completion
    /// the chars and tokens statistics (min, mean, p50, p90, max).
    #[arg(long)]
    json: bool,
}

/// Runs `vtune-node inspect`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let name = args.file.display().to_string();
    let file = File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
    let bytes = file
        .metadata()
        .with_context(|| format!("cannot read the size of {name}"))?
        .len();
    let limits = Limits {
        max_record_bytes: args.max_record_bytes,
    };
    let mut reader = Reader::detect(
        &name,
        BufReader::with_capacity(1 << 20, file),
        args.format,
        limits,
    )?;
    let layout = reader.layout();
    let progress = progress_bar(bytes, args.json);
    let mut summary = Summary::default();
    while let Some(raw) = reader.next_raw() {
        let raw = raw?;
        let location = raw.location(layout.container);
        summary.add(&dataset::parse_example(
            &name,
            location,
            raw.bytes,
            layout.format,
        )?);
        if summary.rows % 4096 == 0 {
            progress.set_position(reader.bytes_read());
        }
    }
    progress.finish_and_clear();

    if args.json {
        output::print_json(&serde_json::json!({
            "file": name,
            "format": layout.format,
            "container": layout.container,
            "rows": summary.rows,
            "bytes": bytes,
            "prompt": summary.prompt,
            "completion": summary.completion,
        }))?;
    } else {
        println!("file        {name}");
        println!("format      {}", layout.format);
        println!("container   {}", layout.container);
        println!("rows        {}", summary.rows);
        println!("bytes       {bytes} ({})", indicatif::HumanBytes(bytes));
        println!();
        println!(
            "{:<20}{:>10}{:>12}{:>10}{:>10}{:>10}",
            "length", "min", "mean", "p50", "p90", "max"
        );
        for (label, stats) in [
            ("prompt chars", &summary.prompt.chars),
            ("prompt tokens", &summary.prompt.tokens),
            ("completion chars", &summary.completion.chars),
            ("completion tokens", &summary.completion.tokens),
        ] {
            println!("{}", stats_row(label, stats));
        }
    }
    output::ok()
}

/// One row of the length table.
fn stats_row(label: &str, stats: &LengthStats) -> String {
    format!(
        "{label:<20}{:>10}{:>12.1}{:>10}{:>10}{:>10}",
        stats.min(),
        stats.mean(),
        stats.quantile(0.5),
        stats.quantile(0.9),
        stats.max()
    )
}

/// A byte progress bar on stderr for large files; hidden for `--json`, for small files, and
/// when stderr is not a terminal.
fn progress_bar(bytes: u64, json: bool) -> ProgressBar {
    if json || bytes < PROGRESS_MIN_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} reading [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
