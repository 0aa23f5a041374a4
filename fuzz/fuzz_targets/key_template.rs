//! Object key templates and the pod's values they are filled with.
//!
//! Input: `template \xff basename \xff node \xff pod \xff namespace \xff now`, each part
//! UTF-8 (0xFF never occurs in UTF-8, so it cannot clash with a value); `now` is decimal
//! seconds or, failing that, up to 8 little-endian bytes. Missing parts are empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toss::key::{KeyFacts, KeyTemplate};

const MAX_KEY_BYTES: usize = 1024;
/// `{timestamp}` for the largest u64: a 12-digit year, then `MMDDTHHMMSSZ`.
const MAX_TIMESTAMP_BYTES: usize = 24;

fn now_of(bytes: &[u8]) -> u64 {
    if let Some(n) = std::str::from_utf8(bytes).ok().and_then(|s| s.parse().ok()) {
        return n;
    }
    let mut le = [0u8; 8];
    let n = bytes.len().min(8);
    le[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(le)
}

fn segments_ok(s: &str) -> bool {
    s.split('/').all(|seg| seg != "." && seg != "..")
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xff);
    let mut next = || parts.next().unwrap_or_default();
    let Ok(source) = std::str::from_utf8(next()) else {
        return;
    };
    let mut values = [""; 4];
    for v in &mut values {
        let Ok(s) = std::str::from_utf8(next()) else {
            return;
        };
        *v = s;
    }
    let now = now_of(next());
    let [basename, node, pod, namespace] = values;
    let facts = KeyFacts {
        basename,
        node,
        pod,
        namespace,
        now,
    };

    let Ok(template) = KeyTemplate::parse(source) else {
        return;
    };
    assert_eq!(template.source(), source);
    assert!(!source.is_empty(), "an empty template was accepted");
    assert!(!source.starts_with('/'), "{source:?} was accepted");
    assert!(segments_ok(source), "{source:?} was accepted");
    assert_eq!(
        KeyTemplate::parse(source).as_ref(),
        Ok(&template),
        "parse is not deterministic"
    );

    let expanded = template.expand(&facts);
    assert_eq!(
        expanded,
        template.expand(&facts),
        "expand is not deterministic"
    );
    match expanded {
        Ok(key) => {
            assert!(
                key.len() <= MAX_KEY_BYTES,
                "{source:?} expanded to a {} byte key",
                key.len()
            );
            assert!(!key.is_empty(), "{source:?} expanded to an empty key");
            assert!(!key.starts_with('/'), "{source:?} expanded to {key:?}");
            assert!(segments_ok(&key), "{source:?} with {facts:?} gave {key:?}");
            // Values add no segments: the key has exactly the template's slashes.
            assert_eq!(
                key.matches('/').count(),
                source.matches('/').count(),
                "{source:?} with {facts:?} gave {key:?}"
            );
            // Values add no control characters: every one in the key is in the template.
            if let Some(c) = key.chars().find(|c| c.is_control() && !source.contains(*c)) {
                panic!("{source:?} with {facts:?} gave {key:?}, holding {c:?}");
            }
        }
        Err(e) => {
            assert!(e.contains("S3 allows"), "expand failed with {e:?}");
            // Only a key that cannot fit may be refused: bound the expansion from above.
            let fields = source.matches('{').count();
            let longest = values.iter().map(|v| v.len()).max().unwrap_or(0);
            let bound = source.len() + fields * longest.max(MAX_TIMESTAMP_BYTES);
            assert!(
                bound > MAX_KEY_BYTES,
                "{source:?} with {facts:?} refused though at most {bound} bytes: {e}"
            );
        }
    }
});
