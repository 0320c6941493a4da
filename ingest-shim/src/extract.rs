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
}

/// What the shim learns from a response body or stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseInfo {
    /// `model` as answered.
    pub model: Option<String>,
    /// Token usage, when reported.
    pub usage: Option<TokenUsage>,
    /// Assistant text.
    pub text: String,
}

/// Parses a request body for `provider`.
pub fn parse_request(provider: Provider, body: &[u8]) -> RequestInfo {
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
        return RequestInfo::default();
    };
    let mut info = RequestInfo {
        valid_json: true,
        model: root
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string),
        stream: root.get("stream").and_then(Value::as_bool).unwrap_or(false),
        ..RequestInfo::default()
    };
    if provider == Provider::Anthropic {
        if let Some(system) = root.get("system") {
            let text = collect_text(system, &mut info.attachments);
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
        let text = m
            .get("content")
            .map(|c| collect_text(c, &mut info.attachments))
            .unwrap_or_default();
        info.messages.push(Message { role, text });
    }
    info
}

/// Joins the text of a `content` value (string or block array) and records attachments.
fn collect_text(content: &Value, attachments: &mut Vec<Attachment>) -> String {
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
                            attachments.push(Attachment {
                                kind: "file".into(),
                                media_type: None,
                                source: "file_id".into(),
                                size_bytes: None,
                                sha256: None,
                                width: None,
                                height: None,
                            });
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

fn anthropic_attachment(kind: &str, source: Option<&Value>) -> Attachment {
    let source_type = source
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let media_type = source
        .and_then(|s| s.get("media_type"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match source_type {
        "base64" => {
            let data = source
                .and_then(|s| s.get("data"))
                .and_then(Value::as_str)
                .unwrap_or("");
            inline_attachment(kind, media_type, data)
        }
        "text" => {
            let data = source
                .and_then(|s| s.get("data"))
                .and_then(Value::as_str)
                .unwrap_or("");
            Attachment {
                kind: kind.into(),
                media_type: media_type.or_else(|| Some("text/plain".into())),
                source: "text".into(),
                size_bytes: Some(data.len() as i64),
                sha256: Some(hex::encode(Sha256::digest(data.as_bytes()))),
                width: None,
                height: None,
            }
        }
        "file" => meta_only(kind, media_type, "file_id"),
        _ => meta_only(kind, media_type, "url"),
    }
}

/// `data:` URLs are inline bytes; anything else is a reference.
fn url_attachment(kind: &str, url: &str) -> Attachment {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            let media_type = meta
                .split(';')
                .next()
                .filter(|m| !m.is_empty())
                .map(str::to_string);
            if meta.ends_with(";base64") {
                return inline_attachment(kind, media_type, data);
            }
            return Attachment {
                kind: kind.into(),
                media_type,
                source: "base64".into(),
                size_bytes: Some(data.len() as i64),
                sha256: Some(hex::encode(Sha256::digest(data.as_bytes()))),
                width: None,
                height: None,
            };
        }
    }
    meta_only(kind, None, "url")
}

fn inline_attachment(kind: &str, media_type: Option<String>, data: &str) -> Attachment {
    match base64::engine::general_purpose::STANDARD.decode(data.trim()) {
        Ok(bytes) => Attachment {
            kind: kind.into(),
            media_type,
            source: "base64".into(),
            size_bytes: Some(bytes.len() as i64),
            sha256: Some(hex::encode(Sha256::digest(&bytes))),
            width: None,
            height: None,
        },
        Err(_) => meta_only(kind, media_type, "base64"),
    }
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
        text: String::new(),
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
                    info.text.push_str(t);
                }
            }
        }
        Provider::Openai | Provider::Other => {
            for choice in root
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(t) = choice.pointer("/message/content").and_then(Value::as_str) {
                    info.text.push_str(t);
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
    use serde_json::json;

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
        assert_eq!(a.text, "ok");
        let o = parse_response(Provider::Openai, json!({"model": "g", "choices": [{"message": {"content": "yo"}}], "usage": {"prompt_tokens": 5, "completion_tokens": 6}}).to_string().as_bytes());
        assert_eq!(
            o.usage.map(|u| (u.input_tokens, u.output_tokens)),
            Some((5, 6))
        );
        assert_eq!(o.text, "yo");
    }
}
