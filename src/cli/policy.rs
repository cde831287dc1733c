//! `borderlog policy`: screen a file locally before submitting it, build the customer register
//! from a customer list (which never leaves the sender), and publish a signed policy.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::submit::load_items;
use super::{ClientArgs, read_file, status_error};
use crate::client;
use crate::format::signature::{self, Purpose};
use crate::guard::{self, Policy, Verdict};
use crate::identity::{self, keys::load_signing_key};
use crate::pb::{self, Role};

/// Arguments of `borderlog policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Screen a STIX object or bundle locally, exactly as the server will, and show every
    /// finding with its path and rule. Exits 1 when an item would be refused.
    Check(CheckArgs),
    /// Build the customer register (HMAC-SHA-256 digests) from a customer list. The list never
    /// leaves this machine; only the digests go into the policy.
    Customers(CustomersArgs),
    /// Sign a policy document with the owner's key and publish it to the log.
    Publish(PublishArgs),
    /// Measure the policy on a labelled corpus directory (corpus.toml, its policy, cases.jsonl):
    /// a confusion table per class of customer and personal data, with precision and recall.
    Test(TestArgs),
}

#[derive(Debug, Args)]
struct TestArgs {
    /// The corpus directory, e.g. tests/corpus/measured.
    corpus: PathBuf,
    /// Print the table as JSON.
    #[arg(long)]
    json: bool,
}

/// Where the owner's policy and register key are, shared by every `policy` subcommand.
#[derive(Debug, Args)]
pub(crate) struct OwnerFiles {
    /// The policy document (default: keys/<owner>.policy.toml).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The owner's register key, hex (default: keys/<owner>.register-key).
    #[arg(long = "key")]
    register_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// A STIX 2.1 object or bundle (JSON).
    file: PathBuf,
    /// The receiving partner the disclosure would go to (default: the first recipient).
    #[arg(long)]
    to: Option<String>,
    /// The purpose the disclosure would declare.
    #[arg(long, default_value = super::submit::DEFAULT_PURPOSE)]
    purpose: String,
    /// The legal basis it would declare.
    #[arg(long, default_value = super::submit::DEFAULT_LEGAL_BASIS)]
    legal_basis: String,
    /// TLP for items that carry no TLP marking, as `submit --tlp`.
    #[arg(long)]
    tlp: Option<String>,
    #[command(flatten)]
    files: OwnerFiles,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, Args)]
struct CustomersArgs {
    /// The customer list: CSV lines `kind,value` with kind domain, email, cidr, name or
    /// account (a regular expression); `#` comments and blank lines are ignored.
    #[arg(long = "in")]
    input: PathBuf,
    /// A short name for the register key, recorded in the policy (e.g. "2026-q4").
    #[arg(long, default_value = "register-1")]
    key_id: String,
    /// Write the register into the policy document (replacing its `[customers]` section)
    /// instead of printing the section.
    #[arg(long)]
    write: bool,
    #[command(flatten)]
    files: OwnerFiles,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, Args)]
struct PublishArgs {
    #[command(flatten)]
    files: OwnerFiles,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `borderlog policy ...`.
pub async fn run(args: PolicyArgs) -> anyhow::Result<()> {
    match args.command {
        PolicyCommand::Check(a) => check(a),
        PolicyCommand::Customers(a) => customers(a),
        PolicyCommand::Publish(a) => publish(a).await,
        PolicyCommand::Test(a) => test(a),
    }
}

impl OwnerFiles {
    fn policy_path(&self, client: &ClientArgs, owner: &str) -> PathBuf {
        self.policy
            .clone()
            .unwrap_or_else(|| identity::policy_path(&client.keys, owner))
    }

    /// The register key, when there is one (the default file may be absent).
    fn register_key(&self, client: &ClientArgs, owner: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(match &self.register_key {
            Some(path) => Some(identity::keys::read_register_key(path)?),
            None => identity::load_register_key(&client.keys, owner)?,
        })
    }

