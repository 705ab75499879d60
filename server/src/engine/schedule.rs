//! Scheduled builds: a repository's cron expression (five fields, in UTC; `@daily`, `@weekly`
//! and the like too), parsed by the `croner` crate, and when it next fires. The timer that
//! fires them is `crate::schedules`.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;

/// The expression, parsed; the error says what is wrong and what is expected.
pub fn parse(expression: &str) -> Result<Cron, String> {
    Cron::from_str(expression.trim()).map_err(|e| {
        format!(
            "schedule \"{expression}\" is not a cron expression ({e}): five fields, minute hour day-of-month month \
             day-of-week, in UTC, e.g. \"0 3 * * *\" for 03:00 every day, or @hourly, @daily, @weekly"
        )
    })
}

/// The first occurrence strictly after `after_ms`, in ms; `None` when there is none.
pub fn next_after(cron: &Cron, after_ms: i64) -> Option<i64> {
    let after = DateTime::<Utc>::from_timestamp_millis(after_ms)?;
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A branch name a schedule may name: what `git check-ref-format --branch` accepts, roughly,
/// and nothing git could take for an option.
pub fn check_branch(branch: &str) -> Result<(), String> {
    let bad = branch.is_empty()
        || branch.len() > 255
        || branch.starts_with('-')
        || branch.starts_with('/')
        || branch.ends_with('/')
        || branch.ends_with(".lock")
        || branch.contains("..")
        || branch.contains("@{")
        || branch
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c));
    if bad {
        Err(format!("schedule_branch \"{branch}\" is not a branch name"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn the_next_occurrence_is_in_utc_and_strictly_after() {
        let daily = parse("0 3 * * *").unwrap();
        assert_eq!(
            next_after(&daily, at("2026-12-02T01:00:00Z")),
            Some(at("2026-12-02T03:00:00Z"))
        );
        assert_eq!(
            next_after(&daily, at("2026-12-02T03:00:00Z")),
            Some(at("2026-12-03T03:00:00Z"))
        );
        let hourly = parse("@hourly").unwrap();
        assert_eq!(
            next_after(&hourly, at("2026-12-02T01:30:00Z")),
            Some(at("2026-12-02T02:00:00Z"))
        );
        let weekdays = parse("30 6 * * MON-FRI").unwrap();
        // 2026-12-05 is a Saturday.
        assert_eq!(
            next_after(&weekdays, at("2026-12-05T00:00:00Z")),
            Some(at("2026-12-07T06:30:00Z"))
        );
    }

    #[test]
    fn a_broken_expression_says_what_is_expected() {
        for bad in ["", "every day", "61 * * * *", "* * * *", "0 0 0 * * * * *"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("five fields"), "{bad}: {e}");
        }
    }

    #[test]
    fn branch_names_that_git_would_refuse_or_read_as_options_are_refused() {
        for good in ["main", "release/1.x", "feature-2"] {
            assert!(check_branch(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a..b", "a b", "a:b", "x.lock", "/a", "a/"] {
            assert!(check_branch(bad).is_err(), "{bad}");
        }
    }
}
