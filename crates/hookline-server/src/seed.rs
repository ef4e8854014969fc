//! `[[seed]]`: rows inserted into resources whose tables are empty at start-up. Emptiness is
//! decided once per resource, before anything is seeded, so several entries (as different
//! actors) can seed one resource.
//!
//! Users are inserted through auth's private view of the users table (no hooks), with a
//! `password` stored as an argon2 hash in the password column. Other rows go through the
//! resource's create flow — access checks and hooks included — as the seeded user named by
//! `actor`. Whether a table is empty is asked of a hookless view of it, so a hook that scopes
//! reads to the actor cannot make a full table look empty.
//!
//! Seeding runs under the database's schema lock (see `build.rs`): of several instances
//! starting at once on one database, the first seeds and the others find the tables full.

use std::collections::HashMap;

use hookline_data::{Actor, Data, DataError, Query, Record, ResourceDef};

use crate::auth::{Auth, hash_password};
use crate::build::BuildError;
use crate::config::Config;

/// Seeds every `[[seed]]` entry whose resource is empty.
pub(crate) async fn run(
    config: &Config,
    data: &Data,
    auth: Option<&Auth>,
) -> Result<(), BuildError> {
    let mut empty: HashMap<&str, bool> = HashMap::new();
    for (index, seed) in config.seed.iter().enumerate() {
        if let Some(def) = config.resource(&seed.resource)
            && !empty.contains_key(def.name.as_str())
        {
            let is_empty = is_empty(data, def).await.map_err(|e| BuildError::Seed {
                index,
                resource: seed.resource.clone(),
                row: 0,
                message: e.to_string(),
            })?;
            empty.insert(&def.name, is_empty);
        }
    }
    for (index, seed) in config.seed.iter().enumerate() {
        let failed = |row: usize, message: String| BuildError::Seed {
            index,
            resource: seed.resource.clone(),
            row,
            message,
        };
        if empty.get(seed.resource.as_str()) != Some(&true) {
            continue;
        }
        let users = auth.filter(|_| config.auth.users.as_deref() == Some(&seed.resource));
        let actor = match (&seed.actor, auth) {
            (Some(login), Some(auth)) => auth
                .actor_for(login)
                .await
                .map_err(|e| failed(0, e.to_string()))?
                .ok_or_else(|| {
                    failed(
                        0,
                        format!("no user has the login `{login}`; seed the users first"),
                    )
                })?,
            _ => Actor::default(),
        };
        let resource = data
            .resource(&seed.resource)
            .map_err(|e| failed(0, e.to_string()))?;
        for (row, values) in seed.rows.iter().enumerate() {
            let mut record = Record::from(values.clone());
            match users {
                Some(auth) => {
                    if let Some(password) = record.remove("password") {
                        let Some(password) = password.as_str().map(str::to_owned) else {
                            return Err(failed(row, "`password` must be a string".into()));
                        };
                        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
                            .await
                            .map_err(|e| failed(row, e.to_string()))?
                            .map_err(|e| failed(row, e.to_string()))?;
                        record.set(auth.password_column().to_owned(), hash);
                    }
                    auth.users()
                        .create(&Actor::default(), record)
                        .await
                        .map_err(|e| failed(row, e.to_string()))?;
                }
                None => {
                    resource
                        .create(&actor, record)
                        .await
                        .map_err(|e| failed(row, e.to_string()))?;
                }
            }
        }
        tracing::info!(resource = %seed.resource, rows = seed.rows.len(), "seeded");
    }
    Ok(())
}

/// Whether the resource's table has no rows, asked of a view without hooks or access rules.
async fn is_empty(data: &Data, def: &ResourceDef) -> Result<bool, DataError> {
    let mut view = def.clone();
    view.table = Some(def.table_name().to_owned());
    view.allowed_actions = Default::default();
    for column in &mut view.columns {
        column.foreign = None;
    }
    let view = Data::builder(data.source().clone())
        .create_missing_tables(false)
        .resource(view)
        .build()
        .await?;
    Ok(view
        .resource(&def.name)?
        .count(&Actor::default(), Query::new())
        .await?
        == 0)
}
