//! The external judge: one HTTP call per logical request that asks for it, with a timeout
//! and a fallback.
//!
//! Request: `POST <judge.url>` with JSON
//! `{"logical_id", "tenant_id", "user_id", "tier", "rules", "findings": [{"rule_id",
//! "category", "location", "tier"}], "messages": [{"role", "text"}]}`. The text is redacted
//! here with the policy in force, whatever earlier stages did; findings carry no values or
//! fingerprints. Redirects are not followed. The answer's reason is capped and redacted too.
//! Answer: `{"tier": "NONE"|"INFO"|"WARNING"|"CRITICAL", "reason": "..."}`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use sightline_detect::FingerprintKey;
use sightline_events::{JudgeOutcome, JudgeStatus, LlmEvent, VerdictTier};
use sightline_policy::Policy;

use crate::decide::{fallback, Evaluation};

/// Longest reason kept from an answer.
const MAX_REASON_CHARS: usize = 500;

/// Asks the judge configured in the policy.
#[derive(Debug, Clone)]
pub struct Judge {
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Answer {
    tier: String,
    #[serde(default)]
    reason: Option<String>,
}

/// The outcome of an answer body: the judge's tier, or why it cannot be used.
pub fn read_answer(body: &[u8]) -> Result<JudgeOutcome, String> {
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("the judge's answer is not {{\"tier\", \"reason\"}} JSON: {e}"))?;
    let tier = VerdictTier::parse(&answer.tier)
        .ok_or_else(|| "the judge's tier is not NONE, INFO, WARNING or CRITICAL".to_string())?;
    // Capped after it is redacted (in `ask`), so a value is never cut where a scan would
    // miss it.
    let reason = answer
        .reason
        .map(|r| r.chars().filter(|c| !c.is_control()).collect::<String>());
    Ok(JudgeOutcome {
        status: JudgeStatus::Answered,
        tier: tier.as_str().into(),
        reason,
    })
}

impl Default for Judge {
    fn default() -> Self {
        Self::new()
    }
}

impl Judge {
    /// A client; the timeout comes from the policy on each call.
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    /// Asks about `event` (a PRIMARY) and its evaluation. Never fails: a refused, malformed
    /// or late answer gives the fallback.
    pub async fn ask(
        &self,
        policy: &Policy,
        key: &FingerprintKey,
        event: &LlmEvent,
        eval: &Evaluation,
    ) -> JudgeOutcome {
        let Some(config) = policy.judge() else {
            return fallback(
                policy,
                eval,
                JudgeStatus::Failed,
                "no [judge] in the policy",
            );
        };
        let body = json!({
            "logical_id": event.logical_id,
            "tenant_id": event.tenant_id,
            "user_id": event.user_id,
            "tier": eval.tier.as_str(),
            "rules": eval.rules,
            "findings": eval.findings.iter().map(|f| json!({
                "rule_id": f.rule_id, "category": f.category, "location": f.location, "tier": f.tier,
            })).collect::<Vec<_>>(),
            "messages": event.messages.iter().map(|m| {
                let (text, _) = policy.scan_and_redact(m.text.clone(), &event.tenant_id, key);
                json!({"role": m.role, "text": text})
            }).collect::<Vec<_>>(),
        });
        let call = async {
            let resp = self
                .client
                .post(&config.url)
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("judge unreachable: {}", without_url(&e)))?;
            let status = resp.status();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| format!("judge answer cut off: {}", without_url(&e)))?;
            if !status.is_success() {
                return Err(format!("judge answered HTTP {}", status.as_u16()));
            }
            read_answer(&bytes)
        };
        match tokio::time::timeout(config.timeout, call).await {
            Ok(Ok(mut outcome)) => {
                outcome.reason = outcome.reason.map(|r| {
                    let redacted = policy.scan_and_redact(r, &event.tenant_id, key).0;
                    redacted.chars().take(MAX_REASON_CHARS).collect()
                });
                outcome
            }
            Ok(Err(reason)) => {
                // A parse error may quote the answer: redacted like the answer.
                let reason = policy.scan_and_redact(reason, &event.tenant_id, key).0;
                tracing::warn!(reason, "judge failed; using the fallback tier");
                fallback(policy, eval, JudgeStatus::Failed, &reason)
            }
            Err(_) => fallback(
                policy,
                eval,
                JudgeStatus::TimedOut,
                &format!("no answer within {}", humantime(config.timeout)),
            ),
        }
    }
}

