//! Modules: taps on hooks of different context types belong to the module, and removing the
//! module removes all of them — and nothing else.

use hookline::{Flow, Hook, Module, ModuleScope, Modules, RegisterError, SyncHook, Tap};

struct AuditLog {
    save: Hook<Vec<String>>,
    delete: SyncHook<u64>,
}

impl Module for AuditLog {
    fn name(&self) -> &str {
        "audit-log"
    }
    fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
        assert_eq!((scope.name(), scope.rank()), ("audit-log", 0));
        self.delete
            .tap(scope.tap("record-delete").first(), |_: &mut u64| {
                Ok(Flow::Continue)
            })?;
        self.save
            .tap(scope.tap("record-save"), |log: &mut Vec<String>| {
                log.push("audit".into());
                Ok(Flow::Continue)
            })?;
        self.save
            .tap_async(scope.tap("flush").after("record-save"), |_| {
                Box::pin(async { Ok(Flow::Continue) })
            })?;
        Ok(())
    }
}

#[tokio::test]
async fn removing_a_module_removes_its_taps_from_every_hook_and_keeps_the_rest() {
    let save: Hook<Vec<String>> = Hook::new("save");
    let delete: SyncHook<u64> = SyncHook::new("delete");
    save.tap("own", |log: &mut Vec<String>| {
        log.push("own".into());
        Ok(Flow::Continue)
    })
    .unwrap();
    delete.tap("own", |_: &mut u64| Ok(Flow::Continue)).unwrap();
    let modules = Modules::new();
    modules
        .install(AuditLog {
            save: save.clone(),
            delete: delete.clone(),
        })
        .unwrap();
    assert_eq!(save.explain().names(), ["own", "record-save", "flush"]);
    assert_eq!(delete.explain().names(), ["record-delete", "own"]);
    assert_eq!(
        save.explain()
            .taps()
            .filter_map(|t| t.module())
            .collect::<Vec<_>>(),
        ["audit-log", "audit-log"]
    );
    assert_eq!(save.waterfall(Vec::new()).await.unwrap(), ["own", "audit"]);

    modules.remove("audit-log").unwrap();
    assert_eq!(save.explain().names(), ["own"]);
    assert_eq!(delete.explain().names(), ["own"]);
    assert!(modules.names().is_empty());
    // The module can be installed again afterwards.
    modules
        .install(AuditLog {
            save: save.clone(),
            delete,
        })
        .unwrap();
    assert_eq!(save.len(), 3);
}

#[test]
fn a_module_cannot_be_removed_while_another_tap_is_ordered_against_it() {
    let save: Hook<Vec<String>> = Hook::new("save");
    let delete: SyncHook<u64> = SyncHook::new("delete");
    let modules = Modules::new();
    modules
        .install(AuditLog {
            save: save.clone(),
            delete: delete.clone(),
        })
        .unwrap();
    save.tap(
        Tap::named("after-audit").after("audit-log/record-save"),
        |_: &mut Vec<String>| Ok(Flow::Continue),
    )
    .unwrap();
    let err = modules.remove("audit-log").unwrap_err();
    assert!(matches!(err, RegisterError::Referenced { .. }), "{err:?}");
    assert_eq!(modules.names(), ["audit-log"], "still installed");
    assert_eq!(save.len(), 3, "no tap was removed");
    assert_eq!(
        delete.len(),
        1,
        "not even on the hook that was checked first"
    );
}

