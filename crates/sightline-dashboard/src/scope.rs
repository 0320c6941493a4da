//! Row-level scoping: the filter every query carries, derived on the server from the
//! caller's role and tenant and never from anything the request says. Pure.

use serde::Serialize;

use crate::auth::{Denied, Principal, Role};

/// Which rows a principal may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every tenant (super admin).
    All,
    /// One tenant (admin).
    Tenant(String),
    /// One team of a tenant (lead).
    Team(String, String),
    /// One user of a tenant (user).
    User(String, String),
}

/// A value bound to a `?` of a filter, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Bind {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A list of texts (an array literal: `IN (SELECT arrayJoin(?))`).
    Texts(Vec<String>),
}

impl From<&str> for Bind {
    fn from(v: &str) -> Self {
        Bind::Text(v.into())
    }
}
impl From<String> for Bind {
    fn from(v: String) -> Self {
        Bind::Text(v)
    }
}
impl From<i64> for Bind {
    fn from(v: i64) -> Self {
        Bind::Int(v)
    }
}

/// SQL text with `?` placeholders and the values they take, in order. Values never enter
/// the text: the ClickHouse client escapes each bound value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sql {
    /// The text.
    pub text: String,
    /// Its values.
    pub binds: Vec<Bind>,
}

impl Sql {
    /// Text without values.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            binds: vec![],
        }
    }

    /// Appends text and its values.
    pub fn push(&mut self, text: &str, binds: impl IntoIterator<Item = Bind>) -> &mut Self {
        self.text.push_str(text);
        self.binds.extend(binds);
        self
    }

    /// Appends another piece.
    pub fn append(&mut self, other: &Sql) -> &mut Self {
        self.push(&other.text, other.binds.iter().cloned())
    }

    /// A query on `client` with every value bound.
    pub fn query(&self, client: &clickhouse::Client) -> clickhouse::query::Query {
        let mut q = client.query(&self.text);
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
                Bind::Texts(v) => q.bind(v),
            };
        }
        q
    }
}

/// The columns of a table (or alias) that a scope filters on.
#[derive(Debug, Clone, Copy)]
pub struct Cols {
    /// Tenant column.
    pub tenant: &'static str,
    /// Team column, if the table has one.
    pub team: Option<&'static str>,
    /// User column, if the table has one.
    pub user: Option<&'static str>,
    /// Incident column, for incident tables (which have no team column).
    pub incident: Option<&'static str>,
}

impl Cols {
    /// `tenant_id`, `team_id`, `user_id`.
    pub const ALL: Cols = Cols {
        tenant: "tenant_id",
        team: Some("team_id"),
        user: Some("user_id"),
        incident: None,
    };
    /// An incident table: `tenant_id`, `user_id`, `incident_id` (no team column).
    pub const INCIDENT: Cols = Cols {
        tenant: "tenant_id",
        team: None,
        user: Some("user_id"),
        incident: Some("incident_id"),
    };
    /// `tenant_id`, `team_id` (no user column).
    pub const TEAM: Cols = Cols {
        tenant: "tenant_id",
        team: Some("team_id"),
        user: None,
        incident: None,
    };
    /// `tenant_id` only.
    pub const TENANT: Cols = Cols {
        tenant: "tenant_id",
        team: None,
        user: None,
        incident: None,
    };
}

impl Scope {
    /// The scope of `principal`.
    pub fn of(principal: &Principal) -> Self {
        let tenant = principal.tenant.clone().unwrap_or_default();
        match principal.role {
            Role::SuperAdmin => Scope::All,
            Role::Admin => Scope::Tenant(tenant),
            Role::Lead => Scope::Team(tenant, principal.team.clone().unwrap_or_default()),
            Role::User => Scope::User(tenant, principal.user.clone()),
        }
    }

