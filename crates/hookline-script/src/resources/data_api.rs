//! [`DataTables`]: the data API of scripts bound to resources (`tables.<name>.find(…)`,
//! `#name.find(…)`), served by the resources' own flows — access checks and hooks included.
//! It holds the data set weakly: the set owns the hooks that hold the scripts that hold this.

use hookline::BoxFuture;
use hookline_data::{Actor, Data, DataError, Record, Resource, WeakData};
use serde_json::Value;

use crate::data_api::{FindQuery, TableApi, TableError};

/// The data API of one script call: the resources of a data set, as one caller.
///
/// Made by [`ResourceScripts::tables_for`](super::ResourceScripts::tables_for), which adds
/// [`SCRIPT_ROLE`](super::SCRIPT_ROLE) to the caller. A `find` without a `limit` reads the
/// resource's default page; `page` counts pages of that size.
pub struct DataTables {
    data: WeakData,
    actor: Actor,
}

impl DataTables {
    /// The data API of `data`'s resources, as `actor`.
    pub fn new(data: WeakData, actor: Actor) -> Self {
        DataTables { data, actor }
    }

    fn data(&self) -> Result<Data, TableError> {
        self.data
            .upgrade()
            .ok_or_else(|| TableError::Invalid("the data set is closed".into()))
    }

    fn resource(&self, table: &str) -> Result<Resource, TableError> {
        self.data()?
            .resource(table)
            .map_err(|_| TableError::UnknownTable(table.to_owned()))
    }
}

fn table_error(table: &str, error: DataError) -> TableError {
    match error {
        DataError::UnknownResource { .. } => TableError::UnknownTable(table.to_owned()),
        DataError::NotFound { id, .. } => TableError::NotFound {
            table: table.to_owned(),
            id,
        },
        other => TableError::Backend(Box::new(other)),
    }
}

impl TableApi for DataTables {
    fn find<'a>(
        &'a self,
        table: &'a str,
        find: FindQuery,
    ) -> BoxFuture<'a, Result<Vec<Record>, TableError>> {
        Box::pin(async move {
            let resource = self.resource(table)?;
            let FindQuery {
                mut query,
                page,
                fields,
            } = find;
            let limit = *query.limit.get_or_insert(resource.def().default_limit);
            query.offset = page.unwrap_or(1).saturating_sub(1).saturating_mul(limit);
            let page = resource
                .list(&self.actor, query)
                .await
                .map_err(|e| table_error(table, e))?;
            let mut records = page.records;
            if let Some(fields) = &fields {
                for record in &mut records {
                    *record = std::mem::take(record)
                        .into_iter()
                        .filter(|(column, _)| fields.contains(column))
                        .collect();
                }
            }
            Ok(records)
        })
    }

    fn create<'a>(
        &'a self,
        table: &'a str,
        data: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        Box::pin(async move {
            let resource = self.resource(table)?;
            resource
                .create(&self.actor, data)
                .await
                .map_err(|e| table_error(table, e))
        })
    }

    fn update<'a>(
        &'a self,
        table: &'a str,
        id: Value,
        data: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        Box::pin(async move {
            let resource = self.resource(table)?;
            resource
                .edit(&self.actor, id, data)
                .await
                .map_err(|e| table_error(table, e))
        })
    }

    fn delete<'a>(
        &'a self,
        table: &'a str,
        id: Value,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        Box::pin(async move {
            let resource = self.resource(table)?;
            resource
                .delete(&self.actor, id)
                .await
                .map_err(|e| table_error(table, e))
        })
    }
}
