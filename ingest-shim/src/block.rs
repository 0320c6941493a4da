//! Well-formed API responses for blocked calls, whole and streamed, in each provider's format.

use serde_json::json;
use sightline_events::Provider;

/// `(content-type, body)` answering a blocked call with `text` as the assistant's reply.
pub fn blocked_body(
    provider: Provider,
    stream: bool,
    model: Option<&str>,
    call_id: &str,
    text: &str,
) -> (&'static str, String) {
    let model = model.unwrap_or("sightline-policy");
    match (provider, stream) {
        (Provider::Anthropic, false) => ("application/json", json!({
            "id": format!("msg_sightline_{call_id}"), "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0}
        }).to_string()),
        (Provider::Anthropic, true) => {
            let ev = |name: &str, data: serde_json::Value| format!("event: {name}\ndata: {data}\n\n");
            let body = [
                ev("message_start", json!({"type": "message_start", "message": {
                    "id": format!("msg_sightline_{call_id}"), "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0}}})),
                ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
                ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})),
                ev("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
                ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 0}})),
                ev("message_stop", json!({"type": "message_stop"})),
            ]
            .concat();
            ("text/event-stream", body)
        }
        (_, false) => ("application/json", json!({
            "id": format!("chatcmpl-sightline-{call_id}"), "object": "chat.completion",
            "created": sightline_events::now_ms() / 1000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        }).to_string()),
        (_, true) => {
            let created = sightline_events::now_ms() / 1000;
            let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
                format!("data: {}\n\n", json!({
                    "id": format!("chatcmpl-sightline-{call_id}"), "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
                }))
            };
            let body = [
                chunk(json!({"role": "assistant", "content": ""}), serde_json::Value::Null),
                chunk(json!({"content": text}), serde_json::Value::Null),
                chunk(json!({}), json!("stop")),
                "data: [DONE]\n\n".to_string(),
            ]
            .concat();
            ("text/event-stream", body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::Observer;

    #[test]
    fn blocked_streams_parse_as_the_provider_streams_do() {
        for provider in [Provider::Anthropic, Provider::Openai] {
            let (ct, body) = blocked_body(provider, true, Some("m"), "c1", "blocked: reason");
            assert_eq!(ct, "text/event-stream");
            let mut o = Observer::new(provider, true);
            o.feed(body.as_bytes());
            assert_eq!(o.finish().texts, ["blocked: reason"], "{provider:?}");
        }
        for provider in [Provider::Anthropic, Provider::Openai] {
            let (_, body) = blocked_body(provider, false, None, "c1", "blocked: reason");
            let info = crate::extract::parse_response(provider, body.as_bytes());
            assert_eq!(info.texts, ["blocked: reason"]);
        }
    }
}
