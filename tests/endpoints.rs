//! Private endpoints as air-gapped clusters have them: a store behind a private CA, a
//! CONNECT proxy, and virtual-host style addressing. Each test ends with the object in the
//! real, signature-checking store.

mod support;

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;

use support::{with, TestStore};

const BIN: &str = env!("CARGO_BIN_EXE_toss");

fn store_addr(store: &TestStore) -> SocketAddr {
    store
        .endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

fn put(env: &[(String, String)], name: &str, data: &[u8]) -> (Option<i32>, String) {
    support::put_file(Path::new(BIN), env, name, data)
}

// ---------------------------------------------------------------- private CA

/// A test CA, and a server certificate it signed for 127.0.0.1 and localhost.
fn private_ca() -> (String, rustls::pki_types::CertificateDer<'static>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "toss test private CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    (ca.pem(), server.der().clone(), server_key.serialize_der())
}

/// Terminate TLS with `cert` and pass the plaintext on to `upstream`: the test store,
/// served over HTTPS.
fn tls_front(
    upstream: SocketAddr,
    cert: rustls::pki_types::CertificateDer<'static>,
    key: Vec<u8>,
) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
            )
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let config = config.clone();
            thread::spawn(move || {
                let _ = tls_session(client, upstream, config);
            });
        }
    });
    addr
}

/// Two threads share one rustls session: one reads the client (TLS in, plaintext out to the
/// store), one reads the store (plaintext in, TLS out to the client). Blocking reads happen
/// outside the lock.
fn tls_session(
    client: TcpStream,
    upstream: SocketAddr,
    config: Arc<rustls::ServerConfig>,
) -> io::Result<()> {
    let conn = Arc::new(Mutex::new(
        rustls::ServerConnection::new(config).map_err(io::Error::other)?,
    ));
    let server = TcpStream::connect(upstream)?;
    let (mut client_in, mut client_out) = (client.try_clone()?, client.try_clone()?);
    let (mut server_in, mut server_out) = (server.try_clone()?, server);
    let back = {
        let conn = conn.clone();
        let mut client_out = client.try_clone()?;
        thread::spawn(move || -> io::Result<()> {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = server_in.read(&mut buf)?;
                let mut c = conn.lock().unwrap();
                if n == 0 {
                    c.send_close_notify();
                } else {
                    c.writer().write_all(&buf[..n])?;
                }
                while c.wants_write() {
                    c.write_tls(&mut client_out)?;
                }
                if n == 0 {
                    return Ok(());
                }
            }
        })
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = client_in.read(&mut buf)?;
        if n == 0 {
            let _ = server_out.shutdown(Shutdown::Write);
            break;
        }
        let mut plain = Vec::new();
        {
            let mut c = conn.lock().unwrap();
            let mut input = &buf[..n];
            while !input.is_empty() {
                c.read_tls(&mut input)?;
                c.process_new_packets().map_err(io::Error::other)?;
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    match c.reader().read(&mut chunk) {
                        Ok(0) => break,
                        Ok(k) => plain.extend_from_slice(&chunk[..k]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            while c.wants_write() {
                c.write_tls(&mut client_out)?;
            }
        }
        server_out.write_all(&plain)?;
    }
    let _ = back.join();
    Ok(())
}

#[test]
fn a_store_behind_a_private_ca_needs_its_ca_bundle_and_works_with_it() {
    let store = TestStore::start();
    let (ca_pem, cert, key) = private_ca();
    let front = tls_front(store_addr(&store), cert, key);
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("private-ca.pem");
    fs::write(&bundle, &ca_pem).unwrap();
    let env = with(
        &store.env(),
        &[
            ("ENDPOINT", &format!("https://127.0.0.1:{}", front.port())),
            ("RETRY_ATTEMPTS", "3"),
        ],
    );

    let (code, log) = put(&env, "tls.bin", b"over TLS");
    assert_eq!(code, Some(4), "{log}");
    assert!(
        log.contains("certificate"),
        "the certificate problem is named: {log}"
    );
    assert!(
        log.contains("set CA_BUNDLE"),
        "the setting that fixes it is named: {log}"
    );
    assert!(
        !log.contains("retry"),
        "a certificate does not change on retry: {log}"
    );

    let (code, log) = put(
        &with(&env, &[("CA_BUNDLE", bundle.to_str().unwrap())]),
        "tls.bin",
        b"over TLS",
    );
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        store.get(&store.key_for("tls.bin")).as_deref(),
        Some(&b"over TLS"[..])
    );

    // AWS_CA_BUNDLE, the AWS CLI's name, works the same.
    let (code, log) = put(
        &with(&env, &[("AWS_CA_BUNDLE", bundle.to_str().unwrap())]),
        "aws.bin",
        b"x",
    );
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn a_ca_bundle_that_is_not_pem_is_a_settings_error() {
    let store = TestStore::start();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    fs::write(&bundle, "not a certificate").unwrap();
    let (code, log) = put(
        &with(&store.env(), &[("CA_BUNDLE", bundle.to_str().unwrap())]),
        "x.bin",
        b"x",
    );
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("CA_BUNDLE") && log.contains("no certificate found"),
        "{log}"
    );
}

// ---------------------------------------------------------------- proxy

/// A CONNECT proxy that sends every tunnel to `to`, whatever host was asked for (so fake
/// names like `store.internal` work without DNS), and records what was asked.
fn connect_proxy(to: SocketAddr) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let log = log.clone();
            thread::spawn(move || -> io::Result<()> {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte)? == 0 {
                        return Ok(());
                    }
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                log.lock().unwrap().push(line.clone());
                if !line.starts_with("CONNECT ") {
                    client.write_all(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")?;
                    return Ok(());
                }
                let mut server = TcpStream::connect(to)?;
                client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
                let (mut c2, mut s2) = (client.try_clone()?, server.try_clone()?);
                thread::spawn(move || {
                    let _ = io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(Shutdown::Write);
                });
                io::copy(&mut client, &mut server)?;
                let _ = server.shutdown(Shutdown::Write);
                Ok(())
            });
        }
    });
    (url, seen)
}

