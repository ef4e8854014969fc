//! The QuickJS calls behind the hot half of [`convert`](crate::convert), made directly.
//!
//! rquickjs's safe types hold a reference to their context: every `Value` or `Atom` made or
//! dropped also counts the context up or down, and a property read through `Object::props`
//! makes both for every member. A 20-row list hook reads and builds a few hundred members per
//! call, and those counts were a fifth of the call. This module builds JSON into JavaScript and
//! reads plain members back with raw `JSValue`s and `JSAtom`s, and hands out safe values
//! ([`Value`]) only for what the callers convert the slow way (objects, arrays, exotic values).
//!
//! Every raw value here is owned by exactly one place: a value returned by QuickJS is either
//! given to a call that takes it (`JS_DefinePropertyValue`, `JS_NewArrayFrom`), wrapped in a
//! [`Value`] (which frees it), or freed before the function returns, on every path. An atom of
//! a key is owned by the [`Atoms`] of a runtime's [`Quickjs`] (freed before its runtime, see
//! there) or, past its bound, by the call's [`KeyAtoms`] (freed when it drops).

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_char;
use std::ptr;

use foldhash::fast::RandomState;

use rquickjs::{Context, Ctx, Error, Exception, Object, Runtime, Value, qjs};

use crate::lend::{Records, Row};

/// Nesting deeper than this is refused on the way in (as `JSON.parse` of the context would
/// reach a recursion limit), and goes through `JSON.stringify` on the way back.
pub(crate) const MAX_DEPTH: usize = 256;

/// Keys a worker keeps atoms for across calls ([`Atoms`]), and the longest key kept: enough
/// for the columns of every table of an application, bounded so that keys made up by data
/// (JSON columns with generated keys) cannot grow a worker's memory without end.
const CACHED_KEYS: usize = 4096;
const CACHED_KEY_LEN: usize = 64;

/// The atoms of object keys a worker has converted, kept across its calls: the same columns
/// come back call after call, and making an atom (hashing the key, looking it up in the
/// runtime's table) and freeing it again was a tenth of a list hook's conversion. Also keeps
/// the names of atoms read back (keys the scripts added), so each is read out of QuickJS once.
///
/// Each entry holds one reference to its atom, so an atom number cannot be reused for another
/// key while cached. Must be dropped before its runtime is freed: an engine's is owned by a
/// [`Quickjs`], whose field order guarantees it.
#[derive(Default)]
pub(crate) struct Atoms {
    /// The runtime the atoms belong to, set with the first one kept.
    runtime: Option<ptr::NonNull<qjs::JSRuntime>>,
    keys: HashMap<Box<str>, qjs::JSAtom, RandomState>,
    names: HashMap<qjs::JSAtom, Box<str>, RandomState>,
}

impl Atoms {
    /// The atom of `key`, and whether this cache keeps it (else the caller owns it).
    fn atom(&mut self, ctx: &Ctx<'_>, key: &str) -> rquickjs::Result<(qjs::JSAtom, bool)> {
        if let Some(atom) = self.keys.get(key) {
            return Ok((*atom, true));
        }
        let raw = ctx.as_raw().as_ptr();
        // SAFETY: `raw` is a live context; the bytes are valid for `key.len()`.
        let atom = unsafe {
            qjs::JS_NewAtomLen(raw, key.as_ptr().cast::<c_char>(), key.len() as qjs::size_t)
        };
        if atom == qjs::JS_ATOM_NULL {
            return Err(Error::Exception);
        }
        let keep = self.keys.len() < CACHED_KEYS && key.len() <= CACHED_KEY_LEN;
        if keep {
            self.set_runtime(raw);
            self.keys.insert(Box::from(key), atom);
        }
        Ok((atom, keep))
    }

    /// The string of a live atom.
    pub(crate) fn name(&mut self, ctx: &Ctx<'_>, atom: qjs::JSAtom) -> rquickjs::Result<String> {
        if let Some(name) = self.names.get(&atom) {
            return Ok(String::from(&**name));
        }
        let raw = ctx.as_raw().as_ptr();
        let mut len = 0;
        // SAFETY: `atom` is live (the caller holds it); the buffer is freed below.
        let text = unsafe { qjs::JS_AtomToCStringLen(raw, &mut len, atom) };
        if text.is_null() {
            return Err(Error::Exception);
        }
        // SAFETY: the buffer holds `len` bytes until freed.
        let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len as usize) };
        let name = std::str::from_utf8(bytes).map(str::to_owned);
        // SAFETY: `text` came from `JS_AtomToCStringLen` and is freed once.
        unsafe { qjs::JS_FreeCString(raw, text) };
        let name = name.map_err(Error::from)?;
        if self.names.len() < CACHED_KEYS && name.len() <= CACHED_KEY_LEN {
            self.set_runtime(raw);
            // SAFETY: `atom` is live; the new reference is owned by the entry.
            let atom = unsafe { qjs::JS_DupAtom(raw, atom) };
            self.names.insert(atom, Box::from(name.as_str()));
        }
        Ok(name)
    }

    fn set_runtime(&mut self, ctx: *mut qjs::JSContext) {
        if self.runtime.is_none() {
            // SAFETY: `ctx` is a live context.
            self.runtime = ptr::NonNull::new(unsafe { qjs::JS_GetRuntime(ctx) });
        }
    }
}

