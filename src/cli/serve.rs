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
    /// Address to listen on.
    #[arg(long, default_value = super::DEFAULT_ADDR, env = "BORDERLOG_ADDR")]
    pub addr: String,
}

/// Runs `borderlog serve` until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if !args.keys.join("partners.toml").exists() {
        let report = identity::init(&args.keys, &InitOptions::default())?;
        tracing::info!(dir = %report.dir.display(), origin = report.registry.origin(), "first start: made a dev CA, certificates and keys");
    }
    let node = Node::open(NodeConfig::new(&args.keys, &args.data)).await?;
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    tracing::info!(
        addr = %args.addr,
        log_key = %node.log_verifier(),
        entries = node.store().size().0,
        "borderlog is serving"
    );
    node.run(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
