//! The Sonobuoy done-file contract, both ends: wait for the plugin's done file, find the
//! results it names, and hand them on to the worker with a done file of our own.
//!
//! Nothing here knows about S3. The decisions (is this done file ready? where does the
//! path really point? what may we hand off under which name?) are plain functions; the
//! functions that touch the disk are thin and marked as such.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::log;

pub const DONE: &str = "done";
/// What a packed directory is called, as the worker calls it.
pub const PACKED_NAME: &str = "results.tar.gz";
/// A done file holds one path; anything longer is not a done file.
const MAX_DONE_BYTES: u64 = 4096;

#[derive(Debug)]
pub enum DoneError {
    /// The done file is a directory, FIFO, symlink...
    NotRegular {
        path: PathBuf,
        kind: &'static str,
    },
    TooLarge {
        path: PathBuf,
        len: u64,
    },
    SeveralPaths {
        count: usize,
    },
    NulByte,
    Outside {
        named: String,
        resolved: PathBuf,
        root: PathBuf,
    },
    UnsupportedResults {
        path: PathBuf,
        kind: &'static str,
    },
    /// `pending` says what was still missing: the done file, its content, or the results.
    TimedOut {
        waited: Duration,
        pending: String,
    },
    WriteDir {
        path: PathBuf,
        problem: String,
    },
    /// The named path cannot be resolved (too long, a loop, not a directory...).
    Unresolvable {
        named: String,
        source: io::Error,
    },
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for DoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DoneError::NotRegular { path, kind } => write!(
                f,
                "{} is a {kind}, not a regular file: a done file holds the path of the results",
                path.display()
            ),
            DoneError::TooLarge { path, len } => write!(
                f,
                "{} is {len} bytes; a done file holds one path (at most {MAX_DONE_BYTES} bytes)",
                path.display()
            ),
            DoneError::SeveralPaths { count } => write!(
                f,
                "the done file names {count} paths on separate lines; toss reads one path, as the \
                 Sonobuoy worker does: write a directory's path to ship several files"
            ),
            DoneError::NulByte => {
                f.write_str("the done file holds a NUL byte; it must hold a path")
            }
            DoneError::Outside {
                named,
                resolved,
                root,
            } => write!(
                f,
                "refused: the done file names {named}, which resolves to {} outside {} \
                 (READ_RESULTS_DIR); mount the results volume at the same path in the plugin \
                 and in toss, and write results inside it",
                show(resolved.as_os_str().as_bytes()),
                root.display()
            ),
            DoneError::UnsupportedResults { path, kind } => write!(
                f,
                "the done file names {}, a {kind}; toss ships a regular file or a directory",
                show(path.as_os_str().as_bytes())
            ),
            DoneError::TimedOut { waited, pending } => write!(
                f,
                "after {}s (DONE_TIMEOUT), {pending}; check that the plugin writes its results \
                 and then <READ_RESULTS_DIR>/done naming them",
                waited.as_secs()
            ),
            DoneError::Unresolvable { named, source } => {
                write!(
                    f,
                    "the done file names {named}, which cannot be resolved: {source}"
                )
            }
            DoneError::WriteDir { path, problem } => write!(
                f,
                "WRITE_RESULTS_DIR {} {problem}; it must be the worker's results volume, \
                 writable by toss",
                path.display()
            ),
            DoneError::Io {
                action,
                path,
                source,
            } => {
                write!(f, "cannot {action} {}: {source}", path.display())
            }
        }
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DoneError + 'a {
    move |source| DoneError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What the plugin's done file names, once resolved and confined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Results {
    File(PathBuf),
    Dir(PathBuf),
}

// ---------------------------------------------------------------- pure core

/// One look at the done file; two equal looks in a row mean the writer has finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub content: Vec<u8>,
    pub len: u64,
    pub modified: Option<SystemTime>,
}

