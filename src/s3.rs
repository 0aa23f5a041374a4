//! Talking to the store: rusty-s3 presigns each request, ureq sends it.
//!
//! The decisions are pure functions (content type, what S3's error means and what to do
//! about it); [`Store`] holds the only code that touches the network.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusty_s3::{Bucket, Credentials, S3Action};

use crate::settings::{Settings, UrlStyle};

/// How long a presigned URL stays valid. Requests are signed right before they are sent,
/// so this only has to cover one request, however slow.
const PRESIGN_FOR: Duration = Duration::from_secs(6 * 3600);
/// Most of an S3 error body is in the first few KB; never buffer a hostile answer.
const MAX_ERROR_BODY: u64 = 64 * 1024;

#[derive(Debug)]
pub enum S3Error {
    /// The settings name something unusable (CA bundle, endpoint + bucket).
    Setup(String),
    Open {
        path: PathBuf,
        source: io::Error,
    },
    /// The store answered with an error status.
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The request did not get an answer: connection, TLS, timeout.
    Transport(String),
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Error::Setup(why) => f.write_str(why),
            S3Error::Open { path, source } => write!(f, "cannot open {}: {source}", path.display()),
            S3Error::Refused {
                status,
                code,
                message,
            } => {
                write!(f, "the store answered {status}")?;
                if !code.is_empty() {
                    write!(f, " {code}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if let Some(hint) = hint(*status, code) {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            S3Error::Transport(why) => write!(
                f,
                "no answer from the store: {why} (check ENDPOINT, that the pod can reach it, \
                 HTTPS_PROXY/NO_PROXY, and CA_BUNDLE for a private CA)"
            ),
        }
    }
}

// ---------------------------------------------------------------- pure core

