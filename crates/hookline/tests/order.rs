//! Ordering: stage, module order, first/last placement, before/after constraints, and the errors
//! a bad constraint produces.

use hookline::{Flow, Hook, Module, ModuleScope, Modules, RegisterError, SyncHook, Tap, TapResult};

type Trace = Vec<&'static str>;

fn push(name: &'static str) -> impl Fn(&mut Trace) -> TapResult + Send + Sync + 'static {
    move |trace: &mut Trace| {
        trace.push(name);
        Ok(Flow::Continue)
    }
}

fn run(hook: &SyncHook<Trace>) -> Trace {
    hook.waterfall(Vec::new()).expect("call succeeds")
}

#[test]
fn default_placement_is_registration_order() {
    let hook = SyncHook::new("h");
    for name in ["a", "b", "c"] {
        hook.tap(name, push(name)).unwrap();
    }
    assert_eq!(run(&hook), ["a", "b", "c"]);
}

#[test]
fn first_is_unshift_so_the_last_first_runs_first() {
    // AdminForth: the user's hook, then plugin A unshifts, plugin B unshifts, plugin C pushes.
    let hook = SyncHook::new("create.before_save");
    hook.tap("user", push("user")).unwrap();
    hook.tap(Tap::named("plugin-a").first(), push("plugin-a"))
        .unwrap();
    hook.tap(Tap::named("plugin-b").first(), push("plugin-b"))
        .unwrap();
    hook.tap(Tap::named("plugin-c").last(), push("plugin-c"))
        .unwrap();
    assert_eq!(run(&hook), ["plugin-b", "plugin-a", "user", "plugin-c"]);
    assert_eq!(
        hook.explain()
            .taps()
            .map(|t| t.sequence())
            .collect::<Vec<_>>(),
        [-2, -1, 1, 2]
    );
}

#[test]
fn stage_outranks_placement() {
    let hook = SyncHook::new("h");
    hook.tap(Tap::named("late").stage(5).first(), push("late"))
        .unwrap();
    hook.tap("zero", push("zero")).unwrap();
    hook.tap(Tap::named("early").stage(-1), push("early"))
        .unwrap();
    hook.tap(Tap::named("zero-first").first(), push("zero-first"))
        .unwrap();
    assert_eq!(run(&hook), ["early", "zero-first", "zero", "late"]);
}

#[test]
fn before_pulls_the_declaring_tap_up_and_moves_nothing_else() {
    let hook = SyncHook::new("h");
    for name in ["a", "b", "c", "d"] {
        hook.tap(name, push(name)).unwrap();
    }
    hook.tap(Tap::named("x").before("b"), push("x")).unwrap();
    assert_eq!(run(&hook), ["a", "x", "b", "c", "d"]);
}

#[test]
fn after_makes_the_declaring_tap_wait_and_moves_nothing_else() {
    let hook = SyncHook::new("h");
    hook.tap(Tap::named("x").first(), push("x")).unwrap();
    for name in ["a", "b", "c"] {
        hook.tap(name, push(name)).unwrap();
    }
    // x was first; after("b") moves it just behind b.
    hook.tap(Tap::named("x").first().after("b").replace(), push("x"))
        .unwrap();
    assert_eq!(run(&hook), ["a", "b", "x", "c"]);
}

#[test]
fn a_constraint_overrides_stage() {
    let hook = SyncHook::new("h");
    hook.tap(Tap::named("early").stage(-10), push("early"))
        .unwrap();
    hook.tap(Tap::named("late").stage(10).before("early"), push("late"))
        .unwrap();
    assert_eq!(run(&hook), ["late", "early"]);
}

#[test]
fn unknown_reference_is_an_error_naming_both_taps_and_changes_nothing() {
    let hook = SyncHook::new("h");
    hook.tap("a", push("a")).unwrap();
    let err = hook
        .tap(Tap::named("x").after("missing"), push("x"))
        .unwrap_err();
    assert_eq!(
        err,
        RegisterError::UnknownTap {
            hook: "h".into(),
            tap: "x".into(),
            relation: "after",
            reference: "missing".into(),
        }
    );
    assert!(err.to_string().contains("`x` must run after `missing`"));
    assert_eq!(run(&hook), ["a"]);
}

#[test]
fn a_cycle_is_an_error_naming_the_taps_and_the_replaced_tap_stays() {
    let hook = SyncHook::new("h");
    hook.tap("a", push("a")).unwrap();
    hook.tap(Tap::named("b").after("a"), push("b")).unwrap();
    hook.tap(Tap::named("c").after("b"), push("c")).unwrap();
    let err = hook
        .tap(Tap::named("a").after("c").replace(), push("a2"))
        .unwrap_err();
    let RegisterError::Cycle { taps, .. } = &err else {
        panic!("expected a cycle, got {err:?}");
    };
    assert_eq!(taps.first(), taps.last(), "the cycle is closed: {taps:?}");
    for name in ["a", "b", "c"] {
        assert!(taps.iter().any(|t| t == name), "{name} missing in {taps:?}");
    }
    assert!(err.to_string().contains("cycle"));
    assert_eq!(run(&hook), ["a", "b", "c"]);
}

#[test]
fn duplicates_are_refused_unless_replaced() {
    let hook = SyncHook::new("h");
    let line = line!() + 1;
    hook.tap("a", push("a1")).unwrap();
    let err = hook.tap("a", push("a2")).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!("order.rs:{line}")),
        "names the existing site: {message}"
    );
    assert!(message.contains("Tap::replace"));
    hook.tap(Tap::named("a").replace(), push("a2")).unwrap();
    assert_eq!(run(&hook), ["a2"]);
}

