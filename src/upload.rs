//! Moving one file into the store: a single PUT, or a multipart upload whose parts are
//! read straight from the file by a small pool of threads.
//!
//! The plan (single or multipart, how large each part is) is a pure function. Bodies are
//! streamed from the file at their offsets with their Content-Length: nothing holds a whole
//! part in memory. With checksums on, a feeder thread hashes part n+1 while the pool sends
//! part n, so hashing costs CPU but not wall time.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Condvar;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::log;
use crate::object::{self, ObjectSettings};
use crate::retry::{self, Policy};
use crate::s3::{self, Part, S3Error, Store};

pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;
/// S3's limits: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 of them,
/// and at most 5 GiB in a single PUT.
pub const MIN_PART: u64 = 5 * MIB;
pub const MAX_PART: u64 = 5 * GIB;
pub const MAX_PARTS: u64 = 10_000;
pub const MAX_SINGLE: u64 = 5 * GIB;

const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Options {
    pub multipart_threshold: u64,
    pub part_size: u64,
    pub concurrency: usize,
    pub checksum: bool,
    pub retry: Policy,
    pub progress_every: Duration,
    /// Encryption, class, ACL, metadata, tags.
    pub object: ObjectSettings,
}

/// What a successful upload did, for the log.
#[derive(Debug)]
pub struct Uploaded {
    pub bytes: u64,
    pub parts: u64,
    pub elapsed: Duration,
    /// What was checked, for the log.
    pub verified: &'static str,
}

// ---------------------------------------------------------------- pure core

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Single,
    Multipart { part_size: u64, parts: u64 },
}

/// Single PUT below the threshold; multipart at or above it, or when a single PUT cannot
/// hold the file. The part size grows (in whole MiB) when the file would need more than
/// 10,000 parts.
pub fn plan(size: u64, threshold: u64, part_size: u64) -> Result<Plan, String> {
    if size < threshold && size <= MAX_SINGLE {
        return Ok(Plan::Single);
    }
    let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    let part_size = part_size.max(needed).clamp(MIN_PART, MAX_PART);
    if size.div_ceil(part_size) > MAX_PARTS {
        return Err(format!(
            "the file is {size} bytes; S3 takes at most {MAX_PARTS} parts of 5 GiB"
        ));
    }
    Ok(Plan::Multipart {
        part_size,
        parts: size.div_ceil(part_size).max(1),
    })
}

/// Offset and length of part `number` (1-based).
pub fn part_range(number: u64, part_size: u64, size: u64) -> (u64, u64) {
    let offset = (number - 1) * part_size;
    (offset, part_size.min(size - offset))
}

/// `1.5 GiB`, `12.0 MiB`, `900 B`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes >= GIB {
        format!("{:.1} GiB", b / GIB as f64)
    } else if bytes >= MIB {
        format!("{:.1} MiB", b / MIB as f64)
    } else if bytes >= 1024 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// A progress line: bytes sent, percent, rate and time left.
pub fn progress_line(sent: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = sent as f64 / secs;
    let percent = if total == 0 {
        100.0
    } else {
        sent as f64 * 100.0 / total as f64
    };
    let eta = if rate > 0.0 {
        format!("{:.0}s", (total.saturating_sub(sent)) as f64 / rate)
    } else {
        "unknown".into()
    };
    format!(
        "sent {} of {} ({percent:.0}%), {}/s, {eta} left",
        human(sent),
        human(total),
        human(rate as u64)
    )
}

/// Standard base64 with padding, as `x-amz-checksum-sha256` wants it.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------- thin shell