    /// The policy document, parsed with the register key when its register needs one.
    pub(crate) fn load(
        &self,
        client: &ClientArgs,
        owner: &str,
    ) -> anyhow::Result<(PathBuf, Vec<u8>, Policy)> {
        let path = self.policy_path(client, owner);
        let bytes = read_file(&path)?;
        let policy = Policy::parse(&bytes).with_context(|| format!("in {}", path.display()))?;
        let policy = match (
            policy.register_needs_key(),
            self.register_key(client, owner)?,
        ) {
            (false, _) => policy,
            (true, Some(key)) => Policy::parse_keyed(&bytes, &key)
                .with_context(|| format!("in {}", path.display()))?,
            (true, None) => bail!(
                "{} has a customer register; pass its key with --key FILE",
                path.display()
            ),
        };
        Ok((path, bytes, policy))
    }
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let (registry, owner, _) = args.client.context(Role::Sender)?;
    let recipient = match args.to {
        Some(r) => r,
        None => super::submit::default_recipient(&registry)?,
    };
    let (path, _, policy) = args.files.load(&args.client, &owner)?;
    let items = load_items(&read_file(&args.file)?, args.tlp.as_deref())?;
    let context = guard::Context {
        sender: &owner,
        recipient: &recipient,
        purpose: &args.purpose,
        legal_basis: &args.legal_basis,
    };
    let verdicts: Vec<Verdict> = items.iter().map(|i| policy.screen(&context, i)).collect();
    let refused = verdicts.iter().filter(|v| !v.is_accepted()).count();
    if args.client.json {
        let items: Vec<_> = verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| verdict_json(i, v))
            .collect();
        let out = serde_json::json!({
            "policy": path.display().to_string(),
            "policy_hash": hex::encode(policy.hash()),
            "policy_version": policy.version(),
            "accepted": verdicts.len() - refused,
            "refused": refused,
            "items": items,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "screened {} item(s) under {} (version {}, {}):",
            verdicts.len(),
            path.display(),
            policy.version(),
            &hex::encode(policy.hash())[..16]
        );
        for (i, verdict) in verdicts.iter().enumerate() {
            match verdict {
                Verdict::Accepted(s) => println!(
                    "  item {i}: accepted  {} (TLP:{})",
                    s.stix_id,
                    s.tlp.as_str().to_uppercase()
                ),
                Verdict::Refused(findings) => {
                    println!("  item {i}: REFUSED");
                    for f in findings {
                        println!("      {} {} — {}", f.path, f.rule, f.hint);
                    }
                }
            }
        }
        println!("{} accepted, {refused} refused", verdicts.len() - refused);
    }
    if refused > 0 {
        bail!("{refused} item(s) would be refused; nothing of this file should be submitted as is");
    }
    Ok(())
}

fn test(args: TestArgs) -> anyhow::Result<()> {
    use crate::guard::measure;
    let text = |name: &str| -> anyhow::Result<String> {
        let path = args.corpus.join(name);
        String::from_utf8(read_file(&path)?)
            .with_context(|| format!("{} is not UTF-8 text", path.display()))
    };
    let spec = measure::Spec::parse(&text("corpus.toml")?)?;
    let policy_text = text(&spec.policy)?;
    let in_file = || format!("in {}", args.corpus.join(&spec.policy).display());
    let mut policy = Policy::parse(policy_text.as_bytes()).with_context(in_file)?;
    if policy.register_needs_key() {
        policy = Policy::parse_keyed(policy_text.as_bytes(), spec.register_key.as_bytes())
            .with_context(in_file)?;
    }
    let cases = measure::parse_cases(&text("cases.jsonl")?)?;
    let table = measure::measure(&policy, &spec.context(), &cases);
    if args.json {
        let classes: Vec<_> = table
            .classes
            .iter()
            .map(|(c, n)| {
                serde_json::json!({
                    "class": c.as_str(), "tp": n.tp, "fn": n.fn_, "fp": n.fp, "tn": n.tn,
                    "precision": n.precision(), "recall": n.recall(),
                })
            })
            .collect();
        let out = serde_json::json!({
            "policy_hash": hex::encode(policy.hash()),
            "cases": cases.len(),
            "classes": classes,
            "negatives": table.negatives,
            "negatives_refused": table.negatives_refused,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} cases under {} (format {}, {}):",
            cases.len(),
            spec.policy,
            policy.format(),
            &hex::encode(policy.hash())[..16]
        );
        print!("{table}");
    }
    Ok(())
}

fn verdict_json(i: usize, verdict: &Verdict) -> serde_json::Value {
    match verdict {
        Verdict::Accepted(s) => serde_json::json!({
            "item": i, "verdict": "accepted", "stix_id": s.stix_id,
            "stix_type": s.stix_type, "tlp": s.tlp.as_str(),
        }),
        Verdict::Refused(findings) => serde_json::json!({
            "item": i, "verdict": "refused",
            "findings": findings.iter().map(|f| serde_json::json!({
                "path": f.path, "rule": f.rule, "class": f.class.as_str(), "hint": f.hint,
            })).collect::<Vec<_>>(),
        }),
    }
}

fn customers(args: CustomersArgs) -> anyhow::Result<()> {
    let (_, owner, _) = args.client.context(Role::Sender)?;
    let key = args
        .files
        .register_key(&args.client, &owner)?
        .context("no register key: pass --key FILE (hex), or run `borderlog init`, which makes keys/<owner>.register-key")?;
    let list = String::from_utf8(read_file(&args.input)?)
        .with_context(|| format!("{} is not UTF-8 text", args.input.display()))?;
    let register = guard::build_register(&key, &args.key_id, &list)?;
    if !args.write {
        print!("{register}");
        return Ok(());
    }
    let path = args.files.policy_path(&args.client, &owner);
    let policy = String::from_utf8(read_file(&path)?)
        .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
    let updated = guard::customer::with_register(&policy, &register);
    // Refuse to write a document that no longer parses or does not fit the key.
    Policy::parse_keyed(updated.as_bytes(), &key)
        .with_context(|| format!("the updated {} would be invalid", path.display()))?;
    std::fs::write(&path, &updated).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "wrote the customer register (key id {}) into {}; bump its version and run `borderlog policy publish`",
        args.key_id,
        path.display()
    );
    Ok(())
}

async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let (_, owner, log) = args.client.context(Role::Sender)?;
    let (path, bytes, policy) = args.files.load(&args.client, &owner)?;
    if policy.owner() != owner {
        bail!(
            "{} names owner {:?}, but you publish as {owner:?}",
            path.display(),
            policy.owner()
        );
    }
    let key = load_signing_key(&args.client.keys, &owner)?;
    let request = pb::PublishPolicyRequest {
        signature: signature::sign(&key, Purpose::Policy, &bytes).to_vec(),
        policy: bytes,
    };
    let mut api = client::connect(&args.client.addr, &args.client.keys, &owner).await?;
    let receipt = api
        .publish_policy(request)
        .await
        .map_err(status_error)?
        .into_inner();
    client::verify_receipt(&receipt, &log)?;
    if args.client.json {
        let mut out = super::submit::receipt_json(&receipt);
        out["policy_hash"] = hex::encode(policy.hash()).into();
        println!("{out}");
    } else {
        println!(
            "published {} (version {}, policy hash {}) as entry {}; {owner}'s disclosures are now screened under it",
            path.display(),
            policy.version(),
            hex::encode(policy.hash()),
            receipt.index
        );
    }
    Ok(())
}
