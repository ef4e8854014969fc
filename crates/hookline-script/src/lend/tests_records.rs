//! Records lent with `Lend::lend_records`: rows handed to scripts as (column, value)
//! pairs and patched with their changes, on the calling thread and on a worker; and values
//! read back only where `Lend::taken_back` says.

use std::time::Duration;

use crate::lend::{Lend, Records, RecordsBack, Returned, Row};
use crate::{ContextError, PoolConfig, ScriptOutcome, ScriptPool, ScriptSource};
use serde_json::{Map, Value, json};

/// A context lending `records` under `key` beside `values`, recording what comes back.
#[derive(Debug, Default)]
struct Lending {
    key: String,
    records: Option<Records>,
    values: Map<String, Value>,
    /// What `restore_records` was handed.
    back: Option<RecordsBack>,
    /// The values `restore_script` was handed, and whether as changed.
    returned: Option<(bool, Map<String, Value>)>,
    /// Order of the calls the tap made.
    calls: Vec<&'static str>,
    /// Fail `lend_script`.
    refuse_values: bool,
    /// What `taken_back` answers.
    taken_back: Option<&'static [&'static str]>,
}

impl Lending {
    fn new(key: &str, records: Records) -> Self {
        Lending {
            key: key.into(),
            records: Some(records),
            values: Map::from_iter([("total".to_string(), json!(2))]),
            ..Lending::default()
        }
    }

    fn back(&self) -> &RecordsBack {
        self.back.as_ref().expect("the records came back")
    }

    /// The values handed back, as one JSON object.
    fn returned_values(&self) -> Value {
        let (_, values) = self.returned.as_ref().expect("the values came back");
        Value::Object(values.clone())
    }
}

impl Lend for Lending {
    fn lend_script(&mut self) -> Result<Map<String, Value>, ContextError> {
        if self.refuse_values {
            return Err(ContextError::invalid("no values today"));
        }
        Ok(self.values.clone())
    }

    fn restore_script(&mut self, values: Returned) -> Result<(), ContextError> {
        self.calls.push("restore_script");
        self.returned = Some(match values {
            Returned::Changed(values) => (true, values),
            Returned::Unchanged(values) => (false, values),
        });
        Ok(())
    }

    fn taken_back(&self) -> Option<&[&str]> {
        self.taken_back
    }

    fn lend_records(&mut self) -> Option<(String, Records)> {
        self.calls.push("lend_records");
        Some((self.key.clone(), self.records.take()?))
    }

    fn restore_records(&mut self, key: String, records: RecordsBack) -> Result<(), ContextError> {
        self.calls.push("restore_records");
        assert_eq!(key, self.key);
        self.back = Some(records);
        Ok(())
    }
}

fn row(pairs: Value) -> Row {
    match pairs {
        Value::Array(pairs) => pairs
            .into_iter()
            .map(|pair| match pair {
                Value::Array(mut pair) if pair.len() == 2 => {
                    let value = pair.pop().unwrap();
                    (pair.pop().unwrap().as_str().unwrap().to_string(), value)
                }
                other => panic!("not a pair: {other}"),
            })
            .collect(),
        other => panic!("not pairs: {other}"),
    }
}

/// Two rows whose columns are not in name order.
fn rows() -> Records {
    Records::Many(vec![
        row(json!([
            ["title", "Loft"],
            ["id", 1],
            ["price", 2500.0],
            ["country", "ua"]
        ])),
        row(json!([
            ["title", "Hut"],
            ["id", 2],
            ["price", 10.5],
            ["country", null]
        ])),
    ])
}

