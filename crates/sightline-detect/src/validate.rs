//! Checksum and structure validators. Each takes the candidate value and says whether it is
//! plausibly real.

/// Luhn checksum over the digits of `s` (separators ignored); 13–19 digits.
pub fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    let sum = luhn_sum(&digits, false);
    sum.is_multiple_of(10)
}

/// The Luhn sum of `digits`; `check_digit_missing` when the last digit is still to be chosen
/// (every second digit from the right is doubled, starting with the first or second).
pub fn luhn_sum(digits: &[u32], check_digit_missing: bool) -> u32 {
    let doubled = usize::from(!check_digit_missing);
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| match (i % 2 == doubled, d * 2) {
            (true, x) if x > 9 => x - 9,
            (true, x) => x,
            (false, _) => *d,
        })
        .sum()
}

/// IBAN check digits (ISO 13616 mod 97), with the country's length where known.
pub fn iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() < 15 || compact.len() > 34 || !compact.is_ascii() {
        return false;
    }
    if let Some(len) = iban_length(&compact[..2]) {
        if compact.len() != len {
            return false;
        }
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "AD" => 24,
        "AT" => 20,
        "BE" => 16,
        "BG" => 22,
        "CH" => 21,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "EE" => 20,
        "ES" => 24,
        "FI" => 18,
        "FR" => 27,
        "GB" => 22,
        "GR" => 27,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IS" => 26,
        "IT" => 27,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MT" => 31,
        "NL" => 18,
        "NO" => 15,
        "PL" => 28,
        "PT" => 25,
        "RO" => 24,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "TR" => 26,
        "AE" => 23,
        "SA" => 24,
        "IL" => 23,
        "BR" => 29,
        _ => return None,
    })
}

/// US SSN: excludes area 000, 666 and 900–999, group 00 and serial 0000.
pub fn ssn(s: &str) -> bool {
    let d: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 9 {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// CRC32 (IEEE) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// `n` in base 62, left-padded with zeros to 6 characters.
pub fn base62_6(mut n: u32) -> String {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`): the last 6 characters are the
/// base62 CRC32 of the 30 random characters before them.
pub fn github_crc32(token: &str) -> bool {
    let Some((_, body)) = token.split_once('_') else {
        return false;
    };
    if body.len() != 36 || !body.is_ascii() {
        return false;
    }
    let (random, check) = body.split_at(30);
    base62_6(crc32(random.as_bytes())) == check
}

/// A JWT: three base64url segments whose first two decode to JSON objects, the header naming
/// an `alg`.
pub fn jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_s)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Some(header), Some(payload)) = (b64url(h), b64url(p)) else {
        return false;
    };
    header.starts_with(b"{")
        && payload.starts_with(b"{")
        && header.windows(5).any(|w| w == b"\"alg\"")
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => continue,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        counts[b as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether `text[start..end]`, the value of an assignment, is a literal: quoted, or a bare
/// token. Not a literal: a call (`get_token(scope)`), a field access or path
/// (`input.parse`, `PrivateKey::generate`, `os.environ`), a variable or type name
/// (`user_password_hash`, `SecretString`), an environment variable's name
/// (`AWS_SECRET_ACCESS_KEY`) or reference (`$TOKEN`, `%TOKEN%`), or a URL without a password.
pub fn literal_value(text: &str, start: usize, end: usize) -> bool {
    let value = &text[start..end];
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let quoted = before.is_some_and(|c| matches!(c, '"' | '\'' | '`'));
    // `$TOKEN`, `${X}`, `$(cmd)`, `%X%` refer to a value; `$2b$12$…` (a bcrypt hash) is one.
    let reference = value.strip_prefix('$').is_some_and(|rest| {
        rest.starts_with(|c: char| c.is_ascii_alphabetic() || matches!(c, '_' | '{' | '('))
    });
    if reference || (value.len() > 2 && value.starts_with('%') && value.ends_with('%')) {
        return false;
    }
    if is_env_name(value) {
        return false;
    }
    if let Some((scheme, rest)) = value.split_once("://") {
        // A URL is a secret only where it carries a password (`user:pass@host`).
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        return scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
            && authority
                .rsplit_once('@')
                .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    }
    if quoted {
        return true;
    }
    // Bare: code, unless it is a token. A token starts with a letter, a digit or a base64
    // character (`&x`, `*p`, `!flag`, `@attr` are expressions) and holds no escapes
    // (`hell\0o\r\n` is string content).
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '_'))
        || value.contains('\\')
        || after == Some('(')
        || value.contains("::")
        || value.contains("->")
    {
        return false;
    }
    if is_dotted_path(value) {
        return false;
    }
    !is_identifier_name(value)
}

