//! The OpenAPI 3.1 document, built at start-up from the configured resources and routes with
//! utoipa's model: one schema per resource (backend-only columns left out), the REST paths of
//! each resource, the custom routes, login, health and metrics, and bearer authentication.
//! `/docs` shows it with the Swagger UI assets built into the binary.

use hookline_data::{Column, ColumnType, Data, ResourceDef};
use serde_json::json;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, Paths, Ref,
    RefOr, Required, ResponseBuilder, Schema,
};

use crate::config::Config;
use crate::routes::Route;

const BEARER: &str = "bearer";
const JSON: &str = "application/json";

/// The document for this config's resources and routes.
pub(crate) fn document(config: &Config, data: &Data, routes: &[std::sync::Arc<Route>]) -> OpenApi {
    let mut paths = Paths::new();
    let mut components = ComponentsBuilder::new()
        .schema("Error", error_schema())
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    let secured = config.auth.users.is_some();
    for resource in data.resources() {
        let def = resource.def();
        components = components.schema(schema_name(def), record_schema(def));
        resource_paths(&mut paths, def, secured);
    }
    for route in routes {
        for method in route.pipelines.keys() {
            let mut operation = OperationBuilder::new()
                .tag("routes")
                .summary(Some(format!("{method} {}", route.path)))
                .description(Some(
                    "A custom route: pre-hooks, the handler script, post-hooks. The response is the handler's value.",
                ))
                .parameters(Some(path_parameters(&route.path)))
                .response("200", json_response("The handler's value", any()))
                .response("4XX", error_response());
            if !matches!(
                method,
                crate::config::Method::Get | crate::config::Method::Delete
            ) {
                operation = operation.request_body(Some(
                    RequestBodyBuilder::new()
                        .content(JSON, ContentBuilder::new().schema(Some(any())).build())
                        .build(),
                ));
            }
            if secured && !route.public {
                operation =
                    operation.security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
            }
            paths.add_path_operation(&route.path, vec![http_method(*method)], operation.build());
        }
    }
    builtin_paths(&mut paths, secured);
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("hookline")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(format!(
                    "Resources, routes and hooks served by hookline from `{}`.",
                    config.file()
                )))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

fn http_method(method: crate::config::Method) -> HttpMethod {
    use crate::config::Method;
    match method {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Patch => HttpMethod::Patch,
        Method::Delete => HttpMethod::Delete,
    }
}

fn schema_name(def: &ResourceDef) -> String {
    let mut name = String::new();
    for part in def.name.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    name
}

fn typed(kind: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(kind)
}

fn any() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .into()
}

fn column_schema(column: &Column) -> ObjectBuilder {
    let schema = match column.kind {
        ColumnType::Integer => {
            typed(Type::Integer).format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        }
        ColumnType::Float => {
            typed(Type::Number).format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        }
        ColumnType::Text => typed(Type::String),
        ColumnType::Boolean => typed(Type::Boolean),
        ColumnType::Timestamp => {
            typed(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        }
        ColumnType::Json => ObjectBuilder::new().schema_type(SchemaType::AnyValue),
        ColumnType::Uuid => typed(Type::String).format(Some(SchemaFormat::Custom("uuid".into()))),
    };
    let mut notes = Vec::new();
    if column.primary_key {
        notes.push("primary key".to_owned());
    }
    if column.required {
        notes.push("required on create".to_owned());
    }
    if let Some(foreign) = &column.foreign {
        notes.push(format!("references `{}`", foreign.resource));
    }
    schema.description((!notes.is_empty()).then(|| notes.join("; ")))
}

fn record_schema(def: &ResourceDef) -> ObjectBuilder {
    let mut schema = typed(Type::Object).description(Some(format!("A record of `{}`.", def.name)));
    for column in def.columns.iter().filter(|c| !c.backend_only) {
        schema = schema.property(&column.name, column_schema(column));
    }
    schema
}

fn error_schema() -> ObjectBuilder {
    let error = typed(Type::Object)
        .property("message", typed(Type::String))
        .property("status", typed(Type::Integer))
        .property("hook", typed(Type::String))
        .property("tap", typed(Type::String))
        .property("committed", typed(Type::Boolean))
        .required("message")
        .required("status");
    typed(Type::Object)
        .property("error", error)
        .required("error")
}

fn json_response(description: &str, schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(JSON, ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

fn error_response() -> utoipa::openapi::Response {
    json_response(
        "An error: `{ error: { message, status, hook?, tap? } }`",
        Ref::from_schema_name("Error"),
    )
}

/// `{ "data": schema }`.
fn data_of(schema: impl Into<RefOr<Schema>>) -> ObjectBuilder {
    typed(Type::Object)
        .property("data", schema)
        .required("data")
}

fn json_body(schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .content(JSON, ContentBuilder::new().schema(Some(schema)).build())
        .required(Some(Required::True))
        .build()
}

fn path_parameters(path: &str) -> Vec<utoipa::openapi::path::Parameter> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(typed(Type::String)))
                .build()
        })
        .collect()
}

