//! Faults toss must survive, end to end: the toss binary as a process, a real
//! signature-checking S3 server (with a fault-injecting relay in between where the network
//! or the store must misbehave), real directories for the pod's volumes, real signals.

mod support;

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::relay::{Fault, Relay};
use support::{bytes, Pod, TestStore};

const BIN: &str = env!("CARGO_BIN_EXE_toss");
const MIB: usize = 1024 * 1024;

fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
}

/// A toss process whose log is read line by line as it runs, so a test can act at a
/// given step ("after it logged X, delete the file / send SIGTERM").
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<String>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Running {
    fn start(env: &[(String, String)]) -> Running {
        Running::start_with(env, |_| {})
    }

    fn start_with(env: &[(String, String)], configure: impl FnOnce(&mut Command)) -> Running {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        configure(&mut cmd);
        let mut child = cmd.spawn().expect("run toss");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        let all = log.clone();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stderr).split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line).into_owned();
                {
                    let mut all = all.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            log,
            reader: Some(reader),
        }
    }

    /// Wait for a log line containing `needle` and return it.
    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "toss did not log {needle:?} within {limit:?}:\n{}",
                    self.log.lock().unwrap()
                ),
            }
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) of our own child, which has not been waited for yet.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Wait for the exit (killing toss and failing after `limit`); the status and the log.
    fn finish(mut self, limit: Duration) -> (Option<i32>, String) {
        let pid = self.child.id() as i32;
        let (tx, rx) = mpsc::channel::<()>();
        let killer = thread::spawn(move || {
            if rx.recv_timeout(limit).is_err() {
                // SAFETY: kill(2) of our own child, still running (not yet reaped).
                unsafe { libc::kill(pid, libc::SIGKILL) };
                true
            } else {
                false
            }
        });
        let status = self.child.wait().expect("wait for toss");
        let _ = tx.send(());
        let killed = killer.join().unwrap();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let log = self.log.lock().unwrap().clone();
        assert!(
            !killed && status.code().is_some(),
            "toss did not exit within {limit:?} and was killed:\n{log}"
        );
        assert!(!log.contains("panicked"), "toss panicked:\n{log}");
        (status.code(), log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed half-way leaves no toss behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(env: &[(String, String)], limit: Duration) -> (Option<i32>, String) {
    Running::start(env).finish(limit)
}

/// A port nothing listens on (bound, then let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn upstream(store: &TestStore) -> SocketAddr {
    store
        .endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("the test store's host:port")
}

/// Forward every connection on `listener` to `upstream`, bytes untouched.
fn forward(listener: TcpListener, upstream: SocketAddr) {
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            thread::spawn(move || {
                let Ok(server) = TcpStream::connect(upstream) else {
                    return;
                };
                let (mut from_server, mut to_client) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                thread::spawn(move || {
                    let _ = io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(Shutdown::Write);
                });
                let (mut from_client, mut to_server) = (client, server);
                let _ = io::copy(&mut from_client, &mut to_server);
                let _ = to_server.shutdown(Shutdown::Write);
            });
        }
    });
}

fn errors(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("ERROR")).collect()
}

fn retries(log: &str) -> usize {
    log.lines().filter(|l| l.contains("; retry ")).count()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A results file `r.tar.gz` and a done file naming it.
fn results_file(pod: &Pod, len: usize, seed: u64) -> Vec<u8> {
    let results = bytes(len, seed);
    fs::write(pod.read.join("r.tar.gz"), &results).unwrap();
    fs::write(pod.read.join("done"), "r.tar.gz\n").unwrap();
    results
}

/// Cap the size of any file toss writes (RLIMIT_FSIZE) and ignore SIGXFSZ, so a write past
/// the cap fails with EFBIG as a full disk fails with ENOSPC.
fn cap_file_size(cmd: &mut Command, bytes: u64) {
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

// ---------------------------------------------------------------- the store

#[test]
fn a_store_that_comes_up_late_gets_the_object() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 1_000_000, 41);
    let port = free_port();
    let mut env = pod.env(&store);
    set(&mut env, "ENDPOINT", &format!("http://127.0.0.1:{port}"));
    set(&mut env, "RETRY_ATTEMPTS", "8");
    let toss = Running::start(&env);
    // The store is down for toss's first try at least; it comes up during the backoff.
    toss.wait_for("retry 1 of 7", Duration::from_secs(30));
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the chosen port is still free");
    forward(listener, upstream(&store));
    let (code, log) = toss.finish(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("no answer from the store"), "{log}");
    assert!(
        store.get(&store.key_for("r.tar.gz")) == Some(results.clone()),
        "object differs or is missing: {log}"
    );
    assert!(pod.handed_off().unwrap().1 == results);
}

