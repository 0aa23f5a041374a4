//! A real, signature-checking S3 server for tests and the demo.
//!
//! By default each [`TestStore`] is an in-process s3s-fs server on 127.0.0.1 (hermetic:
//! `cargo test` needs nothing installed). With `TOSS_TEST_ENDPOINT` set, the same tests run
//! against that server instead (CI points it at SeaweedFS, which is stricter about
//! unsigned headers); `TOSS_TEST_ACCESS_KEY`, `TOSS_TEST_SECRET_KEY`, `TOSS_TEST_BUCKET`
//! and `TOSS_TEST_REGION` go with it.
#![allow(dead_code)]

pub mod relay;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

pub const ACCESS_KEY: &str = "AKIDTOSSTEST0000001";
pub const SECRET_KEY: &str = "tossTestSecret/abcdefghijklmnop1234567";
pub const BUCKET: &str = "results";
pub const REGION: &str = "us-east-1";

pub struct TestStore {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub bucket: String,
    pub region: String,
    /// Unique per store, so tests sharing an external server never see each other's objects.
    pub prefix: String,
    /// Keeps the embedded server's files alive.
    _root: Option<tempfile::TempDir>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestStore {
    pub fn start() -> TestStore {
        Self::start_with(false)
    }

    /// A store that also answers virtual-host style requests (`results.localhost:PORT`).
    /// SeaweedFS in CI runs with `-s3.domainName=localhost`.
    pub fn start_virtual_host() -> TestStore {
        Self::start_with(true)
    }

    fn start_with(virtual_host: bool) -> TestStore {
        let prefix = format!(
            "t{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                % 1_000_000
        );
        if let Ok(endpoint) = std::env::var("TOSS_TEST_ENDPOINT") {
            let var = |n: &str, d: &str| std::env::var(n).unwrap_or_else(|_| d.to_string());
            return TestStore {
                endpoint,
                access_key: var("TOSS_TEST_ACCESS_KEY", ACCESS_KEY),
                secret_key: var("TOSS_TEST_SECRET_KEY", SECRET_KEY),
                bucket: var("TOSS_TEST_BUCKET", BUCKET),
                region: var("TOSS_TEST_REGION", REGION),
                prefix,
                _root: None,
            };
        }
        let root = tempfile::tempdir().expect("temp dir for the S3 server");
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let addr = embedded::serve(
            root.path().to_path_buf(),
            ACCESS_KEY,
            SECRET_KEY,
            virtual_host,
        );
        TestStore {
            endpoint: format!("http://{addr}"),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            bucket: BUCKET.into(),
            region: REGION.into(),
            prefix,
            _root: Some(root),
        }
    }

    pub fn is_embedded(&self) -> bool {
        self._root.is_some()
    }

    pub fn bucket(&self) -> Bucket {
        Bucket::new(
            self.endpoint.parse().unwrap(),
            UrlStyle::Path,
            self.bucket.clone(),
            self.region.clone(),
        )
        .unwrap()
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new(&self.access_key, &self.secret_key)
    }

    /// The environment toss needs to reach this store, with a key under this store's prefix.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("ENDPOINT", self.endpoint.as_str()),
            ("BUCKET", &self.bucket),
            ("REGION", &self.region),
            ("ACCESS_KEY_ID", &self.access_key),
            ("SECRET_ACCESS_KEY", &self.secret_key),
            (
                "OBJECT_KEY",
                &format!("{}/{{pod}}/{{basename}}", self.prefix),
            ),
            ("POD_NAME", "plugin-pod-0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The key toss's default test template gives `basename`.
    pub fn key_for(&self, basename: &str) -> String {
        format!("{}/plugin-pod-0/{basename}", self.prefix)
    }

    /// Read an object back through the S3 API. `None` when it does not exist.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let bucket = self.bucket();
        let creds = self.credentials();
        let url = bucket
            .get_object(Some(&creds), key)
            .sign(Duration::from_secs(600));
        let agent = agent();
        let mut resp = agent
            .get(url.as_str())
            .call()
            .expect("GET reaches the test store");
        match resp.status().as_u16() {
            200 => {
                let mut body = Vec::new();
                resp.body_mut()
                    .with_config()
                    .limit(u64::MAX)
                    .reader()
                    .read_to_end(&mut body)
                    .unwrap();
                Some(body)
            }
            404 => None,
            other => panic!("GET {key}: status {other}"),
        }
    }

    /// SHA-256 of an object, streamed (for objects too large to hold).
    pub fn sha256_of(&self, key: &str) -> String {
        let bucket = self.bucket();
        let creds = self.credentials();
        let url = bucket
            .get_object(Some(&creds), key)
            .sign(Duration::from_secs(3600));
        let mut resp = agent()
            .get(url.as_str())
            .call()
            .expect("GET reaches the test store");
        assert_eq!(resp.status().as_u16(), 200);
        sha256_hex(resp.body_mut().with_config().limit(u64::MAX).reader())
    }

    /// Keys under this store's prefix.
    pub fn keys(&self) -> Vec<String> {
        let bucket = self.bucket();
        let creds = self.credentials();
        let mut list = ListObjectsV2::new(&bucket, Some(&creds));
        list.with_prefix(self.prefix.clone());
        let url = list.sign(Duration::from_secs(600));
        let mut resp = agent()
            .get(url.as_str())
            .call()
            .expect("LIST reaches the test store");
        let body = resp.body_mut().read_to_string().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{body}");
        ListObjectsV2::parse_response(&body)
            .unwrap()
            .contents
            .into_iter()
            .map(|c| c.key)
            .collect()
    }

    /// Multipart uploads begun under this store's prefix and neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        if let Some(root) = &self._root {
            // s3s-fs has no ListMultipartUploads; it keeps `.upload-<id>.json` per open upload.
            return std::fs::read_dir(root.path())
                .unwrap()
                .filter(|e| {
                    let name = e
                        .as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .to_string();
                    name.starts_with(".upload-") && name.ends_with(".json")
                })
                .count();
        }
        let bucket = self.bucket();
        let creds = self.credentials();
        let url = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            rusty_s3::Method::Get,
            bucket.base_url().clone(),
            creds.key(),
            creds.secret(),
            None,
            &self.region,
            600,
            [("prefix", self.prefix.as_str()), ("uploads", "")].into_iter(),
            std::iter::empty(),
        );
        let mut resp = agent()
            .get(url.as_str())
            .call()
            .expect("ListMultipartUploads reaches the test store");
        let body = resp.body_mut().read_to_string().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{body}");
        body.matches("<UploadId>").count()
    }

    /// A presigned PUT URL for `key`, for baselines such as `curl -T`.
    pub fn presigned_put(&self, key: &str) -> String {
        let bucket = self.bucket();
        let creds = self.credentials();
        bucket
            .put_object(Some(&creds), key)
            .sign(Duration::from_secs(3600))
            .to_string()
    }
}

