//! GitHub Actions (`GITHUB_ACTIONS=true`): `::error` workflow commands that annotate
//! the job, one per leaked tree, and a Markdown table for `$GITHUB_STEP_SUMMARY`.
//!
//! GitHub shows at most 10 error annotations per step, so at most [`MAX_ANNOTATIONS`]
//! are about single findings and one more says how many were left out. A step summary
//! may hold at most [`SUMMARY_CAP`] bytes; what is appended fits in what is left.

use std::fmt::Write;

use super::CiReport;
use crate::format::{human_kb, plural, printable};

/// Annotations about single findings; one more says how many were left out.
pub const MAX_ANNOTATIONS: usize = 9;
/// GitHub's limit on a step summary file, bytes.
pub const SUMMARY_CAP: usize = 1024 * 1024;

/// The annotation's severity: `error` fails the check (`--check`), `warning` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// The workflow-command lines (each ending in `\n`) annotating the job: one per leaked
/// tree (the tree in tick-log style), per unreadable adoptee list and per failing
/// `--fail-on` kind, at most [`MAX_ANNOTATIONS`], then one saying how many more.
pub fn annotations(report: &CiReport, level: Level) -> String {
    let mut findings: Vec<String> = report
        .trees
        .iter()
        .map(|t| format!("leaked {}\n{}", t.title(), t.text()))
        .collect();
    if !report.hidden.is_empty() {
        let pids: Vec<String> = report.hidden.iter().map(u32::to_string).collect();
        findings.push(format!(
            "{} adopted by leaktop cannot be read (hidepid, or a mount over /proc/PID): {}",
            plural(report.hidden.len(), "process", "processes"),
            pids.join(" ")
        ));
    }
    for (kind, alerts) in report.fail_on.iter().filter(|(_, a)| !a.is_empty()) {
        let mut m = format!("alert {kind} (--fail-on) failing the run:");
        for a in alerts {
            let _ = write!(
                m,
                "\n{} {} from tick {}: {}",
                a.kind, a.pid, a.since_tick, a.reason
            );
        }
        findings.push(m);
    }
    let command = match level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    let title = property("leaktop");
    let mut out = String::new();
    let shown = if findings.len() > MAX_ANNOTATIONS + 1 {
        MAX_ANNOTATIONS
    } else {
        findings.len()
    };
    for f in &findings[..shown] {
        let _ = writeln!(out, "::{command} title={title}::{}", data(f));
    }
    if shown < findings.len() {
        let more = findings.len() - shown;
        let _ = writeln!(
            out,
            "::{command} title={title}::{}",
            data(&format!(
                "and {more} more {} (GitHub shows 10 annotations per step): see leaktop's report in the log",
                if more == 1 { "finding" } else { "findings" }
            ))
        );
    }
    out
}

/// Escapes a workflow command's message as GitHub's runner reads it back: `%`, `\r`
/// and `\n` as `%25`, `%0D`, `%0A`.
pub fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value: as [`data`], and `:` and `,` as
/// `%3A` and `%2C`.
pub fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The Markdown appended to `$GITHUB_STEP_SUMMARY`: a heading, a table of the leaked
/// trees, failing alerts, and the trees themselves; at most `room` bytes (trees, then
/// table rows, are left out with a note when it would not fit).
pub fn step_summary(report: &CiReport, room: usize) -> String {
    let head = summary_heading(report);
    let rows = summary_rows(report);
    let alerts = summary_alerts(report);
    let details: String = report
        .trees
        .iter()
        .map(|t| {
            format!(
                "<details><summary>{}</summary>\n\n<pre>\n{}</pre>\n</details>\n\n",
                html(&t.title()),
                html(&t.text())
            )
        })
        .collect();
    const TABLE: &str = "| PID | process | how it leaked | processes | RSS | command |\n|---:|---|---|---:|---:|---|\n";
    let full = rows.concat();
    let table = if rows.is_empty() { "" } else { TABLE };
    let mut out = format!("{head}{table}{full}\n{alerts}{details}");
    if out.len() <= room {
        return out;
    }
    // Without the trees' text, then with as many rows as fit, and a note.
    const CUT: &str =
        "\n_(cut to fit GitHub's 1 MiB step summary; leaktop's report in the log has it all)_\n";
    out = format!("{head}{table}");
    let mut kept = 0;
    for r in &rows {
        if out.len() + r.len() + alerts.len() + CUT.len() + 1 > room {
            break;
        }
        out.push_str(r);
        kept += 1;
    }
    if kept < rows.len() {
        let _ = writeln!(out, "| … | {} more | | | | |", rows.len() - kept);
    }
    out.push('\n');
    out.push_str(&alerts);
    out.push_str(CUT);
    // Not even the heading fits: nothing rather than a summary cut mid-line.
    if out.len() > room {
        return String::new();
    }
    out
}

/// The step summary's heading: the command, its exit code and what leaked.
fn summary_heading(report: &CiReport) -> String {
    let command = code(&report.command);
    let leaked: usize =
        report.trees.iter().map(|t| t.rows.len()).sum::<usize>() + report.hidden.len();
    if leaked == 0 {
        return format!(
            "### leaktop: `{command}` exited with code {}; no processes leaked\n\n",
            report.cmd_code
        );
    }
    format!(
        "### leaktop: `{command}` exited with code {}; {} leaked in {}\n\n",
        report.cmd_code,
        plural(leaked, "process", "processes"),
        plural(
            report.trees.len() + usize::from(!report.hidden.is_empty()),
            "tree",
            "trees"
        ),
    )
}

