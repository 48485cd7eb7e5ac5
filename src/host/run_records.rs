//! Where `leaktop run` keeps its records ([`crate::model::run_record`]) on Linux, and
//! the checks that make one worth reading: a directory and a file owned by the user
//! the record is for, writable by no one else, reached through no symlink.
//!
//! A run keeps its record in `$XDG_RUNTIME_DIR/leaktop/`, or, as root without that
//! variable, in `/run/leaktop/`; elsewhere it keeps none. A reader looks for user
//! UID's records in its own `$XDG_RUNTIME_DIR/leaktop/`, in `/run/user/UID/leaktop/`
//! (where logind puts every user's runtime directory) and, for root, `/run/leaktop/`.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

use super::KeptFile;

/// The largest record read back, bytes: a record is about 150.
const MOST: u64 = 4096;

/// Where this process keeps its records, if anywhere.
fn own_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => Some(dir.join("leaktop")),
        _ if rustix::process::geteuid().is_root() => Some(PathBuf::from("/run/leaktop")),
        _ => None,
    }
}

/// Where user `uid`'s records may be, most likely first.
fn dirs_of(uid: u32) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = own_dir().into_iter().collect();
    dirs.push(PathBuf::from(format!("/run/user/{uid}/leaktop")));
    if uid == 0 {
        dirs.push(PathBuf::from("/run/leaktop"));
    }
    dirs.dedup();
    dirs
}

/// Whether a record's file name is one leaktop makes: `run-<digits>.<digits>`.
fn valid_name(name: &str) -> bool {
    name.strip_prefix("run-")
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
        })
}

/// Opens `dir` (no symlink) and checks that `uid` owns it and no one else may write it.
fn open_dir(dir: &Path, uid: u32) -> io::Result<OwnedFd> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if st.st_uid != uid || st.st_mode & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{} is not uid {uid}'s own (owner {}, mode {:o})",
            dir.display(),
            st.st_uid,
            st.st_mode & 0o7777
        )));
    }
    Ok(fd)
}

/// A record file kept open for rewriting while the run lasts.
struct Kept {
    file: File,
    path: PathBuf,
}

impl KeptFile for Kept {
    fn rewrite(&mut self, text: &str) -> io::Result<()> {
        self.file.write_all_at(text.as_bytes(), 0)?;
        self.file.set_len(text.len() as u64)
    }

    fn remove(self: Box<Self>) -> io::Result<()> {
        std::fs::remove_file(&self.path)
    }
}

/// Creates the record file `name` holding `text` in this process's own directory
/// (made if missing, mode 0700). `Ok(None)` where there is none to keep it in.
///
/// # Errors
/// The directory cannot be made or is not this user's own (another owner, writable by
/// others, a symlink), or the file cannot be written.
pub(super) fn keep(name: &str, text: &str) -> io::Result<Option<Box<dyn KeptFile>>> {
    let Some(dir) = own_dir() else {
        return Ok(None);
    };
    if !valid_name(name) {
        return Err(io::Error::other(format!("not a record's name: {name}")));
    }
    match rustix::fs::mkdir(&dir, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(io::Error::other(format!("{}: {e}", dir.display()))),
    }
    let me = rustix::process::geteuid().as_raw();
    let dir_fd = open_dir(&dir, me)?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o600);
    let fd = match rustix::fs::openat(&dir_fd, name, flags, mode) {
        // A record of another boot with the same pid and start: ours now.
        Err(rustix::io::Errno::EXIST) => {
            rustix::fs::unlinkat(&dir_fd, name, rustix::fs::AtFlags::empty())?;
            rustix::fs::openat(&dir_fd, name, flags, mode)?
        }
        other => other?,
    };
    let mut kept = Kept {
        file: File::from(fd),
        path: dir.join(name),
    };
    kept.rewrite(text)?;
    Ok(Some(Box::new(kept)))
}

/// The text of user `uid`'s record `name`, from the first of its directories that
/// holds one that passes the checks; `None` if none does.
pub(super) fn read(uid: u32, name: &str) -> Option<String> {
    if !valid_name(name) {
        return None;
    }
    dirs_of(uid)
        .iter()
        .find_map(|dir| read_in(dir, uid, name).ok())
}

fn read_in(dir: &Path, uid: u32, name: &str) -> io::Result<String> {
    let dir_fd = open_dir(dir, uid)?;
    let fd = rustix::fs::openat(
        &dir_fd,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
        || st.st_uid != uid
        || st.st_mode & 0o022 != 0
    {
        return Err(io::Error::other("not a record uid owns alone"));
    }
    let mut text = String::new();
    File::from(fd).take(MOST).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_leaktop_makes() {
        assert!(valid_name("run-42.1000"));
        for bad in [
            "run-42",
            "run-.1",
            "42.1000",
            "run-4/2.1",
            "run-../1.1",
            "run-1.1 ",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_directory_others_may_write_vouches_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let me = rustix::process::geteuid().as_raw();
        let records = dir.path().join("leaktop");
        std::fs::create_dir(&records).unwrap();
        std::fs::write(records.join("run-1.2"), "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        for mode in [0o700, 0o755] {
            std::fs::set_permissions(&records, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_in(&records, me, "run-1.2").unwrap(), "x");
        }
        std::fs::set_permissions(&records, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(read_in(&records, me, "run-1.2").is_err());
        std::fs::set_permissions(&records, std::fs::Permissions::from_mode(0o700)).unwrap();
        // The file writable by others, or a symlink to one that passes.
        let file = records.join("run-1.2");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(read_in(&records, me, "run-1.2").is_err());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&file, records.join("run-1.3")).unwrap();
        assert!(read_in(&records, me, "run-1.3").is_err());
        // Another user's directory.
        assert!(read_in(&records, me + 1, "run-1.2").is_err());
        // A symlinked directory.
        std::os::unix::fs::symlink(&records, dir.path().join("link")).unwrap();
        assert!(read_in(&dir.path().join("link"), me, "run-1.2").is_err());
    }
}
