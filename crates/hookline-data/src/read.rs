//! The read flows of a [`Resource`]: list, count, aggregate, show (and edit-page data), and the
//! dropdown list of a foreign-key column.
//!
//! Each checks access first, then runs `before_datasource_request` (which may rewrite the query,
//! e.g. to scope rows to the actor), fetches, removes backend-only columns, and runs
//! `after_datasource_response`. Counts and aggregates run the `list` request hook with
//! `query.source = Aggregate`, so row scoping applies to them too (AdminForth's aggregates
//! skip it); they have no records for the response hook.

use hookline::Hook;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::Operation;
use crate::actor::Actor;
use crate::decode::Field;
use crate::error::DataError;
use crate::hooks::{ReadHooks, ReadRequest, ReadResponse};
use crate::query::{Aggregate, Filter, Query, Source};
use crate::record::Record;
use crate::resource::{Resource, ResourceInner};
use crate::schema::ColumnType;
use crate::statement;

/// A page of records, and the total count if the query asked for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The records, after the response hooks.
    pub records: Vec<Record>,
    /// The number of records matching the filters (`Query::with_total`).
    pub total: Option<u64>,
}

impl Resource {
    /// Lists records: access (`list`) → `list.before_datasource_request` → fetch →
    /// `list.after_datasource_response`.
    pub async fn list(&self, actor: &Actor, mut query: Query) -> Result<Page, DataError> {
        let res = &*self.inner;
        res.check_access(Operation::List, actor, None)?;
        query.source = Source::List;
        let query = self.request(&res.hooks.list, res, actor, query).await?;
        let (records, total) = self.fetch_page(res, &query).await?;
        let response = self
            .respond(&res.hooks.list, res, actor, query, records, total)
            .await?;
        Ok(Page {
            records: response.0,
            total: response.1,
        })
    }

    /// Counts the records matching `query`'s filters: access (`list`) →
    /// `list.before_datasource_request` (source `Aggregate`) → `COUNT(*)`.
    pub async fn count(&self, actor: &Actor, mut query: Query) -> Result<u64, DataError> {
        let res = &*self.inner;
        res.check_access(Operation::List, actor, None)?;
        query.source = Source::Aggregate;
        let query = self.request(&res.hooks.list, res, actor, query).await?;
        self.count_rows(res, &query).await
    }

