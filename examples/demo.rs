//! `cargo run --example demo`: one whole sidecar run on this machine, nothing to set up.
//!
//! Starts a local S3 server that checks signatures (s3s-fs), plays a Sonobuoy plugin that
//! writes results and a done file, runs the real toss binary beside it, then shows the
//! object in the bucket and the done file handed to the worker.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

fn main() {
    let toss = build_toss();
    let store = support::TestStore::start();
    let pod = support::Pod::new();
    println!(
        "== S3 server (s3s-fs, SigV4 checked) at {}, bucket {:?}",
        store.endpoint, store.bucket
    );
    println!(
        "== plugin results dir {}\n== worker results dir {}",
        pod.read.display(),
        pod.write.display()
    );

    let mut env = pod.env(&store);
    env.push(("NODE_NAME".into(), "demo-node".into()));
    println!("== starting toss as the sidecar\n");
    let mut sidecar = Command::new(&toss)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start toss");

    // The plugin: results in a directory, then the done file naming it.
    thread::sleep(Duration::from_millis(500));
    let out = pod.read.join("e2e");
    fs::create_dir_all(out.join("plugins/e2e")).unwrap();
    fs::write(
        out.join("plugins/e2e/junit_01.xml"),
        "<testsuite tests=\"1\" failures=\"0\"/>\n",
    )
    .unwrap();
    fs::write(out.join("e2e.log"), support::bytes(256 * 1024, 42)).unwrap();
    fs::write(pod.read.join("done"), format!("{}\n", out.display())).unwrap();

    let status = sidecar.wait().expect("toss runs");
    println!("\n== toss exited with {status}");

    let key = store.key_for("results.tar.gz");
    let object = store.get(&key).expect("the results are in the bucket");
    println!("== bucket {:?} holds:", store.bucket);
    for k in store.keys() {
        println!("     {k}");
    }
    let done = fs::read_to_string(pod.write.join("done")).expect("the worker's done file");
    let handed = fs::read(done.trim()).expect("the handed-off results");
    println!(
        "== {}/done (what the Sonobuoy worker reads): {}",
        pod.write.display(),
        done.trim()
    );
    println!(
        "== object {} bytes, handed-off file {} bytes, identical: {}",
        object.len(),
        handed.len(),
        object == handed
    );
    assert!(
        status.success() && object == handed,
        "the demo run did not deliver"
    );
}

/// Build the toss binary next to this example and return its path.
fn build_toss() -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec!["build", "--quiet", "--bin", "toss"];
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/examples/demo -> target/<profile>/toss
    let profile_dir = exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf();
    if profile_dir.ends_with("release") {
        args.push("--release");
    }
    let ok = Command::new(cargo)
        .args(&args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "cargo build --bin toss failed");
    profile_dir.join("toss")
}
