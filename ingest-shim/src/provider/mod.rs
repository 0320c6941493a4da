//! The provider APIs the shim inspects, one module each behind [`Api`]: what a whole response
//! and each streamed event say (text, model, usage), and how a blocked call is answered.
//! Requests need no per-API code: [`crate::content`] reads every field that reaches the model.
//! Adding an API is one module and one line in [`route`].

pub mod anthropic;
pub mod opaque;
pub mod openai_chat;
pub mod openai_completions;
pub mod openai_embeddings;
pub mod openai_responses;

use serde_json::Value;
use sightline_events::{Provider, TokenUsage};

use crate::extract::ResponseInfo;

/// One provider API.
pub trait Api: Sync + std::fmt::Debug {
    /// Whose API it is: the upstream it goes to, the event's provider, the error shape.
    fn provider(&self) -> Provider;

    /// Whether the shim reads the request's content (scans it, publishes its text). Only
    /// endpoints it does not know are recorded without.
    fn reads_content(&self) -> bool {
        true
    }

    /// Whether its responses have ids a later call continues from (`previous_response_id`).
    fn has_response_ids(&self) -> bool {
        false
    }

    /// A blocked call's answer, `(content type, body)` with `text` as the assistant's reply;
    /// `None` where the endpoint has no reply to give (token counts, embeddings, batches),
    /// and the call is refused as an invalid request instead.
    fn blocked_reply(
        &self,
        stream: bool,
        model: &str,
        call_id: &str,
        text: &str,
    ) -> Option<(&'static str, String)>;

    /// What a whole (not streamed) response body says.
    fn parse_response(&self, root: &Value) -> ResponseInfo;

    /// Folds the JSON data of one streamed event into `info`.
    fn stream_event(&self, data: &Value, info: &mut ResponseInfo);
}

/// The API a `POST` to `path` is, when the shim inspects it.
pub fn route(path: &str) -> Option<&'static dyn Api> {
    Some(match path {
        "/v1/messages" => &anthropic::MESSAGES,
        "/v1/messages/count_tokens" => &anthropic::COUNT_TOKENS,
        "/v1/messages/batches" => &anthropic::BATCHES,
        "/v1/chat/completions" => &openai_chat::CHAT,
        "/v1/responses" => &openai_responses::RESPONSES,
        "/v1/completions" => &openai_completions::COMPLETIONS,
        "/v1/embeddings" => &openai_embeddings::EMBEDDINGS,
        _ => return None,
    })
}

/// An error body in the provider's own shape, so SDKs surface the message.
pub fn error_body(provider: Provider, kind: &str, message: &str) -> Value {
    match provider {
        Provider::Anthropic => {
            serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        Provider::Openai | Provider::Other => {
            serde_json::json!({"error": {"type": kind, "message": message, "code": kind}})
        }
    }
}

/// Reads a `usage` object in the provider's shape. OpenAI's Chat and completions say
/// `prompt_tokens`/`completion_tokens`, its Responses API `input_tokens`/`output_tokens`; in
/// both the cached tokens are part of the input. Anthropic reports cache reads and writes
/// beside its `input_tokens`.
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
            input_tokens: get("prompt_tokens").or_else(|| get("input_tokens"))?,
            output_tokens: get("completion_tokens")
                .or_else(|| get("output_tokens"))
                .unwrap_or(0),
            cache_read_tokens: u
                .pointer("/prompt_tokens_details/cached_tokens")
                .or_else(|| u.pointer("/input_tokens_details/cached_tokens"))
                .and_then(Value::as_i64),
            cache_write_tokens: None,
        }),
    }
}

/// A choice's `index`, or `position` in its array when absent.
pub fn choice_index(choice: &Value, position: usize) -> usize {
    choice
        .get("index")
        .and_then(Value::as_u64)
        .map_or(position, |i| usize::try_from(i).unwrap_or(usize::MAX))
}

/// What a whole response object says besides its text: its model and usage.
fn head_of(provider: Provider, root: &Value) -> ResponseInfo {
    ResponseInfo {
        model: model_of(root),
        usage: root.get("usage").and_then(|u| usage_of(provider, u)),
        ..ResponseInfo::default()
    }
}

/// Folds an OpenAI object with `choices` (a whole response or one streamed chunk) into
/// `info`: the model, each choice's text at pointer `text_at` (kept apart by index: with `n` > 1
/// streamed chunks interleave), the first finish reason, and the usage when present.
fn fold_choices(v: &Value, text_at: &str, info: &mut ResponseInfo) {
    if let Some(m) = model_of(v) {
        info.model = Some(m);
    }
    let choices = v.get("choices").and_then(Value::as_array);
    for (position, choice) in choices.into_iter().flatten().enumerate() {
        if info.stop_reason.is_none() {
            info.stop_reason = str_of(choice, "/finish_reason");
        }
        if let Some(t) = choice.pointer(text_at).and_then(Value::as_str) {
            info.push_text(choice_index(choice, position), t);
        }
    }
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        info.usage = usage_of(Provider::Openai, u);
    }
}

