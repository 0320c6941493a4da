//! Anthropic's Messages API (`/v1/messages`, streamed or not), its token counter
//! (`/v1/messages/count_tokens`) and message batches (`/v1/messages/batches`, every request
//! of the batch scanned; a batch holding a blocked request is refused whole).

use serde_json::{json, Value};
use sightline_events::Provider;

use super::{head_of, sse, str_of, usage_of, Api};
use crate::extract::ResponseInfo;

/// What kind of Messages endpoint.
#[derive(Debug)]
pub struct Messages {
    /// Whether a blocked call gets an assistant reply (only `/v1/messages` has one).
    replies: bool,
}

/// `POST /v1/messages`.
pub static MESSAGES: Messages = Messages { replies: true };
/// `POST /v1/messages/count_tokens`.
pub static COUNT_TOKENS: Messages = Messages { replies: false };
/// `POST /v1/messages/batches`.
pub static BATCHES: Messages = Messages { replies: false };

impl Api for Messages {
    fn provider(&self) -> Provider {
        Provider::Anthropic
    }

    fn blocked_reply(
        &self,
        stream: bool,
        model: &str,
        call_id: &str,
        text: &str,
    ) -> Option<(&'static str, String)> {
        if !self.replies {
            return None;
        }
        let message = |content: Value, stop: Value, output: u32| {
            json!({"id": format!("msg_sightline_{call_id}"), "type": "message", "role": "assistant",
                "model": model, "content": content, "stop_reason": stop, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": output}})
        };
        if !stream {
            let body = message(
                json!([{"type": "text", "text": text}]),
                json!("end_turn"),
                0,
            );
            return Some(("application/json", body.to_string()));
        }
        let events = [
            (
                "message_start",
                json!({"type": "message_start", "message": message(json!([]), Value::Null, 0)}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 0}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ];
        let body: String = events
            .iter()
            .map(|(name, data)| sse(Some(name), data))
            .collect();
        Some(("text/event-stream", body))
    }

    fn parse_response(&self, root: &Value) -> ResponseInfo {
        let mut info = ResponseInfo {
            stop_reason: str_of(root, "/stop_reason"),
            ..head_of(Provider::Anthropic, root)
        };
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
        info
    }

    fn stream_event(&self, v: &Value, info: &mut ResponseInfo) {
        match v.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                if let Some(m) = v.pointer("/message/model").and_then(Value::as_str) {
                    info.model = Some(m.to_string());
                }
                if let Some(u) = v.pointer("/message/usage") {
                    info.usage = usage_of(Provider::Anthropic, u);
                }
            }
            Some("content_block_delta") => {
                if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str) {
                    info.push_text(0, t);
                }
            }
            Some("message_delta") => {
                if let Some(stop) = str_of(v, "/delta/stop_reason") {
                    info.stop_reason = Some(stop);
                }
                // The final counts; each field that is present replaces the one from
                // message_start.
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    let usage = info.usage.get_or_insert_with(Default::default);
                    let get = |k: &str| u.get(k).and_then(Value::as_i64);
                    if let Some(n) = get("output_tokens") {
                        usage.output_tokens = n;
                    }
                    if let Some(n) = get("input_tokens") {
                        usage.input_tokens = n;
                    }
                    if let Some(n) = get("cache_read_input_tokens") {
                        usage.cache_read_tokens = Some(n);
                    }
                    if let Some(n) = get("cache_creation_input_tokens") {
                        usage.cache_write_tokens = Some(n);
                    }
                }
            }
            _ => {}
        }
    }
}