#[test]
fn a_store_down_for_good_still_hands_off_and_exits_4_in_bounded_time() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 10_000, 42);
    let mut env = pod.env(&store);
    set(
        &mut env,
        "ENDPOINT",
        &format!("http://127.0.0.1:{}", free_port()),
    );
    set(&mut env, "RETRY_ATTEMPTS", "3");
    set(&mut env, "UPLOAD_TIMEOUT", "5s");
    let started = Instant::now();
    let (code, log) = run(&env, Duration::from_secs(60));
    assert_eq!(code, Some(4), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(retries(&log), 2, "three tries: {log}");
    assert!(
        errors(&log)
            .iter()
            .any(|l| l.contains("no answer from the store") && l.contains("ENDPOINT")),
        "{log}"
    );
    assert_eq!(pod.handed_off().unwrap().1, results);
}

#[test]
fn upload_timeout_ends_the_retries_against_a_dead_store() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 10_000, 43);
    let mut env = pod.env(&store);
    set(
        &mut env,
        "ENDPOINT",
        &format!("http://127.0.0.1:{}", free_port()),
    );
    // Without the deadline, 50 tries with backoff capped at 20 s take many minutes.
    set(&mut env, "RETRY_ATTEMPTS", "50");
    set(&mut env, "UPLOAD_TIMEOUT", "3s");
    let started = Instant::now();
    let (code, log) = run(&env, Duration::from_secs(90));
    assert_eq!(code, Some(4), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "UPLOAD_TIMEOUT=3s, but the run took {:?}:\n{log}",
        started.elapsed()
    );
    assert!(retries(&log) < 49, "{log}");
    assert_eq!(pod.handed_off().unwrap().1, results);
}

/// A store (or load balancer) that takes the connection and then says nothing.
#[test]
fn a_silent_store_is_cut_by_the_stall_timeout() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 10_000, 44);
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
        }
    });
    let mut env = pod.env(&store);
    set(&mut env, "ENDPOINT", &format!("http://{addr}"));
    set(&mut env, "STALL_TIMEOUT", "1s");
    set(&mut env, "RETRY_ATTEMPTS", "2");
    let started = Instant::now();
    let (code, log) = run(&env, Duration::from_secs(90));
    assert_eq!(code, Some(4), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}:\n{log}",
        started.elapsed()
    );
    assert!(log.contains("no answer from the store"), "{log}");
    assert_eq!(pod.handed_off().unwrap().1, results);
}

#[test]
fn an_unknown_access_key_fails_at_once_and_names_access_key_id() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 10_000, 45);
    let mut env = pod.env(&store);
    set(&mut env, "ACCESS_KEY_ID", "AKIDUNKNOWNTOSS00000");
    let (code, log) = run(&env, Duration::from_secs(60));
    assert_eq!(code, Some(4), "{log}");
    assert_eq!(retries(&log), 0, "a refusal is not retried: {log}");
    let errors = errors(&log);
    assert!(
        errors
            .iter()
            .any(|l| l.contains("403") && l.contains("ACCESS_KEY_ID")),
        "the error should name ACCESS_KEY_ID: {log}"
    );
    assert!(!log.contains(&store.secret_key), "{log}");
    assert!(store.keys().is_empty());
    assert_eq!(pod.handed_off().unwrap().1, results);
}

