//! Body-style scripts (Enfyra): the macros, pre-hook short-circuits, post-hooks replacing
//! `@DATA`, `@THROW4xx`, `@LOGS`, `#table` calls, and the post-hook examples of seed 002 run as
//! written on a route pipeline.

use std::path::Path;
use std::sync::Arc;

use hookline::{AfterFailures, AfterRuns, Flow, Hook, Origin, Pipeline, Share, TapError};
use hookline_script::{
    HookPhase, JsonContext, MemoryTables, PoolConfig, Record, Script, ScriptError, ScriptOutcome,
    ScriptPool, ScriptShare, ScriptSource, ScriptTap, Style, TableApi,
};
use serde_json::{Value, json};

fn pool() -> ScriptPool {
    ScriptPool::new(PoolConfig::default().workers(1)).expect("a script pool")
}

async fn body(pool: &ScriptPool, name: &str, code: &str, role: HookPhase) -> Script {
    pool.load(ScriptSource::body(name, code, role))
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

async fn seed_script(pool: &ScriptPool, file: &str) -> Script {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts/seed_002")
        .join(file);
    let source =
        ScriptSource::read(&path, Style::Body(HookPhase::Post)).expect("the seed script reads");
    pool.load(source)
        .await
        .unwrap_or_else(|e| panic!("{file} loads: {e}"))
}

fn tables() -> Arc<MemoryTables> {
    Arc::new(
        MemoryTables::new()
            .with_table("audit_logs")
            .with_table("error_logs"),
    )
}

/// A route `GET /users/{id}` with the four post-hooks of seed 002, each its own tap (Enfyra
/// isolates post-hooks from each other).
async fn users_route(
    pool: &ScriptPool,
    tables: &Arc<MemoryTables>,
) -> Pipeline<JsonContext, Value> {
    let route: Pipeline<JsonContext, Value> = Pipeline::new("GET /users/{id}")
        .after_runs(AfterRuns::Always)
        .after_failures(AfterFailures::Isolate);
    for (tap, file) in [
        ("transform", "transform_response.js"),
        ("enhance", "response_enhancement.js"),
        ("audit", "audit_logging.js"),
        ("errors", "error_handling.js"),
    ] {
        let script = seed_script(pool, file).await;
        let tables: Arc<dyn TableApi> = tables.clone();
        route
            .after()
            .tap_handler(tap, ScriptTap::new(pool, [script]).with_tables(tables))
            .unwrap();
    }
    route
}

fn request() -> JsonContext {
    JsonContext::new()
        .with("user", json!({ "id": 7, "role": "admin" }))
        .with("params", json!({ "id": "5" }))
        .with("query", json!({}))
        .with(
            "api",
            json!({ "request": { "method": "GET", "url": "/users/5" } }),
        )
}

#[tokio::test]
async fn seed_post_hooks_transform_enhance_and_audit_on_the_success_path() {
    let pool = pool();
    let tables = tables();
    let route = users_route(&pool, &tables).await;
    let outcome = route
        .run(request(), async |_req: &mut JsonContext, _share: &Share| {
            Ok(json!({ "data": [
                { "firstName": "Ada", "lastName": "Lovelace", "status": "active", "nickname": "ada", "name": "Ada L." },
                { "firstName": "Alan", "lastName": "Turing", "status": "away", "nickname": "", "name": "Alan T." }
            ] }))
        })
        .await
        .unwrap();
    assert_eq!(outcome.origin, Origin::Handler);
    assert!(outcome.isolated.is_empty(), "{:?}", outcome.isolated);
    let data = &outcome.output;
    assert_eq!(
        data["data"],
        json!([
            { "firstName": "Ada", "lastName": "Lovelace", "status": "active", "nickname": "ada", "name": "Ada L.",
              "fullName": "Ada Lovelace", "isActive": true, "displayName": "ada" },
            { "firstName": "Alan", "lastName": "Turing", "status": "away", "nickname": "", "name": "Alan T.",
              "fullName": "Alan Turing", "isActive": false, "displayName": "Alan T." }
        ])
    );
    assert_eq!(data["meta"]["processedBy"], 7);
    assert_eq!(data["meta"]["version"], "1.0");
    assert!(
        data["meta"]["processedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{data}"
    );

    let audit = tables.rows("audit_logs").unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["action"], "GET /users/5");
    assert_eq!(audit[0]["userId"], 7);
    assert_eq!(audit[0]["resourceId"], "5");
    assert_eq!(audit[0]["statusCode"], 200);
    assert_eq!(audit[0]["error"], Value::Null);
    assert!(audit[0]["timestamp"].is_string());
    assert!(tables.rows("error_logs").unwrap().is_empty());
}

#[tokio::test]
async fn seed_post_hooks_log_errors_and_cannot_hide_them() {
    let pool = pool();
    let tables = tables();
    let route = users_route(&pool, &tables).await;

    let not_found = route
        .run(request(), async |_req: &mut JsonContext, _share: &Share| {
            Err::<Value, _>(TapError::reject("user 5 not found").with_status(404))
        })
        .await
        .unwrap_err();
    assert_eq!(
        (not_found.status(), not_found.user_message()),
        (404, "user 5 not found")
    );
    assert!(
        not_found.suppressed().is_empty(),
        "{:?}",
        not_found.suppressed()
    );

    let crashed = route
        .run(request(), async |_req: &mut JsonContext, _share: &Share| {
            Err::<Value, _>(TapError::fail("database is down"))
        })
        .await
        .unwrap_err();
    assert_eq!(crashed.status(), 500);
    // `@SOCKET.emitToRoom(…)` ran (the 500 branch) as a sink, without failing the post-hook.
    assert!(
        crashed.suppressed().is_empty(),
        "{:?}",
        crashed.suppressed()
    );

    let audit = tables.rows("audit_logs").unwrap();
    assert_eq!(
        audit
            .iter()
            .map(|r| (r["statusCode"].clone(), r["error"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!(404), json!("user 5 not found")),
            (json!(500), json!(crashed.to_string()))
        ]
    );
    let errors = tables.rows("error_logs").unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["errorMessage"], "user 5 not found");
    assert_eq!(errors[0]["statusCode"], 404);
    assert_eq!(errors[0]["url"], "/users/5");
    assert_eq!(errors[0]["userId"], 7);
    assert_eq!(errors[1]["statusCode"], 500);
}

#[tokio::test]
async fn logs_go_to_share_logs() {
    let pool = pool();
    let script = seed_script(&pool, "error_handling.js").await;
    let tables = tables();
    let tap = ScriptTap::new(&pool, [script]).with_tables(tables.clone());
    let mut ctx = request()
        .with(
            "error",
            json!({ "message": "bad input", "statusCode": 400 }),
        )
        .with("statusCode", 400);
    tap.run(&mut ctx).await.unwrap();
    assert_eq!(
        ctx.get("share").unwrap(),
        &json!({ "$logs": ["Error: bad input"] })
    );
    assert_eq!(tables.rows("error_logs").unwrap().len(), 1);
}

#[tokio::test]
async fn a_post_hook_return_value_replaces_data_for_the_next_script() {
    let pool = pool();
    let wrap = body(
        &pool,
        "wrap.js",
        "return { items: @DATA, count: @DATA.length };",
        HookPhase::Post,
    )
    .await;
    let count = body(
        &pool,
        "count.js",
        "@DATA.doubled = @DATA.count * 2;",
        HookPhase::Post,
    )
    .await;
    let quiet = body(
        &pool,
        "quiet.js",
        "if (@DATA.count > 100) return 'too many';",
        HookPhase::Post,
    )
    .await;
    let mut ctx = JsonContext::new().with("data", json!([1, 2, 3]));
    let outcome = pool.tap([wrap, count, quiet]).run(&mut ctx).await.unwrap();
    assert_eq!(outcome, ScriptOutcome::Continue);
    assert_eq!(
        ctx.get("data").unwrap(),
        &json!({ "items": [1, 2, 3], "count": 3, "doubled": 6 })
    );
}

#[tokio::test]
async fn a_pre_hook_return_value_short_circuits_the_hook() {
    let pool = pool();
    let cached = body(
        &pool,
        "cache.js",
        "if (@QUERY.cached) return { cached: true, id: @PARAMS.id };\nreturn;",
        HookPhase::Pre,
    )
    .await;
    let hook: Hook<JsonContext, Value> = Hook::new("GET /items/{id}.before");
    hook.tap_handler("cache", pool.tap([cached])).unwrap();
    let later = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = later.clone();
    hook.tap("later", move |_: &mut JsonContext| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Flow::Continue)
    })
    .unwrap();

    let mut hit = JsonContext::new()
        .with("query", json!({ "cached": true }))
        .with("params", json!({ "id": 3 }));
    assert_eq!(
        hook.call(&mut hit).await.unwrap(),
        Flow::Return(json!({ "cached": true, "id": 3 }))
    );
    assert_eq!(later.load(std::sync::atomic::Ordering::SeqCst), 0);

    let mut miss = JsonContext::new()
        .with("query", json!({}))
        .with("params", json!({ "id": 3 }));
    assert_eq!(hook.call(&mut miss).await.unwrap(), Flow::Continue);
    assert_eq!(later.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn throw_macros_reject_with_their_status() {
    let pool = pool();
    let guard = body(
        &pool,
        "guard.js",
        "if (!@USER) @THROW401('log in first');\nif (@USER.role !== 'admin') @THROW403(`${@USER.name} may not do this`);",
        HookPhase::Pre,
    )
    .await;
    let hook: Hook<JsonContext, Value> = Hook::new("DELETE /users/{id}.before");
    hook.tap_handler("guard", pool.tap([guard])).unwrap();

    let err = hook
        .call(&mut JsonContext::new().with("user", Value::Null))
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.user_message()), (401, "log in first"));
    let err = hook
        .call(&mut JsonContext::new().with("user", json!({ "name": "bob", "role": "user" })))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.user_message()),
        (403, "bob may not do this")
    );
    assert!(err.is_rejection());
    let mut admin = JsonContext::new().with("user", json!({ "name": "ann", "role": "admin" }));
    assert_eq!(hook.call(&mut admin).await.unwrap(), Flow::Continue);
}

