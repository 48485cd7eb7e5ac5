//! `run --check --junit FILE`: JUnit XML, written with `quick-junit` (which escapes
//! names and drops characters XML cannot hold).
//!
//! One test case per leaked tree, failing, its message the tree's one-line title and
//! its body the tree as the tick-log writes it; one per alert kind named in
//! `--fail-on`, failing if such an alert fails the run (raised at any time; with `--fail-after`, standing at the end or for that long); one for processes adopted but
//! unreadable, if any. A run with no leaks has one passing case, `no leaked processes`.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::CiReport;
use crate::format::plural;

/// The report as JUnit XML.
pub fn junit_xml(report: &CiReport) -> String {
    let mut suite = TestSuite::new(format!("leaktop run {}", report.command));
    let failed = |message: String, body: String| {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status
            .set_type("leaktop")
            .set_message(message)
            .set_description(body);
        status
    };
    for tree in &report.trees {
        let top = tree.top();
        let mut case = TestCase::new(
            format!("leaked {} {}", top.pid, crate::format::printable(&top.name)),
            failed(tree.title(), tree.text()),
        );
        case.set_classname("leaktop.leaks");
        suite.add_test_case(case);
    }
    if !report.hidden.is_empty() {
        let pids: Vec<String> = report.hidden.iter().map(u32::to_string).collect();
        let mut case = TestCase::new(
            "adopted processes that cannot be read",
            failed(
                format!(
                    "{} adopted by leaktop cannot be read (hidepid, or a mount over /proc/PID)",
                    plural(report.hidden.len(), "process", "processes")
                ),
                format!("pids: {}\n", pids.join(" ")),
            ),
        );
        case.set_classname("leaktop.leaks");
        suite.add_test_case(case);
    }
    if report.trees.is_empty() && report.hidden.is_empty() {
        let mut case = TestCase::new("no leaked processes", TestCaseStatus::success());
        case.set_classname("leaktop.leaks");
        suite.add_test_case(case);
    }
    for (kind, alerts) in &report.fail_on {
        let status = if alerts.is_empty() {
            TestCaseStatus::success()
        } else {
            let body: String = alerts
                .iter()
                .map(|a| {
                    format!(
                        "{} {} from tick {}: {}\n",
                        a.kind, a.pid, a.since_tick, a.reason
                    )
                })
                .collect();
            failed(
                format!(
                    "{} failing the run",
                    plural(
                        alerts.len(),
                        &format!("{kind} alert"),
                        &format!("{kind} alerts")
                    )
                ),
                body,
            )
        };
        let mut case = TestCase::new(format!("alert {kind}"), status);
        case.set_classname("leaktop.alerts");
        suite.add_test_case(case);
    }
    let mut xml = Report::new("leaktop");
    xml.add_test_suite(suite);
    // Serialising to memory fails only on a bug in the crate; an empty report says so.
    xml.to_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::{LeakedTree, leaked_trees, tests::rows};
    use crate::model::{Alert, AlertKind};

    #[test]
    fn a_case_per_tree_with_the_tree_as_its_failure() {
        let report = CiReport {
            command: "make test".into(),
            trees: leaked_trees(&rows()),
            ..CiReport::default()
        };
        let xml = junit_xml(&report);
        assert!(
            xml.contains(r#"tests="2""#) && xml.contains(r#"failures="2""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testcase name="leaked 20 p20" classname="leaktop.leaks">"#),
            "{xml}"
        );
        assert!(
            xml.contains("message=\"20 p20: reparented from 10, 3 processes holding 6 MiB\""),
            "{xml}"
        );
        assert!(xml.contains("├── 21 p21 PPID=20"), "{xml}");
        assert!(xml.contains("30 p30: escaped the family"), "{xml}");
    }

    #[test]
    fn a_clean_run_is_one_passing_case_and_fail_on_kinds_are_cases() {
        let alert = Alert {
            kind: AlertKind::Idle,
            pid: 7,
            start: 7,
            since_tick: 3,
            reason: "no CPU for 60s".into(),
        };
        let report = CiReport {
            command: "true".into(),
            fail_on: vec![
                (AlertKind::Accumulating, vec![]),
                (AlertKind::Idle, vec![alert]),
            ],
            ..CiReport::default()
        };
        let xml = junit_xml(&report);
        assert!(
            xml.contains(r#"<testcase name="no leaked processes" classname="leaktop.leaks"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testcase name="alert accumulating" classname="leaktop.alerts"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains("message=\"1 idle alert failing the run\""),
            "{xml}"
        );
        assert!(xml.contains("idle 7 from tick 3: no CPU for 60s"), "{xml}");
        assert!(
            xml.contains(r#"tests="3""#) && xml.contains(r#"failures="1""#),
            "{xml}"
        );
    }

    #[test]
    fn hostile_names_are_escaped() {
        let mut row = rows().remove(3);
        row.name = "<x>&\"'\u{1b}[31m".into();
        row.cmd = "]]> </failure>".into();
        let report = CiReport {
            command: "a & b".into(),
            trees: vec![LeakedTree { rows: vec![row] }],
            ..CiReport::default()
        };
        let xml = junit_xml(&report);
        assert!(
            !xml.contains("<x>") && !xml.contains("]]> </failure>"),
            "{xml}"
        );
        assert!(!xml.contains('\u{1b}'), "{xml}");
        assert!(xml.contains("a &amp; b"), "{xml}");
    }
}
