//! Object key templates: `sonobuoy/{namespace}/{pod}/{timestamp}/{basename}`.

use std::fmt;

const PLACEHOLDERS: &[&str] = &["basename", "node", "pod", "namespace", "timestamp", "date"];

/// S3's limit on a key, in bytes.
const MAX_KEY_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(&'static str),
}

/// A validated template; expanding it cannot fail on the template's account.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    source: String,
    pieces: Vec<Piece>,
}

impl fmt::Debug for KeyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

/// The values a key is built from.
#[derive(Debug, Clone, Default)]
pub struct KeyFacts<'a> {
    pub basename: &'a str,
    pub node: &'a str,
    pub pod: &'a str,
    pub namespace: &'a str,
    /// Unix seconds, UTC.
    pub now: u64,
}

impl KeyTemplate {
    /// A template for an object key.
    pub fn parse(source: &str) -> Result<Self, String> {
        let t = Self::parse_text(source)?;
        if t.pieces.is_empty() {
            return Err("the key template is empty".into());
        }
        if source.starts_with('/') {
            return Err(format!("{source:?}: a key does not start with '/'"));
        }
        if source.split('/').any(|seg| seg == "." || seg == "..") {
            // URL normalisation would silently rewrite the key.
            return Err(format!(
                "{source:?}: '.' and '..' are not allowed as key segments"
            ));
        }
        Ok(t)
    }

    /// A template for any text with the same placeholders (tags).
    pub fn parse_text(source: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    pieces.push(Piece::Text(rest.to_string()));
                    break;
                }
                Some(i) if rest.as_bytes()[i] == b'}' => {
                    return Err(format!("{source:?}: '}}' without '{{'"));
                }
                Some(i) => {
                    if i > 0 {
                        pieces.push(Piece::Text(rest[..i].to_string()));
                    }
                    let close = rest[i..]
                        .find('}')
                        .ok_or_else(|| format!("{source:?}: '{{' without '}}'"))?;
                    let name = &rest[i + 1..i + close];
                    let field = PLACEHOLDERS.iter().find(|p| **p == name).ok_or_else(|| {
                        format!(
                            "{source:?}: unknown placeholder {{{name}}}; known: {}",
                            PLACEHOLDERS
                                .iter()
                                .map(|p| format!("{{{p}}}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    })?;
                    pieces.push(Piece::Field(field));
                    rest = &rest[i + close + 1..];
                }
            }
        }
        Ok(KeyTemplate {
            source: source.to_string(),
            pieces,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn expand(&self, facts: &KeyFacts) -> Result<String, String> {
        let mut key = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => key.push_str(t),
                Piece::Field(name) => key.push_str(&clean(match *name {
                    "basename" => facts.basename.to_string(),
                    "node" => facts.node.to_string(),
                    "pod" => facts.pod.to_string(),
                    "namespace" => facts.namespace.to_string(),
                    "timestamp" => crate::log::timestamp_compact(facts.now),
                    "date" => crate::log::timestamp_compact(facts.now)[..8].to_string(),
                    _ => unreachable!("parse admits only known placeholders"),
                })),
            }
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(format!(
                "the object key is {} bytes; S3 allows {MAX_KEY_BYTES}",
                key.len()
            ));
        }
        Ok(key)
    }
}

/// A value from the pod must not add key segments or control characters.
fn clean(value: String) -> String {
    let v: String = value
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    match v.as_str() {
        "" => "unknown".into(),
        "." | ".." => v.replace('.', "_"),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> KeyFacts<'static> {
        KeyFacts {
            basename: "e2e.tar.gz",
            node: "worker-1",
            pod: "sonobuoy-e2e-job-abc",
            namespace: "sonobuoy",
            now: 1_795_000_000, // 2026-11-18T11:06:40Z
        }
    }

    #[test]
    fn default_template_keeps_pods_and_runs_apart() {
        let t = KeyTemplate::parse("sonobuoy/{namespace}/{pod}/{timestamp}/{basename}").unwrap();
        assert_eq!(
            t.expand(&facts()).unwrap(),
            "sonobuoy/sonobuoy/sonobuoy-e2e-job-abc/20261118T110640Z/e2e.tar.gz"
        );
        let later = KeyFacts {
            now: 1_795_000_001,
            ..facts()
        };
        assert_ne!(t.expand(&facts()), t.expand(&later));
    }

    #[test]
    fn every_placeholder_expands() {
        let t =
            KeyTemplate::parse("{node}-{pod}-{namespace}-{date}-{timestamp}-{basename}").unwrap();
        assert_eq!(
            t.expand(&facts()).unwrap(),
            "worker-1-sonobuoy-e2e-job-abc-sonobuoy-20261118-20261118T110640Z-e2e.tar.gz"
        );
    }

    #[test]
    fn unknown_or_unbalanced_placeholders_are_refused() {
        assert!(KeyTemplate::parse("x/{nodes}")
            .unwrap_err()
            .contains("unknown placeholder {nodes}"));
        assert!(KeyTemplate::parse("x/{node")
            .unwrap_err()
            .contains("without"));
        assert!(KeyTemplate::parse("x/node}")
            .unwrap_err()
            .contains("without"));
        assert!(KeyTemplate::parse("").is_err());
        assert!(KeyTemplate::parse("/abs/{basename}").is_err());
        assert!(KeyTemplate::parse("a/../{basename}").is_err());
    }

    #[test]
    fn values_cannot_add_segments_or_control_characters() {
        let t = KeyTemplate::parse("r/{node}/{basename}").unwrap();
        let f = KeyFacts {
            node: "../etc",
            basename: "a\nb",
            ..facts()
        };
        assert_eq!(t.expand(&f).unwrap(), "r/.._etc/a_b");
        let f = KeyFacts {
            node: "",
            basename: "..",
            ..facts()
        };
        assert_eq!(t.expand(&f).unwrap(), "r/unknown/__");
    }

    #[test]
    fn overlong_keys_are_refused() {
        let t = KeyTemplate::parse("{basename}").unwrap();
        let long = "x".repeat(1025);
        let f = KeyFacts {
            basename: &long,
            ..facts()
        };
        assert!(t.expand(&f).unwrap_err().contains("1025 bytes"));
    }
}
