//! Body-style scripts (Enfyra): rewriting `@MACRO`s and `#table`s to `$ctx…` with a real
//! tokenizer pass, and the [`SourceMap`] that points positions in the rewritten code back at the
//! original file.
//!
//! The pass skips string literals (`'…'`, `"…"`), template literals (their text, not the code
//! inside `${…}`, which may nest), regular-expression literals and comments (`//…`, `/*…*/`), so
//! an `@DATA` or a `#tag` inside them is left alone. A `/` starts a regular expression where an
//! operand is expected (after an operator, an opening bracket or a keyword such as `return`);
//! like every tokenizer without a full parser, it reads a regex right after `)` — as in
//! `if (ok) /x/.test(s)` — as a division. Rewriting never adds or removes a line, so
//! only columns move; the map records where. Compiling and running the result lives in
//! [`crate::worker`].

use std::sync::Arc;

use crate::error::{Location, ScriptError};

/// The prefix that turns a body into a function; it shares line 1 with the body's first line.
pub(crate) const BODY_PREFIX: &str = "(async function ($ctx) {";
/// The suffix that closes the function, on a line of its own so a trailing `//` comment in the
/// body cannot swallow it.
pub(crate) const BODY_SUFFIX: &str = "\n})";

/// The macros of body-style scripts and what they become.
const MACROS: &[(&str, &str)] = &[
    ("BODY", "$ctx.$body"),
    ("QUERY", "$ctx.$query"),
    ("PARAMS", "$ctx.$params"),
    ("USER", "$ctx.$user"),
    ("DATA", "$ctx.$data"),
    ("ERROR", "$ctx.$error"),
    ("STATUS", "$ctx.$statusCode"),
    ("SHARE", "$ctx.$share"),
    ("API", "$ctx.$api"),
    ("LOGS", "$ctx.$logs"),
    ("REPOS", "$ctx.$repos"),
    ("SOCKET", "$ctx.$socket"),
];

/// Keywords after which a `/` starts a regular expression rather than a division.
const REGEX_KEYWORDS: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

/// One stretch of a rewritten line: from output column `out` on, columns map to source column
/// `src` (plus the distance from `out`, unless `fixed`, for text that replaced a macro).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    out: u32,
    src: u32,
    fixed: bool,
}

/// Maps a position in the code QuickJS compiled back to the script's own file.
///
/// Lines are never added or removed by rewriting; columns shift where a macro was replaced and
/// on line 1, which also carries the function prefix of body-style scripts. Columns QuickJS
/// reports count bytes; the mapped location counts characters, as editors do.
#[derive(Debug, Clone)]
pub(crate) struct SourceMap {
    file: Arc<str>,
    source: Arc<str>,
    prefix: u32,
    /// Segments per 0-based line, only for lines that contain a replacement.
    lines: Vec<(u32, Vec<Segment>)>,
}

impl SourceMap {
    /// The identity map for code compiled as written (function style).
    pub(crate) fn identity(file: Arc<str>, source: Arc<str>) -> Self {
        SourceMap {
            file,
            source,
            prefix: 0,
            lines: Vec::new(),
        }
    }

    /// The script's file name.
    pub(crate) fn file(&self) -> &Arc<str> {
        &self.file
    }

    /// Maps a 1-based line and 1-based byte column of the compiled code to a location in the
    /// original source (1-based line and character column).
    pub(crate) fn locate(&self, line: u32, column: u32) -> Location {
        let line = line.max(1);
        let lines = self.source.split('\n').count() as u32;
        if line > lines {
            // In the suffix hookline added (an unclosed block): the end of the script.
            let last = self.source.rsplit('\n').next().unwrap_or_default();
            return Location {
                file: self.file.clone(),
                line: lines,
                column: last.chars().count() as u32 + 1,
            };
        }
        let out = column.saturating_sub(1);
        let index = line - 1;
        let base = if index == 0 { self.prefix } else { 0 };
        let segments = self
            .lines
            .iter()
            .find(|(l, _)| *l == index)
            .map(|(_, s)| s.as_slice())
            .unwrap_or_default();
        let start = Segment {
            out: base,
            src: 0,
            fixed: false,
        };
        let src_byte = if out < base {
            0
        } else {
            let seg = segments
                .iter()
                .rev()
                .find(|s| s.out <= out)
                .copied()
                .unwrap_or(start);
            if seg.fixed {
                seg.src
            } else {
                seg.src + (out - seg.out)
            }
        };
        Location {
            file: self.file.clone(),
            line,
            column: self.char_column(index, src_byte) + 1,
        }
    }