/// One table row per leaked tree, and one for the adopted processes leaktop could not
/// read.
fn summary_rows(report: &CiReport) -> Vec<String> {
    let mut rows: Vec<String> = report
        .trees
        .iter()
        .map(|t| {
            let top = t.top();
            format!(
                "| {} | {} | {} | {} | {} | `{}` |\n",
                top.pid,
                cell(&top.name),
                cell(&t.how()),
                t.rows.len(),
                human_kb(t.rss_kb()),
                code(&crate::format::fit(&top.cmd, 120)),
            )
        })
        .collect();
    if !report.hidden.is_empty() {
        let pids: Vec<String> = report.hidden.iter().map(u32::to_string).collect();
        rows.push(format!(
            "| {} | ? | adopted, /proc unreadable | {} | ? | |\n",
            cell(&pids.join(" ")),
            report.hidden.len()
        ));
    }
    rows
}

/// One line per `--fail-on` alert kind: passed, or failed with how many.
fn summary_alerts(report: &CiReport) -> String {
    let mut alerts = String::new();
    for (kind, raised) in &report.fail_on {
        let _ = writeln!(
            alerts,
            "- alert `{kind}` (--fail-on): {}",
            if raised.is_empty() {
                "passed (none failed the run)".to_string()
            } else {
                format!("failed ({})", plural(raised.len(), "alert", "alerts"))
            }
        );
    }
    if !alerts.is_empty() {
        alerts.push('\n');
    }
    alerts
}

/// Text for a Markdown table cell: printable, one line, no `|` or HTML.
fn cell(s: &str) -> String {
    html(&printable(s))
        .replace('|', "\\|")
        .replace('`', "'")
        .replace(['\n', '\r'], " ")
}

/// Text for a Markdown code span (in a table cell): printable, one line, no backtick
/// or `|` (entities are not decoded in code spans, so nothing else is escaped).
fn code(s: &str) -> String {
    printable(s)
        .replace('`', "'")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// Text for HTML: `&`, `<`, `>` escaped.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::{LeakedTree, leaked_trees, tests::rows};

    fn report(trees: Vec<LeakedTree>) -> CiReport {
        CiReport {
            command: "npm test".into(),
            cmd_code: 0,
            trees,
            ..CiReport::default()
        }
    }

    #[test]
    fn one_annotation_per_tree_with_newlines_escaped() {
        let out = annotations(&report(leaked_trees(&rows())), Level::Error);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines[0].starts_with(
                "::error title=leaktop::leaked 20 p20: reparented from 10, 3 processes holding 6 MiB%0Aleaked at tick 4: reparented from 10%0A20 p20 PPID=1"
            ),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("%0A├── 21 p21 PPID=20"), "{}", lines[0]);
        assert!(lines[1].starts_with("::error title=leaktop::leaked 30 p30: escaped"));
        let warn = annotations(&report(leaked_trees(&rows())), Level::Warning);
        assert!(warn.starts_with("::warning title=leaktop::"));
        assert_eq!(annotations(&report(vec![]), Level::Error), "");
    }

    #[test]
    fn at_most_nine_then_how_many_more() {
        let one = leaked_trees(&rows()).remove(1);
        let out = annotations(&report(vec![one.clone(); 14]), Level::Error);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 10);
        assert!(lines[9].contains("::and 5 more findings"), "{}", lines[9]);
        // Ten fit as they are.
        assert_eq!(
            annotations(&report(vec![one; 10]), Level::Error)
                .lines()
                .count(),
            10
        );
    }

    #[test]
    fn workflow_command_escaping_follows_github() {
        assert_eq!(data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        // A name cannot end the command early or start another.
        let mut row = rows().remove(3);
        row.name = "x\n::warning::fake".into();
        let out = annotations(&report(vec![LeakedTree { rows: vec![row] }]), Level::Error);
        assert_eq!(out.lines().count(), 1, "{out}");
    }

    #[test]
    fn the_step_summary_is_a_table_that_fits_its_room() {
        let r = report(leaked_trees(&rows()));
        let md = step_summary(&r, SUMMARY_CAP);
        assert!(
            md.starts_with(
                "### leaktop: `npm test` exited with code 0; 4 processes leaked in 2 trees\n"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 20 | p20 | reparented from 10 | 3 | 6 MiB | `p20` |"),
            "{md}"
        );
        assert!(md.contains("<pre>\nleaked at tick 4"), "{md}");
        let clean = step_summary(&report(vec![]), SUMMARY_CAP);
        assert!(
            clean.contains("no processes leaked") && !clean.contains('|'),
            "{clean}"
        );
        // Many trees in little room: cut, with a note, never over.
        let many = report(vec![r.trees[0].clone(); 5000]);
        let room = 20_000;
        let md = step_summary(&many, room);
        assert!(md.len() <= room, "{}", md.len());
        assert!(md.contains("more |") && md.contains("cut to fit"), "{md}");
        assert!(step_summary(&many, SUMMARY_CAP).len() <= SUMMARY_CAP);
        assert_eq!(step_summary(&many, 10), "");
        let mut hostile = rows().remove(3);
        hostile.name = "a|b<script>".into();
        let md = step_summary(
            &report(vec![LeakedTree {
                rows: vec![hostile],
            }]),
            SUMMARY_CAP,
        );
        assert!(
            md.contains("a\\|b&lt;script&gt;") && !md.contains("| a|b"),
            "{md}"
        );
        let r = CiReport {
            command: "a && b | `c`".into(),
            ..report(vec![])
        };
        assert!(step_summary(&r, SUMMARY_CAP).contains("`a && b \\| 'c'`"));
    }
}
