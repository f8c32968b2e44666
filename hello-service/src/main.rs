#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let settings: hello_service::Settings = hbnb_common::cli::parse();
    let _logs = hbnb_common::telemetry::init(settings.server.log_format);
    hbnb_common::run(hello_service::build(&settings)).await
}
