//! `borderlog init`: a dev CA, certificates, partner and log keys, and keys/partners.toml.

use std::path::PathBuf;

use clap::Args;

use crate::identity::{self, InitOptions};

/// Arguments of `borderlog init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to write keys and certificates into.
    #[arg(long, default_value = "keys", env = "BORDERLOG_KEYS")]
    pub keys: PathBuf,
    /// Replace an existing set of keys (the old log will no longer verify with the new keys).
    #[arg(long)]
    pub force: bool,
}

/// Runs `borderlog init`.
pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let opts = InitOptions {
        force: args.force,
        ..InitOptions::default()
    };
    let report = identity::init(&args.keys, &opts)?;
    println!("made keys and certificates in {}:", report.dir.display());
    for file in &report.files {
        println!("  {}", file.display());
    }
    println!("log origin: {}", report.registry.origin());
    Ok(())
}