    /// Converts a 0-based byte column of a source line to a 0-based character column.
    fn char_column(&self, line: u32, byte: u32) -> u32 {
        let Some(text) = self.source.split('\n').nth(line as usize) else {
            return byte;
        };
        let byte = byte as usize;
        if byte >= text.len() {
            let chars = text.chars().count();
            return (chars + (byte - text.len())) as u32;
        }
        text.char_indices().take_while(|(i, _)| *i < byte).count() as u32
    }
}

/// A body rewritten to a compilable function expression, with its map.
#[derive(Debug)]
pub(crate) struct Rewritten {
    pub(crate) code: String,
    pub(crate) map: SourceMap,
}

/// What the tokenizer saw last, to tell a regular expression from a division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of input, an operator or an opening bracket: a `/` starts a regex.
    Operator,
    /// An identifier, number, string or closing bracket: a `/` divides.
    Operand,
}

/// Rewrites a body-style script into `(async function ($ctx) { … })`.
pub(crate) fn rewrite(file: &Arc<str>, source: &Arc<str>) -> Result<Rewritten, ScriptError> {
    let mut rewriter = Rewriter {
        file,
        source,
        src: source.as_bytes(),
        i: 0,
        copied: 0,
        out: String::with_capacity(source.len() + BODY_PREFIX.len() + BODY_SUFFIX.len() + 64),
        line: 0,
        line_start: 0,
        out_line_start: 0,
        segments: Vec::new(),
        current: Vec::new(),
        prev: Prev::Operator,
        braces: 0,
        templates: Vec::new(),
    };
    rewriter.out.push_str(BODY_PREFIX);
    rewriter.out_line_start = 0;
    rewriter.code()?;
    rewriter.flush(rewriter.src.len());
    rewriter.end_line();
    rewriter.out.push_str(BODY_SUFFIX);
    let map = SourceMap {
        file: file.clone(),
        source: source.clone(),
        prefix: BODY_PREFIX.len() as u32,
        lines: rewriter.segments,
    };
    Ok(Rewritten {
        code: rewriter.out,
        map,
    })
}

struct Rewriter<'a> {
    file: &'a Arc<str>,
    source: &'a str,
    src: &'a [u8],
    i: usize,
    /// Source bytes before this index are already in `out`.
    copied: usize,
    out: String,
    line: u32,
    line_start: usize,
    out_line_start: usize,
    segments: Vec<(u32, Vec<Segment>)>,
    current: Vec<Segment>,
    prev: Prev,
    /// Open `{` in code, to find the `}` that closes a template substitution.
    braces: usize,
    /// For each open template substitution, the brace depth at its `${`.
    templates: Vec<usize>,
}

