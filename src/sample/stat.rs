//! Parsing of `/proc/PID/stat`: one read gives every field a tick needs.
//!
//! Hand-written, not the `procfs` crate's `Stat`, because it is the hot path: every
//! member is read every tick (and every newcomer once), thousands of times a second on
//! a large family. This parser reads the 10 fields a tick uses in place from a reused
//! buffer and allocates nothing; procfs's parses all 52 into a struct with an owned
//! `comm` String, for each read. What is read rarely (`smaps_rollup`, `meminfo`, the
//! boot time, `loadavg`'s last pid) goes through the `procfs` crate.

use super::{Comm, ProcSample};

/// Kernel constants needed to turn `stat` fields into units.
#[derive(Debug, Clone, Copy)]
pub struct Units {
    pub page_kb: u64,
    pub ticks_per_sec: u64,
}

/// Parses one `stat` line. Returns `None` on anything malformed (a racing exit can
/// leave a short read; that is a vanished process, not an error).
/// `PF_EXITING` in the flags field (the 9th) of `/proc/PID/stat`: the process is
/// getting out of the kernel (include/linux/sched.h).
const PF_EXITING: u64 = 0x4;

pub fn parse(buf: &[u8], units: Units) -> Option<ProcSample> {
    // `comm` may contain spaces and parentheses: it runs to the *last* ')'.
    let open = memchr::memchr(b'(', buf)?;
    let close = memchr::memrchr(b')', buf)?;
    if close < open {
        return None;
    }
    let pid = parse_num(buf[..open].trim_ascii())? as u32;
    let comm = Comm::new(&buf[open + 1..close]);
    // Fields 3.. (state is field 3), read in one pass: the ones a tick uses.
    let mut fields = Fields {
        rest: buf.get(close + 2..)?,
    };
    let state = *fields.next()?.first()?;
    let ppid = parse_num(fields.next()?)? as u32;
    let pgrp = parse_num(fields.next()?)? as u32;
    let session = parse_num(fields.next()?)? as u32;
    // tty_nr tpgid
    fields.skip(2)?;
    let flags = parse_num(fields.next()?)?;
    // minflt cminflt majflt cmajflt
    fields.skip(4)?;
    let utime = parse_num(fields.next()?)?;
    let stime = parse_num(fields.next()?)?;
    // cutime cstime priority nice num_threads itrealvalue
    fields.skip(6)?;
    let start = parse_num(fields.next()?)?;
    // vsize
    fields.skip(1)?;
    let rss_pages = parse_num(fields.next()?)?;
    // A field after rss proves the rss number was not cut short.
    fields.next()?;
    // A process the kernel is tearing down (SIGKILLed, or past exit()) still shows as
    // R or D with its RSS being freed: it has exited, as a zombie has.
    let state = if flags & PF_EXITING != 0 && !matches!(state, b'Z' | b'X') {
        b'X'
    } else {
        state
    };
    Some(ProcSample {
        pid,
        ppid,
        state,
        rss_kb: rss_pages * units.page_kb,
        pgrp,
        session,
        start,
        cpu_ms: (utime + stime) * 1000 / units.ticks_per_sec.max(1),
        comm,
    })
}

/// The space-separated fields after `comm`, front to back.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    /// The next field; `None` past the last (a field may be empty only at the end of a
    /// short read, which `parse_num` then refuses).
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        // A plain scan: fields are a few bytes, shorter than memchr's set-up.
        match self.rest.iter().position(|&b| b == b' ') {
            Some(i) => {
                let field = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                Some(field)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }

    /// Steps over `n` fields; `None` if there are fewer.
    fn skip(&mut self, n: usize) -> Option<()> {
        for _ in 0..n {
            self.next()?;
        }
        Some(())
    }
}

