//! OpenAI's legacy Completions API (`/v1/completions`, streamed or not; `prompt` in).

use serde_json::{json, Value};
use sightline_events::Provider;

use super::{fold_choices, sse, Api};
use crate::extract::ResponseInfo;

/// `POST /v1/completions`.
#[derive(Debug)]
pub struct Completions;

/// The one instance.
pub static COMPLETIONS: Completions = Completions;

impl Api for Completions {
    fn provider(&self) -> Provider {
        Provider::Openai
    }

    fn blocked_reply(
        &self,
        stream: bool,
        model: &str,
        call_id: &str,
        text: &str,
    ) -> Option<(&'static str, String)> {
        let completion = |text: &str, finish: Value| {
            json!({"id": format!("cmpl-sightline-{call_id}"), "object": "text_completion",
                "created": sightline_events::now_ms() / 1000, "model": model,
                "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]})
        };
        if !stream {
            let mut body = completion(text, json!("stop"));
            body["usage"] = json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0});
            return Some(("application/json", body.to_string()));
        }
        let body = [
            sse(None, &completion(text, Value::Null)),
            sse(None, &completion("", json!("stop"))),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        Some(("text/event-stream", body))
    }

    fn parse_response(&self, root: &Value) -> ResponseInfo {
        let mut info = ResponseInfo::default();
        fold_choices(root, "/text", &mut info);
        info
    }

    fn stream_event(&self, v: &Value, info: &mut ResponseInfo) {
        fold_choices(v, "/text", info);
    }
}
