//! `/status` and `/stats` (spec §4.2).

use hbnb_storage::Stats;
use serde::Serialize;
use utoipa::ToSchema;

use super::answers::Unavailable;
use super::{ok, Db, Reply};

/// `GET /status`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "OK"}))]
pub struct Status {
    #[schema(value_type = String, pattern = "^OK$")]
    status: &'static str,
}

#[utoipa::path(get, path = "/api/v1/status", tag = "status", responses((status = 200, body = Status)))]
pub async fn status() -> Reply {
    ok(Status { status: "OK" })
}

/// The number of objects of each class.
#[utoipa::path(
    get, path = "/api/v1/stats", tag = "status",
    responses((status = 200, body = Stats), Unavailable)
)]
pub async fn stats(db: Db) -> Reply {
    ok(db.stats().await?)
}
