//! Completes the OpenAPI document from what every handler shares, so the document lists every
//! status code an operation can return without each annotation repeating it:
//!
//! - every operation may answer 500 (`internal`);
//! - with a bearer token: 401 (missing, unknown, revoked or expired token) and 403 (the
//!   token's role may not do this); with `{org}` in the path: 404 (another org's resources
//!   answer as if they did not exist);
//! - with path parameters: 400 (a parameter that cannot be parsed);
//! - with a JSON body: 400 (not JSON), 413 (over the body limit), 415 (not
//!   `application/json`) and 422 (valid JSON that breaks a rule);
//! - path parameters named `org`, `app` and `context`, and the name and hostname fields of
//!   the app spec, carry the naming rules of `satusky-core` as patterns and bounds (core owns
//!   the rules; the wire types in `satusky-types` cannot depend on it).
//!
//! Every one of these answers has the `ApiError` body. Owns only the document, never routing.

use satusky_core::names::{
    APP_NAME_PATTERN, CONTEXT_DIGEST_PATTERN, HOSTNAME_PATTERN, MAX_APP_NAME_LEN, MAX_HOSTNAME_LEN,
    MAX_ORG_NAME_LEN, ORG_NAME_PATTERN,
};
use satusky_core::quantity::{BYTES_PATTERN, CPU_PATTERN};
use satusky_core::validate::limits::{
    MAX_BUILD_COMMAND, MAX_CHECKS_PATH, MAX_IMAGE, MAX_PATH, MAX_REDIRECT_URL, MAX_SCALAR,
};
use utoipa::Modify;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

pub struct SharedAnswers;

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut OpenApi) {
        // The document itself is served by a plain route; list it too.
        openapi.paths.add_path_operation(
            "/v1/openapi.json",
            vec![HttpMethod::Get],
            OperationBuilder::new()
                .tag("meta")
                .operation_id(Some("openapi"))
                .summary(Some("This OpenAPI document"))
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("the OpenAPI 3.1 document")
                        .content("application/json", ContentBuilder::new().build()),
                )
                .build(),
        );
        if let Some(components) = openapi.components.as_mut() {
            // (schema, field, pattern, min length, max length): names and quantities as
            // patterns, every string the spec limits bound with its limit. Quantity patterns
            // are supersets of what the parsers accept (digits and scale are checked there).
            let rules: [(&str, &str, Option<&str>, usize, usize); 14] = [
                (
                    "AppSpec",
                    "name",
                    Some(APP_NAME_PATTERN),
                    1,
                    MAX_APP_NAME_LEN,
                ),
                ("AppSpec", "cpu", Some(CPU_PATTERN), 1, MAX_SCALAR),
                ("AppSpec", "cpu_limit", Some(CPU_PATTERN), 1, MAX_SCALAR),
                ("AppSpec", "memory", Some(BYTES_PATTERN), 1, MAX_SCALAR),
                (
                    "AppSpec",
                    "memory_limit",
                    Some(BYTES_PATTERN),
                    1,
                    MAX_SCALAR,
                ),
                ("AppSpec", "image", None, 0, MAX_IMAGE),
                ("BuildSpec", "dockerfile", None, 0, MAX_PATH),
                ("BuildSpec", "context", None, 0, MAX_PATH),
                ("BuildSpec", "command", None, 0, MAX_BUILD_COMMAND),
                ("ChecksSpec", "path", None, 0, MAX_CHECKS_PATH),
                ("ChecksSpec", "expect", None, 0, MAX_SCALAR),
                (
                    "DomainSpec",
                    "host",
                    Some(HOSTNAME_PATTERN),
                    1,
                    MAX_HOSTNAME_LEN,
                ),
                ("DomainSpec", "redirect_to", None, 0, MAX_REDIRECT_URL),
                ("VolumeSpec", "size", Some(BYTES_PATTERN), 1, MAX_SCALAR),
            ];
            for (schema, field, pattern, min, max) in rules {
                if let Some(RefOr::T(Schema::Object(obj))) = components.schemas.get_mut(schema)
                    && let Some(RefOr::T(Schema::Object(prop))) = obj.properties.get_mut(field)
                {
                    prop.pattern = pattern.map(str::to_string);
                    prop.min_length = (min > 0).then_some(min);
                    prop.max_length = Some(max);
                }
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                complete(path, op);
            }
        }
    }
}

fn complete(path: &str, op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| matches!(b, RefOr::T(b) if b.content.contains_key("application/json")));
    let has_path_params = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path)))
    });
    let mut add = |status: &str, description: &str| {
        if !op.responses.responses.contains_key(status) {
            op.responses
                .responses
                .insert(status.to_string(), error_response(description));
        }
    };
    add("500", "internal error; the server log has the details");
    if secured {
        add(
            "401",
            "missing `Authorization: Bearer TOKEN`, or the token is unknown, revoked or expired",
        );
        add("403", "the token's role may not do this");
    }
    if path.contains("{org}") {
        add(
            "404",
            "not found (another org's resources answer the same way)",
        );
    }
    if has_path_params || json_body {
        add(
            "400",
            "a path parameter or the body cannot be parsed (not JSON, wrong types)",
        );
    }
    if json_body {
        add("413", "the body is over the size limit");
        add("415", "the body is not sent as `application/json`");
        add("422", "the body breaks a rule; the message names the field");
    }
    for param in op.parameters.iter_mut().flatten() {
        let RefOr::T(param) = param else { continue };
        if !matches!(param.parameter_in, ParameterIn::Path) {
            continue;
        }
        let rule = match param.name.as_str() {
            "org" => Some((ORG_NAME_PATTERN, MAX_ORG_NAME_LEN)),
            "app" => Some((APP_NAME_PATTERN, MAX_APP_NAME_LEN)),
            "context" => Some((CONTEXT_DIGEST_PATTERN, 71)),
            _ => None,
        };
        if let Some((pattern, max)) = rule {
            param.schema = Some(RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(pattern))
                    .min_length(Some(1))
                    .max_length(Some(max))
                    .build(),
            )));
        }
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ApiError")))
                    .build(),
            )
            .build(),
    )
}
