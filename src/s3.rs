//! Talking to the store: rusty-s3 presigns each request, ureq sends it.
//!
//! The decisions are pure functions (content type, what S3's error means and what to do
//! about it); [`Store`] holds the only code that touches the network.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use rusty_s3::{Bucket, Credentials, Method, S3Action};

use crate::credentials::Provider;

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
    Transport {
        detail: String,
        retryable: bool,
    },
    /// A signal asked toss to stop.
    Stopped,
    /// The file or the object is not what was sent.
    Changed(String),
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
                if let Some(hint) = hint(*status, code, message) {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            S3Error::Transport { detail, .. } => write!(
                f,
                "no answer from the store: {detail} (check ENDPOINT, that the pod can reach it, \
                 HTTPS_PROXY/NO_PROXY, and CA_BUNDLE for a private CA)"
            ),
            S3Error::Stopped => f.write_str("stopped by a signal"),
            S3Error::Changed(why) => f.write_str(why),
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

pub fn tag(body: &str, name: &str) -> String {
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
pub fn hint(status: u16, code: &str, message: &str) -> Option<&'static str> {
    if message.to_ascii_lowercase().contains("checksum") && code != "BadDigest" {
        return Some("this store does not take x-amz-checksum-sha256: set CHECKSUM=off");
    }
    Some(match code {
        "SignatureDoesNotMatch" => {
            "check SECRET_ACCESS_KEY, and that no proxy rewrites the request"
        }
        // NotSignedUp is what some stores (s3s) answer for an unknown key.
        "InvalidAccessKeyId" | "NotSignedUp" => "check ACCESS_KEY_ID: the store does not know it",
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
        "EntityTooLarge" => "the file is larger than the store allows in one request: lower MULTIPART_THRESHOLD or PART_SIZE",
        "BadDigest" => "the body arrived damaged: the network or a proxy altered it",
        "NoSuchUpload" => "the multipart upload was aborted or expired meanwhile",
        _ => match status {
            301 | 307 => {
                "the bucket is in another region or needs another endpoint: set REGION or ENDPOINT"
            }
            403 => "check ACCESS_KEY_ID and SECRET_ACCESS_KEY, and the bucket policy",
            404 => "check BUCKET and ENDPOINT",
            _ => return None,
        },
    })
}

/// The body of CompleteMultipartUpload.
pub fn complete_body(parts: &[Part]) -> String {
    let mut body = String::from("<CompleteMultipartUpload>");
    for p in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>",
            p.number,
            escape(&p.etag)
        ));
        if let Some(sum) = &p.checksum {
            body.push_str(&format!("<ChecksumSHA256>{sum}</ChecksumSHA256>"));
        }
        body.push_str("</Part>");
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A part the store has taken, as CompleteMultipartUpload lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: u16,
    pub etag: String,
    pub checksum: Option<String>,
}

// ---------------------------------------------------------------- thin shell

pub struct Store {
    /// `None` with UPLOAD_URL: the URL is the whole destination.
    target: Option<(Bucket, Provider)>,
    upload_url: Option<url::Url>,
    agent: ureq::Agent,
}

/// Signed `x-amz-*` headers go into the presigned URL's signature and must be sent as
/// signed; S3 refuses unsigned `x-amz-*` headers on a presigned request.
pub type Headers<'a> = &'a [(&'a str, &'a str)];

