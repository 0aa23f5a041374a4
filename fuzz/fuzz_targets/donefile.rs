//! A done file's bytes, as a plugin (or garbage on the volume) may leave them: `parse` and
//! everything toss does with the path it returns must hold up.
#![no_main]

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use toss::donefile::{
    anchor, confine, handoff_name, parse, settled, show, DoneError, Observation, DONE,
};

/// `show` keeps 200 characters; each escapes to at most 10 (`\u{10ffff}`), plus the quotes
/// and "...".
const SHOW_MAX_CHARS: usize = 2 + 200 * 10 + 3;

/// Characters that must not reach a log line raw: C0/C1 controls (`char::is_control`), and
/// the Unicode line separators and bidi overrides that rewrite how a line reads.
fn unsafe_in_log(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn check_show(bytes: &[u8]) {
    let shown = show(bytes);
    let n = shown.chars().count();
    assert!(
        n <= SHOW_MAX_CHARS,
        "show() is {n} characters long: {shown:?}"
    );
    assert!(
        shown.starts_with('"') && shown.ends_with('"') && n >= 2,
        "{shown:?}"
    );
    if let Some(c) = shown.chars().find(|c| unsafe_in_log(*c)) {
        panic!("show() lets {c:?} through raw: {shown:?}");
    }
}

/// The roots toss confines to are canonical absolute directories.
const ROOTS: &[&str] = &["/", "/tmp/sonobuoy/results", "/in"];

fuzz_target!(|data: &[u8]| {
    // `show` takes any bytes, not only parsed paths.
    check_show(data);

    let trimmed = data.trim_ascii();
    let look = Observation {
        content: data.to_vec(),
        len: data.len() as u64,
        modified: None,
    };
    assert!(!settled(None, &look), "a first look is never settled");
    let ready = settled(Some(&look.clone()), &look);
    assert_eq!(
        ready,
        !trimmed.is_empty(),
        "settled() and trimming disagree"
    );

    let named = match parse(data) {
        Ok(None) => {
            assert!(trimmed.is_empty(), "Ok(None) for a non-blank done file");
            return;
        }
        Ok(Some(p)) => p,
        Err(DoneError::NulByte) => {
            assert!(trimmed.contains(&0), "NulByte without a NUL");
            return;
        }
        Err(DoneError::SeveralPaths { count }) => {
            let lines = trimmed
                .split(|b| *b == b'\n')
                .filter(|l| !l.trim_ascii().is_empty())
                .count();
            assert!(count >= 2 && count == lines, "count {count}, lines {lines}");
            return;
        }
        Err(e) => panic!("parse() returned an error it has no business returning: {e:?}"),
    };

    let bytes = named.as_os_str().as_bytes();
    assert!(!bytes.is_empty(), "parse() returned an empty path");
    assert!(
        !bytes.contains(&0),
        "parse() returned a path with a NUL byte"
    );
    assert!(
        !bytes[0].is_ascii_whitespace() && !bytes[bytes.len() - 1].is_ascii_whitespace(),
        "parse() returned a path with whitespace around it: {bytes:?}"
    );
    assert!(
        !bytes.contains(&b'\n'),
        "parse() returned a path with a newline"
    );
    assert_eq!(bytes, trimmed, "parse() changed the path beyond trimming");
    check_show(bytes);

    for root in ROOTS.iter().map(Path::new) {
        let anchored = anchor(root, &named);
        if named.is_absolute() {
            assert_eq!(anchored, named);
        } else {
            assert_eq!(anchored, root.join(&named));
            assert!(anchored.starts_with(root));
        }

        for p in [named.as_path(), anchored.as_path()] {
            match confine(root, p, p) {
                Ok(()) => {
                    assert!(p.starts_with(root), "confine() let {p:?} out of {root:?}");
                    // Component-wise: no `..` can be left to climb out.
                    let mut rest = p.components();
                    for c in root.components() {
                        assert_eq!(rest.next(), Some(c), "{p:?} is not under {root:?}");
                    }
                }
                Err(e) => {
                    assert!(
                        !p.starts_with(root),
                        "confine() refused {p:?} under {root:?}"
                    );
                    assert!(matches!(e, DoneError::Outside { .. }), "{e:?}");
                    // The message goes to the log: what the done file named must be escaped.
                    let msg = e.to_string();
                    if let Some(c) = msg.chars().find(|c| unsafe_in_log(*c)) {
                        panic!("the Outside error prints {c:?} raw: {msg:?}");
                    }
                }
            }
        }
    }

    // hand_off names the results after their own file name.
    let base = named.file_name().unwrap_or_default();
    let name = handoff_name(base);
    let out = name.as_os_str().as_bytes();
    assert!(!out.is_empty(), "handoff_name({base:?}) is empty");
    assert_ne!(
        out,
        DONE.as_bytes(),
        "handoff_name({base:?}) clashes with the done file"
    );
    assert!(
        !out.starts_with(b"."),
        "handoff_name({base:?}) = {name:?} is hidden"
    );
    let mut parts = name.components();
    assert!(
        matches!(parts.next(), Some(Component::Normal(_))) && parts.next().is_none(),
        "handoff_name({base:?}) = {name:?} is not one plain file name"
    );
    if base.as_bytes() != DONE.as_bytes() && !base.as_bytes().starts_with(b".") && !base.is_empty()
    {
        assert_eq!(
            name.as_os_str(),
            base,
            "handoff_name() renamed a plain name"
        );
    } else {
        assert!(out.starts_with(b"results-"), "{name:?}");
    }
});
