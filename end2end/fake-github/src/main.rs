//! `fake-github --port N --client-id X --client-secret Y --state-dir D`: the fake as a process,
//! for browser tests, driven through its `/_admin/` routes (see README.md).

use std::path::PathBuf;
use std::process::ExitCode;

use fake_github::{FakeGithub, FakeGithubOptions};

const USAGE: &str = "usage: fake-github [--port N] [--client-id ID] [--client-secret SECRET] [--state-dir DIR]";

fn parse(args: &[String]) -> Result<FakeGithubOptions, String> {
    let mut options = FakeGithubOptions::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--port" => {
                options.port = value()?
                    .parse()
                    .map_err(|_| format!("--port takes a number\n{USAGE}"))?
            }
            "--client-id" => options.client_id = value()?,
            "--client-secret" => options.client_secret = value()?,
            "--state-dir" => options.state_dir = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let fake = match FakeGithub::start(options).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake-github: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("fake-github listening on {}", fake.web_url().trim_end_matches('/'));
    // Serves until killed.
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
