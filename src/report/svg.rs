//! The recording as a chart for a bug report: total, live and leaked RSS over time,
//! the largest processes stacked underneath, and a marker where each leak happened.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use plotters::prelude::*;

use super::summary::Summary;
use crate::format::{Recording, command_tail, elapsed, fit, human_kb, plural};
use crate::host::Host;
use crate::model::Header;
use crate::sample::Identity;

/// Processes stacked individually; the rest are summed as "others".
pub const STACKED: usize = 5;
const SIZE: (u32, u32) = (1200, 620);
/// Width of the legend panel right of the plot.
const LEGEND_WIDTH: u32 = 330;

#[derive(Debug, thiserror::Error)]
pub enum SvgError {
    #[error("the recording has no ticks to plot")]
    Empty,
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Light, opaque fills: each band covers the ones above it in the stack exactly.
const PALETTE: [RGBColor; STACKED] = [
    RGBColor(166, 196, 226),
    RGBColor(250, 200, 150),
    RGBColor(170, 214, 160),
    RGBColor(214, 186, 210),
    RGBColor(240, 224, 150),
];
const OTHERS: RGBColor = RGBColor(222, 222, 222);
const LEAKED: RGBColor = RGBColor(214, 39, 40);
/// The leaked processes' PSS: darker than their RSS, drawn below it.
const LEAKED_PSS: RGBColor = RGBColor(120, 10, 60);
/// The leaked processes' GPU memory.
const LEAKED_GPU: RGBColor = RGBColor(0, 128, 64);
/// Dark enough to show on the palette's light blue.
const LIVE: RGBColor = RGBColor(20, 40, 120);

/// Buckets the chart keeps at most: past this many ticks, neighbouring buckets are
/// merged in pairs, each keeping the lowest and highest value of every series so a
/// one-tick peak still shows. The plot is under 900 pixels wide.
pub const MAX_POINTS: usize = 1024;

/// Series per tick: total, live, leaked (RSS), leaked PSS (the known part), leaked
/// GPU memory (the known part), then the stacked processes' running sums.
const SERIES: usize = 5 + STACKED;
/// The index of the first stacked process's series.
const STACK: usize = 5;

/// A run of consecutive ticks drawn as one step: its extremes in every series.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    first_ms: u64,
    last_ms: u64,
    ticks: usize,
    min: [u64; SERIES],
    max: [u64; SERIES],
}

impl Bucket {
    fn merge(self, b: Bucket) -> Bucket {
        let mut out = self;
        out.last_ms = b.last_ms;
        out.ticks += b.ticks;
        for s in 0..SERIES {
            out.min[s] = out.min[s].min(b.min[s]);
            out.max[s] = out.max[s].max(b.max[s]);
        }
        out
    }
}

/// What the chart needs from the recording, gathered one tick at a time in at most
/// [`MAX_POINTS`] buckets: memory does not grow with the recording's length.
pub struct Chart {
    /// The stacked processes, largest peak first (from [`super::Summarizer::top_by_peak`]).
    top: Vec<super::summary::Top>,
    buckets: Vec<Bucket>,
    /// Ticks per bucket (a power of two).
    per_bucket: usize,
    ticks: usize,
    /// The elapsed time of every tick at which something leaked.
    moments: HashMap<u32, u64>,
    /// Some tick had a leaked process with a known PSS.
    pss: bool,
    /// Some tick had a leaked process with known GPU memory.
    gpu: bool,
    /// The most leaked GPU memory of any tick (KiB).
    peak_gpu_kb: u64,
}

impl Chart {
    /// A chart stacking `top` and marking the ticks at which `summary` says
    /// something leaked.
    pub fn new(summary: &Summary, mut top: Vec<super::summary::Top>) -> Chart {
        top.truncate(STACKED);
        Chart {
            top,
            buckets: Vec::new(),
            per_bucket: 1,
            ticks: 0,
            moments: summary.leaked.iter().map(|l| (l.tick, u64::MAX)).collect(),
            pss: false,
            gpu: false,
            peak_gpu_kb: 0,
        }
    }

