//! `borderlog tail`: stream entries from an index, then follow new ones.

use clap::Args;
use tokio_stream::StreamExt;

use super::get::print_entry;
use super::{ClientArgs, status_error};
use crate::client;
use crate::pb::{self, Role};

/// Arguments of `borderlog tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// First index to show.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Only entries involving this party.
    #[arg(long)]
    pub party: Option<String>,
    /// Stop at the current end instead of following new entries.
    #[arg(long)]
    pub no_follow: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog tail`.
pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let (_, name, _) = args.client.context(Role::Auditor)?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &name).await?;
    let mut stream = api
        .list_entries(pb::ListEntriesRequest {
            from_index: args.from,
            party: args.party.unwrap_or_default(),
            kinds: Vec::new(),
            limit: 0,
            follow: !args.no_follow,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    while let Some(response) = stream.next().await {
        print_entry(&response.map_err(status_error)?, args.client.json)?;
    }
    Ok(())
}
