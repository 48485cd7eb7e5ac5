//! `e`: the timeline so far written to a new file, named after the root and the wall
//! time, in the export directory (`--export-dir`, else the XDG data directory, made on
//! first use), never through a planted symlink; the view says where, and whose the
//! directory is, and waits for Enter before anything is written; streamed on a worker
//! thread with progress.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::thread::{self, JoinHandle};
use std::time::SystemTime;

use super::{LoopOptions, Msg};
use crate::format::Format;
use crate::host::{Create, Host};
use crate::human::{io_message, shown_path};
use crate::model::Header;
use crate::record::TickSink;
use crate::ui::app::App;
use crate::ui::history::History;

/// Names a file of the timeline ends up with are tried (`-1` … `-999`) in one directory
/// before the next.
const EXPORT_NAMES: u32 = 1000;
/// An export says how far it has got every this many ticks.
const EXPORT_PROGRESS_EVERY: usize = 1000;

/// The `n`th name an export of `root`'s timeline made at `time` may take:
/// `leaktop-ROOT-YYYYMMDD-HHMMSS.ticklog`, then `…-1.ticklog`, `…-2.ticklog`, ….
pub fn export_name(root: u32, time: SystemTime, n: u32) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(time)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .map(|c| if c == 'T' { '-' } else { c })
        .collect();
    match n {
        0 => format!("leaktop-{root}-{stamp}.ticklog"),
        n => format!("leaktop-{root}-{stamp}-{n}.ticklog"),
    }
}

/// Where `e` writes without `--export-dir`: `$XDG_DATA_HOME/leaktop`, else
/// `$HOME/.local/share/leaktop` (the XDG default), made on first use; the working
/// directory only where neither variable names an absolute path.
pub fn default_export_dir() -> PathBuf {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_DATA_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".local/share")))
        .map(|data| data.join("leaktop"))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// What the view says about `dir` before writing into it, asked through `host`: `None`
