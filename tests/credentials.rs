//! Each credential source end to end: toss gets its keys the way a pod would, and the
//! object lands in the real, signature-checking S3 server.
//!
//! STS and the container credentials endpoint are plain HTTP: a small server here checks
//! what toss sends (action, version, role, token, Authorization header) and answers with
//! the documented response, handing out the test store's keys.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;

use support::{text, toss, TestStore};

const BIN: &str = env!("CARGO_BIN_EXE_toss");

/// One HTTP request as the fake endpoint saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// A one-route HTTP server: records each request and answers with `respond(&seen)`.
fn endpoint(
    respond: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut s = Seen::default();
            reader.read_line(&mut s.request_line).unwrap();
            let mut len = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
                s.headers
                    .push((k.to_ascii_lowercase(), v.trim().to_string()));
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            s.body = String::from_utf8_lossy(&body).into();
            let (status, answer) = respond(&s);
            log.lock().unwrap().push(s);
            let mut out = stream;
            let _ = write!(
                out,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, seen)
}

/// The session token the fake endpoints hand out. SeaweedFS looks a session token up in its
/// own STS and refuses it for a static identity, so against SeaweedFS the keys come without
/// one; s3s-fs (the default) accepts a token, so the hermetic run covers tokens.
fn session_token(store: &TestStore, token: &str) -> String {
    if store.is_embedded() {
        token.to_string()
    } else {
        String::new()
    }
}

fn header<'a>(s: &'a Seen, name: &str) -> Option<&'a str> {
    s.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The store's settings without its static keys.
fn keyless_env(store: &TestStore) -> Vec<(String, String)> {
    let mut env = store.env();
    env.retain(|(k, _)| k != "ACCESS_KEY_ID" && k != "SECRET_ACCESS_KEY");
    env
}

fn put_file(env: &[(String, String)], name: &str) -> (Option<i32>, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    let data = support::bytes(100_000, name.len() as u64);
    fs::write(&file, &data).unwrap();
    let out = toss(Path::new(BIN), &["put", file.to_str().unwrap()], env);
    (out.status.code(), text(&out), data)
}

#[test]
fn keys_mounted_as_files_are_read() {
    let store = TestStore::start();
    let secrets = tempfile::tempdir().unwrap();
    fs::write(secrets.path().join("id"), format!("{}\n", store.access_key)).unwrap();
    fs::write(
        secrets.path().join("key"),
        format!("{}\n", store.secret_key),
    )
    .unwrap();
    let mut env = keyless_env(&store);
    env.push((
        "ACCESS_KEY_ID_FILE".into(),
        secrets.path().join("id").display().to_string(),
    ));
    env.push((
        "SECRET_ACCESS_KEY_FILE".into(),
        secrets.path().join("key").display().to_string(),
    ));
    let (code, log, data) = put_file(&env, "from-files.bin");
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("credentials from files"),
        "the source is named: {log}"
    );
    assert!(!log.contains(&store.secret_key));
    assert_eq!(store.get(&store.key_for("from-files.bin")), Some(data));

    // A missing file is a clear, early failure that names the setting.
    env.retain(|(k, _)| k != "SECRET_ACCESS_KEY_FILE");
    env.push(("SECRET_ACCESS_KEY_FILE".into(), "/nonexistent/key".into()));
    let (code, log, _) = put_file(&env, "missing.bin");
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("SECRET_ACCESS_KEY_FILE /nonexistent/key: cannot read"),
        "{log}"
    );
}

