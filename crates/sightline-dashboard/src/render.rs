//! HTML pages: `minijinja` templates compiled into the binary, auto-escaped (every value a
//! page shows came from a request someone sent), with charts drawn as inline SVG.

use minijinja::value::Value;
use minijinja::{Environment, UndefinedBehavior};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::range::format_day;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("overview.html", include_str!("../templates/overview.html")),
    ("user.html", include_str!("../templates/user.html")),
    (
        "conversation.html",
        include_str!("../templates/conversation.html"),
    ),
    ("team.html", include_str!("../templates/team.html")),
    (
        "incidents.html",
        include_str!("../templates/incidents.html"),
    ),
    ("incident.html", include_str!("../templates/incident.html")),
    (
        "capabilities.html",
        include_str!("../templates/capabilities.html"),
    ),
    ("rules.html", include_str!("../templates/rules.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("login.html", include_str!("../templates/login.html")),
];

/// The stylesheet and the live-view script, served from the binary.
pub const CSS: &str = include_str!("../static/app.css");
/// See [`CSS`].
pub const LIVE_JS: &str = include_str!("../static/live.js");

/// The templates, parsed once at start.
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    /// Parses every template; a broken one is a startup error naming it.
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.add_filter("num", num);
        env.add_filter("pct", pct);
        env.add_filter("usd", usd);
        env.add_filter("when", when);
        env.add_filter("seg", seg);
        for (name, text) in TEMPLATES {
            env.add_template(name, text)?;
        }
        Ok(Self { env })
    }

    /// Renders `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

/// `1234567` → `1,234,567`; fractions keep one decimal.
pub fn num(v: Value) -> String {
    let f = f64::try_from(v.clone()).unwrap_or(0.0);
    if !f.is_finite() {
        return "0".into();
    }
    let whole = f.trunc().abs() as u128;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    let frac = (f.fract().abs() * 10.0).round() as u32;
    if f < 0.0 {
        out.insert(0, '-');
    }
    if frac > 0 && frac < 10 {
        out.push_str(&format!(".{frac}"));
    }
    out
}

/// `0.0523` → `5.2%`.
pub fn pct(v: Value) -> String {
    let f = f64::try_from(v).unwrap_or(0.0);
    if f.is_finite() {
        format!("{:.1}%", f * 100.0)
    } else {
        "0.0%".into()
    }
}

/// `12.3456` → `$12.35`.
pub fn usd(v: Value) -> String {
    format!("${:.2}", f64::try_from(v).unwrap_or(0.0))
}

/// Milliseconds since the epoch → `YYYY-MM-DD HH:MM:SS UTC`.
pub fn when(v: Value) -> String {
    let ms = i64::try_from(v).unwrap_or(0);
    let secs = ms.div_euclid(1000);
    let (day, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        format_day(day),
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// What a path segment may not hold as is (RFC 3986 reserved characters and more).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b'/')
    .add(b';')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'+')
    .add(b',')
    .add(b'=')
    .add(b'@')
    .add(b':');

/// A value as one URL path segment (`.` and `..` too, so no link climbs a level).
pub fn seg(v: String) -> String {
    match v.as_str() {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        _ => utf8_percent_encode(&v, SEGMENT).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn figures_read_as_people_expect() {
        assert_eq!(num(Value::from(1_234_567)), "1,234,567");
        assert_eq!(num(Value::from(999)), "999");
        assert_eq!(num(Value::from(12.25)), "12.3");
        assert_eq!(pct(Value::from(0.0523)), "5.2%");
        assert_eq!(usd(Value::from(12.3456)), "$12.35");
        assert_eq!(
            when(Value::from(1_764_460_800_000_i64)),
            "2025-11-30 00:00:00 UTC"
        );
        assert_eq!(seg("a b/../c".into()), "a%20b%2F..%2Fc");
        assert_eq!(seg("acme-dana.c0".into()), "acme-dana.c0");
        assert_eq!(seg("..".into()), "%2E%2E");
    }

    #[test]
    fn every_template_parses_and_values_are_escaped() {
        let pages = Pages::new().expect("templates");
        let html = pages
            .render(
                "error.html",
                context! { status => 404, message => "<script>alert(1)</script>", who => context!{ user => "<b>x</b>", role => "user" } },
            )
            .expect("render");
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
                || html.contains("&lt;script&gt;")
        );
        assert!(!html.contains("<b>x</b>"));
    }
}
