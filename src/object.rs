//! What an object carries besides its bytes: server-side encryption (SSE-S3, SSE-KMS,
//! SSE-C), storage class, canned ACL, metadata and tags. Company bucket policies demand
//! these on every write; S3 refuses unsigned `x-amz-*` headers on a presigned request, so
//! each one is signed into the request that carries it.
//!
//! All pure: parsing and validating the settings, and choosing the headers each request
//! needs (PutObject and CreateMultipartUpload take them all; UploadPart and HeadObject only
//! the SSE-C key, as S3 requires).

use md5::{Digest, Md5};

/// Canned ACLs S3 knows.
const ACLS: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    S3,
    /// SSE-KMS, with an optional key id and encryption context (JSON, sent base64).
    Kms {
        key_id: Option<String>,
        context: Option<String>,
    },
}

/// A customer-provided key (SSE-C): algorithm, key and key MD5 go on every request that
/// touches the object's bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SseC {
    key_b64: String,
    key_md5_b64: String,
}

impl std::fmt::Debug for SseC {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SseC(***)")
    }
}

impl SseC {
    /// From the key file's bytes: the raw 32 bytes a Kubernetes Secret mounts, or their
    /// base64 text.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<SseC, String> {
        let key: Vec<u8> = if bytes.len() == 32 {
            bytes.to_vec()
        } else {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| "neither 32 raw bytes nor base64 text".to_string())?;
            base64_decode(text.trim()).ok_or("neither 32 raw bytes nor base64 text")?
        };
        if key.len() != 32 {
            return Err(format!(
                "the key is {} bytes; SSE-C takes a 256-bit (32-byte) key",
                key.len()
            ));
        }
        Ok(SseC {
            key_b64: crate::upload::base64(&key),
            key_md5_b64: crate::upload::base64(&Md5::digest(&key)),
        })
    }

    /// The base64 key, to register as a secret for the log.
    pub fn secret(&self) -> &str {
        &self.key_b64
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectSettings {
    pub sse: Option<Sse>,
    pub sse_c: Option<SseC>,
    pub storage_class: Option<String>,
    pub acl: Option<String>,
    /// `x-amz-meta-*`, names without the prefix, defaults first.
    pub metadata: Vec<(String, String)>,
    /// `x-amz-tagging`, already URL-encoded.
    pub tagging: Option<String>,
}

/// Headers for PutObject and CreateMultipartUpload.
pub fn object_headers(o: &ObjectSettings) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| h.push((k.to_string(), v.to_string()));
    match &o.sse {
        Some(Sse::S3) => put("x-amz-server-side-encryption", "AES256"),
        Some(Sse::Kms { key_id, context }) => {
            put("x-amz-server-side-encryption", "aws:kms");
            if let Some(id) = key_id {
                put("x-amz-server-side-encryption-aws-kms-key-id", id);
            }
            if let Some(ctx) = context {
                put(
                    "x-amz-server-side-encryption-context",
                    &crate::upload::base64(ctx.as_bytes()),
                );
            }
        }
        None => {}
    }
    if let Some(class) = &o.storage_class {
        put("x-amz-storage-class", class);
    }
    if let Some(acl) = &o.acl {
        put("x-amz-acl", acl);
    }
    if let Some(tags) = &o.tagging {
        put("x-amz-tagging", tags);
    }
    for (k, v) in &o.metadata {
        put(&format!("x-amz-meta-{k}"), v);
    }
    h.extend(sse_c_headers(o));
    h
}

/// Headers for UploadPart and HeadObject: only the SSE-C key, when there is one.
pub fn sse_c_headers(o: &ObjectSettings) -> Vec<(String, String)> {
    match &o.sse_c {
        None => Vec::new(),
        Some(c) => vec![
            (
                "x-amz-server-side-encryption-customer-algorithm".into(),
                "AES256".into(),
            ),
            (
                "x-amz-server-side-encryption-customer-key".into(),
                c.key_b64.clone(),
            ),
            (
                "x-amz-server-side-encryption-customer-key-md5".into(),
                c.key_md5_b64.clone(),
            ),
        ],
    }
}

pub fn parse_sse(value: &str) -> Result<bool, String> {
    match value {
        "AES256" => Ok(false),
        "aws:kms" => Ok(true),
        other => Err(format!("{other:?} is neither AES256 nor aws:kms")),
    }
}

/// A KMS key id, alias or ARN: `1234abcd-...`, `alias/name`, `arn:aws:kms:...`.
pub fn check_kms_key_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 2048
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_/:.".contains(c))
        && (id.starts_with("arn:")
            || id.starts_with("alias/")
            || id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    ok.then_some(())
        .ok_or_else(|| format!("{id:?} is not a KMS key id, alias/NAME or key ARN"))
}

/// The encryption context is a JSON object of strings.
pub fn check_kms_context(ctx: &str) -> Result<(), String> {
    let t = ctx.trim();
    (t.starts_with('{') && t.ends_with('}') && t.contains(':'))
        .then_some(())
        .ok_or_else(|| "not a JSON object such as {\"team\":\"conformance\"}".to_string())
}

pub fn check_storage_class(class: &str) -> Result<(), String> {
    (!class.is_empty() && class.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .then_some(())
        .ok_or_else(|| {
            format!("{class:?} is not a storage class (STANDARD, STANDARD_IA, GLACIER_IR...)")
        })
}

pub fn check_acl(acl: &str) -> Result<(), String> {
    ACLS.contains(&acl)
        .then_some(())
        .ok_or_else(|| format!("{acl:?} is not a canned ACL ({})", ACLS.join(", ")))
}

/// `METADATA`: `k=v,k=v`. Names are lower-case letters, digits, `-` and `_` (they become
/// HTTP header names); values printable ASCII.
pub fn parse_metadata(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "{k:?} is not a metadata name (letters, digits, '-', '_')"
            ));
        }
        if !v.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return Err(format!("the value of {k} must be printable ASCII"));
        }
        out.push((k, v.trim().to_string()));
    }
    Ok(out)
}

