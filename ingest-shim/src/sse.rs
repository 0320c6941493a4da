//! A pure, incremental observer of relayed response bytes: SSE events for streams, a bounded
//! buffer for JSON bodies. It never alters what is relayed.

use serde_json::Value;

use crate::extract::ResponseInfo;
use crate::provider::Api;

/// Longest SSE line or JSON body kept for parsing; longer ones are relayed but not parsed.
pub const MAX_OBSERVED: usize = 4 * 1024 * 1024;

/// Watches a response as it is relayed.
#[derive(Debug)]
pub struct Observer {
    api: &'static dyn Api,
    streaming: bool,
    buf: Vec<u8>,
    overflow: bool,
    info: ResponseInfo,
    /// The response id was handed out by [`Observer::new_response_id`].
    id_taken: bool,
}

impl Observer {
    /// An observer for a streamed (`text/event-stream`) or whole response.
    pub fn new(api: &'static dyn Api, streaming: bool) -> Self {
        Self {
            api,
            streaming,
            buf: Vec::new(),
            overflow: false,
            info: ResponseInfo::default(),
            id_taken: false,
        }
    }

    /// Feeds the next relayed chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.info.bytes += i64::try_from(chunk.len()).unwrap_or(i64::MAX);
        if !self.api.reads_content() {
            return;
        }
        if !self.streaming {
            if self.buf.len() + chunk.len() <= MAX_OBSERVED {
                self.buf.extend_from_slice(chunk);
            } else {
                self.overflow = true;
            }
            return;
        }
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            if !self.overflow {
                self.buf.extend_from_slice(&rest[..pos]);
                let line = std::mem::take(&mut self.buf);
                self.line(&line);
            }
            self.overflow = false;
            self.buf.clear();
            rest = &rest[pos + 1..];
        }
        if self.buf.len() + rest.len() > MAX_OBSERVED {
            self.overflow = true;
            self.buf.clear();
        } else if !self.overflow {
            self.buf.extend_from_slice(rest);
        }
    }

    fn line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        self.api.stream_event(&v, &mut self.info);
    }

    /// The response's own id (Responses API), the first time it is known: from the stream's
    /// first event, or from the whole body once it has all arrived.
    pub fn new_response_id(&mut self) -> Option<String> {
        if self.id_taken || !self.api.has_response_ids() {
            return None;
        }
        let id = if self.streaming {
            self.info.response_id.clone()
        } else {
            #[derive(serde::Deserialize)]
            struct Head {
                id: Option<String>,
            }
            serde_json::from_slice::<Head>(&self.buf)
                .ok()
                .and_then(|h| h.id)
        };
        self.id_taken = id.is_some();
        id
    }

    /// What was learned, once the response has ended.
    pub fn finish(mut self) -> ResponseInfo {
        if self.streaming {
            if !self.overflow && !self.buf.is_empty() {
                let line = std::mem::take(&mut self.buf);
                self.line(&line);
            }
            self.info
        } else if self.overflow {
            ResponseInfo {
                bytes: self.info.bytes,
                ..ResponseInfo::default()
            }
        } else {
            let bytes = self.info.bytes;
            let info = serde_json::from_slice::<Value>(&self.buf)
                .map(|root| self.api.parse_response(&root))
                .unwrap_or_default();
            ResponseInfo { bytes, ..info }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{anthropic::MESSAGES, openai_chat::CHAT};

    const ANTHROPIC: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn anthropic_stream_in_any_chunking() {
        let bytes = ANTHROPIC.as_bytes();
        for size in [1, 2, 7, 64, bytes.len()] {
            let mut o = Observer::new(&MESSAGES, true);
            for c in bytes.chunks(size) {
                o.feed(c);
            }
            let info = o.finish();
            assert_eq!(info.texts, ["Hello"], "chunk {size}");
            assert_eq!(info.model.as_deref(), Some("claude"));
            let u = info.usage.expect("usage");
            assert_eq!((u.input_tokens, u.output_tokens), (11, 7));
        }
    }

    #[test]
    fn interleaved_choices_are_kept_apart() {
        let chunk = |i: usize, t: &str| {
            format!(
                "data: {{\"choices\":[{{\"index\":{i},\"delta\":{{\"content\":\"{t}\"}}}}]}}\n\n"
            )
        };
        let s = [
            chunk(0, "Hel"),
            chunk(1, "Wor"),
            chunk(1, "ld"),
            chunk(0, "lo"),
        ]
        .concat();
        let mut o = Observer::new(&CHAT, true);
        o.feed(s.as_bytes());
        assert_eq!(o.finish().texts, ["Hello", "World"]);
    }

    #[test]
    fn openai_stream_with_usage_chunk_and_crlf() {
        let s = "data: {\"model\":\"gpt\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}],\"usage\":null}\r\n\r\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}\r\n\r\ndata: [DONE]\r\n\r\n";
        let mut o = Observer::new(&CHAT, true);
        o.feed(s.as_bytes());
        let info = o.finish();
        assert_eq!(info.texts, ["ab"]);
        assert_eq!(
            info.usage.map(|u| (u.input_tokens, u.output_tokens)),
            Some((2, 3))
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_streams_in_arbitrary_chunks_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            cut in 1usize..64,
        ) {
            for api in [crate::provider::route("/v1/messages"), crate::provider::route("/v1/responses"),
                crate::provider::route("/v1/chat/completions"), crate::provider::route("/v1/completions")].into_iter().flatten() {
                let mut o = Observer::new(api, true);
                for c in bytes.chunks(cut) {
                    o.feed(c);
                }
                let _ = o.finish();
            }
        }
    }

    #[test]
    fn giant_lines_and_invalid_utf8_are_survived() {
        let mut o = Observer::new(&CHAT, true);
        o.feed(b"data: ");
        for _ in 0..(MAX_OBSERVED / 65536 + 2) {
            o.feed(&[b'x'; 65536]);
        }
        o.feed(b"\n\ndata: \xff\xfe\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n");
        assert_eq!(o.finish().texts, ["ok"]);
    }
}
