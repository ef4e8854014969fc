//! Positions in TOML text, for messages about a config: [`line_of`] turns a byte offset into a
//! line and column, and [`locate`] finds the key a [`KeyPath`] names.

use std::fmt;

use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A path to a value in a config, shown as `routes[2].pre_hooks[0].script`; keys that are not
/// plain identifiers are quoted (`hooks.apartments."create.before_save"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub(crate) Vec<Segment>);

impl KeyPath {
    pub(crate) fn new() -> Self {
        KeyPath(Vec::new())
    }

    pub(crate) fn key(&self, key: impl Into<String>) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.into()));
        path
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The line and column of the value `path` names in `text`, or of the nearest enclosing value
/// that exists; `None` if the text does not parse.
pub(crate) fn locate(text: &str, path: &KeyPath) -> Option<(usize, usize)> {
    let root = DeTable::parse(text).ok()?;
    let mut span = 0..0;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&DeValue<'_>> = None;
    for segment in &path.0 {
        match segment {
            Segment::Key(key) => {
                let Some((k, v)) = table.and_then(|t| t.iter().find(|(k, _)| k.get_ref() == key))
                else {
                    break;
                };
                span = k.span();
                value = Some(v.get_ref());
            }
            Segment::Index(index) => {
                let Some(item) = value
                    .and_then(DeValue::as_array)
                    .and_then(|items| items.get(*index))
                else {
                    break;
                };
                span = item.span();
                value = Some(item.get_ref());
            }
        }
        table = value.and_then(DeValue::as_table);
    }
    Some(line_of(text, span.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[server]\ndebug = true\n\n[[routes]]\npath = \"/a\"\n\n[[routes]]\npath = \"/b\"\n[[routes.pre_hooks]]\nscript = \"x.js\"\n\n[hooks.apartments]\n\"create.before_save\" = \"y.js\"\n";

    #[test]
    fn keys_and_indices_find_their_lines() {
        let routes = KeyPath::new().key("routes");
        assert_eq!(locate(TEXT, &routes.index(0).key("path")), Some((5, 1)));
        assert_eq!(locate(TEXT, &routes.index(1).key("path")), Some((8, 1)));
        let script = routes.index(1).key("pre_hooks").index(0).key("script");
        assert_eq!(locate(TEXT, &script), Some((10, 1)));
        let hook = KeyPath::new()
            .key("hooks")
            .key("apartments")
            .key("create.before_save");
        assert_eq!(locate(TEXT, &hook), Some((13, 1)));
    }

    #[test]
    fn a_missing_key_points_at_the_nearest_existing_one() {
        let path = KeyPath::new().key("server").key("addr");
        assert_eq!(locate(TEXT, &path), Some((1, 2)));
        assert_eq!(locate("not toml = = =", &path), None);
    }

    #[test]
    fn paths_render_with_quotes_where_needed() {
        let path = KeyPath::new()
            .key("hooks")
            .key("apartments")
            .key("create.before_save")
            .index(1);
        assert_eq!(
            path.to_string(),
            "hooks.apartments.\"create.before_save\"[1]"
        );
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_of("é = 1\nab", 7), (2, 1));
        assert_eq!(line_of("é = 1\nab", 8), (2, 2));
    }
}