#[test]
fn constraints_can_name_a_tap_of_one_module() {
    struct Plugin(&'static str, SyncHook<Trace>, &'static str);
    impl Module for Plugin {
        fn name(&self) -> &str {
            self.0
        }
        fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
            self.1.tap(scope.tap("log"), push(self.2))?;
            Ok(())
        }
    }
    let hook = SyncHook::new("h");
    let modules = Modules::new();
    modules
        .install(Plugin("one", hook.clone(), "one/log"))
        .unwrap();
    modules
        .install(Plugin("two", hook.clone(), "two/log"))
        .unwrap();
    // Same tap name in two modules is fine; "two/log" picks one of them.
    hook.tap(Tap::named("x").before("two/log"), push("x"))
        .unwrap();
    assert_eq!(run(&hook), ["one/log", "x", "two/log"]);
    // A bare name refers to every tap of that name.
    hook.tap(Tap::named("y").before("log"), push("y")).unwrap();
    assert_eq!(run(&hook), ["y", "one/log", "x", "two/log"]);
}

/// Three modules in a hierarchy (core <- auth <- billing), installed in a scrambled order, each
/// registering several taps: module order first, then registration order within a module, and
/// `first()` does not take a tap ahead of the modules its module depends on.
#[test]
fn module_hierarchy_orders_across_modules_then_array_order() {
    struct M {
        name: &'static str,
        deps: &'static [&'static str],
        taps: &'static [&'static str],
        first: bool,
        hook: SyncHook<Trace>,
    }
    impl Module for M {
        fn name(&self) -> &str {
            self.name
        }
        fn depends_on(&self) -> Vec<String> {
            self.deps.iter().map(|d| d.to_string()).collect()
        }
        fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
            for tap in self.taps {
                let options = scope.tap(*tap);
                let options = if self.first { options.first() } else { options };
                self.hook.tap(options, push(tap))?;
            }
            Ok(())
        }
    }
    let hook = SyncHook::new("commit");
    hook.tap("app", push("app")).unwrap();
    let m = |name, deps, taps, first| -> Box<dyn Module> {
        Box::new(M {
            name,
            deps,
            taps,
            first,
            hook: hook.clone(),
        })
    };
    let modules = Modules::new();
    modules
        .install_all([
            m("billing", &["auth"], &["billing-1", "billing-2"], true),
            m("auth", &["core"], &["auth-1", "auth-2"], false),
            m("core", &[], &["core-1", "core-2"], false),
        ])
        .unwrap();
    assert_eq!(modules.names(), ["core", "auth", "billing"]);
    assert_eq!(
        (
            modules.rank("core"),
            modules.rank("auth"),
            modules.rank("billing")
        ),
        (Some(0), Some(1), Some(2))
    );
    assert_eq!(
        run(&hook),
        [
            "app",
            "core-1",
            "core-2",
            "auth-1",
            "auth-2",
            "billing-2",
            "billing-1"
        ]
    );
}

/// A module from a closure, for the module-order tests below.
struct Plugin<F> {
    name: &'static str,
    deps: &'static [&'static str],
    register: F,
}

impl<F> Module for Plugin<F>
where
    F: Fn(&ModuleScope) -> Result<(), RegisterError> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        self.name
    }
    fn depends_on(&self) -> Vec<String> {
        self.deps.iter().map(|d| d.to_string()).collect()
    }
    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        (self.register)(scope)
    }
}

/// A module that registers one tap per name on `hook`, with the options `options` makes.
fn plugin(
    hook: &SyncHook<Trace>,
    name: &'static str,
    deps: &'static [&'static str],
    taps: &'static [&'static str],
    options: fn(Tap) -> Tap,
) -> Plugin<impl Fn(&ModuleScope) -> Result<(), RegisterError> + Send + Sync + 'static> {
    let hook = hook.clone();
    Plugin {
        name,
        deps,
        register: move |scope: &ModuleScope| {
            for tap in taps {
                hook.tap(options(scope.tap(*tap)), push(tap))?;
            }
            Ok(())
        },
    }
}