/// An agent that hands back error statuses instead of failing on them.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// Run the toss binary with exactly `env` (nothing inherited: the machine's AWS_* and
/// proxy variables must not leak into a test). A run that hangs is killed and fails the test.
pub fn toss(bin: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    let child = Command::new(bin)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run toss");
    finish(child, Duration::from_secs(120))
}

/// Wait for `child`, killing it (and failing) after `limit`.
pub fn finish(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().expect("wait for toss");
    let _ = tx.send(());
    assert!(
        out.status.code().is_some(),
        "toss hung and was killed after {limit:?}:\n{}",
        text(&out)
    );
    out
}

/// `env` with each of `extra` set, replacing an earlier value.
pub fn with(env: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// `toss put` of `data`, written to a file called `name`: the exit code and the output.
pub fn put_file(
    bin: &Path,
    env: &[(String, String)],
    name: &str,
    data: &[u8],
) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, data).unwrap();
    let out = toss(bin, &["put", file.to_str().unwrap()], env);
    (out.status.code(), text(&out))
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Read and write results dirs, as a pod's volumes would be.
pub struct Pod {
    pub dir: tempfile::TempDir,
    pub read: PathBuf,
    pub write: PathBuf,
}

impl Pod {
    pub fn new() -> Pod {
        let dir = tempfile::tempdir().unwrap();
        let read = dir.path().join("plugin-results");
        let write = dir.path().join("worker-results");
        std::fs::create_dir(&read).unwrap();
        std::fs::create_dir(&write).unwrap();
        Pod { dir, read, write }
    }

    pub fn env(&self, store: &TestStore) -> Vec<(String, String)> {
        let mut env = store.env();
        env.push(("READ_RESULTS_DIR".into(), self.read.display().to_string()));
        env.push(("WRITE_RESULTS_DIR".into(), self.write.display().to_string()));
        env.push(("POLL_INTERVAL".into(), "100ms".into()));
        env.push(("DONE_TIMEOUT".into(), "20s".into()));
        env
    }

    /// What the worker would read: the path in `<write>/done`, and that file's bytes.
    pub fn handed_off(&self) -> Option<(PathBuf, Vec<u8>)> {
        let done = std::fs::read_to_string(self.write.join("done")).ok()?;
        let path = PathBuf::from(done.trim());
        let bytes = std::fs::read(&path).ok()?;
        Some((path, bytes))
    }
}

pub fn sha256_file(path: &Path) -> String {
    sha256_hex(std::fs::File::open(path).unwrap())
}

fn sha256_hex(mut reader: impl Read) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

mod embedded {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder as ConnBuilder;
    use s3s::auth::SimpleAuth;
    use s3s::service::S3ServiceBuilder;

    /// Serve `root` (one directory per bucket) over S3 on 127.0.0.1, checking SigV4 with
    /// the given key pair, from a runtime on its own thread for the life of the process.
    pub fn serve(
        root: PathBuf,
        access_key: &str,
        secret_key: &str,
        virtual_host: bool,
    ) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        if virtual_host {
            let domain = format!("localhost:{}", addr.port());
            builder.set_host(s3s::host::MultiDomain::new(&[domain]).expect("virtual-host domain"));
        }
        let service = builder.build();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let http = ConnBuilder::new(TokioExecutor::new());
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        continue;
                    };
                    let conn = http
                        .serve_connection(TokioIo::new(socket), service.clone())
                        .into_owned();
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
            });
        });
        addr
    }
}
