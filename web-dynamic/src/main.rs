#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let settings: web_dynamic::Settings = hbnb_common::cli::parse();
    let _logs = hbnb_common::telemetry::init(settings.server.log_format);
    hbnb_common::run(web_dynamic::build(&settings).await).await
}