impl Store {
    pub fn new(s: &Settings) -> Result<Self, S3Error> {
        let style = match s.url_style {
            UrlStyle::Path => rusty_s3::UrlStyle::Path,
            UrlStyle::VirtualHost => rusty_s3::UrlStyle::VirtualHost,
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
            .timeout_connect(Some(s.connect_timeout))
            // Stall detection: no byte moved either way for this long ends the request.
            .timeout_per_read(Some(s.stall_timeout))
            .timeout_per_write(Some(s.stall_timeout))
            // One idle connection per part thread, so parts reuse their connections.
            .max_idle_connections_per_host(s.concurrency + 1)
            .tls_config(tls.build())
            .build()
            .new_agent();
        let upload_url = match &s.upload_url {
            Some(u) => Some(
                url::Url::parse(u.expose())
                    .map_err(|e| S3Error::Setup(format!("UPLOAD_URL: {e}")))?,
            ),
            None => None,
        };
        let target = match &s.credentials {
            None => None,
            Some(source) => {
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
                crate::log::info(source.describe());
                Some((bucket, Provider::new(source.clone(), agent.clone())?))
            }
        };
        Ok(Store {
            target,
            upload_url,
            agent,
        })
    }

    /// Where an object lives, for log lines: no signature, nothing secret.
    pub fn describe(&self, key: &str) -> String {
        match (&self.target, &self.upload_url) {
            (Some((bucket, _)), _) => {
                format!("s3://{}/{key} at {}", bucket.name(), bucket.base_url())
            }
            (None, Some(url)) => format!(
                "the presigned UPLOAD_URL {}{}",
                url.origin().ascii_serialization(),
                url.path()
            ),
            (None, None) => "nowhere".into(),
        }
    }

    /// Whether this store is a presigned UPLOAD_URL rather than a bucket.
    pub fn is_presigned(&self) -> bool {
        self.upload_url.is_some()
    }

    fn bucket(&self) -> Result<(&Bucket, Arc<Credentials>), S3Error> {
        let (bucket, provider) = self.target.as_ref().ok_or_else(|| {
            S3Error::Setup("UPLOAD_URL mode: only a single PUT to that URL".into())
        })?;
        Ok((bucket, provider.get()?))
    }

    /// PUT to the presigned UPLOAD_URL: no headers of ours may be signed into it.
    pub fn put_presigned(
        &self,
        content_type: &str,
        body: &mut dyn Read,
        len: u64,
    ) -> Result<(), S3Error> {
        let url = self
            .upload_url
            .clone()
            .ok_or_else(|| S3Error::Setup("no UPLOAD_URL".into()))?;
        self.send_body(url, &[("content-type", content_type)], body, len)
            .map(drop)
    }

    /// PutObject, the body streamed from `body` with `len` as its Content-Length.
    pub fn put(
        &self,
        key: &str,
        headers: Headers,
        body: &mut dyn Read,
        len: u64,
    ) -> Result<(), S3Error> {
        let (bucket, credentials) = self.bucket()?;
        let mut action = bucket.put_object(Some(&credentials), key);
        sign_headers(action.headers_mut(), headers);
        self.send_body(action.sign(PRESIGN_FOR), headers, body, len)
            .map(drop)
    }

    /// CreateMultipartUpload: returns the upload id.
    pub fn create_multipart(&self, key: &str, headers: Headers) -> Result<String, S3Error> {
        // rusty-s3's typed action needs its `xml` feature (about 90 KB of binary) to parse
        // one tag; sign the request with its signing function instead.
        let url = self.sign_raw(Method::Post, key, &[("uploads", "")], headers)?;
        let mut request = self.agent.post(url.as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = answer(request.send_empty())?;
        match tag(&body, "UploadId") {
            id if id.is_empty() => Err(S3Error::Refused {
                status: 200,
                code: "NoUploadId".into(),
                message: "CreateMultipartUpload answered without an UploadId".into(),
            }),
            id => Ok(id),
        }
    }

    /// UploadPart: returns the part's ETag.
    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        headers: Headers,
        body: &mut dyn Read,
        len: u64,
    ) -> Result<String, S3Error> {
        let (bucket, credentials) = self.bucket()?;
        let mut action = bucket.upload_part(Some(&credentials), key, number, upload_id);
        sign_headers(action.headers_mut(), headers);
        let etag = self.send_body(action.sign(PRESIGN_FOR), headers, body, len)?;
        etag.ok_or_else(|| S3Error::Refused {
            status: 200,
            code: "NoETag".into(),
            message: format!("UploadPart {number} answered without an ETag"),
        })
    }

    /// CompleteMultipartUpload. A 200 carrying `<Error>` is a failure, as S3 documents.
    pub fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[Part],
        headers: Headers,
    ) -> Result<(), S3Error> {
        let url = self.sign_raw(Method::Post, key, &[("uploadId", upload_id)], headers)?;
        let mut request = self
            .agent
            .post(url.as_str())
            .content_type("application/xml");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send(complete_body(parts)))?;
        Ok(())
    }

    /// AbortMultipartUpload, given at most `limit` (a signal leaves little time).
    pub fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
        limit: Duration,
    ) -> Result<(), S3Error> {
        let (bucket, credentials) = self.bucket()?;
        let url = bucket
            .abort_multipart_upload(Some(&credentials), key, upload_id)
            .sign(PRESIGN_FOR);
        let request = self
            .agent
            .delete(url.as_str())
            .config()
            .timeout_global(Some(limit))
            .build();
        answer(request.call()).map(drop)
    }

    /// The stored object's size, from HeadObject.
    pub fn object_size(&self, key: &str, headers: Headers) -> Result<u64, S3Error> {
        let (bucket, credentials) = self.bucket()?;
        let mut action = bucket.head_object(Some(&credentials), key);
        sign_headers(action.headers_mut(), headers);
        let mut request = self.agent.head(action.sign(PRESIGN_FOR).as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.call().map_err(transport)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(S3Error::Refused {
                status,
                code: String::new(),
                message: "HEAD of the uploaded object".into(),
            });
        }
        response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                S3Error::Changed("HEAD of the uploaded object gave no Content-Length".into())
            })
    }

    fn sign_raw(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        headers: Headers,
    ) -> Result<url::Url, S3Error> {
        let (bucket, credentials) = self.bucket()?;
        let mut sorted = headers.to_vec();
        sorted.sort_unstable();
        Ok(rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            method,
            bucket.object_url(key),
            credentials.key(),
            credentials.secret(),
            credentials.token(),
            bucket.region(),
            PRESIGN_FOR.as_secs(),
            query.iter().copied(),
            sorted.iter().copied(),
        ))
    }

    /// Send a body with its Content-Length; returns the ETag, if the store gave one.
    fn send_body(
        &self,
        url: url::Url,
        headers: Headers,
        body: &mut dyn Read,
        len: u64,
    ) -> Result<Option<String>, S3Error> {
        let mut request = self
            .agent
            .put(url.as_str())
            .header("content-length", len.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if len > 0 {
            // Lets the store refuse before the body is sent, so its reason reaches us
            // instead of a broken pipe.
            request = request.header("expect", "100-continue");
        }
        let response = request
            .send(ureq::SendBody::from_reader(body))
            .map_err(transport)?;
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        answer(Ok(response))?;
        Ok(etag)
    }
}

