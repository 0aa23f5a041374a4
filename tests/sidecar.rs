//! End to end: the built toss binary as a process, a real signature-checking S3 server,
//! real directories standing in for the pod's volumes.

mod support;

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use support::{bytes, text, toss, Pod, TestStore};

const BIN: &str = env!("CARGO_BIN_EXE_toss");

fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
}

#[test]
fn a_results_file_reaches_the_bucket_and_the_worker_bit_for_bit() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = bytes(3 * 1024 * 1024 + 17, 1);
    let path = pod.read.join("e2e.tar.gz");
    fs::write(&path, &results).unwrap();
    fs::write(pod.read.join("done"), path.display().to_string()).unwrap();

    let out = toss(Path::new(BIN), &[], &pod.env(&store));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    assert_eq!(
        store.get(&store.key_for("e2e.tar.gz")).as_deref(),
        Some(&results[..])
    );
    let (handed, handed_bytes) = pod.handed_off().expect("a done file for the worker");
    assert_eq!(handed, pod.write.canonicalize().unwrap().join("e2e.tar.gz"));
    assert!(handed_bytes == results, "handed-off bytes differ");
    let log = text(&out);
    assert!(
        log.contains(&format!("uploaded {} bytes", results.len())),
        "{log}"
    );
    assert!(!log.contains(&store.secret_key), "{log}");
}

#[test]
fn a_directory_arrives_as_a_tar_gz_with_the_same_files() {
    let store = TestStore::start();
    let pod = Pod::new();
    let dir = pod.read.join("plugin-out");
    fs::create_dir_all(dir.join("logs/deep")).unwrap();
    let files = [
        ("summary.json", bytes(100, 2)),
        ("logs/e2e.log", bytes(200_000, 3)),
        ("logs/deep/junit_01.xml", bytes(5_000, 4)),
    ];
    for (name, data) in &files {
        fs::write(dir.join(name), data).unwrap();
    }
    // Not a regular file: left out, as the worker leaves it out.
    symlink("/etc/passwd", dir.join("logs/link")).unwrap();
    // A relative path resolves against READ_RESULTS_DIR.
    fs::write(pod.read.join("done"), "plugin-out\n").unwrap();

    let out = toss(Path::new(BIN), &[], &pod.env(&store));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let object = store
        .get(&store.key_for("results.tar.gz"))
        .expect("the packed results in the bucket");
    let (handed, handed_bytes) = pod.handed_off().unwrap();
    assert!(handed.starts_with(pod.write.canonicalize().unwrap()));
    assert!(
        handed_bytes == object,
        "the worker and the bucket got different archives"
    );

    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&object[..]));
    let mut found: Vec<(String, Vec<u8>)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect();
    found.sort();
    let mut expected: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, d)| (n.to_string(), d.clone()))
        .collect();
    expected.sort();
    assert_eq!(
        found.len(),
        expected.len(),
        "{:?}",
        found.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(found == expected, "archive contents differ");
}

#[test]
fn a_wrong_secret_fails_the_upload_but_the_worker_still_gets_the_results() {
    let store = TestStore::start();
    let pod = Pod::new();
    let results = bytes(70_000, 5);
    fs::write(pod.read.join("r.tar.gz"), &results).unwrap();
    fs::write(pod.read.join("done"), "r.tar.gz").unwrap();
    let wrong = "wrongSecretValue/ZZZZZZZZZZ9876543210";
    let mut env = pod.env(&store);
    set(&mut env, "SECRET_ACCESS_KEY", wrong);

    let out = toss(Path::new(BIN), &[], &env);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(4), "{log}");
    assert!(log.contains("403"), "{log}");
    assert!(
        log.contains("SignatureDoesNotMatch"),
        "S3's own code is reported: {log}"
    );
    assert!(log.contains("check SECRET_ACCESS_KEY"), "{log}");
    assert!(!log.contains(wrong), "the secret leaked: {log}");
    assert!(!log.contains("X-Amz-Signature="), "{log}");
    assert_eq!(pod.handed_off().unwrap().1, results);
    assert!(store.keys().is_empty());
}

#[test]
fn no_done_file_in_time_exits_3() {
    let store = TestStore::start();
    let pod = Pod::new();
    let mut env = pod.env(&store);
    set(&mut env, "DONE_TIMEOUT", "600ms");
    let out = toss(Path::new(BIN), &[], &env);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("DONE_TIMEOUT"), "{}", text(&out));
    assert!(!pod.write.join("done").exists());
}

#[test]
fn a_done_file_naming_a_path_outside_the_results_dir_is_refused() {
    let store = TestStore::start();
    for case in ["absolute", "../ traversal", "symlink", "/etc/passwd"] {
        let pod = Pod::new();
        let outside = pod.dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), "do not ship").unwrap();
        symlink(outside.join("secret"), pod.read.join("escape-link")).unwrap();
        let named = match case {
            "absolute" => outside.join("secret").display().to_string(),
            "../ traversal" => "../outside/secret".into(),
            "symlink" => "escape-link".into(),
            _ => "/etc/passwd".into(),
        };
        fs::write(pod.read.join("done"), &named).unwrap();

        let out = toss(Path::new(BIN), &[], &pod.env(&store));
        let log = text(&out);
        assert_eq!(out.status.code(), Some(5), "{case}: {log}");
        assert!(
            log.contains("refused") && log.contains("outside"),
            "{case}: {log}"
        );
        assert!(store.keys().is_empty(), "{case}: something was uploaded");
        assert!(
            !pod.write.join("done").exists(),
            "{case}: something was handed off"
        );
        assert!(
            !log.contains("do not ship") && !log.contains("root:x:0"),
            "{case}: {log}"
        );
    }
}

