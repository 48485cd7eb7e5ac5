//! How `leaktop orphans` writes its groups: a table for people (tree prefixes as in
//! the tick-log, sizes by `humansize`), a JSON object, a tick-log snapshot per group,
//! and one line (or one NDJSON object) per group that `--watch` sees appear.

use std::fmt::Write;

use serde_json::{Value, json};

use super::Format;
use super::leaks::{PROCESS_HEADS, process_cells};
use super::table::{Align, Table, Width};
use crate::human::{age, human_kb, plural, printable};
use crate::model::gpu::GpuUsage;
use crate::model::layout::{self, Line};
use crate::model::orphans::{Orphan, OrphanGroup, Strength};
use crate::model::{Event, Header, ProcRow, Tick};
use crate::sample::Memory;
use crate::sample::{IdMap, Identity};

/// What a writer needs besides the groups.
pub struct View<'a> {
    /// PSS, USS and swap where measured.
    pub memory: &'a IdMap<Identity, Memory>,
    /// How long ago each process last ran, in ms, where known.
    pub idle_ms: &'a IdMap<Identity, u64>,
    /// The age in ms of a process that started at this start time.
    pub age_ms: &'a dyn Fn(u64) -> u64,
    /// GPU memory of the processes shown; a GPU column only where a GPU was found.
    pub gpu: &'a GpuUsage,
}

impl View<'_> {
    fn row(&self, o: &Orphan) -> ProcRow {
        let s = &o.sample;
        let m = self.memory.get(&s.id());
        ProcRow {
            pid: s.pid,
            ppid: s.ppid,
            state: char::from(s.state),
            rss_kb: s.rss_kb,
            start: s.start,
            cpu_ms: s.cpu_ms,
            name: o.command.name.clone(),
            cmd: o.command.cmd.clone(),
            leaked: true,
            reparented_from: None,
            escaped: o.adopted,
            leaked_since: Some(1),
            pss_kb: m.map(|m| m.pss_kb),
            uss_kb: m.map(|m| m.uss_kb),
            swap_kb: m.map(|m| m.swap_kb),
            mem_tick: m.map(|_| 1),
            gpu_kb: self.gpu.kb(s.id()),
        }
    }

    fn rows(&self, g: &OrphanGroup) -> Vec<ProcRow> {
        g.processes.iter().map(|o| self.row(o)).collect()
    }

    /// The group's GPU memory (KiB) that ending it returns; `None`: unknown.
    fn gpu_kb(&self, g: &OrphanGroup) -> Option<u64> {
        let ids: Vec<Identity> = g.processes.iter().map(|o| o.sample.id()).collect();
        self.gpu.group_kb(&ids)
    }

    /// What the group holds on the GPU, and who holds the device, in lines.
    fn gpu_notes(&self, g: &OrphanGroup) -> Vec<String> {
        let ids: Vec<Identity> = g.processes.iter().map(|o| o.sample.id()).collect();
        self.gpu.notes(&ids)
    }

    /// The group's summed PSS, `None` unless every member was measured.
    fn pss_kb(&self, g: &OrphanGroup) -> Option<u64> {
        g.processes
            .iter()
            .map(|o| self.memory.get(&o.sample.id()).map(|m| m.pss_kb))
            .sum()
    }
}

fn strength(g: &OrphanGroup) -> &'static str {
    if g.strong() { "strong" } else { "weak" }
}

/// The table: per group a heading with its id, strength, size (RSS, PSS, GPU memory:
/// `?` where unknown) and evidence, then its processes as trees, within `width`
/// ([`Width`]: the command lines cut with `…` on a terminal), with a GPU column where
/// a GPU was found.
pub fn table(groups: &[&OrphanGroup], view: &View, width: Width) -> String {
    let mut out = String::new();
    for g in groups {
        let pss = view
            .pss_kb(g)
            .map_or(String::new(), |kb| format!(", PSS {}", human_kb(kb)));
        // Unknown where no GPU was found too: the heading never says 0 for it.
        let gpu = format!(", GPU {}", view.gpu_kb(g).map_or("?".to_string(), human_kb));
        let heading = format!(
            "{}  {}  {}, RSS {}{pss}{gpu}",
            g.id,
            strength(g).to_uppercase(),
            plural(g.processes.len(), "process", "processes"),
            human_kb(g.rss_kb),
        );
        out.push_str(&width.wrap(&heading, "", "    "));
        for e in &g.evidence {
            let mark = if e.strength == Strength::Strong {
                "+"
            } else {
                "?"
            };
            out.push_str(&width.wrap(&printable(&e.text), &format!("  {mark} "), "    "));
        }
        for note in view.gpu_notes(g) {
            out.push_str(&width.wrap(&printable(&note), "  ! ", "    "));
        }
        processes(g, view).write(width, &mut out);
        out.push('\n');
    }
    out
}

