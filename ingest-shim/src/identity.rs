//! Who is calling: an API key map, a JWT, or headers set by a trusted auth proxy, tried in the
//! configured order. Pure.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sightline_runtime::Problem;

/// A resolved caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Tenant; `shim.default_tenant` when the source does not name one.
    pub tenant: Option<String>,
    /// User.
    pub user: String,
    /// Team.
    pub team: Option<String>,
}

/// Where an identity may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `[identity.api_keys]`: the client's API key (`x-api-key` or `Authorization: Bearer`).
    ApiKey,
    /// `[identity.jwt]`: an HS256 JWT in `identity.jwt.header`.
    Jwt,
    /// `[identity.headers]`: headers set by a trusted auth proxy.
    Header,
}

/// What to do with a caller no source recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unknown {
    /// Attribute the call to `anonymous`.
    Anonymous,
    /// Answer 401.
    Reject,
}

/// One entry of the API key map.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyOwner {
    /// User.
    pub user: String,
    /// Team.
    #[serde(default)]
    pub team: Option<String>,
    /// Tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// `[identity.jwt]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Header carrying the token (with or without `Bearer `).
    #[serde(default = "default_jwt_header")]
    pub header: String,
    /// Env var holding the HS256 secret.
    #[serde(default)]
    pub hs256_secret_env: Option<String>,
    /// PEM file with the RS256 public key (SPKI, `-----BEGIN PUBLIC KEY-----`).
    #[serde(default)]
    pub rs256_public_key_file: Option<std::path::PathBuf>,
    /// Claim naming the user.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// Claim naming the team.
    #[serde(default = "default_team_claim")]
    pub team_claim: String,
    /// Claim naming the tenant.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
}

fn default_jwt_header() -> String {
    "x-sightline-identity".into()
}
fn default_user_claim() -> String {
    "sub".into()
}
fn default_team_claim() -> String {
    "team".into()
}
fn default_tenant_claim() -> String {
    "tenant".into()
}

/// `[identity.headers]`: names of the headers a trusted auth proxy sets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderNames {
    /// User header.
    #[serde(default = "default_user_header")]
    pub user: String,
    /// Team header.
    #[serde(default = "default_team_header")]
    pub team: String,
    /// Tenant header.
    #[serde(default = "default_tenant_header")]
    pub tenant: String,
}

fn default_user_header() -> String {
    "x-sightline-user".into()
}
fn default_team_header() -> String {
    "x-sightline-team".into()
}
fn default_tenant_header() -> String {
    "x-sightline-tenant".into()
}

impl Default for HeaderNames {
    fn default() -> Self {
        Self {
            user: default_user_header(),
            team: default_team_header(),
            tenant: default_tenant_header(),
        }
    }
}

/// `[identity]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Sources, tried in this order.
    #[serde(default = "default_order")]
    pub order: Vec<Source>,
    /// Callers no source recognises.
    #[serde(default = "default_unknown")]
    pub unknown: Unknown,
    /// Hex sha256 of an API key → its owner. Keys are never stored in clear.
    #[serde(default)]
    pub api_keys: BTreeMap<String, KeyOwner>,
    /// JWT verification.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Trusted headers.
    #[serde(default)]
    pub headers: HeaderNames,
}

fn default_order() -> Vec<Source> {
    vec![Source::ApiKey, Source::Jwt, Source::Header]
}

fn default_unknown() -> Unknown {
    Unknown::Anonymous
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            order: default_order(),
            unknown: default_unknown(),
            api_keys: BTreeMap::new(),
            jwt: None,
            headers: HeaderNames::default(),
        }
    }
}

impl IdentityConfig {
    /// Problems with this section.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = vec![];
        for (i, hash) in self.api_keys.keys().enumerate() {
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                // Never echo the entry: it may be a plaintext key pasted by mistake.
                p.push(Problem::new(
                    format!("identity.api_keys.#{}", i + 1),
                    "keys are the hex sha256 of the API key (`printf %s \"$KEY\" | sha256sum`), never the key itself",
                ));
            }
        }
        if let Some(jwt) = &self.jwt {
            if let Some(env) = &jwt.hs256_secret_env {
                if std::env::var(env).map_or(true, |v| v.is_empty()) {
                    p.push(Problem::new(
                        "identity.jwt.hs256_secret_env",
                        format!("env var {env} is not set"),
                    ));
                }
            }
            if let Some(file) = &jwt.rs256_public_key_file {
                if let Err(e) = rs256_key(file) {
                    p.push(Problem::new("identity.jwt.rs256_public_key_file", e));
                }
            }
            if jwt.hs256_secret_env.is_none() && jwt.rs256_public_key_file.is_none() {
                p.push(Problem::new(
                    "identity.jwt",
                    "set hs256_secret_env and/or rs256_public_key_file",
                ));
            }
        }
        p
    }
}

