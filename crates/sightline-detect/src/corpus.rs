//! A labelled corpus generated from the public token formats, for the quality check.
//!
//! Rule files give each rule a `gen` template: literal text plus `{CLASS:N}` or
//! `{CLASS:MIN-MAX}` (CLASS as in a regex character class, e.g. `A-Z0-9`, `a-f0-9`,
//! `A-Za-z0-9_-`) and the special generators `{github:PREFIX}` (a token with a valid CRC32),
//! `{luhn:LEN}`, `{iban}`, `{ssn}` and `{jwt}`. Negatives are each rule's `fp` examples plus
//! hashes, UUIDs, base64 noise, prose, code and logs.

use serde::Serialize;

use crate::validate::{base62_6, crc32};
use crate::RuleSpec;

/// Seed of the committed corpus (`testdata/corpus.jsonl`).
pub const CORPUS_SEED: u64 = 0x5167_4711;
/// Positives generated per rule in the committed corpus.
pub const CORPUS_PER_RULE: usize = 12;
/// Generic negatives in the committed corpus.
pub const CORPUS_NOISE: usize = 4000;

/// A deterministic xorshift64* generator: the corpus is the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A random element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `len` characters from `alphabet`.
    pub fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }
}

fn class(spec: &str) -> Vec<u8> {
    let b = spec.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if i + 2 < b.len() && b[i + 1] == b'-' {
            out.extend(b[i]..=b[i + 2]);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Expands a `gen` template.
pub fn expand(template: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let inner_end = rest[open + 1..].find(['{', '}']).map(|i| open + 1 + i);
        let is_placeholder = inner_end
            .is_some_and(|i| rest.as_bytes()[i] == b'}' && !rest[open + 1..i].contains(['"', ' ']));
        let (Some(close), true) = (inner_end, is_placeholder) else {
            // A literal brace (JSON in a template).
            out.push('{');
            rest = &rest[open + 1..];
            continue;
        };
        let inner = &rest[open + 1..close];
        rest = &rest[close + 1..];
        let (name, arg) = inner.rsplit_once(':').unwrap_or((inner, ""));
        match name {
            "github" => {
                let random = rng.string(B62, 30);
                out.push_str(&format!(
                    "{arg}{random}{}",
                    base62_6(crc32(random.as_bytes()))
                ));
            }
            "luhn" => out.push_str(&luhn_number(rng, arg.parse().unwrap_or(16))),
            "iban" => out.push_str(&iban_de(rng)),
            "ssn" => out.push_str(&format!(
                "{:03}-{:02}-{:04}",
                1 + rng.below(665),
                1 + rng.below(98),
                1 + rng.below(9998)
            )),
            "jwt" => {
                let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
                let payload = b64url(
                    format!(
                        r#"{{"sub":"{}","iat":{}}}"#,
                        rng.string(B62, 10),
                        1_700_000_000 + rng.below(10_000_000)
                    )
                    .as_bytes(),
                );
                out.push_str(&format!("{header}.{payload}.{}", rng.string(B64URL, 43)));
            }
            _ => {
                let alphabet = class(name);
                let len = match arg.split_once('-') {
                    Some((a, b)) => {
                        let (a, b): (usize, usize) =
                            (a.parse().unwrap_or(1), b.parse().unwrap_or(1));
                        a + rng.below(b.saturating_sub(a) + 1)
                    }
                    None => arg.parse().unwrap_or(1),
                };
                out.push_str(&rng.string(&alphabet, len));
            }
        }
    }
    out.push_str(rest);
    out
}

fn luhn_number(rng: &mut Rng, len: usize) -> String {
    let prefix = *rng.pick(&["4", "51", "52", "37", "6011"]);
    let mut digits: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
    while digits.len() < len - 1 {
        digits.push(rng.below(10) as u32);
    }
    let sum = crate::validate::luhn_sum(&digits, true);
    digits.push((10 - sum % 10) % 10);
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

fn iban_de(rng: &mut Rng) -> String {
    let bban = rng.string(b"0123456789", 18);
    let numeric = format!("{bban}131400");
    let rem = numeric.chars().fold(0u64, |r, c| {
        (r * 10 + u64::from(c.to_digit(10).unwrap_or(0))) % 97
    });
    format!("DE{:02}{bban}", 98 - rem)
}

/// Changes the last character of the longest alphanumeric run (the generated value) so its
/// checksum no longer holds.
fn corrupt_checksum(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let (mut best, mut run_start, mut best_len) = (None, 0, 0);
    for i in 0..=chars.len() {
        if i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
            continue;
        }
        if i - run_start > best_len {
            best_len = i - run_start;
            best = Some(i - 1);
        }
        run_start = i + 1;
    }
    if let Some(i) = best {
        chars[i] = match chars[i].to_digit(10) {
            Some(d) => char::from_digit((d + 1) % 10, 10).unwrap_or('0'),
            None if chars[i] == 'a' => 'b',
            None => 'a',
        };
    }
    chars.into_iter().collect()
}

/// What a sample is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "label", rename_all = "snake_case")]
pub enum Label {
    /// Contains one true secret (or PII) of `rule`, at `start..end`.
    Positive {
        /// Rule expected to find it.
        rule: String,
        /// Byte span of the value in the text.
        start: usize,
        /// End of the span.
        end: usize,
    },
    /// Contains nothing any rule should report.
    Negative {
        /// Where it came from: `near-miss:<rule>`, `hash`, `uuid`, `base64`, `prose`…
        kind: String,
    },
}

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// The text.
    pub text: String,
    /// Its label.
    #[serde(flatten)]
    pub label: Label,
}

