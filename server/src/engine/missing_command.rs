//! Advice for a build that failed because a program is not in the image: bash's exit code 127
//! ("command not found") in the `dependencies` or `setup` phase. The verdict then says which
//! program was missing and the two ways to get it: install it in `sicuro.json`'s `dependencies`
//! phase, or run the build in an image that has it.

/// Exit code bash gives a command it cannot find.
pub const NOT_FOUND: i64 = 127;

/// Words that come before the program of a segment (`sudo make`, `if make; then …`).
const PREFIXES: &[&str] = &[
    "!", "command", "do", "elif", "else", "env", "exec", "if", "nohup", "sudo", "then", "time", "until", "while",
];
/// Shell builtins: a segment they start runs no program the image could lack.
const BUILTINS: &[&str] = &[
    "[", "[[", ".", ":", "cd", "echo", "export", "fi", "done", "printf", "set", "source", "test", "unset",
];

/// The advice for `command`, which ended with `exit_code` in `phase`; `None` when the failure
/// is not a missing program there.
pub fn advice(command: &str, phase: &str, exit_code: i64) -> Option<String> {
    if exit_code != NOT_FOUND || !matches!(phase, "dependencies" | "setup") {
        return None;
    }
    let programs = programs(command);
    let (named, package) = match programs.as_slice() {
        [one] => (format!("`{one}` is"), one.clone()),
        [] => ("a program it runs is".to_string(), "PACKAGE".to_string()),
        many => (
            format!(
                "one of {} is",
                many.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
            ),
            "PACKAGE".to_string(),
        ),
    };
    Some(format!(
        "{named} not installed in the build's image (exit code 127: command not found, in {phase}; the log above \
         names it). Install the Debian package that provides it in sicuro.json: \
         {{\"dependencies\": {{\"custom\": [\"apt-get update\", \"apt-get install -y {package}\"]}}}}, \
         or run the build in an image that has it: {{\"image\": \"…\"}}"
    ))
}

/// The programs a command line starts: the first word of each segment between `&&`, `||`, `;`,
/// `|` and parentheses, after `NAME=value` assignments and words such as `sudo` or `env`.
fn programs(command: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for segment in command.split(['&', '|', ';', '(', ')', '\n']) {
        let program = segment
            .split_whitespace()
            .find(|w| !is_assignment(w) && !w.starts_with('-') && !PREFIXES.contains(w))
            .filter(|w| !BUILTINS.contains(w));
        if let Some(p) = program.map(|p| p.trim_matches(['"', '\'']))
            && !p.is_empty()
            && !out.iter().any(|o| o == p)
        {
            out.push(p.to_string());
        }
    }
    out
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=')
        .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_missing_program_and_both_ways_to_get_it() {
        let a = advice("cmake -S . -B build", "setup", 127).unwrap();
        assert!(a.starts_with("`cmake` is not installed"), "{a}");
        assert!(
            a.contains(r#"{"dependencies": {"custom": ["apt-get update", "apt-get install -y cmake"]}}"#),
            "{a}"
        );
        assert!(a.contains(r#"{"image": "…"}"#), "{a}");
        let a = advice("FOO=1 sudo protoc --version && make", "dependencies", 127).unwrap();
        assert!(a.starts_with("one of `protoc`, `make` is"), "{a}");
        assert!(a.contains("apt-get install -y PACKAGE"), "{a}");
    }

    #[test]
    fn other_failures_get_no_advice() {
        assert_eq!(
            advice("cmake .", "setup", 1),
            None,
            "a failing program, not a missing one"
        );
        assert_eq!(
            advice("pytest", "test", 127),
            None,
            "the test phase is the project's own"
        );
    }

    #[test]
    fn words_that_are_not_programs_are_skipped() {
        assert_eq!(
            programs("export A=1; cd sub && ./configure | tee log"),
            ["./configure", "tee"]
        );
        assert_eq!(programs("env -i PATH=/bin jq ."), ["jq"]);
    }
}
