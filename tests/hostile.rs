//! Hostile or broken done files, end to end: the toss binary as a process, a real
//! signature-checking S3 server, real directories for the pod's volumes.
//!
//! Whatever a plugin (or whoever can write its volume) puts in `READ_RESULTS_DIR/done`,
//! toss must never panic, never hang, never ship anything from outside READ_RESULTS_DIR,
//! and must say in its log what was wrong.

mod support;

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{bytes, text, Pod, TestStore};

const BIN: &str = env!("CARGO_BIN_EXE_toss");
const SECRET: &str = "TOSS-HOSTILE-SECRET-9f8e7d6c5b4a";

fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
}

/// The pod's environment with a short DONE_TIMEOUT, for cases that must stay "not ready".
fn env_timeout(pod: &Pod, store: &TestStore, timeout: &str) -> Vec<(String, String)> {
    let mut env = pod.env(store);
    set(&mut env, "DONE_TIMEOUT", timeout);
    env
}

fn spawn(env: &[(String, String)]) -> Child {
    Command::new(BIN)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run toss")
}

/// Run the sidecar; fail the test if it has not exited within `limit`.
fn run(env: &[(String, String)], limit: Duration) -> Output {
    support::finish(spawn(env), limit)
}

/// What every run must satisfy, whatever the done file held: no panic, no crash by signal,
/// no internal-error status, no sign that a secret file was read. Returns the log.
fn sane(out: &Output) -> String {
    let log = text(out);
    assert!(!log.contains("panicked"), "toss panicked:\n{log}");
    assert!(
        !matches!(out.status.code(), None | Some(1) | Some(101)),
        "status {:?}:\n{log}",
        out.status
    );
    assert!(!log.contains(SECRET), "a secret reached the log:\n{log}");
    log
}

/// Refused: status 5, nothing in the bucket, nothing at all in the worker's volume.
fn assert_refused(out: &Output, store: &TestStore, pod: &Pod) -> String {
    let log = sane(out);
    assert_eq!(out.status.code(), Some(5), "{log}");
    assert!(store.keys().is_empty(), "something was uploaded:\n{log}");
    assert_eq!(
        entries(&pod.write),
        Vec::<String>::new(),
        "something reached the worker:\n{log}"
    );
    log
}

/// Not ready until DONE_TIMEOUT: status 3, nothing uploaded, nothing handed off.
fn assert_not_ready(out: &Output, store: &TestStore, pod: &Pod) -> String {
    let log = sane(out);
    assert_eq!(out.status.code(), Some(3), "{log}");
    assert!(store.keys().is_empty(), "something was uploaded:\n{log}");
    assert_eq!(
        entries(&pod.write),
        Vec::<String>::new(),
        "something reached the worker:\n{log}"
    );
    log
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What the worker would read, byte-exact (the path in `<write>/done` may not be UTF-8).
fn handed_off_bytes(pod: &Pod) -> Option<(PathBuf, Vec<u8>)> {
    let done = fs::read(pod.write.join("done")).ok()?;
    let path = PathBuf::from(OsStr::from_bytes(done.trim_ascii()));
    let data = fs::read(&path).ok()?;
    Some((path, data))
}

/// The ERROR lines of a log.
fn errors(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("ERROR")).collect()
}

/// A secret file outside READ_RESULTS_DIR, as a sidecar's own credentials would be.
fn plant_secret(pod: &Pod) -> PathBuf {
    let creds = pod.dir.path().join("creds");
    fs::write(
        &creds,
        format!("[default]\naws_access_key_id = AKIDHOSTILE\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    creds
}

// ---------------------------------------------------------------- not ready yet

#[test]
fn an_empty_done_file_is_not_ready() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("r.tar.gz"), b"results").unwrap();
    fs::write(pod.read.join("done"), b"").unwrap();
    let out = run(&env_timeout(&pod, &store, "1s"), Duration::from_secs(15));
    let log = assert_not_ready(&out, &store, &pod);
    assert!(log.contains("is empty so far"), "{log}");
}

#[test]
fn a_whitespace_only_done_file_is_not_ready() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("r.tar.gz"), b"results").unwrap();
    fs::write(pod.read.join("done"), b" \t\r\n  \n\t").unwrap();
    let out = run(&env_timeout(&pod, &store, "1s"), Duration::from_secs(15));
    let log = assert_not_ready(&out, &store, &pod);
    assert!(log.contains("is empty so far"), "{log}");
}