#[tokio::test]
async fn pre_hooks_edit_the_body_share_values_and_reject_on_a_pipeline() {
    let pool = pool();
    let normalize = body(
        &pool,
        "normalize.js",
        "@BODY.email = @BODY.email.trim().toLowerCase();\n@SHARE.tenant = 'acme';",
        HookPhase::Pre,
    )
    .await;
    let validate = body(
        &pool,
        "validate.js",
        "if (!@BODY.email.includes('@')) @THROW422('not an email address');",
        HookPhase::Pre,
    )
    .await;
    let stamp = body(
        &pool,
        "stamp.js",
        "@DATA.tenant = @SHARE.tenant;",
        HookPhase::Post,
    )
    .await;
    let route: Pipeline<JsonContext, Value> =
        Pipeline::new("POST /signup").after_runs(AfterRuns::Always);
    route
        .before()
        .tap_handler("scripts", pool.tap([normalize, validate]))
        .unwrap();
    route
        .after()
        .tap_handler("stamp", pool.tap([stamp]))
        .unwrap();

    let handler = async |req: &mut JsonContext, share: &Share| {
        let tenant = share.get::<ScriptShare>().map(|s| s.0["tenant"].clone());
        Ok(json!({ "email": req.get("body").unwrap()["email"], "tenant_seen_by_handler": tenant }))
    };
    let ok = route
        .run(
            JsonContext::new().with("body", json!({ "email": "  Ada@Example.ORG " })),
            handler,
        )
        .await
        .unwrap();
    assert_eq!(
        ok.output,
        json!({ "email": "ada@example.org", "tenant_seen_by_handler": "acme", "tenant": "acme" })
    );

    let err = route
        .run(
            JsonContext::new().with("body", json!({ "email": "nope" })),
            handler,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.user_message()),
        (422, "not an email address")
    );
}

