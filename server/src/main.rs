//! The `sicuro` binary: configuration in, one of the commands out.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sicuro::config::{Config, Env};

#[derive(Parser)]
#[command(
    name = "sicuro",
    version,
    about = "A self-hosted CI server that tests every change in a fresh Docker container"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default). Settings come from SICURO_* variables and .env.
    Serve,
    /// Run the pipeline on a local working tree (uncommitted changes included) and exit with its result.
    Run {
        /// The project's directory.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Stop the job after this long (e.g. 10m); defaults to SICURO_BUILD_TIMEOUT or 60m.
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
        /// Do not mount a dependency cache.
        #[arg(long)]
        no_cache: bool,
        /// Give the job this secret, its value taken from the environment variable of the same
        /// name; masked as *** in the output (repeatable).
        #[arg(long = "secret", value_name = "NAME")]
        secrets: Vec<String>,
        /// Give the job the secrets in this file (NAME=value lines; # comments), masked too.
        #[arg(long, value_name = "FILE")]
        secrets_file: Option<PathBuf>,
    },
    /// Build the job and service images that are missing or outdated (all, or the ones named).
    Images {
        /// Only list the recipes and whether their images are current.
        #[arg(long)]
        list: bool,
        names: Vec<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, None | Some(Command::Serve)));
    let config = match Config::from_env(&Env::from_process()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sicuro: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("the async runtime starts");
    let result: anyhow::Result<i32> = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => sicuro::serve::serve(config).await.map(|_| 0),
            Command::Run {
                path,
                timeout,
                no_cache,
                secrets,
                secrets_file,
            } => {
                let secrets =
                    sicuro::cli::run::load_secrets(&secrets, secrets_file.as_deref(), |n| std::env::var(n).ok())?;
                let options = sicuro::cli::run::RunOptions {
                    path,
                    timeout,
                    no_cache,
                    secrets,
                };
                sicuro::cli::run::run(options, &config.engine).await
            }
            Command::Images { list: true, .. } => sicuro::cli::images::list(ca_args(&config)).await.map(|_| 0),
            Command::Images { names, .. } => sicuro::cli::images::build(&names, ca_args(&config)).await.map(|_| 0),
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("sicuro: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn ca_args(config: &Config) -> sicuro::engine::executor::docker::images::BuildArgs {
    sicuro::engine::executor::docker::images::BuildArgs::with_extra_ca_certs(config.engine.extra_ca_certs.clone())
}

fn init_tracing(server: bool) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let default = if server {
        "info,sqlx=warn,bollard=warn,hyper=warn"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_env("SICURO_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // bollard logs the bodies of Docker's requests and answers at debug level, and a job
    // container's body holds its environment — the build's secrets among it — so bollard says
    // nothing below info, whatever SICURO_LOG asks for.
    let no_docker_bodies = tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.target().starts_with("bollard") && *meta.level() > tracing::Level::INFO)
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_filter(filter)
                .with_filter(no_docker_bodies),
        )
        .init();
}
