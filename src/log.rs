//! Event lines on stderr: one line per event, UTC timestamp first, secrets masked.
//!
//! Everything toss prints goes through [`redact`], so a secret that slips into an error
//! message (a presigned URL inside a transport error, a key echoed back by a server) is
//! masked at the last moment rather than trusted to every call site.

use std::sync::{OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Secret values known at run time (secret key, session token): masked wherever they appear.
static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();

/// Query parameters of a presigned URL whose values must never be printed.
const SIGNED_PARAMS: &[&str] = &[
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    // Other signing schemes an UPLOAD_URL may use (SigV2, Azure-style SAS).
    "Signature",
    "sig",
];

pub const MASK: &str = "***";

/// Register a secret value so that it is masked in every line printed from now on.
pub fn add_secret(value: &str) {
    // Very short values would mask innocent text; settings refuse them anyway.
    if value.len() < 4 {
        return;
    }
    let lock = SECRETS.get_or_init(|| RwLock::new(Vec::new()));
    if let Ok(mut secrets) = lock.write() {
        if !secrets.iter().any(|s| s == value) {
            secrets.push(value.to_string());
        }
    }
}

pub fn info(msg: impl AsRef<str>) {
    line("INFO", msg.as_ref());
}

pub fn error(msg: impl AsRef<str>) {
    line("ERROR", msg.as_ref());
}

fn line(level: &str, msg: &str) {
    let secrets = SECRETS.get().and_then(|l| l.read().ok());
    let known: &[String] = secrets.as_deref().map_or(&[], |v| v.as_slice());
    // Paths from a done file or a results dir may hold anything: a control character must
    // not forge a log line or drive a terminal.
    let mut text = String::with_capacity(msg.len());
    for c in redact(msg, known).chars() {
        match c.is_control() {
            true => text.extend(c.escape_default()),
            false => text.push(c),
        }
    }
    // One write per line, so lines from several threads never interleave.
    eprintln!("{} {level:<5} {text}", timestamp_rfc3339(now_unix()));
}

/// Mask presigned-URL credentials and any of `secrets` in `text`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if !secret.is_empty() {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    for param in SIGNED_PARAMS {
        out = mask_param(&out, param);
    }
    out
}

/// Replace the value of every `param=value` (case-insensitive name): the run of
/// URL-safe characters after `=`, as a query string encodes it.
fn mask_param(text: &str, param: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let needle = format!("{}=", param.to_ascii_lowercase());
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(&needle) {
        let value_start = pos + found + needle.len();
        out.push_str(&text[pos..value_start]);
        let rest = &text[value_start..];
        let value_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "%._~-+/=".contains(c)))
            .unwrap_or(rest.len());
        // Masked once: a later pass over the same name (`Signature` within
        // `X-Amz-Signature`) finds the mask, not a value.
        if !rest.starts_with(MASK) {
            out.push_str(MASK);
        }
        pos = value_start + value_len;
    }
    out.push_str(&text[pos..]);
    out
}

pub fn now_unix() -> (u64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_millis())
}

/// `2026-11-25T16:06:24.123Z`
pub fn timestamp_rfc3339((secs, millis): (u64, u32)) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
}

/// `20261125T160624Z`: sortable and free of characters that need escaping in a key.
pub fn timestamp_compact(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Unix seconds to UTC (year, month, day, hour, minute, second), after Howard Hinnant's
/// days-from-civil inverse; no calendar crate needed for a timestamp.
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_known_dates() {
        assert_eq!(timestamp_rfc3339((0, 0)), "1970-01-01T00:00:00.000Z");
        // 2013-05-24T00:00:00Z, the date of AWS's SigV4 examples.
        assert_eq!(timestamp_compact(1_369_353_600), "20130524T000000Z");
        // A leap day and the last second of a year.
        assert_eq!(timestamp_compact(951_825_599), "20000229T115959Z");
        assert_eq!(timestamp_compact(1_798_761_599), "20261231T235959Z");
        assert_eq!(
            timestamp_rfc3339((1_795_000_000, 7)),
            "2026-11-18T11:06:40.007Z"
        );
    }

    #[test]
    fn presigned_url_credentials_are_masked() {
        let url = "http://127.0.0.1:9000/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-Security-Token=tok123&X-Amz-SignedHeaders=host&X-Amz-Signature=abcdef0123";
        let out = redact(&format!("io error: {url}: broken pipe"), &[]);
        assert!(!out.contains("AKID"), "{out}");
        assert!(!out.contains("tok123"), "{out}");
        assert!(!out.contains("abcdef0123"), "{out}");
        assert!(out.contains("X-Amz-Signature=***"), "{out}");
        assert!(out.ends_with(": broken pipe"), "{out}");
        assert!(out.contains("X-Amz-Date=20260101T000000Z"), "{out}");
    }

    #[test]
    fn param_names_match_case_insensitively() {
        let out = redact("x-amz-signature=deadbeef&x=1", &[]);
        assert_eq!(out, "x-amz-signature=***&x=1");
    }

    #[test]
    fn registered_secret_values_are_masked() {
        let secrets = vec!["wJalrXUtnFEMI/K7MDENG".to_string()];
        let out = redact("server said: key wJalrXUtnFEMI/K7MDENG is bad", &secrets);
        assert_eq!(out, "server said: key *** is bad");
    }
}