#[tokio::test]
async fn macros_inside_strings_and_comments_are_text() {
    let pool = pool();
    let script = body(
        &pool,
        "text.js",
        "// @USER is not touched here, nor #users\nconst s = '@DATA' + \"#t\" + `@BODY ${@QUERY.q}`; /* @PARAMS */\n@BODY.note = s;",
        HookPhase::Pre,
    )
    .await;
    let mut ctx = JsonContext::new()
        .with("body", json!({}))
        .with("query", json!({ "q": 1 }));
    pool.tap([script]).run(&mut ctx).await.unwrap();
    assert_eq!(ctx.get("body").unwrap()["note"], "@DATA#t@BODY 1");
}

#[tokio::test]
async fn table_calls_reach_the_data_api() {
    let pool = pool();
    let tables = Arc::new(MemoryTables::new().with_table("products"));
    for (name, price) in [("pen", 2), ("lamp", 30), ("desk", 120)] {
        tables
            .create(
                "products",
                Record::try_from(json!({ "name": name, "price": price })).unwrap(),
            )
            .await
            .unwrap();
    }
    let script = body(
        &pool,
        "catalog.js",
        "const { data } = await #products.find({ where: { price: { _gte: 10 } }, sort: '-price' });
         const updated = await #products.update({ id: data[0].id, data: { featured: true } });
         await $ctx.$repos.products.delete({ id: 1 });
         return data.map(p => p.name).concat(updated.data[0].featured ? ['featured'] : []);",
        HookPhase::Post,
    )
    .await;
    let mut ctx = JsonContext::new().with("data", Value::Null);
    ScriptTap::new(&pool, [script])
        .with_tables(tables.clone())
        .run(&mut ctx)
        .await
        .unwrap();
    assert_eq!(
        ctx.get("data").unwrap(),
        &json!(["desk", "lamp", "featured"])
    );
    let rows = tables.rows("products").unwrap();
    assert_eq!(
        rows.iter().map(|r| r["name"].clone()).collect::<Vec<_>>(),
        ["lamp", "desk"]
    );
    assert_eq!(rows[1]["featured"], true);
}