/// Octo's order is registration order: a module installed later runs later, even when an
/// earlier one sits deeper in the dependency hierarchy.
#[test]
fn an_unrelated_module_installed_after_a_child_module_runs_after_it() {
    let hook = SyncHook::new("commit");
    let modules = Modules::new();
    modules
        .install(plugin(&hook, "parent", &[], &["parent"], |t| t))
        .unwrap();
    modules
        .install(plugin(&hook, "child", &["parent"], &["child"], |t| t))
        .unwrap();
    modules
        .install(plugin(&hook, "unrelated", &[], &["unrelated"], |t| t))
        .unwrap();
    assert_eq!(run(&hook), ["parent", "child", "unrelated"]);
    assert_eq!(
        ["parent", "child", "unrelated"].map(|m| modules.rank(m)),
        [Some(0), Some(1), Some(2)]
    );
    let text = hook.explain().to_string();
    assert!(
        text.contains("1. parent  module=parent (rank 0)  stage=0"),
        "{text}"
    );
    assert!(
        text.contains("2. child  module=child (rank 1, after parent)  stage=0"),
        "{text}"
    );
    assert!(
        text.contains("3. unrelated  module=unrelated (rank 2)  stage=0"),
        "{text}"
    );
}

/// `first()` is AdminForth's `unshift` for module taps too: in front of the application's taps
/// and of unrelated modules' — but never in front of the taps of a module its module depends
/// on, which it follows as closely as it can.
#[test]
fn first_in_a_dependent_module_goes_first_except_before_its_dependencies() {
    let hook = SyncHook::new("save");
    hook.tap("app", push("app")).unwrap();
    let modules = Modules::new();
    modules
        .install(plugin(&hook, "audit", &[], &["audit"], |t| t))
        .unwrap();
    modules
        .install(plugin(&hook, "approve", &[], &["approve"], Tap::first))
        .unwrap();
    modules
        .install(plugin(&hook, "notify", &["audit"], &["notify"], Tap::first))
        .unwrap();
    hook.tap("app-late", push("app-late")).unwrap();
    assert_eq!(
        run(&hook),
        ["approve", "app", "audit", "notify", "app-late"]
    );
}

/// A tap a module registers later (with options from its scope) is still ordered before the
/// taps of the modules that depend on it: those wait for it, and only they move.
#[test]
fn a_late_tap_of_a_dependency_still_runs_before_its_dependents() {
    let hook = SyncHook::new("save");
    let kept: std::sync::Arc<std::sync::Mutex<Option<Tap>>> = Default::default();
    let modules = Modules::new();
    let keep = kept.clone();
    let core_hook = hook.clone();
    modules
        .install(Plugin {
            name: "core",
            deps: &[],
            register: move |scope: &ModuleScope| {
                core_hook.tap(scope.tap("core"), push("core"))?;
                *keep.lock().unwrap() = Some(scope.tap("core-late"));
                Ok(())
            },
        })
        .unwrap();
    modules
        .install(plugin(&hook, "billing", &["core"], &["billing"], |t| t))
        .unwrap();
    hook.tap("app", push("app")).unwrap();
    let late = kept.lock().unwrap().take().unwrap();
    hook.tap(late, push("core-late")).unwrap();
    assert_eq!(run(&hook), ["core", "app", "core-late", "billing"]);
}

/// Module order holds within a stage; a tap's stage still decides first.
#[test]
fn stage_comes_before_module_order() {
    let hook = SyncHook::new("save");
    let modules = Modules::new();
    modules
        .install(plugin(&hook, "core", &[], &["core"], |t| t))
        .unwrap();
    modules
        .install(plugin(&hook, "check", &["core"], &["check"], |t| {
            t.stage(-1)
        }))
        .unwrap();
    assert_eq!(run(&hook), ["check", "core"]);
}

/// A constraint that would put a module's tap before a tap of a module it depends on (at the
/// same stage) is refused, naming both taps and both modules; nothing changes.
#[test]
fn a_constraint_against_the_module_order_is_an_error() {
    let hook = SyncHook::new("save");
    let modules = Modules::new();
    modules
        .install(plugin(&hook, "core", &[], &["validate"], |t| t))
        .unwrap();
    let err = modules
        .install(plugin(&hook, "audit", &["core"], &["check"], |t| {
            t.before("core/validate")
        }))
        .unwrap_err();
    let RegisterError::ModuleOrder {
        taps,
        module,
        dependency,
        ..
    } = &err
    else {
        panic!("expected a module order error, got {err:?}");
    };
    assert_eq!(taps, &["audit/check", "core/validate", "audit/check"]);
    assert_eq!((module.as_str(), dependency.as_str()), ("audit", "core"));
    let message = err.to_string();
    assert!(
        message.contains("module `audit` depends on `core`"),
        "{message}"
    );
    assert!(message.contains("another stage"), "{message}");
    assert_eq!(modules.names(), ["core"]);
    assert_eq!(run(&hook), ["validate"]);
    // With an earlier stage, the same tap is fine.
    modules
        .install(plugin(&hook, "audit", &["core"], &["check"], |t| {
            t.stage(-1)
        }))
        .unwrap();
    assert_eq!(run(&hook), ["check", "validate"]);
}