/// Upload `path` to `key`, then check that the stored object has the file's size.
pub fn upload(store: &Store, path: &Path, key: &str, o: &Options) -> Result<Uploaded, S3Error> {
    let open_err = |source| S3Error::Open {
        path: path.to_path_buf(),
        source,
    };
    // Not through a symlink: the results were confined to READ_RESULTS_DIR when found, and
    // a file swapped for a link since must not lead out of it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(open_err)?;
    let size = file.metadata().map_err(open_err)?.len();
    let plan = match store.is_presigned() {
        // A presigned URL is one PUT; it cannot be split into parts.
        true if size > MAX_SINGLE => {
            return Err(S3Error::Changed(format!(
                "the file is {size} bytes; a single PUT to UPLOAD_URL holds at most 5 GiB"
            )))
        }
        true => Plan::Single,
        false => plan(size, o.multipart_threshold, o.part_size).map_err(S3Error::Changed)?,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let content_type = s3::content_type(&name);
    let progress = Progress {
        total: size,
        sent: AtomicU64::new(0),
        started: Instant::now(),
        finished: (Mutex::new(false), Condvar::new()),
    };

    let job = Job {
        store,
        file: &file,
        size,
        key,
        content_type,
        o,
        progress: &progress,
    };
    let parts = thread::scope(|scope| {
        let progress = &progress;
        scope.spawn(move || progress.report_every(o.progress_every));
        let result = match plan {
            Plan::Single if store.is_presigned() => {
                retry::run(&o.retry, "PUT to UPLOAD_URL", || {
                    let mut body = Slice::new(&file, 0, size, progress);
                    store
                        .put_presigned(content_type, &mut body, size)
                        .inspect_err(|_| body.forget())
                })
                .map(|()| 1)
            }
            Plan::Single => single(&job).map(|()| 1),
            Plan::Multipart { part_size, parts } => {
                log::info(format!(
                    "multipart upload: {parts} parts of {}, {} at a time",
                    human(part_size),
                    o.concurrency
                ));
                multipart(&job, part_size, parts).map(|()| parts)
            }
        };
        progress.finish();
        result
    })?;

    // The store has what we sent; make sure that is the whole file.
    let now = file.metadata().map_err(open_err)?.len();
    if now != size {
        return Err(S3Error::Changed(format!(
            "{} changed size during the upload ({size} -> {now} bytes): the object may not match it",
            path.display()
        )));
    }
    if store.is_presigned() {
        // The URL allows a PUT and nothing else: no HEAD to check the size with.
        return Ok(Uploaded {
            bytes: size,
            parts: 1,
            elapsed: progress.started.elapsed(),
            verified: "not checked: UPLOAD_URL allows no checksum header and no HEAD",
        });
    }
    let sse_c = object::sse_c_headers(&o.object);
    let size_checked = match retry::run(&o.retry, "HEAD", || store.object_size(key, &pairs(&sse_c)))
    {
        Ok(stored) if stored != size => {
            return Err(S3Error::Changed(format!(
                "the store holds {stored} bytes; the file has {size}"
            )))
        }
        Ok(_) => true,
        // A write-only ("drop box") policy grants PutObject but not GetObject: the upload
        // itself succeeded.
        Err(S3Error::Refused { status: 403, .. }) => false,
        Err(e) => return Err(e),
    };
    Ok(Uploaded {
        bytes: size,
        parts,
        elapsed: progress.started.elapsed(),
        verified: match (size_checked, o.checksum) {
            (true, true) => "size checked, SHA-256 checked by the store",
            (true, false) => "size checked",
            (false, true) => {
                "SHA-256 checked by the store; size not checked: HEAD refused (no s3:GetObject)"
            }
            (false, false) => "not checked: HEAD refused (no s3:GetObject)",
        },
    })
}

/// One upload under way: what each of its requests needs.
#[derive(Clone, Copy)]
struct Job<'a> {
    store: &'a Store,
    file: &'a File,
    size: u64,
    key: &'a str,
    content_type: &'a str,
    o: &'a Options,
    progress: &'a Progress,
}

fn single(job: &Job) -> Result<(), S3Error> {
    let Job {
        store,
        file,
        size,
        key,
        content_type,
        o,
        progress,
    } = *job;
    // The checksum header goes out before the body, so a single PUT hashes the file first
    // (about 0.8 s per GiB here; see the README's benchmarks).
    let sum = match o.checksum {
        true => Some(
            sha256_range(file, 0, size)
                .map_err(|e| S3Error::Changed(format!("reading the file: {e}")))?,
        ),
        false => None,
    };
    let mut owned = object::object_headers(&o.object);
    if let Some(sum) = &sum {
        owned.push(("x-amz-checksum-sha256".into(), sum.clone()));
        // The whole file's hash, for people: multipart objects only have per-part ones.
        owned.push(("x-amz-meta-toss-sha256".into(), sum.clone()));
    }
    let mut headers = vec![("content-type", content_type)];
    headers.extend(pairs(&owned));
    retry::run(&o.retry, "PUT", || {
        let mut body = Slice::new(file, 0, size, progress);
        store
            .put(key, &headers, &mut body, size)
            .inspect_err(|_| body.forget())
    })
}

