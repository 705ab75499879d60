//! The swarm job's own command, around the build's script: it fetches the commit from Sicuro
//! into `/workspace` (a git checkout, or the files from an archive in an image without git),
//! runs `/sicuro/run.sh`, and reports what only the job can see. A swarm
//! task's status says neither that the kernel killed a process for memory nor that a fork was
//! refused (only the node knows, and Sicuro need not reach the nodes), so the job reads its own
//! cgroup's counters and prints them as a marker line, which the executor takes out of the log.

/// Where the build's script is mounted (a swarm config).
pub const SCRIPT_PATH: &str = "/sicuro/run.sh";
/// The git directory of the checkout, outside the workspace: the workspace holds the project's
/// files as the local executor's archive does, with a `.git` file pointing here.
pub const GIT_DIR: &str = "/sicuro/git";
pub const WORKSPACE: &str = "/workspace";
/// The variable that carries the source token into the job (only the wrapper uses it).
pub const TOKEN_VAR: &str = "SICURO_SOURCE_TOKEN";
/// The image's own user, when it is not root: the wrapper runs as root (the workspace is
/// created by the engine, as root) and runs the script as this user, as the local executor does.
pub const RUN_AS_VAR: &str = "SICURO_RUN_AS";
/// Exit code of the wrapper when the source could not be fetched.
pub const SOURCE_FAILED_CODE: i64 = 97;

/// What a marker line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    /// The commit is in the workspace, as a git checkout or (an image without git) as its
    /// files; the build's script starts.
    SourceReady { git: bool },
    /// The commit could not be fetched (git's message is in the log just before).
    SourceFailed,
    /// A fork was refused for the process limit (printed as soon as it happens).
    PidsLimit,
    /// The script ended with `code`; the cgroup counted `oom_kills` kills for memory and
    /// `refused_forks` forks refused for the process limit.
    End {
        code: i64,
        oom_kills: u64,
        refused_forks: u64,
    },
}

/// The command of the job's container: bash running the wrapper.
pub fn command(nonce: &str, source_url: &str, sha: &str, depth: u32) -> Vec<String> {
    vec![
        "bash".into(),
        "-c".into(),
        script(nonce, source_url, sha, depth),
        "sicuro-job".into(),
    ]
}

