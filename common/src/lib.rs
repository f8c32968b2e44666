//! What every HBNB binary repeats: settings read from the environment and flags,
//! tracing set-up, server start-up (bind or inherit a socket), graceful shutdown, in-place
//! upgrade (SIGUSR2), and the `/healthz` and `/readyz` endpoints.

pub mod cli;
pub mod health;
pub mod listen;
pub mod log_writer;
pub mod metrics;
pub mod pages;
pub mod process;
pub mod response_cache;
pub mod server;
pub mod settings;
pub mod static_files;
pub mod telemetry;
pub mod upgrade;

pub use health::Readiness;
pub use server::{run, AppOptions, Application, ConnectionOptions, ConnectionSlot, TlsListen};
pub use settings::ServerSettings;