fn multipart(job: &Job, part_size: u64, parts: u64) -> Result<(), S3Error> {
    let Job {
        store,
        key,
        content_type,
        o,
        size,
        ..
    } = *job;
    let mut owned = object::object_headers(&o.object);
    if o.checksum {
        owned.push(("x-amz-checksum-algorithm".into(), "SHA256".into()));
    }
    let mut headers = vec![("content-type", content_type)];
    headers.extend(pairs(&owned));
    let upload_id = retry::run(&o.retry, "CreateMultipartUpload", || {
        store.create_multipart(key, &headers)
    })?;
    *lock(&OPEN) = Some((key.to_string(), upload_id.clone()));
    let sent = send_parts(job, &upload_id, part_size, parts).and_then(|done| {
        // AWS wants the SSE-C key on Complete too when the parts carried checksums.
        let sse_c = object::sse_c_headers(&o.object);
        let mut tries = 0;
        retry::run(&o.retry, "CompleteMultipartUpload", || {
            tries += 1;
            match store.complete_multipart(key, &upload_id, &done, &pairs(&sse_c)) {
                // A retry after an answer lost on the way: the first try completed it.
                Err(S3Error::Refused { code, .. }) if tries > 1 && code == "NoSuchUpload" => {
                    match store.object_size(key, &pairs(&sse_c)) {
                        Ok(stored) if stored == size => Ok(()),
                        _ => Err(S3Error::Refused {
                            status: 404,
                            code,
                            message: "the upload vanished before it completed".into(),
                        }),
                    }
                }
                other => other,
            }
        })
    });
    if let Err(e) = &sent {
        // Parts of an unfinished upload are stored, invisible, and billed: never leave one.
        log::info(format!("aborting the multipart upload ({e})"));
        abort_open(store);
    }
    *lock(&OPEN) = None;
    sent
}

/// The multipart upload under way (key, upload id), so that a signal handled on another
/// thread can abort it while the part threads are stuck in a socket.
static OPEN: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Abort the multipart upload under way, if any: a few quick tries, bounded in time, even
/// while a signal is stopping everything else.
pub fn abort_open(store: &Store) {
    let Some((key, upload_id)) = lock(&OPEN).take() else {
        return;
    };
    for attempt in 1..=3 {
        match store.abort_multipart(&key, &upload_id, Duration::from_secs(4)) {
            Ok(()) => return,
            Err(e) if attempt == 3 => log::error(format!(
                "could not abort the multipart upload of {key} ({e}); its parts stay in the bucket \
                 until a lifecycle rule (AbortIncompleteMultipartUpload) removes them"
            )),
            Err(_) => thread::sleep(Duration::from_millis(200 * attempt)),
        }
    }
}

