//! What stayed behind, for people: the trees of leaked processes as a table within a
//! [`Width`], the human counterpart of the tick-log's `KEY=VALUE` lines
//! ([`super::text::write_tree`]), which recordings and JUnit files keep.

use super::table::{Align, Table, Width};
use crate::human::{human_kb, printable};
use crate::model::ProcRow;
use crate::model::layout::{self, Line};

/// The first columns of a table of processes: PID, PPID, state, RSS and PSS.
pub const PROCESS_HEADS: [(&str, Align); 5] = [
    ("PID", Align::Right),
    ("PPID", Align::Right),
    ("S", Align::Left),
    ("RSS", Align::Right),
    ("PSS", Align::Right),
];

/// A process's cells under [`PROCESS_HEADS`]: sizes for people, PSS `?` where it was
/// not measured.
pub fn process_cells(r: &ProcRow) -> Vec<String> {
    vec![
        r.pid.to_string(),
        r.ppid.to_string(),
        r.state.to_string(),
        human_kb(r.rss_kb),
        r.pss_kb.map_or("?".to_string(), human_kb),
    ]
}

/// The rows as trees under their headings (`leaked at tick 3: reparented from 41`):
/// per process its PID, PPID, state, RSS, PSS and USS (`?` where not measured), swap
/// and GPU memory where any process has some, CPU time in seconds, and its command
/// line with the tree drawn before it, cut to `width`; `note` may add a remark under
/// a process (empty: none).
pub fn table(rows: &[ProcRow], width: Width, note: &dyn Fn(&ProcRow) -> String) -> String {
    let swap = rows.iter().any(|r| r.swap_kb.is_some_and(|kb| kb > 0));
    let gpu = rows.iter().any(|r| r.gpu_kb.is_some());
    let mut heads = PROCESS_HEADS.to_vec();
    heads.push(("USS", Align::Right));
    if swap {
        heads.push(("SWAP", Align::Right));
    }
    if gpu {
        heads.push(("GPU", Align::Right));
    }
    heads.push(("CPU", Align::Right));
    let known = |kb: Option<u64>| kb.map_or("?".to_string(), human_kb);
    let mut table = Table::new(2, heads, "COMMAND");
    for line in layout::layout(rows) {
        match line {
            Line::Heading(h) => table.text(h),
            Line::Proc { index, prefix, .. } => {
                let r = &rows[index];
                let mut cells = process_cells(r);
                cells.push(known(r.uss_kb));
                if swap {
                    cells.push(known(r.swap_kb));
                }
                if gpu {
                    cells.push(known(r.gpu_kb));
                }
                cells.push(format!("{:.2}s", r.cpu_ms as f64 / 1000.0));
                let shown = printable(&super::shown_command(&r.name, &r.cmd)).into_owned();
                table.row(cells, format!("{prefix}{shown}"));
                let remark = note(r);
                if !remark.is_empty() {
                    table.note(remark);
                }
            }
        }
    }
    let mut out = String::new();
    table.write(width, &mut out);
    out
}
