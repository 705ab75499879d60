//! A PostgreSQL server of one test's own (Debian's binaries, a temporary data directory, a free
//! port), for tests that stop the database under a running server: the suite's shared server
//! stays up for everyone else. Stopped by its own `pg_ctl` and removed when dropped.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    /// A new server, started; `None` when PostgreSQL is not installed here.
    pub fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|d| d.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max()?;
        let dir = tempfile::Builder::new().prefix("sicuro-pg-outage").tempdir().unwrap();
        let pg = PrivatePostgres {
            bin,
            dir,
            port: super::process::free_port(),
        };
        if is_root() {
            // PostgreSQL refuses to run as root: as make test does, run it as `postgres`.
            run(Command::new("sh").args([
                "-c",
                "id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres",
            ]));
            run(Command::new("chown").arg("postgres").arg(pg.dir.path()));
        }
        let data = pg.data().display().to_string();
        run(&mut pg.command("initdb", &["-D", &data, "-U", "sicuro", "--auth=trust", "-E", "UTF8"]));
        pg.start_again();
        Some(pg)
    }

    pub fn url(&self) -> String {
        format!("postgres://sicuro@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once, as a crash or a pulled cable would (`-m immediate`).
    pub fn stop(&self) {
        let data = self.data().display().to_string();
        run(&mut self.command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]));
    }

    /// Starts the stopped server on the same data and port, and waits until it takes connections.
    pub fn start_again(&self) {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("log").display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(&mut self.command("pg_ctl", &["-D", &data, "-o", &options, "-l", &log, "-w", "start"]));
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.args(args);
        c
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self
            .command("pg_ctl", &["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(c: &mut Command) {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
