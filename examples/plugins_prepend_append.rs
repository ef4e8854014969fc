//! Plugins that put their hooks in front of yours or after them, and how to see the result.
//!
//! Seed 001 (AdminForth resource hooks): "Every hook is array of async functions ... Plugins can
//! push new own hooks in front of yours (using `unshift`) or after yours (using `push`). For
//! example audit log plugin adds hooks for registration of all changes in the database."
//! Seed 003 (Octo) adds modules with dependencies: modules run in installation order, and a
//! module's hooks run after those of the modules it depends on.
//!
//! Shown here:
//! - `Tap::first()` is `unshift` (the last `first()` runs first), `Tap::last()` is `push`;
//! - plugins as [`Module`]s with [`Module::depends_on`], registering through [`ModuleScope`];
//! - `before("x")` / `after("module/x")` constraints;
//! - `explain()` as text and as a Mermaid flowchart;
//! - removing a tap by its handle, and removing a module with all its taps.
//!
//! Run it with `cargo run -p hookline-examples --example plugins_prepend_append`.

use hookline::{Flow, Hook, Module, ModuleScope, Modules, RegisterError, Tap, TapResult};

/// What the save hooks of this example see: each tap writes its name down, so the order in
/// which they really ran can be compared with what `explain()` says.
#[derive(Debug, Default)]
struct Save {
    ran: Vec<&'static str>,
}

/// A tap that only records that it ran.
fn mark(name: &'static str) -> impl Fn(&mut Save) -> TapResult + Send + Sync + 'static {
    move |save: &mut Save| {
        save.ran.push(name);
        Ok(Flow::Continue)
    }
}

/// Like AdminForth's `af-crud-approve-plugin`: its check must come before everything else.
struct CrudApprove {
    before_save: Hook<Save>,
}

impl Module for CrudApprove {
    fn name(&self) -> &str {
        "crud-approve"
    }

    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        self.before_save
            .tap(scope.tap("approval").first(), mark("approval"))?;
        Ok(())
    }
}

/// Like `adminforth-audit-log`: pushes an `afterSave` hook after the user's own.
struct AuditLog {
    after_save: Hook<Save>,
}

impl Module for AuditLog {
    fn name(&self) -> &str {
        "audit-log"
    }

    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        self.after_save
            .tap(scope.tap("record-change"), mark("record-change"))?;
        Ok(())
    }
}

/// Posts audit entries to a chat channel, so it depends on the audit log.
struct SlackNotify {
    after_save: Hook<Save>,
}

impl Module for SlackNotify {
    fn name(&self) -> &str {
        "slack-notify"
    }

    fn depends_on(&self) -> Vec<String> {
        vec!["audit-log".into()]
    }

    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        // `first()` places it in front of the hook's taps, except those of `audit-log`: a module
        // always runs after the modules it depends on (at the same stage), so `notify` waits
        // for `record-change` and then runs as early as it can.
        self.after_save
            .tap(scope.tap("notify").first(), mark("notify"))?;
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let before_save: Hook<Save> = Hook::new("apartments.create.before_save");
    let after_save: Hook<Save> = Hook::new("apartments.create.after_save");

    // The user's own hooks, from the resource configuration.
    before_save.tap("set-realtor", mark("set-realtor"))?;
    before_save.tap("validate-price", mark("validate-price"))?;
    after_save.tap("invalidate-cache", mark("invalidate-cache"))?;

    // A plugin without a module: `first()` is AdminForth's `unshift`.
    let rate_limit = before_save.tap(Tap::named("rate-limit").first(), mark("rate-limit"))?;

    // Plugins as modules. crud-approve unshifts after rate-limit did, so it runs first.
    let modules = Modules::new();
    modules.install(CrudApprove {
        before_save: before_save.clone(),
    })?;
    modules.install(AuditLog {
        after_save: after_save.clone(),
    })?;
    modules.install(SlackNotify {
        after_save: after_save.clone(),
    })?;
    println!(
        "modules: {:?}; rank of slack-notify: {:?}",
        modules.names(),
        modules.rank("slack-notify")
    );

    // Constraints: a tap moves only as far as it must.
    // `first()` alone would put spam-check in front of approval; `after` keeps it behind.
    before_save.tap(
        Tap::named("spam-check")
            .first()
            .after("crud-approve/approval"),
        mark("spam-check"),
    )?;
    // Registered last, but it must run before validation.
    before_save.tap(
        Tap::named("price-to-cents").before("validate-price"),
        mark("price-to-cents"),
    )?;

    let before_explain = before_save.explain();
    let after_explain = after_save.explain();
    println!("\n{before_explain}");
    println!("{}", before_explain.mermaid());
    println!("{after_explain}");

    let expected_before = [
        "approval",
        "spam-check",
        "rate-limit",
        "set-realtor",
        "price-to-cents",
        "validate-price",
    ];
    let expected_after = ["invalidate-cache", "record-change", "notify"];
    assert_eq!(before_explain.names(), expected_before);
    assert_eq!(after_explain.names(), expected_after);

    // The order explain shows is the order the taps run in.
    let mut save = Save::default();
    before_save.call(&mut save).await?;
    after_save.call(&mut save).await?;
    println!("ran: {:?}", save.ran);
    assert_eq!(
        save.ran,
        [&expected_before[..], &expected_after[..]].concat()
    );

    // Removing: a tap by its handle; a module with every tap it registered.
    before_save.remove(rate_limit)?;
    let refused = modules
        .remove("audit-log")
        .err()
        .ok_or("audit-log must not be removable while slack-notify depends on it")?;
    println!("\nremove audit-log first: {refused}");
    modules.remove("slack-notify")?;
    modules.remove("audit-log")?;
    println!("after removing rate-limit, slack-notify and audit-log:");
    println!("{}{}", before_save.explain(), after_save.explain());
    assert!(!before_save.explain().names().contains(&"rate-limit"));
    assert_eq!(after_save.explain().names(), ["invalidate-cache"]);
    assert_eq!(modules.names(), ["crud-approve"]);
    Ok(())
}
