//! What the HTML services share: the short error pages the course's Flask apps answer with
//! (Werkzeug's wording, so every 404/405 looks the same and leaks nothing), page routes, and
//! rendering a tera template as a page.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

pub fn html_error(status: StatusCode) -> HttpResponse {
    let (title, text) = match status.as_u16() {
        404 => (
            "404 Not Found",
            "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
        ),
        405 => (
            "405 Method Not Allowed",
            "The method is not allowed for the requested URL.",
        ),
        _ => ("Error", "The server could not handle the request."),
    };
    let heading = title.split_once(' ').map_or(title, |(_, rest)| rest);
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html>\n<html lang=en>\n<title>{title}</title>\n<h1>{heading}</h1>\n<p>{text}</p>\n"
        ))
}

/// Default service for unknown paths.
pub async fn not_found() -> HttpResponse {
    html_error(StatusCode::NOT_FOUND)
}

/// `405` with the `Allow` header for a resource that only serves GET (and HEAD).
pub async fn get_only() -> HttpResponse {
    let mut response = html_error(StatusCode::METHOD_NOT_ALLOWED);
    response.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    response
}

/// A 200 HTML page.
pub fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// `template` rendered as a page. A failure is a bug in a template: logged, answered with the
/// 500 page.
pub fn render(tera: &tera::Tera, template: &str, context: &tera::Context) -> HttpResponse {
    match tera.render(template, context) {
        Ok(body) => html(body),
        Err(error) => {
            tracing::error!(error = ?error, template, "template failed to render");
            html_error(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// A page route and its trailing-slash twin (Flask's `strict_slashes=False`: both served, no
/// redirect); other methods get 405.
pub fn page(path: &str) -> actix_web::Resource {
    actix_web::web::resource([path.to_owned(), format!("{path}/")])
        .default_service(actix_web::web::to(get_only))
}

/// GET and HEAD: the guard for every page route (actix's `web::get()` alone does not take HEAD).
pub fn get_or_head() -> actix_web::Route {
    actix_web::web::route()
        .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}
