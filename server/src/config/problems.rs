//! Reading variables and collecting what is wrong with them: every problem names the variable
//! and the fix, and all problems are reported together.

use std::collections::HashMap;
use std::fmt;

/// The variables, read from a map so tests need not touch the process environment.
pub struct Env(HashMap<String, String>);

impl Env {
    /// The process environment, after loading `.env` from the working directory if there is one.
    pub fn from_process() -> Self {
        // A missing .env is normal; a broken one is worth a warning.
        if let Err(e) = dotenvy::dotenv()
            && !e.not_found()
        {
            eprintln!("warning: .env could not be read: {e}");
        }
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// A variable's value; empty or blank counts as unset.
    pub fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub var: &'static str,
    pub problem: String,
    pub fix: String,
}

#[derive(Debug, thiserror::Error)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration has {} problem(s):", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  {}: {}. Fix: {}", p.var, p.problem, p.fix)?;
        }
        Ok(())
    }
}

/// The problems found so far, in the order the variables were read.
#[derive(Default)]
pub struct Problems(pub Vec<ConfigProblem>);

impl Problems {
    pub fn add(&mut self, var: &'static str, problem: impl Into<String>, fix: impl Into<String>) {
        self.0.push(ConfigProblem {
            var,
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    /// The variable parsed, or `default` when it is unset; an invalid value is a problem (and
    /// `default` stands in, so that reading can go on and report everything at once).
    pub fn parse_or<T>(
        &mut self,
        env: &Env,
        var: &'static str,
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> T {
        match env.get(var) {
            None => default,
            Some(raw) => parse(raw).unwrap_or_else(|| {
                self.add(var, format!("`{raw}` is not valid"), format!("use {expected}"));
                default
            }),
        }
    }

    pub fn into_result<T>(self, value: T) -> Result<T, ConfigError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError(self.0))
        }
    }
}

/// `64MiB`, `4g`, `512m`, `1000000` → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    s.parse::<bytesize::ByteSize>()
        .ok()
        .map(|b| b.as_u64())
        .filter(|b| *b > 0)
}

/// `60m`, `1h30m`, `90s` → a duration (zero is not one).
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    humantime::parse_duration(s).ok().filter(|d| !d.is_zero())
}