impl Drop for Atoms {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime else {
            return;
        };
        let atoms = self.keys.drain().map(|(_, atom)| atom);
        for atom in atoms.chain(self.names.drain().map(|(atom, _)| atom)) {
            // SAFETY: each entry owns one reference to an atom of this runtime, which is
            // still alive: the cache drops before its runtime (the field order of `Quickjs`).
            unsafe { qjs::JS_FreeAtomRT(runtime.as_ptr(), atom) };
        }
    }
}

/// A QuickJS runtime, its context, the [`Atoms`] cached for it, and `T`: what its owner keeps
/// in the context across calls (compiled scripts, [`Persistent`](rquickjs::Persistent)
/// values). They are made and freed together, so that they are freed in the one sound order:
///
/// 1. `kept`: persistent values hold their context but not its runtime, so they must go
///    while the runtime lives;
/// 2. `atoms`: [`Atoms`]' `Drop` frees each atom with `JS_FreeAtomRT` on the runtime, which
///    must still be alive (its SAFETY comment relies on this);
/// 3. `context`, then `runtime` (the context holds the runtime too, so QuickJS frees the
///    runtime when the last of them goes).
///
/// Rust drops fields in declaration order, and the fields are private, so nothing outside this
/// file can reorder, move out or replace them: the order below *is* the invariant.
pub(crate) struct Quickjs<T> {
    // Declaration order is drop order: see the type's doc before reordering.
    kept: T,
    atoms: RefCell<Atoms>,
    context: Context,
    runtime: Runtime,
}

/// The parts of a [`Quickjs`] borrowed at once, for a call on its context.
pub(crate) struct Parts<'a, T> {
    pub(crate) kept: &'a mut T,
    pub(crate) atoms: &'a RefCell<Atoms>,
    pub(crate) context: &'a Context,
}

impl<T> Quickjs<T> {
    /// Owns `runtime`, `context` (a context of `runtime`) and `kept` (values of that context),
    /// with an empty atom cache.
    pub(crate) fn new(runtime: Runtime, context: Context, kept: T) -> Self {
        Quickjs {
            kept,
            atoms: RefCell::default(),
            context,
            runtime,
        }
    }

    /// The runtime (for its limits, memory figures and garbage collection).
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The kept values, the atom cache and the context, borrowed together.
    pub(crate) fn parts(&mut self) -> Parts<'_, T> {
        Parts {
            kept: &mut self.kept,
            atoms: &self.atoms,
            context: &self.context,
        }
    }
}

/// The atoms of the keys of sibling objects, by position: the rows of a list share their
/// keys, so each key is looked up once per list (not once per row) and matched as an integer
/// after. Making one costs nothing until a key is asked for.
pub(crate) struct KeyAtoms<'s, 'js> {
    /// The context of the atoms this owns (those [`Atoms`] did not keep).
    ctx: Option<Ctx<'js>>,
    atoms: Vec<(&'s str, qjs::JSAtom)>,
    owned: Vec<qjs::JSAtom>,
}

impl<'s, 'js> KeyAtoms<'s, 'js> {
    /// Atoms for one object's keys.
    pub(crate) fn new() -> Self {
        KeyAtoms {
            ctx: None,
            atoms: Vec::new(),
            owned: Vec::new(),
        }
    }

    /// The atom of `key`, the `index`th key of its object (keys are asked for in order).
    pub(crate) fn get(
        &mut self,
        cache: &RefCell<Atoms>,
        ctx: &Ctx<'js>,
        index: usize,
        key: &'s str,
    ) -> rquickjs::Result<qjs::JSAtom> {
        if let Some((cached, atom)) = self.atoms.get(index)
            && *cached == key
        {
            return Ok(*atom);
        }
        let (atom, kept) = cache.borrow_mut().atom(ctx, key)?;
        if !kept {
            self.ctx.get_or_insert_with(|| ctx.clone());
            self.owned.push(atom);
        }
        match self.atoms.get_mut(index) {
            Some(slot) => *slot = (key, atom),
            None => self.atoms.push((key, atom)),
        }
        Ok(atom)
    }
}

impl Drop for KeyAtoms<'_, '_> {
    fn drop(&mut self) {
        let Some(ctx) = &self.ctx else {
            return;
        };
        let ctx = ctx.as_raw().as_ptr();
        for atom in self.owned.drain(..) {
            // SAFETY: each atom was made on this context and is owned here.
            unsafe { qjs::JS_FreeAtom(ctx, atom) };
        }
    }
}

/// Builds the JavaScript value of a JSON value, as `JSON.parse` would. Members and items are
/// *defined*, so a setter a script left on `Object.prototype` or `Array.prototype` is not
/// called and a key named `__proto__` is a key.
#[cfg(test)]
pub(crate) fn build<'js>(
    ctx: &Ctx<'js>,
    value: &serde_json::Value,
    depth: usize,
    atoms: &RefCell<Atoms>,
) -> rquickjs::Result<Value<'js>> {
    let raw = build_raw(ctx, value, depth, &mut KeyAtoms::new(), atoms)?;
    // SAFETY: `raw` is an owned value of this context, handed to the `Value` that frees it.
    Ok(unsafe { Value::from_raw(ctx.clone(), raw) })
}

