//! What reaches the model: the decoded text of every field of a request body that the model
//! reads, each piece with where it sits in the body. Pure.
//!
//! The policy scans this, not the raw bytes, so a secret spelt with JSON escapes
//! (`AKIA\u0049…`, `\/` in a PEM) is found as the model would read it. Text documents are
//! decoded from base64 and scanned too. Adjacent text blocks of one message form one part,
//! scanned so that a value split across two blocks is still found ([`scan`]). A redaction is
//! written back into the parsed body ([`Content::redacted_body`]): the forwarded body stays
//! valid JSON, and a redacted base64 document is encoded again.
//!
//! Covered: Anthropic `system`, `messages` (text, image, document, tool_use, tool_result,
//! thinking and any other block type), `tools`; OpenAI `messages` (content parts, tool calls),
//! `tools`/`functions`, `response_format`, and the Responses API's `instructions`, `input`
//! (string or items) and `prompt`. Every other top-level field but a few that never reach
//! the model (`model`, `metadata`, `user` and ids) is walked as well, so a field added by a
//! provider later is scanned before anyone writes a line for it.

use std::ops::Range;

use base64::Engine as _;
use serde_json::Value;
use sightline_detect::{ceil_boundary, floor_boundary, Finding, FingerprintKey};
use sightline_events::Attachment;

/// Top-level fields that never reach the model. Everything else is scanned.
const NOT_FOR_THE_MODEL: &[&str] = &[
    "model",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "previous_response_id",
    "conversation",
    "service_tier",
    // Anthropic's MCP connector: credentials for the provider to call a server with.
    "mcp_servers",
];

/// Keys whose values go to the provider as credentials, never to the model (an MCP tool's
/// `authorization` and `headers`): not scanned, never redacted, wherever they are outside
/// free-form JSON.
const CREDENTIALS_FOR_THE_PROVIDER: &[&str] = &["authorization_token", "authorization", "headers"];

/// Keys whose values are JSON the caller writes freely (tool inputs, schemas): every string
/// and key in them is read, with none of the skips below.
const FREE_FORM: &[&str] = &[
    "input",
    "arguments",
    "parameters",
    "input_schema",
    "schema",
    "format",
    "properties",
];

/// Keys inside blocks and items whose string values are ids, signatures or settings, not
/// text (outside free-form JSON; an object or array under them is still read).
const NOT_TEXT: &[&str] = &[
    "type",
    "id",
    "role",
    "signature",
    "cache_control",
    "tool_use_id",
    "call_id",
    "media_type",
    "encrypted_content",
    "status",
    "index",
    "file_id",
    "detail",
    "format",
];

/// How far on each side of the seam between two text blocks a value split across them is
/// looked for. Values longer than this on one side (a whole PEM body) are found by their own
/// markers within each block.
const SEAM_WINDOW: usize = 2048;

/// How a piece of text is stored in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoding {
    /// A JSON string, as is.
    Plain,
    /// Base64 of UTF-8 text, after `prefix` (a `data:…;base64,` URL's head, or empty).
    Base64 {
        /// What comes before the base64 text in the string.
        prefix: String,
    },
}

/// One JSON string of the body, as part of a [`Part`]'s text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// JSON pointer (RFC 6901) to the string in the body.
    pub pointer: String,
    /// How the string holds the text.
    pub encoding: Encoding,
    /// Where its decoded text sits in the part's text.
    pub range: Range<usize>,
}

/// What a part of the content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text of a turn: published (redacted) with the turn.
    Text,
    /// A document's decoded text, or a field outside the conversation (tool definitions,
    /// schemas): scanned, never published.
    Scanned,
}

/// Text the model reads as one run: one string, or adjacent text blocks of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The turn it belongs to (index into [`Content::turns`]), if any.
    pub turn: Option<usize>,
    /// Published or only scanned.
    pub kind: Kind,
    /// The decoded text; a run's pieces are joined with `\n`.
    pub text: String,
    /// The strings it came from, in order.
    pub pieces: Vec<Piece>,
}

/// Everything in a request body the model reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Content {
    /// The parsed body; redactions are written into a copy.
    pub root: Value,
    /// The roles of the conversation's turns (system first, when there is one).
    pub turns: Vec<String>,
    /// The text, in body order.
    pub parts: Vec<Part>,
    /// Attachment metadata (digests keyed), in body order.
    pub attachments: Vec<Attachment>,
}

