//! The admin API's write bodies: a new role with its privileges, a user's roles, a user's state.
use serde::{Deserialize, Serialize};

use super::validation::{Fields, Invalid};

/// A `(method, route pattern)` a role grants; `*` matches any.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Privilege {
    pub method: String,
    pub route: String,
}

const METHODS: &[&str] = &["*", "GET", "POST", "PUT", "PATCH", "DELETE"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    pub name: String,
    #[serde(default)]
    pub intro: String,
    #[serde(default)]
    pub privileges: Vec<Privilege>,
}

impl NewRole {
    /// Every field problem at once. `served(method, route)`: whether the service answers that
    /// operation (the route table's knowledge, handed in: the domain does not know the routes).
    pub fn validate(self, served: impl Fn(&str, &str) -> bool) -> Result<Self, Invalid> {
        let mut fields = Fields::default();
        let name = &self.name;
        if name.is_empty() || name.len() > 32 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            fields.add("name", "1-32 letters, digits or underscores.");
        }
        if self.intro.chars().count() > 255 {
            fields.add("intro", "At most 255 characters.");
        }
        let known =
            |p: &Privilege| METHODS.contains(&p.method.as_str()) && (p.route == "*" || served(&p.method, &p.route));
        if let Some(bad) = self.privileges.iter().find(|p| !known(p)) {
            fields.add("privileges", format!("{} {} is not a route this service serves.", bad.method, bad.route));
        }
        fields.finish()?;
        Ok(self)
    }
}

/// The roles a user should hold (replacing the current ones).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRoles {
    pub roles: Vec<String>,
}

impl UserRoles {
    /// The role names, sorted, each once.
    pub fn names(self) -> Vec<String> {
        let mut names = self.roles;
        names.sort();
        names.dedup();
        names
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserState {
    pub is_active: bool,
}