/// Builds the JavaScript object of a JSON object.
pub(crate) fn members<'js>(
    ctx: &Ctx<'js>,
    map: &serde_json::Map<String, serde_json::Value>,
    depth: usize,
    atoms: &RefCell<Atoms>,
) -> rquickjs::Result<Object<'js>> {
    let raw = members_raw(ctx, map.iter(), depth, &mut KeyAtoms::new(), atoms, None)?;
    // SAFETY: as in `build`; the value is an object.
    let value = unsafe { Value::from_raw(ctx.clone(), raw) };
    Ok(value.into_object().expect("JS_NewObject makes an object"))
}

/// An owned raw value, freed on drop unless taken.
struct Owned<'a, 'js> {
    ctx: &'a Ctx<'js>,
    value: qjs::JSValue,
}

impl Owned<'_, '_> {
    fn take(self) -> qjs::JSValue {
        let value = self.value;
        std::mem::forget(self);
        value
    }
}

impl Drop for Owned<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: the value is owned here and freed once.
        unsafe { qjs::JS_FreeValue(self.ctx.as_raw().as_ptr(), self.value) };
    }
}

/// Owned raw values, freed on drop unless taken.
struct OwnedValues<'a, 'js> {
    ctx: &'a Ctx<'js>,
    values: Vec<qjs::JSValue>,
}

impl OwnedValues<'_, '_> {
    fn take(mut self) -> Vec<qjs::JSValue> {
        std::mem::take(&mut self.values)
    }
}

impl Drop for OwnedValues<'_, '_> {
    fn drop(&mut self) {
        for value in self.values.drain(..) {
            // SAFETY: each value is owned here and freed once.
            unsafe { qjs::JS_FreeValue(self.ctx.as_raw().as_ptr(), value) };
        }
    }
}

/// `value` if it is not the exception marker.
fn checked(value: qjs::JSValue) -> rquickjs::Result<qjs::JSValue> {
    // SAFETY: reading a tag has no preconditions.
    if unsafe { qjs::JS_IsException(value) } {
        Err(Error::Exception)
    } else {
        Ok(value)
    }
}

