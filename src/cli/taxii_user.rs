//! `borderlog taxii-user`: a party's TAXII HTTP Basic credential. The password is printed
//! once; only its Argon2id hash is kept (keys/taxii-users.toml). A running server reads the
//! file again on its next request.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::identity::Registry;
use crate::taxii::users;

/// Arguments of `borderlog taxii-user`.
#[derive(Debug, Args)]
pub struct TaxiiUserArgs {
    /// Directory with partners.toml and taxii-users.toml.
    #[arg(long, default_value = "keys", env = "BORDERLOG_KEYS", global = true)]
    pub keys: PathBuf,
    #[command(subcommand)]
    pub action: Action,
}

/// What to do with the credential.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Make a new password for a party (replacing any it had) and print it once.
    Add {
        /// The party (its name in partners.toml is its TAXII user name).
        name: String,
    },
    /// Remove a party's credential: its Basic logins fail from the next request on.
    Revoke {
        /// The party.
        name: String,
    },
    /// The parties that have a credential.
    List,
}

/// Runs `borderlog taxii-user`.
pub fn run(args: TaxiiUserArgs) -> anyhow::Result<()> {
    let dev_password = |name: &str| users::password_path(&args.keys, name);
    match args.action {
        Action::Add { name } => {
            let registry = Registry::load(&args.keys)?;
            if registry.party(&name).is_none() {
                bail!(
                    "{name:?} is not a party in {}/partners.toml",
                    args.keys.display()
                );
            }
            let password = users::add(&args.keys, &name)?;
            // The dev set-up's copy from `init` would be stale now.
            let _ = std::fs::remove_file(dev_password(&name));
            println!("{password}");
            eprintln!(
                "TAXII user {name}: the password above is kept nowhere else; give it to the party's platform"
            );
        }
        Action::Revoke { name } => {
            let had = users::revoke(&args.keys, &name)?;
            let _ = std::fs::remove_file(dev_password(&name));
            if !had {
                bail!("{name:?} has no TAXII credential");
            }
            eprintln!("revoked {name}'s TAXII credential");
        }
        Action::List => {
            for name in users::list(&args.keys)? {
                println!("{name}");
            }
        }
    }
    Ok(())
}
