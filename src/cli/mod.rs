//! The `borderlog` command line: one file per subcommand; this file holds the argument
//! definitions and the pieces every client command shares.

mod bench;
mod bench_load;
mod checkpoint;
mod export;
mod gateway;
mod get;
mod init;
pub mod key;
pub(crate) mod policy; // OwnerFiles: the gateway loads the sender's policy as `policy check` does
mod proof;
mod redact;
mod report;
mod serve;
pub(crate) mod submit; // load_items: the TAXII gateway marks items as `submit --tlp` does
mod submit_stream;
mod tail;
mod taxii_user;
mod verify;
mod verify_taxii;
mod witness;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use prost::Message;

use crate::format::note::{KeyType, Verifier};
use crate::identity::Registry;
use crate::pb::{self, Role};

/// The address `serve` listens on and client commands call, unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7455";

/// borderlog: a signed, append-only ledger of intelligence shared across an organisational boundary.
#[derive(Debug, Parser)]
#[command(name = "borderlog", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a dev CA, certificates, partner and log keys, and keys/partners.toml.
    Init(init::InitArgs),
    /// Run the ledger service (runs `init` first if keys/ is empty).
    Serve(serve::ServeArgs),
    /// Submit STIX 2.1 objects or bundles, one signed disclosure each (many on one stream).
    Submit(submit::SubmitArgs),
    /// Acknowledge a disclosure as its recipient (signs a receipt).
    Ack(submit::AckArgs),
    /// Show one entry and the payloads you may see.
    Get(get::GetArgs),
    /// Stream entries, following new ones as they are appended.
    Tail(tail::TailArgs),
    /// Fetch and verify the latest (or a given) signed checkpoint.
    Checkpoint(checkpoint::CheckpointArgs),
    /// Fetch and verify an entry's inclusion proof, and a consistency proof between sizes.
    Proof(proof::ProofArgs),
    /// Load generator: concurrent clients submitting disclosures over mTLS.
    Bench(bench::BenchArgs),
    /// Export the ledger up to a checkpoint into a file, for offline verification.
    Export(export::ExportArgs),
    /// Verify an export file, or the live ledger; exit 0 ok, 1 verification failed, 2 error.
    Verify(verify::VerifyArgs),
    /// The screening policy: check a file locally, build the customer register, publish.
    Policy(policy::PolicyArgs),
    /// Witness the log as a partner: check and cosign checkpoints (or serve C2SP tlog-witness).
    Witness(witness::WitnessArgs),
    /// Erase one item's payload as its data owner (a signed Redaction entry).
    Redact(redact::RedactArgs),
    /// Erase, as the data owner, the payloads whose retention has expired.
    Retention(redact::RetentionArgs),
    /// A compliance disclosure report for a period (json|csv|md|html); `report verify FILE`.
    Report(report::ReportArgs),
    /// Keys: rotate or revoke a partner's key; rotate the log's key (offline).
    Key(key::KeyArgs),
    /// The sender's TAXII 2.1 gateway: platforms push envelopes, each becomes one disclosure.
    Gateway(gateway::GatewayArgs),
    /// Prove the objects of a TAXII envelope against the ledger (bytes, signature, inclusion).
    VerifyTaxii(verify_taxii::VerifyTaxiiArgs),
    /// TAXII HTTP Basic credentials: make (or replace), revoke or list a party's.
    TaxiiUser(taxii_user::TaxiiUserArgs),
}

/// Options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Directory with certificates, keys and partners.toml.
    #[arg(long, default_value = "keys", env = "BORDERLOG_KEYS")]
    pub keys: PathBuf,
    /// Server address.
    #[arg(long, default_value = DEFAULT_ADDR, env = "BORDERLOG_ADDR")]
    pub addr: String,
    /// Which identity in keys/ to act as (default: the first party with the role the command needs).
    #[arg(long = "as")]
    pub as_name: Option<String>,
    /// Print JSON for scripts instead of text for people.
    #[arg(long)]
    pub json: bool,
}

impl ClientArgs {
    /// The registry in keys/, the identity to act as, and the log's checkpoint verifier.
    pub fn context(&self, default_role: Role) -> anyhow::Result<(Registry, String, Verifier)> {
        let registry = Registry::load(&self.keys)?;
        let name = match &self.as_name {
            Some(n) => n.clone(),
            None => registry
                .parties()
                .iter()
                .find(|p| p.role == default_role)
                .map(|p| p.name.clone())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "keys/partners.toml has no party with the {default_role:?} role; pass --as NAME"
                    )
                })?,
        };
        let verifier = log_verifier(&registry)?;
        Ok((registry, name, verifier))
    }
}

/// The log's checkpoint verifier key, from the registry.
pub fn log_verifier(registry: &Registry) -> anyhow::Result<Verifier> {
    Ok(Verifier::new(
        registry.origin(),
        KeyType::Ed25519,
        registry.log_public_key(),
    )?)
}

