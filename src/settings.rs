//! Every setting in one table: flag, environment names, default, whether secret, help.
//!
//! The table drives the parser, `--help` and (through a test) the README, so the three
//! cannot drift apart. Parsing is pure: argv and an environment lookup go in, typed
//! [`Settings`] or the complete list of problems come out.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::credentials::Source;
use crate::key::KeyTemplate;
use crate::object::{self, ObjectSettings, Sse};

/// One setting. Precedence: the flag, then each env name in order, then the default.
pub struct Spec {
    /// The flag without its leading `--`.
    pub flag: &'static str,
    /// Environment names, toss's own first, then the standard AWS ones.
    pub env: &'static [&'static str],
    /// What the value looks like in `--help` ("" for a switch that takes no value).
    pub value: &'static str,
    /// The default as shown to users ("" when there is none).
    pub default: &'static str,
    /// Never print the value.
    pub secret: bool,
    pub help: &'static str,
}

macro_rules! spec {
    ($flag:literal, [$($env:literal),+], $value:literal, $default:literal, $secret:literal, $help:literal) => {
        Spec { flag: $flag, env: &[$($env),+], value: $value, default: $default, secret: $secret, help: $help }
    };
}

pub const SPECS: &[Spec] = &[
    spec!("read-results-dir", ["READ_RESULTS_DIR"], "DIR", "", false,
        "Directory the plugin writes its results and done file to (sidecar: required)."),
    spec!("write-results-dir", ["WRITE_RESULTS_DIR"], "DIR", "", false,
        "Directory the Sonobuoy worker reads; toss puts the results and a done file here (sidecar: required)."),
    spec!("bucket", ["BUCKET"], "NAME", "", false,
        "Bucket to upload to (required)."),
    spec!("region", ["REGION", "AWS_REGION", "AWS_DEFAULT_REGION"], "REGION", "us-east-1", false,
        "Region the request is signed for."),
    spec!("endpoint", ["ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"], "URL", "https://s3.REGION.amazonaws.com", false,
        "S3-compatible endpoint, http:// or https:// (MinIO, Ceph RGW, SeaweedFS, Garage...)."),
    spec!("url-style", ["URL_STYLE"], "path|virtual-host", "path with --endpoint, else virtual-host", false,
        "Put the bucket in the path or in the host name."),
    spec!("access-key-id", ["ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"], "ID", "", false,
        "Access key id (required)."),
    spec!("secret-access-key", ["SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"], "SECRET", "", true,
        "Secret access key (required). Prefer the environment: a flag shows in the process list."),
    spec!("session-token", ["SESSION_TOKEN", "AWS_SESSION_TOKEN"], "TOKEN", "", true,
        "Session token of temporary credentials."),
    spec!("access-key-id-file", ["ACCESS_KEY_ID_FILE"], "FILE", "", false,
        "File holding the access key id (a mounted Secret); read again when it changes."),
    spec!("secret-access-key-file", ["SECRET_ACCESS_KEY_FILE"], "FILE", "", false,
        "File holding the secret access key; read again when it changes."),
    spec!("session-token-file", ["SESSION_TOKEN_FILE"], "FILE", "", false,
        "File holding the session token; read again when it changes."),
    spec!("role-arn", ["AWS_ROLE_ARN"], "ARN", "", false,
        "IRSA: the role to assume with the web identity token (STS AssumeRoleWithWebIdentity)."),
    spec!("web-identity-token-file", ["AWS_WEB_IDENTITY_TOKEN_FILE"], "FILE", "", false,
        "IRSA: the projected service account token."),
    spec!("role-session-name", ["AWS_ROLE_SESSION_NAME"], "NAME", "toss", false,
        "IRSA: the session name STS records."),
    spec!("sts-endpoint", ["AWS_ENDPOINT_URL_STS"], "URL", "https://sts.REGION.amazonaws.com", false,
        "IRSA: the STS endpoint (a private or regional STS)."),
    spec!("container-credentials-uri", ["AWS_CONTAINER_CREDENTIALS_FULL_URI"], "URL", "", false,
        "EKS Pod Identity / ECS: the container credentials endpoint."),
    spec!("container-authorization-token", ["AWS_CONTAINER_AUTHORIZATION_TOKEN"], "TOKEN", "", true,
        "EKS Pod Identity / ECS: the Authorization header for that endpoint."),
    spec!("container-authorization-token-file", ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], "FILE", "", false,
        "EKS Pod Identity / ECS: a file holding that header (read at each fetch)."),
    spec!("upload-url", ["UPLOAD_URL"], "URL", "", true,
        "A presigned PUT URL made outside the cluster: toss needs no credentials and no bucket (single PUT, up to 5GiB)."),
    spec!("ca-bundle", ["CA_BUNDLE", "AWS_CA_BUNDLE"], "FILE", "built-in Mozilla roots", false,
        "PEM file of root certificates to trust instead of the built-in ones (private CA)."),
    spec!("object-key", ["OBJECT_KEY"], "TEMPLATE", "sonobuoy/{namespace}/{pod}/{timestamp}/{basename}", false,
        "Object key; placeholders {basename} {node} {pod} {namespace} {timestamp} {date}."),
    spec!("node-name", ["NODE_NAME"], "NAME", "unknown-node", false,
        "Node name for {node} (set it from the downward API: spec.nodeName)."),
    spec!("pod-name", ["POD_NAME"], "NAME", "the host name", false,
        "Pod name for {pod}."),
    spec!("namespace", ["POD_NAMESPACE"], "NAME", "the service account's namespace, else default", false,
        "Namespace for {namespace}."),
    spec!("done-timeout", ["DONE_TIMEOUT"], "DURATION", "0 (wait forever)", false,
        "Give up waiting for the done file after this long (exit 3). Go-style: 90s, 6h, 1h30m."),
    spec!("poll-interval", ["POLL_INTERVAL"], "DURATION", "1s", false,
        "How often to look for the done file."),
    spec!("handoff-first", ["HANDOFF_FIRST"], "", "false", false,
        "Hand the results to the worker before uploading, so the worker never waits on S3."),
    spec!("multipart-threshold", ["MULTIPART_THRESHOLD"], "SIZE", "2GiB", false,
        "Files this large or larger go up in parts (always above 5GiB). Sizes: 8MiB, 64MB, bytes. Lower it (64MiB) for parallel parts over a slow or distant link."),
    spec!("part-size", ["PART_SIZE"], "SIZE", "64MiB", false,
        "Size of each part, 5MiB to 5GiB; grows by itself when a file would need over 10,000 parts."),
    spec!("concurrency", ["CONCURRENCY"], "N", "4", false,
        "Parts sent at once."),
    spec!("checksum", ["CHECKSUM"], "sha256|off", "sha256", false,
        "Sign the SHA-256 of each body into its request, so the store refuses a damaged body. Turn off for stores that reject x-amz-checksum-sha256."),
    spec!("retry-attempts", ["RETRY_ATTEMPTS"], "N", "6", false,
        "Tries of each request (the first included) when the store is busy or the network fails."),
    spec!("upload-timeout", ["UPLOAD_TIMEOUT"], "DURATION", "2h", false,
        "No retry starts after the upload has run this long; 0 for no limit."),
    spec!("connect-timeout", ["CONNECT_TIMEOUT"], "DURATION", "10s", false,
        "Give up connecting to the store after this long (then retry)."),
    spec!("stall-timeout", ["STALL_TIMEOUT"], "DURATION", "60s", false,
        "Give up on a request when no byte has moved for this long (then retry)."),
    spec!("progress-interval", ["PROGRESS_INTERVAL"], "DURATION", "10s", false,
        "Log the upload's progress this often."),
    spec!("sse", ["SSE"], "AES256|aws:kms", "", false,
        "Server-side encryption to ask for: SSE-S3 (AES256) or SSE-KMS (aws:kms)."),
    spec!("sse-kms-key-id", ["SSE_KMS_KEY_ID"], "KEY", "the bucket's default key", false,
        "With SSE=aws:kms: the KMS key id, alias/NAME or key ARN."),
    spec!("sse-kms-context", ["SSE_KMS_CONTEXT"], "JSON", "", false,
        "With SSE=aws:kms: an encryption context, a JSON object of strings."),
    spec!("sse-c-key-file", ["SSE_C_KEY_FILE"], "FILE", "", false,
        "SSE-C: a file holding the 256-bit customer key, 32 raw bytes or base64."),
    spec!("storage-class", ["STORAGE_CLASS"], "CLASS", "the bucket's default", false,
        "Storage class: STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR..."),
    spec!("acl", ["ACL"], "ACL", "", false,
        "Canned ACL, such as bucket-owner-full-control for a bucket of another account."),
    spec!("metadata", ["METADATA"], "k=v,k=v", "", false,
        "Object metadata of your own (x-amz-meta-*), added to toss's node, pod, namespace, version."),
    spec!("tags", ["TAGS"], "k=v&k=v", "", false,
        "Object tags (x-amz-tagging); values may use the OBJECT_KEY placeholders."),
];

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::log::MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::log::MASK)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlStyle {
    Path,
    VirtualHost,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Wait for the done file, upload, hand off.
    Sidecar,
    /// Upload one file and exit.
    Put {
        file: PathBuf,
        key: Option<String>,
    },
    Help,
    Version,
}

