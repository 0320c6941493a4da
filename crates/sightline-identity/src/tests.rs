//! The spoofing matrix: every way a caller might pick its own identity or tenant fails.

use std::net::IpAddr;

use base64::Engine as _;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use super::*;

const HS_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";
const PUBLIC_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/jwt-test-public.pem");
const PRIVATE_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/jwt-test-private.pem");
const JWKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/jwt-test.jwks.json");

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().expect("value"));
    }
    h
}

fn from(peer: &str, pairs: &[(&'static str, &str)]) -> (HeaderMap, Option<IpAddr>) {
    (headers(pairs), Some(peer.parse().expect("ip")))
}

fn resolve(auth: &Authenticator, call: &(HeaderMap, Option<IpAddr>)) -> Result<Resolved, Rejected> {
    auth.resolve(&Presented {
        headers: &call.0,
        peer: call.1,
    })
}

fn secret_key(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret).expect("secret")
}

fn hs256(claims: serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &secret_key(HS_SECRET.as_bytes()),
    )
    .expect("sign")
}

fn rs256(claims: serde_json::Value, kid: Option<&str>) -> String {
    let pem = std::fs::read(PRIVATE_PEM).expect("key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(&pem).expect("pem"),
    )
    .expect("sign")
}

fn jwt_config(hs: bool, rs: bool) -> IdentityConfig {
    // Every test that sets this variable sets the same value.
    std::env::set_var("SIGHTLINE_TEST_JWT_SECRET", HS_SECRET);
    IdentityConfig {
        order: vec![Source::Jwt],
        unknown: Unknown::Reject,
        jwt: Some(JwtConfig {
            hs256_secret_env: hs.then(|| "SIGHTLINE_TEST_JWT_SECRET".into()),
            rs256_public_key_file: rs.then(|| PUBLIC_PEM.into()),
            jwks_file: Some(JWKS.into()),
            issuer: Some("https://idp.example".into()),
            audience: vec!["sightline".into()],
            ..JwtConfig::default()
        }),
        ..IdentityConfig::default()
    }
}

fn good_claims() -> serde_json::Value {
    json!({"sub": "linus", "team": "kernel", "tenant": "osdl", "exp": now() + 600,
        "iss": "https://idp.example", "aud": "sightline"})
}

fn token_call(token: &str) -> (HeaderMap, Option<IpAddr>) {
    from(
        "192.0.2.7",
        &[("x-sightline-identity", &format!("Bearer {token}"))],
    )
}

fn rejection(auth: &Authenticator, token: &str) -> String {
    resolve(auth, &token_call(token))
        .expect_err("must be rejected")
        .to_string()
}

#[test]
fn valid_tokens_of_each_kind_resolve() {
    let auth = Authenticator::new(&jwt_config(true, true)).expect("config");
    let id = resolve(&auth, &token_call(&hs256(good_claims())))
        .expect("hs256")
        .identity;
    assert_eq!(
        id,
        Identity {
            tenant: Some("osdl".into()),
            user: "linus".into(),
            team: Some("kernel".into()),
            role: None,
        }
    );
    let by_pem = resolve(&auth, &token_call(&rs256(good_claims(), None))).expect("rs256");
    assert_eq!(by_pem.identity.user, "linus");
    let by_kid = resolve(&auth, &token_call(&rs256(good_claims(), Some("test-2026"))));
    assert_eq!(by_kid.expect("jwks").identity.user, "linus");
    // Within the leeway (30 s by default).
    let mut late = good_claims();
    late["exp"] = json!(now() - 10);
    assert!(resolve(&auth, &token_call(&hs256(late))).is_ok());
}

