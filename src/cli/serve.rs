//! `borderlog serve`: the ledger service on its embedded defaults.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::identity::{self, InitOptions};
use crate::service::{Node, NodeConfig};

/// Arguments of `borderlog serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory with certificates, keys and partners.toml (made on first start if missing).
    #[arg(long, default_value = "keys", env = "BORDERLOG_KEYS")]
    pub keys: PathBuf,
    /// Directory for segments and indexes.
    #[arg(long, default_value = "data", env = "BORDERLOG_DATA")]
    pub data: PathBuf,
    /// Keep the log in PostgreSQL instead of `--data`: `postgres://user@host:port/db`.
    /// Several servers may share one database; one writes, the others serve reads and take
    /// over when it stops (README, "PostgreSQL").
    #[arg(long, env = "BORDERLOG_STORE", value_parser = parse_store_url)]
    pub store: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = super::DEFAULT_ADDR, env = "BORDERLOG_ADDR")]
    pub addr: String,
    /// Serve plaintext instead of mutual TLS — only on a loopback address, for local tools;
    /// clients then use `--addr http://127.0.0.1:7455`.
    #[arg(long)]
    pub plaintext: bool,
    /// Let auditors read item payloads too (by default they see metadata and commitments).
    #[arg(long)]
    pub auditor_reads_payloads: bool,
    /// Requests per second each authenticated caller may make (0: no limit).
    #[arg(long, default_value_t = crate::service::Limits::default().rate_per_second)]
    pub rate_limit: u32,
    /// Connections open at once; more wait in the kernel's backlog. Keep it well below the
    /// descriptor limit (`ulimit -n`).
    #[arg(long, default_value_t = crate::service::Limits::default().max_connections)]
    pub max_connections: usize,
    /// How long a client may take to complete its TLS handshake (e.g. "10s").
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub tls_handshake_timeout: std::time::Duration,
    /// Loopback address for Prometheus metrics (`GET /metrics`); `off` to serve none.
    #[arg(long, default_value = DEFAULT_METRICS_ADDR, env = "BORDERLOG_METRICS_ADDR")]
    pub metrics_addr: String,
    /// Address for TAXII 2.1 over HTTPS (same certificates as gRPC; Basic or client
    /// certificate); `off` to serve none.
    #[arg(long, default_value = DEFAULT_TAXII_ADDR, env = "BORDERLOG_TAXII_LISTEN")]
    pub taxii_listen: String,
    /// How often to erase expired payloads, for owners whose key is in keys/ (e.g. "1h");
    /// "off" leaves retention to the owners' `borderlog retention run`.
    #[arg(long, default_value = "1h", value_parser = parse_interval)]
    pub retention_interval: Interval,
}

/// A `--store` URL: only PostgreSQL ones are stores of their own (the default is `--data`).
fn parse_store_url(text: &str) -> Result<String, String> {
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        Ok(text.to_owned())
    } else {
        Err("expected postgres://user@host:port/database".into())
    }
}

/// A schedule period, or none.
#[derive(Debug, Clone, Copy)]
pub struct Interval(Option<std::time::Duration>);

fn parse_interval(text: &str) -> Result<Interval, String> {
    if text == "off" {
        return Ok(Interval(None));
    }
    parse_duration(text)
        .map(|d| Interval(Some(d)))
        .map_err(|e| format!("{e}, or \"off\""))
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("zero; use a period such as \"10s\"".into()),
        Err(e) => Err(format!("{e}; use a period such as \"10s\"")),
    }
}

/// Where `serve` offers its metrics unless told otherwise: next to the API port, loopback only.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:7456";

/// Where `serve` offers TAXII 2.1 unless told otherwise: next to the metrics port, loopback.
pub const DEFAULT_TAXII_ADDR: &str = "127.0.0.1:7457";

/// Runs `borderlog serve` until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if !args.keys.join("partners.toml").exists() {
        let report = identity::init(&args.keys, &InitOptions::default())?;
        tracing::info!(dir = %report.dir.display(), origin = report.registry.origin(), "first start: made a dev CA, certificates and keys");
    }
    let mut config = NodeConfig::new(&args.keys, &args.data);
    config.store_url = args.store.clone();
    config.plaintext = args.plaintext;
    config.auditor_reads_payloads = args.auditor_reads_payloads;
    config.limits.rate_per_second = args.rate_limit;
    config.limits.rate_burst = args.rate_limit;
    config.limits.max_connections = args.max_connections;
    config.limits.tls_handshake_timeout = args.tls_handshake_timeout;
    config.retention_interval = args.retention_interval.0;
    let faults = config.sequencer.faults.clone();
    let node = Node::open(config).await?;
    inject_fault(&faults);
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    tracing::info!(
        addr = %args.addr,
        log_key = %node.log_verifier(),
        entries = node.store().size().0,
        "borderlog is serving"
    );
    // One signal stops both the API and the metrics endpoint.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    if args.metrics_addr != "off" {
        let metrics_listener = tokio::net::TcpListener::bind(&args.metrics_addr)
            .await
            .with_context(|| format!("cannot listen for metrics on {}", args.metrics_addr))?;
        let metrics = node.metrics().clone();
        let done = until_stopped();
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(metrics, metrics_listener, done).await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
    }
    if args.taxii_listen != "off" {
        let taxii_listener = tokio::net::TcpListener::bind(&args.taxii_listen)
            .await
            .with_context(|| format!("cannot listen for TAXII on {}", args.taxii_listen))?;
        let (node, keys, done) = (node.clone(), args.keys.clone(), until_stopped());
        tokio::spawn(async move {
            if let Err(e) = crate::taxii::serve(&node, &keys, taxii_listener, done).await {
                tracing::error!(error = %e, "TAXII endpoint stopped");
            }
        });
    }
    // Other holders of the store (the sequencer thread) may outlive `run`: flush it here so
    // the next start finds the index consistent instead of replaying the last second.
    let store = node.store().clone();
    node.run(listener, until_stopped()).await?;
    store.flush()?;
    tracing::info!("stopped");
    Ok(())
}

/// Debug builds only, for tests that watch a real process fail: `BORDERLOG_INJECT_FAULT=
/// panic-while-signing` makes the sequencer panic when it signs its first batch after start.
/// A release build ignores the variable.
fn inject_fault(faults: &crate::sequencer::SequencerFaults) {
    if cfg!(debug_assertions)
        && std::env::var("BORDERLOG_INJECT_FAULT").is_ok_and(|f| f == "panic-while-signing")
    {
        tracing::warn!("BORDERLOG_INJECT_FAULT: the sequencer will panic at its next batch");
        faults.set_panic_while_signing(true);
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
