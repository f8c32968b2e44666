#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let settings: api_service::Settings = hbnb_common::cli::parse();
    let _logs = hbnb_common::telemetry::init(settings.server.log_format);
    hbnb_common::run(api_service::build(&settings).await).await
}
