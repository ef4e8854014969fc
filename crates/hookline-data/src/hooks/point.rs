//! [`HookPoint`]: the names of a resource's hook points, the one list of them, and
//! [`HookRef`], the hook a point names, whatever its context type.
//!
//! Everything that names a hook point — config keys, `hookline check`, `explain`, script
//! binding, metrics labels, errors — goes through [`HookPoint`]: its [`Display`](fmt::Display)
//! is the key a user writes (`create.before_save`,
//! `dropdown_list.realtor_id.after_datasource_response`), and the engine hook's name is the
//! resource's name, a dot, and that key. The flow points are declared once, in the
//! `flow_points!` invocation below; adding one there (and its field in
//! [`ResourceHooks`](super::ResourceHooks)) is all it takes for every consumer to see it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use hookline::{Explain, Hook, Interceptor};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::{CreateContext, DeleteContext, EditContext, ReadRequest, ReadResponse};
use super::{ReadHooks, ResourceHooks};

/// Declares the flow hook points: the enum's flow variants, their names, and where each lives
/// in [`ResourceHooks`], from one list.
macro_rules! flow_points {
    ($($(#[$doc:meta])* $variant:ident => $flow:ident . $hook:ident : $kind:ident,)*) => {
        /// A hook point of a resource: where in its flows a tap runs.
        ///
        /// Written (in configs, errors, `explain`) as `<flow>.<hook>`, or
        /// `dropdown_list.<column>.<hook>` for the dropdown list of a foreign-key column. The
        /// variants are named `<Flow>Before` and `<Flow>After`: `CreateBefore` is
        /// `create.before_save`, `ListAfter` is `list.after_datasource_response`.
        ///
        /// ```
        /// use hookline_data::HookPoint;
        ///
        /// assert_eq!("create.before_save".parse(), Ok(HookPoint::CreateBefore));
        /// let point: HookPoint = "dropdown_list.realtor_id.after_datasource_response".parse()?;
        /// assert_eq!(point, HookPoint::DropdownAfter("realtor_id".into()));
        /// assert_eq!(point.to_string(), "dropdown_list.realtor_id.after_datasource_response");
        /// assert!("create.before_datasource_request".parse::<HookPoint>().is_err());
        /// # Ok::<(), hookline_data::UnknownHookPoint>(())
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum HookPoint {
            $($(#[$doc])* $variant,)*
            /// `dropdown_list.<column>.before_datasource_request`: may change the query of a
            /// foreign-key column's options.
            DropdownBefore(String),
            /// `dropdown_list.<column>.after_datasource_response`: may change the options.
            DropdownAfter(String),
        }

        impl HookPoint {
            /// The points every resource has (every point but the dropdowns), in flow order.
            pub const FLOWS: &'static [HookPoint] = &[$(HookPoint::$variant,)*];

            /// The name of a flow point; `None` for a dropdown point.
            fn flow_name(&self) -> Option<&'static str> {
                match self {
                    $(HookPoint::$variant => Some(concat!(stringify!($flow), ".", stringify!($hook))),)*
                    HookPoint::DropdownBefore(_) | HookPoint::DropdownAfter(_) => None,
                }
            }

            /// The hook of a flow point in `hooks`; `None` for a dropdown point.
            fn flow_hook<'a>(&self, hooks: &'a ResourceHooks) -> Option<HookRef<'a>> {
                match self {
                    $(HookPoint::$variant => Some(HookRef::$kind(&hooks.$flow.$hook)),)*
                    HookPoint::DropdownBefore(_) | HookPoint::DropdownAfter(_) => None,
                }
            }
        }
    };
}

flow_points! {
    /// `list.before_datasource_request` (also counts and aggregates): may change the query.
    ListBefore => list.before_datasource_request: ReadRequest,
    /// `list.after_datasource_response`: may change the records.
    ListAfter => list.after_datasource_response: ReadResponse,
    /// `show.before_datasource_request`: may change the query.
    ShowBefore => show.before_datasource_request: ReadRequest,
    /// `show.after_datasource_response`: may change the record.
    ShowAfter => show.after_datasource_response: ReadResponse,
    /// `create.before_save`: may change the record, or reject.
    CreateBefore => create.before_save: Create,
    /// `create.after_save`: after the commit.
    CreateAfter => create.after_save: Create,
    /// `edit.before_save`: may change the updates, or reject.
    EditBefore => edit.before_save: Edit,
    /// `edit.after_save`: after the commit.
    EditAfter => edit.after_save: Edit,
    /// `delete.before_save`: may reject.
    DeleteBefore => delete.before_save: Delete,
    /// `delete.after_save`: after the commit.
    DeleteAfter => delete.after_save: Delete,
}

const DROPDOWN: &str = "dropdown_list.";
const BEFORE: &str = "before_datasource_request";
const AFTER: &str = "after_datasource_response";

impl HookPoint {
    /// The foreign-key column of a dropdown point.
    pub fn dropdown_column(&self) -> Option<&str> {
        match self {
            HookPoint::DropdownBefore(column) | HookPoint::DropdownAfter(column) => Some(column),
            _ => None,
        }
    }

    /// The point's hook among a resource's flow hooks and dropdown hooks (`dropdown` finds a
    /// column's); `None` for a dropdown of a column without one.
    pub(crate) fn hook<'a>(
        &self,
        hooks: &'a ResourceHooks,
        dropdown: impl FnOnce(&str) -> Option<&'a ReadHooks>,
    ) -> Option<HookRef<'a>> {
        match self {
            HookPoint::DropdownBefore(column) => {
                dropdown(column).map(|hooks| HookRef::ReadRequest(&hooks.before_datasource_request))
            }
            HookPoint::DropdownAfter(column) => dropdown(column)
                .map(|hooks| HookRef::ReadResponse(&hooks.after_datasource_response)),
            point => point.flow_hook(hooks),
        }
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookPoint::DropdownBefore(column) => write!(f, "{DROPDOWN}{column}.{BEFORE}"),
            HookPoint::DropdownAfter(column) => write!(f, "{DROPDOWN}{column}.{AFTER}"),
            point => f.write_str(point.flow_name().unwrap_or_default()),
        }
    }
}

