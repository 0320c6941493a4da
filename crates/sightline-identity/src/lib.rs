//! Who is calling: an API key map, a verified JWT, or headers set by a trusted auth proxy,
//! tried in the configured order. Pure, apart from reading key files once at start. Shared by
//! the shim (whose caller's tenant selects the policy) and the dashboard (whose caller's role
//! and tenant scope every query).
//!
//! Identity, and with it the tenant whose policy applies, comes only from an authenticated
//! source. Identity headers a client sets are ignored (and counted) unless the header source
//! is enabled and the call comes from a configured proxy address and/or carries the proxy's
//! shared secret. JWTs are verified by `jsonwebtoken`, each key pinned to its algorithm.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sightline_runtime::Problem;
use subtle::ConstantTimeEq;

/// A resolved caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Tenant; `shim.default_tenant` when the source does not name one.
    pub tenant: Option<String>,
    /// User.
    pub user: String,
    /// Team.
    pub team: Option<String>,
    /// Dashboard role (`user`, `lead`, `admin`, `super_admin`) as the source states it; the
    /// shim ignores it.
    pub role: Option<String>,
}

/// Where an identity may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `[identity.api_keys]`: the client's API key (`x-api-key` or `Authorization: Bearer`).
    ApiKey,
    /// `[identity.jwt]`: a signed JWT in `identity.jwt.header`.
    Jwt,
    /// `[identity.headers]`: headers set by a trusted auth proxy. Off unless listed in
    /// `identity.order`, and then trusted only as `[identity.headers]` says.
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

/// What to do with identity headers from a caller that is not a trusted proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Untrusted {
    /// Ignore them (counted, and logged without their values).
    Ignore,
    /// Answer 401.
    Reject,
}

/// One entry of the API key map.
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// What kind of use calls with this key are (descriptive only; never chooses a policy).
    #[serde(default)]
    pub capability: Option<String>,
    /// The workspace calls with this key belong to (descriptive only).
    #[serde(default)]
    pub workspace: Option<String>,
    /// Dashboard role of the key's owner (`user`, `lead`, `admin`, `super_admin`).
    #[serde(default)]
    pub role: Option<String>,
}

/// `[identity.jwt]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Header carrying the token (with or without `Bearer `).
    #[serde(default = "default_jwt_header")]
    pub header: String,
    /// Env var holding the HS256 secret (HS256 tokens verify against it, and only it).
    #[serde(default)]
    pub hs256_secret_env: Option<String>,
    /// PEM file with the RS256 public key (SPKI or PKCS#1).
    #[serde(default)]
    pub rs256_public_key_file: Option<PathBuf>,
    /// JWKS file (`{"keys": [...]}`) of RS256 keys, chosen by the token's `kid`.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Required `iss`, when set.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `aud` (one of these), when set.
    #[serde(default)]
    pub audience: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// Claim naming the user.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// Claim naming the team.
    #[serde(default = "default_team_claim")]
    pub team_claim: String,
    /// Claim naming the tenant.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Claim naming the dashboard role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
}

fn default_role_claim() -> String {
    "role".into()
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            header: default_jwt_header(),
            hs256_secret_env: None,
            rs256_public_key_file: None,
            jwks_file: None,
            issuer: None,
            audience: vec![],
            leeway: default_leeway(),
            user_claim: default_user_claim(),
            team_claim: default_team_claim(),
            role_claim: default_role_claim(),
            tenant_claim: default_tenant_claim(),
        }
    }
}