    /// Adds the next tick.
    pub fn add(&mut self, tick: &crate::model::Tick) {
        self.ticks += 1;
        if let Some(x) = self.moments.get_mut(&tick.tick) {
            *x = tick.elapsed_ms;
        }
        let mut v = [0u64; SERIES];
        let total = tick.total_rss_kb();
        let leaked = tick.leaked_rss_kb();
        v[0] = total;
        v[1] = total - leaked;
        v[2] = leaked;
        let pss = tick.leaked_pss_kb();
        v[3] = pss.kb;
        self.pss |= pss.kb > 0;
        let gpu = tick.leaked_gpu_kb();
        v[4] = gpu.kb;
        self.gpu |= gpu.kb > 0;
        self.peak_gpu_kb = self.peak_gpu_kb.max(gpu.kb);
        let mut sum = 0;
        for (k, top) in self.top.iter().enumerate() {
            sum += tick
                .processes
                .iter()
                .find(|p| p.pid == top.id.pid && p.start == top.id.start)
                .map_or(0, |p| p.rss_kb);
            v[STACK + k] = sum;
        }
        let one = Bucket {
            first_ms: tick.elapsed_ms,
            last_ms: tick.elapsed_ms,
            ticks: 1,
            min: v,
            max: v,
        };
        match self.buckets.last_mut() {
            Some(last) if last.ticks < self.per_bucket => *last = last.merge(one),
            _ => {
                if self.buckets.len() == MAX_POINTS {
                    self.buckets = self
                        .buckets
                        .chunks(2)
                        .map(|pair| pair.iter().copied().reduce(Bucket::merge).unwrap_or(one))
                        .collect();
                    self.per_bucket *= 2;
                }
                self.buckets.push(one);
            }
        }
    }

    /// No tick was added.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The x of every point, in ticks' elapsed ms: one per bucket of one tick, two
    /// (first and last tick) for a wider one; and, per series, its value there (the
    /// highest at the first point, the lowest at the second).
    fn points(&self) -> (Vec<u64>, Vec<Vec<u64>>) {
        let mut xs = Vec::with_capacity(self.buckets.len() * 2);
        let mut ys: Vec<Vec<u64>> = (0..SERIES)
            .map(|_| Vec::with_capacity(self.buckets.len() * 2))
            .collect();
        for b in &self.buckets {
            xs.push(b.first_ms);
            for (s, y) in ys.iter_mut().enumerate() {
                y.push(b.max[s]);
            }
            if b.ticks > 1 {
                xs.push(b.last_ms);
                for (s, y) in ys.iter_mut().enumerate() {
                    y.push(b.min[s]);
                }
            }
        }
        (xs, ys)
    }
}

/// Draws the chart of a recording held in memory into `path`, through `host`.
pub fn write(
    host: &dyn Host,
    rec: &Recording,
    summary: &Summary,
    path: &Path,
) -> Result<(), SvgError> {
    let svg = render(rec, summary)?;
    write_file(host, &svg, path)
}

/// Writes a drawn chart to `path` through `host`; a file it created and could not
/// write whole is removed, not left empty.
pub fn write_file(host: &dyn Host, svg: &str, path: &Path) -> Result<(), SvgError> {
    crate::outfile::write_file(host, path, svg.as_bytes()).map_err(|source| SvgError::Write {
        path: crate::format::shown_path(path),
        source,
    })
}

/// The chart of a recording held in memory, as SVG text.
pub fn render(rec: &Recording, summary: &Summary) -> Result<String, SvgError> {
    let mut fold = super::Summarizer::new();
    for t in &rec.ticks {
        fold.add(t);
    }
    let mut chart = Chart::new(summary, fold.top_by_peak(STACKED));
    for t in &rec.ticks {
        chart.add(t);
    }
    render_chart(&rec.header, summary, &chart)
}

/// The chart gathered tick by tick, as SVG text.
pub fn render_chart(header: &Header, summary: &Summary, chart: &Chart) -> Result<String, SvgError> {
    if chart.buckets.is_empty() {
        return Err(SvgError::Empty);
    }
    let mut out = String::new();
    draw(header, summary, chart, &mut out).map_err(|e| SvgError::Draw(e.to_string()))?;
    Ok(out)
}