impl Rewriter<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.i + ahead).copied()
    }

    /// Copies pending source bytes up to `end` to the output.
    fn flush(&mut self, end: usize) {
        if end > self.copied {
            self.out.push_str(&self.source[self.copied..end]);
            self.copied = end;
        }
    }

    fn newline(&mut self) {
        // Called with `self.i` on a `\n`.
        self.flush(self.i + 1);
        self.end_line();
        self.line += 1;
        self.line_start = self.i + 1;
        self.out_line_start = self.out.len();
    }

    fn end_line(&mut self) {
        if !self.current.is_empty() {
            self.segments
                .push((self.line, std::mem::take(&mut self.current)));
        }
    }

    /// Replaces source bytes `start..self.i` with `replacement`.
    fn replace(&mut self, start: usize, replacement: &str) {
        self.flush(start);
        // On line 1 the output column includes the function prefix, as QuickJS's does.
        let out_col = (self.out.len() - self.out_line_start) as u32;
        let src_col = (start - self.line_start) as u32;
        self.current.push(Segment {
            out: out_col,
            src: src_col,
            fixed: true,
        });
        self.out.push_str(replacement);
        self.current.push(Segment {
            out: out_col + replacement.len() as u32,
            src: (self.i - self.line_start) as u32,
            fixed: false,
        });
        self.copied = self.i;
    }

    fn location(&self, at: usize) -> Location {
        let column = self.source[self.line_start..at].chars().count() as u32 + 1;
        Location {
            file: self.file.clone(),
            line: self.line + 1,
            column,
        }
    }

    /// Scans code until the end of input, or until the `}` that closes the innermost template
    /// substitution (then `self.i` is just past it).
    fn code(&mut self) -> Result<(), ScriptError> {
        while let Some(b) = self.peek(0) {
            match b {
                b'\n' => {
                    self.newline();
                    self.i += 1;
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                b'\'' | b'"' => {
                    self.string(b);
                    self.prev = Prev::Operand;
                }
                b'`' => {
                    self.i += 1;
                    self.template()?;
                    self.prev = Prev::Operand;
                }
                b'/' => match self.peek(1) {
                    Some(b'/') => self.line_comment(),
                    Some(b'*') => self.block_comment(),
                    _ if self.prev == Prev::Operator => {
                        self.regex();
                        self.prev = Prev::Operand;
                    }
                    _ => {
                        self.i += 1;
                        self.prev = Prev::Operator;
                    }
                },
                b'{' => {
                    self.braces += 1;
                    self.i += 1;
                    self.prev = Prev::Operator;
                }
                b'}' => {
                    self.i += 1;
                    if self.templates.last() == Some(&self.braces) {
                        self.templates.pop();
                        return Ok(());
                    }
                    self.braces = self.braces.saturating_sub(1);
                    self.prev = Prev::Operand;
                }
                b')' | b']' => {
                    self.i += 1;
                    self.prev = Prev::Operand;
                }
                b'@' if self.peek(1).is_some_and(|c| c.is_ascii_uppercase()) => {
                    self.macro_()?;
                    self.prev = Prev::Operand;
                }
                b'#' if self.peek(1).is_some_and(is_ident_start) && !self.after_dot() => {
                    let start = self.i;
                    self.i += 1;
                    let name_start = self.i;
                    while self.peek(0).is_some_and(is_ident_part) {
                        self.i += 1;
                    }
                    let name = &self.source[name_start..self.i];
                    let replacement = format!("$ctx.$repos.{name}");
                    self.replace(start, &replacement);
                    self.prev = Prev::Operand;
                }
                c if is_ident_start(c) => {
                    let start = self.i;
                    while self.peek(0).is_some_and(is_ident_part) {
                        self.i += 1;
                    }
                    let word = &self.source[start..self.i];
                    self.prev = if REGEX_KEYWORDS.contains(&word) {
                        Prev::Operator
                    } else {
                        Prev::Operand
                    };
                }
                c if c.is_ascii_digit() => {
                    while self
                        .peek(0)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
                    {
                        self.i += 1;
                    }
                    self.prev = Prev::Operand;
                }
                c if c.is_ascii() => {
                    self.i += 1;
                    self.prev = Prev::Operator;
                }
                _ => {
                    // A non-ASCII character outside strings: part of an identifier.
                    self.i += 1;
                    self.prev = Prev::Operand;
                }
            }
        }
        Ok(())
    }

    /// `true` if the last non-space code byte is a `.` (a private member access `obj.#x`).
    fn after_dot(&self) -> bool {
        self.src[..self.i]
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'.')
    }

    fn macro_(&mut self) -> Result<(), ScriptError> {
        let start = self.i;
        self.i += 1;
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
        {
            self.i += 1;
        }
        let name = &self.source[start + 1..self.i];
        if let Some((_, replacement)) = MACROS.iter().find(|(m, _)| *m == name) {
            self.replace(start, replacement);
            return Ok(());
        }
        if let Some(status) = name.strip_prefix("THROW")
            && status.len() == 3
            && let Ok(code) = status.parse::<u16>()
            && (400..=599).contains(&code)
        {
            let replacement = format!("$ctx.$throw['{code}']");
            self.replace(start, &replacement);
            return Ok(());
        }
        let known: Vec<String> = MACROS
            .iter()
            .map(|(m, _)| format!("@{m}"))
            .chain(["@THROW400…@THROW599".to_string()])
            .collect();
        Err(ScriptError::Macro {
            location: self.location(start),
            message: format!(
                "unknown macro `@{name}`; body-style scripts may use {}",
                known.join(", ")
            ),
        })
    }

    fn string(&mut self, quote: u8) {
        self.i += 1;
        while let Some(b) = self.peek(0) {
            match b {
                b'\\' => {
                    if self.peek(1) == Some(b'\n') {
                        self.i += 1;
                        self.newline();
                        self.i += 1;
                    } else {
                        self.i += 2;
                    }
                }
                b'\n' => return, // unterminated: QuickJS reports it
                b if b == quote => {
                    self.i += 1;
                    return;
                }
                _ => self.i += 1,
            }
        }
    }

    /// Scans a template literal after its opening backtick, including nested substitutions.
    fn template(&mut self) -> Result<(), ScriptError> {
        while let Some(b) = self.peek(0) {
            match b {
                b'\\' => {
                    if self.peek(1) == Some(b'\n') {
                        self.i += 1;
                        self.newline();
                        self.i += 1;
                    } else {
                        self.i += 2;
                    }
                }
                b'\n' => {
                    self.newline();
                    self.i += 1;
                }
                b'`' => {
                    self.i += 1;
                    return Ok(());
                }
                b'$' if self.peek(1) == Some(b'{') => {
                    self.i += 2;
                    self.braces += 1;
                    self.templates.push(self.braces);
                    self.prev = Prev::Operator;
                    self.code()?;
                    self.braces = self.braces.saturating_sub(1);
                }
                _ => self.i += 1,
            }
        }
        Ok(())
    }

    fn line_comment(&mut self) {
        while self.peek(0).is_some_and(|b| b != b'\n') {
            self.i += 1;
        }
    }

    fn block_comment(&mut self) {
        self.i += 2;
        while let Some(b) = self.peek(0) {
            if b == b'*' && self.peek(1) == Some(b'/') {
                self.i += 2;
                return;
            }
            if b == b'\n' {
                self.newline();
            }
            self.i += 1;
        }
    }

    fn regex(&mut self) {
        self.i += 1;
        let mut class = false;
        while let Some(b) = self.peek(0) {
            match b {
                b'\\' => self.i += 2,
                b'\n' => return, // not a regex after all; QuickJS reports it
                b'[' => {
                    class = true;
                    self.i += 1;
                }
                b']' => {
                    class = false;
                    self.i += 1;
                }
                b'/' if !class => {
                    self.i += 1;
                    while self.peek(0).is_some_and(is_ident_part) {
                        self.i += 1;
                    }
                    return;
                }
                _ => self.i += 1,
            }
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

fn is_ident_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(src: &str) -> String {
        let out = rewrite(&Arc::from("t.js"), &Arc::from(src)).unwrap().code;
        out.strip_prefix(BODY_PREFIX)
            .and_then(|s| s.strip_suffix(BODY_SUFFIX))
            .unwrap()
            .to_string()
    }

    #[test]
    fn macros_become_ctx_members() {
        assert_eq!(
            body("if (@DATA) @DATA.meta = { by: @USER?.id, s: @STATUS };"),
            "if ($ctx.$data) $ctx.$data.meta = { by: $ctx.$user?.id, s: $ctx.$statusCode };"
        );
        assert_eq!(
            body("@LOGS(`x`); @THROW404('gone'); #audit_logs.create({})"),
            "$ctx.$logs(`x`); $ctx.$throw['404']('gone'); $ctx.$repos.audit_logs.create({})"
        );
    }

    #[test]
    fn strings_comments_and_regexes_are_left_alone() {
        let src = r#"const a = '@DATA #t', b = "@USER \" @BODY"; // @QUERY #x
/* @PARAMS
   #y */ const r = /@DATA#z/g; const d = 4 / 2 / 1;"#;
        assert_eq!(body(src), src);
    }

    #[test]
    fn template_substitutions_are_code_and_may_nest() {
        assert_eq!(
            body("`@DATA ${@API.request.method} ${`in ${ {a: @USER}.a } @BODY`} #t`"),
            "`@DATA ${$ctx.$api.request.method} ${`in ${ {a: $ctx.$user}.a } @BODY`} #t`"
        );
    }

    #[test]
    fn private_members_after_a_dot_are_not_tables() {
        assert_eq!(
            body("this.#count + #items.find()"),
            "this.#count + $ctx.$repos.items.find()"
        );
    }

    #[test]
    fn unknown_macros_name_the_position() {
        let err = rewrite(
            &Arc::from("hooks/x.js"),
            &Arc::from("let a = 1;\n  @FETCH('x')"),
        )
        .unwrap_err();
        let ScriptError::Macro { location, message } = err else {
            panic!("{err:?}")
        };
        assert_eq!(location.to_string(), "hooks/x.js:2:3");
        assert!(message.contains("`@FETCH`"), "{message}");
        let err = rewrite(&Arc::from("x.js"), &Arc::from("@THROW700('x')")).unwrap_err();
        assert!(matches!(err, ScriptError::Macro { .. }));
    }

    #[test]
    fn positions_map_back_through_replacements_and_the_prefix() {
        let src: Arc<str> = Arc::from("@DATA.x = 1;\nconst é = @USER.name; boom();");
        let r = rewrite(&Arc::from("f.js"), &src).unwrap();
        // line 1: `boom` is not there; `.x` follows `@DATA` (source col 6).
        let out_line1 = r.code.lines().next().unwrap();
        let dot = out_line1.find(".x").unwrap() as u32 + 1;
        assert_eq!(r.map.locate(1, dot).column, 6);
        // inside a replacement: the macro's own column
        let inside = out_line1.find("$data").unwrap() as u32 + 1;
        assert_eq!(r.map.locate(1, inside).column, 1);
        // line 2: byte columns after a two-byte character and a replacement
        let out_line2 = r.code.lines().nth(1).unwrap();
        let boom = out_line2.find("boom").unwrap() as u32 + 1;
        let loc = r.map.locate(2, boom);
        assert_eq!((loc.line, loc.column), (2, 23));
    }

    #[test]
    fn line_numbers_survive_multiline_strings_and_templates() {
        let src = "const t = `a\n${@DATA}\nb`; const s = 'x\\\ny'; /*\n*/ @USER";
        let out = body(src);
        assert_eq!(out.lines().count(), src.lines().count());
        assert!(out.ends_with("$ctx.$user"));
    }
}
