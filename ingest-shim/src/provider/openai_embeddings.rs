//! OpenAI's Embeddings API (`/v1/embeddings`): `input` is scanned; the answer holds vectors,
//! no text, so a blocked call is refused as an invalid request.

use serde_json::Value;
use sightline_events::Provider;

use super::{head_of, Api};
use crate::extract::ResponseInfo;

/// `POST /v1/embeddings`.
#[derive(Debug)]
pub struct Embeddings;

/// The one instance.
pub static EMBEDDINGS: Embeddings = Embeddings;

impl Api for Embeddings {
    fn provider(&self) -> Provider {
        Provider::Openai
    }

    fn blocked_reply(&self, _: bool, _: &str, _: &str, _: &str) -> Option<(&'static str, String)> {
        None
    }

    fn parse_response(&self, root: &Value) -> ResponseInfo {
        head_of(Provider::Openai, root)
    }

    fn stream_event(&self, _: &Value, _: &mut ResponseInfo) {}
}