#[derive(Debug)]
pub struct Settings {
    pub read_dir: PathBuf,
    pub write_dir: PathBuf,
    pub bucket: String,
    pub region: String,
    pub endpoint: url::Url,
    pub url_style: UrlStyle,
    /// `None` with an `upload_url`: the URL carries its own signature.
    pub credentials: Option<Source>,
    pub upload_url: Option<Secret>,
    pub ca_bundle: Option<PathBuf>,
    pub object_key: KeyTemplate,
    pub node: String,
    pub pod: String,
    pub namespace: String,
    pub done_timeout: Option<Duration>,
    pub poll_interval: Duration,
    pub handoff_first: bool,
    pub multipart_threshold: u64,
    pub part_size: u64,
    pub concurrency: usize,
    pub checksum: bool,
    pub retry_attempts: u32,
    pub upload_timeout: Option<Duration>,
    pub connect_timeout: Duration,
    pub stall_timeout: Duration,
    pub progress_interval: Duration,
    /// Encryption, class, ACL, metadata: everything but the SSE-C key, read from its file
    /// when toss starts.
    pub object: ObjectSettings,
    pub sse_c_key_file: Option<PathBuf>,
    /// TAGS, a template: expanded per upload like OBJECT_KEY.
    pub tags: Option<KeyTemplate>,
}

/// Facts about the pod that serve as defaults; gathered by the caller.
#[derive(Debug, Default, Clone)]
pub struct HostFacts {
    pub hostname: Option<String>,
    pub namespace: Option<String>,
}

/// Where a setting's value came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Flag,
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("flag"),
            Origin::Env(name) => write!(f, "${name}"),
        }
    }
}

/// Raw string values, one slot per [`SPECS`] entry.
struct Raw {
    values: Vec<Option<(String, Origin)>>,
}

impl Raw {
    fn get(&self, flag: &str) -> Option<&(String, Origin)> {
        let i = index(flag);
        self.values[i].as_ref()
    }
}

fn index(flag: &str) -> usize {
    SPECS
        .iter()
        .position(|s| s.flag == flag)
        .unwrap_or_else(|| panic!("setting --{flag} is not in SPECS"))
}

/// Name a setting the way users meet it: `--bucket / BUCKET`.
pub fn names(flag: &str) -> String {
    let spec = &SPECS[index(flag)];
    format!("--{} / {}", spec.flag, spec.env.join(" / "))
}

