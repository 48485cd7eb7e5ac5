//! `--metrics`: the real binary serving a real family, and clients that misbehave.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Family, leaktop, wait_until};

/// A `leaktop record --metrics 127.0.0.1:0` and the address it took; killed on drop.
struct Served {
    child: Child,
    addr: SocketAddr,
    out: std::path::PathBuf,
}

impl Served {
    fn start(pid: u32, out: &std::path::Path, interval: &str) -> Served {
        let mut child = leaktop()
            .args(["record", "--pid", &pid.to_string(), "--interval", interval])
            .args(["--metrics", "127.0.0.1:0", "--out"])
            .arg(out)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn leaktop record");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("leaktop: serving metrics on http://")
            .and_then(|a| a.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .parse()
            .unwrap();
        Served {
            child,
            addr,
            out: out.to_path_buf(),
        }
    }

    fn ticks(&self) -> Vec<leaktop::model::Tick> {
        leaktop::format::read(&self.out)
            .map(|r| r.ticks)
            .unwrap_or_default()
    }

    /// `/proc/PID/status` field of the recorder, e.g. `VmRSS` (KiB) or `Threads`.
    fn status(&self, field: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path`; the status line and body, or `None` if the server closed or timed out.
fn get(addr: SocketAddr, path: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn a_real_family_is_served_and_hostile_clients_neither_stall_ticks_nor_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::spawn("sh", &["-c", "sleep 300 & sleep 300 & wait"]);
    assert!(wait_until(Duration::from_secs(5), || common::children_of(
        family.pid()
    )
    .len()
        == 2));
    let served = Served::start(family.pid(), &dir.path().join("rec.ticklog"), "100ms");
    assert!(wait_until(Duration::from_secs(10), || served.ticks().len() >= 3));

    let (status, body) = get(served.addr, "/metrics").expect("a scrape");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        value(&body, "leaktop_family_processes{root=\"sh\"}"),
        Some(3.0),
        "{body}"
    );
    assert_eq!(value(&body, "leaktop_root_up{root=\"sh\"}"), Some(1.0));
    assert!(body.ends_with("# EOF\n"));
    assert_eq!(
        get(served.addr, "/nope").unwrap().0,
        "HTTP/1.1 404 Not Found"
    );

    let threads = served.status("Threads");
    let rss_before = served.status("VmRSS");
    let ticks_before = served.ticks().len();
    let began = Instant::now();
    // 300 connections that never send a byte, and one that sends 10 MB of request line.
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(served.addr).ok())
        .collect();
    assert!(idle.len() > 100, "only {} connected", idle.len());
    let mut huge = TcpStream::connect(served.addr).unwrap();
    huge.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = huge.write_all(b"GET /");
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0;
    for _ in 0..10 {
        match huge.write_all(&chunk) {
            Ok(()) => sent += chunk.len(),
            // The server read its 8 KiB, answered 431 and closed.
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    // Ticks went on at 100 ms while all of that was held open.
    let ticks = served.ticks();
    let during: Vec<u64> = ticks[ticks_before..].iter().map(|t| t.elapsed_ms).collect();
    let held = began.elapsed().as_millis() as u64;
    // A server that made sampling wait for a client would stall it for the client's
    // 2 s timeout; the bounds leave room for a machine busy with other work.
    assert!(
        during.len() as u64 >= held / 100 / 4,
        "{} ticks in {held} ms",
        during.len()
    );
    let gap = during.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(gap < 1500, "a tick waited {gap} ms");
    // No thread per connection, no buffer per byte sent.
    assert_eq!(served.status("Threads"), threads, "threads grew");
    let grown = served.status("VmRSS").saturating_sub(rss_before);
    assert!(grown < 4096, "RSS grew {grown} KiB after {sent} bytes sent");
    drop(idle);
    drop(huge);
    // Once the idle clients are gone (or timed out), scrapes are served again.
    assert!(
        wait_until(Duration::from_secs(8), || get(served.addr, "/metrics")
            .is_some_and(|(s, _)| s.ends_with("200 OK"))),
        "the server did not recover"
    );
}

/// Idle clients hold no worker: with 300 connections open that never send a byte
/// (and one trickling its request a byte at a time), a scrape is answered, and so are
/// 200 more at once.
#[test]
fn a_scrape_is_answered_while_hundreds_of_clients_sit_idle() {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::spawn("sleep", &["300"]);
    let served = Served::start(family.pid(), &dir.path().join("rec.ticklog"), "100ms");
    assert!(wait_until(Duration::from_secs(10), || served.ticks().len() >= 2));
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(served.addr).ok())
        .collect();
    assert_eq!(idle.len(), 300, "every idle client connected");
    let mut slow = TcpStream::connect(served.addr).unwrap();
    slow.write_all(b"GE").unwrap();
    let (status, body) = get(served.addr, "/metrics").expect("a scrape among idle clients");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.ends_with("# EOF\n"), "{body}");
    let answered = std::thread::scope(|s| {
        let scrapes: Vec<_> = (0..200)
            .map(|_| {
                s.spawn(|| get(served.addr, "/metrics").is_some_and(|(s, _)| s.ends_with("200 OK")))
            })
            .collect();
        scrapes
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .filter(|&ok| ok)
            .count()
    });
    assert_eq!(answered, 200, "concurrent scrapes, none dropped");
    drop(idle);
    drop(slow);
}

#[test]
fn an_idle_connection_is_closed_after_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::spawn("sleep", &["300"]);
    let served = Served::start(family.pid(), &dir.path().join("rec.ticklog"), "200ms");
    let mut idle = TcpStream::connect(served.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let began = Instant::now();
    let mut buf = [0u8; 16];
    // The server closes it (EOF) after about 2 s, having read nothing.
    let n = idle.read(&mut buf).unwrap_or(0);
    let took = began.elapsed();
    assert_eq!(n, 0);
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

#[test]
fn bad_addresses_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let cmd = format!("touch {}", marker.display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for (addr, code, needle) in [
        ("nonsense", 2, "'nonsense' is not an address"),
        ("0.0.0.0:9847", 2, "--metrics-public"),
        (taken.as_str(), 1, "cannot listen there"),
    ] {
        let out = leaktop()
            .args(["run", "--metrics", addr, "--", "sh", "-c", &cmd])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{addr}: {err}");
        assert!(err.contains(needle), "{addr}: {err}");
        assert_eq!(err.lines().count(), 1, "{addr}: {err}");
        assert!(!marker.exists(), "{addr}: CMD ran");
        let out = leaktop()
            .args(["record", "--pid", "1", "--ticks", "1", "--metrics", addr])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "record {addr}");
        assert!(out.stdout.is_empty(), "record {addr} recorded");
    }
}
