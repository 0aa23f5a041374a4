//! No secret ever reaches stdout or stderr: not the secret key, not a session token, not a
//! web-identity or container token, not a presigned URL's signature or credential. Every
//! failure path a user can hit is run with recognisable values, and the whole output of
//! each run is searched for them.

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use support::relay::{Fault, Relay};
use support::{text, toss, Pod, TestStore};

const BIN: &str = env!("CARGO_BIN_EXE_toss");

const SECRET: &str = "SECRETKEY-d41d8cd98f00b204e980";
const TOKEN: &str = "SESSIONTOKEN-9e107d9d372bb6826bd8";
const IDENTITY: &str = "WEBIDENTITY-e4d909c290d0fb1ca068";
const AUTH: &str = "CONTAINERAUTH-3b5d5c3712955042212";

/// Everything that must never be printed, whatever happened.
fn assert_clean(what: &str, output: &str) {
    for secret in [SECRET, TOKEN, IDENTITY, AUTH] {
        assert!(
            !output.contains(secret),
            "{what}: {secret} leaked:\n{output}"
        );
    }
    for param in [
        "X-Amz-Signature=",
        "X-Amz-Credential=",
        "X-Amz-Security-Token=",
    ] {
        for (at, _) in output.match_indices(param) {
            let value = &output[at + param.len()..];
            assert!(
                value.starts_with("***"),
                "{what}: a {param} value leaked:\n{output}"
            );
        }
    }
    assert!(!output.contains("panicked"), "{what}: {output}");
}

fn run(env: &[(String, String)], args: &[&str]) -> String {
    text(&toss(Path::new(BIN), args, env))
}

fn set(env: &mut Vec<(String, String)>, pairs: &[(&str, &str)]) {
    for (k, v) in pairs {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
}

#[test]
fn no_failure_path_prints_a_secret() {
    let store = TestStore::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.tar.gz");
    fs::write(&file, vec![7u8; 6 * 1024 * 1024]).unwrap();
    let file = file.to_str().unwrap().to_string();
    fs::write(dir.path().join("identity"), IDENTITY).unwrap();
    fs::write(dir.path().join("auth"), AUTH).unwrap();

    // Static keys with a token; the store refuses them (wrong secret).
    let mut wrong = store.env();
    set(
        &mut wrong,
        &[
            ("SECRET_ACCESS_KEY", SECRET),
            ("SESSION_TOKEN", TOKEN),
            ("RETRY_ATTEMPTS", "2"),
        ],
    );

    let relay = Relay::start(
        &store.endpoint,
        &[
            ("partNumber=1&", 100, Fault::Answer(503, "SlowDown")),
            ("PUT", 100, Fault::ResetMidBody),
        ],
    );
    // (what, environment, arguments)
    type Case<'a> = (&'a str, Vec<(String, String)>, Vec<String>);
    let mut cases: Vec<Case> = Vec::new();
    cases.push((
        "wrong secret, single PUT",
        wrong.clone(),
        vec!["put".into(), file.clone()],
    ));
    let mut e = wrong.clone();
    set(
        &mut e,
        &[("MULTIPART_THRESHOLD", "5MiB"), ("PART_SIZE", "5MiB")],
    );
    cases.push((
        "wrong secret, multipart",
        e,
        vec!["put".into(), file.clone()],
    ));
    let mut e = wrong.clone();
    set(&mut e, &[("ENDPOINT", &format!("http://{closed}"))]);
    cases.push(("store down", e, vec!["put".into(), file.clone()]));
    let mut e = wrong.clone();
    set(
        &mut e,
        &[
            ("ENDPOINT", &relay.endpoint()),
            ("MULTIPART_THRESHOLD", "5MiB"),
            ("PART_SIZE", "5MiB"),
        ],
    );
    cases.push(("503s and resets", e, vec!["put".into(), file.clone()]));
    let mut e = wrong.clone();
    set(
        &mut e,
        &[
            ("ENDPOINT", "https://127.0.0.1:1"),
            ("CA_BUNDLE", "/nonexistent.pem"),
        ],
    );
    cases.push(("bad CA bundle", e, vec!["put".into(), file.clone()]));
    let mut e = wrong.clone();
    set(&mut e, &[("POLL_INTERVAL", "soon"), ("BUCKET", "a/b")]);
    cases.push(("bad settings", e, vec![]));
    cases.push(("--help", wrong.clone(), vec!["--help".into()]));
    cases.push(("--version", wrong.clone(), vec!["--version".into()]));
    let mut e = wrong.clone();
    set(&mut e, &[("SECRET_ACCESS_KEY", "")]);
    set(&mut e, &[("ACCESS_KEY_ID", "")]);
    set(
        &mut e,
        &[
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                dir.path().join("identity").to_str().unwrap(),
            ),
            ("AWS_ENDPOINT_URL_STS", &format!("http://{closed}")),
        ],
    );
    cases.push(("STS unreachable", e, vec!["put".into(), file.clone()]));
    let mut e = wrong.clone();
    set(&mut e, &[("SECRET_ACCESS_KEY", ""), ("ACCESS_KEY_ID", "")]);
    set(
        &mut e,
        &[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                &format!("http://{}/creds", relay.addr),
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", AUTH),
        ],
    );
    cases.push((
        "container endpoint refuses",
        e,
        vec!["put".into(), file.clone()],
    ));
    let url = store.presigned_put(&store.key_for("x"));
    let tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    let e = vec![("UPLOAD_URL".to_string(), tampered)];
    cases.push(("UPLOAD_URL refused", e, vec!["put".into(), file.clone()]));

    for (what, env, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(env, &args);
        assert_clean(what, &output);
        // The URL's own signature, too.
        if let Some((_, v)) = env.iter().find(|(k, _)| k == "UPLOAD_URL") {
            let signature = v.split("X-Amz-Signature=").nth(1).unwrap();
            assert!(!output.contains(signature), "{what}: {output}");
        }
    }
}

#[test]
fn a_sidecar_run_that_fails_every_way_prints_no_secret() {
    let store = TestStore::start();
    for (what, named) in [
        ("outside", "/etc/passwd"),
        ("several", "a\nb"),
        ("missing", "nope.tar.gz"),
    ] {
        let pod = Pod::new();
        fs::write(pod.read.join("done"), named).unwrap();
        let mut env = pod.env(&store);
        set(
            &mut env,
            &[
                ("SECRET_ACCESS_KEY", SECRET),
                ("SESSION_TOKEN", TOKEN),
                ("DONE_TIMEOUT", "1s"),
            ],
        );
        let out = support::finish(
            std::process::Command::new(BIN)
                .env_clear()
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
            Duration::from_secs(30),
        );
        assert_clean(what, &text(&out));
    }
}