impl Content {
    /// Reads the content of a parsed body. `key` keys the attachment digests.
    pub fn of(root: Value, key: &FingerprintKey) -> Self {
        let mut walk = Walk {
            key,
            out: Content::default(),
            pointer: String::new(),
            free: 0,
        };
        if let Value::Object(fields) = &root {
            for (name, value) in fields {
                walk.enter(name, |w| w.top_level(name, value));
            }
        }
        walk.out.root = root;
        walk.out
    }

    /// Each turn's text, with `findings` (one list per part, spans in the part's text)
    /// redacted: what the REQUEST event publishes.
    pub fn published_turns(&self, findings: &[Vec<Finding>]) -> Vec<(String, String)> {
        let mut texts: Vec<Vec<String>> = vec![vec![]; self.turns.len()];
        for (i, part) in self.parts.iter().enumerate() {
            let (Some(turn), Kind::Text) = (part.turn, part.kind) else {
                continue;
            };
            let found = findings.get(i).map_or(&[][..], Vec::as_slice);
            let text = if found.is_empty() {
                part.text.clone()
            } else {
                sightline_detect::redact(&part.text, found)
            };
            texts[turn].push(text);
        }
        self.turns
            .iter()
            .zip(texts)
            .map(|(role, t)| (role.clone(), t.join("\n")))
            .collect()
    }

    /// The body with `findings` (one list per part) redacted in place, serialised again.
    pub fn redacted_body(&self, findings: &[Vec<Finding>]) -> String {
        let mut root = self.root.clone();
        for (part, found) in self.parts.iter().zip(findings) {
            for piece in &part.pieces {
                let local: Vec<Finding> = found
                    .iter()
                    .filter(|f| f.start < piece.range.end && piece.range.start < f.end)
                    .map(|f| Finding {
                        start: f.start.max(piece.range.start) - piece.range.start,
                        end: f.end.min(piece.range.end) - piece.range.start,
                        ..f.clone()
                    })
                    .collect();
                if local.is_empty() {
                    continue;
                }
                let Some(Value::String(s)) = root.pointer_mut(&piece.pointer) else {
                    continue;
                };
                *s = match &piece.encoding {
                    Encoding::Plain => sightline_detect::redact(s, &local),
                    Encoding::Base64 { prefix } => {
                        let text = &part.text[piece.range.clone()];
                        let redacted = sightline_detect::redact(text, &local);
                        format!("{prefix}{}", base64_engine().encode(redacted))
                    }
                };
            }
        }
        root.to_string()
    }

    /// The first user turn's text (unredacted), for deriving a conversation id.
    pub fn first_user_text(&self) -> Option<String> {
        let turn = self.turns.iter().position(|r| r == "user")?;
        let texts: Vec<&str> = self
            .parts
            .iter()
            .filter(|p| p.turn == Some(turn) && p.kind == Kind::Text)
            .map(|p| p.text.as_str())
            .collect();
        Some(texts.join("\n"))
    }
}

/// Every finding in each part of `content` (one list per part, spans in the part's text),
/// found by `scan_text`. A value split across adjacent text blocks is found by scanning the
/// blocks glued together around each seam; only findings that cross a seam are taken from
/// there, the rest come from the part's own text.
pub fn scan(content: &Content, scan_text: impl Fn(&str) -> Vec<Finding>) -> Vec<Vec<Finding>> {
    content
        .parts
        .iter()
        .map(|part| {
            let mut found = scan_text(&part.text);
            if part.pieces.len() > 1 {
                found.extend(across_seams(part, &scan_text));
                found.sort_by(|a, b| {
                    (a.start, a.end, &a.rule_id).cmp(&(b.start, b.end, &b.rule_id))
                });
                found.dedup_by(|a, b| {
                    a.start == b.start && a.end == b.end && a.rule_id == b.rule_id
                });
            }
            found
        })
        .collect()
}

