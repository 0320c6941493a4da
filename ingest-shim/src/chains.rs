//! Which conversation an OpenAI Responses API response belongs to, so that a later call of the
//! same tenant naming it as `previous_response_id` joins the same conversation. Bounded: past [`CAPACITY`]
//! responses the oldest are forgotten. Kept per shim process; a call whose previous response
//! this process has not seen is grouped under a keyed hash of that response's id instead.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Responses remembered.
pub const CAPACITY: usize = 100_000;

/// (tenant, response id) → conversation id.
#[derive(Debug, Default)]
pub struct ResponseChains {
    inner: Mutex<Chains>,
}

type Key = (Arc<str>, Arc<str>);

#[derive(Debug, Default)]
struct Chains {
    conversations: HashMap<Key, Arc<str>>,
    order: VecDeque<Key>,
}

impl ResponseChains {
    /// Remembers that `tenant`'s `response_id` belongs to `conversation`.
    pub fn remember(&self, tenant: &str, response_id: &str, conversation: &str) {
        let Ok(mut c) = self.inner.lock() else { return };
        let key: Key = (tenant.into(), response_id.into());
        if c.conversations
            .insert(key.clone(), conversation.into())
            .is_none()
        {
            c.order.push_back(key);
        }
        while c.order.len() > CAPACITY {
            if let Some(oldest) = c.order.pop_front() {
                c.conversations.remove(&oldest);
            }
        }
    }

    /// The conversation `tenant`'s `response_id` belongs to, when this process saw it.
    pub fn conversation_of(&self, tenant: &str, response_id: &str) -> Option<String> {
        let key: Key = (tenant.into(), response_id.into());
        let c = self.inner.lock().ok()?;
        c.conversations.get(&key).map(|c| c.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_until_the_oldest_are_forgotten() {
        let chains = ResponseChains::default();
        chains.remember("acme", "resp_1", "conv-a");
        assert_eq!(
            chains.conversation_of("acme", "resp_1").as_deref(),
            Some("conv-a")
        );
        assert_eq!(
            chains.conversation_of("other", "resp_1"),
            None,
            "per tenant"
        );
        assert_eq!(chains.conversation_of("acme", "resp_2"), None);
        for i in 0..CAPACITY {
            chains.remember("acme", &format!("r{i}"), "conv-b");
        }
        assert_eq!(chains.conversation_of("acme", "resp_1"), None, "bounded");
        assert_eq!(
            chains.conversation_of("acme", "r5").as_deref(),
            Some("conv-b")
        );
    }
}