fn default_jwt_header() -> String {
    "x-sightline-identity".into()
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
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

/// `[identity.headers]`: the headers a trusted auth proxy sets, and how it is recognised.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSource {
    /// User header.
    #[serde(default = "default_user_header")]
    pub user: String,
    /// Team header.
    #[serde(default = "default_team_header")]
    pub team: String,
    /// Tenant header.
    #[serde(default = "default_tenant_header")]
    pub tenant: String,
    /// Addresses of the proxies (CIDR, e.g. `10.0.3.0/24`) whose identity headers are
    /// trusted.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Env var holding a secret the proxy sends in `shared_secret_header`.
    #[serde(default)]
    pub shared_secret_env: Option<String>,
    /// Header carrying the proxy's shared secret (removed before forwarding).
    #[serde(default = "default_secret_header")]
    pub shared_secret_header: String,
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
fn default_secret_header() -> String {
    "x-sightline-proxy-secret".into()
}

impl Default for HeaderSource {
    fn default() -> Self {
        Self {
            user: default_user_header(),
            team: default_team_header(),
            tenant: default_tenant_header(),
            trusted_proxies: vec![],
            shared_secret_env: None,
            shared_secret_header: default_secret_header(),
        }
    }
}

/// `[identity]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Sources, tried in this order. `header` is off unless listed.
    #[serde(default = "default_order")]
    pub order: Vec<Source>,
    /// Callers no source recognises.
    #[serde(default = "default_unknown")]
    pub unknown: Unknown,
    /// Identity headers from callers that are not a trusted proxy.
    #[serde(default = "default_untrusted")]
    pub untrusted_headers: Untrusted,
    /// Hex sha256 of an API key → its owner. Keys are never stored in clear.
    #[serde(default)]
    pub api_keys: BTreeMap<String, KeyOwner>,
    /// JWT verification.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Trusted proxy headers.
    #[serde(default)]
    pub headers: HeaderSource,
}

fn default_order() -> Vec<Source> {
    vec![Source::ApiKey, Source::Jwt]
}

fn default_unknown() -> Unknown {
    Unknown::Anonymous
}

fn default_untrusted() -> Untrusted {
    Untrusted::Ignore
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            order: default_order(),
            unknown: default_unknown(),
            untrusted_headers: default_untrusted(),
            api_keys: BTreeMap::new(),
            jwt: None,
            headers: HeaderSource::default(),
        }
    }
}

impl IdentityConfig {
    /// Problems with this section: everything [`Authenticator::new`] would refuse.
    pub fn validate(&self) -> Vec<Problem> {
        match Authenticator::new(self) {
            Ok(_) => vec![],
            Err(problems) => problems,
        }
    }

    /// Problems for a server that forwards calls (the shim): every identity header must be
    /// one it removes before forwarding.
    pub fn forwarded_header_problems(&self) -> Vec<Problem> {
        let mut problems = vec![];
        // The shim removes `x-sightline-*` headers before forwarding: identities, tokens and the
        // proxy's secret never reach the provider.
        let h = &self.headers;
        let mut names = vec![
            ("identity.headers.user", &h.user),
            ("identity.headers.team", &h.team),
            ("identity.headers.tenant", &h.tenant),
            (
                "identity.headers.shared_secret_header",
                &h.shared_secret_header,
            ),
        ];
        if let Some(jwt) = &self.jwt {
            names.push(("identity.jwt.header", &jwt.header));
        }
        for (key, name) in names {
            if !name.to_ascii_lowercase().starts_with("x-sightline-") {
                problems.push(Problem::new(
                    key,
                    format!(
                        "'{name}' must start with `x-sightline-`: the shim removes those headers \
                     before forwarding, so identities and secrets never reach the provider"
                    ),
                ));
            }
        }
        problems
    }
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// No source recognised the caller and `identity.unknown = "reject"`.
    #[error("unknown caller: send a registered API key or a valid identity token")]
    Unknown,
    /// An identity token was sent and does not verify (never ignored).
    #[error("identity token rejected: {0}")]
    Token(&'static str),
    /// Identity headers from a caller that is not a trusted proxy, and
    /// `identity.untrusted_headers = "reject"`.
    #[error("identity headers are accepted only from the configured auth proxy")]
    UntrustedHeaders,
}

/// What a call says about its caller, as the authenticator sees it.
pub struct Presented<'a> {
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// The address it came from (the direct peer; forwarding headers are not believed).
    pub peer: Option<IpAddr>,
}

/// The outcome of [`Authenticator::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The caller.
    pub identity: Identity,
    /// The call carried identity headers that were not trusted (and were ignored).
    pub ignored_headers: bool,
}

