//! `leaktop report FILE [--json | --tick N | --convert FORMAT] [--svg OUT]`, read as a
//! stream: one tick in memory at a time, whatever the recording's length.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::summary::Summarizer;
use super::svg::{self, Chart, SvgError};
use crate::format::{self, Format, NoTicks, ReadError, TickReader, io_message, shown_path};
use crate::host::{Create, Host};
use crate::model::{ProcRow, Tick};

/// What `leaktop report` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A tick-log or NDJSON recording.
    pub file: PathBuf,
    /// The summary as one JSON object instead of text.
    pub json: bool,
    /// Also draw the chart into this SVG file.
    pub svg: Option<PathBuf>,
    /// Print only this tick, as a tick-log snapshot.
    pub tick: Option<u32>,
    /// Rewrite the recording in this format.
    pub convert: Option<Format>,
    /// Where `convert` writes; `None` or `-` is standard output.
    pub out: Option<PathBuf>,
    /// Refuse a recording with a damaged tick, instead of skipping the tick with a
    /// warning that says which lines were skipped and why.
    pub strict: bool,
    /// How wide the summary's lines may be (JSON, ticks and conversions are whole).
    pub width: format::Width,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    NoTicks(#[from] NoTicks),
    #[error("tick {tick} is not in {file} (it has ticks {first} to {last})")]
    TickNotFound {
        tick: u32,
        file: String,
        first: u32,
        last: u32,
    },
    #[error("cannot write to standard output: {}", io_message(.0))]
    Stdout(#[source] std::io::Error),
    #[error("cannot write {path}: {}", io_message(source))]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "--svg reads {0} a second time, and it is not a regular file: save the recording to a file first"
    )]
    SvgNeedsFile(String),
    #[error(transparent)]
    Svg(#[from] SvgError),
    #[error("--svg - and --tick or --convert (without --out) would both write to standard output")]
    BothToStdout,
    #[error("--svg would write over the recording {0} itself; choose another file")]
    SvgOverInput(String),
}

/// Runs `leaktop report`: warnings and notes go to stderr, the report to stdout, and
/// the files it writes (the chart, a conversion) through `host`.
pub fn run(host: &dyn Host, opts: &Options) -> Result<(), ReportError> {
    let name = shown_path(&opts.file);
    let say = |m: &str| crate::say(&format!("leaktop: {m}\n"));
    refuse_clashing_outputs(opts, &name)?;
    let mut reader = format::open(&opts.file, say)?.skip_damaged(!opts.strict);
    // The header waits for the first tick: a recording without one is an error
    // before anything is written.
    let first = reader.next().transpose()?.ok_or(NoTicks(name.clone()))?;
    let mut fold = Summarizer::new();
    let mut out = BufWriter::with_capacity(64 << 10, crate::stdout::Writer::new());
    let mut ended = true;
    if let Some(n) = opts.tick {
        match find_tick(first, &mut reader, n, &mut fold, opts.svg.is_none())? {
            Some(mut tick) => {
                // A zombie holds nothing: not the memory an older recording kept of it.
                tick.processes
                    .iter_mut()
                    .for_each(ProcRow::forget_memory_if_defunct);
                let mut text = String::new();
                Format::Text.write_header(reader.header(), &mut text);
                Format::Text.write_tick(&tick, &mut text);
                out.write_all(text.as_bytes())
                    .map_err(ReportError::Stdout)?;
                ended = opts.svg.is_some();
            }
            None => {
                let (first, last) = fold.tick_range();
                // It may have been in what was skipped.
                warn_skipped(&reader, &name, "read", fold.ticks());
                return Err(ReportError::TickNotFound {
                    tick: n,
                    file: name,
                    first,
                    last,
                });
            }
        }
    } else if let Some(to) = opts.convert {
        match opts.out.as_deref().filter(|p| p.as_os_str() != "-") {
            Some(path) => convert_to_file(host, first, &mut reader, to, path, &mut fold)?,
            None => {
                convert(first, &mut reader, to, &mut out, &mut fold).map_err(|e| e.or_stdout())?;
            }
        }
    } else {
        fold.add(&first);
        for tick in reader.by_ref() {
            fold.add(&tick?);
        }
    }
    let done = if opts.convert.is_some() {
        "converted"
    } else if opts.tick.is_some() {
        "read"
    } else {
        "reporting"
    };
    warn_skipped(&reader, &name, done, fold.ticks());
    if ended && let Some(cut) = reader.truncated() {
        say(&format!(
            "warning: {name}:{cut}; the incomplete last tick was dropped, reporting the {} complete ones",
            fold.ticks()
        ));
    }
    let summary = fold.summary(reader.header(), ended && reader.truncated().is_some());
    write_report(
        host,
        opts,
        &name,
        reader.header(),
        &summary,
        &fold,
        &mut out,
    )?;
    out.flush().map_err(ReportError::Stdout)
}