/// The hex sha256 of an API key, as stored in `identity.api_keys`.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Resolves the caller, or explains why the call is rejected.
pub fn resolve(
    config: &IdentityConfig,
    headers: &HeaderMap,
    now_secs: i64,
) -> Result<Identity, String> {
    for source in &config.order {
        let found = match source {
            Source::ApiKey => from_api_key(config, headers),
            Source::Jwt => match &config.jwt {
                Some(jwt) => from_jwt(jwt, headers, now_secs)?,
                None => None,
            },
            Source::Header => header(headers, &config.headers.user).map(|user| Identity {
                user: user.to_string(),
                team: header(headers, &config.headers.team).map(str::to_string),
                tenant: header(headers, &config.headers.tenant).map(str::to_string),
            }),
        };
        if let Some(identity) = found {
            return Ok(identity);
        }
    }
    match config.unknown {
        Unknown::Anonymous => Ok(Identity {
            tenant: None,
            user: "anonymous".into(),
            team: None,
        }),
        Unknown::Reject => {
            Err("unknown caller: send a registered API key or a valid identity token".into())
        }
    }
}

fn from_api_key(config: &IdentityConfig, headers: &HeaderMap) -> Option<Identity> {
    if config.api_keys.is_empty() {
        return None;
    }
    let key = header(headers, "x-api-key")
        .or_else(|| header(headers, "authorization").and_then(|a| a.strip_prefix("Bearer ")))?;
    let owner = config.api_keys.get(&key_hash(key))?;
    Some(Identity {
        tenant: owner.tenant.clone(),
        user: owner.user.clone(),
        team: owner.team.clone(),
    })
}

