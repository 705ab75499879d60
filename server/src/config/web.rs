//! Where the web app listens, how people reach it, and where its assets are.

use std::net::SocketAddr;
use std::path::PathBuf;

use url::Url;

use super::problems::{Env, Problems};

pub(super) struct WebSettings {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub site_root: PathBuf,
}

pub(super) fn from_env(env: &Env, p: &mut Problems) -> WebSettings {
    // cargo-leptos passes its site address and root through LEPTOS_*; ours win when both are set.
    let listen_var = if env.get("SICURO_LISTEN").is_some() {
        "SICURO_LISTEN"
    } else {
        "LEPTOS_SITE_ADDR"
    };
    let listen = match env.get(listen_var).unwrap_or("127.0.0.1:3000").parse() {
        Ok(a) => a,
        Err(_) => {
            p.add(
                "SICURO_LISTEN",
                format!("`{}` is not an address and port", env.get(listen_var).unwrap_or("")),
                "use the form 127.0.0.1:3000 (or 0.0.0.0:3000 to listen on every interface)",
            );
            SocketAddr::from(([127, 0, 0, 1], 3000))
        }
    };
    let public_url = match env.get("SICURO_PUBLIC_URL") {
        None => Url::parse(&format!("http://{listen}")).expect("a socket address makes a URL"),
        Some(raw) => match Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            _ => {
                p.add(
                    "SICURO_PUBLIC_URL",
                    format!("`{raw}` is not an http(s) URL"),
                    "set the address people and GitHub use to reach Sicuro, e.g. https://ci.example.com",
                );
                Url::parse("http://127.0.0.1:3000").expect("valid")
            }
        },
    };
    let site_root = PathBuf::from(
        env.get("SICURO_SITE_ROOT")
            .or(env.get("LEPTOS_SITE_ROOT"))
            .unwrap_or("target/site"),
    );
    WebSettings {
        listen,
        public_url,
        site_root,
    }
}

/// Local mode trusts people at this machine; listening beyond it must be asked for explicitly.
pub(super) fn check_local_mode_listen(env: &Env, p: &mut Problems, listen: SocketAddr, local_mode: bool) {
    if !local_mode || listen.ip().is_loopback() {
        return;
    }
    if env.get("SICURO_LOCAL_MODE_ON_NETWORK") != Some("true") {
        p.add(
            "SICURO_LISTEN",
            format!("local mode (no GitHub settings) would listen on {listen}, an address other machines can reach"),
            "listen on 127.0.0.1, configure GitHub sign-in, or set SICURO_LOCAL_MODE_ON_NETWORK=true if you mean it \
             (only requests from this machine may change anything)",
        );
    }
}
