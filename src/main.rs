//! toss: a Sonobuoy sidecar. It waits for the plugin's done file, uploads the results it
//! names to S3, then hands the results on to the Sonobuoy worker with a done file of its
//! own. `toss put FILE [KEY]` uploads one file with the same settings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use toss::donefile::{self, Results};
use toss::key::KeyFacts;
use toss::object::{self, ObjectSettings, SseC};
use toss::settings::{self, Command, HostFacts, Settings};
use toss::{log, retry, s3, signal, upload};

/// Exit statuses, as documented in the README and `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Uploaded = 0,
    Other = 1,
    BadSettings = 2,
    NoDoneFile = 3,
    UploadFailed = 4,
    HandoffFailed = 5,
}

fn main() -> ExitCode {
    signal::install();
    let status = run();
    // A signal ends the run early, and the exit status says which one, as shells do.
    match signal::received() {
        Some(sig) => ExitCode::from(128 + sig as u8),
        None => ExitCode::from(status as u8),
    }
}

fn run() -> Status {
    let Some(args) = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().ok())
        .collect::<Option<Vec<_>>>()
    else {
        log::error("bad settings: an argument is not valid UTF-8");
        return Status::BadSettings;
    };
    let env = |name: &str| std::env::var(name).ok();
    let (command, settings) = match settings::parse(&args, &env, &host_facts()) {
        Ok(parsed) => parsed,
        Err(problems) => {
            let n = problems.len();
            log::error(format!(
                "bad settings ({n} problem{}); see --help:",
                if n == 1 { "" } else { "s" }
            ));
            for p in problems {
                log::error(format!("  {p}"));
            }
            return Status::BadSettings;
        }
    };
    match (command, settings) {
        (Command::Help, _) => {
            print!("{}", settings::help());
            Status::Uploaded
        }
        (Command::Version, _) => {
            println!("toss {}", env!("CARGO_PKG_VERSION"));
            Status::Uploaded
        }
        // `put` takes the file the user names, symlink or not (the sidecar does not follow
        // links out of READ_RESULTS_DIR; here there is no such boundary).
        (Command::Put { file, key }, Some(s)) => {
            // The key is named after the path as given, the link's name if it is one.
            let key = key.or_else(|| object_key(&s, &file).ok());
            let file = std::fs::canonicalize(&file).unwrap_or(file);
            put(&s, &file, key)
        }
        (Command::Sidecar, Some(s)) => sidecar(&s),
        (_, None) => Status::Other,
    }
}

/// The sidecar: wait for the done file, upload, hand off (or hand off, then upload).
fn sidecar(s: &Settings) -> Status {
    let Some((store, object)) = connect(s) else {
        return Status::BadSettings;
    };
    log::info(format!(
        "toss {}: waiting for {}/done; results go to {} and to {}",
        env!("CARGO_PKG_VERSION"),
        s.read_dir.display(),
        store.describe(s.object_key.source()),
        s.write_dir.display()
    ));

    // 1. Wait for the plugin's done file and find what it names.
    let results = match donefile::wait(
        &s.read_dir,
        s.poll_interval,
        s.done_timeout,
        &signal::stopping,
    ) {
        Ok(Some(results)) => results,
        Ok(None) => {
            log::info(format!(
                "stopped by {} while waiting; nothing to hand off",
                stop_signal()
            ));
            return Status::Other;
        }
        Err(e @ donefile::DoneError::TimedOut { .. }) => {
            log::error(format!("gave up waiting: {e}"));
            return Status::NoDoneFile;
        }
        Err(e) => {
            log::error(format!("nothing uploaded or handed off: {e}"));
            return Status::HandoffFailed;
        }
    };

    // 2. A directory is packed into the write dir, so the read volume may be read-only.
    let file = match results {
        Results::File(path) => {
            log::info(format!(
                "the done file names {} ({})",
                path.display(),
                size_of(&path)
            ));
            path
        }
        Results::Dir(dir) => {
            log::info(format!(
                "the done file names the directory {}; packing it",
                dir.display()
            ));
            let packed = donefile::check_write_dir(&s.write_dir).and_then(|()| {
                // The walk yields canonical paths: so must the plugin's done file it skips.
                let done =
                    std::fs::canonicalize(&s.read_dir).unwrap_or_else(|_| s.read_dir.clone());
                donefile::pack(&dir, &s.write_dir, &done.join(donefile::DONE))
            });
            match packed {
                Ok(packed) => {
                    log::info(format!(
                        "packed {} into {} ({})",
                        dir.display(),
                        packed.display(),
                        size_of(&packed)
                    ));
                    packed
                }
                Err(e) => {
                    log::error(format!(
                        "nothing uploaded or handed off: cannot pack the results: {e}{}",
                        write_hint(&e, &s.write_dir)
                    ));
                    return Status::HandoffFailed;
                }
            }
        }
    };

    // 3. Upload and hand off, in the order asked for. The handoff happens whatever the
    //    upload did: the worker must get the results even when S3 does not.
    let (uploaded, handed_off) = if s.handoff_first {
        let h = hand_off(&file, &s.write_dir);
        (upload(s, &store, &object, &file, None), h)
    } else {
        let u = upload(s, &store, &object, &file, None);
        (u, hand_off(&file, &s.write_dir))
    };
    if signal::stopping() {
        log::info(format!(
            "stopped by {}; the results were {}handed off",
            stop_signal(),
            if handed_off { "" } else { "NOT " }
        ));
    }
    match (uploaded, handed_off) {
        (_, false) => Status::HandoffFailed,
        (false, true) => Status::UploadFailed,
        (true, true) => Status::Uploaded,
    }
}