/// The units the axes are drawn in, chosen from the recording's span and peak.
struct Units {
    kb_per_unit: f64,
    rss: &'static str,
    ms_per_unit: f64,
    time: &'static str,
}

impl Units {
    fn of(span_ms: u64, peak_kb: u64) -> Units {
        let (kb_per_unit, rss) = if peak_kb >= 4 << 20 {
            (1024.0 * 1024.0, "GiB")
        } else {
            (1024.0, "MiB")
        };
        let (ms_per_unit, time) = match span_ms {
            0..600_000 => (1000.0, "seconds"),
            600_000..10_800_000 => (60_000.0, "minutes"),
            _ => (3_600_000.0, "hours"),
        };
        Units {
            kb_per_unit,
            rss,
            ms_per_unit,
            time,
        }
    }

    fn rss(&self, kb: u64) -> f64 {
        kb as f64 / self.kb_per_unit
    }
}

/// A value that holds from one tick until the next (the last until `end`): a leak
/// shows as the jump it was, not as a slope from the tick before.
fn steps(xs: &[f64], end: f64, ys: impl IntoIterator<Item = f64>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(xs.len() * 2 + 1);
    for (i, y) in ys.into_iter().enumerate() {
        if let Some(&(_, before)) = out.last() {
            out.push((xs[i], before));
        }
        out.push((xs[i], y));
    }
    if let Some(&(x, y)) = out.last()
        && x < end
    {
        out.push((end, y));
    }
    out
}

/// An axis label: `0`, `2.5`, `0.3`, never `0.30000000000000004`.
fn axis_label(v: &f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn draw(
    header: &Header,
    summary: &Summary,
    chart_data: &Chart,
    out: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    // The leaked GPU memory may stand above every RSS: the axis holds both.
    let peak_kb = summary.peak_total_rss_kb.max(chart_data.peak_gpu_kb);
    let units = Units::of(summary.span_ms, peak_kb);
    let (ms, series) = chart_data.points();
    let t0 = ms[0];
    let x_of = |ms: u64| ms.saturating_sub(t0) as f64 / units.ms_per_unit;
    let xs: Vec<f64> = ms.iter().map(|&m| x_of(m)).collect();
    // A single tick still gets an axis one interval wide.
    let x_max = xs[xs.len() - 1].max(header.interval_ms.max(1) as f64 / units.ms_per_unit);
    let y_max = units.rss(peak_kb.max(1024)) * 1.15;
    let series_steps = |s: usize| steps(&xs, x_max, series[s].iter().map(|&kb| units.rss(kb)));

    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, legend) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let title = format!(
        "leaktop: {} (root {})",
        short("", &header.root_cmd, 60),
        header.root_pid
    );
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc(format!("{} since the recording started", units.time))
        .y_desc(format!(
            "RSS{}{} ({})",
            if chart_data.pss { ", PSS" } else { "" },
            if chart_data.gpu { ", GPU" } else { "" },
            units.rss
        ))
        .x_label_formatter(&axis_label)
        .y_label_formatter(&axis_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    draw_memory(&mut chart, summary, chart_data, &series_steps)?;
    let entries = legend_entries(summary, chart_data);
    let moments = leak_moments(summary);
    draw_moments(&mut chart, &moments, chart_data, &x_of, y_max)?;
    let about = about_lines(header, summary);
    let leaks: Vec<String> = moments
        .iter()
        .map(|(tick, what)| format!("tick {tick}: {}", what.join(", ")))
        .collect();
    draw_legend(&legend, &about, &entries, &leaks)?;
    root.present()?;
    Ok(())
}

/// The plot's drawing area, in the chart's units (time, memory).
type Plot<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The stacked bands of the top processes under the family's total, and the total,
/// live, leaked (RSS, PSS, GPU) lines; `series_steps(k)` is series `k` as steps.
fn draw_memory(
    chart: &mut Plot,
    summary: &Summary,
    chart_data: &Chart,
    series_steps: &dyn Fn(usize) -> Vec<(f64, f64)>,
) -> Result<(), Box<dyn std::error::Error>> {
    // Stacked areas, drawn from the top of the stack down so each band shows; the
    // whole family's total tops them as "others".
    chart.draw_series(AreaSeries::new(series_steps(0), 0.0, OTHERS.filled()))?;
    for k in (0..chart_data.top.len()).rev() {
        chart.draw_series(AreaSeries::new(
            series_steps(STACK + k),
            0.0,
            PALETTE[k].filled(),
        ))?;
    }
    chart.draw_series(LineSeries::new(series_steps(0), BLACK.stroke_width(3)))?;
    if !summary.leaked.is_empty() {
        chart.draw_series(LineSeries::new(series_steps(1), LIVE.stroke_width(2)))?;
        chart.draw_series(LineSeries::new(series_steps(2), LEAKED.stroke_width(3)))?;
        if chart_data.pss {
            chart.draw_series(LineSeries::new(series_steps(3), LEAKED_PSS.stroke_width(2)))?;
        }
        if chart_data.gpu {
            chart.draw_series(LineSeries::new(series_steps(4), LEAKED_GPU.stroke_width(2)))?;
        }
    }
    Ok(())
}

/// One dashed marker per tick at which something leaked, labelled with the tick (the
/// legend says what leaked then); `x_of` places a time (wall ms).
fn draw_moments<T>(
    chart: &mut Plot,
    moments: &BTreeMap<u32, T>,
    chart_data: &Chart,
    x_of: &dyn Fn(u64) -> f64,
    y_max: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let label_font = ("sans-serif", 14).into_font().color(&LEAKED);
    for (n, tick) in moments.keys().enumerate() {
        let Some(&at) = chart_data.moments.get(tick).filter(|&&ms| ms != u64::MAX) else {
            continue;
        };
        let x = x_of(at);
        chart.draw_series(DashedLineSeries::new(
            [(x, 0.0), (x, y_max)],
            6,
            4,
            LEAKED.stroke_width(2),
        ))?;
        // Beside the line, not on it; staggered so neighbours do not overlap.
        let y = y_max * (0.98 - 0.045 * (n % 6) as f64);
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, y)) + Text::new(tick.to_string(), (4, 0), label_font.clone()),
        ))?;
    }
    Ok(())
}

