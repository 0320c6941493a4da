//! Who is asking, and what they may see: the caller is resolved by the shared
//! [`sightline_identity::Authenticator`] (API keys, verified JWTs), and their role and tenant
//! become a [`Scope`](crate::scope::Scope) that every query is filtered by on the server.

use std::fmt;

use serde::{Deserialize, Serialize};
use sightline_identity::Identity;

/// What a signed-in person may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Their own calls, conversations and incidents.
    User,
    /// Their team's.
    Lead,
    /// Their tenant's, and its access audit log.
    Admin,
    /// Every tenant's.
    SuperAdmin,
}

impl Role {
    /// The role a source states (`user` when it states none).
    pub fn parse(stated: Option<&str>) -> Result<Self, Denied> {
        match stated.unwrap_or("user") {
            "user" => Ok(Self::User),
            "lead" => Ok(Self::Lead),
            "admin" => Ok(Self::Admin),
            "super_admin" => Ok(Self::SuperAdmin),
            _ => Err(Denied::Unauthenticated(
                "unknown role: use user, lead, admin or super_admin",
            )),
        }
    }

    /// Its name in config, claims and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Lead => "lead",
            Self::Admin => "admin",
            Self::SuperAdmin => "super_admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// User.
    pub user: String,
    /// Tenant (every role but super admin has one).
    pub tenant: Option<String>,
    /// Team (a lead has one).
    pub team: Option<String>,
    /// Role.
    pub role: Role,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No valid credential: 401.
    #[error("sign in required: {0}")]
    Unauthenticated(&'static str),
    /// Signed in, but the role does not reach this: 403.
    #[error("{0}")]
    Forbidden(&'static str),
}

impl Principal {
    /// The principal an authenticated identity is, or why it cannot sign in.
    pub fn from_identity(identity: Identity) -> Result<Self, Denied> {
        let role = Role::parse(identity.role.as_deref())?;
        if role != Role::SuperAdmin && identity.tenant.is_none() {
            return Err(Denied::Unauthenticated(
                "the credential names no tenant; only a super admin spans tenants",
            ));
        }
        if role == Role::Lead && identity.team.is_none() {
            return Err(Denied::Unauthenticated(
                "a lead's credential must name their team",
            ));
        }
        Ok(Self {
            user: identity.user,
            tenant: identity.tenant,
            team: identity.team,
            role,
        })
    }

    /// The principal's tenant, or `*` for a super admin (the audit log).
    pub fn tenant_label(&self) -> &str {
        self.tenant.as_deref().unwrap_or("*")
    }

    /// `tenant/user`: whose rate limit and live streams a request counts against.
    pub fn key(&self) -> String {
        format!("{}/{}", self.tenant_label(), self.user)
    }

    /// Whether the role reaches at least `least`.
    pub fn at_least(&self, least: Role) -> Result<(), Denied> {
        if self.role >= least {
            Ok(())
        } else {
            Err(Denied::Forbidden(match least {
                Role::Lead => "this needs the lead role or above",
                Role::Admin => "this needs the admin role or above",
                Role::SuperAdmin => "this needs the super admin role",
                Role::User => "signed-in users only",
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(tenant: Option<&str>, team: Option<&str>, role: Option<&str>) -> Identity {
        Identity {
            user: "dana".into(),
            tenant: tenant.map(Into::into),
            team: team.map(Into::into),
            role: role.map(Into::into),
        }
    }

    #[test]
    fn roles_need_what_they_are_scoped_by() {
        let user = Principal::from_identity(identity(Some("acme"), None, None)).expect("user");
        assert_eq!(user.role, Role::User);
        assert!(user.at_least(Role::Lead).is_err());
        assert!(Principal::from_identity(identity(None, None, Some("admin"))).is_err());
        assert!(Principal::from_identity(identity(Some("acme"), None, Some("lead"))).is_err());
        assert!(Principal::from_identity(identity(Some("acme"), None, Some("root"))).is_err());
        let sa = Principal::from_identity(identity(None, None, Some("super_admin"))).expect("sa");
        assert_eq!(sa.tenant_label(), "*");
        assert!(sa.at_least(Role::Admin).is_ok());
    }
}
