//! Resource definitions: [`ResourceDef`] (a table and its [`Column`]s), as a Rust builder or
//! deserialized from a config file.
//!
//! A definition is plain data and is checked by [`ResourceDef::validate`] (names, exactly one
//! primary key, column options that fit together). Cross-resource checks (foreign resources
//! exist) happen when the set of resources is built ([`crate::DataBuilder`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::{Allowed, AllowedActions, Operation};
use crate::error::DataError;
pub use hookline_types::ColumnType;

/// What happens to rows of a child resource when the record they point at is deleted. hookline
/// does it itself, inside the parent's transaction and after the parent's `before_save`, so
/// the children's own access checks and hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    /// Delete the children (through their delete flow).
    Cascade,
    /// Set the children's foreign key to null (through their edit flow).
    SetNull,
}

/// A foreign key: the column holds the primary key of a record of `resource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Foreign {
    /// The resource pointed at.
    pub resource: String,
    /// What deleting the pointed-at record does to this row; `None` leaves it to the database.
    #[serde(default)]
    pub on_delete: Option<OnDelete>,
}

/// A value computed when a record is created without one (AdminForth's `fillOnCreate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// The current time (timestamp or text columns).
    Now,
    /// A new random UUID (uuid or text columns).
    Uuid,
    /// The id of the actor creating the record.
    ActorId,
}

/// One column of a resource.
///
/// ```
/// use hookline_data::{Column, ColumnType, OnDelete};
/// let realtor = Column::integer("realtor_id").references("users").on_delete(OnDelete::Cascade);
/// assert_eq!(realtor.kind, ColumnType::Integer);
/// assert_eq!(realtor.foreign.unwrap().resource, "users");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The column name (letters, digits, `_`; not starting with a digit).
    pub name: String,
    /// The column type.
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// The primary key (exactly one per resource).
    #[serde(default)]
    pub primary_key: bool,
    /// Must have a non-null value after `create.before_save`.
    #[serde(default)]
    pub required: bool,
    /// No two records may share a (non-null) value: a `UNIQUE` constraint in the tables
    /// hookline creates, so a write that breaks it is a [`DataError::Conflict`](crate::DataError)
    /// (409) however many writers race. Over an existing table, declare the constraint there.
    #[serde(default)]
    pub unique: bool,
    /// The value used when a create does not give one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// A value computed when a create does not give one (applied before the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_on_create: Option<Fill>,
    /// Never returned by flows and never set by clients; hooks see and may set it.
    #[serde(default)]
    pub backend_only: bool,
    /// The resource this column points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign: Option<Foreign>,
}

impl Column {
    /// A column of this type with no options.
    pub fn new(name: impl Into<String>, kind: ColumnType) -> Self {
        Column {
            name: name.into(),
            kind,
            primary_key: false,
            required: false,
            unique: false,
            default: None,
            fill_on_create: None,
            backend_only: false,
            foreign: None,
        }
    }

    /// An integer column.
    pub fn integer(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Integer)
    }

    /// A float column.
    pub fn float(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Float)
    }

    /// A text column.
    pub fn text(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Text)
    }

    /// A boolean column.
    pub fn boolean(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Boolean)
    }

    /// A timestamp column.
    pub fn timestamp(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Timestamp)
    }

    /// A JSON column.
    pub fn json(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Json)
    }

    /// A UUID column.
    pub fn uuid(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Uuid)
    }

    /// Makes this the primary key. An integer primary key is generated by the database when a
    /// create does not give one.
    pub fn primary_key(mut self) -> Self {
        self.primary_key = true;
        self
    }

    /// Requires a non-null value on create.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Makes the column's values unique (see [`Column::unique`](Column#structfield.unique)).
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Sets the default value for creates that do not give one.
    pub fn default_value(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    /// Fills the column on create when no value is given.
    pub fn fill_on_create(mut self, fill: Fill) -> Self {
        self.fill_on_create = Some(fill);
        self
    }

    /// Hides the column from clients (responses and client-given values).
    pub fn backend_only(mut self) -> Self {
        self.backend_only = true;
        self
    }

    /// Makes the column a foreign key to `resource`'s primary key.
    pub fn references(mut self, resource: impl Into<String>) -> Self {
        self.foreign = Some(Foreign {
            resource: resource.into(),
            on_delete: None,
        });
        self
    }

    /// What deleting the referenced record does (call after [`Column::references`]; a column
    /// without a foreign resource fails validation).
    pub fn on_delete(mut self, on_delete: OnDelete) -> Self {
        match &mut self.foreign {
            Some(foreign) => foreign.on_delete = Some(on_delete),
            None => {
                self.foreign = Some(Foreign {
                    resource: String::new(),
                    on_delete: Some(on_delete),
                })
            }
        }
        self
    }
}