/// `toss put FILE [KEY]`: one upload, no done files.
fn put(s: &Settings, file: &Path, key: Option<String>) -> Status {
    let Some((store, object)) = connect(s) else {
        return Status::BadSettings;
    };
    if upload(s, &store, &object, file, key) {
        Status::Uploaded
    } else {
        Status::UploadFailed
    }
}

/// The store, and what every object carries (with the SSE-C key read from its file).
fn connect(s: &Settings) -> Option<(Arc<s3::Store>, ObjectSettings)> {
    if let Some(url) = &s.upload_url {
        log::add_secret(url.expose());
    }
    let mut object = s.object.clone();
    if let Some(path) = &s.sse_c_key_file {
        match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| SseC::from_file_bytes(&b))
        {
            Ok(key) => {
                log::add_secret(key.secret());
                object.sse_c = Some(key);
            }
            Err(e) => {
                log::error(format!(
                    "bad settings: SSE_C_KEY_FILE {}: {e}",
                    path.display()
                ));
                return None;
            }
        }
    }
    match s3::Store::new(s) {
        Ok(store) => Some((Arc::new(store), object)),
        Err(e) => {
            log::error(format!("bad settings: {e}"));
            None
        }
    }
}

fn upload(
    s: &Settings,
    store: &Arc<s3::Store>,
    object: &ObjectSettings,
    file: &Path,
    key: Option<String>,
) -> bool {
    let key = match key.map_or_else(|| object_key(s, file), Ok) {
        Ok(k) => k,
        Err(e) => {
            log::error(format!("upload failed: OBJECT_KEY: {e}"));
            return false;
        }
    };
    let target = store.describe(&key);
    log::info(format!(
        "uploading {} ({}) to {target}",
        file.display(),
        size_of(file)
    ));
    let mut object = object.clone();
    if let Some(tags) = &s.tags {
        match expand(tags, s, file).and_then(|t| object::parse_tags(&t)) {
            Ok(tags) => object.tagging = Some(object::encode_tags(&tags)),
            Err(e) => {
                log::error(format!("upload failed: TAGS: {e}"));
                return false;
            }
        }
    }
    match upload_until_signal(store, file, &key, transfer_options(s, object)) {
        Ok(done) => {
            let secs = done.elapsed.as_secs_f64();
            log::info(format!(
                "uploaded {} bytes to {target} in {secs:.2}s ({}/s, {} part{}, {})",
                done.bytes,
                upload::human((done.bytes as f64 / secs.max(1e-6)) as u64),
                done.parts,
                if done.parts == 1 { "" } else { "s" },
                done.verified
            ));
            true
        }
        Err(e) => {
            log::error(format!("upload to {target} failed: {e}"));
            false
        }
    }
}