/// Findings that cross a seam between pieces of `part`, with spans in the part's text.
fn across_seams(part: &Part, scan_text: &impl Fn(&str) -> Vec<Finding>) -> Vec<Finding> {
    // The pieces glued with nothing between them, and where each seam falls in that text.
    let mut glued = String::with_capacity(part.text.len());
    let mut starts = vec![]; // (offset in glued, offset in part.text) of each piece
    for piece in &part.pieces {
        starts.push((glued.len(), piece.range.start));
        glued.push_str(&part.text[piece.range.clone()]);
    }
    let seams: Vec<usize> = starts.iter().skip(1).map(|(g, _)| *g).collect();
    // Windows around the seams, merged where they overlap.
    let mut windows: Vec<Range<usize>> = vec![];
    for &seam in &seams {
        let w = floor_boundary(&glued, seam.saturating_sub(SEAM_WINDOW))
            ..ceil_boundary(&glued, (seam + SEAM_WINDOW).min(glued.len()));
        match windows.last_mut() {
            Some(last) if w.start <= last.end => last.end = w.end,
            _ => windows.push(w),
        }
    }
    let to_part = |g: usize, closing: bool| {
        // The piece holding glued offset `g`; a closing offset at a seam stays in the piece
        // before it.
        let i = starts
            .iter()
            .rposition(|(s, _)| if closing { *s < g } else { *s <= g })
            .unwrap_or(0);
        let (gs, ps) = starts[i];
        ps + (g - gs)
    };
    let mut out = vec![];
    for w in windows {
        for f in scan_text(&glued[w.clone()]) {
            let (gs, ge) = (w.start + f.start, w.start + f.end);
            if seams.iter().any(|&s| gs < s && s < ge) {
                out.push(Finding {
                    start: to_part(gs, false),
                    end: to_part(ge, true),
                    ..f
                });
            }
        }
    }
    out
}

fn base64_engine() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Media types whose bytes are text the model reads.
pub fn is_text_like(media_type: Option<&str>) -> bool {
    media_type.is_some_and(|m| {
        let m = m
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let m = m.as_str();
        m.starts_with("text/")
            || matches!(
                m,
                "application/json"
                    | "application/xml"
                    | "application/x-yaml"
                    | "application/yaml"
                    | "application/x-sh"
            )
    })
}

/// The walk over a body, keeping the JSON pointer of the value it is at.
struct Walk<'k> {
    key: &'k FingerprintKey,
    out: Content,
    pointer: String,
    /// Inside free-form JSON (depth), where nothing is skipped.
    free: usize,
}

/// A run of adjacent text blocks being collected.
#[derive(Default)]
struct Run {
    text: String,
    pieces: Vec<Piece>,
}

