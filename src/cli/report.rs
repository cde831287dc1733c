//! `borderlog report`: a compliance disclosure report for a period, fetched over gRPC
//! (`Reports/GetReport`, compliance role), checked here against the log key before it is
//! written, and rendered as JSON (the form that proves itself), HTML, CSV or Markdown.
//! `borderlog report verify FILE` checks a JSON report offline.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use super::{ClientArgs, log_verifier, read_file, status_error};
use crate::format::note::Verifier;
use crate::identity::Registry;
use crate::pb::{self, Role};
use crate::report::pdf::Chromium;
use crate::report::profile::PROFILE_FILE;
use crate::report::render::{self, Format};
use crate::report::{self, Report};

/// Arguments of `borderlog report`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: Option<ReportCommand>,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// `borderlog report verify`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Check a JSON report offline: checkpoint signature, every entry's inclusion proof, the
    /// period's coverage, signatures, and every line and count. Exit 1 if it fails.
    Verify(VerifyArgs),
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Self-proving JSON (checked by `report verify`).
    Json,
    /// One row per disclosure, for spreadsheets.
    Csv,
    /// A Markdown summary.
    Md,
    /// One self-contained HTML file (prints to PDF).
    Html,
    /// The HTML printed to PDF by a headless Chromium on PATH (`chromium`); needs --out.
    Pdf,
}

/// Time buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BucketArg {
    /// ISO weeks.
    Week,
    /// Calendar months.
    Month,
}

