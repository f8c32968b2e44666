#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let settings: gateway::Settings = hbnb_common::cli::parse();
    if settings.check {
        return gateway::check(&settings);
    }
    if settings.print_config {
        return gateway::print_config(&settings);
    }
    let _logs = hbnb_common::telemetry::init(settings.server.log_format);
    hbnb_common::run(gateway::build(&settings)).await
}
