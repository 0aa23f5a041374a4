//! Where the S3 credentials come from, in the order AWS SDKs look: explicit settings, files
//! mounted from a Secret, IRSA web identity (STS AssumeRoleWithWebIdentity), the EKS Pod
//! Identity / ECS container endpoint. Temporary credentials are fetched again before they
//! expire, and mounted files are read again when they change, so a long upload never signs
//! with stale keys.
//!
//! Parsing the answers (STS XML, container JSON, RFC 3339 expirations) and deciding when to
//! refresh are pure functions; [`Provider::get`] is the shell that reads files and calls out.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusty_s3::Credentials;

use crate::log;
use crate::s3::S3Error;
use crate::settings::Secret;

/// Fetch temporary credentials again this long before they expire.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
const MAX_FILE: u64 = 64 * 1024;

#[derive(Debug, Clone)]
pub enum Source {
    Static {
        key: String,
        secret: Secret,
        token: Option<Secret>,
    },
    Files {
        key: PathBuf,
        secret: PathBuf,
        token: Option<PathBuf>,
    },
    WebIdentity {
        role_arn: String,
        token_file: PathBuf,
        session_name: String,
        sts: url::Url,
    },
    Container {
        uri: url::Url,
        token: Option<Secret>,
        token_file: Option<PathBuf>,
    },
}

impl Source {
    /// For the startup log: which source, never a value.
    pub fn describe(&self) -> String {
        match self {
            Source::Static { token, .. } => format!(
                "credentials from settings (ACCESS_KEY_ID{})",
                if token.is_some() {
                    ", with a session token"
                } else {
                    ""
                }
            ),
            Source::Files { key, .. } => format!(
                "credentials from files ({} and its siblings, re-read when they change)",
                key.display()
            ),
            Source::WebIdentity { role_arn, sts, .. } => {
                format!("credentials from IRSA web identity: role {role_arn} via {sts}")
            }
            Source::Container { uri, .. } => {
                format!("credentials from the container credentials endpoint {uri}")
            }
        }
    }
}

/// Credentials as a source hands them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub key: String,
    pub secret: String,
    pub token: Option<String>,
    /// Unix seconds.
    pub expires: Option<u64>,
}

// ---------------------------------------------------------------- pure core

/// Temporary credentials are refreshed `REFRESH_MARGIN` before they expire.
pub fn needs_refresh(now: u64, expires: Option<u64>) -> bool {
    expires.is_some_and(|e| now + REFRESH_MARGIN.as_secs() >= e)
}

/// STS's answer to AssumeRoleWithWebIdentity.
pub fn parse_sts(body: &str) -> Result<Keys, String> {
    let field = |name| crate::s3::tag(body, name);
    let (key, secret, token, expiration) = (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
        field("Expiration"),
    );
    if key.is_empty() || secret.is_empty() {
        let (code, message) = crate::s3::parse_error(body);
        return Err(if code.is_empty() {
            "STS answered without credentials".into()
        } else {
            format!("STS refused: {code}: {message}")
        });
    }
    Ok(Keys {
        key,
        secret,
        token: Some(token).filter(|t| !t.is_empty()),
        expires: parse_rfc3339(&expiration),
    })
}

/// The container credentials endpoint's JSON: `{"AccessKeyId": .., "SecretAccessKey": ..,
/// "Token": .., "Expiration": ..}`.
pub fn parse_container(body: &str) -> Result<Keys, String> {
    let key = json_string(body, "AccessKeyId");
    let secret = json_string(body, "SecretAccessKey");
    match (key, secret) {
        (Some(key), Some(secret)) if !key.is_empty() && !secret.is_empty() => Ok(Keys {
            key,
            secret,
            token: json_string(body, "Token").filter(|t| !t.is_empty()),
            expires: json_string(body, "Expiration").and_then(|e| parse_rfc3339(&e)),
        }),
        _ => Err(
            "the container credentials endpoint answered without AccessKeyId and SecretAccessKey"
                .into(),
        ),
    }
}

