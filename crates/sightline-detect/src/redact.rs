use crate::Finding;

/// Placeholder prefix; the engine never reports findings inside placeholders.
pub(crate) const PLACEHOLDER_OPEN: &str = "[REDACTED:";

/// `text` with every finding replaced by `[REDACTED:<rule>:<first 8 hex of fingerprint>]`.
/// Overlapping findings are merged into one placeholder named after the first of them.
pub fn redact(text: &str, findings: &[Finding]) -> String {
    let mut spans: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.start < f.end && f.end <= text.len())
        .collect();
    spans.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut i = 0;
    while i < spans.len() {
        let first = spans[i];
        let mut end = first.end;
        i += 1;
        while i < spans.len() && spans[i].start < end {
            end = end.max(spans[i].end);
            i += 1;
        }
        let start = first.start.max(pos);
        out.push_str(&text[pos..start]);
        out.push_str(PLACEHOLDER_OPEN);
        out.push_str(&first.rule_id);
        out.push(':');
        out.push_str(&first.fingerprint[..first.fingerprint.len().min(8)]);
        out.push(']');
        pos = end.max(pos);
    }
    out.push_str(&text[pos..]);
    out
}
