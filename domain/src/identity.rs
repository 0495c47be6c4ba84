//! Who is asking: a signed-in person, an application with an Entra token,
//! an API token, or the local user of a console without an identity
//! provider. Every request carries an [`Identity`]; every action records
//! its [`Principal`]; what it may do is its [`Role`].

use crate::name::Actor;

string_enum! {
    /// What someone may do, each role including the ones before it.
    pub enum Role {
        /// Reads everything.
        Viewer => "viewer",
        /// Creates replicas, turns routing on and off, plans and runs
        /// migrations, ticks checklist items.
        Operator => "operator",
        /// Also deletes replicas, forces routing off the last routed
        /// replica, runs Force imports, manages API tokens.
        Admin => "admin",
    }
}

impl Role {
    /// Whether this role includes `need`.
    pub fn allows(self, need: Role) -> bool {
        self >= need
    }

    /// The Entra app role's value (`Regatlas.Admin`), the role a claim names.
    pub fn app_role(self) -> &'static str {
        match self {
            Role::Viewer => "Regatlas.Viewer",
            Role::Operator => "Regatlas.Operator",
            Role::Admin => "Regatlas.Admin",
        }
    }

    /// The role an app-role value names (`Regatlas.Operator`), if any.
    pub fn from_app_role(value: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.app_role() == value)
    }

    /// The highest role a set of app-role values grants.
    pub fn highest<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Role> {
        values.into_iter().filter_map(Role::from_app_role).max()
    }

    /// "Operator", for messages.
    pub fn title(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Operator => "Operator",
            Role::Admin => "Admin",
        }
    }
}

string_enum! {
    /// How a request proved who it is.
    pub enum Via {
        /// A browser session, after OpenID Connect sign-in.
        Session => "session",
        /// An access token the identity provider issued to an application
        /// (client credentials, workload identity).
        Application => "application",
        /// A token this console issued.
        ApiToken => "api-token",
        /// The local user of a console listening on loopback without an
        /// identity provider, or the `migrate` command on a local database.
        Local => "local",
    }
}

/// Who did something, as recorded with it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Principal {
    /// The identity provider's issuer (`https://login.microsoftonline.com/{tenant}/v2.0`),
    /// or `regatlas` for API tokens and the local user.
    pub issuer: String,
    /// Who, at that issuer: Entra's object id (`oid`), else the `sub` claim;
    /// an API token's id.
    pub subject: String,
    /// The display name.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: Actor,
    pub via: Via,
    /// The API token used, when `via` is `api-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

/// The issuer of API tokens and the local user.
pub const LOCAL_ISSUER: &str = "regatlas";

impl Principal {
    /// One key per person (or application, or token): issuer and subject.
    /// Events are filtered by it.
    pub fn key(&self) -> String {
        format!("{}#{}", self.issuer, self.subject)
    }
}

/// A principal with the role it holds now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub principal: Principal,
    pub role: Role,
}

impl Identity {
    pub fn allows(&self, need: Role) -> bool {
        self.role.allows(need)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Admin.allows(Role::Viewer));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Operator.allows(Role::Admin));
        assert!(!Role::Viewer.allows(Role::Operator));
    }

    #[test]
    fn app_roles() {
        assert_eq!(Role::highest(["Regatlas.Viewer", "Regatlas.Admin", "Other"]), Some(Role::Admin));
        assert_eq!(Role::highest(["regatlas.admin", "Admin"]), None, "values are exact");
        assert_eq!(Role::highest([]), None);
        assert_eq!(Role::from_app_role("Regatlas.Operator"), Some(Role::Operator));
    }
}
