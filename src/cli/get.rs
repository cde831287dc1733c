//! `borderlog get`: one entry, checked against its leaf hash, with the payloads you may see.

use anyhow::bail;
use clap::Args;

use super::{ClientArgs, describe, status_error};
use crate::client;
use crate::format::entry;
use crate::format::hash::leaf_hash;
use crate::pb::{self, Role};

/// Arguments of `borderlog get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Entry index.
    pub index: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog get`.
pub async fn run(args: GetArgs) -> anyhow::Result<()> {
    let (_, name, _) = args.client.context(Role::Auditor)?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &name).await?;
    let response = api
        .get_entry(pb::GetEntryRequest { index: args.index })
        .await
        .map_err(status_error)?
        .into_inner();
    print_entry(&response, args.client.json)
}

/// Prints an entry response, after checking its bytes hash to its leaf hash.
pub fn print_entry(response: &pb::EntryResponse, json: bool) -> anyhow::Result<()> {
    if leaf_hash(&response.entry).as_slice() != response.leaf_hash.as_slice() {
        bail!(
            "entry {} does not hash to the leaf hash the server sent",
            response.index
        );
    }
    let decoded = entry::decode(&response.entry)?;
    if json {
        let items: Vec<_> = response
            .items
            .iter()
            .map(|i| {
                serde_json::json!({
                    "commitment": hex::encode(&i.commitment),
                    "content": i.payload.as_ref().map(|p| String::from_utf8_lossy(&p.content).into_owned()),
                    "withheld": (!i.withheld.is_empty()).then_some(&i.withheld),
                })
            })
            .collect();
        let value = serde_json::json!({
            "index": response.index,
            "leaf_hash": hex::encode(&response.leaf_hash),
            "time_ms": decoded.time_ms,
            "kind": format!("{:?}", entry::kind(&decoded)),
            "summary": describe(&decoded),
            "entry": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &response.entry),
            "items": items,
        });
        println!("{value}");
        return Ok(());
    }
    println!("{}", describe(&decoded));
    println!("        leaf {}", hex::encode(&response.leaf_hash));
    for (i, item) in response.items.iter().enumerate() {
        match &item.payload {
            Some(p) => println!(
                "  item {i} {}: {}",
                hex::encode(&item.commitment),
                String::from_utf8_lossy(&p.content)
            ),
            None => println!(
                "  item {i} {}: withheld ({})",
                hex::encode(&item.commitment),
                item.withheld
            ),
        }
    }
    Ok(())
}