/// Both test stores (s3s-fs, and SeaweedFS as CI runs it) create a missing bucket on
/// PutObject, where AWS, MinIO and Ceph answer 404 NoSuchBucket: the relay gives that
/// answer, so no bucket is ever created on a shared test server.
#[test]
fn a_missing_bucket_fails_at_once_and_names_bucket() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 10_000, 46);
    let relay = Relay::start(
        &store.endpoint,
        &[("PUT", 100, Fault::Answer(404, "NoSuchBucket"))],
    );
    let mut env = pod.env(&store);
    set(&mut env, "ENDPOINT", &relay.endpoint());
    let (code, log) = run(&env, Duration::from_secs(60));
    assert_eq!(code, Some(4), "{log}");
    assert_eq!(relay.left("PUT"), 99, "one try only: {log}");
    assert_eq!(retries(&log), 0, "a refusal is not retried: {log}");
    assert!(
        errors(&log)
            .iter()
            .any(|l| l.contains("NoSuchBucket") && l.contains("check BUCKET")),
        "{log}"
    );
    assert!(store.keys().is_empty());
    assert_eq!(pod.handed_off().unwrap().1, results);
}

/// toss signs with the current time, so a skewed clock cannot be made here; the store's
/// answer to one can.
#[test]
fn a_skewed_clock_fails_at_once_and_says_so() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 10_000, 47);
    let relay = Relay::start(
        &store.endpoint,
        &[("PUT", 100, Fault::Answer(403, "RequestTimeTooSkewed"))],
    );
    let mut env = pod.env(&store);
    set(&mut env, "ENDPOINT", &relay.endpoint());
    let started = Instant::now();
    let (code, log) = run(&env, Duration::from_secs(60));
    assert_eq!(code, Some(4), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(relay.left("PUT"), 99, "one try only: {log}");
    assert_eq!(retries(&log), 0, "{log}");
    assert!(
        errors(&log)
            .iter()
            .any(|l| l.contains("RequestTimeTooSkewed") && l.contains("clock is off")),
        "{log}"
    );
    assert!(store.keys().is_empty());
    assert_eq!(pod.handed_off().unwrap().1, results);
}

// ---------------------------------------------------------------- the worker's volume

#[test]
fn a_write_dir_that_is_a_file_fails_the_handoff_with_5() {
    let store = TestStore::start();
    for results in ["file", "directory"] {
        let pod = Pod::new();
        if results == "file" {
            results_file(&pod, 10_000, 48);
        } else {
            fs::create_dir(pod.read.join("out")).unwrap();
            fs::write(pod.read.join("out/summary.json"), b"{}").unwrap();
            fs::write(pod.read.join("done"), "out\n").unwrap();
        }
        let not_a_dir = pod.dir.path().join("not-a-dir");
        fs::write(&not_a_dir, b"keep me").unwrap();
        let mut env = pod.env(&store);
        set(
            &mut env,
            "WRITE_RESULTS_DIR",
            &not_a_dir.display().to_string(),
        );
        let (code, log) = run(&env, Duration::from_secs(60));
        assert_eq!(code, Some(5), "{results}: {log}");
        assert!(
            errors(&log).iter().any(|l| l.contains("WRITE_RESULTS_DIR")),
            "{results}: the error should name WRITE_RESULTS_DIR: {log}"
        );
        assert_eq!(fs::read(&not_a_dir).unwrap(), b"keep me", "{results}");
    }
}

/// The error for a WRITE_RESULTS_DIR that is a file should say just that.
#[test]
fn the_write_dir_is_a_file_error_does_not_contradict_itself() {
    let store = TestStore::start();
    let pod = Pod::new();
    results_file(&pod, 10_000, 49);
    let not_a_dir = pod.dir.path().join("not-a-dir");
    fs::write(&not_a_dir, b"keep me").unwrap();
    let mut env = pod.env(&store);
    set(
        &mut env,
        "WRITE_RESULTS_DIR",
        &not_a_dir.display().to_string(),
    );
    let (code, log) = run(&env, Duration::from_secs(60));
    assert_eq!(code, Some(5), "{log}");
    let error = errors(&log).join("\n");
    assert!(error.contains("not a directory"), "{error}");
    assert!(
        !error.contains("not a regular file") && !error.contains("a done file holds"),
        "the write dir is said to be a file and not a regular file: {error}"
    );
}

