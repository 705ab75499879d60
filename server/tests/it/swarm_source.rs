//! The swarm jobs' source endpoint with the real git client, no swarm needed: a grant serves its
//! one commit (and that commit's history) to whoever holds its token, once; nothing else of the
//! repository, not with a wrong token, not after the first complete fetch, not after the job.

use std::process::Command;

use sicuro::engine::executor::swarm::source::SourceServer;

use crate::common::GitRepo;

/// `git <args>` in `dir` with the grant's bearer token (or none); its output, or its error.
fn git(dir: &std::path::Path, token: Option<&str>, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("git");
    if let Some(t) = token {
        cmd.arg("-c").arg(format!("http.extraHeader=Authorization: Bearer {t}"));
    }
    let out = cmd
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

fn empty_clone_dir(root: &std::path::Path, name: &str) -> std::path::PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    git(&d, None, &["init", "-q"]).unwrap();
    d
}

/// `GET <base><what>` over HTTP/1.0 on a bare TCP connection, as bash's /dev/tcp sends it; the
/// whole answer, headers and body, read to the connection's close.
async fn http10_get(base: &str, what: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(base).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut tcp = tokio::net::TcpStream::connect(&host).await.unwrap();
    let request = format!(
        "GET {}{what} HTTP/1.0\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n",
        url.path()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    // Latin-1 keeps every byte of the body as one char, so offsets are byte offsets.
    answer.iter().map(|&b| b as char).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_serves_its_commit_once_to_its_token_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tree");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f.txt"), "root").unwrap();
    let repo = GitRepo::from_dir(dir.path().join("repo"), &src);
    let root = repo.head();
    repo.write("f.txt", "the build's commit");
    let build = repo.commit_all("build");
    repo.git(&["checkout", "-q", "-b", "secret", &root]);
    repo.write("f.txt", "a branch the build must not see");
    let secret = repo.commit_all("secret");
    repo.git(&["checkout", "-q", "main"]);

    let server = SourceServer::bind("127.0.0.1:0".parse().unwrap(), None).await.unwrap();
    let grant = server.grant(&repo.path.join(".git"), &build).unwrap();
    let url = grant.fetch_url().to_string();
    assert!(!url.contains(grant.token()), "the token is in no URL: {url}");

    // One ref is advertised: the build's commit.
    let refs = git(dir.path(), Some(grant.token()), &["ls-remote", &url]).unwrap();
    let shas: Vec<&str> = refs.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(!shas.is_empty() && shas.iter().all(|s| *s == build), "{refs}");

    // Another branch's commit is refused, although the mirror has it: git itself does not ask
    // for an object that was not advertised, and the server refuses it when asked anyway.
    let thief = empty_clone_dir(dir.path(), "thief");
    let err = git(&thief, Some(grant.token()), &["fetch", "-q", &url, &secret]).unwrap_err();
    assert!(err.contains("unadvertised object"), "{err}");
    let want = format!("want {secret} ofs-delta\n");
    let body = format!("{:04x}{want}0000{:04x}done\n", want.len() + 4, "done\n".len() + 4);
    let answer = reqwest::Client::new()
        .post(format!("{url}git-upload-pack"))
        .header("authorization", format!("Bearer {}", grant.token()))
        .header("content-type", "application/x-git-upload-pack-request")
        .body(body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("not our ref") && !answer.contains("PACK"), "{answer}");

    // A wrong token, or none, gets nothing.
    let refs_url = format!("{url}info/refs?service=git-upload-pack");
    for token in ["Bearer 0000", "", "Basic eDp5"] {
        let r = reqwest::Client::new()
            .get(&refs_url)
            .header("authorization", token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{token}");
    }
    assert!(git(&thief, None, &["ls-remote", &url]).is_err());

    // The job's fetch, shallow as the swarm job's (two requests): the commit and its history,
    // as a real checkout.
    let job = empty_clone_dir(dir.path(), "job");
    git(&job, Some(grant.token()), &["fetch", "-q", "--depth=50", &url, &build]).unwrap();
    git(&job, None, &["checkout", "-q", "--detach", "FETCH_HEAD"]).unwrap();
    assert_eq!(
        std::fs::read_to_string(job.join("f.txt")).unwrap(),
        "the build's commit"
    );
    assert_eq!(git(&job, None, &["rev-list", "HEAD"]).unwrap().lines().count(), 2);

    // Used up by that fetch: the token in the job's environment is worth nothing now.
    let again = empty_clone_dir(dir.path(), "again");
    let err = git(&again, Some(grant.token()), &["fetch", "-q", &url, &build]).unwrap_err();
    assert!(err.contains("410"), "{err}");

    // An image without git gets the files as a tar archive, with a plain HTTP/1.0 request as
    // the job's bash sends it; once.
    let files = server.grant(&repo.path.join(".git"), &build).unwrap();
    let archive = http10_get(files.fetch_url(), "archive", files.token()).await;
    assert!(
        archive.starts_with("HTTP/1.0 200") || archive.starts_with("HTTP/1.1 200"),
        "{}",
        &archive[..40]
    );
    let body = &archive.as_bytes()[archive.find("\r\n\r\n").unwrap() + 4..];
    let mut tar = tar::Archive::new(body);
    let mut names = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name == "f.txt" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            assert_eq!(text, "the build's commit");
        }
        names.push(name);
    }
    assert!(names.contains(&"f.txt".to_string()), "{names:?}");
    let refused = http10_get(files.fetch_url(), "archive", files.token()).await;
    assert!(refused.contains(" 410 "), "{refused}");
    drop(files);

    // Revoked when the job ends.
    let second = server.grant(&repo.path.join(".git"), &build).unwrap();
    let (url2, token2) = (second.fetch_url().to_string(), second.token().to_string());
    assert_eq!(server.live_grants(), 2);
    drop(grant);
    drop(second);
    assert_eq!(server.live_grants(), 0);
    let err = git(&again, Some(&token2), &["ls-remote", &url2]).unwrap_err();
    assert!(err.contains("not found") || err.contains("404"), "{err}");
}
