//! Pure parsing of request and response bodies: model, stream flag, the content the model
//! reads ([`crate::content`]) and token usage. Never fails: a body that is not the expected
//! JSON yields what could be read, and the call is still forwarded untouched.

use serde_json::Value;
use sightline_detect::FingerprintKey;
use sightline_events::{Sampling, TokenUsage};

use crate::content::Content;

/// What the shim learns from a request body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestInfo {
    /// `model`.
    pub model: Option<String>,
    /// `stream: true`.
    pub stream: bool,
    /// What the model reads: the text to scan, the turns to publish, attachment metadata.
    pub content: Content,
    /// The client's own session id (Claude Code sends `metadata.user_id` ending in
    /// `_session_<uuid>`).
    pub session: Option<String>,
    /// The conversation a Responses API call names (`conversation`, an id or `{id}`).
    pub conversation: Option<String>,
    /// The response a Responses API call continues (`previous_response_id`).
    pub previous_response: Option<String>,
    /// Keyed hash of the canonical content ([`content_hash`]).
    pub content_hash: String,
    /// Sampling parameters asked for.
    pub sampling: Sampling,
}

/// What the shim learns from a response body or stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseInfo {
    /// `model` as answered.
    pub model: Option<String>,
    /// Token usage, when reported.
    pub usage: Option<TokenUsage>,
    /// Assistant text, one entry per choice in index order: OpenAI answers `n` of them,
    /// Anthropic one (its text blocks joined).
    pub texts: Vec<String>,
    /// Why the model stopped, as the API says it (`end_turn`, `stop`, `length`, `tool_use`;
    /// the Responses API's `completed` or `max_output_tokens`…; of the first choice to say).
    pub stop_reason: Option<String>,
    /// Bytes of the response body relayed.
    pub bytes: i64,
    /// The response's own id (Responses API), for the calls that continue from it.
    pub response_id: Option<String>,
}

/// Most choices a response is read as having: OpenAI's largest `n`. Text of a higher index
/// (which no real API sends) is kept with the last choice, not dropped.
pub const MAX_CHOICES: usize = 128;

impl ResponseInfo {
    /// Appends `text` to choice `index`'s text.
    pub fn push_text(&mut self, index: usize, text: &str) {
        let index = index.min(MAX_CHOICES - 1);
        if self.texts.len() <= index {
            self.texts.resize_with(index + 1, String::new);
        }
        self.texts[index].push_str(text);
    }
}