/// A feeder hashes parts in order, up to `concurrency` ahead; `concurrency` senders take
/// them and upload them. The first part that fails for good stops the rest.
fn send_parts(
    job: &Job,
    upload_id: &str,
    part_size: u64,
    parts: u64,
) -> Result<Vec<Part>, S3Error> {
    let Job {
        store,
        file,
        size,
        key,
        o,
        progress,
        ..
    } = *job;
    let queue = Queue::new(o.concurrency);
    // SSE-C: every part carries the customer key.
    let sse_c = object::sse_c_headers(&o.object);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<S3Error>> = Mutex::new(None);
    let done: Mutex<Vec<Part>> = Mutex::new(Vec::with_capacity(parts as usize));
    let fail = |e: S3Error| {
        failed.store(true, Ordering::SeqCst);
        lock(&error).get_or_insert(e);
    };

    thread::scope(|scope| {
        scope.spawn(|| {
            for number in 1..=parts {
                if failed.load(Ordering::SeqCst) || crate::signal::stopping() {
                    break;
                }
                let (offset, len) = part_range(number, part_size, size);
                let sum = match o.checksum {
                    false => None,
                    true => match sha256_range(file, offset, len) {
                        Ok(sum) => Some(sum),
                        Err(e) => {
                            fail(S3Error::Changed(format!("reading part {number}: {e}")));
                            break;
                        }
                    },
                };
                queue.push((number, sum));
            }
            // The senders stop once the queue is empty and closed.
            queue.close();
        });
        for _ in 0..o.concurrency {
            scope.spawn(|| {
                while let Some((number, sum)) = queue.pop() {
                    if failed.load(Ordering::SeqCst) {
                        continue; // drain, so the feeder is never left blocked
                    }
                    let (offset, len) = part_range(number, part_size, size);
                    let mut headers = pairs(&sse_c);
                    if let Some(sum) = &sum {
                        headers.push(("x-amz-checksum-sha256", sum.as_str()));
                    }
                    let what = format!("PUT part {number} of {parts}");
                    let sent = retry::run(&o.retry, &what, || {
                        let mut body = Slice::new(file, offset, len, progress);
                        store
                            .upload_part(key, upload_id, number as u16, &headers, &mut body, len)
                            .inspect_err(|_| body.forget())
                    });
                    match sent {
                        Ok(etag) => lock(&done).push(Part {
                            number: number as u16,
                            etag,
                            checksum: sum,
                        }),
                        Err(e) => fail(e),
                    }
                }
            });
        }
    });

    if let Some(e) = lock(&error).take() {
        return Err(e);
    }
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    if crate::signal::stopping() && (done.len() as u64) < parts {
        return Err(S3Error::Stopped);
    }
    done.sort_unstable_by_key(|p| p.number);
    Ok(done)
}

/// A part number and, with checksums on, its SHA-256.
type Hashed = (u64, Option<String>);

/// Hashed parts waiting for a sender: at most `cap`, so the feeder stays only a few parts
/// ahead (a std channel would do, at several KB more of binary).
struct Queue {
    state: Mutex<(VecDeque<Hashed>, bool)>,
    changed: Condvar,
    cap: usize,
}

impl Queue {
    fn new(cap: usize) -> Self {
        Queue {
            state: Mutex::new((VecDeque::new(), false)),
            changed: Condvar::new(),
            cap,
        }
    }

    fn push(&self, item: Hashed) {
        let mut state = lock(&self.state);
        while state.0.len() >= self.cap {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.0.push_back(item);
        self.changed.notify_all();
    }

    fn close(&self) {
        lock(&self.state).1 = true;
        self.changed.notify_all();
    }

    /// The next part, or `None` once the queue is closed and empty.
    fn pop(&self) -> Option<Hashed> {
        let mut state = lock(&self.state);
        loop {
            if let Some(item) = state.0.pop_front() {
                self.changed.notify_all();
                return Some(item);
            }
            if state.1 {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Owned header pairs, borrowed the way requests take them.
fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// SHA-256 of `len` bytes at `offset`, base64.
fn sha256_range(file: &File, offset: u64, len: u64) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut done = 0;
    while done < len {
        let want = (len - done).min(READ_CHUNK as u64) as usize;
        let n = file.read_at(&mut buf[..want], offset + done)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file got shorter",
            ));
        }
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    Ok(base64(&hasher.finalize()))
}

/// Bytes `offset..offset+len` of a shared file, read with pread (no shared cursor, so
/// threads need no file of their own), counted into the progress as they go.
struct Slice<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
    counted: u64,
    progress: &'a Progress,
}

impl<'a> Slice<'a> {
    fn new(file: &'a File, offset: u64, len: u64, progress: &'a Progress) -> Self {
        Slice {
            file,
            pos: offset,
            end: offset + len,
            counted: 0,
            progress,
        }
    }

    /// A failed attempt's bytes will be sent again: take them back out of the progress.
    fn forget(&mut self) {
        self.progress
            .sent
            .fetch_sub(self.counted, Ordering::Relaxed);
        self.counted = 0;
    }
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if crate::signal::stopping() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "stopped by a signal",
            ));
        }
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file got shorter during the upload",
            ));
        }
        self.pos += n as u64;
        self.counted += n as u64;
        self.progress.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

struct Progress {
    total: u64,
    sent: AtomicU64,
    started: Instant,
    finished: (Mutex<bool>, Condvar),
}

