//! `healthd serve`: load and validate the configuration (or render the
//! built-in demo), open the store, build and start the engine, serve the
//! HTTP API and dashboard, run the built-in reporters, and on SIGINT or
//! SIGTERM shut down in order: stop accepting, stop the reporters, stop
//! the engine (flushing buffered results and state), close the store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::Method;
use healthcore::engine::Engine;
use healthcore_http::{ApiState, Scope};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::healthd::build::{self, StoreHandle};
use crate::healthd::config::{ConfigFile, StoreConfig};
use crate::healthd::demo;
use crate::healthd::error::{ConfigError, ConfigErrors, HealthdError};
use crate::healthd::reporter;

/// How long open connections (event streams, say) may take to finish
/// after a shutdown signal before they are dropped.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What `serve` was asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The configuration file; `None` runs the built-in demo.
    pub config: Option<PathBuf>,
    /// Overrides `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Overrides the SQLite `store.path` (and the demo's database file).
    pub db: Option<PathBuf>,
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    addr: SocketAddr,
    admin_token: Option<String>,
    engine: Engine,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    reporters: Vec<JoinHandle<()>>,
    store: StoreHandle,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Open connections finished within [`DRAIN_TIMEOUT`].
    pub drained: bool,
    /// The store was closed (SQLite: WAL checkpointed, file released).
    pub store_closed: bool,
}

fn override_error(origin: &str, field: &str, message: &str) -> HealthdError {
    HealthdError::Config(ConfigErrors(vec![ConfigError {
        origin: origin.to_owned(),
        position: None,
        field: field.to_owned(),
        message: message.to_owned(),
    }]))
}

impl Daemon {
    /// Validates, opens, builds, starts and binds; returns once the API
    /// answers.
    pub async fn start(opts: ServeOptions) -> Result<Self, HealthdError> {
        let (file, plan, listener, admin_token) = match &opts.config {
            Some(path) => {
                let mut file = ConfigFile::load(path)?;
                if let Some(listen) = opts.listen {
                    file.config.server.listen = listen;
                }
                if let Some(db) = &opts.db {
                    match &mut file.config.store {
                        StoreConfig::Sqlite { path } => *path = db.clone(),
                        _ => {
                            return Err(override_error(
                                &file.origin,
                                "store.path",
                                "--db applies to sqlite stores only",
                            ));
                        }
                    }
                }
                // validate before binding: a bad config touches nothing
                let plan = file.validate()?;
                let listener = bind(plan.config.server.listen).await?;
                (file, plan, listener, None)
            }
            None => {
                let listen = opts
                    .listen
                    .unwrap_or_else(|| crate::healthd::config::ServerConfig::default().listen);
                let listener = bind(listen).await?;
                let bound = listener.local_addr().map_err(|source| HealthdError::Bind {
                    addr: listen,
                    source,
                })?;
                let db = opts
                    .db
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(demo::DEMO_DB));
                let file = demo::config(bound, &db)?;
                let plan = file.validate()?;
                let token = demo::random_token().map_err(HealthdError::Random)?;
                (file, plan, listener, Some(token))
            }
        };
        let addr = listener.local_addr().map_err(|source| HealthdError::Bind {
            addr: plan.config.server.listen,
            source,
        })?;

        let store = StoreHandle::open(&plan.store).await?;
        let engine = build::engine(&plan, &store)?;
        build::apply(&engine, &plan.config).await?;
        engine.start().await?;