fn sign_headers<'a>(map: &mut rusty_s3::Map<'a>, headers: Headers<'a>) {
    for (name, value) in headers {
        if name.starts_with("x-amz-") {
            map.insert(*name, *value);
        }
    }
}

/// The body of a successful answer, or the store's refusal with its code and message. S3
/// may answer 200 and put an `<Error>` in the body (CompleteMultipartUpload does, after a
/// long wait): that is a refusal too.
fn answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<String, S3Error> {
    let mut response = result.map_err(transport)?;
    let status = response.status().as_u16();
    let mut body = String::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_ERROR_BODY)
        .read_to_string(&mut body)
        .map_err(|e| S3Error::Transport {
            detail: format!("reading the answer: {e}"),
            retryable: true,
        })?;
    if (200..300).contains(&status) && !body.contains("<Error>") {
        return Ok(body);
    }
    let (code, message) = parse_error(&body);
    Err(S3Error::Refused {
        status,
        code,
        message,
    })
}

/// A request that got no answer. Worth retrying unless the failure will recur: a TLS
/// certificate problem, a malformed URL, a proxy setting.
fn transport(e: ureq::Error) -> S3Error {
    if crate::signal::stopping() {
        return S3Error::Stopped;
    }
    let mut detail = e.to_string();
    // rustls' verdicts reach us wrapped in io errors; a certificate will not change on retry.
    let certificate =
        detail.contains("certificate") || matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_));
    let retryable = !certificate
        && matches!(
            e,
            ureq::Error::Io(_)
                | ureq::Error::Timeout(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::Protocol(_)
                | ureq::Error::BodyStalled
        );
    if certificate {
        detail.push_str("; the store's TLS certificate is not trusted: for a private CA, set CA_BUNDLE to its PEM file");
    }
    S3Error::Transport { detail, retryable }
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
        assert_eq!(hint(500, "InternalError", ""), None);
        let e = S3Error::Refused {
            status: 400,
            code: "InvalidRequest".into(),
            message: "x-amz-checksum-sha256 is not supported".into(),
        };
        assert!(e.to_string().contains("set CHECKSUM=off"), "{e}");
    }

    #[test]
    fn the_complete_body_lists_parts_with_etags_and_checksums() {
        let parts = [
            Part {
                number: 1,
                etag: "\"abc\"".into(),
                checksum: Some("c3VtMQ==".into()),
            },
            Part {
                number: 2,
                etag: "\"d&e\"".into(),
                checksum: None,
            },
        ];
        assert_eq!(
            complete_body(&parts),
            "<CompleteMultipartUpload>\
             <Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag><ChecksumSHA256>c3VtMQ==</ChecksumSHA256></Part>\
             <Part><PartNumber>2</PartNumber><ETag>\"d&amp;e\"</ETag></Part>\
             </CompleteMultipartUpload>"
        );
    }
}
