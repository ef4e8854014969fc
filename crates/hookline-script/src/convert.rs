//! Converting between JSON (`serde_json::Value`) and JavaScript values on a worker, without
//! JSON text in between (which costs about twice as much).
//!
//! - Into JavaScript ([`object`]): JSON maps onto JavaScript one to one, as `JSON.parse` would
//!   build it.
//! - Back ([`ToJson`]): the result is what `JSON.stringify` followed by a JSON parse would give.
//!   Plain objects, arrays, strings, numbers, booleans and `null` are read directly; anything
//!   else — an object with `toJSON` (a `Date`), a class instance, a proxy, a `BigInt`, a cycle —
//!   is handed to QuickJS's own `JSON.stringify`, so its rules and errors apply unchanged.
//! - Back onto the JSON that went in ([`ToJson::diff`], then [`Patch::apply`]): the same result,
//!   with the number kinds of the JSON that went in kept ([`keep_number_kinds`]), but read as
//!   the difference from that JSON and applied to it in place. Unchanged members and items cost
//!   no allocation. Reading may fail (a throwing `toJSON`, a cycle); applying cannot, so the
//!   JSON is either patched whole or left as it was.

use std::cell::{Cell, RefCell};

use rquickjs::atom::PredefinedAtom;
use rquickjs::{Array, Ctx, Object, Type, Value, qjs};
use serde_json::{Map, Number};

use crate::lend::{Records, RecordsBack, Row};
use crate::raw::{self, Atoms, Built, KeyAtoms, MAX_DEPTH, Member};
use crate::schema::keep_number_kinds;

/// Builds the JavaScript object of a JSON object (the context's values). Members are defined
/// as own data properties, as `JSON.parse` does, so a key named `__proto__` is a key and does
/// not set the prototype. Keys take their atoms from the worker's `atoms`.
pub(crate) fn object<'js>(
    ctx: &Ctx<'js>,
    map: &Map<String, serde_json::Value>,
    depth: usize,
    atoms: &RefCell<Atoms>,
) -> rquickjs::Result<Object<'js>> {
    raw::members(ctx, map, depth, atoms)
}