#[test]
fn a_full_write_dir_leaves_no_done_file_and_no_temporary_files() {
    let store = TestStore::start();
    let pod = Pod::new();
    let dir = pod.read.join("out");
    fs::create_dir(&dir).unwrap();
    // Random bytes do not compress: the archive is about 300 KB, over the 64 KiB cap.
    for (i, name) in ["a.bin", "b.bin", "c.bin"].iter().enumerate() {
        fs::write(dir.join(name), bytes(100_000, 50 + i as u64)).unwrap();
    }
    fs::write(pod.read.join("done"), "out\n").unwrap();
    let toss = Running::start_with(&pod.env(&store), |cmd| cap_file_size(cmd, 64 * 1024));
    let (code, log) = toss.finish(Duration::from_secs(60));
    assert_eq!(code, Some(5), "{log}");
    assert_eq!(
        entries(&pod.write),
        Vec::<String>::new(),
        "no done file, no temporary file, no partial archive: {log}"
    );
    assert!(store.keys().is_empty(), "{log}");
    let write = pod.write.display().to_string();
    assert!(
        errors(&log).iter().any(|l| l.contains(&write)),
        "the error should name the write dir: {log}"
    );
}

/// Results on another filesystem than WRITE_RESULTS_DIR cannot be hard-linked: toss copies.
/// Returns None (the test is skipped) when /dev/shm is missing or on the same filesystem.
fn pod_across_filesystems() -> Option<(tempfile::TempDir, Pod)> {
    let shm = tempfile::tempdir_in("/dev/shm").ok()?;
    let pod = Pod::new();
    if fs::metadata(shm.path()).ok()?.dev() == fs::metadata(&pod.write).ok()?.dev() {
        eprintln!("skipped: /dev/shm is on the same filesystem as the temp dir");
        return None;
    }
    Some((shm, pod))
}

fn read_dir_on(shm: &Path, env: &mut Vec<(String, String)>) -> PathBuf {
    let read = shm.join("plugin-results");
    fs::create_dir(&read).unwrap();
    set(env, "READ_RESULTS_DIR", &read.display().to_string());
    read
}

#[test]
fn results_on_another_filesystem_are_copied_to_the_worker() {
    let store = TestStore::start();
    let Some((shm, pod)) = pod_across_filesystems() else {
        return;
    };
    let mut env = pod.env(&store);
    let read = read_dir_on(shm.path(), &mut env);
    let results = bytes(200_000, 53);
    fs::write(read.join("r.tar.gz"), &results).unwrap();
    fs::write(read.join("done"), "r.tar.gz\n").unwrap();
    let (code, log) = run(&env, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
    let (handed, data) = pod.handed_off().unwrap();
    assert!(data == results);
    assert_ne!(
        fs::metadata(&handed).unwrap().ino(),
        fs::metadata(read.join("r.tar.gz")).unwrap().ino()
    );
    assert_eq!(entries(&pod.write), ["done", "r.tar.gz"]);
    assert_eq!(
        store.get(&store.key_for("r.tar.gz")).as_deref(),
        Some(&results[..])
    );
}

#[test]
fn a_full_write_dir_fails_the_copy_cleanly() {
    let store = TestStore::start();
    let Some((shm, pod)) = pod_across_filesystems() else {
        return;
    };
    let mut env = pod.env(&store);
    let read = read_dir_on(shm.path(), &mut env);
    let results = bytes(200_000, 54);
    fs::write(read.join("r.tar.gz"), &results).unwrap();
    fs::write(read.join("done"), "r.tar.gz\n").unwrap();
    let toss = Running::start_with(&env, |cmd| cap_file_size(cmd, 64 * 1024));
    let (code, log) = toss.finish(Duration::from_secs(60));
    assert_eq!(code, Some(5), "{log}");
    assert_eq!(
        entries(&pod.write),
        Vec::<String>::new(),
        "no done file, no temporary file, no partial copy: {log}"
    );
    // The upload came first and went through.
    assert_eq!(
        store.get(&store.key_for("r.tar.gz")).as_deref(),
        Some(&results[..])
    );
}

// ---------------------------------------------------------------- the plugin's volume

#[test]
fn a_read_dir_created_late_is_waited_for() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::remove_dir(&pod.read).unwrap();
    let toss = Running::start(&pod.env(&store));
    toss.wait_for("INFO  waiting for", Duration::from_secs(20));
    fs::create_dir(&pod.read).unwrap();
    let results = results_file(&pod, 10_000, 55);
    let (code, log) = toss.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        store.get(&store.key_for("r.tar.gz")).as_deref(),
        Some(&results[..])
    );
    assert_eq!(pod.handed_off().unwrap().1, results);
}

