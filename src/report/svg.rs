//! The recording as a chart for a bug report: total, live and leaked RSS over time,
//! the largest processes stacked underneath, and a marker where each leak happened.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use plotters::prelude::*;

use super::summary::Summary;
use crate::format::{Recording, command_tail};
use crate::sample::Identity;

/// Processes stacked individually; the rest are summed as "others".
const STACKED: usize = 5;
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
const LIVE: RGBColor = RGBColor(31, 119, 180);

pub fn write(rec: &Recording, summary: &Summary, path: &Path) -> Result<(), SvgError> {
    let svg = render(rec, summary)?;
    std::fs::write(path, svg).map_err(|source| SvgError::Write {
        path: path.display().to_string(),
        source,
    })
}

pub fn render(rec: &Recording, summary: &Summary) -> Result<String, SvgError> {
    if rec.ticks.is_empty() {
        return Err(SvgError::Empty);
    }
    let mut out = String::new();
    draw(rec, summary, &mut out).map_err(|e| SvgError::Draw(e.to_string()))?;
    Ok(out)
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn draw(
    rec: &Recording,
    summary: &Summary,
    out: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    let secs = |ms: u64| ms as f64 / 1000.0;
    let t0 = rec.ticks[0].elapsed_ms;
    let xs: Vec<f64> = rec.ticks.iter().map(|t| secs(t.elapsed_ms - t0)).collect();
    let x_max = xs.last().copied().unwrap_or(0.0).max(0.001);
    let y_max = mib(summary.peak_total_rss_kb).max(1.0) * 1.15;

    // The largest processes by peak RSS, each with its RSS at every tick.
    let mut peak: HashMap<Identity, (u64, String)> = HashMap::new();
    for t in &rec.ticks {
        for p in &t.processes {
            let e = peak
                .entry(Identity {
                    pid: p.pid,
                    start: p.start,
                })
                .or_insert((0, format!("{} {}", p.pid, short(&p.name, &p.cmd))));
            e.0 = e.0.max(p.rss_kb);
        }
    }
    let mut top: Vec<(Identity, u64, String)> = peak
        .into_iter()
        .map(|(id, (kb, label))| (id, kb, label))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(STACKED);
    let rss_at: Vec<HashMap<Identity, u64>> = rec
        .ticks
        .iter()
        .map(|t| {
            t.processes
                .iter()
                .map(|p| {
                    (
                        Identity {
                            pid: p.pid,
                            start: p.start,
                        },
                        p.rss_kb,
                    )
                })
                .collect()
        })
        .collect();

    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, legend) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let mut entries: Vec<(Entry, String)> = Vec::new();
    let title = format!(
        "leaktop: {} (root {}), {} ticks",
        short("", &rec.header.root_cmd),
        rec.header.root_pid,
        rec.ticks.len()
    );
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the recording started")
        .y_desc("RSS (MiB)")
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;

    // Stacked areas, drawn from the top of the stack down so each band shows.
    let mut cumulative = vec![vec![0.0; xs.len()]; top.len() + 1];
    for (i, at) in rss_at.iter().enumerate() {
        let mut sum = 0.0;
        for (k, (id, _, _)) in top.iter().enumerate() {
            sum += mib(at.get(id).copied().unwrap_or(0));
            cumulative[k][i] = sum;
        }
        cumulative[top.len()][i] = mib(rec.ticks[i].total_rss_kb());
    }
    chart.draw_series(AreaSeries::new(
        xs.iter()
            .copied()
            .zip(cumulative[top.len()].iter().copied()),
        0.0,
        OTHERS.filled(),
    ))?;
    for (k, _) in top.iter().enumerate().rev() {
        chart.draw_series(AreaSeries::new(
            xs.iter().copied().zip(cumulative[k].iter().copied()),
            0.0,
            PALETTE[k].filled(),
        ))?;
    }

    let line = |f: fn(&crate::model::Tick) -> u64| -> Vec<(f64, f64)> {
        xs.iter()
            .zip(&rec.ticks)
            .map(|(&x, t)| (x, mib(f(t))))
            .collect()
    };
    chart.draw_series(LineSeries::new(
        line(|t| t.total_rss_kb()),
        BLACK.stroke_width(3),
    ))?;
    chart.draw_series(LineSeries::new(
        line(|t| t.total_rss_kb() - t.leaked_rss_kb()),
        LIVE.stroke_width(2),
    ))?;
    chart.draw_series(LineSeries::new(
        line(|t| t.leaked_rss_kb()),
        LEAKED.stroke_width(3),
    ))?;
    entries.push((Entry::Line(BLACK, 3), "total RSS".into()));
    entries.push((Entry::Line(LIVE, 2), "live (not leaked)".into()));
    entries.push((Entry::Line(LEAKED, 3), "leaked".into()));
    entries.push((Entry::Dashes(LEAKED), "a leak happened".into()));
    for (k, (_, _, label)) in top.iter().enumerate() {
        entries.push((Entry::Band(PALETTE[k]), label.clone()));
    }
    entries.push((Entry::Band(OTHERS), "other processes".into()));

    // One marker per tick at which something leaked, naming where it came from.
    let mut moments: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for l in &summary.leaked {
        let what = l.how();
        let list = moments.entry(l.tick).or_default();
        if !list.contains(&what) {
            list.push(what);
        }
    }
    for (n, (tick, what)) in moments.iter().enumerate() {
        let Some(i) = rec.ticks.iter().position(|t| t.tick == *tick) else {
            continue;
        };
        let x = xs[i];
        chart.draw_series(DashedLineSeries::new(
            [(x, 0.0), (x, y_max)],
            6,
            4,
            LEAKED.stroke_width(2),
        ))?;
        chart.draw_series(std::iter::once(Text::new(
            format!(" tick {tick}: {}", what.join(", ")),
            (x, y_max * (0.97 - 0.05 * (n % 4) as f64)),
            ("sans-serif", 15).into_font().color(&LEAKED),
        )))?;
    }
    draw_legend(&legend, &entries)?;
    root.present()?;
    Ok(())
}

/// How a legend entry is drawn.
enum Entry {
    Line(RGBColor, u32),
    Dashes(RGBColor),
    Band(RGBColor),
}

/// The legend as a panel of its own, so it never hides data.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(Entry, String)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let font = ("sans-serif", 14).into_font();
    let top = 70;
    for (i, (entry, label)) in entries.iter().enumerate() {
        let y = top + i as i32 * 24;
        match entry {
            Entry::Line(c, w) => {
                area.draw(&PathElement::new([(4, y), (28, y)], c.stroke_width(*w)))?
            }
            Entry::Dashes(c) => {
                for x in [4, 14, 24] {
                    area.draw(&PathElement::new([(x, y), (x + 5, y)], c.stroke_width(2)))?;
                }
            }
            Entry::Band(c) => area.draw(&Rectangle::new([(4, y - 7), (28, y + 7)], c.filled()))?,
        }
        area.draw(&Text::new(label.clone(), (36, y - 8), font.clone()))?;
    }
    Ok(())
}

/// `name args` cut to fit the legend.
fn short(name: &str, cmd: &str) -> String {
    let tail = command_tail(name, cmd);
    let s = if name.is_empty() {
        tail
    } else if tail.is_empty() {
        name.to_string()
    } else {
        format!("{name} {tail}")
    };
    if s.chars().count() > 36 {
        format!("{}…", s.chars().take(35).collect::<String>())
    } else {
        s
    }
}