/// Upload on a thread of its own, so that a signal is answered within Kubernetes' grace
/// period even while a request is stuck in a socket: abort the multipart upload under way
/// and return, leaving the thread behind (the process is about to end).
fn upload_until_signal(
    store: &Arc<s3::Store>,
    file: &Path,
    key: &str,
    options: upload::Options,
) -> Result<upload::Uploaded, s3::S3Error> {
    let (store_, file_, key_) = (store.clone(), file.to_path_buf(), key.to_string());
    let worker = std::thread::spawn(move || upload::upload(&store_, &file_, &key_, &options));
    while !worker.is_finished() {
        if signal::stopping() {
            upload::abort_open(store);
            return Err(s3::S3Error::Stopped);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    worker
        .join()
        .unwrap_or_else(|_| Err(s3::S3Error::Changed("the upload thread panicked".into())))
}

fn transfer_options(s: &Settings, object: ObjectSettings) -> upload::Options {
    upload::Options {
        multipart_threshold: s.multipart_threshold,
        part_size: s.part_size,
        concurrency: s.concurrency,
        checksum: s.checksum,
        retry: retry::Policy {
            attempts: s.retry_attempts,
            base: std::time::Duration::from_millis(200),
            cap: std::time::Duration::from_secs(20),
            // A deadline too far off to represent is no deadline.
            deadline: s
                .upload_timeout
                .and_then(|t| std::time::Instant::now().checked_add(t)),
        },
        progress_every: s.progress_interval,
        object,
    }
}

fn object_key(s: &Settings, file: &Path) -> Result<String, String> {
    expand(&s.object_key, s, file)
}

/// OBJECT_KEY or TAGS for this file, this pod, now.
fn expand(template: &toss::key::KeyTemplate, s: &Settings, file: &Path) -> Result<String, String> {
    let basename = file
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    template.expand(&KeyFacts {
        basename: &basename,
        node: &s.node,
        pod: &s.pod,
        namespace: &s.namespace,
        now: log::now_unix().0,
    })
}

fn hand_off(file: &Path, write_dir: &Path) -> bool {
    match donefile::hand_off(file, write_dir) {
        Ok(target) => {
            log::info(format!(
                "handed off {} to the worker: {}/done names it",
                target.display(),
                write_dir.display()
            ));
            true
        }
        Err(e) => {
            log::error(format!(
                "handoff failed, the worker gets nothing: {e}{}",
                write_hint(&e, write_dir)
            ));
            false
        }
    }
}

/// What to check when writing into the write dir failed (and only then: a results file
/// that vanished is not the write dir's fault).
fn write_hint(e: &donefile::DoneError, write_dir: &Path) -> &'static str {
    let canonical = std::fs::canonicalize(write_dir).unwrap_or_else(|_| write_dir.to_path_buf());
    match e {
        donefile::DoneError::Io { path, .. }
            if path.starts_with(write_dir) || path.starts_with(&canonical) =>
        {
            " (check that WRITE_RESULTS_DIR is writable by toss and has room)"
        }
        _ => "",
    }
}

fn stop_signal() -> &'static str {
    signal::received().map_or("a signal", signal::name)
}

fn size_of(path: &Path) -> String {
    std::fs::metadata(path).map_or_else(|_| "size unknown".into(), |m| format!("{} bytes", m.len()))
}

/// Defaults for {pod} and {namespace}, read where Kubernetes puts them. The host name comes
/// from the kernel, not /etc/hostname, so it works in an empty root.
fn host_facts() -> HostFacts {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname NUL-terminates within it.
    let hostname = (unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0)
        .then(|| {
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            String::from_utf8_lossy(&buf[..end]).into_owned()
        })
        .filter(|h| !h.is_empty());
    let namespace = std::fs::read_to_string(PathBuf::from(
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
    ))
    .ok()
    .map(|n| n.trim().to_string())
    .filter(|n| !n.is_empty());
    HostFacts {
        hostname,
        namespace,
    }
}