/// `[identity]`, with every key loaded and parsed: built once at start.
pub struct Authenticator {
    order: Vec<Source>,
    unknown: Unknown,
    untrusted: Untrusted,
    api_keys: HashMap<String, KeyOwner>,
    jwt: Option<JwtVerifier>,
    headers: HeaderSource,
    proxies: Vec<ipnet::IpNet>,
    proxy_secret: Option<[u8; 32]>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("order", &self.order)
            .finish_non_exhaustive()
    }
}

struct JwtVerifier {
    config: JwtConfig,
    hs256: Option<(DecodingKey, Validation)>,
    rs256: Option<(DecodingKey, Validation)>,
    /// JWKS keys by `kid`.
    jwks: HashMap<String, DecodingKey>,
    jwks_validation: Validation,
}

impl Authenticator {
    /// Loads every key `config` names; every problem is reported, each with its key.
    pub fn new(config: &IdentityConfig) -> Result<Self, Vec<Problem>> {
        let mut p = vec![];
        for (i, hash) in config.api_keys.keys().enumerate() {
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                // Never echo the entry: it may be a plaintext key pasted by mistake.
                p.push(Problem::new(
                    format!("identity.api_keys.#{}", i + 1),
                    "keys are the hex sha256 of the API key (`printf %s \"$KEY\" | sha256sum`), never the key itself",
                ));
            }
        }
        let jwt = config
            .jwt
            .as_ref()
            .and_then(|jwt| JwtVerifier::new(jwt, &mut p));
        let mut proxies = vec![];
        for (i, cidr) in config.headers.trusted_proxies.iter().enumerate() {
            match cidr
                .parse::<ipnet::IpNet>()
                .or_else(|_| cidr.parse::<IpAddr>().map(ipnet::IpNet::from))
            {
                Ok(net) => proxies.push(net),
                Err(_) => p.push(Problem::new(
                    format!("identity.headers.trusted_proxies[{i}]"),
                    format!("'{cidr}' is not an address or CIDR block (e.g. 10.0.3.0/24)"),
                )),
            }
        }
        let proxy_secret = config.headers.shared_secret_env.as_ref().and_then(|env| {
            match std::env::var(env) {
                Ok(v) if v.len() >= 16 => Some(Sha256::digest(v.as_bytes()).into()),
                Ok(_) => {
                    p.push(Problem::new(
                        "identity.headers.shared_secret_env",
                        format!("env var {env} holds fewer than 16 characters; use a long random secret"),
                    ));
                    None
                }
                Err(_) => {
                    p.push(Problem::new(
                        "identity.headers.shared_secret_env",
                        format!("env var {env} is not set"),
                    ));
                    None
                }
            }
        });
        if config.order.contains(&Source::Header)
            && config.headers.trusted_proxies.is_empty()
            && config.headers.shared_secret_env.is_none()
        {
            p.push(Problem::new(
                "identity.headers",
                "the header source is enabled in identity.order but nothing says which proxy to trust: \
                 set trusted_proxies (CIDR list) and/or shared_secret_env",
            ));
        }
        if !p.is_empty() {
            return Err(p);
        }
        Ok(Self {
            order: config.order.clone(),
            unknown: config.unknown,
            untrusted: config.untrusted_headers,
            api_keys: config
                .api_keys
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            jwt,
            headers: config.headers.clone(),
            proxies,
            proxy_secret,
        })
    }

    /// Resolves the caller, or says why the call is refused.
    pub fn resolve(&self, call: &Presented<'_>) -> Result<Resolved, Rejected> {
        let h = &self.headers;
        let sent_headers = [&h.user, &h.team, &h.tenant]
            .iter()
            .any(|name| call.headers.contains_key(name.as_str()));
        let trusted = self.order.contains(&Source::Header) && self.trusted_proxy(call);
        if sent_headers && !trusted && self.untrusted == Untrusted::Reject {
            return Err(Rejected::UntrustedHeaders);
        }
        let ignored_headers = sent_headers && !trusted;
        for source in &self.order {
            let found = match source {
                Source::ApiKey => self.by_api_key(call.headers),
                Source::Jwt => match &self.jwt {
                    Some(jwt) => jwt.resolve(call.headers)?,
                    None => None,
                },
                Source::Header if trusted => header(call.headers, &h.user).map(|user| Identity {
                    user: user.to_string(),
                    team: header(call.headers, &h.team).map(str::to_string),
                    tenant: header(call.headers, &h.tenant).map(str::to_string),
                    role: None,
                }),
                Source::Header => None,
            };
            if let Some(identity) = found {
                return Ok(Resolved {
                    identity,
                    ignored_headers,
                });
            }
        }
        match self.unknown {
            Unknown::Anonymous => Ok(Resolved {
                identity: Identity {
                    tenant: None,
                    user: "anonymous".into(),
                    team: None,
                    role: None,
                },
                ignored_headers,
            }),
            Unknown::Reject => Err(Rejected::Unknown),
        }
    }

    /// Whether the call comes from the auth proxy: from one of its addresses (when listed)
    /// and with its shared secret (when set).
    fn trusted_proxy(&self, call: &Presented<'_>) -> bool {
        let by_address = self.proxies.is_empty()
            || call.peer.is_some_and(|ip| {
                let ip = canonical(ip);
                self.proxies.iter().any(|net| net.contains(&ip))
            });
        let by_secret = self.proxy_secret.is_none_or(|expected| {
            header(call.headers, &self.headers.shared_secret_header).is_some_and(|sent| {
                let sent: [u8; 32] = Sha256::digest(sent.as_bytes()).into();
                bool::from(sent.ct_eq(&expected))
            })
        });
        by_address && by_secret
    }

    /// The API key map's entry for the call's credential, if it has one.
    pub fn key_owner(&self, headers: &HeaderMap) -> Option<&KeyOwner> {
        if self.api_keys.is_empty() {
            return None;
        }
        self.api_keys.get(&key_hash(credential(headers)?))
    }

    fn by_api_key(&self, headers: &HeaderMap) -> Option<Identity> {
        let owner = self.key_owner(headers)?;
        Some(Identity {
            tenant: owner.tenant.clone(),
            user: owner.user.clone(),
            team: owner.team.clone(),
            role: owner.role.clone(),
        })
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl JwtVerifier {
    fn new(config: &JwtConfig, p: &mut Vec<Problem>) -> Option<Self> {
        let validation = |alg: Algorithm| {
            let mut v = Validation::new(alg);
            v.leeway = config.leeway.as_secs();
            v.validate_exp = true;
            v.validate_nbf = true;
            let mut required = vec!["exp"];
            if let Some(iss) = &config.issuer {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            if config.audience.is_empty() {
                v.validate_aud = false;
            } else {
                v.set_audience(&config.audience);
                required.push("aud");
            }
            v.set_required_spec_claims(&required);
            v
        };
        let before = p.len();
        if config.leeway > MAX_LEEWAY {
            p.push(Problem::new(
                "identity.jwt.leeway",
                format!(
                    "{:?} is more clock skew than any clock has; at most {MAX_LEEWAY:?}",
                    config.leeway
                ),
            ));
        }
        let hs256 = config.hs256_secret_env.as_ref().and_then(|env| {
            let secret = std::env::var(env).unwrap_or_default();
            if secret.len() < 32 {
                p.push(Problem::new(
                    "identity.jwt.hs256_secret_env",
                    if secret.is_empty() {
                        format!("env var {env} is not set")
                    } else {
                        format!("env var {env} holds fewer than 32 bytes; HS256 needs a long random secret")
                    },
                ));
                return None;
            }
            match DecodingKey::from_secret(secret.as_bytes()) {
                Ok(key) => Some((key, validation(Algorithm::HS256))),
                Err(e) => {
                    p.push(Problem::new("identity.jwt.hs256_secret_env", e.to_string()));
                    None
                }
            }
        });
        let rs256 = config.rs256_public_key_file.as_ref().and_then(|file| {
            let loaded = std::fs::read(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))
                .and_then(|pem| {
                    DecodingKey::from_rsa_pem(&pem).map_err(|e| {
                        format!("{} is not an RSA public key in PEM: {e}", file.display())
                    })
                });
            match loaded {
                Ok(key) => Some((key, validation(Algorithm::RS256))),
                Err(e) => {
                    p.push(Problem::new("identity.jwt.rs256_public_key_file", e));
                    None
                }
            }
        });
        let mut jwks = HashMap::new();
        if let Some(file) = &config.jwks_file {
            match load_jwks(file) {
                Ok(keys) => jwks = keys,
                Err(e) => p.push(Problem::new("identity.jwt.jwks_file", e)),
            }
        }
        if config.hs256_secret_env.is_none()
            && config.rs256_public_key_file.is_none()
            && config.jwks_file.is_none()
        {
            p.push(Problem::new(
                "identity.jwt",
                "set hs256_secret_env, rs256_public_key_file and/or jwks_file",
            ));
        }
        (p.len() == before).then(|| Self {
            config: config.clone(),
            hs256,
            rs256,
            jwks,
            jwks_validation: validation(Algorithm::RS256),
        })
    }

    /// `Ok(None)`: no token. `Err`: a token that does not verify (rejected, never ignored).
    fn resolve(&self, headers: &HeaderMap) -> Result<Option<Identity>, Rejected> {
        let Some(raw) = header(headers, &self.config.header) else {
            return Ok(None);
        };
        let token = raw.strip_prefix("Bearer ").unwrap_or(raw);
        // `alg: none` and unknown algorithms do not even parse as a header.
        let head = jsonwebtoken::decode_header(token)
            .map_err(|_| Rejected::Token("malformed token or unsupported algorithm"))?;
        let (key, validation) = match head.alg {
            Algorithm::HS256 => self.hs256.as_ref().map(|(k, v)| (k, v)),
            Algorithm::RS256 => match head.kid.as_deref().and_then(|kid| self.jwks.get(kid)) {
                Some(key) => Some((key, &self.jwks_validation)),
                None => self.rs256.as_ref().map(|(k, v)| (k, v)),
            },
            _ => None,
        }
        .ok_or(
            match (head.alg, head.kid.is_some() && !self.jwks.is_empty()) {
                (Algorithm::RS256, true) => Rejected::Token("unknown key id (kid)"),
                _ => Rejected::Token("algorithm not accepted"),
            },
        )?;
        let claims = decode(token, key, validation)?;
        let claim = |name: &str| {
            claims
                .get(name)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let user = claim(&self.config.user_claim).ok_or(Rejected::Token("no user claim"))?;
        Ok(Some(Identity {
            tenant: claim(&self.config.tenant_claim),
            user,
            team: claim(&self.config.team_claim),
            role: claim(&self.config.role_claim),
        }))
    }
}

type Claims = serde_json::Map<String, serde_json::Value>;

/// The most clock skew `identity.jwt.leeway` may allow: more would accept expired tokens.
const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Verifies `token` with `key` as `validation` says (signature, algorithm, `exp`/`nbf` with
/// leeway against the system clock, `iss`/`aud` when required).
fn decode(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Claims, Rejected> {
    jsonwebtoken::decode::<Claims>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| {
            Rejected::Token(match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::ImmatureSignature => "not valid yet",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidSignature => "signature does not verify",
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => {
                    "algorithm not accepted"
                }
                ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                _ => "malformed token",
            })
        })
}

fn load_jwks(file: &std::path::Path) -> Result<HashMap<String, DecodingKey>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a JWKS document: {e}", file.display()))?;
    let mut keys = HashMap::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let kid = jwk
            .common
            .key_id
            .clone()
            .ok_or_else(|| format!("{}: key #{} has no kid", file.display(), i + 1))?;
        use jsonwebtoken::jwk::{AlgorithmParameters, KeyAlgorithm, PublicKeyUse};
        let rs256 = matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
            && matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256))
            && !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption));
        if !rs256 {
            return Err(format!(
                "{}: key '{kid}' is not an RS256 signing key (only those are accepted from a JWKS)",
                file.display()
            ));
        }
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| format!("{}: key '{kid}': {e}", file.display()))?;
        keys.insert(kid, key);
    }
    Ok(keys)
}

/// The caller's API credential: `x-api-key`, else a bearer token in `Authorization`.
pub fn credential(headers: &HeaderMap) -> Option<&str> {
    header(headers, "x-api-key")
        .or_else(|| header(headers, "authorization").and_then(|a| a.strip_prefix("Bearer ")))
}

/// The hex sha256 of an API key, as stored in `identity.api_keys`.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A header's value, trimmed; `None` when absent, empty or not text.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests;
