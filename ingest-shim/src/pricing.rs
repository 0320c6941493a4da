//! Cost of a call from its token usage and a configurable price table. Pure.

use std::collections::BTreeMap;

use serde::Deserialize;
use sightline_events::{Provider, TokenUsage};

/// Prices of one model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Prompt tokens.
    pub input_per_mtok: f64,
    /// Completion tokens.
    pub output_per_mtok: f64,
    /// Tokens read from a prompt cache; the input price when unset.
    #[serde(default)]
    pub cache_read_per_mtok: Option<f64>,
    /// Tokens written to a prompt cache; the input price when unset.
    #[serde(default)]
    pub cache_write_per_mtok: Option<f64>,
}

/// `[prices]`: model name or glob (`claude-sonnet-4*`) to price. Exact names win, then the
/// longest glob.
pub type PriceTable = BTreeMap<String, Price>;

fn glob_match(glob: &str, name: &str) -> bool {
    match glob.split_once('*') {
        None => glob == name,
        Some((prefix, rest)) => {
            name.starts_with(prefix) && {
                let tail = &name[prefix.len()..];
                (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob_match(rest, &tail[i..]))
            }
        }
    }
}

/// The price for `model`, if the table has one.
pub fn price_for<'a>(table: &'a PriceTable, model: &str) -> Option<&'a Price> {
    table.get(model).or_else(|| {
        table
            .iter()
            .filter(|(g, _)| g.contains('*') && glob_match(g, model))
            .max_by_key(|(g, _)| g.len())
            .map(|(_, p)| p)
    })
}

/// Cost of `usage` in micro-dollars, when `model` has a price. Providers count cached input
/// differently: Anthropic's `input_tokens` excludes cache reads and writes, which it reports
/// beside it; OpenAI's `prompt_tokens` includes its `cached_tokens`. Each token is charged
/// once, cached ones at the cache price (the input price when the table has none).
pub fn cost_micros(
    table: &PriceTable,
    provider: Provider,
    model: &str,
    usage: &TokenUsage,
) -> Option<i64> {
    let p = price_for(table, model)?;
    let cache_read = usage.cache_read_tokens.unwrap_or(0).max(0);
    let cache_write = usage.cache_write_tokens.unwrap_or(0).max(0);
    let uncached_input = match provider {
        Provider::Anthropic => usage.input_tokens,
        Provider::Openai | Provider::Other => usage.input_tokens - cache_read - cache_write,
    }
    .max(0);
    let micros = uncached_input as f64 * p.input_per_mtok
        + usage.output_tokens as f64 * p.output_per_mtok
        + cache_read as f64 * p.cache_read_per_mtok.unwrap_or(p.input_per_mtok)
        + cache_write as f64 * p.cache_write_per_mtok.unwrap_or(p.input_per_mtok);
    Some(micros.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_longest_glob() {
        let mut t = PriceTable::new();
        let p = |i, o| Price {
            input_per_mtok: i,
            output_per_mtok: o,
            cache_read_per_mtok: None,
            cache_write_per_mtok: None,
        };
        t.insert("claude-*".into(), p(1.0, 1.0));
        t.insert("claude-sonnet-4*".into(), p(3.0, 15.0));
        t.insert("gpt-4o".into(), p(2.5, 10.0));
        let usage = TokenUsage {
            input_tokens: 1000,
            output_tokens: 200,
            cache_read_tokens: Some(100),
            cache_write_tokens: None,
        };
        // 1000*3 + 200*15 + 100*3 = 6300 micro-dollars.
        let anthropic = |model| cost_micros(&t, Provider::Anthropic, model, &usage);
        assert_eq!(anthropic("claude-sonnet-4-20250514"), Some(6300));
        assert_eq!(anthropic("claude-haiku"), Some(1300));
        assert_eq!(
            cost_micros(&t, Provider::Openai, "gpt-4o", &usage),
            Some(2250 + 2000 + 250),
            "OpenAI's 100 cached tokens are part of its 1000 prompt tokens"
        );
        assert_eq!(anthropic("gpt-4o-mini"), None);
    }

    /// The providers' documented usage examples, read as the shim reads them.
    #[test]
    fn documented_usage_examples_are_charged_once() {
        use crate::provider::usage_of;
        let mut t = PriceTable::new();
        t.insert(
            "claude-sonnet-4*".into(),
            Price {
                input_per_mtok: 3.0,
                output_per_mtok: 15.0,
                cache_read_per_mtok: Some(0.3),
                cache_write_per_mtok: Some(3.75),
            },
        );
        t.insert(
            "gpt-4o".into(),
            Price {
                input_per_mtok: 2.5,
                output_per_mtok: 10.0,
                cache_read_per_mtok: Some(1.25),
                cache_write_per_mtok: None,
            },
        );
        // Anthropic prompt caching: reads and writes beside `input_tokens`.
        let anthropic = serde_json::json!({"input_tokens": 50, "cache_creation_input_tokens": 248,
            "cache_read_input_tokens": 100000, "output_tokens": 503});
        let usage = usage_of(Provider::Anthropic, &anthropic).expect("usage");
        // 50 × 3 + 503 × 15 + 100000 × 0.3 + 248 × 3.75 micro-dollars.
        assert_eq!(
            cost_micros(&t, Provider::Anthropic, "claude-sonnet-4-5", &usage),
            Some(150 + 7545 + 30000 + 930)
        );
        // OpenAI prompt caching: `cached_tokens` is part of `prompt_tokens`.
        let openai = serde_json::json!({"prompt_tokens": 2006, "completion_tokens": 300,
            "total_tokens": 2306, "prompt_tokens_details": {"cached_tokens": 1920},
            "completion_tokens_details": {"reasoning_tokens": 0}});
        let usage = usage_of(Provider::Openai, &openai).expect("usage");
        // (2006 − 1920) × 2.5 + 1920 × 1.25 + 300 × 10.
        assert_eq!(
            cost_micros(&t, Provider::Openai, "gpt-4o", &usage),
            Some(215 + 2400 + 3000)
        );
    }
}
