//! A fault-injecting TCP relay between toss and a real S3 server.
//!
//! It forwards bytes both ways, but reads enough HTTP/1.1 on the way in (request line,
//! headers, Content-Length) to count requests, so a test can say "answer the first two
//! UploadPart requests with 503 SlowDown" or "flip a byte in the body of the first PUT".
//! Everything it does not break reaches the real server, which still checks signatures.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, S3 error code and message, without forwarding.
    Answer(u16, &'static str),
    /// Forward half the body, then cut both connections.
    ResetMidBody,
    /// Forward the head, then go silent for this long before cutting the connection.
    Stall(Duration),
    /// Flip one byte in the middle of the body.
    FlipByte,
    /// Close the connection without a word, before forwarding anything.
    Drop,
}

struct Rule {
    /// Applies to requests whose request line contains each of these space-separated words
    /// ("" for any): `"POST uploadId="` is CompleteMultipartUpload.
    matching: &'static str,
    left: AtomicUsize,
    fault: Fault,
}

pub struct Relay {
    pub addr: SocketAddr,
    rules: Arc<Vec<Rule>>,
    /// Request lines seen, in order (method and path with query).
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    /// Relay to `upstream`; each `(matching, times, fault)` breaks the first `times` requests
    /// whose request line contains `matching`.
    pub fn start(upstream: &str, faults: &[(&'static str, usize, Fault)]) -> Relay {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream host:port");
        let rules: Arc<Vec<Rule>> = Arc::new(
            faults
                .iter()
                .map(|(m, n, f)| Rule {
                    matching: m,
                    left: AtomicUsize::new(*n),
                    fault: f.clone(),
                })
                .collect(),
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (r, s) = (rules.clone(), seen.clone());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (r, s) = (r.clone(), s.clone());
                thread::spawn(move || {
                    let _ = serve(client, upstream, &r, &s);
                });
            }
        });
        Relay { addr, rules, seen }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many of the faults for `matching` are still unused.
    pub fn left(&self, matching: &str) -> usize {
        self.rules
            .iter()
            .filter(|r| r.matching == matching)
            .map(|r| r.left.load(Ordering::SeqCst))
            .sum::<usize>()
    }

    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    rules: &[Rule],
    seen: &Mutex<Vec<String>>,
) -> io::Result<()> {
    let mut server = TcpStream::connect(upstream)?;
    // Answers flow back untouched, on their own thread.
    let (mut from_server, mut to_client) = (server.try_clone()?, client.try_clone()?);
    thread::spawn(move || {
        let _ = io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let mut pending: Vec<u8> = Vec::new();
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(i) = find(&pending, b"\r\n\r\n") {
                break i + 4;
            }
            let mut buf = [0u8; 16 * 1024];
            let n = client.read(&mut buf)?;
            if n == 0 {
                let _ = server.shutdown(Shutdown::Write);
                return Ok(());
            }
            pending.extend_from_slice(&buf[..n]);
        };
        let head: Vec<u8> = pending.drain(..head_end).collect();
        let text = String::from_utf8_lossy(&head).to_string();
        let request_line = text.lines().next().unwrap_or("").to_string();
        seen.lock().unwrap().push(request_line.clone());
        let body_len: u64 = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let fault = rules.iter().find_map(|r| {
            (r.matching
                .split_whitespace()
                .all(|w| request_line.contains(w))
                && r.left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok())
            .then(|| r.fault.clone())
        });
        match fault {
            None => {
                server.write_all(&head)?;
                forward_body(&mut client, &mut server, &mut pending, body_len, None)?;
            }
            Some(Fault::Answer(status, code)) => {
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the test relay</Message></Error>"
                );
                let answer = format!(
                    "HTTP/1.1 {status} Injected\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                client.write_all(answer.as_bytes())?;
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::Drop) => {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::Stall(d)) => {
                server.write_all(&head)?;
                thread::sleep(d);
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::ResetMidBody) => {
                server.write_all(&head)?;
                forward_body(&mut client, &mut server, &mut pending, body_len / 2, None)?;
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::FlipByte) => {
                server.write_all(&head)?;
                forward_body(
                    &mut client,
                    &mut server,
                    &mut pending,
                    body_len,
                    Some(body_len / 2),
                )?;
            }
        }
    }
}

/// Forward `len` body bytes (some may already be in `pending`), flipping the byte at
/// `flip` if asked.
fn forward_body(
    client: &mut TcpStream,
    server: &mut TcpStream,
    pending: &mut Vec<u8>,
    len: u64,
    flip: Option<u64>,
) -> io::Result<()> {
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    while sent < len {
        let mut chunk: Vec<u8> = if !pending.is_empty() {
            let take = (len - sent).min(pending.len() as u64) as usize;
            pending.drain(..take).collect()
        } else {
            let want = (len - sent).min(buf.len() as u64) as usize;
            let n = client.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf[..n].to_vec()
        };
        if let Some(at) = flip {
            if (sent..sent + chunk.len() as u64).contains(&at) {
                chunk[(at - sent) as usize] ^= 0x01;
            }
        }
        server.write_all(&chunk)?;
        sent += chunk.len() as u64;
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
