//! `borderlog key`: rotate or revoke a partner's key (online, through ChangeKey), and rotate the
//! log's own key (offline: the server is stopped and the KeyChange goes through the normal
//! sequencer in one batch).
//!
//! Key files are never deleted: a retired key is kept as `<name>.retired-<entry>.ed25519`,
//! named after the KeyChange entry that retired it. A new key is first written beside the live
//! one (`<name>.next.ed25519`, owner-only), and replaces the live file only once the log has
//! accepted the change; a refused change removes it again. So a crash in between loses no key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ed25519_dalek::SigningKey;

use super::{ClientArgs, status_error};
use crate::client;
use crate::format::note::Signer;
use crate::identity::keys::{
    self, LOG_KEY_NAME, NEXT_LOG_KEY_NAME, PREVIOUS_LOG_KEY_NAME, generate_signing_key,
    load_signing_key, retired_key_path, signing_key_path,
};
use crate::identity::{IdentityError, Registry};
use crate::keys_in_force::KeysInForce;
use crate::pb::{self, Role};
use crate::sequencer::{Append, Appended, Sequencer, SequencerOptions, SignedBy};
use crate::store::{Store, StoreError, StoreOptions};

/// Arguments of `borderlog key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// What `borderlog key` does.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Rotate your partner key: a new key, signed into the log by the old one (`--as NAME`).
    Rotate(RotateArgs),
    /// Revoke a partner: yourself (`--as NAME`, signed by your key), or, offline with the
    /// server stopped, any partner with the log key (`--log --party NAME`).
    Revoke(RevokeArgs),
    /// Rotate the log's key, offline (server stopped): checkpoints are signed by both keys
    /// until `finish-log`.
    RotateLog(OfflineArgs),
    /// End a log key rotation: the previous log key stops signing checkpoints (server stopped).
    FinishLog(OfflineArgs),
}

/// Arguments of `borderlog key rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `borderlog key revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The partner to revoke (default: the `--as` identity itself).
    #[arg(long)]
    pub party: Option<String>,
    /// Sign the revocation with the log key, offline: the server must be stopped.
    #[arg(long, conflicts_with = "as_name")]
    pub log: bool,
    /// The log's data directory (with `--log`).
    #[arg(long, default_value = "data", env = "BORDERLOG_DATA")]
    pub data: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of the offline log key commands.
#[derive(Debug, Args)]
pub struct OfflineArgs {
    /// Directory with the log key and partners.toml.
    #[arg(long, default_value = "keys", env = "BORDERLOG_KEYS")]
    pub keys: PathBuf,
    /// The log's data directory.
    #[arg(long, default_value = "data", env = "BORDERLOG_DATA")]
    pub data: PathBuf,
}

/// Runs `borderlog key`.
pub async fn run(args: KeyArgs) -> anyhow::Result<()> {
    match args.command {
        KeyCommand::Rotate(a) => rotate(a).await,
        KeyCommand::Revoke(a) if a.log => {
            let party = a
                .party
                .context("--log revokes another partner: name it with --party NAME")?;
            revoke_with_log_key(&a.client.keys, &a.data, &party).await
        }
        KeyCommand::Revoke(a) => revoke_self(a).await,
        KeyCommand::RotateLog(a) => {
            let done = rotate_log(&a.keys, &a.data).await?;
            println!(
                "the log key is rotated by entry {}; checkpoints are now signed by the new key and the previous one ({}); run `borderlog key finish-log` once every client pins the new key",
                done.index.0,
                signing_key_path(&a.keys, PREVIOUS_LOG_KEY_NAME).display()
            );
            Ok(())
        }
        KeyCommand::FinishLog(a) => {
            let kept = finish_log(&a.keys, &a.data)?;
            println!(
                "the log key rotation is finished: the previous key no longer signs checkpoints; it is kept as {}",
                kept.display()
            );
            Ok(())
        }
    }
}

