//! Pure parsing of request and response bodies: model, stream flag, text turns, attachment
//! metadata and token usage. Never fails: a body that is not the expected JSON yields what
//! could be read, and the call is still forwarded untouched.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sightline_events::{Attachment, Message, Provider, TokenUsage};

/// What the shim learns from a request body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestInfo {
    /// Whether the body parsed as a JSON object.
    pub valid_json: bool,
    /// `model`.
    pub model: Option<String>,
    /// `stream: true`.
    pub stream: bool,
    /// Text turns (system first).
    pub messages: Vec<Message>,
    /// Attachment metadata.
    pub attachments: Vec<Attachment>,
    /// Text of text-like documents (decoded), scanned like messages but never published.
    pub documents: Vec<String>,
    /// The client's own session id (Claude Code sends `metadata.user_id` ending in
    /// `_session_<uuid>`).
    pub session: Option<String>,
}

impl RequestInfo {
    /// Text of the first user turn, for deriving a conversation id.
    pub fn first_user_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .find(|m| m.role == "user")
            .map(|m| m.text.as_str())
    }
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

/// A choice's `index`, or `position` in its array when absent.
pub fn choice_index(choice: &Value, position: usize) -> usize {
    choice
        .get("index")
        .and_then(Value::as_u64)
        .map_or(position, |i| usize::try_from(i).unwrap_or(usize::MAX))
}

/// Parses a request body for `provider`.
pub fn parse_request(provider: Provider, body: &[u8]) -> RequestInfo {
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
        return RequestInfo::default();
    };
    let session = root
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
        .and_then(|id| id.rsplit_once("session_"))
        .map(|(_, s)| s.to_string())
        .filter(|s| !s.is_empty() && s.len() <= 128);
    let mut info = RequestInfo {
        valid_json: true,
        model: root
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string),
        stream: root.get("stream").and_then(Value::as_bool).unwrap_or(false),
        session,
        ..RequestInfo::default()
    };
    if provider == Provider::Anthropic {
        if let Some(system) = root.get("system") {
            let mut found = vec![];
            let text = collect_text(system, &mut found);
            for (attachment, document) in found {
                info.attachments.push(attachment);
                info.documents.extend(document);
            }
            if !text.is_empty() {
                info.messages.push(Message {
                    role: "system".into(),
                    text,
                });
            }
        }
    }
    for m in root
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let mut found = vec![];
        let text = m
            .get("content")
            .map(|c| collect_text(c, &mut found))
            .unwrap_or_default();
        for (attachment, document) in found {
            info.attachments.push(attachment);
            info.documents.extend(document);
        }
        info.messages.push(Message { role, text });
    }
    info
}

/// Whether `body` may hold a document whose text [`parse_request`] would decode, for the
/// policy to scan before the call goes upstream. False only when it cannot: documents come
/// only from a `"source"` object (Anthropic) or a `data:` URL (OpenAI), and JSON can spell
/// those names without their letters only with a `\u` escape. A plain chat body answers
/// false, and need not be parsed before it is forwarded.
pub fn may_hold_documents(body: &[u8]) -> bool {
    [&b"\"source\""[..], b"data:", b"\\u"]
        .iter()
        .any(|needle| memchr::memmem::find(body, needle).is_some())
}

/// Joins the text of a `content` value (string or block array) and records attachments.
fn collect_text(content: &Value, attachments: &mut Vec<(Attachment, Option<String>)>) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            let mut parts = vec![];
            for block in blocks {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") | Some("input_text") => {
                        if let Some(t) = block.get("text").and_then(Value::as_str) {
                            parts.push(t.to_string());
                        }
                    }
                    Some("image") | Some("document") => {
                        let kind = block.get("type").and_then(Value::as_str).unwrap_or("file");
                        attachments.push(anthropic_attachment(kind, block.get("source")));
                    }
                    Some("image_url") => {
                        let url = block
                            .pointer("/image_url/url")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        attachments.push(url_attachment("image", url));
                    }
                    Some("file") => {
                        let file = block.get("file");
                        if let Some(data) = file
                            .and_then(|f| f.get("file_data"))
                            .and_then(Value::as_str)
                        {
                            attachments.push(url_attachment("file", data));
                        } else {
                            attachments.push((meta_only("file", None, "file_id"), None));
                        }
                    }
                    Some("tool_result") => {
                        if let Some(c) = block.get("content") {
                            parts.push(collect_text(c, attachments));
                        }
                    }
                    _ => {}
                }
            }
            parts.join("\n")
        }
        _ => String::new(),
    }
}

type Found = (Attachment, Option<String>);

fn anthropic_attachment(kind: &str, source: Option<&Value>) -> Found {
    let field = |k: &str| source.and_then(|s| s.get(k)).and_then(Value::as_str);
    let media_type = field("media_type").map(str::to_string);
    match field("type").unwrap_or("") {
        "base64" => inline_attachment(kind, media_type, field("data").unwrap_or("")),
        "text" => {
            let data = field("data").unwrap_or("");
            let meta = Attachment {
                kind: kind.into(),
                media_type: media_type.or_else(|| Some("text/plain".into())),
                source: "text".into(),
                size_bytes: Some(data.len() as i64),
                sha256: Some(hex::encode(Sha256::digest(data.as_bytes()))),
                width: None,
                height: None,
            };
            (meta, Some(data.to_string()))
        }
        "file" => (meta_only(kind, media_type, "file_id"), None),
        _ => (meta_only(kind, media_type, "url"), None),
    }
}

