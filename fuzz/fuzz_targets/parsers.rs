//! The small parsers: durations and sizes from settings, S3's XML error body, and the
//! redaction every log line goes through.
//!
//! Input: `text \xff secret \xff secret ...` (lossy UTF-8). The text goes to every parser;
//! the secrets only to `redact`.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use toss::log::{redact, MASK};
use toss::s3::parse_error;
use toss::settings::{parse_duration, parse_size};

/// As src/log.rs masks them (SigV4, and the SigV2 / SAS names an UPLOAD_URL may carry).
const SIGNED_PARAMS: &[&str] = &[
    "x-amz-signature=",
    "x-amz-credential=",
    "x-amz-security-token=",
    "signature=",
    "sig=",
];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xff);
    let text = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    // As `log::add_secret` registers them: at least 4 bytes, no duplicates (a secret and
    // a token, in practice). Without that, n copies of "*" grow a line 3^n-fold.
    let mut secrets: Vec<String> = Vec::new();
    for p in parts {
        let s = String::from_utf8_lossy(p).into_owned();
        if s.len() >= 4 && !secrets.contains(&s) && secrets.len() < 4 {
            secrets.push(s);
        }
    }

    match parse_duration(&text) {
        Ok(d) => {
            if let Ok(secs) = text.trim().parse::<u64>() {
                assert_eq!(d, Duration::from_secs(secs), "{text:?}");
            }
        }
        Err(e) => assert!(!e.is_empty()),
    }

    match parse_size(&text) {
        Ok(n) => {
            if let Ok(bytes) = text.trim().parse::<u64>() {
                assert_eq!(n, bytes, "{text:?}");
            }
        }
        Err(e) => assert!(!e.is_empty()),
    }

    let (code, message) = parse_error(&text);
    if !text.contains("<Code>") {
        assert!(code.is_empty(), "{text:?} gave code {code:?}");
    }
    if !text.contains("<Message>") {
        assert!(message.is_empty(), "{text:?} gave message {message:?}");
    }
    assert!(code.len() <= text.len() && message.len() <= text.len());

    let out = redact(&text, &secrets);
    let lower = out.to_ascii_lowercase();
    for param in SIGNED_PARAMS {
        let mut from = 0;
        while let Some(i) = lower[from..].find(param) {
            let after = from + i + param.len();
            assert!(
                lower[after..].starts_with(MASK),
                "{param} left unmasked in {out:?} (from {text:?})"
            );
            from = after;
        }
    }
    for secret in &secrets {
        // A secret that holds the mask itself may reappear by construction; a real one cannot.
        if !secret.is_empty() && !secret.contains('*') {
            assert!(
                !out.contains(secret.as_str()),
                "secret {secret:?} left in {out:?} (from {text:?})"
            );
        }
    }
    if secrets.iter().all(|s| s.is_empty())
        && !SIGNED_PARAMS
            .iter()
            .any(|p| text.to_ascii_lowercase().contains(p))
    {
        assert_eq!(out, text, "redact changed a line with nothing to mask");
    }
});
