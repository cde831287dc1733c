//! `borderlog verify-taxii ENVELOPE`: proves every object of a TAXII envelope (saved as the
//! server sent it) against the ledger: its bytes are what the sender signed, in the entry the
//! envelope names, and that entry is in a checkpoint the log signed. Trusts only the keys in
//! keys/partners.toml; the answers it fetches over gRPC are all checked.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Args;

use super::{ClientArgs, status_error};
use crate::client;
use crate::format::LeafIndex;
use crate::format::checkpoint::Checkpoint;
use crate::pb::{self, Role, get_inclusion_proof_request::Leaf};
use crate::taxii::provenance;

/// Arguments of `borderlog verify-taxii`.
#[derive(Debug, Args)]
pub struct VerifyTaxiiArgs {
    /// A TAXII envelope from Get Objects or Get an Object, saved byte for byte.
    pub envelope: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog verify-taxii`.
pub async fn run(args: VerifyTaxiiArgs) -> anyhow::Result<()> {
    let (registry, name, log) = args.client.context(Role::Recipient)?;
    let bytes = super::read_file(&args.envelope)?;
    let objects = provenance::parse_envelope(&bytes)?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &name).await?;
    let latest = api
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .map_err(status_error)?
        .into_inner();
    let (checkpoint, _) = Checkpoint::open(&latest.checkpoint, &log)
        .context("the log's checkpoint does not verify under the log key in partners.toml")?;
    let mut report = Vec::new();
    for (object, stated) in &objects {
        let sender_key = registry
            .party(&stated.sender)
            .and_then(|p| p.public_key)
            .ok_or_else(|| {
                anyhow!(
                    "{}: {:?} is not a partner in partners.toml",
                    stated.id,
                    stated.sender
                )
            })?;
        let entry = api
            .get_entry(pb::GetEntryRequest {
                index: stated.entry,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        let checked = provenance::check_object(object, stated, &entry.entry, &sender_key)?;
        let proof = api
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                leaf: Some(Leaf::Index(stated.entry)),
                tree_size: checkpoint.size,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        client::verify_inclusion(
            LeafIndex(stated.entry),
            &checked.leaf,
            &proof.hashes,
            &checkpoint,
        )
        .with_context(|| format!("{}: inclusion in the signed checkpoint", stated.id))?;
        report.push(serde_json::json!({
            "id": stated.id,
            "version": stated.version,
            "entry": stated.entry,
            "item": stated.item,
            "leaf_hash": stated.leaf_hash,
            "sender": stated.sender,
            "recipient": stated.recipient,
            "date_added": stated.date_added,
            "tlp": stated.tlp,
            "checkpoint_size": checkpoint.size,
        }));
        if !args.client.json {
            println!(
                "{} ({}): entry {} item {} (leaf {}…), {} -> {}, added {}, TLP:{} — bytes, sender signature and inclusion in checkpoint {} verified",
                stated.id,
                stated.version,
                stated.entry,
                stated.item,
                &stated.leaf_hash[..16.min(stated.leaf_hash.len())],
                stated.sender,
                stated.recipient,
                stated.date_added,
                stated.tlp.to_uppercase(),
                checkpoint.size
            );
        }
    }
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} object(s) verified against checkpoint {} signed by {}",
            objects.len(),
            checkpoint.size,
            log
        );
    }
    Ok(())
}
