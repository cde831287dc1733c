//! `borderlog submit` (a STIX file → one signed disclosure) and `borderlog ack` (the
//! recipient's receipt).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use super::{ClientArgs, read_file, status_error};
use crate::client::{self, DisclosureHeader};
use crate::format::LeafIndex;
use crate::format::hash::hash_from_slice;
use crate::guard::Tlp;
use crate::identity::Registry;
use crate::identity::keys::load_signing_key;
use crate::pb::{self, Role};

/// The purpose a disclosure declares unless told otherwise.
pub const DEFAULT_PURPOSE: &str = "cybercrime threat intelligence sharing";
/// The legal basis a disclosure declares unless told otherwise.
pub const DEFAULT_LEGAL_BASIS: &str = "data sharing agreement; GDPR Art. 6(1)(f)";

/// Arguments of `borderlog submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// STIX 2.1 objects or bundles (JSON), one disclosure per file; a directory stands for its
    /// `*.json` files; `-` (or nothing) reads JSON lines from stdin, one disclosure per line.
    /// One file goes as one Submit call; more go on one SubmitStream, with a progress bar.
    pub files: Vec<PathBuf>,
    /// The receiving partner (default: the first recipient in partners.toml).
    #[arg(long)]
    pub to: Option<String>,
    /// Why the data is shared.
    #[arg(long, default_value = DEFAULT_PURPOSE)]
    pub purpose: String,
    /// Under which law.
    #[arg(long, default_value = DEFAULT_LEGAL_BASIS)]
    pub legal_basis: String,
    /// The recipient's case reference.
    #[arg(long, default_value = "")]
    pub case: String,
    /// TLP for items that carry no TLP marking: clear, green, amber, amber+strict, red.
    #[arg(long)]
    pub tlp: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog submit`.
pub async fn run(args: SubmitArgs) -> anyhow::Result<()> {
    let (registry, sender, log) = args.client.context(Role::Sender)?;
    let recipient = match &args.to {
        Some(r) => r.clone(),
        None => default_recipient(&registry)?,
    };
    let key = load_signing_key(&args.client.keys, &sender)?;
    let header = DisclosureHeader {
        sender: sender.clone(),
        recipient,
        purpose: args.purpose.clone(),
        legal_basis: args.legal_basis.clone(),
        case_reference: args.case.clone(),
    };
    let file = match super::submit_stream::Inputs::of(&args.files)? {
        super::submit_stream::Inputs::Files(files) if files.len() == 1 => files[0].clone(),
        inputs => return super::submit_stream::run(&args, inputs, &key, &header, log).await,
    };
    let items = load_items(&read_file(&file)?, args.tlp.as_deref())?;
    let count = items.len();
    let request = client::prepare_submission(&key, &header, items, crate::clock::now_ms())?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &sender).await?;
    let receipt = api
        .submit(request)
        .await
        .map_err(status_error)?
        .into_inner();
    let checkpoint = client::verify_receipt(&receipt, &log)?;
    if args.client.json {
        println!("{}", receipt_json(&receipt));
    } else {
        println!(
            "disclosed {count} item(s) as entry {} (leaf {})\ninclusion proof verified against checkpoint of size {}",
            receipt.index,
            hex::encode(&receipt.leaf_hash),
            checkpoint.size
        );
    }
    Ok(())
}

/// The first recipient in partners.toml.
pub fn default_recipient(registry: &Registry) -> anyhow::Result<String> {
    registry
        .parties()
        .iter()
        .find(|p| p.role == Role::Recipient)
        .map(|p| p.name.clone())
        .context("partners.toml names no recipient; pass --to")
}

/// Arguments of `borderlog ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// Index of the disclosure entry to acknowledge.
    pub index: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog ack`: fetches the disclosure, signs its index and leaf hash, submits.
pub async fn run_ack(args: AckArgs) -> anyhow::Result<()> {
    let (_, recipient, log) = args.client.context(Role::Recipient)?;
    let key = load_signing_key(&args.client.keys, &recipient)?;
    let mut api = client::connect(&args.client.addr, &args.client.keys, &recipient).await?;
    let entry = api
        .get_entry(pb::GetEntryRequest { index: args.index })
        .await
        .map_err(status_error)?
        .into_inner();
    let leaf = hash_from_slice(&entry.leaf_hash)?;
    if crate::format::hash::leaf_hash(&entry.entry) != leaf {
        bail!(
            "the server's entry {} does not hash to its leaf hash",
            args.index
        );
    }
    let request = client::sign_receipt(&key, LeafIndex(args.index), &leaf);
    let receipt = api
        .acknowledge(request)
        .await
        .map_err(status_error)?
        .into_inner();
    client::verify_receipt(&receipt, &log)?;
    if args.client.json {
        println!("{}", receipt_json(&receipt));
    } else {
        println!(
            "acknowledged entry {} as {recipient}: receipt is entry {}",
            args.index, receipt.index
        );
    }
    Ok(())
}

/// Items from a STIX object or bundle (unwrapped as the guard does); `tlp` marks those without
/// a TLP 2.0 marking.
pub fn load_items(json: &[u8], tlp: Option<&str>) -> anyhow::Result<Vec<Vec<u8>>> {
    let value: serde_json::Value = serde_json::from_slice(json).context("the file is not JSON")?;
    let objects: Vec<serde_json::Value> = match value.get("type").and_then(|t| t.as_str()) {
        Some("bundle") => crate::guard::unwrap_bundle(json)?
            .iter()
            .map(|item| serde_json::from_slice(item))
            .collect::<Result<_, _>>()?,
        Some(_) => vec![value],
        None => bail!("not a STIX object or bundle: no \"type\""),
    };
    let marking = match tlp {
        None => None,
        Some(name) => Some(
            Tlp::ALL
                .into_iter()
                .find(|t| t.as_str().eq_ignore_ascii_case(name))
                .map(Tlp::marking_id)
                .with_context(|| {
                    format!("unknown TLP {name:?}: use clear, green, amber, amber+strict or red")
                })?,
        ),
    };
    objects
        .into_iter()
        .map(|mut object| {
            if let (Some(id), None) = (marking, client::tlp_of(&object)) {
                let refs = object
                    .as_object_mut()
                    .context("a STIX object must be a JSON object")?
                    .entry("object_marking_refs")
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                if let Some(list) = refs.as_array_mut() {
                    list.push(id.into());
                }
            }
            Ok(serde_json::to_vec(&object)?)
        })
        .collect()
}

/// A receipt as JSON for scripts.
pub fn receipt_json(receipt: &pb::LogReceipt) -> serde_json::Value {
    serde_json::json!({
        "index": receipt.index,
        "leaf_hash": hex::encode(&receipt.leaf_hash),
        "checkpoint": receipt.checkpoint,
        "inclusion_proof": receipt.inclusion_proof.iter().map(hex::encode).collect::<Vec<_>>(),
    })
}
