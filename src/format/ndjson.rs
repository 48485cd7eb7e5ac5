//! NDJSON format, v1: a header object, then one object per tick (with its events),
//! one per line, so every line is a complete record.

use serde::{Deserialize, Serialize};

use super::stream::{Item, LineParser};
use super::{ParseError, Recording, TickChecks, format_time, order_error, parse_time};
use crate::model::snapshot::{FORMAT_NAME, FORMAT_VERSION};
use crate::model::{Alert, Event, Header, ProcRow, Tick};

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum WireLine {
    Header(WireHeader),
    Tick(WireTick),
}

#[derive(Serialize, Deserialize)]
struct WireHeader {
    format: String,
    version: u32,
    root_pid: u32,
    root_start: u64,
    root_cmd: String,
    interval_ms: u64,
    started: String,
    host: String,
    /// Where process events came from (additive: older recordings have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    events: Option<String>,
    /// How start times map to wall time (additive: older recordings have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_clock: Option<WireStartClock>,
}

/// [`crate::sample::StartClock`] on the wire: the boot time as RFC 3339, and the
/// start-time units per second.
#[derive(Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a start_clock object: {\"boot\": an RFC 3339 time, \"per_second\": N}"
)]
struct WireStartClock {
    boot: String,
    per_second: u64,
}

#[derive(Serialize, Deserialize)]
struct WireTick {
    tick: u32,
    elapsed_ms: u64,
    time: String,
    root_alive: bool,
    process_count: usize,
    total_rss_kb: u64,
    leaked_count: usize,
    leaked_rss_kb: u64,
    /// Derived from the rows (readers recompute it): the leaked processes' summed
    /// last-known PSS, written when the tick has leaked processes and any PSS figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leaked_pss_kb: Option<Option<u64>>,
    /// How many leaked processes' PSS is unknown (left out of `leaked_pss_kb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leaked_pss_unknown: Option<usize>,
    processes: Vec<ProcRow>,
    #[serde(default)]
    events: Vec<Event>,
    #[serde(default)]
    alerts: Vec<Alert>,
}

fn push_line<T: Serialize>(value: &T, out: &mut String) {
    // Serialising plain structs into a String cannot fail.
    out.push_str(&serde_json::to_string(value).expect("serialisable"));
    out.push('\n');
}

pub fn write_header(h: &Header, out: &mut String) {
    let wire = WireLine::Header(WireHeader {
        format: FORMAT_NAME.to_string(),
        version: FORMAT_VERSION,
        root_pid: h.root_pid,
        root_start: h.root_start,
        root_cmd: h.root_cmd.clone(),
        interval_ms: h.interval_ms,
        started: format_time(h.started_ms),
        host: h.host.clone(),
        events: h.events.clone(),
        start_clock: h.start_clock.map(|c| WireStartClock {
            boot: format_time(c.boot_ms),
            per_second: c.per_sec,
        }),
    });
    push_line(&wire, out);
}

pub fn write_tick(t: &Tick, out: &mut String) {
    // Rows go out in tree order, as the text format lists them.
    let processes = crate::model::layout::tree_order(&t.processes)
        .map(|i| t.processes[i].clone())
        .collect();
    let measured = t.leaked_count() > 0 && t.processes.iter().any(|p| p.pss_kb.is_some());
    let pss = t.leaked_pss_kb();
    let wire = WireLine::Tick(WireTick {
        tick: t.tick,
        elapsed_ms: t.elapsed_ms,
        time: format_time(t.time_ms),
        root_alive: t.root_alive,
        process_count: t.processes.len(),
        total_rss_kb: t.total_rss_kb(),
        leaked_count: t.leaked_count(),
        leaked_rss_kb: t.leaked_rss_kb(),
        leaked_pss_kb: measured.then(|| pss.known()),
        leaked_pss_unknown: measured.then_some(pss.unknown),
        processes,
        events: t.events.clone(),
        alerts: t.alerts.clone(),
    });
    push_line(&wire, out);
}

