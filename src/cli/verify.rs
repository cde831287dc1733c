//! `borderlog verify`: check an export offline (`verify FILE`) or the live ledger (`verify`
//! with `--addr`, streaming an export from the server and checking it in memory).
//!
//! Exit status, for scripts: 0 the export verified; 1 verification failed (the first bad
//! entry and the check are printed); 2 usage or I/O error (nothing was verified).

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_stream::StreamExt;

use super::{ClientArgs, read_file, status_error};
use crate::audit::export::RecordReader;
use crate::audit::verify::{Auditor, Report, VerifyError, VerifyOptions};
use crate::pb::Role;

/// Arguments of `borderlog verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An export file made by `borderlog export`; without it, the live ledger at --addr.
    pub file: Option<PathBuf>,
    /// A signed checkpoint (note text) you already hold, e.g. from an earlier audit or a
    /// witness: the ledger must extend it (else rollback or fork). Repeatable.
    #[arg(long = "trusted-checkpoint")]
    pub trusted_checkpoints: Vec<PathBuf>,
    /// The data owner's customer-register key (hex), to replay policies that have a customer
    /// register; without it those replays are reported as skipped.
    #[arg(long)]
    pub register_key: Option<PathBuf>,
    /// Live only: verify up to this checkpoint size (default: the latest).
    #[arg(long, default_value_t = 0)]
    pub size: u64,
    /// Fail if any entry is withheld (an auditor's export holds every entry). Without it, only
    /// an export whose header names a partner may withhold entries, and the header is unsigned.
    #[arg(long)]
    pub complete: bool,
    /// Worker threads for signatures and guard replays (default: the machine's cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Verification ran and found the export bad: exit status 1 (every other error is 2).
#[derive(Debug, thiserror::Error)]
#[error("verification failed")]
pub struct Failed;

/// Runs `borderlog verify`.
pub async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let opts = VerifyOptions {
        trusted_checkpoints: args
            .trusted_checkpoints
            .iter()
            .map(|p| {
                String::from_utf8(read_file(p)?)
                    .with_context(|| format!("{} is not a UTF-8 checkpoint note", p.display()))
            })
            .collect::<anyhow::Result<_>>()?,
        register_key: args
            .register_key
            .as_ref()
            .map(|p| {
                let text = read_file(p)?;
                hex::decode(String::from_utf8_lossy(&text).trim())
                    .with_context(|| format!("{} does not hold a hex key", p.display()))
            })
            .transpose()?,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        complete: args.complete,
        ..VerifyOptions::default()
    };
    let started = std::time::Instant::now();
    let mut auditor = Auditor::new(opts);
    let progress = Progress::new(args.client.json);
    let outcome = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let mut reader = RecordReader::new(BufReader::with_capacity(1 << 20, file));
            // Reading stops at the first bad record; verification at the first failure.
            let mut result = Ok(());
            while let Some(record) = reader.next_record()? {
                result = auditor.push(record);
                progress.tick(&auditor);
                if result.is_err() {
                    break;
                }
            }
            result.and_then(|()| auditor.finish())
        }
        None => {
            let (_, name, _) = args.client.context(Role::Auditor)?;
            let mut stream = super::export::export_stream(&args.client, &name, args.size).await?;
            let mut result = Ok(());
            while let Some(record) = stream.next().await {
                result = auditor.push(record.map_err(status_error)?);
                progress.tick(&auditor);
                if result.is_err() {
                    break;
                }
            }
            result.and_then(|()| auditor.finish())
        }
    };
    progress.done();
    let elapsed = started.elapsed();
    match outcome {
        Ok(report) => {
            print_report(&report, elapsed, args.client.json);
            Ok(())
        }
        Err(e) => {
            print_failure(&e, args.client.json);
            Err(Failed.into())
        }
    }
}

/// A progress bar on stderr for long runs; hidden for `--json` and when stderr is no terminal.
struct Progress(Option<ProgressBar>);