/// Refuses, before anything is read, outputs that cannot be had together: a chart of
/// something that is not a file (it is a second pass), a chart over the recording
/// itself, and two outputs on standard output.
fn refuse_clashing_outputs(opts: &Options, name: &str) -> Result<(), ReportError> {
    if opts.svg.is_some() && std::fs::metadata(&opts.file).is_ok_and(|m| !m.is_file()) {
        return Err(ReportError::SvgNeedsFile(name.to_string()));
    }
    if let Some(svg) = opts.svg.as_deref()
        && svg != Path::new("-")
        && same_file(svg, &opts.file)
    {
        return Err(ReportError::SvgOverInput(name.to_string()));
    }
    // `--svg -`: the chart is all that goes to standard output.
    let svg_to_stdout = opts.svg.as_deref() == Some(Path::new("-"));
    let convert_to_stdout =
        opts.convert.is_some() && opts.out.as_deref().is_none_or(|p| p == Path::new("-"));
    if svg_to_stdout && (opts.tick.is_some() || convert_to_stdout) {
        return Err(ReportError::BothToStdout);
    }
    Ok(())
}

/// Writes what the report asked for besides a tick or a conversion: the chart
/// (`--svg`, to its file or standard output) and the summary (text or `--json`).
fn write_report(
    host: &dyn Host,
    opts: &Options,
    name: &str,
    header: &crate::model::Header,
    summary: &super::Summary,
    fold: &Summarizer,
    out: &mut impl Write,
) -> Result<(), ReportError> {
    let svg_to_stdout = opts.svg.as_deref() == Some(Path::new("-"));
    if let Some(path) = &opts.svg {
        let chart = chart(&opts.file, summary, fold)?;
        let drawn = svg::render_chart(header, summary, &chart)?;
        if svg_to_stdout {
            out.write_all(drawn.as_bytes())
                .map_err(ReportError::Stdout)?;
        } else {
            svg::write_file(host, &drawn, path)?;
            crate::say(&format!(
                "leaktop: wrote the chart to {}\n",
                shown_path(path)
            ));
        }
    }
    if opts.tick.is_none() && opts.convert.is_none() && !svg_to_stdout {
        let text = if opts.json {
            // A struct of strings and numbers always serialises.
            serde_json::to_string_pretty(summary).unwrap_or_default() + "\n"
        } else {
            super::write_text(summary, name, opts.width)
        };
        out.write_all(text.as_bytes())
            .map_err(ReportError::Stdout)?;
    }
    Ok(())
}

/// Says in one line on stderr what `reader` skipped, if anything: which lines and why,
/// and that the `ticks` others were `done` (`reporting`, `converted`).
fn warn_skipped<R: BufRead>(reader: &TickReader<R>, name: &str, done: &str, ticks: usize) {
    if let Some(skipped) = reader.skipped() {
        crate::say(&format!(
            "leaktop: warning: {name}: {skipped}; {done} the {} other {}\n",
            ticks,
            if ticks == 1 { "tick" } else { "ticks" }
        ));
    }
}

