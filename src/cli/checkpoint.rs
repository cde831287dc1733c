//! `borderlog checkpoint`: fetch the latest (or a given) checkpoint and verify the log's
//! signature on it; `--out FILE` keeps the note (for `verify --trusted-checkpoint FILE`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{ClientArgs, status_error};
use crate::client;
use crate::format::checkpoint::Checkpoint;
use crate::format::note;
use crate::pb::{self, Role};

/// Arguments of `borderlog checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Tree size of the checkpoint (default: the latest).
    #[arg(long, default_value_t = 0)]
    pub size: u64,
    /// Write the verified signed note (with its cosignatures) to this file instead of printing
    /// it: the checkpoint an auditor holds for `verify --trusted-checkpoint FILE`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog checkpoint`.
pub async fn run(args: CheckpointArgs) -> anyhow::Result<()> {
    let (registry, name, log) = args.client.context(Role::Auditor)?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &name).await?;
    let response = api
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: args.size,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let (checkpoint, note) = Checkpoint::open(&response.checkpoint, &log)?;
    // Partners' cosignatures are checked against their keys in partners.toml; other witnesses'
    // keys are not known here, so theirs are only listed.
    let partners: Vec<_> = registry
        .parties()
        .iter()
        .filter_map(|p| crate::witness::cosigner_verifier(&p.name, p.public_key?).ok())
        .collect();
    let cosigned_by: Vec<String> = if partners.is_empty() || response.cosigners.is_empty() {
        Vec::new()
    } else {
        match note::verify(&note, &partners) {
            Ok(signed) => signed.iter().map(|v| v.name.clone()).collect(),
            Err(crate::format::FormatError::UnverifiedNote) => Vec::new(),
            Err(e) => {
                anyhow::bail!("a partner's cosignature on this checkpoint does not verify: {e}")
            }
        }
    };
    // Only a note that verified is kept: a held checkpoint is what later exports are judged by.
    if let Some(path) = &args.out {
        std::fs::write(path, &response.checkpoint)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.client.json {
        println!(
            "{}",
            serde_json::json!({
                "origin": checkpoint.origin,
                "tree_size": checkpoint.size,
                "root_hash": hex::encode(checkpoint.root),
                "note": response.checkpoint,
                "verified_by": log.to_string(),
                "cosigned_by_partners": cosigned_by,
                "cosigners": response.cosigners.iter().map(|c| serde_json::json!({
                    "name": c.name, "key_id": c.key_id, "timestamp": c.timestamp, "partner": c.partner,
                })).collect::<Vec<_>>(),
            })
        );
    } else {
        match &args.out {
            Some(path) => println!(
                "checkpoint of size {} written to {}",
                checkpoint.size,
                path.display()
            ),
            None => print!("{}", response.checkpoint),
        }
        println!("verified: signed by the log key {log}");
        for c in &response.cosigners {
            let ms = i64::try_from(c.timestamp)
                .ok()
                .and_then(|s| s.checked_mul(1000));
            let when = crate::clock::format_rfc3339(ms.unwrap_or(i64::MAX));
            if cosigned_by.contains(&c.name) {
                println!("verified: cosigned by partner {} at {when}", c.name);
            } else {
                println!(
                    "cosigned by witness {} (key {}) at {when}; its key is not in partners.toml, not checked here",
                    c.name, c.key_id
                );
            }
        }
    }
    Ok(())
}
