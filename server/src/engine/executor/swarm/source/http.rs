//! git's smart HTTP protocol, the two requests a fetch makes: the ref advertisement
//! (`GET info/refs?service=git-upload-pack`) and the pack (`POST git-upload-pack`), both answered
//! by `git upload-pack --stateless-rpc` on the grant's view; and `GET archive`, the commit's
//! files as a tar archive for images without git. Protocol v0 only: the client's
//! `Git-Protocol` header is not passed on, because in v0's stateless mode upload-pack accepts
//! only wants reachable from the view's one ref.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{Access, Grants};

pub fn router(grants: Arc<Grants>) -> Router {
    Router::new()
        .route("/git/{id}/info/refs", get(info_refs))
        .route("/git/{id}/git-upload-pack", post(upload_pack))
        .route("/git/{id}/archive", get(archive))
        .with_state(grants)
}

async fn info_refs(
    State(grants): State<Arc<Grants>>,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if query.get("service").map(String::as_str) != Some("git-upload-pack") {
        return refuse(
            StatusCode::FORBIDDEN,
            "only git's smart HTTP protocol (git-upload-pack) is served",
        );
    }
    let view = match allowed(&grants, &id, &headers) {
        Ok(v) => v,
        Err((code, why)) => return refuse(code, why),
    };
    let output = upload_pack_command(&view, true)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await;
    match output {
        Ok(o) if o.status.success() => {
            let mut body = pkt_line("# service=git-upload-pack\n");
            body.extend_from_slice(b"0000");
            body.extend_from_slice(&o.stdout);
            (
                [
                    (header::CONTENT_TYPE, "application/x-git-upload-pack-advertisement"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
                .into_response()
        }
        Ok(o) => internal(&format!(
            "git upload-pack failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => internal(&format!("git could not be started: {e}")),
    }
}

async fn upload_pack(
    State(grants): State<Arc<Grants>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let view = match allowed(&grants, &id, &headers) {
        Ok(v) => v,
        Err((code, why)) => return refuse(code, why),
    };
    // git compresses only requests of over 1 KiB; a first fetch of one commit sends a few lines.
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "compressed requests are not accepted; fetch into an empty repository",
        );
    }
    let mut child = match upload_pack_command(&view, false)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return internal(&format!("git could not be started: {e}")),
    };
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    (
        [
            (header::CONTENT_TYPE, "application/x-git-upload-pack-result"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(used_up_at_end(child, stdout, grants, id, Need::Pack)),
    )
        .into_response()
}

/// The commit's files as a tar archive, for a job whose image has no git.
async fn archive(State(grants): State<Arc<Grants>>, UrlPath(id): UrlPath<String>, headers: HeaderMap) -> Response {
    let view = match allowed(&grants, &id, &headers) {
        Ok(v) => v,
        Err((code, why)) => return refuse(code, why),
    };
    let mut child = match Command::new("git")
        .args(["archive", "--format=tar", super::view::REF])
        .current_dir(&view)
        .env_remove("GIT_DIR")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return internal(&format!("git could not be started: {e}")),
    };
    let stdout = child.stdout.take().expect("piped");
    (
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(used_up_at_end(child, stdout, grants, id, Need::Anything)),
    )
        .into_response()
}

/// What an answer must have carried for the grant to be used up by it.
#[derive(Clone, Copy, PartialEq)]
enum Need {
    /// A pack: a shallow fetch first asks in a request of its own which commits are shallow,
    /// and only the next request gets the pack.
    Pack,
    Anything,
}

/// A git command's output as the response body. The grant is used up once the client has read
/// it to its end and the command succeeded.
fn used_up_at_end(
    child: tokio::process::Child,
    stdout: tokio::process::ChildStdout,
    grants: Arc<Grants>,
    id: String,
    need: Need,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> {
    struct State {
        child: tokio::process::Child,
        reader: tokio_util::io::ReaderStream<tokio::process::ChildStdout>,
        grants: Arc<Grants>,
        id: String,
        /// The last bytes seen, so a signature split across chunks is found too.
        tail: Vec<u8>,
        pack: bool,
    }
    let state = State {
        child,
        reader: tokio_util::io::ReaderStream::new(stdout),
        grants,
        id,
        tail: Vec::new(),
        pack: need == Need::Anything,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        match st.reader.next().await {
            Some(Ok(chunk)) => {
                if !st.pack {
                    let mut window = std::mem::take(&mut st.tail);
                    window.extend_from_slice(&chunk);
                    st.pack = memchr::memmem::find(&window, b"PACK").is_some();
                    st.tail = window[window.len().saturating_sub(3)..].to_vec();
                }
                Some((Ok(chunk), Some(st)))
            }
            Some(Err(e)) => Some((Err(e), None)),
            None => {
                if st.pack && st.child.wait().await.is_ok_and(|s| s.success()) {
                    st.grants.consume(&st.id);
                }
                None
            }
        }
    })
}

/// The view the request's grant serves, or why it is refused.
fn allowed(grants: &Grants, id: &str, headers: &HeaderMap) -> Result<std::path::PathBuf, (StatusCode, &'static str)> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match grants.check(id, token) {
        Access::Serve(view) => Ok(view),
        Access::Unknown => Err((
            StatusCode::NOT_FOUND,
            "no such source: the build has ended, or this is not its address",
        )),
        Access::WrongToken => {
            tracing::warn!(grant = id, "a source fetch with a wrong token was refused");
            Err((StatusCode::UNAUTHORIZED, "wrong or missing token"))
        }
        Access::Consumed => Err((
            StatusCode::GONE,
            "this build's source has been fetched already; its token is used up",
        )),
    }
}

fn upload_pack_command(view: &Path, advertise: bool) -> Command {
    let mut cmd = Command::new("git");
    // Settings that would widen what may be fetched are pinned off, whatever the host's git
    // configuration says.
    cmd.args([
        "-c",
        "uploadpack.allowAnySHA1InWant=false",
        "-c",
        "uploadpack.allowReachableSHA1InWant=false",
        "-c",
        "uploadpack.allowTipSHA1InWant=false",
        "upload-pack",
        "--stateless-rpc",
        "--strict",
        "--timeout=600",
    ]);
    if advertise {
        cmd.arg("--advertise-refs");
    }
    cmd.arg(view)
        .env_remove("GIT_PROTOCOL")
        .env_remove("GIT_DIR")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

fn pkt_line(s: &str) -> Vec<u8> {
    let mut out = format!("{:04x}", s.len() + 4).into_bytes();
    out.extend_from_slice(s.as_bytes());
    out
}

fn refuse(code: StatusCode, why: &'static str) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain")], format!("{why}\n")).into_response()
}

fn internal(why: &str) -> Response {
    tracing::error!("serving a swarm job's source failed: {why}");
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{why}\n")).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkt_lines_carry_their_length_in_hex() {
        assert_eq!(
            super::pkt_line("# service=git-upload-pack\n"),
            b"001e# service=git-upload-pack\n"
        );
    }
}