/// A group's processes as a table: its trees in the last column.
fn processes(g: &OrphanGroup, view: &View) -> Table {
    let mut heads = PROCESS_HEADS.to_vec();
    if view.gpu.found() {
        heads.push(("GPU", Align::Right));
    }
    heads.extend([
        ("AGE", Align::Right),
        ("CPU", Align::Right),
        ("IDLE", Align::Right),
    ]);
    let mut table = Table::new(2, heads, "COMMAND");
    let rows = view.rows(g);
    for line in layout::layout(&rows) {
        let Line::Proc { index, prefix, .. } = line else {
            continue;
        };
        let r = &rows[index];
        let mut cells = process_cells(r);
        if view.gpu.found() {
            cells.push(view.gpu.kb(r.id()).map_or("?".to_string(), human_kb));
        }
        cells.extend([
            age((view.age_ms)(r.start)),
            format!("{:.1}s", r.cpu_ms as f64 / 1000.0),
            view.idle_ms
                .get(&r.id())
                .map_or("?".to_string(), |ms| age(*ms)),
        ]);
        table.row(
            cells,
            format!(
                "{prefix}{}",
                printable(&super::shown_command(&r.name, &r.cmd))
            ),
        );
    }
    table
}

/// One group as JSON: `id`, `strength`, `evidence`, `rss_kb`, `pss_kb` (when every
/// member was measured), `gpu_kb` (GPU memory that ending it returns, `null` where
/// unknown or no GPU was found), `gpu_notes`, `processes` (each with its `gpu_kb`
/// and the GPU device nodes it holds, `gpu_devices`, `null` where unreadable).
pub fn group_json(g: &OrphanGroup, view: &View) -> Value {
    let processes: Vec<Value> = g
        .processes
        .iter()
        .map(|o| {
            let s = &o.sample;
            let m = view.memory.get(&s.id());
            let gpu = view.gpu.processes.get(&s.id());
            let devices = gpu
                .and_then(|p| p.nodes.as_ref())
                .map(|n| n.iter().map(|(_, path)| path.as_str()).collect::<Vec<_>>());
            json!({
                "pid": s.pid,
                "start": s.start,
                "ppid": s.ppid,
                "pgrp": s.pgrp,
                "session": s.session,
                "state": char::from(s.state).to_string(),
                "rss_kb": s.rss_kb,
                "pss_kb": m.map(|m| m.pss_kb),
                "uss_kb": m.map(|m| m.uss_kb),
                "gpu_kb": view.gpu.kb(s.id()),
                "gpu_devices": devices,
                "ns_pid": gpu.and_then(|p| p.ns_pid),
                "age_ms": (view.age_ms)(s.start),
                "cpu_ms": s.cpu_ms,
                "idle_ms": view.idle_ms.get(&s.id()),
                "uid": o.uid,
                "adopted": o.adopted,
                "name": o.command.name,
                "cmd": o.command.cmd,
            })
        })
        .collect();
    json!({
        "id": g.id,
        "strength": strength(g),
        "evidence": g.evidence,
        "rss_kb": g.rss_kb,
        "pss_kb": view.pss_kb(g),
        "gpu_kb": view.gpu_kb(g),
        "gpu_notes": view.gpu_notes(g),
        "processes": processes,
    })
}

/// The whole listing as one JSON object: `groups`, and the processes that could not
/// be read (`unreadable`) or vanished mid-scan (`vanished`).
pub fn json(groups: &[&OrphanGroup], view: &View, unreadable: usize, vanished: usize) -> String {
    let mut s = json_value(groups, view, unreadable, vanished).to_string();
    s.push('\n');
    s
}

/// [`json`] as a value, for a caller to add to.
pub fn json_value(
    groups: &[&OrphanGroup],
    view: &View,
    unreadable: usize,
    vanished: usize,
) -> Value {
    let groups: Vec<Value> = groups.iter().map(|g| group_json(g, view)).collect();
    json!({
        "groups": groups,
        "unreadable": unreadable,
        "vanished": vanished,
    })
}