/// `AWS_SECRET_ACCESS_KEY`: upper case words joined by `_`: a variable's name.
fn is_env_name(value: &str) -> bool {
    value.contains('_')
        && value.starts_with(|c: char| c.is_ascii_uppercase())
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && value.bytes().filter(u8::is_ascii_digit).count() <= 2
}

/// `self.token`, `config.api_key.value`, `input.parse`, `res?.access_token`, `cfg.key!`:
/// identifier names joined by dots (a JWT's or a password's dotted parts are no names).
fn is_dotted_path(value: &str) -> bool {
    let path = value.trim_end_matches(['!', '?']).replace("?.", ".");
    path.contains('.')
        && path
            .split('.')
            .all(|part| is_identifier_name(part.trim_start_matches('$')))
}

/// `user_password_hash`, `SecretString`, `oauth2_token`: an identifier made of words.
/// A random token has no such shape: it has digits among its letters, or words too short
/// to be words (`OViYxPera…` splits into `OVi`, `Yx`, `Pera`…).
fn is_identifier_name(value: &str) -> bool {
    let b = value.as_bytes();
    if b.is_empty()
        || !(b[0].is_ascii_alphabetic() || b[0] == b'_')
        || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return false;
    }
    // Words: split at `_`, at lower→upper, and between letters and digits.
    let mut words: Vec<&[u8]> = vec![];
    let mut from = 0;
    for i in 1..=b.len() {
        let cut = i == b.len()
            || b[i] == b'_'
            || b[i - 1] == b'_'
            || (b[i - 1].is_ascii_lowercase() && b[i].is_ascii_uppercase())
            || (b[i - 1].is_ascii_digit() != b[i].is_ascii_digit());
        if cut {
            if b[from] != b'_' {
                words.push(&b[from..i]);
            }
            from = i;
        }
    }
    // Digits between letters (`JBSWY3DPEHPK3PXP`) are no suffix: a token, unless words are
    // joined by `_`.
    let digit_inside = words.windows(3).any(|w| {
        !w[0][0].is_ascii_digit() && w[1][0].is_ascii_digit() && !w[2][0].is_ascii_digit()
    });
    if digit_inside && !value.contains('_') {
        return false;
    }
    let mut digits = 0;
    for w in &words {
        // Long words without a vowel (`qwhzkrtplmvbxnfd`) are random letters.
        if w.len() >= 6 && !w.iter().any(|c| b"aeiouyAEIOUY".contains(c)) && !w[0].is_ascii_digit()
        {
            return false;
        }
        if w[0].is_ascii_digit() {
            // Version and size suffixes: `oauth2`, `sha256`, `v1`.
            if w.len() > 3 {
                return false;
            }
            digits += 1;
        } else if w.len() < 3
            && !(w.len() == 2 && w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase())
        {
            // `id`, `db`, `pw` are words too, but not two in a row of random letters.
            if !matches!(
                w.to_ascii_lowercase().as_slice(),
                b"id"
                    | b"db"
                    | b"pw"
                    | b"io"
                    | b"ok"
                    | b"to"
                    | b"of"
                    | b"is"
                    | b"on"
                    | b"by"
                    | b"my"
                    | b"v"
                    | b"s"
                    | b"x"
            ) {
                return false;
            }
        }
    }
    digits <= 2
}

#[cfg(test)]
mod literal_tests {
    use super::literal_value;