/// Whatever toss does when the results vanish, the pieces must agree: the bucket holds the
/// whole file or nothing; status 5 means the worker got nothing, 4 and 0 that it got it all.
fn check_vanished(store: &TestStore, pod: &Pod, results: &[u8], code: Option<i32>, log: &str) {
    assert!(
        matches!(code, Some(0) | Some(4) | Some(5)),
        "{code:?}: {log}"
    );
    match store.get(&store.key_for("r.tar.gz")) {
        None => {}
        Some(object) => assert!(object == results, "a partial object in the bucket: {log}"),
    }
    let handed = pod.handed_off();
    match code {
        Some(5) => assert!(handed.is_none(), "status 5, yet a handoff: {log}"),
        _ => assert!(
            handed.is_some_and(|(_, data)| data == results),
            "status {code:?} without a full handoff: {log}"
        ),
    }
    if code != Some(0) {
        assert!(
            errors(log).iter().any(|l| l.contains("r.tar.gz")),
            "the error should name the results: {log}"
        );
    }
}

/// The results are deleted while toss uploads them (the first PUT stalls, so the file is
/// surely open by then). Reported, not prescribed: what toss does is printed.
#[test]
fn results_deleted_during_the_upload() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 100_000, 56);
    let relay = Relay::start(
        &store.endpoint,
        &[("PUT", 1, Fault::Stall(Duration::from_secs(20)))],
    );
    let mut env = pod.env(&store);
    set(&mut env, "ENDPOINT", &relay.endpoint());
    set(&mut env, "STALL_TIMEOUT", "1s");
    let toss = Running::start(&env);
    toss.wait_for("uploading", Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !relay.requests().iter().any(|r| r.starts_with("PUT")) {
        assert!(Instant::now() < deadline, "no PUT reached the relay");
        thread::sleep(Duration::from_millis(20));
    }
    fs::remove_file(pod.read.join("r.tar.gz")).unwrap();
    let (code, log) = toss.finish(Duration::from_secs(60));
    eprintln!("status {code:?}\n{log}");
    check_vanished(&store, &pod, &results, code, &log);
}

/// The results are deleted as soon as toss has read the done file. A race: toss may or
/// may not have opened the file yet. Reported, not prescribed.
#[test]
fn results_deleted_right_after_the_done_file_is_read() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 3 * MIB, 57);
    let toss = Running::start(&pod.env(&store));
    toss.wait_for("the done file names", Duration::from_secs(20));
    fs::remove_file(pod.read.join("r.tar.gz")).unwrap();
    let (code, log) = toss.finish(Duration::from_secs(60));
    eprintln!("status {code:?}\n{log}");
    check_vanished(&store, &pod, &results, code, &log);
}

// ---------------------------------------------------------------- signals