/// `TAGS`: `k=v&k=v`, at most 10 tags, keys up to 128 and values up to 256 characters, as
/// S3 allows. Returns the pairs; [`encode_tags`] makes the header.
pub fn parse_tags(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(format!(
                "{pair:?}: a tag key is 1-128 characters, a value up to 256"
            ));
        }
        out.push((k.to_string(), v.to_string()));
    }
    if out.len() > 10 {
        return Err(format!("{} tags; S3 allows 10 on an object", out.len()));
    }
    Ok(out)
}

pub fn encode_tags(tags: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in tags {
        s.append_pair(k, v);
    }
    s.finish()
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sse_c_key_is_taken_raw_or_as_base64_and_sent_with_its_md5() {
        let raw = [7u8; 32];
        let from_raw = SseC::from_file_bytes(&raw).unwrap();
        let from_text =
            SseC::from_file_bytes(format!("{}\n", crate::upload::base64(&raw)).as_bytes()).unwrap();
        assert_eq!(from_raw, from_text);
        assert_eq!(from_raw.key_b64, crate::upload::base64(&raw));
        // MD5 of 32 bytes of 7 is cb81c010...50a6 (`md5sum`), which is this in base64.
        assert_eq!(from_raw.key_md5_b64, "y4HAEFCYWuvAXWFTtA1Qpg==");
        let short = crate::upload::base64(&[1u8; 16]);
        assert!(SseC::from_file_bytes(short.as_bytes())
            .unwrap_err()
            .contains("16 bytes"));
        assert!(SseC::from_file_bytes(&[1u8; 16]).is_err());
        assert!(SseC::from_file_bytes(b"not base64!").is_err());
        assert_eq!(format!("{from_raw:?}"), "SseC(***)");
    }

    #[test]
    fn put_and_create_carry_everything_parts_and_head_only_the_customer_key() {
        let o = ObjectSettings {
            sse: Some(Sse::Kms {
                key_id: Some("alias/results".into()),
                context: Some("{\"a\":\"b\"}".into()),
            }),
            sse_c: None,
            storage_class: Some("STANDARD_IA".into()),
            acl: Some("bucket-owner-full-control".into()),
            metadata: vec![("toss-node".into(), "n1".into())],
            tagging: Some("team=conformance".into()),
        };
        let h = object_headers(&o);
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("x-amz-server-side-encryption"), Some("aws:kms"));
        assert_eq!(
            get("x-amz-server-side-encryption-aws-kms-key-id"),
            Some("alias/results")
        );
        assert_eq!(
            get("x-amz-server-side-encryption-context"),
            Some("eyJhIjoiYiJ9")
        );
        assert_eq!(get("x-amz-storage-class"), Some("STANDARD_IA"));
        assert_eq!(get("x-amz-acl"), Some("bucket-owner-full-control"));
        assert_eq!(get("x-amz-tagging"), Some("team=conformance"));
        assert_eq!(get("x-amz-meta-toss-node"), Some("n1"));
        assert!(sse_c_headers(&o).is_empty());
        let c = ObjectSettings {
            sse_c: Some(SseC::from_file_bytes(&[1u8; 32]).unwrap()),
            ..Default::default()
        };
        assert_eq!(sse_c_headers(&c).len(), 3);
        assert_eq!(object_headers(&c).len(), 3);
    }

    #[test]
    fn values_are_validated_before_anything_is_sent() {
        assert!(check_kms_key_id(
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        )
        .is_ok());
        assert!(check_kms_key_id("alias/conformance").is_ok());
        assert!(check_kms_key_id("1234abcd-12ab-34cd-56ef-1234567890ab").is_ok());
        assert!(check_kms_key_id("my key").is_err());
        assert!(check_kms_key_id("notakey").is_err());
        assert!(check_kms_context("{\"team\":\"x\"}").is_ok());
        assert!(check_kms_context("team=x").is_err());
        assert!(check_storage_class("GLACIER_IR").is_ok());
        assert!(check_storage_class("glacier").is_err());
        assert!(check_acl("bucket-owner-full-control").is_ok());
        assert!(check_acl("everyone").is_err());
        assert_eq!(parse_sse("AES256"), Ok(false));
        assert!(parse_sse("aes").is_err());
        assert_eq!(
            parse_metadata("Team=conformance, run=42").unwrap(),
            vec![
                ("team".into(), "conformance".into()),
                ("run".into(), "42".into())
            ]
        );
        assert!(parse_metadata("bad key=1").is_err());
        assert!(parse_metadata("novalue").is_err());
        assert!(parse_metadata("k=\u{e9}").is_err());
        assert_eq!(parse_tags("a=1&b=two words").unwrap().len(), 2);
        assert!(parse_tags(
            &(0..11)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join("&")
        )
        .is_err());
        assert!(parse_tags("=v").is_err());
        assert_eq!(
            encode_tags(&parse_tags("team=e2e&node=a b").unwrap()),
            "team=e2e&node=a+b"
        );
    }

    #[test]
    fn base64_decoding_undoes_encoding() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foobar", &[0xffu8; 32]] {
            assert_eq!(
                base64_decode(&crate::upload::base64(data)).as_deref(),
                Some(data)
            );
        }
        assert_eq!(base64_decode("a"), None);
    }
}
