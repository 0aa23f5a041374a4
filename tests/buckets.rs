//! Buckets with policies: encryption, storage class, ACL, metadata and tags reach the store,
//! signed into each request, on single PUT and multipart alike.
//!
//! SeaweedFS (CI) stores and reports SSE-S3, SSE-C, metadata, tags and storage class, so
//! against it the object is read back. s3s-fs (the hermetic default) keeps metadata but not
//! the rest, so there the requests themselves are checked: each header is listed in
//! `X-Amz-SignedHeaders`. SSE-KMS needs a KMS, which neither has: its requests are checked.

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use rusty_s3::S3Action;
use support::relay::Relay;
use support::{bytes, with, TestStore};

const BIN: &str = env!("CARGO_BIN_EXE_toss");
const MIB: usize = 1024 * 1024;

fn env(store: &TestStore, endpoint: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let small_parts = with(
        &store.env(),
        &[
            ("ENDPOINT", endpoint),
            ("MULTIPART_THRESHOLD", "5MiB"),
            ("PART_SIZE", "5MiB"),
        ],
    );
    with(&small_parts, extra)
}

fn put(env: &[(String, String)], name: &str, data: &[u8]) -> (Option<i32>, String) {
    support::put_file(Path::new(BIN), env, name, data)
}

/// HEAD an object (with extra signed headers, such as an SSE-C key): status and headers.
fn head(store: &TestStore, key: &str, extra: &[(&str, &str)]) -> (u16, Vec<(String, String)>) {
    let (bucket, creds) = (store.bucket(), store.credentials());
    let mut action = bucket.head_object(Some(&creds), key);
    for (k, v) in extra {
        action.headers_mut().insert(*k, *v);
    }
    let url = action.sign(Duration::from_secs(600));
    let mut req = support::agent().head(url.as_str());
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.call().unwrap();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    (resp.status().as_u16(), headers)
}

/// GetObjectTagging, as raw XML.
fn tagging(store: &TestStore, key: &str) -> String {
    let (bucket, creds) = (store.bucket(), store.credentials());
    let mut action = bucket.get_object(Some(&creds), key);
    action.query_mut().insert("tagging", "");
    let url = action.sign(Duration::from_secs(600));
    support::agent()
        .get(url.as_str())
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The request lines toss sent with a body or a create, each of which must sign `header`.
fn assert_signed(relay: &Relay, header: &str, what: &str) {
    let requests = relay.requests();
    let writes: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("PUT") && !r.contains("partNumber=") || r.contains("uploads="))
        .collect();
    assert!(
        !writes.is_empty(),
        "{what}: no PUT or CreateMultipartUpload seen: {requests:#?}"
    );
    for r in writes {
        let signed = r
            .split("X-Amz-SignedHeaders=")
            .nth(1)
            .unwrap_or("")
            .split(['&', ' '])
            .next()
            .unwrap();
        assert!(
            signed.split("%3B").any(|h| h == header),
            "{what}: {header} not signed in {r}"
        );
    }
}

#[test]
fn metadata_tags_class_acl_and_sse_s3_reach_the_object_single_and_multipart() {
    let store = TestStore::start();
    let relay = Relay::start(&store.endpoint, &[]);
    // s3s-fs refuses any class but STANDARD (InvalidStorageClass).
    let class = if store.is_embedded() {
        "STANDARD"
    } else {
        "STANDARD_IA"
    };
    let settings: &[(&str, &str)] = &[
        ("SSE", "AES256"),
        ("STORAGE_CLASS", class),
        ("ACL", "bucket-owner-full-control"),
        ("METADATA", "team=conformance,run=42"),
        ("TAGS", "plugin=e2e&node={node}"),
        ("NODE_NAME", "worker-7"),
    ];
    for (name, size) in [("single.bin", MIB), ("multi.bin", 11 * MIB)] {
        let data = bytes(size, size as u64);
        let (code, log) = put(&env(&store, &relay.endpoint(), settings), name, &data);
        assert_eq!(code, Some(0), "{name}: {log}");
        for header in [
            "x-amz-server-side-encryption",
            "x-amz-storage-class",
            "x-amz-acl",
            "x-amz-tagging",
            "x-amz-meta-team",
            "x-amz-meta-run",
            "x-amz-meta-toss-node",
            "x-amz-meta-toss-pod",
            "x-amz-meta-toss-version",
        ] {
            assert_signed(&relay, header, name);
        }
        let key = store.key_for(name);
        assert!(store.get(&key) == Some(data), "{name}: object differs");
        let (status, h) = head(&store, &key, &[]);
        assert_eq!(status, 200);
        // Metadata is kept by both servers.
        assert_eq!(
            get(&h, "x-amz-meta-team"),
            Some("conformance"),
            "{name}: {h:?}"
        );
        assert_eq!(
            get(&h, "x-amz-meta-toss-node"),
            Some("worker-7"),
            "{name}: {h:?}"
        );
        if !store.is_embedded() {
            assert_eq!(
                get(&h, "x-amz-server-side-encryption"),
                Some("AES256"),
                "{name}: {h:?}"
            );
            assert_eq!(get(&h, "x-amz-storage-class"), Some(class), "{name}: {h:?}");
            let tags = tagging(&store, &key);
            assert!(
                tags.contains("<Key>node</Key><Value>worker-7</Value>"),
                "{name}: {tags}"
            );
            assert!(
                tags.contains("<Key>plugin</Key><Value>e2e</Value>"),
                "{name}: {tags}"
            );
        }
    }
}