#[test]
fn every_forged_or_invalid_token_is_rejected() {
    let auth = Authenticator::new(&jwt_config(true, true)).expect("config");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = b64.encode(good_claims().to_string());

    // alg: none, with and without a signature.
    let none = format!("{}.{claims}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#));
    assert!(
        rejection(&auth, &none).contains("malformed"),
        "{}",
        rejection(&auth, &none)
    );
    let none_signed = format!("{none}c2ln");
    assert!(resolve(&auth, &token_call(&none_signed)).is_err());

    // HS256 signed with the RS256 public key as its secret (key confusion).
    let public = std::fs::read(PUBLIC_PEM).expect("pem");
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &good_claims(),
        &secret_key(&public),
    )
    .expect("sign");
    assert!(rejection(&auth, &confused).contains("signature"));
    let rs_only = Authenticator::new(&jwt_config(false, true)).expect("config");
    assert!(rejection(&rs_only, &confused).contains("algorithm not accepted"));
    assert!(rejection(&rs_only, &hs256(good_claims())).contains("algorithm not accepted"));

    // Another algorithm the keys were not configured for.
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &good_claims(),
        &secret_key(HS_SECRET.as_bytes()),
    )
    .expect("sign");
    assert!(rejection(&auth, &hs512).contains("algorithm not accepted"));

    // Forged signature, tampered claims.
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &good_claims(),
        &secret_key(b"a guessed secret of a decent length.."),
    )
    .expect("sign");
    assert!(rejection(&auth, &forged).contains("signature"));
    let good = rs256(good_claims(), None);
    let mut root = good_claims();
    root["sub"] = json!("root");
    let tampered = good.replace(
        good.split('.').nth(1).expect("claims"),
        &b64.encode(root.to_string()),
    );
    assert!(rejection(&auth, &tampered).contains("signature"));

    // Time, audience and issuer.
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good_claims();
        c[k] = v;
        hs256(c)
    };
    let without = |k: &str| {
        let mut c = good_claims();
        c.as_object_mut().expect("object").remove(k);
        hs256(c)
    };
    assert!(rejection(&auth, &with("exp", json!(now() - 3600))).contains("expired"));
    assert!(rejection(&auth, &with("nbf", json!(now() + 3600))).contains("not valid yet"));
    assert!(rejection(&auth, &with("aud", json!("another-service"))).contains("audience"));
    assert!(rejection(&auth, &with("iss", json!("https://evil.example"))).contains("issuer"));
    for claim in ["exp", "aud", "iss"] {
        assert!(
            rejection(&auth, &without(claim)).contains("required claim"),
            "{claim}"
        );
    }
    assert!(rejection(&auth, &without("sub")).contains("user claim"));
    assert!(rejection(&auth, "not-a-token").contains("malformed"));
    // A kid the JWKS does not hold falls back to the PEM key (here the same key pair)…
    let other_kid = rs256(good_claims(), Some("unknown"));
    assert!(resolve(&auth, &token_call(&other_kid)).is_ok());
    // …and without one it is refused as what it is.
    let jwks_only = Authenticator::new(&jwt_config(false, false)).expect("config");
    assert!(rejection(&jwks_only, &other_kid).contains("unknown key id"));
}

fn proxy_config(proxies: &[&str], secret: bool, untrusted: Untrusted) -> IdentityConfig {
    std::env::set_var(
        "SIGHTLINE_TEST_PROXY_SECRET",
        "proxy-shared-secret-0123456789",
    );
    let mut c = IdentityConfig {
        order: vec![Source::ApiKey, Source::Header],
        untrusted_headers: untrusted,
        headers: HeaderSource {
            trusted_proxies: proxies.iter().map(|s| s.to_string()).collect(),
            shared_secret_env: secret.then(|| "SIGHTLINE_TEST_PROXY_SECRET".into()),
            ..HeaderSource::default()
        },
        ..IdentityConfig::default()
    };
    c.api_keys.insert(
        key_hash("sk-ant-team-key"),
        KeyOwner {
            user: "ada".into(),
            team: Some("platform".into()),
            tenant: None,
            ..KeyOwner::default()
        },
    );
    c
}