/// `borderlog key rotate`: a fresh key, the KeyChange signed by the key in force, and the key
/// files swapped once the log has accepted it.
async fn rotate(args: RotateArgs) -> anyhow::Result<()> {
    let (registry, name, log) = args.client.context(Role::Sender)?;
    let old = load_signing_key(&args.client.keys, &name)?;
    let new = generate_signing_key()?;
    let next = next_key_file(&args.client.keys, &name, &new)?;
    let change = client::sign_key_change(&old, &name, Some(&new.verifying_key()));
    let receipt = match send(&args.client, &name, change).await {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&next);
            return Err(e);
        }
    };
    client::verify_receipt(&receipt, &log)?;
    let live = signing_key_path(&args.client.keys, &name);
    let retired = retired_key_path(&args.client.keys, &name, receipt.index);
    keys::move_key_file(&live, &retired)?;
    keys::move_key_file(&next, &live)?;
    registry
        .with_key(&name, new.verifying_key())?
        .save(&args.client.keys)?;
    println!(
        "{name}'s key is rotated by entry {}: {} holds the new key; the old one is kept as {}",
        receipt.index,
        live.display(),
        retired.display()
    );
    Ok(())
}

/// `borderlog key revoke --as NAME`: the partner revokes itself with its key in force.
async fn revoke_self(args: RevokeArgs) -> anyhow::Result<()> {
    let (_, name, log) = args.client.context(Role::Sender)?;
    let party = args.party.unwrap_or_else(|| name.clone());
    if party != name {
        bail!(
            "{name} may revoke only itself; to revoke {party}, stop the server and run `borderlog key revoke --log --party {party}`"
        );
    }
    let key = load_signing_key(&args.client.keys, &name)?;
    let receipt = send(
        &args.client,
        &name,
        client::sign_key_change(&key, &party, None),
    )
    .await?;
    client::verify_receipt(&receipt, &log)?;
    let live = signing_key_path(&args.client.keys, &name);
    let retired = retired_key_path(&args.client.keys, &name, receipt.index);
    keys::move_key_file(&live, &retired)?;
    println!(
        "{party} is revoked by entry {}: it signs nothing any more; its key is kept as {}",
        receipt.index,
        retired.display()
    );
    Ok(())
}

async fn send(
    args: &ClientArgs,
    name: &str,
    change: pb::KeyChange,
) -> anyhow::Result<pb::LogReceipt> {
    let mut api = client::connect(&args.addr, &args.keys, name).await?;
    Ok(api
        .change_key(pb::ChangeKeyRequest {
            key_change: Some(change),
        })
        .await
        .map_err(status_error)?
        .into_inner())
}

/// Writes a new key beside the live one, owner-only, before the change is sent.
fn next_key_file(dir: &Path, name: &str, key: &SigningKey) -> Result<PathBuf, IdentityError> {
    keys::write_key_file(dir, &format!("{name}.next"), key)
}

/// The log key rotation, offline: appends KeyChange{origin, new key, signed by the old log key}
/// through the sequencer, whose checkpoint for that batch is signed by both keys; then keeps
/// the old key as `log.previous.ed25519`, the new one as `log.ed25519`, and pins the new key in
/// partners.toml.
pub async fn rotate_log(keys_dir: &Path, data: &Path) -> anyhow::Result<Appended> {
    let previous = signing_key_path(keys_dir, PREVIOUS_LOG_KEY_NAME);
    if previous.exists() {
        bail!(
            "a log key rotation is under way ({} exists): run `borderlog key finish-log` first",
            previous.display()
        );
    }
    let registry = Registry::load(keys_dir)?;
    let origin = registry.origin().to_owned();
    let old = keys::load_log_key(keys_dir)?;
    let new = generate_signing_key()?;
    let next = keys::write_key_file(keys_dir, NEXT_LOG_KEY_NAME, &new)?;
    let change = client::sign_key_change(&old, &origin, Some(&new.verifying_key()));
    let signers = vec![
        Signer::new(&origin, new.clone())?,
        Signer::new(&origin, old.clone())?,
    ];
    let signed_by = SignedBy::new(&origin, old.verifying_key());
    let appended = match append_offline(data, signers, change, signed_by).await {
        Ok(a) => a,
        Err(e) => {
            let _ = std::fs::remove_file(&next);
            return Err(e);
        }
    };
    keys::move_key_file(&signing_key_path(keys_dir, LOG_KEY_NAME), &previous)?;
    keys::move_key_file(&next, &signing_key_path(keys_dir, LOG_KEY_NAME))?;
    registry
        .with_key(&origin, new.verifying_key())?
        .save(keys_dir)?;
    Ok(appended)
}

