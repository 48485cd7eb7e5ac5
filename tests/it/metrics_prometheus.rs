//! A real Prometheus server scrapes `leaktop record --metrics` while a forkserver pool
//! is orphaned, and its query API reads back the leak. Needs Debian's `prometheus`
//! package (.ci/run installs it); skipped without it, except under CI (CI=true), where
//! a missing Prometheus fails.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Family, leaktop, wait_until};

/// A child process (and its process group) killed and reaped on drop, test failed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(pgid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `prometheus` on PATH; `None` (the test skips) unless CI requires it.
fn prometheus() -> Option<&'static str> {
    let found = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some("prometheus");
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "prometheus is not installed, and CI must run this test: apt-get install -y prometheus"
    );
    // Written to stderr itself, not through eprintln!, which the test harness hides
    // for a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED prometheus_scrapes_the_leak_of_an_orphaned_forkserver_pool: prometheus is not \
         installed (apt-get install -y prometheus); CI runs this test"
    );
    None
}

/// A port free on 127.0.0.1 at this moment.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP/1.0 GET (so no chunked reply); the body, or `None` on any failure.
fn get(addr: SocketAddr, path_and_query: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path_and_query} HTTP/1.0\r\nHost: localhost\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let ok = head.lines().next().is_some_and(|l| l.contains(" 200 "));
    ok.then(|| body.to_string())
}

/// The instant-vector samples of an instant query: (labels, value).
fn query(prom: SocketAddr, expr: &str) -> Vec<(serde_json::Value, f64)> {
    let q: String = expr
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let Some(body) = get(prom, &format!("/api/v1/query?query={q}")) else {
        return Vec::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&body) else {
        return Vec::new();
    };
    json["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let v = r["value"][1].as_str()?.parse().ok()?;
            Some((r["metric"].clone(), v))
        })
        .collect()
}

fn start_prometheus(bin: &str, dir: &Path, target: SocketAddr) -> (Killed, SocketAddr) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: leaktop\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("spawn prometheus");
    (Killed(child), web)
}

#[test]
fn prometheus_scrapes_the_leak_of_an_orphaned_forkserver_pool() {
    let Some(bin) = prometheus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut pool = Family::spawn_pool(dir.path());
    let mut recorder = leaktop()
        .args([
            "record",
            "--pid",
            &pool.pid().to_string(),
            "--interval",
            "200ms",
        ])
        .args(["--metrics", "127.0.0.1:0", "--out"])
        .arg(dir.path().join("pool.ticklog"))
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut note = String::new();
    BufReader::new(recorder.stderr.take().unwrap())
        .read_line(&mut note)
        .unwrap();
    let recorder = Killed(recorder);
    let target: SocketAddr = note
        .trim()
        .strip_prefix("leaktop: serving metrics on http://")
        .and_then(|a| a.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no address in {note:?}"))
        .parse()
        .unwrap();
    let (prom, web) = start_prometheus(bin, dir.path(), target);
    let log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();

    // Before the leak: Prometheus sees the family, and nothing leaked.
    let seen = wait_until(Duration::from_secs(60), || {
        query(web, "leaktop_leaked_processes")
            .first()
            .is_some_and(|(_, v)| *v == 0.0)
    });
    assert!(seen, "Prometheus never scraped leaktop:\n{}", log());

    pool.kill_root();
    // What is left of the pool (its forkserver, resource tracker and workers, all
    // carrying the family's tag) is what leaked.
    let mut expected = 0;
    assert!(wait_until(Duration::from_secs(10), || {
        let n = pool.tagged_pids().len();
        let settled = n == expected && n > 0;
        expected = n;
        settled
    }));
    let mut last = Vec::new();
    let read_back = wait_until(Duration::from_secs(60), || {
        last = query(web, "leaktop_leaked_processes");
        last.first().is_some_and(|(_, v)| *v == expected as f64)
    });
    assert!(
        read_back,
        "Prometheus read {last:?}, expected {expected} leaked:\n{}",
        log()
    );
    let (labels, _) = &last[0];
    assert_eq!(labels["root"], "python3", "{labels}");
    assert_eq!(labels["job"], "leaktop");
    assert!(labels.get("pid").is_none(), "{labels}");
    // The counter and the memory the leak holds came through too.
    let leaks = query(web, "leaktop_leaks_total");
    assert!(
        leaks.first().is_some_and(|(_, v)| *v >= expected as f64),
        "{leaks:?}"
    );
    let rss = query(web, "leaktop_leaked_memory_bytes{kind=\"rss\"}");
    // Three workers each hold a 20 MiB bytearray.
    assert!(
        rss.first()
            .is_some_and(|(_, v)| *v >= 60.0 * 1024.0 * 1024.0),
        "{rss:?}"
    );
    let up = query(web, "leaktop_root_up");
    assert_eq!(up.first().map(|(_, v)| *v), Some(0.0), "{up:?}");
    drop(prom);
    drop(recorder);
}