fn query_parameter(name: &str, kind: Type, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(typed(kind)))
        .build()
}

fn list_parameters() -> Vec<utoipa::openapi::path::Parameter> {
    vec![
        query_parameter(
            "limit",
            Type::Integer,
            "Page size (the resource's default if unset).",
        ),
        query_parameter("offset", Type::Integer, "Records to skip."),
        query_parameter(
            "sort",
            Type::String,
            "Columns to sort by, `-` for descending: `-price,title`.",
        ),
        query_parameter("total", Type::Boolean, "Also count all matching records."),
        query_parameter(
            "filter",
            Type::String,
            "A JSON filter or array of filters: `{\"field\":\"price\",\"operator\":\"gte\",\"value\":100}`; operators eq, ne, lt, lte, gt, gte, in, not_in, like, ilike, is_null; groups `{\"and\":[…]}`, `{\"or\":[…]}`.",
        ),
    ]
}

fn resource_paths(paths: &mut Paths, def: &ResourceDef, secured: bool) {
    let name = &def.name;
    let record = Ref::from_schema_name(schema_name(def));
    let records = || ArrayBuilder::new().items(record.clone());
    let id = ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("The primary key."))
        .schema(Some(
            def.primary_key()
                .map_or_else(|| typed(Type::String), column_schema),
        ))
        .build();
    let resource_param = |op: OperationBuilder| {
        let op = op.tag(name.clone()).response("4XX", error_response());
        if secured {
            op.security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
        } else {
            op
        }
    };
    let page = || {
        data_of(records())
            .property("limit", typed(Type::Integer))
            .property("offset", typed(Type::Integer))
            .property("total", typed(Type::Integer))
    };
    let collection = format!("/api/{name}");
    let item = format!("/api/{name}/{{id}}");
    let add = |paths: &mut Paths, path: &str, method: HttpMethod, op: OperationBuilder| {
        paths.add_path_operation(path, vec![method], resource_param(op).build());
    };
    add(
        paths,
        &collection,
        HttpMethod::Get,
        OperationBuilder::new()
            .summary(Some(format!("List `{name}` (list flow and hooks)")))
            .parameters(Some(list_parameters()))
            .response("200", json_response("A page of records", page())),
    );
    add(
        paths,
        &collection,
        HttpMethod::Post,
        OperationBuilder::new()
            .summary(Some(format!(
                "Create a `{name}` record (create flow and hooks)"
            )))
            .request_body(Some(json_body(record.clone())))
            .response(
                "201",
                json_response("The record as stored", data_of(record.clone())),
            ),
    );
    add(
        paths,
        &format!("/api/{name}/_search"),
        HttpMethod::Post,
        OperationBuilder::new()
            .summary(Some(format!("List `{name}` with a JSON query")))
            .request_body(Some(json_body(
                typed(Type::Object)
                    .property("filters", ArrayBuilder::new().items(any()))
                    .property("sort", ArrayBuilder::new().items(any()))
                    .property("limit", typed(Type::Integer))
                    .property("offset", typed(Type::Integer))
                    .property("with_total", typed(Type::Boolean)),
            )))
            .response("200", json_response("A page of records", page())),
    );
    add(
        paths,
        &item,
        HttpMethod::Get,
        OperationBuilder::new()
            .summary(Some(format!(
                "Show a `{name}` record (show flow and hooks)"
            )))
            .parameter(id.clone())
            .parameter(query_parameter(
                "source",
                Type::String,
                "`edit` for the edit page's data.",
            ))
            .response("200", json_response("The record", data_of(record.clone()))),
    );
    add(
        paths,
        &item,
        HttpMethod::Patch,
        OperationBuilder::new()
            .summary(Some(format!(
                "Edit a `{name}` record (edit flow and hooks)"
            )))
            .parameter(id.clone())
            .request_body(Some(json_body(record.clone())))
            .response(
                "200",
                json_response("The record as it is now", data_of(record.clone())),
            ),
    );
    add(
        paths,
        &item,
        HttpMethod::Delete,
        OperationBuilder::new()
            .summary(Some(format!(
                "Delete a `{name}` record (delete flow, cascades and hooks)"
            )))
            .parameter(id)
            .response(
                "200",
                json_response("The deleted record", data_of(record.clone())),
            ),
    );
    add(
        paths,
        &format!("/api/{name}/_aggregate"),
        HttpMethod::Post,
        OperationBuilder::new()
            .summary(Some(format!(
                "Aggregate `{name}` (scoped by the list hooks)"
            )))
            .request_body(Some(json_body(
                typed(Type::Object)
                    .property("filters", ArrayBuilder::new().items(any()))
                    .property(
                        "aggregates",
                        ArrayBuilder::new().items(
                            typed(Type::Object)
                                .property(
                                    "function",
                                    typed(Type::String)
                                        .description(Some("count, sum, min, max or avg")),
                                )
                                .property("column", typed(Type::String))
                                .property("alias", typed(Type::String))
                                .required("function")
                                .required("alias"),
                        ),
                    )
                    .required("aggregates"),
            )))
            .response(
                "200",
                json_response("The aggregates by alias", data_of(any())),
            ),
    );
    add(
        paths,
        &format!("/api/{name}/_bulk-delete"),
        HttpMethod::Post,
        OperationBuilder::new()
            .summary(Some(format!(
                "Delete several `{name}` records, all or nothing"
            )))
            .request_body(Some(json_body(
                typed(Type::Object)
                    .property("ids", ArrayBuilder::new().items(any()))
                    .required("ids"),
            )))
            .response(
                "200",
                json_response("The deleted records", data_of(records())),
            ),
    );
    add(
        paths,
        &format!("/api/{name}/_bulk-update"),
        HttpMethod::Post,
        OperationBuilder::new()
            .summary(Some(format!(
                "Edit several `{name}` records the same way, all or nothing"
            )))
            .request_body(Some(json_body(
                typed(Type::Object)
                    .property("ids", ArrayBuilder::new().items(any()))
                    .property("updates", record.clone())
                    .required("ids")
                    .required("updates"),
            )))
            .response(
                "200",
                json_response("The records as they are now", data_of(records())),
            ),
    );
    for column in def.columns.iter().filter(|c| c.foreign.is_some()) {
        let target = column.foreign.as_ref().map_or("", |f| f.resource.as_str());
        add(
            paths,
            &format!("/api/{name}/_dropdown/{}", column.name),
            HttpMethod::Get,
            OperationBuilder::new()
                .summary(Some(format!(
                    "Options for `{name}.{}`: records of `{target}` (dropdown hooks)",
                    column.name
                )))
                .parameters(Some(list_parameters()))
                .response(
                    "200",
                    json_response(
                        "Records of the referenced resource",
                        data_of(ArrayBuilder::new().items(any())),
                    ),
                ),
        );
    }
}

