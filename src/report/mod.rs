//! `leaktop report`: a recording read back as figures, JSON, a chart, or one tick.

mod command;
pub mod summary;
pub mod svg;

pub use command::{Options, ReportError, run};

use std::fmt::Write;

use crate::format::table::{Align, Table, Width};
use crate::format::{command_tail, elapsed, human_kb, plural, printable, shown_command};
pub use summary::{Summarizer, Summary, summarize};

/// The summary for a person, in plain text within `width` (command lines cut with
/// `…`, other long lines wrapped between words): the overview, then the leaked
/// processes, the alerts and the largest growers, each where there are any.
pub fn write_text(s: &Summary, file: &str, width: Width) -> String {
    let mut o = String::new();
    write_overview(&mut o, s, file, width);
    if !s.leaked.is_empty() {
        write_leaked(&mut o, s, width);
    }
    write_alerts(&mut o, s);
    write_growers(&mut o, s);
    width.lines(&o).into_owned()
}

/// The recording in a few lines: root, ticks, processes, peak, how much leaked.
fn write_overview(o: &mut String, s: &Summary, file: &str, width: Width) {
    let head = format!("{file}: leaktop recording of root {} (", s.root_pid);
    let root = printable(&command_tail("", &s.root_cmd)).into_owned();
    let root = width.rest(&root, crate::human::columns(&head) + 1, 40);
    let _ = writeln!(o, "{head}{root})");
    let fate = match s.root_exited_tick {
        Some(t) => format!("exited at tick {t}"),
        None => "alive at the end".to_string(),
    };
    let _ = writeln!(o, "root:      {fate}");
    let _ = writeln!(
        o,
        "ticks:     {} (ticks {} to {}) over {}{}",
        s.ticks,
        s.first_tick,
        s.last_tick,
        elapsed(s.span_ms),
        if s.truncated {
            ", last incomplete tick dropped"
        } else {
            ""
        }
    );
    let _ = writeln!(
        o,
        "processes: {} distinct (pid + start time)",
        s.distinct_processes
    );
    let _ = writeln!(
        o,
        "peak RSS:  {} at tick {}",
        human_kb(s.peak_total_rss_kb),
        s.peak_tick
    );
    if s.short_lived.count > 0 {
        let _ = writeln!(o, "brief:     {}", s.short_lived);
    }
    if s.events_lost_ticks > 0 {
        let _ = writeln!(o, "events:    {}", events_lost_note(s));
    }
    if s.leaked.is_empty() {
        let _ = writeln!(o, "leaked:    none");
        return;
    }
    let _ = writeln!(
        o,
        "leaked:    {}, peak leaked RSS {} at tick {}{}",
        plural(s.leaked.len(), "process", "processes"),
        human_kb(s.peak_leaked_rss_kb),
        s.peak_leaked_tick,
        leaked_pss_note(s)
    );
    if s.orphans_exited > 0 {
        let _ = writeln!(
            o,
            "orphaned:  {}",
            match s.orphans_exited {
                1 =>
                    "1 more process exited by itself within the leak grace (not a leak)".to_string(),
                n => format!(
                    "{n} more processes exited by themselves within the leak grace (not leaks)"
                ),
            }
        );
    }
}

/// The ticks marked events-lost, in words: "3 ticks marked events-lost (at least 120
/// events, and 2 losses of unknown size); a fork escape in those windows may be missed".
fn events_lost_note(s: &Summary) -> String {
    let mut lost = Vec::new();
    if s.events_lost_counted > 0 {
        lost.push(format!("at least {} events", s.events_lost_counted));
    }
    if s.events_lost_uncounted > 0 {
        lost.push(plural(
            s.events_lost_uncounted as usize,
            "loss of unknown size",
            "losses of unknown size",
        ));
    }
    format!(
        "{} marked events-lost ({}); a fork escape in those windows may be missed",
        plural(s.events_lost_ticks, "tick", "ticks"),
        lost.join(", and ")
    )
}