/// Parse argv (without the program name) and the environment into a command and settings.
///
/// Every problem is collected, so a user fixes their pod spec once, not once per problem.
pub fn parse(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    host: &HostFacts,
) -> Result<(Command, Option<Settings>), Vec<String>> {
    let mut problems = Vec::new();
    let mut raw = Raw {
        values: SPECS.iter().map(|_| None).collect(),
    };
    let mut positionals = Vec::new();

    let mut args_iter = args.iter();
    while let Some(arg) = args_iter.next() {
        match arg.as_str() {
            "-h" | "--help" | "help" if positionals.is_empty() => return Ok((Command::Help, None)),
            "-V" | "--version" => return Ok((Command::Version, None)),
            "--" => positionals.extend(args_iter.by_ref().cloned()),
            a if a.starts_with("--") => {
                let (name, inline) = match a[2..].split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (&a[2..], None),
                };
                let Some(i) = SPECS.iter().position(|s| s.flag == name) else {
                    problems.push(format!("unknown flag --{name} (see --help)"));
                    // Its value, if any, must not be taken for a command and echoed: a
                    // misspelt --secret-access-key would print the secret.
                    if inline.is_none()
                        && args_iter
                            .as_slice()
                            .first()
                            .is_some_and(|v| !v.starts_with('-'))
                    {
                        args_iter.next();
                    }
                    continue;
                };
                let value = if SPECS[i].value.is_empty() {
                    inline.unwrap_or_else(|| "true".into())
                } else if let Some(v) = inline {
                    v
                } else if let Some(v) = args_iter.next() {
                    v.clone()
                } else {
                    problems.push(format!("{}: the flag needs a value", names(name)));
                    continue;
                };
                raw.values[i] = Some((value, Origin::Flag));
            }
            a if a.starts_with('-') && a.len() > 1 => {
                problems.push(format!("unknown flag {a} (see --help)"))
            }
            _ => positionals.push(arg.clone()),
        }
    }

    for (i, spec) in SPECS.iter().enumerate() {
        if raw.values[i].is_some() {
            continue;
        }
        // An empty variable counts as unset: Kubernetes manifests often carry `value: ""`.
        raw.values[i] = spec.env.iter().find_map(|name| {
            env(name)
                .filter(|v| !v.is_empty())
                .map(|v| (v, Origin::Env(name)))
        });
    }

    let command = match positionals.first().map(String::as_str) {
        None => Command::Sidecar,
        Some("put") => match &positionals[1..] {
            [file] => Command::Put {
                file: file.into(),
                key: None,
            },
            [file, key] => Command::Put {
                file: file.into(),
                key: Some(key.clone()),
            },
            _ => {
                problems.push("usage: toss put FILE [KEY]".into());
                Command::Put {
                    file: PathBuf::new(),
                    key: None,
                }
            }
        },
        Some(other) => {
            // Echo only what looks like a mistyped command, never what could be a secret.
            let shown = match other.len() <= 12 && other.chars().all(|c| c.is_ascii_lowercase()) {
                true => format!("{other:?}"),
                false => format!("of {} characters", other.chars().count()),
            };
            problems.push(format!(
                "unknown command {shown}: toss takes no arguments, or `put FILE [KEY]`"
            ));
            Command::Sidecar
        }
    };

    let settings = build(&raw, &command, host, &mut problems);
    if problems.is_empty() {
        Ok((command, settings))
    } else {
        Err(problems)
    }
}