impl Progress {
    fn new(json: bool) -> Progress {
        if json {
            return Progress(None);
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} entries {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress(Some(bar))
    }

    fn tick(&self, auditor: &Auditor) {
        let Some(bar) = &self.0 else { return };
        let n = auditor.entries();
        if n.is_multiple_of(4096) {
            if let Some(size) = auditor.announced_size() {
                bar.set_length(size);
            }
            bar.set_position(n);
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn print_failure(e: &VerifyError, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": false,
                "check": e.check(),
                "entry": e.entry_index(),
                "error": e.to_string(),
            })
        );
    } else {
        println!("FAILED ({}): {e}", e.check());
    }
}

fn print_report(r: &Report, elapsed: std::time::Duration, json: bool) {
    if json {
        let mut v = serde_json::to_value(r).unwrap_or_default();
        v["ok"] = true.into();
        v["seconds"] = elapsed.as_secs_f64().into();
        println!("{v}");
        return;
    }
    println!(
        "OK: {} entries of {} verified in {:.2} s (root {})",
        r.entries,
        r.origin,
        elapsed.as_secs_f64(),
        &r.root
    );
    let partners: Vec<_> = r
        .partners
        .iter()
        .map(|(n, role)| format!("{n} ({role})"))
        .collect();
    println!("  parties          {}", partners.join(", "));
    println!("  exported for     {}", r.exported_for);
    println!(
        "  disclosures      {} with {} items: {} payloads checked, {} not visible to the exporter, {} erased",
        r.disclosures, r.items, r.payloads_checked, r.payloads_not_visible, r.payloads_erased
    );
    println!(
        "  guard replay     items: {} passed, {} skipped (customer register key not given); disclosure bodies: {} passed",
        r.replays_passed, r.replays_skipped_register_key, r.body_replays_passed
    );
    println!(
        "  receipts         {} ({} disclosures awaiting one)",
        r.receipts, r.receipts_pending
    );
    let rules: Vec<_> = r
        .refusals_by_rule
        .iter()
        .map(|(rule, n)| format!("{rule} x{n}"))
        .collect();
    println!(
        "  refusals         {}{}",
        r.refusals,
        if rules.is_empty() {
            String::new()
        } else {
            format!(": {}", rules.join(", "))
        }
    );
    println!(
        "  policy changes   {}; redactions {}; key changes {}",
        r.policy_changes, r.redactions, r.key_changes
    );
    for (party, at) in &r.key_rotations {
        println!("  key rotation     {party} at entry {at} (signed by its previous key)");
    }
    for (party, at, by) in &r.revocations {
        println!(
            "  revocation       {party} at entry {at} (signed by the {by} key); nothing it signs after is accepted"
        );
    }
    for at in &r.log_key_rotations {
        println!(
            "  log key rotation at entry {at} (signed by the previous log key); checkpoints after it need the new key"
        );
    }
    println!("  signatures       {} verified", r.signatures);
    let cosigned = if r.cosigned.is_empty() {
        "no cosignatures".to_string()
    } else {
        r.cosigned
            .iter()
            .map(|(n, c)| format!("{n} cosigned {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  checkpoints      {} (sizes {}..{}), {cosigned}",
        r.checkpoints, r.checkpoint_sizes.0, r.checkpoint_sizes.1
    );
    if !r.trusted_sizes.is_empty() {
        println!(
            "  held checkpoints {:?}: extended, no rollback or fork",
            r.trusted_sizes
        );
    }
    if r.claims_spilled > 0 {
        println!(
            "  memory budget    {} nonce, item and receipt claims past it, checked by a sort-merge on a temporary file",
            r.claims_spilled
        );
    }
    if r.entries_withheld > 0 {
        println!(
            "  withheld         {} entries not visible to the exporter (bound by the tree, not checked inside); {} checks depended on them",
            r.entries_withheld, r.checks_unverifiable
        );
    }
}
