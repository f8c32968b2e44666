//! CORS for `/api/v1/*` (spec §4.1, flask-cors with `origins="*"`): every response, errors
//! included, allows the requesting origin (echoed, with `Vary: Origin`) or `*` without one.
//!
//! `OPTIONS` (a preflight, or a client asking) is answered by each resource itself
//! ([`preflight`], routed by `lib.rs`'s `resource`): 200, empty, with `Allow` and
//! `Access-Control-Allow-Methods` listing exactly the methods that resource answers (the same
//! list as its 405's `Allow`, e.g. `/status` → `GET, HEAD, OPTIONS`) and the requested headers
//! allowed. `OPTIONS` on a path that is no resource answers what every other method gets
//! there: 404 `{"error": "Not found"}` (with the CORS origin headers), so a preflight for a
//! request that cannot succeed fails early.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse};

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    // Handler and routing errors arrive here as responses (actix turns them into responses in the
    // handler service), so they get the headers too. Do not clone the request before `call`:
    // routing needs sole ownership of it to record the path parameters.
    let mut response = next.call(req).await?.map_into_boxed_body();
    allow_origin(response.headers_mut(), origin);
    Ok(response)
}

/// The answer to `OPTIONS` on a resource that answers the methods `allow`.
pub fn preflight(req: &HttpRequest, allow: &'static str) -> HttpResponse {
    let mut response = HttpResponse::Ok().finish();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(allow),
    );
    if let Some(requested) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn allow_origin(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    match origin {
        Some(origin) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
}