/// A hook point name that is none of [`HookPoint`]'s; its message lists the names there are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown hook point `{0}`; expected one of: {names}, {DROPDOWN}<column>.{BEFORE}, {DROPDOWN}<column>.{AFTER}",
    names = flow_names()
)]
pub struct UnknownHookPoint(pub String);

fn flow_names() -> String {
    let names: Vec<&str> = HookPoint::FLOWS
        .iter()
        .filter_map(HookPoint::flow_name)
        .collect();
    names.join(", ")
}

impl FromStr for HookPoint {
    type Err = UnknownHookPoint;

    fn from_str(s: &str) -> Result<Self, UnknownHookPoint> {
        if let Some(point) = HookPoint::FLOWS.iter().find(|p| p.flow_name() == Some(s)) {
            return Ok(point.clone());
        }
        let column_of = |suffix: &str| {
            s.strip_prefix(DROPDOWN)
                .and_then(|rest| rest.strip_suffix(suffix))
                .and_then(|rest| rest.strip_suffix('.'))
                .filter(|column| !column.is_empty() && !column.contains('.'))
                .map(str::to_owned)
        };
        if let Some(column) = column_of(BEFORE) {
            Ok(HookPoint::DropdownBefore(column))
        } else if let Some(column) = column_of(AFTER) {
            Ok(HookPoint::DropdownAfter(column))
        } else {
            Err(UnknownHookPoint(s.to_owned()))
        }
    }
}

impl Serialize for HookPoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HookPoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// The hook a [`HookPoint`] names ([`Resource::hook`](crate::Resource::hook)), by its
/// context type: match on it to register a tap of that type, or use the methods that every
/// hook has.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum HookRef<'a> {
    /// A `before_datasource_request` hook.
    ReadRequest(&'a Hook<ReadRequest>),
    /// An `after_datasource_response` hook.
    ReadResponse(&'a Hook<ReadResponse>),
    /// A create hook.
    Create(&'a Hook<CreateContext>),
    /// An edit hook.
    Edit(&'a Hook<EditContext>),
    /// A delete hook.
    Delete(&'a Hook<DeleteContext>),
}

/// Runs `$body` with `$hook` bound to the hook, whatever its context type.
macro_rules! each_kind {
    ($self:expr, $hook:ident => $body:expr) => {
        match $self {
            HookRef::ReadRequest($hook) => $body,
            HookRef::ReadResponse($hook) => $body,
            HookRef::Create($hook) => $body,
            HookRef::Edit($hook) => $body,
            HookRef::Delete($hook) => $body,
        }
    };
}

impl HookRef<'_> {
    /// The engine hook's name: `<resource>.<point>`.
    pub fn name(&self) -> &str {
        each_kind!(self, hook => hook.name())
    }

    /// The effective order of the hook's taps ([`Hook::explain`]).
    pub fn explain(&self) -> Explain {
        each_kind!(self, hook => hook.explain())
    }

    /// Installs an interceptor on the hook ([`Hook::intercept`]).
    pub fn intercept(&self, interceptor: Arc<dyn Interceptor>) {
        each_kind!(self, hook => hook.intercept(interceptor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flow_point_round_trips_and_names_its_hook() {
        let hooks = ResourceHooks::new("flats");
        assert_eq!(HookPoint::FLOWS.len(), 10);
        for point in HookPoint::FLOWS {
            let name = point.to_string();
            assert_eq!(name.parse::<HookPoint>().as_ref(), Ok(point), "{name}");
            let hook = point.hook(&hooks, |_| None).unwrap();
            assert_eq!(hook.name(), format!("flats.{name}"));
        }
    }

    #[test]
    fn dropdown_points_name_their_column_in_the_middle() {
        let dropdown = ReadHooks::new("flats.dropdown_list.realtor_id");
        let hooks = ResourceHooks::new("flats");
        for (name, point) in [
            (
                "dropdown_list.realtor_id.before_datasource_request",
                HookPoint::DropdownBefore("realtor_id".into()),
            ),
            (
                "dropdown_list.realtor_id.after_datasource_response",
                HookPoint::DropdownAfter("realtor_id".into()),
            ),
        ] {
            assert_eq!(name.parse(), Ok(point.clone()));
            assert_eq!(point.to_string(), name);
            let hook = point
                .hook(&hooks, |c| (c == "realtor_id").then_some(&dropdown))
                .unwrap();
            assert_eq!(hook.name(), format!("flats.{name}"));
        }
    }

    #[test]
    fn unknown_points_list_the_names_there_are() {
        for bad in [
            "create.before_datasource_request",
            "dropdown_list..before_datasource_request",
            "dropdown_list.a.b.after_datasource_response",
            "dropdown_list.realtor_id.before_save",
            "dropdown_list.realtor_idbefore_datasource_request",
            "",
        ] {
            let err = bad.parse::<HookPoint>().unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&format!("`{bad}`")), "{text}");
            assert!(
                text.contains("list.before_datasource_request, list.after_datasource_response")
                    && text.contains("dropdown_list.<column>.after_datasource_response"),
                "{text}"
            );
        }
    }
}