fn build(
    raw: &Raw,
    command: &Command,
    host: &HostFacts,
    problems: &mut Vec<String>,
) -> Option<Settings> {
    let sidecar = *command == Command::Sidecar;
    let mut required = |flag: &str, needed: bool| -> String {
        match raw.get(flag) {
            Some((v, _)) => v.clone(),
            None => {
                if needed {
                    problems.push(format!("{}: required, not set", names(flag)));
                }
                String::new()
            }
        }
    };
    let read_dir = PathBuf::from(required("read-results-dir", sidecar));
    let write_dir = PathBuf::from(required("write-results-dir", sidecar));
    let upload_url = raw.get("upload-url").map(|(v, _)| Secret(v.clone()));
    let bucket = required("bucket", upload_url.is_none());

    let mut check = |ok: bool, flag: &str, what: String| {
        if !ok {
            let origin = raw
                .get(flag)
                .map(|(_, o)| format!(" (from {o})"))
                .unwrap_or_default();
            problems.push(format!("{}{origin}: {what}", names(flag)));
        }
    };

    if sidecar && !read_dir.as_os_str().is_empty() && read_dir == write_dir {
        check(false, "write-results-dir", "must differ from the read results dir: the worker would act on the plugin's done file before the upload".into());
    }
    if !bucket.is_empty() {
        check(
            bucket_name_ok(&bucket),
            "bucket",
            format!("{bucket:?} is not a bucket name (1-255 characters, no '/', no spaces)"),
        );
    }
    if let Some(url) = &upload_url {
        // The URL is a secret (its signature): say what is wrong without echoing it.
        let ok =
            url::Url::parse(url.expose()).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        check(ok, "upload-url", "not an http:// or https:// URL".into());
    }

    let region = value_or(raw, "region", "us-east-1");
    check(
        !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "region",
        format!("{region:?} is not a region name (letters, digits, '-')"),
    );

    let explicit_endpoint = raw.get("endpoint").map(|(v, _)| v.clone());
    let endpoint_text = explicit_endpoint
        .clone()
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
    let endpoint = match parse_endpoint(&endpoint_text) {
        Ok(url) => Some(url),
        Err(why) => {
            check(false, "endpoint", why);
            None
        }
    };

    let url_style = match raw.get("url-style").map(|(v, _)| v.as_str()) {
        None if explicit_endpoint.is_some() => UrlStyle::Path,
        None => UrlStyle::VirtualHost,
        Some("path") => UrlStyle::Path,
        Some("virtual-host" | "virtual-hosted" | "vhost") => UrlStyle::VirtualHost,
        Some(other) => {
            check(
                false,
                "url-style",
                format!("{other:?} is neither `path` nor `virtual-host`"),
            );
            UrlStyle::Path
        }
    };
    if url_style == UrlStyle::VirtualHost && !bucket.is_empty() {
        check(
            bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'),
            "url-style",
            format!("virtual-host style needs a DNS-compatible bucket name, not {bucket:?}: use --url-style path"),
        );
    }

    let credentials = if upload_url.is_some() {
        None
    } else {
        credential_source(raw, &region, &mut check)
    };

    let object_key =
        match KeyTemplate::parse(&value_or(raw, "object-key", default_of("object-key"))) {
            Ok(t) => Some(t),
            Err(why) => {
                check(false, "object-key", why);
                None
            }
        };

    let mut duration = |flag: &str, default: Duration| match raw.get(flag) {
        None => Some(default),
        Some((v, _)) => match parse_duration(v) {
            Ok(d) => Some(d),
            Err(why) => {
                check(false, flag, why);
                None
            }
        },
    };
    let done_timeout = duration("done-timeout", Duration::ZERO).filter(|d| !d.is_zero());
    let poll_interval = duration("poll-interval", Duration::from_secs(1));
    let upload_timeout = duration("upload-timeout", Duration::from_secs(2 * 3600))
        .map(|d| Some(d).filter(|d| !d.is_zero()));
    let connect_timeout = duration("connect-timeout", Duration::from_secs(10));
    let stall_timeout = duration("stall-timeout", Duration::from_secs(60));
    let progress_interval = duration("progress-interval", Duration::from_secs(10));
    for (flag, d) in [
        ("poll-interval", poll_interval),
        ("connect-timeout", connect_timeout),
        ("stall-timeout", stall_timeout),
        ("progress-interval", progress_interval),
    ] {
        if d == Some(Duration::ZERO) {
            check(false, flag, "must be more than 0".into());
        }
    }

    let mut size = |flag: &str, default: u64| match raw.get(flag) {
        None => Some(default),
        Some((v, _)) => match parse_size(v) {
            Ok(n) => Some(n),
            Err(why) => {
                check(false, flag, why);
                None
            }
        },
    };
    let multipart_threshold = size("multipart-threshold", 2 << 30);
    let part_size = size("part-size", 64 << 20);
    if let Some(p) = part_size {
        check(
            (5 << 20..=5 << 30).contains(&p),
            "part-size",
            format!("{p} bytes is outside S3's part sizes, 5MiB to 5GiB"),
        );
    }
    let mut count = |flag: &str, default: u32, max: u32| match raw.get(flag) {
        None => Some(default),
        Some((v, _)) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                check(
                    false,
                    flag,
                    format!("{v:?} is not a whole number from 1 to {max}"),
                );
                None
            }
        },
    };
    let concurrency = count("concurrency", 4, 64);
    let retry_attempts = count("retry-attempts", 6, 100);
    let checksum = match raw.get("checksum").map(|(v, _)| v.to_ascii_lowercase()) {
        None => true,
        Some(v) if v == "sha256" => true,
        Some(v) if v == "off" || parse_bool(&v) == Some(false) => false,
        Some(v) => {
            check(
                false,
                "checksum",
                format!("{v:?} is neither sha256 nor off"),
            );
            true
        }
    };

    let handoff_first = match raw.get("handoff-first").map(|(v, _)| v.as_str()) {
        None => false,
        Some(v) => match parse_bool(v) {
            Some(b) => b,
            None => {
                check(
                    false,
                    "handoff-first",
                    format!("{v:?} is not true or false"),
                );
                false
            }
        },
    };

    let node = value_or(raw, "node-name", "unknown-node");
    let pod = raw
        .get("pod-name")
        .map(|(v, _)| v.clone())
        .or_else(|| host.hostname.clone())
        .unwrap_or_else(|| "unknown-pod".into());
    let namespace = raw
        .get("namespace")
        .map(|(v, _)| v.clone())
        .or_else(|| host.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let (object, sse_c_key_file, tags) = object_settings(
        raw,
        &node,
        &pod,
        &namespace,
        upload_url.is_some(),
        &mut check,
    );

    if !problems.is_empty() {
        return None;
    }
    Some(Settings {
        read_dir,
        write_dir,
        bucket,
        region,
        endpoint: endpoint?,
        url_style,
        credentials,
        upload_url,
        ca_bundle: raw.get("ca-bundle").map(|(v, _)| PathBuf::from(v)),
        object_key: object_key?,
        node,
        pod,
        namespace,
        done_timeout,
        poll_interval: poll_interval?,
        handoff_first,
        multipart_threshold: multipart_threshold?,
        part_size: part_size?,
        concurrency: concurrency? as usize,
        checksum,
        retry_attempts: retry_attempts?,
        upload_timeout: upload_timeout?,
        connect_timeout: connect_timeout?,
        stall_timeout: stall_timeout?,
        progress_interval: progress_interval?,
        object,
        sse_c_key_file,
        tags,
    })
}

