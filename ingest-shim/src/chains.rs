//! Which conversation an OpenAI Responses API response belongs to, so that a later call naming
//! it as `previous_response_id` joins the same conversation. Bounded: past [`CAPACITY`]
//! responses the oldest are forgotten. Kept per shim process; a call whose previous response
//! this process has not seen is grouped under a keyed hash of that response's id instead.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Responses remembered.
pub const CAPACITY: usize = 100_000;

/// Response id → conversation id.
#[derive(Debug, Default)]
pub struct ResponseChains {
    inner: Mutex<Chains>,
}

#[derive(Debug, Default)]
struct Chains {
    conversations: HashMap<String, String>,
    order: VecDeque<String>,
}

impl ResponseChains {
    /// Remembers that `response_id` belongs to `conversation`.
    pub fn remember(&self, response_id: &str, conversation: &str) {
        let Ok(mut c) = self.inner.lock() else { return };
        if c.conversations
            .insert(response_id.to_string(), conversation.to_string())
            .is_none()
        {
            c.order.push_back(response_id.to_string());
        }
        while c.order.len() > CAPACITY {
            if let Some(oldest) = c.order.pop_front() {
                c.conversations.remove(&oldest);
            }
        }
    }

    /// The conversation `response_id` belongs to, when this process saw it.
    pub fn conversation_of(&self, response_id: &str) -> Option<String> {
        self.inner
            .lock()
            .ok()?
            .conversations
            .get(response_id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_until_the_oldest_are_forgotten() {
        let chains = ResponseChains::default();
        chains.remember("resp_1", "conv-a");
        assert_eq!(chains.conversation_of("resp_1").as_deref(), Some("conv-a"));
        assert_eq!(chains.conversation_of("resp_2"), None);
        for i in 0..CAPACITY {
            chains.remember(&format!("r{i}"), "conv-b");
        }
        assert_eq!(chains.conversation_of("resp_1"), None, "bounded");
        assert_eq!(chains.conversation_of("r5").as_deref(), Some("conv-b"));
    }
}
