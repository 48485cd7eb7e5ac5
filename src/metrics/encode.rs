//! [`Figures`] in the OpenMetrics text format, as `prometheus-client` encodes it.
//!
//! Names follow Prometheus's conventions: a `leaktop_` prefix, base units (`_bytes`,
//! `_seconds`, added by the encoder from the registered unit), `_total` on the one
//! counter (added by the encoder too), and no pid label (a pid per series would grow
//! without bound). Every series carries `root`, the root's command name.

use prometheus_client::encoding::text::encode as encode_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::state::{FamilyFigures, Figures, OrphanFigures};

/// The `Content-Type` of what [`encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// The exposition of `figures`, ending with `# EOF`. Only the figures published are
/// shown: a family's before its first tick are absent, not 0.
pub fn encode(figures: &Figures) -> String {
    let mut registry = Registry::with_prefix("leaktop");
    if let Some(f) = &figures.family {
        register_family(&mut registry, f);
    }
    if let Some(o) = &figures.orphans {
        register_orphans(&mut registry, o);
    }
    if let Some(w) = &figures.watch {
        super::watch::register(&mut registry, w);
    }
    let mut out = String::with_capacity(2048);
    // Writing to a String cannot fail.
    let _ = encode_text(&mut out, &registry);
    out
}

/// A gauge per label set, registered under `name`.
fn gauge(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    series: Vec<(Labels, i64)>,
) {
    let family = Family::<Labels, Gauge>::default();
    for (labels, value) in series {
        family.get_or_create(&labels).set(value);
    }
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, family),
        None => registry.register(name, help, family),
    }
}

/// A count or byte figure as a gauge's i64, saturating (it never gets near).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn register_family(registry: &mut Registry, f: &FamilyFigures) {
    let root = || vec![("root", f.root.clone())];
    let with = |k: &'static str, v: &str| vec![("root", f.root.clone()), (k, v.to_string())];
    gauge(
        registry,
        "family_processes",
        "Processes in the watched family at the last tick, leaked ones included",
        None,
        vec![(root(), int(f.processes))],
    );
    gauge(
        registry,
        "leaked_processes",
        "Processes of the family marked leaked (reparented, escaped or outliving the root) at the last tick",
        None,
        vec![(root(), int(f.leaked))],
    );
    let mut memory = vec![(with("kind", "rss"), int(f.leaked_rss_bytes))];
    // Unknown PSS is left out rather than shown as a figure it is not.
    if let Some(pss) = f.leaked_pss_bytes {
        memory.push((with("kind", "pss"), int(pss)));
    }
    gauge(
        registry,
        "leaked_memory",
        "Memory held by the leaked processes at the last tick: RSS, and PSS (shared pages divided among sharers, about what killing them frees) when known for all",
        Some(Unit::Bytes),
        memory,
    );
    // Only where known for every leaked process (and a GPU was found): never 0 for
    // unknown.
    if let Some(bytes) = f.leaked_gpu_bytes {
        gauge(
            registry,
            "leaked_gpu_memory",
            "GPU memory held by the leaked processes at the last tick (NVML, DRM fdinfo): what killing them returns to the GPU",
            Some(Unit::Bytes),
            vec![(root(), int(bytes))],
        );
    }
    gauge(
        registry,
        "escaped_processes",
        "Processes that escaped the family (their parent gone before a sample saw it) at the last tick",
        None,
        vec![(root(), int(f.escaped))],
    );
    gauge(
        registry,
        "alerts",
        "Alerts standing at the last tick, by kind",
        None,
        f.alerts
            .iter()
            .map(|(kind, n)| (with("kind", kind.name()), int(*n)))
            .collect(),
    );
    gauge(
        registry,
        "root_up",
        "1 if the root process was alive at the last tick, else 0",
        None,
        vec![(root(), i64::from(f.root_up))],
    );
    let leaks = Family::<Labels, Counter>::default();
    leaks.get_or_create(&root()).inc_by(f.leaks_total);
    // Registered without `_total`: the encoder adds it to a counter.
    registry.register(
        "leaks",
        "Processes newly marked leaked since leaktop started",
        leaks,
    );
    let tick = Family::<Labels, FloatGauge>::default();
    tick.get_or_create(&root()).set(f.tick_seconds);
    registry.register_with_unit(
        "tick",
        "Wall time the last tick's sampling took",
        Unit::Seconds,
        tick,
    );
}