impl Walk<'_> {
    /// Runs `f` with the pointer one step further down, at `step`.
    fn enter<T>(&mut self, step: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        let len = self.pointer.len();
        self.pointer.push('/');
        for c in step.chars() {
            match c {
                '~' => self.pointer.push_str("~0"),
                '/' => self.pointer.push_str("~1"),
                c => self.pointer.push(c),
            }
        }
        let out = f(self);
        self.pointer.truncate(len);
        out
    }

    fn enter_index<T>(&mut self, i: usize, f: impl FnOnce(&mut Self) -> T) -> T {
        self.enter(&i.to_string(), f)
    }

    fn turn(&mut self, role: &str) -> usize {
        self.out.turns.push(role.to_string());
        self.out.turns.len() - 1
    }

    fn top_level(&mut self, name: &str, value: &Value) {
        match name {
            _ if NOT_FOR_THE_MODEL.contains(&name) => {}
            "system" | "instructions" => {
                let turn = self.turn("system");
                self.content(Some(turn), value);
            }
            "messages" => {
                for (i, m) in value.as_array().into_iter().flatten().enumerate() {
                    self.enter_index(i, |w| w.item(m));
                }
            }
            "input" | "prompt" => match value {
                Value::Array(items) if items.iter().any(Value::is_object) => {
                    for (i, item) in items.iter().enumerate() {
                        self.enter_index(i, |w| w.item(item));
                    }
                }
                Value::String(_) | Value::Array(_) => {
                    let turn = self.turn("user");
                    self.value(Some(turn), value);
                }
                other => self.value(None, other),
            },
            _ => self.value(None, value),
        }
    }

    /// A message (`role` + `content`) or a Responses API input item (`type` + fields).
    fn item(&mut self, item: &Value) {
        let Value::Object(fields) = item else {
            let turn = self.turn("user");
            return self.value(Some(turn), item);
        };
        let role = fields
            .get("role")
            .or_else(|| fields.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let turn = Some(self.turn(role));
        for (name, value) in fields {
            match name.as_str() {
                "content" => self.enter(name, |w| w.content(turn, value)),
                _ => self.field(turn, name, value),
            }
        }
    }

    /// `name: value` of an object: skipped when it is an id or setting (outside free-form
    /// JSON), read in free-form mode when it is a tool input or schema, else read.
    fn field(&mut self, turn: Option<usize>, name: &str, value: &Value) {
        if self.free == 0
            && (CREDENTIALS_FOR_THE_PROVIDER.contains(&name)
                || (NOT_TEXT.contains(&name) && value.is_string()))
        {
            return;
        }
        let free = FREE_FORM.contains(&name);
        self.free += usize::from(free);
        self.enter(name, |w| match value {
            Value::String(s) => w.string(turn, Some(name), s),
            other => w.value(turn, other),
        });
        self.free -= usize::from(free);
    }

    /// A `content` value: a string, or blocks whose adjacent text blocks form one run.
    fn content(&mut self, turn: Option<usize>, content: &Value) {
        let Value::Array(blocks) = content else {
            return self.value(turn, content);
        };
        let mut run = Run::default();
        for (i, block) in blocks.iter().enumerate() {
            let text = block
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| matches!(*t, "text" | "input_text" | "output_text"))
                .and_then(|_| block.get("text"))
                .and_then(Value::as_str);
            match text {
                Some(text) => self.enter_index(i, |w| {
                    w.enter("text", |w| {
                        if !run.pieces.is_empty() {
                            run.text.push('\n');
                        }
                        let start = run.text.len();
                        run.text.push_str(text);
                        run.pieces.push(Piece {
                            pointer: w.pointer.clone(),
                            encoding: Encoding::Plain,
                            range: start..run.text.len(),
                        });
                    });
                    // Citations, annotations… of a text block.
                    if let Value::Object(fields) = block {
                        for (name, value) in fields {
                            if name != "text" {
                                w.field(turn, name, value);
                            }
                        }
                    }
                }),
                None => {
                    self.close(turn, &mut run);
                    self.enter_index(i, |w| w.value(turn, block));
                }
            }
        }
        self.close(turn, &mut run);
    }

    fn close(&mut self, turn: Option<usize>, run: &mut Run) {
        if run.pieces.is_empty() {
            return;
        }
        let run = std::mem::take(run);
        self.out.parts.push(Part {
            turn,
            kind: kind_of(turn),
            text: run.text,
            pieces: run.pieces,
        });
    }

    /// Any value: every string in it is text the model reads, except ids and settings, and
    /// binary attachments, whose metadata is recorded instead.
    fn value(&mut self, turn: Option<usize>, value: &Value) {
        match value {
            Value::String(s) => self.string(turn, None, s),
            Value::Array(items) => {
                if self.free == 0
                    && items
                        .iter()
                        .any(|v| v.get("type").and_then(Value::as_str).is_some())
                {
                    return self.content(turn, value);
                }
                for (i, v) in items.iter().enumerate() {
                    self.enter_index(i, |w| w.value(turn, v));
                }
            }
            Value::Object(fields) => {
                let kind = fields.get("type").and_then(Value::as_str);
                if self.free == 0 && self.attachment(turn, kind, fields) {
                    return;
                }
                for (name, v) in fields {
                    self.field(turn, name, v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// A string the model reads, as `key: value` when it is an object's field (so that a rule
    /// that needs the name, `client_secret: …`, sees it; only the value is a piece, and only
    /// it is ever redacted), or a `data:` URL whose bytes decode (metadata, and its text when
    /// it has some). Anything else that looks like a data URL is read as text.
    fn string(&mut self, turn: Option<usize>, key: Option<&str>, s: &str) {
        if s.starts_with("data:") {
            if let Some(found) = self.data_url(turn, "file", s) {
                self.out.attachments.push(found);
                return;
            }
        }
        if s.is_empty() && key.is_none_or(str::is_empty) {
            return;
        }
        let text = match key {
            Some(key) => format!("{key}: {s}"),
            None => s.to_string(),
        };
        let start = text.len() - s.len();
        self.out.parts.push(Part {
            turn,
            kind: kind_of(turn),
            text,
            pieces: vec![Piece {
                pointer: self.pointer.clone(),
                encoding: Encoding::Plain,
                range: start..start + s.len(),
            }],
        });
    }

    /// Attachment blocks of either API. Returns false for anything else. Their other fields
    /// (titles, context, file names) are walked as text.
    fn attachment(
        &mut self,
        turn: Option<usize>,
        kind: Option<&str>,
        fields: &serde_json::Map<String, Value>,
    ) -> bool {
        let handled: &[&str] = match kind {
            // Anthropic: {"type": "image" | "document", "source": {...}}
            Some(kind @ ("image" | "document")) if fields.contains_key("source") => {
                let source = fields.get("source");
                let media_type = str_at(source, "media_type").map(str::to_string);
                self.enter("source", |w| match str_at(source, "type").unwrap_or("") {
                    "base64" => w.enter("data", |w| {
                        let data = str_at(source, "data").unwrap_or("");
                        let found = w.inline(turn, kind, media_type.clone(), "", data);
                        let found = found.unwrap_or_else(|| {
                            // Not base64: read as the text it is.
                            w.document(turn, data, Encoding::Plain);
                            meta_only(kind, media_type, "base64")
                        });
                        w.out.attachments.push(found);
                    }),
                    "text" => w.enter("data", |w| {
                        let data = str_at(source, "data").unwrap_or("");
                        let digest = w.key.fingerprint(data.as_bytes());
                        w.out.attachments.push(Attachment {
                            kind: kind.into(),
                            media_type: media_type.or_else(|| Some("text/plain".into())),
                            source: "text".into(),
                            size_bytes: Some(data.len() as i64),
                            sha256: Some(digest),
                            width: None,
                            height: None,
                        });
                        w.document(turn, data, Encoding::Plain);
                    }),
                    "content" => {
                        w.out
                            .attachments
                            .push(meta_only(kind, media_type, "content"));
                        if let Some(c) = source.and_then(|s| s.get("content")) {
                            w.enter("content", |w| w.content(turn, c));
                        }
                    }
                    "file" => w
                        .out
                        .attachments
                        .push(meta_only(kind, media_type, "file_id")),
                    _ => w.out.attachments.push(meta_only(kind, media_type, "url")),
                });
                &["source"]
            }
            // OpenAI Chat: {"type": "image_url", "image_url": {"url": ...}}
            Some("image_url") => {
                let url = fields
                    .get("image_url")
                    .and_then(|u| u.as_str().or_else(|| u.get("url").and_then(Value::as_str)));
                let found = match url {
                    Some(url) => {
                        let nested = fields.get("image_url").is_some_and(Value::is_object);
                        self.enter("image_url", |w| match nested {
                            true => w.enter("url", |w| w.url_field(turn, "image", url)),
                            false => w.url_field(turn, "image", url),
                        })
                    }
                    None => meta_only("image", None, "url"),
                };
                self.out.attachments.push(found);
                &["image_url"]
            }
            // Responses: {"type": "input_image", "image_url": "…" | "file_id": "…"}
            Some("input_image") => {
                let found = match fields.get("image_url").and_then(Value::as_str) {
                    Some(url) => self.enter("image_url", |w| w.url_field(turn, "image", url)),
                    None => meta_only("image", None, "file_id"),
                };
                self.out.attachments.push(found);
                &["image_url"]
            }
            // OpenAI Chat: {"type": "file", "file": {"file_data": "data:…", "filename": …}}
            Some("file") if fields.get("file").is_some_and(Value::is_object) => {
                let file = &fields["file"];
                self.enter("file", |w| {
                    match file.get("file_data").and_then(Value::as_str) {
                        Some(data) => w.enter("file_data", |w| {
                            let found = w.url_field(turn, "file", data);
                            w.out.attachments.push(found);
                        }),
                        None => w.out.attachments.push(meta_only("file", None, "file_id")),
                    }
                    if let Some(name) = file.get("filename") {
                        w.field(turn, "filename", name);
                    }
                });
                &["file"]
            }
            // Responses: {"type": "input_file", "file_data": …, "file_url": …, "filename": …}
            Some("input_file") => {
                let found = match fields.get("file_data").and_then(Value::as_str) {
                    Some(data) => self.enter("file_data", |w| w.url_field(turn, "file", data)),
                    None if fields.contains_key("file_url") => meta_only("file", None, "url"),
                    None => meta_only("file", None, "file_id"),
                };
                self.out.attachments.push(found);
                &["file_data", "file_url"]
            }
            Some("input_audio") => {
                let data = str_at(fields.get("input_audio"), "data").unwrap_or("");
                let size = base64_engine().decode(data.trim()).map(|b| b.len()).ok();
                self.out.attachments.push(Attachment {
                    size_bytes: size.map(|s| s as i64),
                    ..meta_only("audio", None, "base64")
                });
                &["input_audio"]
            }
            // Encrypted by the provider: nothing readable.
            Some("redacted_thinking") => &["data"],
            _ => return false,
        };
        for (name, v) in fields {
            if !handled.contains(&name.as_str()) {
                self.field(turn, name, v);
            }
        }
        true
    }

    /// A document's text, scanned but not published.
    fn document(&mut self, turn: Option<usize>, text: &str, encoding: Encoding) {
        if text.is_empty() {
            return;
        }
        self.out.parts.push(Part {
            turn,
            kind: Kind::Scanned,
            text: text.to_string(),
            pieces: vec![Piece {
                pointer: self.pointer.clone(),
                encoding,
                range: 0..text.len(),
            }],
        });
    }

    /// A `data:` URL at the current pointer, when it is one whose bytes decode: its metadata
    /// (with a keyed digest), its text scanned when it has some. `None` otherwise.
    fn data_url(&mut self, turn: Option<usize>, kind: &str, url: &str) -> Option<Attachment> {
        let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
        let media_type = meta
            .split(';')
            .next()
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        if meta.ends_with(";base64") {
            let prefix = &url[..url.len() - data.len()];
            return self.inline(turn, kind, media_type, prefix, data);
        }
        // Text after the comma as it stands (percent-encoding is not decoded): the whole
        // string is scanned, and redacted, as text.
        self.document(turn, url, Encoding::Plain);
        Some(Attachment {
            kind: kind.into(),
            media_type,
            source: "base64".into(),
            size_bytes: Some(data.len() as i64),
            sha256: Some(self.key.fingerprint(data.as_bytes())),
            width: None,
            height: None,
        })
    }

    /// [`Self::data_url`] for a field that holds a URL: one that is no data URL, or whose bytes
    /// do not decode, is scanned as text (the provider may read it all the same).
    fn url_field(&mut self, turn: Option<usize>, kind: &str, url: &str) -> Attachment {
        if url.starts_with("data:") {
            if let Some(found) = self.data_url(turn, kind, url) {
                return found;
            }
            self.document(turn, url, Encoding::Plain);
        }
        meta_only(kind, None, "url")
    }

    /// Base64 bytes at the current pointer (after `prefix`): metadata with a keyed digest,
    /// image dimensions, and the decoded text of a text document. `None` when they do not
    /// decode.
    fn inline(
        &mut self,
        turn: Option<usize>,
        kind: &str,
        media_type: Option<String>,
        prefix: &str,
        data: &str,
    ) -> Option<Attachment> {
        let bytes = decode_base64(data)?;
        let dims = crate::media::image_dimensions(&bytes);
        let attachment = Attachment {
            kind: kind.into(),
            media_type: media_type.clone(),
            source: "base64".into(),
            size_bytes: Some(bytes.len() as i64),
            sha256: Some(self.key.fingerprint(&bytes)),
            width: dims.and_then(|(w, _)| i32::try_from(w).ok()),
            height: dims.and_then(|(_, h)| i32::try_from(h).ok()),
        };
        if is_text_like(media_type.as_deref()) {
            let text = String::from_utf8_lossy(&bytes);
            let encoding = Encoding::Base64 {
                prefix: prefix.to_string(),
            };
            self.document(turn, &text, encoding);
        }
        Some(attachment)
    }
}

/// Base64 as clients write it: standard or URL-safe, padded or not, wrapped over lines.
fn decode_base64(data: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&compact).ok())
}

/// The string at `v[k]`, if there is one.
fn str_at<'v>(v: Option<&'v Value>, k: &str) -> Option<&'v str> {
    v.and_then(|v| v.get(k)).and_then(Value::as_str)
}

fn kind_of(turn: Option<usize>) -> Kind {
    if turn.is_some() {
        Kind::Text
    } else {
        Kind::Scanned
    }
}

fn meta_only(kind: &str, media_type: Option<String>, source: &str) -> Attachment {
    Attachment {
        kind: kind.into(),
        media_type,
        source: source.into(),
        size_bytes: None,
        sha256: None,
        width: None,
        height: None,
    }
}
