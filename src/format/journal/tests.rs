//! The journal written, rotated within its cap, and read back whatever damage.

use super::*;
use crate::model::watch::record::{LostRecord, Stop};

fn writer(dir: &Path, cap: u64) -> Writer {
    Writer::open(
        dir,
        cap,
        "host",
        Box::new(|p: &Path| File::options().write(true).create_new(true).open(p)),
    )
    .unwrap()
}

fn lost(i: u64) -> Record {
    Record::Lost(LostRecord {
        time_ms: i,
        count: Some(i),
    })
}

fn read_all(dir: &Path) -> (Vec<Record>, Vec<String>, ReadSummary) {
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    let summary = read(dir, &mut |r| records.push(r), &mut |w| warnings.push(w));
    (records, warnings, summary)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn records_come_back_in_order_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state/leaktop");
    let mut w = writer(&dir, DEFAULT_CAP);
    w.push(&lost(1));
    w.push(&lost(2));
    w.flush(true, 10).unwrap();
    drop(w);
    // A restarted watcher begins a file of its own.
    let mut w = writer(&dir, DEFAULT_CAP);
    w.push(&lost(3));
    w.flush(false, 20).unwrap();
    assert_eq!(files(&dir).unwrap().len(), 2);
    let (records, warnings, summary) = read_all(&dir);
    assert_eq!(records, vec![lost(1), lost(2), lost(3)]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!((summary.files, summary.records), (2, 3));
}

#[test]
fn the_directory_never_holds_more_than_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let cap = MIN_CAP;
    let mut w = writer(tmp.path(), cap);
    let mut last = 0;
    for batch in 0..400u64 {
        for i in 0..20 {
            last = batch * 20 + i;
            w.push(&Record::Stop(Stop {
                time_ms: last,
                pid: 7,
                why: "x".repeat(100),
            }));
        }
        w.flush(batch % 10 == 0, batch).unwrap();
        assert!(
            dir_bytes(tmp.path()) <= cap,
            "batch {batch}: {}",
            dir_bytes(tmp.path())
        );
    }
    assert!(files(tmp.path()).unwrap().len() > 3, "rotated");
    // The newest records are kept, the oldest went.
    let (records, _, _) = read_all(tmp.path());
    assert_eq!(records.last().map(Record::time_ms), Some(last));
    assert!(records.first().map(Record::time_ms) > Some(0));
}

#[test]
fn a_cut_last_line_is_left_out_and_the_rest_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = writer(tmp.path(), DEFAULT_CAP);
    for i in 0..5 {
        w.push(&lost(i));
    }
    w.flush(false, 0).unwrap();
    let (_, path, size) = files(tmp.path()).unwrap().pop().unwrap();
    // Cut in the middle of the last record, as a power cut may leave it.
    let f = File::options().write(true).open(&path).unwrap();
    f.set_len(size - 10).unwrap();
    let (records, warnings, summary) = read_all(tmp.path());
    assert_eq!(records, (0..4).map(lost).collect::<Vec<_>>());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(summary.cut, 1);
}

#[test]
fn foreign_and_damaged_files_are_skipped_with_a_warning_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = writer(tmp.path(), DEFAULT_CAP);
    w.push(&lost(1));
    w.flush(false, 0).unwrap();
    let (_, good, _) = files(tmp.path()).unwrap().pop().unwrap();
    let mut text = std::fs::read_to_string(&good).unwrap();
    text.push_str("{not json\n{\"type\":\"later\",\"time_ms\":1}\n");
    text.push_str(&serde_json::to_string(&lost(2)).unwrap());
    text.push('\n');
    std::fs::write(&good, text).unwrap();
    // A file named like a journal that is not one, one that is binary, an empty one,
    // and a file that is not named like one at all.
    std::fs::write(tmp.path().join("journal-00000007.ndjson"), "hello\n").unwrap();
    std::fs::write(
        tmp.path().join("journal-00000008.ndjson"),
        b"{\"type\":\"journal\",\"version\":1,\"created_ms\":0,\"host\":\"h\"}\n\xff\xfe\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("journal-00000009.ndjson"), "").unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "\u{0}\u{1}").unwrap();
    let (records, warnings, summary) = read_all(tmp.path());
    assert_eq!(records, vec![lost(1), lost(2)]);
    assert_eq!(summary.unknown, 1);
    assert_eq!(summary.corrupt, 2, "{summary:?}");
    assert_eq!(summary.skipped_files, 1);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("00000007") && w.contains("not a leaktop journal"))
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("00000008") && w.contains("not text"))
    );
    assert!(warnings.iter().any(|w| w.contains("1 line damaged")));
    // A missing directory has no journal and no complaint.
    let (records, warnings, _) = read_all(&tmp.path().join("none"));
    assert!(records.is_empty() && warnings.is_empty());
}

#[test]
fn the_pid_file_is_written_whole_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let me = WatcherFile {
        pid: 42,
        start: 7,
        since_ms: 1000,
        source: "connector".into(),
        scope: "machine".into(),
    };
    me.write(tmp.path()).unwrap();
    assert_eq!(WatcherFile::read(tmp.path()), Some(me.clone()));
    let other = WatcherFile { pid: 43, ..me };
    other.write(tmp.path()).unwrap();
    assert_eq!(WatcherFile::read(tmp.path()), Some(other));
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
    std::fs::write(tmp.path().join(PID_FILE), "garbage").unwrap();
    assert!(WatcherFile::read(tmp.path()).is_none());
}

#[test]
fn a_name_taken_by_something_else_is_stepped_over_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    std::fs::create_dir_all(dir.join("journal-00000001.ndjson")).unwrap();
    let mut w = writer(&dir, 1 << 20);
    for i in 0..3 {
        w.push(&lost(i));
    }
    w.flush(false, 1).unwrap();
    // Taken after the directory was read: the next name is stepped over too.
    std::fs::create_dir(dir.join("journal-00000003.ndjson")).unwrap();
    let mut w = writer(&dir, 1 << 20);
    std::fs::remove_dir(dir.join("journal-00000003.ndjson")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("journal-00000003.ndjson")).unwrap();
    w.push(&lost(3));
    w.flush(false, 2).unwrap();
    let (records, _, _) = read_all(&dir);
    assert_eq!(records, (0..4).map(lost).collect::<Vec<_>>());
}

#[test]
fn rotation_never_removes_a_file_leaktop_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    std::fs::create_dir_all(&dir).unwrap();
    let foreign = dir.join("journal-00000001.ndjson");
    std::fs::write(&foreign, "my notes, not a journal\n").unwrap();
    let mut w = writer(&dir, MIN_CAP);
    for i in 0..20_000 {
        w.push(&lost(i));
        if i % 100 == 0 {
            w.flush(false, i).unwrap();
        }
    }
    w.flush(false, 0).unwrap();
    assert!(files(&dir).unwrap().len() > 2, "rotated");
    assert_eq!(
        std::fs::read_to_string(&foreign).unwrap(),
        "my notes, not a journal\n"
    );
}