/// The first credential source that is set, in the order AWS SDKs look. A source set only
/// halfway is a problem, not a reason to fall through to the next.
fn credential_source(
    raw: &Raw,
    region: &str,
    check: &mut dyn FnMut(bool, &str, String),
) -> Option<Source> {
    let get = |flag: &str| raw.get(flag).map(|(v, _)| v.clone());
    let mut pair = |a: &str, b: &str| -> Option<(String, String)> {
        match (get(a), get(b)) {
            (Some(x), Some(y)) => Some((x, y)),
            (Some(_), None) => {
                check(false, b, format!("required with {}", names(a)));
                None
            }
            (None, Some(_)) => {
                check(false, a, format!("required with {}", names(b)));
                None
            }
            (None, None) => None,
        }
    };
    let is_set = |flags: &[&str]| flags.iter().any(|f| raw.get(f).is_some());
    if is_set(&["access-key-id", "secret-access-key"]) {
        let (key, secret) = pair("access-key-id", "secret-access-key")?;
        check(
            key.chars().all(|c| c.is_ascii_graphic()),
            "access-key-id",
            "must be printable ASCII without spaces".into(),
        );
        return Some(Source::Static {
            key,
            secret: Secret(secret),
            token: get("session-token").map(Secret),
        });
    }
    if is_set(&["access-key-id-file", "secret-access-key-file"]) {
        let (key, secret) = pair("access-key-id-file", "secret-access-key-file")?;
        return Some(Source::Files {
            key: key.into(),
            secret: secret.into(),
            token: get("session-token-file").map(PathBuf::from),
        });
    }
    if is_set(&["role-arn", "web-identity-token-file"]) {
        let (role_arn, token_file) = pair("role-arn", "web-identity-token-file")?;
        let sts_text =
            get("sts-endpoint").unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
        let sts = match parse_endpoint(&sts_text) {
            Ok(u) => u,
            Err(why) => {
                check(false, "sts-endpoint", why);
                return None;
            }
        };
        return Some(Source::WebIdentity {
            role_arn,
            token_file: token_file.into(),
            session_name: value_or(raw, "role-session-name", "toss"),
            sts,
        });
    }
    if let Some(uri) = get("container-credentials-uri") {
        let uri = match url::Url::parse(&uri) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                check(
                    false,
                    "container-credentials-uri",
                    format!("{uri:?} is not an http:// or https:// URL"),
                );
                return None;
            }
        };
        return Some(Source::Container {
            uri,
            token: get("container-authorization-token").map(Secret),
            token_file: get("container-authorization-token-file").map(PathBuf::from),
        });
    }
    check(
        false,
        "access-key-id",
        format!(
            "no credentials: set it and {}, or their _FILE twins, or AWS_ROLE_ARN with \
             AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), or AWS_CONTAINER_CREDENTIALS_FULL_URI, or UPLOAD_URL",
            names("secret-access-key")
        ),
    );
    None
}

/// Encryption, class, ACL, metadata and tags, each checked before anything is sent.
fn object_settings(
    raw: &Raw,
    node: &str,
    pod: &str,
    namespace: &str,
    presigned: bool,
    check: &mut dyn FnMut(bool, &str, String),
) -> (ObjectSettings, Option<PathBuf>, Option<KeyTemplate>) {
    let get = |flag: &str| raw.get(flag).map(|(v, _)| v.clone());
    let mut ok = |result: Result<(), String>, flag: &str| {
        if let Err(why) = result {
            check(false, flag, why);
        }
    };
    let kms = match get("sse") {
        None => None,
        Some(v) => match object::parse_sse(&v) {
            Ok(kms) => Some(kms),
            Err(why) => {
                ok(Err(why), "sse");
                None
            }
        },
    };
    let key_id = get("sse-kms-key-id");
    let context = get("sse-kms-context");
    for (flag, value) in [("sse-kms-key-id", &key_id), ("sse-kms-context", &context)] {
        if value.is_some() && kms != Some(true) {
            ok(Err("goes with SSE=aws:kms".into()), flag);
        }
    }
    if let Some(id) = &key_id {
        ok(object::check_kms_key_id(id), "sse-kms-key-id");
    }
    if let Some(ctx) = &context {
        ok(object::check_kms_context(ctx), "sse-kms-context");
    }
    let sse_c_key_file = get("sse-c-key-file").map(PathBuf::from);
    if sse_c_key_file.is_some() && kms.is_some() {
        ok(
            Err("SSE-C and SSE cannot both be set: choose one".into()),
            "sse-c-key-file",
        );
    }
    let storage_class = get("storage-class");
    if let Some(c) = &storage_class {
        ok(object::check_storage_class(c), "storage-class");
    }
    let acl = get("acl");
    if let Some(a) = &acl {
        ok(object::check_acl(a), "acl");
    }
    let mut metadata: Vec<(String, String)> = vec![
        ("toss-node".into(), node.into()),
        ("toss-pod".into(), pod.into()),
        ("toss-namespace".into(), namespace.into()),
        ("toss-version".into(), env!("CARGO_PKG_VERSION").into()),
    ];
    if let Some(text) = get("metadata") {
        match object::parse_metadata(&text) {
            Ok(own) => {
                metadata.retain(|(k, _)| !own.iter().any(|(o, _)| o == k));
                metadata.extend(own);
            }
            Err(why) => ok(Err(why), "metadata"),
        }
    }
    metadata.retain(|(_, v)| v.chars().all(|c| c == ' ' || c.is_ascii_graphic()));
    let tags = match get("tags") {
        None => None,
        Some(text) => match KeyTemplate::parse_text(&text)
            .and_then(|t| object::parse_tags(&text).map(|_| t))
        {
            Ok(t) => Some(t),
            Err(why) => {
                ok(Err(why), "tags");
                None
            }
        },
    };
    if presigned {
        // Unsigned x-amz-* headers are refused on a presigned URL.
        for flag in [
            "sse",
            "sse-c-key-file",
            "storage-class",
            "acl",
            "metadata",
            "tags",
        ] {
            if raw.get(flag).is_some() {
                ok(
                    Err(
                        "cannot go with UPLOAD_URL: sign it into the URL when you make the URL"
                            .into(),
                    ),
                    flag,
                );
            }
        }
    }
    let sse = match kms {
        Some(true) => Some(Sse::Kms { key_id, context }),
        Some(false) => Some(Sse::S3),
        None => None,
    };
    (
        ObjectSettings {
            sse,
            sse_c: None,
            storage_class,
            acl,
            metadata,
            tagging: None,
        },
        sse_c_key_file,
        tags,
    )
}