/// The most bytes leaktop writes on a tick's line for one process: its row (its name
/// and command line within their caps, every character escaped at worst as
/// `\u00NN`), its events and alerts (notes within their caps), and its exit at the
/// next tick. A test writes the worst case and checks it fits.
pub(crate) const PROCESS_MAX_BYTES: usize = 64 << 10;

/// The most processes a Linux machine can have (`PID_MAX_LIMIT`, 2^22).
const PROCESSES_MAX: usize = 1 << 22;

/// The NDJSON parser, fed one line at a time (see [`super::stream`]).
#[derive(Default)]
pub(crate) struct Parser {
    header: bool,
    /// The previous tick's number and elapsed time, for the order check.
    prev: Option<(u32, u64)>,
    /// The previous tick's process count: this tick's line lists their exits.
    prev_count: usize,
    truncated: Option<ParseError>,
}

/// The process count a tick's line declares in its first bytes, as leaktop writes it
/// (`{"type":"tick",...,"process_count":N,`).
fn declared_count(start: &[u8]) -> Option<usize> {
    let start = std::str::from_utf8(start)
        .or_else(|e| std::str::from_utf8(&start[..e.valid_up_to()]))
        .ok()?;
    let rest = start.strip_prefix("{\"type\":\"tick\",")?;
    let (_, after) = rest.split_once("\"process_count\":")?;
    let digits = after.find(|c: char| !c.is_ascii_digit())?;
    after[..digits].parse().ok()
}

impl LineParser for Parser {
    fn line(&mut self, n: usize, raw: &str, cut: bool) -> Result<Option<Item>, ParseError> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let wire: WireLine = match serde_json::from_str(raw) {
            Ok(w) => w,
            Err(_) if cut && self.header => {
                self.truncated = Some(ParseError::new(
                    n,
                    "a complete last line (the file ends mid-line)",
                ));
                return Ok(None);
            }
            Err(e) => {
                let what = if self.header {
                    "a tick object"
                } else {
                    "a leaktop NDJSON header"
                };
                return Err(ParseError::new(n, format!("{what}: {e}")));
            }
        };
        match wire {
            WireLine::Header(h) => {
                if self.header {
                    return Err(ParseError::new(n, "one header only, found a second"));
                }
                self.header = true;
                Ok(Some(Item::Header(read_header(h, n)?)))
            }
            WireLine::Tick(w) => {
                if !self.header {
                    return Err(ParseError::new(n, "the header line before any tick"));
                }
                let tick = read_tick(w, n)?;
                if let Some(msg) = order_error(self.prev, &tick) {
                    return Err(ParseError::new(n, msg));
                }
                self.prev = Some((tick.tick, tick.elapsed_ms));
                self.prev_count = tick.processes.len();
                Ok(Some(Item::Tick(tick)))
            }
        }
    }

    fn end(&mut self) -> Result<Option<Item>, ParseError> {
        if self.header {
            Ok(None)
        } else {
            Err(ParseError::new(
                1,
                "a leaktop NDJSON header, found an empty file",
            ))
        }
    }

    fn truncated(&mut self) -> Option<ParseError> {
        self.truncated.take()
    }

    fn skip_header(&mut self) {
        self.header = true;
    }

    /// A tick's line may exceed the line limit by [`PROCESS_MAX_BYTES`] for every
    /// process it declares and every process of the tick before: a wide family with
    /// long command lines writes long lines, and they must read back.
    fn allowance(&self, start: &[u8]) -> Option<usize> {
        let count = declared_count(start)?.min(PROCESSES_MAX);
        Some((count + self.prev_count).saturating_mul(PROCESS_MAX_BYTES))
    }
}

/// Parses a whole NDJSON recording held in memory.
pub fn parse(content: &str) -> Result<Recording, ParseError> {
    super::Format::Ndjson.parse(content)
}