/// Tick `n`, folding every tick up to it into `fold`; with `stop`, reading stops
/// there, else it goes on to the end (the chart needs every tick).
fn find_tick<R: BufRead>(
    first: Tick,
    reader: &mut TickReader<R>,
    n: u32,
    fold: &mut Summarizer,
    stop: bool,
) -> Result<Option<Tick>, ReportError> {
    let mut found = None;
    for tick in std::iter::once(Ok(first)).chain(reader.by_ref()) {
        let tick = tick?;
        fold.add(&tick);
        if tick.tick == n {
            found = Some(tick);
            if stop {
                break;
            }
        }
    }
    Ok(found)
}

/// A failed conversion: reading the recording, or writing the output.
enum ConvertError {
    Read(ReadError),
    Write(std::io::Error),
}

impl ConvertError {
    fn or_stdout(self) -> ReportError {
        match self {
            ConvertError::Read(e) => e.into(),
            ConvertError::Write(e) => ReportError::Stdout(e),
        }
    }
}

/// Writes the recording in `to`, tick by tick, folding each into `fold`.
fn convert<R: BufRead>(
    first: Tick,
    reader: &mut TickReader<R>,
    to: Format,
    out: &mut dyn Write,
    fold: &mut Summarizer,
) -> Result<(), ConvertError> {
    let mut text = String::new();
    to.write_header(reader.header(), &mut text);
    for tick in std::iter::once(Ok(first)).chain(reader.by_ref()) {
        let tick = tick.map_err(ConvertError::Read)?;
        fold.add(&tick);
        to.write_tick(&tick, &mut text);
        out.write_all(text.as_bytes())
            .map_err(ConvertError::Write)?;
        text.clear();
    }
    out.flush().map_err(ConvertError::Write)
}

/// Converts into a file next to `path` (through a symbolic link, next to what it
/// names), renamed over it once complete: a failed conversion leaves no half file,
/// and `--out` may name the recording itself. A device or FIFO (`/dev/null`) is
/// written directly.
fn convert_to_file<R: BufRead>(
    host: &dyn Host,
    first: Tick,
    reader: &mut TickReader<R>,
    to: Format,
    path: &Path,
    fold: &mut Summarizer,
) -> Result<(), ReportError> {
    let shown = shown_path(path);
    let write_error = |source| ReportError::Write {
        path: shown.clone(),
        source,
    };
    let failed = |e| match e {
        ConvertError::Read(e) => e.into(),
        ConvertError::Write(e) => write_error(e),
    };
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if std::fs::metadata(&target).is_ok_and(|m| !m.is_file()) {
        let file = host
            .create(&target, Create::Existing)
            .map_err(write_error)?;
        let mut file = BufWriter::with_capacity(64 << 10, file);
        return convert(first, reader, to, &mut file, fold).map_err(failed);
    }
    let mut partial = target.as_os_str().to_owned();
    partial.push(format!(".leaktop-{}.part", host.own_pid()));
    let partial = PathBuf::from(partial);
    let file = host
        .create(&partial, Create::Truncate)
        .map_err(write_error)?;
    let mut file = BufWriter::with_capacity(64 << 10, file);
    let result = convert(first, reader, to, &mut file, fold)
        .and_then(|()| file.get_ref().sync_all().map_err(ConvertError::Write))
        .map_err(failed)
        .and_then(|()| host.rename(&partial, &target).map_err(write_error));
    if result.is_err() {
        let _ = host.remove_file(&partial);
    }
    result
}

/// The chart's series: a second pass over the file, now that the summary says which
/// processes to stack and where leaks happened.
fn chart(path: &Path, summary: &super::Summary, fold: &Summarizer) -> Result<Chart, ReportError> {
    let mut chart = Chart::new(summary, fold.top_by_peak(svg::STACKED));
    // The damage skipped in the first pass is skipped again, silently.
    let reader = format::open(path, |_| {})?.skip_damaged(true);
    // Only the ticks the summary counted (a file still being written grows).
    for tick in reader.take(summary.ticks) {
        chart.add(&tick?);
    }
    if chart.is_empty() {
        return Err(SvgError::Empty.into());
    }
    Ok(chart)
}

/// Whether `a` and `b` name the same existing file (device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
