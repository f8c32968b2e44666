//! number-service (port 5001): the course's `6-number_odd_or_even` app with every route it
//! carries (web_flask tasks 0–6). `<int:n>` is any run of decimal digits, of any length: numbers
//! are handled as digit strings, so a 30-digit number works without overflow.

use actix_web::{web, HttpResponse};
use hbnb_common::pages::{get_only, get_or_head, html, not_found, page, render};
use hbnb_common::{AppOptions, Application, Readiness, ServerSettings};

pub const DEFAULT_PORT: u16 = 5001;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "number-service",
    about = "The course's 6-number_odd_or_even Flask app"
)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerSettings,
}

pub fn build(settings: &Settings) -> std::io::Result<Application> {
    let templates = web::Data::new(templates().map_err(std::io::Error::other)?);
    Application::build(
        &settings.server,
        DEFAULT_PORT,
        Readiness::new(),
        AppOptions::default(),
        move |cfg| {
            cfg.app_data(templates.clone());
            routes(cfg);
        },
    )
}

/// The templates are compiled into the binary so it runs from any directory.
fn templates() -> Result<tera::Tera, tera::Error> {
    let mut tera = tera::Tera::default();
    tera.add_raw_templates([
        ("5-number.html", include_str!("../templates/5-number.html")),
        (
            "6-number_odd_or_even.html",
            include_str!("../templates/6-number_odd_or_even.html"),
        ),
    ])?;
    Ok(tera)
}

/// A route and its trailing-slash twin (Flask's `strict_slashes=False` serves both, no redirect).
pub fn routes(cfg: &mut web::ServiceConfig) {
    const N: &str = "{n:[0-9]+}";
    cfg.service(
        web::resource("/")
            .route(get_or_head().to(|| async { html("Hello HBNB!".to_owned()) }))
            .default_service(web::to(get_only)),
    )
    .service(page("/hbnb").route(get_or_head().to(|| async { html("HBNB".to_owned()) })))
    .service(page("/c/{text}").route(get_or_head().to(c_route)))
    .service(
        page("/python").route(get_or_head().to(|| async { html("Python is cool".to_owned()) })),
    )
    .service(page("/python/{text}").route(get_or_head().to(python_route)))
    .service(page(&format!("/number/{N}")).route(get_or_head().to(number)))
    .service(page(&format!("/number_template/{N}")).route(get_or_head().to(number_template)))
    .service(page(&format!("/number_odd_or_even/{N}")).route(get_or_head().to(number_odd_or_even)))
    .default_service(web::to(not_found));
}

/// `C ` + the text with underscores as spaces (escaped: the course reflects it raw into HTML).
async fn c_route(path: web::Path<String>) -> HttpResponse {
    html(format!("C {}", tera::escape_html(&path.replace('_', " "))))
}

async fn python_route(path: web::Path<String>) -> HttpResponse {
    html(format!(
        "Python {}",
        tera::escape_html(&path.replace('_', " "))
    ))
}

/// `007` → `7`, `000` → `0`: what Python's `int()` makes of the digits.
fn normalize(digits: &str) -> &str {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        "0"
    } else {
        trimmed
    }
}

fn is_even(digits: &str) -> bool {
    digits
        .as_bytes()
        .last()
        .is_some_and(|last| (last - b'0').is_multiple_of(2))
}

async fn number(path: web::Path<String>) -> HttpResponse {
    html(format!("{} is a number", normalize(&path)))
}

async fn number_template(tera: web::Data<tera::Tera>, path: web::Path<String>) -> HttpResponse {
    let mut context = tera::Context::new();
    context.insert("n", normalize(&path));
    render(&tera, "5-number.html", &context)
}

async fn number_odd_or_even(tera: web::Data<tera::Tera>, path: web::Path<String>) -> HttpResponse {
    let n = normalize(&path);
    let mut context = tera::Context::new();
    context.insert("n", n);
    context.insert("parity", if is_even(n) { "even" } else { "odd" });
    render(&tera, "6-number_odd_or_even.html", &context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_python_int() {
        assert_eq!(normalize("007"), "7");
        assert_eq!(normalize("0"), "0");
        assert_eq!(normalize("000"), "0");
        assert_eq!(
            normalize("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
    }

    #[test]
    fn parity_uses_the_last_digit() {
        assert!(is_even("0"));
        assert!(is_even("123456789012345678901234567890"));
        assert!(!is_even("123456789012345678901234567"));
    }
}