/// `touch done; echo /results > done`: the empty file seen first is not acted on, the
/// path written later is.
#[test]
fn an_empty_done_file_filled_in_later_is_acted_on() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = bytes(20_000, 31);
    fs::write(pod.read.join("r.tar.gz"), &results).unwrap();
    fs::write(pod.read.join("done"), b"").unwrap();

    let mut child = spawn(&pod.env(&store));
    // Read the log until toss says it saw the empty file, then fill it in.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).split(b'\n') {
            let line = String::from_utf8_lossy(&line.unwrap()).into_owned();
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("toss never said the done file is empty");
        if line.contains("is empty so far") {
            break;
        }
    }
    fs::write(pod.read.join("done"), "r.tar.gz\n").unwrap();
    let out = support::finish(child, Duration::from_secs(60));
    let log = reader.join().unwrap();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(
        store.get(&store.key_for("r.tar.gz")).as_deref(),
        Some(&results[..])
    );
    assert_eq!(pod.handed_off().unwrap().1, results);
}

#[test]
fn a_crlf_line_end_is_trimmed() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = bytes(10_000, 32);
    let path = pod.read.join("e2e.tar.gz");
    fs::write(&path, &results).unwrap();
    fs::write(pod.read.join("done"), format!("{}\r\n", path.display())).unwrap();
    let out = run(&pod.env(&store), Duration::from_secs(60));
    let log = sane(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(
        store.get(&store.key_for("e2e.tar.gz")).as_deref(),
        Some(&results[..])
    );
    assert_eq!(store.keys().len(), 1, "{:?}", store.keys());
    assert_eq!(pod.handed_off().unwrap().1, results);
}

#[test]
fn a_done_file_naming_results_that_never_appear_times_out_with_3() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("done"), "never.tar.gz\n").unwrap();
    let out = run(&env_timeout(&pod, &store, "1s"), Duration::from_secs(15));
    let log = assert_not_ready(&out, &store, &pod);
    assert!(
        log.contains("\"never.tar.gz\", which does not exist yet"),
        "{log}"
    );
    assert!(log.contains("DONE_TIMEOUT"), "{log}");
}

/// When the wait ends, the error that ends it should name what was missing: here the done
/// file was there all along; the results it named never came.
#[test]
fn the_timeout_error_names_the_missing_results_not_a_missing_done_file() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("done"), "never.tar.gz\n").unwrap();
    let out = run(&env_timeout(&pod, &store, "1s"), Duration::from_secs(15));
    let log = assert_not_ready(&out, &store, &pod);
    let errors = errors(&log);
    assert_eq!(errors.len(), 1, "{log}");
    assert!(
        !errors[0].contains("no done file"),
        "the done file exists; the error says it does not: {}",
        errors[0]
    );
    assert!(errors[0].contains("never.tar.gz"), "{}", errors[0]);
}

// ---------------------------------------------------------------- nothing from outside

/// The done file names the sidecar's own credentials file by absolute path, through a
/// directory symlink inside READ_RESULTS_DIR, and through /proc/self/root.
#[test]
fn a_credentials_file_outside_the_read_dir_is_refused() {
    let store = TestStore::start();
    for case in ["absolute", "directory symlink", "/proc/self/root"] {
        let pod = Pod::new();
        let creds = plant_secret(&pod);
        symlink(pod.dir.path(), pod.read.join("up")).unwrap();
        let named = match case {
            "absolute" => creds.display().to_string(),
            "directory symlink" => "up/creds".to_string(),
            _ => format!("/proc/self/root{}", creds.display()),
        };
        fs::write(pod.read.join("done"), format!("{named}\n")).unwrap();
        let out = run(&pod.env(&store), Duration::from_secs(30));
        let log = assert_refused(&out, &store, &pod);
        assert!(
            log.contains("refused") && log.contains("outside"),
            "{case}: {log}"
        );
        assert!(log.contains("READ_RESULTS_DIR"), "{case}: {log}");
    }
}

/// A results directory holding links out of READ_RESULTS_DIR (to a file and to a
/// directory) ships, but without anything the links point at.
#[test]
fn links_out_of_a_results_directory_are_left_out_of_the_archive() {
    let store = TestStore::start();
    let pod = Pod::new();
    let creds = plant_secret(&pod);
    let dir = pod.read.join("out");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("summary.json"), b"{}").unwrap();
    symlink(&creds, dir.join("creds-link")).unwrap();
    symlink(pod.dir.path(), dir.join("up-link")).unwrap();
    fs::write(pod.read.join("done"), "out").unwrap();
    let out = run(&pod.env(&store), Duration::from_secs(60));
    let log = sane(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let object = store
        .get(&store.key_for("results.tar.gz"))
        .expect("the packed results in the bucket");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&object[..]));
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        names.push(entry.path().unwrap().display().to_string());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        assert!(
            !String::from_utf8_lossy(&data).contains(SECRET),
            "{names:?}"
        );
    }
    assert_eq!(names, ["summary.json"]);
    assert_eq!(pod.handed_off().unwrap().1, object);
}