/// Writers in the wild write the done file non-atomically, so a reader that acts on the
/// first non-empty read may act on half a path. Act only on content that has not changed
/// between two looks one poll interval apart.
pub fn settled(previous: Option<&Observation>, now: &Observation) -> bool {
    previous == Some(now) && !trim(&now.content).is_empty()
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Read the done file as the worker does: one path, whitespace around it trimmed.
/// Returns `Ok(None)` for an empty (or whitespace-only) file: not written yet.
pub fn parse(content: &[u8]) -> Result<Option<PathBuf>, DoneError> {
    let text = trim(content);
    if text.is_empty() {
        return Ok(None);
    }
    if text.contains(&0) {
        return Err(DoneError::NulByte);
    }
    let lines = text
        .split(|b| *b == b'\n')
        .filter(|l| !trim(l).is_empty())
        .count();
    if lines > 1 {
        return Err(DoneError::SeveralPaths { count: lines });
    }
    // A lone CR (CRLF written by a Windows-minded tool) is trimmed above; one inside is part
    // of the name, as it would be for the worker.
    Ok(Some(PathBuf::from(OsStr::from_bytes(text))))
}

/// A relative path resolves against the read dir (the worker would use its own working
/// directory, which is meaningless in another container).
pub fn anchor(read_dir: &Path, named: &Path) -> PathBuf {
    if named.is_absolute() {
        named.to_path_buf()
    } else {
        read_dir.join(named)
    }
}

/// `resolved` and `root` are canonical (symlinks followed): the results must lie inside.
pub fn confine(root: &Path, resolved: &Path, named: &Path) -> Result<(), DoneError> {
    if resolved.starts_with(root) {
        Ok(())
    } else {
        Err(DoneError::Outside {
            named: show(named.as_os_str().as_bytes()),
            resolved: resolved.to_path_buf(),
            root: root.to_path_buf(),
        })
    }
}

/// The name results take in the write dir: their own, unless it would clash with the
/// done file or hide as a dotfile.
pub fn handoff_name(basename: &OsStr) -> PathBuf {
    let b = basename.as_bytes();
    if b == DONE.as_bytes() || b.starts_with(b".") || b.is_empty() {
        let mut name = b"results-".to_vec();
        name.extend_from_slice(b.trim_ascii_start().strip_prefix(b".").unwrap_or(b));
        PathBuf::from(OsStr::from_bytes(&name))
    } else {
        PathBuf::from(basename)
    }
}

/// A path from a done file, fit for a log line: lossy UTF-8, control characters escaped,
/// at most 200 characters (a done file may hold garbage).
pub fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .take(200)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > 200 {
        out.push_str("...");
    }
    format!("\"{out}\"")
}

// ---------------------------------------------------------------- thin shell: waiting

/// Wait until `<read_dir>/done` has settled and names results that exist inside
/// `read_dir`. `should_stop` is polled so a signal can end the wait.
pub fn wait(
    read_dir: &Path,
    poll: Duration,
    timeout: Option<Duration>,
    should_stop: &dyn Fn() -> bool,
) -> Result<Option<Results>, DoneError> {
    let done = read_dir.join(DONE);
    let started = Instant::now();
    let mut previous: Option<Observation> = None;
    let mut said = Said::default();
    let mut pending = format!("there is no done file at {}", done.display());
    loop {
        if should_stop() {
            return Ok(None);
        }
        match observe(&done)? {
            None => once(&mut said.waiting, || {
                format!("waiting for {}", done.display())
            }),
            Some(now) => {
                if settled(previous.as_ref(), &now) {
                    if let Some(results) = locate(read_dir, &now.content, &mut said)? {
                        return Ok(Some(results));
                    }
                    pending = format!(
                        "the done file names {}, which does not exist",
                        show(trim(&now.content))
                    );
                } else if trim(&now.content).is_empty() {
                    pending = format!("{} is still empty", done.display());
                    once(&mut said.empty, || {
                        format!(
                            "{} is empty so far; waiting for it to name the results",
                            done.display()
                        )
                    });
                }
                previous = Some(now);
            }
        }
        if let Some(limit) = timeout {
            if started.elapsed() >= limit {
                return Err(DoneError::TimedOut {
                    waited: started.elapsed(),
                    pending,
                });
            }
        }
        // A signal must not wait out a long POLL_INTERVAL.
        crate::signal::sleep(poll);
    }
}