fn stopped_while_waiting(signal: i32, name: &str) {
    let store = TestStore::start();
    let pod = Pod::new();
    let toss = Running::start(&pod.env(&store));
    toss.wait_for("INFO  waiting for", Duration::from_secs(20));
    let sent = Instant::now();
    toss.signal(signal);
    let (code, log) = toss.finish(Duration::from_secs(30));
    assert_eq!(code, Some(128 + signal), "{log}");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{name} took {:?}",
        sent.elapsed()
    );
    assert!(log.contains(&format!("stopped by {name}")), "{log}");
    assert!(!pod.write.join("done").exists());
    assert!(store.keys().is_empty());
}

#[test]
fn sigterm_while_waiting_exits_143_promptly() {
    stopped_while_waiting(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_while_waiting_exits_130_promptly() {
    stopped_while_waiting(libc::SIGINT, "SIGINT");
}

#[test]
fn sigterm_during_retries_hands_off_and_exits_143_promptly() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = results_file(&pod, 10_000, 58);
    let mut env = pod.env(&store);
    set(
        &mut env,
        "ENDPOINT",
        &format!("http://127.0.0.1:{}", free_port()),
    );
    set(&mut env, "RETRY_ATTEMPTS", "50");
    let toss = Running::start(&env);
    toss.wait_for("retry 3 of 49", Duration::from_secs(30));
    let sent = Instant::now();
    toss.signal(libc::SIGTERM);
    let (code, log) = toss.finish(Duration::from_secs(60));
    assert_eq!(code, Some(143), "{log}");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    assert!(
        log.contains("stopped by SIGTERM; the results were handed off"),
        "{log}"
    );
    assert_eq!(pod.handed_off().unwrap().1, results);
}

/// Kubernetes sends SIGTERM and, 30 s later by default, SIGKILL. With every part stuck on
/// the network, toss must still stop well within that: hand off, abort the multipart
/// upload (no invisible, billed parts left behind), exit 143.
#[test]
fn sigterm_during_a_stalled_multipart_upload_hands_off_aborts_and_exits_143() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = bytes(12 * MIB, 59);
    fs::write(pod.read.join("big.tar.gz"), &results).unwrap();
    fs::write(pod.read.join("done"), "big.tar.gz\n").unwrap();
    let relay = Relay::start(
        &store.endpoint,
        &[("partNumber=", 100, Fault::Stall(Duration::from_secs(60)))],
    );
    let mut env = pod.env(&store);
    set(&mut env, "ENDPOINT", &relay.endpoint());
    set(&mut env, "MULTIPART_THRESHOLD", "5MiB");
    set(&mut env, "PART_SIZE", "5MiB");
    let toss = Running::start(&env);
    toss.wait_for("multipart upload", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !relay.requests().iter().any(|r| r.contains("partNumber=")) {
        assert!(Instant::now() < deadline, "no part reached the relay");
        thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    toss.signal(libc::SIGTERM);
    let (code, log) = toss.finish(Duration::from_secs(120));
    let took = sent.elapsed();

    let mut problems = Vec::new();
    if took >= Duration::from_secs(10) {
        problems.push(format!("exited {took:?} after SIGTERM (want < 10 s)"));
    }
    if code != Some(143) {
        problems.push(format!("status {code:?}, want 143"));
    }
    match pod.handed_off() {
        Some((_, data)) if data == results => {}
        Some(_) => problems.push("the handed-off bytes differ".into()),
        None => problems.push("nothing handed off".into()),
    }
    if !relay
        .requests()
        .iter()
        .any(|r| r.starts_with("DELETE") && r.contains("uploadId="))
    {
        problems.push("no AbortMultipartUpload sent".into());
    }
    let open = store.open_uploads();
    if open != 0 {
        problems.push(format!("{open} multipart upload(s) left open"));
    }
    if !store.keys().is_empty() {
        problems.push(format!("objects in the bucket: {:?}", store.keys()));
    }
    assert!(problems.is_empty(), "{}\n{log}", problems.join("\n"));
}