/// The table of leaked processes within `width`, with a SWAP column where any was
/// swapped out and a GPU column where the recording has GPU memory.
fn write_leaked(o: &mut String, s: &Summary, width: Width) {
    let _ = writeln!(o, "\nleaked processes:");
    let swap = s
        .leaked
        .iter()
        .any(|l| l.swap_kb_last.is_some_and(|kb| kb > 0));
    // A GPU column where the recording has GPU memory at all.
    let gpu = s.leaked.iter().any(|l| l.gpu_kb_last.is_some());
    let mut heads = vec![
        ("PID", Align::Right),
        ("TICK", Align::Right),
        ("RSS THEN", Align::Right),
        ("RSS LAST", Align::Right),
        ("PSS LAST", Align::Right),
    ];
    if swap {
        heads.push(("SWAP LAST", Align::Right));
    }
    if gpu {
        heads.push(("GPU LAST", Align::Right));
    }
    heads.extend([("AT END", Align::Left), ("HOW", Align::Left)]);
    let known = |kb: Option<u64>| kb.map_or_else(|| "?".to_string(), human_kb);
    let mut table = Table::new(2, heads, "COMMAND");
    for l in &s.leaked {
        let mut cells = vec![
            l.pid.to_string(),
            l.tick.to_string(),
            human_kb(l.rss_kb_then),
            human_kb(l.rss_kb_last),
            known(l.pss_kb_last),
        ];
        if swap {
            cells.push(known(l.swap_kb_last));
        }
        if gpu {
            cells.push(known(l.gpu_kb_last));
        }
        let end = if l.alive_at_end {
            "alive".to_string()
        } else {
            format!("gone@{}", l.last_seen_tick)
        };
        cells.extend([end, l.how()]);
        table.row(
            cells,
            printable(&shown_command(&l.name, &l.cmd)).into_owned(),
        );
    }
    table.write(width, o);
}

/// Every alert raised, as first raised.
fn write_alerts(o: &mut String, s: &Summary) {
    if s.alerts.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nalerts:");
    for r in &s.alerts {
        let a = &r.alert;
        let span = match r.cleared {
            Some((tick, ms)) => format!("cleared at tick {tick} ({})", elapsed(ms)),
            None => "standing at the end".to_string(),
        };
        let again = if r.times > 1 {
            format!(", rose {} times", r.times)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "  {:<13} {:>8}  rose at tick {} ({}), {span}{again}: {}",
            a.kind.name(),
            a.pid,
            a.since_tick,
            elapsed(r.rose_ms),
            a.reason
        );
    }
}

/// The processes whose RSS grew most, first to peak.
fn write_growers(o: &mut String, s: &Summary) {
    if s.growers.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nlargest RSS growers (first → peak):");
    for g in &s.growers {
        let _ = writeln!(
            o,
            "  {:>8}  {:<16} {} → {} (+{})",
            g.pid,
            g.name,
            human_kb(g.rss_kb_first),
            human_kb(g.rss_kb_peak),
            human_kb(g.growth_kb)
        );
    }
}

/// `, PSS ~211 MiB[, swap 12 MiB][, GPU 2 GiB]` for the peak leaked tick; `?` for PSS
/// not measured (a recording from before PSS, or unreadable); then what killing the
/// ones still alive at the end frees ([`freed_at_end`]).
fn leaked_pss_note(s: &Summary) -> String {
    let mut note = match (s.peak_leaked_pss_kb, s.peak_leaked_pss_unknown) {
        (None, _) => ", PSS ?".to_string(),
        (Some(kb), 0) => format!(", PSS ~{}", human_kb(kb)),
        (Some(kb), n) => format!(
            ", PSS ~{} + {} of unknown PSS",
            human_kb(kb),
            plural(n, "process", "processes")
        ),
    };
    if let Some(kb) = s.peak_leaked_swap_kb.filter(|&kb| kb > 0) {
        note.push_str(&format!(", swap {}", human_kb(kb)));
    }
    if let Some(kb) = s.peak_leaked_gpu_kb.filter(|&kb| kb > 0) {
        note.push_str(&format!(", GPU {}", human_kb(kb)));
    }
    note.push_str(&freed_at_end(s));
    note
}

/// `; 2 still alive at the end hold PSS ~36 MiB (what killing them frees)`, or `; none
/// is alive at the end: killing frees nothing`. A process that no longer exists frees
/// nothing; the figure is the last PSS measured of those alive.
fn freed_at_end(s: &Summary) -> String {
    let alive: Vec<&summary::Leaked> = s.leaked.iter().filter(|l| l.alive_at_end).collect();
    if alive.is_empty() {
        return "; none is alive at the end: killing frees nothing".to_string();
    }
    let known: u64 = alive.iter().filter_map(|l| l.pss_kb_last).sum();
    let unknown = alive.iter().filter(|l| l.pss_kb_last.is_none()).count();
    let held = match unknown {
        0 => format!("PSS ~{}", human_kb(known)),
        n if n == alive.len() => "PSS ?".to_string(),
        n => format!(
            "PSS ~{} + {} of unknown PSS",
            human_kb(known),
            plural(n, "process", "processes")
        ),
    };
    format!(
        "; {} still alive at the end {} {held} (what killing them frees)",
        alive.len(),
        if alive.len() == 1 { "holds" } else { "hold" }
    )
}
