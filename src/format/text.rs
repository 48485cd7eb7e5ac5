//! The tick-log text format, v1: the gists' `ps` snapshots made exact.
//! The grammar is documented in `docs/tick-log.md`.

use std::fmt::Write;

use super::escape::{escape, escape_into, unescape};
use super::stream::{Item, LineParser};
use super::{ParseError, Recording, TickChecks, format_time, human_kb, order_error, parse_time};
use crate::human::shown_kb;
use crate::model::layout::{self, Line};
use crate::model::snapshot::{FORMAT_NAME, FORMAT_VERSION};
use crate::model::{Alert, AlertKind, Event, Header, ProcRow, Tick};

pub fn write_header(h: &Header, out: &mut String) {
    let _ = writeln!(out, "# {FORMAT_NAME} v{FORMAT_VERSION}");
    let _ = writeln!(
        out,
        "# root: {} start={} cmd: {}",
        h.root_pid,
        h.root_start,
        escape(&h.root_cmd, false)
    );
    let interval = humantime::format_duration(std::time::Duration::from_millis(h.interval_ms));
    let _ = writeln!(out, "# interval: {interval}");
    let _ = writeln!(out, "# started: {}", format_time(h.started_ms));
    let _ = writeln!(out, "# host: {}", escape(&h.host, false));
    if let Some(events) = &h.events {
        let _ = writeln!(out, "# events: {}", escape(events, false));
    }
    if let Some(clock) = &h.start_clock {
        let _ = writeln!(
            out,
            "# start-clock: boot={} per-second={}",
            format_time(clock.boot_ms),
            clock.per_sec
        );
    }
    out.push('\n');
}

pub fn write_tick(t: &Tick, out: &mut String) {
    let total = t.total_rss_kb();
    let leaked = t.leaked_rss_kb();
    let _ = writeln!(
        out,
        "tick {} +{}.{:03}s {} procs={} rss={} ({} KiB) leaked={} leaked_rss={} ({} KiB) root={}",
        t.tick,
        t.elapsed_ms / 1000,
        t.elapsed_ms % 1000,
        format_time(t.time_ms),
        t.processes.len(),
        human_kb(total),
        total,
        t.leaked_count(),
        human_kb(leaked),
        leaked,
        if t.root_alive { "alive" } else { "exited" },
    );
    write_tree(&t.processes, out, &|_| String::new());
    for event in &t.events {
        write_event(event, out);
    }
    for alert in &t.alerts {
        let _ = writeln!(
            out,
            "! alert {} {} start={} since={} reason: {}",
            alert.kind,
            alert.pid,
            alert.start,
            alert.since_tick,
            escape(&alert.reason, false)
        );
    }
    out.push('\n');
}

/// The rows as trees with their headings, one process line each; `note` may add a
/// remark at the end of a line (the tick-log itself adds none).
pub fn write_tree(rows: &[ProcRow], out: &mut String, note: &dyn Fn(&ProcRow) -> String) {
    for line in layout::layout(rows) {
        match line {
            Line::Heading(h) => {
                out.push_str(&h);
                out.push('\n');
            }
            Line::Proc { index, prefix, .. } => {
                out.push_str(&prefix);
                write_process(&rows[index], out);
                out.push_str(&note(&rows[index]));
                out.push('\n');
            }
        }
    }
}

fn write_process(p: &ProcRow, out: &mut String) {
    let _ = write!(out, "{} ", p.pid);
    escape_into(out, &p.name, true);
    let _ = write!(out, " PPID={}", p.ppid);
    if let Some(from) = p.reparented_from {
        let _ = write!(out, " (reparented from {from})");
    }
    let _ = write!(
        out,
        " state={} RSS={} ({} KiB) cpu={}.{:03}s start={}",
        p.state,
        shown_kb(p.rss_kb),
        p.rss_kb,
        p.cpu_ms / 1000,
        p.cpu_ms % 1000,
        p.start
    );
    for (label, kb) in [("PSS", p.pss_kb), ("USS", p.uss_kb), ("SWAP", p.swap_kb)] {
        if let Some(kb) = kb {
            let _ = write!(out, " {label}={} ({kb} KiB)", shown_kb(kb));
        }
    }
    if let Some(at) = p.mem_tick {
        let _ = write!(out, " measured={at}");
    }
    if let Some(kb) = p.gpu_kb {
        let _ = write!(out, " GPU={} ({kb} KiB)", shown_kb(kb));
    }
    if p.leaked {
        out.push_str(" LEAKED");
        if let Some(since) = p.leaked_since {
            let _ = write!(out, " since={since}");
        }
    }
    if p.escaped {
        out.push_str(" ESCAPED");
    }
    out.push_str(" cmd: ");
    escape_into(out, &p.cmd, false);
}

