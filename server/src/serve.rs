//! `samordna-relay serve`: start-up, the refusal-log writer, CRL reloading and graceful shutdown.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime},
};

use anyhow::{Context, Result};
use axum_server::{Handle, tls_rustls::RustlsAcceptor, tls_rustls::RustlsConfig};
use samordna_core::{TrustStore, audit::Action, consent::ConsentPolicy};
use tokio::sync::mpsc;

use crate::{
    clock::{Clock, SystemClock},
    config::{Loaded, RelayConfig},
    http::{self, AppState},
    metrics::Metrics,
    store::{Store, log},
    tls::{self, Refusal, RefusalLoggingAcceptor},
};

/// Environment variable that shifts the relay's clock (tests only; logged loudly).
pub const CLOCK_OFFSET_ENV: &str = "SAMORDNA_DANGEROUS_CLOCK_OFFSET_SECONDS";

/// Opens the configured database and brings its schema up to date.
pub async fn open_store(loaded: &Loaded) -> Result<Store> {
    let store = Store::connect(&loaded.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", loaded.config.database))?;
    store.migrate().await.context("cannot bring the database schema up to date")?;
    Ok(store)
}

fn trust_store(config: &RelayConfig) -> Result<TrustStore> {
    let roots = std::fs::read(&config.tls.client_ca)
        .with_context(|| format!("cannot read tls.client_ca {}", config.tls.client_ca.display()))?;
    let crls = config
        .tls
        .crl
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read tls.crl {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = crls.iter().map(Vec::as_slice).collect();
    TrustStore::from_pem(&roots, &refs).context("the federation trust (tls.client_ca, tls.crl) is not usable")
}

/// Runs the relay until SIGTERM or SIGINT.
pub async fn serve(config_path: PathBuf) -> Result<()> {
    let loaded = RelayConfig::load(&config_path)?;
    let config = loaded.config.clone();
    if config.tls.dangerous_allow_no_crl {
        tracing::warn!("tls.dangerous_allow_no_crl is set: revoked certificates will be accepted");
    }
    let offset = std::env::var(CLOCK_OFFSET_ENV)
        .ok()
        .map(|v| v.parse::<i64>())
        .transpose()
        .with_context(|| format!("{CLOCK_OFFSET_ENV} must be a number of seconds"))?;
    if let Some(o) = offset {
        tracing::warn!(
            offset_seconds = o,
            "{CLOCK_OFFSET_ENV} is set: the relay's clock is shifted; for tests only"
        );
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::with_offset(offset.unwrap_or(0)));

    let store = open_store(&loaded).await?;
    let identity = Arc::new(crate::ledger::LogIdentity::load(&config.log)?);
    check_log(&store, &identity).await?;
    let trust = Arc::new(trust_store(&config)?);
    let rustls = RustlsConfig::from_config(tls::server_config(&config.tls)?);
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(AppState {
        store: store.clone(),
        trust: std::sync::RwLock::new(trust),
        limits: config.limits,
        policy: ConsentPolicy { max_validity_months: config.consent.max_validity_months },
        clock: clock.clone(),
        metrics: metrics.clone(),
        log: identity.clone(),
    });

    let (refusals_tx, refusals_rx) = mpsc::channel::<Refusal>(1024);
    tokio::spawn(write_refusals(refusals_rx, store.clone(), clock.clone(), metrics.clone()));
    tokio::spawn(reload_trust(config.clone(), state.clone(), rustls.clone()));
    tokio::spawn(crate::retention::run(store.clone(), clock.clone(), config.retention));
    match &config.smtp {
        Some(smtp) => {
            let notifier =
                crate::notify::Notifier::new(smtp.clone(), store.clone(), clock.clone(), metrics.clone())?;
            tracing::info!(host = %smtp.host, "notices to principals' mailboxes are sent through SMTP");
            tokio::spawn(notifier.run());
        }
        None => tracing::info!("no [smtp] configured: notices are kept in the outbox, not mailed"),
    }
    tokio::spawn(crate::ledger::sign_checkpoints(
        store.clone(),
        identity.clone(),
        clock.clone(),
        Duration::from_millis(config.log.checkpoint_poll_ms),
    ));

    let handle = Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));
    let idle = Duration::from_secs(config.limits.idle_timeout_seconds);
    let acceptor =
        // TCP_NODELAY: an answer written in two pieces (headers, then body) must not wait ~40 ms
        // for the client's delayed ACK (Nagle); the benchmark measured exactly that on fetches.
        RefusalLoggingAcceptor::new(
            RustlsAcceptor::new(rustls)
                .handshake_timeout(idle)
                .acceptor(axum_server::accept::NoDelayAcceptor::new()),
            refusals_tx,
        );
    // A client that stops reading a response is cut off after the same idle time.
    let acceptor = crate::stall::StallAcceptor::new(acceptor, idle);
    let mut server = axum_server::bind(config.listen).acceptor(acceptor).handle(handle.clone());
    server.http_builder().http1().timer(hyper_util_timer()).header_read_timeout(idle);
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();

    let announce = handle.clone();
    tokio::spawn(async move {
        if let Some(addr) = announce.listening().await {
            // Tests and operators read this line to learn the bound port.
            println!("samordna-relay listening on https://{addr}");
            tracing::info!(%addr, "listening");
        }
    });
    server.serve(app).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Recomputes the access log before serving; a damaged log stops the relay with what to do.
pub async fn check_log(
    store: &Store,
    identity: &crate::ledger::LogIdentity,
) -> Result<crate::ledger::Verified> {
    let started = std::time::Instant::now();
    match crate::ledger::verify(store, identity).await {
        Ok(v) => {
            tracing::info!(
                entries = v.size,
                checkpoints = v.checkpoints,
                backfilled = v.backfilled,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "access log verified against its signed checkpoints"
            );
            Ok(v)
        }
        Err(crate::ledger::VerifyError::Damaged(d)) => {
            tracing::error!(index = d.index, what = %d.what, "the access log is damaged");
            anyhow::bail!(
                "the access log does not match its signed history: {d}.\n\
                 The log may have been changed outside the relay. The relay will not start, so that nothing \
                 is added to a damaged log. Keep this database exactly as it is for investigation, tell the \
                 federation's compliance officers, and restore the database from a backup taken before the \
                 damage (docs/operations.md, \"When the access log is damaged\")."
            )
        }
        Err(crate::ledger::VerifyError::Store(e)) => Err(anyhow::anyhow!("cannot read the access log: {e}")),
    }
}

fn hyper_util_timer() -> hyper_util::rt::TokioTimer {
    hyper_util::rt::TokioTimer::new()
}

async fn shutdown_on_signal(handle: Handle<SocketAddr>) {
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
}

/// Appends refused TLS handshakes to the access log.
async fn write_refusals(
    mut rx: mpsc::Receiver<Refusal>,
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) {
    while let Some(r) = rx.recv().await {
        let reason = r.reason.unwrap_or(samordna_core::audit::Reason::CertificateInvalid);
        metrics.tls_refusal(reason);
        tracing::warn!(peer = ?r.peer, %reason, fingerprint = ?r.fingerprint, claimed = ?r.claimed, detail = %r.detail, "TLS client refused");
        let mut request_id = [0u8; 12];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut request_id);
        let entry = log::Entry {
            at: Some(clock.now()),
            request_id: format!("tls-{}", hex::encode(request_id)),
            actor_principal: r.claimed.as_ref().map(|c| c.principal.as_str().to_owned()),
            actor_user: r.claimed.as_ref().map(|c| c.hsa_id.as_str().to_owned()),
            cert_fingerprint: r.fingerprint.clone(),
            action: Some(Action::Authenticate),
            reason: Some(reason),
            peer: r.peer.map(|p| p.to_string()),
            ..log::Entry::default()
        };
        let written = async {
            let mut tx = store.write().await?;
            log::append(&mut tx, &entry).await?;
            tx.commit().await?;
            Ok::<_, crate::store::StoreError>(())
        }
        .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "a refused TLS handshake could not be written to the access log");
        }
    }
}

/// Reloads the federation trust (CA and CRLs) when its files change, so a new CRL takes effect
/// without a restart.
async fn reload_trust(config: RelayConfig, state: Arc<AppState>, rustls: RustlsConfig) {
    let files: Vec<PathBuf> =
        std::iter::once(config.tls.client_ca.clone()).chain(config.tls.crl.iter().cloned()).collect();
    let stamp = |files: &[PathBuf]| -> Vec<Option<SystemTime>> {
        files.iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).collect()
    };
    let mut last = stamp(&files);
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        let now = stamp(&files);
        if now == last {
            continue;
        }
        last = now;
        match (trust_store(&config), tls::server_config(&config.tls)) {
            (Ok(trust), Ok(server)) => {
                if let Ok(mut t) = state.trust.write() {
                    *t = Arc::new(trust);
                }
                rustls.reload_from_config(server);
                tracing::info!("reloaded the federation CA and CRLs");
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "new CA or CRL files are not usable; keeping the previous ones");
            }
        }
    }
}