/// Inside `register_hooks`, a tap registered with a plain name (or `Tap::named(..)` options) is
/// the module's, exactly as with `scope.tap(..)`: it follows the module order and goes when the
/// module is removed. Outside `register_hooks`, a plain name makes a tap without a module.
#[test]
fn plain_names_inside_register_hooks_belong_to_the_module_being_installed() {
    struct Core(SyncHook<Vec<&'static str>>);
    impl Module for Core {
        fn name(&self) -> &str {
            "core"
        }
        fn register_hooks(&self, _: &ModuleScope) -> Result<(), RegisterError> {
            self.0.tap("core", |t: &mut Vec<&'static str>| {
                t.push("core");
                Ok(Flow::Continue)
            })?;
            Ok(())
        }
    }
    struct Billing(SyncHook<Vec<&'static str>>);
    impl Module for Billing {
        fn name(&self) -> &str {
            "billing"
        }
        fn depends_on(&self) -> Vec<String> {
            vec!["core".into()]
        }
        fn register_hooks(&self, _: &ModuleScope) -> Result<(), RegisterError> {
            // No `scope.tap` anywhere, and `first()`: still after core, the module it needs.
            self.0.tap(
                Tap::named("invoice").first(),
                |t: &mut Vec<&'static str>| {
                    t.push("invoice");
                    Ok(Flow::Continue)
                },
            )?;
            self.0.tap("charge", |t: &mut Vec<&'static str>| {
                t.push("charge");
                Ok(Flow::Continue)
            })?;
            Ok(())
        }
    }

    let hook: SyncHook<Vec<&'static str>> = SyncHook::new("checkout");
    hook.tap(Tap::named("app").first(), |t: &mut Vec<&'static str>| {
        t.push("app");
        Ok(Flow::Continue)
    })
    .unwrap();
    let modules = Modules::new();
    modules.install(Core(hook.clone())).unwrap();
    modules.install(Billing(hook.clone())).unwrap();
    hook.tap("after-install", |t: &mut Vec<&'static str>| {
        t.push("after-install");
        Ok(Flow::Continue)
    })
    .unwrap();

    let explain = hook.explain();
    let owners: Vec<(&str, Option<&str>, u32)> = explain
        .taps()
        .map(|t| (t.name(), t.module(), t.module_rank()))
        .collect();
    assert_eq!(
        owners,
        [
            ("app", None, 0),
            ("core", Some("core"), 0),
            ("invoice", Some("billing"), 1),
            ("charge", Some("billing"), 1),
            ("after-install", None, 0),
        ]
    );
    assert_eq!(
        hook.waterfall(Vec::new()).unwrap(),
        ["app", "core", "invoice", "charge", "after-install"]
    );

    modules.remove("billing").unwrap();
    assert_eq!(explain_names(&hook), ["app", "core", "after-install"]);
    modules.remove("core").unwrap();
    assert_eq!(explain_names(&hook), ["app", "after-install"]);
}

fn explain_names(hook: &SyncHook<Vec<&'static str>>) -> Vec<String> {
    hook.explain()
        .names()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Only the installing thread's registrations are attributed: a thread the module spawns needs
/// `scope.tap(..)` options to register the module's taps. After a failed `register_hooks`,
/// nothing stays attributed either.
#[test]
fn attribution_is_per_thread_and_ends_with_register_hooks() {
    struct Spawner(SyncHook<u32>);
    impl Module for Spawner {
        fn name(&self) -> &str {
            "spawner"
        }
        fn register_hooks(&self, scope: &ModuleScope) -> Result<(), RegisterError> {
            let options = scope.tap("scoped-elsewhere");
            std::thread::scope(|threads| {
                threads
                    .spawn(|| {
                        self.0
                            .tap("plain-elsewhere", |_: &mut u32| Ok(Flow::Continue))?;
                        self.0.tap(options, |_: &mut u32| Ok(Flow::Continue))
                    })
                    .join()
                    .expect("the thread does not panic")
            })?;
            Ok(())
        }
    }
    struct Failing(SyncHook<u32>);
    impl Module for Failing {
        fn name(&self) -> &str {
            "failing"
        }
        fn register_hooks(&self, _: &ModuleScope) -> Result<(), RegisterError> {
            self.0.tap("mine", |_: &mut u32| Ok(Flow::Continue))?;
            self.0.tap("mine", |_: &mut u32| Ok(Flow::Continue))?; // a duplicate: fails
            Ok(())
        }
    }

    let hook: SyncHook<u32> = SyncHook::new("h");
    let modules = Modules::new();
    modules.install(Spawner(hook.clone())).unwrap();
    let owners = |hook: &SyncHook<u32>| -> Vec<(String, Option<String>)> {
        hook.explain()
            .taps()
            .map(|t| (t.name().to_owned(), t.module().map(str::to_owned)))
            .collect()
    };
    assert_eq!(
        owners(&hook),
        [
            ("plain-elsewhere".to_owned(), None),
            ("scoped-elsewhere".to_owned(), Some("spawner".to_owned())),
        ]
    );

    let err = modules.install(Failing(hook.clone())).unwrap_err();
    assert!(
        matches!(&err, RegisterError::Duplicate { module: Some(m), .. } if m == "failing"),
        "{err:?}"
    );
    assert_eq!(hook.len(), 2, "the failed module's tap was removed again");
    hook.tap("mine", |_: &mut u32| Ok(Flow::Continue)).unwrap();
    assert_eq!(owners(&hook)[2], ("mine".to_owned(), None));
}