    /// Computes aggregates over the records matching `query`'s filters, as one record keyed
    /// by the aggregates' aliases: access (`list`) → `list.before_datasource_request` (source
    /// `Aggregate`) → `SELECT COUNT(*), SUM(..), ..`.
    pub async fn aggregate(
        &self,
        actor: &Actor,
        mut query: Query,
        aggregates: &[Aggregate],
    ) -> Result<Record, DataError> {
        let res = &*self.inner;
        let reads = self.data.reads();
        res.check_access(Operation::List, actor, None)?;
        statement::aggregate(res, &query, aggregates, reads.backend())?;
        query.source = Source::Aggregate;
        let query = self.request(&res.hooks.list, res, actor, query).await?;
        let (sql, fields) = statement::aggregate(res, &query, aggregates, reads.backend())?;
        let rows = reads.fetch(&sql, res.name(), &fields).await?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    /// Shows one record: access (`show`, with the record if the rule needs it) →
    /// `show.before_datasource_request` → fetch → `show.after_datasource_response`.
    /// [`DataError::NotFound`] if no record matches (also when the hooks' filters exclude it).
    pub async fn show(&self, actor: &Actor, id: impl Into<Value>) -> Result<Record, DataError> {
        self.show_for(actor, id.into(), Source::Show).await
    }

    /// The edit page's initial data: the show flow with `query.source = Edit` (AdminForth runs
    /// the `show` hooks for it too).
    pub async fn edit_data(
        &self,
        actor: &Actor,
        id: impl Into<Value>,
    ) -> Result<Record, DataError> {
        self.show_for(actor, id.into(), Source::Edit).await
    }

    async fn show_for(
        &self,
        actor: &Actor,
        id: Value,
        source: Source,
    ) -> Result<Record, DataError> {
        let res = &*self.inner;
        let key = res.key(&id)?;
        if res.def.allowed_actions.show.needs_record() {
            let record = self.load(res, &key).await?;
            res.check_access(Operation::Show, actor, Some(&record))?;
        } else {
            res.check_access(Operation::Show, actor, None)?;
        }
        let query = Query {
            filters: vec![Filter::eq(res.pk_column().name.clone(), key.clone())],
            limit: Some(1),
            source,
            ..Query::default()
        };
        let query = self.request(&res.hooks.show, res, actor, query).await?;
        let (records, total) = self.fetch_page(res, &query).await?;
        let (records, _) = self
            .respond(&res.hooks.show, res, actor, query, records, total)
            .await?;
        records
            .into_iter()
            .next()
            .ok_or_else(|| DataError::NotFound {
                resource: res.name().to_owned(),
                id: key,
            })
    }

    /// The dropdown list of foreign-key column `column`: records of the resource it points
    /// at. Access is `list` on *this* resource (as in AdminForth); the column's dropdown hooks
    /// run around the fetch ([`Resource::dropdown_hooks`]), with the foreign resource in their
    /// context.
    pub async fn dropdown(
        &self,
        actor: &Actor,
        column: &str,
        mut query: Query,
    ) -> Result<Vec<Record>, DataError> {
        let hooks = self.dropdown_hooks(column)?;
        let res = &*self.inner;
        res.check_access(Operation::List, actor, None)?;
        let target = match &res.column(column)?.foreign {
            Some(foreign) => self.data.inner_resource(&foreign.resource)?,
            None => {
                return Err(DataError::NotForeignKey {
                    resource: res.name().to_owned(),
                    column: column.to_owned(),
                });
            }
        };
        query.source = Source::Dropdown;
        let query = self.request(hooks, target, actor, query).await?;
        let (records, total) = self.fetch_page(target, &query).await?;
        let (records, _) = self
            .respond(hooks, target, actor, query, records, total)
            .await?;
        Ok(records)
    }

    /// Runs the request hook; the query is checked before the hook (client input) and again
    /// when the statement is built (the hook's output).
    async fn request(
        &self,
        hooks: &ReadHooks,
        res: &ResourceInner,
        actor: &Actor,
        query: Query,
    ) -> Result<Query, DataError> {
        let hook: &Hook<ReadRequest> = &hooks.before_datasource_request;
        if hook.is_empty() {
            return Ok(query);
        }
        let backend = self.data.source().backend();
        if query.source == Source::Aggregate {
            statement::filters(res, &query.filters, backend)?;
        } else {
            statement::check(res, &query, backend)?;
        }
        let mut ctx = ReadRequest {
            actor: actor.clone(),
            resource: res.name().to_owned(),
            query,
        };
        hook.call(&mut ctx).await?;
        Ok(ctx.query)
    }

    /// Runs the response hook over the fetched records (backend-only columns removed).
    async fn respond(
        &self,
        hooks: &ReadHooks,
        res: &ResourceInner,
        actor: &Actor,
        query: Query,
        mut records: Vec<Record>,
        total: Option<u64>,
    ) -> Result<(Vec<Record>, Option<u64>), DataError> {
        for record in &mut records {
            res.strip_backend_only(record);
        }
        let hook: &Hook<ReadResponse> = &hooks.after_datasource_response;
        if hook.is_empty() {
            return Ok((records, total));
        }
        let mut ctx = ReadResponse {
            actor: actor.clone(),
            resource: res.name().to_owned(),
            query,
            response: records,
            total,
        };
        hook.call(&mut ctx).await?;
        Ok((ctx.response, ctx.total))
    }

    async fn fetch_page(
        &self,
        res: &ResourceInner,
        query: &Query,
    ) -> Result<(Vec<Record>, Option<u64>), DataError> {
        let reads = self.data.reads();
        let select = res.selects.render(res, query, reads.backend())?;
        let records = reads.rendered_rows(select, res.name(), &res.fields).await?;
        let total = if query.with_total {
            Some(self.count_rows(res, query).await?)
        } else {
            None
        };
        Ok((records, total))
    }

    async fn count_rows(&self, res: &ResourceInner, query: &Query) -> Result<u64, DataError> {
        let reads = self.data.reads();
        let count = statement::count(res, query, reads.backend())?;
        let field = [Field {
            name: "count".into(),
            kind: ColumnType::Integer,
        }];
        let rows = reads.fetch(&count, res.name(), &field).await?;
        Ok(rows
            .first()
            .and_then(|r| r.get_i64("count"))
            .map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// A record by primary key, without hooks (for the access checks, which run their own
    /// hooks), locked if read inside a write. [`DataError::NotFound`] if missing.
    pub(crate) async fn load(&self, res: &ResourceInner, key: &Value) -> Result<Record, DataError> {
        let reads = self.data.reads();
        let select = statement::by_column(res, res.pk_column(), key, reads.backend());
        reads
            .rows(select, res.name(), &res.fields)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| DataError::NotFound {
                resource: res.name().to_owned(),
                id: key.clone(),
            })
    }
}