const CONTEXTS: &[(&str, &str)] = &[
    ("Can you check why this fails? ", " keeps returning 401."),
    ("export CREDENTIAL=", "\n"),
    ("```\n", "\n```\nWhat is wrong with this config?"),
    ("my settings.json has \"value\": \"", "\" and it breaks"),
    ("Here you go: ", ""),
    ("2026-11-22T10:00:01Z INFO loaded ", " from vault\n"),
];

const PROSE: &[&str] = &[
    "Please summarise the attached design document in three bullet points.",
    "Refactor this function to use iterators instead of index loops.",
    "What is the difference between a mutex and a semaphore?",
    "Write a unit test for the parser that covers empty input and trailing commas.",
    "The deploy failed at step 4 of 7; the logs say the health check timed out after 30s.",
    "Translate 'the meeting moved to Thursday' into German and French.",
    "Our p99 latency went from 120ms to 340ms after the upgrade to version 2.4.1.",
    "fn main() { let v: Vec<u32> = (0..10).map(|x| x * 2).collect(); println!(\"{v:?}\"); }",
    "SELECT user_id, count(*) FROM orders WHERE created_at > now() - interval '7 days' GROUP BY 1;",
    "The password policy requires rotation every 90 days; tokens expire after one hour.",
    "Set the API key in the environment, never in code: see docs/secrets.md.",
    "kubectl get pods -n staging --context dev-cluster",
    "def login(username: str, password: str) -> Token:",
    "const apiKey = process.env.OPENAI_API_KEY;",
    "let secret = vault.read(\"kv/app/db\")?;",
    "if token_expired(token): token = refresh(token)",
    "private_key_path = \"~/.ssh/id_ed25519\"",
    "Use AKIA-prefixed IDs for long-term keys and ASIA for temporary ones.",
    "The ghp_ prefix marks a classic GitHub token; github_pat_ a fine-grained one.",
];

/// Generates the corpus: `per_rule` positives per rule with a `gen` template, each rule's `fp`
/// examples as near misses, and `noise` generic negatives.
pub fn generate(rules: &[RuleSpec], seed: u64, per_rule: usize, noise: usize) -> Vec<Sample> {
    let mut rng = Rng::new(seed);
    let mut out = vec![];
    for rule in rules {
        if let Some(template) = &rule.r#gen {
            for _ in 0..per_rule {
                let value = expand(template, &mut rng);
                let (before, after) = *rng.pick(CONTEXTS);
                let text = format!("{before}{value}{after}");
                out.push(Sample {
                    label: Label::Positive {
                        rule: rule.id.clone(),
                        start: before.len(),
                        end: before.len() + value.len(),
                    },
                    text,
                });
            }
        }
        if let Some(template) = &rule.r#gen {
            let checksummed = rule.validators.iter().any(|v| {
                matches!(
                    v,
                    crate::Validator::GithubCrc32 | crate::Validator::Luhn | crate::Validator::Iban
                )
            });
            for _ in 0..(if checksummed { per_rule } else { 0 }) {
                let text = corrupt_checksum(&expand(template, &mut rng));
                out.push(Sample {
                    text,
                    label: Label::Negative {
                        kind: format!("bad-checksum:{}", rule.id),
                    },
                });
            }
        }
        for fp in &rule.fp {
            out.push(Sample {
                text: fp.clone(),
                label: Label::Negative {
                    kind: format!("near-miss:{}", rule.id),
                },
            });
        }
    }
    let hex = b"0123456789abcdef";
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for i in 0..noise {
        let (kind, text) = match i % 8 {
            0 => ("hash", format!("commit {} fixes the flaky test", rng.string(hex, 40))),
            1 => ("hash", format!("sha256 checksum: {}", rng.string(hex, 64))),
            2 => ("hash", format!("md5({}) = {}", rng.string(b"abcdefghij", 6), rng.string(hex, 32))),
            3 => ("uuid", format!(
                "request id {}-{}-4{}-{}{}-{} failed",
                rng.string(hex, 8), rng.string(hex, 4), rng.string(hex, 3), rng.pick(&["8", "9", "a", "b"]), rng.string(hex, 3), rng.string(hex, 12)
            )),
            4 => {
                let len = 40 + rng.below(200);
                ("base64", format!("data:application/octet-stream;base64,{}==", rng.string(b64, len)))
            }
            5 => {
                let len = 24 + rng.below(100);
                ("base64", format!("blob {}", rng.string(b64, len)))
            }
            6 => ("prose", rng.pick(PROSE).to_string()),
            _ => ("log", format!(
                "2026-11-22T{:02}:{:02}:{:02}Z WARN worker-{} retry {} of 5 after {}ms (queue depth {})",
                rng.below(24), rng.below(60), rng.below(60), rng.below(16), 1 + rng.below(4), rng.below(5000), rng.below(100000)
            )),
        };
        out.push(Sample {
            text,
            label: Label::Negative { kind: kind.into() },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_deterministically() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let t = "AKIA{A-Z2-7:16} {a-f0-9:4-8} {github:ghp_} {luhn:16} {iban} {ssn} {jwt}";
        assert_eq!(expand(t, &mut a), expand(t, &mut b));
        let s = expand("AKIA{A-Z2-7:16}", &mut a);
        assert_eq!(s.len(), 20);
        assert!(s[4..]
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));
        assert!(crate::validate::github_crc32(&expand(
            "{github:ghp_}",
            &mut a
        )));
        assert!(crate::validate::luhn(&expand("{luhn:16}", &mut a)));
        assert!(crate::validate::iban(&expand("{iban}", &mut a)));
        assert!(crate::validate::jwt(&expand("{jwt}", &mut a)));
    }
}
