//! Cost of a call from its token usage and a configurable price table. Pure.

use std::collections::BTreeMap;

use serde::Deserialize;
use sightline_events::TokenUsage;

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

/// Cost in millionths of a dollar: tokens times dollars per million tokens.
pub fn cost_micros(table: &PriceTable, model: &str, usage: &TokenUsage) -> Option<i64> {
    let p = price_for(table, model)?;
    let micros = usage.input_tokens as f64 * p.input_per_mtok
        + usage.output_tokens as f64 * p.output_per_mtok
        + usage.cache_read_tokens.unwrap_or(0) as f64
            * p.cache_read_per_mtok.unwrap_or(p.input_per_mtok)
        + usage.cache_write_tokens.unwrap_or(0) as f64
            * p.cache_write_per_mtok.unwrap_or(p.input_per_mtok);
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
        assert_eq!(
            cost_micros(&t, "claude-sonnet-4-20250514", &usage),
            Some(6300)
        );
        assert_eq!(cost_micros(&t, "claude-haiku", &usage), Some(1300));
        assert_eq!(cost_micros(&t, "gpt-4o", &usage), Some(2500 + 2000 + 250));
        assert_eq!(cost_micros(&t, "gpt-4o-mini", &usage), None);
    }
}