/// `model` of a response object.
fn model_of(root: &Value) -> Option<String> {
    root.get("model")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The string at JSON pointer `at` in `v`.
fn str_of(v: &Value, at: &str) -> Option<String> {
    v.pointer(at).and_then(Value::as_str).map(str::to_string)
}

/// One server-sent event: `event: <name>` (when named) and its JSON `data`.
fn sse(name: Option<&str>, data: &Value) -> String {
    match name {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::Observer;

    /// Every API that replies to a blocked call replies in a shape its own parser (and so its
    /// SDK) reads back as the reason, whole and streamed.
    #[test]
    fn blocked_replies_read_back_as_the_reason() {
        for path in [
            "/v1/messages",
            "/v1/chat/completions",
            "/v1/responses",
            "/v1/completions",
        ] {
            let api = route(path).expect("routed");
            for stream in [false, true] {
                let (content_type, body) = api
                    .blocked_reply(stream, "m", "c1", "blocked: reason")
                    .expect("a reply");
                assert_eq!(content_type == "text/event-stream", stream, "{path}");
                let mut o = Observer::new(api, stream);
                o.feed(body.as_bytes());
                assert_eq!(
                    o.finish().texts,
                    ["blocked: reason"],
                    "{path} stream={stream}"
                );
            }
        }
        for path in [
            "/v1/messages/count_tokens",
            "/v1/messages/batches",
            "/v1/embeddings",
        ] {
            let api = route(path).expect("routed");
            assert!(api.blocked_reply(false, "m", "c", "t").is_none(), "{path}");
        }
        assert!(route("/v1/files").is_none());
    }

    #[test]
    fn whole_responses_of_each_api() {
        let parse = |path: &str, body: Value| route(path).expect("routed").parse_response(&body);
        let a = parse(
            "/v1/messages",
            serde_json::json!({"model": "m", "content": [{"type": "text", "text": "ok"}],
            "usage": {"input_tokens": 3, "output_tokens": 4}}),
        );
        assert_eq!(
            (a.texts, a.usage.map(|u| (u.input_tokens, u.output_tokens))),
            (vec!["ok".to_string()], Some((3, 4)))
        );
        let o = parse(
            "/v1/chat/completions",
            serde_json::json!({"model": "g", "choices": [
            {"index": 1, "message": {"content": "second"}}, {"index": 0, "message": {"content": "first"}},
            {"index": 2, "message": {"content": null, "tool_calls": []}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 6}}),
        );
        assert_eq!(
            o.texts,
            ["first", "second"],
            "each choice keeps its own text"
        );
        assert_eq!(
            o.usage.map(|u| (u.input_tokens, u.output_tokens)),
            Some((5, 6))
        );
        let r = parse(
            "/v1/responses",
            serde_json::json!({"model": "gpt-4o", "output": [
            {"type": "reasoning", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi", "annotations": []}]}],
            "usage": {"input_tokens": 36, "input_tokens_details": {"cached_tokens": 10}, "output_tokens": 87}}),
        );
        assert_eq!(r.texts, ["hi"]);
        let u = r.usage.expect("usage");
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens),
            (36, 87, Some(10))
        );
        let c = parse(
            "/v1/completions",
            serde_json::json!({"model": "i", "choices": [{"text": "done", "index": 0}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1}}),
        );
        assert_eq!(c.texts, ["done"]);
        let e = parse(
            "/v1/embeddings",
            serde_json::json!({"model": "e", "data": [{"embedding": [0.1]}],
            "usage": {"prompt_tokens": 8, "total_tokens": 8}}),
        );
        assert!(e.texts.is_empty());
        assert_eq!(e.usage.map(|u| u.input_tokens), Some(8));
    }

    #[test]
    fn a_responses_stream_yields_its_text_and_the_usage_of_response_completed() {
        let events = [
            serde_json::json!({"type": "response.created", "response": {"model": "gpt-4o", "usage": null}}),
            serde_json::json!({"type": "response.output_text.delta", "delta": "Hel"}),
            serde_json::json!({"type": "response.output_text.delta", "delta": "lo"}),
            serde_json::json!({"type": "response.completed", "response": {"model": "gpt-4o",
                "usage": {"input_tokens": 9, "output_tokens": 2, "input_tokens_details": {"cached_tokens": 0}}}}),
        ];
        let body: String = events.iter().map(|e| sse(e["type"].as_str(), e)).collect();
        let mut o = Observer::new(&openai_responses::RESPONSES, true);
        for chunk in body.as_bytes().chunks(7) {
            o.feed(chunk);
        }
        let info = o.finish();
        assert_eq!(info.texts, ["Hello"]);
        assert_eq!(info.model.as_deref(), Some("gpt-4o"));
        assert_eq!(
            info.usage.map(|u| (u.input_tokens, u.output_tokens)),
            Some((9, 2))
        );
    }
}