/// A JavaScript number as `JSON.stringify` writes it and a JSON parser reads it back: whole
/// numbers (up to 1e21, beyond which JavaScript writes an exponent) as integers, `NaN` and the
/// infinities as `null`.
fn number(f: f64) -> serde_json::Value {
    const I64_END: f64 = 9_223_372_036_854_775_808.0; // 2^63
    const U64_END: f64 = 18_446_744_073_709_551_616.0; // 2^64
    if f.fract() == 0.0 {
        if (-I64_END..I64_END).contains(&f) {
            return serde_json::Value::from(f as i64);
        }
        if (0.0..U64_END).contains(&f) {
            return serde_json::Value::from(f as u64);
        }
    }
    Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Converts values as `JSON.stringify` would see them.
pub(crate) struct ToJson<'a, 'js> {
    ctx: &'a Ctx<'js>,
    /// `Object.prototype`, as captured when the worker started: objects with this prototype
    /// (or none) and no `toJSON` are plain data.
    object_prototype: &'a Object<'js>,
    /// Whether `Object.prototype` has a `toJSON` (a script may add one), read once.
    prototype_to_json: Cell<Option<bool>>,
    /// The worker's atoms of keys.
    atoms: &'a RefCell<Atoms>,
}

impl<'a, 'js> ToJson<'a, 'js> {
    pub(crate) fn new(
        ctx: &'a Ctx<'js>,
        object_prototype: &'a Object<'js>,
        atoms: &'a RefCell<Atoms>,
    ) -> Self {
        ToJson {
            ctx,
            object_prototype,
            prototype_to_json: Cell::new(None),
            atoms,
        }
    }

    /// The JSON of `value`; `None` for what `JSON.stringify` leaves out (`undefined`, functions,
    /// symbols). Errors are JavaScript exceptions (e.g. `TypeError: circular reference`).
    pub(crate) fn convert(
        &self,
        value: &Value<'js>,
    ) -> rquickjs::Result<Option<serde_json::Value>> {
        self.value(value, 0)
    }

    fn value(
        &self,
        value: &Value<'js>,
        depth: usize,
    ) -> rquickjs::Result<Option<serde_json::Value>> {
        Ok(Some(match value.type_of() {
            Type::Undefined
            | Type::Uninitialized
            | Type::Symbol
            | Type::Function
            | Type::Constructor => {
                return Ok(None);
            }
            Type::Null => serde_json::Value::Null,
            Type::Bool => serde_json::Value::Bool(value.as_bool().unwrap_or_default()),
            Type::Int => serde_json::Value::from(value.as_int().unwrap_or_default()),
            Type::Float => number(value.as_float().unwrap_or(f64::NAN)),
            Type::String => match value.as_string() {
                Some(text) => serde_json::Value::String(text.to_string()?),
                None => serde_json::Value::Null,
            },
            Type::Array if depth < MAX_DEPTH && !value.is_proxy() => {
                let Some(array) = value.as_array() else {
                    return self.stringify(value);
                };
                if self.has_to_json(array.as_object())? {
                    return self.stringify(value);
                }
                let mut items = Vec::with_capacity(array.len());
                for item in array.iter::<Value>() {
                    items.push(
                        self.value(&item?, depth + 1)?
                            .unwrap_or(serde_json::Value::Null),
                    );
                }
                serde_json::Value::Array(items)
            }
            Type::Object if depth < MAX_DEPTH => {
                let Some(object) = value.as_object() else {
                    return self.stringify(value);
                };
                if !self.is_plain(object)? {
                    return self.stringify(value);
                }
                let mut map = Map::new();
                for property in object.props::<String, Value>() {
                    let (key, item) = property?;
                    if let Some(item) = self.value(&item, depth + 1)? {
                        map.insert(key, item);
                    }
                }
                serde_json::Value::Object(map)
            }
            _ => return self.stringify(value),
        }))
    }

    /// What the scripts changed in `source`, the JSON object `value` was built from: applied
    /// to `source`, the patch gives what [`ToJson::convert`] gives, with the number kinds of
    /// `source` kept. `None` if `value` is no longer an object. Only the members `read`
    /// allows are read; the others are left as they are in `source`.
    pub(crate) fn diff_object(
        &self,
        value: &Value<'js>,
        source: &Map<String, serde_json::Value>,
        read: Read<'_>,
    ) -> rquickjs::Result<Option<Members>> {
        let mut filter_atoms = KeyAtoms::new();
        let mut filter = Filter::default();
        if let Some(key) = read.skip {
            filter.skip = Some(filter_atoms.get(self.atoms, self.ctx, 0, key)?);
        }
        if let Some(only) = read.only {
            let mut atoms = Vec::with_capacity(only.len());
            for (index, key) in only.iter().enumerate() {
                atoms.push(filter_atoms.get(self.atoms, self.ctx, index + 1, key)?);
            }
            filter.only = Some(atoms);
        }
        let keys = &mut KeyAtoms::new();
        self.diff_entries(value, source.iter(), 0, keys, read, &filter)
    }

    /// What the scripts did to lent `records`, built into `value` at nesting `depth`: each
    /// record read as [`ToJson::diff_object`] reads an object, or the JSON of what replaced
    /// them if that is not records any more.
    pub(crate) fn diff_records(
        &self,
        value: &Value<'js>,
        records: &Records,
        depth: usize,
        built: Option<&Built<'js>>,
    ) -> rquickjs::Result<RecordsPatch> {
        match records {
            Records::One(row) => {
                let members = match built.and_then(|b| self.diff_built(value, row, depth, b, 0)) {
                    Some(members) => Some(members?),
                    None => self.diff_row(value, row, depth, &mut KeyAtoms::new())?,
                };
                if let Some(members) = members {
                    return Ok(RecordsPatch::One(members));
                }
            }
            Records::Many(rows) => {
                if value.type_of() == Type::Array
                    && !value.is_proxy()
                    && let Some(array) = value.as_array()
                    && !self.has_to_json(array.as_object())?
                    && let Some(patch) = self.diff_rows(array, rows, depth, built)?
                {
                    return Ok(patch);
                }
            }
        }
        let mut replaced = self.value(value, depth)?;
        if let Some(replaced) = replaced.as_mut() {
            keep_record_kinds(records, replaced);
        }
        Ok(RecordsPatch::Replaced(replaced))
    }

    /// The rows of plain array `array` as changes to `rows`; `None` if an item is not an
    /// object.
    fn diff_rows(
        &self,
        array: &Array<'js>,
        rows: &[Row],
        depth: usize,
        built: Option<&Built<'js>>,
    ) -> rquickjs::Result<Option<RecordsPatch>> {
        let mut changed = Vec::new();
        let mut added = Vec::new();
        let mut len = 0;
        let mut keys = KeyAtoms::new();
        for (index, item) in array.iter::<Value>().enumerate() {
            let item = item?;
            len = index + 1;
            match rows.get(index) {
                Some(row) => {
                    let built =
                        built.and_then(|b| self.diff_built(&item, row, depth + 1, b, index));
                    let members = match built {
                        Some(members) => Some(members?),
                        None => self.diff_row(&item, row, depth + 1, &mut keys)?,
                    };
                    match members {
                        Some(members) if members.is_empty() => {}
                        Some(members) => changed.push((index, members)),
                        None => return Ok(None),
                    }
                }
                None => match self.value(&item, depth + 1)? {
                    Some(serde_json::Value::Object(map)) => added.push(map.into_iter().collect()),
                    _ => return Ok(None),
                },
            }
        }
        Ok(Some(RecordsPatch::Many {
            changed,
            len,
            added,
        }))
    }

    /// What the scripts changed in `row`, the `index`th record `built` made (`value` read
    /// back, at nesting `depth`), when `value` is still a plain object whose first keys are
    /// the record's, in its order: a member holding the value it was built with is unchanged
    /// without reading it out; keys after the record's are added. `None` for anything else
    /// (keys removed or reordered, a `toJSON`, another prototype), which [`ToJson::diff_row`]
    /// reads.
    fn diff_built(
        &self,
        value: &Value<'js>,
        row: &[(String, serde_json::Value)],
        depth: usize,
        built: &Built<'js>,
        index: usize,
    ) -> Option<rquickjs::Result<Members>> {
        if index >= built.records() || row.len() != built.width() {
            return None;
        }
        let object = value
            .as_object()
            .filter(|_| value.type_of() == Type::Object)?;
        let read = || -> rquickjs::Result<Option<Members>> {
            if !self.plain_prototype(object)? {
                return Ok(None);
            }
            let mut read = raw::Members::new(self.ctx, object)?;
            let width = built.width();
            if read.len() < width
                || (0..width).any(|column| read.atom(column) != built.atom(column))
                || (width..read.len()).any(|at| read.atom(at) == raw::TO_JSON)
            {
                return Ok(None);
            }
            let mut members = Members::default();
            let mut column = 0;
            while let Some(member) = read.next() {
                let (atom, item) = member?;
                if let Some((_, old)) = row.get(column) {
                    if !built.holds(index, column, &item) {
                        match self.diff_member(item, old, depth + 1)? {
                            Patch::Keep => {}
                            patch => members.changed.push((column, patch)),
                        }
                    }
                    column += 1;
                } else if let Some(item) = self.member(item, depth + 1)? {
                    let key = self.atoms.borrow_mut().name(self.ctx, atom)?;
                    members.added.push((key, item));
                }
            }
            Ok(Some(members))
        };
        read().transpose()
    }

    /// What the scripts changed in `row`, the record `value` was built from, at nesting
    /// `depth`, as [`ToJson::diff_object`] reads an object; `keys` are shared with the row's
    /// siblings.
    fn diff_row<'s>(
        &self,
        value: &Value<'js>,
        row: &'s [(String, serde_json::Value)],
        depth: usize,
        keys: &mut KeyAtoms<'s, 'js>,
    ) -> rquickjs::Result<Option<Members>> {
        let entries = row.iter().map(|(key, item)| (key, item));
        self.diff_entries(
            value,
            entries,
            depth,
            keys,
            Read::default(),
            &Filter::default(),
        )
    }

    /// The change from `source`'s entries to `value`, the object at nesting `depth` built from
    /// them, reading only the members `read` (as atoms: `filter`) allows; `None` if `value` is
    /// no longer an object.
    fn diff_entries<'s, I>(
        &self,
        value: &Value<'js>,
        source: I,
        depth: usize,
        keys: &mut KeyAtoms<'s, 'js>,
        read: Read<'_>,
        filter: &Filter,
    ) -> rquickjs::Result<Option<Members>>
    where
        I: Iterator<Item = (&'s String, &'s serde_json::Value)> + Clone,
    {
        if let Some(object) = value
            .as_object()
            .filter(|_| value.type_of() == Type::Object)
            && self.plain_prototype(object)?
            && let Some(members) = self.diff_members(object, source.clone(), depth, keys, filter)?
        {
            return Ok(Some(members));
        }
        let Some(serde_json::Value::Object(map)) = self.value(value, depth)? else {
            return Ok(None);
        };
        Ok(Some(Members::replaced(source, map, read)))
    }

    /// The change from `source` to `value`, at nesting `depth`; an object matches its keys
    /// with the atoms in `keys`, shared with its siblings.
    fn diff<'s>(
        &self,
        value: &Value<'js>,
        source: &'s serde_json::Value,
        depth: usize,
        keys: &mut KeyAtoms<'s, 'js>,
    ) -> rquickjs::Result<Patch> {
        match (value.type_of(), source) {
            (Type::String, serde_json::Value::String(old)) => {
                if let Some(text) = value.as_string()
                    && text.clone().to_cstring()?.as_str() == old
                {
                    return Ok(Patch::Keep);
                }
            }
            (Type::Array, serde_json::Value::Array(old))
                if depth < MAX_DEPTH && !value.is_proxy() =>
            {
                if let Some(array) = value.as_array()
                    && !self.has_to_json(array.as_object())?
                {
                    return self.diff_items(array, old, depth);
                }
            }
            (Type::Object, serde_json::Value::Object(old)) if depth < MAX_DEPTH => {
                if let Some(object) = value.as_object()
                    && self.plain_prototype(object)?
                {
                    match self.diff_members(object, old.iter(), depth, keys, &Filter::default())? {
                        Some(members) if members.is_empty() => return Ok(Patch::Keep),
                        Some(members) => return Ok(Patch::Members(members)),
                        None => {}
                    }
                }
            }
            _ => {}
        }
        // Numbers, booleans and `null` convert without allocating; the rest changed shape.
        Ok(changed(source, self.value(value, depth)?))
    }

    /// The change from `source` to a member read back as `member`, at nesting `depth`.
    fn diff_member(
        &self,
        member: Member<'_, 'js>,
        source: &serde_json::Value,
        depth: usize,
    ) -> rquickjs::Result<Patch> {
        let new = match member {
            Member::Other(value) => return self.diff(&value, source, depth, &mut KeyAtoms::new()),
            Member::String(text) => match source {
                serde_json::Value::String(old) => match text.unless(old)? {
                    None => return Ok(Patch::Keep),
                    Some(new) => Some(serde_json::Value::String(new)),
                },
                _ => Some(serde_json::Value::String(text.to_string()?)),
            },
            primitive => self.member(primitive, depth)?,
        };
        Ok(changed(source, new))
    }

    /// The JSON of a member read back; `None` for what `JSON.stringify` leaves out.
    fn member(
        &self,
        member: Member<'_, 'js>,
        depth: usize,
    ) -> rquickjs::Result<Option<serde_json::Value>> {
        Ok(Some(match member {
            Member::Int(i) => serde_json::Value::from(i),
            Member::Float(f) => number(f),
            Member::Bool(b) => serde_json::Value::Bool(b),
            Member::Null => serde_json::Value::Null,
            Member::Undefined => return Ok(None),
            Member::String(text) => serde_json::Value::String(text.to_string()?),
            Member::Other(value) => return self.value(&value, depth),
        }))
    }

    /// The members of `object` (with a plain prototype) that differ from `source`'s entries;
    /// `None` if it has an own `toJSON`, so is not plain data. Keys are matched as atoms from
    /// `keys`, in `source`'s order first (objects keep the order their keys were added in).
    fn diff_members<'s>(
        &self,
        object: &Object<'js>,
        source: impl Iterator<Item = (&'s String, &'s serde_json::Value)>,
        depth: usize,
        keys: &mut KeyAtoms<'s, 'js>,
        filter: &Filter,
    ) -> rquickjs::Result<Option<Members>> {
        /// A member of `source`, its atom, and whether `object` still has it.
        struct Entry<'s> {
            old: &'s serde_json::Value,
            atom: qjs::JSAtom,
            found: bool,
        }
        let mut entries = Vec::with_capacity(source.size_hint().0);
        for (index, (key, old)) in source.enumerate() {
            entries.push(Entry {
                old,
                atom: keys.get(self.atoms, self.ctx, index, key)?,
                found: false,
            });
        }
        let mut members = Members::default();
        let mut next = 0;
        let mut read = raw::Members::new(self.ctx, object)?;
        while let Some(member) = read.next() {
            let (atom, item) = member?;
            if atom == raw::TO_JSON {
                return Ok(None);
            }
            let at = if entries.get(next).is_some_and(|e| e.atom == atom) {
                Some(next)
            } else {
                entries.iter().position(|e| e.atom == atom)
            };
            match at {
                Some(at) => {
                    next = at + 1;
                    let entry = &mut entries[at];
                    entry.found = true;
                    if !filter.wants(atom) {
                        continue;
                    }
                    match self.diff_member(item, entry.old, depth + 1)? {
                        Patch::Keep => {}
                        patch => members.changed.push((at, patch)),
                    }
                }
                None => {
                    if !filter.wants(atom) {
                        continue;
                    }
                    if let Some(item) = self.member(item, depth + 1)? {
                        let key = self.atoms.borrow_mut().name(self.ctx, atom)?;
                        members.added.push((key, item));
                    }
                }
            }
        }
        members.changed.extend(
            entries
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.found && filter.wants(e.atom))
                .map(|(index, _)| (index, Patch::Set(None))),
        );
        Ok(Some(members))
    }

    /// The items of plain array `array` that differ from `source`'s.
    fn diff_items(
        &self,
        array: &Array<'js>,
        source: &[serde_json::Value],
        depth: usize,
    ) -> rquickjs::Result<Patch> {
        let mut changed = Vec::new();
        let mut added = Vec::new();
        let mut len = 0;
        let mut item_keys = KeyAtoms::new();
        for (index, item) in array.iter::<Value>().enumerate() {
            let item = item?;
            len = index + 1;
            match source.get(index) {
                Some(old) => match self.diff(&item, old, depth + 1, &mut item_keys)? {
                    Patch::Keep => {}
                    Patch::Set(None) => {
                        changed.push((index, Patch::Set(Some(serde_json::Value::Null))))
                    }
                    patch => changed.push((index, patch)),
                },
                None => added.push(
                    self.value(&item, depth + 1)?
                        .unwrap_or(serde_json::Value::Null),
                ),
            }
        }
        Ok(if changed.is_empty() && len == source.len() {
            Patch::Keep
        } else {
            Patch::Items {
                changed,
                len,
                added,
            }
        })
    }

    /// Not a proxy, and a prototype that makes no difference to `JSON.stringify`:
    /// `Object.prototype` without a `toJSON`, or none. (An own `toJSON` is the caller's to
    /// check.)
    fn plain_prototype(&self, object: &Object<'js>) -> rquickjs::Result<bool> {
        if object.is_proxy() {
            return Ok(false);
        }
        match object.get_prototype() {
            None => Ok(true),
            Some(prototype) if prototype == *self.object_prototype => {
                let to_json = match self.prototype_to_json.get() {
                    Some(to_json) => to_json,
                    None => {
                        let to_json = self.has_to_json(self.object_prototype)?;
                        self.prototype_to_json.set(Some(to_json));
                        to_json
                    }
                };
                Ok(!to_json)
            }
            Some(_) => Ok(false),
        }
    }

    /// A plain data object: `Object.prototype` (or no prototype), no `toJSON`, not a proxy.
    fn is_plain(&self, object: &Object<'js>) -> rquickjs::Result<bool> {
        if object.is_proxy() {
            return Ok(false);
        }
        let plain_prototype = match object.get_prototype() {
            None => true,
            Some(prototype) => prototype == *self.object_prototype,
        };
        Ok(plain_prototype && !self.has_to_json(object)?)
    }

    fn has_to_json(&self, object: &Object<'js>) -> rquickjs::Result<bool> {
        Ok(!object
            .get::<_, Value>(PredefinedAtom::ToJSON)?
            .is_undefined())
    }

    /// The slow path: `JSON.stringify`, then parse.
    fn stringify(&self, value: &Value<'js>) -> rquickjs::Result<Option<serde_json::Value>> {
        let Some(text) = self.ctx.json_stringify(value.clone())? else {
            return Ok(None);
        };
        let text = text.to_string()?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            rquickjs::Exception::throw_internal(
                self.ctx,
                &format!("JSON.stringify produced unreadable JSON: {e}"),
            )
        })
    }
}