/// Log each kind of "not yet" once, not once per poll.
#[derive(Default)]
struct Said {
    waiting: bool,
    empty: bool,
    missing: bool,
}

fn once(flag: &mut bool, msg: impl FnOnce() -> String) {
    if !*flag {
        *flag = true;
        log::info(msg());
    }
}

/// Look at the done file without following a symlink or blocking on a FIFO.
fn observe(done: &Path) -> Result<Option<Observation>, DoneError> {
    let meta = match fs::symlink_metadata(done) {
        Ok(m) => m,
        // A missing read dir may still be mounted or created: keep waiting.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(io_err("look at", done)(e)),
    };
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(DoneError::NotRegular {
            path: done.to_path_buf(),
            kind: kind_of(&ft),
        });
    }
    if meta.len() > MAX_DONE_BYTES {
        return Err(DoneError::TooLarge {
            path: done.to_path_buf(),
            len: meta.len(),
        });
    }
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(done)
    {
        Ok(f) => f,
        // Replaced between the two calls: look again next time.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", done)(e)),
    };
    let mut content = Vec::new();
    (&mut file)
        .take(MAX_DONE_BYTES + 1)
        .read_to_end(&mut content)
        .map_err(io_err("read", done))?;
    if content.len() as u64 > MAX_DONE_BYTES {
        return Err(DoneError::TooLarge {
            path: done.to_path_buf(),
            len: content.len() as u64,
        });
    }
    Ok(Some(Observation {
        len: meta.len(),
        modified: meta.modified().ok(),
        content,
    }))
}

/// Resolve what a settled done file names. `Ok(None)` while the results do not exist yet.
fn locate(read_dir: &Path, content: &[u8], said: &mut Said) -> Result<Option<Results>, DoneError> {
    let Some(named) = parse(content)? else {
        return Ok(None);
    };
    let root = fs::canonicalize(read_dir).map_err(io_err("resolve", read_dir))?;
    let anchored = anchor(&root, &named);
    let resolved = match fs::canonicalize(&anchored) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Say nothing about paths outside the root, not even that they are missing.
            confine(&root, &lexical(&anchored), &named)?;
            once(&mut said.missing, || {
                format!(
                    "the done file names {}, which does not exist yet; waiting",
                    show(named.as_os_str().as_bytes())
                )
            });
            return Ok(None);
        }
        Err(source) => {
            return Err(DoneError::Unresolvable {
                named: show(named.as_os_str().as_bytes()),
                source,
            })
        }
    };
    confine(&root, &resolved, &named)?;
    let meta = fs::metadata(&resolved).map_err(io_err("look at", &resolved))?;
    let ft = meta.file_type();
    if ft.is_file() {
        Ok(Some(Results::File(resolved)))
    } else if ft.is_dir() {
        Ok(Some(Results::Dir(resolved)))
    } else {
        Err(DoneError::UnsupportedResults {
            path: resolved,
            kind: kind_of(&ft),
        })
    }
}

/// `a/b/../c` -> `a/c`, without touching the disk (for paths that do not exist).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn kind_of(ft: &fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symbolic link"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "device"
    } else {
        "regular file"
    }
}

// ---------------------------------------------------------------- thin shell: publishing

/// Write `name` in `dir` so that readers see all of it or nothing: write a temporary file,
/// fsync it, rename it into place, fsync the directory.
pub fn publish(
    dir: &Path,
    name: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<PathBuf, DoneError> {
    let target = dir.join(name);
    let mut tmp_name = OsStr::new(".toss-").to_os_string();
    tmp_name.push(name.as_os_str());
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        write(&mut file).map_err(io_err("write", &tmp))?;
        file.sync_all().map_err(io_err("fsync", &tmp))?;
        fs::rename(&tmp, &target).map_err(io_err("rename into place", &target))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| target)
}

fn sync_dir(dir: &Path) -> Result<(), DoneError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}