/// Ends a log key rotation: `log.previous.ed25519` becomes `log.retired-<entry>.ed25519`.
pub fn finish_log(keys_dir: &Path, data: &Path) -> anyhow::Result<PathBuf> {
    let previous = signing_key_path(keys_dir, PREVIOUS_LOG_KEY_NAME);
    if !previous.exists() {
        bail!(
            "no log key rotation is under way ({} does not exist)",
            previous.display()
        );
    }
    let store = open_offline(data)?;
    let in_force = KeysInForce::rebuild(&store)?
        .log()
        .context("the log has no genesis entry")?;
    let current = keys::load_log_key(keys_dir)?.verifying_key();
    if in_force.key != Some(current) {
        bail!(
            "{} is not the log key in force (set by entry {}): the rotation did not complete; do not finish it",
            signing_key_path(keys_dir, LOG_KEY_NAME).display(),
            in_force.index.0
        );
    }
    let kept = retired_key_path(keys_dir, LOG_KEY_NAME, in_force.index.0);
    keys::move_key_file(&previous, &kept)?;
    Ok(kept)
}

/// `borderlog key revoke --log --party NAME`: the operator revokes a partner with the log key
/// in force, offline.
pub async fn revoke_with_log_key(keys_dir: &Path, data: &Path, party: &str) -> anyhow::Result<()> {
    let registry = Registry::load(keys_dir)?;
    let origin = registry.origin().to_owned();
    let log = keys::load_log_key(keys_dir)?;
    let mut signers = vec![Signer::new(&origin, log.clone())?];
    if let Some(previous) = keys::load_previous_log_key(keys_dir)? {
        signers.push(Signer::new(&origin, previous)?);
    }
    let change = client::sign_key_change(&log, party, None);
    let signed_by = SignedBy::new(&origin, log.verifying_key());
    let done = append_offline(data, signers, change, signed_by).await?;
    println!(
        "{party} is revoked by entry {} (signed by the log key): it signs nothing any more",
        done.index.0
    );
    Ok(())
}

/// Opens the log's store for an offline ceremony, saying clearly when a server holds it.
fn open_offline(data: &Path) -> anyhow::Result<Store> {
    let store = match Store::open(data, StoreOptions::default()) {
        Err(StoreError::Locked { .. }) => bail!(
            "{} is in use by a running `borderlog serve`: stop the server, then run this again",
            data.display()
        ),
        other => other?,
    };
    if store.size().0 == 0 {
        bail!("{} holds no log (no genesis entry)", data.display());
    }
    Ok(store)
}

/// Appends one KeyChange through the normal sequencer (one batch, one checkpoint signed by
/// `signers`), with the store opened here: the server must be stopped.
async fn append_offline(
    data: &Path,
    signers: Vec<Signer>,
    change: pb::KeyChange,
    signed_by: SignedBy,
) -> anyhow::Result<Appended> {
    let store = Arc::new(open_offline(data)?);
    let mut signers = signers.into_iter();
    let log = signers.next().context("no log signer")?;
    let sequencer = Sequencer::start_signing(
        store.clone(),
        log,
        signers.collect(),
        SequencerOptions::default(),
        Arc::new(crate::metrics::Metrics::new()),
    )?;
    let appended = sequencer
        .append(Append {
            kind: pb::entry::Kind::KeyChange(change),
            payloads: Vec::new(),
            claims: Vec::new(),
            screened_under: None,
            signed_by: Some(signed_by),
        })
        .await
        .map_err(|e| anyhow::anyhow!("the log refused the key change: {e}"));
    // Let go of the store (the sequencer thread holds it until it sees the handle gone), so a
    // server started right after finds it free.
    drop(sequencer);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Arc::strong_count(&store) > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    appended
}