/// Parses arguments and runs the command; the process's exit code says how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // fjall's LSM engine (lsm-tree) logs each table it writes at info: an operator's log
    // should show the service's events, not the index engine's housekeeping.
    let default_level = if matches!(cli.command, Command::Serve(_) | Command::Gateway(_)) {
        "info,fjall=warn,lsm_tree=warn"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    if !matches!(cli.command, Command::Serve(_)) {
        quiet_on_broken_pipe();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let is_verify = matches!(cli.command, Command::Verify(_));
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Init(a) => init::run(a),
            Command::Serve(a) => serve::run(a).await,
            Command::Submit(a) => submit::run(a).await,
            Command::Ack(a) => submit::run_ack(a).await,
            Command::Get(a) => get::run(a).await,
            Command::Tail(a) => tail::run(a).await,
            Command::Checkpoint(a) => checkpoint::run(a).await,
            Command::Proof(a) => proof::run(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::Export(a) => export::run(a).await,
            Command::Verify(a) => verify::run(a).await,
            Command::Policy(a) => policy::run(a).await,
            Command::Witness(a) => witness::run(a).await,
            Command::Redact(a) => redact::run(a).await,
            Command::Retention(a) => redact::run_retention(a).await,
            Command::Report(a) => report::run(a).await,
            Command::Key(a) => key::run(a).await,
            Command::TaxiiUser(a) => taxii_user::run(a),
            Command::Gateway(a) => gateway::run(a).await,
            Command::VerifyTaxii(a) => verify_taxii::run(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::from(BROKEN_PIPE_EXIT),
        // `verify` promises scripts 1 for a bad ledger and 2 for everything else.
        Err(e) if e.is::<verify::Failed>() => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            if is_verify {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The exit status of a command whose reader went away (`borderlog tail | head -1`): the one a
/// shell shows for a tool that SIGPIPE ended (128 + 13). Never 0: the command did not finish,
/// and `verify`'s 0 means "verified".
const BROKEN_PIPE_EXIT: u8 = 141;

/// Ends every command (but `serve`) quietly when its output goes to a closed pipe, as Unix tools
/// do, instead of panicking with a backtrace. Rust ignores SIGPIPE, so the write fails with
/// EPIPE: `print!` panics on it (caught here, whichever thread prints), and a `write!` that
/// returns it reaches [`main`] as an error ([`is_broken_pipe`]).
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // How std's print! words it: "failed printing to stdout: Broken pipe (os error 32)".
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(i32::from(BROKEN_PIPE_EXIT));
        }
        default(info)
    }));
}

/// True when an error comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A gRPC status as a person reads it: code, message, and every finding of a refusal on its
/// own line (from the google.rpc error details).
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    use tonic_types::StatusExt as _;
    let details = status.get_error_details();
    let mut text = match details.error_info() {
        // A refusal: its findings follow one per line, so the header says only what happened.
        Some(info) if info.metadata.contains_key("refusal_index") => format!(
            "{:?}: {} under policy {} ({}); nothing was disclosed; the refusal is entry {}:",
            status.code(),
            if info.reason == "INVALID_STIX" {
                "not valid STIX 2.1 / TLP 2.0"
            } else {
                "refused by the boundary guard"
            },
            info.metadata
                .get("policy_version")
                .map_or("?", String::as_str),
            info.metadata
                .get("policy_hash")
                .map_or("?", |h| &h[..h.len().min(16)]),
            info.metadata["refusal_index"],
        ),
        _ => format!("{:?}: {}", status.code(), status.message()),
    };
    if let Some(bad) = details.bad_request() {
        for v in &bad.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    if let Some(failed) = details.precondition_failure() {
        for v in &failed.violations {
            text.push_str(&format!(
                "\n  {}: {} — {}",
                v.subject, v.r#type, v.description
            ));
        }
    }
    anyhow::anyhow!(text)
}

/// One line about an entry, for people.
pub fn describe(entry: &pb::Entry) -> String {
    use pb::entry::Kind;
    let what = match &entry.kind {
        Some(Kind::Genesis(g)) => {
            format!("genesis of {} with {} parties", g.origin, g.parties.len())
        }
        Some(Kind::Disclosure(d)) => match pb::DisclosureBody::decode(d.body.as_slice()) {
            Ok(b) => format!(
                "disclosure {} -> {}: {} item(s), purpose {:?}",
                b.sender,
                b.recipient,
                b.items.len(),
                b.purpose
            ),
            Err(_) => "disclosure (body does not decode)".into(),
        },
        Some(Kind::Receipt(r)) => format!(
            "receipt by {} for entry {}",
            r.recipient, r.disclosure_index
        ),
        Some(Kind::Refusal(r)) => format!(
            "refusal of {}'s submission: {} finding(s)",
            r.sender,
            r.findings.len()
        ),
        Some(Kind::PolicyChange(p)) => format!("policy change by {}", p.owner),
        Some(Kind::Redaction(r)) => format!(
            "redaction by {} in entry {}: {}",
            r.owner, r.disclosure_index, r.reason
        ),
        Some(Kind::KeyChange(k)) => format!("key change for {}", k.party),
        None => "entry without a kind".into(),
    };
    format!(
        "#{:<6} {} {}",
        entry.index,
        crate::clock::format_rfc3339(entry.time_ms),
        what
    )
}

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
