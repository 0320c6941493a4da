//! Any other `POST` the shim records without reading (`shim.unknown_endpoints = "record"`):
//! who called which endpoint, the sizes and the outcome; never text.

use serde_json::Value;
use sightline_events::Provider;

use super::Api;
use crate::extract::ResponseInfo;

/// An endpoint the shim does not know, of one provider.
#[derive(Debug)]
pub struct Opaque(Provider);

/// An unknown Anthropic endpoint (the client sent `anthropic-version`).
pub static ANTHROPIC: Opaque = Opaque(Provider::Anthropic);
/// Any other unknown endpoint.
pub static OPENAI: Opaque = Opaque(Provider::Openai);

impl Api for Opaque {
    fn provider(&self) -> Provider {
        self.0
    }

    fn reads_content(&self) -> bool {
        false
    }

    fn blocked_reply(&self, _: bool, _: &str, _: &str, _: &str) -> Option<(&'static str, String)> {
        None
    }

    fn parse_response(&self, _: &Value) -> ResponseInfo {
        ResponseInfo::default()
    }

    fn stream_event(&self, _: &Value, _: &mut ResponseInfo) {}
}
