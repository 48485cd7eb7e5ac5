//! `--metrics` against the fake host: what a monitor publishes tick by tick, on a fake
//! clock, read back as Prometheus would.

use crate::fakes;

use std::time::Duration;

use fakes::host::{FakeHost, Proc};
use leaktop::metrics::{MetricsState, encode::encode};
use leaktop::monitor::Monitor;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn a_monitor_publishes_each_tick_and_counts_each_leak_once() {
    let fake = FakeHost::new(9000);
    fake.add(Proc::new(100, 1, "python3").cmd("python3 serve.py"));
    fake.add(Proc::new(101, 100, "python3").rss_mb(20).mem_mb(12, 10, 0));
    fake.add(Proc::new(102, 100, "python3").rss_mb(30));
    let state = MetricsState::new();
    let mut m = Monitor::attach_on(
        fake.host(),
        Box::new(fake.sampler()),
        100,
        Duration::from_secs(1),
        Vec::new(),
    )
    .unwrap()
    .with_leak_grace(Duration::from_secs(1))
    .with_metrics(Some(state.clone()));
    // Nothing is published before the first tick.
    assert_eq!(encode(&state.snapshot()), "# EOF\n");
    // Every host call costs 1 ms of the fake clock: the tick's sampling takes some.
    fake.set_call_cost(Duration::from_millis(1));
    fake.advance(Duration::from_secs(1));
    m.step().unwrap();
    let text = encode(&state.snapshot());
    let root = "{root=\"python3\"}";
    assert_eq!(
        value(&text, &format!("leaktop_family_processes{root}")),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(&text, &format!("leaktop_leaked_processes{root}")),
        Some(0.0)
    );
    assert_eq!(value(&text, &format!("leaktop_root_up{root}")), Some(1.0));
    let took = value(&text, &format!("leaktop_tick_seconds{root}")).unwrap();
    assert!(took > 0.0 && took < 1.0, "{took}");

    // The root dies; its children are reparented to init and, past the leak grace,
    // leaked; one of them then exits.
    fake.exit(100, 0);
    for _ in 0..4 {
        fake.advance(Duration::from_secs(1));
        m.step().unwrap();
    }
    let text = encode(&state.snapshot());
    assert_eq!(
        value(&text, &format!("leaktop_leaked_processes{root}")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(value(&text, &format!("leaktop_root_up{root}")), Some(0.0));
    assert_eq!(
        value(&text, &format!("leaktop_leaks_total{root}")),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            "leaktop_leaked_memory_bytes{root=\"python3\",kind=\"rss\"}"
        ),
        Some(50.0 * 1024.0 * 1024.0)
    );
    fake.exit(102, 0);
    for _ in 0..3 {
        fake.advance(Duration::from_secs(1));
        m.step().unwrap();
    }
    let text = encode(&state.snapshot());
    assert_eq!(
        value(&text, &format!("leaktop_leaked_processes{root}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, &format!("leaktop_leaks_total{root}")),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            "leaktop_leaked_memory_bytes{root=\"python3\",kind=\"pss\"}"
        ),
        Some(12.0 * 1024.0 * 1024.0),
        "{text}"
    );
}