/// Pack a results directory into `<write_dir>/results.tar.gz` as the worker would: gzip,
/// regular files only, paths relative to the directory. `skip` is left out (the plugin's
/// own done file, when the done file names the read dir itself).
pub fn pack(dir: &Path, write_dir: &Path, skip: &Path) -> Result<PathBuf, DoneError> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.retain(|f| f != skip);
    files.sort_unstable();
    publish(write_dir, Path::new(PACKED_NAME), |out| {
        let gz =
            flate2::write::GzEncoder::new(io::BufWriter::new(out), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for path in &files {
            let rel = path.strip_prefix(dir).unwrap_or(path);
            // Opened without following a link: a file swapped for a symlink since the walk
            // is refused rather than followed out of the results.
            let mut f = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)?;
            tar.append_file(rel, &mut f)?;
        }
        tar.into_inner()?
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .flush()
    })
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DoneError> {
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let ft = entry
            .file_type()
            .map_err(io_err("look at", &entry.path()))?;
        if ft.is_dir() {
            collect_files(&entry.path(), out)?;
        } else if ft.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// The write dir must exist and be a directory before anything is built or linked there.
pub fn check_write_dir(write_dir: &Path) -> Result<(), DoneError> {
    let problem = match fs::metadata(write_dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "is a file, not a directory".to_string(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => "does not exist".to_string(),
        Err(e) => format!("cannot be used: {e}"),
    };
    Err(DoneError::WriteDir {
        path: write_dir.to_path_buf(),
        problem,
    })
}

/// Put `results` into `write_dir` (a hard link where the filesystem allows, else a copy),
/// then publish `<write_dir>/done` naming it. Returns the handed-off path.
pub fn hand_off(results: &Path, write_dir: &Path) -> Result<PathBuf, DoneError> {
    check_write_dir(write_dir)?;
    let write_dir = fs::canonicalize(write_dir).map_err(io_err("resolve", write_dir))?;
    // Compared canonically: a relative or symlinked WRITE_RESULTS_DIR must not make toss
    // link the packed results onto themselves.
    let parent = results.parent().and_then(|p| fs::canonicalize(p).ok());
    let in_place = parent.as_deref() == Some(write_dir.as_path());
    let target = if in_place {
        results.to_path_buf()
    } else {
        let name = handoff_name(results.file_name().unwrap_or_default());
        link_or_copy(results, &write_dir, &name)?
    };
    let mut content = target.as_os_str().as_bytes().to_vec();
    content.push(b'\n');
    publish(&write_dir, Path::new(DONE), |f| f.write_all(&content))?;
    Ok(target)
}

fn link_or_copy(src: &Path, dir: &Path, name: &Path) -> Result<PathBuf, DoneError> {
    let target = dir.join(name);
    let mut tmp_name = OsStr::new(".toss-link-").to_os_string();
    tmp_name.push(format!("{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let _ = fs::remove_file(&tmp);
    // A hard link shares the inode: no bytes to copy or fsync, only the directory entry.
    if fs::hard_link(src, &tmp).is_ok() {
        let renamed = fs::rename(&tmp, &target).is_ok();
        // Renaming onto the same file succeeds and leaves the temporary name behind.
        let _ = fs::remove_file(&tmp);
        if renamed {
            sync_dir(dir)?;
            return Ok(target);
        }
    }
    let mut from = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)
        .map_err(io_err("open the results", src))?;
    publish(dir, name, |to| io::copy(&mut from, to).map(drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(content: &[u8]) -> Observation {
        Observation {
            content: content.to_vec(),
            len: content.len() as u64,
            modified: None,
        }
    }

    #[test]
    fn a_done_file_is_ready_only_when_it_stopped_changing() {
        let half = obs(b"/tmp/results/e2e.tar");
        let full = obs(b"/tmp/results/e2e.tar.gz");
        assert!(!settled(None, &full), "first look");
        assert!(!settled(Some(&half), &full), "still being written");
        assert!(settled(Some(&full), &full));
        assert!(!settled(Some(&obs(b"")), &obs(b"")), "empty is not ready");
        assert!(
            !settled(Some(&obs(b" \n")), &obs(b" \n")),
            "whitespace is not ready"
        );
        let touched = Observation {
            modified: Some(SystemTime::UNIX_EPOCH),
            ..full.clone()
        };
        assert!(
            !settled(Some(&full), &touched),
            "rewritten with the same bytes"
        );
    }

    #[test]
    fn content_is_one_trimmed_path() {
        assert_eq!(
            parse(b"  /r/e2e.tar.gz\n").unwrap(),
            Some(PathBuf::from("/r/e2e.tar.gz"))
        );
        assert_eq!(
            parse(b"/r/x.tar.gz\r\n").unwrap(),
            Some(PathBuf::from("/r/x.tar.gz"))
        );
        assert_eq!(parse(b"").unwrap(), None);
        assert_eq!(parse(b" \t\r\n ").unwrap(), None);
        assert_eq!(
            parse(b"with space.tgz").unwrap(),
            Some(PathBuf::from("with space.tgz"))
        );
        assert!(matches!(
            parse(b"/a\n\n/b\n"),
            Err(DoneError::SeveralPaths { count: 2 })
        ));
        assert!(matches!(parse(b"/a\0b"), Err(DoneError::NulByte)));
        // Not UTF-8 is a valid Linux path.
        assert_eq!(
            parse(b"/r/\xff.tgz")
                .unwrap()
                .unwrap()
                .as_os_str()
                .as_bytes(),
            b"/r/\xff.tgz"
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_read_dir() {
        assert_eq!(
            anchor(Path::new("/in"), Path::new("e2e.tgz")),
            PathBuf::from("/in/e2e.tgz")
        );
        assert_eq!(
            anchor(Path::new("/in"), Path::new("/in/x")),
            PathBuf::from("/in/x")
        );
    }

    #[test]
    fn confinement_refuses_anything_outside_the_root() {
        let root = Path::new("/in");
        assert!(confine(root, Path::new("/in/a/b.tgz"), Path::new("a/b.tgz")).is_ok());
        assert!(confine(root, Path::new("/in"), Path::new(".")).is_ok());
        let err = confine(root, Path::new("/etc/passwd"), Path::new("../etc/passwd")).unwrap_err();
        assert!(err.to_string().contains("outside /in"), "{err}");
        // A sibling whose name starts with the root's name is still outside.
        assert!(confine(root, Path::new("/inside/x"), Path::new("/inside/x")).is_err());
        assert_eq!(
            lexical(Path::new("/in/a/../../etc/x")),
            PathBuf::from("/etc/x")
        );
    }

    #[test]
    fn handed_off_names_never_clash_with_the_done_file() {
        assert_eq!(
            handoff_name(OsStr::new("e2e.tar.gz")),
            PathBuf::from("e2e.tar.gz")
        );
        assert_eq!(
            handoff_name(OsStr::new("done")),
            PathBuf::from("results-done")
        );
        assert_eq!(
            handoff_name(OsStr::new(".hidden")),
            PathBuf::from("results-hidden")
        );
    }

    /// Found by the `donefile` fuzz target: a refusal printed the resolved path raw.
    #[test]
    fn refusals_escape_what_the_done_file_named() {
        let root = Path::new("/tmp/sonobuoy/results");
        for content in [
            &b"/r/\xff\x1b[2J.tgz\n"[..],
            b"../\x0b",
            b"/elsewhere/e2e.tar.gz\rINFO  upload complete\n",
        ] {
            let named = parse(content).unwrap().unwrap();
            let resolved = lexical(&anchor(root, &named));
            let msg = confine(root, &resolved, &named).unwrap_err().to_string();
            assert!(!msg.chars().any(char::is_control), "{msg:?}");
        }
    }

    #[test]
    fn shown_paths_are_escaped_and_bounded() {
        assert_eq!(show(b"a\nb"), "\"a\\nb\"");
        assert!(show(&[b'x'; 1000]).ends_with("...\""));
        assert_eq!(show(b"\xff"), "\"\u{fffd}\"");
    }
}
