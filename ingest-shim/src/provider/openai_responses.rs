//! OpenAI's Responses API (`/v1/responses`, streamed or not): `instructions`, `input` (a
//! string or items) and `prompt` in; `output` items, or `response.*` events, out, with the
//! usage in `response.completed`.

use serde_json::{json, Value};
use sightline_events::Provider;

use super::{head_of, model_of, sse, str_of, usage_of, Api};
use crate::extract::ResponseInfo;

/// How the ids of the replies the shim makes up for blocked calls begin. Upstream does not
/// know them: a call continuing from one goes upstream without it.
pub const BLOCKED_ID_PREFIX: &str = "resp_sightline_";

/// `POST /v1/responses`.
#[derive(Debug)]
pub struct Responses;

/// The one instance.
pub static RESPONSES: Responses = Responses;

impl Api for Responses {
    fn provider(&self) -> Provider {
        Provider::Openai
    }

    fn has_response_ids(&self) -> bool {
        true
    }

    fn blocked_reply(
        &self,
        stream: bool,
        model: &str,
        call_id: &str,
        text: &str,
    ) -> Option<(&'static str, String)> {
        let (response_id, item_id) = (
            format!("{BLOCKED_ID_PREFIX}{call_id}"),
            format!("msg_sightline_{call_id}"),
        );
        let part = json!({"type": "output_text", "text": text, "annotations": []});
        let item = |status: &str, content: Value| json!({"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content});
        let response = |status: &str, output: Value| {
            json!({"id": response_id, "object": "response", "created_at": sightline_events::now_ms() / 1000,
                "status": status, "error": null, "incomplete_details": null, "model": model,
                "output": output, "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
                "usage": {"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": 0, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0}})
        };
        if !stream {
            let body = response("completed", json!([item("completed", json!([part]))]));
            return Some(("application/json", body.to_string()));
        }
        let at = |i: usize| json!({"item_id": item_id, "output_index": 0, "content_index": 0, "sequence_number": i});
        let with = |base: Value, extra: Value| {
            let mut v = base;
            if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            v
        };
        let events = [
            json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress", json!([]))}),
            json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": item("in_progress", json!([]))}),
            with(
                at(2),
                json!({"type": "response.content_part.added", "part": {"type": "output_text", "text": "", "annotations": []}}),
            ),
            with(
                at(3),
                json!({"type": "response.output_text.delta", "delta": text}),
            ),
            with(
                at(4),
                json!({"type": "response.output_text.done", "text": text}),
            ),
            with(
                at(5),
                json!({"type": "response.content_part.done", "part": part}),
            ),
            json!({"type": "response.output_item.done", "sequence_number": 6, "output_index": 0, "item": item("completed", json!([part]))}),
            json!({"type": "response.completed", "sequence_number": 7, "response": response("completed", json!([item("completed", json!([part]))]))}),
        ];
        let body: String = events
            .iter()
            .map(|e| sse(e.get("type").and_then(Value::as_str), e))
            .collect();
        Some(("text/event-stream", body))
    }

    fn parse_response(&self, root: &Value) -> ResponseInfo {
        let mut info = ResponseInfo {
            stop_reason: stop_of(root),
            response_id: str_of(root, "/id"),
            ..head_of(Provider::Openai, root)
        };
        for item in root
            .get("output")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let parts = item.get("content").and_then(Value::as_array);
            for part in parts.into_iter().flatten() {
                if part.get("type").and_then(Value::as_str) == Some("output_text") {
                    if let Some(t) = part.get("text").and_then(Value::as_str) {
                        info.push_text(0, t);
                    }
                }
            }
        }
        info
    }

    fn stream_event(&self, v: &Value, info: &mut ResponseInfo) {
        match v.get("type").and_then(Value::as_str) {
            Some("response.output_text.delta") => {
                if let Some(t) = v.get("delta").and_then(Value::as_str) {
                    info.push_text(0, t);
                }
            }
            Some(
                "response.created"
                | "response.completed"
                | "response.incomplete"
                | "response.failed",
            ) => {
                let Some(response) = v.get("response") else {
                    return;
                };
                if v["type"] != "response.created" {
                    info.stop_reason = stop_of(response);
                }
                if let Some(id) = str_of(response, "/id") {
                    info.response_id = Some(id);
                }
                if let Some(m) = model_of(response) {
                    info.model = Some(m);
                }
                if let Some(u) = response.get("usage").filter(|u| !u.is_null()) {
                    info.usage = usage_of(Provider::Openai, u);
                }
            }
            _ => {}
        }
    }
}

/// Why a response stopped: its `incomplete_details.reason`, else its `status`.
fn stop_of(response: &Value) -> Option<String> {
    str_of(response, "/incomplete_details/reason").or_else(|| str_of(response, "/status"))
}