impl Progress {
    /// A line every `every` until [`Progress::finish`]: quick uploads print none.
    fn report_every(&self, every: Duration) {
        let (done, wake) = &self.finished;
        let mut finished = lock(done);
        loop {
            let (guard, timeout) = wake
                .wait_timeout(finished, every)
                .unwrap_or_else(|e| e.into_inner());
            finished = guard;
            if *finished {
                return;
            }
            if timeout.timed_out() {
                log::info(progress_line(
                    self.sent.load(Ordering::Relaxed),
                    self.total,
                    self.started.elapsed(),
                ));
            }
        }
    }

    fn finish(&self) {
        *lock(&self.finished.0) = true;
        self.finished.1.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_go_in_one_put_large_ones_in_parts() {
        assert_eq!(plan(0, 64 * MIB, 16 * MIB), Ok(Plan::Single));
        assert_eq!(plan(64 * MIB - 1, 64 * MIB, 16 * MIB), Ok(Plan::Single));
        assert_eq!(
            plan(64 * MIB, 64 * MIB, 16 * MIB),
            Ok(Plan::Multipart {
                part_size: 16 * MIB,
                parts: 4
            })
        );
        assert_eq!(
            plan(64 * MIB + 1, 64 * MIB, 16 * MIB),
            Ok(Plan::Multipart {
                part_size: 16 * MIB,
                parts: 5
            }),
            "an uneven file gets a short last part"
        );
    }

    #[test]
    fn more_than_a_single_put_holds_is_always_multipart() {
        let size = 5 * GIB + 1;
        assert_eq!(
            plan(size, u64::MAX, 64 * MIB),
            Ok(Plan::Multipart {
                part_size: 64 * MIB,
                parts: 81
            })
        );
    }

    #[test]
    fn part_size_grows_to_stay_within_10000_parts() {
        // 1 TiB in 8 MiB parts would be 131,072 parts.
        let Ok(Plan::Multipart { part_size, parts }) = plan(1024 * GIB, 0, 8 * MIB) else {
            panic!()
        };
        assert!(parts <= MAX_PARTS, "{parts}");
        assert_eq!(part_size % MIB, 0, "whole MiB");
        assert_eq!(part_size, 105 * MIB);
        assert!(part_size * parts >= 1024 * GIB);
        // Exactly 10,000 parts of the minimum size fit without growing.
        assert_eq!(
            plan(10_000 * 5 * MIB, 0, 5 * MIB),
            Ok(Plan::Multipart {
                part_size: 5 * MIB,
                parts: 10_000
            })
        );
        assert!(
            plan(10_000 * 5 * GIB + 1, 0, 5 * MIB).is_err(),
            "beyond what S3 holds"
        );
    }

    #[test]
    fn part_size_stays_within_s3_limits() {
        assert_eq!(
            plan(100 * MIB, 0, MIB),
            Ok(Plan::Multipart {
                part_size: 5 * MIB,
                parts: 20
            })
        );
        assert_eq!(
            plan(20 * GIB, 0, 10 * GIB),
            Ok(Plan::Multipart {
                part_size: 5 * GIB,
                parts: 4
            })
        );
    }

    #[test]
    fn parts_cover_the_file_exactly() {
        let size = 100 * MIB + 12_345;
        let Ok(Plan::Multipart { part_size, parts }) = plan(size, 0, 16 * MIB) else {
            panic!()
        };
        let mut next = 0;
        for n in 1..=parts {
            let (offset, len) = part_range(n, part_size, size);
            assert_eq!(offset, next);
            assert!(len > 0);
            next = offset + len;
        }
        assert_eq!(next, size);
        assert_eq!(part_range(parts, part_size, size).1, 4 * MIB + 12_345);
    }

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        // SHA-256 of "" as S3 shows it.
        assert_eq!(
            base64(&Sha256::digest(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn progress_lines_say_sent_percent_rate_and_time_left() {
        assert_eq!(
            progress_line(256 * MIB, GIB, Duration::from_secs(2)),
            "sent 256.0 MiB of 1.0 GiB (25%), 128.0 MiB/s, 6s left"
        );
        assert_eq!(
            progress_line(0, GIB, Duration::from_secs(1)),
            "sent 0 B of 1.0 GiB (0%), 0 B/s, unknown left"
        );
    }
}
