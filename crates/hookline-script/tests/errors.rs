//! Errors point at the script's own file, line and column — through the rewriting of
//! body-style macros, which shifts columns, and past non-ASCII text, which QuickJS counts in
//! bytes.

use hookline_script::{
    HookPhase, JsonContext, PoolConfig, ScriptError, ScriptPool, ScriptSource, Style,
};
use serde_json::json;

fn pool() -> ScriptPool {
    ScriptPool::new(PoolConfig::default().workers(1)).expect("a script pool")
}

/// Loads a body-style script and runs it; the error's location as text.
async fn body_error(pool: &ScriptPool, name: &str, code: &str) -> String {
    let error = match pool
        .load(ScriptSource::body(name, code, HookPhase::Post))
        .await
    {
        Err(error) => error,
        Ok(script) => {
            let mut ctx = JsonContext::new().with("data", json!({}));
            pool.tap([script]).run(&mut ctx).await.unwrap_err()
        }
    };
    error
        .location()
        .unwrap_or_else(|| panic!("no location: {error}"))
        .to_string()
}

#[tokio::test]
async fn syntax_errors_of_function_style_scripts_are_located() {
    let pool = pool();
    let err = pool
        .load(ScriptSource::function(
            "hooks/broken.js",
            "export default async ({ record }) => {\n  record.x = ;\n};",
        ))
        .await
        .unwrap_err();
    let ScriptError::Syntax { location, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(location.to_string(), "hooks/broken.js:2:14");
    assert_eq!(message, "SyntaxError: unexpected token in expression: ';'");
    assert_eq!(
        err.to_string(),
        "hooks/broken.js:2:14: SyntaxError: unexpected token in expression: ';'"
    );
}

#[tokio::test]
async fn syntax_errors_of_body_style_scripts_are_located_in_the_original_text() {
    let pool = pool();
    // Line 1 also carries the function prefix; the macro before the error shifts columns.
    assert_eq!(body_error(&pool, "a.js", "@DATA.x = ;").await, "a.js:1:11");
    assert_eq!(
        body_error(
            &pool,
            "b.js",
            "const a = 1;\nconst b = 2;\n@USER.name = @BODY.x +;"
        )
        .await,
        "b.js:3:23"
    );
    // An unclosed body: the error is at the end of the script, not in hookline's suffix.
    let unclosed = body_error(&pool, "c.js", "if (@DATA) {\n  @DATA.x = 1;\n").await;
    assert_eq!(unclosed, "c.js:3:1");
}

#[tokio::test]
async fn runtime_errors_of_body_style_scripts_point_at_the_macro_that_failed() {
    let pool = pool();
    for (code, location) in [
        ("const q = 1;\n@DATA.missing.deep;", "d.js:2:1"),
        (
            "const q = 1;\nconst v = `${@DATA.missing.deep}`;",
            "d.js:2:14",
        ),
        ("@LOGS('x'); const y = @DATA.a.b;", "d.js:1:23"),
        // `é` and `ü` are two bytes each in UTF-8; columns count characters.
        ("const é = 'ü'; @DATA.missing.deep;", "d.js:1:16"),
        ("const x = 1;\n  notDefined(@DATA);", "d.js:2:3"),
    ] {
        assert_eq!(body_error(&pool, "d.js", code).await, location, "{code}");
    }
}

#[tokio::test]
async fn unknown_macros_are_refused_at_load_with_their_position() {
    let pool = pool();
    let err = pool
        .load(ScriptSource::body(
            "m.js",
            "const x = 1;\n  @THROW4('x');",
            HookPhase::Pre,
        ))
        .await
        .unwrap_err();
    let ScriptError::Macro { location, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(location.to_string(), "m.js:2:3");
    assert!(
        message.starts_with("unknown macro `@THROW4`; body-style scripts may use @BODY"),
        "{message}"
    );
    let err = pool
        .load(ScriptSource::body(
            "env.js",
            "const key = @ENV.SECRET;",
            HookPhase::Pre,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.location().unwrap().to_string(), "env.js:1:13");
}

#[tokio::test]
async fn scripts_read_from_files_are_named_by_their_path() {
    let pool = pool();
    let dir = std::env::temp_dir().join(format!("hookline-script-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("before_save.js");
    std::fs::write(
        &path,
        "export default async ({ record }) => {\n  record.n.m.o = 1;\n};",
    )
    .unwrap();
    let script = pool
        .load(ScriptSource::read(&path, Style::Function).unwrap())
        .await
        .unwrap();
    let mut ctx = JsonContext::new().with("record", json!({}));
    let err = pool.tap([script]).run(&mut ctx).await.unwrap_err();
    let location = err.location().unwrap();
    assert_eq!(&*location.file, path.display().to_string());
    assert_eq!((location.line, location.column), (2, 3));
    std::fs::remove_dir_all(&dir).unwrap();

    let missing = dir.join("missing.js");
    let err = ScriptSource::read(&missing, Style::Function).unwrap_err();
    assert!(matches!(err, ScriptError::Read { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read script `{}`: ", missing.display())),
        "{err}"
    );
}