/// `content-type` from the name, as the worker labels what it sends.
pub fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit('.').next().unwrap_or("");
    match ext {
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "zip" => "application/zip",
        "json" => "application/json",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "txt" | "log" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// S3's error body: `<Error><Code>..</Code><Message>..</Message>...</Error>`. A tag search
/// is enough for two fields and keeps an XML parser off this path.
pub fn parse_error(body: &str) -> (String, String) {
    (tag(body, "Code"), tag(body, "Message"))
}

fn tag(body: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    body.find(&open)
        .and_then(|start| {
            let rest = &body[start + open.len()..];
            rest.find(&close).map(|end| unescape(rest[..end].trim()))
        })
        .unwrap_or_default()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// What a user should check for a given refusal.
pub fn hint(status: u16, code: &str) -> Option<&'static str> {
    Some(match code {
        "SignatureDoesNotMatch" => {
            "check SECRET_ACCESS_KEY, and that no proxy rewrites the request"
        }
        "InvalidAccessKeyId" => "check ACCESS_KEY_ID: the store does not know it",
        "AccessDenied" => "the credentials lack s3:PutObject on this bucket and key",
        "NoSuchBucket" => "check BUCKET, and ENDPOINT/REGION: the bucket does not exist there",
        "RequestTimeTooSkewed" => "the node's clock is off: fix NTP on the node",
        "AuthorizationHeaderMalformed" | "AuthorizationQueryParametersError" => {
            "check REGION: it must be the bucket's region"
        }
        "PermanentRedirect" | "IncorrectEndpoint" => {
            "the bucket is in another region: set REGION or ENDPOINT"
        }
        "ExpiredToken" | "TokenRefreshRequired" => "the session token has expired",
        "InvalidToken" => "check SESSION_TOKEN",
        "EntityTooLarge" => "the file is larger than a single PUT allows",
        _ => match status {
            301 | 307 => {
                "the bucket is in another region or needs another endpoint: set REGION or ENDPOINT"
            }
            403 => "check the credentials and the bucket policy",
            404 => "check BUCKET and ENDPOINT",
            _ => return None,
        },
    })
}

// ---------------------------------------------------------------- thin shell

pub struct Store {
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
}

/// What a successful upload did, for the log.
#[derive(Debug)]
pub struct Uploaded {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Store {
    pub fn new(s: &Settings) -> Result<Self, S3Error> {
        let style = match s.url_style {
            UrlStyle::Path => rusty_s3::UrlStyle::Path,
            UrlStyle::VirtualHost => rusty_s3::UrlStyle::VirtualHost,
        };
        let bucket = Bucket::new(
            s.endpoint.clone(),
            style,
            s.bucket.clone(),
            s.region.clone(),
        )
        .map_err(|e| {
            S3Error::Setup(format!(
                "ENDPOINT {} with BUCKET {}: {e}",
                s.endpoint, s.bucket
            ))
        })?;
        let secret = s.secret_access_key.expose();
        let credentials = match &s.session_token {
            Some(token) => Credentials::new_with_token(&s.access_key_id, secret, token.expose()),
            None => Credentials::new(&s.access_key_id, secret),
        };
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &s.ca_bundle {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&load_ca_bundle(path)?));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A presigned URL is for one host: report a redirect rather than follow it.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("toss/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(10)))
            // Stall detection: no byte moved either way for this long ends the request.
            .timeout_per_read(Some(Duration::from_secs(120)))
            .timeout_per_write(Some(Duration::from_secs(120)))
            .tls_config(tls.build())
            .build()
            .new_agent();
        Ok(Store {
            bucket,
            credentials,
            agent,
        })
    }

    /// Where an object lives, for log lines: no signature, nothing secret.
    pub fn describe(&self, key: &str) -> String {
        format!(
            "s3://{}/{key} at {}",
            self.bucket.name(),
            self.bucket.base_url()
        )
    }

    /// Upload `path` to `key` with one presigned PUT, the body streamed from the file.
    pub fn put_file(&self, path: &Path, key: &str) -> Result<Uploaded, S3Error> {
        let started = Instant::now();
        let file = File::open(path).map_err(|source| S3Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let bytes = file
            .metadata()
            .map_err(|source| S3Error::Open {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key)
            .sign(PRESIGN_FOR);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let mut request = self
            .agent
            .put(url.as_str())
            .header("content-type", content_type(&name));
        if bytes > 0 {
            // Lets the store refuse before the body is sent, so its reason reaches us
            // instead of a broken pipe.
            request = request.header("expect", "100-continue");
        }
        let response = request
            .header("content-length", bytes.to_string())
            .send(ureq::SendBody::from_owned_reader(file.take(bytes)))
            .map_err(transport)?;
        check(response)?;
        Ok(Uploaded {
            bytes,
            elapsed: started.elapsed(),
        })
    }
}

fn check(mut response: ureq::http::Response<ureq::Body>) -> Result<(), S3Error> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let mut body = String::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(MAX_ERROR_BODY)
        .read_to_string(&mut body);
    let (code, message) = parse_error(&body);
    Err(S3Error::Refused {
        status,
        code,
        message,
    })
}

fn transport(e: ureq::Error) -> S3Error {
    S3Error::Transport(e.to_string())
}

fn load_ca_bundle(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, S3Error> {
    let pem = std::fs::read(path)
        .map_err(|e| S3Error::Setup(format!("CA_BUNDLE {}: cannot read: {e}", path.display())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(S3Error::Setup(format!(
                    "CA_BUNDLE {}: not valid PEM: {e}",
                    path.display()
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(S3Error::Setup(format!(
            "CA_BUNDLE {}: no certificate found (expected PEM blocks)",
            path.display()
        )));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_follows_the_extension() {
        assert_eq!(content_type("e2e.tar.gz"), "application/gzip");
        assert_eq!(content_type("RESULTS.TGZ"), "application/gzip");
        assert_eq!(content_type("report.json"), "application/json");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn s3_error_bodies_give_code_and_message() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key &amp; signing method.</Message><RequestId>1</RequestId></Error>"#;
        let (code, message) = parse_error(body);
        assert_eq!(code, "SignatureDoesNotMatch");
        assert!(message.ends_with("Check your key & signing method."));
        assert_eq!(
            parse_error("<html>bad gateway</html>"),
            (String::new(), String::new())
        );
    }

    #[test]
    fn refusals_carry_code_message_and_what_to_check() {
        let e = S3Error::Refused {
            status: 403,
            code: "InvalidAccessKeyId".into(),
            message: "nope".into(),
        };
        assert_eq!(
            e.to_string(),
            "the store answered 403 InvalidAccessKeyId: nope (check ACCESS_KEY_ID: the store does not know it)"
        );
        let e = S3Error::Refused {
            status: 404,
            code: String::new(),
            message: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "the store answered 404 (check BUCKET and ENDPOINT)"
        );
        assert_eq!(hint(500, "InternalError"), None);
    }
}