/// Parses a request body; `key` (the caller's tenant key) keys attachment digests. A body that
/// is not a JSON object is an error that says why.
pub fn parse_request(body: &[u8], key: &FingerprintKey) -> crate::Result<RequestInfo> {
    let root = serde_json::from_slice::<Value>(body).map_err(|e| {
        crate::Error::InvalidRequest(format!("the request body is not valid JSON: {e}"))
    })?;
    if !root.is_object() {
        return Err(crate::Error::InvalidRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    let session = root
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
        .and_then(session_of_user_id);
    let number = |k: &str| root.get(k).and_then(Value::as_f64);
    let integer = |k: &str| root.get(k).and_then(Value::as_i64);
    let sampling = Sampling {
        temperature: number("temperature"),
        top_p: number("top_p"),
        n: integer("n"),
        max_tokens: integer("max_tokens")
            .or_else(|| integer("max_completion_tokens"))
            .or_else(|| integer("max_output_tokens")),
        seed: integer("seed"),
    };
    let id_at = |v: Option<&Value>| {
        v.and_then(|v| v.as_str().or_else(|| v.get("id").and_then(Value::as_str)))
            .and_then(clean_id)
            .map(str::to_string)
    };
    Ok(RequestInfo {
        conversation: id_at(root.get("conversation")),
        previous_response: id_at(root.get("previous_response_id")),
        content_hash: content_hash(&root, key),
        sampling,
        model: root
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string),
        stream: root.get("stream").and_then(Value::as_bool).unwrap_or(false),
        session,
        content: Content::of(root, key),
    })
}

/// Fields of a request that make up what is asked: two calls that agree on them ask the same
/// thing, whatever their sampling parameters, ids, metadata or streaming.
const CONTENT_FIELDS: &[&str] = &[
    "model",
    "system",
    "instructions",
    "messages",
    "input",
    "prompt",
    "tools",
    "functions",
    "tool_choice",
    "response_format",
    "text",
    "requests",
    "previous_response_id",
    "conversation",
];

/// A keyed (per-tenant) hash of a request's canonical content ([`CONTENT_FIELDS`], object keys
/// sorted), taken before any redaction: resamples of one prompt share it, and without the key
/// nobody can test a guess of a prompt against it.
pub fn content_hash(root: &Value, key: &FingerprintKey) -> String {
    let mut canonical = String::from("content\0");
    for field in CONTENT_FIELDS {
        if let Some(v) = root.get(field) {
            canonical.push_str(field);
            canonical.push('=');
            write_canonical(v, &mut canonical);
            canonical.push('\n');
        }
    }
    key.fingerprint(canonical.as_bytes())
}

/// `v` as JSON with object keys sorted, so that key order does not change the hash.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The session in Claude Code's `metadata.user_id`: before 2.1 `user_<hash>_account_<uuid>_session_<uuid>`,
/// since then a JSON object string with a `session_id` field. Only a clean id is taken.
pub fn session_of_user_id(user_id: &str) -> Option<String> {
    let id = if user_id.trim_start().starts_with('{') {
        serde_json::from_str::<Value>(user_id)
            .ok()?
            .get("session_id")?
            .as_str()?
            .to_string()
    } else {
        user_id.rsplit_once("_session_")?.1.to_string()
    };
    clean_id(&id).map(str::to_string)
}

/// `id` if it is a clean id: 1 to 128 letters, digits, `-`, `_`, `.` or `:`.
pub fn clean_id(id: &str) -> Option<&str> {
    (!id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
    .then_some(id)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use proptest::prelude::*;

    use super::*;
    use serde_json::json;

    fn key() -> FingerprintKey {
        FingerprintKey::new(b"test key")
    }

    /// `(role, text)` of each turn, unredacted.
    fn turns(info: &RequestInfo) -> Vec<(String, String)> {
        let none = vec![vec![]; info.content.parts.len()];
        info.content.published_turns(&none)
    }

    proptest! {
        #[test]
        fn request_parsing_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_request(&body, &key());
        }

        #[test]
        fn json_shaped_garbage_never_panics(
            content in prop_oneof![Just(json!(null)), Just(json!(3)), Just(json!([1, "x", {"type": "image"}])),
                Just(json!([{"type": "image", "source": {"type": "base64", "data": "%%%"}}])),
                Just(json!([{"type": "image_url", "image_url": {"url": "data:;base64,"}}])),
                Just(json!([{"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}}])),
                Just(json!([{"type": "input_file", "file_data": 7}, {"type": "document", "source": 1}])),
                ".*".prop_map(|s| json!(s))],
        ) {
            let body = json!({"model": 1, "stream": "yes", "system": content.clone(), "metadata": {"user_id": "session_"},
                "input": content.clone(), "messages": [{"role": 5, "content": content}]});
            prop_assert!(parse_request(body.to_string().as_bytes(), &key()).is_ok());
        }
    }

    #[test]
    fn anthropic_request_with_system_blocks_and_image() {
        let body = json!({
            "model": "claude-sonnet-4", "stream": true, "max_tokens": 10,
            "system": [{"type": "text", "text": "be brief"}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGVsbG8="}}
            ]}]
        });
        let info = parse_request(body.to_string().as_bytes(), &key()).expect("parsed");
        assert!(info.stream);
        assert_eq!(info.model.as_deref(), Some("claude-sonnet-4"));
        assert_eq!(
            turns(&info),
            [
                ("system".to_string(), "be brief".to_string()),
                ("user".into(), "what is this?".into())
            ]
        );
        let a = &info.content.attachments[0];
        assert_eq!((a.kind.as_str(), a.size_bytes), ("image", Some(5)));
        let plain = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(
            a.sha256.as_deref(),
            Some(key().fingerprint(b"hello").as_str())
        );
        assert_ne!(
            a.sha256.as_deref(),
            Some(plain),
            "the digest is keyed: a short attachment cannot be confirmed offline"
        );
    }

    #[test]
    fn openai_request_with_data_url_image() {
        let body = json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "hi"},
              {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,aGVsbG8="}},
              {"type": "image_url", "image_url": {"url": "https://example.test/a.png"}}]}
        ]});
        let info = parse_request(body.to_string().as_bytes(), &key()).expect("parsed");
        assert!(!info.stream);
        assert_eq!(turns(&info).len(), 2);
        let a = &info.content.attachments;
        assert_eq!(a[0].media_type.as_deref(), Some("image/jpeg"));
        assert_eq!(a[0].size_bytes, Some(5));
        assert_eq!(a[1].source, "url");
    }

    #[test]
    fn claude_code_session_and_text_documents() {
        let doc = base64::engine::general_purpose::STANDARD.encode("key AKIAQYLPMN5HHHFPZAM2");
        let png = base64::engine::general_purpose::STANDARD.encode(
            [
                &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..],
                &640u32.to_be_bytes(),
                &480u32.to_be_bytes(),
            ]
            .concat(),
        );
        let body = json!({
            "model": "m",
            "metadata": {"user_id": "user_abc123_account_0f1e_session_7c9d2a10-5b4e-4f7a-9c1d-2e3f4a5b6c7d"},
            "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": doc}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                {"type": "text", "text": "read these"}
            ]}]
        });
        let info = parse_request(body.to_string().as_bytes(), &key()).expect("parsed");
        assert_eq!(
            info.session.as_deref(),
            Some("7c9d2a10-5b4e-4f7a-9c1d-2e3f4a5b6c7d")
        );
        let documents: Vec<&str> = info
            .content
            .parts
            .iter()
            .filter(|p| p.kind == crate::content::Kind::Scanned)
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(documents, ["key AKIAQYLPMN5HHHFPZAM2"]);
        let a = &info.content.attachments;
        assert_eq!((a[1].width, a[1].height), (Some(640), Some(480)));
        assert_eq!(
            info.content.first_user_text().as_deref(),
            Some("read these")
        );
    }

    #[test]
    fn claude_code_sessions_in_both_forms_are_clean_ids() {
        let uuid = "7c9d2a10-5b4e-4f7a-9c1d-2e3f4a5b6c7d";
        // Claude Code before 2.1.
        let old =
            format!("user_3f0c9a_account_0f1e2d3c-aaaa-bbbb-cccc-111122223333_session_{uuid}");
        assert_eq!(session_of_user_id(&old).as_deref(), Some(uuid));
        // Claude Code 2.1.x: a JSON object string.
        let new = format!(
            r#"{{"device_id":"9b1f3c0e7d","account_uuid":"0f1e2d3c-aaaa-bbbb-cccc-111122223333","session_id":"{uuid}"}}"#
        );
        assert_eq!(session_of_user_id(&new).as_deref(), Some(uuid));
        for junk in [
            r#"{"session_id": 5}"#,
            "user_x_session_",
            "user_x_session_id\":\"abc\"}",
            "no session here",
            r#"{"session_id":"a b"}"#,
        ] {
            assert_eq!(session_of_user_id(junk), None, "{junk}");
        }
        assert_eq!(clean_id(&"a".repeat(129)), None);
    }

    #[test]
    fn resamples_share_a_content_hash_and_other_prompts_do_not() {
        let hash = |body: serde_json::Value, key: &FingerprintKey| {
            parse_request(body.to_string().as_bytes(), key)
                .expect("parsed")
                .content_hash
        };
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "same prompt"}],
            "temperature": 1.0, "max_tokens": 64, "metadata": {"user_id": "a"}});
        let resample = json!({"max_tokens": 64, "temperature": 0.7, "stream": true, "seed": 9,
            "metadata": {"user_id": "b"}, "messages": [{"content": "same prompt", "role": "user"}], "model": "m"});
        assert_eq!(hash(base.clone(), &key()), hash(resample, &key()));
        let other =
            json!({"model": "m", "messages": [{"role": "user", "content": "another prompt"}]});
        assert_ne!(hash(base.clone(), &key()), hash(other, &key()));
        assert_ne!(
            hash(base.clone(), &key()),
            hash(base, &FingerprintKey::new(b"another tenant")),
            "keyed per tenant"
        );
    }

    #[test]
    fn sampling_parameters_are_read() {
        let info = parse_request(
            json!({"model": "m", "input": "x", "temperature": 0.2, "top_p": 0.9, "n": 2,
                "max_output_tokens": 100, "seed": 7})
            .to_string()
            .as_bytes(),
            &key(),
        )
        .expect("parsed");
        let s = info.sampling;
        assert_eq!(
            (s.temperature, s.top_p, s.n, s.max_tokens, s.seed),
            (Some(0.2), Some(0.9), Some(2), Some(100), Some(7))
        );
    }

    #[test]
    fn bodies_that_are_not_json_objects_are_refused() {
        for body in [
            &b"not json"[..],
            b"[1,2]",
            b"",
            // A lone surrogate escape: Python's parser takes it, serde refuses it. Refused
            // here, it cannot make the policy fall back to reading escaped bytes.
            br#"{"messages":[{"role":"user","content":"\ud800 AKIA\u0051YLPMN5HHHFPZAM2"}]}"#,
            &[0xff, 0xfe],
        ] {
            assert!(parse_request(body, &key()).is_err());
        }
    }

    #[test]
    fn text_of_a_far_choice_is_kept_with_the_last() {
        let mut far = ResponseInfo::default();
        far.push_text(usize::MAX, "kept");
        assert_eq!(far.texts.len(), MAX_CHOICES);
        assert_eq!(far.texts[MAX_CHOICES - 1], "kept");
    }
}