#[test]
fn a_connect_proxy_carries_the_upload_and_no_proxy_bypasses_it() {
    let store = TestStore::start();
    let addr = store_addr(&store);
    let (proxy, seen) = connect_proxy(addr);
    // A name only the proxy can reach, as an in-cluster store is from behind a proxy.
    let env = with(
        &store.env(),
        &[
            (
                "ENDPOINT",
                &format!("http://store.internal:{}", addr.port()),
            ),
            ("HTTPS_PROXY", &proxy),
        ],
    );
    let (code, log) = put(&env, "proxied.bin", b"through the proxy");
    assert_eq!(code, Some(0), "{log}");
    let asked = seen.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|l| l.starts_with(&format!("CONNECT store.internal:{} ", addr.port()))),
        "{asked:?}"
    );
    assert_eq!(
        store.get(&store.key_for("proxied.bin")).as_deref(),
        Some(&b"through the proxy"[..])
    );

    seen.lock().unwrap().clear();
    let env = with(
        &store.env(),
        &[("HTTPS_PROXY", &proxy), ("NO_PROXY", "127.0.0.1,localhost")],
    );
    let (code, log) = put(&env, "direct.bin", b"direct");
    assert_eq!(code, Some(0), "{log}");
    assert!(seen.lock().unwrap().is_empty(), "NO_PROXY was not honoured");
}

#[test]
fn virtual_host_style_puts_the_bucket_in_the_host_name() {
    let store = TestStore::start_virtual_host();
    let addr = store_addr(&store);
    let (proxy, seen) = connect_proxy(addr);
    let env = with(
        &store.env(),
        &[
            ("ENDPOINT", &format!("http://localhost:{}", addr.port())),
            ("URL_STYLE", "virtual-host"),
            // The proxy resolves `results.localhost`, which plain DNS may not.
            ("HTTPS_PROXY", &proxy),
        ],
    );
    let (code, log) = put(&env, "vhost.bin", b"virtual host");
    assert_eq!(code, Some(0), "{log}");
    let asked = seen.lock().unwrap().clone();
    let host = format!("CONNECT {}.localhost:{} ", store.bucket, addr.port());
    assert!(asked.iter().any(|l| l.starts_with(&host)), "{asked:?}");
    assert_eq!(
        store.get(&store.key_for("vhost.bin")).as_deref(),
        Some(&b"virtual host"[..])
    );
}