/// A pool running calls on the calling thread, and one running them on a worker.
fn pools() -> [(&'static str, ScriptPool); 2] {
    let config = PoolConfig::default().workers(1);
    [
        ("inline", ScriptPool::new(config.clone()).unwrap()),
        (
            "worker",
            ScriptPool::new(config.inline_budget(Duration::ZERO)).unwrap(),
        ),
    ]
}

async fn run(pool: &ScriptPool, code: &str, ctx: &mut Lending) -> ScriptOutcome {
    let script = pool
        .load(ScriptSource::function("rows.js", code))
        .await
        .unwrap();
    pool.tap([script]).run_lent(ctx).await.unwrap()
}

fn columns(row: &Row) -> Vec<&str> {
    row.iter().map(|(name, _)| name.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_come_back_patched_with_their_columns_in_place_and_added_ones_last() {
    for (name, pool) in pools() {
        let mut ctx = Lending::new("response", rows());
        let outcome = run(
            &pool,
            "export default async ({ response, total }) => {
               for (const item of response) item.per_unit = item.price / 2;
               response[0].country = response[0].country.toUpperCase();
               response[1].price = 11;
               delete response[1].country;
               return { ok: true };
             };",
            &mut ctx,
        )
        .await;
        assert!(matches!(outcome, ScriptOutcome::Continue), "{name}");
        let RecordsBack::Records(Records::Many(back)) = ctx.back() else {
            panic!("{name}: {:?}", ctx.back());
        };
        assert_eq!(
            back,
            &vec![
                row(json!([
                    ["title", "Loft"],
                    ["id", 1],
                    ["price", 2500.0],
                    ["country", "UA"],
                    ["per_unit", 1250]
                ])),
                row(json!([
                    ["title", "Hut"],
                    ["id", 2],
                    ["price", 11.0],
                    ["per_unit", 5.25]
                ])),
            ],
            "{name}"
        );
        // The price stays a float although the script wrote an integer.
        assert!(back[1][2].1.is_f64(), "{name}");
        assert_eq!(
            columns(&back[0]),
            ["title", "id", "price", "country", "per_unit"],
            "{name}"
        );
        assert_eq!(
            ctx.calls,
            ["lend_records", "restore_records", "restore_script"]
        );
        let (changed, values) = ctx.returned.as_ref().unwrap();
        assert!(changed, "{name}");
        assert_eq!(values, &Map::from_iter([("total".to_string(), json!(2))]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_removed_reordered_and_added_come_back_as_the_scripts_left_them() {
    for (name, pool) in pools() {
        let mut ctx = Lending::new("response", rows());
        run(
            &pool,
            "export default async (args) => {
               args.response.reverse();
               args.response.push({ zeta: 1, id: 3 });
               args.response.push({ id: 4, title: 'Barn', price: 1 });
               args.response.splice(2, 1);
               return { ok: true };
             };",
            &mut ctx,
        )
        .await;
        let RecordsBack::Records(Records::Many(back)) = ctx.back() else {
            panic!("{name}: {:?}", ctx.back());
        };
        assert_eq!(back.len(), 3, "{name}");
        assert_eq!(
            columns(&back[0]),
            ["title", "id", "price", "country"],
            "{name}"
        );
        assert_eq!(back[0][1].1, json!(2), "{name}");
        assert_eq!(back[1][1].1, json!(1), "{name}");
        // A row beyond the lent ones has its columns in name order.
        assert_eq!(columns(&back[2]), ["id", "price", "title"], "{name}");
    }
}

/// Rows are read back by comparing each member with the value it was built with: these are
/// the changes that comparison must not miss, and the equal values it must not report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_changed_inside_through_getters_or_by_moving_keys_are_read_as_changed() {
    for (name, pool) in pools() {
        let lent = |tags: Value, id: i64, title: &str| {
            row(json!([
                ["id", id],
                ["title", title],
                ["tags", tags],
                ["listed", true]
            ]))
        };
        let mut ctx = Lending::new(
            "response",
            Records::Many(vec![
                lent(json!({ "a": 1 }), 1, "Loft"),
                lent(json!(["x"]), 2, "Hut"),
                lent(json!(null), 3, "Barn"),
                lent(json!({ "a": 1 }), 4, "Shed"),
            ]),
        );
        run(
            &pool,
            "export default async ({ response: [loft, hut, barn, shed] }) => {
               loft.tags.a = 2;
               loft.title = 'Lo' + 'ft'.toLowerCase();
               hut.tags.push('y');
               const title = barn.title;
               delete barn.title;
               barn.title = title + '!';
               let reads = 0;
               Object.defineProperty(shed, 'id', {
                 get() { reads += 1; return reads * 10; },
                 enumerable: true,
               });
               shed.listed = !shed.listed;
               shed.listed = !shed.listed;
               return { ok: true };
             };",
            &mut ctx,
        )
        .await;
        let RecordsBack::Records(Records::Many(back)) = ctx.back() else {
            panic!("{name}: {:?}", ctx.back());
        };
        assert_eq!(back[0], lent(json!({ "a": 2 }), 1, "Loft"), "{name}");
        assert_eq!(back[1], lent(json!(["x", "y"]), 2, "Hut"), "{name}");
        // A key deleted and added again keeps its column's place.
        assert_eq!(back[2], lent(json!(null), 3, "Barn!"), "{name}");
        // The getter ran once, as `JSON.stringify` would run it.
        assert_eq!(back[3], lent(json!({ "a": 1 }), 10, "Shed"), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_record_comes_back_patched_and_its_key_hides_a_value_of_that_name() {
    for (name, pool) in pools() {
        let mut ctx = Lending::new(
            "record",
            Records::One(row(json!([
                ["title", "  Loft "],
                ["price", 3.0],
                ["rooms", 2]
            ]))),
        );
        ctx.values
            .insert("record".into(), json!({ "title": "not what scripts see" }));
        run(
            &pool,
            "export default async ({ record }) => {
               record.title = record.title.trim();
               record.price = record.price * 2;
               record.rooms = 2.5;
               return { ok: true };
             };",
            &mut ctx,
        )
        .await;
        assert_eq!(
            ctx.back(),
            &RecordsBack::Records(Records::One(row(json!([
                ["title", "Loft"],
                ["price", 6.0],
                ["rooms", 2.5]
            ])))),
            "{name}"
        );
        let (_, values) = ctx.returned.as_ref().unwrap();
        assert!(!values.contains_key("record"), "{name}: {values:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_replaced_by_something_else_come_back_as_its_json() {
    for (name, pool) in pools() {
        for (code, expected) in [
            (
                "export default async (args) => { args.response = 'gone'; return { ok: true }; };",
                Some(json!("gone")),
            ),
            (
                "export default async (args) => { delete args.response; return { ok: true }; };",
                None,
            ),
            (
                "export default async (args) => { args.response[1] = 7; return { ok: true }; };",
                Some(json!([{ "country": "ua", "id": 1, "price": 2500.0, "title": "Loft" }, 7])),
            ),
            (
                "export default async (args) => { args.response = { id: 1 }; return { ok: true }; };",
                Some(json!({ "id": 1 })),
            ),
        ] {
            let mut ctx = Lending::new("response", rows());
            run(&pool, code, &mut ctx).await;
            assert_eq!(
                ctx.back(),
                &RecordsBack::Replaced(expected),
                "{name}: {code}"
            );
        }
        // An array where one record was lent.
        let mut ctx = Lending::new("record", Records::One(row(json!([["id", 1]]))));
        run(
            &pool,
            "export default async (args) => { args.record = [args.record]; return { ok: true }; };",
            &mut ctx,
        )
        .await;
        assert_eq!(
            ctx.back(),
            &RecordsBack::Replaced(Some(json!([{ "id": 1 }]))),
            "{name}"
        );
    }
}

/// Rows are built by setting keys `Object.prototype` lacks and defining the others: an
/// accessor an earlier call left there is neither run nor in the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_are_built_past_accessors_an_earlier_call_left_on_object_prototype() {
    let pool = ScriptPool::new(
        PoolConfig::default()
            .workers(1)
            .inline_budget(Duration::ZERO),
    )
    .unwrap();
    let mut ctx = Lending::new("response", rows());
    let outcome = run(
        &pool,
        "export default async () => {
           Object.defineProperty(Object.prototype, 'title', {
             get() { return 'inherited'; },
             set(value) { globalThis.stolen = value; },
             configurable: true,
           });
           return { ok: true };
         };",
        &mut ctx,
    )
    .await;
    assert!(matches!(outcome, ScriptOutcome::Continue));
    let mut ctx = Lending::new("response", rows());
    let outcome = run(
        &pool,
        "export default async ({ response }) => {
           if (!Object.getOwnPropertyDescriptor(Object.prototype, 'title')) {
             return { ok: false, error: 'the accessor is gone' };
           }
           if ('stolen' in globalThis) return { ok: false, error: `ran with ${globalThis.stolen}` };
           for (const item of response) item.seen = item.title;
           return { ok: true };
         };",
        &mut ctx,
    )
    .await;
    assert!(matches!(outcome, ScriptOutcome::Continue), "{outcome:?}");
    let RecordsBack::Records(Records::Many(back)) = ctx.back() else {
        panic!("{:?}", ctx.back());
    };
    let seen: Vec<_> = back.iter().map(|row| row.last().unwrap().clone()).collect();
    assert_eq!(
        seen,
        [
            ("seen".to_string(), json!("Loft")),
            ("seen".to_string(), json!("Hut"))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_failed_calls_hand_the_records_back_as_lent() {
    for (name, pool) in pools() {
        for code in [
            "export default async ({ response }) => { response[0].title = 'x'; response.pop(); return { ok: false, error: 'no' }; };",
            "export default async ({ response }) => { response[0].title = 'x'; throw new Error('boom'); };",
        ] {
            let mut ctx = Lending::new("response", rows());
            let script = pool
                .load(ScriptSource::function("rows.js", code))
                .await
                .unwrap();
            let _ = pool.tap([script]).run_lent(&mut ctx).await;
            assert_eq!(ctx.back(), &RecordsBack::Records(rows()), "{name}: {code}");
            let (changed, _) = ctx.returned.as_ref().unwrap();
            assert!(!changed, "{name}: {code}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_lent_before_values_that_fail_come_back_as_lent() {
    let (_, pool) = &pools()[0];
    let mut ctx = Lending::new("response", rows());
    ctx.refuse_values = true;
    let script = pool
        .load(ScriptSource::function(
            "rows.js",
            "export default async () => ({ ok: true });",
        ))
        .await
        .unwrap();
    let error = pool.tap([script]).run_lent(&mut ctx).await.unwrap_err();
    assert!(error.to_string().contains("no values today"), "{error}");
    assert_eq!(ctx.back(), &RecordsBack::Records(rows()));
    assert_eq!(ctx.calls, ["lend_records", "restore_records"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_values_taken_back_are_read_back_the_others_return_as_lent() {
    let script = "export default async (args) => {
       args.total = 3;
       args.user.name = 'changed';
       args.added = 1;
       delete args.resource;
       args.response[0].id = 10;
       return { ok: true };
     };";
    for (name, pool) in pools() {
        let lent = |taken_back| {
            let mut ctx = Lending::new("response", rows());
            ctx.values.insert("user".into(), json!({ "name": "ana" }));
            ctx.values.insert("resource".into(), json!("items"));
            ctx.taken_back = taken_back;
            ctx
        };
        let mut ctx = lent(Some(&["total"]));
        run(&pool, script, &mut ctx).await;
        assert_eq!(
            ctx.returned_values(),
            json!({ "total": 3, "user": { "name": "ana" }, "resource": "items" }),
            "{name}"
        );
        let RecordsBack::Records(Records::Many(back)) = ctx.back() else {
            panic!("{name}: {:?}", ctx.back());
        };
        assert_eq!(back[0][1], ("id".to_string(), json!(10)), "{name}");

        let mut ctx = lent(Some(&[]));
        run(&pool, script, &mut ctx).await;
        assert_eq!(
            ctx.returned_values(),
            json!({ "total": 2, "user": { "name": "ana" }, "resource": "items" }),
            "{name}"
        );

        // A context object JSON only sees through its `toJSON` is read whole, then filtered.
        let mut ctx = lent(Some(&["total"]));
        run(
            &pool,
            "export default async (args) => {
               args.toJSON = () => ({ total: 5, resource: 'x', user: 1, added: 2 });
               return { ok: true };
             };",
            &mut ctx,
        )
        .await;
        assert_eq!(
            ctx.returned_values(),
            json!({ "total": 5, "user": { "name": "ana" }, "resource": "items" }),
            "{name}"
        );

        let mut ctx = lent(None);
        run(&pool, script, &mut ctx).await;
        assert_eq!(
            ctx.returned_values(),
            json!({ "total": 3, "user": { "name": "changed" }, "added": 1 }),
            "{name}"
        );
    }
}
