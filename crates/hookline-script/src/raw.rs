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
//! given to a call that takes it (`JS_DefinePropertyValue*`), wrapped in a [`Value`] (which
//! frees it), or freed before the function returns, on every path. Atoms are owned by
//! [`KeyAtoms`] and freed when it drops.

#![allow(unsafe_code)]

use std::ffi::c_char;
use std::ptr;

use rquickjs::{Ctx, Error, Exception, Object, Value, qjs};

/// Nesting deeper than this is refused on the way in (as `JSON.parse` of the context would
/// reach a recursion limit), and goes through `JSON.stringify` on the way back.
pub(crate) const MAX_DEPTH: usize = 256;

/// The atoms of the keys of sibling objects, by position: the rows of a list share their
/// keys, so each key is made an atom once per list (not once per row) and matched as an
/// integer after. Making one costs nothing until a key is asked for.
pub(crate) struct KeyAtoms<'js> {
    /// The context the atoms belong to, set with the first atom.
    ctx: Option<Ctx<'js>>,
    atoms: Vec<(Box<str>, qjs::JSAtom)>,
}

impl<'js> KeyAtoms<'js> {
    /// Atoms for one object's keys.
    pub(crate) fn new() -> Self {
        KeyAtoms {
            ctx: None,
            atoms: Vec::new(),
        }
    }

    /// The atom of `key`, the `index`th key of its object (keys are asked for in order).
    pub(crate) fn get(
        &mut self,
        ctx: &Ctx<'js>,
        index: usize,
        key: &str,
    ) -> rquickjs::Result<qjs::JSAtom> {
        if let Some((cached, atom)) = self.atoms.get(index)
            && **cached == *key
        {
            return Ok(*atom);
        }
        let ctx = self
            .ctx
            .get_or_insert_with(|| ctx.clone())
            .as_raw()
            .as_ptr();
        // SAFETY: `ctx` is the live context of `'js`; the bytes are valid for `key.len()`.
        let atom = unsafe {
            qjs::JS_NewAtomLen(ctx, key.as_ptr().cast::<c_char>(), key.len() as qjs::size_t)
        };
        if atom == qjs::JS_ATOM_NULL {
            return Err(Error::Exception);
        }
        let entry = (Box::from(key), atom);
        match self.atoms.get_mut(index) {
            Some(slot) => {
                // SAFETY: the atom in the slot is owned by `self` and no longer used.
                unsafe { qjs::JS_FreeAtom(ctx, slot.1) };
                *slot = entry;
            }
            None => self.atoms.push(entry),
        }
        Ok(atom)
    }
}

impl Drop for KeyAtoms<'_> {
    fn drop(&mut self) {
        let Some(ctx) = &self.ctx else {
            return;
        };
        let ctx = ctx.as_raw().as_ptr();
        for (_, atom) in self.atoms.drain(..) {
            // SAFETY: each atom was made by `JS_NewAtomLen` on this context and is owned here.
            unsafe { qjs::JS_FreeAtom(ctx, atom) };
        }
    }
}

/// Builds the JavaScript value of a JSON value, as `JSON.parse` would; an object takes its
/// keys' atoms from `keys`, shared with its siblings. Members and items are *defined*, so a
/// setter a script left on `Object.prototype` or `Array.prototype` is not called and a key
/// named `__proto__` is a key.
#[cfg(test)]
pub(crate) fn build<'js>(
    ctx: &Ctx<'js>,
    value: &serde_json::Value,
    depth: usize,
    keys: &mut KeyAtoms<'js>,
) -> rquickjs::Result<Value<'js>> {
    let raw = build_raw(ctx, value, depth, keys)?;
    // SAFETY: `raw` is an owned value of this context, handed to the `Value` that frees it.
    Ok(unsafe { Value::from_raw(ctx.clone(), raw) })
}

/// Builds the JavaScript object of a JSON object.
pub(crate) fn members<'js>(
    ctx: &Ctx<'js>,
    map: &serde_json::Map<String, serde_json::Value>,
    depth: usize,
    keys: &mut KeyAtoms<'js>,
) -> rquickjs::Result<Object<'js>> {
    let raw = members_raw(ctx, map, depth, keys)?;
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

/// `value` if it is not the exception marker.
fn checked(value: qjs::JSValue) -> rquickjs::Result<qjs::JSValue> {
    // SAFETY: reading a tag has no preconditions.
    if unsafe { qjs::JS_IsException(value) } {
        Err(Error::Exception)
    } else {
        Ok(value)
    }
}

