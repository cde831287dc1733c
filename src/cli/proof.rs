//! `borderlog proof`: fetch an entry's inclusion proof and check it against the signed
//! checkpoint; optionally check that an older checkpoint is consistent with it.

use anyhow::bail;
use clap::Args;

use super::{ClientArgs, status_error};
use crate::client;
use crate::format::checkpoint::Checkpoint;
use crate::format::hash::hash_from_slice;
use crate::format::{LeafIndex, TreeSize, consistency};
use crate::pb::{self, Role, get_inclusion_proof_request::Leaf};

/// Arguments of `borderlog proof`.
#[derive(Debug, Args)]
pub struct ProofArgs {
    /// Entry index.
    pub index: u64,
    /// Also prove the checkpoint at this older size consistent with the latest.
    #[arg(long)]
    pub since: Option<u64>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog proof`.
pub async fn run(args: ProofArgs) -> anyhow::Result<()> {
    let (_, name, log) = args.client.context(Role::Auditor)?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &name).await?;
    let latest = api
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .map_err(status_error)?
        .into_inner();
    let (checkpoint, _) = Checkpoint::open(&latest.checkpoint, &log)?;
    let proof = api
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            leaf: Some(Leaf::Index(args.index)),
            tree_size: checkpoint.size,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let leaf = hash_from_slice(&proof.leaf_hash)?;
    client::verify_inclusion(LeafIndex(args.index), &leaf, &proof.hashes, &checkpoint)?;
    println!(
        "entry {} (leaf {}) is in the tree of size {} with root {}: {} proof hashes verified",
        args.index,
        hex::encode(leaf),
        checkpoint.size,
        hex::encode(checkpoint.root),
        proof.hashes.len()
    );
    if let Some(old_size) = args.since {
        let old = api
            .get_checkpoint(pb::GetCheckpointRequest {
                tree_size: old_size,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        let (old_checkpoint, _) = Checkpoint::open(&old.checkpoint, &log)?;
        let proof = api
            .get_consistency_proof(pb::GetConsistencyProofRequest {
                old_size,
                new_size: checkpoint.size,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        let hashes = proof
            .hashes
            .iter()
            .map(|h| hash_from_slice(h))
            .collect::<Result<Vec<_>, _>>()?;
        if let Err(e) = consistency::verify(
            TreeSize(old_size),
            TreeSize(checkpoint.size),
            &old_checkpoint.root,
            &checkpoint.root,
            &hashes,
        ) {
            bail!(
                "the log is NOT consistent between sizes {old_size} and {}: {e}",
                checkpoint.size
            );
        }
        println!(
            "checkpoint {old_size} is consistent with checkpoint {}",
            checkpoint.size
        );
    }
    Ok(())
}