#[test]
fn a_slowly_written_done_file_is_not_acted_on_early() {
    let store = TestStore::start();
    let pod = Pod::new();
    // Both the prefix and the whole name exist: acting on the half-written content would
    // ship the wrong file.
    fs::write(pod.read.join("e2e.tar"), b"wrong file").unwrap();
    let results = bytes(10_000, 6);
    fs::write(pod.read.join("e2e.tar.gz"), &results).unwrap();
    let mut env = pod.env(&store);
    set(&mut env, "POLL_INTERVAL", "1s");

    let child = Command::new(BIN)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = pod.read.join("done");
    let mut f = fs::File::create(&done).unwrap();
    use std::io::Write;
    f.write_all(pod.read.join("e2e.tar").display().to_string().as_bytes())
        .unwrap();
    f.flush().unwrap();
    thread::sleep(Duration::from_millis(300));
    f.write_all(b".gz").unwrap();
    drop(f);

    let out = support::finish(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        store.get(&store.key_for("e2e.tar.gz")).as_deref(),
        Some(&results[..])
    );
    assert_eq!(store.get(&store.key_for("e2e.tar")), None);
    assert_eq!(pod.handed_off().unwrap().1, results);
}

#[test]
fn the_results_may_appear_after_the_done_file() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("done"), "late.tar.gz").unwrap();
    let child = Command::new(BIN)
        .env_clear()
        .envs(pod.env(&store).iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    fs::write(pod.read.join("late.tar.gz"), b"late results").unwrap();
    let out = support::finish(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("does not exist yet"), "{}", text(&out));
    assert_eq!(
        store.get(&store.key_for("late.tar.gz")).as_deref(),
        Some(&b"late results"[..])
    );
}

#[test]
fn an_unreachable_store_still_hands_off_and_exits_4() {
    let store = TestStore::start();
    let pod = Pod::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    fs::write(pod.read.join("r.tar.gz"), b"results").unwrap();
    fs::write(pod.read.join("done"), "r.tar.gz").unwrap();
    for first in ["false", "true"] {
        let _ = fs::remove_file(pod.write.join("done"));
        let mut env = pod.env(&store);
        set(&mut env, "ENDPOINT", &format!("http://{closed}"));
        set(&mut env, "HANDOFF_FIRST", first);
        set(&mut env, "RETRY_ATTEMPTS", "2");
        let out = toss(Path::new(BIN), &[], &env);
        let log = text(&out);
        assert_eq!(out.status.code(), Some(4), "handoff first {first}: {log}");
        assert!(log.contains("no answer from the store"), "{log}");
        assert_eq!(pod.handed_off().unwrap().1, b"results");
    }
}

#[test]
fn handoff_first_hands_off_before_uploading() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("r.tar.gz"), b"results").unwrap();
    fs::write(pod.read.join("done"), "r.tar.gz").unwrap();
    let out = toss(Path::new(BIN), &["--handoff-first"], &pod.env(&store));
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let handed = log.find("handed off").expect("handoff logged");
    let uploaded = log.find("uploaded 7 bytes").expect("upload logged");
    assert!(handed < uploaded, "{log}");
    assert_eq!(
        store.get(&store.key_for("r.tar.gz")).as_deref(),
        Some(&b"results"[..])
    );
}

#[test]
fn a_missing_write_dir_fails_the_handoff_with_status_5() {
    let store = TestStore::start();
    let pod = Pod::new();
    fs::write(pod.read.join("r.tar.gz"), b"results").unwrap();
    fs::write(pod.read.join("done"), "r.tar.gz").unwrap();
    let mut env = pod.env(&store);
    set(
        &mut env,
        "WRITE_RESULTS_DIR",
        &pod.dir.path().join("nope").display().to_string(),
    );
    let out = toss(Path::new(BIN), &[], &env);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(5), "{log}");
    assert!(log.contains("WRITE_RESULTS_DIR"), "{log}");
}

#[test]
fn put_uploads_one_file_to_the_given_key() {
    let store = TestStore::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    fs::write(&file, b"{\"ok\":true}").unwrap();
    let key = format!("{}/custom/report.json", store.prefix);
    let out = toss(
        Path::new(BIN),
        &["put", file.to_str().unwrap(), &key],
        &store.env(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(store.get(&key).as_deref(), Some(&b"{\"ok\":true}"[..]));
}

#[test]
fn bad_settings_exit_2_and_name_every_problem() {
    let out = toss(Path::new(BIN), &["--poll-interval", "often"], &[]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(2), "{log}");
    for name in [
        "READ_RESULTS_DIR",
        "WRITE_RESULTS_DIR",
        "BUCKET",
        "ACCESS_KEY_ID",
        "SECRET_ACCESS_KEY",
        "POLL_INTERVAL",
    ] {
        assert!(log.contains(name), "{name} missing from: {log}");
    }
}

#[test]
fn help_and_version_print_names_not_values() {
    let env = vec![(
        "SECRET_ACCESS_KEY".to_string(),
        "helpSecretValue12345".to_string(),
    )];
    let out = toss(Path::new(BIN), &["--help"], &env);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out);
    assert!(
        help.contains("--secret-access-key") && help.contains("AWS_SECRET_ACCESS_KEY"),
        "{help}"
    );
    assert!(!help.contains("helpSecretValue12345"));
    let out = toss(Path::new(BIN), &["--version"], &env);
    assert_eq!(
        text(&out).trim(),
        format!("toss {}", env!("CARGO_PKG_VERSION"))
    );
}
