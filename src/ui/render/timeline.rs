//! RSS over the recorded ticks: the family's total, the leaked part, and the selected
//! process, with the viewed tick marked when looking at the past and each root restart
//! (`--follow`) marked where it happened.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType};

use super::theme::{Series, Theme};
use crate::format::human_kb;
use crate::ui::app::App;
use crate::ui::history::History;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let block = Block::new().borders(Borders::TOP);
    let history = &app.history;
    if history.is_empty() {
        frame.render_widget(
            block.title(Span::styled(" RSS over time ", theme.title())),
            area,
        );
        return;
    }
    // A braille cell holds two points across: more would only be drawn over.
    let picks = pick_indexes(history.len(), usize::from(area.width.max(1)) * 2);
    let total = bucket_max(history, &picks, |t| t.total_rss_kb);
    let leaked = bucket_max(history, &picks, |t| t.leaked_rss_kb);
    let selected = bucket_series(history, &picks, app.selected_series());
    let top = total.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let first = f64::from(history.totals()[0].tick);
    let last = f64::from(history.totals()[history.len() - 1].tick).max(first + 1.0);
    let cursor: Vec<(f64, f64)> = match (app.in_past() || app.is_replay(), app.viewed_tick()) {
        (true, Some(t)) => vec![(f64::from(t.tick), 0.0), (f64::from(t.tick), top)],
        _ => Vec::new(),
    };

    // `--follow`: a vertical line where each new root took over.
    let restarts: Vec<[(f64, f64); 2]> = history
        .restarts()
        .iter()
        .map(|r| [(f64::from(r.tick), 0.0), (f64::from(r.tick), top)])
        .collect();

    let mono = |marker: Marker| mono(theme, marker);
    let title = legend(
        app,
        theme,
        !selected.is_empty(),
        !restarts.is_empty(),
        (!cursor.is_empty())
            .then(|| app.viewed_tick().map(|t| t.tick))
            .flatten(),
    );

    let line = |data, marker, style| {
        Dataset::default()
            .marker(marker)
            .graph_type(GraphType::Line)
            .style(style)
            .data(data)
    };
    let mut sets = vec![
        line(&total, Marker::Braille, theme.series(Series::Total)),
        line(&leaked, mono(Marker::Dot), theme.series(Series::Leaked)),
    ];
    if !selected.is_empty() {
        sets.push(line(
            &selected,
            mono(Marker::Block),
            theme.series(Series::Selected),
        ));
    }
    for restart in &restarts {
        sets.push(line(restart, Marker::Braille, theme.alert()));
    }
    if !cursor.is_empty() {
        sets.push(line(&cursor, Marker::Braille, theme.series(Series::Cursor)));
    }
    let chart = Chart::new(sets)
        .block(block.title(Line::from(title)))
        .x_axis(
            Axis::default()
                .bounds([first, last])
                .labels([format!("tick {first}"), format!("tick {last}")])
                .style(theme.dim()),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(["0".to_string(), human_kb(top as u64)])
                .style(theme.dim()),
        );
    frame.render_widget(chart, area);
}

/// The chart's marker for a series other than the total: braille in color, told apart
/// by its shape without color.
fn mono(theme: Theme, marker: Marker) -> Marker {
    if theme.color { Marker::Braille } else { marker }
}

/// The legend, as the title line (a legend box would hide the start of the lines, and
/// ratatui drops it altogether on small charts): total, leaked, the selected process,
/// restarts and the tick viewed, each where drawn.
fn legend(
    app: &App,
    theme: Theme,
    selected: bool,
    restarts: bool,
    viewing: Option<u32>,
) -> Vec<Span<'static>> {
    let glyph = |marker: Marker| match marker {
        Marker::Dot => "•",
        Marker::Block => "█",
        _ => "⣿",
    };
    let mut title = vec![Span::styled(" RSS over time ", theme.title())];
    let mut key = |marker: Marker, name: String, style| {
        title.push(Span::styled(format!(" {} {name} ", glyph(marker)), style));
    };
    key(Marker::Braille, "total".into(), theme.series(Series::Total));
    key(
        mono(theme, Marker::Dot),
        "leaked".into(),
        theme.series(Series::Leaked),
    );
    if let Some(r) = app.selected_row().filter(|_| selected) {
        key(
            mono(theme, Marker::Block),
            format!("pid {}", r.pid),
            theme.series(Series::Selected),
        );
    }
    if restarts {
        key(Marker::Braille, "restart".into(), theme.alert());
    }
    if let Some(tick) = viewing {
        key(
            Marker::Braille,
            format!("viewing tick {tick}"),
            theme.series(Series::Cursor),
        );
    }
    title
}

/// At most `max` evenly spread history indexes, each with the end of its bucket.
fn pick_indexes(len: usize, max: usize) -> Vec<(usize, usize)> {
    let n = len.min(max.max(1));
    (0..n)
        .map(|k| {
            let start = k * len / n;
            let end = ((k + 1) * len / n).max(start + 1);
            (start, end)
        })
        .collect()
}

/// A process's RSS series (`(tick, rss_kb)`, ascending) as the largest value in each
/// bucket it has points in.
fn bucket_series(
    history: &History,
    picks: &[(usize, usize)],
    series: &[(u32, u64)],
) -> Vec<(f64, f64)> {
    let totals = history.totals();
    picks
        .iter()
        .filter_map(|&(start, end)| {
            let (first, last) = (totals[start].tick, totals[end - 1].tick);
            let from = series.partition_point(|p| p.0 < first);
            let to = series.partition_point(|p| p.0 <= last);
            let peak = series[from..to].iter().map(|p| p.1).max()?;
            Some((f64::from(first), peak as f64))
        })
        .collect()
}

/// The largest value in each bucket, so a short peak is never averaged away.
fn bucket_max(
    history: &History,
    picks: &[(usize, usize)],
    value: impl Fn(&crate::ui::history::Totals) -> u64,
) -> Vec<(f64, f64)> {
    let totals = history.totals();
    picks
        .iter()
        .map(|&(start, end)| {
            let peak = totals[start..end].iter().map(&value).max().unwrap_or(0);
            (f64::from(totals[start].tick), peak as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::pick_indexes;

    #[test]
    fn picks_cover_the_history_without_gaps() {
        for (len, max) in [(1, 10), (10, 10), (100, 7), (86_400, 240)] {
            let picks = pick_indexes(len, max);
            assert!(picks.len() <= max);
            assert_eq!(picks[0].0, 0);
            assert_eq!(picks.last().unwrap().1, len);
            for w in picks.windows(2) {
                assert_eq!(w[0].1, w[1].0, "len {len} max {max}");
            }
        }
    }
}