fn value_or(raw: &Raw, flag: &str, default: &str) -> String {
    raw.get(flag)
        .map_or_else(|| default.to_string(), |(v, _)| v.clone())
}

fn default_of(flag: &str) -> &'static str {
    SPECS[index(flag)].default
}

fn bucket_name_ok(name: &str) -> bool {
    // S3-compatible stores differ (Ceph allows upper case and '_'): refuse only what
    // cannot be a bucket anywhere.
    (1..=255).contains(&name.len())
        && !name.contains('/')
        && name.chars().all(|c| c.is_ascii_graphic())
}

fn parse_endpoint(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(format!("{text:?}: no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "{text:?}: an endpoint has no query, fragment or user"
        ));
    }
    Ok(url)
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Go-style durations as Sonobuoy's settings take them: `500ms`, `30s`, `1h30m`; a bare
/// number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let bad =
        || format!("{text:?} is not a duration (examples: 500ms, 30s, 5m, 1h30m, or seconds)");
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total = total
            .checked_add(Duration::try_from_secs_f64(n * scale).map_err(|_| bad())?)
            .ok_or_else(bad)?;
        rest = tail;
    }
    Ok(total)
}

/// Sizes as people write them: `8MiB`, `64MB`, `1GiB`, `5mb`, or plain bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("{text:?} is not a size (examples: 8MiB, 64MB, 1GiB, 1048576)");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

