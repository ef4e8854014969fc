//! REST endpoints per resource, each through the resource's flow — access check and hooks —
//! as the logged-in caller. Every success answers `{ "data": … }`.
//!
//! | method and path | flow |
//! |---|---|
//! | `GET /api/{resource}?limit&offset&sort&total&filter` | list (`sort=-price,title`; `filter` is a JSON filter or array of filters) |
//! | `POST /api/{resource}/_search` | list, with a JSON query body (`filters`, `sort`, `limit`, `offset`, `with_total`) |
//! | `POST /api/{resource}` | create (201) |
//! | `GET /api/{resource}/{id}?source=edit` | show (or the edit page's data) |
//! | `PATCH /api/{resource}/{id}` | edit |
//! | `DELETE /api/{resource}/{id}` | delete (with cascades) |
//! | `GET /api/{resource}/_dropdown/{column}?limit&offset&sort&filter` | dropdown options of a foreign-key column |
//! | `POST /api/{resource}/_aggregate` | aggregates (`{ filters, aggregates: [{ function, column, alias }] }`) |
//! | `POST /api/{resource}/_bulk-delete` | bulk delete (`{ ids }`), all or nothing |
//! | `POST /api/{resource}/_bulk-update` | bulk edit (`{ ids, updates }`), all or nothing |

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hookline_data::{Aggregate, ColumnType, Direction, Filter, Query, Record, Resource, Sort};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, Caller, JsonBody};
use crate::state::AppState;

/// The resource endpoints, to be nested under `/api`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/{resource}", get(list).post(create))
        .route("/{resource}/_search", post(search))
        .route("/{resource}/_aggregate", post(aggregate))
        .route("/{resource}/_bulk-delete", post(bulk_delete))
        .route("/{resource}/_bulk-update", post(bulk_update))
        .route("/{resource}/_dropdown/{column}", get(dropdown))
        .route("/{resource}/{id}", get(show).patch(edit).delete(delete))
}

/// A `{ "data": … }` body, serialized straight from the value (no JSON tree in between).
#[derive(serde::Serialize)]
struct DataBody<T> {
    data: T,
}

fn data(value: impl serde::Serialize) -> Response {
    axum::Json(DataBody { data: value }).into_response()
}

/// The body of a list: a page of records and where it starts.
#[derive(serde::Serialize)]
struct ListBody {
    data: Vec<Record>,
    limit: u64,
    offset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
}

fn resource(state: &AppState, name: &str) -> Result<Resource, ApiError> {
    Ok(state.data().resource(name)?)
}

/// A primary key from the path, typed by the key column.
fn key(resource: &Resource, raw: &str) -> Result<Value, ApiError> {
    let kind = resource.def().primary_key().map(|c| c.kind);
    let bad = |what: &str| {
        ApiError::bad_request(format!(
            "`{raw}` is not a valid id of `{}`: expected {what}",
            resource.name()
        ))
    };
    match kind {
        Some(ColumnType::Integer) => raw
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| bad("an integer")),
        Some(ColumnType::Float) => raw
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .ok_or_else(|| bad("a number")),
        Some(ColumnType::Boolean) => raw
            .parse::<bool>()
            .map(Value::from)
            .map_err(|_| bad("true or false")),
        _ => Ok(Value::String(raw.to_owned())),
    }
}

/// The query string of a list or dropdown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<u64>,
    offset: Option<u64>,
    /// `price,-title`: columns, `-` for descending.
    sort: Option<String>,
    /// Also count all matching records.
    total: Option<bool>,
    /// A JSON filter object, or an array of them.
    filter: Option<String>,
}

impl ListParams {
    fn query(self) -> Result<Query, ApiError> {
        let filters = match self.filter.as_deref() {
            None => Vec::new(),
            Some(text) => {
                let value: Value = serde_json::from_str(text).map_err(|e| {
                    ApiError::bad_request(format!("`filter` is not valid JSON: {e}"))
                })?;
                let list = match value {
                    Value::Array(list) => Value::Array(list),
                    single => Value::Array(vec![single]),
                };
                Query::from_json(json!({ "filters": list }))?.filters
            }
        };
        let sort = self
            .sort
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix('-') {
                Some(field) => Sort {
                    field: field.to_owned(),
                    direction: Direction::Desc,
                },
                None => Sort {
                    field: s.to_owned(),
                    direction: Direction::Asc,
                },
            })
            .collect();
        let mut query = Query::new();
        query.filters = filters;
        query.sort = sort;
        query.limit = self.limit;
        query.offset = self.offset.unwrap_or(0);
        query.with_total = self.total.unwrap_or(false);
        Ok(query)
    }
}

async fn list_page(
    resource: &Resource,
    caller: &Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(resource.def().default_limit);
    let offset = query.offset;
    let page = resource.list(&caller.0, query).await?;
    Ok(axum::Json(ListBody {
        data: page.records,
        limit,
        offset,
        total: page.total,
    })
    .into_response())
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    list_page(&resource, &caller, params.query()?).await
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    let query = match body {
        Value::Null => Query::new(),
        body => Query::from_json(body)?,
    };
    list_page(&resource, &caller, query).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ShowSource {
    Show,
    Edit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowParams {
    source: Option<ShowSource>,
}

async fn show(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((name, id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ShowParams>,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    let id = key(&resource, &id)?;
    let record = match params.source {
        Some(ShowSource::Edit) => resource.edit_data(&actor, id).await?,
        Some(ShowSource::Show) | None => resource.show(&actor, id).await?,
    };
    Ok(data(record))
}

async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    ApiJson(record): ApiJson<Record>,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    let created = resource.create(&actor, record).await?;
    Ok((StatusCode::CREATED, data(created)).into_response())
}

async fn edit(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((name, id)): Path<(String, String)>,
    ApiJson(updates): ApiJson<Record>,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    let id = key(&resource, &id)?;
    Ok(data(resource.edit(&actor, id, updates).await?))
}

async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    let id = key(&resource, &id)?;
    Ok(data(resource.delete(&actor, id).await?))
}

async fn dropdown(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((name, column)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    let records = resource.dropdown(&actor, &column, params.query()?).await?;
    Ok(data(records))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AggregateRequest {
    #[serde(default)]
    filters: Vec<Filter>,
    aggregates: Vec<Aggregate>,
}

async fn aggregate(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<AggregateRequest>,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    let mut query = Query::new();
    query.filters = request.filters;
    let result = resource
        .aggregate(&actor, query, &request.aggregates)
        .await?;
    Ok(data(result))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkDelete {
    ids: Vec<Value>,
}

async fn bulk_delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<BulkDelete>,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    Ok(data(resource.bulk_delete(&actor, request.ids).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkUpdate {
    ids: Vec<Value>,
    updates: Record,
}

async fn bulk_update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<BulkUpdate>,
) -> Result<Response, ApiError> {
    let resource = resource(&state, &name)?;
    Ok(data(
        resource
            .bulk_edit(&actor, request.ids, request.updates)
            .await?,
    ))
}
