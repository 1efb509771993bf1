//! Declares `Idempotency-Key` in the OpenAPI document on every operation the middleware
//! covers — found by method, like the middleware, so operations added later are documented
//! too — with the answers it can give (400 bad key, 409 still in progress, 422 key reused
//! with another body) and the `Idempotency-Replayed` header of a replayed answer.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::{ContentBuilder, Header, OpenApi, RefOr, Required, ResponseBuilder};

use super::STREAMED_UPLOAD;
use super::decision::MAX_KEY_LEN;

/// Printable ASCII without leading or trailing spaces (HTTP strips those from header values).
const KEY_PATTERN: &str = "^[!-~]([ -~]*[!-~])?$";

/// Adds the header, answers and replay marker to every covered operation of `doc`.
pub fn document(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let uploads = *path == STREAMED_UPLOAD.1;
        let ops = [
            (&mut item.post, uploads),
            (&mut item.put, false),
            (&mut item.patch, false),
            (&mut item.delete, false),
        ];
        for (op, excluded) in ops {
            if let Some(op) = op.as_mut()
                && !excluded
            {
                document_operation(op);
            }
        }
    }
}

fn document_operation(op: &mut Operation) {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_KEY_LEN))
        .pattern(Some(KEY_PATTERN));
    let parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: the same key and body within 24 h (for this token, method and \
             path) answer the first request's status and body again, with \
             `Idempotency-Replayed: true`, instead of running it twice.",
        ))
        .schema(Some(schema))
        .build();
    op.parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(parameter));

    let replayed = Header::new(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["true"])),
    );
    for (status, response) in op.responses.responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
            let mut header = replayed.clone();
            header.description =
                Some("present (`true`) when this is the replayed answer of an earlier request with the same Idempotency-Key".into());
            response
                .headers
                .insert("Idempotency-Replayed".into(), RefOr::T(header));
        }
    }
    for (status, what) in [
        (
            "400",
            "the Idempotency-Key header is malformed (empty, too long, not printable ASCII)",
        ),
        (
            "409",
            "a request with this Idempotency-Key is still in progress",
        ),
        (
            "422",
            "the Idempotency-Key was already used with another request body",
        ),
    ] {
        match op.responses.responses.get_mut(status) {
            Some(RefOr::T(response)) => {
                response.description = format!("{}; or: {what}", response.description);
            }
            Some(RefOr::Ref(_)) => {}
            None => {
                let content = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ApiError")))
                    .build();
                let response = ResponseBuilder::new()
                    .description(what)
                    .content("application/json", content)
                    .build();
                op.responses
                    .responses
                    .insert(status.to_string(), RefOr::T(response));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mutation_but_the_upload_declares_the_header_and_its_answers() {
        let doc = crate::routes::openapi();
        let json = serde_json::to_value(&doc).unwrap();
        let mut covered = 0;
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let has_header = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
                });
                let mutation = matches!(method.as_str(), "post" | "put" | "patch" | "delete");
                let upload = (method.as_str(), path.as_str()) == ("post", STREAMED_UPLOAD.1);
                assert_eq!(has_header, mutation && !upload, "{method} {path}");
                if has_header {
                    covered += 1;
                    for status in ["400", "409", "422"] {
                        assert!(
                            op["responses"][status].is_object(),
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
        assert!(
            covered >= 3,
            "PUT app, DELETE app and rollback at least: {covered}"
        );
        let put = &json["paths"]["/v1/orgs/{org}/apps/{app}"]["put"];
        assert!(put["responses"]["202"]["headers"]["Idempotency-Replayed"].is_object());
        assert!(
            put["responses"]["409"]["description"]
                .as_str()
                .unwrap()
                .contains("hostname"),
            "the route's own 409 is kept: {}",
            put["responses"]["409"]
        );
    }

    #[test]
    fn the_upload_route_is_the_one_excluded() {
        let json = serde_json::to_value(crate::routes::openapi()).unwrap();
        assert!(
            json["paths"][STREAMED_UPLOAD.1]["post"].is_object(),
            "STREAMED_UPLOAD names a served operation"
        );
    }
}