/// Builds `value`; an object takes its keys' atoms from `keys`, shared with its siblings.
fn build_raw<'s, 'js>(
    ctx: &Ctx<'js>,
    value: &'s serde_json::Value,
    depth: usize,
    keys: &mut KeyAtoms<'s, 'js>,
    atoms: &RefCell<Atoms>,
) -> rquickjs::Result<qjs::JSValue> {
    if depth > MAX_DEPTH {
        return Err(Exception::throw_range(
            ctx,
            &format!("the hook context is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let raw = ctx.as_raw().as_ptr();
    Ok(match value {
        serde_json::Value::Null => qjs::JS_NULL,
        serde_json::Value::Bool(true) => qjs::JS_TRUE,
        serde_json::Value::Bool(false) => qjs::JS_FALSE,
        serde_json::Value::Number(n) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => qjs::JS_MKVAL(qjs::JS_TAG_INT, i),
            None => qjs::JS_NewFloat64(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => {
            // SAFETY: `raw` is the live context; the bytes are valid UTF-8 of `s.len()`.
            checked(unsafe {
                qjs::JS_NewStringLen(raw, s.as_ptr().cast::<c_char>(), s.len() as qjs::size_t)
            })?
        }
        serde_json::Value::Array(items) => {
            let count = i32::try_from(items.len()).map_err(|_| {
                Exception::throw_range(ctx, "the hook context has an array too long")
            })?;
            let values = match rows(items) {
                Some(rows) => rows_raw(
                    ctx,
                    rows[0].keys(),
                    rows.iter().map(|row| row.values()).collect(),
                    depth + 1,
                    atoms,
                    None,
                    None,
                )?,
                None => {
                    let mut values = OwnedValues {
                        ctx,
                        values: Vec::with_capacity(items.len()),
                    };
                    let mut item_keys = KeyAtoms::new();
                    for item in items {
                        let item = build_raw(ctx, item, depth + 1, &mut item_keys, atoms)?;
                        values.values.push(item);
                    }
                    values
                }
            }
            .take();
            // SAFETY: `raw` is the live context; the call takes every value (and frees them
            // if it fails), so they are not freed here.
            checked(unsafe { qjs::JS_NewArrayFrom(raw, count, values.as_ptr()) })?
        }
        serde_json::Value::Object(map) => members_raw(ctx, map.iter(), depth, keys, atoms, None)?,
    })
}

/// The items of `items` as rows: objects that all have the keys of the first, in its order.
/// `None` for anything else (and for fewer than two items, where it would not matter).
fn rows(items: &[serde_json::Value]) -> Option<Vec<&serde_json::Map<String, serde_json::Value>>> {
    let first = items.first()?.as_object()?;
    if items.len() < 2 {
        return None;
    }
    let mut rows = Vec::with_capacity(items.len());
    for item in items {
        let map = item.as_object()?;
        if map.len() != first.len() || !map.keys().eq(first.keys()) {
            return None;
        }
        rows.push(map);
    }
    Some(rows)
}

/// Builds rows of the same keys column by column: every row gets its first member, then
/// every row its second, and so on. Each object ends with the members in its map's order, as
/// [`members_raw`] would build it. QuickJS changes an object's shape in place while the
/// object alone holds it, so rows built one after another each grow a shape of their own;
/// rows built together take each step to a shape the first of them made, found in the
/// runtime's shape table. For a list of 20 rows of 7 columns that saves about 38k of the
/// 1 040k instructions of a list request with script hooks (BENCHMARKS.md § Server under
/// load).
///
/// With `object_prototype` (the prototype the rows get), a key it does not have is *set*,
/// not defined: on a plain object whose prototype chain lacks the key, setting it adds the
/// same writable, enumerable, configurable data property, with nothing to run, and skips
/// the generic checks of defining (about 130 instructions a member). `built` records the
/// atoms and values, as [`Built`] tells.
fn rows_raw<'a, 's, 'js, V>(
    ctx: &'a Ctx<'js>,
    keys: impl Iterator<Item = &'s String>,
    mut columns: Vec<V>,
    depth: usize,
    atoms: &RefCell<Atoms>,
    mut built: Option<&mut Built<'js>>,
    object_prototype: Option<&Object<'js>>,
) -> rquickjs::Result<OwnedValues<'a, 'js>>
where
    V: Iterator<Item = &'s serde_json::Value>,
{
    if depth > MAX_DEPTH {
        return Err(Exception::throw_range(
            ctx,
            &format!("the hook context is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let raw = ctx.as_raw().as_ptr();
    let mut objects = OwnedValues {
        ctx,
        values: Vec::with_capacity(columns.len()),
    };
    for _ in &columns {
        // SAFETY: `raw` is the live context.
        objects
            .values
            .push(checked(unsafe { qjs::JS_NewObject(raw) })?);
    }
    let mut key_atoms = KeyAtoms::new();
    // Every row has the keys in this order: the rows' values are read side by side, one
    // column at a time.
    for (index, key) in keys.enumerate() {
        let atom = key_atoms.get(atoms, ctx, index, key)?;
        if let Some(built) = built.as_deref_mut() {
            built.keep_atom(atom);
        }
        let set = match object_prototype {
            // SAFETY: the prototype is a live object and `atom` a live atom; no descriptor is
            // asked for, so nothing is handed back to free.
            Some(prototype) => match unsafe {
                qjs::JS_GetOwnProperty(raw, ptr::null_mut(), prototype.as_raw(), atom)
            } {
                0 => true,
                1 => false,
                _ => return Err(Error::Exception),
            },
            None => false,
        };
        for (row, (values, object)) in columns.iter_mut().zip(&objects.values).enumerate() {
            let Some(item) = values.next() else { continue };
            let item = build_raw(ctx, item, depth + 1, &mut KeyAtoms::new(), atoms)?;
            if let Some(built) = built.as_deref_mut() {
                built.keep_value(row, index, item);
            }
            let flags = (qjs::JS_PROP_C_W_E | qjs::JS_PROP_THROW) as i32;
            // SAFETY: `object` is a live object owned by `objects`, `atom` a live atom (held
            // by `key_atoms` or `atoms`); `item` is owned and taken by either call.
            let added = unsafe {
                if set {
                    qjs::JS_SetProperty(raw, *object, atom, item)
                } else {
                    qjs::JS_DefinePropertyValue(raw, *object, atom, item, flags)
                }
            };
            if added < 0 {
                return Err(Error::Exception);
            }
        }
    }
    Ok(objects)
}

/// A row's members as a map's iterator gives them.
fn pairs(row: &Row) -> impl Iterator<Item = (&String, &serde_json::Value)> + Clone {
    row.iter().map(|(key, item)| (key, item))
}

/// Builds lent `records` and defines them as `object`'s member `key`, as if the records were
/// JSON objects among the values [`members`] built `object` from. Returns the atoms and
/// values the records were built with, when they are one record or rows of the same keys
/// (distinct, and none of them `toJSON`), for [`Built::holds`] when they are read back.
pub(crate) fn define_records<'js>(
    ctx: &Ctx<'js>,
    object: &Object<'js>,
    key: &str,
    records: &Records,
    atoms: &RefCell<Atoms>,
    object_prototype: &Object<'js>,
) -> rquickjs::Result<Option<Built<'js>>> {
    let raw = ctx.as_raw().as_ptr();
    let (value, built) = match records {
        Records::One(row) => {
            let mut built = Built::new(ctx, 1, row.len());
            let pairs = pairs(row);
            let value = members_raw(ctx, pairs, 1, &mut KeyAtoms::new(), atoms, Some(&mut built))?;
            (value, Some(built))
        }
        Records::Many(rows) => {
            let count = i32::try_from(rows.len()).map_err(|_| {
                Exception::throw_range(ctx, "the hook context has an array too long")
            })?;
            let (values, built) = match rows.first() {
                Some(first)
                    if rows.iter().all(|row| {
                        row.len() == first.len()
                            && row.iter().zip(first).all(|((a, _), (b, _))| a == b)
                    }) =>
                {
                    let mut built = Built::new(ctx, rows.len(), first.len());
                    let columns = rows
                        .iter()
                        .map(|row| row.iter().map(|(_, item)| item))
                        .collect();
                    let keys = first.iter().map(|(key, _)| key);
                    let (built_with, prototype) = (Some(&mut built), Some(object_prototype));
                    let values = rows_raw(ctx, keys, columns, 2, atoms, built_with, prototype)?;
                    (values, Some(built))
                }
                _ => {
                    let mut values = OwnedValues {
                        ctx,
                        values: Vec::with_capacity(rows.len()),
                    };
                    let mut row_keys = KeyAtoms::new();
                    for row in rows {
                        let row = members_raw(ctx, pairs(row), 2, &mut row_keys, atoms, None)?;
                        values.values.push(row);
                    }
                    (values, None)
                }
            };
            let values = values.take();
            // SAFETY: `raw` is the live context; the call takes every value (and frees them
            // if it fails).
            let array = checked(unsafe { qjs::JS_NewArrayFrom(raw, count, values.as_ptr()) })?;
            (array, built)
        }
    };
    let value = Owned { ctx, value };
    let atom = KeyAtoms::new().get(atoms, ctx, 0, key)?;
    let flags = (qjs::JS_PROP_C_W_E | qjs::JS_PROP_THROW) as i32;
    // SAFETY: `object` is a live object, `atom` a live atom (held by the `KeyAtoms` until the
    // end of this statement, or by `atoms`); the value is owned and taken by the call.
    if unsafe { qjs::JS_DefinePropertyValue(raw, object.as_raw(), atom, value.take(), flags) } < 0 {
        return Err(Error::Exception);
    }
    Ok(built.filter(Built::readable))
}

fn members_raw<'s, 'js>(
    ctx: &Ctx<'js>,
    members: impl Iterator<Item = (&'s String, &'s serde_json::Value)>,
    depth: usize,
    keys: &mut KeyAtoms<'s, 'js>,
    atoms: &RefCell<Atoms>,
    mut built: Option<&mut Built<'js>>,
) -> rquickjs::Result<qjs::JSValue> {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `raw` is the live context.
    let object = Owned {
        ctx,
        value: checked(unsafe { qjs::JS_NewObject(raw) })?,
    };
    for (index, (key, item)) in members.enumerate() {
        let atom = keys.get(atoms, ctx, index, key)?;
        let item = build_raw(ctx, item, depth + 1, &mut KeyAtoms::new(), atoms)?;
        if let Some(built) = built.as_deref_mut() {
            built.keep_atom(atom);
            built.keep_value(0, index, item);
        }
        let flags = (qjs::JS_PROP_C_W_E | qjs::JS_PROP_THROW) as i32;
        // SAFETY: `object.value` is a live object, `atom` a live atom (held by `keys` or
        // `atoms`); `item` is owned and taken by the call.
        if unsafe { qjs::JS_DefinePropertyValue(raw, object.value, atom, item, flags) } < 0 {
            return Err(Error::Exception);
        }
    }
    Ok(object.take())
}

/// The atoms and values lent records were built with, kept until they are read back: a
/// member that still holds the very value it was built with is unchanged, and
/// [`Built::holds`] tells so from the value itself, without reading a string out of QuickJS
/// or converting a number. Holds a reference to each atom and string it keeps, so that
/// neither can be freed and its address taken by a value a script made; drops them with
/// itself.
pub(crate) struct Built<'js> {
    ctx: Ctx<'js>,
    /// The keys every record has, in order.
    atoms: Vec<qjs::JSAtom>,
    width: usize,
    /// Record after record, one value per key: a string, or a number, boolean or `null`, as
    /// built; `undefined` for anything else (objects and arrays change inside, so they are
    /// compared member by member).
    values: Vec<qjs::JSValue>,
}

impl<'js> Built<'js> {
    fn new(ctx: &Ctx<'js>, records: usize, width: usize) -> Self {
        Built {
            ctx: ctx.clone(),
            atoms: Vec::with_capacity(width),
            width,
            values: vec![qjs::JS_UNDEFINED; records * width],
        }
    }

    fn keep_atom(&mut self, atom: qjs::JSAtom) {
        // SAFETY: `atom` is live; the new reference is owned here, freed on drop.
        let atom = unsafe { qjs::JS_DupAtom(self.ctx.as_raw().as_ptr(), atom) };
        self.atoms.push(atom);
    }

    fn keep_value(&mut self, record: usize, column: usize, value: qjs::JSValue) {
        // SAFETY: reading the tag of a live value; a string kept gets a reference of its own,
        // owned here and freed on drop.
        let kept = unsafe {
            match qjs::JS_VALUE_GET_TAG(value) {
                qjs::JS_TAG_STRING => qjs::JS_DupValue(self.ctx.as_raw().as_ptr(), value),
                qjs::JS_TAG_INT | qjs::JS_TAG_FLOAT64 | qjs::JS_TAG_BOOL | qjs::JS_TAG_NULL => {
                    value
                }
                _ => return,
            }
        };
        self.values[record * self.width + column] = kept;
    }

    /// Every key was kept, each once, and none is `toJSON` (which would make the records
    /// something other than plain data, read the slow way).
    fn readable(&self) -> bool {
        self.atoms.len() == self.width
            && self
                .atoms
                .iter()
                .enumerate()
                .all(|(index, atom)| *atom != TO_JSON && !self.atoms[..index].contains(atom))
    }

    /// The number of keys of each record.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// The number of records.
    pub(crate) fn records(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    /// The atom of the `column`th key.
    pub(crate) fn atom(&self, column: usize) -> qjs::JSAtom {
        self.atoms[column]
    }

    /// Whether `member`, read back from the `column`th key of the `record`th record, is the
    /// value it was built with (the same string, or an equal number, boolean or `null`).
    pub(crate) fn holds(&self, record: usize, column: usize, member: &Member<'_, 'js>) -> bool {
        let kept = self.values[record * self.width + column];
        // SAFETY: reading the tag and payload of a value whose tag says what it holds.
        unsafe {
            match (qjs::JS_VALUE_GET_TAG(kept), member) {
                (qjs::JS_TAG_INT, Member::Int(i)) => qjs::JS_VALUE_GET_INT(kept) == *i,
                (qjs::JS_TAG_FLOAT64, Member::Float(f)) => {
                    qjs::JS_VALUE_GET_FLOAT64(kept).to_bits() == f.to_bits()
                }
                (qjs::JS_TAG_BOOL, Member::Bool(b)) => (qjs::JS_VALUE_GET_INT(kept) != 0) == *b,
                (qjs::JS_TAG_NULL, Member::Null) => true,
                (qjs::JS_TAG_STRING, Member::String(text)) => {
                    qjs::JS_VALUE_GET_PTR(kept) == qjs::JS_VALUE_GET_PTR(text.value)
                }
                _ => false,
            }
        }
    }
}

impl Drop for Built<'_> {
    fn drop(&mut self) {
        let raw = self.ctx.as_raw().as_ptr();
        for atom in self.atoms.drain(..) {
            // SAFETY: each atom's reference is owned here and freed once.
            unsafe { qjs::JS_FreeAtom(raw, atom) };
        }
        for value in self.values.drain(..) {
            // SAFETY: each value kept is owned here (a string by its own reference) and freed
            // once; the others are not counted.
            unsafe { qjs::JS_FreeValue(raw, value) };
        }
    }
}

/// A member's value as read back: JSON-like primitives without a safe wrapper, the rest as a
/// [`Value`].
pub(crate) enum Member<'a, 'js> {
    Int(i32),
    Float(f64),
    Bool(bool),
    Null,
    /// `undefined`, which `JSON.stringify` leaves out.
    Undefined,
    String(Text<'a, 'js>),
    Other(Value<'js>),
}

/// A JavaScript string value, owned.
pub(crate) struct Text<'a, 'js> {
    ctx: &'a Ctx<'js>,
    value: qjs::JSValue,
}

impl Text<'_, '_> {
    /// The string, unless it is `old` (as UTF-8: a string with a lone surrogate is never
    /// equal): read out of QuickJS once either way.
    pub(crate) fn unless(&self, old: &str) -> rquickjs::Result<Option<String>> {
        self.with_bytes(|bytes| {
            if bytes == old.as_bytes() {
                return Ok(None);
            }
            std::str::from_utf8(bytes).map(|text| Some(text.to_owned()))
        })?
        .map_err(Error::from)
    }

    /// The string, as `rquickjs::String::to_string` gives it.
    pub(crate) fn to_string(&self) -> rquickjs::Result<String> {
        self.with_bytes(|bytes| std::str::from_utf8(bytes).map(str::to_owned))?
            .map_err(Error::from)
    }

    fn with_bytes<T>(&self, f: impl FnOnce(&[u8]) -> T) -> rquickjs::Result<T> {
        let raw = self.ctx.as_raw().as_ptr();
        let mut len = 0;
        // SAFETY: `self.value` is a live string; the returned buffer holds `len` bytes until
        // it is freed below.
        let text = unsafe { qjs::JS_ToCStringLen(raw, &mut len, self.value) };
        if text.is_null() {
            return Err(Error::Exception);
        }
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len) };
        let result = f(bytes);
        // SAFETY: `text` came from `JS_ToCStringLen` and is freed once.
        unsafe { qjs::JS_FreeCString(raw, text) };
        Ok(result)
    }
}

impl Drop for Text<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: the string is owned here and freed once.
        unsafe { qjs::JS_FreeValue(self.ctx.as_raw().as_ptr(), self.value) };
    }
}

/// Classifies an owned raw value.
fn member<'a, 'js>(ctx: &'a Ctx<'js>, value: qjs::JSValue) -> Member<'a, 'js> {
    // SAFETY: reading the tag and payload of a value whose tag says what it holds.
    unsafe {
        match qjs::JS_VALUE_GET_TAG(value) {
            qjs::JS_TAG_INT => Member::Int(qjs::JS_VALUE_GET_INT(value)),
            qjs::JS_TAG_FLOAT64 => Member::Float(qjs::JS_VALUE_GET_FLOAT64(value)),
            qjs::JS_TAG_BOOL => Member::Bool(qjs::JS_VALUE_GET_INT(value) != 0),
            qjs::JS_TAG_NULL => Member::Null,
            qjs::JS_TAG_UNDEFINED => Member::Undefined,
            qjs::JS_TAG_STRING => Member::String(Text { ctx, value }),
            _ => Member::Other(Value::from_raw(ctx.clone(), value)),
        }
    }
}

/// The own enumerable string-keyed members of an object, in property order (as
/// `Object.keys`): each key's atom, valid while this lives, and its value, read with `[[Get]]`
/// (so a getter runs, as `JSON.stringify` would run it).
pub(crate) struct Members<'a, 'js> {
    ctx: &'a Ctx<'js>,
    object: &'a Object<'js>,
    table: *mut qjs::JSPropertyEnum,
    len: u32,
    next: u32,
}

impl<'a, 'js> Members<'a, 'js> {
    pub(crate) fn new(ctx: &'a Ctx<'js>, object: &'a Object<'js>) -> rquickjs::Result<Self> {
        let mut table = ptr::null_mut();
        let mut len = 0;
        let flags = (qjs::JS_GPN_STRING_MASK | qjs::JS_GPN_ENUM_ONLY) as i32;
        // SAFETY: `object` is a live object of this context; on success the table is owned
        // by the returned value and freed on drop.
        if unsafe {
            qjs::JS_GetOwnPropertyNames(
                ctx.as_raw().as_ptr(),
                &mut table,
                &mut len,
                object.as_raw(),
                flags,
            )
        } < 0
        {
            return Err(Error::Exception);
        }
        Ok(Members {
            ctx,
            object,
            table,
            len,
            next: 0,
        })
    }

    /// The number of members.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The atom of the `index`th member's key (below [`Members::len`]), without reading its
    /// value.
    pub(crate) fn atom(&self, index: usize) -> qjs::JSAtom {
        assert!(index < self.len(), "a member past the end");
        // SAFETY: `index < len`, so the entry is inside the table this owns.
        unsafe { (*self.table.add(index)).atom }
    }

    /// The next member: its key's atom and its value.
    pub(crate) fn next(&mut self) -> Option<rquickjs::Result<(qjs::JSAtom, Member<'a, 'js>)>> {
        if self.next >= self.len {
            return None;
        }
        // SAFETY: `next < len`, so the entry is inside the table this owns.
        let atom = unsafe { (*self.table.add(self.next as usize)).atom };
        self.next += 1;
        // SAFETY: the object and the atom are live; the result is owned and handed to
        // `member`, which wraps or classifies it.
        let value =
            unsafe { qjs::JS_GetProperty(self.ctx.as_raw().as_ptr(), self.object.as_raw(), atom) };
        Some(checked(value).map(|value| (atom, member(self.ctx, value))))
    }
}

impl Drop for Members<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: the table and its atoms are owned here and freed once.
        unsafe { qjs::JS_FreePropertyEnum(self.ctx.as_raw().as_ptr(), self.table, self.len) };
    }
}