/// The string value of `"name": "value"` in a flat JSON object; enough for four fields
/// without a JSON parser.
pub fn json_string(body: &str, name: &str) -> Option<String> {
    let at = body.find(&format!("\"{name}\""))? + name.len() + 2;
    let rest = body[at..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// `2026-11-25T16:06:24Z` (fractions and offsets allowed) to Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let t = text.trim();
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if t.get(4..5)? != "-" || t.get(7..8)? != "-" || !matches!(t.get(10..11)?, "T" | "t" | " ") {
        return None;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && o.is_ascii() && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s - offset).ok()
}

// ---------------------------------------------------------------- thin shell

/// For `Source::Files`: each file's (modified, len) when last read.
type Stamps = Vec<Option<(SystemTime, u64)>>;

/// Hands out current credentials to every request, from any thread.
pub struct Provider {
    source: Source,
    agent: ureq::Agent,
    /// `None` until a first fetch succeeds.
    current: Mutex<Option<Current>>,
}

struct Current {
    credentials: Arc<Credentials>,
    expires: Option<u64>,
    /// For `Source::Files`: the files' (modified, len) when last read.
    stamp: Stamps,
}

impl Provider {
    /// Fetch the first credentials now, so a broken source fails before any waiting.
    ///
    /// A credentials endpoint that is not ready yet (the Pod Identity agent starting, STS
    /// throttling) is not fatal: toss tries again before the first request, and the
    /// results are handed off whatever happens. Files and settings are checked now.
    pub fn new(source: Source, agent: ureq::Agent) -> Result<Self, S3Error> {
        let current = match fetch(&source, &agent) {
            Ok((keys, stamp)) => Some(Current {
                credentials: install(&keys),
                expires: keys.expires,
                stamp,
            }),
            Err(e)
                if matches!(
                    source,
                    Source::WebIdentity { .. } | Source::Container { .. }
                ) =>
            {
                log::info(format!("{e}; trying again before the upload"));
                None
            }
            Err(e) => return Err(e),
        };
        Ok(Provider {
            source,
            agent,
            current: Mutex::new(current),
        })
    }

    pub fn get(&self) -> Result<Arc<Credentials>, S3Error> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = current.as_ref() {
            let fresh = match &self.source {
                Source::Files { .. } => stamps(&self.source) == c.stamp,
                _ => !needs_refresh(now(), c.expires),
            };
            if fresh {
                return Ok(c.credentials.clone());
            }
        }
        let (keys, stamp) = fetch(&self.source, &self.agent)?;
        if current.is_some() {
            log::info(format!("refreshed the {}", self.source.describe()));
        }
        let c = current.insert(Current {
            credentials: install(&keys),
            expires: keys.expires,
            stamp,
        });
        Ok(c.credentials.clone())
    }
}