/// A watcher's story of a group, for `--json`: when it was orphaned (`orphaned_ms`,
/// exact or between `since_ms` and it), the process that died (`died_pid`,
/// `died_cmd`), how (`how`: `exit_code`, or `signal` and `signal_name`), what it
/// left (`left`, `rss_kb`, `pss_kb` then) and the source that saw it.
pub fn story_json(s: &crate::model::watch::story::Story) -> Value {
    json!({
        "orphaned_ms": s.time_ms,
        "exact": s.exact,
        "since_ms": s.since_ms,
        "died_pid": s.died_pid,
        "died_cmd": s.died_cmd,
        "how": s.how,
        "strength": if s.strength() == Strength::Strong { "strong" } else { "weak" },
        "left": s.left,
        "rss_kb": s.rss_kb,
        "pss_kb": s.pss_kb,
        "source": s.source,
    })
}

/// A tick-log snapshot per group, to paste into a bug report: its oldest member as
/// the root, every member marked leaked, the adopted ones escaped, with the evidence
/// in their `escaped` events.
pub fn snapshots(groups: &[&OrphanGroup], view: &View, time_ms: u64, host: &str) -> String {
    let mut out = String::new();
    for g in groups {
        let rows = view.rows(g);
        let Some(oldest) = rows.iter().min_by_key(|r| (r.start, r.pid)) else {
            continue;
        };
        let header = Header {
            root_pid: oldest.pid,
            root_start: oldest.start,
            root_cmd: oldest.cmd.clone(),
            interval_ms: 1000,
            started_ms: time_ms,
            host: host.to_string(),
            events: None,
            start_clock: None,
        };
        let evidence: Vec<&str> = g.evidence.iter().map(|e| e.text.as_str()).collect();
        let events = g
            .processes
            .iter()
            .filter(|o| o.adopted)
            .map(|o| Event::Escaped {
                pid: o.sample.pid,
                start: o.sample.start,
                ppid: o.sample.ppid,
                evidence: format!("orphan group {}: {}", g.id, evidence.join("; ")),
            })
            .collect();
        let tick = Tick {
            tick: 1,
            elapsed_ms: 0,
            time_ms,
            root_alive: true,
            processes: rows,
            events,
            alerts: Vec::new(),
        };
        Format::Text.write_header(&header, &mut out);
        Format::Text.write_tick(&tick, &mut out);
    }
    out
}

/// `--format summary`: one line per group for scripts, tab-separated and never cut:
/// id, `strong`/`weak`, processes, RSS KiB, PSS KiB, GPU KiB (`?` where unknown), the
/// first evidence's kind, and its largest process's command line (control characters,
/// tabs included, escaped as `\t`, so a line is always 8 fields).
pub fn summary(groups: &[&OrphanGroup], view: &View) -> String {
    let mut out = String::new();
    for g in groups {
        let known = |kb: Option<u64>| kb.map_or("?".to_string(), |kb| kb.to_string());
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            g.id,
            strength(g),
            g.processes.len(),
            g.rss_kb,
            known(view.pss_kb(g)),
            known(view.gpu_kb(g)),
            g.evidence.first().map_or("none", |e| e.kind),
            printable(&largest_command(g)),
        );
    }
    out
}

/// The command line of the group's process with the most RSS.
fn largest_command(g: &OrphanGroup) -> String {
    g.processes
        .iter()
        .max_by_key(|o| o.sample.rss_kb)
        .map_or(String::new(), |o| o.command.cmd.clone())
}

/// The line `--watch` prints when a group appears (its GPU memory too where a GPU was
/// found), ending with its largest process's command line, within `width`.
pub fn appeared_line(g: &OrphanGroup, view: &View, width: Width) -> String {
    let top = largest_command(g);
    let top = printable(&top);
    let evidence = g.evidence.first().map_or("", |e| e.text.as_str());
    let gpu = if view.gpu.found() {
        format!(", GPU {}", view.gpu_kb(g).map_or("?".to_string(), human_kb))
    } else {
        String::new()
    };
    let line = format!(
        "new orphan group {} ({}): {}, RSS {}{gpu}: {}: {}",
        g.id,
        strength(g),
        plural(g.processes.len(), "process", "processes"),
        human_kb(g.rss_kb),
        printable(evidence),
        top
    );
    format!("{}\n", width.line(&line))
}
