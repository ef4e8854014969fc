//! [`Actor`]: who is calling a flow (AdminForth's `adminUser`): an id, roles and free-form
//! attributes. Every hook context carries one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::record::Record;

/// The user a flow runs for. Access checks and hooks decide with it.
///
/// ```
/// use hookline_data::Actor;
/// let ada = Actor::new(7).with_role("realtor").with_attribute("team", "north");
/// assert!(ada.has_role("realtor") && !ada.has_role("superadmin"));
/// assert_eq!(ada.id, 7);
/// assert_eq!(ada.attributes.get_str("team"), Some("north"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// The user's id, as stored in your users table (`null` for an anonymous caller).
    pub id: Value,
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Anything else hooks may need (team, tenant, …).
    #[serde(default)]
    pub attributes: Record,
}

impl Actor {
    /// An actor with this id, no roles and no attributes.
    pub fn new(id: impl Into<Value>) -> Self {
        Actor {
            id: id.into(),
            ..Actor::default()
        }
    }

    /// Adds a role.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// Sets an attribute.
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.set(name, value);
        self
    }

    /// `true` if the actor has this role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
