//! `borderlog gateway`: the sender's TAXII 2.1 gateway (see `crate::taxii::gateway`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::ClientArgs;
use super::policy::OwnerFiles;
use super::serve::shutdown_signal;
use super::submit::{DEFAULT_LEGAL_BASIS, DEFAULT_PURPOSE};
use crate::pb::Role;
use crate::taxii::gateway::{self, GatewayConfig};

/// Arguments of `borderlog gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Address to serve TAXII 2.1 on (HTTPS, the keys directory's server certificate).
    #[arg(long, default_value = "127.0.0.1:7458")]
    pub listen: String,
    /// Directory for status resources.
    #[arg(long, default_value = "gateway-state")]
    pub state: PathBuf,
    /// The purpose every disclosure declares.
    #[arg(long, default_value = DEFAULT_PURPOSE)]
    pub purpose: String,
    /// The legal basis every disclosure declares.
    #[arg(long, default_value = DEFAULT_LEGAL_BASIS)]
    pub legal_basis: String,
    /// The case reference every disclosure declares.
    #[arg(long, default_value = "")]
    pub case: String,
    /// TLP for objects without a TLP marking of their own (an object's own marking wins):
    /// clear, green, amber, amber+strict or red. Without it, unmarked objects are refused.
    #[arg(long)]
    pub tlp: Option<String>,
    /// Largest envelope accepted, bytes (advertised as `max_content_length`).
    #[arg(long, default_value_t = gateway::DEFAULT_MAX_CONTENT_LENGTH)]
    pub max_content_length: usize,
    #[command(flatten)]
    pub files: OwnerFiles,
    /// The ledger (`--addr`), the keys directory and the sender (`--as`).
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog gateway` until Ctrl-C or SIGTERM.
pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let (_, sender, _) = args.client.context(Role::Sender)?;
    let (policy_path, _, policy) = args.files.load(&args.client, &sender)?;
    tracing::info!(policy = %policy_path.display(), version = policy.version(), "screening under the sender's policy");
    let config = GatewayConfig {
        keys_dir: args.client.keys.clone(),
        sender,
        ledger_addr: args.client.addr.clone(),
        state_dir: args.state,
        purpose: args.purpose,
        legal_basis: args.legal_basis,
        case_reference: args.case,
        default_tlp: args.tlp,
        policy,
        max_content_length: args.max_content_length,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    gateway::serve(config, listener, shutdown_signal()).await?;
    Ok(())
}