    /// The filter (`… AND …`, never empty) restricting a table with `cols` to this scope, or
    /// why this scope cannot read that table at all (a user on a team-wide rollup, a lead on
    /// a tenant-wide one).
    pub fn filter(&self, cols: Cols) -> Result<Sql, Denied> {
        let mut sql = Sql::default();
        match self {
            Scope::All => {
                sql.push("1 = 1", []);
            }
            Scope::Tenant(t) => {
                sql.push(&format!("{} = ?", cols.tenant), [t.as_str().into()]);
            }
            Scope::Team(t, team) => match (cols.team, cols.user, cols.incident) {
                (Some(team_col), _, _) => {
                    sql.push(
                        &format!("{} = ? AND {team_col} = ?", cols.tenant),
                        [t.as_str().into(), team.as_str().into()],
                    );
                }
                // An incident of one user, linked to a call made as the team (an incident
                // holds no team; a user may call as several teams).
                (None, Some(user_col), Some(incident_col)) => {
                    sql.push(
                        &format!(
                            "{} = ? AND {user_col} != '' AND {incident_col} IN (SELECT incident_id \
                             FROM incident_calls WHERE tenant_id = ? AND call_id IN (SELECT call_id \
                             FROM llm_calls WHERE tenant_id = ? AND team_id = ?))",
                            cols.tenant
                        ),
                        [
                            t.as_str().into(),
                            t.as_str().into(),
                            t.as_str().into(),
                            team.as_str().into(),
                        ],
                    );
                }
                _ => return Err(Denied::Forbidden("tenant-wide figures need the admin role")),
            },
            Scope::User(t, user) => match cols.user {
                Some(user_col) => {
                    sql.push(
                        &format!("{} = ? AND {user_col} = ?", cols.tenant),
                        [t.as_str().into(), user.as_str().into()],
                    );
                }
                None => {
                    return Err(Denied::Forbidden(
                        "team and tenant figures need the lead role or above",
                    ))
                }
            },
        }
        Ok(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            user: "dana".into(),
            tenant: Some("acme".into()),
            team: Some("payments".into()),
            role,
        }
    }

    #[test]
    fn each_role_gets_its_own_filter_with_values_bound_not_written() {
        let user = Scope::of(&principal(Role::User))
            .filter(Cols::ALL)
            .expect("user");
        assert_eq!(user.text, "tenant_id = ? AND user_id = ?");
        assert_eq!(user.binds, vec!["acme".into(), "dana".into()]);
        let lead = Scope::of(&principal(Role::Lead))
            .filter(Cols::ALL)
            .expect("lead");
        assert_eq!(lead.text, "tenant_id = ? AND team_id = ?");
        assert_eq!(lead.binds, vec![Bind::from("acme"), Bind::from("payments")]);
        let lead_on_incidents = Scope::of(&principal(Role::Lead))
            .filter(Cols::INCIDENT)
            .expect("lead on incidents");
        assert!(lead_on_incidents
            .text
            .contains("FROM llm_calls WHERE tenant_id = ? AND team_id = ?"));
        assert!(lead_on_incidents.text.contains("user_id != ''"));
        assert_eq!(lead_on_incidents.binds.len(), 4);
        let admin = Scope::of(&principal(Role::Admin))
            .filter(Cols::TENANT)
            .expect("admin");
        assert_eq!(admin.text, "tenant_id = ?");
        let all = Scope::of(&principal(Role::SuperAdmin))
            .filter(Cols::TENANT)
            .expect("sa");
        assert_eq!((all.text.as_str(), all.binds.len()), ("1 = 1", 0));
    }

    #[test]
    fn a_role_cannot_read_a_table_wider_than_its_scope() {
        assert!(Scope::of(&principal(Role::User))
            .filter(Cols::TEAM)
            .is_err());
        assert!(Scope::of(&principal(Role::User))
            .filter(Cols::TENANT)
            .is_err());
        assert!(Scope::of(&principal(Role::Lead))
            .filter(Cols::TENANT)
            .is_err());
        assert!(Scope::of(&principal(Role::Admin))
            .filter(Cols::TENANT)
            .is_ok());
    }

    #[test]
    fn hostile_values_stay_values() {
        let mut p = principal(Role::User);
        p.user = "x' OR 1=1 --".into();
        let f = Scope::of(&p).filter(Cols::ALL).expect("user");
        assert!(!f.text.contains("OR 1=1"));
        assert_eq!(f.binds[1], Bind::from("x' OR 1=1 --"));
    }
}