fn spoofed(peer: &str, extra: &[(&'static str, &str)]) -> (HeaderMap, Option<IpAddr>) {
    let mut pairs: Vec<(&'static str, &str)> = vec![
        ("x-sightline-user", "mallory"),
        ("x-sightline-tenant", "lenient-tenant"),
    ];
    pairs.extend_from_slice(extra);
    from(peer, &pairs)
}

#[test]
fn identity_headers_are_off_by_default() {
    let auth = Authenticator::new(&IdentityConfig::default()).expect("config");
    let r = resolve(&auth, &spoofed("127.0.0.1", &[])).expect("anonymous");
    assert_eq!(r.identity.user, "anonymous");
    assert_eq!(
        r.identity.tenant, None,
        "the tenant falls back to the default"
    );
    assert!(r.ignored_headers, "counted");
}

#[test]
fn identity_headers_only_from_the_trusted_proxy() {
    let auth = Authenticator::new(&proxy_config(&["10.0.3.0/24"], false, Untrusted::Ignore))
        .expect("config");
    let trusted = resolve(&auth, &spoofed("10.0.3.9", &[])).expect("trusted");
    assert_eq!(
        (
            trusted.identity.user.as_str(),
            trusted.identity.tenant.as_deref()
        ),
        ("mallory", Some("lenient-tenant"))
    );
    assert!(!trusted.ignored_headers);
    let mapped = resolve(&auth, &spoofed("::ffff:10.0.3.9", &[])).expect("v4-mapped");
    assert_eq!(mapped.identity.user, "mallory");
    for outside in ["10.0.4.1", "192.0.2.7", "127.0.0.1", "::1"] {
        let r = resolve(&auth, &spoofed(outside, &[])).expect("ignored");
        assert_eq!(r.identity.user, "anonymous", "{outside}");
        assert!(r.ignored_headers, "{outside}");
    }
    // A forwarding header is not believed: only the direct peer counts.
    let r = resolve(
        &auth,
        &spoofed("192.0.2.7", &[("x-forwarded-for", "10.0.3.9")]),
    )
    .expect("ignored");
    assert_eq!(r.identity.user, "anonymous");

    let strict = Authenticator::new(&proxy_config(&["10.0.3.0/24"], false, Untrusted::Reject))
        .expect("config");
    assert_eq!(
        resolve(&strict, &spoofed("192.0.2.7", &[])),
        Err(Rejected::UntrustedHeaders)
    );
    assert!(resolve(&strict, &spoofed("10.0.3.9", &[])).is_ok());
}

#[test]
fn identity_headers_with_the_shared_secret() {
    let secret = "proxy-shared-secret-0123456789";
    let by_secret =
        Authenticator::new(&proxy_config(&[], true, Untrusted::Ignore)).expect("config");
    let ok = resolve(
        &by_secret,
        &spoofed("192.0.2.7", &[("x-sightline-proxy-secret", secret)]),
    );
    assert_eq!(ok.expect("trusted").identity.user, "mallory");
    for wrong in ["", "proxy-shared-secret-012345678", "guess"] {
        let r = resolve(
            &by_secret,
            &spoofed("192.0.2.7", &[("x-sightline-proxy-secret", wrong)]),
        );
        assert_eq!(r.expect("ignored").identity.user, "anonymous", "{wrong:?}");
    }
    // Both configured: both must hold.
    let both = Authenticator::new(&proxy_config(&["10.0.3.0/24"], true, Untrusted::Ignore))
        .expect("config");
    let wrong_place = resolve(
        &both,
        &spoofed("192.0.2.7", &[("x-sightline-proxy-secret", secret)]),
    );
    assert_eq!(wrong_place.expect("ignored").identity.user, "anonymous");
    let no_secret = resolve(&both, &spoofed("10.0.3.9", &[]));
    assert_eq!(no_secret.expect("ignored").identity.user, "anonymous");
}

#[test]
fn a_tenant_never_comes_from_an_unauthenticated_source() {
    let auth = Authenticator::new(&proxy_config(&["10.0.3.0/24"], false, Untrusted::Ignore))
        .expect("config");
    // A registered key whose owner names no tenant, with a tenant header from a client.
    let r = resolve(
        &auth,
        &spoofed("192.0.2.7", &[("x-api-key", "sk-ant-team-key")]),
    )
    .expect("by key");
    assert_eq!(
        (r.identity.user.as_str(), r.identity.tenant.as_deref()),
        ("ada", None),
        "the tenant header is ignored; shim.default_tenant applies"
    );
    // A token whose signature fails is refused, whatever tenant it claims.
    let jwt = Authenticator::new(&jwt_config(true, false)).expect("config");
    let mut claims = good_claims();
    claims["tenant"] = json!("lenient-tenant");
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &secret_key(b"not the secret, but long enough to sign"),
    )
    .expect("sign");
    assert!(resolve(&jwt, &token_call(&forged)).is_err());
}

#[test]
fn a_role_comes_from_the_token_claim_or_the_key_owner() {
    let auth = Authenticator::new(&jwt_config(true, false)).expect("config");
    let mut claims = good_claims();
    claims["role"] = json!("lead");
    let id = resolve(&auth, &token_call(&hs256(claims)))
        .expect("token")
        .identity;
    assert_eq!(id.role.as_deref(), Some("lead"));
    let plain = resolve(&auth, &token_call(&hs256(good_claims()))).expect("token");
    assert_eq!(plain.identity.role, None);

    let mut config = IdentityConfig::default();
    config.api_keys.insert(
        key_hash("sk-dash-admin"),
        KeyOwner {
            user: "ada".into(),
            tenant: Some("acme".into()),
            role: Some("admin".into()),
            ..KeyOwner::default()
        },
    );
    let auth = Authenticator::new(&config).expect("config");
    let call = from("192.0.2.7", &[("authorization", "Bearer sk-dash-admin")]);
    let id = resolve(&auth, &call).expect("key").identity;
    assert_eq!(
        (id.user.as_str(), id.role.as_deref()),
        ("ada", Some("admin"))
    );
}

#[test]
fn api_keys_and_unknown_callers() {
    let mut config = proxy_config(&["10.0.3.0/24"], false, Untrusted::Ignore);
    let by_bearer = from("192.0.2.7", &[("authorization", "Bearer sk-ant-team-key")]);
    let auth = Authenticator::new(&config).expect("config");
    assert_eq!(resolve(&auth, &by_bearer).expect("ok").identity.user, "ada");
    let unknown = from("192.0.2.7", &[("x-api-key", "sk-unknown")]);
    assert_eq!(
        resolve(&auth, &unknown).expect("ok").identity.user,
        "anonymous"
    );
    config.unknown = Unknown::Reject;
    let strict = Authenticator::new(&config).expect("config");
    assert_eq!(resolve(&strict, &unknown), Err(Rejected::Unknown));
}

#[test]
fn bad_identity_config_names_every_key() {
    std::env::set_var("SIGHTLINE_TEST_SHORT_SECRET", "short");
    let dir = std::env::temp_dir().join(format!("sightline-identity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let not_pem = dir.join("not-a-key.pem");
    std::fs::write(
        &not_pem,
        "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
    )
    .expect("write");
    let mut config = IdentityConfig {
        order: vec![Source::Header, Source::Jwt],
        jwt: Some(JwtConfig {
            hs256_secret_env: Some("SIGHTLINE_TEST_SHORT_SECRET".into()),
            rs256_public_key_file: Some(not_pem),
            jwks_file: Some(dir.join("missing.json")),
            header: "authorization".into(),
            leeway: std::time::Duration::from_secs(365 * 24 * 3600),
            ..JwtConfig::default()
        }),
        headers: HeaderSource {
            trusted_proxies: vec!["10.0.0.0/33".into()],
            user: "x-forwarded-user".into(),
            ..HeaderSource::default()
        },
        ..IdentityConfig::default()
    };
    config.api_keys.insert(
        "sk-ant-plaintext".into(),
        KeyOwner {
            user: "x".into(),
            team: None,
            tenant: None,
            ..KeyOwner::default()
        },
    );
    let own: Vec<String> = config.validate().into_iter().map(|p| p.key).collect();
    assert!(
        !own.iter().any(|k| k == "identity.jwt.header"),
        "a server that does not forward calls may read tokens from any header"
    );
    let mut problems = config.validate();
    problems.extend(config.forwarded_header_problems());
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "identity.api_keys.#1",
        "identity.jwt.hs256_secret_env",
        "identity.jwt.rs256_public_key_file",
        "identity.jwt.jwks_file",
        "identity.headers.trusted_proxies[0]",
        "identity.headers.user",
        "identity.jwt.header",
        "identity.jwt.leeway",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert!(
        problems.iter().all(|p| !p.to_string().contains("sk-ant")),
        "a plaintext key is never echoed"
    );
    let unguarded = IdentityConfig {
        order: vec![Source::Header],
        ..IdentityConfig::default()
    };
    assert_eq!(unguarded.validate()[0].key, "identity.headers");
    let _ = std::fs::remove_dir_all(dir);
}
