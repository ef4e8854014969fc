//! The lending protocol: how a script call takes a context's values to the scripts and back.
//!
//! [`Lend`] is what a call needs of a context. Every [`ScriptContext`] lends by copying
//! ([`to_script`](ScriptContext::to_script) out, [`apply_script`](ScriptContext::apply_script)
//! back); the data hooks of `crate::resources` lend their records as rows
//! ([`Lend::lend_records`]), which the worker builds into JavaScript and patches with the
//! scripts' changes directly, and read back only the values they take ([`Lend::taken_back`]).
//! The protocol is crate-private: it is shaped by what the worker's conversions need, and may
//! change with them.

use serde_json::{Map, Value};

use crate::context::ScriptContext;
use crate::error::ContextError;
#[cfg(doc)]
use crate::schema::keep_number_kinds;

/// What a script call needs of a context: its values lent out and taken back, and optionally
/// records lent as rows.
pub(crate) trait Lend: Send {
    /// The values scripts see, for a call that hands them back with
    /// [`restore_script`](Lend::restore_script): a context may *move* its values out
    /// here instead of copying them. A [`ScriptContext`] copies
    /// ([`to_script`](ScriptContext::to_script)).
    ///
    /// The call hands the values back whatever the scripts did. They are **lost** only if the
    /// call never finishes: its future is dropped while a worker holds them (a timeout around
    /// it, a dropped request), the pool is closed, or the worker stops. A context that moves
    /// values out must then not be used as if it were whole. Inside a hook call that is
    /// guaranteed: a tap's timeout fails the call, and a dropped call drops its context.
    fn lend_script(&mut self) -> Result<Map<String, Value>, ContextError>;

    /// Takes back the values of [`lend_script`](Lend::lend_script). A [`ScriptContext`]
    /// applies [`Returned::Changed`] with [`apply_script`](ScriptContext::apply_script) and
    /// drops [`Returned::Unchanged`] (a copy).
    fn restore_script(&mut self, values: Returned) -> Result<(), ContextError>;

    /// The keys of the values whose changes this context takes back, if not all: only these
    /// are read back from JavaScript after the scripts ran, and the others go back to
    /// [`restore_script`](Lend::restore_script) as they were lent, whatever the
    /// scripts did to them. Reading back a value costs about as much as building it, so a
    /// context that shows scripts more than they may change says so here. The default, `None`,
    /// reads all of them.
    fn taken_back(&self) -> Option<&[&str]> {
        None
    }

    /// Records to lend the scripts as the value of one more key, beside the values of
    /// [`lend_script`](Lend::lend_script) (asked for after them): rows as
    /// (column, value) pairs, which the worker builds into JavaScript and patches with the
    /// scripts' changes directly, without a JSON object per row. A record keeps its columns'
    /// order, and a column the scripts add comes last. A value of the same key among the
    /// values is replaced. The default lends none.
    fn lend_records(&mut self) -> Option<(String, Records)> {
        None
    }

    /// Takes back the records of [`lend_records`](Lend::lend_records), before the
    /// values go back with [`restore_script`](Lend::restore_script). They come back
    /// patched when the call continued or returned, as lent when it was rejected or failed,
    /// and as [`RecordsBack::Replaced`] when the scripts left something else there. The
    /// default refuses them: a context that lends records takes them back.
    fn restore_records(&mut self, key: String, records: RecordsBack) -> Result<(), ContextError> {
        drop(records);
        Err(ContextError::invalid(format!(
            "the context lent no records under `{key}`"
        )))
    }
}

impl<C: ScriptContext + ?Sized> Lend for C {
    fn lend_script(&mut self) -> Result<Map<String, Value>, ContextError> {
        self.to_script()
    }

    fn restore_script(&mut self, values: Returned) -> Result<(), ContextError> {
        match values {
            Returned::Changed(values) => self.apply_script(values),
            Returned::Unchanged(_) => Ok(()),
        }
    }
}

/// A record lent to scripts: its (column, value) pairs, in order, each column once.
pub(crate) type Row = Vec<(String, Value)>;

/// Records lent to scripts with [`Lend::lend_records`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Records {
    /// One record, which scripts see as an object.
    One(Row),
    /// Rows, which scripts see as an array of objects.
    Many(Vec<Row>),
}

/// Records handed back to [`Lend::restore_records`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordsBack {
    /// The records, with the scripts' changes (if the call kept them): changed columns in
    /// place, removed ones gone, added ones last; rows the scripts removed are gone and rows
    /// they added come last, with their columns in name order. Numbers keep the kind of the
    /// number that was in their place ([`keep_number_kinds`]).
    Records(Records),
    /// The scripts left something other than the lent shape under the key (an array where
    /// one record was, something other than an object where a record was): the JSON of what
    /// they left, `None` if they removed the key or left a value JSON has no form for. Where
    /// it still has a record's shape, numbers keep the kind of the lent record's column.
    Replaced(Option<Value>),
}

/// What one call lends the scripts: the context's values, and its records under their key.
#[derive(Debug)]
pub(crate) struct Lent {
    pub(crate) values: Map<String, Value>,
    pub(crate) records: Option<(String, RecordsBack)>,
    /// [`Lend::taken_back`].
    pub(crate) taken_back: Option<Vec<String>>,
}

/// Lent values handed back to [`Lend::restore_script`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Returned {
    /// The call continued or short-circuited: the values as the scripts left them, to take
    /// back as [`ScriptContext::apply_script`] does. Values the scripts did not change are
    /// the ones lent, not copies.
    Changed(Map<String, Value>),
    /// The call was rejected or failed: the values as they were lent. The scripts' changes are
    /// dropped.
    Unchanged(Map<String, Value>),
}

#[cfg(test)]
mod tests_lending;
#[cfg(test)]
mod tests_records;
