//! `borderlog redact` (the data owner erases one item's payload) and `borderlog retention run`
//! (the owner erases everything its policy's `[retention]` says has expired).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::{ClientArgs, status_error};
use crate::client;
use crate::clock::format_rfc3339;
use crate::format::LeafIndex;
use crate::format::entry;
use crate::format::hash::{hash_from_slice, leaf_hash};
use crate::identity::keys::load_signing_key;
use crate::pb::{self, Role};
use crate::service::RETENTION_REASON;

/// Arguments of `borderlog redact`.
#[derive(Debug, Args)]
pub struct RedactArgs {
    /// Index of the disclosure entry.
    #[arg(long)]
    pub entry: u64,
    /// Position of the item in the disclosure, from 0.
    #[arg(long)]
    pub item: usize,
    /// Why the payload is erased; it goes on the record.
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog redact`: reads the disclosure, signs the erasure of its item, sends it.
pub async fn run(args: RedactArgs) -> anyhow::Result<()> {
    let (_, owner, log) = args.client.context(Role::Sender)?;
    let key = load_signing_key(&args.client.keys, &owner)?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &owner).await?;
    let response = api
        .get_entry(pb::GetEntryRequest { index: args.entry })
        .await
        .map_err(status_error)?
        .into_inner();
    if leaf_hash(&response.entry).as_slice() != response.leaf_hash.as_slice() {
        bail!(
            "the server's entry {} does not hash to its leaf hash",
            args.entry
        );
    }
    let body = match entry::decode(&response.entry)?.kind {
        Some(pb::entry::Kind::Disclosure(d)) => entry::disclosure_body(&d)?,
        _ => bail!("entry {} is not a disclosure", args.entry),
    };
    let item = body.items.get(args.item).with_context(|| {
        format!(
            "disclosure {} has {} item(s), numbered from 0",
            args.entry,
            body.items.len()
        )
    })?;
    let commitment = hash_from_slice(&item.commitment)?;
    let request = client::sign_redaction(&key, LeafIndex(args.entry), &commitment, &args.reason);
    let receipt = api
        .redact(request)
        .await
        .map_err(status_error)?
        .into_inner();
    client::verify_receipt(&receipt, &log)?;
    if args.client.json {
        println!("{}", super::submit::receipt_json(&receipt));
    } else {
        println!(
            "erased item {} ({}) of entry {}: redaction is entry {}",
            args.item, item.stix_id, args.entry, receipt.index
        );
    }
    Ok(())
}

/// Arguments of `borderlog retention`.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    #[command(subcommand)]
    pub command: RetentionCommand,
}

/// What `borderlog retention` does.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Erase (as the data owner) every payload whose retention has expired.
    Run(RunArgs),
}

/// Arguments of `borderlog retention run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only show what would be erased.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: judge expiry at this RFC 3339 time instead of now (what will go by then).
    #[arg(long, requires = "dry_run", value_parser = parse_time)]
    pub as_of: Option<i64>,
    #[command(flatten)]
    pub client: ClientArgs,
}

fn parse_time(text: &str) -> Result<i64, String> {
    let t = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{e}: use an RFC 3339 time such as 2027-01-01T00:00:00Z"))?;
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "a time before 1970".to_string())?;
    i64::try_from(d.as_millis()).map_err(|_| "a time too far ahead".to_string())
}

/// Runs `borderlog retention run`: asks the server what has expired, then signs and sends one
/// Redact per item, so the owner's key never leaves the owner.
pub async fn run_retention(args: RetentionArgs) -> anyhow::Result<()> {
    let RetentionCommand::Run(args) = args.command;
    let (_, owner, log) = args.client.context(Role::Sender)?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &owner).await?;
    let expired = api
        .list_expired(pb::ListExpiredRequest {
            as_of_ms: args.as_of.unwrap_or(0),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let mut erased = Vec::new();
    if !args.dry_run {
        let key = load_signing_key(&args.client.keys, &owner)?;
        for item in &expired.items {
            let commitment = hash_from_slice(&item.commitment)?;
            let request = client::sign_redaction(
                &key,
                LeafIndex(item.disclosure_index),
                &commitment,
                RETENTION_REASON,
            );
            let receipt = api
                .redact(request)
                .await
                .map_err(status_error)?
                .into_inner();
            client::verify_receipt(&receipt, &log)?;
            erased.push(receipt.index);
        }
    }
    if args.client.json {
        let items: Vec<_> = expired
            .items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                serde_json::json!({
                    "disclosure_index": x.disclosure_index,
                    "commitment": hex::encode(&x.commitment),
                    "stix_id": x.stix_id,
                    "stix_type": x.stix_type,
                    "tlp": x.tlp,
                    "disclosed_ms": x.disclosed_ms,
                    "expired_ms": x.expired_ms,
                    "rule": x.rule,
                    "redaction_index": erased.get(i),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"as_of_ms": expired.as_of_ms, "dry_run": args.dry_run, "items": items})
        );
        return Ok(());
    }
    let verb = if args.dry_run {
        "would erase"
    } else {
        "erased"
    };
    println!(
        "{verb} {} payload(s) expired at {}",
        expired.items.len(),
        format_rfc3339(expired.as_of_ms)
    );
    for (i, x) in expired.items.iter().enumerate() {
        let by = erased
            .get(i)
            .map(|r| format!(" -> redaction entry {r}"))
            .unwrap_or_default();
        println!(
            "  entry {} {} {} (tlp {}), disclosed {}, expired {} by {}{by}",
            x.disclosure_index,
            x.stix_type,
            x.stix_id,
            x.tlp,
            format_rfc3339(x.disclosed_ms),
            format_rfc3339(x.expired_ms),
            x.rule
        );
    }
    Ok(())
}