/// The atom `toJSON`, predefined by QuickJS (never freed).
pub(crate) const TO_JSON: qjs::JSAtom = qjs::JS_ATOM_toJSON as qjs::JSAtom;

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use rquickjs::Object;
    use serde_json::{Map, Value, json};

    use super::{Atoms, CACHED_KEY_LEN, CACHED_KEYS, build};
    use crate::convert::tests::{in_context, run_script};
    use crate::convert::{Read, ToJson};

    /// Builds `source`, runs `script` on it and applies what the read back found.
    fn run(
        ctx: &rquickjs::Ctx<'_>,
        atoms: &RefCell<Atoms>,
        script: &str,
        source: &mut Map<String, Value>,
    ) {
        let values = run_script(ctx, atoms, script, source);
        let prototype: Object = ctx.eval("Object.prototype").unwrap();
        let json = ToJson::new(ctx, &prototype, atoms);
        let changes = json
            .diff_object(&values.into_value(), source, Read::default())
            .unwrap()
            .unwrap();
        changes.apply(source);
    }

    #[test]
    fn keys_keep_their_atoms_across_calls_and_added_keys_their_names() {
        in_context(|ctx, atoms| {
            let mut source =
                json!({ "rows": [{ "id": 1, "name": "a" }, { "id": 2, "name": "b" }] })
                    .as_object()
                    .unwrap()
                    .clone();
            run(
                ctx,
                atoms,
                "(v) => { for (const r of v.rows) r.added = r.id * 2; }",
                &mut source,
            );
            assert_eq!(
                source["rows"],
                json!([{ "id": 1, "name": "a", "added": 2 }, { "id": 2, "name": "b", "added": 4 }])
            );
            let first: Vec<_> = {
                let cache = atoms.borrow();
                let mut keys: Vec<_> = cache
                    .keys
                    .iter()
                    .map(|(k, a)| (k.to_string(), *a))
                    .collect();
                keys.sort();
                assert_eq!(
                    keys.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                    ["id", "name", "rows"]
                );
                assert_eq!(
                    cache.names.values().map(|n| &**n).collect::<Vec<_>>(),
                    ["added"]
                );
                keys
            };
            run(
                ctx,
                atoms,
                "(v) => { for (const r of v.rows) { delete r.added; r.other = 1; } }",
                &mut source,
            );
            assert_eq!(
                source["rows"],
                json!([{ "id": 1, "name": "a", "other": 1 }, { "id": 2, "name": "b", "other": 1 }])
            );
            let cache = atoms.borrow();
            for (key, atom) in &first {
                assert_eq!(
                    cache.keys.get(key.as_str()),
                    Some(atom),
                    "{key} kept its atom"
                );
            }
            let mut names: Vec<_> = cache.names.values().map(|n| &**n).collect();
            names.sort();
            assert_eq!(names, ["added", "other"]);
        });
    }

    /// `source` built, as `JSON.stringify` writes it.
    fn built_text(ctx: &rquickjs::Ctx<'_>, atoms: &RefCell<Atoms>, source: &Value) -> String {
        let value = build(ctx, source, 0, atoms).unwrap();
        ctx.json_stringify(value)
            .unwrap()
            .unwrap()
            .to_string()
            .unwrap()
    }

    #[test]
    fn rows_build_as_json_parse_would_whether_or_not_they_share_keys() {
        in_context(|ctx, atoms| {
            for source in [
                json!([{ "id": 1, "name": "a", "tags": ["x"], "owner": { "id": 7 } },
                       { "id": 2, "name": "b", "tags": [], "owner": null }]),
                json!([{ "id": 1, "name": "a" }, { "id": 2 }, { "id": 3, "name": "c" }]),
                json!([{ "id": 1, "name": "a" }, { "id": 2, "other": "b" }]),
                json!([{ "id": 1 }, 2, "three", null, [{ "id": 4 }, { "id": 5 }]]),
                json!([{ "id": 1, "name": "a" }]),
                json!([]),
            ] {
                assert_eq!(built_text(ctx, atoms, &source), source.to_string());
            }
        });
    }

    #[test]
    fn past_the_bound_keys_convert_the_same_and_are_not_kept() {
        let long = "k".repeat(CACHED_KEY_LEN + 1);
        in_context(|ctx, atoms| {
            let mut wide: Map<String, Value> = (0..CACHED_KEYS + 10)
                .map(|i| (format!("key{i}"), json!(i)))
                .collect();
            wide.insert(long.clone(), json!("long"));
            let mut source = Map::new();
            source.insert("wide".into(), Value::Object(wide.clone()));
            let script = format!(
                "(v) => {{ v.wide.key0 += 1; v.wide.key{last} += 1; v.wide['{long}'] += '!'; for (let i = 0; i < {n}; i++) v.wide['new' + i] = i; }}",
                last = CACHED_KEYS + 9,
                n = CACHED_KEYS + 10,
            );
            run(ctx, atoms, &script, &mut source);
            let wide_back = source["wide"].as_object().unwrap();
            assert_eq!(wide_back.len(), 2 * (CACHED_KEYS + 10) + 1);
            assert_eq!(wide_back["key0"], json!(1));
            assert_eq!(
                wide_back[&format!("key{}", CACHED_KEYS + 9)],
                json!(CACHED_KEYS + 10)
            );
            assert_eq!(wide_back[&long], json!("long!"));
            assert_eq!(
                wide_back[&format!("new{}", CACHED_KEYS + 9)],
                json!(CACHED_KEYS + 9)
            );
            let cache = atoms.borrow();
            assert_eq!(cache.keys.len(), CACHED_KEYS);
            assert!(!cache.keys.contains_key(long.as_str()));
            assert_eq!(cache.names.len(), CACHED_KEYS);
        });
    }
}