#[tokio::test]
async fn data_api_errors_are_exceptions_a_script_may_catch() {
    let pool = pool();
    let tables: Arc<dyn TableApi> = Arc::new(MemoryTables::new().with_table("known"));
    let caught = body(
        &pool,
        "caught.js",
        "try { await #unknown.find(); } catch (e) { @DATA = e.message; }",
        HookPhase::Post,
    )
    .await;
    let mut ctx = JsonContext::new();
    ScriptTap::new(&pool, [caught])
        .with_tables(tables.clone())
        .run(&mut ctx)
        .await
        .unwrap();
    assert_eq!(
        ctx.get("data").unwrap(),
        "#unknown.find: no table named `unknown`"
    );

    let uncaught = body(
        &pool,
        "uncaught.js",
        "const ok = 1;\nawait #known.update({ data: { a: 1 } });",
        HookPhase::Post,
    )
    .await;
    let err = ScriptTap::new(&pool, [uncaught])
        .with_tables(tables)
        .run(&mut JsonContext::new())
        .await
        .unwrap_err();
    let ScriptError::Thrown {
        message, location, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(
        message.starts_with("TypeError: #known.update: update expects { id"),
        "{message}"
    );
    assert_eq!(location.as_ref().map(|l| l.line), Some(2), "{err}");
}

#[tokio::test]
async fn without_a_data_api_table_calls_say_how_to_give_one() {
    let pool = pool();
    let script = body(
        &pool,
        "no_api.js",
        "await #audit_logs.create({ data: {} });",
        HookPhase::Post,
    )
    .await;
    let err = pool
        .tap([script])
        .run(&mut JsonContext::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("#audit_logs.create: no data API was given to this script tap (see `ScriptTap::with_tables`)"),
        "{err}"
    );
}

#[tokio::test]
async fn ctx_members_work_without_macros_and_other_keys_are_reachable() {
    let pool = pool();
    let script = body(
        &pool,
        "plain.js",
        "$ctx.$record.total = $ctx.$record.price * $ctx.$record.quantity;\n$ctx.$data = { ok: true };",
        HookPhase::Post,
    )
    .await;
    let mut ctx = JsonContext::new().with("record", json!({ "price": 2.5, "quantity": 4 }));
    pool.tap([script]).run(&mut ctx).await.unwrap();
    // A new key has no type to keep: JSON gives the integer (declare a schema to get a float).
    assert_eq!(ctx.get("record").unwrap()["total"], json!(10));
    assert_eq!(ctx.get("data").unwrap(), &json!({ "ok": true }));
}

#[tokio::test]
async fn post_hooks_on_the_error_path_see_the_error_but_cannot_replace_it() {
    let pool = pool();
    let rescue = body(
        &pool,
        "rescue.js",
        "@DATA = { rescued: @ERROR.message, status: @STATUS };\nreturn @DATA;",
        HookPhase::Post,
    )
    .await;
    let route: Pipeline<JsonContext, Value> =
        Pipeline::new("GET /items").after_runs(AfterRuns::Always);
    route
        .after()
        .tap_handler("rescue", pool.tap([rescue]))
        .unwrap();
    let err = route
        .run(
            JsonContext::new(),
            async |_: &mut JsonContext, _: &Share| {
                Err::<Value, _>(TapError::reject("no such item").with_status(404))
            },
        )
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.user_message()), (404, "no such item"));
    assert!(err.suppressed().is_empty(), "{:?}", err.suppressed());
}

#[tokio::test]
async fn share_must_stay_an_object() {
    let pool = pool();
    let breaks = body(
        &pool,
        "breaks_share.js",
        "@SHARE = 'oops';",
        HookPhase::Post,
    )
    .await;
    let route: Pipeline<JsonContext, Value> = Pipeline::new("GET /x");
    route
        .after()
        .tap_handler("breaks", pool.tap([breaks]))
        .unwrap();
    let err = route
        .run(
            JsonContext::new(),
            async |_: &mut JsonContext, _: &Share| Ok(json!(1)),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`share` must stay an object; the scripts set it to \"oops\""),
        "{err}"
    );
}