/// Removing a module and installing it again puts it last, after every module installed before.
#[test]
fn a_module_installed_again_comes_after_the_others() {
    let hook = SyncHook::new("save");
    let modules = Modules::new();
    modules
        .install(plugin(&hook, "a", &[], &["a"], |t| t))
        .unwrap();
    modules
        .install(plugin(&hook, "b", &[], &["b"], |t| t))
        .unwrap();
    modules.remove("a").unwrap();
    modules
        .install(plugin(&hook, "a", &[], &["a"], |t| t))
        .unwrap();
    assert_eq!(run(&hook), ["b", "a"]);
    assert_eq!((modules.rank("b"), modules.rank("a")), (Some(1), Some(2)));
}

/// Random registrations (seeded, deterministic): without constraints the order is exactly the
/// sort by (stage, sequence); with `before` constraints on earlier taps, every constraint holds.
#[test]
fn randomized_orders_respect_the_rules() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..200 {
        let hook: SyncHook<Vec<String>> = SyncHook::new("random");
        let mut expected: Vec<(i32, i64, String)> = Vec::new();
        let mut constraints: Vec<(String, String)> = Vec::new();
        let (mut first, mut last) = (0i64, 0i64);
        for i in 0..(1 + next(12)) {
            let name = format!("t{i}");
            let stage = next(3) as i32 - 1;
            let is_first = next(2) == 0;
            let mut tap = Tap::named(name.clone()).stage(stage);
            let seq = if is_first {
                tap = tap.first();
                first -= 1;
                first
            } else {
                last += 1;
                last
            };
            if round % 2 == 1 && i > 0 && next(3) == 0 {
                let target = format!("t{}", next(i));
                tap = tap.before(target.clone());
                constraints.push((name.clone(), target));
            }
            let label = name.clone();
            hook.tap(tap, move |v: &mut Vec<String>| {
                v.push(label.clone());
                Ok(Flow::Continue)
            })
            .unwrap();
            expected.push((stage, seq, name));
        }
        let order = hook.waterfall(Vec::new()).unwrap();
        if constraints.is_empty() {
            expected.sort();
            let names: Vec<String> = expected.into_iter().map(|(_, _, n)| n).collect();
            assert_eq!(order, names, "round {round}");
        } else {
            let pos = |n: &str| order.iter().position(|o| o == n).unwrap();
            for (a, b) in &constraints {
                assert!(
                    pos(a) < pos(b),
                    "round {round}: {a} before {b} in {order:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn async_and_sync_taps_share_one_order() {
    let hook: Hook<Trace> = Hook::new("mixed");
    hook.tap("sync-1", push("sync-1")).unwrap();
    hook.tap_async(Tap::named("async-0").first(), |t| {
        Box::pin(async move {
            tokio::task::yield_now().await;
            t.push("async-0");
            Ok(Flow::Continue)
        })
    })
    .unwrap();
    hook.tap("sync-2", push("sync-2")).unwrap();
    assert_eq!(
        hook.waterfall(Vec::new()).await.unwrap(),
        ["async-0", "sync-1", "sync-2"]
    );
}

#[test]
fn explain_shows_order_modules_sites_and_mermaid() {
    let hook = SyncHook::new("apartments.create.before_save");
    let line = line!() + 1;
    hook.tap(Tap::named("set-realtor").stage(-1), push("r"))
        .unwrap();
    hook.tap(Tap::named("audit").after("set-realtor"), push("a"))
        .unwrap();
    let explain = hook.explain();
    let text = explain.to_string();
    assert!(text.starts_with("hook `apartments.create.before_save`: 2 tap(s)"));
    assert!(text.contains("1. set-realtor  stage=-1  last#1"), "{text}");
    assert!(
        text.contains("2. audit  stage=0  last#2  after=set-realtor"),
        "{text}"
    );
    assert!(text.contains(&format!("order.rs:{line}")), "{text}");
    let mermaid = explain.mermaid();
    assert!(
        mermaid.contains("t0[\"set-realtor<br/>stage -1\"]"),
        "{mermaid}"
    );
    assert!(mermaid.contains("call --> t0"));
    assert!(mermaid.contains("t0 --> t1"));
    assert!(mermaid.contains("t1 --> done"));
}