#[test]
fn sse_kms_headers_are_signed_into_the_requests() {
    let store = TestStore::start();
    let relay = Relay::start(&store.endpoint, &[]);
    let settings: &[(&str, &str)] = &[
        ("SSE", "aws:kms"),
        (
            "SSE_KMS_KEY_ID",
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        ("SSE_KMS_CONTEXT", "{\"team\":\"conformance\"}"),
        ("RETRY_ATTEMPTS", "1"),
    ];
    // Neither test server has a KMS: the answer does not matter here, the request does.
    let _ = put(&env(&store, &relay.endpoint(), settings), "kms.bin", b"kms");
    let _ = put(
        &env(&store, &relay.endpoint(), settings),
        "kms-multi.bin",
        &bytes(6 * MIB, 1),
    );
    for header in [
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-context",
    ] {
        assert_signed(&relay, header, "SSE-KMS");
    }
}

#[test]
fn sse_c_objects_need_the_key_to_be_read_and_every_part_carries_it() {
    let store = TestStore::start();
    let relay = Relay::start(&store.endpoint, &[]);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("sse-c.key");
    let key = [0x5au8; 32];
    fs::write(&key_file, key).unwrap();
    let settings = [("SSE_C_KEY_FILE", key_file.to_str().unwrap())];
    let data = bytes(11 * MIB, 9);
    let (code, log) = put(
        &env(&store, &relay.endpoint(), &settings),
        "secret.bin",
        &data,
    );
    let requests = relay.requests();
    let parts: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("partNumber="))
        .collect();
    assert_eq!(parts.len(), 3, "{requests:#?}");
    for r in parts.iter().chain(
        requests
            .iter()
            .filter(|r| r.starts_with("HEAD"))
            .collect::<Vec<_>>()
            .iter(),
    ) {
        assert!(
            r.contains("x-amz-server-side-encryption-customer-key"),
            "the key is not signed into {r}"
        );
    }
    // The key must never be printed.
    let b64 = toss::upload::base64(&key);
    assert!(!log.contains(&b64), "the SSE-C key leaked: {log}");
    if store.is_embedded() {
        return; // s3s-fs ignores SSE-C; the requests above are what can be checked.
    }
    assert_eq!(code, Some(0), "{log}");
    let object = store.key_for("secret.bin");
    let (without, _) = head(&store, &object, &[]);
    assert_ne!(without, 200, "an SSE-C object was readable without its key");
    let md5 = {
        use md5::{Digest, Md5};
        toss::upload::base64(&Md5::digest(key))
    };
    let (with, _) = head(
        &store,
        &object,
        &[
            ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
            ("x-amz-server-side-encryption-customer-key", &b64),
            ("x-amz-server-side-encryption-customer-key-md5", &md5),
        ],
    );
    assert_eq!(with, 200, "the key did not open the object");
}

#[test]
fn bad_object_settings_are_listed_before_anything_is_sent() {
    let store = TestStore::start();
    let (code, log) = put(
        &env(
            &store,
            &store.endpoint,
            &[
                ("SSE", "aes"),
                ("SSE_KMS_KEY_ID", "my key"),
                ("STORAGE_CLASS", "cold"),
                ("ACL", "everyone"),
                ("METADATA", "bad key=1"),
                ("TAGS", "=x"),
            ],
        ),
        "x.bin",
        b"x",
    );
    assert_eq!(code, Some(2), "{log}");
    for name in [
        "SSE ",
        "SSE_KMS_KEY_ID",
        "STORAGE_CLASS",
        "ACL",
        "METADATA",
        "TAGS",
    ] {
        assert!(log.contains(name), "{name} missing from: {log}");
    }
    assert!(store.keys().is_empty());
}
