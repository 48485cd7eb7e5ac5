//! `leaktop report FILE`: summarise, chart, slice or convert a recording.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use leaktop::format::{self, Format};
use leaktop::report;

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// A tick-log or NDJSON recording.
    pub(crate) file: PathBuf,
    /// Print the summary as one JSON object.
    #[arg(long, conflicts_with_all = ["tick", "convert"])]
    pub(crate) json: bool,
    /// Also draw total, live and leaked RSS over time as an SVG chart.
    #[arg(long, value_name = "OUT.svg")]
    pub(crate) svg: Option<PathBuf>,
    /// Print only tick N, as a tick-log snapshot (header and that tick).
    #[arg(long, value_name = "N", conflicts_with = "convert")]
    pub(crate) tick: Option<u32>,
    /// Rewrite the whole recording in this format (to --out, or standard output).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) convert: Option<Format>,
    /// Where --convert writes; `-` is standard output.
    #[arg(long, short, value_name = "FILE", requires = "convert")]
    pub(crate) out: Option<PathBuf>,
}

pub(crate) fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let name = args.file.display().to_string();
    let rec = format::read(&args.file)?;
    rec.require_ticks(&name)?;
    if let Some(cut) = &rec.truncated {
        say!(
            "leaktop: warning: {name}:{cut}; the incomplete last tick was dropped, reporting the {} complete ones",
            rec.ticks.len()
        );
    }
    let mut stdout = std::io::stdout().lock();
    if let Some(n) = args.tick {
        let tick = rec.ticks.iter().find(|t| t.tick == n).ok_or_else(|| {
            anyhow::anyhow!(
                "tick {n} is not in {name} (it has ticks {} to {})",
                rec.ticks.first().map_or(0, |t| t.tick),
                rec.ticks.last().map_or(0, |t| t.tick)
            )
        })?;
        let mut out = String::new();
        Format::Text.write_header(&rec.header, &mut out);
        Format::Text.write_tick(tick, &mut out);
        stdout.write_all(out.as_bytes())?;
    } else if let Some(to) = args.convert {
        let out = rec.write(to);
        match args.out.as_deref() {
            Some(path) if path.as_os_str() != "-" => std::fs::write(path, out)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
            _ => stdout.write_all(out.as_bytes())?,
        }
    }
    let summary = report::summarize(&rec);
    if let Some(svg) = &args.svg {
        report::svg::write(&rec, &summary, svg)?;
        say!("leaktop: wrote the chart to {}", svg.display());
    }
    if args.tick.is_none() && args.convert.is_none() {
        if args.json {
            serde_json::to_writer_pretty(&mut stdout, &summary)?;
            writeln!(stdout)?;
        } else {
            stdout.write_all(report::write_text(&summary, &name).as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
