//! CORS for `/api/v1/*` (spec §4.1, flask-cors with `origins="*"`): every response, errors
//! included, allows the requesting origin (echoed, with `Vary: Origin`) or `*` without one; an
//! OPTIONS request (a preflight) answers 200 at once with the allowed methods and the requested
//! headers.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

pub const ALLOW_METHODS: &str = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    if req.method() == Method::OPTIONS {
        let mut response = HttpResponse::Ok().finish();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        if let Some(requested) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW_METHODS));
        allow_origin(headers, origin);
        return Ok(req.into_response(response));
    }
    // Handler and routing errors arrive here as responses (actix turns them into responses in the
    // handler service), so they get the headers too. Do not clone the request before `call`:
    // routing needs sole ownership of it to record the path parameters.
    let mut response = next.call(req).await?.map_into_boxed_body();
    allow_origin(response.headers_mut(), origin);
    Ok(response)
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