/// A legend entry and how it is drawn.
enum Entry {
    Line(RGBColor, u32, String),
    Dashes(RGBColor, String),
    /// A stacked band: its label and, smaller, the command line.
    Band(RGBColor, String, String),
}

/// Leak moments listed in the legend before "… and N more".
const LISTED_LEAKS: usize = 8;

/// What the legend lists: the lines drawn (the leaked ones only if something
/// leaked), the stacked processes (with when each leaked), and the others.
fn legend_entries(summary: &Summary, chart_data: &Chart) -> Vec<Entry> {
    let mut entries: Vec<Entry> = vec![Entry::Line(BLACK, 3, "total RSS".into())];
    if !summary.leaked.is_empty() {
        entries.push(Entry::Line(LIVE, 2, "live (not leaked)".into()));
        entries.push(Entry::Line(LEAKED, 3, "leaked (RSS)".into()));
        if chart_data.pss {
            entries.push(Entry::Line(
                LEAKED_PSS,
                2,
                "leaked PSS: what killing them frees".into(),
            ));
        }
        if chart_data.gpu {
            entries.push(Entry::Line(
                LEAKED_GPU,
                2,
                "leaked GPU memory: what killing them returns".into(),
            ));
        }
        entries.push(Entry::Dashes(
            LEAKED,
            "a leak happened (tick number)".into(),
        ));
    }
    let leaked_ids: HashMap<Identity, u32> = summary
        .leaked
        .iter()
        .map(|l| {
            (
                Identity {
                    pid: l.pid,
                    start: l.start,
                },
                l.tick,
            )
        })
        .collect();
    for (k, p) in chart_data.top.iter().enumerate() {
        let leaked = leaked_ids
            .get(&p.id)
            .map_or(String::new(), |t| format!(" · leaked at tick {t}"));
        entries.push(Entry::Band(
            PALETTE[k],
            format!("{} {}{leaked}", p.id.pid, p.name),
            short(&p.name, &p.cmd, 44),
        ));
    }
    entries.push(Entry::Band(OTHERS, "other processes".into(), String::new()));
    entries
}

