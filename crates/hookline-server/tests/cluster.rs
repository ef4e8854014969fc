//! A cluster: several `hookline serve` processes on one PostgreSQL database, as behind a load
//! balancer. Started at the same moment on an empty database they make one schema and one
//! seed; a token from one works on the others; concurrent writes spread over them stay consistent,
//! also when a hook increments a counter by read-modify-write; a role change made through one
//! is enforced by another on the next request; killing one mid-load loses nothing that was
//! acknowledged and the others keep serving; a restart picks up an added column and refuses a
//! dropped one. Skipped with a notice when `HOOKLINE_TEST_PG` is unset.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use common::{Backend, TempDir, with_database};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const CONFIG: &str = r#"
[auth]
users = "users"
login_column = "email"
password_column = "password_hash"
roles_column = "role"
roles = ["superadmin", "clerk"]
admin_roles = ["superadmin"]

[[resources]]
name = "users"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "email", type = "text", required = true, unique = true },
    { name = "password_hash", type = "text", backend_only = true },
    { name = "role", type = "text", required = true, default = "clerk" },
]

[[resources]]
name = "counters"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "value", type = "integer", required = true },
]

[[resources]]
name = "orders"
columns = [
    { name = "id", type = "integer", primary_key = true },
    { name = "item", type = "text", required = true },
    { name = "number", type = "integer" },
COLUMNS]

[access.users]
list = ["superadmin"]
show = ["superadmin"]
create = ["superadmin"]
edit = ["superadmin"]
delete = ["superadmin"]

[hooks.orders]
"create.before_save" = "number.js"

[[seed]]
resource = "users"
rows = [
    { email = "admin@x.dev", password = "password1", role = "superadmin" },
    { email = "ann@x.dev", password = "password1", role = "superadmin" },
]

[[seed]]
resource = "counters"
actor = "admin@x.dev"
rows = [{ value = 0 }]
"#;

/// Each order takes the next number from the counter: read, then write back plus one.
const NUMBER: &str = "export default async ({ record, tables }) => {
  const { data } = await tables.counters.find({ where: { id: { _eq: 1 } } });
  const next = data[0].value + 1;
  await tables.counters.update({ id: 1, data: { value: next } });
  record.number = next;
  return { ok: true };
};
";

/// A `hookline serve` process's address.
struct Instance {
    base: String,
    client: reqwest::Client,
}

impl Instance {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None)
            .await
            .expect("the instance answers")
    }

    async fn login(&self, login: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/auth/login",
                "",
                Some(json!({ "login": login, "password": "password1" })),
            )
            .await
            .expect("the instance answers");
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("a token").to_owned()
    }
}

/// The config, with `extra` columns for `orders`, in `dir`.
fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("number.js"), NUMBER).unwrap();
    let path = dir.join("hookline.toml");
    std::fs::write(&path, CONFIG.replace("COLUMNS", extra)).unwrap();
    path
}

fn hookline(config: &Path, url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookline"));
    command
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database",
            url,
            "--config",
        ])
        .arg(config)
        .env_remove("HOOKLINE_CONFIG")
        .env_remove("HOOKLINE_SECRET")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts a server process and waits for its banner; the stderr it wrote is collected in
