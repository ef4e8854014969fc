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
