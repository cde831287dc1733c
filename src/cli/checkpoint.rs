//! `borderlog checkpoint`: fetch the latest (or a given) checkpoint and verify the log's
//! signature on it.

use clap::Args;

use super::{ClientArgs, status_error};
use crate::client;
use crate::format::checkpoint::Checkpoint;
use crate::pb::{self, Role};

/// Arguments of `borderlog checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Tree size of the checkpoint (default: the latest).
    #[arg(long, default_value_t = 0)]
    pub size: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog checkpoint`.
pub async fn run(args: CheckpointArgs) -> anyhow::Result<()> {
    let (_, name, log) = args.client.context(Role::Auditor)?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &name).await?;
    let response = api
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: args.size,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let (checkpoint, _) = Checkpoint::open(&response.checkpoint, &log)?;
    if args.client.json {
        println!(
            "{}",
            serde_json::json!({
                "origin": checkpoint.origin,
                "tree_size": checkpoint.size,
                "root_hash": hex::encode(checkpoint.root),
                "note": response.checkpoint,
                "verified_by": log.to_string(),
            })
        );
    } else {
        print!("{}", response.checkpoint);
        println!("verified: signed by the log key {log}");
    }
    Ok(())
}