#[test]
fn irsa_assumes_the_role_through_sts_with_the_projected_token() {
    let store = TestStore::start();
    let (access, secret) = (store.access_key.clone(), store.secret_key.clone());
    let token = session_token(&store, "sts-session-token-value");
    let (sts, seen) = endpoint(move |req| {
        let ok = req.body.contains("Action=AssumeRoleWithWebIdentity")
            && req.body.contains("Version=2011-06-15")
            && req
                .body
                .contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fsonobuoy-results")
            && req
                .body
                .contains("WebIdentityToken=projected.jwt.token-value");
        if !ok {
            return (400, "<ErrorResponse><Error><Code>InvalidParameter</Code><Message>bad request</Message></Error></ErrorResponse>".into());
        }
        (
            200,
            format!(
                "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
                 <AccessKeyId>{access}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>\
                 <SessionToken>{token}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>\
                 </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
            ),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("token"), "projected.jwt.token-value").unwrap();
    let mut env = keyless_env(&store);
    env.push((
        "AWS_ROLE_ARN".into(),
        "arn:aws:iam::123456789012:role/sonobuoy-results".into(),
    ));
    env.push((
        "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
        dir.path().join("token").display().to_string(),
    ));
    env.push(("AWS_ROLE_SESSION_NAME".into(), "e2e-session".into()));
    env.push(("AWS_ENDPOINT_URL_STS".into(), sts));
    let (code, log, data) = put_file(&env, "irsa.bin");
    assert_eq!(code, Some(0), "{log}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "one AssumeRoleWithWebIdentity: {seen:?}");
    assert!(seen[0].request_line.starts_with("POST / "), "{:?}", seen[0]);
    assert!(
        seen[0].body.contains("RoleSessionName=e2e-session"),
        "{:?}",
        seen[0]
    );
    assert!(log.contains("IRSA web identity"), "{log}");
    for secret in [
        "projected.jwt.token-value",
        "sts-session-token-value",
        &store.secret_key,
    ] {
        assert!(!log.contains(secret), "{secret} leaked: {log}");
    }
    assert_eq!(store.get(&store.key_for("irsa.bin")), Some(data));
}

#[test]
fn irsa_credentials_about_to_expire_are_fetched_again_during_a_multipart_upload() {
    let store = TestStore::start();
    let (access, secret) = (store.access_key.clone(), store.secret_key.clone());
    // Expiring in four minutes: inside the five-minute margin, so every request refreshes.
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 240;
    let expiration = toss::log::timestamp_rfc3339((soon, 0));
    let token = session_token(&store, "t");
    let (sts, seen) = endpoint(move |_| {
        (
            200,
            format!(
                "<R><Credentials><AccessKeyId>{access}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>\
                 <SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials></R>"
            ),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("token"), "jwt").unwrap();
    let mut env = keyless_env(&store);
    env.extend([
        (
            "AWS_ROLE_ARN".to_string(),
            "arn:aws:iam::1:role/r".to_string(),
        ),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
            dir.path().join("token").display().to_string(),
        ),
        ("AWS_ENDPOINT_URL_STS".into(), sts),
        ("MULTIPART_THRESHOLD".into(), "5MiB".into()),
        ("PART_SIZE".into(), "5MiB".into()),
    ]);
    let file = dir.path().join("long.bin");
    let data = support::bytes(16 * 1024 * 1024, 3);
    fs::write(&file, &data).unwrap();
    let out = toss(Path::new(BIN), &["put", file.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let fetches = seen.lock().unwrap().len();
    assert!(
        fetches > 2,
        "credentials were not refreshed during the upload ({fetches} fetches)"
    );
    assert!(
        text(&out).contains("refreshed the credentials"),
        "{}",
        text(&out)
    );
    assert_eq!(store.get(&store.key_for("long.bin")), Some(data));
}

#[test]
fn the_container_endpoint_is_asked_with_the_authorization_token_from_its_file() {
    let store = TestStore::start();
    let (access, secret) = (store.access_key.clone(), store.secret_key.clone());
    let token = session_token(&store, "container-session-token");
    let (uri, seen) = endpoint(move |req| {
        if header(req, "authorization") != Some("pod-identity-token-value") {
            return (401, "{\"Code\":\"Unauthorized\"}".into());
        }
        (
            200,
            format!(
                "{{\"AccessKeyId\":\"{access}\",\"SecretAccessKey\":\"{}\",\"Token\":\"{token}\",\"Expiration\":\"2099-01-01T00:00:00Z\"}}",
                secret.replace('/', "\\/"),
            ),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("token"), "pod-identity-token-value\n").unwrap();
    let mut env = keyless_env(&store);
    env.push((
        "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
        format!("{uri}/v1/credentials"),
    ));
    env.push((
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(),
        dir.path().join("token").display().to_string(),
    ));
    let (code, log, data) = put_file(&env, "pod-identity.bin");
    assert_eq!(code, Some(0), "{log}");
    let seen = seen.lock().unwrap();
    assert!(
        seen[0].request_line.starts_with("GET /v1/credentials "),
        "{:?}",
        seen[0]
    );
    assert!(log.contains("container credentials endpoint"), "{log}");
    for secret in [
        "pod-identity-token-value",
        "container-session-token",
        &store.secret_key,
    ] {
        assert!(!log.contains(secret), "{secret} leaked: {log}");
    }
    assert_eq!(store.get(&store.key_for("pod-identity.bin")), Some(data));
}

#[test]
fn an_upload_url_needs_no_credentials_and_the_worker_still_gets_the_results() {
    let store = TestStore::start();
    let pod = support::Pod::new();
    let key = store.key_for("e2e.tar.gz");
    let url = store.presigned_put(&key);
    fs::write(pod.read.join("e2e.tar.gz"), b"results via a presigned URL").unwrap();
    fs::write(pod.read.join("done"), "e2e.tar.gz").unwrap();
    let env: Vec<(String, String)> = vec![
        ("READ_RESULTS_DIR".into(), pod.read.display().to_string()),
        ("WRITE_RESULTS_DIR".into(), pod.write.display().to_string()),
        ("POLL_INTERVAL".into(), "100ms".into()),
        ("UPLOAD_URL".into(), url.clone()),
    ];
    let out = toss(Path::new(BIN), &[], &env);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(
        store.get(&key).as_deref(),
        Some(&b"results via a presigned URL"[..])
    );
    assert_eq!(pod.handed_off().unwrap().1, b"results via a presigned URL");
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap();
    assert!(
        !log.contains(signature),
        "the URL's signature leaked: {log}"
    );
}

#[test]
fn a_credentials_endpoint_not_ready_at_start_is_asked_again_before_the_upload() {
    let store = TestStore::start();
    let (access, secret) = (store.access_key.clone(), store.secret_key.clone());
    let token = session_token(&store, "t");
    let calls = std::sync::atomic::AtomicUsize::new(0);
    // The Pod Identity agent is still starting: its first answer is a 503.
    let (uri, seen) = endpoint(move |_| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return (503, "{}".into());
        }
        (
            200,
            format!(
                "{{\"AccessKeyId\":\"{access}\",\"SecretAccessKey\":\"{}\",\"Token\":\"{token}\"}}",
                secret.replace('/', "\\/"),
            ),
        )
    });
    let mut env = keyless_env(&store);
    env.push((
        "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
        format!("{uri}/v1/credentials"),
    ));
    let (code, log, data) = put_file(&env, "late-agent.bin");
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("trying again before the upload"), "{log}");
    assert!(seen.lock().unwrap().len() >= 2);
    assert_eq!(store.get(&store.key_for("late-agent.bin")), Some(data));
}