/// The ticks at which something leaked, each with how, in words, once.
fn leak_moments(summary: &Summary) -> BTreeMap<u32, Vec<String>> {
    let mut moments: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for l in &summary.leaked {
        let what = l.how();
        let list = moments.entry(l.tick).or_default();
        if !list.contains(&what) {
            list.push(what);
        }
    }
    moments
}

/// The legend's first lines: how long and how often, which host and when, and what
/// leaked at its peak.
fn about_lines(header: &Header, summary: &Summary) -> [String; 3] {
    [
        format!(
            "{} over {} · every {}",
            plural(summary.ticks, "tick", "ticks"),
            elapsed(summary.span_ms),
            humantime::format_duration(std::time::Duration::from_millis(header.interval_ms))
        ),
        format!(
            "host {} · started {} UTC",
            header.host,
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(header.started_ms)
            )
            .to_string()
            .replace('T', " ")
            .trim_end_matches('Z')
        ),
        if summary.leaked.is_empty() {
            "nothing leaked".to_string()
        } else {
            format!(
                "{} leaked, peak {} at tick {}",
                plural(summary.leaked.len(), "process", "processes"),
                human_kb(summary.peak_leaked_rss_kb),
                summary.peak_leaked_tick
            )
        },
    ]
}

/// The legend as a panel of its own, so it never hides data: what the recording is,
/// what each line and band is, and what leaked when.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    about: &[String],
    entries: &[Entry],
    leaks: &[String],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let font = ("sans-serif", 14).into_font();
    let small = ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90));
    let mut y = 24;
    for line in about {
        area.draw(&Text::new(line.clone(), (4, y), small.clone()))?;
        y += 17;
    }
    y += 22;
    for entry in entries {
        let label = match entry {
            Entry::Line(c, w, label) => {
                area.draw(&PathElement::new([(4, y), (28, y)], c.stroke_width(*w)))?;
                label
            }
            Entry::Dashes(c, label) => {
                for x in [4, 14, 24] {
                    area.draw(&PathElement::new([(x, y), (x + 5, y)], c.stroke_width(2)))?;
                }
                label
            }
            Entry::Band(c, label, _) => {
                area.draw(&Rectangle::new([(4, y - 7), (28, y + 7)], c.filled()))?;
                label
            }
        };
        area.draw(&Text::new(label.clone(), (36, y - 8), font.clone()))?;
        y += 22;
        if let Entry::Band(_, _, command) = entry
            && !command.is_empty()
        {
            area.draw(&Text::new(command.clone(), (36, y - 10), small.clone()))?;
            y += 16;
        }
    }
    if !leaks.is_empty() {
        y += 10;
        let red = ("sans-serif", 13).into_font().color(&LEAKED);
        for line in leaks.iter().take(LISTED_LEAKS) {
            area.draw(&Text::new(fit(line, 50), (4, y), red.clone()))?;
            y += 17;
        }
        if leaks.len() > LISTED_LEAKS {
            let more = format!("… and {} more", leaks.len() - LISTED_LEAKS);
            area.draw(&Text::new(more, (4, y), red))?;
        }
    }
    Ok(())
}

