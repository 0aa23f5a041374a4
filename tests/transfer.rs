//! Multipart uploads, retries and integrity, end to end: the toss binary against a real
//! S3 server, with a fault-injecting relay in between where the network must misbehave.

mod support;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use support::relay::{Fault, Relay};
use support::{bytes, text, toss, TestStore};

const BIN: &str = env!("CARGO_BIN_EXE_toss");
const MIB: usize = 1024 * 1024;

/// Settings for a small multipart upload: 5 MiB parts from 5 MiB on, quick retries.
fn env(store: &TestStore, endpoint: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = store.env();
    env.retain(|(k, _)| k != "ENDPOINT");
    env.push(("ENDPOINT".into(), endpoint.into()));
    for (k, v) in [
        ("MULTIPART_THRESHOLD", "5MiB"),
        ("PART_SIZE", "5MiB"),
        ("CONCURRENCY", "3"),
    ]
    .iter()
    .chain(extra)
    {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

fn put(
    store: &TestStore,
    env: &[(String, String)],
    data: &[u8],
    name: &str,
) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    fs::write(&file, data).unwrap();
    let key = store.key_for(name);
    let out = toss(Path::new(BIN), &["put", file.to_str().unwrap(), &key], env);
    (out.status.code(), text(&out))
}

#[test]
fn a_file_just_above_the_threshold_goes_up_in_two_parts() {
    let store = TestStore::start();
    let data = bytes(5 * MIB + 1, 11);
    let (code, log) = put(
        &store,
        &env(&store, &store.endpoint, &[]),
        &data,
        "edge.bin",
    );
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("2 parts of 5.0 MiB"), "{log}");
    assert!(
        store.get(&store.key_for("edge.bin")) == Some(data),
        "object differs"
    );
}

#[test]
fn a_file_that_does_not_divide_evenly_arrives_intact_with_and_without_checksums() {
    let store = TestStore::start();
    let data = bytes(17 * MIB + 333, 12);
    for checksum in ["sha256", "off"] {
        let name = format!("uneven-{checksum}.bin");
        let (code, log) = put(
            &store,
            &env(&store, &store.endpoint, &[("CHECKSUM", checksum)]),
            &data,
            &name,
        );
        assert_eq!(code, Some(0), "{checksum}: {log}");
        assert!(log.contains("4 parts of 5.0 MiB"), "{log}");
        assert_eq!(
            log.contains("SHA-256 checked"),
            checksum == "sha256",
            "{log}"
        );
        assert!(
            store.get(&store.key_for(&name)) == Some(data.clone()),
            "{checksum}: object differs"
        );
    }
    assert_eq!(store.open_uploads(), 0);
}

#[test]
fn checksums_are_signed_into_every_body_request() {
    let store = TestStore::start();
    let relay = Relay::start(&store.endpoint, &[]);
    let data = bytes(11 * MIB, 13);
    let (code, log) = put(
        &store,
        &env(&store, &relay.endpoint(), &[]),
        &data,
        "signed.bin",
    );
    assert_eq!(code, Some(0), "{log}");
    let requests = relay.requests();
    let parts: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("partNumber="))
        .collect();
    assert_eq!(parts.len(), 3, "{requests:#?}");
    for r in parts {
        assert!(
            r.contains("X-Amz-SignedHeaders=host%3Bx-amz-checksum-sha256"),
            "{r}"
        );
    }
    let create = requests
        .iter()
        .find(|r| r.starts_with("POST") && r.contains("uploads"))
        .unwrap();
    assert!(create.contains("x-amz-checksum-algorithm"), "{create}");
    // A single PUT too.
    let (code, log) = put(
        &store,
        &env(&store, &relay.endpoint(), &[]),
        b"small",
        "small.txt",
    );
    assert_eq!(code, Some(0), "{log}");
    let single = relay
        .requests()
        .into_iter()
        .find(|r| r.contains("small.txt") && r.starts_with("PUT"))
        .unwrap();
    assert!(single.contains("x-amz-checksum-sha256"), "{single}");
}

#[test]
fn busy_and_broken_answers_are_retried_and_the_object_is_intact() {
    let store = TestStore::start();
    let relay = Relay::start(
        &store.endpoint,
        &[
            ("POST uploads=", 1, Fault::Answer(500, "InternalError")),
            ("partNumber=1&", 2, Fault::Answer(503, "SlowDown")),
            ("partNumber=2&", 1, Fault::ResetMidBody),
            ("partNumber=4&", 1, Fault::Drop),
            ("POST uploadId=", 1, Fault::Answer(200, "InternalError")),
        ],
    );
    let data = bytes(19 * MIB + 5, 14);
    let (code, log) = put(
        &store,
        &env(&store, &relay.endpoint(), &[]),
        &data,
        "flaky.bin",
    );
    assert_eq!(code, Some(0), "{log}");
    assert!(
        store.get(&store.key_for("flaky.bin")) == Some(data),
        "object differs"
    );
    for fault in [
        "POST uploads=",
        "partNumber=1&",
        "partNumber=2&",
        "partNumber=4&",
        "POST uploadId=",
    ] {
        assert_eq!(relay.left(fault), 0, "fault {fault} was not hit: {log}");
    }
    assert!(log.contains("SlowDown") && log.contains("retry"), "{log}");
    assert_eq!(store.open_uploads(), 0);
}

