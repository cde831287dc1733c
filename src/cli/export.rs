//! `borderlog export`: stream the ledger up to a checkpoint from the server into an export
//! file (docs/FORMAT.md) that `borderlog verify FILE` checks offline.

use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokio_stream::StreamExt;

use super::{ClientArgs, status_error};
use crate::audit::export::RecordWriter;
use crate::client;
use crate::pb::{self, Role};

/// Arguments of `borderlog export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The export file to write (written as FILE.partial, renamed when complete).
    #[arg(long)]
    pub out: PathBuf,
    /// Tree size of a stored checkpoint to export up to (default: the latest).
    #[arg(long, default_value_t = 0)]
    pub size: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The Audit/Export stream up to `size` (0: the latest checkpoint), as `name` (mutual TLS, or
/// plaintext for `http://` addresses).
pub async fn export_stream(
    client: &ClientArgs,
    name: &str,
    size: u64,
) -> anyhow::Result<tonic::Streaming<pb::ExportRecord>> {
    let mut api = client::connect_audit(&client.addr, &client.keys, name).await?;
    Ok(api
        .export(pb::ExportRequest { tree_size: size })
        .await
        .map_err(status_error)?
        .into_inner())
}

/// Runs `borderlog export`.
pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let (_, name, _) = args.client.context(Role::Auditor)?;
    let mut stream = export_stream(&args.client, &name, args.size).await?;
    let partial = args.out.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = RecordWriter::new(BufWriter::new(file));
    let (mut entries, mut checkpoints, mut size) = (0u64, 0u64, 0u64);
    while let Some(record) = stream.next().await {
        let record = record.map_err(status_error)?;
        match &record.record {
            Some(pb::export_record::Record::Header(h)) => size = h.tree_size,
            Some(pb::export_record::Record::Checkpoint(_)) => checkpoints += 1,
            Some(_) => entries += 1,
            None => {}
        }
        out.write(&record)?;
    }
    out.finish()?.into_inner()?.sync_all()?;
    if entries != size {
        anyhow::bail!(
            "the server ended the export after {entries} of {size} entries; {} is incomplete",
            partial.display()
        );
    }
    std::fs::rename(&partial, &args.out)
        .with_context(|| format!("cannot rename to {}", args.out.display()))?;
    if args.client.json {
        println!(
            "{}",
            serde_json::json!({
                "file": args.out.display().to_string(),
                "entries": entries,
                "checkpoints": checkpoints,
                "exported_for": name,
            })
        );
    } else {
        println!(
            "exported {entries} entries and {checkpoints} checkpoints as {name} to {}",
            args.out.display()
        );
    }
    Ok(())
}