fn write_event(e: &Event, out: &mut String) {
    let _ = match e {
        Event::Spawned { pid, start, ppid } => {
            writeln!(out, "* spawned {pid} start={start} ppid={ppid}")
        }
        Event::Exited { pid, start } => writeln!(out, "* exited {pid} start={start}"),
        Event::Reparented {
            pid,
            start,
            from,
            to,
        } => {
            writeln!(out, "* reparented {pid} start={start} from={from} to={to}")
        }
        Event::Escaped {
            pid,
            start,
            ppid,
            evidence,
        } => {
            writeln!(
                out,
                "* escaped {pid} start={start} ppid={ppid} evidence: {}",
                escape(evidence, false)
            )
        }
        Event::RootExited { pid, start } => writeln!(out, "* root-exited {pid} start={start}"),
        Event::RootRestarted {
            pid,
            start,
            previous,
        } => writeln!(
            out,
            "* root-restarted {pid} start={start} previous={previous}"
        ),
        Event::OrphanExited {
            pid,
            start,
            after_ms,
        } => writeln!(
            out,
            "* orphan-exited {pid} start={start} after={after_ms}ms"
        ),
        Event::EventsLost { counted, uncounted } => writeln!(
            out,
            "* events-lost counted={counted} uncounted={uncounted}; rescanned"
        ),
        Event::ShortLived {
            pid,
            ppid,
            life_ms,
            exec,
            comm,
            code,
            signal,
        } => {
            let _ = write!(out, "* short-lived {pid} ppid={ppid} life={life_ms}ms");
            if *exec {
                out.push_str(" exec");
            }
            if let Some(c) = code {
                let _ = write!(out, " code={c}");
            }
            if let Some(s) = signal {
                let _ = write!(out, " signal={s}");
            }
            if let Some(comm) = comm {
                let _ = write!(out, " comm: {}", escape(comm, false));
            }
            writeln!(out)
        }
        Event::ShortLivedMore {
            count,
            failed,
            signaled,
        } => writeln!(
            out,
            "* short-lived-more count={count} failed={failed} signaled={signaled}"
        ),
    };
}

/// A cursor over one line, for the small grammar of tick-log lines.
struct Cur<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Cur<'a> {
    fn err(&self, what: &str) -> ParseError {
        let near: String = self.rest.chars().take(24).collect();
        if near.is_empty() {
            ParseError::new(self.line, format!("{what} (the line ends early)"))
        } else {
            ParseError::new(self.line, format!("{what} at {near:?}"))
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        match self.rest.strip_prefix(lit) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, lit: &str) -> Result<(), ParseError> {
        if self.eat(lit) {
            Ok(())
        } else {
            Err(self.err(&format!("{lit:?}")))
        }
    }

    /// Everything up to (not including) `delim`, consuming the delimiter.
    fn until(&mut self, delim: &str, what: &str) -> Result<&'a str, ParseError> {
        let i = self.rest.find(delim).ok_or_else(|| self.err(what))?;
        let (head, tail) = self.rest.split_at(i);
        self.rest = &tail[delim.len()..];
        Ok(head)
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, ParseError> {
        let end = self
            .rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.rest.len());
        let n = self.rest[..end].parse().map_err(|_| self.err(what))?;
        self.rest = &self.rest[end..];
        Ok(n)
    }

    /// `N.MMMs` as milliseconds.
    fn seconds(&mut self, what: &str) -> Result<u64, ParseError> {
        let secs: u64 = self.number(what)?;
        self.expect(".")?;
        // Byte-wise check first: slicing at 3 could split a multi-byte char.
        let frac = self.rest.as_bytes().get(..3).unwrap_or_default();
        if frac.len() != 3 || !frac.iter().all(u8::is_ascii_digit) {
            return Err(self.err(what));
        }
        let ms: u64 = self.rest[..3].parse().map_err(|_| self.err(what))?;
        self.rest = &self.rest[3..];
        self.expect("s")?;
        secs.checked_mul(1000)
            .and_then(|s| s.checked_add(ms))
            .ok_or_else(|| self.err(what))
    }

    /// `HUMAN (N KiB)`: the human part is derived, only the exact figure is kept.
    fn size(&mut self, what: &str) -> Result<u64, ParseError> {
        self.until(" (", what)?;
        let kb = self.number(what)?;
        self.expect(" KiB)")?;
        Ok(kb)
    }

    /// `lit` then a number, if the line goes on with `lit`.
    fn number_after<T: std::str::FromStr>(
        &mut self,
        lit: &str,
        what: &str,
    ) -> Result<Option<T>, ParseError> {
        if self.eat(lit) {
            self.number(what).map(Some)
        } else {
            Ok(None)
        }
    }

    fn text(&self, what: &str) -> Result<String, ParseError> {
        unescape(self.rest).ok_or_else(|| self.err(what))
    }

    fn done(&self) -> Result<(), ParseError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.err("the end of the line"))
        }
    }
}