fn default_limit() -> u64 {
    ResourceDef::DEFAULT_LIMIT
}

fn max_limit() -> u64 {
    ResourceDef::MAX_LIMIT
}

/// A resource: a table, its columns, access rules and page limits.
///
/// ```
/// use hookline_data::{Operation, Allowed, Column, ResourceDef};
///
/// // As Rust:
/// let apartments = ResourceDef::new("apartments")
///     .column(Column::integer("id").primary_key())
///     .column(Column::text("title").required())
///     .column(Column::float("price"))
///     .column(Column::integer("realtor_id").references("users"))
///     .allow(Operation::Delete, false);
/// apartments.validate()?;
///
/// // Or from a config file (the server loads TOML):
/// let same: ResourceDef = serde_json::from_value(serde_json::json!({
///     "name": "apartments",
///     "columns": [
///         { "name": "id", "type": "integer", "primary_key": true },
///         { "name": "title", "type": "text", "required": true },
///         { "name": "price", "type": "float" },
///         { "name": "realtor_id", "type": "integer", "foreign": { "resource": "users" } }
///     ],
///     "allowed_actions": { "delete": false }
/// })).unwrap();
/// assert_eq!(same.columns, apartments.columns);
/// # Ok::<(), hookline_data::DataError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDef {
    /// The resource name used by flows and hooks.
    pub name: String,
    /// The table; the resource name if unset.
    #[serde(default)]
    pub table: Option<String>,
    /// The columns, in the order records list them.
    pub columns: Vec<Column>,
    /// Who may do what.
    #[serde(default)]
    pub allowed_actions: AllowedActions,
    /// The page size of a list without a limit.
    #[serde(default = "default_limit")]
    pub default_limit: u64,
    /// The largest limit a list may ask for.
    #[serde(default = "max_limit")]
    pub max_limit: u64,
}

impl ResourceDef {
    /// The default page size: 100.
    pub const DEFAULT_LIMIT: u64 = 100;
    /// The default maximum limit: 1000.
    pub const MAX_LIMIT: u64 = 1000;

    /// A resource with no columns, stored in a table of the same name.
    pub fn new(name: impl Into<String>) -> Self {
        ResourceDef {
            name: name.into(),
            table: None,
            columns: Vec::new(),
            allowed_actions: AllowedActions::default(),
            default_limit: Self::DEFAULT_LIMIT,
            max_limit: Self::MAX_LIMIT,
        }
    }

    /// Stores the resource in this table (for existing tables named differently).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// Adds a column.
    pub fn column(mut self, column: Column) -> Self {
        self.columns.push(column);
        self
    }

    /// Sets the access rule of an action (`true`, `false` or an [`Allowed`]).
    pub fn allow(mut self, action: Operation, allowed: impl Into<Allowed>) -> Self {
        self.allowed_actions.set(action, allowed);
        self
    }

    /// Sets the page size of lists without a limit, and the largest limit allowed.
    pub fn limits(mut self, default_limit: u64, max_limit: u64) -> Self {
        self.default_limit = default_limit;
        self.max_limit = max_limit;
        self
    }

    /// The table name.
    pub fn table_name(&self) -> &str {
        self.table.as_deref().unwrap_or(&self.name)
    }

    /// The column of this name.
    pub fn get_column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The primary key column (after validation there is exactly one).
    pub fn primary_key(&self) -> Option<&Column> {
        self.columns.iter().find(|c| c.primary_key)
    }

    /// Checks the definition on its own: valid names, exactly one primary key, unique column
    /// names, options that fit the column type, limits that make sense.
    pub fn validate(&self) -> Result<(), DataError> {
        let invalid = |message: String| DataError::Definition {
            resource: self.name.clone(),
            message,
        };
        check_name("resource name", &self.name).map_err(&invalid)?;
        check_name("table name", self.table_name()).map_err(&invalid)?;
        let keys: Vec<&Column> = self.columns.iter().filter(|c| c.primary_key).collect();
        if keys.len() != 1 {
            return Err(invalid(format!(
                "a resource needs exactly one primary key column, found {}",
                keys.len()
            )));
        }
        for (i, column) in self.columns.iter().enumerate() {
            check_name("column name", &column.name).map_err(&invalid)?;
            if self.columns[..i].iter().any(|c| c.name == column.name) {
                return Err(invalid(format!(
                    "column `{}` is declared twice",
                    column.name
                )));
            }
            check_column(column).map_err(&invalid)?;
        }
        if self.max_limit == 0 || self.default_limit == 0 || self.default_limit > self.max_limit {
            return Err(invalid(format!(
                "limits must satisfy 0 < default_limit ({}) <= max_limit ({})",
                self.default_limit, self.max_limit
            )));
        }
        Ok(())
    }
}