/// `name args` cut to `max` characters.
fn short(name: &str, cmd: &str, max: usize) -> String {
    let tail = command_tail(name, cmd);
    let s = if name.is_empty() {
        tail
    } else if tail.is_empty() {
        name.to_string()
    } else {
        format!("{name} {tail}")
    };
    fit(&s, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_recording_keeps_a_bounded_chart_with_its_peak() {
        let rec = crate::testkit::forkserver_recording();
        let summary = super::super::summarize(&rec);
        let mut chart = Chart::new(&summary, Vec::new());
        let spike_at = 3 * MAX_POINTS + 7;
        for i in 0..5 * MAX_POINTS {
            let mut tick = rec.ticks[0].clone();
            tick.tick = i as u32 + 1;
            tick.elapsed_ms = i as u64 * 1000;
            if i == spike_at {
                tick.processes[0].rss_kb *= 100;
            }
            chart.add(&tick);
        }
        assert!(chart.buckets.len() <= MAX_POINTS, "{}", chart.buckets.len());
        assert_eq!(
            chart.buckets.iter().map(|b| b.ticks).sum::<usize>(),
            5 * MAX_POINTS
        );
        let (xs, ys) = chart.points();
        let base = rec.ticks[0].total_rss_kb();
        let spike = base + rec.ticks[0].processes[0].rss_kb * 99;
        assert_eq!(
            ys[0].iter().max(),
            Some(&spike),
            "the one-tick peak survives"
        );
        assert_eq!(ys[0].iter().min(), Some(&base));
        assert!(xs.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(xs.last(), Some(&((5 * MAX_POINTS - 1) as u64 * 1000)));
    }

    #[test]
    fn leaked_pss_is_drawn_beside_leaked_rss_when_recorded() {
        let rec = crate::testkit::forkserver_recording();
        let svg = render(&rec, &crate::report::summarize(&rec)).unwrap();
        assert!(svg.contains("leaked PSS: what killing them frees"));
        assert!(svg.contains("RSS, PSS"));
        let mut old = rec.clone();
        for p in old.ticks.iter_mut().flat_map(|t| &mut t.processes) {
            p.pss_kb = None;
        }
        let svg = render(&old, &crate::report::summarize(&old)).unwrap();
        assert!(
            !svg.contains("leaked PSS"),
            "no PSS line without PSS figures"
        );
    }

    #[test]
    fn leaked_gpu_memory_is_drawn_when_recorded_and_fits_the_axis() {
        let mut rec = crate::testkit::forkserver_recording();
        let summary = crate::report::summarize(&rec);
        // Far more on the GPU than any RSS: the axis is made to hold it.
        let big = summary.peak_total_rss_kb * 4;
        for p in rec.ticks.iter_mut().flat_map(|t| &mut t.processes) {
            if p.gpu_kb.is_some() {
                p.gpu_kb = Some(big);
            }
        }
        let mut chart = Chart::new(&summary, Vec::new());
        rec.ticks.iter().for_each(|t| chart.add(t));
        assert_eq!(chart.peak_gpu_kb, big);
        let svg = render(&rec, &summary).unwrap();
        assert!(svg.contains("leaked GPU memory: what killing them returns"));
        assert!(svg.contains(", GPU ("), "the axis says so");
        let mut old = rec.clone();
        for p in old.ticks.iter_mut().flat_map(|t| &mut t.processes) {
            p.gpu_kb = None;
        }
        let svg = render(&old, &crate::report::summarize(&old)).unwrap();
        assert!(!svg.contains("GPU"), "no GPU line without GPU figures");
    }

    #[test]
    fn steps_hold_each_value_until_the_next_tick() {
        assert_eq!(
            steps(&[0.0, 1.0, 2.0], 2.0, [5.0, 7.0, 6.0]),
            [(0.0, 5.0), (1.0, 5.0), (1.0, 7.0), (2.0, 7.0), (2.0, 6.0)]
        );
        // A single tick still spans the axis.
        assert_eq!(steps(&[0.0], 1.0, [3.0]), [(0.0, 3.0), (1.0, 3.0)]);
    }

    #[test]
    fn axes_pick_readable_units_and_labels() {
        let small = Units::of(9_800, 360 * 1024);
        assert_eq!((small.time, small.rss), ("seconds", "MiB"));
        let day = Units::of(86_400_000, 44 << 20);
        assert_eq!((day.time, day.rss), ("hours", "GiB"));
        assert_eq!(Units::of(3_600_000, 1).time, "minutes");
        assert_eq!(axis_label(&0.30000000000000004), "0.3");
        assert_eq!(axis_label(&400.0), "400");
        assert_eq!(axis_label(&2.5), "2.5");
    }
}
