//! OpenAI's Chat Completions API (`/v1/chat/completions`, streamed or not; `n` choices).

use serde_json::{json, Value};
use sightline_events::Provider;

use super::{fold_choices, sse, Api};
use crate::extract::ResponseInfo;

/// `POST /v1/chat/completions`.
#[derive(Debug)]
pub struct Chat;

/// The one instance.
pub static CHAT: Chat = Chat;

impl Api for Chat {
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
        let id = format!("chatcmpl-sightline-{call_id}");
        let created = sightline_events::now_ms() / 1000;
        if !stream {
            let body = json!({"id": id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                    "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}});
            return Some(("application/json", body.to_string()));
        }
        let chunk = |delta: Value, finish: Value| {
            sse(
                None,
                &json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]}),
            )
        };
        let body = [
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": text}), Value::Null),
            chunk(json!({}), json!("stop")),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        Some(("text/event-stream", body))
    }

    fn parse_response(&self, root: &Value) -> ResponseInfo {
        let mut info = ResponseInfo::default();
        fold_choices(root, "/message/content", &mut info);
        info
    }

    fn stream_event(&self, v: &Value, info: &mut ResponseInfo) {
        fold_choices(v, "/delta/content", info);
    }
}
