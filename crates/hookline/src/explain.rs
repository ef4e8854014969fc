//! [`Explain`]: the effective order of a hook's taps, as text or as a Mermaid flowchart.

use std::fmt;
use std::sync::Arc;

use crate::tap::{Placement, TapInfo, TapKind};

/// The effective running order of a hook's taps, with why each tap sits where it does: module,
/// stage, placement, constraints, kind, timeout and registration site.
///
/// `Display` renders a numbered list. A tap of a module shows the module, its rank (its place
/// in installation order, [`Modules::rank`](crate::Modules::rank)) and the modules it depends
/// on, whose taps it follows within its stage: `module=billing (rank 2, after core)`.
/// [`Explain::mermaid`] renders a flowchart.
///
/// ```
/// use hookline::{Flow, Hook, Tap};
/// let hook: Hook<()> = Hook::new("save");
/// hook.tap("audit", |_: &mut ()| Ok(Flow::Continue)).unwrap();
/// hook.tap(Tap::named("validate").before("audit"), |_: &mut ()| Ok(Flow::Continue)).unwrap();
/// let explain = hook.explain();
/// assert_eq!(explain.names(), ["validate", "audit"]);
/// assert!(explain.to_string().contains("1. validate"));
/// assert!(explain.mermaid().starts_with("flowchart TD"));
/// ```
#[derive(Debug, Clone)]
pub struct Explain {
    hook: String,
    taps: Vec<Arc<TapInfo>>,
}

impl Explain {
    pub(crate) fn new(hook: String, taps: Vec<Arc<TapInfo>>) -> Self {
        Explain { hook, taps }
    }

    /// The hook's name.
    pub fn hook(&self) -> &str {
        &self.hook
    }

    /// The taps in running order.
    pub fn taps(&self) -> impl ExactSizeIterator<Item = &TapInfo> {
        self.taps.iter().map(|t| &**t)
    }

    /// The tap names in running order.
    pub fn names(&self) -> Vec<&str> {
        self.taps.iter().map(|t| t.name()).collect()
    }

    /// A Mermaid flowchart: one node per tap, in order, labelled with module and stage.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        out.push_str(&format!("  call([\"{}\"])\n", escape(&self.hook)));
        let mut previous = "call".to_owned();
        for (i, tap) in self.taps.iter().enumerate() {
            let id = format!("t{i}");
            let mut label = escape(tap.name());
            if let Some(module) = tap.module() {
                label.push_str(&format!("<br/>module {}", escape(module)));
            }
            label.push_str(&format!("<br/>stage {}", tap.stage()));
            if tap.kind() == TapKind::Async {
                label.push_str("<br/>async");
            }
            out.push_str(&format!("  {id}[\"{label}\"]\n  {previous} --> {id}\n"));
            previous = id;
        }
        out.push_str(&format!("  done([done])\n  {previous} --> done\n"));
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "hook `{}`: {} tap(s)", self.hook, self.taps.len())?;
        for (i, tap) in self.taps.iter().enumerate() {
            write!(f, "  {}. {}", i + 1, tap.name())?;
            if let Some(module) = tap.module() {
                write!(f, "  module={module} (rank {}", tap.module_rank())?;
                let mut depends_on = tap.module_depends_on().peekable();
                if depends_on.peek().is_some() {
                    f.write_str(", after ")?;
                    for (i, dependency) in depends_on.enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        f.write_str(dependency)?;
                    }
                }
                f.write_str(")")?;
            }
            write!(f, "  stage={}", tap.stage())?;
            let placement = match tap.placement() {
                Placement::First => "first",
                Placement::Last => "last",
            };
            write!(f, "  {placement}#{}", tap.sequence().unsigned_abs())?;
            for b in tap.before() {
                write!(f, "  before={b}")?;
            }
            for a in tap.after() {
                write!(f, "  after={a}")?;
            }
            if tap.kind() == TapKind::Async {
                f.write_str("  async")?;
            }
            if let Some(timeout) = tap.timeout() {
                write!(f, "  timeout={timeout:?}")?;
            }
            writeln!(f, "  at {}", tap.site())?;
        }
        Ok(())
    }
}