/// `Ok(None)`: no token. `Err`: a token that does not verify (rejected, never ignored).
fn from_jwt(
    jwt: &JwtConfig,
    headers: &HeaderMap,
    now_secs: i64,
) -> Result<Option<Identity>, String> {
    let Some(raw) = header(headers, &jwt.header) else {
        return Ok(None);
    };
    let token = raw.strip_prefix("Bearer ").unwrap_or(raw);
    let keys = JwtKeys {
        hs256: jwt
            .hs256_secret_env
            .as_ref()
            .and_then(|env| std::env::var(env).ok())
            .map(String::into_bytes),
        rs256: match &jwt.rs256_public_key_file {
            Some(file) => Some(rs256_key(file)?),
            None => None,
        },
    };
    let claims = verify(token, &keys, now_secs)?;
    let claim = |name: &str| {
        claims
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let user = claim(&jwt.user_claim)
        .ok_or_else(|| format!("identity token has no '{}' claim", jwt.user_claim))?;
    Ok(Some(Identity {
        tenant: claim(&jwt.tenant_claim),
        user,
        team: claim(&jwt.team_claim),
    }))
}

/// Keys a token may be signed with.
#[derive(Default)]
pub struct JwtKeys {
    /// HS256 shared secret.
    pub hs256: Option<Vec<u8>>,
    /// RS256 public key.
    pub rs256: Option<rsa::RsaPublicKey>,
}

/// Reads an RS256 public key (PEM, SPKI).
pub fn rs256_key(path: &std::path::Path) -> Result<rsa::RsaPublicKey, String> {
    use rsa::pkcs8::DecodePublicKey;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    rsa::RsaPublicKey::from_public_key_pem(&pem)
        .map_err(|e| format!("{} is not a PEM public key: {e}", path.display()))
}

/// Verifies a JWT signed with HS256 or RS256 (whichever key is configured for its `alg`) and
/// its `exp`/`nbf`; returns its claims.
pub fn verify(
    token: &str,
    keys: &JwtKeys,
    now_secs: i64,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("identity token is not a JWT".into());
    };
    let header: serde_json::Value = b64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("identity token header is not base64url JSON")?;
    let signature = b64
        .decode(s)
        .map_err(|_| "identity token signature is not base64url")?;
    let signed = format!("{h}.{p}");
    match (header.get("alg").and_then(serde_json::Value::as_str), keys) {
        (
            Some("HS256"),
            JwtKeys {
                hs256: Some(secret),
                ..
            },
        ) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| e.to_string())?;
            mac.update(signed.as_bytes());
            mac.verify_slice(&signature)
                .map_err(|_| "identity token signature does not verify")?;
        }
        (
            Some("RS256"),
            JwtKeys {
                rs256: Some(key), ..
            },
        ) => {
            use rsa::signature::Verifier;
            let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone());
            let sig = rsa::pkcs1v15::Signature::try_from(signature.as_slice())
                .map_err(|_| "identity token signature is malformed")?;
            verifier
                .verify(signed.as_bytes(), &sig)
                .map_err(|_| "identity token signature does not verify")?;
        }
        (alg, _) => {
            return Err(format!(
                "identity token algorithm {alg:?} has no configured key (HS256 or RS256)"
            ))
        }
    }
    let claims: serde_json::Map<String, serde_json::Value> = b64
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("identity token claims are not base64url JSON")?;
    if claims
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .is_some_and(|exp| exp < now_secs)
    {
        return Err("identity token has expired".into());
    }
    if claims
        .get("nbf")
        .and_then(serde_json::Value::as_i64)
        .is_some_and(|nbf| nbf > now_secs)
    {
        return Err("identity token is not valid yet".into());
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(claims: serde_json::Value, secret: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let h = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let p = b64.encode(claims.to_string());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
        mac.update(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", b64.encode(mac.finalize().into_bytes()))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("value"));
        }
        h
    }

    fn config() -> IdentityConfig {
        let mut c = IdentityConfig::default();
        c.api_keys.insert(
            key_hash("sk-ant-team-key"),
            KeyOwner {
                user: "ada".into(),
                team: Some("platform".into()),
                tenant: Some("acme".into()),
            },
        );
        c
    }

    #[test]
    fn sources_in_order() {
        let c = config();
        let by_key = resolve(
            &c,
            &headers(&[
                ("x-api-key", "sk-ant-team-key"),
                ("x-sightline-user", "mallory"),
            ]),
            0,
        )
        .expect("ok");
        assert_eq!(by_key.user, "ada", "the API key outranks a header");
        assert_eq!(by_key.tenant.as_deref(), Some("acme"));
        let by_bearer = resolve(
            &c,
            &headers(&[("authorization", "Bearer sk-ant-team-key")]),
            0,
        )
        .expect("ok");
        assert_eq!(by_bearer.user, "ada");
        let by_header = resolve(
            &c,
            &headers(&[
                ("x-api-key", "unknown"),
                ("x-sightline-user", "grace"),
                ("x-sightline-team", "data"),
            ]),
            0,
        )
        .expect("ok");
        assert_eq!(
            (by_header.user.as_str(), by_header.team.as_deref()),
            ("grace", Some("data"))
        );
        assert_eq!(resolve(&c, &headers(&[]), 0).expect("ok").user, "anonymous");
        let strict = IdentityConfig {
            unknown: Unknown::Reject,
            ..config()
        };
        assert!(resolve(&strict, &headers(&[]), 0).is_err());
    }

    #[test]
    fn jwt_claims_and_rejections() {
        std::env::set_var("SIGHTLINE_TEST_JWT_SECRET", "s3cret");
        let c = IdentityConfig {
            order: vec![Source::Jwt],
            unknown: Unknown::Reject,
            jwt: Some(JwtConfig {
                header: default_jwt_header(),
                hs256_secret_env: Some("SIGHTLINE_TEST_JWT_SECRET".into()),
                rs256_public_key_file: Some(
                    concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/jwt-test-public.pem").into(),
                ),
                user_claim: "sub".into(),
                team_claim: "team".into(),
                tenant_claim: "tenant".into(),
            }),
            ..IdentityConfig::default()
        };
        let good = sign(
            serde_json::json!({"sub": "linus", "team": "kernel", "tenant": "osdl", "exp": 2000}),
            b"s3cret",
        );
        let id = resolve(
            &c,
            &headers(&[("x-sightline-identity", &format!("Bearer {good}"))]),
            1000,
        )
        .expect("valid");
        assert_eq!(
            id,
            Identity {
                tenant: Some("osdl".into()),
                user: "linus".into(),
                team: Some("kernel".into())
            }
        );
        assert!(
            resolve(&c, &headers(&[("x-sightline-identity", &good)]), 3000)
                .expect_err("expired")
                .contains("expired")
        );
        let forged = sign(serde_json::json!({"sub": "root"}), b"guess");
        assert!(
            resolve(&c, &headers(&[("x-sightline-identity", &forged)]), 0)
                .expect_err("forged")
                .contains("signature")
        );
        assert!(resolve(&c, &headers(&[("x-sightline-identity", "a.b")]), 0).is_err());

        // RS256, signed with the test key pair in testdata/.
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::signature::{SignatureEncoding, Signer};
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/jwt-test-private.pem"
        ))
        .expect("key");
        let signing = rsa::pkcs1v15::SigningKey::<Sha256>::new(
            rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("pkcs8"),
        );
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = b64.encode(br#"{"sub":"grace","tenant":"acme"}"#);
        let signed = format!("{}.{claims}", b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#));
        let token = format!(
            "{signed}.{}",
            b64.encode(signing.sign(signed.as_bytes()).to_bytes())
        );
        let id = resolve(&c, &headers(&[("x-sightline-identity", &token)]), 0).expect("rs256");
        assert_eq!(
            (id.user.as_str(), id.tenant.as_deref()),
            ("grace", Some("acme"))
        );
        let tampered = token.replace(&claims, &b64.encode(br#"{"sub":"root","tenant":"acme"}"#));
        assert!(resolve(&c, &headers(&[("x-sightline-identity", &tampered)]), 0).is_err());
    }

    #[test]
    fn plaintext_keys_in_config_are_refused() {
        let mut c = IdentityConfig::default();
        c.api_keys.insert(
            "sk-ant-plaintext".into(),
            KeyOwner {
                user: "x".into(),
                team: None,
                tenant: None,
            },
        );
        assert!(c.validate()[0].message.contains("sha256"));
        assert!(
            !c.validate()[0].to_string().contains("sk-ant"),
            "the key is never echoed"
        );
    }
}