fn install(keys: &Keys) -> Arc<Credentials> {
    log::add_secret(&keys.secret);
    if let Some(token) = &keys.token {
        log::add_secret(token);
    }
    Arc::new(match &keys.token {
        Some(token) => Credentials::new_with_token(&keys.key, &keys.secret, token),
        None => Credentials::new(&keys.key, &keys.secret),
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn fetch(source: &Source, agent: &ureq::Agent) -> Result<(Keys, Stamps), S3Error> {
    let keys = match source {
        Source::Static { key, secret, token } => Keys {
            key: key.clone(),
            secret: secret.expose().to_string(),
            token: token.as_ref().map(|t| t.expose().to_string()),
            expires: None,
        },
        Source::Files { key, secret, token } => Keys {
            key: read_secret(key, "ACCESS_KEY_ID_FILE")?,
            secret: read_secret(secret, "SECRET_ACCESS_KEY_FILE")?,
            token: token
                .as_deref()
                .map(|t| read_secret(t, "SESSION_TOKEN_FILE"))
                .transpose()?,
            expires: None,
        },
        Source::WebIdentity {
            role_arn,
            token_file,
            session_name,
            sts,
        } => {
            let identity = read_secret(token_file, "AWS_WEB_IDENTITY_TOKEN_FILE")?;
            log::add_secret(&identity);
            let form: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("Action", "AssumeRoleWithWebIdentity")
                .append_pair("Version", "2011-06-15")
                .append_pair("RoleArn", role_arn)
                .append_pair("RoleSessionName", session_name)
                .append_pair("WebIdentityToken", &identity)
                .finish();
            let body = call(
                agent
                    .post(sts.as_str())
                    .content_type("application/x-www-form-urlencoded")
                    .send(form),
                "STS (AWS_ENDPOINT_URL_STS)",
            )?;
            parse_sts(&body).map_err(|e| {
                S3Error::Setup(format!(
                    "{e} (check AWS_ROLE_ARN and the role's trust policy)"
                ))
            })?
        }
        Source::Container {
            uri,
            token,
            token_file,
        } => {
            let mut request = agent.get(uri.as_str());
            let auth = match (token, token_file) {
                (_, Some(file)) => {
                    Some(read_secret(file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")?)
                }
                (Some(t), None) => Some(t.expose().to_string()),
                (None, None) => None,
            };
            if let Some(auth) = &auth {
                log::add_secret(auth);
                request = request.header("authorization", auth);
            }
            let body = call(
                request.call(),
                "the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI)",
            )?;
            parse_container(&body).map_err(S3Error::Setup)?
        }
    };
    Ok((keys, stamps(source)))
}

/// One GET/POST to a credentials endpoint: the body, or an error naming the endpoint.
fn call(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    what: &str,
) -> Result<String, S3Error> {
    // Errors here are retried like the store's own: the endpoint may be busy or starting.
    let mut response = result.map_err(|e| S3Error::Transport {
        detail: format!("cannot reach {what}: {e}"),
        retryable: true,
    })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_FILE)
        .read_to_string()
        .map_err(|e| S3Error::Transport {
            detail: format!("reading the answer of {what}: {e}"),
            retryable: true,
        })?;
    if !(200..300).contains(&status) {
        let (code, message) = crate::s3::parse_error(&body);
        return Err(S3Error::Refused {
            status,
            code,
            message: format!("{what}: {message}"),
        });
    }
    Ok(body)
}

fn read_secret(path: &Path, setting: &str) -> Result<String, S3Error> {
    let text = fs::metadata(path)
        .and_then(|m| {
            if m.len() > MAX_FILE {
                Err(std::io::Error::other("larger than 64 KiB"))
            } else {
                fs::read_to_string(path)
            }
        })
        .map_err(|e| S3Error::Setup(format!("{setting} {}: cannot read: {e}", path.display())))?;
    let value = text.trim().to_string();
    if value.is_empty() {
        return Err(S3Error::Setup(format!(
            "{setting} {}: the file is empty",
            path.display()
        )));
    }
    Ok(value)
}

fn stamps(source: &Source) -> Stamps {
    let Source::Files { key, secret, token } = source else {
        return Vec::new();
    };
    [Some(key), Some(secret), token.as_ref()]
        .into_iter()
        .flatten()
        .map(|p| {
            fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounted_files_are_read_again_when_they_change() {
        let dir = std::env::temp_dir().join(format!("toss-creds-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (id, key) = (dir.join("id"), dir.join("key"));
        fs::write(&id, "AKIDFIRST\n").unwrap();
        fs::write(&key, "first-secret-value").unwrap();
        let source = Source::Files {
            key: id.clone(),
            secret: key.clone(),
            token: None,
        };
        let provider = Provider::new(source, ureq::Agent::new_with_defaults()).unwrap();
        assert_eq!(provider.get().unwrap().key(), "AKIDFIRST");
        // A Secret update rewrites the files: a different length is a change even within the
        // same second of modification time.
        fs::write(&id, "AKIDSECONDKEY").unwrap();
        fs::write(&key, "second-secret-value").unwrap();
        let now = provider.get().unwrap();
        assert_eq!(
            (now.key(), now.secret()),
            ("AKIDSECONDKEY", "second-secret-value")
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_credentials_are_refreshed_five_minutes_early() {
        assert!(
            !needs_refresh(1_000, None),
            "static credentials never expire"
        );
        assert!(!needs_refresh(1_000, Some(1_000 + 301)));
        assert!(needs_refresh(1_000, Some(1_000 + 300)));
        assert!(needs_refresh(1_000, Some(999)), "already expired");
    }

    #[test]
    fn rfc3339_expirations_parse_to_unix_seconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2013-05-24T00:00:00Z"), Some(1_369_353_600));
        assert_eq!(
            parse_rfc3339("2026-11-18T11:06:40.123Z"),
            Some(1_795_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-18T12:06:40+01:00"),
            Some(1_795_000_000)
        );
        assert_eq!(parse_rfc3339("2000-02-29T11:59:59Z"), Some(951_825_599));
        for bad in [
            "",
            "2026-11-18",
            "2026/11/18T11:06:40Z",
            "2026-11-18T11:06:40",
            "soon",
            // Found in review: byte slicing across a multi-byte character panicked.
            "2026-11-18T11:06:40+0\u{e9}00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sts_answers_give_keys_token_and_expiry() {
        let body = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <SessionToken>FwoGZXIvYXdzEXAMPLE</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>
      <Expiration>2026-11-18T11:06:40Z</Expiration>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#;
        assert_eq!(
            parse_sts(body),
            Ok(Keys {
                key: "ASIAEXAMPLE".into(),
                secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                token: Some("FwoGZXIvYXdzEXAMPLE".into()),
                expires: Some(1_795_000_000),
            })
        );
        let refused = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>";
        assert_eq!(parse_sts(refused), Err("STS refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity".into()));
    }

    #[test]
    fn container_answers_give_keys_token_and_expiry() {
        let body = r#"{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"se\/cret\"x","Token":"tok","Expiration":"2026-11-18T11:06:40Z","RoleArn":"arn:aws:iam::1:role/r"}"#;
        let keys = parse_container(body).unwrap();
        assert_eq!(keys.key, "ASIACONTAINER");
        assert_eq!(keys.secret, "se/cret\"x");
        assert_eq!(keys.token.as_deref(), Some("tok"));
        assert_eq!(keys.expires, Some(1_795_000_000));
        assert!(parse_container(r#"{"Code":"Failure"}"#).is_err());
        assert_eq!(
            json_string(r#"{ "A" : "\u0041b" }"#, "A").as_deref(),
            Some("Ab")
        );
    }
}
