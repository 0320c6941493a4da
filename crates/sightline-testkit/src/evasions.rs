//! Request bodies that hide a secret from a scanner reading raw JSON: escapes, split blocks,
//! tool results, tool definitions, documents in base64, and every field of the Responses and
//! completions APIs that reaches the model. Each must be found as the model would read it.
//!
//! The values are synthetic (valid formats, never real credentials).

use base64::Engine as _;
use serde_json::json;

/// An AWS access key id in the public format (not the documented example, which is INFO).
pub const AWS_KEY_ID: &str = "AKIAQYLPMN5HHHFPZAM2";

/// A private key in PEM form whose body holds `/`, which JSON may write as `\/`.
pub const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x/Zq3vR8/kTn2Lw+Hq0c9s/Yd4Ep7Vb6Xk2Jm5Fr8Tg3Wn\nQ/zK4pL9sD2fG7hJ3kL8mN1bV5cX6zA9qW2eR4tY7uI0oP3aS6dF9gH2jK5lZ8x\n-----END RSA PRIVATE KEY-----";

/// One evasion: where the secret hides and the body that hides it.
#[derive(Debug, Clone)]
pub struct Evasion {
    /// What it tries.
    pub name: &'static str,
    /// The endpoint it is sent to.
    pub path: &'static str,
    /// The raw JSON body.
    pub body: String,
    /// Strings that must never appear in anything published (the value, or its pieces).
    pub values: Vec<String>,
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `s` with every character written as a JSON `\uXXXX` escape.
fn all_escaped(s: &str) -> String {
    s.chars()
        .map(|c| format!("\\u{:04x}", u32::from(c)))
        .collect()
}

/// Every evasion, each hiding [`AWS_KEY_ID`] or [`PEM`].
pub fn evasions() -> Vec<Evasion> {
    let key = AWS_KEY_ID;
    let (head, tail) = key.split_at(10);
    let one = |name, path, body: serde_json::Value| Evasion {
        name,
        path,
        body: body.to_string(),
        values: vec![key.to_string()],
    };
    let messages = "/v1/messages";
    let chat = "/v1/chat/completions";
    let responses = "/v1/responses";
    let doc = b64(&format!("[default]\naws_access_key_id = {key}\n"));
    vec![
        Evasion {
            name: "one character as a \\u escape",
            path: messages,
            body: r#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"my key: AKIA\u0051YLPMN5HHHFPZAM2"}]}"#
                .to_string(),
            values: vec![key.into()],
        },
        Evasion {
            name: "every character as a \\u escape",
            path: chat,
            body: format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"key {}"}}]}}"#,
                all_escaped(key)
            ),
            values: vec![key.into()],
        },
        Evasion {
            name: "a PEM written with \\/ and \\n escapes",
            path: messages,
            body: format!(
                r#"{{"model":"m","max_tokens":8,"messages":[{{"role":"user","content":"deploy key:\n{}"}}]}}"#,
                PEM.replace('/', "\\/").replace('\n', "\\n")
            ),
            values: vec![PEM.lines().nth(1).unwrap_or_default().into()],
        },
        Evasion {
            name: "split across two text blocks",
            path: messages,
            body: json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [
                {"type": "text", "text": format!("my key is {head}")},
                {"type": "text", "text": format!("{tail} thanks")}]}]})
            .to_string(),
            values: vec![head.into(), tail.into()],
        },
        Evasion {
            name: "split across three text blocks, escaped",
            path: messages,
            body: format!(
                r#"{{"model":"m","max_tokens":8,"messages":[{{"role":"user","content":[{{"type":"text","text":"{}"}},{{"type":"text","text":"{}"}},{{"type":"text","text":"{}"}}]}}]}}"#,
                all_escaped(&key[..6]),
                all_escaped(&key[6..12]),
                all_escaped(&key[12..])
            ),
            values: vec![key[..6].into(), key[6..12].into(), key[12..].into()],
        },
        one(
            "a system prompt block",
            messages,
            json!({"model": "m", "max_tokens": 8, "system": [{"type": "text", "text": format!("Use {key} for S3")}],
                "messages": [{"role": "user", "content": "list my buckets"}]}),
        ),
        one(
            "a tool result",
            messages,
            json!({"model": "m", "max_tokens": 8, "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {"command": "cat ~/.aws/credentials"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": format!("aws_access_key_id = {key}")}]}]}]}),
        ),
        one(
            "a tool_use input",
            messages,
            json!({"model": "m", "max_tokens": 8, "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "bash",
                    "input": {"command": format!("export AWS_ACCESS_KEY_ID={key}")}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}]}),
        ),
        one(
            "a tool description",
            messages,
            json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "deploy"}],
                "tools": [{"name": "deploy", "description": format!("Deploys with key {key}"),
                    "input_schema": {"type": "object", "properties": {}}}]}),
        ),
        one(
            "a function description",
            chat,
            json!({"model": "m", "messages": [{"role": "user", "content": "deploy"}],
                "tools": [{"type": "function", "function": {"name": "deploy",
                    "description": format!("Deploys with key {key}"), "parameters": {"type": "object"}}}]}),
        ),
        one(
            "tool call arguments",
            chat,
            json!({"model": "m", "messages": [
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "login", "arguments": format!("{{\"key\": \"{key}\"}}")}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "done"}]}),
        ),
        one(
            "a base64 text document",
            messages,
            json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": doc}},
                {"type": "text", "text": "what is in this file?"}]}]}),
        ),
        one(
            "a plain text document",
            messages,
            json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                    "data": format!("aws_access_key_id = {key}")}, "title": "creds"}]}]}),
        ),
        one(
            "OpenAI file_data",
            chat,
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "file", "file": {"filename": "credentials", "file_data": format!("data:text/plain;base64,{doc}")}},
                {"type": "text", "text": "summarise"}]}]}),
        ),
        one(
            "Responses instructions",
            responses,
            json!({"model": "m", "instructions": format!("The key is {key}"), "input": "hello"}),
        ),
        one(
            "Responses input string",
            responses,
            json!({"model": "m", "input": format!("my key is {key}")}),
        ),
        one(
            "Responses input items",
            responses,
            json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_text", "text": format!("my key is {key}")}]}]}),
        ),
        one(
            "Responses function_call_output",
            responses,
            json!({"model": "m", "input": [
                {"type": "function_call", "call_id": "c1", "name": "env", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": format!("AWS_ACCESS_KEY_ID={key}")}]}),
        ),
        one(
            "Responses input_file",
            responses,
            json!({"model": "m", "input": [{"role": "user", "content": [
                {"type": "input_file", "filename": "creds.txt", "file_data": format!("data:text/plain;base64,{doc}")}]}]}),
        ),
        one(
            "text that starts like a data URL",
            messages,
            json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": format!("data: my key is {key}")}]}),
        ),
        one(
            "a tool input field named id",
            messages,
            json!({"model": "m", "max_tokens": 8, "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "store",
                    "input": {"id": key, "type": "aws"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "stored"}]}]}),
        ),
        one(
            "a schema property named id",
            messages,
            json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "go"}],
                "tools": [{"name": "login", "input_schema": {"type": "object", "properties": {
                    "id": {"type": "string", "description": format!("always {key}")}}}}]}),
        ),
        one(
            "a Responses JSON schema format",
            responses,
            json!({"model": "m", "input": "go", "text": {"format": {"type": "json_schema", "name": "creds",
                "schema": {"type": "object", "description": format!("the key {key}")}}}}),
        ),
        one(
            "a base64 document wrapped over lines",
            messages,
            json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "text/plain; charset=utf-8",
                    "data": doc.as_bytes().chunks(16).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\n")}}]}]}),
        ),
        one(
            "completions prompt",
            "/v1/completions",
            json!({"model": "gpt-3.5-turbo-instruct", "prompt": format!("key = {key}\n")}),
        ),
    ]
}