#[test]
fn a_damaged_body_is_refused_by_the_store_and_sent_again() {
    let store = TestStore::start();
    // s3s-fs checks the checksum of a PutObject but not of an UploadPart (it stores the part
    // as sent); SeaweedFS and AWS check both. CI runs this against SeaweedFS too.
    let faults: &[(&'static str, usize, Fault)] = if store.is_embedded() {
        &[("PUT", 1, Fault::FlipByte)]
    } else {
        &[("partNumber=2&", 1, Fault::FlipByte)]
    };
    let relay = Relay::start(&store.endpoint, faults);
    let (name, data) = if store.is_embedded() {
        ("damaged.bin", bytes(3 * MIB, 18))
    } else {
        ("damaged.bin", bytes(12 * MIB, 18))
    };
    let (code, log) = put(&store, &env(&store, &relay.endpoint(), &[]), &data, name);
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(relay.left(faults[0].0), 0, "no byte was flipped: {log}");
    assert!(
        log.contains("400") && log.contains("retry 1"),
        "the damaged body was not refused: {log}"
    );
    assert!(
        store.get(&store.key_for(name)) == Some(data),
        "object differs"
    );
}

#[test]
fn a_stalled_request_times_out_and_is_retried() {
    let store = TestStore::start();
    let relay = Relay::start(
        &store.endpoint,
        &[("PUT", 1, Fault::Stall(Duration::from_secs(30)))],
    );
    let data = bytes(2 * MIB, 15);
    let started = Instant::now();
    let (code, log) = put(
        &store,
        &env(&store, &relay.endpoint(), &[("STALL_TIMEOUT", "1s")]),
        &data,
        "stall.bin",
    );
    assert_eq!(code, Some(0), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the stall was waited out, not cut"
    );
    assert!(log.contains("retry 1"), "{log}");
    assert!(store.get(&store.key_for("stall.bin")) == Some(data));
}

#[test]
fn a_refusal_fails_at_once_and_the_multipart_upload_is_aborted() {
    let store = TestStore::start();
    let relay = Relay::start(
        &store.endpoint,
        &[("partNumber=2&", 1, Fault::Answer(403, "AccessDenied"))],
    );
    let data = bytes(16 * MIB, 16);
    let (code, log) = put(
        &store,
        &env(&store, &relay.endpoint(), &[]),
        &data,
        "denied.bin",
    );
    assert_eq!(code, Some(4), "{log}");
    assert!(log.contains("403 AccessDenied"), "{log}");
    assert!(!log.contains("retry"), "a 403 is not retried: {log}");
    assert!(
        relay
            .requests()
            .iter()
            .any(|r| r.starts_with("DELETE") && r.contains("uploadId=")),
        "no abort sent"
    );
    assert_eq!(
        store.open_uploads(),
        0,
        "an orphaned multipart upload is left"
    );
    assert_eq!(store.get(&store.key_for("denied.bin")), None);
}

#[test]
fn retries_stop_after_the_set_attempts() {
    let store = TestStore::start();
    let relay = Relay::start(
        &store.endpoint,
        &[("PUT", 100, Fault::Answer(503, "SlowDown"))],
    );
    let (code, log) = put(
        &store,
        &env(&store, &relay.endpoint(), &[("RETRY_ATTEMPTS", "3")]),
        b"x",
        "busy.txt",
    );
    assert_eq!(code, Some(4), "{log}");
    assert_eq!(relay.left("PUT"), 97, "three tries: {log}");
    assert!(log.contains("503 SlowDown"), "{log}");
}

/// Over 5 GiB, past the single-PUT limit. Slow and disk-hungry: CI runs it against SeaweedFS.
#[test]
#[ignore = "uploads 5 GiB; .ci/run runs it"]
fn a_file_over_5_gib_goes_up_in_parts_and_reads_back_identical() {
    let store = TestStore::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    let size: u64 = 5 * 1024 * 1024 * 1024 + 4097;
    {
        // Random blocks, so a misplaced part cannot pass for a correct one.
        use std::io::Write;
        let mut f = std::io::BufWriter::new(fs::File::create(&file).unwrap());
        let block = bytes(MIB, 17);
        let mut written = 0u64;
        let mut n = 0u64;
        while written < size {
            let take = (size - written).min(MIB as u64) as usize;
            f.write_all(&n.to_le_bytes()).unwrap();
            f.write_all(&block[8..take.max(8)]).unwrap();
            written += take.max(8) as u64;
            n += 1;
        }
    }
    let size = fs::metadata(&file).unwrap().len();
    let key = store.key_for("big.bin");
    let env = env(
        &store,
        &store.endpoint,
        &[
            ("MULTIPART_THRESHOLD", "64MiB"),
            ("PART_SIZE", "64MiB"),
            ("CONCURRENCY", "4"),
        ],
    );
    let out = toss(Path::new(BIN), &["put", file.to_str().unwrap(), &key], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        store.sha256_of(&key),
        support::sha256_file(&file),
        "object differs ({size} bytes)"
    );
}

#[test]
fn a_write_only_policy_that_refuses_the_head_still_counts_as_uploaded() {
    let store = TestStore::start();
    // A "drop box" bucket policy grants PutObject but not GetObject.
    let relay = Relay::start(
        &store.endpoint,
        &[("HEAD", 10, Fault::Answer(403, "AccessDenied"))],
    );
    let (code, log) = put(
        &store,
        &env(&store, &relay.endpoint(), &[]),
        b"dropped",
        "dropbox.txt",
    );
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("size not checked: HEAD refused"), "{log}");
    assert_eq!(
        store.get(&store.key_for("dropbox.txt")).as_deref(),
        Some(&b"dropped"[..])
    );
}