#[test]
fn a_symlinked_done_file_is_refused() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("r.tar.gz"), b"results").unwrap();
    fs::write(pod.read.join("real-done"), "r.tar.gz\n").unwrap();
    symlink(pod.read.join("real-done"), pod.read.join("done")).unwrap();
    let out = run(&pod.env(&store), Duration::from_secs(10));
    let log = assert_refused(&out, &store, &pod);
    assert!(log.contains("symbolic link"), "{log}");
}

#[test]
fn a_done_file_naming_a_device_is_refused() {
    let store = TestStore::start();
    for named in ["null", "/dev/null", "/dev/zero"] {
        let pod = Pod::new();
        symlink("/dev/null", pod.read.join("null")).unwrap();
        fs::write(pod.read.join("done"), named).unwrap();
        let out = run(&pod.env(&store), Duration::from_secs(10));
        let log = assert_refused(&out, &store, &pod);
        assert!(
            log.contains("refused") && log.contains("outside"),
            "{named}: {log}"
        );
    }
}

/// A FIFO (reading one would block for ever), a socket and a device inside
/// READ_RESULTS_DIR are neither a file nor a directory.
#[test]
fn a_done_file_naming_a_fifo_socket_or_device_inside_is_refused_promptly() {
    let store = TestStore::start();
    for kind in ["FIFO", "socket", "device"] {
        let pod = Pod::new();
        let path = pod.read.join("special");
        match kind {
            "FIFO" => mkfifo(&path),
            "socket" => {
                // Bound, not listening: a socket file that nothing answers on.
                std::os::unix::net::UnixListener::bind(&path).unwrap();
            }
            _ => {
                let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
                // SAFETY: mknod(2) with a valid C string; /dev/null's numbers (1, 3).
                let made =
                    unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
                if made != 0 {
                    eprintln!(
                        "skipping the device case: mknod: {}",
                        std::io::Error::last_os_error()
                    );
                    continue;
                }
            }
        }
        fs::write(pod.read.join("done"), "special\n").unwrap();
        let out = run(&pod.env(&store), Duration::from_secs(10));
        let log = assert_refused(&out, &store, &pod);
        assert!(
            log.contains(&format!(
                "a {kind}; toss ships a regular file or a directory"
            )),
            "{kind}: {log}"
        );
    }
}

// ---------------------------------------------------------------- not a done file

#[test]
fn a_done_file_that_is_a_directory_is_refused() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::create_dir(pod.read.join("done")).unwrap();
    fs::write(pod.read.join("done/r.tar.gz"), b"results").unwrap();
    let out = run(&pod.env(&store), Duration::from_secs(10));
    let log = assert_refused(&out, &store, &pod);
    assert!(log.contains("is a directory, not a regular file"), "{log}");
}

#[test]
fn a_done_file_that_is_a_fifo_is_refused_without_hanging() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("r.tar.gz"), b"results").unwrap();
    mkfifo(&pod.read.join("done"));
    let out = run(&pod.env(&store), Duration::from_secs(10));
    let log = assert_refused(&out, &store, &pod);
    assert!(log.contains("is a FIFO, not a regular file"), "{log}");
}

#[test]
fn several_paths_are_refused() {
    let store = TestStore::start();
    let pod = Pod::new();
    let (a, b) = (pod.read.join("a"), pod.read.join("b"));
    fs::write(&a, b"a").unwrap();
    fs::write(&b, b"b").unwrap();
    fs::write(
        pod.read.join("done"),
        format!("{}\n{}\n", a.display(), b.display()),
    )
    .unwrap();
    let out = run(&pod.env(&store), Duration::from_secs(10));
    let log = assert_refused(&out, &store, &pod);
    assert!(log.contains("2 paths"), "{log}");
    assert!(log.contains("toss reads one path"), "{log}");
}