/// Where the text parser is in the file.
enum Stage {
    /// Before line 1, the magic line.
    Magic,
    /// In the `#` lines of the header.
    Header {
        header: Header,
        seen: Vec<&'static str>,
    },
    Body,
}

/// The tick-log parser, fed one line at a time (see [`super::stream`]). Each tick ends
/// with a blank line: a last tick without one (a recorder killed mid-write) is dropped
/// and reported as truncated.
pub(crate) struct Parser {
    stage: Stage,
    /// The open tick, its header line and declared totals, until its closing blank line.
    open: Option<(usize, TickChecks, Tick)>,
    /// The previous tick's number and elapsed time, for the order check.
    prev: Option<(u32, u64)>,
    /// Complete lines seen.
    lines: usize,
    truncated: Option<ParseError>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            stage: Stage::Magic,
            open: None,
            prev: None,
            lines: 0,
            truncated: None,
        }
    }
}

impl LineParser for Parser {
    fn line(&mut self, n: usize, raw: &str, cut: bool) -> Result<Option<Item>, ParseError> {
        if cut {
            self.truncated = Some(ParseError::new(
                n,
                "a complete last line (the file ends mid-line)",
            ));
            return Ok(None);
        }
        self.lines = n;
        match &mut self.stage {
            Stage::Magic => {
                check_magic(raw)?;
                self.stage = Stage::Header {
                    header: empty_header(),
                    seen: Vec::new(),
                };
                Ok(None)
            }
            Stage::Header { header, seen } if raw.starts_with('#') => {
                header_line(header, seen, raw, n)?;
                Ok(None)
            }
            Stage::Header { .. } => {
                let header = self.take_header(n)?;
                self.body_line(n, raw)?;
                Ok(Some(Item::Header(header)))
            }
            Stage::Body => Ok(self.body_line(n, raw)?.map(Item::Tick)),
        }
    }

    fn end(&mut self) -> Result<Option<Item>, ParseError> {
        match self.stage {
            Stage::Magic => Err(ParseError::new(1, "a tick-log header, found an empty file")),
            Stage::Header { .. } => Ok(Some(Item::Header(self.take_header(self.lines + 1)?))),
            Stage::Body => {
                if let Some((at, _, _)) = self.open.take() {
                    self.truncated.get_or_insert(ParseError::new(
                        at,
                        "a blank line ending this tick (the file ends inside it)",
                    ));
                }
                Ok(None)
            }
        }
    }

    fn truncated(&mut self) -> Option<ParseError> {
        self.truncated.take()
    }

    fn in_tick(&self) -> bool {
        self.open.is_some()
    }

    fn skip_header(&mut self) {
        self.stage = Stage::Body;
    }

    fn resync(&mut self) {
        self.open = None;
    }

    fn starts_tick(&self, raw: &str) -> bool {
        raw.starts_with("tick ")
    }
}

impl Parser {
    /// The header, complete at line `n`, the first line after it.
    fn take_header(&mut self, n: usize) -> Result<Header, ParseError> {
        match std::mem::replace(&mut self.stage, Stage::Body) {
            Stage::Header { header, seen } if seen.len() == 4 => Ok(header),
            _ => Err(ParseError::new(
                n,
                "the header lines root, interval, started and host",
            )),
        }
    }

    /// A line after the header; the tick it closes, if it does.
    fn body_line(&mut self, n: usize, raw: &str) -> Result<Option<Tick>, ParseError> {
        let mut cur = Cur { rest: raw, line: n };
        if raw.is_empty() {
            return match self.open.take() {
                Some((at, checks, tick)) => match checks.problem(&tick) {
                    Some(msg) => Err(ParseError::new(at, msg)),
                    None => Ok(Some(tick)),
                },
                None => Ok(None),
            };
        }
        if cur.eat("tick ") {
            if let Some((at, _, _)) = self.open {
                return Err(ParseError::new(
                    n,
                    format!("a blank line ending the tick begun on line {at}"),
                ));
            }
            let (tick, checks) = parse_tick_line(&mut cur)?;
            if let Some(msg) = order_error(self.prev, &tick) {
                return Err(ParseError::new(n, msg));
            }
            self.prev = Some((tick.tick, tick.elapsed_ms));
            self.open = Some((n, checks, tick));
            return Ok(None);
        }
        let Some((_, _, tick)) = &mut self.open else {
            return Err(ParseError::new(
                n,
                "a 'tick N' line before any process or event",
            ));
        };
        if layout::is_heading(raw) {
            return Ok(None);
        }
        if cur.eat("* ") {
            tick.events.push(parse_event(&mut cur)?);
        } else if cur.eat("! alert ") {
            tick.alerts.push(parse_alert(&mut cur)?);
        } else {
            let body = raw.trim_start_matches(['│', '├', '└', '─', ' ']);
            let mut cur = Cur {
                rest: body,
                line: n,
            };
            tick.processes.push(parse_process(&mut cur)?);
        }
        Ok(None)
    }
}