/// `data:` URLs are inline bytes; anything else is a reference.
fn url_attachment(kind: &str, url: &str) -> Found {
    if let Some((meta, data)) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
    {
        let media_type = meta
            .split(';')
            .next()
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        if meta.ends_with(";base64") {
            return inline_attachment(kind, media_type, data);
        }
        let attachment = Attachment {
            kind: kind.into(),
            media_type,
            source: "base64".into(),
            size_bytes: Some(data.len() as i64),
            sha256: Some(hex::encode(Sha256::digest(data.as_bytes()))),
            width: None,
            height: None,
        };
        return (attachment, Some(data.to_string()));
    }
    (meta_only(kind, None, "url"), None)
}

fn is_text_like(media_type: Option<&str>) -> bool {
    media_type.is_some_and(|m| {
        m.starts_with("text/")
            || matches!(
                m,
                "application/json"
                    | "application/xml"
                    | "application/x-yaml"
                    | "application/yaml"
                    | "application/x-sh"
            )
    })
}

fn inline_attachment(kind: &str, media_type: Option<String>, data: &str) -> Found {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data.trim()) else {
        return (meta_only(kind, media_type, "base64"), None);
    };
    let dims = crate::media::image_dimensions(&bytes);
    let text = if is_text_like(media_type.as_deref()) {
        String::from_utf8(bytes.clone()).ok()
    } else {
        None
    };
    let attachment = Attachment {
        kind: kind.into(),
        media_type,
        source: "base64".into(),
        size_bytes: Some(bytes.len() as i64),
        sha256: Some(hex::encode(Sha256::digest(&bytes))),
        width: dims.and_then(|(w, _)| i32::try_from(w).ok()),
        height: dims.and_then(|(_, h)| i32::try_from(h).ok()),
    };
    (attachment, text)
}

fn meta_only(kind: &str, media_type: Option<String>, source: &str) -> Attachment {
    Attachment {
        kind: kind.into(),
        media_type,
        source: source.into(),
        size_bytes: None,
        sha256: None,
        width: None,
        height: None,
    }
}

/// Parses a complete (non-streamed) JSON response.
pub fn parse_response(provider: Provider, body: &[u8]) -> ResponseInfo {
    let Ok(root) = serde_json::from_slice::<Value>(body) else {
        return ResponseInfo::default();
    };
    let mut info = ResponseInfo {
        model: root
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string),
        usage: root.get("usage").and_then(|u| usage_of(provider, u)),
        texts: vec![],
    };
    match provider {
        Provider::Anthropic => {
            for block in root
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(t) = block.get("text").and_then(Value::as_str) {
                    info.push_text(0, t);
                }
            }
        }
        Provider::Openai | Provider::Other => {
            for (position, choice) in root
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(t) = choice.pointer("/message/content").and_then(Value::as_str) {
                    info.push_text(choice_index(choice, position), t);
                }
            }
        }
    }
    info
}