fn builtin_paths(paths: &mut Paths, secured: bool) {
    if secured {
        let login = OperationBuilder::new()
            .tag("auth")
            .summary(Some("Log in: a bearer token for the other endpoints"))
            .request_body(Some(json_body(
                typed(Type::Object)
                    .property("login", typed(Type::String))
                    .property(
                        "password",
                        typed(Type::String)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password))),
                    )
                    .required("login")
                    .required("password"),
            )))
            .response(
                "200",
                json_response(
                    "A token",
                    typed(Type::Object)
                        .property("token", typed(Type::String))
                        .property("token_type", typed(Type::String))
                        .property("expires_in", typed(Type::Integer))
                        .property("user", any()),
                ),
            )
            .response("401", error_response())
            .build();
        paths.add_path_operation("/auth/login", vec![HttpMethod::Post], login);
        let me = OperationBuilder::new()
            .tag("auth")
            .summary(Some("The logged-in user"))
            .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
            .response("200", json_response("The user", data_of(any())))
            .response("401", error_response())
            .build();
        paths.add_path_operation("/auth/me", vec![HttpMethod::Get], me);
        let password = OperationBuilder::new()
            .tag("auth")
            .summary(Some(
                "Set a password: your own (with `current_password`), or any user's (`user_id`) for `[auth] admin_roles`",
            ))
            .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
            .request_body(Some(json_body(
                typed(Type::Object)
                    .property("password", typed(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Password))))
                    .property("current_password", typed(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Password))))
                    .property("user_id", any())
                    .required("password"),
            )))
            .response("204", ResponseBuilder::new().description("The password was set").build())
            .response("4XX", error_response())
            .build();
        paths.add_path_operation("/auth/password", vec![HttpMethod::Put], password);
    }
    let health = OperationBuilder::new()
        .tag("operations")
        .summary(Some("Health: the server runs and reaches its database"))
        .response(
            "200",
            json_response(
                "Healthy",
                typed(Type::Object).property("status", typed(Type::String)),
            ),
        )
        .response("503", error_response())
        .build();
    paths
        .paths
        .insert("/healthz".into(), PathItem::new(HttpMethod::Get, health));
    let metrics = OperationBuilder::new()
        .tag("operations")
        .summary(Some("Prometheus metrics (requests, per-hook tap timing)"))
        .description(Some(
            "Open unless the server has a metrics token (`[server] metrics_token_env`); then \
             it needs `Authorization: Bearer <metrics token>`.",
        ))
        .response("401", error_response())
        .response(
            "200",
            ResponseBuilder::new()
                .description("The Prometheus text format")
                .content(
                    "text/plain",
                    ContentBuilder::new()
                        .example(Some(json!("hookline_http_requests_total{…} 1")))
                        .build(),
                )
                .build(),
        )
        .build();
    paths
        .paths
        .insert("/metrics".into(), PathItem::new(HttpMethod::Get, metrics));
}