        let mut auth = plan.auth.clone().public(Method::GET, "/");
        if let Some(token) = &admin_token {
            auth = auth.with_token("demo-admin", token, Scope::Admin);
        }
        let app = healthcore_http::router(
            ApiState::new(engine.clone(), auth).with_config(build::api_config(&plan)),
        );
        let (stop, stop_rx) = watch::channel(false);
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(async move {
            // with the peer address, so POST /report records the client IP
            // (seed 001), falling back to the body's ip_address
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await
        });
        let reporters = plan
            .config
            .reporters
            .iter()
            .map(|r| {
                reporter::spawn(
                    engine.clone(),
                    r.target.clone(),
                    r.interval,
                    stop_rx.clone(),
                )
            })
            .collect();
        tracing::info!(
            %addr,
            origin = %file.origin,
            targets = plan.config.targets.len(),
            checks = plan.config.checks().len(),
            "healthd serving"
        );
        Ok(Self {
            addr,
            admin_token,
            engine,
            stop,
            server,
            reporters,
            store,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The demo's generated admin token (`None` with a config file).
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The dashboard's URL, with the demo token in the fragment (a
    /// fragment never reaches the server or its logs).
    pub fn dashboard_url(&self) -> String {
        let host = match self.addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        match &self.admin_token {
            Some(t) => format!("http://{host}:{}/#token={t}", self.addr.port()),
            None => format!("http://{host}:{}/", self.addr.port()),
        }
    }

    /// Stops accepting, lets connections finish (up to
    /// [`DRAIN_TIMEOUT`]), stops the reporters and the engine (flushing),
    /// and closes the store.
    pub async fn shutdown(self) -> ShutdownReport {
        let Self {
            engine,
            stop,
            server,
            reporters,
            store,
            ..
        } = self;
        tracing::info!("shutting down");
        let _ = stop.send(true);
        let abort = server.abort_handle();
        let drained = match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
            Ok(Ok(Ok(()))) => true,
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "HTTP server ended with an error");
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "HTTP server task failed");
                true
            }
            Err(_) => {
                tracing::warn!("open connections did not finish in time; dropping them");
                abort.abort();
                false
            }
        };
        for r in reporters {
            let _ = r.await;
        }
        engine.shutdown().await;
        drop(engine);
        let store_closed = close_store(store).await;
        if store_closed {
            tracing::info!("store closed");
        } else {
            tracing::warn!("store still in use at exit; it closes when the process ends");
        }
        ShutdownReport {
            drained,
            store_closed,
        }
    }
}

/// Closes the store once the last engine task has let go of it (aborted
/// check tasks release their handles as the runtime drops them).
async fn close_store(mut store: StoreHandle) -> bool {
    for _ in 0..100 {
        match store {
            StoreHandle::Sqlite(s) => match std::sync::Arc::try_unwrap(s) {
                Ok(s) => {
                    s.close().await;
                    return true;
                }
                Err(s) => store = StoreHandle::Sqlite(s),
            },
            other => return other.close().await,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, HealthdError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HealthdError::Bind { addr, source })
}

/// SIGINT (Ctrl-C) and SIGTERM, listened for from creation on (so a
/// signal that arrives while the daemon starts is not lost and does not
/// kill the process).
#[derive(Debug)]
pub struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// Installs the handlers (inside a tokio runtime).
    pub fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves on the next SIGINT or SIGTERM.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => tracing::info!("SIGINT received"),
            _ = self.term.recv() => tracing::info!("SIGTERM received"),
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C received");
        }
    }
}

/// `healthd serve`: runs until SIGINT or SIGTERM. Prints the dashboard
/// URL on stdout so a newcomer sees it.
pub async fn run(opts: ServeOptions) -> Result<(), HealthdError> {
    let mut signal = ShutdownSignal::new().map_err(HealthdError::Serve)?;
    let daemon = Daemon::start(opts).await?;
    let url = daemon.dashboard_url();
    if daemon.admin_token().is_some() {
        tracing::info!(%url, "dashboard (demo admin token in the URL)");
    } else {
        tracing::info!(%url, "dashboard");
    }
    println!("healthd is running. Dashboard: {url}");
    signal.recv().await;
    let report = daemon.shutdown().await;
    tracing::info!(
        drained = report.drained,
        store_closed = report.store_closed,
        "healthd stopped"
    );
    Ok(())
}
