//! The short HTML error pages the course's Flask apps answer with (Werkzeug's wording), shared by
//! the HTML services so every 404/405 looks the same and leaks nothing.

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

/// Escapes text for an HTML body (the course reflects path text unescaped; we do not).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// GET and HEAD: the guard for every page route (actix's `web::get()` alone does not take HEAD).
pub fn get_or_head() -> actix_web::Route {
    actix_web::web::route()
        .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}
