//! `sicuro serve`: wires the configuration to the engine, the GitHub client and the web app,
//! listens, and shuts down gracefully on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use leptos::prelude::LeptosOptions;

use crate::config::Config;
use crate::crypto::Keys;
use crate::db::Db;
use crate::engine::executor::Executor;
use crate::engine::{self, CredentialSource, Engine, EngineOptions, NoCredentials};
use crate::github::Github;
use crate::github::credentials::SubscriberTokens;
use crate::github::statuses::StatusPoster;
use crate::web::{self, AppState};

/// Builds the application state: database (migrated), keys, engine (recovered) on the
/// configured executor (the local Docker engine or a swarm), GitHub.
pub async fn app_state(config: Config) -> anyhow::Result<AppState> {
    app_state_with(config, None).await
}

/// The same, with jobs run by `executor` instead (tests of the web app use a fake one).
pub async fn app_state_with(config: Config, executor: Option<Arc<dyn Executor>>) -> anyhow::Result<AppState> {
    let db = Db::connect(&config.database_url)
        .await
        .context("the database could not be opened")?;
    let executor = match executor {
        Some(e) => e,
        None => {
            let instance = engine::instance_id(&db).await?;
            crate::engine::executor::from_config(&instance, &config.engine)
                .await
                .map_err(anyhow::Error::msg)?
        }
    };
    let keys = Arc::new(Keys::load(&config.secret_key)?);
    let github = match &config.github {
        Some(g) => Some(Arc::new(Github::new(
            config.github_urls.clone(),
            g.clone(),
            config.public_url.clone(),
        )?)),
        None => None,
    };
    let credentials: Arc<dyn CredentialSource> = match &github {
        Some(_) => Arc::new(SubscriberTokens {
            db: db.clone(),
            keys: keys.clone(),
        }),
        None => Arc::new(NoCredentials),
    };
    let engine = Engine::start(EngineOptions {
        db: db.clone(),
        config: config.engine.clone(),
        data_dir: config.data_dir.clone(),
        credentials,
        executor,
        secrets: keys.secret_box(),
    })
    .await?;
    if let Some(g) = &github {
        StatusPoster::start(db.clone(), g.clone(), keys.clone(), &engine);
    }
    engine
        .background()
        .spawn("retention", crate::retention::run(db.clone(), engine.clone()));
    engine
        .background()
        .spawn("scheduled builds", crate::schedules::run(engine.clone()));
    let leptos = LeptosOptions::builder()
        .output_name("sicuro")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(config.listen)
        .build();
    Ok(AppState {
        config: Arc::new(config),
        db,
        engine,
        keys,
        github,
        access: Arc::new(web::access::PermissionCache::default()),
        leptos,
        log_feeds: Arc::default(),
    })
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    announce(&config);
    let listen = config.listen;
    let grace = config.engine.shutdown_grace;
    let state = app_state(config).await?;
    let engine = state.engine.clone();
    let app = web::router(state);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (SICURO_LISTEN); is another server using it?"))?;
    tracing::info!("Sicuro is listening on http://{listen}");
    // No Nagle: server-sent events are small writes that must leave at once. With it, a log
    // line could wait for the client's delayed ACK (about 40 ms) behind the previous one.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
    });
    let background = engine.background().clone();
    let fault = std::sync::Arc::new(std::sync::OnceLock::new());
    let stop = {
        let fault = fault.clone();
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                f = background.failed() => { let _ = fault.set(f); }
            }
        }
    };
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stop)
        .await?;
    if let Some(f) = fault.get() {
        // Crash-only: a server whose queue or status poster is gone must not go on accepting
        // builds. Its running builds are recovered (ended `error`) by the next process.
        anyhow::bail!("{f}; stopping so that the service manager starts a fresh process");
    }
    tracing::info!("no longer taking requests; letting running builds finish (up to {grace:?})");
    engine.shutdown(grace).await;
    tracing::info!("stopped");
    Ok(())
}

/// Says at start-up what runs where and which features wait for GitHub settings.
fn announce(config: &Config) {
    tracing::info!(
        "database: {} · data: {} · public URL: {}",
        crate::config::redact_url(&config.database_url),
        config.data_dir.display(),
        config.public_url
    );
    if config.local_mode() {
        tracing::warn!("local mode: no GitHub settings, so no sign-in; people at this machine may do everything");
        for f in config.features_needing_github() {
            tracing::warn!("off until GitHub is configured: {f}");
        }
        if !config.listen.ip().is_loopback() {
            tracing::warn!(
                "local mode is listening on {} — only requests from this machine may change anything",
                config.listen
            );
        }
    } else {
        tracing::info!(
            "GitHub: {} (API {}) · OAuth callback: {}auth/github/callback · webhooks: {}hooks/github",
            config.github_urls.web,
            config.github_urls.api,
            config.public_url,
            config.public_url
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