/// `new` (read back where `source` was) as a patch of `source`, number kinds kept: `Keep` if
/// it is the same JSON.
fn changed(source: &serde_json::Value, mut new: Option<serde_json::Value>) -> Patch {
    if let Some(new) = new.as_mut() {
        keep_number_kinds(source, new);
    }
    if new.as_ref() == Some(source) {
        Patch::Keep
    } else {
        Patch::Set(new)
    }
}

/// A change to a JSON value, read by [`ToJson::diff_object`].
#[derive(Debug, PartialEq)]
pub(crate) enum Patch {
    /// Unchanged.
    Keep,
    /// Replaced; `None` for what `JSON.stringify` leaves out, which removes an object member.
    Set(Option<serde_json::Value>),
    /// An object with some members changed.
    Members(Members),
    /// An array with some items changed: the changed items by index, the new length, and the
    /// items beyond the old length.
    Items {
        changed: Vec<(usize, Patch)>,
        len: usize,
        added: Vec<serde_json::Value>,
    },
}

impl Patch {
    /// Applies the change to the value it was read from.
    fn apply(self, target: &mut serde_json::Value) {
        match (self, target) {
            (Patch::Keep, _) => {}
            (Patch::Set(value), target) => *target = value.unwrap_or(serde_json::Value::Null),
            (Patch::Members(members), serde_json::Value::Object(map)) => members.apply(map),
            (
                Patch::Items {
                    changed,
                    len,
                    added,
                },
                serde_json::Value::Array(items),
            ) => {
                items.truncate(len);
                for (index, patch) in changed {
                    if let Some(item) = items.get_mut(index) {
                        patch.apply(item);
                    }
                }
                items.extend(added);
            }
            // A patch is applied to the value it was read from, whose shape it matches.
            (Patch::Members(_) | Patch::Items { .. }, _) => {}
        }
    }
}

