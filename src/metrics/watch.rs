//! What `leaktop watch` publishes: orphan groups and their memory by `origin` (the
//! job that died, or the policy that names the group: a bounded set of labels, never
//! a pid), orphanings and policy actions counted since it started, events lost, and
//! the size of its lineage table. Served on `--metrics` and written to `--textfile`.

use std::collections::BTreeMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// Orphan groups standing now that share an `origin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginFigures {
    pub groups: u64,
    pub processes: u64,
    /// RSS summed, bytes (`/proc/PID/stat`).
    pub rss_bytes: u64,
    /// PSS summed, bytes (`smaps_rollup`); `None` unless read for every process.
    pub pss_bytes: Option<u64>,
}

/// The watcher's figures at its last scan. Counters count since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchFigures {
    /// The event source: `connector`, `pidfd`, `ticks`.
    pub source: String,
    /// Groups standing, by origin (strong and weak; ignored ones left out).
    pub by_origin: BTreeMap<String, OriginFigures>,
    /// Orphanings recorded, by origin (`leaktop_orphanings_total`).
    pub orphanings: BTreeMap<String, u64>,
    /// Policy actions: (policy, action, result) → count.
    pub actions: BTreeMap<(String, String, String), u64>,
    /// Kernel events lost (`leaktop_events_lost_total`): counted ones, and one per
    /// loss of unknown size.
    pub events_lost: u64,
    /// Processes in the lineage table.
    pub processes: u64,
}

type Labels = Vec<(&'static str, String)>;

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Registers the watcher's figures.
pub fn register(registry: &mut Registry, w: &WatchFigures) {
    let groups = Family::<Labels, Gauge>::default();
    let memory = Family::<Labels, Gauge>::default();
    for (origin, f) in &w.by_origin {
        groups
            .get_or_create(&vec![("origin", origin.clone())])
            .set(int(f.groups));
        memory
            .get_or_create(&vec![("origin", origin.clone()), ("kind", "rss".into())])
            .set(int(f.rss_bytes));
        // Unknown PSS is left out rather than shown as a figure it is not.
        if let Some(pss) = f.pss_bytes {
            memory
                .get_or_create(&vec![("origin", origin.clone()), ("kind", "pss".into())])
                .set(int(pss));
        }
    }
    registry.register(
        "orphan_groups",
        "Orphan groups standing on the machine, by the job that left them (origin)",
        groups,
    );
    registry.register_with_unit(
        "orphaned_memory",
        "Memory of the orphan groups' processes by origin: RSS, and PSS (about what ending them frees) when known for all",
        Unit::Bytes,
        memory,
    );
    let orphanings = Family::<Labels, Counter>::default();
    for (origin, n) in &w.orphanings {
        orphanings
            .get_or_create(&vec![("origin", origin.clone())])
            .inc_by(*n);
    }
    registry.register(
        "orphanings",
        "Processes that died leaving live processes behind, since the watcher started, by origin",
        orphanings,
    );
    let actions = Family::<Labels, Counter>::default();
    for ((policy, action, result), n) in &w.actions {
        actions
            .get_or_create(&vec![
                ("policy", policy.clone()),
                ("action", action.clone()),
                ("result", result.clone()),
            ])
            .inc_by(*n);
    }
    registry.register(
        "policy_actions",
        "What the [[policy]] rules did since the watcher started: reported, ended, refused (weak evidence), would_end (--dry-run)",
        actions,
    );
    let lost = Counter::<u64>::default();
    lost.inc_by(w.events_lost);
    registry.register(
        "events_lost",
        "Process events the kernel dropped since the watcher started (what happened then was read from /proc)",
        lost,
    );
    let processes = Gauge::<i64>::default();
    processes.set(int(w.processes));
    registry.register(
        "watched_processes",
        "Processes in the watcher's lineage table",
        processes,
    );
    let source = Family::<Labels, Gauge>::default();
    source
        .get_or_create(&vec![("source", w.source.clone())])
        .set(1);
    registry.register(
        "watch_source",
        "The watcher's source of process events (connector, pidfd, ticks): 1 for the one in use",
        source,
    );
}

/// OpenMetrics text as the Prometheus text format that node_exporter's textfile
/// collector (and Alloy's, and Fluent Bit's `prometheus_textfile`) reads: no `# EOF`
/// or `# UNIT`, a counter's `# TYPE` and `# HELP` under its `_total` name, no
/// `_created` samples, and a final newline.
pub fn prometheus_text(openmetrics: &str) -> String {
    let mut counters: Vec<String> = Vec::new();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.push(name.to_string());
            out.push_str(&format!("# TYPE {name}_total counter\n"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            if counters.iter().any(|c| c == name) || is_counter_ahead(openmetrics, name) {
                out.push_str(&format!("# HELP {name}_total{}\n", &rest[name.len()..]));
                continue;
            }
        }
        let sample = line.split(['{', ' ']).next().unwrap_or("");
        if sample.ends_with("_created") && counters.iter().any(|c| sample == format!("{c}_created"))
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Whether `# TYPE name counter` appears in `text` (HELP comes before TYPE).
fn is_counter_ahead(text: &str, name: &str) -> bool {
    text.lines().any(|l| l == format!("# TYPE {name} counter"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::encode::encode;
    use crate::metrics::state::Figures;

    fn figures() -> WatchFigures {
        let mut w = WatchFigures {
            source: "connector".into(),
            events_lost: 3,
            processes: 2000,
            ..WatchFigures::default()
        };
        w.by_origin.insert(
            "python3".into(),
            OriginFigures {
                groups: 1,
                processes: 5,
                rss_bytes: 100 << 20,
                pss_bytes: Some(60 << 20),
            },
        );
        w.by_origin.insert(
            "mcp".into(),
            OriginFigures {
                groups: 2,
                processes: 2,
                rss_bytes: 10 << 20,
                pss_bytes: None,
            },
        );
        w.orphanings.insert("python3".into(), 4);
        w.actions
            .insert(("mcp".into(), "kill".into(), "ended".into()), 1);
        w
    }

    #[test]
    fn groups_and_memory_by_origin_no_pids_and_unknown_pss_left_out() {
        let text = encode(&Figures {
            watch: Some(figures()),
            ..Figures::default()
        });
        for line in [
            "leaktop_orphan_groups{origin=\"python3\"} 1",
            "leaktop_orphaned_memory_bytes{origin=\"python3\",kind=\"pss\"} 62914560",
            "leaktop_orphaned_memory_bytes{origin=\"mcp\",kind=\"rss\"} 10485760",
            "leaktop_orphanings_total{origin=\"python3\"} 4",
            "leaktop_policy_actions_total{policy=\"mcp\",action=\"kill\",result=\"ended\"} 1",
            "leaktop_events_lost_total 3",
            "leaktop_watched_processes 2000",
            "leaktop_watch_source{source=\"connector\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("origin=\"mcp\",kind=\"pss\""), "{text}");
        assert!(!text.contains("pid=\""), "no pid label: {text}");
    }

    #[test]
    fn the_textfile_is_the_prometheus_text_format() {
        let text = prometheus_text(&encode(&Figures {
            watch: Some(figures()),
            ..Figures::default()
        }));
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE leaktop_orphanings_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP leaktop_orphanings_total "), "{text}");
        assert!(!text.contains("_created"), "{text}");
        assert!(text.ends_with('\n'));
    }
}