/// Whether a `stat` line is a thread other than its group's leader: `/proc/TID` can be
/// opened for any thread (it is only hidden from the listing), and there a thread
/// poses as a process whose parent is its leader's parent. Only a non-leader thread
/// has exit_signal (field 38) -1.
pub fn is_thread(buf: &[u8]) -> bool {
    let Some(close) = buf.iter().rposition(|&b| b == b')') else {
        return false;
    };
    // Field 3 (state) follows ") "; exit_signal is 35 fields later.
    buf.get(close + 2..)
        .and_then(|rest| rest.split(|&b| b == b' ').nth(35))
        .is_some_and(|f| f.starts_with(b"-"))
}

fn parse_num(field: &[u8]) -> Option<u64> {
    if field.is_empty() {
        return None;
    }
    // Some fields are signed in the kernel; a negative value here means "none".
    if field[0] == b'-' {
        return Some(0);
    }
    let mut n: u64 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS: Units = Units {
        page_kb: 4,
        ticks_per_sec: 100,
    };

    #[test]
    fn parses_a_real_stat_line() {
        let line = b"214864 (python3) R 214863 213019 213000 34816 213019 4194304 12 0 0 0 150 25 0 0 20 0 1 0 123460 1700000000 401920 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse(line, UNITS).unwrap();
        assert_eq!(s.pid, 214864);
        assert_eq!(s.ppid, 214863);
        assert_eq!(s.state, b'R');
        assert_eq!(s.pgrp, 213019);
        assert_eq!(s.session, 213000);
        assert_eq!(s.start, 123460);
        assert_eq!(s.rss_kb, 401920 * 4);
        assert_eq!(s.cpu_ms, 1750);
        assert_eq!(s.comm.as_bytes(), b"python3");
    }

    #[test]
    fn a_process_on_its_way_out_has_exited() {
        // The flags field (4194308 = PF_EXITING | PF_RANDOMIZE) of a SIGKILLed worker
        // caught mid-teardown: state R, RSS already 0.
        let line = b"2148 (python3) R 1 2100 2100 0 -1 4194308 12 0 0 0 150 25 0 0 20 0 1 0 123460 0 0 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse(line, UNITS).unwrap();
        assert_eq!(s.state, b'X');
        assert!(s.has_exited());
        let living = b"2148 (python3) R 1 2100 2100 0 -1 4194304 12 0 0 0 150 25 0 0 20 0 1 0 123460 0 0 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(parse(living, UNITS).unwrap().state, b'R');
    }

    #[test]
    fn tells_threads_from_processes() {
        let process = b"1692 (python3) S 1690 1692 1690 0 -1 4194304 0 0 0 0 1 0 0 0 20 0 2 0 99 1 1 1 1 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let thread = b"1735 (python3) S 1690 1692 1690 0 -1 4194368 0 0 0 0 1 0 0 0 20 0 2 0 99 1 1 1 1 1 1 0 0 0 0 0 0 0 0 0 -1 1 0 0 0 0 0\n";
        assert!(!is_thread(process));
        assert!(is_thread(thread));
        assert!(!is_thread(b"12 (x) S 1 2"));
    }

    #[test]
    fn comm_with_spaces_and_parens() {
        let line = b"77 (a) b (c)) S 1 77 77 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 999 100 7 0\n";
        let s = parse(line, UNITS).unwrap();
        assert_eq!(s.comm.as_bytes(), b"a) b (c)");
        assert_eq!(s.ppid, 1);
        assert_eq!(s.start, 999);
        assert_eq!(s.rss_kb, 28);
    }

    #[test]
    fn truncated_lines_are_rejected_not_panics() {
        let line = b"214864 (python3) R 214863 213019 213000 34816 213019 4194304 12 0 0 0 150 25 0 0 20 0 1 0 123460 1700000000 401920";
        for cut in 0..line.len() - 1 {
            let _ = parse(&line[..cut], UNITS);
        }
        assert!(parse(b"12 (x) S 1 2", UNITS).is_none());
        assert!(parse(b"garbage", UNITS).is_none());
    }
}
