//! The static binary in an empty root, the way a `FROM scratch` image runs it: no shell,
//! no libc, no CA files, no /etc, no /proc, and a user that owns nothing but the worker's
//! results directory.
//!
//! Needs root (for chroot) and the static musl binary, so `.ci/run` runs it:
//! `TOSS_STATIC_BIN=target/x86_64-unknown-linux-musl/release/toss cargo test --test scratch -- --ignored`

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use support::{bytes, text, TestStore};

/// The image's user (see Dockerfile.scratch).
const USER: u32 = 65532;

#[test]
#[ignore = "needs root and the static binary: .ci/run runs it with TOSS_STATIC_BIN set"]
fn the_static_binary_runs_a_whole_sidecar_run_in_an_empty_root() {
    let bin = PathBuf::from(
        std::env::var("TOSS_STATIC_BIN").expect("TOSS_STATIC_BIN: path of the static binary"),
    );
    let store = TestStore::start();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rootfs");
    fs::create_dir(&root).unwrap();
    fs::copy(&bin, root.join("toss")).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    for dir in ["results", "results/plugin", "results/worker"] {
        fs::create_dir(root.join(dir)).unwrap();
    }
    // Only the worker's dir is writable by the image's user; the plugin's is read-only to it.
    std::os::unix::fs::chown(root.join("results/worker"), Some(USER), Some(USER)).unwrap();

    let results = bytes(512 * 1024 + 3, 9);
    fs::write(root.join("results/plugin/e2e.tar.gz"), &results).unwrap();
    fs::write(
        root.join("results/plugin/done"),
        "/results/plugin/e2e.tar.gz\n",
    )
    .unwrap();

    let listing: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(
        listing.len(),
        2,
        "the root holds only the binary and the results: {listing:?}"
    );

    let mut env = store.env();
    env.push(("READ_RESULTS_DIR".into(), "/results/plugin".into()));
    env.push(("WRITE_RESULTS_DIR".into(), "/results/worker".into()));
    env.push(("POLL_INTERVAL".into(), "100ms".into()));
    env.push(("DONE_TIMEOUT".into(), "30s".into()));
    // Found on our PATH: the child's environment is cleared, PATH included.
    let chroot = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| PathBuf::from(d).join("chroot"))
        .find(|p| p.exists())
        .expect("chroot on PATH");
    let out = Command::new(chroot)
        .arg(format!("--userspec={USER}:{USER}"))
        .arg(&root)
        .arg("/toss")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run chroot");
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");

    assert_eq!(
        store.get(&store.key_for("e2e.tar.gz")).as_deref(),
        Some(&results[..])
    );
    let done = fs::read_to_string(root.join("results/worker/done")).unwrap();
    assert_eq!(done.trim(), "/results/worker/e2e.tar.gz");
    assert!(fs::read(root.join("results/worker/e2e.tar.gz")).unwrap() == results);
    assert!(!log.contains(&store.secret_key));
}