fn without_url(e: &reqwest::Error) -> String {
    // The URL may carry a token in its query.
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<judge url>");
    }
    s
}

fn humantime(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::evaluate;
    use sightline_events::{Message, Provider};

    /// A judge whose paths behave differently: `/slow` answers after 2 s, `/broken` with 500,
    /// `/ok` with WARNING (unless it was sent the plaintext value).
    async fn judge_server() -> String {
        let app = axum::Router::new()
            .route(
                "/slow",
                axum::routing::post(|| async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    "{\"tier\": \"NONE\"}"
                }),
            )
            .route(
                "/broken",
                axum::routing::post(|| async {
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no")
                }),
            )
            .route(
                "/ok",
                // Refuses a body that carries the pasted value: the judge gets redacted text.
                axum::routing::post(|body: axum::body::Bytes| async move {
                    if String::from_utf8_lossy(&body).contains("Z7Q3MVW2XN4RP6TL") {
                        (axum::http::StatusCode::BAD_REQUEST, "plaintext")
                    } else {
                        (
                            axum::http::StatusCode::OK,
                            "{\"tier\": \"WARNING\", \"reason\": \"a test key\"}",
                        )
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn policy(url: &str) -> Policy {
        Policy::parse(
            &format!(
                "version = 1\n[[rules]]\nname = \"credentials\"\nmatch = {{ category = \"secret\" }}\ntier = \"CRITICAL\"\n\
                 [tiers.CRITICAL]\nactions = [\"judge\", \"block\"]\n[judge]\nurl = \"{url}\"\ntimeout_ms = 300\nfallback_tier = \"CRITICAL\"\n"
            ),
            "<test>",
        )
        .expect("policy")
    }

    #[tokio::test]
    async fn a_slow_or_broken_judge_gives_the_fallback_and_an_answer_is_taken() {
        let base = judge_server().await;
        let mut event = LlmEvent::request("acme", "dana", Provider::Anthropic, "POST /v1/messages");
        event.messages.push(Message {
            role: "user".into(),
            text: ["key ", "AKIA", "Z7Q3MVW2XN4RP6TL"].concat(),
        });
        let judge = Judge::new();
        for (path, status, tier) in [
            ("/slow", JudgeStatus::TimedOut, "CRITICAL"),
            ("/broken", JudgeStatus::Failed, "CRITICAL"),
            ("/ok", JudgeStatus::Answered, "WARNING"),
        ] {
            let policy = policy(&format!("{base}{path}"));
            let eval = evaluate(
                &policy,
                &event,
                Some(&sightline_detect::FingerprintKey::new(b"k")),
            );
            assert!(eval.asks_judge);
            let started = std::time::Instant::now();
            let outcome = judge
                .ask(&policy, &FingerprintKey::new(b"k"), &event, &eval)
                .await;
            assert_eq!(
                (outcome.status, outcome.tier.as_str()),
                (status, tier),
                "{path}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{path}: bounded by the timeout"
            );
        }
    }

    #[test]
    fn answers_are_read_strictly_and_reasons_are_capped() {
        let ok = read_answer(br#"{"tier": "warning", "reason": "a test fixture"}"#).expect("ok");
        assert_eq!(
            (ok.tier.as_str(), ok.reason.as_deref()),
            ("WARNING", Some("a test fixture"))
        );
        assert!(read_answer(br#"{"tier": "SEVERE"}"#).is_err());
        assert!(read_answer(b"<html>").is_err());
        let long = format!(r#"{{"tier": "NONE", "reason": "{}"}}"#, "x".repeat(5000));
        assert_eq!(
            read_answer(long.as_bytes())
                .expect("ok")
                .reason
                .map(|r| r.len()),
            Some(5000),
            "capped by `ask`, after redaction"
        );
    }
}