#[test]
fn a_nul_byte_is_refused() {
    let store = TestStore::start();
    for content in [&b"r.tar.gz\0junk"[..], b"r.tar.gz\0", b"\0r.tar.gz\n"] {
        let pod = Pod::new();
        fs::write(pod.read.join("r.tar.gz"), b"results").unwrap();
        fs::write(pod.read.join("done"), content).unwrap();
        let out = run(&pod.env(&store), Duration::from_secs(10));
        let log = assert_refused(&out, &store, &pod);
        assert!(log.contains("NUL byte"), "{content:?}: {log}");
    }
}

#[test]
fn megabytes_of_garbage_get_a_short_clear_error() {
    let store = TestStore::start();
    let pod = Pod::new();
    let garbage = bytes(3 * 1024 * 1024, 33);
    fs::write(pod.read.join("done"), &garbage).unwrap();
    let out = run(&pod.env(&store), Duration::from_secs(10));
    let log = assert_refused(&out, &store, &pod);
    assert!(
        log.contains(&format!("is {} bytes", garbage.len())) && log.contains("one path"),
        "{log}"
    );
    assert!(
        out.stdout.len() + out.stderr.len() < 10_000,
        "{} bytes of output",
        out.stdout.len() + out.stderr.len()
    );
}

/// Under the size limit, garbage reaches the path code: control characters (a terminal
/// escape, a carriage return that would forge a log line) must not reach the log raw, and
/// the output stays short.
#[test]
fn garbage_under_the_size_limit_is_escaped_in_the_log() {
    let store = TestStore::start();
    let pod = Pod::new();
    let mut content = b"\x1b]0;owned\x07\x1b[2J".to_vec();
    // One path component longer than NAME_MAX (255): resolving it fails at once.
    content.extend_from_slice(&[b'A'; 300]);
    content.extend_from_slice(b"\r2026-01-01T00:00:00.000Z INFO  uploaded everything\xff\xfe");
    content.extend((0..3000).map(|i| [b'\x1b', b'\r', b'\x07', 0xff][i % 4]));
    assert!(content.len() < 4096);
    fs::write(pod.read.join("done"), &content).unwrap();
    let out = run(&env_timeout(&pod, &store, "1s"), Duration::from_secs(15));
    let log = sane(&out);
    assert!(
        matches!(out.status.code(), Some(3) | Some(5)),
        "status {:?}: {log}",
        out.status
    );
    assert!(store.keys().is_empty());
    assert!(!pod.write.join("done").exists());
    let all = [&out.stdout[..], &out.stderr[..]].concat();
    assert!(all.len() < 10_000, "{} bytes of output", all.len());
    for c in [b'\x1b', b'\r', b'\x07'] {
        if let Some(at) = all.iter().position(|b| *b == c) {
            let line_start = all[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let shown: String = String::from_utf8_lossy(&all[line_start..])
                .chars()
                .take(300)
                .collect();
            panic!(
                "a raw control byte {c:#04x} from the done file reached the log ({} bytes of output), in:\n{}...",
                all.len(),
                shown.escape_debug()
            );
        }
    }
}

// ---------------------------------------------------------------- not UTF-8

#[test]
fn a_non_utf8_path_naming_an_existing_file_is_uploaded() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = bytes(30_000, 34);
    let mut name = b"res-".to_vec();
    name.extend_from_slice(b"\xff\xfe");
    name.extend_from_slice(b".tar.gz");
    let path = pod.read.join(OsStr::from_bytes(&name));
    fs::write(&path, &results).unwrap();
    let mut content = path.as_os_str().as_bytes().to_vec();
    content.push(b'\n');
    fs::write(pod.read.join("done"), &content).unwrap();
    let out = run(&pod.env(&store), Duration::from_secs(60));
    let log = sane(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let keys = store.keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].ends_with(".tar.gz"), "{keys:?}");
    assert_eq!(store.get(&keys[0]).as_deref(), Some(&results[..]));
    let (handed, data) = handed_off_bytes(&pod).expect("a done file for the worker");
    assert!(
        handed.starts_with(pod.write.canonicalize().unwrap()),
        "{handed:?}"
    );
    assert!(data == results, "handed-off bytes differ");
}

#[test]
fn a_non_utf8_path_naming_nothing_times_out_cleanly() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("done"), b"nothing-\xff\xfe\x80.tar.gz\n").unwrap();
    let out = run(&env_timeout(&pod, &store, "1s"), Duration::from_secs(15));
    let log = assert_not_ready(&out, &store, &pod);
    assert!(log.contains("does not exist yet"), "{log}");
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo(2) with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}