fn read_header(h: WireHeader, n: usize) -> Result<Header, ParseError> {
    if h.format != FORMAT_NAME {
        return Err(ParseError::new(
            n,
            format!("format {FORMAT_NAME:?}, found {:?}", h.format),
        ));
    }
    if h.version != FORMAT_VERSION {
        return Err(ParseError::new(
            n,
            format!(
                "version {FORMAT_VERSION}, found version {} (this leaktop reads version {FORMAT_VERSION})",
                h.version
            ),
        ));
    }
    Ok(Header {
        root_pid: h.root_pid,
        root_start: h.root_start,
        root_cmd: h.root_cmd,
        interval_ms: h.interval_ms,
        started_ms: parse_time(&h.started)
            .ok_or_else(|| ParseError::new(n, "an RFC 3339 'started' time"))?,
        host: h.host,
        events: h.events,
        start_clock: match h.start_clock {
            None => None,
            Some(c) => Some(crate::sample::StartClock {
                boot_ms: parse_time(&c.boot).ok_or_else(|| {
                    ParseError::new(
                        n,
                        format!("an RFC 3339 start_clock boot time, found {:?}", c.boot),
                    )
                })?,
                per_sec: Some(c.per_second)
                    .filter(|&p| p > 0)
                    .ok_or_else(|| ParseError::new(n, "start_clock per_second of 1 or more"))?,
            }),
        },
    })
}