/// Reads a `usage` object in either API's shape.
pub fn usage_of(provider: Provider, u: &Value) -> Option<TokenUsage> {
    let get = |k: &str| u.get(k).and_then(Value::as_i64);
    match provider {
        Provider::Anthropic => Some(TokenUsage {
            input_tokens: get("input_tokens")?,
            output_tokens: get("output_tokens").unwrap_or(0),
            cache_read_tokens: get("cache_read_input_tokens"),
            cache_write_tokens: get("cache_creation_input_tokens"),
        }),
        Provider::Openai | Provider::Other => Some(TokenUsage {
            input_tokens: get("prompt_tokens")?,
            output_tokens: get("completion_tokens").unwrap_or(0),
            cache_read_tokens: u
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(Value::as_i64),
            cache_write_tokens: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        #[test]
        fn request_parsing_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_request(Provider::Anthropic, &body);
            let _ = parse_request(Provider::Openai, &body);
            let _ = parse_response(Provider::Anthropic, &body);
        }

        #[test]
        fn json_shaped_garbage_never_panics(
            content in prop_oneof![Just(json!(null)), Just(json!(3)), Just(json!([1, "x", {"type": "image"}])),
                Just(json!([{"type": "image", "source": {"type": "base64", "data": "%%%"}}])),
                Just(json!([{"type": "image_url", "image_url": {"url": "data:;base64,"}}])),
                Just(json!([{"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}}])),
                ".*".prop_map(|s| json!(s))],
        ) {
            let body = json!({"model": 1, "stream": "yes", "system": content.clone(), "metadata": {"user_id": "session_"},
                "messages": [{"role": 5, "content": content}]});
            for provider in [Provider::Anthropic, Provider::Openai] {
                let body = body.to_string();
                let info = parse_request(provider, body.as_bytes());
                prop_assert!(info.documents.is_empty() || may_hold_documents(body.as_bytes()));
            }
        }
    }

    #[test]
    fn bodies_that_cannot_hold_documents_are_told_apart() {
        let doc = base64::engine::general_purpose::STANDARD.encode("key AKIAQYLPMN5HHHFPZAM2");
        let holding = [
            json!({"messages": [{"role": "user", "content": [{"type": "document",
                "source": {"type": "base64", "media_type": "text/plain", "data": doc}}]}]})
            .to_string(),
            json!({"messages": [{"role": "user", "content": [{"type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "a secret"}}]}]})
            .to_string(),
            json!({"messages": [{"role": "user", "content": [{"type": "file",
                "file": {"file_data": format!("data:text/plain;base64,{doc}")}}]}]})
            .to_string(),
            // The key's name spelt with an escape: serde reads it as "source".
            r#"{"messages":[{"role":"user","content":[{"type":"document","sour\u0063e":{"type":"text","data":"a secret"}}]}]}"#.into(),
        ];
        for body in &holding {
            let info = parse_request(Provider::Anthropic, body.as_bytes());
            let info = if info.documents.is_empty() {
                parse_request(Provider::Openai, body.as_bytes())
            } else {
                info
            };
            assert!(
                !info.documents.is_empty(),
                "fixture holds no document: {body}"
            );
            assert!(may_hold_documents(body.as_bytes()), "{body}");
        }
        let plain = json!({"model": "m", "messages": [{"role": "user",
            "content": [{"type": "text", "text": "what is an open source licence?"}]}]});
        assert!(!may_hold_documents(plain.to_string().as_bytes()));
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
        let info = parse_request(Provider::Anthropic, body.to_string().as_bytes());
        assert!(info.valid_json && info.stream);
        assert_eq!(info.model.as_deref(), Some("claude-sonnet-4"));
        assert_eq!(
            info.messages[0],
            Message {
                role: "system".into(),
                text: "be brief".into()
            }
        );
        assert_eq!(info.messages[1].text, "what is this?");
        let a = &info.attachments[0];
        assert_eq!((a.kind.as_str(), a.size_bytes), ("image", Some(5)));
        assert_eq!(
            a.sha256.as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
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
        let info = parse_request(Provider::Openai, body.to_string().as_bytes());
        assert!(!info.stream);
        assert_eq!(info.messages.len(), 2);
        assert_eq!(
            info.attachments[0].media_type.as_deref(),
            Some("image/jpeg")
        );
        assert_eq!(info.attachments[0].size_bytes, Some(5));
        assert_eq!(info.attachments[1].source, "url");
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
        let info = parse_request(Provider::Anthropic, body.to_string().as_bytes());
        assert_eq!(
            info.session.as_deref(),
            Some("7c9d2a10-5b4e-4f7a-9c1d-2e3f4a5b6c7d")
        );
        assert_eq!(info.documents, ["key AKIAQYLPMN5HHHFPZAM2"]);
        assert_eq!(
            (info.attachments[1].width, info.attachments[1].height),
            (Some(640), Some(480))
        );
        assert_eq!(info.first_user_text(), Some("read these"));
    }

    #[test]
    fn malformed_bodies_yield_defaults() {
        for body in [
            &b"not json"[..],
            b"[1,2]",
            b"",
            b"{\"messages\": 3}",
            &[0xff, 0xfe],
        ] {
            let info = parse_request(Provider::Anthropic, body);
            assert!(info.messages.is_empty());
        }
    }

    #[test]
    fn usage_in_both_shapes() {
        let a = parse_response(Provider::Anthropic, json!({"model": "m", "content": [{"type": "text", "text": "ok"}], "usage": {"input_tokens": 3, "output_tokens": 4}}).to_string().as_bytes());
        assert_eq!(
            a.usage.map(|u| (u.input_tokens, u.output_tokens)),
            Some((3, 4))
        );
        assert_eq!(a.texts, ["ok"]);
        let o = parse_response(Provider::Openai, json!({"model": "g", "choices": [{"message": {"content": "yo"}}], "usage": {"prompt_tokens": 5, "completion_tokens": 6}}).to_string().as_bytes());
        assert_eq!(
            o.usage.map(|u| (u.input_tokens, u.output_tokens)),
            Some((5, 6))
        );
        assert_eq!(o.texts, ["yo"]);
    }

    #[test]
    fn every_choice_keeps_its_own_text() {
        let o = parse_response(
            Provider::Openai,
            json!({"choices": [
                {"index": 1, "message": {"content": "second"}},
                {"index": 0, "message": {"content": "first"}},
                {"index": 2, "message": {"content": null, "tool_calls": []}}
            ]})
            .to_string()
            .as_bytes(),
        );
        assert_eq!(o.texts, ["first", "second"]);
        let mut far = ResponseInfo::default();
        far.push_text(usize::MAX, "kept");
        assert_eq!(far.texts.len(), MAX_CHOICES);
        assert_eq!(far.texts[MAX_CHOICES - 1], "kept");
    }
}
