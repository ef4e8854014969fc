//! Runs every example declared in `examples/Cargo.toml` and fails if one of them fails.
//!
//! Each example ends by asserting the behaviour it shows, so a change that breaks the behaviour
//! makes its example exit with an error, and this test with it. The examples are run through
//! `cargo run`, so they are always built from the current sources, and an example added to the
//! manifest is run without touching this file.

use std::process::Command;

/// The `name`s of the `[[example]]` sections of this package's manifest.
fn example_names() -> Vec<&'static str> {
    include_str!("../Cargo.toml")
        .split("[[example]]")
        .skip(1)
        .filter_map(|section| {
            section
                .lines()
                .find_map(|line| line.trim().strip_prefix("name = "))
                .map(|name| name.trim_matches('"'))
        })
        .collect()
}

#[test]
fn every_example_runs_and_its_assertions_hold() {
    let names = example_names();
    assert!(
        names.contains(&"adminforth_realtor") && names.contains(&"failures"),
        "the manifest scan found {names:?}"
    );
    for name in names {
        let output = Command::new(env!("CARGO"))
            .args([
                "run",
                "--quiet",
                "-p",
                "hookline-examples",
                "--example",
                name,
            ])
            .output()
            .unwrap_or_else(|e| panic!("cannot start cargo for example `{name}`: {e}"));
        assert!(
            output.status.success(),
            "example `{name}` failed ({})\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}
