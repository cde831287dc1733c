//! What `Node::open` does before the node serves: open the store (embedded, or the shared
//! database), check the log key against the log, read the parties from genesis, find the
//! owners whose keys the server holds, publish the default policies of a fresh dev log; and the
//! task that keeps a reading node's view up with the writer of a shared log.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{NodeConfig, ServiceError, State, cmd, retention};
use crate::format::note::Signer;
use crate::format::signature::{self, Purpose};
use crate::format::{TreeSize, entry};
use crate::identity::{self, Registry};
use crate::pb;
use crate::sequencer::Sequencer;
use crate::store::postgres::PgStore;
use crate::store::{LogStore, Store, StoreError};

/// Opens the store off the async runtime (recovery reads and may rebuild whole indexes; a
/// database may take a while to answer): the embedded store in `data_dir`, or the database
/// at `store_url`. A node that does not write an empty shared log waits for the writer's
/// genesis entry.
pub(super) async fn open_store(config: &NodeConfig) -> Result<Arc<dyn LogStore>, ServiceError> {
    let (dir, opts, url) = (
        config.data_dir.clone(),
        config.store.clone(),
        config.store_url.clone(),
    );
    let store = tokio::task::spawn_blocking(move || -> Result<Arc<dyn LogStore>, StoreError> {
        Ok(match url {
            Some(url) => Arc::new(PgStore::open(&url, STORE_OPEN_WAIT)?),
            None => Arc::new(Store::open(&dir, opts)?),
        })
    })
    .await
    .map_err(|e| ServiceError::Genesis(format!("store recovery task failed: {e}")))??;
    let deadline = tokio::time::Instant::now() + STORE_OPEN_WAIT;
    while store.size() == TreeSize(0) && !store.is_writer() {
        if tokio::time::Instant::now() > deadline {
            return Err(ServiceError::Genesis(
                "the shared log is empty and no writer wrote its genesis entry".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(store)
}

/// Every [`FOLLOW_EVERY`], catches the sequencer's view (policies, keys, size) up with what
/// another node appended to a shared log; nothing to do on a node that writes.
pub(super) async fn follow_writer(sequencer: Sequencer) {
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        let s = sequencer.clone();
        match tokio::task::spawn_blocking(move || s.follow()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "following the shared log's writer"),
            Err(_) => return,
        }
    }
}

/// How often a node that does not write looks for the writer's appends.
pub(super) const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// How long opening a shared store waits for the database and for the writer's genesis.
const STORE_OPEN_WAIT: Duration = Duration::from_secs(30);

/// The sender parties whose partner keys are in `keys_dir`: the server can sign their
/// retention erasures. Others run retention from their own side.
pub(super) fn owner_keys(
    keys_dir: &Path,
    registry: &Registry,
    sequencer: &Sequencer,
) -> retention::OwnerKeys {
    let mut keys = Vec::new();
    for party in registry.parties() {
        if party.role != pb::Role::Sender {
            continue;
        }
        match identity::keys::load_signing_key(keys_dir, &party.name) {
            // The owner's key in force, after any rotation (a rotation while the server runs
            // takes effect for the schedule at its next start).
            Ok(key)
                if sequencer
                    .with_keys(|k| k.party(&party.name))
                    .and_then(|p| p.key)
                    == Some(key.verifying_key()) =>
            {
                keys.push((party.name.clone(), key));
            }
            Ok(_) => tracing::warn!(
                owner = party.name,
                "the key in the keys directory is not this owner's key in force; retention schedule off for it"
            ),
            Err(_) => tracing::info!(
                owner = party.name,
                "no key for this owner here: it runs `borderlog retention run` itself"
            ),
        }
    }
    retention::OwnerKeys(keys)
}

/// Publishes each sender's policy file from `keys_dir` when the sender has no policy in force
/// and its signing key is at hand (the dev set-up `init` makes holds every key).
pub(super) async fn publish_default_policies(
    state: &State,
    keys_dir: &Path,
) -> Result<(), ServiceError> {
    if !state.store.is_writer() {
        // A node serving reads of a shared log: the writer publishes them.
        return Ok(());
    }
    for party in state.registry.parties() {
        let owner = party.name.as_str();
        let path = identity::policy_path(keys_dir, owner);
        if party.role != pb::Role::Sender
            || state.sequencer.policy_in_force(owner).is_some()
            || !path.exists()
        {
            continue;
        }
        let key = identity::load_signing_key(keys_dir, owner)?;
        let policy = std::fs::read(&path)
            .map_err(|e| ServiceError::Policy(format!("reading {}: {e}", path.display())))?;
        let signature = signature::sign(&key, Purpose::Policy, &policy).to_vec();
        let request = pb::PublishPolicyRequest { policy, signature };
        let append = cmd::publish_policy::parse(state, owner, request)
            .map_err(|e| ServiceError::Policy(format!("{}: {e}", path.display())))?;
        let appended = state
            .sequencer
            .append(append)
            .await
            .map_err(|e| ServiceError::Policy(format!("publishing {}: {e}", path.display())))?;
        tracing::info!(owner, entry = appended.index.0, file = %path.display(), "published the owner's screening policy");
    }
    Ok(())
}

/// Refuses to serve unless keys/log.ed25519 is the log key in force in the log (genesis, then
/// log KeyChanges), and a previous key, if any, is one the log held before.
pub(super) fn check_log_keys(
    keys: &crate::keys_in_force::KeysInForce,
    signer: &Signer,
    previous: Option<&Signer>,
    keys_dir: &Path,
) -> Result<(), ServiceError> {
    let (in_force, history) = (keys.log(), keys.log_history());
    let file = identity::keys::signing_key_path(keys_dir, identity::keys::LOG_KEY_NAME);
    let mine = signer.verifier().key;
    match in_force {
        Some(k) if k.key == Some(mine) => {}
        Some(k) if history.contains(&mine) => {
            return Err(ServiceError::Genesis(format!(
                "{} holds a retired log key: the log key in force was set by entry {}; put that key in {} (was `borderlog key rotate-log` interrupted? its new key is in {})",
                file.display(),
                k.index.0,
                file.display(),
                identity::keys::signing_key_path(keys_dir, identity::keys::NEXT_LOG_KEY_NAME)
                    .display(),
            )));
        }
        Some(k) => {
            return Err(ServiceError::Genesis(format!(
                "{} is not the log key in force in this log (set by entry {}{}); use the keys directory this log was made with",
                file.display(),
                k.index.0,
                if k.index.0 == 0 {
                    ", the genesis entry"
                } else {
                    ""
                }
            )));
        }
        None => return Err(ServiceError::Genesis("the log has no genesis entry".into())),
    }
    if let Some(previous) = previous {
        let key = previous.verifier().key;
        if key == mine || !history.contains(&key) {
            return Err(ServiceError::Genesis(format!(
                "{} is not a previous log key of this log; remove it, or run `borderlog key finish-log`",
                identity::keys::signing_key_path(keys_dir, identity::keys::PREVIOUS_LOG_KEY_NAME)
                    .display()
            )));
        }
    }
    Ok(())
}

/// The parties pinned in entry 0: once a log exists, they, not partners.toml, are the truth.
pub(super) fn genesis_registry(store: &dyn LogStore) -> Result<Registry, ServiceError> {
    let bytes = store
        .entry(crate::format::LeafIndex(0))?
        .ok_or_else(|| ServiceError::Genesis("the log has no entry 0".into()))?;
    let entry = entry::decode(&bytes).map_err(|e| ServiceError::Genesis(e.to_string()))?;
    match entry.kind {
        Some(pb::entry::Kind::Genesis(g)) => Ok(Registry::from_genesis(&g)?),
        _ => Err(ServiceError::Genesis(
            "entry 0 is not a genesis entry".into(),
        )),
    }
}