/// Which members of the context object [`ToJson::diff_object`] reads back.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Read<'a> {
    /// A member left out (where lent records are, read with [`ToJson::diff_records`]).
    pub(crate) skip: Option<&'a str>,
    /// The only members read, if not all.
    pub(crate) only: Option<&'a [String]>,
}

/// [`Read`] as atoms, as [`ToJson::diff_members`] checks the members it meets.
#[derive(Debug, Default)]
struct Filter {
    skip: Option<qjs::JSAtom>,
    only: Option<Vec<qjs::JSAtom>>,
}

impl Read<'_> {
    fn wants(&self, key: &str) -> bool {
        Some(key) != self.skip && self.only.is_none_or(|only| only.iter().any(|k| k == key))
    }
}

impl Filter {
    fn wants(&self, atom: qjs::JSAtom) -> bool {
        Some(atom) != self.skip && self.only.as_ref().is_none_or(|only| only.contains(&atom))
    }
}

/// Keeps the number kinds of lent `records` in `value`, the JSON that replaced them, where it
/// still has a record's shape ([`keep_number_kinds`] per column).
fn keep_record_kinds(records: &Records, value: &mut serde_json::Value) {
    fn keep(row: &Row, item: &mut serde_json::Value) {
        if let serde_json::Value::Object(map) = item {
            for (key, new) in map.iter_mut() {
                if let Some((_, old)) = row.iter().find(|(name, _)| name == key) {
                    keep_number_kinds(old, new);
                }
            }
        }
    }
    match (records, value) {
        (Records::One(row), item) => keep(row, item),
        (Records::Many(rows), serde_json::Value::Array(items)) => {
            for (row, item) in rows.iter().zip(items) {
                keep(row, item);
            }
        }
        (Records::Many(_), _) => {}
    }
}

