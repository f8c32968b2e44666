//! What an operation can answer, for `#[utoipa::path(responses(...))]`: one type per kind of
//! answer, so each operation lists exactly the statuses it has and every answer of a kind is
//! described once. Bodies refer to the components registered by `openapi.rs`.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use hbnb_storage::Model;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::IntoResponses;

type Answers = BTreeMap<String, RefOr<Response>>;

fn answer(status: u16, description: &str, schema: impl Into<RefOr<Schema>>) -> Answers {
    let content = ContentBuilder::new().schema(Some(schema)).build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build();
    BTreeMap::from([(status.to_string(), response.into())])
}

fn error(status: u16, description: &str) -> Answers {
    answer(status, description, Ref::from_schema_name("ErrorBody"))
}

fn model<M: Model>() -> Ref {
    Ref::from_schema_name(M::name())
}

/// 200 with the object (`to_dict()`).
pub struct One<M>(PhantomData<M>);
/// 200 with a list of objects.
pub struct List<M>(PhantomData<M>);
/// 201 with the object just created (or linked).
pub struct Made<M>(PhantomData<M>);

impl<M: Model> IntoResponses for One<M> {
    fn responses() -> Answers {
        answer(200, "The object", model::<M>())
    }
}

impl<M: Model> IntoResponses for List<M> {
    fn responses() -> Answers {
        answer(200, "The objects", ArrayBuilder::new().items(model::<M>()))
    }
}

impl<M: Model> IntoResponses for Made<M> {
    fn responses() -> Answers {
        answer(201, "Created", model::<M>())
    }
}

/// 200 `{}`: deleted (or unlinked).
pub struct Deleted;

impl IntoResponses for Deleted {
    fn responses() -> Answers {
        answer(200, "Done", Ref::from_schema_name("Empty"))
    }
}

/// 404 `{"error": "Not found"}`: an id of the URL names nothing (any string that is not a UUID
/// names nothing), or the body's `user_id` does.
pub struct NotFound;

impl IntoResponses for NotFound {
    fn responses() -> Answers {
        error(
            404,
            "Not found: an id of the URL (or the body's user_id) names nothing",
        )
    }
}

/// 400 and 413: what a body can be refused for.
pub struct BadBody;

impl IntoResponses for BadBody {
    fn responses() -> Answers {
        let mut answers = error(
            400,
            "`Not a JSON` (another content type than application/json or application/*+json, \
             a body that does not parse, JSON that is not an object), or the first field in \
             the schema's order that is missing or invalid: `Missing <key>`, `<key> must be \
             ...`, `<key> is too long (at most N characters)`, `<key> must not contain NUL \
             characters`",
        );
        answers.extend(error(413, "The body is larger than 1 MiB"));
        answers
    }
}

/// 503: the database did not answer in time.
pub struct Unavailable;

impl IntoResponses for Unavailable {
    fn responses() -> Answers {
        error(503, "The database is unavailable")
    }
}