/// Parses a whole tick-log held in memory.
pub fn parse(content: &str) -> Result<Recording, ParseError> {
    super::Format::Text.parse(content)
}

fn check_magic(first: &str) -> Result<(), ParseError> {
    let magic = format!("# {FORMAT_NAME} v");
    let version = first.strip_prefix(&magic).ok_or_else(|| {
        ParseError::new(
            1,
            format!("'# {FORMAT_NAME} v{FORMAT_VERSION}' (this is not a leaktop tick-log)"),
        )
    })?;
    if version != FORMAT_VERSION.to_string() {
        return Err(ParseError::new(
            1,
            format!(
                "version {FORMAT_VERSION}, found version {version:?} (this leaktop reads version {FORMAT_VERSION})"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn empty_header() -> Header {
    Header {
        root_pid: 0,
        root_start: 0,
        root_cmd: String::new(),
        interval_ms: 0,
        started_ms: 0,
        host: String::new(),
        events: None,
        start_clock: None,
    }
}

/// One `#` line of the header; other comment lines are allowed and skipped.
fn header_line(
    header: &mut Header,
    seen: &mut Vec<&'static str>,
    raw: &str,
    n: usize,
) -> Result<(), ParseError> {
    let mut cur = Cur { rest: raw, line: n };
    // Optional (recordings before events have none): not counted among the four.
    if cur.eat("# events: ") {
        if header.events.is_some() {
            return Err(ParseError::new(n, "one '# events:' line, found a second"));
        }
        header.events = Some(cur.text("where events came from")?);
        return Ok(());
    }
    // Optional too (recordings before it have none: AGE unknown in a replay).
    if cur.eat("# start-clock:") {
        if header.start_clock.is_some() {
            return Err(ParseError::new(
                n,
                "one '# start-clock:' line, found a second",
            ));
        }
        cur.expect(" boot=")?;
        let boot = cur.until(" per-second=", "the boot time, then ' per-second=N'")?;
        let boot_ms = parse_time(boot)
            .ok_or_else(|| ParseError::new(n, format!("an RFC 3339 boot time, found {boot:?}")))?;
        let per_sec: u64 = cur.number("start-time units per second")?;
        if per_sec == 0 {
            return Err(ParseError::new(
                n,
                "start-time units per second, at least 1, found 0",
            ));
        }
        cur.done()?;
        header.start_clock = Some(crate::sample::StartClock { boot_ms, per_sec });
        return Ok(());
    }
    let Some(key) = ["# root: ", "# interval: ", "# started: ", "# host: "]
        .into_iter()
        .find(|k| cur.eat(k))
    else {
        return Ok(());
    };
    if seen.contains(&key) {
        return Err(ParseError::new(
            n,
            format!("one '{}' line, found a second", key.trim_end()),
        ));
    }
    seen.push(key);
    match key {
        "# root: " => {
            header.root_pid = cur.number("the root pid")?;
            cur.expect(" start=")?;
            header.root_start = cur.number("the root's start time")?;
            cur.expect(" cmd: ")?;
            header.root_cmd = cur.text("the root command")?;
        }
        "# interval: " => {
            header.interval_ms = humantime::parse_duration(cur.rest)
                .ok()
                .and_then(|d| u64::try_from(d.as_millis()).ok())
                .ok_or_else(|| cur.err("an interval like 1s"))?;
        }
        "# started: " => {
            header.started_ms = parse_time(cur.rest).ok_or_else(|| cur.err("an RFC 3339 time"))?;
        }
        _ => header.host = cur.text("a host name")?,
    }
    Ok(())
}

fn parse_tick_line(cur: &mut Cur) -> Result<(Tick, TickChecks), ParseError> {
    let tick = cur.number("a tick number")?;
    if tick == 0 {
        return Err(cur.err("a tick number of 1 or more"));
    }
    cur.expect(" +")?;
    let elapsed_ms = cur.seconds("the elapsed time like +1.000s")?;
    cur.expect(" ")?;
    let time = cur.until(" procs=", "an RFC 3339 time then procs=")?;
    let time_ms = parse_time(time)
        .ok_or_else(|| ParseError::new(cur.line, format!("an RFC 3339 time, found {time:?}")))?;
    let count = cur.number("a process count")?;
    cur.expect(" rss=")?;
    let total_rss_kb = cur.size("the total RSS")?;
    cur.expect(" leaked=")?;
    let leaked_count = cur.number("a leaked count")?;
    cur.expect(" leaked_rss=")?;
    let leaked_rss_kb = cur.size("the leaked RSS")?;
    cur.expect(" root=")?;
    let root_alive = if cur.eat("alive") {
        true
    } else if cur.eat("exited") {
        false
    } else {
        return Err(cur.err("root=alive or root=exited"));
    };
    cur.done()?;
    let tick = Tick {
        tick,
        elapsed_ms,
        time_ms,
        root_alive,
        processes: Vec::new(),
        events: Vec::new(),
        alerts: Vec::new(),
    };
    let checks = TickChecks {
        count,
        total_rss_kb,
        leaked_count,
        leaked_rss_kb,
    };
    Ok((tick, checks))
}

fn parse_process(cur: &mut Cur) -> Result<ProcRow, ParseError> {
    let pid = cur.number("a process line 'PID NAME PPID=...'")?;
    cur.expect(" ")?;
    let name = cur.until(" PPID=", "a name then PPID=")?;
    let name = unescape(name).ok_or_else(|| cur.err("a name with valid escapes"))?;
    let ppid = cur.number("a parent pid")?;
    let reparented_from = if cur.eat(" (reparented from ") {
        let from = cur.number("the original parent pid")?;
        cur.expect(")")?;
        Some(from)
    } else {
        None
    };
    cur.expect(" state=")?;
    let state = cur
        .rest
        .chars()
        .next()
        .ok_or_else(|| cur.err("a state letter"))?;
    cur.rest = &cur.rest[state.len_utf8()..];
    cur.expect(" RSS=")?;
    let rss_kb = cur.size("the RSS")?;
    cur.expect(" cpu=")?;
    let cpu_ms = cur.seconds("the CPU time like 1.250s")?;
    cur.expect(" start=")?;
    let start = cur.number("a start time")?;
    let mut memory = [None; 3];
    for (label, kb) in [" PSS=", " USS=", " SWAP="].into_iter().zip(&mut memory) {
        if cur.eat(label) {
            *kb = Some(cur.size("a memory size like '1.5 MiB (1536 KiB)'")?);
        }
    }
    let [pss_kb, uss_kb, swap_kb] = memory;
    let mem_tick = cur.number_after(" measured=", "the tick the memory was measured at")?;
    let gpu_kb = if cur.eat(" GPU=") {
        Some(cur.size("a GPU memory size like '2 GiB (2097152 KiB)'")?)
    } else {
        None
    };
    let leaked = cur.eat(" LEAKED");
    let leaked_since = if leaked && cur.eat(" since=") {
        Some(cur.number("a tick number")?)
    } else {
        None
    };
    let escaped = cur.eat(" ESCAPED");
    cur.expect(" cmd: ")?;
    let cmd = cur.text("a command with valid escapes")?;
    Ok(ProcRow {
        pid,
        ppid,
        state,
        rss_kb,
        start,
        cpu_ms,
        name,
        cmd,
        leaked,
        reparented_from,
        escaped,
        leaked_since,
        pss_kb,
        uss_kb,
        swap_kb,
        mem_tick,
        gpu_kb,
    })
}

fn parse_alert(cur: &mut Cur) -> Result<Alert, ParseError> {
    let name = cur.until(" ", "an alert kind")?;
    let kind = AlertKind::from_name(name).ok_or_else(|| {
        ParseError::new(
            cur.line,
            format!("an alert kind ({}), found {name:?}", AlertKind::names()),
        )
    })?;
    let pid = cur.number("a pid")?;
    cur.expect(" start=")?;
    let start = cur.number("a start time")?;
    cur.expect(" since=")?;
    let since_tick = cur.number("a tick number")?;
    cur.expect(" reason: ")?;
    let reason = cur.text("a reason with valid escapes")?;
    cur.rest = "";
    Ok(Alert {
        kind,
        pid,
        start,
        since_tick,
        reason,
    })
}

/// `PID ppid=P life=Nms[ exec][ code=C][ signal=S][ comm: NAME]`, after the kind.
fn parse_short_life(cur: &mut Cur) -> Result<Event, ParseError> {
    let pid = cur.number("a pid")?;
    cur.expect(" ppid=")?;
    let ppid = cur.number("a parent pid")?;
    cur.expect(" life=")?;
    let life_ms = cur.number("milliseconds")?;
    cur.expect("ms")?;
    let exec = cur.eat(" exec");
    let code = cur.number_after(" code=", "an exit code")?;
    let signal = cur.number_after(" signal=", "a signal number")?;
    let comm = if cur.eat(" comm: ") {
        let comm = cur.text("a name with valid escapes")?;
        cur.rest = "";
        Some(comm)
    } else {
        None
    };
    cur.done()?;
    Ok(Event::ShortLived {
        pid,
        ppid,
        life_ms,
        exec,
        comm,
        code,
        signal,
    })
}

fn parse_event(cur: &mut Cur) -> Result<Event, ParseError> {
    let kind = cur.until(" ", "an event kind")?;
    if kind == "events-lost" {
        cur.expect("counted=")?;
        let counted = cur.number("a count of lost events")?;
        cur.expect(" uncounted=")?;
        let uncounted = cur.number("a count of losses")?;
        cur.expect("; rescanned")?;
        cur.done()?;
        return Ok(Event::EventsLost { counted, uncounted });
    }
    if kind == "short-lived" {
        return parse_short_life(cur);
    }
    if kind == "short-lived-more" {
        cur.expect("count=")?;
        let count = cur.number("a count of processes")?;
        cur.expect(" failed=")?;
        let failed = cur.number("a count of processes")?;
        cur.expect(" signaled=")?;
        let signaled = cur.number("a count of processes")?;
        cur.done()?;
        return Ok(Event::ShortLivedMore {
            count,
            failed,
            signaled,
        });
    }
    let pid = cur.number("a pid")?;
    cur.expect(" start=")?;
    let start = cur.number("a start time")?;
    let event = match kind {
        "spawned" => {
            cur.expect(" ppid=")?;
            Event::Spawned {
                pid,
                start,
                ppid: cur.number("a parent pid")?,
            }
        }
        "exited" => Event::Exited { pid, start },
        "root-exited" => Event::RootExited { pid, start },
        "orphan-exited" => {
            cur.expect(" after=")?;
            let after_ms = cur.number("milliseconds")?;
            cur.expect("ms")?;
            Event::OrphanExited {
                pid,
                start,
                after_ms,
            }
        }
        "root-restarted" => {
            cur.expect(" previous=")?;
            Event::RootRestarted {
                pid,
                start,
                previous: cur.number("a pid")?,
            }
        }
        "reparented" => {
            cur.expect(" from=")?;
            let from = cur.number("a pid")?;
            cur.expect(" to=")?;
            Event::Reparented {
                pid,
                start,
                from,
                to: cur.number("a pid")?,
            }
        }
        "escaped" => {
            cur.expect(" ppid=")?;
            let ppid = cur.number("a parent pid")?;
            cur.expect(" evidence: ")?;
            let evidence = cur.text("evidence with valid escapes")?;
            cur.rest = "";
            Event::Escaped {
                pid,
                start,
                ppid,
                evidence,
            }
        }
        other => {
            return Err(ParseError::new(
                cur.line,
                format!(
                    "an event kind (spawned, exited, reparented, escaped, root-exited, root-restarted, orphan-exited, events-lost, short-lived, short-lived-more), found {other:?}"
                ),
            ));
        }
    };
    cur.done()?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::forkserver_recording as recording;

    #[test]
    fn write_parse_write_is_byte_identical() {
        let rec = recording();
        let text = rec.write(crate::format::Format::Text);
        let back = parse(&text).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.write(crate::format::Format::Text), text);
    }

    #[test]
    fn looks_like_the_gists() {
        let text = recording().write(crate::format::Format::Text);
        assert!(
            text.starts_with("# leaktop-ticklog v1\n# root: 213019 start="),
            "{text}"
        );
        assert!(
            text.contains("\n├── 214862 python3 PPID=213019 state=S RSS=15 MiB (15360 KiB)"),
            "{text}"
        );
        assert!(text.contains("\nleaked at tick 2: reparented from 213019\n214862 python3 PPID=1 (reparented from 213019) state=S"), "{text}");
        assert!(
            text.contains(
                "LEAKED since=2 cmd: python3 -c from multiprocessing.forkserver import main"
            ),
            "{text}"
        );
        assert!(text.contains("* root-exited 213019 start=100\n"), "{text}");
    }

    /// How start times map to wall time (for AGE in a replay) is an optional header
    /// line and NDJSON field: written, read back, and unknown in older recordings.
    #[test]
    fn the_start_clock_is_optional_and_reads_back_in_both_formats() {
        use crate::format::Format;
        let mut rec = recording();
        let clock = crate::sample::StartClock {
            boot_ms: 1_795_983_189_123,
            per_sec: 100,
        };
        rec.header.start_clock = Some(clock);
        let text = rec.write(Format::Text);
        assert!(
            text.contains("\n# start-clock: boot=2026-11-29T20:13:09.123Z per-second=100\n"),
            "{text}"
        );
        assert_eq!(parse(&text).unwrap(), rec, "read back");
        let json = rec.write(Format::Ndjson);
        assert!(
            json.contains(r#""start_clock":{"boot":"2026-11-29T20:13:09.123Z","per_second":100}"#),
            "{json}"
        );
        assert_eq!(Format::Ndjson.parse(&json).unwrap(), rec, "read back");
        // Older recordings have none: unknown, never a made-up clock.
        let old: String = text
            .lines()
            .filter(|l| !l.starts_with("# start-clock: "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(parse(&old).unwrap().header.start_clock, None);
        let old_json = json.replace(
            r#","start_clock":{"boot":"2026-11-29T20:13:09.123Z","per_second":100}"#,
            "",
        );
        assert_ne!(old_json, json);
        let back = Format::Ndjson.parse(&old_json).unwrap();
        assert_eq!(back.header.start_clock, None);
        // A bad one is an error naming the line, not a clock of zero.
        // It names the bad value (the break-it review: it quoted the next field).
        let good = "# start-clock: boot=2026-11-29T20:13:09.123Z per-second=100";
        for (bad, says) in [
            (
                "# start-clock: boot=yesterday per-second=100",
                "found \"yesterday\"",
            ),
            (
                "# start-clock: boot=2026-13-07T00:00:00Z per-second=100",
                "found \"2026-13",
            ),
            (
                "# start-clock: boot=2026-11-29T20:13:09.123Z per-second=0",
                "found 0",
            ),
            (
                "# start-clock: boot=2026-11-29T20:13:09.123Z",
                "' per-second=N'",
            ),
            ("# start-clock:", "\" boot=\""),
            ("# start-clock: ", "\" boot=\""),
        ] {
            let broken = text.replace(good, bad);
            let err = parse(&broken).unwrap_err().to_string();
            assert!(err.starts_with("6: expected"), "{bad}: {err}");
            assert!(err.contains(says), "{bad}: {err}");
        }
        let good = r#""start_clock":{"boot":"2026-11-29T20:13:09.123Z","per_second":100}"#;
        for (bad, says) in [
            (r#""start_clock":"x""#, "expected a start_clock object"),
            (
                r#""start_clock":{"boot":"yesterday","per_second":100}"#,
                "found \"yesterday\"",
            ),
        ] {
            let err = Format::Ndjson
                .parse(&json.replace(good, bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_event_source_is_an_optional_header_line() {
        let mut rec = recording();
        rec.header.events = Some("pidfd (connector: turned off (LEAKTOP_NO_CONNECTOR))".into());
        let text = rec.write(crate::format::Format::Text);
        assert_eq!(parse(&text).unwrap(), rec, "read back");
        assert!(
            text.contains("\n# events: pidfd (connector: turned off (LEAKTOP_NO_CONNECTOR))\n"),
            "{text}"
        );
        // A recording from before events has no such line and reads as unknown.
        let old: String = text
            .lines()
            .filter(|l| !l.starts_with("# events: "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(parse(&old).unwrap().header.events, None);
        let twice = text.replacen("# host: ", "# events: ticks\n# host: ", 1);
        let err = parse(&twice).unwrap_err().to_string();
        assert!(err.contains("one '# events:' line"), "{err}");
    }

    #[test]
    fn lost_events_mark_the_tick_and_read_back_in_both_formats() {
        let mut rec = recording();
        rec.ticks[1].events.push(Event::EventsLost {
            counted: 7,
            uncounted: 1,
        });
        let text = rec.write(crate::format::Format::Text);
        assert!(
            text.contains("\n* events-lost counted=7 uncounted=1; rescanned\n"),
            "{text}"
        );
        assert_eq!(parse(&text).unwrap(), rec);
        let json = rec.write(crate::format::Format::Ndjson);
        assert!(json.contains(r#"{"kind":"events_lost","counted":7,"uncounted":1}"#));
        assert_eq!(crate::format::ndjson::parse(&json).unwrap(), rec);
        let bad = text.replace("uncounted=1; rescanned", "uncounted=x; rescanned");
        assert!(parse(&bad).is_err() || parse(&bad).unwrap().ticks.len() < rec.ticks.len());
    }

    #[test]
    fn short_lives_read_back_in_both_formats() {
        let mut rec = recording();
        rec.ticks[1].events.extend([
            Event::ShortLived {
                pid: 4123,
                ppid: 4121,
                life_ms: 12,
                exec: true,
                comm: Some("cc1 plus".into()),
                code: None,
                signal: Some(9),
            },
            Event::ShortLived {
                pid: 4124,
                ppid: 4121,
                life_ms: 0,
                exec: false,
                comm: None,
                code: Some(3),
                signal: None,
            },
            Event::ShortLivedMore {
                count: 900,
                failed: 2,
                signaled: 1,
            },
        ]);
        let text = rec.write(crate::format::Format::Text);
        for line in [
            "\n* short-lived 4123 ppid=4121 life=12ms exec signal=9 comm: cc1 plus\n",
            "\n* short-lived 4124 ppid=4121 life=0ms code=3\n",
            "\n* short-lived-more count=900 failed=2 signaled=1\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert_eq!(parse(&text).unwrap(), rec);
        let json = rec.write(crate::format::Format::Ndjson);
        assert!(json.contains(
            r#"{"kind":"short_lived","pid":4124,"ppid":4121,"life_ms":0,"exec":false,"code":3}"#
        ));
        assert_eq!(crate::format::ndjson::parse(&json).unwrap(), rec);
        let bad = text.replace("life=12ms", "life=12");
        assert!(parse(&bad).is_err() || parse(&bad).unwrap().ticks.len() < rec.ticks.len());
    }

    #[test]
    fn memory_figures_sit_between_start_and_leaked() {
        let text = recording().write(crate::format::Format::Text);
        assert!(
            text.contains(" start=111 PSS=9 MiB (9216 KiB) USS=7 MiB (7168 KiB) SWAP=512 KiB (512 KiB) measured=1 LEAKED since=2 cmd: "),
            "{text}"
        );
        // Unknown is left out, never written as 0.
        assert!(text.contains(" start=110 LEAKED since=2 cmd: "), "{text}");
        // A line without them (every file before them) reads as unknown.
        let old = text
            .lines()
            .map(|l| match (l.find(" PSS="), l.find(" LEAKED")) {
                (Some(a), Some(b)) => format!("{}{}", &l[..a], &l[b..]),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        let rec = parse(&old).unwrap();
        assert!(
            rec.ticks.iter().flat_map(|t| &t.processes).all(|p| {
                (p.pss_kb, p.uss_kb, p.swap_kb, p.mem_tick) == (None, None, None, None)
            })
        );
    }

    #[test]
    fn gpu_memory_follows_the_memory_figures_and_is_absent_where_unknown() {
        let text = recording().write(crate::format::Format::Text);
        let worker = text
            .lines()
            .find(|l| l.contains(" GPU="))
            .expect("the worker's GPU memory");
        assert!(
            worker.contains(" measured=2 GPU=2 GiB (2097152 KiB) LEAKED since=2 cmd: "),
            "{worker}"
        );
        assert!(
            text.lines()
                .filter(|l| l.contains(" GPU="))
                .all(|l| l.contains("214864 ")),
            "unknown is not written: {text}"
        );
        // A line from before the field reads as unknown; one with a bad size is an
        // error naming it.
        let old = text.replace(" GPU=2 GiB (2097152 KiB)", "");
        let rec = parse(&old).unwrap();
        assert!(
            rec.ticks
                .iter()
                .flat_map(|t| &t.processes)
                .all(|p| p.gpu_kb.is_none())
        );
        let bad = text.replace("GPU=2 GiB (2097152 KiB)", "GPU=lots");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("a GPU memory size"), "{err}");
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let text = recording().write(crate::format::Format::Text);
        let broken = text.replacen("PPID=1556", "PPID=abc", 1);
        let err = parse(&broken).unwrap_err();
        assert_eq!(err.line, 8, "{err}");
        assert!(err.to_string().contains("expected a parent pid"), "{err}");

        assert_eq!(parse("").unwrap_err().line, 1);
        let err = parse("# leaktop-ticklog v2\n").unwrap_err();
        assert!(err.to_string().contains("version 1"), "{err}");
        let err = parse("hello\n").unwrap_err();
        assert!(err.to_string().contains("not a leaktop tick-log"), "{err}");
    }

    #[test]
    fn a_multibyte_char_inside_a_number_is_an_error_not_a_panic() {
        let text = recording().write(crate::format::Format::Text);
        let broken = text.replacen("cpu=1.25", "cpu=1.2\u{251c}", 1);
        let err = parse(&broken).unwrap_err();
        assert!(err.to_string().contains("expected"), "{err}");
    }

    #[test]
    fn ticks_out_of_order_are_an_error() {
        let text = recording().write(crate::format::Format::Text);
        let swapped = text.replace("tick 2 ", "tick 1 ");
        let err = parse(&swapped).unwrap_err();
        assert!(err.to_string().contains("tick number above 1"), "{err}");
    }

    #[test]
    fn a_cut_last_line_keeps_the_complete_ticks() {
        let text = recording().write(crate::format::Format::Text);
        let full = parse(&text).unwrap();
        // Cut anywhere inside the last tick: the earlier ticks survive, with a warning.
        let last_tick_at = text.rfind("\ntick ").unwrap() + 1;
        for cut in ((last_tick_at + 1)..text.len() - 2).filter(|&c| text.is_char_boundary(c)) {
            let rec = match parse(&text[..cut]) {
                Ok(rec) => rec,
                Err(e) => panic!("cut at {cut}: {e}"),
            };
            assert_eq!(
                rec.ticks,
                full.ticks[..full.ticks.len() - 1],
                "cut at {cut}"
            );
            assert!(rec.truncated.is_some(), "cut at {cut}");
        }
    }
}