/// `depth`: commits of history the job's clone fetches (0: all of it).
fn script(nonce: &str, source_url: &str, sha: &str, depth: u32) -> String {
    let depth = match depth {
        0 => String::new(),
        n => format!("--depth={n}"),
    };
    format!(
        r#"exec 2>&1 </dev/null
__n='{nonce}'
__mark() {{ printf '##sicuro-swarm:%s:%s\n' "$__n" "$1"; }}
# __count FILE KEY: sets __v to KEY's number in FILE (0 without one). Builtins only: it must work
# when no process can be forked.
__count() {{ __v=0; [ -r "$1" ] || return 0; while read -r __k __x; do [ "$__k" = "$2" ] && __v=$__x; done <"$1"; }}
__oom() {{ __count /sys/fs/cgroup/memory.events oom_kill; [ "$__v" != 0 ] || __count /sys/fs/cgroup/memory/memory.oom_control oom_kill; __o=$__v; }}
__pids() {{ __count /sys/fs/cgroup/pids.events max; [ "$__v" != 0 ] || __count /sys/fs/cgroup/pids/pids.events max; __p=$__v; }}
__u='{source_url}'
# Without git (a service's image, a project's own), the tree comes as an archive: plain HTTP
# through bash's /dev/tcp, so that only bash and tar are needed.
__archive() {{
  case "$__u" in http://*) ;; *) echo "this image has no git, and without git the source is fetched over plain http only"; return 1 ;; esac
  __hp=${{__u#http://}}; __path=/${{__hp#*/}}archive; __hp=${{__hp%%/*}}; __host=${{__hp%:*}}; __port=${{__hp##*:}}
  [ "$__port" = "$__hp" ] && __port=80
  exec 3<>"/dev/tcp/$__host/$__port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n' "$__path" "$__hp" "${TOKEN_VAR}" >&3
  read -r __proto __code __rest <&3
  if [ "$__code" != 200 ]; then echo "the source archive was refused: $__code ${{__rest%$'\r'}}"; return 1; fi
  while read -r __h <&3 && [ -n "${{__h%$'\r'}}" ]; do :; done
  mkdir -p {WORKSPACE} && tar -x -C {WORKSPACE} <&3
}}
if command -v git >/dev/null 2>&1; then
  __how=git
  git init -q --separate-git-dir={GIT_DIR} {WORKSPACE} &&
    git -C {WORKSPACE} -c "http.extraHeader=Authorization: Bearer ${TOKEN_VAR}" fetch -q --no-tags {depth} "$__u" {sha} &&
    git -C {WORKSPACE} -c advice.detachedHead=false checkout -q --detach FETCH_HEAD
else
  __how=archive
  __archive
fi
if [ $? -ne 0 ]; then __mark source-failed; exit {SOURCE_FAILED_CODE}; fi
unset {TOKEN_VAR}
__mark "source:$__how"
# A fork bomb may keep the script running until the timeout: say as soon as forks are refused.
# The watcher sleeps with `read -t` on a FIFO nobody writes, so it forks nothing itself.
__w=
if mkfifo /sicuro/tick 2>/dev/null; then
  ( exec 9<>/sicuro/tick; while :; do __pids; if [ "$__p" != 0 ]; then __mark pids; exit 0; fi; read -t 0.5 -u 9 __; done ) &
  __w=$!
fi
if [ -n "${{{RUN_AS_VAR}:-}}" ]; then
  __as=${RUN_AS_VAR}; unset {RUN_AS_VAR}; __user=${{__as%%:*}}; __group=${{__as#*:}}
  # USER without a group: the user's own primary group.
  [ "$__group" = "$__as" ] && __group=$(id -g "$__user" 2>/dev/null || echo "$__user")
  chown -R "$__as" {WORKSPACE} {GIT_DIR} 2>/dev/null
  __home=$(getent passwd "$__user" | cut -d: -f6)
  if [ -n "$__home" ]; then __groups=--init-groups; else __groups=--clear-groups; fi
  HOME=${{__home:-/}} setpriv --reuid="$__user" --regid="$__group" $__groups bash {SCRIPT_PATH}
else
  bash {SCRIPT_PATH}
fi
__rc=$?
[ -n "$__w" ] && kill "$__w" 2>/dev/null
__oom; __pids
__mark "end:$__rc:$__o:$__p"
exit "$__rc"
"#
    )
}

/// Finds a marker of this job in a log line: the output before it, and what it says.
pub fn find<'a>(nonce: &str, line: &'a [u8]) -> Option<(&'a [u8], Marker)> {
    let prefix = format!("##sicuro-swarm:{nonce}:");
    let at = memchr::memmem::find(line, prefix.as_bytes())?;
    let rest = std::str::from_utf8(&line[at + prefix.len()..]).ok()?.trim_end();
    let marker = match rest {
        "source:git" => Marker::SourceReady { git: true },
        "source:archive" => Marker::SourceReady { git: false },
        "source-failed" => Marker::SourceFailed,
        "pids" => Marker::PidsLimit,
        _ => {
            let mut parts = rest.strip_prefix("end:")?.split(':');
            Marker::End {
                code: parts.next()?.parse().ok()?,
                oom_kills: parts.next()?.parse().ok()?,
                refused_forks: parts.next()?.parse().ok()?,
            }
        }
    };
    Some((&line[..at], marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_after_unterminated_output_and_forgeries_are_output() {
        assert_eq!(
            find("n", b"##sicuro-swarm:n:source:git\n"),
            Some((&b""[..], Marker::SourceReady { git: true }))
        );
        assert_eq!(
            find("n", b"partial##sicuro-swarm:n:end:137:1:0\n"),
            Some((
                &b"partial"[..],
                Marker::End {
                    code: 137,
                    oom_kills: 1,
                    refused_forks: 0
                }
            ))
        );
        assert_eq!(find("n", b"##sicuro-swarm:guess:source:git\n"), None);
        assert_eq!(find("n", b"##sicuro-swarm:n:end:x\n"), None);
    }

    #[test]
    fn the_wrapper_is_valid_bash_and_carries_no_token() {
        for depth in [50, 0] {
            let s = script("abc", "http://10.0.0.1:3001/git/id/", &"a".repeat(40), depth);
            assert!(!s.contains("Bearer ey"), "the token comes from the environment only");
            assert_eq!(s.contains("--depth=50"), depth == 50, "0 fetches the whole history");
            let out = std::process::Command::new("bash")
                .args(["-n", "-c", &s])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