fn check_column(column: &Column) -> Result<(), String> {
    let name = &column.name;
    if column.primary_key && column.backend_only {
        return Err(format!("primary key `{name}` cannot be backend-only"));
    }
    if column.primary_key && column.foreign.is_some() {
        return Err(format!("primary key `{name}` cannot be a foreign key"));
    }
    if matches!(column.kind, ColumnType::Json) && column.primary_key {
        return Err(format!("primary key `{name}` cannot be of type json"));
    }
    if let Some(foreign) = &column.foreign {
        if foreign.resource.is_empty() {
            return Err(format!(
                "column `{name}` has `on_delete` but no foreign resource; call `references` first"
            ));
        }
        if foreign.on_delete == Some(OnDelete::SetNull) && column.required {
            return Err(format!(
                "column `{name}` is required, so `on_delete = set_null` cannot work"
            ));
        }
    }
    if let Some(fill) = column.fill_on_create {
        let fits = match fill {
            Fill::Now => matches!(column.kind, ColumnType::Timestamp | ColumnType::Text),
            Fill::Uuid => matches!(column.kind, ColumnType::Uuid | ColumnType::Text),
            Fill::ActorId => true,
        };
        if !fits {
            return Err(format!(
                "column `{name}` of type {} cannot be filled with {fill:?}",
                column.kind
            ));
        }
    }
    if let Some(default) = &column.default {
        crate::coerce::coerce(column.kind, default).map_err(|found| {
            format!("the default of `{name}` is not a {}: {found}", column.kind)
        })?;
    }
    Ok(())
}

/// Names become SQL identifiers: only ASCII letters, digits and `_`, not starting with a
/// digit, at most 63 bytes (PostgreSQL's limit). This keeps every name portable and quotable.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if valid_start && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && name.len() <= 63 {
        Ok(())
    } else {
        Err(format!(
            "{what} `{name}` must be 1 to 63 ASCII letters, digits or `_`, not starting with a digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ResourceDef {
        ResourceDef::new("items").column(Column::integer("id").primary_key())
    }

    fn message(def: ResourceDef) -> String {
        def.validate().unwrap_err().to_string()
    }

    #[test]
    fn exactly_one_primary_key() {
        assert!(message(ResourceDef::new("x").column(Column::text("a"))).contains("found 0"));
        let two = valid().column(Column::text("b").primary_key());
        assert!(message(two).contains("found 2"));
    }

    #[test]
    fn names_with_sql_metacharacters_are_refused() {
        for bad in ["a b", "x\"; drop table y; --", "1abc", "", "é"] {
            let def = ResourceDef::new(bad).column(Column::integer("id").primary_key());
            assert!(message(def).contains("resource name"), "{bad}");
            let def = valid().column(Column::text(bad));
            assert!(message(def).contains("column name"), "{bad}");
        }
        assert!(message(valid().table("t;x")).contains("table name"));
        assert!(
            message(ResourceDef::new("a".repeat(64)).column(Column::integer("id").primary_key()))
                .contains("63")
        );
    }

    #[test]
    fn column_options_must_fit() {
        assert!(message(valid().column(Column::text("id"))).contains("declared twice"));
        assert!(
            message(valid().column(Column::integer("n").fill_on_create(Fill::Now)))
                .contains("cannot be filled")
        );
        assert!(
            message(valid().column(Column::integer("n").default_value("x")))
                .contains("default of `n`")
        );
        assert!(
            message(
                valid().column(
                    Column::integer("u")
                        .references("users")
                        .on_delete(OnDelete::SetNull)
                        .required()
                )
            )
            .contains("set_null")
        );
        assert!(
            message(valid().column(Column::integer("u").on_delete(OnDelete::Cascade)))
                .contains("no foreign resource")
        );
        assert!(message(valid().limits(10, 5)).contains("limits"));
    }

    #[test]
    fn serde_form_rejects_unknown_fields_and_types() {
        let err = serde_json::from_str::<ResourceDef>(
            r#"{"name":"x","columns":[{"name":"id","type":"integer","primary_key":true,"colour":1}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"));
        let err = serde_json::from_str::<ResourceDef>(
            r#"{"name":"x","columns":[{"name":"id","type":"decimal"}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("decimal"));
    }
}