/// `--help`: each setting with its flag, env twins and default; never a value.
pub fn help() -> String {
    let mut out = String::from(concat!(
        "toss ",
        env!("CARGO_PKG_VERSION"),
        ": wait for a Sonobuoy plugin's done file, upload its results to S3,\n",
        "and hand them on to the Sonobuoy worker.\n\n",
        "Usage:\n",
        "  toss [FLAGS]               run as a sidecar: wait, upload, hand off\n",
        "  toss put FILE [KEY]        upload one file with the same settings, and exit\n",
        "  toss --help | --version\n\n",
        "Settings: a flag wins over the environment; the first variable set wins over the next.\n",
        "An empty variable counts as unset.\n\n",
    ));
    for s in SPECS {
        let flag = if s.value.is_empty() {
            format!("--{}", s.flag)
        } else {
            format!("--{} {}", s.flag, s.value)
        };
        let secret = if s.secret {
            "  (secret: never printed)"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {flag}{secret}\n      env: {}\n",
            s.env.join(", ")
        ));
        if !s.default.is_empty() {
            out.push_str(&format!("      default: {}\n", s.default));
        }
        out.push_str(&format!("      {}\n", s.help));
    }
    out.push_str(concat!(
        "\nExit status: 0 uploaded and handed off; 2 bad settings; 3 no done file in time;\n",
        "4 upload failed, results handed off; 5 handoff failed (the worker gets nothing); 1 other.\n",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The README's settings table, as SPECS would write it.
    fn markdown_table() -> String {
        let mut t = String::from(
            "| flag | environment | default | what it does |\n| --- | --- | --- | --- |\n",
        );
        for s in SPECS {
            let env: Vec<String> = s.env.iter().map(|e| format!("`{e}`")).collect();
            let default = if s.default.is_empty() {
                "-".to_string()
            } else {
                format!("`{}`", s.default)
            };
            let secret = if s.secret {
                " Secret: never printed."
            } else {
                ""
            };
            t.push_str(&format!(
                "| `--{}` | {} | {default} | {}{secret} |\n",
                s.flag,
                env.join(" "),
                s.help.replace('|', "\\|")
            ));
        }
        t
    }

    #[test]
    fn the_readme_settings_table_matches_the_settings() {
        let readme = include_str!("../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's settings table is stale; replace it with:\n\n{table}"
        );
    }

    fn run(
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<(Command, Option<Settings>), Vec<String>> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(
            &args,
            &|k| env.get(k).cloned(),
            &HostFacts {
                hostname: Some("pod-7".into()),
                namespace: None,
            },
        )
    }

    const ORIGINAL: &[(&str, &str)] = &[
        ("READ_RESULTS_DIR", "/in"),
        ("WRITE_RESULTS_DIR", "/out"),
        ("BUCKET", "results"),
        ("REGION", "eu-west-1"),
        ("ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("SECRET_ACCESS_KEY", "s3cr3t-value"),
    ];

    #[test]
    fn the_original_tosss_variables_are_enough() {
        let (cmd, s) = run(&[], ORIGINAL).unwrap();
        let s = s.unwrap();
        assert_eq!(cmd, Command::Sidecar);
        assert_eq!(s.read_dir, PathBuf::from("/in"));
        assert_eq!(s.write_dir, PathBuf::from("/out"));
        assert_eq!(s.bucket, "results");
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.endpoint.as_str(), "https://s3.eu-west-1.amazonaws.com/");
        assert_eq!(s.url_style, UrlStyle::VirtualHost);
        let Some(Source::Static {
            key,
            secret,
            token: None,
        }) = &s.credentials
        else {
            panic!("{:?}", s.credentials)
        };
        assert_eq!(
            (key.as_str(), secret.expose()),
            ("AKIDEXAMPLE", "s3cr3t-value")
        );
        assert_eq!(s.pod, "pod-7");
        assert_eq!(s.namespace, "default");
        assert_eq!(s.done_timeout, None);
        assert_eq!(s.poll_interval, Duration::from_secs(1));
    }

    #[test]
    fn flag_beats_toss_env_beats_aws_env_beats_default() {
        let mut env = ORIGINAL.to_vec();
        env.push(("AWS_REGION", "ap-south-1"));
        let s = run(&["--region", "us-west-2"], &env).unwrap().1.unwrap();
        assert_eq!(s.region, "us-west-2");
        let s = run(&[], &env).unwrap().1.unwrap();
        assert_eq!(s.region, "eu-west-1");
        env.retain(|(k, _)| *k != "REGION");
        let s = run(&[], &env).unwrap().1.unwrap();
        assert_eq!(s.region, "ap-south-1");
        env.retain(|(k, _)| *k != "AWS_REGION");
        env.push(("AWS_DEFAULT_REGION", "sa-east-1"));
        assert_eq!(run(&[], &env).unwrap().1.unwrap().region, "sa-east-1");
        env.retain(|(k, _)| *k != "AWS_DEFAULT_REGION");
        assert_eq!(run(&[], &env).unwrap().1.unwrap().region, "us-east-1");
    }

    #[test]
    fn aws_standard_names_work_and_empty_values_count_as_unset() {
        let env = [
            ("READ_RESULTS_DIR", "/in"),
            ("WRITE_RESULTS_DIR", "/out"),
            ("BUCKET", "b"),
            ("ACCESS_KEY_ID", ""),
            ("AWS_ACCESS_KEY_ID", "AKIDAWS"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
            ("AWS_SESSION_TOKEN", "aws-token"),
            ("AWS_ENDPOINT_URL", "http://minio.storage:9000"),
        ];
        let s = run(&[], &env).unwrap().1.unwrap();
        let Some(Source::Static {
            key,
            token: Some(token),
            ..
        }) = &s.credentials
        else {
            panic!()
        };
        assert_eq!((key.as_str(), token.expose()), ("AKIDAWS", "aws-token"));
        assert_eq!(s.endpoint.as_str(), "http://minio.storage:9000/");
        assert_eq!(
            s.url_style,
            UrlStyle::Path,
            "an explicit endpoint defaults to path style"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = run(
            &[
                "--poll-interval",
                "soon",
                "--url-style",
                "sideways",
                "--nope",
            ],
            &[("OBJECT_KEY", "x/{bogus}"), ("ENDPOINT", "ftp://x")],
        )
        .unwrap_err();
        let all = problems.join("\n");
        for needle in [
            "READ_RESULTS_DIR: required",
            "WRITE_RESULTS_DIR: required",
            "BUCKET: required",
            "ACCESS_KEY_ID / AWS_ACCESS_KEY_ID: no credentials: set it and --secret-access-key / SECRET_ACCESS_KEY / AWS_SECRET_ACCESS_KEY",
            "--poll-interval / POLL_INTERVAL (from flag): \"soon\" is not a duration",
            "--url-style / URL_STYLE (from flag): \"sideways\"",
            "unknown flag --nope",
            "--object-key / OBJECT_KEY (from $OBJECT_KEY)",
            "{bogus}",
            "--endpoint / ENDPOINT / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (from $ENDPOINT)",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        assert_eq!(problems.len(), 9, "{all}");
    }

    #[test]
    fn secret_values_never_appear_in_problems_or_debug() {
        let problems = run(
            &["--bucket", "a/b"],
            &[("SECRET_ACCESS_KEY", "topsecret-123")],
        )
        .unwrap_err();
        assert!(!problems.join("\n").contains("topsecret-123"));
        let s = run(&[], ORIGINAL).unwrap().1.unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cr3t-value"), "{debug}");
        assert!(debug.contains("***"));
    }

    #[test]
    fn put_needs_no_results_dirs() {
        let env = [
            ("BUCKET", "b"),
            ("ACCESS_KEY_ID", "AKID"),
            ("SECRET_ACCESS_KEY", "secret"),
        ];
        let (cmd, _) = run(&["put", "/data/x.tar.gz", "k/x"], &env).unwrap();
        assert_eq!(
            cmd,
            Command::Put {
                file: "/data/x.tar.gz".into(),
                key: Some("k/x".into())
            }
        );
        assert!(run(&["put"], &env).unwrap_err()[0].contains("usage: toss put FILE [KEY]"));
    }

    #[test]
    fn a_misspelt_secret_flag_does_not_echo_its_value() {
        let all = run(&["--secret-acess-key", "wJalrXUtnFEMI/K7MDENG"], ORIGINAL)
            .unwrap_err()
            .join("\n");
        assert!(all.contains("unknown flag --secret-acess-key"), "{all}");
        assert!(!all.contains("wJalrXUtnFEMI"), "{all}");
        let all = run(&["wJalrXUtnFEMI/K7MDENG"], ORIGINAL)
            .unwrap_err()
            .join("\n");
        assert!(
            all.contains("unknown command of 21 characters") && !all.contains("wJalr"),
            "{all}"
        );
        assert!(run(&["pu"], ORIGINAL).unwrap_err()[0].contains("unknown command \"pu\""));
    }

    #[test]
    fn help_and_version_win_over_missing_settings() {
        assert_eq!(run(&["--help"], &[]).unwrap().0, Command::Help);
        assert_eq!(run(&["--version"], &[]).unwrap().0, Command::Version);
    }

    #[test]
    fn help_lists_every_flag_env_name_and_default() {
        let text = help();
        for s in SPECS {
            assert!(text.contains(&format!("--{}", s.flag)), "{}", s.flag);
            for e in s.env {
                assert!(text.contains(e), "{e}");
            }
            assert!(text.contains(s.default), "{}", s.default);
        }
    }

    #[test]
    fn switches_take_an_optional_value() {
        let s = run(&["--handoff-first"], ORIGINAL).unwrap().1.unwrap();
        assert!(s.handoff_first);
        let s = run(&["--handoff-first=false"], ORIGINAL)
            .unwrap()
            .1
            .unwrap();
        assert!(!s.handoff_first);
        let mut env = ORIGINAL.to_vec();
        env.push(("HANDOFF_FIRST", "yes"));
        assert!(run(&[], &env).unwrap().1.unwrap().handoff_first);
    }

    #[test]
    fn same_read_and_write_dir_is_refused() {
        let mut env = ORIGINAL.to_vec();
        env.push(("WRITE_RESULTS_DIR", "/in"));
        env.retain(|(k, v)| !(*k == "WRITE_RESULTS_DIR" && *v == "/out"));
        assert!(run(&[], &env).unwrap_err()[0].contains("must differ"));
    }

    #[test]
    fn virtual_host_style_needs_a_dns_bucket_name() {
        let mut env = ORIGINAL.to_vec();
        env.retain(|(k, _)| *k != "BUCKET");
        env.push(("BUCKET", "My_Bucket"));
        let problems = run(&[], &env).unwrap_err();
        assert!(problems[0].contains("--url-style path"), "{problems:?}");
        assert!(run(&["--url-style", "path"], &env).is_ok());
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "10x", "-5s", "1h-3m", "ms10"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn credential_sources_are_taken_in_the_sdk_order() {
        let base = [
            ("BUCKET", "b"),
            ("READ_RESULTS_DIR", "/in"),
            ("WRITE_RESULTS_DIR", "/out"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut env = base.to_vec();
            env.extend_from_slice(extra);
            run(&[], &env)
        };
        let files = with(&[
            ("ACCESS_KEY_ID_FILE", "/s/id"),
            ("SECRET_ACCESS_KEY_FILE", "/s/key"),
            ("AWS_ROLE_ARN", "arn:r"),
        ]);
        assert!(
            matches!(
                files.unwrap().1.unwrap().credentials,
                Some(Source::Files { .. })
            ),
            "files before IRSA"
        );
        let irsa = with(&[
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("REGION", "eu-west-3"),
        ]);
        let Some(Source::WebIdentity {
            sts, session_name, ..
        }) = irsa.unwrap().1.unwrap().credentials
        else {
            panic!()
        };
        assert_eq!(
            sts.as_str(),
            "https://sts.eu-west-3.amazonaws.com/",
            "STS follows the region"
        );
        assert_eq!(session_name, "toss");
        let irsa = with(&[
            ("AWS_ROLE_ARN", "arn:r"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ENDPOINT_URL_STS", "http://sts.internal:8080"),
        ]);
        let Some(Source::WebIdentity { sts, .. }) = irsa.unwrap().1.unwrap().credentials else {
            panic!()
        };
        assert_eq!(sts.as_str(), "http://sts.internal:8080/");
        let pod = with(&[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1/credentials",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/t"),
        ]);
        assert!(matches!(
            pod.unwrap().1.unwrap().credentials,
            Some(Source::Container { .. })
        ));
        let url = with(&[("UPLOAD_URL", "https://s3.example/b/k?X-Amz-Signature=abc")]);
        let s = url.unwrap().1.unwrap();
        assert!(s.credentials.is_none() && s.upload_url.is_some());
        let problems = with(&[("AWS_ROLE_ARN", "arn:r")]).unwrap_err().join("\n");
        assert!(
            problems.contains("AWS_WEB_IDENTITY_TOKEN_FILE: required with --role-arn"),
            "{problems}"
        );
        let problems = with(&[]).unwrap_err().join("\n");
        assert!(problems.contains("no credentials"), "{problems}");
    }

    #[test]
    fn an_upload_url_needs_no_bucket_and_is_never_echoed() {
        let env = [
            ("READ_RESULTS_DIR", "/in"),
            ("WRITE_RESULTS_DIR", "/out"),
            ("UPLOAD_URL", "ftp://x/y?X-Amz-Signature=sig123"),
        ];
        let problems = run(&[], &env).unwrap_err().join("\n");
        assert!(
            problems.contains("UPLOAD_URL") && !problems.contains("sig123"),
            "{problems}"
        );
        assert!(!problems.contains("BUCKET"), "{problems}");
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("64MB"), Ok(64_000_000));
        assert_eq!(parse_size("5gib"), Ok(5 << 30));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("16 MiB"), Ok(16 << 20));
        for bad in ["", "MiB", "8XB", "-1", "1.5GiB", "99999999999TiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn transfer_settings_are_checked_against_s3_limits() {
        let mut env = ORIGINAL.to_vec();
        env.extend([
            ("PART_SIZE", "1MiB"),
            ("CONCURRENCY", "0"),
            ("CHECKSUM", "md5"),
            ("RETRY_ATTEMPTS", "x"),
        ]);
        let all = run(&[], &env).unwrap_err().join("\n");
        for needle in [
            "PART_SIZE",
            "5MiB to 5GiB",
            "CONCURRENCY",
            "CHECKSUM",
            "RETRY_ATTEMPTS",
        ] {
            assert!(all.contains(needle), "{needle} missing in {all}");
        }
        let s = run(
            &[
                "--checksum=off",
                "--part-size",
                "8MiB",
                "--upload-timeout",
                "0",
            ],
            ORIGINAL,
        )
        .unwrap()
        .1
        .unwrap();
        assert!(!s.checksum);
        assert_eq!(s.part_size, 8 << 20);
        assert_eq!(s.upload_timeout, None);
        let s = run(&[], ORIGINAL).unwrap().1.unwrap();
        assert!(s.checksum, "checksums are on by default");
        assert_eq!((s.concurrency, s.retry_attempts), (4, 6));
    }

    /// Found by the `parsers` fuzz target: each term fit, their sum overflowed (a panic).
    #[test]
    fn overflowing_durations_are_refused_not_a_panic() {
        for bad in [
            "10000000000000000000s10000000000000000000s",
            "3000000000000000h3000000000000000h",
            "77m64444737095567447m661h15151667370955370957s74.7m",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn zero_done_timeout_means_wait_forever() {
        let mut env = ORIGINAL.to_vec();
        env.push(("DONE_TIMEOUT", "0s"));
        assert_eq!(run(&[], &env).unwrap().1.unwrap().done_timeout, None);
        env.push(("DONE_TIMEOUT", "1"));
        env.remove(env.len() - 2);
        assert_eq!(
            run(&[], &env).unwrap().1.unwrap().done_timeout,
            Some(Duration::from_secs(1))
        );
    }
}