/// `log`.
async fn start(
    config: &Path,
    url: &str,
    log: Arc<Mutex<String>>,
) -> Result<(Instance, Child), String> {
    let mut child = hookline(config, url).spawn().expect("the binary starts");
    let mut stderr = child.stderr.take().unwrap();
    let collected = log.clone();
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        collected.lock().unwrap().push_str(&text);
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.trim().strip_prefix("listening on") {
            // Keep reading the banner so the process never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            let instance = Instance {
                base: url.trim().to_owned(),
                client: reqwest::Client::new(),
            };
            return Ok((instance, child));
        }
    }
    let status = child.wait().await.expect("the process ends");
    // Let the stderr reader finish.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    Err(format!("exited with {status}: {}", log.lock().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_postgres_database() {
    with_database(Backend::Postgres, "three_instances", |url| async move {
        let dir = TempDir::new();
        let config = write_config(&dir.0, "");
        let logs: Vec<_> = (0..3)
            .map(|_| Arc::new(Mutex::new(String::new())))
            .collect();

        // Started at the same moment on an empty schema.
        let started = futures_util::future::join_all(
            logs.iter().map(|log| start(&config, &url, log.clone())),
        )
        .await;
        let (mut instances, mut children): (Vec<Instance>, Vec<Child>) = started
            .into_iter()
            .map(|s| s.unwrap_or_else(|e| panic!("an instance starts: {e}")))
            .unzip();

        // One schema, one seed: two users and one counter, whichever instance asks.
        let admin = instances[0].login("admin@x.dev").await;
        for instance in &instances {
            let (status, body) = instance.get("/api/users?total=true", &admin).await;
            assert_eq!(
                status, 200,
                "a token from instance 1 works everywhere: {body}"
            );
            assert_eq!(body["total"], 2, "seeded once: {body}");
            let (_, body) = instance.get("/api/counters?total=true", &admin).await;
            assert_eq!(body["total"], 1, "seeded once: {body}");
        }

        // A role change through instance 1 is enforced by instance 3 on the next request.
        let ann = instances[0].login("ann@x.dev").await;
        let (status, _) = instances[2].get("/api/users", &ann).await;
        assert_eq!(status, 200);
        let ann_id = {
            let (_, body) = instances[0].get("/api/users", &admin).await;
            let users = body["data"].as_array().expect("a list");
            let ann = users.iter().find(|u| u["email"] == "ann@x.dev");
            ann.expect("ann is seeded")["id"].clone()
        };
        let (status, body) = instances[0]
            .call(
                reqwest::Method::PATCH,
                &format!("/api/users/{ann_id}"),
                &admin,
                Some(json!({ "role": "clerk" })),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let (status, body) = instances[2].get("/api/users", &ann).await;
        assert_eq!(status, 401, "the demoted user's token is refused: {body}");
        let (status, _) = instances[2].get("/api/users", &admin).await;
        assert_eq!(status, 200, "other users' tokens still work");

        // Concurrent creates spread over the three: every order gets its own number.
        let orders = 60;
        let created = futures_util::stream::iter(0..orders)
            .map(|n| {
                let instance = &instances[n % 3];
                let admin = admin.clone();
                async move {
                    instance
                        .call(
                            reqwest::Method::POST,
                            "/api/orders",
                            &admin,
                            Some(json!({ "item": format!("order {n}") })),
                        )
                        .await
                        .expect("the instance answers")
                }
            })
            .buffer_unordered(12)
            .collect::<Vec<_>>()
            .await;
        let mut numbers: Vec<i64> = created
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, 201, "{body}");
                body["data"]["number"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("a number: {body}"))
            })
            .collect();
        numbers.sort_unstable();
        let expected: Vec<i64> = (1..=orders as i64).collect();
        assert_eq!(numbers, expected, "no lost update on the counter");

        // Kill one instance in the middle of a burst: nothing acknowledged is lost, and the
        // counter still agrees with the orders.
        let victim = instances.pop().expect("three instances");
        let instances = &instances;
        let answered = std::sync::atomic::AtomicUsize::new(0);
        let answered = &answered;
        let burst = futures_util::stream::iter(0..300usize)
            .map(|n| {
                let admin = admin.clone();
                let target = n % 3;
                let victim = &victim;
                async move {
                    let instance = if target == 2 {
                        victim
                    } else {
                        &instances[target]
                    };
                    let outcome = instance
                        .call(
                            reqwest::Method::POST,
                            "/api/orders",
                            &admin,
                            Some(json!({ "item": format!("burst {n}") })),
                        )
                        .await;
                    answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    (target, outcome)
                }
            })
            .buffer_unordered(12);
        let mut victim_process = children.pop().expect("three processes");
        let killer = async {
            while answered.load(std::sync::atomic::Ordering::SeqCst) < 60 {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            victim_process.start_kill().expect("the instance is killed");
        };
        let (outcomes, ()) = tokio::join!(burst.collect::<Vec<_>>(), killer);
        let mut acknowledged = Vec::new();
        let mut lost_connections = 0;
        for (target, outcome) in outcomes {
            match outcome {
                Ok((201, body)) => acknowledged.push(body["data"]["id"].clone()),
                Ok((status, body)) => panic!("instance {target} answered {status}: {body}"),
                Err(error) => {
                    assert_eq!(target, 2, "only the killed instance fails: {error}");
                    lost_connections += 1;
                }
            }
        }
        assert!(
            lost_connections > 0,
            "the instance was killed while requests were on their way to it"
        );
        for id in &acknowledged {
            let (status, _) = instances[0].get(&format!("/api/orders/{id}"), &admin).await;
            assert_eq!(status, 200, "acknowledged order {id} is stored");
        }
        let (_, body) = instances[1].get("/api/orders?total=true", &admin).await;
        let total = body["total"].as_i64().expect("a total");
        assert!(total >= (orders + acknowledged.len()) as i64);
        let (_, body) = instances[1].get("/api/counters/1", &admin).await;
        assert_eq!(
            body["data"]["value"], total,
            "the counter agrees with the orders"
        );
        drop(victim);
        drop(victim_process);

        // A restart with an added nullable column picks it up.
        let config = write_config(&dir.0, "{ name = \"note\", type = \"text\" },\n");
        let log = Arc::new(Mutex::new(String::new()));
        let (restarted, restarted_process) = start(&config, &url, log).await.expect("restarts");
        let (status, body) = restarted
            .call(
                reqwest::Method::POST,
                "/api/orders",
                &admin,
                Some(json!({ "item": "with a note", "note": "fragile" })),
            )
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["data"]["note"], "fragile");
        drop((restarted, restarted_process));

        // A restart without a column the table has is refused, naming it.
        let dropped = CONFIG
            .replace("COLUMNS", "")
            .replace("    { name = \"number\", type = \"integer\" },\n", "");
        std::fs::write(dir.0.join("hookline.toml"), dropped).unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let refused = match start(&config, &url, log).await {
            Ok(_) => panic!("a config without a column the table has must not start"),
            Err(message) => message,
        };
        assert!(refused.contains("orders"), "{refused}");
        assert!(refused.contains("number"), "{refused}");
        drop(children);
        for log in &logs {
            assert!(
                !log.lock().unwrap().contains("panicked"),
                "{}",
                log.lock().unwrap()
            );
        }
    })
    .await;
}