/// where it is the user's own; "new directory" where it is not there yet (it is
/// made, for the user alone, on Enter); "owned by uid N, not you" where it is someone
/// else's; why it cannot be looked at otherwise.
pub fn whose_dir(host: &dyn Host, dir: &Path) -> Option<String> {
    match host.owner(dir) {
        Ok(uid) if uid == host.own_uid() => None,
        Ok(uid) => Some(format!("owned by uid {uid}, not you")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some("new directory".into()),
        Err(e) => Some(io_message(&e)),
    }
}

/// Creates a new file in `dir` with `create` (which must make only a new file and
/// never follow a symlink: [`Create::New`]), trying `name(0)`, `name(1)`, … while the
/// name is taken. A taken name, a symlink planted there included, is never a reason
/// to fail.
pub fn create_export(
    dir: &Path,
    name: impl Fn(u32) -> String,
    mut create: impl FnMut(&Path) -> io::Result<File>,
) -> Result<(PathBuf, File), String> {
    for n in 0..EXPORT_NAMES {
        let path = dir.join(name(n));
        match create(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if taken(&e) => {}
            Err(e) => return Err(format!("{}: {}", shown_path(&path), io_message(&e))),
        }
    }
    Err(format!("{}: every name is taken", shown_path(dir)))
}

/// Whether a create failed only because something is at the name already (a file, a
/// directory, or a symlink, which `O_NOFOLLOW` refuses with `ELOOP` where `O_EXCL`
/// does not say `EEXIST` first).
fn taken(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AlreadyExists
        || e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

/// Starts writing the timeline so far, named for wall time `at` (the time the prompt
/// named it by), on a worker thread: the export directory is made first if it is not
/// there. Progress and the result come back as messages.
pub(super) fn spawn_export(
    app: &App,
    options: &LoopOptions,
    at: SystemTime,
    tx: Sender<Msg>,
) -> JoinHandle<()> {
    // A copy of the compact history: the UI goes on while it is written.
    let history = app.history.clone();
    let header = app.header.clone();
    let host = options.host.clone();
    let dir = options.export_dir.clone();
    thread::spawn(move || {
        let root = header.root_pid;
        let result = host
            .create_dir_all(&dir)
            .map_err(|e| format!("{}: {}", shown_path(&dir), io_message(&e)))
            .and_then(|()| {
                create_export(
                    &dir,
                    |n| export_name(root, at, n),
                    |p| host.create(p, Create::New),
                )
            })
            .and_then(|(path, file)| {
                let progress = |done, total| {
                    let _ = tx.send(Msg::ExportProgress { done, total });
                };
                write_export(file, &path, &header, &history, progress).map(|n| (path, n))
            });
        let _ = tx.send(Msg::Exported(result));
    })
}

/// Writes the header and every tick of `history`, one write per tick, saying how far
/// it has got every [`EXPORT_PROGRESS_EVERY`] ticks. Returns the ticks written.
fn write_export(
    file: File,
    path: &Path,
    header: &Header,
    history: &History,
    mut progress: impl FnMut(usize, usize),
) -> Result<usize, String> {
    let mut sink = TickSink::from_file(file, path, Format::Text);
    sink.header(header).map_err(|e| e.to_string())?;
    let total = history.len();
    for (i, tick) in history.iter().enumerate() {
        sink.tick(&tick).map_err(|e| e.to_string())?;
        if (i + 1) % EXPORT_PROGRESS_EVERY == 0 && i + 1 < total {
            progress(i + 1, total);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn export_names_carry_the_root_the_time_and_a_counter() {
        // 2026-11-29 20:13:09 UTC
        let t = at(1_795_983_189);
        assert_eq!(
            export_name(4100, t, 0),
            "leaktop-4100-20261129-201309.ticklog"
        );
        assert_eq!(
            export_name(4100, t, 2),
            "leaktop-4100-20261129-201309-2.ticklog"
        );
    }

    /// The break-it review: `--export-dir FILE` was offered without a word, then
    /// failed with "File exists".
    #[test]
    fn a_file_where_the_directory_should_be_is_not_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("afile");
        std::fs::write(&file, "x").unwrap();
        let e = crate::host::owner(&file).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory);
        assert_eq!(
            crate::host::owner(dir.path()).ok(),
            Some(rustix::process::geteuid().as_raw())
        );
        assert_eq!(
            crate::host::owner(&dir.path().join("none"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        let e = crate::host::create_dir_all(&file).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory);
        assert_eq!(io_message(&e), "not a directory");
    }

    #[test]
    fn a_taken_name_moves_on_to_the_next() {
        let mut tried = Vec::new();
        let made = create_export(
            Path::new("/here"),
            |n| format!("x-{n}"),
            |p| {
                tried.push(p.to_path_buf());
                match p.to_str().unwrap() {
                    "/here/x-0" => Err(io::ErrorKind::AlreadyExists.into()),
                    "/here/x-1" => Err(io::Error::from_raw_os_error(
                        rustix::io::Errno::LOOP.raw_os_error(),
                    )),
                    _ => tempfile::tempfile(),
                }
            },
        );
        let (path, _) = made.unwrap();
        assert_eq!(path, PathBuf::from("/here/x-2"));
        assert_eq!(
            tried,
            ["/here/x-0", "/here/x-1", "/here/x-2"].map(PathBuf::from)
        );
    }

    #[test]
    fn when_nothing_can_be_made_it_says_why() {
        let taken = create_export(
            Path::new("/a"),
            |n| format!("x-{n}"),
            |_| Err(io::ErrorKind::AlreadyExists.into()),
        );
        assert_eq!(taken.unwrap_err(), "/a: every name is taken");
        let denied = create_export(
            Path::new("/b"),
            |n| format!("x-{n}"),
            |_| Err(io::Error::from_raw_os_error(13)),
        );
        assert_eq!(denied.unwrap_err(), "/b/x-0: Permission denied");
    }

    #[test]
    fn the_default_directory_is_the_xdg_data_directory() {
        // Read once, as the view reads it; the variables are the process's own.
        let dir = default_export_dir();
        match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
            (Some(data), _) if Path::new(&data).is_absolute() => {
                assert_eq!(dir, Path::new(&data).join("leaktop"))
            }
            (_, Some(home)) if Path::new(&home).is_absolute() => {
                assert_eq!(dir, Path::new(&home).join(".local/share/leaktop"))
            }
            _ => assert_eq!(dir, Path::new(".")),
        }
    }
}
