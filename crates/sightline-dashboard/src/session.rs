//! Browser sign-in: `POST /login` takes an API key (or a token) once, checks it like any
//! request, and sets a session cookie: a JWT signed by this server (HS256, `jsonwebtoken`)
//! holding the principal, `HttpOnly`, `SameSite=Lax` (a link from Slack opens the page; a
//! cross-site POST carries no cookie, and the guard refuses those a browser marks
//! cross-site), `Secure` unless configured off, expiring after `[dashboard] session_ttl`.
//! The signing key is drawn at start, so a restart signs everyone out, and each replica
//! signs its own; a role changed in the config, or a revoked key, applies at the next
//! sign-in.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Role};

/// The cookie's name.
pub const COOKIE: &str = "sightline_session";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tenant: Option<String>,
    team: Option<String>,
    role: Role,
    exp: u64,
}

/// Issues and checks session cookies.
pub struct Sessions {
    encode: EncodingKey,
    decode: DecodingKey,
    validation: Validation,
    ttl: Duration,
    secure: bool,
}

impl Sessions {
    /// Sessions lasting `ttl`, with a key drawn now.
    pub fn new(ttl: Duration, secure: bool) -> Result<Self, jsonwebtoken::errors::Error> {
        let secret: [u8; 32] = rand::random();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_aud = false;
        Ok(Self {
            encode: EncodingKey::from_secret(&secret)?,
            decode: DecodingKey::from_secret(&secret)?,
            validation,
            ttl,
            secure,
        })
    }

    /// The `Set-Cookie` value signing `who` in from `now_s` (seconds since the epoch).
    pub fn issue(&self, who: &Principal, now_s: u64) -> Option<String> {
        let claims = Claims {
            sub: who.user.clone(),
            tenant: who.tenant.clone(),
            team: who.team.clone(),
            role: who.role,
            exp: now_s + self.ttl.as_secs(),
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encode).ok()?;
        Some(format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            self.ttl.as_secs(),
            if self.secure { "; Secure" } else { "" }
        ))
    }

    /// The `Set-Cookie` value that signs out.
    pub fn clear(&self) -> String {
        format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The principal a request's session cookie carries, if it has a valid one.
    pub fn principal(&self, cookie_header: &str) -> Option<Principal> {
        let token = cookie_header
            .split(';')
            .map(str::trim)
            .find_map(|c| c.strip_prefix(COOKIE)?.strip_prefix('='))?;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decode, &self.validation)
            .ok()?
            .claims;
        Some(Principal {
            user: claims.sub,
            tenant: claims.tenant,
            team: claims.team,
            role: claims.role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_round_trips_and_forgeries_and_expired_ones_do_not() {
        let sessions = Sessions::new(Duration::from_secs(3600), true).expect("sessions");
        let who = Principal {
            user: "jordan".into(),
            tenant: Some("acme".into()),
            team: None,
            role: Role::Admin,
        };
        let now = crate::now_ms() as u64 / 1000;
        let cookie = sessions.issue(&who, now).expect("cookie");
        assert!(cookie.contains("HttpOnly; SameSite=Lax") && cookie.ends_with("Secure"));
        let value = cookie.split(';').next().expect("pair");
        assert_eq!(
            sessions.principal(&format!("theme=dark; {value}")),
            Some(who.clone())
        );
        let other = Sessions::new(Duration::from_secs(3600), true).expect("sessions");
        assert_eq!(other.principal(value), None, "another server's key");
        let expired = sessions.issue(&who, now - 7200).expect("cookie");
        assert_eq!(
            sessions.principal(expired.split(';').next().expect("pair")),
            None
        );
        assert_eq!(sessions.principal("sightline_session=garbage"), None);
    }
}