fn build_raw<'js>(
    ctx: &Ctx<'js>,
    value: &serde_json::Value,
    depth: usize,
    keys: &mut KeyAtoms<'js>,
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
            // SAFETY: `raw` is the live context.
            let array = Owned {
                ctx,
                value: checked(unsafe { qjs::JS_NewArray(raw) })?,
            };
            let mut item_keys = KeyAtoms::new();
            for (index, item) in items.iter().enumerate() {
                let index = u32::try_from(index).map_err(|_| {
                    Exception::throw_range(ctx, "the hook context has an array too long")
                })?;
                let item = build_raw(ctx, item, depth + 1, &mut item_keys)?;
                let flags = (qjs::JS_PROP_C_W_E | qjs::JS_PROP_THROW) as i32;
                // SAFETY: `array.value` is a live array; `item` is owned and taken by the call.
                if unsafe {
                    qjs::JS_DefinePropertyValueUint32(raw, array.value, index, item, flags)
                } < 0
                {
                    return Err(Error::Exception);
                }
            }
            array.take()
        }
        serde_json::Value::Object(map) => members_raw(ctx, map, depth, keys)?,
    })
}

fn members_raw<'js>(
    ctx: &Ctx<'js>,
    map: &serde_json::Map<String, serde_json::Value>,
    depth: usize,
    keys: &mut KeyAtoms<'js>,
) -> rquickjs::Result<qjs::JSValue> {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `raw` is the live context.
    let object = Owned {
        ctx,
        value: checked(unsafe { qjs::JS_NewObject(raw) })?,
    };
    for (index, (key, item)) in map.iter().enumerate() {
        let atom = keys.get(ctx, index, key)?;
        let item = build_raw(ctx, item, depth + 1, &mut KeyAtoms::new())?;
        let flags = (qjs::JS_PROP_C_W_E | qjs::JS_PROP_THROW) as i32;
        // SAFETY: `object.value` is a live object, `atom` a live atom owned by `keys`; `item`
        // is owned and taken by the call.
        if unsafe { qjs::JS_DefinePropertyValue(raw, object.value, atom, item, flags) } < 0 {
            return Err(Error::Exception);
        }
    }
    Ok(object.take())
}

/// A member's value as read back: JSON-like primitives without a safe wrapper, the rest as a
/// [`Value`].
pub(crate) enum Member<'js> {
    Int(i32),
    Float(f64),
    Bool(bool),
    Null,
    /// `undefined`, which `JSON.stringify` leaves out.
    Undefined,
    String(Text<'js>),
    Other(Value<'js>),
}

/// A JavaScript string value, owned.
pub(crate) struct Text<'js> {
    ctx: Ctx<'js>,
    value: qjs::JSValue,
}

impl Text<'_> {
    /// Whether the string is `other` (as UTF-8: a string with a lone surrogate is never equal).
    pub(crate) fn is(&self, other: &str) -> rquickjs::Result<bool> {
        self.with_bytes(|bytes| bytes == other.as_bytes())
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

impl Drop for Text<'_> {
    fn drop(&mut self) {
        // SAFETY: the string is owned here and freed once.
        unsafe { qjs::JS_FreeValue(self.ctx.as_raw().as_ptr(), self.value) };
    }
}

/// Classifies an owned raw value.
fn member<'js>(ctx: &Ctx<'js>, value: qjs::JSValue) -> Member<'js> {
    // SAFETY: reading the tag and payload of a value whose tag says what it holds.
    unsafe {
        match qjs::JS_VALUE_GET_TAG(value) {
            qjs::JS_TAG_INT => Member::Int(qjs::JS_VALUE_GET_INT(value)),
            qjs::JS_TAG_FLOAT64 => Member::Float(qjs::JS_VALUE_GET_FLOAT64(value)),
            qjs::JS_TAG_BOOL => Member::Bool(qjs::JS_VALUE_GET_INT(value) != 0),
            qjs::JS_TAG_NULL => Member::Null,
            qjs::JS_TAG_UNDEFINED => Member::Undefined,
            qjs::JS_TAG_STRING => Member::String(Text {
                ctx: ctx.clone(),
                value,
            }),
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

    /// The next member: its key's atom and its value.
    pub(crate) fn next(&mut self) -> Option<rquickjs::Result<(qjs::JSAtom, Member<'js>)>> {
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

    /// The string of a key's atom.
    pub(crate) fn key(&self, atom: qjs::JSAtom) -> rquickjs::Result<String> {
        let raw = self.ctx.as_raw().as_ptr();
        let mut len = 0;
        // SAFETY: `atom` is live (owned by this table); the buffer is freed below.
        let text = unsafe { qjs::JS_AtomToCStringLen(raw, &mut len, atom) };
        if text.is_null() {
            return Err(Error::Exception);
        }
        // SAFETY: the buffer holds `len` bytes until freed.
        let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len as usize) };
        let key = std::str::from_utf8(bytes).map(str::to_owned);
        // SAFETY: `text` came from `JS_AtomToCStringLen` and is freed once.
        unsafe { qjs::JS_FreeCString(raw, text) };
        key.map_err(Error::from)
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