/// Arguments for building a report.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Start of the period (inclusive): an RFC 3339 date (`2026-11-01`, midnight UTC) or time;
    /// default: --last before --to.
    #[arg(long, conflicts_with = "last")]
    pub from: Option<String>,
    /// End of the period (exclusive): a date or time; default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// The period as a length ending at --to (`30d`, `1w`, `12h`), when --from is not given.
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    pub last: std::time::Duration,
    /// Only what involves this partner.
    #[arg(long)]
    pub partner: Option<String>,
    /// Output format (default: from --out's extension, else json).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Group disclosures by week or month.
    #[arg(long, value_enum, default_value = "month")]
    pub by: BucketArg,
    /// The report profile (GDPR Art. 30 fields); default: keys/report-profile.toml if present.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Tree size of a stored checkpoint to report against (default: the latest).
    #[arg(long, default_value_t = 0)]
    pub size: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `borderlog report verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The JSON report.
    pub file: PathBuf,
    /// The log's key as a note verifier (`origin+keyid+base64`); default: from partners.toml.
    #[arg(long)]
    pub log_key: Option<String>,
    /// Directory with partners.toml (for the log key).
    #[arg(long, default_value = "keys", env = "BORDERLOG_KEYS")]
    pub keys: PathBuf,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Runs `borderlog report` or `borderlog report verify`.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    match args.command {
        Some(ReportCommand::Verify(v)) => run_verify(v),
        None => run_build(args.build).await,
    }
}

/// An RFC 3339 date (midnight UTC) or time as Unix milliseconds.
pub fn parse_time(s: &str) -> anyhow::Result<i64> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    let t = humantime::parse_rfc3339_weak(&full).with_context(|| {
        format!("{s:?} is not an RFC 3339 date (2026-11-01) or time (2026-11-01T10:00:00Z)")
    })?;
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .with_context(|| format!("{s:?} is before 1970"))?;
    Ok(d.as_millis() as i64)
}

async fn run_build(args: BuildArgs) -> anyhow::Result<()> {
    let (_, name, log) = args.client.context(Role::Compliance)?;
    let to_ms = match args.to.as_deref() {
        Some(t) => parse_time(t)?,
        None => crate::clock::now_ms() + 1,
    };
    let from_ms = match args.from.as_deref() {
        Some(f) => parse_time(f)?,
        None => to_ms.saturating_sub(i64::try_from(args.last.as_millis()).unwrap_or(i64::MAX)),
    };
    let format = args
        .format
        .unwrap_or_else(|| format_of(args.out.as_deref()));
    // Found before the server is asked, so a missing browser costs no report.
    let chromium = match format {
        FormatArg::Pdf => Some(pdf_printer(args.out.as_deref())?),
        _ => None,
    };
    let profile_path = args
        .profile
        .clone()
        .unwrap_or_else(|| args.client.keys.join(PROFILE_FILE));
    let profile = if args.profile.is_some() || profile_path.exists() {
        let text = String::from_utf8(read_file(&profile_path)?)
            .with_context(|| format!("{} is not UTF-8", profile_path.display()))?;
        report::Profile::parse(&text).with_context(|| profile_path.display().to_string())?;
        text
    } else {
        String::new()
    };
    let mut api =
        crate::client::connect_reports(&args.client.addr, &args.client.keys, &name).await?;
    let response = api
        .get_report(pb::ReportRequest {
            from_ms,
            to_ms,
            partner: args.partner.clone().unwrap_or_default(),
            bucket: match args.by {
                BucketArg::Week => "week",
                BucketArg::Month => "month",
            }
            .into(),
            tree_size: args.size,
            profile,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    // Trust nothing the server says: the report must prove itself before it is written.
    let report = Report::from_json(&response.report_json)?;
    let verified = report::verify::verify(&report, &log)
        .context("the server's report does not verify; it was not written")?;
    let text = render::render(&report, format_enum(format))?;
    match &args.out {
        Some(path) => {
            match &chromium {
                Some(chromium) => {
                    // The HTML beside the PDF's place, printed, then removed.
                    let html = tempfile::Builder::new()
                        .suffix(".html")
                        .tempfile_in(
                            path.parent()
                                .filter(|p| !p.as_os_str().is_empty())
                                .unwrap_or(Path::new(".")),
                        )
                        .with_context(|| format!("cannot write beside {}", path.display()))?;
                    std::fs::write(html.path(), &text)?;
                    chromium.print_to_pdf(html.path(), path)?;
                }
                None => std::fs::write(path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            }
            eprintln!(
                "report of {} disclosure(s) written to {} (verified: {} line(s), entries {}..={} proven against checkpoint {})",
                report.contents.summary.disclosures,
                path.display(),
                verified.lines,
                verified.range.0,
                verified.range.1,
                verified.checkpoint_size
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn format_of(out: Option<&Path>) -> FormatArg {
    match out.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
        Some("html" | "htm") => FormatArg::Html,
        Some("csv") => FormatArg::Csv,
        Some("md") => FormatArg::Md,
        Some("pdf") => FormatArg::Pdf,
        _ => FormatArg::Json,
    }
}

fn format_enum(f: FormatArg) -> Format {
    match f {
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv,
        FormatArg::Md => Format::Markdown,
        FormatArg::Html | FormatArg::Pdf => Format::Html,
    }
}

/// The headless browser that prints PDFs, and a file to print to.
fn pdf_printer(out: Option<&Path>) -> anyhow::Result<Chromium> {
    if out.is_none() {
        anyhow::bail!("--format pdf needs --out FILE.pdf");
    }
    Chromium::find().ok_or_else(|| {
        anyhow::anyhow!(
            "--format pdf prints the HTML report with a headless Chromium, and none is on PATH \
             (looked for chromium, chromium-browser, google-chrome); install one (Debian: \
             apt-get install chromium) or write --format html and print it from a browser"
        )
    })
}

fn run_verify(args: VerifyArgs) -> anyhow::Result<()> {
    let log = match &args.log_key {
        Some(k) => Verifier::parse(k).context("--log-key is not a note verifier key")?,
        None => log_verifier(&Registry::load(&args.keys)?)?,
    };
    let text = String::from_utf8(read_file(&args.file)?)
        .with_context(|| format!("{} is not UTF-8", args.file.display()))?;
    let result =
        Report::from_json(&text).and_then(|r| report::verify::verify(&r, &log).map(|v| (r, v)));
    match result {
        Ok((r, v)) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": true,
                        "lines": v.lines,
                        "disclosures": r.contents.summary.disclosures,
                        "range": [v.range.0, v.range.1],
                        "cited": v.cited,
                        "signatures": v.signatures,
                        "checkpoint_size": v.checkpoint_size,
                        "cosigned_by": v.cosigned_by,
                    })
                );
            } else {
                println!(
                    "verified: {} disclosure line(s) and every count of {} – {}; entries {}..={} and {} cited entries proven against the checkpoint of size {}{}; {} signature(s)",
                    v.lines,
                    r.contents.period.from,
                    r.contents.period.to,
                    v.range.0,
                    v.range.1,
                    v.cited,
                    v.checkpoint_size,
                    if v.cosigned_by.is_empty() {
                        String::new()
                    } else {
                        format!(", cosigned by {}", v.cosigned_by.join(", "))
                    },
                    v.signatures
                );
            }
            Ok(())
        }
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                );
            }
            anyhow::bail!("FAILED: {e}")
        }
    }
}