/// What the scripts did to lent records, read by [`ToJson::diff_records`].
#[derive(Debug, PartialEq)]
pub(crate) enum RecordsPatch {
    /// The changes to the one record.
    One(Members),
    /// The changed rows by index, the new number of rows, and the rows beyond the old number.
    Many {
        changed: Vec<(usize, Members)>,
        len: usize,
        added: Vec<Row>,
    },
    /// Not records any more: the JSON of what replaced them.
    Replaced(Option<serde_json::Value>),
}

impl RecordsPatch {
    /// Applies the changes to the records they were read from.
    pub(crate) fn apply(self, records: Records) -> RecordsBack {
        match (self, records) {
            (RecordsPatch::One(members), Records::One(mut row)) => {
                members.apply_row(&mut row);
                RecordsBack::Records(Records::One(row))
            }
            (
                RecordsPatch::Many {
                    changed,
                    len,
                    added,
                },
                Records::Many(mut rows),
            ) => {
                for (index, members) in changed {
                    if let Some(row) = rows.get_mut(index) {
                        members.apply_row(row);
                    }
                }
                rows.truncate(len);
                rows.extend(added);
                RecordsBack::Records(Records::Many(rows))
            }
            (RecordsPatch::Replaced(value), _) => RecordsBack::Replaced(value),
            // A patch is applied to the records it was read from, whose shape it matches.
            (RecordsPatch::One(_) | RecordsPatch::Many { .. }, records) => {
                RecordsBack::Records(records)
            }
        }
    }
}

/// The changes to an object's members: members of the source changed or removed (by their
/// place in the source's order), and members added (in the order the scripts added them).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Members {
    /// Changed members by index; `Patch::Set(None)` removes one.
    changed: Vec<(usize, Patch)>,
    added: Vec<(String, serde_json::Value)>,
}

