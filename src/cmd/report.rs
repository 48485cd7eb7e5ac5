//! `leaktop report FILE`: summarise, chart, slice or convert a recording.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use leaktop::exit_codes::ExitCode as Exit;
use leaktop::format::Format;
use leaktop::host::Host;
use leaktop::report;

use super::options::FormatArg;
use super::width::{Stream, WideArg};

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// A tick-log or NDJSON recording.
    pub(crate) file: PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long, conflicts_with_all = ["tick", "convert"])]
    pub(crate) json: bool,
    /// Also draw total, live and leaked RSS over time as an SVG chart; `-` writes it to
    /// standard output instead of the summary.
    #[arg(long, value_name = "OUT.svg")]
    pub(crate) svg: Option<PathBuf>,
    /// Print only tick N, as a tick-log snapshot (header and that tick).
    #[arg(long, value_name = "N", conflicts_with = "convert")]
    pub(crate) tick: Option<u32>,
    /// Rewrite the whole recording in this format (to --out, or standard output).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) convert: Option<FormatArg>,
    /// Where --convert writes; `-` is standard output.
    #[arg(long, short, value_name = "FILE", requires = "convert")]
    pub(crate) out: Option<PathBuf>,
    /// Refuse a recording with a damaged line (exit 1), instead of skipping the tick it
    /// is in with a warning that says which lines were skipped and why.
    #[arg(long)]
    pub(crate) strict: bool,
    #[command(flatten)]
    pub(crate) wide: WideArg,
}

pub(crate) fn run(host: Arc<dyn Host>, args: ReportArgs) -> Result<Exit, super::Error> {
    report::run(
        host.as_ref(),
        &report::Options {
            file: args.file,
            json: args.json,
            svg: args.svg,
            tick: args.tick,
            convert: args.convert.map(Format::from),
            out: args.out,
            strict: args.strict,
            width: args.wide.width(Stream::Stdout),
        },
    )
    .map_err(anyhow::Error::from)?;
    Ok(Exit::Success)
}
