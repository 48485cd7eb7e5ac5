//! `e`: the timeline so far written to a new file, named after the root and the wall
//! time, in the first directory where one can be made, never through a planted
//! symlink; streamed on a worker thread with progress.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::thread::{self, JoinHandle};
use std::time::SystemTime;

use super::{LoopOptions, Msg};
use crate::format::Format;
use crate::host::Create;
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

/// Creates a new file in the first of `dirs` where one can be made, with `create`
/// (which must make only a new file and never follow a symlink: [`Create::New`]),
/// trying `name(0)`, `name(1)`, … while the name is taken. A taken name, a symlink
/// planted there included, is never a reason to fail. The error is the first
/// directory's.
pub fn create_export(
    dirs: &[PathBuf],
    name: impl Fn(u32) -> String,
    mut create: impl FnMut(&Path) -> io::Result<File>,
) -> Result<(PathBuf, File), String> {
    let mut first: Option<String> = None;
    for dir in dirs {
        for n in 0..EXPORT_NAMES {
            let path = dir.join(name(n));
            match create(&path) {
                Ok(file) => return Ok((path, file)),
                Err(e) if taken(&e) => {
                    if n + 1 == EXPORT_NAMES {
                        first.get_or_insert_with(|| {
                            format!("{}: every name is taken", dir.display())
                        });
                    }
                }
                Err(e) => {
                    first.get_or_insert_with(|| format!("{}: {e}", path.display()));
                    break;
                }
            }
        }
    }
    Err(first.unwrap_or_else(|| "nowhere to write".into()))
}

/// Whether a create failed only because something is at the name already (a file, a
/// directory, or a symlink, which `O_NOFOLLOW` refuses with `ELOOP` where `O_EXCL`
/// does not say `EEXIST` first).
fn taken(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AlreadyExists
        || e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

/// Starts writing the timeline so far on a worker thread; progress and the result come
/// back as messages.
pub(super) fn spawn_export(app: &App, options: &LoopOptions, tx: Sender<Msg>) -> JoinHandle<()> {
    // A copy of the compact history: the UI goes on while it is written.
    let history = app.history.clone();
    let header = app.header.clone();
    let host = options.host.clone();
    let dirs = options.export_dirs.clone();
    let time = host.wall_clock();
    thread::spawn(move || {
        let root = header.root_pid;
        let result = create_export(
            &dirs,
            |n| export_name(root, time, n),
            |p| host.create(p, Create::New),
        )
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

    #[test]
    fn a_taken_name_moves_on_to_the_next_and_another_error_to_the_next_directory() {
        let dirs = [PathBuf::from("/ro"), PathBuf::from("/here")];
        let mut tried = Vec::new();
        let made = create_export(
            &dirs,
            |n| format!("x-{n}"),
            |p| {
                tried.push(p.to_path_buf());
                match p.to_str().unwrap() {
                    "/ro/x-0" => Err(io::ErrorKind::PermissionDenied.into()),
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
            ["/ro/x-0", "/here/x-0", "/here/x-1", "/here/x-2"].map(PathBuf::from)
        );
    }

    #[test]
    fn when_nothing_can_be_made_the_first_directorys_error_is_told() {
        let dirs = [PathBuf::from("/a"), PathBuf::from("/b")];
        let err = create_export(
            &dirs,
            |n| format!("x-{n}"),
            |p| {
                if p.starts_with("/a") {
                    Err(io::ErrorKind::AlreadyExists.into())
                } else {
                    Err(io::ErrorKind::PermissionDenied.into())
                }
            },
        )
        .unwrap_err();
        assert_eq!(err, "/a: every name is taken");
    }
}
