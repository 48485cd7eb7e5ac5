//! The record a `leaktop run` leaves behind, so that its `LEAKTOP_RUN` marker can be
//! checked once the run is gone.
//!
//! A marker in a process's environment is text anyone can set. It counts as strong
//! evidence (`leaktop orphans`) only when a record of that run, owned by the orphan's
//! own user and writable by no one else, says the run existed and was alive when the
//! orphan started. The record is a small text file, one `key value` a line; the host
//! keeps it (under `$XDG_RUNTIME_DIR/leaktop`, or `/run/leaktop` as root) and checks
//! its owner and mode. This module is pure: the text and the rules.

/// `leaktop run` rewrites its record's end time about this often while it runs, so
/// the record of a run that was SIGKILLed still bounds when it died, in ms.
pub const HEARTBEAT_MS: u64 = 1_000;

/// One `leaktop run`, as its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The pid of the `leaktop run` process.
    pub pid: u32,
    /// Its start time, in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start: u64,
    /// The boot it ran in (`/proc/sys/kernel/random/boot_id`): start times mean
    /// nothing across boots.
    pub boot: String,
    /// The executable that ran (device and inode of `/proc/PID/exe`), if known.
    pub exe: Option<(u64, u64)>,
    /// The user it ran as (the record file's owner must be the same).
    pub uid: u32,
    /// The last time it was known alive, or its end: clock ticks since boot.
    pub end: u64,
    /// Whether `end` is the run's end (it finished) rather than its last heartbeat
    /// (it is running, or it was killed).
    pub ended: bool,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not a leaktop run record")]
    NotARecord,
    #[error("field '{0}' is missing or malformed")]
    Field(&'static str),
}

const MAGIC: &str = "leaktop-run 1";

impl RunRecord {
    /// The `LEAKTOP_RUN` value of this run: `<pid>.<start>`.
    pub fn marker(&self) -> String {
        format!("{}.{}", self.pid, self.start)
    }

    /// The record as its file holds it. Numbers that change (`end`, `ended`) have a
    /// fixed width, so a rewrite in place is the same length.
    pub fn to_text(&self) -> String {
        let exe = self
            .exe
            .map_or_else(|| "-".to_string(), |(d, i)| format!("{d}:{i}"));
        format!(
            "{MAGIC}\npid {}\nstart {}\nboot {}\nexe {exe}\nuid {}\nend {:020}\nended {}\n",
            self.pid,
            self.start,
            self.boot,
            self.uid,
            self.end,
            u8::from(self.ended)
        )
    }

    /// Reads a record's text.
    ///
    /// # Errors
    /// [`RecordError`] when the first line is not the record's, or a field is missing
    /// or malformed.
    pub fn parse(text: &str) -> Result<RunRecord, RecordError> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(RecordError::NotARecord);
        }
        let fields: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(' ')).collect();
        let get = |k: &'static str| {
            fields
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| *v)
                .ok_or(RecordError::Field(k))
        };
        let num = |k: &'static str| -> Result<u64, RecordError> {
            let v = get(k)?;
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RecordError::Field(k));
            }
            v.parse().map_err(|_| RecordError::Field(k))
        };
        let exe = match get("exe")? {
            "-" => None,
            v => {
                let (d, i) = v.split_once(':').ok_or(RecordError::Field("exe"))?;
                Some((
                    d.parse().map_err(|_| RecordError::Field("exe"))?,
                    i.parse().map_err(|_| RecordError::Field("exe"))?,
                ))
            }
        };
        let boot = get("boot")?;
        if boot.is_empty() || !boot.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(RecordError::Field("boot"));
        }
        Ok(RunRecord {
            pid: u32::try_from(num("pid")?).map_err(|_| RecordError::Field("pid"))?,
            start: num("start")?,
            boot: boot.to_string(),
            exe,
            uid: u32::try_from(num("uid")?).map_err(|_| RecordError::Field("uid"))?,
            end: num("end")?,
            ended: match get("ended")? {
                "0" => false,
                "1" => true,
                _ => return Err(RecordError::Field("ended")),
            },
        })
    }

    /// Whether this run was alive when a process started at `start` (clock ticks since
    /// boot): from the run's start to its end, or to its last heartbeat and two
    /// heartbeats more where it never wrote an end (it was killed). `per_sec`: clock
    /// ticks per second.
    pub fn covers(&self, start: u64, per_sec: u64) -> bool {
        let slack = if self.ended {
            0
        } else {
            2 * HEARTBEAT_MS * per_sec / 1000
        };
        self.start <= start && start <= self.end.saturating_add(slack)
    }
}

/// The pid and start time a `LEAKTOP_RUN` value names, if it has the marker's shape
/// (`<pid>.<start>`, digits only); `None` for anything else.
pub fn parse_marker(marker: &str) -> Option<(u32, u64)> {
    let (pid, start) = marker.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(start) {
        return None;
    }
    Some((pid.parse().ok().filter(|&p| p > 0)?, start.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RunRecord {
        RunRecord {
            pid: 4242,
            start: 1000,
            boot: "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab".into(),
            exe: Some((2049, 77)),
            uid: 1000,
            end: 1500,
            ended: false,
        }
    }

    #[test]
    fn a_record_reads_back_and_rewrites_in_the_same_length() {
        let r = record();
        assert_eq!(RunRecord::parse(&r.to_text()), Ok(r.clone()));
        let later = RunRecord {
            end: 99_999,
            ended: true,
            ..r.clone()
        };
        assert_eq!(later.to_text().len(), r.to_text().len());
        assert_eq!(RunRecord::parse(&later.to_text()), Ok(later));
        let no_exe = RunRecord { exe: None, ..r };
        assert_eq!(RunRecord::parse(&no_exe.to_text()), Ok(no_exe));
    }

    #[test]
    fn anything_else_is_no_record() {
        assert_eq!(RunRecord::parse(""), Err(RecordError::NotARecord));
        assert_eq!(
            RunRecord::parse("pid 1\n"),
            Err(RecordError::NotARecord),
            "no first line"
        );
        let text = record().to_text();
        for (from, to, field) in [
            ("pid 4242", "pid -1", "pid"),
            ("start 1000", "start 1e3", "start"),
            ("uid 1000", "uid", "uid"),
            ("ended 0", "ended 2", "ended"),
            ("exe 2049:77", "exe 2049", "exe"),
            ("boot 0f1e", "boot ../../x", "boot"),
        ] {
            let bad = text.replace(from, to);
            assert_eq!(
                RunRecord::parse(&bad),
                Err(RecordError::Field(field)),
                "{bad}"
            );
        }
    }

    #[test]
    fn markers_are_digits_dot_digits() {
        assert_eq!(parse_marker("4242.1000"), Some((4242, 1000)));
        for bad in [
            "",
            "garbage",
            "1",
            ".1",
            "1.",
            "0.5",
            "1.1.1",
            "-1.5",
            "1.-5",
            "+1.5",
            "1.5 ",
            "../x.1",
            "99999999999.1",
        ] {
            assert_eq!(parse_marker(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_run_covers_what_started_while_it_lived() {
        // 100 ticks a second; the run from 1000 to 1500.
        let ended = RunRecord {
            ended: true,
            ..record()
        };
        assert!(ended.covers(1000, 100));
        assert!(ended.covers(1500, 100));
        assert!(!ended.covers(999, 100), "started before the run");
        assert!(!ended.covers(1501, 100), "started after its end");
        // Killed: its last heartbeat at 1500, two heartbeats of slack.
        let killed = record();
        assert!(killed.covers(1700, 100));
        assert!(!killed.covers(1701, 100));
    }
}