fn read_tick(w: WireTick, n: usize) -> Result<Tick, ParseError> {
    if w.tick == 0 {
        return Err(ParseError::new(n, "a tick number of 1 or more"));
    }
    let checks = TickChecks {
        count: w.process_count,
        total_rss_kb: w.total_rss_kb,
        leaked_count: w.leaked_count,
        leaked_rss_kb: w.leaked_rss_kb,
    };
    let mut processes = w.processes;
    processes.sort_by_key(|r| (r.start, r.pid));
    let tick = Tick {
        tick: w.tick,
        elapsed_ms: w.elapsed_ms,
        time_ms: parse_time(&w.time).ok_or_else(|| ParseError::new(n, "an RFC 3339 'time'"))?,
        root_alive: w.root_alive,
        processes,
        events: w.events,
        alerts: w.alerts,
    };
    match checks.problem(&tick) {
        Some(msg) => Err(ParseError::new(n, msg)),
        None => Ok(tick),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use crate::testkit::forkserver_recording as recording;

    #[test]
    fn write_parse_write_is_byte_identical() {
        let rec = recording();
        let json = rec.write(Format::Ndjson);
        let back = parse(&json).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.write(Format::Ndjson), json);
    }

    #[test]
    fn the_event_source_reads_back_and_is_absent_when_unknown() {
        let mut rec = recording();
        assert!(!rec.write(Format::Ndjson).contains("\"events\":\"")); // before events
        rec.header.events = Some("connector".into());
        let json = rec.write(Format::Ndjson);
        assert_eq!(parse(&json).unwrap(), rec);
        let text = rec.write(Format::Text);
        assert_eq!(parse(&json).unwrap().write(Format::Text), text);
    }

    #[test]
    fn text_to_ndjson_to_text_is_byte_identical() {
        let text = recording().write(Format::Text);
        let json = crate::format::text::parse(&text)
            .unwrap()
            .write(Format::Ndjson);
        assert_eq!(parse(&json).unwrap().write(Format::Text), text);
    }

    #[test]
    fn memory_is_written_when_known_and_summed_per_tick() {
        let json = recording().write(Format::Ndjson);
        let tick: serde_json::Value = serde_json::from_str(json.lines().nth(2).unwrap()).unwrap();
        // Two of the five leaked processes have a PSS; three are unknown.
        assert_eq!(tick["leaked_pss_kb"], 9_216 + 268_000);
        assert_eq!(tick["leaked_pss_unknown"], 3);
        let rows = tick["processes"].as_array().unwrap();
        let row = |pid: u64| rows.iter().find(|r| r["pid"] == pid).unwrap();
        assert_eq!(row(214863)["pss_kb"], 9_216);
        assert_eq!(row(214863)["uss_kb"], 7_168);
        assert_eq!(row(214863)["swap_kb"], 512);
        assert_eq!(row(214863)["mem_tick"], 1);
        assert_eq!(row(214864)["gpu_kb"], 2 * 1024 * 1024);
        assert!(
            row(214863).get("gpu_kb").is_none(),
            "unknown GPU memory is absent"
        );
        assert!(
            row(214862).get("pss_kb").is_none(),
            "unknown is absent, not 0"
        );
        // Ticks of a recording without any memory figure have no sum either.
        let first: serde_json::Value = serde_json::from_str(json.lines().nth(1).unwrap()).unwrap();
        assert!(first.get("leaked_pss_kb").is_none());
    }

    #[test]
    fn a_recording_from_before_memory_reads_as_unknown() {
        let old = r#"{"type":"header","format":"leaktop-ticklog","version":1,"root_pid":213019,"root_start":100,"root_cmd":"python3 -m cce serve","interval_ms":1000,"started":"2026-11-22T21:40:00.000Z","host":"wsl"}
{"type":"tick","tick":2,"elapsed_ms":1003,"time":"2026-11-22T21:40:01.003Z","root_alive":false,"process_count":1,"total_rss_kb":15360,"leaked_count":1,"leaked_rss_kb":15360,"processes":[{"pid":214862,"ppid":1,"state":"S","rss_kb":15360,"start":110,"cpu_ms":1250,"name":"python3","cmd":"python3 -c ...","leaked":true,"reparented_from":213019,"escaped":false,"leaked_since":2}],"events":[]}
"#;
        let rec = parse(old).unwrap();
        let p = &rec.ticks[0].processes[0];
        assert_eq!(
            (p.pss_kb, p.uss_kb, p.swap_kb, p.mem_tick, p.gpu_kb),
            (None, None, None, None, None)
        );
        let sum = rec.ticks[0].leaked_pss_kb();
        assert_eq!((sum.known(), sum.unknown), (None, 1));
    }

    #[test]
    fn carries_the_documented_keys() {
        let json = recording().write(Format::Ndjson);
        let mut lines = json.lines();
        let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        for key in [
            "type",
            "format",
            "version",
            "root_pid",
            "root_cmd",
            "interval_ms",
            "started",
        ] {
            assert!(header.get(key).is_some(), "header lacks {key}");
        }
        let tick: serde_json::Value = serde_json::from_str(lines.nth(1).unwrap()).unwrap();
        for key in [
            "type",
            "tick",
            "elapsed_ms",
            "time",
            "root_alive",
            "total_rss_kb",
            "leaked_count",
            "leaked_rss_kb",
            "processes",
        ] {
            assert!(tick.get(key).is_some(), "tick lacks {key}");
        }
        let p = &tick["processes"][1];
        for key in [
            "pid",
            "ppid",
            "state",
            "rss_kb",
            "start",
            "name",
            "cmd",
            "leaked",
            "reparented_from",
            "escaped",
        ] {
            assert!(p.get(key).is_some(), "process lacks {key}: {p}");
        }
        assert_eq!(p["state"].as_str().unwrap().len(), 1);
    }

    #[test]
    fn a_cut_last_line_keeps_the_complete_ticks() {
        let json = recording().write(Format::Ndjson);
        let full = parse(&json).unwrap();
        let last = json[..json.len() - 1].rfind('\n').unwrap() + 1;
        for cut in last + 1..json.len() - 1 {
            let rec = parse(&json[..cut]).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert_eq!(rec.ticks, full.ticks[..full.ticks.len() - 1]);
            assert!(rec.truncated.is_some());
        }
    }

    #[test]
    fn bad_lines_name_the_line() {
        let json = recording().write(Format::Ndjson);
        let broken = json.replacen("\"rss_kb\":", "\"rss_kb\":\"x\",\"y\":", 1);
        let err = parse(&broken).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        let err = parse("{\"type\":\"header\",\"format\":\"leaktop-ticklog\",\"version\":9,\"root_pid\":1,\"root_start\":1,\"root_cmd\":\"x\",\"interval_ms\":1,\"started\":\"2026-01-01T00:00:00.000Z\",\"host\":\"h\"}\n").unwrap_err();
        assert!(err.to_string().contains("version 1"), "{err}");
    }
}