impl Members {
    /// Whether nothing changed.
    fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty()
    }

    /// The change from `source`'s entries to `map`, read whole: every member `read` allows
    /// set anew (with the number kinds of `source` kept), those `map` lacks removed.
    fn replaced<'s>(
        source: impl Iterator<Item = (&'s String, &'s serde_json::Value)>,
        mut map: Map<String, serde_json::Value>,
        read: Read<'_>,
    ) -> Members {
        map.retain(|key, _| read.wants(key));
        let mut changed = Vec::new();
        for (index, (key, old)) in source.enumerate() {
            if !read.wants(key) {
                continue;
            }
            let patch = match map.remove(key) {
                Some(mut item) => {
                    keep_number_kinds(old, &mut item);
                    Patch::Set(Some(item))
                }
                None => Patch::Set(None),
            };
            changed.push((index, patch));
        }
        Members {
            changed,
            added: map.into_iter().collect(),
        }
    }

    /// Applies the changes to the object they were read from.
    pub(crate) fn apply(mut self, map: &mut Map<String, serde_json::Value>) {
        self.changed.sort_unstable_by_key(|(index, _)| *index);
        let mut changed = self.changed.into_iter().peekable();
        let mut removed = Vec::new();
        for (index, (key, item)) in map.iter_mut().enumerate() {
            while let Some((_, patch)) = changed.next_if(|(at, _)| *at == index) {
                match patch {
                    Patch::Set(None) => removed.push(key.clone()),
                    patch => patch.apply(item),
                }
            }
        }
        for key in removed {
            map.remove(&key);
        }
        map.extend(self.added);
    }

    /// Applies the changes to the record they were read from: changed members in place,
    /// removed ones gone, added ones at the end.
    pub(crate) fn apply_row(self, row: &mut Vec<(String, serde_json::Value)>) {
        let mut removed = Vec::new();
        for (index, patch) in self.changed {
            match patch {
                Patch::Set(None) => removed.push(index),
                patch => {
                    if let Some((_, item)) = row.get_mut(index) {
                        patch.apply(item);
                    }
                }
            }
        }
        if !removed.is_empty() {
            removed.sort_unstable();
            let mut index = 0;
            row.retain(|_| {
                let keep = removed.binary_search(&index).is_err();
                index += 1;
                keep
            });
        }
        row.extend(self.added);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;

    use super::{Patch, Read, ToJson, number, object};
    use crate::raw::{Atoms, KeyAtoms, build};
    use crate::schema::keep_number_kinds;
    use rquickjs::{Context, Ctx, Function, Object, Runtime};
    use serde_json::{Map, json};

    /// Runs `f` in a fresh runtime, with a key-atom cache that is dropped before it.
    pub(crate) fn in_context<R>(f: impl FnOnce(&Ctx<'_>, &RefCell<Atoms>) -> R) -> R {
        let runtime = Runtime::new().unwrap();
        let context = Context::full(&runtime).unwrap();
        let atoms = RefCell::new(Atoms::default());
        context.with(|ctx| f(&ctx, &atoms))
    }

    /// The message of the exception pending in `ctx`.
    fn pending_message(ctx: &Ctx<'_>) -> String {
        ctx.catch()
            .as_exception()
            .and_then(|e| e.message())
            .expect("an exception with a message is pending")
    }

    /// Builds the values of `source` and calls `script`, a function of them, on them.
    pub(crate) fn run_script<'js>(
        ctx: &Ctx<'js>,
        atoms: &RefCell<Atoms>,
        script: &str,
        source: &Map<String, serde_json::Value>,
    ) -> Object<'js> {
        let values = object(ctx, source, 0, atoms).unwrap();
        let function: Function = ctx.eval(script).unwrap();
        function.call::<_, ()>((values.clone(),)).unwrap();
        values
    }

    /// Runs `script` (a function of the values) on `source` and returns the values read back
    /// both ways: patched in place, and converted whole as before patches existed (then number
    /// kinds kept, as `apply_script` did). Also returns whether the patch was empty.
    fn patched_and_converted(
        script: &str,
        source: serde_json::Value,
    ) -> (serde_json::Value, serde_json::Value, bool) {
        in_context(|ctx, atoms| {
            let serde_json::Value::Object(mut map) = source.clone() else {
                panic!("the source is an object");
            };
            let values = run_script(ctx, atoms, script, &map);
            let prototype: Object = ctx.eval("Object.prototype").unwrap();
            let json = ToJson::new(ctx, &prototype, atoms);
            let values = values.into_value();
            let mut converted = json.convert(&values).unwrap().unwrap();
            keep_number_kinds(&source, &mut converted);
            let changes = json
                .diff_object(&values, &map, Read::default())
                .unwrap()
                .unwrap();
            let unchanged = changes.is_empty();
            changes.apply(&mut map);
            (serde_json::Value::Object(map), converted, unchanged)
        })
    }

    /// Asserts both ways give the same JSON, number kinds included, and returns it.
    fn same(script: &str, source: &serde_json::Value) -> serde_json::Value {
        let (patched, converted, _) = patched_and_converted(script, source.clone());
        assert_eq!(patched, converted, "{script}");
        assert_eq!(patched.to_string(), converted.to_string(), "{script}");
        patched
    }

    fn rows() -> serde_json::Value {
        json!({
            "response": [
                { "id": 1, "title": "Loft", "price": 1200.0, "area": 48.5, "country": "ua",
                  "listed": true, "meta": { "tags": ["a", "b"], "floor": 3, "ratio": 0.5 } },
                { "id": 2, "title": "Flat ✓", "price": 900.5, "area": 30.0, "country": null,
                  "listed": false, "meta": null },
                { "id": 3, "title": "Hut", "price": 10.0, "area": 0.0, "country": "pl",
                  "listed": true, "meta": [1, 2.5, { "x": 1.0 }] }
            ],
            "total": 3,
            "query": { "limit": 20, "sort": ["id"] },
            "user": { "id": 7, "role": "admin", "roles": ["admin"] }
        })
    }

    #[test]
    fn values_the_scripts_leave_alone_come_back_as_they_went_with_an_empty_patch() {
        for script in [
            "(v) => {}",
            "(v) => { for (const r of v.response) { r.price = r.price; r.title = `${r.title}`; } }",
            "(v) => { v.response[0].meta.tags = ['a', 'b']; v.total = 3.0; v.response[1].area = 30; }",
        ] {
            let (patched, converted, unchanged) = patched_and_converted(script, rows());
            assert!(unchanged, "{script}");
            assert_eq!(patched.to_string(), rows().to_string(), "{script}");
            // Whole conversion loses nothing either, once number kinds are kept.
            assert_eq!(converted.to_string(), rows().to_string(), "{script}");
        }
    }

    #[test]
    fn changed_added_and_deleted_keys_patch_as_a_whole_conversion_would() {
        let source = rows();
        let changed = same(
            "(v) => { for (const r of v.response) { if (typeof r.country === 'string') r.country = r.country.toUpperCase(); } }",
            &source,
        );
        assert_eq!(changed["response"][0]["country"], "UA");
        assert_eq!(changed["response"][2]["country"], "PL");
        let added = same(
            "(v) => { for (const r of v.response) r.per_m2 = r.area > 0 ? r.price / r.area : null; v.extra = { n: 1 }; }",
            &source,
        );
        assert_eq!(added["response"][1]["per_m2"], json!(900.5 / 30.0));
        assert!(added["response"][2]["per_m2"].is_null());
        assert_eq!(added["extra"], json!({ "n": 1 }));
        let deleted = same(
            "(v) => { delete v.response[1].title; delete v.user; v.response[0].listed = undefined; v.response[2].f = () => 1; }",
            &source,
        );
        assert!(deleted["response"][1].get("title").is_none());
        assert!(deleted.get("user").is_none());
        assert!(deleted["response"][0].get("listed").is_none());
        assert!(deleted["response"][2].get("f").is_none());
        assert_eq!(deleted["response"][2]["title"], "Hut");
    }

    #[test]
    fn replaced_removed_and_added_rows_patch_as_a_whole_conversion_would() {
        let source = rows();
        for script in [
            "(v) => { v.response[1] = { id: 9, price: 1 }; }",
            "(v) => { v.response = v.response.filter((r) => r.id !== 2); }",
            "(v) => { v.response.splice(0, 1); }",
            "(v) => { v.response.push({ id: 4, at: new Date(0) }, undefined); }",
            "(v) => { v.response.length = 1; }",
            "(v) => { v.response.reverse(); }",
            "(v) => { v.response = 'none'; v.total = null; }",
            "(v) => { v.response[0] = [v.response[0]]; }",
        ] {
            same(script, &source);
        }
        let filtered = same(
            "(v) => { v.response = v.response.filter((r) => r.listed); }",
            &source,
        );
        assert_eq!(filtered["response"].as_array().map(Vec::len), Some(2));
        assert_eq!(filtered["response"][1]["id"], 3);
    }

    #[test]
    fn number_kinds_are_kept_where_the_scripts_left_a_number() {
        let source = rows();
        let out = same(
            "(v) => { const r = v.response[0]; r.price = 1300; r.area = 48.75; r.id = 1.0; r.meta.ratio = 1; r.meta.floor = 3.5; v.total = 2; }",
            &source,
        );
        let row = &out["response"][0];
        // A float column stays a float when the script writes a whole number.
        assert!(row["price"].is_f64() && row["price"] == 1300.0);
        assert!(row["area"].is_f64());
        assert!(row["id"].is_i64());
        assert!(row["meta"]["ratio"].is_f64() && row["meta"]["ratio"] == 1.0);
        // An integer may become a float when the script writes one.
        assert!(row["meta"]["floor"].is_f64());
        assert!(out["total"].is_i64() && out["total"] == 2);
        // Untouched floats with no fractional part stay floats too.
        assert!(out["response"][1]["area"].is_f64() && out["response"][2]["price"].is_f64());
    }

    #[test]
    fn nested_json_columns_patch_at_any_depth() {
        let source = rows();
        let out = same(
            "(v) => { const m = v.response[0].meta; m.tags.push('c'); m.tags[0] = 'A'; m.deep = { k: [1, { z: 2 }] }; v.response[2].meta[2].x = 2; v.response[2].meta[1] = undefined; }",
            &source,
        );
        assert_eq!(out["response"][0]["meta"]["tags"], json!(["A", "b", "c"]));
        assert_eq!(
            out["response"][0]["meta"]["deep"],
            json!({ "k": [1, { "z": 2 }] })
        );
        assert_eq!(out["response"][2]["meta"], json!([1, null, { "x": 2.0 }]));
        assert!(out["response"][2]["meta"][2]["x"].is_f64());
    }

    #[test]
    fn exotic_values_left_by_scripts_patch_as_a_whole_conversion_would() {
        let source = rows();
        for script in [
            "(v) => { v.response[0].meta = new Map([[1, 2]]); v.response[1].at = new Date(0); }",
            "(v) => { v.response[0].meta.toJSON = () => 'replaced'; }",
            "(v) => { v.response.toJSON = () => []; }",
            "(v) => { class Row { constructor() { this.id = 5; } } v.response[0] = new Row(); }",
            "(v) => { Object.setPrototypeOf(v.response[1], { inherited: 1 }); }",
            "(v) => { v.response[0].meta = new Proxy({ a: 1 }, {}); v.response[2].n = NaN; }",
            "(v) => { Object.defineProperty(v.response[0], 'title', { enumerable: false }); }",
            "(v) => { v.response[0]['été'] = '✓'; v.response[1][7] = 'seven'; }",
            "(v) => { v.response[1].toJSON = () => ({ replaced: true }); }",
            "(v) => { v.response[1].toJSON = 'not a function'; }",
            "(v) => { Object.prototype.toJSON = function () { return { id: this.id }; }; }",
            "(v) => { const title = v.response[0].title; delete v.response[0].title; v.response[0].title = title; }",
            "(v) => { delete v.response[0].id; delete v.response[2].title; v.response[2].extra = [1]; }",
            "(v) => { Object.defineProperty(v.response[0], 'price', { get() { return 7.5; }, enumerable: true }); }",
            "(v) => { Object.defineProperty(v.response[1], 'id', { get() { delete this.title; return 9; }, enumerable: true }); }",
            "(v) => { v.response[0][Symbol('s')] = 1; v.response[1].title = v.response[1].title + '!'.repeat(300); }",
            "(v) => { v.response[2].title = ['H', 'u', 't'].join(''); v.response[0].title += ''; }",
        ] {
            same(script, &source);
        }
    }

    #[test]
    fn a_getter_that_throws_fails_the_read_back_and_leaves_the_values_alone() {
        in_context(|ctx, atoms| {
            let source = rows();
            let map = source.as_object().unwrap();
            let values = run_script(
                ctx,
                atoms,
                "(v) => { Object.defineProperty(v.response[1], 'area', { get() { throw new Error('no area'); }, enumerable: true }); }",
                map,
            );
            let prototype: Object = ctx.eval("Object.prototype").unwrap();
            let json = ToJson::new(ctx, &prototype, atoms);
            assert!(
                json.diff_object(&values.into_value(), map, Read::default())
                    .is_err()
            );
            let message = pending_message(ctx);
            assert_eq!(message, "no area");
        });
    }

    #[test]
    fn a_key_named_proto_is_plain_data_both_ways() {
        let source = json!({ "record": { "__proto__": { "polluted": true }, "id": 1 } });
        let untouched = same(
            "(v) => { if (v.record.polluted !== undefined) throw 0; }",
            &source,
        );
        assert_eq!(untouched, source);
        let changed = same("(v) => { v.record.__proto__ = 5; }", &source);
        assert_eq!(changed["record"]["__proto__"], 5);
        let deleted = same("(v) => { delete v.record.__proto__; }", &source);
        assert_eq!(deleted, json!({ "record": { "id": 1 } }));
    }

    #[test]
    fn a_patch_of_unchanged_values_is_empty_at_every_level() {
        in_context(|ctx, atoms| {
            let source = rows();
            let map = source.as_object().unwrap();
            let values = object(ctx, map, 0, atoms).unwrap().into_value();
            let prototype: Object = ctx.eval("Object.prototype").unwrap();
            let json = ToJson::new(ctx, &prototype, atoms);
            let row = values
                .as_object()
                .unwrap()
                .get::<_, rquickjs::Value>("response")
                .unwrap();
            let row = row.as_array().unwrap().get::<rquickjs::Value>(0).unwrap();
            assert_eq!(
                json.diff(&row, &source["response"][0], 2, &mut KeyAtoms::new())
                    .unwrap(),
                Patch::Keep
            );
        });
    }

    #[test]
    fn numbers_read_back_as_json_would() {
        assert_eq!(number(7.0), json!(7));
        assert!(number(7.0).is_i64());
        assert_eq!(number(-0.0), json!(0));
        assert!(number(2.5).is_f64());
        assert!(number(1e19).is_u64());
        assert!(number(1e300).is_f64());
        assert!(number(f64::NAN).is_null() && number(f64::INFINITY).is_null());
    }

    #[test]
    fn json_goes_in_and_comes_back_unchanged_and_dates_as_json_writes_them() {
        in_context(|ctx, atoms| {
            let value = json!({
                "int": 3, "big": 9_007_199_254_740_993_i64, "float": 2.5, "neg": -7,
                "text": "héllo ✓", "yes": true, "none": null,
                "list": [1, "two", [3.5], { "four": 4 }], "empty": {}
            });
            let js = build(ctx, &value, 0, atoms).unwrap();
            let prototype: Object = ctx.eval("Object.prototype").unwrap();
            let json = ToJson::new(ctx, &prototype, atoms);
            let mut back = json.convert(&js).unwrap().unwrap();
            // 2^53 + 1 is not a JavaScript number; it comes back rounded, as JSON.parse does.
            assert_eq!(back["big"], json!(9_007_199_254_740_992_i64));
            back["big"] = value["big"].clone();
            assert_eq!(back, value);

            let exotic = ctx
                .eval("({ at: new Date(0), f() {}, u: undefined, list: [undefined, () => 1], n: NaN, m: new Map([[1, 2]]) })")
                .unwrap();
            assert_eq!(
                json.convert(&exotic).unwrap().unwrap(),
                json!({ "at": "1970-01-01T00:00:00.000Z", "list": [null, null], "n": null, "m": {} })
            );

            let cyclic = ctx.eval("const c = { a: 1 }; c.self = c; c").unwrap();
            assert!(json.convert(&cyclic).is_err());
            ctx.catch();
        });
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_on_the_way_in() {
        let mut deep = json!(1);
        for _ in 0..300 {
            deep = json!([deep]);
        }
        in_context(|ctx, atoms| {
            assert!(build(ctx, &deep, 0, atoms).is_err());
            let message = pending_message(ctx);
            assert_eq!(message, "the hook context is nested deeper than 256 levels");
        });
    }
}