    /// Whether the value after the first `=` or `: ` of `line` counts as a literal.
    fn literal(line: &str) -> bool {
        let at = line
            .find(": ")
            .map(|i| i + 2)
            .or_else(|| line.find('=').map(|i| i + 1))
            .expect("an assignment");
        let at = at + (line[at..].len() - line[at..].trim_start().len());
        let rest = &line[at..];
        let quote = rest.starts_with(['"', '\'', '`']);
        let start = at + usize::from(quote);
        let end = line[start..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '"' | '\''
                            | '`'
                            | ','
                            | ';'
                            | '('
                            | ')'
                            | '['
                            | ']'
                            | '{'
                            | '}'
                            | '<'
                            | '>'
                    )
            })
            .map_or(line.len(), |i| start + i);
        literal_value(line, start, end)
    }

    #[test]
    fn literals_are_quoted_values_and_bare_tokens() {
        for (i, line) in [
            "password = \"hgJEvAxiU67%Znt4\"",
            "API_TOKEN=OViYxPeraZqKICbEWmOzlieNEsnyi4A1",
            "password_hash = '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'",
            "otp_secret=JBSWY3DPEHPK3PXP",
            "token=qwhzkrtplmvbxnfd",
            "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
            "password=Kq9x.Tr0ub4d0r",
            "secret=+Zk3m9Qx/2LpVn8r",
            "db_url=postgres://app:s3cr3t@db:5432/app",
        ]
        .iter()
        .enumerate()
        {
            // By index: a failure message never prints the (synthetic) secret.
            assert!(literal(line), "literal #{i} not recognised");
        }
    }

    #[test]
    fn code_and_references_are_not_literals() {
        for (i, line) in [
            "token = auth_client.get_token(scope)",
            "semi_token: input.parse()?",
            "let private_key = PrivateKey::generate(alg)",
            "password = user_password_hash",
            "access_key: AWS_ACCESS_KEY_ID",
            "token = $GITHUB_TOKEN",
            "pwd=%USERPROFILE%",
            "api_key: SecretString",
            "token = tokenResponse?.access_token",
            "api_key = config.apiKey!",
            "token = &borrowed_token",
            "callback=https://example.com/oauth2/callback",
            "token = oauth2_token",
        ]
        .iter()
        .enumerate()
        {
            assert!(!literal(line), "code #{i} taken for a literal");
        }
    }
}

/// Values people write instead of a real secret: templates, placeholders, masks.
pub fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    const MARKERS: &[&str] = &[
        "${",
        "{{",
        "<",
        "%(",
        "$(",
        "xxxx",
        "****",
        "....",
        "changeme",
        "change_me",
        "placeholder",
        "your_",
        "your-",
        "yourpassword",
        "redacted",
        "example",
        "dummy",
        "sample",
        "replace",
        "password",
        "secret",
        "undefined",
        "null",
        "none",
        "process.env",
        "os.environ",
        "getenv",
    ];
    MARKERS.iter().any(|m| lower.contains(m))
        || lower.bytes().all(|b| b == lower.as_bytes()[0])
        || value.starts_with('$')
        || looks_like_path(value)
}

/// `~/.ssh/id_ed25519`, `./certs/key.pem`, `/etc/app/secret.json`: a reference, not a value.
fn looks_like_path(value: &str) -> bool {
    value.starts_with("~/")
        || value.starts_with("./")
        || value.starts_with("../")
        || (value.starts_with('/') && value[1..].contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_valid_cards_only() {
        assert!(luhn("4539 1488 0343 6467"));
        assert!(luhn("4111-1111-1111-1111"));
        assert!(!luhn("4539 1488 0343 6468"));
        assert!(!luhn("0000000000000000"));
        assert!(!luhn("1234"));
    }

    #[test]
    fn iban_mod97() {
        assert!(iban("GB82 WEST 1234 5698 7654 32"));
        assert!(iban("DE89370400440532013000"));
        assert!(!iban("DE89370400440532013001"));
        assert!(!iban("GB82 WEST 1234 5698 7654 3"));
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn("536-22-1234"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(!ssn(bad), "{bad}");
        }
    }

    #[test]
    fn github_checksum() {
        let random = "abcdefghijklmnopqrstuvwxyz0123";
        let token = format!("ghp_{random}{}", base62_6(crc32(random.as_bytes())));
        assert!(github_crc32(&token));
        let mut wrong = token.clone();
        wrong.replace_range(5..6, "X");
        assert!(!github_crc32(&wrong));
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn jwt_structure() {
        let t = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert!(jwt(t));
        assert!(!jwt("eyJub3QiOiJqd3QifQ.eyJ4IjoxfQ.sig"));
        assert!(!jwt("a.b"));
    }

    #[test]
    fn entropy_and_placeholders() {
        assert!(entropy("aaaaaaaa") < 0.1);
        assert!(entropy("Xq7#pL2!vR9@") > 3.5);
        assert!(is_placeholder("${DB_PASSWORD}"));
        assert!(is_placeholder("<your-token>"));
        assert!(!is_placeholder("Xq7pL2vR9wZk"));
    }
}