fn register_orphans(registry: &mut Registry, o: &OrphanFigures) {
    let groups = Gauge::<i64>::default();
    groups.set(int(o.groups));
    registry.register(
        "orphan_groups",
        "Groups of orphaned processes standing on the machine",
        groups,
    );
    if let Some(bytes) = o.memory_bytes {
        let memory = Gauge::<i64>::default();
        memory.set(int(bytes));
        registry.register_with_unit(
            "orphaned_memory",
            "Resident memory (RSS) of the orphan groups' processes",
            Unit::Bytes,
            memory,
        );
    }
    if let Some(bytes) = o.gpu_bytes {
        let memory = Gauge::<i64>::default();
        memory.set(int(bytes));
        registry.register_with_unit(
            "orphaned_gpu_memory",
            "GPU memory of the orphan groups' processes (NVML, DRM fdinfo)",
            Unit::Bytes,
            memory,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::state::MetricsState;
    use crate::model::AlertKind;

    fn family() -> FamilyFigures {
        FamilyFigures {
            root: "serve \"x\"".into(),
            processes: 7,
            leaked: 3,
            leaked_rss_bytes: 3 << 20,
            leaked_pss_bytes: None,
            leaked_gpu_bytes: None,
            escaped: 1,
            alerts: AlertKind::ALL.iter().map(|&k| (k, 0)).collect(),
            leaks_total: 4,
            root_up: false,
            tick_seconds: 0.0025,
        }
    }

    /// The value of the line that starts with `series` (name and labels).
    fn value(text: &str, series: &str) -> Option<String> {
        text.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')
                .map(str::to_string)
        })
    }

    #[test]
    fn family_figures_are_named_in_base_units_with_a_root_label() {
        let text = encode(&Figures {
            family: Some(family()),
            orphans: None,
            ..Figures::default()
        });
        let root = r#"root="serve \"x\"""#;
        assert_eq!(
            value(&text, &format!("leaktop_family_processes{{{root}}}")).as_deref(),
            Some("7")
        );
        assert_eq!(
            value(&text, &format!("leaktop_leaked_processes{{{root}}}")).as_deref(),
            Some("3")
        );
        assert_eq!(
            value(
                &text,
                &format!("leaktop_leaked_memory_bytes{{{root},kind=\"rss\"}}")
            )
            .as_deref(),
            Some("3145728")
        );
        // Unknown PSS is absent, not 0.
        assert!(!text.contains("kind=\"pss\""), "{text}");
        assert_eq!(
            value(&text, &format!("leaktop_escaped_processes{{{root}}}")).as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&text, &format!("leaktop_leaks_total{{{root}}}")).as_deref(),
            Some("4")
        );
        assert!(text.contains("# TYPE leaktop_leaks counter"), "{text}");
        assert_eq!(
            value(&text, &format!("leaktop_root_up{{{root}}}")).as_deref(),
            Some("0")
        );
        assert_eq!(
            value(&text, &format!("leaktop_tick_seconds{{{root}}}")).as_deref(),
            Some("0.0025")
        );
        assert!(
            text.contains("# UNIT leaktop_tick_seconds seconds"),
            "{text}"
        );
        for kind in AlertKind::ALL {
            assert_eq!(
                value(&text, &format!("leaktop_alerts{{{root},kind=\"{kind}\"}}")).as_deref(),
                Some("0"),
                "{kind}: {text}"
            );
        }
        assert!(!text.contains("pid"), "{text}");
        assert!(!text.contains("orphan"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn nothing_published_is_an_empty_exposition() {
        assert_eq!(encode(&Figures::default()), "# EOF\n");
    }

    /// The two figures of `orphans --watch`, set through the state's API only.
    #[test]
    fn orphan_gauges_come_from_the_state_api() {
        let state = MetricsState::new();
        state.set_orphans(OrphanFigures {
            groups: 3,
            memory_bytes: Some(5 << 20),
            gpu_bytes: Some(3 << 30),
        });
        let text = encode(&state.snapshot());
        assert_eq!(value(&text, "leaktop_orphan_groups").as_deref(), Some("3"));
        assert_eq!(
            value(&text, "leaktop_orphaned_memory_bytes").as_deref(),
            Some("5242880")
        );
        assert_eq!(
            value(&text, "leaktop_orphaned_gpu_memory_bytes").as_deref(),
            Some("3221225472")
        );
        assert!(
            text.contains("# UNIT leaktop_orphaned_gpu_memory_bytes bytes"),
            "{text}"
        );
        assert!(!text.contains("leaktop_family_processes"), "{text}");
        state.set_orphans(OrphanFigures {
            groups: 0,
            memory_bytes: None,
            gpu_bytes: None,
        });
        let text = encode(&state.snapshot());
        assert_eq!(value(&text, "leaktop_orphan_groups").as_deref(), Some("0"));
        assert!(!text.contains("orphaned_memory"), "{text}");
        assert!(
            !text.contains("gpu"),
            "unknown GPU memory is no series: {text}"
        );
    }

    #[test]
    fn leaked_gpu_memory_is_a_series_only_where_known() {
        let mut f = family();
        let text = encode(&Figures {
            family: Some(f.clone()),
            orphans: None,
            ..Figures::default()
        });
        assert!(!text.contains("gpu"), "{text}");
        f.leaked_gpu_bytes = Some(2 << 30);
        let text = encode(&Figures {
            family: Some(f),
            orphans: None,
            ..Figures::default()
        });
        let root = r#"root="serve \"x\"""#;
        assert_eq!(
            value(&text, &format!("leaktop_leaked_gpu_memory_bytes{{{root}}}")).as_deref(),
            Some("2147483648"),
            "{text}"
        );
    }
}
